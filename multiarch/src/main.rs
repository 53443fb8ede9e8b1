//! `multiarch`: parses the command line, runs the subcommand, and reports an error once.
//! Named `docker-multiarch`, it is also the Docker CLI plugin `docker multiarch`.
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

mod cli;

fn main() -> ExitCode {
    let args = match cli::plugin::invocation(std::env::args_os().collect()) {
        cli::plugin::Invocation::Metadata => {
            println!("{}", cli::plugin::metadata());
            return ExitCode::SUCCESS;
        }
        cli::plugin::Invocation::Direct(words) => cli::Cli::parse_from(words),
        // Usage and errors then name the command as typed: `docker multiarch verify`.
        cli::plugin::Invocation::Plugin(words) => {
            let matches = cli::Cli::command()
                .bin_name("docker multiarch")
                .get_matches_from(words);
            cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
        }
    };
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            cli::report(&err);
            ExitCode::FAILURE
        }
    }
}
