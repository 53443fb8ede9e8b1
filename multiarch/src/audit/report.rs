//! What an audit found: one row per unique image (by digest), one cell per platform the
//! fleet needs, each cell a finding with a short name a script can match, and where every
//! reference to the image was written. It serialises as the `--json` report; the table,
//! SARIF and HTML are read from it.

use serde::Serialize;

use multiarch_platform::Platform;

use super::sources::{Origin, Unreadable};
use crate::registry::RateLimit;
use crate::verify::userland::PageSize;

/// A finding's kind, mildest first: `--fail-on KIND` fails the audit for this kind and
/// every later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// The platform's image is there and holds programs for its CPU.
    Ready,
    /// Its programs start on 4 KiB (or 16 KiB) pages only, and `--page-size` asks for more.
    SmallPages,
    /// The image has no entry for the platform.
    MissingPlatform,
    /// A digest pin of one platform's manifest, not of the index: every node gets that
    /// platform's programs.
    PinnedToOnePlatform,
    /// The platform's entry holds another platform's programs (or a config that says so).
    WrongContents,
    /// The registry has no such image.
    NotFound,
    /// The registry refused to show it (credentials).
    Unauthorized,
    /// The registry could not be reached, or failed.
    Unreachable,
    /// The reference, or the file it is in, cannot be read.
    Unreadable,
}

impl Finding {
    /// Its short name, as scripts match it and `--fail-on` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::SmallPages => "small-pages",
            Self::MissingPlatform => "missing-platform",
            Self::PinnedToOnePlatform => "pinned-to-one-platform",
            Self::WrongContents => "wrong-contents",
            Self::NotFound => "not-found",
            Self::Unauthorized => "unauthorized",
            Self::Unreachable => "unreachable",
            Self::Unreadable => "unreadable",
        }
    }

    /// Every kind, mildest first.
    pub const ALL: [Finding; 9] = [
        Self::Ready,
        Self::SmallPages,
        Self::MissingPlatform,
        Self::PinnedToOnePlatform,
        Self::WrongContents,
        Self::NotFound,
        Self::Unauthorized,
        Self::Unreachable,
        Self::Unreadable,
    ];
}

impl std::str::FromStr for Finding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                format!("`{text}` is not a finding: {}", names.join(", "))
            })
    }
}

/// One platform of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The platform the fleet needs.
    pub platform: Platform,
    /// What was found.
    pub finding: Finding,
    /// Why, in a sentence: what the slot holds, what is missing, what to pin instead.
    pub detail: String,
    /// The platform's image manifest, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The largest kernel page size its programs start on, when they were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<PageSize>,
    /// For a pin of one platform's manifest: the index to pin instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_index: Option<String>,
}

/// One unique image and everything found of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageReport {
    /// The first reference that named it (its others are in `references`).
    pub image: String,
    /// What it resolved to (an index, or one image's manifest), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Every reference written for it, and where.
    pub references: Vec<Written>,
    /// One per platform the fleet needs of it.
    pub platforms: Vec<Cell>,
    /// The registry's pull quota left after reading it, when the registry says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// A reference as written, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    /// As written.
    pub reference: String,
    /// Where.
    pub origin: Origin,
}

impl ImageReport {
    /// The worst finding of its cells.
    pub fn worst(&self) -> Finding {
        self.platforms
            .iter()
            .map(|c| c.finding)
            .max()
            .unwrap_or(Finding::Ready)
    }
}

/// What a request to a registry cost, for the summary and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Manifest `HEAD`s (free of Docker Hub's quota).
    pub heads: usize,
    /// Manifest `GET`s (counted by Docker Hub).
    pub manifest_gets: usize,
    /// Blob `GET`s: configs and layers.
    pub blob_gets: usize,
    /// Layers downloaded (each once).
    pub layers: usize,
    /// Verdicts read from the cache instead of the layers.
    pub cached_verdicts: usize,
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The platforms the fleet needs (`--need`).
    pub needed: Vec<Platform>,
    /// One per unique image, worst first, then by name.
    pub images: Vec<ImageReport>,
    /// What could not be read: files, references.
    pub unreadable: Vec<Unreadable>,
    /// How many references were read in all.
    pub references: usize,
    /// What it cost.
    pub traffic: Traffic,
}

impl Report {
    /// The worst finding of the whole audit.
    pub fn worst(&self) -> Finding {
        let images = self.images.iter().map(ImageReport::worst);
        let unreadable = (!self.unreadable.is_empty()).then_some(Finding::Unreadable);
        images.chain(unreadable).max().unwrap_or(Finding::Ready)
    }

    /// How many cells (and unreadable inputs) have each finding, mildest first.
    pub fn counts(&self) -> Vec<(Finding, usize)> {
        Finding::ALL
            .into_iter()
            .map(|kind| {
                let cells = self
                    .images
                    .iter()
                    .flat_map(|i| &i.platforms)
                    .filter(|c| c.finding == kind)
                    .count();
                let more = if kind == Finding::Unreadable {
                    self.unreadable.len()
                } else {
                    0
                };
                (kind, cells + more)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_named_as_scripts_match_them_and_ordered_mildest_first() {
        let names: Vec<&str> = Finding::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "ready",
                "small-pages",
                "missing-platform",
                "pinned-to-one-platform",
                "wrong-contents",
                "not-found",
                "unauthorized",
                "unreachable",
                "unreadable"
            ]
        );
        assert_eq!("wrong-contents".parse(), Ok(Finding::WrongContents));
        assert!(
            "broken"
                .parse::<Finding>()
                .unwrap_err()
                .contains("ready, small-pages")
        );
        assert!(Finding::WrongContents > Finding::MissingPlatform);
        assert_eq!(
            serde_json::to_value(Finding::PinnedToOnePlatform).unwrap(),
            "pinned-to-one-platform"
        );
    }
}
