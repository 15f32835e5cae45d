//! The commit history of a git submission, as facts: when each commit was made
//! and which files it touched. Read from the bare clone, never from a checkout.

use git2::{Delta, Oid, Repository, Sort};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Files listed per commit; a commit that vendors a package touches thousands.
const MAX_FILES_PER_COMMIT: usize = 500;
const MAX_SUMMARY_CHARS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct History {
    /// Oldest first.
    pub commits: Vec<CommitFact>,
    /// True when the history was longer than the grader reads.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommitFact {
    pub id: String,
    /// Seconds since the Unix epoch, as the committer recorded it.
    pub time: i64,
    pub author: String,
    /// First line of the message (candidate-controlled text).
    pub summary: String,
    pub parents: usize,
    pub changes: Vec<FileChange>,
    pub changes_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FileChange {
    pub path: String,
    pub status: ChangeStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    Other,
}

impl History {
    /// Commits made by a person rather than the starter import: everything after
    /// the first commit when there is more than one.
    pub fn is_usable(&self) -> bool {
        self.commits.len() >= 2
    }
}

pub(crate) fn read(
    repo: &Repository,
    head: Oid,
    max_commits: usize,
) -> Result<History, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    let mut commits = Vec::new();
    let mut truncated = false;
    for oid in walk {
        if commits.len() >= max_commits {
            truncated = true;
            break;
        }
        let commit = repo.find_commit(oid?)?;
        let tree = commit.tree()?;
        let parent_tree = match commit.parent(0) {
            Ok(parent) => Some(parent.tree()?),
            Err(_) => None,
        };
        let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)?;
        let mut changes = Vec::new();
        let mut changes_truncated = false;
        for delta in diff.deltas() {
            if changes.len() >= MAX_FILES_PER_COMMIT {
                changes_truncated = true;
                break;
            }
            let file = if delta.status() == Delta::Deleted {
                delta.old_file()
            } else {
                delta.new_file()
            };
            let path = file
                .path()
                .map(|p| p.to_string_lossy().to_string())
                .unwrap_or_default();
            let status = match delta.status() {
                Delta::Added => ChangeStatus::Added,
                Delta::Modified => ChangeStatus::Modified,
                Delta::Deleted => ChangeStatus::Deleted,
                Delta::Renamed => ChangeStatus::Renamed,
                _ => ChangeStatus::Other,
            };
            changes.push(FileChange { path, status });
        }
        let summary: String = commit
            .summary()
            .ok()
            .flatten()
            .unwrap_or("")
            .chars()
            .take(MAX_SUMMARY_CHARS)
            .collect();
        commits.push(CommitFact {
            id: commit.id().to_string(),
            time: commit.time().seconds(),
            author: commit
                .author()
                .name()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect(),
            summary,
            parents: commit.parent_count(),
            changes,
            changes_truncated,
        });
    }
    commits.reverse();
    Ok(History { commits, truncated })
}
