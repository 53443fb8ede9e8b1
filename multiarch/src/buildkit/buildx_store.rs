//! buildx's builder store, read and written as buildx does, so that a builder the kit
//! creates is one `docker buildx ls` lists, uses and removes, and one `docker buildx
//! create` made is the kit's too.
//!
//! The store is `$BUILDX_CONFIG`, else `${DOCKER_CONFIG:-~/.docker}/buildx`. Each builder
//! is a JSON file `instances/<name>` (a "node group", Go field names as keys); every
//! change happens under `flock` on `.lock` and is written to a temporary file first, then
//! renamed, so neither a crash nor Ctrl-C leaves a half-written entry (one bad file makes
//! `docker buildx ls` fail for every builder). The layout has not changed from buildx
//! 0.10 to 0.29 (`store/nodegroup.go`, `store/store.go`).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A builder name buildx would not load.
    #[error(
        "`{0}` is not a valid builder name: buildx takes a lower-case letter first, then lower-case letters, digits, `.`, `-` or `_`"
    )]
    BadName(String),
    /// The file system refused.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done: `read`, `write`, `lock`.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// An entry that buildx wrote but that does not parse.
    #[error("the builder entry `{path}` is not valid buildx JSON")]
    BadEntry {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

/// A builder as buildx stores it (`store.NodeGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeGroup {
    /// The builder's name.
    pub name: String,
    /// `docker-container`, `remote`, `kubernetes`, ...
    pub driver: String,
    /// Its nodes (one for a docker-container builder).
    #[serde(default, deserialize_with = "null_as_default")]
    pub nodes: Vec<Node>,
    /// Nodes come and go (the kubernetes driver).
    #[serde(default)]
    pub dynamic: bool,
}

/// One node of a builder (`store.Node`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    /// `<builder>0` for the first node.
    pub name: String,
    /// The engine (a host URL or a context name) or, for `remote`, BuildKit's address.
    pub endpoint: String,
    /// Platforms pinned with `--platform`; `null` when BuildKit's own are used.
    pub platforms: Option<Vec<OciPlatform>>,
    /// `--driver-opt` values (`image`, `network`, `cacert`, ...).
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// buildkitd's flags (buildx keeps the key `Flags`).
    pub flags: Option<Vec<String>>,
    /// Files copied into `/etc/buildkit/` before the container starts, by relative path
    /// (`buildkitd.toml`); base64 in the JSON, as Go writes `[]byte`.
    #[serde(default, with = "base64_files")]
    pub files: Option<BTreeMap<String, Vec<u8>>>,
}

/// buildx's `current` file: the builder `docker buildx use` chose for an engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Current {
    /// The engine endpoint it was chosen for.
    key: String,
    /// The builder.
    name: String,
    /// Chosen for every engine (`docker buildx use --global`).
    global: bool,
}

/// An OCI platform as buildx writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciPlatform {
    /// `amd64`, `arm64`, `arm`.
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// `v7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for OciPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(variant) => write!(f, "/{variant}"),
            None => Ok(()),
        }
    }
}

impl Node {
    /// The driver option `key`, if set.
    pub(crate) fn driver_opt(&self, key: &str) -> Option<&str> {
        self.driver_opts.as_ref()?.get(key).map(String::as_str)
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

mod base64_files {
    use super::*;

    pub(crate) fn serialize<S: serde::Serializer>(
        files: &Option<BTreeMap<String, Vec<u8>>>,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        files
            .as_ref()
            .map(|files| {
                files
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            base64::engine::general_purpose::STANDARD.encode(v),
                        )
                    })
                    .collect::<BTreeMap<_, _>>()
            })
            .serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Option<BTreeMap<String, Vec<u8>>>, D::Error> {
        let encoded = Option::<BTreeMap<String, String>>::deserialize(deserializer)?;
        encoded
            .map(|files| {
                files
                    .into_iter()
                    .map(|(k, v)| {
                        base64::engine::general_purpose::STANDARD
                            .decode(v)
                            .map(|bytes| (k, bytes))
                            .map_err(serde::de::Error::custom)
                    })
                    .collect()
            })
            .transpose()
    }
}

/// Checks a name as buildx does before it writes `instances/<name>`, but refuses upper
/// case rather than folding it: buildx lower-cases the file name, so `Kit` and `kit`
/// would be one builder under two names.
///
/// # Errors
/// [`StoreError::BadName`].
pub(crate) fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

/// The store's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    dir: PathBuf,
}

/// The store's lock, held until dropped (closing the file releases `flock`).
struct Locked(#[allow(dead_code)] std::fs::File);

impl Store {
    /// The store buildx uses: `$BUILDX_CONFIG`, else `${DOCKER_CONFIG:-~/.docker}/buildx`.
    pub fn from_env() -> Self {
        let dir = std::env::var_os("BUILDX_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::engine::endpoint::docker_config_dir().join("buildx"));
        Self { dir }
    }

    /// A store in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn instance(&self, name: &str) -> PathBuf {
        self.dir.join("instances").join(name)
    }

    fn lock(&self) -> Result<Locked> {
        create_private_dir(&self.dir)?;
        create_private_dir(&self.dir.join("instances"))?;
        let path = self.dir.join(".lock");
        let io = |source| StoreError::Io {
            action: "lock",
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io(e.into()))?;
        Ok(Locked(file))
    }

    /// Every builder in the store, by name. A file buildx would refuse makes this fail,
    /// as it makes `docker buildx ls` fail.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::BadEntry`].
    pub fn list(&self) -> Result<Vec<NodeGroup>> {
        let dir = self.dir.join("instances");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path: dir,
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        let mut groups = Vec::new();
        for name in names {
            if let Some(group) = self.get(&name)? {
                groups.push(group);
            }
        }
        Ok(groups)
    }

    /// The builder `name`, if the store has it.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::BadEntry`].
    pub fn get(&self, name: &str) -> Result<Option<NodeGroup>> {
        let path = self.instance(&name.to_ascii_lowercase());
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StoreError::BadEntry { path, source })
    }

    /// Writes `group` under the store's lock: a temporary file, then a rename, mode 0600.
    ///
    /// # Errors
    /// [`StoreError::BadName`] or [`StoreError::Io`].
    pub fn put(&self, group: &NodeGroup) -> Result<()> {
        check_name(&group.name)?;
        let _lock = self.lock()?;
        let json = serde_json::to_vec(group).expect("a node group serialises");
        write_atomically(&self.instance(&group.name), &json)?;
        let stamp = time_now_rfc3339();
        let activity = self.dir.join("activity");
        create_private_dir(&activity)?;
        write_atomically(&activity.join(&group.name), stamp.as_bytes())
    }

    /// The builder `docker buildx use` chose for the engine at `endpoint`, if any.
    pub fn current(&self, endpoint: &str) -> Option<String> {
        let bytes = std::fs::read(self.dir.join("current")).ok()?;
        let current: Current = serde_json::from_slice(&bytes).ok()?;
        (current.global || current.key == endpoint).then_some(current.name)
    }

    /// Makes `name` the current builder for the engine at `endpoint`, as `docker buildx
    /// use NAME` does.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn set_current(&self, endpoint: &str, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        let current = Current {
            key: endpoint.to_string(),
            name: name.to_string(),
            global: false,
        };
        let json = serde_json::to_vec(&current).expect("a current entry serialises");
        write_atomically(&self.dir.join("current"), &json)
    }

    /// Removes `name` as `docker buildx rm` does: its entry, its activity stamp and its
    /// build history. Returns whether it was there.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn remove(&self, name: &str) -> Result<bool> {
        let _lock = self.lock()?;
        let name = name.to_ascii_lowercase();
        let existed = self.instance(&name).exists();
        for path in [self.instance(&name), self.dir.join("activity").join(&name)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(StoreError::Io {
                        action: "remove",
                        path,
                        source,
                    });
                }
            }
        }
        let refs = self.dir.join("refs").join(&name);
        if refs.exists() {
            std::fs::remove_dir_all(&refs).map_err(|source| StoreError::Io {
                action: "remove",
                path: refs,
                source,
            })?;
        }
        Ok(existed)
    }
}

/// A folder of the store, 0700 as buildx makes them.
fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| StoreError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().expect("a file in a folder");
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(io)
}

/// Now, as buildx stamps `activity/<name>`: `2026-12-01T06:56:52Z`.
fn time_now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// What `docker buildx create --name kit1 --driver docker-container --driver-opt
    /// image=multiarch-testbed/buildkit:debian,network=host --buildkitd-config F` wrote
    /// (buildx 0.13.1), F being a `[registry."localhost:5000"]` block with `http = true`.
    const BUILDX_WROTE: &str = include_str!("../../tests/fixtures/buildx-instance-kit1.json");

    #[test]
    fn an_entry_buildx_wrote_reads_and_writes_back_the_same() {
        let group: NodeGroup = serde_json::from_str(BUILDX_WROTE).unwrap();
        assert_eq!(group.driver, "docker-container");
        let node = &group.nodes[0];
        assert_eq!(node.name, "kit10");
        assert_eq!(node.driver_opt("network"), Some("host"));
        assert_eq!(
            node.files.as_ref().unwrap()["buildkitd.toml"],
            b"\n[registry]\n\n  [registry.\"localhost:5000\"]\n    http = true\n",
            "buildx re-serialises the TOML"
        );
        let ours: serde_json::Value = serde_json::to_value(&group).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(BUILDX_WROTE).unwrap();
        assert_eq!(ours, theirs, "the same keys and values buildx wrote");
    }

    #[test]
    fn a_remote_entry_with_nulls_reads() {
        let group: NodeGroup = serde_json::from_str(
            r#"{"Name":"r","Driver":"remote","Nodes":[{"Name":"r0","Endpoint":"tcp://127.0.0.1:1234","Platforms":null,"DriverOpts":null,"Flags":null,"Files":null}],"Dynamic":false}"#,
        )
        .unwrap();
        assert_eq!(group.nodes[0].endpoint, "tcp://127.0.0.1:1234");
        assert!(group.nodes[0].files.is_none());
    }

    #[rstest]
    #[case("kit", true)]
    #[case("kit-1.b_2", true)]
    #[case("Kit", false)]
    #[case("1kit", false)]
    #[case("", false)]
    #[case("a/b", false)]
    #[case("../x", false)]
    fn names_are_what_buildx_loads(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(check_name(name).is_ok(), ok, "{name}");
    }

    #[test]
    fn put_get_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("buildx"));
        assert!(store.list().unwrap().is_empty());
        let group: NodeGroup = serde_json::from_str(BUILDX_WROTE).unwrap();
        store.put(&group).unwrap();
        assert_eq!(store.get("kit1").unwrap().as_ref(), Some(&group));
        assert_eq!(store.list().unwrap(), vec![group.clone()]);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir().join("instances/kit1")), 0o600);
        assert_eq!(mode(store.dir().join("instances")), 0o700);
        assert!(store.dir().join("activity/kit1").is_file());
        std::fs::create_dir_all(store.dir().join("refs/kit1/kit10")).unwrap();
        assert!(store.remove("kit1").unwrap());
        assert!(!store.remove("kit1").unwrap());
        assert!(store.list().unwrap().is_empty());
        assert!(!store.dir().join("refs/kit1").exists());
        assert!(!store.dir().join("activity/kit1").exists());
    }

    #[test]
    fn the_current_builder_is_what_buildx_use_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        assert_eq!(store.current("unix:///var/run/docker.sock"), None);
        store
            .set_current("unix:///var/run/docker.sock", "kit1")
            .unwrap();
        // What `docker buildx use kit1` wrote (buildx 0.13.1).
        assert_eq!(
            std::fs::read_to_string(dir.path().join("current")).unwrap(),
            r#"{"Key":"unix:///var/run/docker.sock","Name":"kit1","Global":false}"#
        );
        assert_eq!(
            store.current("unix:///var/run/docker.sock").as_deref(),
            Some("kit1")
        );
        assert_eq!(
            store.current("tcp://elsewhere:2376"),
            None,
            "another engine's"
        );
    }

    #[test]
    fn an_upper_case_name_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("buildx"));
        let mut group: NodeGroup = serde_json::from_str(BUILDX_WROTE).unwrap();
        group.name = "Kit".into();
        assert!(matches!(store.put(&group), Err(StoreError::BadName(_))));
        assert!(!store.dir().exists());
    }

    #[test]
    fn a_broken_entry_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        std::fs::create_dir_all(dir.path().join("instances")).unwrap();
        std::fs::write(dir.path().join("instances/bad"), "{").unwrap();
        assert!(matches!(store.list(), Err(StoreError::BadEntry { .. })));
    }

    #[test]
    fn the_activity_stamp_is_rfc3339_utc() {
        let stamp = time_now_rfc3339();
        assert_eq!(stamp.len(), "2026-12-01T06:56:52Z".len(), "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        assert!(stamp.starts_with("20"), "{stamp}");
    }
}
