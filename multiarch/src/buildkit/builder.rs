//! Builders: where multi-platform builds run, by kind.
//!
//! - [`Builder::Engine`]: the engine's own BuildKit (buildx's `docker` driver). It builds
//!   multi-platform images only with the containerd image store on; the engine's registry
//!   settings decide plain HTTP.
//! - [`Builder::Container`]: a BuildKit container, a buildx `docker-container` builder in
//!   buildx's own store ([`crate::buildkit::buildx_store`]): the kit writes and runs it as
//!   `docker buildx create` does, so `docker buildx ls`, `build` and `rm` work on it, and
//!   one made by `docker buildx create` is the kit's too.
//! - [`Builder::Remote`]: a BuildKit daemon of its own, buildx's `remote` driver.
//! - [`Builder::Nodes`]: several engines or buildx builders, each building with its own
//!   BuildKit the platforms it fits best ([`crate::buildkit::nodes`]).
//! - [`Builder::Foreign`]: a buildx builder of another driver (kubernetes, cloud) or of
//!   several nodes, reached through `docker buildx dial-stdio`.
//! - [`Builder::Legacy`]: a docker-container builder the kit made before it wrote buildx's
//!   store; it can be listed and removed, and is refused for building with the fix.
//!
//! buildx cannot hold an engine builder (its `docker` driver is a Docker context) or a set
//! of engine nodes, so those two are kept in the kit's own record, a small JSON file in the
//! user's state directory, which still reads the records of earlier versions.
//!
//! What each kind does (boot, reach, describe, create, remove) is its driver's, in the
//! `driver` folder; this file only says what a builder is and where it is kept.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::buildkit::BuildError;
use crate::buildkit::buildx_store::{self, NodeGroup, Store};
use crate::buildkit::nodes::Node;
use crate::error::{Error, Result};

/// The builder's name when none is given.
pub const DEFAULT_NAME: &str = "multiarch-builder";
/// The pinned BuildKit image for `docker-container` builders.
pub const DEFAULT_BUILDKIT_IMAGE: &str = "moby/buildkit:v0.25.1";
/// The stand-in `scripts/buildkit-image.sh` builds from Debian's sources where nothing
/// can be pulled; used when the engine has no [`DEFAULT_BUILDKIT_IMAGE`].
pub const STAND_IN_BUILDKIT_IMAGE: &str = "multiarch-testbed/buildkit:debian";

/// A builder, by kind; each kind holds only what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    /// The engine's own BuildKit.
    Engine {
        /// Its name.
        name: String,
        /// The buildkitd.toml it was created with (absolute), if any.
        config: Option<PathBuf>,
    },
    /// A buildx docker-container builder.
    Container(ContainerBuilder),
    /// A buildx remote builder.
    Remote(RemoteBuilder),
    /// Several engines.
    Nodes {
        /// Its name.
        name: String,
        /// The buildkitd.toml it was created with (absolute), if any.
        config: Option<PathBuf>,
        /// The engines it spreads builds over.
        nodes: Vec<Node>,
    },
    /// A buildx builder of another driver, or of several nodes: built on through buildx
    /// (`docker buildx dial-stdio`), as a builder of one node, itself.
    Foreign {
        /// Its name.
        name: String,
        /// Its driver (`kubernetes`, `cloud`, ...).
        driver: String,
    },
    /// A docker-container builder of the kit's earlier record.
    Legacy {
        /// Its name.
        name: String,
    },
}

/// A buildx docker-container builder: one BuildKit container on an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerBuilder {
    /// The builder's name (lower case, as buildx stores it).
    pub name: String,
    /// Its node's name, `<name>0` when the kit or buildx made it.
    pub node: String,
    /// The engine it runs on: a host URL or a Docker context's name.
    pub endpoint: String,
    /// The BuildKit image (`image=` driver option); buildx's default when unset.
    pub image: Option<String>,
    /// buildkitd.toml, as copied into `/etc/buildkit/`.
    pub config: Option<Vec<u8>>,
    /// buildkitd's flags.
    pub flags: Vec<String>,
    /// The `network=` driver option (`host` for a kit builder).
    pub network: Option<String>,
}

/// The image buildx runs when a docker-container builder names none.
pub(crate) const BUILDX_DEFAULT_IMAGE: &str = "moby/buildkit:buildx-stable-1";

impl ContainerBuilder {
    /// The builder the kit creates: on the host network (so it reaches a registry on
    /// localhost), with buildx's entitlement for that, as `docker buildx create --driver
    /// docker-container --driver-opt image=I,network=host --buildkitd-config F` writes it.
    pub fn new(name: &str, endpoint: &str, image: &str, config: Vec<u8>) -> Self {
        Self {
            name: name.to_string(),
            node: format!("{name}0"),
            endpoint: endpoint.to_string(),
            image: Some(image.to_string()),
            config: Some(config),
            flags: vec!["--allow-insecure-entitlement=network.host".into()],
            network: Some("host".into()),
        }
    }

    /// The container's name, as buildx names it.
    pub fn container_name(&self) -> String {
        format!("buildx_buildkit_{}", self.node)
    }

    /// The volume holding its state and cache, as buildx names it.
    pub fn state_volume(&self) -> String {
        format!("{}_state", self.container_name())
    }

    /// The image it runs.
    pub fn image(&self) -> &str {
        self.image.as_deref().unwrap_or(BUILDX_DEFAULT_IMAGE)
    }

    /// Its buildx store entry.
    pub(crate) fn to_node_group(&self) -> NodeGroup {
        let mut opts = BTreeMap::new();
        if let Some(image) = &self.image {
            opts.insert("image".to_string(), image.clone());
        }
        if let Some(network) = &self.network {
            opts.insert("network".to_string(), network.clone());
        }
        NodeGroup {
            name: self.name.clone(),
            driver: "docker-container".into(),
            nodes: vec![buildx_store::Node {
                name: self.node.clone(),
                endpoint: self.endpoint.clone(),
                platforms: None,
                driver_opts: (!opts.is_empty()).then_some(opts),
                flags: (!self.flags.is_empty()).then(|| self.flags.clone()),
                files: self
                    .config
                    .as_ref()
                    .map(|c| BTreeMap::from([("buildkitd.toml".to_string(), c.clone())])),
            }],
            dynamic: false,
        }
    }
}

/// A buildx remote builder: a BuildKit daemon at its own address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBuilder {
    /// The builder's name.
    pub name: String,
    /// `tcp://HOST:PORT` or `unix:///PATH`.
    pub endpoint: String,
    /// The TLS files buildx was given for it (`--driver-opt cacert=...,cert=...,key=...`).
    pub tls: Option<RemoteTls>,
}

/// A remote builder's TLS settings, buildx's driver options (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTls {
    /// The CA that signed the daemon's certificate (`cacert`).
    pub ca: Option<PathBuf>,
    /// The client's certificate (`cert`) and key (`key`), which the daemon checks.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// The name to check the daemon's certificate against (`servername`), else the host.
    pub server_name: Option<String>,
}

impl RemoteBuilder {
    /// buildx's store entry, as `docker buildx create --driver remote ENDPOINT
    /// --driver-opt cacert=...,cert=...,key=...,servername=...` writes it.
    pub(crate) fn to_node_group(&self) -> NodeGroup {
        let mut opts = BTreeMap::new();
        if let Some(tls) = &self.tls {
            let path = |p: &PathBuf| p.display().to_string();
            if let Some(ca) = &tls.ca {
                opts.insert("cacert".to_string(), path(ca));
            }
            if let Some((cert, key)) = &tls.identity {
                opts.insert("cert".to_string(), path(cert));
                opts.insert("key".to_string(), path(key));
            }
            if let Some(name) = &tls.server_name {
                opts.insert("servername".to_string(), name.clone());
            }
        }
        NodeGroup {
            name: self.name.clone(),
            driver: "remote".into(),
            nodes: vec![buildx_store::Node {
                name: format!("{}0", self.name),
                endpoint: self.endpoint.clone(),
                platforms: None,
                driver_opts: (!opts.is_empty()).then_some(opts),
                flags: None,
                files: None,
            }],
            dynamic: false,
        }
    }
}

/// The TLS driver options of a remote node, when any is set.
fn remote_tls(node: &crate::buildkit::buildx_store::Node) -> Option<RemoteTls> {
    let path = |key: &str| node.driver_opt(key).map(PathBuf::from);
    let tls = RemoteTls {
        ca: path("cacert"),
        identity: path("cert").zip(path("key")),
        server_name: node.driver_opt("servername").map(String::from),
    };
    let any = ["cacert", "cert", "key", "servername"]
        .iter()
        .any(|k| node.driver_opt(k).is_some());
    any.then_some(tls)
}

impl Builder {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Self::Engine { name, .. }
            | Self::Nodes { name, .. }
            | Self::Foreign { name, .. }
            | Self::Legacy { name } => name,
            Self::Container(c) => &c.name,
            Self::Remote(r) => &r.name,
        }
    }

    /// What `ls` shows as its driver.
    pub fn driver_name(&self) -> String {
        match self {
            Self::Engine { .. } | Self::Nodes { .. } => "docker".into(),
            Self::Container(_) | Self::Legacy { .. } => "docker-container".into(),
            Self::Remote(_) => "remote".into(),
            Self::Foreign { driver, .. } => driver.clone(),
        }
    }

    /// As a build announces it: `docker-container driver`, or `3 nodes`.
    pub fn described(&self) -> String {
        match self {
            Self::Nodes { nodes, .. } => format!("{} nodes", nodes.len()),
            other => format!("{} driver", other.driver_name()),
        }
    }

    /// Its container, for a BuildKit container builder.
    pub fn container(&self) -> Option<&ContainerBuilder> {
        match self {
            Self::Container(c) => Some(c),
            _ => None,
        }
    }

    /// Where it lives: the kit's record, or buildx's store.
    pub(crate) fn in_buildx_store(&self) -> bool {
        matches!(
            self,
            Self::Container(_) | Self::Remote(_) | Self::Foreign { .. }
        )
    }

    /// The engine builder used when none is named.
    pub(crate) fn default_engine() -> Self {
        Self::Engine {
            name: "default".into(),
            config: None,
        }
    }

    /// A builder from its buildx store entry.
    pub(crate) fn from_node_group(group: NodeGroup) -> Self {
        let first = group.nodes.first();
        match (group.driver.as_str(), first) {
            ("docker-container", Some(node)) if group.nodes.len() == 1 => {
                Self::Container(ContainerBuilder {
                    name: group.name.clone(),
                    node: node.name.clone(),
                    endpoint: node.endpoint.clone(),
                    image: node.driver_opt("image").map(String::from),
                    config: node
                        .files
                        .as_ref()
                        .and_then(|f| f.get("buildkitd.toml"))
                        .cloned(),
                    flags: node.flags.clone().unwrap_or_default(),
                    network: node.driver_opt("network").map(String::from),
                })
            }
            ("remote", Some(node)) if group.nodes.len() == 1 => Self::Remote(RemoteBuilder {
                name: group.name.clone(),
                endpoint: node.endpoint.clone(),
                tls: remote_tls(node),
            }),
            (driver, _) => Self::Foreign {
                name: group.name.clone(),
                driver: if group.nodes.len() > 1 {
                    format!("{driver} ({} nodes)", group.nodes.len())
                } else {
                    driver.to_string()
                },
            },
        }
    }
}

/// How a builder is, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It answers.
    Running,
    /// Its container exists and is not running (a build starts it).
    Stopped,
    /// It has no container yet (a build creates it from its entry, as buildx does).
    Inactive,
    /// The engine builds one platform at a time (no containerd image store).
    SinglePlatformOnly,
    /// Some nodes of a builder made of nodes do not answer.
    NodesDown {
        /// How many.
        down: usize,
        /// Of how many.
        of: usize,
    },
    /// It does not answer, and why.
    Unreachable(String),
    /// The kit cannot use it, and why.
    Unusable(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Running => f.write_str("running"),
            Self::Stopped => f.write_str("stopped"),
            Self::Inactive => f.write_str("inactive"),
            Self::SinglePlatformOnly => {
                f.write_str("no containerd image store: single-platform only")
            }
            Self::NodesDown { down, of } => write!(f, "{down} of {of} nodes down"),
            Self::Unreachable(why) => write!(f, "unreachable: {why}"),
            Self::Unusable(why) => f.write_str(why),
        }
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The kit's record of a builder, in the shape every version wrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    name: String,
    driver: RecordedDriver,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<Node>,
}

/// The driver a record names: `docker` for engine builders and nodes; the others only
/// in records of earlier versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RecordedDriver {
    Docker,
    DockerContainer,
    Remote,
}

impl Record {
    fn into_builder(self) -> Builder {
        match self.driver {
            _ if !self.nodes.is_empty() => Builder::Nodes {
                name: self.name,
                config: self.config,
                nodes: self.nodes,
            },
            RecordedDriver::Docker => Builder::Engine {
                name: self.name,
                config: self.config,
            },
            RecordedDriver::DockerContainer | RecordedDriver::Remote => {
                Builder::Legacy { name: self.name }
            }
        }
    }

    fn of(builder: &Builder) -> Option<Self> {
        match builder {
            Builder::Engine { name, config } => Some(Self {
                name: name.clone(),
                driver: RecordedDriver::Docker,
                config: config.clone(),
                nodes: Vec::new(),
            }),
            Builder::Nodes {
                name,
                config,
                nodes,
            } => Some(Self {
                name: name.clone(),
                driver: RecordedDriver::Docker,
                config: config.clone(),
                nodes: nodes.clone(),
            }),
            _ => None,
        }
    }
}

/// Where builders are: the kit's record and buildx's store.
#[derive(Debug, Clone)]
pub struct Builders {
    record: PathBuf,
    store: Store,
}

impl Builders {
    /// The user's: `$MULTIARCH_STATE_DIR/builders.json` (else the XDG state directory) and
    /// buildx's store (`$BUILDX_CONFIG`, else `${DOCKER_CONFIG:-~/.docker}/buildx`).
    pub fn from_env() -> Self {
        let dir = std::env::var_os("MULTIARCH_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("multiarch"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/multiarch"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("multiarch"));
        Self::at(dir.join("builders.json"), Store::from_env())
    }

    /// Builders kept in `record` and `store`.
    pub fn at(record: PathBuf, store: Store) -> Self {
        Self { record, store }
    }

    /// buildx's store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn load_record(&self) -> BTreeMap<String, Record> {
        std::fs::read(&self.record)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save_record(&self, all: &BTreeMap<String, Record>) -> Result<()> {
        let io = |source: std::io::Error| {
            Error::Build(BuildError::BuilderRecord {
                path: self.record.display().to_string(),
                source,
            })
        };
        if let Some(dir) = self.record.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_vec_pretty(all).expect("builders serialise");
        let temp = self.record.with_extension("json.tmp");
        std::fs::write(&temp, text).map_err(io)?;
        std::fs::rename(&temp, &self.record).map_err(io)
    }

    /// Every builder: the kit's record first, then buildx's store.
    ///
    /// # Errors
    /// [`Error::Build(BuildError::BuildxStore)`] when the store cannot be read (buildx would fail too).
    pub fn list(&self) -> Result<Vec<Builder>> {
        let mut all: Vec<Builder> = self
            .load_record()
            .into_values()
            .map(Record::into_builder)
            .collect();
        for group in self.store.list()? {
            if !all.iter().any(|b| b.name() == group.name) {
                all.push(Builder::from_node_group(group));
            }
        }
        Ok(all)
    }

    /// The builder `name`, from the kit's record or buildx's store.
    ///
    /// # Errors
    /// [`Error::Build(BuildError::BuildxStore)`] when the store cannot be read.
    pub fn find(&self, name: &str) -> Result<Option<Builder>> {
        if let Some(record) = self.load_record().remove(name) {
            return Ok(Some(record.into_builder()));
        }
        if buildx_store::check_name(name).is_err() {
            return Ok(None);
        }
        Ok(self.store.get(name)?.map(Builder::from_node_group))
    }

    /// The builder a build uses, and why: `--builder` (`given`), else `$BUILDX_BUILDER`
    /// (`env`, as the caller read it), else the one `docker buildx use` chose for this
    /// engine, else the kit's `multiarch-builder`, else the engine's own BuildKit
    /// (buildx's `default`).
    ///
    /// # Errors
    /// [`Error::Build(BuildError::NoSuchBuilder)`] for a named builder that does not exist,
    /// [`Error::Build(BuildError::BuildxStore)`] when the store cannot be read.
    pub fn choose(&self, given: Option<&str>, env: Option<&str>) -> Result<(Builder, Chosen)> {
        let env = env.filter(|n| !n.is_empty()).map(String::from);
        let current = self
            .store
            .current(&crate::engine::endpoint::local_endpoint());
        let named = match (given, env, current) {
            (Some(name), _, _) => Some((name.to_string(), Chosen::Flag)),
            (None, Some(name), _) => Some((name, Chosen::Environment)),
            (None, None, Some(name)) => Some((name, Chosen::BuildxCurrent)),
            (None, None, None) => None,
        };
        match named {
            // buildx writes its default builder (the engine's) as `""` in `current`.
            Some((name, _)) if name.is_empty() || name == "default" => {
                Ok((Builder::default_engine(), Chosen::Engine))
            }
            Some((name, why)) => self
                .find(&name)?
                .map(|b| (b, why))
                .ok_or(Error::Build(BuildError::NoSuchBuilder(name))),
            None => Ok(match self.find(DEFAULT_NAME)? {
                Some(b) => (b, Chosen::KitDefault),
                None => (Builder::default_engine(), Chosen::Engine),
            }),
        }
    }

    /// Remembers an engine builder or a builder made of nodes in the kit's record.
    ///
    /// # Errors
    /// [`Error::Build(BuildError::BuilderRecord)`].
    pub(crate) fn remember(&self, builder: &Builder) -> Result<()> {
        let record = Record::of(builder).expect("only engine and node builders are recorded");
        let mut all = self.load_record();
        all.insert(record.name.clone(), record);
        self.save_record(&all)
    }

    /// Forgets `name` in the kit's record; whether it was there.
    ///
    /// # Errors
    /// [`Error::Build(BuildError::BuilderRecord)`].
    pub(crate) fn forget(&self, name: &str) -> Result<bool> {
        let mut all = self.load_record();
        let existed = all.remove(name).is_some();
        if existed {
            self.save_record(&all)?;
        }
        Ok(existed)
    }
}

/// Why a build uses the builder it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// `--builder`.
    Flag,
    /// `$BUILDX_BUILDER`.
    Environment,
    /// `docker buildx use`.
    BuildxCurrent,
    /// The kit's `multiarch-builder`.
    KitDefault,
    /// None named: the engine's own.
    Engine,
}

impl std::fmt::Display for Chosen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flag => "--builder",
            Self::Environment => "$BUILDX_BUILDER",
            Self::BuildxCurrent => "docker buildx use",
            Self::KitDefault => "the kit's default",
            Self::Engine => "none named",
        })
    }
}

/// What `create` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new builder.
    New,
    /// It existed already with these settings.
    Existing,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn builders(dir: &Path) -> Builders {
        Builders::at(
            dir.join("state/builders.json"),
            Store::at(dir.join("buildx")),
        )
    }

    #[test]
    fn the_kit_writes_a_container_builder_as_buildx_does() {
        let fixture = include_str!("../../tests/fixtures/buildx-instance-kit1.json");
        let theirs: NodeGroup = serde_json::from_str(fixture).unwrap();
        let config = theirs.nodes[0].files.as_ref().unwrap()["buildkitd.toml"].clone();
        let ours = ContainerBuilder::new(
            "kit1",
            "unix:///var/run/docker.sock",
            STAND_IN_BUILDKIT_IMAGE,
            config,
        );
        assert_eq!(ours.to_node_group(), theirs);
        assert_eq!(ours.container_name(), "buildx_buildkit_kit10");
        assert_eq!(ours.state_volume(), "buildx_buildkit_kit10_state");
        assert_eq!(
            Builder::from_node_group(theirs),
            Builder::Container(ours),
            "and reads buildx's entry back as the same builder"
        );
    }

    #[test]
    fn records_of_earlier_versions_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let b = builders(dir.path());
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::write(
            dir.path().join("state/builders.json"),
            r#"{"e":{"name":"e","driver":"docker","config":null,"image":null,"port":null},
               "c":{"name":"c","driver":"docker-container","config":"/w/buildkitd.toml","image":"moby/buildkit:v0.25.1","port":41234},
               "n":{"name":"n","driver":"docker","config":null,"image":null,"port":null,"nodes":[{"name":"a","host":"unix:///var/run/docker.sock"}]}}"#,
        )
        .unwrap();
        let all = b.list().unwrap();
        assert!(matches!(&all[0], Builder::Legacy { name } if name == "c"));
        assert!(matches!(&all[1], Builder::Engine { name, .. } if name == "e"));
        assert!(matches!(&all[2], Builder::Nodes { nodes, .. } if nodes.len() == 1));
    }

    #[test]
    fn the_record_and_the_store_are_one_list() {
        let dir = tempfile::tempdir().unwrap();
        let b = builders(dir.path());
        b.remember(&Builder::Engine {
            name: "e".into(),
            config: None,
        })
        .unwrap();
        let container = ContainerBuilder::new("c", "unix:///var/run/docker.sock", "i", vec![]);
        b.store().put(&container.to_node_group()).unwrap();
        let names: Vec<String> = b.list().unwrap().iter().map(|x| x.name().into()).collect();
        assert_eq!(names, ["e", "c"]);
        assert_eq!(b.find("c").unwrap(), Some(Builder::Container(container)));
        assert!(b.forget("e").unwrap());
        assert_eq!(b.find("e").unwrap(), None);
    }

    /// What `docker buildx use default` writes: an empty name, the engine's builder (found
    /// by scripts/captures.sh: "there is no builder named ``").
    #[test]
    fn buildx_current_default_is_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let b = builders(dir.path());
        std::fs::create_dir_all(dir.path().join("buildx")).unwrap();
        std::fs::write(
            dir.path().join("buildx/current"),
            r#"{"Key":"unix:///var/run/docker.sock","Name":"","Global":true}"#,
        )
        .unwrap();
        let (chosen, why) = b.choose(None, None).unwrap();
        assert_eq!(chosen, Builder::default_engine());
        assert_eq!(why, Chosen::Engine);
    }

    #[test]
    fn a_kubernetes_builder_is_listed_as_foreign() {
        let group: NodeGroup = serde_json::from_str(
            r#"{"Name":"k","Driver":"kubernetes","Nodes":[{"Name":"k0","Endpoint":"kubernetes:///k","Platforms":[{"architecture":"arm64","os":"linux"}],"DriverOpts":{"nodeselector":"kubernetes.io/arch=arm64"},"Flags":null,"Files":null}],"Dynamic":false}"#,
        )
        .unwrap();
        assert_eq!(
            Builder::from_node_group(group),
            Builder::Foreign {
                name: "k".into(),
                driver: "kubernetes".into()
            }
        );
    }

    #[test]
    fn a_remote_builder_keeps_the_tls_files_buildx_was_given() {
        let group: NodeGroup = serde_json::from_str(
            r#"{"Name":"r","Driver":"remote","Nodes":[{"Name":"r0","Endpoint":"tcp://10.0.0.9:1234","Platforms":null,"DriverOpts":{"cacert":"/c/ca.pem","cert":"/c/cert.pem","key":"/c/key.pem","servername":"buildkit.internal"},"Flags":null,"Files":null}],"Dynamic":false}"#,
        )
        .unwrap();
        let Builder::Remote(remote) = Builder::from_node_group(group.clone()) else {
            panic!("a remote builder");
        };
        assert_eq!(
            remote.to_node_group(),
            group,
            "written back as buildx wrote it"
        );
        assert_eq!(
            remote.tls,
            Some(RemoteTls {
                ca: Some("/c/ca.pem".into()),
                identity: Some(("/c/cert.pem".into(), "/c/key.pem".into())),
                server_name: Some("buildkit.internal".into()),
            })
        );
        let plain: NodeGroup = serde_json::from_str(
            r#"{"Name":"p","Driver":"remote","Nodes":[{"Name":"p0","Endpoint":"tcp://10.0.0.9:1234","Platforms":null,"DriverOpts":null,"Flags":null,"Files":null}],"Dynamic":false}"#,
        )
        .unwrap();
        let Builder::Remote(remote) = Builder::from_node_group(plain.clone()) else {
            panic!("a remote builder");
        };
        assert_eq!(remote.tls, None);
        assert_eq!(remote.to_node_group(), plain);
    }
}
