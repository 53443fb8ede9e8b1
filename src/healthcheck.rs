//! `arch-server healthcheck`: probes `/healthz` so that an image with no shell and no
//! curl can still declare a Docker `HEALTHCHECK`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Where to probe: a wildcard listen address is probed on loopback.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Sends `GET /healthz` to `addr` and succeeds on `200`.
///
/// # Errors
/// No connection within `timeout`, or any status other than `200`.
pub async fn check(addr: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, probe(addr))
        .await
        .with_context(|| format!("no answer from `http://{addr}/healthz` within {timeout:?}"))?
}

async fn probe(addr: SocketAddr) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to `{addr}`"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/healthz")
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("`http://{addr}/healthz` did not answer"))?;
    if response.status() != hyper::StatusCode::OK {
        bail!("`http://{addr}/healthz` answered {}", response.status());
    }
    Ok(())
}
