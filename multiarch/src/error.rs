//! Every failure the library reports, one variant each, with the values a person
//! needs to act on it. The CLI adds a `hint:` line per variant ([`Error::hint`]).

use multiarch_platform::Platform;

use crate::oci::reference::ReferenceError;
use crate::verify::layers::LayerError;

/// A cause from below this crate (a transport, the file system, a parser), kept whole so
/// the command line can print its chain as "caused by:" lines.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image reference does not parse.
    #[error("`{reference}` is not a valid image reference")]
    BadReference {
        /// What was given.
        reference: String,
        /// Why it was refused.
        #[source]
        source: ReferenceError,
    },
    /// The registry could not be reached at all.
    #[error("cannot reach the registry `{registry}`")]
    Unreachable {
        /// host[:port].
        registry: String,
        /// The transport error.
        #[source]
        source: Cause,
    },
    /// HTTPS was used but the registry speaks plain HTTP.
    #[error("cannot reach `{registry}` over HTTPS: it answers plain HTTP")]
    HttpOnly {
        /// host[:port].
        registry: String,
    },
    /// The registry has no manifest under that reference.
    #[error("`{reference}` was not found in the registry")]
    NotFound {
        /// The reference asked for.
        reference: String,
    },
    /// The registry refused our credentials, or wants some.
    #[error("the registry refused access to `{reference}` ({status})")]
    Unauthorized {
        /// The reference asked for.
        reference: String,
        /// The HTTP status.
        status: u16,
    },
    /// The registry's TLS certificate is not trusted (or not valid for its name).
    #[error("the certificate of `{registry}` is not trusted: {reason}")]
    Certificate {
        /// host:port.
        registry: String,
        /// The verifier's words.
        reason: String,
    },
    /// The registry answered something this tool cannot use.
    #[error("the registry answered `{reference}` with something unusable: {reason}")]
    BadAnswer {
        /// The reference asked for.
        reference: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Content whose digest is not the one it was asked for.
    #[error("`{reference}`: the content's digest is not `{expected}`; refusing it")]
    DigestMismatch {
        /// The reference asked for.
        reference: String,
        /// The digest expected.
        expected: String,
    },
    /// The image has no entry for a platform that was asked for.
    #[error("`{reference}` has no image for `{platform}` (it has: {available})")]
    PlatformMissing {
        /// The reference.
        reference: String,
        /// The platform asked for.
        platform: Platform,
        /// The platforms it does have.
        available: String,
    },
    /// The Docker engine cannot be reached.
    #[error("cannot reach the Docker engine")]
    EngineUnreachable {
        /// The transport error, or the wait that ran out.
        #[source]
        source: Cause,
    },
    /// A container ended as soon as it started, before it could be reached.
    #[error("`{image}` exited with code {code} as soon as it started")]
    ContainerExited {
        /// The image.
        image: String,
        /// Its exit code.
        code: i64,
        /// The last lines it printed.
        last_lines: Vec<String>,
    },
    /// A port this tool would publish is already taken by another program.
    #[error("port {port} on {bind} is already in use by another program")]
    PortTaken {
        /// The address.
        bind: std::net::IpAddr,
        /// The port.
        port: u16,
    },
    /// The local registry is running under another address than the one asked for.
    #[error("the local registry `{container}` already runs on {running}, not {wanted}")]
    RegistryElsewhere {
        /// Its container name.
        container: String,
        /// Where it runs.
        running: String,
        /// Where it was asked to run.
        wanted: String,
    },
    /// A server did not answer in time.
    #[error("`{url}` did not answer within {seconds} s: {last}")]
    NotReady {
        /// What was polled.
        url: String,
        /// How long.
        seconds: u64,
        /// What was last seen: a refused connection, a status.
        last: String,
        /// The container behind the URL, whose logs say why.
        container: String,
    },
    /// An image is not in the engine and cannot be pulled.
    #[error("the image `{image}` is not available")]
    ImageUnavailable {
        /// The image.
        image: String,
        /// The engine's answer to the pull.
        #[source]
        source: bollard::errors::Error,
    },
    /// A builder of that name exists with another driver.
    #[error("a builder named `{name}` already exists with the `{driver}` driver")]
    BuilderConflict {
        /// The name.
        name: String,
        /// Its driver.
        driver: String,
    },
    /// No builder of that name.
    #[error("there is no builder named `{0}`")]
    NoSuchBuilder(String),
    /// The engine keeps one platform per tag.
    #[error(
        "the engine's image store cannot hold multi-platform images (the containerd image store is off)"
    )]
    NoMultiPlatform,
    /// The builder would speak HTTPS to a registry that answers plain HTTP.
    #[error(
        "cannot push to `{registry}`: the `{driver}` builder would use HTTPS, and the registry answers plain HTTP"
    )]
    RegistryNotHttp {
        /// host:port.
        registry: String,
        /// The builder's driver.
        driver: String,
        /// What to add, and where.
        fix: String,
    },
    /// The build itself failed; `reason` is BuildKit's message for the failing step.
    #[error("the build of `{image}` failed: {reason}")]
    BuildFailed {
        /// The tag being built.
        image: String,
        /// The failing step and BuildKit's message for it.
        reason: String,
    },
    /// A builder the kit lists but cannot build on.
    #[error("the builder `{name}` ({driver}) cannot be used for building here: {reason}")]
    BuilderUnusable {
        /// The builder.
        name: String,
        /// Its driver.
        driver: String,
        /// Why not.
        reason: String,
        /// What to do instead.
        fix: String,
    },
    /// A docker-container builder was asked to build without pushing.
    #[error("the builder `{0}` (docker-container) keeps what it builds to itself: add `--push`")]
    NeedsPush(String),
    /// A builder's BuildKit does not answer.
    #[error("the builder `{name}` does not answer through {address}")]
    BuilderDown {
        /// The builder.
        name: String,
        /// Where its API should be.
        address: String,
        /// Why the connection failed.
        #[source]
        source: Cause,
    },
    /// buildkitd.toml cannot be read or is not valid.
    #[error(transparent)]
    BuildkitConfig(#[from] crate::buildkit::buildkit_config::BuildkitConfigError),
    /// buildx's builder store cannot be read or written, or refuses a name.
    #[error(transparent)]
    BuildxStore(#[from] crate::buildkit::buildx_store::StoreError),
    /// The builders' record cannot be read or written.
    #[error("cannot keep the builders' record in `{path}`")]
    BuilderRecord {
        /// The state file.
        path: String,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// The build context cannot be packed.
    #[error("cannot send the build context `{path}`")]
    Context {
        /// The folder.
        path: String,
        /// The file, or the `.dockerignore` pattern, at fault.
        #[source]
        source: Cause,
    },
    /// A file cannot be read out of an image's layers.
    #[error("cannot read `{path}` out of the layers of `{reference}`")]
    Layers {
        /// The image.
        reference: String,
        /// The file inside the image.
        path: String,
        /// What was wrong with the layers.
        #[source]
        source: LayerError,
    },
    /// A build flag the chosen builder cannot honour; refused before anything is built.
    #[error("`{flag}` cannot be honoured by the `{driver}` builder: {reason}")]
    Unsupported {
        /// The flag as given.
        flag: String,
        /// The builder's driver.
        driver: String,
        /// Why not.
        reason: String,
        /// What to do instead.
        hint: String,
    },
    /// The push did not complete; the registry may hold part of the image.
    #[error("the push of `{image}` did not complete: {reason}")]
    PushFailed {
        /// The tag being pushed.
        image: String,
        /// The engine's message.
        reason: String,
    },
    /// An engine address that cannot be used.
    #[error("`{endpoint}` is not an engine address this kit can use: {reason}")]
    BadEndpoint {
        /// As given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A build node's engine does not answer.
    #[error("the build node `{node}` ({endpoint}) does not answer")]
    NodeUnreachable {
        /// The node.
        node: String,
        /// Its engine's address.
        endpoint: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A build node failed or vanished while building its platforms.
    #[error("the build node `{node}` failed building {platforms}: {reason}")]
    NodeFailed {
        /// The node.
        node: String,
        /// The platforms it was building.
        platforms: String,
        /// What went wrong.
        reason: String,
    },
    /// A builder made of nodes cannot be changed that way.
    #[error("{0}")]
    BadNodes(String),
    /// A call to the Docker engine failed.
    #[error("the Docker engine refused to {action}")]
    Engine {
        /// What was being done: `pull localhost:5000/x for linux/arm64`.
        action: String,
        /// The engine's answer.
        #[source]
        source: Cause,
    },
}

impl Error {
    /// The fix to suggest, on its own `hint:` line.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::BadReference { .. } => {
                "write it as `[registry/]repository[:tag][@digest]`, e.g. `localhost:5000/arch-server:latest`".into()
            }
            Self::Unreachable { registry, .. } => format!(
                "is the registry running? for the local one: `multiarch registry up` (then it answers at http://{registry}/v2/)"
            ),
            Self::HttpOnly { registry } => format!(
                "pass `--insecure {registry}` (or set MULTIARCH_INSECURE_REGISTRIES); for builds add `[registry.\"{registry}\"] http = true` to buildkitd.toml"
            ),
            Self::NotFound { .. } => "check the tag, or push it first: `multiarch build --push`".into(),
            Self::Unauthorized { reference, .. } => format!(
                "log in first: `docker login {}` (a wrong password stored there gets this answer too)",
                crate::oci::reference::parse(reference)
                    .map(|r| r.resolve_registry().to_string())
                    .unwrap_or_else(|_| "<registry>".into())
            ),
            Self::Certificate { registry, .. } => format!(
                "trust its CA as Docker does: put it in /etc/docker/certs.d/{registry}/ca.crt (or point SSL_CERT_FILE at a bundle that holds it); a registry that also serves plain HTTP can be used with `--insecure {registry}`"
            ),
            Self::DigestMismatch { .. } => {
                "the registry or something between you and it altered the content; do not use it".into()
            }
            Self::PlatformMissing { platform, .. } => {
                format!("build it for that platform: `multiarch build --platform {platform} --push`")
            }
            Self::EngineUnreachable { .. } => {
                "start Docker (on a fresh Debian machine: `sudo scripts/testbed.sh up`), or set DOCKER_HOST".into()
            }
            Self::PortTaken { port, .. } => format!(
                "choose another port, e.g. `--port {}`, or stop what listens there",
                port.saturating_add(1)
            ),
            Self::RegistryElsewhere { .. } => {
                "stop it first with `multiarch registry down`, or use the address it has".into()
            }
            Self::NotReady { container, .. } => format!("look at its logs: `docker logs {container}`"),
            Self::ImageUnavailable { image, .. } if image.contains("buildkit") => format!(
                "pull it (`docker pull {image}`), or use the engine's own BuildKit: `--driver docker`"
            ),
            Self::ImageUnavailable { image, .. } => format!(
                "pull it (`docker pull {image}`); where nothing can be pulled, `sudo scripts/testbed.sh up` builds registry:2 from Debian's packages"
            ),
            Self::BuilderConflict { name, .. } => {
                format!("remove it first (`multiarch builder rm {name}`) or choose another name")
            }
            Self::NoSuchBuilder(_) => "create it: `multiarch builder create`".into(),
            Self::NoMultiPlatform => r#"add {"features":{"containerd-snapshotter":true}} to /etc/docker/daemon.json and restart dockerd, or use `--driver docker-container`"#.into(),
            Self::RegistryNotHttp { fix, .. } => fix.clone(),
            // `--sbom`: BuildKit pulls its scanner image itself.
            Self::BuildFailed { reason, .. } if reason.contains("buildkit-syft-scanner") => {
                "the SBOM scanner image cannot be pulled from here: name one BuildKit can pull with `--sbom=generator=REGISTRY/IMAGE`, or build without `--sbom`".into()
            }
            // No network: the Dockerfile's compile stage cannot pull its base image.
            Self::BuildFailed { reason, .. }
                if reason.contains("failed to resolve source metadata")
                    || reason.contains("no such host")
                    || reason.contains("dial tcp") =>
            {
                "a base image cannot be pulled from here: compile on the host with `scripts/build-dist.sh`, then hand the binaries to the Dockerfile instead of its compile stage: `--build-context build=dist`".into()
            }
            Self::BuildFailed { .. } => "the step's own output is above; fix it, then build again (finished steps come from the cache)".into(),
            Self::NeedsPush(_) => "or build with a `--driver docker` builder, which keeps the image in the engine".into(),
            Self::BuilderDown { name, .. } => format!(
                "`multiarch builder ls` shows its status; a docker-container builder starts again with `docker buildx inspect --bootstrap {name}` (or `multiarch builder rm {name}` and create it again), a remote one needs its BuildKit daemon answering at that address"
            ),
            Self::Context { .. } => "check the folder and its .dockerignore".into(),
            Self::ContainerExited { image, .. } => format!("see what it printed: `docker run --rm {image}`; a program that is not a server is checked with `multiarch verify --exec 'CMD'`"),
            Self::Unsupported { hint, .. } => hint.clone(),
            Self::BuilderUnusable { fix, .. } => fix.clone(),
            Self::BuildkitConfig(_) => {
                "fix the file: BuildKit (and `docker buildx`) refuse it as it is".into()
            }
            Self::BuilderRecord { path, .. } => format!("check that `{path}` and its folder can be written"),
            Self::BuildxStore(crate::buildkit::buildx_store::StoreError::BadName(_)) => {
                "name it as `docker buildx create --name` would: `kit-1`, `arm.builder`".into()
            }
            Self::BuildxStore(crate::buildkit::buildx_store::StoreError::BadEntry { path, .. }) => format!(
                "`docker buildx ls` fails on it too: fix `{}` or remove it",
                path.display()
            ),
            Self::BuildxStore(crate::buildkit::buildx_store::StoreError::Io { .. }) => {
                "check that buildx's store (`$BUILDX_CONFIG`, else ~/.docker/buildx) can be written".into()
            }
            Self::Layers { .. } => "the image's layers are damaged or not tar archives; push it again".into(),
            Self::PushFailed { .. } => "once the registry answers again (`multiarch registry status`), run the same command: what was pushed is not sent twice".into(),
            Self::BadEndpoint { .. } => "write a node as `NAME=unix:///var/run/docker.sock`, `NAME=tcp://HOST:2376,certs=DIR` or `NAME=CONTEXT`".into(),
            Self::NodeUnreachable { node, .. } => format!(
                "is its engine running and reachable? `multiarch builder ls` shows every node's status; `multiarch builder rm BUILDER --node {node}` builds without it"
            ),
            Self::NodeFailed { .. } => "the tag was not moved: what the other nodes pushed stays in the registry only as untagged manifests; run the build again once the node is back (`multiarch builder ls`)".into(),
            Self::BadNodes(_) => "`multiarch builder inspect NAME` shows its nodes".into(),
            Self::BadAnswer { .. } | Self::Engine { .. } => return None,
        })
    }
}

/// The error for an engine call that failed while doing `action`, for `map_err`.
pub(crate) fn refused(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
    let action = action.into();
    move |source| Error::Engine {
        action,
        source: source.into(),
    }
}

/// Shorthand for results of this library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The innermost cause of an error: the words of the system call or the server, without
/// the layers of context each library wraps around them.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
