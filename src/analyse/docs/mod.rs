//! Docs analyser: the candidate's Markdown as structure, not as a bag of words.
//! Each document becomes sections (a heading and what sits under it) holding
//! blocks (paragraphs, list items, tables, code), and each block knows which of
//! the submission's own models, macros and tests it names. Checks over prose read
//! this structure: a claim tied to a section about one topic and to a model that
//! exists is evidence; a list of buzzwords is not.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::inventory::Inventory;

/// Docs larger than this are not read: a write-up is a few pages, not megabytes.
const MAX_DOC_BYTES: u64 = 512 * 1024;
/// Blocks kept per document, so a generated file cannot flood the facts.
const MAX_BLOCKS_PER_DOC: usize = 4000;

/// dbt's own generic tests: naming one of them in code is naming a test.
const GENERIC_TESTS: &[&str] = &["unique", "not_null", "relationships", "accepted_values"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocsFacts {
    /// Markdown documents the candidate wrote or changed, in path order.
    pub documents: Vec<Document>,
    /// Docs not read, with the reason (too large, unreadable).
    pub skipped: Vec<SkippedDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedDoc {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Document {
    pub path: String,
    pub sections: Vec<Section>,
    /// The document's lines, so evidence can quote them verbatim.
    #[serde(skip)]
    #[schemars(skip)]
    pub lines: Vec<String>,
}

/// A heading and the blocks under it up to the next heading of any level. The
/// text before the first heading is a section with an empty heading and level 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Section {
    pub heading: String,
    pub level: u8,
    /// Headings of the enclosing sections, outermost first.
    pub parents: Vec<String>,
    pub line: u32,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Paragraph,
    ListItem,
    Table,
    Code,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Block {
    pub kind: BlockKind,
    /// 1-based, inclusive.
    pub line: u32,
    pub end_line: u32,
    /// The block's text with list markers and fences removed, lines joined by `\n`.
    pub text: String,
    /// Inline code spans (`like this`), and for a code block its whole content.
    pub code: Vec<String>,
    /// The submission's own artifacts this block names.
    pub refs: Vec<ArtifactRef>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    Model,
    Macro,
    SingularTest,
    /// A dbt generic test named in inline code.
    GenericTest,
    Dag,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactRef {
    pub name: String,
    pub kind: ArtifactKind,
}

impl Block {
    pub fn words(&self) -> usize {
        word_count(&self.text)
    }

    pub fn names(&self, kind: ArtifactKind) -> bool {
        self.refs.iter().any(|r| r.kind == kind)
    }

    /// Whether inline code or a code block holds a query (`select … from`).
    pub fn has_query(&self) -> bool {
        self.code.iter().any(|c| is_query(c))
    }
}

pub fn word_count(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

pub fn is_query(code: &str) -> bool {
    let lower = code.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    let select = words.iter().position(|w| *w == "select");
    let from = words.iter().rposition(|w| *w == "from");
    matches!((select, from), (Some(s), Some(f)) if s < f)
}

impl Document {
    /// Lines `start..=end` (1-based) verbatim, at most `max` of them.
    pub fn quote(&self, start: u32, end: u32, max: usize) -> String {
        let from = start.saturating_sub(1) as usize;
        let to = (end as usize).min(self.lines.len()).min(from + max);
        self.lines
            .get(from..to)
            .map(|l| l.join("\n"))
            .unwrap_or_default()
    }

    pub fn blocks(&self) -> impl Iterator<Item = (&Section, &Block)> {
        self.sections
            .iter()
            .flat_map(|s| s.blocks.iter().map(move |b| (s, b)))
    }
}

/// Reads every Markdown document the candidate wrote or changed.
pub fn analyse(inventory: &Inventory) -> DocsFacts {
    let artifacts = artifacts(inventory);
    let mut facts = DocsFacts::default();
    for path in &inventory.docs {
        let lower = path.to_ascii_lowercase();
        if !(lower.ends_with(".md") || lower.ends_with(".markdown")) {
            continue;
        }
        if !inventory.is_candidate_work(path) {
            continue;
        }
        match inventory.read_text_capped(path, MAX_DOC_BYTES) {
            Ok(text) => facts
                .documents
                .push(parse_document(path, &text, &artifacts)),
            Err(e) => facts.skipped.push(SkippedDoc {
                path: path.clone(),
                reason: e.to_string(),
            }),
        }
    }
    facts
}

/// The names a write-up can point at: the candidate's models, macros, singular
/// tests and DAG files (by file stem). Starter files count too: a write-up may
/// well explain a change to `stg_users`.
pub fn artifacts(inventory: &Inventory) -> BTreeMap<String, ArtifactKind> {
    let mut out = BTreeMap::new();
    let stem = |p: &str| {
        Path::new(p)
            .file_stem()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
    };
    for project in &inventory.dbt_projects {
        for (list, kind) in [
            (&project.models, ArtifactKind::Model),
            (&project.macros, ArtifactKind::Macro),
            (&project.singular_tests, ArtifactKind::SingularTest),
        ] {
            for p in list {
                if let Some(s) = stem(p) {
                    out.entry(s).or_insert(kind);
                }
            }
        }
    }
    for p in &inventory.dags {
        if let Some(s) = stem(p) {
            out.entry(s).or_insert(ArtifactKind::Dag);
        }
    }
    out
}

/// Parses Markdown into sections and blocks. Pure, so tests run it on strings.
pub fn parse_document(
    path: &str,
    text: &str,
    artifacts: &BTreeMap<String, ArtifactKind>,
) -> Document {
    let mut sections = vec![Section {
        heading: String::new(),
        level: 0,
        parents: Vec::new(),
        line: 1,
        blocks: Vec::new(),
    }];
    let mut stack: Vec<(u8, String)> = Vec::new();
    let mut current: Option<Pending> = None;
    let mut fence: Option<(String, Pending)> = None;
    let mut blocks_total = 0usize;

    let lines: Vec<&str> = text.lines().collect();
    for (idx, raw) in lines.iter().enumerate() {
        let n = idx as u32 + 1;
        let line = raw.trim_end();
        if let Some((marker, mut block)) = fence.take() {
            if line.trim_start().starts_with(marker.as_str()) {
                block.end = n;
                push(&mut sections, block, artifacts, &mut blocks_total);
            } else {
                block.lines.push(line.to_string());
                block.end = n;
                fence = Some((marker, block));
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            flush(&mut current, &mut sections, artifacts, &mut blocks_total);
            let marker = trimmed[..3].to_string();
            fence = Some((marker, Pending::new(BlockKind::Code, n, String::new())));
            continue;
        }
        if let Some((level, heading)) = heading(line) {
            flush(&mut current, &mut sections, artifacts, &mut blocks_total);
            while stack.last().is_some_and(|(l, _)| *l >= level) {
                stack.pop();
            }
            sections.push(Section {
                heading: heading.clone(),
                level,
                parents: stack.iter().map(|(_, h)| h.clone()).collect(),
                line: n,
                blocks: Vec::new(),
            });
            stack.push((level, heading));
            continue;
        }
        if trimmed.is_empty() {
            // A blank line ends a paragraph or table; a list item may continue
            // after it only with indented text, which the next line decides.
            if let Some(p) = &current {
                if p.kind != BlockKind::ListItem {
                    flush(&mut current, &mut sections, artifacts, &mut blocks_total);
                } else if let Some(p) = current.as_mut() {
                    p.blank = true;
                }
            }
            continue;
        }
        if let Some(item) = list_item(trimmed) {
            flush(&mut current, &mut sections, artifacts, &mut blocks_total);
            current = Some(Pending::new(BlockKind::ListItem, n, item.to_string()));
            continue;
        }
        if trimmed.starts_with('|') {
            if !matches!(current.as_ref().map(|p| p.kind), Some(BlockKind::Table)) {
                flush(&mut current, &mut sections, artifacts, &mut blocks_total);
                current = Some(Pending::new(BlockKind::Table, n, String::new()));
            }
            if let Some(p) = current.as_mut() {
                // Separator rows (|---|) carry no text.
                if !trimmed.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ')) {
                    p.lines.push(trimmed.to_string());
                }
                p.end = n;
            }
            continue;
        }
        match current.as_mut() {
            Some(p) if p.kind == BlockKind::ListItem && (!p.blank || raw.starts_with(' ')) => {
                p.lines.push(trimmed.to_string());
                p.end = n;
                p.blank = false;
            }
            Some(p) if p.kind == BlockKind::Paragraph => {
                p.lines.push(trimmed.to_string());
                p.end = n;
            }
            _ => {
                flush(&mut current, &mut sections, artifacts, &mut blocks_total);
                let text = trimmed.strip_prefix('>').unwrap_or(trimmed).trim_start();
                current = Some(Pending::new(BlockKind::Paragraph, n, text.to_string()));
            }
        }
    }
    if let Some((_, block)) = fence.take() {
        push(&mut sections, block, artifacts, &mut blocks_total);
    }
    flush(&mut current, &mut sections, artifacts, &mut blocks_total);
    sections.retain(|s| s.level > 0 || !s.blocks.is_empty());
    Document {
        path: path.to_string(),
        sections,
        lines: lines.iter().map(|l| l.to_string()).collect(),
    }
}

struct Pending {
    kind: BlockKind,
    start: u32,
    end: u32,
    lines: Vec<String>,
    blank: bool,
}

impl Pending {
    fn new(kind: BlockKind, line: u32, first: String) -> Pending {
        Pending {
            kind,
            start: line,
            end: line,
            lines: if matches!(kind, BlockKind::Code | BlockKind::Table) {
                Vec::new()
            } else {
                vec![first]
            },
            blank: false,
        }
    }
}

fn flush(
    current: &mut Option<Pending>,
    sections: &mut [Section],
    artifacts: &BTreeMap<String, ArtifactKind>,
    total: &mut usize,
) {
    if let Some(p) = current.take() {
        push(sections, p, artifacts, total);
    }
}

fn push(
    sections: &mut [Section],
    p: Pending,
    artifacts: &BTreeMap<String, ArtifactKind>,
    total: &mut usize,
) {
    if *total >= MAX_BLOCKS_PER_DOC {
        return;
    }
    *total += 1;
    let text = p.lines.join("\n");
    let code = if p.kind == BlockKind::Code {
        vec![text.clone()]
    } else {
        code_spans(&text)
    };
    let refs = references(&text, &code, artifacts);
    if let Some(section) = sections.last_mut() {
        section.blocks.push(Block {
            kind: p.kind,
            line: p.start,
            end_line: p.end,
            text,
            code,
            refs,
        });
    }
}

fn heading(line: &str) -> Option<(u8, String)> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((
        hashes as u8,
        rest.trim().trim_end_matches('#').trim().to_string(),
    ))
}

fn list_item(trimmed: &str) -> Option<&str> {
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = trimmed.strip_prefix(marker) {
            return Some(rest.trim_start());
        }
    }
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 4 {
        let rest = &trimmed[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some(r.trim_start());
        }
    }
    None
}

fn code_spans(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        let after = &rest[start..];
        let ticks = after.chars().take_while(|c| *c == '`').count();
        let body = &after[ticks..];
        let closing = "`".repeat(ticks);
        match body.find(&closing) {
            Some(end) => {
                let span = body[..end].trim();
                if !span.is_empty() {
                    out.push(span.to_string());
                }
                rest = &body[end + ticks..];
            }
            None => break,
        }
    }
    out
}

fn references(
    text: &str,
    code: &[String],
    artifacts: &BTreeMap<String, ArtifactKind>,
) -> Vec<ArtifactRef> {
    let mut found = std::collections::BTreeSet::new();
    let lower = text.to_ascii_lowercase();
    for token in lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(kind) = artifacts.get(token) {
            found.insert(ArtifactRef {
                name: token.to_string(),
                kind: *kind,
            });
        }
    }
    for span in code {
        let span_lower = span.to_ascii_lowercase();
        for token in span_lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if GENERIC_TESTS.contains(&token) {
                found.insert(ArtifactRef {
                    name: token.to_string(),
                    kind: ArtifactKind::GenericTest,
                });
            }
        }
    }
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arts() -> BTreeMap<String, ArtifactKind> {
        [
            ("stg_payments", ArtifactKind::Model),
            ("fct_payments", ArtifactKind::Model),
            (
                "assert_payments_one_row_per_event",
                ArtifactKind::SingularTest,
            ),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_string(), k))
        .collect()
    }

    const DOC: &str = "Intro line.\n\n## Data issues\n\n### 1. Payments delivered twice\n\n*Found:* `select count(*) from raw.payments` differs.\n\n- **Dedup**: `stg_payments` keeps one row;\n  `unique` test on `fct_payments.event_id`.\n- second item\n\n```sql\nselect 1\nfrom x\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";

    #[test]
    fn sections_blocks_and_references() {
        let doc = parse_document("README.md", DOC, &arts());
        let headings: Vec<&str> = doc.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, ["", "Data issues", "1. Payments delivered twice"]);
        let trap = &doc.sections[2];
        assert_eq!(trap.parents, ["Data issues"]);
        let kinds: Vec<BlockKind> = trap.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                BlockKind::Paragraph,
                BlockKind::ListItem,
                BlockKind::ListItem,
                BlockKind::Code,
                BlockKind::Table
            ]
        );
        assert!(trap.blocks[0].has_query());
        let item = &trap.blocks[1];
        assert_eq!((item.line, item.end_line), (9, 10));
        let names: Vec<&str> = item.refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["fct_payments", "stg_payments", "unique"]);
        assert!(trap.blocks[3].has_query());
        assert_eq!(trap.blocks[4].text, "| a | b |\n| 1 | 2 |");
    }

    #[test]
    fn a_word_in_prose_is_no_generic_test_but_code_is() {
        let doc = parse_document(
            "r.md",
            "Each key is unique here.\n\nTested with `not_null`.\n",
            &arts(),
        );
        let blocks: Vec<&Block> = doc.blocks().map(|(_, b)| b).collect();
        assert!(!blocks[0].names(ArtifactKind::GenericTest));
        assert!(blocks[1].names(ArtifactKind::GenericTest));
    }

    #[test]
    fn queries_need_select_before_from() {
        assert!(is_query("SELECT a FROM t"));
        assert!(!is_query("from select"));
        assert!(!is_query("qualify row_number()"));
    }

    #[test]
    fn hostile_markdown_never_panics() {
        for text in [
            "```",
            "# ",
            "#######",
            "- ",
            "1.",
            "`",
            "``a`",
            "|",
            "\u{feff}# é\n- `ü",
        ] {
            let _ = parse_document("x.md", text, &arts());
        }
    }
}
