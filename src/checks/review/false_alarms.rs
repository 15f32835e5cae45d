use super::review_of;
use crate::checks::{
    Check, CheckContext, CheckMeta, CheckResult, Evidence, LineSpan, Outcome, ParamError, Params,
};

/// False alarms quoted in the evidence.
const MAX_QUOTED: usize = 12;

crate::declare_check! {
    /// ## What it checks
    /// The candidate's review comments that raise a problem none of the
    /// planted issues is about. A comment is a false alarm when one of its
    /// sentences (at least `[review] min_words` words, not a keyword list)
    /// holds a word of `[review] problem_words` ("bug", "wrong", "should",
    /// "risk") and none of its sentences names any planted issue's topic,
    /// near its code or not. Up to `allowed` false alarms pass; beyond that
    /// the credit falls with their share among the comments that count (false
    /// alarms over false alarms plus comments that name an issue), reaching
    /// nothing at `fail_share`. This is a heuristic: a false alarm may be a
    /// real problem the exercise did not plant, and the report quotes each
    /// one so the interviewer can judge.
    ///
    /// ## Why it matters
    /// Prioritising is part of the review: flagging style nits or non-issues
    /// as bugs costs the reader's attention and hides the problems that
    /// matter.
    ///
    /// ## Example
    /// `# BUG: this should use snake_case` beside code with no planted issue is
    /// a false alarm; `# TODO: read the table name from config` holds no
    /// problem word and is none; `# SQL injection: bind the values` names a
    /// planted issue and is a finding.
    ///
    /// ## How to pass
    /// Comment the problems that matter in production, say why each one does,
    /// and leave matters of taste out of the review (or mark them as minor).
    pub struct FalseAlarms {
        id: "review.false_alarms",
        title: "Few review comments raise problems that are not there",
        confidence: Heuristic,
    }
}

fn read_params(params: &Params) -> Result<(usize, f64), ParamError> {
    let allowed = params.int("allowed")?.max(0) as usize;
    let fail_share = params.share("fail_share")?;
    if fail_share == 0.0 {
        return Err(ParamError::WrongType(
            "fail_share".into(),
            "a share above 0",
        ));
    }
    Ok((allowed, fail_share))
}

impl Check for FalseAlarms {
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
        let (allowed, fail_share) = match read_params(cx.params) {
            Ok(p) => p,
            Err(e) => return (self as &dyn Check).param_error(e),
        };
        let alarms = review.false_alarms.len();
        let findings = review.findings();
        let share = if alarms + findings == 0 {
            0.0
        } else {
            alarms as f64 / (alarms + findings) as f64
        };
        let outcome = if alarms <= allowed {
            Outcome::Pass
        } else if share >= fail_share {
            Outcome::Fail
        } else {
            Outcome::from_fraction(1.0 - share / fail_share)
        };
        let summary = format!(
            "{alarms} false alarm(s) beside {findings} comment(s) that name a planted issue ({allowed} allowed)"
        );
        let quoted = review.false_alarms.iter().take(MAX_QUOTED).map(|a| {
            Evidence::at(
                &a.file,
                Some(LineSpan::line(a.line)),
                format!(
                    "line {} raises a problem no planted issue is about. Reason to flag: it reads as a finding, but names none of the exercise's issues (it may be a real one outside the list: judge it). How to remediate: keep the review to problems that matter in production, each with why",
                    a.line
                ),
            )
            .with_snippet(a.text.clone())
        });
        CheckResult::new(meta.id, outcome, meta.confidence, summary)
            .with_evidence(
                Evidence::note("false alarms among the review comments")
                    .with_measured(serde_json::json!(alarms))
                    .with_expected(serde_json::json!(allowed)),
            )
            .with_all_evidence(quoted)
    }
}
