//! The driver of a builder made of nodes: each node reached (its engine, or its buildx
//! builder's BuildKit through [`crate::buildkit::driver::buildx`]), what it serves read
//! from its BuildKit, and the builder created, appended to and trimmed as buildx's
//! `create --append` and `create --leave` do.

use std::path::PathBuf;

use bollard::Docker;

use multiarch_platform::Platform;

use crate::buildkit::BuildError;
use crate::buildkit::builder::{Builder, Builders, Created, Status};
use crate::buildkit::buildx_store::Store;
use crate::buildkit::driver::{Answer, NodeInfo};
use crate::buildkit::nodes::{Node, NodeEndpoint, Serves};
use crate::engine::EngineError;
use crate::engine::endpoint::{self, EngineEndpoint};
use crate::error::{Error, Result};

/// A node that answered.
pub enum Reached {
    /// An engine.
    Engine {
        /// Connected.
        docker: Docker,
        /// Where it is.
        engine: EngineEndpoint,
    },
    /// A buildx builder.
    Buildx {
        /// Its name in buildx's store.
        builder: String,
        /// What its BuildKit said of itself.
        info: crate::buildkit::DaemonInfo,
    },
}

/// Reaches a node: its engine, or its builder's BuildKit through buildx.
///
/// # Errors
/// [`Error::Build(BuildError::NodeUnreachable)`] naming the node.
pub async fn connect(store: &Store, node: &Node) -> Result<Reached> {
    let unreachable = |source: crate::cause::Cause| {
        Error::Build(BuildError::NodeUnreachable {
            node: node.name.clone(),
            endpoint: node.endpoint.to_string(),
            buildx: match &node.endpoint {
                NodeEndpoint::Buildx { buildx } => Some(buildx.clone()),
                NodeEndpoint::Engine(_) => None,
            },
            source,
        })
    };
    match &node.endpoint {
        NodeEndpoint::Buildx { buildx } => crate::buildkit::driver::buildx::describe(store, buildx)
            .await
            .map(|info| Reached::Buildx {
                builder: buildx.clone(),
                info,
            })
            .map_err(|why| unreachable(why.into())),
        NodeEndpoint::Engine(engine) => endpoint::connect(engine)
            .await
            .map(|docker| Reached::Engine {
                docker,
                engine: engine.clone(),
            })
            .map_err(|e| {
                // ssh's refusal stays whole: its kind chooses the fix.
                unreachable(match e {
                    EngineError::SshRefused { .. } => Box::new(e),
                    other => crate::cause::root_cause(&other).into(),
                })
            }),
    }
}

/// What the engine's BuildKit says of its workers, when it can be reached.
async fn workers_info(engine: &EngineEndpoint) -> Option<crate::buildkit::control::DaemonInfo> {
    let transport = engine.transport().ok()?;
    let channel = crate::buildkit::control::engine_channel(&transport)
        .await
        .ok()?;
    crate::buildkit::control::describe(channel).await.ok()
}

/// What a node serves: its owner's list, then for an engine its own platform and what
/// its BuildKit's workers report beyond that (its emulators); for a buildx builder the
/// platforms pinned on its nodes, its BuildKit's own, and the rest its workers report.
pub async fn serves(store: &Store, node: &Node, reached: &Reached) -> Serves {
    let mut declared = node.platforms.clone();
    let (native, emulated) = match reached {
        Reached::Buildx { builder, info } => {
            for pinned in crate::buildkit::driver::buildx::pinned(store, builder) {
                if !declared.contains(&pinned) {
                    declared.push(pinned);
                }
            }
            crate::buildkit::driver::buildx::split_native(info)
        }
        Reached::Engine { docker, engine } => engine_serves(engine, docker).await,
    };
    Serves {
        declared,
        native,
        emulated,
    }
}

async fn engine_serves(engine: &EngineEndpoint, docker: &Docker) -> (Vec<Platform>, Vec<Platform>) {
    let engine_platform = crate::engine::engine_platform(docker).await;
    let mut native: Vec<Platform> = engine_platform.iter().cloned().collect();
    let mut emulated = Vec::new();
    if let Some(info) = workers_info(engine).await {
        for platform in info
            .platforms
            .iter()
            .filter_map(|p| p.parse::<Platform>().ok())
        {
            // The CPU's own levels (`amd64/v3` on an AVX2 machine) are native too, and so
            // is 386 on an x86-64 kernel: such a node is preferred to one that emulates.
            let runs_natively = engine_platform
                .as_ref()
                .is_some_and(|e| crate::engine::host::runs_natively(e, &platform));
            match (native.contains(&platform), runs_natively) {
                (true, _) => {}
                (false, true) => native.push(platform),
                (false, false) => emulated.push(platform),
            }
        }
    }
    (native, emulated)
}

/// The builder's status (running when every node answers) and each node's.
pub(crate) async fn info(store: &Store, nodes: &[Node]) -> (Answer, Vec<NodeInfo>) {
    let each =
        futures_util::future::join_all(nodes.iter().map(|node| node_info(store, node))).await;
    let down = each
        .iter()
        .filter(|n| !matches!(n.status, Status::Running))
        .count();
    let mut platforms: Vec<String> = Vec::new();
    for node in &each {
        let serves = &node.serves;
        for p in serves
            .declared
            .iter()
            .chain(&serves.native)
            .chain(&serves.emulated)
        {
            if !platforms.contains(&p.to_string()) {
                platforms.push(p.to_string());
            }
        }
    }
    let status = if down == 0 {
        Status::Running
    } else {
        Status::NodesDown {
            down,
            of: each.len(),
        }
    };
    let answer = Answer {
        status,
        buildkit: format!("{} nodes", nodes.len()),
        platforms,
    };
    (answer, each)
}

async fn node_info(store: &Store, node: &Node) -> NodeInfo {
    let (status, buildkit, serves) = match connect(store, node).await {
        Ok(reached) => (
            Status::Running,
            match &reached {
                Reached::Engine { docker, .. } => {
                    crate::buildkit::driver::engine::version(docker).await
                }
                Reached::Buildx { info, .. } => info.version.clone(),
            },
            serves(store, node, &reached).await,
        ),
        Err(e) => (
            Status::Unreachable(crate::cause::root_cause(&e)),
            "-".into(),
            Serves {
                declared: node.platforms.clone(),
                ..Serves::default()
            },
        ),
    };
    NodeInfo {
        name: node.name.clone(),
        endpoint: node.endpoint.to_string(),
        status,
        buildkit,
        serves,
    }
}

/// Creates a builder made of `nodes`, or with `append` adds them to one. Every new node
/// must answer; names stay unique; the record is written only when all is well.
///
/// # Errors
/// [`Error::Build(BuildError::NodeUnreachable)`], [`Error::Build(BuildError::BadNodes)`] for a name clash or a builder that is
/// not made of nodes, [`Error::Build(BuildError::NoSuchBuilder)`] when appending to nothing.
pub async fn create(
    builders: &Builders,
    name: &str,
    nodes: Vec<Node>,
    append: bool,
    config: Option<PathBuf>,
) -> Result<Created> {
    let (mut all_nodes, config) = match (builders.find(name)?, append) {
        (Some(Builder::Nodes { nodes, config, .. }), true) => (nodes, config),
        (Some(existing), true) => {
            return Err(Error::Build(BuildError::BadNodes(format!(
                "the builder `{name}` is not made of nodes ({} driver): nodes are appended to a builder created with `--node`",
                existing.driver_name()
            ))));
        }
        (None, true) => return Err(Error::Build(BuildError::NoSuchBuilder(name.to_string()))),
        (
            Some(Builder::Nodes {
                nodes: existing, ..
            }),
            false,
        ) if existing == nodes => {
            return Ok(Created::Existing);
        }
        (Some(_), false) => {
            return Err(Error::Build(BuildError::BadNodes(format!(
                "a builder named `{name}` already exists: `--append` adds nodes to it, `multiarch builder rm {name}` removes it"
            ))));
        }
        (None, false) => (Vec::new(), config),
    };
    for node in nodes {
        if all_nodes.iter().any(|n| n.name == node.name) {
            return Err(Error::Build(BuildError::BadNodes(format!(
                "the builder `{name}` already has a node named `{}`",
                node.name
            ))));
        }
        connect(builders.store(), &node).await?;
        all_nodes.push(node);
    }
    builders.remember(&Builder::Nodes {
        name: name.to_string(),
        config,
        nodes: all_nodes,
    })?;
    Ok(Created::New)
}

/// Removes one node from a builder made of nodes; its last node is removed with the
/// builder (`builder rm NAME`), not alone.
///
/// # Errors
/// [`Error::Build(BuildError::NoSuchBuilder)`], or [`Error::Build(BuildError::BadNodes)`] for an unknown or last node.
pub fn remove_node(builders: &Builders, name: &str, node: &str) -> Result<()> {
    let Some(Builder::Nodes {
        name: _,
        config,
        mut nodes,
    }) = builders.find(name)?
    else {
        return Err(Error::Build(BuildError::NoSuchBuilder(name.to_string())));
    };
    let Some(position) = nodes.iter().position(|n| n.name == node) else {
        return Err(Error::Build(BuildError::BadNodes(format!(
            "the builder `{name}` has no node named `{node}` (it has: {})",
            nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))));
    };
    if nodes.len() == 1 {
        return Err(Error::Build(BuildError::BadNodes(format!(
            "`{node}` is the last node of `{name}`: remove the builder instead (`multiarch builder rm {name}`)"
        ))));
    }
    nodes.remove(position);
    builders.remember(&Builder::Nodes {
        name: name.to_string(),
        config,
        nodes,
    })
}
