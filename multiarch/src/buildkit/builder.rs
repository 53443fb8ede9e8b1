//! Builders: where multi-platform builds run, as buildx has them.
//!
//! - `docker`: the engine's own BuildKit. It builds multi-platform images only with the
//!   containerd image store on; the engine's registry settings decide plain HTTP.
//! - `docker-container`: a `moby/buildkit` container (privileged, on the host network so
//!   it reaches a registry on localhost) with `buildkitd.toml` mounted at
//!   `/etc/buildkit/buildkitd.toml`, its state on a named volume (kept by `rm` unless
//!   asked), its API on a free loopback TCP port. The image is the pinned upstream tag
//!   when the engine has it, else the stand-in built from Debian's sources
//!   (`scripts/buildkit-image.sh`), else the upstream tag is pulled.
//!
//! - nodes (`--node NAME=ENDPOINT`): several engines, each building with its own BuildKit
//!   the platforms it fits best ([`crate::buildkit::nodes`]).
//!
//! Builders are remembered in a small JSON file in the user's state directory; a
//! `docker-container` builder is also its labelled container.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use serde::{Deserialize, Serialize};

use crate::buildkit::nodes::Node;
use crate::engine::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, remove};
use crate::error::{Error, Result};

/// The builder's name when none is given.
pub const DEFAULT_NAME: &str = "multiarch-builder";
/// The pinned BuildKit image for `docker-container` builders.
pub const DEFAULT_BUILDKIT_IMAGE: &str = "moby/buildkit:v0.25.1";
/// The stand-in `scripts/buildkit-image.sh` builds from Debian's sources where nothing
/// can be pulled; used when the engine has no [`DEFAULT_BUILDKIT_IMAGE`].
pub const STAND_IN_BUILDKIT_IMAGE: &str = "multiarch-testbed/buildkit:debian";
/// Where BuildKit keeps its state (and cache) inside the container.
pub const STATE_IN_CONTAINER: &str = "/var/lib/buildkit";
/// The label naming the builder on its container.
pub const BUILDER_LABEL: &str = "io.github.multiarch.builder";
/// Where BuildKit reads its configuration inside the container.
pub const CONFIG_IN_CONTAINER: &str = "/etc/buildkit/buildkitd.toml";

/// How a builder runs BuildKit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// The engine's own BuildKit.
    Docker,
    /// A moby/buildkit container.
    DockerContainer,
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Docker => "docker",
            Self::DockerContainer => "docker-container",
        })
    }
}

/// A builder as remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builder {
    /// Its name.
    pub name: String,
    /// Its driver.
    pub driver: Driver,
    /// The buildkitd.toml it was created with (absolute), if any.
    pub config: Option<PathBuf>,
    /// The BuildKit image (docker-container only).
    pub image: Option<String>,
    /// The loopback port of BuildKit's API (docker-container only).
    pub port: Option<u16>,
    /// The engines it spreads builds over (`--node`); none: the local engine alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<crate::buildkit::nodes::Node>,
}

impl Builder {
    /// The name of a docker-container builder's container.
    pub fn container_name(&self) -> String {
        format!("multiarch-buildkit-{}", self.name)
    }

    /// The volume holding a docker-container builder's state and cache.
    pub fn state_volume(&self) -> String {
        format!("{}-state", self.container_name())
    }

    /// The container a `docker-container` builder runs as: privileged (BuildKit needs
    /// it for its snapshotter and for running foreign binaries), on the host network,
    /// with buildkitd.toml mounted read-only and the API on `tcp://127.0.0.1:PORT`.
    pub fn container_body(&self) -> ContainerCreateBody {
        let mut labels = HashMap::from([
            (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
            (BUILDER_LABEL.to_string(), self.name.clone()),
        ]);
        labels.insert("io.github.multiarch.driver".into(), self.driver.to_string());
        let port = self.port.unwrap_or(1234);
        let mut cmd = vec![
            "--addr".into(),
            "unix:///run/buildkit/buildkitd.sock".into(),
            "--addr".into(),
            format!("tcp://127.0.0.1:{port}"),
        ];
        let mut binds = vec![format!("{}:{STATE_IN_CONTAINER}", self.state_volume())];
        if let Some(config) = &self.config {
            cmd.extend(["--config".into(), CONFIG_IN_CONTAINER.into()]);
            binds.push(format!("{}:{CONFIG_IN_CONTAINER}:ro", config.display()));
        }
        ContainerCreateBody {
            image: Some(
                self.image
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BUILDKIT_IMAGE.into()),
            ),
            cmd: Some(cmd),
            labels: Some(labels),
            host_config: Some(HostConfig {
                privileged: Some(true),
                network_mode: Some("host".into()),
                binds: Some(binds),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Where builders are remembered: `$MULTIARCH_STATE_DIR`, else the XDG state directory.
pub fn state_file() -> PathBuf {
    let dir = std::env::var_os("MULTIARCH_STATE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("multiarch")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/multiarch"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("multiarch"));
    dir.join("builders.json")
}

/// Every remembered builder, by name.
pub fn load_all(file: &Path) -> BTreeMap<String, Builder> {
    std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save_all(file: &Path, builders: &BTreeMap<String, Builder>) -> Result<()> {
    let io = |source: std::io::Error| Error::BuilderRecord {
        path: file.display().to_string(),
        source,
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_vec_pretty(builders).expect("builders serialise");
    std::fs::write(file, text).map_err(io)
}

/// What `create` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new builder.
    New,
    /// It existed already with these settings.
    Existing,
}

/// Creates a builder, or finds it already there.
///
/// # Errors
/// [`Error::BuilderConflict`] when the name exists with another driver,
/// [`Error::NoMultiPlatform`] when the engine cannot build multi-platform images,
/// [`Error::ImageUnavailable`] when the BuildKit image cannot be had (nothing is left).
pub async fn create(docker: &Docker, file: &Path, builder: Builder) -> Result<Created> {
    let mut all = load_all(file);
    if let Some(existing) = all.get(&builder.name) {
        if existing.driver != builder.driver {
            return Err(Error::BuilderConflict {
                name: builder.name.clone(),
                driver: existing.driver.to_string(),
            });
        }
        if builder.driver == Driver::Docker || container_running(docker, existing).await {
            return Ok(Created::Existing);
        }
    }
    match builder.driver {
        Driver::Docker => {
            if !crate::engine::containerd_store(docker).await {
                return Err(Error::NoMultiPlatform);
            }
        }
        Driver::DockerContainer => {
            let image = builder
                .image
                .clone()
                .unwrap_or_else(|| DEFAULT_BUILDKIT_IMAGE.into());
            crate::engine::ensure_image(docker, &image).await?;
            remove(docker, &builder.container_name()).await;
            create_state_volume(docker, &builder).await?;
            let options = bollard::query_parameters::CreateContainerOptionsBuilder::new()
                .name(&builder.container_name())
                .build();
            docker
                .create_container(Some(options), builder.container_body())
                .await
                .map_err(crate::error::refused(format!(
                    "create the builder container `{}`",
                    builder.container_name()
                )))?;
            if let Err(e) = docker
                .start_container(&builder.container_name(), None)
                .await
            {
                remove(docker, &builder.container_name()).await;
                return Err(Error::Engine {
                    action: format!("start the builder container `{}`", builder.container_name()),
                    source: e.into(),
                });
            }
            // Recorded only once its BuildKit answers: a builder that never came up
            // leaves its container for `docker logs`, named in the error, and no record.
            wait_until_answering(&builder).await?;
        }
    }
    all.insert(builder.name.clone(), builder);
    save_all(file, &all)?;
    Ok(Created::New)
}

/// Creates a builder made of `nodes`, or with `append` adds them to one. Every new node
/// must answer; names stay unique; the record is written only when all is well.
///
/// # Errors
/// [`Error::NodeUnreachable`], [`Error::BadNodes`] for a name clash or a builder that is
/// not made of nodes, [`Error::NoSuchBuilder`] when appending to nothing.
pub async fn create_with_nodes(
    file: &Path,
    name: &str,
    nodes: Vec<Node>,
    append: bool,
    config: Option<PathBuf>,
) -> Result<Created> {
    let mut all = load_all(file);
    let mut builder = match (all.get(name), append) {
        (Some(existing), true) if existing.nodes.is_empty() => {
            return Err(Error::BadNodes(format!(
                "the builder `{name}` is not made of nodes ({} driver): nodes are appended to a builder created with `--node`",
                existing.driver
            )));
        }
        (Some(existing), true) => existing.clone(),
        (None, true) => return Err(Error::NoSuchBuilder(name.to_string())),
        (Some(existing), false) if existing.nodes == nodes => return Ok(Created::Existing),
        (Some(_), false) => {
            return Err(Error::BadNodes(format!(
                "a builder named `{name}` already exists: `--append` adds nodes to it, `multiarch builder rm {name}` removes it"
            )));
        }
        (None, false) => Builder {
            name: name.to_string(),
            driver: Driver::Docker,
            config,
            image: None,
            port: None,
            nodes: Vec::new(),
        },
    };
    for node in nodes {
        if builder.nodes.iter().any(|n| n.name == node.name) {
            return Err(Error::BadNodes(format!(
                "the builder `{name}` already has a node named `{}`",
                node.name
            )));
        }
        crate::buildkit::nodes::connect(&node).await?;
        builder.nodes.push(node);
    }
    all.insert(name.to_string(), builder);
    save_all(file, &all)?;
    Ok(Created::New)
}

/// Removes one node from a builder made of nodes; its last node is removed with the
/// builder (`builder rm NAME`), not alone.
///
/// # Errors
/// [`Error::NoSuchBuilder`], or [`Error::BadNodes`] for an unknown or last node.
pub fn remove_node(file: &Path, name: &str, node: &str) -> Result<()> {
    let mut all = load_all(file);
    let builder = all
        .get_mut(name)
        .ok_or_else(|| Error::NoSuchBuilder(name.to_string()))?;
    let Some(position) = builder.nodes.iter().position(|n| n.name == node) else {
        return Err(Error::BadNodes(format!(
            "the builder `{name}` has no node named `{node}` (it has: {})",
            if builder.nodes.is_empty() {
                "none".to_string()
            } else {
                builder
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )));
    };
    if builder.nodes.len() == 1 {
        return Err(Error::BadNodes(format!(
            "`{node}` is the last node of `{name}`: remove the builder instead (`multiarch builder rm {name}`)"
        )));
    }
    builder.nodes.remove(position);
    save_all(file, &all)
}

/// Removes a builder (and its container; with `volumes`, its state and cache too).
/// Returns whether it existed.
///
/// # Errors
/// The state file cannot be written, or the engine refuses to remove the volume.
pub async fn remove_builder(
    docker: &Docker,
    file: &Path,
    name: &str,
    volumes: bool,
) -> Result<bool> {
    let mut all = load_all(file);
    let Some(builder) = all.remove(name) else {
        return Ok(false);
    };
    if builder.driver == Driver::DockerContainer {
        remove(docker, &builder.container_name()).await;
        if volumes {
            crate::engine::remove_volume(docker, &builder.state_volume()).await?;
        }
    }
    save_all(file, &all)?;
    Ok(true)
}

/// The image a new docker-container builder runs: the pinned upstream tag when the
/// engine has it, else the Debian stand-in when the engine has that, else the upstream
/// tag (to be pulled).
pub async fn default_image(docker: &Docker) -> String {
    for image in [DEFAULT_BUILDKIT_IMAGE, STAND_IN_BUILDKIT_IMAGE] {
        if docker.inspect_image(image).await.is_ok() {
            return image.to_string();
        }
    }
    DEFAULT_BUILDKIT_IMAGE.to_string()
}

/// A free TCP port on loopback for a builder's API.
///
/// # Errors
/// [`Error::BuilderDown`] when the system has none to give.
pub fn free_port(name: &str) -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::BuilderDown {
            name: name.to_string(),
            address: "127.0.0.1".into(),
            source: e.into(),
        })
}

/// What a docker-container builder's BuildKit says of itself.
///
/// # Errors
/// [`Error::BuilderDown`] when it does not answer.
pub async fn describe(builder: &Builder) -> Result<crate::buildkit::control::DaemonInfo> {
    let port = builder.port.unwrap_or_default();
    let channel = crate::buildkit::control::daemon_channel(&builder.name, port).await?;
    crate::buildkit::control::describe(channel).await
}

async fn create_state_volume(docker: &Docker, builder: &Builder) -> Result<()> {
    let options = bollard::models::VolumeCreateRequest {
        name: Some(builder.state_volume()),
        labels: Some(HashMap::from([
            (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
            (BUILDER_LABEL.to_string(), builder.name.clone()),
        ])),
        ..Default::default()
    };
    docker
        .create_volume(options)
        .await
        .map(|_| ())
        .map_err(crate::error::refused(format!(
            "create the builder's state volume `{}`",
            builder.state_volume()
        )))
}

/// Waits (at most 20 s) for a new builder's BuildKit to answer on its port.
async fn wait_until_answering(builder: &Builder) -> Result<()> {
    crate::http::poll(
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(200),
        async || describe(builder).await.map(|_| ()),
    )
    .await
}

/// `running`, `stopped`, or why not.
pub async fn status(docker: &Docker, builder: &Builder) -> String {
    match builder.driver {
        Driver::Docker => {
            if crate::engine::containerd_store(docker).await {
                "running".into()
            } else {
                "no containerd image store: single-platform only".into()
            }
        }
        Driver::DockerContainer => {
            if container_running(docker, builder).await {
                "running".into()
            } else {
                "stopped".into()
            }
        }
    }
}

async fn container_running(docker: &Docker, builder: &Builder) -> bool {
    docker
        .inspect_container(&builder.container_name(), None)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false)
}

/// The platforms a builder on this engine can build: the engine's own and those its
/// kernel runs beside it (386 on x86-64), plus every platform QEMU is registered for.
pub async fn platforms(docker: &Docker) -> Vec<String> {
    let engine = crate::engine::engine_platform(docker).await;
    let mut list: Vec<String> = engine.iter().map(ToString::to_string).collect();
    if let Some(engine) = &engine {
        let beside = crate::engine::host::runs_natively_beside(engine.architecture());
        list.extend(beside.iter().map(ToString::to_string));
    }
    for (platform, usable) in crate::engine::host::emulators(Path::new("/proc/sys/fs/binfmt_misc"))
    {
        if usable && !list.iter().any(|p| p == platform) {
            list.push(platform.to_string());
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_container_builder_carries_its_configuration() {
        let builder = Builder {
            name: "b".into(),
            driver: Driver::DockerContainer,
            config: Some("/work/buildkitd.toml".into()),
            image: None,
            port: Some(41234),
            nodes: Vec::new(),
        };
        let body = builder.container_body();
        assert_eq!(body.image.as_deref(), Some(DEFAULT_BUILDKIT_IMAGE));
        let host = body.host_config.unwrap();
        assert_eq!(host.privileged, Some(true));
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(
            host.binds.unwrap(),
            vec![
                "multiarch-buildkit-b-state:/var/lib/buildkit".to_string(),
                "/work/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro".to_string()
            ],
            "its state on a named volume, its config read-only"
        );
        let cmd = body.cmd.unwrap();
        assert!(
            cmd.windows(2)
                .any(|w| w == ["--config", CONFIG_IN_CONTAINER])
        );
        assert!(
            cmd.contains(&"tcp://127.0.0.1:41234".to_string()),
            "API on loopback only"
        );
        let labels = body.labels.unwrap();
        assert_eq!(labels[BUILDER_LABEL], "b");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
        assert_eq!(builder.container_name(), "multiarch-buildkit-b");
    }

    #[test]
    fn builders_are_remembered_in_a_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/builders.json");
        assert!(load_all(&file).is_empty());
        let builder = Builder {
            name: "x".into(),
            driver: Driver::Docker,
            config: None,
            image: None,
            port: None,
            nodes: Vec::new(),
        };
        save_all(&file, &BTreeMap::from([("x".to_string(), builder.clone())])).unwrap();
        assert_eq!(load_all(&file)["x"], builder);
    }
}
