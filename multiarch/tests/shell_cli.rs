//! Issue #40: what every CLI of this family has, a completion script per shell and a man
//! page per command, each read by the real shell and the real `man`.

use std::process::Command;

use crate::common;

/// What bash's completion offers after `words` (the last one being completed), from the
/// script `multiarch completion bash` prints, sourced in a real bash.
fn bash_completes(words: &str) -> Vec<String> {
    let (code, script, stderr) = common::multiarch(&["completion", "bash"]);
    assert_eq!(code, 0, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multiarch.bash");
    std::fs::write(&path, script).unwrap();
    let program = format!(
        r#"source "$1"
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="{words}"
COMP_POINT=${{#COMP_LINE}}
_multiarch multiarch "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    let (code, offered, stderr) = common::output(
        Command::new("bash")
            .args(["-c", &program, "bash"])
            .arg(&path),
    );
    assert_eq!(code, 0, "bash sourced the script: {stderr}");
    offered.lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_verbs_and_the_flags_of_each() {
    assert_eq!(bash_completes("multiarch ver"), ["verify"]);
    let offered = bash_completes("multiarch manifest create --from");
    assert_eq!(offered, ["--from-digests"], "{offered:?}");
    let offered = bash_completes("multiarch verify --evi");
    assert_eq!(offered, ["--evidence"], "{offered:?}");
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_refused_with_the_list() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, script, stderr) = common::multiarch(&["completion", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(script.contains("multiarch"), "{shell}: {script}");
    }
    let (code, _, stderr) = common::multiarch(&["completion", "tcsh"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{stderr}"
    );
}

#[test]
fn a_man_page_per_command_that_man_reads() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let (code, _, stderr) = common::multiarch(&["man", pages.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for page in [
        "multiarch.1",
        "multiarch-verify.1",
        "multiarch-manifest-create.1",
        "multiarch-builder-create.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.contains("-help")),
        "no page for clap's help pseudo-command: {names:?}"
    );
    assert!(
        stderr.contains(&format!("{} man pages in", names.len())),
        "{stderr}"
    );

    // groff renders it as `man` would: the synopsis and a flag's own text.
    let (code, text, stderr) = common::output(
        Command::new("groff")
            .args(["-man", "-Tutf8"])
            .arg(pages.join("multiarch-manifest-create.1")),
    );
    assert_eq!(code, 0, "{stderr}");
    // grotty's bold and underline are overstrikes (`x BACKSPACE x`): keep what is struck.
    let text = text.replace("\u{2010}", "-");
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
        } else {
            plain.push(c);
        }
    }
    let text = plain.replace("\u{2010}", "-");
    assert!(text.contains("multiarch-manifest-create"), "{text}");
    assert!(text.contains("--from-digests"), "{text}");
}
