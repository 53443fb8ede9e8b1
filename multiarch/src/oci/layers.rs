//! Finding a file in an image's layers without unpacking them to disk.
//!
//! Layers are tar archives (gzip-compressed or not) applied bottom to top; an upper
//! layer's file, or its whiteout (`.wh.NAME`), hides a lower one. Symbolic and hard
//! links are followed, so `/usr/local/bin/app -> /app` finds `/app`. A layer is held in
//! memory when small and in a temporary file when large, and read as a stream either
//! way, so that a multi-GiB layer costs disk, not memory.

use std::io::Read;

use flate2::read::GzDecoder;

/// How many bytes of a found file are kept: enough for any ELF header or `#!` line.
pub(crate) const HEAD_BYTES: usize = 4096;

/// One layer: its media type and its (compressed) bytes, in memory or in a file.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `application/vnd.oci.image.layer.v1.tar+gzip` and friends.
    pub media_type: String,
    content: Content,
}

#[derive(Debug, Clone)]
enum Content {
    /// Shared: a layer cache hands the same layer to many images.
    Bytes(std::sync::Arc<[u8]>),
    /// A temporary file, removed when the last clone of the layer goes.
    File(std::sync::Arc<tempfile::NamedTempFile>),
}

impl Layer {
    /// A layer whose blob is in memory.
    pub fn in_memory(media_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            media_type: media_type.into(),
            content: Content::Bytes(bytes.into()),
        }
    }

    /// A layer whose blob is in a temporary file.
    pub(crate) fn on_disk(media_type: impl Into<String>, file: tempfile::NamedTempFile) -> Self {
        Self {
            media_type: media_type.into(),
            content: Content::File(std::sync::Arc::new(file)),
        }
    }

    /// The blob from its first byte.
    fn blob(&self) -> Result<Box<dyn Read + '_>, LayerError> {
        Ok(match &self.content {
            Content::Bytes(bytes) => Box::new(&bytes[..]),
            Content::File(file) => {
                Box::new(std::io::BufReader::new(file.reopen().map_err(|e| {
                    LayerError::Corrupt(format!("cannot read the layer back: {e}"))
                })?))
            }
        })
    }
}

/// Why the layers could not be searched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    /// A layer compression this tool does not read.
    #[error("layers of type `{0}` cannot be read (only tar and tar+gzip)")]
    Unsupported(String),
    /// The archive is damaged.
    #[error("a layer is not a valid tar archive: {0}")]
    Corrupt(String),
    /// Links that never end.
    #[error("`{0}` is a link loop")]
    LinkLoop(String),
}

enum Hit {
    File(Vec<u8>),
    Link(String),
    Whiteout,
}

/// The path as tar stores it: no leading `/` or `./`.
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The layer's tar stream, decompressed.
fn open(layer: &Layer) -> Result<tar::Archive<Box<dyn Read + '_>>, LayerError> {
    let media_type = layer.media_type.as_str();
    let reader: Box<dyn Read + '_> = if media_type.ends_with("+gzip")
        || media_type.ends_with(".gzip")
        || media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    {
        Box::new(GzDecoder::new(layer.blob()?))
    } else if media_type.ends_with(".tar") || media_type.ends_with("layer.v1.tar") {
        layer.blob()?
    } else {
        return Err(LayerError::Unsupported(media_type.to_string()));
    };
    Ok(tar::Archive::new(reader))
}

fn search(layer: &Layer, wanted: &str, limit: usize) -> Result<Option<Hit>, LayerError> {
    let (dir, name) = match wanted.rsplit_once('/') {
        Some((dir, name)) => (format!("{dir}/"), name),
        None => (String::new(), wanted),
    };
    let whiteout = format!("{dir}.wh.{name}");
    let mut archive = open(layer)?;
    let entries = archive
        .entries()
        .map_err(|e| LayerError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| LayerError::Corrupt(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| LayerError::Corrupt(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let path = normalise(&path);
        if path == whiteout {
            return Ok(Some(Hit::Whiteout));
        }
        if path != wanted {
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| LayerError::Corrupt(e.to_string()))?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            // A relative symlink is relative to its directory; a hard link names a
            // path from the archive's root.
            let resolved = if kind.is_symlink() && !target.starts_with('/') {
                normalise(&format!("{dir}{target}"))
            } else {
                normalise(&target)
            };
            return Ok(Some(Hit::Link(resolved)));
        }
        let mut head = Vec::with_capacity(limit.min(1 << 20));
        entry
            .by_ref()
            .take(limit as u64)
            .read_to_end(&mut head)
            .map_err(|e| LayerError::Corrupt(e.to_string()))?;
        return Ok(Some(Hit::File(head)));
    }
    Ok(None)
}

/// Finds `path` in the layers (last layer wins) and returns the path it resolved to
/// and the first [`HEAD_BYTES`] of the file, or `None` when no layer has it.
///
/// # Errors
/// A layer that cannot be read, or a link loop.
pub fn read_head(layers: &[Layer], path: &str) -> Result<Option<(String, Vec<u8>)>, LayerError> {
    read_file(layers, path, HEAD_BYTES)
}

/// As [`read_head`], with up to `limit` bytes of the file.
///
/// # Errors
/// A layer that cannot be read, or a link loop.
pub(crate) fn read_file(
    layers: &[Layer],
    path: &str,
    limit: usize,
) -> Result<Option<(String, Vec<u8>)>, LayerError> {
    let mut wanted = normalise(path);
    'follow: for _ in 0..16 {
        for layer in layers.iter().rev() {
            match search(layer, &wanted, limit)? {
                Some(Hit::File(head)) => return Ok(Some((format!("/{wanted}"), head))),
                Some(Hit::Link(target)) => {
                    wanted = target;
                    continue 'follow;
                }
                Some(Hit::Whiteout) => return Ok(None),
                None => {}
            }
        }
        // No layer holds the path itself: one of its folders may be a link, as `/lib64`
        // is `usr/lib64` in a merged-/usr Debian, where every loader is reached so.
        if let Some(through) = through_linked_folder(layers, &wanted)? {
            wanted = through;
            continue 'follow;
        }
        return Ok(None);
    }
    Err(LayerError::LinkLoop(format!("/{wanted}")))
}

/// `wanted` with its first folder that is a link replaced by the link's target, when
/// one is.
fn through_linked_folder(layers: &[Layer], wanted: &str) -> Result<Option<String>, LayerError> {
    let parts: Vec<&str> = wanted.split('/').collect();
    for end in 1..parts.len() {
        let folder = parts[..end].join("/");
        for layer in layers.iter().rev() {
            match search(layer, &folder, 0)? {
                Some(Hit::Link(target)) => {
                    let rest = parts[end..].join("/");
                    return Ok(Some(normalise(&format!("{target}/{rest}"))));
                }
                // The upper layer's folder (or its removal) is what the image holds.
                Some(Hit::File(_) | Hit::Whiteout) => break,
                None => {}
            }
        }
    }
    Ok(None)
}

/// Every regular file of the image's filesystem (upper layers win; whiteouts and opaque
/// directories hide lower ones) whose path `wanted` accepts, read up to `limit` bytes and
/// handed to `judge`; what `judge` returns for each file still visible, by path (`/usr/bin/ls`).
/// A hard link is judged as the file it links to.
///
/// # Errors
/// A layer that cannot be read.
pub(crate) fn judge_files<T: Clone>(
    layers: &[Layer],
    wanted: impl Fn(&str) -> bool,
    limit: usize,
    mut judge: impl FnMut(&str, &[u8]) -> Option<T>,
) -> Result<std::collections::BTreeMap<String, T>, LayerError> {
    let corrupt = |e: std::io::Error| LayerError::Corrupt(e.to_string());
    let mut visible = std::collections::BTreeMap::<String, T>::new();
    for layer in layers {
        // This layer's own entries (`None`: something that is not a judged file now
        // stands there) and what it hides below it.
        let mut own = std::collections::BTreeMap::<String, Option<T>>::new();
        let mut hidden = Vec::new();
        let mut archive = open(layer)?;
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let path = format!(
                "/{}",
                normalise(&entry.path().map_err(corrupt)?.to_string_lossy())
            );
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                hidden.push(format!("{dir}/"));
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                hidden.push(format!("{dir}/{gone}"));
                continue;
            }
            if !wanted(&path) {
                continue;
            }
            let kind = entry.header().entry_type();
            let judged = if kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .map(|t| format!("/{}", normalise(&t.to_string_lossy())));
                target.and_then(|t| match own.get(&t) {
                    Some(here) => here.clone(),
                    None => visible.get(&t).cloned(),
                })
            } else if kind.is_file() {
                let mut bytes = Vec::new();
                entry
                    .by_ref()
                    .take(limit as u64)
                    .read_to_end(&mut bytes)
                    .map_err(corrupt)?;
                judge(&path, &bytes)
            } else {
                None
            };
            own.insert(path, judged);
        }
        for gone in hidden {
            if let Some(dir) = gone.strip_suffix('/') {
                visible.retain(|path, _| !path.starts_with(&format!("{dir}/")));
            } else {
                visible.retain(|path, _| path != &gone && !path.starts_with(&format!("{gone}/")));
            }
        }
        for (path, judged) in own {
            match judged {
                Some(value) => visible.insert(path, value),
                None => visible.remove(&path),
            };
        }
    }
    Ok(visible)
}

/// Every path of the image's filesystem, as unpacking its layers would leave it (files,
/// directories and links; upper layers win, whiteouts and opaque directories hide what
/// lies below), absolute: `/usr/bin/ls`.
///
/// # Errors
/// A layer that cannot be read.
pub(crate) fn list_paths(
    layers: &[Layer],
) -> Result<std::collections::BTreeSet<String>, LayerError> {
    let corrupt = |e: std::io::Error| LayerError::Corrupt(e.to_string());
    let mut visible = std::collections::BTreeSet::new();
    for layer in layers {
        let mut own = Vec::new();
        let mut hidden = Vec::new();
        let mut archive = open(layer)?;
        for entry in archive.entries().map_err(corrupt)? {
            let entry = entry.map_err(corrupt)?;
            let path = normalise(&entry.path().map_err(corrupt)?.to_string_lossy());
            if path.is_empty() {
                continue;
            }
            let path = format!("/{path}");
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                hidden.push((dir.to_string(), false));
            } else if let Some(gone) = name.strip_prefix(".wh.") {
                hidden.push((format!("{dir}/{gone}"), true));
            } else {
                own.push(path);
            }
        }
        // A whiteout hides the path and what lies under it; an opaque directory only
        // what lay under it. Either hides the lower layers', not this layer's own.
        for (path, itself) in hidden {
            let under = format!("{path}/");
            let below: Vec<String> = visible
                .range(under.clone()..)
                .take_while(|p: &&String| p.starts_with(&under))
                .cloned()
                .collect();
            for gone in below {
                visible.remove(&gone);
            }
            if itself {
                visible.remove(&path);
            }
        }
        visible.extend(own);
    }
    Ok(visible)
}

/// The program a container of this config starts: the entrypoint's first word, else
/// the command's, looked up on the config's `PATH` when it has no `/`.
pub(crate) fn program_candidates(
    entrypoint: &[String],
    cmd: &[String],
    env: &[String],
) -> Vec<String> {
    let Some(program) = entrypoint.first().or_else(|| cmd.first()) else {
        return Vec::new();
    };
    if program.contains('/') {
        return vec![program.clone()];
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| format!("{}/{program}", dir.trim_end_matches('/')))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    enum Item<'a> {
        File(&'a str, &'a [u8]),
        Symlink(&'a str, &'a str),
    }

    fn layer(items: &[Item<'_>], gzip: bool) -> Layer {
        let mut builder = tar::Builder::new(Vec::new());
        for item in items {
            let mut header = tar::Header::new_gnu();
            match item {
                Item::File(path, data) => {
                    header.set_size(data.len() as u64);
                    header.set_mode(0o755);
                    header.set_cksum();
                    builder.append_data(&mut header, path, *data).unwrap();
                }
                Item::Symlink(path, target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
            }
        }
        let tar = builder.into_inner().unwrap();
        if gzip {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            std::io::Write::write_all(&mut encoder, &tar).unwrap();
            Layer::in_memory(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                encoder.finish().unwrap(),
            )
        } else {
            Layer::in_memory("application/vnd.oci.image.layer.v1.tar", tar)
        }
    }

    #[test]
    fn finds_a_file_in_a_gzip_layer() {
        let layers = [layer(&[Item::File("arch-server", b"\x7fELF binary")], true)];
        let (path, head) = read_head(&layers, "/arch-server").unwrap().unwrap();
        assert_eq!(path, "/arch-server");
        assert_eq!(head, b"\x7fELF binary");
    }

    #[test]
    fn the_upper_layer_wins_and_whiteouts_hide() {
        let lower = layer(
            &[Item::File("bin/app", b"old"), Item::File("bin/gone", b"x")],
            false,
        );
        let upper = layer(
            &[
                Item::File("bin/app", b"new"),
                Item::File("bin/.wh.gone", b""),
            ],
            true,
        );
        let layers = [lower, upper];
        assert_eq!(read_head(&layers, "/bin/app").unwrap().unwrap().1, b"new");
        assert_eq!(read_head(&layers, "/bin/gone").unwrap(), None);
        assert_eq!(read_head(&layers, "/bin/never").unwrap(), None);
    }

    #[test]
    fn a_layer_on_disk_reads_as_one_in_memory() {
        use std::io::Write;
        let in_memory = layer(&[Item::File("bin/app", b"\x7fELF on disk")], true);
        let Content::Bytes(bytes) = &in_memory.content else {
            panic!("built in memory")
        };
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let on_disk = Layer::on_disk(in_memory.media_type.clone(), file);
        let found = read_head(std::slice::from_ref(&on_disk), "/bin/app")
            .unwrap()
            .unwrap();
        assert_eq!(found.1, b"\x7fELF on disk");
        // Read again: each read starts from the first byte.
        assert_eq!(list_paths(&[on_disk]).unwrap().len(), 1);
    }

    #[test]
    fn the_merged_paths_are_what_unpacking_leaves() {
        let lower = layer(
            &[
                Item::File("etc/keep", b""),
                Item::File("etc/gone", b""),
                Item::File("var/cache/a/b", b""),
                Item::File("opt/old/x", b""),
            ],
            false,
        );
        let upper = layer(
            &[
                Item::File("etc/.wh.gone", b""),
                Item::File("var/.wh.cache", b""),
                Item::File("opt/old/.wh..wh..opq", b""),
                Item::File("opt/old/y", b""),
                Item::Symlink("usr/bin/sh", "busybox"),
            ],
            true,
        );
        let paths: Vec<String> = list_paths(&[lower, upper]).unwrap().into_iter().collect();
        assert_eq!(
            paths,
            ["/etc/keep", "/opt/old/y", "/usr/bin/sh"],
            "a whiteout hides a file and a tree, an opaque folder what lay under it"
        );
    }

    #[test]
    fn links_are_followed_across_layers() {
        let lower = layer(&[Item::File("opt/app/real", b"real")], true);
        let upper = layer(
            &[
                Item::Symlink("usr/local/bin/app", "../../../opt/app/real"),
                Item::Symlink("app", "/usr/local/bin/app"),
            ],
            true,
        );
        let (path, head) = read_head(&[lower, upper], "/app").unwrap().unwrap();
        assert_eq!(path, "/opt/app/real");
        assert_eq!(head, b"real");
    }

    #[test]
    fn a_path_through_a_linked_folder_is_found() {
        // Debian 13's merged /usr: /lib64 -> usr/lib64, and the loader a link in there.
        let base = layer(
            &[
                Item::Symlink("lib64", "usr/lib64"),
                Item::Symlink(
                    "usr/lib64/ld-linux-x86-64.so.2",
                    "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                ),
                Item::File(
                    "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                    b"\x7fELF ld",
                ),
            ],
            true,
        );
        let (path, head) = read_head(&[base], "/lib64/ld-linux-x86-64.so.2")
            .unwrap()
            .unwrap();
        assert_eq!(path, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        assert_eq!(head, b"\x7fELF ld");
        let empty = layer(&[Item::Symlink("lib64", "usr/lib64")], false);
        assert_eq!(read_head(&[empty], "/lib64/ld.so").unwrap(), None);
    }

    #[test]
    fn link_loops_and_bad_layers_are_errors() {
        let looping = layer(&[Item::Symlink("a", "b"), Item::Symlink("b", "a")], false);
        assert_eq!(
            read_head(&[looping], "/a").unwrap_err().to_string(),
            "`/a` is a link loop"
        );
        let zstd = Layer::in_memory("application/vnd.oci.image.layer.v1.tar+zstd", vec![]);
        assert!(matches!(
            read_head(&[zstd], "/a"),
            Err(LayerError::Unsupported(_))
        ));
        let corrupt = Layer::in_memory(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            b"not gzip at all".to_vec(),
        );
        assert!(matches!(
            read_head(&[corrupt], "/a"),
            Err(LayerError::Corrupt(_))
        ));
    }

    #[test]
    fn judged_files_are_what_the_merged_filesystem_shows() {
        let judge_all = |layers: &[Layer]| {
            judge_files(
                layers,
                |p| p.starts_with("/usr/bin/"),
                64,
                |_, bytes| Some(String::from_utf8_lossy(bytes).into_owned()),
            )
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>()
        };
        let lower = layer(
            &[
                Item::File("usr/bin/a", b"A"),
                Item::File("usr/bin/b", b"B"),
                Item::File("etc/passwd", b"root"),
            ],
            true,
        );
        let upper = layer(
            &[
                Item::File("usr/bin/.wh.a", b""),
                Item::File("usr/bin/c", b"C"),
                Item::Symlink("usr/bin/b", "c"),
            ],
            false,
        );
        assert_eq!(
            judge_all(&[lower.clone(), upper.clone()]),
            [("/usr/bin/c".to_string(), "C".to_string())]
        );
        let opaque = layer(
            &[
                Item::File("usr/bin/.wh..wh..opq", b""),
                Item::File("usr/bin/d", b"D"),
            ],
            true,
        );
        assert_eq!(
            judge_all(&[lower, opaque]),
            [("/usr/bin/d".to_string(), "D".to_string())]
        );
    }

    #[test]
    fn programs_are_looked_up_on_the_configured_path() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            program_candidates(&s(&["/arch-server"]), &[], &[]),
            s(&["/arch-server"])
        );
        assert_eq!(
            program_candidates(
                &[],
                &s(&["uvicorn", "app"]),
                &s(&["PATH=/venv/bin:/usr/bin"])
            ),
            s(&["/venv/bin/uvicorn", "/usr/bin/uvicorn"])
        );
        assert!(program_candidates(&[], &[], &[]).is_empty());
    }
}
