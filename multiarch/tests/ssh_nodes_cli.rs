//! `ssh://` build nodes (issue #27): a second engine reached as `DOCKER_HOST=ssh://`
//! reaches one, through Debian's OpenSSH: an sshd this test starts on a loopback port,
//! with a host key and a client key it makes, whose only command for that key is
//! `docker system dial-stdio` to the second engine. The kit's ssh gets its keys and
//! known_hosts from a config of the test's own (`MULTIARCH_SSH_COMMAND=ssh -F FILE`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{self, SecondNode, TestBed};

/// Where `scripts/build-node.sh` keeps a node's socket.
const NODES_DIR: &str = "/var/lib/multiarch-testbed/nodes";

/// An sshd on `127.0.0.1:port` in front of the second engine, and the client side's
/// files: a key the host takes, a key it does not, and a known_hosts to fill.
struct SshHost {
    sshd: Child,
    port: u16,
    /// Made by this test, removed on drop when it was not there before.
    privsep: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl SshHost {
    fn start(node_socket: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        for key in ["host_key", "client_key", "stranger_key"] {
            keygen(&path(key));
        }
        let client = std::fs::read_to_string(path("client_key.pub")).unwrap();
        std::fs::write(
            path("authorized_keys"),
            format!(
                "command=\"DOCKER_HOST=unix://{} docker system dial-stdio\",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding {client}",
                node_socket.display()
            ),
        )
        .unwrap();
        let port = common::free_port();
        std::fs::write(
            path("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {keys}\n\
                 PidFile {pid}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
                host = path("host_key").display(),
                keys = path("authorized_keys").display(),
                pid = path("sshd.pid").display(),
            ),
        )
        .unwrap();
        // sshd wants its privilege-separation folder, which Debian's service makes.
        let run = PathBuf::from("/run/sshd");
        let privsep = (!run.exists()).then(|| {
            std::fs::create_dir_all(&run).unwrap();
            run
        });
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(path("sshd.log")).unwrap())
            .spawn()
            .expect("/usr/sbin/sshd (scripts/testbed.sh up installs openssh-server)");
        let mut host = Self {
            sshd,
            port,
            privsep,
            dir,
        };
        host.wait_listening();
        host.client_config("client_key");
        host
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn wait_listening(&mut self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.sshd.try_wait() {
                panic!(
                    "sshd ended ({status}): {}",
                    std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd does not listen on 127.0.0.1:{}", self.port);
    }

    /// The client's config: this key, this test's known_hosts and no other.
    fn client_config(&self, key: &str) {
        std::fs::write(
            self.path("ssh_config"),
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n",
                self.path(key).display(),
                self.path("known_hosts").display()
            ),
        )
        .unwrap();
    }

    /// known_hosts gets the host's real key, as `ssh-keyscan` after a fingerprint check.
    fn trust_host_key(&self) {
        let key = std::fs::read_to_string(self.path("host_key.pub")).unwrap();
        let mut words = key.split_whitespace();
        let (kind, body) = (words.next().unwrap(), words.next().unwrap());
        std::fs::write(
            self.path("known_hosts"),
            format!("[127.0.0.1]:{} {kind} {body}\n", self.port),
        )
        .unwrap();
    }

    fn node(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
    }

    fn ssh_command(&self) -> String {
        format!("ssh -F {}", self.path("ssh_config").display())
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        if let Some(dir) = &self.privsep {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "multiarch-test",
            "-f",
        ])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(status.success(), "ssh-keygen {}", path.display());
}

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
        let (bed, registry) = common::testbed_with_registry().await;
        let (node, certs, _) = SecondNode::with_new_certs(&bed, "mt-ssh");
        let ssh = SshHost::start(&Path::new(NODES_DIR).join("mt-ssh").join("docker.sock"));
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

#[ignore = "needs Docker: `scripts/test.sh` brings the engine up and runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[ignore = "needs Docker: `scripts/test.sh` brings the engine up and runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[ignore = "needs Docker: `scripts/test.sh` brings the engine up and runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let (code, stdout, stderr) = fixture.cli(&[
        "build",
        "--builder",
        "over-ssh",
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
        stderr.contains("linux/arm64 → node `far` (named for it)")
            && stderr.contains("[far] pushing linux/arm64 by digest"),
        "{stderr}"
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, _, stderr) = fixture.cli(&["builder", "rm", "over-ssh"]);
    assert_eq!(code, 0, "{stderr}");
}
