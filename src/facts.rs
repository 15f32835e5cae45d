//! Facts: everything the analysers learned about one submission. Checks read
//! only this; they never open files or call Docker.

use crate::acquire::SourceKind;
use crate::analyse::dag::DagFacts;
use crate::analyse::dbt::DbtFacts;
use crate::analyse::docs::DocsFacts;
use crate::analyse::review::ReviewFacts;
pub use crate::execute::ExecutionFacts;
use crate::history::History;
use crate::inventory::Inventory;

#[derive(Debug)]
pub struct Facts {
    pub submission: SubmissionFacts,
    pub inventory: Inventory,
    /// Commit history, when the submission came from git and has more than the
    /// starter's own commit.
    pub history: Option<History>,
    /// The candidate's Markdown, as sections and blocks.
    pub docs: DocsFacts,
    /// The Airflow DAGs, read from the DAG files' code.
    pub dag: DagFacts,
    /// The candidate's other Python modules: SQL text, caught errors, HTTP
    /// calls, credentials.
    pub code: crate::analyse::code::CodeFacts,
    /// The dbt project as dbt would read it: models, lineage, tests, SQL facts.
    pub dbt: DbtFacts,
    /// The candidate's code review of the files the exercise plants issues
    /// in; `None` when the exercise has no review (no `review.toml`).
    pub review: Option<ReviewFacts>,
    /// What running the dbt project in the sandbox showed; `None` when grading
    /// without execution on purpose (`--no-exec`).
    pub execution: Option<ExecutionFacts>,
}

#[derive(Debug, Clone)]
pub struct SubmissionFacts {
    pub name: String,
    pub kind: SourceKind,
    pub commit: Option<String>,
    /// Whether files were compared with the exercise's starter, so that
    /// `Inventory::is_candidate_work` means something.
    pub starter_compared: bool,
}

impl Facts {
    /// The commit history when it says anything about how the candidate worked.
    pub fn usable_history(&self) -> Option<&History> {
        self.history.as_ref().filter(|h| h.is_usable())
    }
}
