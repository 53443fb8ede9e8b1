//! Ctrl-C in the middle of `verify`, `demo`, `build` and `pull` (issue #6): afterwards no container with
//! the kit's label is left, and the exit code says it was interrupted.

use crate::common;
use crate::common::engine_test;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts `multiarch ARGS`, waits for a stderr line containing `when`, then `after`,
/// sends SIGINT, and returns the exit code and everything it printed on stderr.
pub(crate) fn interrupt(
    args: &[&str],
    env: &[(&str, &str)],
    when: &str,
    after: Duration,
) -> (Option<i32>, String) {
    signal(args, env, when, after, "-INT")
}

/// As [`interrupt`], with another signal (`-TERM`).
fn signal(
    args: &[&str],
    env: &[(&str, &str)],
    when: &str,
    after: Duration,
    signal: &str,
) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .args(args)
        .envs(common::test_env(env))
        .current_dir(common::repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(when) {
            break;
        }
    }
    // Let it start what it starts at that step, then interrupt.
    std::thread::sleep(after);
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(!seen.contains("panicked"), "{seen}");
    (status.code(), seen)
}

#[engine_test]
async fn ctrl_c_leaves_no_container_behind() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let image = format!("{registry}/interrupted:{}", bed.run_id);
    common::build_and_push(&mut bed, "dist", &image, "linux/amd64,linux/arm64");

    let (code, stderr) = interrupt(
        &["verify", &image],
        &[],
        "checking linux/arm64",
        Duration::from_millis(300),
    );
    assert_ne!(code, Some(0), "{stderr}");
    bed.assert_no_containers(
        "label=io.github.multiarch.session",
        &format!("after Ctrl-C in verify\n{stderr}"),
    );

    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_string();
    let port = common::free_port();
    let file = common::registry_file(&bed, port);
    // The demo's builder: a BuildKit container when the test bed has the image.
    let builder = common::demo_builder(&bed);
    bed.track_builder(&builder);
    bed.track_image(&format!("localhost:{port}/arch-server:demo"));
    let (code, stderr) = interrupt(
        &[
            "demo",
            "--registry-file",
            file.path().to_str().unwrap(),
            "--binaries",
            "dist",
            "--builder",
            &builder,
        ],
        &[("MULTIARCH_STATE_DIR", &state_dir)],
        "==> [6/8]",
        Duration::from_millis(300),
    );
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    bed.assert_no_containers(
        "label=io.github.multiarch.purpose=demo",
        &format!("after Ctrl-C in demo\n{stderr}"),
    );
}

#[engine_test]
async fn ctrl_c_during_build_and_pull_stops_cleanly() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let context = tempfile::tempdir().unwrap();
    common::heavy_context(context.path(), 64);
    let image = format!("{registry}/interrupted-build:{}", bed.run_id);
    // Ctrl-C while BuildKit works: exit 130, nothing pushed, and the next build works.
    build_stopped_by(&mut bed, context.path(), &image, "-INT", 130);
    let (code, _, stderr) = common::multiarch(&[
        "build",
        context.path().to_str().unwrap(),
        "-t",
        &image,
        "--push",
        "--plain",
    ]);
    assert_eq!(
        code, 0,
        "the build after the interrupted one failed:\n{stderr}"
    );

    // Ctrl-C as the pull starts: exit 130, no probe container left. The build left the
    // image's content in the engine, so the pull is quick: interrupt at once.
    let (code, stderr) = interrupt(
        &["pull", "--platform", "linux/amd64,linux/arm64", &image],
        &[],
        "pulling linux/amd64",
        Duration::ZERO,
    );
    assert_eq!(code, Some(130), "{stderr}");
    bed.assert_no_containers(
        "label=io.github.multiarch.session",
        &format!("after Ctrl-C in pull\n{stderr}"),
    );
}

/// Builds `context` (with a named context) as `image` and sends `signal` while BuildKit
/// works: the exit code is `expected`, no named context is left, nothing is pushed.
fn build_stopped_by(
    bed: &mut common::TestBed,
    context: &std::path::Path,
    image: &str,
    signal_name: &str,
    expected: i32,
) {
    bed.track_image(image);
    let extra = tempfile::tempdir().unwrap();
    let named = format!("extra={}", extra.path().display());
    let (code, stderr) = signal(
        &[
            "build",
            context.to_str().unwrap(),
            "-t",
            image,
            "--build-context",
            &named,
            "--push",
            "--plain",
        ],
        &[],
        "#",
        Duration::from_millis(300),
        signal_name,
    );
    assert_eq!(code, Some(expected), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // The kit labels its context images with the test's run (MULTIARCH_LABELS).
    let own = format!("label={}={}", common::RUN_LABEL, bed.run_id);
    let left = bed.run(
        "docker",
        &[
            "images",
            "-q",
            "--filter",
            &own,
            "--filter",
            "reference=localhost:1/multiarch-context/*",
        ],
    );
    assert!(
        left.trim().is_empty(),
        "named contexts left after {signal_name}: {left}\n{stderr}"
    );
    let (code, _, _) = common::multiarch(&["inspect", image]);
    assert_ne!(code, 0, "an interrupted build pushed `{image}`");
}

#[engine_test]
async fn a_terminated_build_cleans_up_as_ctrl_c_does() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let context = tempfile::tempdir().unwrap();
    common::heavy_context(context.path(), 64);
    // What `kill`, `timeout` or a cancelled CI job sends.
    let image = format!("{registry}/terminated-build:{}", bed.run_id);
    build_stopped_by(&mut bed, context.path(), &image, "-TERM", 143);
}
