//! CPU profiles: the machines people deploy to, as the QEMU CPU models that stand for
//! them, so that the running check proves a platform's code on the core it will meet
//! (`verify --cpu pi-4`), or on the oldest one its platform name promises
//! (`--cpu baseline`). Pure data and parsing; `running.rs` does the running.

use multiarch_platform::Platform;

/// How QEMU stands for a machine on one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// A QEMU CPU model (what `-cpu` and `QEMU_CPU` take, features included) and the
    /// instruction set it has, in words.
    Qemu {
        /// `cortex-a72`, `Nehalem`.
        cpu: &'static str,
        /// `ARMv8.0`, `x86-64-v2`.
        isa: &'static str,
    },
    /// QEMU has no model of it; why, and what proves the nearest thing.
    Unmodelled(&'static str),
}

/// A machine people deploy to, and the platforms it runs.
#[derive(Debug)]
pub struct Profile {
    /// What `--cpu` takes.
    pub name: &'static str,
    /// Other names for the same machine.
    pub aliases: &'static [&'static str],
    /// The machine, for a person.
    pub machine: &'static str,
    /// The platforms (by [`slot`]) it runs, with the model that stands for it on each.
    runs: &'static [(&'static str, Model)],
}

const fn qemu(cpu: &'static str, isa: &'static str) -> Model {
    Model::Qemu { cpu, isa }
}

const ARM1176: Model = qemu("arm1176", "ARMv6");
const CORTEX_A7: Model = qemu("cortex-a7", "ARMv7 with VFPv4 and NEON");
const NO_32BIT_ARMV8: Model = Model::Unmodelled(
    "QEMU's 32-bit ARM emulator has no ARMv8 core; `--cpu linux/arm/v7=pi-2` proves ARMv7 code on a Cortex-A7",
);
/// qemu64 without what x86-64-v2 and later add: the level every x86-64 CPU has.
const X86_64_V1: Model = qemu(
    "qemu64,-pni,-cx16,-lahf-lm,-popcnt,-abm,-sse4a",
    "x86-64-v1",
);
const X86_64_V2: Model = qemu("Nehalem", "x86-64-v2");
/// Haswell without the features TCG cannot emulate (it warns about each at start-up).
const X86_64_V3: Model = qemu(
    "Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid",
    "x86-64-v3",
);
const NO_AVX512: Model = Model::Unmodelled(
    "QEMU's TCG emulates no AVX-512, so x86-64-v4 code cannot be proven here; run it on such a CPU",
);

/// Every profile `--cpu` knows.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "pi-zero",
        aliases: &["pi-1"],
        machine: "Raspberry Pi Zero and 1 (ARM1176)",
        runs: &[("arm/v6", ARM1176), ("arm/v5", ARM1176)],
    },
    Profile {
        name: "pi-2",
        aliases: &[],
        machine: "Raspberry Pi 2 (Cortex-A7)",
        runs: &[
            ("arm/v7", CORTEX_A7),
            ("arm/v6", CORTEX_A7),
            ("arm/v5", CORTEX_A7),
        ],
    },
    Profile {
        name: "pi-3",
        aliases: &["pi-zero-2"],
        machine: "Raspberry Pi 3 and Zero 2 (Cortex-A53)",
        runs: &[
            ("arm64", qemu("cortex-a53", "ARMv8.0")),
            ("arm/v7", NO_32BIT_ARMV8),
            ("arm/v6", NO_32BIT_ARMV8),
        ],
    },
    Profile {
        name: "pi-4",
        aliases: &["pi-400"],
        machine: "Raspberry Pi 4 and 400 (Cortex-A72)",
        runs: &[
            ("arm64", qemu("cortex-a72", "ARMv8.0")),
            ("arm/v7", NO_32BIT_ARMV8),
            ("arm/v6", NO_32BIT_ARMV8),
        ],
    },
    Profile {
        name: "pi-5",
        aliases: &[],
        machine: "Raspberry Pi 5 (Cortex-A76)",
        runs: &[
            ("arm64", qemu("cortex-a76", "ARMv8.2")),
            ("arm/v7", NO_32BIT_ARMV8),
            ("arm/v6", NO_32BIT_ARMV8),
        ],
    },
    Profile {
        name: "graviton-2",
        aliases: &[],
        machine: "AWS Graviton 2 (Neoverse N1)",
        runs: &[("arm64", qemu("neoverse-n1", "ARMv8.2"))],
    },
    Profile {
        name: "x86-64-v1",
        aliases: &[],
        machine: "the first x86-64 CPUs (QEMU's qemu64 without SSE3, CX16, LAHF, POPCNT)",
        runs: &[("amd64", X86_64_V1)],
    },
    Profile {
        name: "kvm64",
        aliases: &["proxmox"],
        machine: "Proxmox's and libvirt's default kvm64 CPU",
        runs: &[("amd64", qemu("kvm64", "x86-64 with SSE3 and CX16"))],
    },
    Profile {
        name: "x86-64-v2",
        aliases: &[],
        machine: "Intel Nehalem (2008)",
        runs: &[("amd64", X86_64_V2), ("amd64/v2", X86_64_V2)],
    },
    Profile {
        name: "x86-64-v3",
        aliases: &[],
        machine: "Intel Haswell (2013)",
        runs: &[
            ("amd64", X86_64_V3),
            ("amd64/v2", X86_64_V3),
            ("amd64/v3", X86_64_V3),
        ],
    },
    Profile {
        name: "x86-64-v4",
        aliases: &[],
        machine: "a CPU with AVX-512",
        runs: &[
            ("amd64", NO_AVX512),
            ("amd64/v2", NO_AVX512),
            ("amd64/v3", NO_AVX512),
            ("amd64/v4", NO_AVX512),
        ],
    },
];

/// The oldest CPU `platform`'s name promises, as QEMU models it.
pub fn baseline(platform: &Platform) -> Model {
    match slot(platform).as_str() {
        "amd64" => X86_64_V1,
        "amd64/v2" => X86_64_V2,
        "amd64/v3" => X86_64_V3,
        "amd64/v4" => NO_AVX512,
        // Go (GO386=sse2) and Rust (i686) both build 386 code for SSE2.
        "386" => qemu("qemu32", "i686 with SSE2"),
        "arm64" => qemu("cortex-a53", "ARMv8.0"),
        // The first ARMv7-A core: no VFPv4, no integer divide, which a Cortex-A7 has.
        "arm/v7" => qemu("cortex-a8", "ARMv7"),
        "arm/v6" => ARM1176,
        "arm/v5" => qemu("arm926", "ARMv5TE"),
        // The first little-endian POWER, and the floor of every ppc64le distribution.
        "ppc64le" => qemu("power8", "POWER8"),
        // TCG refuses every named IBM Z model (it lacks their crypto functions), so the
        // floor is QEMU's own model; the README says so.
        "s390x" => qemu("qemu", "z/Architecture"),
        "riscv64" => qemu("rv64", "RV64GC"),
        _ => Model::Unmodelled("no baseline CPU is known for this platform"),
    }
}

/// A platform as profiles name it: `amd64/v2`, `arm/v7`, `arm64`; a variant only where
/// it is a CPU level (an `arm` with none is ARMv7, as containerd reads it).
pub fn slot(platform: &Platform) -> String {
    match (platform.architecture(), platform.variant()) {
        ("amd64", None | Some("v1")) => "amd64".into(),
        ("arm", None) => "arm/v7".into(),
        ("arm64", None | Some("v8")) => "arm64".into(),
        (architecture, Some(variant)) => format!("{architecture}/{variant}"),
        (architecture, None) => architecture.into(),
    }
}

fn architecture_of(slot: &str) -> &str {
    slot.split('/').next().unwrap_or(slot)
}

impl Profile {
    /// The profile `--cpu` names, by name or alias.
    pub fn named(name: &str) -> Option<&'static Profile> {
        PROFILES
            .iter()
            .find(|p| p.name == name || p.aliases.contains(&name))
    }

    /// The model for a platform this machine promises to run.
    pub fn promises(&self, platform: &Platform) -> Option<Model> {
        let slot = slot(platform);
        self.runs
            .iter()
            .find(|(runs, _)| *runs == slot)
            .map(|(_, model)| *model)
    }

    /// The model for `platform` when it is asked for by name: one it promises, else
    /// the machine's model for that architecture (an `arm/v7` image on a Pi Zero: the
    /// run shows that it cannot work).
    fn forced(&self, platform: &Platform) -> Option<Model> {
        self.promises(platform).or_else(|| {
            let architecture = platform.architecture();
            self.runs
                .iter()
                .find(|(runs, _)| architecture_of(runs) == architecture)
                .map(|(_, model)| *model)
        })
    }

    /// The platforms it runs, for a person: `arm64, arm/v7`.
    pub fn platforms(&self) -> String {
        let slots: Vec<&str> = self.runs.iter().map(|(slot, _)| *slot).collect();
        slots.join(", ")
    }

    /// Every QEMU model it names, with its architecture (`aarch64`…), for `doctor`.
    pub(crate) fn models(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.runs.iter().filter_map(|(slot, model)| match model {
            Model::Qemu { cpu, .. } => Some((architecture_of(slot), *cpu)),
            Model::Unmodelled(_) => None,
        })
    }
}

/// A CPU asked for: a named machine, or the oldest each platform promises.
#[derive(Debug, Clone, Copy)]
enum Wanted {
    Profile(&'static Profile),
    Baseline,
}

impl Wanted {
    fn parse(name: &str) -> Result<Self, CpuError> {
        match name {
            "baseline" => Ok(Self::Baseline),
            name => Profile::named(name)
                .map(Self::Profile)
                .ok_or_else(|| CpuError::Unknown(name.into())),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Profile(profile) => profile.name,
            Self::Baseline => "baseline",
        }
    }
}

/// The CPU a platform is proven on: the profile's name and its model there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// `pi-4`, `baseline`.
    pub profile: &'static str,
    /// How QEMU stands for it.
    pub model: Model,
}

/// What `--cpu` asked for: profiles for every platform they run, and profiles for one
/// platform each (`linux/arm64=pi-4`).
#[derive(Debug, Clone, Default)]
pub struct CpuPlan {
    everywhere: Vec<Wanted>,
    per_platform: Vec<(Platform, Wanted)>,
}

/// Why `--cpu` was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CpuError {
    /// No profile of that name.
    #[error("`{0}` is not a CPU profile; `multiarch doctor` lists them")]
    Unknown(String),
    /// The platform of `PLATFORM=PROFILE` does not parse.
    #[error("`{0}`: {1}")]
    BadPlatform(String, String),
    /// A profile asked for a platform whose code its machine cannot run at all.
    #[error(
        "{} ({}) runs no {platform} code: it runs {}",
        profile.name,
        profile.machine,
        profile.platforms()
    )]
    WrongArchitecture {
        /// The profile.
        profile: &'static Profile,
        /// The platform asked for.
        platform: Platform,
    },
    /// A profile named for every platform that runs none of the image's.
    #[error(
        "{} ({}) runs none of the platforms checked; it runs {}",
        profile.name,
        profile.machine,
        profile.platforms()
    )]
    Unused {
        /// The profile.
        profile: &'static Profile,
    },
}

impl CpuPlan {
    /// Reads `--cpu`'s items: `pi-4`, `baseline`, `linux/arm64=graviton-2`.
    ///
    /// # Errors
    /// An unknown profile, a platform that does not parse, or one the profile's machine
    /// cannot run.
    pub fn parse(items: &[String]) -> Result<Self, CpuError> {
        let mut plan = Self::default();
        for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                None => plan.everywhere.push(Wanted::parse(item)?),
                Some((platform, name)) => {
                    let platform: Platform =
                        platform
                            .parse()
                            .map_err(|e: multiarch_platform::PlatformError| {
                                CpuError::BadPlatform(platform.into(), e.to_string())
                            })?;
                    let wanted = Wanted::parse(name)?;
                    if let Wanted::Profile(profile) = wanted {
                        if profile.forced(&platform).is_none() {
                            return Err(CpuError::WrongArchitecture { profile, platform });
                        }
                    }
                    plan.per_platform.push((platform, wanted));
                }
            }
        }
        Ok(plan)
    }

    /// Whether nothing was asked for.
    pub fn is_empty(&self) -> bool {
        self.everywhere.is_empty() && self.per_platform.is_empty()
    }

    /// The CPU `platform` is proven on: its own `PLATFORM=PROFILE`, else the first
    /// profile that runs it, else `baseline`; `None` runs it as without `--cpu`.
    pub(crate) fn for_platform(&self, platform: &Platform) -> Option<Chosen> {
        let chosen = |wanted: Wanted, model| Chosen {
            profile: wanted.label(),
            model,
        };
        if let Some((_, wanted)) = self.per_platform.iter().find(|(p, _)| p == platform) {
            return Some(match *wanted {
                Wanted::Profile(profile) => chosen(*wanted, profile.forced(platform)?),
                Wanted::Baseline => chosen(*wanted, baseline(platform)),
            });
        }
        self.everywhere.iter().find_map(|wanted| match *wanted {
            Wanted::Profile(profile) => profile.promises(platform).map(|m| chosen(*wanted, m)),
            Wanted::Baseline => Some(chosen(*wanted, baseline(platform))),
        })
    }

    /// Refuses a profile named for every platform that runs none of `platforms`: a
    /// `--cpu pi-zero` on an image without ARMv6 would prove nothing and pass.
    ///
    /// # Errors
    /// [`CpuError::Unused`] for the first such profile.
    pub fn check_used(&self, platforms: &[Platform]) -> Result<(), CpuError> {
        for wanted in &self.everywhere {
            if let Wanted::Profile(profile) = wanted {
                if !platforms.iter().any(|p| profile.promises(p).is_some()) {
                    return Err(CpuError::Unused { profile });
                }
            }
        }
        Ok(())
    }
}

/// QEMU's name for an architecture's emulator: `qemu-aarch64` runs `arm64`.
pub(crate) fn qemu_architecture(architecture: &str) -> Option<&'static str> {
    Some(match architecture {
        "amd64" => "x86_64",
        "386" => "i386",
        "arm64" => "aarch64",
        "arm" => "arm",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64le" => "mips64el",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(text: &str) -> Platform {
        text.parse().unwrap()
    }

    fn plan(items: &[&str]) -> CpuPlan {
        CpuPlan::parse(&items.iter().map(|i| i.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn cpu(plan: &CpuPlan, platform_text: &str) -> Option<(&'static str, &'static str)> {
        plan.for_platform(&platform(platform_text))
            .map(|chosen| match chosen.model {
                Model::Qemu { cpu, .. } => (chosen.profile, cpu),
                Model::Unmodelled(_) => (chosen.profile, "unmodelled"),
            })
    }

    #[test]
    fn each_platform_takes_the_first_profile_that_runs_it() {
        let plan = plan(&["pi-4", "x86-64-v2"]);
        assert_eq!(cpu(&plan, "linux/arm64"), Some(("pi-4", "cortex-a72")));
        assert_eq!(cpu(&plan, "linux/amd64"), Some(("x86-64-v2", "Nehalem")));
        // A Pi 4 runs 32-bit code too, but QEMU has no 32-bit ARMv8 core: said, not passed.
        assert_eq!(cpu(&plan, "linux/arm/v7"), Some(("pi-4", "unmodelled")));
        // Nothing named runs these: they run as without `--cpu`.
        assert_eq!(cpu(&plan, "linux/s390x"), None);
        // A v2 machine does not promise to run the v3 slot; containerd would not pick it.
        assert_eq!(cpu(&plan, "linux/amd64/v3"), None);
    }

    #[test]
    fn a_platform_of_its_own_wins_and_may_prove_a_negative() {
        let plan = plan(&["baseline", "linux/arm64=graviton-2", "linux/arm/v7=pi-zero"]);
        assert_eq!(
            cpu(&plan, "linux/arm64"),
            Some(("graviton-2", "neoverse-n1"))
        );
        // ARMv7 code on an ARMv6 core: asked for by name, so it is run (and will fail).
        assert_eq!(cpu(&plan, "linux/arm/v7"), Some(("pi-zero", "arm1176")));
        assert_eq!(cpu(&plan, "linux/ppc64le"), Some(("baseline", "power8")));
    }

    #[test]
    fn baseline_is_the_oldest_cpu_each_name_promises() {
        let plan = plan(&["baseline"]);
        let expected = [
            (
                "linux/amd64",
                "qemu64,-pni,-cx16,-lahf-lm,-popcnt,-abm,-sse4a",
            ),
            ("linux/amd64/v2", "Nehalem"),
            ("linux/386", "qemu32"),
            ("linux/arm64", "cortex-a53"),
            ("linux/arm/v7", "cortex-a8"),
            ("linux/arm", "cortex-a8"),
            ("linux/arm/v6", "arm1176"),
            ("linux/riscv64", "rv64"),
            ("linux/amd64/v4", "unmodelled"),
        ];
        for (platform_text, model) in expected {
            assert_eq!(
                cpu(&plan, platform_text),
                Some(("baseline", model)),
                "{platform_text}"
            );
        }
    }

    #[test]
    fn bad_items_are_refused_with_what_would_work() {
        let parse = |items: &[&str]| {
            CpuPlan::parse(&items.iter().map(|i| i.to_string()).collect::<Vec<_>>())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            parse(&["pi-9"]),
            "`pi-9` is not a CPU profile; `multiarch doctor` lists them"
        );
        assert_eq!(
            parse(&["linux/amd64=pi-4"]),
            "pi-4 (Raspberry Pi 4 and 400 (Cortex-A72)) runs no linux/amd64 code: it runs arm64, arm/v7, arm/v6"
        );
        assert!(parse(&["arm64=pi-4"]).starts_with("`arm64`: "));
    }

    #[test]
    fn a_profile_that_runs_none_of_the_platforms_is_refused() {
        let plan = plan(&["pi-zero"]);
        let err = plan
            .check_used(&[platform("linux/amd64"), platform("linux/arm64")])
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pi-zero (Raspberry Pi Zero and 1 (ARM1176)) runs none"),
            "{err}"
        );
        assert!(plan.check_used(&[platform("linux/arm/v6")]).is_ok());
    }

    #[test]
    fn aliases_name_the_same_machine() {
        assert_eq!(Profile::named("pi-1").unwrap().name, "pi-zero");
        assert_eq!(Profile::named("proxmox").unwrap().name, "kvm64");
    }
}
