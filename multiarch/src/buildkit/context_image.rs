//! Named contexts (`--build-context build=dist`) for a BuildKit container, which cannot
//! see the engine's images: the folder goes to the local registry the build pushes to,
//! as a one-layer image with an entry for every platform being built (BuildKit resolves
//! a named context for each target platform), and is deleted from it after the build.
//! Only local registries take these: a workshop registry may hold a scratch repository
//! for the length of a build, a company's or Docker Hub should not.

use std::sync::{LazyLock, Mutex};

use oci_client::Reference;
use oci_spec::image::{
    Arch, DescriptorBuilder, ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os,
    RootFsBuilder,
};

use multiarch_platform::Platform;

use super::error::BuildError;
use crate::error::{Error, Result};
use crate::oci::assemble::{Member, assemble};
use crate::registry::{Registry, sha256_digest};

/// Where named contexts are pushed, below the target registry.
const REPOSITORY: &str = "multiarch-context";

/// What this process pushed and has not deleted yet, for Ctrl-C's clean-up: each
/// manifest is recorded just before it is sent (the registry finishes a request it has
/// received even when this side stops listening), so a push cut short is found too.
static PUSHED: LazyLock<Mutex<Vec<(Registry, Reference, String)>>> = LazyLock::new(Mutex::default);

fn record(registry: &Registry, reference: &Reference, digest: &str) {
    PUSHED.lock().expect("not poisoned").push((
        registry.clone(),
        reference.clone(),
        digest.to_string(),
    ));
}

/// One folder pushed as an image, to delete after the build.
#[derive(Debug, Clone)]
pub(crate) struct PushedContext {
    /// The image BuildKit reads, by tag.
    pub reference: Reference,
    /// Every manifest pushed for it (per platform, then the index), for the clean-up.
    manifests: Vec<String>,
}

/// Pushes `tar` (a folder packed by [`crate::buildkit::context::pack_folder`]) to
/// `registry_host` as `multiarch-context/NAME:SESSION`, for every platform in `platforms`.
///
/// # Errors
/// As [`Registry::push_blob`] and [`Registry::push_manifest`].
pub(crate) async fn push(
    registry: &Registry,
    registry_host: &str,
    name: &str,
    tar: Vec<u8>,
    platforms: &[Platform],
    session: &str,
) -> Result<PushedContext> {
    let reference = crate::input::parse_reference(&format!(
        "{registry_host}/{REPOSITORY}/{}:{session}",
        name.to_lowercase()
    ))?;
    let layer_digest = sha256_digest(&tar);
    let layer_size = tar.len() as u64;
    registry.push_blob(&reference, tar).await?;
    let layer = DescriptorBuilder::default()
        .media_type(MediaType::ImageLayer)
        .digest(parse_digest(&reference, &layer_digest)?)
        .size(layer_size)
        .build()
        .map_err(|e| bad(&reference, e))?;
    let mut members = Vec::new();
    let mut manifests = Vec::new();
    for platform in platforms {
        let config = ImageConfigurationBuilder::default()
            .architecture(Arch::from(platform.architecture()))
            .os(Os::from(platform.os()))
            .variant(platform.variant().unwrap_or_default().to_string())
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(vec![layer_digest.clone()])
                    .build()
                    .map_err(|e| bad(&reference, e))?,
            )
            .build()
            .map_err(|e| bad(&reference, e))?;
        let config = serde_json::to_vec(&config).map_err(|e| bad(&reference, e))?;
        let config_descriptor = DescriptorBuilder::default()
            .media_type(MediaType::ImageConfig)
            .digest(parse_digest(&reference, &sha256_digest(&config))?)
            .size(config.len() as u64)
            .build()
            .map_err(|e| bad(&reference, e))?;
        registry.push_blob(&reference, config).await?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_descriptor)
            .layers(vec![layer.clone()])
            .build()
            .map_err(|e| bad(&reference, e))?;
        let manifest = serde_json::to_vec(&manifest).map_err(|e| bad(&reference, e))?;
        let size = manifest.len() as u64;
        let media_type = MediaType::ImageManifest.to_string();
        // Recorded before it is sent: a push cut short by Ctrl-C may still land.
        let digest = sha256_digest(&manifest);
        record(registry, &reference, &digest);
        registry
            .push_manifest(
                &reference.clone_with_digest(digest.clone()),
                manifest,
                &media_type,
            )
            .await?;
        manifests.push(digest.clone());
        members.push(Member {
            platform: platform.clone(),
            digest,
            size,
            media_type,
        });
    }
    let names = vec![name.to_string(); members.len()];
    let (index, media_type) = assemble(&members, &names).map_err(|e| bad(&reference, e))?;
    let index_digest = sha256_digest(&index);
    record(registry, &reference, &index_digest);
    registry
        .push_manifest(&reference, index, &media_type)
        .await?;
    manifests.push(index_digest);
    Ok(PushedContext {
        reference,
        manifests,
    })
}

/// Deletes what [`push`] pushed (the blobs stay until the registry's garbage collection).
pub(crate) async fn remove(registry: &Registry, pushed: &PushedContext) {
    for digest in pushed.manifests.iter().rev() {
        delete(registry, &pushed.reference, digest).await;
    }
}

/// Deletes every named context this process pushed and has not deleted (Ctrl-C).
/// Returns how many manifests it deleted.
pub(crate) async fn remove_leftovers() -> usize {
    let left = std::mem::take(&mut *PUSHED.lock().expect("not poisoned"));
    for (registry, reference, digest) in left.iter().rev() {
        delete(registry, reference, digest).await;
    }
    left.len()
}

async fn delete(registry: &Registry, reference: &Reference, digest: &str) {
    PUSHED
        .lock()
        .expect("not poisoned")
        .retain(|(_, r, d)| !(r == reference && d == digest));
    if let Err(e) = registry.delete_manifest(reference, digest).await {
        tracing::debug!(%reference, %digest, error = %e, "context manifest not deleted");
    }
}

fn parse_digest(reference: &Reference, digest: &str) -> Result<oci_spec::image::Digest> {
    digest.parse().map_err(|e| bad(reference, e))
}

/// The kit's own failure to describe the context as an image (a descriptor, a config or
/// a manifest that does not build or serialise): the build context's, not the registry's.
fn bad(reference: &Reference, error: impl std::fmt::Display) -> Error {
    Error::Build(BuildError::ContextImage {
        reference: reference.whole(),
        reason: error.to_string(),
    })
}
