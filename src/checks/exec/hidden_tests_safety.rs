use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// The exercise pack's hidden tests that measure how the candidate's code
    /// behaves when things go wrong and what it leaves behind: the API's own
    /// errors raised with their code rather than swallowed, malformed answers
    /// raised, the access key never in an exception, a log line or printed
    /// output, a failed load rolled back and raised, connections and cursors
    /// closed, credentials read from the environment. The rubric names which
    /// hidden tests belong here (`tests`). The outcome is the share that pass.
    ///
    /// ## Why it matters
    /// An error swallowed in a task shows up as a quiet gap in a dashboard
    /// weeks later; a key in a task log is a key shared with everyone who can
    /// read the logs.
    ///
    /// ## How to pass
    /// Raise an exception of your own that names the API's error code, strip
    /// the key from anything you raise or log, wrap a load in a transaction that
    /// rolls back, and close what you open. The report names each failing
    /// hidden test with its measured and expected values.
    pub struct HiddenTestsSafety {
        id: "exec.hidden_tests_safety",
        title: "The candidate's code fails loudly and keeps its secrets on the hidden tests",
        confidence: Executed,
    }
}

impl Check for HiddenTestsSafety {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::hidden_tests(self, cx)
    }
}
