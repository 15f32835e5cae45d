use super::{modules, site_evidence, verdict};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// The candidate's modules hold no credentials: no string literal assigned
    /// to or passed as a password, secret, token or API key, no URI with a
    /// password in it, no cloud access key, Slack token or webhook, or private
    /// key (the same reading as `dag.hardcoded_credentials`, over the modules
    /// outside the DAG files). Every string counts, dead code included; the
    /// report never shows the value.
    ///
    /// ## Why it matters
    /// A password in code is in git history, in every clone and in CI logs,
    /// and rotating it means a release.
    ///
    /// ## How to pass
    /// Read credentials from the environment or a secrets manager at run
    /// time (`os.environ["SNOWFLAKE_PASSWORD"]`), or from Airflow's
    /// connections.
    pub struct HardcodedCredentials {
        id: "code.hardcoded_credentials",
        title: "No credentials in the candidate's modules",
        confidence: Static,
    }
}

impl Check for HardcodedCredentials {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let (files, unread) = match modules(cx, &Self::META) {
            Ok(m) => m,
            Err(r) => return r,
        };
        let sites: Vec<_> = files.iter().flat_map(|f| f.credentials.iter()).collect();
        let summary = if sites.is_empty() {
            format!("no credential is written into {} module(s)", files.len())
        } else {
            format!("{} credential(s) written into the code", sites.len())
        };
        verdict(
            &Self::META,
            summary,
            sites.iter().map(|s| site_evidence(s)).collect(),
            Vec::new(),
            unread,
        )
    }
}
