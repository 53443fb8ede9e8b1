//! A BuildKit daemon behind TLS with client certificates, as a remote builder's daemon.

use std::path::{Path, PathBuf};

/// Starts the test bed's BuildKit on `127.0.0.1:port` behind TLS that asks for a client
/// certificate signed by the CA in `certs` (scripts/build-node.sh's layout).
fn start_tls_buildkit(bed: &super::TestBed, name: &str, port: u16, certs: &Path) {
    let mut run = vec![
        "run".to_string(),
        "-d".into(),
        "--privileged".into(),
        "--name".into(),
        name.to_string(),
        "--network".into(),
        "host".into(),
        "-v".into(),
        format!("{}:/certs:ro", certs.display()),
    ];
    for (k, v) in bed.labels() {
        run.push("--label".into());
        run.push(format!("{k}={v}"));
    }
    run.extend([
        "multiarch-testbed/buildkit:debian".into(),
        "--addr".into(),
        format!("tcp://127.0.0.1:{port}"),
        "--tlscacert".into(),
        "/certs/ca.pem".into(),
        "--tlscert".into(),
        "/certs/server-cert.pem".into(),
        "--tlskey".into(),
        "/certs/server-key.pem".into(),
    ]);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    bed.run("docker", &run);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the TLS BuildKit did not listen on {port}");
}

/// A BuildKit daemon behind TLS with client certificates (the test bed's BuildKit
/// image), its CA's files in `certs`, and another CA's client files in `strangers`.
pub struct TlsDaemon {
    _scratch: tempfile::TempDir,
    pub certs: PathBuf,
    pub strangers: PathBuf,
    pub port: u16,
    /// `tcp://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl TlsDaemon {
    pub fn start(bed: &super::TestBed) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let (certs, strangers) = (scratch.path().join("certs"), scratch.path().join("other"));
        for dir in [&certs, &strangers] {
            bed.run("scripts/build-node.sh", &["certs", dir.to_str().unwrap()]);
        }
        let port = super::free_port();
        let daemon = format!("multiarch-tls-buildkit-{}", bed.run_id);
        start_tls_buildkit(bed, &daemon, port, &certs);
        Self {
            _scratch: scratch,
            certs,
            strangers,
            port,
            endpoint: format!("tcp://127.0.0.1:{port}"),
        }
    }

    /// buildx's `--driver-opt` for this daemon's CA and the client identity in `identity`.
    pub fn driver_opts(&self, identity: &Path) -> String {
        format!(
            "cacert={},cert={},key={}",
            self.certs.join("ca.pem").display(),
            identity.join("cert.pem").display(),
            identity.join("key.pem").display()
        )
    }
}
