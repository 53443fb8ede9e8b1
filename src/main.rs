//! `arch-server`: parses the command line, runs, and reports an error once.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = arch_server::cli::Cli::parse();
    match arch_server::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
