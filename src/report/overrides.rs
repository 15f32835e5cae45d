//! Interviewer overrides: a band per dimension with a reason and a name. They are
//! recorded beside the automatic band (which never changes) and every format
//! shows both.
//!
//! ```toml
//! [[override]]
//! dimension = "system_design"   # id or name
//! band = 3
//! reason = "Explained partitioning and backfills well in the debrief"
//! who = "A. Interviewer"
//! ```

use std::path::Path;

use serde::Deserialize;

use super::{Override, Report};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideInput {
    pub dimension: String,
    pub band: i64,
    pub reason: String,
    pub who: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridesFile {
    #[serde(rename = "override", default)]
    overrides: Vec<OverrideInput>,
}

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("cannot read the overrides file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the overrides file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
    #[error("override {index}: {message}")]
    Entry { index: usize, message: String },
}

pub fn load(path: &Path) -> Result<Vec<OverrideInput>, OverrideError> {
    let text = std::fs::read_to_string(path).map_err(|source| OverrideError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|message| OverrideError::Invalid {
        path: path.display().to_string(),
        message,
    })
}

pub fn parse(text: &str) -> Result<Vec<OverrideInput>, String> {
    toml::from_str::<OverridesFile>(text)
        .map(|f| f.overrides)
        .map_err(|e| e.to_string())
}

/// Records the overrides in the report. `band_labels` are the rubric's four
/// labels. The file is the whole truth: earlier overrides are replaced.
pub fn apply(
    report: &mut Report,
    inputs: &[OverrideInput],
    band_labels: &[String],
) -> Result<(), OverrideError> {
    let mut out: Vec<Override> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let index = i + 1;
        let entry = |message: String| OverrideError::Entry { index, message };
        let wanted = input.dimension.trim();
        let dim = report
            .dimensions
            .iter()
            .find(|d| d.id == wanted || d.name.eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                entry(format!(
                    "no dimension `{wanted}`; one of {}",
                    report
                        .dimensions
                        .iter()
                        .map(|d| d.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if !(1..=4).contains(&input.band) {
            return Err(entry(format!("band {} is not 1 to 4", input.band)));
        }
        if input.reason.trim().is_empty() {
            return Err(entry(
                "a reason is required: the override is shown beside the automatic band".into(),
            ));
        }
        if input.who.trim().is_empty() {
            return Err(entry("`who` is required".into()));
        }
        if out.iter().any(|o| o.dimension == dim.id) {
            return Err(entry(format!("{} is overridden twice", dim.id)));
        }
        let band = input.band as u8;
        out.push(Override {
            dimension: dim.id.clone(),
            band,
            band_label: band_labels
                .get((band - 1) as usize)
                .cloned()
                .unwrap_or_else(|| format!("band {band}")),
            reason: input.reason.trim().to_string(),
            who: input.who.trim().to_string(),
            automatic_band: dim.band,
            automatic_score: dim.score,
        });
    }
    report.overrides = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_unknown_fields() {
        let ok = parse("[[override]]\ndimension = \"x\"\nband = 3\nreason = \"r\"\nwho = \"w\"\n")
            .unwrap();
        assert_eq!(ok.len(), 1);
        assert!(parse(
            "[[override]]\ndimension = \"x\"\nband = 3\nreason = \"r\"\nwho = \"w\"\nscore = 90\n"
        )
        .is_err());
        assert!(parse("[[override]]\ndimension = \"x\"\nband = 3\n").is_err());
    }
}
