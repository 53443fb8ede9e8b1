//! A buildx `remote` builder: a BuildKit daemon at its own address (`docker buildx create
//! --driver remote tcp://HOST:PORT`), dialled directly; buildx never starts or removes it.

use std::path::PathBuf;

use crate::buildkit::builder::RemoteBuilder;
use crate::buildkit::control::{self, DaemonInfo};
use crate::buildkit::dial::Dialer;
use crate::error::{Error, Result};

/// How the builder's daemon is dialled.
///
/// # Errors
/// [`Error::BuilderUnusable`] for TLS (not spoken yet) or an endpoint of another scheme.
pub(crate) fn dialer(remote: &RemoteBuilder) -> Result<Dialer> {
    let unusable = |reason: &str| Error::BuilderUnusable {
        name: remote.name.clone(),
        driver: "remote".into(),
        reason: reason.to_string(),
        fix: format!(
            "build on it with `docker buildx build --builder {}`",
            remote.name
        ),
    };
    if remote.tls {
        return Err(unusable(
            "the kit does not yet speak TLS to a remote BuildKit",
        ));
    }
    if let Some(address) = remote.endpoint.strip_prefix("tcp://") {
        Ok(Dialer::Tcp(address.to_string()))
    } else if let Some(path) = remote.endpoint.strip_prefix("unix://") {
        Ok(Dialer::Unix(PathBuf::from(path)))
    } else {
        Err(unusable(&format!(
            "its endpoint `{}` is neither tcp:// nor unix://",
            remote.endpoint
        )))
    }
}

/// What the daemon says of itself.
///
/// # Errors
/// [`Error::BuilderUnusable`], or [`Error::BuilderDown`] when it does not answer.
pub async fn describe(remote: &RemoteBuilder) -> Result<DaemonInfo> {
    let dialer = dialer(remote)?;
    let down = |source: crate::error::Cause| Error::BuilderDown {
        name: remote.name.clone(),
        address: dialer.to_string(),
        source,
    };
    let channel = dialer.channel().await.map_err(|e| down(e.into()))?;
    control::describe(channel).await.map_err(|e| down(e.into()))
}
