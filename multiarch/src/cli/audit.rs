//! `multiarch audit [PATH|-]... [--image REF]... [--registry HOST[/PREFIX]]`: is a whole
//! fleet ready for Arm (or any platform)? Every image its manifests, Compose files,
//! Dockerfiles and lists name, checked once for every platform needed, down to the
//! programs in its layers: a table (one line per image, the platforms across), or
//! `--json`, `--sarif FILE` for code scanning, `--html FILE` for people; `--fix-pins`
//! rewrites digest pins of one platform to their index.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use multiarch::audit::fleet::{self, AuditEvent};
use multiarch::audit::report::{Finding, Report};
use multiarch::audit::sources::{self, Found, Origin, Sources};
use multiarch::audit::{cache::Cache, catalog, fix_pins, html, sarif};
use multiarch::verify::Scope;
use multiarch::verify::page_size::PageSizeNeed;

use super::render::table;
use super::{OutputArgs, PlatformList, RegistryArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files and folders to read for image references (Compose files, Kubernetes YAML,
    /// `kubectl get -o json` output, Dockerfiles, lists of one reference a line); `-` reads
    /// standard input (`helm template CHART | multiarch audit -`)
    #[arg(value_name = "PATH|-")]
    paths: Vec<PathBuf>,
    /// An image to audit as well; repeatable
    #[arg(long = "image", value_name = "REF")]
    images: Vec<String>,
    /// Every repository and tag under a registry's namespace (`HOST` or `HOST/PREFIX`),
    /// read from its catalog
    #[arg(long, value_name = "HOST[/PREFIX]")]
    registry: Option<String>,
    /// With `--registry`: only the tags that match this glob (`v1.*`)
    #[arg(long, value_name = "GLOB", requires = "registry")]
    tags: Option<String>,
    /// The platforms every image must serve
    #[arg(long, value_name = "PLATFORMS", value_parser = super::parse_platforms, default_value = "linux/amd64,linux/arm64")]
    need: PlatformList,
    /// The page size the fleet's kernels run with (`16k`, `64k`): programs aligned for
    /// less are a `small-pages` finding; without it they are named, not counted
    #[arg(long, value_name = "4k|16k|64k")]
    page_size: Option<PageSizeNeed>,
    /// Requests at once to one registry
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Judge each image's entrypoint alone, not every program in its binary folders
    #[arg(long)]
    entrypoint_only: bool,
    /// Exit 1 when a finding this bad or worse is found (`ready`, `small-pages`,
    /// `missing-platform`, `pinned-to-one-platform`, `wrong-contents`, `not-found`,
    /// `unauthorized`, `unreachable`, `unreadable`, mildest first)
    #[arg(long, value_name = "FINDING", default_value = "small-pages")]
    fail_on: Finding,
    /// Write the findings as SARIF 2.1.0 here, for code scanning
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    /// Write the findings as one HTML page here
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Rewrite each digest pin of one platform's manifest, in the file and line it was
    /// read from, to the digest of the index its tag names
    #[arg(long)]
    fix_pins: bool,
    /// Where manifests and verdicts are kept between runs [default:
    /// $XDG_CACHE_HOME/multiarch/audit, else ~/.cache/multiarch/audit]
    #[arg(long, value_name = "DIR", env = "MULTIARCH_AUDIT_CACHE")]
    cache: Option<PathBuf>,
    /// Keep nothing between runs, and read nothing kept
    #[arg(long, conflicts_with = "cache")]
    no_cache: bool,
    #[command(flatten)]
    registry_args: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.paths.is_empty() && args.images.is_empty() && args.registry.is_none() {
        return Err(super::problem(
            "nothing to audit",
            "name files or folders (`multiarch audit k8s/`), `-` for standard input, `--image REF`, or `--registry HOST[/PREFIX]`",
        ));
    }
    let needed = args.need.0.clone();
    let mut read = Sources::default();
    for path in &args.paths {
        let more = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            sources::read_text("-", &text, &needed)
        } else {
            if !path.exists() {
                return Err(super::problem(
                    format!("`{}` does not exist", path.display()),
                    "name a file or folder of manifests, Compose files or Dockerfiles",
                ));
            }
            sources::read_path(path, &needed)
        };
        read.found.extend(more.found);
        read.unreadable.extend(more.unreadable);
        read.files.extend(more.files);
    }
    read.found.extend(args.images.iter().map(|image| Found {
        reference: image.clone(),
        origin: Origin::Flag,
        pulled_for: None,
    }));

    let anchors: Vec<oci_client::Reference> = read
        .found
        .iter()
        .filter_map(|f| multiarch::oci::reference::parse(&f.reference).ok())
        .chain(args.registry.as_deref().map(|namespace| {
            let host = namespace.split('/').next().unwrap_or(namespace);
            oci_client::Reference::with_tag(host.into(), "catalog".into(), "latest".into())
        }))
        .collect();
    let registry = args
        .registry_args
        .client(&anchors, args.output.json)
        .keeping_layers();
    if let Some(namespace) = &args.registry {
        let glob = args
            .tags
            .as_deref()
            .map(|g| globset::Glob::new(g).map(|g| g.compile_matcher()))
            .transpose()
            .with_context(|| {
                format!(
                    "`--tags {}` is not a glob",
                    args.tags.as_deref().unwrap_or("")
                )
            })?;
        let listed = catalog::references(&registry, namespace, glob.as_ref())
            .await
            .with_context(|| format!("cannot list the repositories of `{namespace}`"))?;
        if listed.is_empty() {
            eprintln!("note: `{namespace}` holds no repository and tag to audit");
        }
        read.found.extend(listed);
    }
    let files = read.files.clone();
    let cache = Cache::at(if args.no_cache {
        None
    } else {
        args.cache.clone().or_else(default_cache)
    });
    let request = fleet::Request {
        needed,
        page_size: args.page_size,
        scope: if args.entrypoint_only {
            Scope::Entrypoint
        } else {
            Scope::Userland
        },
        jobs: usize::from(args.jobs),
    };

    // A bar on a terminal; nothing otherwise, for the report is the output.
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images {msg}")
            .expect("a valid template"),
    );
    let report = fleet::audit(&request, read, &registry, &cache, |event| match event {
        AuditEvent::Resolving(n) => bar.set_message(format!("(resolving {n} references)")),
        AuditEvent::Checking(n) => {
            bar.set_length(n as u64);
            bar.set_message(String::new());
        }
        AuditEvent::Checked(_) => bar.inc(1),
    })
    .await;
    bar.finish_and_clear();

    if let Some(path) = &args.sarif {
        let log = sarif::log(&report, args.fail_on);
        std::fs::write(path, serde_json::to_string_pretty(&log)?)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        eprintln!("SARIF written to {}", path.display());
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::page(&report))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        eprintln!("page written to {}", path.display());
    }
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", audit_table(&report));
    }
    let mut fix_failed = false;
    if args.fix_pins {
        let pins = fix_pins::pins(&report);
        if pins.is_empty() {
            eprintln!("no digest pin of one platform to rewrite");
        }
        for (path, done) in fix_pins::apply(&pins, &files) {
            match done {
                Ok(n) => eprintln!("rewrote {n} pin(s) in {path}"),
                Err(e) => {
                    fix_failed = true;
                    eprintln!("error: {e}");
                }
            }
        }
    }
    summary(&report);
    let failing = report.worst() >= args.fail_on && report.worst() != Finding::Ready;
    Ok(if failing || fix_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `$XDG_CACHE_HOME/multiarch/audit`, else `~/.cache/multiarch/audit`.
fn default_cache() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|dir| dir.join("multiarch").join("audit"))
}

/// One line per image, the platforms as columns, each cell's detail numbered under it.
pub fn audit_table(report: &Report) -> String {
    let mut header = vec!["IMAGE".to_string()];
    header.extend(report.needed.iter().map(ToString::to_string));
    header.push("WRITTEN".into());
    let mut details = Vec::new();
    let mut rows = Vec::new();
    for image in &report.images {
        let mut row = vec![image.image.clone()];
        for platform in &report.needed {
            let Some(cell) = image.platforms.iter().find(|c| &c.platform == platform) else {
                row.push("-".into());
                continue;
            };
            if cell.finding == Finding::Ready && !cell.detail.contains("note:") {
                row.push("ready".into());
                continue;
            }
            details.push(format!(
                "[{}] {} on {}: {}",
                details.len() + 1,
                image.image,
                platform,
                cell.detail
            ));
            row.push(format!("{} [{}]", cell.finding.name(), details.len()));
        }
        let first = &image.references[0].origin;
        row.push(match image.references.len() {
            1 => first.to_string(),
            n => format!("{first} and {} more", n - 1),
        });
        rows.push(row);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = table(&header, &rows);
    if !details.is_empty() {
        out.push('\n');
        for detail in details {
            out += &detail;
            out.push('\n');
        }
    }
    if !report.unreadable.is_empty() {
        out.push('\n');
        for unreadable in &report.unreadable {
            out += &format!("unreadable {}: {}\n", unreadable.origin, unreadable.reason);
        }
    }
    out
}

/// What was found in all, and what it cost, on stderr.
fn summary(report: &Report) {
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.name()))
        .collect();
    eprintln!(
        "{} references, {} unique images, {} platform(s) each: {}",
        report.references,
        report.images.len(),
        report.needed.len(),
        counts.join(", ")
    );
    let t = report.traffic;
    eprintln!(
        "asked: {} manifest HEADs, {} manifest GETs, {} blob GETs ({} layers downloaded), {} verdicts from the cache",
        t.heads, t.manifest_gets, t.blob_gets, t.layers, t.cached_verdicts
    );
    // The lowest quota each registry said it has left.
    let mut limits: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for image in &report.images {
        if let Some(limit) = image.rate_limit {
            let host = image.image.split('/').next().unwrap_or_default();
            let left = limits.entry(host).or_insert(limit.remaining);
            *left = (*left).min(limit.remaining);
        }
    }
    for (host, left) in limits {
        eprintln!("rate limit: {host} says {left} pulls are left");
    }
}
