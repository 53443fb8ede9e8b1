//! Where an engine is, the ways Docker names one: a Unix socket (`unix:///var/run/docker.sock`),
//! TCP with TLS (`tcp://host:2376` and a folder holding `ca.pem`, `cert.pem` and `key.pem`,
//! the `DOCKER_CERT_PATH` layout), SSH (`ssh://user@host`, through the OpenSSH client:
//! [`super::ssh`]), or the name of a Docker context (`docker context ls`).
//!
//! A build node is one of these; the kit talks to each with bollard (the engine API) and
//! dials the same place itself for BuildKit's control API at `/grpc`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

use super::error::{EngineError, Result};
use super::ssh::SshDestination;

/// An engine's address as given: `unix://PATH`, `tcp://HOST:PORT`, or a context name,
/// with the TLS folder for `tcp://`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineEndpoint {
    /// `unix:///var/run/docker.sock`, `tcp://10.0.0.5:2376`, `ssh://me@10.0.0.5`, or a
    /// Docker context's name.
    pub host: String,
    /// The folder with `ca.pem`, `cert.pem` and `key.pem` for a `tcp://` host (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certs: Option<PathBuf>,
}

/// How to reach an engine, once a context name is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A Unix socket.
    Unix(PathBuf),
    /// TCP, over TLS when a certificate folder is known.
    Tcp {
        /// `host:port`.
        address: String,
        /// `ca.pem`, `cert.pem`, `key.pem`.
        certs: Option<PathBuf>,
    },
    /// The engine behind `docker system dial-stdio` on an SSH host.
    Ssh(SshDestination),
}

impl EngineEndpoint {
    /// Checks the form of `host` (and that a TLS folder holds its three files) without
    /// connecting; a context name is looked up later, when it is used.
    ///
    /// # Errors
    /// [`EngineError::BadEndpoint`] saying what is wrong.
    pub fn new(host: &str, certs: Option<PathBuf>) -> Result<Self> {
        let bad = |reason: String| EngineError::BadEndpoint {
            endpoint: host.to_string(),
            reason,
        };
        if let Some(path) = host.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad(
                    "a Unix socket is named by its absolute path: `unix:///var/run/docker.sock`"
                        .into(),
                ));
            }
        } else if let Some(address) = host.strip_prefix("tcp://") {
            let port = address.rsplit_once(':').map(|(_, p)| p);
            if port.is_none_or(|p| p.parse::<u16>().is_err()) {
                return Err(bad(
                    "a TCP engine is named with its port: `tcp://HOST:2376`".into(),
                ));
            }
        } else if host.starts_with("ssh://") {
            SshDestination::parse(host).map_err(bad)?;
            if certs.is_some() {
                return Err(bad(
                    "an SSH engine takes no TLS folder: ssh's own keys secure it".into(),
                ));
            }
        } else if host.contains("://") {
            return Err(bad(
                "use unix://, tcp://, ssh:// or the name of a Docker context".into(),
            ));
        } else if host.is_empty() {
            return Err(bad("it is empty".into()));
        }
        if let Some(dir) = &certs {
            for file in ["ca.pem", "cert.pem", "key.pem"] {
                if !dir.join(file).is_file() {
                    return Err(bad(format!(
                        "the TLS folder `{}` has no `{file}` (it needs ca.pem, cert.pem and key.pem, as DOCKER_CERT_PATH does)",
                        dir.display()
                    )));
                }
            }
        }
        Ok(Self {
            host: host.to_string(),
            certs,
        })
    }

    /// How to reach it; a context name is looked up in the Docker config's contexts.
    ///
    /// # Errors
    /// [`EngineError::BadEndpoint`] for a context that does not exist or is not an engine.
    pub(crate) fn transport(&self) -> Result<Transport> {
        if let Some(path) = self.host.strip_prefix("unix://") {
            return Ok(Transport::Unix(PathBuf::from(path)));
        }
        if let Some(address) = self.host.strip_prefix("tcp://") {
            return Ok(Transport::Tcp {
                address: address.to_string(),
                certs: self.certs.clone(),
            });
        }
        if self.host.starts_with("ssh://") {
            let destination =
                SshDestination::parse(&self.host).map_err(|reason| EngineError::BadEndpoint {
                    endpoint: self.host.clone(),
                    reason,
                })?;
            return Ok(Transport::Ssh(destination));
        }
        let context = context_endpoint(&docker_config_dir(), &self.host)?;
        context.transport()
    }
}

impl std::fmt::Display for EngineEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.host)
    }
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

/// The socket a local engine listens on when nothing names another.
pub const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

/// The engine the environment names, `DOCKER_HOST` (read once per process, so every path
/// that needs "the engine" agrees on it), or `None` for the local socket.
pub fn docker_host() -> Option<&'static str> {
    static HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .as_deref()
}

/// The engine as buildx records it for a builder made here: `$DOCKER_HOST`, else the
/// local socket.
pub fn local_endpoint() -> String {
    docker_host().unwrap_or(LOCAL_SOCKET).to_string()
}

/// The engine endpoint of Docker context `name`: `contexts/meta/<sha256(name)>/meta.json`
/// names the host, `contexts/tls/<sha256(name)>/docker/` holds its TLS files.
fn context_endpoint(config_dir: &Path, name: &str) -> Result<EngineEndpoint> {
    use sha2::Digest;
    let bad = |reason: String| EngineError::BadEndpoint {
        endpoint: name.to_string(),
        reason,
    };
    if name == "default" {
        return Ok(EngineEndpoint {
            host: LOCAL_SOCKET.into(),
            certs: None,
        });
    }
    let id: String = sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let meta = config_dir.join("contexts/meta").join(&id).join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|_| {
        bad(format!(
            "no Docker context of that name (looked for {}); `docker context ls` lists them",
            meta.display()
        ))
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", meta.display())))?;
    let host = value
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .ok_or_else(|| bad(format!("{} names no Docker endpoint", meta.display())))?;
    let tls = config_dir.join("contexts/tls").join(id).join("docker");
    let certs = tls.join("ca.pem").is_file().then_some(tls);
    EngineEndpoint::new(host, certs)
}

/// Connects to the engine at `endpoint` and checks that it answers: within 5 s for a
/// socket or TCP, within 30 s through ssh, where every request starts an ssh connection
/// (a handshake over a slow link, or on a loaded machine, takes seconds of its own).
///
/// # Errors
/// [`EngineError::BadEndpoint`] for an address that cannot be used, [`EngineError::Unreachable`]
/// when the engine does not answer.
pub async fn connect(endpoint: &EngineEndpoint) -> Result<Docker> {
    const TIMEOUT: u64 = 120;
    let version = bollard::API_DEFAULT_VERSION;
    let unreachable = |e: bollard::errors::Error| EngineError::Unreachable { source: e.into() };
    let transport = endpoint.transport()?;
    let answer_within = match transport {
        Transport::Ssh(_) => Duration::from_secs(30),
        _ => Duration::from_secs(5),
    };
    let docker = match transport {
        Transport::Unix(path) => {
            Docker::connect_with_unix(&path.to_string_lossy(), TIMEOUT, version)
                .map_err(unreachable)?
        }
        Transport::Tcp {
            address,
            certs: Some(dir),
        } => {
            // bollard's TLS asks rustls for the process's provider.
            crate::http::install_crypto_provider();
            Docker::connect_with_ssl(
                &format!("https://{address}"),
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                TIMEOUT,
                version,
            )
            .map_err(unreachable)?
        }
        Transport::Tcp {
            address,
            certs: None,
        } => Docker::connect_with_http(&address, TIMEOUT, version).map_err(unreachable)?,
        Transport::Ssh(destination) => {
            // Asked once first, so that a refused key or an unknown host is named.
            destination
                .check()
                .await
                .map_err(|(problem, reason)| EngineError::SshRefused {
                    destination: destination.to_string(),
                    problem,
                    reason,
                })?;
            let client = super::ssh::client(destination);
            Docker::connect_with_custom_transport(
                move |request: bollard::BollardRequest| {
                    let client = client.clone();
                    async move {
                        client
                            .request(request)
                            .await
                            .map_err(bollard::errors::Error::from)
                    }
                },
                // The address only names the requests: the connector always runs ssh.
                Some("http://docker.ssh"),
                TIMEOUT,
                version,
            )
            .map_err(unreachable)?
        }
    };
    match tokio::time::timeout(answer_within, docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(e)),
        Err(_) => {
            return Err(EngineError::Unreachable {
                source: format!("no answer within {} s", answer_within.as_secs()).into(),
            });
        }
    }
    docker.negotiate_version().await.map_err(unreachable)
}

/// A byte stream to the engine, for an HTTP upgrade the kit makes itself (`/grpc`).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Opens a connection to the engine behind `transport`: the socket, the TCP port, the
/// TCP port wrapped in TLS with the folder's client certificate, or ssh's stdio.
///
/// # Errors
/// The connection or the TLS handshake fails, or the certificate files cannot be read.
pub async fn dial(transport: &Transport) -> std::io::Result<Box<dyn Stream>> {
    match transport {
        Transport::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        Transport::Tcp {
            address,
            certs: None,
        } => Ok(Box::new(tokio::net::TcpStream::connect(address).await?)),
        Transport::Tcp {
            address,
            certs: Some(dir),
        } => {
            let config = tls_config(dir)?;
            let host = address
                .rsplit_once(':')
                .map_or(address.as_str(), |(h, _)| h);
            let name =
                rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                    .map_err(std::io::Error::other)?;
            let tcp = tokio::net::TcpStream::connect(address).await?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await?;
            Ok(Box::new(tls))
        }
        Transport::Ssh(destination) => Ok(Box::new(destination.dial().await?)),
    }
}

/// A TLS client that trusts the folder's `ca.pem` and presents `cert.pem` / `key.pem`.
fn tls_config(dir: &Path) -> std::io::Result<tokio_rustls::rustls::ClientConfig> {
    tls_client(
        &dir.join("ca.pem"),
        Some((&dir.join("cert.pem"), &dir.join("key.pem"))),
    )
}

/// A TLS client that trusts only the CA file `ca`, presenting the certificate and key
/// of `identity` when the server asks for one.
///
/// # Errors
/// A file that cannot be read or holds no usable PEM.
pub(crate) fn tls_client(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> std::io::Result<tokio_rustls::rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let pem_error = |path: &Path| {
        let path = path.to_path_buf();
        move |e: rustls_pki_types::pem::Error| {
            std::io::Error::other(format!("{}: {e}", path.display()))
        }
    };
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(pem_error(ca))? {
        roots
            .add(cert.map_err(pem_error(ca))?)
            .map_err(std::io::Error::other)?;
    }
    let builder = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots);
    let Some((cert, key)) = identity else {
        return Ok(builder.with_no_client_auth());
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error(cert))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(pem_error(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error(key))?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("unix:///var/run/docker.sock", None)]
    #[case("tcp://10.0.0.5:2376", None)]
    #[case("my-arm-box", None)]
    #[case("unix://run/docker.sock", Some("absolute path"))]
    #[case("tcp://10.0.0.5", Some("with its port"))]
    #[case("ssh://pi@raspberry", None)]
    #[case("ssh://pi@raspberry:2222", None)]
    #[case("ssh://pi@raspberry/var/run/docker.sock", Some("has no path"))]
    #[case("http://10.0.0.5:2375", Some("unix://, tcp://, ssh://"))]
    fn endpoints_are_checked_before_use(#[case] host: &str, #[case] error: Option<&str>) {
        match (EngineEndpoint::new(host, None), error) {
            (Ok(endpoint), None) => assert_eq!(endpoint.host, host),
            (Err(e), Some(why)) => assert!(
                e.to_string().contains(host) && format!("{e:?}").contains(why),
                "{e:?}"
            ),
            (other, _) => panic!("{host}: {other:?}"),
        }
    }

    #[test]
    fn a_tls_folder_must_hold_its_three_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let error = EngineEndpoint::new("tcp://h:2376", Some(dir.path().into())).unwrap_err();
        assert!(
            format!("{error:?}").contains("has no `cert.pem`"),
            "{error:?}"
        );
    }

    #[test]
    fn a_docker_context_is_found_by_the_hash_of_its_name() {
        let config = tempfile::tempdir().unwrap();
        // What `docker context create arm-box` names its folder: sha256 of the name.
        let id = "d613672e88e7730de009d95e915a02eeec9fd1d276b2049a86f058f97b692e8e";
        let meta = config.path().join("contexts/meta").join(id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"arm-box","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.1.2.3:2376","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let tls = config.path().join("contexts/tls").join(id).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(tls.join(file), "x").unwrap();
        }
        let endpoint = context_endpoint(config.path(), "arm-box").unwrap();
        assert_eq!(
            endpoint.transport().unwrap(),
            Transport::Tcp {
                address: "10.1.2.3:2376".into(),
                certs: Some(tls)
            }
        );
        let missing = context_endpoint(config.path(), "nope").unwrap_err();
        assert!(
            format!("{missing:?}").contains("docker context ls"),
            "{missing:?}"
        );
    }
}
