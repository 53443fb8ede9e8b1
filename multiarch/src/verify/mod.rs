//! Proving that each platform of an index holds what the index claims.
//!
//! Two independent checks per platform:
//! - static: the config's architecture matches the index entry, and the entrypoint's
//!   binary, read out of the layers, is an ELF file for that architecture;
//! - running: the image, run for that platform (natively or under QEMU), answers an
//!   HTTP probe (`GET /arch` by default) with a machine name of that platform.

pub mod elf;
pub mod layers;

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::TryStreamExt;
use oci_client::Reference;
use serde::Serialize;

use multiarch_platform::Platform;

use crate::engine::{self, RunSpec};
use crate::error::{Error, Result};
use crate::oci::index::{Entry, platforms};
use crate::registry::Registry;
use crate::verify::elf::{ElfError, ElfIdent};
use layers::Layer;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "lowercase")]
pub enum Check {
    /// It holds; what was seen.
    Pass(String),
    /// It does not; why.
    Fail(String),
    /// Not run; why.
    Skipped(String),
}

impl Check {
    /// Whether this check failed.
    pub fn failed(&self) -> bool {
        matches!(self, Self::Fail(_))
    }
}

/// Both checks for one platform.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    /// The platform the index claims.
    pub platform: Platform,
    /// The image manifest's digest.
    pub digest: String,
    /// Config and ELF header.
    #[serde(rename = "static")]
    pub static_check: Check,
    /// Run and probe.
    pub running: Check,
}

impl PlatformReport {
    /// Whether both checks passed (or were skipped).
    pub fn passed(&self) -> bool {
        !self.static_check.failed() && !self.running.failed()
    }
}

/// What `verify` reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyEvent {
    /// Both checks of this platform start.
    Checking(Platform),
}

/// Where and how to verify: the registry that holds the image, and the engine to run it
/// on (none: static checks only).
pub struct Verifier<'a> {
    /// The registry client.
    pub registry: &'a Registry,
    /// The image.
    pub reference: &'a Reference,
    /// The engine; `None` skips the running check.
    pub docker: Option<&'a Docker>,
    /// The HTTP probe for the running check.
    pub probe: Probe,
    /// Labels for the containers it runs, so an interrupted run's can be found.
    pub labels: HashMap<String, String>,
}

/// The platforms of `listed` to check, each with its manifest digest: all of them, or
/// those in `wanted`, each of which must be there.
///
/// # Errors
/// [`Error::PlatformMissing`] for a wanted platform the image lacks;
/// [`Error::BadAnswer`] when no entry names a platform that can be checked.
pub fn targets(
    reference: &Reference,
    listed: &[Entry],
    wanted: Option<&[Platform]>,
) -> Result<Vec<(Platform, String)>> {
    let available = platforms(listed);
    for platform in wanted.unwrap_or_default() {
        if !available.contains(platform) {
            return Err(Error::PlatformMissing {
                reference: reference.whole(),
                platform: platform.clone(),
                available: available
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    if available.is_empty() {
        return Err(Error::BadAnswer {
            reference: reference.whole(),
            reason: "no entry names a platform that can be checked".into(),
        });
    }
    Ok(listed
        .iter()
        .filter_map(|e| e.platform().map(|p| (p.clone(), e.digest.clone())))
        .filter(|(p, _)| wanted.is_none_or(|w| w.contains(p)))
        .collect())
}

impl Verifier<'_> {
    /// Both checks for every target, one after another (containers on one engine, and
    /// QEMU start-ups, do not gain from running side by side on a small machine).
    ///
    /// # Errors
    /// When the registry or the engine cannot be used; a platform that is not what its
    /// entry claims is a failed [`PlatformReport`], not an error.
    pub async fn verify(
        &self,
        targets: &[(Platform, String)],
        on_event: impl Fn(VerifyEvent),
    ) -> Result<Vec<PlatformReport>> {
        let engine_platform = match self.docker {
            Some(docker) => engine::engine_platform(docker).await,
            None => None,
        };
        let mut reports = Vec::new();
        for (platform, digest) in targets {
            on_event(VerifyEvent::Checking(platform.clone()));
            let static_check =
                check_static(self.registry, self.reference, platform, digest).await?;
            let running = match self.docker {
                None => Check::Skipped("--static-only".into()),
                Some(docker) => {
                    check_running(
                        docker,
                        self.reference,
                        platform,
                        digest,
                        engine_platform.as_ref(),
                        &self.probe,
                        self.labels.clone(),
                    )
                    .await?
                }
            };
            reports.push(PlatformReport {
                platform: platform.clone(),
                digest: digest.clone(),
                static_check,
                running,
            });
        }
        Ok(reports)
    }
}

/// Reads the config and the entrypoint's ELF header of one platform's image.
///
/// # Errors
/// Only when the registry cannot be read; a mismatch is a [`Check::Fail`].
pub async fn check_static(
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
) -> Result<Check> {
    let image = registry.fetch_image(reference, digest).await?;
    let config = &image.config;
    match crate::oci::index::config_platform(config) {
        Ok(configured) if &configured == platform => {}
        Ok(configured) => {
            return Ok(Check::Fail(format!(
                "the image config says {configured}, the index says {platform}"
            )));
        }
        Err(e) => {
            return Ok(Check::Fail(format!(
                "the image config names no valid platform: {e}"
            )));
        }
    }

    let runtime = config.config().as_ref();
    let strings = |v: Option<&Vec<String>>| v.cloned().unwrap_or_default();
    let candidates = layers::program_candidates(
        &strings(runtime.and_then(|c| c.entrypoint().as_ref())),
        &strings(runtime.and_then(|c| c.cmd().as_ref())),
        &strings(runtime.and_then(|c| c.env().as_ref())),
    );
    if candidates.is_empty() {
        return Ok(Check::Fail(
            "the image has neither an entrypoint nor a command".into(),
        ));
    }

    let by_digest = reference.clone_with_digest(digest.to_string());
    let mut downloaded = Vec::with_capacity(image.manifest.layers().len());
    for descriptor in image.manifest.layers() {
        downloaded.push(Layer {
            media_type: descriptor.media_type().to_string(),
            bytes: registry.fetch_blob(&by_digest, descriptor).await?,
        });
    }

    let mut program = candidates[0].clone();
    // Follow one `#!` interpreter: a script's platform is its interpreter's.
    for _ in 0..2 {
        let found = candidates_found(reference, &downloaded, &program, &candidates)?;
        let Some((path, head)) = found else {
            return Ok(Check::Fail(format!(
                "`{program}` (the entrypoint) is not in the image's layers"
            )));
        };
        match ElfIdent::parse(&head) {
            Ok(ident) => return Ok(judge(&path, ident, platform)),
            Err(ElfError::Script(interpreter)) => {
                program = interpreter
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
            Err(e) => return Ok(Check::Fail(format!("`{path}` is {e}"))),
        }
    }
    Ok(Check::Fail(format!(
        "`{program}` is a script run by another script"
    )))
}

fn candidates_found(
    reference: &Reference,
    layers: &[Layer],
    program: &str,
    candidates: &[String],
) -> Result<Option<(String, Vec<u8>)>> {
    let list: Vec<&str> = if candidates.first().map(String::as_str) == Some(program) {
        candidates.iter().map(String::as_str).collect()
    } else {
        vec![program]
    };
    for path in list {
        let found = layers::read_head(layers, path).map_err(|source| Error::Layers {
            reference: reference.whole(),
            path: path.to_string(),
            source,
        })?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn judge(path: &str, ident: ElfIdent, platform: &Platform) -> Check {
    match ElfIdent::expected_for(platform) {
        Some(expected) if expected == ident => Check::Pass(format!("{path}: {}", ident.describe())),
        Some(_) => Check::Fail(format!(
            "{path} is {}{}, not a {platform} binary",
            ident.describe(),
            ident
                .architecture()
                .map(|a| format!(" (a linux/{a} binary)"))
                .unwrap_or_default()
        )),
        None => Check::Skipped(format!(
            "{path}: {} (no ELF rule for {platform})",
            ident.describe()
        )),
    }
}

/// How to probe a running container.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The port the server listens on inside the container.
    pub port: u16,
    /// The HTTP path to GET; its answer is `{"architecture": ...}` or a bare machine name.
    pub path: String,
    /// How long to wait for the first answer (emulated start-up is slow).
    pub timeout: Duration,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            port: 80,
            path: "/arch".into(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Pulls one platform's image by digest, runs it with its port on loopback, probes it,
/// and removes the container again (also when the probe fails).
///
/// # Errors
/// When the engine cannot pull or run it; a wrong answer is a [`Check::Fail`].
pub async fn check_running(
    docker: &Docker,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    engine_platform: Option<&Platform>,
    probe: &Probe,
    labels: HashMap<String, String>,
) -> Result<Check> {
    let image = reference.clone_with_digest(digest.to_string()).whole();
    let platform_text = platform.to_string();
    // Leave the engine as it was: an image pulled only for this check goes again.
    let already_there = docker.inspect_image(&image).await.is_ok();
    docker
        .create_image(
            Some(
                CreateImageOptionsBuilder::new()
                    .from_image(&image)
                    .platform(&platform_text)
                    .build(),
            ),
            None,
            None,
        )
        .try_collect::<Vec<_>>()
        .await
        .map_err(crate::error::refused(format!(
            "pull `{image}` for `{platform}`"
        )))?;
    let started = engine::run_published(
        docker,
        &RunSpec {
            image: image.clone(),
            platform: Some(platform.clone()),
            container_port: probe.port,
            labels,
            cmd: None,
        },
    )
    .await?;
    let answer = ask_machine(started.host_port, probe).await;
    engine::remove(docker, &started.id).await;
    if !already_there {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        if let Err(e) = docker.remove_image(&image, Some(options), None).await {
            tracing::debug!(%image, error = %e, "could not remove the image pulled for the check");
        }
    }
    let how = match engine_platform {
        Some(native) if native.architecture() == platform.architecture() => "native",
        _ => "emulated",
    };
    Ok(match answer {
        Err(reason) => Check::Fail(format!("{how}: {reason}")),
        Ok(machine) if platform.matches_machine(&machine) => {
            Check::Pass(format!("{machine} ({how})"))
        }
        Ok(machine) => Check::Fail(format!(
            "answered `{machine}` ({how}), expected `{}`",
            platform.machine().unwrap_or("a machine of that platform")
        )),
    })
}

/// Asks the server on loopback `port` for its machine (`probe.path`, `GET /arch` by
/// default) until it answers or `probe.timeout` passes.
///
/// # Errors
/// What was last seen, for a person to read.
pub async fn ask_machine(port: u16, probe: &Probe) -> std::result::Result<String, String> {
    let url = format!("http://127.0.0.1:{port}{}", probe.path);
    crate::http::wait_until(
        &url,
        probe.timeout,
        Duration::from_millis(250),
        async |response| {
            if !response.status().is_success() {
                return Err(format!("`{url}` answered {}", response.status()));
            }
            let body = response.text().await.map_err(|e| e.to_string())?;
            Ok(machine_from_answer(&body))
        },
    )
    .await
    .map_err(|last| format!("{last} within {} s", probe.timeout.as_secs()))
}

/// The machine name in an answer: `{"architecture": "aarch64"}` or a bare `aarch64`.
pub(crate) fn machine_from_answer(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("architecture")
                .and_then(|a| a.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| body.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_json_or_bare_text() {
        assert_eq!(
            machine_from_answer(r#"{"architecture":"aarch64"}"#),
            "aarch64"
        );
        assert_eq!(machine_from_answer("x86_64\n"), "x86_64");
        assert_eq!(machine_from_answer(r#"{"arch":"x"}"#), r#"{"arch":"x"}"#);
    }

    #[test]
    fn judging_an_elf_header_against_a_platform() {
        let amd64 = ElfIdent::expected_for(&Platform::linux_amd64()).unwrap();
        assert_eq!(
            judge("/app", amd64, &Platform::linux_amd64()),
            Check::Pass("/app: x86-64, 64-bit, little-endian".into())
        );
        assert_eq!(
            judge("/app", amd64, &Platform::linux_arm64()),
            Check::Fail(
                "/app is x86-64, 64-bit, little-endian (a linux/amd64 binary), not a linux/arm64 binary".into()
            )
        );
    }
}
