//! Issue #25: `verify --cpu` proves each platform's code on the CPU it will meet. The
//! amd64 slot holds a program that runs an AVX2 instruction at start-up (x86-64-v3 code,
//! as `-march=x86-64-v3` builds are), the arm64 slot one that uses an LSE atomic (ARMv8.1
//! and later, as `-march=armv8.2-a` builds are). Neither is marked in its ELF header, so
//! only running them on the right core tells. amd64 is this host's own platform, so it is
//! run under QEMU inside its container.

use crate::common::engine_test;
use crate::common::{self, TestBed};

const AVX2_AT_START: &str = r#"#include <stdio.h>
int main(void) {
    __asm__ volatile("vpaddd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");
    puts("x86-64-v3 code ran");
    return 0;
}
"#;

const LSE_AT_START: &str = r#"#include <stdio.h>
int main(void) {
    static long counter;
    printf("armv8.1 atomics ran: %ld\n", __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST) + 1);
    return 0;
}
"#;

/// Builds and pushes the two-slot image of programs that need a newer CPU than their
/// platform's baseline; returns its reference.
fn push_newer_cpu_image(bed: &mut TestBed, registry: &str) -> String {
    let context = tempfile::tempdir().unwrap();
    let root = context.path();
    for (arch, compiler, flags, source) in [
        ("amd64", "cc", "-O2", AVX2_AT_START),
        (
            "arm64",
            "aarch64-linux-gnu-gcc",
            "-march=armv8.2-a",
            LSE_AT_START,
        ),
    ] {
        let dir = root.join(arch);
        std::fs::create_dir_all(&dir).unwrap();
        let main = dir.join("main.c");
        std::fs::write(&main, source).unwrap();
        bed.run(
            compiler,
            &[
                "-static",
                flags,
                "-o",
                dir.join("probe").to_str().unwrap(),
                main.to_str().unwrap(),
            ],
        );
    }
    std::fs::write(
        root.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/probe /probe\nCMD [\"/probe\"]\n",
    )
    .unwrap();
    let image = format!("{registry}/newer-cpu:{}", bed.run_id);
    common::buildx_push(
        bed,
        &image,
        "linux/amd64,linux/arm64",
        &[],
        root.to_str().unwrap(),
    );
    image
}

fn verify_on(image: &str, platform: &str, cpu: &str) -> (i32, String, String) {
    common::multiarch(&[
        "verify",
        image,
        "--exec",
        "/probe",
        "--platform",
        platform,
        "--cpu",
        cpu,
    ])
}

#[engine_test]
async fn the_hosts_own_platform_is_proven_on_the_cpu_asked_for() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let image = push_newer_cpu_image(&mut bed, &registry);

    // Without --cpu the host's own CPU runs it: it has AVX2, so nothing is proven.
    let (code, stdout, stderr) = common::multiarch(&[
        "verify",
        &image,
        "--exec",
        "/probe",
        "--platform",
        "linux/amd64",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let (code, stdout, stderr) = verify_on(&image, "linux/amd64", "x86-64-v2");
    assert_eq!(
        code, 1,
        "x86-64-v3 code passed on a v2 CPU:\n{stdout}\n{stderr}"
    );
    let row = common::row(&format!("{stdout}\n{stderr}"), "linux/amd64");
    assert!(
        row.contains("FAIL")
            && row.contains("SIGILL: an instruction Nehalem (x86-64-v2) does not have")
            && row.contains("QEMU in the container"),
        "the failure names the signal and the CPU: {row}"
    );

    let (code, stdout, stderr) = verify_on(&image, "linux/amd64", "x86-64-v3");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let row = common::row(&format!("{stdout}\n{stderr}"), "linux/amd64");
    assert!(
        row.contains("x86-64-v3 code ran")
            && row.contains("QEMU in the container as Haswell-noTSX (x86-64-v3)"),
        "{row}"
    );

    // --json says which CPU proved it, and how.
    let (code, json, stderr) = common::multiarch(&[
        "verify",
        &image,
        "--exec",
        "/probe",
        "--platform",
        "linux/amd64",
        "--cpu",
        "x86-64-v3",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let emulation = &report["platforms"][0]["emulation"];
    assert_eq!(emulation["cpu_profile"], "x86-64-v3", "{emulation}");
    assert_eq!(emulation["cpu_isa"], "x86-64-v3", "{emulation}");
    assert_eq!(emulation["qemu_in_container"], true, "{emulation}");
    assert!(
        emulation["qemu_cpu"]
            .as_str()
            .unwrap()
            .starts_with("Haswell"),
        "{emulation}"
    );

    // QEMU cannot model AVX-512: said, not passed, and nothing is run.
    let (code, stdout, _) = verify_on(&image, "linux/amd64", "x86-64-v4");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("cannot be proven on x86-64-v4: QEMU's TCG emulates no AVX-512"),
        "{stdout}"
    );
    bed.assert_no_containers("label=io.github.multiarch.session", "after verify --cpu");
}

#[engine_test]
async fn arm64_code_for_a_newer_core_fails_on_a_pi_4_and_passes_on_graviton_2() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let image = push_newer_cpu_image(&mut bed, &registry);

    let (code, stdout, stderr) = verify_on(&image, "linux/arm64", "linux/arm64=pi-4");
    assert_eq!(
        code, 1,
        "ARMv8.2 code passed on a Cortex-A72:\n{stdout}\n{stderr}"
    );
    let row = common::row(&format!("{stdout}\n{stderr}"), "linux/arm64");
    assert!(
        row.contains("FAIL")
            && row.contains("SIGILL: an instruction cortex-a72 (pi-4, ARMv8.0) does not have"),
        "{row}"
    );

    let (code, stdout, stderr) = verify_on(&image, "linux/amd64,linux/arm64", "graviton-2");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let arm64 = common::row(&format!("{stdout}\n{stderr}"), "linux/arm64");
    assert!(
        arm64.contains("armv8.1 atomics ran")
            && arm64.contains("neoverse-n1 (graviton-2, ARMv8.2)"),
        "{arm64}"
    );
    // The emulator that ran arm64 is named under the table, with its binfmt flags.
    assert!(
        stdout.lines().any(|l| l.starts_with("linux/arm64: ")
            && l.contains("qemu-aarch64")
            && l.contains("through binfmt_misc (flags ")),
        "{stdout}"
    );
    // graviton-2 runs no amd64 code: amd64 runs as it does without --cpu.
    let amd64 = common::row(&format!("{stdout}\n{stderr}"), "linux/amd64");
    assert!(amd64.contains("(native)"), "{amd64}");

    // A profile that runs none of the platforms, or one named for a platform its machine
    // cannot run, is refused before anything runs.
    let (code, _, stderr) = verify_on(&image, "linux/amd64,linux/arm64", "pi-zero");
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "pi-zero (Raspberry Pi Zero and 1 (ARM1176)) runs none of the platforms checked"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = verify_on(&image, "linux/amd64", "linux/amd64=pi-4");
    assert_eq!(code, 1);
    assert!(stderr.contains("runs no linux/amd64 code"), "{stderr}");
    // doctor lists the profiles this machine's QEMU can stand for.
    let (_, doctor, _) = common::multiarch(&["doctor"]);
    assert!(
        doctor.lines().any(|l| l.starts_with("ok")
            && l.contains("pi-4: Raspberry Pi 4")
            && l.contains("arm64 cortex-a72")),
        "{doctor}"
    );
    let (code, _, stderr) = verify_on(&image, "linux/amd64", "pi-9");
    assert_eq!(code, 1);
    assert!(stderr.contains("`pi-9` is not a CPU profile"), "{stderr}");
    bed.assert_no_containers("label=io.github.multiarch.session", "after verify --cpu");
}
