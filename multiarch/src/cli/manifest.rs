//! `multiarch manifest create | add | rm | annotate`: indexes made and changed in the
//! registry, without rebuilding; attestations stay with their images.

use std::process::ExitCode;

use anyhow::Context;

use multiarch::input::parse_reference;
use multiarch::manifest::{self, Edited};
use multiarch::oci::edit::parse_annotation;
use multiarch::registry::Registry;

use super::{OutputArgs, PlatformList, RegistryArgs, render};

pub type Args = super::Actions<Action>;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Assemble an index from images already pushed (single-platform images, or indexes
    /// whose images are all taken), with their attestations, and push it under TARGET and
    /// every `--tag`, all or none
    Create {
        /// The index to push: `localhost:5000/app:1.0`
        target: String,
        /// The sources: `localhost:5000/app:1.0-linux-amd64` ...
        #[arg(
            required_unless_present = "from_digests",
            conflicts_with = "from_digests"
        )]
        sources: Vec<String>,
        /// The digests a release's per-platform jobs pushed to TARGET's repository: a
        /// folder of files named by each digest (`touch "$DIR/${DIGEST#sha256:}"`), or a
        /// file of one digest a line. Refused, before any tag is written, unless each is
        /// one platform's image of that repository and no platform comes twice
        #[arg(long, value_name = "DIR|FILE")]
        from_digests: Option<std::path::PathBuf>,
        /// The platforms the index must hold, exactly: a missing one, or one not named,
        /// refuses the merge
        #[arg(long, value_name = "PLATFORMS", value_parser = super::parse_platforms)]
        expect: Option<PlatformList>,
        /// Another tag of the same release, written from the same index (a failed write
        /// puts back every tag already moved); repeatable
        #[arg(long = "tag", value_name = "REF")]
        tags: Vec<String>,
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
    /// Move the index's attestation manifests (provenance, SBOM) out of the index, each
    /// to the referrers of the image it is about (the referrers API, else the tag
    /// schema), so `oras discover` and referrer-minded tools find them; every platform
    /// keeps its digest
    Referrers {
        /// The index to change
        target: String,
        #[command(flatten)]
        output: OutputArgs,
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
            from_digests,
            expect,
            tags,
            registry,
        } => {
            let mut all_tags = vec![target.clone()];
            all_tags.extend(tags);
            return create(
                &target,
                &sources,
                from_digests.as_deref(),
                expect,
                &all_tags,
                &registry,
            )
            .await;
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
        Action::Referrers {
            target,
            output,
            registry,
        } => {
            let (client, target_ref, _) = open(&target, &[], &registry)?;
            let referred = manifest::referrers::move_to_referrers(&client, &target_ref)
                .await
                .with_context(|| {
                    format!("cannot move the attestations of `{target}` to referrers")
                })?;
            if output.json {
                println!("{}", serde_json::to_string_pretty(&referred)?);
            } else {
                print!("{}", render::referrers_table(&referred));
            }
            if referred.moved.is_empty() {
                eprintln!("{target}: no attestation manifest in the index; nothing moved");
            } else {
                eprintln!(
                    "{target}: {} -> {} ({} attestation(s) moved; every platform keeps its digest)",
                    referred.before,
                    referred.after,
                    referred.moved.len()
                );
            }
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

/// `manifest create`: the index of the sources (or of a release's digests), checked whole
/// before any tag is written, then written under every tag or none.
async fn create(
    target: &str,
    sources: &[String],
    from_digests: Option<&std::path::Path>,
    expect: Option<PlatformList>,
    tags: &[String],
    registry: &RegistryArgs,
) -> anyhow::Result<ExitCode> {
    // `tags` starts with the target: one client for every registry the release touches.
    let (_, target_ref, source_refs) = open(target, sources, registry)?;
    let tag_refs = tags
        .iter()
        .map(|t| parse_reference(t))
        .collect::<Result<Vec<_>, _>>()?;
    let everything: Vec<_> = tag_refs.iter().chain(&source_refs).cloned().collect();
    let client = registry.client(&everything, false);
    let context = || format!("cannot create the index `{target}`");
    let picked = match from_digests {
        Some(path) => {
            let digests = manifest::merge::read_digests(path)
                .map_err(multiarch::error::Error::from)
                .with_context(context)?;
            manifest::merge::pick_release(
                &client,
                &target_ref,
                &digests,
                expect.as_ref().map(|e| e.0.as_slice()),
            )
            .await
            .with_context(context)?
        }
        None => {
            let picked = manifest::pick_all(&client, &source_refs)
                .await
                .with_context(context)?;
            if let Some(expected) = &expect {
                let have: Vec<_> = picked.iter().map(|p| p.platform.clone()).collect();
                if let Some(missing) = expected.0.iter().find(|p| !have.contains(p)) {
                    return Err(anyhow::Error::from(multiarch::error::Error::from(
                        manifest::error::MergeError::Missing {
                            platform: missing.clone(),
                            found: multiarch::join_platforms(&have),
                        },
                    )))
                    .with_context(context);
                }
            }
            picked
        }
    };
    let (bytes, media_type) = manifest::index_of(&picked, &target_ref).with_context(context)?;
    let platforms: Vec<_> = picked.iter().map(|p| p.platform.clone()).collect();
    let tagged = manifest::tags::write_all(&client, &picked, bytes, &media_type, &tag_refs)
        .await
        .with_context(context)?;
    for (tag, state) in &tagged.tags {
        use manifest::tags::TagState;
        match state {
            TagState::Moved { before: Some(was) } => {
                eprintln!("{tag}: {was} -> {} (read back)", tagged.digest)
            }
            TagState::Moved { before: None } => {
                eprintln!("{tag}: new -> {} (read back)", tagged.digest)
            }
            TagState::Restored { to } => eprintln!("{tag}: put back to {to}"),
            TagState::Removed => eprintln!("{tag}: removed again (it was new)"),
            TagState::Untouched => eprintln!("{tag}: not written"),
            TagState::Failed { reason } => eprintln!("{tag}: the write failed: {reason}"),
            TagState::Stuck { reason } => {
                eprintln!("{tag}: STILL NAMES THE NEW INDEX: putting it back failed: {reason}")
            }
        }
    }
    if !tagged.complete() {
        return Err(super::problem(
            format!(
                "the release `{target}` was not written whole: no tag names its index {}",
                tagged.digest
            ),
            "fix what the failed write says, then run the same command again",
        ));
    }
    eprintln!(
        "pushed {target} ({} platforms: {}){}",
        platforms.len(),
        multiarch::join_platforms(&platforms),
        if tag_refs.len() > 1 {
            format!(", and {} more tag(s)", tag_refs.len() - 1)
        } else {
            String::new()
        }
    );
    println!("{}", tagged.digest);
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
