//! Per-architecture tags → `manifest create` → `inspect` → `verify` → `pull` (issue #4),
//! the flow of the Go proxy and Drone demos, against the real engine and registry.

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_arch_tags_become_one_verified_index() {
    let Some((mut bed, registry)) = common::testbed_with_registry().await else {
        return;
    };

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
        stderr.contains("pushed") && stderr.contains("(2 platforms)"),
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
        stderr.contains("are both linux/arm64; an index holds one image per platform"),
        "{stderr}"
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
}
