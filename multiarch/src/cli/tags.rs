//! `multiarch tags REPOSITORY`: every tag, page by page as the distribution API hands
//! them out (`n` and `last`).

use std::process::ExitCode;

use anyhow::Context;

use super::{ImageArgs, OutputArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    repository: ImageArgs,
    /// How many tags to ask for per request
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    page_size: u16,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (reference, registry) = args.repository.open(args.output.json)?;
    let tags = registry
        .tags(&reference, usize::from(args.page_size))
        .await
        .with_context(|| format!("cannot list the tags of `{}`", args.repository.image))?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&tags)?);
    } else {
        for tag in &tags {
            println!("{tag}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
