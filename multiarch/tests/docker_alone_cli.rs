//! The kit with Docker alone (issue #24): the CLI as a multi-platform image compiled by
//! the Dockerfile's own compile stage, proven on every platform, and `multi-arch.sh` run
//! to its end by a PATH that holds neither cargo nor multiarch, its image compiled by the
//! same stage.

use crate::common::engine_test;
use std::path::Path;
use std::process::Command;

use crate::common;
use crate::common::fixtures::{PROXY_CERTIFICATES, STAND_IN_BASE};

#[engine_test]
async fn the_cli_image_is_compiled_for_three_platforms_and_runs_on_each() {
    // Compiled once per run by `docker buildx build --target cli` (the shared fixture).
    let _bed = common::testbed().await;
    let image = common::cli_image().await;

    // `multiarch --version` (the entrypoint, then `--version`) runs on each platform,
    // under QEMU where it is not this CPU.
    let (code, stdout, stderr) = common::multiarch(&["verify", "--exec=--version", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for platform in ["linux/amd64", "linux/arm64", "linux/arm/v7"] {
        assert!(
            common::row(&stdout, platform).contains("ok"),
            "{platform} did not run `multiarch --version`:\n{stdout}"
        );
    }

    // A static binary and the CA certificates, nothing else.
    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let arm = common::row(&stdout, "linux/arm/v7");
    assert!(
        arm.contains("/usr/local/bin/multiarch: ARM"),
        "the arm/v7 entry holds an ARM program:\n{stdout}"
    );
    let (_, json, _) = common::multiarch(&["inspect", &image, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let images: Vec<&serde_json::Value> = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "image")
        .collect();
    assert_eq!(images.len(), 3, "{json}");
    for entry in images {
        let size = entry["layers_size"].as_u64().unwrap();
        assert!(
            size < 64 << 20,
            "the CLI image is the binary and the certificates: {size} bytes for {}",
            entry["platform"]
        );
    }
}

/// A newcomer's `PATH`: every program of the machine's system folders, but no cargo, no
/// rustc and no multiarch (rustup's live in `~/.cargo/bin`, which is left out; Debian's,
/// which the test bed installs for cross-compiling, are left out by name).
fn newcomer_path(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for system in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(listed) = std::fs::read_dir(system) else {
            continue;
        };
        for entry in listed.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let rust = ["cargo", "rustc", "rustdoc", "rustup", "multiarch"]
                .iter()
                .any(|tool| name.starts_with(tool));
            if !rust && !bin.join(&*name).exists() {
                std::os::unix::fs::symlink(entry.path(), bin.join(&*name)).unwrap();
            }
        }
    }
    bin.display().to_string()
}

#[engine_test]
async fn multi_arch_sh_runs_to_its_end_from_a_fresh_clone_with_docker_alone() {
    // Issue #34: as a workshop attendee meets it. A fresh clone, no CLI image prepared, no
    // MULTIARCH_IMAGE, a PATH with neither cargo nor multiarch: the script finds the
    // published image unreachable, builds the CLI image from the clone's Dockerfile, and
    // runs the demo to its end. What this machine lacks and a laptop has is given as a
    // user behind a proxy would give it: the compile stage's base (no Docker Hub here),
    // and the proxy's certificates for cargo's downloads.
    let mut bed = common::testbed().await;
    // The compile stage of the CLI image runs for real once per run (the shared fixture,
    // built with the flags this script uses): the script's own build below then finds
    // its steps in the engine's BuildKit cache, as a CI system's kept cache would give
    // them, and still runs every command a newcomer's does.
    common::cli_image().await;
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let clone = common::checkout::fresh_clone(scratch.path());

    // The registry the demo uses, from a compose file of this test's own; started first,
    // so the stand-in base can be pushed where the demo's BuildKit container can pull it.
    let port = common::free_port();
    let registry = format!("localhost:{port}");
    let name = format!("multiarch-registry-test-{}", bed.run_id);
    let compose_file = common::registry_file(&bed, port);
    let compose = compose_file.path();
    let (code, _, stderr) =
        common::multiarch(&["registry", "--file", compose.to_str().unwrap(), "up"]);
    assert_eq!(code, 0, "{stderr}");
    bed.track_registry_alias(&registry);
    let base = format!("{registry}/multiarch-testbed/debian:trixie-slim");
    bed.run("docker", &["tag", STAND_IN_BASE, &base]);
    bed.track_image(&base);
    bed.run("docker", &["push", "--quiet", &base]);

    // The builder's BuildKit cache is kept between runs, as a CI system keeps a builder's
    // cache: its state volume, made here before the script's `builder create` finds and
    // uses it, carries the test bed's label, not this run's. The steps run as a
    // newcomer's do; a warm cache spares the apt downloads and the crates' compile of the
    // compile stage that every run repeated.
    let builder = "multiarch-test-newcomer";
    let state = format!("buildx_buildkit_{builder}0_state");
    let cached = Command::new("docker")
        .args(["volume", "inspect", &state])
        .output()
        .unwrap();
    if !cached.status.success() {
        bed.run(
            "docker",
            &[
                "volume",
                "create",
                "--label",
                "io.github.multiarch.testbed=cache of the newcomer test's builder",
                &state,
            ],
        );
    }
    bed.track_container(&format!("buildx_buildkit_{builder}0"));
    let path = newcomer_path(scratch.path());
    let mut script = Command::new(clone.join("multi-arch.sh"));
    script
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env("REGISTRY", &registry)
        .env("REGISTRY_FILE", compose)
        .env("IMAGE", format!("{registry}/arch-server:{}", bed.run_id))
        .env("BUILD_IMAGE", &base)
        .env("BUILDER", builder)
        .current_dir(&clone);
    if Path::new(PROXY_CERTIFICATES).is_dir() {
        script.env("EXTRA_CERTIFICATES", PROXY_CERTIFICATES);
    }
    let output = script.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The CLI image it built, named for the clone's sources, goes with the test.
    let built = stderr
        .lines()
        .find_map(|l| l.strip_prefix("multiarch: the CLI image "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string);
    if let Some(image) = &built {
        bed.track_image(image);
    }
    assert!(
        output.status.success(),
        "multi-arch.sh failed from a fresh clone with Docker alone:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("multiarch: neither installed nor cargo here, so the CLI image")
            && stderr.contains(
                "ghcr.io/multiarch-kit/multiarch:0.1.0 is not published where this machine can reach it"
            ),
        "the script says why it builds the CLI image:\n{stderr}"
    );
    assert!(
        stderr.contains("building the CLI image multiarch-local/multiarch:")
            && stderr.contains("a few minutes the first time"),
        "it says what it builds and about how long it takes:\n{stderr}"
    );
    assert!(
        built.is_some_and(|image| image.starts_with("multiarch-local/multiarch:")),
        "the demo ran through the image it built:\n{stderr}"
    );
    assert!(
        stderr.contains("--build-arg BUILD_IMAGE=") && !stderr.contains("build=dist"),
        "the arch-server image came from the Dockerfile's compile stage, not the host:\n{stderr}"
    );
    for machine in ["x86_64", "aarch64"] {
        assert!(
            stdout.contains(&format!("\"architecture\":\"{machine}\"")),
            "no /arch answer from {machine}:\n{stdout}"
        );
    }
    bed.assert_no_containers(
        &format!(
            "label=io.github.multiarch.managed-by=multiarch,ancestor={registry}/arch-server:{}",
            bed.run_id
        ),
        "after multi-arch.sh",
    );
    let _ = Command::new("docker")
        .args(["rm", "-f", "-v", &name])
        .output();
}
