//! Issue #25: `verify` as the release gate, for the index as a whole. Indexes made the
//! way broken releases were: two entries of one platform, one image listed under two
//! architectures, a platform lost against the last release, an attestation about nothing
//! here; each fails naming what it found, before any layer is downloaded. A layer of
//! static files shared by two platforms is normal and passes.

use crate::common::engine_test;
use crate::common::{self, TestBed};

/// A manifest as an index entry points at it: `(digest, size, media type)`.
type Child = (String, u64, String);

/// An entry to write: the child, its architecture and variant.
type Listed<'a> = (&'a Child, &'a str, Option<&'a str>);

/// The two-platform image's entries, for amd64 and arm64.
fn children(image: &str) -> Vec<Child> {
    let (code, body, stderr) = common::multiarch(&["inspect", "--raw", image]);
    assert_eq!(code, 0, "{stderr}");
    let index: serde_json::Value = serde_json::from_str(&body).unwrap();
    ["amd64", "arm64"]
        .iter()
        .map(|arch| {
            let entry = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["platform"]["architecture"] == *arch)
                .unwrap_or_else(|| panic!("{arch} in {index}"));
            (
                entry["digest"].as_str().unwrap().to_string(),
                entry["size"].as_u64().unwrap(),
                entry["mediaType"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Pushes an OCI index of `entries` (`(child, architecture, variant)`) as `tag`.
async fn push_index(
    registry: &str,
    repository: &str,
    tag: &str,
    entries: &[Listed<'_>],
    extra: &[serde_json::Value],
) {
    let mut manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|((digest, size, media_type), arch, variant)| {
            let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
            if let Some(variant) = variant {
                platform["variant"] = (*variant).into();
            }
            serde_json::json!({"mediaType": media_type, "digest": digest, "size": size, "platform": platform})
        })
        .collect();
    manifests.extend(extra.iter().cloned());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let response = common::http::client_builder()
        .build()
        .unwrap()
        .put(format!("http://{registry}/v2/{repository}/manifests/{tag}"))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .body(index.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

fn verify(image: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify", image, "--static-only"];
    args.extend_from_slice(extra);
    common::multiarch(&args)
}

/// A broken index stops verify before any platform is checked, saying so.
fn assert_stopped_before_the_platforms(code: i32, stdout: &str, stderr: &str) {
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("no platform was downloaded or run"),
        "{stderr}"
    );
    assert!(!stderr.contains("checking linux/"), "{stderr}");
}

/// The repository's image for amd64 and arm64, whose two platforms share one layer of
/// static files (the same digest on both).
fn image_sharing_a_static_layer(bed: &mut TestBed, registry: &str) -> String {
    let context = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir_all(context.path().join(arch)).unwrap();
        std::fs::copy(
            common::repo_root()
                .join("dist")
                .join(arch)
                .join("arch-server"),
            context.path().join(arch).join("arch-server"),
        )
        .unwrap();
    }
    std::fs::write(
        context.path().join("page.html"),
        "<p>the same on every CPU</p>\n",
    )
    .unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY page.html /srv/page.html\nARG TARGETARCH\n\
         COPY ${TARGETARCH}/arch-server /arch-server\nENTRYPOINT [\"/arch-server\"]\n",
    )
    .unwrap();
    let image = format!("{registry}/gate:shared-{}", bed.run_id);
    common::buildx_push(
        bed,
        &image,
        "linux/amd64,linux/arm64",
        &["--provenance=false"],
        context.path().to_str().unwrap(),
    );
    image
}

#[engine_test]
async fn verify_fails_a_release_whose_index_breaks_its_promises() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let honest = image_sharing_a_static_layer(&mut bed, &registry);

    // Honest, with one shared layer of static files: it passes, against itself too.
    let (code, stdout, stderr) = verify(
        &honest,
        &["--expect", "linux/amd64,linux/arm64", "--against", &honest],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, _) = verify(&honest, &["--json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["index"], serde_json::json!([]), "{json}");

    let kids = children(&honest);
    let (amd64, arm64) = (&kids[0], &kids[1]);

    // Two linux/amd64 entries and no arm64 (the second is the arm64 image, mislabelled).
    let duplicated = format!("{registry}/gate:duplicated-{}", bed.run_id);
    push_index(
        &registry,
        "gate",
        &format!("duplicated-{}", bed.run_id),
        &[(amd64, "amd64", None), (arm64, "amd64", None)],
        &[],
    )
    .await;
    let (code, stdout, stderr) = verify(&duplicated, &[]);
    assert_stopped_before_the_platforms(code, &stdout, &stderr);
    assert!(
        stdout.contains("FAIL  linux/amd64 is listed 2 times"),
        "{stdout}"
    );
    let (code, stdout, _) = verify(&duplicated, &["--expect", "linux/amd64,linux/arm64"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("FAIL  linux/arm64 is missing (`--expect` has it)"),
        "{stdout}"
    );

    // One image listed under two architectures: the same layers, both named.
    let same = format!("{registry}/gate:same-{}", bed.run_id);
    push_index(
        &registry,
        "gate",
        &format!("same-{}", bed.run_id),
        &[(amd64, "amd64", None), (amd64, "arm64", None)],
        &[],
    )
    .await;
    let (code, stdout, stderr) = verify(&same, &[]);
    assert_stopped_before_the_platforms(code, &stdout, &stderr);
    assert!(
        stdout.contains("FAIL  linux/amd64, linux/arm64 hold the very same 2 layer(s)"),
        "{stdout}"
    );
    let (code, stdout, _) = verify(&same, &["--json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["index"][0]["finding"], "same_layers", "{json}");
    assert_eq!(json["passed"], false);

    // The last release had arm/v7; this one lost it.
    let previous = format!("{registry}/gate:previous-{}", bed.run_id);
    push_index(
        &registry,
        "gate",
        &format!("previous-{}", bed.run_id),
        &[
            (amd64, "amd64", None),
            (arm64, "arm64", None),
            (arm64, "arm", Some("v7")),
        ],
        &[],
    )
    .await;
    let (code, stdout, stderr) = verify(&honest, &["--against", &previous]);
    assert_stopped_before_the_platforms(code, &stdout, &stderr);
    assert!(
        stdout.contains(&format!(
            "FAIL  linux/arm/v7 is missing (the last release `{previous}` has it)"
        )),
        "{stdout}"
    );

    // An attestation about a manifest the index does not hold.
    let orphan = format!("{registry}/gate:orphan-{}", bed.run_id);
    let attestation = serde_json::json!({
        "mediaType": amd64.2, "digest": amd64.0, "size": amd64.1,
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {
            "vnd.docker.reference.type": "attestation-manifest",
            "vnd.docker.reference.digest": format!("sha256:{}", "0".repeat(64)),
        },
    });
    push_index(
        &registry,
        "gate",
        &format!("orphan-{}", bed.run_id),
        &[(amd64, "amd64", None), (arm64, "arm64", None)],
        &[attestation],
    )
    .await;
    let (code, stdout, stderr) = verify(&orphan, &[]);
    assert_stopped_before_the_platforms(code, &stdout, &stderr);
    assert!(
        stdout.contains("which this index does not hold"),
        "{stdout}"
    );
}
