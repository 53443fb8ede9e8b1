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
        /// The BuildKit image for `docker-container`
        #[arg(long, default_value = builder::DEFAULT_BUILDKIT_IMAGE)]
        image: String,
    },
    /// Remove a builder (and its container)
    Rm {
        #[arg(default_value = DEFAULT_NAME)]
        name: String,
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
            let wanted = Builder {
                name: name.clone(),
                driver,
                config: absolute,
                image: (driver == Driver::DockerContainer).then_some(image),
                port: (driver == Driver::DockerContainer).then_some(1234),
            };
            // The registry check comes first: nothing is created for a builder that
            // could not push.
            let http = multiarch::build::image::answers_plain_http(&registry).await;
            multiarch::build::image::check_registry(&docker, &wanted, &buildkit, &registry, http)
                .await?;
            match builder::create(&docker, &file, wanted).await? {
                Created::New => eprintln!("created builder `{name}` ({driver} driver)"),
                Created::Existing => eprintln!("builder `{name}` already exists ({driver} driver)"),
            }
            println!("{name}");
        }
        Action::Rm { name } => {
            if !builder::remove_builder(&docker, &file, &name).await? {
                return Err(Error::NoSuchBuilder(name).into());
            }
            eprintln!("removed builder `{name}`");
        }
        Action::Ls { output } => {
            let all = builder::load_all(&file);
            let platforms = builder::platforms(&docker).await;
            let mut rows = Vec::new();
            for b in all.values() {
                rows.push(serde_json::json!({
                    "name": b.name,
                    "driver": b.driver,
                    "status": builder::status(&docker, b).await,
                    "platforms": platforms,
                }));
            }
            if output.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<22} {:<17} {:<10} PLATFORMS", "NAME", "DRIVER", "STATUS");
                for row in &rows {
                    println!(
                        "{:<22} {:<17} {:<10} {}",
                        row["name"].as_str().unwrap_or_default(),
                        row["driver"].as_str().unwrap_or_default(),
                        row["status"].as_str().unwrap_or_default(),
                        platforms.join(", ")
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
            let status = builder::status(&docker, b).await;
            let platforms = builder::platforms(&docker).await;
            if output.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "builder": b, "status": status, "platforms": platforms,
                    }))?
                );
            } else {
                println!("name:      {}", b.name);
                println!("driver:    {}", b.driver);
                println!("status:    {status}");
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
                }
                println!("platforms: {}", platforms.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
