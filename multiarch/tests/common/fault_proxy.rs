//! A registry as the internet runs it (issue #26): an HTTP proxy in front of the test
//! bed's registry that answers some requests 503, some 429 with `Retry-After: 1`, cuts
//! some blob bodies short (the connection dies after half the bytes) and delays others.
//! Which request meets which fault is decided by a seed, the request's method and path and
//! how often it was asked before, never by timing, so a failing run replays with its seed.
//! Each request meets at most [`FAULTS_PER_REQUEST`] faults, so that a client that
//! retries gets through. [`Mode::FailEverything`] answers 503 to everything;
//! [`Mode::Counting`] passes everything and counts what a client asks for.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

/// How many faults one request (method and path) meets at most.
pub const FAULTS_PER_REQUEST: u32 = 2;

/// What the proxy does.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Faults for a share of requests, chosen by the seed.
    Flaky {
        /// The seed; the same seed makes the same choices.
        seed: u64,
    },
    /// 503 for every request.
    FailEverything,
    /// No fault: every request passes and is counted (how often a client asks for each
    /// blob), and manifest answers say `ratelimit-remaining: N;w=21600`, as Docker Hub's do.
    Counting {
        /// The pulls the registry says are left.
        rate_limit: u64,
    },
    /// No fault, but a manifest `PUT` whose path holds this text answers 403 `DENIED`, as a
    /// registry answers a write to an immutable tag: a release that fails half-way.
    RefusePut(String),
}

/// A fault a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Answered 503.
    Unavailable,
    /// Answered 429 with `Retry-After: 1`.
    TooMany,
    /// The body was cut after half its bytes.
    Cut,
    /// Answered after 300 ms.
    Delayed,
    /// Answered 403 `DENIED`, and never let through ([`Mode::RefusePut`]).
    Refused,
}

/// A running proxy.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`, a registry address the kit speaks plain HTTP to.
    pub address: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Seen {
    /// How often each method and path was asked.
    asked: HashMap<String, u32>,
    /// How many faults each met.
    faulted: HashMap<String, u32>,
    /// Faults by kind.
    faults: HashMap<Fault, u32>,
    requests: u32,
    /// Bytes of the answers' bodies.
    bytes: u64,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`127.0.0.1:5000`).
    pub async fn start(upstream: &str, mode: Mode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let state = Arc::new(Proxy {
            upstream: upstream.to_string(),
            address: address.clone(),
            mode,
            seen: seen.clone(),
            client: {
                // Self-contained (the fault-proxy example includes this file alone): the
                // build's one crypto provider for rustls, named for the process.
                let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
            }
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        });
        let app = axum::Router::new().fallback(move |method, uri, headers, body| {
            let state = state.clone();
            async move { state.handle(method, uri, headers, body).await }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            seen,
            task,
        }
    }

    /// Faults met so far, by kind, and requests in all.
    pub fn faults(&self) -> (HashMap<Fault, u32>, u32) {
        let seen = self.seen.lock().unwrap();
        (seen.faults.clone(), seen.requests)
    }

    /// Bytes of every answer's body so far.
    pub fn bytes(&self) -> u64 {
        self.seen.lock().unwrap().bytes
    }

    /// How often the most asked of the paths of `method` that contain `part` was asked.
    pub fn most_asked(&self, method: &str, part: &str) -> u32 {
        let seen = self.seen.lock().unwrap();
        seen.asked
            .iter()
            .filter(|(identity, _)| {
                identity
                    .split_once(' ')
                    .is_some_and(|(m, path)| m == method && path.contains(part))
            })
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    }

    /// How many requests of `method` for paths that contain `part` were made.
    pub fn asked(&self, method: &str, part: &str) -> u32 {
        let seen = self.seen.lock().unwrap();
        seen.asked
            .iter()
            .filter(|(identity, _)| {
                identity
                    .split_once(' ')
                    .is_some_and(|(m, path)| m == method && path.contains(part))
            })
            .map(|(_, n)| n)
            .sum()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Proxy {
    upstream: String,
    address: String,
    mode: Mode,
    seen: Arc<Mutex<Seen>>,
    client: reqwest::Client,
}

impl Proxy {
    /// The fault for this request, if any, and counts it.
    fn choose(&self, method: &Method, path: &str) -> Option<Fault> {
        let identity = format!("{method} {path}");
        let mut seen = self.seen.lock().unwrap();
        seen.requests += 1;
        let asked = {
            let asked = seen.asked.entry(identity.clone()).or_default();
            *asked += 1;
            *asked
        };
        let fault = match &self.mode {
            Mode::FailEverything => Some(Fault::Unavailable),
            Mode::Counting { .. } => None,
            Mode::RefusePut(part) => (*method == Method::PUT
                && path.contains("/manifests/")
                && path.contains(part.as_str()))
            .then_some(Fault::Refused),
            &Mode::Flaky { seed } => {
                let faulted = seen.faulted.get(&identity).copied().unwrap_or(0);
                if faulted >= FAULTS_PER_REQUEST {
                    return None;
                }
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                (seed, &identity, asked).hash(&mut hasher);
                let blob_get = *method == Method::GET && path.contains("/blobs/sha256:");
                match hasher.finish() % 100 {
                    0..20 => Some(Fault::Unavailable),
                    20..26 => Some(Fault::TooMany),
                    26..56 if blob_get => Some(Fault::Cut),
                    56..66 => Some(Fault::Delayed),
                    _ => None,
                }
            }
        };
        if let Some(fault) = fault {
            *seen.faulted.entry(identity).or_default() += 1;
            *seen.faults.entry(fault).or_default() += 1;
        }
        fault
    }

    async fn handle(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> Response<Body> {
        let fault = self.choose(&method, uri.path());
        match fault {
            Some(Fault::Unavailable) => return status(StatusCode::SERVICE_UNAVAILABLE, None),
            Some(Fault::Refused) => return status(StatusCode::FORBIDDEN, None),
            Some(Fault::TooMany) => return status(StatusCode::TOO_MANY_REQUESTS, Some("1")),
            Some(Fault::Delayed) => tokio::time::sleep(Duration::from_millis(300)).await,
            Some(Fault::Cut) | None => {}
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.upstream))
            .body(body);
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(_) => return status(StatusCode::BAD_GATEWAY, None),
        };
        let code = answer.status();
        let mut response_headers = answer.headers().clone();
        // Upload locations name the registry; clients must come back through the proxy.
        if let Some(location) = response_headers
            .get("location")
            .and_then(|l| l.to_str().ok())
        {
            let rewritten = location.replace(&self.upstream, &self.address);
            response_headers.insert("location", HeaderValue::from_str(&rewritten).unwrap());
        }
        let bytes = answer.bytes().await.unwrap_or_default();
        self.seen.lock().unwrap().bytes += bytes.len() as u64;
        let body = if fault == Some(Fault::Cut) && bytes.len() > 1 {
            // The length promised, half the bytes sent, then the connection dies.
            let half = bytes.slice(..bytes.len() / 2);
            Body::from_stream(futures_util::stream::iter([
                Ok(half),
                Err(std::io::Error::other("connection cut by the fault proxy")),
            ]))
        } else {
            Body::from(bytes)
        };
        if let (Mode::Counting { rate_limit }, true) = (&self.mode, path.contains("/manifests/")) {
            response_headers.insert(
                "ratelimit-remaining",
                HeaderValue::from_str(&format!("{rate_limit};w=21600")).unwrap(),
            );
        }
        let mut response = Response::new(body);
        *response.status_mut() = code;
        response_headers.remove("transfer-encoding");
        *response.headers_mut() = response_headers;
        response
    }
}

/// An answer as a busy registry gives it, with the distribution API's error envelope
/// (Docker Hub's rate limit says `TOOMANYREQUESTS`).
fn status(code: StatusCode, retry_after: Option<&str>) -> Response<Body> {
    let name = match code {
        StatusCode::TOO_MANY_REQUESTS => "TOOMANYREQUESTS",
        StatusCode::FORBIDDEN => "DENIED",
        _ => "UNAVAILABLE",
    };
    let mut response = Response::new(Body::from(format!(
        "{{\"errors\":[{{\"code\":\"{name}\",\"message\":\"the fault proxy says no\"}}]}}"
    )));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_str(seconds).unwrap());
    }
    response
}
