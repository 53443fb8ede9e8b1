//! Issue #40: `scripts/release.sh` as a release job runs it, from a clean checkout into a
//! scratch folder: a static binary per platform (with its completions and man pages),
//! each for its CPU and answering
//! `--version` (checked by the kit before anything is written), reproducible archives,
//! a CycloneDX SBOM each, `SHA256SUMS` and `install.sh`; then `install.sh` installs from
//! that folder. The cross builds are cargo's, kept outside the clone by
//! `scripts/build-dist.sh` (the CLI's own copy of the tracked files and target folders,
//! so the eight-platform image's arch-server builds never wait for them), so a run
//! whose sources did not change compiles nothing.

use std::path::Path;
use std::process::Command;

use crate::common::{self, engine_test};

/// The platforms the test releases: this machine's, and a foreign 32-bit one (another
/// C library, the std built from its sources, checked under QEMU): the release name, the
/// asset name, the ELF machine and class, and the oldest CPU `--cpu baseline` runs it on.
const PLATFORMS: [(&str, &str, u16, u8, &str); 2] = [
    (
        "amd64",
        "linux-amd64",
        goblin::elf::header::EM_X86_64,
        64,
        "x86-64-v1",
    ),
    (
        "arm/v7",
        "linux-arm-v7",
        goblin::elf::header::EM_ARM,
        32,
        "cortex-a8",
    ),
];

/// `scripts/release.sh OUT PLATFORMS...` in `clone`, its binaries checked through the
/// shared registry; returns (exit code, stdout: the kit's check, stderr).
fn release(clone: &Path, out: &Path, registry: &str) -> (i32, String, String) {
    let mut command = Command::new("bash");
    command
        .arg(clone.join("scripts/release.sh"))
        .arg(out)
        .args(PLATFORMS.map(|(platform, ..)| platform))
        .current_dir(clone)
        .env("MULTIARCH_RELEASE_REGISTRY", registry)
        .envs(common::test_env(&[]));
    common::output(&mut command)
}

#[engine_test]
async fn the_release_script_makes_checked_static_assets_that_install_sh_installs() {
    let _bed = common::testbed().await;
    let registry = common::shared_registry().await;
    let scratch = tempfile::tempdir().unwrap();
    let clone = common::checkout::committed_clone(scratch.path());
    let out = scratch.path().join("assets");
    let (code, checked, stderr) = release(&clone, &out, &registry);
    assert_eq!(code, 0, "{checked}\n{stderr}");
    // Before anything was written, `multiarch verify --cpu baseline` ran each binary on
    // the oldest CPU its platform promises.
    for (platform, .., oldest_cpu) in PLATFORMS {
        let row = common::row(&checked, &format!("linux/{platform}"));
        assert_eq!(row.split_whitespace().nth(1), Some("PASS"), "{checked}");
        assert!(
            row.contains(oldest_cpu),
            "{platform} ran on {oldest_cpu}:\n{checked}"
        );
    }

    let version = env!("CARGO_PKG_VERSION");
    let mut expected: Vec<String> = PLATFORMS
        .iter()
        .flat_map(|(_, name, ..)| {
            [
                format!("multiarch-{version}-{name}.tar.gz"),
                format!("multiarch-{version}-{name}.cdx.json"),
            ]
        })
        .chain(["SHA256SUMS".to_string(), "install.sh".to_string()])
        .collect();
    expected.sort();
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(written, expected);

    // Every asset matches its line of SHA256SUMS, as `sha256sum -c` reads it.
    let (code, stdout, stderr) = common::output(
        Command::new("sha256sum")
            .args(["--check", "--strict", "SHA256SUMS"])
            .current_dir(&out),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), expected.len() - 1, "{stdout}");
    assert_eq!(
        std::fs::read(out.join("install.sh")).unwrap(),
        std::fs::read(clone.join("install.sh")).unwrap()
    );

    for (_, name, machine, bits, _) in PLATFORMS {
        // The archive holds the binary, static and for its CPU (the kit's ELF reading),
        // its shell completions and a man page per command.
        let unpacked = scratch.path().join(name);
        std::fs::create_dir_all(&unpacked).unwrap();
        let archive = out.join(format!("multiarch-{version}-{name}.tar.gz"));
        let (code, listing, stderr) = common::output(Command::new("tar").arg("-tzf").arg(&archive));
        assert_eq!(code, 0, "{stderr}");
        let entries: Vec<&str> = listing.lines().collect();
        for entry in [
            "multiarch",
            "completions/multiarch.bash",
            "completions/_multiarch",
            "completions/multiarch.fish",
            "completions/_multiarch.ps1",
            "man/man1/multiarch.1",
            "man/man1/multiarch-verify.1",
        ] {
            assert!(
                entries.contains(&entry),
                "{name} lacks {entry}: {entries:?}"
            );
        }
        let (code, _, stderr) = common::output(
            Command::new("tar")
                .arg("-xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&unpacked),
        );
        assert_eq!(code, 0, "{stderr}");
        let binary = std::fs::read(unpacked.join("multiarch")).unwrap();
        let ident = multiarch::verify::elf::ElfIdent::parse(&binary).unwrap();
        assert_eq!(
            (ident.machine, ident.bits),
            (machine, bits),
            "{name}: {ident:?}"
        );
        let elf = goblin::elf::Elf::parse(&binary).unwrap();
        assert_eq!(elf.interpreter, None, "{name} is static: no loader");

        // The SBOM is CycloneDX and names what the binary is made of.
        let sbom: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(format!("multiarch-{version}-{name}.cdx.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(sbom["bomFormat"], "CycloneDX", "{name}");
        assert_eq!(sbom["specVersion"], "1.5", "{name}");
        let components: Vec<&str> = sbom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        for crate_name in ["bollard", "tokio", "goblin", "multiarch-platform"] {
            assert!(
                components.contains(&crate_name),
                "{name}'s SBOM lacks {crate_name}: {components:?}"
            );
        }
    }

    // Made again from the same commit: the same archives, byte for byte (an SBOM carries
    // its own serial number and time, as CycloneDX asks).
    let again = scratch.path().join("again");
    let (code, stdout, stderr) = release(&clone, &again, &registry);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let archives = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("SHA256SUMS"))
            .unwrap()
            .lines()
            .filter(|l| l.ends_with(".tar.gz"))
            .map(String::from)
            .collect()
    };
    assert_eq!(archives(&again), archives(&out), "reproducible archives");
    assert_eq!(archives(&out).len(), PLATFORMS.len());

    // install.sh from that folder installs this machine's build, which answers.
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    let (code, _, stderr) = common::output(
        Command::new("sh")
            .arg(out.join("install.sh"))
            .env("HOME", home.path())
            .env("MULTIARCH_INSTALL_URL", &out)
            .env("MULTIARCH_INSTALL_DIR", &bin),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("(linux-amd64)"), "{stderr}");
    let (code, stdout, stderr) =
        common::output(Command::new(bin.join("multiarch")).arg("--version"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(version), "{stdout}");
}
