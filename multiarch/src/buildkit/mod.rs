//! Building images through BuildKit: builders by kind, the kit's record of some
//! ([`builder`]) and buildx's store of the others ([`buildx_store`]), a BuildKit
//! container run as buildx runs it ([`container`]) or a remote daemon ([`remote`]), both
//! reached without a port ([`dial`]),
//! `buildkitd.toml` ([`buildkit_config`]), the context sent as a tar ([`context`]),
//! BuildKit's control API for the status stream ([`control`]), that stream told as
//! buildx's plain progress ([`progress`]), and the build itself ([`image`]), which
//! reports progress as [`image::BuildEvent`]s and never prints; a builder made of several
//! engines ([`nodes`]) spreads a build over them ([`spread`]); before any of it, every
//! base image is checked for every platform ([`preflight`]).

pub mod builder;
pub mod buildkit_config;
pub mod buildx_node;
pub mod buildx_store;
pub mod container;
pub(crate) mod context;
pub(crate) mod context_image;
pub(crate) mod control;
pub(crate) mod dial;
mod error;
pub mod flags;
pub mod image;
pub mod nodes;
pub mod preflight;
pub(crate) mod progress;
pub mod remote;
pub mod setup;
pub mod spread;

pub use control::DaemonInfo;
pub use error::BuildError;
