//! The one helper every test against the real engine uses: it connects (or fails with
//! the fix), labels what it creates with this run's id, and removes all of it on drop,
//! also when the test panics.
//!
//! Engine tests are `#[ignore = "needs Docker ..."]`: a plain `cargo test` reports them
//! as ignored, never as passed, and `scripts/test.sh` (the README's test command, which CI
//! runs) brings the engine up and runs them with `--include-ignored`, where an engine
//! that cannot be reached fails them.

#![allow(dead_code)]

pub mod fault_proxy;
pub mod ssh_host;
mod stores;
mod tls_buildkit;

pub use ssh_host::SshHost;
pub use stores::Stores;
pub use tls_buildkit::TlsDaemon;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bollard::Docker;
use multiarch::engine::{self, MANAGED_BY_LABEL};

/// The label that ties a resource to one test run.
pub const RUN_LABEL: &str = "io.github.multiarch.test-run";

pub struct TestBed {
    pub docker: Docker,
    pub run_id: String,
    images: Vec<String>,
    registries: Vec<String>,
    builders: Vec<String>,
    // Held until this bed's clean-up has run (fields drop after `Drop::drop`).
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// Engine tests take turns: each asserts that no container of some kind is left, which
/// another test's containers, running at the same time, would break.
static ENGINE_TURN: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// Connects to the engine; one that cannot be reached fails the test with the fix (the
/// test was asked for: it is ignored unless included).
pub async fn testbed() -> TestBed {
    let turn = ENGINE_TURN.clone().lock_owned().await;
    match engine::connect().await {
        Ok(docker) => {
            assert!(
                engine::bridge_present(),
                "the engine's docker0 bridge is missing: restart dockerd (scripts/testbed.sh down && up) before sending traffic to containers"
            );
            let run_id = format!(
                "{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            );
            TestBed {
                docker,
                run_id,
                images: Vec::new(),
                registries: Vec::new(),
                builders: Vec::new(),
                _turn: turn,
            }
        }
        Err(e) => panic!(
            "this test needs a Docker engine and none can be reached: {e}\nhint: `scripts/test.sh` sets one up (root), or run `sudo scripts/testbed.sh up` first; a plain `cargo test` skips such tests"
        ),
    }
}

/// The opening most engine tests share: the test bed, arch-server cross-compiled into
/// `dist/` for amd64 and arm64, and a registry of this run's own (`localhost:PORT`).
pub async fn testbed_with_registry() -> (TestBed, String) {
    let mut bed = testbed().await;
    bed.run("scripts/build-dist.sh", &["amd64", "arm64"]);
    let registry = bed.start_registry().await;
    (bed, registry)
}

/// The repository root (the workspace), where the Dockerfile and scripts live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

impl TestBed {
    /// Labels for everything this run creates.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (RUN_LABEL.to_string(), self.run_id.clone()),
            (MANAGED_BY_LABEL.to_string(), "multiarch-tests".to_string()),
        ])
    }

    /// Remembers a `multiarch builder` to remove at the end, with its container and its
    /// state volume (the CLI labels them as the kit's, not as this run's).
    pub fn track_builder(&mut self, name: &str) {
        self.builders.push(name.to_string());
    }

    /// Remembers another address of one of this run's registries, so that images pulled
    /// through it are removed at the end too.
    pub fn track_registry_alias(&mut self, address: &str) {
        self.registries.push(address.to_string());
    }

    /// Remembers an image tag to remove at the end.
    pub fn track_image(&mut self, image: &str) {
        self.images.push(image.to_string());
    }

    /// Starts a throw-away `registry:2` on a free loopback port; returns `localhost:PORT`.
    pub async fn start_registry(&mut self) -> String {
        let spec = engine::RunSpec {
            image: "registry:2".into(),
            platform: None,
            container_port: 5000,
            labels: self.labels(),
            cmd: None,
            env: Vec::new(),
            ..Default::default()
        };
        let started = engine::run_published(&self.docker, &spec)
            .await
            .expect("a registry:2 image (scripts/testbed.sh up builds one)");
        let address = format!("localhost:{}", started.host_port);
        wait_for_http(&format!("http://{address}/v2/")).await;
        self.registries.push(address.clone());
        address
    }

    /// Runs a command, failing the test with its output when it fails.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let output = Command::new(program)
            .args(args)
            .current_dir(repo_root())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Fails the test when any container matches `filter` (as `docker ps --filter` takes
    /// it: `label=KEY`, `label=KEY=VALUE`, `name=NAME`): what a command started, it must
    /// have removed. `context` goes into the failure message.
    pub fn assert_no_containers(&self, filter: &str, context: &str) {
        let left = self.run("docker", &["ps", "-aq", "--filter", filter]);
        assert!(
            left.trim().is_empty(),
            "containers matching {filter} were left: {left}\n{context}"
        );
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        // The CLI, synchronously: this runs during unwinding too.
        for builder in &self.builders {
            // buildx's names for a builder's container and volume, and the kit's earlier ones.
            for (container, volume) in [
                (
                    format!("buildx_buildkit_{builder}0"),
                    format!("buildx_buildkit_{builder}0_state"),
                ),
                (
                    format!("multiarch-buildkit-{builder}"),
                    format!("multiarch-buildkit-{builder}-state"),
                ),
            ] {
                let _ = Command::new("docker")
                    .args(["rm", "-f", "-v", &container])
                    .output();
                let _ = Command::new("docker")
                    .args(["volume", "rm", "-f", &volume])
                    .output();
            }
        }
        let filter = format!("label={RUN_LABEL}={}", self.run_id);
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&ids)
                .output();
        }
        let _ = Command::new("docker")
            .args(["network", "prune", "-f", "--filter", &filter])
            .output();
        // `-a`: named volumes too, not only anonymous ones.
        let _ = Command::new("docker")
            .args(["volume", "prune", "-a", "-f", "--filter", &filter])
            .output();
        // Every image pulled from this run's registries, by tag or by digest.
        let listed = Command::new("docker")
            .args([
                "images",
                "--digests",
                "--format",
                "{{.Repository}}@{{.Digest}}",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for line in listed.lines() {
            if self
                .registries
                .iter()
                .any(|r| line.starts_with(&format!("{r}/")))
            {
                self.images.push(line.to_string());
            }
        }
        if !self.images.is_empty() {
            let _ = Command::new("docker")
                .args(["rmi", "-f"])
                .args(&self.images)
                .output();
        }
    }
}

/// Waits until `url` answers 200 (at most 30 s).
pub async fn wait_for_http(url: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = http_get(url).await {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered 200"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A plain HTTP GET on loopback, returning status and body.
pub async fn http_get(url: &str) -> reqwest::Result<(u16, String)> {
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()?
        .get(url)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// Runs `command`; returns (exit code, stdout, stderr).
pub fn output(command: &mut Command) -> (i32, String, String) {
    let output = command.output().expect("the command runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Pulls `image` for `platform` and runs it with its port 80 published on loopback.
pub async fn run_platform(bed: &TestBed, image: &str, platform: &str) -> engine::Started {
    bed.run(
        "docker",
        &["pull", "--quiet", "--platform", platform, image],
    );
    engine::run_published(
        &bed.docker,
        &engine::RunSpec {
            image: image.to_string(),
            platform: Some(platform.parse().unwrap()),
            container_port: 80,
            labels: bed.labels(),
            cmd: None,
            env: Vec::new(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// `image`'s `GET /arch` answer for `platform` ([`run_platform`]); the container goes.
pub async fn arch_answer(bed: &TestBed, image: &str, platform: &str) -> serde_json::Value {
    let started = run_platform(bed, image, platform).await;
    let answer = wait_for_http(&format!("http://127.0.0.1:{}/arch", started.host_port)).await;
    engine::remove(&bed.docker, &started.id).await;
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{platform}: {e}: {answer}"))
}

/// Runs the `multiarch` binary; returns (exit code, stdout, stderr).
pub fn multiarch(args: &[&str]) -> (i32, String, String) {
    multiarch_with(args, &[])
}

/// The environment every run of the CLI in the tests gets, besides `env`: a buildx store
/// of its own (`<MULTIARCH_STATE_DIR>/buildx`, else one for this test process), so the
/// user's `~/.docker/buildx` is never read or written.
pub fn test_env<'a>(env: &[(&'a str, &'a str)]) -> Vec<(String, String)> {
    static STORE: std::sync::LazyLock<tempfile::TempDir> =
        std::sync::LazyLock::new(|| tempfile::tempdir().unwrap());
    let mut all: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !all.iter().any(|(k, _)| k == "BUILDX_CONFIG") {
        let store = match all.iter().find(|(k, _)| k == "MULTIARCH_STATE_DIR") {
            Some((_, state)) => PathBuf::from(state).join("buildx"),
            None => STORE.path().join("buildx"),
        };
        all.push(("BUILDX_CONFIG".into(), store.display().to_string()));
    }
    all
}

/// Runs the `multiarch` binary with extra environment variables.
pub fn multiarch_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .args(args)
        .envs(test_env(env))
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the multiarch binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// A compose file for a registry of this run only: its own name, port and volume, all
/// labelled with the run, so the drop removes them.
pub fn registry_file(bed: &TestBed, port: u16) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "services:\n  registry:\n    image: registry:2\n    container_name: multiarch-registry-test-{run}\n    ports: [\"127.0.0.1:{port}:5000\"]\n    volumes: [\"data:/var/lib/registry\"]\n    labels:\n      {label}: \"{run}\"\nvolumes:\n  data:\n    name: multiarch-registry-test-data-{run}\n    labels:\n      {label}: \"{run}\"\n",
        run = bed.run_id,
        label = RUN_LABEL,
    )
    .unwrap();
    file
}

/// `multiarch build --push` of the binaries in `dist/` (the Dockerfile's `build` stage
/// replaced by them) for `platforms`, with a builder state of its own, so the build uses
/// the engine's BuildKit whatever builders a test created; the image is tracked.
pub fn push_dist(bed: &mut TestBed, image: &str, platforms: &str) -> (i32, String, String) {
    bed.track_image(image);
    let state = tempfile::tempdir().unwrap();
    multiarch_with(
        &dist_build_args("default", image, platforms),
        &[("MULTIARCH_STATE_DIR", state.path().to_str().unwrap())],
    )
}

/// `multiarch demo` start to end with the binaries in `dist/`, on a registry of this
/// run's own and a builder state of its own (so builders a test created are not the
/// demo's); `platforms` as `--platform` takes them, or the demo's default. Everything it
/// creates is tracked for the drop.
pub fn run_demo(bed: &mut TestBed, platforms: Option<&str>) -> (i32, String, String) {
    let port = free_port();
    let file = registry_file(bed, port);
    // The demo's builder: a BuildKit container when the test bed has the image.
    bed.track_builder("multiarch-builder");
    bed.track_image(&format!("localhost:{port}/arch-server:demo"));
    let state = tempfile::tempdir().unwrap();
    let mut args = vec![
        "demo",
        "--registry-file",
        file.path().to_str().unwrap(),
        "--binaries",
        "dist",
    ];
    if let Some(platforms) = platforms {
        args.extend(["--platform", platforms]);
    }
    let ran = multiarch_with(
        &args,
        &[("MULTIARCH_STATE_DIR", state.path().to_str().unwrap())],
    );
    // The demo's builder is a buildx builder (issue #23): buildx lists it, running.
    if ran.2.contains("(docker-container driver") {
        let listed = Command::new("docker")
            .args(["buildx", "ls"])
            .env("BUILDX_CONFIG", state.path().join("buildx"))
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(
            listed
                .lines()
                .any(|l| l.contains("multiarch-builder0") && l.contains("running")),
            "`docker buildx ls` lists the demo's builder: {listed}"
        );
    }
    ran
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Builds the repository's Dockerfile for `platforms` (`linux/amd64,linux/arm64`) with
/// the binaries in `context` (`<arch>/arch-server`) as its `build` stage, and pushes it.
pub fn build_and_push(bed: &mut TestBed, context: &str, image: &str, platforms: &str) {
    buildx_push(
        bed,
        image,
        platforms,
        &["--build-context", &format!("build={context}")],
        ".",
    );
}

/// `docker buildx build` with the engine's own builder for `platforms`, pushed as
/// `image` (removed from the engine at the end); `extra` goes before the context
/// (`-f FILE`, `--build-context NAME=DIR`).
pub fn buildx_push(bed: &mut TestBed, image: &str, platforms: &str, extra: &[&str], context: &str) {
    bed.track_image(image);
    let mut args = vec![
        "buildx",
        "build",
        "--builder",
        "default",
        "--quiet",
        "--platform",
        platforms,
        "--tag",
        image,
        "--push",
    ];
    args.extend(extra);
    args.push(context);
    bed.run("docker", &args);
}

/// The line of `output` that starts with `prefix` and a space (a table's row), with the
/// numbered details it points at (`ok [2]` brings the line `[2] ...` from under the
/// table), or the test fails showing the whole output.
pub fn row(output: &str, prefix: &str) -> String {
    let line = output
        .lines()
        .find(|l| l.starts_with(&format!("{prefix} ")))
        .unwrap_or_else(|| panic!("no row `{prefix}` in:\n{output}"));
    let mut whole = line.to_string();
    for (start, _) in line.match_indices('[') {
        let Some(end) = line[start..].find(']') else {
            continue;
        };
        let marker = &line[start..=start + end];
        if let Some(detail) = output
            .lines()
            .find(|l| l.starts_with(&format!("{marker} ")))
        {
            whole += "\n";
            whole += detail;
        }
    }
    whole
}

/// A build context whose image is big enough for a push to take seconds: per platform a
/// layer of random bytes (which no compression shrinks) and the arch-server binary,
/// serving on port 80 as the repository's image does.
pub fn heavy_context(dir: &Path, megabytes: usize) {
    use std::io::Read;
    let root = repo_root();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY payload-${TARGETARCH} /payload\nCOPY ${TARGETARCH}/arch-server /arch-server\nENV HOST=0.0.0.0 PORT=80\nENTRYPOINT [\"/arch-server\"]\n",
    )
    .unwrap();
    for arch in ["amd64", "arm64"] {
        let mut payload = vec![0u8; megabytes << 20];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut payload)
            .unwrap();
        std::fs::write(dir.join(format!("payload-{arch}")), payload).unwrap();
        std::fs::create_dir_all(dir.join(arch)).unwrap();
        std::fs::copy(
            root.join("dist").join(arch).join("arch-server"),
            dir.join(arch).join("arch-server"),
        )
        .unwrap();
    }
}

/// Replaces every `sha256:<64 hex>` with `sha256:[digest]` and the registry address with
/// `[registry]`, so snapshots hold only what is stable.
pub fn redact(text: &str, registry: &str) -> String {
    let text = text.replace(registry, "[registry]");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("sha256:") {
        out.push_str(&rest[..at + 7]);
        let after = &rest[at + 7..];
        let hex = after.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex == 64 {
            out.push_str("[digest]");
            rest = &after[64..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    // Sizes follow the binary, which changes with every source change.
    let words: Vec<&str> = out.split(' ').collect();
    let mut redacted: Vec<String> = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let unit = words.get(i + 1).map(|w| w.trim_end_matches('\n'));
        if word.parse::<f64>().is_ok() && matches!(unit, Some("B" | "KiB" | "MiB" | "GiB")) {
            redacted.push("[size]".into());
        } else if matches!(*word, "B" | "KiB" | "MiB" | "GiB")
            && i > 0
            && words[i - 1].parse::<f64>().is_ok()
        {
            continue;
        } else {
            redacted.push((*word).to_string());
        }
    }
    redacted.join(" ")
}

/// Base64 as `docker login` stores `user:password` in config.json.
pub fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Tools we did not write read `image` back (issue #26): `crane digest` and `oras manifest
/// fetch` must give `digest`, and `crane validate --remote` must pass every platform's
/// image (not the attestations, whose layers crane reads as gzip). Returns how many images
/// crane validated.
pub fn read_back_with_crane_and_oras(bed: &TestBed, image: &str, digest: &str) -> usize {
    let crane = bed.run("crane", &["digest", "--insecure", image]);
    assert_eq!(crane.trim(), digest, "crane digest {image}");
    let fetched = Command::new("oras")
        .args(["manifest", "fetch", "--plain-http", image])
        .output()
        .unwrap();
    assert!(
        fetched.status.success(),
        "oras manifest fetch {image}: {}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    assert_eq!(
        multiarch::registry::sha256_digest(&fetched.stdout),
        digest,
        "oras manifest fetch {image}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&fetched.stdout).unwrap();
    let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
    let repository = repository.split('@').next().unwrap_or(repository);
    let images: Vec<String> = match manifest["manifests"].as_array() {
        Some(entries) => entries
            .iter()
            .filter(|e| e["platform"]["architecture"] != "unknown")
            .map(|e| format!("{repository}@{}", e["digest"].as_str().unwrap()))
            .collect(),
        None => vec![format!("{repository}@{digest}")],
    };
    for one in &images {
        bed.run("crane", &["validate", "--insecure", "--remote", one]);
    }
    images.len()
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

/// The repository's image for the eight platforms (host-built binaries, BuildKit's cache
/// making a second push cheap), pushed to a registry of this run as `eight:RUN`; returns
/// the registry and the image.
pub async fn eight_platform_image(bed: &mut TestBed) -> (String, String) {
    bed.run(
        "scripts/build-dist.sh",
        &[
            "amd64", "arm64", "386", "arm/v6", "arm/v7", "ppc64le", "s390x", "riscv64",
        ],
    );
    let registry = bed.start_registry().await;
    let image = format!("{registry}/eight:{}", bed.run_id);
    let (code, stdout, stderr) = push_dist(bed, &image, &EIGHT_PLATFORMS.join(","));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    (registry, image)
}

/// Debian's static busybox for `arch` (`amd64`, `arm64`), which `scripts/testbed.sh up`
/// keeps: a program of each platform for test images, without pulling any image.
pub fn busybox(arch: &str) -> PathBuf {
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

/// `build --builder BUILDER -t IMAGE --platform PLATFORMS` of the repository with the
/// host's binaries (`--build-context build=dist`), pushed, progress plain.
pub fn dist_build_args<'a>(builder: &'a str, image: &'a str, platforms: &'a str) -> [&'a str; 12] {
    [
        "build",
        "--builder",
        builder,
        "-t",
        image,
        "--platform",
        platforms,
        "--build-context",
        "build=dist",
        "--push",
        "--plain",
        ".",
    ]
}

/// A context whose build takes two minutes on linux/arm64 and a moment elsewhere: a
/// busybox base (pushed to `registry` for amd64 and arm64) and a RUN step that sleeps
/// on arm64 only. A test stops a node once `sleep 120` shows in its progress.
pub fn slow_on_arm64(bed: &mut TestBed, registry: &str) -> tempfile::TempDir {
    let slow = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir(slow.path().join(arch)).unwrap();
        std::fs::copy(busybox(arch), slow.path().join(arch).join("busybox")).unwrap();
    }
    std::fs::write(
        slow.path().join("Dockerfile.base"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .unwrap();
    let base = format!("{registry}/busybox:{}", bed.run_id);
    buildx_push(
        bed,
        &base,
        "linux/amd64,linux/arm64",
        &["-f", &slow.path().join("Dockerfile.base").to_string_lossy()],
        slow.path().to_str().unwrap(),
    );
    std::fs::write(
        slow.path().join("Dockerfile"),
        format!(
            "FROM {base}\nARG TARGETARCH\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"[ \\\"$TARGETARCH\\\" != arm64 ] || /bin/busybox sleep 120\"]\n"
        ),
    )
    .unwrap();
    slow
}

/// `multiarch build` of [`slow_on_arm64`]'s `context` for amd64 and arm64 on `builder`,
/// pushed as `image`, with `cut_off` run once a line of its progress that starts with
/// `node` (`[far]`) shows the slow step; returns its exit code and all of its stderr.
pub fn build_cut_off(
    context: &Path,
    builder: &str,
    image: &str,
    env: &[(&str, &str)],
    node: &str,
    cut_off: impl FnOnce(),
) -> (i32, String) {
    use std::process::Stdio;
    let mut build = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .arg("build")
        .arg(context)
        .args([
            "--builder",
            builder,
            "-t",
            image,
            "--platform",
            "linux/amd64,linux/arm64",
            "--push",
            "--plain",
        ])
        .envs(test_env(env))
        .env("NO_COLOR", "1")
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(build.stderr.take().unwrap()));
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let node = node.to_string();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in lines.map_while(Result::ok) {
            if line.starts_with(&node) && line.contains("sleep 120") {
                let _ = seen_tx.send(());
            }
            all += &line;
            all.push('\n');
        }
        all
    });
    let seen = seen_rx.recv_timeout(Duration::from_secs(120)).is_ok();
    if seen {
        cut_off();
    } else {
        let _ = build.kill();
    }
    let status = build.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(seen, "the node never started its slow step: {stderr}");
    (status.code().unwrap_or(-1), stderr)
}

/// A second engine (`scripts/build-node.sh`) for the length of a test; stopped (data and
/// bridge removed) on drop.
pub struct SecondNode {
    pub name: &'static str,
}

impl SecondNode {
    /// Starts engine `name` on `tcp://127.0.0.1:port` with the certificates in `certs`,
    /// and `mirror` as its registry mirror.
    pub fn up(
        bed: &TestBed,
        name: &'static str,
        port: u16,
        certs: &Path,
        mirror: Option<&str>,
    ) -> Self {
        let port = port.to_string();
        let mut args = vec!["up", name, &port, certs.to_str().unwrap()];
        args.extend(mirror);
        bed.run("scripts/build-node.sh", &args);
        Self { name }
    }

    /// Certificates of a new CA (`scripts/build-node.sh certs`), then engine `name` on a
    /// free loopback port behind TLS with them; the engine, the certificates' folder and
    /// the port.
    pub fn with_new_certs(bed: &TestBed, name: &'static str) -> (Self, tempfile::TempDir, u16) {
        let certs = tempfile::tempdir().unwrap();
        bed.run(
            "scripts/build-node.sh",
            &["certs", certs.path().to_str().unwrap()],
        );
        let port = free_port();
        (Self::up(bed, name, port, certs.path(), None), certs, port)
    }

    /// Stops it (again, harmlessly, when it is already gone); whether that worked.
    pub fn down(&self) -> bool {
        Command::new(repo_root().join("scripts/build-node.sh"))
            .args(["down", self.name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for SecondNode {
    fn drop(&mut self) {
        self.down();
    }
}
