//! `multiarch builder create | rm | ls | inspect`: builders on the local engine, buildx
//! docker-container builders (in buildx's own store, so `docker buildx` sees them and they
//! see `docker buildx`'s), and builders made of nodes (`--node`, `--append`, `rm --node`).

use std::path::PathBuf;
use std::process::ExitCode;

use multiarch::buildkit::BuildError;
use multiarch::buildkit::builder::{Builders, Created, DEFAULT_NAME, RemoteBuilder, RemoteTls};
use multiarch::buildkit::create::{self, Wanted};
use multiarch::buildkit::driver::{self, Info, NodeInfo, Removal};
use multiarch::buildkit::nodes::{self, Node};
use multiarch::error::Error;

use super::OutputArgs;

pub type Args = super::Actions<Action>;

/// The drivers `create` makes; `docker buildx create` makes the others (`kubernetes`,
/// `cloud`), and the kit lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DriverArg {
    /// The engine's own BuildKit
    Docker,
    /// A BuildKit container, as `docker buildx create --driver docker-container` makes it
    DockerContainer,
    /// A BuildKit daemon at its own address (ENDPOINT), registered as `docker buildx
    /// create --driver remote` registers one
    Remote,
}

impl std::fmt::Display for DriverArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Docker => "docker",
            Self::DockerContainer => "docker-container",
            Self::Remote => "remote",
        })
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a builder (idempotent) and check it can push to the registry
    Create {
        /// The builder's name (for docker-container, as buildx takes it: lower case)
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// `docker`: the engine's BuildKit; `docker-container`: a BuildKit container, a
        /// buildx builder (`docker buildx ls` lists it); `remote`: a BuildKit daemon at
        /// ENDPOINT, a buildx builder too
        #[arg(long, value_enum, default_value_t = DriverArg::Docker)]
        driver: DriverArg,
        /// For `--driver remote`: the daemon's address, `tcp://HOST:PORT` or
        /// `unix:///PATH`
        #[arg(value_name = "ENDPOINT")]
        endpoint: Option<String>,
        /// For `--driver remote`, as buildx takes them: `cacert=FILE`, `cert=FILE`,
        /// `key=FILE`, `servername=NAME` (comma-separated or repeated)
        #[arg(long = "driver-opt", value_name = "KEY=VALUE")]
        driver_opts: Vec<String>,
        /// BuildKit's configuration [default: ./buildkitd.toml, else built in]
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The registry it will push to
        #[arg(long, default_value = "localhost:5000")]
        registry: String,
        /// The BuildKit image for `docker-container` [default: moby/buildkit:v0.25.1 when
        /// the engine has it, else the test bed's multiarch-testbed/buildkit:debian]
        #[arg(long)]
        image: Option<String>,
        /// A build node: `NAME=ENDPOINT[,certs=DIR][,platforms=P,...]`, where ENDPOINT is
        /// `unix:///var/run/docker.sock`, `tcp://HOST:2376` (with `certs=DIR` holding
        /// ca.pem, cert.pem and key.pem), `ssh://USER@HOST[:PORT]` (through the OpenSSH
        /// client, host keys checked strictly), a Docker context's name, or
        /// `buildx://BUILDER`: a buildx builder of any driver (docker-container, remote,
        /// kubernetes, cloud), reached through `docker buildx dial-stdio`; repeatable. Each
        /// node builds with its own BuildKit the platforms it fits best
        #[arg(long = "node", value_name = "NODE", conflicts_with = "image")]
        nodes: Vec<Node>,
        /// Add the `--node`s to an existing builder made of nodes
        #[arg(long, requires = "nodes")]
        append: bool,
        /// Make it the builder `multiarch build` and `docker buildx build` use when none is
        /// named, as `docker buildx create --use` does
        #[arg(long = "use", conflicts_with = "nodes")]
        use_it: bool,
    },
    /// Remove a builder as `docker buildx rm` does: its container and its state volume
    Rm {
        #[arg(default_value = DEFAULT_NAME)]
        name: String,
        /// Keep the builder's state and cache volume (`docker buildx rm --keep-state`)
        #[arg(long)]
        keep_state: bool,
        /// Accepted for scripts written for earlier versions: the volume goes by default now
        #[arg(long, hide = true, conflicts_with = "keep_state")]
        volumes: bool,
        /// Remove only this node from a builder made of nodes
        #[arg(long, value_name = "NAME", conflicts_with_all = ["volumes", "keep_state"])]
        node: Option<String>,
    },
    /// List builders (the kit's and buildx's): driver, status, platforms
    Ls {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one builder
    Inspect {
        #[arg(default_value = DEFAULT_NAME)]
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let builders = Builders::from_env();
    match args.action {
        Action::Create {
            name,
            driver,
            config,
            nodes,
            append,
            ..
        } if !nodes.is_empty() => {
            if driver != DriverArg::Docker {
                return Err(Error::Build(BuildError::BadNodes(format!(
                    "nodes build with their own BuildKit: leave out `--driver {driver}` (a buildx builder joins as `--node NAME=buildx://BUILDER`)"
                )))
                .into());
            }
            let config = multiarch::buildkit::buildkit_config::config_path(config)
                .as_ref()
                .map(std::fs::canonicalize)
                .transpose()?;
            let added: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
            match driver::nodes::create(&builders, &name, nodes, append, config).await? {
                Created::New if append => {
                    eprintln!("added node(s) {} to builder `{name}`", added.join(", "));
                }
                Created::New => {
                    eprintln!("created builder `{name}` with node(s) {}", added.join(", "))
                }
                Created::Existing => eprintln!("builder `{name}` already exists with these nodes"),
            }
            println!("{name}");
        }
        Action::Create {
            name,
            driver,
            config,
            registry,
            image,
            use_it,
            endpoint,
            driver_opts,
            ..
        } => {
            if use_it && driver == DriverArg::Docker {
                return Err(super::problem(
                    "`--use` makes a buildx builder current, and an engine builder is not one",
                    "`docker buildx use default` chooses the engine's own BuildKit; or create with `--driver docker-container --use`",
                ));
            }
            let wanted = match driver {
                DriverArg::Remote => {
                    let remote = remote_builder(&name, endpoint, &driver_opts, config, image)?;
                    create_remote(&builders, remote).await?;
                    None
                }
                _ if endpoint.is_some() || !driver_opts.is_empty() => {
                    return Err(super::problem(
                        format!(
                            "an ENDPOINT and `--driver-opt` are for `--driver remote`, not {driver}"
                        ),
                        "the engine's and a BuildKit container's settings are `--config` and `--image`",
                    ));
                }
                DriverArg::Docker => Some(Wanted::Engine {
                    name: name.clone(),
                    config,
                }),
                DriverArg::DockerContainer => Some(Wanted::Container {
                    name: name.clone(),
                    image,
                    config,
                }),
            };
            if let Some(wanted) = wanted {
                create(&builders, wanted, &registry).await?;
            }
            if use_it {
                builders
                    .store()
                    .set_current(&multiarch::engine::endpoint::local_endpoint(), &name)?;
                eprintln!("`{name}` is now the builder used when none is named");
            }
        }
        Action::Rm {
            name,
            node: Some(node),
            ..
        } => {
            driver::nodes::remove_node(&builders, &name, &node)?;
            eprintln!("removed node `{node}` from builder `{name}`");
        }
        Action::Rm {
            name, keep_state, ..
        } => {
            let local = multiarch::engine::connect().await.ok();
            let removal = Removal { keep_state };
            if !driver::rm(local.as_ref(), &builders, &name, removal).await? {
                return Err(Error::Build(BuildError::NoSuchBuilder(name)).into());
            }
            eprintln!("removed builder `{name}`");
        }
        Action::Ls { output } => {
            let local = multiarch::engine::connect().await.ok();
            let mut rows = Vec::new();
            for b in builders.list()? {
                rows.push(driver::info(local.as_ref(), &builders, &b).await);
            }
            show_list(&rows, output.json)?;
        }
        Action::Inspect { name, output } => {
            let local = multiarch::engine::connect().await.ok();
            let b = builders
                .find(&name)?
                .ok_or_else(|| Error::Build(BuildError::NoSuchBuilder(name.clone())))?;
            show_one(
                &driver::info(local.as_ref(), &builders, &b).await,
                output.json,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `create` for the engine and for a BuildKit container.
async fn create(builders: &Builders, wanted: Wanted, registry: &str) -> anyhow::Result<()> {
    let docker = multiarch::engine::connect().await?;
    let (builder, created) = create::create(&docker, builders, wanted, registry).await?;
    let (name, driver) = (builder.name(), builder.driver_name());
    let detail = builder.container().map_or_else(String::new, |c| {
        format!(
            ", image {}, container {}; `docker buildx ls` lists it",
            c.image(),
            c.container_name()
        )
    });
    match created {
        Created::New => eprintln!("created builder `{name}` ({driver} driver{detail})"),
        Created::Existing => eprintln!("builder `{name}` already exists ({driver} driver)"),
    }
    println!("{name}");
    Ok(())
}

/// `create --driver remote`: the daemon must answer before buildx's store holds it.
async fn create_remote(builders: &Builders, remote: RemoteBuilder) -> anyhow::Result<()> {
    let name = remote.name.clone();
    match driver::remote::create(builders, remote).await? {
        Created::New => {
            eprintln!("created builder `{name}` (remote driver); `docker buildx ls` lists it")
        }
        Created::Existing => eprintln!("builder `{name}` already exists (remote driver)"),
    }
    println!("{name}");
    Ok(())
}

/// The remote builder `create --driver remote` asks for, from its ENDPOINT and
/// `--driver-opt`s.
fn remote_builder(
    name: &str,
    endpoint: Option<String>,
    driver_opts: &[String],
    config: Option<PathBuf>,
    image: Option<String>,
) -> anyhow::Result<RemoteBuilder> {
    if config.is_some() || image.is_some() {
        return Err(super::problem(
            "a remote builder runs with its daemon's own configuration and image",
            "leave out `--config` and `--image`: configure the daemon where it runs (buildx refuses a config for the remote driver too)",
        ));
    }
    let Some(endpoint) = endpoint else {
        return Err(super::problem(
            "`--driver remote` needs the daemon's address",
            "name it: `multiarch builder create --driver remote --name NAME tcp://HOST:1234 --driver-opt cacert=ca.pem,cert=cert.pem,key=key.pem`",
        ));
    };
    Ok(RemoteBuilder {
        name: name.to_string(),
        endpoint,
        tls: remote_tls(driver_opts)?,
    })
}

fn show_list(rows: &[Info], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut lines = Vec::new();
    for row in rows {
        lines.push(vec![
            row.name.clone(),
            row.driver.clone(),
            row.status.to_string(),
            row.buildkit.clone(),
            row.platforms.join(", "),
        ]);
        for node in &row.nodes {
            lines.push(vec![
                format!("  \\_ {}", node.name),
                node.endpoint.clone(),
                node.status.to_string(),
                node.buildkit.clone(),
                node_platforms(node),
            ]);
        }
    }
    print!(
        "{}",
        super::render::table(
            &["NAME", "DRIVER/ENDPOINT", "STATUS", "BUILDKIT", "PLATFORMS"],
            &lines
        )
    );
    if rows.is_empty() {
        eprintln!("no builders yet: `multiarch builder create`");
    }
    Ok(())
}

fn show_one(row: &Info, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(row)?);
        return Ok(());
    }
    println!("name:      {}", row.name);
    println!("driver:    {}", row.driver);
    println!("status:    {}", row.status);
    println!("buildkit:  {}", row.buildkit);
    for (label, value) in &row.details {
        println!("{:<11}{value}", format!("{label}:"));
    }
    println!("platforms: {}", row.platforms.join(", "));
    for node in &row.nodes {
        println!();
        println!("node:      {}", node.name);
        println!("endpoint:  {}", node.endpoint);
        println!("status:    {}", node.status);
        println!("buildkit:  {}", node.buildkit);
        println!("named:     {}", nodes::list(&node.serves.declared));
        println!("native:    {}", nodes::list(&node.serves.native));
        println!("emulated:  {}", nodes::list(&node.serves.emulated));
    }
    Ok(())
}

/// A node's platforms as buildx marks them: named platforms with `*`, then native, then
/// emulated.
fn node_platforms(node: &NodeInfo) -> String {
    let serves = &node.serves;
    let mut shown: Vec<String> = serves.declared.iter().map(|p| format!("{p}*")).collect();
    shown.extend(
        serves
            .native
            .iter()
            .filter(|p| !serves.declared.contains(p))
            .map(ToString::to_string),
    );
    let emulated: Vec<String> = serves
        .emulated
        .iter()
        .filter(|p| !serves.declared.contains(p))
        .map(ToString::to_string)
        .collect();
    if !emulated.is_empty() {
        shown.push(format!("emulated: {}", emulated.join(", ")));
    }
    shown.join(", ")
}

/// `--driver-opt`s of a remote builder as buildx reads them: TLS files (made absolute, as
/// buildx's store keeps them) and the name to check the daemon's certificate against.
fn remote_tls(options: &[String]) -> anyhow::Result<Option<RemoteTls>> {
    let mut tls = RemoteTls {
        ca: None,
        identity: None,
        server_name: None,
    };
    let (mut cert, mut key) = (None, None);
    for option in options.iter().flat_map(|o| o.split(',')) {
        let Some((name, value)) = option.split_once('=') else {
            return Err(super::problem(
                format!("`{option}` is not KEY=VALUE"),
                "write driver options as buildx does: `--driver-opt cacert=ca.pem,cert=cert.pem,key=key.pem`",
            ));
        };
        let file = || {
            std::fs::canonicalize(value).map_err(|e| {
                super::problem(
                    format!("`{name}={value}`: cannot read {value}: {e}"),
                    "name a file that exists; it is kept by its absolute path, as buildx keeps it",
                )
            })
        };
        match name {
            "cacert" => tls.ca = Some(file()?),
            "cert" => cert = Some(file()?),
            "key" => key = Some(file()?),
            "servername" => tls.server_name = Some(value.to_string()),
            other => {
                return Err(super::problem(
                    format!("`{other}` is not a driver option of the remote driver"),
                    "the remote driver takes `cacert`, `cert`, `key` and `servername`",
                ));
            }
        }
    }
    tls.identity = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(super::problem(
                "a client certificate needs its key, and a key its certificate",
                "give both: `--driver-opt cert=cert.pem,key=key.pem`",
            ));
        }
    };
    let any = tls.ca.is_some() || tls.identity.is_some() || tls.server_name.is_some();
    Ok(any.then_some(tls))
}
