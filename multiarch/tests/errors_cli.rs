//! What a person sees when something is wrong (issue #4): a message naming the value,
//! a `hint:` line, a non-zero exit, and never a panic. These cases need a live address
//! or engine; the fixed ones (arguments, files, broken registry answers) are the corpus
//! in `tests/bad-input/corpus.toml` (bad_input.rs).

mod common;

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
