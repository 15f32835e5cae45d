//! A short Markdown summary for a pull-request comment: the dimensions with band
//! and score, interviewer overrides, the largest gaps and the follow-up questions.
//! Forges render HTML inside Markdown, so every candidate-controlled string is
//! escaped for both.

use std::fmt::Write;

use super::{Report, Status};

/// Gaps listed in the comment; the full list is in report.html.
const MAX_GAPS: usize = 5;

/// Escapes text for a Markdown table cell or list item: HTML metacharacters
/// become entities, Markdown punctuation is backslash-escaped, line breaks fold.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let sub = &report.submission;
    let commit = sub
        .commit
        .as_deref()
        .map(|c| {
            format!(
                " @ `{}`",
                c.chars()
                    .take(10)
                    .filter(char::is_ascii_hexdigit)
                    .collect::<String>()
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "### assay: {}{commit}\n\nExercise `{}` · {} {} · {}\n",
        escape(&sub.name),
        escape(&report.exercise),
        report.grader.name,
        report.grader.version,
        escape(&report.graded_at)
    );
    if let Some(line) = super::graded_project_line(report) {
        let _ = writeln!(out, "{}\n", escape(&line));
    }
    if report.status == Status::Error {
        let _ = writeln!(
            out,
            "**Not graded:** {}",
            escape(report.error.as_deref().unwrap_or("unknown error"))
        );
        return out;
    }
    if let Some(v) = &report.verdict {
        verdict(&mut out, v);
    }
    let _ = writeln!(
        out,
        "| Dimension | Score | Band | Interviewer |\n|---|---:|---|---|"
    );
    for d in &report.dimensions {
        let score = d
            .score
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "–".into());
        let band = match (d.band, &d.band_label) {
            (Some(b), Some(l)) => format!("{b} · {}", escape(l)),
            _ => "not scored".into(),
        };
        let over = report
            .overrides
            .iter()
            .find(|o| o.dimension == d.id)
            .map(|o| {
                format!(
                    "**{}** · {} ({})",
                    o.band,
                    escape(&o.reason),
                    escape(&o.who)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "| {} | {score} | {band} | {over} |", escape(&d.name));
    }
    let overall = report
        .overall
        .score
        .map(|s| format!("{s:.1}"))
        .unwrap_or_else(|| "–".into());
    let _ = writeln!(
        out,
        "| **Overall** | **{overall}** | {} | |\n",
        report
            .overall
            .band
            .map(|b| format!(
                "{b} · {}",
                escape(report.overall.band_label.as_deref().unwrap_or(""))
            ))
            .unwrap_or_default()
    );
    let ceilings: Vec<String> = report
        .ceilings()
        .into_iter()
        .map(|(name, c)| {
            format!(
                "- {name} held at band {} (its points gave {:.1}): {}",
                c.max_band,
                c.uncapped_score,
                escape(&c.why)
            )
        })
        .collect();
    if !ceilings.is_empty() {
        let _ = writeln!(out, "**Bands held down by what was measured**\n");
        for c in &ceilings {
            let _ = writeln!(out, "{c}");
        }
        let _ = writeln!(out);
    }
    if !report.contradictions.is_empty() {
        let _ = writeln!(
            out,
            "**Contradictions: what the code or write-up claims, and what was measured**\n"
        );
        for c in &report.contradictions {
            let measured: Vec<String> = c
                .refuted_by
                .iter()
                .take(2)
                .map(|e| escape(&e.note))
                .collect();
            let _ = writeln!(
                out,
                "- {}{}; measured: {}",
                c.trap
                    .as_deref()
                    .map(|t| format!("**{}** ", escape(t)))
                    .unwrap_or_default(),
                escape(&c.claim),
                measured.join("; ")
            );
        }
        let _ = writeln!(out);
    }
    if !report.gaps.is_empty() {
        let _ = writeln!(out, "**Largest gaps**\n");
        for g in report.gaps.iter().take(MAX_GAPS) {
            let _ = writeln!(out, "- {}", escape(g));
        }
        let _ = writeln!(out);
    }
    if !report.followups.is_empty() {
        let _ = writeln!(out, "**Ask in the debrief**\n");
        for f in &report.followups {
            let _ = writeln!(out, "1. {} _({})_", escape(&f.question), escape(&f.ground));
        }
        let _ = writeln!(out);
    }
    for n in &report.notices {
        let _ = writeln!(out, "> {}", escape(n));
    }
    if !report.notices.is_empty() {
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Full evidence: `report.html` beside `report.json`.");
    out
}

/// The execution verdict before the scores: what ran, what broke, which
/// figures are wrong.
fn verdict(out: &mut String, v: &super::Verdict) {
    let _ = writeln!(out, "**{}**\n", escape(&v.headline));
    for p in &v.phases {
        let reasons = if p.reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", escape(&p.reasons.join("; ")))
        };
        let _ = writeln!(
            out,
            "- Phase {} ({}): **{}**{reasons}",
            p.phase,
            escape(&p.name),
            escape(&p.status)
        );
        for n in p.errored.iter().chain(&p.failed_tests) {
            let _ = writeln!(out, "  - `{}`: {}", md_code(&n.node), escape(&n.message));
        }
    }
    if !v.failing.is_empty() {
        let _ = writeln!(
            out,
            "\nHidden checks that disagree with the truth, by model:\n"
        );
        for m in &v.failing {
            let _ = writeln!(out, "- `{}`", md_code(&m.model));
            for c in &m.checks {
                let figures = match (&c.measured, &c.expected) {
                    (Some(m), Some(e)) => {
                        format!(": measured {}, expected {}", escape(m), escape(e))
                    }
                    (Some(m), None) => format!(": measured {}", escape(m)),
                    _ => format!(": {}", escape(&c.note)),
                };
                let _ = writeln!(
                    out,
                    "  - {}{} ({}){figures}",
                    escape(&c.title),
                    c.trap
                        .as_deref()
                        .map(|t| format!(" [{}]", escape(t)))
                        .unwrap_or_default(),
                    escape(&c.when)
                );
            }
        }
    }
    let _ = writeln!(out);
}

/// Text inside a Markdown code span: backticks and line breaks cannot close it.
fn md_code(s: &str) -> String {
    s.chars()
        .map(|c| if c == '`' || c.is_control() { '\'' } else { c })
        .collect()
}
