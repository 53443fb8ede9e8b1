//! Packing a build context as the Docker CLI does: a tar of the folder without what
//! `.dockerignore` excludes, and with the Dockerfile always in it.
//!
//! `.dockerignore` patterns are relative to the context's root (`target` means the root's
//! `target` only, unlike `.gitignore`), with `**`, `*`, `?` and `!` exceptions; they are
//! anchored here and matched by the `ignore` crate's gitignore engine.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::buildkit::BuildError;
use crate::error::{Error, Result};

/// Where a Dockerfile from outside the context goes inside the archive.
const OUTSIDE_DOCKERFILE: &str = ".multiarch/Dockerfile";

/// A packed context.
#[derive(Debug)]
pub struct Packed {
    /// The tar archive, uncompressed.
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside the archive.
    pub dockerfile: String,
    /// How many files it holds.
    pub files: usize,
}

/// Packs `context`, with `dockerfile` (default `context/Dockerfile`).
///
/// # Errors
/// [`Error::Build(BuildError::Context)`] when a file cannot be read or `.dockerignore` is invalid.
pub(crate) fn pack(context: &Path, dockerfile: Option<&Path>) -> Result<Packed> {
    let fail = |reason: String| {
        Error::Build(BuildError::Context {
            path: context.display().to_string(),
            source: reason.into(),
        })
    };
    let ignore = dockerignore(context).map_err(fail)?;
    let mut archive = tar::Builder::new(Vec::new());
    // BuildKit rejects GNU sparse entries ("unhandled tar header type 83").
    archive.sparse(false);
    archive.follow_symlinks(false);
    let mut files = 0;
    add_folder(&mut archive, context, Path::new(""), &ignore, &mut files).map_err(fail)?;

    let dockerfile = dockerfile.map_or_else(|| context.join("Dockerfile"), Path::to_path_buf);
    let inside = absolute(&dockerfile)
        .ok()
        .zip(absolute(context).ok())
        .and_then(|(file, root)| file.strip_prefix(&root).ok().map(Path::to_path_buf));
    let name = match inside {
        // Included unless .dockerignore left it out; BuildKit needs it either way.
        Some(relative) if !ignore.excludes(&relative, false) => relative,
        Some(_) | None => {
            let name = PathBuf::from(OUTSIDE_DOCKERFILE);
            archive
                .append_path_with_name(&dockerfile, &name)
                .map_err(|e| fail(format!("cannot add `{}`: {e}", dockerfile.display())))?;
            files += 1;
            name
        }
    };
    let tar = archive
        .into_inner()
        .map_err(|e| fail(format!("cannot finish the archive: {e}")))?;
    Ok(Packed {
        tar,
        dockerfile: name.to_string_lossy().into_owned(),
        files,
    })
}

/// Packs a folder whole (a named context), with paths relative to it.
///
/// # Errors
/// [`Error::Build(BuildError::Context)`] when a file cannot be read.
pub(crate) fn pack_folder(folder: &Path) -> Result<Vec<u8>> {
    let fail = |reason: String| {
        Error::Build(BuildError::Context {
            path: folder.display().to_string(),
            source: reason.into(),
        })
    };
    let mut archive = tar::Builder::new(Vec::new());
    archive.sparse(false);
    archive.follow_symlinks(false);
    let mut files = 0;
    add_folder(
        &mut archive,
        folder,
        Path::new(""),
        &DockerIgnore::none(),
        &mut files,
    )
    .map_err(fail)?;
    archive
        .into_inner()
        .map_err(|e| fail(format!("cannot finish the archive: {e}")))
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(path)
}

/// `.dockerignore` as a matcher, with its exceptions kept to decide which excluded
/// folders must still be walked.
struct DockerIgnore {
    matcher: Gitignore,
    /// `!` patterns, without the `!` and the leading `/`.
    exceptions: Vec<String>,
}

impl DockerIgnore {
    fn none() -> Self {
        Self {
            matcher: Gitignore::empty(),
            exceptions: Vec::new(),
        }
    }

    fn excludes(&self, relative: &Path, is_dir: bool) -> bool {
        self.matcher
            .matched_path_or_any_parents(relative, is_dir)
            .is_ignore()
    }

    /// Whether an exception may re-include something inside the excluded `folder`, as
    /// Docker decides it: by the exception's leading path, or a wildcard in it.
    fn may_reinclude_inside(&self, folder: &Path) -> bool {
        let prefix = format!("{}/", folder.to_string_lossy());
        self.exceptions.iter().any(|pattern| {
            pattern.starts_with(&prefix)
                || pattern
                    .split('/')
                    .next()
                    .is_some_and(|first| first.contains(['*', '?', '[']))
        })
    }
}

/// The context's `.dockerignore`; one that excludes nothing when there is none.
fn dockerignore(context: &Path) -> std::result::Result<DockerIgnore, String> {
    let path = context.join(".dockerignore");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(DockerIgnore::none());
    };
    let mut exceptions = Vec::new();
    let mut builder = GitignoreBuilder::new(context);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        // Docker cleans each pattern and matches it from the root.
        let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
        if negated {
            exceptions.push(pattern.to_string());
        }
        let anchored = format!("{}/{pattern}", if negated { "!" } else { "" });
        builder
            .add_line(None, &anchored)
            .map_err(|e| format!("`{}`: `{line}` is not a valid pattern: {e}", path.display()))?;
    }
    let matcher = builder
        .build()
        .map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok(DockerIgnore {
        matcher,
        exceptions,
    })
}

fn add_folder(
    archive: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    relative: &Path,
    ignore: &DockerIgnore,
    files: &mut usize,
) -> std::result::Result<(), String> {
    let folder = root.join(relative);
    let mut entries: Vec<_> = std::fs::read_dir(&folder)
        .map_err(|e| format!("cannot read `{}`: {e}", folder.display()))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| format!("cannot read `{}`: {e}", folder.display()))?;
    // A stable order, so that the same folder packs to the same bytes.
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = relative.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        // An excluded folder may still hold an exception (`!target/keep`): look inside.
        let excluded = ignore.excludes(&path, kind.is_dir());
        if kind.is_dir() {
            if excluded && !ignore.may_reinclude_inside(&path) {
                continue;
            }
            if !excluded {
                archive
                    .append_path_with_name(entry.path(), &path)
                    .map_err(|e| format!("cannot add `{}`: {e}", path.display()))?;
            }
            add_folder(archive, root, &path, ignore, files)?;
        } else if !excluded {
            archive
                .append_path_with_name(entry.path(), &path)
                .map_err(|e| format!("cannot add `{}`: {e}", path.display()))?;
            *files += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar);
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn dockerignore_patterns_are_anchored_at_the_root_with_exceptions() {
        let dir = tree(&[
            (
                ".dockerignore",
                "# build output\ntarget\n*.log\n!keep.log\n/secret.txt\n",
            ),
            ("Dockerfile", "FROM scratch\n"),
            ("target/debug/big", "x"),
            ("src/target/kept.rs", "x"),
            ("a.log", "x"),
            ("keep.log", "x"),
            ("secret.txt", "x"),
            ("src/main.rs", "x"),
        ]);
        let packed = pack(dir.path(), None).unwrap();
        assert_eq!(packed.dockerfile, "Dockerfile");
        assert_eq!(
            names(&packed.tar),
            [
                ".dockerignore",
                "Dockerfile",
                "keep.log",
                "src",
                "src/main.rs",
                "src/target",
                "src/target/kept.rs"
            ]
        );
        assert_eq!(packed.files, 5);
    }

    #[test]
    fn an_allow_list_walks_only_into_folders_it_reopens() {
        let dir = tree(&[
            (
                ".dockerignore",
                "*\n!Cargo.toml\n!src\n!multiarch/Cargo.toml\n",
            ),
            ("Dockerfile", "FROM scratch\n"),
            ("Cargo.toml", "x"),
            ("src/main.rs", "x"),
            ("multiarch/Cargo.toml", "x"),
            ("multiarch/src/main.rs", "x"),
            ("fuzz/target/huge", "x"),
        ]);
        let packed = pack(dir.path(), None).unwrap();
        assert_eq!(
            names(&packed.tar),
            [
                OUTSIDE_DOCKERFILE,
                "Cargo.toml",
                "multiarch/Cargo.toml",
                "src",
                "src/main.rs"
            ]
        );
    }

    #[test]
    fn a_dockerfile_outside_or_ignored_is_added_under_its_own_name() {
        let dir = tree(&[
            (".dockerignore", "Dockerfile\n"),
            ("Dockerfile", "FROM scratch\n"),
        ]);
        let packed = pack(dir.path(), None).unwrap();
        assert_eq!(packed.dockerfile, OUTSIDE_DOCKERFILE);
        assert_eq!(names(&packed.tar), [".dockerignore", OUTSIDE_DOCKERFILE]);

        let elsewhere = tree(&[("build.Dockerfile", "FROM scratch\n")]);
        let packed = pack(dir.path(), Some(&elsewhere.path().join("build.Dockerfile"))).unwrap();
        assert_eq!(packed.dockerfile, OUTSIDE_DOCKERFILE);
    }

    #[test]
    fn a_named_context_is_packed_whole() {
        let dir = tree(&[("amd64/arch-server", "x"), ("arm64/arch-server", "y")]);
        assert_eq!(
            names(&pack_folder(dir.path()).unwrap()),
            ["amd64", "amd64/arch-server", "arm64", "arm64/arch-server"]
        );
    }
}
