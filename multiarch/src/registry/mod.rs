//! Talking to an OCI registry: manifests, configs and blobs, digests checked.
//!
//! `oci-client` does the protocol (token auth, the distribution API, digest checks of
//! what it downloads); this module chooses plain HTTP or HTTPS per registry, finds
//! credentials in the Docker config, and turns transport failures into errors that say
//! which setting to change. Local registries (`localhost`, `127.0.0.1`, `[::1]`) are
//! spoken to over plain HTTP, as Docker itself does; others only when marked insecure.
//!
//! By job: [`Registry`] and how it speaks to each registry (here), reading ([`read`]),
//! writing ([`write`]), what a failure means ([`classify`]), trust ([`certs`]),
//! credentials ([`credentials`]), whether a registry speaks plain HTTP ([`probe`]), and
//! transient failures tried again ([`retry`]).

mod certs;
mod classify;
mod credentials;
mod error;
mod head;
pub mod probe;
mod read;
pub mod retry;
mod write;

use certs::certs_d_roots;
pub(crate) use credentials::engine_credentials;
pub use credentials::stored_login;
pub use error::RegistryError;
pub use head::{Head, RateLimit};
pub use read::{Fetched, PlatformImage};
pub use write::{BlobCopied, BlobMove};

use std::sync::Arc;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::{Client, Reference};

use crate::oci::reference::is_local;

/// The largest manifest read: the distribution registry refuses to store larger ones
/// (4 MiB), so anything bigger is a broken or hostile answer, not an image.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Environment variable holding extra insecure registries, comma-separated.
pub(crate) const INSECURE_ENV: &str = "MULTIARCH_INSECURE_REGISTRIES";

/// A registry client for one or more registries.
///
/// Plain-HTTP registries (local and insecure ones) are read with a bare HTTP client
/// first: building `oci-client`'s client loads the system's TLS roots twice, which was
/// most of the time of an `inspect` of a local registry (BENCHMARKS.md). A registry that
/// asks for credentials, and every HTTPS registry, goes through `oci-client`, built on
/// first use, trusting the CAs Docker's own convention names for those registries
/// (`/etc/docker/certs.d/HOST:PORT/*.crt`) beside the system's.
///
/// A local registry is spoken to over plain HTTP unless it answers that it speaks HTTPS
/// (Go's "Client sent an HTTP request to an HTTPS server"): asked once, before the first
/// request, as Docker tries both for local registries.
#[derive(Clone)]
pub struct Registry {
    oci: Arc<tokio::sync::OnceCell<Client>>,
    plain: reqwest::Client,
    /// Marked insecure by the user: always plain HTTP.
    insecure: Vec<String>,
    /// Local registries of the references: plain HTTP unless they speak HTTPS.
    local: Vec<String>,
    /// Every registry this client was made for (whose certs.d folders apply).
    registries: Vec<String>,
    /// The registries spoken to over plain HTTP, once the local ones were asked.
    http: Arc<tokio::sync::OnceCell<Vec<String>>>,
    /// How hard each request is tried.
    retry: crate::retry::RetryPolicy,
    /// Who hears of each retry.
    on_retry: Option<crate::retry::OnRetry>,
    /// Whether a registry has answered this client at all: only then is a refused
    /// connection a restart worth waiting for, not a registry that is not running.
    answered: Arc<std::sync::atomic::AtomicBool>,
    /// Layers this client downloaded, by digest, when it keeps them ([`Registry::keeping_layers`]).
    layers: Option<Arc<LayerCache>>,
    /// The requests this client (and its clones) sent.
    sent: Arc<Sent>,
}

/// Requests a client sent, each try counted.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    heads: std::sync::atomic::AtomicUsize,
    manifests: std::sync::atomic::AtomicUsize,
    blobs: std::sync::atomic::AtomicUsize,
}

/// What a client asked its registries, each try counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Requests {
    /// Manifest `HEAD`s (free of Docker Hub's pull quota).
    pub manifest_heads: usize,
    /// Manifest `GET`s (counted by Docker Hub).
    pub manifest_gets: usize,
    /// Blob `GET`s: configs and layers.
    pub blob_gets: usize,
}

impl Sent {
    pub(crate) fn head(&self) {
        self.heads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    pub(crate) fn manifest(&self) {
        self.manifests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    pub(crate) fn blob(&self) {
        self.blobs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a client keeps by digest, for the rest of its life: layers, configs and manifests
/// asked by digest, each downloaded once however many images of one run share it (a
/// fleet's images share their bases and their platforms' images), the first request for it
/// the one the others wait for. Content named by its digest never changes.
#[derive(Debug, Default)]
pub(crate) struct LayerCache(
    std::sync::Mutex<
        std::collections::HashMap<String, Arc<tokio::sync::OnceCell<crate::oci::layers::Layer>>>,
    >,
    pub(crate) Kept<Vec<u8>>,
    pub(crate) Kept<read::Fetched>,
);

/// Values kept by digest.
#[derive(Debug)]
pub(crate) struct Kept<T>(
    std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<T>>>>,
);

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Self(Default::default())
    }
}

impl<T> Kept<T> {
    pub(crate) fn cell(&self, digest: &str) -> Arc<tokio::sync::OnceCell<T>> {
        self.0
            .lock()
            .expect("a kept value's lock is never poisoned")
            .entry(digest.to_string())
            .or_default()
            .clone()
    }
}

impl LayerCache {
    fn downloaded(&self) -> usize {
        self.0
            .lock()
            .expect("the layer cache's lock is never poisoned")
            .values()
            .filter(|cell| cell.initialized())
            .count()
    }

    fn cell(&self, digest: &str) -> Arc<tokio::sync::OnceCell<crate::oci::layers::Layer>> {
        self.0
            .lock()
            .expect("the layer cache's lock is never poisoned")
            .entry(digest.to_string())
            .or_default()
            .clone()
    }
}

impl Registry {
    /// A client that uses plain HTTP for `insecure` registries.
    pub fn new(insecure: impl IntoIterator<Item = String>) -> Self {
        Self::with(insecure.into_iter().collect(), Vec::new(), Vec::new())
    }

    fn with(insecure: Vec<String>, local: Vec<String>, registries: Vec<String>) -> Self {
        Self {
            oci: Arc::new(tokio::sync::OnceCell::new()),
            // No TLS roots: this client only ever speaks plain HTTP.
            plain: crate::http::plain_client(std::time::Duration::from_secs(60)),
            insecure,
            local,
            registries,
            http: Arc::new(tokio::sync::OnceCell::new()),
            retry: crate::retry::RetryPolicy::from_env(),
            on_retry: None,
            answered: Arc::default(),
            layers: None,
            sent: Arc::default(),
        }
    }

    /// What this client and its clones asked their registries so far.
    pub fn requests(&self) -> Requests {
        use std::sync::atomic::Ordering::Relaxed;
        Requests {
            manifest_heads: self.sent.heads.load(Relaxed),
            manifest_gets: self.sent.manifests.load(Relaxed),
            blob_gets: self.sent.blobs.load(Relaxed),
        }
    }

    /// How many layers a client that keeps them has downloaded (each once).
    pub fn layers_downloaded(&self) -> usize {
        self.layers.as_ref().map_or(0, |kept| kept.downloaded())
    }

    /// The same client, keeping every layer it downloads for the rest of its life (and its
    /// clones'), so that a layer many images share is downloaded once.
    #[must_use]
    pub fn keeping_layers(mut self) -> Self {
        self.layers = Some(Arc::default());
        self
    }

    /// The same client, trying each request as `policy` says.
    #[must_use]
    pub fn with_retry(mut self, policy: crate::retry::RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The same client, telling `on_retry` of each retry before its wait.
    #[must_use]
    pub fn on_retry(mut self, on_retry: crate::retry::OnRetry) -> Self {
        self.on_retry = Some(on_retry);
        self
    }

    /// Runs `operation` with this client's retries; `what` names it.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        what: impl Fn() -> String,
        operation: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        use std::sync::atomic::Ordering;
        let mut operation = operation;
        let worth_retrying = |error: &RegistryError| {
            if retry::refused(error) && !self.answered.load(Ordering::Relaxed) {
                return None;
            }
            retry::transient(error)
        };
        crate::retry::retrying(
            &self.retry,
            self.on_retry
                .as_deref()
                .map(|f| f as &dyn Fn(&crate::retry::Retrying)),
            worth_retrying,
            what,
            || {
                let attempt = operation();
                async {
                    let result = attempt.await;
                    if !result.as_ref().is_err_and(retry::refused) {
                        self.answered.store(true, Ordering::Relaxed);
                    }
                    result
                }
            },
        )
        .await
    }

    /// The registries spoken to over plain HTTP: the insecure ones, and each local one
    /// that does not answer plain HTTP with "this is an HTTPS server".
    async fn settle(&self) -> &[String] {
        self.http
            .get_or_init(|| async {
                let mut http = self.insecure.clone();
                for registry in &self.local {
                    if http.contains(registry) {
                        continue;
                    }
                    let ask = |seconds| {
                        probe::plain_http(registry, std::time::Duration::from_secs(seconds))
                    };
                    // Silence is no answer: a registry on a loaded machine can take more
                    // than 3 s, and taking it for plain HTTP would send HTTP to HTTPS.
                    // Nor is a dropped connection: a registry just started in a container
                    // is behind Docker's port proxy before it listens; it is asked again
                    // for up to 15 s.
                    let mut answer = ask(3).await;
                    if answer == probe::PlainHttp::Silent {
                        answer = ask(15).await;
                    }
                    let starting = tokio::time::Instant::now();
                    while answer == probe::PlainHttp::Dropped
                        && starting.elapsed() < std::time::Duration::from_secs(15)
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                        answer = ask(3).await;
                    }
                    let speaks_https = answer == probe::PlainHttp::HttpsServer;
                    if speaks_https {
                        tracing::debug!(%registry, "a local registry that speaks HTTPS");
                    } else {
                        http.push(registry.clone());
                    }
                }
                http
            })
            .await
    }

    /// The `oci-client` client, built on first use, after the protocols are settled.
    async fn oci(&self) -> &Client {
        let http = self.settle().await.to_vec();
        self.oci
            .get_or_init(|| async {
                crate::http::install_crypto_provider();
                Client::new(ClientConfig {
                    protocol: ClientProtocol::HttpsExcept(http),
                    // One PUT per blob instead of a PATCH per chunk: the blobs of an
                    // index are mostly small, and each round trip costs more than they do.
                    use_monolithic_push: true,
                    extra_root_certificates: certs_d_roots(&self.registries),
                    ..Default::default()
                })
            })
            .await
    }

    /// A client for the registry of `reference`, with `insecure` and the
    /// [`INSECURE_ENV`] list marked for plain HTTP.
    pub fn for_reference(reference: &Reference, insecure: &[String]) -> Self {
        Self::for_references(std::slice::from_ref(reference), insecure)
    }

    /// A client for several references' registries (copies between registries).
    pub fn for_references(references: &[Reference], insecure: &[String]) -> Self {
        let mut list: Vec<String> = insecure.to_vec();
        if let Ok(extra) = std::env::var(INSECURE_ENV) {
            list.extend(
                extra
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        let mut local = Vec::new();
        let mut registries = Vec::new();
        for reference in references {
            let registry = reference.resolve_registry().to_string();
            if is_local(&registry) && !local.contains(&registry) {
                local.push(registry.clone());
            }
            if !registries.contains(&registry) {
                registries.push(registry);
            }
        }
        Self::with(list, local, registries)
    }

    /// Whether this client speaks plain HTTP to `registry` (before the first request, a
    /// local registry counts as plain HTTP).
    pub(crate) fn uses_http(&self, registry: &str) -> bool {
        match self.http.get() {
            Some(http) => http.iter().any(|r| r == registry),
            None => {
                self.insecure.iter().any(|r| r == registry)
                    || self.local.iter().any(|r| r == registry)
            }
        }
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::credentials::credential_server;
    use super::*;
    use rstest::rstest;

    /// Registries name blobs by these digests: the empty blob's is one every registry knows.
    #[test]
    fn digests_are_what_registries_compute() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_digest(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[rstest]
    #[case("localhost:5000", true)]
    #[case("localhost", true)]
    #[case("127.0.0.1:5001", true)]
    #[case("[::1]:5000", true)]
    #[case("host.docker.internal:5000", false)]
    #[case("registry.example.com", false)]
    #[case("index.docker.io", false)]
    fn local_registries_use_plain_http(#[case] registry: &str, #[case] local: bool) {
        assert_eq!(is_local(registry), local);
    }

    /// Issue #13: `build -t app:1 --push` looked up credentials for a registry named
    /// `app`; a short name is Docker Hub's, filed under its index URL.
    #[rstest]
    #[case("app:1", "https://index.docker.io/v1/")]
    #[case("library/alpine", "https://index.docker.io/v1/")]
    #[case("docker.io/me/app:2", "https://index.docker.io/v1/")]
    #[case("ghcr.io/me/app:1", "ghcr.io")]
    #[case("localhost:5000/app:1", "localhost:5000")]
    fn credentials_are_looked_up_under_the_references_registry(
        #[case] image: &str,
        #[case] server: &str,
    ) {
        let reference = crate::oci::reference::parse(image).unwrap();
        assert_eq!(credential_server(reference.resolve_registry()), server);
    }
}
