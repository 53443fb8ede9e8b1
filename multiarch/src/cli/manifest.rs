//! `multiarch manifest create TARGET SOURCE...`: an index from per-platform images.

use std::process::ExitCode;

use anyhow::Context;

use multiarch::oci::assemble::{Member, assemble};
use multiarch::oci::index::{Manifest, config_platform, entries};
use multiarch::registry::{Registry, parse_reference};

use super::RegistryArgs;

pub type Args = super::Actions<Action>;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Assemble an index from single-platform images already pushed, and push it
    Create {
        /// The index to push: `localhost:5000/app:1.0`
        target: String,
        /// The single-platform images: `localhost:5000/app:1.0-linux-amd64` ...
        #[arg(required = true)]
        sources: Vec<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Action::Create {
        target,
        sources,
        registry,
    } = args.action;
    let target_ref = parse_reference(&target)?;
    let source_refs = sources
        .iter()
        .map(|s| parse_reference(s))
        .collect::<Result<Vec<_>, _>>()?;
    // One client for every registry involved: sources may live elsewhere.
    let all: Vec<_> = source_refs.iter().chain([&target_ref]).cloned().collect();
    let client = Registry::for_references(&all, &registry.insecure);
    let mut members = Vec::new();
    for (source, reference) in sources.iter().zip(&source_refs) {
        let fetched = client
            .fetch(reference)
            .await
            .with_context(|| format!("cannot read the source `{source}`"))?;
        // buildx wraps even a single-platform build in an index (for its attestation):
        // such a source stands for its one image.
        let (digest, size, media_type) = match &fetched.manifest {
            Manifest::Image(_) => (
                fetched.digest.clone(),
                fetched.bytes.len() as u64,
                fetched.manifest.media_type(),
            ),
            Manifest::Index(index) => {
                let listed = entries(index);
                let images: Vec<_> = listed.iter().filter(|e| e.platform().is_some()).collect();
                match images.as_slice() {
                    [one] => (one.digest.clone(), one.size, one.media_type.clone()),
                    _ => {
                        return Err(super::problem(
                            format!(
                                "`{source}` is an index of {} platforms, not a single-platform image",
                                images.len()
                            ),
                            format!(
                                "name one platform's image, e.g. `{}@<digest>` from `multiarch inspect {source}`",
                                reference.repository()
                            ),
                        ));
                    }
                }
            }
        };
        let image = client.fetch_image(reference, &digest).await?;
        let platform = config_platform(&image.config)
            .with_context(|| format!("`{source}` names no valid platform in its config"))?;
        members.push(Member {
            platform,
            digest,
            size,
            media_type,
        });
    }
    // Refuse duplicates before pushing anything.
    let (bytes, media_type) = assemble(&members, &sources)?;
    for (reference, member) in source_refs.iter().zip(&members) {
        client
            .copy_image(reference, &member.digest, &target_ref, &|_| {})
            .await
            .with_context(|| format!("cannot copy `{}` into `{target}`", reference.whole()))?;
        eprintln!("{}: {}", member.platform, member.digest);
    }
    let digest = client
        .push_manifest(&target_ref, bytes, &media_type)
        .await
        .with_context(|| format!("cannot push the index `{target}`"))?;
    eprintln!("pushed {target} ({} platforms)", members.len());
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}
