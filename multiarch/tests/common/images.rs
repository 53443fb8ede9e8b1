//! Images the tests build and push, and what they run from them: the repository's image
//! from host-built binaries, contexts made on the fly (random layers, a slow arm64 step),
//! the demo on a registry of the test's own, and what tools we did not write read back.

use std::path::Path;
use std::process::Command;

use super::{RUN_LABEL, TestBed, busybox, free_port, multiarch_with, repo_root, wait_for_http};
use multiarch::engine;

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
/// test's own, a builder state of its own (so builders a test created are not the
/// demo's) and a builder named for the test (`demo-RUN`, so demos run side by side);
/// `platforms` as `--platform` takes them, or the demo's default. Everything it creates is
/// tracked for the drop.
pub fn run_demo(bed: &mut TestBed, platforms: Option<&str>) -> (i32, String, String) {
    let port = free_port();
    let file = registry_file(bed, port);
    // The demo's builder: a BuildKit container when the test bed has the image.
    let builder = demo_builder(bed);
    bed.track_builder(&builder);
    bed.track_image(&format!("localhost:{port}/arch-server:demo"));
    let state = tempfile::tempdir().unwrap();
    let mut args = vec![
        "demo",
        "--registry-file",
        file.path().to_str().unwrap(),
        "--binaries",
        "dist",
        "--builder",
        &builder,
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
                .any(|l| l.contains(&format!("{builder}0")) && l.contains("running")),
            "`docker buildx ls` lists the demo's builder: {listed}"
        );
    }
    ran
}

/// The name [`run_demo`] gives the demo's builder in `bed`'s test.
pub fn demo_builder(bed: &TestBed) -> String {
    format!("demo-{}", bed.run_id)
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
