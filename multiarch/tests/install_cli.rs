//! Issue #40: `install.sh`, as a person runs it: from a copy of a release's assets served
//! over HTTP (`MULTIARCH_INSTALL_URL`), under dash and under busybox sh with busybox's own
//! tools only, the asset for this machine picked and its checksum checked; a mismatch or
//! a release without this machine's build leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use multiarch_test_macros::engine_test;

use crate::common;

/// A release's assets in a folder: `multiarch-9.9.9-linux-amd64.tar.gz` holding the real
/// binary, and one each for arm64, arm/v7 and arm/v6 holding a script that says which build it is
/// (it runs anywhere, so the machine the installer saw is read from what it installed).
struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let release = Self { dir };
        release.asset("linux-amd64", Path::new(env!("CARGO_BIN_EXE_multiarch")));
        for platform in ["linux-arm64", "linux-arm-v7", "linux-arm-v6"] {
            let script = release.dir.path().join(format!("{platform}-multiarch"));
            std::fs::write(
                &script,
                format!("#!/bin/sh\necho 'multiarch 9.9.9 (the {platform} asset)'\n"),
            )
            .unwrap();
            release.asset(platform, &script);
        }
        release.sums(&[]);
        release
    }

    fn name(platform: &str) -> String {
        format!("multiarch-9.9.9-{platform}.tar.gz")
    }

    /// Packs `binary` as the asset of `platform`, as scripts/release.sh does.
    fn asset(&self, platform: &str, binary: &Path) {
        let staging = tempfile::tempdir().unwrap();
        let inside = staging.path().join("multiarch");
        std::fs::copy(binary, &inside).unwrap();
        let status = Command::new("tar")
            .arg("-czf")
            .arg(self.dir.path().join(Self::name(platform)))
            .arg("-C")
            .arg(staging.path())
            .arg("multiarch")
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SHA256SUMS over the assets, with `(name, sum)` replacing the real sum of a name.
    fn sums(&self, replaced: &[(&str, &str)]) {
        let (code, sums, stderr) = common::output(
            Command::new("sh")
                .arg("-c")
                .arg("sha256sum -- *.tar.gz")
                .current_dir(self.dir.path()),
        );
        assert_eq!(code, 0, "{stderr}");
        let mut text = String::new();
        for line in sums.lines() {
            let (sum, name) = line.split_once("  ").unwrap();
            let sum = replaced
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(sum, |(_, s)| s);
            text.push_str(&format!("{sum}  {name}\n"));
        }
        std::fs::write(self.dir.path().join("SHA256SUMS"), text).unwrap();
    }

    /// The assets over HTTP on a loopback port, for as long as the returned task runs.
    async fn serve(&self) -> (String, tokio::task::JoinHandle<()>) {
        let root = self.dir.path().to_path_buf();
        let app = axum::Router::new().route(
            "/{file}",
            axum::routing::get(
                move |axum::extract::Path(file): axum::extract::Path<String>| {
                    let root = root.clone();
                    async move {
                        match std::fs::read(root.join(&file)) {
                            Ok(bytes) if !file.contains("..") => Ok(bytes),
                            _ => Err(axum::http::StatusCode::NOT_FOUND),
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (url, task)
    }
}

impl Release {
    /// `dash install.sh` on a new [`Home`], from these assets served over HTTP.
    async fn install_with_dash(&self) -> (Home, i32, String) {
        let (url, server) = self.serve().await;
        let home = Home::new();
        let (code, _, stderr) = home.install("dash", &url, "/usr/bin:/bin").await;
        server.abort();
        (home, code, stderr)
    }
}

/// A person's machine: an empty home, a temporary folder, and where the binary goes.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(home.tmp()).unwrap();
        home
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// `SHELL install.sh` with `url` as the assets' copy, and `path` as PATH; on a
    /// blocking thread, so the test's server goes on answering.
    async fn install(&self, shell: &str, url: &str, path: &str) -> (i32, String, String) {
        self.install_with(shell, url, path, &[]).await
    }

    /// The same with `env` added to the installer's environment.
    async fn install_with(
        &self,
        shell: &str,
        url: &str,
        path: &str,
        env: &[(&str, &str)],
    ) -> (i32, String, String) {
        let mut command = Command::new(shell);
        command
            .arg(common::repo_root().join("install.sh"))
            .env_clear()
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.tmp())
            .env("PATH", path)
            .env("MULTIARCH_INSTALL_URL", url)
            .env("MULTIARCH_INSTALL_DIR", self.bin())
            .envs(env.iter().copied());
        tokio::task::spawn_blocking(move || common::output(&mut command))
            .await
            .unwrap()
    }

    /// Nothing installed and nothing left in the temporary folder.
    fn assert_untouched(&self, stderr: &str) {
        assert!(!self.bin().join("multiarch").exists(), "{stderr}");
        let left: Vec<_> = std::fs::read_dir(self.tmp()).unwrap().collect();
        assert!(left.is_empty(), "the download stays behind: {left:?}");
    }
}

/// A PATH of busybox's own applets alone: no curl, no coreutils, no bash.
fn busybox_path(arch: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let busybox = common::busybox(arch);
    for applet in [
        "sh",
        "wget",
        "tar",
        "gzip",
        "awk",
        "sed",
        "od",
        "mktemp",
        "cp",
        "mv",
        "chmod",
        "mkdir",
        "rm",
        "sha256sum",
        "cut",
        "tr",
        "grep",
        "uname",
        "cat",
        "head",
    ] {
        std::os::unix::fs::symlink(&busybox, dir.path().join(applet)).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_installs_this_machines_build_once_its_checksum_matches() {
    let release = Release::new();
    let (home, code, stderr) = release.install_with_dash().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("checksum: ok"), "{stderr}");
    assert!(
        stderr.contains("installed multiarch ") && stderr.contains("(linux-amd64)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(home.bin().join("multiarch")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_multiarch")).unwrap(),
        "the amd64 asset's binary, not the arm64 one"
    );
    assert!(
        stderr.contains("is not on your PATH"),
        "a folder off the PATH is named: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checksum_that_does_not_match_installs_nothing_and_leaves_nothing() {
    let release = Release::new();
    release.sums(&[(&Release::name("linux-amd64"), &"0".repeat(64))]);
    let (home, code, stderr) = release.install_with_dash().await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "error: multiarch-9.9.9-linux-amd64.tar.gz does not match its checksum: expected 0000"
        ) && stderr.contains("nothing was installed"),
        "{stderr}"
    );
    home.assert_untouched(&stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_without_this_machines_build_says_which_it_has() {
    let release = Release::new();
    std::fs::remove_file(release.dir.path().join(Release::name("linux-amd64"))).unwrap();
    release.sums(&[]);
    let (home, code, stderr) = release.install_with_dash().await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "error: this release has no build for linux-amd64 (it has: linux-arm-v6 linux-arm-v7 linux-arm64 )"
        ),
        "{stderr}"
    );
    home.assert_untouched(&stderr);
}

/// Busybox's sh and tools alone (its wget, not curl), on the host and under QEMU as an
/// arm64 and an arm/v7 machine (Debian's armhf busybox), and as an ARMv6 Raspberry Pi
/// (armel busybox on QEMU's ARM1176, whose kernel name is `armv6l`): each gets its own
/// machine's build, and the Pi not the arm/v7 one that would die on its first v7 instruction.
#[engine_test]
async fn busybox_sh_alone_installs_the_build_of_the_machine_it_runs_on() {
    let _bed = common::testbed().await;
    let release = Release::new();
    let (url, server) = release.serve().await;
    for (arch, installed) in [
        ("amd64", "(linux-amd64)"),
        (
            "arm64",
            "multiarch 9.9.9 (the linux-arm64 asset) (linux-arm64)",
        ),
        (
            "armhf",
            "multiarch 9.9.9 (the linux-arm-v7 asset) (linux-arm-v7)",
        ),
        (
            "armel",
            "multiarch 9.9.9 (the linux-arm-v6 asset) (linux-arm-v6)",
        ),
    ] {
        // QEMU's ARM1176 is the Pi Zero's and Pi 1's core.
        let cpu: &[(&str, &str)] = if arch == "armel" {
            &[("QEMU_CPU", "arm1176")]
        } else {
            &[]
        };
        let tools = busybox_path(arch);
        let home = Home::new();
        let shell = tools.path().join("sh");
        let (code, _, stderr) = home
            .install_with(
                shell.to_str().unwrap(),
                &url,
                tools.path().to_str().unwrap(),
                cpu,
            )
            .await;
        assert_eq!(code, 0, "busybox sh for {arch}: {stderr}");
        assert!(
            stderr.contains(installed) && stderr.contains("checksum: ok"),
            "{arch}: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(home.tmp()).unwrap().collect();
        assert!(
            left.is_empty(),
            "{arch}: the download stays behind: {left:?}"
        );
    }
    server.abort();
}
