//! The candidate's own Python modules outside the DAG files (the code an
//! exercise asks them to write or fix, such as an extraction function or a
//! loader): what the code does with SQL text, with caught errors, with HTTP
//! calls and with credentials. Read from the parsed code, like the DAG
//! analyser: comments never reach here, so naming a problem in a comment
//! neither earns nor costs anything.
//!
//! Each file is parsed by the same contained worker as the DAG files
//! ([`crate::analyse::dag::syntax`]); a parser crash costs that file, which
//! becomes an error fact. Test files (`test_*.py`, `*_test.py`, `conftest.py`,
//! anything under a `tests` folder) are not the candidate's product code and
//! are not read.
//!
//! What is recorded, per file:
//! - **SQL calls** (`.execute(...)`, `.executemany(...)`): the statement's text
//!   as far as it can be followed (f-strings, `+`, `%` and `.format()`, a local
//!   variable assigned in the same function), with every interpolated value
//!   ("hole") and where it sits: inside quotes in the SQL text, or right after
//!   a comparison. Whether the call passes parameters.
//! - **Caught errors**: each `except` clause, whether it catches broadly (bare,
//!   `Exception`, `BaseException`), raises again, reports at error level
//!   through logging, or is one attempt of a retry loop (a loop that raises
//!   once its attempts run out, whose guarded block returns on success).
//! - **HTTP calls** through `requests` (module functions, sessions made in the
//!   same function) and `urllib.request.urlopen`: whether a timeout is given.
//! - **Credentials** written into the code (the DAG analyser's reading).

mod scan;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::analyse::dag::{syntax, FileStatus, Site};
use crate::contained::{self, ContainedError};
use crate::inventory::Inventory;

pub use scan::scan_module;

/// Limits of the code analyser.
#[derive(Debug, Clone)]
pub struct CodeLimits {
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub contained: contained::ContainedLimits,
}

impl Default for CodeLimits {
    fn default() -> Self {
        let dag = crate::analyse::dag::DagLimits::default();
        CodeLimits {
            max_file_bytes: dag.max_file_bytes,
            max_files: 200,
            contained: dag.contained,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CodeFacts {
    pub files: Vec<CodeFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeFile {
    pub path: String,
    /// Written or changed by the candidate (not the starter's file as given).
    pub candidate_work: bool,
    pub status: FileStatus,
    pub sql: Vec<SqlCall>,
    pub caught: Vec<CaughtError>,
    pub http: Vec<HttpCall>,
    pub credentials: Vec<Site>,
}

/// One `.execute(...)`/`.executemany(...)` call whose statement text could be
/// followed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SqlCall {
    pub site: Site,
    /// Parameters are passed beside the statement.
    pub bound: bool,
    pub holes: Vec<Hole>,
}

/// A value interpolated into SQL text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hole {
    /// The interpolated expression, as written (shortened).
    pub expr: String,
    /// Inside a quoted string of the SQL text: a value, not an identifier.
    pub quoted: bool,
    /// Right after a comparison (`=`, `<`, `IN (`, `LIKE`): a value.
    pub after_comparison: bool,
    /// The function or method whose result is interpolated (`isoformat`,
    /// `int`), directly or through a local variable; whether that makes the
    /// value safe is the rubric's call.
    pub converted_by: Option<String>,
}

impl Hole {
    pub fn is_value(&self) -> bool {
        self.quoted || self.after_comparison
    }
}

/// One `except` clause.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaughtError {
    pub site: Site,
    /// Bare `except:`, `Exception` or `BaseException` (alone or in a tuple).
    pub broad: bool,
    /// The clause raises (again or another error).
    pub raises: bool,
    /// The clause logs at error level (`.exception`, `.error`, `.critical`).
    pub reports: bool,
    /// One attempt of a retry loop: inside a loop that raises once its
    /// attempts run out, whose guarded block returns on success.
    pub retry_attempt: bool,
}

impl CaughtError {
    /// A broad clause that neither raises nor reports: the error is gone.
    pub fn swallows(&self) -> bool {
        self.broad && !self.raises && !self.reports && !self.retry_attempt
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HttpCall {
    pub site: Site,
    /// How the call was written (`requests.get`, `session.get`, `urlopen`).
    pub call: String,
    pub timeout: Timeout,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Timeout {
    Given,
    Missing,
    /// Keyword arguments are splatted in (`**kwargs`): the timeout may be there.
    Unknown,
}

impl CodeFacts {
    /// Files under any of the given folders or paths (`src`, `src/loader.py`).
    pub fn under(&self, paths: &[String]) -> Vec<&CodeFile> {
        self.files
            .iter()
            .filter(|f| {
                paths.iter().any(|p| {
                    let p = p.trim_end_matches('/');
                    f.path == p || f.path.starts_with(&format!("{p}/"))
                })
            })
            .collect()
    }
}

/// Whether a Python file is product code: DAG files have their own analyser,
/// and tests are not the product.
pub fn is_product_module(path: &str, dags: &[String]) -> bool {
    if !path.ends_with(".py") || dags.iter().any(|d| d == path) {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("test_") || name.ends_with("_test.py") || name == "conftest.py" {
        return false;
    }
    !path
        .split('/')
        .any(|part| part == "tests" || part == "test")
}

/// Analyses every product module of the inventory, each parsed in a
/// contained child.
pub fn analyse(inventory: &Inventory, limits: &CodeLimits) -> CodeFacts {
    analyse_with(inventory, limits, &|source: &[u8]| {
        let out = contained::run("python", source, &limits.contained)?;
        serde_json::from_slice::<syntax::Module>(&out)
            .map_err(|e| ContainedError::Refused(format!("unreadable parser output: {e}")))
    })
}

/// As [`analyse`], with the parser given (tests parse in-process).
pub fn analyse_with(
    inventory: &Inventory,
    limits: &CodeLimits,
    parse: &dyn Fn(&[u8]) -> Result<syntax::Module, ContainedError>,
) -> CodeFacts {
    let mut facts = CodeFacts::default();
    let paths = inventory
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| is_product_module(p, &inventory.dags));
    for (i, path) in paths.enumerate() {
        let candidate_work = inventory.is_candidate_work(path);
        let unread = |status| CodeFile {
            path: path.to_string(),
            candidate_work,
            status,
            sql: Vec::new(),
            caught: Vec::new(),
            http: Vec::new(),
            credentials: Vec::new(),
        };
        if i >= limits.max_files {
            facts.files.push(unread(FileStatus::Skipped {
                reason: format!("more than {} Python modules", limits.max_files),
            }));
            continue;
        }
        let source = match inventory.read_text_capped(path, limits.max_file_bytes) {
            Ok(s) => s,
            Err(e) => {
                facts.files.push(unread(FileStatus::Skipped {
                    reason: e.to_string(),
                }));
                continue;
            }
        };
        let file = match parse(source.as_bytes()) {
            // a bug in the scanner costs this file, never the grade
            Ok(module) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                scan_module(path, &source, &module, candidate_work)
            }))
            .unwrap_or_else(|_| {
                unread(FileStatus::Error {
                    reason: "the code analyser failed on this file".into(),
                })
            }),
            Err(e) => unread(FileStatus::Error {
                reason: e.to_string(),
            }),
        };
        facts.files.push(file);
    }
    facts
}
