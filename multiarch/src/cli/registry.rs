//! `multiarch registry up | down | status`: the local registry from `registry.yml`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use multiarch::local_registry::compose::{self, RegistrySpec};
use multiarch::local_registry::{self, UpOutcome};

use super::OutputArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The compose file with the registry's settings [default: ./registry.yml, else built in]
    #[arg(long, short = 'f', global = true, value_name = "FILE")]
    file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Start the registry (reusing a running or stopped one) and wait until it answers
    Up {
        /// Publish on this port instead of the file's
        #[arg(long)]
        port: Option<u16>,
        /// Publish on this address instead of the file's (0.0.0.0 exposes it to the network)
        #[arg(long)]
        bind: Option<IpAddr>,
    },
    /// Stop and remove the registry container; its data volume stays
    Down {
        /// Remove the data volume too
        #[arg(long)]
        volumes: bool,
    },
    /// Show the image, the address, whether it answers, and what it holds
    Status {
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn load_spec(file: Option<PathBuf>) -> anyhow::Result<RegistrySpec> {
    let default = PathBuf::from("registry.yml");
    let path = file.or_else(|| default.exists().then_some(default));
    Ok(compose::load(path.as_deref())?)
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = load_spec(args.file)?;
    let docker = multiarch::engine::connect().await?;
    match args.action {
        Action::Up { port, bind } => {
            if let Some(port) = port {
                spec.host_port = port;
            }
            if let Some(bind) = bind {
                spec.bind = bind;
            }
            let outcome = local_registry::up(&docker, &spec).await?;
            let what = match outcome {
                UpOutcome::Created => "started",
                UpOutcome::Restarted => "started again",
                UpOutcome::AlreadyRunning => "already running",
            };
            eprintln!(
                "registry `{}` {what}: http://{}/v2/ (data in volume `{}`)",
                spec.container_name,
                local_registry::probe_address(&spec),
                spec.volume
            );
            if spec.is_exposed() {
                eprintln!(
                    "warning: published on {}, so other machines can push and pull",
                    spec.bind
                );
            }
            println!("{}", spec.address());
        }
        Action::Down { volumes } => {
            let existed = local_registry::down(&docker, &spec, volumes).await?;
            let container = if existed { "removed" } else { "was not there" };
            let volume = if volumes { "removed" } else { "kept" };
            eprintln!(
                "registry `{}` {container}; volume `{}` {volume}",
                spec.container_name, spec.volume
            );
        }
        Action::Status { output } => {
            let status = local_registry::status(&docker, &spec).await?;
            if output.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("container:    {}", status.container);
                println!("image:        {}", status.image);
                println!("state:        {}", status.state);
                println!(
                    "published:    {}",
                    status.published.as_deref().unwrap_or("-")
                );
                println!(
                    "answers:      {}",
                    if status.answers { "yes (/v2/)" } else { "no" }
                );
                println!("volume:       {}", status.volume);
                println!(
                    "repositories: {}",
                    if status.repositories.is_empty() {
                        "-".to_string()
                    } else {
                        status.repositories.join(", ")
                    }
                );
                if status.exposed {
                    eprintln!(
                        "warning: the registry is reachable from other machines (published on a non-loopback address)"
                    );
                    eprintln!(
                        "hint: `multiarch registry down && multiarch registry up --bind 127.0.0.1`"
                    );
                }
            }
            if status.state != "running" || !status.answers {
                return Ok(ExitCode::from(3));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
