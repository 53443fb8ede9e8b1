//! `multiarch` as a Docker CLI plugin: `docker multiarch verify IMAGE`, as buildx and compose
//! are `docker buildx` and `docker compose`. Docker finds `docker-multiarch` in
//! `~/.docker/cli-plugins/` (or `/usr/libexec/docker/cli-plugins/`), asks it for its
//! metadata (`docker-multiarch docker-cli-plugin-metadata`), and runs it as
//! `docker-multiarch multiarch ARGS...`. `multiarch plugin install` puts it there.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The subcommand Docker runs to learn what a plugin is.
const METADATA_COMMAND: &str = "docker-cli-plugin-metadata";
/// The plugin's name: the word after `docker`.
const PLUGIN_NAME: &str = "multiarch";

/// How the binary was started.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Docker asks for the plugin's metadata.
    Metadata,
    /// `docker multiarch ARGS`: the arguments without Docker's plugin name.
    Plugin(Vec<OsString>),
    /// `multiarch ARGS`.
    Direct(Vec<OsString>),
}

/// Reads how the binary was started from its arguments: Docker runs a plugin with the
/// plugin's name as its first argument, and only a binary named `docker-multiarch` is
/// found by Docker.
pub fn invocation(args: Vec<OsString>) -> Invocation {
    let as_plugin = args
        .first()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|name| name == format!("docker-{PLUGIN_NAME}"));
    match args.get(1).and_then(|a| a.to_str()) {
        Some(METADATA_COMMAND) => Invocation::Metadata,
        Some(PLUGIN_NAME) if as_plugin => {
            let mut args = args;
            args.remove(1);
            Invocation::Plugin(args)
        }
        _ => Invocation::Direct(args),
    }
}

/// What Docker reads from `docker-cli-plugin-metadata` (schema 0.1.0).
pub fn metadata() -> serde_json::Value {
    serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "multiarch kit",
        "Version": env!("CARGO_PKG_VERSION"),
        "ShortDescription": "Build, push, inspect and prove multi-architecture images",
        "URL": env!("CARGO_PKG_REPOSITORY"),
    })
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Install this binary as the Docker CLI plugin `docker multiarch`
    Install {
        /// The plugin folder [default: ${DOCKER_CONFIG:-~/.docker}/cli-plugins]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Action::Install { dir } = args.action;
    let dir = match dir {
        Some(dir) => dir,
        None => multiarch::engine::endpoint::docker_config_dir().join("cli-plugins"),
    };
    let me = std::env::current_exe()?;
    let target = dir.join(format!("docker-{PLUGIN_NAME}"));
    std::fs::create_dir_all(&dir).map_err(|e| {
        super::problem(
            format!("cannot create the plugin folder `{}`: {e}", dir.display()),
            "choose another with `--dir`, or create it yourself",
        )
    })?;
    // A copy under a temporary name, then a rename: a `docker multiarch` running now
    // keeps its binary, and a copy cut short is never found by Docker.
    let temporary = dir.join(format!(".docker-{PLUGIN_NAME}.{}", std::process::id()));
    std::fs::copy(&me, &temporary)
        .and_then(|_| std::fs::rename(&temporary, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            super::problem(
                format!("cannot install the plugin at `{}`: {e}", target.display()),
                "check that the folder can be written",
            )
        })?;
    eprintln!(
        "installed `{}`: `docker multiarch --help` runs it",
        target.display()
    );
    println!("{}", target.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn docker_runs_the_plugin_with_its_name_first() {
        assert_eq!(
            invocation(words(&[
                "/root/.docker/cli-plugins/docker-multiarch",
                "multiarch",
                "verify",
                "x"
            ])),
            Invocation::Plugin(words(&[
                "/root/.docker/cli-plugins/docker-multiarch",
                "verify",
                "x"
            ]))
        );
        assert_eq!(
            invocation(words(&["docker-multiarch", "docker-cli-plugin-metadata"])),
            Invocation::Metadata
        );
    }

    #[test]
    fn a_direct_run_keeps_every_word() {
        // `multiarch multiarch` is no plugin call: the binary is not docker-multiarch.
        let direct = words(&["multiarch", "multiarch"]);
        assert_eq!(invocation(direct.clone()), Invocation::Direct(direct));
        let direct = words(&["docker-multiarch", "inspect", "x"]);
        assert_eq!(invocation(direct.clone()), Invocation::Direct(direct));
    }

    #[test]
    fn the_metadata_is_what_docker_reads() {
        let m = metadata();
        assert_eq!(m["SchemaVersion"], "0.1.0");
        assert!(!m["Vendor"].as_str().unwrap().is_empty());
        assert!(m["ShortDescription"].as_str().unwrap().len() < 80);
    }
}
