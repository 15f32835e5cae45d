//! The table `assay batch` ends with: every submission ranked by its overall
//! score, with its band, status and, when it was not graded this run, why.

use std::fmt::Write;

use super::Row;
use crate::report::Status;
use crate::term::Paint;

/// Reasons are cut here; the full text follows the table and is in the report.
const REASON_WIDTH: usize = 80;

/// The table, best score first; submissions without a score last, by id.
pub fn table(rows: &[Row], unchanged: &[String], paint: Paint) -> String {
    let mut rows: Vec<&Row> = rows.iter().collect();
    rows.sort_by(|a, b| match (a.overall, b.overall) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.id.cmp(&b.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id.cmp(&b.id),
    });
    let id_width = rows
        .iter()
        .map(|r| r.id.chars().count())
        .chain([2])
        .max()
        .unwrap_or(2);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint.bold(&format!(
            "{:<id_width$}  {:>7}  {:<4}  {:<10}  reason",
            "id", "overall", "band", "status"
        ))
    );
    for r in rows {
        let overall = r
            .overall
            .map_or_else(|| "–".to_string(), |s| format!("{s:.1}"));
        let band = r
            .overall_band
            .map_or_else(|| "–".to_string(), |b| b.to_string());
        let status = match r.status {
            Status::Graded => paint.green(&format!("{:<10}", "graded")),
            Status::Incomplete => paint.yellow(&format!("{:<10}", "incomplete")),
            Status::Error => paint.red(&format!("{:<10}", "error")),
        };
        let reason = match (&r.error, r.status) {
            (Some(why), _) => one_line(why),
            (None, Status::Graded) if unchanged.contains(&r.id) => {
                "unchanged since it was graded".to_string()
            }
            _ => String::new(),
        };
        let line = format!(
            "{:<id_width$}  {}  {}  {status}  {reason}",
            crate::inert::inert_name(&r.id, 80),
            paint.band(r.overall_band, &format!("{overall:>7}")),
            paint.band(r.overall_band, &format!("{band:<4}")),
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::inert::inert_name(&joined, REASON_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: Status, overall: Option<f64>, band: Option<u8>) -> Row {
        Row {
            id: id.into(),
            source: String::new(),
            status,
            error: (status == Status::Error).then(|| "not a submission\nof the exercise".into()),
            commit: None,
            overall,
            overall_band: band,
            dimensions: Default::default(),
            checks: Default::default(),
            report: String::new(),
            report_html: None,
        }
    }

    #[test]
    fn the_table_ranks_by_score_and_says_why_a_row_has_none() {
        let rows = [
            row("weak", Status::Graded, Some(31.04), Some(1)),
            row("empty", Status::Error, None, None),
            row("strong", Status::Graded, Some(82.5), Some(4)),
        ];
        let text = table(&rows, &["strong".to_string()], Paint(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "id      overall  band  status      reason",
                "strong     82.5  4     graded      unchanged since it was graded",
                "weak       31.0  1     graded",
                "empty         –  –     error       not a submission of the exercise",
            ]
        );
        assert!(!text.contains('\x1b'));
        assert!(table(&rows, &[], Paint(true)).contains("\x1b[1;32m"));
    }
}
