//! Issue #15: the is-tester demo's seven platforms, and riscv64, built on the host
//! (cross-compiled; the five beyond amd64 and arm64 with the std built from source),
//! pushed as one index, inspected, pulled, run (under the CPU each slot promises) and
//! verified; and the liars verify must catch, each named by its platform.

use crate::common::engine_test;
use std::path::Path;

use crate::common::{self, EIGHT_PLATFORMS};

#[engine_test]
async fn eight_platforms_are_one_index_and_each_one_pulls() {
    let (_bed, image) = eight_platform_image().await;
    let (code, stdout, stderr) = common::multiarch(&["inspect", &image]);
    assert_eq!(code, 0, "{stderr}");
    for platform in EIGHT_PLATFORMS {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{platform} "))),
            "{platform} in the index: {stdout}"
        );
    }
    // Every platform pulled, and the engine holds exactly that one.
    let all = EIGHT_PLATFORMS.join(",");
    let (code, stdout, stderr) = common::multiarch(&["pull", &image, "--platform", &all]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[engine_test]
async fn every_platform_runs_and_says_its_machine_on_the_cpu_its_slot_promises() {
    let (_bed, image) = eight_platform_image().await;
    // Verified: each binary is for its slot's CPU, and each runs and says its machine,
    // arm/v6 under an ARMv6 CPU model.
    let (code, stdout, stderr) = common::multiarch(&["verify", &image]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for (platform, machine) in [
        ("linux/amd64", "x86_64 (native)"),
        ("linux/386", "x86_64 (native, 32-bit on the 64-bit kernel)"),
        ("linux/arm/v6", "armv6l (emulated, QEMU_CPU=arm1176)"),
        ("linux/arm/v7", "armv7l (emulated)"),
        ("linux/arm64", "aarch64 (emulated)"),
        ("linux/ppc64le", "ppc64le (emulated)"),
        ("linux/s390x", "s390x (emulated)"),
        ("linux/riscv64", "riscv64 (emulated)"),
    ] {
        let row = common::row(&stdout, platform);
        assert!(row.contains("PASS"), "{row}");
        assert!(row.contains(machine), "{row}");
        // The image config's own claim stands beside the index's (issue #15's table).
        let words: Vec<&str> = row.split_whitespace().take(3).collect();
        assert_eq!(words, [platform, "PASS", platform], "{row}");
    }
    let v6 = common::row(&stdout, "linux/arm/v6");
    assert!(
        v6.contains("ARMv6, soft-float"),
        "the v6 binary's level: {v6}"
    );
}

#[engine_test]
async fn every_platform_passes_on_the_oldest_cpu_its_name_promises_and_the_eight_agree() {
    let (_bed, image) = eight_platform_image().await;
    // Issue #25: every platform on the oldest CPU its name promises, the host's own
    // (amd64, and 386 beside it) under QEMU in the container.
    // With --parity: the eight builds of one program agree with each other.
    let (code, stdout, stderr) =
        common::multiarch(&["verify", &image, "--cpu", "baseline", "--parity"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the 8 platform(s) agree with each other"),
        "{stderr}"
    );
    for (platform, on) in [
        ("linux/amd64", "QEMU qemu64 (baseline) in the container"),
        ("linux/386", "QEMU qemu32 (baseline) in the container"),
        ("linux/arm/v6", "QEMU arm1176 (baseline)"),
        ("linux/arm/v7", "QEMU cortex-a8 (baseline)"),
        ("linux/arm64", "QEMU cortex-a53 (baseline)"),
        ("linux/ppc64le", "QEMU power8 (baseline)"),
        ("linux/s390x", "QEMU qemu (baseline)"),
        ("linux/riscv64", "QEMU rv64 (baseline)"),
    ] {
        let row = common::row(&stdout, platform);
        assert!(row.contains("PASS") && row.contains(on), "{row}");
    }
    let table = stdout.split("\n\n").next().unwrap_or_default();
    assert!(
        table.lines().all(|l| l.chars().count() <= 120),
        "the table fits 120 columns: {stdout}"
    );
    // The same, for a program: the config's claim and how it ran, as fields.
    let (code, printed, stderr) =
        common::multiarch(&["verify", &image, "--platform", "linux/arm/v6", "--json"]);
    assert_eq!(code, 0, "{printed}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let v6 = &report["platforms"][0];
    assert_eq!(v6["config"], "linux/arm/v6", "{v6}");
    assert_eq!(v6["emulation"]["native"], false, "{v6}");
    assert_eq!(v6["emulation"]["qemu_cpu"], "arm1176", "{v6}");
    assert_eq!(v6["running"]["result"], "pass", "{v6}");
}

#[engine_test]
async fn the_page_says_the_programs_platform_and_the_kernels_and_whether_it_is_emulated() {
    let (bed, image) = eight_platform_image().await;
    // Issue #24: the 386 image says both facts, the program's platform and the
    // 64-bit kernel's, and that they differ; s390x under QEMU can tell it is emulated.
    for (platform, program, kernel, differs, emulated) in [
        ("linux/386", "linux/386", "linux/amd64", true, "cannot tell"),
        ("linux/s390x", "linux/s390x", "linux/s390x", false, "yes"),
    ] {
        let json = common::arch_answer(&bed, &image, platform).await;
        let answer = json.to_string();
        assert_eq!(json["platform"], program, "{answer}");
        assert_eq!(json["kernel"], kernel, "{answer}");
        assert_eq!(json["differs_from_kernel"], differs, "{answer}");
        assert_eq!(json["emulated"], emulated, "{answer}");
    }
}

#[engine_test]
async fn the_demo_runs_386_and_arm_v6_as_verify_does() {
    let mut bed = common::testbed().await;
    common::dist(&["amd64", "arm64", "386", "arm/v6"]).await;
    // The demo runs them as verify does (regression: it said a 386 image answering
    // `x86_64` had the wrong binary, and ran arm/v6 on QEMU's default ARMv7 core).
    let (code, stdout, stderr) = common::run_demo(&mut bed, Some("linux/386,linux/arm/v6"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for line in [
        r#"linux/386      GET /arch -> {"architecture": "x86_64"}   (native, 32-bit on the 64-bit kernel)"#,
        r#"linux/arm/v6   GET /arch -> {"architecture": "armv6l"}   (emulated by QEMU, QEMU_CPU=arm1176)"#,
    ] {
        assert!(stdout.contains(line), "{line}\nin:\n{stdout}");
    }
}

#[engine_test]
async fn slots_that_hold_another_platforms_binary_are_each_named() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    common::dist(&["amd64", "arm64", "386", "arm/v7"]).await;
    // Liars: each slot holds another platform's binary. Built from our own binaries, as
    // a careless COPY would; verify fails and names the platform.
    let liars = tempfile::tempdir().unwrap();
    let dist = |platform: &str| {
        common::repo_root()
            .join("dist")
            .join(platform)
            .join("arch-server")
    };
    // The host's own `true` is linked dynamically: its loader is not in a scratch image.
    for (slot, binary) in [
        ("armv6", dist("armv7")),
        ("armv7", dist("arm64")),
        ("386", dist("amd64")),
        ("amd64", Path::new("/usr/bin/true").to_path_buf()),
    ] {
        let dir = liars.path().join(slot);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(binary, dir.join("arch-server")).unwrap();
    }
    let liar = format!("{registry}/liar:{}", bed.run_id);
    common::build_and_push(
        &mut bed,
        liars.path().to_str().unwrap(),
        &liar,
        "linux/arm/v6,linux/arm/v7,linux/386,linux/amd64",
    );
    let (code, stdout, stderr) = common::multiarch(&["verify", &liar]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let row = |platform: &str| common::row(&stdout, platform);
    let v6 = row("linux/arm/v6");
    assert!(v6.contains("FAIL"), "{v6}");
    assert!(
        v6.contains("ARMv7, hard-float code, which an ARMv6 CPU cannot run"),
        "{v6}"
    );
    assert!(v6.contains("SIGILL"), "under an ARMv6 CPU it dies: {v6}");
    let v7 = row("linux/arm/v7");
    assert!(v7.contains("FAIL") && v7.contains("AArch64"), "{v7}");
    let i386 = row("linux/386");
    assert!(i386.contains("FAIL") && i386.contains("x86-64"), "{i386}");
    let dynamic = row("linux/amd64");
    assert!(
        dynamic.contains("FAIL") && dynamic.contains("is dynamically linked and its loader"),
        "{dynamic}"
    );
    assert!(
        stderr.contains("4 of 4 platform(s)"),
        "every liar is counted: {stderr}"
    );
}

/// The test bed and the eight-platform image, shared by every test that only reads it.
async fn eight_platform_image() -> (common::TestBed, String) {
    let bed = common::testbed().await;
    let (_, image) = common::eight_platform_image().await;
    (bed, image)
}
