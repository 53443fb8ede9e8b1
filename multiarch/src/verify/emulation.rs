//! How a platform's containers run on this engine: natively, 32-bit beside a 64-bit
//! kernel, or under QEMU told which CPU to be (by binfmt_misc, or, for the host's own
//! platform, which binfmt cannot take, by QEMU run inside the container).

use serde::Serialize;

use multiarch_platform::Platform;

use super::cpu::{Chosen, Model};

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
    /// The `--cpu` profile that chose it (`pi-4`, `baseline`).
    #[serde(rename = "cpu_profile", skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'static str>,
    /// The instruction set of that CPU, in words (`ARMv8.0`, `x86-64-v2`).
    #[serde(rename = "cpu_isa", skip_serializing_if = "Option::is_none")]
    pub isa: Option<&'static str>,
    /// The host's own platform run under QEMU inside its container, so that a CPU
    /// other than the host's can be asked for.
    #[serde(rename = "qemu_in_container")]
    pub in_container: bool,
    /// Why the profile asked for cannot be modelled here (the check then fails unrun).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmodelled: Option<&'static str>,
    /// Which QEMU ran it, so that a result can be reproduced and a known-bad QEMU
    /// recognised (`None`: native, or an engine on another machine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<Emulator>,
}

/// The QEMU program that ran a platform, as this machine has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Emulator {
    /// Its path here: `/usr/bin/qemu-aarch64-static`.
    pub path: String,
    /// What it says of its version: `7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`.
    pub version: Option<String>,
    /// How binfmt_misc hands it programs (`PF`: preserve argv[0], fix the binary so that
    /// containers find it), `None` when it was copied into the container instead.
    pub binfmt_flags: Option<String>,
}

impl std::fmt::Display for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)?;
        if let Some(version) = &self.version {
            write!(f, ", QEMU {version}")?;
        }
        match &self.binfmt_flags {
            Some(flags) => write!(f, ", through binfmt_misc (flags {flags})"),
            None => f.write_str(", copied into the container"),
        }
    }
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
            profile: None,
            isa: None,
            in_container: false,
            unmodelled: None,
            emulator: None,
        }
    }

    /// The same, proven on the CPU `--cpu` chose (`None`: as without `--cpu`). A
    /// platform the host runs itself gets QEMU inside its container.
    pub fn on(mut self, chosen: Option<Chosen>) -> Self {
        let Some(chosen) = chosen else { return self };
        self.profile = Some(chosen.profile);
        match chosen.model {
            Model::Qemu { cpu, isa } => {
                self.cpu = Some(cpu);
                self.isa = Some(isa);
                self.in_container = self.native;
            }
            Model::Unmodelled(why) => self.unmodelled = Some(why),
        }
        self
    }

    /// The CPU for a person: `cortex-a72 (pi-4, ARMv8.0)`, `Nehalem (x86-64-v2)`; QEMU's
    /// feature switches left out.
    pub(crate) fn cpu_shown(&self) -> Option<String> {
        let model = self.cpu?.split(',').next().unwrap_or_default();
        Some(match (self.profile, self.isa) {
            (Some(profile), Some(isa)) if profile == isa => format!("{model} ({profile})"),
            (Some(profile), Some(isa)) => format!("{model} ({profile}, {isa})"),
            _ => model.to_string(),
        })
    }

    /// What ran it, in a few words for a table: `native`, `QEMU arm1176`,
    /// `QEMU cortex-a72 (pi-4)`, `QEMU Nehalem (x86-64-v2) in the container`.
    pub fn short(&self) -> String {
        let model = self.cpu.map(|cpu| cpu.split(',').next().unwrap_or(cpu));
        let profile = self
            .profile
            .filter(|p| Some(*p) != model)
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        match (self.native, self.compat, model) {
            (_, _, Some(model)) if self.in_container => {
                format!("QEMU {model}{profile} in the container")
            }
            (true, true, _) => "native, 32-bit".into(),
            (true, false, _) => "native".into(),
            (false, _, Some(model)) => format!("QEMU {model}{profile}"),
            (false, _, None) if self.unmodelled.is_some() => format!("not run{profile}"),
            (false, _, None) => "QEMU, its default CPU".into(),
        }
    }

    /// The container's environment that picks the emulated CPU (binfmt's QEMU reads
    /// `QEMU_CPU`; QEMU inside the container is given `-cpu` instead).
    pub fn env(&self) -> Vec<String> {
        match self.cpu {
            Some(cpu) if !self.in_container => vec![format!("QEMU_CPU={cpu}")],
            _ => Vec::new(),
        }
    }

    /// Whether `machine` (`uname -m` in the container) is what `platform` should say.
    pub fn accepts(&self, platform: &Platform, machine: &str) -> bool {
        platform.matches_machine(machine) || (self.compat && machine == "x86_64")
    }
}

impl std::fmt::Display for Emulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.in_container {
            let cpu = self.cpu_shown().unwrap_or_default();
            return write!(f, "QEMU in the container as {cpu}");
        }
        match (self.native, self.compat, self.cpu) {
            (true, true, _) => f.write_str("native, 32-bit on the 64-bit kernel"),
            (true, false, _) => f.write_str("native"),
            (false, _, Some(_)) if self.profile.is_some() => {
                write!(f, "emulated as {}", self.cpu_shown().unwrap_or_default())
            }
            (false, _, Some(cpu)) => write!(f, "emulated, QEMU_CPU={cpu}"),
            (false, _, None) => f.write_str("emulated"),
        }
    }
}
