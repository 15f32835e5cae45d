//! Text from a submission or a container, made inert for every output.
//!
//! A file name, a model name, a commit message or a line of dbt's log is
//! written by the candidate. Shown raw, an ANSI or OSC sequence repaints the
//! interviewer's terminal, sets its title or writes to its clipboard (OSC 52),
//! and a bidi override makes a name read differently from what it is (in the
//! terminal and in HTML alike, where entity escaping leaves it untouched).
//! Here every such character becomes a visible escape (`\x1b`, `\u{202e}`),
//! so the reader sees that it was there and nothing acts on it; over-long
//! names are cut. dbt's own colour codes are removed outright first
//! ([`strip_ansi`]): they carry nothing a reader needs.

use serde_json::Value;

/// Longest file or model name a report shows, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Characters that change how the text around them is shown without being
/// seen: bidi embeddings, overrides and isolates, marks, zero-width
/// characters, line and paragraph separators, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}')
}

fn escape_char(c: char, out: &mut String) {
    let n = c as u32;
    if n <= 0xff {
        out.push_str(&format!("\\x{n:02x}"));
    } else {
        out.push_str(&format!("\\u{{{n:x}}}"));
    }
}

fn inert(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let keep = keep_newlines && (c == '\n' || c == '\t');
        if !keep && (c.is_control() || is_invisible_format(c)) {
            escape_char(c, &mut out);
        } else {
            out.push(c);
        }
    }
    out
}

/// Multi-line text (a note, a snippet of code, a log line): newlines and tabs
/// stay, every other control or invisible formatting character becomes a
/// visible escape.
pub fn inert_text(s: &str) -> String {
    inert(s, true)
}

/// One line (a name, a path, a terminal line): newlines are escaped as well.
pub fn inert_line(s: &str) -> String {
    inert(s, false)
}

/// A name or path: one line, at most `max` characters shown, the cut marked.
pub fn inert_name(s: &str, max: usize) -> String {
    let line = inert_line(s);
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Removes ANSI escape sequences (CSI such as colours, OSC such as a window
/// title or a clipboard write, and two-character escapes). What is left may
/// still hold control characters: pass it through [`inert_text`] to show it.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    // Parameters and intermediates, then one final byte.
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') | Some('P') | Some('_') | Some('^') | Some('X') => {
                    chars.next();
                    // A string ended by BEL or ST (ESC \).
                    while let Some(c) = chars.next() {
                        if c == '\u{07}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            // The single-character CSI of the C1 set.
            '\u{9b}' => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Keys of the report whose values are names or paths: one line, cut when
/// long.
const NAME_KEYS: &[&str] = &["file", "path", "name", "dags", "docs", "root", "model"];

/// Makes every string of a report inert, wherever it came from: the grader's
/// own text holds no control characters, so only the submission's and the
/// containers' text changes. Names and paths (by key) become one line and are
/// cut at [`MAX_NAME_CHARS`].
pub fn report(report: &mut crate::report::Report) {
    let Ok(mut value) = serde_json::to_value(&*report) else {
        return;
    };
    walk(&mut value, false);
    match serde_json::from_value(value) {
        Ok(clean) => *report = clean,
        Err(e) => tracing::warn!("the report could not be made inert: {e}"),
    }
}

fn walk(v: &mut Value, name: bool) {
    match v {
        Value::String(s) => {
            let clean = if name {
                inert_name(s, MAX_NAME_CHARS)
            } else {
                inert_text(s)
            };
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, name);
            }
        }
        Value::Object(map) => {
            let dirty: Vec<String> = map
                .keys()
                .filter(|k| inert_line(k) != **k)
                .cloned()
                .collect();
            for k in dirty {
                if let Some(val) = map.remove(&k) {
                    map.insert(inert_name(&k, MAX_NAME_CHARS), val);
                }
            }
            for (k, val) in map.iter_mut() {
                walk(val, NAME_KEYS.contains(&k.as_str()));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences_and_bidi_controls_visibly() {
        let name = "models/\u{1b}]0;pwned\u{07}evil\u{202e}lqs.sql";
        let shown = inert_line(name);
        assert_eq!(shown, "models/\\x1b]0;pwned\\x07evil\\u{202e}lqs.sql");
        assert!(!shown
            .chars()
            .any(|c| c.is_control() || is_invisible_format(c)));
        // OSC 52 (a clipboard write) and a carriage return that would
        // overwrite the line.
        assert_eq!(
            inert_line("a\u{1b}]52;c;ZXZpbA==\u{1b}\\\rb"),
            "a\\x1b]52;c;ZXZpbA==\\x1b\\\\x0db"
        );
        assert_eq!(inert_line("plain — text ✓"), "plain — text ✓");
    }

    #[test]
    fn text_keeps_its_lines_and_names_are_cut() {
        assert_eq!(
            inert_text("select 1\n\tfrom x\u{9b}"),
            "select 1\n\tfrom x\\x9b"
        );
        assert_eq!(inert_line("a\nb"), "a\\x0ab");
        let long = "m".repeat(500);
        let cut = inert_name(&long, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
        assert_eq!(inert_name("short", 20), "short");
    }

    #[test]
    fn ansi_colours_are_removed_and_other_controls_stay_visible() {
        let log = "\u{1b}[0m12:00:01  \u{1b}[31mFailure in test x\u{1b}[0m\u{1b}]0;title\u{07}";
        assert_eq!(strip_ansi(log), "12:00:01  Failure in test x");
        assert_eq!(strip_ansi("keep \u{202e} this"), "keep \u{202e} this");
        assert_eq!(inert_text(&strip_ansi("x\u{1b}")), "x");
        assert_eq!(strip_ansi("\u{9b}31mred"), "red");
    }

    #[test]
    fn a_report_walk_cleans_names_notes_and_keys() {
        let mut v = serde_json::json!({
            "file": format!("a\u{1b}[2J{}", "x".repeat(400)),
            "note": "line one\nline \u{202e}two",
            "measured": {"k\u{1b}": "v\u{7}"},
        });
        walk(&mut v, false);
        let file = v["file"].as_str().unwrap();
        assert!(file.starts_with("a\\x1b[2J"));
        assert_eq!(file.chars().count(), MAX_NAME_CHARS);
        assert_eq!(v["note"], "line one\nline \\u{202e}two");
        assert_eq!(v["measured"]["k\\x1b"], "v\\x07");
    }
}
