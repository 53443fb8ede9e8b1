//! The `multiarch` cases of the bad-input corpus (`tests/bad-input/corpus.toml`): CLI
//! arguments, `registry.yml`, `buildkitd.toml`, and registry answers, which come from a
//! small real HTTP server on loopback playing a broken registry.

#[path = "../../tests/bad-input/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::path::PathBuf;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;

const INDEX: &str =
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// What `/v2/<case>/manifests/latest` answers: a whole broken registry in one server.
fn answer(case: &str, own_address: &str) -> (StatusCode, HeaderMap, String) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
    );
    let body = match case {
        "digest" => {
            headers.insert(
                "docker-content-digest",
                HeaderValue::from_static(
                    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                ),
            );
            INDEX.to_string()
        }
        "json" => "{not json".to_string(),
        "media" => {
            headers.insert("content-type", HeaderValue::from_static("text/html"));
            "<html>hello</html>".to_string()
        }
        "unauthorized" => {
            return (
                StatusCode::UNAUTHORIZED,
                headers,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .into(),
            );
        }
        "noplatform" => include_str!("fixtures/index-no-platform.json").to_string(),
        // 8 MiB of valid JSON: no registry should send a manifest that size.
        "huge" => format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{{"padding":"{}"}}}}"#,
            "x".repeat(8 << 20)
        ),
        "redirect" => {
            headers.insert(
                "location",
                HeaderValue::from_str(&format!(
                    "http://{own_address}/v2/redirect/manifests/latest"
                ))
                .unwrap(),
            );
            return (StatusCode::FOUND, headers, String::new());
        }
        "error" => return (StatusCode::INTERNAL_SERVER_ERROR, headers, "oops".into()),
        _ => INDEX.to_string(),
    };
    (StatusCode::OK, headers, body)
}

async fn broken_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let own = address.clone();
    let app = Router::new().route("/v2/", get(|| async { "{}" })).route(
        "/v2/{case}/manifests/latest",
        get(move |Path(case): Path<String>| {
            let own = own.clone();
            async move { answer(&case, &own) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_clear_message_and_exit_code() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let corpus = harness::load(&root);
    let registry = broken_registry().await;
    let vars = HashMap::from([("registry", registry)]);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_multiarch"));
    let (count, failures) =
        tokio::task::spawn_blocking(move || harness::run(&corpus, "multiarch", &binary, &vars))
            .await
            .unwrap();
    assert!(count >= 30, "only {count} multiarch cases in the corpus");
    assert!(
        failures.is_empty(),
        "{} of {count} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
