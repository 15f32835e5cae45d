//! The Airflow DAG analyser: reads each DAG file the way Airflow's parser would
//! run it and produces [`DagFacts`] — DAGs, their settings, tasks with effective
//! settings, and the dependency graph — never keyword hits.
//!
//! ## How it works
//! 1. A contained worker process (`assay __contained`, see [`crate::contained`])
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
//! 4. Imports of the submission's own modules (`from transform import
//!    build_marts`, `import helpers`, `from .lib import *`, imports inside a
//!    task function's body) are followed ([`imports`]): each module is parsed in
//!    the contained child like the DAG file, within limits of depth, count and
//!    bytes ([`ImportLimits`]), and runs once in its own globals. A task whose
//!    function lives there is read there, together with the functions it calls
//!    (a few levels deep), and evidence points into that module. Third-party
//!    modules are never followed; no import resolves outside the submission or
//!    through a symlink (the inventory lists neither). A `python_callable` that
//!    still cannot be read is recorded on the task (`unresolved_callable`): the
//!    task keeps counting as work, its function's effect is unknown.
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
mod imports;
mod model;
mod scan;
pub mod syntax;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Duration;

pub(crate) use eval::snippet_of;
pub use imports::ImportLimits;
pub use model::*;
pub(crate) use scan::credentials as scan_credentials;
pub(crate) use scan::visit as visit_stmts;

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
    /// Following imports into the submission's own modules.
    pub imports: ImportLimits,
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
            imports: ImportLimits::default(),
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

/// Modules of the submission, read through the inventory and parsed once per
/// grade however many DAG files import them.
struct Submission<'a> {
    inventory: &'a Inventory,
    parse: &'a dyn Fn(&[u8]) -> Result<syntax::Module, ContainedError>,
    cache: HashMap<String, Result<(String, syntax::Module), String>>,
}

impl imports::Source for Submission<'_> {
    fn has(&self, path: &str) -> bool {
        self.inventory.file(path).is_some()
    }

    fn load(&mut self, path: &str, max_bytes: u64) -> Result<(String, syntax::Module), String> {
        if let Some(hit) = self.cache.get(path) {
            return hit.clone();
        }
        let loaded = self
            .inventory
            .read_text_capped(path, max_bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| match (self.parse)(text.as_bytes()) {
                Ok(m) => Ok((text, m)),
                Err(e) => Err(e.to_string()),
            });
        self.cache.insert(path.to_string(), loaded.clone());
        loaded
    }
}

/// Trusted modules given in memory (tests, fixtures).
struct InMemory<'a> {
    files: &'a [(&'a str, &'a str)],
}

impl imports::Source for InMemory<'_> {
    fn has(&self, path: &str) -> bool {
        self.files.iter().any(|(p, _)| *p == path)
    }

    fn load(&mut self, path: &str, _max: u64) -> Result<(String, syntax::Module), String> {
        let (_, text) = self
            .files
            .iter()
            .find(|(p, _)| *p == path)
            .ok_or_else(|| format!("{path} is not part of the submission"))?;
        let m = syntax::parse(text.as_bytes()).map_err(|e| e.to_string())?;
        Ok((text.to_string(), m))
    }
}

/// As [`analyse`], with the parser given (tests parse in-process).
pub fn analyse_with(
    inventory: &Inventory,
    limits: &DagLimits,
    parse: &dyn Fn(&[u8]) -> Result<syntax::Module, ContainedError>,
) -> DagFacts {
    let mut facts = DagFacts::default();
    let mut submission = Submission {
        inventory,
        parse,
        cache: HashMap::new(),
    };
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
                let graph = imports::follow(path, source, module, &mut submission, &limits.imports);
                // a bug in the analyser costs this file, never the grade
                let analysed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    analyse_graph(&graph, candidate_work)
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
    analyse_source_with_modules(path, source, candidate_work, &[])
}

/// As [`analyse_source`], with the submission's other Python files (path,
/// text) that the DAG file may import.
pub fn analyse_source_with_modules(
    path: &str,
    source: &str,
    candidate_work: bool,
    modules: &[(&str, &str)],
) -> Result<(DagFile, Vec<Dag>), syntax::SyntaxError> {
    let module = syntax::parse(source.as_bytes())?;
    let mut src = InMemory { files: modules };
    let graph = imports::follow(
        path,
        source.to_string(),
        module,
        &mut src,
        &ImportLimits::default(),
    );
    Ok(analyse_graph(&graph, candidate_work))
}

fn analyse_graph(graph: &imports::ImportGraph, candidate_work: bool) -> (DagFile, Vec<Dag>) {
    let root = &graph.modules[0];
    let (path, source, module) = (root.path.as_str(), root.source.as_str(), &root.module);
    let ev = eval::run(graph);
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
        modules: graph.modules[1..].iter().map(|m| m.path.clone()).collect(),
        unfollowed: graph.unfollowed.clone(),
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
        modules: Vec::new(),
        unfollowed: Vec::new(),
    }
}

impl DagFacts {
    /// DAGs from files the candidate wrote or changed: the starter's own DAG,
    /// unchanged, earns nothing.
    pub fn candidate_dags(&self) -> Vec<&Dag> {
        self.dags
            .iter()
            .filter(|d| {
                // a DAG built by a factory in an imported module belongs to
                // the DAG file that imports it
                self.files
                    .iter()
                    .any(|f| f.candidate_work && (f.path == d.file || f.modules.contains(&d.file)))
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
        let index = self.index.get(&self.tasks, &self.edges);
        index.position.get(id).map(|&i| &self.tasks[i])
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
        let index = self.index.get(&self.tasks, &self.edges);
        let next = if up { &index.up } else { &index.down };
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![id];
        while let Some(cur) = stack.pop() {
            for b in next.get(cur).into_iter().flatten() {
                if seen.insert(b.clone()) {
                    stack.push(b.as_str());
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
