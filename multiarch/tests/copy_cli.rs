//! `multiarch copy` (issue #17) between the test bed's plain registries and one with a
//! password and TLS (registry:2 with htpasswd and a certificate this test makes): the
//! index arrives byte for byte, a platform subset is a new index with its attestations,
//! an interrupted copy leaves no tag and finishes when run again, and an unknown CA, a
//! wrong password and a registry that takes no uploads each say what is wrong and leave
//! the target tag alone. Tools we did not write read the results back, and the engine
//! pulls each platform from the secure registry.

use crate::common::engine_test;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common;

const PASSWORD: &str = "pw-Workshop-7";
/// bcrypt of PASSWORD for user `workshop`, as htpasswd writes it.
const HTPASSWD: &str = "workshop:$2b$06$7CUlH/NnD.wv36q0UKHEPu2iOv8xbG.70Hs7tJiV.tNWNnyWQNOWa\n";

/// `/etc/docker/certs.d/HOST:PORT`, removed again on drop.
struct TrustedCa(PathBuf);

impl Drop for TrustedCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Runs registry:2 with `env`, labelled with the run; returns `127.0.0.1:PORT`.
fn registry_container(bed: &common::TestBed, mounts: &[(&Path, &str)], env: &[&str]) -> String {
    let label = format!("{}={}", common::RUN_LABEL, bed.run_id);
    let mut args = vec!["run", "-d", "--label", &label, "-p", "127.0.0.1::5000"];
    let volumes: Vec<String> = mounts
        .iter()
        .map(|(from, to)| format!("{}:{to}:ro", from.display()))
        .collect();
    for volume in &volumes {
        args.extend(["-v", volume]);
    }
    for pair in env {
        args.extend(["-e", pair]);
    }
    args.push("registry:2");
    let id = bed.run("docker", &args);
    let port = bed.run("docker", &["port", id.trim(), "5000/tcp"]);
    format!("127.0.0.1:{}", port.trim().rsplit(':').next().unwrap())
}

#[engine_test]
async fn copies_are_whole_or_clean_subsets_and_failures_move_no_tag() {
    let (mut bed, plain) = common::testbed_with_registry().await;
    // The source: two platforms with 48 MiB of random bytes each, and attestations.
    let context = tempfile::tempdir().unwrap();
    common::heavy_context(context.path(), 48);
    let source = format!("{plain}/heavy:{}", bed.run_id);
    common::buildx_push(
        &mut bed,
        &source,
        "linux/amd64,linux/arm64",
        &[],
        context.path().to_str().unwrap(),
    );
    let (_, inspected, _) = common::multiarch(&["inspect", &source, "--json"]);
    let source_digest = json(&inspected)["digest"].as_str().unwrap().to_string();

    // The secure registry: TLS with a CA of this test, and a password.
    let secrets = tempfile::tempdir().unwrap();
    let certs = secrets.path().join("certs");
    bed.run("scripts/build-node.sh", &["certs", certs.to_str().unwrap()]);
    std::fs::create_dir(secrets.path().join("auth")).unwrap();
    std::fs::write(secrets.path().join("auth/htpasswd"), HTPASSWD).unwrap();
    let secure = registry_container(
        &bed,
        &[(&certs, "/certs"), (&secrets.path().join("auth"), "/auth")],
        &[
            "REGISTRY_AUTH=htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM=workshop",
            "REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
            "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server-cert.pem",
            "REGISTRY_HTTP_TLS_KEY=/certs/server-key.pem",
        ],
    )
    .replace("127.0.0.1", "localhost");
    bed.track_registry_alias(&secure);
    let docker_config = tempfile::tempdir().unwrap();
    let login = |password: &str| {
        let auth = common::base64(&format!("workshop:{password}"));
        std::fs::write(
            docker_config.path().join("config.json"),
            format!(r#"{{"auths":{{"{secure}":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
    };
    let config_dir = docker_config.path().to_str().unwrap().to_string();
    let cli = |args: &[&str]| common::multiarch_with(args, &[("DOCKER_CONFIG", &config_dir)]);
    let target = format!("{secure}/heavy:{}", bed.run_id);
    login(PASSWORD);

    // A CA nobody trusts yet: the error names the certificate and Docker's fix.
    let (code, _, stderr) = cli(&["copy", &source, &target]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("the certificate of `{secure}` is not trusted")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("/etc/docker/certs.d/{secure}/ca.crt")),
        "{stderr}"
    );
    let trusted = TrustedCa(PathBuf::from("/etc/docker/certs.d").join(&secure));
    std::fs::create_dir_all(&trusted.0).unwrap();
    std::fs::copy(certs.join("ca.pem"), trusted.0.join("ca.crt")).unwrap();

    // A wrong password: a clear 401, the registry named in the hint.
    login("not-the-password");
    let (code, _, stderr) = cli(&["copy", &source, &target]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("(401)") && stderr.contains(&format!("docker login {secure}")),
        "{stderr}"
    );
    login(PASSWORD);
    let (code, _, _) = cli(&["inspect", &target]);
    assert_eq!(code, 1, "no tag was made by the failed copies");

    // Whole: the same digest, read back by skopeo, pulled and verified at the target.
    let (code, stdout, stderr) = cli(&["copy", &source, &target, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report = json(&stdout);
    assert_eq!(report["target_digest"], source_digest.as_str(), "{stdout}");
    assert_eq!(report["digest_changed"], false);
    assert!(report["manifests"].as_u64().unwrap() >= 2, "{stdout}");
    let raw = bed.run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--creds",
            &format!("workshop:{PASSWORD}"),
            "--cert-dir",
            trusted.0.to_str().unwrap(),
            &format!("docker://{target}"),
        ],
    );
    assert_eq!(
        multiarch::registry::sha256_digest(raw.as_bytes()),
        source_digest,
        "skopeo reads the index byte for byte"
    );
    // The engine pulls and runs each platform from the secure registry (certs.d, the
    // stored password), and each answers as its platform.
    let (code, stdout, stderr) = cli(&["verify", &target]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = cli(&["pull", &target, "--platform", "linux/amd64,linux/arm64"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");

    // And back, to another repository of the plain registry: the same digest again,
    // which buildx reads too.
    let back = format!("{plain}/back:{}", bed.run_id);
    let (code, stdout, stderr) = cli(&["copy", &target, &back, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json(&stdout)["target_digest"], source_digest.as_str());
    let imagetools = bed.run(
        "docker",
        &["buildx", "imagetools", "inspect", &back, "--raw"],
    );
    assert_eq!(
        multiarch::registry::sha256_digest(imagetools.as_bytes()),
        source_digest
    );

    // A subset: arm64 and its attestation, a new index, said so.
    let subset = format!("{plain}/subset:{}", bed.run_id);
    let (code, stdout, stderr) = cli(&["copy", &source, &subset, "--platform", "linux/arm64"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("the digest changed"), "{stderr}");
    assert!(
        stderr.contains("mounted"),
        "same registry: blobs are mounted, not sent: {stderr}"
    );
    let (_, inspected, _) = common::multiarch(&["inspect", &subset, "--json"]);
    let names: Vec<String> = json(&inspected)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["linux/arm64", "attestation for linux/arm64"],
        "only arm64 and what describes it"
    );
    assert_ne!(stdout.trim(), source_digest);

    // Interrupted after its first large blob: no tag; run again, it sends only the rest.
    let other = bed.start_registry().await;
    let interrupted = format!("{other}/heavy:{}", bed.run_id);
    let mut child = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .args(["copy", &source, &interrupted])
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    for line in std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("MiB sent") {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    let (code, _, _) = common::multiarch(&["inspect", &interrupted]);
    assert_eq!(code, 1, "an interrupted copy moves no tag");
    let (code, stdout, stderr) = common::multiarch(&["copy", &source, &interrupted, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report = json(&stdout);
    assert_eq!(report["target_digest"], source_digest.as_str());
    assert!(
        report["blobs_present"].as_u64().unwrap() >= 1,
        "what arrived is not sent again: {stdout}"
    );
    assert!(
        report["bytes_sent"].as_u64().unwrap() < 60 << 20,
        "one payload of 48 MiB is left to send, not two: {stdout}"
    );

    // A registry that takes no uploads: a clear error, and its tag (none) untouched.
    let read_only = registry_container(
        &bed,
        &[],
        &[r#"REGISTRY_STORAGE_MAINTENANCE_READONLY={"enabled":true}"#],
    );
    let refused = format!("{read_only}/heavy:{}", bed.run_id);
    let (code, _, stderr) = common::multiarch(&["copy", &source, &refused]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("answered HTTP 405") && stderr.contains("takes no uploads"),
        "{stderr}"
    );
    let (code, _, _) = common::multiarch(&["inspect", &refused]);
    assert_eq!(code, 1, "no tag at a registry that refused the blobs");
}

/// Issue #26: `copy --single` writes one platform's image manifest alone under the tag,
/// as AWS Lambda and other single-manifest consumers take it; skopeo reads it back as an
/// image, and verify proves it.
#[engine_test]
async fn a_single_platform_copy_is_an_image_not_an_index() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let source = format!("{registry}/single:{}", bed.run_id);
    let (code, _, stderr) = common::push_dist(&mut bed, &source, "linux/amd64,linux/arm64");
    assert_eq!(code, 0, "{stderr}");
    let (_, inspected, _) = common::multiarch(&["inspect", &source, "--json"]);
    let arm64_digest = json(&inspected)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "linux/arm64")
        .map(|e| e["digest"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{inspected}"));

    let target = format!("{registry}/lambda:{}", bed.run_id);
    bed.track_image(&target);
    let (code, digest, stderr) =
        common::multiarch(&["copy", &source, &target, "--single", "linux/arm64"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(digest.trim(), arm64_digest, "the platform's own digest");
    assert!(
        stderr.contains("image manifest alone (no index)"),
        "{stderr}"
    );

    let (code, raw, stderr) = common::output(std::process::Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]));
    assert_eq!(code, 0, "{stderr}");
    let raw = json(&raw);
    assert!(raw.get("manifests").is_none(), "not an index: {raw}");
    assert!(raw["layers"].is_array(), "an image manifest: {raw}");
    let (code, stdout, stderr) = common::multiarch(&["verify", &target]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("linux/arm64  PASS"), "{stdout}");
    // --single and --platform are one choice or the other.
    let (code, _, stderr) = common::multiarch(&[
        "copy",
        &source,
        &target,
        "--single",
        "linux/arm64",
        "--platform",
        "linux/amd64",
    ]);
    assert_eq!(code, 2, "{stderr}");
}
