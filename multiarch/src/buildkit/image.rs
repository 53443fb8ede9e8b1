//! Building and pushing a multi-platform image through a builder, with bollard.
//!
//! With the `docker` driver the engine's own BuildKit builds (bollard's Moby driver,
//! over the engine's `/session` and `/grpc` endpoints) into the engine's containerd
//! store, and the engine pushes the multi-platform image. With `docker-container` a
//! buildkitd in a container builds and pushes itself (bollard's `BuildkitDaemon`).
//! Either way the context goes up as a tar that honours `.dockerignore`, a named context
//! (`--build-context build=dist`) becomes a local image BuildKit reads with
//! `docker-image://`, and BuildKit's status stream is reported as [`BuildEvent`]s, in
//! the lines buildx prints; the caller decides how to show them.
//! Before anything runs, the registry is checked to be one the builder will speak plain
//! HTTP to when it must.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use std::time::Duration;

use bollard::Docker;
use bollard::grpc::BuildRef;
use bollard::grpc::build::{
    ImageBuildFrontendOptions, ImageBuildLoadInput, ImageBuildPlatform, NamedContext,
};
use bollard::grpc::driver::buildkitd::BuildkitDaemon;
use bollard::grpc::driver::moby::Moby;
use bollard::grpc::driver::{Build, Image};
use bollard::grpc::registry::ImageRegistryOutput;
use bollard_buildkit_proto::moby::buildkit::v1::CacheOptionsEntry;
use futures_util::StreamExt;
use oci_client::Reference;

use multiarch_platform::Platform;

use crate::buildkit::BuildError;
use crate::buildkit::builder::{Builder, Driver};
use crate::buildkit::buildkit_config::BuildkitConfig;
use crate::buildkit::control;
use crate::buildkit::dial::{Bridge, Dialer};
use crate::buildkit::flags::{BuildFlags, CacheSpec};
use crate::buildkit::progress::Progress;
use crate::buildkit::{context, context_image};
use crate::engine::EngineError;
use crate::engine::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, session_id};
use crate::error::{Error, Result};
use crate::oci::reference::is_local;
use crate::registry::Registry;

/// A `KEY=VALUE` pair (a build argument, a label), split once where it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Before the first `=`, never empty.
    pub key: String,
    /// After it (may be empty).
    pub value: String,
}

impl std::str::FromStr for KeyValue {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (key, value) = split_pair(text, false)
            .ok_or("expected KEY=VALUE, e.g. `--build-arg VERSION=1.2.3`")?;
        Ok(Self {
            key: key.into(),
            value: value.into(),
        })
    }
}

/// `NAME=VALUE` split at the first `=`, the name never empty (the value only if
/// `value_required`).
fn split_pair(text: &str, value_required: bool) -> Option<(&str, &str)> {
    text.split_once('=')
        .filter(|(name, value)| !name.is_empty() && (!value_required || !value.is_empty()))
}

/// A named context: `--build-context NAME=DIR`, a folder BuildKit reads as stage `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedDir {
    /// The stage name it stands for.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
}

impl std::str::FromStr for NamedDir {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (name, dir) =
            split_pair(text, true).ok_or("expected NAME=DIR, e.g. `--build-context build=dist`")?;
        Ok(Self {
            name: name.into(),
            dir: dir.into(),
        })
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, if not `<context>/Dockerfile`.
    pub file: Option<PathBuf>,
    /// The tag to build, `localhost:5000/arch-server:latest`, parsed once at the edge.
    pub tag: Reference,
    /// The platforms.
    pub platforms: Vec<Platform>,
    /// Build arguments (`--build-arg KEY=VALUE`).
    pub build_args: Vec<KeyValue>,
    /// Named contexts (`--build-context NAME=DIR`).
    pub build_contexts: Vec<NamedDir>,
    /// The stage to stop at (`--target`).
    pub target: Option<String>,
    /// Build every step again (`--no-cache`).
    pub no_cache: bool,
    /// Labels for the image (`--label KEY=VALUE`).
    pub labels: Vec<KeyValue>,
    /// The flags that depend on what the builder can do (checked by
    /// [`crate::buildkit::flags::check`] before anything is built).
    pub flags: BuildFlags,
    /// Push the index when built.
    pub push: bool,
    /// Registries to speak plain HTTP to (a `docker-container` builder pushes itself).
    pub insecure: Vec<String>,
}

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
    if builder.driver() != Driver::Docker {
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

/// The buildkitd.toml a builder runs with: a container builder's own copy, else the file
/// it was created with, else the built-in one.
///
/// # Errors
/// The file cannot be read or parsed.
pub(crate) fn builder_config(builder: &Builder) -> Result<BuildkitConfig> {
    let parsed = match builder {
        Builder::Container(c) => match &c.config {
            Some(bytes) => BuildkitConfig::parse(
                &String::from_utf8_lossy(bytes),
                &format!("buildkitd.toml of builder `{}`", c.name),
            ),
            None => Ok(BuildkitConfig::default()),
        },
        Builder::Engine { config, .. } | Builder::Nodes { config, .. } => {
            BuildkitConfig::load(config.as_deref())
        }
        _ => Ok(BuildkitConfig::default()),
    };
    Ok(parsed?)
}

pub(crate) use crate::registry::probe::answers_plain_http;

/// What a build reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// A line of BuildKit's progress, as `buildx --progress plain` prints it.
    Progress(String),
    /// The engine starts pushing the built image to its registry.
    Pushing(String),
}

/// Builds `request` with `builder`, reporting BuildKit's progress through `on_event`;
/// with `push`, the index ends up in the registry, or an error says it did not. Before
/// anything is built: the flags are checked against what the builder honours, the engine
/// against multi-platform images, the registry against the way the builder will speak to
/// it; a builder made of nodes spreads the build ([`crate::buildkit::spread`]).
///
/// # Errors
/// [`Error::Build(BuildError::Context)`] for a context that cannot be packed, [`Error::Build(BuildError::BuildFailed)`] with
/// BuildKit's message for the failing step, [`Error::Build(BuildError::PushFailed)`], [`EngineError::Refused`],
/// [`Error::Build(BuildError::BuilderUnusable)`] for a builder the kit lists but cannot reach.
pub async fn run(
    builder: &Builder,
    request: &BuildRequest,
    on_event: impl Fn(BuildEvent) + Sync,
) -> Result<()> {
    crate::buildkit::flags::check(builder.driver(), &request.flags)?;
    if builder.driver() != Driver::Docker && !request.push {
        return Err(Error::Build(BuildError::NeedsPush(
            builder.name().to_string(),
        )));
    }
    match builder {
        Builder::Nodes { name, nodes, .. } => {
            crate::buildkit::spread::run(name, nodes, request, on_event).await
        }
        Builder::Engine { .. } => {
            let docker = crate::engine::connect().await?;
            if request.platforms.len() > 1 && !crate::engine::containerd_store(&docker).await {
                return Err(Error::Build(BuildError::NoMultiPlatform));
            }
            check_push_target(Some(&docker), builder, request).await?;
            run_on(&docker, Daemon::Engine, request, &on_event).await
        }
        Builder::Container(container) => {
            let docker = crate::buildkit::container::engine(container).await?;
            check_push_target(Some(&docker), builder, request).await?;
            // As buildx boots a node before a build: a stopped container is started, a
            // missing one made from the entry.
            crate::buildkit::container::bootstrap(&docker, container).await?;
            let dialer = crate::buildkit::container::dialer(&docker, container);
            let daemon = Daemon::buildkit(&container.name, dialer)?;
            run_on(&docker, daemon, request, &on_event).await
        }
        Builder::Remote(remote) => {
            let dialer = crate::buildkit::remote::dialer(remote)?;
            // A daemon that does not answer is named before anything is packed.
            crate::buildkit::remote::describe(remote).await?;
            let docker = crate::engine::connect().await?;
            check_push_target(None, builder, request).await?;
            let daemon = Daemon::buildkit(&remote.name, dialer)?;
            run_on(&docker, daemon, request, &on_event).await
        }
        Builder::Foreign { name, .. } => {
            // Any other buildx builder (kubernetes, cloud, several nodes) builds as a
            // builder of one node, itself, reached through buildx.
            let node = crate::buildkit::nodes::Node {
                name: name.clone(),
                endpoint: crate::buildkit::nodes::NodeEndpoint::Buildx {
                    buildx: name.clone(),
                },
                platforms: Vec::new(),
            };
            crate::buildkit::spread::run(name, &[node], request, on_event)
                .await
                .map_err(|e| match e {
                    // Said of the builder, not of a node the user never named.
                    Error::Build(BuildError::NodeUnreachable { source, .. }) => {
                        Error::Build(BuildError::BuilderDown {
                            name: name.clone(),
                            address: format!("`docker buildx --builder {name} dial-stdio`"),
                            source,
                        })
                    }
                    Error::Build(BuildError::NodeFailed { reason, .. }) => {
                        Error::Build(BuildError::BuildFailed {
                            image: request.tag.whole(),
                            reason,
                        })
                    }
                    other => other,
                })
        }
        Builder::Legacy { name } => Err(Error::Build(BuildError::BuilderUnusable {
            name: name.clone(),
            driver: "docker-container".into(),
            reason: "it was made by an earlier multiarch, with a BuildKit port open on loopback, and buildx does not know it".into(),
            fix: format!("make it again as a buildx builder: `multiarch builder rm {name} && multiarch builder create --name {name} --driver docker-container`"),
        })),
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
    check_registry(docker, builder, &builder_config(builder)?, &registry, http).await
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
            source: why.into(),
        }),
        None => Error::Build(BuildError::BuildFailed {
            image: request.tag.whole(),
            reason: failure_reason(&progress, &e),
        }),
    })
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

/// `--build-context NAME=DIR` folders, as images BuildKit reads with `docker-image://`
/// (bollard's session uploads only the main context): imported into the engine for its
/// own BuildKit, labelled; pushed to the local target registry for a BuildKit container
/// ([`context_image`]). Either way they are removed after the build.
#[derive(Default)]
pub(crate) struct NamedContexts {
    images: Vec<(String, String)>,
    pushed: Vec<context_image::PushedContext>,
    registry: Option<Registry>,
}

/// Where named contexts are imported. Port 1 is closed: such a name can only ever be
/// found in the engine itself, never fetched.
const CONTEXT_REPOSITORY: &str = "localhost:1/multiarch-context/";

impl NamedContexts {
    pub(crate) async fn import(docker: &Docker, contexts: &[NamedDir]) -> Result<Self> {
        use bollard::query_parameters::CreateImageOptionsBuilder;
        let platform = crate::engine::engine_platform(docker)
            .await
            .map(|p| p.to_string())
            .unwrap_or_default();
        let mut named = Self::default();
        for NamedDir { name, dir } in contexts {
            let tar = context::pack_folder(dir)?;
            let repository = format!("{CONTEXT_REPOSITORY}{}", name.to_lowercase());
            let tag = session_id().to_string();
            let options = CreateImageOptionsBuilder::new()
                .from_src("-")
                .repo(&repository)
                .tag(&tag)
                .platform(&platform)
                .changes(
                    std::iter::once(format!("LABEL {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"))
                        .chain(
                            crate::engine::extra_labels()
                                .into_iter()
                                .map(|(k, v)| format!("LABEL {k}={v:?}")),
                        )
                        .collect(),
                )
                .build();
            let imported = crate::engine::creating({
                let docker = docker.clone();
                async move {
                    let mut stream = docker.create_image(
                        Some(options),
                        Some(bollard::body_full(tar.into())),
                        None,
                    );
                    while let Some(event) = stream.next().await {
                        event?;
                    }
                    Ok::<_, bollard::errors::Error>(())
                }
            })
            .await;
            if let Err(e) = imported {
                named.remove(docker).await;
                return Err(Error::Engine(EngineError::Refused {
                    action: format!("take the named context `{name}` from `{}`", dir.display()),
                    source: e.into(),
                }));
            }
            named
                .images
                .push((name.to_string(), format!("{repository}:{tag}")));
        }
        Ok(named)
    }

    /// For a BuildKit container: each folder pushed to the registry the build pushes to,
    /// which must be a local one.
    pub(crate) async fn push(request: &BuildRequest) -> Result<Self> {
        let mut named = Self::default();
        if request.build_contexts.is_empty() {
            return Ok(named);
        }
        let host = request.tag.resolve_registry();
        if !is_local(host) {
            return Err(Error::Build(BuildError::Unsupported {
                flag: "--build-context".into(),
                driver: "docker-container".into(),
                reason: format!(
                    "a BuildKit container reads named contexts from the registry it pushes to, and `{host}` is not a local one"
                ),
                hint: "push to a local registry (`multiarch registry up`), or build with the `docker` builder".into(),
            }));
        }
        let registry = Registry::for_reference(&request.tag, &request.insecure);
        for NamedDir { name, dir } in &request.build_contexts {
            let tar = context::pack_folder(dir)?;
            match context_image::push(&registry, host, name, tar, &request.platforms, session_id())
                .await
            {
                Ok(pushed) => {
                    named
                        .images
                        .push((name.to_string(), pushed.reference.whole()));
                    named.pushed.push(pushed);
                }
                Err(e) => {
                    named.registry = Some(registry);
                    named.remove_pushed().await;
                    return Err(e);
                }
            }
        }
        named.registry = Some(registry);
        Ok(named)
    }

    /// Removes what [`NamedContexts::push`] pushed.
    pub(crate) async fn remove_pushed(&self) {
        if let Some(registry) = &self.registry {
            for pushed in &self.pushed {
                context_image::remove(registry, pushed).await;
            }
        }
    }

    pub(crate) async fn remove(&self, docker: &Docker) {
        use bollard::query_parameters::RemoveImageOptionsBuilder;
        if self.registry.is_some() {
            self.remove_pushed().await;
            return;
        }
        for (_, image) in &self.images {
            let options = RemoveImageOptionsBuilder::new().force(true).build();
            if let Err(e) = docker.remove_image(image, Some(options), None).await {
                tracing::debug!(%image, error = %e, "named context image already gone");
            }
        }
    }
}

/// Removes the named contexts this invocation imported into the engine or pushed to a
/// registry, when its build was cut short (Ctrl-C drops the build before it can clean
/// up). Returns how many.
pub async fn remove_leftover_contexts(docker: &Docker) -> usize {
    context_image::remove_leftovers().await + remove_leftover_context_images(docker).await
}

async fn remove_leftover_context_images(docker: &Docker) -> usize {
    use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")],
    )]);
    let ours = format!(":{}", session_id());
    let mut removed = std::collections::HashSet::new();
    // A build cut short may still hold its named context for a moment, and a removal
    // then fails: the list is read again until none is left, for at most two seconds.
    for _ in 0..10 {
        let images = docker
            .list_images(Some(
                ListImagesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .unwrap_or_default();
        let left: Vec<&String> = images
            .iter()
            .flat_map(|i| &i.repo_tags)
            .filter(|tag| tag.starts_with(CONTEXT_REPOSITORY) && tag.ends_with(&ours))
            .collect();
        if left.is_empty() {
            break;
        }
        for tag in left {
            let options = RemoveImageOptionsBuilder::new().force(true).build();
            if docker.remove_image(tag, Some(options), None).await.is_ok() {
                removed.insert(tag.clone());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    removed.len()
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
    fn pairs_are_split_once_where_they_are_read() {
        let arg: KeyValue = "VERSION=1.2=3".parse().unwrap();
        assert_eq!((arg.key.as_str(), arg.value.as_str()), ("VERSION", "1.2=3"));
        let empty: KeyValue = "EMPTY=".parse().unwrap();
        assert_eq!(empty.value, "");
        assert!("=x".parse::<KeyValue>().is_err());
        assert!("novalue".parse::<KeyValue>().is_err());
        let named: NamedDir = "build=dist".parse().unwrap();
        assert_eq!(
            (named.name.as_str(), named.dir.as_path()),
            ("build", Path::new("dist"))
        );
        assert!("build=".parse::<NamedDir>().is_err());
    }

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
