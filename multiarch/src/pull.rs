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

use crate::engine::EngineError;
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
/// [`EngineError::Refused`] when the pull fails or the engine holds another platform.
pub async fn pull_platform(
    docker: &Docker,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    mut on_progress: impl FnMut(Progress),
) -> Result<()> {
    let image = reference.whole();
    let platform_text = platform.to_string();
    // The engine's resolver does not retry a busy registry; the kit does, as it does its
    // own requests (a pull already done in part goes on where it was).
    let on_progress = std::sync::Mutex::new(&mut on_progress);
    let report = |progress: Progress| {
        let mut on_progress = on_progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (*on_progress)(progress);
    };
    let on_retry = |retrying: &crate::retry::Retrying| {
        report(Progress {
            layer: None,
            status: format!(
                "retrying in {:.1} s (try {} of {}): {}",
                retrying.wait.as_secs_f64(),
                retrying.attempt,
                retrying.tries,
                retrying.reason
            ),
            current: None,
            total: None,
        });
    };
    crate::retry::retrying(
        &crate::retry::RetryPolicy::from_env(),
        Some(&on_retry),
        |error| engine_pull_transient(error).map(|reason| (reason, None)),
        || format!("the pull of `{image}` for `{platform}`"),
        || pull_once(docker, reference, &image, &platform_text, &report),
    )
    .await?;
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
    .map_err(|e| Error::Engine(EngineError::Refused {
        action: format!(
            "find `{platform}` of `{image}` after pulling it (the engine may have pulled another platform than {digest})"
        ),
        source: e.into(),
    }))?;
    crate::engine::remove(docker, &probe.id).await;
    Ok(())
}

/// One pull by the engine, its progress reported.
///
/// # Errors
/// [`EngineError::Refused`] with the engine's answer.
async fn pull_once(
    docker: &Docker,
    reference: &Reference,
    image: &str,
    platform_text: &str,
    report: &impl Fn(Progress),
) -> Result<()> {
    let options = CreateImageOptionsBuilder::new()
        .from_image(image)
        .platform(platform_text)
        .build();
    // With the credentials `docker login` stored, as `docker pull` would use them.
    let credentials = crate::registry::engine_credentials(reference);
    let mut stream = docker.create_image(Some(options), None, credentials);
    while let Some(event) = stream.next().await {
        let info = event.map_err(crate::engine::refused(format!(
            "pull `{image}` for `{platform_text}`"
        )))?;
        let detail = info.progress_detail.unwrap_or_default();
        report(Progress {
            layer: info.id,
            status: info.status.unwrap_or_default(),
            current: detail.current.and_then(|c| u64::try_from(c).ok()),
            total: detail.total.and_then(|t| u64::try_from(t).ok()),
        });
    }
    Ok(())
}

/// What the engine's failed pull says of the registry, when it is worth another try: a
/// busy or restarting registry's status (containerd words it `503 Service Unavailable`)
/// or a connection cut.
fn engine_pull_transient(error: &Error) -> Option<String> {
    let Error::Engine(EngineError::Refused { source, .. }) = error else {
        return None;
    };
    let message = crate::cause::root_cause(source.as_ref());
    const TRANSIENT: &[&str] = &[
        "408 Request Timeout",
        "429 Too Many Requests",
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
        "connection reset by peer",
        "unexpected EOF",
    ];
    TRANSIENT
        .iter()
        .find(|t| message.contains(*t))
        .map(|t| (*t).to_string())
}
