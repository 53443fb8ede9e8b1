//! Facts about the machine the server runs on, read once at start-up.
//!
//! The machine name comes from the `uname` system call at run time, never from how the
//! binary was compiled: under QEMU user emulation the call is answered by QEMU, so an
//! arm64 image run on an x86-64 host reports `aarch64`, which is what the demo shows.
//! Beside it stand the platform the binary was built for (a 32-bit build on a 64-bit
//! kernel is both), and whether `/proc/cpuinfo` shows a CPU of another architecture
//! than the program's, the one honest sign of emulation a program has (QEMU 7's user
//! mode passes the host's through); where it shows none, the answer is "cannot tell".

use multiarch_platform::{ArchAnswer, Emulated, Platform};

/// What the server reports about itself.
#[derive(Debug, Clone)]
pub struct MachineInfo {
    /// `uname -m`: `x86_64`, `aarch64`, `armv7l`.
    pub machine: String,
    /// `uname -s`, lowercased: `linux`.
    pub os: String,
    /// `uname -n`: the container's hostname (its short id under Docker).
    pub hostname: String,
    /// The OCI platform of the kernel, from `uname -m`, when known.
    pub platform: Option<Platform>,
    /// `/proc/cpuinfo` as read at start-up, if it could be.
    pub cpuinfo: Option<String>,
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
        let mut info = Self::from_parts(machine, os, hostname);
        info.cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
        info
    }

    /// Builds the facts from given values (tests use this to play another machine).
    pub fn from_parts(machine: String, os: String, hostname: String) -> Self {
        let platform = Platform::from_machine(&machine).filter(|p| p.os() == os);
        Self {
            machine,
            os,
            hostname,
            platform,
            cpuinfo: None,
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

    /// The platform this program was built for and runs as: `linux/386` for an i686
    /// build, whatever the kernel.
    pub fn program_platform(&self) -> Option<Platform> {
        let machine = match self.compiled_for() {
            "armv6" => "armv6l",
            "armv7" => "armv7l",
            "powerpc64le" => "ppc64le",
            cpu => cpu,
        };
        Platform::from_machine(machine).filter(|p| p.os() == self.os)
    }

    /// Whether the program's platform and the kernel's differ (both known).
    pub fn differs_from_kernel(&self) -> bool {
        matches!((self.program_platform(), &self.platform), (Some(p), Some(k)) if &p != k)
    }

    /// Whether an emulator runs this program, and why the answer is what it is.
    pub fn emulation(&self) -> (Emulated, String) {
        let program = cpu_family_of_target(self.compiled_for());
        let shown = self.cpuinfo.as_deref().and_then(cpu_family_of_cpuinfo);
        match (program, shown) {
            (Some(program), Some((shown, model))) if program != shown => (
                Emulated::Yes,
                format!(
                    "/proc/cpuinfo describes {} CPU{}, and this program is {} code: an emulator (QEMU user mode) runs it",
                    shown.with_article(),
                    model.map(|m| format!(" ({m})")).unwrap_or_default(),
                    program.name()
                ),
            ),
            (Some(_), Some((shown, _))) => (
                Emulated::CannotTell,
                format!(
                    "/proc/cpuinfo describes {} CPU, as a native run does; an emulator that shows one looks the same",
                    shown.with_article()
                ),
            ),
            _ => (
                Emulated::CannotTell,
                "/proc/cpuinfo could not be read or names no CPU family this program knows".into(),
            ),
        }
    }

    /// The body of `GET /arch`.
    pub fn answer(&self) -> ArchAnswer {
        let (emulated, emulation_evidence) = self.emulation();
        ArchAnswer {
            architecture: self.machine.clone(),
            os: self.os.clone(),
            platform: self.program_platform().as_ref().map(ToString::to_string),
            compiled_for: self.compiled_for().into(),
            kernel: self.platform.as_ref().map(ToString::to_string),
            differs_from_kernel: self.differs_from_kernel(),
            emulated,
            emulation_evidence,
        }
    }
}

/// The CPU families `/proc/cpuinfo` can tell apart by its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuFamily {
    /// x86 and x86-64.
    X86,
    /// 32- and 64-bit ARM.
    Arm,
    /// POWER.
    Power,
    /// IBM Z.
    S390,
    /// RISC-V.
    RiscV,
}

impl CpuFamily {
    fn name(self) -> &'static str {
        match self {
            Self::X86 => "x86",
            Self::Arm => "ARM",
            Self::Power => "POWER",
            Self::S390 => "IBM Z",
            Self::RiscV => "RISC-V",
        }
    }

    fn with_article(self) -> String {
        match self {
            Self::X86 => "an x86".into(),
            Self::Arm => "an ARM".into(),
            Self::S390 => "an IBM Z".into(),
            other => format!("a {}", other.name()),
        }
    }
}

/// The family of a build target's CPU (`compiled_for`).
fn cpu_family_of_target(cpu: &str) -> Option<CpuFamily> {
    Some(match cpu {
        "x86_64" | "i686" | "i586" | "x86" => CpuFamily::X86,
        "aarch64" | "armv6" | "armv7" | "arm" => CpuFamily::Arm,
        "powerpc64le" | "powerpc64" => CpuFamily::Power,
        "s390x" => CpuFamily::S390,
        "riscv64" => CpuFamily::RiscV,
        _ => return None,
    })
}

/// The CPU family `/proc/cpuinfo` describes, by the fields each kernel writes, and the
/// model name where it has one.
pub fn cpu_family_of_cpuinfo(text: &str) -> Option<(CpuFamily, Option<String>)> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let family = if field("vendor_id").is_some_and(|v| v.starts_with("IBM/S390")) {
        CpuFamily::S390
    } else if field("vendor_id").is_some() {
        CpuFamily::X86
    } else if field("CPU implementer").is_some() || field("CPU architecture").is_some() {
        CpuFamily::Arm
    } else if field("cpu").is_some_and(|v| v.starts_with("POWER")) {
        CpuFamily::Power
    } else if field("isa").is_some_and(|v| v.starts_with("rv")) {
        CpuFamily::RiscV
    } else {
        return None;
    };
    Some((family, field("model name")))
}

#[cfg(test)]
mod tests {
    use super::{CpuFamily, MachineInfo, cpu_family_of_cpuinfo};
    use multiarch_platform::Emulated;

    const X86_CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu vme sse2\n";
    const ARM64_CPUINFO: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n";
    const PI_ARMV7_CPUINFO: &str = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nFeatures\t: half thumb fastmult vfp edsp neon\nCPU implementer\t: 0x41\nCPU architecture: 7\n";
    const S390_CPUINFO: &str = "vendor_id       : IBM/S390\n# processors    : 2\n";
    const POWER_CPUINFO: &str =
        "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\nplatform\t: pSeries\n";
    const RISCV_CPUINFO: &str = "processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc\nmmu\t\t: sv39\n";

    #[rstest::rstest]
    #[case(X86_CPUINFO, Some(CpuFamily::X86))]
    #[case(ARM64_CPUINFO, Some(CpuFamily::Arm))]
    #[case(PI_ARMV7_CPUINFO, Some(CpuFamily::Arm))]
    #[case(S390_CPUINFO, Some(CpuFamily::S390))]
    #[case(POWER_CPUINFO, Some(CpuFamily::Power))]
    #[case(RISCV_CPUINFO, Some(CpuFamily::RiscV))]
    #[case("", None)]
    fn cpuinfo_tells_its_cpu_family(#[case] text: &str, #[case] family: Option<CpuFamily>) {
        assert_eq!(cpu_family_of_cpuinfo(text).map(|(f, _)| f), family);
    }

    fn machine(uname: &str, target: &'static str, cpuinfo: Option<&str>) -> MachineInfo {
        let mut info = MachineInfo::from_parts(uname.into(), "linux".into(), "h".into());
        info.build_target = target;
        info.cpuinfo = cpuinfo.map(String::from);
        info
    }

    /// Issue #24: the 386 image on an x86-64 machine, and a 32-bit Pi OS on a 64-bit
    /// kernel, say both facts and that they differ.
    #[rstest::rstest]
    #[case("x86_64", "i686-unknown-linux-gnu", "linux/386", "linux/amd64", true)]
    #[case(
        "aarch64",
        "armv7-unknown-linux-gnueabihf",
        "linux/arm/v7",
        "linux/arm64",
        true
    )]
    #[case(
        "armv7l",
        "arm-unknown-linux-gnueabi",
        "linux/arm/v6",
        "linux/arm/v7",
        true
    )]
    #[case(
        "aarch64",
        "aarch64-unknown-linux-gnu",
        "linux/arm64",
        "linux/arm64",
        false
    )]
    #[case(
        "x86_64",
        "x86_64-unknown-linux-gnu",
        "linux/amd64",
        "linux/amd64",
        false
    )]
    fn the_program_and_the_kernel_are_both_named(
        #[case] uname: &str,
        #[case] target: &'static str,
        #[case] program: &str,
        #[case] kernel: &str,
        #[case] differs: bool,
    ) {
        let answer = machine(uname, target, None).answer();
        assert_eq!(answer.platform.as_deref(), Some(program));
        assert_eq!(answer.kernel.as_deref(), Some(kernel));
        assert_eq!(answer.differs_from_kernel, differs);
    }

    #[rstest::rstest]
    // QEMU 7 user mode: an arm64 program, the host's x86 /proc/cpuinfo.
    #[case(
        "aarch64-unknown-linux-gnu",
        Some(X86_CPUINFO),
        Emulated::Yes,
        "an x86 CPU (AMD EPYC 7B13)"
    )]
    #[case(
        "x86_64-unknown-linux-gnu",
        Some(ARM64_CPUINFO),
        Emulated::Yes,
        "this program is x86 code"
    )]
    #[case(
        "s390x-unknown-linux-gnu",
        Some(X86_CPUINFO),
        Emulated::Yes,
        "an emulator"
    )]
    // Native, or an emulator that shows a CPU of the program's own family: no telling.
    #[case(
        "aarch64-unknown-linux-gnu",
        Some(ARM64_CPUINFO),
        Emulated::CannotTell,
        "as a native run does"
    )]
    #[case(
        "i686-unknown-linux-gnu",
        Some(X86_CPUINFO),
        Emulated::CannotTell,
        "as a native run does"
    )]
    #[case(
        "x86_64-unknown-linux-gnu",
        None,
        Emulated::CannotTell,
        "could not be read"
    )]
    fn emulation_is_said_only_where_it_shows(
        #[case] target: &'static str,
        #[case] cpuinfo: Option<&str>,
        #[case] emulated: Emulated,
        #[case] evidence: &str,
    ) {
        let (got, why) = machine("x86_64", target, cpuinfo).emulation();
        assert_eq!(got, emulated, "{why}");
        assert!(why.contains(evidence), "{why}");
    }

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
