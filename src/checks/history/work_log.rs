use serde_json::json;

use crate::analyse::docs::{Block, BlockKind, Document};
use crate::checks::docs::{headings_of, lexicon, KnownNames, Specificity};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};

/// Entries quoted as evidence.
const MAX_EVIDENCE: usize = 6;

crate::declare_check! {
    /// ## What it checks
    /// When there is no usable commit history (a folder, an archive, one squashed
    /// commit), whether the candidate left a record of how the work went: a work
    /// log or exploration notes, in Markdown or plain text (`notes.txt`, `NOTES`).
    /// An entry is a block that opens with a time or a date (`09:40`,
    /// `2026-01-05`, `Day 2`), or a bullet or paragraph of a section whose heading
    /// the rubric's `log_headings` lexicon recognises ("Work log", "Exploration",
    /// "Findings"). It wants `min_entries` entries, of which `min_specific` are
    /// specific: they name the submission's code, hold a query, or give a figure
    /// with its meaning. With history, the commits are the record and this is
    /// not applicable.
    ///
    /// ## Why it matters
    /// Interview platforms export a folder without history. What the candidate
    /// looked at first, what they measured and what they decided is then visible
    /// only in their notes: a log that goes from profiling to fixes is the
    /// systematic path the Problem-Solving dimension asks for.
    ///
    /// ## Example
    /// `09:10 profiled raw.payments: 3 % of event_id repeat` and `09:40
    /// stg_payments keeps the first delivery` are two specific entries. "Worked on
    /// the models, then the tests" is an entry that says nothing checkable.
    ///
    /// ## How to pass
    /// Keep a short, timed log of what you profiled, what you found (with the
    /// figure) and what you changed, in `notes.txt` or a section of the README.
    pub struct WorkLog {
        id: "history.work_log",
        title: "Without history, a work log shows the path from profiling to fixes",
        confidence: Heuristic,
    }
}

impl Check for WorkLog {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = &Self::META;
        if cx.facts.usable_history().is_some() {
            return CheckResult::new(
                meta.id,
                Outcome::NotApplicable,
                meta.confidence,
                "the commit history records how the work went",
            );
        }
        let params = (|| {
            Ok::<_, crate::checks::ParamError>((
                lexicon(cx.params, "log_headings")?,
                cx.params.int("min_entries")?.max(1) as usize,
                cx.params.int("min_specific")?.max(1) as usize,
                Specificity::read(cx.params)?,
            ))
        })();
        let (headings, min_entries, min_specific, specificity) = match params {
            Ok(p) => p,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let docs = &cx.facts.docs.documents;
        if docs.is_empty() {
            return CheckResult::new(
                meta.id,
                Outcome::NotAttempted,
                meta.confidence,
                "no write-up or notes of the candidate's own",
            );
        }
        let known = KnownNames::of(cx.facts);
        let mut entries: Vec<(&Document, &Block, bool)> = Vec::new();
        for doc in docs {
            for section in &doc.sections {
                let log_section = headings_of(section).any(|h| headings.hits(h));
                for block in &section.blocks {
                    let entry =
                        block.stamp.is_some() || (log_section && block.kind != BlockKind::Code);
                    if !entry {
                        continue;
                    }
                    let specific = block
                        .statements
                        .iter()
                        .any(|s| specificity.anchor(s, &known).is_some())
                        || block.has_query();
                    entries.push((doc, block, specific));
                }
            }
        }
        let specific = entries.iter().filter(|(_, _, s)| *s).count();
        let fraction = 0.5 * (entries.len() as f64 / min_entries as f64).min(1.0)
            + 0.5 * (specific as f64 / min_specific as f64).min(1.0);
        let summary = if entries.is_empty() {
            "no work log or exploration notes: nothing shows how the work went".to_string()
        } else {
            format!(
                "a work log of {} entr(ies), {specific} of them specific ({min_entries} and {min_specific} wanted)",
                entries.len()
            )
        };
        let evidence = entries
            .iter()
            .filter(|(_, _, s)| *s)
            .take(MAX_EVIDENCE)
            .map(|(doc, block, _)| {
                Evidence::at(
                    &doc.path,
                    Some(LineSpan {
                        start: block.line,
                        end: block.end_line,
                    }),
                    match &block.stamp {
                        Some(s) => format!("a specific entry stamped {s}"),
                        None => "a specific entry of a log section".to_string(),
                    },
                )
                .with_snippet(doc.quote(block.line, block.end_line, 4))
            });
        CheckResult::new(
            meta.id,
            Outcome::from_fraction(fraction),
            meta.confidence,
            summary,
        )
        .with_evidence(
            Evidence::note("work-log entries, and those that are specific")
                .with_measured(json!({ "entries": entries.len(), "specific": specific }))
                .with_expected(json!({ "entries": min_entries, "specific": min_specific })),
        )
        .with_all_evidence(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::docs::{artifacts, parse_with_format, DocFormat};
    use crate::checks::docs::testing::{facts, rubric_params};

    fn run(readme: &str, notes: Option<&str>) -> CheckResult {
        let mut f = facts(&["stg_payments", "fct_payments"], &[], readme);
        if let Some(text) = notes {
            let arts = artifacts(&f.inventory);
            f.docs.documents.push(parse_with_format(
                "notes.txt",
                text,
                &arts,
                DocFormat::PlainText,
            ));
        }
        let params = rubric_params("history.work_log");
        WorkLog.run(&CheckContext {
            facts: &f,
            params: &params,
        })
    }

    const LOG: &str = "WORK LOG\n\n09:10 profiled raw.payments: 3 % of event_id values repeat\n09:35 confirmed_at is naive: 80 % confirmed before created\n10:20 stg_payments keeps the first delivery per event_id\n11:00 added assert_payments_one_row_per_event, fails before the fix\n";

    #[test]
    fn a_timed_specific_log_in_notes_passes() {
        let r = run("# Solution\n\nSee notes.\n", Some(LOG));
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.summary);
        assert_eq!(r.evidence[1].file.as_deref(), Some("notes.txt"));
    }

    #[test]
    fn a_vague_log_earns_at_most_half() {
        let vague = "## Work log\n\n- Started.\n- Did the models.\n- Did the tests.\n- Finished and cleaned up.\n";
        let r = run(vague, None);
        assert!(
            matches!(r.outcome, Outcome::Partial { fraction } if fraction <= 0.5),
            "{:?}",
            r.outcome
        );
    }

    #[test]
    fn no_log_fails() {
        let r = run("# Solution\n\nBuilt the marts.\n", None);
        assert_eq!(r.outcome, Outcome::Fail);
    }
}
