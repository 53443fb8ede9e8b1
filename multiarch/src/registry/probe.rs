//! Does a registry speak plain HTTP? One question, asked one way, for every caller: the
//! client choosing HTTP or HTTPS for a local registry, a build's pre-flight, `doctor`.

use std::time::Duration;

/// How a registry answered a plain-HTTP `GET /v2/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainHttp {
    /// A registry's answer (200, or 401 asking for credentials).
    Registry(u16),
    /// Go's "Client sent an HTTP request to an HTTPS server": it speaks HTTPS.
    HttpsServer,
    /// Some other HTTP status: something answers, perhaps not a registry.
    Other(u16),
    /// The connection was taken and closed with no answer: what Docker's port proxy does
    /// while the registry in its container is still starting.
    Dropped,
    /// Nothing answered: the connection was refused, or the wait ran out.
    Silent,
}

/// Asks `registry` (`host:port`) over plain HTTP, waiting at most `timeout`.
pub(crate) async fn plain_http(registry: &str, timeout: Duration) -> PlainHttp {
    let answer = crate::http::plain_client(timeout)
        .get(format!("http://{registry}/v2/"))
        .send()
        .await;
    match answer {
        Ok(response) => match response.status().as_u16() {
            status @ (200 | 401) => PlainHttp::Registry(status),
            400 if response
                .text()
                .await
                .is_ok_and(|body| body.contains("HTTPS server")) =>
            {
                PlainHttp::HttpsServer
            }
            status => PlainHttp::Other(status),
        },
        Err(error) if error.is_connect() || error.is_timeout() => PlainHttp::Silent,
        Err(_) => PlainHttp::Dropped,
    }
}

/// Whether a build will find `registry` speaking plain HTTP: a local one is taken to
/// (BuildKit and the engine try plain HTTP on loopback), another is asked.
pub(crate) async fn answers_plain_http(registry: &str) -> bool {
    crate::oci::reference::is_local(registry)
        || matches!(
            plain_http(registry, Duration::from_secs(3)).await,
            PlainHttp::Registry(_)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that answers every request with `status` and `body`.
    async fn answering(status: &'static str, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        address
    }

    #[tokio::test]
    async fn each_answer_is_told_apart() {
        let second = Duration::from_secs(1);
        let registry = answering("200 OK", "{}").await;
        assert_eq!(
            plain_http(&registry, second).await,
            PlainHttp::Registry(200)
        );
        let locked = answering("401 Unauthorized", "").await;
        assert_eq!(plain_http(&locked, second).await, PlainHttp::Registry(401));
        // What Go's HTTPS server says to a plain-HTTP request.
        let https = answering(
            "400 Bad Request",
            "Client sent an HTTP request to an HTTPS server.\n",
        )
        .await;
        assert_eq!(plain_http(&https, second).await, PlainHttp::HttpsServer);
        let other = answering("404 Not Found", "").await;
        assert_eq!(plain_http(&other, second).await, PlainHttp::Other(404));
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        assert_eq!(plain_http(&closed, second).await, PlainHttp::Silent);
        // A port that takes the connection and closes it unanswered, as Docker's proxy
        // does before the registry behind it listens.
        let dropping = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap().to_string();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    drop(socket);
                }
            });
            address
        };
        assert_eq!(plain_http(&dropping, second).await, PlainHttp::Dropped);
    }
}
