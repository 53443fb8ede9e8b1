//! A buildx docker-container builder's container, run as buildx runs it
//! (`driver/docker-container/driver.go`), so that buildx and the kit can each start,
//! use, recreate and remove the other's:
//!
//! - named `buildx_buildkit_<node>`, its state on the volume `<container>_state` at
//!   `/var/lib/buildkit`; privileged, with an init, restarted unless stopped, on the
//!   network the entry names (`host` for the kit's, so a registry on localhost is reached);
//! - created stopped, `buildkitd.toml` copied into `/etc/buildkit/` from the entry, then
//!   started with `--config /etc/buildkit/buildkitd.toml` and the entry's flags;
//! - reached only through the engine (`buildctl dial-stdio` in an exec,
//!   [`crate::buildkit::dial`]): BuildKit opens no port.
//!
//! New builders run the pinned BuildKit image, or the stand-in built from Debian's
//! sources where nothing can be pulled ([`default_image`]).
//!
//! Labels mark what the kit created, but nothing relies on them: a container buildx
//! recreated has none.

use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, RestartPolicy, RestartPolicyNameEnum,
};

use crate::buildkit::BuildError;
use crate::buildkit::builder::{
    Builder, Builders, ContainerBuilder, Created, DEFAULT_BUILDKIT_IMAGE, STAND_IN_BUILDKIT_IMAGE,
    Status,
};
use crate::buildkit::buildkit_config::{BuildkitConfig, BuildkitConfigError};
use crate::buildkit::control::{self, DaemonInfo};
use crate::buildkit::dial::Dialer;
use crate::buildkit::driver::Answer;
use crate::engine::endpoint::EngineEndpoint;
use crate::engine::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::error::{Error, Result};

/// The label naming the builder on the containers and volumes the kit creates.
pub(crate) const BUILDER_LABEL: &str = "io.github.multiarch.builder";
/// The invocation that created a builder's container: Ctrl-C of that invocation removes
/// it (a create or a boot cut short); it is not [`crate::engine::SESSION_LABEL`], whose
/// containers are a run's passing ones, because a builder outlives its run.
pub const CREATED_BY_LABEL: &str = "io.github.multiarch.builder-created-by";
/// Where BuildKit keeps its state (and cache) inside the container.
pub(crate) const STATE_IN_CONTAINER: &str = "/var/lib/buildkit";
/// Where BuildKit reads its configuration inside the container.
pub(crate) const CONFIG_IN_CONTAINER: &str = "/etc/buildkit/buildkitd.toml";

/// The engine the builder's container runs on.
///
/// # Errors
/// [`EngineError::BadEndpoint`] or [`EngineError::Unreachable`].
pub async fn engine(builder: &ContainerBuilder) -> Result<Docker> {
    let endpoint = EngineEndpoint::new(&builder.endpoint, None)?;
    Ok(crate::engine::endpoint::connect(&endpoint).await?)
}

/// How to reach the builder's BuildKit.
pub(crate) fn dialer(docker: &Docker, builder: &ContainerBuilder) -> Dialer {
    Dialer::Exec {
        docker: docker.clone(),
        container: builder.container_name(),
    }
}

/// The container's settings, as buildx's driver makes them.
pub(crate) fn container_body(builder: &ContainerBuilder) -> ContainerCreateBody {
    let mut cmd = Vec::new();
    if builder.config.is_some() {
        cmd.extend(["--config".to_string(), CONFIG_IN_CONTAINER.to_string()]);
    }
    cmd.extend(builder.flags.iter().cloned());
    let mut labels = crate::engine::extra_labels();
    labels.extend([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (BUILDER_LABEL.to_string(), builder.name.clone()),
        (
            CREATED_BY_LABEL.to_string(),
            crate::engine::session_id().to_string(),
        ),
    ]);
    ContainerCreateBody {
        image: Some(builder.image().to_string()),
        cmd: Some(cmd),
        labels: Some(labels),
        host_config: Some(HostConfig {
            privileged: Some(true),
            init: Some(true),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            network_mode: builder.network.clone(),
            mounts: Some(vec![Mount {
                typ: Some(MountType::VOLUME),
                source: Some(builder.state_volume()),
                target: Some(STATE_IN_CONTAINER.into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates a docker-container builder, or finds it there: its container is started (or
/// made from the entry) and answers before the entry is written, so a builder that never
/// came up leaves no entry, and Ctrl-C leaves neither (the container carries
/// [`CREATED_BY_LABEL`]).
///
/// # Errors
/// [`Error::Build(BuildError::BuilderConflict)`] when the name is another kind of builder,
/// [`EngineError::ImageUnavailable`], [`Error::Build(BuildError::BuilderDown)`] with the container's name.
pub async fn create(builders: &Builders, wanted: ContainerBuilder) -> Result<Created> {
    crate::buildkit::buildx_store::check_name(&wanted.name)?;
    match builders.find(&wanted.name)? {
        Some(Builder::Container(existing)) => {
            let docker = engine(&existing).await?;
            bootstrap(&docker, &existing).await?;
            return Ok(Created::Existing);
        }
        Some(other) => {
            return Err(Error::Build(BuildError::BuilderConflict {
                name: wanted.name.clone(),
                driver: other.driver_name(),
            }));
        }
        None => {}
    }
    let docker = engine(&wanted).await?;
    crate::engine::ensure_image(&docker, wanted.image()).await?;
    let fresh_volume = docker.inspect_volume(&wanted.state_volume()).await.is_err();
    if let Err(e) = bootstrap(&docker, &wanted).await {
        crate::engine::remove(&docker, &wanted.container_name()).await;
        if fresh_volume {
            let _ = crate::engine::remove_volume(&docker, &wanted.state_volume()).await;
        }
        return Err(e);
    }
    builders.store().put(&wanted.to_node_group())?;
    Ok(Created::New)
}

/// Makes the builder's BuildKit answer, as buildx boots a node: a running container is
/// used as it is (not asked again: each question is an exec), a stopped one is started, a
/// missing one is created from the entry, and those two are waited for.
///
/// # Errors
/// [`EngineError::Refused`] when the engine refuses, [`Error::Build(BuildError::BuilderDown)`] when BuildKit does
/// not answer within 20 s.
pub async fn bootstrap(docker: &Docker, builder: &ContainerBuilder) -> Result<()> {
    let name = builder.container_name();
    match docker.inspect_container(&name, None).await {
        Ok(c) if c.state.as_ref().and_then(|s| s.running) == Some(true) => return Ok(()),
        Ok(_) => docker
            .start_container(&name, None)
            .await
            .map_err(crate::engine::refused(format!(
                "start the builder container `{name}`"
            )))?,
        Err(_) => run_new(docker, builder).await?,
    }
    wait_until_answering(docker, builder).await
}

async fn run_new(docker: &Docker, builder: &ContainerBuilder) -> Result<()> {
    let name = builder.container_name();
    // As buildx: the image is pulled when the engine does not have it.
    crate::engine::ensure_image(docker, builder.image()).await?;
    if docker
        .inspect_volume(&builder.state_volume())
        .await
        .is_err()
    {
        let volume = bollard::models::VolumeCreateRequest {
            name: Some(builder.state_volume()),
            labels: Some(
                crate::engine::extra_labels()
                    .into_iter()
                    .chain([
                        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
                        (BUILDER_LABEL.to_string(), builder.name.clone()),
                    ])
                    .collect(),
            ),
            ..Default::default()
        };
        docker
            .create_volume(volume)
            .await
            .map_err(crate::engine::refused(format!(
                "create the builder's state volume `{}`",
                builder.state_volume()
            )))?;
    }
    let options = bollard::query_parameters::CreateContainerOptionsBuilder::new()
        .name(&name)
        .build();
    let body = container_body(builder);
    tracing::debug!(container = %name, image = builder.image(), "creating the builder container");
    crate::engine::creating({
        let docker = docker.clone();
        async move { docker.create_container(Some(options), body).await }
    })
    .await
    .map_err(crate::engine::refused(format!(
        "create the builder container `{name}`"
    )))?;
    if let Some(config) = &builder.config {
        let tar = config_tar(config);
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
            .path("/etc")
            .build();
        docker
            .upload_to_container(&name, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(crate::engine::refused(format!(
                "copy buildkitd.toml into `{name}`"
            )))?;
    }
    docker
        .start_container(&name, None)
        .await
        .map_err(crate::engine::refused(format!(
            "start the builder container `{name}`"
        )))?;
    Ok(())
}

/// `buildkit/buildkitd.toml`, mode 0644, owned by root: what buildx copies into `/etc`.
fn config_tar(config: &[u8]) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    archive
        .append_data(&mut dir, "buildkit/", std::io::empty())
        .expect("a tar in memory");
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o644);
    file.set_size(config.len() as u64);
    archive
        .append_data(&mut file, "buildkit/buildkitd.toml", config)
        .expect("a tar in memory");
    archive.into_inner().expect("a tar in memory")
}

/// Waits (at most 20 s) for BuildKit to answer through `buildctl dial-stdio`, as buildx
/// polls `buildctl debug workers`.
async fn wait_until_answering(docker: &Docker, builder: &ContainerBuilder) -> Result<()> {
    crate::http::poll(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || describe(docker, builder).await.map(|_| ()),
    )
    .await
}

/// What the builder's BuildKit says of itself.
///
/// # Errors
/// [`Error::Build(BuildError::BuilderDown)`] when it does not answer.
pub async fn describe(docker: &Docker, builder: &ContainerBuilder) -> Result<DaemonInfo> {
    let down = |source: crate::cause::Cause| {
        Error::Build(BuildError::BuilderDown {
            name: builder.name.clone(),
            address: dialer(docker, builder).to_string(),
            through_buildx: false,
            source,
        })
    };
    let channel = dialer(docker, builder)
        .channel()
        .await
        .map_err(|e| down(e.into()))?;
    control::describe(channel).await.map_err(|e| down(e.into()))
}

/// Its state, as `docker buildx ls` tells it: no container is `inactive`.
pub async fn status(docker: &Docker, builder: &ContainerBuilder) -> Status {
    match docker
        .inspect_container(&builder.container_name(), None)
        .await
    {
        Err(_) => Status::Inactive,
        Ok(c) if c.state.as_ref().and_then(|s| s.running) == Some(true) => Status::Running,
        Ok(_) => Status::Stopped,
    }
}

/// Removes the container and, unless `keep_state`, its state volume, as `docker buildx
/// rm` does; an engine that cannot be reached is an error (the entry stays).
///
/// # Errors
/// [`EngineError::Unreachable`], or the engine refuses to remove the volume.
pub async fn remove(builder: &ContainerBuilder, keep_state: bool) -> Result<()> {
    let docker = engine(builder).await?;
    crate::engine::remove(&docker, &builder.container_name()).await;
    if !keep_state {
        crate::engine::remove_volume(&docker, &builder.state_volume()).await?;
    }
    Ok(())
}

/// Makes the builder's BuildKit answer ([`bootstrap`]) and says how to dial it.
///
/// # Errors
/// As [`engine`] and [`bootstrap`].
pub(crate) async fn boot(builder: &ContainerBuilder) -> Result<(Docker, Dialer)> {
    let docker = engine(builder).await?;
    bootstrap(&docker, builder).await?;
    let dialer = dialer(&docker, builder);
    Ok((docker, dialer))
}

/// Its buildkitd.toml, the copy kept in its buildx entry.
pub(crate) fn config(
    builder: &ContainerBuilder,
) -> std::result::Result<BuildkitConfig, BuildkitConfigError> {
    match &builder.config {
        Some(bytes) => BuildkitConfig::parse(
            &String::from_utf8_lossy(bytes),
            &format!("buildkitd.toml of builder `{}`", builder.name),
        ),
        None => Ok(BuildkitConfig::default()),
    }
}

/// Its status and, when it runs, what its BuildKit says of itself.
pub(crate) async fn info(builder: &ContainerBuilder) -> Answer {
    let unreachable = |e: Error| Answer::silent(Status::Unreachable(crate::cause::root_cause(&e)));
    let docker = match engine(builder).await {
        Ok(docker) => docker,
        Err(e) => return unreachable(e),
    };
    match status(&docker, builder).await {
        Status::Running => match describe(&docker, builder).await {
            Ok(info) => Answer::running(info.version, info.platforms),
            Err(e) => unreachable(e),
        },
        other => Answer::silent(other),
    }
}

/// What `inspect` shows of a container builder.
pub(crate) fn details(builder: &ContainerBuilder) -> Vec<(&'static str, String)> {
    vec![
        ("endpoint", builder.endpoint.clone()),
        ("container", builder.container_name()),
        ("image", builder.image().to_string()),
        ("cache", format!("volume {}", builder.state_volume())),
        ("flags", builder.flags.join(" ")),
        (
            "config",
            if builder.config.is_some() {
                format!("{CONFIG_IN_CONTAINER} (kept in the buildx entry)")
            } else {
                "none".into()
            },
        ),
    ]
}

/// The image a new docker-container builder runs: the pinned upstream tag when the
/// engine has it, else the Debian stand-in when the engine has that, else the upstream
/// tag (to be pulled).
pub async fn default_image(docker: &Docker) -> String {
    for image in [DEFAULT_BUILDKIT_IMAGE, STAND_IN_BUILDKIT_IMAGE] {
        if docker.inspect_image(image).await.is_ok() {
            return image.to_string();
        }
    }
    DEFAULT_BUILDKIT_IMAGE.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_is_the_one_buildx_would_run() {
        let builder = ContainerBuilder::new(
            "kit1",
            "unix:///var/run/docker.sock",
            "multiarch-testbed/buildkit:debian",
            b"[registry.\"localhost:5000\"]\n  http = true\n".to_vec(),
        );
        let body = container_body(&builder);
        assert_eq!(
            body.cmd.unwrap(),
            [
                "--config",
                "/etc/buildkit/buildkitd.toml",
                "--allow-insecure-entitlement=network.host"
            ],
            "no --addr: BuildKit listens on its unix socket only"
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.privileged, Some(true));
        assert_eq!(host.init, Some(true));
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        let mount = &host.mounts.unwrap()[0];
        assert_eq!(mount.source.as_deref(), Some("buildx_buildkit_kit10_state"));
        assert_eq!(mount.target.as_deref(), Some(STATE_IN_CONTAINER));
        assert!(host.binds.is_none(), "the config is copied in, not mounted");
        assert!(host.port_bindings.is_none());
    }

    #[test]
    fn the_config_goes_in_as_buildx_copies_it() {
        let tar = config_tar(b"x = 1\n");
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("buildkit/".to_string(), 0o755),
                ("buildkit/buildkitd.toml".to_string(), 0o644)
            ]
        );
    }
}
