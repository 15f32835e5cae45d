//! One module's scan, over the syntax tree the contained worker returned.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::{CaughtError, CodeFile, Hole, HttpCall, SqlCall, Timeout};
use crate::analyse::dag::syntax::{Arg, CompClause, DictItem, Expr, Module, Span, Stmt, StrPart};
use crate::analyse::dag::{scan_credentials, snippet_of, visit_stmts as visit, FileStatus, Site};

/// How deep local variables and nested strings are followed into a statement.
const MAX_FOLLOW: usize = 6;

static AFTER_COMPARISON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(=|<|>|\bin\s*\(|\blike)\s*$").unwrap());
static VALUES_OPEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bvalues\s*\(").unwrap());
/// printf-style placeholders of `%` formatting (`%%` is a literal percent).
static PRINTF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"%(\([A-Za-z_][A-Za-z0-9_]*\))?[-#0 +]*\d*(\.\d+)?[sdifrxXeEgGc%]").unwrap()
});
/// `str.format` fields (`{{` is a literal brace).
static FORMAT_FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{|\}\}|\{([^{}]*)\}").unwrap());

const HTTP_VERBS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "request",
];
const ERROR_LOG_METHODS: &[&str] = &["exception", "error", "critical", "fatal"];
const BROAD: &[&str] = &["Exception", "BaseException"];

pub fn scan_module(path: &str, source: &str, module: &Module, candidate_work: bool) -> CodeFile {
    let lines: Vec<&str> = source.lines().collect();
    let mut s = Scanner {
        path,
        lines: &lines,
        requests: HashSet::new(),
        requests_functions: HashSet::new(),
        sessions_made: HashSet::new(),
        urlopen: HashSet::new(),
        sessions: HashSet::new(),
        file: CodeFile {
            path: path.to_string(),
            candidate_work,
            status: FileStatus::Analysed,
            sql: Vec::new(),
            caught: Vec::new(),
            http: Vec::new(),
            credentials: scan_credentials(path, &lines, &module.body),
        },
    };
    s.imports(&module.body);
    s.module_sessions(&module.body);
    s.scope(&module.body);
    s.file
}

struct Scanner<'a> {
    path: &'a str,
    lines: &'a [&'a str],
    /// Names the `requests` module is bound to.
    requests: HashSet<String>,
    /// `from requests import get`: names bound to its functions.
    requests_functions: HashSet<String>,
    /// `from requests import Session`: names bound to its session class.
    sessions_made: HashSet<String>,
    urlopen: HashSet<String>,
    /// Names bound to a session anywhere in the module: a session made in one
    /// function is usually handed to helpers under the same name.
    sessions: HashSet<String>,
    file: CodeFile,
}

/// What a function's body assigns, for following a statement's text and a
/// value's origin; and the sessions it opens.
#[derive(Default)]
struct Scope<'a> {
    locals: HashMap<&'a str, Vec<&'a Expr>>,
    sessions: HashSet<String>,
}

#[derive(Debug)]
enum Piece<'a> {
    Lit(String),
    Hole(&'a Expr),
}

impl<'a> Scanner<'a> {
    fn site(&self, span: Span, what: String) -> Site {
        Site {
            file: self.path.to_string(),
            span,
            snippet: snippet_of(self.lines, span),
            what,
        }
    }

    fn imports(&mut self, body: &[Stmt]) {
        visit(body, &mut |s| match s {
            Stmt::Import { names, .. } => {
                for (module, alias) in names {
                    if module == "requests" {
                        self.requests
                            .insert(alias.clone().unwrap_or_else(|| module.clone()));
                    }
                }
            }
            Stmt::ImportFrom { module, names, .. } => {
                for (name, alias) in names {
                    let bound = alias.clone().unwrap_or_else(|| name.clone());
                    match (module.as_str(), name.as_str()) {
                        ("requests", "Session" | "session") => {
                            self.sessions_made.insert(bound);
                        }
                        ("requests", n) if HTTP_VERBS.contains(&n) => {
                            self.requests_functions.insert(bound);
                        }
                        ("urllib.request", "urlopen") => {
                            self.urlopen.insert(bound);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        });
    }

    fn module_sessions(&mut self, body: &[Stmt]) {
        let mut found = HashSet::new();
        visit(body, &mut |s| match s {
            Stmt::Assign { targets, value, .. } if self.makes_session(value) => {
                for t in targets {
                    if let Expr::Name { id } = t {
                        found.insert(id.clone());
                    }
                }
            }
            Stmt::With { items, .. } => {
                for i in items {
                    if let (Some(Expr::Name { id }), true) =
                        (&i.alias, self.makes_session(&i.value))
                    {
                        found.insert(id.clone());
                    }
                }
            }
            _ => {}
        });
        self.sessions = found;
    }

    /// A module's or a function's body: its own locals, then its statements.
    fn scope(&mut self, body: &'a [Stmt]) {
        let mut scope = Scope {
            sessions: self.sessions.clone(),
            ..Scope::default()
        };
        collect_locals(body, &mut scope.locals);
        for (name, values) in &scope.locals {
            if values.iter().any(|v| self.makes_session(v)) {
                scope.sessions.insert(name.to_string());
            }
        }
        collect_with_sessions(body, &mut |name, value| {
            if self.makes_session(value) {
                scope.sessions.insert(name.to_string());
            }
        });
        self.stmts(body, &scope, false);
    }

    fn makes_session(&self, e: &Expr) -> bool {
        let Expr::Call { func, .. } = e else {
            return false;
        };
        match func.as_ref() {
            Expr::Attr { value, attr } => {
                matches!(attr.as_str(), "Session" | "session")
                    && matches!(value.as_ref(), Expr::Name { id } if self.requests.contains(id))
            }
            Expr::Name { id } => self.sessions_made.contains(id),
            _ => false,
        }
    }

    /// `retry_loop`: inside a loop that surfaces the error once its attempts
    /// run out (a `raise` in the loop or right after it), where a clause
    /// that catches and goes round again is one attempt, not a swallow.
    fn stmts(&mut self, body: &'a [Stmt], scope: &Scope<'a>, retry_loop: bool) {
        for (i, stmt) in body.iter().enumerate() {
            let line = stmt.span().start;
            let surfaces = |inner: &[Stmt]| raises(inner) || raises(&body[i + 1..]);
            match stmt {
                Stmt::Def { body, .. } | Stmt::Class { body, .. } => self.scope(body),
                Stmt::For { iter, body, .. } => {
                    self.exprs(iter, line, scope);
                    self.stmts(body, scope, retry_loop || surfaces(body));
                }
                Stmt::Block {
                    body,
                    looped,
                    try_len,
                    handlers,
                    ..
                } => {
                    if !handlers.is_empty() {
                        let guarded = &body[..(*try_len).min(body.len())];
                        let exits = returns(guarded);
                        for h in handlers {
                            let broad = h.types.is_empty() || h.types.iter().any(is_broad);
                            let raises = raises(&h.body);
                            let reports = logs_error(&h.body);
                            let clause = describe_clause(&h.types);
                            let what = if broad && !raises && !reports {
                                format!("`{clause}` catches every error and carries on")
                            } else {
                                format!("`{clause}`")
                            };
                            let site = self.site(h.span, what);
                            self.file.caught.push(CaughtError {
                                site,
                                broad,
                                raises,
                                reports,
                                retry_attempt: retry_loop && exits,
                            });
                        }
                    }
                    self.stmts(body, scope, retry_loop || (*looped && surfaces(body)));
                }
                Stmt::With { items, body, .. } => {
                    for i in items {
                        self.exprs(&i.value, line, scope);
                    }
                    self.stmts(body, scope, retry_loop);
                }
                Stmt::If {
                    test, body, orelse, ..
                } => {
                    self.exprs(test, line, scope);
                    self.stmts(body, scope, retry_loop);
                    self.stmts(orelse, scope, retry_loop);
                }
                Stmt::Assign { value, .. } | Stmt::Expr { value, .. } => {
                    self.exprs(value, line, scope)
                }
                Stmt::AugAssign { value, .. } => self.exprs(value, line, scope),
                Stmt::Return { value: Some(v), .. } => self.exprs(v, line, scope),
                _ => {}
            }
        }
    }

    fn exprs(&mut self, e: &'a Expr, line: u32, scope: &Scope<'a>) {
        let _ = line;
        let mut calls: Vec<&'a Expr> = Vec::new();
        calls_in(e, &mut calls, 0);
        for c in calls {
            if let Expr::Call { func, args, span } = c {
                self.call(func, args, *span, scope);
            }
        }
    }

    fn call(&mut self, func: &'a Expr, args: &'a [Arg], span: Span, scope: &Scope<'a>) {
        if let Expr::Attr { attr, .. } = func {
            if attr == "execute" || attr == "executemany" {
                self.sql_call(attr, args, span, scope);
                return;
            }
        }
        if let Some(call) = self.http_call(func, scope) {
            let named_timeout = args.iter().any(|a| a.name.as_deref() == Some("timeout"));
            // urlopen(url, data, timeout): the third positional argument
            let positional_timeout =
                call == "urlopen" && args.iter().filter(|a| a.name.is_none()).count() >= 3;
            let timeout = if named_timeout || positional_timeout {
                Timeout::Given
            } else if args.iter().any(|a| a.star == 2) {
                Timeout::Unknown
            } else {
                Timeout::Missing
            };
            let what = match timeout {
                Timeout::Missing => {
                    format!("`{call}(...)` without a timeout: a stalled server hangs the task")
                }
                Timeout::Given => format!("`{call}(...)` with a timeout"),
                Timeout::Unknown => format!("`{call}(...)` with keyword arguments passed through"),
            };
            let site = self.site(span, what);
            self.file.http.push(HttpCall {
                site,
                call,
                timeout,
            });
        }
    }

    fn http_call(&self, func: &Expr, scope: &Scope) -> Option<String> {
        match func {
            Expr::Attr { value, attr } if HTTP_VERBS.contains(&attr.as_str()) => match value
                .as_ref()
            {
                Expr::Name { id } if self.requests.contains(id) || scope.sessions.contains(id) => {
                    Some(format!("{id}.{attr}"))
                }
                _ => None,
            },
            Expr::Attr { value, attr } if attr == "urlopen" => match value.as_ref() {
                Expr::Attr { attr: inner, .. } if inner == "request" => Some("urlopen".into()),
                _ => None,
            },
            Expr::Name { id } if self.requests_functions.contains(id) => Some(id.clone()),
            Expr::Name { id } if self.urlopen.contains(id) => Some("urlopen".into()),
            _ => None,
        }
    }

    fn sql_call(&mut self, method: &str, args: &'a [Arg], span: Span, scope: &Scope<'a>) {
        let positional: Vec<&Arg> = args
            .iter()
            .filter(|a| a.name.is_none() && a.star == 0)
            .collect();
        let statement = positional.first().map(|a| &a.value).or_else(|| {
            args.iter()
                .find(|a| matches!(a.name.as_deref(), Some("command" | "operation" | "sql")))
                .map(|a| &a.value)
        });
        let Some(statement) = statement else { return };
        let Some(pieces) = template(statement, scope, 0) else {
            return;
        };
        if !pieces
            .iter()
            .any(|p| matches!(p, Piece::Lit(t) if !t.trim().is_empty()))
        {
            return;
        }
        let bound = positional.len() >= 2
            || args.iter().any(|a| {
                a.star > 0
                    || matches!(
                        a.name.as_deref(),
                        Some("params" | "parameters" | "seqparams" | "args" | "binding_params")
                    )
            });
        let holes = holes(&pieces, scope);
        let values: Vec<&Hole> = holes.iter().filter(|h| h.is_value()).collect();
        let what = if values.is_empty() {
            format!("`.{method}(...)`: no value is written into the SQL text")
        } else {
            format!(
                "`.{method}(...)` writes {} into the SQL text",
                values
                    .iter()
                    .map(|h| format!("`{}`", h.expr))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let site = self.site(span, what);
        self.file.sql.push(SqlCall { site, bound, holes });
    }
}

/// The statement's text as literal pieces and interpolated values, or `None`
/// when it cannot be followed (a parameter, a value read at run time).
fn template<'a>(e: &'a Expr, scope: &Scope<'a>, depth: usize) -> Option<Vec<Piece<'a>>> {
    if depth > MAX_FOLLOW {
        return None;
    }
    let inline = |x: &'a Expr, out: &mut Vec<Piece<'a>>| match template(x, scope, depth + 1) {
        Some(p) => out.extend(p),
        None => out.push(Piece::Hole(x)),
    };
    match e {
        Expr::Str { parts, .. } => {
            let mut out = Vec::new();
            for p in parts {
                match p {
                    StrPart::Lit { text } => out.push(Piece::Lit(text.clone())),
                    StrPart::Interp { expr } => inline(expr, &mut out),
                }
            }
            Some(out)
        }
        Expr::BinOp {
            op, left, right, ..
        } if op == "+" => {
            let l = template(left, scope, depth + 1);
            let r = template(right, scope, depth + 1);
            if l.is_none() && r.is_none() {
                return None;
            }
            let mut out = l.unwrap_or_else(|| vec![Piece::Hole(left)]);
            out.extend(r.unwrap_or_else(|| vec![Piece::Hole(right)]));
            Some(out)
        }
        Expr::BinOp {
            op, left, right, ..
        } if op == "%" => {
            let base = template(left, scope, depth + 1)?;
            let mut values: Vec<&'a Expr> = match right.as_ref() {
                Expr::Tuple { items } => items.iter().collect(),
                other => vec![other],
            };
            values.reverse();
            let single = values.len() == 1;
            let mut out = Vec::new();
            for piece in base {
                let Piece::Lit(text) = piece else {
                    out.push(piece);
                    continue;
                };
                let mut last = 0;
                for m in PRINTF.find_iter(&text) {
                    out.push(Piece::Lit(text[last..m.start()].to_string()));
                    if m.as_str() == "%%" {
                        out.push(Piece::Lit("%".into()));
                    } else {
                        let v = if single {
                            values[0]
                        } else {
                            values.pop().unwrap_or(right.as_ref())
                        };
                        out.push(Piece::Hole(v));
                    }
                    last = m.end();
                }
                out.push(Piece::Lit(text[last..].to_string()));
            }
            Some(out)
        }
        Expr::Call { func, args, .. } => {
            let Expr::Attr { value, attr } = func.as_ref() else {
                return None;
            };
            if attr != "format" {
                return None;
            }
            let base = template(value, scope, depth + 1)?;
            let positional: Vec<&'a Expr> = args
                .iter()
                .filter(|a| a.name.is_none() && a.star == 0)
                .map(|a| &a.value)
                .collect();
            let mut next = 0;
            let mut out = Vec::new();
            for piece in base {
                let Piece::Lit(text) = piece else {
                    out.push(piece);
                    continue;
                };
                let mut last = 0;
                for c in FORMAT_FIELD.captures_iter(&text) {
                    let m = c.get(0).expect("whole match");
                    out.push(Piece::Lit(text[last..m.start()].to_string()));
                    match c.get(1) {
                        None => out.push(Piece::Lit(m.as_str()[..1].to_string())),
                        Some(field) => {
                            let key = field
                                .as_str()
                                .split([':', '!', '.', '['])
                                .next()
                                .unwrap_or("");
                            let v = if key.is_empty() {
                                next += 1;
                                positional.get(next - 1).copied()
                            } else if let Ok(i) = key.parse::<usize>() {
                                positional.get(i).copied()
                            } else {
                                args.iter()
                                    .find(|a| a.name.as_deref() == Some(key))
                                    .map(|a| &a.value)
                            };
                            out.push(Piece::Hole(v.unwrap_or(func.as_ref())));
                        }
                    }
                    last = m.end();
                }
                out.push(Piece::Lit(text[last..].to_string()));
            }
            Some(out)
        }
        Expr::Name { id } => {
            let values = scope.locals.get(id.as_str())?;
            values
                .iter()
                .rev()
                .find_map(|v| template(v, scope, depth + 1))
        }
        _ => None,
    }
}

/// Where each interpolated value sits in the SQL text.
fn holes(pieces: &[Piece], scope: &Scope) -> Vec<Hole> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut in_quote = false;
    // depth of parentheses inside a `VALUES (` list, 0 outside one
    let mut values_depth = 0usize;
    for p in pieces {
        match p {
            Piece::Lit(t) => {
                for (i, ch) in t.char_indices() {
                    match ch {
                        '\'' => in_quote = !in_quote,
                        '(' if !in_quote => {
                            if values_depth > 0 {
                                values_depth += 1;
                            } else if VALUES_OPEN.is_match(&format!("{text}{}", &t[..=i])) {
                                let before = format!("{text}{}", &t[..=i]);
                                if VALUES_OPEN
                                    .find_iter(&before)
                                    .last()
                                    .is_some_and(|m| m.end() == before.len())
                                {
                                    values_depth = 1;
                                }
                            }
                        }
                        ')' if !in_quote && values_depth > 0 => values_depth -= 1,
                        _ => {}
                    }
                }
                text.push_str(t);
            }
            Piece::Hole(e) => {
                if literal_only(e) {
                    // our own constants (`', '.join(['%s'] * n)`): no value enters
                    text.push('?');
                    continue;
                }
                out.push(Hole {
                    expr: shown(e),
                    quoted: in_quote,
                    after_comparison: values_depth > 0 || AFTER_COMPARISON.is_match(&text),
                    converted_by: converted_by(e, scope),
                });
                text.push('?');
            }
        }
    }
    out
}

/// Built only from literals (and lengths): placeholders, not data.
fn literal_only(e: &Expr) -> bool {
    match e {
        Expr::Str { parts, .. } => parts.iter().all(|p| matches!(p, StrPart::Lit { .. })),
        Expr::Int { .. } | Expr::Float { .. } => true,
        Expr::List { items } | Expr::Tuple { items } => items.iter().all(literal_only),
        Expr::BinOp { left, right, .. } => literal_only(left) && literal_only(right),
        Expr::Call { func, args, .. } => match func.as_ref() {
            Expr::Name { id } if id == "len" => true,
            Expr::Attr { value, attr } if attr == "join" => {
                literal_only(value) && args.iter().all(|a| literal_only(&a.value))
            }
            _ => false,
        },
        _ => false,
    }
}

/// The function whose result is interpolated, directly or through a local.
fn converted_by(e: &Expr, scope: &Scope) -> Option<String> {
    match e {
        Expr::Call { func, .. } => callee_name(func),
        Expr::Name { id } => scope
            .locals
            .get(id.as_str())?
            .iter()
            .rev()
            .find_map(|v| match v {
                Expr::Call { func, .. } => callee_name(func),
                _ => None,
            }),
        _ => None,
    }
}

fn callee_name(func: &Expr) -> Option<String> {
    match func {
        Expr::Name { id } => Some(id.clone()),
        Expr::Attr { attr, .. } => Some(attr.clone()),
        _ => None,
    }
}

/// An expression as the reader would recognise it.
fn shown(e: &Expr) -> String {
    let s = match e {
        Expr::Name { id } => id.clone(),
        Expr::Attr { value, attr } => format!("{}.{attr}", shown(value)),
        Expr::Subscript { value, index } => format!("{}[{}]", shown(value), shown(index)),
        Expr::Str { parts, .. } => {
            let text: String = parts
                .iter()
                .map(|p| match p {
                    StrPart::Lit { text } => text.clone(),
                    StrPart::Interp { expr } => format!("{{{}}}", shown(expr)),
                })
                .collect();
            format!("'{text}'")
        }
        Expr::Int { v } => v.to_string(),
        Expr::Call { func, .. } => format!("{}(...)", shown(func)),
        _ => "…".into(),
    };
    if s.chars().count() > 60 {
        let mut cut: String = s.chars().take(59).collect();
        cut.push('…');
        cut
    } else {
        s
    }
}

fn is_broad(e: &Expr) -> bool {
    match e {
        Expr::Name { id } => BROAD.contains(&id.as_str()),
        Expr::Attr { attr, .. } => BROAD.contains(&attr.as_str()),
        Expr::Tuple { items } | Expr::List { items } => items.iter().any(is_broad),
        _ => false,
    }
}

fn describe_clause(types: &[Expr]) -> String {
    if types.is_empty() {
        return "except:".into();
    }
    let names: Vec<String> = types
        .iter()
        .map(|t| match t {
            Expr::Tuple { items } => format!(
                "({})",
                items.iter().map(shown).collect::<Vec<_>>().join(", ")
            ),
            other => shown(other),
        })
        .collect();
    format!("except {}:", names.join(", "))
}

/// Every call inside an expression, outermost first.
fn calls_in<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>, depth: usize) {
    if depth > 64 {
        return;
    }
    let d = depth + 1;
    match e {
        Expr::Call { func, args, .. } => {
            out.push(e);
            calls_in(func, out, d);
            for a in args {
                calls_in(&a.value, out, d);
            }
        }
        Expr::Attr { value, .. } | Expr::Starred { value } | Expr::Lambda { body: value } => {
            calls_in(value, out, d)
        }
        Expr::Str { parts, .. } => {
            for p in parts {
                if let StrPart::Interp { expr } = p {
                    calls_in(expr, out, d);
                }
            }
        }
        Expr::List { items } | Expr::Tuple { items } => {
            items.iter().for_each(|i| calls_in(i, out, d))
        }
        Expr::Dict { items, .. } => {
            for i in items {
                match i {
                    DictItem::Pair { key, value, .. } => {
                        calls_in(key, out, d);
                        calls_in(value, out, d);
                    }
                    DictItem::Splat { value } => calls_in(value, out, d),
                }
            }
        }
        Expr::BinOp { left, right, .. } | Expr::BoolOp { left, right, .. } => {
            calls_in(left, out, d);
            calls_in(right, out, d);
        }
        Expr::Unary { operand, .. } => calls_in(operand, out, d),
        Expr::Subscript { value, index } => {
            calls_in(value, out, d);
            calls_in(index, out, d);
        }
        Expr::IfExp { body, test, orelse } => {
            calls_in(body, out, d);
            calls_in(test, out, d);
            calls_in(orelse, out, d);
        }
        Expr::Comp { body, clauses } => {
            calls_in(body, out, d);
            for c in clauses {
                match c {
                    CompClause::For { iter, .. } => calls_in(iter, out, d),
                    CompClause::If { test } => calls_in(test, out, d),
                }
            }
        }
        _ => {}
    }
}

/// Assignments of a body to plain names, nested blocks included, nested
/// functions and classes not (they are scopes of their own).
fn collect_locals<'a>(body: &'a [Stmt], out: &mut HashMap<&'a str, Vec<&'a Expr>>) {
    for s in body {
        match s {
            Stmt::Assign { targets, value, .. } => {
                for t in targets {
                    if let Expr::Name { id } = t {
                        out.entry(id.as_str()).or_default().push(value);
                    }
                }
            }
            Stmt::With { body, .. } | Stmt::For { body, .. } | Stmt::Block { body, .. } => {
                collect_locals(body, out)
            }
            Stmt::If { body, orelse, .. } => {
                collect_locals(body, out);
                collect_locals(orelse, out);
            }
            _ => {}
        }
    }
}

/// `with X(...) as name` in a body (not in nested functions).
fn collect_with_sessions<'a>(body: &'a [Stmt], f: &mut dyn FnMut(&'a str, &'a Expr)) {
    for s in body {
        match s {
            Stmt::With { items, body, .. } => {
                for i in items {
                    if let Some(Expr::Name { id }) = &i.alias {
                        f(id.as_str(), &i.value);
                    }
                }
                collect_with_sessions(body, f);
            }
            Stmt::For { body, .. } | Stmt::Block { body, .. } => collect_with_sessions(body, f),
            Stmt::If { body, orelse, .. } => {
                collect_with_sessions(body, f);
                collect_with_sessions(orelse, f);
            }
            _ => {}
        }
    }
}

/// Whether statements (not nested functions) satisfy `pred`.
fn any_stmt(body: &[Stmt], pred: &dyn Fn(&Stmt) -> bool) -> bool {
    body.iter().any(|s| {
        pred(s)
            || match s {
                Stmt::With { body, .. } | Stmt::For { body, .. } | Stmt::Block { body, .. } => {
                    any_stmt(body, pred)
                }
                Stmt::If { body, orelse, .. } => any_stmt(body, pred) || any_stmt(orelse, pred),
                _ => false,
            }
    })
}

fn returns(body: &[Stmt]) -> bool {
    any_stmt(body, &|s| matches!(s, Stmt::Return { .. }))
}

fn raises(body: &[Stmt]) -> bool {
    any_stmt(body, &|s| matches!(s, Stmt::Raise { .. }))
}

/// A logging call at error level (`log.exception(...)`, `logger.error(...)`).
fn logs_error(body: &[Stmt]) -> bool {
    any_stmt(body, &|s| match s {
        Stmt::Expr {
            value: Expr::Call { func, .. },
            ..
        } => {
            matches!(func.as_ref(), Expr::Attr { attr, .. } if ERROR_LOG_METHODS.contains(&attr.as_str()))
        }
        _ => false,
    })
}
