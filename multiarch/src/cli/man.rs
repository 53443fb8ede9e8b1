//! `multiarch man DIR`: a man page per command (`multiarch.1`, `multiarch-build.1`,
//! `multiarch-manifest-create.1`, ...), written by clap_mangen from the command line's own
//! definition, for the release archives and for distributions that package the kit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

/// Where to write the pages.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder for the pages (made if missing); `man -l DIR/multiarch.1` reads one, or
    /// copy them to `~/.local/share/man/man1/`
    dir: PathBuf,
}

/// Writes every page and names how many.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot make the folder `{}`", args.dir.display()))?;
    let mut command = super::Cli::command();
    // Names each subcommand after its parents (`multiarch-manifest-create`), as git's and
    // cargo's pages are named.
    command.build();
    let written = write_pages(&command, &args.dir)
        .with_context(|| format!("cannot write the man pages into `{}`", args.dir.display()))?;
    eprintln!("{written} man pages in {}", args.dir.display());
    Ok(ExitCode::SUCCESS)
}

/// The page of `command` and of each of its subcommands (not clap's `help`), how many.
fn write_pages(command: &clap::Command, dir: &Path) -> std::io::Result<usize> {
    let name = command.get_display_name().unwrap_or(command.get_name());
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    let mut written = 1;
    for subcommand in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        written += write_pages(subcommand, dir)?;
    }
    Ok(written)
}
