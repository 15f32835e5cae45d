use super::support::{self as s, any_col};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T3 (time-zone-naive timestamp). On the lineage path from the orders
    /// source to the rubric's `targets` (fct_orders), a live CTE or final select
    /// converts `column` (confirmed_at) from the rubric's `zone`
    /// (America/New_York): `AT TIME ZONE`, `timezone()` or `convert_timezone()`,
    /// as rendered from the project's own macros and vars.
    ///
    /// ## Why it matters
    /// A legacy service writes confirmed_at as New York wall-clock time without a
    /// zone. Read as UTC, orders appear confirmed hours before they were created, and
    /// every confirmation-time metric is wrong by 4-5 hours.
    ///
    /// ## How to pass
    /// `(confirmed_at at time zone 'America/New_York') at time zone 'UTC' as
    /// confirmed_at_utc` in the orders staging model (directly or via a macro), and
    /// a test that no order is confirmed before it was created.
    pub struct ConfirmedAtTimezone {
        id: "dbt.confirmed_at_timezone",
        title: "confirmed_at converted from New York time to UTC",
        confidence: Static,
    }
}

impl Check for ConfirmedAtTimezone {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (table, column, zone, targets) = match (
            s::string(cx.params, "source_table"),
            s::string(cx.params, "column"),
            s::string(cx.params, "zone"),
            s::list(cx.params, "targets"),
        ) {
            (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                return s::param_error(meta, e)
            }
        };
        let readers = s::source_models(p, &table);
        if !readers.iter().any(|m| m.candidate) {
            return s::result(
                meta,
                Outcome::NotAttempted,
                format!("no model of the candidate reads the `{table}` source"),
                vec![],
            );
        }
        let mut path: Vec<_> = targets
            .iter()
            .filter(|t| p.model(t).is_some())
            .flat_map(|t| p.path_models(&table, t))
            .collect();
        if path.is_empty() {
            path = readers.clone();
        }
        let (live, dead) = s::scan(&path, |_, scope| {
            scope
                .tz_conversions
                .iter()
                .find(|t| any_col(&t.columns, &column) && t.zones.contains(&zone))
                .map(|t| {
                    (
                        format!("converts {column} from {zone}: `{}`", t.text),
                        Some(column.clone()),
                    )
                })
        });
        if let Some(hit) = live.first() {
            return s::result(
                meta,
                Outcome::Pass,
                format!("{column} is converted from {zone}"),
                vec![hit.evidence()],
            );
        }
        let mut evidence = s::dead_evidence(&dead);
        let (other, _) = s::scan(&path, |_, scope| {
            scope
                .tz_conversions
                .iter()
                .find(|t| any_col(&t.columns, &column))
                .map(|t| {
                    (
                        format!("converts {column} but not from {zone}: `{}`", t.text),
                        Some(column.clone()),
                    )
                })
        });
        evidence.extend(other.iter().map(|h| h.evidence()));
        let broken = s::grader_failures(&path);
        if !broken.is_empty() {
            evidence.extend(s::failure_evidence(&broken));
            return s::result(
                meta,
                Outcome::Error,
                "the models that could convert the time zone could not be analysed",
                evidence,
            );
        }
        evidence.push(Evidence::note(format!(
            "no live conversion of {column} from {zone} on the path from source `{table}`"
        )));
        s::result(
            meta,
            Outcome::Fail,
            format!("{column} is read as if it were UTC"),
            evidence,
        )
    }
}
