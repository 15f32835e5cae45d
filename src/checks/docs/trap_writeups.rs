use std::collections::BTreeMap;

use serde_json::json;

use super::{doc_quote, mentions, span_of};
use crate::analyse::docs::{word_count, ArtifactKind, Block, BlockKind, Document};
use crate::checks::{
    Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome, ParamError, Params,
};

crate::declare_check! {
    /// ## What it checks
    /// For each data trap of the exercise, whether the candidate's Markdown holds a
    /// write-up devoted to it, and what the write-up covers. A write-up is a section
    /// whose heading names exactly one trap, or a paragraph or list item that names
    /// one trap and no other (`max_traps_per_block`). Each write-up earns a quarter
    /// for each of: being a real write-up (`min_words` words), saying how the trap
    /// was found (a profiling query in code, or a measured share), naming the
    /// approach in the submission's own models or macros, and naming the test that
    /// guards it (a singular test of the submission, or a generic test in code, in a
    /// sentence about testing). Full credit needs `traps_for_full_credit` traps'
    /// worth of write-ups; the topic of each trap is described by the rubric
    /// (`traps`).
    ///
    /// ## Why it matters
    /// The exercise hides problems in the data on purpose. How a candidate found
    /// each one, what they decided and how they keep it fixed is the
    /// problem-solving the interview is about. Prose is a heuristic signal: the
    /// executed checks decide whether the trap was actually handled; this shows
    /// whether the candidate can explain it.
    ///
    /// ## How to pass
    /// Give each data problem its own section or bullet: the query that showed it,
    /// the model that handles it, and the test that would catch a regression. A
    /// sentence listing every trap at once earns nothing.
    pub struct TrapWriteups {
        id: "docs.trap_writeups",
        title: "Each data trap is written up: how found, approach, test",
        confidence: Heuristic,
    }
}

struct TrapParams {
    traps: BTreeMap<String, Vec<String>>,
    min_words: usize,
    max_traps_per_block: usize,
    full_credit: f64,
}

fn read_params(params: &Params) -> Result<TrapParams, ParamError> {
    let table = match params.0.get("traps") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            return Err(ParamError::WrongType(
                "traps".into(),
                "a table of trap id to topic phrases",
            ))
        }
        None => return Err(ParamError::Missing("traps".into())),
    };
    let mut traps = BTreeMap::new();
    for (id, terms) in table {
        let list = terms
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_lowercase))
                    .collect::<Vec<_>>()
            })
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                ParamError::WrongType(format!("traps.{id}"), "a non-empty list of strings")
            })?;
        traps.insert(id.clone(), list);
    }
    Ok(TrapParams {
        traps,
        min_words: params.int("min_words")?.max(1) as usize,
        max_traps_per_block: params.int("max_traps_per_block")?.max(1) as usize,
        full_credit: params.int("traps_for_full_credit")?.max(1) as f64,
    })
}

#[derive(Default)]
struct Coverage<'a> {
    blocks: Vec<(&'a Document, &'a Block)>,
    /// Lines of the headings that name the trap, so evidence quotes them too.
    headings: Vec<(&'a Document, u32)>,
    /// Blocks under a heading that names the trap.
    owned: Vec<&'a Block>,
}

impl Check for TrapWriteups {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let id = Self::META.id;
        let p = match read_params(cx.params) {
            Ok(p) => p,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let docs = &cx.facts.docs.documents;
        if docs.is_empty() {
            return CheckResult::new(
                id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "no write-up: the submission has no Markdown document of its own",
            );
        }
        let traps_in = |text: &str| -> Vec<&String> {
            let lower = text.to_lowercase();
            p.traps
                .iter()
                .filter(|(_, terms)| mentions(&lower, terms))
                .map(|(id, _)| id)
                .collect()
        };
        let mut coverage: BTreeMap<&String, Coverage> = BTreeMap::new();
        for doc in docs {
            for section in &doc.sections {
                // The nearest heading that names exactly one trap owns the section.
                let owner = std::iter::once(&section.heading)
                    .chain(section.parents.iter().rev())
                    .map(|h| traps_in(h))
                    .find(|t| !t.is_empty())
                    .filter(|t| t.len() == 1)
                    .map(|t| t[0]);
                if let (Some(trap), false) = (owner, section.blocks.is_empty()) {
                    coverage
                        .entry(trap)
                        .or_default()
                        .headings
                        .push((doc, section.line));
                }
                for block in &section.blocks {
                    if let Some(trap) = owner {
                        let cov = coverage.entry(trap).or_default();
                        cov.blocks.push((doc, block));
                        cov.owned.push(block);
                        continue;
                    }
                    if matches!(block.kind, BlockKind::Code | BlockKind::Table) {
                        continue;
                    }
                    let named = traps_in(&block.text);
                    if !named.is_empty() && named.len() <= p.max_traps_per_block {
                        for trap in named {
                            coverage.entry(trap).or_default().blocks.push((doc, block));
                        }
                    }
                }
            }
        }

        let mut total = 0.0;
        let mut evidence = Vec::new();
        let mut covered = 0usize;
        for trap in p.traps.keys() {
            let Some(cov) = coverage.get(trap) else {
                evidence.push(
                    Evidence::note(format!("{trap}: no write-up"))
                        .with_measured(json!({ "trap": trap, "written": false, "found": false, "approach": false, "tested": false })),
                );
                continue;
            };
            covered += 1;
            let prose_words: usize = cov
                .blocks
                .iter()
                .filter(|(_, b)| b.kind != BlockKind::Code)
                .map(|(_, b)| b.words())
                .sum();
            let written = prose_words >= p.min_words;
            let found = cov
                .blocks
                .iter()
                .any(|(_, b)| b.has_query() || gives_a_share(&b.text));
            let approach = cov.blocks.iter().any(|(_, b)| {
                b.names(ArtifactKind::Model)
                    || b.names(ArtifactKind::Macro)
                    || b.names(ArtifactKind::Dag)
            });
            let tested = cov.blocks.iter().any(|(_, b)| {
                b.names(ArtifactKind::SingularTest)
                    || (b.names(ArtifactKind::GenericTest) && speaks_of_testing(b))
            });
            let credit = [written, found, approach, tested]
                .iter()
                .filter(|x| **x)
                .count() as f64
                / 4.0;
            total += credit;
            let mark = |b: bool| if b { "yes" } else { "no" };
            let note = format!(
                "{trap}: written up ({prose_words} words); how found: {}; approach in own code: {}; test named: {}",
                mark(found),
                mark(approach),
                mark(tested)
            );
            // Evidence points at the first document holding the write-up.
            let first_doc = cov
                .owned
                .first()
                .and_then(|o| cov.blocks.iter().find(|(_, b)| std::ptr::eq(*b, *o)))
                .unwrap_or(&cov.blocks[0])
                .0;
            // A section devoted to the trap is the write-up to quote; stray
            // single-trap blocks elsewhere only add to the facets.
            let in_first: Vec<&Block> = cov
                .blocks
                .iter()
                .filter(|(d, _)| std::ptr::eq(*d, first_doc))
                .map(|(_, b)| *b)
                .collect();
            let owned: Vec<&Block> = in_first
                .iter()
                .copied()
                .filter(|b| cov.owned.iter().any(|o| std::ptr::eq(*o, *b)))
                .collect();
            let blocks = if owned.is_empty() { in_first } else { owned };
            let heading = cov
                .headings
                .iter()
                .filter(|(d, _)| std::ptr::eq(*d, first_doc))
                .map(|(_, l)| *l)
                .min();
            let span = span_of(&blocks).map(|mut s| {
                if let Some(h) = heading {
                    s.start = s.start.min(h);
                }
                s
            });
            let mut ev = Evidence::at(&first_doc.path, span, note).with_measured(json!({
                "trap": trap,
                "written": written,
                "found": found,
                "approach": approach,
                "tested": tested,
            }));
            if let Some(span) = span {
                ev = ev.with_snippet(doc_quote(first_doc, span));
            }
            evidence.push(ev);
        }
        let fraction = (total / p.full_credit).min(1.0);
        CheckResult::new(
            id,
            Outcome::from_fraction(fraction),
            Self::META.confidence,
            format!(
                "{covered} of {} traps written up; {:.1} traps' worth of how-found, approach and test",
                p.traps.len(),
                total
            ),
        )
        .with_evidence(
            Evidence::note("traps' worth of write-ups (each trap: written, found, approach, test)")
                .with_measured(json!((total * 100.0).round() / 100.0))
                .with_expected(json!(p.full_credit)),
        )
        .with_all_evidence(evidence)
    }
}

/// A measured share ("3 %", "a few percent", "1 in 12") says the candidate
/// counted, which is how a trap is found.
fn gives_a_share(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.contains("percent") || lower.contains(" in every ") {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    chars.iter().enumerate().any(|(i, c)| {
        *c == '%'
            && chars[..i]
                .iter()
                .rev()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| c.is_ascii_digit())
    })
}

fn speaks_of_testing(block: &Block) -> bool {
    let lower = block.text.to_lowercase();
    lower.contains("test") && word_count(&block.text) > 2
}

#[cfg(test)]
mod tests {
    use super::super::testing::{facts, rubric_params};
    use super::*;
    use crate::checks::Params;

    fn run(models: &[&str], tests: &[&str], readme: &str) -> CheckResult {
        let facts = facts(models, tests, readme);
        let params: Params = rubric_params("docs.trap_writeups");
        TrapWriteups.run(&CheckContext {
            facts: &facts,
            params: &params,
        })
    }

    const MODELS: &[&str] = &["stg_payments", "fct_payments", "stg_orders", "dim_users"];

    const STRONG: &str = "# Solution\n\n## Data issues\n\n### Payment events delivered more than once\n\n*Found:* `select event_id, count(*) from raw.payments group by 1 having count(*) > 1` shows groups of two or three identical rows.\n\n*Approach:* `stg_payments` keeps the first delivery per event id; `fct_payments` merges on it.\n\n*Tests:* `unique` on `fct_payments.event_id` and the singular test `assert_payments_one_row_per_event`.\n\n### confirmed_at has no time zone\n\n*Found:* read as UTC, 80 % of orders are confirmed before they were created: `select count(*) from raw.orders where confirmed_at < created_at`.\n\n*Approach:* `stg_orders` converts from New York time to UTC with a DST-aware macro.\n\n*Tests:* singular test `assert_no_order_confirmed_before_created`.\n";

    #[test]
    fn a_structured_write_up_earns_its_facets() {
        let r = run(
            MODELS,
            &[
                "assert_payments_one_row_per_event",
                "assert_no_order_confirmed_before_created",
            ],
            STRONG,
        );
        let t1 = r
            .evidence
            .iter()
            .find(|e| e.measured.as_ref().is_some_and(|m| m["trap"] == "T1"))
            .unwrap();
        let m = t1.measured.as_ref().unwrap();
        assert_eq!(
            (
                m["written"].as_bool(),
                m["found"].as_bool(),
                m["approach"].as_bool(),
                m["tested"].as_bool()
            ),
            (Some(true), Some(true), Some(true), Some(true)),
            "{m}"
        );
        assert_eq!(t1.file.as_deref(), Some("README.md"));
        assert!(t1
            .snippet
            .as_deref()
            .unwrap()
            .contains("delivered more than once"));
        let t3 = r
            .evidence
            .iter()
            .find(|e| e.measured.as_ref().is_some_and(|m| m["trap"] == "T3"))
            .unwrap();
        assert_eq!(t3.measured.as_ref().unwrap()["tested"], true);
        // Two full traps out of the rubric's bar for full credit.
        assert!(
            matches!(r.outcome, Outcome::Partial { fraction } if fraction > 0.2),
            "{:?}",
            r.outcome
        );
    }

    #[test]
    fn a_keyword_list_earns_nothing() {
        let stuffed = "# Marketplace ELT\n\n## Data quality\n\nHandled: duplicates (dedup with row_number / qualify), late-arriving data and future timestamps (watermark), timezone-naive timestamps (AT TIME ZONE), soft deletes (is_deleted), NULL country_code (coalesce), multi-currency (exchange rates), out-of-order events (sequence_number), orphans (referential integrity). Tests: `unique`, `not_null`, `relationships`, singular tests in stg_payments and fct_payments.\n";
        let r = run(MODELS, &[], stuffed);
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.summary);
    }

    #[test]
    fn claims_about_code_that_does_not_exist_earn_no_approach_or_test() {
        let r = run(&[], &[], STRONG);
        let t1 = r
            .evidence
            .iter()
            .find(|e| e.measured.as_ref().is_some_and(|m| m["trap"] == "T1"))
            .unwrap();
        let m = t1.measured.as_ref().unwrap();
        assert_eq!(m["approach"], false);
        // `unique` in code inside a sentence about tests still names a generic test.
        assert_eq!(m["found"], true);
    }

    #[test]
    fn no_markdown_means_not_attempted() {
        let r = run(MODELS, &[], "");
        assert_eq!(r.outcome, Outcome::NotAttempted);
    }

    #[test]
    fn shares_are_recognised() {
        assert!(gives_a_share("about 4 % of rows"));
        assert!(gives_a_share("a few percent"));
        assert!(gives_a_share("100% sure"));
        assert!(!gives_a_share("no figures here"));
    }
}
