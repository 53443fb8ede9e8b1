//! A test's own buildx store and kit state (`BUILDX_CONFIG`, `MULTIARCH_STATE_DIR`), so
//! the user's stay as they were and the real buildx of the test bed reads the test's.

use std::path::PathBuf;
use std::process::Command;

/// A test's own buildx store and kit state, and the CLI and buildx pointed at them.
pub struct Stores {
    /// Both stores live in it; a test may put files of its own there.
    pub dir: tempfile::TempDir,
}

impl Stores {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn buildx_dir(&self) -> PathBuf {
        self.dir.path().join("buildx")
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "MULTIARCH_STATE_DIR",
                self.dir.path().join("state").display().to_string(),
            ),
            ("BUILDX_CONFIG", self.buildx_dir().display().to_string()),
        ]
    }

    /// `multiarch ARGS` with this test's stores.
    pub fn kit(&self, args: &[&str]) -> (i32, String, String) {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        super::multiarch_with(args, &env)
    }

    /// `docker buildx ARGS` with this test's store.
    pub fn buildx(&self, args: &[&str]) -> (i32, String, String) {
        let mut buildx = Command::new("docker");
        buildx.arg("buildx");
        self.run_buildx(buildx, args)
    }

    /// `docker buildx ARGS` (or another binary) with this test's store.
    pub fn run_buildx(&self, mut buildx: Command, args: &[&str]) -> (i32, String, String) {
        super::output(
            buildx
                .args(args)
                .env("BUILDX_CONFIG", self.buildx_dir())
                .current_dir(super::repo_root()),
        )
    }
}
