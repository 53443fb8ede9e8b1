//! `multiarch demo`: the whole story in one command, each step with a heading and its
//! time: doctor, registry, builder, build and push both platforms, inspect, then for
//! each platform pull, run, `GET /arch`; verify; clean up. It stops at the first failing
//! step and says what to do. The registry and the image stay; the containers go.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use multiarch::buildkit::builder::{self, Builder, Builders, DEFAULT_NAME};
use multiarch::buildkit::create::{self, Wanted};
use multiarch::buildkit::driver;
use multiarch::buildkit::image::{self, BuildRequest};
use multiarch::doctor::{self, Level};
use multiarch::engine::{self, RunSpec, SESSION_LABEL};
use multiarch::input::parse_reference;
use multiarch::local_registry;
use multiarch::local_registry::compose;
use multiarch::registry::Registry;
use multiarch::verify::{self, Probe, Verifier};

use super::PlatformList;
use super::render::{BuildPrinter, inspect_table, verify_table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository and tag to build, in the local registry
    #[arg(long, default_value = "arch-server:demo")]
    image: String,
    /// Platforms to build and prove
    #[arg(long, value_parser = super::parse_platforms, default_value = "linux/amd64,linux/arm64")]
    platform: PlatformList,
    /// Host-built binaries (`<arch>/arch-server`) handed to the Dockerfile as its `build`
    /// stage [default: ./dist when it exists; otherwise the Dockerfile compiles]
    #[arg(long, value_name = "DIR")]
    binaries: Option<PathBuf>,
    /// The build context (the repository root)
    #[arg(long, default_value = ".")]
    context: PathBuf,
    /// The compose file with the registry's settings [default: ./registry.yml, else built in]
    #[arg(long, value_name = "FILE")]
    registry_file: Option<PathBuf>,
    /// The builder to build with, made when it is missing (a workshop's machines shared by
    /// several people each take a name of their own)
    #[arg(long, value_name = "NAME", default_value = DEFAULT_NAME)]
    builder: String,
}

const STEPS: usize = 8;

struct Story {
    step: usize,
    started: Instant,
}

impl Story {
    fn heading(&mut self, title: &str) -> Instant {
        self.step += 1;
        eprintln!("\n==> [{}/{STEPS}] {title}", self.step);
        Instant::now()
    }

    fn done(&self, since: Instant) {
        eprintln!("    ({:.1} s)", since.elapsed().as_secs_f64());
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let docker = engine::connect().await?;
    let mut labels = engine::session_labels();
    labels.insert(
        "io.github.multiarch.purpose".to_string(),
        "demo".to_string(),
    );
    // On Ctrl-C, `cli::run` drops the story and removes this session's containers.
    let result = story(&docker, &args, labels).await;
    // Whatever else happened, the demo's containers go.
    let removed = engine::remove_labelled(&docker, SESSION_LABEL, engine::session_id()).await;
    if removed > 0 {
        eprintln!("removed {removed} demo container(s)");
    }
    result
}

async fn story(
    docker: &bollard::Docker,
    args: &Args,
    labels: HashMap<String, String>,
) -> anyhow::Result<ExitCode> {
    let mut story = Story {
        step: 0,
        started: Instant::now(),
    };

    let t = story.heading("doctor: what this machine can do");
    let registry_spec = machine_ready(docker, args).await?;
    let registry = registry_spec.address();
    story.done(t);

    let t = story.heading(&format!("registry up: {registry}"));
    registry_up(docker, &registry_spec).await?;
    story.done(t);

    let t = story.heading(
        "builder create (a buildx builder: a BuildKit container configured by buildkitd.toml)",
    );
    let chosen = demo_builder(docker, &args.builder, &registry).await?;
    story.done(t);

    let image = format!("{registry}/{}", args.image);
    let t = story.heading(&format!(
        "build and push {} for {}",
        image,
        multiarch::join_platforms(&args.platform.0)
    ));
    let reference = build_and_push(&chosen, args, &image).await?;
    story.done(t);

    let t = story.heading("inspect the index in the registry");
    let client = Registry::for_reference(&reference, &[]);
    show_index(&client, &reference).await?;
    story.done(t);

    let t = story.heading("pull and run each platform, ask it GET /arch");
    for platform in &args.platform.0 {
        ask_platform(docker, &client, &reference, platform, &labels).await?;
    }
    story.done(t);

    let t = story.heading("verify: ELF headers and running answers match the index");
    prove(docker, &client, &reference, &args.platform.0, labels).await?;
    story.done(t);

    let t = story.heading("clean up the demo's containers");
    eprintln!(
        "    the registry ({registry}) and the image ({image}) stay; `multiarch registry down` stops the registry"
    );
    story.done(t);
    eprintln!(
        "\ndemo finished in {:.1} s",
        story.started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Step 1: the machine can do the demo (the doctor's problems stop it, with their fix);
/// returns the registry's settings, from `--registry-file`, ./registry.yml or built in.
async fn machine_ready(
    docker: &bollard::Docker,
    args: &Args,
) -> anyhow::Result<compose::RegistrySpec> {
    let mut findings = doctor::check_engine(Some(docker), None).await;
    let default_file = PathBuf::from("registry.yml");
    let registry_file = args
        .registry_file
        .clone()
        .or_else(|| default_file.exists().then_some(default_file));
    let registry_spec = compose::load(registry_file.as_deref())?;
    for f in &findings {
        if f.level != Level::Ok {
            eprintln!("    {:?} {}: {}", f.level, f.area, f.detail);
        }
    }
    findings.retain(|f| f.level == Level::Problem);
    if let Some(problem) = findings.first() {
        return Err(super::problem(
            format!(
                "the machine is not ready: {}: {}",
                problem.area, problem.detail
            ),
            problem
                .fix
                .clone()
                .unwrap_or_else(|| "run `multiarch doctor`".into()),
        ));
    }
    eprintln!("    engine, containerd store, buildx and QEMU are ready");
    Ok(registry_spec)
}

/// Step 2: the local registry answers.
async fn registry_up(docker: &bollard::Docker, spec: &compose::RegistrySpec) -> anyhow::Result<()> {
    local_registry::up(docker, spec)
        .await
        .context("the local registry did not start")?;
    eprintln!(
        "    http://{}/v2/ answers",
        local_registry::probe_address(spec)
    );
    Ok(())
}

/// Step 4: the image built for every platform and pushed, with the host-built binaries
/// as the Dockerfile's `build` stage where there are some.
async fn build_and_push(
    chosen: &Builder,
    args: &Args,
    image: &str,
) -> anyhow::Result<oci_client::Reference> {
    let binaries = args.binaries.clone().or_else(|| {
        let dist = args.context.join("dist");
        dist.exists().then_some(dist)
    });
    if let Some(dir) = &binaries {
        eprintln!(
            "    using host-built binaries from {} as the `build` stage",
            dir.display()
        );
    }
    let reference = parse_reference(image)?;
    let request = BuildRequest {
        context: args.context.clone(),
        file: None,
        tag: reference.clone(),
        platforms: args.platform.0.clone(),
        build_args: Vec::new(),
        build_contexts: binaries
            .iter()
            .map(|dir| image::NamedDir {
                name: "build".into(),
                dir: dir.clone(),
            })
            .collect(),
        target: None,
        no_cache: false,
        labels: Vec::new(),
        flags: Default::default(),
        push: true,
        insecure: Vec::new(),
    };
    let printer = BuildPrinter::new(true);
    let builders = Builders::from_env();
    image::run(builders.store(), chosen, &request, |event| {
        printer.show(event);
    })
    .await?;
    Ok(reference)
}

/// Step 5: the index as the registry holds it.
async fn show_index(client: &Registry, reference: &oci_client::Reference) -> anyhow::Result<()> {
    let report = multiarch::inspect::report(client, reference)
        .await
        .with_context(|| format!("cannot inspect `{}`", reference.whole()))?;
    print!("{}", inspect_table(&report));
    Ok(())
}

/// Step 6, one platform: pulled, run as verify runs it (under the CPU its slot promises,
/// arm/v6 on an ARMv6 core; a 386 process on a 64-bit x86 kernel says `x86_64`), asked
/// `GET /arch`, and its answer shown.
async fn ask_platform(
    docker: &bollard::Docker,
    client: &Registry,
    reference: &oci_client::Reference,
    platform: &multiarch::Platform,
    labels: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let image = reference.whole();
    let digest = multiarch::pull::platform_digest(client, reference, platform).await?;
    multiarch::pull::pull_platform(docker, reference, platform, &digest, |_| {}).await?;
    let native = engine::engine_platform(docker).await;
    let emulation = verify::Emulation::of(native.as_ref(), platform);
    let started = engine::run_published(
        docker,
        &RunSpec {
            image: image.clone(),
            platform: Some(platform.clone()),
            container_port: 80,
            labels: labels.clone(),
            cmd: None,
            env: emulation.env(),
            ..Default::default()
        },
    )
    .await?;
    let answer = verify::ask_machine(started.host_port, &Probe::default()).await;
    engine::remove(docker, &started.id).await;
    let machine = answer
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the {platform} container did not answer"))?;
    let how = match (emulation.native, emulation.cpu) {
        (true, _) => emulation.to_string(),
        (false, Some(cpu)) => format!("emulated by QEMU, QEMU_CPU={cpu}"),
        (false, None) => "emulated by QEMU".into(),
    };
    println!(
        "{:<14} GET /arch -> {{\"architecture\": \"{}\"}}   ({how})",
        platform.to_string(),
        machine
    );
    if !emulation.accepts(platform, &machine) {
        return Err(super::problem(
            format!("the {platform} image answered `{machine}`"),
            format!("run `multiarch verify {image}` to see what its binary was built for"),
        ));
    }
    Ok(())
}

/// Step 7: every platform proven, statically and running, as `multiarch verify` does.
async fn prove(
    docker: &bollard::Docker,
    client: &Registry,
    reference: &oci_client::Reference,
    platforms: &[multiarch::Platform],
    labels: HashMap<String, String>,
) -> anyhow::Result<()> {
    let (_, listed) = client.fetch_entries(reference).await?;
    let targets = verify::targets(reference, &listed, Some(platforms))?;
    let verifier = Verifier {
        cpu: Default::default(),
        registry: client,
        reference,
        docker: Some(docker),
        probe: Probe::default(),
        labels,
        scope: verify::Scope::Userland,
        page_size: None,
    };
    let reports = verifier.verify(&targets, |_| {}).await?;
    print!("{}", verify_table(&reports));
    if reports.iter().any(|r| !r.passed()) {
        return Err(super::problem(
            "verification failed",
            format!("`multiarch verify {}` shows the reasons", reference.whole()),
        ));
    }
    Ok(())
}

/// The card's builder: a buildx docker-container builder configured by ./buildkitd.toml,
/// so `docker buildx ls` shows it as the FastAPI demo's README does. A running builder of
/// that name is used as it is (the user's choice); where no BuildKit image can be had,
/// the engine's own BuildKit, said plainly.
async fn demo_builder(
    docker: &bollard::Docker,
    name: &str,
    registry: &str,
) -> anyhow::Result<Builder> {
    let builders = Builders::from_env();
    if let Some(existing) = builders.find(name)? {
        if driver::ready(docker, &existing).await {
            eprintln!(
                "    builder `{name}` ({} driver) is running: used as it is",
                existing.driver_name()
            );
            return Ok(existing);
        }
    }
    let image = driver::container::default_image(docker).await;
    let wanted = if docker.inspect_image(&image).await.is_ok() {
        Wanted::Container {
            name: name.into(),
            image: Some(image),
            config: None,
        }
    } else {
        eprintln!(
            "    no BuildKit image here ({} or {}): using the engine's own BuildKit instead; `sudo scripts/buildkit-image.sh` builds one from Debian's sources",
            builder::DEFAULT_BUILDKIT_IMAGE,
            builder::STAND_IN_BUILDKIT_IMAGE
        );
        Wanted::Engine {
            name: name.into(),
            config: None,
        }
    };
    let (chosen, _) = create::create(docker, &builders, wanted, registry).await?;
    match chosen.container() {
        Some(c) => eprintln!(
            "    builder `{name}` (docker-container driver, {}, container {}): running; `docker buildx ls` lists it",
            c.image(),
            c.container_name()
        ),
        None => eprintln!("    builder `{name}` ({} driver)", chosen.driver_name()),
    }
    Ok(chosen)
}
