//! `multiarch verify IMAGE`: for every platform of the index, check statically (config
//! and the entrypoint's ELF header) and by running it (natively or under QEMU) that it
//! is what the index claims. One row per platform; any failure exits non-zero.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use multiarch::Platform;
use multiarch::engine;
use multiarch::error::Error;
use multiarch::oci::index::{Entry, EntryKind, Manifest, entries, platforms};
use multiarch::registry::{Registry, parse_reference};
use multiarch::verify::{self, Check, PlatformReport, Probe};

use super::{OutputArgs, PlatformArgs, RegistryArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `localhost:5000/arch-server:latest`
    image: String,
    /// Skip running the images; check configs and ELF headers only
    #[arg(long)]
    static_only: bool,
    /// The HTTP path to probe in each running container
    #[arg(long, default_value = "/arch")]
    path: String,
    /// The port the server listens on inside the container
    #[arg(long, default_value_t = 80)]
    port: u16,
    /// How long to wait for each container's first answer
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    platforms: PlatformArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reference = parse_reference(&args.image)?;
    let registry = Registry::for_reference(&reference, &args.registry.insecure);
    let fetched = registry
        .fetch(&reference)
        .await
        .with_context(|| format!("cannot verify `{}`", args.image))?;

    // The entries to check: every image of the index, or the one image.
    let listed: Vec<Entry> = match &fetched.manifest {
        Manifest::Index(index) => entries(index),
        Manifest::Image(_) => {
            let image = registry.fetch_image(&reference, &fetched.digest).await?;
            let platform = Platform::new(
                &image.config.os().to_string(),
                &image.config.architecture().to_string(),
                image.config.variant().as_deref(),
            )?;
            vec![Entry {
                digest: fetched.digest.clone(),
                media_type: fetched.manifest.media_type(),
                size: fetched.bytes.len() as u64,
                kind: EntryKind::Image { platform },
            }]
        }
    };
    let available = platforms(&listed);
    if let Some(wanted) = &args.platforms.platform {
        for platform in &wanted.0 {
            if !available.contains(platform) {
                return Err(Error::PlatformMissing {
                    reference: args.image.clone(),
                    platform: platform.clone(),
                    available: available
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
        }
    }
    let targets: Vec<(Platform, String)> = listed
        .iter()
        .filter_map(|e| e.platform().map(|p| (p.clone(), e.digest.clone())))
        .filter(|(p, _)| {
            args.platforms
                .platform
                .as_ref()
                .is_none_or(|w| w.contains(p))
        })
        .collect();

    let docker = if args.static_only {
        None
    } else {
        Some(engine::connect().await?)
    };
    let engine_platform = match &docker {
        Some(d) => engine::engine_platform(d).await,
        None => None,
    };
    let labels = engine::session_labels();
    let probe = Probe {
        port: args.port,
        path: args.path.clone(),
        timeout: args.timeout,
    };

    let work = async {
        let mut reports = Vec::new();
        for (platform, digest) in &targets {
            eprintln!("checking {platform} ...");
            let static_check =
                verify::check_static(&registry, &reference, platform, digest).await?;
            let running = match &docker {
                None => Check::Skipped("--static-only".into()),
                Some(docker) => {
                    verify::check_running(
                        docker,
                        &reference,
                        platform,
                        digest,
                        engine_platform.as_ref(),
                        &probe,
                        labels.clone(),
                    )
                    .await?
                }
            };
            reports.push(PlatformReport {
                platform: platform.clone(),
                digest: digest.clone(),
                static_check,
                running,
            });
        }
        Ok::<_, anyhow::Error>(reports)
    };
    // Ctrl-C is handled once for every command: `cli::run` removes this session's containers.
    let reports = work.await?;

    let failed = reports.iter().filter(|r| !r.passed()).count();
    if args.output.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image": reference.whole(),
                "digest": fetched.digest,
                "passed": failed == 0,
                "platforms": reports,
            }))?
        );
    } else {
        print!("{}", render(&reports));
    }
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} platform(s) of `{}` failed verification",
            reports.len(),
            args.image
        );
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "all {} platform(s) of `{}` hold what the index claims",
        reports.len(),
        args.image
    );
    Ok(ExitCode::SUCCESS)
}

fn cell(check: &Check) -> String {
    match check {
        Check::Pass(detail) => format!("ok: {detail}"),
        Check::Fail(detail) => format!("FAIL: {detail}"),
        Check::Skipped(detail) => format!("skipped: {detail}"),
    }
}

/// One row per platform, then nothing else: reasons are in the cells.
pub fn render(reports: &[PlatformReport]) -> String {
    let rows: Vec<[String; 4]> = reports
        .iter()
        .map(|r| {
            [
                r.platform.to_string(),
                if r.passed() {
                    "PASS".into()
                } else {
                    "FAIL".into()
                },
                cell(&r.static_check),
                cell(&r.running),
            ]
        })
        .collect();
    let header = [
        "PLATFORM".to_string(),
        "RESULT".into(),
        "STATIC".into(),
        "RUNNING".into(),
    ];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in [&header].into_iter().chain(rows.iter()) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out += line.trim_end();
        out.push('\n');
    }
    out
}
