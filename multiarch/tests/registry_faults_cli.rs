//! Issue #26: registries as the internet runs them. Through a proxy that answers 503 and
//! 429, cuts blob bodies short and delays answers (seeded: `MULTIARCH_FAULT_SEED` replays
//! a run), every command that talks to a registry completes, with the same digests as
//! without it; through one that fails everything, each gives up within its bound, says
//! how long it tried and what it last heard, and moves no tag.

use crate::common;
use crate::common::engine_test;
use crate::common::fault_proxy::{Fault, FaultProxy, Mode};

fn seed() -> u64 {
    std::env::var("MULTIARCH_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(26)
}

/// The digest `inspect --json` reads for `image`.
fn digest(image: &str) -> String {
    let (code, json, stderr) = common::multiarch(&["inspect", image, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    report["digest"].as_str().unwrap().to_string()
}

#[engine_test]
async fn every_registry_command_completes_through_a_flaky_registry() {
    let mut bed = common::testbed().await;
    let (registry, image) = common::eight_platform_image().await;
    let upstream = registry.replace("localhost", "127.0.0.1");
    let seed = seed();
    let proxy = FaultProxy::start(&upstream, Mode::Flaky { seed }).await;
    let through = |reference: &str| reference.replace(&registry, &proxy.address);
    let source_digest = digest(&image);
    let replay = format!("(replay with MULTIARCH_FAULT_SEED={seed})");

    // inspect: the same index, read through the faults.
    assert_eq!(digest(&through(&image)), source_digest, "{replay}");

    // copy, whole: the digest is kept.
    let whole = format!("{registry}/copied:{}", bed.run_id);
    let (code, stdout, stderr) = common::multiarch(&["copy", &through(&image), &through(&whole)]);
    assert_eq!(code, 0, "{stdout}\n{stderr}\n{replay}");
    assert!(
        stderr.contains("retrying "),
        "faults were met and retried: {stderr}"
    );
    assert_eq!(digest(&whole), source_digest, "{replay}");
    assert_eq!(
        common::read_back_with_crane_and_oras(&bed, &whole, &source_digest),
        8,
        "crane validated each platform of the copy"
    );

    // copy --platform: the same subset index as a copy without the proxy makes.
    let subset = format!("{registry}/subset:{}", bed.run_id);
    let direct = format!("{registry}/subset-direct:{}", bed.run_id);
    for (from, to) in [
        (through(&image), through(&subset)),
        (image.clone(), direct.clone()),
    ] {
        let (code, stdout, stderr) =
            common::multiarch(&["copy", &from, &to, "--platform", "linux/arm64,linux/arm/v7"]);
        assert_eq!(code, 0, "{stdout}\n{stderr}\n{replay}");
    }
    let subset_digest = digest(&subset);
    assert_eq!(subset_digest, digest(&direct), "{replay}");
    assert_eq!(
        common::read_back_with_crane_and_oras(&bed, &subset, &subset_digest),
        2
    );

    // manifest create from two platforms' images, by digest: the same index both ways.
    let (_, raw, _) = common::multiarch(&["inspect", "--raw", &image]);
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let by_digest = |arch: &str| {
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap();
        format!(
            "{}@{}",
            image.rsplit_once(':').unwrap().0,
            entry["digest"].as_str().unwrap()
        )
    };
    let (amd64, s390x) = (by_digest("amd64"), by_digest("s390x"));
    let created = format!("{registry}/created:{}", bed.run_id);
    let created_direct = format!("{registry}/created-direct:{}", bed.run_id);
    for (target, sources) in [
        (through(&created), [through(&amd64), through(&s390x)]),
        (created_direct.clone(), [amd64.clone(), s390x.clone()]),
    ] {
        let (code, stdout, stderr) =
            common::multiarch(&["manifest", "create", &target, &sources[0], &sources[1]]);
        assert_eq!(code, 0, "{stdout}\n{stderr}\n{replay}");
    }
    let created_digest = digest(&created);
    assert_eq!(created_digest, digest(&created_direct), "{replay}");
    assert_eq!(
        common::read_back_with_crane_and_oras(&bed, &created, &created_digest),
        2
    );

    // verify --static-only reads every layer through the faults.
    let (code, stdout, stderr) = common::multiarch(&["verify", "--static-only", &through(&image)]);
    assert_eq!(code, 0, "{stdout}\n{stderr}\n{replay}");

    // pull: the kit reads the index through the faults, the engine pulls through them.
    let pulled = through(&image);
    bed.track_image(&pulled);
    let (code, stdout, stderr) = common::multiarch(&["pull", &pulled, "--platform", "linux/arm64"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}\n{replay}");

    let (faults, requests) = proxy.faults();
    for kind in [
        Fault::Unavailable,
        Fault::TooMany,
        Fault::Cut,
        Fault::Delayed,
    ] {
        assert!(
            faults.get(&kind).copied().unwrap_or(0) > 0,
            "the run met no {kind:?} in {requests} requests: {faults:?} {replay}"
        );
    }
}

#[engine_test]
async fn a_registry_that_fails_everything_is_given_up_on_in_bounds_and_no_tag_moves() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let image = format!("{registry}/two:{}", bed.run_id);
    common::build_and_push(&mut bed, "dist", &image, "linux/amd64,linux/arm64");
    let upstream = registry.replace("localhost", "127.0.0.1");
    let proxy = FaultProxy::start(&upstream, Mode::FailEverything).await;
    let target = format!("{}/never:{}", proxy.address, bed.run_id);
    let bounds = [
        ("MULTIARCH_RETRIES", "3"),
        ("MULTIARCH_RETRY_MAX_TIME", "20s"),
    ];

    let started = std::time::Instant::now();
    let (code, _, stderr) = common::multiarch_with(&["copy", &image, &target], &bounds);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("gave up on ")
            && stderr.contains("after 3 tries in ")
            && stderr.contains("with HTTP 503")
            && stderr.contains("hint: the registry is busy or restarting"),
        "how many tries, how long, the last answer, and what to do: {stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "within the bound"
    );
    // The tag was not moved: the registry behind the proxy has no such tag.
    let (code, _, stderr) =
        common::multiarch(&["inspect", &target.replace(&proxy.address, &registry)]);
    assert_eq!(code, 1);
    assert!(stderr.contains("was not found"), "{stderr}");

    let (code, _, stderr) = common::multiarch_with(
        &[
            "inspect",
            &image.replace(&registry, &proxy.address),
            "--json",
        ],
        &bounds,
    );
    assert_eq!(code, 1);
    // --json users get each retry as a JSON line.
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(events.len(), 2, "two retries of three tries: {stderr}");
    assert_eq!(events[0]["event"], "retry", "{stderr}");
    assert_eq!(events[0]["retry"]["reason"], "HTTP 503", "{stderr}");
    assert_eq!(events[1]["retry"]["attempt"], 3, "{stderr}");
}

#[engine_test]
async fn a_layer_too_large_for_memory_is_verified_from_disk_through_the_faults() {
    let mut bed = common::testbed().await;
    let registry = common::shared_registry().await;
    // busybox beside 24 MiB of random bytes in one layer: more than verify keeps in
    // memory, so the layer is streamed into a temporary file.
    let context = tempfile::tempdir().unwrap();
    let root = context.path();
    for arch in ["amd64", "arm64"] {
        let dir = root.join(arch);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::copy(common::busybox(arch), dir.join("bin/busybox")).unwrap();
        let mut noise = vec![0u8; 24 << 20];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for byte in &mut noise {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        std::fs::write(dir.join("weights.bin"), noise).unwrap();
    }
    std::fs::write(
        root.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/ /\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .unwrap();
    let image = format!("{registry}/large-layer:{}", bed.run_id);
    common::buildx_push(
        &mut bed,
        &image,
        "linux/amd64,linux/arm64",
        &[],
        root.to_str().unwrap(),
    );
    let (_, json, _) = common::multiarch(&["inspect", &image, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let largest = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["layers_size"].as_u64())
        .max()
        .unwrap();
    assert!(
        largest > 16 << 20,
        "the layer is larger than verify keeps in memory: {largest}"
    );

    let proxy = FaultProxy::start(
        &registry.replace("localhost", "127.0.0.1"),
        Mode::Flaky { seed: seed() },
    )
    .await;
    let (code, stdout, stderr) = common::multiarch(&[
        "verify",
        "--static-only",
        &image.replace(&registry, &proxy.address),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        common::row(&stdout, "linux/arm64").contains("/bin/busybox: AArch64"),
        "{stdout}"
    );
}
