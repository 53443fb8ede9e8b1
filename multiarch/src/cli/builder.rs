//! `multiarch builder create | rm | ls | inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use multiarch::build::builder::{self, Builder, Created, DEFAULT_NAME, Driver};
use multiarch::build::buildkit_config::BuildkitConfig;
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
    },
    /// Remove a builder (and its container; its cache stays unless --volumes)
    Rm {
        #[arg(default_value = DEFAULT_NAME)]
        name: String,
        /// Remove the builder's state and cache volume too
        #[arg(long)]
        volumes: bool,
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
    let docker = multiarch::engine::connect().await?;
    let file = builder::state_file();
    match args.action {
        Action::Create {
            name,
            driver,
            config,
            registry,
            image,
        } => {
            let config = multiarch::build::buildkit_config::config_path(config);
            let buildkit = BuildkitConfig::load(config.as_deref())?;
            let absolute = config.as_ref().map(std::fs::canonicalize).transpose()?;
            let container = driver == Driver::DockerContainer;
            let image = match image {
                Some(image) => Some(image),
                None if container => Some(builder::default_image(&docker).await),
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
            };
            // The registry check comes first: nothing is created for a builder that
            // could not push.
            let http = multiarch::build::image::answers_plain_http(&registry).await;
            multiarch::build::image::check_registry(&docker, &wanted, &buildkit, &registry, http)
                .await?;
            let wanted_image = wanted.image.clone();
            match builder::create(&docker, &file, wanted).await? {
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
        Action::Rm { name, volumes } => {
            if !builder::remove_builder(&docker, &file, &name, volumes).await? {
                return Err(Error::NoSuchBuilder(name).into());
            }
            eprintln!("removed builder `{name}`");
        }
        Action::Ls { output } => {
            let all = builder::load_all(&file);
            let mut rows = Vec::new();
            for b in all.values() {
                rows.push(describe(&docker, b).await);
            }
            if output.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<22} {:<17} {:<10} {:<16} PLATFORMS",
                    "NAME", "DRIVER", "STATUS", "BUILDKIT"
                );
                for row in &rows {
                    println!(
                        "{:<22} {:<17} {:<10} {:<16} {}",
                        row.name,
                        row.driver.to_string(),
                        row.status,
                        row.buildkit,
                        row.platforms.join(", ")
                    );
                }
                if rows.is_empty() {
                    eprintln!("no builders yet: `multiarch builder create`");
                }
            }
        }
        Action::Inspect { name, output } => {
            let all = builder::load_all(&file);
            let b = all
                .get(&name)
                .ok_or_else(|| Error::NoSuchBuilder(name.clone()))?;
            let row = describe(&docker, b).await;
            if output.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "builder": b, "status": row.status, "buildkit": row.buildkit,
                        "platforms": row.platforms,
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
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
}

/// A builder's status, and what its BuildKit reports of itself: a docker-container
/// builder is asked directly (its worker's platforms); the engine's own BuildKit is
/// described by the engine's platform and its emulators. One that does not answer shows
/// as such, and the others are still listed.
async fn describe(docker: &bollard::Docker, b: &Builder) -> Row {
    let status = builder::status(docker, b).await;
    let (buildkit, platforms) = match b.driver {
        Driver::Docker => (
            docker
                .version()
                .await
                .ok()
                .and_then(|v| v.version)
                .map_or("-".into(), |v| format!("engine {v}")),
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
    }
}
