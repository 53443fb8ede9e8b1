//! Running the `multiarch` binary as a user would, and reading what it printed: its exit
//! code, stdout and stderr, a table's rows with their numbered details, and the text with
//! what changes from run to run redacted for snapshots.

use std::path::PathBuf;
use std::process::Command;

use super::bed::{RUN_LABEL, current_run};
use super::repo_root;

/// Runs the `multiarch` binary; returns (exit code, stdout, stderr).
pub fn multiarch(args: &[&str]) -> (i32, String, String) {
    multiarch_with(args, &[])
}

/// Runs the `multiarch` binary with extra environment variables.
pub fn multiarch_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_multiarch"))
        .args(args)
        .envs(test_env(env))
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the multiarch binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// The environment every run of the CLI in the tests gets, besides `env`:
/// - a buildx store of its own (`<MULTIARCH_STATE_DIR>/buildx`, else one for this test
///   process), so the user's `~/.docker/buildx` is never read or written;
/// - the running test's label on everything the kit creates (`MULTIARCH_LABELS`), so the
///   test's checks and clean-up see what its commands left, and nobody else's.
pub fn test_env<'a>(env: &[(&'a str, &'a str)]) -> Vec<(String, String)> {
    static STORE: std::sync::LazyLock<tempfile::TempDir> =
        std::sync::LazyLock::new(|| tempfile::tempdir().unwrap());
    let mut all: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !all.iter().any(|(k, _)| k == "BUILDX_CONFIG") {
        let store = match all.iter().find(|(k, _)| k == "MULTIARCH_STATE_DIR") {
            Some((_, state)) => PathBuf::from(state).join("buildx"),
            None => STORE.path().join("buildx"),
        };
        all.push(("BUILDX_CONFIG".into(), store.display().to_string()));
    }
    let labelled = all.iter().any(|(k, _)| k == "MULTIARCH_LABELS");
    if let (Some(run), false) = (current_run(), labelled) {
        all.push(("MULTIARCH_LABELS".into(), format!("{RUN_LABEL}={run}")));
    }
    all
}

/// Runs `command`; returns (exit code, stdout, stderr).
pub fn output(command: &mut Command) -> (i32, String, String) {
    let output = command.output().expect("the command runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The line of `output` that starts with `prefix` and a space (a table's row), with the
/// numbered details it points at (`ok [2]` brings the line `[2] ...` from under the
/// table), or the test fails showing the whole output.
pub fn row(output: &str, prefix: &str) -> String {
    let line = output
        .lines()
        .find(|l| l.starts_with(&format!("{prefix} ")))
        .unwrap_or_else(|| panic!("no row `{prefix}` in:\n{output}"));
    let mut whole = line.to_string();
    for (start, _) in line.match_indices('[') {
        let Some(end) = line[start..].find(']') else {
            continue;
        };
        let marker = &line[start..=start + end];
        if let Some(detail) = output
            .lines()
            .find(|l| l.starts_with(&format!("{marker} ")))
        {
            whole += "\n";
            whole += detail;
        }
    }
    whole
}

/// Replaces every `sha256:<64 hex>` with `sha256:[digest]` and the registry address with
/// `[registry]`, so snapshots hold only what is stable.
pub fn redact(text: &str, registry: &str) -> String {
    let text = text.replace(registry, "[registry]");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("sha256:") {
        out.push_str(&rest[..at + 7]);
        let after = &rest[at + 7..];
        let hex = after.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex == 64 {
            out.push_str("[digest]");
            rest = &after[64..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    // Sizes follow the binary, which changes with every source change.
    let words: Vec<&str> = out.split(' ').collect();
    let mut redacted: Vec<String> = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let unit = words.get(i + 1).map(|w| w.trim_end_matches('\n'));
        if word.parse::<f64>().is_ok() && matches!(unit, Some("B" | "KiB" | "MiB" | "GiB")) {
            redacted.push("[size]".into());
        } else if matches!(*word, "B" | "KiB" | "MiB" | "GiB")
            && i > 0
            && words[i - 1].parse::<f64>().is_ok()
        {
            continue;
        } else {
            redacted.push((*word).to_string());
        }
    }
    redacted.join(" ")
}

/// Base64 as `docker login` stores `user:password` in config.json.
pub fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
