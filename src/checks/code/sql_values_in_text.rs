use super::{modules, site_evidence, verdict};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Every SQL statement the candidate's modules run (`cursor.execute(...)`,
    /// `executemany(...)`) keeps values out of its text: no value interpolated
    /// into a quoted string of the SQL (`'{load_date}'`), after a comparison
    /// (`= {id}`, `IN ({ids})`) or into a `VALUES (...)` list, whether by
    /// f-string, `+`, `%` or `.format()`, directly or through a local variable.
    /// Table and column names interpolated outside those places are
    /// identifiers, not values, and are not flagged. A value that has passed
    /// through one of the rubric's `safe_converters` (`isoformat`, `int`) has a
    /// known shape and is not flagged either.
    ///
    /// ## Why it matters
    /// A value written into SQL text breaks the load on the first name with a
    /// quote in it (O'Hare) and lets crafted data run its own SQL. Bound
    /// parameters (`%s` with the values passed beside the statement) fix both
    /// and let the warehouse reuse the plan.
    ///
    /// ## How to pass
    /// `cursor.execute("DELETE FROM raw.flights WHERE load_date = %s", (day,))`
    /// and `cursor.executemany(insert, rows)`; validate identifiers you must
    /// interpolate.
    pub struct SqlValuesInText {
        id: "code.sql_values_in_text",
        title: "SQL values are bound, not written into the statement's text",
        confidence: Static,
    }
}

impl Check for SqlValuesInText {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let (files, unread) = match modules(cx, &Self::META) {
            Ok(m) => m,
            Err(r) => return r,
        };
        let safe = cx.params.string_list("safe_converters").unwrap_or_default();
        let calls: Vec<_> = files.iter().flat_map(|f| f.sql.iter()).collect();
        if calls.is_empty() {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotApplicable,
                Self::META.confidence,
                "the candidate's modules run no SQL statement whose text could be read",
            )
            .with_all_evidence(unread);
        }
        let mut bad: Vec<Evidence> = Vec::new();
        let mut good: Vec<Evidence> = Vec::new();
        for c in &calls {
            let values: Vec<_> = c
                .holes
                .iter()
                .filter(|h| h.is_value())
                .filter(|h| !h.converted_by.as_ref().is_some_and(|f| safe.contains(f)))
                .collect();
            if values.is_empty() {
                good.push(site_evidence(&c.site));
            } else {
                let mut e = site_evidence(&c.site);
                e.note = format!(
                    "{}{}",
                    e.note,
                    if c.bound {
                        " (parameters are passed too, but not for these)"
                    } else {
                        "; no parameters are passed"
                    }
                );
                bad.push(e);
            }
        }
        let summary = if bad.is_empty() {
            format!(
                "{} SQL statement(s) read; none writes a value into its text",
                calls.len()
            )
        } else {
            format!(
                "{} of {} SQL statement(s) write values into their text",
                bad.len(),
                calls.len()
            )
        };
        verdict(&Self::META, summary, bad, good, unread)
    }
}
