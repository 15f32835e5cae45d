//! Checks over the candidate's write-up. Prose cannot be executed, so every check
//! here is heuristic and weighs less than executed or static evidence. They read
//! structure and substance: a section devoted to one topic, statements long enough
//! to say something, anchored to the submission's own models, tests, figures or
//! reasons. A list of buzzwords (one sentence naming every topic) earns nothing.

mod monitoring;
mod scaling;
mod schema_evolution;
mod tool_choices;
mod trap_writeups;

pub use monitoring::Monitoring;
pub use scaling::Scaling;
pub use schema_evolution::SchemaEvolution;
pub use tool_choices::ToolChoices;
pub use trap_writeups::TrapWriteups;

use serde_json::json;

use crate::analyse::docs::{ArtifactKind, Block, BlockKind, Document, Section};
use crate::checks::{
    CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome, ParamError, Params,
};

/// Lines quoted per piece of evidence.
const QUOTE_LINES: usize = 12;

/// Whether `text` (lower-cased) contains any of `terms` (lower-case phrases).
pub(crate) fn mentions(text_lower: &str, terms: &[String]) -> bool {
    terms.iter().any(|t| text_lower.contains(t.as_str()))
}

/// A comma-separated run of nouns rather than a statement: the shape of a
/// keyword list.
pub(crate) fn is_list_of_terms(text: &str) -> bool {
    let words = crate::analyse::docs::word_count(text);
    let commas = text.matches(',').count();
    words == 0 || commas * 3 > words
}

/// The sentences of a paragraph, or the whole block for list items.
pub(crate) fn statements(block: &Block) -> Vec<String> {
    match block.kind {
        BlockKind::ListItem => vec![block.text.replace('\n', " ")],
        BlockKind::Paragraph => {
            let flat = block.text.replace('\n', " ");
            let mut out = Vec::new();
            let mut current = String::new();
            let chars: Vec<char> = flat.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                current.push(*c);
                let ends = matches!(c, '.' | '!' | '?')
                    && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
                if ends {
                    out.push(std::mem::take(&mut current).trim().to_string());
                }
            }
            if !current.trim().is_empty() {
                out.push(current.trim().to_string());
            }
            out
        }
        BlockKind::Table | BlockKind::Code => Vec::new(),
    }
}

fn headings_of(section: &Section) -> impl Iterator<Item = &String> {
    std::iter::once(&section.heading).chain(section.parents.iter().rev())
}

/// Parameters every design-topic check reads from the rubric.
struct TopicParams {
    terms: Vec<String>,
    other_terms: Vec<String>,
    reasons: Vec<String>,
    min_words: usize,
    min_statements: usize,
}

impl TopicParams {
    fn read(params: &Params) -> Result<TopicParams, ParamError> {
        let lower = |v: Vec<String>| v.into_iter().map(|s| s.to_lowercase()).collect();
        Ok(TopicParams {
            terms: lower(params.string_list("terms")?),
            other_terms: lower(params.string_list("other_terms")?),
            reasons: lower(params.string_list("reasons")?),
            min_words: params.int("min_words")?.max(1) as usize,
            min_statements: params.int("min_statements")?.max(1) as usize,
        })
    }
}

/// A statement that counts for a design topic: on topic (in a section about it,
/// or alone on the topic), long enough, not a list of terms, and anchored in
/// something checkable: code, a figure, one of the submission's artifacts or a
/// stated reason.
fn substantive(statement: &str, block: &Block, p: &TopicParams) -> Option<&'static str> {
    if crate::analyse::docs::word_count(statement) < p.min_words || is_list_of_terms(statement) {
        return None;
    }
    let lower = statement.to_lowercase();
    if statement.contains('`') {
        return Some("names code");
    }
    if statement.chars().any(|c| c.is_ascii_digit()) {
        return Some("gives a figure");
    }
    if block
        .refs
        .iter()
        .any(|r| r.kind != ArtifactKind::GenericTest && lower.contains(r.name.as_str()))
    {
        return Some("names the submission's own code");
    }
    if p.reasons
        .iter()
        .any(|r| format!(" {lower} ").contains(&format!(" {r} ")))
    {
        return Some("gives a reason");
    }
    None
}

/// Runs a design-topic check: counts substantive statements on the topic.
pub(crate) fn design_topic(meta: &CheckMeta, cx: &CheckContext) -> CheckResult {
    let p = match TopicParams::read(cx.params) {
        Ok(p) => p,
        Err(e) => return CheckResult::new(meta.id, Outcome::Error, meta.confidence, e.to_string()),
    };
    let docs = &cx.facts.docs.documents;
    if docs.is_empty() {
        return CheckResult::new(
            meta.id,
            Outcome::NotAttempted,
            meta.confidence,
            "no write-up: the submission has no Markdown document of its own",
        );
    }
    let mut found: Vec<Evidence> = Vec::new();
    let mut topic_sections = 0usize;
    for doc in docs {
        for section in &doc.sections {
            let in_topic_section = headings_of(section).any(|h| {
                let h = h.to_lowercase();
                mentions(&h, &p.terms) && !mentions(&h, &p.other_terms)
            });
            if in_topic_section && section.blocks.iter().any(|b| b.kind != BlockKind::Code) {
                topic_sections += 1;
            }
            for block in &section.blocks {
                for statement in statements(block) {
                    let lower = statement.to_lowercase();
                    let on_topic = if in_topic_section {
                        !mentions(&lower, &p.other_terms)
                    } else {
                        mentions(&lower, &p.terms) && !mentions(&lower, &p.other_terms)
                    };
                    if !on_topic {
                        continue;
                    }
                    if let Some(why) = substantive(&statement, block, &p) {
                        found.push(
                            Evidence::at(
                                &doc.path,
                                Some(LineSpan {
                                    start: block.line,
                                    end: block.end_line,
                                }),
                                format!("a statement that {why}"),
                            )
                            .with_snippet(doc.quote(
                                block.line,
                                block.end_line,
                                QUOTE_LINES,
                            )),
                        );
                    }
                }
            }
        }
    }
    // One block may hold several qualifying sentences; count statements, show blocks once.
    let counted = found.len();
    found.dedup_by(|a, b| a.file == b.file && a.lines == b.lines);
    let fraction = (counted as f64 / p.min_statements as f64).min(1.0);
    let summary = if counted == 0 {
        if topic_sections > 0 {
            "a section on the topic, but no statement in it says anything checkable".to_string()
        } else {
            "the write-up does not address this".to_string()
        }
    } else {
        format!(
            "{counted} substantive statement(s) on the topic in the write-up ({} wanted)",
            p.min_statements
        )
    };
    let mut result = CheckResult::new(
        meta.id,
        Outcome::from_fraction(fraction),
        meta.confidence,
        summary,
    )
    .with_evidence(
        Evidence::note("statements that are on topic, specific and anchored")
            .with_measured(json!(counted))
            .with_expected(json!(p.min_statements)),
    );
    result.evidence.extend(found.into_iter().take(8));
    result
}

/// Where a document's blocks are, for evidence.
pub(crate) fn span_of(blocks: &[&Block]) -> Option<LineSpan> {
    let start = blocks.iter().map(|b| b.line).min()?;
    let end = blocks.iter().map(|b| b.end_line).max()?;
    Some(LineSpan { start, end })
}

pub(crate) fn doc_quote(doc: &Document, span: LineSpan) -> String {
    doc.quote(span.start, span.end, QUOTE_LINES)
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;

    use crate::acquire::SourceKind;
    use crate::analyse::docs::{artifacts, parse_document, DocsFacts};
    use crate::checks::Params;
    use crate::facts::{Facts, SubmissionFacts};
    use crate::inventory::{DbtProject, Inventory};

    /// Facts of a submission with the given models, singular tests and README.
    pub fn facts(models: &[&str], tests: &[&str], readme: &str) -> Facts {
        let inventory = Inventory {
            root: PathBuf::from("/nonexistent"),
            files: Vec::new(),
            dbt_projects: vec![DbtProject {
                models: models.iter().map(|m| format!("models/{m}.sql")).collect(),
                singular_tests: tests.iter().map(|t| format!("tests/{t}.sql")).collect(),
                ..DbtProject::default()
            }],
            dags: vec!["dags/marketplace_elt.py".into()],
            docs: vec!["README.md".into()],
        };
        let arts = artifacts(&inventory);
        let docs = DocsFacts {
            documents: if readme.is_empty() {
                Vec::new()
            } else {
                vec![parse_document("README.md", readme, &arts)]
            },
            skipped: Vec::new(),
        };
        Facts {
            submission: SubmissionFacts {
                name: "t".into(),
                kind: SourceKind::Folder,
                commit: None,
                starter_compared: true,
            },
            inventory,
            history: None,
            docs,
            dag: Default::default(),
            dbt: Default::default(),
            execution: None,
        }
    }

    /// The rubric's parameters for a check, so tests grade as the rubric does.
    pub fn rubric_params(check: &str) -> Params {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/rubric/marketplace-elt.toml");
        let rubric = crate::rubric::Rubric::load(path.as_ref(), &|id| {
            crate::checks::find(id).is_some() || id.starts_with("hidden.")
        })
        .expect("the rubric loads");
        rubric
            .dimensions
            .iter()
            .flat_map(|d| d.criteria.iter())
            .find(|c| c.check == check)
            .map(|c| c.params.clone())
            .unwrap_or_else(|| panic!("the rubric scores {check}"))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{facts, rubric_params};
    use super::*;
    use crate::checks::Check;

    fn run(check: &dyn Check, readme: &str) -> CheckResult {
        let facts = facts(&["stg_payments", "fct_orders"], &[], readme);
        let params = rubric_params(check.meta().id);
        check.run(&CheckContext {
            facts: &facts,
            params: &params,
        })
    }

    const DESIGN: &str = "# Solution\n\n## Monitoring and alerting\n\n- Every task posts to Slack through `on_failure_callback`, with the log link.\n- I would alert when daily GMV moves more than 50 % from the previous day.\n\n## At 100x the volume\n\n- `stg_payments` deduplicates over all history and would become the cost, so it turns incremental.\n- Partition raw payments by extraction date because every sync only touches the newest days.\n";

    #[test]
    fn anchored_statements_in_a_topic_section_pass() {
        let r = run(&Monitoring, DESIGN);
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.summary);
        assert_eq!(r.evidence[1].file.as_deref(), Some("README.md"));
        assert!(r.evidence[1]
            .snippet
            .as_deref()
            .unwrap()
            .contains("on_failure_callback"));
        assert_eq!(run(&Scaling, DESIGN).outcome, Outcome::Pass);
        assert_eq!(run(&SchemaEvolution, DESIGN).outcome, Outcome::Fail);
    }

    #[test]
    fn a_buzzword_paragraph_earns_nothing() {
        let stuffed = "# Marketplace ELT\n\n## System design\n\nMonitoring and alerting, observability, SLAs, scaling to 100x (partitioning, clustering, Spark), schema evolution (on_schema_change), data contracts, tool choices (Fivetran vs Airbyte, Spark vs dbt), CDC with Debezium/Kafka.\n";
        for check in [
            &Monitoring as &dyn Check,
            &Scaling,
            &SchemaEvolution,
            &ToolChoices,
        ] {
            let r = run(check, stuffed);
            assert_eq!(
                r.outcome,
                Outcome::Fail,
                "{}: {}",
                check.meta().id,
                r.summary
            );
        }
    }

    #[test]
    fn vague_statements_under_the_right_heading_earn_nothing() {
        let vague = "## Monitoring\n\n- We should monitor things.\n- Alerting is important for the team overall.\n";
        assert_eq!(run(&Monitoring, vague).outcome, Outcome::Fail);
    }

    #[test]
    fn no_markdown_is_not_attempted() {
        assert_eq!(run(&ToolChoices, "").outcome, Outcome::NotAttempted);
    }
}
