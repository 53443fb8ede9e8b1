//! A buildx `remote` builder: a BuildKit daemon at its own address (`docker buildx create
//! --driver remote tcp://HOST:PORT`), dialled directly; buildx never starts or removes it.

use std::path::PathBuf;

use crate::buildkit::BuildError;
use crate::buildkit::builder::{Builder, Builders, Created, RemoteBuilder, Status};
use crate::buildkit::control::{self, DaemonInfo};
use crate::buildkit::dial::Dialer;
use crate::buildkit::driver::Answer;
use crate::error::{Error, Result};

/// How the builder's daemon is dialled: as buildx dials it, over TLS when buildx was
/// given TLS files for it.
///
/// # Errors
/// [`Error::Build(BuildError::BuilderUnusable)`] for an endpoint of another scheme, TLS files that cannot be
/// read, or TLS without the CA that signed the daemon's certificate.
pub(crate) fn dialer(remote: &RemoteBuilder) -> Result<Dialer> {
    let unusable = |reason: &str, fix: String| {
        Error::Build(BuildError::BuilderUnusable {
            name: remote.name.clone(),
            driver: "remote".into(),
            reason: reason.to_string(),
            fix,
        })
    };
    let recreate = format!(
        "create it again with the daemon's CA: `docker buildx create --name {} --driver remote --driver-opt cacert=CA.pem,cert=CERT.pem,key=KEY.pem {}`",
        remote.name, remote.endpoint
    );
    match (&remote.tls, remote.endpoint.strip_prefix("tcp://")) {
        (Some(tls), Some(address)) => {
            let Some(ca) = &tls.ca else {
                return Err(unusable(
                    "it has TLS files but no `cacert`: the kit trusts only the CA it is given",
                    recreate,
                ));
            };
            let identity = tls
                .identity
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path()));
            let mut config = crate::engine::endpoint::tls_client(ca, identity).map_err(|e| {
                unusable(
                    &format!("its TLS files cannot be read: {e}"),
                    recreate.clone(),
                )
            })?;
            // BuildKit speaks gRPC, which over TLS is HTTP/2 chosen by ALPN.
            config.alpn_protocols = vec![b"h2".to_vec()];
            let host = tls.server_name.clone().unwrap_or_else(|| {
                let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
                host.trim_matches(['[', ']']).to_string()
            });
            let server_name =
                rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                    unusable(
                        &format!("`{host}` is not a name TLS can check: {e}"),
                        recreate.clone(),
                    )
                })?;
            Ok(Dialer::Tls {
                address: address.to_string(),
                config: std::sync::Arc::new(config),
                server_name,
            })
        }
        (None, Some(address)) => Ok(Dialer::Tcp(address.to_string())),
        (Some(_), None) => Err(unusable(
            &format!("TLS is set for `{}`, which is not tcp://", remote.endpoint),
            recreate,
        )),
        (None, None) => match remote.endpoint.strip_prefix("unix://") {
            Some(path) => Ok(Dialer::Unix(PathBuf::from(path))),
            None => Err(unusable(
                &format!(
                    "its endpoint `{}` is neither tcp:// nor unix://",
                    remote.endpoint
                ),
                format!(
                    "build on it with `docker buildx build --builder {}`",
                    remote.name
                ),
            )),
        },
    }
}

/// Registers a BuildKit daemon as a buildx remote builder, or finds it there: the daemon
/// must answer first, so an address that does not leaves no entry.
///
/// # Errors
/// [`BuildError::BuilderConflict`] when the name is taken by another builder,
/// [`BuildError::BuilderUnusable`] or [`BuildError::BuilderDown`] as [`describe`] says.
pub async fn create(builders: &Builders, wanted: RemoteBuilder) -> Result<Created> {
    crate::buildkit::buildx_store::check_name(&wanted.name)?;
    match builders.find(&wanted.name)? {
        Some(Builder::Remote(existing)) if existing == wanted => return Ok(Created::Existing),
        Some(other) => {
            return Err(Error::Build(BuildError::BuilderConflict {
                name: wanted.name.clone(),
                driver: other.driver_name(),
            }));
        }
        None => {}
    }
    describe(&wanted).await?;
    builders.store().put(&wanted.to_node_group())?;
    Ok(Created::New)
}

/// What the daemon says of itself.
///
/// # Errors
/// [`Error::Build(BuildError::BuilderUnusable)`], or [`Error::Build(BuildError::BuilderDown)`] when it does not answer.
pub async fn describe(remote: &RemoteBuilder) -> Result<DaemonInfo> {
    let dialer = dialer(remote)?;
    let down = |source: crate::cause::Cause| {
        Error::Build(BuildError::BuilderDown {
            name: remote.name.clone(),
            address: dialer.to_string(),
            through_buildx: false,
            source,
        })
    };
    let channel = dialer.channel().await.map_err(|e| down(e.into()))?;
    control::describe(channel).await.map_err(|e| down(e.into()))
}

/// How to dial the daemon, once it answers: a daemon that does not is named before
/// anything is packed.
///
/// # Errors
/// As [`describe`].
pub(crate) async fn boot(remote: &RemoteBuilder) -> Result<Dialer> {
    let dialer = dialer(remote)?;
    describe(remote).await?;
    Ok(dialer)
}

/// Its status: what the daemon says of itself, or why it does not answer.
pub(crate) async fn info(remote: &RemoteBuilder) -> Answer {
    match describe(remote).await {
        Ok(info) => Answer::running(info.version, info.platforms),
        Err(e) => Answer::silent(Status::Unreachable(crate::cause::root_cause(&e))),
    }
}
