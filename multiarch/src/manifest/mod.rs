//! Indexes made and changed in a registry without rebuilding: `manifest create` from
//! images already pushed, `add` and `rm` of platforms, `annotate`. Every image keeps its
//! attestation manifests; what an index lists is copied into its repository before the
//! index is pushed, so no index is ever sparse.
//!
//! A release's last step has rooms of its own: [`merge`] takes the per-platform digests a
//! release's jobs pushed and refuses a set that is not one digest per platform of the
//! release's own repository; [`tags`] writes every tag of the release from one index, and
//! puts back what it moved when a write fails. [`referrers`] moves an index's attestation
//! manifests out to referrers of the images they are about.

pub mod error;
pub mod merge;
pub mod referrers;
pub mod tags;

use oci_client::Reference;
use oci_spec::image::Descriptor;

use multiarch_platform::Platform;

use crate::error::{Error, Result};
use crate::oci::edit::{AnnotationTarget, EditError, IndexEdit};
use crate::oci::index::{EntryKind, Manifest, config_platform, entries};
use crate::registry::Registry;
use crate::registry::RegistryError;

/// One image a source offers, with the attestations about it, as index descriptors.
#[derive(Debug, Clone)]
pub struct Picked {
    /// Where it is.
    pub source: Reference,
    /// Its platform.
    pub platform: Platform,
    /// Its descriptor.
    pub image: serde_json::Value,
    /// Its attestations' descriptors.
    pub attestations: Vec<serde_json::Value>,
}

impl Picked {
    fn digests(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(&self.image)
            .chain(&self.attestations)
            .filter_map(|d| d.get("digest").and_then(|d| d.as_str()).map(String::from))
    }
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Edited {
    /// The tag's digest before.
    pub before: String,
    /// The tag's digest now.
    pub after: String,
    /// Platforms whose image was replaced by an added one.
    pub replaced: Vec<Platform>,
}

fn edit_error(reference: &Reference) -> impl Fn(EditError) -> Error + '_ {
    move |source| match source {
        // The registry's bytes, not the request, are at fault.
        EditError::NotIndex(reason) => Error::Registry(RegistryError::BadAnswer {
            reference: reference.whole(),
            reason: format!("not an index: {reason}"),
        }),
        source => Error::BadEdit {
            reference: reference.whole(),
            source: Box::new(source),
        },
    }
}

/// The images `source` offers: a single image (its platform from its config), or every
/// image of an index with its attestations.
///
/// # Errors
/// As [`Registry::fetch`]; [`RegistryError::BadAnswer`] for an image whose config names no
/// platform.
pub(crate) async fn pick(registry: &Registry, source: &Reference) -> Result<Vec<Picked>> {
    let fetched = registry.fetch(source).await?;
    match &fetched.manifest {
        Manifest::Image(_) => {
            let image = registry.fetch_image(source, &fetched.digest).await?;
            let platform = config_platform(&image.config).map_err(|e| {
                Error::Registry(RegistryError::BadAnswer {
                    reference: source.whole(),
                    reason: format!("its config names no valid platform: {e}"),
                })
            })?;
            let mut descriptor = serde_json::json!({
                "mediaType": fetched.manifest.media_type(),
                "digest": fetched.digest,
                "size": fetched.bytes.len(),
                "platform": { "os": platform.os(), "architecture": platform.architecture() },
            });
            if let Some(variant) = platform.variant() {
                descriptor["platform"]["variant"] = variant.into();
            }
            Ok(vec![Picked {
                source: source.clone(),
                platform,
                image: descriptor,
                attestations: Vec::new(),
            }])
        }
        Manifest::Index(index) => {
            let raw: serde_json::Value = serde_json::from_slice(&fetched.bytes).map_err(|e| {
                Error::Registry(RegistryError::BadAnswer {
                    reference: source.whole(),
                    reason: e.to_string(),
                })
            })?;
            let descriptor = |digest: &str| {
                raw["manifests"]
                    .as_array()
                    .and_then(|list| list.iter().find(|d| d["digest"] == digest))
                    .cloned()
                    .unwrap_or_default()
            };
            let listed = entries(index);
            Ok(listed
                .iter()
                .filter_map(|e| match &e.kind {
                    EntryKind::Image { platform } => Some(Picked {
                        source: source.clone(),
                        platform: platform.clone(),
                        image: descriptor(&e.digest),
                        attestations: listed
                            .iter()
                            .filter(|a| matches!(&a.kind, EntryKind::Attestation { subject, .. } if subject == &e.digest))
                            .map(|a| descriptor(&a.digest))
                            .collect(),
                    }),
                    _ => None,
                })
                .collect())
        }
    }
}

/// Copies what `picked` lists into `target`'s repository (blobs there already are not
/// sent again; same-registry blobs are mounted).
///
/// # Errors
/// As [`Registry::copy_image`].
pub(crate) async fn bring(registry: &Registry, picked: &Picked, target: &Reference) -> Result<()> {
    for digest in picked.digests() {
        registry
            .copy_image(&picked.source, &digest, target, &|_| {})
            .await?;
    }
    Ok(())
}

/// An index of every image of `sources` (and their attestations), pushed under `target`.
///
/// # Errors
/// Two sources with one platform, or what [`pick`] and [`bring`] return.
pub async fn create(
    registry: &Registry,
    sources: &[Reference],
    target: &Reference,
) -> Result<(String, Vec<Platform>)> {
    let picked = pick_all(registry, sources).await?;
    let (bytes, media_type) = index_of(&picked, target)?;
    for offer in &picked {
        bring(registry, offer, target).await?;
    }
    let digest = registry.push_manifest(target, bytes, &media_type).await?;
    Ok((digest, picked.into_iter().map(|p| p.platform).collect()))
}

/// Every image `sources` offer, one per platform.
///
/// # Errors
/// Two sources with one platform, or what [`pick`] returns.
pub async fn pick_all(registry: &Registry, sources: &[Reference]) -> Result<Vec<Picked>> {
    let mut picked: Vec<Picked> = Vec::new();
    for source in sources {
        for offer in pick(registry, source).await? {
            if let Some(first) = picked.iter().find(|p| p.platform == offer.platform) {
                return Err(Error::PlatformTwice {
                    platform: Box::new(offer.platform),
                    first: first.source.whole(),
                    second: offer.source.whole(),
                });
            }
            picked.push(offer);
        }
    }
    Ok(picked)
}

/// The index listing `picked`'s images, then their attestations (as BuildKit lists them):
/// its bytes and media type, refused as a whole before anything is copied.
///
/// # Errors
/// [`Error::Assemble`], or a descriptor that cannot be listed.
pub fn index_of(picked: &[Picked], target: &Reference) -> Result<(Vec<u8>, String)> {
    let mut descriptors = Vec::new();
    for (offer, value) in picked.iter().map(|p| (p, &p.image)).chain(
        picked
            .iter()
            .flat_map(|p| p.attestations.iter().map(move |a| (p, a))),
    ) {
        descriptors.push(
            serde_json::from_value::<Descriptor>(value.clone()).map_err(|e| {
                Error::Registry(RegistryError::BadAnswer {
                    reference: offer.source.whole(),
                    reason: format!("a descriptor that cannot be listed: {e}"),
                })
            })?,
        );
    }
    crate::oci::assemble::index_of(descriptors).map_err(|source| Error::Assemble {
        reference: target.whole(),
        source: Box::new(source),
    })
}

/// The index under `target` to edit, and its digest (an image alone becomes an index
/// of one, so that platforms can be added to it).
async fn open(registry: &Registry, target: &Reference) -> Result<(IndexEdit, String)> {
    let fetched = registry.fetch(target).await?;
    let edit = match fetched.manifest {
        Manifest::Index(_) => IndexEdit::parse(&fetched.bytes).map_err(edit_error(target))?,
        Manifest::Image(_) => {
            let only = pick(registry, target).await?;
            IndexEdit::with(only.into_iter().map(|p| p.image).collect())
        }
    };
    Ok((edit, fetched.digest))
}

async fn push(registry: &Registry, target: &Reference, edit: &IndexEdit) -> Result<String> {
    registry
        .push_manifest(target, edit.bytes(), &edit.media_type())
        .await
        .map_err(Into::into)
}

/// Adds every image of `sources` (with its attestations) to the index under `target`; an
/// image of a platform the index has replaces it.
///
/// # Errors
/// As [`pick`] and [`bring`]; two sources with one platform.
pub async fn add(registry: &Registry, target: &Reference, sources: &[Reference]) -> Result<Edited> {
    let (mut edit, before) = open(registry, target).await?;
    let mut replaced = Vec::new();
    let mut offers = Vec::new();
    for source in sources {
        for offer in pick(registry, source).await? {
            if let Some(first) = offers
                .iter()
                .find(|o: &&Picked| o.platform == offer.platform)
            {
                return Err(Error::PlatformTwice {
                    platform: Box::new(offer.platform),
                    first: first.source.whole(),
                    second: offer.source.whole(),
                });
            }
            offers.push(offer);
        }
    }
    for offer in &offers {
        bring(registry, offer, target).await?;
        if edit.add(
            &offer.platform,
            offer.image.clone(),
            offer.attestations.clone(),
        ) {
            replaced.push(offer.platform.clone());
        }
    }
    let after = push(registry, target, &edit).await?;
    Ok(Edited {
        before,
        after,
        replaced,
    })
}

/// Removes `platforms` (each with its attestations) from the index under `target`.
///
/// # Errors
/// A platform the index lacks, or the last one.
pub async fn remove(
    registry: &Registry,
    target: &Reference,
    platforms: &[Platform],
) -> Result<Edited> {
    let (mut edit, before) = open(registry, target).await?;
    for platform in platforms {
        edit.remove(platform).map_err(edit_error(target))?;
    }
    let after = push(registry, target, &edit).await?;
    Ok(Edited {
        before,
        after,
        replaced: Vec::new(),
    })
}

/// Sets annotations on the index under `target` or on its descriptors.
///
/// # Errors
/// A descriptor target naming a platform the index lacks.
pub async fn annotate(
    registry: &Registry,
    target: &Reference,
    annotations: &[(AnnotationTarget, String, String)],
) -> Result<Edited> {
    let (mut edit, before) = open(registry, target).await?;
    for (on, key, value) in annotations {
        edit.annotate(on, key, value).map_err(edit_error(target))?;
    }
    let after = push(registry, target, &edit).await?;
    Ok(Edited {
        before,
        after,
        replaced: Vec::new(),
    })
}
