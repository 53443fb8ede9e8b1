//! What this machine can do for multi-architecture images, and a one-line fix for each
//! problem: the engine, its image store, buildx, QEMU emulators, and the registry.

use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use serde::Serialize;

/// How a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Works.
    Ok,
    /// Works, with a caveat.
    Warn,
    /// Does not work; the fix says what to do.
    Problem,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was checked: `engine`, `native`, `image store`, `buildx`, `emulation`, `registry`.
    pub area: &'static str,
    /// How it stands.
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// What to do about it.
    pub fix: Option<String>,
}

fn finding(
    area: &'static str,
    level: Level,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Finding {
    Finding {
        area,
        level,
        detail: detail.into(),
        fix: fix.map(String::from),
    }
}

/// An `Ok` finding saying `passed` when `ok`, else a problem saying `failed`, with its fix.
fn verdict(area: &'static str, ok: bool, passed: String, failed: String, fix: &str) -> Finding {
    if ok {
        finding(area, Level::Ok, passed, None)
    } else {
        finding(area, Level::Problem, failed, Some(fix))
    }
}

/// The first Docker release whose BuildKit (0.20) no longer crashes the engine when two
/// platforms marshal a shared step at once (moby/buildkit#5570, fixed in BuildKit 0.19).
const SAFE_DOCKER_MAJOR: u32 = 28;

/// An engine older than [`SAFE_DOCKER_MAJOR`] works, but a multi-platform build can take it
/// down; say so once, with the way out. A version that does not parse is left alone.
fn engine_version_finding(version: &str, detail: String) -> Finding {
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(major) if major < SAFE_DOCKER_MAJOR => finding(
            "engine",
            Level::Warn,
            format!(
                "{detail}: its BuildKit can crash the engine in multi-platform builds (moby/buildkit#5570)"
            ),
            Some("upgrade to Docker 28 or newer; on Debian: `sudo scripts/testbed.sh up`"),
        ),
        _ => finding("engine", Level::Ok, detail, None),
    }
}

/// Checks the engine (when reachable) and the emulators.
pub async fn check_engine(docker: Option<&Docker>, connect_error: Option<String>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(docker) = docker else {
        findings.push(finding(
            "engine",
            Level::Problem,
            format!("not reachable: {}", connect_error.unwrap_or_default()),
            Some("start Docker; on a fresh Debian machine: `sudo scripts/testbed.sh up`"),
        ));
        return findings;
    };
    match docker.version().await {
        Ok(version) => {
            let number = version.version.unwrap_or_default();
            let arch = version.arch.unwrap_or_default();
            let detail = format!(
                "Docker {number} (API {}), {}/{arch}",
                version.api_version.unwrap_or_default(),
                version.os.unwrap_or_default(),
            );
            findings.push(engine_version_finding(&number, detail));
            for platform in crate::engine::host::runs_natively_beside(&arch) {
                findings.push(finding(
                    "native",
                    Level::Ok,
                    format!("{platform}: run by this {arch} kernel itself, no QEMU needed"),
                    None,
                ));
            }
        }
        Err(e) => findings.push(finding("engine", Level::Problem, e.to_string(), None)),
    }
    if let Ok(info) = docker.info().await {
        findings.extend(check_setup(&info));
        let containerd_store = crate::engine::uses_containerd_store(&info);
        findings.push(if containerd_store {
            finding("image store", Level::Ok, "containerd image store: multi-platform images can be stored and pushed", None)
        } else {
            finding(
                "image store",
                Level::Problem,
                format!(
                    "classic store (`{}`): the engine keeps one platform per tag, so the built-in builder cannot build and push multi-platform images",
                    info.driver.unwrap_or_default()
                ),
                Some(r#"add {"features":{"containerd-snapshotter":true}} to /etc/docker/daemon.json and restart dockerd (Docker Desktop: Settings > General > "Use containerd for pulling and storing images")"#),
            )
        });
    }
    let buildx = tokio::process::Command::new("docker")
        .args(["buildx", "version"])
        .output()
        .await;
    findings.push(match buildx {
        Ok(output) if output.status.success() => finding(
            "buildx",
            Level::Ok,
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
            None,
        ),
        // `multiarch build` speaks to BuildKit itself; buildx is only for people who
        // want to type the same build by hand.
        _ => finding(
            "buildx",
            Level::Warn,
            "`docker buildx` is not installed (multiarch builds without it)",
            Some("for `docker buildx` commands, install the plugin (Debian: `apt-get install docker-buildx`)"),
        ),
    });
    let binfmt = Path::new("/proc/sys/fs/binfmt_misc");
    findings.extend(check_persistence(binfmt, Path::new("/")));
    let found = crate::engine::host::emulators(binfmt);
    if found.is_empty() {
        findings.push(finding(
            "emulation",
            Level::Problem,
            "no QEMU handlers in /proc/sys/fs/binfmt_misc: images of other architectures cannot run here",
            Some("`sudo apt-get install qemu-user-static binfmt-support` (or `docker run --privileged --rm tonistiigi/binfmt --install all`)"),
        ));
    } else {
        for (platform, fix_binary) in found {
            findings.push(verdict(
                "emulation",
                fix_binary,
                format!("{platform}: QEMU, usable inside containers"),
                format!("{platform}: QEMU registered without the F flag, so containers cannot find it"),
                "re-register the handlers with the F flag: `docker run --privileged --rm tonistiigi/binfmt --install all`",
            ));
        }
    }
    findings
}

/// Where the engine runs, from its own `docker info`: Docker Desktop (on Apple Silicon,
/// amd64 runs under Rosetta or QEMU), WSL2, a rootless engine; each with what it means for
/// emulated builds.
fn check_setup(info: &bollard::models::SystemInfo) -> Vec<Finding> {
    let os = info.operating_system.as_deref().unwrap_or_default();
    let kernel = info.kernel_version.as_deref().unwrap_or_default();
    let arch = info.architecture.as_deref().unwrap_or_default();
    let rootless = info
        .security_options
        .iter()
        .flatten()
        .any(|o| o.contains("name=rootless"));
    let mut findings = Vec::new();
    if os.contains("Docker Desktop") {
        findings.push(if matches!(arch, "aarch64" | "arm64") {
            finding(
                "setup",
                Level::Warn,
                "Docker Desktop on Apple Silicon: linux/amd64 runs under Rosetta when Settings > General > \"Use Rosetta for x86_64/amd64 emulation\" is on, else under QEMU; Rosetta is going away after macOS 27, and Desktop's built-in builder crashes on some emulated compilers (docker/for-mac#7884)",
                Some("build with a docker-container builder (`multiarch builder create --driver docker-container`), keep compilers off emulation (`multiarch build` prints which steps ran emulated, and the line to change), and prove amd64 with `multiarch verify --cpu baseline`"),
            )
        } else {
            finding(
                "setup",
                Level::Ok,
                format!("Docker Desktop ({arch}): its VM registers the emulators itself, at every start"),
                None,
            )
        });
    } else if kernel.contains("microsoft-standard-WSL2") || kernel.ends_with("-WSL2") {
        findings.push(finding(
            "setup",
            Level::Warn,
            "an engine inside WSL2: the emulators' registrations belong to WSL's VM, shared by every distro, and go when WSL restarts (`wsl --shutdown`, Windows updates)",
            Some("in the distro that runs dockerd: `apt-get install qemu-user-static binfmt-support` and systemd on (`[boot] systemd=true` in /etc/wsl.conf), so they are registered at each start"),
        ));
    }
    if rootless {
        findings.push(finding(
            "setup",
            Level::Warn,
            "a rootless engine: emulators are registered for the whole machine, which only root can do, and builders run inside your user namespace",
            Some("ask the machine's administrator for `apt-get install qemu-user-static binfmt-support`; `multiarch doctor` then lists them"),
        ));
    }
    findings
}

/// Whether the QEMU handlers registered now come back after a reboot: one registered by
/// `docker run --privileged tonistiigi/binfmt` (or by hand) is lost, and emulated builds
/// fail after the next restart (elastic/elasticsearch#155826).
fn check_persistence(binfmt: &Path, root: &Path) -> Vec<Finding> {
    let now = crate::engine::host::registered_emulators(binfmt);
    if now.is_empty() {
        return Vec::new();
    }
    let at_boot = crate::engine::host::registered_at_boot(root);
    let lost: Vec<&str> = now
        .iter()
        .copied()
        .filter(|name| !at_boot.contains(*name))
        .collect();
    if lost.is_empty() {
        return vec![finding(
            "emulation",
            Level::Ok,
            format!(
                "{} registered again at boot (binfmt.d or binfmt-support)",
                now.join(", ")
            ),
            None,
        )];
    }
    vec![finding(
        "emulation",
        Level::Warn,
        format!(
            "{} registered now, but nothing registers them at boot: emulated builds fail after the next restart",
            lost.join(", ")
        ),
        Some(
            "`sudo apt-get install qemu-user-static binfmt-support` (Debian and Ubuntu register them at every boot), or a line per handler in /etc/binfmt.d/qemu-ARCH.conf; a `tonistiigi/binfmt` registration must be run again after each reboot",
        ),
    )]
}

/// The `--cpu` profiles this machine's QEMU can stand for: each profile's CPU models,
/// looked up in `qemu-ARCH-static -cpu help`; a model this QEMU lacks is a warning (the
/// profile then fails as "cannot run" instead of passing).
pub fn check_cpu_profiles() -> Vec<Finding> {
    let mut offered: std::collections::HashMap<&str, Option<String>> = Default::default();
    let mut findings = Vec::new();
    for profile in crate::verify::cpu::PROFILES {
        let mut have = Vec::new();
        let mut lack = Vec::new();
        for (architecture, model) in profile.models() {
            let Some(emulator) = crate::verify::cpu::qemu_architecture(architecture) else {
                continue;
            };
            let help = offered
                .entry(emulator)
                .or_insert_with(|| cpu_help(emulator));
            let base = model.split(',').next().unwrap_or(model);
            let listed = help
                .as_deref()
                .is_some_and(|help| help.split_whitespace().any(|word| word == base));
            let entry = format!("{architecture} {base}");
            let list = if listed { &mut have } else { &mut lack };
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
        if have.is_empty() && lack.is_empty() {
            // A machine QEMU models on no platform here (x86-64-v4): `--cpu` says so.
            findings.push(finding(
                "cpu",
                Level::Warn,
                format!(
                    "{}: {}: QEMU cannot model it; verify says so instead of passing",
                    profile.name, profile.machine
                ),
                None,
            ));
        } else if lack.is_empty() {
            findings.push(finding(
                "cpu",
                Level::Ok,
                format!(
                    "{}: {} ({})",
                    profile.name,
                    profile.machine,
                    have.join(", ")
                ),
                None,
            ));
        } else {
            findings.push(finding(
                "cpu",
                Level::Warn,
                format!("{}: this QEMU has no {}", profile.name, lack.join(", ")),
                Some("a newer static QEMU (Debian: qemu-user-static)"),
            ));
        }
    }
    findings
}

/// What `qemu-EMULATOR-static -cpu help` prints, or `None` where it cannot run (QEMU
/// exits 1 after listing, so the listing, not the exit code, tells).
fn cpu_help(emulator: &str) -> Option<String> {
    let output = std::process::Command::new(format!("qemu-{emulator}-static"))
        .args(["-cpu", "help"])
        .output()
        .ok()?;
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    (!listed.trim().is_empty()).then_some(listed)
}

/// How a registry answers, and whether the engine will push to it over plain HTTP.
pub async fn check_registry(docker: Option<&Docker>, registry: &str) -> Vec<Finding> {
    use crate::registry::probe::{PlainHttp, plain_http};
    let mut findings = Vec::new();
    match plain_http(registry, Duration::from_secs(3)).await {
        PlainHttp::Registry(status) => findings.push(finding(
            "registry",
            Level::Ok,
            format!("{registry} answers over plain HTTP ({status})"),
            None,
        )),
        PlainHttp::Other(status) => findings.push(finding(
            "registry",
            Level::Warn,
            format!("{registry} answers HTTP {status} at /v2/: is it a registry?"),
            None,
        )),
        PlainHttp::HttpsServer => findings.push(finding(
            "registry",
            Level::Warn,
            format!("{registry} speaks HTTPS, not plain HTTP"),
            None,
        )),
        PlainHttp::Silent | PlainHttp::Dropped => {
            findings.push(finding(
                "registry",
                Level::Problem,
                format!("{registry} does not answer over plain HTTP"),
                Some("start the local one: `multiarch registry up`"),
            ));
            return findings;
        }
    }
    if let Some(docker) = docker {
        let port = registry.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
        if let Some(remote) = match port {
            Some(port) => crate::local_registry::mirror_on_port(docker, port).await,
            None => None,
        } {
            findings.push(finding(
                "registry",
                Level::Ok,
                format!(
                    "{registry} mirrors {remote}: a pull-through cache (`multiarch registry status` lists what it holds)"
                ),
                None,
            ));
        }
        if let Ok(info) = docker.info().await {
            let insecure = crate::engine::host::engine_treats_as_insecure(
                info.registry_config.as_ref(),
                registry,
            );
            findings.push(verdict(
                "registry",
                insecure,
                format!("the engine pushes to {registry} over HTTP"),
                format!("the engine will try HTTPS for {registry}, which answers plain HTTP"),
                &format!(
                    r#"add "insecure-registries": ["{registry}"] to /etc/docker/daemon.json, and `[registry."{registry}"] http = true` to buildkitd.toml"#
                ),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {

    /// `docker info` as each setup answers it, the fields the check reads (Docker's
    /// names): Docker Desktop on Apple Silicon and on Intel, WSL2, rootless, plain Linux.
    #[rstest::rstest]
    #[case::desktop_on_apple_silicon(r#"{"OperatingSystem":"Docker Desktop","KernelVersion":"6.10.14-linuxkit","Architecture":"aarch64"}"#, &[(Level::Warn, "Rosetta")])]
    #[case::desktop_on_intel(r#"{"OperatingSystem":"Docker Desktop","KernelVersion":"6.10.14-linuxkit","Architecture":"x86_64"}"#, &[(Level::Ok, "Docker Desktop (x86_64)")])]
    #[case::desktop_on_wsl2(r#"{"OperatingSystem":"Docker Desktop","KernelVersion":"5.15.153.1-microsoft-standard-WSL2","Architecture":"x86_64"}"#, &[(Level::Ok, "Docker Desktop")])]
    #[case::engine_in_wsl2(r#"{"OperatingSystem":"Ubuntu 24.04.1 LTS","KernelVersion":"5.15.153.1-microsoft-standard-WSL2","Architecture":"x86_64"}"#, &[(Level::Warn, "inside WSL2")])]
    #[case::rootless(r#"{"OperatingSystem":"Debian GNU/Linux 13 (trixie)","KernelVersion":"6.12.48+deb13-amd64","Architecture":"x86_64","SecurityOptions":["name=seccomp,profile=builtin","name=rootless","name=cgroupns"]}"#, &[(Level::Warn, "rootless")])]
    #[case::plain_linux(r#"{"OperatingSystem":"Debian GNU/Linux 13 (trixie)","KernelVersion":"6.12.48+deb13-amd64","Architecture":"x86_64","SecurityOptions":["name=seccomp,profile=builtin","name=cgroupns"]}"#, &[])]
    fn each_setup_is_named_with_what_it_means_for_emulation(
        #[case] info: &str,
        #[case] expected: &[(Level, &str)],
    ) {
        let info: bollard::models::SystemInfo = serde_json::from_str(info).unwrap();
        let findings = check_setup(&info);
        assert_eq!(findings.len(), expected.len(), "{findings:?}");
        for (finding, (level, says)) in findings.iter().zip(expected) {
            assert_eq!(finding.level, *level, "{finding:?}");
            assert!(finding.detail.contains(says), "{finding:?}");
        }
    }

    #[test]
    fn qemu_registrations_that_do_not_come_back_at_boot_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let binfmt = dir.path().join("binfmt_misc");
        std::fs::create_dir_all(&binfmt).unwrap();
        for name in ["qemu-aarch64", "qemu-arm", "qemu-riscv64"] {
            std::fs::write(
                binfmt.join(name),
                "enabled\ninterpreter /usr/bin/qemu-static\nflags: F\n",
            )
            .unwrap();
        }
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/lib/binfmt.d")).unwrap();
        std::fs::write(
            root.join("usr/lib/binfmt.d/qemu-aarch64.conf"),
            "# comment\n:qemu-aarch64:M::\\x7fELF:\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:FPC\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("var/lib/binfmts")).unwrap();
        std::fs::write(root.join("var/lib/binfmts/qemu-arm"), "qemu-user-static\n").unwrap();
        let [warning] = &check_persistence(&binfmt, &root)[..] else {
            panic!("one finding");
        };
        assert_eq!(warning.level, Level::Warn);
        assert!(
            warning
                .detail
                .starts_with("qemu-riscv64 registered now, but nothing registers them at boot"),
            "{}",
            warning.detail
        );
        std::fs::write(
            root.join("usr/lib/binfmt.d/qemu-riscv64.conf"),
            ":qemu-riscv64:M::x:y:/q:F\n",
        )
        .unwrap();
        let [fine] = &check_persistence(&binfmt, &root)[..] else {
            panic!("one finding");
        };
        assert_eq!(fine.level, Level::Ok, "{}", fine.detail);
    }

    /// This machine's own registrations come from Debian's packages (scripts/testbed.sh),
    /// whose binfmt.d files bring them back at boot.
    #[test]
    fn this_machines_debian_registrations_come_back_at_boot() {
        let binfmt = Path::new("/proc/sys/fs/binfmt_misc");
        if crate::engine::host::registered_emulators(binfmt).is_empty() {
            // The test bed registers them; outside CI, a machine without it has nothing to check.
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs on the test bed, which registers QEMU"
            );
            return;
        }
        let findings = check_persistence(binfmt, Path::new("/"));
        assert!(
            findings.iter().all(|f| f.level == Level::Ok),
            "{findings:?}"
        );
    }
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("26.1.5+dfsg1", Level::Warn)]
    #[case("27.5.1", Level::Warn)]
    #[case("28.5.2+dfsg4", Level::Ok)]
    #[case("29.0.0", Level::Ok)]
    #[case("master-dockerproject-2026-01-01", Level::Ok)]
    fn old_engines_are_warned_about(#[case] version: &str, #[case] level: Level) {
        let found = engine_version_finding(version, format!("Docker {version}"));
        assert_eq!(found.level, level);
        assert_eq!(found.fix.is_some(), level == Level::Warn);
        if level == Level::Warn {
            assert!(
                found.detail.contains("moby/buildkit#5570"),
                "{}",
                found.detail
            );
        }
    }
}
