//! BuildKit's control API, for following a build while bollard runs it.
//!
//! bollard's drivers run the solve but keep its status stream to themselves; BuildKit
//! serves that stream to any client that names the build's ref. The engine's BuildKit
//! answers at `/grpc` on the engine's socket or TLS port, after an HTTP/1.1 upgrade to
//! h2c (what buildx's `docker` driver does); a buildkitd container answers through
//! `buildctl dial-stdio` in its container ([`crate::buildkit::dial`]).

use std::path::PathBuf;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::{
    InfoRequest, ListWorkersRequest, StatusRequest, StatusResponse,
};
use futures_util::Stream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::error::BuildError;
use crate::engine::EngineError;
use crate::engine::endpoint::Transport;
use crate::error::{Error, Result};

/// How the local engine is reached, from `DOCKER_HOST` or the usual socket; `None` when
/// it is reached another way (then there is no live progress, only the result).
pub(crate) fn local_engine() -> Option<Transport> {
    crate::engine::endpoint::docker_host()
        .unwrap_or(crate::engine::endpoint::LOCAL_SOCKET)
        .strip_prefix("unix://")
        .map(|path| Transport::Unix(PathBuf::from(path)))
}

/// A channel to the engine's BuildKit, through `/grpc` on the engine's own connection
/// (its socket, or its TCP port with TLS).
///
/// # Errors
/// [`EngineError::Refused`] when the engine refuses the upgrade.
pub(crate) async fn engine_channel(transport: &Transport) -> Result<Channel> {
    let transport = transport.clone();
    let connector = tower::service_fn(move |_: Uri| upgrade_to_h2c(transport.clone()));
    // The address is not used: the connector always dials the engine.
    Endpoint::from_static("http://docker.engine")
        .connect_with_connector(connector)
        .await
        .map_err(|e| {
            Error::Engine(EngineError::Refused {
                action: "open BuildKit's control API at /grpc".into(),
                source: e.into(),
            })
        })
}

async fn upgrade_to_h2c(transport: Transport) -> std::io::Result<hyper::upgrade::Upgraded> {
    use hyper::header::{CONNECTION, HOST, UPGRADE};
    let stream = crate::engine::endpoint::dial(&transport).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
    tokio::spawn(connection.with_upgrades());
    let request = hyper::Request::post("/grpc")
        .header(HOST, "docker")
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "h2c")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(std::io::Error::other)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(std::io::Error::other)?;
    if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        return Err(std::io::Error::other(format!(
            "the engine answered {} instead of switching to h2c",
            response.status()
        )));
    }
    hyper::upgrade::on(response)
        .await
        .map_err(std::io::Error::other)
}

/// The status messages of build `build_ref`, as BuildKit sends them. BuildKit waits a
/// moment for a build that has not started yet, so this may be called before the solve.
///
/// # Errors
/// BuildKit refuses the request.
pub async fn status(
    channel: Channel,
    build_ref: &str,
) -> Result<impl Stream<Item = Result<StatusResponse, tonic::Status>>> {
    let mut client = ControlClient::new(channel).max_decoding_message_size(16 << 20);
    let stream = client
        .status(StatusRequest {
            r#ref: build_ref.to_string(),
        })
        .await
        .map_err(|e| {
            Error::Build(BuildError::BuildkitRefused {
                action: "follow the build's progress".into(),
                source: e.message().into(),
            })
        })?;
    Ok(stream.into_inner())
}

/// What a BuildKit daemon says of itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DaemonInfo {
    /// Its version, as `buildctl debug info` prints it.
    pub version: String,
    /// The platforms its workers build, in their order (`linux/arm/v7`).
    pub platforms: Vec<String>,
}

/// Asks the daemon behind `channel` for its version and its workers' platforms.
///
/// # Errors
/// BuildKit refuses either request.
pub async fn describe(channel: Channel) -> Result<DaemonInfo> {
    let mut client = ControlClient::new(channel);
    let refused = |what: &'static str| {
        move |e: tonic::Status| {
            Error::Build(BuildError::BuildkitRefused {
                action: format!("tell {what}"),
                source: e.message().into(),
            })
        }
    };
    let info = client
        .info(InfoRequest {})
        .await
        .map_err(refused("its version"))?
        .into_inner();
    let workers = client
        .list_workers(ListWorkersRequest { filter: Vec::new() })
        .await
        .map_err(refused("its workers"))?
        .into_inner();
    let mut platforms: Vec<String> = Vec::new();
    for platform in workers.record.iter().flat_map(|w| &w.platforms) {
        let mut name = format!("{}/{}", platform.os, platform.architecture);
        if !platform.variant.is_empty() {
            name = format!("{name}/{}", platform.variant);
        }
        if !platforms.contains(&name) {
            platforms.push(name);
        }
    }
    Ok(DaemonInfo {
        version: info.buildkit_version.map(|v| v.version).unwrap_or_default(),
        platforms,
    })
}
