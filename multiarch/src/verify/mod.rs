//! Proving that each platform of an index holds what the index claims.
//!
//! First the index as a whole ([`contract`]: no platform twice, no orphan attestation,
//! no two platforms with the very same layers, the platforms `--expect` and the last
//! release ask for), from manifests alone; then two independent checks per platform:
//! - static: the config's architecture matches the index entry, and the entrypoint's
//!   binary and every ELF file in the usual binary folders, read out of the layers, are
//!   for that CPU, down to its level (ARMv6 vs ARMv7, x86-64-v2 vs v3);
//! - running: the image, run for that platform (natively or under QEMU), answers an
//!   HTTP probe (`GET /arch` by default) with a machine name of that platform.

pub mod arm;
pub mod binary;
pub mod contract;
pub mod elf;
pub mod layers;
pub mod userland;
pub mod x86;

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
    /// The platform the image's own config claims (`None`: it names no valid one).
    pub config: Option<Platform>,
    /// Config and ELF header.
    #[serde(rename = "static")]
    pub static_check: Check,
    /// How the running check ran it (`None`: not run).
    pub emulation: Option<Emulation>,
    /// Run and probe.
    pub running: Check,
}

/// What the static check found: the config's claim, and the verdict.
#[derive(Debug, Clone)]
pub struct StaticCheck {
    /// The platform the image's config claims (`None`: it names no valid one).
    pub config: Option<Platform>,
    /// Config, entrypoint and the other programs judged against the index's platform.
    pub check: Check,
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
    /// Which files the static check reads.
    pub scope: Scope,
}

/// Which binaries the static check judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The entrypoint and every ELF file in the usual binary folders.
    #[default]
    Userland,
    /// The entrypoint alone (`--entrypoint-only`): one file read, not every layer's.
    Entrypoint,
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
    crate::registry::require_platforms(reference, listed, wanted.unwrap_or_default())?;
    if platforms(listed).is_empty() {
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
            let found =
                check_static(self.registry, self.reference, platform, digest, self.scope).await?;
            let (emulation, running) = match self.docker {
                None => (None, Check::Skipped("--static-only".into())),
                Some(docker) => {
                    let emulation = Emulation::of(engine_platform.as_ref(), platform);
                    let running = check_running(
                        docker,
                        self.reference,
                        platform,
                        digest,
                        &emulation,
                        &self.probe,
                        self.labels.clone(),
                    )
                    .await?;
                    (Some(emulation), running)
                }
            };
            reports.push(PlatformReport {
                platform: platform.clone(),
                digest: digest.clone(),
                config: found.config,
                static_check: found.check,
                emulation,
                running,
            });
        }
        Ok(reports)
    }
}

/// Reads the config, the entrypoint and (in [`Scope::Userland`]) every program of one
/// platform's image.
///
/// # Errors
/// Only when the registry cannot be read; a mismatch is a [`Check::Fail`].
pub async fn check_static(
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    scope: Scope,
) -> Result<StaticCheck> {
    let image = registry.fetch_image(reference, digest).await?;
    let (config, check) = match crate::oci::index::config_platform(&image.config) {
        Ok(configured) if &configured == platform => {
            let check =
                check_binaries(registry, reference, platform, digest, &image, scope).await?;
            (Some(configured), check)
        }
        Ok(configured) => {
            let check = Check::Fail(format!(
                "the image config says {configured}, the index says {platform}"
            ));
            (Some(configured), check)
        }
        Err(e) => (
            None,
            Check::Fail(format!("the image config names no valid platform: {e}")),
        ),
    };
    Ok(StaticCheck { config, check })
}

/// The entrypoint and (in [`Scope::Userland`]) every program, read out of the layers.
async fn check_binaries(
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    image: &crate::registry::PlatformImage,
    scope: Scope,
) -> Result<Check> {
    let config = &image.config;

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
            Ok(_) => {
                let entrypoint = judge_entrypoint(reference, &downloaded, &path, platform)?;
                return match (entrypoint, scope) {
                    (Check::Pass(detail), Scope::Userland) => {
                        judge_userland(reference, &downloaded, platform, detail)
                    }
                    (entrypoint, _) => Ok(entrypoint),
                };
            }
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
        let found = layers::read_head(layers, path).map_err(layers_error(reference, path))?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The entrypoint, read whole: it must run on the platform's CPU, and when it is linked
/// dynamically its loader must be in the image, or the container cannot start ("exec user
/// process caused: no such file or directory").
fn judge_entrypoint(
    reference: &Reference,
    layers: &[Layer],
    path: &str,
    platform: &Platform,
) -> Result<Check> {
    let whole = layers::read_file(layers, path, userland::MAX_BINARY)
        .map_err(layers_error(reference, path))?
        .map(|(_, bytes)| bytes)
        .unwrap_or_default();
    let mut detail = match binary::judge(path, &whole, platform) {
        Check::Pass(detail) => detail,
        other => return Ok(other),
    };
    let loader = match crate::verify::elf::interpreter(&whole) {
        Ok(loader) => loader,
        Err(e) => return Ok(Check::Fail(format!("`{path}` is {e}"))),
    };
    if let Some(loader) = loader {
        if let Some(missing) = judge_loader(reference, layers, &loader, path, platform)? {
            return Ok(missing);
        }
        detail += &format!(", dynamically linked ({loader} is there)");
    }
    Ok(Check::Pass(detail))
}

/// Every ELF file in the usual binary folders, and the loaders they name.
fn judge_userland(
    reference: &Reference,
    layers: &[Layer],
    platform: &Platform,
    entrypoint: String,
) -> Result<Check> {
    let userland = userland::scan(layers, platform).map_err(layers_error(reference, "/"))?;
    if let Some(failure) = userland.failure(platform) {
        return Ok(Check::Fail(format!("{entrypoint} fits, but {failure}")));
    }
    for (loader, user) in &userland.loaders {
        if let Some(missing) = judge_loader(reference, layers, loader, user, platform)? {
            return Ok(missing);
        }
    }
    Ok(Check::Pass(entrypoint + &userland.summary()))
}

/// `Some(failure)` when the `loader` that `user` names is missing or for another CPU.
fn judge_loader(
    reference: &Reference,
    layers: &[Layer],
    loader: &str,
    user: &str,
    platform: &Platform,
) -> Result<Option<Check>> {
    let found = layers::read_head(layers, loader).map_err(layers_error(reference, loader))?;
    let Some((_, head)) = found else {
        return Ok(Some(Check::Fail(format!(
            "{user} is dynamically linked and its loader `{loader}` is not in the image: it cannot start (\"exec user process caused: no such file or directory\")"
        ))));
    };
    if let Ok(ident) = ElfIdent::parse(&head) {
        if binary::judge_header(loader, ident, platform).failed() {
            return Ok(Some(Check::Fail(format!(
                "the loader `{loader}` of {user} is {}, not a {platform} one",
                ident.describe()
            ))));
        }
    }
    Ok(None)
}

fn layers_error(reference: &Reference, path: &str) -> impl FnOnce(layers::LayerError) -> Error {
    let (reference, path) = (reference.whole(), path.to_string());
    move |source| Error::Layers {
        reference,
        path,
        source,
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
    /// Instead of asking over HTTP: run this command in the container and check that it
    /// exits 0 (and, when it prints a machine name, that it is the platform's).
    pub exec: Option<Vec<String>>,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            exec: None,
            port: 80,
            path: "/arch".into(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Pulls one platform's image by digest, runs it as `emulation` says (under the CPU its
/// slot promises) with its port on loopback, probes it, and removes the container and an
/// image it pulled only for this check again, whatever the outcome.
///
/// # Errors
/// When the engine cannot pull or run it; a wrong answer is a [`Check::Fail`].
pub async fn check_running(
    docker: &Docker,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    emulation: &Emulation,
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
            crate::registry::engine_credentials(reference),
        )
        .try_collect::<Vec<_>>()
        .await
        .map_err(crate::error::refused(format!(
            "pull `{image}` for `{platform}`"
        )))?;
    let spec = RunSpec {
        image: image.clone(),
        platform: Some(platform.clone()),
        container_port: probe.port,
        labels,
        cmd: probe.exec.clone(),
        env: emulation.env(),
    };
    // Judged apart, so that the image goes again on every path, errors included.
    let check = run_and_judge(docker, &spec, platform, emulation, probe).await;
    if !already_there {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        if let Err(e) = docker.remove_image(&image, Some(options), None).await {
            tracing::debug!(%image, error = %e, "could not remove the image pulled for the check");
        }
    }
    check
}

/// Runs the pulled image as `spec` says and judges what it answers (or how it ended).
///
/// # Errors
/// When the engine fails in a way that is not this platform's fault.
async fn run_and_judge(
    docker: &Docker,
    spec: &RunSpec,
    platform: &Platform,
    emulation: &Emulation,
    probe: &Probe,
) -> Result<Check> {
    match &probe.exec {
        Some(command) => {
            let ended = engine::run_to_exit(docker, spec, probe.timeout).await;
            judge_exec(command, platform, emulation, ended)
        }
        None => {
            // The answer, or the container's end, whichever comes first: a container
            // that is not a server must not be waited for until the timeout.
            let answer = match engine::run_published(docker, spec).await {
                Ok(started) => {
                    let answer = tokio::select! {
                        answer = ask_machine(started.host_port, probe) => Ok(answer),
                        ended = engine::exited(docker, &started.id) => Err(ended),
                    };
                    engine::remove(docker, &started.id).await;
                    answer
                }
                Err(Error::ContainerExited {
                    code, last_lines, ..
                }) => Err(Ok(engine::Exited { code, last_lines })),
                // The engine could not start it (a missing loader, say): that is this
                // platform's failure, not the end of the verification.
                Err(Error::Engine { source, .. }) => {
                    return Ok(Check::Fail(format!(
                        "{emulation}: the engine could not start it: {}",
                        crate::error::root_cause(source.as_ref())
                    )));
                }
                Err(e) => return Err(e),
            };
            judge_answer(answer, probe, platform, emulation)
        }
    }
}

/// How a platform's containers run on this engine: natively, or under QEMU told to be
/// the CPU the slot promises (QEMU's default 32-bit ARM is an ARMv7, which would run
/// ARMv7 code in an `arm/v6` image and report `armv7l`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Emulation {
    /// The host runs this platform's code itself.
    pub native: bool,
    /// The 32-bit process of a `386` image on a 64-bit x86 kernel, which reports `x86_64`.
    #[serde(rename = "compat_32bit")]
    pub compat: bool,
    /// The CPU QEMU emulates, when not its default.
    #[serde(rename = "qemu_cpu")]
    pub cpu: Option<&'static str>,
}

impl Emulation {
    /// How `platform` runs on an engine of `engine` (unknown: as emulated).
    pub fn of(engine: Option<&Platform>, platform: &Platform) -> Self {
        let native = engine.is_some_and(|e| crate::engine::host::runs_natively(e, platform));
        let compat = native && engine.map(Platform::architecture) != Some(platform.architecture());
        let cpu = match (native, platform.architecture(), platform.variant()) {
            (false, "arm", Some("v6")) => Some("arm1176"),
            (false, "arm", Some("v5")) => Some("arm926"),
            _ => None,
        };
        Self {
            native,
            compat,
            cpu,
        }
    }

    /// The container's environment that picks the emulated CPU.
    pub fn env(&self) -> Vec<String> {
        self.cpu
            .map(|cpu| vec![format!("QEMU_CPU={cpu}")])
            .unwrap_or_default()
    }

    /// Whether `machine` (`uname -m` in the container) is what `platform` should say.
    pub fn accepts(&self, platform: &Platform, machine: &str) -> bool {
        platform.matches_machine(machine) || (self.compat && machine == "x86_64")
    }
}

impl std::fmt::Display for Emulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.native, self.compat, self.cpu) {
            (true, true, _) => f.write_str("native, 32-bit on the 64-bit kernel"),
            (true, false, _) => f.write_str("native"),
            (false, _, Some(cpu)) => write!(f, "emulated, QEMU_CPU={cpu}"),
            (false, _, None) => f.write_str("emulated"),
        }
    }
}

fn judge_answer(
    answer: std::result::Result<std::result::Result<String, String>, Result<engine::Exited>>,
    probe: &Probe,
    platform: &Platform,
    how: &Emulation,
) -> Result<Check> {
    Ok(match answer {
        Ok(Err(reason)) => Check::Fail(format!("{how}: {reason}")),
        Ok(Ok(machine)) if how.accepts(platform, &machine) => {
            Check::Pass(format!("{machine} ({how})"))
        }
        Ok(Ok(machine)) => Check::Fail(format!(
            "answered `{machine}` ({how}), expected `{}`",
            platform.machine().unwrap_or("a machine of that platform")
        )),
        Err(ended) => {
            let ended = ended?;
            Check::Fail(format!(
                "{how}: the container exited with code {}{} before answering `{}`; its last lines: {}. Not an HTTP server? `--exec 'CMD'` runs a command in it instead, `--static-only` skips running",
                ended.code,
                signal_note(ended.code),
                probe.path,
                last_lines(&ended)
            ))
        }
    })
}

fn judge_exec(
    command: &[String],
    platform: &Platform,
    how: &Emulation,
    ended: Result<engine::Exited>,
) -> Result<Check> {
    let ended = ended?;
    // Shown as it would be typed, so a quoted argument reads as one.
    let shown =
        shlex::try_join(command.iter().map(String::as_str)).unwrap_or_else(|_| command.join(" "));
    if ended.code != 0 {
        return Ok(Check::Fail(format!(
            "`{shown}` exited with code {}{} ({how}); its last lines: {}",
            ended.code,
            signal_note(ended.code),
            last_lines(&ended)
        )));
    }
    let printed = ended
        .last_lines
        .last()
        .map(|l| l.trim())
        .unwrap_or_default();
    // A command that prints a machine name (`uname -m`) is held to the platform's.
    if Platform::from_machine(printed).is_some() && !how.accepts(platform, printed) {
        return Ok(Check::Fail(format!(
            "`{shown}` printed `{printed}` ({how}), expected `{}`",
            platform.machine().unwrap_or("a machine of that platform")
        )));
    }
    Ok(Check::Pass(format!(
        "`{shown}` exited 0: {printed} ({how})"
    )))
}

/// What an exit code says beyond its number: 132 is SIGILL, the code of a CPU that lacks
/// an instruction (ARMv7 code on an ARMv6 core).
fn signal_note(code: i64) -> &'static str {
    match code {
        132 => " (SIGILL: an instruction this CPU does not have)",
        137 => " (killed)",
        139 => " (SIGSEGV)",
        _ => "",
    }
}

fn last_lines(ended: &engine::Exited) -> String {
    if ended.last_lines.is_empty() {
        "none".into()
    } else {
        ended.last_lines.join(" | ")
    }
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

    fn exec_check(command: &[&str], platform: &str, code: i64, printed: &str) -> Check {
        let platform: Platform = platform.parse().unwrap();
        let how = Emulation::of(Some(&"linux/amd64".parse().unwrap()), &platform);
        let command: Vec<String> = command.iter().map(|w| w.to_string()).collect();
        let ended = engine::Exited {
            code,
            last_lines: vec![printed.to_string()],
        };
        judge_exec(&command, &platform, &how, Ok(ended)).unwrap()
    }

    #[test]
    fn an_exec_check_shows_its_command_as_typed_and_holds_its_machine_name() {
        assert_eq!(
            exec_check(&["sh", "-c", "uname -m"], "linux/arm64", 0, "aarch64"),
            Check::Pass("`sh -c 'uname -m'` exited 0: aarch64 (emulated)".into())
        );
        assert_eq!(
            exec_check(&["uname", "-m"], "linux/arm64", 0, "x86_64"),
            Check::Fail("`uname -m` printed `x86_64` (emulated), expected `aarch64`".into())
        );
        let Check::Fail(sigill) = exec_check(&["true"], "linux/arm/v6", 132, "") else {
            panic!("exit 132 passed");
        };
        assert!(
            sigill.contains("SIGILL") && sigill.contains("QEMU_CPU=arm1176"),
            "{sigill}"
        );
    }
}
