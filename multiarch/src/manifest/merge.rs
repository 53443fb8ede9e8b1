//! The merge of a release: the digests its per-platform jobs pushed by digest (one file
//! named by each digest's hex in a folder, as Docker's documentation writes them, or one
//! digest a line), made into one index, and refused, before any tag is written, when the
//! set is not what a release is: a digest of another repository (an artifact glob that
//! matched a sibling image's digests), two digests of one platform, a platform missing or
//! one not expected.

use std::path::Path;

use oci_client::Reference;

use multiarch_platform::Platform;

use super::error::MergeError;
use super::{Picked, pick};
use crate::error::{Error, Result};
use crate::registry::{Registry, RegistryError};

/// The digests in `path`: a folder of files named by each digest (`sha256:` left out, as
/// `touch "$dir/${digest#sha256:}"` names them), or a file of one digest a line.
///
/// # Errors
/// [`MergeError::Unreadable`], [`MergeError::NotADigest`], [`MergeError::Empty`].
pub fn read_digests(path: &Path) -> std::result::Result<Vec<String>, MergeError> {
    let shown = path.display().to_string();
    let unreadable = |source| MergeError::Unreadable {
        path: shown.clone(),
        source,
    };
    let texts: Vec<String> = if path.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .map_err(unreadable)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect();
        names.sort();
        names
    } else {
        std::fs::read_to_string(path)
            .map_err(unreadable)?
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let mut digests = Vec::new();
    for text in texts {
        let hex = text
            .strip_prefix("sha256:")
            .or_else(|| text.strip_prefix("sha256-"))
            .unwrap_or(&text);
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MergeError::NotADigest { path: shown, text });
        }
        let digest = format!("sha256:{}", hex.to_ascii_lowercase());
        if !digests.contains(&digest) {
            digests.push(digest);
        }
    }
    if digests.is_empty() {
        return Err(MergeError::Empty { path: shown });
    }
    Ok(digests)
}

/// Each of `digests`, found in `target`'s repository, with its platform and attestations:
/// one per platform, and exactly `expect`'s platforms when given.
///
/// # Errors
/// A [`MergeError`] (as [`Error::Merge`]) naming the digest and what it is; the registry's
/// errors as they come.
pub async fn pick_release(
    registry: &Registry,
    target: &Reference,
    digests: &[String],
    expect: Option<&[Platform]>,
) -> Result<Vec<Picked>> {
    let repository = format!("{}/{}", target.resolve_registry(), target.repository());
    let mut picked: Vec<Picked> = Vec::new();
    for digest in digests {
        let at = target.clone_with_digest(digest.clone());
        let offers = match pick(registry, &at).await {
            Ok(offers) => offers,
            Err(Error::Registry(RegistryError::NotFound { .. })) => {
                return Err(Error::from(MergeError::NotInRepository {
                    digest: digest.clone(),
                    repository,
                }));
            }
            Err(e) => return Err(e),
        };
        if offers.len() != 1 {
            return Err(Error::from(MergeError::SeveralPlatforms {
                digest: digest.clone(),
                repository,
                count: offers.len(),
                platforms: offers
                    .iter()
                    .map(|o| o.platform.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }));
        }
        let offer = offers.into_iter().next().expect("one offer");
        if let Some(first) = picked.iter().find(|p| p.platform == offer.platform) {
            return Err(Error::from(MergeError::Twice {
                platform: offer.platform,
                first: first.source.digest().unwrap_or_default().to_string(),
                second: digest.clone(),
            }));
        }
        if let Some(expected) = expect {
            if !expected.contains(&offer.platform) {
                return Err(Error::from(MergeError::Unexpected {
                    platform: offer.platform,
                    digest: digest.clone(),
                }));
            }
        }
        picked.push(offer);
    }
    for platform in expect.unwrap_or_default() {
        if !picked.iter().any(|p| &p.platform == platform) {
            return Err(Error::from(MergeError::Missing {
                platform: platform.clone(),
                found: picked
                    .iter()
                    .map(|p| p.platform.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }));
        }
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    #[test]
    fn digests_are_read_from_a_folder_of_names_or_a_file_of_lines() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("digests");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join(A), "").unwrap();
        std::fs::write(folder.join(format!("sha256-{B}")), "").unwrap();
        assert_eq!(
            read_digests(&folder).unwrap(),
            [format!("sha256:{A}"), format!("sha256:{B}")]
        );
        let file = dir.path().join("digests.txt");
        std::fs::write(&file, format!("# amd64\nsha256:{A}\n\n{B}\nsha256:{A}\n")).unwrap();
        assert_eq!(
            read_digests(&file).unwrap(),
            [format!("sha256:{A}"), format!("sha256:{B}")]
        );
        std::fs::write(&file, "latest\n").unwrap();
        assert!(
            matches!(read_digests(&file), Err(MergeError::NotADigest { text, .. }) if text == "latest")
        );
        let empty = dir.path().join("none");
        std::fs::create_dir(&empty).unwrap();
        assert!(matches!(
            read_digests(&empty),
            Err(MergeError::Empty { .. })
        ));
    }
}
