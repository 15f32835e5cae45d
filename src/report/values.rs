//! Measured and expected figures as a reader wants them: money to the cent
//! with thousands separators, counts as whole numbers, a series as how many
//! keys it holds and how many disagree, with a few examples. report.json keeps
//! the raw values; these strings are what the HTML, Markdown and terminal show.

use serde_json::Value;

/// Examples of disagreeing keys shown per series.
const MAX_EXAMPLES: usize = 5;

/// How a hidden check compares, as named in the pack (`compare = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Money,
    Count,
    Series { money: bool },
    Other,
}

fn kind(compare: &str) -> Kind {
    match compare {
        "money" => Kind::Money,
        "count" => Kind::Count,
        "money_series" => Kind::Series { money: true },
        "count_series" | "label_series" | "instant_series" | "key_set" => {
            Kind::Series { money: false }
        }
        _ => Kind::Other,
    }
}

/// A figure in the reader's form; `None` when there is nothing to show.
pub fn readable(compare: &str, noun: Option<&str>, value: Option<&Value>) -> Option<Figure> {
    let value = value?;
    if value.is_null() {
        return Some(Figure::text("NULL"));
    }
    Some(match kind(compare) {
        Kind::Money => Figure::text(scalar(value, true)),
        Kind::Count => Figure::text(scalar(value, false)),
        Kind::Series { money } => series(value, noun.unwrap_or("keys"), money),
        Kind::Other => Figure::text(scalar(value, false)),
    })
}

/// One cell: a headline and, for a series, up to five example rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figure {
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

impl Figure {
    fn text(s: impl Into<String>) -> Figure {
        Figure {
            text: s.into(),
            examples: Vec::new(),
        }
    }
}

fn series(value: &Value, noun: &str, money: bool) -> Figure {
    let Some(obj) = value.as_object() else {
        return Figure::text(scalar(value, money));
    };
    let keys = obj.get("keys").and_then(Value::as_u64);
    let mut text = match keys {
        Some(k) => format!("{} {noun}", group(k as i128)),
        None => String::new(),
    };
    if let Some(m) = obj.get("mismatched_keys").and_then(Value::as_u64) {
        text.push_str(&format!(", {} mismatched", group(m as i128)));
    }
    if obj.get("truncated").and_then(Value::as_bool) == Some(true) {
        text.push_str(" (the answer was cut at the grader's row limit)");
    }
    if let Some(l) = obj.get("lenient_keys").and_then(Value::as_u64) {
        if l > 0 {
            text.push_str(&format!(
                ", {} within the rounding allowance",
                group(l as i128)
            ));
        }
    }
    if text.is_empty() {
        text = compact(value);
    }
    let examples = obj
        .get("examples")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .take(MAX_EXAMPLES)
                .map(|row| {
                    let key = row.get("key").map(plain).unwrap_or_else(|| "?".into());
                    let m = row
                        .get("measured")
                        .map(|v| scalar(v, money))
                        .unwrap_or_else(|| "absent".into());
                    let e = row
                        .get("expected")
                        .map(|v| scalar(v, money))
                        .unwrap_or_else(|| "absent".into());
                    format!("{key}: {m} (expected {e})")
                })
                .collect()
        })
        .unwrap_or_default();
    Figure { text, examples }
}

/// A single value: numbers with thousands separators (money to the cent),
/// text as it is, anything else as compact JSON.
fn scalar(value: &Value, money: bool) -> String {
    match value {
        Value::Null => "absent".into(),
        Value::Number(n) => number(n.as_f64().unwrap_or(0.0), money),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) if money => number(f, true),
            _ => s.clone(),
        },
        Value::Bool(b) => b.to_string(),
        other => compact(other),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `1166127.3900000004` as `1,166,127.39` (money) and `5004` as `5,004`; a
/// count that is not whole keeps two decimals.
pub fn number(f: f64, money: bool) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if !money && f.fract() == 0.0 && f.abs() < 1e15 {
        return group(f as i128);
    }
    let cents = (f * 100.0).round() as i128;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    format!("{sign}{}.{:02}", group(cents / 100), cents % 100)
}

fn group(n: i128) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_is_rounded_to_the_cent_with_separators() {
        let f = readable("money", None, Some(&json!(1166127.3900000004))).unwrap();
        assert_eq!(f.text, "1,166,127.39");
        let f = readable("money", None, Some(&json!("-1234.5"))).unwrap();
        assert_eq!(f.text, "-1,234.50");
        assert_eq!(number(0.004, true), "0.00");
    }

    #[test]
    fn counts_are_whole_numbers_with_separators() {
        assert_eq!(
            readable("count", None, Some(&json!(5004))).unwrap().text,
            "5,004"
        );
        assert_eq!(number(999.0, false), "999");
        assert_eq!(number(1000.5, false), "1,000.50");
    }

    #[test]
    fn a_series_reads_as_keys_mismatches_and_examples() {
        let measured = json!({
            "keys": 237,
            "mismatched_keys": 3,
            "examples": [
                {"key": "17", "measured": 1234.5, "expected": 1200.0},
                {"key": 18, "measured": null, "expected": "99.999"},
            ],
        });
        let f = readable("money_series", Some("sellers"), Some(&measured)).unwrap();
        assert_eq!(f.text, "237 sellers, 3 mismatched");
        assert_eq!(
            f.examples,
            [
                "17: 1,234.50 (expected 1,200.00)",
                "18: absent (expected 100.00)"
            ]
        );
        let expected = readable("money_series", Some("sellers"), Some(&json!({"keys": 240})));
        assert_eq!(expected.unwrap().text, "240 sellers");
        let cut = readable(
            "count_series",
            None,
            Some(&json!({"keys": 2000000, "truncated": true})),
        );
        assert_eq!(
            cut.unwrap().text,
            "2,000,000 keys (the answer was cut at the grader's row limit)"
        );
    }

    #[test]
    fn nothing_to_show_is_none_and_null_says_so() {
        assert_eq!(readable("money", None, None), None);
        assert_eq!(
            readable("count", None, Some(&Value::Null)).unwrap().text,
            "NULL"
        );
    }
}
