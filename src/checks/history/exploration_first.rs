use serde_json::json;

use crate::analyse::docs::{ArtifactKind, DocsFacts, WorkFile};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome};
use crate::history::{ChangeStatus, CommitFact};

crate::declare_check! {
    /// ## What it checks
    /// Whether the candidate committed exploration or profiling work (queries in a
    /// folder the rubric names in `exploration_dirs`, such as dbt's `analyses/`, or
    /// notebooks) before or with their first dbt model, rather than modelling first.
    /// A profiling file still present in the submission must hold a query over the
    /// raw data (`select … from` a `source()` or the `raw` schema). Exploration that
    /// arrived only after the models earns `late_credit`. Without usable history
    /// the profiling files present earn `unordered_credit`, or full credit when a
    /// stamped work log (`09:20 analyses/profile_payments.sql: …`) profiles before
    /// any entry names a model.
    ///
    /// ## Why it matters
    /// The data hides traps that only a profiling query finds: duplicates,
    /// future timestamps, NULLs. A candidate who looks before modelling finds them
    /// on purpose; one who models first finds them by accident, if at all.
    ///
    /// ## How to pass
    /// Commit the profiling queries you ran (for example `analyses/profile_payments.sql`)
    /// before or with the models they informed. Submissions without history (a
    /// folder, an archive, one squashed commit) cannot show the order: profiling
    /// files that query the raw data earn `unordered_credit` there.
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
        let dirs = match cx.params.string_list("exploration_dirs") {
            Ok(d) => d,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let (late_credit, unordered_credit) = match (
            cx.params.share("late_credit"),
            cx.params.share("unordered_credit"),
        ) {
            (Ok(l), Ok(u)) => (l, u),
            (Err(e), _) | (_, Err(e)) => return (self as &dyn Check).param_error(e),
        };
        let work: Vec<&WorkFile> = cx
            .facts
            .docs
            .work_files
            .iter()
            .filter(|w| is_exploration(&w.path, &dirs))
            .collect();
        let Some(history) = cx.facts.usable_history() else {
            return without_history(&work, unordered_credit, &cx.facts.docs);
        };
        let own = &history.commits[1..];
        let first_model = own.iter().position(adds_model);
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
                if let Some(present) = work.iter().find(|w| w.path == change.path) {
                    if !present.profiles_raw_data() {
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

/// The first entry of a work log (a block stamped with a time or date) that
/// profiles — names an exploration file or holds a query — when it comes before
/// every entry that names a model.
fn log_puts_profiling_first(docs: &DocsFacts) -> Option<Evidence> {
    let entries = docs
        .documents
        .iter()
        .flat_map(|d| d.blocks().map(move |(_, b)| (d, b)))
        .filter(|(_, b)| b.stamp.is_some());
    for (doc, block) in entries {
        if block.names(ArtifactKind::Model) {
            return None;
        }
        if block.names(ArtifactKind::Analysis) || block.has_query() {
            return Some(
                Evidence::at(
                    &doc.path,
                    Some(LineSpan {
                        start: block.line,
                        end: block.end_line,
                    }),
                    "the work log profiles the data before any entry names a model",
                )
                .with_snippet(doc.quote(block.line, block.end_line, 4)),
            );
        }
    }
    None
}

/// Without history the order is unknown unless a work log gives it: the
/// profiling files present show exploration, for `unordered_credit`, and in
/// full when a stamped log puts them before the models.
fn without_history(work: &[&WorkFile], unordered_credit: f64, docs: &DocsFacts) -> CheckResult {
    let meta = &ExplorationFirst::META;
    let profiling: Vec<&&WorkFile> = work.iter().filter(|w| w.profiles_raw_data()).collect();
    let hollow = work.len() - profiling.len();
    let evidence = profiling.iter().take(8).map(|w| {
        Evidence::at(
            &w.path,
            w.first_query_line.map(LineSpan::line),
            format!("{} profiling quer(ies) over the raw data", w.queries),
        )
    });
    let measured = Evidence::note("profiling files present (no history to order them by)")
        .with_measured(json!({ "profiling": profiling.len(), "without_query": hollow }));
    let logged_first = log_puts_profiling_first(docs).filter(|_| !profiling.is_empty());
    let (outcome, summary) = if profiling.is_empty() {
        (
            Outcome::Fail,
            "no usable history, and no profiling query over the raw data in the submission"
                .to_string(),
        )
    } else if logged_first.is_some() {
        (
            Outcome::Pass,
            format!(
                "{} profiling file(s) query the raw data, and the work log profiles before it models",
                profiling.len()
            ),
        )
    } else {
        (
            Outcome::from_fraction(unordered_credit),
            format!(
                "{} profiling file(s) query the raw data; without history their order is unknown",
                profiling.len()
            ),
        )
    };
    CheckResult::new(meta.id, outcome, meta.confidence, summary)
        .with_evidence(measured)
        .with_all_evidence(evidence)
        .with_all_evidence(logged_first)
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
        f.docs.work_files = crate::analyse::docs::work_files(&f.inventory);
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
    fn without_history_profiling_files_earn_the_unordered_share() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = facts(&[], &[], "");
        f.inventory.root = dir.path().to_path_buf();
        let path = "analyses/profile_payments.sql";
        std::fs::create_dir_all(dir.path().join("analyses")).unwrap();
        std::fs::write(dir.path().join(path), PROFILE).unwrap();
        f.inventory.files.push(FileEntry {
            path: path.into(),
            size: PROFILE.len() as u64,
            sha256: String::new(),
            origin: Origin::Added,
        });
        f.docs.work_files = crate::analyse::docs::work_files(&f.inventory);
        let params = rubric_params("history.exploration_first");
        let r = ExplorationFirst.run(&CheckContext {
            facts: &f,
            params: &params,
        });
        assert!(
            matches!(r.outcome, Outcome::Partial { fraction } if fraction > 0.5),
            "{:?} {}",
            r.outcome,
            r.summary
        );
        assert_eq!(r.evidence[1].file.as_deref(), Some(path));
        assert_eq!(r.evidence[1].lines, Some(LineSpan::line(1)));
    }

    #[test]
    fn without_history_a_work_log_can_show_profiling_came_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = facts(&["stg_payments"], &[], "");
        f.inventory.root = dir.path().to_path_buf();
        let path = "analyses/profile_payments.sql";
        std::fs::create_dir_all(dir.path().join("analyses")).unwrap();
        std::fs::write(dir.path().join(path), PROFILE).unwrap();
        f.inventory.files.push(FileEntry {
            path: path.into(),
            size: PROFILE.len() as u64,
            sha256: String::new(),
            origin: Origin::Added,
        });
        f.docs.work_files = crate::analyse::docs::work_files(&f.inventory);
        let mut arts = crate::analyse::docs::artifacts(&f.inventory);
        arts.insert("profile_payments".into(), ArtifactKind::Analysis);
        let params = rubric_params("history.exploration_first");
        let grade = |log: &str, f: &mut crate::facts::Facts| {
            f.docs.documents = vec![crate::analyse::docs::parse_with_format(
                "notes.txt",
                log,
                &arts,
                crate::analyse::docs::DocFormat::PlainText,
            )];
            ExplorationFirst.run(&CheckContext {
                facts: f,
                params: &params,
            })
        };
        let first = grade(
            "09:20 profile_payments: 3 % repeats\n10:40 stg_payments keeps the first\n",
            &mut f,
        );
        assert_eq!(first.outcome, Outcome::Pass, "{}", first.summary);
        assert!(first
            .evidence
            .iter()
            .any(|e| e.file.as_deref() == Some("notes.txt")));
        let later = grade(
            "09:20 stg_payments built\n10:40 profile_payments: 3 % repeats\n",
            &mut f,
        );
        assert!(
            matches!(later.outcome, Outcome::Partial { .. }),
            "{:?}",
            later.outcome
        );
    }

    #[test]
    fn without_history_or_profiling_it_fails() {
        let f = facts(&[], &[], "");
        let params = rubric_params("history.exploration_first");
        let r = ExplorationFirst.run(&CheckContext {
            facts: &f,
            params: &params,
        });
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.summary);
    }
}
