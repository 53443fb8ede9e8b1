//! The router: every route, its middleware, and the handlers.
//!
//! [`app`] builds the whole service from an [`AppState`], so tests drive it with
//! `tower::ServiceExt::oneshot` exactly as the socket server does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;
use crate::machine::MachineInfo;
use crate::memory::Activity;

/// Bodies larger than this are refused with `413` before they are read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The OpenAPI 3 description of this API, served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// What every handler can see.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    machine: MachineInfo,
    arch_json: Bytes,
    index_html: String,
    ready: AtomicBool,
    activity: Activity,
}

impl AppState {
    /// State for a server on `machine`, not ready until [`AppState::mark_ready`].
    pub fn new(machine: MachineInfo) -> Self {
        // `/arch` never changes while the process lives: serialise it once.
        let arch_json =
            Bytes::from(serde_json::to_vec(&machine.answer()).expect("plain strings serialise"));
        let index_html = render_index(&machine);
        Self {
            inner: Arc::new(Inner {
                machine,
                arch_json,
                index_html,
                ready: AtomicBool::new(false),
                activity: Activity::default(),
            }),
        }
    }

    /// Lets `/readyz` answer `200`.
    pub fn mark_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
    }

    /// Whether `/readyz` answers `200`.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// The request counter the heap trimmer watches ([`crate::memory`]).
    pub fn activity(&self) -> &Activity {
        &self.inner.activity
    }

    /// The machine this state describes.
    pub fn machine(&self) -> &MachineInfo {
        &self.inner.machine
    }
}

/// Builds the service: routes, JSON errors, request logs, body and time limits.
pub fn app(state: AppState, request_timeout: Duration) -> Router {
    let activity = state.activity().clone();
    Router::new()
        .route("/", get(index))
        .route("/arch", get(arch))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/increment", post(increment))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    // The matched route, not the raw path, so logs group by endpoint.
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("<unmatched>", MatchedPath::as_str);
                    tracing::debug_span!("request", method = %request.method(), route, path = %request.uri().path())
                })
                // One line per request at DEBUG: formatting a line per request at the
                // default level would cost a third of the throughput (BENCHMARKS.md).
                // Failures (5xx, timeouts) are logged at ERROR whatever the level.
                .on_request(move |_: &Request, _: &tracing::Span| activity.record())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .with_state(state)
}

async fn arch(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.inner.arch_json.clone(),
    )
        .into_response()
}

async fn index(State(state): State<AppState>) -> Html<String> {
    Html(state.inner.index_html.clone())
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Status>) {
    if state.is_ready() {
        (StatusCode::OK, Json(Status { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Status {
                status: "warming up",
            }),
        )
    }
}

/// The body of `POST /increment`, request and answer alike.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Counter {
    /// The number to increment, or the incremented number.
    pub value: i64,
}

async fn increment(
    body: Result<Json<Counter>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Counter>, ApiError> {
    let Json(Counter { value }) = body?;
    let value = value.checked_add(1).ok_or(ApiError::Overflow(value))?;
    Ok(Json(Counter { value }))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

fn render_index(machine: &MachineInfo) -> String {
    let name = |p: Option<&multiarch_platform::Platform>| {
        p.map_or_else(|| "unknown".to_string(), ToString::to_string)
    };
    let program = name(machine.program_platform().as_ref());
    let kernel = name(machine.platform.as_ref());
    let kernel_line = if machine.differs_from_kernel() {
        format!("{kernel} (not the program's {program}: the kernel runs it beside its own)")
    } else {
        format!("{kernel} (the program's own)")
    };
    let (emulated, evidence) = machine.emulation();
    let emulated = match emulated {
        multiarch_platform::Emulated::Yes => "yes",
        multiarch_platform::Emulated::CannotTell => "cannot tell",
    };
    include_str!("index.html")
        .replace("{{architecture}}", &escape(&machine.machine))
        .replace("{{platform}}", &escape(&program))
        .replace("{{kernel}}", &escape(&kernel_line))
        .replace("{{emulated}}", emulated)
        .replace("{{emulation_evidence}}", &escape(&evidence))
        .replace("{{hostname}}", &escape(&machine.hostname))
        .replace("{{os}}", &escape(&machine.os))
        .replace("{{version}}", machine.version)
        .replace("{{build_target}}", machine.build_target)
        .replace("{{compiled_for}}", machine.compiled_for())
}

/// Escapes text for HTML: hostnames come from outside the program.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use rstest::rstest;
    use tower::ServiceExt;

    fn test_app(machine: &str) -> (AppState, Router) {
        let state = AppState::new(MachineInfo::from_parts(
            machine.into(),
            "linux".into(),
            "box<1>".into(),
        ));
        state.mark_ready();
        (state.clone(), app(state, Duration::from_secs(10)))
    }

    async fn send(router: Router, request: Request) -> (StatusCode, String, String) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    fn get_request(path: &str) -> Request {
        Request::get(path).body(Body::empty()).unwrap()
    }

    fn post_json(path: &str, body: impl Into<Body>) -> Request {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap()
    }

    #[rstest]
    #[case("aarch64", "linux/arm64")]
    #[case("x86_64", "linux/amd64")]
    #[case("armv7l", "linux/arm/v7")]
    #[tokio::test]
    async fn arch_answers_the_machine_as_the_fastapi_demo_did(
        #[case] machine: &str,
        #[case] kernel: &str,
    ) {
        let (_, router) = test_app(machine);
        let (status, content_type, body) = send(router, get_request("/arch")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["architecture"], machine);
        assert_eq!(json["kernel"], kernel);
        assert_eq!(json["os"], "linux");
        assert_eq!(json["compiled_for"], std::env::consts::ARCH);
        // This test binary is the host's; the machine it plays may be another.
        assert_eq!(json["differs_from_kernel"], json["platform"] != kernel);
        assert_eq!(json["emulated"], "cannot tell");
    }

    #[tokio::test]
    async fn an_unknown_machine_has_no_platform_but_still_answers() {
        let (_, router) = test_app("pdp11");
        let (status, _, body) = send(router, get_request("/arch")).await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["architecture"], "pdp11");
        assert!(json.get("kernel").is_none());
        assert_eq!(json["differs_from_kernel"], false);
    }

    #[tokio::test]
    async fn the_page_shows_the_machine_and_escapes_the_hostname() {
        let (_, router) = test_app("aarch64");
        let (status, content_type, body) = send(router, get_request("/")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/html"));
        assert!(body.contains("aarch64"));
        assert!(body.contains("linux/arm64"), "the kernel's platform");
        assert!(body.contains("Emulated"));
        assert!(body.contains("box&lt;1&gt;"), "hostname escaped");
        assert!(!body.contains("{{"), "every placeholder filled");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "no external assets"
        );
    }

    #[tokio::test]
    async fn readiness_waits_for_the_warm_up() {
        let state = AppState::new(MachineInfo::from_parts(
            "x86_64".into(),
            "linux".into(),
            "h".into(),
        ));
        let router = app(state.clone(), Duration::from_secs(10));
        let (status, _, body) = send(router.clone(), get_request("/readyz")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, r#"{"status":"warming up"}"#);
        let (status, _, _) = send(router.clone(), get_request("/healthz")).await;
        assert_eq!(status, StatusCode::OK, "alive while warming up");
        state.mark_ready();
        let (status, _, body) = send(router, get_request("/readyz")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"status":"ready"}"#);
    }

    #[rstest]
    #[case("{\"value\": 41}", 200, "{\"value\":42}")]
    #[case("{\"value\": -1}", 200, "{\"value\":0}")]
    #[case(
        "{\"value\": 9223372036854775806}",
        200,
        "{\"value\":9223372036854775807}"
    )]
    #[case(
        "{\"value\": 9223372036854775807}",
        422,
        "does not fit in a 64-bit integer"
    )]
    #[case(
        "{\"value\": 1.5}",
        422,
        "invalid type: floating point `1.5`, expected i64"
    )]
    #[case(
        "{\"value\": \"1\"}",
        422,
        "invalid type: string \\\"1\\\", expected i64"
    )]
    #[case("{\"value\": 99999999999999999999}", 422, "expected i64")]
    #[case("{}", 422, "missing field `value`")]
    #[case("{\"value\": 1, \"extra\": 2}", 422, "unknown field `extra`")]
    #[case("{\"value\": ", 400, "EOF while parsing")]
    #[case("1", 422, "expected struct Counter")]
    #[case("", 400, "EOF while parsing")]
    #[tokio::test]
    async fn increment_adds_one_or_says_why_not(
        #[case] body: &'static str,
        #[case] status: u16,
        #[case] fragment: &str,
    ) {
        let (_, router) = test_app("x86_64");
        let (got, content_type, text) = send(router, post_json("/increment", body)).await;
        assert_eq!(got.as_u16(), status, "{text}");
        assert_eq!(content_type, "application/json");
        assert!(text.contains(fragment), "{text}");
        if status >= 400 {
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(json["error"].is_string());
        }
    }

    #[tokio::test]
    async fn increment_needs_a_json_content_type() {
        let (_, router) = test_app("x86_64");
        let request = Request::post("/increment")
            .body(Body::from("{\"value\": 1}"))
            .unwrap();
        let (status, _, body) = send(router, request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(body.contains("Content-Type: application/json"), "{body}");
    }

    #[tokio::test]
    async fn a_large_body_is_refused() {
        let (_, router) = test_app("x86_64");
        let big = format!(
            "{{\"value\": 1, \"pad\": \"{}\"}}",
            "x".repeat(10 * 1024 * 1024)
        );
        let (status, _, body) = send(router, post_json("/increment", big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("too large"), "{body}");
    }

    #[tokio::test]
    async fn openapi_describes_every_route() {
        let (_, router) = test_app("x86_64");
        let (status, content_type, body) = send(router, get_request("/openapi.json")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        let spec: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
        for path in [
            "/",
            "/arch",
            "/healthz",
            "/readyz",
            "/increment",
            "/openapi.json",
        ] {
            assert!(spec["paths"].get(path).is_some(), "{path} is described");
        }
    }

    /// schemathesis found the schema promising every int64 while i64::MAX gets 422 (issue #6).
    #[test]
    fn the_schema_says_which_values_increment() {
        let spec: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let request = &spec["components"]["schemas"]["IncrementRequest"]["properties"]["value"];
        assert_eq!(request["maximum"].as_i64(), Some(i64::MAX - 1));
        let answer = &spec["components"]["schemas"]["Counter"]["properties"]["value"];
        assert!(
            answer.get("maximum").is_none(),
            "the answer may be i64::MAX"
        );
    }

    #[rstest]
    #[case(Method::GET, "/nope", 404, "no route for GET /nope")]
    #[case(Method::GET, "/arch/", 404, "no route for GET /arch/")]
    #[case(Method::POST, "/arch", 405, "POST is not allowed on /arch")]
    #[case(Method::GET, "/increment", 405, "GET is not allowed on /increment")]
    #[tokio::test]
    async fn unknown_routes_and_methods_answer_json(
        #[case] method: Method,
        #[case] path: &str,
        #[case] status: u16,
        #[case] message: &str,
    ) {
        let (_, router) = test_app("x86_64");
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let (got, content_type, body) = send(router, request).await;
        assert_eq!(got.as_u16(), status);
        assert_eq!(content_type, "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], message);
    }
}
