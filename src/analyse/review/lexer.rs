//! Just enough of Python's lexical grammar to tell a comment from a string:
//! `#` starts a comment only outside string literals, and string literals
//! come with prefixes (`r`, `b`, `f`, `rb`, `fr`, `t`, any case), single or
//! triple quotes, backslash escapes, and f-string replacement fields that hold
//! code of their own (nested strings, a format spec such as `{x:#x}`). The
//! lexer also marks string literals that stand alone as a statement
//! (docstrings, and strings used as block comments). It never fails: an
//! unterminated string ends at its line (single quotes) or at the end of the
//! file (triple quotes), as a reader would see it.

/// f-strings nested deeper than this are read as plain text.
const MAX_NESTING: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// 1-based line of the `#`.
    pub line: u32,
    /// Byte range from the `#` to the end of its line (the newline excluded).
    pub start: usize,
    pub end: usize,
    /// The text after the `#`, without the line ending.
    pub text: String,
    /// Nothing but whitespace before the `#` on its line.
    pub own_line: bool,
}

/// A string literal that is a statement of its own: the first token of a
/// logical line, outside brackets, with nothing but a comment after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementString {
    /// 1-based line of the opening quote.
    pub line: u32,
    /// The text between the quotes, verbatim.
    pub body: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lexed {
    pub comments: Vec<Comment>,
    pub strings: Vec<StatementString>,
}

impl Lexed {
    /// The source with every comment blanked out (same byte length and lines),
    /// so a search for code does not find the code a comment quotes.
    pub fn code_only(&self, src: &str) -> String {
        let mut bytes = src.as_bytes().to_vec();
        for c in &self.comments {
            bytes[c.start..c.end].fill(b' ');
        }
        // Whole comments (ASCII `#` up to a newline or the end) were replaced
        // with ASCII, so the rest is still valid UTF-8.
        String::from_utf8(bytes).unwrap_or_default()
    }
}

pub fn lex(src: &str) -> Lexed {
    let mut lx = Lexer {
        src,
        b: src.as_bytes(),
        i: 0,
        line: 1,
        nest: 0,
        out: Lexed::default(),
    };
    lx.code();
    lx.out
}

/// The 1-based lines on which `needle` starts in `text`.
pub fn find_all(text: &str, needle: &str) -> Vec<u32> {
    if needle.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut line = 1u32;
    let mut counted = 0usize;
    for (at, _) in text.match_indices(needle) {
        line += text.as_bytes()[counted..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u32;
        counted = at;
        out.push(line);
    }
    out
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    line: u32,
    nest: u32,
    out: Lexed,
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// `(raw, formatted)` when `ident` is a string prefix.
fn string_prefix(ident: &[u8]) -> Option<(bool, bool)> {
    if ident.is_empty() || ident.len() > 2 {
        return None;
    }
    let lower: Vec<u8> = ident.iter().map(|c| c.to_ascii_lowercase()).collect();
    let ok = matches!(
        lower.as_slice(),
        b"r" | b"u" | b"f" | b"b" | b"t" | b"br" | b"rb" | b"fr" | b"rf" | b"tr" | b"rt"
    );
    ok.then(|| {
        (
            lower.contains(&b'r'),
            lower.contains(&b'f') || lower.contains(&b't'),
        )
    })
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.i + ahead).copied()
    }

    /// Top-level code: comments, strings, brackets, logical lines.
    fn code(&mut self) {
        let mut depth = 0usize;
        let mut logical_start = true;
        let mut line_has_token = false;
        while let Some(c) = self.peek(0) {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                    line_has_token = false;
                    if depth == 0 {
                        logical_start = true;
                    }
                }
                b' ' | b'\t' | b'\r' | 0x0c => self.i += 1,
                b'\\' if self.peek(1) == Some(b'\n') => {
                    // An explicit line joining: the logical line goes on.
                    self.i += 2;
                    self.line += 1;
                    line_has_token = false;
                }
                b'\\' if self.peek(1) == Some(b'\r') && self.peek(2) == Some(b'\n') => {
                    self.i += 3;
                    self.line += 1;
                    line_has_token = false;
                }
                b'#' => {
                    let start = self.i;
                    let end = self.b[start..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(self.b.len(), |p| start + p);
                    let text = self.src[start + 1..end].trim_end_matches('\r').to_string();
                    self.out.comments.push(Comment {
                        line: self.line,
                        start,
                        end,
                        text,
                        own_line: !line_has_token,
                    });
                    self.i = end;
                }
                b'"' | b'\'' => {
                    let first = logical_start && depth == 0;
                    self.string_token(first, false, false);
                    logical_start = false;
                    line_has_token = true;
                }
                c if is_ident_byte(c) => {
                    let start = self.i;
                    while self.peek(0).is_some_and(is_ident_byte) {
                        self.i += 1;
                    }
                    let prefix = string_prefix(&self.b[start..self.i]);
                    if let (Some((raw, fmt)), Some(b'"' | b'\'')) = (prefix, self.peek(0)) {
                        let first = logical_start && depth == 0;
                        self.string_token(first, raw, fmt);
                    }
                    logical_start = false;
                    line_has_token = true;
                }
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    self.i += 1;
                    logical_start = false;
                    line_has_token = true;
                }
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    self.i += 1;
                    logical_start = false;
                    line_has_token = true;
                }
                _ => {
                    self.i += 1;
                    logical_start = false;
                    line_has_token = true;
                }
            }
        }
    }

    /// A string literal in code; records it when it stands alone.
    fn string_token(&mut self, first: bool, raw: bool, fmt: bool) {
        let line = self.line;
        let (body_start, body_end) = self.string(raw, fmt);
        if first && self.rest_of_line_is_empty() {
            self.out.strings.push(StatementString {
                line,
                body: self.src[body_start..body_end].to_string(),
            });
        }
    }

    /// Only whitespace, a comment or a `;` up to the end of the line.
    fn rest_of_line_is_empty(&self) -> bool {
        self.b[self.i..]
            .iter()
            .find(|c| !matches!(c, b' ' | b'\t' | b'\r' | 0x0c))
            .is_none_or(|c| matches!(c, b'\n' | b'#' | b';'))
    }

    /// A string literal from its opening quote (at `self.i`); returns the
    /// byte range of its body and leaves `self.i` after the closing quote.
    fn string(&mut self, raw: bool, fmt: bool) -> (usize, usize) {
        let _ = raw; // a backslash protects the next character in raw strings too
        let q = self.b[self.i];
        let triple = self.peek(1) == Some(q) && self.peek(2) == Some(q);
        self.i += if triple { 3 } else { 1 };
        let body_start = self.i;
        loop {
            let Some(c) = self.peek(0) else {
                return (body_start, self.b.len());
            };
            match c {
                b'\\' => {
                    self.i += 1;
                    if let Some(n) = self.peek(0) {
                        if n == b'\n' {
                            self.line += 1;
                        }
                        self.i += 1;
                    }
                }
                b'\n' if !triple => return (body_start, self.i),
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                c if c == q => {
                    if !triple {
                        self.i += 1;
                        return (body_start, self.i - 1);
                    }
                    if self.peek(1) == Some(q) && self.peek(2) == Some(q) {
                        self.i += 3;
                        return (body_start, self.i - 3);
                    }
                    self.i += 1;
                }
                b'{' if fmt => {
                    if self.peek(1) == Some(b'{') || self.nest >= MAX_NESTING {
                        self.i += 2.min(self.b.len() - self.i);
                    } else {
                        self.i += 1;
                        self.nest += 1;
                        self.field(q, triple);
                        self.nest -= 1;
                    }
                }
                _ => self.i += 1,
            }
        }
    }

    /// An f-string's replacement field after its `{`: code up to the matching
    /// `}`, then perhaps a format spec (literal text with nested fields).
    /// A `#` in here is never a comment.
    fn field(&mut self, q: u8, triple: bool) {
        let mut depth = 0usize;
        let mut spec = false;
        while let Some(c) = self.peek(0) {
            let ends_string =
                c == q && (!triple || (self.peek(1) == Some(q) && self.peek(2) == Some(q)));
            if spec {
                match c {
                    b'{' => {
                        self.i += 1;
                        if self.nest < MAX_NESTING {
                            self.nest += 1;
                            self.field(q, triple);
                            self.nest -= 1;
                        }
                    }
                    b'}' => {
                        self.i += 1;
                        return;
                    }
                    b'\n' if !triple => return,
                    b'\n' => {
                        self.line += 1;
                        self.i += 1;
                    }
                    b'\\' => self.i = (self.i + 2).min(self.b.len()),
                    // The enclosing string's quote closes the string.
                    _ if ends_string => return,
                    _ => self.i += 1,
                }
                continue;
            }
            match c {
                b'"' | b'\'' => {
                    self.string(false, false);
                }
                c if is_ident_byte(c) => {
                    let start = self.i;
                    while self.peek(0).is_some_and(is_ident_byte) {
                        self.i += 1;
                    }
                    if let (Some((raw, fmt)), Some(b'"' | b'\'')) =
                        (string_prefix(&self.b[start..self.i]), self.peek(0))
                    {
                        self.string(raw, fmt);
                    }
                }
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    self.i += 1;
                }
                b')' | b']' => {
                    depth = depth.saturating_sub(1);
                    self.i += 1;
                }
                b'}' if depth == 0 => {
                    self.i += 1;
                    return;
                }
                b'}' => {
                    depth -= 1;
                    self.i += 1;
                }
                b':' if depth == 0 => {
                    spec = true;
                    self.i += 1;
                }
                b'\n' if !triple => return,
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                b'\\' => {
                    self.i += 1;
                    if let Some(n) = self.peek(0) {
                        if n == b'\n' {
                            self.line += 1;
                        }
                        self.i += 1;
                    }
                }
                _ => self.i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comments(src: &str) -> Vec<(u32, String)> {
        lex(src)
            .comments
            .into_iter()
            .map(|c| (c.line, c.text.trim().to_string()))
            .collect()
    }

    #[test]
    fn a_hash_inside_a_string_is_no_comment() {
        let src = "x = \"# not a comment\"  # real one\ny = '#'\nz = \"a\\\"#b\"  # after an escaped quote\n";
        assert_eq!(
            comments(src),
            [
                (1, "real one".to_string()),
                (3, "after an escaped quote".to_string())
            ]
        );
    }

    #[test]
    fn triple_quoted_strings_hold_hashes_and_lines() {
        let src = "s = '''\n# inside\n'''\nt = \"\"\"a \"quoted\" # b\n\"\"\"  # c\n# d\n";
        assert_eq!(comments(src), [(5, "c".to_string()), (6, "d".to_string())]);
    }

    #[test]
    fn prefixes_raw_bytes_and_unicode() {
        let src =
            "a = r\"\\\"#\"  # one\nb = rb'#' + Rb\"#\" + u'#' + B'#'  # two\nbr = 1  # three\n";
        assert_eq!(
            comments(src),
            [
                (1, "one".to_string()),
                (2, "two".to_string()),
                (3, "three".to_string())
            ]
        );
    }

    #[test]
    fn f_strings_fields_specs_and_nesting() {
        let src = concat!(
            "a = f\"{x:#x} and {d['#']}\"  # one\n",
            "b = f\"{x:'^10} {y!r:>{w}}\"  # two\n",
            "c = f\"{f'{z}#'}\"  # three\n",
            "d = f\"{{#}} {value}\"  # four\n",
            "e = f\"{d[\"#\"]}\"  # five (nested same quotes, Python 3.12)\n",
            "g = f\"\"\"\n{x:#o}\n# not a comment\n\"\"\"  # six\n",
        );
        let got: Vec<u32> = lex(src).comments.iter().map(|c| c.line).collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 9], "{:?}", comments(src));
        assert_eq!(comments(src)[5].1, "six");
    }

    #[test]
    fn an_unterminated_string_ends_at_its_line() {
        let src = "x = 'oops\n# still a comment\n";
        assert_eq!(comments(src), [(2, "still a comment".to_string())]);
    }

    #[test]
    fn comments_know_whether_they_have_the_line() {
        let lexed = lex("# own\nx = 1  # trailing\n    # indented\n");
        let own: Vec<bool> = lexed.comments.iter().map(|c| c.own_line).collect();
        assert_eq!(own, [true, false, true]);
    }

    #[test]
    fn statement_strings_are_docstrings_not_arguments() {
        let src = concat!(
            "\"\"\"Module doc.\"\"\"\n",
            "def f():\n",
            "    \"\"\"Function doc.\n",
            "    # not a comment\n",
            "    \"\"\"\n",
            "    sql = \"\"\"SELECT 1\"\"\"\n",
            "    run(\n",
            "        \"\"\"SELECT 2\"\"\"\n",
            "    )\n",
            "    'bare note'  # and a comment\n",
            "    x = 1; \"not first\"\n",
            "    \"\"\"a\"\"\" \"implicit concatenation\"\n",
        );
        let lexed = lex(src);
        let got: Vec<(u32, &str)> = lexed
            .strings
            .iter()
            .map(|s| (s.line, s.body.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "Module doc."),
                (3, "Function doc.\n    # not a comment\n    "),
                (10, "bare note"),
            ]
        );
        assert_eq!(comments(src), [(10, "and a comment".to_string())]);
    }

    #[test]
    fn code_only_blanks_comments_in_place() {
        let src = "x = 1  # f\"INSERT\"\ny = f\"INSERT\"\n";
        let lexed = lex(src);
        let code = lexed.code_only(src);
        assert_eq!(code.len(), src.len());
        assert_eq!(find_all(&code, "f\"INSERT"), [2]);
        assert_eq!(find_all(src, "f\"INSERT"), [1, 2]);
    }

    #[test]
    fn hostile_nesting_does_not_recurse_without_bound() {
        let src = "f\"".to_string() + &"{f\"".repeat(5000) + "\n# after\n";
        let lexed = lex(&src);
        assert_eq!(lexed.comments.len(), 1);
    }
}
