//! Every ELF file in the usual binary folders, not only the entrypoint's: a slot that
//! holds a whole foreign userland (an amd64 Debian in the arm64 entry, cloudposse/atmos#2931)
//! starts its entrypoint and then fails on the first program it calls.

use std::collections::BTreeMap;

use multiarch_platform::Platform;

use super::Check;
use crate::oci::layers::{self, Layer, LayerError};

/// Where images keep their programs.
pub(crate) const FOLDERS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// The largest file read whole (level notes and attributes lie past the header).
pub(crate) const MAX_BINARY: usize = 256 << 20;

/// How many misfits a failure names before it counts the rest.
const NAMED: usize = 3;

/// What the binary folders hold.
#[derive(Debug, Default)]
pub struct Userland {
    /// How many ELF files were judged.
    pub checked: usize,
    /// Why each file that cannot run on the platform cannot, by path.
    pub misfits: Vec<String>,
    /// Each loader (`PT_INTERP`) the dynamically linked ones name, with one file naming it.
    pub loaders: BTreeMap<String, String>,
    /// The smallest of the files' largest page sizes ([`super::elf::largest_page_size`]),
    /// and the file that sets it: the page size the folders' programs all start on.
    pub page_size: Option<PageSize>,
}

/// The largest kernel page size a set of programs all start on, and the one that limits it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageSize {
    /// In bytes: 4096, 16384 or 65536.
    pub bytes: u64,
    /// The program that allows no larger one.
    pub limited_by: String,
}

impl PageSize {
    /// The smaller of two limits (either may be missing).
    pub(crate) fn smaller(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.bytes < a.bytes { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Clone)]
struct Judged {
    check: Check,
    loader: Option<String>,
    page: Option<u64>,
}

/// Judges every ELF file directly in [`FOLDERS`] against `platform`.
///
/// # Errors
/// A layer that cannot be read.
pub(crate) fn scan(layers: &[Layer], platform: &Platform) -> Result<Userland, LayerError> {
    let in_folders = |path: &str| {
        path.rsplit_once('/')
            .is_some_and(|(dir, _)| FOLDERS.contains(&dir))
    };
    let judged = layers::judge_files(layers, in_folders, MAX_BINARY, |path, bytes| {
        bytes.starts_with(b"\x7fELF").then(|| Judged {
            check: super::binary::judge(path, bytes, platform),
            loader: super::elf::interpreter(bytes).ok().flatten(),
            page: super::elf::largest_page_size(bytes).ok().flatten(),
        })
    })?;
    let mut userland = Userland {
        checked: judged.len(),
        ..Userland::default()
    };
    for (path, judged) in judged {
        if let Some(bytes) = judged.page {
            let here = PageSize {
                bytes,
                limited_by: path.clone(),
            };
            userland.page_size = PageSize::smaller(userland.page_size.take(), Some(here));
        }
        match judged.check {
            Check::Fail(why) => userland.misfits.push(why),
            _ => {
                if let Some(loader) = judged.loader {
                    userland.loaders.entry(loader).or_insert(path);
                }
            }
        }
    }
    Ok(userland)
}

impl Userland {
    /// The failure to report when files cannot run on `platform`.
    pub fn failure(&self, platform: &Platform) -> Option<String> {
        if self.misfits.is_empty() {
            return None;
        }
        let mut named = self.misfits[..self.misfits.len().min(NAMED)].join("; ");
        if self.misfits.len() > NAMED {
            named += &format!("; and {} more", self.misfits.len() - NAMED);
        }
        Some(format!(
            "{} of {} ELF files in {} cannot run on {platform} (a foreign userland?): {named}. `--entrypoint-only` checks the entrypoint alone",
            self.misfits.len(),
            self.checked,
            FOLDERS.join(", ")
        ))
    }

    /// What a pass adds to the entrypoint's detail.
    pub(crate) fn summary(&self) -> String {
        match self.checked {
            0 => "; the usual binary folders hold no ELF files".into(),
            1 => "; the 1 ELF file in the usual binary folders fits too".into(),
            n => format!("; all {n} ELF files in the usual binary folders fit too"),
        }
    }
}
