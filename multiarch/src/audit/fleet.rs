//! The audit itself: every reference resolved with a `HEAD` (a Docker Hub `GET` counts
//! against the pull quota, a `HEAD` does not), the references that name one digest
//! checked once as one image, each platform the fleet needs looked up in its index and
//! its programs judged by verify's static check, every layer downloaded at most once and
//! every verdict kept on disk for the next run. Requests to one registry are bounded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use oci_client::Reference;

use multiarch_platform::Platform;

use super::cache::{Cache, Verdict};
use super::report::{Cell, Finding, ImageReport, Report, Traffic, Written};
use super::sources::{Found, Origin, Sources, Unreadable};
use crate::oci::index::{Entry, Manifest, entries};
use crate::registry::{Head, Registry, RegistryError};
use crate::verify::page_size::{self, PageSizeNeed};
use crate::verify::{Check, Scope};

/// What to audit against.
#[derive(Debug, Clone)]
pub struct Request {
    /// The platforms every image must serve (`--need`).
    pub needed: Vec<Platform>,
    /// The page size the fleet's kernels run with (`--page-size`); `None` names small
    /// ones without a finding.
    pub page_size: Option<PageSizeNeed>,
    /// Which programs the static check reads.
    pub scope: Scope,
    /// Requests at once to one registry (`--jobs`).
    pub jobs: usize,
}

/// What the audit reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// So many unique references are being resolved.
    Resolving(usize),
    /// So many unique images are being checked.
    Checking(usize),
    /// One more image is done.
    Checked(String),
}

/// Audits every reference of `sources` against `request`, through `registry` (whose
/// clones share its layers: make it with [`Registry::keeping_layers`]) and `cache`.
pub async fn audit(
    request: &Request,
    sources: Sources,
    registry: &Registry,
    cache: &Cache,
    on_event: impl Fn(AuditEvent),
) -> Report {
    let references = sources.found.len();
    let mut unreadable = sources.unreadable;
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    for found in sources.found {
        match crate::oci::reference::parse(&found.reference) {
            Ok(parsed) => wanted
                .entry(parsed.whole())
                .or_insert_with(|| Wanted::new(parsed))
                .add(found, &request.needed),
            Err(e) => unreadable.push(Unreadable {
                origin: found.origin,
                reason: format!("`{}` is not a valid image reference: {e}", found.reference),
            }),
        }
    }
    let limits = Limits::new(request.jobs);
    let traffic = Counters::default();

    on_event(AuditEvent::Resolving(wanted.len()));
    let heads: Vec<(Wanted, Result<Head, RegistryError>)> =
        futures_util::stream::iter(wanted.into_values().map(|w| {
            let (registry, limits) = (registry.clone(), &limits);
            async move {
                let _turn = limits.turn(w.reference.resolve_registry()).await;
                let head = registry.head(&w.reference).await;
                (w, head)
            }
        }))
        .buffer_unordered(request.jobs.max(1) * 8)
        .collect()
        .await;

    // One image per digest, however many references name it.
    let mut images: BTreeMap<String, Image> = BTreeMap::new();
    let mut reports = Vec::new();
    for (w, head) in heads {
        match head {
            Ok(head) => images
                .entry(head.digest.clone())
                .or_insert_with(|| Image::new(&w, &head))
                .merge(w, head),
            Err(e) => reports.push(unresolved(&w, &e)),
        }
    }
    on_event(AuditEvent::Checking(images.len()));
    let checked: Vec<ImageReport> = futures_util::stream::iter(images.into_values().map(|image| {
        let (registry, limits, traffic) = (registry.clone(), &limits, &traffic);
        let on_event = &on_event;
        async move {
            let _turn = limits.turn(image.reference.resolve_registry()).await;
            let name = image.reference.whole();
            let report = check_image(request, &registry, cache, traffic, image).await;
            on_event(AuditEvent::Checked(name));
            report
        }
    }))
    .buffer_unordered(request.jobs.max(1) * 4)
    .collect()
    .await;
    reports.extend(checked);
    reports.sort_by(|a, b| b.worst().cmp(&a.worst()).then(a.image.cmp(&b.image)));
    let sent = registry.requests();
    Report {
        needed: request.needed.clone(),
        images: reports,
        unreadable,
        references,
        traffic: Traffic {
            heads: sent.manifest_heads,
            manifest_gets: sent.manifest_gets,
            blob_gets: sent.blob_gets,
            layers: registry.layers_downloaded(),
            cached_verdicts: traffic.cached_verdicts.load(Ordering::Relaxed),
        },
    }
}

/// One reference as the fleet writes it, everywhere, with the platforms it must serve.
struct Wanted {
    reference: Reference,
    written: Vec<Written>,
    needed: Vec<Platform>,
}

impl Wanted {
    fn new(reference: Reference) -> Self {
        Self {
            reference,
            written: Vec::new(),
            needed: Vec::new(),
        }
    }

    fn add(&mut self, found: Found, needed: &[Platform]) {
        for platform in found.pulled_for.as_deref().unwrap_or(needed) {
            if !self.needed.contains(platform) {
                self.needed.push(platform.clone());
            }
        }
        self.written.push(Written {
            reference: found.reference,
            origin: found.origin,
        });
    }
}

/// A unique image: every reference that resolved to its digest.
struct Image {
    reference: Reference,
    digest: String,
    written: Vec<Written>,
    needed: Vec<Platform>,
    /// References that pin it by digest and name a tag: the tag may point at its index.
    pinned_tags: Vec<Reference>,
    rate_limit: Option<crate::registry::RateLimit>,
}

impl Image {
    fn new(w: &Wanted, head: &Head) -> Self {
        Self {
            reference: w.reference.clone_with_digest(head.digest.clone()),
            digest: head.digest.clone(),
            written: Vec::new(),
            needed: Vec::new(),
            pinned_tags: Vec::new(),
            rate_limit: None,
        }
    }

    fn merge(&mut self, w: Wanted, head: Head) {
        if let (Some(_), Some(tag)) = (w.reference.digest(), w.reference.tag()) {
            self.pinned_tags.push(Reference::with_tag(
                w.reference.registry().to_string(),
                w.reference.repository().to_string(),
                tag.to_string(),
            ));
        }
        for platform in w.needed {
            if !self.needed.contains(&platform) {
                self.needed.push(platform);
            }
        }
        self.written.extend(w.written);
        self.rate_limit = head.rate_limit.or(self.rate_limit);
    }
}

/// Requests at once per registry.
struct Limits {
    jobs: usize,
    per_registry: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl Limits {
    fn new(jobs: usize) -> Self {
        Self {
            jobs: jobs.max(1),
            per_registry: Default::default(),
        }
    }

    async fn turn(&self, registry: &str) -> tokio::sync::OwnedSemaphorePermit {
        let semaphore = self
            .per_registry
            .lock()
            .expect("never poisoned")
            .entry(registry.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.jobs)))
            .clone();
        semaphore.acquire_owned().await.expect("never closed")
    }
}

/// A verdict of this run, reached once for every image that holds the platform image.
type VerdictOfRun = Arc<tokio::sync::OnceCell<Verdict>>;

/// What the audit counts itself, and the verdicts of this run, each platform image's
/// reached once however many images (an index and a pin of its child) hold it.
#[derive(Default)]
struct Counters {
    cached_verdicts: AtomicUsize,
    verdicts: std::sync::Mutex<HashMap<(String, String), VerdictOfRun>>,
}

impl Counters {
    fn verdict_cell(
        &self,
        digest: &str,
        platform: &Platform,
    ) -> Arc<tokio::sync::OnceCell<Verdict>> {
        self.verdicts
            .lock()
            .expect("never poisoned")
            .entry((digest.to_string(), platform.to_string()))
            .or_default()
            .clone()
    }
}

/// A reference whose `HEAD` failed: one finding for every platform it must serve.
fn unresolved(w: &Wanted, error: &RegistryError) -> ImageReport {
    let finding = match error {
        RegistryError::NotFound { .. } => Finding::NotFound,
        RegistryError::Unauthorized { .. } => Finding::Unauthorized,
        _ => Finding::Unreachable,
    };
    let detail = crate::error::chain(error);
    ImageReport {
        image: w.reference.whole(),
        digest: None,
        references: w.written.clone(),
        platforms: w
            .needed
            .iter()
            .map(|platform| Cell {
                platform: platform.clone(),
                finding,
                detail: detail.clone(),
                digest: None,
                page_size: None,
                pin_index: None,
            })
            .collect(),
        rate_limit: None,
    }
}

async fn check_image(
    request: &Request,
    registry: &Registry,
    cache: &Cache,
    traffic: &Counters,
    image: Image,
) -> ImageReport {
    let cells = match platform_entries(registry, cache, traffic, &image.reference, &image.digest)
        .await
    {
        Ok((listed, single)) => {
            let pinned = match single {
                Some(platform) => pinned_index(registry, cache, traffic, &image, &platform).await,
                None => None,
            };
            let mut cells = Vec::new();
            for platform in &image.needed {
                cells.push(
                    cell(
                        request,
                        registry,
                        cache,
                        traffic,
                        &image,
                        &listed,
                        pinned.as_ref(),
                        platform,
                    )
                    .await,
                );
            }
            cells
        }
        Err(e) => {
            let detail = crate::error::chain(&e);
            image
                .needed
                .iter()
                .map(|platform| Cell {
                    platform: platform.clone(),
                    finding: Finding::Unreachable,
                    detail: detail.clone(),
                    digest: None,
                    page_size: None,
                    pin_index: None,
                })
                .collect()
        }
    };
    ImageReport {
        image: image
            .written
            .first()
            .map_or_else(|| image.reference.whole(), |w| w.reference.clone()),
        digest: Some(image.digest),
        references: image.written,
        platforms: cells,
        rate_limit: image.rate_limit,
    }
}

/// The manifest at `digest` (from the cache, else one `GET`).
async fn manifest(
    registry: &Registry,
    cache: &Cache,
    traffic: &Counters,
    reference: &Reference,
    digest: &str,
) -> Result<Manifest, RegistryError> {
    let _ = traffic;
    let bytes = match cache.manifest(digest) {
        Some(bytes) => bytes,
        None => {
            let fetched = registry
                .fetch(&reference.clone_with_digest(digest.to_string()))
                .await?;
            cache.keep_manifest(digest, &fetched.bytes);
            fetched.bytes
        }
    };
    Manifest::parse(&bytes).map_err(|e| RegistryError::BadAnswer {
        reference: reference.whole(),
        reason: e.to_string(),
    })
}

/// The images `digest` holds, by platform; for a single image, also its platform.
async fn platform_entries(
    registry: &Registry,
    cache: &Cache,
    traffic: &Counters,
    reference: &Reference,
    digest: &str,
) -> Result<(Vec<(Platform, String)>, Option<Platform>), RegistryError> {
    match manifest(registry, cache, traffic, reference, digest).await? {
        Manifest::Index(index) => Ok((
            entries(&index)
                .iter()
                .filter_map(|e: &Entry| e.platform().map(|p| (p.clone(), e.digest.clone())))
                .collect(),
            None,
        )),
        Manifest::Image(_) => {
            let platform = match cache.config_platform(digest).and_then(|p| p.parse().ok()) {
                Some(platform) => platform,
                None => {
                    let image = registry.fetch_image(reference, digest).await?;
                    let platform =
                        crate::oci::index::config_platform(&image.config).map_err(|e| {
                            RegistryError::BadAnswer {
                                reference: reference.whole(),
                                reason: format!("its config names no valid platform: {e}"),
                            }
                        })?;
                    cache.keep_config_platform(digest, &platform.to_string());
                    platform
                }
            };
            Ok((vec![(platform.clone(), digest.to_string())], Some(platform)))
        }
    }
}

/// A pin of one platform's image inside an index its tag names: the index's digest, the
/// tag, and the platform the pin gives every node.
#[derive(Debug, Clone)]
struct Pinned {
    tag: Reference,
    index: String,
    platform: Platform,
}

async fn pinned_index(
    registry: &Registry,
    cache: &Cache,
    traffic: &Counters,
    image: &Image,
    platform: &Platform,
) -> Option<Pinned> {
    for tag in &image.pinned_tags {
        let head = registry.head(tag).await.ok()?;
        if head.digest == image.digest {
            continue;
        }
        if let Ok(Manifest::Index(index)) =
            manifest(registry, cache, traffic, tag, &head.digest).await
        {
            if entries(&index).iter().any(|e| e.digest == image.digest) {
                return Some(Pinned {
                    tag: tag.clone(),
                    index: head.digest,
                    platform: platform.clone(),
                });
            }
        }
    }
    None
}

/// The entry of `listed` a node of `needed` pulls: its own platform, else (as containerd
/// picks) an older level of it: `arm/v6` for `arm/v7`, `amd64` for `amd64/v3`.
pub(crate) fn pick<'a>(
    listed: &'a [(Platform, String)],
    needed: &Platform,
) -> Option<&'a (Platform, String)> {
    if let Some(exact) = listed.iter().find(|(p, _)| p == needed) {
        return Some(exact);
    }
    let level = |p: &Platform| {
        p.variant()
            .and_then(|v| v.trim_start_matches('v').parse::<u32>().ok())
    };
    let same_family =
        |p: &Platform| p.os() == needed.os() && p.architecture() == needed.architecture();
    match needed.architecture() {
        "arm" | "amd64" => {
            let ceiling =
                level(needed).unwrap_or(if needed.architecture() == "arm" { 7 } else { 1 });
            listed
                .iter()
                .filter(|(p, _)| same_family(p))
                .filter(|(p, _)| {
                    level(p).unwrap_or(if p.architecture() == "arm" { 7 } else { 1 }) <= ceiling
                })
                .max_by_key(|(p, _)| level(p))
        }
        _ => listed.iter().find(|(p, _)| same_family(p)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn cell(
    request: &Request,
    registry: &Registry,
    cache: &Cache,
    traffic: &Counters,
    image: &Image,
    listed: &[(Platform, String)],
    pinned: Option<&Pinned>,
    needed: &Platform,
) -> Cell {
    let blank = |finding, detail: String| Cell {
        platform: needed.clone(),
        finding,
        detail,
        digest: None,
        page_size: None,
        pin_index: None,
    };
    let Some((platform, digest)) = pick(listed, needed) else {
        if let Some(pinned) = pinned {
            let mut cell = blank(
                Finding::PinnedToOnePlatform,
                format!(
                    "`{}` pins `{}`, the {} image of the index `{}` names: every node runs {} programs; pin the index, `{}@{}`",
                    image.reference.repository(),
                    crate::oci::index::short(&image.digest),
                    pinned.platform,
                    pinned.tag.whole(),
                    pinned.platform,
                    pinned.tag.whole(),
                    pinned.index,
                ),
            );
            cell.pin_index = Some(pinned.index.clone());
            return cell;
        }
        let has: Vec<String> = listed.iter().map(|(p, _)| p.to_string()).collect();
        return blank(
            Finding::MissingPlatform,
            format!("no {needed} image (it has: {})", has.join(", ")),
        );
    };
    let scope = match request.scope {
        Scope::Userland => "userland",
        Scope::Entrypoint => "entrypoint",
    };
    let cell_of_run = traffic.verdict_cell(digest, platform);
    let reached = cell_of_run
        .get_or_try_init(|| async {
            if let Some(verdict) = cache.verdict(digest, &platform.to_string(), scope) {
                traffic.cached_verdicts.fetch_add(1, Ordering::Relaxed);
                return Ok(verdict);
            }
            let found = crate::verify::check_static(
                registry,
                &image.reference,
                platform,
                digest,
                request.scope,
            )
            .await?;
            let verdict = Verdict {
                config: found.config.map(|p| p.to_string()),
                check: found.check,
                page_size: found.page_size,
            };
            cache.keep_verdict(digest, &platform.to_string(), scope, &verdict);
            Ok::<_, crate::error::Error>(verdict)
        })
        .await;
    let verdict = match reached {
        Ok(verdict) => verdict.clone(),
        Err(e) => return blank(Finding::Unreachable, crate::error::chain(&e)),
    };
    let mut cell = Cell {
        platform: needed.clone(),
        finding: Finding::Ready,
        detail: String::new(),
        digest: Some(digest.clone()),
        page_size: verdict.page_size.clone(),
        pin_index: None,
    };
    match verdict.check {
        Check::Fail(why) => {
            cell.finding = Finding::WrongContents;
            cell.detail = why;
        }
        Check::Pass(what) | Check::Skipped(what) => {
            cell.detail = if platform == needed {
                what
            } else {
                format!("{platform}'s image, which {needed} runs: {what}")
            };
            if let Some((short, sentence)) =
                page_size::judge(platform, verdict.page_size.as_ref(), request.page_size)
            {
                if short {
                    cell.finding = Finding::SmallPages;
                    cell.detail = sentence;
                } else if !sentence.contains("any size") {
                    cell.detail += &format!("; note: {sentence}");
                }
            }
        }
    }
    cell
}

impl Origin {
    /// Whether it is a line of a file (which SARIF and `--fix-pins` can point at).
    pub fn in_file(&self) -> Option<(&str, usize)> {
        match self {
            Self::File { path, line } => Some((path, *line)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(platforms: &[&str]) -> Vec<(Platform, String)> {
        platforms
            .iter()
            .map(|p| (p.parse().unwrap(), format!("sha256:{p}")))
            .collect()
    }

    fn picked(platforms: &[&str], needed: &str) -> Option<String> {
        let listed = listed(platforms);
        pick(&listed, &needed.parse().unwrap()).map(|(p, _)| p.to_string())
    }

    #[test]
    fn a_node_pulls_its_own_platform_else_an_older_level_of_it_as_containerd_picks() {
        assert_eq!(
            picked(&["linux/amd64", "linux/arm64"], "linux/arm64").as_deref(),
            Some("linux/arm64")
        );
        assert_eq!(
            picked(&["linux/amd64"], "linux/amd64/v2").as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(picked(&["linux/amd64/v3"], "linux/amd64/v2"), None);
        assert_eq!(
            picked(&["linux/arm/v6", "linux/arm/v7"], "linux/arm/v7").as_deref(),
            Some("linux/arm/v7")
        );
        assert_eq!(
            picked(&["linux/arm/v6"], "linux/arm/v7").as_deref(),
            Some("linux/arm/v6")
        );
        assert_eq!(picked(&["linux/arm/v7"], "linux/arm/v6"), None);
        assert_eq!(picked(&["linux/amd64"], "linux/arm64"), None);
    }
}
