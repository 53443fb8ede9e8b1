//! Building images through BuildKit, in layers that each use only those listed before it:
//!
//! - the parts: BuildKit's control API ([`control`]) reached without a port ([`dial`]),
//!   its status stream told as buildx's plain progress ([`progress`]), buildx's store of
//!   builders ([`buildx_store`]), `buildkitd.toml` ([`buildkit_config`]), the context sent
//!   as a tar ([`context`]) and named contexts as images ([`context_image`],
//!   [`named_contexts`]), what to build ([`request`]) and which flags a BuildKit honours
//!   ([`flags`]), build nodes and which platform goes to which ([`nodes`]);
//! - builders by kind and where they are kept ([`builder`]), and one solve followed on one
//!   BuildKit ([`solve`]);
//! - the drivers ([`driver`]): the one place that does what a builder's kind decides (boot
//!   it, reach it, describe it, create and remove it), one file per driver;
//! - the build: on one BuildKit ([`image`]) or spread over nodes ([`spread`]), and creating
//!   a builder ready to push to a registry ([`create`]). Both report progress as
//!   [`BuildEvent`]s and never print.

pub mod builder;
pub mod buildkit_config;
pub mod buildx_store;
pub(crate) mod context;
pub(crate) mod context_image;
pub(crate) mod control;
pub mod create;
pub(crate) mod dial;
pub mod driver;
mod error;
pub mod flags;
pub mod image;
pub(crate) mod named_contexts;
pub mod nodes;
pub mod profile;
pub(crate) mod progress;
pub mod request;
pub(crate) mod solve;
pub mod spread;

pub use control::DaemonInfo;
pub use error::BuildError;
pub use named_contexts::remove_leftover_contexts;
pub use request::{BuildRequest, KeyValue, NamedDir};
pub use solve::BuildEvent;
