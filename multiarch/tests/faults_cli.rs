//! Faults on the real test bed (issue #6): the registry killed in the middle of a push,
//! and the registry restarted between a push and a pull.

use crate::common;
use crate::common::engine_test;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `multiarch registry -f FILE ARGS`.
fn registry(file: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["registry", "-f", file.to_str().unwrap()];
    all.extend_from_slice(args);
    common::multiarch(&all)
}

/// The host-built binaries, and a registry of this run started from its own compose file
/// (a fixed port, so that it comes back where it was). Returns the port and the file.
async fn registry_of_this_run(bed: &common::TestBed) -> (u16, tempfile::NamedTempFile) {
    common::dist(&["amd64", "arm64"]).await;
    let port = common::free_port();
    let file = common::registry_file(bed, port);
    let (code, _, stderr) = registry(file.path(), &["up"]);
    assert_eq!(code, 0, "{stderr}");
    (port, file)
}

#[engine_test]
async fn a_push_cut_by_a_dying_registry_fails_clearly_and_the_same_command_then_completes() {
    let mut bed = common::testbed().await;
    let (port, file) = registry_of_this_run(&bed).await;
    let container = format!("multiarch-registry-test-{}", bed.run_id);
    let context = tempfile::tempdir().unwrap();
    common::heavy_context(context.path(), 64);
    let image = format!("localhost:{port}/cut:{}", bed.run_id);
    bed.track_image(&image);
    let build = [
        "build",
        context.path().to_str().unwrap(),
        "-t",
        &image,
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        "--plain",
    ];

    // Kill the registry as soon as it has accepted the start of a blob upload.
    let mut logs = Command::new("docker")
        .args(["logs", "-f", "--since", "0s", &container])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log_lines = BufReader::new(logs.stderr.take().unwrap());
    let (killed, (code, stdout, stderr)) = std::thread::scope(|scope| {
        let push = scope.spawn(|| common::multiarch(&build));
        let mut killed = false;
        for line in log_lines.lines() {
            if line.unwrap().contains("/blobs/uploads/") {
                bed.run("docker", &["kill", &container]);
                killed = true;
                break;
            }
        }
        let _ = logs.kill();
        let _ = logs.wait();
        (killed, push.join().unwrap())
    });
    assert!(killed, "the registry never saw an upload");
    assert_ne!(
        code, 0,
        "a push into a dead registry reported success:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("error: the push of `{image}` did not complete")),
        "the error does not say what failed:\n{stderr}"
    );
    assert!(
        stderr.contains("hint: once the registry answers again"),
        "{stderr}"
    );
    assert!(!stdout.contains("pushed"), "{stdout}");

    // The registry comes back with what it had; the same command completes the index.
    let (code, _, stderr) = registry(file.path(), &["up"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = common::multiarch(&build);
    assert_eq!(code, 0, "the second push failed:\n{stdout}\n{stderr}");
    let (code, stdout, stderr) = common::multiarch(&["inspect", "--json", &image]);
    assert_eq!(code, 0, "{stderr}");
    let facts: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let platforms: Vec<&str> = facts["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "image")
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        platforms.contains(&"linux/amd64") && platforms.contains(&"linux/arm64"),
        "{stdout}"
    );
    // Every layer of every platform is there: verify reads the entry point out of them.
    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[engine_test]
async fn a_registry_restarted_between_push_and_pull_still_serves_the_image() {
    let mut bed = common::testbed().await;
    let (port, file) = registry_of_this_run(&bed).await;
    let image = format!("localhost:{port}/restarted:{}", bed.run_id);
    common::build_and_push(&mut bed, "dist", &image, "linux/amd64,linux/arm64");

    let (code, _, stderr) = registry(file.path(), &["down"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = registry(file.path(), &["up"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) =
        common::multiarch(&["pull", "--platform", "linux/amd64,linux/arm64", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("pulled linux/arm64: sha256:"), "{stderr}");
    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}
