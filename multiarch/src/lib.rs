//! The library behind the `multiarch` command: registries, image indexes, the Docker
//! engine, and the checks that prove an image holds what its index claims.
//!
//! Nothing here prints: the CLI layer (`src/cli/`) decides what a person sees. Errors
//! are [`error::Error`] variants carrying the values that matter (reference, platform,
//! URL, status) so that the CLI can say what failed and what to do.

pub mod build_context;
pub mod build_progress;
pub mod builder;
pub mod buildkit_config;
pub mod buildkit_control;
pub mod compose;
pub mod docker;
pub mod doctor;
pub mod elf;
pub mod error;
pub mod image_build;
pub mod index;
pub mod layers;
pub mod local_registry;
pub mod manifest_list;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod verify;

pub use multiarch_platform::{ArchAnswer, Platform, PlatformError, parse_platform_list};
