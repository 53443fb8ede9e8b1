//! Build nodes the tests stand up: a second engine beside the test bed's, and a build cut
//! off in the middle by a test that stops its node.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{TestBed, free_port, repo_root, test_env};

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
