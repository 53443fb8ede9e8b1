//! Facts about the machine the server runs on, read once at start-up.
//!
//! The machine name comes from the `uname` system call at run time, never from how the
//! binary was compiled: under QEMU user emulation the call is answered by QEMU, so an
//! arm64 image run on an x86-64 host reports `aarch64`, which is what the demo shows.

use multiarch_platform::{ArchAnswer, Platform};

/// What the server reports about itself.
#[derive(Debug, Clone)]
pub struct MachineInfo {
    /// `uname -m`: `x86_64`, `aarch64`, `armv7l`.
    pub machine: String,
    /// `uname -s`, lowercased: `linux`.
    pub os: String,
    /// `uname -n`: the container's hostname (its short id under Docker).
    pub hostname: String,
    /// The OCI platform that runs this machine's binaries natively, when known.
    pub platform: Option<Platform>,
    /// The Rust target triple this binary was built for.
    pub build_target: &'static str,
    /// The crate version.
    pub version: &'static str,
}

impl MachineInfo {
    /// Reads the running kernel's answer to `uname`.
    pub fn detect() -> Self {
        let uname = rustix::system::uname();
        let machine = uname.machine().to_string_lossy().into_owned();
        let os = uname.sysname().to_string_lossy().to_ascii_lowercase();
        let hostname = uname.nodename().to_string_lossy().into_owned();
        Self::from_parts(machine, os, hostname)
    }

    /// Builds the facts from given values (tests use this to play another machine).
    pub fn from_parts(machine: String, os: String, hostname: String) -> Self {
        let platform = Platform::from_machine(&machine).filter(|p| p.os() == os);
        Self {
            machine,
            os,
            hostname,
            platform,
            build_target: env!("ARCH_SERVER_TARGET"),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The CPU this binary was compiled for, from its target triple: `x86_64`, `aarch64`,
    /// `i686`, `armv6` (Rust's `arm-unknown-linux-gnueabi` is ARMv6), `armv7`,
    /// `powerpc64le`, `s390x`, `riscv64`. A v6 build running on a v7 machine says so.
    pub fn compiled_for(&self) -> &'static str {
        match self.build_target.split('-').next() {
            Some("arm") => "armv6",
            Some("riscv64gc") => "riscv64",
            Some(cpu) if !cpu.is_empty() => cpu,
            _ => std::env::consts::ARCH,
        }
    }

    /// The body of `GET /arch`.
    pub fn answer(&self) -> ArchAnswer {
        ArchAnswer {
            architecture: self.machine.clone(),
            os: self.os.clone(),
            platform: self.platform.as_ref().map(ToString::to_string),
            compiled_for: self.compiled_for().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MachineInfo;

    /// Issue #15: the build target shows, so a v6 build on a v7 machine is visibly v6.
    #[rstest::rstest]
    #[case("x86_64-unknown-linux-gnu", "x86_64")]
    #[case("aarch64-unknown-linux-gnu", "aarch64")]
    #[case("i686-unknown-linux-gnu", "i686")]
    #[case("arm-unknown-linux-gnueabi", "armv6")]
    #[case("armv7-unknown-linux-gnueabihf", "armv7")]
    #[case("powerpc64le-unknown-linux-gnu", "powerpc64le")]
    #[case("s390x-unknown-linux-gnu", "s390x")]
    #[case("riscv64gc-unknown-linux-gnu", "riscv64")]
    fn compiled_for_names_the_build_targets_cpu(#[case] target: &'static str, #[case] cpu: &str) {
        let mut info = MachineInfo::from_parts("armv7l".into(), "linux".into(), "h".into());
        info.build_target = target;
        assert_eq!(info.compiled_for(), cpu);
    }
}
