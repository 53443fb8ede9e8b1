//! The index as a contract, judged before any layer is downloaded: the platforms it
//! must hold, and the shapes that shipped broken releases.
//!
//! - two entries of one platform (an index with two `linux/amd64` and no arm64: the
//!   engine picks one, the other platform is simply missing);
//! - an attestation whose subject is not in the index (it proves nothing here);
//! - two platforms whose layers are all the same (bitnami/minideb#240: one image listed
//!   under two architectures; "both images are the same file size");
//! - `--expect`: a platform missing, or one nobody asked for;
//! - `--against` the last release: a platform it had and this one lost.
//!
//! A single layer shared by two platforms is normal for files without an architecture
//! (a `COPY` of static files has the same digest everywhere), so only whole sets of
//! layers are compared here; a shared layer that holds programs is caught by the static
//! check, which judges every program of each platform.

use std::collections::BTreeMap;

use oci_client::Reference;
use serde::Serialize;

use multiarch_platform::Platform;

use crate::error::Result;
use crate::oci::index::{Entry, EntryKind, short};
use crate::registry::Registry;

/// One broken promise of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// One platform listed more than once.
    DuplicatePlatform {
        /// The platform.
        platform: Platform,
        /// Every entry that claims it.
        digests: Vec<String>,
    },
    /// An attestation about a manifest the index does not hold.
    OrphanAttestation {
        /// The attestation manifest.
        digest: String,
        /// The subject it names.
        subject: String,
    },
    /// Platforms whose images have exactly the same layers.
    SameLayers {
        /// The platforms, in index order.
        platforms: Vec<Platform>,
        /// How many layers they share.
        layers: usize,
        /// The platform the first one's config names: what the shared image really is.
        config: Option<Platform>,
    },
    /// A platform the contract wants and the index lacks.
    Missing {
        /// The platform.
        platform: Platform,
        /// Who wants it: `--expect`, or the reference of the last release.
        wanted_by: String,
    },
    /// A platform the index holds and `--expect` does not name.
    Unexpected {
        /// The platform.
        platform: Platform,
    },
    /// Another tag of the release names something else (`--tags`).
    TagDisagrees {
        /// The tag, as a whole reference.
        tag: String,
        /// What it names (`None`: nothing).
        digest: Option<String>,
        /// Platforms the release has and it lacks.
        lacks: Vec<Platform>,
        /// Platforms it has and the release lacks.
        adds: Vec<Platform>,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DuplicatePlatform { platform, digests } => write!(
                f,
                "{platform} is listed {} times ({}): a puller gets one of them, and the platform that should have been there is missing",
                digests.len(),
                digests
                    .iter()
                    .map(|d| short(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::OrphanAttestation { digest, subject } => write!(
                f,
                "the attestation {} is about {}, which this index does not hold",
                short(digest),
                short(subject)
            ),
            Self::SameLayers {
                platforms,
                layers,
                config,
            } => write!(
                f,
                "{} hold the very same {layers} layer(s): one image listed under {} architectures{}",
                multiarch_platform::join_platforms(platforms),
                platforms.len(),
                config
                    .as_ref()
                    .map(|c| format!(" (its config says {c})"))
                    .unwrap_or_default()
            ),
            Self::Missing {
                platform,
                wanted_by,
            } => write!(f, "{platform} is missing ({wanted_by} has it)"),
            Self::Unexpected { platform } => {
                write!(f, "{platform} is in the index but not in `--expect`")
            }
            Self::TagDisagrees {
                tag, digest: None, ..
            } => write!(f, "`{tag}` names nothing"),
            Self::TagDisagrees {
                tag,
                digest: Some(digest),
                lacks,
                adds,
            } => {
                write!(f, "`{tag}` names {}, another index", short(digest))?;
                let mut said = Vec::new();
                if !lacks.is_empty() {
                    said.push(format!(
                        "it lacks {}",
                        multiarch_platform::join_platforms(lacks)
                    ));
                }
                if !adds.is_empty() {
                    said.push(format!(
                        "it adds {}",
                        multiarch_platform::join_platforms(adds)
                    ));
                }
                if said.is_empty() {
                    Ok(())
                } else {
                    write!(f, " ({})", said.join("; "))
                }
            }
        }
    }
}

/// What the index is held to, besides its own consistency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contract {
    /// `--expect`: exactly these platforms.
    pub expect: Option<Vec<Platform>>,
    /// `--against REF`: the platforms of the last release, and its reference.
    pub previous: Option<(String, Vec<Platform>)>,
}

/// Reads what the contract needs from the registry (each image's manifest and config, for
/// its layer digests and its own claim; the last release's platforms), then judges
/// `entries` of `reference`. No layer is downloaded.
///
/// # Errors
/// A manifest, or the last release, cannot be fetched.
pub async fn check(
    registry: &Registry,
    reference: &Reference,
    entries: &[Entry],
    expect: Option<Vec<Platform>>,
    against: Option<&Reference>,
) -> Result<Vec<Finding>> {
    let image_entries = entries.iter().filter(|e| e.platform().is_some());
    let fetched = futures_util::future::try_join_all(image_entries.map(|e| async move {
        let image = registry.fetch_image(reference, &e.digest).await?;
        let facts = ImageFacts {
            layers: image
                .manifest
                .layers()
                .iter()
                .map(|l| l.digest().to_string())
                .collect(),
            config: crate::oci::index::config_platform(&image.config).ok(),
        };
        Ok::<_, crate::error::Error>((e.digest.clone(), facts))
    }))
    .await?;
    let images: BTreeMap<String, ImageFacts> = fetched.into_iter().collect();
    let previous = match against {
        Some(previous) => {
            let (_, had) = registry.fetch_entries(previous).await?;
            Some((
                previous.whole(),
                crate::oci::index::platforms(&had)
                    .into_iter()
                    .fold(Vec::new(), |mut all, p| {
                        if !all.contains(&p) {
                            all.push(p);
                        }
                        all
                    }),
            ))
        }
        None => None,
    };
    Ok(judge(entries, &images, &Contract { expect, previous }))
}

/// The release's other tags against it (`verify --tags`): each must name the same index
/// (`digest`), or with `same_platforms`, an index of the same platforms.
///
/// # Errors
/// A tag's registry cannot be read (a tag it does not hold is a finding).
pub async fn tags_agree(
    registry: &Registry,
    digest: &str,
    platforms: &[Platform],
    tags: &[Reference],
    same_platforms: bool,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for tag in tags {
        let (fetched, listed) = match registry.fetch_entries(tag).await {
            Ok(found) => found,
            Err(crate::registry::RegistryError::NotFound { .. }) => {
                findings.push(Finding::TagDisagrees {
                    tag: tag.whole(),
                    digest: None,
                    lacks: platforms.to_vec(),
                    adds: Vec::new(),
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if fetched.digest == digest {
            continue;
        }
        let theirs = crate::oci::index::platforms(&listed);
        let lacks: Vec<Platform> = platforms
            .iter()
            .filter(|p| !theirs.contains(p))
            .cloned()
            .collect();
        let adds: Vec<Platform> = theirs
            .iter()
            .filter(|p| !platforms.contains(p))
            .cloned()
            .collect();
        if same_platforms && lacks.is_empty() && adds.is_empty() {
            continue;
        }
        findings.push(Finding::TagDisagrees {
            tag: tag.whole(),
            digest: Some(fetched.digest),
            lacks,
            adds,
        });
    }
    Ok(findings)
}

/// What the contract reads of one image: its layers' digests and its config's platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// The layer digests, in order.
    pub layers: Vec<String>,
    /// The platform the config names.
    pub config: Option<Platform>,
}

/// Judges `entries` (an index, or one image) against `contract`; `images` holds each
/// image entry's facts by manifest digest (entries without are not compared).
pub(crate) fn judge(
    entries: &[Entry],
    images_read: &BTreeMap<String, ImageFacts>,
    contract: &Contract,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let images: Vec<(&Platform, &str)> = entries
        .iter()
        .filter_map(|e| e.platform().map(|p| (p, e.digest.as_str())))
        .collect();

    let mut seen: Vec<(&Platform, Vec<String>)> = Vec::new();
    for (platform, digest) in &images {
        match seen.iter_mut().find(|(p, _)| p == platform) {
            Some((_, digests)) => digests.push(digest.to_string()),
            None => seen.push((platform, vec![digest.to_string()])),
        }
    }
    for (platform, digests) in &seen {
        if digests.len() > 1 {
            findings.push(Finding::DuplicatePlatform {
                platform: (*platform).clone(),
                digests: digests.clone(),
            });
        }
    }

    for entry in entries {
        if let EntryKind::Attestation { subject, .. } = &entry.kind {
            if !entries.iter().any(|e| &e.digest == subject) {
                findings.push(Finding::OrphanAttestation {
                    digest: entry.digest.clone(),
                    subject: subject.clone(),
                });
            }
        }
    }

    // Same layers, under different platforms (a duplicate of one platform is said above).
    let mut groups: Vec<(&ImageFacts, Vec<Platform>)> = Vec::new();
    for (platform, digest) in &images {
        let Some(facts) = images_read.get(*digest).filter(|f| !f.layers.is_empty()) else {
            continue;
        };
        match groups.iter_mut().find(|(f, _)| f.layers == facts.layers) {
            Some((_, platforms)) if !platforms.contains(platform) => {
                platforms.push((*platform).clone())
            }
            Some(_) => {}
            None => groups.push((facts, vec![(*platform).clone()])),
        }
    }
    for (facts, platforms) in groups {
        if platforms.len() > 1 {
            findings.push(Finding::SameLayers {
                platforms,
                layers: facts.layers.len(),
                config: facts.config.clone(),
            });
        }
    }

    let held: Vec<&Platform> = seen.iter().map(|(p, _)| *p).collect();
    if let Some(expected) = &contract.expect {
        for platform in expected {
            if !held.contains(&platform) {
                findings.push(Finding::Missing {
                    platform: platform.clone(),
                    wanted_by: "`--expect`".into(),
                });
            }
        }
        for platform in &held {
            if !expected.contains(platform) {
                findings.push(Finding::Unexpected {
                    platform: (*platform).clone(),
                });
            }
        }
    }
    if let Some((reference, had)) = &contract.previous {
        for platform in had {
            let already = findings
                .iter()
                .any(|f| matches!(f, Finding::Missing { platform: p, .. } if p == platform));
            if !held.contains(&platform) && !already {
                findings.push(Finding::Missing {
                    platform: platform.clone(),
                    wanted_by: format!("the last release `{reference}`"),
                });
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(platform: &str, digest: &str) -> Entry {
        Entry {
            digest: digest.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 1,
            kind: EntryKind::Image {
                platform: platform.parse().unwrap(),
            },
        }
    }

    fn attestation(digest: &str, subject: &str) -> Entry {
        Entry {
            digest: digest.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 1,
            kind: EntryKind::Attestation {
                subject: subject.into(),
                subject_platform: None,
            },
        }
    }

    fn layers(pairs: &[(&str, &[&str])]) -> BTreeMap<String, ImageFacts> {
        pairs
            .iter()
            .map(|(d, l)| {
                let facts = ImageFacts {
                    layers: l.iter().map(|x| x.to_string()).collect(),
                    config: Some("linux/amd64".parse().unwrap()),
                };
                (d.to_string(), facts)
            })
            .collect()
    }

    fn platforms(list: &str) -> Vec<Platform> {
        multiarch_platform::parse_platform_list(list).unwrap()
    }

    #[test]
    fn an_honest_two_platform_index_keeps_its_promises() {
        let entries = [
            image("linux/amd64", "sha256:a"),
            image("linux/arm64", "sha256:b"),
            attestation("sha256:c", "sha256:a"),
        ];
        // One layer of static files shared by both platforms is normal.
        let layers = layers(&[
            ("sha256:a", &["sha256:static", "sha256:amd64-bin"]),
            ("sha256:b", &["sha256:static", "sha256:arm64-bin"]),
        ]);
        let contract = Contract {
            expect: Some(platforms("linux/arm64,linux/amd64")),
            previous: Some(("r:1".into(), platforms("linux/amd64"))),
        };
        assert_eq!(judge(&entries, &layers, &contract), []);
    }

    /// Issue #25: jordigilh/kubernaut#758, two `linux/amd64` entries and no arm64.
    #[test]
    fn two_entries_of_one_platform_fail_naming_both() {
        let entries = [
            image("linux/amd64", "sha256:a"),
            image("linux/amd64", "sha256:b"),
        ];
        let findings = judge(&entries, &BTreeMap::new(), &Contract::default());
        assert_eq!(
            findings,
            [Finding::DuplicatePlatform {
                platform: "linux/amd64".parse().unwrap(),
                digests: vec!["sha256:a".into(), "sha256:b".into()],
            }]
        );
        assert!(findings[0].to_string().contains("listed 2 times"));
    }

    /// Issue #25: bitnami/minideb#240, one image under two architectures.
    #[test]
    fn platforms_with_the_very_same_layers_fail_together() {
        let entries = [
            image("linux/amd64", "sha256:a"),
            image("linux/arm64", "sha256:b"),
            image("linux/arm/v7", "sha256:c"),
        ];
        let layers = layers(&[
            ("sha256:a", &["sha256:1", "sha256:2"]),
            ("sha256:b", &["sha256:1", "sha256:2"]),
            ("sha256:c", &["sha256:1", "sha256:3"]),
        ]);
        let findings = judge(&entries, &layers, &Contract::default());
        assert_eq!(
            findings,
            [Finding::SameLayers {
                platforms: platforms("linux/amd64,linux/arm64"),
                layers: 2,
                config: Some("linux/amd64".parse().unwrap()),
            }]
        );
        assert_eq!(
            findings[0].to_string(),
            "linux/amd64, linux/arm64 hold the very same 2 layer(s): one image listed under 2 architectures (its config says linux/amd64)"
        );
    }

    #[test]
    fn an_attestation_about_nothing_here_fails() {
        let entries = [
            image("linux/amd64", "sha256:a"),
            attestation("sha256:c", "sha256:gone"),
        ];
        let findings = judge(&entries, &BTreeMap::new(), &Contract::default());
        assert!(
            matches!(&findings[..], [Finding::OrphanAttestation { subject, .. }] if subject == "sha256:gone")
        );
    }

    #[test]
    fn expect_names_what_is_missing_and_what_nobody_asked_for() {
        let entries = [
            image("linux/amd64", "sha256:a"),
            image("linux/386", "sha256:b"),
        ];
        let contract = Contract {
            expect: Some(platforms("linux/amd64,linux/arm64")),
            previous: None,
        };
        let said: Vec<String> = judge(&entries, &BTreeMap::new(), &contract)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            said,
            [
                "linux/arm64 is missing (`--expect` has it)",
                "linux/386 is in the index but not in `--expect`"
            ]
        );
    }

    /// Issue #25: a release that lost arm/v7 against its previous tag.
    #[test]
    fn a_platform_the_last_release_had_is_missing() {
        let entries = [
            image("linux/amd64", "sha256:a"),
            image("linux/arm64", "sha256:b"),
        ];
        let contract = Contract {
            expect: None,
            previous: Some((
                "r/app:1.0".into(),
                platforms("linux/amd64,linux/arm64,linux/arm/v7"),
            )),
        };
        let said: Vec<String> = judge(&entries, &BTreeMap::new(), &contract)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            said,
            ["linux/arm/v7 is missing (the last release `r/app:1.0` has it)"]
        );
    }
}
