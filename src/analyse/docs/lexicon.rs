//! Topic recognition by concept: a lexicon is a list of patterns the rubric
//! maintains per topic (synonyms and multi-word phrases). A pattern is one or more
//! words matched as whole, consecutive words of the text; a word ending in `*`
//! matches any word it begins (`monitor*` matches "monitored", "monitoring").
//! Words keep `_` and inner `-`, so `on_schema_change` and `on-call` are one word
//! each; "on call" is a different pattern.

/// Words kept per text, so a pasted log cannot make matching quadratic in bulk.
const MAX_WORDS: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lexicon {
    patterns: Vec<Vec<String>>,
}

impl Lexicon {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Lexicon {
        Lexicon {
            patterns: patterns
                .iter()
                .map(|p| split(p.as_ref(), true))
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns (as written, lower case) that occur in `text`.
    pub fn matches(&self, text: &str) -> Vec<String> {
        let text_words = words(text);
        self.patterns
            .iter()
            .filter(|p| occurs(p, &text_words))
            .map(|p| p.join(" "))
            .collect()
    }

    pub fn hits(&self, text: &str) -> bool {
        let text_words = words(text);
        self.patterns.iter().any(|p| occurs(p, &text_words))
    }
}

/// Lower-case words of `text`: runs of alphanumerics, `_`, and `-` between them.
pub fn words(text: &str) -> Vec<String> {
    split(text, false)
}

/// Words of a text, or of a pattern (where `*` marks a prefix).
fn split(text: &str, pattern: bool) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || (pattern && c == '*')))
        .map(|w| w.trim_matches(|c| c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(str::to_string)
        .collect()
}

fn occurs(pattern: &[String], text: &[String]) -> bool {
    if pattern.len() > text.len() {
        return false;
    }
    text.windows(pattern.len())
        .any(|window| window.iter().zip(pattern).all(|(w, p)| word_matches(p, w)))
}

fn word_matches(pattern: &str, word: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => word.starts_with(prefix),
        None => word == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_prefixes_and_phrases() {
        let lex = Lexicon::new(&["monitor*", "on-call", "row count*", "page"]);
        assert!(lex.hits("We keep it monitored"));
        assert!(lex.hits("the On-Call engineer"));
        assert!(lex.hits("Row counts per day"));
        assert!(!lex.hits("rows counted"));
        assert!(
            !lex.hits("pages of docs"),
            "`page` is one word, not a prefix"
        );
        assert_eq!(lex.matches("page the on-call"), ["on-call", "page"]);
        assert!(!Lexicon::new(&["t1"]).hits("fct_1 st1"));
        assert!(Lexicon::new(&["t1"]).hits("(T1) duplicates"));
        assert!(
            Lexicon::new(&["duplicat*"]).hits("- **Duplicate payments**:"),
            "emphasis is no part of a word"
        );
    }
}
