//! Drivers: what a builder's kind decides, in one place. buildx has one `Driver`
//! interface and a package per driver; here the contract is a set of functions that each
//! dispatch on [`Builder`] once, to one file per driver:
//!
//! - [`boot`]: make the builder ready to build and say how to reach it ([`Booted`]);
//! - [`features`]: which build flags its BuildKit honours;
//! - [`config`]: the `buildkitd.toml` it runs with;
//! - [`info`]: its status, BuildKit version and platforms, as `builder ls` shows them;
//! - [`ready`]: whether it builds right now without being created or started;
//! - [`rm`]: remove it as `docker buildx rm` does.
//!
//! The drivers: the engine's own BuildKit ([`engine`]), a BuildKit container
//! ([`container`]), a BuildKit daemon at its own address ([`remote`]), any other buildx
//! builder reached through buildx ([`buildx`]), a builder made of nodes ([`nodes`]), and
//! the container builders of earlier versions, which are only listed and removed
//! ([`legacy`]).

pub mod buildx;
pub mod container;
pub mod engine;
pub mod legacy;
pub mod nodes;
pub mod remote;

use bollard::Docker;
use serde::Serialize;

use crate::buildkit::builder::{Builder, Builders, Status};
use crate::buildkit::buildkit_config::BuildkitConfig;
use crate::buildkit::dial::Dialer;
use crate::buildkit::flags::Features;
use crate::buildkit::nodes::{Node, Serves};
use crate::error::Result;

/// Which flags a builder's BuildKit honours; `None` for a builder made of nodes, whose
/// nodes are each checked for their own.
pub fn features(builder: &Builder) -> Option<Features> {
    match builder {
        Builder::Engine { .. } => Some(Features::Engine),
        Builder::Nodes { .. } => None,
        Builder::Container(_)
        | Builder::Remote(_)
        | Builder::Foreign { .. }
        | Builder::Legacy { .. } => Some(Features::Daemon),
    }
}

/// The buildkitd.toml a builder runs with: a container builder's own copy, else the file
/// it was created with, else the built-in one.
///
/// # Errors
/// The file cannot be read or parsed.
pub(crate) fn config(builder: &Builder) -> Result<BuildkitConfig> {
    let parsed = match builder {
        Builder::Container(c) => container::config(c),
        Builder::Engine { config, .. } | Builder::Nodes { config, .. } => {
            BuildkitConfig::load(config.as_deref())
        }
        Builder::Remote(_) | Builder::Foreign { .. } | Builder::Legacy { .. } => {
            Ok(BuildkitConfig::default())
        }
    };
    Ok(parsed?)
}

/// A builder made ready to build, and how its BuildKit is reached.
pub(crate) enum Booted {
    /// The engine's own BuildKit, on this engine.
    Engine(Docker),
    /// A BuildKit daemon that pushes what it builds.
    Daemon {
        /// The local engine (named contexts are cleaned up through it).
        docker: Docker,
        /// How the daemon is dialled.
        dialer: Dialer,
    },
    /// A buildx builder that builds as a node of its own (buildx picks its node per
    /// platform).
    Buildx,
    /// Several nodes, each building its share.
    Nodes(Vec<Node>),
}

/// Makes `builder` ready to build `platforms` platforms, as buildx boots a node before a
/// build: the engine must hold multi-platform images when more than one is asked; a
/// stopped container is started and a missing one made from its entry; a remote daemon
/// must answer.
///
/// # Errors
/// [`crate::buildkit::BuildError::NoMultiPlatform`], the builder is down, or it cannot be
/// used ([`crate::buildkit::BuildError::BuilderUnusable`]).
pub(crate) async fn boot(builder: &Builder, platforms: usize) -> Result<Booted> {
    match builder {
        Builder::Engine { .. } => engine::boot(platforms).await.map(Booted::Engine),
        Builder::Container(c) => {
            let (docker, dialer) = container::boot(c).await?;
            Ok(Booted::Daemon { docker, dialer })
        }
        Builder::Remote(r) => {
            let dialer = remote::boot(r).await?;
            let docker = crate::engine::connect().await?;
            Ok(Booted::Daemon { docker, dialer })
        }
        Builder::Foreign { .. } => Ok(Booted::Buildx),
        Builder::Nodes { nodes, .. } => Ok(Booted::Nodes(nodes.clone())),
        Builder::Legacy { name } => Err(legacy::unusable(name)),
    }
}

/// A builder as `ls` and `inspect` show it.
#[derive(Debug, Serialize)]
pub struct Info {
    /// Its name.
    pub name: String,
    /// Its driver.
    pub driver: String,
    /// How it is.
    pub status: Status,
    /// BuildKit's version, or `-` when it does not answer.
    pub buildkit: String,
    /// The platforms it builds.
    pub platforms: Vec<String>,
    /// A builder made of nodes: each node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeInfo>,
    /// What only its kind has (its container, image, endpoint, config), for `inspect`.
    #[serde(skip)]
    pub details: Vec<(&'static str, String)>,
}

/// One node of a builder, as `ls` and `inspect` show it.
#[derive(Debug, Serialize)]
pub struct NodeInfo {
    /// Its name.
    pub name: String,
    /// Its engine, or `buildx://BUILDER`.
    pub endpoint: String,
    /// How it is.
    pub status: Status,
    /// Its BuildKit's (or engine's) version, or `-`.
    pub buildkit: String,
    /// What it serves.
    pub serves: Serves,
}

/// What BuildKit answered of itself, for [`Info`]: its status, version and platforms.
pub(crate) struct Answer {
    status: Status,
    buildkit: String,
    platforms: Vec<String>,
}

impl Answer {
    /// It answers.
    pub(crate) fn running(buildkit: String, platforms: Vec<String>) -> Self {
        Self {
            status: Status::Running,
            buildkit,
            platforms,
        }
    }

    /// It does not answer (or cannot be used), and nothing more is known.
    pub(crate) fn silent(status: Status) -> Self {
        Self {
            status,
            buildkit: "-".into(),
            platforms: Vec::new(),
        }
    }
}

/// A builder's status and what its BuildKit reports of itself: a BuildKit container or
/// daemon is asked directly (its workers' platforms); the engine's own BuildKit is
/// described by the engine's platform and its emulators; a builder made of nodes by each
/// node's. One that does not answer shows as such.
pub async fn info(docker: Option<&Docker>, builders: &Builders, builder: &Builder) -> Info {
    let mut nodes = Vec::new();
    let answer = match builder {
        Builder::Engine { .. } => engine::info(docker).await,
        Builder::Container(c) => container::info(c).await,
        Builder::Remote(r) => remote::info(r).await,
        Builder::Foreign { name, .. } => buildx::info(builders.store(), name).await,
        Builder::Nodes { nodes: of, .. } => {
            let (answer, each) = nodes::info(builders.store(), of).await;
            nodes = each;
            answer
        }
        Builder::Legacy { name } => legacy::info(name),
    };
    Info {
        name: builder.name().to_string(),
        driver: builder.driver_name(),
        status: answer.status,
        buildkit: answer.buildkit,
        platforms: answer.platforms,
        nodes,
        details: details(builder),
    }
}

/// What only a builder's kind has, as `inspect` shows it.
fn details(builder: &Builder) -> Vec<(&'static str, String)> {
    match builder {
        Builder::Engine { config, .. } | Builder::Nodes { config, .. } => vec![(
            "config",
            config
                .as_ref()
                .map_or("built-in buildkitd.toml".into(), |c| {
                    c.display().to_string()
                }),
        )],
        Builder::Container(c) => container::details(c),
        Builder::Remote(r) => vec![("endpoint", r.endpoint.clone())],
        Builder::Foreign { .. } | Builder::Legacy { .. } => Vec::new(),
    }
}

/// Whether `builder` builds right now as it is: a running container, an engine that
/// holds multi-platform images. Any other kind is not assumed to.
pub async fn ready(docker: &Docker, builder: &Builder) -> bool {
    match builder {
        Builder::Container(c) => container::status(docker, c).await == Status::Running,
        Builder::Engine { .. } => crate::engine::containerd_store(docker).await,
        _ => false,
    }
}

/// What [`rm`] leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Removal {
    /// Keep a container builder's state volume (its cache), as `buildx rm --keep-state`.
    pub keep_state: bool,
}

/// Removes a builder as `docker buildx rm` does: a container builder's container and (unless
/// kept) its state volume, then its entry; a remote builder's entry only. Returns whether it
/// existed.
///
/// # Errors
/// The record or the store cannot be written, or the engine refuses to remove the volume.
pub async fn rm(
    docker: Option<&Docker>,
    builders: &Builders,
    name: &str,
    removal: Removal,
) -> Result<bool> {
    let Some(builder) = builders.find(name)? else {
        return Ok(false);
    };
    match &builder {
        Builder::Container(c) => container::remove(c, removal.keep_state).await?,
        Builder::Legacy { name } => legacy::remove(docker, name, removal.keep_state).await?,
        Builder::Engine { .. }
        | Builder::Remote(_)
        | Builder::Foreign { .. }
        | Builder::Nodes { .. } => {}
    }
    if builder.in_buildx_store() {
        builders.store().remove(name)?;
    } else {
        builders.forget(name)?;
    }
    Ok(true)
}
