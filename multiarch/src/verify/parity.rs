//! Parity across the platforms of one index (`verify --parity`): the siblings should be
//! one program built several times, so their configs (entrypoint, command, user, working
//! folder, ports, environment names, labels), the paths in their merged layers, and what
//! `--exec` printed should agree. What must differ is left out: the bytes of each file
//! (only paths are compared), the multiarch triplet in library folders
//! (`/usr/lib/x86_64-linux-gnu`), the ELF loader (`/lib64/ld-linux-x86-64.so.2`) and the
//! folders that hold only it, dpkg's architecture-qualified file names (`libc6:amd64.list`),
//! and the machine name in `--exec`'s output.

use std::collections::{BTreeMap, BTreeSet};

use oci_client::Reference;
use serde::Serialize;

use multiarch_platform::Platform;

use crate::error::Result;
use crate::oci::layers;
use crate::registry::Registry;

/// How many paths one finding names in text; `--json` has them all.
const SHOWN_PATHS: usize = 10;

/// What one platform's image holds, for comparing with its siblings.
#[derive(Debug, Clone)]
pub struct Sibling {
    /// Its platform.
    pub platform: Platform,
    /// Its config's fields, by name, each as text.
    pub config: Vec<(&'static str, String)>,
    /// The paths of its merged layers, with what must differ taken out.
    pub paths: BTreeSet<String>,
    /// What `--exec` printed, with its machine name taken out (`None`: not run).
    pub printed: Option<String>,
}

/// A way the siblings drifted apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "drift", rename_all = "snake_case")]
pub enum Drift {
    /// A config field with different values; each value with the platforms that have it.
    Config {
        /// `entrypoint`, `user`, `env names`.
        field: &'static str,
        /// Each value and its platforms.
        values: Vec<(String, Vec<Platform>)>,
    },
    /// Paths that some platforms have and others lack (a folder stands for what it holds).
    Paths {
        /// The platforms that have them.
        present_on: Vec<Platform>,
        /// The platforms that lack them.
        missing_on: Vec<Platform>,
        /// The paths.
        paths: Vec<String>,
    },
    /// `--exec` printed different things (its machine name taken out).
    Output {
        /// Each output and its platforms.
        values: Vec<(String, Vec<Platform>)>,
    },
}

fn platforms_text(platforms: &[Platform]) -> String {
    multiarch_platform::join_platforms(platforms)
}

fn values_text(values: &[(String, Vec<Platform>)]) -> String {
    values
        .iter()
        .map(|(value, platforms)| format!("`{value}` on {}", platforms_text(platforms)))
        .collect::<Vec<_>>()
        .join("; ")
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config { field, values } => {
                write!(f, "the {field} differ: {}", values_text(values))
            }
            Self::Paths {
                present_on,
                missing_on,
                paths,
            } => {
                let shown: Vec<&str> = paths.iter().take(SHOWN_PATHS).map(String::as_str).collect();
                let more = paths.len().saturating_sub(SHOWN_PATHS);
                write!(
                    f,
                    "{} path(s) on {} are missing on {}: {}{}",
                    paths.len(),
                    platforms_text(present_on),
                    platforms_text(missing_on),
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more (`--json` lists them)")
                    } else {
                        String::new()
                    }
                )
            }
            Self::Output { values } => write!(
                f,
                "`--exec` printed different things: {}",
                values_text(values)
            ),
        }
    }
}

/// Each value of `field` and the platforms that have it: a drift when there are two.
fn differing(
    siblings: &[Sibling],
    value_of: impl Fn(&Sibling) -> Option<String>,
) -> Option<Vec<(String, Vec<Platform>)>> {
    let mut by_value: BTreeMap<String, Vec<Platform>> = BTreeMap::new();
    for sibling in siblings {
        if let Some(value) = value_of(sibling) {
            by_value
                .entry(value)
                .or_default()
                .push(sibling.platform.clone());
        }
    }
    (by_value.len() > 1).then(|| by_value.into_iter().collect())
}

/// How the siblings drifted apart; empty when they agree.
pub fn compare(siblings: &[Sibling]) -> Vec<Drift> {
    let mut drift = Vec::new();
    let fields: Vec<&'static str> = siblings
        .first()
        .map(|s| s.config.iter().map(|(field, _)| *field).collect())
        .unwrap_or_default();
    for field in fields {
        let value_of = |s: &Sibling| {
            s.config
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, v)| v.clone())
        };
        if let Some(values) = differing(siblings, value_of) {
            drift.push(Drift::Config { field, values });
        }
    }
    drift.extend(path_drift(siblings));
    if let Some(values) = differing(siblings, |s| s.printed.clone()) {
        drift.push(Drift::Output { values });
    }
    drift
}

/// Paths not on every sibling, grouped by which have them; a path under a folder that
/// drifts the same way is left out, so a missing tree is one entry.
fn path_drift(siblings: &[Sibling]) -> Vec<Drift> {
    let all: BTreeSet<&String> = siblings.iter().flat_map(|s| &s.paths).collect();
    let mut groups: BTreeMap<Vec<usize>, Vec<String>> = BTreeMap::new();
    let mut pattern_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for path in all {
        let have: Vec<usize> = (0..siblings.len())
            .filter(|i| siblings[*i].paths.contains(path))
            .collect();
        if have.len() == siblings.len() {
            continue;
        }
        let covered = path
            .rsplit_once('/')
            .and_then(|(parent, _)| pattern_of.get(parent))
            .is_some_and(|parent| *parent == have);
        pattern_of.insert(path.as_str(), have.clone());
        if !covered {
            groups.entry(have).or_default().push(path.clone());
        }
    }
    groups
        .into_iter()
        .map(|(have, paths)| {
            let (present_on, missing_on) = (0..siblings.len())
                .map(|i| (have.contains(&i), siblings[i].platform.clone()))
                .partition::<Vec<_>, _>(|(has, _)| *has);
            Drift::Paths {
                present_on: present_on.into_iter().map(|(_, p)| p).collect(),
                missing_on: missing_on.into_iter().map(|(_, p)| p).collect(),
                paths,
            }
        })
        .collect()
}

/// Multiarch triplets of Debian, Ubuntu and musl folders, as path components.
const TRIPLETS: &[&str] = &[
    "x86_64-linux-gnu",
    "i386-linux-gnu",
    "aarch64-linux-gnu",
    "arm-linux-gnueabihf",
    "arm-linux-gnueabi",
    "powerpc64le-linux-gnu",
    "s390x-linux-gnu",
    "riscv64-linux-gnu",
    "x86_64-linux-musl",
    "aarch64-linux-musl",
];

/// dpkg's architecture names, as in `libc6:amd64.list`.
const DPKG_ARCHITECTURES: &[&str] = &[
    "amd64", "i386", "arm64", "armhf", "armel", "ppc64el", "s390x", "riscv64",
];

/// A path with what must differ between platforms taken out; `None` for a path that
/// only exists to hold the loader (`/lib64`).
pub(crate) fn comparable(path: &str) -> Option<String> {
    if matches!(path, "/lib64" | "/usr/lib64") {
        return None;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("ld-linux") || name.starts_with("ld64.so") || name.starts_with("ld-musl-") {
        return Some("<the ELF loader>".into());
    }
    let mut parts: Vec<String> = path
        .split('/')
        .map(|part| {
            if TRIPLETS.contains(&part) {
                "<triplet>".to_string()
            } else {
                part.to_string()
            }
        })
        .collect();
    if let Some(last) = parts.last_mut() {
        if let Some(generic) = without_dpkg_architecture(last) {
            *last = generic;
        }
    }
    Some(parts.join("/"))
}

/// dpkg's list file `PACKAGE:ARCH.SUFFIX` with its architecture named `<arch>`.
fn without_dpkg_architecture(name: &str) -> Option<String> {
    let (package, rest) = name.split_once(':')?;
    let (architecture, suffix) = rest.split_once('.')?;
    DPKG_ARCHITECTURES
        .contains(&architecture)
        .then(|| format!("{package}:<arch>.{suffix}"))
}

/// `printed` with `platform`'s names for itself taken out (`linux/arm64`, `aarch64`,
/// `arm64`, as whole words), so that `app --version` can be compared across platforms.
pub(crate) fn without_machine(printed: &str, platform: &Platform) -> String {
    let mut names: Vec<String> = vec![platform.to_string()];
    names.extend(platform.machine().map(String::from));
    names.push(platform.architecture().to_string());
    let mut text = printed.trim().to_string();
    for name in names {
        text = replace_word(&text, &name, "<machine>");
    }
    text
}

/// `text` with every `word` that stands alone (not inside a longer word) replaced.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let inside = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::new();
    let mut rest = 0;
    for (at, _) in text.match_indices(word) {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if at < rest || inside(before) || inside(after) {
            continue;
        }
        out += &text[rest..at];
        out += with;
        rest = at + word.len();
    }
    out += &text[rest..];
    out
}

/// One platform's config fields and merged paths, read from the registry.
///
/// # Errors
/// When the registry cannot be read or a layer cannot be.
pub(crate) async fn sibling(
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    printed: Option<String>,
) -> Result<Sibling> {
    let image = registry.fetch_image(reference, digest).await?;
    let by_digest = reference.clone_with_digest(digest.to_string());
    let mut downloaded = Vec::with_capacity(image.manifest.layers().len());
    for descriptor in image.manifest.layers() {
        downloaded.push(registry.fetch_layer(&by_digest, descriptor).await?);
    }
    let paths = layers::list_paths(&downloaded)
        .map_err(|source| crate::error::Error::Layers {
            reference: by_digest.whole(),
            path: "/".into(),
            source,
        })?
        .iter()
        .filter_map(|p| comparable(p))
        .collect();
    let runtime = image.config.config().clone().unwrap_or_default();
    let list = |v: Option<&Vec<String>>| format!("{:?}", v.cloned().unwrap_or_default());
    let mut env_names: Vec<String> = runtime
        .env()
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string())
        .collect();
    env_names.sort();
    let mut ports = runtime.exposed_ports().clone().unwrap_or_default();
    ports.sort();
    let labels: BTreeMap<String, String> = runtime
        .labels()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(Sibling {
        platform: platform.clone(),
        config: vec![
            ("entrypoints", list(runtime.entrypoint().as_ref())),
            ("commands", list(runtime.cmd().as_ref())),
            ("users", runtime.user().clone().unwrap_or_default()),
            (
                "working folders",
                runtime.working_dir().clone().unwrap_or_default(),
            ),
            ("exposed ports", format!("{ports:?}")),
            ("environment names", format!("{env_names:?}")),
            ("labels", format!("{labels:?}")),
        ],
        paths,
        printed: printed.map(|p| without_machine(&p, platform)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sibling(platform: &str, paths: &[&str], user: &str, printed: Option<&str>) -> Sibling {
        Sibling {
            platform: platform.parse().unwrap(),
            config: vec![("users", user.into())],
            paths: paths.iter().filter_map(|p| comparable(p)).collect(),
            printed: printed.map(String::from),
        }
    }

    #[test]
    fn what_must_differ_is_taken_out() {
        assert_eq!(
            comparable("/usr/lib/x86_64-linux-gnu/libc.so.6").unwrap(),
            comparable("/usr/lib/aarch64-linux-gnu/libc.so.6").unwrap()
        );
        assert_eq!(
            comparable("/lib64/ld-linux-x86-64.so.2"),
            comparable("/lib/ld-linux-aarch64.so.1")
        );
        assert_eq!(comparable("/lib64"), None);
        assert_eq!(
            comparable("/var/lib/dpkg/info/libc6:amd64.list"),
            comparable("/var/lib/dpkg/info/libc6:arm64.list")
        );
        assert_ne!(comparable("/usr/bin/jq"), comparable("/usr/bin/yq"));
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(
            without_machine("app 1.2 (aarch64, linux/arm64)", &arm64),
            without_machine("app 1.2 (x86_64, linux/amd64)", &amd64)
        );
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(
            without_machine("warm arm armv7l", &v7),
            "warm <machine> <machine>"
        );
    }

    #[test]
    fn siblings_that_agree_have_no_drift() {
        let siblings = [
            sibling(
                "linux/amd64",
                &["/app", "/usr/lib/x86_64-linux-gnu/libssl.so.3"],
                "app",
                Some("1.2"),
            ),
            sibling(
                "linux/arm64",
                &["/app", "/usr/lib/aarch64-linux-gnu/libssl.so.3"],
                "app",
                Some("1.2"),
            ),
        ];
        assert_eq!(compare(&siblings), []);
    }

    #[test]
    fn a_tree_one_platform_lacks_is_named_once_with_who_has_it() {
        let siblings = [
            sibling(
                "linux/amd64",
                &["/app", "/opt/extra", "/opt/extra/a", "/opt/extra/b"],
                "app",
                None,
            ),
            sibling("linux/arm64", &["/app"], "root", None),
            sibling(
                "linux/arm/v7",
                &["/app", "/opt/extra", "/opt/extra/a", "/opt/extra/b"],
                "app",
                None,
            ),
        ];
        let drift = compare(&siblings);
        assert_eq!(drift.len(), 2, "{drift:?}");
        assert_eq!(
            drift[0].to_string(),
            "the users differ: `app` on linux/amd64, linux/arm/v7; `root` on linux/arm64"
        );
        assert_eq!(
            drift[1].to_string(),
            "1 path(s) on linux/amd64, linux/arm/v7 are missing on linux/arm64: /opt/extra"
        );
    }

    #[test]
    fn different_output_is_named_with_its_platforms() {
        let siblings = [
            sibling("linux/amd64", &["/app"], "app", Some("app 1.3")),
            sibling("linux/arm64", &["/app"], "app", Some("app 1.2")),
        ];
        assert_eq!(
            compare(&siblings)[0].to_string(),
            "`--exec` printed different things: `app 1.2` on linux/arm64; `app 1.3` on linux/amd64"
        );
    }
}
