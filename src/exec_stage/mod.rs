//! The execution stage of `assay grade`: runs the submission's dbt project in the
//! sandbox on the exercise's seeded data, in the three phases of the exercise
//! contract, and measures the hidden checks after each.
//!
//! 1. **initial**: load snapshot S1 into `raw`, `dbt build`;
//! 2. **incremental**: replace `raw` with S2, `dbt build` (no `--full-refresh`);
//! 3. **idempotency**: `dbt build` with nothing changed.
//!
//! After each build a second, query-only step runs the hidden checks' SQL (model
//! placeholders resolved through that phase's manifest.json), reads the columns
//! of the built relations, and takes the row count and content checksum of every
//! contract model. The truth never enters the container: answers are compared
//! on the host.
//!
//! Only [`crate::execute`] talks to Docker; this module drives it. Failures of
//! the grader (no engine, no image) make the stage "unavailable" and the grade
//! static; failures of the submission are facts for the checks.

pub mod facts;
pub mod hidden;
pub mod packages;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

pub use facts::{
    DataRef, ExecStatus, ExecutionFacts, HiddenMeasurement, ModelState, PhaseFacts, PhaseRun,
    Timings,
};
pub use hidden::{
    judge, Compare, Expected, HiddenCheck, HiddenChecks, HiddenChecksError, Measurement, Tolerance,
    Verdict,
};

use crate::config::Config;
use crate::execute::{
    self, docker, ExecuteError, PhaseResult, PhaseSpec, PhaseStatus, Progress, QueryResult,
    RawSnapshot, Sandbox, SandboxQuery,
};
use crate::exercise::Exercise;
use crate::inventory::Inventory;

/// The phases' names, as the report shows them.
pub fn phase_name(number: u8) -> &'static str {
    match number {
        1 => "initial",
        2 => "incremental",
        _ => "idempotency",
    }
}

/// The snapshot each phase loads (phase 3 loads nothing) and whose truth it is
/// judged against.
fn snapshot_of(number: u8) -> &'static str {
    if number == 1 {
        "S1"
    } else {
        "S2"
    }
}

/// What the stage needs from the pipeline.
pub struct StageInput<'a> {
    pub exercise: &'a Exercise,
    pub hidden: Option<&'a HiddenChecks>,
    /// The acquired submission's root folder.
    pub submission_root: &'a Path,
    pub inventory: &'a Inventory,
    /// The packages the project's `packages.yml` asks for (dbt analyser facts).
    pub packages: &'a [crate::analyse::dbt::PackageRef],
    pub config: &'a Config,
}

/// Runs the stage to the end. Never fails: what went wrong is in the facts.
pub fn run(input: &StageInput) -> ExecutionFacts {
    let Some(project) = input.inventory.dbt_projects.first() else {
        return ExecutionFacts::with_status(ExecStatus::NoProject);
    };
    let started = Instant::now();
    let mut facts = block_on(run_async(input, &project.root));
    facts.project_root = Some(project.root.clone());
    facts.hidden = input.hidden.cloned();
    facts.timings.total_secs = started.elapsed().as_secs_f64();
    facts
}

/// Runs a future to completion from synchronous code: on the caller's runtime
/// when there is one (the CLI and batch mode enter theirs), else on a private one.
fn block_on<F: Future>(fut: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(fut),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime can be built")
            .block_on(fut),
    }
}

async fn run_async(input: &StageInput<'_>, project_root: &str) -> ExecutionFacts {
    let cfg = input.config;
    let mut timings = Timings::default();

    // Decided before anything starts: a package that cannot be had offline
    // makes every build fail at parse time, which says nothing of the candidate.
    let project_dir = input.submission_root.join(project_root);
    let cache_root = execute::image::cache_root(&cfg.runner).ok();
    let package_cache =
        packages::cache_dir(cfg.packages.cache_dir.as_deref(), cache_root.as_deref());
    let package_plan = match packages::plan(
        input.packages,
        &project_dir,
        input.submission_root,
        package_cache.as_deref(),
    ) {
        Ok(plan) => plan,
        Err(unresolved) => return ExecutionFacts::unavailable(unresolved.to_string()),
    };

    let t = Instant::now();
    let engine = match docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            return ExecutionFacts::unavailable(format!(
                "no Docker engine is reachable ({e}); graded from the code alone"
            ))
        }
    };
    timings.connect_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let image = match ensure_image(&engine, cfg).await {
        Ok(tag) => tag,
        Err(e) => {
            return ExecutionFacts::unavailable(format!(
                "the runner image is not available ({e}); graded from the code alone"
            ))
        }
    };
    timings.image_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let data = match ensure_data(input.exercise, cfg) {
        Ok(d) => d,
        Err(e) => {
            return ExecutionFacts::unavailable(format!(
                "the exercise's data could not be prepared ({e}); graded from the code alone"
            ))
        }
    };
    timings.data_secs = t.elapsed().as_secs_f64();
    let mut truths = BTreeMap::new();
    for snap in ["S1", "S2"] {
        match read_truth(&data.dir.join(snap).join("truth.json")) {
            Ok(v) => {
                truths.insert(snap, v);
            }
            Err(e) => return ExecutionFacts::unavailable(e),
        }
    }
    let ddl = input.exercise.pack_dir.join("raw_schema.sql");
    if !ddl.is_file() {
        return ExecutionFacts::unavailable(format!(
            "the exercise pack has no raw schema at {}",
            ddl.display()
        ));
    }

    let mut facts = ExecutionFacts::with_status(ExecStatus::Ran);
    facts.image = Some(image.clone());
    facts.data = Some(data.clone());

    let t = Instant::now();
    let mut sandbox = match Sandbox::start(&image, &cfg.execute).await {
        Ok(s) => s,
        Err(e) => {
            let mut f = ExecutionFacts::unavailable(format!("the sandbox could not start ({e})"));
            f.image = Some(image);
            f.data = Some(data);
            f.timings = timings;
            return f;
        }
    };
    timings.sandbox_start_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut stop: Option<PhaseRun> = None;
    let installs: Vec<(String, PathBuf)> = package_plan
        .install
        .iter()
        .map(|i| (i.name.clone(), i.from.clone()))
        .collect();
    match sandbox.upload_project(&project_dir, &installs).await {
        Ok(summary) => facts.upload = Some(summary),
        Err(ExecuteError::Upload(why)) => {
            stop = Some(PhaseRun::NotRun {
                reason: format!("the project could not be copied into the sandbox: {why}"),
            })
        }
        Err(e) => {
            stop = Some(PhaseRun::GraderFailed {
                reason: format!("copying the project into the sandbox failed: {e}"),
            })
        }
    }
    timings.upload_secs = t.elapsed().as_secs_f64();

    for number in 1..=3u8 {
        if let Some(why) = &stop {
            let mut p = PhaseFacts::not_run(number, "");
            p.ran = why.clone();
            p.hidden = unrun_measurements(input.hidden, number, &truths, why);
            facts.phases.push(p);
            continue;
        }
        let raw = (number < 3).then(|| RawSnapshot {
            ddl_file: ddl.clone(),
            csv_dir: data.dir.join(snapshot_of(number)),
        });
        let spec = PhaseSpec {
            name: format!("p{number}-{}", phase_name(number)),
            raw,
            dbt_commands: vec![vec!["build".to_string()]],
            queries: Vec::new(),
            dbt_timeout_secs: None,
            clock: truths
                .get(snapshot_of(number))
                .and_then(|t| t.get("sync_at"))
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let mut phase = match sandbox.run_phase(&spec).await {
            Ok(result) => phase_facts(number, result),
            Err(e) => {
                let why = PhaseRun::GraderFailed {
                    reason: format!("the phase could not run: {e}"),
                };
                stop = Some(why.clone());
                let mut p = PhaseFacts::not_run(number, "");
                p.ran = why;
                p
            }
        };
        timings.build_phase_secs += phase.wall_secs;
        timings.dbt_secs += phase.dbt_secs.unwrap_or(0.0);
        if phase.ran == PhaseRun::TimedOut {
            stop = Some(PhaseRun::NotRun {
                reason: format!("phase {number} hit its deadline and ended the sandbox"),
            });
        }
        match &phase.ran {
            PhaseRun::Completed | PhaseRun::DbtTimedOut => {
                let plan = QueryPlan::build(
                    input.hidden,
                    number,
                    &phase,
                    &idempotency_models(input.hidden),
                    cfg.execute.max_series_rows,
                );
                let t = Instant::now();
                let results = if plan.queries.is_empty() {
                    Ok(Vec::new())
                } else {
                    run_queries(&mut sandbox, number, plan.queries.clone()).await
                };
                timings.check_phase_secs += t.elapsed().as_secs_f64();
                match results {
                    Ok(results) => plan.interpret(&results, &mut phase),
                    Err(why) => {
                        if matches!(why, PhaseRun::NotRun { .. }) {
                            stop = Some(why.clone());
                        }
                        plan.fail_all(&why, &mut phase);
                    }
                }
            }
            other => {
                let why = match other {
                    PhaseRun::TimedOut => PhaseRun::NotRun {
                        reason: "the phase hit its deadline".into(),
                    },
                    o => o.clone(),
                };
                phase.hidden = unrun_measurements(input.hidden, number, &BTreeMap::new(), &why);
            }
        }
        // Expected values are looked up on the host, never sent in.
        if let Some(truth) = truths.get(snapshot_of(number)) {
            for m in &mut phase.hidden {
                if let Some(check) = input.hidden.and_then(|h| h.find(&m.check)) {
                    m.expected = hidden::expected_value(check, truth);
                }
            }
        }
        facts.phases.push(phase);
    }

    let t = Instant::now();
    if let Err(e) = sandbox.finish().await {
        tracing::warn!("removing the sandbox failed: {e}");
    }
    timings.cleanup_secs = t.elapsed().as_secs_f64();
    facts.timings = timings;
    facts
}

/// Makes sure the runner image exists; the first run builds it, with a line on
/// stderr saying so, since it takes minutes.
async fn ensure_image(docker: &bollard::Docker, cfg: &Config) -> Result<String, ExecuteError> {
    let source = execute::image::host_debian_source(&cfg.runner)?;
    let tag = execute::runner_image_tag(&cfg.runner, &source.suite);
    if !cfg.runner.force_rebuild && docker::image_exists(docker, &tag).await? {
        return Ok(tag);
    }
    eprintln!(
        "assay: building the runner image {tag} (first run only, a few minutes; needs root for debootstrap and the Docker engine)"
    );
    let started = Instant::now();
    let tag = execute::ensure_runner_image(&cfg.runner, &Progress::spinner()).await?;
    eprintln!(
        "assay: runner image {tag} ready after {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(tag)
}

/// The exercise's seeded data in the cache (`<cache>/data/<exercise>/<seed>-<scale>/`),
/// generated on first use. Generation writes to a temporary folder renamed into
/// place, so concurrent graders never read half a snapshot.
pub fn ensure_data(exercise: &Exercise, cfg: &Config) -> Result<DataRef, String> {
    let root = execute::image::cache_root(&cfg.runner).map_err(|e| e.to_string())?;
    let (seed, scale) = (cfg.data.seed, cfg.data.scale);
    let dir = data_dir(&root, &exercise.id, seed, scale);
    let parent = dir.parent().unwrap_or(&root).to_path_buf();
    if dir.join("manifest.json").is_file() {
        return Ok(DataRef {
            dir,
            seed,
            scale,
            generated: false,
        });
    }
    std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".gen-{seed}-{scale}-"))
        .tempdir_in(&parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let opts = crate::generate::GenerateOptions {
        exercise: exercise.id.clone(),
        scale,
        seed,
        out_dir: tmp.path().join("out"),
    };
    crate::generate::generate(&opts).map_err(|e| e.to_string())?;
    match std::fs::rename(tmp.path().join("out"), &dir) {
        Ok(()) => {}
        // Another grader finished first: its copy is the same data.
        Err(_) if dir.join("manifest.json").is_file() => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    Ok(DataRef {
        dir,
        seed,
        scale,
        generated: true,
    })
}

fn read_truth(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The models compared on the rerun, each with the required columns its
/// checksum covers (empty: the whole row).
fn idempotency_models(hidden: Option<&HiddenChecks>) -> Vec<(String, Vec<String>)> {
    hidden
        .map(|h| {
            h.idempotency_models
                .iter()
                .map(|m| {
                    (
                        m.clone(),
                        h.required_columns.get(m).cloned().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn phase_facts(number: u8, result: PhaseResult) -> PhaseFacts {
    let out = result.outputs;
    let dbt_exceptions = out
        .invocations
        .iter()
        .filter_map(|i| i.exception.clone())
        .collect();
    let mut problems = out.problems;
    if let Some(e) = out.report.raw_error {
        problems.push(format!("loading the raw snapshot failed: {e}"));
    }
    PhaseFacts {
        number,
        name: phase_name(number).to_string(),
        ran: PhaseRun::from_status(&result.status),
        nodes: result.nodes,
        wall_secs: result.wall_secs,
        dbt_secs: out.report.dbt.as_ref().and_then(|d| d.elapsed_secs),
        dbt_returncode: out.report.dbt.as_ref().and_then(|d| d.returncode),
        results: out.run_results.map(|r| r.results).unwrap_or_default(),
        manifest: out.manifest,
        dbt_exceptions,
        log_tail: out.log_tail,
        problems,
        hidden: Vec::new(),
        models: BTreeMap::new(),
        relation_columns: BTreeMap::new(),
    }
}

/// Measurements for a phase whose checks cannot run.
fn unrun_measurements(
    hidden: Option<&HiddenChecks>,
    number: u8,
    truths: &BTreeMap<&str, Value>,
    why: &PhaseRun,
) -> Vec<HiddenMeasurement> {
    let Some(hidden) = hidden else {
        return Vec::new();
    };
    let measurement = match why {
        PhaseRun::GraderFailed { reason } => Measurement::GraderFailed {
            reason: reason.clone(),
        },
        PhaseRun::NotRun { reason } => Measurement::NotRun {
            reason: reason.clone(),
        },
        other => Measurement::NotRun {
            reason: other.label().replace('_', " "),
        },
    };
    hidden
        .in_phase(number)
        .map(|c| HiddenMeasurement {
            check: c.id.clone(),
            measurement: measurement.clone(),
            expected: truths
                .get(snapshot_of(number))
                .map(|t| hidden::expected_value(c, t))
                .unwrap_or_else(|| Err("no truth loaded".into())),
        })
        .collect()
}

async fn run_queries(
    sandbox: &mut Sandbox,
    number: u8,
    queries: Vec<SandboxQuery>,
) -> Result<Vec<QueryResult>, PhaseRun> {
    let spec = PhaseSpec {
        name: format!("p{number}-checks"),
        raw: None,
        dbt_commands: Vec::new(),
        queries,
        dbt_timeout_secs: None,
        clock: None,
    };
    match sandbox.run_phase(&spec).await {
        Ok(res) => match res.status {
            PhaseStatus::Completed | PhaseStatus::DbtTimedOut => {
                if let Some(e) = res.outputs.report.queries_error {
                    Err(PhaseRun::NotRun {
                        reason: format!("the warehouse could not be opened: {e}"),
                    })
                } else {
                    Ok(res.outputs.queries)
                }
            }
            PhaseStatus::TimedOut => Err(PhaseRun::NotRun {
                reason: "the check queries hit the phase deadline".into(),
            }),
            PhaseStatus::RunnerFailed { detail } => Err(PhaseRun::GraderFailed {
                reason: format!("the check queries could not run: {detail}"),
            }),
        },
        Err(e) => Err(PhaseRun::GraderFailed {
            reason: format!("the check queries could not run: {e}"),
        }),
    }
}

const COLUMNS_QUERY: &str = "columns";

/// The queries of one phase's check step and how to read their answers.
struct QueryPlan {
    queries: Vec<SandboxQuery>,
    /// Per hidden check: its measurement when already known (missing model), or
    /// the models (name, schema, table, needed columns) its query reads.
    checks: Vec<(String, Result<Vec<ModelRef>, Measurement>)>,
    /// Idempotency models: relation, or missing.
    models: Vec<(String, Option<ModelRef>)>,
}

#[derive(Clone)]
struct ModelRef {
    name: String,
    schema: String,
    table: String,
    columns: Vec<String>,
}

impl ModelRef {
    fn relation(&self) -> String {
        format!(
            "{}.{}",
            hidden::quote_ident(&self.schema),
            hidden::quote_ident(&self.table)
        )
    }
}

fn is_ephemeral(phase: &PhaseFacts, name: &str) -> bool {
    phase
        .model_node(name)
        .and_then(|n| n.config.get("materialized"))
        .and_then(Value::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("ephemeral"))
}

fn model_ref(phase: &PhaseFacts, name: &str, columns: &[String]) -> Option<ModelRef> {
    let node = phase.model_node(name)?;
    Some(ModelRef {
        name: name.to_string(),
        schema: node.schema.clone().unwrap_or_else(|| "main".into()),
        table: node.alias.clone().unwrap_or_else(|| node.name.clone()),
        columns: columns.to_vec(),
    })
}

fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl QueryPlan {
    fn build(
        hidden: Option<&HiddenChecks>,
        number: u8,
        phase: &PhaseFacts,
        idem_models: &[(String, Vec<String>)],
        series_rows: u64,
    ) -> QueryPlan {
        let mut plan = QueryPlan {
            queries: Vec::new(),
            checks: Vec::new(),
            models: Vec::new(),
        };
        let mut tables: BTreeSet<String> = BTreeSet::new();
        for check in hidden.into_iter().flat_map(|h| h.in_phase(number)) {
            if phase.manifest.is_none() {
                plan.checks.push((
                    check.id.clone(),
                    Err(Measurement::NotRun {
                        reason: "dbt wrote no manifest: the project did not parse".into(),
                    }),
                ));
                continue;
            }
            let mut refs = Vec::new();
            let mut absent = None;
            for (model, cols) in check.models() {
                if is_ephemeral(phase, model) {
                    absent = Some(Measurement::Ephemeral {
                        model: model.to_string(),
                    });
                    break;
                }
                match model_ref(phase, model, cols) {
                    Some(r) => refs.push(r),
                    None => {
                        absent = Some(Measurement::MissingModel {
                            model: model.to_string(),
                        });
                        break;
                    }
                }
            }
            if let Some(m) = absent {
                plan.checks.push((check.id.clone(), Err(m)));
                continue;
            }
            let lookup = |name: &str| refs.iter().find(|r| r.name == name).map(ModelRef::relation);
            match check.resolve_sql(&lookup) {
                Ok(sql) => {
                    for r in &refs {
                        tables.insert(r.table.to_lowercase());
                    }
                    plan.queries.push(SandboxQuery {
                        name: format!("hidden:{}", check.id),
                        sql,
                        // A per-key comparison needs every key the model has.
                        max_rows: check.compare.is_series().then_some(series_rows),
                    });
                    plan.checks.push((check.id.clone(), Ok(refs)));
                }
                Err(model) => plan
                    .checks
                    .push((check.id.clone(), Err(Measurement::MissingModel { model }))),
            }
        }
        for (model, required) in idem_models {
            let r = model_ref(phase, model, required).filter(|_| !is_ephemeral(phase, model));
            if let Some(r) = &r {
                tables.insert(r.table.to_lowercase());
                // Only the contract's required columns: an extra column such
                // as a run-timestamp audit column may change on every build.
                let hashed = if required.is_empty() {
                    "t".to_string()
                } else {
                    let cols: Vec<String> =
                        required.iter().map(|c| hidden::quote_ident(c)).collect();
                    cols.join(", ")
                };
                plan.queries.push(SandboxQuery {
                    name: format!("state:{model}"),
                    sql: format!(
                        "select count(*) as row_count, cast(sum(hash({hashed})) as varchar) as checksum from {} as t",
                        r.relation()
                    ),
                    max_rows: None,
                });
            }
            plan.models.push((model.clone(), r));
        }
        if !tables.is_empty() {
            let list: Vec<String> = tables.iter().map(|t| sql_literal(t)).collect();
            plan.queries.insert(
                0,
                SandboxQuery {
                    max_rows: None,
                    name: COLUMNS_QUERY.into(),
                    sql: format!(
                        "select lower(table_schema), lower(table_name), lower(column_name) \
                         from information_schema.columns where lower(table_name) in ({}) \
                         order by 1, 2, 3",
                        list.join(", ")
                    ),
                },
            );
        }
        plan
    }

    fn interpret(&self, results: &[QueryResult], phase: &mut PhaseFacts) {
        let by_name: BTreeMap<&str, &QueryResult> =
            results.iter().map(|r| (r.name.as_str(), r)).collect();
        // (schema, table) -> columns, when the column listing is complete.
        let columns: Option<BTreeMap<(String, String), BTreeSet<String>>> = by_name
            .get(COLUMNS_QUERY)
            .filter(|r| r.error.is_none() && !r.truncated)
            .map(|r| {
                let mut map: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
                for row in &r.rows {
                    let s = |i: usize| {
                        row.get(i)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    map.entry((s(0), s(1))).or_default().insert(s(2));
                }
                map
            });
        if let Some(columns) = &columns {
            let refs = self
                .checks
                .iter()
                .filter_map(|(_, plan)| plan.as_ref().ok())
                .flatten()
                .chain(self.models.iter().filter_map(|(_, r)| r.as_ref()));
            for r in refs {
                let key = (r.schema.to_lowercase(), r.table.to_lowercase());
                if let Some(have) = columns.get(&key) {
                    phase
                        .relation_columns
                        .insert(r.name.clone(), have.iter().cloned().collect());
                }
            }
        }
        for (id, plan) in &self.checks {
            let measurement = match plan {
                Err(m) => m.clone(),
                Ok(refs) => match by_name.get(format!("hidden:{id}").as_str()) {
                    None => Measurement::GraderFailed {
                        reason: "the runner returned no answer for the check".into(),
                    },
                    Some(res) => match structural_problem(refs, columns.as_ref()) {
                        Some(m) => m,
                        None => match &res.error {
                            Some(error) => Measurement::QueryFailed {
                                error: error.clone(),
                            },
                            None => Measurement::Rows {
                                columns: res.columns.clone(),
                                rows: res.rows.clone(),
                                truncated: res.truncated,
                            },
                        },
                    },
                },
            };
            phase.hidden.push(HiddenMeasurement {
                check: id.clone(),
                measurement,
                expected: Err("not looked up yet".into()),
            });
        }
        for (model, r) in &self.models {
            let state = match r {
                None => ModelState::Missing,
                Some(_) => match by_name.get(format!("state:{model}").as_str()) {
                    None => ModelState::Unreadable {
                        error: "no answer".into(),
                    },
                    Some(res) => match (&res.error, res.rows.first()) {
                        (Some(e), _) => ModelState::Unreadable { error: e.clone() },
                        (None, Some(row)) => ModelState::Measured {
                            rows: row.first().and_then(Value::as_i64).unwrap_or(-1),
                            checksum: row
                                .get(1)
                                .and_then(Value::as_str)
                                .unwrap_or("NULL")
                                .to_string(),
                        },
                        (None, None) => ModelState::Unreadable {
                            error: "no row".into(),
                        },
                    },
                },
            };
            phase.models.insert(model.clone(), state);
        }
    }

    fn fail_all(&self, why: &PhaseRun, phase: &mut PhaseFacts) {
        let measurement = match why {
            PhaseRun::GraderFailed { reason } => Measurement::GraderFailed {
                reason: reason.clone(),
            },
            PhaseRun::NotRun { reason } => Measurement::NotRun {
                reason: reason.clone(),
            },
            other => Measurement::NotRun {
                reason: other.label().into(),
            },
        };
        for (id, plan) in &self.checks {
            phase.hidden.push(HiddenMeasurement {
                check: id.clone(),
                measurement: plan.clone().err().unwrap_or_else(|| measurement.clone()),
                expected: Err("not looked up yet".into()),
            });
        }
    }
}

/// A relation that does not exist, or lacks columns the check reads, decided
/// from the warehouse's own column listing.
fn structural_problem(
    refs: &[ModelRef],
    columns: Option<&BTreeMap<(String, String), BTreeSet<String>>>,
) -> Option<Measurement> {
    let columns = columns?;
    for r in refs {
        let key = (r.schema.to_lowercase(), r.table.to_lowercase());
        let Some(have) = columns.get(&key) else {
            return Some(Measurement::NotBuilt {
                model: r.name.clone(),
            });
        };
        let missing: Vec<String> = r
            .columns
            .iter()
            .filter(|c| !have.contains(&c.to_lowercase()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Some(Measurement::MissingColumns {
                model: r.name.clone(),
                columns: missing,
            });
        }
    }
    None
}

/// Every hidden check of a phase judged against its truth with the rubric's
/// tolerance, in the pack's order.
pub fn phase_verdicts(facts: &ExecutionFacts, phase: u8, tol: &Tolerance) -> Vec<Verdict> {
    let (Some(hidden), Some(p)) = (&facts.hidden, facts.phase(phase)) else {
        return Vec::new();
    };
    p.hidden
        .iter()
        .filter_map(|m| {
            let check = hidden.find(&m.check)?;
            Some(judge(check, phase, &m.measurement, &m.expected, tol))
        })
        .collect()
}

/// The stage's one-line record for the report.
pub fn stage_detail(facts: &ExecutionFacts) -> String {
    match &facts.status {
        ExecStatus::NoProject => "no dbt project to run".into(),
        ExecStatus::Unavailable { reason } => reason.clone(),
        ExecStatus::Ran => {
            let phases: Vec<String> = facts
                .phases
                .iter()
                .map(|p| {
                    format!(
                        "{} {} in {:.1} s ({} of {} nodes ok)",
                        p.name,
                        p.ran.label().replace('_', " "),
                        p.wall_secs,
                        p.nodes.ok,
                        p.nodes.total
                    )
                })
                .collect();
            format!(
                "{}; stage {:.1} s, dbt {:.1} s",
                phases.join("; "),
                facts.timings.total_secs,
                facts.timings.dbt_secs
            )
        }
    }
}

/// Where the data of an exercise lives in a cache root (for tools and docs).
/// The generator's version is part of the folder: data cached by an older
/// assay (other truth keys) is never read by a newer one.
pub fn data_dir(cache_root: &Path, exercise: &str, seed: u64, scale: u32) -> PathBuf {
    let version = crate::generate::GENERATOR_VERSION
        .rsplit('/')
        .next()
        .unwrap_or("0");
    cache_root
        .join("data")
        .join(exercise)
        .join(format!("{seed}-{scale}-v{version}"))
}

/// The nodes of a phase that did not succeed, each with the first line of
/// dbt's message that says why: tests when `tests`, else models, seeds and
/// snapshots. A test that only warned is not a failure.
fn node_issues(
    results: &[crate::execute::RunResult],
    tests: bool,
) -> Vec<crate::report::NodeIssue> {
    use crate::execute::NodeStatus;
    results
        .iter()
        .filter(|r| r.unique_id.starts_with("test.") == tests)
        .filter(|r| {
            matches!(
                r.status,
                NodeStatus::Error | NodeStatus::Fail | NodeStatus::RuntimeError
            )
        })
        .map(|r| crate::report::NodeIssue {
            node: node_name(&r.unique_id),
            message: r
                .message
                .as_deref()
                .map(error_line)
                .unwrap_or_else(|| format!("{:?}", r.status).to_lowercase()),
        })
        .collect()
}

/// `model.shop.mart_gmv_daily` as `mart_gmv_daily`; a test's trailing hash
/// (`test.shop.unique_x_id.4f2a1b`) is dropped.
fn node_name(unique_id: &str) -> String {
    let mut parts: Vec<&str> = unique_id.split('.').collect();
    if parts.first() == Some(&"test") && parts.len() > 3 {
        parts.pop();
    }
    parts.last().copied().unwrap_or(unique_id).to_string()
}

/// The line of a dbt message that says what went wrong: dbt starts with a
/// header ("Runtime Error in model x (models/x.sql)") and puts the database's
/// own error below it.
fn error_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let header = |l: &str| l.contains(" Error in ") && l.ends_with(')');
    lines
        .iter()
        .find(|l| !header(l))
        .or(lines.first())
        .map(|l| crate::report::strip_control(l).chars().take(300).collect())
        .unwrap_or_default()
}

/// The report's execution section: phases, every hidden check's verdict per
/// phase (judged with the tolerance the rubric gives that phase's criterion),
/// dbt's test tally of the first phase and the end of dbt's log. `None` when
/// nothing ran.
pub fn report_summary(
    facts: &ExecutionFacts,
    tolerance: &dyn Fn(u8) -> Option<Tolerance>,
) -> Option<crate::report::ExecutionSummary> {
    use crate::report::{ExecutionSummary, HiddenCheckRun, PhaseSummary, TestTally};
    if facts.status != ExecStatus::Ran {
        return None;
    }
    let tally = |n: &crate::execute::NodeSummary| TestTally {
        total: n.total as u64,
        passed: n.ok as u64,
        failed: n.failed as u64,
        errored: (n.errored + n.other) as u64,
        warned: n.warned as u64,
        skipped: n.skipped as u64,
    };
    let mut summary = ExecutionSummary::default();
    for p in &facts.phases {
        let detail = match &p.ran {
            PhaseRun::NotRun { reason } | PhaseRun::GraderFailed { reason } => Some(reason.clone()),
            _ => p.dbt_exceptions.first().cloned(),
        };
        summary.phases.push(PhaseSummary {
            phase: p.number,
            name: p.name.clone(),
            status: p.ran.label().to_string(),
            detail,
            wall_secs: Some((p.wall_secs * 10.0).round() / 10.0),
            nodes: (p.nodes.total > 0).then(|| tally(&p.nodes)),
            problems: p.problems.clone(),
            dbt_exit_code: p.dbt_returncode,
            errored: node_issues(&p.results, false),
            failed_tests: node_issues(&p.results, true),
        });
        let verdicts = match tolerance(p.number) {
            Some(tol) => phase_verdicts(facts, p.number, &tol),
            None => Vec::new(),
        };
        for v in verdicts {
            let def = facts.hidden.as_ref().and_then(|h| h.find(&v.check));
            summary.hidden_checks.push(HiddenCheckRun {
                title: def.map(|c| c.title.clone()).unwrap_or_default(),
                model: def.map(|c| c.model.clone()).unwrap_or_default(),
                compare: def
                    .map(|c| c.compare.name().to_string())
                    .unwrap_or_default(),
                noun: def.and_then(|c| c.noun.clone()),
                note: v.note,
                trap: def.and_then(|c| c.trap.clone()),
                check: v.check,
                phase: v.phase,
                outcome: v.outcome,
                measured: v.measured,
                expected: v.expected,
            });
        }
    }
    if let Some(p1) = facts.phase(1) {
        let mut t = TestTally::default();
        for r in p1
            .results
            .iter()
            .filter(|r| r.unique_id.starts_with("test."))
        {
            t.total += 1;
            match &r.status {
                crate::execute::NodeStatus::Pass | crate::execute::NodeStatus::Success => {
                    t.passed += 1
                }
                crate::execute::NodeStatus::Warn => {
                    t.passed += 1;
                    t.warned += 1
                }
                crate::execute::NodeStatus::Fail => t.failed += 1,
                crate::execute::NodeStatus::Skipped => t.skipped += 1,
                _ => t.errored += 1,
            }
        }
        summary.candidate_tests = (t.total > 0).then_some(t);
    }
    if let Some(p) = facts
        .phases
        .iter()
        .rev()
        .find(|p| !p.log_tail.trim().is_empty())
    {
        let lines: Vec<&str> = p.log_tail.lines().collect();
        let from = lines.len().saturating_sub(30);
        summary.dbt_log_tail = lines[from..].iter().map(|l| l.to_string()).collect();
    }
    Some(summary)
}
