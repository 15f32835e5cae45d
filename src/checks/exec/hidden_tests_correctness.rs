use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// The exercise pack's hidden tests (pytest, run in the sandbox against the
    /// candidate's own code, with a scripted stand-in of the external API and of
    /// the warehouse) that measure whether the data comes out right: every
    /// field extracted as the API served it, every page fetched once, a missing
    /// nested field read as empty, a day loaded twice kept once, other days left
    /// alone, hostile text stored as text. The rubric names which hidden tests
    /// belong here (`tests`: test ids, or prefixes ending in `*`). The outcome
    /// is the share that pass.
    ///
    /// ## Why it matters
    /// A pipeline whose numbers are wrong is worse than none: it is trusted.
    /// These tests run the code on requests and data whose right answers are
    /// known, so they show what the code does, not what it says.
    ///
    /// ## How to pass
    /// Run your function against a local stand-in of the API with several
    /// pages, missing fields and odd values, and load the same day twice into a
    /// scratch database. The report lists each failing hidden test with what it
    /// measured and what was expected.
    pub struct HiddenTestsCorrectness {
        id: "exec.hidden_tests_correctness",
        title: "The candidate's code gives the right data on the pack's hidden tests",
        confidence: Executed,
    }
}

impl Check for HiddenTestsCorrectness {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        super::hidden_tests(self, cx)
    }
}
