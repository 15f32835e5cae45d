//! YAML from submissions is hostile: anchors and aliases can expand a few bytes
//! into gigabytes. Every YAML read goes through here, with a size cap and
//! serde-saphyr's event and alias budgets tightened well below its defaults.

use serde::de::DeserializeOwned;

/// Largest YAML document assay reads, in bytes. Real dbt YAML files are kilobytes.
pub const MAX_YAML_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("YAML file is {0} bytes, over the {MAX_YAML_BYTES}-byte cap")]
    TooLarge(usize),
    #[error("{0}")]
    Invalid(String),
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000;
    budget.max_aliases = 2_000;
    budget.max_anchors = 2_000;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_recorded_anchor_bytes = 4 * 1024 * 1024;
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 100_000;
    alias_limits.max_replay_stack_depth = 16;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits = alias_limits;
    // dbt reads YAML with PyYAML, where a repeated key silently keeps the last value.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    options
}

/// Parses one YAML document under the budgets above.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(YamlError::TooLarge(text.len()));
    }
    serde_saphyr::from_str_with_options(text, options())
        .map_err(|e| YamlError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_dbt_yaml() {
        let v: serde_json::Value =
            parse("name: shop\nprofile: shop\nmodel-paths: [models]\n").unwrap();
        assert_eq!(v["profile"], "shop");
        assert_eq!(v["model-paths"][0], "models");
    }

    #[test]
    fn refuses_a_billion_laughs() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse::<serde_json::Value>(&doc).unwrap_err();
        assert!(matches!(err, YamlError::Invalid(_)), "{err}");
    }

    #[test]
    fn refuses_oversized_input() {
        let doc = "k: v\n".repeat(MAX_YAML_BYTES / 4);
        assert!(matches!(
            parse::<serde_json::Value>(&doc),
            Err(YamlError::TooLarge(_))
        ));
    }
}
