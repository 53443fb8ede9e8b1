//! An OCI image layout in a tar archive, as `docker save` (`GET /images/NAME/get`) writes
//! it since Docker 25: `index.json` names the image, `blobs/sha256/<hex>` holds every
//! manifest, config and layer. A build node's result is read this way and pushed by
//! digest, so the tag moves only when every node is done.

use std::collections::HashMap;
use std::io::Read;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

/// The layout's index and blobs, by digest.
#[derive(Debug, Default)]
pub struct Layout {
    /// `index.json`.
    pub index: Option<ImageIndex>,
    /// `sha256:<hex>` → bytes.
    pub blobs: HashMap<String, Vec<u8>>,
}

/// Why an archive is not an image layout this kit can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Not a tar archive, or a damaged one.
    #[error("not a tar archive: {0}")]
    Tar(String),
    /// No `index.json` (an engine older than Docker 25 writes only `manifest.json`).
    #[error("it has no index.json (Docker 25 or newer writes one)")]
    NoIndex,
    /// A file that does not parse.
    #[error("`{0}` cannot be read: {1}")]
    Bad(String, String),
    /// A blob the index points to is not in the archive.
    #[error("the blob {0} is missing")]
    Missing(String),
}

/// One image manifest of the layout, ready to push: the manifest's descriptor (as the
/// layout's index lists it, with its platform and annotations), its bytes, and the blobs
/// it names (config first, then the layers).
#[derive(Debug, Clone)]
pub struct Image {
    /// Its descriptor.
    pub descriptor: Descriptor,
    /// The manifest's bytes, as they are (their digest is the descriptor's).
    pub manifest: Vec<u8>,
    /// The config and layer digests.
    pub blobs: Vec<String>,
}

impl Layout {
    /// Reads an archive.
    ///
    /// # Errors
    /// [`LayoutError`] for an archive that is not a layout.
    pub fn read(archive: &[u8]) -> Result<Self, LayoutError> {
        let tar_error = |e: std::io::Error| LayoutError::Tar(e.to_string());
        let mut layout = Self::default();
        let mut archive = tar::Archive::new(archive);
        for entry in archive.entries().map_err(tar_error)? {
            let mut entry = entry.map_err(tar_error)?;
            let path = entry
                .path()
                .map_err(tar_error)?
                .to_string_lossy()
                .into_owned();
            let path = path.trim_start_matches("./").to_string();
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(tar_error)?;
            if path == "index.json" {
                layout.index = Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| LayoutError::Bad(path.clone(), e.to_string()))?,
                );
            } else if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                layout.blobs.insert(format!("sha256:{hex}"), bytes);
            }
        }
        if layout.index.is_none() {
            return Err(LayoutError::NoIndex);
        }
        Ok(layout)
    }

    /// Every image manifest the layout holds, the index's own entries and those of the
    /// indexes it lists (a multi-platform image is one index entry pointing at an index),
    /// attestation manifests included.
    ///
    /// # Errors
    /// [`LayoutError`] for a missing or unreadable blob.
    pub fn images(&self) -> Result<Vec<Image>, LayoutError> {
        let mut images = Vec::new();
        let mut pending: Vec<Descriptor> = self
            .index
            .as_ref()
            .map(|i| i.manifests().iter().rev().cloned().collect())
            .unwrap_or_default();
        while let Some(descriptor) = pending.pop() {
            let digest = descriptor.digest().to_string();
            let bytes = self
                .blobs
                .get(&digest)
                .ok_or_else(|| LayoutError::Missing(digest.clone()))?;
            if is_index(descriptor.media_type()) {
                let index: ImageIndex = serde_json::from_slice(bytes)
                    .map_err(|e| LayoutError::Bad(digest.clone(), e.to_string()))?;
                pending.extend(index.manifests().iter().rev().cloned());
            } else {
                {
                    let manifest: ImageManifest = serde_json::from_slice(bytes)
                        .map_err(|e| LayoutError::Bad(digest.clone(), e.to_string()))?;
                    let blobs: Vec<String> = std::iter::once(manifest.config())
                        .chain(manifest.layers())
                        .map(|d| d.digest().to_string())
                        .collect();
                    if let Some(missing) = blobs.iter().find(|d| !self.blobs.contains_key(*d)) {
                        return Err(LayoutError::Missing(missing.clone()));
                    }
                    images.push(Image {
                        descriptor,
                        manifest: bytes.clone(),
                        blobs,
                    });
                }
            }
        }
        Ok(images)
    }
}

fn is_index(media_type: &MediaType) -> bool {
    match media_type {
        MediaType::ImageIndex => true,
        MediaType::Other(other) => {
            other == "application/vnd.docker.distribution.manifest.list.v2+json"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::sha256_digest;

    fn add(builder: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, bytes).unwrap();
    }

    fn blob(builder: &mut tar::Builder<Vec<u8>>, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        add(builder, &format!("blobs/sha256/{}", &digest[7..]), bytes);
        digest
    }

    /// A layout as `docker save` writes one for a two-platform image: index.json → an
    /// index → two manifests, each with a config and a layer.
    #[test]
    fn a_saved_multi_platform_image_lists_its_manifests() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let config = format!(r#"{{"architecture":"{arch}","os":"linux"}}"#);
            let config_digest = blob(&mut tar, config.as_bytes());
            let layer_digest = blob(&mut tar, arch.as_bytes());
            let manifest = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":5}}]}}"#,
                config.len()
            );
            let digest = blob(&mut tar, manifest.as_bytes());
            entries.push(format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
                manifest.len()
            ));
        }
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            entries.join(",")
        );
        let index_digest = blob(&mut tar, index.as_bytes());
        add(
            &mut tar,
            "index.json",
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index_digest}","size":{}}}]}}"#,
                index.len()
            )
            .as_bytes(),
        );
        let layout = Layout::read(&tar.into_inner().unwrap()).unwrap();
        let images = layout.images().unwrap();
        let platforms: Vec<String> = images
            .iter()
            .map(|i| {
                i.descriptor
                    .platform()
                    .as_ref()
                    .unwrap()
                    .architecture()
                    .to_string()
            })
            .collect();
        assert_eq!(platforms, ["amd64", "arm64"]);
        for image in &images {
            assert_eq!(
                sha256_digest(&image.manifest),
                image.descriptor.digest().to_string()
            );
            assert_eq!(image.blobs.len(), 2, "config and layer");
        }
    }

    #[test]
    fn an_archive_without_an_index_says_so() {
        let mut tar = tar::Builder::new(Vec::new());
        add(&mut tar, "manifest.json", b"[]");
        let error = Layout::read(&tar.into_inner().unwrap()).unwrap_err();
        assert_eq!(error, LayoutError::NoIndex);
    }
}
