use super::{candidate_dags, capped, result, site_evidence};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult};

crate::declare_check! {
    /// ## What it checks
    /// The candidate's DAG files hold no credentials: no string literal assigned
    /// to or passed as a password, secret, token or API key, no URI with a
    /// password in it, no cloud access key, Slack token or webhook, or private
    /// key. Every string counts, dead code included — a secret leaks from a
    /// repository whether or not its code runs. Templates (`{{ conn... }}`) and
    /// connection ids are not secrets. The report never shows the value.
    ///
    /// ## Why it matters
    /// Credentials in code end up in git history, in every clone and in CI
    /// logs; rotating them means a code change. Airflow's Connections and
    /// Variables (or a secrets backend) exist for this.
    ///
    /// ## How to pass
    /// Refer to `airbyte_conn_id="airbyte_default"` or
    /// `"{{ var.value.api_key }}"`, and keep the values in Airflow.
    pub struct HardcodedCredentials {
        id: "dag.hardcoded_credentials",
        title: "No credentials in the DAG code",
        confidence: Static,
    }
}

impl Check for HardcodedCredentials {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        if let Err(r) = candidate_dags(cx, &Self::META) {
            return r;
        }
        let sites: Vec<_> = cx
            .facts
            .dag
            .candidate_files()
            .into_iter()
            .flat_map(|f| f.credentials.iter())
            .collect();
        result(
            &Self::META,
            if sites.is_empty() { 1.0 } else { 0.0 },
            if sites.is_empty() {
                "no credential is written into the DAG files".to_string()
            } else {
                format!("{} credential(s) written into the DAG files", sites.len())
            },
            capped(sites.iter().map(|s| site_evidence(s)).collect(), Vec::new()),
            cx,
        )
    }
}
