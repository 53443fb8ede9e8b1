//! `multiarch` never prints a credential, not even with `-vv` (issue #6). A loopback
//! server plays a registry that wants a token: the password goes to its token endpoint
//! and the token to its manifest endpoint, as with Docker Hub or GHCR; the CLI logs at
//! trace level throughout, and neither secret may appear in anything it prints.

use crate::common;
use crate::common::engine_test;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;

const USER: &str = "workshop";
const PASSWORD: &str = "pw-S3CRET-4242";
const TOKEN: &str = "tok-S3CRET-9999";

async fn token_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let challenge = format!("Bearer realm=\"http://{address}/token\",service=\"fake\"");
    let challenge = HeaderValue::from_str(&challenge).unwrap();
    let basic = format!("Basic {}", common::base64(&format!("{USER}:{PASSWORD}")));
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
            common::base64(&format!("{USER}:{PASSWORD}"))
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
            common::base64(&format!("{USER}:{PASSWORD}")),
        ] {
            assert!(
                !output.contains(&secret),
                "`{secret}` was printed:\n{output}"
            );
        }
    }
}

/// Issue #13: `build --push` looked up credentials by splitting the tag again (for
/// `-t app:1`, a registry named `app`). The parsed reference now carries them to the
/// engine's push; a real registry that requires a password refuses the push without
/// them, with a clear error, and takes it with them.
#[engine_test]
async fn a_build_pushes_with_the_credentials_of_its_reference() {
    let mut bed = common::testbed().await;
    common::dist(&["amd64"]).await;
    // Debian's registry with htpasswd auth: bcrypt of PASSWORD, made once for this test.
    const PASSWORD: &str = "pw-Workshop-7";
    const HTPASSWD: &str =
        "workshop:$2b$06$7CUlH/NnD.wv36q0UKHEPu2iOv8xbG.70Hs7tJiV.tNWNnyWQNOWa\n";
    let auth = tempfile::tempdir().unwrap();
    std::fs::write(auth.path().join("htpasswd"), HTPASSWD).unwrap();
    let id = bed.run(
        "docker",
        &[
            "run",
            "-d",
            "--label",
            &format!("{}={}", common::RUN_LABEL, bed.run_id),
            "-p",
            "127.0.0.1::5000",
            "-v",
            &format!("{}:/auth:ro", auth.path().display()),
            "-e",
            "REGISTRY_AUTH=htpasswd",
            "-e",
            "REGISTRY_AUTH_HTPASSWD_REALM=workshop",
            "-e",
            "REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
            "registry:2",
        ],
    );
    let port = bed.run("docker", &["port", id.trim(), "5000/tcp"]);
    let registry = format!("127.0.0.1:{}", port.trim().rsplit(':').next().unwrap());
    let (status, _) = loop {
        if let Ok(answer) = common::http_get(&format!("http://{registry}/v2/")).await {
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status, 401, "the registry wants a password");
    let image = format!("{registry}/app:1");
    bed.track_image(&image);
    let state = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let build = |docker_config: &str| {
        common::multiarch_with(
            &[
                "build",
                "-t",
                &image,
                "--platform",
                "linux/amd64",
                "--build-context",
                "build=dist",
                "--push",
                ".",
            ],
            &[
                ("MULTIARCH_STATE_DIR", state.path().to_str().unwrap()),
                ("DOCKER_CONFIG", docker_config),
            ],
        )
    };

    // No credentials: the push is refused, and said so.
    let (code, _, stderr) = build(config.path().to_str().unwrap());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("the push of `{image}` did not complete")),
        "{stderr}"
    );

    // `docker login`'s entry for this registry: the push goes through.
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{registry}":{{"auth":"{}"}}}}}}"#,
            common::base64(&format!("workshop:{PASSWORD}"))
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = build(config.path().to_str().unwrap());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("linux/amd64"),
        "read back from the registry: {stdout}"
    );
}
