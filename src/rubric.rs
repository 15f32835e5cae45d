//! The rubric as data: dimensions, their weights, the criteria under each (a check
//! id and its points, with the check's parameters) and the band edges. Loading
//! validates everything and names the line of any error.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::analyse::review::ReviewSettings;
use crate::checks::{Confidence, Params};

/// The five dimensions every exercise is scored on, in report order.
pub const DIMENSIONS: [&str; 5] = [
    "data_quality",
    "pipeline_design",
    "code_quality",
    "problem_solving",
    "system_design",
];

#[derive(Debug, Clone)]
pub struct Rubric {
    pub path: PathBuf,
    pub sha256: String,
    pub exercise: String,
    /// Scores at or above `edges[i]` reach band `i + 2`; below `edges[0]` is band 1.
    pub band_edges: [f64; 3],
    pub band_labels: [String; 4],
    pub confidence_weight: ConfidenceWeight,
    pub dimensions: Vec<Dimension>,
    /// Ceilings on the overall band (`[[overall_gate]]`).
    pub overall_gates: Vec<Gate>,
    /// How review comments are matched to planted issues (`[review]`), for
    /// exercises whose pack has a `review.toml`.
    pub review: Option<ReviewSettings>,
}

/// A ceiling on a band: when the named check does not fully pass (fail,
/// partial or not attempted), the band cannot exceed `max_band`, whatever the
/// points add up to. Gates are how a fact that decides a level (the build
/// fails, a figure on real data is wrong) outweighs many small credits.
#[derive(Debug, Clone)]
pub struct Gate {
    pub check: String,
    pub max_band: u8,
    /// Why the ceiling exists, as the report states it.
    pub why: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceWeight {
    pub executed: f64,
    #[serde(rename = "static")]
    pub static_: f64,
    pub heuristic: f64,
}

impl ConfidenceWeight {
    pub fn of(&self, confidence: Confidence) -> f64 {
        match confidence {
            Confidence::Executed => self.executed,
            Confidence::Static => self.static_,
            Confidence::Heuristic => self.heuristic,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dimension {
    pub id: String,
    pub name: String,
    pub weight: f64,
    /// One line per band, 1 to 4.
    pub descriptors: [String; 4],
    pub criteria: Vec<Criterion>,
    pub gates: Vec<Gate>,
}

#[derive(Debug, Clone)]
pub struct Criterion {
    pub check: String,
    pub points: f64,
    pub params: Params,
    /// The trap (T1-T8) whose hidden checks decide this criterion when the
    /// pipeline ran: executed evidence outranks what the code appears to do.
    pub decided_by_trap: Option<String>,
    /// Hidden tests that measure behaviour this criterion's code reading
    /// claims: when they ran, a failing one refutes a static pass (the
    /// criterion fails, with the contradiction shown).
    pub refuted_by_tests: Vec<String>,
}

impl Rubric {
    pub fn band(&self, score: f64) -> u8 {
        1 + self
            .band_edges
            .iter()
            .filter(|edge| score >= **edge)
            .count() as u8
    }

    pub fn band_label(&self, band: u8) -> &str {
        &self.band_labels[(band.clamp(1, 4) - 1) as usize]
    }

    pub fn dimension(&self, id: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.id == id)
    }

    /// Every check id the rubric scores.
    pub fn check_ids(&self) -> BTreeSet<&str> {
        self.dimensions
            .iter()
            .flat_map(|d| d.criteria.iter().map(|c| c.check.as_str()))
            .collect()
    }

    /// Loads and validates a rubric. `is_known` says whether a check id exists
    /// (a registered check, or a hidden check of the exercise pack).
    pub fn load(path: &Path, is_known: &dyn Fn(&str) -> bool) -> Result<Rubric, RubricError> {
        let text = std::fs::read_to_string(path).map_err(|e| RubricError {
            path: path.to_path_buf(),
            line: None,
            message: e.to_string(),
        })?;
        Rubric::parse(path, &text, is_known)
    }

    pub fn parse(
        path: &Path,
        text: &str,
        is_known: &dyn Fn(&str) -> bool,
    ) -> Result<Rubric, RubricError> {
        let err = |span: Option<Range<usize>>, message: String| RubricError {
            path: path.to_path_buf(),
            line: span.map(|s| line_of(text, s.start)),
            message,
        };
        let raw: RawRubric =
            toml::from_str(text).map_err(|e| err(e.span(), e.message().to_string()))?;
        if raw.version != 1 {
            return Err(err(
                None,
                format!(
                    "unsupported rubric version {}; this assay reads version 1",
                    raw.version
                ),
            ));
        }

        let edges_span = raw.bands.edges.span();
        let edges = raw.bands.edges.into_inner();
        let band_edges: [f64; 3] = edges.clone().try_into().map_err(|_| {
            err(
                Some(edges_span.clone()),
                "bands.edges must hold exactly three scores (the lower edges of bands 2, 3 and 4)"
                    .into(),
            )
        })?;
        if !(0.0 < band_edges[0]
            && band_edges[0] < band_edges[1]
            && band_edges[1] < band_edges[2]
            && band_edges[2] <= 100.0)
        {
            return Err(err(
                Some(edges_span),
                "bands.edges must rise strictly within 0..100".into(),
            ));
        }
        let labels_span = raw.bands.labels.span();
        let band_labels: [String; 4] = raw.bands.labels.into_inner().try_into().map_err(|_| {
            err(
                Some(labels_span),
                "bands.labels must hold exactly four labels".into(),
            )
        })?;
        for (name, weight) in [
            ("executed", raw.confidence_weight.executed),
            ("static", raw.confidence_weight.static_),
            ("heuristic", raw.confidence_weight.heuristic),
        ] {
            if !(0.0..=1.0).contains(&weight) {
                return Err(err(
                    None,
                    format!("confidence_weight.{name} must lie in 0..1"),
                ));
            }
        }

        let mut dimensions = Vec::new();
        let mut seen_dims = BTreeSet::new();
        let mut seen_checks = BTreeSet::new();
        for dim in raw.dimension {
            let id_span = dim.id.span();
            let id = dim.id.into_inner();
            if !DIMENSIONS.contains(&id.as_str()) {
                return Err(err(
                    Some(id_span),
                    format!(
                        "unknown dimension `{id}`; expected one of {}",
                        DIMENSIONS.join(", ")
                    ),
                ));
            }
            if !seen_dims.insert(id.clone()) {
                return Err(err(
                    Some(id_span),
                    format!("dimension `{id}` appears twice"),
                ));
            }
            if dim.weight.get_ref().partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                return Err(err(
                    Some(dim.weight.span()),
                    format!("dimension `{id}` needs a positive weight"),
                ));
            }
            let desc_span = dim.descriptors.span();
            let descriptors: [String; 4] =
                dim.descriptors.into_inner().try_into().map_err(|_| {
                    err(
                        Some(desc_span),
                        format!("dimension `{id}` needs exactly four band descriptors"),
                    )
                })?;
            let mut criteria = Vec::new();
            for c in dim.criterion {
                let span = c.check.span();
                let check = c.check.into_inner();
                if !is_known(&check) {
                    return Err(err(
                        Some(span),
                        format!("unknown check `{check}` (see `assay checks`)"),
                    ));
                }
                if !seen_checks.insert(check.clone()) {
                    return Err(err(Some(span), format!("check `{check}` is scored twice")));
                }
                if c.points.get_ref().partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return Err(err(
                        Some(c.points.span()),
                        format!("check `{check}` needs positive points"),
                    ));
                }
                criteria.push(Criterion {
                    check,
                    points: c.points.into_inner(),
                    params: Params(c.params.unwrap_or_default()),
                    decided_by_trap: c.decided_by_trap,
                    refuted_by_tests: c.refuted_by_tests.unwrap_or_default(),
                });
            }
            let gates = dim
                .gate
                .into_iter()
                .map(|g| gate(g, is_known, &err))
                .collect::<Result<Vec<_>, _>>()?;
            dimensions.push(Dimension {
                id,
                name: dim.name,
                weight: dim.weight.into_inner(),
                descriptors,
                criteria,
                gates,
            });
        }
        for wanted in DIMENSIONS {
            if !seen_dims.contains(wanted) {
                return Err(err(
                    None,
                    format!("the rubric lacks the dimension `{wanted}`"),
                ));
            }
        }
        dimensions.sort_by_key(|d| DIMENSIONS.iter().position(|x| *x == d.id));
        let overall_gates = raw
            .overall_gate
            .into_iter()
            .map(|g| gate(g, is_known, &err))
            .collect::<Result<Vec<_>, _>>()?;

        let review = match raw.review {
            Some(r) => {
                let span = r.span();
                let settings = r.into_inner();
                if let Some(problem) = settings.problem() {
                    return Err(err(Some(span), problem));
                }
                Some(settings)
            }
            None => None,
        };

        Ok(Rubric {
            path: path.to_path_buf(),
            sha256: crate::inventory::content_hash(text.as_bytes()),
            exercise: raw.exercise,
            band_edges,
            band_labels,
            confidence_weight: raw.confidence_weight,
            dimensions,
            overall_gates,
            review,
        })
    }

    /// The highest score a band ceiling allows: just under the next band's edge.
    pub fn ceiling_score(&self, max_band: u8) -> f64 {
        match max_band {
            0 | 1 => self.band_edges[0] - 0.1,
            2 => self.band_edges[1] - 0.1,
            3 => self.band_edges[2] - 0.1,
            _ => 100.0,
        }
    }
}

fn gate(
    raw: RawGate,
    is_known: &dyn Fn(&str) -> bool,
    err: &dyn Fn(Option<Range<usize>>, String) -> RubricError,
) -> Result<Gate, RubricError> {
    let span = raw.check.span();
    let check = raw.check.into_inner();
    if !is_known(&check) {
        return Err(err(
            Some(span),
            format!("unknown check `{check}` in a gate (see `assay checks`)"),
        ));
    }
    let max_band = *raw.max_band.get_ref();
    if !(1..=3).contains(&max_band) {
        return Err(err(
            Some(raw.max_band.span()),
            "a gate's max_band must be 1, 2 or 3".into(),
        ));
    }
    if raw.why.trim().is_empty() {
        return Err(err(Some(span), "a gate needs a `why`".into()));
    }
    Ok(Gate {
        check,
        max_band,
        why: raw.why,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// A rubric problem, with the file and line to fix.
#[derive(Debug, thiserror::Error)]
pub struct RubricError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for RubricError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRubric {
    version: u32,
    exercise: String,
    bands: RawBands,
    confidence_weight: ConfidenceWeight,
    dimension: Vec<RawDimension>,
    #[serde(default)]
    overall_gate: Vec<RawGate>,
    #[serde(default)]
    review: Option<Spanned<ReviewSettings>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    check: Spanned<String>,
    max_band: Spanned<u8>,
    why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBands {
    edges: Spanned<Vec<f64>>,
    labels: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimension {
    id: Spanned<String>,
    name: String,
    weight: Spanned<f64>,
    descriptors: Spanned<Vec<String>>,
    #[serde(default)]
    criterion: Vec<RawCriterion>,
    #[serde(default)]
    gate: Vec<RawGate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCriterion {
    check: Spanned<String>,
    points: Spanned<f64>,
    params: Option<toml::Table>,
    decided_by_trap: Option<String>,
    refuted_by_tests: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
version = 1
exercise = "x"
[bands]
edges = [40.0, 60.0, 80.0]
labels = ["below", "approaching", "meets", "exceeds"]
[confidence_weight]
executed = 1.0
static = 1.0
heuristic = 0.5
"#;

    fn with_dims(extra: &str) -> String {
        let mut s = GOOD.to_string();
        for d in DIMENSIONS {
            s.push_str(&format!(
                "[[dimension]]\nid = \"{d}\"\nname = \"{d}\"\nweight = 1.0\ndescriptors = [\"a\",\"b\",\"c\",\"d\"]\n[[dimension.criterion]]\ncheck = \"c.{d}\"\npoints = 5\n"
            ));
        }
        s.push_str(extra);
        s
    }

    #[test]
    fn loads_and_bands() {
        let r = Rubric::parse(Path::new("r.toml"), &with_dims(""), &|_| true).unwrap();
        assert_eq!(r.dimensions.len(), 5);
        assert_eq!(r.band(10.0), 1);
        assert_eq!(r.band(40.0), 2);
        assert_eq!(r.band(79.9), 3);
        assert_eq!(r.band(80.0), 4);
    }

    #[test]
    fn names_the_line_of_an_unknown_check() {
        let text = with_dims("");
        let err =
            Rubric::parse(Path::new("r.toml"), &text, &|id| id != "c.code_quality").unwrap_err();
        let expected_line = text
            .lines()
            .position(|l| l.contains("\"c.code_quality\""))
            .unwrap()
            + 1;
        assert_eq!(err.line, Some(expected_line));
        assert!(
            err.to_string().starts_with(&format!(
                "r.toml:{expected_line}: unknown check `c.code_quality`"
            )),
            "{err}"
        );
    }

    #[test]
    fn review_settings_load_and_are_checked() {
        let r = Rubric::parse(Path::new("r.toml"), &with_dims(""), &|_| true).unwrap();
        assert_eq!(r.review, None);
        let section = "[review]\nwindow = 4\nmin_words = 2\nmax_issues_per_statement = 3\nproblem_words = [\"bug*\"]\n";
        let r = Rubric::parse(Path::new("r.toml"), &with_dims(section), &|_| true).unwrap();
        assert_eq!(r.review.as_ref().map(|s| s.window), Some(4));
        let bad = with_dims(&section.replace("window = 4", "window = 400"));
        let err = Rubric::parse(Path::new("r.toml"), &bad, &|_| true).unwrap_err();
        assert!(err.to_string().contains("review.window"), "{err}");
        assert!(err.line.is_some());
        let missing = with_dims(&section.replace("min_words = 2\n", ""));
        let err = Rubric::parse(Path::new("r.toml"), &missing, &|_| true).unwrap_err();
        assert!(err.to_string().contains("min_words"), "{err}");
    }

    #[test]
    fn names_the_line_of_a_syntax_error() {
        let text = with_dims("").replace(
            "weight = 1.0\ndescriptors",
            "weight = \"heavy\"\ndescriptors",
        );
        let err = Rubric::parse(Path::new("r.toml"), &text, &|_| true).unwrap_err();
        let expected_line = text.lines().position(|l| l.contains("\"heavy\"")).unwrap() + 1;
        assert_eq!(err.line, Some(expected_line), "{err}");
    }

    #[test]
    fn refuses_falling_edges_and_missing_dimensions() {
        let text = with_dims("").replace("[40.0, 60.0, 80.0]", "[60.0, 40.0, 80.0]");
        assert!(Rubric::parse(Path::new("r.toml"), &text, &|_| true)
            .unwrap_err()
            .message
            .contains("rise"));
        let one_dim = GOOD.to_string() + "[[dimension]]\nid = \"data_quality\"\nname = \"DQ\"\nweight = 1.0\ndescriptors = [\"a\",\"b\",\"c\",\"d\"]\n[[dimension.criterion]]\ncheck = \"x.y\"\npoints = 1\n";
        assert!(Rubric::parse(Path::new("r.toml"), &one_dim, &|_| true)
            .unwrap_err()
            .message
            .contains("lacks the dimension"));
    }
}
