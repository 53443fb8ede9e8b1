//! `multiarch builder create | rm | ls | inspect`, for builders on the local engine and
//! builders made of nodes (`--node`, `--append`, `rm --node`).

use std::path::PathBuf;
use std::process::ExitCode;

use multiarch::buildkit::builder::{self, Builder, Created, DEFAULT_NAME, Driver};
use multiarch::buildkit::buildkit_config::BuildkitConfig;
use multiarch::buildkit::nodes::{self, Node};
use multiarch::error::Error;

use super::OutputArgs;

pub type Args = super::Actions<Action>;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a builder (idempotent) and check it can push to the registry
    Create {
        /// The builder's name
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// `docker`: the engine's BuildKit; `docker-container`: a moby/buildkit container
        #[arg(long, value_enum, default_value_t = Driver::Docker)]
        driver: Driver,
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
        /// ca.pem, cert.pem and key.pem) or a Docker context's name; repeatable. Each node
        /// builds with its engine's own BuildKit the platforms it fits best
        #[arg(long = "node", value_name = "NODE", conflicts_with = "image")]
        nodes: Vec<Node>,
        /// Add the `--node`s to an existing builder made of nodes
        #[arg(long, requires = "nodes")]
        append: bool,
    },
    /// Remove a builder (and its container; its cache stays unless --volumes)
    Rm {
        #[arg(default_value = DEFAULT_NAME)]
        name: String,
        /// Remove the builder's state and cache volume too
        #[arg(long)]
        volumes: bool,
        /// Remove only this node from a builder made of nodes
        #[arg(long, value_name = "NAME", conflicts_with = "volumes")]
        node: Option<String>,
    },
    /// List builders: driver, status, platforms
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
    let file = builder::state_file();
    // A builder made of nodes needs no local engine; every other action does.
    let local = multiarch::engine::connect().await;
    match args.action {
        Action::Create {
            name,
            driver,
            config,
            nodes,
            append,
            ..
        } if !nodes.is_empty() => {
            if driver == Driver::DockerContainer {
                return Err(Error::BadNodes(
                    "nodes build with their engines' own BuildKit: leave out `--driver docker-container`".into(),
                )
                .into());
            }
            let config = multiarch::buildkit::buildkit_config::config_path(config)
                .as_ref()
                .map(std::fs::canonicalize)
                .transpose()?;
            let added: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
            match builder::create_with_nodes(&file, &name, nodes, append, config).await? {
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
        Action::Rm {
            name,
            node: Some(node),
            ..
        } => {
            builder::remove_node(&file, &name, &node)?;
            eprintln!("removed node `{node}` from builder `{name}`");
        }
        action @ (Action::Ls { .. } | Action::Inspect { .. }) => {
            show(local.as_ref().ok(), &file, action).await?;
        }
        action => {
            let docker = local?;
            run_on_engine(&docker, &file, action).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_on_engine(
    docker: &bollard::Docker,
    file: &std::path::Path,
    action: Action,
) -> anyhow::Result<()> {
    match action {
        Action::Create {
            name,
            driver,
            config,
            registry,
            image,
            ..
        } => {
            let config = multiarch::buildkit::buildkit_config::config_path(config);
            let buildkit = BuildkitConfig::load(config.as_deref())?;
            let absolute = config.as_ref().map(std::fs::canonicalize).transpose()?;
            let container = driver == Driver::DockerContainer;
            let image = match image {
                Some(image) => Some(image),
                None if container => Some(builder::default_image(docker).await),
                None => None,
            };
            let wanted = Builder {
                name: name.clone(),
                driver,
                config: absolute,
                image: image.filter(|_| container),
                port: if container {
                    Some(builder::free_port(&name)?)
                } else {
                    None
                },
                nodes: Vec::new(),
            };
            // The registry check comes first: nothing is created for a builder that
            // could not push.
            let http = multiarch::buildkit::image::answers_plain_http(&registry).await;
            multiarch::buildkit::image::check_registry(docker, &wanted, &buildkit, &registry, http)
                .await?;
            let wanted_image = wanted.image.clone();
            match builder::create(docker, file, wanted).await? {
                Created::New => eprintln!(
                    "created builder `{name}` ({driver} driver{})",
                    wanted_image
                        .map(|i| format!(", image {i}"))
                        .unwrap_or_default()
                ),
                Created::Existing => eprintln!("builder `{name}` already exists ({driver} driver)"),
            }
            println!("{name}");
        }
        Action::Rm { name, volumes, .. } => {
            if !builder::remove_builder(docker, file, &name, volumes).await? {
                return Err(Error::NoSuchBuilder(name).into());
            }
            eprintln!("removed builder `{name}`");
        }
        Action::Ls { .. } | Action::Inspect { .. } => {
            unreachable!("ls and inspect do not need the local engine")
        }
    }
    Ok(())
}

/// `ls` and `inspect`: what is known without an engine, and each engine's answer where
/// there is one (a node or engine that does not answer shows as such).
async fn show(
    docker: Option<&bollard::Docker>,
    file: &std::path::Path,
    action: Action,
) -> anyhow::Result<()> {
    match action {
        Action::Ls { output } => {
            let all = builder::load_all(file);
            let mut rows = Vec::new();
            for b in all.values() {
                rows.push(describe(docker, b).await);
            }
            if output.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let mut lines = Vec::new();
                for row in &rows {
                    lines.push(vec![
                        row.name.clone(),
                        row.driver.to_string(),
                        row.status.clone(),
                        row.buildkit.clone(),
                        row.platforms.join(", "),
                    ]);
                    for node in &row.nodes {
                        lines.push(vec![
                            format!("  \\_ {}", node.name),
                            node.endpoint.clone(),
                            node.status.clone(),
                            node.buildkit.clone(),
                            node.platforms(),
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
            }
        }
        Action::Inspect { name, output } => {
            let all = builder::load_all(file);
            let b = all
                .get(&name)
                .ok_or_else(|| Error::NoSuchBuilder(name.clone()))?;
            let row = describe(docker, b).await;
            if output.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "builder": b, "status": row.status, "buildkit": row.buildkit,
                        "platforms": row.platforms, "nodes": row.nodes,
                    }))?
                );
            } else {
                println!("name:      {}", b.name);
                println!("driver:    {}", b.driver);
                println!("status:    {}", row.status);
                println!("buildkit:  {}", row.buildkit);
                println!(
                    "config:    {}",
                    b.config
                        .as_ref()
                        .map_or("built-in buildkitd.toml".into(), |c| c
                            .display()
                            .to_string())
                );
                if b.driver == Driver::DockerContainer {
                    println!("container: {}", b.container_name());
                    println!("image:     {}", b.image.as_deref().unwrap_or_default());
                    println!("cache:     volume {}", b.state_volume());
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
            }
        }
        _ => unreachable!("only ls and inspect are shown"),
    }
    Ok(())
}

/// One builder as `ls` and `inspect` show it.
#[derive(Debug, serde::Serialize)]
struct Row {
    name: String,
    driver: Driver,
    status: String,
    /// BuildKit's version, or `-` when it does not answer.
    buildkit: String,
    platforms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<NodeRow>,
}

/// One node of a builder, as `ls` and `inspect` show it.
#[derive(Debug, serde::Serialize)]
struct NodeRow {
    name: String,
    endpoint: String,
    status: String,
    buildkit: String,
    serves: nodes::Serves,
}

impl NodeRow {
    /// As buildx marks them: named platforms with `*`, then native, then emulated.
    fn platforms(&self) -> String {
        let mut shown: Vec<String> = self
            .serves
            .declared
            .iter()
            .map(|p| format!("{p}*"))
            .collect();
        shown.extend(
            self.serves
                .native
                .iter()
                .filter(|p| !self.serves.declared.contains(p))
                .map(ToString::to_string),
        );
        let emulated: Vec<String> = self
            .serves
            .emulated
            .iter()
            .filter(|p| !self.serves.declared.contains(p))
            .map(ToString::to_string)
            .collect();
        if !emulated.is_empty() {
            shown.push(format!("emulated: {}", emulated.join(", ")));
        }
        shown.join(", ")
    }
}

/// `engine 28.5.2`, or `-` when the engine does not say.
async fn engine_version(docker: &bollard::Docker) -> String {
    docker
        .version()
        .await
        .ok()
        .and_then(|v| v.version)
        .map_or("-".into(), |v| format!("engine {v}"))
}

async fn describe_node(node: &Node) -> NodeRow {
    let (status, buildkit, serves) = match nodes::connect(node).await {
        Ok(docker) => (
            "running".to_string(),
            engine_version(&docker).await,
            nodes::serves(node, &docker).await,
        ),
        Err(e) => (
            format!("unreachable: {}", multiarch::error::root_cause(&e)),
            "-".into(),
            nodes::Serves {
                declared: node.platforms.clone(),
                ..nodes::Serves::default()
            },
        ),
    };
    NodeRow {
        name: node.name.clone(),
        endpoint: node.endpoint.to_string(),
        status,
        buildkit,
        serves,
    }
}

/// A builder's status, and what its BuildKit reports of itself: a docker-container
/// builder is asked directly (its worker's platforms); the engine's own BuildKit is
/// described by the engine's platform and its emulators; a builder made of nodes by each
/// node's. One that does not answer shows as such, and the others are still listed.
async fn describe(docker: Option<&bollard::Docker>, b: &Builder) -> Row {
    if !b.nodes.is_empty() {
        let nodes = futures_util::future::join_all(b.nodes.iter().map(describe_node)).await;
        let down = nodes.iter().filter(|n| n.status != "running").count();
        let mut platforms: Vec<String> = Vec::new();
        for node in &nodes {
            let serves = &node.serves;
            for p in serves
                .declared
                .iter()
                .chain(&serves.native)
                .chain(&serves.emulated)
            {
                if !platforms.contains(&p.to_string()) {
                    platforms.push(p.to_string());
                }
            }
        }
        return Row {
            name: b.name.clone(),
            driver: b.driver,
            status: if down == 0 {
                "running".into()
            } else {
                format!("{down} of {} nodes down", nodes.len())
            },
            buildkit: format!("{} nodes", nodes.len()),
            platforms,
            nodes,
        };
    }
    let Some(docker) = docker else {
        return Row {
            name: b.name.clone(),
            driver: b.driver,
            status: "engine unreachable".into(),
            buildkit: "-".into(),
            platforms: Vec::new(),
            nodes: Vec::new(),
        };
    };
    let status = builder::status(docker, b).await;
    let (buildkit, platforms) = match b.driver {
        Driver::Docker => (
            engine_version(docker).await,
            builder::platforms(docker).await,
        ),
        Driver::DockerContainer => match builder::describe(b).await {
            Ok(info) => (info.version, info.platforms),
            Err(e) => {
                tracing::debug!(builder = %b.name, error = %e, "builder does not answer");
                ("-".into(), Vec::new())
            }
        },
    };
    Row {
        name: b.name.clone(),
        driver: b.driver,
        status,
        buildkit,
        platforms,
        nodes: Vec::new(),
    }
}
