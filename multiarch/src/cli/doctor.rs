//! `multiarch doctor`: what this machine can do, and a one-line fix for each problem.

use std::process::ExitCode;

use multiarch::doctor::{self, Level};

use super::OutputArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry to check (host:port)
    #[arg(long, default_value = "localhost:5000")]
    registry: String,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (docker, error) = match multiarch::engine::connect().await {
        Ok(docker) => (Some(docker), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut findings = doctor::check_engine(docker.as_ref(), error).await;
    findings.extend(doctor::check_cpu_profiles());
    findings.extend(doctor::check_registry(docker.as_ref(), &args.registry).await);
    let problems = findings
        .iter()
        .filter(|f| f.level == Level::Problem)
        .count();
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        for f in &findings {
            let mark = match f.level {
                Level::Ok => "ok     ",
                Level::Warn => "warn   ",
                Level::Problem => "PROBLEM",
            };
            println!("{mark}  {:<12} {}", f.area, f.detail);
            if let Some(fix) = &f.fix {
                println!("         {:<12} fix: {fix}", "");
            }
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
