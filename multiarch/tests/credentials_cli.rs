//! `multiarch` never prints a credential, not even with `-vv` (issue #6). A loopback
//! server plays a registry that wants a token: the password goes to its token endpoint
//! and the token to its manifest endpoint, as with Docker Hub or GHCR; the CLI logs at
//! trace level throughout, and neither secret may appear in anything it prints.

use crate::common;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;

const USER: &str = "workshop";
const PASSWORD: &str = "pw-S3CRET-4242";
const TOKEN: &str = "tok-S3CRET-9999";

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn token_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let challenge = format!("Bearer realm=\"http://{address}/token\",service=\"fake\"");
    let challenge = HeaderValue::from_str(&challenge).unwrap();
    let basic = format!("Basic {}", base64(&format!("{USER}:{PASSWORD}")));
    let unauthorized = {
        let challenge = challenge.clone();
        move || {
            let mut headers = HeaderMap::new();
            headers.insert("www-authenticate", challenge.clone());
            (StatusCode::UNAUTHORIZED, headers, String::new())
        }
    };
    let app = Router::new()
        .route("/v2/", get({
            let unauthorized = unauthorized.clone();
            move || async move { unauthorized() }
        }))
        .route("/token", get(move |headers: HeaderMap| async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(basic.as_str()) {
                (StatusCode::OK, format!(r#"{{"token":"{TOKEN}","access_token":"{TOKEN}"}}"#))
            } else {
                (StatusCode::UNAUTHORIZED, String::new())
            }
        }))
        .route("/v2/private/manifests/latest", get(move |headers: HeaderMap| async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}")) {
                let mut headers = HeaderMap::new();
                headers.insert("content-type", HeaderValue::from_static("application/vnd.oci.image.index.v1+json"));
                (StatusCode::OK, headers, r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_string())
            } else {
                unauthorized()
            }
        }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_appear_in_output_even_at_trace_level() {
    let address = token_registry().await;
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{address}":{{"auth":"{}"}}}}}}"#,
            base64(&format!("{USER}:{PASSWORD}"))
        ),
    )
    .unwrap();
    let docker_config = config.path().to_str().unwrap().to_string();
    let image = format!("{address}/private:latest");
    // `-vv` as a person types it, then everything every crate can log.
    for rust_log in [None, Some("trace")] {
        let (docker_config, image) = (docker_config.clone(), image.clone());
        let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
            let mut env = vec![("DOCKER_CONFIG", docker_config.as_str())];
            env.extend(rust_log.map(|level| ("RUST_LOG", level)));
            common::multiarch_with(&["inspect", "-vv", &image], &env)
        })
        .await
        .unwrap();
        // The credentials were used: the registry only answers with the token.
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert!(stderr.contains("Making authentication call"), "{stderr}");
        let output = format!("{stdout}\n{stderr}");
        for secret in [
            PASSWORD.to_string(),
            TOKEN.to_string(),
            base64(&format!("{USER}:{PASSWORD}")),
        ] {
            assert!(
                !output.contains(&secret),
                "`{secret}` was printed:\n{output}"
            );
        }
    }
}
