//! Plain HTTP to this machine's own servers (local registries, containers' published
//! ports): the one client set-up every module uses, and the one wait-until-ready loop.
//! HTTPS registries go through `oci-client` in the registry module instead.

use std::time::Duration;

/// Names rustls's crypto for the process, once: ring, the one bollard's TLS uses (the
/// build carries no other, as aws-lc would cost a C library's compile on every target).
/// Every TLS client of the kit (registries through reqwest and oci-client, engines behind
/// TLS through bollard) asks rustls for the process's provider, so this comes first.
pub(crate) fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// A client for plain HTTP with a per-request `timeout`. It never uses a proxy (these
/// servers are on loopback) and loads no TLS roots, which costs milliseconds per start.
pub(crate) fn plain_client(timeout: Duration) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("a plain HTTP client with no certificates always builds")
}

/// Runs `attempt` every `interval` until it succeeds, at most `timeout`; the last
/// failure when time runs out. Every wait-until-ready of the kit goes through here.
pub(crate) async fn poll<T, E>(
    timeout: Duration,
    interval: Duration,
    mut attempt: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}

/// Asks `url` every `interval` until `accept` takes an answer, then returns it.
///
/// # Errors
/// What was last seen (a refused connection, or what `accept` said of the last answer)
/// when `timeout` has passed.
pub(crate) async fn wait_until<T>(
    url: &str,
    timeout: Duration,
    interval: Duration,
    mut accept: impl AsyncFnMut(reqwest::Response) -> Result<T, String>,
) -> Result<T, String> {
    let client = plain_client(Duration::from_secs(10));
    poll(timeout, interval, async || {
        match client.get(url).send().await {
            Ok(response) => accept(response).await,
            Err(e) => Err(crate::cause::root_cause(&e)),
        }
    })
    .await
}
