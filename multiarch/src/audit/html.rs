//! The audit as one HTML page a person would rather look at than a table: images down,
//! platforms across, each cell coloured by its finding and opening to its detail, no
//! script and no asset from elsewhere. Every text on it comes from files and registries
//! the user does not control (references, paths in layers, registries' words), so all of
//! it is escaped.

use std::fmt::Write;

use super::report::{Finding, Report};

/// `text` safe in HTML text and in a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(kind: Finding) -> &'static str {
    match kind {
        Finding::Ready => "#d7f5dd",
        Finding::SmallPages => "#fff1c2",
        Finding::MissingPlatform => "#ffd9b3",
        Finding::PinnedToOnePlatform | Finding::WrongContents => "#ffc4c4",
        Finding::NotFound | Finding::Unauthorized | Finding::Unreachable | Finding::Unreadable => {
            "#e4e4e4"
        }
    }
}

/// The page.
pub fn page(report: &Report) -> String {
    let mut html = String::new();
    let needed: Vec<String> = report.needed.iter().map(ToString::to_string).collect();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>multiarch audit: {}</title><style>\
         body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}th,td{{border:1px solid #bbb;padding:.3em .5em;vertical-align:top}}\
         th{{background:#f3f3f3;text-align:left}}td.cell{{min-width:9em}}\
         summary{{cursor:pointer;font-weight:600}}details p{{margin:.3em 0;max-width:40em}}\
         .refs{{color:#555;font-size:12px}}code{{font-size:12px}}\
         </style></head><body>\n",
        escape(&needed.join(", "))
    );
    let _ = write!(
        html,
        "<h1>Is the fleet ready for {}?</h1>\n<p>{} references, {} unique images. ",
        escape(&needed.join(", ")),
        report.references,
        report.images.len()
    );
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.name()))
        .collect();
    let _ = writeln!(html, "{}.</p>", escape(&counts.join(", ")));
    html.push_str("<table>\n<tr><th>image</th>");
    for platform in &needed {
        let _ = write!(html, "<th>{}</th>", escape(platform));
    }
    html.push_str("</tr>\n");
    for image in &report.images {
        html.push_str("<tr><td><code>");
        html.push_str(&escape(&image.image));
        html.push_str("</code><div class=\"refs\">");
        for written in &image.references {
            let _ = write!(
                html,
                "{} <code>{}</code><br>",
                escape(&written.origin.to_string()),
                escape(&written.reference)
            );
        }
        html.push_str("</div></td>");
        for platform in &report.needed {
            match image.platforms.iter().find(|c| &c.platform == platform) {
                Some(cell) => {
                    let _ = write!(
                        html,
                        "<td class=\"cell\" style=\"background:{}\"><details><summary>{}</summary><p>{}</p></details></td>",
                        colour(cell.finding),
                        cell.finding.name(),
                        escape(&cell.detail)
                    );
                }
                None => html.push_str("<td class=\"cell\">not needed</td>"),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    if !report.unreadable.is_empty() {
        html.push_str("<h2>Not read</h2>\n<ul>\n");
        for unreadable in &report.unreadable {
            let _ = writeln!(
                html,
                "<li><code>{}</code>: {}</li>",
                escape(&unreadable.origin.to_string()),
                escape(&unreadable.reason)
            );
        }
        html.push_str("</ul>\n");
    }
    let _ = writeln!(
        html,
        "<p class=\"refs\">multiarch {} audit: {} manifest HEADs, {} manifest GETs, {} layers downloaded, {} verdicts from the cache.</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        report.traffic.heads,
        report.traffic.manifest_gets,
        report.traffic.layers,
        report.traffic.cached_verdicts
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_a_registry_or_a_file_is_shown_as_text() {
        assert_eq!(
            escape(r#"<img src=x onerror="alert('x')">&"#),
            "&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;"
        );
        let report = Report {
            needed: vec![multiarch_platform::Platform::linux_arm64()],
            images: Vec::new(),
            unreadable: vec![super::super::sources::Unreadable {
                origin: super::super::sources::Origin::File {
                    path: "<b>fleet</b>.yaml".into(),
                    line: 3,
                },
                reason: "`<script>alert(1)</script>` is not a valid image reference".into(),
            }],
            references: 1,
            traffic: Default::default(),
        };
        let page = page(&report);
        assert!(!page.contains("<script>") && !page.contains("<b>fleet"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}
