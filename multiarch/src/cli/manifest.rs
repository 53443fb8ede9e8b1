//! `multiarch manifest create | add | rm | annotate`: indexes made and changed in the
//! registry, without rebuilding; attestations stay with their images.

use std::process::ExitCode;

use anyhow::Context;

use multiarch::manifest::{self, Edited};
use multiarch::oci::edit::parse_annotation;
use multiarch::registry::{Registry, parse_reference};

use super::{PlatformList, RegistryArgs};

pub type Args = super::Actions<Action>;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Assemble an index from images already pushed (single-platform images, or indexes
    /// whose images are all taken), with their attestations, and push it
    Create {
        /// The index to push: `localhost:5000/app:1.0`
        target: String,
        /// The sources: `localhost:5000/app:1.0-linux-amd64` ...
        #[arg(required = true)]
        sources: Vec<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Add the images of SOURCEs to the index TARGET (an image of a platform it has
    /// replaces that platform's)
    Add {
        /// The index to change
        target: String,
        /// Images or indexes to add
        #[arg(required = true)]
        sources: Vec<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Remove platforms (with their attestations) from the index TARGET
    Rm {
        /// The index to change
        target: String,
        /// Comma-separated platforms to remove
        #[arg(long, required = true, value_parser = super::parse_platforms)]
        platform: PlatformList,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Set annotations: `KEY=VALUE` on the index (or, with --platform, on that
    /// platform's descriptor); buildx's `index:` and `manifest-descriptor[PLATFORM]:`
    /// prefixes work too
    Annotate {
        /// The index to change
        target: String,
        /// `KEY=VALUE`, repeatable
        #[arg(required = true)]
        annotations: Vec<String>,
        /// Annotate this platform's descriptor instead of the index
        #[arg(long, value_parser = super::parse_platforms)]
        platform: Option<PlatformList>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Create {
            target,
            sources,
            registry,
        } => {
            let (client, target_ref, source_refs) = open(&target, &sources, &registry)?;
            let (digest, platforms) = manifest::create(&client, &source_refs, &target_ref)
                .await
                .with_context(|| format!("cannot create the index `{target}`"))?;
            eprintln!(
                "pushed {target} ({} platforms: {})",
                platforms.len(),
                platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("{digest}");
        }
        Action::Add {
            target,
            sources,
            registry,
        } => {
            let (client, target_ref, source_refs) = open(&target, &sources, &registry)?;
            let edited = manifest::add(&client, &target_ref, &source_refs)
                .await
                .with_context(|| format!("cannot add to `{target}`"))?;
            for platform in &edited.replaced {
                eprintln!("replaced {platform}");
            }
            report(&target, &edited);
        }
        Action::Rm {
            target,
            platform,
            registry,
        } => {
            let (client, target_ref, _) = open(&target, &[], &registry)?;
            let edited = manifest::remove(&client, &target_ref, &platform.0)
                .await
                .with_context(|| format!("cannot remove platforms from `{target}`"))?;
            report(&target, &edited);
        }
        Action::Annotate {
            target,
            annotations,
            platform,
            registry,
        } => {
            let (client, target_ref, _) = open(&target, &[], &registry)?;
            let platforms: Vec<Option<&multiarch::Platform>> = match &platform {
                Some(list) => list.0.iter().map(Some).collect(),
                None => vec![None],
            };
            let mut parsed = Vec::new();
            for text in &annotations {
                for platform in &platforms {
                    parsed.push(parse_annotation(text, *platform)?);
                }
            }
            let edited = manifest::annotate(&client, &target_ref, &parsed)
                .await
                .with_context(|| format!("cannot annotate `{target}`"))?;
            report(&target, &edited);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The references, parsed, and one client for every registry involved.
fn open(
    target: &str,
    sources: &[String],
    registry: &RegistryArgs,
) -> anyhow::Result<(Registry, oci_client::Reference, Vec<oci_client::Reference>)> {
    let target_ref = parse_reference(target)?;
    let source_refs = sources
        .iter()
        .map(|s| parse_reference(s))
        .collect::<Result<Vec<_>, _>>()?;
    let all: Vec<_> = source_refs.iter().chain([&target_ref]).cloned().collect();
    Ok((registry.client(&all, false), target_ref, source_refs))
}

fn report(target: &str, edited: &Edited) {
    eprintln!("{target}: {} -> {}", edited.before, edited.after);
    println!("{}", edited.after);
}
