//! Releases that cannot go half wrong (issue #38): per-platform jobs push by digest into
//! one repository, the merge job runs `manifest create --from-digests --expect --tag`, and
//! the incidents of real releases are refused before any tag moves: a sibling image's
//! digest matched by the same glob (LibreChat), a platform job that never pushed
//! (lmnr-ai), a platform built twice, and a tag write refused half-way (an immutable tag),
//! after which the tags already moved are put back.

use std::path::Path;

use crate::common::fault_proxy::{FaultProxy, Mode};
use crate::common::{self, engine_test};

/// A buildx docker-container builder of the test's own (the engine's `docker` driver
/// cannot push by digest), as `docker/setup-buildx-action` makes one for a platform job.
struct Jobs {
    stores: common::Stores,
    builder: String,
}

impl Jobs {
    fn new(bed: &mut common::TestBed) -> Self {
        let stores = common::Stores::new();
        let builder = format!("rel-{}", bed.run_id);
        bed.track_builder(&builder);
        let (code, _, stderr) = stores.buildx(&[
            "create",
            "--name",
            &builder,
            "--driver",
            "docker-container",
            "--driver-opt",
            "image=multiarch-testbed/buildkit:debian,network=host",
            "--bootstrap",
        ]);
        assert_eq!(code, 0, "{stderr}");
        Self { stores, builder }
    }

    /// A platform job: busybox for `platform`, labelled `release=LABEL` (another label,
    /// another digest), pushed by digest to `repository` as Docker's documented pattern
    /// does; returns the digest.
    fn push_by_digest(&self, repository: &str, platform: &str, label: &str) -> String {
        let context = tempfile::tempdir().unwrap();
        let arch = platform.rsplit('/').next().unwrap();
        std::fs::create_dir_all(context.path().join("bin")).unwrap();
        std::fs::copy(common::busybox(arch), context.path().join("bin/busybox")).unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            format!(
                "FROM scratch\nCOPY bin/ /bin/\nLABEL release={label}\nENTRYPOINT [\"/bin/busybox\"]\n"
            ),
        )
        .unwrap();
        let metadata = context.path().join("metadata.json");
        let output = format!(
            "type=image,name={repository},push-by-digest=true,name-canonical=true,push=true"
        );
        let (code, _, stderr) = self.stores.buildx(&[
            "build",
            "--builder",
            &self.builder,
            "--platform",
            platform,
            "--output",
            &output,
            "--metadata-file",
            metadata.to_str().unwrap(),
            context.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let metadata: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&metadata).unwrap()).unwrap();
        metadata["containerimage.digest"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// The two platform jobs of a release, run: each pushed its platform by digest to a
/// repository of the test's own in the shared registry.
struct Pushed {
    jobs: Jobs,
    registry: String,
    repository: String,
    amd64: String,
    arm64: String,
}

async fn platform_jobs(bed: &mut common::TestBed) -> Pushed {
    let jobs = Jobs::new(bed);
    let registry = common::shared_registry().await;
    let repository = format!("{registry}/rel-{}/app", bed.run_id);
    let amd64 = jobs.push_by_digest(&repository, "linux/amd64", "1");
    let arm64 = jobs.push_by_digest(&repository, "linux/arm64", "1");
    Pushed {
        jobs,
        registry,
        repository,
        amd64,
        arm64,
    }
}

/// A folder of digests as the platform jobs upload them: a file named by each digest's hex.
fn digests_folder(digests: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for digest in digests {
        std::fs::write(dir.path().join(digest.trim_start_matches("sha256:")), "").unwrap();
    }
    dir
}

/// What `reference` names now (`None`: nothing).
fn digest_of(reference: &str) -> Option<String> {
    let (code, json, _) = common::multiarch(&["inspect", reference, "--json"]);
    (code == 0).then(|| {
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    })
}

fn merge(target: &str, folder: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "manifest",
        "create",
        target,
        "--from-digests",
        folder.to_str().unwrap(),
        "--expect",
        "linux/amd64,linux/arm64",
    ];
    args.extend(extra);
    common::multiarch(&args)
}

#[engine_test]
async fn a_release_is_merged_from_its_digests_and_every_tag_names_it() {
    let mut bed = common::testbed().await;
    let Pushed {
        jobs: _jobs,
        registry: _,
        repository,
        amd64,
        arm64,
    } = platform_jobs(&mut bed).await;
    let folder = digests_folder(&[&amd64, &arm64]);
    let (target, latest) = (
        format!("{repository}:1.2.0"),
        format!("{repository}:latest"),
    );
    let (code, stdout, stderr) = merge(&target, folder.path(), &["--tag", &latest]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let digest = stdout.trim();
    assert_eq!(digest_of(&target).as_deref(), Some(digest));
    assert_eq!(digest_of(&latest).as_deref(), Some(digest));
    assert!(
        stderr.contains(&format!("{latest}: new -> {digest} (read back)")),
        "{stderr}"
    );
    // Each platform's own digest is in the index, with what its job attested.
    let (_, inspected, _) = common::multiarch(&["inspect", &target]);
    assert!(
        inspected.contains("linux/amd64") && inspected.contains("linux/arm64"),
        "{inspected}"
    );
    assert!(
        inspected.contains("attestation for linux/arm64"),
        "{inspected}"
    );
    // verify --tags: the release's tags agree.
    let (code, _, stderr) =
        common::multiarch(&["verify", "--static-only", &target, "--tags", "latest"]);
    assert_eq!(code, 0, "{stderr}");
}

#[engine_test]
async fn a_sibling_image_a_missing_platform_and_a_twice_built_one_are_refused_and_no_tag_moves() {
    let mut bed = common::testbed().await;
    let Pushed {
        jobs,
        registry,
        repository,
        amd64,
        arm64,
    } = platform_jobs(&mut bed).await;
    let sibling = format!("{registry}/rel-{}/app-api", bed.run_id);
    let target = format!("{repository}:1.0.0");
    let (code, _, stderr) = merge(&target, digests_folder(&[&amd64, &arm64]).path(), &[]);
    assert_eq!(code, 0, "the release before: {stderr}");
    let before = digest_of(&target);

    // LibreChat#15444: `lc-dev*` also matched the API image's digests.
    let api = jobs.push_by_digest(&sibling, "linux/amd64", "api");
    let (code, _, stderr) = merge(&target, digests_folder(&[&amd64, &arm64, &api]).path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{api} is not in `{repository}`")),
        "the stranger is named: {stderr}"
    );
    assert!(
        stderr.contains("hint: the digests folder holds another image's digest"),
        "{stderr}"
    );

    // lmnr-ai#2216: the arm64 job failed, and `if: always()` ran the merge anyway.
    let (code, _, stderr) = merge(&target, digests_folder(&[&amd64]).path(), &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "no digest is linux/arm64, which `--expect` names (the digests are: linux/amd64)"
        ),
        "{stderr}"
    );

    // One platform built twice (two runners picked up the same job).
    let twice = jobs.push_by_digest(&repository, "linux/amd64", "again");
    let (code, _, stderr) = merge(
        &target,
        digests_folder(&[&amd64, &twice, &arm64]).path(),
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("are both linux/amd64: one digest per platform"),
        "{stderr}"
    );
    assert_eq!(digest_of(&target), before, "no refused merge moved the tag");
}

#[engine_test]
async fn a_tag_write_refused_half_way_puts_back_every_tag_already_moved() {
    let mut bed = common::testbed().await;
    let Pushed {
        jobs,
        registry,
        repository,
        amd64,
        arm64,
    } = platform_jobs(&mut bed).await;
    let name = format!("rel-{}/app", bed.run_id);
    let folder = digests_folder(&[&amd64, &arm64]);
    // Release 1.0 first, so that `stable` names something to put back.
    let old = format!("{repository}:1.0.0");
    let (code, _, stderr) = merge(
        &old,
        folder.path(),
        &["--tag", &format!("{repository}:stable")],
    );
    assert_eq!(code, 0, "{stderr}");
    let stable_before = digest_of(&format!("{repository}:stable")).unwrap();

    // 2.0 is a new index (another label on the amd64 image): 2.0.0 and stable move, then
    // `latest` is refused as an immutable tag is.
    let rebuilt = jobs.push_by_digest(&repository, "linux/amd64", "2");
    let upstream = registry.replace("localhost", "127.0.0.1");
    let proxy = FaultProxy::start(
        &upstream,
        Mode::RefusePut(format!("{name}/manifests/latest")),
    )
    .await;
    let through = |tag: &str| format!("{}/{name}:{tag}", proxy.address);
    let (code, stdout, stderr) = merge(
        &through("2.0.0"),
        digests_folder(&[&rebuilt, &arm64]).path(),
        &[
            "--tag",
            &through("stable"),
            "--tag",
            &through("latest"),
            "--retries",
            "1",
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("{}: the write failed", through("latest"))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}: put back to {stable_before}",
            through("stable")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}: removed again (it was new)", through("2.0.0"))),
        "{stderr}"
    );
    assert!(
        stderr.contains("was not written whole: no tag names its index"),
        "{stderr}"
    );
    assert_eq!(
        digest_of(&format!("{repository}:stable")),
        Some(stable_before)
    );
    assert_eq!(
        digest_of(&format!("{repository}:2.0.0")),
        None,
        "the new tag went"
    );
    assert_eq!(digest_of(&format!("{repository}:latest")), None);
    assert!(digest_of(&old).is_some(), "the release before stays");
}

/// The row of `platform` in the evidence table (the one whose header says BUILT ON), with
/// its numbered details.
fn evidence_row(stdout: &str, platform: &str) -> String {
    let table = &stdout[stdout
        .find("BUILT ON")
        .unwrap_or_else(|| panic!("no evidence table:\n{stdout}"))..];
    common::row(table, platform)
}

/// `cosign ARGS` in `keys` (a key pair of the test's own, no transparency log).
fn cosign(keys: &Path, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new("cosign")
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

fn sign(keys: &Path, image: &str) {
    let (code, text) = cosign(
        keys,
        &[
            "sign",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "-y",
            "--allow-insecure-registry",
            "--allow-http-registry",
            image,
        ],
    );
    assert_eq!(code, 0, "cosign sign {image}: {text}");
}

#[engine_test]
async fn every_platform_must_carry_its_signature_and_provenance_and_says_where_it_was_built() {
    let mut bed = common::testbed().await;
    let Pushed {
        jobs: _jobs,
        registry: _,
        repository,
        amd64,
        arm64,
    } = platform_jobs(&mut bed).await;
    let target = format!("{repository}:3.0.0");
    let (code, _, stderr) = merge(&target, digests_folder(&[&amd64, &arm64]).path(), &[]);
    assert_eq!(code, 0, "{stderr}");

    // Provenance, as buildx attached it to each platform job's push: found per platform,
    // and it says the builder ran on linux/amd64, so arm64 was built on another platform.
    let (code, stdout, stderr) = common::multiarch(&[
        "verify",
        "--static-only",
        &target,
        "--evidence",
        "provenance",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let row = evidence_row(&stdout, "linux/arm64");
    assert!(
        row.contains("found [") && row.contains("linux/amd64 (cross or emulated)"),
        "{row}"
    );
    assert!(
        evidence_row(&stdout, "linux/amd64").contains("linux/amd64 (itself)"),
        "{stdout}"
    );

    // Signed at one platform only (mongodb-kubernetes#1518 verifies each child by hand;
    // podman refuses an index with unsigned children): the other platform is named.
    let keys = tempfile::tempdir().unwrap();
    let (code, text) = cosign(keys.path(), &["generate-key-pair"]);
    assert_eq!(code, 0, "{text}");
    let platform_digest = |arch: &str| {
        let (_, raw, _) = common::multiarch(&["inspect", "--raw", &target]);
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
    };
    sign(
        keys.path(),
        &format!("{repository}@{}", platform_digest("amd64")),
    );
    let key = keys.path().join("cosign.pub");
    let key = key.to_str().unwrap();
    let args = [
        "verify",
        "--static-only",
        &target,
        "--evidence",
        "signature",
        "--key",
        key,
    ];
    let (code, stdout, stderr) = common::multiarch(&args);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        evidence_row(&stdout, "linux/amd64").contains("verified ["),
        "{stdout}"
    );
    assert!(
        evidence_row(&stdout, "linux/arm64").contains("MISSING ["),
        "{stdout}"
    );
    assert!(
        stderr.contains("evidence is missing or does not verify: linux/arm64 signature"),
        "{stderr}"
    );

    // Another key's signature is found and refused.
    let others = tempfile::tempdir().unwrap();
    let (code, text) = cosign(others.path(), &["generate-key-pair"]);
    assert_eq!(code, 0, "{text}");
    sign(
        others.path(),
        &format!("{repository}@{}", platform_digest("arm64")),
    );
    let (code, stdout, _) = common::multiarch(&args);
    assert_eq!(code, 1);
    assert!(
        evidence_row(&stdout, "linux/arm64").contains("INVALID ["),
        "{stdout}"
    );
    sign(
        keys.path(),
        &format!("{repository}@{}", platform_digest("arm64")),
    );
    let (code, stdout, stderr) = common::multiarch(&args);
    assert_eq!(
        code, 0,
        "both platforms signed with the key:\n{stdout}\n{stderr}"
    );
}

/// The platforms and digests an index lists, attestations left out.
fn platform_digests(reference: &str) -> Vec<(String, String)> {
    let (code, json, stderr) = common::multiarch(&["inspect", reference, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut listed: Vec<(String, String)> = value["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("an index: {value}"))
        .iter()
        .filter_map(|m| {
            Some((
                m["platform"].as_str()?.to_string(),
                m["digest"].as_str()?.to_string(),
            ))
        })
        .collect();
    listed.sort();
    listed
}

#[engine_test]
async fn attestations_moved_to_referrers_keep_every_platform_and_its_provenance() {
    let mut bed = common::testbed().await;
    let Pushed {
        jobs: _jobs,
        registry: _,
        repository,
        amd64,
        arm64,
    } = platform_jobs(&mut bed).await;
    let target = format!("{repository}:4.0.0");
    let (code, _, stderr) = merge(&target, digests_folder(&[&amd64, &arm64]).path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let (_, inspected, _) = common::multiarch(&["inspect", &target]);
    assert!(
        inspected.contains("attestation for linux/arm64"),
        "{inspected}"
    );
    let platforms = platform_digests(&target);

    let (code, stdout, stderr) = common::multiarch(&["manifest", "referrers", &target, "--json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let referred: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let moved = referred["moved"].as_array().unwrap();
    assert_eq!(moved.len(), 2, "one attestation per platform: {referred}");
    for m in moved {
        // registry:2 (distribution 2.8) has no referrers API: the tag schema it is.
        assert_eq!(m["found_through"], "tag-schema", "{m}");
        assert_ne!(m["before"], m["after"], "a subject changes the bytes: {m}");
    }

    // The index holds the platforms alone now, each with the digest it had.
    let (_, inspected, _) = common::multiarch(&["inspect", &target]);
    assert!(!inspected.contains("attestation"), "{inspected}");
    assert_eq!(platform_digests(&target), platforms);

    // Each platform's provenance is still found, now as a referrer, with where it was built.
    let (code, stdout, stderr) = common::multiarch(&[
        "verify",
        "--static-only",
        &target,
        "--evidence",
        "provenance",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for platform in ["linux/amd64", "linux/arm64"] {
        let row = evidence_row(&stdout, platform);
        assert!(row.contains("found ["), "{platform}: {stdout}");
        assert!(
            stdout.contains(&format!("{platform}: the referrer ")),
            "{stdout}"
        );
    }
    assert!(
        evidence_row(&stdout, "linux/arm64").contains("linux/amd64 (cross or emulated)"),
        "{stdout}"
    );

    // oras, the referrers tool, sees each one through the tag schema too.
    let arm64_image = platforms
        .iter()
        .find(|(p, _)| p == "linux/arm64")
        .map(|(_, d)| format!("{repository}@{d}"))
        .unwrap();
    let (code, discovered, stderr) = common::output(
        std::process::Command::new("oras")
            .args(["discover", "--plain-http", "--format", "json"])
            .args(["--distribution-spec", "v1.1-referrers-tag"])
            .arg(&arm64_image),
    );
    assert_eq!(code, 0, "oras discover: {stderr}");
    assert!(
        discovered.contains("application/vnd.docker.attestation.manifest.v1+json"),
        "{discovered}"
    );

    // Nothing left to move: said, and the tag stays.
    let before = digest_of(&target);
    let (code, _, stderr) = common::multiarch(&["manifest", "referrers", &target]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("nothing moved"), "{stderr}");
    assert_eq!(digest_of(&target), before);
}
