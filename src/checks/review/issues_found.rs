use super::{issue_evidence, review_of};
use crate::checks::{
    Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome, ParamError, Params,
};

crate::declare_check! {
    /// ## What it checks
    /// The share of all the issues the exercise plants in the reviewed files
    /// (critical, major and minor, from the pack's `review.toml`) that one of
    /// the candidate's own comments names near its code, by the same rule as
    /// `review.critical_issues_found`: within `[review] window` lines of the
    /// issue, a sentence of at least `min_words` words using one of the
    /// issue's terms, no keyword list, no sentence naming more than
    /// `max_issues_per_statement` issues. A share of `pass_share` or more
    /// passes; below `min_share` fails; in between earns the share over
    /// `pass_share`.
    ///
    /// ## Why it matters
    /// A thorough review finds the correctness, efficiency and hygiene
    /// problems as well as the critical ones: a bare `except` that hides
    /// failed rows, a row-by-row insert, a connection never closed. How many
    /// a candidate spots in ten minutes shows how they read code.
    ///
    /// ## Example
    /// Nine planted issues, six named by comments beside them: with
    /// `pass_share = 0.6` that passes; three named earns half.
    ///
    /// ## How to pass
    /// Read the whole module, and comment each problem where it happens: what
    /// is wrong, what it causes, and what to do instead.
    pub struct IssuesFound {
        id: "review.issues_found",
        title: "Share of the planted review issues named by nearby comments",
        confidence: Static,
    }
}

fn read_params(params: &Params) -> Result<(f64, f64), ParamError> {
    let pass = params.share("pass_share")?;
    let min = params.share("min_share")?;
    if min > pass || pass == 0.0 {
        return Err(ParamError::WrongType(
            "min_share".into(),
            "a share no larger than pass_share (itself above 0)",
        ));
    }
    Ok((pass, min))
}

impl Check for IssuesFound {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = &Self::META;
        let review = match review_of(meta, cx) {
            Ok(r) => r,
            Err(r) => return r,
        };
        // After the review: an exercise without planted issues does not score
        // this criterion, so its rubric gives no parameters.
        let (pass, min) = match read_params(cx.params) {
            Ok(p) => p,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let total = review.issues.len();
        let found = review.found().count();
        let share = if total == 0 {
            0.0
        } else {
            found as f64 / total as f64
        };
        let outcome = if share >= pass {
            Outcome::Pass
        } else if share < min {
            Outcome::Fail
        } else {
            Outcome::from_fraction(share / pass)
        };
        CheckResult::new(
            meta.id,
            outcome,
            meta.confidence,
            format!(
                "{found} of {total} planted issue(s) named by a nearby review comment ({:.0} %, {:.0} % passes)",
                share * 100.0,
                pass * 100.0
            ),
        )
        .with_evidence(
            Evidence::note("share of the planted issues named by a nearby comment")
                .with_measured(serde_json::json!((share * 100.0).round() / 100.0))
                .with_expected(serde_json::json!(pass)),
        )
        .with_all_evidence(issue_evidence(review.issues.iter(), review.window))
    }
}
