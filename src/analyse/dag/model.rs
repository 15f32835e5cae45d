//! The facts the DAG analyser hands to checks: every DAG Airflow would register,
//! its settings, its tasks with their effective settings, and the dependency
//! graph. Every fact carries the file and lines it came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::syntax::Span;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DagFacts {
    /// Every Python file the inventory lists as a DAG file, analysed or not.
    pub files: Vec<DagFile>,
    /// Every DAG those files register, in file order.
    pub dags: Vec<Dag>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DagFile {
    pub path: String,
    /// False when the file is the starter's, unchanged: it earns no credit.
    pub candidate_work: bool,
    pub status: FileStatus,
    /// Where tree-sitter found a syntax error; Airflow would not import the file.
    pub syntax_error_line: Option<u32>,
    /// Work that runs every time the scheduler parses the file.
    pub top_level_work: Vec<Site>,
    /// String literals that look like credentials.
    pub credentials: Vec<Site>,
    /// Date handling that breaks reruns: Jinja inside f-strings, wall-clock dates.
    pub date_pitfalls: Vec<Site>,
    /// Templated run dates (`{{ ds }}`, data_interval) used by tasks.
    pub date_templates: Vec<Site>,
    /// Python callables that push large data through XCom.
    pub large_xcom: Vec<Site>,
    /// Constructs Airflow would reject or that the analyser could not follow.
    pub problems: Vec<Site>,
    /// The submission's own modules this file imports (directly or through
    /// other modules) that were analysed with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    /// Imports of the submission's own modules that were not analysed, and why
    /// (the analyser's limits, a module it could not parse).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfollowed: Vec<Site>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileStatus {
    Analysed,
    /// The parser crashed or was killed on this file: the grader cannot judge it.
    Error {
        reason: String,
    },
    /// Too large or unreadable under the analyser's limits.
    Skipped {
        reason: String,
    },
}

/// A place in a file and what was found there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Site {
    pub file: String,
    pub span: Span,
    pub snippet: String,
    pub what: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DagStyle {
    /// `dag = DAG(...)` with tasks given `dag=`.
    Classic,
    /// `with DAG(...) as dag:`
    Context,
    /// A `@dag` function that is called.
    Decorator,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dag {
    pub dag_id: String,
    pub file: String,
    pub span: Span,
    pub snippet: String,
    pub style: DagStyle,
    /// schedule, catchup, start_date, end_date, max_active_runs, dagrun_timeout,
    /// tags, doc_md, description, on_failure_callback, ... as written on the DAG
    /// (start_date falls back to default_args, as Airflow does).
    pub settings: BTreeMap<String, Setting>,
    /// default_args after variables, `dict(...)`, `{**base}` merges and mutation.
    pub default_args: BTreeMap<String, Setting>,
    pub tasks: Vec<Task>,
    pub groups: Vec<String>,
    pub edges: Vec<Edge>,
    /// The task ids of one cycle, when the graph has one (Airflow refuses the DAG).
    pub cycle: Option<Vec<String>>,
    /// Lookups by task id, built on first use.
    #[serde(skip)]
    pub index: TaskIndex,
}

/// Task positions and edges by task id. Checks ask for a task's ancestors and
/// look each one up; scanning the task and edge lists for that made a
/// 1,000-task DAG cost seconds.
#[derive(Debug, Clone, Default)]
pub struct TaskIndex(std::sync::OnceLock<Index>);

#[derive(Debug, Clone, Default)]
pub struct Index {
    pub position: std::collections::HashMap<String, usize>,
    pub down: std::collections::HashMap<String, Vec<String>>,
    pub up: std::collections::HashMap<String, Vec<String>>,
}

/// A cache: two DAGs with the same facts are equal whether or not it is built.
impl PartialEq for TaskIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl TaskIndex {
    pub fn get(&self, tasks: &[Task], edges: &[Edge]) -> &Index {
        self.0.get_or_init(|| {
            let mut index = Index::default();
            for (i, t) in tasks.iter().enumerate() {
                index.position.entry(t.task_id.clone()).or_insert(i);
            }
            for e in edges {
                index
                    .down
                    .entry(e.from.clone())
                    .or_default()
                    .push(e.to.clone());
                index
                    .up
                    .entry(e.to.clone())
                    .or_default()
                    .push(e.from.clone());
            }
            index
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub how: EdgeKind,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// `>>` / `<<`
    Shift,
    /// set_upstream / set_downstream
    Method,
    Chain,
    ChainLinear,
    CrossDownstream,
    /// `.output` or a TaskFlow result passed as an argument.
    Data,
}

/// Where a task's work falls in the exercise's pipeline. See the module docs of
/// `analyse::dag` for how each task is classified.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Extract,
    Transform,
    Test,
    Publish,
}

impl Stage {
    pub const ORDER: [Stage; 4] = [
        Stage::Extract,
        Stage::Transform,
        Stage::Test,
        Stage::Publish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Extract => "extract",
            Stage::Transform => "transform",
            Stage::Test => "test",
            Stage::Publish => "publish",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    /// The full task id, with its TaskGroup prefix as Airflow builds it.
    pub task_id: String,
    /// The operator class's import path (`airflow.operators.bash.BashOperator`), or
    /// `@task`, `@task.bash`, ... for TaskFlow functions.
    pub operator: String,
    pub group: Option<String>,
    pub file: String,
    pub span: Span,
    pub snippet: String,
    /// Stages this task covers (`dbt build` is both transform and test); empty for
    /// control tasks such as EmptyOperator.
    pub stages: Vec<Stage>,
    /// Why the task got its stages.
    pub stage_reason: String,
    /// The task asserts something about the data (dbt test, freshness, SQL check):
    /// a failure is a finding, not a transient error.
    pub is_check: bool,
    pub is_sensor: bool,
    /// Effective settings: the task's own, over the DAG's default_args, over
    /// Airflow's defaults.
    pub settings: BTreeMap<String, Setting>,
    /// The shell command, with Python interpolation resolved where it could be.
    pub bash_command: Option<String>,
    pub dbt: Vec<DbtInvocation>,
    pub callable: Option<Callable>,
    /// Why the task's `python_callable` could not be read, when it could not:
    /// the task still does work, only what it does is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unresolved_callable: Option<String>,
}

impl Task {
    pub fn setting(&self, key: &str) -> &Setting {
        self.settings.get(key).unwrap_or(&MISSING)
    }

    pub fn has_stage(&self, stage: Stage) -> bool {
        self.stages.contains(&stage)
    }

    /// A task that only steers the run. A task whose function could not be
    /// read is never one: it runs code, whatever that code does.
    pub fn is_control(&self) -> bool {
        self.stages.is_empty() && self.unresolved_callable.is_none()
    }
}

pub static MISSING: Setting = Setting {
    value: Known::Missing,
    origin: Origin::AirflowDefault,
    line: None,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Setting {
    pub value: Known,
    pub origin: Origin,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Task,
    DefaultArgs,
    Dag,
    AirflowDefault,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Task => "set on the task",
            Origin::DefaultArgs => "from default_args",
            Origin::Dag => "set on the DAG",
            Origin::AirflowDefault => "Airflow's default",
        }
    }
}

/// A setting's value as far as the code determines it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Known {
    /// Not set anywhere.
    Missing,
    /// Set, but from a Variable, the environment or code the analyser does not
    /// evaluate. Not the same as missing.
    Unknown(String),
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Seconds(f64),
    DateTime {
        is_static: bool,
        text: String,
    },
    List(Vec<Known>),
    Callable(CallbackRef),
    Other(String),
}

impl Known {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Known::Int(v) => Some(*v),
            Known::Bool(b) => Some(*b as i64),
            Known::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }

    pub fn as_seconds(&self) -> Option<f64> {
        match self {
            Known::Seconds(s) => Some(*s),
            Known::Int(v) => Some(*v as f64),
            Known::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn is_set(&self) -> bool {
        !matches!(self, Known::Missing)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Known::Unknown(_))
    }

    /// Callbacks that do something: a function with a real body or a notifier.
    pub fn working_callbacks(&self) -> Vec<&CallbackRef> {
        match self {
            Known::Callable(c) if !c.trivial => vec![c],
            Known::List(items) => items.iter().flat_map(|i| i.working_callbacks()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Known::Missing => "not set".into(),
            Known::Unknown(why) => format!("unknown ({why})"),
            Known::None => "None".into(),
            Known::Bool(b) => if *b { "True" } else { "False" }.into(),
            Known::Int(v) => v.to_string(),
            Known::Float(v) => v.to_string(),
            Known::Text(t) => format!("{t:?}"),
            Known::Seconds(s) => format!("{s} s"),
            Known::DateTime { text, .. } => text.clone(),
            Known::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| i.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Known::Callable(c) => c.name.clone(),
            Known::Other(t) => t.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallbackRef {
    pub name: String,
    /// The function does nothing (only `pass`, `...` or a docstring).
    pub trivial: bool,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DbtInvocation {
    /// `build`, `run`, `test`, `seed`, `snapshot`, `source freshness`,
    /// `docs generate`, `run-operation`, ...
    pub command: String,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    pub target: Option<String>,
    pub full_refresh: bool,
    /// The macro of a `run-operation`.
    pub macro_name: Option<String>,
    pub text: String,
}

/// What a Python task's function does, read from its body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Callable {
    pub name: String,
    pub span: Span,
    pub trivial: bool,
    /// Reasons to believe the function transforms data in Python (pandas over
    /// warehouse tables), each with its line.
    pub heavy_transform: Vec<Site>,
    /// Signs that the function asserts data quality (raises on a check).
    pub checks_data: bool,
    pub notifies: bool,
    pub extracts: bool,
    /// Returns or pushes of row sets and DataFrames into XCom.
    pub large_xcom: Vec<Site>,
    /// Dates taken from the wall clock inside the function.
    pub wallclock: Vec<Site>,
    /// The function takes its run date from Airflow's context (`ds`,
    /// `data_interval_start`, `get_current_context()`).
    pub run_date_from_context: bool,
    /// The functions it calls that were read with it (`file:line name`), in
    /// the DAG file or the submission's own modules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads_from: Vec<String>,
}
