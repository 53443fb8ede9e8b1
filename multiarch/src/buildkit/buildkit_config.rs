//! `buildkitd.toml`: which registries the builder speaks plain HTTP to.
//!
//! A push to a local registry fails deep inside BuildKit with "http: server gave HTTP
//! response to HTTPS client" unless buildkitd.toml marks that registry `http = true`.
//! Reading the file first turns that into a clear error that says which lines to add.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The top-level `buildkitd.toml`, compiled in.
pub(crate) const DEFAULT_BUILDKITD_TOML: &str = include_str!("../../../buildkitd.toml");

/// The parts of buildkitd.toml this tool reads. Other keys are BuildKit's business.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BuildkitConfig {
    /// `[registry."host:port"]` blocks.
    #[serde(default)]
    pub registry: BTreeMap<String, RegistryConfig>,
    /// `[worker.oci]` and friends.
    #[serde(default)]
    pub worker: Option<toml::Value>,
}

/// One `[registry."host:port"]` block.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryConfig {
    /// Speak plain HTTP.
    #[serde(default)]
    pub http: bool,
    /// Accept invalid TLS certificates.
    #[serde(default)]
    pub insecure: bool,
}

/// Why buildkitd.toml could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BuildkitConfigError {
    /// Unreadable.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or a known key of the wrong type.
    #[error("`{path}` is not a valid buildkitd.toml: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
}

impl BuildkitConfig {
    /// Reads a buildkitd.toml, or the compiled-in default when `path` is `None`.
    ///
    /// # Errors
    /// The file cannot be read or is not valid TOML.
    pub fn load(path: Option<&Path>) -> Result<Self, BuildkitConfigError> {
        let (text, origin) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| BuildkitConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => (
                DEFAULT_BUILDKITD_TOML.to_string(),
                "buildkitd.toml (built in)".into(),
            ),
        };
        Self::parse(&text, &origin)
    }

    /// Parses buildkitd.toml text; `origin` names it in errors.
    ///
    /// # Errors
    /// Invalid TOML.
    pub fn parse(text: &str, origin: &str) -> Result<Self, BuildkitConfigError> {
        toml::from_str(text).map_err(|e| {
            // The line, so that a person can find it; toml's own text spans several lines.
            let line = e
                .span()
                .map(|span| text[..span.start].matches('\n').count() + 1);
            BuildkitConfigError::Invalid {
                path: origin.to_string(),
                reason: match line {
                    Some(line) => format!("line {line}: {}", e.message()),
                    None => e.message().to_string(),
                },
            }
        })
    }

    /// Whether BuildKit will speak plain HTTP to `registry`.
    pub(crate) fn allows_http(&self, registry: &str) -> bool {
        self.registry.get(registry).is_some_and(|r| r.http)
    }

    /// The lines to add so that it does.
    pub(crate) fn lines_for(registry: &str) -> String {
        format!("[registry.\"{registry}\"]\n  http = true\n  insecure = true")
    }
}

/// The buildkitd.toml to use: the one given, else ./buildkitd.toml, else the built-in one.
pub fn config_path(given: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    given.or_else(|| {
        let local = std::path::PathBuf::from("buildkitd.toml");
        local.exists().then_some(local)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_file_covers_the_local_registry() {
        let config = BuildkitConfig::load(None).unwrap();
        assert!(config.allows_http("localhost:5000"));
        assert!(config.allows_http("host.docker.internal:5000"));
        assert!(!config.allows_http("localhost:5001"));
    }

    /// A `[worker.oci] platforms` list replaces what BuildKit finds: the one this file
    /// had (amd64, arm64, arm/v7) hid linux/386 and linux/arm/v6 from `builder ls`.
    #[test]
    fn the_repository_file_leaves_the_platforms_to_buildkit() {
        let config = BuildkitConfig::load(None).unwrap();
        let pinned = config
            .worker
            .as_ref()
            .and_then(|w| w.get("oci"))
            .and_then(|oci| oci.get("platforms"));
        assert!(pinned.is_none(), "buildkitd.toml pins {pinned:?}");
    }

    #[test]
    fn a_block_without_http_does_not_count() {
        let config = BuildkitConfig::parse("[registry.\"r:1\"]\ninsecure = true\n", "x").unwrap();
        assert!(!config.allows_http("r:1"));
        let added = BuildkitConfig::parse(&BuildkitConfig::lines_for("r:1"), "x").unwrap();
        assert!(added.allows_http("r:1"));
    }

    #[test]
    fn invalid_toml_is_named() {
        let err = BuildkitConfig::parse("[registry.\"r\"\nhttp = true", "b.toml").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`b.toml` is not a valid buildkitd.toml"),
            "{err}"
        );
        let err = BuildkitConfig::parse("[registry.\"r\"]\nhttp = \"yes\"", "b.toml").unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
