//! Plain HTTP on loopback, and free ports: how tests reach what they started.

use std::time::Duration;

/// Waits until `url` answers 200 (at most 30 s).
pub async fn wait_for_http(url: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = http_get(url).await {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered 200"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A reqwest client builder for the tests' own requests. The build carries one crypto
/// provider for rustls (ring), which the kit names for its process; the tests' process
/// names it here.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A plain HTTP GET on loopback, returning status and body.
pub async fn http_get(url: &str) -> reqwest::Result<(u16, String)> {
    let response = client_builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()?
        .get(url)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
