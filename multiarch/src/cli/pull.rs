//! `multiarch pull IMAGE --platform P[,P...]`: pull each platform through the engine,
//! with progress bars, and fail loudly when the engine did not get the platform asked for.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use multiarch::pull::{self, Progress};

use super::{ImageArgs, PlatformList};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: ImageArgs,
    /// Comma-separated platforms to pull, e.g. `linux/amd64,linux/arm64`
    #[arg(long, required = true, value_parser = super::parse_platforms)]
    platform: PlatformList,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (reference, registry) = args.target.open(false)?;
    // Every platform is checked against the registry before anything is pulled.
    let mut digests = Vec::new();
    for platform in &args.platform.0 {
        let digest = pull::platform_digest(&registry, &reference, platform)
            .await
            .with_context(|| format!("cannot pull `{}` for `{platform}`", args.target.image))?;
        digests.push((platform.clone(), digest));
    }
    let docker = multiarch::engine::connect().await?;
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{prefix:>14} {bar:30} {bytes:>10}/{total_bytes:<10} {msg}")
            .expect("a valid template");
    for (platform, digest) in &digests {
        eprintln!("pulling {platform} ...");
        let bar = bars.add(
            ProgressBar::new(0)
                .with_style(style.clone())
                .with_prefix(platform.to_string()),
        );
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let on_progress = |p: Progress| {
            if let (Some(layer), Some(total)) = (&p.layer, p.total) {
                let entry = layers.entry(layer.clone()).or_default();
                *entry = (p.current.unwrap_or(entry.0), total);
                bar.set_length(layers.values().map(|(_, t)| t).sum());
                bar.set_position(layers.values().map(|(c, _)| c).sum());
            }
            bar.set_message(p.status);
        };
        let result = pull::pull_platform(&docker, &reference, platform, digest, on_progress).await;
        bar.finish_and_clear();
        result.with_context(|| format!("cannot pull `{}` for `{platform}`", args.target.image))?;
        eprintln!("pulled {platform}: {digest}");
        println!(
            "{}/{}@{digest}",
            reference.resolve_registry(),
            reference.repository()
        );
    }
    Ok(ExitCode::SUCCESS)
}
