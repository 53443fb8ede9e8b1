//! Issue #25: `verify --parity` compares the platforms of one index with each other. The
//! arm64 image here has a folder amd64 lacks and a label that names its architecture; the
//! drift is named with the platforms on each side. What must differ (the machine name
//! `uname -m` prints) does not count.

use crate::common;
use crate::common::engine_test;

#[engine_test]
async fn platforms_that_drifted_apart_are_named_and_fail() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let context = tempfile::tempdir().unwrap();
    let root = context.path();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir_all(root.join(arch).join("bin")).unwrap();
        std::fs::copy(common::busybox(arch), root.join(arch).join("bin/busybox")).unwrap();
    }
    std::fs::create_dir_all(root.join("arm64/etc")).unwrap();
    std::fs::write(root.join("arm64/etc/extra.conf"), "only here\n").unwrap();
    std::fs::write(
        root.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/ /\nLABEL built.for=${TARGETARCH}\n\
         ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"uname\", \"-m\"]\n",
    )
    .unwrap();
    let image = format!("{registry}/drifted:{}", bed.run_id);
    common::buildx_push(
        &mut bed,
        &image,
        "linux/amd64,linux/arm64",
        &[],
        root.to_str().unwrap(),
    );

    // Each platform alone holds what the index claims: only comparing them tells.
    let (code, stdout, stderr) = common::multiarch(&["verify", &image, "--static-only"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let (code, stdout, stderr) =
        common::multiarch(&["verify", &image, "--parity", "--exec", "uname -m"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let drift: Vec<&str> = stdout.lines().filter(|l| l.starts_with("DRIFT")).collect();
    assert_eq!(
        drift.len(),
        2,
        "the machine `uname -m` names does not count: {stdout}"
    );
    assert!(
        drift
            .iter()
            .any(|l| l.contains("1 path(s) on linux/arm64 are missing on linux/amd64: /etc")),
        "{stdout}"
    );
    assert!(
        drift.iter().any(|l| l.contains("the labels differ")
            && l.contains("\"amd64\"}` on linux/amd64")
            && l.contains("\"arm64\"}` on linux/arm64")),
        "{stdout}"
    );
    assert!(stderr.contains("drifted apart in 2 way(s)"), "{stderr}");

    let (code, json, _) =
        common::multiarch(&["verify", &image, "--parity", "--static-only", "--json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["passed"], false, "{report}");
    let paths = report["parity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["drift"] == "paths")
        .unwrap_or_else(|| panic!("{report}"));
    // A folder one platform lacks stands for what it holds.
    assert_eq!(paths["paths"], serde_json::json!(["/etc"]), "{paths}");
    assert_eq!(
        paths["missing_on"],
        serde_json::json!(["linux/amd64"]),
        "{paths}"
    );
    bed.assert_no_containers("label=io.github.multiarch.session", "after verify --parity");
}
