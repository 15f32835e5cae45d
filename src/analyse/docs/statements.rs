//! Statements: the units a reader weighs. A sentence, each `;`-separated clause
//! of it (a concise bullet often carries several decisions), or a table row read
//! with its column headers. Each statement keeps what makes it specific: inline
//! code, figures with the words around them, identifiers, the submission's own
//! artifacts. What counts as a unit or a threshold is the rubric's business; this
//! module only records what is there.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{code_spans, references, word_count, ArtifactKind, ArtifactRef};

/// Statements kept per block: a table row or a bullet is short, a pasted log is not.
const MAX_STATEMENTS_PER_BLOCK: usize = 64;
/// Figures and identifiers kept per statement.
const MAX_ITEMS_PER_STATEMENT: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Statement {
    pub text: String,
    /// Inline code spans of the statement.
    pub code: Vec<String>,
    pub words: usize,
    /// Numbers with the token right before and right after them.
    pub figures: Vec<Figure>,
    /// Identifier-shaped tokens (`snake_case`, `model.column`) and the words of
    /// inline code, lower case: what the code may bear out.
    pub identifiers: Vec<String>,
    /// The submission's own artifacts the statement names.
    pub refs: Vec<ArtifactRef>,
    /// A comma-separated run of terms rather than a sentence: the shape of a
    /// keyword list.
    pub list_like: bool,
}

/// A number as written, with its neighbours (lower case): `before` is a symbol
/// glued to it (`±`, `>`) or the previous word; `after` is a unit glued to it
/// (`%`, `h`, `x`) or the next word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Figure {
    pub number: String,
    pub before: String,
    pub after: String,
}

impl Statement {
    pub fn names(&self, kind: ArtifactKind) -> bool {
        self.refs.iter().any(|r| r.kind == kind)
    }

    pub fn has_query(&self) -> bool {
        self.code.iter().any(|c| super::is_query(c))
    }
}

/// Builds a statement from its text.
pub fn statement(text: &str, artifacts: &BTreeMap<String, ArtifactKind>) -> Statement {
    let text = text.trim().to_string();
    let code = code_spans(&text);
    let refs = references(&text, &code, artifacts);
    Statement {
        words: word_count(&text),
        figures: figures(&text),
        identifiers: identifiers(&text, &code),
        list_like: is_list_of_terms(&text),
        code,
        refs,
        text,
    }
}

/// Sentences of prose, each split further at `;` outside inline code.
pub fn split_prose(text: &str) -> Vec<String> {
    let flat = text.replace('\n', " ");
    let chars: Vec<char> = flat.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    for (i, c) in chars.iter().enumerate() {
        if *c == '`' {
            in_code = !in_code;
        }
        if *c == ';' && !in_code {
            push_clause(&mut out, &mut current);
            continue;
        }
        current.push(*c);
        let ends = !in_code
            && matches!(c, '.' | '!' | '?')
            && chars.get(i + 1).is_none_or(|n| n.is_whitespace())
            // "e.g. x" and "1. x" do not end a sentence.
            && !abbreviation(&current);
        if ends {
            push_clause(&mut out, &mut current);
        }
        if out.len() >= MAX_STATEMENTS_PER_BLOCK {
            return out;
        }
    }
    push_clause(&mut out, &mut current);
    out
}

/// The text ends with an abbreviation ("e.g.", "i.e.") or a list number ("1.").
fn abbreviation(text: &str) -> bool {
    let last = text.trim_end().rsplit(' ').next().unwrap_or("");
    let core = last.trim_end_matches(['.', '!', '?']);
    (core.contains('.') && core.len() <= 4)
        || (!core.is_empty() && core.len() <= 2 && core.chars().all(|c| c.is_ascii_digit()))
}

fn push_clause(out: &mut Vec<String>, current: &mut String) {
    let clause = std::mem::take(current);
    let clause = clause.trim();
    if word_count(clause) > 0 {
        out.push(clause.to_string());
    }
}

/// A comma-separated run of nouns rather than a statement.
pub fn is_list_of_terms(text: &str) -> bool {
    let words = word_count(text);
    let commas = text.matches(',').count();
    words == 0 || commas * 3 > words
}

pub fn figures(text: &str) -> Vec<Figure> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() && out.len() < MAX_ITEMS_PER_STATEMENT {
        let starts = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if !starts {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], '.' | ',' | ':')
                    && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())))
        {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        // A glued suffix (`50%`, `6h`, `100x`) is the unit; else the next word.
        let glued: String = chars[i..]
            .iter()
            .take_while(|c| c.is_alphabetic() || **c == '%')
            .collect();
        let after = if !glued.is_empty() {
            glued
        } else {
            next_word(&chars[i..])
        };
        if chars.get(i).is_some_and(|c| *c == '_') {
            // Part of an identifier such as `2024_orders`.
            continue;
        }
        let glued_before = start.checked_sub(1).map(|j| chars[j]).filter(|c| {
            matches!(
                c,
                '±' | '>' | '<' | '≥' | '≤' | '~' | '+' | '-' | '$' | '€' | '£'
            )
        });
        let before = match glued_before {
            Some(c) => c.to_string(),
            None => previous_word(&chars[..start]),
        };
        out.push(Figure {
            number,
            before: before.to_lowercase(),
            after: after.to_lowercase(),
        });
    }
    out
}

fn next_word(rest: &[char]) -> String {
    let trimmed: Vec<char> = rest
        .iter()
        .copied()
        .skip_while(|c| c.is_whitespace())
        .collect();
    if trimmed.first().is_some_and(|c| *c == '%') {
        return "%".into();
    }
    trimmed
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_' || **c == '-')
        .collect()
}

fn previous_word(before: &[char]) -> String {
    let end = before
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map(|p| p + 1)
        .unwrap_or(0);
    let head = &before[..end];
    if let Some(c) = head.last() {
        if matches!(c, '±' | '>' | '<' | '≥' | '≤' | '~' | '=') {
            return c.to_string();
        }
    }
    let start = head
        .iter()
        .rposition(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
        .map(|p| p + 1)
        .unwrap_or(0);
    head[start..].iter().collect()
}

/// Identifier-shaped tokens: containing `_` or a `.` between name parts, plus
/// every word of inline code.
pub fn identifiers(text: &str, code: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |t: &str| {
        let t = t.trim_matches(|c: char| c == '.' || c == '-');
        if t.is_empty()
            || !t
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            || out.len() >= MAX_ITEMS_PER_STATEMENT
        {
            return;
        }
        let t = t.to_ascii_lowercase();
        if !out.contains(&t) {
            out.push(t);
        }
    };
    let token_chars = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    for token in text.split(|c: char| !token_chars(c)) {
        let dotted = token
            .trim_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>();
        let dotted_name = dotted.len() > 1 && dotted.iter().all(|p| p.len() > 1);
        if token.contains('_') || dotted_name {
            add(token);
        }
    }
    for span in code {
        for token in span.split(|c: char| !token_chars(c)) {
            add(token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_split_at_semicolons_outside_code() {
        let parts = split_prose(
            "`stg_payments` keeps one row; `unique` test on `a;b`. Marts are tables. e.g. this one.",
        );
        assert_eq!(
            parts,
            [
                "`stg_payments` keeps one row",
                "`unique` test on `a;b`.",
                "Marts are tables.",
                "e.g. this one."
            ]
        );
    }

    #[test]
    fn figures_keep_their_neighbours() {
        let f = figures("alert on ±50 % or when freshness > 6h; 3 retries, 100x, T1, stg_v2");
        let got: Vec<(&str, &str, &str)> = f
            .iter()
            .map(|f| (f.before.as_str(), f.number.as_str(), f.after.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("±", "50", "%"),
                (">", "6", "h"),
                ("", "3", "retries"),
                ("", "100", "x")
            ],
            "T1 and stg_v2 are no figures"
        );
    }

    #[test]
    fn identifiers_and_lists() {
        let ids = identifiers(
            "dim_users.country_code is coalesced, e.g. here; see `on_failure_callback` and `dbt test`",
            &["on_failure_callback".into(), "dbt test".into()],
        );
        assert_eq!(
            ids,
            [
                "dim_users.country_code",
                "on_failure_callback",
                "dbt",
                "test"
            ]
        );
        assert!(is_list_of_terms(
            "Scalability (100x): partitioning, clustering, Spark"
        ));
        assert!(!is_list_of_terms(
            "Freshness of payments is checked every hour, and a lag over 6 h pages the on-call."
        ));
    }
}
