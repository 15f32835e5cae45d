//! What the report adds to the scores for a reader: the traps table, follow-up
//! questions, strengths and gaps in plain words, and notices. Everything here is
//! derived from check results and the exercise pack's data (`traps.toml`,
//! `followups.toml`), never from the submission directly.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::{CriterionScore, FollowUp, Report, StageStatus, TrapRow, TrapState};
use crate::checks::{CheckResult, ClaimSource, Confidence, Outcome};

/// Plain-words entries in each list: a reader has 15 minutes.
const MAX_STRENGTHS: usize = 5;
const MAX_GAPS: usize = 6;

/// The exercise pack's data the report needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExercisePackData {
    pub traps: Vec<TrapDef>,
    pub followups: FollowupsFile,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrapDef {
    pub id: String,
    pub title: String,
    /// Checks whose outcome (or per-trap evidence) says the trap was noticed.
    #[serde(default)]
    pub found: Vec<String>,
    #[serde(default)]
    pub handled: Vec<String>,
    #[serde(default)]
    pub tested: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrapsFile {
    version: u32,
    #[serde(default)]
    trap: Vec<TrapDef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowupsFile {
    pub version: u32,
    /// Questions listed at most.
    pub max_questions: usize,
    /// Asked for each contradiction (a static claim the data refutes).
    /// Placeholders: {trap}, {claim}, {place}, {measured}.
    #[serde(default)]
    pub contradiction: Option<String>,
    /// The same for a write-up sentence the data refutes, and for a model
    /// description its code does not bear out (default: `contradiction`).
    #[serde(default)]
    pub write_up_contradiction: Option<String>,
    #[serde(default)]
    pub description_contradiction: Option<String>,
    /// Asked for a failing hidden check that has no question of its own, once
    /// per model. Placeholders: {title}, {model}, {measured}, {expected},
    /// {when}.
    #[serde(default)]
    pub hidden_default: Option<String>,
    #[serde(default)]
    pub followup: Vec<FollowupDef>,
    /// Passes that say little unless the pipeline computes something right.
    #[serde(default)]
    pub substance: Option<Substance>,
}

/// A rerun that changes nothing, or tests that pass, are strengths only for a
/// project whose figures are mostly right: a project that builds almost
/// nothing passes them trivially.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Substance {
    pub checks: Vec<String>,
    /// Share of phase 1's hidden checks that must agree with the truth.
    pub min_hidden_share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowupDef {
    pub check: String,
    /// Outcomes that prompt the question: pass, partial, fail, not_attempted,
    /// not_applicable, error.
    pub outcomes: Vec<String>,
    /// The question. Placeholders: {unexplained_traps} (the traps the
    /// write-up does not explain), {errored} (the models dbt could not build).
    pub question: String,
    /// Premises the question rests on, as `check=outcome|outcome`: the
    /// question is not asked when any of these checks has one of the
    /// outcomes (a model built outside dbt was not "left out"; a write-up
    /// that explains the profiling is not asked for it).
    #[serde(default)]
    pub unless: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ExercisePackData {
    /// Reads `traps.toml` and `followups.toml` from the pack; a pack without them
    /// gives an empty traps table and no questions.
    pub fn load(pack_dir: &Path) -> Result<ExercisePackData, PackError> {
        let read = |name: &str| -> Result<Option<(String, String)>, PackError> {
            let path = pack_dir.join(name);
            if !path.is_file() {
                return Ok(None);
            }
            std::fs::read_to_string(&path)
                .map(|t| Some((path.display().to_string(), t)))
                .map_err(|source| PackError::Read {
                    path: path.display().to_string(),
                    source,
                })
        };
        let mut data = ExercisePackData::default();
        if let Some((path, text)) = read("traps.toml")? {
            let file: TrapsFile = toml::from_str(&text).map_err(|e| PackError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if file.version != 1 {
                return Err(PackError::Invalid {
                    path,
                    message: format!("unsupported version {}", file.version),
                });
            }
            data.traps = file.trap;
        }
        if let Some((path, text)) = read("followups.toml")? {
            let file: FollowupsFile = toml::from_str(&text).map_err(|e| PackError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if file.version != 1 {
                return Err(PackError::Invalid {
                    path,
                    message: format!("unsupported version {}", file.version),
                });
            }
            for f in &file.followup {
                for u in &f.unless {
                    let ok = u.split_once('=').is_some_and(|(c, outs)| {
                        !c.is_empty() && outs.split('|').all(|o| OUTCOMES.contains(&o))
                    });
                    if !ok {
                        return Err(PackError::Invalid {
                            path,
                            message: format!(
                                "follow-up for {}: `unless = \"{u}\"` must read check=outcome|outcome",
                                f.check
                            ),
                        });
                    }
                }
                if let Some(bad) = f.outcomes.iter().find(|o| !OUTCOMES.contains(&o.as_str())) {
                    return Err(PackError::Invalid {
                        path,
                        message: format!(
                            "follow-up for {}: unknown outcome `{bad}` (one of {})",
                            f.check,
                            OUTCOMES.join(", ")
                        ),
                    });
                }
            }
            data.followups = file;
        }
        Ok(data)
    }
}

const OUTCOMES: [&str; 6] = [
    "pass",
    "partial",
    "fail",
    "not_attempted",
    "not_applicable",
    "error",
];

pub(crate) fn outcome_key(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Partial { .. } => "partial",
        Outcome::Fail => "fail",
        Outcome::NotAttempted => "not_attempted",
        Outcome::NotApplicable => "not_applicable",
        Outcome::Error => "error",
    }
}

/// Fills the reader-facing parts of a scored report.
pub fn enrich(report: &mut Report, pack: &ExercisePackData) {
    report.verdict = Some(super::verdict::build(report));
    let mut checks = report.checks.clone();
    checks.extend(hidden_results(report));
    report.traps = pack.traps.iter().map(|t| trap_row(t, &checks)).collect();
    report.followups = followups(report, &pack.followups, &checks);
    let (strengths, gaps) = strengths_and_gaps(report, pack.followups.substance.as_ref());
    report.strengths = strengths;
    report.gaps = gaps;
    report.notices = notices(report);
}

fn trap_row(def: &TrapDef, checks: &[CheckResult]) -> TrapRow {
    // What was measured decides "handled" when any of the trap's executed
    // checks judged it; the code alone only when nothing was measured.
    let executed: Vec<String> = def
        .handled
        .iter()
        .filter(|id| {
            checks.iter().any(|c| {
                &c.check == *id
                    && c.confidence == Confidence::Executed
                    && matches!(c.outcome, Outcome::Pass | Outcome::Fail)
            })
        })
        .cloned()
        .collect();
    let mut notes = Vec::new();
    let (handled, handled_basis) = if executed.is_empty() {
        let state = column(&def.id, "handled", &def.handled, checks);
        let basis = if state == TrapState::Unknown {
            "none"
        } else {
            "static"
        };
        (state, basis)
    } else {
        let state = column(&def.id, "handled", &executed, checks);
        for id in &executed {
            if let Some(c) = checks
                .iter()
                .find(|c| &c.check == id && c.outcome == Outcome::Fail)
            {
                notes.push(format!("{}: {}", c.check, c.summary));
            }
        }
        (state, "executed")
    };
    let tested = column(&def.id, "tested", &def.tested, checks);
    for id in &def.tested {
        let Some(c) = checks.iter().find(|c| &c.check == id) else {
            continue;
        };
        // Tests a check looked at but did not count (disabled, on a model that
        // does not exist, vacuous) are named so the reader sees why.
        for e in &c.evidence {
            let per_trap = e
                .measured
                .as_ref()
                .and_then(|m| m.get("trap"))
                .and_then(|t| t.as_str());
            let about_trap =
                per_trap == Some(def.id.as_str()) || e.note.starts_with(&format!("{}:", def.id));
            if about_trap && e.note.contains("not counted") {
                notes.push(e.note.clone());
            }
        }
    }
    let mut found = column(&def.id, "found", &def.found, checks);
    // Handling a trap is proof it was found, whatever the write-up says.
    found = match (found, handled) {
        (_, TrapState::Yes) => TrapState::Yes,
        (TrapState::No | TrapState::Unknown, TrapState::Partly) => TrapState::Partly,
        (f, _) => f,
    };
    let mut ids: Vec<String> = Vec::new();
    for id in def.found.iter().chain(&def.handled).chain(&def.tested) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    TrapRow {
        id: def.id.clone(),
        title: def.title.clone(),
        found,
        handled,
        handled_basis: handled_basis.to_string(),
        tested,
        notes,
        checks: ids,
    }
}

/// One cell: per-trap evidence (`measured = {"trap": id, "<column>": bool}`) when
/// a check gives it, else the check's outcome. Checks that could not decide are
/// left out; mixed verdicts read "partly".
fn column(trap: &str, key: &str, ids: &[String], checks: &[CheckResult]) -> TrapState {
    let mut states = Vec::new();
    for id in ids {
        let Some(result) = checks.iter().find(|c| &c.check == id) else {
            continue;
        };
        let per_trap = result.evidence.iter().find_map(|e| {
            let m = e.measured.as_ref()?;
            (m.get("trap")?.as_str()? == trap).then(|| m.get(key)?.as_bool())?
        });
        let state = match per_trap {
            Some(true) => Some(TrapState::Yes),
            Some(false) => Some(TrapState::No),
            None => match result.outcome {
                Outcome::Pass => Some(TrapState::Yes),
                Outcome::Partial { .. } => Some(TrapState::Partly),
                Outcome::Fail | Outcome::NotAttempted => Some(TrapState::No),
                Outcome::NotApplicable | Outcome::Error => None,
            },
        };
        states.extend(state);
    }
    if states.is_empty() {
        TrapState::Unknown
    } else if states.iter().all(|s| *s == TrapState::Yes) {
        TrapState::Yes
    } else if states.iter().all(|s| *s == TrapState::No) {
        TrapState::No
    } else {
        TrapState::Partly
    }
}

fn lost(c: &CriterionScore) -> f64 {
    match c.earned {
        Some(e) => c.weighted_points - e,
        None => 0.0,
    }
}

fn scored_criteria(report: &Report) -> Vec<&CriterionScore> {
    report
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .collect()
}

/// Each hidden check as one result over the phases that ran: it fails when
/// it disagrees with the truth in any phase (the first such phase is named),
/// so the traps table and the questions can read executed evidence by id.
fn hidden_results(report: &Report) -> Vec<CheckResult> {
    let Some(exec) = &report.execution else {
        return Vec::new();
    };
    let mut ids: Vec<&str> = Vec::new();
    for h in &exec.hidden_checks {
        if !ids.contains(&h.check.as_str()) {
            ids.push(&h.check);
        }
    }
    ids.into_iter()
        .map(|id| {
            let runs: Vec<_> = exec
                .hidden_checks
                .iter()
                .filter(|h| h.check == id)
                .collect();
            let failing = runs.iter().find(|h| h.outcome == Outcome::Fail);
            let judged: Vec<_> = runs
                .iter()
                .filter(|h| matches!(h.outcome, Outcome::Pass | Outcome::Fail))
                .collect();
            let (outcome, summary) = match failing {
                Some(h) => (
                    Outcome::Fail,
                    format!(
                        "{} disagrees with the truth from phase {}",
                        h.title, h.phase
                    ),
                ),
                None if judged.is_empty() => (
                    runs.first().map(|h| h.outcome).unwrap_or(Outcome::Error),
                    format!("{id} was not judged"),
                ),
                None => (
                    Outcome::Pass,
                    format!("{} agrees with the truth in every phase", runs[0].title),
                ),
            };
            let mut r = CheckResult::new(id, outcome, crate::checks::Confidence::Executed, summary);
            if let Some(h) = failing {
                let mut e = crate::checks::Evidence::note(format!("phase {}", h.phase));
                e.measured = h.measured.clone();
                e.expected = h.expected.clone();
                r = r.with_evidence(e);
            }
            r
        })
        .collect()
}

fn followups(report: &Report, file: &FollowupsFile, all: &[CheckResult]) -> Vec<FollowUp> {
    let mut out: Vec<FollowUp> = Vec::new();
    let push = |out: &mut Vec<FollowUp>, q: FollowUp| {
        if out.len() < file.max_questions && !out.iter().any(|f| f.question == q.question) {
            out.push(q);
        }
    };
    // A static claim the data refutes is the sharpest question there is;
    // they take at most half the questions, the code's own first.
    let mut ordered_contradictions: Vec<&super::Contradiction> =
        report.contradictions.iter().collect();
    ordered_contradictions.sort_by_key(|c| match c.source {
        ClaimSource::Code => 0,
        ClaimSource::WriteUp => 1,
        ClaimSource::Description => 2,
    });
    let max_contradiction_questions = file.max_questions.div_ceil(2);
    for c in ordered_contradictions
        .into_iter()
        .take(max_contradiction_questions)
    {
        let template = match c.source {
            ClaimSource::Code => file.contradiction.as_ref(),
            ClaimSource::WriteUp => file
                .write_up_contradiction
                .as_ref()
                .or(file.contradiction.as_ref()),
            ClaimSource::Description => file
                .description_contradiction
                .as_ref()
                .or(file.contradiction.as_ref()),
        };
        if let Some(template) = template {
            let place = c
                .claimed_by
                .iter()
                .find_map(|e| {
                    let f = e.file.as_ref()?;
                    Some(match e.lines {
                        Some(l) => format!("{f}:{}", l.start),
                        None => f.clone(),
                    })
                })
                .unwrap_or_else(|| "your code".into());
            let measured = c
                .refuted_by
                .first()
                .map(|e| e.note.trim_end_matches('.').to_string())
                .unwrap_or_default();
            let trap = c
                .trap
                .as_deref()
                .and_then(|t| report.traps.iter().find(|r| r.id == t))
                .map(|r| format!("{} ({})", r.id, r.title.to_lowercase()))
                .or_else(|| c.trap.clone())
                .unwrap_or_else(|| c.check.clone());
            let question = template
                .replace("{trap}", &trap)
                .replace("{claim}", c.claim.trim_end_matches('.'))
                .replace("{place}", &place)
                .replace("{measured}", &measured);
            push(
                &mut out,
                FollowUp {
                    question,
                    check: c.check.clone(),
                    because: format!("contradiction: {}", c.claim),
                    ground: "contradiction".into(),
                },
            );
        }
    }
    let contradicted: BTreeSet<&str> = report
        .contradictions
        .iter()
        .map(|c| c.check.as_str())
        .collect();
    // Scored criteria first, largest loss first; then checks outside the rubric.
    let mut ordered: Vec<(&str, Outcome, &str, f64)> = scored_criteria(report)
        .into_iter()
        .filter(|c| !contradicted.contains(c.check.as_str()))
        .map(|c| (c.check.as_str(), c.outcome, c.summary.as_str(), lost(c)))
        .collect();
    let scored: BTreeSet<&str> = ordered.iter().map(|o| o.0).collect();
    for r in all {
        if !scored.contains(r.check.as_str()) && !contradicted.contains(r.check.as_str()) {
            ordered.push((r.check.as_str(), r.outcome, r.summary.as_str(), 0.0));
        }
    }
    // What was measured when the pipeline ran comes first: a question about
    // a figure that is wrong on real data beats one about a missing habit.
    let executed: BTreeSet<&str> = all
        .iter()
        .filter(|r| r.confidence == Confidence::Executed)
        .map(|r| r.check.as_str())
        .collect();
    let is_executed_miss =
        |c: &str, o: Outcome| executed.contains(c) && o.credit().is_some_and(|x| x < 1.0);
    ordered.sort_by(|a, b| {
        is_executed_miss(b.0, b.1)
            .cmp(&is_executed_miss(a.0, a.1))
            .then(b.3.total_cmp(&a.3))
    });
    let outcome_of = |id: &str| all.iter().find(|r| r.check == id).map(|r| r.outcome);
    let premise_false = |def: &FollowupDef| {
        def.unless.iter().any(|u| {
            let Some((check, outs)) = u.split_once('=') else {
                return false;
            };
            outcome_of(check).is_some_and(|o| outs.split('|').any(|x| x == outcome_key(o)))
        })
    };
    let unexplained: Vec<&str> = report
        .traps
        .iter()
        .filter(|t| t.found != TrapState::Yes)
        .map(|t| t.id.as_str())
        .collect();
    let errored: Vec<String> = report
        .verdict
        .as_ref()
        .map(|v| {
            let mut names: Vec<String> = Vec::new();
            for n in v.phases.iter().flat_map(|p| &p.errored) {
                if !names.contains(&n.node) {
                    names.push(n.node.clone());
                }
            }
            names
        })
        .unwrap_or_default();
    let mut asked_models: BTreeSet<String> = BTreeSet::new();
    for (check, outcome, summary, _) in ordered {
        if out.len() >= file.max_questions {
            break;
        }
        let ground = if is_executed_miss(check, outcome) {
            "executed"
        } else {
            match all.iter().find(|r| r.check == check).map(|r| r.confidence) {
                Some(Confidence::Heuristic) => "heuristic",
                _ => "static",
            }
        };
        let own: Vec<&FollowupDef> = file.followup.iter().filter(|f| f.check == check).collect();
        for def in &own {
            if !def.outcomes.iter().any(|o| o == outcome_key(outcome)) || premise_false(def) {
                continue;
            }
            if def.question.contains("{unexplained_traps}") && unexplained.is_empty() {
                continue;
            }
            let question = def
                .question
                .replace("{unexplained_traps}", &unexplained.join(", "))
                .replace(
                    "{errored}",
                    &if errored.is_empty() {
                        "some models".to_string()
                    } else {
                        errored.join(", ")
                    },
                );
            push(
                &mut out,
                FollowUp {
                    question,
                    check: check.to_string(),
                    because: summary.to_string(),
                    ground: ground.into(),
                },
            );
        }
        // A failing hidden check without a question of its own still asks,
        // once per model, from what was measured.
        if own.is_empty() && check.starts_with("hidden.") && outcome == Outcome::Fail {
            if let (Some(template), Some(f)) = (&file.hidden_default, failing_check(report, check))
            {
                let (model, fc) = f;
                if asked_models.insert(model.to_string()) {
                    let question = template
                        .replace("{title}", &fc.title)
                        .replace("{model}", model)
                        .replace("{measured}", fc.measured.as_deref().unwrap_or("no value"))
                        .replace("{expected}", fc.expected.as_deref().unwrap_or("a value"))
                        .replace("{when}", &fc.when);
                    push(
                        &mut out,
                        FollowUp {
                            question,
                            check: check.to_string(),
                            because: summary.to_string(),
                            ground: "executed".into(),
                        },
                    );
                }
            }
        }
    }
    out
}

/// The verdict's record of a failing hidden check, with its model.
fn failing_check<'a>(
    report: &'a Report,
    check: &str,
) -> Option<(&'a str, &'a super::FailingCheck)> {
    report.verdict.as_ref()?.failing.iter().find_map(|m| {
        m.checks
            .iter()
            .find(|c| c.check == check)
            .map(|c| (m.model.as_str(), c))
    })
}

fn strengths_and_gaps(
    report: &Report,
    substance: Option<&Substance>,
) -> (Vec<String>, Vec<String>) {
    let criteria = scored_criteria(report);
    let trivial = |check: &str| {
        let Some(s) = substance.filter(|s| s.checks.iter().any(|c| c == check)) else {
            return false;
        };
        let Some(p1) = report
            .verdict
            .as_ref()
            .and_then(|v| v.phases.iter().find(|p| p.phase == 1))
        else {
            return false;
        };
        p1.hidden_run == 0
            || ((p1.hidden_run - p1.hidden_failing) as f64 / p1.hidden_run as f64)
                < s.min_hidden_share
    };
    let mut passed: Vec<&&CriterionScore> = criteria
        .iter()
        .filter(|c| c.outcome == Outcome::Pass && !trivial(&c.check))
        .collect();
    // Executed and static evidence speaks louder than prose.
    passed.sort_by(|a, b| {
        (a.confidence == crate::checks::Confidence::Heuristic)
            .cmp(&(b.confidence == crate::checks::Confidence::Heuristic))
            .then(b.weighted_points.total_cmp(&a.weighted_points))
    });
    let strengths = passed
        .iter()
        .take(MAX_STRENGTHS)
        .map(|c| format!("{}: {}", c.title, c.summary))
        .collect();
    let mut missed: Vec<&&CriterionScore> = criteria
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                Outcome::Fail | Outcome::NotAttempted | Outcome::Partial { .. }
            )
        })
        .collect();
    missed.sort_by(|a, b| lost(b).total_cmp(&lost(a)));
    let gaps = missed
        .iter()
        .take(MAX_GAPS)
        .map(|c| {
            let what = match c.outcome {
                Outcome::NotAttempted => "not attempted",
                Outcome::Partial { .. } => "partly",
                _ => "missing",
            };
            format!("{} ({what}): {}", c.title, c.summary)
        })
        .collect();
    (strengths, gaps)
}

fn notices(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for dim in &report.dimensions {
        let na: Vec<&str> = dim
            .criteria
            .iter()
            .filter(|c| c.outcome == Outcome::NotApplicable)
            .map(|c| c.check.as_str())
            .collect();
        if !na.is_empty() {
            let history = na.iter().any(|c| c.starts_with("history."));
            out.push(format!(
                "{}: {} criterion(s) did not apply and left the denominator ({}){}.",
                dim.name,
                na.len(),
                na.join(", "),
                if history {
                    "; the submission has no usable commit history (an archive, a folder or one squashed commit)"
                } else {
                    ""
                }
            ));
        }
        if dim.incomplete {
            out.push(format!(
                "{}: a check could not decide (an error of the grader); the score stands on fewer criteria.",
                dim.name
            ));
        }
    }
    for stage in &report.stages {
        if stage.stage == super::Stage::Execute && stage.status != StageStatus::Ok {
            out.push(format!(
                "The submission was not run ({}): no executed evidence in this report.",
                stage.detail
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_files_load_and_name_known_checks() {
        let pack = ExercisePackData::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/marketplace-elt"),
        )
        .expect("the pack's traps.toml and followups.toml load");
        let ids: Vec<&str> = pack.traps.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8"]);
        assert!(pack.followups.max_questions > 0);
        assert!(!pack.followups.followup.is_empty());
        // Ids of families this build registers must exist; hidden checks must be in
        // the pack's hidden-checks.toml when the pack ships it.
        let hidden = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/marketplace-elt/hidden-checks.toml"),
        )
        .ok();
        let registered: BTreeSet<&str> = crate::checks::all()
            .iter()
            .map(|c| c.meta().family())
            .collect();
        let all_ids = pack
            .traps
            .iter()
            .flat_map(|t| t.found.iter().chain(&t.handled).chain(&t.tested))
            .chain(pack.followups.followup.iter().map(|f| &f.check));
        for id in all_ids {
            let family = id.split('.').next().unwrap();
            if family == "hidden" {
                if let Some(h) = &hidden {
                    assert!(
                        h.contains(&format!("\"{id}\"")),
                        "{id} is not a hidden check of the pack"
                    );
                }
            } else if registered.contains(family) && family != "dbt" && family != "dag" {
                assert!(
                    crate::checks::find(id).is_some(),
                    "{id} is not a registered check"
                );
            }
        }
    }
}
