//! Code Quality checks over the candidate's own Python modules outside the
//! DAG files ([`crate::analyse::code`]): what the code does with SQL text,
//! caught errors, HTTP calls and credentials, read from the parsed code. A
//! comment that names a problem neither earns nor costs anything; a function
//! that is never called still counts, because it ships with the rest.

mod hardcoded_credentials;
mod http_timeouts;
mod sql_values_in_text;
mod swallowed_errors;

#[cfg(test)]
mod tests;

pub use hardcoded_credentials::HardcodedCredentials;
pub use http_timeouts::HttpTimeouts;
pub use sql_values_in_text::SqlValuesInText;
pub use swallowed_errors::SwallowedErrors;

use crate::analyse::code::CodeFile;
use crate::analyse::dag::FileStatus;
use crate::checks::{CheckContext, CheckMeta, CheckResult, Evidence, Outcome, ParamError};

/// The product modules a check judges: those under the rubric's `paths`
/// (every product module when the rubric names none), or the result to return
/// when there are none. The starter's files count as given: an exercise that
/// asks the candidate to fix them holds the candidate to what ships.
pub(crate) fn modules<'a>(
    cx: &'a CheckContext,
    meta: &CheckMeta,
) -> Result<(Vec<&'a CodeFile>, Vec<Evidence>), CheckResult> {
    let paths = match cx.params.string_list("paths") {
        Ok(p) => Some(p),
        Err(ParamError::Missing(_)) => None,
        Err(e) => {
            return Err(CheckResult::new(
                meta.id,
                Outcome::Error,
                meta.confidence,
                e.to_string(),
            ))
        }
    };
    let files: Vec<&CodeFile> = match &paths {
        Some(p) => cx.facts.code.under(p),
        None => cx.facts.code.files.iter().collect(),
    };
    let where_ = paths
        .as_ref()
        .map(|p| format!(" under {}", p.join(", ")))
        .unwrap_or_default();
    if files.is_empty() {
        return Err(CheckResult::new(
            meta.id,
            Outcome::NotAttempted,
            meta.confidence,
            format!("the submission has no Python module{where_}"),
        ));
    }
    let unread: Vec<Evidence> = files
        .iter()
        .filter_map(|f| match &f.status {
            FileStatus::Analysed => None,
            FileStatus::Error { reason } | FileStatus::Skipped { reason } => Some(Evidence::at(
                f.path.as_str(),
                None,
                format!("not analysed: {reason}; judged on the other modules"),
            )),
        })
        .collect();
    let analysed: Vec<&CodeFile> = files
        .into_iter()
        .filter(|f| matches!(f.status, FileStatus::Analysed))
        .collect();
    if analysed.is_empty() {
        return Err(CheckResult::new(
            meta.id,
            Outcome::Error,
            meta.confidence,
            format!(
                "the grader could not analyse the Python modules{where_}, so this was not judged"
            ),
        )
        .with_all_evidence(unread));
    }
    Ok((analysed, unread))
}

pub(crate) use crate::checks::dag::site_evidence;

/// The result of a code check: it passes when nothing was found; the
/// findings come first in the evidence, then a few clean sites, then the
/// modules that could not be read.
pub(crate) fn verdict(
    meta: &CheckMeta,
    summary: String,
    found: Vec<Evidence>,
    clean: Vec<Evidence>,
    unread: Vec<Evidence>,
) -> CheckResult {
    let outcome = if found.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    CheckResult::new(meta.id, outcome, meta.confidence, summary)
        .with_all_evidence(crate::checks::dag::capped(found, clean))
        .with_all_evidence(unread)
}
