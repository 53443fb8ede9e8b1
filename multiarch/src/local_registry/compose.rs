//! The local registry's settings, read from the top-level `registry.yml`.
//!
//! That file is a compose file that `docker compose -f registry.yml up -d` also accepts,
//! so it is the single source of truth: `multiarch registry up` reads the same image,
//! container name, published port, volume, environment and labels from it. A copy is
//! compiled into the binary for use outside the repository.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

/// The repository's `registry.yml`, compiled in.
pub(crate) const DEFAULT_REGISTRY_YML: &str = include_str!("../../../registry.yml");

/// What it takes to run the local registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySpec {
    /// The image, `registry:2`.
    pub image: String,
    /// The container's name.
    pub container_name: String,
    /// The address the port is published on.
    pub bind: IpAddr,
    /// The published host port.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
    /// The named volume holding the data.
    pub volume: String,
    /// Where the volume is mounted.
    pub volume_target: String,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Labels for the container and the volume.
    pub labels: BTreeMap<String, String>,
    /// Docker's restart policy name.
    pub restart: Option<String>,
    /// A pull-through cache of another registry (`registry up --mirror`), never read
    /// from the compose file.
    pub mirror: Option<crate::local_registry::Mirror>,
}

impl RegistrySpec {
    /// `localhost:5000`, as images are tagged.
    pub fn address(&self) -> String {
        let host = match self.bind {
            IpAddr::V4(ip) if ip.is_loopback() || ip.is_unspecified() => "localhost".to_string(),
            IpAddr::V6(ip) if ip.is_loopback() || ip.is_unspecified() => "localhost".to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("{host}:{}", self.host_port)
    }

    /// Whether other machines can reach it.
    pub fn is_exposed(&self) -> bool {
        !self.bind.is_loopback()
    }
}

/// Why `registry.yml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML, or not of the compose shape.
    #[error("`{path}` is not a valid compose file: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// Valid compose, but not what the local registry needs.
    #[error("`{path}`: {reason}")]
    Unusable {
        /// The file.
        path: String,
        /// What is missing or wrong.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct ComposeFile {
    #[serde(default)]
    services: BTreeMap<String, Service>,
    #[serde(default)]
    volumes: BTreeMap<String, Option<Volume>>,
}

#[derive(Debug, Deserialize)]
struct Service {
    image: Option<String>,
    container_name: Option<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    volumes: Vec<String>,
    #[serde(default)]
    environment: Environment,
    #[serde(default)]
    labels: Labels,
    restart: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Volume {
    name: Option<String>,
}

/// Compose accepts both a map and a list of `KEY=VALUE`.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Environment {
    #[default]
    None,
    Map(BTreeMap<String, serde_yaml_ng::Value>),
    List(Vec<String>),
}

type Labels = Environment;

impl Environment {
    fn into_map(self) -> BTreeMap<String, String> {
        match self {
            Self::None => BTreeMap::new(),
            Self::Map(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let value = match v {
                        serde_yaml_ng::Value::String(s) => s,
                        serde_yaml_ng::Value::Null => String::new(),
                        other => serde_yaml_ng::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (k, value)
                })
                .collect(),
            Self::List(list) => list
                .into_iter()
                .map(|item| match item.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (item, String::new()),
                })
                .collect(),
        }
    }
}

/// Reads the registry settings from a compose file, or the compiled-in default.
///
/// # Errors
/// The file cannot be read or is not a compose file with one service that has an
/// image and a published port.
pub fn load(path: Option<&Path>) -> Result<RegistrySpec, ComposeError> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
                path: path.display().to_string(),
                source,
            })?;
            parse(&text, &path.display().to_string())
        }
        None => parse(DEFAULT_REGISTRY_YML, "registry.yml (built in)"),
    }
}

/// Parses compose text; `origin` names it in errors.
///
/// # Errors
/// As [`load`].
pub fn parse(text: &str, origin: &str) -> Result<RegistrySpec, ComposeError> {
    let unusable = |reason: String| ComposeError::Unusable {
        path: origin.to_string(),
        reason,
    };
    let file: ComposeFile = serde_yaml_ng::from_str(text).map_err(|e| ComposeError::Invalid {
        path: origin.to_string(),
        reason: e.to_string(),
    })?;
    let mut services = file.services.into_iter();
    let (service_name, service) = match (services.next(), services.next()) {
        (Some(one), None) => one,
        (None, _) => return Err(unusable("it defines no service".into())),
        (Some(_), Some(_)) => {
            return Err(unusable(
                "it defines more than one service; the registry file holds exactly one".into(),
            ));
        }
    };
    let image = service
        .image
        .ok_or_else(|| unusable(format!("service `{service_name}` has no `image`")))?;
    let port = service
        .ports
        .first()
        .ok_or_else(|| unusable(format!("service `{service_name}` publishes no port")))?;
    let (bind, host_port, container_port) = parse_port(port).ok_or_else(|| {
        unusable(format!(
            "`{port}` is not a port mapping like `127.0.0.1:5000:5000`"
        ))
    })?;
    let (volume_key, volume_target) = match service.volumes.first() {
        Some(mapping) => {
            let (source, target) = mapping.split_once(':').ok_or_else(|| {
                unusable(format!(
                    "`{mapping}` is not a volume mapping like `data:/var/lib/registry`"
                ))
            })?;
            (
                source.to_string(),
                target.split(':').next().unwrap_or(target).to_string(),
            )
        }
        None => ("registry-data".to_string(), "/var/lib/registry".to_string()),
    };
    // A named volume may carry an explicit `name:`; otherwise compose prefixes it.
    let volume = file
        .volumes
        .get(&volume_key)
        .and_then(|v| v.as_ref())
        .and_then(|v| v.name.clone())
        .unwrap_or_else(|| format!("multiarch_{volume_key}"));
    Ok(RegistrySpec {
        image,
        container_name: service
            .container_name
            .unwrap_or_else(|| format!("multiarch-{service_name}")),
        bind,
        host_port,
        container_port,
        volume,
        volume_target,
        environment: service.environment.into_map(),
        labels: service.labels.into_map(),
        restart: service.restart,
        mirror: None,
    })
}

/// `127.0.0.1:5000:5000`, `5000:5000` (every interface) or `[::1]:5000:5000`.
fn parse_port(mapping: &str) -> Option<(IpAddr, u16, u16)> {
    let mapping = mapping.trim().trim_end_matches("/tcp");
    let (rest, container) = mapping.rsplit_once(':')?;
    let container: u16 = container.parse().ok()?;
    let (ip, host) = match rest.rsplit_once(':') {
        Some((ip, host)) => (
            ip.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()?,
            host,
        ),
        None => (IpAddr::from([0, 0, 0, 0]), rest),
    };
    Some((ip, host.parse().ok()?, container))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn the_repository_file_is_the_default() {
        let spec = load(None).unwrap();
        assert_eq!(spec.image, "registry:2");
        assert_eq!(spec.container_name, "multiarch-registry");
        assert_eq!(spec.bind.to_string(), "127.0.0.1");
        assert_eq!((spec.host_port, spec.container_port), (5000, 5000));
        assert_eq!(spec.volume, "multiarch-registry-data");
        assert_eq!(spec.volume_target, "/var/lib/registry");
        assert_eq!(spec.environment["REGISTRY_STORAGE_DELETE_ENABLED"], "true");
        assert_eq!(spec.labels["io.github.multiarch.managed-by"], "multiarch");
        assert_eq!(spec.address(), "localhost:5000");
        assert!(!spec.is_exposed());
    }

    #[rstest]
    #[case("127.0.0.1:5000:5000", Some(("127.0.0.1", 5000, 5000)))]
    #[case("5001:5000", Some(("0.0.0.0", 5001, 5000)))]
    #[case("[::1]:5002:5000", Some(("::1", 5002, 5000)))]
    #[case("5000", None)]
    #[case("a:b:c", None)]
    #[case("127.0.0.1:99999:5000", None)]
    fn port_mappings(#[case] text: &str, #[case] expected: Option<(&str, u16, u16)>) {
        let parsed = parse_port(text).map(|(ip, h, c)| (ip.to_string(), h, c));
        assert_eq!(parsed, expected.map(|(ip, h, c)| (ip.to_string(), h, c)));
    }

    #[test]
    fn environment_as_a_list_and_an_open_bind() {
        let spec = parse(
            "services:\n  r:\n    image: registry:2\n    ports: [\"5000:5000\"]\n    environment:\n      - A=1\n      - B\n",
            "x.yml",
        )
        .unwrap();
        assert_eq!(spec.environment["A"], "1");
        assert_eq!(spec.environment["B"], "");
        assert_eq!(spec.container_name, "multiarch-r");
        assert_eq!(spec.volume, "multiarch_registry-data");
        assert!(spec.is_exposed());
    }

    #[rstest]
    #[case("services: [", "`x.yml` is not a valid compose file")]
    #[case("volumes: {}", "`x.yml`: it defines no service")]
    #[case(
        "services:\n  a: {image: x, ports: ['1:1']}\n  b: {image: y}",
        "more than one service"
    )]
    #[case("services:\n  a: {ports: ['1:1']}", "service `a` has no `image`")]
    #[case("services:\n  a: {image: x}", "service `a` publishes no port")]
    #[case(
        "services:\n  a: {image: x, ports: ['nope']}",
        "`nope` is not a port mapping"
    )]
    #[case(
        "services:\n  a: {image: x, ports: ['1:1'], volumes: ['bad']}",
        "`bad` is not a volume mapping"
    )]
    fn unusable_files_are_named(#[case] text: &str, #[case] fragment: &str) {
        let message = parse(text, "x.yml").unwrap_err().to_string();
        assert!(message.contains(fragment), "{message}");
    }
}
