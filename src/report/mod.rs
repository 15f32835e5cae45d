//! report.json: the single source every other format renders from. Its shape is
//! versioned and described by a JSON Schema committed at `docs/report.schema.json`.

mod enrich;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod overrides;
mod summary;
pub mod values;
mod verdict;

use std::io::Write;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::acquire::{Refusal, SourceKind};
pub use crate::checks::Contradiction;
use crate::checks::{CheckResult, Confidence, Evidence, Outcome};
use crate::inventory::DbtProject;

pub use enrich::{enrich, ExercisePackData, PackError};
pub use summary::{
    graded_project_line, quiet_summary, terminal_summary, terminal_summary_with, Style,
};
pub use verdict::{FailingCheck, ModelFailures, PhaseVerdict, Verdict};

/// Bumped on any change a reader of report.json could notice.
pub const SCHEMA_VERSION: &str = "1.8.0";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub schema_version: String,
    pub grader: Grader,
    pub exercise: String,
    pub rubric: RubricRef,
    pub submission: Submission,
    /// RFC 3339, UTC.
    pub graded_at: String,
    pub status: Status,
    /// Why the submission could not be graded (status `error`), or why its
    /// grade stands on fewer criteria than the rubric has (status `incomplete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub stages: Vec<StageRecord>,
    /// What running the pipeline showed, before any score: per phase whether
    /// dbt passed, what errored, and the hidden checks that disagree with the
    /// truth by model. Says so when nothing was run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<Acquisition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventorySummary>,
    pub dimensions: Vec<DimensionScore>,
    pub overall: Overall,
    /// Every check that ran, scored or not.
    pub checks: Vec<CheckResult>,
    /// Interviewer overrides, shown beside the automatic bands, never replacing them.
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Questions for the debrief, chosen from the gaps.
    #[serde(default)]
    pub followups: Vec<FollowUp>,
    /// Static claims that execution refuted: the code appears to handle a trap,
    /// the data says it does not.
    #[serde(default)]
    pub contradictions: Vec<Contradiction>,
    /// The exercise's data traps: found, handled, tested.
    #[serde(default)]
    pub traps: Vec<TrapRow>,
    /// What happened when the submission ran; absent when it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionSummary>,
    /// What the candidate did well, in plain words.
    #[serde(default)]
    pub strengths: Vec<String>,
    /// What is missing or wrong, in plain words, largest first.
    #[serde(default)]
    pub gaps: Vec<String>,
    /// Things the reader must know to read the scores right (e.g. criteria that did
    /// not apply to this submission).
    #[serde(default)]
    pub notices: Vec<String>,
}

/// An interviewer's judgement on one dimension, kept beside the automatic one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Override {
    pub dimension: String,
    /// The band the interviewer gives, 1-4.
    pub band: u8,
    pub band_label: String,
    pub reason: String,
    pub who: String,
    /// The automatic band and score at the time of the override.
    pub automatic_band: Option<u8>,
    pub automatic_score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FollowUp {
    pub question: String,
    /// The check whose outcome prompted the question.
    pub check: String,
    /// What the grader found, so the interviewer knows why it is asked.
    pub because: String,
    /// How strong the ground of the question is: executed (measured when the
    /// pipeline ran), contradiction, static or heuristic.
    #[serde(default = "default_ground")]
    pub ground: String,
}

fn default_ground() -> String {
    "static".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrapState {
    Yes,
    Partly,
    No,
    /// No check that looks at this ran or could decide.
    Unknown,
}

impl TrapState {
    pub fn label(self) -> &'static str {
        match self {
            TrapState::Yes => "yes",
            TrapState::Partly => "partly",
            TrapState::No => "no",
            TrapState::Unknown => "not judged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrapRow {
    /// T1-T8.
    pub id: String,
    pub title: String,
    /// Explained: the write-up describes the trap (or its handling proves it
    /// was found).
    pub found: TrapState,
    pub handled: TrapState,
    /// How `handled` was decided: "executed" (hidden checks on the seeded
    /// data), "static" (the code alone) or "none".
    #[serde(default = "default_basis")]
    pub handled_basis: String,
    pub tested: TrapState,
    /// Why a cell reads as it does, when the reader needs it (tests not
    /// counted, the hidden check that decided).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The checks the row was derived from.
    pub checks: Vec<String>,
}

/// Filled by the execution stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionSummary {
    pub phases: Vec<PhaseSummary>,
    pub hidden_checks: Vec<HiddenCheckRun>,
    /// The candidate's own dbt tests, as dbt reported them in the first phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_tests: Option<TestTally>,
    /// The last lines of dbt's log (candidate-controlled text).
    #[serde(default)]
    pub dbt_log_tail: Vec<String>,
    /// The pack's hidden Python tests, each as pytest reported it on the
    /// candidate's code (messages are candidate-influenced text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_tests: Vec<crate::execute::workloads::python_tests::TestResult>,
}

fn default_basis() -> String {
    "none".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseSummary {
    pub phase: u8,
    pub name: String,
    /// completed, dbt_timed_out, timed_out, ended_by_submission (the
    /// submission's code ended it: `detail` names how), runner_failed (the
    /// grader's fault), skipped.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<TestTally>,
    /// What the grader could not read back from the phase, and why (a broken
    /// or tampered artifact, a failed raw load).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// dbt's exit code, as the runner saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbt_exit_code: Option<i64>,
    /// Models, seeds and snapshots that errored, each with its first error line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errored: Vec<NodeIssue>,
    /// The candidate's tests that failed or errored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tests: Vec<NodeIssue>,
}

/// One dbt node that did not succeed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeIssue {
    /// The node's name (the model or test name, without its package).
    pub node: String,
    /// The first line of dbt's message that says what went wrong.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestTally {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub warned: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HiddenCheckRun {
    pub check: String,
    pub title: String,
    /// The contract model the check reads.
    #[serde(default)]
    pub model: String,
    /// How the check compares (count, money, money_series...).
    #[serde(default)]
    pub compare: String,
    /// What a series key is, in the reader's words (sellers, months...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noun: Option<String>,
    /// The verdict in words (how many keys disagree, why it was not judged).
    #[serde(default)]
    pub note: String,
    pub phase: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trap: Option<String>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Grader {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RubricRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Submission {
    pub name: String,
    /// Where it came from; any credentials in a URL are removed.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SourceKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Graded,
    /// Scored, but the grader could not decide some criteria for reasons the
    /// submission cannot cause (no Docker engine, the runner image could not
    /// be built, a fault of the grader): `error` names it. Not comparable with
    /// complete grades; `assay grade` exits 2 unless `--allow-incomplete`.
    Incomplete,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Acquire,
    Inventory,
    Analyse,
    Execute,
    Checks,
    Score,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Ok,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StageRecord {
    pub stage: Stage,
    pub status: StageStatus,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Acquisition {
    pub files: u64,
    pub bytes: u64,
    /// What the grader refused to write out, and why.
    pub refusals: Vec<Refusal>,
    pub refusals_unlisted: u64,
    /// Folders dbt writes when it runs (`target`, `logs` beside a
    /// `dbt_project.yml`) that the submission held and the grader left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_copied: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InventorySummary {
    pub files: usize,
    /// Files added or changed by the candidate (all files when no starter is known).
    pub candidate_files: usize,
    pub dbt_projects: Vec<DbtProject>,
    pub dags: Vec<String>,
    pub docs: Vec<String>,
    pub commits: Option<usize>,
    /// The `dbt_project.yml` of the project graded (built, and read by the dbt
    /// checks), when the submission holds one; `dbt_projects` lists every one found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graded_project: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DimensionScore {
    pub id: String,
    pub name: String,
    pub weight: f64,
    /// 0-100; absent when no criterion could be scored.
    pub score: Option<f64>,
    pub band: Option<u8>,
    pub band_label: Option<String>,
    pub descriptor: Option<String>,
    /// True when a check errored: the score stands on fewer criteria than the rubric has.
    pub incomplete: bool,
    /// A band ceiling that applied: the score was lowered to stay under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
    pub criteria: Vec<CriterionScore>,
}

/// A rubric gate that closed: whatever the points added up to, the band stays
/// at or below `max_band` because `check` did not fully pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ceiling {
    pub check: String,
    pub max_band: u8,
    pub why: String,
    /// The score the points gave before the ceiling.
    pub uncapped_score: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CriterionScore {
    pub check: String,
    pub title: String,
    pub points: f64,
    /// Points after the rubric's confidence weight.
    pub weighted_points: f64,
    /// Weighted points earned; absent when the criterion left the denominator.
    pub earned: Option<f64>,
    pub outcome: Outcome,
    pub confidence: Confidence,
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Overall {
    pub score: Option<f64>,
    pub band: Option<u8>,
    pub band_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
}

impl Report {
    /// Every band ceiling that applied, named: each dimension's, then the
    /// overall one. The report's first screen leads with these.
    pub fn ceilings(&self) -> Vec<(&str, &Ceiling)> {
        self.dimensions
            .iter()
            .filter_map(|d| Some((d.name.as_str(), d.ceiling.as_ref()?)))
            .chain(self.overall.ceiling.as_ref().map(|c| ("Overall", c)))
            .collect()
    }

    /// A report not yet graded: what is known before acquisition. Grading fills
    /// it; a submission that cannot be graded keeps it with an error.
    pub fn begin(exercise: &str, rubric: RubricRef, submission: Submission) -> Report {
        Report {
            schema_version: SCHEMA_VERSION.to_string(),
            grader: Grader {
                name: "assay".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            exercise: exercise.to_string(),
            rubric,
            submission,
            graded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            status: Status::Graded,
            error: None,
            stages: Vec::new(),
            verdict: None,
            acquisition: None,
            inventory: None,
            dimensions: Vec::new(),
            overall: Overall {
                score: None,
                band: None,
                band_label: None,
                ceiling: None,
            },
            checks: Vec::new(),
            overrides: Vec::new(),
            followups: Vec::new(),
            contradictions: Vec::new(),
            traps: Vec::new(),
            execution: None,
            strengths: Vec::new(),
            gaps: Vec::new(),
            notices: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Writes atomically (a temporary file renamed into place), so a killed run
    /// never leaves a truncated report behind.
    pub fn write_atomic(&self, path: &Path) -> std::io::Result<()> {
        write_atomic(path, self.to_json().as_bytes())
    }
}

/// Reports are for sharing: written 0644 (folders 0755), less what the umask
/// takes away, not the 0600 of a private temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Output formats. report.json is always written: every other format renders from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Json,
    Html,
    Markdown,
    Junit,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Json, Format::Html, Format::Markdown, Format::Junit];

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
        }
    }

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == name.trim().to_ascii_lowercase())
            .or(match name.trim() {
                "md" => Some(Format::Markdown),
                "xml" => Some(Format::Junit),
                _ => None,
            })
    }

    /// The file written beside report.json.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "report.json",
            Format::Html => "report.html",
            Format::Markdown => "report.md",
            Format::Junit => "report.junit.xml",
        }
    }

    pub fn render(self, report: &Report) -> Result<String, html::RenderError> {
        Ok(match self {
            Format::Json => report.to_json(),
            Format::Html => html::render(report)?,
            Format::Markdown => markdown::render(report),
            Format::Junit => junit::render(report),
        })
    }
}

/// Writes report.json and the other requested formats into `dir`, each
/// atomically. Returns the paths written.
pub fn write_formats(
    report: &Report,
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<std::path::PathBuf>, WriteError> {
    let mut written = Vec::new();
    let mut wanted: Vec<Format> = vec![Format::Json];
    wanted.extend(formats.iter().copied().filter(|f| *f != Format::Json));
    wanted.dedup();
    for format in wanted {
        let path = dir.join(format.file_name());
        let text = format.render(report)?;
        write_atomic(&path, text.as_bytes()).map_err(|source| WriteError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Render(#[from] html::RenderError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The JSON Schema of report.json, as committed in docs/.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Report);
    serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n"
}

/// Removes `user:password@` from a URL so no credential reaches a report.
pub fn redact_source(source: &str) -> String {
    if let Some((scheme, rest)) = source.split_once("://") {
        let (authority, path) = rest
            .split_once('/')
            .map(|(a, p)| (a, format!("/{p}")))
            .unwrap_or((rest, String::new()));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://{host}{path}");
        }
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_a_report() {
        assert_eq!(
            redact_source("https://bob:tok@git.example/x/y.git"),
            "https://git.example/x/y.git"
        );
        assert_eq!(
            redact_source("https://git.example/x@y"),
            "https://git.example/x@y"
        );
        assert_eq!(redact_source("/local/path"), "/local/path");
    }

    #[test]
    fn committed_schema_matches_the_code() {
        let committed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/report.schema.json"
        ))
        .expect("docs/report.schema.json is committed");
        assert!(
            committed == json_schema(),
            "docs/report.schema.json is out of date: run `assay schema > docs/report.schema.json` and bump SCHEMA_VERSION if readers would notice"
        );
    }
}
