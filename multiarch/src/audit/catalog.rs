//! `--registry HOST[/PREFIX]`: every repository of a registry's namespace, by the registry's
//! catalog, and each of its tags (`--tags GLOB` to keep some), as references to audit.

use oci_client::Reference;

use super::sources::{Found, Origin};
use crate::registry::{Registry, RegistryError};

/// Repositories and tags asked of the catalog per request.
const PAGE: usize = 100;

/// The references of every tag of every repository under `namespace` (`HOST` or
/// `HOST/PREFIX`), whose tag `tags` matches when given.
///
/// # Errors
/// The registry cannot be reached, or refuses its catalog or a repository's tags.
pub async fn references(
    registry: &Registry,
    namespace: &str,
    tags: Option<&globset::GlobMatcher>,
) -> Result<Vec<Found>, RegistryError> {
    let (host, prefix) = namespace.split_once('/').unwrap_or((namespace, ""));
    let prefix = prefix.trim_end_matches('/');
    let anchor = Reference::with_tag(host.to_string(), "catalog".into(), "latest".into());
    let mut found = Vec::new();
    for repository in registry.catalog(&anchor, PAGE).await? {
        let under = prefix.is_empty()
            || repository == prefix
            || repository.starts_with(&format!("{prefix}/"));
        if !under {
            continue;
        }
        let named = Reference::with_tag(host.to_string(), repository.clone(), "latest".into());
        for tag in registry.tags(&named, PAGE).await? {
            if tags.is_none_or(|glob| glob.is_match(&tag)) {
                found.push(Found {
                    reference: format!("{host}/{repository}:{tag}"),
                    origin: Origin::Catalog {
                        namespace: namespace.to_string(),
                    },
                    pulled_for: None,
                });
            }
        }
    }
    Ok(found)
}
