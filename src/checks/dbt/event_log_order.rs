use super::support::{self as s, any_col};
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// Trap T7 (out-of-order change events). A model the candidate built on the
    /// event_log source orders or picks events by `column` (sequence_number), in
    /// a CTE the final select reads: a window ordered by it (`qualify
    /// row_number() over (... order by sequence_number desc) = 1`), an ORDER BY,
    /// an aggregate over it (`max`, `arg_max`: a self-join on the latest
    /// sequence), or an unordered window of one of `latest_functions` over it
    /// (`sequence_number = max(sequence_number) over (partition by ...)`). Any
    /// of these picks the latest state; ordering only by arrival
    /// (`arrival_columns`: recorded_at, the loader's time) fails.
    ///
    /// ## Why it matters
    /// 5-10 % of change events arrive out of order. Replaying them by arrival time
    /// resurrects stale states: a deleted product comes back, an old price wins.
    ///
    /// ## How to pass
    /// `row_number() over (partition by entity_type, entity_id order by
    /// sequence_number desc) = 1` to get each entity's latest state.
    pub struct EventLogOrder {
        id: "dbt.event_log_order",
        title: "Change events ordered by sequence_number",
        confidence: Static,
    }
}

impl Check for EventLogOrder {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let meta = self.meta();
        let p = match s::project(meta, cx.facts) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (table, column, arrival) = match (
            s::string(cx.params, "source_table"),
            s::string(cx.params, "column"),
            s::list(cx.params, "arrival_columns"),
        ) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return s::param_error(meta, e),
        };
        let latest = match s::list(cx.params, "latest_functions") {
            Ok(l) => l,
            Err(e) => return s::param_error(meta, e),
        };
        let models = s::source_models(p, &table);
        if !models.iter().any(|m| m.candidate) {
            return s::result(
                meta,
                Outcome::NotAttempted,
                format!("no model of the candidate reads the `{table}` source"),
                vec![],
            );
        }
        let (live, dead) = s::scan(&models, |_, scope| {
            if let Some(w) = scope.windows.iter().find(|w| any_col(&w.order_by, &column)) {
                return Some((
                    format!("orders events by {column}: `{}`", w.text),
                    Some(column.clone()),
                ));
            }
            // max(sequence_number) over (partition by ...): no ordering needed.
            if let Some(w) = scope.windows.iter().find(|w| {
                w.order_by.is_empty() && latest.contains(&w.function) && any_col(&w.args, &column)
            }) {
                return Some((
                    format!("picks each entity's latest event by {column}: `{}`", w.text),
                    Some(column.clone()),
                ));
            }
            if any_col(&scope.order_by, &column) {
                return Some((format!("orders by {column}"), Some(column.clone())));
            }
            scope
                .aggregates
                .iter()
                .find(|(_, cols)| any_col(cols, &column))
                .map(|(f, _)| {
                    (
                        format!("picks events with {f}() over {column}"),
                        Some(column.clone()),
                    )
                })
        });
        if let Some(hit) = live.first() {
            return s::result(
                meta,
                Outcome::Pass,
                format!("events are ordered by {column}"),
                vec![hit.evidence()],
            );
        }
        let mut evidence = s::dead_evidence(&dead);
        let (by_arrival, _) = s::scan(&models, |_, scope| {
            scope
                .windows
                .iter()
                .find(|w| {
                    w.order_by
                        .iter()
                        .any(|c| arrival.iter().any(|a| super::support::col_is(c, a)))
                })
                .map(|w| {
                    (
                        format!("orders events by arrival: `{}`", w.text),
                        Some("order by".to_string()),
                    )
                })
        });
        evidence.extend(by_arrival.iter().map(|h| h.evidence()));
        let broken = s::grader_failures(&models);
        if !broken.is_empty() {
            evidence.extend(s::failure_evidence(&broken));
            return s::result(
                meta,
                Outcome::Error,
                "the event-log models could not be analysed",
                evidence,
            );
        }
        evidence.push(Evidence::note(format!(
            "no live ordering by {column} in the models built on `{table}`"
        )));
        s::result(
            meta,
            Outcome::Fail,
            format!("events are not ordered by {column}"),
            evidence,
        )
    }
}
