//! Copies of this checkout, as a newcomer's clone or a release job's checkout holds it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::repo_root;

/// A fresh clone of this checkout in `into/clone`: the files git tracks, as they are in
/// the working tree (what a commit of it would hold), and nothing else: no `target/`, no
/// `dist/`.
pub fn fresh_clone(into: &Path) -> PathBuf {
    let root = repo_root();
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(listed.status.success(), "git ls-files: {listed:?}");
    let clone = into.join("clone");
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let file = Path::new(std::str::from_utf8(file).unwrap());
        let from = root.join(file);
        if !from.exists() {
            continue; // deleted in the working tree, not yet in a commit
        }
        let to = clone.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    clone
}

/// The same clone with its files committed (a repository of its own): a clean checkout
/// of a commit, as a release is made from.
pub fn committed_clone(into: &Path) -> PathBuf {
    let clone = fresh_clone(into);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=multiarch tests",
                "-c",
                "user.email=tests@localhost",
            ])
            .args(args)
            .current_dir(&clone)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the checkout under test"]);
    clone
}
