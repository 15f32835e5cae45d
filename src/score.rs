//! Scoring: criteria → dimension scores → bands → overall. A criterion whose
//! check errored or does not apply leaves the denominator; an errored one also
//! marks its dimension incomplete, so an error is never read as a failure.

use std::collections::BTreeMap;

use crate::checks::{CheckResult, Confidence, Outcome};
use crate::report::{CriterionScore, DimensionScore, Overall};
use crate::rubric::Rubric;

pub fn score(
    rubric: &Rubric,
    results: &BTreeMap<String, CheckResult>,
    titles: &dyn Fn(&str) -> String,
) -> (Vec<DimensionScore>, Overall) {
    let mut dimensions = Vec::new();
    for dim in &rubric.dimensions {
        let mut criteria = Vec::new();
        let (mut earned_sum, mut possible_sum) = (0.0, 0.0);
        let mut incomplete = false;
        for criterion in &dim.criteria {
            let result = results.get(&criterion.check).cloned().unwrap_or_else(|| {
                CheckResult::new(
                    &criterion.check,
                    Outcome::Error,
                    Confidence::Static,
                    "the check did not run",
                )
            });
            let weighted = criterion.points * rubric.confidence_weight.of(result.confidence);
            let earned = result.outcome.credit().map(|c| c * weighted);
            if let Some(e) = earned {
                earned_sum += e;
                possible_sum += weighted;
            }
            if result.outcome == Outcome::Error {
                incomplete = true;
            }
            criteria.push(CriterionScore {
                check: criterion.check.clone(),
                title: titles(&criterion.check),
                points: criterion.points,
                weighted_points: weighted,
                earned,
                outcome: result.outcome,
                confidence: result.confidence,
                summary: result.summary,
                evidence: result.evidence,
            });
        }
        let score = (possible_sum > 0.0).then(|| round1(100.0 * earned_sum / possible_sum));
        let band = score.map(|s| rubric.band(s));
        dimensions.push(DimensionScore {
            id: dim.id.clone(),
            name: dim.name.clone(),
            weight: dim.weight,
            score,
            band,
            band_label: band.map(|b| rubric.band_label(b).to_string()),
            descriptor: band.map(|b| dim.descriptors[(b - 1) as usize].clone()),
            incomplete,
            criteria,
        });
    }
    let (mut total, mut weights) = (0.0, 0.0);
    for d in &dimensions {
        if let Some(s) = d.score {
            total += s * d.weight;
            weights += d.weight;
        }
    }
    let overall_score = (weights > 0.0).then(|| round1(total / weights));
    let band = overall_score.map(|s| rubric.band(s));
    let overall = Overall {
        score: overall_score,
        band,
        band_label: band.map(|b| rubric.band_label(b).to_string()),
    };
    (dimensions, overall)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rubric::DIMENSIONS;
    use std::path::Path;

    fn rubric() -> Rubric {
        let mut s = String::from(
            "version = 1\nexercise = \"x\"\n[bands]\nedges = [40.0, 60.0, 80.0]\nlabels = [\"1\",\"2\",\"3\",\"4\"]\n[confidence_weight]\nexecuted = 1.0\nstatic = 1.0\nheuristic = 0.5\n",
        );
        for d in DIMENSIONS {
            s.push_str(&format!("[[dimension]]\nid = \"{d}\"\nname = \"{d}\"\nweight = 1.0\ndescriptors = [\"a\",\"b\",\"c\",\"d\"]\n"));
            for c in ["a", "b", "h"] {
                s.push_str(&format!(
                    "[[dimension.criterion]]\ncheck = \"{d}.{c}\"\npoints = 10\n"
                ));
            }
        }
        Rubric::parse(Path::new("r.toml"), &s, &|_| true).unwrap()
    }

    fn result(id: &str, outcome: Outcome, confidence: Confidence) -> (String, CheckResult) {
        (
            id.to_string(),
            CheckResult::new(id, outcome, confidence, ""),
        )
    }

    #[test]
    fn an_error_leaves_the_denominator_and_marks_incomplete() {
        let r = rubric();
        let results: BTreeMap<_, _> = [
            result("data_quality.a", Outcome::Pass, Confidence::Executed),
            result("data_quality.b", Outcome::Error, Confidence::Executed),
            result(
                "data_quality.h",
                Outcome::NotApplicable,
                Confidence::Heuristic,
            ),
        ]
        .into_iter()
        .collect();
        let (dims, _) = score(&r, &results, &|id| id.to_string());
        let dq = &dims[0];
        assert_eq!(dq.score, Some(100.0));
        assert!(dq.incomplete);
        assert_eq!(dq.band, Some(4));
    }

    #[test]
    fn heuristic_evidence_weighs_less_and_failures_count() {
        let r = rubric();
        let results: BTreeMap<_, _> = [
            result("data_quality.a", Outcome::Fail, Confidence::Static),
            result(
                "data_quality.b",
                Outcome::Partial { fraction: 0.5 },
                Confidence::Static,
            ),
            result("data_quality.h", Outcome::Pass, Confidence::Heuristic),
        ]
        .into_iter()
        .collect();
        let (dims, overall) = score(&r, &results, &|id| id.to_string());
        // (0 + 5 + 5) / (10 + 10 + 5) = 40 %
        assert_eq!(dims[0].score, Some(40.0));
        assert_eq!(dims[0].band, Some(2));
        assert!(!dims[0].incomplete);
        // Other dimensions did not run: errors everywhere, no score, overall = DQ alone.
        assert_eq!(dims[1].score, None);
        assert_eq!(overall.score, Some(40.0));
    }
}
