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
        PlainHttp::Silent => {
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
