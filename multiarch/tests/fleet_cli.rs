//! Build nodes everywhere users already build (issue #27): one builder over this
//! machine's engine, a buildx docker-container builder (`docker buildx create`), a remote
//! BuildKit behind TLS with client certificates (`docker buildx create --driver remote`)
//! and a second engine over SSH. The buildx builders are nodes through `docker buildx
//! dial-stdio`, as any driver's would be (kubernetes, cloud). One build spreads over all
//! four into one verified index; a builder that cannot be reached, a key the SSH host no
//! longer takes, a builder lost and an SSH connection cut in the middle of a build are
//! each named, and the tag stays where it was.

use crate::common::engine_test;
use crate::common::{self, SecondNode, SshHost, Stores, TestBed, TlsDaemon, Turn};

/// The four kinds of node. Fields drop in order: the sshd and the second engine go
/// before the test bed hands the next test its turn (it also removes the BuildKit
/// containers and the buildx builders it tracks).
struct Fleet {
    ssh: SshHost,
    _node: SecondNode,
    _certs: tempfile::TempDir,
    _tls: TlsDaemon,
    stores: Stores,
    /// The docker-container builder's name in buildx's store.
    container_builder: String,
    /// The remote builder's.
    remote_builder: String,
    registry: String,
    bed: TestBed,
}

impl Fleet {
    async fn up() -> Self {
        let mut bed = common::testbed_taking(Turn::SecondEngines).await;
        common::dist(&["amd64", "arm64"]).await;
        let registry = common::shared_registry().await;
        // Each node builds its own platform from the host's binaries.
        common::dist(&["arm/v7", "riscv64"]).await;
        let (node, certs, _) = SecondNode::with_new_certs(&bed, "mt-fleet");
        let ssh = SshHost::start(&common::ssh_host::node_socket("mt-fleet"));
        ssh.trust_host_key();
        let tls = TlsDaemon::start(&bed);
        let stores = Stores::new();
        let container_builder = format!("bx-{}", bed.run_id);
        bed.track_builder(&container_builder);
        let (code, _, stderr) = stores.buildx(&[
            "create",
            "--name",
            &container_builder,
            "--driver",
            "docker-container",
            "--driver-opt",
            "image=multiarch-testbed/buildkit:debian,network=host",
            "--bootstrap",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let remote_builder = format!("tls-{}", bed.run_id);
        let opts = tls.driver_opts(&tls.certs);
        let (code, _, stderr) = stores.buildx(&[
            "create",
            "--name",
            &remote_builder,
            "--driver",
            "remote",
            "--driver-opt",
            &opts,
            &tls.endpoint,
        ]);
        assert_eq!(code, 0, "{stderr}");
        Self {
            ssh,
            _node: node,
            _certs: certs,
            _tls: tls,
            stores,
            container_builder,
            remote_builder,
            registry,
            bed,
        }
    }

    /// `multiarch ARGS` with this test's stores and its ssh.
    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        common::multiarch_with(args, &env)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.stores.env();
        env.push(("MULTIARCH_SSH_COMMAND", self.ssh.ssh_command()));
        env
    }

    /// `builder create --name fleet` with these nodes.
    fn create(&self, nodes: &[String]) {
        let mut args = vec!["builder", "create", "--name", "fleet"];
        for node in nodes {
            args.extend(["--node", node]);
        }
        let (code, _, stderr) = self.cli(&args);
        assert_eq!(code, 0, "{stderr}");
    }

    /// The buildx docker-container builder as node `ctr`, for `platform`.
    fn container_node(&self, platform: &str) -> String {
        format!(
            "ctr=buildx://{},platforms={platform}",
            self.container_builder
        )
    }

    /// A build of the host's binaries (`dist/`) over `fleet`.
    fn build_dist(&mut self, image: &str, platforms: &str) -> (i32, String, String) {
        self.bed.track_image(image);
        self.cli(&common::dist_build_args("fleet", image, platforms))
    }

    /// The digest the tag points at.
    fn digest(image: &str) -> String {
        let (code, json, stderr) = common::multiarch(&["inspect", image, "--json"]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[engine_test]
async fn one_build_spreads_over_an_engine_two_buildx_builders_and_an_ssh_engine() {
    let mut fleet = Fleet::up().await;
    fleet.create(&[
        "here=unix:///var/run/docker.sock".into(),
        fleet.container_node("linux/arm64"),
        format!(
            "tls=buildx://{},platforms=linux/arm/v7",
            fleet.remote_builder
        ),
        format!("far={},platforms=linux/riscv64", fleet.ssh.node()),
    ]);

    let (code, listed, stderr) = fleet.cli(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let listed = listed.replace("  \\_ ", "");
    for (node, endpoint, platform) in [
        (
            "ctr",
            format!("buildx://{}", fleet.container_builder),
            "linux/arm64*",
        ),
        (
            "tls",
            format!("buildx://{}", fleet.remote_builder),
            "linux/arm/v7*",
        ),
        ("far", fleet.ssh.node(), "linux/riscv64*"),
    ] {
        let row = common::row(&listed, node);
        assert!(
            row.contains("running") && row.contains(&endpoint) && row.contains(platform),
            "{node}: {listed}"
        );
    }
    assert!(
        common::row(&listed, "ctr").contains("v0.25.0+debian"),
        "a buildx node shows its BuildKit's version: {listed}"
    );

    let image = format!("{}/fleet:{}", fleet.registry, fleet.bed.run_id);
    let (code, stdout, stderr) =
        fleet.build_dist(&image, "linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for (platform, node, fit) in [
        ("linux/amd64", "here", "native"),
        ("linux/arm64", "ctr", "named for it"),
        ("linux/arm/v7", "tls", "named for it"),
        ("linux/riscv64", "far", "named for it"),
    ] {
        assert!(
            stderr.contains(&format!("{platform} → node `{node}` ({fit})"))
                && stderr.contains(&format!("[{node}] pushing {platform} by digest")),
            "{platform} on {node}: {stderr}"
        );
    }
    let (code, stdout, stderr) = common::multiarch(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for platform in [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
        "linux/riscv64",
    ] {
        assert!(stdout.contains(platform), "{stdout}");
    }

    // The SSH node stops taking our key: the build names it with the fix, the tag stays.
    let before = Fleet::digest(&image);
    fleet.ssh.client_config("stranger_key");
    let (code, stdout, stderr) = fleet.build_dist(&image, "linux/amd64,linux/riscv64");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: the build node `far`")
            && stderr.contains("Permission denied (publickey)")
            && stderr.contains("hint: the host took none of the keys offered"),
        "{stderr}"
    );
    assert_eq!(before, Fleet::digest(&image), "the tag did not move");
    fleet.ssh.client_config("client_key");

    // The remote daemon goes away: the build names its node, and the tag stays.
    fleet.bed.run(
        "docker",
        &[
            "rm",
            "-f",
            "-v",
            &format!("multiarch-tls-buildkit-{}", fleet.bed.run_id),
        ],
    );
    let (code, stdout, stderr) = fleet.build_dist(&image, "linux/amd64,linux/arm/v7");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: the build node `tls` (buildx://{}) does not answer\n  caused by: Connection refused",
            fleet.remote_builder
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: does buildx reach it? `docker buildx inspect --bootstrap {}`",
            fleet.remote_builder
        )),
        "{stderr}"
    );
    assert_eq!(before, Fleet::digest(&image), "the tag did not move");
    let (code, _, stderr) = fleet.cli(&["builder", "rm", "fleet"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, listed, _) = fleet.stores.buildx(&["ls"]);
    assert!(
        listed.contains(&fleet.container_builder),
        "the kit's builder goes, buildx's builders stay: {listed}"
    );
}

#[engine_test]
async fn a_buildx_builder_lost_mid_build_is_named_and_the_tag_stays() {
    let mut fleet = Fleet::up().await;
    fleet.create(&[
        "here=unix:///var/run/docker.sock".into(),
        fleet.container_node("linux/arm64"),
    ]);
    let image = format!("{}/fleet-lost:{}", fleet.registry, fleet.bed.run_id);
    let (code, stdout, stderr) = fleet.build_dist(&image, "linux/amd64,linux/arm64");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let before = Fleet::digest(&image);

    let slow = common::slow_on_arm64(&mut fleet.bed, &fleet.registry);
    let container = format!("buildx_buildkit_{}0", fleet.container_builder);
    let env = fleet.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stderr) = common::build_cut_off(slow.path(), "fleet", &image, &env, "[ctr]", || {
        fleet.bed.run("docker", &["rm", "-f", "-v", &container]);
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: the build node `ctr` failed building linux/arm64"),
        "the error names the node and the platform: {stderr}"
    );
    assert!(stderr.contains("hint: the tag was not moved"), "{stderr}");
    assert_eq!(before, Fleet::digest(&image), "the tag did not move");
    let (code, _, stderr) = fleet.cli(&["builder", "rm", "fleet"]);
    assert_eq!(code, 0, "{stderr}");
}

#[engine_test]
async fn a_buildx_builder_of_two_nodes_builds_each_platform_on_the_node_buildx_picks() {
    let mut fleet = Fleet::up().await;
    // One buildx builder, two BuildKit containers, each pinned to a platform, as a
    // kubernetes builder has a pod per architecture. Their endpoints must differ for
    // buildx; /run is /var/run here.
    let duo = format!("duo-{}", fleet.bed.run_id);
    let (first, second) = (format!("{duo}-a"), format!("{duo}-b"));
    for (node, platform, endpoint, append) in [
        (&first, "linux/arm64", "unix:///var/run/docker.sock", false),
        (&second, "linux/arm/v7", "unix:///run/docker.sock", true),
    ] {
        fleet.bed.track_builder(node);
        let node_name = format!("{node}0");
        let mut args = vec![
            "create",
            "--name",
            &duo,
            "--node",
            &node_name,
            "--platform",
            platform,
            "--driver",
            "docker-container",
            "--driver-opt",
            "image=multiarch-testbed/buildkit:debian,network=host",
        ];
        if append {
            args.push("--append");
        }
        args.push(endpoint);
        let (code, _, stderr) = fleet.stores.buildx(&args);
        assert_eq!(code, 0, "{stderr}");
    }
    fleet.create(&[
        "here=unix:///var/run/docker.sock".into(),
        format!("duo=buildx://{duo}"),
    ]);
    let (code, listed, stderr) = fleet.cli(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let row = common::row(&listed.replace("  \\_ ", ""), "duo");
    assert!(
        row.contains("running") && row.contains("linux/arm64*") && row.contains("linux/arm/v7*"),
        "the platforms buildx pins on its nodes are the node's: {listed}"
    );

    let image = format!("{}/fleet-duo:{}", fleet.registry, fleet.bed.run_id);
    let (code, stdout, stderr) = fleet.build_dist(&image, "linux/amd64,linux/arm64,linux/arm/v7");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("linux/arm64 → node `duo` (named for it)")
            && stderr.contains("linux/arm/v7 → node `duo` (named for it)"),
        "{stderr}"
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Each platform was solved on its own node: both hold the build's cache.
    for node in [&first, &second] {
        let container = format!("buildx_buildkit_{node}0");
        let usage = fleet
            .bed
            .run("docker", &["exec", &container, "buildctl", "du"]);
        assert!(
            usage
                .lines()
                .any(|l| l.starts_with("Total:") && l.split_whitespace().nth(1) != Some("0B")),
            "{container} built its platform: {usage}"
        );
    }

    // The same buildx builder, built on by name: a builder of one node, itself.
    let direct = format!("{}/fleet-duo-direct:{}", fleet.registry, fleet.bed.run_id);
    fleet.bed.track_image(&direct);
    let (code, stdout, stderr) = fleet.cli(&common::dist_build_args(
        &duo,
        &direct,
        "linux/arm64,linux/arm/v7",
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = common::multiarch(&["verify", &direct]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, listed, stderr) = fleet.cli(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let row = common::row(&listed, &duo);
    assert!(
        row.contains("docker-container (2 nodes)") && row.contains("running"),
        "{listed}"
    );
    let (code, _, stderr) = fleet.cli(&["builder", "rm", "fleet"]);
    assert_eq!(code, 0, "{stderr}");
}

#[engine_test]
async fn an_ssh_connection_cut_mid_build_is_named_and_the_tag_stays() {
    let mut fleet = Fleet::up().await;
    fleet.create(&[
        "here=unix:///var/run/docker.sock".into(),
        format!("far={},platforms=linux/arm64", fleet.ssh.node()),
    ]);
    let image = format!("{}/fleet-cut:{}", fleet.registry, fleet.bed.run_id);
    let (code, stdout, stderr) = fleet.build_dist(&image, "linux/amd64,linux/arm64");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let before = Fleet::digest(&image);

    let slow = common::slow_on_arm64(&mut fleet.bed, &fleet.registry);
    let env = fleet.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stderr) = common::build_cut_off(slow.path(), "fleet", &image, &env, "[far]", || {
        fleet.ssh.cut_sessions()
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: the build node `far` failed building linux/arm64"),
        "the error names the node and the platform: {stderr}"
    );
    assert!(stderr.contains("hint: the tag was not moved"), "{stderr}");
    assert_eq!(before, Fleet::digest(&image), "the tag did not move");
    let (code, _, stderr) = fleet.cli(&["builder", "rm", "fleet"]);
    assert_eq!(code, 0, "{stderr}");
}
