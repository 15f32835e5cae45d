//! What a check says about a submission: an outcome, how strong the evidence is,
//! and the evidence itself, so an interviewer can verify every claim.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How strong a piece of evidence is. The order matters: executed evidence was
/// measured on real data, static evidence was read from parsed code, heuristic
/// evidence was inferred from prose or conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Executed,
    Static,
    Heuristic,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Executed => "executed",
            Confidence::Static => "static",
            Confidence::Heuristic => "heuristic",
        }
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    /// Part of the criterion is met; `fraction` is in 0..=1.
    Partial {
        fraction: f64,
    },
    Fail,
    /// The candidate did not build what the check looks at (a missing model, no DAG).
    /// Counts as zero: the work was part of the exercise.
    NotAttempted,
    /// The criterion cannot apply to this submission (no commit history in an
    /// archive). It leaves the denominator.
    NotApplicable,
    /// The grader could not decide (a parser crashed, the container died). Never
    /// counted as a failure: it leaves the denominator and marks the score incomplete.
    Error,
}

impl Outcome {
    /// The share of the criterion's points earned, or `None` when the outcome
    /// leaves the denominator.
    pub fn credit(self) -> Option<f64> {
        match self {
            Outcome::Pass => Some(1.0),
            Outcome::Partial { fraction } => Some(fraction.clamp(0.0, 1.0)),
            Outcome::Fail | Outcome::NotAttempted => Some(0.0),
            Outcome::NotApplicable | Outcome::Error => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Partial { .. } => "partial",
            Outcome::Fail => "fail",
            Outcome::NotAttempted => "not attempted",
            Outcome::NotApplicable => "not applicable",
            Outcome::Error => "error",
        }
    }

    /// A fraction of points as an outcome, so checks that count things need not
    /// repeat the thresholds.
    pub fn from_fraction(fraction: f64) -> Outcome {
        if fraction >= 1.0 {
            Outcome::Pass
        } else if fraction <= 0.0 {
            Outcome::Fail
        } else {
            Outcome::Partial { fraction }
        }
    }
}

/// Inclusive 1-based line span in a submission file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineSpan {
    pub start: u32,
    pub end: u32,
}

impl LineSpan {
    pub fn line(n: u32) -> LineSpan {
        LineSpan { start: n, end: n }
    }
}

/// One piece of evidence behind a verdict: where to look and what was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// Path relative to the submission's root, with `/` separators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<LineSpan>,
    /// The code at `lines`, verbatim (candidate-controlled: escape when rendering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<serde_json::Value>,
    /// What this piece of evidence shows, in plain words.
    pub note: String,
}

impl Evidence {
    pub fn note(note: impl Into<String>) -> Evidence {
        Evidence {
            note: note.into(),
            ..Evidence::default()
        }
    }

    pub fn at(
        file: impl Into<String>,
        lines: Option<LineSpan>,
        note: impl Into<String>,
    ) -> Evidence {
        Evidence {
            file: Some(file.into()),
            lines,
            note: note.into(),
            ..Evidence::default()
        }
    }

    pub fn with_snippet(mut self, snippet: impl Into<String>) -> Evidence {
        self.snippet = Some(snippet.into());
        self
    }

    pub fn with_measured(mut self, measured: serde_json::Value) -> Evidence {
        self.measured = Some(measured);
        self
    }

    pub fn with_expected(mut self, expected: serde_json::Value) -> Evidence {
        self.expected = Some(expected);
        self
    }
}

/// The result of running one check on one submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    pub check: String,
    pub outcome: Outcome,
    pub confidence: Confidence,
    /// One sentence: what was found.
    pub summary: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// How the outcome was decided when the rubric ties this criterion to
    /// executed evidence: by what was measured, or by the code alone (and why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Box<str>>,
    /// A static claim that execution refuted, when this criterion's code
    /// looked right and the data said otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contradiction: Option<Box<Contradiction>>,
}

/// A claim refuted by what was measured: the static evidence that claims
/// something (code, a description) and the executed evidence that disagrees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contradiction {
    /// The criterion whose outcome execution decided.
    pub check: String,
    /// The trap concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trap: Option<String>,
    /// What the code appears to do, in plain words.
    pub claim: String,
    /// Where the code claims it (file, line, snippet).
    pub claimed_by: Vec<Evidence>,
    /// What was measured: the failing hidden checks with measured and expected values.
    pub refuted_by: Vec<Evidence>,
    /// Who made the claim: the code (a static check's pass) or the write-up.
    #[serde(default)]
    pub source: ClaimSource,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimSource {
    #[default]
    Code,
    WriteUp,
    /// A model's or column's description in the dbt YAML.
    Description,
}

impl CheckResult {
    pub fn new(
        check: &str,
        outcome: Outcome,
        confidence: Confidence,
        summary: impl Into<String>,
    ) -> Self {
        CheckResult {
            check: check.to_string(),
            outcome,
            confidence,
            summary: summary.into(),
            evidence: Vec::new(),
            decided_by: None,
            contradiction: None,
        }
    }

    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    pub fn with_all_evidence(mut self, evidence: impl IntoIterator<Item = Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }
}
