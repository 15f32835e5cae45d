//! The terminal summary an interviewer reads right after `assay grade`.

use std::fmt::Write;

use super::{Report, Status};
use crate::checks::Outcome;
use crate::term::Paint;

/// Findings listed under "Top findings".
const TOP_FINDINGS: usize = 6;

/// Which dbt project was graded, when the submission holds several: the
/// others were not built, and an interviewer may have meant one of them.
pub fn graded_project_line(report: &Report) -> Option<String> {
    let inv = report.inventory.as_ref()?;
    let graded = inv.graded_project.as_deref()?;
    if inv.dbt_projects.len() < 2 {
        return None;
    }
    let others: Vec<String> = inv
        .dbt_projects
        .iter()
        .map(|p| p.file())
        .filter(|f| f != graded)
        .collect();
    Some(format!(
        "dbt project graded: {graded} (also found: {}; --project chooses another)",
        others.join(", ")
    ))
}

pub fn terminal_summary(report: &Report, report_path: &str) -> String {
    terminal_summary_with(report, report_path, &Style::default())
}

/// How the summary is drawn: colour, and whether every check gets a line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub paint: Paint,
    /// `-v`: a line per check after the top findings.
    pub all_checks: bool,
}

/// What `-q` leaves: the overall line (or why there is none) and where the
/// report is.
pub fn quiet_summary(report: &Report, report_path: &str, paint: Paint) -> String {
    let mut out = String::new();
    let name = one_line(&report.submission.name);
    match report.status {
        Status::Error => {
            let _ = writeln!(
                out,
                "{name}: {} {}",
                paint.red("NOT GRADED:"),
                one_line_long(report.error.as_deref().unwrap_or("unknown error"))
            );
        }
        status => {
            let score = report
                .overall
                .score
                .map_or_else(|| "–".to_string(), |s| format!("{s:.1}"));
            let band = report
                .overall
                .band
                .map(|b| format!(", band {b}"))
                .unwrap_or_default();
            let label = report
                .overall
                .band_label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let _ = write!(
                out,
                "{name}: overall {}",
                paint.band(report.overall.band, &format!("{score}{band}{label}"))
            );
            if status == Status::Incomplete {
                let _ = write!(out, " {}", paint.yellow("INCOMPLETE"));
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "report: {report_path}");
    out
}

/// The summary, coloured by `style.paint`.
pub fn terminal_summary_with(report: &Report, report_path: &str, style: &Style) -> String {
    let paint = style.paint;
    let mut out = String::new();
    let sub = &report.submission;
    let commit = sub
        .commit
        .as_deref()
        .map(|c| format!(" @ {}", &c[..c.len().min(10)]))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "assay {} · {} · {}{}",
        report.grader.version, report.exercise, sub.name, commit
    );
    if report.status == Status::Error {
        let _ = writeln!(
            out,
            "  {} {}",
            paint.red("NOT GRADED:"),
            report.error.as_deref().unwrap_or("unknown error")
        );
        let _ = writeln!(out, "  report: {report_path}");
        return out;
    }
    if let Some(line) = graded_project_line(report) {
        let _ = writeln!(out, "  {line}");
    }
    if report.status == Status::Incomplete {
        let _ = writeln!(
            out,
            "  {} {} (some criteria could not be decided; exit 2 unless --allow-incomplete)",
            paint.yellow("INCOMPLETE:"),
            one_line(
                report
                    .error
                    .as_deref()
                    .unwrap_or("a criterion errored in the grader")
            )
        );
    }
    let _ = writeln!(out);
    if let Some(v) = &report.verdict {
        let headline = one_line_long(&v.headline);
        let headline = if v.phases.is_empty() {
            headline
        } else if v.phases.iter().all(|p| p.passed) {
            paint.green(&headline)
        } else {
            paint.red(&headline)
        };
        let _ = writeln!(out, "  {headline}");
        // Phases that failed the same way read as one line.
        let mut groups: Vec<(Vec<u8>, &crate::report::PhaseVerdict)> = Vec::new();
        for p in v.phases.iter().filter(|p| !p.passed) {
            let same = |q: &crate::report::PhaseVerdict| {
                q.status == p.status
                    && q.reasons == p.reasons
                    && q.errored == p.errored
                    && q.failed_tests == p.failed_tests
            };
            match groups.iter_mut().find(|(_, q)| same(q)) {
                Some((phases, _)) => phases.push(p.phase),
                None => groups.push((vec![p.phase], p)),
            }
        }
        for (phases, p) in groups {
            let which = phases
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let label = if phases.len() == 1 {
                format!("phase {which} ({})", p.name)
            } else {
                format!("phases {which}")
            };
            let _ = writeln!(
                out,
                "  {} {label} {}: {}",
                paint.red("✗"),
                p.status,
                one_line(&p.reasons.join("; "))
            );
            for n in p.errored.iter().chain(&p.failed_tests).take(TOP_FINDINGS) {
                let _ = writeln!(out, "      {}: {}", one_line(&n.node), one_line(&n.message));
            }
        }
        for m in v.failing.iter().take(TOP_FINDINGS) {
            let first = &m.checks[0];
            let figures = match (&first.measured, &first.expected) {
                (Some(a), Some(b)) => format!("measured {a}, expected {b}"),
                _ => one_line(&first.note),
            };
            let more = if m.checks.len() > 1 {
                format!(" (+{} more on this model)", m.checks.len() - 1)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {} {}: {}, {}: {figures}{more}",
                paint.red("✗"),
                one_line(&m.model),
                one_line(&first.title),
                first.when.split(':').next().unwrap_or(""),
            );
        }
        let _ = writeln!(out);
    }
    for dim in &report.dimensions {
        let score = dim
            .score
            .map(|s| format!("{s:5.1}"))
            .unwrap_or_else(|| "    –".into());
        let band = dim
            .band
            .map(|b| format!("band {b}"))
            .unwrap_or_else(|| "no band".into());
        let label = dim.band_label.as_deref().unwrap_or("not scored");
        let flag = if dim.incomplete {
            paint.yellow("  (incomplete: a check errored)")
        } else {
            String::new()
        };
        // Padded before it is painted: escapes would count as width.
        let band = paint.band(dim.band, &format!("{band:<7}"));
        let _ = writeln!(out, "  {:<16} {score}  {band}  {label}{flag}", dim.name);
    }
    let overall = report
        .overall
        .score
        .map(|s| format!("{s:5.1}"))
        .unwrap_or_else(|| "    –".into());
    let band = report
        .overall
        .band
        .map(|b| format!("band {b}"))
        .unwrap_or_default();
    let band = paint.band(report.overall.band, &format!("{band:<7}"));
    let _ = writeln!(
        out,
        "  {} {}  {band}  {}",
        paint.bold(&format!("{:<16}", "Overall")),
        paint.bold(&overall),
        report.overall.band_label.as_deref().unwrap_or("")
    );

    for (name, c) in report.ceilings() {
        let _ = writeln!(
            out,
            "  {} {name} held at band {} (points gave {:.1}): {}",
            paint.yellow("↓"),
            c.max_band,
            c.uncapped_score,
            one_line(&c.why)
        );
    }
    if !report.contradictions.is_empty() {
        let _ = writeln!(
            out,
            "\nContradictions (claimed by the code or write-up, refuted by what was measured):"
        );
        for c in report.contradictions.iter().take(TOP_FINDINGS) {
            let measured = c
                .refuted_by
                .first()
                .map(|e| one_line(&e.note))
                .unwrap_or_default();
            let who = match c.source {
                crate::checks::ClaimSource::Code => String::new(),
                crate::checks::ClaimSource::WriteUp => {
                    format!("the write-up says {}: ", one_line(&c.claim))
                }
                crate::checks::ClaimSource::Description => format!("{}: ", one_line(&c.claim)),
            };
            let _ = writeln!(
                out,
                "  {} {} {who}{}",
                paint.red("✗"),
                c.trap.as_deref().unwrap_or(&c.check),
                measured
            );
        }
    }

    let mut misses: Vec<_> = report
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .filter(|c| !matches!(c.outcome, Outcome::Pass | Outcome::NotApplicable))
        .collect();
    misses.sort_by(|a, b| {
        let lost = |c: &crate::report::CriterionScore| c.weighted_points - c.earned.unwrap_or(0.0);
        lost(b).total_cmp(&lost(a))
    });
    if !misses.is_empty() {
        let _ = writeln!(out, "\nTop findings:");
        for c in misses.iter().take(TOP_FINDINGS) {
            let mark = match c.outcome {
                Outcome::Error => paint.yellow("!"),
                Outcome::Partial { .. } => paint.yellow("~"),
                _ => paint.red("✗"),
            };
            let place = c
                .evidence
                .iter()
                .find_map(|e| {
                    e.file.as_ref().map(|f| {
                        e.lines
                            .map(|l| format!(" ({f}:{})", l.start))
                            .unwrap_or_else(|| format!(" ({f})"))
                    })
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {mark} {:<28} {}{place}",
                c.check,
                one_line(&c.summary)
            );
        }
    }
    if let Some(acq) = &report.acquisition {
        let refused = acq.refusals.len() as u64 + acq.refusals_unlisted;
        if refused > 0 {
            let _ = writeln!(out, "\nRefused {refused} item(s) of the submission:");
            for r in acq.refusals.iter().take(5) {
                let _ = writeln!(
                    out,
                    "  - {}: {}",
                    r.path.as_deref().unwrap_or("?"),
                    one_line(&r.detail)
                );
            }
        }
    }
    // How the submission's run ended, when it did not simply complete: the
    // limit it reached, the deadline it hit, what its code did to the sandbox.
    if let Some(exec) = &report.execution {
        let ended: Vec<_> = exec
            .phases
            .iter()
            .filter(|p| p.status != "completed" || !p.problems.is_empty())
            .collect();
        if !ended.is_empty() {
            let _ = writeln!(out, "\nExecution:");
        }
        for p in ended {
            let _ = writeln!(
                out,
                "  phase {} ({}) {}: {}",
                p.phase,
                p.name,
                p.status.replace('_', " "),
                one_line(
                    p.detail
                        .as_deref()
                        .or(p.problems.first().map(String::as_str))
                        .unwrap_or("")
                )
            );
        }
    }
    for s in &report.stages {
        if s.status != super::StageStatus::Ok {
            let _ = writeln!(out, "\n{:?}: {}", s.stage, s.detail);
        }
    }
    if style.all_checks {
        let _ = writeln!(out, "\nAll checks:");
        for c in &report.checks {
            let outcome = match c.outcome {
                Outcome::Pass => paint.green(&format!("{:<14}", "pass")),
                Outcome::Partial { fraction } => {
                    paint.yellow(&format!("{:<14}", format!("partial {fraction:.2}")))
                }
                Outcome::Fail => paint.red(&format!("{:<14}", "fail")),
                Outcome::NotAttempted => paint.red(&format!("{:<14}", "not attempted")),
                Outcome::NotApplicable => paint.dim(&format!("{:<14}", "n/a")),
                Outcome::Error => paint.yellow(&format!("{:<14}", "error")),
            };
            let _ = writeln!(out, "  {outcome} {:<32} {}", c.check, one_line(&c.summary));
        }
    }
    let _ = writeln!(out, "\nreport: {report_path}");
    out
}

/// A longer line of the grader's own words (that may quote candidate text).
fn one_line_long(s: &str) -> String {
    crate::inert::inert_name(s, 400)
}

/// Candidate-controlled text on one line: control characters, terminal
/// sequences and bidi controls shown as visible escapes (so a crafted commit
/// message cannot repaint the terminal), cut to a line's width.
fn one_line(s: &str) -> String {
    crate::inert::inert_name(s, 160)
}
