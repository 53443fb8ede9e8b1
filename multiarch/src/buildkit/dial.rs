//! Reaching a BuildKit daemon without opening a port to it.
//!
//! A docker-container builder is reached as buildx reaches it: `buildctl dial-stdio` run
//! in its container through the engine's exec API, its stdin and stdout carrying the
//! gRPC connection. Only whoever may use the engine may use the builder; BuildKit listens
//! on its unix socket inside the container and nowhere else. A remote builder (buildx's
//! `remote` driver) is dialled at its own address. Any buildx builder (kubernetes, cloud,
//! ...) is reached through `docker buildx dial-stdio`, which buildx runs as the user.
//!
//! bollard's `BuildkitDaemon` takes an address it connects to itself, so for a build the
//! connection is handed over through a [`Bridge`]: a unix socket in a fresh 0700 folder
//! that only this user can enter, living as long as the build.

use std::path::PathBuf;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tonic::transport::{Channel, Endpoint, Uri};

/// Where a BuildKit daemon is, and how to open a connection to it.
#[derive(Clone)]
pub(crate) enum Dialer {
    /// `buildctl dial-stdio` in this container, through this engine.
    Exec {
        /// The engine the container runs on.
        docker: Docker,
        /// The container (`buildx_buildkit_<node>`).
        container: String,
    },
    /// A unix socket (`unix:///run/buildkit/buildkitd.sock`).
    Unix(PathBuf),
    /// A plain TCP address (`host:port`).
    Tcp(String),
    /// A TCP address behind TLS, the daemon's certificate checked against `server_name`
    /// and, where the daemon asks, this client's certificate presented.
    Tls {
        /// `host:port`.
        address: String,
        /// The client's settings (its CA, its identity; ALPN `h2` for gRPC).
        config: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
        /// The name the daemon's certificate must carry.
        server_name: rustls_pki_types::ServerName<'static>,
    },
    /// `docker buildx dial-stdio` for a buildx builder of any driver, buildx choosing
    /// the builder's node for `platform` ([`dial_stdio`]).
    Buildx {
        /// The builder's name in buildx's store.
        builder: String,
        /// The platform that chooses the node (`linux/arm64`), or the builder's first.
        platform: Option<String>,
    },
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl std::fmt::Display for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exec { container, .. } => {
                write!(f, "`buildctl dial-stdio` in container `{container}`")
            }
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp(address) => write!(f, "tcp://{address}"),
            Self::Tls { address, .. } => write!(f, "tcp://{address} (TLS)"),
            Self::Buildx { builder, platform } => {
                write!(f, "`docker buildx --builder {builder} dial-stdio")?;
                match platform {
                    Some(platform) => write!(f, " --platform {platform}`"),
                    None => f.write_str("`"),
                }
            }
        }
    }
}

/// A byte stream to BuildKit.
pub(crate) trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Connection for T {}

impl Dialer {
    /// Opens one connection.
    ///
    /// # Errors
    /// The engine refuses the exec (a stopped container), or the address does not answer.
    pub(crate) async fn dial(&self) -> std::io::Result<Box<dyn Connection>> {
        match self {
            Self::Exec { docker, container } => {
                Ok(Box::new(exec_dial_stdio(docker, container).await?))
            }
            Self::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
            Self::Tcp(address) => Ok(Box::new(tokio::net::TcpStream::connect(address).await?)),
            Self::Tls {
                address,
                config,
                server_name,
            } => {
                let tcp = tokio::net::TcpStream::connect(address).await?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(server_name.clone(), tcp)
                    .await?;
                Ok(Box::new(tls))
            }
            Self::Buildx { builder, platform } => Ok(Box::new(crate::stdio::StdioStream::spawn(
                dial_stdio(builder, platform.as_deref()),
            )?)),
        }
    }

    /// A gRPC channel whose every connection is a new [`Dialer::dial`].
    ///
    /// # Errors
    /// The first connection fails.
    pub(crate) async fn channel(&self) -> std::io::Result<Channel> {
        // The address is not used: the connector always dials the daemon.
        Endpoint::from_static("http://buildkitd")
            .connect_with_connector(self.connector())
            .await
            // tonic says only "transport error": the dial's own words are underneath.
            .map_err(|e| std::io::Error::other(crate::cause::root_cause(&e)))
    }

    fn connector(
        &self,
    ) -> impl tower::Service<
        Uri,
        Response = hyper_util::rt::TokioIo<Box<dyn Connection>>,
        Error = std::io::Error,
        Future = impl Future<Output = std::io::Result<hyper_util::rt::TokioIo<Box<dyn Connection>>>>
                 + Send,
    > + Clone
    + Send
    + 'static {
        let dialer = self.clone();
        tower::service_fn(move |_: Uri| {
            let dialer = dialer.clone();
            async move { dialer.dial().await.map(hyper_util::rt::TokioIo::new) }
        })
    }
}

/// `buildctl dial-stdio` in `container`, its stdout (demultiplexed) and stdin as one
/// stream; what it says on stderr goes to the debug log.
async fn exec_dial_stdio(docker: &Docker, container: &str) -> std::io::Result<impl Connection> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                cmd: Some(vec!["buildctl", "dial-stdio"]),
                ..Default::default()
            },
        )
        .await
        .map_err(std::io::Error::other)?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(std::io::Error::other)?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        return Err(std::io::Error::other("the engine detached the exec"));
    };
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut from_us, mut to_us) = tokio::io::split(theirs);
    let container = container.to_string();
    tokio::spawn(async move {
        let downstream = async {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bollard::container::LogOutput::StdOut { message }) => {
                        if to_us.write_all(&message).await.is_err() {
                            break;
                        }
                    }
                    Ok(other) => {
                        tracing::debug!(%container, said = %other, "buildctl dial-stdio");
                    }
                    Err(e) => {
                        tracing::debug!(%container, error = %e, "dial-stdio stream ended");
                        break;
                    }
                }
            }
            let _ = to_us.shutdown().await;
        };
        let upstream = async {
            let _ = tokio::io::copy(&mut from_us, &mut input).await;
            let _ = input.shutdown().await;
        };
        tokio::join!(downstream, upstream);
    });
    Ok(ours)
}

/// A connection being dialled ahead of its use.
type Spare = tokio::task::JoinHandle<std::io::Result<Box<dyn Connection>>>;

/// A unix socket, in a folder only this user can enter, that forwards each connection to
/// a [`Dialer`]; for bollard, which wants an address. Gone when dropped.
///
/// Dialling a container is an exec (tens of milliseconds), so the bridge dials `spares`
/// connections as soon as it starts, while the caller packs and sends the context, and
/// hands them to the first connections it accepts.
pub(crate) struct Bridge {
    socket: PathBuf,
    forwarding: tokio::task::JoinHandle<()>,
    /// Why the daemon could not be dialled, the last time it could not.
    dial_failure: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    _dir: tempfile::TempDir,
}

impl Bridge {
    /// Starts forwarding.
    ///
    /// # Errors
    /// The folder or the socket cannot be made.
    pub(crate) fn start(dialer: Dialer, spares: usize) -> std::io::Result<Self> {
        // 0700, said explicitly (tempfile's default follows the umask): no other user
        // can reach the socket in it.
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("multiarch-buildkit-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let socket = dir.path().join("buildkitd.sock");
        let listener = tokio::net::UnixListener::bind(&socket)?;
        let dial_failure = std::sync::Arc::new(std::sync::Mutex::new(None));
        let failures = dial_failure.clone();
        let mut ready: Vec<Spare> = (0..spares)
            .map(|_| {
                let dialer = dialer.clone();
                tokio::spawn(async move { dialer.dial().await })
            })
            .collect();
        let forwarding = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let dialer = dialer.clone();
                let failures = failures.clone();
                let spare = ready.pop();
                tokio::spawn(async move {
                    let dialled = match spare {
                        Some(spare) => match spare.await {
                            Ok(Ok(daemon)) => Ok(daemon),
                            _ => dialer.dial().await,
                        },
                        None => dialer.dial().await,
                    };
                    match dialled {
                        Ok(mut daemon) => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                        }
                        Err(e) => {
                            tracing::debug!(%dialer, error = %e, "cannot reach BuildKit");
                            *failures.lock().expect("not poisoned") = Some(e.to_string());
                        }
                    }
                });
            }
        });
        Ok(Self {
            socket,
            forwarding,
            dial_failure,
            _dir: dir,
        })
    }

    /// Why the daemon could not be reached, if a connection to it failed.
    pub(crate) fn dial_failure(&self) -> Option<String> {
        self.dial_failure.lock().expect("not poisoned").clone()
    }

    /// The address to hand to bollard.
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::from_shared(format!("unix://{}", self.socket.display()))
            .expect("a unix socket path is a valid endpoint")
    }

    /// A gRPC channel through the bridge, connected on its first request.
    pub(crate) fn lazy_channel(&self) -> Channel {
        self.endpoint().connect_lazy()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.forwarding.abort();
    }
}

/// `docker buildx --builder BUILDER dial-stdio [--platform P]`.
pub(crate) fn dial_stdio(builder: &str, platform: Option<&str>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("docker");
    command.args([
        "buildx",
        "--builder",
        builder,
        "dial-stdio",
        "--progress",
        "quiet",
    ]);
    if let Some(platform) = platform {
        command.args(["--platform", platform]);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn the_bridge_forwards_and_only_its_user_can_enter_its_folder() {
        // A stand-in daemon on a unix socket: it answers each connection with what it got.
        let daemon_dir = tempfile::tempdir().unwrap();
        let daemon = daemon_dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&daemon).unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 5];
                    s.read_exact(&mut buf).await.unwrap();
                    s.write_all(&buf).await.unwrap();
                });
            }
        });
        let bridge = Bridge::start(Dialer::Unix(daemon), 1).unwrap();
        let folder = bridge.socket.parent().unwrap().to_path_buf();
        let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "no other user can reach the socket");
        let mut client = tokio::net::UnixStream::connect(&bridge.socket)
            .await
            .unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut answer = [0u8; 5];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"hello");
        // The second connection finds no spare left and dials anew.
        let mut again = tokio::net::UnixStream::connect(&bridge.socket)
            .await
            .unwrap();
        again.write_all(b"again").await.unwrap();
        again.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"again");
        drop(bridge);
        assert!(!folder.exists(), "the folder goes with the bridge");
    }
}
