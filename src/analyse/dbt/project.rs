//! The YAML side of a dbt project: `dbt_project.yml` (vars, per-folder model
//! configs), every properties file (sources with freshness, models, columns,
//! descriptions, generic tests under `tests:` or `data_tests:`) and
//! `packages.yml`. Every read goes through [`crate::yaml`], so an alias bomb or a
//! malformed file becomes a problem on record, never a crash.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jinja::ModelConfig;

/// One generic test as the YAML declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestSpec {
    /// As written: `unique`, `relationships`, `dbt_utils.accepted_range`, ...
    pub name: String,
    /// The name without its package: `accepted_range`.
    pub short_name: String,
    /// The package prefix (`dbt_utils`, `dbt_expectations`), if any.
    pub package: Option<String>,
    /// The test's arguments (`arguments:` merged over the inline ones).
    pub args: Value,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColumnSpec {
    pub name: String,
    pub description: Option<String>,
    pub tests: Vec<TestSpec>,
    pub line: Option<u32>,
}

/// A model (or seed or snapshot) entry of a properties file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct YamlModel {
    pub name: String,
    pub file: String,
    pub line: Option<u32>,
    pub description: Option<String>,
    pub columns: Vec<ColumnSpec>,
    /// Model-level tests (`dbt_utils.unique_combination_of_columns`, ...).
    pub tests: Vec<TestSpec>,
    pub candidate: bool,
    /// `config: {enabled: false}` on the entry: dbt neither builds nor tests it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// A dbt unit test (`unit_tests:` in a properties file, dbt 1.8+): fixed input
/// rows for a model and the rows it must return.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UnitTest {
    pub name: String,
    /// The model under test, lower case.
    pub model: String,
    pub file: String,
    pub line: Option<u32>,
    /// Columns of the expected rows (lower case); empty when the rows are given
    /// as CSV or SQL text.
    pub expect_columns: Vec<String>,
    /// Models and sources given as inputs (`ref('x')`, `source('s', 't')`), as written.
    pub given: Vec<String>,
    pub candidate: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// `config: {enabled: false}` (or the older `enabled: false`) on a node or test.
pub fn is_disabled(node: &Value) -> bool {
    let off = |v: Option<&Value>| v.and_then(Value::as_bool) == Some(false);
    off(node.get("config").and_then(|c| c.get("enabled"))) || off(node.get("enabled"))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceTable {
    pub source: String,
    pub table: String,
    pub file: String,
    pub line: Option<u32>,
    /// `freshness:` with `warn_after` or `error_after`, on the table or inherited.
    pub freshness: bool,
    /// `freshness: null` on the table: static data opted out on purpose.
    pub freshness_opted_out: bool,
    pub loaded_at_field: Option<String>,
    pub description: Option<String>,
    pub columns: Vec<ColumnSpec>,
    pub candidate: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectFile {
    pub vars: BTreeMap<String, Value>,
    /// Folder (relative to the model paths, `/`-separated) → config set there.
    pub folder_configs: Vec<(String, ModelConfig)>,
}

/// Line (1-based) of the first line at or after `after` that contains `key: value`
/// (quotes optional), to point evidence at a YAML entry.
pub fn find_line(text: &str, after: u32, key: &str, value: &str) -> Option<u32> {
    text.lines()
        .enumerate()
        .skip(after.saturating_sub(1) as usize)
        .find_map(|(i, line)| {
            let l = line.trim().trim_start_matches("- ").trim();
            let rest = l.strip_prefix(key)?.trim_start().strip_prefix(':')?.trim();
            let rest = rest.trim_matches(|c| c == '"' || c == '\'');
            (rest == value).then_some(i as u32 + 1)
        })
}

fn text_of(v: &Value) -> Option<String> {
    v.as_str()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn read_project(doc: &Value, project_name: Option<&str>) -> ProjectFile {
    let mut out = ProjectFile::default();
    if let Some(vars) = doc.get("vars").and_then(Value::as_object) {
        for (k, v) in vars {
            match (v.as_object(), project_name) {
                // Project-scoped vars: `vars: {my_project: {...}}`.
                (Some(inner), Some(p)) if k == p => {
                    for (ik, iv) in inner {
                        out.vars.insert(ik.clone(), iv.clone());
                    }
                }
                _ => {
                    out.vars.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if let Some(models) = doc.get("models").and_then(Value::as_object) {
        for (k, v) in models {
            // The first level names the project (or a package); configs below it.
            if k.starts_with('+') {
                continue;
            }
            collect_folder_configs(v, "", &mut out.folder_configs, 0);
        }
    }
    out
}

fn config_from(map: &serde_json::Map<String, Value>) -> ModelConfig {
    let get = |k: &str| {
        map.get(&format!("+{k}"))
            .or_else(|| map.get(k))
            .and_then(|v| v.as_str().map(|s| s.to_ascii_lowercase()))
    };
    ModelConfig {
        materialized: get("materialized"),
        unique_key: None,
        incremental_strategy: get("incremental_strategy"),
        on_schema_change: get("on_schema_change"),
        enabled: map
            .get("+enabled")
            .or_else(|| map.get("enabled"))
            .and_then(Value::as_bool),
        layout: super::jinja::LAYOUT_KEYS
            .iter()
            .filter(|k| {
                map.get(&format!("+{k}"))
                    .or_else(|| map.get(**k))
                    .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
            })
            .map(|k| k.to_string())
            .collect(),
    }
}

fn collect_folder_configs(
    v: &Value,
    path: &str,
    out: &mut Vec<(String, ModelConfig)>,
    depth: usize,
) {
    let Some(map) = v.as_object() else { return };
    if depth > 16 {
        return;
    }
    let cfg = config_from(map);
    if cfg != ModelConfig::default() {
        out.push((path.to_string(), cfg));
    }
    for (k, child) in map {
        if k.starts_with('+') || !child.is_object() || k == "config" {
            continue;
        }
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}/{k}")
        };
        collect_folder_configs(child, &p, out, depth + 1);
    }
}

/// Generic tests listed under `tests:` and `data_tests:` of a model, column or
/// source table.
pub fn read_tests(node: &Value, text: &str, after: u32) -> Vec<TestSpec> {
    let mut out = Vec::new();
    for key in ["data_tests", "tests"] {
        let Some(list) = node.get(key).and_then(Value::as_array) else {
            continue;
        };
        for entry in list {
            let (name, mut args) = match entry {
                Value::String(s) => (s.clone(), Value::Object(Default::default())),
                Value::Object(map) if map.len() == 1 => {
                    let (k, v) = map.iter().next().expect("one entry");
                    (k.clone(), v.clone())
                }
                Value::Object(map) => {
                    // The long form: `- name: x` / `test_name: unique`.
                    let name = map
                        .get("test_name")
                        .and_then(text_of)
                        .or_else(|| map.get("name").and_then(text_of))
                        .unwrap_or_default();
                    (name, entry.clone())
                }
                _ => continue,
            };
            // A disabled test never runs, so it guards nothing.
            if name.is_empty() || is_disabled(&args) || is_disabled(entry) {
                continue;
            }
            if let Some(inner) = args.get("arguments").cloned() {
                if let (Some(outer), Some(inner)) = (args.as_object_mut(), inner.as_object()) {
                    for (k, v) in inner {
                        outer.insert(k.clone(), v.clone());
                    }
                }
            }
            let (package, short) = match name.split_once('.') {
                Some((p, s)) => (Some(p.to_string()), s.to_string()),
                None => (None, name.clone()),
            };
            let line = text
                .lines()
                .enumerate()
                .skip(after.saturating_sub(1) as usize)
                .find(|(_, l)| l.contains(&name))
                .map(|(i, _)| i as u32 + 1);
            out.push(TestSpec {
                name: name.clone(),
                short_name: short,
                package,
                args,
                line,
            });
        }
    }
    out
}

fn read_columns(node: &Value, text: &str, after: u32) -> Vec<ColumnSpec> {
    let Some(cols) = node.get("columns").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut cursor = after;
    for col in cols {
        let Some(name) = col.get("name").and_then(text_of) else {
            continue;
        };
        let line = find_line(text, cursor, "name", &name);
        if let Some(l) = line {
            cursor = l;
        }
        out.push(ColumnSpec {
            name: name.to_ascii_lowercase(),
            description: col.get("description").and_then(text_of),
            tests: read_tests(col, text, line.unwrap_or(cursor)),
            line,
        });
    }
    out
}

fn has_freshness(v: Option<&Value>) -> bool {
    v.and_then(Value::as_object).is_some_and(|f| {
        f.get("warn_after").is_some_and(|x| !x.is_null())
            || f.get("error_after").is_some_and(|x| !x.is_null())
    })
}

/// Models and sources of one properties file.
pub fn read_properties(
    doc: &Value,
    text: &str,
    file: &str,
    candidate: bool,
) -> (Vec<YamlModel>, Vec<SourceTable>) {
    let mut models = Vec::new();
    let mut sources = Vec::new();
    let mut cursor = 1;
    for key in ["models", "seeds", "snapshots"] {
        for m in doc.get(key).and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = m.get("name").and_then(text_of) else {
                continue;
            };
            let line = find_line(text, 1, "name", &name);
            let at = line.unwrap_or(cursor);
            cursor = at;
            models.push(YamlModel {
                name: name.to_ascii_lowercase(),
                file: file.to_string(),
                line,
                description: m.get("description").and_then(text_of),
                columns: read_columns(m, text, at),
                tests: read_tests(m, text, at),
                candidate,
                disabled: is_disabled(m),
            });
        }
    }
    for s in doc
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(source) = s.get("name").and_then(text_of) else {
            continue;
        };
        let s_line = find_line(text, 1, "name", &source).unwrap_or(1);
        let config = s.get("config");
        let source_fresh = has_freshness(s.get("freshness"))
            || has_freshness(config.and_then(|c| c.get("freshness")));
        let source_loaded = s
            .get("loaded_at_field")
            .or_else(|| config.and_then(|c| c.get("loaded_at_field")))
            .and_then(text_of);
        let mut t_cursor = s_line;
        for t in s
            .get("tables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(table) = t.get("name").and_then(text_of) else {
                continue;
            };
            let line = find_line(text, t_cursor, "name", &table);
            let at = line.unwrap_or(t_cursor);
            t_cursor = at;
            let tconfig = t.get("config");
            let explicit = t
                .get("freshness")
                .or_else(|| tconfig.and_then(|c| c.get("freshness")));
            // `freshness: null` on a table switches an inherited freshness off.
            let freshness = match explicit {
                Some(Value::Null) => false,
                Some(v) => has_freshness(Some(v)),
                None => source_fresh,
            };
            sources.push(SourceTable {
                source: source.to_ascii_lowercase(),
                table: table.to_ascii_lowercase(),
                file: file.to_string(),
                line,
                freshness,
                freshness_opted_out: matches!(explicit, Some(Value::Null)),
                loaded_at_field: t
                    .get("loaded_at_field")
                    .or_else(|| tconfig.and_then(|c| c.get("loaded_at_field")))
                    .and_then(text_of)
                    .or_else(|| source_loaded.clone()),
                description: t.get("description").and_then(text_of),
                columns: read_columns(t, text, at),
                candidate,
            });
        }
    }
    (models, sources)
}

/// The unit tests of one properties file.
pub fn read_unit_tests(doc: &Value, text: &str, file: &str, candidate: bool) -> Vec<UnitTest> {
    let mut out = Vec::new();
    for u in doc
        .get("unit_tests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(model)) = (
            u.get("name").and_then(text_of),
            u.get("model").and_then(text_of),
        ) else {
            continue;
        };
        let mut expect_columns: Vec<String> = Vec::new();
        for row in u
            .get("expect")
            .and_then(|e| e.get("rows"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for k in row.as_object().into_iter().flat_map(|o| o.keys()) {
                let k = k.to_ascii_lowercase();
                if !expect_columns.contains(&k) {
                    expect_columns.push(k);
                }
            }
        }
        let given = u
            .get("given")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("input").and_then(text_of))
            .collect();
        out.push(UnitTest {
            line: find_line(text, 1, "name", &name),
            name,
            model: model.to_ascii_lowercase(),
            file: file.to_string(),
            expect_columns,
            given,
            candidate,
            disabled: is_disabled(u),
        });
    }
    out
}

/// Where a `packages.yml` entry comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PackageSource {
    /// `package: dbt-labs/dbt_utils`, fetched from the package hub.
    Hub,
    /// `git:` or `private:`, fetched from a git host.
    Git,
    /// `tarball:`, fetched over HTTP.
    Tarball,
    /// `local:`, a folder given relative to the project.
    Local { path: String },
}

/// One package a `packages.yml` (or `dependencies.yml`) asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PackageRef {
    /// The folder name it is looked up under: `dbt-labs/dbt_utils` → `dbt_utils`,
    /// a git URL's last segment, a tarball's `name`, a local folder's name.
    pub name: String,
    pub source: PackageSource,
    /// The entry as a reader knows it: `dbt-labs/dbt_utils 1.1.1`.
    pub spec: String,
}

/// The packages a `packages.yml` asks for, in order. Entries of no known form
/// are left out: dbt itself rejects them at parse time.
pub fn read_packages(doc: &Value) -> Vec<PackageRef> {
    let last_segment = |s: &str| {
        s.trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit(['/', '\\', ':'])
            .next()
            .unwrap_or(s)
            .replace('-', "_")
    };
    doc.get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let text = |key: &str| p.get(key).and_then(Value::as_str);
            let version = p
                .get("version")
                .or_else(|| p.get("revision"))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            let spec = |s: &str| match &version {
                Some(v) => format!("{s} {v}"),
                None => s.to_string(),
            };
            if let Some(s) = text("package") {
                return Some(PackageRef {
                    name: last_segment(s),
                    source: PackageSource::Hub,
                    spec: spec(s),
                });
            }
            if let Some(s) = text("git").or_else(|| text("private")) {
                return Some(PackageRef {
                    name: last_segment(s),
                    source: PackageSource::Git,
                    spec: spec(s),
                });
            }
            if let Some(s) = text("tarball") {
                return Some(PackageRef {
                    name: text("name")
                        .map(last_segment)
                        .unwrap_or_else(|| last_segment(s)),
                    source: PackageSource::Tarball,
                    spec: s.to_string(),
                });
            }
            text("local").map(|s| PackageRef {
                name: last_segment(s),
                source: PackageSource::Local {
                    path: s.to_string(),
                },
                spec: format!("local: {s}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sources_models_and_every_test_form() {
        let text = r#"version: 2
sources:
  - name: marketplace
    freshness:
      warn_after: {count: 24, period: hour}
    loaded_at_field: _airbyte_extracted_at
    tables:
      - name: payments
      - name: users
        freshness: null
models:
  - name: fct_orders
    description: One row per order.
    data_tests:
      - dbt_utils.unique_combination_of_columns:
          arguments:
            combination_of_columns: [order_id]
    columns:
      - name: order_id
        description: The key.
        data_tests: [unique, not_null]
      - name: status
        tests:
          - accepted_values:
              values: [a, b]
      - name: buyer_id
        data_tests:
          - relationships:
              arguments:
                to: ref('dim_users')
                field: user_id
          - dbt_expectations.expect_column_values_to_not_be_null
"#;
        let doc: Value = crate::yaml::parse(text).unwrap();
        let (models, sources) = read_properties(&doc, text, "models/x.yml", true);
        assert_eq!(sources.len(), 2);
        assert!(sources[0].freshness);
        assert_eq!(
            sources[0].loaded_at_field.as_deref(),
            Some("_airbyte_extracted_at")
        );
        assert!(!sources[1].freshness);
        let m = &models[0];
        assert_eq!(m.line, Some(12));
        assert_eq!(m.tests[0].package.as_deref(), Some("dbt_utils"));
        assert_eq!(m.columns[0].tests.len(), 2);
        assert_eq!(m.columns[0].line, Some(19));
        assert_eq!(m.columns[1].tests[0].args["values"][0], "a");
        let buyer = &m.columns[2];
        assert_eq!(buyer.tests[0].short_name, "relationships");
        assert_eq!(buyer.tests[0].args["field"], "user_id");
        assert_eq!(buyer.tests[1].package.as_deref(), Some("dbt_expectations"));
    }

    #[test]
    fn reads_vars_and_folder_configs() {
        let text = "name: shop\nvars:\n  tz: UTC\n  shop:\n    scoped: 1\nmodels:\n  shop:\n    staging:\n      +materialized: view\n    marts:\n      core:\n        +materialized: incremental\n";
        let doc: Value = crate::yaml::parse(text).unwrap();
        let p = read_project(&doc, Some("shop"));
        assert_eq!(p.vars["tz"], "UTC");
        assert_eq!(p.vars["scoped"], 1);
        assert!(p
            .folder_configs
            .iter()
            .any(|(f, c)| f == "marts/core" && c.materialized.as_deref() == Some("incremental")));
    }

    #[test]
    fn reads_package_entries_of_every_form() {
        let doc: Value = crate::yaml::parse(
            "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.0.0\n  - local: vendor/dbt-expectations\n  - git: https://github.com/acme/dbt-audit.git\n    revision: v2\n  - tarball: https://example.com/x.tgz\n    name: dbt_date\n  - nonsense: 1\n",
        )
        .unwrap();
        let got = read_packages(&doc);
        let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["dbt_utils", "dbt_expectations", "dbt_audit", "dbt_date"]
        );
        assert_eq!(got[0].source, PackageSource::Hub);
        assert_eq!(got[0].spec, "dbt-labs/dbt_utils 1.0.0");
        assert_eq!(
            got[1].source,
            PackageSource::Local {
                path: "vendor/dbt-expectations".into()
            }
        );
        assert_eq!(got[2].source, PackageSource::Git);
        assert_eq!(got[2].spec, "https://github.com/acme/dbt-audit.git v2");
        assert_eq!(got[3].source, PackageSource::Tarball);
    }
}
