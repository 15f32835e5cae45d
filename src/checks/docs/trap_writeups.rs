use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{doc_quote, headings_of, lexicon, span_of, KnownNames, Specificity};
use crate::analyse::docs::{
    code_spans, identifiers, word_count, ArtifactKind, Block, BlockKind, Document, Lexicon,
};
use crate::checks::{
    Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome, ParamError, Params,
};

crate::declare_check! {
    /// ## What it checks
    /// For each data trap of the exercise, whether the candidate's write-up
    /// (Markdown or plain-text notes) holds a write-up devoted to it, and what the
    /// write-up covers. A write-up is a section whose heading names exactly one
    /// trap, a table row that names one (its first cell decides when the row names
    /// several), or a paragraph or list item that names one trap and no other
    /// (`max_traps_per_block`). The rubric's lexicon says which words name which
    /// trap (`traps`, whole words and phrases; `t1` … `t8` included). Each
    /// write-up earns a quarter for each of: being a real write-up (`min_words`
    /// words, or `min_words_specific` words that name the submission's code, a
    /// query or a figure with its meaning), saying how the trap was found (a
    /// profiling query in code, a profiling file of the submission, or a measured
    /// share), naming the approach in the submission's own models, macros or DAG,
    /// and naming the test that guards it (a singular test of the submission, or a
    /// generic test — dbt's own or one the project defines — or a unit test, where
    /// the write-up speaks of testing: `test_words`, or a column headed so).
    /// Full credit needs `traps_for_full_credit` traps' worth of write-ups.
    ///
    /// ## Why it matters
    /// The exercise hides problems in the data on purpose. How a candidate found
    /// each one, what they decided and how they keep it fixed is the
    /// problem-solving the interview is about. Prose is a heuristic signal: the
    /// executed checks decide whether the trap was actually handled; this shows
    /// whether the candidate can explain it.
    ///
    /// ## Example
    /// A table `| Finding | How found | Decision | Where guarded |` with the row
    /// `| T1 payments delivered twice | analyses/profile_payments.sql: 3 % repeat |
    /// stg_payments keeps the first delivery | assert_payments_one_row_per_event |`
    /// earns all four quarters for T1. "Handled: duplicates, timezones, soft
    /// deletes, …" earns nothing: it names every trap at once and none of the work.
    ///
    /// ## How to pass
    /// Give each data problem its own section, bullet or table row: the query that
    /// showed it, the model that handles it, and the test that would catch a
    /// regression. A sentence listing every trap at once earns nothing.
    pub struct TrapWriteups {
        id: "docs.trap_writeups",
        title: "Each data trap is written up: how found, approach, test",
        confidence: Heuristic,
    }
}

struct TrapParams {
    traps: BTreeMap<String, Lexicon>,
    min_words: usize,
    max_traps_per_block: usize,
    full_credit: f64,
    test_words: Lexicon,
    unit_test_words: Lexicon,
    specificity: Specificity,
}

fn read_params(params: &Params) -> Result<TrapParams, ParamError> {
    let mut traps = BTreeMap::new();
    for (id, terms) in params.string_lists("traps")? {
        if terms.is_empty() {
            return Err(ParamError::WrongType(
                format!("traps.{id}"),
                "a non-empty list of strings",
            ));
        }
        traps.insert(id, Lexicon::new(&terms));
    }
    Ok(TrapParams {
        traps,
        min_words: params.int("min_words")?.max(1) as usize,
        max_traps_per_block: params.int("max_traps_per_block")?.max(1) as usize,
        full_credit: params.int("traps_for_full_credit")?.max(1) as f64,
        test_words: lexicon(params, "test_words")?,
        unit_test_words: lexicon(params, "unit_test_words")?,
        specificity: Specificity::read(params)?,
    })
}

#[derive(Default)]
struct Coverage<'a> {
    blocks: Vec<(&'a Document, &'a Block)>,
    /// Lines of the headings that name the trap, so evidence quotes them too.
    headings: Vec<(&'a Document, u32)>,
    /// Blocks under a heading that names the trap, or table rows of it.
    owned: Vec<&'a Block>,
}

impl TrapParams {
    fn traps_in(&self, text: &str) -> Vec<&String> {
        self.traps
            .iter()
            .filter(|(_, lex)| lex.hits(text))
            .map(|(id, _)| id)
            .collect()
    }
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
                "no write-up: the submission has no Markdown document or notes of its own",
            );
        }
        let known = KnownNames::of(cx.facts);
        let generic = KnownNames::generic_tests(cx.facts);
        let mut coverage: BTreeMap<&String, Coverage> = BTreeMap::new();
        for doc in docs {
            for section in &doc.sections {
                // The nearest heading that names exactly one trap owns the section.
                let owner = headings_of(section)
                    .map(|h| p.traps_in(h))
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
                    if block.kind == BlockKind::TableRow {
                        // A row of a findings table is a write-up of its own trap.
                        let first = block.cells.first().map(|c| p.traps_in(&c.text));
                        let named = match first {
                            Some(t) if t.len() == 1 => t,
                            _ => p.traps_in(&block.text),
                        };
                        let trap = match (named.len(), owner) {
                            (1, _) => Some(named[0]),
                            (0, Some(o)) => Some(o),
                            _ => None,
                        };
                        if let Some(trap) = trap {
                            let cov = coverage.entry(trap).or_default();
                            cov.blocks.push((doc, block));
                            cov.owned.push(block);
                        }
                        continue;
                    }
                    if let Some(trap) = owner {
                        let cov = coverage.entry(trap).or_default();
                        cov.blocks.push((doc, block));
                        cov.owned.push(block);
                        continue;
                    }
                    if block.kind == BlockKind::Code {
                        continue;
                    }
                    let named = p.traps_in(&block.text);
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
            let prose = || {
                cov.blocks
                    .iter()
                    .filter(|(_, b)| b.kind != BlockKind::Code)
                    .map(|(_, b)| *b)
            };
            let prose_words: usize = prose().map(|b| b.words()).sum();
            let specific = prose()
                .flat_map(|b| b.statements.iter())
                .any(|s| p.specificity.anchor(s, &known).is_some() && !s.list_like);
            let written = prose_words >= p.min_words
                || (specific && prose_words >= p.specificity.min_words_specific);
            let found = cov.blocks.iter().any(|(_, b)| {
                b.has_query()
                    || b.names(ArtifactKind::Analysis)
                    || gives_a_share(&b.text)
                    || b.statements
                        .iter()
                        .any(|s| !s.list_like && p.specificity.gives_a_figure(s))
            });
            let approach = cov.blocks.iter().any(|(_, b)| {
                b.names(ArtifactKind::Model)
                    || b.names(ArtifactKind::Macro)
                    || b.names(ArtifactKind::Dag)
            });
            let tested = cov
                .blocks
                .iter()
                .any(|(_, b)| names_a_guard(b, &p, &generic));
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
            // A section or row devoted to the trap is the write-up to quote;
            // stray single-trap blocks elsewhere only add to the facets.
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

/// The block names the test that guards the handling: a singular test of the
/// submission, or a generic or unit test where it speaks of testing (in its own
/// words or in the header of the cell that names it).
fn names_a_guard(block: &Block, p: &TrapParams, generic: &BTreeSet<String>) -> bool {
    if block.names(ArtifactKind::SingularTest) {
        return true;
    }
    let names_generic = |ids: &[String]| ids.iter().any(|i| generic.contains(i));
    // A unit test exercises a model: it must name one of the submission's.
    let unit_test = |text: &str| p.unit_test_words.hits(text) && block.names(ArtifactKind::Model);
    if block.kind == BlockKind::TableRow {
        return block.cells.iter().any(|cell| {
            let testing = p.test_words.hits(&cell.header) || p.test_words.hits(&cell.text);
            let code = code_spans(&cell.text);
            testing && (names_generic(&identifiers(&cell.text, &code)) || unit_test(&cell.text))
        });
    }
    if !p.test_words.hits(&block.text) || word_count(&block.text) <= 2 {
        return false;
    }
    block
        .statements
        .iter()
        .any(|s| names_generic(&s.identifiers))
        || block.names(ArtifactKind::GenericTest)
        || unit_test(&block.text)
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

    const TABLE: &str = "# Solution\n\n## What the data hid\n\n| Finding | How found | Decision | Where guarded |\n|---|---|---|---|\n| T1 payment events delivered twice | `profile_payments` query: 3 % of event_id repeat | `stg_payments` keeps the first delivery | `assert_payments_one_row_per_event` |\n| T3 confirmed_at is New York local time | 80 % confirmed before created | `stg_orders` converts to UTC | `non_negative` test on minutes_to_confirm |\n| T5 users without a country | 8 % NULL | `dim_users` maps to ZZ | `not_null` |\n";

    fn measured(r: &CheckResult, trap: &str) -> serde_json::Value {
        r.evidence
            .iter()
            .find(|e| e.measured.as_ref().is_some_and(|m| m["trap"] == trap))
            .and_then(|e| e.measured.clone())
            .unwrap()
    }

    #[test]
    fn a_findings_table_is_read_row_by_row() {
        let mut f = facts(
            &["stg_payments", "stg_orders", "dim_users"],
            &["assert_payments_one_row_per_event"],
            TABLE,
        );
        // The project defines its own generic test.
        f.dbt.projects.push(crate::analyse::dbt::DbtProjectFacts {
            generic_tests: vec!["non_negative".into()],
            ..Default::default()
        });
        let params = rubric_params("docs.trap_writeups");
        let r = TrapWriteups.run(&CheckContext {
            facts: &f,
            params: &params,
        });
        let t1 = measured(&r, "T1");
        assert_eq!(t1["written"], true, "{t1}");
        assert_eq!(t1["found"], true, "{t1}");
        assert_eq!(t1["approach"], true, "{t1}");
        assert_eq!(t1["tested"], true, "{t1}");
        let t3 = measured(&r, "T3");
        assert_eq!(
            t3["tested"], true,
            "a custom generic test in a guard column: {t3}"
        );
        let t5 = measured(&r, "T5");
        assert_eq!(t5["tested"], true, "`not_null` under 'Where guarded': {t5}");
        assert_eq!(measured(&r, "T2")["written"], false);
        let row = r
            .evidence
            .iter()
            .find(|e| e.note.starts_with("T1"))
            .unwrap();
        assert_eq!(row.lines.map(|l| l.start), Some(7));
    }

    #[test]
    fn a_short_specific_bullet_is_a_write_up() {
        let readme = "## Issues\n\n- Duplicate payments: `stg_payments` keeps the first delivery per event_id.\n";
        let r = run(MODELS, &[], readme);
        let t1 = measured(&r, "T1");
        assert_eq!(t1["written"], true, "{t1}");
        let vague = "## Issues\n\n- Duplicate payments were handled somewhere.\n";
        let t1 = measured(&run(MODELS, &[], vague), "T1");
        assert_eq!(t1["written"], false, "{t1}");
    }

    #[test]
    fn a_unit_test_is_a_guard_when_it_names_the_model() {
        let readme = "## Currencies\n\nA dbt unit test on `fct_payments` feeds EUR rows and expects USD amounts.\n";
        let t6 = measured(&run(MODELS, &[], readme), "T6");
        assert_eq!(t6["tested"], true, "{t6}");
        let t6 = measured(
            &run(
                MODELS,
                &[],
                "## Currencies\n\nA unit test would help here one day.\n",
            ),
            "T6",
        );
        assert_eq!(t6["tested"], false, "{t6}");
    }

    #[test]
    fn plain_text_notes_are_read() {
        let mut f = facts(
            MODELS,
            &["assert_payments_one_row_per_event"],
            "# S\n\nSee notes.\n",
        );
        let arts = crate::analyse::docs::artifacts(&f.inventory);
        f.docs.documents.push(crate::analyse::docs::parse_with_format(
            "notes.txt",
            "DUPLICATES\n\nselect event_id, count(*) from raw.payments group by 1 having count(*) > 1\nshows 3 % repeats. stg_payments keeps the first; assert_payments_one_row_per_event guards it.\n",
            &arts,
            crate::analyse::docs::DocFormat::PlainText,
        ));
        let params = rubric_params("docs.trap_writeups");
        let r = TrapWriteups.run(&CheckContext {
            facts: &f,
            params: &params,
        });
        let t1 = measured(&r, "T1");
        assert_eq!(
            (&t1["written"], &t1["found"], &t1["approach"], &t1["tested"]),
            (&json!(true), &json!(true), &json!(true), &json!(true)),
            "{t1}"
        );
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
