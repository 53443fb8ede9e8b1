//! Issue #28: before the build, every base image is checked for every platform, in one
//! table, and a base that lacks a platform or holds another CPU's programs stops the build
//! in seconds, before anything compiles; nothing is built or pushed.

use crate::common::engine_test;
use crate::common::{self, TestBed};

/// A busybox base pushed as `name`, with, for each platform, the busybox of `holds(arch)`.
fn push_base(
    bed: &mut TestBed,
    registry: &str,
    name: &str,
    platforms: &str,
    holds: fn(&str) -> &str,
) -> String {
    let context = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let dir = context.path().join(arch).join("bin");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(common::busybox(holds(arch)), dir.join("busybox")).unwrap();
    }
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/ /\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .unwrap();
    let image = format!("{registry}/{name}:{}", bed.run_id);
    common::buildx_push(
        bed,
        &image,
        platforms,
        &[],
        context.path().to_str().unwrap(),
    );
    image
}

#[engine_test]
async fn a_base_that_lacks_a_platform_or_holds_another_cpu_stops_the_build_before_it_starts() {
    let mut bed = common::testbed().await;
    // A registry of its own: `--history` reads every tag of a repository.
    let registry = bed.start_registry().await;
    let good = push_base(
        &mut bed,
        &registry,
        "good",
        "linux/amd64,linux/arm64",
        |arch| arch,
    );
    let amd64_only = push_base(&mut bed, &registry, "amd64-only", "linux/amd64", |arch| {
        arch
    });
    // The classic liar: the arm64 entry holds the amd64 busybox.
    let liar = push_base(
        &mut bed,
        &registry,
        "liar",
        "linux/amd64,linux/arm64",
        |_| "amd64",
    );

    let app = tempfile::tempdir().unwrap();
    let dockerfile = |copied_from: &str| {
        format!(
            "ARG BASE={good}\n\
             FROM --platform=$BUILDPLATFORM {amd64_only} AS tools\n\
             FROM ${{BASE}}\n\
             COPY --from=tools /bin/busybox /bin/tool\n\
             COPY --from={copied_from} /bin/busybox /bin/copied\n"
        )
    };
    let target = format!("{registry}/app:{}", bed.run_id);
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build",
            app.path().to_str().unwrap(),
            "-t",
            &target,
            "--platform",
            "linux/amd64,linux/arm64",
            "--push",
        ];
        args.extend_from_slice(extra);
        common::multiarch(&args)
    };

    // All good: the table has each base for each platform it is pulled for; the tools
    // stage's base only for the build platform (the engine's, linux/amd64 here).
    std::fs::write(app.path().join("Dockerfile"), dockerfile(&good)).unwrap();
    let (code, stdout, stderr) = build(&["--preflight"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(
        common::row(&stdout, &amd64_only).contains("linux/amd64  tools"),
        "pulled for the build platform only: {stdout}"
    );
    assert!(rows.iter().all(|r| r.contains(" ok sha256:")), "{stdout}");
    assert!(
        stderr.contains("every base image has every platform"),
        "{stderr}"
    );
    let (code, _, _) = common::multiarch(&["inspect", &target]);
    assert_eq!(code, 1, "--preflight builds nothing");

    // An ARG base that lacks arm64: the build stops before it starts, naming what it has.
    let started = std::time::Instant::now();
    let (code, _, stderr) = build(&["--build-arg", &format!("BASE={amd64_only}")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("MISSING: it has linux/amd64")
            && stderr.contains(&format!(
                "`{amd64_only}` for linux/arm64 first; nothing was built"
            )),
        "{stderr}"
    );
    assert!(!stderr.contains("building "), "no build started: {stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "in seconds"
    );

    // A COPY --from image whose arm64 entry holds amd64 programs.
    std::fs::write(app.path().join("Dockerfile"), dockerfile(&liar)).unwrap();
    let (code, _, stderr) = build(&[]);
    assert_eq!(code, 1, "{stderr}");
    let wrong = stderr
        .lines()
        .find(|l| l.starts_with(&liar) && l.contains("linux/arm64"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        wrong.contains("WRONG: ") && wrong.contains("x86-64"),
        "the liar's arm64 entry is named with what it holds: {wrong}"
    );
    let (code, _, _) = common::multiarch(&["inspect", &target]);
    assert_eq!(code, 1, "nothing was pushed");

    // A moving tag that dropped a platform (`latest` is now amd64 only): --history
    // names the newest tag of its line that still has it.
    let line = format!("{registry}/line");
    for (tag, platforms) in [
        ("1", "linux/amd64,linux/arm64"),
        ("2", "linux/amd64,linux/arm64"),
        ("3", "linux/amd64"),
        ("latest", "linux/amd64"),
    ] {
        let pushed = push_base(&mut bed, &registry, "line", platforms, |arch| arch);
        bed.run(
            "crane",
            &["copy", "--insecure", &pushed, &format!("{line}:{tag}")],
        );
    }
    let moving = tempfile::tempdir().unwrap();
    std::fs::write(
        moving.path().join("Dockerfile"),
        format!("FROM {line}:latest\nCOPY Dockerfile /\n"),
    )
    .unwrap();
    let (code, stdout, stderr) = common::multiarch(&[
        "build",
        moving.path().to_str().unwrap(),
        "-t",
        &target,
        "--platform",
        "linux/amd64,linux/arm64",
        "--preflight",
        "--history",
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "MISSING: it has linux/amd64; `{line}:2` still has it"
        )),
        "{stdout}\n{stderr}"
    );

    // --no-preflight leaves it to BuildKit, which builds on the liar's base.
    let (code, stdout, stderr) = build(&["--no-preflight"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}
