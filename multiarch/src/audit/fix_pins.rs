//! `--fix-pins`: a digest pin of one platform's manifest, rewritten in place to the digest
//! of the index its tag names, so every node pulls its own platform again. Only the digest
//! on the line the audit found it on changes; the rest of the file stays byte for byte, and
//! its mode. Each file is written beside itself and renamed over, and a file that changed
//! since the audit read it is refused, not merged.

use std::collections::BTreeMap;
use std::path::Path;

use super::report::{Finding, Report};

/// One pin to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The file.
    pub path: String,
    /// Its line, from 1.
    pub line: usize,
    /// The digest pinned now: one platform's manifest.
    pub from: String,
    /// The index's.
    pub to: String,
}

/// Why a file was not rewritten.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// It changed since the audit read it.
    #[error("`{path}` changed since the audit read it: run the audit again")]
    Changed {
        /// The file.
        path: String,
    },
    /// The pin is not on its line any more.
    #[error("`{path}` line {line} no longer holds `{digest}`")]
    Moved {
        /// The file.
        path: String,
        /// The line.
        line: usize,
        /// The digest looked for.
        digest: String,
    },
    /// Reading or writing it failed.
    #[error("cannot rewrite `{path}`")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The pins `report` found that a file holds, with the index digest to pin instead.
pub fn pins(report: &Report) -> Vec<Pin> {
    let mut pins = Vec::new();
    for image in &report.images {
        let Some(to) = image.platforms.iter().find_map(|c| {
            (c.finding == Finding::PinnedToOnePlatform)
                .then(|| c.pin_index.clone())
                .flatten()
        }) else {
            continue;
        };
        let Some(from) = image.digest.clone() else {
            continue;
        };
        for written in &image.references {
            if let Some((path, line)) = written.origin.in_file() {
                let pin = Pin {
                    path: path.to_string(),
                    line,
                    from: from.clone(),
                    to: to.clone(),
                };
                if path != "-" && written.reference.contains(&from) && !pins.contains(&pin) {
                    pins.push(pin);
                }
            }
        }
    }
    pins
}

/// Rewrites every pin of `pins`, file by file; `read` holds each file's digest as the
/// audit read it. A file that cannot be rewritten is left whole, and said so; the others
/// are still rewritten.
pub fn apply(
    pins: &[Pin],
    read: &BTreeMap<String, String>,
) -> Vec<(String, Result<usize, FixError>)> {
    let mut by_file: BTreeMap<&str, Vec<&Pin>> = BTreeMap::new();
    for pin in pins {
        by_file.entry(pin.path.as_str()).or_default().push(pin);
    }
    by_file
        .into_iter()
        .map(|(path, pins)| {
            (
                path.to_string(),
                rewrite(Path::new(path), &pins, read.get(path)),
            )
        })
        .collect()
}

fn rewrite(path: &Path, pins: &[&Pin], read_as: Option<&String>) -> Result<usize, FixError> {
    let name = path.display().to_string();
    let io = |source| FixError::Io {
        path: name.clone(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    if read_as != Some(&crate::registry::sha256_digest(text.as_bytes())) {
        return Err(FixError::Changed { path: name });
    }
    // Split keeping each line's own ending, so that the file's line endings stay.
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    for pin in pins {
        let line = lines
            .get_mut(pin.line.wrapping_sub(1))
            .filter(|l| l.contains(&pin.from))
            .ok_or_else(|| FixError::Moved {
                path: name.clone(),
                line: pin.line,
                digest: pin.from.clone(),
            })?;
        *line = line.replace(&pin.from, &pin.to);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut beside = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut beside, lines.concat().as_bytes()).map_err(io)?;
    let mode = std::fs::metadata(path).map_err(io)?.permissions();
    std::fs::set_permissions(beside.path(), mode).map_err(io)?;
    beside.persist(path).map_err(|e| io(e.error))?;
    Ok(pins.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const CHILD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const INDEX: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn pin(path: &Path, line: usize) -> Pin {
        Pin {
            path: path.display().to_string(),
            line,
            from: CHILD.into(),
            to: INDEX.into(),
        }
    }

    #[test]
    fn the_pin_is_rewritten_on_its_line_alone_keeping_the_files_bytes_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.yaml");
        let text = format!(
            "# keep: {CHILD}\r\nspec:\r\n  containers:\r\n    - image: \"app:1@{CHILD}\"   # pinned\r\n"
        );
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let read = BTreeMap::from([(
            path.display().to_string(),
            crate::registry::sha256_digest(text.as_bytes()),
        )]);
        let done = apply(&[pin(&path, 4)], &read);
        assert!(matches!(done[0].1, Ok(1)), "{done:?}");
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            text.replace(&format!("app:1@{CHILD}"), &format!("app:1@{INDEX}"))
        );
        assert!(
            after.starts_with(&format!("# keep: {CHILD}\r\n")),
            "other lines stay"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn a_file_that_changed_since_it_was_read_is_refused_and_left_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yml");
        std::fs::write(&path, format!("image: app@{CHILD}\n")).unwrap();
        let read = BTreeMap::from([(path.display().to_string(), "sha256:before".to_string())]);
        let done = apply(&[pin(&path, 1)], &read);
        assert!(
            matches!(done[0].1, Err(FixError::Changed { .. })),
            "{done:?}"
        );
        assert!(std::fs::read_to_string(&path).unwrap().contains(CHILD));
    }
}
