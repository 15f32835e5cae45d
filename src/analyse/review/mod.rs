//! Code-review analyser: the exercise plants issues in files the candidate
//! reviews (`review.toml`: an id, the starter's lines, an anchor, a severity
//! and the words that name the problem); the candidate writes comments naming
//! them. This reads, from the code alone:
//!
//! - the candidate's review comments in each reviewed file: `#` comments (a
//!   small lexer knows strings, so a `#` inside one is no comment) and
//!   docstring lines, each kept only when the starter's version of the file
//!   does not already hold it (compared lower case, whitespace collapsed) and
//!   it is not a starter line commented out; consecutive comment lines form
//!   one comment, read statement by statement with the docs analyser's
//!   statement reader;
//! - where each planted issue is now: the line of its anchor if the code is
//!   still there, else the starter's lines mapped through a line alignment of
//!   the starter and the candidate's file; whether the anchor is gone is a
//!   hint that the candidate changed the code (execution proves a fix, never
//!   this);
//! - which comments name which issue. A statement of a comment names an issue
//!   when it lies within `window` lines of the issue's lines, uses one of the
//!   issue's terms, has at least `min_words` words, is no comma-separated
//!   list of terms, and names the topics of at most `max_issues_per_statement`
//!   issues of its file (more is a run of keywords). A term that two near
//!   issues share counts for the nearer one only, so one word never finds two
//!   problems;
//! - false alarms: a comment none of whose statements names any planted
//!   issue's topic (near or far) but one of which raises a problem
//!   (`problem_words`, same word and list rules). A summary that names an
//!   issue far from its code is neither a finding nor a false alarm.
//!
//! The window and the word rules are the rubric's `[review]` section.

mod align;
mod lexer;
mod pack;

pub use pack::{
    IssueDef, Review, ReviewPack, ReviewPackError, ReviewSettings, Severity, FILE_NAME,
};

use std::collections::BTreeSet;

use serde::Serialize;

use crate::analyse::docs::{split_prose, statement, Lexicon, Statement};
use crate::checks::LineSpan;
use crate::inventory::Inventory;

/// Reviewed files larger than this are not read.
const MAX_FILE_BYTES: u64 = 512 * 1024;
/// Comments kept per reviewed file.
const MAX_COMMENTS_PER_FILE: usize = 1000;
/// Characters kept of one comment.
const MAX_COMMENT_CHARS: usize = 2000;
/// Comments quoted per issue.
const MAX_MATCHES_PER_ISSUE: usize = 12;
/// Lines of code quoted where an issue is.
const MAX_CODE_LINES: usize = 6;
/// Characters quoted of a statement.
const MAX_QUOTE: usize = 300;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReviewFacts {
    /// Lines either side of an issue within which a comment is near it.
    pub window: u32,
    pub files: Vec<ReviewedFile>,
    /// The candidate's own comments in the reviewed files, in file and line order.
    pub comments: Vec<ReviewComment>,
    /// Every planted issue, in the pack's order.
    pub issues: Vec<IssueFacts>,
    /// Comments that raise a problem none of the planted issues is about.
    pub false_alarms: Vec<CommentRef>,
    /// Critical issues no nearby comment names.
    pub missed_critical: Vec<String>,
    /// Why the review could not be read (the analyser failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewedFile {
    pub path: String,
    /// The candidate's repository holds the file.
    pub present: bool,
    /// It differs from the starter's.
    pub changed: bool,
    /// Why it was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// More comments than were kept.
    pub comments_capped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentKind {
    /// `#` comment lines.
    Comment,
    /// Lines of a docstring or of a string standing alone as a statement.
    Docstring,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewComment {
    pub file: String,
    /// 1-based, inclusive.
    pub line: u32,
    pub end_line: u32,
    pub kind: CommentKind,
    /// The comment's lines without `#`, joined by `\n`.
    pub text: String,
    pub statements: Vec<ReviewStatement>,
    /// Issues a statement of this comment names near their code.
    pub counts_for: Vec<String>,
    /// Issues whose topic a statement names, near or far.
    pub names_topic_of: Vec<String>,
    pub false_alarm: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewStatement {
    /// The line the statement starts on.
    pub line: u32,
    pub statement: Statement,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueFacts {
    pub id: String,
    pub file: String,
    pub severity: Severity,
    pub title: String,
    pub fix: String,
    pub verified_by: Vec<String>,
    /// The issue's lines in the starter.
    pub starter_lines: LineSpan,
    /// Its lines in the candidate's file; `None` when the file is not there.
    pub located_at: Option<LineSpan>,
    /// The anchor's code is still in the candidate's file (outside comments).
    pub anchor_present: bool,
    /// The candidate's code at `located_at`, a few lines.
    pub code: String,
    /// Statements of comments that name the issue near its code.
    pub matched_comments: Vec<CommentRef>,
}

/// A statement of a comment: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentRef {
    pub file: String,
    pub line: u32,
    pub text: String,
}

impl ReviewFacts {
    pub fn found(&self) -> impl Iterator<Item = &IssueFacts> {
        self.issues
            .iter()
            .filter(|i| !i.matched_comments.is_empty())
    }

    /// Comments that count for at least one issue.
    pub fn findings(&self) -> usize {
        self.comments
            .iter()
            .filter(|c| !c.counts_for.is_empty())
            .count()
    }

    /// A fact set for an analyser that failed.
    pub fn failed(reason: impl Into<String>) -> ReviewFacts {
        ReviewFacts {
            error: Some(reason.into()),
            ..ReviewFacts::default()
        }
    }
}

/// Reads the review: comments, where each issue is, which comments name it.
/// `starter` is the pack's starter repository.
pub fn analyse(inventory: &Inventory, starter: Option<&Inventory>, review: &Review) -> ReviewFacts {
    let settings = &review.settings;
    let mut facts = ReviewFacts {
        window: settings.window,
        ..ReviewFacts::default()
    };
    for path in review.pack.files() {
        let defs: Vec<&IssueDef> = review
            .pack
            .issues
            .iter()
            .filter(|i| i.file == path)
            .collect();
        let starter_text = starter.and_then(|s| s.read_text_capped(path, MAX_FILE_BYTES).ok());
        let mut file = ReviewedFile {
            path: path.to_string(),
            present: inventory.file(path).is_some(),
            changed: false,
            skipped: None,
            comments_capped: false,
        };
        let candidate_text = if file.present {
            match inventory.read_text_capped(path, MAX_FILE_BYTES) {
                Ok(t) => Some(t),
                Err(e) => {
                    file.skipped = Some(e.to_string());
                    None
                }
            }
        } else {
            None
        };
        let Some(text) = candidate_text else {
            for def in defs {
                facts.issues.push(unlocated(def));
            }
            facts.files.push(file);
            continue;
        };
        file.changed = starter_text
            .as_deref()
            .is_none_or(|s| s.replace("\r\n", "\n") != text.replace("\r\n", "\n"));
        let lexed = lexer::lex(&text);
        let starter_lexed = starter_text.as_deref().map(|s| (s, lexer::lex(s)));
        let (comments, capped) = new_comments(path, &lexed, starter_lexed.as_ref());
        file.comments_capped = capped;
        facts.comments.extend(comments);
        let code = lexed.code_only(&text);
        // Aligned on code alone: a comment added beside a line keeps it matched.
        let alignment = starter_lexed
            .as_ref()
            .map(|(s, l)| align::align(&l.code_only(s), &code));
        let lines: Vec<&str> = text.lines().collect();
        for def in defs {
            facts.issues.push(locate(
                def,
                starter_text.as_deref(),
                &code,
                &lines,
                alignment.as_ref(),
            ));
        }
        facts.files.push(file);
    }
    match_comments(&mut facts, review);
    facts
}

fn unlocated(def: &IssueDef) -> IssueFacts {
    IssueFacts {
        id: def.id.clone(),
        file: def.file.clone(),
        severity: def.severity,
        title: def.title.clone(),
        fix: def.fix.clone(),
        verified_by: def.verified_by.clone(),
        starter_lines: LineSpan {
            start: def.lines[0],
            end: def.lines[1],
        },
        located_at: None,
        anchor_present: false,
        code: String::new(),
        matched_comments: Vec::new(),
    }
}

/// Where the issue is in the candidate's file.
fn locate(
    def: &IssueDef,
    starter: Option<&str>,
    code: &str,
    lines: &[&str],
    alignment: Option<&align::Alignment>,
) -> IssueFacts {
    let [start, end] = def.lines;
    let anchor = def.anchor.trim();
    let last = (lines.len() as u32).max(1);
    // The anchor's line in the starter (validated to lie in the range).
    let starter_anchor = starter
        .map(|s| lexer::find_all(s, anchor))
        .and_then(|found| found.into_iter().find(|l| (start..=end).contains(l)))
        .unwrap_or(start);
    let aligned = match alignment {
        Some(al) => al.map_range(start, end),
        None => (start.min(last), end.min(last)),
    };
    let expected = alignment.map_or(starter_anchor, |al| al.map_line(starter_anchor));
    let anchor_line = lexer::find_all(code, anchor)
        .into_iter()
        .min_by_key(|l| l.abs_diff(expected));
    let (lo, hi) = match anchor_line {
        Some(at) => {
            let shifted = (
                at.saturating_sub(starter_anchor - start).max(1),
                (at + (end - starter_anchor)).min(last),
            );
            if aligned.0 <= shifted.1 && shifted.0 <= aligned.1 {
                (aligned.0.min(shifted.0), aligned.1.max(shifted.1))
            } else {
                shifted
            }
        }
        None => aligned,
    };
    let quoted: Vec<&str> = lines
        .iter()
        .skip(lo as usize - 1)
        .take(((hi - lo + 1) as usize).min(MAX_CODE_LINES))
        .copied()
        .collect();
    IssueFacts {
        located_at: Some(LineSpan { start: lo, end: hi }),
        anchor_present: anchor_line.is_some(),
        code: quoted.join("\n"),
        ..unlocated(def)
    }
}

/// Lower case, without `#` marks, whitespace collapsed.
fn normalise(text: &str) -> String {
    text.trim()
        .trim_start_matches('#')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Tool directives, not review.
fn is_directive(text: &str, line: u32) -> bool {
    let t = text.trim_start_matches('#').trim().to_ascii_lowercase();
    (line == 1 && t.starts_with('!'))
        || [
            "noqa", "type:", "pragma", "fmt:", "pylint:", "-*-", "isort:", "mypy:",
        ]
        .iter()
        .any(|d| t.starts_with(d))
}

/// One line of a comment or docstring the candidate wrote.
struct Line {
    line: u32,
    kind: CommentKind,
    /// Nothing but the comment on its line.
    own_line: bool,
    /// Which statement string it belongs to (0: a `#` comment).
    string: usize,
    text: String,
}

/// The candidate's comments the starter does not have, grouped and read.
fn new_comments(
    path: &str,
    lexed: &lexer::Lexed,
    starter: Option<&(&str, lexer::Lexed)>,
) -> (Vec<ReviewComment>, bool) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut starter_lines: BTreeSet<String> = BTreeSet::new();
    if let Some((s, old)) = starter {
        known.extend(old.comments.iter().map(|c| normalise(&c.text)));
        for string in &old.strings {
            known.extend(string.body.lines().map(normalise));
        }
        starter_lines.extend(s.lines().map(normalise).filter(|l| !l.is_empty()));
    }
    let is_new = |text: &str, line: u32| {
        let n = normalise(text);
        !n.is_empty()
            && !known.contains(&n)
            && !starter_lines.contains(&n)
            && !is_directive(text, line)
    };
    // An empty text is a blank line inside a comment or docstring, which
    // does not end it.
    let mut kept: Vec<Line> = Vec::new();
    for c in &lexed.comments {
        let text = c.text.trim().trim_start_matches('#').trim();
        if text.is_empty() || is_new(&c.text, c.line) {
            kept.push(Line {
                line: c.line,
                kind: CommentKind::Comment,
                own_line: c.own_line,
                string: 0,
                text: text.to_string(),
            });
        }
    }
    for (k, s) in lexed.strings.iter().enumerate() {
        for (offset, l) in s.body.lines().enumerate() {
            let line = s.line + offset as u32;
            let text = l.trim();
            if text.is_empty() || is_new(l, line) {
                kept.push(Line {
                    line,
                    kind: CommentKind::Docstring,
                    own_line: true,
                    string: k + 1,
                    text: text.to_string(),
                });
            }
        }
    }
    kept.sort_by_key(|k| (k.line, k.kind == CommentKind::Docstring));
    // Consecutive own-line comments (or lines of one docstring) are one comment.
    let mut groups: Vec<Vec<&Line>> = Vec::new();
    for k in &kept {
        let joins = groups.last().and_then(|g| g.last()).is_some_and(|p| {
            p.kind == k.kind
                && p.string == k.string
                && p.own_line
                && k.own_line
                && p.line + 1 == k.line
        });
        match groups.last_mut() {
            Some(g) if joins => g.push(k),
            _ => groups.push(vec![k]),
        }
    }
    // Blank lines only join what is around them.
    let groups: Vec<&[&Line]> = groups
        .iter()
        .filter_map(|g| {
            let first = g.iter().position(|k| !k.text.is_empty())?;
            let last = g.iter().rposition(|k| !k.text.is_empty())?;
            Some(&g[first..=last])
        })
        .collect();
    let capped = groups.len() > MAX_COMMENTS_PER_FILE;
    let artifacts = Default::default();
    let out = groups
        .into_iter()
        .take(MAX_COMMENTS_PER_FILE)
        .map(|g| {
            let line = g[0].line;
            let end_line = g[g.len() - 1].line;
            let text = cap(
                &g.iter()
                    .map(|k| k.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                MAX_COMMENT_CHARS,
            );
            let statements = read_statements(&text, line, &artifacts);
            ReviewComment {
                file: path.to_string(),
                line,
                end_line,
                kind: g[0].kind,
                text,
                statements,
                counts_for: Vec::new(),
                names_topic_of: Vec::new(),
                false_alarm: false,
            }
        })
        .collect();
    (out, capped)
}

fn cap(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// The comment's statements, each with the line it starts on.
fn read_statements(
    text: &str,
    first_line: u32,
    artifacts: &std::collections::BTreeMap<String, crate::analyse::docs::ArtifactKind>,
) -> Vec<ReviewStatement> {
    // `split_prose` joins lines with a space: the offsets stay the same.
    let flat = text.replace('\n', " ");
    let mut from = 0;
    split_prose(text)
        .into_iter()
        .map(|clause| {
            let at = flat[from..].find(&clause).map_or(from, |p| from + p);
            from = (at + clause.len()).min(flat.len());
            let line = first_line + text[..at].matches('\n').count() as u32;
            ReviewStatement {
                line,
                statement: statement(&clause, artifacts),
            }
        })
        .collect()
}

/// Fills `counts_for`, `names_topic_of`, the issues' matches, the false
/// alarms and the missed critical issues.
fn match_comments(facts: &mut ReviewFacts, review: &Review) {
    let s = &review.settings;
    let topics: Vec<Lexicon> = review
        .pack
        .issues
        .iter()
        .map(|i| pack::topic(&i.terms))
        .collect();
    let problem = Lexicon::new(&s.problem_words);
    let ReviewFacts {
        comments,
        issues,
        false_alarms,
        ..
    } = facts;
    for comment in comments.iter_mut() {
        let mut counts: BTreeSet<usize> = BTreeSet::new();
        let mut named_any: BTreeSet<usize> = BTreeSet::new();
        let mut alarm: Option<&ReviewStatement> = None;
        for st in &comment.statements {
            let stmt = &st.statement;
            if stmt.words < s.min_words || stmt.list_like {
                continue;
            }
            let named_anywhere: Vec<usize> = topics
                .iter()
                .enumerate()
                .filter(|(_, lex)| lex.hits(&stmt.text))
                .map(|(k, _)| k)
                .collect();
            named_any.extend(&named_anywhere);
            if named_anywhere.is_empty() && alarm.is_none() && problem.hits(&stmt.text) {
                alarm = Some(st);
            }
            // Issues of this file: those it may name near their code, and
            // those that make a run of keywords.
            let named: Vec<usize> = named_anywhere
                .into_iter()
                .filter(|k| issues[*k].file == comment.file)
                .collect();
            if named.len() > s.max_issues_per_statement {
                continue;
            }
            // The near issues it names, each with the terms that name it.
            let near: Vec<(usize, u32, BTreeSet<String>)> = named
                .into_iter()
                .filter_map(|k| {
                    let d = distance(st.line, issues[k].located_at?);
                    (d <= s.window)
                        .then(|| (k, d, topics[k].matches(&stmt.text).into_iter().collect()))
                })
                .collect();
            for (k, d, terms) in &near {
                // A term two near issues share names the nearer one only (the
                // first planted on a tie): one word does not find two problems.
                let own_term = terms.iter().any(|t| {
                    near.iter()
                        .all(|(j, dj, tj)| j == k || !tj.contains(t) || (d, k) < (dj, j))
                });
                if !own_term {
                    continue;
                }
                let k = *k;
                let issue = &mut issues[k];
                counts.insert(k);
                if issue.matched_comments.len() < MAX_MATCHES_PER_ISSUE {
                    issue.matched_comments.push(CommentRef {
                        file: comment.file.clone(),
                        line: st.line,
                        text: cap(&stmt.text, MAX_QUOTE),
                    });
                }
            }
        }
        comment.counts_for = counts.iter().map(|k| issues[*k].id.clone()).collect();
        comment.names_topic_of = named_any.iter().map(|k| issues[*k].id.clone()).collect();
        if let (Some(st), true) = (alarm, named_any.is_empty()) {
            comment.false_alarm = true;
            false_alarms.push(CommentRef {
                file: comment.file.clone(),
                line: st.line,
                text: cap(&st.statement.text, MAX_QUOTE),
            });
        }
    }
    facts.missed_critical = facts
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Critical && i.matched_comments.is_empty())
        .map(|i| i.id.clone())
        .collect();
}

/// Lines between `line` and the span (0 inside it).
fn distance(line: u32, span: LineSpan) -> u32 {
    if line < span.start {
        span.start - line
    } else {
        line.saturating_sub(span.end)
    }
}

#[cfg(test)]
mod tests;
