//! What to build: the context, the Dockerfile, the tag, the platforms and every flag of
//! `multiarch build`, as the CLI read them.

use std::path::PathBuf;

use oci_client::Reference;

use multiarch_platform::Platform;

use crate::buildkit::flags::BuildFlags;

/// A `KEY=VALUE` pair (a build argument, a label), split once where it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Before the first `=`, never empty.
    pub key: String,
    /// After it (may be empty).
    pub value: String,
}

impl std::str::FromStr for KeyValue {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (key, value) = split_pair(text, false)
            .ok_or("expected KEY=VALUE, e.g. `--build-arg VERSION=1.2.3`")?;
        Ok(Self {
            key: key.into(),
            value: value.into(),
        })
    }
}

/// `NAME=VALUE` split at the first `=`, the name never empty (the value only if
/// `value_required`).
fn split_pair(text: &str, value_required: bool) -> Option<(&str, &str)> {
    text.split_once('=')
        .filter(|(name, value)| !name.is_empty() && (!value_required || !value.is_empty()))
}

/// A named context: `--build-context NAME=DIR`, a folder BuildKit reads as stage `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedDir {
    /// The stage name it stands for.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
}

impl std::str::FromStr for NamedDir {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (name, dir) =
            split_pair(text, true).ok_or("expected NAME=DIR, e.g. `--build-context build=dist`")?;
        Ok(Self {
            name: name.into(),
            dir: dir.into(),
        })
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, if not `<context>/Dockerfile`.
    pub file: Option<PathBuf>,
    /// The tag to build, `localhost:5000/arch-server:latest`, parsed once at the edge.
    pub tag: Reference,
    /// The platforms.
    pub platforms: Vec<Platform>,
    /// Build arguments (`--build-arg KEY=VALUE`).
    pub build_args: Vec<KeyValue>,
    /// Named contexts (`--build-context NAME=DIR`).
    pub build_contexts: Vec<NamedDir>,
    /// The stage to stop at (`--target`).
    pub target: Option<String>,
    /// Build every step again (`--no-cache`).
    pub no_cache: bool,
    /// Labels for the image (`--label KEY=VALUE`).
    pub labels: Vec<KeyValue>,
    /// The flags that depend on what the builder can do (checked by
    /// [`crate::buildkit::flags::check`] before anything is built).
    pub flags: BuildFlags,
    /// Push the index when built.
    pub push: bool,
    /// Registries to speak plain HTTP to (a `docker-container` builder pushes itself).
    pub insecure: Vec<String>,
}

impl BuildRequest {
    /// The Dockerfile's text, for the profile's line numbers (empty when it cannot be
    /// read: the profile then names no line).
    pub(crate) fn dockerfile_text(&self) -> String {
        let path = self
            .file
            .clone()
            .unwrap_or_else(|| self.context.join("Dockerfile"));
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn pairs_are_split_once_where_they_are_read() {
        let arg: KeyValue = "VERSION=1.2=3".parse().unwrap();
        assert_eq!((arg.key.as_str(), arg.value.as_str()), ("VERSION", "1.2=3"));
        let empty: KeyValue = "EMPTY=".parse().unwrap();
        assert_eq!(empty.value, "");
        assert!("=x".parse::<KeyValue>().is_err());
        assert!("novalue".parse::<KeyValue>().is_err());
        let named: NamedDir = "build=dist".parse().unwrap();
        assert_eq!(
            (named.name.as_str(), named.dir.as_path()),
            ("build", Path::new("dist"))
        );
        assert!("build=".parse::<NamedDir>().is_err());
    }
}
