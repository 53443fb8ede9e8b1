//! What a person sees when something is wrong (issue #4): a message naming the value,
//! a `hint:` line, a non-zero exit, and never a panic. These cases need a live address
//! or engine; the fixed ones (arguments, files, broken registry answers) are the corpus
//! in `tests/bad-input/corpus.toml` (bad_input.rs).

use crate::common;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_where_https_was_expected_says_which_setting_to_change() {
    let Some(mut bed) = common::testbed().await else {
        return;
    };
    let registry = bed.start_registry().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_container_builder_that_is_down_or_asked_to_keep_the_image_is_named() {
    let Some(_bed) = common::testbed().await else {
        return;
    };
    // The builder as `builder create --driver docker-container` records it, with its
    // container gone (no moby/buildkit image can run here).
    let state = tempfile::tempdir().unwrap();
    let port = common::free_port();
    std::fs::write(
        state.path().join("builders.json"),
        format!(
            r#"{{"remote":{{"name":"remote","driver":"docker-container","config":null,"image":"moby/buildkit:v0.16.0","port":{port}}}}}"#
        ),
    )
    .unwrap();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let state_dir = state.path().to_str().unwrap();
    let env = [("MULTIARCH_STATE_DIR", state_dir)];
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--builder", "remote", "-t", "localhost:5000/x:1"];
        args.extend_from_slice(extra);
        args.push(context.path().to_str().unwrap());
        common::multiarch_with(&args, &env)
    };

    let (code, _, stderr) = build(&["--push"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "error: the builder `remote` does not answer at 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: is its container running?"),
        "{stderr}"
    );

    let (code, _, stderr) = build(&[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("keeps what it builds to itself: add `--push`"),
        "{stderr}"
    );
}
