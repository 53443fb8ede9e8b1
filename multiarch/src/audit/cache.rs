//! What an audit keeps on disk between runs, by digest: manifests, the platform a single
//! image's config names, and the static check's verdict for each platform's image. A
//! manifest digest fixes its config and layers, so a verdict once reached holds for it
//! (for this version of the kit, which names the folder): a second audit of the same fleet
//! asks the registries only `HEAD`s, and downloads nothing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::verify::Check;
use crate::verify::userland::PageSize;

/// The static check's verdict for one platform's image, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The platform the image's config names (`None`: none valid).
    pub config: Option<String>,
    /// The verdict.
    pub check: Check,
    /// The largest kernel page size its programs start on.
    pub page_size: Option<PageSize>,
}

/// The audit's cache folder.
#[derive(Debug, Clone)]
pub struct Cache {
    root: Option<PathBuf>,
}

impl Cache {
    /// A cache in `root` (`None`: nothing is kept, `--no-cache`).
    pub fn at(root: Option<PathBuf>) -> Self {
        Self { root }
    }

    fn file(&self, parts: &[&str]) -> Option<PathBuf> {
        let mut path = self.root.clone()?;
        for part in parts {
            path.push(part);
        }
        Some(path)
    }

    /// A manifest's bytes, when kept and still matching `digest`.
    pub fn manifest(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.file(&["manifests", &slug(digest)])?).ok()?;
        (crate::registry::sha256_digest(&bytes) == digest).then_some(bytes)
    }

    /// Keeps a manifest's bytes.
    pub fn keep_manifest(&self, digest: &str, bytes: &[u8]) {
        if let Some(path) = self.file(&["manifests", &slug(digest)]) {
            write_atomically(&path, bytes);
        }
    }

    /// The platform a single image's config names, when kept.
    pub fn config_platform(&self, manifest: &str) -> Option<String> {
        std::fs::read_to_string(self.file(&["configs", &slug(manifest)])?).ok()
    }

    /// Keeps the platform a single image's config names.
    pub fn keep_config_platform(&self, manifest: &str, platform: &str) {
        if let Some(path) = self.file(&["configs", &slug(manifest)]) {
            write_atomically(&path, platform.as_bytes());
        }
    }

    fn verdict_file(&self, manifest: &str, platform: &str, scope: &str) -> Option<PathBuf> {
        self.file(&[
            "verdicts",
            env!("CARGO_PKG_VERSION"),
            scope,
            &slug(manifest),
            &platform.replace('/', "_"),
        ])
    }

    /// The verdict for `platform`'s image `manifest`, read in `scope`, when kept.
    pub fn verdict(&self, manifest: &str, platform: &str, scope: &str) -> Option<Verdict> {
        let bytes = std::fs::read(self.verdict_file(manifest, platform, scope)?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keeps a verdict; one the registry's failure decided (not the image) is not kept.
    pub fn keep_verdict(&self, manifest: &str, platform: &str, scope: &str, verdict: &Verdict) {
        if let Some(path) = self.verdict_file(manifest, platform, scope) {
            let bytes = serde_json::to_vec(verdict).expect("a verdict serialises");
            write_atomically(&path, &bytes);
        }
    }
}

/// `sha256:abc` as a file name: `sha256-abc`.
fn slug(digest: &str) -> String {
    digest.replace(':', "-")
}

/// Written beside and renamed, so that a reader never sees half a file; a cache that
/// cannot be written is only a slower next run.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(mut file) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write;
        if file.write_all(bytes).is_ok() {
            let _ = file.persist(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_manifest_comes_back_only_under_its_own_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(Some(dir.path().to_path_buf()));
        let bytes = br#"{"schemaVersion":2}"#;
        let digest = crate::registry::sha256_digest(bytes);
        cache.keep_manifest(&digest, bytes);
        assert_eq!(cache.manifest(&digest).as_deref(), Some(&bytes[..]));
        // A file that was altered no longer matches its name.
        let path = dir.path().join("manifests").join(slug(&digest));
        std::fs::write(&path, b"{}").unwrap();
        assert_eq!(cache.manifest(&digest), None);
    }

    #[test]
    fn a_verdict_is_kept_per_manifest_platform_and_scope() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(Some(dir.path().to_path_buf()));
        let verdict = Verdict {
            config: Some("linux/arm64".into()),
            check: Check::Pass("/app: AArch64".into()),
            page_size: Some(PageSize {
                bytes: 65536,
                limited_by: "/app".into(),
            }),
        };
        cache.keep_verdict("sha256:aa", "linux/arm64", "userland", &verdict);
        assert_eq!(
            cache.verdict("sha256:aa", "linux/arm64", "userland"),
            Some(verdict)
        );
        assert_eq!(cache.verdict("sha256:aa", "linux/amd64", "userland"), None);
        assert_eq!(
            cache.verdict("sha256:aa", "linux/arm64", "entrypoint"),
            None
        );
        assert_eq!(
            Cache::at(None).verdict("sha256:aa", "linux/arm64", "userland"),
            None
        );
    }
}
