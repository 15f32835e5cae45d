//! Exploration files: the candidate's queries and notebooks that are not part of
//! the pipeline (outside the dbt project's models, macros, tests, seeds and
//! snapshots, and not a DAG). Which folders count as exploration is the rubric's
//! call; this records where each file is and whether it queries the raw data.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::inventory::Inventory;

/// Exploration files read per submission, and the bytes read of each.
const MAX_FILES: usize = 200;
const MAX_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkFileKind {
    Sql,
    Python,
    Notebook,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkFile {
    pub path: String,
    pub kind: WorkFileKind,
    /// `select … from` statements in the file (a notebook or script counts one
    /// when it holds a query string).
    pub queries: usize,
    /// It reads the raw data: `source(…)`, the `raw` schema, or a file reader.
    pub reads_raw: bool,
    /// The line of the first query, for evidence.
    pub first_query_line: Option<u32>,
    /// Why the file was not read, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

impl WorkFile {
    /// A file that profiles the data: at least one query over the raw tables.
    pub fn profiles_raw_data(&self) -> bool {
        self.queries > 0 && self.reads_raw
    }
}

pub fn analyse(inventory: &Inventory) -> Vec<WorkFile> {
    let mut pipeline: Vec<&str> = inventory.dags.iter().map(String::as_str).collect();
    for project in &inventory.dbt_projects {
        for list in [
            &project.models,
            &project.macros,
            &project.singular_tests,
            &project.seeds,
            &project.snapshots,
        ] {
            pipeline.extend(list.iter().map(String::as_str));
        }
    }
    let mut out = Vec::new();
    for file in &inventory.files {
        if out.len() >= MAX_FILES {
            break;
        }
        let lower = file.path.to_ascii_lowercase();
        let kind = if lower.ends_with(".sql") {
            WorkFileKind::Sql
        } else if lower.ends_with(".ipynb") {
            WorkFileKind::Notebook
        } else if lower.ends_with(".py") {
            WorkFileKind::Python
        } else {
            continue;
        };
        let vendored = lower.split('/').any(|s| {
            matches!(
                s,
                "dbt_packages" | "target" | "logs" | "node_modules" | ".venv" | "venv"
            ) || s.starts_with('.')
        });
        if vendored || pipeline.contains(&file.path.as_str()) {
            continue;
        }
        if !inventory.is_candidate_work(&file.path) {
            continue;
        }
        let mut entry = WorkFile {
            path: file.path.clone(),
            kind,
            queries: 0,
            reads_raw: false,
            first_query_line: None,
            unread: None,
        };
        match inventory.read_text_capped(&file.path, MAX_BYTES) {
            Ok(text) => read_queries(&mut entry, &text),
            Err(e) => entry.unread = Some(e.to_string()),
        }
        out.push(entry);
    }
    out
}

fn read_queries(entry: &mut WorkFile, text: &str) {
    let lower = text.to_ascii_lowercase();
    entry.reads_raw =
        lower.contains("source(") || lower.contains("raw.") || lower.contains("read_");
    match entry.kind {
        WorkFileKind::Sql => {
            let mut line = 1u32;
            for statement in lower.split(';') {
                if super::is_query(statement) {
                    entry.queries += 1;
                    if entry.first_query_line.is_none() {
                        let lead = statement.len() - statement.trim_start().len();
                        line_of_select(statement, lead, line, entry);
                    }
                }
                line += statement.matches('\n').count() as u32;
            }
        }
        WorkFileKind::Python | WorkFileKind::Notebook => {
            // A query string inside a script or notebook cell.
            if let Some(at) = lower.find("select") {
                if lower[at..].contains("from") {
                    entry.queries = 1;
                    entry.first_query_line = Some(lower[..at].matches('\n').count() as u32 + 1);
                }
            }
        }
    }
}

fn line_of_select(statement: &str, lead: usize, start_line: u32, entry: &mut WorkFile) {
    let at = statement.find("select").unwrap_or(lead);
    entry.first_query_line = Some(start_line + statement[..at].matches('\n').count() as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: WorkFileKind, text: &str) -> WorkFile {
        let mut e = WorkFile {
            path: "analyses/p.sql".into(),
            kind,
            queries: 0,
            reads_raw: false,
            first_query_line: None,
            unread: None,
        };
        read_queries(&mut e, text);
        e
    }

    #[test]
    fn queries_over_raw_data_are_counted_with_their_line() {
        let e = entry(
            WorkFileKind::Sql,
            "-- duplicates\n\nselect event_id, count(*)\nfrom {{ source('marketplace', 'payments') }}\ngroup by 1;\n\nselect count(*) from raw.orders;\n",
        );
        assert_eq!(
            (e.queries, e.reads_raw, e.first_query_line),
            (2, true, Some(3))
        );
        assert!(e.profiles_raw_data());
    }

    #[test]
    fn a_comment_file_profiles_nothing() {
        let e = entry(
            WorkFileKind::Sql,
            "-- profiling duplicates nulls\nselect 1\n",
        );
        assert!(!e.profiles_raw_data());
    }
}
