use super::{modules, site_evidence, verdict};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// No `except` clause in the candidate's modules catches every error
    /// (bare `except:`, `except Exception`, `except BaseException`) and then
    /// carries on: each such clause raises (again, or its own error with the
    /// cause), or reports the error through logging at error level
    /// (`log.exception(...)`). One attempt of a retry loop (a loop whose guarded
    /// block returns on success) is not swallowing. Catching a named, expected
    /// error (`except ValueError:`) is handling it, and is not flagged.
    /// `print(...)` is not reporting: the task still succeeds.
    ///
    /// ## Why it matters
    /// An error caught and dropped turns a failed load into a successful task
    /// with missing data: no retry, no alert, and nobody learns of it until a
    /// number is wrong downstream.
    ///
    /// ## How to pass
    /// Let errors propagate, or catch what you can handle by name; where a
    /// clause must catch everything (to roll back), end it with `raise`.
    pub struct SwallowedErrors {
        id: "code.swallowed_errors",
        title: "Errors are raised or reported, never caught and dropped",
        confidence: Static,
    }
}

impl Check for SwallowedErrors {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let (files, unread) = match modules(cx, &Self::META) {
            Ok(m) => m,
            Err(r) => return r,
        };
        let clauses: Vec<_> = files.iter().flat_map(|f| f.caught.iter()).collect();
        let (bad, good): (Vec<&&crate::analyse::code::CaughtError>, Vec<_>) =
            clauses.iter().partition(|c| c.swallows());
        let summary = if bad.is_empty() {
            format!(
                "{} except clause(s) read; none catches every error and carries on",
                clauses.len()
            )
        } else {
            format!(
                "{} except clause(s) catch every error and carry on",
                bad.len()
            )
        };
        verdict(
            &Self::META,
            summary,
            bad.iter().map(|c| site_evidence(&c.site)).collect(),
            good.iter()
                .filter(|c| c.broad)
                .map(|c| site_evidence(&c.site))
                .collect(),
            unread,
        )
    }
}
