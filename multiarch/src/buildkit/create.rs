//! Creating a builder the way `builder create` and `demo` both need it: buildkitd.toml
//! read and checked, the name checked as buildx checks it, and the registry it will push
//! to checked against the way the builder would speak to it, all before anything is
//! created.

use std::path::PathBuf;

use bollard::Docker;

use crate::buildkit::builder::{Builder, Builders, ContainerBuilder, Created};
use crate::buildkit::buildkit_config::{
    BuildkitConfig, BuildkitConfigError, DEFAULT_BUILDKITD_TOML,
};
use crate::buildkit::driver::{container, engine};
use crate::buildkit::{buildx_store, image};
use crate::error::Result;

/// The builder to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The engine's own BuildKit.
    Engine {
        /// Its name.
        name: String,
        /// Its buildkitd.toml (`None`: ./buildkitd.toml, else built in).
        config: Option<PathBuf>,
    },
    /// A buildx docker-container builder.
    Container {
        /// Its name.
        name: String,
        /// The BuildKit image (`None`: [`container::default_image`]).
        image: Option<String>,
        /// Its buildkitd.toml (`None`: ./buildkitd.toml, else built in).
        config: Option<PathBuf>,
    },
}

/// Creates `wanted` (or finds it there), once it is known to be able to push to
/// `registry`. Returns the builder and whether it is new.
///
/// # Errors
/// [`Error::Build(BuildError::BuildkitConfig)`] for a config that does not parse,
/// [`Error::Build(BuildError::BuildxStore)`] for a name buildx would not load,
/// [`Error::Build(BuildError::RegistryNotHttp)`], and whatever creating it meets.
pub async fn create(
    docker: &Docker,
    builders: &Builders,
    wanted: Wanted,
    registry: &str,
) -> Result<(Builder, Created)> {
    let (Wanted::Engine { config, .. } | Wanted::Container { config, .. }) = &wanted;
    let path = crate::buildkit::buildkit_config::config_path(config.clone());
    let text = match &path {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|source| BuildkitConfigError::Read {
                path: path.display().to_string(),
                source,
            })?
        }
        None => DEFAULT_BUILDKITD_TOML.to_string(),
    };
    let origin = path
        .as_ref()
        .map_or("buildkitd.toml (built in)".into(), |p| {
            p.display().to_string()
        });
    let buildkit = BuildkitConfig::parse(&text, &origin)?;
    let http = image::answers_plain_http(registry).await;
    match wanted {
        Wanted::Engine { name, .. } => {
            let config = path
                .as_ref()
                .map(std::fs::canonicalize)
                .transpose()
                .map_err(|source| BuildkitConfigError::Read {
                    path: origin.clone(),
                    source,
                })?;
            let builder = Builder::Engine {
                name: name.clone(),
                config: config.clone(),
            };
            image::check_registry(Some(docker), &builder, &buildkit, registry, http).await?;
            let created = engine::create(docker, builders, &name, config).await?;
            Ok((builder, created))
        }
        Wanted::Container { name, image, .. } => {
            buildx_store::check_name(&name)?;
            let image = match image {
                Some(image) => image,
                None => container::default_image(docker).await,
            };
            let wanted = ContainerBuilder::new(
                &name,
                &crate::engine::endpoint::local_endpoint(),
                &image,
                text.into_bytes(),
            );
            let builder = Builder::Container(wanted.clone());
            image::check_registry(Some(docker), &builder, &buildkit, registry, http).await?;
            let created = container::create(builders, wanted).await?;
            Ok((builder, created))
        }
    }
}
