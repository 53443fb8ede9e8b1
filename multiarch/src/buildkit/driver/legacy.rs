//! The docker-container builders of the kit's record before it wrote buildx's store, with
//! a BuildKit port open on loopback: listed, removed, and refused for building with the
//! fix.

use bollard::Docker;

use crate::buildkit::BuildError;
use crate::buildkit::builder::Status;
use crate::buildkit::driver::Answer;
use crate::error::{Error, Result};

/// Why it is not built on, and how to make it again.
pub(crate) fn unusable(name: &str) -> Error {
    Error::Build(BuildError::BuilderUnusable {
        name: name.to_string(),
        driver: "docker-container".into(),
        reason: "it was made by an earlier multiarch, with a BuildKit port open on loopback, and buildx does not know it".into(),
        fix: format!("make it again as a buildx builder: `multiarch builder rm {name} && multiarch builder create --name {name} --driver docker-container`"),
    })
}

/// As `ls` shows it.
pub(crate) fn info(name: &str) -> Answer {
    Answer::silent(Status::Unusable(format!(
        "made by an earlier multiarch: `multiarch builder rm {name}`, then create it again"
    )))
}

/// Removes its container and, unless `keep_state`, its state volume (the names that
/// version gave them).
///
/// # Errors
/// The engine refuses to remove the volume.
pub(crate) async fn remove(docker: Option<&Docker>, name: &str, keep_state: bool) -> Result<()> {
    if let Some(docker) = docker {
        let container = format!("multiarch-buildkit-{name}");
        crate::engine::remove(docker, &container).await;
        if !keep_state {
            crate::engine::remove_volume(docker, &format!("{container}-state")).await?;
        }
    }
    Ok(())
}
