//! `multiarch build [CONTEXT] -t IMAGE --platform ... [--push]`: build through a
//! builder; with `--push`, end with the index digest and the platform table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use multiarch::buildkit::builder::Builders;
use multiarch::buildkit::flags::{Attest, BuildFlags, CacheSpec};
use multiarch::buildkit::image::{self, BuildRequest, KeyValue, NamedDir};
use multiarch::input::parse_reference;

use super::problem;
use super::render::{BuildPrinter, inspect_table};
use super::{PlatformList, RegistryArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The build context
    #[arg(default_value = ".")]
    context: PathBuf,
    /// The image to build: `localhost:5000/arch-server:latest`
    #[arg(long, short = 't')]
    tag: String,
    /// Comma-separated platforms
    #[arg(long, value_parser = super::parse_platforms, default_value = "linux/amd64,linux/arm64")]
    platform: PlatformList,
    /// Push the index when built
    #[arg(long)]
    push: bool,
    /// The Dockerfile [default: CONTEXT/Dockerfile]
    #[arg(long, short = 'f')]
    file: Option<PathBuf>,
    /// A build argument `KEY=VALUE`; repeatable
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<KeyValue>,
    /// A named context `NAME=DIR`; repeatable (e.g. `build=dist` for host-built binaries)
    #[arg(long = "build-context", value_name = "NAME=DIR")]
    build_contexts: Vec<NamedDir>,
    /// Build up to this stage of the Dockerfile
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// Build every step again, using no cache
    #[arg(long)]
    no_cache: bool,
    /// A label `KEY=VALUE` on the image; repeatable
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<KeyValue>,
    /// Read a build cache: `type=registry,ref=HOST/REPO:cache` (or just the reference); repeatable
    #[arg(long = "cache-from", value_name = "SPEC")]
    cache_from: Vec<CacheSpec>,
    /// Write the build cache: `type=registry,ref=HOST/REPO:cache,mode=max`; repeatable
    #[arg(long = "cache-to", value_name = "SPEC")]
    cache_to: Vec<CacheSpec>,
    /// Put the image into the engine's image store (the `docker` builder does)
    #[arg(long)]
    load: bool,
    /// An SBOM attestation: `--sbom`, `--sbom=false`, or `--sbom=generator=IMAGE` (the
    /// scanner BuildKit runs); the value follows `=`, as buildx takes it
    #[arg(long, value_name = "VALUE", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = Attest::sbom)]
    sbom: Option<Attest>,
    /// A provenance attestation: `--provenance` (`mode=min`), `--provenance=false`, or
    /// `--provenance=mode=max` [default: mode=min, as buildx]
    #[arg(long, value_name = "VALUE", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = Attest::provenance)]
    provenance: Option<Attest>,
    /// The builder [default: $BUILDX_BUILDER, else the one `docker buildx use` chose, else
    /// multiarch-builder if created, else the engine's own]
    #[arg(long)]
    builder: Option<String>,
    /// Plain progress output, even on a terminal
    #[arg(long)]
    plain: bool,
    /// Print no profile after the build (where the time went, per platform and step)
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Write the build's profile as JSON to FILE: per platform its node and steps, each
    /// with its Dockerfile line, start, duration, whether cached, and native, cross or
    /// emulated
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Only check that every base image exists for every platform (and holds that CPU's
    /// programs), print the table, and build nothing
    #[arg(long, conflicts_with = "no_preflight")]
    preflight: bool,
    /// Skip the check of the base images that runs before every build
    #[arg(long)]
    no_preflight: bool,
    /// For a base that lacks a platform, look through the tags of its line for the
    /// newest that still has it (`node:lts` lost linux/arm/v7; `node:22` has it)
    #[arg(long, conflicts_with = "no_preflight")]
    history: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// The folders and the Dockerfile exist, before the engine is asked for anything.
fn check_inputs(args: &Args) -> anyhow::Result<()> {
    if !args.context.is_dir() {
        return Err(problem(
            format!(
                "the build context `{}` is not a folder",
                args.context.display()
            ),
            "give the folder with the sources, e.g. `.`",
        ));
    }
    let dockerfile = args
        .file
        .clone()
        .unwrap_or_else(|| args.context.join("Dockerfile"));
    if !dockerfile.is_file() {
        return Err(problem(
            format!("there is no Dockerfile at `{}`", dockerfile.display()),
            "pass the one to use with `--file`",
        ));
    }
    for NamedDir { name, dir } in &args.build_contexts {
        if !dir.is_dir() {
            return Err(problem(
                format!(
                    "the named context `{name}` points at `{}`, which is not a folder",
                    dir.display()
                ),
                "for the host-built binaries, run `scripts/build-dist.sh` first (it fills `dist/`)",
            ));
        }
    }
    Ok(())
}

/// Every base of the build, checked for every platform before anything compiles; the
/// table on stderr (stdout with `--preflight` alone).
///
/// # Errors
/// A Dockerfile that cannot be read or planned, or a base that stops the build; else how
/// many bases could not be asked.
async fn preflight(args: &Args) -> anyhow::Result<usize> {
    use multiarch::preflight::{self, Planned};
    use multiarch::retry::RetryPolicy;
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| args.context.join("Dockerfile"));
    let dockerfile = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the Dockerfile `{}`", file.display()))?;
    let contexts: Vec<String> = args.build_contexts.iter().map(|c| c.name.clone()).collect();
    let build_platform = match multiarch::engine::connect().await {
        Ok(docker) => multiarch::engine::engine_platform(&docker).await,
        Err(_) => None,
    }
    .or_else(|| multiarch::Platform::from_machine(std::env::consts::ARCH))
    .unwrap_or_else(multiarch::Platform::linux_amd64);
    let bases = preflight::plan(&Planned {
        dockerfile: &dockerfile,
        target: args.target.as_deref(),
        build_args: &args.build_args,
        contexts: &contexts,
        platforms: &args.platform.0,
        build_platform: &build_platform,
    })
    .with_context(|| format!("cannot check the base images of `{}`", file.display()))?;
    if bases.is_empty() {
        if args.preflight {
            eprintln!(
                "no base image to check: every stage starts FROM scratch, another stage or a named context"
            );
        }
        return Ok(0);
    }
    let references: Vec<_> = bases
        .iter()
        .filter_map(|b| parse_reference(&b.image).ok())
        .collect();
    // A quick look: a base that cannot be asked is the build's to report.
    let registry = args
        .registry
        .client(&references, false)
        .with_retry(RetryPolicy {
            tries: 2,
            ..RetryPolicy::default()
        });
    let mut checks = preflight::check(&registry, &bases).await;
    if args.history {
        for check in &mut checks {
            let lost_a_platform = matches!(
                &check.status,
                preflight::BaseStatus::Missing { available } if !available.is_empty()
            );
            if lost_a_platform {
                match preflight::still_has(&registry, &check.image, &check.platform).await {
                    Ok(found) => check.still_in = found,
                    Err(e) => eprintln!(
                        "warning: cannot look through the tags of `{}`: {}",
                        check.image,
                        multiarch::error::root_cause(&e)
                    ),
                }
            }
        }
    }
    let table = super::render::preflight_table(&checks);
    if args.preflight {
        print!("{table}");
    } else {
        eprint!("{table}");
    }
    let stopping: Vec<_> = checks
        .iter()
        .filter(|c| c.status.stops_the_build())
        .collect();
    if let Some(first) = stopping.first() {
        return Err(problem(
            format!(
                "{} base image(s) would fail this build: `{}` for {} first; nothing was built",
                stopping.len(),
                first.image,
                first.platform
            ),
            "build for the platforms the base has (`--platform`), or choose a base or tag that has them all (`multiarch inspect BASE` lists them)",
        ));
    }
    Ok(checks
        .iter()
        .filter(|c| matches!(c.status, preflight::BaseStatus::Unchecked { .. }))
        .count())
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reference = parse_reference(&args.tag)?;
    check_inputs(&args)?;
    if !args.no_preflight {
        let unchecked = preflight(&args).await?;
        if args.preflight {
            if unchecked > 0 {
                eprintln!(
                    "{unchecked} base image(s) could not be checked from here; the others have every platform this build needs"
                );
            } else {
                eprintln!("every base image has every platform this build needs");
            }
            return Ok(ExitCode::SUCCESS);
        }
    }
    let from_env = std::env::var("BUILDX_BUILDER").ok();
    let builders = Builders::from_env();
    let (chosen, why) = builders.choose(args.builder.as_deref(), from_env.as_deref())?;
    let flags = BuildFlags {
        cache_from: args.cache_from,
        cache_to: args.cache_to,
        load: args.load,
        sbom: args.sbom,
        provenance: args.provenance,
    };
    let request = BuildRequest {
        context: args.context,
        file: args.file,
        tag: reference.clone(),
        platforms: args.platform.0.clone(),
        build_args: args.build_args,
        build_contexts: args.build_contexts,
        target: args.target,
        no_cache: args.no_cache,
        labels: args.labels,
        flags,
        push: args.push,
        insecure: args.registry.insecure.clone(),
    };
    let started = std::time::Instant::now();
    eprintln!(
        "building {} for {} with builder `{}` ({}; chosen by {why})",
        args.tag,
        multiarch::join_platforms(&args.platform.0),
        chosen.name(),
        chosen.described()
    );
    let profile = {
        let printer = BuildPrinter::new(args.plain);
        image::run(builders.store(), &chosen, &request, |e| printer.show(e)).await?;
        printer.take_profile()
    };
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(profile) = &profile {
        if !args.quiet {
            eprint!("{}", super::render::profile_lines(profile));
        }
        if let Some(path) = &args.report {
            let report = serde_json::json!({
                "builder": chosen.name(),
                "driver": chosen.driver_name(),
                "platforms": profile.platforms,
                "hints": profile.hints,
                "unasked_emulation": profile.unasked,
                "profile_cost_seconds": profile.cost_seconds,
            });
            std::fs::write(path, serde_json::to_vec_pretty(&report)?).with_context(|| {
                format!("cannot write the build's report to `{}`", path.display())
            })?;
        }
    }
    if args.push {
        // The same table as `inspect`, read back from the registry.
        let registry = args
            .registry
            .client(std::slice::from_ref(&reference), false);
        let report = multiarch::inspect::report(&registry, &reference)
            .await
            .with_context(|| format!("cannot inspect `{}`", args.tag))?;
        eprintln!("pushed {} as {}", args.tag, report.digest);
        print!("{}", inspect_table(&report));
    }
    Ok(ExitCode::SUCCESS)
}
