//! What tests only read, made once per run of the test binary and shared: a registry,
//! the host-built binaries in `dist/`, the eight-platform image, the CLI image compiled
//! by the Dockerfile. Each is made by the first test that asks for it (the others wait
//! for it), labelled with this process, and removed when the process exits; what a
//! crashed run left is removed by the next one.
//!
//! A test that changes a fixture (restarts a registry, deletes from it, lists its whole
//! catalog) makes its own instead. What a test pushes to the shared registry is named
//! for its run id, so tests never read each other's tags.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, LazyLock, Mutex, Once};

use super::bed::{RUN_LABEL, docker_quietly};
use super::repo_root;

/// The label of what is shared by the tests of one process; its value is the pid.
pub const SUITE_LABEL: &str = "io.github.multiarch.test-suite";

/// What the exit hook removes: registries' addresses whose images the engine may hold.
static SHARED_REGISTRIES: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);

/// The registry every test may push repositories of its own to: `localhost:PORT`.
pub async fn shared_registry() -> String {
    static REGISTRY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    REGISTRY
        .get_or_init(|| async {
            let suite = format!("{SUITE_LABEL}={}", process_tag());
            let id = output_of(&[
                "run",
                "-d",
                "--label",
                &suite,
                "--label",
                "io.github.multiarch.managed-by=multiarch-tests",
                "-p",
                "127.0.0.1::5000",
                "registry:2",
            ]);
            let port = output_of(&["port", id.trim(), "5000/tcp"]);
            let port = port.lines().next().unwrap().rsplit_once(':').unwrap().1;
            let address = format!("localhost:{port}");
            super::wait_for_http(&format!("http://{address}/v2/")).await;
            SHARED_REGISTRIES.lock().unwrap().push(address.clone());
            address
        })
        .await
        .clone()
}

/// arch-server cross-compiled into `dist/<arch>/` for each of `archs` (`amd64`,
/// `arm/v7`, ...), once per process: the first test that needs an architecture builds
/// it, the others wait for that architecture alone (not for another test's others).
pub async fn dist(archs: &[&str]) {
    type Built = tokio::sync::OnceCell<()>;
    static BUILT: LazyLock<Mutex<std::collections::HashMap<String, Arc<Built>>>> =
        LazyLock::new(Default::default);
    for arch in archs {
        let cell = BUILT
            .lock()
            .unwrap()
            .entry(arch.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let building = arch.to_string();
            // The build blocks: on a thread of its own, not on the test's runtime.
            let status = tokio::task::spawn_blocking(move || {
                Command::new("scripts/build-dist.sh")
                    .arg(&building)
                    .current_dir(repo_root())
                    .status()
            })
            .await
            .unwrap()
            .expect("scripts/build-dist.sh runs");
            assert!(status.success(), "scripts/build-dist.sh {arch} failed");
        })
        .await;
    }
}

/// The eight platforms the repository's image is built for.
pub const EIGHT_PLATFORMS: [&str; 8] = [
    "linux/amd64",
    "linux/386",
    "linux/arm/v6",
    "linux/arm/v7",
    "linux/arm64",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
];

/// The repository's image for the eight platforms (host-built binaries), pushed once to
/// the shared registry; returns the registry and the image. Tests only read it: what they
/// pull of it into the engine goes at the process's exit, with the registry.
pub async fn eight_platform_image() -> (String, String) {
    static IMAGE: tokio::sync::OnceCell<(String, String)> = tokio::sync::OnceCell::const_new();
    IMAGE
        .get_or_init(|| async {
            dist(&[
                "amd64", "arm64", "386", "arm/v6", "arm/v7", "ppc64le", "s390x", "riscv64",
            ])
            .await;
            let registry = shared_registry().await;
            let image = format!("{registry}/eight:shared");
            let state = tempfile::tempdir().unwrap();
            let (code, stdout, stderr) = super::multiarch_with(
                &super::dist_build_args("default", &image, &EIGHT_PLATFORMS.join(",")),
                &[("MULTIARCH_STATE_DIR", state.path().to_str().unwrap())],
            );
            assert_eq!(code, 0, "the eight-platform image:\n{stdout}\n{stderr}");
            (registry, image)
        })
        .await
        .clone()
}

/// What the test bed stands in for `debian:trixie-slim` with (scripts/debian-image.sh).
pub const STAND_IN_BASE: &str = "multiarch-testbed/debian:trixie-slim";

/// The certificates of the TLS-intercepting proxy this machine's traffic passes, for
/// cargo's downloads in the compile stage: a user behind a company proxy passes the same.
pub const PROXY_CERTIFICATES: &str = "/usr/local/share/ca-certificates";

/// The build arguments `multi-arch.sh` gives the compile stage for the CLI image
/// (`BUILD_IMAGE`, incremental compilation in the kept target folder, the proxy's
/// certificates when this machine has some), with `base` as the compile stage's base.
pub fn compile_stage_args(base: &str) -> Vec<String> {
    let mut args = vec![
        "--build-arg".to_string(),
        format!("BUILD_IMAGE={base}"),
        "--build-arg".to_string(),
        "CARGO_INCREMENTAL=1".to_string(),
    ];
    if std::path::Path::new(PROXY_CERTIFICATES).is_dir() {
        args.push("--build-context".into());
        args.push(format!("extra-certificates={PROXY_CERTIFICATES}"));
    }
    args
}

/// The platforms the CLI image is compiled for by [`cli_image`].
pub const CLI_IMAGE_PLATFORMS: &str = "linux/amd64,linux/arm64,linux/arm/v7";

/// The CLI image compiled by the Dockerfile's compile stage for amd64, arm64 and arm/v7,
/// pushed once to the shared registry; returns the image. The compile stage is the
/// suite's costliest step (the CLI compiled three times over), so it runs once per run;
/// it is built by `docker buildx build` with the flags `multi-arch.sh` uses, so the
/// script's own build of the CLI image (the newcomer's test) finds its amd64 steps in
/// the engine's BuildKit cache, as a CI system's kept cache gives them.
pub async fn cli_image() -> String {
    static IMAGE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    IMAGE
        .get_or_init(|| async {
            let registry = shared_registry().await;
            let image = format!("{registry}/multiarch-cli:shared");
            let mut args: Vec<String> = [
                "buildx",
                "build",
                "--builder",
                "default",
                "--target",
                "cli",
                "--build-arg",
                "PACKAGE=multiarch",
                "--platform",
                CLI_IMAGE_PLATFORMS,
                "--push",
                "--tag",
                &image,
                "--progress",
                "plain",
            ]
            .map(String::from)
            .to_vec();
            args.extend(compile_stage_args(STAND_IN_BASE));
            args.push(repo_root().display().to_string());
            let output =
                tokio::task::spawn_blocking(move || Command::new("docker").args(&args).output())
                    .await
                    .unwrap()
                    .expect("the docker CLI runs");
            let log = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "the CLI image did not build; its last lines:\n{}",
                last_lines(&log, 40)
            );
            image
        })
        .await
        .clone()
}

/// Begins [`cli_image`] on a thread of its own when the whole suite runs
/// (`MULTIARCH_WHOLE_SUITE`, set by `scripts/test.sh` when no test is named): the
/// suite's longest step then runs beside every other test instead of waiting for its
/// test's turn. A single test run by name builds it only if it needs it.
pub fn begin_costly_fixtures() {
    static BEGUN: Once = Once::new();
    if std::env::var_os("MULTIARCH_WHOLE_SUITE").is_none() {
        return;
    }
    BEGUN.call_once(|| {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            // A failure panics this thread alone: the CLI image's tests ask again, and
            // fail with the build's own words.
            runtime.block_on(cli_image());
        });
    });
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Debian's static busybox for `arch` (`amd64`, `arm64`), which `scripts/testbed.sh up`
/// keeps: a program of each platform for test images, without pulling any image.
pub fn busybox(arch: &str) -> std::path::PathBuf {
    let path = std::path::Path::new("/var/cache/multiarch/busybox")
        .join(arch)
        .join("busybox");
    assert!(
        path.exists(),
        "{} is missing: run scripts/testbed.sh up",
        path.display()
    );
    path
}

/// Removes the containers (with their anonymous volumes), volumes and networks that carry
/// `label` (`KEY=VALUE`).
pub fn remove_labelled(label: &str) {
    let filter = format!("label={label}");
    let ids = docker_stdout(&["ps", "-aq", "--filter", &filter]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids);
        docker_quietly(&args);
    }
    docker_quietly(&["network", "prune", "-f", "--filter", &filter]);
    // `-a`: named volumes too, not only anonymous ones.
    docker_quietly(&["volume", "prune", "-a", "-f", "--filter", &filter]);
}

/// This process as the labels name it, `PID-START` (its start in clock ticks after boot,
/// `/proc/PID/stat`'s 22nd field), so that a later process given the same id is not
/// taken for it when what a killed run left is swept.
pub fn process_tag() -> String {
    let pid = std::process::id();
    format!("{pid}-{}", start_time(pid).unwrap_or(0))
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command's name may hold spaces and parentheses: fields count from the last `)`.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Whether the process a label's value (`PID-START[-...]`) names is still running.
fn alive(value: &str) -> bool {
    let mut parts = value.split('-');
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return false;
    };
    match (pid.parse::<u32>(), start.parse::<u64>()) {
        (Ok(pid), Ok(start)) => start_time(pid) == Some(start),
        _ => false,
    }
}

/// Once per process, before the first test: what runs of this binary that are gone left
/// behind (killed before their exit hook, or before a test's drop), found by the pid in
/// their labels.
pub fn sweep_earlier_runs() {
    static SWEPT: Once = Once::new();
    SWEPT.call_once(|| {
        for key in [SUITE_LABEL, RUN_LABEL] {
            let format = format!("{{{{index .Labels \"{key}\"}}}}");
            let listed = docker_stdout(&[
                "ps",
                "-a",
                "--filter",
                &format!("label={key}"),
                "--format",
                &format,
            ]);
            let gone: BTreeSet<&str> = listed.lines().filter(|value| !alive(value)).collect();
            for value in gone {
                remove_labelled(&format!("{key}={value}"));
            }
        }
    });
}

/// At the process's exit: the shared fixtures go, and the images the engine holds from
/// the shared registries.
#[dtor::dtor(unsafe)]
fn remove_shared_fixtures() {
    let Ok(registries) = SHARED_REGISTRIES.lock() else {
        return;
    };
    if registries.is_empty() {
        return;
    }
    let listed = docker_stdout(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let images: Vec<&str> = listed
        .lines()
        .filter(|image| {
            registries
                .iter()
                .any(|r| image.starts_with(&format!("{r}/")))
        })
        .collect();
    if !images.is_empty() {
        let mut args = vec!["rmi", "-f"];
        args.extend(images);
        docker_quietly(&args);
    }
    remove_labelled(&format!("{SUITE_LABEL}={}", process_tag()));
}

/// `docker ARGS`'s standard output, or nothing when it fails (clean-up, which runs in
/// drops and at exit, where a panic would abort).
fn docker_stdout(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `docker ARGS`'s standard output; a failure fails the test with docker's words.
fn output_of(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
