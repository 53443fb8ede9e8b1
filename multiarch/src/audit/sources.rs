//! Where a fleet's image references are written: Compose files, Kubernetes manifests (a
//! file of several documents, `helm template`'s output, `kubectl get -o json`'s `List`),
//! Dockerfiles and plain lists. Each reference is kept with the file and line it was read
//! from, so a report (and code scanning) can point at it; what cannot be read is named
//! with its file and line, and the rest is read on.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use multiarch_platform::Platform;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

/// Where a reference was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A line of a file (`-` is standard input).
    File {
        /// The path as given, or found under a folder given.
        path: String,
        /// From 1.
        line: usize,
    },
    /// `--image REF`.
    Flag,
    /// A repository of `--registry HOST[/PREFIX]`, listed by the registry's catalog.
    Catalog {
        /// `HOST[/PREFIX]` as given.
        namespace: String,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path, line } => write!(f, "{path}:{line}"),
            Self::Flag => f.write_str("--image"),
            Self::Catalog { namespace } => write!(f, "--registry {namespace}"),
        }
    }
}

/// An image reference as written, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// As written, variables expanded (`nginx:1.27`, `ghcr.io/org/app@sha256:...`).
    pub reference: String,
    /// Where.
    pub origin: Origin,
    /// The platforms it is pulled for, when its place says (a Dockerfile's `FROM
    /// --platform=$BUILDPLATFORM` is pulled for the build machine only); else the audit's.
    pub pulled_for: Option<Vec<Platform>>,
}

/// What could not be read, and why; the audit goes on without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// Where.
    pub origin: Origin,
    /// Why, in a person's words.
    pub reason: String,
}

/// What the inputs hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Every reference, in the order read.
    pub found: Vec<Found>,
    /// What could not be read.
    pub unreadable: Vec<Unreadable>,
    /// Each file read, by path, with the digest of what it held then: `--fix-pins`
    /// refuses to rewrite a file that changed since.
    pub files: BTreeMap<String, String>,
}

impl Sources {
    fn extend(&mut self, other: Sources) {
        self.found.extend(other.found);
        self.unreadable.extend(other.unreadable);
        self.files.extend(other.files);
    }
}

/// The platform a Dockerfile's build runs on, for its `FROM --platform=$BUILDPLATFORM`
/// stages: what CI machines are.
const BUILD_PLATFORM: &str = "linux/amd64";

/// Reads `path`: a file, or every Dockerfile, YAML and JSON file under a folder (walked as
/// git sees it: `.gitignore`d files are skipped). Platforms are those the audit needs, for
/// a Dockerfile's bases.
pub fn read_path(path: &Path, needed: &[Platform]) -> Sources {
    if !path.is_dir() {
        return match std::fs::read_to_string(path) {
            Ok(text) => {
                let name = path.display().to_string();
                let mut sources = read_text(&name, &text, needed);
                sources
                    .files
                    .insert(name, crate::registry::sha256_digest(text.as_bytes()));
                sources
            }
            Err(e) => Sources {
                files: BTreeMap::new(),
                found: Vec::new(),
                unreadable: vec![Unreadable {
                    origin: Origin::File {
                        path: path.display().to_string(),
                        line: 0,
                    },
                    reason: format!("cannot be read: {e}"),
                }],
            },
        };
    }
    let mut sources = Sources::default();
    let mut files: Vec<_> = ignore::WalkBuilder::new(path)
        .hidden(false)
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_file()))
        .map(|entry| entry.into_path())
        .filter(|file| kind_by_name(file).is_some())
        .collect();
    files.sort();
    for file in files {
        sources.extend(read_path(&file, needed));
    }
    sources
}

/// What a file holds, by its name; `None` for a file a folder walk leaves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dockerfile,
    Yaml,
    List,
}

fn kind_by_name(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let dockerfile = ["dockerfile", "containerfile"].iter().any(|d| {
        name == *d || name.starts_with(&format!("{d}.")) || name.ends_with(&format!(".{d}"))
    });
    if dockerfile {
        return Some(Kind::Dockerfile);
    }
    match path.extension()?.to_string_lossy().to_lowercase().as_str() {
        "yml" | "yaml" | "json" => Some(Kind::Yaml),
        _ => None,
    }
}

/// What a text holds that its name does not say (standard input, a file given by name):
/// a Dockerfile when an instruction line starts with `FROM`, YAML when it parses to
/// mappings, else a list of references.
fn kind_by_content(text: &str) -> Kind {
    let instructions = text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    if instructions
        .clone()
        .any(|l| l.len() > 5 && l[..5].eq_ignore_ascii_case("from "))
    {
        return Kind::Dockerfile;
    }
    let mappings = serde_yaml_ng::Deserializer::from_str(text)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .any(|doc| doc.is_mapping());
    if mappings { Kind::Yaml } else { Kind::List }
}

/// Reads a text named `name` (a path, or `-` for standard input).
pub fn read_text(name: &str, text: &str, needed: &[Platform]) -> Sources {
    let kind = kind_by_name(Path::new(name)).unwrap_or_else(|| kind_by_content(text));
    match kind {
        Kind::Dockerfile => read_dockerfile(name, text, needed),
        Kind::Yaml => read_yaml(name, text),
        Kind::List => read_list(name, text),
    }
}

fn at(name: &str, line: usize) -> Origin {
    Origin::File {
        path: name.to_string(),
        line,
    }
}

/// One reference a line, `#` comments and blank lines skipped.
fn read_list(name: &str, text: &str) -> Sources {
    let mut sources = Sources::default();
    for (i, line) in text.lines().enumerate() {
        let reference = line.split('#').next().unwrap_or_default().trim();
        if reference.is_empty() {
            continue;
        }
        sources.found.push(Found {
            reference: reference.to_string(),
            origin: at(name, i + 1),
            pulled_for: None,
        });
    }
    sources
}

/// Every base a Dockerfile's last stage pulls, `FROM` and `COPY --from=IMAGE`, its `ARG`
/// defaults expanded and its stages not taken for images (the pre-flight's reading), each
/// with the platforms it is pulled for.
fn read_dockerfile(name: &str, text: &str, needed: &[Platform]) -> Sources {
    let build_platform: Platform = BUILD_PLATFORM.parse().expect("a platform");
    let planned = crate::preflight::Planned {
        dockerfile: text,
        target: None,
        build_args: &[],
        contexts: &[],
        platforms: needed,
        build_platform: &build_platform,
    };
    let bases = match crate::preflight::plan(&planned) {
        Ok(bases) => bases,
        Err(e) => {
            return Sources {
                found: Vec::new(),
                unreadable: vec![Unreadable {
                    origin: at(name, 1),
                    reason: e.to_string(),
                }],
                files: BTreeMap::new(),
            };
        }
    };
    // One reference a line, with every platform it is pulled for there.
    let mut by_place: BTreeMap<(usize, String), Vec<Platform>> = BTreeMap::new();
    for base in bases {
        by_place
            .entry((base.line, base.image))
            .or_default()
            .push(base.platform);
    }
    Sources {
        found: by_place
            .into_iter()
            .map(|((line, image), mut platforms)| {
                platforms.sort();
                platforms.dedup();
                Found {
                    reference: image,
                    origin: at(name, line),
                    pulled_for: Some(platforms),
                }
            })
            .collect(),
        unreadable: Vec::new(),
        files: BTreeMap::new(),
    }
}

/// Compose files (`services.*.image`) and Kubernetes objects (the `image` of every entry of
/// `containers`, `initContainers` and `ephemeralContainers`, wherever a pod template sits:
/// a Pod, a Deployment's template, a CronJob's job template, a `List`'s items), in every
/// document of the text.
fn read_yaml(name: &str, text: &str) -> Sources {
    let mut sources = Sources::default();
    if text.contains("{{") && text.contains("}}") {
        sources.unreadable.push(Unreadable {
            origin: at(name, first_line_with(text, "{{").unwrap_or(1)),
            reason: "a Helm template, not YAML yet: render it first (`helm template CHART | multiarch audit -`)".into(),
        });
        return sources;
    }
    let environment: HashMap<String, String> = std::env::vars().collect();
    let mut images = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        match Value::deserialize(document) {
            Ok(value) => {
                if let Some(services) = value.get("services").and_then(Value::as_mapping) {
                    for service in services.values() {
                        if let Some(image) = service.get("image").and_then(Value::as_str) {
                            let expanded = crate::preflight::expand(image, &environment);
                            images.push((image.to_string(), expanded));
                        }
                    }
                } else {
                    pod_images(&value, &mut images);
                }
            }
            Err(e) => {
                // A document that does not parse stops the reader: later ones are lost.
                let line = e.location().map_or(1, |l| l.line());
                sources.unreadable.push(Unreadable {
                    origin: at(name, line),
                    reason: format!("is not YAML: {e}"),
                });
                break;
            }
        }
    }
    // The values come in the document's order: each is found on the next line that
    // holds it after the one before.
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    for (written, reference) in images {
        let line = (from..lines.len())
            .find(|i| lines[*i].contains("image") && lines[*i].contains(written.as_str()))
            .or_else(|| (0..lines.len()).find(|i| lines[*i].contains(written.as_str())));
        if let Some(line) = line {
            from = line + 1;
        }
        sources.found.push(Found {
            reference,
            origin: at(name, line.map_or(1, |l| l + 1)),
            pulled_for: None,
        });
    }
    sources
}

/// The `image` of every container of every pod template in `value`, in document order.
fn pod_images(value: &Value, images: &mut Vec<(String, String)>) {
    match value {
        Value::Mapping(mapping) => {
            for (key, child) in mapping {
                let is_containers = key.as_str().is_some_and(|k| {
                    matches!(k, "containers" | "initContainers" | "ephemeralContainers")
                });
                if let (true, Some(list)) = (is_containers, child.as_sequence()) {
                    for container in list {
                        if let Some(image) = container.get("image").and_then(Value::as_str) {
                            images.push((image.to_string(), image.to_string()));
                        }
                    }
                } else {
                    pod_images(child, images);
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| pod_images(item, images)),
        Value::Tagged(tagged) => pod_images(&tagged.value, images),
        _ => {}
    }
}

fn first_line_with(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needed() -> Vec<Platform> {
        vec![Platform::linux_amd64(), Platform::linux_arm64()]
    }

    fn read(name: &str, text: &str) -> Vec<(String, String)> {
        read_text(name, text, &needed())
            .found
            .into_iter()
            .map(|f| (f.reference, f.origin.to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(r, o)| (r.to_string(), o.to_string()))
            .collect()
    }

    #[test]
    fn a_cronjobs_init_containers_and_a_deployments_containers_are_read_with_their_lines() {
        let text = "\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.27
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
            - name: wait
              image: \"busybox:1.36\"
          containers:
            - image: ghcr.io/org/job@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
              name: job
";
        assert_eq!(
            read("k8s/all.yaml", text),
            pairs(&[
                ("nginx:1.27", "k8s/all.yaml:8"),
                ("busybox:1.36", "k8s/all.yaml:19"),
                (
                    "ghcr.io/org/job@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                    "k8s/all.yaml:21"
                ),
            ])
        );
    }

    #[test]
    fn a_kubectl_list_in_json_is_read_item_by_item() {
        let text = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "redis:7"}]}},
    {"kind": "Pod", "spec": {"ephemeralContainers": [{"name": "debug", "image": "busybox"}],
     "containers": [{"name": "b", "image": "redis:7"}]}}
  ]
}"#;
        assert_eq!(
            read("pods.json", text),
            pairs(&[
                ("redis:7", "pods.json:5"),
                ("busybox", "pods.json:6"),
                ("redis:7", "pods.json:7"),
            ])
        );
    }

    #[test]
    fn a_compose_files_services_are_read_and_its_variables_expanded() {
        let text = "services:\n  web:\n    image: ${AUDIT_TEST_REGISTRY:-docker.io}/library/nginx:1.27\n  db:\n    build: .\n";
        assert_eq!(
            read("compose.yml", text),
            pairs(&[("docker.io/library/nginx:1.27", "compose.yml:3")])
        );
    }

    #[test]
    fn a_dockerfiles_bases_and_copy_from_images_are_read_and_its_stages_are_not() {
        let text = "\
ARG BASE=debian:trixie-slim
FROM --platform=$BUILDPLATFORM rust:1.85 AS build
COPY --from=ghcr.io/org/tools:2 /bin/tool /bin/tool
FROM ${BASE}
COPY --from=build /out /out
";
        let sources = read_text("Dockerfile", text, &needed());
        let found: Vec<(String, usize, Vec<String>)> = sources
            .found
            .iter()
            .map(|f| {
                let Origin::File { line, .. } = f.origin else {
                    panic!()
                };
                let platforms = f
                    .pulled_for
                    .iter()
                    .flatten()
                    .map(ToString::to_string)
                    .collect();
                (f.reference.clone(), line, platforms)
            })
            .collect();
        assert_eq!(
            found,
            [
                ("rust:1.85".into(), 2, vec!["linux/amd64".into()]),
                (
                    "ghcr.io/org/tools:2".into(),
                    3,
                    vec!["linux/amd64".into(), "linux/arm64".into()]
                ),
                (
                    "debian:trixie-slim".into(),
                    4,
                    vec!["linux/amd64".into(), "linux/arm64".into()]
                ),
            ]
        );
    }

    #[test]
    fn a_plain_list_and_a_helm_render_on_standard_input_are_told_apart() {
        assert_eq!(
            read("-", "# the fleet\nnginx:1.27\n\nredis:7   # cache\n"),
            pairs(&[("nginx:1.27", "-:2"), ("redis:7", "-:4")])
        );
        let helm = "---\n# Source: app/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: \"ghcr.io/org/app:1.2.3\"\n";
        assert_eq!(read("-", helm), pairs(&[("ghcr.io/org/app:1.2.3", "-:10")]));
    }

    #[test]
    fn yaml_that_does_not_parse_is_named_with_its_line_and_a_template_is_sent_to_helm() {
        let broken = "services:\n  web:\n    image: nginx\n  bad: [unclosed\n";
        let sources = read_text("compose.yml", broken, &needed());
        assert!(sources.found.is_empty());
        assert_eq!(sources.unreadable.len(), 1);
        assert!(
            matches!(sources.unreadable[0].origin, Origin::File { line, .. } if line >= 4),
            "{:?}",
            sources.unreadable
        );
        let template = "spec:\n  containers:\n    - image: {{ .Values.image }}\n";
        let sources = read_text("chart/templates/d.yaml", template, &needed());
        assert!(sources.unreadable[0].reason.contains("helm template"));
    }
}
