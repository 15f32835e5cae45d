//! "Did you mean": the known names closest to a mistyped one, so a typo in a
//! check id or an exercise name costs one more command, not a search.

/// Names suggested at most.
const MAX: usize = 3;

/// The candidates within a few edits of `wanted`, closest first (ties by
/// name). A dotted id (`dbt.payments_dedup`) is also matched without its
/// family, so `payments_dedup` finds it.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted = wanted.trim().to_ascii_lowercase();
    // A third of the name may be wrong, and at least two edits, so short
    // names still get a suggestion while unrelated ones get none.
    let allowed = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let lower = c.to_ascii_lowercase();
            let whole = strsim::levenshtein(&wanted, &lower);
            let bare = lower
                .split_once('.')
                .map(|(_, rest)| strsim::levenshtein(&wanted, rest))
                .unwrap_or(usize::MAX);
            let d = whole.min(bare);
            (d <= allowed).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(MAX).map(|(_, c)| c).collect()
}

/// ` Did you mean `a` or `b`?`, or nothing when no name is close.
pub fn did_you_mean(close: &[&str]) -> String {
    let quoted: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => format!(" Did you mean {one}?"),
        [rest @ .., last] => format!(" Did you mean {} or {last}?", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &[
        "dbt.payments_dedup",
        "dbt.payments_refunds",
        "dbt.contract_models",
        "dag.retries",
    ];

    #[test]
    fn a_typo_finds_the_id_and_nothing_unrelated() {
        assert_eq!(
            closest("dbt.payment_dedup", IDS.iter().copied()),
            ["dbt.payments_dedup"]
        );
        assert_eq!(
            closest("payments_dedup", IDS.iter().copied()),
            ["dbt.payments_dedup"]
        );
        assert_eq!(
            closest("DBT.Contract_Model", IDS.iter().copied()),
            ["dbt.contract_models"]
        );
        assert!(closest("airflow.sensors", IDS.iter().copied()).is_empty());
        assert!(closest("", IDS.iter().copied()).is_empty());
    }

    #[test]
    fn closer_names_come_first() {
        let ids = ["marketplace-elt", "marketplace-etl-v2", "marketplace-el"];
        assert_eq!(
            closest("marketplace-etl", ids),
            ["marketplace-el", "marketplace-elt", "marketplace-etl-v2"]
        );
    }

    #[test]
    fn the_sentence_joins_one_or_more_names() {
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&["a"]), " Did you mean `a`?");
        assert_eq!(
            did_you_mean(&["a", "b", "c"]),
            " Did you mean `a`, `b` or `c`?"
        );
    }
}
