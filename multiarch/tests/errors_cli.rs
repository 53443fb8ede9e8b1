//! What a person sees when something is wrong (issue #4): a message naming the value,
//! a `hint:` line, a non-zero exit, and never a panic. Registry answers come from a
//! small real HTTP server on loopback playing a broken registry.

mod common;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use rstest::rstest;

/// Serves `/v2/` and one manifest at `/v2/broken/manifests/latest` as the case asks.
async fn broken_registry(case: &'static str) -> String {
    let manifest = move || async move {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
        );
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        match case {
            "digest" => {
                headers.insert(
                    "docker-content-digest",
                    HeaderValue::from_static(
                        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                    ),
                );
                (StatusCode::OK, headers, index.to_string())
            }
            "json" => (StatusCode::OK, headers, "{not json".to_string()),
            "media" => {
                headers.insert("content-type", HeaderValue::from_static("text/html"));
                (StatusCode::OK, headers, "<html>hello</html>".to_string())
            }
            "unauthorized" => (
                StatusCode::UNAUTHORIZED,
                headers,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .to_string(),
            ),
            _ => (StatusCode::OK, headers, index.to_string()),
        }
    };
    let app = Router::new()
        .route("/v2/", get(|| async { "{}" }))
        .route("/v2/broken/manifests/latest", get(manifest));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[rstest]
#[case::digest(
    "digest",
    "the content's digest is not",
    "hint: the registry or something between you and it altered the content"
)]
#[case::malformed_json("json", "something unusable: not JSON", "error: cannot inspect")]
#[case::wrong_media_type("media", "something unusable", "error: cannot inspect")]
#[case::unauthorized(
    "unauthorized",
    "refused access to",
    "hint: log in first: `docker login <registry>`"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_registry_answers_are_refused(
    #[case] case: &'static str,
    #[case] message: &str,
    #[case] hint: &str,
) {
    let address = broken_registry(case).await;
    let image = format!("{address}/broken:latest");
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || common::multiarch(&["inspect", &image]))
            .await
            .unwrap();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing on stdout: {stdout}");
    assert!(stderr.contains(message), "{stderr}");
    assert!(stderr.contains(hint), "{stderr}");
}

#[rstest]
#[case::empty_reference(&["inspect", ""], "error: `` is not a valid image reference: it is empty")]
#[case::uppercase(&["inspect", "Localhost:5000/App"], "is not a valid image reference")]
#[case::bad_platform(&["verify", "--platform", "amd64", "localhost:5000/x"], "`amd64` has no operating system: write it as `linux/amd64`")]
#[case::empty_platform(&["pull", "--platform", "", "localhost:5000/x"], "the platform is empty")]
#[case::arm64_v9(&["pull", "--platform", "linux/arm64/v9", "localhost:5000/x"], "`v9` is not a variant of `arm64`")]
#[case::unknown_subcommand(&["frobnicate"], "unrecognized subcommand 'frobnicate'")]
fn bad_arguments_are_named(#[case] args: &[&str], #[case] message: &str) {
    let (code, _, stderr) = common::multiarch(args);
    assert_ne!(code, 0);
    assert!(stderr.contains(message), "{stderr}");
}

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
