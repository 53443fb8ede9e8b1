//! The command line: one module per subcommand, each with its `Args` and `run`.
//! Data goes to stdout (tables, digests, `--json`); logs and errors go to stderr.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod audit;
mod build;
mod builder;
mod completion;
mod copy;
mod demo;
mod doctor;
mod hint;
mod inspect;
mod man;
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
    /// A label (KEY=VALUE) for every container, volume and context image the kit creates
    /// in the engine, so a CI job can find and remove what it left; repeatable
    #[arg(
        long = "container-label",
        value_name = "KEY=VALUE",
        env = "MULTIARCH_LABELS",
        value_delimiter = ',',
        value_parser = parse_label,
        global = true
    )]
    container_labels: Vec<(String, String)>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Is a fleet ready for a set of platforms: every image its manifests name, checked
    /// down to the programs in its layers
    Audit(audit::Args),
    /// Create, remove, list or inspect builders (buildkitd.toml)
    Builder(builder::Args),
    /// Build (and push) a multi-platform image through a builder
    Build(build::Args),
    /// Print a shell's completion script: bash, zsh, fish, powershell, elvish
    Completion(completion::Args),
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
    /// Write a man page per command into a folder
    Man(man::Args),
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
    /// How many times each registry request is tried in all, when it fails transiently
    /// (connection refused or reset, timeouts, HTTP 408, 429, 5xx); 1 turns retries off
    #[arg(long, value_name = "N", env = "MULTIARCH_RETRIES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub retries: u32,
    /// The most one registry request may take with its retries and their waits
    #[arg(long, value_name = "DURATION", env = "MULTIARCH_RETRY_MAX_TIME", default_value = "2m", value_parser = humantime::parse_duration)]
    pub retry_max_time: std::time::Duration,
}

impl RegistryArgs {
    /// A client for the registries of `references`, retrying as the flags say and
    /// reporting each retry on stderr (a JSON line each, for `--json` users).
    pub fn client(
        &self,
        references: &[oci_client::Reference],
        json: bool,
    ) -> multiarch::registry::Registry {
        use multiarch::retry::{RetryPolicy, Retrying};
        let policy = RetryPolicy {
            tries: self.retries,
            max_time: self.retry_max_time,
            ..RetryPolicy::default()
        };
        let report = move |r: &Retrying| {
            if json {
                let event = serde_json::json!({"event": "retry", "retry": r});
                eprintln!("{event}");
            } else {
                eprintln!(
                    "retrying {} in {:.1} s (try {} of {}): {}",
                    r.what,
                    r.wait.as_secs_f64(),
                    r.attempt,
                    r.tries,
                    r.reason
                );
            }
        };
        multiarch::registry::Registry::for_references(references, &self.insecure)
            .with_retry(policy)
            .on_retry(std::sync::Arc::new(report))
    }
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
    /// The image's reference, parsed, and a client for its registry (`json`: retries are
    /// reported as JSON lines).
    ///
    /// # Errors
    /// A reference that does not parse.
    pub fn open(
        &self,
        json: bool,
    ) -> multiarch::error::Result<(oci_client::Reference, multiarch::registry::Registry)> {
        let reference = multiarch::input::parse_reference(&self.image)?;
        let registry = self.registry.client(std::slice::from_ref(&reference), json);
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

/// `KEY=VALUE`, as `docker run --label` takes it (the value may be empty).
fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
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
    multiarch::engine::set_extra_labels(cli.container_labels);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let command = async {
            match cli.command {
                Command::Audit(args) => audit::run(args).await,
                Command::Builder(args) => builder::run(args).await,
                Command::Build(args) => build::run(args).await,
                Command::Completion(args) => completion::run(args).await,
                Command::Copy(args) => copy::run(args).await,
                Command::Tags(args) => tags::run(args).await,
                Command::Demo(args) => demo::run(args).await,
                Command::Doctor(args) => doctor::run(args).await,
                Command::Registry(args) => registry::run(args).await,
                Command::Inspect(args) => inspect::run(args).await,
                Command::Man(args) => man::run(args).await,
                Command::Manifest(args) => manifest::run(args).await,
                Command::Plugin(args) => plugin::run(args).await,
                Command::Pull(args) => pull::run(args).await,
                Command::Verify(args) => verify::run(args).await,
            }
        };
        tokio::select! {
            result = command => result,
            _ = tokio::signal::ctrl_c() => Ok(interrupted(130).await),
            () = terminated() => Ok(interrupted(143).await),
        }
    })
}

/// SIGTERM, what `kill`, `timeout` and a CI job's cancel send: cleaned up as Ctrl-C is
/// (a killed build left its named context behind before).
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut signal) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        signal.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}

/// Ctrl-C or SIGTERM, whatever the command was doing: the command's future is dropped
/// (which stops its builds and pulls), then every container and named-context image this
/// invocation made is removed. The exit code is the one shells report for the signal:
/// 130 for SIGINT, 143 for SIGTERM.
async fn interrupted(code: u8) -> ExitCode {
    // A container or image the engine was creating when Ctrl-C came appears only when
    // that request ends; wait for it, or it would outlive this clean-up.
    multiarch::engine::creations_settled(std::time::Duration::from_secs(10)).await;
    let removed = match multiarch::engine::connect().await {
        Ok(docker) => {
            multiarch::buildkit::remove_leftover_contexts(&docker).await;
            // A builder container this run was creating or booting: the entry (if any)
            // stays, and the next build or `docker buildx` makes it again.
            multiarch::engine::remove_labelled(
                &docker,
                multiarch::buildkit::driver::container::CREATED_BY_LABEL,
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
    ExitCode::from(code)
}

/// A problem the command line finds itself (a missing folder, a failed demo step), with
/// the fix for its `hint:` line, as [`hint::for_cause`] gives the library's errors theirs.
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
        hint::for_cause(e)
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
