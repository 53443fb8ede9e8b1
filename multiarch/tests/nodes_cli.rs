//! Native build nodes (issue #16): one builder over two real engines, the test bed's on
//! its socket and a second dockerd on a bridge of its own reached over `tcp://` with TLS
//! certificates the test makes. Each node builds its platform, the index is verified;
//! the second node is stopped in the middle of a build: a clear error naming it, the tag
//! unchanged, nothing left in the first engine.

use crate::common::engine_test;
use std::process::{Command, Stdio};

use crate::common::{self, SecondNode, TestBed, Turn};

/// What every test here shares: the test bed's engine and registry, a second engine
/// behind TLS with certificates of this run, and a kit state folder of its own.
struct TwoEngines {
    // Fields drop in this order: the second engine must be gone before the test bed
    // hands the next test its turn, or that test's engine of the same name starts in a
    // folder this one's clean-up is removing.
    node: SecondNode,
    certs: tempfile::TempDir,
    state: tempfile::TempDir,
    registry: String,
    /// The second engine's port on loopback.
    port: u16,
    bed: TestBed,
}

impl TwoEngines {
    async fn up() -> Self {
        let bed = common::testbed_taking(Turn::SecondEngines).await;
        common::dist(&["amd64", "arm64"]).await;
        let registry = common::shared_registry().await;
        let (node, certs, port) = SecondNode::with_new_certs(&bed, "mt-far");
        Self {
            node,
            certs,
            state: tempfile::tempdir().unwrap(),
            registry,
            port,
            bed,
        }
    }

    /// `multiarch ARGS` with this test's state folder.
    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let state = self.state.path().to_str().unwrap();
        common::multiarch_with(args, &[("MULTIARCH_STATE_DIR", state)])
    }

    /// The builder `spread`: this engine as `here`, and the second, with its client
    /// certificate, as `far` for linux/arm64, appended as `docker buildx create
    /// --append` appends.
    fn spread(self) -> Self {
        let (code, _, stderr) = self.cli(&[
            "builder",
            "create",
            "--name",
            "spread",
            "--node",
            "here=unix:///var/run/docker.sock",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let far = format!(
            "far=tcp://127.0.0.1:{},certs={},platforms=linux/arm64",
            self.port,
            self.certs.path().display()
        );
        let (code, _, stderr) = self.cli(&[
            "builder", "create", "--name", "spread", "--append", "--node", &far,
        ]);
        assert_eq!(code, 0, "{stderr}");
        self
    }

    /// A build of the host's binaries (`dist/`) for both platforms over `spread`.
    fn build_dist(&mut self, image: &str) -> (i32, String, String) {
        self.bed.track_image(image);
        self.cli(&common::dist_build_args(
            "spread",
            image,
            "linux/amd64,linux/arm64",
        ))
    }
}

#[engine_test]
async fn a_node_that_refuses_us_is_named_and_nothing_is_recorded() {
    let nodes = TwoEngines::up().await;
    // Without its client certificate, the second engine refuses the connection.
    let (code, _, stderr) = nodes.cli(&[
        "builder",
        "create",
        "--name",
        "spread",
        "--node",
        &format!("far=tcp://127.0.0.1:{}", nodes.port),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the build node `far` (tcp://127.0.0.1:"),
        "{stderr}"
    );
    let (_, listed, _) = nodes.cli(&["builder", "ls"]);
    assert!(!listed.contains("spread"), "{listed}");
}

#[engine_test]
async fn a_builder_of_two_nodes_lists_each_running_with_its_platforms() {
    let nodes = TwoEngines::up().await.spread();
    let (code, listed, stderr) = nodes.cli(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let line = |name: &str| common::row(&listed.replace("  \\_ ", ""), name);
    assert!(line("here").contains("running") && line("here").contains("linux/amd64"));
    assert!(
        line("far").contains("running") && line("far").contains("linux/arm64*"),
        "the platform named for it is marked: {listed}"
    );
}

#[engine_test]
async fn a_node_named_by_its_docker_context_answers() {
    let nodes = TwoEngines::up().await;
    // The engine as `docker context create` records it: its host in contexts/meta, its
    // TLS files copied to contexts/tls.
    let contexts = tempfile::tempdir().unwrap();
    let config = contexts.path().to_str().unwrap().to_string();
    let tls = |file: &str| nodes.certs.path().join(file).display().to_string();
    let status = Command::new("docker")
        .args([
            "context",
            "create",
            "mt-far",
            "--docker",
            &format!(
                "host=tcp://127.0.0.1:{},ca={},cert={},key={}",
                nodes.port,
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
    let state = nodes.state.path().to_str().unwrap();
    let by_context = |args: &[&str]| {
        common::multiarch_with(
            args,
            &[("MULTIARCH_STATE_DIR", state), ("DOCKER_CONFIG", &config)],
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
}

#[engine_test]
async fn each_platform_builds_on_its_node_into_one_verified_index() {
    let mut nodes = TwoEngines::up().await.spread();
    let image = format!("{}/nodes:{}", nodes.registry, nodes.bed.run_id);
    let (code, stdout, stderr) = nodes.build_dist(&image);
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
    // The profile names each platform's node.
    let profile = stderr
        .split_once("where the time went:")
        .map(|(_, after)| after)
        .unwrap_or_else(|| panic!("a profile: {stderr}"));
    let node_of = |platform: &str| {
        profile
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|words| words.first() == Some(&platform))
            .and_then(|words| words.get(1).map(|w| w.to_string()))
    };
    assert_eq!(node_of("linux/amd64").as_deref(), Some("here"), "{profile}");
    assert_eq!(node_of("linux/arm64").as_deref(), Some("far"), "{profile}");
    let (code, stdout, stderr) = common::multiarch(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[engine_test]
async fn a_node_lost_mid_build_is_named_and_no_tag_moves_nor_anything_stays() {
    let mut nodes = TwoEngines::up().await.spread();
    let image = format!("{}/nodes:{}", nodes.registry, nodes.bed.run_id);
    let (code, stdout, stderr) = nodes.build_dist(&image);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let digest = || {
        let (_, json, _) = common::multiarch(&["inspect", &image, "--json"]);
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = digest();

    let slow = common::slow_on_arm64(&mut nodes.bed, &nodes.registry);
    // What the first engine holds of this test before: the build must leave it so. The
    // build could leave its image (named for this test's run, in the shared registry) or a
    // named context's (labelled with the test's run); other tests' images are no concern
    // of this one.
    let own_label = format!("label={}={}", common::RUN_LABEL, nodes.bed.run_id);
    let images = || {
        let all = nodes.bed.run(
            "docker",
            &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        );
        let labelled = nodes.bed.run(
            "docker",
            &[
                "images",
                "--filter",
                &own_label,
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ],
        );
        let mut listed: Vec<String> = all
            .lines()
            .filter(|image| {
                image.starts_with(&format!("{}/", nodes.registry))
                    && image.contains(&nodes.bed.run_id)
            })
            .chain(labelled.lines())
            .map(String::from)
            .collect();
        listed.sort();
        listed
    };
    let images_before = images();
    let state = nodes.state.path().to_str().unwrap();
    let (code, stderr) = common::build_cut_off(
        slow.path(),
        "spread",
        &image,
        &[("MULTIARCH_STATE_DIR", state)],
        "[far]",
        || assert!(nodes.node.down(), "the second node stops"),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: the build node `far` failed building linux/arm64"),
        "the error names the node and the platform: {stderr}"
    );
    assert!(stderr.contains("hint: the tag was not moved"), "{stderr}");
    assert_eq!(before, digest(), "the tag did not move");
    assert_eq!(
        images(),
        images_before,
        "the first node keeps nothing of the build"
    );

    // The record stays coherent: the lost node shows as such, and goes on request.
    let (code, listed, _) = nodes.cli(&["builder", "ls"]);
    assert_eq!(code, 0);
    assert!(
        listed.contains("1 of 2 nodes down") && listed.contains("unreachable"),
        "{listed}"
    );
    let (code, _, stderr) = nodes.cli(&["builder", "rm", "spread", "--node", "here"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = nodes.cli(&["builder", "rm", "spread", "--node", "far"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is the last node of `spread`"), "{stderr}");
    let (code, _, stderr) = nodes.cli(&["builder", "rm", "spread"]);
    assert_eq!(code, 0, "{stderr}");
}
