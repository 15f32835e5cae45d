//! Reads a dbt project the way dbt would: the project file, every properties
//! file, the project's macros, and each model rendered by a Jinja engine under a
//! dbt-like context and parsed by sqlparser into facts ([`ModelFacts`]). Lineage
//! (model → refs and sources) and each model's layer come from those facts.
//!
//! When the execution stage delivers dbt's `manifest.json`, [`apply_manifest`]
//! replaces the Jinja approximation with dbt's own compiled SQL, and
//! [`DbtProjectFacts::sql_origin`] says so.
//!
//! Rendering and parsing run in a contained child per model (kind `dbt_model`),
//! compiled SQL through kind `sql`: a template that loops forever or SQL that
//! overflows sqlparser's stack costs that model's facts, never the grade.

pub mod jinja;
pub mod project;
pub mod sql;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contained::{self, ContainedLimits};
use crate::inventory::{DbtProject, Inventory};
pub use jinja::ModelConfig;
pub use project::{
    ColumnSpec, PackageRef, PackageSource, SourceTable, TestSpec, UnitTest, YamlModel,
};
pub use sql::{Rel, RelKind, Scope, SqlFacts, WindowUse};

/// Largest model, macro or test file read, in bytes.
pub const MAX_MODEL_BYTES: u64 = 256 * 1024;
/// Largest properties file read, in bytes (the YAML reader has its own caps too).
pub const MAX_YAML_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DbtFacts {
    pub projects: Vec<DbtProjectFacts>,
}

/// Where a model's SQL facts come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SqlOrigin {
    /// assay's own Jinja rendering of the model file.
    #[default]
    Jinja,
    /// Jinja could not render it; tags were stripped and ref/source kept.
    Stripped,
    /// dbt's compiled SQL from `manifest.json`.
    Compiled,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Reads sources: staging, bronze, base.
    Staging,
    /// Between staging and marts: intermediate, silver.
    Intermediate,
    /// What analysts query: marts, gold, facts and dimensions.
    Mart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A YAML file that cannot be read (malformed, an alias bomb, too large).
    Yaml,
    /// A file over assay's size cap.
    TooLarge,
    /// Jinja could not render; the stripped approximation was used.
    Jinja,
    /// sqlparser refused the SQL.
    Sql,
    /// The contained parser crashed or timed out: the grader could not decide.
    ParserCrash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    pub file: String,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ModelFacts {
    pub name: String,
    pub path: String,
    /// The candidate wrote or changed this file (not the starter's).
    pub candidate: bool,
    pub layer: Option<Layer>,
    pub folder_layer: Option<Layer>,
    pub prefix_layer: Option<Layer>,
    pub refs: Vec<String>,
    /// `source.table`, lower case.
    pub sources: Vec<String>,
    /// The model's config: `config()` over the folder's `+config` in dbt_project.yml.
    pub config: ModelConfig,
    pub origin: SqlOrigin,
    /// Facts of the full-refresh SQL.
    pub sql: Option<SqlFacts>,
    /// Facts of the `is_incremental()` branch, when it differs.
    pub incremental_sql: Option<SqlFacts>,
    /// Why there are no SQL facts, when there are none.
    pub error: Option<String>,
    /// The error came from the grader's parser crashing, not from the SQL.
    pub grader_error: bool,
    pub unknown_macros: Vec<String>,
    pub missing_vars: Vec<String>,
    /// The model file's text (for evidence lines); not serialised.
    #[serde(skip)]
    #[schemars(skip)]
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct SingularTest {
    pub path: String,
    pub candidate: bool,
    pub refs: Vec<String>,
    pub sources: Vec<String>,
    /// It reads a model or source and returns rows only on a condition.
    pub meaningful: bool,
    pub note: String,
    /// Columns its conditions read (lower case): what it checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

/// A test in the project that dbt would never run, and why: it tests a model
/// that does not exist or is disabled, or it is disabled itself. It earns
/// nothing anywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IgnoredTest {
    pub file: String,
    pub line: Option<u32>,
    /// The model (or test) it is written for.
    pub target: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DbtProjectFacts {
    pub root: String,
    pub name: Option<String>,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub folder_configs: Vec<(String, ModelConfig)>,
    pub packages: Vec<project::PackageRef>,
    pub seeds: Vec<String>,
    pub models: Vec<ModelFacts>,
    pub yaml_models: Vec<YamlModel>,
    pub sources: Vec<SourceTable>,
    pub singular_tests: Vec<SingularTest>,
    pub macros: Vec<String>,
    /// Names of `{% test %}` generic tests the project defines.
    pub generic_tests: Vec<String>,
    /// dbt unit tests (`unit_tests:`) on models that exist and are enabled.
    #[serde(default)]
    pub unit_tests: Vec<UnitTest>,
    /// Tests dbt would never run: on missing or disabled models, or disabled.
    #[serde(default)]
    pub ignored_tests: Vec<IgnoredTest>,
    /// Models switched off with `enabled=false`: dbt does not build them.
    #[serde(default)]
    pub disabled_models: Vec<String>,
    pub problems: Vec<Problem>,
    pub sql_origin: SqlOrigin,
}

/// How models are rendered and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// In a contained child per model (the default for submissions).
    Contained,
    /// In this process: only for trusted inputs (unit tests).
    InProcess,
}

/// What the contained `dbt_model` child returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelOutput {
    pub rendered: jinja::Rendered,
    pub full: Option<Result<SqlFacts, String>>,
    pub incremental: Option<Result<SqlFacts, String>>,
}

pub fn analyse_model_job(job: &jinja::RenderJob) -> ModelOutput {
    let rendered = jinja::render(job);
    let none = BTreeMap::new();
    let full = rendered
        .full
        .as_ref()
        .map(|s| sql::parse_sql(s, &none).map_err(|e| e.to_string()));
    let incremental = rendered
        .incremental
        .as_ref()
        .map(|s| sql::parse_sql(s, &none).map_err(|e| e.to_string()));
    ModelOutput {
        rendered,
        full,
        incremental,
    }
}

/// The contained child's entry for one model: JSON [`jinja::RenderJob`] in,
/// JSON [`ModelOutput`] out.
pub fn model_contained_entry(input: &[u8]) -> Result<Vec<u8>, String> {
    let job: jinja::RenderJob = serde_json::from_slice(input).map_err(|e| e.to_string())?;
    serde_json::to_vec(&analyse_model_job(&job)).map_err(|e| e.to_string())
}

fn contained_limits() -> ContainedLimits {
    ContainedLimits {
        timeout: std::time::Duration::from_secs(15),
        memory_bytes: 1024 * 1024 * 1024,
        max_output_bytes: 8 * 1024 * 1024,
    }
}

fn run_model(job: &jinja::RenderJob, isolation: Isolation) -> Result<ModelOutput, String> {
    match isolation {
        Isolation::InProcess => Ok(analyse_model_job(job)),
        Isolation::Contained => {
            let input = serde_json::to_vec(job).map_err(|e| e.to_string())?;
            let out = contained::run("dbt_model", &input, &contained_limits())
                .map_err(|e| e.to_string())?;
            serde_json::from_slice(&out).map_err(|e| format!("unreadable parser output: {e}"))
        }
    }
}

/// The job that renders and parses one file: the file's own text after the
/// project's macros, with the project's vars.
fn render_job(
    file: &str,
    source: String,
    macros: &str,
    vars: &BTreeMap<String, serde_json::Value>,
) -> jinja::RenderJob {
    jinja::RenderJob {
        model: file_stem(file),
        source,
        macros: macros.to_string(),
        vars: vars.clone(),
    }
}

/// Every job's answer at once, across the contained workers (see
/// [`contained::run_all`]), keyed by the job's file. In-process analysis
/// prefetches nothing: the caller runs each job itself.
fn prefetch(
    jobs: Vec<(String, jinja::RenderJob)>,
    isolation: Isolation,
) -> HashMap<String, Result<ModelOutput, String>> {
    if isolation != Isolation::Contained {
        return HashMap::new();
    }
    let (files, inputs): (Vec<String>, Vec<Vec<u8>>) = jobs
        .into_iter()
        .filter_map(|(file, job)| Some((file, serde_json::to_vec(&job).ok()?)))
        .unzip();
    let answers = contained::run_all("dbt_model", &inputs, &contained_limits());
    files
        .into_iter()
        .zip(answers)
        .map(|(file, answer)| {
            let out = answer.map_err(|e| e.to_string()).and_then(|out| {
                serde_json::from_slice(&out).map_err(|e| format!("unreadable parser output: {e}"))
            });
            (file, out)
        })
        .collect()
}

/// Analyses every dbt project of the inventory, each model in a contained child.
pub fn analyse(inventory: &Inventory) -> DbtFacts {
    analyse_with(inventory, Isolation::Contained)
}

pub fn analyse_with(inventory: &Inventory, isolation: Isolation) -> DbtFacts {
    DbtFacts {
        projects: inventory
            .dbt_projects
            .iter()
            .map(|p| analyse_project(inventory, p, isolation))
            .collect(),
    }
}

fn rel_under_root(root: &str, path: &str) -> String {
    if root.is_empty() {
        path.to_string()
    } else {
        path.strip_prefix(root)
            .map(|p| p.trim_start_matches('/').to_string())
            .unwrap_or_else(|| path.to_string())
    }
}

pub fn file_stem(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.')
        .map(|(s, _)| s)
        .unwrap_or(file)
        .to_ascii_lowercase()
}

/// The layer a folder name stands for.
pub fn folder_layer_of(dir: &str) -> Option<Layer> {
    match dir.to_ascii_lowercase().as_str() {
        "staging" | "stg" | "bronze" | "base" | "raw" | "landing" | "sources" => {
            Some(Layer::Staging)
        }
        "intermediate" | "int" | "silver" | "transform" | "transformed" | "prep" | "cleaned" => {
            Some(Layer::Intermediate)
        }
        "marts" | "mart" | "gold" | "reporting" | "presentation" | "serving" | "analytics"
        | "facts" | "dimensions" => Some(Layer::Mart),
        _ => None,
    }
}

pub fn prefix_layer_of(name: &str) -> Option<Layer> {
    let prefix = name.split('_').next().unwrap_or("");
    match prefix {
        "stg" | "base" | "brz" | "bronze" | "raw" => Some(Layer::Staging),
        "int" | "slv" | "silver" | "prep" => Some(Layer::Intermediate),
        "fct" | "fact" | "dim" | "mart" | "rpt" | "agg" | "gold" | "obt" => Some(Layer::Mart),
        _ => None,
    }
}

fn analyse_project(inventory: &Inventory, p: &DbtProject, isolation: Isolation) -> DbtProjectFacts {
    let mut facts = DbtProjectFacts {
        root: p.root.clone(),
        name: p.name.clone(),
        ..DbtProjectFacts::default()
    };
    let project_file = if p.root.is_empty() {
        "dbt_project.yml".to_string()
    } else {
        format!("{}/dbt_project.yml", p.root)
    };
    let read_yaml =
        |path: &str, problems: &mut Vec<Problem>| -> Option<(serde_json::Value, String)> {
            let text = match inventory.read_text_capped(path, MAX_YAML_FILE_BYTES) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(Problem {
                        file: path.to_string(),
                        kind: ProblemKind::TooLarge,
                        message: e.to_string(),
                    });
                    return None;
                }
            };
            match crate::yaml::parse::<serde_json::Value>(&text) {
                Ok(v) => Some((v, text)),
                Err(e) => {
                    problems.push(Problem {
                        file: path.to_string(),
                        kind: ProblemKind::Yaml,
                        message: e.to_string(),
                    });
                    None
                }
            }
        };
    let mut problems = Vec::new();
    if let Some((doc, _)) = read_yaml(&project_file, &mut problems) {
        let pf = project::read_project(&doc, p.name.as_deref());
        facts.vars = pf.vars;
        facts.folder_configs = pf.folder_configs;
    }
    if let Some(pk) = &p.packages_file {
        if let Some((doc, _)) = read_yaml(pk, &mut problems) {
            facts.packages = project::read_packages(&doc);
        }
    }
    for y in &p.yaml {
        if let Some((doc, text)) = read_yaml(y, &mut problems) {
            let candidate = inventory.is_candidate_work(y);
            let (models, sources) = project::read_properties(&doc, &text, y, candidate);
            facts.yaml_models.extend(models);
            facts.sources.extend(sources);
            facts
                .unit_tests
                .extend(project::read_unit_tests(&doc, &text, y, candidate));
        }
    }
    facts.seeds = p.seeds.iter().map(|s| file_stem(s)).collect();

    let mut macro_text = String::new();
    for m in &p.macros {
        match inventory.read_text_capped(m, MAX_MODEL_BYTES) {
            Ok(text) => {
                for (name, block) in jinja::macro_blocks(&text) {
                    facts.macros.push(name);
                    macro_text.push_str(&block);
                }
                facts
                    .generic_tests
                    .extend(jinja::generic_test_blocks(&text));
            }
            Err(e) => problems.push(Problem {
                file: m.clone(),
                kind: ProblemKind::TooLarge,
                message: e.to_string(),
            }),
        }
    }

    // Every model is rendered and parsed on all cores at once; the loop below
    // takes the answers in order.
    let mut prefetched = prefetch(
        p.models
            .iter()
            .filter(|path| path.ends_with(".sql"))
            .filter_map(|path| {
                let text = inventory.read_text_capped(path, MAX_MODEL_BYTES).ok()?;
                Some((
                    path.clone(),
                    render_job(path, text, &macro_text, &facts.vars),
                ))
            })
            .collect(),
        isolation,
    );
    // Model dirs: the paths' first component under the project root, to read
    // the folder layer from what lies below.
    for path in &p.models {
        if !path.ends_with(".sql") {
            continue;
        }
        let name = file_stem(path);
        let rel = rel_under_root(&p.root, path);
        let mut dirs: Vec<&str> = rel.split('/').collect();
        dirs.pop();
        let under_models: Vec<&str> = dirs.iter().skip(1).copied().collect();
        let folder_layer = under_models.iter().find_map(|d| folder_layer_of(d));
        let prefix_layer = prefix_layer_of(&name);
        let mut model = ModelFacts {
            name: name.clone(),
            path: path.clone(),
            candidate: inventory.is_candidate_work(path),
            folder_layer,
            prefix_layer,
            ..ModelFacts::default()
        };
        // Folder configs apply from the broadest folder to the narrowest.
        let folder = under_models.join("/");
        let mut cfgs: Vec<&(String, ModelConfig)> = facts
            .folder_configs
            .iter()
            .filter(|(f, _)| f.is_empty() || folder == *f || folder.starts_with(&format!("{f}/")))
            .collect();
        cfgs.sort_by_key(|(f, _)| f.len());
        for (_, c) in cfgs {
            merge_config(&mut model.config, c);
        }
        let text = match inventory.read_text_capped(path, MAX_MODEL_BYTES) {
            Ok(t) => t,
            Err(e) => {
                model.error = Some(e.to_string());
                problems.push(Problem {
                    file: path.clone(),
                    kind: ProblemKind::TooLarge,
                    message: e.to_string(),
                });
                facts.models.push(model);
                continue;
            }
        };
        model.text = text;
        let ran = prefetched.remove(path).unwrap_or_else(|| {
            let job = render_job(path, model.text.clone(), &macro_text, &facts.vars);
            run_model(&job, isolation)
        });
        match ran {
            Ok(out) => {
                let r = out.rendered;
                model.refs = r.refs;
                model.sources = r.sources;
                merge_config(&mut model.config, &r.config);
                if r.config.unique_key.is_some() {
                    model.config.unique_key = r.config.unique_key;
                }
                model.unknown_macros = r.unknown_macros;
                model.missing_vars = r.missing_vars;
                if let Some(err) = r.error {
                    model.origin = SqlOrigin::Stripped;
                    problems.push(Problem {
                        file: path.clone(),
                        kind: ProblemKind::Jinja,
                        message: err,
                    });
                }
                match out.full {
                    Some(Ok(f)) => model.sql = Some(f),
                    Some(Err(e)) => {
                        problems.push(Problem {
                            file: path.clone(),
                            kind: ProblemKind::Sql,
                            message: e.clone(),
                        });
                        model.error = Some(e);
                    }
                    None => model.error = Some("nothing rendered".into()),
                }
                if let Some(Ok(f)) = out.incremental {
                    model.incremental_sql = Some(f);
                }
            }
            Err(e) => {
                // Lineage still comes from the stripped template, read in-process
                // with regexes only.
                let stripped = jinja::strip_jinja(&model.text, &name);
                model.refs = stripped
                    .refs
                    .into_iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                model.sources = stripped
                    .sources
                    .into_iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                model.grader_error = true;
                model.error = Some(e.clone());
                problems.push(Problem {
                    file: path.clone(),
                    kind: ProblemKind::ParserCrash,
                    message: e,
                });
            }
        }
        facts.models.push(model);
    }
    let model_names: BTreeSet<String> = facts.models.iter().map(|m| m.name.clone()).collect();
    let layers: Vec<Option<Layer>> = facts
        .models
        .iter()
        .map(|m| {
            m.folder_layer.or(m.prefix_layer).or_else(|| {
                let reads_models = m.refs.iter().any(|r| model_names.contains(r));
                if !m.sources.is_empty() && !reads_models {
                    Some(Layer::Staging)
                } else if reads_models {
                    Some(Layer::Intermediate)
                } else {
                    None
                }
            })
        })
        .collect();
    for (m, l) in facts.models.iter_mut().zip(layers) {
        m.layer = l;
    }

    // What dbt builds: enabled models, seeds and snapshots. A test on anything
    // else never runs.
    let mut disabled: BTreeSet<String> = facts
        .models
        .iter()
        .filter(|m| m.config.enabled == Some(false))
        .map(|m| m.name.clone())
        .collect();
    disabled.extend(
        facts
            .yaml_models
            .iter()
            .filter(|y| y.disabled)
            .map(|y| y.name.clone()),
    );
    facts.models.retain(|m| !disabled.contains(&m.name));
    let mut nodes: BTreeSet<String> = facts.models.iter().map(|m| m.name.clone()).collect();
    nodes.extend(
        p.models
            .iter()
            .filter(|m| m.ends_with(".py"))
            .map(|m| file_stem(m))
            .filter(|n| !disabled.contains(n)),
    );
    nodes.extend(facts.seeds.iter().cloned());
    for snap in &p.snapshots {
        nodes.insert(file_stem(snap));
        if let Ok(text) = inventory.read_text_capped(snap, MAX_MODEL_BYTES) {
            nodes.extend(jinja::snapshot_blocks(&text));
        }
    }
    let why_not = |name: &str| -> String {
        if disabled.contains(name) {
            format!("`{name}` is disabled (enabled: false), so dbt never runs this test")
        } else {
            format!("no model, seed or snapshot is named `{name}`, so dbt never runs this test")
        }
    };
    let mut ignored = Vec::new();
    facts.yaml_models.retain(|y| {
        let keep = nodes.contains(&y.name);
        let has_tests = !y.tests.is_empty() || y.columns.iter().any(|c| !c.tests.is_empty());
        if !keep && has_tests {
            ignored.push(IgnoredTest {
                file: y.file.clone(),
                line: y.line,
                target: y.name.clone(),
                reason: why_not(&y.name),
            });
        }
        keep
    });
    facts.unit_tests.retain(|u| {
        let reason = if u.disabled {
            Some("the unit test is disabled (enabled: false)".to_string())
        } else if !nodes.contains(&u.model) {
            Some(why_not(&u.model))
        } else {
            None
        };
        if let Some(reason) = &reason {
            ignored.push(IgnoredTest {
                file: u.file.clone(),
                line: u.line,
                target: u.model.clone(),
                reason: reason.clone(),
            });
        }
        reason.is_none()
    });
    facts.disabled_models = disabled.iter().cloned().collect();

    let mut prefetched = prefetch(
        p.singular_tests
            .iter()
            .filter_map(|t| {
                let text = inventory.read_text_capped(t, MAX_MODEL_BYTES).ok()?;
                if !jinja::generic_test_blocks(&text).is_empty() {
                    return None;
                }
                Some((t.clone(), render_job(t, text, &macro_text, &facts.vars)))
            })
            .collect(),
        isolation,
    );
    for t in &p.singular_tests {
        let mut test = SingularTest {
            path: t.clone(),
            candidate: inventory.is_candidate_work(t),
            ..SingularTest::default()
        };
        match inventory.read_text_capped(t, MAX_MODEL_BYTES) {
            // A `{% test %}` block in the test paths (tests/generic/) defines a
            // generic test; it is not a query dbt runs on its own.
            Ok(text) if !jinja::generic_test_blocks(&text).is_empty() => {
                facts
                    .generic_tests
                    .extend(jinja::generic_test_blocks(&text));
                continue;
            }
            Ok(text) => {
                let ran = prefetched.remove(t).unwrap_or_else(|| {
                    run_model(&render_job(t, text, &macro_text, &facts.vars), isolation)
                });
                match ran {
                    Ok(out) => {
                        test.refs = out.rendered.refs;
                        test.sources = out.rendered.sources;
                        let missing = test
                            .refs
                            .iter()
                            .find(|r| !nodes.contains(r.as_str()))
                            .cloned();
                        let (meaningful, note) = match (&out.full, missing) {
                            _ if out.rendered.config.enabled == Some(false) => {
                                (false, "disabled (enabled=false): dbt never runs it".into())
                            }
                            (_, Some(r)) => (false, why_not(&r)),
                            (Some(Ok(f)), None) => judge_singular(f, &test),
                            (Some(Err(e)), None) => (false, format!("its SQL cannot be read: {e}")),
                            (None, None) => (false, "nothing rendered".into()),
                        };
                        if let Some(Ok(f)) = &out.full {
                            test.columns = f
                                .reachable_scopes()
                                .flat_map(|s| s.where_columns.iter().chain(&s.predicate_columns))
                                .cloned()
                                .collect::<BTreeSet<_>>()
                                .into_iter()
                                .collect();
                        }
                        test.meaningful = meaningful;
                        test.note = note;
                        if !meaningful && (out.rendered.config.enabled == Some(false)) {
                            ignored.push(IgnoredTest {
                                file: t.clone(),
                                line: None,
                                target: file_stem(t),
                                reason: test.note.clone(),
                            });
                        }
                    }
                    Err(e) => {
                        test.note = format!("could not be analysed: {e}");
                        problems.push(Problem {
                            file: t.clone(),
                            kind: ProblemKind::ParserCrash,
                            message: e,
                        });
                    }
                }
            }
            Err(e) => {
                test.note = e.to_string();
                problems.push(Problem {
                    file: t.clone(),
                    kind: ProblemKind::TooLarge,
                    message: e.to_string(),
                });
            }
        }
        facts.singular_tests.push(test);
    }
    facts.ignored_tests = ignored;
    facts.problems = problems;
    facts
}

fn merge_config(into: &mut ModelConfig, from: &ModelConfig) {
    if from.materialized.is_some() {
        into.materialized = from.materialized.clone();
    }
    if from.incremental_strategy.is_some() {
        into.incremental_strategy = from.incremental_strategy.clone();
    }
    if from.on_schema_change.is_some() {
        into.on_schema_change = from.on_schema_change.clone();
    }
    if from.unique_key.is_some() {
        into.unique_key = from.unique_key.clone();
    }
    if from.enabled.is_some() {
        into.enabled = from.enabled;
    }
    if !from.layout.is_empty() {
        into.layout = from.layout.clone();
    }
}

/// A singular test means something when it reads the project's data and returns
/// rows only under a condition: `select 1 where false` tests nothing.
fn judge_singular(f: &SqlFacts, t: &SingularTest) -> (bool, String) {
    if t.refs.is_empty() && t.sources.is_empty() {
        return (false, "reads no model or source".into());
    }
    if f.final_scope().is_some_and(|s| f.never_returns(s)) {
        return (
            false,
            "its filter is always false, so it returns no row whatever the data".into(),
        );
    }
    let conditional = f.scopes.iter().any(|s| {
        !s.where_columns.is_empty()
            || !s.predicate_columns.is_empty()
            || !s.group_by.is_empty()
            || s.joins.iter().any(|j| !j.keys.is_empty())
    });
    if conditional {
        (
            true,
            format!(
                "checks {}",
                t.refs
                    .iter()
                    .chain(&t.sources)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        (
            false,
            "no condition reads a column, so what it returns does not depend on the data".into(),
        )
    }
}

/// Replaces each model's SQL facts with those of dbt's compiled SQL, where the
/// manifest has it. Models the manifest does not compile keep the Jinja facts.
pub fn apply_manifest(facts: &mut DbtFacts, manifest: &serde_json::Value, isolation: Isolation) {
    let Some(nodes) = manifest.get("nodes").and_then(|n| n.as_object()) else {
        return;
    };
    // Relations by dbt's `relation_name` when the manifest keeps it, else by
    // `schema.alias` (the runner's trimmed manifest), which compiled SQL ends with.
    let key_of = |node: &serde_json::Value, ident: &str| -> Option<String> {
        if let Some(rel) = node.get("relation_name").and_then(|v| v.as_str()) {
            return Some(normalise_relation(rel));
        }
        let schema = node.get("schema").and_then(|v| v.as_str())?;
        let name = node
            .get(ident)
            .and_then(|v| v.as_str())
            .or_else(|| node.get("name").and_then(|v| v.as_str()))?;
        Some(format!("{}.{}", schema, name).to_ascii_lowercase())
    };
    let mut relations: BTreeMap<String, (RelKind, String)> = BTreeMap::new();
    for node in nodes.values() {
        let (Some(key), Some(name)) = (
            key_of(node, "alias"),
            node.get("name").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        relations.insert(key, (RelKind::Ref, name.to_ascii_lowercase()));
    }
    if let Some(sources) = manifest.get("sources").and_then(|n| n.as_object()) {
        for node in sources.values() {
            let (Some(key), Some(src), Some(name)) = (
                key_of(node, "identifier"),
                node.get("source_name").and_then(|v| v.as_str()),
                node.get("name").and_then(|v| v.as_str()),
            ) else {
                continue;
            };
            relations.insert(
                key,
                (
                    RelKind::Source,
                    format!("{src}.{name}").to_ascii_lowercase(),
                ),
            );
        }
    }
    for project in &mut facts.projects {
        let mut used = false;
        for model in &mut project.models {
            let rel_path = rel_under_root(&project.root, &model.path);
            let node = nodes.values().find(|n| {
                n.get("resource_type").and_then(|v| v.as_str()) == Some("model")
                    && n.get("original_file_path").and_then(|v| v.as_str())
                        == Some(rel_path.as_str())
            });
            let Some(node) = node else { continue };
            let Some(code) = node.get("compiled_code").and_then(|v| v.as_str()) else {
                continue;
            };
            let mut rels = relations.clone();
            if let Some(own) = key_of(node, "alias") {
                rels.insert(own, (RelKind::This, model.name.clone()));
            }
            let job = sql::SqlJob {
                sql: code.to_string(),
                relations: rels,
            };
            let parsed: Result<SqlFacts, String> = match isolation {
                Isolation::InProcess => {
                    sql::parse_sql(&job.sql, &job.relations).map_err(|e| e.to_string())
                }
                Isolation::Contained => serde_json::to_vec(&job)
                    .map_err(|e| e.to_string())
                    .and_then(|input| {
                        contained::run("sql", &input, &contained_limits())
                            .map_err(|e| e.to_string())
                    })
                    .and_then(|out| {
                        serde_json::from_slice::<Result<SqlFacts, String>>(&out)
                            .map_err(|e| e.to_string())
                    })
                    .and_then(|r| r),
            };
            if let Ok(mut f) = parsed {
                // In a full build, `this` never appears; refs resolve by relation name.
                for s in &mut f.scopes {
                    for r in &mut s.relations {
                        if r.kind == RelKind::This {
                            r.kind = RelKind::Ref;
                        }
                    }
                }
                model.sql = Some(f);
                model.origin = SqlOrigin::Compiled;
                model.error = None;
                used = true;
            }
        }
        if used {
            project.sql_origin = SqlOrigin::Compiled;
        }
    }
}

fn normalise_relation(rel: &str) -> String {
    rel.split('.')
        .map(|p| {
            p.trim()
                .trim_matches('"')
                .trim_matches('`')
                .to_ascii_lowercase()
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl DbtFacts {
    /// The project assay grades: the first that has models, else the first.
    /// A grade lists the one it chose first (`Inventory::choose_project`), so
    /// this and the execution stage agree on it.
    pub fn main_project(&self) -> Option<&DbtProjectFacts> {
        self.projects
            .iter()
            .find(|p| !p.models.is_empty())
            .or_else(|| self.projects.first())
    }
}

impl DbtProjectFacts {
    pub fn model(&self, name: &str) -> Option<&ModelFacts> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn yaml_model(&self, name: &str) -> Option<&YamlModel> {
        self.yaml_models.iter().find(|m| m.name == name)
    }

    /// Every model `name` reads through refs, transitively (not itself).
    pub fn upstream(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(n) = stack.pop() {
            if let Some(m) = self.model(&n) {
                for r in &m.refs {
                    if out.insert(r.clone()) {
                        stack.push(r.clone());
                    }
                }
            }
        }
        out
    }

    /// Models that read the source table `table` (any source name), directly or
    /// through other models.
    pub fn downstream_of_source(&self, table: &str) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .models
            .iter()
            .filter(|m| {
                m.sources
                    .iter()
                    .any(|s| s.rsplit('.').next() == Some(table))
            })
            .map(|m| m.name.clone())
            .collect();
        loop {
            let before = out.len();
            for m in &self.models {
                if m.refs.iter().any(|r| out.contains(r)) {
                    out.insert(m.name.clone());
                }
            }
            if out.len() == before {
                return out;
            }
        }
    }

    /// The first of `readers` that reads the model `model` and keeps only its
    /// rows where `alias` equals 1: a rank computed in one model and filtered in
    /// the next. `alias` must be a column `model` outputs, where its SQL says.
    pub fn keeps_first_downstream<'a>(
        &self,
        model: &str,
        alias: &str,
        readers: &[&'a ModelFacts],
    ) -> Option<&'a ModelFacts> {
        if let Some(columns) = self.model_columns(model) {
            if !columns.iter().any(|c| c == alias) {
                return None;
            }
        }
        readers.iter().copied().find(|b| {
            b.name != model
                && b.refs.iter().any(|r| r == model)
                && b.sql
                    .iter()
                    .chain(b.incremental_sql.iter())
                    .any(|f| f.keeps_first_of(model, alias))
        })
    }

    /// Models on a path from the source table to `target` (target included).
    pub fn path_models(&self, table: &str, target: &str) -> Vec<&ModelFacts> {
        let down = self.downstream_of_source(table);
        let mut up = self.upstream(target);
        up.insert(target.to_string());
        self.models
            .iter()
            .filter(|m| down.contains(&m.name) && up.contains(&m.name))
            .collect()
    }

    /// The names of the columns a model outputs (lower case), read from its SQL:
    /// `select *` is followed through its CTEs and, when it reads a single
    /// model, into that model. `None` when a star reads a source, a join or
    /// anything else whose columns the SQL does not name.
    pub fn model_columns(&self, name: &str) -> Option<Vec<String>> {
        self.model_columns_at(name, 0)
    }

    fn model_columns_at(&self, name: &str, depth: usize) -> Option<Vec<String>> {
        // A ref cycle cannot build, but its facts must not loop the grader.
        if depth > self.models.len() {
            return None;
        }
        let sql = self.model(name)?.sql.as_ref()?;
        let mut scope = sql.final_scope()?;
        for _ in 0..=sql.scopes.len() {
            let named = scope.outputs.iter().filter_map(|c| c.name.clone());
            let Some(star) = &scope.star else {
                return Some(named.collect());
            };
            if star.from.len() != 1 || star.joins != 0 {
                return None;
            }
            let rel = &star.from[0];
            let mut base = match rel.kind {
                sql::RelKind::Cte if star.only_star => {
                    scope = sql.scope(&rel.name)?;
                    continue;
                }
                sql::RelKind::Cte => {
                    let inner = sql.scope(&rel.name)?;
                    if inner.star.is_some() {
                        return None;
                    }
                    inner
                        .outputs
                        .iter()
                        .filter_map(|c| c.name.clone())
                        .collect()
                }
                sql::RelKind::Ref => self.model_columns_at(&rel.name, depth + 1)?,
                _ => return None,
            };
            for c in named {
                if !base.contains(&c) {
                    base.push(c);
                }
            }
            return Some(base);
        }
        None
    }

    /// Whether `name` (a model or seed) is or reads the seed `seed`.
    pub fn reads_seed(&self, name: &str, seed: &str) -> bool {
        name == seed || self.upstream(name).contains(seed)
    }
}

impl ModelFacts {
    /// 1-based line of the first line of the model file containing `needle`
    /// (case-insensitive), at or after `from`.
    pub fn line_of(&self, needle: &str, from: u32) -> Option<u32> {
        let needle = needle.to_ascii_lowercase();
        self.text
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1) as usize)
            // Comments say what the code should do; evidence points at code.
            .filter(|(_, l)| !l.trim_start().starts_with("--"))
            .find(|(_, l)| l.to_ascii_lowercase().contains(&needle))
            .map(|(i, _)| i as u32 + 1)
    }

    /// Line of a scope in the model file: the CTE's definition, or the final select.
    pub fn scope_line(&self, scope: &Scope) -> Option<u32> {
        if scope.is_final {
            let mut last = None;
            for (i, l) in self.text.lines().enumerate() {
                if l.trim_start().to_ascii_lowercase().starts_with("select") {
                    last = Some(i as u32 + 1);
                }
            }
            return last;
        }
        let re =
            regex::Regex::new(&format!(r"(?i)\b{}\s+as\s*\(", regex::escape(&scope.name))).ok()?;
        self.text
            .lines()
            .position(|l| re.is_match(l))
            .map(|i| i as u32 + 1)
            .or_else(|| self.line_of(&scope.name, 1))
    }

    /// Every reachable scope of the full-refresh SQL and of the incremental branch.
    pub fn live_scopes(&self) -> impl Iterator<Item = &Scope> {
        self.sql
            .iter()
            .chain(self.incremental_sql.iter())
            .flat_map(|f| f.reachable_scopes())
    }

    pub fn is_incremental(&self) -> bool {
        self.config.materialized.as_deref() == Some("incremental")
    }

    /// The model's text from `line` on, a few lines, for evidence snippets.
    pub fn snippet(&self, line: u32, lines: usize) -> String {
        self.text
            .lines()
            .skip(line.saturating_sub(1) as usize)
            .take(lines)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
