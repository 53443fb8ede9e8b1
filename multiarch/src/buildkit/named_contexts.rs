//! `--build-context NAME=DIR` folders for BuildKit, which reads them as images
//! (`docker-image://`): imported into the engine, or pushed to the local registry a
//! BuildKit daemon pushes to ([`crate::buildkit::context_image`]); removed after the build,
//! and after a build cut short.

use bollard::Docker;
use futures_util::StreamExt;

use crate::buildkit::BuildError;
use crate::buildkit::request::{BuildRequest, NamedDir};
use crate::buildkit::{context, context_image};
use crate::engine::EngineError;
use crate::engine::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, session_id};
use crate::error::{Error, Result};
use crate::oci::reference::is_local;
use crate::registry::Registry;

/// `--build-context NAME=DIR` folders, as images BuildKit reads with `docker-image://`
/// (bollard's session uploads only the main context): imported into the engine for its
/// own BuildKit, labelled; pushed to the local target registry for a BuildKit container
/// ([`context_image`]). Either way they are removed after the build.
#[derive(Default)]
pub(crate) struct NamedContexts {
    pub(crate) images: Vec<(String, String)>,
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
