//! Issue #14: a `docker-container` builder runs its own BuildKit (a pulled
//! `moby/buildkit`, or the test bed's stand-in built from Debian's sources) with
//! `buildkitd.toml`, builds `RUN` steps for foreign platforms under QEMU, and pushes
//! itself, to a registry only where the config lets it speak plain HTTP. How it lives
//! beside `docker buildx` (issue #23) is `buildx_builders_cli.rs`.

use std::path::Path;

use crate::common;

/// Debian's static busybox per architecture, which `scripts/testbed.sh up` keeps.
const BUSYBOX: &str = "/var/cache/multiarch/busybox";

#[ignore = "needs Docker: `scripts/test.sh` brings the engine up and runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_builder_runs_buildkitd_toml_end_to_end() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    // BuildKit speaks plain HTTP to loopback addresses whatever its config says; the
    // machine's host name reaches the same registry but is not one of them, so only
    // buildkitd.toml can allow it.
    let host = hostname_on_loopback();
    let port = registry.rsplit(':').next().unwrap();
    let remote = format!("{host}:{port}");
    bed.track_registry_alias(&remote);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        common::multiarch_with(args, &[("MULTIARCH_STATE_DIR", state_dir.as_str())])
    };
    let config = state.path().join("buildkitd.toml");
    std::fs::write(
        &config,
        format!("[registry.\"{remote}\"]\n  http = true\n  insecure = true\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    // A config that does not cover the registry: refused before anything is created,
    // with the lines to add.
    let refused = format!("refused-{}", bed.run_id);
    bed.track_builder(&refused);
    let empty = state.path().join("empty.toml");
    std::fs::write(&empty, "# no registries\n").unwrap();
    let (code, _, stderr) = run(&[
        "builder",
        "create",
        "--name",
        &refused,
        "--driver",
        "docker-container",
        "--config",
        empty.to_str().unwrap(),
        "--registry",
        &remote,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("would use HTTPS"), "{stderr}");
    assert!(
        stderr.contains(&format!("[registry.\"{remote}\"]")) && stderr.contains("http = true"),
        "{stderr}"
    );
    bed.assert_no_containers(&format!("name=buildx_buildkit_{refused}0"), &stderr);

    let name = format!("container-{}", bed.run_id);
    bed.track_builder(&name);
    // Every build here: both platforms, through the container builder, pushed by it to
    // the registry under the host name.
    let build_push = |tag: &str, context: &str, extra: &[&str]| {
        let mut args = vec![
            "build",
            "--builder",
            name.as_str(),
            "-t",
            tag,
            "--platform",
            "linux/amd64,linux/arm64",
            "--push",
            "--insecure",
            remote.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(context);
        run(&args)
    };
    // The builder, from the config that covers it (again after `rm`, below).
    let create = || {
        run(&[
            "builder",
            "create",
            "--name",
            &name,
            "--driver",
            "docker-container",
            "--config",
            config,
            "--registry",
            &remote,
        ])
    };
    let (code, stdout, stderr) = create();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = run(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        row.contains("docker-container") && row.contains("running"),
        "{row}"
    );
    assert!(row.contains("linux/arm64"), "the worker's platforms: {row}");
    // With no platforms pinned in its config, BuildKit offers all it can run, the Pi
    // Zero's arm/v6 and 386 among them (the repository's buildkitd.toml once hid them).
    for platform in ["linux/386", "linux/arm/v6", "linux/ppc64le", "linux/s390x"] {
        assert!(
            row.contains(platform),
            "{platform} in the worker's platforms: {row}"
        );
    }
    assert!(!row.contains("  -  "), "its BuildKit version: {row}");

    // A two-platform base with a shell, then an image built on it with a RUN step on
    // each platform (arm64 under QEMU), both pushed by BuildKit itself.
    let base_context = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let dir = base_context.path().join(arch);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            Path::new(BUSYBOX).join(arch).join("busybox"),
            dir.join("busybox"),
        )
        .unwrap_or_else(|e| panic!("{BUSYBOX}/{arch}/busybox ({e}): run scripts/testbed.sh up"));
    }
    std::fs::write(
        base_context.path().join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\n\
         ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"uname\", \"-m\"]\n",
    )
    .unwrap();
    let base = format!("{remote}/busybox:{}", bed.run_id);
    let (code, stdout, stderr) = build_push(&base, base_context.path().to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    // A busybox image is no HTTP server: its container exits at once, which verify
    // notices (it does not wait for an answer), and `--exec` checks it instead.
    let local_base = format!("{registry}/busybox:{}", bed.run_id);
    let (code, stdout, stderr) = common::multiarch(&["verify", &local_base, "--timeout", "300s"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the container exited with code 0 before answering `/arch`")
            && stdout.contains("--exec"),
        "{stdout}"
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", &local_base, "--exec", "uname -m"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("`uname -m` exited 0: aarch64 (emulated)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("`uname -m` exited 0: x86_64 (native)"),
        "{stdout}"
    );
    // Quoted as in a shell, the command reaches the container as three words.
    let (code, stdout, stderr) = common::multiarch(&[
        "verify",
        &local_base,
        "--exec",
        r#"sh -c "uname -m | grep -v mips""#,
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("`sh -c 'uname -m | grep -v mips'` exited 0: aarch64 (emulated)"),
        "{stdout}"
    );

    let app_context = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let dir = app_context.path().join(arch);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            common::repo_root()
                .join("dist")
                .join(arch)
                .join("arch-server"),
            dir.join("arch-server"),
        )
        .unwrap();
    }
    std::fs::write(
        app_context.path().join("Dockerfile"),
        format!(
            "FROM {base}\nARG TARGETARCH\nCOPY ${{TARGETARCH}}/arch-server /arch-server\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox uname -m > /built-on\"]\n\
             ENV HOST=0.0.0.0 PORT=80\nEXPOSE 80\nENTRYPOINT [\"/arch-server\"]\nCMD []\n"
        ),
    )
    .unwrap();
    let app = format!("{remote}/app:{}", bed.run_id);
    let (code, stdout, stderr) = build_push(&app, app_context.path().to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("[linux/arm64 3/3] RUN") && stderr.contains("[linux/amd64 3/3] RUN"),
        "both RUN steps ran: {stderr}"
    );
    assert!(
        stdout.contains("linux/amd64") && stdout.contains("linux/arm64"),
        "{stdout}"
    );

    // What BuildKit pushed is what the index claims: statically, read through the
    // host name; and running, through the same registry's loopback name (the engine's
    // containerd store speaks HTTPS to any name but a loopback address).
    let (code, stdout, stderr) =
        common::multiarch(&["verify", &app, "--insecure", &remote, "--static-only"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let local = format!("{registry}/app:{}", bed.run_id);
    let (code, stdout, stderr) = common::multiarch(&["verify", &local]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("linux/amd64  PASS"), "{stdout}");
    assert!(stdout.contains("linux/arm64  PASS"), "{stdout}");

    // The flags people reach for: a label, a registry cache written with mode=max (then
    // read back by a build that uses no local cache), and --load refused by name.
    let cache = format!("{remote}/cache:{}", bed.run_id);
    let labelled = format!("{registry}/app:labelled-{}", bed.run_id);
    let context = app_context.path().to_str().unwrap();
    let cache_to = format!("type=registry,ref={cache},mode=max");
    let (code, stdout, stderr) = build_push(
        &labelled,
        context,
        &[
            "--label",
            "org.example.team=workshop",
            "--cache-to",
            &cache_to,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, _, stderr) = common::multiarch(&["inspect", "--raw", "--insecure", &remote, &cache]);
    assert_eq!(code, 0, "the cache was pushed: {stderr}");
    bed.track_image(&labelled);
    bed.run("docker", &["pull", "--platform", "linux/amd64", &labelled]);
    let label = bed.run(
        "docker",
        &[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"org.example.team\"}}",
            &labelled,
        ],
    );
    assert_eq!(label.trim(), "workshop");
    let (code, stdout, stderr) =
        build_push(&labelled, context, &["--no-cache", "--cache-from", &cache]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, _, stderr) = run(&[
        "build",
        "--builder",
        &name,
        "-t",
        &labelled,
        "--platform",
        "linux/amd64",
        "--load",
        context,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("`--load` cannot be honoured by the `docker-container` builder"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("#1 "),
        "refused before anything was built: {stderr}"
    );

    // Ctrl-C in the middle of a container build with a named context: exit 130, nothing
    // of this run left (no container, no context in the registry), nothing pushed.
    let heavy = tempfile::tempdir().unwrap();
    common::heavy_context(heavy.path(), 64);
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(extra.path().join("note"), "a named context").unwrap();
    let named = format!("extra={}", extra.path().display());
    let interrupted = format!("{registry}/interrupted:{}", bed.run_id);
    let (code, stderr) = crate::interrupt_cli::interrupt(
        &[
            "build",
            "--builder",
            &name,
            heavy.path().to_str().unwrap(),
            "-t",
            &interrupted,
            "--build-context",
            &named,
            "--push",
            "--plain",
        ],
        &[("MULTIARCH_STATE_DIR", state_dir.as_str())],
        "#",
        std::time::Duration::from_millis(300),
    );
    assert_eq!(code, Some(130), "{stderr}");
    let (_, tags) = common::http_get(&format!(
        "http://{registry}/v2/multiarch-context/extra/tags/list"
    ))
    .await
    .unwrap();
    assert!(
        !tags.contains("\"tags\":["),
        "named context left in the registry: {tags}\n{stderr}"
    );
    bed.assert_no_containers("label=io.github.multiarch.session", &stderr);
    let (code, _, _) = common::multiarch(&["inspect", &interrupted]);
    assert_ne!(code, 0, "an interrupted build pushed `{interrupted}`");

    // As `docker buildx rm`: `rm --keep-state` keeps the cache volume, `rm` removes it.
    let volume = format!("buildx_buildkit_{name}0_state");
    let (code, _, stderr) = run(&["builder", "rm", &name, "--keep-state"]);
    assert_eq!(code, 0, "{stderr}");
    bed.assert_no_containers(&format!("name=buildx_buildkit_{name}0"), &stderr);
    assert!(volume_exists(&volume), "`rm --keep-state` kept the cache");
    let (code, _, stderr) = create();
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&["builder", "rm", &name]);
    assert_eq!(code, 0, "{stderr}");
    bed.assert_no_containers(&format!("name=buildx_buildkit_{name}0"), &stderr);
    assert!(
        !volume_exists(&volume),
        "`rm` removed the cache, as buildx rm does"
    );
}

/// The machine's host name, which must resolve to a loopback address for this test.
fn hostname_on_loopback() -> String {
    let name = std::fs::read_to_string("/etc/hostname")
        .map(|n| n.trim().to_string())
        .unwrap();
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 0))
        .map(|mut a| a.all(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    assert!(
        resolved,
        "this test needs the host name `{name}` to resolve to a loopback address (/etc/hosts)"
    );
    name
}

pub(crate) fn volume_exists(name: &str) -> bool {
    std::process::Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}
