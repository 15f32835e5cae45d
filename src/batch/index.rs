//! The cohort's outputs: index.html (one self-contained page, sortable without
//! scripts), summary.json and junit.xml.

use handlebars::Handlebars;
use serde_json::{json, Value};

use super::cohort::{Row, Summary};
use crate::report::{Report, Status};
use crate::rubric::DIMENSIONS;

const TEMPLATE: &str = include_str!("index.html.hbs");

/// Pre-renders one table per sort order; CSS `:target` shows the chosen one, so
/// the page sorts with no script (its CSP forbids scripts).
pub fn index_html(summary: &Summary) -> String {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string("index", TEMPLATE)
        .expect("the index template parses");

    let names: Vec<String> = summary.dimensions.iter().map(|d| d.name.clone()).collect();
    let fmt = |x: Option<f64>| x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
    let render_row = |r: &Row| -> Value {
        let cells: Vec<Value> = DIMENSIONS
            .iter()
            .map(|d| {
                let cell = r.dimensions.get(*d);
                let band = cell.and_then(|c| c.band);
                json!({
                    "text": match (cell.and_then(|c| c.score), band) {
                        (Some(s), Some(b)) => format!("{s:.1} (band {b})"),
                        _ => "–".into(),
                    },
                    "class": band.map(|b| format!("b{b}")).unwrap_or_default(),
                })
            })
            .collect();
        json!({
            "id": r.id,
            "link": r.report_html.clone().or_else(|| Some(r.report.clone())).filter(|l| is_safe_link(l)),
            "cells": cells,
            "overall": match (r.overall, r.overall_band) { (Some(s), Some(b)) => format!("{s:.1} (band {b})"), _ => "–".into() },
            "overall_class": r.overall_band.map(|b| format!("b{b}")).unwrap_or_default(),
            "error": r.error.clone().unwrap_or_default(),
        })
    };
    let sorted = |key: &dyn Fn(&Row) -> Option<f64>| -> Vec<Value> {
        let mut rows: Vec<&Row> = summary.rows.iter().collect();
        rows.sort_by(|a, b| {
            key(b)
                .unwrap_or(-1.0)
                .total_cmp(&key(a).unwrap_or(-1.0))
                .then(a.id.cmp(&b.id))
        });
        rows.into_iter().map(render_row).collect()
    };
    let mut orders = vec![
        json!({"key": "id", "label": "submission", "rows": summary.rows.iter().map(render_row).collect::<Vec<_>>()}),
    ];
    for (dim, name) in DIMENSIONS.iter().zip(&names) {
        orders.push(json!({"key": dim, "label": name, "rows": sorted(&|r: &Row| r.dimensions.get(*dim).and_then(|c| c.score))}));
    }
    // The default order comes last: the CSS shows the last table unless another is targeted.
    orders
        .push(json!({"key": "overall", "label": "overall", "rows": sorted(&|r: &Row| r.overall)}));

    let distributions: Vec<Value> = summary
        .dimensions
        .iter()
        .map(|d| {
            let max = d.bands.iter().copied().max().unwrap_or(0).max(1) as f64;
            let bars: Vec<Value> = d
                .bands
                .iter()
                .enumerate()
                .map(|(i, count)| {
                    let h = (*count as f64 / max * 60.0).round();
                    json!({"band": i + 1, "count": count, "x": 8 + i * 42, "tx": 6 + i * 42, "h": h, "y": 78.0 - h, "ty": 74.0 - h})
                })
                .collect();
            json!({
                "name": d.name,
                "bars": bars,
                "aria": d.bands.iter().enumerate().map(|(i, c)| format!("band {}: {c}", i + 1)).collect::<Vec<_>>().join(", "),
                "mean": fmt(d.mean),
                "median": fmt(d.median),
            })
        })
        .collect();
    let mut checks: Vec<Value> = summary
        .checks
        .iter()
        .map(|c| json!({"check": c.check, "scored": c.scored, "pass_rate": c.pass_rate.map(|p| format!("{:.0} %", p * 100.0)).unwrap_or_else(|| "–".into()), "discrimination": c.discrimination.map(|d| format!("{d:+.2}")).unwrap_or_else(|| "–".into()), "d": c.discrimination.unwrap_or(-2.0)}))
        .collect();
    checks.sort_by(|a, b| {
        b["d"]
            .as_f64()
            .unwrap_or(-2.0)
            .total_cmp(&a["d"].as_f64().unwrap_or(-2.0))
    });
    let graded = summary
        .rows
        .iter()
        .filter(|r| r.status == Status::Graded)
        .count();
    let data = json!({
        "count": summary.rows.len(),
        "graded": graded,
        "errors": summary.rows.len() - graded,
        "grader_version": summary.grader_version,
        "dimension_names": names,
        "orders": orders,
        "distributions": distributions,
        "checks": checks,
    });
    hb.render("index", &data)
        .expect("the index renders from well-formed data")
}

/// Links in the index point into the batch folder only.
fn is_safe_link(link: &str) -> bool {
    !link.contains("://")
        && !link.starts_with('/')
        && !link.split('/').any(|p| p == "..")
        && !link.contains(':')
}

/// One testsuite per submission, one testcase per criterion.
pub fn junit_xml(reports: &[(String, Report)]) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"assay\">\n");
    for (id, report) in reports {
        if report.status == Status::Error {
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"{}\" name=\"grade\"><error message=\"{}\"/></testcase>\n  </testsuite>\n",
                xml(id),
                xml(id),
                xml(report.error.as_deref().unwrap_or("not graded"))
            ));
            continue;
        }
        let criteria: Vec<_> = report
            .dimensions
            .iter()
            .flat_map(|d| d.criteria.iter().map(move |c| (d, c)))
            .collect();
        let failures = criteria
            .iter()
            .filter(|(_, c)| matches!(c.outcome.credit(), Some(x) if x < 1.0))
            .count();
        let errors = criteria
            .iter()
            .filter(|(_, c)| c.outcome == crate::checks::Outcome::Error)
            .count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
            xml(id),
            criteria.len()
        ));
        for (dim, c) in criteria {
            out.push_str(&format!(
                "    <testcase classname=\"{}.{}\" name=\"{}\">",
                xml(id),
                xml(&dim.id),
                xml(&c.check)
            ));
            match c.outcome {
                crate::checks::Outcome::Error => {
                    out.push_str(&format!("<error message=\"{}\"/>", xml(&c.summary)))
                }
                crate::checks::Outcome::NotApplicable => out.push_str("<skipped/>"),
                o if o.credit().is_some_and(|x| x < 1.0) => out.push_str(&format!(
                    "<failure message=\"{}: {}\"/>",
                    o.label(),
                    xml(&c.summary)
                )),
                _ => {}
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\t' || *c == '\n')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside_the_batch_folder() {
        assert!(is_safe_link("cand-1/report.html"));
        assert!(!is_safe_link("javascript:alert(1)"));
        assert!(!is_safe_link("../../etc/passwd"));
        assert!(!is_safe_link("https://evil.example/"));
    }

    #[test]
    fn xml_escapes_candidate_text() {
        assert_eq!(
            xml("<a href=\"x\">&'\u{1b}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }
}
