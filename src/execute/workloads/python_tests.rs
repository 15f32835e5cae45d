//! The Python tests workload: an exercise pack's hidden pytest files run
//! against the submission's own code inside the sandbox (`runner.py tests`).
//! The pack's tests run the candidate's code in child processes of pytest,
//! and pytest hands its report to the runner through a pipe no candidate
//! process can open; what comes back is still read as hostile: sizes capped,
//! every string clipped, ids checked.

use std::path::Path;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::execute::outputs::{self, Resources};
use crate::execute::sandbox::{archive_bytes, archive_tree, RunnerExit, Sandbox};
use crate::execute::ExecuteError;

/// Folders of a pack's hidden tests that are never sent in (the pack's own
/// self-test of its hidden tests).
const NOT_SENT: &[&str] = &["selftest"];
const MAX_TESTS: usize = 2000;
const MAX_ID: usize = 300;
const MAX_MESSAGE: usize = 4000;
const MAX_CONSOLE: usize = 64 << 10;

/// One run of a pack's hidden tests.
#[derive(Debug, Clone)]
pub struct TestsSpec<'a> {
    /// Letters, digits, `_`, `-`, `.`: names the run's folder in the sandbox.
    pub name: &'a str,
    /// The pack's folder of pytest files (and their helpers).
    pub hidden_dir: &'a Path,
    pub timeout_secs: u64,
    /// "Now" for the candidate's code, as in the dbt phases.
    pub clock: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Passed,
    Failed,
    Error,
    Skipped,
}

/// One hidden test as pytest reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestResult {
    /// `file.py::test_name`
    pub id: String,
    pub outcome: TestOutcome,
    /// pytest's failure message, clipped.
    pub message: Option<String>,
    /// The `measured=<...>` and `expected=<...>` values the hidden test put in
    /// its message, when it did.
    pub measured: Option<String>,
    pub expected: Option<String>,
    pub secs: f64,
}

/// How the run of the hidden tests ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TestsStatus {
    /// pytest ran and left a report; each test's outcome is in it.
    Completed,
    /// pytest ran past the tests' deadline and was killed; no outcome counts.
    TimedOut { deadline_secs: u64 },
    /// pytest, running the submission's code, ended before it wrote its
    /// report (killed for memory, `os._exit`, a crash), or the submission
    /// could not be sent in: the submission's doing, nothing passed.
    SubmissionEnded { why: String },
    /// No usable report, for a reason of the grader's: why.
    NoReport { why: String },
    /// The sandbox ended under the tests (deadline of the whole run, memory).
    SandboxEnded { why: String },
}

/// What running a pack's hidden tests showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestsFacts {
    pub status: TestsStatus,
    pub tests: Vec<TestResult>,
    /// pytest's exit code (0 all passed, 1 some failed, 2+ pytest's own trouble).
    pub returncode: Option<i64>,
    pub elapsed_secs: f64,
    /// The end of pytest's console, for the report.
    pub console_tail: String,
}

impl TestsFacts {
    pub fn outcome(&self, id: &str) -> Option<&TestResult> {
        self.tests.iter().find(|t| t.id == id)
    }
}

#[derive(Deserialize)]
struct RawResult {
    returncode: Option<i64>,
    #[serde(default)]
    timed_out: bool,
    #[serde(default)]
    timeout_secs: Option<f64>,
    #[serde(default)]
    tests: Option<Vec<RawTest>>,
    #[serde(default)]
    junit_error: Option<String>,
}

#[derive(Deserialize)]
struct RawTest {
    id: String,
    outcome: String,
    message: Option<String>,
    #[serde(default)]
    secs: f64,
}

/// Runs the hidden tests in `sandbox`, where the submission is already
/// uploaded. `Err` only for the grader's own failures.
pub async fn run(sandbox: &mut Sandbox, spec: &TestsSpec<'_>) -> Result<TestsFacts, ExecuteError> {
    let started = Instant::now();
    let limits = sandbox.limits().clone();
    let (mut b, _) = archive_tree(spec.hidden_dir, "hidden", &limits, NOT_SENT)?;
    let manifest = serde_json::json!({
        "timeout_secs": spec.timeout_secs,
        "clock": spec.clock,
        "log_tail_bytes": limits.log_tail_bytes,
    });
    archive_bytes(&mut b, "tests.json", manifest.to_string().as_bytes())?;
    let archive = b
        .into_inner()
        .map_err(|e| ExecuteError::Other(format!("building the tests archive: {e}")))?;
    // The runner's own deadline kills pytest first; this one is the backstop.
    let backstop = Duration::from_secs(spec.timeout_secs + 60);
    let exit = sandbox
        .run_runner(&["tests", spec.name], &archive, backstop)
        .await?;
    let mut facts = TestsFacts {
        status: TestsStatus::Completed,
        tests: Vec::new(),
        returncode: None,
        elapsed_secs: 0.0,
        console_tail: String::new(),
    };
    match exit {
        RunnerExit::TimedOut { probe } => {
            facts.status = TestsStatus::SandboxEnded {
                why: format!(
                    "the hidden tests ran past {} s and the sandbox was ended{}",
                    backstop.as_secs(),
                    probe.as_ref().map(limits_note).unwrap_or_default()
                ),
            };
        }
        RunnerExit::ContainerStopped { detail, .. } => {
            facts.status = TestsStatus::SandboxEnded { why: detail };
        }
        RunnerExit::Finished(out) => read_output(&out, &limits, &mut facts),
    }
    facts.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(facts)
}

fn limits_note(r: &Resources) -> String {
    match r.oom_kills {
        Some(n) if n > 0 => " (out of memory)".into(),
        _ => String::new(),
    }
}

fn read_output(
    out: &crate::execute::docker::ExecOutput,
    limits: &crate::execute::SandboxLimits,
    facts: &mut TestsFacts,
) {
    if let Some(code @ 129..=159) = out.exit_code {
        // The runner shares its uid with the candidate's processes: a signal
        // that ends it comes from their code (`kill(-1, SIGKILL)`) or from a
        // sandbox limit their code reached, never from the grader.
        facts.status = TestsStatus::SubmissionEnded {
            why: format!(
                "the tests' runner was killed by signal {} under the submission's code{}",
                code - 128,
                if code == 137 {
                    " (SIGKILL: its code, or the memory or process limit)"
                } else {
                    ""
                }
            ),
        };
        return;
    }
    if out.exit_code != Some(0) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        facts.status = TestsStatus::NoReport {
            why: format!(
                "the runner ended with {:?}: {}",
                out.exit_code,
                clip(line, 500)
            ),
        };
        return;
    }
    let files = match crate::execute::docker::split_frames(&out.stdout)
        .map_err(str::to_string)
        .and_then(|frames| match frames.as_slice() {
            [one] => outputs::read_tests_archive(one, limits).map_err(|e| e.to_string()),
            other => Err(format!("the runner wrote {} frame(s)", other.len())),
        }) {
        Ok(files) => files,
        Err(why) => {
            facts.status = TestsStatus::NoReport { why };
            return;
        }
    };
    facts.console_tail = files
        .files
        .get("console_tail.log")
        .map(|b| clip(&String::from_utf8_lossy(b), MAX_CONSOLE))
        .unwrap_or_default();
    let raw: RawResult = match files
        .files
        .get("result.json")
        .map(|b| serde_json::from_slice(b))
    {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            facts.status = TestsStatus::NoReport {
                why: format!("the runner's result does not parse: {e}"),
            };
            return;
        }
        None => {
            facts.status = TestsStatus::NoReport {
                why: "the runner's result is missing".into(),
            };
            return;
        }
    };
    facts.returncode = raw.returncode;
    if raw.timed_out {
        facts.status = TestsStatus::TimedOut {
            deadline_secs: raw.timeout_secs.unwrap_or_default() as u64,
        };
        return;
    }
    let Some(tests) = raw.tests else {
        let why = clip(
            raw.junit_error
                .as_deref()
                .unwrap_or("pytest left no report"),
            500,
        );
        // pytest exits 0-5 by itself; anything else (a signal from the
        // candidate's processes, which share its uid, or a sandbox limit)
        // means the code under test ended it.
        facts.status = match raw.returncode {
            Some(code) if !(0..=5).contains(&code) => TestsStatus::SubmissionEnded {
                why: format!(
                    "pytest ended with {code}{} before writing its report ({why}){}",
                    if code == -9 {
                        " (killed: by the submission's code, or at the memory or process limit)"
                    } else {
                        ""
                    },
                    last_line(&facts.console_tail)
                        .map(|l| format!("; its console ends: {l}"))
                        .unwrap_or_default()
                ),
            },
            _ => TestsStatus::NoReport { why },
        };
        return;
    };
    for t in tests.into_iter().take(MAX_TESTS) {
        let outcome = match t.outcome.as_str() {
            "passed" => TestOutcome::Passed,
            "failed" => TestOutcome::Failed,
            "skipped" => TestOutcome::Skipped,
            _ => TestOutcome::Error,
        };
        let message = t.message.map(|m| clip(&m, MAX_MESSAGE));
        let (measured, expected) = message
            .as_deref()
            .map(measured_expected)
            .unwrap_or_default();
        facts.tests.push(TestResult {
            id: clip(&t.id, MAX_ID),
            outcome,
            message,
            measured,
            expected,
            secs: if t.secs.is_finite() {
                t.secs.max(0.0)
            } else {
                0.0
            },
        });
    }
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| clip(l, 300))
}

/// The `measured=<...> expected=<...>` pair a hidden test's message carries.
fn measured_expected(message: &str) -> (Option<String>, Option<String>) {
    let m = message.find("measured=");
    let e = message.find(" expected=");
    match (m, e) {
        (Some(m), Some(e)) if e > m => (
            Some(message[m + "measured=".len()..e].trim().to_string()),
            Some(
                message[e + " expected=".len()..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            ),
        ),
        _ => (None, None),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_gives_its_measured_and_expected_values() {
        assert_eq!(
            measured_expected("Failed: pages fetched: measured=[0] expected=[0, 100, 200]\nmore"),
            (Some("[0]".into()), Some("[0, 100, 200]".into()))
        );
        assert_eq!(measured_expected("AssertionError"), (None, None));
        assert_eq!(measured_expected("expected=1 measured=2"), (None, None));
    }

    fn runner_output(result: &[u8]) -> crate::execute::docker::ExecOutput {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("result.json", result), ("console_tail.log", &b"...\n"[..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        crate::execute::docker::ExecOutput {
            stdout: crate::execute::docker::frame(&b.into_inner().unwrap()),
            exit_code: Some(0),
            ..Default::default()
        }
    }

    fn read(out: &crate::execute::docker::ExecOutput) -> TestsFacts {
        let mut facts = TestsFacts {
            status: TestsStatus::Completed,
            tests: Vec::new(),
            returncode: None,
            elapsed_secs: 0.0,
            console_tail: String::new(),
        };
        read_output(out, &crate::execute::SandboxLimits::default(), &mut facts);
        facts
    }

    #[test]
    fn the_runners_result_is_read_as_hostile_input() {
        let long = "x".repeat(50_000);
        let ok = format!(
            r#"{{"returncode": 1, "tests": [{{"id": "test_a.py::test_x", "outcome": "failed", "message": "measured=1 expected=2 {long}", "secs": 0.5}}, {{"id": "test_a.py::test_y", "outcome": "weird", "message": null, "secs": -3}}]}}"#
        );
        let facts = read(&runner_output(ok.as_bytes()));
        assert_eq!(facts.status, TestsStatus::Completed);
        assert_eq!(facts.tests.len(), 2);
        assert!(facts.tests[0].message.as_ref().unwrap().len() <= MAX_MESSAGE + 4);
        assert_eq!(facts.tests[0].measured.as_deref(), Some("1"));
        // An outcome the grader does not know is not a pass.
        assert_eq!(facts.tests[1].outcome, TestOutcome::Error);
        assert_eq!(facts.tests[1].secs, 0.0);
        // A garbled result, or none, is no report: nothing passes.
        let facts = read(&runner_output(b"{not json"));
        assert!(
            matches!(facts.status, TestsStatus::NoReport { .. }),
            "{facts:?}"
        );
        let facts = read(&runner_output(br#"{"returncode": 2, "tests": null, "junit_error": "the report declares a DTD or entities"}"#));
        assert!(
            matches!(&facts.status, TestsStatus::NoReport { why } if why.contains("DTD")),
            "{facts:?}"
        );
        // pytest killed under the submission's code is the submission's doing.
        let facts = read(&runner_output(
            br#"{"returncode": -9, "tests": null, "junit_error": "no such file"}"#,
        ));
        assert!(
            matches!(&facts.status, TestsStatus::SubmissionEnded { why } if why.contains("-9")),
            "{facts:?}"
        );
        // The runner killed from inside (its uid is the candidate's) is the
        // submission's doing; the runner's own failures stay the grader's.
        let mut killed = runner_output(b"{}");
        killed.exit_code = Some(137);
        assert!(
            matches!(&read(&killed).status, TestsStatus::SubmissionEnded { why } if why.contains("signal 9")),
            "{:?}",
            read(&killed)
        );
        let mut failed = runner_output(b"{}");
        failed.exit_code = Some(3);
        assert!(matches!(read(&failed).status, TestsStatus::NoReport { .. }));
        let mut truncated = runner_output(b"{}");
        truncated.stdout.truncate(truncated.stdout.len() - 10);
        assert!(matches!(
            read(&truncated).status,
            TestsStatus::NoReport { .. }
        ));
    }

    #[test]
    fn clipping_keeps_characters_whole() {
        assert_eq!(clip("ééé", 3), "é…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
