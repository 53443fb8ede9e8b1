//! The `docker` driver: the engine's own BuildKit. It builds multi-platform images only
//! with the containerd image store on, and the engine's registry settings decide plain
//! HTTP; the builder is kept in the kit's record (buildx's `docker` driver is a Docker
//! context, not an entry of its store).

use std::path::{Path, PathBuf};

use bollard::Docker;

use crate::buildkit::BuildError;
use crate::buildkit::builder::{Builder, Builders, Created, Status};
use crate::buildkit::driver::Answer;
use crate::error::{Error, Result};

/// The engine, ready to build `platforms` platforms.
///
/// # Errors
/// [`BuildError::NoMultiPlatform`] for more than one platform without the containerd
/// image store, or the engine does not answer.
pub(crate) async fn boot(platforms: usize) -> Result<Docker> {
    let docker = crate::engine::connect().await?;
    if platforms > 1 && !crate::engine::containerd_store(&docker).await {
        return Err(Error::Build(BuildError::NoMultiPlatform));
    }
    Ok(docker)
}

/// Its status: the engine's version and the platforms it builds.
pub(crate) async fn info(docker: Option<&Docker>) -> Answer {
    let Some(docker) = docker else {
        return Answer::silent(Status::Unreachable("the engine does not answer".into()));
    };
    let answer = Answer::running(version(docker).await, platforms(docker).await);
    if crate::engine::containerd_store(docker).await {
        answer
    } else {
        Answer {
            status: Status::SinglePlatformOnly,
            ..answer
        }
    }
}

/// `engine 28.5.2`, or `-` when the engine does not say.
pub(crate) async fn version(docker: &Docker) -> String {
    docker
        .version()
        .await
        .ok()
        .and_then(|v| v.version)
        .map_or("-".into(), |v| format!("engine {v}"))
}

/// The platforms a builder on this engine can build: the engine's own and those its
/// kernel runs beside it (386 on x86-64), plus every platform QEMU is registered for.
pub async fn platforms(docker: &Docker) -> Vec<String> {
    let engine = crate::engine::engine_platform(docker).await;
    let mut list: Vec<String> = engine.iter().map(ToString::to_string).collect();
    if let Some(engine) = &engine {
        let beside = crate::engine::host::runs_natively_beside(engine.architecture());
        list.extend(beside.iter().map(ToString::to_string));
    }
    for (platform, usable) in crate::engine::host::emulators(Path::new("/proc/sys/fs/binfmt_misc"))
    {
        if usable && !list.iter().any(|p| p == platform) {
            list.push(platform.to_string());
        }
    }
    list
}

/// Creates an engine builder, or finds it already there.
///
/// # Errors
/// [`Error::Build(BuildError::BuilderConflict)`] when the name is taken by another kind,
/// [`Error::Build(BuildError::NoMultiPlatform)`] when the engine cannot build multi-platform images.
pub(crate) async fn create(
    docker: &Docker,
    builders: &Builders,
    name: &str,
    config: Option<PathBuf>,
) -> Result<Created> {
    match builders.find(name)? {
        Some(Builder::Engine { .. }) => return Ok(Created::Existing),
        Some(other) => {
            return Err(Error::Build(BuildError::BuilderConflict {
                name: name.to_string(),
                driver: other.driver_name(),
            }));
        }
        None => {}
    }
    if !crate::engine::containerd_store(docker).await {
        return Err(Error::Build(BuildError::NoMultiPlatform));
    }
    builders.remember(&Builder::Engine {
        name: name.to_string(),
        config,
    })?;
    Ok(Created::New)
}
