//! A build spread over a builder's nodes ([`nodes`]): each node builds its platforms with
//! its engine's own BuildKit, or a buildx builder's ([`buildx`]),
//! all at once; each node's result is pushed by digest; the
//! index goes up under the tag only when every node succeeded. A node that fails or
//! vanishes leaves the tag where it was, and what the others pushed stays in the
//! registry only as untagged manifests and blobs.
//!
//! The engine API pushes tags, not digests, so a node's result is read back from its
//! engine as an image layout (`docker save`) and the kit pushes it by digest; a buildx
//! builder's arrives as a layout from BuildKit's OCI exporter, and is pushed the same way.

use bollard::Docker;
use bollard::grpc::BuildRef;
use bollard::grpc::build::ImageBuildLoadInput;
use bollard::grpc::driver::Build;
use bollard::grpc::driver::moby::Moby;
use futures_util::StreamExt;
use oci_spec::image::{Descriptor, MediaType};

use multiarch_platform::Platform;

use crate::buildkit::BuildError;
use crate::buildkit::buildx_store::Store;
use crate::buildkit::driver::buildx;
use crate::buildkit::driver::nodes::{Reached, connect, serves};
use crate::buildkit::flags::Features;
use crate::buildkit::named_contexts::NamedContexts;
use crate::buildkit::nodes::{self, Node, NodeEndpoint};
use crate::buildkit::profile::{self, StepTime};
use crate::buildkit::request::BuildRequest;
use crate::buildkit::solve::{self, BuildEvent};
use crate::buildkit::{context, control};
use crate::engine::endpoint::EngineEndpoint;
use crate::engine::session_id;
use crate::error::{Error, Result};
use crate::oci::layout::Layout;
use crate::registry::Registry;

/// Where each node's result waits in its engine until it is pushed. Port 1 is closed:
/// such a name is never fetched from anywhere.
const NODE_REPOSITORY: &str = "localhost:1/multiarch-node/";

/// Builds `request` over the `nodes` of builder `name` and pushes the index.
///
/// # Errors
/// [`Error::Build(BuildError::NodeUnreachable)`] before anything is built, [`Error::Build(BuildError::NodeFailed)`] naming the
/// node and its platforms, [`Error::Build(BuildError::BadNodes)`] when no node can build a platform.
pub async fn run(
    store: &Store,
    name: &str,
    nodes: &[Node],
    request: &BuildRequest,
    on_event: impl Fn(BuildEvent) + Sync,
) -> Result<()> {
    if !request.push {
        return Err(Error::Build(BuildError::BadNodes(format!(
            "the builder `{name}` is made of nodes: their results meet in a registry, so add `--push`"
        ))));
    }
    // Each node's BuildKit is checked for what it honours: an engine's own, or a buildx
    // builder's daemon.
    for node in nodes {
        let (features, driver) = match &node.endpoint {
            NodeEndpoint::Engine(_) => (Features::Engine, "docker".to_string()),
            NodeEndpoint::Buildx { buildx } => (Features::Daemon, format!("buildx://{buildx}")),
        };
        crate::buildkit::flags::check(features, &driver, &request.flags)?;
    }

    // Every node must answer before anything starts: a plan that leaves one out would
    // build its platforms somewhere the user did not choose.
    let connected = futures_util::future::try_join_all(nodes.iter().map(|node| async move {
        let reached = connect(store, node).await?;
        let serves = serves(store, node, &reached).await;
        Ok::<_, Error>((node, reached, serves))
    }))
    .await?;
    let views: Vec<(String, nodes::Serves)> = connected
        .iter()
        .map(|(node, _, serves)| (node.name.clone(), serves.clone()))
        .collect();
    let plan = nodes::assign(&views, &request.platforms)?;
    for (platform, node, fit) in &plan {
        on_event(BuildEvent::Progress(format!(
            "{platform} → node `{}` ({fit})",
            connected[*node].0.name
        )));
    }
    for warning in nodes::emulated_beside_native(&views, &plan) {
        on_event(BuildEvent::Progress(format!("WARNING: {warning}")));
    }

    // The context is packed once; every node gets the same bytes.
    let packed = context::pack(&request.context, request.file.as_deref())?;
    let tar = bytes::Bytes::from(packed.tar);
    let registry = Registry::for_reference(&request.tag, &request.insecure);
    // A builder's BuildKit reads named contexts from the registry the build pushes to.
    let builds_on_buildx = connected.iter().enumerate().any(|(i, (_, reached, _))| {
        matches!(reached, Reached::Buildx { .. }) && plan.iter().any(|(_, n, _)| *n == i)
    });
    let pushed_contexts = if builds_on_buildx {
        NamedContexts::push(request).await?
    } else {
        NamedContexts::default()
    };
    let times = std::sync::Mutex::new(Vec::new());
    let builds = connected
        .iter()
        .enumerate()
        .filter_map(|(i, (node, reached, _))| {
            let mine: Vec<Platform> = plan
                .iter()
                .filter(|(_, n, _)| *n == i)
                .map(|(p, _, _)| p.clone())
                .collect();
            (!mine.is_empty()).then(|| {
                let work = NodeBuild {
                    store,
                    times: &times,
                    index: i,
                    node,
                    reached,
                    pushed_contexts: &pushed_contexts,
                    platforms: mine,
                    request,
                    dockerfile: &packed.dockerfile,
                    registry: &registry,
                };
                let tar = tar.clone();
                let on_event = &on_event;
                async move { work.run(tar, on_event).await }
            })
        });
    // Every node runs to its end (each removes what it left in its engine), then the
    // first failure is the answer.
    let results = futures_util::future::join_all(builds).await;
    pushed_contexts.remove_pushed().await;
    let mut descriptors = Vec::new();
    for result in results {
        descriptors.extend(result?);
    }

    let (bytes, media_type) =
        crate::oci::assemble::index_of(descriptors).map_err(|source| Error::Assemble {
            reference: request.tag.whole(),
            source: Box::new(source),
        })?;
    on_event(BuildEvent::Pushing(request.tag.whole()));
    registry
        .push_manifest(&request.tag, bytes, &media_type)
        .await?;
    let times = times.into_inner().expect("not poisoned");
    let solves: Vec<profile::Solve<'_>> = times
        .iter()
        .map(|(i, platforms, steps)| profile::Solve {
            node: Some(connected[*i].0.name.as_str()),
            own: connected[*i].2.native.first(),
            platforms,
            steps,
        })
        .collect();
    let dockerfile = request.dockerfile_text();
    on_event(BuildEvent::Profile(profile::profile(&dockerfile, &solves)));
    Ok(())
}

/// Builds `request` on a buildx builder of another driver (kubernetes, cloud) or of
/// several nodes, through buildx: a builder of one node, itself, whose node for each
/// platform buildx picks. What fails is said of the builder.
///
/// # Errors
/// [`Error::Build(BuildError::BuilderDown)`] when buildx cannot reach it,
/// [`Error::Build(BuildError::BuildFailed)`] with BuildKit's words.
pub async fn run_on_buildx(
    store: &Store,
    name: &str,
    request: &BuildRequest,
    on_event: impl Fn(BuildEvent) + Sync,
) -> Result<()> {
    let itself = Node {
        name: name.to_string(),
        endpoint: NodeEndpoint::Buildx {
            buildx: name.to_string(),
        },
        platforms: Vec::new(),
    };
    run(
        store,
        name,
        std::slice::from_ref(&itself),
        request,
        on_event,
    )
    .await
    .map_err(|e| match e {
        Error::Build(BuildError::NodeUnreachable { source, .. }) => {
            Error::Build(BuildError::BuilderDown {
                name: name.to_string(),
                address: format!("`docker buildx --builder {name} dial-stdio`"),
                through_buildx: true,
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

/// One solve's node (its place in the builder's list), platforms and step times.
type SolveTimes = (usize, Vec<Platform>, Vec<StepTime>);

/// One node's share of a build.
struct NodeBuild<'a> {
    store: &'a Store,
    /// Each solve's platforms and step times, for the profile.
    times: &'a std::sync::Mutex<Vec<SolveTimes>>,
    /// This node's place in the builder's list.
    index: usize,
    node: &'a Node,
    reached: &'a Reached,
    /// Named contexts in the target registry, for buildx builders.
    pushed_contexts: &'a NamedContexts,
    platforms: Vec<Platform>,
    request: &'a BuildRequest,
    dockerfile: &'a str,
    registry: &'a Registry,
}

impl NodeBuild<'_> {
    /// Builds, pushes by digest, and removes what it left on the node; returns the
    /// descriptors for the index.
    async fn run(
        &self,
        tar: bytes::Bytes,
        on_event: &(impl Fn(BuildEvent) + Sync),
    ) -> Result<Vec<Descriptor>> {
        let result = match self.reached {
            Reached::Engine { docker, engine } => {
                self.run_on_engine(docker, engine, tar, on_event).await
            }
            Reached::Buildx { builder, .. } => self.run_on_buildx(builder, tar, on_event).await,
        };
        result.map_err(|reason| {
            Error::Build(BuildError::NodeFailed {
                node: self.node.name.clone(),
                platforms: nodes::list(&self.platforms),
                reason,
            })
        })
    }

    /// On a buildx builder: each platform solved on the node buildx picks for it.
    async fn run_on_buildx(
        &self,
        builder: &str,
        tar: bytes::Bytes,
        on_event: &(impl Fn(BuildEvent) + Sync),
    ) -> std::result::Result<Vec<Descriptor>, String> {
        let prefix = format!("[{}] ", self.node.name);
        let layouts = futures_util::future::try_join_all(self.platforms.iter().map(|platform| {
            let options = solve::frontend_options(
                self.request,
                std::slice::from_ref(platform),
                self.dockerfile,
                self.pushed_contexts,
                false,
            );
            let prefix = &prefix;
            let tar = tar.clone();
            async move {
                let (layout, steps) = buildx::build_platform(
                    self.store,
                    builder,
                    platform,
                    options,
                    tar,
                    move |line| on_event(BuildEvent::Progress(format!("{prefix}{line}"))),
                )
                .await?;
                self.times.lock().expect("not poisoned").push((
                    self.index,
                    vec![platform.clone()],
                    steps,
                ));
                Ok::<_, String>(layout)
            }
        }))
        .await?;
        on_event(BuildEvent::Progress(format!(
            "{prefix}pushing {} by digest",
            nodes::list(&self.platforms)
        )));
        let mut descriptors = Vec::new();
        for archive in layouts {
            descriptors.extend(push_layout(self.registry, &self.request.tag, &archive).await?);
        }
        Ok(descriptors)
    }

    /// On an engine: built with its own BuildKit, read back, pushed by digest, and
    /// removed from the engine again.
    async fn run_on_engine(
        &self,
        docker: &Docker,
        engine: &EngineEndpoint,
        tar: bytes::Bytes,
        on_event: &(impl Fn(BuildEvent) + Sync),
    ) -> std::result::Result<Vec<Descriptor>, String> {
        let named = NamedContexts::import(docker, &self.request.build_contexts)
            .await
            .map_err(|e| crate::cause::root_cause(&e))?;
        let result = self
            .build_and_push(docker, engine, tar, &named, on_event)
            .await;
        named.remove(docker).await;
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        if let Err(e) = docker
            .remove_image(&self.temporary(), Some(options), None)
            .await
        {
            tracing::debug!(node = %self.node.name, error = %e, "the node's result was not removed");
        }
        result
    }

    /// The name the result has in the node's engine until it is pushed.
    fn temporary(&self) -> String {
        format!(
            "{NODE_REPOSITORY}{}:{}",
            self.node.name.to_lowercase(),
            session_id()
        )
    }

    async fn build_and_push(
        &self,
        docker: &Docker,
        engine: &EngineEndpoint,
        tar: bytes::Bytes,
        named: &NamedContexts,
        on_event: &(impl Fn(BuildEvent) + Sync),
    ) -> std::result::Result<Vec<Descriptor>, String> {
        let options =
            solve::frontend_options(self.request, &self.platforms, self.dockerfile, named, false);
        let build_ref = BuildRef::random();
        let channel = match engine.transport() {
            Ok(transport) => control::engine_channel(&transport).await.ok(),
            Err(_) => None,
        };
        let temporary = self.temporary();
        let solve = Moby::new(docker).docker_build(
            &temporary,
            options,
            ImageBuildLoadInput::Upload(tar),
            None,
            Some(build_ref.clone()),
        );
        let prefix = format!("[{}] ", self.node.name);
        let (solved, progress) =
            solve::solve_following(channel, build_ref.as_ref(), solve, |line| {
                on_event(BuildEvent::Progress(format!("{prefix}{line}")));
            })
            .await;
        solved.map_err(|e| match progress.failure() {
            Some(step) => step.to_string(),
            // No step failed: the connection itself went (the engine stopped or vanished).
            None => format!(
                "the connection to its engine was lost in the middle of the build ({})",
                solve::grpc_message(&e)
            ),
        })?;
        self.times.lock().expect("not poisoned").push((
            self.index,
            self.platforms.clone(),
            progress.times().to_vec(),
        ));
        on_event(BuildEvent::Progress(format!(
            "{prefix}pushing {} by digest",
            nodes::list(&self.platforms)
        )));
        self.push_by_digest(docker).await
    }

    /// Reads the result out of the node's engine and pushes it by digest.
    async fn push_by_digest(
        &self,
        docker: &Docker,
    ) -> std::result::Result<Vec<Descriptor>, String> {
        let mut archive = Vec::new();
        let mut stream = docker.export_image(&self.temporary());
        while let Some(chunk) = stream.next().await {
            archive.extend_from_slice(&chunk.map_err(|e| {
                format!(
                    "its engine did not hand over the result: {}",
                    crate::cause::root_cause(&e)
                )
            })?);
        }
        push_layout(self.registry, &self.request.tag, &archive).await
    }
}

/// Pushes every blob and manifest of a node's result (an image layout) by digest; the
/// tag is not touched. Returns the descriptors for the index.
async fn push_layout(
    registry: &Registry,
    tag: &oci_client::Reference,
    archive: &[u8],
) -> std::result::Result<Vec<Descriptor>, String> {
    let layout = Layout::read(archive).map_err(|e| format!("its result: {e}"))?;
    let images = layout.images().map_err(|e| format!("its result: {e}"))?;
    let mut descriptors = Vec::new();
    for built in images {
        for digest in &built.blobs {
            registry
                .push_blob(tag, layout.blobs[digest].clone())
                .await
                .map_err(|e| e.to_string())?;
        }
        let digest = built.descriptor.digest().to_string();
        registry
            .push_manifest(
                &tag.clone_with_digest(digest),
                built.manifest.clone(),
                built.descriptor.media_type().as_ref(),
            )
            .await
            .map_err(|e| e.to_string())?;
        descriptors.push(for_index(built.descriptor, &layout, &built.blobs[0])?);
    }
    Ok(descriptors)
}

/// The descriptor as the index lists it: the platform (from the config when the layout
/// did not say), and only the annotations that tie an attestation to its image (not the
/// node's temporary name).
fn for_index(
    mut descriptor: Descriptor,
    layout: &Layout,
    config: &str,
) -> std::result::Result<Descriptor, String> {
    let annotations = descriptor.annotations().clone().map(|all| {
        all.into_iter()
            .filter(|(k, _)| k.starts_with("vnd.docker.reference."))
            .collect::<std::collections::HashMap<_, _>>()
    });
    descriptor.set_annotations(annotations.filter(|a| !a.is_empty()));
    if descriptor.platform().is_none() {
        let config: oci_spec::image::ImageConfiguration =
            serde_json::from_slice(&layout.blobs[config])
                .map_err(|e| format!("its result's config: {e}"))?;
        let mut platform = oci_spec::image::PlatformBuilder::default()
            .architecture(config.architecture().clone())
            .os(config.os().clone());
        if let Some(variant) = config.variant() {
            platform = platform.variant(variant.clone());
        }
        descriptor.set_platform(platform.build().ok());
    }
    if descriptor.media_type() == &MediaType::ImageIndex {
        return Err("its result nests an index in an index".into());
    }
    Ok(descriptor)
}
