//! `multiarch completion SHELL`: the shell's completion script on stdout, as crane, oras,
//! regctl and buildx print theirs (clap_complete writes it from the command line's own
//! definition, so it cannot fall behind a flag).

use std::process::ExitCode;

use clap::CommandFactory;

/// The shell to complete for.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, powershell or elvish. bash: `source <(multiarch completion bash)`,
    /// or save it as `~/.local/share/bash-completion/completions/multiarch`; zsh: save it
    /// as `_multiarch` in a folder of `$fpath`; fish: as
    /// `~/.config/fish/completions/multiarch.fish`
    shell: clap_complete::Shell,
}

/// Prints the completion script (a reader that stops early, as `head` does, is no error).
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut super::Cli::command(),
        "multiarch",
        &mut script,
    );
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot print the completion script"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
