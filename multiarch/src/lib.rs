//! The library behind the `multiarch` command: registries, image indexes, the Docker
//! engine, and the checks that prove an image holds what its index claims.
//!
//! Nothing here prints: long work reports typed events through a callback and returns
//! typed results; the CLI layer (`src/cli/`) decides what a person sees. Errors are
//! [`error::Error`] variants carrying the values that matter (reference, platform, URL,
//! status) and their causes, so the CLI can say what failed and what to do.
//!
//! The layers, each depending only on those above it in this list:
//! - [`oci`]: references, platforms, indexes and manifests, assembling an index;
//! - [`registry`] (the distribution API) and [`engine`] (the Docker engine, and what the
//!   host can do): the two things that talk to the outside world;
//! - [`local_registry`], [`buildkit`], [`verify`]: what the kit does with them;
//! - [`inspect`], [`pull`], [`copy`], [`manifest`], [`preflight`] (a Dockerfile's base
//!   images checked for every platform before a build), [`audit`] and [`doctor`]: use
//!   cases built from those.

pub mod audit;
pub mod buildkit;
mod cause;
pub mod copy;
pub mod doctor;
pub mod engine;
pub mod error;
mod http;
pub mod input;
pub mod inspect;
pub mod local_registry;
pub mod manifest;
pub mod oci;
pub mod preflight;
pub mod pull;
pub mod registry;
pub mod retry;
pub mod stdio;
pub mod verify;

pub use multiarch_platform::{
    ArchAnswer, Platform, PlatformError, join_platforms, parse_platform_list,
};
