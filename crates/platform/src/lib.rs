//! Platform names and the `/arch` answer, in one place.
//!
//! `arch-server` reports the machine it runs on (`uname -m`), `multiarch` reads OCI
//! platforms out of image indexes (`linux/arm64`), and checking one against the other is
//! the whole point of the kit. Both sides therefore share this small crate: the OCI
//! platform type with the normalisation containerd applies (`arm64/v8` is `arm64`, `arm`
//! is `arm/v7`), the table between kernel machine names and platforms, and the JSON
//! body of `GET /arch`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An OCI platform: `os/architecture[/variant]`, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// `; did you mean `linux/arm/v7`?`, or nothing.
fn did_you_mean(meant: Option<&Platform>) -> String {
    meant
        .map(|p| format!("; did you mean `{p}`?"))
        .unwrap_or_default()
}

/// Why a platform string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// Nothing was given.
    #[error("the platform is empty")]
    Empty,
    /// Only an architecture was given; OCI platforms name the OS first.
    #[error("`{0}` has no operating system: write it as `linux/{0}`")]
    MissingOs(String),
    /// More than three `/`-separated parts, or an empty part.
    #[error("`{0}` is not of the form os/architecture[/variant]")]
    Malformed(String),
    /// An operating system this kit does not know.
    #[error(
        "`{os}` in `{input}` is not a known operating system (linux, windows, darwin, freebsd)"
    )]
    UnknownOs {
        /// The whole string given.
        input: String,
        /// The part that was refused.
        os: String,
    },
    /// An architecture this kit does not know.
    #[error(
        "`{architecture}` in `{input}` is not a known architecture ({known}){hint}",
        known = KNOWN_ARCHITECTURES.join(", "),
        hint = did_you_mean(.meant.as_ref())
    )]
    UnknownArchitecture {
        /// The whole string given.
        input: String,
        /// The part that was refused.
        architecture: String,
        /// The platform a machine name such as `armv7l` stands for, when it is one.
        meant: Option<Platform>,
    },
    /// An operating system alone, where a platform names an architecture too.
    #[error(
        "`{input}` names only an operating system: write it with an architecture, as `{os}/amd64` or `{os}/arm64`"
    )]
    OnlyOs {
        /// The whole string given.
        input: String,
        /// The operating system, normalised.
        os: String,
    },
    /// An OS version or feature list, which containerd reads and this kit does not.
    #[error(
        "`{input}` carries an OS version or features, which multi-platform indexes here do not use: write `{os}/ARCH`, as `{os}/amd64`"
    )]
    OsVersion {
        /// The whole string given.
        input: String,
        /// The operating system before the parenthesis.
        os: String,
    },
    /// A variant that does not exist for that architecture.
    #[error("`{variant}` is not a variant of `{architecture}` in `{input}` (known: {known})")]
    UnknownVariant {
        /// The whole string given.
        input: String,
        /// The architecture the variant was given for.
        architecture: String,
        /// The part that was refused.
        variant: String,
        /// The variants that architecture has.
        known: String,
    },
}

const KNOWN_OSES: &[&str] = &["linux", "windows", "darwin", "freebsd"];

/// Architectures as the OCI image spec (GOARCH) names them.
pub const KNOWN_ARCHITECTURES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64",
];

/// The variants each architecture may carry, and the one assumed when none is given.
fn variants(architecture: &str) -> (&'static [&'static str], Option<&'static str>) {
    match architecture {
        "arm" => (&["v5", "v6", "v7", "v8"], Some("v7")),
        "amd64" => (&["v1", "v2", "v3", "v4"], None),
        // The OCI image spec's arm64 variants; `v8` is plain `arm64`.
        "arm64" => (
            &[
                "v8", "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9", "v9",
                "v9.1", "v9.2", "v9.3", "v9.4", "v9.5",
            ],
            None,
        ),
        _ => (&[], None),
    }
}

/// A variant as containerd normalises it (`normalizeArch`, containerd/platforms
/// `database.go`): `arm/7` is `arm/v7`, `arm64/8` and `arm64/v8.0` are `arm64`,
/// `arm64/9.0` is `arm64/v9`, `amd64/v1` is `amd64`.
fn normalise_variant(architecture: &str, variant: &str) -> Option<String> {
    let with_v = if variant.starts_with('v') {
        variant.to_string()
    } else {
        format!("v{variant}")
    };
    match (architecture, with_v.as_str()) {
        ("amd64", "v1") | ("arm64", "v8" | "v8.0") => None,
        ("arm64", "v9.0") => Some("v9".into()),
        _ => Some(with_v),
    }
}

impl Platform {
    /// Builds a platform from parts that are already known to be valid.
    ///
    /// # Errors
    /// The same as parsing `os/architecture[/variant]`.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Result<Self, PlatformError> {
        let text = match variant {
            Some(v) if !v.is_empty() => format!("{os}/{architecture}/{v}"),
            _ => format!("{os}/{architecture}"),
        };
        text.parse()
    }

    /// `linux/amd64`.
    pub fn linux_amd64() -> Self {
        Self::new("linux", "amd64", None).expect("a known platform")
    }

    /// `linux/arm64`.
    pub fn linux_arm64() -> Self {
        Self::new("linux", "arm64", None).expect("a known platform")
    }

    /// The operating system: `linux`.
    pub fn os(&self) -> &str {
        &self.os
    }

    /// The architecture, GOARCH style: `arm64`.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The variant, if the architecture has one: `v7`.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// The platform of a Linux machine whose kernel reports `machine` (`uname -m`).
    ///
    /// Returns `None` for a machine name this kit does not know.
    pub fn from_machine(machine: &str) -> Option<Self> {
        let (architecture, variant) = match machine {
            "x86_64" | "amd64" => ("amd64", None),
            "aarch64" | "arm64" | "armv8l" => ("arm64", None),
            "armv7l" | "armv7" => ("arm", Some("v7")),
            "armv6l" | "armv6" => ("arm", Some("v6")),
            "armv5tel" | "armv5l" | "armv5" => ("arm", Some("v5")),
            "i386" | "i486" | "i586" | "i686" => ("386", None),
            "ppc64le" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "mips64" | "mips64le" => ("mips64le", None),
            "loongarch64" => ("loong64", None),
            _ => return None,
        };
        Some(Self {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        })
    }

    /// Whether a machine that reports `machine` runs this platform's binaries natively.
    ///
    /// The variant only counts where the kernel names it: `armv7l` is `arm/v7`,
    /// but an `amd64/v3` image runs on any `x86_64`.
    pub fn matches_machine(&self, machine: &str) -> bool {
        let Some(running) = Self::from_machine(machine) else {
            return false;
        };
        running.os == self.os
            && running.architecture == self.architecture
            && (self.architecture != "arm" || running.variant == self.variant)
    }

    /// What `uname -m` says on a machine of this platform (`x86_64` for `amd64`).
    pub fn machine(&self) -> Option<&'static str> {
        Some(match (self.architecture.as_str(), self.variant()) {
            ("amd64", _) => "x86_64",
            ("arm64", _) => "aarch64",
            ("arm", Some("v7")) => "armv7l",
            ("arm", Some("v6")) => "armv6l",
            ("arm", Some("v5")) => "armv5tel",
            ("386", _) => "i686",
            ("ppc64le", _) => "ppc64le",
            ("s390x", _) => "s390x",
            ("riscv64", _) => "riscv64",
            ("mips64le", _) => "mips64",
            ("loong64", _) => "loongarch64",
            _ => return None,
        })
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PlatformError::Empty);
        }
        let lower = trimmed.to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(PlatformError::Malformed(trimmed.into()));
        }
        // containerd's `macos` is `darwin`.
        let os = match parts[0] {
            "macos" => "darwin",
            other => other,
        };
        // `windows(10.0.17763)`, `linux(+gpu)`: containerd's OS versions and features,
        // which no image index of ours carries; refused by name.
        if let Some((name, _)) = os.split_once('(') {
            return Err(PlatformError::OsVersion {
                input: trimmed.into(),
                os: name.into(),
            });
        }
        if parts.len() == 1 {
            return if KNOWN_OSES.contains(&os) {
                Err(PlatformError::OnlyOs {
                    input: trimmed.into(),
                    os: os.into(),
                })
            } else {
                Err(PlatformError::MissingOs(trimmed.into()))
            };
        }
        if !KNOWN_OSES.contains(&os) {
            return Err(PlatformError::UnknownOs {
                input: trimmed.into(),
                os: os.into(),
            });
        }
        // Aliases people type, mapped to the OCI names; Debian's ARM ports (as containerd
        // reads them) imply their variant.
        let (architecture, implied) = match parts[1] {
            "x86_64" | "x86-64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "i386" | "i686" => ("386", None),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v6")),
            other => (other, None),
        };
        if !KNOWN_ARCHITECTURES.contains(&architecture) {
            return Err(PlatformError::UnknownArchitecture {
                input: trimmed.into(),
                architecture: parts[1].into(),
                // `linux/armv7` is a machine name where the platform was meant.
                meant: Self::from_machine(parts[1]).filter(|_| parts.len() == 2),
            });
        }
        let (known, default) = variants(architecture);
        let given = parts
            .get(2)
            .copied()
            .or(implied)
            .map(|v| (v, normalise_variant(architecture, v)));
        let variant = match given {
            Some((_, None)) => None,
            Some((_, Some(v))) if known.contains(&v.as_str()) => Some(v),
            Some((v, _)) => {
                return Err(PlatformError::UnknownVariant {
                    input: trimmed.into(),
                    architecture: architecture.into(),
                    variant: v.into(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
            None => default.map(String::from),
        };
        Ok(Self {
            os: os.into(),
            architecture: architecture.into(),
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Platforms as a person reads a list of them: `linux/amd64, linux/arm64`.
pub fn join_platforms(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a comma-separated list such as `linux/amd64,linux/arm64`, refusing duplicates.
///
/// # Errors
/// The first entry that does not parse, or a platform named twice.
pub fn parse_platform_list(input: &str) -> Result<Vec<Platform>, PlatformListError> {
    let mut platforms: Vec<Platform> = Vec::new();
    for part in input.split(',') {
        let platform: Platform = part.parse().map_err(PlatformListError::Invalid)?;
        if platforms.contains(&platform) {
            return Err(PlatformListError::Duplicate(platform));
        }
        platforms.push(platform);
    }
    Ok(platforms)
}

/// Why a list of platforms was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformListError {
    /// One entry is not a platform.
    #[error(transparent)]
    Invalid(PlatformError),
    /// The same platform twice (after normalisation: `arm64` and `arm64/v8` are one).
    #[error("`{0}` is named twice")]
    Duplicate(Platform),
}

/// The JSON body of `GET /arch`.
///
/// `architecture` keeps the meaning it had in the FastAPI demo this kit replaces
/// (`platform.machine()`, that is `uname -m` at run time); the other fields were added
/// after it and may grow. A 32-bit program on a 64-bit kernel (the linux/386 image on an
/// x86-64 machine, a 32-bit Raspberry Pi OS on a 64-bit kernel) is both facts at once:
/// `platform` is what the program was built for and runs as, `kernel` what the kernel
/// runs, and `differs_from_kernel` says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchAnswer {
    /// What the kernel (or QEMU) reports as the machine: `x86_64`, `aarch64`, `armv7l`.
    pub architecture: String,
    /// The operating system: `linux`.
    pub os: String,
    /// The OCI platform this program was built for and runs as: `linux/386` for a
    /// 32-bit x86 build, whatever the kernel.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<String>,
    /// The architecture the server binary was compiled for (its target's CPU).
    pub compiled_for: String,
    /// The OCI platform of the kernel it runs on (from `uname -m`), when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kernel: Option<String>,
    /// Whether the program's platform and the kernel's differ.
    #[serde(default)]
    pub differs_from_kernel: bool,
    /// Whether an emulator runs the program, as far as the program can tell.
    #[serde(default)]
    pub emulated: Emulated,
    /// What that answer rests on.
    #[serde(default)]
    pub emulation_evidence: String,
}

/// Whether a program is emulated, as far as it can honestly tell from inside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Emulated {
    /// The machine shows a CPU of another architecture than the program's (QEMU's user
    /// mode passes the host's `/proc/cpuinfo` through).
    #[serde(rename = "yes")]
    Yes,
    /// Nothing the program can see says either way: a native run and an emulator that
    /// shows a CPU of the program's own architecture look the same.
    #[default]
    #[serde(rename = "cannot tell")]
    CannotTell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("linux/amd64", "linux/amd64")]
    #[case("linux/arm64", "linux/arm64")]
    #[case("linux/arm64/v8", "linux/arm64")]
    #[case("LINUX/ARM64", "linux/arm64")]
    #[case(" linux/arm64 ", "linux/arm64")]
    #[case("linux/arm", "linux/arm/v7")]
    #[case("linux/arm/v6", "linux/arm/v6")]
    #[case("linux/amd64/v3", "linux/amd64/v3")]
    #[case("linux/x86_64", "linux/amd64")]
    #[case("linux/aarch64", "linux/arm64")]
    #[case("linux/386", "linux/386")]
    #[case("linux/s390x", "linux/s390x")]
    #[case("windows/amd64", "windows/amd64")]
    #[case("linux/armhf", "linux/arm/v7")]
    #[case("linux/armel", "linux/arm/v6")]
    fn parses_and_normalises(#[case] input: &str, #[case] expected: &str) {
        let platform: Platform = input.parse().unwrap();
        assert_eq!(platform.to_string(), expected);
    }

    #[rstest]
    #[case("", "the platform is empty")]
    #[case("amd64", "`amd64` has no operating system: write it as `linux/amd64`")]
    #[case(
        "linux",
        "`linux` names only an operating system: write it with an architecture, as `linux/amd64` or `linux/arm64`"
    )]
    #[case(
        "macOS",
        "`macOS` names only an operating system: write it with an architecture, as `darwin/amd64` or `darwin/arm64`"
    )]
    #[case(
        "windows()",
        "`windows()` carries an OS version or features, which multi-platform indexes here do not use: write `windows/ARCH`, as `windows/amd64`"
    )]
    #[case("linux/", "`linux/` is not of the form os/architecture[/variant]")]
    #[case(
        "linux/arm64/v8/x",
        "`linux/arm64/v8/x` is not of the form os/architecture[/variant]"
    )]
    #[case(
        "linux/arm64/v7",
        "`v7` is not a variant of `arm64` in `linux/arm64/v7` (known: v8, v8.1, v8.2, v8.3, v8.4, v8.5, v8.6, v8.7, v8.8, v8.9, v9, v9.1, v9.2, v9.3, v9.4, v9.5)"
    )]
    #[case(
        "linux/s390x/v2",
        "`v2` is not a variant of `s390x` in `linux/s390x/v2` (known: none)"
    )]
    #[case(
        "plan9/amd64",
        "`plan9` in `plan9/amd64` is not a known operating system (linux, windows, darwin, freebsd)"
    )]
    #[case(
        "linux/sparc",
        "`sparc` in `linux/sparc` is not a known architecture (amd64, arm64, arm, 386, ppc64le, s390x, riscv64, mips64le, loong64)"
    )]
    #[case(
        "linux/armv7",
        "`armv7` in `linux/armv7` is not a known architecture (amd64, arm64, arm, 386, ppc64le, s390x, riscv64, mips64le, loong64); did you mean `linux/arm/v7`?"
    )]
    #[case(
        "linux/armv6l",
        "`armv6l` in `linux/armv6l` is not a known architecture (amd64, arm64, arm, 386, ppc64le, s390x, riscv64, mips64le, loong64); did you mean `linux/arm/v6`?"
    )]
    #[case(
        "linux/armv7/v6",
        "`armv7` in `linux/armv7/v6` is not a known architecture (amd64, arm64, arm, 386, ppc64le, s390x, riscv64, mips64le, loong64)"
    )]
    fn refuses_with_a_message(#[case] input: &str, #[case] message: &str) {
        let err = input.parse::<Platform>().unwrap_err();
        assert_eq!(err.to_string(), message);
    }

    /// containerd/platforms `platforms_test.go` (TestParseSelector) and `database.go`
    /// (normalizeArch, normalizeOS): what containerd reads each as, and we too. Its
    /// single-word forms (`arm`, `x86_64`, `linux`) take the host's OS or architecture
    /// there; here they are refused on purpose (`refuses_on_purpose_what_containerd_reads`).
    #[rstest]
    #[case::parse_selector_linux_arm64("linux/arm64", "linux/arm64")]
    #[case::parse_selector_linux_arm64_v8("linux/arm64/v8", "linux/arm64")]
    #[case::parse_selector_linux_arm("linux/arm", "linux/arm/v7")]
    #[case::parse_selector_linux_arm_v6("linux/arm/v6", "linux/arm/v6")]
    #[case::parse_selector_linux_arm_v7("linux/arm/v7", "linux/arm/v7")]
    #[case::parse_selector_linux_x86_64("Linux/x86_64", "linux/amd64")]
    #[case::parse_selector_linux_s390x("linux/s390x", "linux/s390x")]
    #[case::matches_linux_aarch64("linux/aarch64", "linux/arm64")]
    #[case::matches_linux_aarch64_v8("linux/aarch64/v8", "linux/arm64")]
    #[case::matches_linux_armhf("linux/armhf", "linux/arm/v7")]
    #[case::matches_linux_arm_7("linux/arm/7", "linux/arm/v7")]
    #[case::matches_linux_armel("linux/armel", "linux/arm/v6")]
    #[case::normalize_amd64_v1("linux/amd64/v1", "linux/amd64")]
    #[case::normalize_x86_64_v2("linux/x86-64/v2", "linux/amd64/v2")]
    #[case::normalize_arm64_8("linux/arm64/8", "linux/arm64")]
    #[case::normalize_arm64_v8_0("linux/arm64/v8.0", "linux/arm64")]
    #[case::normalize_arm64_9_0("linux/arm64/9.0", "linux/arm64/v9")]
    #[case::normalize_arm64_v8_2("linux/arm64/v8.2", "linux/arm64/v8.2")]
    #[case::normalize_arm_5("linux/arm/5", "linux/arm/v5")]
    #[case::normalize_i386("linux/i386", "linux/386")]
    #[case::normalize_macos("macOS/arm64", "darwin/arm64")]
    fn reads_what_containerd_reads(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(input.parse::<Platform>().unwrap().to_string(), expected);
    }

    /// containerd/platforms `platforms_test.go`: inputs it takes that we refuse, on
    /// purpose (the README lists them): a lone architecture or OS (containerd fills in
    /// the host's, so the same command means another platform on another machine), OS
    /// versions and features, and architectures no image of ours is built for.
    #[rstest]
    #[case::lone_architecture("arm")]
    #[case::lone_machine_name("x86_64")]
    #[case::lone_os("linux")]
    #[case::os_version("windows(10.0.17763)/amd64")]
    #[case::os_features("linux(+gpu)/amd64")]
    #[case::other_architecture("linux/sparc64")]
    // And what containerd refuses too.
    #[case::leading_slash("/linux/arm")]
    #[case::trailing_slash("linux/arm/")]
    #[case::space("linux /arm")]
    #[case::bad_character("linux/&arm")]
    #[case::too_many_parts("linux/arm/foo/bar")]
    fn refuses_on_purpose_what_containerd_reads(#[case] input: &str) {
        assert!(input.parse::<Platform>().is_err(), "{input}");
    }

    #[rstest]
    #[case("x86_64", "linux/amd64")]
    #[case("aarch64", "linux/arm64")]
    #[case("armv7l", "linux/arm/v7")]
    #[case("armv6l", "linux/arm/v6")]
    #[case("i686", "linux/386")]
    #[case("ppc64le", "linux/ppc64le")]
    #[case("s390x", "linux/s390x")]
    #[case("riscv64", "linux/riscv64")]
    fn maps_machines_to_platforms(#[case] machine: &str, #[case] platform: &str) {
        let from_machine = Platform::from_machine(machine).unwrap();
        assert_eq!(from_machine.to_string(), platform);
        assert!(from_machine.matches_machine(machine));
        let parsed: Platform = platform.parse().unwrap();
        assert_eq!(parsed.machine(), Some(machine));
    }

    #[rstest]
    #[case("linux/amd64", "aarch64", false)]
    #[case("linux/arm64", "x86_64", false)]
    #[case("linux/arm/v7", "armv6l", false)]
    #[case("linux/amd64/v3", "x86_64", true)]
    #[case("linux/arm64", "mystery", false)]
    fn machine_matching(#[case] platform: &str, #[case] machine: &str, #[case] matches: bool) {
        let platform: Platform = platform.parse().unwrap();
        assert_eq!(platform.matches_machine(machine), matches);
    }

    #[test]
    fn platform_lists_refuse_duplicates_after_normalising() {
        let list = parse_platform_list("linux/amd64,linux/arm64").unwrap();
        assert_eq!(list, vec![Platform::linux_amd64(), Platform::linux_arm64()]);
        let err = parse_platform_list("linux/arm64,linux/arm64/v8").unwrap_err();
        assert_eq!(err.to_string(), "`linux/arm64` is named twice");
        let err = parse_platform_list("linux/amd64,").unwrap_err();
        assert_eq!(err.to_string(), "the platform is empty");
    }

    #[test]
    fn the_arch_answer_keeps_the_fastapi_key_first() {
        let answer = ArchAnswer {
            architecture: "aarch64".into(),
            os: "linux".into(),
            platform: Some("linux/arm64".into()),
            compiled_for: "aarch64".into(),
            kernel: Some("linux/arm64".into()),
            differs_from_kernel: false,
            emulated: Emulated::CannotTell,
            emulation_evidence: String::new(),
        };
        let json = serde_json::to_string(&answer).unwrap();
        assert!(json.starts_with(r#"{"architecture":"aarch64""#), "{json}");
    }
}
