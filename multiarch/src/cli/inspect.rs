//! `multiarch inspect IMAGE`: what `docker buildx imagetools inspect` shows, read
//! straight from the registry, with attestations named for the image they describe.

use std::process::ExitCode;

use anyhow::Context;

use super::render::inspect_table;
use super::{ImageArgs, OutputArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: ImageArgs,
    /// Print the manifest exactly as the registry sent it
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (reference, registry) = args.target.open(args.output.json)?;
    let context = || format!("cannot inspect `{}`", args.target.image);
    if args.raw {
        let fetched = registry.fetch(&reference).await.with_context(context)?;
        use std::io::Write;
        std::io::stdout().write_all(&fetched.bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = multiarch::inspect::report(&registry, &reference)
        .await
        .with_context(context)?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", inspect_table(&report));
    }
    Ok(ExitCode::SUCCESS)
}
