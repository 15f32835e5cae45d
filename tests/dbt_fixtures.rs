//! The dbt analyser and checks on whole projects: the pack's reference
//! solutions (strong, weak, keyword-stuffer), the strong one rebuilt here in
//! bronze/silver/gold folders, and hostile projects generated here.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use assay::acquire::SourceKind;
use assay::analyse::dbt::{self, Isolation};
use assay::checks::{CheckResult, Outcome};
use assay::facts::{Facts, SubmissionFacts};
use assay::inventory::Inventory;
use assay::rubric::Rubric;

fn facts_for(root: &Path, starter: Option<&Path>, isolation: Isolation) -> Facts {
    let mut inventory = Inventory::build(root).unwrap();
    if let Some(s) = starter {
        inventory.compare_with_starter(&Inventory::build(s).unwrap());
    }
    let dbt = dbt::analyse_with(&inventory, isolation);
    Facts {
        submission: SubmissionFacts {
            name: "t".into(),
            kind: SourceKind::Folder,
            commit: None,
            starter_compared: starter.is_some(),
        },
        inventory,
        history: None,
        dbt,
        dag: Default::default(),
        code: Default::default(),
        docs: Default::default(),
        review: None,
        execution: None,
    }
}

fn rubric() -> Rubric {
    Rubric::load(
        &common::repo_root().join("rubric/marketplace-elt.toml"),
        &assay::grade::is_known_check,
    )
    .unwrap()
}

struct Graded {
    results: BTreeMap<String, CheckResult>,
    scores: BTreeMap<String, (Option<f64>, Option<u8>)>,
}

fn grade(root: &Path, starter: Option<&Path>) -> Graded {
    std::env::set_var("ASSAY_PARSER_EXE", env!("CARGO_BIN_EXE_assay"));
    let facts = facts_for(root, starter, Isolation::Contained);
    let rubric = rubric();
    let results = assay::grade::run_checks(&rubric, &facts);
    let (dims, _) = assay::score::score(&rubric, &results, &|id: &str| id.to_string());
    let scores = dims
        .iter()
        .map(|d| (d.id.clone(), (d.score, d.band)))
        .collect();
    Graded { results, scores }
}

fn fixture(name: &str) -> std::path::PathBuf {
    common::repo_root().join("fixtures/dbt").join(name)
}

fn reference(name: &str) -> std::path::PathBuf {
    common::repo_root()
        .join("reference-solutions/marketplace-elt")
        .join(name)
}

/// The strong reference solution's dbt project laid out the medallion way:
/// `staging/`, `intermediate/` and `marts/` become `bronze/`, `silver/` and
/// `gold/` (folders, properties files and `dbt_project.yml`), and the
/// non-contract models `stg_*` and `int_*` become `brz_*` and `slv_*` in file
/// names and refs. Derived, not committed, so it follows the strong solution.
fn medallion(dst: &Path) {
    const LAYERS: [(&str, &str); 3] = [
        ("staging", "bronze"),
        ("intermediate", "silver"),
        ("marts", "gold"),
    ];
    let names = regex::Regex::new(r"\b(stg|int)_(\w+)").unwrap();
    let rename = |text: &str| -> String {
        names
            .replace_all(text, |c: &regex::Captures| match (&c[1], &c[2]) {
                // The contract's name stays.
                ("stg", "payments") => c[0].to_string(),
                ("stg", rest) => format!("brz_{rest}"),
                (_, rest) => format!("slv_{rest}"),
            })
            .into_owned()
    };
    let src = reference("strong");
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let top = rel.split('/').next().unwrap();
            if ![
                "models",
                "macros",
                "seeds",
                "tests",
                "dbt_project.yml",
                "packages.yml",
            ]
            .contains(&top)
            {
                continue;
            }
            let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
            let mut text = std::fs::read_to_string(&path).unwrap();
            if rel == "dbt_project.yml" {
                for (from, to) in LAYERS {
                    text = text
                        .replace(&format!("    {from}:"), &format!("    {to}:"))
                        .replace(&format!("+schema: {from}"), &format!("+schema: {to}"));
                }
            } else {
                text = rename(&text);
            }
            for part in parts.iter_mut() {
                for (from, to) in LAYERS {
                    if *part == from {
                        *part = to.to_string();
                    }
                    if *part == format!("_{from}.yml") {
                        *part = format!("_{to}.yml");
                    }
                }
            }
            let last = parts.len() - 1;
            parts[last] = rename(&parts[last]);
            let out = dst.join(parts.join("/"));
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            std::fs::write(out, text).unwrap();
        }
    }
}

fn outcome(g: &Graded, id: &str) -> Outcome {
    g.results[id].outcome
}

fn band(g: &Graded, dim: &str) -> u8 {
    g.scores[dim].1.unwrap_or(0)
}

const TRAP_CHECKS: &[&str] = &[
    "dbt.payments_dedup",
    "dbt.future_timestamps",
    "dbt.confirmed_at_timezone",
    "dbt.soft_deletes",
    "dbt.null_country_code",
    "dbt.currency_by_month",
    "dbt.event_log_order",
    "dbt.orphan_reviews",
];

#[test]
fn the_strong_project_handles_every_trap_with_file_and_line_evidence() {
    let g = grade(&reference("strong"), None);
    for id in TRAP_CHECKS {
        let r = &g.results[*id];
        assert_eq!(
            r.outcome,
            Outcome::Pass,
            "{id}: {} {:#?}",
            r.summary,
            r.evidence
        );
        let located = r
            .evidence
            .iter()
            .find(|e| e.file.is_some() && e.lines.is_some());
        assert!(
            located.is_some(),
            "{id} gives no file:line evidence: {:#?}",
            r.evidence
        );
    }
    assert!(band(&g, "data_quality") >= 3, "{:?}", g.scores);
    assert!(band(&g, "code_quality") >= 3, "{:?}", g.scores);
}

#[test]
fn the_same_pipeline_in_bronze_silver_gold_scores_within_one_band() {
    let layered = grade(&reference("strong"), None);
    let dir = tempfile::tempdir().unwrap();
    medallion(dir.path());
    assert!(dir.path().join("models/bronze/brz_orders.sql").is_file());
    assert!(dir.path().join("models/bronze/stg_payments.sql").is_file());
    assert!(dir
        .path()
        .join("models/silver/slv_orders_enriched.sql")
        .is_file());
    let medallion = grade(dir.path(), None);
    for dim in ["data_quality", "code_quality"] {
        let (a, b) = (band(&layered, dim), band(&medallion, dim));
        assert!(
            a.abs_diff(b) <= 1,
            "{dim}: {a} vs {b}; {:?} {:?}",
            layered.scores,
            medallion.scores
        );
    }
    for id in TRAP_CHECKS {
        assert_eq!(
            outcome(&medallion, id),
            Outcome::Pass,
            "{id}: {}",
            medallion.results[*id].summary
        );
    }
    assert_eq!(outcome(&medallion, "dbt.layer_boundaries"), Outcome::Pass);
}

#[test]
fn the_keyword_stuffer_earns_no_trap_credit_and_lands_at_or_below_weak() {
    let stuffer = grade(&reference("keyword-stuffer"), None);
    let weak = grade(&reference("weak"), None);
    for id in [
        "dbt.payments_dedup",
        "dbt.confirmed_at_timezone",
        "dbt.soft_deletes",
        "dbt.null_country_code",
        "dbt.currency_by_month",
    ] {
        let r = &stuffer.results[id];
        assert!(
            matches!(r.outcome, Outcome::Fail | Outcome::NotAttempted),
            "{id}: {:?} {}",
            r.outcome,
            r.summary
        );
    }
    // The dead dedup CTE is shown, and shown as dead.
    let dedup = &stuffer.results["dbt.payments_dedup"];
    assert!(
        dedup
            .evidence
            .iter()
            .any(|e| e.note.contains("nothing selects from this CTE")),
        "{:#?}",
        dedup.evidence
    );
    assert_eq!(outcome(&stuffer, "dbt.singular_tests"), Outcome::Fail);
    assert_eq!(outcome(&stuffer, "dbt.trap_tests"), Outcome::Fail);
    for dim in ["data_quality", "code_quality"] {
        assert!(
            band(&stuffer, dim) <= band(&weak, dim).max(1),
            "{dim}: {:?} vs {:?}",
            stuffer.scores,
            weak.scores
        );
        assert_eq!(band(&stuffer, dim), 1, "{dim}: {:?}", stuffer.scores);
    }
}

#[test]
fn a_dedup_in_a_cte_nothing_selects_from_earns_nothing_but_a_live_one_in_an_intermediate_model_does(
) {
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<(&str, &str)> = vec![
        ("dbt_project.yml", "name: m\nprofile: m\n"),
        ("models/staging/stg_payments.sql", "select event_id, order_id, event_type, amount, received_at from {{ source('marketplace', 'payments') }}\n"),
        ("models/marts/fct_payments.sql", "select event_id, order_id from {{ ref('int_payments') }}\n"),
    ];
    let dead = "with p as (select * from {{ ref('stg_payments') }}),\n\
                deduped as (select * from p qualify row_number() over (partition by event_id order by received_at) = 1)\n\
                select * from p\n";
    let live = "with p as (select * from {{ ref('stg_payments') }}),\n\
                deduped as (select * from p qualify row_number() over (partition by event_id order by received_at) = 1)\n\
                select * from deduped\n";
    for (sql, expected) in [(dead, Outcome::Fail), (live, Outcome::Pass)] {
        let mut files = base.clone();
        files.push(("models/intermediate/int_payments.sql", sql));
        let root = dir.path().join(if expected == Outcome::Pass {
            "live"
        } else {
            "dead"
        });
        common::write_tree(&root, &files);
        let g = grade(&root, None);
        let r = &g.results["dbt.payments_dedup"];
        assert_eq!(r.outcome, expected, "{} {:#?}", r.summary, r.evidence);
        if expected == Outcome::Pass {
            let e = r.evidence.iter().find(|e| e.lines.is_some()).unwrap();
            assert_eq!(
                e.file.as_deref(),
                Some("models/intermediate/int_payments.sql")
            );
            assert_eq!(e.lines.unwrap().start, 2);
        }
    }
}

#[test]
fn a_rank_computed_in_one_model_counts_only_where_a_model_on_the_path_keeps_rank_one() {
    let dir = tempfile::tempdir().unwrap();
    let ranked = "select event_id, order_id, received_at,\n\
                  row_number() over (partition by event_id order by received_at) as delivery_rank\n\
                  from {{ source('marketplace', 'payments') }}\n";
    let base: Vec<(&str, &str)> = vec![
        ("dbt_project.yml", "name: m\nprofile: m\n"),
        ("models/staging/stg_payments.sql", ranked),
    ];
    let kept = "with ranked as (select * from {{ ref('stg_payments') }})\n\
                select event_id, order_id from ranked where delivery_rank = 1\n";
    let unfiltered = "select event_id, order_id from {{ ref('stg_payments') }}\n";
    // The filter in a model no mart reads changes nothing the marts show.
    let aside = "select * from {{ ref('stg_payments') }} where delivery_rank = 1\n";
    for (name, fct, extra, expected) in [
        ("kept", kept, None, Outcome::Pass),
        ("unfiltered", unfiltered, None, Outcome::Fail),
        ("aside", unfiltered, Some(aside), Outcome::Fail),
    ] {
        let mut files = base.clone();
        files.push(("models/marts/fct_payments.sql", fct));
        if let Some(sql) = extra {
            files.push(("models/intermediate/int_payments_first.sql", sql));
        }
        let root = dir.path().join(name);
        common::write_tree(&root, &files);
        let g = grade(&root, None);
        let r = &g.results["dbt.payments_dedup"];
        assert_eq!(
            r.outcome, expected,
            "{name}: {} {:#?}",
            r.summary, r.evidence
        );
        if expected == Outcome::Pass {
            let e = r.evidence.iter().find(|e| e.lines.is_some()).unwrap();
            assert_eq!(e.file.as_deref(), Some("models/staging/stg_payments.sql"));
            assert!(
                e.note.contains("`fct_payments` keeps delivery_rank = 1"),
                "{}",
                e.note
            );
        }
    }
}

#[test]
fn the_untouched_starter_earns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let starter = dir.path().join("starter");
    let files = [
        ("dbt_project.yml", "name: marketplace\nprofile: marketplace\n"),
        ("models/sources.yml", "version: 2\nsources:\n  - name: marketplace\n    tables:\n      - name: users\n        columns:\n          - name: user_id\n            data_tests: [unique, not_null]\n"),
        ("models/staging/stg_users.sql", "with source as (select * from {{ source('marketplace', 'users') }})\nselect user_id, country_code, deleted_at from source\n"),
    ];
    common::write_tree(&starter, &files);
    let g = grade(&starter, Some(&starter));
    for (id, r) in &g.results {
        if id.starts_with("dbt.") && id != "dbt.project_parses" && id != "dbt.models_analysed" {
            assert!(
                r.outcome.credit().unwrap_or(0.0) == 0.0,
                "{id} credits the starter: {:?} {}",
                r.outcome,
                r.summary
            );
        }
    }
}

#[test]
fn hostile_projects_are_graded_with_clear_error_findings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut bomb = String::from("version: 2\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let big = format!(
        "select 1 as x\n{}",
        "-- padding padding padding padding padding padding\n".repeat(100_000)
    );
    assert!(big.len() > 5_000_000);
    let deep = format!(
        "select {} as x from {{{{ source('marketplace', 'payments') }}}}\n",
        vec!["1"; 120_000].join("+")
    );
    common::write_tree(
        root,
        &[
            ("dbt_project.yml", "name: m\nprofile: m\n"),
            ("models/bomb.yml", &bomb),
            ("models/staging/stg_big.sql", &big),
            ("models/staging/stg_payments.sql", &deep),
            ("models/staging/stg_orders.sql", "select order_id, (confirmed_at at time zone 'America/New_York') at time zone 'UTC' as confirmed_at_utc from {{ source('marketplace', 'orders') }}\n"),
            ("models/marts/fct_orders.sql", "select * from {{ ref('stg_orders') }}\n"),
        ],
    );
    let g = grade(root, None);
    let report = &g.results["dbt.models_analysed"];
    let notes: Vec<String> = report
        .evidence
        .iter()
        .map(|e| format!("{:?} {}", e.file, e.note))
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("bomb.yml") && n.contains("Yaml")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("stg_big.sql") && n.contains("TooLarge")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("stg_payments.sql") && n.contains("ParserCrash")),
        "{notes:#?}"
    );
    assert_eq!(report.outcome, Outcome::Error);
    // The model the parser could not read makes its trap an error, not a failure.
    assert_eq!(
        outcome(&g, "dbt.payments_dedup"),
        Outcome::Error,
        "{}",
        g.results["dbt.payments_dedup"].summary
    );
    // Everything else is still graded.
    assert_eq!(outcome(&g, "dbt.confirmed_at_timezone"), Outcome::Pass);
}

/// The reference solutions land in the Data Quality and Code Quality bands their
/// expected.toml allows, and the keyword-stuffer earns no trap credit at all.
#[test]
fn reference_solutions_land_in_their_dbt_bands() {
    let dir = common::repo_root().join("reference-solutions/marketplace-elt");
    let starter = common::repo_root().join("fixtures/marketplace-elt/starter");
    for name in ["starter", "keyword-stuffer", "weak", "adequate", "strong"] {
        let g = grade(&dir.join(name), Some(&starter));
        let expected: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join(name).join("expected.toml")).unwrap())
                .unwrap();
        for dim in ["data_quality", "code_quality"] {
            let range = expected["bands"][dim].as_array().unwrap();
            let (lo, hi) = (
                range[0].as_integer().unwrap() as u8,
                range[1].as_integer().unwrap() as u8,
            );
            let got = band(&g, dim);
            assert!(
                (lo..=hi).contains(&got),
                "{name}: {dim} is band {got}, expected {lo}-{hi}: {:?}",
                g.scores
            );
        }
        if name == "keyword-stuffer" {
            for id in TRAP_CHECKS {
                assert_ne!(
                    outcome(&g, id),
                    Outcome::Pass,
                    "the keyword-stuffer earned {id}: {}",
                    g.results[*id].summary
                );
            }
        }
    }
}

/// The Jinja approximation reads the same lineage as dbt itself: the manifest
/// beside the strong fixture came from `dbt compile` (dbt-core 1.11) on it.
#[test]
fn jinja_lineage_matches_dbt_and_compiled_sql_gives_the_same_findings() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("strong.manifest.json")).unwrap())
            .unwrap();
    let facts = facts_for(&reference("strong"), None, Isolation::InProcess);
    let project = facts.dbt.main_project().unwrap();
    let nodes = manifest["nodes"].as_object().unwrap();
    let mut compared = 0;
    for node in nodes.values().filter(|n| n["resource_type"] == "model") {
        let name = node["name"].as_str().unwrap();
        let model = project
            .model(name)
            .unwrap_or_else(|| panic!("assay misses model {name}"));
        let mut refs = Vec::new();
        let mut sources = Vec::new();
        for dep in node["depends_on"]["nodes"].as_array().unwrap() {
            let dep = dep.as_str().unwrap();
            let parts: Vec<&str> = dep.split('.').collect();
            match parts[0] {
                "source" => sources.push(format!("{}.{}", parts[2], parts[3])),
                _ => refs.push(parts[2].to_string()),
            }
        }
        refs.sort();
        refs.dedup();
        sources.sort();
        assert_eq!(model.refs, refs, "refs of {name}");
        assert_eq!(model.sources, sources, "sources of {name}");
        compared += 1;
    }
    assert_eq!(compared, project.models.len());

    // The manifest as dbt writes it, and as the runner keeps it (no relation_name).
    let mut trimmed = manifest.clone();
    for section in ["nodes", "sources"] {
        for node in trimmed[section].as_object_mut().unwrap().values_mut() {
            node.as_object_mut().unwrap().remove("relation_name");
        }
    }
    for m in [&manifest, &trimmed] {
        let mut facts = facts_for(&reference("strong"), None, Isolation::InProcess);
        dbt::apply_manifest(&mut facts.dbt, m, Isolation::InProcess);
        let project = facts.dbt.main_project().unwrap();
        assert_eq!(project.sql_origin, dbt::SqlOrigin::Compiled);
        assert!(project
            .models
            .iter()
            .all(|m| m.origin == dbt::SqlOrigin::Compiled));
        let rubric = rubric();
        let results = assay::grade::run_checks(&rubric, &facts);
        for id in TRAP_CHECKS {
            assert_eq!(
                results[*id].outcome,
                Outcome::Pass,
                "{id} on compiled SQL: {}",
                results[*id].summary
            );
        }
        let hard = &results["dbt.no_hardcoded_relations"];
        assert_eq!(hard.outcome, Outcome::Pass, "{:#?}", hard.evidence);
    }
}

/// The keyword-stuffer's findings as an interviewer reads them.
#[test]
fn stuffer_findings_as_users_see_them() {
    let g = grade(&reference("keyword-stuffer"), None);
    let shown: Vec<&CheckResult> = [
        "dbt.payments_dedup",
        "dbt.soft_deletes",
        "dbt.currency_by_month",
        "dbt.singular_tests",
        "dbt.mart_descriptions",
    ]
    .iter()
    .map(|id| &g.results[*id])
    .collect();
    insta::assert_json_snapshot!(shown);
}
