//! What the code means: which calls are parse-time work, what a shell command
//! asks dbt to do, what a Python callable does, and which pipeline stage a task
//! belongs to. The rules are documented in `analyse::dag`'s module docs.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use std::sync::LazyLock;

use super::eval::{snippet_of, V};
use super::model::{Callable, DbtInvocation, Known, Site, Span, Stage};
use super::syntax::{Arg, DictItem, Expr, Param, Stmt, StrPart};

/// Settings a task inherits from default_args and that checks read.
pub const TASK_SETTINGS: &[&str] = &[
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "on_failure_callback",
    "on_retry_callback",
    "on_success_callback",
    "on_execute_callback",
    "sla",
    "email",
    "email_on_failure",
    "email_on_retry",
    "pool",
    "pool_slots",
    "mode",
    "timeout",
    "poke_interval",
    "trigger_rule",
    "depends_on_past",
    "owner",
    "do_xcom_push",
    "outlets",
    "deferrable",
];

/// Airflow's own defaults for the settings checks read (core config defaults).
pub fn airflow_defaults(is_sensor: bool) -> Vec<(&'static str, Known)> {
    let mut out = vec![
        ("retries", Known::Int(0)),
        ("retry_delay", Known::Seconds(300.0)),
        ("retry_exponential_backoff", Known::Bool(false)),
        ("execution_timeout", Known::None),
        ("email_on_failure", Known::Bool(true)),
        ("trigger_rule", Known::Text("all_success".into())),
    ];
    if is_sensor {
        out.push(("mode", Known::Text("poke".into())));
        out.push(("timeout", Known::Seconds(604_800.0)));
    }
    out
}

pub(crate) fn is_sensor(operator: &str, kwargs: &BTreeMap<String, (V, u32)>) -> bool {
    let last = operator.rsplit('.').next().unwrap_or(operator);
    last.ends_with("Sensor") || operator == "@task.sensor" || kwargs.contains_key("poke_interval")
}

/// `datetime(...)` and friends: `Some(true)` for a constructor that is static
/// when its arguments are literals, `Some(false)` for the wall clock.
pub fn datetime_ctor(path: &str) -> Option<bool> {
    let p = path.trim_start_matches("airflow.");
    match p {
        "datetime.datetime"
        | "datetime.date"
        | "pendulum.datetime"
        | "pendulum.DateTime"
        | "pendulum.date"
        | "pendulum.parse"
        | "datetime.datetime.fromisoformat"
        | "datetime.datetime.strptime"
        | "pendulum.from_format" => Some(true),
        "datetime.datetime.now"
        | "datetime.datetime.utcnow"
        | "datetime.datetime.today"
        | "datetime.date.today"
        | "pendulum.now"
        | "pendulum.today"
        | "pendulum.yesterday"
        | "utils.dates.days_ago"
        | "utils.timezone.utcnow"
        | "utils.timezone.datetime.now"
        | "timezone.utcnow"
        | "sdk.timezone.utcnow" => Some(false),
        _ if p.ends_with("days_ago") => Some(false),
        _ => None,
    }
}

/// Calls that do real work while the scheduler parses the file.
pub fn top_level_work(path: &str) -> Option<String> {
    let last = path.rsplit('.').next().unwrap_or(path);
    let second = path.rsplit('.').nth(1).unwrap_or("");
    let what = if second == "Variable" && (last == "get" || last == "get_variable") {
        "reads an Airflow Variable from the metadata database on every parse"
    } else if second == "BaseHook" && last == "get_connection" {
        "reads a Connection from the metadata database on every parse"
    } else if path.starts_with("pandas.") || path.starts_with("pd.") {
        "runs pandas on every parse"
    } else if path.starts_with("requests.")
        || path.starts_with("httpx.")
        || path.starts_with("urllib.")
    {
        "makes a network request on every parse"
    } else if path.starts_with("subprocess.") || path == "os.system" {
        "runs a process on every parse"
    } else if path == "time.sleep" {
        "sleeps on every parse"
    } else if path == "builtins.open" {
        "opens a file on every parse"
    } else if last == "connect"
        && [
            "psycopg2",
            "duckdb",
            "sqlite3",
            "snowflake",
            "pymysql",
            "connector",
        ]
        .iter()
        .any(|m| path.contains(m))
    {
        "opens a database connection on every parse"
    } else if last == "create_engine" {
        "creates a database engine on every parse"
    } else if second.ends_with("Hook()")
        && [
            "get_records",
            "get_first",
            "run",
            "get_pandas_df",
            "get_conn",
            "get_df",
        ]
        .contains(&last)
    {
        "queries the warehouse through a hook on every parse"
    } else {
        return None;
    };
    Some(what.to_string())
}

static RUN_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{[^}]*\b(ds|ds_nodash|ts|ts_nodash|data_interval_start|data_interval_end|logical_date|execution_date|prev_ds|next_ds|prev_data_interval_start_success|macros\.ds_add|dag_run\.logical_date)\b[^}]*\}\}").unwrap()
});
static BROKEN_JINJA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(^|[^{])\{\s*(ds|ds_nodash|ts|ts_nodash|data_interval_start|data_interval_end|logical_date|execution_date|prev_ds|next_ds|macros|var|params|ti|task_instance|conn|dag_run)\b[^{}]*\}").unwrap()
});

pub fn has_run_date_template(text: &str) -> bool {
    RUN_DATE.is_match(text)
}

/// The rendered literal of an f-string that still reads like a Jinja expression:
/// `f"{{ ds }}"` becomes `{ ds }`, which Airflow leaves alone.
pub fn looks_like_broken_jinja(text: &str) -> bool {
    BROKEN_JINJA.is_match(text)
}

/// Every dbt invocation in a shell command.
pub fn parse_dbt(cmd: &str) -> Vec<DbtInvocation> {
    let mut out = Vec::new();
    for piece in cmd.split(['\n', ';', '|', '&']) {
        let tokens: Vec<&str> = piece.split_whitespace().collect();
        let Some(at) = tokens
            .iter()
            .position(|t| *t == "dbt" || t.ends_with("/dbt"))
        else {
            continue;
        };
        let rest = &tokens[at + 1..];
        // global flags before the subcommand
        let mut i = 0;
        while i < rest.len() && rest[i].starts_with('-') {
            let takes_value = matches!(
                rest[i],
                "--log-format" | "--profiles-dir" | "--project-dir" | "--log-level" | "--log-path"
            );
            i += if takes_value { 2 } else { 1 };
        }
        let Some(sub) = rest.get(i) else { continue };
        let mut command = sub.to_string();
        let mut j = i + 1;
        if (*sub == "source" || *sub == "docs") && rest.get(j).is_some_and(|s| !s.starts_with('-'))
        {
            command = format!("{sub} {}", rest[j]);
            j += 1;
        }
        let mut inv = DbtInvocation {
            command,
            select: Vec::new(),
            exclude: Vec::new(),
            target: None,
            full_refresh: false,
            macro_name: None,
            text: piece.trim().to_string(),
        };
        if inv.command == "run-operation" {
            inv.macro_name = rest.get(j).map(|s| s.to_string());
        }
        let mut k = j;
        while k < rest.len() {
            let flag = rest[k];
            let values = || {
                rest[k + 1..]
                    .iter()
                    .take_while(|v| !v.starts_with('-'))
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
            };
            match flag {
                "--select" | "-s" | "--models" | "-m" => inv.select.extend(values()),
                "--exclude" => inv.exclude.extend(values()),
                "--target" | "-t" => inv.target = rest.get(k + 1).map(|s| s.to_string()),
                "--full-refresh" => inv.full_refresh = true,
                _ => {}
            }
            k += 1;
        }
        out.push(inv);
    }
    out
}

/// A function body that does nothing: `pass`, `...`, a docstring.
pub fn is_trivial(body: &[Stmt]) -> bool {
    body.iter().all(|s| match s {
        Stmt::Other { .. } => true,
        Stmt::Expr { value, .. } => {
            matches!(value, Expr::Str { .. } | Expr::Opaque { .. } | Expr::None)
        }
        Stmt::Return { value, .. } => {
            value.is_none() || matches!(value, Some(Expr::None | Expr::Bool { .. }))
        }
        _ => false,
    })
}

pub fn dotted(e: &Expr) -> String {
    match e {
        Expr::Name { id } => id.clone(),
        Expr::Attr { value, attr } => format!("{}.{attr}", dotted(value)),
        Expr::Call { func, .. } => format!("{}()", dotted(func)),
        Expr::Subscript { value, .. } => format!("{}[]", dotted(value)),
        _ => "?".into(),
    }
}

/// Visits every expression under `body`, with the line of its statement.
pub fn walk(body: &[Stmt], f: &mut dyn FnMut(&Expr, u32)) {
    for s in body {
        let line = s.span().start;
        match s {
            Stmt::Assign { targets, value, .. } => {
                targets.iter().for_each(|t| walk_expr(t, line, f));
                walk_expr(value, line, f);
            }
            Stmt::AugAssign { target, value, .. } => {
                walk_expr(target, line, f);
                walk_expr(value, line, f);
            }
            Stmt::Expr { value, .. } => walk_expr(value, line, f),
            Stmt::With { items, body, .. } => {
                for i in items {
                    walk_expr(&i.value, line, f);
                }
                walk(body, f);
            }
            Stmt::Def {
                params,
                decorators,
                body,
                ..
            } => {
                for p in params {
                    if let Some(d) = &p.default {
                        walk_expr(d, line, f);
                    }
                }
                decorators.iter().for_each(|d| walk_expr(d, line, f));
                walk(body, f);
            }
            Stmt::Class { body, .. } | Stmt::Block { body, .. } => walk(body, f),
            Stmt::If {
                test, body, orelse, ..
            } => {
                walk_expr(test, line, f);
                walk(body, f);
                walk(orelse, f);
            }
            Stmt::For {
                target, iter, body, ..
            } => {
                walk_expr(target, line, f);
                walk_expr(iter, line, f);
                walk(body, f);
            }
            Stmt::Return { value: Some(v), .. } => walk_expr(v, line, f),
            _ => {}
        }
    }
}

pub fn walk_expr(e: &Expr, line: u32, f: &mut dyn FnMut(&Expr, u32)) {
    let line = match e {
        Expr::Call { span, .. } => span.start,
        Expr::Str { line, .. } | Expr::Dict { line, .. } | Expr::BinOp { line, .. } => *line,
        _ => line,
    };
    f(e, line);
    match e {
        Expr::Attr { value, .. } | Expr::Starred { value } | Expr::Lambda { body: value } => {
            walk_expr(value, line, f)
        }
        Expr::Call { func, args, .. } => {
            walk_expr(func, line, f);
            for Arg { value, line, .. } in args {
                walk_expr(value, *line, f);
            }
        }
        Expr::Str { parts, .. } => {
            for p in parts {
                if let StrPart::Interp { expr } = p {
                    walk_expr(expr, line, f);
                }
            }
        }
        Expr::List { items } | Expr::Tuple { items } => {
            items.iter().for_each(|i| walk_expr(i, line, f))
        }
        Expr::Dict { items, .. } => {
            for i in items {
                match i {
                    DictItem::Pair { key, value, line } => {
                        walk_expr(key, *line, f);
                        walk_expr(value, *line, f);
                    }
                    DictItem::Splat { value } => walk_expr(value, line, f),
                }
            }
        }
        Expr::BinOp { left, right, .. } | Expr::BoolOp { left, right, .. } => {
            walk_expr(left, line, f);
            walk_expr(right, line, f);
        }
        Expr::Unary { operand, .. } => walk_expr(operand, line, f),
        Expr::Subscript { value, index } => {
            walk_expr(value, line, f);
            walk_expr(index, line, f);
        }
        Expr::IfExp { body, test, orelse } => {
            walk_expr(body, line, f);
            walk_expr(test, line, f);
            walk_expr(orelse, line, f);
        }
        _ => {}
    }
}

fn has_raise(body: &[Stmt]) -> bool {
    body.iter().any(|s| match s {
        Stmt::Raise { .. } => true,
        Stmt::If { body, orelse, .. } => has_raise(body) || has_raise(orelse),
        Stmt::For { body, .. } | Stmt::With { body, .. } | Stmt::Block { body, .. } => {
            has_raise(body)
        }
        _ => false,
    })
}

/// Run-date names a task function receives from Airflow's context.
const CONTEXT_DATES: &[&str] = &[
    "ds",
    "ds_nodash",
    "logical_date",
    "execution_date",
    "data_interval_start",
    "data_interval_end",
];

const WAREHOUSE_READS: &[&str] = &[
    "read_sql",
    "read_sql_query",
    "read_sql_table",
    "get_pandas_df",
    "get_df",
    "read_gbq",
    "fetch_pandas_all",
];
const FILE_READS: &[&str] = &["read_csv", "read_parquet", "read_json", "read_excel"];
const FRAME_OPS: &[&str] = &[
    "merge",
    "groupby",
    "pivot_table",
    "pivot",
    "agg",
    "aggregate",
    "resample",
    "drop_duplicates",
    "fillna",
    "concat",
    "melt",
    "apply",
];
const WRITES: &[&str] = &[
    "to_sql",
    "to_gbq",
    "write_pandas",
    "insert_rows",
    "load_table_from_dataframe",
];
const ROW_FETCHES: &[&str] = &["fetchall", "get_records", "fetchmany"];
const BIG_SERIALISE: &[&str] = &["to_dict", "to_json", "to_records", "tolist", "to_csv"];

/// A function whose body is read, and the file it is in.
pub struct FnSource<'a> {
    pub path: &'a str,
    pub lines: &'a [&'a str],
    pub name: &'a str,
    pub span: Span,
    pub params: &'a [Param],
    pub body: &'a [Stmt],
}

/// An observation in one of the functions read: (function index, line, what).
type Seen = (usize, u32, String);

/// Reads what a Python task's function does: `fns[0]` is the task's function,
/// the rest the functions it calls (in the DAG file or the submission's
/// modules). Their work counts as the task's, each site in its own file.
pub fn read_callable(fns: &[FnSource]) -> Callable {
    let root = &fns[0];
    let mut reads: Vec<Seen> = Vec::new();
    let mut ops: Vec<Seen> = Vec::new();
    let mut writes: Vec<Seen> = Vec::new();
    let mut notifies = false;
    let mut extracts = false;
    let mut calls = 0usize;
    let mut raises = false;
    let mut wallclock: Vec<Seen> = Vec::new();
    let mut xcom: Vec<Seen> = Vec::new();
    let mut context_date = root
        .params
        .iter()
        .any(|p| CONTEXT_DATES.contains(&p.name.as_str()));
    for (i, f) in fns.iter().enumerate() {
        let name = f.name;
        raises |= has_raise(f.body);
        for (line, what) in large_returns(f.body, i == 0) {
            xcom.push((i, line, what));
        }
        walk(f.body, &mut |e, line| {
            if let Expr::Subscript { index, .. } = e {
                if let Expr::Str { parts, .. } = index.as_ref() {
                    if let [StrPart::Lit { text }] = parts.as_slice() {
                        context_date |= CONTEXT_DATES.contains(&text.as_str());
                    }
                }
            }
            if let Expr::Call { func, .. } = e {
                calls += 1;
                let d = dotted(func);
                let last = d.rsplit('.').next().unwrap_or(&d).trim_end_matches("()");
                let lower = d.to_ascii_lowercase();
                if last == "get_current_context" {
                    context_date = true;
                }
                if ["now", "utcnow", "today", "days_ago"].contains(&last) {
                    wallclock.push((
                    i,
                    line,
                    format!("`{name}` uses the wall-clock date (`{last}()`), so a rerun or backfill processes the wrong day"),
                ));
                }
                if WAREHOUSE_READS.contains(&last) || FILE_READS.contains(&last) {
                    reads.push((
                        i,
                        line,
                        format!("`{name}` reads a table into memory with `{last}`"),
                    ));
                }
                if FRAME_OPS.contains(&last) {
                    ops.push((
                        i,
                        line,
                        format!("`{name}` transforms a DataFrame with `{last}`"),
                    ));
                }
                if WRITES.contains(&last) {
                    writes.push((
                        i,
                        line,
                        format!("`{name}` writes a DataFrame back with `{last}`"),
                    ));
                }
                if lower.contains("slack")
                    || lower.contains("send_email")
                    || lower.contains("requests.post")
                    || lower.contains("notify")
                    || lower.contains("chat_postmessage")
                    || lower.contains("pagerduty")
                {
                    notifies = true;
                }
                if lower.contains("airbyte")
                    || lower.contains("fivetran")
                    || lower.contains("requests.get")
                {
                    extracts = true;
                }
            }
        });
    }
    let heavy: Vec<Seen> = if !ops.is_empty() && (!reads.is_empty() || !writes.is_empty())
        || (!reads.is_empty() && !writes.is_empty())
    {
        reads.iter().chain(&ops).chain(&writes).cloned().collect()
    } else {
        Vec::new()
    };
    let site = |(i, line, what): Seen| Site {
        file: fns[i].path.to_string(),
        span: Span {
            start: line,
            end: line,
        },
        snippet: snippet_of(
            fns[i].lines,
            Span {
                start: line,
                end: line,
            },
        )
        .trim()
        .to_string(),
        what,
    };
    let trivial = is_trivial(root.body);
    Callable {
        name: root.name.to_string(),
        span: root.span,
        trivial,
        heavy_transform: heavy.into_iter().map(site).collect(),
        checks_data: !trivial && raises && calls > 0,
        notifies,
        extracts,
        large_xcom: xcom.into_iter().map(site).collect(),
        wallclock: wallclock.into_iter().map(site).collect(),
        run_date_from_context: context_date,
        reads_from: fns[1..]
            .iter()
            .map(|f| format!("{}:{} `{}`", f.path, f.span.start, f.name))
            .collect(),
    }
}

/// Returns (and explicit pushes) of row sets or DataFrames: XCom lives in the
/// metadata database and is not meant for data. Only the task's own function
/// returns to XCom; a function it calls can still push.
fn large_returns(body: &[Stmt], returns_to_xcom: bool) -> Vec<(u32, String)> {
    let mut data_names: BTreeSet<String> = BTreeSet::new();
    let is_data_call = |e: &Expr| -> bool {
        let mut hit = false;
        walk_expr(e, 0, &mut |x, _| {
            if let Expr::Call { func, .. } = x {
                let d = dotted(func);
                let last = d.rsplit('.').next().unwrap_or(&d).to_string();
                if WAREHOUSE_READS.contains(&last.as_str())
                    || FILE_READS.contains(&last.as_str())
                    || ROW_FETCHES.contains(&last.as_str())
                    || last == "DataFrame"
                {
                    hit = true;
                }
            }
        });
        hit
    };
    collect_data_names(body, &is_data_call, &mut data_names);
    let mut out = Vec::new();
    let refers = |e: &Expr, names: &BTreeSet<String>| -> Option<String> {
        let mut found = None;
        walk_expr(e, 0, &mut |x, _| match x {
            Expr::Name { id } if names.contains(id) => found = Some(format!("`{id}`")),
            Expr::Call { func, .. } => {
                let d = dotted(func);
                let last = d.rsplit('.').next().unwrap_or(&d).to_string();
                if BIG_SERIALISE.contains(&last.as_str())
                    || ROW_FETCHES.contains(&last.as_str())
                    || WAREHOUSE_READS.contains(&last.as_str())
                {
                    found = Some(format!("`{last}()`"));
                }
            }
            _ => {}
        });
        found
    };
    visit_returns(body, &mut |s| match s {
        Stmt::Return {
            value: Some(v),
            span,
        } if returns_to_xcom => {
            if let Some(what) = refers(v, &data_names) {
                out.push((
                    span.start,
                    format!("returns {what} to XCom: a table's rows travel through the metadata database"),
                ));
            }
        }
        Stmt::Expr {
            value: Expr::Call { func, args, span },
            ..
        } if dotted(func).ends_with("xcom_push") => {
            for a in args {
                if let Some(what) = refers(&a.value, &data_names) {
                    out.push((span.start, format!("pushes {what} to XCom")));
                }
            }
        }
        _ => {}
    });
    out
}

fn collect_data_names(
    body: &[Stmt],
    is_data: &dyn Fn(&Expr) -> bool,
    names: &mut BTreeSet<String>,
) {
    for s in body {
        match s {
            Stmt::Assign { targets, value, .. } => {
                let derived = is_data(value) || {
                    let mut hit = false;
                    walk_expr(value, 0, &mut |x, _| {
                        if let Expr::Name { id } = x {
                            hit |= names.contains(id);
                        }
                    });
                    hit
                };
                if derived {
                    for t in targets {
                        if let Expr::Name { id } = t {
                            names.insert(id.clone());
                        }
                    }
                }
            }
            Stmt::With { body, .. } | Stmt::For { body, .. } | Stmt::Block { body, .. } => {
                collect_data_names(body, is_data, names)
            }
            Stmt::If { body, orelse, .. } => {
                collect_data_names(body, is_data, names);
                collect_data_names(orelse, is_data, names);
            }
            _ => {}
        }
    }
}

fn visit_returns(body: &[Stmt], f: &mut dyn FnMut(&Stmt)) {
    for s in body {
        f(s);
        match s {
            Stmt::With { body, .. } | Stmt::For { body, .. } | Stmt::Block { body, .. } => {
                visit_returns(body, f)
            }
            Stmt::If { body, orelse, .. } => {
                visit_returns(body, f);
                visit_returns(orelse, f);
            }
            _ => {}
        }
    }
}

fn words(id: &str) -> Vec<String> {
    id.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::to_string)
        .collect()
}

fn stage_of_dbt(inv: &DbtInvocation) -> (Vec<Stage>, bool) {
    match inv.command.as_str() {
        // dbt build tests each model before the models downstream of it are
        // built, so the marts it writes are published tested: it is transform,
        // test and publish at once.
        "build" => (vec![Stage::Transform, Stage::Test, Stage::Publish], false),
        "run" | "seed" | "snapshot" | "compile" => (vec![Stage::Transform], false),
        "test" => (vec![Stage::Test], true),
        "source freshness" => (vec![Stage::Extract], true),
        "docs generate" | "docs serve" => (vec![Stage::Publish], false),
        "run-operation" => {
            let m = inv
                .macro_name
                .clone()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if [
                "assert", "check", "test", "quality", "reconcil", "validate", "expect",
            ]
            .iter()
            .any(|w| m.contains(w))
            {
                (vec![Stage::Test], true)
            } else if ["publish", "refresh", "grant", "swap", "notify", "expose"]
                .iter()
                .any(|w| m.contains(w))
            {
                (vec![Stage::Publish], false)
            } else {
                (vec![Stage::Transform], false)
            }
        }
        _ => (Vec::new(), false),
    }
}

/// The stages a task covers, why, and whether it is a data check.
pub fn stages(
    operator: &str,
    task_id: &str,
    dbt: &[DbtInvocation],
    callable: Option<&Callable>,
    unresolved_callable: bool,
    has_outlets: bool,
    bash_command: Option<&str>,
) -> (Vec<Stage>, String, bool) {
    let class = operator.rsplit('.').next().unwrap_or(operator);
    let lc = class.to_ascii_lowercase();
    let one = |s: Stage, why: &str, check: bool| (vec![s], why.to_string(), check);
    if [
        "emptyoperator",
        "dummyoperator",
        "latestonlyoperator",
        "shortcircuitoperator",
    ]
    .contains(&lc.as_str())
        || lc.starts_with("branch")
        || operator == "@task.branch"
        || operator == "@task.short_circuit"
    {
        return (Vec::new(), format!("{class} only steers the run"), false);
    }
    if lc.contains("airbyte") || lc.contains("fivetran") || lc.contains("stitch") {
        return one(
            Stage::Extract,
            "an extract-and-load sync operator or sensor",
            false,
        );
    }
    if lc.contains("check") || lc.contains("greatexpectations") || lc.contains("soda") {
        return one(Stage::Test, "a data-quality check operator", true);
    }
    if lc.contains("dbt") {
        if lc.contains("test") {
            return one(Stage::Test, "a dbt test operator", true);
        }
        if lc.contains("docs") {
            return one(Stage::Publish, "a dbt docs operator", false);
        }
        if lc == "dbttaskgroup" {
            return (
                vec![Stage::Transform, Stage::Test],
                "a dbt task group runs models and their tests".into(),
                false,
            );
        }
        return one(Stage::Transform, "a dbt operator", false);
    }
    if !dbt.is_empty() {
        let mut all = BTreeSet::new();
        let mut checks = true;
        let mut commands = Vec::new();
        for inv in dbt {
            let (s, c) = stage_of_dbt(inv);
            all.extend(s);
            checks &= c;
            commands.push(format!("dbt {}", inv.command));
        }
        if !all.is_empty() {
            let stages: Vec<Stage> = all.into_iter().collect();
            return (stages, format!("runs {}", commands.join(", ")), checks);
        }
    }
    if let Some(c) = callable {
        if c.trivial {
            return (
                Vec::new(),
                format!("its function `{}` does nothing", c.name),
                false,
            );
        }
        let mut stages = Vec::new();
        let mut why = Vec::new();
        if c.extracts {
            stages.push(Stage::Extract);
            why.push("calls an extract-and-load API");
        }
        if !c.heavy_transform.is_empty() {
            stages.push(Stage::Transform);
            why.push("transforms data in Python");
        }
        if c.checks_data {
            stages.push(Stage::Test);
            why.push("raises when a data check fails");
        }
        if c.notifies {
            stages.push(Stage::Publish);
            why.push("notifies or refreshes a consumer");
        }
        if !stages.is_empty() {
            return (
                stages,
                why.join("; "),
                c.checks_data && stages_len_one(&why),
            );
        }
    }
    if lc.contains("triggerdagrun")
        || lc.contains("slack")
        || lc.contains("email")
        || lc.contains("http")
        || lc.contains("tableau")
        || lc.contains("looker")
        || lc.contains("powerbi")
    {
        return one(
            Stage::Publish,
            "notifies or refreshes a downstream consumer",
            false,
        );
    }
    if has_outlets {
        return one(
            Stage::Publish,
            "declares outlets that downstream consumers wait on",
            false,
        );
    }
    if class.contains("To") && lc.ends_with("operator") && !lc.starts_with("to") {
        return one(
            Stage::Extract,
            "a transfer operator moves data into the warehouse",
            false,
        );
    }
    if lc.ends_with("sensor") {
        return one(Stage::Extract, "waits for upstream data", false);
    }
    if lc.contains("sql")
        || lc.contains("postgres")
        || lc.contains("snowflake")
        || lc.contains("bigquery")
    {
        return one(Stage::Transform, "runs SQL in the warehouse", false);
    }
    // Last resort: a command the analyser cannot read, judged by the task's name.
    // A command that does nothing earns no stage whatever its name says.
    if let Some(cmd) = bash_command {
        let trimmed = cmd.trim();
        let first = trimmed.split_whitespace().next().unwrap_or("");
        if trimmed.is_empty() || ["echo", "true", ":", "sleep", "exit", "printf"].contains(&first) {
            return (
                Vec::new(),
                "its command does no pipeline work".into(),
                false,
            );
        }
    } else if callable.is_none() && !unresolved_callable {
        return (
            Vec::new(),
            format!("{class}: no recognised pipeline work"),
            false,
        );
    }
    let w = words(task_id);
    let has = |list: &[&str]| w.iter().any(|x| list.contains(&x.as_str()));
    if has(&["extract", "ingest", "sync", "load", "airbyte"]) {
        return one(
            Stage::Extract,
            "named as an extract step (its code is opaque)",
            false,
        );
    }
    if has(&["test", "check", "quality", "validate", "dq", "assert"]) {
        return one(Stage::Test, "named as a check (its code is opaque)", true);
    }
    if has(&["transform", "build", "model", "models"]) {
        return one(
            Stage::Transform,
            "named as a transform (its code is opaque)",
            false,
        );
    }
    if has(&["publish", "refresh", "notify", "export", "report"]) {
        return one(
            Stage::Publish,
            "named as a publish step (its code is opaque)",
            false,
        );
    }
    (Vec::new(), "no recognised pipeline work".into(), false)
}

fn stages_len_one(why: &[&str]) -> bool {
    why.len() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbt_commands_and_flags() {
        let inv = parse_dbt(
            "cd /x && dbt --no-use-colors build --select tag:daily +fct_orders --target prod --full-refresh",
        );
        assert_eq!(inv.len(), 1);
        assert_eq!(inv[0].command, "build");
        assert_eq!(inv[0].select, vec!["tag:daily", "+fct_orders"]);
        assert_eq!(inv[0].target.as_deref(), Some("prod"));
        assert!(inv[0].full_refresh);
        let inv = parse_dbt("dbt source freshness && dbt run -s staging; dbt test");
        let cmds: Vec<&str> = inv.iter().map(|i| i.command.as_str()).collect();
        assert_eq!(cmds, ["source freshness", "run", "test"]);
        assert_eq!(inv[1].select, vec!["staging"]);
        let inv = parse_dbt("dbt run-operation assert_rate --args '{}'");
        assert_eq!(inv[0].macro_name.as_deref(), Some("assert_rate"));
        assert!(parse_dbt("echo dbt-ish").is_empty());
    }

    #[test]
    fn jinja_detection() {
        assert!(has_run_date_template("--vars '{run_date: {{ ds }}}'"));
        assert!(has_run_date_template("{{ data_interval_start | ds }}"));
        assert!(!has_run_date_template("{ ds }"));
        assert!(looks_like_broken_jinja("run { ds } now"));
        assert!(!looks_like_broken_jinja("run {{ ds }} now"));
        assert!(!looks_like_broken_jinja("{\"min_rate\": 0.95}"));
    }
}
