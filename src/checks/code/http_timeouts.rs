use super::{modules, site_evidence, verdict};
use crate::analyse::code::Timeout;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every HTTP request the candidate's modules make through `requests` (its
    /// functions, or a `requests.Session()` made in the same function) or
    /// `urllib.request.urlopen` gives a timeout. A call that passes keyword
    /// arguments through (`**kwargs`) may carry one and is not flagged.
    ///
    /// ## Why it matters
    /// `requests` waits forever by default: a server that accepts the
    /// connection and never answers hangs the task until Airflow's own
    /// timeout, if there is one, and holds a worker slot the whole time.
    ///
    /// ## How to pass
    /// `session.get(url, params=params, timeout=(5, 30))`.
    pub struct HttpTimeouts {
        id: "code.http_timeouts",
        title: "HTTP requests set a timeout",
        confidence: Static,
    }
}

impl Check for HttpTimeouts {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let (files, unread) = match modules(cx, &Self::META) {
            Ok(m) => m,
            Err(r) => return r,
        };
        let calls: Vec<_> = files.iter().flat_map(|f| f.http.iter()).collect();
        if calls.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotApplicable,
                Self::META.confidence,
                "no HTTP request through requests or urllib was found in the candidate's modules",
            )
            .with_all_evidence(unread);
        }
        let (bad, good): (Vec<&&crate::analyse::code::HttpCall>, Vec<_>) =
            calls.iter().partition(|c| c.timeout == Timeout::Missing);
        let summary = if bad.is_empty() {
            format!("{} HTTP request(s) read; each sets a timeout", calls.len())
        } else {
            format!(
                "{} of {} HTTP request(s) set no timeout",
                bad.len(),
                calls.len()
            )
        };
        verdict(
            &Self::META,
            summary,
            bad.iter().map(|c| site_evidence(&c.site)).collect(),
            good.iter().map(|c| site_evidence(&c.site)).collect(),
            unread,
        )
    }
}
