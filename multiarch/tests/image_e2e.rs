//! The two-platform image, end to end on the real test bed (issue #3): cross-compiled
//! on the host, built from the repository's Dockerfile by buildx with the binaries as
//! the named context, pushed to a real registry, read back over HTTP, pulled and run
//! per platform (arm64 under QEMU), and stopped by its own SIGTERM handler.

use crate::common;
use crate::common::engine_test;

use std::time::Duration;

use multiarch::Platform;
use multiarch::engine;
use multiarch::input::parse_reference;
use multiarch::oci::index::{EntryKind, Manifest, entries};
use multiarch::registry::Registry;

#[engine_test]
async fn the_two_platform_image_runs_and_answers_its_own_architecture() {
    let (mut bed, registry) = common::testbed_with_registry().await;

    // Cross-compiled on the host, then built from the Dockerfile with the host
    // binaries and pushed to a real registry.
    let image = format!("{registry}/arch-server-e2e:{}", bed.run_id);
    common::build_and_push(&mut bed, "dist", &image, "linux/amd64,linux/arm64");

    // 3. The registry's index, over HTTP: one image per platform, attestations as such,
    //    each config saying the architecture its descriptor claims.
    let reference = parse_reference(&image).unwrap();
    let client = Registry::for_reference(&reference, &[]);
    let fetched = client.fetch(&reference).await.unwrap();
    let Manifest::Index(index) = &fetched.manifest else {
        panic!("expected an index for {image}");
    };
    let listed = entries(index);
    let mut platforms = Vec::new();
    for entry in &listed {
        match &entry.kind {
            EntryKind::Image { platform } => {
                let image = client.fetch_image(&reference, &entry.digest).await.unwrap();
                assert_eq!(
                    image.config.architecture().to_string(),
                    platform.architecture()
                );
                assert_eq!(image.config.os().to_string(), platform.os());
                platforms.push(platform.clone());
            }
            EntryKind::Attestation {
                subject_platform, ..
            } => {
                assert!(
                    subject_platform.is_some(),
                    "each attestation describes an image of the index"
                );
            }
            EntryKind::Unknown { platform } => panic!("an unexplained entry `{platform}`"),
        }
    }
    platforms.sort();
    assert_eq!(
        platforms,
        vec![Platform::linux_amd64(), Platform::linux_arm64()]
    );

    // 4. Local copies gone; pull each platform; run it; ask it what it runs on.
    bed.run("docker", &["image", "rm", "-f", &image]);
    for (platform, machine) in [
        (Platform::linux_amd64(), "x86_64"),
        (Platform::linux_arm64(), "aarch64"),
    ] {
        let started = common::run_platform(&bed, &image, &platform.to_string()).await;
        let base = format!("http://127.0.0.1:{}", started.host_port);
        let answer = common::wait_for_http(&format!("{base}/arch")).await;
        let json: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(json["architecture"], machine, "{platform}: {answer}");
        assert_eq!(json["platform"], platform.to_string());
        assert_eq!(json["kernel"], platform.to_string(), "{answer}");
        assert_eq!(json["differs_from_kernel"], false, "{answer}");
        // Issue #24: QEMU 7 user mode shows the arm64 program the host's x86
        // /proc/cpuinfo, so it can tell it is emulated; the native one cannot tell.
        let emulated = if machine == "aarch64" {
            "yes"
        } else {
            "cannot tell"
        };
        assert_eq!(json["emulated"], emulated, "{answer}");
        let (status, page) = common::http_get(&format!("{base}/")).await.unwrap();
        assert_eq!(status, 200);
        assert!(
            page.contains(machine) && page.contains("<html"),
            "{platform} page renders"
        );

        // 5. `docker stop`: its own SIGTERM handler ends it with 0, well before the kill.
        let exit = engine::stop(&bed.docker, &started.id, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(exit, 0, "{platform} exited {exit} on docker stop");
        engine::remove(&bed.docker, &started.id).await;
    }
    // The image has no shell, runs as a non-root user, and works read-only with every
    // capability dropped (issue #6, security).
    let labels = format!("{}={}", common::RUN_LABEL, bed.run_id);
    let id = bed.run(
        "docker",
        &[
            "run",
            "--detach",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--platform",
            "linux/amd64",
            "--publish",
            "127.0.0.1::80",
            "--label",
            &labels,
            &image,
        ],
    );
    let id = id.trim().to_string();
    let port = bed.run("docker", &["port", &id, "80/tcp"]);
    let port = port
        .lines()
        .next()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let answer = common::wait_for_http(&format!("http://127.0.0.1:{port}/arch")).await;
    assert!(answer.contains("x86_64"), "{answer}");
    let user = bed.run("docker", &["inspect", "-f", "{{.Config.User}}", &id]);
    assert_eq!(user.trim(), "65532:65532", "not root");
    let shell = std::process::Command::new("docker")
        .args(["exec", &id, "/bin/sh", "-c", "true"])
        .output()
        .unwrap();
    assert!(!shell.status.success(), "the image has no shell");

    // 6. `bed` removes the registry, its volume and the image when dropped.
}
