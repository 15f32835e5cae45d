use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::analyse::dag::{Dag, Known, Stage, Task};
use crate::checks::dag::{dag_evidence, setting_evidence, task_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};
use crate::facts::Facts;

crate::declare_check! {
    /// ## What it checks
    /// Production features that live in the candidate's code, each found in the
    /// analysers' facts with its file and line. The rubric lists which count
    /// (`features`) and how many earn full credit (`features_for_full_credit`):
    ///
    /// - `alerting`: a DAG's failure reaches a person — a working
    ///   `on_failure_callback` or `sla_miss_callback` (a function with a body or a
    ///   notifier), or `email` with `email_on_failure`, on the DAG, its
    ///   `default_args` or a task. A callback whose body is only `pass` is none.
    /// - `quality_gate`: a task that asserts the data (dbt test, a SQL check, a
    ///   check function) runs upstream of a publishing task, so bad data stops
    ///   before it is published.
    /// - `freshness`: a dbt source of the candidate declares `freshness` (with a
    ///   `loaded_at_field`), or the DAG runs `dbt source freshness`.
    /// - `sla`: an `sla`, `sla_miss_callback` or `dagrun_timeout` is set.
    /// - `schema_change`: an incremental model of the candidate sets
    ///   `on_schema_change` to something other than the default `ignore`.
    /// - `partitioning`: a model of the candidate is laid out for its readers
    ///   (`partition_by`, `cluster_by` or `partitioned_by` in its config or in
    ///   dbt_project.yml).
    ///
    /// ## Why it matters
    /// A write-up can promise monitoring; the code shows whether anybody is woken
    /// up when the pipeline breaks, whether bad data is stopped before the
    /// dashboards read it, and whether a late sync or a new column is noticed.
    /// These are the production concerns the System Design dimension is about,
    /// built rather than described.
    ///
    /// ## Example
    /// `default_args = {"on_failure_callback": notify_slack}` with a real
    /// `notify_slack`, `dbt test` upstream of `publish`, and `freshness:` on the
    /// `payments` source are three features; a docstring that lists "alerting,
    /// SLAs, freshness" is none.
    ///
    /// ## How to pass
    /// Alert on failure with a working callback, gate publication on the tests,
    /// declare source freshness, give the DAG an SLA or a run timeout, and say in
    /// the incremental models' config what a new column does
    /// (`on_schema_change='append_new_columns'`).
    pub struct ProductionFeatures {
        id: "design.production_features",
        title: "Production features are built into the code: alerting, gates, freshness, SLAs",
        confidence: Static,
    }
}

/// The features this check knows how to read, in the order they are reported.
const KNOWN_FEATURES: &[&str] = &[
    "alerting",
    "quality_gate",
    "freshness",
    "sla",
    "schema_change",
    "partitioning",
];

impl Check for ProductionFeatures {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = &Self::META;
        let (wanted, full) = match (
            cx.params.string_list("features"),
            cx.params.int("features_for_full_credit"),
        ) {
            (Ok(w), Ok(n)) => (w, n.max(1) as f64),
            (Err(e), _) | (_, Err(e)) => return (self as &dyn Check).param_error(e),
        };
        if let Some(unknown) = wanted
            .iter()
            .find(|w| !KNOWN_FEATURES.contains(&w.as_str()))
        {
            return CheckResult::new(
                meta.id,
                Outcome::Error,
                meta.confidence,
                format!(
                    "the rubric names the feature `{unknown}`, which this check does not read (it reads {})",
                    KNOWN_FEATURES.join(", ")
                ),
            );
        }
        let found = features(cx.facts);
        let mut present = 0usize;
        let mut evidence = Vec::new();
        let mut measured = BTreeMap::new();
        for feature in &wanted {
            let ev = found.get(feature.as_str()).cloned().unwrap_or_default();
            measured.insert(feature.clone(), !ev.is_empty());
            if ev.is_empty() {
                evidence.push(Evidence::note(format!("{feature}: not in the code")));
            } else {
                present += 1;
                evidence.extend(ev.into_iter().take(2));
            }
        }
        let names: Vec<&String> = wanted.iter().filter(|w| measured[*w]).collect();
        let summary = if present == 0 {
            "no production feature in the code: no alerting, gate, freshness, SLA, schema-change or layout setting".to_string()
        } else {
            format!(
                "{present} production feature(s) in the code ({}); {} for full credit",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                full
            )
        };
        CheckResult::new(
            meta.id,
            Outcome::from_fraction(present as f64 / full),
            meta.confidence,
            summary,
        )
        .with_evidence(
            Evidence::note("production features found in the code")
                .with_measured(json!(measured))
                .with_expected(json!(full)),
        )
        .with_all_evidence(evidence)
    }
}

/// Each feature found, with its evidence.
fn features(facts: &Facts) -> BTreeMap<&'static str, Vec<Evidence>> {
    let mut out: BTreeMap<&'static str, Vec<Evidence>> = BTreeMap::new();
    let dags = facts.dag.candidate_dags();
    for d in &dags {
        alerting(d, &mut out);
        sla(d, &mut out);
        quality_gate(d, &mut out);
        for t in &d.tasks {
            if t.dbt.iter().any(|i| i.command == "source freshness") {
                out.entry("freshness")
                    .or_default()
                    .push(task_evidence(t, "runs `dbt source freshness`"));
            }
        }
    }
    for project in &facts.dbt.projects {
        for s in project
            .sources
            .iter()
            .filter(|s| s.candidate && s.freshness)
        {
            out.entry("freshness").or_default().push(Evidence::at(
                s.file.as_str(),
                s.line.map(LineSpan::line),
                format!(
                    "source `{}.{}` declares freshness{}",
                    s.source,
                    s.table,
                    s.loaded_at_field
                        .as_ref()
                        .map(|f| format!(" on `{f}`"))
                        .unwrap_or_default()
                ),
            ));
        }
        for m in project.models.iter().filter(|m| m.candidate) {
            if let Some(key) = m.config.layout.first() {
                out.entry("partitioning").or_default().push(Evidence::at(
                    m.path.as_str(),
                    m.line_of(key, 1).map(LineSpan::line),
                    format!("model `{}` sets {}", m.name, m.config.layout.join(", ")),
                ));
            }
            let Some(policy) = &m.config.on_schema_change else {
                continue;
            };
            let incremental = m.config.materialized.as_deref() == Some("incremental");
            if incremental && !policy.eq_ignore_ascii_case("ignore") {
                out.entry("schema_change").or_default().push(Evidence::at(
                    m.path.as_str(),
                    m.line_of("on_schema_change", 1).map(LineSpan::line),
                    format!(
                        "incremental model `{}`: on_schema_change = '{policy}'",
                        m.name
                    ),
                ));
            }
        }
    }
    out
}

fn alerting(d: &Dag, out: &mut BTreeMap<&'static str, Vec<Evidence>>) {
    for key in ["on_failure_callback", "sla_miss_callback"] {
        let cbs = d.setting(key).value.working_callbacks();
        if let Some(cb) = cbs.first() {
            out.entry("alerting").or_default().push(dag_evidence(
                d,
                key,
                format!("{key} `{}`", cb.name),
            ));
        }
    }
    for t in &d.tasks {
        let s = t.setting("on_failure_callback");
        if !s.value.working_callbacks().is_empty() {
            out.entry("alerting").or_default().push(setting_evidence(
                t,
                "on_failure_callback",
                s,
                "",
            ));
            return;
        }
        let email = match &t.setting("email").value {
            Known::Text(s) => !s.trim().is_empty(),
            Known::List(items) => !items.is_empty(),
            _ => false,
        };
        let on = !matches!(t.setting("email_on_failure").value, Known::Bool(false));
        if email && on {
            out.entry("alerting").or_default().push(setting_evidence(
                t,
                "email",
                t.setting("email"),
                "failures are e-mailed",
            ));
            return;
        }
    }
}

fn sla(d: &Dag, out: &mut BTreeMap<&'static str, Vec<Evidence>>) {
    for key in ["sla_miss_callback", "dagrun_timeout"] {
        if d.setting(key).value.is_set() && !matches!(d.setting(key).value, Known::None) {
            out.entry("sla").or_default().push(dag_evidence(
                d,
                key,
                format!("{key} = {}", d.setting(key).value.describe()),
            ));
        }
    }
    if let Some(t) = d.tasks.iter().find(|t| {
        let s = &t.setting("sla").value;
        s.is_set() && !matches!(s, Known::None)
    }) {
        out.entry("sla")
            .or_default()
            .push(setting_evidence(t, "sla", t.setting("sla"), ""));
    }
}

/// A check task with a path to a publishing task: publication waits for it.
fn quality_gate(d: &Dag, out: &mut BTreeMap<&'static str, Vec<Evidence>>) {
    let publish: BTreeSet<&str> = d
        .tasks
        .iter()
        .filter(|t| t.has_stage(Stage::Publish) && !t.is_check)
        .map(|t| t.task_id.as_str())
        .collect();
    if publish.is_empty() {
        return;
    }
    let checks: Vec<&Task> = d.tasks.iter().filter(|t| t.is_check).collect();
    for c in checks {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut stack = vec![c.task_id.as_str()];
        while let Some(at) = stack.pop() {
            if !seen.insert(at) {
                continue;
            }
            if at != c.task_id && publish.contains(at) {
                out.entry("quality_gate").or_default().push(task_evidence(
                    c,
                    format!("checks the data before `{at}` publishes"),
                ));
                return;
            }
            stack.extend(
                d.edges
                    .iter()
                    .filter(|e| e.from == at)
                    .map(|e| e.to.as_str()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::acquire::SourceKind;
    use crate::analyse::dag::{self, DagFacts};
    use crate::analyse::dbt::{self, Isolation};
    use crate::checks::docs::testing::rubric_params;
    use crate::facts::SubmissionFacts;
    use crate::inventory::Inventory;

    fn reference(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("reference-solutions/marketplace-elt")
            .join(name)
    }

    /// Facts of a reference solution's code, every file taken as the candidate's.
    fn facts_of(name: &str) -> Facts {
        facts_at(&reference(name), name)
    }

    fn facts_at(root: &Path, name: &str) -> Facts {
        let root = root.to_path_buf();
        let inventory = Inventory::build(&root).unwrap();
        let mut dag = DagFacts::default();
        for path in &inventory.dags {
            let src = std::fs::read_to_string(root.join(path)).unwrap();
            let (file, dags) = dag::analyse_source(path, &src, true).unwrap();
            dag.files.push(file);
            dag.dags.extend(dags);
        }
        Facts {
            submission: SubmissionFacts {
                name: name.into(),
                kind: SourceKind::Folder,
                commit: None,
                starter_compared: false,
            },
            dbt: dbt::analyse_with(&inventory, Isolation::InProcess),
            inventory,
            history: None,
            docs: Default::default(),
            review: None,
            execution: None,
            dag,
            code: Default::default(),
        }
    }

    fn run(facts: &Facts) -> CheckResult {
        let params = rubric_params("design.production_features");
        ProductionFeatures.run(&CheckContext {
            facts,
            params: &params,
        })
    }

    #[test]
    fn the_strong_code_shows_its_production_features_with_lines() {
        let r = run(&facts_of("strong"));
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.summary);
        let m = r.evidence[0].measured.as_ref().unwrap();
        for f in ["alerting", "quality_gate", "freshness"] {
            assert_eq!(m[f], true, "{f}: {m}");
        }
        let freshness = r
            .evidence
            .iter()
            .find(|e| e.note.contains("declares freshness"))
            .expect("freshness evidence");
        assert!(freshness.file.as_deref().unwrap().ends_with("sources.yml"));
        assert!(freshness.lines.is_some());
    }

    #[test]
    fn keywords_in_a_docstring_and_a_pass_callback_are_no_features() {
        let r = run(&facts_of("keyword-stuffer"));
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.summary);
        assert_eq!(run(&facts_of("weak")).outcome, Outcome::Fail);
    }

    #[test]
    fn a_table_laid_out_for_its_readers_is_the_partitioning_feature() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("models")).unwrap();
        let project = "name: shop\nversion: '1.0.0'\nconfig-version: 2\nprofile: shop\nmodel-paths: [models]\n";
        std::fs::write(root.join("dbt_project.yml"), project).unwrap();
        let model = root.join("models/fct_orders.sql");
        let partitioned = |facts: &Facts| {
            let r = run(facts);
            let m = r.evidence[0].measured.clone().unwrap();
            (m["partitioning"] == true, r)
        };

        std::fs::write(
            &model,
            "{{ config(materialized='table',\n    partition_by={'field': 'order_date', 'data_type': 'date'}) }}\nselect 1 as order_id, current_date as order_date\n",
        )
        .unwrap();
        let (yes, r) = partitioned(&facts_at(root, "shop"));
        assert!(yes, "{r:?}");
        let ev = r
            .evidence
            .iter()
            .find(|e| e.note.contains("sets partition_by"))
            .expect("partitioning evidence");
        assert!(ev.file.as_deref().unwrap().ends_with("fct_orders.sql"));
        assert!(ev.lines.is_some());

        // The same model without the setting, and a docstring that only names it.
        std::fs::write(
            &model,
            "-- partition_by order_date, cluster_by seller_id\n{{ config(materialized='table') }}\nselect 1 as order_id\n",
        )
        .unwrap();
        assert!(!partitioned(&facts_at(root, "shop")).0);

        // Set for a folder in dbt_project.yml.
        std::fs::write(
            root.join("dbt_project.yml"),
            format!("{project}models:\n  shop:\n    +cluster_by: [order_id]\n"),
        )
        .unwrap();
        assert!(partitioned(&facts_at(root, "shop")).0);
    }

    #[test]
    fn an_unknown_feature_in_the_rubric_is_an_error() {
        let mut params = rubric_params("design.production_features");
        params
            .0
            .insert("features".into(), toml::Value::Array(vec!["pagers".into()]));
        let facts = facts_of("weak");
        let r = ProductionFeatures.run(&CheckContext {
            facts: &facts,
            params: &params,
        });
        assert_eq!(r.outcome, Outcome::Error);
    }
}
