//! `multiarch copy SOURCE TARGET [--platform P,...]`: a multi-platform image to another
//! repository or registry, whole (same digest) or some platforms of it (a new index, never
//! a sparse one), the tag moved last.

use std::process::ExitCode;

use anyhow::Context;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use multiarch::copy::{self, CopyEvent};
use multiarch::input::parse_reference;
use multiarch::registry::BlobMove;

use super::{OutputArgs, PlatformArgs, RegistryArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image to copy: `localhost:5000/app:1`
    source: String,
    /// Where to: `registry.example.com/team/app:1`
    target: String,
    #[command(flatten)]
    platforms: PlatformArgs,
    /// Write this platform's image manifest alone under the target tag, no index (for
    /// consumers that take one manifest, such as AWS Lambda)
    #[arg(long, value_name = "PLATFORM", conflicts_with = "platform", value_parser = single_platform)]
    single: Option<multiarch::Platform>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn single_platform(text: &str) -> Result<multiarch::Platform, String> {
    text.parse()
        .map_err(|e: multiarch::PlatformError| e.to_string())
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = parse_reference(&args.source)?;
    let target = parse_reference(&args.target)?;
    let client = args
        .registry
        .client(&[source.clone(), target.clone()], args.output.json);
    let selection = match (&args.single, &args.platforms.platform) {
        (Some(platform), _) => copy::Selection::Single(platform),
        (None, Some(list)) => copy::Selection::Platforms(&list.0),
        (None, None) => copy::Selection::All,
    };

    // Bytes on a terminal, as pulls show them; plain lines otherwise.
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template("{bar:30} {bytes:>10}/{total_bytes:<10} {msg}")
            .expect("a valid template"),
    );
    let plain = bar.is_hidden();
    let say = |line: String| {
        if plain {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let report = copy::copy(&client, &source, &target, selection, |event| match event {
        CopyEvent::Planned { manifests, bytes } => {
            bar.set_length(bytes);
            say(format!(
                "copying {manifests} manifest(s), {} of blobs",
                HumanBytes(bytes)
            ));
        }
        CopyEvent::Manifest { digest, what } => {
            bar.set_message(what.clone());
            say(format!("{what}: {digest}"));
        }
        CopyEvent::Blob(blob) => {
            bar.inc(blob.size);
            let how = match blob.how {
                BlobMove::Sent => "sent",
                BlobMove::Mounted => "mounted",
                BlobMove::AlreadyThere => "already there",
            };
            if plain {
                eprintln!("  {} {} {how}", blob.digest, HumanBytes(blob.size));
            }
        }
        CopyEvent::Tagging(tag) => say(format!("tagging {tag}")),
    })
    .await
    .with_context(|| format!("cannot copy `{}` to `{}`", args.source, args.target))?;
    bar.finish_and_clear();

    if args.output.json {
        let mut value = serde_json::to_value(&report)?;
        value["digest_changed"] = report.digest_changed().into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        eprintln!(
            "copied {} manifest(s): {} blob(s) sent ({}), {} mounted, {} already there",
            report.manifests,
            report.blobs_sent,
            HumanBytes(report.bytes_sent),
            report.blobs_mounted,
            report.blobs_present
        );
        eprintln!("source {}  {}", args.source, report.source_digest);
        eprintln!("target {}  {}", args.target, report.target_digest);
        if let Some(platform) = &args.single {
            eprintln!(
                "the target is {platform}'s image manifest alone (no index): its digest is that platform's in the source"
            );
        } else if report.digest_changed() {
            eprintln!(
                "the digest changed: the target's index lists only {} (and their attestations), so it is a new index",
                report.platforms.join(", ")
            );
        } else {
            eprintln!("the digest is the same: the index arrived byte for byte");
        }
        let companions = &report.companions;
        if !companions.is_empty() {
            eprintln!(
                "signatures and attestations came along: {} cosign tag(s), {} referrer(s)",
                companions.tags.len(),
                companions.referrers.len()
            );
        }
        if report.index_companions_left {
            eprintln!(
                "note: the source index's signatures name its digest ({}), not the target's new one: sign the target again (`cosign sign {}/{}@{}`); each platform's own signatures came along",
                report.source_digest,
                target.registry(),
                target.repository(),
                report.target_digest
            );
        }
        println!("{}", report.target_digest);
    }
    Ok(ExitCode::SUCCESS)
}
