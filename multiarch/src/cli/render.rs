//! What a person reads: the tables of `inspect` and `verify`, and BuildKit's progress
//! lines above a spinner. Shared by the verbs that show them (`build` and `demo` show an
//! `inspect` table too), so no verb calls another.

use std::time::Duration;

use indicatif::HumanBytes;

use multiarch::buildkit::image::BuildEvent;
use multiarch::buildkit::profile::Profile;
use multiarch::inspect::Report;
use multiarch::verify::{Check, Emulation, PlatformReport};

/// The `inspect` table.
pub fn inspect_table(report: &Report) -> String {
    let mut out = format!(
        "Name:      {}\nMediaType: {}\nDigest:    {}\n\n",
        report.name, report.media_type, report.digest
    );
    let width = report
        .manifests
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max("PLATFORM".len());
    out += &format!(
        "{:<width$}  {:<71}  {:>10}  LAYERS\n",
        "PLATFORM", "DIGEST", "SIZE"
    );
    for row in &report.manifests {
        let size = row
            .layers_size
            .map_or_else(|| "-".to_string(), |s| HumanBytes(s).to_string());
        let layers = row
            .layers
            .map_or_else(|| "-".to_string(), |l| l.to_string());
        out += &format!(
            "{:<width$}  {:<71}  {:>10}  {}\n",
            row.name, row.entry.digest, size, layers
        );
    }
    out
}

/// The `verify` table: one short row per platform, so that it fits a terminal of 120
/// columns, then each check's detail, numbered, under it (as `cargo` and `docker buildx
/// imagetools inspect` lay theirs out). CONFIG is what the image's own config claims,
/// beside the index's PLATFORM; ON says what ran it: the host, or QEMU as which CPU.
pub fn verify_table(reports: &[PlatformReport]) -> String {
    let mut details = Vec::new();
    let mut cell = |platform: &str, which: &str, check: &Check| {
        let (word, detail) = match check {
            Check::Pass(detail) => ("ok", detail),
            Check::Fail(detail) => ("FAIL", detail),
            Check::Skipped(_) => return "skipped".to_string(),
        };
        details.push(format!(
            "[{}] {platform}, {which}: {detail}",
            details.len() + 1
        ));
        format!("{word} [{}]", details.len())
    };
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let platform = r.platform.to_string();
            vec![
                platform.clone(),
                if r.passed() { "PASS" } else { "FAIL" }.into(),
                r.config
                    .as_ref()
                    .map_or_else(|| "-".into(), ToString::to_string),
                cell(&platform, "static", &r.static_check),
                cell(&platform, "running", &r.running),
                r.emulation
                    .as_ref()
                    .map_or_else(|| "-".into(), Emulation::short),
            ]
        })
        .collect();
    let mut out = table(
        &["PLATFORM", "RESULT", "CONFIG", "STATIC", "RUNNING", "ON"],
        &rows,
    );
    if !details.is_empty() {
        out.push('\n');
        for detail in details {
            out += &detail;
            out.push('\n');
        }
    }
    // Which QEMU ran what, once per program, so that a result can be reproduced.
    let mut emulators: Vec<(String, Vec<String>)> = Vec::new();
    for report in reports {
        let Some(emulator) = report.emulation.as_ref().and_then(|e| e.emulator.as_ref()) else {
            continue;
        };
        let shown = emulator.to_string();
        let platform = report.platform.to_string();
        match emulators.iter_mut().find(|(e, _)| *e == shown) {
            Some((_, platforms)) => platforms.push(platform),
            None => emulators.push((shown, vec![platform])),
        }
    }
    if !emulators.is_empty() {
        out.push('\n');
        for (emulator, platforms) in emulators {
            out += &format!("{}: {emulator}\n", platforms.join(", "));
        }
    }
    out
}

/// The evidence table: one row per platform, one column per kind asked for, each detail
/// numbered under it; BUILT ON is the platform the provenance says the builder ran on,
/// with how many steps ran cross or emulated when a `mode=max` provenance says.
pub fn evidence_table(evidence: &[multiarch::verify::evidence::PlatformEvidence]) -> String {
    use multiarch::verify::evidence::Found;
    let Some(first) = evidence.first() else {
        return String::new();
    };
    let mut header = vec!["PLATFORM".to_string()];
    for (kind, _) in &first.found {
        let name = serde_json::to_value(kind).unwrap_or_default();
        header.push(name.as_str().unwrap_or_default().to_uppercase());
    }
    header.push("BUILT ON".into());
    let mut details = Vec::new();
    let rows: Vec<Vec<String>> = evidence
        .iter()
        .map(|e| {
            let mut row = vec![e.platform.to_string()];
            for (_, found) in &e.found {
                let (word, detail) = match found {
                    Found::Verified { at } => ("verified", at.clone()),
                    Found::Present { at } => ("found", at.clone()),
                    Found::Missing { looked } => ("MISSING", format!("looked in {looked}")),
                    Found::Invalid { why } => ("INVALID", why.clone()),
                };
                details.push(format!("[{}] {}: {detail}", details.len() + 1, e.platform));
                row.push(format!("{word} [{}]", details.len()));
            }
            row.push(built_on(e, &mut details));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = table(&header, &rows);
    out.push('\n');
    for detail in details {
        out += &detail;
        out.push('\n');
    }
    out
}

/// The BUILT ON cell of a platform: the builder's platform and, from a `mode=max`
/// provenance, how its steps ran, each such step numbered in `details`.
fn built_on(
    e: &multiarch::verify::evidence::PlatformEvidence,
    details: &mut Vec<String>,
) -> String {
    let Some(on) = &e.built_on else {
        return "-".into();
    };
    let Some(steps) = &e.provenance_steps else {
        return if on == &e.platform {
            format!("{on} (itself)")
        } else {
            format!("{on} (cross or emulated)")
        };
    };
    let mut said = Vec::new();
    for (how, found) in [
        ("emulated", &steps.emulated),
        ("cross", &steps.other_platform),
    ] {
        if found.is_empty() {
            continue;
        }
        let named: Vec<String> = found
            .iter()
            .map(|s| format!("{} for {}", s.describe(), s.platform))
            .collect();
        details.push(format!(
            "[{}] {}: {how}: {}",
            details.len() + 1,
            e.platform,
            named.join("; ")
        ));
        said.push(format!("{} {how} [{}]", found.len(), details.len()));
    }
    if steps.total == 0 {
        format!("{on} (no RUN step)")
    } else if said.is_empty() {
        format!("{on} ({} steps, none cross or emulated)", steps.total)
    } else {
        format!("{on} ({} of {} steps)", said.join(", "), steps.total)
    }
}

/// `manifest referrers`: one row per attestation moved, its digest before and as a
/// referrer, and how a reader finds it.
pub fn referrers_table(referred: &multiarch::manifest::referrers::Referred) -> String {
    let rows: Vec<Vec<String>> = referred
        .moved
        .iter()
        .map(|m| {
            vec![
                m.platform
                    .as_ref()
                    .map_or_else(|| "-".to_string(), ToString::to_string),
                multiarch::oci::index::short(&m.subject),
                multiarch::oci::index::short(&m.before),
                multiarch::oci::index::short(&m.after),
                m.found_through.to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    table(
        &[
            "PLATFORM",
            "SUBJECT",
            "IN THE INDEX",
            "AS A REFERRER",
            "FOUND THROUGH",
        ],
        &rows,
    )
}

/// The pre-flight table: one row per base and platform, what the registry has.
pub fn preflight_table(checks: &[multiarch::preflight::BaseCheck]) -> String {
    use multiarch::preflight::BaseStatus;
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let result = match &c.status {
                // As `inspect` shortens digests.
                BaseStatus::Present { digest } => {
                    format!("ok {}…", digest.get(..15).unwrap_or(digest))
                }
                BaseStatus::Missing { available } if available.is_empty() => {
                    "MISSING: the image was not found".into()
                }
                BaseStatus::Missing { available } => {
                    format!("MISSING: it has {}", multiarch::join_platforms(available))
                }
                BaseStatus::Wrong { detail } => format!("WRONG: {detail}"),
                BaseStatus::Unchecked { reason } => format!("unchecked: {reason}"),
            };
            let result = match &c.still_in {
                Some(tag) => format!("{result}; `{tag}` still has it"),
                None => result,
            };
            vec![
                c.image.clone(),
                c.platform.to_string(),
                c.stage.clone(),
                result,
            ]
        })
        .collect();
    table(&["BASE", "PLATFORM", "STAGE", "RESULT"], &rows)
}

/// Columns as wide as their widest cell, two spaces apart, the last one unpadded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(ToString::to_string).collect();
    let all: Vec<&Vec<String>> = std::iter::once(&header).chain(rows).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            all.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in all {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                line += &format!("{cell:<width$}  ", width = widths[i]);
            } else {
                line += cell;
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// Prints a build's events: progress lines above a spinner on a terminal, plainly
/// otherwise (and always with `--progress plain`).
pub struct BuildPrinter {
    spinner: Option<indicatif::ProgressBar>,
    profile: std::sync::Mutex<Option<Profile>>,
}

impl BuildPrinter {
    pub fn new(plain: bool) -> Self {
        use std::io::IsTerminal;
        let spinner = (!plain && std::io::stderr().is_terminal()).then(|| {
            let spinner = indicatif::ProgressBar::new_spinner();
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        });
        Self {
            spinner,
            profile: std::sync::Mutex::default(),
        }
    }

    pub fn show(&self, event: BuildEvent) {
        let line = match event {
            BuildEvent::Progress(line) => line,
            BuildEvent::Pushing(image) => format!("pushing {image}"),
            BuildEvent::Profile(profile) => {
                *self.profile.lock().expect("not poisoned") = Some(profile);
                return;
            }
        };
        match &self.spinner {
            Some(spinner) => {
                spinner.println(&line);
                spinner.set_message(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

impl BuildPrinter {
    /// The build's profile, once it is built.
    pub fn take_profile(&self) -> Option<Profile> {
        self.profile.lock().expect("not poisoned").take()
    }
}

/// How many of the costliest steps a profile names.
const COSTLIEST: usize = 3;

/// Where a build's time went, in a few lines: per platform its wall time and how its
/// step time ran, the costliest steps, and a hint per emulated compile.
pub fn profile_lines(profile: &Profile) -> String {
    let seconds = |s: f64| format!("{s:.1} s");
    let with_node = profile.platforms.iter().any(|p| p.node.is_some());
    let mut head = vec!["PLATFORM"];
    if with_node {
        head.push("NODE");
    }
    head.extend(["WALL", "NATIVE", "CROSS", "EMULATED", "CACHED"]);
    let rows: Vec<Vec<String>> = profile
        .platforms
        .iter()
        .map(|p| {
            let mut row = vec![p.platform.clone()];
            if with_node {
                row.push(p.node.clone().unwrap_or_else(|| "-".into()));
            }
            let emulator = p
                .steps
                .iter()
                .find_map(|s| s.emulator.as_deref())
                .map_or(String::new(), |e| format!(" ({e})"));
            row.extend([
                seconds(p.wall_seconds),
                seconds(p.native_seconds),
                seconds(p.cross_seconds),
                format!("{}{emulator}", seconds(p.emulated_seconds)),
                match p.cached_steps {
                    1 => "1 step".to_string(),
                    n => format!("{n} steps"),
                },
            ]);
            row
        })
        .collect();
    let mut out = format!("where the time went:\n{}", table(&head, &rows));
    let mut steps: Vec<(&str, &multiarch::buildkit::profile::Step)> = profile
        .platforms
        .iter()
        .flat_map(|p| p.steps.iter().map(move |s| (p.platform.as_str(), s)))
        .filter(|(_, s)| !s.cached && s.seconds >= 0.1)
        .collect();
    steps.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    for (platform, step) in steps.into_iter().take(COSTLIEST) {
        let line = step
            .line
            .map_or(String::new(), |l| format!("Dockerfile:{l}  "));
        out.push_str(&format!(
            "  {:>8}  {:<8}  {platform}  {line}{}\n",
            seconds(step.seconds),
            step.how.to_string(),
            step.instruction
        ));
    }
    for hint in &profile.hints {
        let at = hint
            .line
            .map_or(String::new(), |l| format!("Dockerfile:{l} "));
        let saving = hint.saving_seconds.map_or(String::new(), |s| {
            format!(", about {} to save by this build's own numbers", seconds(s))
        });
        out.push_str(&format!(
            "hint: {at}`{}` ran {} emulated for {}{saving}: {}\n",
            hint.instruction,
            seconds(hint.seconds),
            hint.platform,
            hint.advice
        ));
    }
    for step in &profile.unasked {
        let at = step
            .line
            .map_or(String::new(), |l| format!("Dockerfile:{l} "));
        let under = step
            .emulator
            .as_deref()
            .map_or_else(|| "an emulator".to_string(), String::from);
        out.push_str(&format!(
            "warning: {at}`{}` ran as {} under {under} ({}), a platform this build did not ask for (it builds {}): its stage is pinned to {}; pin it to `$BUILDPLATFORM` or `$TARGETPLATFORM`, or drop the pin\n",
            step.instruction,
            step.runs_on,
            seconds(step.seconds),
            step.platform,
            step.runs_on,
        ));
    }
    out
}

impl Drop for BuildPrinter {
    fn drop(&mut self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(platform: &str, config: Option<&str>, running: Check) -> PlatformReport {
        let platform: multiarch_platform::Platform = platform.parse().unwrap();
        PlatformReport {
            config: config.map(|c| c.parse().unwrap()),
            static_check: Check::Pass("/app: fits".into()),
            emulation: Some(Emulation::of(
                Some(&"linux/amd64".parse().unwrap()),
                &platform,
            )),
            platform,
            digest: "sha256:0".into(),
            running,
            printed: None,
            page_size: None,
        }
    }

    #[test]
    fn the_verify_table_names_the_configs_claim_beside_the_index() {
        let table = verify_table(&[
            report(
                "linux/arm/v6",
                Some("linux/arm/v6"),
                Check::Pass("armv6l (emulated, QEMU_CPU=arm1176)".into()),
            ),
            report("linux/arm64", None, Check::Fail("answered `x86_64`".into())),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        let words = |line: &str| {
            line.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(words(lines[0]), "PLATFORM RESULT CONFIG");
        assert_eq!(words(lines[1]), "linux/arm/v6 PASS linux/arm/v6");
        assert_eq!(words(lines[2]), "linux/arm64 FAIL -");
        assert_eq!(
            lines[1].split_whitespace().skip(3).collect::<Vec<_>>(),
            ["ok", "[1]", "ok", "[2]", "QEMU", "arm1176"],
            "{table}"
        );
        assert!(
            table.contains("\n[2] linux/arm/v6, running: armv6l (emulated, QEMU_CPU=arm1176)\n")
                && table.contains("\n[4] linux/arm64, running: answered `x86_64`\n"),
            "each detail is numbered under the table: {table}"
        );
        assert!(
            table.lines().all(|l| l.starts_with('[') || l.len() <= 120),
            "{table}"
        );
    }

    #[test]
    fn the_profile_counts_cached_steps_in_words_and_names_the_costliest_step() {
        use multiarch::buildkit::profile::{How, PlatformProfile, Step};
        let step = |instruction: &str, seconds: f64, cached: bool| Step {
            instruction: instruction.into(),
            stage: Some("build".into()),
            line: Some(7),
            start: 0.0,
            seconds,
            cached,
            how: How::Emulated,
            runs_on: "linux/arm64".into(),
            emulator: Some("qemu-aarch64".into()),
        };
        let platform = |name: &str, cached_steps: usize, steps: Vec<Step>| PlatformProfile {
            platform: name.into(),
            node: None,
            wall_seconds: 12.0,
            native_seconds: 0.0,
            cross_seconds: 0.0,
            emulated_seconds: 12.0,
            cached_steps,
            steps,
        };
        let profile = Profile {
            platforms: vec![
                platform("linux/arm64", 1, vec![step("RUN make", 12.0, false)]),
                platform("linux/riscv64", 2, vec![step("COPY . .", 0.0, true)]),
            ],
            hints: Vec::new(),
            unasked: Vec::new(),
            cost_seconds: 0.0,
        };
        let lines = profile_lines(&profile);
        let row = |name: &str| lines.lines().find(|l| l.starts_with(name)).unwrap();
        assert!(row("linux/arm64").ends_with("1 step"), "{lines}");
        assert!(row("linux/riscv64").ends_with("2 steps"), "{lines}");
        assert!(
            lines.contains("12.0 s  emulated  linux/arm64  Dockerfile:7  RUN make"),
            "{lines}"
        );
        assert!(
            !lines.contains("COPY . ."),
            "a cached step is no cost: {lines}"
        );
    }
}
