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
        /// Run it as a pull-through cache of this registry (`https://registry-1.docker.io`
        /// for Docker Hub): engines pull through it, it keeps what they pulled, and refuses
        /// pushes. It logs in with what `docker login HOST` stored, or with
        /// `--mirror-username` and $MULTIARCH_MIRROR_PASSWORD
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
        /// The user name for the upstream (the password comes from $MULTIARCH_MIRROR_PASSWORD)
        #[arg(long, value_name = "USER", requires = "mirror")]
        mirror_username: Option<String>,
        /// A CA certificate (PEM) to trust for the upstream, beside the system's
        #[arg(long, value_name = "FILE", requires = "mirror")]
        mirror_ca: Option<std::path::PathBuf>,
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
        Action::Up {
            port,
            bind,
            mirror,
            mirror_username,
            mirror_ca,
        } => {
            if let Some(port) = port {
                spec.host_port = port;
            }
            if let Some(bind) = bind {
                spec.bind = bind;
            }
            if let Some(remote) = mirror {
                spec.mirror = Some(mirror_settings(remote, mirror_username, mirror_ca)?);
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
            if spec.mirror.is_some() {
                print_mirror_use(&spec);
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
                if let Some(remote) = &status.mirror_of {
                    println!("mirrors:      {remote} (a pull-through cache; pushes are refused)");
                }
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

/// The upstream, its login and its CA, each checked before anything starts.
fn mirror_settings(
    remote: String,
    username: Option<String>,
    ca: Option<std::path::PathBuf>,
) -> anyhow::Result<local_registry::Mirror> {
    let url = reqwest::Url::parse(&remote)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            super::problem(
                format!("`{remote}` is not a registry's URL"),
                "give its scheme and host: `--mirror https://registry-1.docker.io`",
            )
        })?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let login = match username {
        Some(user) => {
            let password = std::env::var("MULTIARCH_MIRROR_PASSWORD").map_err(|_| {
                super::problem(
                    format!("`--mirror-username {user}` needs the password in $MULTIARCH_MIRROR_PASSWORD"),
                    "set it in the environment (never on the command line, where `ps` shows it)",
                )
            })?;
            Some((user, password))
        }
        None => multiarch::registry::stored_login(&host),
    };
    let ca = match ca {
        Some(path) => Some(std::fs::read(&path).map_err(|e| {
            super::problem(
                format!("cannot read the CA `{}`: {e}", path.display()),
                "give the upstream's CA certificate, a PEM file",
            )
        })?),
        None => None,
    };
    Ok(local_registry::Mirror {
        remote: remote.trim_end_matches('/').to_string(),
        login,
        ca,
    })
}

/// What engines need to pull through the mirror, and what a room needs to know.
fn print_mirror_use(spec: &RegistrySpec) {
    let address = spec.address();
    eprintln!(
        "a pull-through cache of {}: engines pull through it with, in /etc/docker/daemon.json (Docker Desktop: Settings > Docker Engine), then a restart of the engine:",
        spec.mirror.as_ref().map_or("", |m| m.remote.as_str())
    );
    eprintln!("  {}", local_registry::daemon_json_line(&address));
    if spec.is_exposed() {
        eprintln!(
            "for a room, attendees write this machine's address instead of {address}; pushes to it are refused"
        );
    } else {
        eprintln!(
            "only this machine reaches it; for a room, `--bind 0.0.0.0` and give attendees this machine's address"
        );
    }
}
