//! Credentials written into the code. Unlike the DAG facts, this reads every
//! string in the file, dead code included: a secret in a repository leaks whether
//! or not the code that holds it runs. Comments are not read (the parser drops
//! them), and templated or looked-up values are not secrets.

use std::sync::LazyLock;

use regex::Regex;

use super::classify::walk_expr;
use super::eval::snippet_of;
use super::model::{Site, Span};
use super::syntax::{DictItem, Expr, Stmt, StrPart};

static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|credential|auth)",
    )
    .unwrap()
});
static NOT_A_SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(conn_id|_conn|_id$|_name$|_path$|_file$|_var$|_variable$|_env$|_url_var|_field$)",
    )
    .unwrap()
});
static SECRET_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[a-z][a-z0-9+.-]*://[^/\s:@{}]+:[^@\s/{}]+@",
        r"|AKIA[0-9A-Z]{16}",
        r"|xox[abposr]-[0-9A-Za-z-]{10,}",
        r"|hooks\.slack\.com/services/T[0-9A-Z]+/",
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"|gh[pousr]_[0-9A-Za-z]{30,}",
    ))
    .unwrap()
});

fn literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Str { parts, fstring, .. }
            if !*fstring || parts.iter().all(|p| matches!(p, StrPart::Lit { .. })) =>
        {
            Some(
                parts
                    .iter()
                    .map(|p| match p {
                        StrPart::Lit { text } => text.as_str(),
                        StrPart::Interp { .. } => "",
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// `SNOWFLAKE_PASSWORD`: the name of the environment variable that holds
/// the secret, not the secret.
static ENV_VAR_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$").unwrap());

fn looks_secret(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty()
        && !v.contains("{{")
        && !v.starts_with('$')
        && !ENV_VAR_NAME.is_match(v)
        && v.len() >= 4
}

fn name_of(target: &Expr) -> Option<String> {
    match target {
        Expr::Name { id } => Some(id.clone()),
        Expr::Attr { attr, .. } => Some(attr.clone()),
        Expr::Subscript { index, .. } => literal(index),
        _ => None,
    }
}

fn named_secret(name: &str) -> bool {
    SECRET_NAME.is_match(name) && !NOT_A_SECRET_NAME.is_match(name)
}

pub(crate) fn credentials(path: &str, lines: &[&str], body: &[Stmt]) -> Vec<Site> {
    let mut out: Vec<Site> = Vec::new();
    let mut push = |line: u32, what: String| {
        if out.iter().any(|s| s.span.start == line) {
            return;
        }
        let span = Span {
            start: line,
            end: line,
        };
        out.push(Site {
            file: path.to_string(),
            span,
            snippet: redact(&snippet_of(lines, span)),
            what,
        });
    };
    visit(body, &mut |stmt| {
        if let Stmt::Assign {
            targets,
            value,
            span,
        } = stmt
        {
            for t in targets {
                if let (Some(name), Some(v)) = (name_of(t), literal(value)) {
                    if named_secret(&name) && looks_secret(&v) {
                        push(span.start, format!("`{name}` is a hard-coded secret"));
                    }
                }
            }
        }
    });
    crate::analyse::dag::classify::walk(body, &mut |e, line| {
        match e {
            Expr::Call { args, .. } => {
                for a in args {
                    if let (Some(name), Some(v)) = (&a.name, literal(&a.value)) {
                        if named_secret(name) && looks_secret(&v) {
                            push(a.line, format!("`{name}=` is given a hard-coded secret"));
                        }
                    }
                }
            }
            Expr::Dict { items, .. } => {
                for i in items {
                    if let DictItem::Pair { key, value, line } = i {
                        if let (Some(name), Some(v)) = (literal(key), literal(value)) {
                            if named_secret(&name) && looks_secret(&v) {
                                push(*line, format!("`{name}` is a hard-coded secret"));
                            }
                        }
                    }
                }
            }
            Expr::Str { .. } => {
                if let Some(v) = literal(e) {
                    if SECRET_VALUE.is_match(&v) {
                        push(line, "a credential (key, token or password in a URI) is written into the code".into());
                    }
                }
            }
            _ => {}
        }
        let _ = walk_expr;
    });
    out
}

/// Every statement of a body, nested ones included.
pub(crate) fn visit<'a>(body: &'a [Stmt], f: &mut dyn FnMut(&'a Stmt)) {
    for s in body {
        f(s);
        match s {
            Stmt::With { body, .. }
            | Stmt::Def { body, .. }
            | Stmt::Class { body, .. }
            | Stmt::For { body, .. }
            | Stmt::Block { body, .. } => visit(body, f),
            Stmt::If { body, orelse, .. } => {
                visit(body, f);
                visit(orelse, f);
            }
            _ => {}
        }
    }
}

/// The report shows where a secret is, never the secret itself.
fn redact(snippet: &str) -> String {
    static QUOTED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"(["'])[^"'\n]{4,}(["'])"#).unwrap());
    QUOTED.replace_all(snippet, "${1}•••${2}").into_owned()
}
