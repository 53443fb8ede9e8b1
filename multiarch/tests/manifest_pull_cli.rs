//! Per-architecture tags → `manifest create` → `inspect` → `verify` → `pull` (issue #4),
//! the flow of the Go proxy and Drone demos, against the real engine and registry.

use crate::common;
use crate::common::engine_test;

#[engine_test]
async fn per_arch_tags_become_one_verified_index() {
    // A registry of its own: it lists a repository's tags, which it names as the Drone
    // demo does, not for its run.
    let mut bed = common::testbed().await;
    common::dist(&["amd64", "arm64"]).await;
    let registry = bed.start_registry().await;

    // One single-platform image per architecture, tagged like the Drone demo does.
    let mut sources = Vec::new();
    for arch in ["amd64", "arm64"] {
        let context = tempfile::tempdir().unwrap();
        std::fs::create_dir(context.path().join(arch)).unwrap();
        std::fs::copy(
            common::repo_root().join(format!("dist/{arch}/arch-server")),
            context.path().join(arch).join("arch-server"),
        )
        .unwrap();
        let tag = format!("{registry}/arch-server:linux-{arch}");
        let context = context.path().to_str().unwrap().to_string();
        common::build_and_push(&mut bed, &context, &tag, &format!("linux/{arch}"));
        sources.push(tag);
    }

    // A single-platform image inspects as one row.
    let (code, stdout, stderr) = common::multiarch(&["inspect", &sources[1]]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(
        "inspect_single_platform",
        common::redact(&stdout, &registry)
    );

    // Assembled into another repository: blobs are mounted, the index pushed.
    let target = format!("{registry}/release/arch-server:1.0");
    bed.track_image(&target);
    let (code, stdout, stderr) =
        common::multiarch(&["manifest", "create", &target, &sources[0], &sources[1]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.trim().starts_with("sha256:"), "{stdout}");
    assert!(
        stderr.contains("pushed") && stderr.contains("(2 platforms: linux/amd64, linux/arm64)"),
        "{stderr}"
    );

    let (code, stdout, _) = common::multiarch(&["inspect", &target]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(
        "inspect_assembled_index",
        common::redact(&stdout, &registry)
    );

    let (code, stdout, stderr) = common::multiarch(&["verify", &target]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    insta::assert_snapshot!("verify_assembled_index", stdout);

    // The same platform twice is refused before anything is pushed.
    let twice = format!("{registry}/release/twice:1.0");
    let (code, _, stderr) =
        common::multiarch(&["manifest", "create", &twice, &sources[1], &sources[1]]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("are both linux/arm64; an index holds one image per platform")
            && !stderr.contains("registry answered"),
        "the user's mistake, not blamed on the registry: {stderr}"
    );
    let (code, _, _) = common::multiarch(&["inspect", &twice]);
    assert_eq!(code, 1, "nothing was pushed for a refused index");

    // Pull each platform; one the image lacks is refused before any pull.
    let (code, stdout, stderr) =
        common::multiarch(&["pull", &target, "--platform", "linux/amd64,linux/arm64/v8"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "one digest per platform: {stdout}"
    );
    assert!(
        stderr.contains("pulled linux/amd64") && stderr.contains("pulled linux/arm64"),
        "{stderr}"
    );
    let (code, _, stderr) = common::multiarch(&["pull", &sources[0], "--platform", "linux/arm64"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("has no image for `linux/arm64` (it has: linux/amd64)"),
        "a single-platform amd64 image is not silently run as arm64: {stderr}"
    );

    // Edited in place (issue #17): a platform out, back in with its attestation,
    // annotations on the index and on one descriptor, read back by buildx.
    let names = |image: &str| {
        let (_, json, _) = common::multiarch(&["inspect", image, "--json"]);
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&target),
        [
            "linux/amd64",
            "linux/arm64",
            "attestation for linux/amd64",
            "attestation for linux/arm64"
        ],
        "create keeps the sources' attestations"
    );
    let (code, _, stderr) =
        common::multiarch(&["manifest", "rm", &target, "--platform", "linux/arm64"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        names(&target),
        ["linux/amd64", "attestation for linux/amd64"]
    );
    let (code, _, stderr) =
        common::multiarch(&["manifest", "rm", &target, "--platform", "linux/amd64"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot change")
            && stderr.contains("is the index's last platform")
            && stderr.contains("hint: an image alone needs no index")
            && !stderr.contains("registry answered"),
        "{stderr}"
    );
    let (code, _, stderr) = common::multiarch(&["manifest", "add", &target, &sources[1]]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        names(&target),
        [
            "linux/amd64",
            "attestation for linux/amd64",
            "linux/arm64",
            "attestation for linux/arm64"
        ]
    );
    let (code, _, stderr) = common::multiarch(&[
        "manifest",
        "annotate",
        &target,
        "org.opencontainers.image.description=arch-server for two CPUs",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = common::multiarch(&[
        "manifest",
        "annotate",
        &target,
        "--platform",
        "linux/arm64",
        "io.github.multiarch.note=built on the host",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let raw = bed.run(
        "docker",
        &["buildx", "imagetools", "inspect", "--raw", &target],
    );
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["annotations"]["org.opencontainers.image.description"],
        "arch-server for two CPUs"
    );
    let arm = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap();
    assert_eq!(
        arm["annotations"]["io.github.multiarch.note"],
        "built on the host"
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &target]);
    assert_eq!(
        code, 0,
        "an edited index still holds what it claims: {stdout}\n{stderr}"
    );
    // crane and oras read the added-to and annotated index too (issue #26).
    let edited = multiarch::registry::sha256_digest(raw.trim_end().as_bytes());
    assert_eq!(
        common::read_back_with_crane_and_oras(&bed, &target, &edited),
        2
    );

    // Tags, one per request, as the distribution API pages them.
    let (code, stdout, stderr) = common::multiarch(&[
        "tags",
        &format!("{registry}/arch-server"),
        "--page-size",
        "1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["linux-amd64", "linux-arm64"]
    );
}
