//! The README's figures come from BENCHMARKS.md (issue #34): every figure the README
//! gives is a link to the BENCHMARKS.md section that measured it, and each number in the
//! link's text is in that section (at the precision the README gives it), so a figure
//! cannot drift from its measurement.

use crate::common;

/// A Markdown heading's anchor, as GitHub makes it: lower case, punctuation dropped,
/// spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Each `## ` section of `markdown` by its anchor, with its text (to the next `## `).
fn sections(markdown: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in markdown.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sections.push((anchor(heading), String::new()));
        } else if let Some((_, text)) = sections.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    sections
}

/// The numbers in `text` (`1,408`, `3.5`, `20`), thousands separators dropped.
fn numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_is_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_ascii_digit() || (matches!(c, ',' | '.') && !current.is_empty() && next_is_digit) {
            if *c != ',' {
                current.push(*c);
            }
        } else if !current.is_empty() {
            found.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        found.push(current);
    }
    found
}

/// Whether `measured` is `said` at the precision it is said with (`206.47` is `206`).
fn rounds_to(measured: &str, said: &str) -> bool {
    let decimals = said.split_once('.').map_or(0, |(_, d)| d.len());
    match (measured.parse::<f64>(), said.parse::<f64>()) {
        (Ok(m), Ok(s)) => format!("{m:.decimals$}") == format!("{s:.decimals$}"),
        _ => false,
    }
}

/// Every `[text](BENCHMARKS.md#anchor)` link of `markdown`: (text, anchor).
fn benchmark_links(markdown: &str) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let mut rest = markdown;
    while let Some(at) = rest.find("](BENCHMARKS.md#") {
        let text_start = rest[..at].rfind('[').expect("a link's text opens with [");
        let text = rest[text_start + 1..at].to_string();
        let after = &rest[at + "](BENCHMARKS.md#".len()..];
        let end = after.find(')').expect("a link closes with )");
        links.push((text, after[..end].to_string()));
        rest = &after[end..];
    }
    links
}

#[test]
fn every_figure_in_the_readme_is_the_one_benchmarks_md_measured() {
    let root = common::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let benchmarks = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap();
    let sections = sections(&benchmarks);
    let links = benchmark_links(&readme);
    assert!(
        links.iter().any(|(text, _)| !numbers(text).is_empty()),
        "the README gives its figures as links to BENCHMARKS.md"
    );
    for (text, target) in links {
        let section = sections
            .iter()
            .find(|(anchor, _)| *anchor == target)
            .map(|(_, text)| text)
            .unwrap_or_else(|| panic!("README links to BENCHMARKS.md#{target}: no such section"));
        let measured = numbers(section);
        for number in numbers(&text) {
            assert!(
                measured.iter().any(|m| rounds_to(m, &number)),
                "the README says `{text}`, but {number} is not in BENCHMARKS.md#{target}"
            );
        }
    }
}

#[test]
fn numbers_and_anchors_are_read_as_github_and_a_reader_do() {
    assert_eq!(
        anchor("The README's test command on a fresh machine"),
        "the-readmes-test-command-on-a-fresh-machine"
    );
    assert_eq!(
        anchor("`multiarch inspect` against buildx and skopeo"),
        "multiarch-inspect-against-buildx-and-skopeo"
    );
    assert_eq!(numbers("1,408 s, then 3.5 min; v2."), ["1408", "3.5", "2"]);
    assert!(rounds_to("206.47", "206") && rounds_to("8.52", "8.5") && !rounds_to("206.47", "207"));
    assert_eq!(
        benchmark_links("a [266 s](BENCHMARKS.md#fresh) b [x](other.md)"),
        [("266 s".to_string(), "fresh".to_string())]
    );
}

/// Every heading's anchor in `markdown`, at any level.
fn anchors(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    markdown
        .lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            !fenced && line.starts_with('#')
        })
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

/// The targets of `markdown`'s links and images (`](target)`), outside code blocks.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn every_link_of_the_readme_and_the_manual_leads_somewhere() {
    let root = common::repo_root();
    let mut pages = vec![root.join("README.md"), root.join("BENCHMARKS.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        pages.push(entry.unwrap().path());
    }
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for target in link_targets(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let file = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                file.exists(),
                "{}: the link `{target}` leads to no file",
                page.display()
            );
            if !fragment.is_empty() {
                let linked = std::fs::read_to_string(&file).unwrap();
                assert!(
                    anchors(&linked).iter().any(|a| a == fragment),
                    "{}: the link `{target}` leads to no heading of {}",
                    page.display(),
                    file.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "the README and the manual link to each other");
}

/// The subcommands `multiarch [PATH] --help` lists, with their flags.
fn commands(path: &[&str]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let (code, help, stderr) = common::multiarch(&args);
    assert_eq!(code, 0, "multiarch {args:?}: {stderr}");
    let flags: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=' || c == '<')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| {
            word.trim_end_matches([']', '.', ':', '`', ')', ','])
                .to_string()
        })
        .collect();
    let mut found = vec![(path.iter().map(|s| s.to_string()).collect(), flags)];
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands && !line.starts_with("  ") {
            in_commands = false;
        }
        if in_commands {
            let name = line.split_whitespace().next().unwrap_or_default();
            if !name.is_empty() && name != "help" {
                let mut deeper: Vec<&str> = path.to_vec();
                deeper.push(name);
                found.extend(commands(&deeper));
            }
        }
    }
    found
}

#[test]
fn every_flag_of_every_command_is_in_the_manual() {
    let root = common::repo_root();
    let mut manual = std::fs::read_to_string(root.join("README.md")).unwrap();
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        manual += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    let mut missing = Vec::new();
    for (path, flags) in commands(&[]) {
        for flag in flags {
            if !["--help", "--version"].contains(&flag.as_str()) && !manual.contains(&flag) {
                missing.push(format!("multiarch {} {flag}", path.join(" ")));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "flags no page of docs/ (or the README) names:\n{}",
        missing.join("\n")
    );
}
