//! The Airflow DAG analyser: reads each DAG file the way Airflow's parser would
//! run it and produces [`DagFacts`] — DAGs, their settings, tasks with effective
//! settings, and the dependency graph — never keyword hits.
//!
//! ## How it works
//! 1. A child process (`assay __contained python`, see [`crate::contained`])
//!    parses the file with tree-sitter-python and returns a small syntax tree as
//!    JSON ([`syntax`]). tree-sitter-python can abort on some inputs; an abort
//!    costs that one file, which becomes an error fact.
//! 2. In the grader, [`eval`] runs the module-level code abstractly: imports and
//!    aliases resolve operator classes (Airflow 2 and 3 paths, providers); values
//!    follow variables, `dict(...)`, `{**base}`, `|`, `.update()` and item
//!    assignment; `with DAG(...)`, `DAG(...)`, called `@dag` functions,
//!    TaskGroups and `@task_group`s, `@task` calls (with `.override`), helper
//!    functions, `for` loops and list comprehensions over known values
//!    (`range(...)` included), and dynamic task mapping (`.partial().expand()`
//!    of an operator or a `@task`: one task, whose expanded arguments are read
//!    from their first value) are followed. Uncalled functions, `if __name__ == "__main__"`
//!    blocks, comments and unused variables create nothing. Variables and
//!    environment reads are *unknown*, not *missing*.
//! 3. Dependencies: `>>`/`<<` with lists and Labels, set_upstream/downstream,
//!    chain, chain_linear, cross_downstream, `.output` and TaskFlow arguments.
//!    Edges to a TaskGroup reach its root tasks, edges from it leave its leaves.
//!
//! ## Stages
//! Each task gets the stages of the exercise's pipeline it performs:
//! - **extract**: Airbyte/Fivetran trigger and sensor operators, transfer
//!   operators, sensors waiting for upstream data, `dbt source freshness` (a
//!   check on what was extracted), Python functions calling an extract API;
//! - **transform**: `dbt run`/`seed`/`snapshot`/`build`, dbt operators, SQL
//!   operators, Python functions that transform DataFrames;
//! - **test**: `dbt test` (and `dbt build`, which runs tests too), SQL check,
//!   Great Expectations and Soda operators, `dbt run-operation` of an
//!   assert/check macro, Python functions that raise when a check fails;
//! - **publish**: `dbt docs generate`, tasks declaring `outlets`, TriggerDagRun,
//!   Slack/e-mail/HTTP/BI-refresh operators, Python functions that notify.
//!
//! EmptyOperator, branching and functions that do nothing get no stage. Only a
//! command or function whose work cannot be read is classified by its task id,
//! and a command that does nothing (`echo`, `true`) never is.

mod classify;
mod eval;
mod model;
mod scan;
pub mod syntax;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use model::*;

use crate::contained::{self, ContainedError, ContainedLimits};
use crate::inventory::Inventory;

/// Limits of the DAG analyser.
#[derive(Debug, Clone)]
pub struct DagLimits {
    /// Larger DAG files are not parsed (reported as skipped).
    pub max_file_bytes: u64,
    /// Most DAG files analysed per submission.
    pub max_files: usize,
    pub contained: ContainedLimits,
}

impl Default for DagLimits {
    fn default() -> Self {
        DagLimits {
            max_file_bytes: 1024 * 1024,
            max_files: 50,
            contained: ContainedLimits {
                timeout: Duration::from_secs(10),
                memory_bytes: 1024 * 1024 * 1024,
                max_output_bytes: 64 * 1024 * 1024,
            },
        }
    }
}

/// The contained parser: Python source in, the syntax tree as JSON out.
pub fn contained_entry(input: &[u8]) -> Result<Vec<u8>, String> {
    let module = syntax::parse(input).map_err(|e| e.to_string())?;
    serde_json::to_vec(&module).map_err(|e| e.to_string())
}

/// Analyses every DAG file of the inventory, parsing each in a contained child.
pub fn analyse(inventory: &Inventory, limits: &DagLimits) -> DagFacts {
    analyse_with(inventory, limits, &|source: &[u8]| {
        let out = contained::run("python", source, &limits.contained)?;
        serde_json::from_slice::<syntax::Module>(&out)
            .map_err(|e| ContainedError::Refused(format!("unreadable parser output: {e}")))
    })
}

/// As [`analyse`], with the parser given (tests parse in-process).
pub fn analyse_with(
    inventory: &Inventory,
    limits: &DagLimits,
    parse: &dyn Fn(&[u8]) -> Result<syntax::Module, ContainedError>,
) -> DagFacts {
    let mut facts = DagFacts::default();
    for (i, path) in inventory.dags.iter().enumerate() {
        let candidate_work = inventory.is_candidate_work(path);
        if i >= limits.max_files {
            facts.files.push(empty_file(
                path,
                candidate_work,
                FileStatus::Skipped {
                    reason: format!("more than {} DAG files", limits.max_files),
                },
            ));
            continue;
        }
        let source = match inventory.read_text_capped(path, limits.max_file_bytes) {
            Ok(s) => s,
            Err(e) => {
                facts.files.push(empty_file(
                    path,
                    candidate_work,
                    FileStatus::Skipped {
                        reason: e.to_string(),
                    },
                ));
                continue;
            }
        };
        match parse(source.as_bytes()) {
            Ok(module) => {
                // a bug in the analyser costs this file, never the grade
                let analysed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    analyse_parsed(path, &source, &module, candidate_work)
                }));
                match analysed {
                    Ok((file, dags)) => {
                        facts.files.push(file);
                        facts.dags.extend(dags);
                    }
                    Err(_) => facts.files.push(empty_file(
                        path,
                        candidate_work,
                        FileStatus::Error {
                            reason: "the DAG analyser failed on this file".into(),
                        },
                    )),
                }
            }
            Err(e) => facts.files.push(empty_file(
                path,
                candidate_work,
                FileStatus::Error {
                    reason: e.to_string(),
                },
            )),
        }
    }
    facts
}

/// Analyses one file's source in this process. For trusted input (tests,
/// fixtures): untrusted files go through [`analyse`].
pub fn analyse_source(
    path: &str,
    source: &str,
    candidate_work: bool,
) -> Result<(DagFile, Vec<Dag>), syntax::SyntaxError> {
    let module = syntax::parse(source.as_bytes())?;
    Ok(analyse_parsed(path, source, &module, candidate_work))
}

fn analyse_parsed(
    path: &str,
    source: &str,
    module: &syntax::Module,
    candidate_work: bool,
) -> (DagFile, Vec<Dag>) {
    let ev = eval::run(path, source, module);
    let lines: Vec<&str> = source.lines().collect();
    let credentials = scan::credentials(path, &lines, &module.body);
    let large_xcom = ev
        .dags
        .iter()
        .flat_map(|d| d.tasks.iter())
        .filter_map(|t| t.callable.as_ref())
        .flat_map(|c| c.large_xcom.iter().cloned())
        .fold(Vec::<Site>::new(), |mut acc, s| {
            if !acc.contains(&s) {
                acc.push(s);
            }
            acc
        });
    let mut date_pitfalls = ev.date_pitfalls;
    let mut date_templates = ev.date_templates;
    for t in ev.dags.iter().flat_map(|d| d.tasks.iter()) {
        let Some(c) = &t.callable else { continue };
        for s in &c.wallclock {
            if !date_pitfalls.contains(s) {
                date_pitfalls.push(s.clone());
            }
        }
        if c.run_date_from_context {
            date_templates.push(Site {
                file: t.file.clone(),
                span: c.span,
                snippet: t.snippet.lines().next().unwrap_or("").to_string(),
                what: format!(
                    "task `{}` takes its run date from Airflow's context",
                    t.task_id
                ),
            });
        }
    }
    let file = DagFile {
        path: path.to_string(),
        candidate_work,
        status: FileStatus::Analysed,
        syntax_error_line: module.syntax_error_line,
        top_level_work: ev.top_level_work,
        credentials,
        date_pitfalls,
        date_templates,
        large_xcom,
        problems: ev.problems,
    };
    (file, ev.dags)
}

fn empty_file(path: &str, candidate_work: bool, status: FileStatus) -> DagFile {
    DagFile {
        path: path.to_string(),
        candidate_work,
        status,
        syntax_error_line: None,
        top_level_work: Vec::new(),
        credentials: Vec::new(),
        date_pitfalls: Vec::new(),
        date_templates: Vec::new(),
        large_xcom: Vec::new(),
        problems: Vec::new(),
    }
}

impl DagFacts {
    /// DAGs from files the candidate wrote or changed: the starter's own DAG,
    /// unchanged, earns nothing.
    pub fn candidate_dags(&self) -> Vec<&Dag> {
        self.dags
            .iter()
            .filter(|d| {
                self.files
                    .iter()
                    .any(|f| f.path == d.file && f.candidate_work)
            })
            .collect()
    }

    pub fn candidate_files(&self) -> Vec<&DagFile> {
        self.files.iter().filter(|f| f.candidate_work).collect()
    }

    /// Files of the candidate the grader could not analyse (parser crash).
    pub fn errored_files(&self) -> Vec<&DagFile> {
        self.files
            .iter()
            .filter(|f| f.candidate_work && matches!(f.status, FileStatus::Error { .. }))
            .collect()
    }
}

impl Dag {
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.task_id == id)
    }

    /// Every task upstream of `id`, transitively.
    pub fn ancestors(&self, id: &str) -> std::collections::BTreeSet<String> {
        self.reach(id, true)
    }

    /// Every task downstream of `id`, transitively.
    pub fn descendants(&self, id: &str) -> std::collections::BTreeSet<String> {
        self.reach(id, false)
    }

    fn reach(&self, id: &str, up: bool) -> std::collections::BTreeSet<String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![id.to_string()];
        while let Some(cur) = stack.pop() {
            for e in &self.edges {
                let (a, b) = if up {
                    (&e.to, &e.from)
                } else {
                    (&e.from, &e.to)
                };
                if *a == cur && seen.insert(b.clone()) {
                    stack.push(b.clone());
                }
            }
        }
        seen.remove(id);
        seen
    }

    /// A DAG-level setting, or the missing marker.
    pub fn setting(&self, key: &str) -> &Setting {
        self.settings.get(key).unwrap_or(&MISSING)
    }
}
