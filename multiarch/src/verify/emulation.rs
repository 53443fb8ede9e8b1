//! How a platform's containers run on this engine: natively, 32-bit beside a 64-bit
//! kernel, or under QEMU told which CPU to be.

use serde::Serialize;

use multiarch_platform::Platform;

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
