//! The code checks on the aviationstack-screening reference solutions, with
//! the exercise's own rubric parameters: the strong solution passes each
//! check, the starter (the planted issues, untouched) fails each, and the
//! keyword-stuffer, whose comments name every problem, earns nothing for them.

use std::path::{Path, PathBuf};

use super::{HardcodedCredentials, HttpTimeouts, SqlValuesInText, SwallowedErrors};
use crate::acquire::SourceKind;
use crate::analyse::code::{analyse_with, CodeLimits};
use crate::analyse::dag::syntax;
use crate::checks::{Check, CheckContext, CheckResult, Outcome, Params};
use crate::facts::{Facts, SubmissionFacts};
use crate::inventory::Inventory;
use crate::rubric::Rubric;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn facts(solution: &str) -> Facts {
    let dir = repo()
        .join("reference-solutions/aviationstack-screening")
        .join(solution);
    let inventory = Inventory::build(&dir).unwrap();
    let code = analyse_with(&inventory, &CodeLimits::default(), &|src: &[u8]| {
        Ok(syntax::parse(src).unwrap())
    });
    Facts {
        submission: SubmissionFacts {
            name: solution.into(),
            kind: SourceKind::Folder,
            commit: None,
            starter_compared: false,
        },
        inventory,
        history: None,
        docs: Default::default(),
        dag: Default::default(),
        code,
        dbt: Default::default(),
        review: None,
        execution: None,
    }
}

/// The criterion's parameters in the exercise's rubric.
fn params(check: &str) -> Params {
    let rubric = Rubric::load(&repo().join("rubric/aviationstack-screening.toml"), &|id| {
        crate::checks::find(id).is_some()
    })
    .unwrap();
    rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .find(|c| c.check == check)
        .map(|c| c.params.clone())
        .unwrap_or_else(|| panic!("the rubric scores {check}"))
}

fn run(check: &dyn Check, solution: &str) -> CheckResult {
    let facts = facts(solution);
    let params = params(check.meta().id);
    check.run(&CheckContext {
        facts: &facts,
        params: &params,
    })
}

fn checks() -> Vec<&'static dyn Check> {
    vec![
        &SqlValuesInText,
        &SwallowedErrors,
        &HttpTimeouts,
        &HardcodedCredentials,
    ]
}

#[test]
fn the_strong_solution_passes_every_code_check() {
    for c in checks() {
        let r = run(c, "strong");
        assert_eq!(r.outcome, Outcome::Pass, "{}: {:#?}", c.meta().id, r);
    }
}

#[test]
fn the_starter_fails_every_code_check_it_can_judge() {
    // `fetch_flights` is not written yet: no request to judge
    let r = run(&HttpTimeouts, "starter");
    assert_eq!(r.outcome, Outcome::NotApplicable, "{r:#?}");
    for c in [
        &SqlValuesInText as &dyn Check,
        &SwallowedErrors,
        &HardcodedCredentials,
    ] {
        let r = run(c, "starter");
        assert_eq!(r.outcome, Outcome::Fail, "{}: {:#?}", c.meta().id, r);
        assert!(
            r.evidence
                .iter()
                .any(|e| e.file.as_deref().is_some_and(|f| f.starts_with("src/"))),
            "{}: the evidence points into the code: {:#?}",
            c.meta().id,
            r.evidence
        );
    }
}

#[test]
fn comments_naming_the_problems_earn_nothing() {
    for c in [
        &SqlValuesInText as &dyn Check,
        &SwallowedErrors,
        &HttpTimeouts,
    ] {
        let r = run(c, "keyword-stuffer");
        assert_eq!(r.outcome, Outcome::Fail, "{}: {:#?}", c.meta().id, r);
    }
}

#[test]
fn the_weak_solution_fixed_the_password_but_not_the_rest() {
    assert_eq!(run(&HardcodedCredentials, "weak").outcome, Outcome::Pass);
    for c in [
        &SqlValuesInText as &dyn Check,
        &SwallowedErrors,
        &HttpTimeouts,
    ] {
        assert_eq!(run(c, "weak").outcome, Outcome::Fail, "{}", c.meta().id);
    }
}

#[test]
fn no_module_under_the_paths_is_not_attempted() {
    let facts = facts("strong");
    let mut params = params("code.swallowed_errors");
    params.0.insert(
        "paths".into(),
        toml::Value::Array(vec![toml::Value::String("lib".into())]),
    );
    let r = SwallowedErrors.run(&CheckContext {
        facts: &facts,
        params: &params,
    });
    assert_eq!(r.outcome, Outcome::NotAttempted, "{r:#?}");
}
