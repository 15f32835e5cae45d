//! Calibration: grade every reference solution of an exercise and compare each
//! dimension's band with the band range its `expected.toml` allows. A rubric or
//! check change that moves a reference solution out of its range is drift.
//!
//! ```toml
//! # reference-solutions/<exercise>/<name>/expected.toml
//! [bands]                         # dimension -> [lowest, highest] allowed band
//! data_quality = [3, 4]
//! [hidden]                        # phase -> hidden checks that must pass (execution stage)
//! phase1 = ["hidden.gmv_total"]
//! [order]                         # optional: score relations to siblings
//! above = ["adequate"]            # overall score strictly above theirs
//! at_least = ["keyword-stuffer"]  # overall score at or above theirs
//! at_least_in_every_dimension = ["keyword-stuffer"]  # each dimension's score too
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Config;
use crate::exercise::Exercise;
use crate::grade::{self, GradeRequest};
use crate::report::{Report, Status};
use crate::rubric::DIMENSIONS;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub bands: BTreeMap<String, [u8; 2]>,
    #[serde(default)]
    pub hidden: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub order: Order,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    #[serde(default)]
    pub above: Vec<String>,
    #[serde(default)]
    pub at_least: Vec<String>,
    /// Siblings whose score this solution must reach in every dimension, not
    /// only overall: a solution that games one dimension cannot hide behind
    /// the average.
    #[serde(default)]
    pub at_least_in_every_dimension: Vec<String>,
}

#[derive(Debug)]
pub struct Calibration {
    pub solutions: Vec<SolutionResult>,
    pub drift: Vec<String>,
}

#[derive(Debug)]
pub struct SolutionResult {
    pub name: String,
    pub expected: Expected,
    pub report: Report,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error(transparent)]
    Exercise(#[from] crate::exercise::ExerciseError),
    #[error("no reference solutions under {0}")]
    NoSolutions(PathBuf),
    #[error("{0}: {1}")]
    Expected(PathBuf, String),
    #[error(transparent)]
    Grade(#[from] grade::GradeError),
}

pub fn calibrate(
    exercise_id: &str,
    config: &Config,
    no_exec: bool,
    out: &Path,
    obs: &dyn crate::progress::Observer,
) -> Result<Calibration, CalibrateError> {
    let exercise = Exercise::locate(exercise_id)?;
    let root = exercise.reference_solutions_dir();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(|_| CalibrateError::NoSolutions(root.clone()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.toml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(CalibrateError::NoSolutions(root));
    }
    let mut solutions = Vec::new();
    let total = dirs.len();
    for (index, dir) in dirs.into_iter().enumerate() {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let path = dir.join("expected.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CalibrateError::Expected(path.clone(), e.to_string()))?;
        let expected: Expected = toml::from_str(&text)
            .map_err(|e| CalibrateError::Expected(path.clone(), e.to_string()))?;
        for (dim, [lo, hi]) in &expected.bands {
            if !DIMENSIONS.contains(&dim.as_str())
                || !(1..=4).contains(lo)
                || !(1..=4).contains(hi)
                || lo > hi
            {
                return Err(CalibrateError::Expected(
                    path.clone(),
                    format!(
                        "`{dim} = [{lo}, {hi}]` must name a dimension and a band range within 1..4"
                    ),
                ));
            }
        }
        let req = GradeRequest {
            source: dir.display().to_string(),
            rev: None,
            exercise: exercise_id.to_string(),
            out_dir: out.to_path_buf(),
            config: config.clone(),
            no_exec,
            name: Some(name.clone()),
            formats: vec![crate::report::Format::Json, crate::report::Format::Html],
            overrides: None,
            overwrite: crate::outdir::Overwrite::Always,
            project: None,
        };
        obs.subject(&name, index + 1, total);
        let graded = grade::grade_observed(&req, obs)?;
        solutions.push(SolutionResult {
            name,
            expected,
            report: graded.report,
        });
    }
    let drift = find_drift(&solutions);
    Ok(Calibration { solutions, drift })
}

fn find_drift(solutions: &[SolutionResult]) -> Vec<String> {
    let mut drift = Vec::new();
    let overall: BTreeMap<&str, Option<f64>> = solutions
        .iter()
        .map(|s| (s.name.as_str(), s.report.overall.score))
        .collect();
    for s in solutions {
        if s.report.status == Status::Error {
            drift.push(format!(
                "{}: not graded: {}",
                s.name,
                s.report.error.as_deref().unwrap_or("?")
            ));
            continue;
        }
        for (dim, [lo, hi]) in &s.expected.bands {
            let got = s
                .report
                .dimensions
                .iter()
                .find(|d| &d.id == dim)
                .and_then(|d| d.band);
            match got {
                Some(b) if (*lo..=*hi).contains(&b) => {}
                Some(b) => drift.push(format!(
                    "{}: {dim} landed in band {b}, expected {lo}-{hi}",
                    s.name
                )),
                None => drift.push(format!(
                    "{}: {dim} was not scored, expected band {lo}-{hi}",
                    s.name
                )),
            }
        }
        drift.extend(hidden_drift(s));
        let mine = overall.get(s.name.as_str()).copied().flatten();
        for (others, strict) in [
            (&s.expected.order.above, true),
            (&s.expected.order.at_least, false),
        ] {
            for other in others {
                let theirs = overall.get(other.as_str()).copied().flatten();
                match (mine, theirs) {
                    (Some(a), Some(b)) if (strict && a > b) || (!strict && a >= b) => {}
                    (Some(a), Some(b)) => drift.push(format!(
                        "{}: overall {a:.1} should be {} {other}'s {b:.1}",
                        s.name,
                        if strict { "above" } else { "at least" }
                    )),
                    _ => drift.push(format!(
                        "{}: cannot compare its overall score with {other}'s",
                        s.name
                    )),
                }
            }
        }
        drift.extend(dimension_order_drift(s, solutions));
    }
    drift
}

/// `at_least_in_every_dimension`: each dimension's score of this solution at or
/// above the sibling's. A dimension neither could be scored in is no evidence
/// either way; one scored for only one of them is drift, since the two cannot
/// be compared.
fn dimension_order_drift(s: &SolutionResult, solutions: &[SolutionResult]) -> Vec<String> {
    let mut drift = Vec::new();
    for other in &s.expected.order.at_least_in_every_dimension {
        let Some(theirs) = solutions.iter().find(|o| &o.name == other) else {
            drift.push(format!(
                "{}: [order] names `{other}`, which is not a reference solution",
                s.name
            ));
            continue;
        };
        for dim in &s.report.dimensions {
            let their = theirs.report.dimensions.iter().find(|d| d.id == dim.id);
            match (dim.score, their.and_then(|d| d.score)) {
                (Some(a), Some(b)) if a >= b => {}
                (None, None) => {}
                (Some(a), Some(b)) => drift.push(format!(
                    "{}: {} {a:.1} should be at least {other}'s {b:.1}",
                    s.name, dim.name
                )),
                _ => drift.push(format!(
                    "{}: cannot compare {} with {other}'s (scored for only one of them)",
                    s.name, dim.name
                )),
            }
        }
    }
    drift
}

/// The hidden checks each phase must pass (`phaseN`) or must not pass
/// (`phaseN_fail`). Without execution (`--no-exec`) there is nothing to compare.
fn hidden_drift(s: &SolutionResult) -> Vec<String> {
    let Some(exec) = &s.report.execution else {
        return Vec::new();
    };
    let mut drift = Vec::new();
    for (key, ids) in &s.expected.hidden {
        // A pack of hidden Python tests lists the tests that pass and fail.
        if key == "pass" || key == "fail" {
            let must_pass = key == "pass";
            for id in ids {
                match exec.hidden_tests.iter().find(|t| &t.id == id) {
                    Some(t) => {
                        let passed = t.outcome
                            == crate::execute::workloads::python_tests::TestOutcome::Passed;
                        if passed != must_pass {
                            drift.push(format!(
                                "{}: hidden test {id} {}, expected it to {key}",
                                s.name,
                                if passed { "passed" } else { "did not pass" }
                            ));
                        }
                    }
                    None => drift.push(format!("{}: hidden test {id} did not run", s.name)),
                }
            }
            continue;
        }
        let (phase, must_pass) = match key.strip_suffix("_fail") {
            Some(p) => (p, false),
            None => (key.as_str(), true),
        };
        let Some(n) = phase
            .strip_prefix("phase")
            .and_then(|n| n.parse::<u8>().ok())
        else {
            drift.push(format!(
                "{}: [hidden] key `{key}` is not phaseN or phaseN_fail",
                s.name
            ));
            continue;
        };
        for id in ids {
            let passed = if id == "phase3.unchanged" {
                s.report
                    .checks
                    .iter()
                    .find(|c| c.check == "exec.idempotent_rerun")
                    .map(|c| c.outcome == crate::checks::Outcome::Pass)
            } else {
                exec.hidden_checks
                    .iter()
                    .find(|h| &h.check == id && h.phase == n)
                    .map(|h| h.outcome == crate::checks::Outcome::Pass)
            };
            match passed {
                Some(p) if p == must_pass => {}
                Some(_) => drift.push(format!(
                    "{}: {id} {} in phase {n}, expected it to {}",
                    s.name,
                    if must_pass { "did not pass" } else { "passed" },
                    if must_pass { "pass" } else { "fail" }
                )),
                None => drift.push(format!("{}: {id} did not run in phase {n}", s.name)),
            }
        }
    }
    drift
}

/// Dimension × solution: expected band range, actual band and score.
pub fn table(cal: &Calibration) -> String {
    let mut out = String::new();
    let width = 20;
    let _ = write!(out, "{:<18}", "dimension");
    for s in &cal.solutions {
        let _ = write!(out, "{:<width$}", s.name);
    }
    out.push('\n');
    let mut dims: Vec<(String, String)> = DIMENSIONS
        .iter()
        .map(|d| (d.to_string(), d.to_string()))
        .collect();
    if let Some(first) = cal.solutions.first() {
        dims = first
            .report
            .dimensions
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect();
    }
    for (id, name) in &dims {
        let _ = write!(out, "{name:<18}");
        for s in &cal.solutions {
            let got = s.report.dimensions.iter().find(|d| &d.id == id);
            let cell = match (
                s.expected.bands.get(id),
                got.and_then(|d| d.band),
                got.and_then(|d| d.score),
            ) {
                (Some([lo, hi]), Some(b), Some(score)) => {
                    let ok = (*lo..=*hi).contains(&b);
                    format!("{}{lo}-{hi}→{b} {score:.0}", if ok { " " } else { "✗" })
                }
                (Some([lo, hi]), _, _) => format!("✗{lo}-{hi}→–"),
                (None, Some(b), Some(score)) => format!(" any→{b} {score:.0}"),
                _ => " –".to_string(),
            };
            let _ = write!(out, "{cell:<width$}");
        }
        out.push('\n');
    }
    let _ = write!(out, "{:<18}", "Overall");
    for s in &cal.solutions {
        let cell = s
            .report
            .overall
            .score
            .map(|v| format!(" {v:.1}"))
            .unwrap_or_else(|| " –".into());
        let _ = write!(out, "{cell:<width$}");
    }
    out.push('\n');
    // Which criteria what was measured decided, and which the code alone.
    out.push_str("\ndecided by execution (criteria tied to a trap):\n");
    for s in &cal.solutions {
        let (mut executed, mut code_only, mut contradicted) = (Vec::new(), Vec::new(), 0usize);
        for c in &s.report.checks {
            let Some(how) = &c.decided_by else { continue };
            if how.starts_with("executed") {
                executed.push(c.check.as_str());
            } else {
                code_only.push(c.check.as_str());
            }
            if c.contradiction.is_some() {
                contradicted += 1;
            }
        }
        let _ = writeln!(
            out,
            "  {:<16} executed: {}; code alone: {}; contradictions: {contradicted}",
            s.name,
            if executed.is_empty() {
                "none".to_string()
            } else {
                executed.join(", ")
            },
            if code_only.is_empty() {
                "none".to_string()
            } else {
                code_only.join(", ")
            },
        );
    }
    if cal.drift.is_empty() {
        out.push_str("\nno drift: every reference solution lands in its expected bands\n");
    } else {
        out.push_str("\nDRIFT:\n");
        for d in &cal.drift {
            let _ = writeln!(out, "  - {d}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{DimensionScore, RubricRef, Submission};

    fn solution(name: &str, scores: &[(&str, Option<f64>)], order: Order) -> SolutionResult {
        let mut report = Report::begin(
            "marketplace-elt",
            RubricRef {
                path: "rubric/marketplace-elt.toml".into(),
                sha256: String::new(),
            },
            Submission {
                name: name.into(),
                source: name.into(),
                kind: None,
                requested_ref: None,
                commit: None,
            },
        );
        report.dimensions = scores
            .iter()
            .map(|(id, score)| DimensionScore {
                id: id.to_string(),
                name: id.replace('_', " "),
                weight: 0.5,
                score: *score,
                band: Some(1),
                band_label: None,
                descriptor: None,
                incomplete: false,
                ceiling: None,
                criteria: Vec::new(),
            })
            .collect();
        SolutionResult {
            name: name.into(),
            expected: Expected {
                bands: BTreeMap::new(),
                hidden: BTreeMap::new(),
                order,
            },
            report,
        }
    }

    fn weak_over(other: &str) -> Order {
        Order {
            at_least_in_every_dimension: vec![other.into()],
            ..Order::default()
        }
    }

    #[test]
    fn a_sibling_ahead_in_one_dimension_is_drift_even_when_behind_overall() {
        let weak = solution(
            "weak",
            &[("data_quality", Some(30.0)), ("code_quality", Some(39.0))],
            weak_over("keyword-stuffer"),
        );
        let stuffer = solution(
            "keyword-stuffer",
            &[("data_quality", Some(10.0)), ("code_quality", Some(40.9))],
            Order::default(),
        );
        let drift = find_drift(&[weak, stuffer]);
        assert_eq!(
            drift,
            vec!["weak: code quality 39.0 should be at least keyword-stuffer's 40.9".to_string()]
        );
    }

    #[test]
    fn ties_and_dimensions_neither_scored_are_no_drift() {
        let weak = solution(
            "weak",
            &[("data_quality", Some(20.0)), ("problem_solving", None)],
            weak_over("keyword-stuffer"),
        );
        let stuffer = solution(
            "keyword-stuffer",
            &[("data_quality", Some(20.0)), ("problem_solving", None)],
            Order::default(),
        );
        assert!(find_drift(&[weak, stuffer]).is_empty());
    }

    #[test]
    fn a_dimension_scored_for_one_only_or_an_unknown_sibling_is_drift() {
        let weak = solution(
            "weak",
            &[("problem_solving", None)],
            Order {
                at_least_in_every_dimension: vec!["keyword-stuffer".into(), "nobody".into()],
                ..Order::default()
            },
        );
        let stuffer = solution(
            "keyword-stuffer",
            &[("problem_solving", Some(5.0))],
            Order::default(),
        );
        let drift = find_drift(&[weak, stuffer]);
        assert_eq!(drift.len(), 2, "{drift:?}");
        assert!(
            drift[0].contains("scored for only one of them"),
            "{drift:?}"
        );
        assert!(drift[1].contains("`nobody`"), "{drift:?}");
    }
}
