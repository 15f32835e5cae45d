//! The cohort view: one row per submission and the statistics a rubric author
//! reads to see which checks carry signal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::{Report, Status};
use crate::rubric::DIMENSIONS;

/// Share of the cohort in each of the top and bottom groups of the classic
/// upper-lower discrimination index.
const GROUP_SHARE: f64 = 0.27;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub grader_version: String,
    pub rows: Vec<Row>,
    pub dimensions: Vec<DimensionStats>,
    pub checks: Vec<CheckStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub source: String,
    pub status: Status,
    pub error: Option<String>,
    pub commit: Option<String>,
    pub overall: Option<f64>,
    pub overall_band: Option<u8>,
    /// Dimension id → (score, band).
    pub dimensions: BTreeMap<String, DimensionCell>,
    /// Check id → share of its points earned; absent when it left the denominator.
    pub checks: BTreeMap<String, Option<f64>>,
    /// The report, relative to the batch folder.
    pub report: String,
    pub report_html: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimensionCell {
    pub score: Option<f64>,
    pub band: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimensionStats {
    pub id: String,
    pub name: String,
    /// Submissions in bands 1, 2, 3 and 4.
    pub bands: [usize; 4],
    pub unscored: usize,
    pub mean: Option<f64>,
    pub median: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckStats {
    pub check: String,
    /// Submissions where the check was scored.
    pub scored: usize,
    /// Mean share of points earned.
    pub pass_rate: Option<f64>,
    /// Mean credit in the top group minus the bottom group, by overall score
    /// (from -1 to 1). Near zero: the check does not separate strong from weak.
    pub discrimination: Option<f64>,
}

pub fn row(id: &str, report: &Report, report_rel: &str, html_rel: Option<&str>) -> Row {
    let mut dimensions = BTreeMap::new();
    let mut checks = BTreeMap::new();
    for d in &report.dimensions {
        dimensions.insert(
            d.id.clone(),
            DimensionCell {
                score: d.score,
                band: d.band,
            },
        );
        for c in &d.criteria {
            let credit = c.outcome.credit();
            checks.insert(
                c.check.clone(),
                credit.map(|v| (v * 1000.0).round() / 1000.0),
            );
        }
    }
    Row {
        id: id.to_string(),
        source: report.submission.source.clone(),
        status: report.status,
        error: report.error.clone(),
        commit: report.submission.commit.clone(),
        overall: report.overall.score,
        overall_band: report.overall.band,
        dimensions,
        checks,
        report: report_rel.to_string(),
        report_html: html_rel.map(str::to_string),
    }
}

pub fn summarise(mut rows: Vec<Row>, names: &BTreeMap<String, String>) -> Summary {
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let dimensions = DIMENSIONS
        .iter()
        .map(|dim| {
            let mut bands = [0usize; 4];
            let mut scores = Vec::new();
            let mut unscored = 0;
            for r in rows.iter().filter(|r| r.status == Status::Graded) {
                match r.dimensions.get(*dim) {
                    Some(DimensionCell {
                        score: Some(s),
                        band: Some(b),
                    }) => {
                        bands[(*b as usize).clamp(1, 4) - 1] += 1;
                        scores.push(*s);
                    }
                    _ => unscored += 1,
                }
            }
            DimensionStats {
                id: dim.to_string(),
                name: names.get(*dim).cloned().unwrap_or_else(|| dim.to_string()),
                bands,
                unscored,
                mean: mean(&scores),
                median: median(&mut scores),
            }
        })
        .collect();

    let mut graded: Vec<&Row> = rows
        .iter()
        .filter(|r| r.status == Status::Graded && r.overall.is_some())
        .collect();
    graded.sort_by(|a, b| {
        b.overall
            .unwrap_or(0.0)
            .total_cmp(&a.overall.unwrap_or(0.0))
            .then(a.id.cmp(&b.id))
    });
    let group = ((graded.len() as f64 * GROUP_SHARE).ceil() as usize).max(1);
    let check_ids: std::collections::BTreeSet<&String> =
        rows.iter().flat_map(|r| r.checks.keys()).collect();
    let checks = check_ids
        .into_iter()
        .map(|check| {
            let credits = |rs: &[&Row]| -> Vec<f64> {
                rs.iter()
                    .filter_map(|r| r.checks.get(check).copied().flatten())
                    .collect()
            };
            let all = credits(&graded);
            let discrimination = if graded.len() >= 2 {
                let top = credits(&graded[..group.min(graded.len())]);
                let bottom = credits(&graded[graded.len().saturating_sub(group)..]);
                match (mean(&top), mean(&bottom)) {
                    (Some(t), Some(b)) => Some(((t - b) * 1000.0).round() / 1000.0),
                    _ => None,
                }
            } else {
                None
            };
            CheckStats {
                check: check.clone(),
                scored: all.len(),
                pass_rate: mean(&all).map(|m| (m * 1000.0).round() / 1000.0),
                discrimination,
            }
        })
        .collect();
    Summary {
        grader_version: env!("CARGO_PKG_VERSION").to_string(),
        rows,
        dimensions,
        checks,
    }
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| ((xs.iter().sum::<f64>() / xs.len() as f64) * 10.0).round() / 10.0)
}

fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    Some(if xs.len().is_multiple_of(2) {
        (xs[mid - 1] + xs[mid]) / 2.0
    } else {
        xs[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, overall: f64, checks: &[(&str, Option<f64>)]) -> Row {
        Row {
            id: id.into(),
            source: id.into(),
            status: Status::Graded,
            error: None,
            commit: None,
            overall: Some(overall),
            overall_band: Some(1),
            dimensions: BTreeMap::new(),
            checks: checks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            report: String::new(),
            report_html: None,
        }
    }

    #[test]
    fn discrimination_separates_signal_from_noise() {
        let rows = vec![
            row("a", 90.0, &[("signal", Some(1.0)), ("noise", Some(1.0))]),
            row("b", 70.0, &[("signal", Some(1.0)), ("noise", Some(0.0))]),
            row("c", 40.0, &[("signal", Some(0.0)), ("noise", Some(1.0))]),
            row("d", 10.0, &[("signal", Some(0.0)), ("noise", Some(0.0))]),
        ];
        let s = summarise(rows, &BTreeMap::new());
        let get = |id: &str| s.checks.iter().find(|c| c.check == id).unwrap().clone();
        assert_eq!(get("signal").discrimination, Some(1.0));
        assert_eq!(get("noise").discrimination, Some(0.0));
        assert_eq!(get("signal").pass_rate, Some(0.5));
    }
}
