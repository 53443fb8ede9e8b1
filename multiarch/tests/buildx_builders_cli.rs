//! Issue #23: the kit's docker-container builders are buildx builders. The kit writes
//! buildx's store and runs the container as buildx does, so `docker buildx ls`, `build`,
//! `inspect --bootstrap` and `rm` work on it; a builder `docker buildx create` made is
//! listed, built on and removed by the kit; BuildKit is reached through the engine
//! (`buildctl dial-stdio`), never a TCP port; `--provenance` reaches BuildKit.
//!
//! Every test has a buildx store of its own (`BUILDX_CONFIG`), so the user's stays as it
//! was, and the real buildx of the test bed reads it.

use crate::common::engine_test;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Stores, TestBed, TlsDaemon};

impl Stores {
    /// Another buildx binary, run standalone (`docker-buildx ARGS`), with this test's store.
    fn buildx_binary(&self, binary: &Path, args: &[&str]) -> (i32, String, String) {
        self.run_buildx(Command::new(binary), args)
    }

    /// `buildx build --push` of `context` for amd64 and arm64 on `builder`, by `binary`
    /// (`None`: `docker buildx`); returns the tag as the kit reads it back.
    fn buildx_build_push(
        &self,
        binary: Option<&Path>,
        builder: &str,
        tag: &str,
        context: &Path,
    ) -> String {
        let args = [
            "build",
            "--builder",
            builder,
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            tag,
            "--push",
            context.to_str().unwrap(),
        ];
        let (code, _, stderr) = match binary {
            Some(binary) => self.buildx_binary(binary, &args),
            None => self.buildx(&args),
        };
        assert_eq!(code, 0, "{stderr}");
        let (code, inspected, stderr) = common::multiarch(&["inspect", tag]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            inspected.contains("linux/amd64") && inspected.contains("linux/arm64"),
            "{inspected}"
        );
        inspected
    }

    /// `docker buildx ls` still works, whatever the kit just did (one bad entry would
    /// break it for every builder); returns what it listed.
    fn buildx_ls_works(&self, after: &str) -> String {
        let (code, stdout, stderr) = self.buildx(&["ls"]);
        assert_eq!(code, 0, "`docker buildx ls` after {after}: {stderr}");
        stdout
    }

    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(self.buildx_dir().join("instances"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `builder create --driver docker-container` with the test bed's BuildKit image and
    /// the repository's buildkitd.toml.
    fn create(&self, bed: &mut TestBed, name: &str) {
        self.create_with(bed, name, &[]);
    }

    /// The same, with more flags (`--use`).
    fn create_with(&self, bed: &mut TestBed, name: &str, extra: &[&str]) -> String {
        bed.track_builder(name);
        let mut args = vec![
            "builder",
            "create",
            "--name",
            name,
            "--driver",
            "docker-container",
            "--image",
            "multiarch-testbed/buildkit:debian",
            "--config",
            "buildkitd.toml",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = self.kit(&args);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert!(stderr.contains("`docker buildx ls` lists it"), "{stderr}");
        stderr
    }
}

/// A two-platform context that builds in a moment: a file copied into scratch.
fn small_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY note /note\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("note"), "built for issue #23\n").unwrap();
    dir
}

fn kit_build(stores: &Stores, builder: &str, tag: &str, context: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "build",
        "--builder",
        builder,
        "-t",
        tag,
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
    ];
    args.extend_from_slice(extra);
    args.push(context.to_str().unwrap());
    let (code, stdout, stderr) = stores.kit(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    stdout
}

/// The opening most tests here share: the engine, a registry of this run's own, stores of
/// this test's own, and a kit builder named `<prefix>-<run>` in them.
async fn kit_builder(prefix: &str) -> (TestBed, String, Stores, String) {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let stores = Stores::new();
    let name = format!("{prefix}-{}", bed.run_id);
    stores.create(&mut bed, &name);
    (bed, registry, stores, name)
}

fn attestation_rows(inspected: &str) -> usize {
    inspected
        .lines()
        .filter(|l| l.starts_with("attestation for"))
        .count()
}

#[engine_test]
async fn a_kit_builder_is_one_buildx_lists_uses_and_removes() {
    let (bed, registry, stores, name) = kit_builder("kit").await;

    let listed = stores.buildx_ls_works("create");
    let node_row = listed
        .lines()
        .find(|l| l.contains(&format!("{name}0")))
        .unwrap_or_else(|| panic!("buildx lists the kit's node: {listed}"));
    assert!(
        node_row.contains("running") && node_row.contains("v0.25.0+debian"),
        "running, with its BuildKit version: {node_row}"
    );
    assert!(node_row.contains("linux/arm64"), "{node_row}");
    let (code, inspected, stderr) = stores.buildx(&["inspect", &name]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        inspected.contains("docker-container")
            && inspected.contains("image=\"multiarch-testbed/buildkit:debian\"")
            && inspected.contains("network=\"host\""),
        "{inspected}"
    );

    // buildx builds on it and pushes, adding its default provenance.
    let context = small_context();
    let tag = format!("{registry}/by-buildx:{}", bed.run_id);
    let inspected = stores.buildx_build_push(None, &name, &tag, context.path());
    assert_eq!(attestation_rows(&inspected), 2, "{inspected}");

    // buildx removes it: container, state volume and entry; the kit no longer lists it.
    let (code, _, stderr) = stores.buildx(&["rm", &name]);
    assert_eq!(code, 0, "{stderr}");
    bed.assert_no_containers(&format!("name=buildx_buildkit_{name}0"), &stderr);
    assert!(!crate::container_builder_cli::volume_exists(&format!(
        "buildx_buildkit_{name}0_state"
    )));
    let (code, listed, stderr) = stores.kit(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!listed.contains(&name), "{listed}");
}

#[engine_test]
async fn a_builder_buildx_made_is_the_kits_too() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let stores = Stores::new();
    let name = format!("bx-{}", bed.run_id);
    bed.track_builder(&name);
    let (code, _, stderr) = stores.buildx(&[
        "create",
        "--name",
        &name,
        "--driver",
        "docker-container",
        "--driver-opt",
        "image=multiarch-testbed/buildkit:debian,network=host",
        "--buildkitd-config",
        "buildkitd.toml",
        "--bootstrap",
    ]);
    assert_eq!(code, 0, "{stderr}");

    let (code, listed, stderr) = stores.kit(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let row = listed
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("the kit lists buildx's builder: {listed}"));
    assert!(
        row.contains("docker-container")
            && row.contains("running")
            && row.contains("v0.25.0+debian")
            && row.contains("linux/arm64"),
        "{row}"
    );
    let (code, json, stderr) = stores.kit(&["builder", "inspect", &name, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["status"], "running", "{json}");

    let context = small_context();
    let tag = format!("{registry}/on-buildx:{}", bed.run_id);
    let stdout = kit_build(&stores, &name, &tag, context.path(), &[]);
    assert!(
        stdout.contains("linux/amd64") && stdout.contains("linux/arm64"),
        "{stdout}"
    );

    let (code, _, stderr) = stores.kit(&["builder", "rm", &name]);
    assert_eq!(code, 0, "{stderr}");
    bed.assert_no_containers(&format!("name=buildx_buildkit_{name}0"), &stderr);
    assert!(!crate::container_builder_cli::volume_exists(&format!(
        "buildx_buildkit_{name}0_state"
    )));
    let listed = stores.buildx_ls_works("the kit's rm");
    assert!(!listed.contains(&name), "{listed}");
    assert!(stores.entries().is_empty(), "{:?}", stores.entries());
}

#[engine_test]
async fn buildx_recreates_a_kit_builder_from_its_entry() {
    let (bed, registry, stores, name) = kit_builder("again").await;
    let container = format!("buildx_buildkit_{name}0");
    bed.run("docker", &["rm", "-f", "-v", &container]);
    let listed = stores.buildx_ls_works("the container was removed by hand");
    assert!(listed.contains("inactive"), "{listed}");

    let (code, inspected, stderr) = stores.buildx(&["inspect", "--bootstrap", &name]);
    assert_eq!(code, 0, "{stderr}");
    assert!(inspected.contains("running"), "{inspected}");
    // What buildx made from the kit's entry holds the kit's buildkitd.toml.
    let config = bed.run(
        "docker",
        &["exec", &container, "cat", "/etc/buildkit/buildkitd.toml"],
    );
    assert!(config.contains("localhost:5000"), "{config}");

    let context = small_context();
    let tag = format!("{registry}/recreated:{}", bed.run_id);
    kit_build(&stores, &name, &tag, context.path(), &[]);

    // And the kit boots one that is gone, as buildx does before a build.
    bed.run("docker", &["rm", "-f", "-v", &container]);
    kit_build(&stores, &name, &tag, context.path(), &[]);
    let (code, _, stderr) = stores.kit(&["builder", "rm", &name]);
    assert_eq!(code, 0, "{stderr}");
}

#[engine_test]
async fn a_bad_config_or_name_is_refused_before_anything_is_written() {
    let mut bed = common::testbed().await;
    let stores = Stores::new();
    let bad = stores.dir.path().join("bad.toml");
    std::fs::write(&bad, "[registry.\"localhost:5000\"\n  http = true\n").unwrap();
    let name = format!("bad-{}", bed.run_id);
    bed.track_builder(&name);
    let (code, _, stderr) = stores.kit(&[
        "builder",
        "create",
        "--name",
        &name,
        "--driver",
        "docker-container",
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is not a valid buildkitd.toml: line 1"),
        "{stderr}"
    );
    let upper = format!("Kit-{}", bed.run_id);
    let (code, _, stderr) = stores.kit(&[
        "builder",
        "create",
        "--name",
        &upper,
        "--driver",
        "docker-container",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not a valid builder name"), "{stderr}");
    assert!(stderr.contains("hint: name it as"), "{stderr}");
    assert!(stores.entries().is_empty(), "{:?}", stores.entries());
    bed.assert_no_containers(&format!("name=buildx_buildkit_{name}0"), &stderr);
    bed.assert_no_containers(&format!("name=buildx_buildkit_{upper}0"), &stderr);
    stores.buildx_ls_works("refused creates");
}

#[engine_test]
async fn ctrl_c_mid_create_leaves_no_container_and_buildx_ls_working() {
    let mut bed = common::testbed().await;
    let stores = Stores::new();
    let name = format!("cut-{}", bed.run_id);
    bed.track_builder(&name);
    let mut env = stores.env();
    env.push(("RUST_LOG", "multiarch=debug".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stderr) = crate::interrupt_cli::interrupt(
        &[
            "builder",
            "create",
            "--name",
            &name,
            "--driver",
            "docker-container",
            "--image",
            "multiarch-testbed/buildkit:debian",
        ],
        &env,
        "creating the builder container",
        std::time::Duration::from_millis(50),
    );
    assert_eq!(code, Some(130), "{stderr}");
    bed.assert_no_containers(&format!("name=buildx_buildkit_{name}0"), &stderr);
    assert!(stores.entries().is_empty(), "{:?}", stores.entries());
    stores.buildx_ls_works("Ctrl-C mid-create");
}

#[engine_test]
async fn no_tcp_path_leads_to_buildkit_and_other_users_cannot_build() {
    let (bed, registry, stores, name) = kit_builder("closed").await;
    assert_no_buildkit_listener(&name, "after create");

    // During a build too: the bridge handed to bollard is a unix socket.
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY payload /payload\n",
    )
    .unwrap();
    let mut payload = vec![0u8; 64 << 20];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut payload,
    )
    .unwrap();
    std::fs::write(context.path().join("payload"), payload).unwrap();
    let tag = format!("{registry}/closed:{}", bed.run_id);
    let env = stores.env();
    let mut child = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .args([
            "build",
            "--builder",
            &name,
            "-t",
            &tag,
            "--platform",
            "linux/amd64",
            "--push",
            context.path().to_str().unwrap(),
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_no_buildkit_listener(&name, "during a build");
    assert!(child.wait().unwrap().success());

    // A user who may not use the engine may not use the builder through the kit.
    let (code, _, stderr) = {
        let output = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_multiarch"))
            .args(["build", "--builder", &name, "-t", &tag, "--push", "."])
            .env("BUILDX_CONFIG", stores.buildx_dir())
            .env("MULTIARCH_STATE_DIR", "/tmp/nobody-state")
            .current_dir(context.path())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(1), "uid 65534 must not build: {stderr}");
    assert!(stderr.contains("ermission denied"), "{stderr}");
    let (code, _, stderr) = stores.kit(&["builder", "rm", &name]);
    assert_eq!(code, 0, "{stderr}");
}

/// No listening TCP socket on this machine belongs to the builder's BuildKit (its
/// container is on the host network, so its sockets would be the host's). Other tests'
/// daemons, a BuildKit behind TLS among them, are not this builder's.
fn assert_no_buildkit_listener(builder: &str, when: &str) {
    let container = format!("buildx_buildkit_{builder}0");
    let top = Command::new("docker")
        .args(["top", &container, "-eo", "pid"])
        .output()
        .unwrap();
    assert!(top.status.success(), "docker top {container}: {top:?}");
    let pids: Vec<String> = String::from_utf8_lossy(&top.stdout)
        .lines()
        .skip(1)
        .map(|pid| format!("pid={},", pid.trim()))
        .collect();
    assert!(!pids.is_empty(), "the builder's container runs BuildKit");
    let output = Command::new("ss").args(["-ltnpH"]).output().unwrap();
    let listening = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    let buildkit: Vec<&str> = listening
        .lines()
        .filter(|l| pids.iter().any(|pid| l.contains(pid.as_str())))
        .collect();
    assert!(
        buildkit.is_empty(),
        "a TCP port leads to BuildKit {when}: {buildkit:?}"
    );
}

#[engine_test]
async fn provenance_min_max_and_false_are_in_the_pushed_index() {
    let (bed, registry, stores, name) = kit_builder("attest").await;
    let context = small_context();
    let provenance = |tag: &str| {
        let output = Command::new("docker")
            .args([
                "buildx",
                "imagetools",
                "inspect",
                tag,
                "--format",
                "{{json .Provenance}}",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };

    // By default, as buildx: `mode=min`, one attestation per platform, no build config.
    let tag = format!("{registry}/attest:min-{}", bed.run_id);
    let stdout = kit_build(&stores, &name, &tag, context.path(), &[]);
    assert_eq!(attestation_rows(&stdout), 2, "{stdout}");
    let min = provenance(&tag);
    assert!(min["linux/arm64"]["SLSA"]["buildType"].is_string(), "{min}");
    assert!(min["linux/arm64"]["SLSA"]["buildConfig"].is_null(), "{min}");

    let tag = format!("{registry}/attest:max-{}", bed.run_id);
    kit_build(
        &stores,
        &name,
        &tag,
        context.path(),
        &["--provenance=mode=max"],
    );
    let max = provenance(&tag);
    assert!(
        max["linux/amd64"]["SLSA"]["buildConfig"]["llbDefinition"].is_array(),
        "mode=max carries the build's definition: {max}"
    );

    let tag = format!("{registry}/attest:none-{}", bed.run_id);
    let stdout = kit_build(
        &stores,
        &name,
        &tag,
        context.path(),
        &["--provenance=false"],
    );
    assert_eq!(attestation_rows(&stdout), 0, "{stdout}");
    let (code, _, stderr) = stores.kit(&["builder", "rm", &name]);
    assert_eq!(code, 0, "{stderr}");
}

#[engine_test]
async fn a_kit_builder_works_with_a_newer_buildx_too() {
    // Debian 14's buildx (0.29 as this is written), which `scripts/testbed.sh up` unpacks.
    let newer = std::env::var_os("MULTIARCH_BUILDX_NEW_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/multiarch/buildx-forky"))
        .join("docker-buildx");
    assert!(
        newer.is_file(),
        "no newer buildx at {}: run `sudo scripts/testbed.sh up`",
        newer.display()
    );
    let (bed, registry, stores, name) = kit_builder("newer").await;
    let (code, version, _) = stores.buildx_binary(&newer, &["version"]);
    assert_eq!(code, 0);
    let (code, listed, stderr) = stores.buildx_binary(&newer, &["ls"]);
    assert_eq!(code, 0, "{version}: {stderr}");
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&format!("{name}0")) && l.contains("running")),
        "{version} lists the kit's builder running: {listed}"
    );
    let context = small_context();
    let tag = format!("{registry}/newer-buildx:{}", bed.run_id);
    stores.buildx_build_push(Some(&newer), &name, &tag, context.path());
    // What the newer buildx may have written to the store still reads for the kit.
    kit_build(&stores, &name, &tag, context.path(), &[]);
    let (code, _, stderr) = stores.buildx_binary(&newer, &["rm", &name]);
    assert_eq!(code, 0, "{version}: {stderr}");
    bed.assert_no_containers(&format!("name=buildx_buildkit_{name}0"), &stderr);
    assert!(stores.entries().is_empty(), "{:?}", stores.entries());
}

#[engine_test]
async fn create_use_makes_it_the_builder_of_both_tools() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let stores = Stores::new();
    let name = format!("used-{}", bed.run_id);
    let said = stores.create_with(&mut bed, &name, &["--use"]);
    assert!(
        said.contains("is now the builder used when none is named"),
        "{said}"
    );
    // buildx marks its current builder with `*`, as after `docker buildx create --use`.
    let listed = stores.buildx_ls_works("create --use");
    assert!(
        listed.lines().any(|l| l.starts_with(&format!("{name}*"))),
        "{listed}"
    );
    // And a build that names no builder goes there, saying why.
    let context = small_context();
    let tag = format!("{registry}/used:{}", bed.run_id);
    let (code, _, stderr) = stores.kit(&[
        "build",
        "-t",
        &tag,
        "--platform",
        "linux/amd64",
        "--push",
        context.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "with builder `{name}` (docker-container driver; chosen by docker buildx use)"
        )),
        "{stderr}"
    );
    // `--use` is for buildx builders: an engine builder is refused before anything.
    let (code, _, stderr) = stores.kit(&["builder", "create", "--name", "e", "--use"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`--use` makes a buildx builder current"),
        "{stderr}"
    );
    let (code, _, stderr) = stores.kit(&["builder", "rm", &name]);
    assert_eq!(code, 0, "{stderr}");
}

#[engine_test]
async fn a_remote_builder_buildx_registered_is_listed_and_built_on() {
    let bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let stores = Stores::new();
    // A BuildKit daemon of its own, its socket in a folder of this test (0700, root's),
    // registered as buildx registers an existing daemon.
    let socket_dir = tempfile::tempdir().unwrap();
    let daemon = format!("multiarch-remote-buildkit-{}", bed.run_id);
    let mut labels = vec![];
    for (k, v) in bed.labels() {
        labels.push("--label".to_string());
        labels.push(format!("{k}={v}"));
    }
    let mut run = vec![
        "run".to_string(),
        "-d".into(),
        "--privileged".into(),
        "--name".into(),
        daemon.clone(),
        "--network".into(),
        "host".into(),
        "-v".into(),
        format!("{}:/run/buildkit", socket_dir.path().display()),
    ];
    run.extend(labels);
    run.extend([
        "multiarch-testbed/buildkit:debian".into(),
        "--addr".into(),
        "unix:///run/buildkit/buildkitd.sock".into(),
    ]);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    bed.run("docker", &run);
    let socket = socket_dir.path().join("buildkitd.sock");
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let name = format!("remote-{}", bed.run_id);
    let endpoint = format!("unix://{}", socket.display());
    let (code, _, stderr) =
        stores.buildx(&["create", "--name", &name, "--driver", "remote", &endpoint]);
    assert_eq!(code, 0, "{stderr}");

    let (code, listed, stderr) = stores.kit(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let row = common::row(&listed, &name);
    assert!(
        row.contains("remote") && row.contains("running") && row.contains("v0.25.0+debian"),
        "{row}"
    );
    let context = small_context();
    let tag = format!("{registry}/on-remote:{}", bed.run_id);
    let stdout = kit_build(&stores, &name, &tag, context.path(), &[]);
    assert_eq!(attestation_rows(&stdout), 2, "{stdout}");
    // `builder rm` of a remote builder forgets it, as `buildx rm` does; the daemon stays.
    let (code, _, stderr) = stores.kit(&["builder", "rm", &name]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stores.entries().is_empty(), "{:?}", stores.entries());
    let running = bed.run("docker", &["inspect", "-f", "{{.State.Running}}", &daemon]);
    assert_eq!(
        running.trim(),
        "true",
        "the daemon is not the kit's to remove"
    );
}

#[engine_test]
async fn a_remote_builder_behind_tls_is_built_on_with_its_certificate_and_refused_without() {
    let bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let stores = Stores::new();
    let tls = TlsDaemon::start(&bed);
    let (certs, strangers, port, endpoint) = (&tls.certs, &tls.strangers, tls.port, &tls.endpoint);
    // Registered as buildx registers a daemon behind TLS: the CA, and a client identity.
    let register = |name: &str, identity: &Path| {
        let opts = tls.driver_opts(identity);
        let (code, _, stderr) = stores.buildx(&[
            "create",
            "--name",
            name,
            "--driver",
            "remote",
            "--driver-opt",
            &opts,
            endpoint,
        ]);
        assert_eq!(code, 0, "{stderr}");
    };
    let trusted = format!("tls-{}", bed.run_id);
    register(&trusted, certs);

    let (code, listed, stderr) = stores.kit(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let row = common::row(&listed, &trusted);
    assert!(
        row.contains("remote") && row.contains("running") && row.contains("v0.25.0+debian"),
        "{row}"
    );
    let context = small_context();
    let tag = format!("{registry}/on-tls:{}", bed.run_id);
    let stdout = kit_build(&stores, &trusted, &tag, context.path(), &[]);
    assert_eq!(attestation_rows(&stdout), 2, "{stdout}");

    // A client certificate of another CA: the daemon refuses the handshake, the build
    // names the builder, and no tag is pushed.
    let stranger = format!("tls-stranger-{}", bed.run_id);
    register(&stranger, strangers);
    let refused = format!("{registry}/refused:{}", bed.run_id);
    let (code, stdout, stderr) = stores.kit(&[
        "build",
        "--builder",
        &stranger,
        "-t",
        &refused,
        "--platform",
        "linux/amd64",
        "--push",
        context.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&stranger) && stderr.contains(&format!("127.0.0.1:{port}")),
        "the error names the builder and its address:\n{stderr}"
    );
    let (code, _, _) = common::multiarch(&["inspect", &refused]);
    assert_ne!(code, 0, "nothing was pushed under `{refused}`");
    for name in [&trusted, &stranger] {
        let (code, _, stderr) = stores.kit(&["builder", "rm", name]);
        assert_eq!(code, 0, "{stderr}");
    }
}

#[engine_test]
async fn a_remote_builder_the_kit_registers_is_written_as_buildx_writes_it_and_built_on() {
    let bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let stores = Stores::new();
    let tls = TlsDaemon::start(&bed);
    let (certs, strangers, port, endpoint) = (&tls.certs, &tls.strangers, tls.port, &tls.endpoint);
    let opts = |identity: &Path| tls.driver_opts(identity);
    // `multiarch builder create --driver remote` with the CA and a client identity.
    let register = |name: &str, identity: &Path| {
        stores.kit(&[
            "builder",
            "create",
            "--name",
            name,
            "--driver",
            "remote",
            "--driver-opt",
            &opts(identity),
            endpoint,
        ])
    };

    // The kit's entry and buildx's own for the same daemon differ only by their names.
    let ours = format!("kit-remote-{}", bed.run_id);
    let (code, _, stderr) = register(&ours, certs);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("`docker buildx ls` lists it"), "{stderr}");
    let theirs = format!("buildx-remote-{}", bed.run_id);
    let (code, _, stderr) = stores.buildx(&[
        "create",
        "--name",
        &theirs,
        "--driver",
        "remote",
        "--driver-opt",
        &opts(certs),
        endpoint,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let entry = |name: &str| {
        std::fs::read_to_string(stores.buildx_dir().join("instances").join(name))
            .unwrap()
            .replace(name, "NAME")
    };
    let (kit_entry, buildx_entry) = (entry(&ours), entry(&theirs));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&kit_entry).unwrap(),
        serde_json::from_str::<serde_json::Value>(&buildx_entry).unwrap(),
        "kit:\n{kit_entry}\nbuildx:\n{buildx_entry}"
    );
    let (code, listed, stderr) = stores.buildx(&["ls"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&ours) && l.contains("remote")),
        "buildx lists the kit's builder:\n{listed}"
    );
    let context = small_context();
    let tag = format!("{registry}/kit-remote:{}", bed.run_id);
    let stdout = kit_build(&stores, &ours, &tag, context.path(), &[]);
    assert_eq!(attestation_rows(&stdout), 2, "{stdout}");
    let (_, _, stderr) = register(&ours, certs);
    assert!(
        stderr.contains("already exists (remote driver)"),
        "{stderr}"
    );

    // A daemon that refuses our certificate: named, and nothing recorded.
    let stranger = format!("kit-stranger-{}", bed.run_id);
    let (code, _, stderr) = register(&stranger, strangers);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("the builder `{stranger}` does not answer"))
            && stderr.contains(&format!("127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        !stores
            .buildx_dir()
            .join("instances")
            .join(&stranger)
            .exists(),
        "no entry for a builder that does not answer"
    );
    for name in [&ours, &theirs] {
        let (code, _, stderr) = stores.kit(&["builder", "rm", name]);
        assert_eq!(code, 0, "{stderr}");
    }
}
