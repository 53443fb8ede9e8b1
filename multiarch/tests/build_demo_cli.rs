//! `multiarch builder`, `build` and `demo` on the real test bed (issue #5).

use crate::common;
use crate::common::engine_test;

#[engine_test]
async fn builders_build_and_the_demo_run_end_to_end() {
    let mut bed = common::testbed().await;
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_string();
    let env = [("MULTIARCH_STATE_DIR", state_dir.as_str())];
    let run = |args: &[&str]| common::multiarch_with(args, &env);

    // builder create is idempotent; ls and inspect show it; a second driver conflicts.
    let (code, _, stderr) = run(&["builder", "create"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("created builder `multiarch-builder` (docker driver)"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["builder", "create"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, stdout, _) = run(&["builder", "ls"]);
    assert_eq!(code, 0);
    let row = stdout.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("multiarch-builder") && row.contains("docker") && row.contains("running"),
        "{stdout}"
    );
    assert!(
        row.contains("linux/amd64") && row.contains("linux/arm64"),
        "{row}"
    );
    // The kernel runs 386 itself and qemu-arm runs ARMv6 code too: both are offered.
    assert!(
        row.contains("linux/386") && row.contains("linux/arm/v6"),
        "{row}"
    );
    let (code, _, stderr) = run(&["builder", "create", "--driver", "docker-container"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("already exists with the `docker` driver"),
        "{stderr}"
    );

    // docker-container without a BuildKit image: a clear error, nothing left behind.
    // (A registry on a closed loopback port: the pull fails here, never off the machine.)
    let port = common::free_port();
    let (code, _, stderr) = run(&[
        "builder",
        "create",
        "--name",
        "bk",
        "--driver",
        "docker-container",
        "--image",
        &format!("localhost:{port}/moby/buildkit:none"),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is not available"), "{stderr}");
    assert!(stderr.contains("`--driver docker`"), "{stderr}");
    let left = bed.run(
        "docker",
        &["ps", "-aq", "--filter", "name=multiarch-buildkit-bk"],
    );
    assert!(left.trim().is_empty(), "no builder container left: {left}");
    let (_, stdout, _) = run(&["builder", "ls"]);
    assert!(
        !stdout.contains("bk "),
        "a failed create is not remembered: {stdout}"
    );

    // A registry the builder would reach over HTTPS though it answers HTTP: refused first.
    let registry = common::shared_registry().await;

    // doctor, on the test bed with that registry: nothing to fix, and it names how each
    // of the seven platforms runs here.
    let (code, stdout, stderr) = run(&["doctor", "--registry", &registry]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for line in [
        "linux/386: run by this amd64 kernel itself, no QEMU needed",
        "linux/arm/v6: QEMU, usable inside containers",
        "linux/arm/v7: QEMU, usable inside containers",
        "linux/arm64: QEMU, usable inside containers",
        "linux/ppc64le: QEMU, usable inside containers",
        "linux/s390x: QEMU, usable inside containers",
    ] {
        assert!(stdout.contains(line), "{line}\nin:\n{stdout}");
    }
    let registry_port = registry.rsplit_once(':').unwrap().1.to_string();
    let remote_looking = format!("0.0.0.0:{registry_port}");
    let buildkitd = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        buildkitd.path(),
        "[registry.\"localhost:5000\"]\n  http = true\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&[
        "builder",
        "create",
        "--name",
        "strict",
        "--driver",
        "docker-container",
        "--config",
        buildkitd.path().to_str().unwrap(),
        "--registry",
        &remote_looking,
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("cannot push to `{remote_looking}`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("[registry.\"{remote_looking}\"]\n  http = true")),
        "the lines to add: {stderr}"
    );
    // The host-built binaries, for every build below (checked before anything runs).
    common::dist(&["amd64", "arm64"]).await;
    let (code, _, stderr) = run(&[
        "build",
        "-t",
        &format!("{remote_looking}/x:1"),
        "--build-context",
        "build=dist",
        "--push",
        ".",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("insecure-registries"), "{stderr}");

    // build --push with host binaries ends with the index table; verify passes.
    let image = format!("{registry}/built:{}", bed.run_id);
    bed.track_image(&image);
    let (code, stdout, stderr) = run(&[
        "build",
        "-t",
        &image,
        "--build-context",
        "build=dist",
        "--push",
        "--plain",
        ".",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("pushed"), "{stderr}");
    assert!(
        stdout.contains("linux/amd64") && stdout.contains("linux/arm64"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // A failing Dockerfile step shows BuildKit's own message, not a dump.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("Dockerfile"),
        "FROM scratch\nCOPY missing-file /x\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&[
        "build",
        "-t",
        &format!("{registry}/broken:1"),
        "--platform",
        "linux/amd64",
        "--plain",
        broken.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("missing-file") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(stderr.contains("error: the build of"), "{stderr}");

    // The demo, start to end, on a registry of this run's own.
    let (code, stdout, stderr) = common::run_demo(&mut bed, None);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for step in 1..=8 {
        assert!(
            stderr.contains(&format!("==> [{step}/8]")),
            "step {step}: {stderr}"
        );
    }
    assert!(
        stdout.contains("linux/amd64    GET /arch -> {\"architecture\": \"x86_64\"}   (native)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "linux/arm64    GET /arch -> {\"architecture\": \"aarch64\"}   (emulated by QEMU)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("linux/arm64  PASS"), "{stdout}");
    // The card's builder (issues #14, #23): the test bed has a BuildKit image, so the
    // demo builds in a buildx builder, a BuildKit container configured by buildkitd.toml
    // (`common::run_demo` checks that `docker buildx ls` lists it).
    assert!(
        stderr.contains(
            "builder create (a buildx builder: a BuildKit container configured by buildkitd.toml)"
        ) && stderr.contains("(docker-container driver")
            && stderr.contains(&format!(
                "container buildx_buildkit_{}0",
                common::demo_builder(&bed)
            )),
        "{stderr}"
    );
    bed.assert_no_containers("label=io.github.multiarch.purpose=demo", &stdout);
    // bed's drop removes this run's registry, its volume and images.
}
