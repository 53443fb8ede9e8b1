//! The command line: one module per subcommand, each with its `Args` and `run`.
//! Data goes to stdout (tables, digests, `--json`); logs and errors go to stderr.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod build;
mod builder;
mod copy;
mod demo;
mod doctor;
mod hint;
mod inspect;
mod manifest;
pub mod plugin;
mod pull;
mod registry;
mod render;
mod tags;
mod verify;

/// Build, push, inspect and prove multi-architecture container images.
#[derive(Debug, Parser)]
#[command(name = "multiarch", version, about, long_about = None)]
pub struct Cli {
    /// More logs on stderr (-v debug, -vv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, remove, list or inspect builders (buildkitd.toml)
    Builder(builder::Args),
    /// Build (and push) a multi-platform image through a builder
    Build(build::Args),
    /// Copy an image to another repository or registry, whole or some platforms of it
    Copy(copy::Args),
    /// The whole story: registry, builder, build and push, inspect, run each platform, verify
    Demo(demo::Args),
    /// Check what this machine can do, with a fix for each problem
    Doctor(doctor::Args),
    /// Start, stop or show the local registry (settings from registry.yml)
    Registry(registry::Args),
    /// Show an image's index: one row per platform, attestations named
    Inspect(inspect::Args),
    /// Make or change an index in the registry: create, add, rm, annotate
    Manifest(manifest::Args),
    /// Install as the Docker CLI plugin `docker multiarch`
    Plugin(plugin::Args),
    /// Pull platforms through the engine and check it got exactly those
    Pull(pull::Args),
    /// List a repository's tags
    Tags(tags::Args),
    /// Prove each platform holds what the index claims: ELF headers, then run it
    Verify(verify::Args),
}

/// Registry flags shared by every subcommand that reads or writes a registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP to this registry (host:port); repeatable. Local registries
    /// (localhost, 127.0.0.1, [::1]) get plain HTTP unless they answer over HTTPS
    #[arg(
        long = "insecure",
        value_name = "REGISTRY",
        env = "MULTIARCH_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure: Vec<String>,
}

/// The image a command reads, and how to reach its registry.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// The image: `localhost:5000/arch-server:latest`
    pub image: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl ImageArgs {
    /// The image's reference, parsed, and a client for its registry.
    ///
    /// # Errors
    /// A reference that does not parse.
    pub fn open(
        &self,
    ) -> multiarch::error::Result<(oci_client::Reference, multiarch::registry::Registry)> {
        let reference = multiarch::registry::parse_reference(&self.image)?;
        let registry =
            multiarch::registry::Registry::for_reference(&reference, &self.registry.insecure);
        Ok((reference, registry))
    }
}

/// A verb whose work is chosen by a sub-verb (`builder create`, `manifest create`).
#[derive(Debug, Args)]
pub struct Actions<A: clap::Subcommand> {
    #[command(subcommand)]
    pub action: A,
}

/// The platforms to act on, e.g. `linux/amd64,linux/arm64`.
#[derive(Debug, Clone, Args)]
pub struct PlatformArgs {
    /// Comma-separated platforms, e.g. `linux/amd64,linux/arm64` [default: all in the index]
    #[arg(long, value_parser = parse_platforms)]
    pub platform: Option<PlatformList>,
}

/// A parsed `--platform` list (a newtype, so clap takes it as one value).
#[derive(Debug, Clone)]
pub struct PlatformList(pub Vec<multiarch::Platform>);

pub fn parse_platforms(text: &str) -> Result<PlatformList, String> {
    multiarch::parse_platform_list(text)
        .map(PlatformList)
        .map_err(|e| e.to_string())
}

/// Output flags shared by subcommands that print data.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print the facts as JSON, for scripts
    #[arg(long)]
    pub json: bool,
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; printed once by [`report`].
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    init_tracing(cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let command = async {
            match cli.command {
                Command::Builder(args) => builder::run(args).await,
                Command::Build(args) => build::run(args).await,
                Command::Copy(args) => copy::run(args).await,
                Command::Tags(args) => tags::run(args).await,
                Command::Demo(args) => demo::run(args).await,
                Command::Doctor(args) => doctor::run(args).await,
                Command::Registry(args) => registry::run(args).await,
                Command::Inspect(args) => inspect::run(args).await,
                Command::Manifest(args) => manifest::run(args).await,
                Command::Plugin(args) => plugin::run(args).await,
                Command::Pull(args) => pull::run(args).await,
                Command::Verify(args) => verify::run(args).await,
            }
        };
        tokio::select! {
            result = command => result,
            _ = tokio::signal::ctrl_c() => Ok(interrupted().await),
        }
    })
}

/// Ctrl-C, whatever the command was doing: the command's future is dropped (which stops
/// its builds and pulls), then every container and named-context image this invocation
/// made is removed. Exit code 130, as shells report SIGINT.
async fn interrupted() -> ExitCode {
    // A container or image the engine was creating when Ctrl-C came appears only when
    // that request ends; wait for it, or it would outlive this clean-up.
    multiarch::engine::creations_settled(std::time::Duration::from_secs(10)).await;
    let removed = match multiarch::engine::connect().await {
        Ok(docker) => {
            multiarch::buildkit::image::remove_leftover_contexts(&docker).await;
            // A builder container this run was creating or booting: the entry (if any)
            // stays, and the next build or `docker buildx` makes it again.
            multiarch::engine::remove_labelled(
                &docker,
                multiarch::buildkit::container::CREATED_BY_LABEL,
                multiarch::engine::session_id(),
            )
            .await
                + multiarch::engine::remove_labelled(
                    &docker,
                    multiarch::engine::SESSION_LABEL,
                    multiarch::engine::session_id(),
                )
                .await
        }
        Err(_) => 0,
    };
    eprintln!("interrupted: removed {removed} container(s) this run started");
    ExitCode::from(130)
}

/// A problem the command line finds itself (a missing folder, a failed demo step), with
/// the fix for its `hint:` line, as [`hint::for_error`] gives the library's errors theirs.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    message: String,
    hint: String,
}

/// A [`Problem`] as the error a command returns.
pub fn problem(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Problem {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// Prints an error and its causes, then the first `hint:` found along the chain.
pub fn report(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    let hint = err.chain().find_map(|e| {
        if let Some(problem) = e.downcast_ref::<Problem>() {
            return Some(problem.hint.clone());
        }
        e.downcast_ref::<multiarch::error::Error>()
            .and_then(hint::for_error)
    });
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "multiarch=warn",
        1 => "multiarch=debug",
        _ => "multiarch=trace,oci_client=debug,bollard=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .without_time()
        .init();
}
