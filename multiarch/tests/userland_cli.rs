//! `verify` judges every program of an image, not only its entrypoint (issue #15): a slot
//! whose entrypoint fits but whose `/usr/bin` holds another CPU's programs fails, naming
//! the file; `--entrypoint-only` is the fast path that reads the entrypoint alone; and an
//! `amd64/v2` slot holding code that needs x86-64-v4 fails on its level.

use crate::common::engine_test;
use std::path::Path;

use crate::common;

fn place(root: &Path, path: &str, from: &Path) {
    let to = root.join(path);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

#[engine_test]
async fn verify_judges_every_program_and_the_x86_level() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let context = tempfile::tempdir().unwrap();
    let root = context.path();

    // amd64: its entrypoint is amd64's busybox, but /usr/bin/tool is arm64's.
    place(root, "amd64/bin/busybox", &common::busybox("amd64"));
    place(root, "amd64/usr/bin/tool", &common::busybox("arm64"));
    // arm64: all arm64.
    place(root, "arm64/bin/busybox", &common::busybox("arm64"));
    place(root, "arm64/usr/bin/tool", &common::busybox("arm64"));
    // amd64/v2: a static program the linker marked as needing x86-64-v4 (AVX-512), as
    // `-march=x86-64-v4` builds are; a v2 CPU has no AVX-512.
    let source = root.join("main.c");
    std::fs::write(&source, "int main(void) { return 0; }\n").unwrap();
    std::fs::create_dir_all(root.join("amd64v2/bin")).unwrap();
    bed.run(
        "cc",
        &[
            "-static",
            "-O2",
            "-Wl,-z,x86-64-v4",
            "-o",
            root.join("amd64v2/bin/busybox").to_str().unwrap(),
            source.to_str().unwrap(),
        ],
    );
    std::fs::write(
        root.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nARG TARGETVARIANT\nCOPY ${TARGETARCH}${TARGETVARIANT}/ /\n\
         ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"uname\", \"-m\"]\n",
    )
    .unwrap();
    let image = format!("{registry}/userland:{}", bed.run_id);
    common::buildx_push(
        &mut bed,
        &image,
        "linux/amd64,linux/arm64,linux/amd64/v2",
        &[],
        root.to_str().unwrap(),
    );

    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &image]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let row = |platform: &str| common::row(&stdout, platform);
    let amd64 = row("linux/amd64");
    assert!(amd64.contains("FAIL"), "{amd64}");
    assert!(
        amd64.contains("1 of 2 ELF files")
            && amd64.contains("/usr/bin/tool is AArch64, 64-bit, little-endian (a linux/arm64 binary), not a linux/amd64 binary"),
        "the foreign program is named: {amd64}"
    );
    let arm64 = row("linux/arm64");
    assert!(
        arm64.contains("PASS") && arm64.contains("all 2 ELF files in the usual binary folders fit"),
        "{arm64}"
    );
    let v2 = row("linux/amd64/v2");
    assert!(
        v2.contains("FAIL")
            && v2.contains(
                "/bin/busybox needs an x86-64-v4 CPU, more than linux/amd64/v2 promises (x86-64-v2)"
            ),
        "{v2}"
    );

    // The fast path reads the entrypoint alone: amd64's busybox fits, so amd64 passes.
    let (code, stdout, stderr) = common::multiarch(&[
        "verify",
        "--static-only",
        "--entrypoint-only",
        "--platform",
        "linux/amd64,linux/arm64",
        &image,
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("usual binary folders"),
        "the folders are not read: {stdout}"
    );
}
