//! `multiarch audit` (issue #37) against the test bed's registry, through a proxy of the
//! tests that counts what is asked: a fleet of images made here (busybox for two
//! platforms, one that lacks arm64, one whose arm64 slot holds an amd64 program, one
//! whose arm64 program is linked for 4 KiB pages), written in every input kind the audit
//! reads (a Deployment and a CronJob's initContainers, a Dockerfile's `ARG` base, a
//! kubectl `List`, a Helm render on standard input), with a pin of one platform's digest,
//! a YAML that does not parse and a reference that is not one.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::fault_proxy::{FaultProxy, Mode};
use crate::common::{self, engine_test};

/// The fleet's images, pushed once per run: `(registry, run id, the arm64 child of good)`.
async fn fleet() -> (String, String, String) {
    static FLEET: tokio::sync::OnceCell<(String, String, String)> =
        tokio::sync::OnceCell::const_new();
    FLEET
        .get_or_init(|| async {
            let registry = common::shared_registry().await;
            let id = format!("fleet-{}", std::process::id());
            let context = tempfile::tempdir().unwrap();
            let root = context.path();
            let place = |path: &str, from: &Path| {
                let to = root.join(path);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(from, to).unwrap();
            };
            // One context for every image, so the same file is the same layer in each.
            place("good/amd64/bin/busybox", &common::busybox("amd64"));
            place("good/arm64/bin/busybox", &common::busybox("arm64"));
            place("liar/arm64/bin/busybox", &common::busybox("arm64"));
            // Markup in a path in a layer: the page must show it as text.
            place("liar/arm64/usr/bin/<img src=x onerror=alert(1)>", &common::busybox("amd64"));
            let source = root.join("small.c");
            std::fs::write(&source, "#include <stdio.h>\nint main(void) { puts(\"small\"); return 0; }\n").unwrap();
            std::fs::create_dir_all(root.join("small/arm64")).unwrap();
            let linked = Command::new("aarch64-linux-gnu-gcc")
                .args(["-static", "-O1", "-Wl,-z,max-page-size=4096", "-Wl,-z,common-page-size=4096", "-o"])
                .arg(root.join("small/arm64/app"))
                .arg(&source)
                .status()
                .expect("aarch64-linux-gnu-gcc (scripts/testbed.sh up installs it)");
            assert!(linked.success(), "the 4 KiB program did not link");
            place("small/amd64/app", &common::busybox("amd64"));
            let dockerfile = |name: &str, from: &str, entry: &str| {
                let file = root.join(format!("{name}.Dockerfile"));
                std::fs::write(
                    &file,
                    format!("FROM scratch\nARG TARGETARCH\nCOPY {from}/${{TARGETARCH}}/ /\nENTRYPOINT [\"{entry}\"]\n"),
                )
                .unwrap();
                file
            };
            let build = |image: &str, file: &Path, platforms: &str| {
                let status = Command::new("docker")
                    .args(["buildx", "build", "--builder", "default", "--quiet", "--provenance=false"])
                    .args(["--platform", platforms, "--tag", image, "--push", "-f"])
                    .arg(file)
                    .arg(root)
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "docker buildx build {image}");
            };
            let good = dockerfile("good", "good", "/bin/busybox");
            build(&format!("{registry}/{id}/good:1"), &good, "linux/amd64,linux/arm64");
            build(&format!("{registry}/{id}/amd64-only:1"), &good, "linux/amd64");
            // The liar's amd64 slot is good's; its arm64 slot holds an amd64 program too.
            let liar = root.join("liar.Dockerfile");
            std::fs::write(
                &liar,
                "FROM scratch\nARG TARGETARCH\nCOPY good/amd64/ /\nENTRYPOINT [\"/bin/busybox\"]\n",
            )
            .unwrap();
            let liar_arm = dockerfile("liar-arm", "liar", "/bin/busybox");
            build(&format!("{registry}/{id}/liar-amd64:1"), &liar, "linux/amd64");
            build(&format!("{registry}/{id}/liar-arm64:1"), &liar_arm, "linux/arm64");
            let (code, _, stderr) = common::multiarch(&[
                "manifest",
                "create",
                &format!("{registry}/{id}/liar:1"),
                &format!("{registry}/{id}/liar-amd64:1"),
                &format!("{registry}/{id}/liar-arm64:1"),
            ]);
            assert_eq!(code, 0, "{stderr}");
            let small = dockerfile("small", "small", "/app");
            build(&format!("{registry}/{id}/small:1"), &small, "linux/amd64,linux/arm64");
            let (_, json, _) = common::multiarch(&["inspect", &format!("{registry}/{id}/good:1"), "--json"]);
            let json: serde_json::Value = serde_json::from_str(&json).unwrap();
            let arm64 = json["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["platform"] == "linux/arm64")
                .unwrap()["digest"]
                .as_str()
                .unwrap()
                .to_string();
            for image in ["good", "amd64-only", "liar", "liar-amd64", "liar-arm64", "small"] {
                let _ = Command::new("docker")
                    .args(["image", "rm", &format!("{registry}/{id}/{image}:1")])
                    .output();
            }
            (registry, id, arm64)
        })
        .await
        .clone()
}

/// The fleet's files, written for `host` (the registry, or a proxy in front of it).
fn fleet_files(dir: &Path, host: &str, id: &str, pinned_child: &str) {
    let image = |name: &str| format!("{host}/{id}/{name}:1");
    std::fs::write(
        dir.join("k8s.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {good}\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers:\n            - name: wait\n              image: {amd64_only}\n          containers:\n            - name: job\n              image: {good}@{pinned_child}\n",
            good = image("good"),
            amd64_only = image("amd64-only"),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "ARG BASE={}\nFROM ${{BASE}}\nCOPY app /app\n",
            image("liar")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("pods.json"),
        format!(
            "{{\n  \"kind\": \"List\",\n  \"items\": [\n    {{\"kind\": \"Pod\", \"spec\": {{\"containers\": [{{\"name\": \"a\", \"image\": \"{}\"}}]}}}},\n    {{\"kind\": \"Pod\", \"spec\": {{\"containers\": [{{\"name\": \"b\", \"image\": \"{}\"}}]}}}}\n  ]\n}}\n",
            image("small"),
            image("nothing")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.yaml"),
        "services:\n  web:\n    image: [unclosed\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("images.txt"),
        "# more of the fleet\nNot A Reference\n",
    )
    .unwrap();
}

/// A Helm render of the good image, for standard input.
fn helm_render(host: &str, id: &str) -> String {
    format!(
        "---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: \"{host}/{id}/good:1\"\n"
    )
}

/// `multiarch audit ARGS` in `dir`, with `stdin` on standard input.
fn audit(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .arg("audit")
        .args(args)
        .envs(common::test_env(&[]))
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

fn cell<'a>(report: &'a serde_json::Value, image: &str, platform: &str) -> &'a serde_json::Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"].as_str().is_some_and(|n| n.contains(image)))
        .unwrap_or_else(|| panic!("no image `{image}` in {report:#}"))["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["platform"] == platform)
        .unwrap()
}

#[engine_test]
async fn every_finding_is_named_from_every_input_kind_with_its_file_and_line() {
    let bed = common::testbed().await;
    let (registry, id, child) = fleet().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_files(dir.path(), &registry, &id, &child);
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    // A folder is walked for Dockerfiles, YAML and JSON; a list is read when named.
    let args = [".", "images.txt", "-", "--cache", cache, "--json"];
    let (code, json, stderr) = audit(dir.path(), &args, &helm_render(&registry, &id));
    assert_eq!(code, 1, "findings fail the audit:\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();

    let good = cell(&report, "/good:1", "linux/arm64");
    assert_eq!(good["finding"], "ready", "{good}");
    // One image however many places write it: the Deployment, and the Helm render.
    let rows = report["images"].as_array().unwrap();
    let good_row = rows
        .iter()
        .find(|i| i["image"].as_str().unwrap().ends_with("/good:1"))
        .unwrap();
    let written: Vec<String> = good_row["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{}:{}",
                w["origin"]["path"].as_str().unwrap(),
                w["origin"]["line"]
            )
        })
        .collect();
    assert_eq!(written, ["./k8s.yaml:10", "-:10"], "{good_row:#}");

    let missing = cell(&report, "/amd64-only:1", "linux/arm64");
    assert_eq!(missing["finding"], "missing-platform", "{missing}");
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("it has: linux/amd64")
    );
    assert_eq!(
        cell(&report, "/amd64-only:1", "linux/amd64")["finding"],
        "ready"
    );

    let wrong = cell(&report, "/liar:1", "linux/arm64");
    assert_eq!(wrong["finding"], "wrong-contents", "{wrong}");
    assert!(
        wrong["detail"].as_str().unwrap().contains("x86-64"),
        "{wrong}"
    );

    let pinned = cell(&report, &child, "linux/amd64");
    assert_eq!(pinned["finding"], "pinned-to-one-platform", "{pinned}");
    let index = good_row["digest"].as_str().unwrap();
    assert_eq!(
        pinned["pin_index"], index,
        "the index to pin instead is named"
    );
    assert!(
        pinned["detail"]
            .as_str()
            .unwrap()
            .contains("every node runs linux/arm64 programs")
    );
    assert_eq!(cell(&report, &child, "linux/arm64")["finding"], "ready");

    // The 4 KiB program is named, not counted, without --page-size.
    let small = cell(&report, "/small:1", "linux/arm64");
    assert_eq!(small["finding"], "ready", "{small}");
    assert_eq!(small["page_size"]["bytes"], 4096, "{small}");
    assert!(
        small["detail"]
            .as_str()
            .unwrap()
            .contains("16 KiB or 64 KiB"),
        "{small}"
    );

    assert_eq!(
        cell(&report, "/nothing:1", "linux/arm64")["finding"],
        "not-found"
    );
    let unreadable: Vec<String> = report["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{}:{}",
                u["origin"]["path"].as_str().unwrap(),
                u["origin"]["line"]
            )
        })
        .collect();
    assert_eq!(
        unreadable,
        ["./broken.yaml:4", "images.txt:2"],
        "{report:#}"
    );

    // The Dockerfile's ARG base is found on its FROM line.
    let liar_row = rows
        .iter()
        .find(|i| i["image"].as_str().unwrap().ends_with("/liar:1"))
        .unwrap();
    assert_eq!(liar_row["references"][0]["origin"]["path"], "./Dockerfile");
    assert_eq!(liar_row["references"][0]["origin"]["line"], 2);

    // Only what is that bad or worse fails with --fail-on.
    let strict = ["--cache", cache, "--fail-on", "wrong-contents", "--image"];
    let only_good = format!("{registry}/{id}/good:1");
    let (code, table, stderr) = audit(
        dir.path(),
        &[&strict[..], &[only_good.as_str()]].concat(),
        "",
    );
    assert_eq!(code, 0, "{table}\n{stderr}");
    assert!(table.contains("ready"), "{table}");
    let small_too = format!("{registry}/{id}/amd64-only:1");
    let args = [&strict[..], &[only_good.as_str(), "--image", &small_too]].concat();
    let (code, table, _) = audit(dir.path(), &args, "");
    assert_eq!(
        code, 0,
        "a missing platform is milder than wrong contents:\n{table}"
    );
    drop(bed);
}

#[engine_test]
async fn sarif_points_at_each_line_and_the_page_shows_markup_as_text() {
    let bed = common::testbed().await;
    let (registry, id, child) = fleet().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_files(dir.path(), &registry, &id, &child);
    let (code, table, stderr) = audit(
        dir.path(),
        &[
            ".",
            "images.txt",
            "--no-cache",
            "--sarif",
            "found.sarif",
            "--html",
            "fleet.html",
        ],
        "",
    );
    assert_eq!(code, 1, "{table}\n{stderr}");
    // The table: one line per image, the platforms across, details numbered under it.
    let liar = common::row(&table, &format!("{registry}/{id}/liar:1"));
    assert!(
        liar.contains("ready")
            && liar.contains("wrong-contents [")
            && liar.contains("./Dockerfile:2"),
        "{liar}"
    );

    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("found.sarif")).unwrap())
            .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let at = |rule: &str| -> Vec<(String, u64)> {
        results
            .iter()
            .filter(|r| r["ruleId"] == rule)
            .map(|r| {
                let location = &r["locations"][0]["physicalLocation"];
                (
                    location["artifactLocation"]["uri"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    location["region"]["startLine"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(at("wrong-contents"), [("Dockerfile".to_string(), 2)]);
    assert_eq!(at("missing-platform"), [("k8s.yaml".to_string(), 23)]);
    assert_eq!(at("pinned-to-one-platform"), [("k8s.yaml".to_string(), 26)]);
    // The parser names the line where it found the YAML broken: the end of the file.
    assert_eq!(
        at("unreadable"),
        [
            ("broken.yaml".to_string(), 4),
            ("images.txt".to_string(), 2)
        ]
    );
    assert!(
        results.iter().all(|r| r["level"] == "error"),
        "{results:#?}"
    );

    let page = std::fs::read_to_string(dir.path().join("fleet.html")).unwrap();
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the path in the layer, escaped"
    );
    assert!(
        !page.contains("<img"),
        "no markup from a layer reaches the page"
    );
    assert!(page.contains("wrong-contents") && page.contains("<details>"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external asset"
    );
    drop(bed);
}

#[engine_test]
async fn a_shared_layer_is_read_once_and_a_second_run_downloads_nothing() {
    let bed = common::testbed().await;
    let (registry, id, child) = fleet().await;
    let upstream = registry.replace("localhost", "127.0.0.1");
    let proxy = FaultProxy::start(&upstream, Mode::Counting { rate_limit: 42 }).await;
    let dir = tempfile::tempdir().unwrap();
    fleet_files(dir.path(), &proxy.address, &id, &child);
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();

    let (_, _, stderr) = audit(dir.path(), &[".", "--cache", cache], "");
    // good, amd64-only and the liar's amd64 slot share busybox's layer: each blob once.
    assert!(proxy.asked("GET", "/blobs/") > 0, "{stderr}");
    assert_eq!(
        proxy.most_asked("GET", "/blobs/"),
        1,
        "a blob was downloaded twice:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "rate limit: {} says 42 pulls are left",
            proxy.address
        )),
        "the registry's rate limit is shown:\n{stderr}"
    );

    // Again: only HEADs, no manifest GET, no blob.
    let (gets_before, blobs_before) = (
        proxy.asked("GET", "/manifests/"),
        proxy.asked("GET", "/blobs/"),
    );
    let (_, _, stderr) = audit(dir.path(), &[".", "--cache", cache], "");
    assert_eq!(proxy.asked("GET", "/manifests/"), gets_before, "{stderr}");
    assert_eq!(proxy.asked("GET", "/blobs/"), blobs_before, "{stderr}");
    assert!(stderr.contains("0 manifest GETs, 0 blob GETs"), "{stderr}");
    drop(bed);
}

#[engine_test]
async fn fix_pins_rewrites_the_pin_to_the_index_and_nothing_else() {
    let bed = common::testbed().await;
    let (registry, id, child) = fleet().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_files(dir.path(), &registry, &id, &child);
    let before = std::fs::read_to_string(dir.path().join("k8s.yaml")).unwrap();
    let (_, json, stderr) = audit(
        dir.path(),
        &["k8s.yaml", "--no-cache", "--json", "--fix-pins"],
        "",
    );
    assert!(stderr.contains("rewrote 1 pin(s) in k8s.yaml"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let index = cell(&report, &child, "linux/amd64")["pin_index"]
        .as_str()
        .unwrap()
        .to_string();
    let after = std::fs::read_to_string(dir.path().join("k8s.yaml")).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "{after}");
    assert_eq!(changed[0].1, changed[0].0.replace(&child, &index));
    // Audited again, the pin is the index: nothing pinned to one platform is left.
    let (_, json, _) = audit(dir.path(), &["k8s.yaml", "--no-cache", "--json"], "");
    assert!(!json.contains("pinned-to-one-platform"), "{json}");
    drop(bed);
}

#[engine_test]
async fn the_same_findings_come_through_a_flaky_registry() {
    let bed = common::testbed().await;
    let (registry, id, child) = fleet().await;
    let upstream = registry.replace("localhost", "127.0.0.1");
    let seed = std::env::var("MULTIARCH_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let proxy = FaultProxy::start(&upstream, Mode::Flaky { seed }).await;
    let findings = |host: &str| {
        let dir = tempfile::tempdir().unwrap();
        fleet_files(dir.path(), host, &id, &child);
        let (_, json, stderr) = audit(dir.path(), &[".", "--no-cache", "--json"], "");
        let report: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        let mut cells: Vec<String> = report["images"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| {
                let name = i["image"].as_str().unwrap().replace(host, "HOST");
                i["platforms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |c| format!("{name} {} {}", c["platform"], c["finding"]))
                    .collect::<Vec<_>>()
            })
            .collect();
        cells.sort();
        (cells, stderr)
    };
    let (direct, _) = findings(&registry);
    let (through, stderr) = findings(&proxy.address);
    assert_eq!(
        through, direct,
        "(replay with MULTIARCH_FAULT_SEED={seed})\n{stderr}"
    );
    let (faults, _) = proxy.faults();
    assert!(!faults.is_empty(), "faults were met");
    drop(bed);
}

#[engine_test]
async fn page_size_16k_makes_a_4k_program_a_finding_in_audit_and_verify() {
    let bed = common::testbed().await;
    let (registry, id, _) = fleet().await;
    let small = format!("{registry}/{id}/small:1");
    let dir = tempfile::tempdir().unwrap();
    let (code, table, stderr) = audit(
        dir.path(),
        &["--image", &small, "--no-cache", "--page-size", "16k"],
        "",
    );
    assert_eq!(code, 1, "{table}\n{stderr}");
    let row = common::row(&table, &small);
    assert!(
        row.contains("small-pages [1]") && row.contains("`/app` is aligned for no larger"),
        "{row}"
    );

    let (code, _, stderr) = common::multiarch(&["verify", "--static-only", &small]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "note: linux/arm64: its programs start on kernels with pages up to 4 KiB only"
        ),
        "{stderr}"
    );
    let (code, stdout, _) =
        common::multiarch(&["verify", "--static-only", "--page-size", "16k", &small]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        common::row(&stdout, "linux/arm64").contains("--page-size asks for more"),
        "{stdout}"
    );
    drop(bed);
}
