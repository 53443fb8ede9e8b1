//! The audit as SARIF 2.1.0, the format GitHub code scanning reads: one rule per finding
//! kind, one result per finding at each file and line that writes the image, so a pull
//! request shows it on the line of the manifest that pulls it.

use serde_json::{Value, json};

use super::report::{Finding, Report};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// What each rule says, for the readers of code scanning.
fn rule(kind: Finding) -> (&'static str, &'static str) {
    match kind {
        Finding::Ready => (
            "ready",
            "The image holds programs for every platform needed.",
        ),
        Finding::SmallPages => (
            "programs aligned for small pages",
            "An arm64, ppc64le or loong64 program is aligned for smaller kernel pages than the fleet runs with: it does not start there.",
        ),
        Finding::MissingPlatform => (
            "a platform is missing",
            "The image has no entry for a platform the fleet needs: its nodes cannot pull it, or pull another platform's programs.",
        ),
        Finding::PinnedToOnePlatform => (
            "pinned to one platform",
            "The digest pinned is one platform's manifest inside an index: every node gets that platform's programs. Pin the index's digest.",
        ),
        Finding::WrongContents => (
            "wrong contents",
            "The platform's entry holds programs for another CPU (or a config that says another platform).",
        ),
        Finding::NotFound => ("not found", "The registry has no such image."),
        Finding::Unauthorized => (
            "unauthorized",
            "The registry refused to show the image: it needs credentials.",
        ),
        Finding::Unreachable => (
            "unreachable",
            "The registry could not be reached, or failed.",
        ),
        Finding::Unreadable => (
            "unreadable",
            "The reference, or the file it is in, cannot be read.",
        ),
    }
}

fn level(kind: Finding, fail_on: Finding) -> &'static str {
    match kind {
        Finding::Ready => "none",
        kind if kind >= fail_on => "error",
        _ => "warning",
    }
}

fn location(path: &str, line: usize) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": path.trim_start_matches("./") },
            "region": { "startLine": line.max(1) }
        }
    })
}

/// `report` as a SARIF log; findings at or above `fail_on` are errors, milder ones warnings.
pub fn log(report: &Report, fail_on: Finding) -> Value {
    let rules: Vec<Value> = Finding::ALL
        .into_iter()
        .filter(|k| *k != Finding::Ready)
        .map(|kind| {
            let (short, full) = rule(kind);
            json!({
                "id": kind.name(),
                "name": kind.name(),
                "shortDescription": { "text": short },
                "fullDescription": { "text": full },
                "defaultConfiguration": { "level": level(kind, fail_on) },
            })
        })
        .collect();
    let mut results = Vec::new();
    for image in &report.images {
        for cell in image
            .platforms
            .iter()
            .filter(|c| c.finding != Finding::Ready)
        {
            for written in &image.references {
                let Some((path, line)) = written.origin.in_file() else {
                    continue;
                };
                if path == "-" {
                    continue;
                }
                results.push(json!({
                    "ruleId": cell.finding.name(),
                    "level": level(cell.finding, fail_on),
                    "message": {
                        "text": format!("`{}` on {}: {}", written.reference, cell.platform, cell.detail)
                    },
                    "locations": [location(path, line)],
                    "properties": { "platform": cell.platform.to_string(), "image": image.image },
                }));
            }
        }
    }
    for unreadable in &report.unreadable {
        if let Some((path, line)) = unreadable.origin.in_file() {
            if path != "-" {
                results.push(json!({
                    "ruleId": Finding::Unreadable.name(),
                    "level": level(Finding::Unreadable, fail_on),
                    "message": { "text": unreadable.reason },
                    "locations": [location(path, line)],
                }));
            }
        }
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "multiarch",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                }
            },
            "results": results,
        }]
    })
}
