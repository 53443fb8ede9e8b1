//! Named contexts (`--build-context build=dist`) for a BuildKit container, which cannot
//! see the engine's images: the folder goes to the local registry the build pushes to,
//! as a one-layer image with an entry for every platform being built (BuildKit resolves
//! a named context for each target platform), and is deleted from it after the build.
//! Only local registries take these: a workshop registry may hold a scratch repository
//! for the length of a build, a company's or Docker Hub should not.

use oci_client::Reference;
use oci_spec::image::{
    Arch, DescriptorBuilder, ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os,
    RootFsBuilder,
};

use multiarch_platform::Platform;

use crate::error::{Error, Result};
use crate::oci::assemble::{Member, assemble};
use crate::registry::{Registry, sha256_digest};

/// Where named contexts are pushed, below the target registry.
const REPOSITORY: &str = "multiarch-context";

/// One folder pushed as an image, to delete after the build.
#[derive(Debug)]
pub(crate) struct PushedContext {
    /// The image BuildKit reads, by tag.
    pub reference: Reference,
    /// Every manifest pushed for it (per platform, then the index), for the clean-up.
    manifests: Vec<String>,
}

/// Pushes `tar` (a folder packed by [`crate::build::context::pack_folder`]) to
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
    let reference = crate::registry::parse_reference(&format!(
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
        let digest = registry
            .push_manifest(
                &reference.clone_with_digest(sha256_digest(&manifest)),
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
    manifests.push(
        registry
            .push_manifest(&reference, index, &media_type)
            .await?,
    );
    Ok(PushedContext {
        reference,
        manifests,
    })
}

/// Deletes what [`push`] pushed (the blobs stay until the registry's garbage collection).
pub(crate) async fn remove(registry: &Registry, pushed: &PushedContext) {
    for digest in pushed.manifests.iter().rev() {
        if let Err(e) = registry.delete_manifest(&pushed.reference, digest).await {
            tracing::debug!(reference = %pushed.reference, %digest, error = %e, "context manifest not deleted");
        }
    }
}

fn parse_digest(reference: &Reference, digest: &str) -> Result<oci_spec::image::Digest> {
    digest.parse().map_err(|e| bad(reference, e))
}

fn bad(reference: &Reference, error: impl std::fmt::Display) -> Error {
    Error::BadAnswer {
        reference: reference.whole(),
        reason: format!("cannot describe the named context as an image: {error}"),
    }
}
