//! Every failure the library reports, one variant each, with the values a person
//! needs to act on it. The library says what happened; what to do about it names flags
//! and commands, so the `hint:` lines are written by the command line (`cli/hint.rs`).

use multiarch_platform::Platform;

use crate::oci::layers::LayerError;
use crate::oci::reference::ReferenceError;

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
    /// An edit the index cannot take as asked (a platform it lacks, its last platform,
    /// an annotation that does not parse): the request's fault, not the registry's.
    #[error("cannot change `{reference}` that way")]
    BadEdit {
        /// The index being edited.
        reference: String,
        /// What the edit would break (boxed: it carries a platform, and every result
        /// of this library is as large as its largest error).
        #[source]
        source: Box<crate::oci::edit::EditError>,
    },
    /// Two sources offer an image of one platform, and an index holds one per platform.
    #[error("`{first}` and `{second}` are both {platform}; an index holds one image per platform")]
    PlatformTwice {
        /// The platform both offer (boxed, as `BadEdit`'s source is).
        platform: Box<Platform>,
        /// The source named first.
        first: String,
        /// The other one.
        second: String,
    },
    /// A registry answer that says "not now" (408, 429, 5xx): worth another try.
    #[error("the registry answered `{reference}` with HTTP {status}")]
    Transient {
        /// The reference asked for.
        reference: String,
        /// The HTTP status.
        status: u16,
        /// How long the registry asked to wait (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    /// A request kept failing transiently until its tries or time ran out.
    #[error("gave up on {what} after {tries} tries in {seconds:.1} s")]
    GaveUp {
        /// The request.
        what: String,
        /// How many times it was tried.
        tries: u32,
        /// How long it was tried for, its waits included.
        seconds: f64,
        /// The last answer.
        #[source]
        source: Box<Error>,
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
    /// A temporary file for a large layer cannot be written.
    #[error("cannot keep {what} in a temporary file")]
    Scratch {
        /// What was to be kept: `the layer sha256:...`.
        what: String,
        /// The file system's error.
        #[source]
        source: std::io::Error,
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
