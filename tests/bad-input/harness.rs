//! The bad-input corpus (`tests/bad-input/corpus.toml`, issue #6): one table of cases for
//! both programs, each with the message a person must see and the exit code. The two
//! harnesses (this one for `multiarch`, `tests/bad_input.rs` for `arch-server`) share
//! the format and this file, included by each with `#[path]`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, serde::Deserialize)]
pub struct Corpus {
    pub case: Vec<Case>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub program: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub env: HashMap<String, String>,
    /// Written to a temporary file whose path replaces `{file}` in `args`.
    pub file: Option<String>,
    pub exit: i32,
    /// What stderr must contain.
    pub stderr: String,
}

pub fn load(repo_root: &Path) -> Corpus {
    let path = repo_root.join("tests/bad-input/corpus.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs every case of `program` with `binary`; `{placeholders}` in arguments are replaced
/// from `vars`. Returns one line per case that did not behave, so that a run shows all.
pub fn run(
    corpus: &Corpus,
    program: &str,
    binary: &Path,
    vars: &HashMap<&str, String>,
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut count = 0;
    for case in corpus.case.iter().filter(|c| c.program == program) {
        count += 1;
        let dir = tempfile::tempdir().unwrap();
        let mut vars = vars.clone();
        vars.insert("tmp", dir.path().display().to_string());
        if let Some(text) = &case.file {
            let path = dir.path().join("input");
            std::fs::write(&path, text).unwrap();
            vars.insert("file", path.display().to_string());
        }
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                vars.iter()
                    .fold(a.clone(), |a, (k, v)| a.replace(&format!("{{{k}}}"), v))
            })
            .collect();
        let mut child = Command::new(binary)
            .args(&args)
            .envs(&case.env)
            .env("NO_COLOR", "1")
            .env("MULTIARCH_STATE_DIR", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // None of these may start serving or hang: 20 s is far beyond any of them.
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
        }
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let code = output.status.code();
        let mut wrong = Vec::new();
        if code != Some(case.exit) {
            wrong.push(format!("exit {code:?}, expected {}", case.exit));
        }
        if !stderr.contains(&case.stderr) {
            wrong.push(format!("stderr lacks {:?}", case.stderr));
        }
        if stderr.contains("panicked at") || stdout.contains("panicked at") {
            wrong.push("it panicked".into());
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n  args: {args:?}\n  stderr: {}",
                case.name,
                wrong.join("; "),
                stderr.trim().replace('\n', "\n          ")
            ));
        }
    }
    (count, failures)
}
