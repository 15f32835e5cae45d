//! Hidden checks as data: the exercise pack's `hidden-checks.toml` (format in
//! `fixtures/<exercise>/README.md`), loaded and validated with the line of every
//! error; placeholders resolved to the relations dbt built; answers compared with
//! the snapshot's `truth.json`.
//!
//! Nothing here knows a figure: expected values come from truth.json (or a
//! constant in the pack file) and the money tolerance from the rubric.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use toml::Spanned;

use crate::checks::{Outcome, ParamError, Params};

/// The pack file's name inside `fixtures/<exercise>/`.
pub const FILE_NAME: &str = "hidden-checks.toml";

/// Every hidden check of one exercise pack.
#[derive(Debug, Clone, Serialize)]
pub struct HiddenChecks {
    pub path: PathBuf,
    pub checks: Vec<HiddenCheck>,
    /// Models whose row count and content checksum must not change on the third
    /// build: the contract models, listed in the pack file (`[idempotency]
    /// models`), or every model a check reads when the file lists none.
    pub idempotency_models: Vec<String>,
    /// The contract's required columns per model (`[idempotency] columns`): the
    /// rerun's checksum covers these alone, so an extra column such as a
    /// run-timestamp audit column does not count as a change.
    pub required_columns: BTreeMap<String, Vec<String>>,
    /// How long the exercise's builds may take (`[execution]`), when the pack
    /// says.
    pub execution: Option<ExecutionBudget>,
}

/// The time the sandbox gives a submission, sized from the exercise: the
/// reference solution's build time, measured on a small machine, times a
/// margin per phase and for the build phases together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionBudget {
    /// Seconds one `dbt build` of the strong reference solution takes.
    pub reference_build_secs: f64,
    /// A phase's deadline, in reference builds.
    pub deadline_multiple: f64,
    /// The three build phases together, in reference builds.
    pub budget_multiple: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HiddenCheck {
    pub id: String,
    pub title: String,
    /// The trap (T1-T8) the check guards, when it guards one.
    pub trap: Option<String>,
    pub phases: Vec<u8>,
    pub model: String,
    pub columns: Vec<String>,
    /// Further models the SQL reads, with the columns it needs from each.
    pub also: BTreeMap<String, Vec<String>>,
    /// DuckDB SQL with `{{ model }}` and `{{ raw.table }}` placeholders.
    pub sql: String,
    pub expected: ExpectedSource,
    pub compare: Compare,
    /// Series checks over truth records: only the records whose fields equal
    /// these values are compared (e.g. the USD orders, where a missing currency
    /// conversion cannot hide a duplicate).
    pub truth_where: BTreeMap<String, Value>,
    /// What a key the query returns but the truth does not list means.
    pub extra_keys: ExtraKeys,
    /// What a key the truth lists but the query does not return means.
    pub missing_keys: ExtraKeys,
    /// What a series key is, in the reader's words ("sellers", "months"),
    /// so the report reads "237 sellers, 3 mismatched".
    pub noun: Option<String>,
}

/// A series key in the candidate's answer that the truth does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraKeys {
    /// A mismatch (a money or count key counts only when it is not zero).
    #[default]
    Fail,
    /// Not compared: the model may hold more rows than the check judges (SPEC:
    /// reconciliation is read for the truth's GMV orders, joined by order_id),
    /// or, for missing keys, a row's absence is another check's business (a
    /// per-trap check judges the rows that exist, so a dropped row is not
    /// blamed on a conversion).
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpectedSource {
    /// A dotted path into truth.json; for a list of records, the fields that make
    /// it a map.
    Truth {
        path: String,
        key: Option<String>,
        value: Option<String>,
    },
    /// A constant given in the pack file (e.g. "no order confirmed before it was
    /// created" = 0).
    Constant(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    Count,
    Money,
    CountSeries,
    MoneySeries,
    LabelSeries,
    /// Per key, an instant: the query gives epoch seconds (or ISO-8601 text),
    /// the truth ISO-8601 UTC or null; they agree within the rubric's
    /// `instant_tolerance_secs`, and a null agrees only with a null or an
    /// absent key.
    InstantSeries,
    /// Every truth key is present in the answer; values are not compared.
    KeySet,
}

impl Compare {
    /// The name the pack file uses.
    pub fn name(self) -> &'static str {
        match self {
            Compare::Count => "count",
            Compare::Money => "money",
            Compare::CountSeries => "count_series",
            Compare::MoneySeries => "money_series",
            Compare::LabelSeries => "label_series",
            Compare::InstantSeries => "instant_series",
            Compare::KeySet => "key_set",
        }
    }

    pub fn is_series(self) -> bool {
        matches!(
            self,
            Compare::CountSeries
                | Compare::MoneySeries
                | Compare::LabelSeries
                | Compare::InstantSeries
                | Compare::KeySet
        )
    }
}

impl HiddenCheck {
    /// Every model the check reads, with the columns it needs from each.
    pub fn models(&self) -> BTreeMap<&str, &[String]> {
        let mut out: BTreeMap<&str, &[String]> = BTreeMap::new();
        out.insert(self.model.as_str(), self.columns.as_slice());
        for (m, cols) in &self.also {
            out.insert(m.as_str(), cols.as_slice());
        }
        out
    }

    pub fn runs_in(&self, phase: u8) -> bool {
        self.phases.contains(&phase)
    }

    /// The SQL with every placeholder replaced. `relation` gives the quoted
    /// relation of a model, or `None` when the model was not built.
    pub fn resolve_sql(&self, relation: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::with_capacity(self.sql.len());
        let mut rest = self.sql.as_str();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "unclosed placeholder".to_string())?;
            let name = after[..end].trim();
            if let Some(table) = name.strip_prefix("raw.") {
                out.push_str(&format!("raw.{}", quote_ident(table)));
            } else {
                out.push_str(&relation(name).ok_or_else(|| name.to_string())?);
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A double-quoted SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A problem in the pack file, with the line to fix.
#[derive(Debug, thiserror::Error)]
pub struct HiddenChecksError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for HiddenChecksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: Spanned<u32>,
    #[serde(default)]
    check: Vec<Spanned<RawCheck>>,
    idempotency: Option<RawIdempotency>,
    execution: Option<ExecutionBudget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdempotency {
    models: Spanned<Vec<String>>,
    #[serde(default)]
    columns: Option<Spanned<BTreeMap<String, Vec<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: Spanned<String>,
    title: String,
    trap: Option<Spanned<String>>,
    phases: Spanned<Vec<u8>>,
    model: Spanned<String>,
    columns: Spanned<Vec<String>>,
    also: Option<Spanned<BTreeMap<String, Vec<String>>>>,
    sql: Spanned<String>,
    truth: Option<Spanned<String>>,
    truth_key: Option<Spanned<String>>,
    truth_value: Option<Spanned<String>>,
    expect: Option<Spanned<f64>>,
    compare: Spanned<Compare>,
    truth_where: Option<Spanned<BTreeMap<String, toml::Value>>>,
    extra_keys: Option<ExtraKeys>,
    missing_keys: Option<ExtraKeys>,
    noun: Option<String>,
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

impl HiddenChecks {
    /// `fixtures/<exercise>/hidden-checks.toml`, or `None` when the pack has none.
    pub fn load_for(pack_dir: &Path) -> Result<Option<HiddenChecks>, HiddenChecksError> {
        let path = pack_dir.join(FILE_NAME);
        if !path.is_file() {
            return Ok(None);
        }
        HiddenChecks::load(&path).map(Some)
    }

    pub fn load(path: &Path) -> Result<HiddenChecks, HiddenChecksError> {
        let text = std::fs::read_to_string(path).map_err(|e| HiddenChecksError {
            path: path.to_path_buf(),
            line: None,
            message: e.to_string(),
        })?;
        HiddenChecks::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<HiddenChecks, HiddenChecksError> {
        let err = |span: Option<Range<usize>>, message: String| HiddenChecksError {
            path: path.to_path_buf(),
            line: span.map(|s| line_of(text, s.start)),
            message,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| err(e.span(), e.message().to_string()))?;
        if *raw.version.get_ref() != 1 {
            return Err(err(
                Some(raw.version.span()),
                format!(
                    "unsupported hidden-checks version {}; this assay reads version 1",
                    raw.version.get_ref()
                ),
            ));
        }
        let mut checks = Vec::new();
        let mut seen = BTreeSet::new();
        for spanned in raw.check {
            let whole = spanned.span();
            let c = spanned.into_inner();
            let id_span = c.id.span();
            let id = c.id.into_inner();
            let well_formed = id.strip_prefix("hidden.").is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
            });
            if !well_formed {
                return Err(err(
                    Some(id_span),
                    format!(
                        "check id `{id}` must be `hidden.<name>` in lower case, digits and `_`"
                    ),
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(err(Some(id_span), format!("check `{id}` appears twice")));
            }
            if c.title.trim().is_empty() {
                return Err(err(Some(whole), format!("check `{id}` needs a title")));
            }
            let trap = match c.trap {
                Some(t) => {
                    let span = t.span();
                    let t = t.into_inner();
                    let ok = t
                        .strip_prefix('T')
                        .is_some_and(|n| !n.is_empty() && n.chars().all(|d| d.is_ascii_digit()));
                    if !ok {
                        return Err(err(
                            Some(span),
                            format!("check `{id}`: trap `{t}` is not of the form T<number>"),
                        ));
                    }
                    Some(t)
                }
                None => None,
            };
            let phases_span = c.phases.span();
            let mut phases = c.phases.into_inner();
            phases.sort_unstable();
            phases.dedup();
            if phases.is_empty() || phases.iter().any(|p| !(1..=3).contains(p)) {
                return Err(err(
                    Some(phases_span),
                    format!("check `{id}`: phases must list some of 1, 2 and 3"),
                ));
            }
            let model_span = c.model.span();
            let model = c.model.into_inner();
            if !is_ident(&model) {
                return Err(err(
                    Some(model_span),
                    format!("check `{id}`: `{model}` is not a model name"),
                ));
            }
            let columns_span = c.columns.span();
            let columns = c.columns.into_inner();
            if columns.is_empty() || !columns.iter().all(|s| is_ident(s)) {
                return Err(err(
                    Some(columns_span),
                    format!("check `{id}`: columns must list the column names the SQL reads"),
                ));
            }
            let (also_span, also) = match c.also {
                Some(a) => (a.span(), a.into_inner()),
                None => (whole.clone(), BTreeMap::new()),
            };
            for (m, cols) in &also {
                if !is_ident(m) || m == &model || !cols.iter().all(|s| is_ident(s)) {
                    return Err(err(
                        Some(also_span.clone()),
                        format!("check `{id}`: `also` must map other model names to column names"),
                    ));
                }
            }
            let sql_span = c.sql.span();
            let sql = c.sql.into_inner();
            validate_placeholders(&sql, &model, &also)
                .map_err(|m| err(Some(sql_span.clone()), format!("check `{id}`: {m}")))?;
            let compare_span = c.compare.span();
            let compare = c.compare.into_inner();
            let expected = match (c.truth, c.expect) {
                (Some(path), None) => {
                    let path_span = path.span();
                    let path = path.into_inner();
                    if path.is_empty() || path.split('.').any(|seg| seg.is_empty()) {
                        return Err(err(
                            Some(path_span),
                            format!("check `{id}`: `{path}` is not a dotted path into truth.json"),
                        ));
                    }
                    let key = c.truth_key.map(Spanned::into_inner);
                    let value = c.truth_value.map(Spanned::into_inner);
                    if key.is_some() != value.is_some() {
                        return Err(err(
                            Some(path_span),
                            format!("check `{id}`: truth_key and truth_value go together"),
                        ));
                    }
                    if key.is_some() && !compare.is_series() {
                        return Err(err(
                            Some(path_span),
                            format!("check `{id}`: truth_key/truth_value need a series compare"),
                        ));
                    }
                    ExpectedSource::Truth { path, key, value }
                }
                (None, Some(v)) => {
                    if compare.is_series() {
                        return Err(err(
                            Some(v.span()),
                            format!(
                                "check `{id}`: a series check compares with truth, not a constant"
                            ),
                        ));
                    }
                    if c.truth_key.is_some() || c.truth_value.is_some() {
                        return Err(err(
                            Some(v.span()),
                            format!("check `{id}`: truth_key/truth_value need `truth`"),
                        ));
                    }
                    ExpectedSource::Constant(v.into_inner())
                }
                _ => {
                    return Err(err(
                        Some(compare_span),
                        format!("check `{id}`: give exactly one of `truth` and `expect`"),
                    ))
                }
            };
            let truth_where = match c.truth_where {
                Some(w) => {
                    let span = w.span();
                    let is_records =
                        matches!(&expected, ExpectedSource::Truth { key: Some(_), .. });
                    if !is_records {
                        return Err(err(
                            Some(span),
                            format!("check `{id}`: truth_where filters the records of a series with truth_key"),
                        ));
                    }
                    let mut out = BTreeMap::new();
                    for (k, v) in w.into_inner() {
                        let v = serde_json::to_value(&v).map_err(|e| {
                            err(
                                Some(span.clone()),
                                format!("check `{id}`: truth_where.{k}: {e}"),
                            )
                        })?;
                        out.insert(k, v);
                    }
                    out
                }
                None => BTreeMap::new(),
            };
            let extra_keys = c.extra_keys.unwrap_or_default();
            let missing_keys = c.missing_keys.unwrap_or_default();
            if (extra_keys == ExtraKeys::Ignore || missing_keys == ExtraKeys::Ignore)
                && !compare.is_series()
            {
                return Err(err(
                    Some(compare_span),
                    format!("check `{id}`: extra_keys and missing_keys apply to series checks"),
                ));
            }
            checks.push(HiddenCheck {
                id,
                title: c.title,
                trap,
                phases,
                model,
                columns,
                also,
                sql,
                expected,
                compare,
                truth_where,
                extra_keys,
                missing_keys,
                noun: c.noun,
            });
        }
        if checks.is_empty() {
            return Err(err(None, "the file defines no [[check]]".into()));
        }
        let mut required_columns = BTreeMap::new();
        let idempotency_models = match raw.idempotency {
            Some(idem) => {
                if let Some(cols) = idem.columns {
                    let span = cols.span();
                    for (m, c) in cols.into_inner() {
                        if !is_ident(&m) || c.is_empty() || !c.iter().all(|s| is_ident(s)) {
                            return Err(err(
                                Some(span),
                                "idempotency.columns must map model names to column names".into(),
                            ));
                        }
                        required_columns.insert(m, c);
                    }
                }
                let span = idem.models.span();
                let models = idem.models.into_inner();
                if models.is_empty() || !models.iter().all(|m| is_ident(m)) {
                    return Err(err(
                        Some(span),
                        "idempotency.models must list model names".into(),
                    ));
                }
                models
            }
            None => {
                let set: BTreeSet<String> = checks
                    .iter()
                    .flat_map(|c| c.models().into_keys().map(str::to_string))
                    .collect();
                set.into_iter().collect()
            }
        };
        if let Some(m) = required_columns
            .keys()
            .find(|m| !idempotency_models.contains(m))
        {
            return Err(err(
                None,
                format!("idempotency.columns names `{m}`, which idempotency.models does not list"),
            ));
        }
        if let Some(b) = &raw.execution {
            let ok = |v: f64| v.is_finite() && v > 0.0;
            if !(ok(b.reference_build_secs) && ok(b.deadline_multiple) && ok(b.budget_multiple)) {
                return Err(err(
                    None,
                    "execution: reference_build_secs, deadline_multiple and budget_multiple must be positive numbers".into(),
                ));
            }
        }
        Ok(HiddenChecks {
            path: path.to_path_buf(),
            checks,
            idempotency_models,
            required_columns,
            execution: raw.execution,
        })
    }

    pub fn find(&self, id: &str) -> Option<&HiddenCheck> {
        self.checks.iter().find(|c| c.id == id)
    }

    pub fn in_phase(&self, phase: u8) -> impl Iterator<Item = &HiddenCheck> {
        self.checks.iter().filter(move |c| c.runs_in(phase))
    }
}

fn validate_placeholders(
    sql: &str,
    model: &str,
    also: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    if sql.contains("{%") || sql.contains("{#") {
        return Err("only `{{ model }}` placeholders are templated; remove `{%`/`{#`".into());
    }
    let mut rest = sql;
    let mut used_model = false;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` placeholder is not closed".to_string())?;
        let name = after[..end].trim();
        if let Some(table) = name.strip_prefix("raw.") {
            if !is_ident(table) {
                return Err(format!("`{{{{ {name} }}}}` names no raw table"));
            }
        } else if name == model {
            used_model = true;
        } else if !also.contains_key(name) {
            return Err(format!(
                "placeholder `{{{{ {name} }}}}` is neither the check's model, a model in `also`, nor raw.<table>"
            ));
        }
        rest = &after[end + 2..];
    }
    if !used_model {
        return Err(format!("the SQL never reads `{{{{ {model} }}}}`"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Expected values from truth.json

/// What a check expects, looked up in one snapshot's truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Expected {
    Scalar(f64),
    /// key → number or label.
    Series(BTreeMap<String, Value>),
}

/// Looks the check's expected value up; `Err` names what is missing in truth.json
/// (a pack problem, not the candidate's).
pub fn expected_value(check: &HiddenCheck, truth: &Value) -> Result<Expected, String> {
    let (path, key, value) = match &check.expected {
        ExpectedSource::Constant(v) => return Ok(Expected::Scalar(*v)),
        ExpectedSource::Truth { path, key, value } => (path, key, value),
    };
    let mut node = truth;
    for seg in path.split('.') {
        node = node
            .get(seg)
            .ok_or_else(|| format!("truth.json has no `{path}`"))?;
    }
    if !check.compare.is_series() {
        return node
            .as_f64()
            .map(Expected::Scalar)
            .ok_or_else(|| format!("truth.json `{path}` is not a number"));
    }
    let mut map = BTreeMap::new();
    match (node, key, value) {
        (Value::Object(obj), None, None) => {
            for (k, v) in obj {
                map.insert(k.clone(), v.clone());
            }
        }
        (Value::Array(items), Some(k), Some(v)) => {
            let selected = items.iter().filter(|item| {
                check
                    .truth_where
                    .iter()
                    .all(|(field, want)| item.get(field) == Some(want))
            });
            for item in selected {
                let kv = item
                    .get(k)
                    .ok_or_else(|| format!("a record of `{path}` lacks `{k}`"))?;
                let vv = item
                    .get(v)
                    .ok_or_else(|| format!("a record of `{path}` lacks `{v}`"))?;
                map.insert(key_string(kv), vv.clone());
            }
        }
        _ => {
            return Err(format!(
                "truth.json `{path}` is not a series of the shape the check names"
            ))
        }
    }
    Ok(Expected::Series(map))
}

/// Keys compare as strings: a JSON string as is, a number in its plain form.
fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.to_string(),
        },
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

/// A value the warehouse returned, as a number (decimals arrive as strings).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Judging

/// The rubric's money tolerance: relative, with an absolute floor for figures
/// near zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub money_relative: f64,
    pub money_absolute: f64,
    /// How far apart two instants may be and still agree; `None` when the
    /// rubric gives none (an instant check then cannot be judged).
    pub instant_secs: Option<f64>,
}

impl Tolerance {
    pub fn from_params(params: &Params) -> Result<Tolerance, ParamError> {
        Ok(Tolerance {
            money_relative: params.float("money_relative_tolerance")?,
            money_absolute: params.float("money_absolute_tolerance")?,
            instant_secs: params.float("instant_tolerance_secs").ok(),
        })
    }

    fn money_agrees(&self, measured: f64, expected: f64) -> bool {
        (measured - expected).abs()
            <= (self.money_relative * expected.abs()).max(self.money_absolute)
    }
}

/// What the warehouse said for one check in one phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measurement {
    /// The query ran.
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
        truncated: bool,
    },
    /// The model is not in dbt's manifest: the candidate did not write it.
    MissingModel { model: String },
    /// The model was built without columns the check reads.
    MissingColumns { model: String, columns: Vec<String> },
    /// The model is in the manifest but no relation exists; `why` is what
    /// dbt's results say of the node (skipped behind a failing test, errored).
    NotBuilt {
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
    /// The model is ephemeral: dbt inlines it into other models and builds no
    /// relation, so there is nothing to query (the contract needs a table or
    /// view).
    Ephemeral { model: String },
    /// The query failed for another reason (the candidate's types, say).
    QueryFailed { error: String },
    /// The check could not run because of the submission (its project did not
    /// parse, the phase timed out).
    NotRun { reason: String },
    /// The check could not run because of the grader (runner failure, a pack
    /// problem); never counted against the candidate.
    GraderFailed { reason: String },
}

/// One check's verdict in one phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub check: String,
    pub phase: u8,
    pub outcome: Outcome,
    pub measured: Option<Value>,
    pub expected: Option<Value>,
    pub note: String,
    /// The check's query ran on the candidate's rows (false: the model was
    /// missing or not built, the query failed, the phase did not run). Only
    /// such a verdict says whether a trap is handled.
    #[serde(skip)]
    pub on_data: bool,
}

/// Compares a measurement with the truth. `expected` is `Err` when truth.json
/// lacks the figure (a grader problem).
pub fn judge(
    check: &HiddenCheck,
    phase: u8,
    measurement: &Measurement,
    expected: &Result<Expected, String>,
    tol: &Tolerance,
) -> Verdict {
    let on_data = matches!(measurement, Measurement::Rows { .. });
    let verdict = |outcome, measured, exp: Option<Value>, note: String| Verdict {
        check: check.id.clone(),
        phase,
        outcome,
        measured,
        expected: exp,
        note,
        on_data,
    };
    let (columns, rows, truncated) = match measurement {
        Measurement::Rows {
            columns,
            rows,
            truncated,
        } => (columns, rows, *truncated),
        Measurement::MissingModel { model } => {
            return verdict(
                Outcome::NotAttempted,
                None,
                None,
                format!("no model `{model}` in dbt's manifest"),
            )
        }
        Measurement::MissingColumns { model, columns } => {
            return verdict(
                Outcome::NotAttempted,
                None,
                None,
                format!("`{model}` lacks column(s) {}", columns.join(", ")),
            )
        }
        Measurement::Ephemeral { model } => {
            return verdict(
                Outcome::NotAttempted,
                None,
                None,
                format!(
                    "`{model}` is ephemeral: the contract needs a built relation (a table, view or incremental model) that can be queried"
                ),
            )
        }
        Measurement::NotBuilt { model, why } => {
            return verdict(
                Outcome::Fail,
                None,
                None,
                match why {
                    Some(why) => format!("`{model}` has no relation: {why}"),
                    None => format!("`{model}` is in the project but dbt built no relation for it"),
                },
            )
        }
        Measurement::QueryFailed { error } => {
            return verdict(
                Outcome::Fail,
                None,
                None,
                format!("the check's query failed on the candidate's model: {error}"),
            )
        }
        Measurement::NotRun { reason } => {
            return verdict(Outcome::Fail, None, None, format!("not run: {reason}"))
        }
        Measurement::GraderFailed { reason } => {
            return verdict(Outcome::Error, None, None, reason.clone())
        }
    };
    let expected = match expected {
        Ok(e) => e,
        Err(why) => return verdict(Outcome::Error, None, None, why.clone()),
    };
    match (expected, check.compare.is_series()) {
        (Expected::Scalar(exp), false) => {
            let idx = columns.iter().position(|c| c.eq_ignore_ascii_case("value"));
            let cell = idx.and_then(|i| rows.first().and_then(|r| r.get(i)));
            let Some(cell) = cell else {
                return verdict(
                    Outcome::Error,
                    None,
                    Some(json!(exp)),
                    "the check's query returned no `value`".into(),
                );
            };
            // An aggregate over no rows is NULL: the model is empty.
            let measured = if cell.is_null() {
                Some(0.0)
            } else {
                number(cell)
            };
            let Some(m) = measured else {
                return verdict(
                    Outcome::Fail,
                    Some(cell.clone()),
                    Some(json!(exp)),
                    "the value is not a number".into(),
                );
            };
            let ok = match check.compare {
                Compare::Money => tol.money_agrees(m, *exp),
                _ => (m - exp).abs() < 1e-9,
            };
            verdict(
                if ok { Outcome::Pass } else { Outcome::Fail },
                Some(json!(m)),
                Some(json!(exp)),
                if ok {
                    "agrees with the truth".into()
                } else {
                    {
                        let money = check.compare == Compare::Money;
                        format!(
                            "measured {}, expected {}",
                            crate::report::values::number(m, money),
                            crate::report::values::number(*exp, money)
                        )
                    }
                },
            )
        }
        (Expected::Series(exp), true) => {
            judge_series(check, phase, columns, rows, truncated, exp, tol)
        }
        _ => verdict(
            Outcome::Error,
            None,
            None,
            "truth.json's shape does not fit the check's compare kind".into(),
        ),
    }
}

fn judge_series(
    check: &HiddenCheck,
    phase: u8,
    columns: &[String],
    rows: &[Vec<Value>],
    truncated: bool,
    expected: &BTreeMap<String, Value>,
    tol: &Tolerance,
) -> Verdict {
    let verdict = |outcome, measured: Option<Value>, note: String| Verdict {
        check: check.id.clone(),
        phase,
        outcome,
        measured,
        expected: Some(json!({"keys": expected.len()})),
        note,
        on_data: true,
    };
    let col = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (Some(ki), Some(vi)) = (col("key"), col("value")) else {
        return verdict(
            Outcome::Error,
            None,
            "the check's query returned no `key` and `value` columns".into(),
        );
    };
    if check.compare == Compare::InstantSeries && tol.instant_secs.is_none() {
        return verdict(
            Outcome::Error,
            None,
            "the rubric gives no instant_tolerance_secs for this phase".into(),
        );
    }
    // The truth never has as many keys as the cap allows: an answer cut at the
    // cap holds keys the truth does not, and that is the candidate's model.
    if truncated {
        return verdict(
            Outcome::Fail,
            Some(json!({"keys": rows.len(), "truncated": true})),
            format!(
                "the model gave more than {} keys, far more than the truth's {}",
                rows.len(),
                expected.len()
            ),
        );
    }
    // Rows the check's own SQL marks as not judgeable (a figure within half a
    // cent of a threshold, where rounding decides either way).
    let li = col("lenient");
    let mut measured: BTreeMap<String, Value> = BTreeMap::new();
    let mut lenient: BTreeSet<String> = BTreeSet::new();
    let mut unreadable_keys = 0usize;
    let mut repeated = 0usize;
    for row in rows {
        let (Some(k), Some(v)) = (row.get(ki), row.get(vi)) else {
            continue;
        };
        if k.is_null() {
            unreadable_keys += 1;
            continue;
        }
        let key = key_string(k);
        if li.and_then(|i| row.get(i)).is_some_and(truthy) {
            lenient.insert(key.clone());
        }
        // A key the model repeats with the same value is a grain problem that
        // other checks judge; with another value it is a disagreement here.
        if let Some(previous) = measured.insert(key, v.clone()) {
            if &previous != v {
                repeated += 1;
            }
        }
    }
    let mut mismatches = Vec::new();
    let mut unreadable_values = 0usize;
    let compare = check.compare;
    let mut agrees = |m: Option<&Value>, e: Option<&Value>| -> bool {
        match compare {
            Compare::KeySet => m.is_some(),
            Compare::LabelSeries => match (m.and_then(label), e.and_then(label)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
            Compare::InstantSeries => {
                let m = m.filter(|v| !v.is_null());
                let e = e.filter(|v| !v.is_null());
                match (m, e) {
                    (None, None) => true,
                    (Some(m), Some(e)) => match (instant(m), instant(e)) {
                        (Some(a), Some(b)) => (a - b).abs() <= tol.instant_secs.unwrap_or(0.0),
                        (None, _) => {
                            unreadable_values += 1;
                            false
                        }
                        _ => false,
                    },
                    _ => false,
                }
            }
            _ => {
                let m = m.map_or(
                    Some(0.0),
                    |v| if v.is_null() { Some(0.0) } else { number(v) },
                );
                let e = e.map_or(Some(0.0), number);
                match (m, e) {
                    (Some(m), Some(e)) if compare == Compare::MoneySeries => tol.money_agrees(m, e),
                    (Some(m), Some(e)) => (m - e).abs() < 1e-9,
                    (None, _) => {
                        unreadable_values += 1;
                        false
                    }
                    _ => false,
                }
            }
        }
    };
    let mut keys: BTreeSet<&String> = match check.extra_keys {
        ExtraKeys::Fail => expected.keys().chain(measured.keys()).collect(),
        ExtraKeys::Ignore => expected.keys().collect(),
    };
    if check.missing_keys == ExtraKeys::Ignore {
        keys.retain(|k| measured.contains_key(*k) || !expected.contains_key(*k));
        if !expected.is_empty() && !keys.iter().any(|k| expected.contains_key(*k)) {
            return verdict(
                Outcome::Fail,
                Some(
                    json!({"keys": measured.len(), "mismatched_keys": expected.len(), "examples": []}),
                ),
                format!(
                    "none of the truth's {} keys is in the model",
                    expected.len()
                ),
            );
        }
    }
    let mut judged = 0usize;
    for key in &keys {
        if lenient.contains(*key) {
            continue;
        }
        judged += 1;
        let (m, e) = (measured.get(*key), expected.get(*key));
        if !agrees(m, e) {
            mismatches.push(json!({"key": key, "measured": m, "expected": e}));
        }
    }
    let n = mismatches.len() + unreadable_keys + repeated;
    let ok = n == 0;
    mismatches.truncate(5);
    let mut why = Vec::new();
    if !mismatches.is_empty() {
        why.push(format!(
            "{} of {judged} keys disagree with the truth",
            n - unreadable_keys - repeated
        ));
    }
    if unreadable_keys > 0 {
        why.push(format!(
            "{unreadable_keys} rows have a key that could not be read as the check's type"
        ));
    }
    if unreadable_values > 0 {
        why.push(format!(
            "{unreadable_values} values could not be read as the check's type"
        ));
    }
    if repeated > 0 {
        why.push(format!(
            "{repeated} keys appear more than once with different values"
        ));
    }
    let mut measured_summary = json!({
        "keys": measured.len(),
        "mismatched_keys": n,
        "examples": mismatches,
    });
    if !lenient.is_empty() {
        measured_summary["lenient_keys"] = json!(lenient.len());
    }
    verdict(
        if ok { Outcome::Pass } else { Outcome::Fail },
        Some(measured_summary),
        if ok {
            format!("all {judged} keys agree with the truth")
        } else {
            why.join("; ")
        },
    )
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "t" | "1"),
        _ => false,
    }
}

/// A label as text: strings trimmed and lower-cased, booleans and numbers in
/// their plain form, so a BOOLEAN column and a 'true' text agree.
fn label(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_lowercase()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.to_string(),
        }),
        _ => None,
    }
}

/// An instant as epoch seconds: a number as is, or ISO-8601 text with or
/// without an offset (without one it means UTC, as SPEC says of naive
/// `*_utc` columns).
fn instant(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(f) = s.parse::<f64>() {
                return Some(f);
            }
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1e3);
            }
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
                .map(|t| {
                    let t = t.and_utc();
                    t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1e3
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/marketplace-elt/hidden-checks.toml")
    }

    fn tol() -> Tolerance {
        Tolerance {
            money_relative: 0.005,
            money_absolute: 0.01,
            instant_secs: Some(1.0),
        }
    }

    const ONE: &str = r#"version = 1

[[check]]
id = "hidden.a"
title = "a"
phases = [1]
model = "fct_orders"
columns = ["order_id"]
sql = "select count(*) as value from {{ fct_orders }}"
truth = "orders.total"
compare = "count"
"#;

    /// The pack README's table of what each check sees is the one a reader
    /// trusts: every check appears in it once, with its own trap and model.
    #[test]
    fn the_pack_readme_lists_every_check_with_its_trap_and_model() {
        let pack =
            HiddenChecks::parse(&pack_path(), &std::fs::read_to_string(pack_path()).unwrap())
                .unwrap();
        let readme = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/marketplace-elt/README.md"),
        )
        .unwrap();
        let mut rows: BTreeMap<String, (String, String)> = BTreeMap::new();
        for line in readme.lines().filter(|l| l.starts_with("| `hidden.")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let id = cells[1].trim_matches('`').to_string();
            let row = (cells[2].to_string(), cells[3].trim_matches('`').to_string());
            assert!(rows.insert(id.clone(), row).is_none(), "{id} listed twice");
        }
        for c in &pack.checks {
            let row = rows
                .remove(&c.id)
                .unwrap_or_else(|| panic!("{} is not in the pack README's table", c.id));
            assert_eq!(
                row,
                (c.trap.clone().unwrap_or_default(), c.model.clone()),
                "{}: the README's trap and model differ from the check's",
                c.id
            );
        }
        assert!(
            rows.is_empty(),
            "the README lists checks the pack lacks: {rows:?}"
        );
    }

    fn parse(text: &str) -> Result<HiddenChecks, HiddenChecksError> {
        HiddenChecks::parse(Path::new("h.toml"), text)
    }

    #[test]
    fn the_marketplace_pack_loads_and_lists_the_contract_models() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        assert!(pack.checks.len() >= 20, "{}", pack.checks.len());
        assert_eq!(pack.idempotency_models.len(), 9);
        for c in &pack.checks {
            assert!(c.runs_in(1) || c.runs_in(2) || c.runs_in(3));
        }
        // Every contract model a check reads is compared on the rerun.
        for c in &pack.checks {
            assert!(
                pack.idempotency_models.contains(&c.model),
                "{} reads {}",
                c.id,
                c.model
            );
        }
    }

    #[test]
    fn errors_name_their_line() {
        let cases = [
            (
                ONE.replace("\"hidden.a\"", "\"a\""),
                "hidden.<name>",
                "id = ",
            ),
            (ONE.replace("[1]", "[4]"), "phases", "phases = "),
            (
                ONE.replace("{{ fct_orders }}", "{{ fct_order }}"),
                "placeholder",
                "sql = ",
            ),
            (
                ONE.replace(
                    "truth = \"orders.total\"",
                    "expect = 0\ntruth = \"orders.total\"",
                ),
                "exactly one",
                "compare = ",
            ),
            (
                ONE.replace("compare = \"count\"", "compare = \"median\""),
                "median",
                "compare = ",
            ),
            (
                ONE.replace("{{ fct_orders }}", "{% if x %}"),
                "templated",
                "sql = ",
            ),
        ];
        for (text, needle, line_start) in cases {
            let err = parse(&text).unwrap_err();
            let expected_line = text
                .lines()
                .position(|l| l.starts_with(line_start))
                .unwrap()
                + 1;
            assert!(err.message.contains(needle), "{err}");
            assert_eq!(err.line, Some(expected_line), "{err}");
            assert!(err
                .to_string()
                .starts_with(&format!("h.toml:{expected_line}: ")));
        }
        let twice = format!("{ONE}\n{}", &ONE[ONE.find("[[check]]").unwrap()..]);
        assert!(parse(&twice).unwrap_err().message.contains("twice"));
    }

    #[test]
    fn placeholders_resolve_to_quoted_relations_and_raw_tables() {
        let text = ONE.replace(
            "from {{ fct_orders }}\"",
            "from {{ fct_orders }} o join {{raw.users}} u on true\"",
        );
        let c = &parse(&text).unwrap().checks[0];
        let sql = c
            .resolve_sql(&|m| (m == "fct_orders").then(|| "\"main_marts\".\"fct_orders\"".into()))
            .unwrap();
        assert_eq!(
            sql,
            "select count(*) as value from \"main_marts\".\"fct_orders\" o join raw.\"users\" u on true"
        );
        assert_eq!(c.resolve_sql(&|_| None).unwrap_err(), "fct_orders");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    fn rows(pairs: &[(Value, Value)]) -> Measurement {
        Measurement::Rows {
            columns: vec!["key".into(), "value".into()],
            rows: pairs
                .iter()
                .map(|(k, v)| vec![k.clone(), v.clone()])
                .collect(),
            truncated: false,
        }
    }

    #[test]
    fn series_compare_every_key_of_the_truth() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        let truth = json!({
            "sellers": {"rows": [
                {"seller_id": 1, "gmv_usd": 100.0, "current_tier": "gold"},
                {"seller_id": 2, "gmv_usd": 0.0, "current_tier": "bronze"}
            ]},
            "payments": {"events_by_type": {"captured": 5, "failed": 1}}
        });
        let gmv = pack.find("hidden.seller_gmv_each").unwrap();
        let exp = expected_value(gmv, &truth);
        let good = rows(&[(json!(1), json!("100.30")), (json!(2), json!("0.00"))]);
        assert_eq!(judge(gmv, 1, &good, &exp, &tol()).outcome, Outcome::Pass);
        // A seller missing from the result counts as 0, which is right for seller 2
        // but not for seller 1.
        let missing = rows(&[(json!(2), json!(0))]);
        let v = judge(gmv, 1, &missing, &exp, &tol());
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.measured.unwrap()["mismatched_keys"], json!(1));
        // An extra key with money fails unless it is zero.
        let extra = rows(&[(json!(1), json!(100)), (json!(3), json!(5))]);
        assert_eq!(judge(gmv, 1, &extra, &exp, &tol()).outcome, Outcome::Fail);

        let tier = pack.find("hidden.seller_current_tier").unwrap();
        let exp = expected_value(tier, &truth);
        let good = rows(&[(json!(1), json!("gold")), (json!(2), json!("bronze"))]);
        assert_eq!(judge(tier, 1, &good, &exp, &tol()).outcome, Outcome::Pass);
        let short = rows(&[(json!(1), json!("gold"))]);
        assert_eq!(judge(tier, 1, &short, &exp, &tol()).outcome, Outcome::Fail);

        let by_type = pack.find("hidden.payments_events_by_type").unwrap();
        let exp = expected_value(by_type, &truth);
        let dup = rows(&[(json!("captured"), json!(6)), (json!("failed"), json!(1))]);
        assert_eq!(judge(by_type, 2, &dup, &exp, &tol()).outcome, Outcome::Fail);
    }

    #[test]
    fn scalars_counts_exact_money_within_tolerance() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        let truth = json!({"gmv": {"total_usd": 10000.0}, "payments": {"unique_events": 10}});
        let gmv = pack.find("hidden.gmv_total").unwrap();
        let exp = expected_value(gmv, &truth);
        let one = |v: Value| Measurement::Rows {
            columns: vec!["value".into()],
            rows: vec![vec![v]],
            truncated: false,
        };
        assert_eq!(
            judge(gmv, 1, &one(json!("10049.99")), &exp, &tol()).outcome,
            Outcome::Pass
        );
        assert_eq!(
            judge(gmv, 1, &one(json!("10050.01")), &exp, &tol()).outcome,
            Outcome::Fail
        );
        let count = pack.find("hidden.payments_unique_events").unwrap();
        let exp = expected_value(count, &truth);
        assert_eq!(
            judge(count, 1, &one(json!(10)), &exp, &tol()).outcome,
            Outcome::Pass
        );
        assert_eq!(
            judge(count, 1, &one(json!(11)), &exp, &tol()).outcome,
            Outcome::Fail
        );
        // A missing figure in truth.json is the grader's problem, not a fail.
        let none = expected_value(count, &json!({}));
        assert_eq!(
            judge(count, 1, &one(json!(10)), &none, &tol()).outcome,
            Outcome::Error
        );
        // Missing columns are not attempted; a failing query on a built model fails.
        let cols = Measurement::MissingColumns {
            model: "fct_payments".into(),
            columns: vec!["event_id".into()],
        };
        assert_eq!(
            judge(count, 1, &cols, &exp, &tol()).outcome,
            Outcome::NotAttempted
        );
        let failed = Measurement::QueryFailed {
            error: "Conversion Error".into(),
        };
        assert_eq!(
            judge(count, 1, &failed, &exp, &tol()).outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn per_order_checks_isolate_their_trap() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        let truth = json!({
            "orders": {"rows": [
                {"order_id": 1, "confirmed_at_utc": "2026-03-10T14:05:00Z"},
                {"order_id": 2, "confirmed_at_utc": null}
            ]},
            "reconciliation": {"rows": [
                {"order_id": 1, "currency": "USD", "order_total_usd": 10.0, "captured_usd": 10.0, "is_matched": true},
                {"order_id": 3, "currency": "EUR", "order_total_usd": 21.6, "captured_usd": 21.6, "is_matched": true}
            ]}
        });
        // T3: the true instant as epoch seconds or ISO text passes; read as UTC
        // (four hours off), NULL or an unreadable value fails.
        let t3 = pack
            .find("hidden.orders_confirmed_at_true_instant")
            .unwrap();
        let exp = expected_value(t3, &truth);
        let instant = 1_773_151_500.0; // 2026-03-10T14:05:00Z
        let ok = rows(&[
            (json!(1), json!(instant.to_string())),
            (json!(2), Value::Null),
        ]);
        assert_eq!(judge(t3, 1, &ok, &exp, &tol()).outcome, Outcome::Pass);
        let iso = rows(&[
            (json!(1), json!("2026-03-10 14:05:00")),
            (json!(2), Value::Null),
        ]);
        assert_eq!(judge(t3, 1, &iso, &exp, &tol()).outcome, Outcome::Pass);
        let as_utc = rows(&[(json!(1), json!((instant - 4.0 * 3600.0).to_string()))]);
        assert_eq!(judge(t3, 1, &as_utc, &exp, &tol()).outcome, Outcome::Fail);
        let null = rows(&[(json!(1), Value::Null), (json!(2), Value::Null)]);
        assert_eq!(judge(t3, 1, &null, &exp, &tol()).outcome, Outcome::Fail);
        let confirmed_unconfirmed = rows(&[(json!(1), json!(instant)), (json!(2), json!(instant))]);
        assert_eq!(
            judge(t3, 1, &confirmed_unconfirmed, &exp, &tol()).outcome,
            Outcome::Fail
        );
        let garbage = rows(&[
            (json!(1), json!("unreadable: soon")),
            (json!(2), Value::Null),
        ]);
        let v = judge(t3, 1, &garbage, &exp, &tol());
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(v.note.contains("could not be read"), "{}", v.note);

        // T1 on reconciliation reads USD orders only and ignores orders the
        // truth does not judge: a duplicated EUR capture is not its business,
        // an extra non-GMV order in the mart is fine.
        let cap = pack.find("hidden.recon_captured_usd").unwrap();
        let exp = expected_value(cap, &truth);
        assert_eq!(
            exp,
            Ok(Expected::Series([("1".to_string(), json!(10.0))].into()))
        );
        let ok = rows(&[
            (json!(1), json!("10.00")),
            (json!(3), json!(43.2)),
            (json!(9), json!(5)),
        ]);
        assert_eq!(judge(cap, 1, &ok, &exp, &tol()).outcome, Outcome::Pass);
        let dup = rows(&[(json!(1), json!(20.0))]);
        assert_eq!(judge(cap, 1, &dup, &exp, &tol()).outcome, Outcome::Fail);
        // A key the model repeats with different values is named; the same
        // value twice is a grain problem for other checks.
        let same = rows(&[(json!(1), json!(10.0)), (json!(1), json!(10.0))]);
        assert_eq!(judge(cap, 1, &same, &exp, &tol()).outcome, Outcome::Pass);
        let twice = rows(&[(json!(1), json!(10.0)), (json!(1), json!(11.0))]);
        let v = judge(cap, 1, &twice, &exp, &tol());
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(v.note.contains("more than once"), "{}", v.note);
        // An answer cut at the row cap fails, saying so.
        let cut = Measurement::Rows {
            columns: vec!["key".into(), "value".into()],
            rows: vec![vec![json!(1), json!(10.0)]],
            truncated: true,
        };
        let v = judge(cap, 1, &cut, &exp, &tol());
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(v.note.contains("more than"), "{}", v.note);
    }

    #[test]
    fn coverage_is_judged_once_and_per_trap_checks_read_the_rows_that_exist() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        let truth = json!({"reconciliation": {"rows": [
            {"order_id": 1, "currency": "EUR", "order_total_usd": 10.8, "captured_usd": 10.8, "is_matched": true},
            {"order_id": 2, "currency": "USD", "order_total_usd": 5.0, "captured_usd": 5.0, "is_matched": true}
        ]}});
        let cover = pack.find("hidden.recon_orders").unwrap();
        let total = pack.find("hidden.recon_order_total_usd").unwrap();
        let only_one = rows(&[(json!(1), json!(10.8))]);
        // The dropped order fails coverage, not the conversion check.
        let exp = expected_value(cover, &truth);
        assert_eq!(
            judge(cover, 1, &only_one, &exp, &tol()).outcome,
            Outcome::Fail
        );
        let exp = expected_value(total, &truth);
        assert_eq!(
            judge(total, 1, &only_one, &exp, &tol()).outcome,
            Outcome::Pass
        );
        let unconverted = rows(&[(json!(1), json!(10.0))]);
        assert_eq!(
            judge(total, 1, &unconverted, &exp, &tol()).outcome,
            Outcome::Fail
        );
        // An empty model is no evidence of a conversion.
        let empty = rows(&[]);
        assert_eq!(judge(total, 1, &empty, &exp, &tol()).outcome, Outcome::Fail);
        let both = rows(&[
            (json!(1), json!(1)),
            (json!(2), json!(1)),
            (json!(7), json!(1)),
        ]);
        let exp = expected_value(cover, &truth);
        assert_eq!(judge(cover, 1, &both, &exp, &tol()).outcome, Outcome::Pass);
    }

    #[test]
    fn matching_is_lenient_within_half_a_cent_of_the_threshold() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        let truth = json!({"reconciliation": {"rows": [
            {"order_id": 1, "currency": "USD", "order_total_usd": 10.0, "captured_usd": 10.0, "is_matched": true},
            {"order_id": 2, "currency": "USD", "order_total_usd": 10.0, "captured_usd": 0.0, "is_matched": false}
        ]}});
        let m = pack.find("hidden.recon_matched").unwrap();
        let exp = expected_value(m, &truth);
        let with = |cells: &[(i64, Value, bool)]| Measurement::Rows {
            columns: vec!["key".into(), "value".into(), "lenient".into()],
            rows: cells
                .iter()
                .map(|(k, v, l)| vec![json!(k), v.clone(), json!(l)])
                .collect(),
            truncated: false,
        };
        let good = with(&[(1, json!(true), false), (2, json!(false), false)]);
        assert_eq!(judge(m, 1, &good, &exp, &tol()).outcome, Outcome::Pass);
        // 0.0100000000000051 off: the candidate said unmatched, the row is lenient.
        let rounding = with(&[(1, json!(false), true), (2, json!(false), false)]);
        assert_eq!(judge(m, 1, &rounding, &exp, &tol()).outcome, Outcome::Pass);
        let wrong = with(&[(1, json!(false), false), (2, json!(false), false)]);
        assert_eq!(judge(m, 1, &wrong, &exp, &tol()).outcome, Outcome::Fail);
        // A text boolean reads as one.
        let text = with(&[(1, json!("true"), false), (2, json!("FALSE"), false)]);
        assert_eq!(judge(m, 1, &text, &exp, &tol()).outcome, Outcome::Pass);
    }

    #[test]
    fn a_month_that_cannot_be_read_is_named() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        let truth = json!({"cohorts": [{"cohort_month": "2026-01-01", "buyers": 3, "returning_buyers": 1}]});
        let c = pack.find("hidden.cohort_buyers").unwrap();
        let exp = expected_value(c, &truth);
        let bad = rows(&[(Value::Null, json!(3))]);
        let v = judge(c, 1, &bad, &exp, &tol());
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(v.note.contains("could not be read"), "{}", v.note);
    }

    #[test]
    fn idempotency_hashes_the_contract_columns_only() {
        let pack = HiddenChecks::load(&pack_path()).unwrap();
        assert_eq!(
            pack.required_columns.get("fct_payments").unwrap(),
            &vec!["event_id", "order_id", "event_type", "amount_usd"]
        );
        let bad = format!(
            "{ONE}\n[idempotency]\nmodels = [\"fct_orders\"]\n[idempotency.columns]\ndim_users = [\"user_id\"]\n"
        );
        assert!(parse(&bad).unwrap_err().message.contains("does not list"));
    }
}
