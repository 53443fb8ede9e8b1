//! The command line: `arch-server [OPTIONS]` serves, `arch-server healthcheck` probes.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::AppState;
use crate::config::{LogFormat, ServerFlags, Settings};
use crate::machine::MachineInfo;
use crate::{healthcheck, serve};

/// Says which machine architecture it runs on: `GET /arch`.
#[derive(Debug, Parser)]
#[command(name = "arch-server", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub flags: ServerFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do instead of serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe `/healthz` on the configured port; exit 0 when it answers 200, 1 otherwise
    Healthcheck {
        /// How long to wait for the answer
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// Runs the command line.
///
/// # Errors
/// An unusable configuration, a port that cannot be bound, or a server failure.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&cli.flags, |name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::Healthcheck { timeout }) => {
            let addr = healthcheck::probe_addr(settings.addr);
            Ok(match runtime.block_on(healthcheck::check(addr, timeout)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("unhealthy: {err:#}");
                    ExitCode::FAILURE
                }
            })
        }
        None => {
            init_tracing(settings.log_format);
            runtime.block_on(async {
                let listener = serve::bind(&settings).await?;
                let state = AppState::new(MachineInfo::detect());
                let machine = state.machine();
                tracing::info!(
                    machine = %machine.machine,
                    platform = %machine.platform.as_ref().map_or("unknown".into(), ToString::to_string),
                    version = machine.version,
                    "arch-server starting"
                );
                serve::serve(listener, state, &settings, serve::shutdown_signal()).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("arch_server=info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).init();
        }
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
