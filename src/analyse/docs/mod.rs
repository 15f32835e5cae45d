//! Docs analyser: the candidate's Markdown as structure, not as a bag of words.
//! Each document becomes sections (a heading and what sits under it) holding
//! blocks (paragraphs, list items, tables, code), and each block knows which of
//! the submission's own models, macros and tests it names. Checks over prose read
//! this structure: a claim tied to a section about one topic and to a model that
//! exists is evidence; a list of buzzwords is not.
//!
//! Plain-text notes (`notes.txt`, `NOTES`, a work log) are read the same way, and
//! every block is cut into [`Statement`]s: sentences, `;`-separated clauses and
//! table rows read with their column headers. Files that look like exploration
//! (queries outside the dbt project's models and tests, notebooks) are recorded as
//! [`WorkFile`]s so that checks never open a file themselves.

mod lexicon;
mod statements;
mod work;

pub use lexicon::{words, Lexicon};
pub use statements::{identifiers, is_list_of_terms, split_prose, statement, Figure, Statement};
pub use work::{WorkFile, WorkFileKind};

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
    /// Markdown documents and plain-text notes the candidate wrote or changed,
    /// Markdown first, each in path order.
    pub documents: Vec<Document>,
    /// Queries and notebooks outside the dbt project's models, tests and macros.
    #[serde(default)]
    pub work_files: Vec<WorkFile>,
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
    #[serde(default)]
    pub format: DocFormat,
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocFormat {
    #[default]
    Markdown,
    /// `notes.txt`, `NOTES`, a work log: paragraphs and bullets, headings
    /// underlined or written as a short line ending in `:`.
    PlainText,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Paragraph,
    ListItem,
    /// One data row of a table; its cells carry their column's header.
    TableRow,
    Code,
}

/// A table cell with the header of its column (empty when the table has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Cell {
    pub header: String,
    pub text: String,
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
    /// A table row's cells, in column order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<Cell>,
    /// A time or date the block opens with (`09:40`, `2026-01-05`, `Day 2`):
    /// the entry of a work log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
    /// What the block says, statement by statement.
    pub statements: Vec<Statement>,
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
    /// A profiling query or notebook of the submission (see [`WorkFile`]).
    Analysis,
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

/// Reads every Markdown document and plain-text note the candidate wrote or
/// changed, and the exploration files among their queries and notebooks.
pub fn analyse(inventory: &Inventory) -> DocsFacts {
    let mut facts = DocsFacts {
        work_files: work_files(inventory),
        ..DocsFacts::default()
    };
    let artifacts = artifacts_with_work(inventory, &facts.work_files);
    let markdown = inventory.docs.iter().filter(|p| {
        let lower = p.to_ascii_lowercase();
        lower.ends_with(".md") || lower.ends_with(".markdown")
    });
    let notes = inventory
        .files
        .iter()
        .map(|f| &f.path)
        .filter(|p| is_plain_text_note(p));
    let wanted: Vec<(&String, DocFormat)> = markdown
        .map(|p| (p, DocFormat::Markdown))
        .chain(notes.map(|p| (p, DocFormat::PlainText)))
        .take(MAX_DOCS)
        .collect();
    for (path, format) in wanted {
        if !inventory.is_candidate_work(path) {
            continue;
        }
        match inventory.read_text_capped(path, MAX_DOC_BYTES) {
            Ok(text) => facts
                .documents
                .push(parse_with_format(path, &text, &artifacts, format)),
            Err(e) => facts.skipped.push(SkippedDoc {
                path: path.clone(),
                reason: e.to_string(),
            }),
        }
    }
    facts
}

/// The submission's exploration files (see [`WorkFile`]).
pub fn work_files(inventory: &Inventory) -> Vec<WorkFile> {
    work::analyse(inventory)
}

/// Documents read per submission.
const MAX_DOCS: usize = 200;

/// Plain-text notes: `*.txt` and extension-less `NOTES`, `WORKLOG`, … at the
/// top of the submission or in a notes or docs folder; never data, logs,
/// dependency lists or vendored packages.
pub fn is_plain_text_note(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let segments: Vec<&str> = lower.split('/').collect();
    let Some((name, dirs)) = segments.split_last() else {
        return false;
    };
    const NOTE_DIRS: &[&str] = &["notes", "docs", "doc", "journal", "worklog", "log"];
    if !dirs.iter().all(|d| NOTE_DIRS.contains(d)) {
        return false;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (*name, None),
    };
    const NOT_NOTES: &[&str] = &[
        "requirements",
        "constraints",
        "license",
        "copying",
        "robots",
    ];
    if NOT_NOTES.iter().any(|n| stem.starts_with(n)) {
        return false;
    }
    match ext {
        Some("txt") => true,
        None => {
            let stem = stem.replace(['-', '_'], "");
            ["notes", "worklog", "log", "journal", "thoughts", "readme"]
                .iter()
                .any(|n| stem == *n)
        }
        _ => false,
    }
}

/// The names a write-up can point at: the candidate's models, macros, singular
/// tests and DAG files (by file stem). Starter files count too: a write-up may
/// well explain a change to `stg_users`.
pub fn artifacts(inventory: &Inventory) -> BTreeMap<String, ArtifactKind> {
    artifacts_with_work(inventory, &[])
}

fn artifacts_with_work(
    inventory: &Inventory,
    work_files: &[WorkFile],
) -> BTreeMap<String, ArtifactKind> {
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
    for w in work_files {
        if let Some(s) = stem(&w.path) {
            out.entry(s).or_insert(ArtifactKind::Analysis);
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
    parse_with_format(path, text, artifacts, DocFormat::Markdown)
}

/// Parses Markdown or plain text into sections and blocks.
pub fn parse_with_format(
    path: &str,
    text: &str,
    artifacts: &BTreeMap<String, ArtifactKind>,
    format: DocFormat,
) -> Document {
    let plain = format == DocFormat::PlainText;
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
    let mut skip_next = false;

    let lines: Vec<&str> = text.lines().collect();
    for (idx, raw) in lines.iter().enumerate() {
        let n = idx as u32 + 1;
        if skip_next {
            skip_next = false;
            continue;
        }
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
        // A line underlined with `===` or `---` is a heading, in Markdown and in
        // plain text alike.
        let underline = lines.get(idx + 1).and_then(|next| {
            let next = next.trim();
            (next.len() >= 3 && (next.chars().all(|c| c == '=') || next.chars().all(|c| c == '-')))
                .then(|| if next.starts_with('=') { 1u8 } else { 2u8 })
        });
        let continues_paragraph = current
            .as_ref()
            .is_some_and(|p| p.kind == BlockKind::Paragraph);
        let setext = underline.filter(|_| {
            !trimmed.is_empty()
                && !continues_paragraph
                && list_item(trimmed).is_none()
                && !trimmed.starts_with('|')
        });
        let found_heading = heading(line)
            .or_else(|| setext.map(|level| (level, trimmed.to_string())))
            .or_else(|| {
                plain
                    .then(|| plain_heading(trimmed, lines.get(idx + 1).copied()))
                    .flatten()
            });
        if let Some((level, heading)) = found_heading {
            flush(&mut current, &mut sections, artifacts, &mut blocks_total);
            if setext.is_some() && !line.starts_with('#') {
                skip_next = true;
            }
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
        let item = list_item(trimmed).or_else(|| {
            // In a work log every stamped line is an entry of its own.
            (plain && stamp(trimmed).is_some()).then_some(trimmed)
        });
        if let Some(item) = item {
            flush(&mut current, &mut sections, artifacts, &mut blocks_total);
            current = Some(Pending::new(BlockKind::ListItem, n, item.to_string()));
            continue;
        }
        if trimmed.starts_with('|') && !plain {
            if !matches!(current.as_ref().map(|p| p.kind), Some(BlockKind::TableRow)) {
                flush(&mut current, &mut sections, artifacts, &mut blocks_total);
                current = Some(Pending::new(BlockKind::TableRow, n, String::new()));
            }
            if let Some(p) = current.as_mut() {
                p.rows.push((n, trimmed.to_string()));
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
        format,
        sections,
        lines: lines.iter().map(|l| l.to_string()).collect(),
    }
}

/// In plain text, a short line ending in `:` that opens what follows, or a short
/// line in capitals, is a heading.
fn plain_heading(trimmed: &str, next: Option<&str>) -> Option<(u8, String)> {
    let words = word_count(trimmed);
    if words == 0 || words > 8 || list_item(trimmed).is_some() || stamp(trimmed).is_some() {
        return None;
    }
    let letters: Vec<char> = trimmed.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 3 && letters.iter().all(|c| c.is_uppercase()) {
        return Some((1, trimmed.trim_end_matches(':').trim().to_string()));
    }
    let opens = next.is_some_and(|n| !n.trim().is_empty());
    if trimmed.ends_with(':') && opens {
        return Some((2, trimmed.trim_end_matches(':').trim().to_string()));
    }
    None
}

/// The time or date a line opens with: `09:40`, `[09:40]`, `2026-01-05`,
/// `Day 2`, `Mon 10:15`.
pub fn stamp(text: &str) -> Option<String> {
    let t = text.trim_start_matches(['[', '(', '*', ' ']);
    let first: String = t
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ']' && *c != ')')
        .collect();
    let is_time = |w: &str| {
        let w = w.trim_end_matches([':', ',', '-']);
        let parts: Vec<&str> = w.split(':').collect();
        (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
    };
    let is_date = |w: &str| {
        let w = w.trim_end_matches([':', ',']);
        let parts: Vec<&str> = w.split(['-', '/', '.']).collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()))
    };
    if is_time(&first) || is_date(&first) {
        return Some(first.trim_end_matches([':', ',', '-']).to_string());
    }
    let mut words = t.split_whitespace();
    let (a, b) = (words.next()?, words.next().unwrap_or(""));
    let lower = a.to_ascii_lowercase();
    if (lower == "day" || lower == "session")
        && b.trim_end_matches([':', ',', '-'])
            .chars()
            .all(|c| c.is_ascii_digit())
        && !b.is_empty()
    {
        return Some(format!("{a} {}", b.trim_end_matches([':', ',', '-'])));
    }
    const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    if DAYS.iter().any(|d| lower.starts_with(d)) && is_time(b) {
        return Some(format!("{a} {}", b.trim_end_matches([':', ',', '-'])));
    }
    None
}

struct Pending {
    kind: BlockKind,
    start: u32,
    end: u32,
    lines: Vec<String>,
    /// Table rows with their line numbers.
    rows: Vec<(u32, String)>,
    blank: bool,
}

impl Pending {
    fn new(kind: BlockKind, line: u32, first: String) -> Pending {
        Pending {
            kind,
            start: line,
            end: line,
            lines: if matches!(kind, BlockKind::Code | BlockKind::TableRow) {
                Vec::new()
            } else {
                vec![first]
            },
            rows: Vec::new(),
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
    if p.kind == BlockKind::TableRow {
        for block in table_rows(&p.rows, artifacts) {
            if *total >= MAX_BLOCKS_PER_DOC {
                return;
            }
            *total += 1;
            if let Some(section) = sections.last_mut() {
                section.blocks.push(block);
            }
        }
        return;
    }
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
    let statements = match p.kind {
        BlockKind::Code => Vec::new(),
        _ => statements::split_prose(&text)
            .iter()
            .map(|s| statements::statement(s, artifacts))
            .collect(),
    };
    let stamp = match p.kind {
        BlockKind::Code => None,
        _ => stamp(&text),
    };
    if let Some(section) = sections.last_mut() {
        section.blocks.push(Block {
            kind: p.kind,
            line: p.start,
            end_line: p.end,
            text,
            code,
            refs,
            cells: Vec::new(),
            stamp,
            statements,
        });
    }
}

/// Splits a Markdown table row into its cells, honouring `\|` and inline code.
fn cells_of(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    let mut prev = ' ';
    for c in inner.chars() {
        if c == '`' {
            in_code = !in_code;
        }
        if c == '|' && !in_code && prev != '\\' {
            out.push(current.trim().to_string());
            current.clear();
        } else {
            current.push(c);
        }
        prev = c;
    }
    out.push(current.trim().to_string());
    out
}

fn is_separator(row: &str) -> bool {
    row.contains('-') && row.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// One block per data row, each cell read with its column's header: a row of a
/// findings table is one statement ("Finding: … How found: …").
fn table_rows(rows: &[(u32, String)], artifacts: &BTreeMap<String, ArtifactKind>) -> Vec<Block> {
    let has_header = rows.get(1).is_some_and(|(_, r)| is_separator(r));
    let headers: Vec<String> = if has_header {
        cells_of(&rows[0].1)
    } else {
        Vec::new()
    };
    let data = rows
        .iter()
        .skip(if has_header { 2 } else { 0 })
        .filter(|(_, r)| !is_separator(r));
    let mut out = Vec::new();
    for (line, row) in data {
        let cells: Vec<Cell> = cells_of(row)
            .into_iter()
            .enumerate()
            .map(|(i, text)| Cell {
                header: headers.get(i).cloned().unwrap_or_default(),
                text,
            })
            .collect();
        if cells.iter().all(|c| word_count(&c.text) == 0) {
            continue;
        }
        let text = cells
            .iter()
            .filter(|c| !c.text.is_empty())
            .map(|c| {
                if c.header.is_empty() {
                    c.text.clone()
                } else {
                    format!("{}: {}", c.header, c.text)
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let code = code_spans(&text);
        let refs = references(&text, &code, artifacts);
        let mut statement = statements::statement(&text.replace('\n', "; "), artifacts);
        // A row of short cells is a record, not a keyword list, unless every
        // cell is one.
        statement.list_like = cells
            .iter()
            .filter(|c| word_count(&c.text) > 0)
            .all(|c| is_list_of_terms(&c.text) && word_count(&c.text) > 2);
        out.push(Block {
            kind: BlockKind::TableRow,
            line: *line,
            end_line: *line,
            stamp: cells.first().and_then(|c| stamp(&c.text)),
            text,
            code,
            refs,
            cells,
            statements: vec![statement],
        });
    }
    out
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

pub fn code_spans(text: &str) -> Vec<String> {
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
                BlockKind::TableRow
            ]
        );
        assert!(trap.blocks[0].has_query());
        let item = &trap.blocks[1];
        assert_eq!((item.line, item.end_line), (9, 10));
        let names: Vec<&str> = item.refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["fct_payments", "stg_payments", "unique"]);
        assert!(trap.blocks[3].has_query());
        assert_eq!(trap.blocks[4].text, "a: 1\nb: 2");
        // The bullet carries two decisions: two statements.
        assert_eq!(item.statements.len(), 2, "{:?}", item.statements);
    }

    const TABLE: &str = "## Data issues\n\n| Finding | How found | Decision | Where guarded |\n|---|---|---|---|\n| Payments delivered twice | `select event_id, count(*) from raw.payments group by 1 having count(*) > 1` | `stg_payments` keeps the first | `assert_payments_one_row_per_event` |\n| Rates \\| currencies | 3 currencies | `fct_payments` | `unique` |\n";

    #[test]
    fn each_table_row_is_a_statement_read_with_its_headers() {
        let doc = parse_document("README.md", TABLE, &arts());
        let rows: Vec<&Block> = doc.blocks().map(|(_, b)| b).collect();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|b| b.kind == BlockKind::TableRow));
        let first = rows[0];
        assert_eq!(first.line, 5);
        assert_eq!(first.cells[1].header, "How found");
        assert!(first.has_query());
        assert!(first.names(ArtifactKind::SingularTest));
        assert_eq!(first.statements.len(), 1);
        assert!(first.statements[0]
            .text
            .starts_with("Finding: Payments delivered twice; How found:"));
        assert!(!first.statements[0].list_like);
        assert_eq!(rows[1].cells[0].text, "Rates \\| currencies");
    }

    const NOTES: &str = "WORK LOG\n\n09:10 profiled raw.payments: 3 % of event_id repeat\n09:40 stg_payments keeps the first delivery\nDay 2 - timezone of confirmed_at\n\nOpen questions:\n- are rates monthly?\n\nDecisions\n=========\nKeep deleted users.\n";

    #[test]
    fn plain_text_notes_have_headings_and_stamped_entries() {
        let doc = parse_with_format("notes.txt", NOTES, &arts(), DocFormat::PlainText);
        let headings: Vec<&str> = doc.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, ["WORK LOG", "Open questions", "Decisions"]);
        let log: Vec<&Block> = doc.sections[0].blocks.iter().collect();
        assert_eq!(log.len(), 3, "{log:?}");
        let stamps: Vec<Option<&str>> = log.iter().map(|b| b.stamp.as_deref()).collect();
        assert_eq!(stamps, [Some("09:10"), Some("09:40"), Some("Day 2")]);
        assert!(log[1].names(ArtifactKind::Model));
        assert_eq!(doc.sections[2].blocks[0].text, "Keep deleted users.");
    }

    #[test]
    fn which_text_files_are_notes() {
        for yes in [
            "notes.txt",
            "NOTES",
            "docs/worklog.txt",
            "notes/day1.txt",
            "WORK_LOG",
        ] {
            assert!(is_plain_text_note(yes), "{yes}");
        }
        for no in [
            "requirements.txt",
            "seeds/x.txt",
            "dbt_packages/a/notes.txt",
            "logs/dbt.log",
            "models/notes.txt",
        ] {
            assert!(!is_plain_text_note(no), "{no}");
        }
    }

    #[test]
    fn stamps() {
        assert_eq!(stamp("[09:40] x").as_deref(), Some("09:40"));
        assert_eq!(stamp("2026-01-05: x").as_deref(), Some("2026-01-05"));
        assert_eq!(stamp("Mon 10:15 x").as_deref(), Some("Mon 10:15"));
        assert_eq!(stamp("3 retries"), None);
        assert_eq!(stamp("Dayton"), None);
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
            "a\n===",
            "|\n|---|",
            "| `a | b\n|-|\n|\\|",
            "[12:",
            "Day",
            "X:\n",
        ] {
            let _ = parse_document("x.md", text, &arts());
            let _ = parse_with_format("x.txt", text, &arts(), DocFormat::PlainText);
        }
    }
}
