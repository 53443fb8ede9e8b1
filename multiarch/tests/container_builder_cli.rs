//! Issue #14: a `docker-container` builder runs its own BuildKit (a pulled
//! `moby/buildkit`, or the test bed's stand-in built from Debian's sources) with
//! `buildkitd.toml`, builds `RUN` steps for foreign platforms under QEMU, and pushes
//! itself, to a registry only where the config lets it speak plain HTTP. How it lives
//! beside `docker buildx` (issue #23) is `buildx_builders_cli.rs`.

use crate::common::engine_test;
use std::path::Path;

use crate::common::{self, TestBed};

/// What every test here shares: the test bed and its registry, reached also under the
/// machine's host name, and a kit state folder holding a `buildkitd.toml` that lets
/// BuildKit speak plain HTTP to that name.
struct Kit {
    bed: TestBed,
    /// The registry's loopback address, which the engine's store speaks plain HTTP to.
    registry: String,
    /// The same registry under the host name: BuildKit speaks plain HTTP to loopback
    /// addresses whatever its config says, so only buildkitd.toml can allow this one.
    remote: String,
    state: tempfile::TempDir,
    /// The builder's name.
    name: String,
}

impl Kit {
    async fn new() -> Self {
        let (mut bed, registry) = common::testbed_with_registry().await;
        let host = hostname_on_loopback();
        let port = registry.rsplit(':').next().unwrap();
        let remote = format!("{host}:{port}");
        bed.track_registry_alias(&remote);
        let state = tempfile::tempdir().unwrap();
        std::fs::write(
            state.path().join("buildkitd.toml"),
            format!("[registry.\"{remote}\"]\n  http = true\n  insecure = true\n"),
        )
        .unwrap();
        let name = format!("container-{}", bed.run_id);
        bed.track_builder(&name);
        Self {
            bed,
            registry,
            remote,
            state,
            name,
        }
    }

    /// `multiarch ARGS` with this kit's state folder.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let state = self.state.path().to_str().unwrap();
        common::multiarch_with(args, &[("MULTIARCH_STATE_DIR", state)])
    }

    /// `builder create` of the docker-container builder from the config that covers the
    /// registry.
    fn create(&self) -> (i32, String, String) {
        let config = self.state.path().join("buildkitd.toml");
        self.run(&[
            "builder",
            "create",
            "--name",
            &self.name,
            "--driver",
            "docker-container",
            "--config",
            config.to_str().unwrap(),
            "--registry",
            &self.remote,
        ])
    }

    /// The builder, created and asserted.
    fn with_builder(self) -> Self {
        let (code, stdout, stderr) = self.create();
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        self
    }

    /// A build of `context` for both platforms through the container builder, pushed by
    /// BuildKit to the registry under the host name.
    fn build_push(&self, tag: &str, context: &Path, extra: &[&str]) -> (i32, String, String) {
        self.build_push_for("linux/amd64,linux/arm64", tag, context, extra)
    }

    /// The same for `platforms`.
    fn build_push_for(
        &self,
        platforms: &str,
        tag: &str,
        context: &Path,
        extra: &[&str],
    ) -> (i32, String, String) {
        let mut args = vec![
            "build",
            "--builder",
            self.name.as_str(),
            "-t",
            tag,
            "--platform",
            platforms,
            "--push",
            "--insecure",
            self.remote.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(context.to_str().unwrap());
        self.run(&args)
    }

    /// A two-platform busybox base with a shell, pushed by BuildKit; its tag under the
    /// host name.
    fn push_busybox_base(&self) -> String {
        let context = tempfile::tempdir().unwrap();
        for arch in ["amd64", "arm64"] {
            let dir = context.path().join(arch);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(common::busybox(arch), dir.join("busybox")).unwrap();
        }
        std::fs::write(
            context.path().join("Dockerfile"),
            "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\n\
             ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"uname\", \"-m\"]\n",
        )
        .unwrap();
        let base = format!("{}/busybox:{}", self.remote, self.bed.run_id);
        let (code, stdout, stderr) = self.build_push(&base, context.path(), &[]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        base
    }

    /// A context for arch-server (from `dist/`) on `base`, with a RUN step on each
    /// platform (arm64 under QEMU).
    fn app_context(&self, base: &str) -> tempfile::TempDir {
        let context = tempfile::tempdir().unwrap();
        for arch in ["amd64", "arm64"] {
            let dir = context.path().join(arch);
            std::fs::create_dir_all(&dir).unwrap();
            let binary = common::repo_root()
                .join("dist")
                .join(arch)
                .join("arch-server");
            std::fs::copy(binary, dir.join("arch-server")).unwrap();
        }
        std::fs::write(
            context.path().join("Dockerfile"),
            format!(
                "FROM {base}\nARG TARGETARCH\nCOPY ${{TARGETARCH}}/arch-server /arch-server\n\
                 RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox uname -m > /built-on\"]\n\
                 ENV HOST=0.0.0.0 PORT=80\nEXPOSE 80\nENTRYPOINT [\"/arch-server\"]\nCMD []\n"
            ),
        )
        .unwrap();
        context
    }
}

#[engine_test]
async fn a_config_that_does_not_cover_the_registry_is_refused_before_anything_is_created() {
    let kit = Kit::new().await;
    let empty = kit.state.path().join("empty.toml");
    std::fs::write(&empty, "# no registries\n").unwrap();
    let (code, _, stderr) = kit.run(&[
        "builder",
        "create",
        "--name",
        &kit.name,
        "--driver",
        "docker-container",
        "--config",
        empty.to_str().unwrap(),
        "--registry",
        &kit.remote,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("would use HTTPS"), "{stderr}");
    assert!(
        stderr.contains(&format!("[registry.\"{}\"]", kit.remote))
            && stderr.contains("http = true"),
        "the lines to add: {stderr}"
    );
    kit.bed
        .assert_no_containers(&format!("name=buildx_buildkit_{}0", kit.name), &stderr);
}

#[engine_test]
async fn a_container_builder_offers_every_platform_its_qemu_runs() {
    let kit = Kit::new().await.with_builder();
    let (code, stdout, stderr) = kit.run(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&kit.name))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        row.contains("docker-container") && row.contains("running"),
        "{row}"
    );
    // With no platforms pinned in its config, BuildKit offers all it can run, the Pi
    // Zero's arm/v6 and 386 among them (the repository's buildkitd.toml once hid them).
    for platform in [
        "linux/arm64",
        "linux/386",
        "linux/arm/v6",
        "linux/ppc64le",
        "linux/s390x",
    ] {
        assert!(
            row.contains(platform),
            "{platform} in the worker's platforms: {row}"
        );
    }
    assert!(!row.contains("  -  "), "its BuildKit version: {row}");
}

#[engine_test]
async fn a_program_that_is_no_server_is_verified_with_exec_as_a_shell_would_split_it() {
    let kit = Kit::new().await.with_builder();
    kit.push_busybox_base();
    // A busybox image is no HTTP server: its container exits at once, which verify
    // notices (it does not wait for an answer), and `--exec` checks it instead.
    let local_base = format!("{}/busybox:{}", kit.registry, kit.bed.run_id);
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
}

#[engine_test]
async fn run_steps_run_on_each_platform_and_what_buildkit_pushed_verifies() {
    let kit = Kit::new().await.with_builder();
    let base = kit.push_busybox_base();
    let context = kit.app_context(&base);
    let app = format!("{}/app:{}", kit.remote, kit.bed.run_id);
    let (code, stdout, stderr) = kit.build_push(&app, context.path(), &[]);
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
        common::multiarch(&["verify", &app, "--insecure", &kit.remote, "--static-only"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let local = format!("{}/app:{}", kit.registry, kit.bed.run_id);
    let (code, stdout, stderr) = common::multiarch(&["verify", &local]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("linux/amd64  PASS"), "{stdout}");
    assert!(stdout.contains("linux/arm64  PASS"), "{stdout}");
}

#[engine_test]
async fn labels_and_a_registry_cache_work_and_load_is_refused_by_name() {
    let mut kit = Kit::new().await.with_builder();
    let base = kit.push_busybox_base();
    let context = kit.app_context(&base);
    // A label, and a registry cache written with mode=max, then read back by a build
    // that uses no local cache.
    let cache = format!("{}/cache:{}", kit.remote, kit.bed.run_id);
    let labelled = format!("{}/app:labelled-{}", kit.registry, kit.bed.run_id);
    let cache_to = format!("type=registry,ref={cache},mode=max");
    let (code, stdout, stderr) = kit.build_push(
        &labelled,
        context.path(),
        &[
            "--label",
            "org.example.team=workshop",
            "--cache-to",
            &cache_to,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, _, stderr) =
        common::multiarch(&["inspect", "--raw", "--insecure", &kit.remote, &cache]);
    assert_eq!(code, 0, "the cache was pushed: {stderr}");
    kit.bed.track_image(&labelled);
    kit.bed
        .run("docker", &["pull", "--platform", "linux/amd64", &labelled]);
    let label = kit.bed.run(
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
    let (code, stdout, stderr) = kit.build_push(
        &labelled,
        context.path(),
        &["--no-cache", "--cache-from", &cache],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // A docker-container builder keeps what it builds: --load is refused by name, before
    // anything is built.
    let (code, _, stderr) = kit.run(&[
        "build",
        "--builder",
        &kit.name,
        "-t",
        &labelled,
        "--platform",
        "linux/amd64",
        "--load",
        context.path().to_str().unwrap(),
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
}

#[engine_test]
async fn ctrl_c_in_a_container_build_with_a_named_context_leaves_nothing() {
    let kit = Kit::new().await.with_builder();
    let heavy = tempfile::tempdir().unwrap();
    common::heavy_context(heavy.path(), 64);
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(extra.path().join("note"), "a named context").unwrap();
    let named = format!("extra={}", extra.path().display());
    let interrupted = format!("{}/interrupted:{}", kit.registry, kit.bed.run_id);
    let state = kit.state.path().to_str().unwrap();
    let (code, stderr) = crate::interrupt_cli::interrupt(
        &[
            "build",
            "--builder",
            &kit.name,
            heavy.path().to_str().unwrap(),
            "-t",
            &interrupted,
            "--build-context",
            &named,
            "--push",
            "--plain",
        ],
        &[("MULTIARCH_STATE_DIR", state)],
        "#",
        std::time::Duration::from_millis(300),
    );
    // Exit 130, nothing of this run left (no container, no context in the registry),
    // nothing pushed.
    assert_eq!(code, Some(130), "{stderr}");
    let (_, tags) = common::http_get(&format!(
        "http://{}/v2/multiarch-context/extra/tags/list",
        kit.registry
    ))
    .await
    .unwrap();
    assert!(
        !tags.contains("\"tags\":["),
        "named context left in the registry: {tags}\n{stderr}"
    );
    kit.bed
        .assert_no_containers("label=io.github.multiarch.session", &stderr);
    let (code, _, _) = common::multiarch(&["inspect", &interrupted]);
    assert_ne!(code, 0, "an interrupted build pushed `{interrupted}`");
}

#[engine_test]
async fn rm_keep_state_keeps_the_cache_volume_and_rm_removes_it_as_buildx_rm_does() {
    let kit = Kit::new().await.with_builder();
    let volume = format!("buildx_buildkit_{}0_state", kit.name);
    let container = format!("name=buildx_buildkit_{}0", kit.name);
    let (code, _, stderr) = kit.run(&["builder", "rm", &kit.name, "--keep-state"]);
    assert_eq!(code, 0, "{stderr}");
    kit.bed.assert_no_containers(&container, &stderr);
    assert!(volume_exists(&volume), "`rm --keep-state` kept the cache");
    let (code, _, stderr) = kit.create();
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = kit.run(&["builder", "rm", &kit.name]);
    assert_eq!(code, 0, "{stderr}");
    kit.bed.assert_no_containers(&container, &stderr);
    assert!(
        !volume_exists(&volume),
        "`rm` removed the cache, as buildx rm does"
    );
}

/// The entry of a JSON list (a profile's platforms, verify's evidence) for `platform`.
fn entry_of(list: &serde_json::Value, platform: &str) -> serde_json::Value {
    list.as_array()
        .unwrap_or_else(|| panic!("no list: {list:#}"))
        .iter()
        .find(|entry| entry["platform"] == platform)
        .unwrap_or_else(|| panic!("{platform} in {list:#}"))
        .clone()
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

#[engine_test]
async fn the_build_profile_says_which_steps_ran_emulated_and_how_to_stop() {
    let kit = Kit::new().await.with_builder();
    let base = kit.push_busybox_base();
    // A stage on the build platform (cross for arm64), then a busy step that says `make`
    // on each platform: native on amd64, under QEMU on arm64 (busybox has no make, so
    // it fails softly; the hint is read from the Dockerfile and the times).
    let context = tempfile::tempdir().unwrap();
    let busy = |n: u32, then: &str| {
        format!(
            "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"i=0; while [ $i -lt {n} ]; do i=$((i+1)); done; {then}\"]"
        )
    };
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM --platform=$BUILDPLATFORM {base} AS tools\n\
             ARG TARGETARCH\n\
             {}\n\
             FROM {base}\n\
             COPY --from=tools /tools /tools\n\
             {}\n",
            busy(20000, "echo $TARGETARCH > /tools"),
            busy(300000, "make all || true"),
        ),
    )
    .unwrap();
    let app = format!("{}/profiled:{}", kit.remote, kit.bed.run_id);
    let report_file = context.path().join("report.json");
    let report_arg = report_file.to_str().unwrap();
    let (code, stdout, stderr) = kit.build_push(
        &app,
        context.path(),
        &[
            "--no-cache",
            "--report",
            report_arg,
            "--provenance=mode=max",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("where the time went:"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(report["builder"], kit.name.as_str(), "{report:#}");
    let platform = |name: &str| entry_of(&report["platforms"], name);
    let step = |platform: &serde_json::Value, says: &str| {
        platform["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["instruction"].as_str().unwrap().contains(says))
            .unwrap_or_else(|| panic!("a step with `{says}` in {platform:#}"))
            .clone()
    };
    let arm = platform("linux/arm64");
    let emulated = step(&arm, "make all");
    assert_eq!(emulated["how"], "emulated", "{arm:#}");
    assert_eq!(emulated["emulator"], "qemu-aarch64");
    assert_eq!(emulated["line"], 6);
    assert_eq!(emulated["cached"], false);
    let seconds = emulated["duration_seconds"].as_f64().unwrap();
    assert!(
        seconds > arm["wall_seconds"].as_f64().unwrap() / 2.0,
        "the emulated step is most of arm64's time: {arm:#}"
    );
    // BuildKit names the step with its arguments expanded.
    let cross = step(&arm, "echo arm64");
    assert_eq!(
        (&cross["how"], &cross["line"]),
        (&"cross".into(), &3.into()),
        "{arm:#}"
    );
    assert_eq!(cross["runs_on"], "linux/amd64");
    let amd = platform("linux/amd64");
    assert_eq!(step(&amd, "make all")["how"], "native", "{amd:#}");
    let hints = report["hints"].as_array().unwrap();
    assert!(
        hints.iter().any(|h| h["platform"] == "linux/arm64"
            && h["line"] == 6
            && h["advice"].as_str().unwrap().contains("cross C toolchain")),
        "{hints:#?}"
    );
    assert!(
        stderr.contains("hint: Dockerfile:6 `RUN") && stderr.contains("emulated for linux/arm64"),
        "{stderr}"
    );

    // Afterwards, from the image: its mode=max provenance says where each platform was
    // built and which of its steps ran cross or emulated, with their Dockerfile lines.
    let pushed = format!("{}/profiled:{}", kit.registry, kit.bed.run_id);
    let (_, stdout, stderr) = common::multiarch(&[
        "verify",
        "--static-only",
        &pushed,
        "--evidence",
        "provenance",
    ]);
    let evidence = &stdout[stdout
        .find("BUILT ON")
        .unwrap_or_else(|| panic!("no evidence table:\n{stdout}\n{stderr}"))..];
    let arm_row = common::row(evidence, "linux/arm64");
    assert!(
        arm_row.contains("linux/amd64 (1 emulated [")
            && arm_row.contains("], 1 cross [")
            && arm_row.contains("] of 2 steps)"),
        "{evidence}"
    );
    // `row` brings each numbered detail of the row along.
    assert!(
        arm_row.contains("linux/arm64: emulated: Dockerfile:6 `")
            && arm_row.contains("linux/arm64: cross: Dockerfile:3 `"),
        "each step is named by its line: {arm_row}"
    );
    assert!(
        common::row(evidence, "linux/amd64")
            .contains("linux/amd64 (2 steps, none cross or emulated)"),
        "{evidence}"
    );
    let (_, json, _) = common::multiarch(&[
        "verify",
        "--static-only",
        &pushed,
        "--evidence",
        "provenance",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let arm_evidence = entry_of(&json["evidence"], "linux/arm64");
    assert_eq!(arm_evidence["built_on"], "linux/amd64", "{arm_evidence:#}");
    let steps = &arm_evidence["provenance_steps"];
    assert_eq!(steps["total"], 2, "{arm_evidence:#}");
    assert_eq!(steps["emulated"][0]["line"], 6, "{arm_evidence:#}");
    assert_eq!(steps["emulated"][0]["platform"], "linux/arm64");
    assert_eq!(steps["other_platform"][0]["line"], 3, "{arm_evidence:#}");
    assert_eq!(steps["other_platform"][0]["platform"], "linux/amd64");

    // Built again: every step comes from the cache, nothing ran emulated, no hint; and
    // `--quiet` prints no profile.
    let (code, stdout, stderr) =
        kit.build_push(&app, context.path(), &["--report", report_arg, "--quiet"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!stderr.contains("where the time went"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    let arm = entry_of(&report["platforms"], "linux/arm64");
    assert!(arm["cached_steps"].as_u64().unwrap() >= 2, "{arm:#}");
    assert_eq!(arm["emulated_seconds"], 0.0, "{arm:#}");
    assert!(report["hints"].as_array().unwrap().is_empty(), "{report:#}");
}

#[engine_test]
async fn an_emulator_run_for_a_platform_nobody_asked_for_is_named() {
    let kit = Kit::new().await.with_builder();
    let base = kit.push_busybox_base();
    // An amd64 image whose tools stage is pinned to arm64 (as `FROM --platform=linux/amd64`
    // is written on an Apple Silicon laptop): its RUN goes through QEMU for a platform the
    // build never asked for.
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM --platform=linux/arm64 {base} AS tools\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox uname -m > /tools\"]\n\
             FROM {base}\n\
             COPY --from=tools /tools /tools\n"
        ),
    )
    .unwrap();
    let app = format!("{}/unasked:{}", kit.remote, kit.bed.run_id);
    let report_file = context.path().join("report.json");
    let (code, stdout, stderr) = kit.build_push_for(
        "linux/amd64",
        &app,
        context.path(),
        &["--no-cache", "--report", report_file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: Dockerfile:2 "))
        .unwrap_or_else(|| panic!("no warning for line 2:\n{stderr}"));
    assert!(
        warning.contains("ran as linux/arm64 under qemu-aarch64")
            && warning.contains("a platform this build did not ask for (it builds linux/amd64)"),
        "{warning}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    let unasked = report["unasked_emulation"].as_array().unwrap();
    assert_eq!(unasked.len(), 1, "{report:#}");
    assert_eq!(unasked[0]["runs_on"], "linux/arm64");
    assert_eq!(unasked[0]["platform"], "linux/amd64");
    assert_eq!(unasked[0]["line"], 2);
    assert_eq!(unasked[0]["emulator"], "qemu-aarch64");
}
