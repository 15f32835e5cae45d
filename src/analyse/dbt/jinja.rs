//! The Jinja approximation of dbt's compiler: a model's source rendered by
//! minijinja under a dbt-like context (ref, source, config, is_incremental, var,
//! env_var, this, target and the project's own macros). `ref` and `source`
//! render into marker schemas ([`super::sql::REF_SCHEMA`] ...) so that the parsed
//! SQL still knows where each relation came from. A macro assay does not know
//! renders as `null` and is noted, never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::value::{Object, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::sql::{REF_SCHEMA, SOURCE_SCHEMA, THIS_SCHEMA};

static JINJA_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)(\{\{|\{%)(.*?)(\}\}|%\})").expect("static regex"));
static CALL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[^\w.|\s]|\s)([A-Za-z_]\w*)\s*\(").expect("static regex"));
static MACRO_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{%-?\s*macro\s+([A-Za-z_]\w*)").expect("static regex"));
static MACRO_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\{%-?\s*macro\s+([A-Za-z_]\w*).*?\{%-?\s*endmacro\s*-?%\}")
        .expect("static regex")
});
static SNAPSHOT_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{%-?\s*snapshot\s+([A-Za-z_]\w*)").expect("static regex"));
static TEST_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{%-?\s*test\s+([A-Za-z_]\w*)").expect("static regex"));
static STRIP_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*ref\(\s*(?:['"][^'"]*['"]\s*,\s*)?['"]([^'"]+)['"]"#).expect("static regex")
});
static STRIP_SOURCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]"#).expect("static regex")
});
static STRIP_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\{\{(.*?)\}\}|\{%(.*?)%\}|\{#(.*?)#\}").expect("static regex")
});

/// Largest rendered model kept, in bytes.
pub const MAX_RENDERED_BYTES: usize = 512 * 1024;

/// What the model's `config(...)` call and Jinja set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelConfig {
    pub materialized: Option<String>,
    pub unique_key: Option<Vec<String>>,
    pub incremental_strategy: Option<String>,
    pub on_schema_change: Option<String>,
    /// `enabled=false`: dbt neither builds nor tests the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The physical-layout settings given (`partition_by`, `cluster_by`,
    /// `partitioned_by`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layout: Vec<String>,
}

/// Config keys that lay a table out for its readers; a design decision about
/// scale whichever adapter honours it.
pub const LAYOUT_KEYS: &[&str] = &["partition_by", "cluster_by", "partitioned_by"];

/// One model to render.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RenderJob {
    pub model: String,
    pub source: String,
    /// The project's macro definitions (only `{% macro %}` blocks), prepended so
    /// models can call them by name.
    pub macros: String,
    pub vars: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    /// The full-refresh branch (`is_incremental()` false).
    pub full: Option<String>,
    /// The incremental branch, when the template changes with it.
    pub incremental: Option<String>,
    pub refs: Vec<String>,
    pub sources: Vec<String>,
    pub config: ModelConfig,
    pub unknown_macros: Vec<String>,
    pub missing_vars: Vec<String>,
    /// Why minijinja could not render the template; the stripped fallback was used.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Capture {
    refs: BTreeSet<String>,
    sources: BTreeSet<String>,
    config: ModelConfig,
    unknown: BTreeSet<String>,
    missing_vars: BTreeSet<String>,
}

type Shared = Arc<Mutex<Capture>>;

fn lock(c: &Shared) -> std::sync::MutexGuard<'_, Capture> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Names minijinja or dbt define that are not macros to stub.
const KNOWN_CALLABLES: &[&str] = &[
    "ref",
    "source",
    "config",
    "is_incremental",
    "var",
    "env_var",
    "log",
    "return",
    "run_query",
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "print",
    "zip",
    "caller",
    "statement",
    "debug",
    "if",
    "elif",
    "in",
    "not",
    "and",
    "or",
    "is",
    "for",
    "set",
    "do",
    "macro",
    "call",
    "filter",
    "with",
    "raise",
    "tojson",
    "super",
    "loop",
    "else",
];

fn called_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for cap in JINJA_TAG.captures_iter(text) {
        let body = &cap[2];
        for c in CALL.captures_iter(body) {
            let start = c.get(2).map(|m| m.start()).unwrap_or(0);
            let before = body[..start].trim_end();
            if before.ends_with('|')
                || before.ends_with('.')
                || before.ends_with("is")
                || before.ends_with("macro")
                || before.ends_with("test")
            {
                continue;
            }
            out.insert(c[2].to_string());
        }
    }
    out
}

fn defined_macros(text: &str) -> BTreeSet<String> {
    MACRO_NAME
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

/// Extracts `{% macro %}...{% endmacro %}` blocks of a macro file: generic test
/// and materialization blocks, which minijinja does not know, are left out.
pub fn macro_blocks(text: &str) -> Vec<(String, String)> {
    MACRO_BLOCK
        .captures_iter(text)
        .map(|c| (c[1].to_string(), c[0].to_string()))
        .collect()
}

/// Names of `{% snapshot name %}` blocks.
pub fn snapshot_blocks(text: &str) -> Vec<String> {
    SNAPSHOT_BLOCK
        .captures_iter(text)
        .map(|c| c[1].to_ascii_lowercase())
        .collect()
}

/// Names of `{% test name(...) %}` generic tests defined in a macro file.
pub fn generic_test_blocks(text: &str) -> Vec<String> {
    TEST_BLOCK
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

fn split_args(args: &[Value]) -> (Vec<Value>, BTreeMap<String, Value>) {
    let mut pos = Vec::new();
    let mut kw = BTreeMap::new();
    for a in args {
        if a.is_kwargs() {
            if let Ok(keys) = a.try_iter() {
                for k in keys {
                    if let Some(name) = k.as_str() {
                        if let Ok(v) = a.get_item(&k) {
                            kw.insert(name.to_string(), v);
                        }
                    }
                }
            }
        } else {
            pos.push(a.clone());
        }
    }
    (pos, kw)
}

fn string_list(v: &Value) -> Vec<String> {
    if let Some(s) = v.as_str() {
        return s
            .split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
    }
    v.try_iter()
        .map(|it| {
            it.filter_map(|x| x.as_str().map(|s| s.trim().to_ascii_lowercase()))
                .collect()
        })
        .unwrap_or_default()
}

/// A package namespace (`dbt_utils`, `dbt`, `adapter`, ...): known cross-database
/// macros render to DuckDB SQL, others to `null` and are noted.
#[derive(Debug)]
struct Namespace {
    name: &'static str,
    capture: Shared,
}

impl Object for Namespace {
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (pos, kw) = split_args(args);
        let arg = |i: usize, key: &str| -> String {
            pos.get(i)
                .or_else(|| kw.get(key))
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default()
        };
        let sql = match (self.name, method) {
            (_, "star") => "*".to_string(),
            (_, "generate_surrogate_key" | "surrogate_key") => {
                let cols = pos
                    .first()
                    .or_else(|| kw.get("field_list"))
                    .map(string_list)
                    .unwrap_or_default();
                format!(
                    "md5(concat_ws('-', {}))",
                    if cols.is_empty() {
                        "''".into()
                    } else {
                        cols.join(", ")
                    }
                )
            }
            (_, "date_trunc") => {
                format!("date_trunc('{}', {})", arg(0, "datepart"), arg(1, "date"))
            }
            (_, "dateadd") => format!(
                "({} + interval '{} {}')",
                arg(2, "from_date_or_timestamp"),
                arg(1, "interval"),
                arg(0, "datepart")
            ),
            (_, "datediff") => format!(
                "date_diff('{}', {}, {})",
                arg(2, "datepart"),
                arg(0, "first_date"),
                arg(1, "second_date")
            ),
            (
                _,
                "current_timestamp"
                | "current_timestamp_in_utc_backcompat"
                | "current_timestamp_backcompat",
            ) => "current_timestamp".to_string(),
            (_, "safe_cast") => format!("try_cast({} as {})", arg(0, "field"), arg(1, "type")),
            (_, "type_timestamp") => "timestamp".to_string(),
            (_, "type_string") => "varchar".to_string(),
            (_, "type_int" | "type_bigint") => "bigint".to_string(),
            (_, "type_numeric") => "numeric".to_string(),
            (_, "type_float") => "double".to_string(),
            (_, "type_boolean") => "boolean".to_string(),
            ("adapter", "dispatch") => {
                let capture = self.capture.clone();
                let name = arg(0, "macro_name");
                return Ok(Value::from_function(
                    move |_args: Rest<Value>| -> Result<Value, Error> {
                        lock(&capture)
                            .unknown
                            .insert(format!("adapter.dispatch('{name}')"));
                        Ok(Value::from("null"))
                    },
                ));
            }
            ("adapter", "get_relation" | "get_columns_in_relation" | "load_relation") => {
                return Ok(Value::from(()));
            }
            ("adapter", "quote") => arg(0, "identifier"),
            ("exceptions", _) | ("modules", _) => String::new(),
            (ns, m) => {
                lock(&self.capture).unknown.insert(format!("{ns}.{m}"));
                "null".to_string()
            }
        };
        Ok(Value::from(sql))
    }
}

/// Renders a model twice (full refresh, then incremental) and records what its
/// dbt calls said. Falls back to [`strip_jinja`] when minijinja refuses it.
pub fn render(job: &RenderJob) -> Rendered {
    let capture: Shared = Arc::new(Mutex::new(Capture::default()));
    let mut out = Rendered::default();
    let template = format!("{}{}", job.macros, job.source);
    let unknown = unknown_callables(job);
    let full = render_once(job, &template, &unknown, false, &capture);
    match full {
        Ok(full_sql) => {
            // The two renders differ only in what `is_incremental()` answers:
            // a template that never names it renders the same twice.
            if template.contains("is_incremental") {
                let inc = render_once(job, &template, &unknown, true, &capture).ok();
                out.incremental = inc.filter(|s| *s != full_sql);
            }
            out.full = Some(full_sql);
        }
        Err(e) => {
            out.error = Some(e);
            let stripped = strip_jinja(&job.source, &job.model);
            let mut c = lock(&capture);
            c.refs.extend(stripped.refs);
            c.sources.extend(stripped.sources);
            out.full = Some(stripped.sql);
        }
    }
    let c = lock(&capture);
    out.refs = c.refs.iter().cloned().collect();
    out.sources = c.sources.iter().cloned().collect();
    out.config = c.config.clone();
    out.unknown_macros = c.unknown.iter().cloned().collect();
    out.missing_vars = c.missing_vars.iter().cloned().collect();
    out
}

fn relation(schema: &str, name: &str) -> String {
    format!("{schema}.\"{}\"", name.replace('"', ""))
}

/// Names the template calls that neither it nor the project's macros define
/// and that are not dbt's own: they render as `null` and are reported.
fn unknown_callables(job: &RenderJob) -> BTreeSet<String> {
    let project = project_macro_names(&job.macros);
    let (defined, called) = (&project.0, &project.1);
    let own = defined_macros(&job.source);
    called_names(&job.source)
        .into_iter()
        .chain(called.iter().cloned())
        .filter(|name| {
            !defined.contains(name)
                && !own.contains(name)
                && !KNOWN_CALLABLES.contains(&name.as_str())
        })
        .collect()
}

/// The macros a project defines and the names they call. Every model of a
/// project comes with the same macros and a worker renders model after model,
/// so the last project's answer is kept.
fn project_macro_names(macros: &str) -> Arc<(BTreeSet<String>, BTreeSet<String>)> {
    type Names = (String, Arc<(BTreeSet<String>, BTreeSet<String>)>);
    static LAST: Mutex<Option<Names>> = Mutex::new(None);
    if let Some((text, names)) = lock_last(&LAST).as_ref() {
        if text == macros {
            return Arc::clone(names);
        }
    }
    let names = Arc::new((defined_macros(macros), called_names(macros)));
    *lock_last(&LAST) = Some((macros.to_string(), Arc::clone(&names)));
    names
}

fn lock_last<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn render_once(
    job: &RenderJob,
    template: &str,
    unknown: &BTreeSet<String>,
    incremental: bool,
    capture: &Shared,
) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_keep_trailing_newline(true);
    env.set_recursion_limit(64);

    let c = capture.clone();
    env.add_function("ref", move |args: Rest<Value>| -> Result<Value, Error> {
        let (pos, _) = split_args(&args);
        let name = pos
            .last()
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "ref() needs a model name"))?;
        let name = name.to_ascii_lowercase();
        lock(&c).refs.insert(name.clone());
        Ok(Value::from_safe_string(relation(REF_SCHEMA, &name)))
    });
    let c = capture.clone();
    env.add_function("source", move |args: Rest<Value>| -> Result<Value, Error> {
        let (pos, _) = split_args(&args);
        let parts: Vec<String> = pos
            .iter()
            .filter_map(|v| v.as_str().map(|s| s.to_ascii_lowercase()))
            .collect();
        if parts.len() != 2 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "source() needs a source and a table",
            ));
        }
        let name = format!("{}.{}", parts[0], parts[1]);
        lock(&c).sources.insert(name.clone());
        Ok(Value::from_safe_string(relation(SOURCE_SCHEMA, &name)))
    });
    let c = capture.clone();
    env.add_function("config", move |args: Rest<Value>| -> Result<Value, Error> {
        let (_, kw) = split_args(&args);
        let mut cap = lock(&c);
        let text = |k: &str| {
            kw.get(k)
                .and_then(|v| v.as_str().map(|s| s.to_ascii_lowercase()))
        };
        if let Some(v) = text("materialized") {
            cap.config.materialized = Some(v);
        }
        if let Some(v) = kw.get("unique_key") {
            cap.config.unique_key = Some(string_list(v));
        }
        if let Some(v) = text("incremental_strategy") {
            cap.config.incremental_strategy = Some(v);
        }
        if let Some(v) = text("on_schema_change") {
            cap.config.on_schema_change = Some(v);
        }
        if let Some(v) = kw.get("enabled") {
            cap.config.enabled = Some(v.is_true());
        }
        for key in LAYOUT_KEYS {
            if kw.get(*key).is_some_and(|v| v.is_true()) {
                cap.config.layout.push((*key).to_string());
            }
        }
        Ok(Value::from(""))
    });
    env.add_function("is_incremental", move || incremental);
    let vars = job.vars.clone();
    let c = capture.clone();
    env.add_function("var", move |args: Rest<Value>| -> Result<Value, Error> {
        let (pos, _) = split_args(&args);
        let name = pos
            .first()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if let Some(v) = vars.get(&name) {
            return Ok(Value::from_serialize(v));
        }
        if let Some(default) = pos.get(1) {
            return Ok(default.clone());
        }
        lock(&c).missing_vars.insert(name);
        Ok(Value::from(""))
    });
    env.add_function("env_var", |args: Rest<Value>| -> Result<Value, Error> {
        let (pos, _) = split_args(&args);
        Ok(pos.get(1).cloned().unwrap_or_else(|| Value::from("")))
    });
    env.add_function("log", |_args: Rest<Value>| -> Result<Value, Error> {
        Ok(Value::from(""))
    });
    env.add_function("return", |args: Rest<Value>| -> Result<Value, Error> {
        Ok(args.first().cloned().unwrap_or_else(|| Value::from("")))
    });
    env.add_function("run_query", |_args: Rest<Value>| -> Result<Value, Error> {
        Ok(Value::from(()))
    });
    for f in ["as_bool", "as_number", "as_text", "as_native"] {
        env.add_filter(f, |v: Value| v);
    }
    env.add_global(
        "this",
        Value::from_safe_string(relation(THIS_SCHEMA, &job.model)),
    );
    env.add_global("execute", false);
    env.add_global(
        "flags",
        Value::from_serialize(serde_json::json!({"FULL_REFRESH": false})),
    );
    env.add_global(
        "target",
        Value::from_serialize(serde_json::json!({
            "name": "grader", "type": "duckdb", "schema": "analytics", "database": "warehouse",
            "threads": 1, "profile_name": "grader"
        })),
    );
    for ns in [
        "dbt_utils",
        "dbt",
        "dbt_expectations",
        "adapter",
        "exceptions",
        "modules",
        "dbt_date",
        "audit_helper",
        "codegen",
    ] {
        env.add_global(
            ns,
            Value::from_object(Namespace {
                name: ns,
                capture: capture.clone(),
            }),
        );
    }
    for name in unknown {
        let c = capture.clone();
        let noted = name.clone();
        env.add_function(
            name.clone(),
            move |_args: Rest<Value>| -> Result<Value, Error> {
                lock(&c).unknown.insert(noted.clone());
                Ok(Value::from("null"))
            },
        );
    }
    let rendered = env
        .render_str(template, ())
        .map_err(|e| format!("Jinja: {e}"))?;
    if rendered.len() > MAX_RENDERED_BYTES {
        return Err(format!(
            "the rendered model is {} bytes, over the cap",
            rendered.len()
        ));
    }
    Ok(rendered)
}

pub struct Stripped {
    pub sql: String,
    pub refs: Vec<String>,
    pub sources: Vec<String>,
}

/// The fallback when a template cannot be rendered: `ref`/`source`/`this`
/// expressions become marker relations, every other Jinja expression `null`,
/// statements and comments vanish (line breaks kept so lines still match).
pub fn strip_jinja(text: &str, model: &str) -> Stripped {
    let mut refs = Vec::new();
    let mut sources = Vec::new();
    let (reff, src, tag) = (&*STRIP_REF, &*STRIP_SOURCE, &*STRIP_TAG);
    let sql = tag
        .replace_all(text, |cap: &regex::Captures| {
            let whole = &cap[0];
            let keep_lines = "\n".repeat(whole.matches('\n').count());
            if let Some(expr) = cap.get(1) {
                let e = expr
                    .as_str()
                    .trim()
                    .trim_start_matches('-')
                    .trim_end_matches('-');
                if let Some(m) = reff.captures(e) {
                    let name = m[1].to_ascii_lowercase();
                    refs.push(name.clone());
                    return format!("{}{keep_lines}", relation(REF_SCHEMA, &name));
                }
                if let Some(m) = src.captures(e) {
                    let name = format!(
                        "{}.{}",
                        m[1].to_ascii_lowercase(),
                        m[2].to_ascii_lowercase()
                    );
                    sources.push(name.clone());
                    return format!("{}{keep_lines}", relation(SOURCE_SCHEMA, &name));
                }
                if e.trim() == "this" {
                    return relation(THIS_SCHEMA, model);
                }
                return format!("null{keep_lines}");
            }
            keep_lines
        })
        .into_owned();
    Stripped { sql, refs, sources }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(source: &str) -> RenderJob {
        RenderJob {
            model: "m".into(),
            source: source.into(),
            ..RenderJob::default()
        }
    }

    #[test]
    fn renders_refs_sources_config_and_both_branches() {
        let r = render(&job(
            "{{ config(materialized='incremental', unique_key='order_id', on_schema_change='fail') }}\nselect * from {{ ref('stg_orders') }} join {{ source('marketplace', 'users') }} u on true\n{% if is_incremental() %}where x > (select max(x) from {{ this }}){% endif %}\n",
        ));
        assert_eq!(r.error, None);
        assert_eq!(r.refs, vec!["stg_orders"]);
        assert_eq!(r.sources, vec!["marketplace.users"]);
        assert_eq!(r.config.materialized.as_deref(), Some("incremental"));
        assert_eq!(r.config.unique_key, Some(vec!["order_id".to_string()]));
        assert!(!r.full.as_ref().unwrap().contains("__dbt_this"));
        assert!(r.incremental.as_ref().unwrap().contains("__dbt_this.\"m\""));
    }

    #[test]
    fn project_macros_and_vars_render_unknown_macros_are_noted() {
        let mut j = job("select {{ to_utc('a', var('tz')) }}, {{ mystery('b') }}, {{ dbt_utils.star(ref('x')) }} from t\n");
        j.macros =
            "{% macro to_utc(c, tz) %}({{ c }} at time zone '{{ tz }}'){% endmacro %}".into();
        j.vars
            .insert("tz".into(), serde_json::json!("America/New_York"));
        let r = render(&j);
        let sql = r.full.unwrap();
        assert!(sql.contains("(a at time zone 'America/New_York')"), "{sql}");
        assert!(sql.contains("null"), "{sql}");
        assert_eq!(r.unknown_macros, vec!["mystery"]);
        assert_eq!(r.refs, vec!["x"]);
    }

    #[test]
    fn broken_jinja_falls_back_to_stripping() {
        let r = render(&job("select * from {{ ref('a') }}\n{% if %}\n"));
        assert!(r.error.is_some());
        assert_eq!(r.refs, vec!["a"]);
        assert!(r.full.unwrap().contains("__dbt_ref.\"a\""));
    }

    #[test]
    fn macro_blocks_skip_tests() {
        let text =
            "{% macro a(x) %}{{ x }}{% endmacro %}\n{% test t(model) %}select 1{% endtest %}";
        let blocks = macro_blocks(text);
        assert_eq!(blocks.len(), 1);
        assert_eq!(generic_test_blocks(text), vec!["t"]);
    }
}
