//! Native build nodes (issue #16): one builder over two real engines, the test bed's on
//! its socket and a second dockerd on a bridge of its own reached over `tcp://` with TLS
//! certificates this test makes. Each node builds its platform, the index is verified;
//! the second node is stopped in the middle of a build: a clear error naming it, the tag
//! unchanged, nothing left in the first engine.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;
use crate::common::SecondNode;

#[ignore = "needs Docker: `scripts/test.sh` brings the engine up and runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_build_one_index_and_a_lost_node_moves_no_tag() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_string();
    let cli = |args: &[&str]| common::multiarch_with(args, &[("MULTIARCH_STATE_DIR", &state_dir)]);
    let certs = tempfile::tempdir().unwrap();
    bed.run(
        "scripts/build-node.sh",
        &["certs", certs.path().to_str().unwrap()],
    );
    let port = common::free_port();
    let node = SecondNode::up(&bed, "mt-far", port, certs.path(), None);

    // Without its client certificate the node refuses us, and nothing is recorded.
    let (code, _, stderr) = cli(&[
        "builder",
        "create",
        "--name",
        "spread",
        "--node",
        &format!("far=tcp://127.0.0.1:{port}"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the build node `far` (tcp://127.0.0.1:"),
        "{stderr}"
    );
    let (_, listed, _) = cli(&["builder", "ls"]);
    assert!(!listed.contains("spread"), "{listed}");

    let far = format!(
        "far=tcp://127.0.0.1:{port},certs={},platforms=linux/arm64",
        certs.path().display()
    );
    let (code, _, stderr) = cli(&[
        "builder",
        "create",
        "--name",
        "spread",
        "--node",
        "here=unix:///var/run/docker.sock",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cli(&[
        "builder", "create", "--name", "spread", "--append", "--node", &far,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, listed, stderr) = cli(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let line = |name: &str| common::row(&listed.replace("  \\_ ", ""), name);
    assert!(line("here").contains("running") && line("here").contains("linux/amd64"));
    assert!(
        line("far").contains("running") && line("far").contains("linux/arm64*"),
        "the platform named for it is marked: {listed}"
    );

    // The same engine named by a Docker context, as `docker context create` makes one
    // (its host in contexts/meta, its TLS files copied to contexts/tls).
    let contexts = tempfile::tempdir().unwrap();
    let config = contexts.path().to_str().unwrap().to_string();
    let tls = |file: &str| certs.path().join(file).display().to_string();
    let status = Command::new("docker")
        .args([
            "context",
            "create",
            "mt-far",
            "--docker",
            &format!(
                "host=tcp://127.0.0.1:{port},ca={},cert={},key={}",
                tls("ca.pem"),
                tls("cert.pem"),
                tls("key.pem")
            ),
        ])
        .env("DOCKER_CONFIG", &config)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "docker context create");
    let by_context = |args: &[&str]| {
        common::multiarch_with(
            args,
            &[
                ("MULTIARCH_STATE_DIR", &state_dir),
                ("DOCKER_CONFIG", &config),
            ],
        )
    };
    let (code, _, stderr) =
        by_context(&["builder", "create", "--name", "ctx", "--node", "far=mt-far"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, listed, _) = by_context(&["builder", "inspect", "ctx"]);
    assert!(
        listed.contains("endpoint:  mt-far") && listed.contains("status:    running"),
        "a node named by its Docker context answers: {listed}"
    );
    let (code, _, stderr) = by_context(&["builder", "rm", "ctx"]);
    assert_eq!(code, 0, "{stderr}");

    // Each platform on its node, one index, verified.
    let image = format!("{registry}/nodes:{}", bed.run_id);
    bed.track_image(&image);
    let (code, stdout, stderr) = cli(&[
        "build",
        "--builder",
        "spread",
        "-t",
        &image,
        "--platform",
        "linux/amd64,linux/arm64",
        "--build-context",
        "build=dist",
        "--push",
        "--plain",
        ".",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("linux/amd64 → node `here` (native)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("linux/arm64 → node `far` (named for it)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[far] pushing linux/arm64 by digest")
            && stderr.contains("[here] pushing linux/amd64 by digest"),
        "{stderr}"
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (_, before, _) = common::multiarch(&["inspect", &image, "--json"]);
    let digest = |json: &str| {
        serde_json::from_str::<serde_json::Value>(json).unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // A base image with a shell, and a build whose arm64 half takes two minutes.
    let slow = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir(slow.path().join(arch)).unwrap();
        std::fs::copy(
            Path::new("/var/cache/multiarch/busybox")
                .join(arch)
                .join("busybox"),
            slow.path().join(arch).join("busybox"),
        )
        .expect("busybox (scripts/testbed.sh up keeps it)");
    }
    std::fs::write(
        slow.path().join("Dockerfile.base"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .unwrap();
    let base = format!("{registry}/busybox:{}", bed.run_id);
    common::buildx_push(
        &mut bed,
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
    // What the first engine holds before: the build must leave it so (the machine's own
    // images, a benchmark's toolchain image among them, are no concern of this test).
    let images = || {
        let mut listed: Vec<String> = bed
            .run(
                "docker",
                &["images", "--format", "{{.Repository}}:{{.Tag}}"],
            )
            .lines()
            .map(String::from)
            .collect();
        listed.sort();
        listed
    };
    let images_before = images();
    let mut build = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .args([
            "build",
            slow.path().to_str().unwrap(),
            "--builder",
            "spread",
            "-t",
            &image,
            "--platform",
            "linux/amd64,linux/arm64",
            "--push",
            "--plain",
        ])
        .envs(common::test_env(&[("MULTIARCH_STATE_DIR", &state_dir)]))
        .env("NO_COLOR", "1")
        .current_dir(common::repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop the second node once its arm64 half has started its two-minute step.
    let lines = std::io::BufRead::lines(std::io::BufReader::new(build.stderr.take().unwrap()));
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in lines.map_while(Result::ok) {
            if line.starts_with("[far]") && line.contains("sleep 120") {
                let _ = seen_tx.send(());
            }
            all += &line;
            all.push('\n');
        }
        all
    });
    seen_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the second node starts its slow step");
    assert!(node.down(), "the second node stops");
    let status = build.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: the build node `far` failed building linux/arm64"),
        "the error names the node and the platform: {stderr}"
    );
    assert!(stderr.contains("hint: the tag was not moved"), "{stderr}");
    let (_, after, _) = common::multiarch(&["inspect", &image, "--json"]);
    assert_eq!(digest(&before), digest(&after), "the tag did not move");
    assert_eq!(
        images(),
        images_before,
        "the first node keeps nothing of the build"
    );

    // The record stays coherent: the lost node shows as such, and goes on request.
    let (code, listed, _) = cli(&["builder", "ls"]);
    assert_eq!(code, 0);
    assert!(
        listed.contains("1 of 2 nodes down") && listed.contains("unreachable"),
        "{listed}"
    );
    let (code, _, stderr) = cli(&["builder", "rm", "spread", "--node", "here"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cli(&["builder", "rm", "spread", "--node", "far"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is the last node of `spread`"), "{stderr}");
    let (code, _, stderr) = cli(&["builder", "rm", "spread"]);
    assert_eq!(code, 0, "{stderr}");
}
