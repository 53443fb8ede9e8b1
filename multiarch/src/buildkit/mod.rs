//! Building images through BuildKit: builders and their record ([`builder`]),
//! `buildkitd.toml` ([`buildkit_config`]), the context sent as a tar ([`context`]),
//! BuildKit's control API for the status stream ([`control`]), that stream told as
//! buildx's plain progress ([`progress`]), and the build itself ([`image`]), which
//! reports progress as [`image::BuildEvent`]s and never prints; a builder made of several
//! engines ([`nodes`]) spreads a build over them ([`spread`]).

pub mod builder;
pub mod buildkit_config;
pub(crate) mod context;
pub(crate) mod context_image;
pub(crate) mod control;
pub mod flags;
pub mod image;
pub mod nodes;
pub(crate) mod progress;
pub mod spread;
