//! `ssh://` build nodes (issue #27): a second engine reached as `DOCKER_HOST=ssh://`
//! reaches one, through Debian's OpenSSH: an sshd this test starts on a loopback port,
//! with a host key and a client key it makes, whose only command for that key is
//! `docker system dial-stdio` to the second engine. The kit's ssh gets its keys and
//! known_hosts from a config of the test's own (`MULTIARCH_SSH_COMMAND=ssh -F FILE`).

use crate::common::engine_test;
use crate::common::{self, SecondNode, SshHost, TestBed, Turn};

/// The test bed, a second engine, and an sshd in front of it. Fields drop in order: sshd
/// and the engine go before the test bed hands the next test its turn.
struct Fixture {
    ssh: SshHost,
    _node: SecondNode,
    _certs: tempfile::TempDir,
    state: tempfile::TempDir,
    registry: String,
    bed: TestBed,
}

impl Fixture {
    async fn up() -> Self {
        let bed = common::testbed_taking(Turn::SecondEngines).await;
        common::dist(&["amd64", "arm64"]).await;
        let registry = common::shared_registry().await;
        let (node, certs, _) = SecondNode::with_new_certs(&bed, "mt-ssh");
        let ssh = SshHost::start(&common::ssh_host::node_socket("mt-ssh"));
        Self {
            ssh,
            _node: node,
            _certs: certs,
            state: tempfile::tempdir().unwrap(),
            registry,
            bed,
        }
    }

    /// `multiarch ARGS` with this test's state and its ssh.
    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let ssh = self.ssh.ssh_command();
        common::multiarch_with(
            args,
            &[
                ("MULTIARCH_STATE_DIR", self.state.path().to_str().unwrap()),
                ("MULTIARCH_SSH_COMMAND", &ssh),
            ],
        )
    }

    fn create_far(&self, append: bool) -> (i32, String, String) {
        let node = format!("far={},platforms=linux/arm64", self.ssh.node());
        let mut args = vec!["builder", "create", "--name", "over-ssh"];
        if append {
            args.push("--append");
        }
        args.extend(["--node", &node]);
        self.cli(&args)
    }
}

#[engine_test]
async fn an_unknown_host_key_is_refused_with_the_fix_and_nothing_is_recorded() {
    let fixture = Fixture::up().await;
    let (code, _, stderr) = fixture.create_far(false);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the engine at `{}` over SSH: Host key verification failed.",
            fixture.ssh.node()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "hint: this machine does not know the host's key, and the kit never accepts one by itself"
        ) && stderr.contains(&format!("ssh-keyscan -p {} 127.0.0.1", fixture.ssh.port)),
        "{stderr}"
    );
    let known = std::fs::read_to_string(fixture.ssh.path("known_hosts")).unwrap_or_default();
    assert!(known.is_empty(), "the host key was not added: {known}");
    let (_, listed, _) = fixture.cli(&["builder", "ls"]);
    assert!(!listed.contains("over-ssh"), "{listed}");
}

#[engine_test]
async fn a_key_the_host_does_not_take_is_refused_with_the_fix() {
    let fixture = Fixture::up().await;
    fixture.ssh.trust_host_key();
    fixture.ssh.client_config("stranger_key");
    let (code, _, stderr) = fixture.create_far(false);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("over SSH: root@127.0.0.1: Permission denied (publickey)."),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the host took none of the keys offered: load yours (`ssh-add KEY`)"),
        "{stderr}"
    );
}

#[engine_test]
async fn an_ssh_node_builds_its_platform_beside_the_engine_node() {
    let mut fixture = Fixture::up().await;
    fixture.ssh.trust_host_key();
    let (code, _, stderr) = fixture.cli(&[
        "builder",
        "create",
        "--name",
        "over-ssh",
        "--node",
        "here=unix:///var/run/docker.sock",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = fixture.create_far(true);
    assert_eq!(code, 0, "{stderr}");
    let (code, listed, stderr) = fixture.cli(&["builder", "ls"]);
    assert_eq!(code, 0, "{stderr}");
    let far = common::row(&listed.replace("  \\_ ", ""), "far");
    assert!(
        far.contains("running") && far.contains("linux/arm64*") && far.contains("ssh://root@"),
        "{listed}"
    );

    let image = format!("{}/over-ssh:{}", fixture.registry, fixture.bed.run_id);
    fixture.bed.track_image(&image);
    let (code, stdout, stderr) = fixture.cli(&common::dist_build_args(
        "over-ssh",
        &image,
        "linux/amd64,linux/arm64",
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("linux/arm64 → node `far` (named for it)")
            && stderr.contains("[far] pushing linux/arm64 by digest"),
        "{stderr}"
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, _, stderr) = fixture.cli(&["builder", "rm", "over-ssh"]);
    assert_eq!(code, 0, "{stderr}");
}
