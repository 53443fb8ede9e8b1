//! Building and pushing a multi-platform image through a builder.
//!
//! With the `docker` driver the engine's own BuildKit builds, through `docker buildx
//! build --builder default`, whose progress display is the one people know (steps per
//! platform, cache hits, durations; plain text when not on a terminal) and whose error
//! output is BuildKit's own message for the failing step. Before anything runs, the
//! registry is checked to be one the builder will speak plain HTTP to when it must.

use std::path::PathBuf;
use std::process::Stdio;

use bollard::Docker;

use multiarch_platform::Platform;

use crate::builder::{Builder, Driver};
use crate::buildkit_config::BuildkitConfig;
use crate::error::{Error, Result};
use crate::registry::is_local;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, if not `<context>/Dockerfile`.
    pub file: Option<PathBuf>,
    /// The tag to build, `localhost:5000/arch-server:latest`.
    pub tag: String,
    /// The platforms.
    pub platforms: Vec<Platform>,
    /// `KEY=VALUE` build arguments.
    pub build_args: Vec<String>,
    /// `NAME=DIR` named contexts.
    pub build_contexts: Vec<String>,
    /// Push the index when built.
    pub push: bool,
    /// Plain progress output even on a terminal.
    pub plain_progress: bool,
}

/// Checks that the builder will reach `registry` the way it answers (plain HTTP for
/// local and insecure registries).
///
/// # Errors
/// [`Error::RegistryNotHttp`] with the lines to add.
pub async fn check_registry(
    docker: &Docker,
    builder: &Builder,
    buildkit: &BuildkitConfig,
    registry: &str,
    answers_http: bool,
) -> Result<()> {
    if !answers_http {
        return Ok(());
    }
    match builder.driver {
        Driver::DockerContainer => {
            if buildkit.allows_http(registry) {
                return Ok(());
            }
            Err(Error::RegistryNotHttp {
                registry: registry.to_string(),
                driver: builder.driver.to_string(),
                fix: format!(
                    "add these lines to buildkitd.toml, then `multiarch builder rm {0} && multiarch builder create --driver docker-container`:\n{1}",
                    builder.name,
                    BuildkitConfig::lines_for(registry)
                ),
            })
        }
        Driver::Docker => {
            let config = docker.info().await.ok().and_then(|i| i.registry_config);
            if crate::doctor::engine_treats_as_insecure(config.as_ref(), registry) {
                return Ok(());
            }
            Err(Error::RegistryNotHttp {
                registry: registry.to_string(),
                driver: builder.driver.to_string(),
                fix: format!(
                    "add \"insecure-registries\": [\"{registry}\"] to /etc/docker/daemon.json and restart dockerd (the `docker` driver uses the engine's registry settings; buildkitd.toml configures `docker-container` builders)"
                ),
            })
        }
    }
}

/// Whether a registry answers plain HTTP at `/v2/`.
pub async fn answers_plain_http(registry: &str) -> bool {
    if is_local(registry) {
        return true;
    }
    let client = reqwest::Client::builder()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .no_proxy()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .expect("a plain client builds");
    client
        .get(format!("http://{registry}/v2/"))
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() == 200 || r.status().as_u16() == 401)
}

/// The `docker buildx build` arguments for a request on the engine's builder.
pub fn buildx_args(request: &BuildRequest) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "buildx".into(),
        "build".into(),
        "--builder".into(),
        "default".into(),
        "--platform".into(),
        request
            .platforms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        "--tag".into(),
        request.tag.clone(),
    ];
    if let Some(file) = &request.file {
        args.extend(["--file".into(), file.display().to_string()]);
    }
    for arg in &request.build_args {
        args.extend(["--build-arg".into(), arg.clone()]);
    }
    for context in &request.build_contexts {
        args.extend(["--build-context".into(), context.clone()]);
    }
    if request.push {
        args.push("--push".into());
    }
    if request.plain_progress {
        args.extend(["--progress".into(), "plain".into()]);
    }
    args.push(request.context.display().to_string());
    args
}

/// Runs the build; BuildKit's progress and errors go straight to stderr.
///
/// # Errors
/// [`Error::BuildFailed`] when the build fails; [`Error::Engine`] when buildx is missing.
pub async fn run(builder: &Builder, request: &BuildRequest) -> Result<()> {
    if builder.driver == Driver::DockerContainer {
        return Err(Error::Engine {
            action: format!("build with the `{}` builder", builder.name),
            reason: "builds through a docker-container builder are not implemented yet; use a `--driver docker` builder".into(),
        });
    }
    let status = tokio::process::Command::new("docker")
        .args(buildx_args(request))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| Error::Engine {
            action: "run `docker buildx build`".into(),
            reason: format!("{e} (is the docker CLI with the buildx plugin installed?)"),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::BuildFailed {
            image: request.tag.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_gets_every_option() {
        let request = BuildRequest {
            context: ".".into(),
            file: Some("Dockerfile".into()),
            tag: "localhost:5000/a:1".into(),
            platforms: vec![Platform::linux_amd64(), Platform::linux_arm64()],
            build_args: vec!["VERSION=1".into()],
            build_contexts: vec!["build=dist".into()],
            push: true,
            plain_progress: true,
        };
        assert_eq!(
            buildx_args(&request).join(" "),
            "buildx build --builder default --platform linux/amd64,linux/arm64 --tag localhost:5000/a:1 --file Dockerfile --build-arg VERSION=1 --build-context build=dist --push --progress plain ."
        );
    }
}
