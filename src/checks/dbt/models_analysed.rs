use super::support::{self as s};
use crate::analyse::dbt::ProblemKind;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every file of the dbt project could be read by assay: YAML parsed within
    /// its alias and size budgets, each model rendered (Jinja) and parsed (SQL)
    /// within size caps, in a contained parser process. It lists every problem,
    /// says whether SQL facts came from assay's Jinja rendering or from dbt's
    /// compiled SQL, and names the macros it did not know.
    ///
    /// ## Why it matters
    /// A malformed file is a finding about the submission; a parser that crashed is
    /// a limit of the grader. Both must be visible so nobody mistakes a missing
    /// finding for a missing feature.
    ///
    /// ## How to pass
    /// Keep YAML valid and free of alias tricks, and models to ordinary sizes;
    /// `dbt parse` reports most of the same problems.
    pub struct ModelsAnalysed {
        id: "dbt.models_analysed",
        title: "Every dbt file read and parsed",
        confidence: Static,
    }
}

impl Check for ModelsAnalysed {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let mut evidence: Vec<Evidence> = p
            .problems
            .iter()
            .map(|pr| {
                Evidence::at(
                    pr.file.as_str(),
                    None,
                    format!("{:?}: {}", pr.kind, pr.message),
                )
            })
            .collect();
        let unknown: std::collections::BTreeSet<&String> = p
            .models
            .iter()
            .flat_map(|m| m.unknown_macros.iter())
            .collect();
        if !unknown.is_empty() {
            evidence.push(Evidence::note(format!(
                "macros assay does not know (rendered as null): {}",
                unknown.into_iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        evidence.push(Evidence::note(format!(
            "SQL facts from {:?} SQL of {} models",
            p.sql_origin,
            p.models.len()
        )));
        let crashed = p
            .problems
            .iter()
            .any(|pr| pr.kind == ProblemKind::ParserCrash);
        let broken = p.problems.iter().any(|pr| {
            matches!(
                pr.kind,
                ProblemKind::Yaml | ProblemKind::TooLarge | ProblemKind::Sql
            )
        });
        let (outcome, summary) = if crashed {
            (
                Outcome::Error,
                "the grader's parser failed on some files".to_string(),
            )
        } else if broken {
            (
                Outcome::Fail,
                format!("{} file(s) could not be read", p.problems.len()),
            )
        } else {
            (Outcome::Pass, format!("{} models read", p.models.len()))
        };
        s::result(meta, outcome, summary, evidence)
    }
}
