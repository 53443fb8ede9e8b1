//! What a person sees when something is wrong (issue #4): a message naming the value,
//! a `hint:` line, a non-zero exit, and never a panic. These cases need a live address
//! or engine; the fixed ones (arguments, files, broken registry answers) are the corpus
//! in `tests/bad-input/corpus.toml` (bad_input.rs).

use crate::common;
use crate::common::engine_test;

#[test]
fn a_registry_that_does_not_answer_is_named() {
    let port = common::free_port();
    let (code, _, stderr) = common::multiarch(&["inspect", &format!("localhost:{port}/x:1")]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("cannot reach the registry `localhost:{port}`")),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: is the registry running?"),
        "{stderr}"
    );
}

#[test]
fn an_engine_that_does_not_answer_is_named() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .args(["registry", "status"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("error: cannot reach the Docker engine"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: start Docker"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[engine_test]
async fn plain_http_where_https_was_expected_says_which_setting_to_change() {
    let _bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let port = registry.rsplit_once(':').unwrap().1.to_string();
    // 0.0.0.0 reaches this machine but is not a name Docker treats as local.
    let remote_looking = format!("0.0.0.0:{port}");
    let image = format!("{remote_looking}/nothing:1");
    let (code, _, stderr) = common::multiarch(&["inspect", &image]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "cannot reach `{remote_looking}` over HTTPS: it answers plain HTTP"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("hint: pass `--insecure {remote_looking}`")),
        "{stderr}"
    );
    let (code, _, stderr) = common::multiarch(&["inspect", "--insecure", &remote_looking, &image]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("was not found in the registry"),
        "over HTTP it gets an answer: {stderr}"
    );
}

#[engine_test]
async fn a_builder_that_is_down_old_or_asked_to_keep_the_image_is_named() {
    let mut bed = common::testbed().await;
    // Builders as buildx writes them: a remote BuildKit on a port where nothing listens,
    // a docker-container builder whose image cannot be had, a kubernetes fleet; and one
    // in the record of an earlier multiarch (its BuildKit on a TCP port).
    let state = tempfile::tempdir().unwrap();
    let instances = state.path().join("buildx/instances");
    std::fs::create_dir_all(&instances).unwrap();
    let port = common::free_port();
    std::fs::write(
        instances.join("remote"),
        format!(
            r#"{{"Name":"remote","Driver":"remote","Nodes":[{{"Name":"remote0","Endpoint":"tcp://127.0.0.1:{port}","Platforms":null,"DriverOpts":null,"Flags":null,"Files":null}}],"Dynamic":false}}"#
        ),
    )
    .unwrap();
    let missing = format!("gone-{}", bed.run_id);
    bed.track_builder(&missing);
    std::fs::write(
        instances.join(&missing),
        format!(
            r#"{{"Name":"{missing}","Driver":"docker-container","Nodes":[{{"Name":"{missing}0","Endpoint":"unix:///var/run/docker.sock","Platforms":null,"DriverOpts":{{"image":"localhost:1/no-such-buildkit:1","network":"host"}},"Flags":null,"Files":null}}],"Dynamic":false}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        instances.join("fleet"),
        r#"{"Name":"fleet","Driver":"kubernetes","Nodes":[{"Name":"fleet0","Endpoint":"kubernetes:///fleet?deploymentName=fleet0","Platforms":[{"architecture":"arm64","os":"linux"}],"DriverOpts":{"nodeselector":"kubernetes.io/arch=arm64"},"Flags":null,"Files":null}],"Dynamic":false}"#,
    )
    .unwrap();
    std::fs::write(
        state.path().join("builders.json"),
        r#"{"old":{"name":"old","driver":"docker-container","config":null,"image":"moby/buildkit:v0.16.0","port":1234}}"#,
    )
    .unwrap();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let state_dir = state.path().to_str().unwrap();
    let env = [("MULTIARCH_STATE_DIR", state_dir)];
    let build = |builder: &str, extra: &[&str]| {
        let mut args = vec!["build", "--builder", builder, "-t", "localhost:5000/x:1"];
        args.extend_from_slice(extra);
        args.push(context.path().to_str().unwrap());
        common::multiarch_with(&args, &env)
    };

    let (code, _, stderr) = build("remote", &["--push"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "error: the builder `remote` does not answer through tcp://127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: `multiarch builder ls` shows its status"),
        "{stderr}"
    );

    let (code, _, stderr) = build(&missing, &["--push"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("localhost:1/no-such-buildkit:1"),
        "the image it could not have is named: {stderr}"
    );
    bed.assert_no_containers(&format!("name=buildx_buildkit_{missing}0"), &stderr);

    let (code, _, stderr) = build("old", &["--push"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("made by an earlier multiarch, with a BuildKit port open on loopback")
            && stderr
                .contains("hint: make it again as a buildx builder: `multiarch builder rm old"),
        "{stderr}"
    );

    // A kubernetes builder is built on through buildx, which says why it cannot reach
    // the cluster (there is none here).
    let (code, _, stderr) = build("fleet", &["--push"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "error: the builder `fleet` does not answer through `docker buildx --builder fleet dial-stdio`"
        ) && stderr.contains("caused by: cannot determine Kubernetes namespace")
            && stderr.contains("hint: `multiarch builder ls` shows its status"),
        "{stderr}"
    );

    // Its BuildKit takes an SBOM request, so the build goes as far as buildx, which
    // cannot reach it; it is not refused as if it were the engine's own BuildKit.
    let (code, _, stderr) = build("fleet", &["--push", "--sbom=true"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: the builder `fleet` does not answer through")
            && !stderr.contains("cannot be honoured"),
        "{stderr}"
    );
    // Without `--push`, each is named with its own driver.
    let (code, _, stderr) = build("fleet", &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "error: the builder `fleet` (kubernetes) keeps what it builds to itself: add `--push`"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = build("remote", &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "error: the builder `remote` (remote) keeps what it builds to itself: add `--push`"
        ),
        "{stderr}"
    );
    // `builder ls` lists all three, each with what it is.
    let (code, listed, stderr) = common::multiarch_with(&["builder", "ls"], &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(listed.contains("unreachable"), "{listed}");
    assert!(listed.contains("inactive"), "{listed}");
    assert!(listed.contains("made by an earlier multiarch"), "{listed}");
    assert!(
        common::row(&listed, "fleet")
            .contains("unreachable: cannot determine Kubernetes namespace"),
        "{listed}"
    );
}
