//! Checks over the candidate's write-up. Prose cannot be executed, so every check
//! here is heuristic and weighs less than executed or static evidence. They read
//! statements, not words: a statement counts when it is on the topic (the
//! rubric's lexicon, or a section about it) and specific: it names the
//! submission's own code, holds a query, gives a figure with its meaning (a unit
//! or a comparison), or gives a reason at some length. A list of buzzwords earns
//! nothing, however many topics it names.

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

use std::collections::BTreeSet;

use serde_json::json;

use crate::analyse::dag::Known;
use crate::analyse::docs::{ArtifactKind, Block, Document, Lexicon, Section, Statement};
use crate::checks::{
    CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome, ParamError, Params,
};
use crate::facts::Facts;

/// Lines quoted per piece of evidence.
const QUOTE_LINES: usize = 12;

/// A lexicon read from the rubric: `key = ["pattern", ...]`.
pub(crate) fn lexicon(params: &Params, key: &str) -> Result<Lexicon, ParamError> {
    Ok(Lexicon::new(&params.string_list(key)?))
}

fn lower(v: Vec<String>) -> Vec<String> {
    v.into_iter().map(|s| s.to_lowercase()).collect()
}

/// Whether `word` is one of `list` (an entry ending in `*` matches a prefix).
fn word_in(list: &[String], word: &str) -> bool {
    !word.is_empty()
        && list.iter().any(|e| match e.strip_suffix('*') {
            Some(prefix) => word.starts_with(prefix),
            None => e == word,
        })
}

/// What makes a statement specific, as the rubric words it.
pub(crate) struct Specificity {
    /// Words after a number that give it a meaning (`%`, `h`, `rows`).
    units: Vec<String>,
    /// Words or symbols before a number that make it a threshold (`>`, `over`).
    comparators: Vec<String>,
    reasons: Lexicon,
    /// Words a specific statement needs at least.
    pub(crate) min_words_specific: usize,
    /// Words a statement anchored only by a reason needs at least.
    min_words_reasoned: usize,
}

impl Specificity {
    pub(crate) fn read(params: &Params) -> Result<Specificity, ParamError> {
        Ok(Specificity {
            units: lower(params.string_list("figure_units")?),
            comparators: lower(params.string_list("figure_comparators")?),
            reasons: lexicon(params, "reasons")?,
            min_words_specific: params.int("min_words_specific")?.max(1) as usize,
            min_words_reasoned: params.int("min_words_reasoned")?.max(1) as usize,
        })
    }

    /// A figure with its meaning: a number with a unit or compared with
    /// something. "100x" alone, a year or a list number is not one.
    pub(crate) fn gives_a_figure(&self, s: &Statement) -> bool {
        s.figures
            .iter()
            .any(|f| word_in(&self.units, &f.after) || word_in(&self.comparators, &f.before))
    }

    /// Why the statement counts, or `None`.
    pub(crate) fn anchor(&self, s: &Statement, known: &KnownNames) -> Option<String> {
        if s.list_like {
            return None;
        }
        if s.words >= self.min_words_specific {
            if let Some(r) = s.refs.iter().find(|r| r.kind != ArtifactKind::GenericTest) {
                return Some(format!("names `{}` of the submission", r.name));
            }
            if let Some(id) = s.identifiers.iter().find(|i| known.contains(i)) {
                return Some(format!("names `{id}`, which the code bears out"));
            }
            if s.has_query() {
                return Some("holds a query".into());
            }
            if self.gives_a_figure(s) {
                return Some("gives a figure with its meaning".into());
            }
            if !s.code.is_empty() {
                return Some("names code".into());
            }
        }
        if s.words >= self.min_words_reasoned && self.reasons.hits(&s.text) {
            return Some("gives a reason".into());
        }
        None
    }
}

/// Names the code of the submission bears out: models and their columns, tests,
/// sources, DAGs, tasks, the DAG settings and model configs actually set.
#[derive(Default)]
pub(crate) struct KnownNames(BTreeSet<String>);

impl KnownNames {
    pub(crate) fn of(facts: &Facts) -> KnownNames {
        let mut names = BTreeSet::new();
        let mut add = |s: &str| {
            names.insert(s.to_ascii_lowercase());
        };
        for project in &facts.dbt.projects {
            for m in &project.models {
                add(&m.name);
                if let Some(cols) = project.model_columns(&m.name) {
                    for c in cols {
                        add(&c);
                        add(&format!("{}.{c}", m.name));
                    }
                }
                let c = &m.config;
                if c.on_schema_change.is_some() {
                    add("on_schema_change");
                }
                if c.unique_key.is_some() {
                    add("unique_key");
                }
                if let Some(s) = &c.incremental_strategy {
                    add("incremental_strategy");
                    add(s);
                }
            }
            for y in &project.yaml_models {
                for c in &y.columns {
                    add(&c.name);
                    add(&format!("{}.{}", y.name, c.name));
                }
            }
            for s in &project.sources {
                add(&s.table);
                add(&format!("{}.{}", s.source, s.table));
                for c in &s.columns {
                    add(&c.name);
                }
                if let Some(f) = &s.loaded_at_field {
                    add(f);
                }
            }
            for t in &project.singular_tests {
                add(&crate::analyse::dbt::file_stem(&t.path));
            }
            for g in &project.generic_tests {
                add(g);
            }
            for m in &project.macros {
                add(&crate::analyse::dbt::file_stem(m));
            }
        }
        for dag in &facts.dag.dags {
            add(&dag.dag_id);
            for settings in [&dag.settings, &dag.default_args] {
                for (key, s) in settings {
                    if s.value.is_set() {
                        add(key);
                    }
                    if let Known::Callable(c) = &s.value {
                        add(&c.name);
                    }
                }
            }
            for t in &dag.tasks {
                add(&t.task_id);
                for (key, s) in &t.settings {
                    if s.origin == crate::analyse::dag::Origin::Task && s.value.is_set() {
                        add(key);
                    }
                }
            }
        }
        KnownNames(names)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// The generic tests dbt ships and the project defines.
    pub(crate) fn generic_tests(facts: &Facts) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = ["unique", "not_null", "relationships", "accepted_values"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for project in &facts.dbt.projects {
            out.extend(project.generic_tests.iter().map(|g| g.to_ascii_lowercase()));
        }
        out
    }
}

pub(crate) fn headings_of(section: &Section) -> impl Iterator<Item = &String> {
    std::iter::once(&section.heading).chain(section.parents.iter().rev())
}

/// Parameters every design-topic check reads from the rubric.
struct TopicParams {
    terms: Lexicon,
    heading_terms: Lexicon,
    specificity: Specificity,
    min_statements: usize,
}

impl TopicParams {
    fn read(params: &Params) -> Result<TopicParams, ParamError> {
        Ok(TopicParams {
            terms: lexicon(params, "terms")?,
            heading_terms: lexicon(params, "heading_terms")?,
            specificity: Specificity::read(params)?,
            min_statements: params.int("min_statements")?.max(1) as usize,
        })
    }

    fn heading_on_topic(&self, heading: &str) -> bool {
        self.terms.hits(heading) || self.heading_terms.hits(heading)
    }
}

/// Runs a design-topic check: counts specific statements on the topic.
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
            "no write-up: the submission has no Markdown document or notes of its own",
        );
    }
    let known = KnownNames::of(cx.facts);
    let mut found: Vec<Evidence> = Vec::new();
    let mut counted = 0usize;
    let mut topic_sections = 0usize;
    let mut lists = 0usize;
    for doc in docs {
        for section in &doc.sections {
            let in_topic_section = headings_of(section).any(|h| p.heading_on_topic(h));
            if in_topic_section && !section.blocks.is_empty() {
                topic_sections += 1;
            }
            for block in &section.blocks {
                let mut reasons: Vec<String> = Vec::new();
                for statement in &block.statements {
                    if !(in_topic_section || p.terms.hits(&statement.text)) {
                        continue;
                    }
                    match p.specificity.anchor(statement, &known) {
                        Some(why) => reasons.push(why),
                        None if statement.list_like => lists += 1,
                        None => {}
                    }
                }
                if reasons.is_empty() {
                    continue;
                }
                counted += reasons.len();
                found.push(
                    Evidence::at(
                        &doc.path,
                        Some(LineSpan {
                            start: block.line,
                            end: block.end_line,
                        }),
                        format!(
                            "{} specific statement(s): {}",
                            reasons.len(),
                            reasons.join("; ")
                        ),
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
    let fraction = (counted as f64 / p.min_statements as f64).min(1.0);
    let summary = if counted == 0 {
        if lists > 0 {
            "the write-up lists terms on the topic but says nothing specific about them".to_string()
        } else if topic_sections > 0 {
            "a section on the topic, but no statement in it is specific".to_string()
        } else {
            "the write-up does not address this".to_string()
        }
    } else {
        format!(
            "{counted} specific statement(s) on the topic in the write-up ({} wanted)",
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
        Evidence::note("statements on the topic that are specific")
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
            work_files: Vec::new(),
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
            code: Default::default(),
            dbt: Default::default(),
            review: None,
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
    fn an_operations_section_with_thresholds_is_monitoring_without_the_word() {
        let ops = "## Operations\n\n- Freshness: `payments` older than 6 h pages the on-call.\n- `fct_orders` row count falling below 70 % of the 7-day median posts to #data.\n";
        let r = run(&Monitoring, ops);
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.summary);
        // A paging synonym outside any topic heading is on topic too.
        let paging = "## Notes\n\n- A failed `dbt test` pages whoever holds the PagerDuty rota within 15 min.\n- Nothing else.\n";
        let r = run(&Monitoring, paging);
        assert!(
            matches!(r.outcome, Outcome::Partial { .. }),
            "{:?} {}",
            r.outcome,
            r.summary
        );
    }

    #[test]
    fn a_concise_bullet_with_several_decisions_counts_several_times() {
        let one = "## Scale\n\n- `stg_payments` incremental on `_airbyte_extracted_at`; marts rebuilt nightly in under 10 min.\n";
        let r = run(&Scaling, one);
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.summary);
        assert_eq!(r.evidence[0].measured, Some(json!(2)));
    }

    #[test]
    fn buzzword_bullets_earn_no_credit_for_a_figure() {
        let buzz = "## Design\n\n- Scalability (100x): partitioning, clustering, Spark\n- Monitoring: alerting, observability, SLAs\n- Schema evolution: contracts, on_schema_change\n";
        for check in [&Monitoring as &dyn Check, &Scaling, &SchemaEvolution] {
            let r = run(check, buzz);
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
    fn a_design_table_reads_each_row_with_its_headers() {
        let table = "## Production\n\n| Concern | Decision |\n|---|---|\n| Monitoring | Freshness of `payments` over 6 h alerts Slack |\n| Monitoring | `fct_orders` GMV moving more than 50 % alerts |\n| Scale | `fct_payments` is incremental |\n";
        assert_eq!(run(&Monitoring, table).outcome, Outcome::Pass);
        assert!(matches!(
            run(&Scaling, table).outcome,
            Outcome::Partial { .. }
        ));
    }

    #[test]
    fn no_markdown_is_not_attempted() {
        assert_eq!(run(&ToolChoices, "").outcome, Outcome::NotAttempted);
    }
}
