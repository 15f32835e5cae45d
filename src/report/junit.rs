//! JUnit XML for CI systems: one test suite per dimension, one test case per
//! criterion. A failed or missing criterion is a failure, a partial one a failure
//! of type "partial", an error of the grader an error, and a criterion that did
//! not apply is skipped.

use std::fmt::Write;

use super::Report;
use crate::checks::Outcome;

/// Escapes text for XML content and attribute values, dropping characters XML
/// 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

pub fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let count = |pred: &dyn Fn(Outcome) -> bool| {
        report
            .dimensions
            .iter()
            .flat_map(|d| &d.criteria)
            .filter(|c| pred(c.outcome))
            .count()
    };
    let tests = count(&|_| true);
    let failures = count(&|o| {
        matches!(
            o,
            Outcome::Fail | Outcome::NotAttempted | Outcome::Partial { .. }
        )
    });
    let errors = count(&|o| o == Outcome::Error);
    let _ = writeln!(
        out,
        "<testsuites name=\"assay {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">",
        escape(&report.submission.name)
    );
    for d in &report.dimensions {
        let n = d.criteria.len();
        let f = d
            .criteria
            .iter()
            .filter(|c| {
                matches!(
                    c.outcome,
                    Outcome::Fail | Outcome::NotAttempted | Outcome::Partial { .. }
                )
            })
            .count();
        let e = d
            .criteria
            .iter()
            .filter(|c| c.outcome == Outcome::Error)
            .count();
        let s = d
            .criteria
            .iter()
            .filter(|c| c.outcome == Outcome::NotApplicable)
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\">",
            escape(&d.id)
        );
        let _ = writeln!(
            out,
            "    <properties><property name=\"score\" value=\"{}\"/><property name=\"band\" value=\"{}\"/></properties>",
            d.score.map(|s| format!("{s:.1}")).unwrap_or_default(),
            d.band.map(|b| b.to_string()).unwrap_or_default()
        );
        for c in &d.criteria {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&d.id),
                escape(&c.check)
            );
            let mut detail = escape(&c.summary);
            for e in c.evidence.iter().take(5) {
                let place = e
                    .file
                    .as_ref()
                    .map(|f| match e.lines {
                        Some(l) => format!("{f}:{}: ", l.start),
                        None => format!("{f}: "),
                    })
                    .unwrap_or_default();
                detail.push('\n');
                detail.push_str(&escape(&format!("{place}{}", e.note)));
            }
            let body = match c.outcome {
                Outcome::Pass => None,
                Outcome::Partial { fraction } => Some(format!(
                    "<failure type=\"partial\" message=\"{:.0} % of {}: {}\">{detail}</failure>",
                    fraction * 100.0,
                    escape(&c.title),
                    escape(&c.summary)
                )),
                Outcome::Fail | Outcome::NotAttempted => Some(format!(
                    "<failure type=\"{}\" message=\"{}: {}\">{detail}</failure>",
                    c.outcome.label(),
                    escape(&c.title),
                    escape(&c.summary)
                )),
                Outcome::Error => Some(format!(
                    "<error message=\"{}\">{detail}</error>",
                    escape(&c.summary)
                )),
                Outcome::NotApplicable => {
                    Some(format!("<skipped message=\"{}\"/>", escape(&c.summary)))
                }
            };
            match body {
                None => {
                    let _ = writeln!(out, "/>");
                }
                Some(b) => {
                    let _ = writeln!(out, ">{b}</testcase>");
                }
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}
