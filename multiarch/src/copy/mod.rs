//! Copying a multi-platform image between repositories and registries, whole or some
//! platforms of it, never leaving a sparse index.
//!
//! Every manifest the index lists (images and their attestations) is copied with its
//! blobs before the index itself, and the index goes up under the target tag last: an
//! interrupted copy leaves the tag where it was, and running it again sends only what
//! did not arrive. Without a platform filter the index bytes are pushed as they are, so
//! its digest is the source's; with one, a new index lists the chosen platforms and
//! their attestations, and its digest is new. With `Selection::Single`, one platform's
//! image manifest goes up alone under the tag, no index (for AWS Lambda and other
//! consumers that take one manifest); its digest is that platform's in the source.

pub(crate) mod signatures;

pub use signatures::Companions;

use std::collections::HashSet;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::Reference;
use serde::Serialize;

use multiarch_platform::Platform;

use crate::error::{Error, Result};
use crate::oci::index::{Entry, EntryKind, Manifest, platforms};
use crate::registry::RegistryError;
use crate::registry::{BlobCopied, BlobMove, Registry};

/// How many manifests are copied at once.
const PARALLEL_MANIFESTS: usize = 4;

/// What a copy reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyEvent {
    /// The plan: how many manifests, and the bytes their blobs hold (some may be there).
    Planned {
        /// Image and attestation manifests to copy.
        manifests: usize,
        /// The size of every blob they name.
        bytes: u64,
    },
    /// One manifest starts: its digest, and the platform it is for (or the one its
    /// attestation describes).
    Manifest {
        /// `sha256:...`.
        digest: String,
        /// `linux/arm64`, `attestation for linux/arm64`.
        what: String,
    },
    /// One blob is there.
    Blob(BlobCopied),
    /// Every manifest is there; the index goes up under the tag.
    Tagging(String),
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// The source as given.
    pub source: String,
    /// The target as given.
    pub target: String,
    /// What the source tag points at.
    pub source_digest: String,
    /// What the target tag points at now.
    pub target_digest: String,
    /// The platforms the target lists.
    pub platforms: Vec<String>,
    /// Image and attestation manifests copied.
    pub manifests: usize,
    /// Blobs sent, mounted, and found already there.
    pub blobs_sent: usize,
    /// Blobs mounted from another repository of the same registry.
    pub blobs_mounted: usize,
    /// Blobs the target had already.
    pub blobs_present: usize,
    /// Bytes uploaded.
    pub bytes_sent: u64,
    /// cosign's tags and the referrers that came along (signatures, attestations).
    pub companions: Companions,
    /// A platform subset or a single image has a new digest: the source index's own
    /// signatures and referrers, which name the old one, cannot follow.
    pub index_companions_left: bool,
}

impl CopyReport {
    /// Whether the target's digest differs from the source's (a platform subset).
    pub fn digest_changed(&self) -> bool {
        self.source_digest != self.target_digest
    }

    fn count(&mut self, blob: &BlobCopied) {
        match blob.how {
            BlobMove::Sent => {
                self.blobs_sent += 1;
                self.bytes_sent += blob.size;
            }
            BlobMove::Mounted => self.blobs_mounted += 1,
            BlobMove::AlreadyThere => self.blobs_present += 1,
        }
    }
}

/// The entries of `listed` to copy: all of them, or the images of `wanted` (each of which
/// must be there) and the attestations about those images.
///
/// # Errors
/// [`Error::PlatformMissing`] for a wanted platform the source lacks.
pub fn select(
    reference: &Reference,
    listed: &[Entry],
    wanted: Option<&[Platform]>,
) -> Result<Vec<Entry>> {
    let Some(wanted) = wanted else {
        return Ok(listed.to_vec());
    };
    crate::input::require_platforms(reference, listed, wanted)?;
    let kept: HashSet<&str> = listed
        .iter()
        .filter(|e| e.platform().is_some_and(|p| wanted.contains(p)))
        .map(|e| e.digest.as_str())
        .collect();
    Ok(listed
        .iter()
        .filter(|e| match &e.kind {
            EntryKind::Image { .. } => kept.contains(e.digest.as_str()),
            EntryKind::Attestation { subject, .. } => kept.contains(subject.as_str()),
            EntryKind::Unknown { .. } => false,
        })
        .cloned()
        .collect())
}

/// The entries a copy takes under `selection`.
///
/// # Errors
/// [`Error::PlatformMissing`] for a wanted platform the source lacks.
fn choose(reference: &Reference, listed: &[Entry], selection: Selection<'_>) -> Result<Vec<Entry>> {
    Ok(match selection {
        Selection::All => select(reference, listed, None)?,
        Selection::Platforms(wanted) => select(reference, listed, Some(wanted))?,
        // The image alone: an attestation describes it inside an index, and there is none.
        Selection::Single(platform) => {
            select(reference, listed, Some(std::slice::from_ref(platform)))?
                .into_iter()
                .filter(|e| e.platform() == Some(platform))
                .collect()
        }
    })
}

/// The index with only the `kept` entries, every other field as it was.
///
/// # Errors
/// [`RegistryError::BadAnswer`] when the bytes are not a JSON index.
pub(crate) fn subset_index(reference: &Reference, bytes: &[u8], kept: &[Entry]) -> Result<Vec<u8>> {
    let bad = |reason: String| {
        Error::Registry(RegistryError::BadAnswer {
            reference: reference.whole(),
            reason,
        })
    };
    let mut index: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let digests: HashSet<&str> = kept.iter().map(|e| e.digest.as_str()).collect();
    let manifests = index
        .get_mut("manifests")
        .and_then(|m| m.as_array_mut())
        .ok_or_else(|| bad("the index has no manifests".into()))?;
    manifests.retain(|m| {
        m.get("digest")
            .and_then(|d| d.as_str())
            .is_some_and(|d| digests.contains(d))
    });
    Ok(serde_json::to_vec(&index).expect("JSON serialises"))
}

/// What a copy takes of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// The whole index, byte for byte.
    All,
    /// These platforms and their attestations, as a new index.
    Platforms(&'a [Platform]),
    /// This platform's image manifest alone, no index.
    Single(&'a Platform),
}

/// Copies `source` to `target` as `selection` says, the tag moved last.
///
/// # Errors
/// The source cannot be read, a platform is missing, or the target refuses something;
/// the target tag is then where it was.
pub async fn copy(
    registry: &Registry,
    source: &Reference,
    target: &Reference,
    selection: Selection<'_>,
    on_event: impl Fn(CopyEvent) + Sync,
) -> Result<CopyReport> {
    let (fetched, listed) = registry.fetch_entries(source).await?;
    let chosen = choose(source, &listed, selection)?;
    let mut report = CopyReport {
        source: source.whole(),
        target: target.whole(),
        source_digest: fetched.digest.clone(),
        ..CopyReport::default()
    };

    // Every chosen manifest, fetched once: the plan's size, then the copy.
    let manifests = futures_util::future::try_join_all(chosen.iter().map(|e| async move {
        registry
            .fetch(&source.clone_with_digest(e.digest.clone()))
            .await
    }))
    .await?;
    on_event(CopyEvent::Planned {
        manifests: chosen.len(),
        bytes: manifests
            .iter()
            .filter_map(|m| match &m.manifest {
                Manifest::Image(image) => Some(
                    std::iter::once(image.config())
                        .chain(image.layers())
                        .map(oci_spec::image::Descriptor::size)
                        .sum::<u64>(),
                ),
                Manifest::Index(_) => None,
            })
            .sum(),
    });

    // A few manifests at once, as skopeo and crane copy: a registry serves several
    // requests side by side, and most blobs of an index are small.
    let counted = std::sync::Mutex::new(std::mem::take(&mut report));
    let on_blob = |blob: BlobCopied| {
        counted.lock().expect("not poisoned").count(&blob);
        on_event(CopyEvent::Blob(blob));
    };
    futures_util::stream::iter(chosen.iter().zip(&manifests))
        .map(|(entry, fetched)| {
            on_event(CopyEvent::Manifest {
                digest: entry.digest.clone(),
                what: describe(entry),
            });
            registry.copy_fetched(source, fetched, target, &on_blob)
        })
        .buffer_unordered(PARALLEL_MANIFESTS)
        .try_collect::<Vec<()>>()
        .await?;

    // Signatures, attestations and referrers of what was copied, before the tag moves:
    // of the index too when its bytes (so its digest) are kept.
    let mut subjects: Vec<String> = Vec::new();
    if selection == Selection::All {
        subjects.push(fetched.digest.clone());
    }
    subjects.extend(
        chosen
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Image { .. }))
            .map(|e| e.digest.clone()),
    );
    let companions =
        signatures::copy_companions(registry, source, target, &subjects, &on_blob).await?;
    let index_companions_left = selection != Selection::All
        && matches!(fetched.manifest, Manifest::Index(_))
        && signatures::has_companions(registry, source, &fetched.digest).await?;
    report = counted.into_inner().expect("not poisoned");
    report.manifests = chosen.len();
    report.companions = companions;
    report.index_companions_left = index_companions_left;

    let (bytes, media_type) = match (&fetched.manifest, selection) {
        (_, Selection::Single(_)) => {
            let image = &manifests[0];
            (image.bytes.clone(), image.manifest.media_type())
        }
        (Manifest::Index(_), Selection::Platforms(_)) => (
            subset_index(source, &fetched.bytes, &chosen)?,
            fetched.manifest.media_type(),
        ),
        _ => (fetched.bytes.clone(), fetched.manifest.media_type()),
    };
    on_event(CopyEvent::Tagging(target.whole()));
    report.target_digest = registry.push_manifest(target, bytes, &media_type).await?;
    report.platforms = platforms(&chosen).iter().map(ToString::to_string).collect();
    Ok(report)
}

/// `linux/arm64`, or `attestation for linux/arm64`.
fn describe(entry: &Entry) -> String {
    match &entry.kind {
        EntryKind::Image { platform } => platform.to_string(),
        EntryKind::Attestation {
            subject_platform: Some(platform),
            ..
        } => format!("attestation for {platform}"),
        EntryKind::Attestation { subject, .. } => format!("attestation for {subject}"),
        EntryKind::Unknown { platform } => platform.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::index::entries;

    /// An index as BuildKit pushes one: two images, each with its attestation.
    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1,"platform":{"architecture":"amd64","os":"linux"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1,"platform":{"architecture":"arm64","os":"linux"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":1,"platform":{"architecture":"unknown","os":"unknown"},"annotations":{"vnd.docker.reference.digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","vnd.docker.reference.type":"attestation-manifest"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":1,"platform":{"architecture":"unknown","os":"unknown"},"annotations":{"vnd.docker.reference.digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","vnd.docker.reference.type":"attestation-manifest"}}
    ],"annotations":{"org.opencontainers.image.created":"2026-11-25"}}"#;

    fn listed() -> Vec<Entry> {
        let Manifest::Index(index) = Manifest::parse(INDEX.as_bytes()).unwrap() else {
            panic!("an index")
        };
        entries(&index)
    }

    #[test]
    fn a_subset_keeps_its_platforms_attestations_and_nothing_else() {
        let reference: Reference = "localhost:5000/app:1".parse().unwrap();
        let wanted = [Platform::linux_arm64()];
        let chosen = select(&reference, &listed(), Some(&wanted)).unwrap();
        let digests: Vec<char> = chosen
            .iter()
            .map(|e| e.digest.chars().nth(7).unwrap())
            .collect();
        assert_eq!(digests, ['b', 'd'], "arm64 and its attestation");
        let bytes = subset_index(&reference, INDEX.as_bytes(), &chosen).unwrap();
        let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(
            index["annotations"]["org.opencontainers.image.created"], "2026-11-25",
            "the index's own fields stay"
        );
    }

    /// Issue #26: `--single` takes the platform's image and nothing else.
    #[test]
    fn a_single_platform_is_its_image_alone() {
        let reference: Reference = "localhost:5000/app:1".parse().unwrap();
        let arm64 = Platform::linux_arm64();
        let chosen = choose(&reference, &listed(), Selection::Single(&arm64)).unwrap();
        let digests: Vec<char> = chosen
            .iter()
            .map(|e| e.digest.chars().nth(7).unwrap())
            .collect();
        assert_eq!(digests, ['b'], "the arm64 image, no attestation");
        let s390x: Platform = "linux/s390x".parse().unwrap();
        assert!(choose(&reference, &listed(), Selection::Single(&s390x)).is_err());
    }

    #[test]
    fn everything_is_copied_without_a_filter_and_a_missing_platform_is_refused() {
        let reference: Reference = "localhost:5000/app:1".parse().unwrap();
        assert_eq!(select(&reference, &listed(), None).unwrap().len(), 4);
        let error = select(
            &reference,
            &listed(),
            Some(&["linux/s390x".parse().unwrap()]),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("has no image for `linux/s390x`"),
            "{error}"
        );
    }
}
