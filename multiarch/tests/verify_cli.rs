//! `multiarch verify` against real images (issue #4): a correct two-platform image
//! passes; an index whose arm64 entry holds the amd64 binary fails, both statically and
//! when run; a platform the index lacks is a clear error.

use crate::common;
use crate::common::engine_test;

#[engine_test]
async fn verify_passes_a_true_index_and_catches_a_mislabelled_one() {
    let (mut bed, registry) = common::testbed_with_registry().await;

    // The real image: both platforms pass, statically and running.
    let good = format!("{registry}/verify-good:{}", bed.run_id);
    common::build_and_push(&mut bed, "dist", &good, "linux/amd64,linux/arm64");
    let (code, stdout, stderr) = common::multiarch(&["verify", &good]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let table = stdout.split("\n\n").next().unwrap_or_default();
    let platforms = table.lines().filter(|l| l.starts_with("linux/")).count();
    assert_eq!(platforms, 2, "one row per platform: {stdout}");
    let amd64 = common::row(&stdout, "linux/amd64");
    assert!(amd64.starts_with("linux/amd64  PASS"), "{stdout}");
    assert!(
        amd64.contains("x86-64, 64-bit, little-endian") && amd64.contains("x86_64 (native)"),
        "{amd64}"
    );
    let arm64 = common::row(&stdout, "linux/arm64");
    assert!(arm64.starts_with("linux/arm64  PASS"), "{stdout}");
    assert!(
        arm64.contains("AArch64, 64-bit, little-endian") && arm64.contains("aarch64 (emulated)"),
        "{arm64}"
    );

    // The classic failure: the arm64 entry holds the amd64 binary. Byte for byte the
    // same, both entries hold one image, which the index check names before anything is
    // downloaded (issue #25: the bitnami/minideb#240 case).
    let wrong = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir(wrong.path().join(arch)).unwrap();
        std::fs::copy(
            common::repo_root().join("dist/amd64/arch-server"),
            wrong.path().join(arch).join("arch-server"),
        )
        .unwrap();
    }
    let same = format!("{registry}/verify-same:{}", bed.run_id);
    common::build_and_push(
        &mut bed,
        wrong.path().to_str().unwrap(),
        &same,
        "linux/amd64,linux/arm64",
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &same]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FAIL  linux/amd64, linux/arm64 hold the very same 1 layer(s)"),
        "{stdout}"
    );
    // One byte more in the arm64 copy (an ELF loader ignores it): two images, so each
    // platform's own check judges it, and the arm64 one fails.
    let mut binary = std::fs::read(wrong.path().join("arm64/arch-server")).unwrap();
    binary.push(0);
    std::fs::write(wrong.path().join("arm64/arch-server"), binary).unwrap();
    let bad = format!("{registry}/verify-bad:{}", bed.run_id);
    common::build_and_push(
        &mut bed,
        wrong.path().to_str().unwrap(),
        &bad,
        "linux/amd64,linux/arm64",
    );

    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &bad]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let arm = common::row(&stdout, "linux/arm64");
    assert!(arm.contains("FAIL"), "{arm}");
    assert!(
        arm.contains("/arch-server is x86-64, 64-bit, little-endian (a linux/amd64 binary), not a linux/arm64 binary"),
        "{arm}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("linux/amd64  PASS")),
        "{stdout}"
    );
    assert!(stderr.contains("1 of 2 platform(s)"), "{stderr}");

    let (code, stdout, _) = common::multiarch(&["verify", "--platform", "linux/arm64", &bad]);
    assert_eq!(code, 1);
    let arm = common::row(&stdout, "linux/arm64");
    assert!(
        arm.contains("answered `x86_64` (emulated), expected `aarch64`"),
        "{arm}"
    );

    // The other classic: an index entry that says another platform than the image's own
    // config, as `docker manifest annotate --arch` makes it. The CONFIG column shows the
    // config's claim, and the engine refuses to run it as the index's platform.
    let lonely = format!("{registry}/verify-lonely:{}", bed.run_id);
    let (code, stdout, stderr) = common::push_dist(&mut bed, &lonely, "linux/amd64");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let annotated = format!("{registry}/verify-annotated:{}", bed.run_id);
    bed.run(
        "docker",
        &["manifest", "create", "--insecure", &annotated, &lonely],
    );
    bed.run(
        "docker",
        &[
            "manifest", "annotate", "--arch", "arm64", &annotated, &lonely,
        ],
    );
    // --purge: the CLI's local copy of the list goes too.
    bed.run(
        "docker",
        &["manifest", "push", "--purge", "--insecure", &annotated],
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", &annotated]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let arm = common::row(&stdout, "linux/arm64");
    let words: Vec<&str> = arm.split_whitespace().take(3).collect();
    assert_eq!(words, ["linux/arm64", "FAIL", "linux/amd64"], "{arm}");
    assert!(
        arm.contains("the image config says linux/amd64, the index says linux/arm64"),
        "{arm}"
    );
    assert!(
        arm.contains("does not provide the specified platform"),
        "the engine's refusal is the running check's failure, not an abort: {arm}"
    );
    // Regression: the image pulled only for the check stayed when the engine refused it.
    let repository = annotated.rsplit_once(':').unwrap().0;
    let left = bed.run(
        "docker",
        &[
            "images",
            "-q",
            "--filter",
            &format!("reference={repository}"),
        ],
    );
    assert_eq!(left.trim(), "", "verify left the image it pulled");

    // A platform the index does not have, and a platform that does not exist.
    let (code, _, stderr) = common::multiarch(&["verify", "--platform", "linux/s390x", &good]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("has no image for `linux/s390x` (it has: linux/amd64, linux/arm64)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: build it for that platform"),
        "{stderr}"
    );
    let (code, _, stderr) = common::multiarch(&["verify", "--platform", "linux/arm64/v7", &good]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("`v7` is not a variant of `arm64`"),
        "{stderr}"
    );

    // Nothing the checks started is left behind.
    bed.assert_no_containers("label=io.github.multiarch.session", "after verify");
}
