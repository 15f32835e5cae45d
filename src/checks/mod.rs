//! The check machinery. A check reads facts prepared by the analysers and returns
//! one [`CheckResult`]; it never parses files or talks to Docker itself. Each check
//! lives in its own file under `src/checks/<family>/`, documented with the fixed
//! sections that `assay explain` prints.

mod finding;
mod registry;

pub mod code;
pub mod dag;
pub mod dbt;
pub mod design;
pub mod docs;
pub mod exec;
pub mod history;
pub mod review;

pub use finding::{
    CheckResult, ClaimSource, Confidence, Contradiction, Evidence, LineSpan, Outcome,
};
pub use registry::{all, find, UNUSED_BY_RUBRIC};

use crate::facts::Facts;

/// What every check declares about itself.
#[derive(Debug)]
pub struct CheckMeta {
    /// Stable id, `<family>.<name>`; the rubric refers to checks by it.
    pub id: &'static str,
    pub title: &'static str,
    /// The kind of evidence this check's own reading produces. A result may
    /// carry stronger evidence than this when something measured decided it
    /// (`CheckResult::confidence`, with `decided_by` saying what: the hidden checks in
    /// `evidence::reconcile`, Airflow's DagBag in the DAG checks).
    pub confidence: Confidence,
    /// The check's doc comment, with the sections "What it checks", "Why it
    /// matters" and "How to pass".
    pub doc: &'static str,
}

impl CheckMeta {
    pub fn family(&self) -> &'static str {
        self.id.split('.').next().unwrap_or(self.id)
    }

    /// The doc as Markdown, with the single leading space of each `///` line removed.
    pub fn doc_markdown(&self) -> String {
        let mut out = String::new();
        for line in self.doc.lines() {
            out.push_str(line.strip_prefix(' ').unwrap_or(line));
            out.push('\n');
        }
        out.trim().to_string()
    }

    /// The text under one `## Heading` of the doc.
    pub fn doc_section(&self, heading: &str) -> Option<String> {
        let doc = self.doc_markdown();
        let mut lines = doc.lines();
        let wanted = format!("## {heading}");
        lines.by_ref().find(|l| l.trim() == wanted)?;
        let body: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).collect();
        let text = body.join("\n").trim().to_string();
        (!text.is_empty()).then_some(text)
    }
}

/// A rubric criterion's parameters, handed to the check that scores it. Thresholds
/// live in the rubric, never in check code.
#[derive(Debug, Clone, Default)]
pub struct Params(pub toml::Table);

impl Params {
    pub fn int(&self, key: &str) -> Result<i64, ParamError> {
        match self.0.get(key) {
            Some(toml::Value::Integer(v)) => Ok(*v),
            Some(_) => Err(ParamError::WrongType(key.to_string(), "an integer")),
            None => Err(ParamError::Missing(key.to_string())),
        }
    }

    pub fn float(&self, key: &str) -> Result<f64, ParamError> {
        match self.0.get(key) {
            Some(toml::Value::Float(v)) => Ok(*v),
            Some(toml::Value::Integer(v)) => Ok(*v as f64),
            Some(_) => Err(ParamError::WrongType(key.to_string(), "a number")),
            None => Err(ParamError::Missing(key.to_string())),
        }
    }

    pub fn string_list(&self, key: &str) -> Result<Vec<String>, ParamError> {
        match self.0.get(key) {
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ParamError::WrongType(key.to_string(), "a list of strings"))
                })
                .collect(),
            Some(_) => Err(ParamError::WrongType(key.to_string(), "a list of strings")),
            None => Err(ParamError::Missing(key.to_string())),
        }
    }
}

impl Params {
    /// A table of string lists, `[params.key]` with `name = ["a", "b"]` entries.
    pub fn string_lists(&self, key: &str) -> Result<Vec<(String, Vec<String>)>, ParamError> {
        let wrong = || ParamError::WrongType(key.to_string(), "a table of string lists");
        match self.0.get(key) {
            Some(toml::Value::Table(t)) => t
                .iter()
                .map(|(name, v)| {
                    let items = v.as_array().ok_or_else(wrong)?;
                    let list = items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string).ok_or_else(wrong))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((name.clone(), list))
                })
                .collect(),
            Some(_) => Err(wrong()),
            None => Err(ParamError::Missing(key.to_string())),
        }
    }

    /// A share within 0..=1.
    pub fn share(&self, key: &str) -> Result<f64, ParamError> {
        let v = self.float(key)?;
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(ParamError::WrongType(
                key.to_string(),
                "a number within 0..1",
            ))
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParamError {
    #[error("the rubric gives this criterion no parameter `{0}`")]
    Missing(String),
    #[error("the rubric's parameter `{0}` must be {1}")]
    WrongType(String, &'static str),
}

/// What a check sees: the facts of one submission and its criterion's parameters.
pub struct CheckContext<'a> {
    pub facts: &'a Facts,
    pub params: &'a Params,
}

pub trait Check: Send + Sync {
    fn meta(&self) -> &'static CheckMeta;
    fn run(&self, cx: &CheckContext) -> CheckResult;
}

impl dyn Check {
    /// A result for a parameter problem: the rubric is wrong, not the candidate.
    pub fn param_error(&self, err: ParamError) -> CheckResult {
        CheckResult::new(
            self.meta().id,
            Outcome::Error,
            self.meta().confidence,
            err.to_string(),
        )
    }
}

/// Declares a check's unit struct and its [`CheckMeta`], taking the doc from the
/// struct's own `///` comment so the documentation has one source.
#[macro_export]
macro_rules! declare_check {
    (
        $(#[doc = $doc:literal])+
        $vis:vis struct $name:ident {
            id: $id:literal,
            title: $title:literal,
            confidence: $conf:ident $(,)?
        }
    ) => {
        $(#[doc = $doc])+
        $vis struct $name;

        impl $name {
            pub const META: $crate::checks::CheckMeta = $crate::checks::CheckMeta {
                id: $id,
                title: $title,
                confidence: $crate::checks::Confidence::$conf,
                doc: concat!($($doc, "\n"),+),
            };
        }
    };
}
