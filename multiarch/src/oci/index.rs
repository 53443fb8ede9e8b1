//! Reading what a registry returns for a tag: an index (manifest list) naming one
//! image per platform, or a single image manifest.
//!
//! BuildKit adds attestation manifests to indexes with the platform `unknown/unknown`,
//! which `docker buildx imagetools inspect` shows as such. Here they are recognised
//! by their `vnd.docker.reference.*` annotations and tied to the image they describe,
//! so a person reads "attestation for linux/amd64".

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use serde::Serialize;

use multiarch_platform::{Platform, PlatformError};

/// Media types of indexes (OCI and Docker's manifest list).
pub(crate) const INDEX_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Media types of single-image manifests (OCI and Docker schema 2).
pub(crate) const IMAGE_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The annotation BuildKit puts on a manifest that describes another (an attestation).
pub(crate) const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// A manifest as the registry returned it, parsed.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per fetch; boxing buys nothing here
pub enum Manifest {
    /// An index: one entry per platform, perhaps with attestations.
    Index(ImageIndex),
    /// A single image.
    Image(ImageManifest),
}

/// Why bytes could not be read as a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but neither an index nor an image manifest.
    #[error("neither an image index nor an image manifest (media type `{0}`)")]
    UnknownKind(String),
    /// The right kind, but a field is missing or of the wrong type.
    #[error("a malformed {kind}: {reason}")]
    Malformed {
        /// `index` or `image manifest`.
        kind: &'static str,
        /// What the parser said.
        reason: String,
    },
}

impl Manifest {
    /// Parses manifest bytes, deciding the kind from `mediaType` or, when that is
    /// absent (it is optional in OCI), from the fields present.
    ///
    /// # Errors
    /// Bytes that are not JSON, or not a manifest of a kind this tool knows.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let media_type = value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        let is_index = INDEX_MEDIA_TYPES.contains(&media_type.as_str())
            || (media_type.is_empty() && value.get("manifests").is_some());
        let is_image = IMAGE_MEDIA_TYPES.contains(&media_type.as_str())
            || (media_type.is_empty() && value.get("layers").is_some());
        if is_index {
            serde_json::from_value(value)
                .map(Self::Index)
                .map_err(|e| ManifestError::Malformed {
                    kind: "index",
                    reason: e.to_string(),
                })
        } else if is_image {
            serde_json::from_value(value)
                .map(Self::Image)
                .map_err(|e| ManifestError::Malformed {
                    kind: "image manifest",
                    reason: e.to_string(),
                })
        } else {
            Err(ManifestError::UnknownKind(if media_type.is_empty() {
                "none".into()
            } else {
                media_type
            }))
        }
    }

    /// The manifest's media type, as declared or implied.
    pub fn media_type(&self) -> String {
        match self {
            Self::Index(index) => index
                .media_type()
                .as_ref()
                .map_or(INDEX_MEDIA_TYPES[0].to_string(), ToString::to_string),
            Self::Image(image) => image
                .media_type()
                .as_ref()
                .map_or(IMAGE_MEDIA_TYPES[0].to_string(), ToString::to_string),
        }
    }
}

/// What one entry of an index is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryKind {
    /// An image for a platform.
    Image {
        /// The platform the index claims for it.
        platform: Platform,
    },
    /// An attestation (provenance, SBOM) about another entry.
    Attestation {
        /// The digest of the image it describes.
        subject: String,
        /// That image's platform, when the subject is in the same index.
        subject_platform: Option<Platform>,
    },
    /// An entry with no usable platform that is not an attestation.
    Unknown {
        /// What the index says, e.g. `unknown/unknown`, or `none`.
        platform: String,
    },
}

/// One entry of an index, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The entry's digest.
    pub digest: String,
    /// The entry's media type.
    pub media_type: String,
    /// The size of the manifest it points at, in bytes.
    pub size: u64,
    /// What it is.
    #[serde(flatten)]
    pub kind: EntryKind,
}

impl Entry {
    /// A single-platform image as an entry, its platform read from its config (a tag can
    /// name one image instead of an index).
    pub(crate) fn single_image(
        digest: String,
        media_type: String,
        size: u64,
        config: &ImageConfiguration,
    ) -> Self {
        let kind = match config_platform(config) {
            Ok(platform) => EntryKind::Image { platform },
            Err(_) => EntryKind::Unknown {
                platform: format!("{}/{}", config.os(), config.architecture()),
            },
        };
        Self {
            digest,
            media_type,
            size,
            kind,
        }
    }

    /// The platform of an image entry.
    pub fn platform(&self) -> Option<&Platform> {
        match &self.kind {
            EntryKind::Image { platform } => Some(platform),
            _ => None,
        }
    }

    /// How to name this entry to a person: `linux/arm64`, `attestation for linux/arm64`.
    pub fn label(&self) -> String {
        match &self.kind {
            EntryKind::Image { platform } => platform.to_string(),
            EntryKind::Attestation {
                subject_platform: Some(p),
                ..
            } => format!("attestation for {p}"),
            EntryKind::Attestation { subject, .. } => format!("attestation for {}", short(subject)),
            EntryKind::Unknown { platform } => platform.clone(),
        }
    }
}

/// The digest shortened for tables: `sha256:0123456789ab`.
pub fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", &hex[..hex.len().min(12)]),
        None => digest.chars().take(19).collect(),
    }
}

/// The platform an image's config names.
///
/// # Errors
/// [`PlatformError`] when the config's os, architecture or variant is not one we know.
pub(crate) fn config_platform(config: &ImageConfiguration) -> Result<Platform, PlatformError> {
    Platform::new(
        &config.os().to_string(),
        &config.architecture().to_string(),
        config.variant().as_deref(),
    )
}

/// The OCI platform of a descriptor, if it names a valid one.
pub(crate) fn descriptor_platform(descriptor: &Descriptor) -> Option<Platform> {
    let platform = descriptor.platform().as_ref()?;
    Platform::new(
        &platform.os().to_string(),
        &platform.architecture().to_string(),
        platform.variant().as_deref(),
    )
    .ok()
}

/// Classifies every entry of an index, in the index's order.
pub fn entries(index: &ImageIndex) -> Vec<Entry> {
    let platforms: Vec<(String, Option<Platform>)> = index
        .manifests()
        .iter()
        .map(|d| (d.digest().to_string(), descriptor_platform(d)))
        .collect();
    index
        .manifests()
        .iter()
        .map(|descriptor| {
            let annotations = descriptor.annotations().as_ref();
            let attestation_subject = annotations
                .filter(|a| {
                    a.get(REFERENCE_TYPE).map(String::as_str) == Some("attestation-manifest")
                })
                .and_then(|a| a.get(REFERENCE_DIGEST));
            let kind = if let Some(subject) = attestation_subject {
                EntryKind::Attestation {
                    subject: subject.clone(),
                    subject_platform: platforms
                        .iter()
                        .find(|(digest, _)| digest == subject)
                        .and_then(|(_, p)| p.clone()),
                }
            } else if let Some(platform) = descriptor_platform(descriptor) {
                EntryKind::Image { platform }
            } else {
                EntryKind::Unknown {
                    platform: descriptor.platform().as_ref().map_or("none".into(), |p| {
                        format!("{}/{}", p.os(), p.architecture())
                    }),
                }
            };
            Entry {
                digest: descriptor.digest().to_string(),
                media_type: descriptor.media_type().to_string(),
                size: descriptor.size(),
                kind,
            }
        })
        .collect()
}

/// The platforms an index holds images for, in order.
pub fn platforms(entries: &[Entry]) -> Vec<Platform> {
    entries
        .iter()
        .filter_map(Entry::platform)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn a_buildkit_index_names_its_attestations() {
        let Manifest::Index(index) = Manifest::parse(&fixture("buildkit-index.json")).unwrap()
        else {
            panic!("an index")
        };
        let labels: Vec<String> = entries(&index).iter().map(Entry::label).collect();
        assert_eq!(
            labels,
            [
                "linux/amd64",
                "linux/arm64",
                "attestation for linux/amd64",
                "attestation for linux/arm64"
            ]
        );
    }

    #[test]
    fn a_docker_manifest_list_without_attestations() {
        let manifest = Manifest::parse(&fixture("docker-manifest-list.json")).unwrap();
        assert_eq!(
            manifest.media_type(),
            "application/vnd.docker.distribution.manifest.list.v2+json"
        );
        let Manifest::Index(index) = manifest else {
            panic!("an index")
        };
        let found = platforms(&entries(&index));
        let names: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["linux/amd64", "linux/arm/v7", "linux/arm64"]);
    }

    #[test]
    fn a_single_image_manifest() {
        let manifest = Manifest::parse(&fixture("image-manifest.json")).unwrap();
        let Manifest::Image(image) = &manifest else {
            panic!("an image manifest")
        };
        assert_eq!(image.layers().len(), 1);
        assert_eq!(
            manifest.media_type(),
            "application/vnd.oci.image.manifest.v1+json"
        );
    }

    #[test]
    fn an_entry_with_no_platform_that_is_no_attestation_stays_unknown() {
        let Manifest::Index(index) = Manifest::parse(&fixture("index-no-platform.json")).unwrap()
        else {
            panic!("an index")
        };
        let found = entries(&index);
        assert_eq!(found[0].label(), "none");
        assert!(found[0].platform().is_none());
        assert_eq!(found[1].label(), "unknown/unknown");
    }

    #[rstest]
    #[case(b"not json".as_slice(), "not JSON: expected ident at line 1 column 2")]
    #[case(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#.as_slice(), "neither an image index nor an image manifest (media type `text/plain`)")]
    #[case(br#"{"schemaVersion":2}"#.as_slice(), "neither an image index nor an image manifest (media type `none`)")]
    #[case(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:00"}]}"#.as_slice(), "a malformed index: Invalid digest length 2 expected 64")]
    #[case(br#"{"schemaVersion":2,"manifests":"no"}"#.as_slice(), "a malformed index: invalid type: string \"no\", expected a sequence")]
    fn refuses_what_is_not_a_manifest(#[case] bytes: &[u8], #[case] message: &str) {
        assert_eq!(Manifest::parse(bytes).unwrap_err().to_string(), message);
    }

    #[test]
    fn short_digests() {
        assert_eq!(
            short("sha256:0123456789abcdef0123456789abcdef"),
            "sha256:0123456789ab"
        );
        assert_eq!(short("odd"), "odd");
    }
}
