use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// The exercise pack's hidden tests that script failures of the outside
    /// world and measure the candidate's code under them: HTTP 429 and 5xx
    /// answered with retries and growing waits, a limit on retries, no retry
    /// where a retry cannot help (a bad key), a slow server cut off by a
    /// timeout, a reset connection retried. The rubric names which hidden tests
    /// belong here (`tests`). The outcome is the share that pass.
    ///
    /// ## Why it matters
    /// A scheduled pipeline meets every one of these in its first month. Code
    /// that hangs on a slow server or hammers a rate-limited one fails at night,
    /// without anyone watching.
    ///
    /// ## How to pass
    /// Set a timeout on every request, retry 429, 5xx, timeouts and connection
    /// errors with growing backoff and a cap, and fail at once on other 4xx.
    /// The report shows the requests and waits each failing test saw.
    pub struct HiddenTestsResilience {
        id: "exec.hidden_tests_resilience",
        title: "The candidate's code survives the failures the hidden tests script",
        confidence: Executed,
    }
}

impl Check for HiddenTestsResilience {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::hidden_tests(self, cx)
    }
}
