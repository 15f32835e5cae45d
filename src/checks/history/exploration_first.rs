use serde_json::json;

use crate::analyse::docs::is_query;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};
use crate::history::{ChangeStatus, CommitFact};

/// Profiling files read to confirm they hold a query; larger ones are not read.
const MAX_EXPLORATION_BYTES: u64 = 256 * 1024;

crate::declare_check! {
    /// ## What it checks
    /// Whether the candidate committed exploration or profiling work (queries in a
    /// folder the rubric names in `exploration_dirs`, such as dbt's `analyses/`, or
    /// notebooks) before or with their first dbt model, rather than modelling first.
    /// A profiling file still present in the submission must hold a query over the
    /// raw data (`select … from` a `source()` or the `raw` schema). Exploration that
    /// arrived only after the models earns `late_credit`.
    ///
    /// ## Why it matters
    /// The data hides traps that only a profiling query finds: duplicates,
    /// future timestamps, NULLs. A candidate who looks before modelling finds them
    /// on purpose; one who models first finds them by accident, if at all.
    ///
    /// ## How to pass
    /// Commit the profiling queries you ran (for example `analyses/profile_payments.sql`)
    /// before or with the models they informed. Submissions without history (an
    /// archive, one squashed commit) are not scored on this.
    pub struct ExplorationFirst {
        id: "history.exploration_first",
        title: "Data explored before it was modelled",
        confidence: Static,
    }
}

impl Check for ExplorationFirst {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let id = Self::META.id;
        let Some(history) = cx.facts.usable_history() else {
            return CheckResult::new(
                id,
                Outcome::NotApplicable,
                Self::META.confidence,
                "no usable commit history (an archive, a folder, or a single commit)",
            );
        };
        let dirs = match cx.params.string_list("exploration_dirs") {
            Ok(d) => d,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let late_credit = match cx.params.float("late_credit") {
            Ok(c) if (0.0..=1.0).contains(&c) => c,
            Ok(_) => {
                return CheckResult::new(
                    id,
                    Outcome::Error,
                    Self::META.confidence,
                    "the rubric's `late_credit` must lie in 0..1",
                )
            }
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let own = &history.commits[1..];
        let first_model = own.iter().position(adds_model);
        let inventory = &cx.facts.inventory;
        let mut early: Vec<(usize, &str)> = Vec::new();
        let mut late: Vec<(usize, &str)> = Vec::new();
        let mut hollow: Vec<&str> = Vec::new();
        for (i, commit) in own.iter().enumerate() {
            for change in &commit.changes {
                if change.status != ChangeStatus::Added || !is_exploration(&change.path, &dirs) {
                    continue;
                }
                // A file still present must really profile the data; a deleted one
                // is judged by its place in history alone.
                if inventory.file(&change.path).is_some() {
                    let holds_query = inventory
                        .read_text_capped(&change.path, MAX_EXPLORATION_BYTES)
                        .map(|t| profiles_raw_data(&change.path, &t))
                        .unwrap_or(false);
                    if !holds_query {
                        hollow.push(&change.path);
                        continue;
                    }
                }
                if first_model.is_none_or(|m| i <= m) {
                    early.push((i, &change.path));
                } else {
                    late.push((i, &change.path));
                }
            }
        }
        let cite = |(i, path): (usize, &str)| {
            let c: &CommitFact = &own[i];
            Evidence::at(
                path,
                Some(LineSpan::line(1)),
                format!(
                    "added in commit {} ({}), {} the first model",
                    &c.id[..c.id.len().min(8)],
                    c.summary,
                    match first_model {
                        Some(m) if i < m => "before",
                        Some(m) if i == m => "together with",
                        Some(_) => "after",
                        None => "with no model yet",
                    }
                ),
            )
        };
        let evidence: Vec<Evidence> = early
            .iter()
            .chain(late.iter())
            .take(8)
            .map(|e| cite(*e))
            .chain(hollow.iter().take(4).map(|p| {
                Evidence::at(
                    *p,
                    None,
                    "in an exploration folder but holds no query over the raw data",
                )
            }))
            .collect();
        let (outcome, summary) = if !early.is_empty() {
            (
                Outcome::Pass,
                format!(
                    "{} profiling file(s) committed before or with the first model",
                    early.len()
                ),
            )
        } else if !late.is_empty() {
            (
                Outcome::from_fraction(late_credit),
                format!(
                    "profiling queries exist ({} file(s)) but arrived after the models",
                    late.len()
                ),
            )
        } else {
            (
                Outcome::Fail,
                "no profiling or exploration queries in the history".to_string(),
            )
        };
        CheckResult::new(id, outcome, Self::META.confidence, summary)
            .with_evidence(
                Evidence::note("exploration files before or with the first model")
                    .with_measured(json!({ "early": early.len(), "late": late.len(), "without_query": hollow.len() })),
            )
            .with_all_evidence(evidence)
    }
}

fn adds_model(commit: &CommitFact) -> bool {
    commit.changes.iter().any(|c| {
        c.status == ChangeStatus::Added
            && !c.path.contains("dbt_packages/")
            && (c.path.starts_with("models/") || c.path.contains("/models/"))
            && c.path.ends_with(".sql")
    })
}

fn is_exploration(path: &str, dirs: &[String]) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".ipynb") {
        return true;
    }
    let in_dir = lower
        .split('/')
        .rev()
        .skip(1)
        .any(|segment| dirs.iter().any(|d| d.eq_ignore_ascii_case(segment)));
    in_dir && (lower.ends_with(".sql") || lower.ends_with(".py"))
}

fn profiles_raw_data(path: &str, text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let reads_raw = lower.contains("source(") || lower.contains("raw.") || lower.contains("read_");
    if path.to_ascii_lowercase().ends_with(".sql") {
        is_query(&lower) && reads_raw
    } else {
        // A notebook or script: a query string inside it.
        reads_raw && lower.contains("select") && lower.contains("from")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::docs::testing::{facts, rubric_params};
    use crate::history::{CommitFact, FileChange, History};
    use crate::inventory::{FileEntry, Origin};

    fn commit(n: usize, files: &[&str]) -> CommitFact {
        CommitFact {
            id: format!("{n:040}"),
            time: 1_767_225_600 + 600 * n as i64,
            author: "c".into(),
            summary: format!("step {n}"),
            parents: 1,
            changes: files
                .iter()
                .map(|p| FileChange {
                    path: p.to_string(),
                    status: ChangeStatus::Added,
                })
                .collect(),
            changes_truncated: false,
        }
    }

    fn run(steps: &[&[&str]], present: &[(&str, &str)]) -> CheckResult {
        let dir = tempfile::tempdir().unwrap();
        let mut f = facts(&[], &[], "");
        f.inventory.root = dir.path().to_path_buf();
        for (path, text) in present {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, text).unwrap();
            f.inventory.files.push(FileEntry {
                path: path.to_string(),
                size: text.len() as u64,
                sha256: String::new(),
                origin: Origin::Added,
            });
        }
        let mut commits = vec![commit(0, &["dbt_project.yml"])];
        commits.extend(steps.iter().enumerate().map(|(i, s)| commit(i + 1, s)));
        f.history = Some(History {
            commits,
            truncated: false,
        });
        let params = rubric_params("history.exploration_first");
        ExplorationFirst.run(&CheckContext {
            facts: &f,
            params: &params,
        })
    }

    const PROFILE: &str = "select event_id, count(*) from {{ source('marketplace', 'payments') }} group by 1 having count(*) > 1";

    #[test]
    fn profiling_before_models_passes() {
        let r = run(
            &[
                &["analyses/profile_payments.sql"],
                &["models/staging/stg_payments.sql"],
            ],
            &[("analyses/profile_payments.sql", PROFILE)],
        );
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.summary);
        assert_eq!(
            r.evidence[1].file.as_deref(),
            Some("analyses/profile_payments.sql")
        );
    }

    #[test]
    fn profiling_after_models_earns_late_credit() {
        let r = run(
            &[
                &["models/staging/stg_payments.sql"],
                &["analyses/profile_payments.sql"],
            ],
            &[("analyses/profile_payments.sql", PROFILE)],
        );
        assert!(
            matches!(r.outcome, Outcome::Partial { .. }),
            "{:?}",
            r.outcome
        );
    }

    #[test]
    fn an_empty_or_keyword_file_in_analyses_earns_nothing() {
        let r = run(
            &[
                &["analyses/profiling.sql"],
                &["models/staging/stg_payments.sql"],
            ],
            &[(
                "analyses/profiling.sql",
                "-- profiling exploration duplicates nulls\nselect 1\n",
            )],
        );
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.summary);
    }

    #[test]
    fn no_history_is_not_applicable() {
        let f = facts(&[], &[], "");
        let params = rubric_params("history.exploration_first");
        let r = ExplorationFirst.run(&CheckContext {
            facts: &f,
            params: &params,
        });
        assert_eq!(r.outcome, Outcome::NotApplicable);
    }
}
