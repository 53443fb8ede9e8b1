//! An sshd on a loopback port in front of a second engine, as a remote Docker host:
//! Debian's OpenSSH, with a host key and client keys the test makes, whose only command
//! for the client's key is `docker system dial-stdio` to that engine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where `scripts/build-node.sh` keeps a node's socket.
pub const NODES_DIR: &str = "/var/lib/multiarch-testbed/nodes";

/// An sshd on `127.0.0.1:port` in front of the second engine, and the client side's
/// files: a key the host takes, a key it does not, and a known_hosts to fill.
pub struct SshHost {
    sshd: Child,
    pub port: u16,
    /// Made by this test, removed on drop when it was not there before.
    privsep: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl SshHost {
    pub fn start(node_socket: &Path) -> Self {
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
        let port = super::free_port();
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn wait_listening(&mut self) {
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
    pub fn client_config(&self, key: &str) {
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
    pub fn trust_host_key(&self) {
        let key = std::fs::read_to_string(self.path("host_key.pub")).unwrap();
        let mut words = key.split_whitespace();
        let (kind, body) = (words.next().unwrap(), words.next().unwrap());
        std::fs::write(
            self.path("known_hosts"),
            format!("[127.0.0.1]:{} {kind} {body}\n", self.port),
        )
        .unwrap();
    }

    /// Ends every session the sshd is serving (its children), as a dropped network
    /// link would; it goes on listening.
    pub fn cut_sessions(&self) {
        let status = Command::new("pkill")
            .args(["-P", &self.sshd.id().to_string()])
            .status()
            .expect("pkill (procps)");
        assert!(status.success(), "sshd had sessions to cut");
    }

    pub fn node(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
    }

    pub fn ssh_command(&self) -> String {
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

pub fn keygen(path: &Path) {
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

/// The socket of the second engine `name` (`SecondNode::with_new_certs`).
pub fn node_socket(name: &str) -> PathBuf {
    Path::new(NODES_DIR).join(name).join("docker.sock")
}
