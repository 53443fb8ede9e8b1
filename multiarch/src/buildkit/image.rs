//! Building and pushing a multi-platform image through a builder, with bollard.
//!
//! A builder is booted by its driver ([`crate::buildkit::driver`]); one of several nodes
//! spreads the build ([`crate::buildkit::spread`]). With the `docker` driver the engine's
//! own BuildKit builds (bollard's Moby driver, over the engine's `/session` and `/grpc`
//! endpoints) into the engine's containerd store, and the engine pushes the
//! multi-platform image. With `docker-container` a
//! buildkitd in a container builds and pushes itself (bollard's `BuildkitDaemon`).
//! Either way the context goes up as a tar that honours `.dockerignore`, a named context
//! (`--build-context build=dist`) becomes a local image BuildKit reads with
//! `docker-image://`, and BuildKit's status stream is reported as [`BuildEvent`]s, in
//! the lines buildx prints; the caller decides how to show them.
//! Before anything runs, the registry is checked to be one the builder will speak plain
//! HTTP to when it must.

use bollard::Docker;
use bollard::grpc::BuildRef;
use bollard::grpc::build::ImageBuildLoadInput;
use bollard::grpc::driver::buildkitd::BuildkitDaemon;
use bollard::grpc::driver::moby::Moby;
use bollard::grpc::driver::{Build, Image};
use bollard::grpc::registry::ImageRegistryOutput;
use futures_util::StreamExt;
use oci_client::Reference;

use crate::buildkit::BuildError;
use crate::buildkit::builder::Builder;
use crate::buildkit::buildkit_config::BuildkitConfig;
use crate::buildkit::buildx_store::Store;
use crate::buildkit::dial::{Bridge, Dialer};
use crate::buildkit::driver::{self, Booted};
use crate::buildkit::flags::Features;
use crate::buildkit::named_contexts::NamedContexts;
use crate::buildkit::solve::{failure_reason, frontend_options, solve_following};
use crate::buildkit::{context, control, profile};
use crate::engine::EngineError;
use crate::error::{Error, Result};
use crate::oci::reference::is_local;

pub use crate::buildkit::request::{BuildRequest, KeyValue, NamedDir};
pub use crate::buildkit::solve::BuildEvent;

/// Checks that a builder will reach `registry` the way it answers (plain HTTP for local
/// and insecure registries): a BuildKit daemon by its buildkitd.toml, the engine by its own
/// registry settings.
///
/// # Errors
/// [`Error::Build(BuildError::RegistryNotHttp)`] with the lines to add.
pub async fn check_registry(
    docker: Option<&Docker>,
    builder: &Builder,
    buildkit: &BuildkitConfig,
    registry: &str,
    answers_http: bool,
) -> Result<()> {
    if !answers_http {
        return Ok(());
    }
    if driver::features(builder) != Some(Features::Engine) {
        // BuildKit speaks plain HTTP to loopback registries whatever its config says
        // (containerd's resolver); any other name needs `http = true` in its config.
        if is_local(registry) || buildkit.allows_http(registry) {
            return Ok(());
        }
        return Err(Error::Build(BuildError::RegistryNotHttp {
            registry: registry.to_string(),
            driver: builder.driver_name(),
            fix: format!(
                "add these lines to buildkitd.toml, then `multiarch builder rm {0} && multiarch builder create --driver docker-container`:\n{1}",
                builder.name(),
                BuildkitConfig::lines_for(registry)
            ),
        }));
    }
    let config = match docker {
        Some(docker) => docker.info().await.ok().and_then(|i| i.registry_config),
        None => None,
    };
    if crate::engine::host::engine_treats_as_insecure(config.as_ref(), registry) {
        return Ok(());
    }
    Err(Error::Build(BuildError::RegistryNotHttp {
        registry: registry.to_string(),
        driver: builder.driver_name(),
        fix: format!(
            "add \"insecure-registries\": [\"{registry}\"] to /etc/docker/daemon.json and restart dockerd (the `docker` driver uses the engine's registry settings; buildkitd.toml configures `docker-container` builders)"
        ),
    }))
}

pub(crate) use crate::registry::probe::answers_plain_http;

/// Builds `request` with `builder`, reporting BuildKit's progress through `on_event`;
/// with `push`, the index ends up in the registry, or an error says it did not. Before
/// anything is built: the flags are checked against what the builder honours, the
/// registry against the way the builder will speak to it, and the builder is booted by its
/// driver ([`driver::boot`]); a builder made of nodes, or any other buildx builder,
/// spreads the build over its nodes ([`crate::buildkit::spread`]).
///
/// # Errors
/// [`Error::Build(BuildError::Context)`] for a context that cannot be packed, [`Error::Build(BuildError::BuildFailed)`] with
/// BuildKit's message for the failing step, [`Error::Build(BuildError::PushFailed)`], [`EngineError::Refused`],
/// [`Error::Build(BuildError::BuilderUnusable)`] for a builder the kit lists but cannot reach.
pub async fn run(
    store: &Store,
    builder: &Builder,
    request: &BuildRequest,
    on_event: impl Fn(BuildEvent) + Sync,
) -> Result<()> {
    let features = driver::features(builder);
    if let Some(features) = features {
        crate::buildkit::flags::check(features, &builder.driver_name(), &request.flags)?;
        if features == Features::Daemon && !request.push {
            return Err(Error::Build(BuildError::NeedsPush {
                name: builder.name().to_string(),
                driver: builder.driver_name(),
            }));
        }
        if features == Features::Daemon {
            check_push_target(None, builder, request).await?;
        }
    }
    match driver::boot(builder, request.platforms.len()).await? {
        Booted::Engine(docker) => {
            check_push_target(Some(&docker), builder, request).await?;
            run_on(&docker, Daemon::Engine, request, &on_event).await
        }
        Booted::Daemon { docker, dialer } => {
            let daemon = Daemon::buildkit(builder.name(), dialer)?;
            run_on(&docker, daemon, request, &on_event).await
        }
        Booted::Buildx => {
            crate::buildkit::spread::run_on_buildx(store, builder.name(), request, on_event).await
        }
        Booted::Nodes(nodes) => {
            crate::buildkit::spread::run(store, builder.name(), &nodes, request, on_event).await
        }
    }
}

/// With `--push`: the registry is one the builder will speak to the way it answers.
async fn check_push_target(
    docker: Option<&Docker>,
    builder: &Builder,
    request: &BuildRequest,
) -> Result<()> {
    if !request.push {
        return Ok(());
    }
    let registry = request.tag.resolve_registry().to_string();
    let http =
        answers_plain_http(&registry).await || request.insecure.iter().any(|r| r == &registry);
    check_registry(docker, builder, &driver::config(builder)?, &registry, http).await
}

/// The BuildKit a build runs on.
enum Daemon {
    /// The engine's own, over its `/session` and `/grpc` endpoints.
    Engine,
    /// A BuildKit daemon that pushes what it builds, reached through a bridge that starts
    /// dialling it (the solve's connection and the status stream's) before the context
    /// is packed.
    BuildKit {
        /// The builder, for errors.
        builder: String,
        /// How it is reached.
        dialer: Dialer,
        /// The socket bollard dials.
        bridge: Bridge,
    },
}

impl Daemon {
    fn buildkit(builder: &str, dialer: Dialer) -> Result<Self> {
        // bollard dials an address itself: a socket only this user can reach, forwarding
        // to the daemon, for as long as the build runs.
        let bridge = Bridge::start(dialer.clone(), 2).map_err(|e| {
            Error::Engine(EngineError::Refused {
                action: "open a private socket to hand BuildKit's connection to bollard".into(),
                source: e.into(),
            })
        })?;
        Ok(Self::BuildKit {
            builder: builder.to_string(),
            dialer,
            bridge,
        })
    }
}

async fn run_on(
    docker: &Docker,
    daemon: Daemon,
    request: &BuildRequest,
    on_event: &(impl Fn(BuildEvent) + Sync),
) -> Result<()> {
    let packed = context::pack(&request.context, request.file.as_deref())?;
    tracing::debug!(
        files = packed.files,
        bytes = packed.tar.len(),
        "context packed"
    );
    let named = match &daemon {
        Daemon::Engine => NamedContexts::import(docker, &request.build_contexts).await?,
        Daemon::BuildKit { .. } => NamedContexts::push(request).await?,
    };
    let on_engine = matches!(daemon, Daemon::Engine);
    let result = build(docker, daemon, request, packed, &named, on_event).await;
    named.remove(docker).await;
    result?;
    if request.push && on_engine {
        on_event(BuildEvent::Pushing(request.tag.whole()));
        push(docker, &request.tag).await?;
    }
    Ok(())
}

async fn build(
    docker: &Docker,
    daemon: Daemon,
    request: &BuildRequest,
    packed: context::Packed,
    named: &NamedContexts,
    on_event: &(impl Fn(BuildEvent) + Sync),
) -> Result<()> {
    let on_daemon = matches!(daemon, Daemon::BuildKit { .. });
    let options = frontend_options(
        request,
        &request.platforms,
        &packed.dockerfile,
        named,
        on_daemon,
    );
    let load_input = ImageBuildLoadInput::Upload(bytes::Bytes::from(packed.tar));
    let build_ref = BuildRef::random();

    let channel = match &daemon {
        Daemon::Engine => match control::local_engine() {
            Some(engine) => control::engine_channel(&engine).await.ok(),
            None => None,
        },
        Daemon::BuildKit { bridge, .. } => Some(bridge.lazy_channel()),
    };
    let solve = async {
        match &daemon {
            Daemon::Engine => {
                Moby::new(docker)
                    .docker_build(
                        &request.tag.whole(),
                        options,
                        load_input,
                        None,
                        Some(build_ref.clone()),
                    )
                    .await
            }
            Daemon::BuildKit { bridge, .. } => {
                let registry = request.tag.registry();
                let output = ImageRegistryOutput::builder(&request.tag.whole())
                    .push(true)
                    .insecure_registry(
                        is_local(registry) || request.insecure.iter().any(|r| r == registry),
                    )
                    .consume();
                BuildkitDaemon::new(bridge.endpoint())
                    .registry(output, options, load_input, None, Some(build_ref.clone()))
                    .await
            }
        }
    };
    let (solved, progress) = solve_following(channel, build_ref.as_ref(), solve, |line| {
        on_event(BuildEvent::Progress(line));
    })
    .await;
    let unreachable = match &daemon {
        Daemon::BuildKit {
            builder,
            dialer,
            bridge,
        } => bridge.dial_failure().map(|why| (builder, dialer, why)),
        Daemon::Engine => None,
    };
    solved.map_err(|e| match unreachable {
        // The daemon itself could not be reached: that, not a failed build.
        Some((builder, dialer, why)) => Error::Build(BuildError::BuilderDown {
            name: builder.clone(),
            address: dialer.to_string(),
            through_buildx: matches!(dialer, Dialer::Buildx { .. }),
            source: why.into(),
        }),
        None => Error::Build(BuildError::BuildFailed {
            image: request.tag.whole(),
            reason: failure_reason(&progress, &e),
        }),
    })?;
    let started = std::time::Instant::now();
    let own = match &daemon {
        Daemon::Engine => crate::engine::engine_platform(docker).await,
        // BuildKit lists its own platform first.
        Daemon::BuildKit { bridge, .. } => control::describe(bridge.lazy_channel())
            .await
            .ok()
            .and_then(|info| info.platforms.first().and_then(|p| p.parse().ok())),
    };
    let dockerfile = request.dockerfile_text();
    let mut profile = profile::profile(
        &dockerfile,
        &[profile::Solve {
            node: None,
            own: own.as_ref(),
            platforms: &request.platforms,
            steps: progress.times(),
        }],
    );
    profile.cost_seconds = started.elapsed().as_secs_f64();
    on_event(BuildEvent::Profile(profile));
    Ok(())
}

/// Pushes the multi-platform image the engine built, through the engine, with the
/// credentials `docker login` stored for the reference's registry (Docker Hub's for a
/// short name such as `app:1`).
async fn push(docker: &Docker, reference: &Reference) -> Result<()> {
    use bollard::query_parameters::PushImageOptionsBuilder;
    let image = reference.whole();
    let name = match reference.registry() {
        // The engine's own short form: what `docker push` is given for Docker Hub.
        "docker.io" => reference.repository().to_string(),
        registry => format!("{registry}/{}", reference.repository()),
    };
    let options = PushImageOptionsBuilder::new()
        .tag(reference.tag().unwrap_or("latest"))
        .build();
    let credentials = crate::registry::engine_credentials(reference);
    let mut stream = docker.push_image(&name, Some(options), credentials);
    while let Some(event) = stream.next().await {
        match event {
            Ok(info) => {
                if let Some(status) = info.status {
                    tracing::debug!(%status, "push");
                }
            }
            Err(e) => {
                return Err(Error::Build(BuildError::PushFailed {
                    image,
                    reason: readable_push_error(&crate::engine::engine_message(&e)),
                }));
            }
        }
    }
    Ok(())
}

/// The engine's push error without bollard's prefix and the upload URL's query (an
/// opaque state token a person cannot use).
fn readable_push_error(message: &str) -> String {
    let message = message
        .strip_prefix("Docker stream error: ")
        .unwrap_or(message);
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    // Only inside a quoted URL: `"http://…/uploads/63?_state=…"`.
    while let Some(start) = rest.find("\"http") {
        let Some(len) = rest[start + 1..].find('"') else {
            break;
        };
        let url = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..=start]);
        out.push_str(url.split('?').next().unwrap_or(url));
        rest = &rest[start + 1 + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_errors_lose_the_prefix_and_the_upload_state() {
        assert_eq!(
            readable_push_error(
                "Docker stream error: failed to copy: failed to do request: Put \"http://localhost:5000/v2/cut/blobs/uploads/63?_state=kK2G%3D&digest=sha256%3A9a\": write: broken pipe"
            ),
            "failed to copy: failed to do request: Put \"http://localhost:5000/v2/cut/blobs/uploads/63\": write: broken pipe"
        );
        assert_eq!(
            readable_push_error("connection refused"),
            "connection refused"
        );
    }
}
