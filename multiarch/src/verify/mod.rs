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
pub mod cpu;
pub mod elf;
mod emulation;
pub mod evidence;
mod native_qemu;
pub mod page_size;
pub mod parity;
pub mod provenance;
mod running;
mod static_check;
pub mod userland;
pub mod x86;

pub use emulation::{Emulation, Emulator};
pub(crate) use running::check_running;
pub use running::{Probe, ask_machine};
pub(crate) use static_check::check_static;

use std::collections::HashMap;

use bollard::Docker;
use oci_client::Reference;
use serde::Serialize;

use multiarch_platform::Platform;

use crate::engine;
use crate::error::{Error, Result};
use crate::oci::index::{Entry, platforms};
use crate::registry::Registry;
use crate::registry::RegistryError;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// What `--exec`'s command printed, when it exited 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printed: Option<String>,
    /// The largest kernel page size its programs start on (`None`: none was read).
    pub page_size: Option<userland::PageSize>,
}

/// What the static check found: the config's claim, and the verdict.
#[derive(Debug, Clone)]
pub struct StaticCheck {
    /// The platform the image's config claims (`None`: it names no valid one).
    pub config: Option<Platform>,
    /// Config, entrypoint and the other programs judged against the index's platform.
    pub check: Check,
    /// The largest kernel page size the programs read all start on (`None`: none was read).
    pub page_size: Option<userland::PageSize>,
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
    /// The CPUs the running check proves each platform on (`--cpu`; empty: QEMU's
    /// default, the ARMv6 core for `arm/v6`, and the host's own CPU for its platform).
    pub cpu: cpu::CpuPlan,
    /// The page size the platforms' programs must start on (`--page-size`); `None` names
    /// a small one without failing.
    pub page_size: Option<page_size::PageSizeNeed>,
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
/// [`RegistryError::BadAnswer`] when no entry names a platform that can be checked.
pub fn targets(
    reference: &Reference,
    listed: &[Entry],
    wanted: Option<&[Platform]>,
) -> Result<Vec<(Platform, String)>> {
    crate::input::require_platforms(reference, listed, wanted.unwrap_or_default())?;
    if platforms(listed).is_empty() {
        return Err(Error::Registry(RegistryError::BadAnswer {
            reference: reference.whole(),
            reason: "no entry names a platform that can be checked".into(),
        }));
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
            let mut found =
                check_static(self.registry, self.reference, platform, digest, self.scope).await?;
            if let (Some((true, sentence)), Check::Pass(_)) = (
                page_size::judge(platform, found.page_size.as_ref(), self.page_size),
                &found.check,
            ) {
                found.check = Check::Fail(format!("--page-size asks for more: {sentence}"));
            }
            let (emulation, (running, printed)) = match self.docker {
                None => (None, (Check::Skipped("--static-only".into()), None)),
                Some(docker) => {
                    let mut emulation = Emulation::of(engine_platform.as_ref(), platform)
                        .on(self.cpu.for_platform(platform));
                    emulation.emulator = emulator_for(&emulation, platform);
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
                printed,
                page_size: found.page_size,
            });
        }
        Ok(reports)
    }
}

impl Verifier<'_> {
    /// How the platforms of `targets` drifted apart (`--parity`): their configs, the
    /// paths of their merged layers, and what `--exec` printed in `reports`.
    ///
    /// # Errors
    /// When the registry or a layer cannot be read.
    pub async fn parity(
        &self,
        targets: &[(Platform, String)],
        reports: &[PlatformReport],
    ) -> Result<Vec<parity::Drift>> {
        let mut siblings = Vec::with_capacity(targets.len());
        for (platform, digest) in targets {
            let printed = reports
                .iter()
                .find(|r| &r.platform == platform)
                .and_then(|r| r.printed.clone());
            siblings.push(
                parity::sibling(self.registry, self.reference, platform, digest, printed).await?,
            );
        }
        Ok(parity::compare(&siblings))
    }
}

/// Which QEMU of this machine runs `platform` as `emulation` says: binfmt_misc's handler,
/// or the static QEMU copied into the container. `None` natively, and for an engine on
/// another machine, whose binfmt_misc is not this one's.
fn emulator_for(emulation: &Emulation, platform: &Platform) -> Option<Emulator> {
    if !engine::host::engine_on_this_machine() || (emulation.native && !emulation.in_container) {
        return None;
    }
    let emulator = cpu::qemu_architecture(platform.architecture())?;
    let (path, binfmt_flags) = if emulation.in_container {
        (native_qemu::find_static_qemu(emulator).ok()?, None)
    } else {
        let binfmt = std::path::Path::new("/proc/sys/fs/binfmt_misc");
        let (path, flags) = engine::host::binfmt_handler(binfmt, emulator)?;
        (path, Some(flags))
    };
    Some(Emulator {
        version: engine::host::qemu_version(&path),
        path: path.display().to_string(),
        binfmt_flags,
    })
}
