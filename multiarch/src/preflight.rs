//! Before the build: every base image the build will pull, checked for every platform it
//! will be pulled for, in seconds and before anything compiles. BuildKit resolves a base
//! per platform only when the build reaches it, so a base that lacks `linux/arm/v7` fails a
//! release after minutes of compiling the other platforms.
//!
//! The Dockerfile is read with `parse-dockerfile` (heredocs, line continuations and the
//! `# syntax=` and `# escape=` directives as BuildKit reads them); only the stages the
//! target needs are followed; `ARG`s are expanded with `--build-arg` values and BuildKit's
//! automatic platform arguments. `FROM --platform=$BUILDPLATFORM` means the build platform
//! only; `scratch`, stages and named build contexts are not images.

use std::collections::{BTreeMap, HashMap};

use multiarch_platform::Platform;

use crate::buildkit::image::KeyValue;
use crate::registry::RegistryError;

/// One base image as one platform will pull it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Base {
    /// The image, its `ARG`s expanded: `debian:trixie-slim`.
    pub image: String,
    /// The platform it is pulled for.
    pub platform: Platform,
    /// The stage that pulls it: `build`, or its number.
    pub stage: String,
    /// Whether a `COPY --from=` names it, not a `FROM`.
    pub copied_from: bool,
    /// The Dockerfile's line that names it, from 1.
    pub line: usize,
}

/// Why the Dockerfile could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// The Dockerfile does not parse.
    #[error("the Dockerfile does not parse: {0}")]
    Syntax(String),
    /// It has no stage.
    #[error("the Dockerfile has no FROM")]
    NoStage,
    /// `--target` names no stage.
    #[error("there is no stage named `{0}` (`--target`)")]
    NoSuchTarget(String),
    /// A `--platform=` value that is not a platform.
    #[error("`FROM --platform={0}` is not a platform once its ARGs are expanded")]
    BadPlatform(String),
}

/// What the plan needs to know of the build.
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    /// The Dockerfile's text.
    pub dockerfile: &'a str,
    /// `--target`.
    pub target: Option<&'a str>,
    /// `--build-arg`s.
    pub build_args: &'a [KeyValue],
    /// `--build-context` names: stages and images they stand for are not pulled.
    pub contexts: &'a [String],
    /// The platforms built.
    pub platforms: &'a [Platform],
    /// The platform the builder runs on (`$BUILDPLATFORM`).
    pub build_platform: &'a Platform,
}

/// The automatic platform arguments BuildKit sets for `target` built on `build`.
fn platform_args(target: &Platform, build: &Platform) -> Vec<(String, String)> {
    let mut args = Vec::new();
    for (prefix, platform) in [("TARGET", target), ("BUILD", build)] {
        args.push((format!("{prefix}PLATFORM"), platform.to_string()));
        args.push((format!("{prefix}OS"), platform.os().to_string()));
        args.push((format!("{prefix}ARCH"), platform.architecture().to_string()));
        args.push((
            format!("{prefix}VARIANT"),
            platform.variant().unwrap_or_default().to_string(),
        ));
    }
    args
}

/// `text` with `$NAME`, `${NAME}`, `${NAME:-word}` and `${NAME:+word}` expanded from `vars`
/// (an unset name is empty), as the Dockerfile frontend expands them.
pub(crate) fn expand(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out += &rest[..at];
        let after = &rest[at + 1..];
        let braced = after
            .strip_prefix('{')
            .and_then(|inner| inner.find('}').map(|end| (inner, end)));
        if let Some((inner, end)) = braced {
            let body = &inner[..end];
            let (name, operator, word) = if let Some((name, word)) = body.split_once(":-") {
                (name, '-', word)
            } else if let Some((name, word)) = body.split_once(":+") {
                (name, '+', word)
            } else {
                (body, ' ', "")
            };
            let set = vars.get(name).filter(|v| !v.is_empty());
            out += match operator {
                '-' => set.map_or(word, String::as_str),
                '+' => set.map_or("", |_| word),
                _ => vars.get(name).map_or("", String::as_str),
            };
            rest = &inner[end + 1..];
            continue;
        }
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        out += vars.get(&after[..name_len]).map_or("", String::as_str);
        rest = &after[name_len..];
    }
    out + rest
}

/// Every base the build of `planned.target` pulls, per platform; sorted, without repeats.
///
/// # Errors
/// A Dockerfile that does not parse, has no stage, or no stage `--target` names.
pub fn plan(planned: &Planned<'_>) -> Result<Vec<Base>, PreflightError> {
    let dockerfile = parse_dockerfile::parse(planned.dockerfile)
        .map_err(|e| PreflightError::Syntax(e.to_string()))?;
    let stages: Vec<_> = dockerfile.stages().collect();
    if stages.is_empty() {
        return Err(PreflightError::NoStage);
    }
    let name_of = |i: usize| {
        stages[i]
            .from
            .as_
            .as_ref()
            .map(|(_, name)| name.value.to_lowercase())
    };
    let index_of = |reference: &str| {
        let lower = reference.to_lowercase();
        (0..stages.len())
            .find(|i| name_of(*i).as_deref() == Some(lower.as_str()))
            .or_else(|| {
                reference
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < stages.len())
            })
    };
    let target = match planned.target {
        Some(name) => index_of(name).ok_or_else(|| PreflightError::NoSuchTarget(name.into()))?,
        None => stages.len() - 1,
    };
    // Global ARGs (before the first FROM), their defaults, then --build-arg.
    let mut globals: BTreeMap<String, String> = BTreeMap::new();
    for arg in dockerfile.global_args() {
        let text = arg.arguments.value.trim();
        let (name, default) = text.split_once('=').unwrap_or((text, ""));
        globals.insert(name.to_string(), default.trim_matches('"').to_string());
    }
    for arg in planned.build_args {
        if globals.contains_key(&arg.key) {
            globals.insert(arg.key.clone(), arg.value.clone());
        }
    }
    let is_context = |name: &str| {
        planned
            .contexts
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    };

    let mut bases = Vec::new();
    for target_platform in planned.platforms {
        let mut vars: HashMap<String, String> = globals.clone().into_iter().collect();
        vars.extend(platform_args(target_platform, planned.build_platform));
        // The stages the target needs, each once.
        let mut todo = vec![target];
        let mut seen = vec![false; stages.len()];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let stage = &stages[i];
            let stage_name = name_of(i).unwrap_or_else(|| i.to_string());
            let platform = match stage
                .from
                .options
                .iter()
                .find(|f| f.name.value == "platform")
            {
                Some(flag) => {
                    let value = expand(flag.value.as_ref().map_or("", |v| &v.value), &vars);
                    value
                        .parse::<Platform>()
                        .map_err(|_| PreflightError::BadPlatform(value.clone()))?
                }
                None => target_platform.clone(),
            };
            let image = expand(&stage.from.image.value, &vars);
            let line = line_of(planned.dockerfile, stage.from.image.span.start);
            match index_of(&image) {
                _ if image == "scratch" || is_context(&image) => {}
                Some(parent) if parent < i => todo.push(parent),
                _ => bases.push(Base {
                    image,
                    platform: platform.clone(),
                    stage: stage_name.clone(),
                    copied_from: false,
                    line,
                }),
            }
            for instruction in stage.instructions {
                let parse_dockerfile::Instruction::Copy(copy) = instruction else {
                    continue;
                };
                let Some(from) = copy.options.iter().find(|f| f.name.value == "from") else {
                    continue;
                };
                let line = line_of(planned.dockerfile, from.name.span.start);
                let from = expand(from.value.as_ref().map_or("", |v| &v.value), &vars);
                match index_of(&from) {
                    _ if is_context(&from) => {}
                    Some(other) => todo.push(other),
                    None => bases.push(Base {
                        image: from,
                        platform: target_platform.clone(),
                        stage: stage_name.clone(),
                        copied_from: true,
                        line,
                    }),
                }
            }
        }
    }
    bases.sort();
    bases.dedup_by(|a, b| a.image == b.image && a.platform == b.platform);
    Ok(bases)
}

/// The line (from 1) of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// How one base stands for one platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum BaseStatus {
    /// The registry has it for that platform, and its program is for that CPU.
    Present {
        /// The platform's manifest digest.
        digest: String,
    },
    /// The image has no manifest for that platform.
    Missing {
        /// The platforms it has (empty: the image itself was not found).
        available: Vec<Platform>,
    },
    /// It has an entry for the platform, but what it holds is for another (its config,
    /// or its program, says so).
    Wrong {
        /// What the static check found.
        detail: String,
    },
    /// It could not be asked (a registry this machine cannot reach); the build will tell.
    Unchecked {
        /// Why.
        reason: String,
    },
}

impl BaseStatus {
    /// Whether the build would fail on it (or build on the wrong CPU's base).
    pub fn stops_the_build(&self) -> bool {
        matches!(self, Self::Missing { .. } | Self::Wrong { .. })
    }
}

/// One base, and how it stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaseCheck {
    /// The image.
    pub image: String,
    /// The platform it is pulled for.
    pub platform: Platform,
    /// The stage that pulls it.
    pub stage: String,
    /// How it stands.
    #[serde(flatten)]
    pub status: BaseStatus,
    /// For a missing platform, with `--history`: the newest tag of the base's line that
    /// still has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_in: Option<String>,
}

/// Asks the registries about every base: each image's index once, then for each platform
/// its entry, checked statically (the config and the entrypoint's program, as `verify
/// --entrypoint-only` does).
///
/// # Errors
/// None of its own: a registry that cannot be asked makes [`BaseStatus::Unchecked`].
pub async fn check(registry: &crate::registry::Registry, bases: &[Base]) -> Vec<BaseCheck> {
    let mut checks = Vec::with_capacity(bases.len());
    let mut listed: HashMap<
        String,
        Result<(oci_client::Reference, Vec<crate::oci::index::Entry>), BaseStatus>,
    > = HashMap::new();
    for base in bases {
        if !listed.contains_key(&base.image) {
            let answer = match crate::input::parse_reference(&base.image) {
                Err(e) => Err(BaseStatus::Unchecked {
                    reason: e.to_string(),
                }),
                Ok(reference) => match registry.fetch_entries(&reference).await {
                    Ok((_, entries)) => Ok((reference, entries)),
                    Err(RegistryError::NotFound { .. }) => Err(BaseStatus::Missing {
                        available: Vec::new(),
                    }),
                    Err(e) => Err(BaseStatus::Unchecked {
                        reason: crate::cause::root_cause(&e),
                    }),
                },
            };
            listed.insert(base.image.clone(), answer);
        }
        let status = match &listed[&base.image] {
            Err(status) => status.clone(),
            Ok((reference, entries)) => {
                match entries
                    .iter()
                    .find(|e| e.platform() == Some(&base.platform))
                {
                    None => BaseStatus::Missing {
                        available: crate::oci::index::platforms(entries),
                    },
                    Some(entry) => {
                        static_status(registry, reference, &base.platform, &entry.digest).await
                    }
                }
            }
        };
        checks.push(BaseCheck {
            image: base.image.clone(),
            platform: base.platform.clone(),
            stage: base.stage.clone(),
            status,
            still_in: None,
        });
    }
    checks
}

/// The static check of one base's entry, as a status.
async fn static_status(
    registry: &crate::registry::Registry,
    reference: &oci_client::Reference,
    platform: &Platform,
    digest: &str,
) -> BaseStatus {
    use crate::verify::Check;
    match crate::verify::check_static(
        registry,
        reference,
        platform,
        digest,
        crate::verify::Scope::Entrypoint,
    )
    .await
    {
        Ok(found) => match found.check {
            Check::Pass(_) | Check::Skipped(_) => BaseStatus::Present {
                digest: digest.to_string(),
            },
            // A base of files alone (no program to start) is fine to build on.
            Check::Fail(detail) if detail.contains("neither an entrypoint nor a command") => {
                BaseStatus::Present {
                    digest: digest.to_string(),
                }
            }
            Check::Fail(detail) => BaseStatus::Wrong { detail },
        },
        Err(e) => BaseStatus::Unchecked {
            reason: crate::cause::root_cause(&e),
        },
    }
}

/// Tag words that name a moving line, not a version: `node:lts`, `nginx:mainline`.
const LINE_WORDS: &[&str] = &["latest", "lts", "stable", "current", "mainline"];

/// A tag as a version and a flavour: `22.1-slim` is (`[22, 1]`, `-slim`), `lts-slim` is
/// (none, `-slim`), `latest` is (none, ``).
fn version_and_flavour(tag: &str) -> (Option<Vec<u64>>, &str) {
    let digits = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tag.len());
    if digits > 0
        && tag[..digits]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    {
        let version = tag[..digits]
            .split('.')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        return (Some(version), &tag[digits..]);
    }
    for word in LINE_WORDS {
        if let Some(flavour) = tag.strip_prefix(word) {
            return (None, flavour);
        }
    }
    (None, tag)
}

/// The tags of `tag`'s line to look through, newest version first: versioned tags of the
/// same flavour (`22-slim` and `20-slim` for `lts-slim`), `tag` itself left out.
pub(crate) fn same_line(tag: &str, tags: &[String]) -> Vec<String> {
    let (_, flavour) = version_and_flavour(tag);
    let mut versioned: Vec<(Vec<u64>, &String)> = tags
        .iter()
        .filter(|t| t.as_str() != tag)
        .filter_map(|t| match version_and_flavour(t) {
            (Some(version), f) if f == flavour => Some((version, t)),
            _ => None,
        })
        .collect();
    versioned.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    versioned.into_iter().map(|(_, t)| t.clone()).collect()
}

/// How many tags of a line `--history` looks at, at most.
const HISTORY_LOOKS: usize = 12;

/// The newest tag of `image`'s line that still has `platform` (`--history`): where a
/// moving tag dropped a platform, the one to pin.
///
/// # Errors
/// As [`crate::registry::Registry::tags`].
pub async fn still_has(
    registry: &crate::registry::Registry,
    image: &str,
    platform: &Platform,
) -> crate::error::Result<Option<String>> {
    let reference = crate::input::parse_reference(image)?;
    let tag = reference.tag().unwrap_or("latest").to_string();
    let tags = registry.tags(&reference, 1000).await?;
    for candidate in same_line(&tag, &tags).into_iter().take(HISTORY_LOOKS) {
        let other = oci_client::Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            candidate.clone(),
        );
        let Ok((_, entries)) = registry.fetch_entries(&other).await else {
            continue;
        };
        if entries.iter().any(|e| e.platform() == Some(platform)) {
            let repository = image
                .rsplit_once(':')
                .map_or(image, |(r, t)| if t.contains('/') { image } else { r });
            return Ok(Some(format!("{repository}:{candidate}")));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(text: &str) -> Platform {
        text.parse().unwrap()
    }

    fn bases(
        dockerfile: &str,
        target: Option<&str>,
        args: &[(&str, &str)],
        contexts: &[&str],
    ) -> Vec<(String, String)> {
        let build_args: Vec<KeyValue> = args
            .iter()
            .map(|(k, v)| format!("{k}={v}").parse().unwrap())
            .collect();
        let contexts: Vec<String> = contexts.iter().map(|c| c.to_string()).collect();
        let platforms = [platform("linux/amd64"), platform("linux/arm/v7")];
        plan(&Planned {
            dockerfile,
            target,
            build_args: &build_args,
            contexts: &contexts,
            platforms: &platforms,
            build_platform: &platform("linux/amd64"),
        })
        .unwrap()
        .into_iter()
        .map(|b| (b.image, b.platform.to_string()))
        .collect()
    }

    fn pair(image: &str, platform: &str) -> (String, String) {
        (image.to_string(), platform.to_string())
    }

    #[test]
    fn the_repositorys_dockerfile_pulls_its_compiler_for_the_build_platform_only() {
        let dockerfile = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile"),
        )
        .unwrap();
        assert_eq!(
            bases(&dockerfile, None, &[], &[]),
            [pair("debian:trixie-slim", "linux/amd64")],
            "FROM --platform=$BUILDPLATFORM: once, for the build platform; scratch is no image"
        );
        // The compile stage replaced by a named context: nothing is pulled at all.
        assert_eq!(bases(&dockerfile, None, &[], &["build"]), []);
        // An ARG base, set by --build-arg, is pulled for every target platform.
        assert_eq!(
            bases(
                &dockerfile,
                None,
                &[("RUNTIME_IMAGE", "debian:trixie-slim")],
                &["build"]
            ),
            [
                pair("debian:trixie-slim", "linux/amd64"),
                pair("debian:trixie-slim", "linux/arm/v7")
            ]
        );
    }

    #[test]
    fn only_the_stages_the_target_needs_are_followed_and_copy_from_images_count() {
        let dockerfile = "\
# syntax=docker/dockerfile:1
ARG TAG=3.20
FROM alpine:${TAG} AS tools
RUN <<EOF
FROM not-an-image
EOF
FROM golang:1.23 AS unused
FROM tools AS final
COPY --from=busybox:1.36 /bin/busybox /bin/
COPY --from=tools /etc/os-release /
";
        assert_eq!(
            bases(dockerfile, Some("final"), &[("TAG", "3.21")], &[]),
            [
                pair("alpine:3.21", "linux/amd64"),
                pair("alpine:3.21", "linux/arm/v7"),
                pair("busybox:1.36", "linux/amd64"),
                pair("busybox:1.36", "linux/arm/v7"),
            ],
            "the heredoc's FROM and the unused stage are not bases"
        );
        assert_eq!(
            bases(dockerfile, Some("unused"), &[], &[]),
            [
                pair("golang:1.23", "linux/amd64"),
                pair("golang:1.23", "linux/arm/v7")
            ]
        );
    }

    /// What BuildKit's parser tests exercise (its `dockerfile/parser/testfiles` and
    /// the heredoc tests), written again here: the escape directive with a backtick,
    /// continuations with comments between their lines, `<<-` heredocs with tab-indented
    /// lines, `COPY` heredocs, and a `FROM --platform` on the target platform.
    #[test]
    fn the_parser_reads_what_buildkits_own_parser_tests_read() {
        let dockerfile = "\
# syntax=docker/dockerfile:1
# escape=`
ARG BASE=debian
FROM --platform=$TARGETPLATFORM ${BASE}:bookworm-slim AS base
RUN apt-get update && `
# a comment between the lines of one instruction
    apt-get install -y curl
RUN <<-EOT bash
\tFROM heredoc-is-no-base
\techo done
\tEOT
COPY <<EOF /etc/motd
FROM neither-is-this
EOF
FROM base AS final
COPY --from=alpine:3.21 `
     /etc/alpine-release /
";
        assert_eq!(
            bases(dockerfile, None, &[], &[]),
            [
                pair("alpine:3.21", "linux/amd64"),
                pair("alpine:3.21", "linux/arm/v7"),
                pair("debian:bookworm-slim", "linux/amd64"),
                pair("debian:bookworm-slim", "linux/arm/v7"),
            ],
            "a backtick continues a line, heredocs are no bases, $TARGETPLATFORM is each platform"
        );
    }

    /// Every Dockerfile this repository holds reads, each with the bases it names.
    #[test]
    fn every_dockerfile_of_the_repository_reads() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let emulated = std::fs::read_to_string(root.join("bench/emulated/Dockerfile")).unwrap();
        assert_eq!(
            bases(&emulated, None, &[], &[]),
            [
                pair(
                    "localhost:1/multiarch-bench/rust:trixie-amd64",
                    "linux/amd64"
                ),
                pair(
                    "localhost:1/multiarch-bench/rust:trixie-arm",
                    "linux/arm/v7"
                ),
            ],
            "TARGETARCH is each platform's in a FROM line"
        );
    }

    #[test]
    fn args_expand_as_the_frontend_expands_them() {
        let vars: HashMap<String, String> = [("A", "x"), ("E", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            expand("$A-${A}-${B:-d}-${E:-e}-${A:+p}-${B:+q}-$$", &vars),
            "x-x-d-e-p--$$"
        );
    }

    #[test]
    fn a_moving_tags_line_is_its_versions_of_the_same_flavour_newest_first() {
        let tags: Vec<String> = [
            "lts-slim",
            "24-slim",
            "22-slim",
            "22.1-slim",
            "20-slim",
            "22-alpine",
            "22",
            "latest",
            "9-slim",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        assert_eq!(
            same_line("lts-slim", &tags),
            ["24-slim", "22.1-slim", "22-slim", "20-slim", "9-slim"]
        );
        assert_eq!(same_line("latest", &tags), ["22"]);
        assert_eq!(
            same_line("24-slim", &tags),
            ["22.1-slim", "22-slim", "20-slim", "9-slim"]
        );
    }

    #[test]
    fn a_target_that_names_no_stage_is_refused() {
        let err = plan(&Planned {
            dockerfile: "FROM scratch\n",
            target: Some("nope"),
            build_args: &[],
            contexts: &[],
            platforms: &[platform("linux/amd64")],
            build_platform: &platform("linux/amd64"),
        })
        .unwrap_err();
        assert_eq!(err, PreflightError::NoSuchTarget("nope".into()));
    }
}
