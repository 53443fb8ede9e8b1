//! Build nodes: one builder spread over several engines (an amd64 server, an arm64 box, a
//! Pi), each building the platforms it runs natively, as buildx's `create --append` does.
//!
//! A node is an engine endpoint ([`EngineEndpoint`]) or a buildx builder of any driver,
//! and the platforms its owner says it serves; reaching it is its driver's
//! (the `driver` folder's `nodes`). What
//! it serves natively is what its engine runs on (a builder's: its BuildKit's own
//! platform); what it can emulate is what its BuildKit reports beyond that. Each platform of a build goes to a node that the
//! user named for it, else one that runs it natively, else one that emulates it.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use multiarch_platform::Platform;

use crate::buildkit::BuildError;
use crate::engine::endpoint::EngineEndpoint;
use crate::error::{Error, Result};

/// One node of a builder, as remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Its name, unique in its builder.
    pub name: String,
    /// Its engine, or the buildx builder it is.
    #[serde(flatten)]
    pub endpoint: NodeEndpoint,
    /// The platforms its owner says it serves (`platforms=` when created).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
}

/// Where a node builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NodeEndpoint {
    /// A buildx builder (`buildx://NAME`), reached through `docker buildx dial-stdio`.
    Buildx {
        /// Its name in buildx's store.
        buildx: String,
    },
    /// A Docker engine, building with its own BuildKit.
    Engine(EngineEndpoint),
}

impl std::fmt::Display for NodeEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Buildx { buildx } => write!(f, "{BUILDX_SCHEME}{buildx}"),
            Self::Engine(engine) => engine.fmt(f),
        }
    }
}

/// How a buildx builder is named as a node.
const BUILDX_SCHEME: &str = "buildx://";

impl FromStr for Node {
    type Err = Error;

    /// `NAME=ENDPOINT[,certs=DIR][,platforms=P[,P...]]`, ENDPOINT an engine's or
    /// `buildx://BUILDER`: later words without `=` continue
    /// the platform list, so `arm=tcp://pi:2376,platforms=linux/arm/v6,linux/arm/v7` reads
    /// as one would hope.
    fn from_str(text: &str) -> Result<Self> {
        let bad = |reason: &str| {
            Error::Build(BuildError::BadNodeSpec {
                spec: text.to_string(),
                reason: reason.to_string(),
            })
        };
        let mut words = text.split(',');
        let (name, host) = words
            .next()
            .and_then(|first| first.split_once('='))
            .ok_or_else(|| bad("a node is `NAME=ENDPOINT`"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad("a node's name is letters, digits, `-` and `_`"));
        }
        let mut certs = None;
        let mut platforms = Vec::new();
        let mut in_platforms = false;
        for word in words {
            match word.split_once('=') {
                Some(("certs", dir)) => {
                    certs = Some(std::path::absolute(dir).map_err(|e| bad(&e.to_string()))?);
                    in_platforms = false;
                }
                Some(("platforms", first)) => {
                    platforms.push(platform(text, first)?);
                    in_platforms = true;
                }
                None if in_platforms => platforms.push(platform(text, word)?),
                _ => {
                    return Err(bad(&format!(
                        "`{word}`: the options are `certs=DIR` and `platforms=P,...`"
                    )));
                }
            }
        }
        let endpoint = match host.strip_prefix(BUILDX_SCHEME) {
            Some(_) if certs.is_some() => {
                return Err(bad(
                    "`certs=` is for a tcp:// engine: a buildx builder carries its own",
                ));
            }
            Some(builder) => {
                // buildx's own rule for a builder's name (`store.ValidateName`).
                let mut chars = builder.chars();
                if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                    || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                {
                    return Err(bad(&format!(
                        "`{builder}` is not a buildx builder's name: a letter, then letters, digits, `.`, `-` and `_`"
                    )));
                }
                NodeEndpoint::Buildx {
                    buildx: builder.to_string(),
                }
            }
            None => NodeEndpoint::Engine(EngineEndpoint::new(host, certs)?),
        };
        Ok(Self {
            name: name.to_string(),
            endpoint,
            platforms,
        })
    }
}

fn platform(node: &str, text: &str) -> Result<Platform> {
    text.parse()
        .map_err(|e: multiarch_platform::PlatformError| {
            Error::Build(BuildError::BadNodeSpec {
                spec: node.to_string(),
                reason: e.to_string(),
            })
        })
}

/// What a node can build, as its engine and BuildKit say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Serves {
    /// What its owner named (`platforms=`).
    pub declared: Vec<Platform>,
    /// What its engine runs on.
    pub native: Vec<Platform>,
    /// What its BuildKit can build beyond that (emulated).
    pub emulated: Vec<Platform>,
}

/// How a platform is built on its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Named for the node by its owner.
    Declared,
    /// The node's own CPU.
    Native,
    /// Under the node's emulator.
    Emulated,
}

impl std::fmt::Display for Fit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Declared => "named for it",
            Self::Native => "native",
            Self::Emulated => "emulated",
        })
    }
}

/// Which node builds each platform: by [`Fit`] (named, then native, then emulated), and
/// among equals the one with the fewest platforms so far, then the first listed.
///
/// # Errors
/// [`Error::Build(BuildError::BadNodes)`] naming a platform no node can build.
pub(crate) fn assign(
    nodes: &[(String, Serves)],
    wanted: &[Platform],
) -> Result<Vec<(Platform, usize, Fit)>> {
    let mut load = vec![0usize; nodes.len()];
    let mut plan = Vec::new();
    for platform in wanted {
        let fit_of = |serves: &Serves| {
            if serves.declared.contains(platform) {
                Some(Fit::Declared)
            } else if serves.native.contains(platform) {
                Some(Fit::Native)
            } else if serves.emulated.contains(platform) {
                Some(Fit::Emulated)
            } else {
                None
            }
        };
        let best = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, (_, serves))| fit_of(serves).map(|fit| (fit, load[i], i)))
            .min_by_key(|&(fit, load, i)| (fit as u8, load, i));
        let Some((fit, _, node)) = best else {
            return Err(Error::Build(BuildError::BadNodes(format!(
                "no node of this builder can build {platform}: {}",
                nodes
                    .iter()
                    .map(|(name, s)| format!(
                        "`{name}` builds {}",
                        list(
                            &s.declared
                                .iter()
                                .chain(&s.native)
                                .chain(&s.emulated)
                                .cloned()
                                .collect::<Vec<_>>()
                        )
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))));
        };
        load[node] += 1;
        plan.push((platform.clone(), node, fit));
    }
    Ok(plan)
}

/// Platforms sent to a node that emulates them (named for it) while another node of the
/// builder runs them natively: a routing mistake that costs the emulation's time.
pub(crate) fn emulated_beside_native(
    nodes: &[(String, Serves)],
    plan: &[(Platform, usize, Fit)],
) -> Vec<String> {
    plan.iter()
        .filter(|(platform, node, _)| !nodes[*node].1.native.contains(platform))
        .filter_map(|(platform, node, _)| {
            let native = nodes
                .iter()
                .find(|(_, serves)| serves.native.contains(platform))?;
            Some(format!(
                "{platform} goes to node `{}`, named for it, which does not run it natively; node `{}` does (drop `platforms={platform}` from `{}`, or name `{}` for it)",
                nodes[*node].0, native.0, nodes[*node].0, native.0
            ))
        })
        .collect()
}

/// `linux/amd64, linux/arm64`, or `nothing`.
pub fn list(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return "nothing".into();
    }
    multiarch_platform::join_platforms(platforms)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Platform {
        text.parse().unwrap()
    }

    #[test]
    fn a_node_is_written_as_buildx_users_write_one() {
        let node: Node = "pi=tcp://10.0.0.9:2376,platforms=linux/arm/v6,linux/arm/v7"
            .parse()
            .unwrap();
        assert_eq!(node.name, "pi");
        assert_eq!(node.endpoint.to_string(), "tcp://10.0.0.9:2376");
        assert_eq!(node.platforms, [p("linux/arm/v6"), p("linux/arm/v7")]);
        let local: Node = "here=unix:///var/run/docker.sock".parse().unwrap();
        assert!(
            local.platforms.is_empty()
                && matches!(&local.endpoint, NodeEndpoint::Engine(e) if e.certs.is_none())
        );
        let fleet: Node = "k8s=buildx://fleet,platforms=linux/arm64".parse().unwrap();
        assert_eq!(
            fleet.endpoint,
            NodeEndpoint::Buildx {
                buildx: "fleet".into()
            }
        );
        assert_eq!(fleet.endpoint.to_string(), "buildx://fleet");
        assert_eq!(fleet.platforms, [p("linux/arm64")]);
        for bad in [
            "no-endpoint",
            "=unix:///x",
            "a b=unix:///x",
            "n=unix:///x,colour=red",
            "n=unix:///x,platforms=linux/sparc",
            "n=buildx://",
            "n=buildx://no/slash",
            "n=buildx://fleet,certs=/tmp",
        ] {
            assert!(bad.parse::<Node>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_buildx_node_is_remembered_beside_the_engine_nodes() {
        let nodes: Vec<Node> = [
            "here=unix:///var/run/docker.sock",
            "k8s=buildx://fleet,platforms=linux/arm64",
        ]
        .iter()
        .map(|text| text.parse().unwrap())
        .collect();
        let json = serde_json::to_string(&nodes).unwrap();
        assert_eq!(
            json,
            r#"[{"name":"here","host":"unix:///var/run/docker.sock"},{"name":"k8s","buildx":"fleet","platforms":["linux/arm64"]}]"#
        );
        let read: Vec<Node> = serde_json::from_str(&json).unwrap();
        assert_eq!(read, nodes, "each comes back as what it was");
    }

    #[test]
    fn each_platform_goes_to_the_node_that_fits_it_best() {
        let x86 = Serves {
            native: vec![p("linux/amd64")],
            emulated: vec![p("linux/arm64"), p("linux/riscv64")],
            ..Serves::default()
        };
        let arm = Serves {
            native: vec![p("linux/arm64")],
            ..Serves::default()
        };
        let pi = Serves {
            declared: vec![p("linux/arm/v6")],
            native: vec![p("linux/arm/v7")],
            ..Serves::default()
        };
        let nodes = [
            ("x86".to_string(), x86),
            ("arm".to_string(), arm),
            ("pi".to_string(), pi),
        ];
        let plan = assign(
            &nodes,
            &[
                p("linux/amd64"),
                p("linux/arm64"),
                p("linux/arm/v6"),
                p("linux/riscv64"),
            ],
        )
        .unwrap();
        let shown: Vec<(String, usize, Fit)> = plan
            .into_iter()
            .map(|(p, n, f)| (p.to_string(), n, f))
            .collect();
        assert_eq!(
            shown,
            [
                ("linux/amd64".to_string(), 0, Fit::Native),
                ("linux/arm64".to_string(), 1, Fit::Native),
                ("linux/arm/v6".to_string(), 2, Fit::Declared),
                ("linux/riscv64".to_string(), 0, Fit::Emulated),
            ]
        );
        let error = assign(&nodes, &[p("linux/s390x")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no node of this builder can build linux/s390x"),
            "{error}"
        );
    }

    #[test]
    fn a_platform_named_for_an_emulating_node_while_another_runs_it_natively_is_named() {
        let emulating = Serves {
            declared: vec![p("linux/arm64")],
            native: vec![p("linux/amd64")],
            emulated: vec![p("linux/arm64")],
        };
        let arm = Serves {
            native: vec![p("linux/arm64")],
            ..Serves::default()
        };
        let nodes = [("x86".to_string(), emulating), ("pi".to_string(), arm)];
        let plan = assign(&nodes, &[p("linux/arm64"), p("linux/amd64")]).unwrap();
        let warnings = emulated_beside_native(&nodes, &plan);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("linux/arm64 goes to node `x86`")
                && warnings[0].contains("node `pi` does"),
            "{warnings:?}"
        );
        let routed = assign(&nodes[1..], &[p("linux/arm64")]).unwrap();
        assert!(emulated_beside_native(&nodes[1..], &routed).is_empty());
    }

    #[test]
    fn equal_nodes_share_the_platforms() {
        let both = Serves {
            native: vec![p("linux/amd64")],
            emulated: vec![p("linux/arm64")],
            ..Serves::default()
        };
        let nodes = [("a".to_string(), both.clone()), ("b".to_string(), both)];
        let plan = assign(&nodes, &[p("linux/amd64"), p("linux/amd64")]).unwrap();
        assert_eq!(plan[0].1, 0);
        assert_eq!(plan[1].1, 1, "the second goes to the idle node");
    }
}
