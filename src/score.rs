//! Scoring: criteria → dimension scores → bands → overall. A criterion whose
//! check errored or does not apply leaves the denominator; an errored one also
//! marks its dimension incomplete, so an error is never read as a failure.

use std::collections::BTreeMap;

use crate::checks::{CheckResult, Confidence, Outcome};
use crate::report::{Ceiling, CriterionScore, DimensionScore, Overall};
use crate::rubric::{Gate, Rubric};

/// The lowest ceiling among the gates that closed: a gate closes when its
/// check gave a verdict on the candidate (pass, partial, fail, not attempted)
/// that is not a full pass. A check that did not apply or errored closes none.
fn closed_gate(
    rubric: &Rubric,
    gates: &[Gate],
    results: &BTreeMap<String, CheckResult>,
    score: f64,
) -> Option<Ceiling> {
    gates
        .iter()
        .filter(|g| {
            results
                .get(&g.check)
                .and_then(|r| r.outcome.credit())
                .is_some_and(|c| c < 1.0)
        })
        .filter(|g| score > rubric.ceiling_score(g.max_band))
        .min_by_key(|g| g.max_band)
        .map(|g| Ceiling {
            check: g.check.clone(),
            max_band: g.max_band,
            why: g.why.clone(),
            uncapped_score: score,
        })
}

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
        let mut score = (possible_sum > 0.0).then(|| round1(100.0 * earned_sum / possible_sum));
        let ceiling = score.and_then(|s| closed_gate(rubric, &dim.gates, results, s));
        if let Some(c) = &ceiling {
            score = Some(rubric.ceiling_score(c.max_band));
        }
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
            ceiling,
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
    let mut overall_score = (weights > 0.0).then(|| round1(total / weights));
    let ceiling =
        overall_score.and_then(|s| closed_gate(rubric, &rubric.overall_gates, results, s));
    if let Some(c) = &ceiling {
        overall_score = Some(rubric.ceiling_score(c.max_band));
    }
    let band = overall_score.map(|s| rubric.band(s));
    let overall = Overall {
        score: overall_score,
        band,
        band_label: band.map(|b| rubric.band_label(b).to_string()),
        ceiling,
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

    #[test]
    fn a_closed_gate_caps_the_band_and_says_why() {
        let text = {
            let mut s = String::from(
                "version = 1\nexercise = \"x\"\n[bands]\nedges = [40.0, 60.0, 80.0]\nlabels = [\"1\",\"2\",\"3\",\"4\"]\n[confidence_weight]\nexecuted = 1.0\nstatic = 1.0\nheuristic = 0.5\n[[overall_gate]]\ncheck = \"data_quality.b\"\nmax_band = 2\nwhy = \"the build fails\"\n",
            );
            for d in DIMENSIONS {
                s.push_str(&format!("[[dimension]]\nid = \"{d}\"\nname = \"{d}\"\nweight = 1.0\ndescriptors = [\"a\",\"b\",\"c\",\"d\"]\n"));
                for c in ["a", "b"] {
                    s.push_str(&format!(
                        "[[dimension.criterion]]\ncheck = \"{d}.{c}\"\npoints = 10\n"
                    ));
                }
                if d == "data_quality" {
                    s.push_str("[[dimension.gate]]\ncheck = \"data_quality.b\"\nmax_band = 3\nwhy = \"a figure is wrong\"\n");
                }
            }
            s
        };
        let r = Rubric::parse(Path::new("r.toml"), &text, &|_| true).unwrap();
        let all_pass = |b: Outcome| -> BTreeMap<String, CheckResult> {
            DIMENSIONS
                .iter()
                .flat_map(|d| {
                    [
                        result(&format!("{d}.a"), Outcome::Pass, Confidence::Executed),
                        result(
                            &format!("{d}.b"),
                            if *d == "data_quality" {
                                b
                            } else {
                                Outcome::Pass
                            },
                            Confidence::Executed,
                        ),
                    ]
                })
                .collect()
        };
        // Open gate: full marks, band 4, no ceiling.
        let (dims, overall) = score(&r, &all_pass(Outcome::Pass), &|id| id.to_string());
        assert_eq!(dims[0].band, Some(4));
        assert!(dims[0].ceiling.is_none());
        assert_eq!(overall.band, Some(4));
        // 95 % of the points, but the gated check is partial: band 3 at most.
        let (dims, overall) = score(&r, &all_pass(Outcome::Partial { fraction: 0.9 }), &|id| {
            id.to_string()
        });
        assert_eq!(dims[0].band, Some(3));
        let c = dims[0].ceiling.as_ref().expect("a ceiling");
        assert_eq!((c.check.as_str(), c.max_band), ("data_quality.b", 3));
        assert_eq!(c.uncapped_score, 95.0);
        assert_eq!(dims[0].score, Some(79.9));
        assert_eq!(overall.band, Some(2));
        assert_eq!(overall.ceiling.as_ref().unwrap().why, "the build fails");
        // A check that did not apply closes no gate.
        let (dims, _) = score(&r, &all_pass(Outcome::NotApplicable), &|id| id.to_string());
        assert_eq!(dims[0].band, Some(4));
    }
}
