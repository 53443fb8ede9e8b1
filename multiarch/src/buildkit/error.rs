//! What can go wrong building: the build layer's own failures (builders, their records,
//! the context, BuildKit's answers, the nodes of a spread build). A build also meets the
//! engine's and the registry's failures, which keep their own types; the crate's
//! `Error` (`error.rs`) wraps all three whole.

use crate::cause::Cause;

/// A build failure.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
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
    /// A builder whose BuildKit pushes what it builds was asked to build without pushing.
    #[error("the builder `{name}` ({driver}) keeps what it builds to itself: add `--push`")]
    NeedsPush {
        /// The builder.
        name: String,
        /// Its driver.
        driver: String,
    },
    /// A builder's BuildKit does not answer.
    #[error("the builder `{name}` does not answer through {address}")]
    BuilderDown {
        /// The builder.
        name: String,
        /// Where its API should be.
        address: String,
        /// It is reached through `docker buildx dial-stdio`, so buildx says why not.
        through_buildx: bool,
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
    /// The kit could not describe a named context as an image (a descriptor, config or
    /// manifest that does not build or serialise): its own fault, nobody's input.
    #[error("cannot describe the named context `{reference}` as an image: {reason}")]
    ContextImage {
        /// The image it was to be pushed as.
        reference: String,
        /// What failed.
        reason: String,
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
    /// A build node's engine does not answer.
    #[error("the build node `{node}` ({endpoint}) does not answer")]
    NodeUnreachable {
        /// The node.
        node: String,
        /// Its engine's address.
        endpoint: String,
        /// It is a buildx builder (`buildx://NAME`), reached through buildx.
        buildx: Option<String>,
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
    /// A build node written in a way that does not read as one (`NAME=ENDPOINT[,certs=DIR]
    /// [,platforms=P...]`): the words, not the engine they name, are at fault.
    #[error("`{spec}` is not a build node: {reason}")]
    BadNodeSpec {
        /// As given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A builder made of nodes cannot be changed that way.
    #[error("{0}")]
    BadNodes(String),
    /// BuildKit itself (the engine's, a builder container's or a remote daemon's) refused
    /// a request of its control API: not the engine's refusal, whichever carried it.
    #[error("BuildKit refused to {action}")]
    BuildkitRefused {
        /// What was asked: `follow the build's progress`.
        action: String,
        /// BuildKit's answer.
        #[source]
        source: Cause,
    },
}
