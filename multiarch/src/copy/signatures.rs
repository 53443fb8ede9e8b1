//! What travels with an image besides its manifests, so that a copy keeps its proof of
//! origin: cosign's tags beside each digest (`sha256-<hex>.sig`, `.att`, `.sbom`), and its
//! referrers (OCI 1.1: the referrers API where the registry has one, else the referrers
//! tag `sha256-<hex>`, which cosign 3 writes to registries without the API). As
//! `buildx imagetools create` has kept them since 2025.

use oci_client::Reference;

use crate::error::{Error, Result};
use crate::oci::index::Manifest;
use crate::registry::RegistryError;
use crate::registry::{BlobCopied, Registry};

/// cosign's tag suffixes: signatures, attestations, SBOMs.
const COSIGN_SUFFIXES: &[&str] = &[".sig", ".att", ".sbom"];

/// The tag kept beside `digest` with `suffix` (`""`: the OCI 1.1 referrers tag):
/// `sha256:ab12…` becomes `sha256-ab12….sig`.
pub(crate) fn companion_tag(digest: &str, suffix: &str) -> Option<String> {
    let (algorithm, hex) = digest.split_once(':')?;
    Some(format!("{algorithm}-{hex}{suffix}"))
}

/// `reference`'s repository with another tag.
fn tagged(reference: &Reference, tag: String) -> Reference {
    Reference::with_tag(
        reference.registry().to_string(),
        reference.repository().to_string(),
        tag,
    )
}

/// What of a subject's companions was found: cosign tags copied, referrers copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Companions {
    /// cosign tags copied, as tags (`sha256-ab12….sig`).
    pub tags: Vec<String>,
    /// Referrers copied, by digest.
    pub referrers: Vec<String>,
}

impl Companions {
    /// Whether nothing was there.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.referrers.is_empty()
    }

    fn extend(&mut self, other: Self) {
        self.tags.extend(other.tags);
        self.referrers.extend(other.referrers);
    }
}

/// Whether `subject` (a digest in `source`'s repository) has companions, without copying.
///
/// # Errors
/// As [`Registry::fetch`].
pub(crate) async fn has_companions(
    registry: &Registry,
    source: &Reference,
    subject: &str,
) -> Result<bool> {
    for suffix in COSIGN_SUFFIXES {
        let Some(tag) = companion_tag(subject, suffix) else {
            continue;
        };
        match registry.fetch(&tagged(source, tag)).await {
            Ok(_) => return Ok(true),
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let by_digest = source.clone_with_digest(subject.to_string());
    Ok(!registry.referrers(&by_digest).await?.is_empty())
}

/// Copies the companions of every digest of `subjects` from `source`'s repository to
/// `target`'s, before the target tag moves: cosign's tags under the same tags, and each
/// referrer by digest; where the target has no referrers API, its referrers tag is
/// written too, so that cosign finds them there.
///
/// # Errors
/// As [`Registry::fetch`] and [`Registry::copy_image`].
pub(crate) async fn copy_companions(
    registry: &Registry,
    source: &Reference,
    target: &Reference,
    subjects: &[String],
    on_blob: &(dyn Fn(BlobCopied) + Sync),
) -> Result<Companions> {
    use futures_util::{StreamExt, TryStreamExt};
    // The repository's tags, read once, say which cosign tags exist; without them (a
    // registry that does not list tags) each is asked for.
    let listed: Option<std::collections::HashSet<String>> = registry
        .tags(source, 1000)
        .await
        .ok()
        .map(|tags| tags.into_iter().collect());
    let listed = listed.as_ref();
    // Several subjects at once: most have nothing, and each costs a round trip or two.
    let found: Vec<(Companions, Companions)> = futures_util::stream::iter(subjects)
        .map(|subject| async move {
            let tags = copy_cosign_tags(registry, source, target, subject, listed, on_blob).await?;
            let referrers = copy_referrers(registry, source, target, subject, on_blob).await?;
            Ok::<_, Error>((tags, referrers))
        })
        .buffered(16)
        .try_collect()
        .await?;
    let mut copied = Companions::default();
    for (tags, referrers) in found {
        copied.extend(tags);
        copied.extend(referrers);
    }
    Ok(copied)
}

async fn copy_cosign_tags(
    registry: &Registry,
    source: &Reference,
    target: &Reference,
    subject: &str,
    listed: Option<&std::collections::HashSet<String>>,
    on_blob: &(dyn Fn(BlobCopied) + Sync),
) -> Result<Companions> {
    let mut copied = Companions::default();
    for suffix in COSIGN_SUFFIXES {
        let Some(tag) = companion_tag(subject, suffix) else {
            continue;
        };
        if listed.is_some_and(|tags| !tags.contains(&tag)) {
            continue;
        }
        let fetched = match registry.fetch(&tagged(source, tag.clone())).await {
            Ok(fetched) => fetched,
            Err(RegistryError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        copy_manifest_and_children(registry, source, target, &fetched, on_blob).await?;
        registry
            .push_manifest(
                &tagged(target, tag.clone()),
                fetched.bytes.clone(),
                &fetched.manifest.media_type(),
            )
            .await?;
        copied.tags.push(tag);
    }
    Ok(copied)
}

/// A manifest with its blobs, or an index with every manifest it lists.
async fn copy_manifest_and_children(
    registry: &Registry,
    source: &Reference,
    target: &Reference,
    fetched: &crate::registry::Fetched,
    on_blob: &(dyn Fn(BlobCopied) + Sync),
) -> Result<()> {
    match &fetched.manifest {
        Manifest::Image(_) => {
            registry
                .copy_fetched(source, fetched, target, on_blob)
                .await?;
            Ok(())
        }
        Manifest::Index(index) => {
            for child in index.manifests() {
                registry
                    .copy_image(source, child.digest().as_ref(), target, on_blob)
                    .await?;
            }
            Ok(())
        }
    }
}

async fn copy_referrers(
    registry: &Registry,
    source: &Reference,
    target: &Reference,
    subject: &str,
    on_blob: &(dyn Fn(BlobCopied) + Sync),
) -> Result<Companions> {
    let found = registry
        .referrers(&source.clone_with_digest(subject.to_string()))
        .await?;
    let mut copied = Companions::default();
    for referrer in &found {
        let Some(digest) = referrer.get("digest").and_then(|d| d.as_str()) else {
            continue;
        };
        let fetched = registry
            .fetch(&source.clone_with_digest(digest.to_string()))
            .await?;
        copy_manifest_and_children(registry, source, target, &fetched, on_blob).await?;
        // By digest: a manifest whose `subject` is set is indexed by a registry with the
        // referrers API as it arrives.
        registry
            .push_manifest(
                &target.clone_with_digest(digest.to_string()),
                fetched.bytes.clone(),
                &fetched.manifest.media_type(),
            )
            .await?;
        copied.referrers.push(digest.to_string());
    }
    if found.is_empty() {
        return Ok(copied);
    }
    // A target without the API knows referrers only from its referrers tag: write it,
    // keeping what the target listed already.
    let subject_at_target = target.clone_with_digest(subject.to_string());
    let mut known = registry.referrers(&subject_at_target).await?;
    let missing: Vec<serde_json::Value> = found
        .iter()
        .filter(|r| !known.iter().any(|k| k.get("digest") == r.get("digest")))
        .cloned()
        .collect();
    if !missing.is_empty() {
        known.extend(missing);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": known,
        });
        let tag = companion_tag(subject, "").unwrap_or_default();
        registry
            .push_manifest(
                &tagged(target, tag),
                serde_json::to_vec(&index).expect("JSON serialises"),
                "application/vnd.oci.image.index.v1+json",
            )
            .await?;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companions_are_tagged_as_cosign_and_the_referrers_tag_schema_name_them() {
        let digest = "sha256:88d123d4da547834d5f2b86b05bfe3cd3ab8dda89de0c0d2bcfcd33d929d35d9";
        assert_eq!(
            companion_tag(digest, ".sig").unwrap(),
            "sha256-88d123d4da547834d5f2b86b05bfe3cd3ab8dda89de0c0d2bcfcd33d929d35d9.sig"
        );
        assert_eq!(
            companion_tag(digest, "").unwrap(),
            "sha256-88d123d4da547834d5f2b86b05bfe3cd3ab8dda89de0c0d2bcfcd33d929d35d9"
        );
        assert_eq!(companion_tag("not a digest", ".sig"), None);
    }
}
