//! The kit with Docker alone (issue #24): the CLI as a multi-platform image compiled by
//! the Dockerfile's own compile stage, proven on every platform, and `multi-arch.sh` run
//! to its end by a PATH that holds neither cargo nor multiarch, its image compiled by the
//! same stage.

use std::path::Path;
use std::process::Command;

use crate::common;

/// What the test bed stands in for `debian:trixie-slim` with (scripts/debian-image.sh).
const STAND_IN_BASE: &str = "multiarch-testbed/debian:trixie-slim";

/// The build arguments that give the compile stage its base, and, on a machine whose
/// traffic passes a TLS-intercepting proxy (this one), that proxy's certificates for
/// cargo's downloads: a user behind a company proxy passes the same folder.
fn compile_stage_args(base: &str) -> Vec<String> {
    let mut args = vec!["--build-arg".to_string(), format!("BUILD_IMAGE={base}")];
    if Path::new(PROXY_CERTIFICATES).is_dir() {
        args.push("--build-context".into());
        args.push(format!("extra-certificates={PROXY_CERTIFICATES}"));
    }
    args
}

const PROXY_CERTIFICATES: &str = "/usr/local/share/ca-certificates";

/// Builds the CLI image through the Dockerfile with the engine's own builder (whose
/// BuildKit sees the stand-in base in the engine's store).
fn build_cli_image(tag: &str, platforms: &str, output: &str) -> (i32, String, String) {
    let mut args = vec![
        "build",
        "--builder",
        "default",
        "--target",
        "cli",
        "--build-arg",
        "PACKAGE=multiarch",
        "--platform",
        platforms,
        "--tag",
        tag,
        output,
        "--plain",
    ];
    let extra = compile_stage_args(STAND_IN_BASE);
    args.extend(extra.iter().map(String::as_str));
    let root = common::repo_root();
    args.push(root.to_str().unwrap());
    common::multiarch(&args)
}

#[tokio::test]
#[ignore = "needs Docker: run with --include-ignored (scripts/test.sh does)"]
async fn the_cli_image_is_compiled_for_three_platforms_and_runs_on_each() {
    let mut bed = common::testbed().await;
    let registry = bed.start_registry().await;
    let image = format!("{registry}/multiarch:{}", bed.run_id);

    let (code, stdout, stderr) =
        build_cli_image(&image, "linux/amd64,linux/arm64,linux/arm/v7", "--push");
    assert_eq!(code, 0, "the CLI image did not build:\n{stdout}\n{stderr}");

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
    for entry in report["manifests"].as_array().unwrap() {
        let size = entry["layers_size"].as_u64().unwrap();
        assert!(
            size < 64 << 20,
            "the CLI image is the binary and the certificates: {size} bytes for {}",
            entry["platform"]
        );
    }
}

/// A folder of links to the programs `multi-arch.sh` runs, and nothing else: no cargo,
/// no multiarch.
fn docker_only_path(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for program in [
        "bash", "docker", "curl", "id", "stat", "mkdir", "dirname", "tr", "cut", "sort", "sed",
        "seq", "sleep", "cat",
    ] {
        let found = which(program).unwrap_or_else(|| panic!("`{program}` is not on PATH"));
        std::os::unix::fs::symlink(found, bin.join(program)).unwrap();
    }
    bin.display().to_string()
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

#[tokio::test]
#[ignore = "needs Docker: run with --include-ignored (scripts/test.sh does)"]
async fn multi_arch_sh_runs_to_its_end_with_docker_alone() {
    let mut bed = common::testbed().await;
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // The CLI image for this machine, from the compile stage (the same steps as the test
    // above, so BuildKit's cache serves them).
    let cli = format!("multiarch-test/cli:{}", bed.run_id);
    bed.track_image(&cli);
    let (code, stdout, stderr) = build_cli_image(&cli, "linux/amd64", "--load");
    assert_eq!(code, 0, "the CLI image did not build:\n{stdout}\n{stderr}");

    // The registry the demo uses, from a compose file of this run's own; started first,
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

    let builder = format!("multiarch-test-alone-{}", bed.run_id);
    bed.track_builder(&builder);
    let path = docker_only_path(scratch.path());
    let mut script = Command::new(common::repo_root().join("multi-arch.sh"));
    script
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env("REGISTRY", &registry)
        .env("REGISTRY_FILE", compose)
        .env("IMAGE", format!("{registry}/arch-server:{}", bed.run_id))
        .env("PLATFORMS", "linux/amd64,linux/arm64")
        .env("MULTIARCH_IMAGE", &cli)
        .env("BUILD_IMAGE", &base)
        .env("BUILDER", &builder);
    if Path::new(PROXY_CERTIFICATES).is_dir() {
        script.env("EXTRA_CERTIFICATES", PROXY_CERTIFICATES);
    }
    let output = script.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // What the builder made lives in the scratch HOME's stores; remove it before asserting.
    let _ = Command::new("docker")
        .args(["rm", "-f", "-v", &format!("buildx_buildkit_{builder}0")])
        .output();
    assert!(
        output.status.success(),
        "multi-arch.sh failed with Docker alone:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("multiarch: neither installed nor cargo here, so the CLI image"),
        "the script says which multiarch it runs:\n{stderr}"
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
