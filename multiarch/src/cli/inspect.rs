//! `multiarch inspect IMAGE`: what `docker buildx imagetools inspect` shows, read
//! straight from the registry, with attestations named for the image they describe.

use std::process::ExitCode;

use anyhow::Context;
use futures_util::future::try_join_all;
use indicatif::HumanBytes;
use serde::Serialize;

use multiarch::oci::index::{Entry, EntryKind, Manifest, entries};
use multiarch::registry::{Registry, parse_reference};

use super::{OutputArgs, RegistryArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `localhost:5000/arch-server:latest`
    image: String,
    /// Print the manifest exactly as the registry sent it
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// What `inspect` reports, for the table and for `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    pub manifests: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    /// `linux/arm64`, or `attestation for linux/arm64`.
    pub name: String,
    #[serde(flatten)]
    pub entry: Entry,
    /// Layers, for images.
    pub layers: Option<usize>,
    /// Compressed size of the layers, for images.
    pub layers_size: Option<u64>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.raw {
        let reference = parse_reference(&args.image)?;
        let registry = Registry::for_reference(&reference, &args.registry.insecure);
        let fetched = registry
            .fetch(&reference)
            .await
            .with_context(|| format!("cannot inspect `{}`", args.image))?;
        use std::io::Write;
        std::io::stdout().write_all(&fetched.bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = report(&args.image, &args.registry.insecure).await?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an image's index (or manifest) and each platform's manifest.
pub async fn report(image: &str, insecure: &[String]) -> anyhow::Result<Report> {
    let reference = parse_reference(image)?;
    let registry = Registry::for_reference(&reference, insecure);
    let fetched = registry
        .fetch(&reference)
        .await
        .with_context(|| format!("cannot inspect `{image}`"))?;

    let media_type = fetched.manifest.media_type();
    let rows = match &fetched.manifest {
        Manifest::Index(index) => {
            let listed = entries(index);
            // Each image's manifest holds its layer count and size: fetch them together.
            let details = try_join_all(listed.iter().map(|entry| {
                let registry = registry.clone();
                let reference = reference.clone();
                async move {
                    if !matches!(entry.kind, EntryKind::Image { .. }) {
                        return Ok::<_, multiarch::error::Error>(None);
                    }
                    let by_digest = reference.clone_with_digest(entry.digest.clone());
                    match registry.fetch(&by_digest).await?.manifest {
                        Manifest::Image(image) => Ok(Some(image)),
                        Manifest::Index(_) => Ok(None),
                    }
                }
            }))
            .await?;
            listed
                .into_iter()
                .zip(details)
                .map(|(entry, image)| Row {
                    name: entry.label(),
                    layers: image.as_ref().map(|i| i.layers().len()),
                    layers_size: image
                        .as_ref()
                        .map(|i| i.layers().iter().map(|l| l.size()).sum()),
                    entry,
                })
                .collect()
        }
        Manifest::Image(image) => {
            // A single-platform image: its platform is in its config.
            let config = registry.fetch_blob(&reference, image.config()).await?;
            let config: oci_spec::image::ImageConfiguration =
                serde_json::from_slice(&config).context("the image config is not valid JSON")?;
            let platform = multiarch::Platform::new(
                &config.os().to_string(),
                &config.architecture().to_string(),
                config.variant().as_deref(),
            );
            let kind = match platform {
                Ok(platform) => EntryKind::Image { platform },
                Err(_) => EntryKind::Unknown {
                    platform: format!("{}/{}", config.os(), config.architecture()),
                },
            };
            let entry = Entry {
                digest: fetched.digest.clone(),
                media_type: media_type.clone(),
                size: fetched.bytes.len() as u64,
                kind,
            };
            vec![Row {
                name: entry.label(),
                layers: Some(image.layers().len()),
                layers_size: Some(image.layers().iter().map(|l| l.size()).sum()),
                entry,
            }]
        }
    };
    Ok(Report {
        name: reference.whole(),
        digest: fetched.digest,
        media_type,
        manifests: rows,
    })
}

/// The table a person reads.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "Name:      {}\nMediaType: {}\nDigest:    {}\n\n",
        report.name, report.media_type, report.digest
    );
    let width = report
        .manifests
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max("PLATFORM".len());
    out += &format!(
        "{:<width$}  {:<71}  {:>10}  LAYERS\n",
        "PLATFORM", "DIGEST", "SIZE"
    );
    for row in &report.manifests {
        let size = row
            .layers_size
            .map_or_else(|| "-".to_string(), |s| HumanBytes(s).to_string());
        let layers = row
            .layers
            .map_or_else(|| "-".to_string(), |l| l.to_string());
        out += &format!(
            "{:<width$}  {:<71}  {:>10}  {}\n",
            row.name, row.entry.digest, size, layers
        );
    }
    out
}
