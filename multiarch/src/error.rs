//! Every failure the library reports, with the values a person needs to act on it. Each
//! layer has its own type, wrapped here whole: the registry's ([`RegistryError`]), the
//! engine's ([`EngineError`]) and the build's ([`BuildError`]); what belongs to no one
//! layer (a reference, an index edit, the image's contents) is a variant of its own. The
//! library says what happened; what to do about it names flags and commands, so the
//! `hint:` lines are written by the command line (`cli/hint.rs`).

use multiarch_platform::Platform;

use crate::buildkit::BuildError;
use crate::engine::EngineError;
use crate::oci::layers::LayerError;
use crate::oci::reference::ReferenceError;
use crate::registry::RegistryError;

pub use crate::cause::{Cause, root_cause};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A builder, the build's context, BuildKit or a build node failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The Docker engine failed, or a container the kit ran on it.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A registry failed, or answered what cannot be used.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The image reference does not parse.
    #[error("`{reference}` is not a valid image reference")]
    BadReference {
        /// What was given.
        reference: String,
        /// Why it was refused.
        #[source]
        source: ReferenceError,
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
    /// The images to list cannot stand in one index (none, or a member the index format
    /// cannot hold): refused before anything is pushed.
    #[error("cannot make the index `{reference}`")]
    Assemble {
        /// The index that was to be made.
        reference: String,
        /// Why the images cannot be listed (boxed: it carries a platform).
        #[source]
        source: Box<crate::oci::assemble::AssembleError>,
    },
    /// The digests of a release are not one per platform of its repository (boxed: the
    /// platform and two digests it names would make every result of the crate larger).
    #[error(transparent)]
    Merge(Box<crate::manifest::error::MergeError>),
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
}

// The build layer's own sources, straight to the crate's error for `?`.
impl From<crate::buildkit::buildx_store::StoreError> for Error {
    fn from(error: crate::buildkit::buildx_store::StoreError) -> Self {
        Error::Build(BuildError::BuildxStore(error))
    }
}

impl From<crate::buildkit::buildkit_config::BuildkitConfigError> for Error {
    fn from(error: crate::buildkit::buildkit_config::BuildkitConfigError) -> Self {
        Error::Build(BuildError::BuildkitConfig(error))
    }
}

impl crate::retry::GiveUp for Error {
    fn give_up(self, what: String, tries: u32, seconds: f64) -> Self {
        match self {
            Error::Registry(last) => Error::Registry(last.give_up(what, tries, seconds)),
            Error::Engine(last) => Error::Engine(last.give_up(what, tries, seconds)),
            // Only the registry's and the engine's failures are ever retried.
            other => other,
        }
    }
}

impl From<crate::manifest::error::MergeError> for Error {
    fn from(error: crate::manifest::error::MergeError) -> Self {
        Self::Merge(Box::new(error))
    }
}

/// Shorthand for results of this library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error in one line: what failed, then its innermost cause (the words of the system
/// call or the server), for a report that keeps one sentence per finding.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let outer = error.to_string();
    let root = root_cause(error);
    if outer.contains(&root) {
        outer
    } else {
        format!("{outer}: {root}")
    }
}
