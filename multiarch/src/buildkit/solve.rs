//! One solve on one BuildKit, followed: the frontend's options for a request, and
//! BuildKit's status stream read while bollard runs the solve, told as buildx's plain
//! progress ([`crate::buildkit::progress`]) through [`BuildEvent`]s.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bollard::grpc::build::{ImageBuildFrontendOptions, ImageBuildPlatform, NamedContext};
use bollard_buildkit_proto::moby::buildkit::v1::CacheOptionsEntry;
use futures_util::StreamExt;

use multiarch_platform::Platform;

use crate::buildkit::control;
use crate::buildkit::flags::CacheSpec;
use crate::buildkit::named_contexts::NamedContexts;
use crate::buildkit::progress::Progress;
use crate::buildkit::request::BuildRequest;

/// What a build reports while it runs.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// A line of BuildKit's progress, as `buildx --progress plain` prints it.
    Progress(String),
    /// The engine starts pushing the built image to its registry.
    Pushing(String),
    /// Where the build's time went, once it is built.
    Profile(crate::buildkit::profile::Profile),
}

/// BuildKit's words for a failed solve: the failing step's, else the solve's own.
pub(crate) fn failure_reason(
    progress: &Progress,
    error: &bollard::grpc::error::GrpcError,
) -> String {
    progress
        .failure()
        .map_or_else(|| grpc_message(error), String::from)
}

/// The frontend's options for `platforms` of `request`: the Dockerfile, build arguments,
/// target, labels, caches and named contexts.
pub(crate) fn frontend_options(
    request: &BuildRequest,
    platforms: &[Platform],
    dockerfile: &str,
    named: &NamedContexts,
    on_daemon: bool,
) -> ImageBuildFrontendOptions {
    let mut options = ImageBuildFrontendOptions::builder().dockerfile(Path::new(dockerfile));
    for platform in platforms {
        options = options.platforms(&ImageBuildPlatform {
            os: platform.os().to_string(),
            architecture: platform.architecture().to_string(),
            variant: platform.variant().map(String::from),
        });
    }
    for arg in &request.build_args {
        options = options.buildarg(&arg.key, &arg.value);
    }
    if on_daemon {
        for (key, value) in request.flags.attestation_args() {
            options = options.buildarg(&key, &value);
        }
    }
    if let Some(target) = &request.target {
        options = options.target(target);
    }
    options = options.nocache(request.no_cache);
    for label in &request.labels {
        options = options.label(&label.key, &label.value);
    }
    for spec in &request.flags.cache_from {
        options = options.cachefrom(&cache_entry(spec));
    }
    for spec in &request.flags.cache_to {
        options = options.cacheto(&cache_entry(spec));
    }
    for (name, image) in &named.images {
        options = options.named_context(
            name,
            NamedContext {
                path: format!("docker-image://{image}"),
            },
        );
    }
    options.build()
}

/// Runs `solve` while following build `build_ref`'s status on `channel` (none: no live
/// progress), handing each progress line to `on_line`; returns the solve's result and
/// what the progress saw (the failing step, if any).
pub(crate) async fn solve_following<T>(
    channel: Option<tonic::transport::Channel>,
    build_ref: &str,
    solve: impl Future<Output = T>,
    on_line: impl Fn(String),
) -> (T, Progress) {
    let progress = Mutex::new(Progress::default());
    let follow = async {
        let Some(channel) = channel else { return };
        let Ok(stream) = control::status(channel, build_ref).await else {
            return;
        };
        futures_util::pin_mut!(stream);
        while let Some(Ok(status)) = stream.next().await {
            let lines = progress.lock().expect("not poisoned").lines(&status);
            for line in lines {
                on_line(line);
            }
        }
    };
    // The status stream ends with the build; should it not, it gets two seconds more.
    let done = tokio::sync::Notify::new();
    let solved = async {
        let result = solve.await;
        done.notify_one();
        result
    };
    let followed = async {
        futures_util::pin_mut!(follow);
        tokio::select! {
            () = &mut follow => {}
            () = done.notified() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), follow).await;
            }
        }
    };
    let (solved, ()) = tokio::join!(solved, followed);
    (solved, progress.into_inner().expect("not poisoned"))
}

fn cache_entry(spec: &CacheSpec) -> CacheOptionsEntry {
    CacheOptionsEntry {
        r#type: spec.kind.clone(),
        attrs: spec
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// BuildKit's own words from a failed solve, without the gRPC wrapping.
pub(crate) fn grpc_message(error: &bollard::grpc::error::GrpcError) -> String {
    use bollard::grpc::error::GrpcError;
    match error {
        GrpcError::TonicStatus { err } => err.message().to_string(),
        other => other.to_string(),
    }
}
