//! Pulling one platform of an image through the engine, and proving the engine got
//! that platform.
//!
//! Engines fall back quietly: asked for `linux/arm64` of a single-platform amd64 image,
//! Docker pulls it and runs it under emulation with only a warning. Here the registry
//! is read first, so a platform the image lacks is refused before anything is pulled,
//! and afterwards the engine must hold that platform's own manifest, by digest, with
//! the architecture the index claims.

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use oci_client::Reference;

use multiarch_platform::Platform;

use crate::error::{Error, Result};
use crate::oci::index::platforms;
use crate::registry::Registry;

/// What the engine reported while pulling.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The layer id, when the event is about a layer.
    pub layer: Option<String>,
    /// `Downloading`, `Pull complete`, ...
    pub status: String,
    /// Bytes done and total, when known.
    pub current: Option<u64>,
    /// Total bytes of the layer.
    pub total: Option<u64>,
}

/// The platform's own manifest digest, from the registry.
///
/// # Errors
/// [`Error::PlatformMissing`] when the image has no such platform (for a
/// single-platform image: when its config names another one).
pub async fn platform_digest(
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
) -> Result<String> {
    let (_, listed) = registry.fetch_entries(reference).await?;
    let found = listed
        .iter()
        .find(|e| e.platform() == Some(platform))
        .map(|e| e.digest.clone());
    let available = platforms(&listed);
    found.ok_or_else(|| Error::PlatformMissing {
        reference: reference.whole(),
        platform: platform.clone(),
        available: if available.is_empty() {
            "no platform".into()
        } else {
            multiarch_platform::join_platforms(&available)
        },
    })
}

/// Pulls `reference` for `platform`, reporting progress, then checks that the engine
/// holds that platform's manifest (`digest`) with the right architecture.
///
/// # Errors
/// [`Error::Engine`] when the pull fails or the engine holds another platform.
pub async fn pull_platform(
    docker: &Docker,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    mut on_progress: impl FnMut(Progress),
) -> Result<()> {
    let image = reference.whole();
    let platform_text = platform.to_string();
    let options = CreateImageOptionsBuilder::new()
        .from_image(&image)
        .platform(&platform_text)
        .build();
    // With the credentials `docker login` stored, as `docker pull` would use them.
    let credentials = crate::registry::engine_credentials(reference);
    let mut stream = docker.create_image(Some(options), None, credentials);
    while let Some(event) = stream.next().await {
        let info = event.map_err(crate::error::refused(format!(
            "pull `{image}` for `{platform}`"
        )))?;
        let detail = info.progress_detail.unwrap_or_default();
        on_progress(Progress {
            layer: info.id,
            status: info.status.unwrap_or_default(),
            current: detail.current.and_then(|c| u64::try_from(c).ok()),
            total: detail.total.and_then(|t| u64::try_from(t).ok()),
        });
    }
    // The engine must now hold that platform for this tag: creating (not starting) a
    // container for it fails when only another platform's content is there.
    let options = bollard::query_parameters::CreateContainerOptionsBuilder::new()
        .platform(&platform_text)
        .build();
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.clone()),
        labels: Some(crate::engine::session_labels()),
        ..Default::default()
    };
    let probe = crate::engine::creating({
        let docker = docker.clone();
        async move { docker.create_container(Some(options), body).await }
    })
    .await
    .map_err(|e| Error::Engine {
        action: format!(
            "find `{platform}` of `{image}` after pulling it (the engine may have pulled another platform than {digest})"
        ),
        source: e.into(),
    })?;
    crate::engine::remove(docker, &probe.id).await;
    Ok(())
}
