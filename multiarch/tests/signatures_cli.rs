//! Issue #26: signatures travel. cosign (Debian's, a key the test makes, no transparency
//! log) signs an index and one of its platforms; on the test bed's registry, which has no
//! referrers API, cosign 3 keeps each signature as a referrer under the referrers tag.
//! `copy` of the whole index carries both, so `cosign verify --key` passes at the target;
//! a platform subset keeps the platform's signature and says that the index's cannot
//! follow its new digest.

use crate::common::engine_test;
use std::path::Path;
use std::process::Command;

use crate::common::{self, TestBed};

fn cosign(keys: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new("cosign")
        .args(args)
        .current_dir(keys)
        .env("COSIGN_PASSWORD", "multiarch-test")
        .output()
        .expect("cosign (scripts/testbed.sh up installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

const REGISTRY_FLAGS: [&str; 2] = ["--allow-insecure-registry", "--allow-http-registry"];

fn sign(keys: &Path, image: &str) {
    let mut args = vec![
        "sign",
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--use-signing-config=false",
        "-y",
    ];
    args.extend(REGISTRY_FLAGS);
    args.push(image);
    let (code, text) = cosign(keys, &args);
    assert_eq!(code, 0, "cosign sign {image}: {text}");
}

fn verified(keys: &Path, image: &str) -> (bool, String) {
    let mut args = vec![
        "verify",
        "--key",
        "cosign.pub",
        "--insecure-ignore-tlog=true",
    ];
    args.extend(REGISTRY_FLAGS);
    args.push(image);
    let (code, text) = cosign(keys, &args);
    (code == 0, text)
}

/// The digest of `arch`'s image in the index `image`.
fn platform_digest(image: &str, arch: &str) -> String {
    let (_, raw, _) = common::multiarch(&["inspect", "--raw", image]);
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn repository(image: &str) -> &str {
    image.rsplit_once(':').unwrap().0
}

#[engine_test]
async fn a_copied_index_keeps_its_signatures_and_a_subset_says_what_it_cannot_keep() {
    let (mut bed, registry): (TestBed, String) = common::testbed_with_registry().await;
    let image = format!("{registry}/signed:{}", bed.run_id);
    common::build_and_push(&mut bed, "dist", &image, "linux/amd64,linux/arm64");
    let keys = tempfile::tempdir().unwrap();
    let (code, text) = cosign(keys.path(), &["generate-key-pair"]);
    assert_eq!(code, 0, "{text}");

    let (_, index_digest, _) = common::multiarch(&["inspect", &image, "--json"]);
    let index_digest = serde_json::from_str::<serde_json::Value>(&index_digest).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let amd64 = platform_digest(&image, "amd64");
    sign(
        keys.path(),
        &format!("{}@{index_digest}", repository(&image)),
    );
    sign(keys.path(), &format!("{}@{amd64}", repository(&image)));

    let other = common::shared_registry().await;
    let whole = format!("{other}/signed:{}", bed.run_id);
    let (code, _, stderr) = common::multiarch(&["copy", &image, &whole]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("signatures and attestations came along: 0 cosign tag(s), 2 referrer(s)"),
        "{stderr}"
    );
    for digest in [&index_digest, &amd64] {
        let at_target = format!("{}@{digest}", repository(&whole));
        let (ok, text) = verified(keys.path(), &at_target);
        assert!(ok, "cosign verify {at_target} after the copy: {text}");
    }

    let subset = format!("{other}/signed-amd64:{}", bed.run_id);
    let (code, new_digest, stderr) =
        common::multiarch(&["copy", &image, &subset, "--platform", "linux/amd64"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("note: the source index's signatures name its digest")
            && stderr.contains("each platform's own signatures came along"),
        "{stderr}"
    );
    let (ok, text) = verified(keys.path(), &format!("{}@{amd64}", repository(&subset)));
    assert!(ok, "the platform's signature came along: {text}");
    let (ok, _) = verified(
        keys.path(),
        &format!("{}@{}", repository(&subset), new_digest.trim()),
    );
    assert!(!ok, "the new index was never signed");
}
