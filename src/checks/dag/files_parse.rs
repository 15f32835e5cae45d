use super::{file_error, site_evidence};
use crate::analyse::dag::FileStatus;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every DAG file the candidate wrote can be read and would import: no
    /// syntax error, no construct Airflow rejects at import (`list >> list`,
    /// `chain()` of unequal lists), no task left outside every DAG, no cycle.
    /// A file the grader's parser could not survive is reported as an error of
    /// the grader, never as the candidate's failure, and the other files are
    /// graded as usual.
    ///
    /// ## Why it matters
    /// A DAG that fails to import runs nothing: the scheduler shows an import
    /// error and every other design choice in the file is moot.
    ///
    /// ## How to pass
    /// Run `python your_dag.py` and `airflow dags list-import-errors` (or load it
    /// in a DagBag in a test) before submitting.
    pub struct FilesParse {
        id: "dag.files_parse",
        title: "DAG files import cleanly",
        confidence: Static,
    }
}

impl Check for FilesParse {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let facts = &cx.facts.dag;
        let files = facts.candidate_files();
        if files.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "the candidate wrote no DAG file",
            );
        }
        let mut errors = Vec::new();
        let mut bad = Vec::new();
        for f in &files {
            match &f.status {
                FileStatus::Error { .. } | FileStatus::Skipped { .. } => errors.push(file_error(f)),
                FileStatus::Analysed => {
                    if let Some(line) = f.syntax_error_line {
                        bad.push(Evidence::at(
                            f.path.as_str(),
                            Some(LineSpan::line(line)),
                            "syntax error: Airflow cannot import this file",
                        ));
                    }
                    bad.extend(f.problems.iter().map(site_evidence));
                }
            }
        }
        for d in facts.candidate_dags() {
            if let Some(cycle) = &d.cycle {
                bad.push(Evidence::at(
                    d.file.as_str(),
                    Some(LineSpan::line(d.span.start)),
                    format!("DAG `{}` has a cycle: {}", d.dag_id, cycle.join(" → ")),
                ));
            }
        }
        let outcome = if !bad.is_empty() {
            Outcome::Fail
        } else if !errors.is_empty() {
            Outcome::Error
        } else {
            Outcome::Pass
        };
        let summary = format!(
            "{} DAG file(s): {} not analysed, {} problem(s)",
            files.len(),
            errors.len(),
            bad.len()
        );
        CheckResult::new(Self::META.id, outcome, Self::META.confidence, summary)
            .with_all_evidence(bad)
            .with_all_evidence(errors)
    }
}
