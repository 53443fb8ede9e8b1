//! What the host and its engine can do, read without changing anything: the QEMU
//! emulators registered with binfmt_misc, and which registries the engine speaks
//! plain HTTP to. `build` and `doctor` both ask; neither owns the answer.

use std::net::IpAddr;
use std::path::Path;

use multiarch_platform::Platform;

/// QEMU handlers by their binfmt_misc name, and the platforms each one runs: `qemu-arm`
/// runs ARMv7 and ARMv6 code alike (verify picks the ARMv6 core for `arm/v6`).
const EMULATORS: &[(&str, &[&str])] = &[
    ("qemu-aarch64", &["linux/arm64"]),
    ("qemu-arm", &["linux/arm/v7", "linux/arm/v6"]),
    ("qemu-x86_64", &["linux/amd64"]),
    ("qemu-i386", &["linux/386"]),
    ("qemu-ppc64le", &["linux/ppc64le"]),
    ("qemu-s390x", &["linux/s390x"]),
    ("qemu-riscv64", &["linux/riscv64"]),
    ("qemu-mips64el", &["linux/mips64le"]),
];

/// The QEMU handler that runs `platform`'s code (`qemu-aarch64` for `linux/arm64`).
pub(crate) fn emulator_for(platform: &Platform) -> Option<&'static str> {
    let wanted = format!("{}/{}", platform.os(), platform.architecture());
    let whole = platform.to_string();
    EMULATORS
        .iter()
        .find(|(_, platforms)| platforms.iter().any(|p| *p == whole || *p == wanted))
        .map(|(name, _)| *name)
}

/// Reads the registered emulators from a binfmt_misc directory: (platform, has the F flag),
/// a platform for each one a handler runs.
pub fn emulators(binfmt_dir: &Path) -> Vec<(&'static str, bool)> {
    EMULATORS
        .iter()
        .filter_map(|(name, platforms)| {
            let text = std::fs::read_to_string(binfmt_dir.join(name)).ok()?;
            let (_, flags) = enabled_handler(&text)?;
            let fix_binary = flags.contains('F');
            Some(platforms.iter().map(move |p| (*p, fix_binary)))
        })
        .flatten()
        .collect()
}

/// The QEMU handlers registered with binfmt_misc now (`qemu-aarch64`, ...), enabled.
pub(crate) fn registered_emulators(binfmt_dir: &Path) -> Vec<&'static str> {
    EMULATORS
        .iter()
        .filter(|(name, _)| {
            std::fs::read_to_string(binfmt_dir.join(name))
                .is_ok_and(|text| enabled_handler(&text).is_some())
        })
        .map(|(name, _)| *name)
        .collect()
}

/// The binfmt_misc handlers something registers again at boot, under `root` (`/`):
/// systemd-binfmt's `binfmt.d` files (`:NAME:M::...`), and binfmt-support's store
/// (`/var/lib/binfmts/NAME`), which Debian's qemu-user-static and binfmt-support fill. A
/// handler registered by hand, or by `docker run --privileged tonistiigi/binfmt`, is in
/// neither and is gone after a reboot.
pub(crate) fn registered_at_boot(root: &Path) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for dir in [
        "etc/binfmt.d",
        "run/binfmt.d",
        "usr/local/lib/binfmt.d",
        "usr/lib/binfmt.d",
        "lib/binfmt.d",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines().map(str::trim) {
                // `:name:type:offset:magic:mask:interpreter:flags`, any first character
                // being the separator.
                let mut chars = line.chars();
                let Some(separator) = chars.next().filter(|c| !c.is_alphanumeric() && *c != '#')
                else {
                    continue;
                };
                if let Some(name) = chars
                    .as_str()
                    .split(separator)
                    .next()
                    .filter(|n| !n.is_empty())
                {
                    names.insert(name.to_string());
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("var/lib/binfmts")) {
        names.extend(
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned()),
        );
    }
    names
}

/// Whether the engine [`crate::engine::connect`] reaches runs on this machine (no
/// `DOCKER_HOST`, or a unix socket), so that this machine's binfmt_misc is its own.
pub(crate) fn engine_on_this_machine() -> bool {
    super::endpoint::docker_host().is_none_or(|host| host.starts_with("unix://"))
}

/// An enabled binfmt_misc handler's interpreter and flags, from its file's text.
fn enabled_handler(text: &str) -> Option<(&str, &str)> {
    if text.lines().next() != Some("enabled") {
        return None;
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_default()
            .trim()
    };
    Some((field("interpreter "), field("flags: ")))
}

/// The program binfmt_misc hands `emulator`'s code to (`qemu-aarch64`), with its
/// symbolic links resolved, and the handler's flags (`PF`); `None` when none is enabled.
pub(crate) fn binfmt_handler(
    binfmt_dir: &Path,
    emulator: &str,
) -> Option<(std::path::PathBuf, String)> {
    let text = std::fs::read_to_string(binfmt_dir.join(format!("qemu-{emulator}"))).ok()?;
    let (interpreter, flags) = enabled_handler(&text)?;
    if interpreter.is_empty() {
        return None;
    }
    let resolved = std::fs::canonicalize(interpreter).unwrap_or_else(|_| interpreter.into());
    Some((resolved, flags.to_string()))
}

/// What a QEMU program says of its version: `7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`.
pub(crate) fn qemu_version(program: &Path) -> Option<String> {
    let output = std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()?;
    let first = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()?
        .to_string();
    // `qemu-aarch64 version 7.2.22 (Debian ...)`
    first
        .split_once(" version ")
        .map(|(_, version)| version.trim().to_string())
}

/// Platforms an engine of `architecture` runs itself beside its own, with no emulator: a
/// 64-bit x86 kernel runs 32-bit x86 programs (`linux/386`), whose `uname -m` then says
/// `x86_64`.
pub(crate) fn runs_natively_beside(architecture: &str) -> &'static [&'static str] {
    match architecture {
        "amd64" => &["linux/386"],
        _ => &[],
    }
}

/// Whether an engine of platform `engine` runs `platform`'s code without QEMU: its own
/// architecture (the CPU's levels, `amd64/v3`, included) or one its kernel runs beside it.
pub(crate) fn runs_natively(engine: &Platform, platform: &Platform) -> bool {
    engine.architecture() == platform.architecture()
        || runs_natively_beside(engine.architecture()).contains(&platform.to_string().as_str())
}

/// Docker treats loopback registries and those in `insecure-registries` as plain HTTP.
pub(crate) fn engine_treats_as_insecure(
    config: Option<&bollard::models::RegistryServiceConfig>,
    registry: &str,
) -> bool {
    if crate::oci::reference::is_local(registry) {
        return true;
    }
    let Some(config) = config else {
        return false;
    };
    if let Some(index) = config.index_configs.as_ref().and_then(|i| i.get(registry)) {
        if index.secure == Some(false) {
            return true;
        }
    }
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    let Ok(ip) = host.parse::<IpAddr>() else {
        return false;
    };
    config
        .insecure_registry_cidrs
        .as_ref()
        .is_some_and(|cidrs| cidrs.iter().any(|cidr| cidr_contains(cidr, ip)))
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((network, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(network), Ok(bits)) = (network.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn emulators_are_read_with_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("qemu-aarch64"),
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("qemu-arm"),
            "enabled\ninterpreter x\nflags: OC\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("qemu-s390x"), "disabled\nflags: F\n").unwrap();
        assert_eq!(
            emulators(dir.path()),
            vec![
                ("linux/arm64", true),
                ("linux/arm/v7", false),
                ("linux/arm/v6", false)
            ]
        );
    }

    #[rstest]
    #[case("linux/amd64", "linux/amd64", true)]
    #[case("linux/amd64", "linux/amd64/v3", true)]
    #[case("linux/amd64", "linux/386", true)]
    #[case("linux/amd64", "linux/arm64", false)]
    #[case("linux/arm64", "linux/arm64", true)]
    #[case("linux/arm64", "linux/arm/v7", false)]
    #[case("linux/arm64", "linux/386", false)]
    fn what_runs_without_qemu(#[case] engine: &str, #[case] platform: &str, #[case] native: bool) {
        let (engine, platform) = (engine.parse().unwrap(), platform.parse().unwrap());
        assert_eq!(runs_natively(&engine, &platform), native);
    }

    #[rstest]
    #[case("10.0.0.0/8", "10.1.2.3", true)]
    #[case("10.0.0.0/8", "11.1.2.3", false)]
    #[case("192.168.1.0/24", "192.168.1.200", true)]
    #[case("::1/128", "::1", true)]
    #[case("bad", "10.0.0.1", false)]
    fn cidrs(#[case] cidr: &str, #[case] ip: &str, #[case] inside: bool) {
        assert_eq!(cidr_contains(cidr, ip.parse().unwrap()), inside);
    }

    #[test]
    fn insecure_registries_as_docker_sees_them() {
        let config = bollard::models::RegistryServiceConfig {
            insecure_registry_cidrs: Some(vec!["10.0.0.0/8".into()]),
            index_configs: Some(
                [(
                    "host.docker.internal:5000".to_string(),
                    bollard::models::IndexInfo {
                        secure: Some(false),
                        ..Default::default()
                    },
                )]
                .into(),
            ),
            ..Default::default()
        };
        assert!(engine_treats_as_insecure(Some(&config), "localhost:5000"));
        assert!(engine_treats_as_insecure(
            Some(&config),
            "host.docker.internal:5000"
        ));
        assert!(engine_treats_as_insecure(Some(&config), "10.2.3.4:5000"));
        assert!(!engine_treats_as_insecure(
            Some(&config),
            "registry.example.com"
        ));
        assert!(!engine_treats_as_insecure(None, "192.168.1.5:5000"));
    }
}
