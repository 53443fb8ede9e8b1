//! What an image is, read straight from the registry: one row per entry of its index
//! (or the single image), attestations named for the image they describe, with each
//! image's layer count and compressed size. `inspect`, `build --push` and `demo` show it.

use futures_util::future::try_join_all;
use oci_client::Reference;
use serde::Serialize;

use crate::error::Result;
use crate::oci::index::{Entry, EntryKind, Manifest};
use crate::registry::Registry;

/// An image as `inspect` reports it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The reference, normalised (`docker.io/library/...`).
    pub name: String,
    /// The digest of the index (or manifest) the tag points at.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// One row per entry, in the index's order.
    pub manifests: Vec<Row>,
}

/// One entry of the index.
#[derive(Debug, Serialize)]
pub struct Row {
    /// `linux/arm64`, or `attestation for linux/arm64`.
    pub name: String,
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// Layers, for images.
    pub layers: Option<usize>,
    /// Compressed size of the layers, for images.
    pub layers_size: Option<u64>,
}

/// Reads an image's index (or manifest) and each platform's manifest.
///
/// # Errors
/// As [`Registry::fetch`].
pub async fn report(registry: &Registry, reference: &Reference) -> Result<Report> {
    let (fetched, listed) = registry.fetch_entries(reference).await?;
    let fetched_ref = &fetched;
    // Each image's manifest holds its layer count and size: fetch them together.
    let manifests = try_join_all(listed.iter().map(|entry| async move {
        if !matches!(entry.kind, EntryKind::Image { .. }) {
            return Ok(None);
        }
        if entry.digest == fetched_ref.digest {
            // The tag names this single image: its manifest is already here.
            if let Manifest::Image(image) = &fetched_ref.manifest {
                return Ok(Some(image.clone()));
            }
        }
        let by_digest = reference.clone_with_digest(entry.digest.clone());
        Ok::<_, crate::error::Error>(match registry.fetch(&by_digest).await?.manifest {
            Manifest::Image(image) => Some(image),
            Manifest::Index(_) => None,
        })
    }))
    .await?;
    Ok(Report {
        name: reference.whole(),
        media_type: fetched.manifest.media_type(),
        digest: fetched.digest,
        manifests: listed
            .into_iter()
            .zip(manifests)
            .map(|(entry, image)| Row {
                name: entry.label(),
                layers: image.as_ref().map(|i| i.layers().len()),
                layers_size: image
                    .as_ref()
                    .map(|i| i.layers().iter().map(|l| l.size()).sum()),
                entry,
            })
            .collect(),
    })
}
