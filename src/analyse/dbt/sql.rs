//! SQL → per-model facts. One rendered (or compiled) SQL text is parsed with
//! sqlparser and read scope by scope: every CTE and the final select. The facts
//! say what the SQL *does* (which columns a window partitions by, which relation
//! a join reads, which CTEs the final select reaches), never which words it
//! contains, so a comment or a dead CTE earns nothing.
//!
//! Parsing runs in a contained worker (`assay __contained`): sqlparser can
//! overflow the stack dropping a very deep AST, and that must cost one model's
//! analysis, not the grader.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlparser::ast::{
    BinaryOperator, Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr,
    Spanned, Statement, TableFactor, Value, WindowType,
};
use sqlparser::dialect::{DuckDbDialect, GenericDialect};
use sqlparser::parser::Parser;

/// Largest SQL text parsed, in bytes. Real dbt models are a few kilobytes.
pub const MAX_SQL_BYTES: usize = 512 * 1024;
/// Nesting depth sqlparser may recurse to before it refuses the input.
pub const RECURSION_LIMIT: usize = 64;

/// Schemas the Jinja approximation renders `ref`, `source` and `this` into, so
/// the parsed SQL still says which relation came from which dbt call.
pub const REF_SCHEMA: &str = "__dbt_ref";
pub const SOURCE_SCHEMA: &str = "__dbt_source";
pub const THIS_SCHEMA: &str = "__dbt_this";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RelKind {
    /// `ref('name')`: a model or a seed.
    Ref,
    /// `source('src', 'table')`, named `src.table`.
    Source,
    /// `{{ this }}`: the model's own table (incremental runs).
    This,
    /// A CTE of the same statement.
    Cte,
    /// A relation written by name: neither ref, source nor a CTE.
    Table,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Rel {
    pub kind: RelKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// A ranking or other window function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WindowUse {
    pub function: String,
    pub alias: Option<String>,
    pub partition_by: Vec<String>,
    pub order_by: Vec<String>,
    /// The rank is kept only where it equals 1 (QUALIFY, or WHERE on its alias in
    /// a scope that reads this one). Set by [`SqlFacts::resolve`].
    pub filtered_to_first: bool,
    pub text: String,
    /// Columns of the function's own arguments (`max(sequence_number)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DistinctUse {
    /// `DISTINCT ON (...)` columns; empty for a plain DISTINCT.
    pub on: Vec<String>,
    /// The selected columns of a plain DISTINCT.
    pub columns: Vec<String>,
    /// `select distinct *`: distinct over every column, loader metadata included.
    pub star: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TzConversion {
    pub columns: Vec<String>,
    /// Zone names given as literals, lower-cased.
    pub zones: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JoinUse {
    pub kind: String,
    pub relation: Option<Rel>,
    /// Relations already in the FROM list when this one joins.
    pub left: Vec<Rel>,
    /// Columns the join condition reads.
    pub keys: Vec<String>,
    /// The condition matches on a month (a month column or a month truncation).
    pub by_month: bool,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StarUse {
    /// The select list is `*` alone (the import-CTE shape when it reads one relation).
    pub only_star: bool,
    pub from: Vec<Rel>,
    pub joins: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutputCol {
    pub name: Option<String>,
    /// A literal: no column feeds it.
    pub constant: bool,
    pub columns: Vec<String>,
    pub text: String,
}

/// `col >= (select max(c) from {{ this }})`: an incremental high-water mark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Watermark {
    pub columns: Vec<String>,
    pub this_columns: Vec<String>,
    pub text: String,
}

/// One CTE or the final select, with the subqueries inside it folded in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scope {
    /// The CTE's name; empty for the final select.
    pub name: String,
    pub is_final: bool,
    /// The final select reads this scope, directly or through other CTEs.
    pub reachable: bool,
    /// Line in the parsed SQL text.
    pub line: u32,
    pub relations: Vec<Rel>,
    pub windows: Vec<WindowUse>,
    /// Aliases kept only where equal to 1 (`where rn = 1`).
    pub eq_one: Vec<String>,
    pub distinct: Option<DistinctUse>,
    pub group_by: Vec<String>,
    /// Columns inside the first argument of COALESCE / IFNULL / NVL.
    pub coalesced: Vec<String>,
    /// Columns tested with IS NULL / IS NOT NULL.
    pub null_checked: Vec<String>,
    /// Columns read by any predicate (comparisons, IS NULL, CASE conditions).
    pub predicate_columns: Vec<String>,
    pub where_columns: Vec<String>,
    pub tz_conversions: Vec<TzConversion>,
    /// Columns inside LEAST(...): a cap.
    pub least: Vec<String>,
    /// Columns compared with the current time or the loader's extraction time.
    pub compared_with_now: Vec<String>,
    pub joins: Vec<JoinUse>,
    pub star: Option<StarUse>,
    pub outputs: Vec<OutputCol>,
    pub watermarks: Vec<Watermark>,
    /// Columns of ORDER BY clauses, window orderings included.
    pub order_by: Vec<String>,
    /// Aggregates by function name (`max`, `arg_max`, ...) with their columns.
    pub aggregates: Vec<(String, Vec<String>)>,
    /// Its filter can never be true (`where false`, `... and 1 = 0`, `where
    /// null`), or it reads only such scopes: it returns no row whatever the data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_returns: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SqlFacts {
    pub statements: usize,
    /// CTEs in order, the final select last.
    pub scopes: Vec<Scope>,
}

/// What the contained `sql` parser receives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SqlJob {
    pub sql: String,
    /// Fully qualified relation names (lower case, unquoted, dot-joined) of a
    /// compiled project, mapped to what they are.
    #[serde(default)]
    pub relations: BTreeMap<String, (RelKind, String)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    #[error("the SQL is {0} bytes, over the {MAX_SQL_BYTES}-byte cap")]
    TooLarge(usize),
    #[error("sqlparser cannot read it: {0}")]
    Parse(String),
    #[error("it holds no SELECT statement")]
    NoQuery,
}

/// The contained child's entry point: a JSON [`SqlJob`] in, JSON
/// `Result<SqlFacts, String>` out.
pub fn contained_entry(input: &[u8]) -> Result<Vec<u8>, String> {
    let job: SqlJob = serde_json::from_slice(input).map_err(|e| e.to_string())?;
    let result = parse_sql(&job.sql, &job.relations).map_err(|e| e.to_string());
    serde_json::to_vec(&result).map_err(|e| e.to_string())
}

/// Parses one SQL text into facts. Pure; call it in-process only on trusted or
/// size-checked input (tests), otherwise through [`contained_entry`].
pub fn parse_sql(
    sql: &str,
    relations: &BTreeMap<String, (RelKind, String)>,
) -> Result<SqlFacts, SqlError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(SqlError::TooLarge(sql.len()));
    }
    let statements = parse_with(sql, &DuckDbDialect {})
        .or_else(|first| parse_with(sql, &GenericDialect {}).map_err(|_| first))?;
    let mut facts = SqlFacts {
        statements: statements.len(),
        scopes: Vec::new(),
    };
    let query = statements
        .iter()
        .rev()
        .find_map(|s| match s {
            Statement::Query(q) => Some(q.as_ref()),
            _ => None,
        })
        .ok_or(SqlError::NoQuery)?;
    // CTE names of every WITH in the statement, nested ones included: none of
    // them is a relation of the warehouse.
    let mut cte_collector = CteNames(BTreeSet::new());
    let _ = sqlparser::ast::Visit::visit(query, &mut cte_collector);
    let cte_names = cte_collector.0;
    let ctx = Ctx {
        ctes: &cte_names,
        known: relations,
    };
    let mut empty: BTreeSet<String> = BTreeSet::new();
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            let mut scope = Scope {
                name: norm(&cte.alias.name.value),
                line: cte.alias.name.span.start.line as u32,
                ..Scope::default()
            };
            walk_query(&cte.query, &mut scope, &ctx);
            scope.never_returns = query_empty(&cte.query, &empty);
            if scope.never_returns {
                empty.insert(scope.name.clone());
            }
            facts.scopes.push(scope);
        }
    }
    let mut body = query.clone();
    body.with = None;
    let mut final_scope = Scope {
        is_final: true,
        line: query.body.span().start.line as u32,
        ..Scope::default()
    };
    walk_query(&body, &mut final_scope, &ctx);
    final_scope.never_returns = query_empty(&body, &empty);
    facts.scopes.push(final_scope);
    facts.resolve();
    Ok(facts)
}

fn parse_with(
    sql: &str,
    dialect: &dyn sqlparser::dialect::Dialect,
) -> Result<Vec<Statement>, SqlError> {
    Parser::new(dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| SqlError::Parse(e.to_string()))
}

struct CteNames(BTreeSet<String>);

impl sqlparser::ast::Visitor for CteNames {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.0.insert(norm(&cte.alias.name.value));
            }
        }
        ControlFlow::Continue(())
    }
}

/// Truth of a condition whatever the row: true, false, or NULL (which a WHERE
/// treats as false). `None` when it depends on the data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Truth {
    True,
    False,
    Null,
}

fn literal_of(e: &Expr) -> Option<&Value> {
    match e {
        Expr::Value(v) => Some(&v.value),
        Expr::Nested(inner) => literal_of(inner),
        _ => None,
    }
}

fn const_truth(e: &Expr) -> Option<Truth> {
    use Truth::*;
    match e {
        Expr::Nested(inner) => const_truth(inner),
        Expr::Value(v) => match &v.value {
            Value::Boolean(b) => Some(if *b { True } else { False }),
            Value::Null => Some(Null),
            Value::Number(n, _) => n
                .parse::<f64>()
                .ok()
                .map(|x| if x != 0.0 { True } else { False }),
            _ => None,
        },
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Not,
            expr,
        } => const_truth(expr).map(|t| match t {
            True => False,
            False => True,
            Null => Null,
        }),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And => match (const_truth(left), const_truth(right)) {
                (Some(False), _) | (_, Some(False)) => Some(False),
                (Some(True), Some(True)) => Some(True),
                (Some(Null), Some(Null | True)) | (Some(True), Some(Null)) => Some(Null),
                _ => None,
            },
            BinaryOperator::Or => match (const_truth(left), const_truth(right)) {
                (Some(True), _) | (_, Some(True)) => Some(True),
                (Some(False), Some(False)) => Some(False),
                (Some(False | Null), Some(Null)) | (Some(Null), Some(False)) => Some(Null),
                _ => None,
            },
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq => {
                let (l, r) = (literal_of(left), literal_of(right));
                // A comparison with NULL is NULL, whatever the other side holds.
                if matches!(l, Some(Value::Null)) || matches!(r, Some(Value::Null)) {
                    return Some(Null);
                }
                let ord = match (l?, r?) {
                    (Value::Number(a, _), Value::Number(b, _)) => a
                        .parse::<f64>()
                        .ok()?
                        .partial_cmp(&b.parse::<f64>().ok()?)?,
                    (Value::SingleQuotedString(a), Value::SingleQuotedString(b)) => a.cmp(b),
                    (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
                    _ => return None,
                };
                use std::cmp::Ordering::*;
                let holds = match op {
                    BinaryOperator::Eq => ord == Equal,
                    BinaryOperator::NotEq => ord != Equal,
                    BinaryOperator::Lt => ord == Less,
                    BinaryOperator::LtEq => ord != Greater,
                    BinaryOperator::Gt => ord == Greater,
                    _ => ord != Less,
                };
                Some(if holds { True } else { False })
            }
            _ => None,
        },
        _ => None,
    }
}

fn never_true(e: &Expr) -> bool {
    matches!(const_truth(e), Some(Truth::False | Truth::Null))
}

/// Whether a query returns no row whatever the data: a filter that is never
/// true, or reading only from CTEs that return nothing.
fn query_empty(q: &Query, empty_ctes: &BTreeSet<String>) -> bool {
    set_empty(&q.body, empty_ctes)
}

fn set_empty(set: &SetExpr, empty_ctes: &BTreeSet<String>) -> bool {
    use sqlparser::ast::SetOperator;
    match set {
        SetExpr::Select(select) => {
            if select.selection.as_ref().is_some_and(never_true)
                || select.having.as_ref().is_some_and(never_true)
            {
                return true;
            }
            // FROM one relation (inner joins only) that is an empty CTE
            select.from.iter().any(|twj| {
                let empty_factor = match &twj.relation {
                    TableFactor::Table {
                        name, args: None, ..
                    } => {
                        let parts = object_parts(name);
                        parts.len() == 1 && empty_ctes.contains(&norm(&parts[0]))
                    }
                    TableFactor::Derived { subquery, .. } => query_empty(subquery, empty_ctes),
                    _ => false,
                };
                empty_factor
                    && twj.joins.iter().all(|j| {
                        matches!(
                            j.join_operator,
                            JoinOperator::Join(_)
                                | JoinOperator::Inner(_)
                                | JoinOperator::CrossJoin(_)
                        )
                    })
            })
        }
        SetExpr::Query(q) => query_empty(q, empty_ctes),
        SetExpr::SetOperation {
            op, left, right, ..
        } => match op {
            SetOperator::Union => set_empty(left, empty_ctes) && set_empty(right, empty_ctes),
            SetOperator::Intersect => set_empty(left, empty_ctes) || set_empty(right, empty_ctes),
            _ => set_empty(left, empty_ctes),
        },
        _ => false,
    }
}

impl SqlFacts {
    /// Whether the scope returns no row whatever the data.
    pub fn never_returns(&self, scope: &Scope) -> bool {
        scope.never_returns
    }

    /// Marks reachable scopes and windows whose rank is filtered to 1.
    fn resolve(&mut self) {
        let mut reachable: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<usize> = self
            .scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_final)
            .map(|(i, _)| i)
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            for rel in &self.scopes[i].relations {
                if rel.kind == RelKind::Cte && reachable.insert(rel.name.clone()) {
                    if let Some(j) = self
                        .scopes
                        .iter()
                        .position(|s| !s.is_final && s.name == rel.name)
                    {
                        stack.push(j);
                    }
                }
            }
        }
        for scope in &mut self.scopes {
            scope.reachable = scope.is_final || reachable.contains(&scope.name);
        }
        let readers: Vec<(String, Vec<String>, Vec<String>)> = self
            .scopes
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.relations
                        .iter()
                        .filter(|r| r.kind == RelKind::Cte)
                        .map(|r| r.name.clone())
                        .collect(),
                    s.eq_one.clone(),
                )
            })
            .collect();
        for scope in &mut self.scopes {
            let name = scope.name.clone();
            let is_final = scope.is_final;
            for w in &mut scope.windows {
                let Some(alias) = &w.alias else { continue };
                let filtered = readers.iter().any(|(reader, reads, eq_one)| {
                    let same = reader == &name && (!is_final || reader.is_empty());
                    (same || reads.contains(&name)) && eq_one.contains(alias)
                });
                if filtered {
                    w.filtered_to_first = true;
                }
            }
        }
    }

    /// A scope the final select reaches keeps only rows where `alias` equals 1,
    /// over rows it reads from the model `model` (a ref), directly or through
    /// this statement's CTEs: the second half of a rank computed in `model`.
    pub fn keeps_first_of(&self, model: &str, alias: &str) -> bool {
        self.reachable_scopes()
            .any(|s| s.eq_one.iter().any(|a| a == alias) && self.reads_ref(s, model, 0))
    }

    fn reads_ref(&self, scope: &Scope, model: &str, depth: usize) -> bool {
        // CTEs cannot read each other in a cycle, but hostile SQL must not loop.
        if depth > self.scopes.len() {
            return false;
        }
        scope.relations.iter().any(|r| match r.kind {
            RelKind::Ref => r.name == model,
            RelKind::Cte => self
                .scope(&r.name)
                .is_some_and(|c| self.reads_ref(c, model, depth + 1)),
            _ => false,
        })
    }

    pub fn reachable_scopes(&self) -> impl Iterator<Item = &Scope> {
        self.scopes.iter().filter(|s| s.reachable)
    }

    pub fn final_scope(&self) -> Option<&Scope> {
        self.scopes.iter().find(|s| s.is_final)
    }

    pub fn scope(&self, name: &str) -> Option<&Scope> {
        self.scopes.iter().find(|s| !s.is_final && s.name == name)
    }

    /// The columns the statement outputs, following `select * from <cte>` to the
    /// CTE that names them. `None` when the star reaches another relation.
    pub fn output_columns(&self) -> Option<Vec<OutputCol>> {
        let mut scope = self.final_scope()?;
        for _ in 0..self.scopes.len() + 1 {
            match &scope.star {
                Some(star) if star.only_star && star.from.len() == 1 && star.joins == 0 => {
                    let rel = &star.from[0];
                    if rel.kind != RelKind::Cte {
                        return None;
                    }
                    scope = self.scope(&rel.name)?;
                }
                Some(_) => return None,
                None => return Some(scope.outputs.clone()),
            }
        }
        None
    }
}

struct Ctx<'a> {
    ctes: &'a BTreeSet<String>,
    known: &'a BTreeMap<String, (RelKind, String)>,
}

pub fn norm(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn object_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn classify(name: &ObjectName, alias: Option<String>, ctx: &Ctx) -> Rel {
    let parts = object_parts(name);
    let lower: Vec<String> = parts.iter().map(|p| norm(p)).collect();
    let (kind, rel_name) = if lower.len() == 1 && ctx.ctes.contains(&lower[0]) {
        (RelKind::Cte, lower[0].clone())
    } else if let Some(model) = lower
        .last()
        .filter(|_| lower.len() == 1)
        .and_then(|n| n.strip_prefix("__dbt__cte__"))
    {
        // dbt inlines an ephemeral model as a CTE of this name: a ref.
        (RelKind::Ref, model.to_string())
    } else if lower.len() == 2 && lower[0] == REF_SCHEMA {
        (RelKind::Ref, lower[1].clone())
    } else if lower.len() == 2 && lower[0] == SOURCE_SCHEMA {
        (RelKind::Source, lower[1].clone())
    } else if lower.len() == 2 && lower[0] == THIS_SCHEMA {
        (RelKind::This, lower[1].clone())
    } else {
        let full = lower.join(".");
        let found = ctx.known.get(&full).cloned().or_else(|| {
            // Compiled SQL and the manifest may name a relation with more or fewer parts.
            ctx.known
                .iter()
                .find(|(k, _)| k.ends_with(&format!(".{full}")) || full.ends_with(&format!(".{k}")))
                .map(|(_, v)| v.clone())
        });
        match found {
            Some((k, n)) => (k, n),
            None => (RelKind::Table, full),
        }
    };
    Rel {
        kind,
        name: rel_name,
        alias: alias.map(|a| norm(&a)),
    }
}

fn walk_query(q: &Query, scope: &mut Scope, ctx: &Ctx) {
    if let Some(with) = &q.with {
        for cte in &with.cte_tables {
            walk_query(&cte.query, scope, ctx);
        }
    }
    walk_set(&q.body, scope, ctx);
    if let Some(order) = &q.order_by {
        if let sqlparser::ast::OrderByKind::Expressions(exprs) = &order.kind {
            for e in exprs {
                scope.order_by.extend(idents(&e.expr));
                scan_expr(&e.expr, scope, ctx);
            }
        }
    }
}

fn walk_set(set: &SetExpr, scope: &mut Scope, ctx: &Ctx) {
    match set {
        SetExpr::Select(select) => walk_select(select, scope, ctx),
        SetExpr::Query(q) => walk_query(q, scope, ctx),
        SetExpr::SetOperation { left, right, .. } => {
            walk_set(left, scope, ctx);
            walk_set(right, scope, ctx);
        }
        _ => {}
    }
}

fn factor_rel(factor: &TableFactor, scope: &mut Scope, ctx: &Ctx) -> Option<Rel> {
    match factor {
        // `generate_series(...)`, `range(...)`: a table function makes rows, it
        // reads no relation.
        TableFactor::Table { args: Some(_), .. } => None,
        TableFactor::Table { name, alias, .. } => {
            let rel = classify(name, alias.as_ref().map(|a| a.name.value.clone()), ctx);
            scope.relations.push(rel.clone());
            Some(rel)
        }
        TableFactor::Derived { subquery, .. } => {
            walk_query(subquery, scope, ctx);
            None
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            let rel = factor_rel(&table_with_joins.relation, scope, ctx);
            for join in &table_with_joins.joins {
                factor_rel(&join.relation, scope, ctx);
            }
            rel
        }
        _ => None,
    }
}

fn join_parts(op: &JoinOperator) -> (&'static str, Option<&JoinConstraint>) {
    match op {
        JoinOperator::Join(c) | JoinOperator::Inner(c) => ("inner", Some(c)),
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => ("left", Some(c)),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("right", Some(c)),
        JoinOperator::FullOuter(c) => ("full", Some(c)),
        JoinOperator::CrossJoin(c) => ("cross", Some(c)),
        JoinOperator::Semi(c) | JoinOperator::LeftSemi(c) | JoinOperator::RightSemi(c) => {
            ("semi", Some(c))
        }
        JoinOperator::Anti(c) | JoinOperator::LeftAnti(c) | JoinOperator::RightAnti(c) => {
            ("anti", Some(c))
        }
        _ => ("other", None),
    }
}

fn walk_select(select: &Select, scope: &mut Scope, ctx: &Ctx) {
    let mut from_rels = Vec::new();
    let mut join_count = 0;
    for twj in &select.from {
        let first = factor_rel(&twj.relation, scope, ctx);
        let mut left: Vec<Rel> = from_rels.clone();
        left.extend(first.clone());
        from_rels.extend(first);
        for join in &twj.joins {
            join_count += 1;
            let rel = factor_rel(&join.relation, scope, ctx);
            let (kind, constraint) = join_parts(&join.join_operator);
            let (keys, by_month, text) = match constraint {
                Some(JoinConstraint::On(expr)) => {
                    scan_expr(expr, scope, ctx);
                    let cols = idents(expr);
                    scope.predicate_columns.extend(cols.iter().cloned());
                    (cols, mentions_month(expr), expr.to_string())
                }
                Some(JoinConstraint::Using(names)) => {
                    let cols: Vec<String> = names
                        .iter()
                        .filter_map(|n| object_parts(n).last().map(|s| norm(s)))
                        .collect();
                    let by_month = cols.iter().any(|c| c.contains("month"));
                    (
                        cols.clone(),
                        by_month,
                        format!("using ({})", cols.join(", ")),
                    )
                }
                _ => (Vec::new(), false, String::new()),
            };
            scope.joins.push(JoinUse {
                kind: kind.to_string(),
                relation: rel.clone(),
                left: left.clone(),
                keys,
                by_month,
                text: clip(&text),
            });
            left.extend(rel.clone());
            from_rels.extend(rel);
        }
    }

    // Window aliases first, so a window can be matched to `where alias = 1`.
    let mut has_star = false;
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => has_star = true,
            SelectItem::UnnamedExpr(expr) => {
                let name = match expr {
                    Expr::Identifier(i) => Some(norm(&i.value)),
                    Expr::CompoundIdentifier(parts) => parts.last().map(|i| norm(&i.value)),
                    _ => None,
                };
                push_output(scope, name, expr);
                scan_expr_with_alias(expr, None, scope, ctx);
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                push_output(scope, Some(norm(&alias.value)), expr);
                scan_expr_with_alias(expr, Some(norm(&alias.value)), scope, ctx);
            }
            _ => {}
        }
    }
    if has_star {
        scope.star = Some(StarUse {
            only_star: select.projection.len() == 1,
            from: from_rels.clone(),
            joins: join_count,
        });
    }
    match &select.distinct {
        Some(Distinct::Distinct) => {
            scope.distinct = Some(DistinctUse {
                on: Vec::new(),
                columns: scope
                    .outputs
                    .iter()
                    .filter_map(|o| o.name.clone())
                    .collect(),
                star: has_star,
            });
        }
        Some(Distinct::On(exprs)) => {
            scope.distinct = Some(DistinctUse {
                on: exprs.iter().flat_map(idents).collect(),
                columns: Vec::new(),
                star: has_star,
            });
        }
        _ => {}
    }
    if let Some(selection) = &select.selection {
        scope.where_columns.extend(idents(selection));
        scan_expr(selection, scope, ctx);
    }
    match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => {
            for e in exprs {
                match e {
                    Expr::Value(v) => {
                        if let Value::Number(n, _) = &v.value {
                            if let Ok(idx) = n.parse::<usize>() {
                                if let Some(
                                    SelectItem::UnnamedExpr(pe)
                                    | SelectItem::ExprWithAlias { expr: pe, .. },
                                ) = select.projection.get(idx.wrapping_sub(1))
                                {
                                    scope.group_by.extend(idents(pe));
                                }
                            }
                        }
                    }
                    other => {
                        scope.group_by.extend(idents(other));
                        scan_expr(other, scope, ctx);
                    }
                }
            }
        }
        GroupByExpr::All(_) => {
            let cols: Vec<String> = scope
                .outputs
                .iter()
                .flat_map(|o| o.columns.clone())
                .collect();
            scope.group_by.extend(cols);
        }
    }
    if let Some(having) = &select.having {
        scan_expr(having, scope, ctx);
    }
    if let Some(qualify) = &select.qualify {
        scan_expr(qualify, scope, ctx);
    }
}

fn push_output(scope: &mut Scope, name: Option<String>, expr: &Expr) {
    let columns = idents(expr);
    let constant = columns.is_empty() && !has_subquery(expr);
    scope.outputs.push(OutputCol {
        name,
        constant,
        columns,
        text: clip(&expr.to_string()),
    });
}

fn clip(s: &str) -> String {
    const MAX: usize = 240;
    if s.len() <= MAX {
        s.to_string()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

/// Column names an expression reads (last part of compound identifiers).
pub fn idents(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        match e {
            Expr::Identifier(i) => out.push(norm(&i.value)),
            Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last() {
                    out.push(norm(&last.value));
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    out.sort();
    out.dedup();
    out
}

fn has_subquery(expr: &Expr) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        if matches!(
            e,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

fn string_literals(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        if let Expr::Value(v) = e {
            if let Some(s) = v.value.clone().into_string() {
                out.push(s.to_ascii_lowercase());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

fn mentions_month(expr: &Expr) -> bool {
    idents(expr).iter().any(|c| c.contains("month"))
        || string_literals(expr)
            .iter()
            .any(|s| s.contains("month") || s == "%y-%m" || s == "yyyy-mm")
}

fn function_name(name: &ObjectName) -> String {
    object_parts(name)
        .last()
        .map(|s| norm(s))
        .unwrap_or_default()
}

fn function_args(args: &FunctionArguments) -> Vec<&Expr> {
    match args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                }
                | FunctionArg::ExprNamed {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn is_one(expr: &Expr, bound: &[&str]) -> bool {
    matches!(expr, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if bound.contains(&n.as_str())))
}

fn alias_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(i) => Some(norm(&i.value)),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| norm(&i.value)),
        Expr::Nested(inner) => alias_of(inner),
        _ => None,
    }
}

fn is_window(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f) if f.over.is_some())
}

fn is_now(expr: &Expr) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        match e {
            Expr::Function(f) => {
                let n = function_name(&f.name);
                if matches!(
                    n.as_str(),
                    "current_timestamp"
                        | "now"
                        | "get_current_timestamp"
                        | "current_date"
                        | "getdate"
                        | "sysdate"
                        | "transaction_timestamp"
                ) {
                    found = true;
                }
            }
            Expr::Identifier(i) => {
                let v = norm(&i.value);
                if v == "current_timestamp"
                    || v == "current_date"
                    || v.starts_with("_airbyte_extracted")
                    || v.starts_with("_loaded_at")
                {
                    found = true;
                }
            }
            Expr::CompoundIdentifier(parts)
                if parts.last().is_some_and(|i| {
                    let v = norm(&i.value);
                    v.starts_with("_airbyte_extracted") || v.starts_with("_loaded_at")
                }) =>
            {
                found = true;
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Relations read inside subqueries of an expression.
fn subquery_relations(expr: &Expr, ctx: &Ctx) -> Vec<Rel> {
    let mut out = Vec::new();
    let _ = sqlparser::ast::visit_relations(expr, |name| {
        out.push(classify(name, None, ctx));
        ControlFlow::<()>::Continue(())
    });
    out
}

fn aggregate_columns(expr: &Expr, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        if let Expr::Function(f) = e {
            if names.contains(&function_name(&f.name).as_str()) {
                for a in function_args(&f.args) {
                    out.extend(idents(a));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

fn scan_expr(expr: &Expr, scope: &mut Scope, ctx: &Ctx) {
    scan_expr_with_alias(expr, None, scope, ctx)
}

fn scan_expr_with_alias(expr: &Expr, alias: Option<String>, scope: &mut Scope, ctx: &Ctx) {
    // Relations inside scalar / IN / EXISTS subqueries count as reads of the scope.
    for rel in subquery_relations(expr, ctx) {
        if !scope.relations.contains(&rel) {
            scope.relations.push(rel);
        }
    }
    let top_alias = if is_window(expr) { alias } else { None };
    let mut direct_first: Vec<String> = Vec::new();
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        match e {
            Expr::Function(f) => {
                let name = function_name(&f.name);
                let args = function_args(&f.args);
                if let Some(WindowType::WindowSpec(spec)) = &f.over {
                    let order: Vec<String> =
                        spec.order_by.iter().flat_map(|o| idents(&o.expr)).collect();
                    scope.order_by.extend(order.iter().cloned());
                    let text = e.to_string();
                    let alias = if top_alias.is_some() && std::ptr::eq(e, expr) {
                        top_alias.clone()
                    } else {
                        None
                    };
                    scope.windows.push(WindowUse {
                        function: name.clone(),
                        alias,
                        partition_by: spec.partition_by.iter().flat_map(idents).collect(),
                        order_by: order,
                        filtered_to_first: false,
                        text: clip(&text),
                        args: args.iter().flat_map(|a| idents(a)).collect(),
                    });
                }
                match name.as_str() {
                    "coalesce" | "ifnull" | "nvl" | "isnull" | "zeroifnull" => {
                        if let Some(first) = args.first() {
                            scope.coalesced.extend(idents(first));
                        }
                    }
                    "least" => {
                        for a in &args {
                            scope.least.extend(idents(a));
                        }
                    }
                    "timezone" | "convert_timezone" | "from_utc_timestamp" | "to_utc_timestamp" => {
                        let mut cols = Vec::new();
                        for a in &args {
                            cols.extend(idents(a));
                        }
                        scope.tz_conversions.push(TzConversion {
                            columns: cols,
                            zones: string_literals(e),
                            text: clip(&e.to_string()),
                        });
                    }
                    _ => {}
                }
                if f.over.is_none() && !args.is_empty() {
                    let cols: Vec<String> = args.iter().flat_map(|a| idents(a)).collect();
                    if matches!(
                        name.as_str(),
                        "max"
                            | "min"
                            | "arg_max"
                            | "arg_min"
                            | "max_by"
                            | "min_by"
                            | "last"
                            | "first"
                            | "any_value"
                    ) {
                        scope.aggregates.push((name.clone(), cols));
                    }
                }
            }
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                let mut zones = string_literals(time_zone);
                zones.extend(string_literals(timestamp));
                scope.tz_conversions.push(TzConversion {
                    columns: idents(timestamp),
                    zones,
                    text: clip(&e.to_string()),
                });
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let cols = idents(inner);
                scope.null_checked.extend(cols.iter().cloned());
                scope.predicate_columns.extend(cols);
            }
            Expr::Case { conditions, .. } => {
                for c in conditions {
                    scope.predicate_columns.extend(idents(&c.condition));
                }
            }
            Expr::BinaryOp { left, op, right } => {
                let comparison = matches!(
                    op,
                    BinaryOperator::Eq
                        | BinaryOperator::NotEq
                        | BinaryOperator::Lt
                        | BinaryOperator::LtEq
                        | BinaryOperator::Gt
                        | BinaryOperator::GtEq
                );
                if comparison {
                    scope.predicate_columns.extend(idents(left));
                    scope.predicate_columns.extend(idents(right));
                    let first_bound: &[&str] = match op {
                        BinaryOperator::Eq | BinaryOperator::LtEq => &["1"],
                        BinaryOperator::Lt => &["2"],
                        _ => &[],
                    };
                    for (a, b) in [(left, right), (right, left)] {
                        if is_one(b, first_bound) {
                            if is_window(a) {
                                direct_first.push(a.to_string());
                            } else if let Some(name) = alias_of(a) {
                                scope.eq_one.push(name);
                            }
                        }
                    }
                    if is_now(right) && !is_now(left) {
                        scope.compared_with_now.extend(idents(left));
                    } else if is_now(left) && !is_now(right) {
                        scope.compared_with_now.extend(idents(right));
                    }
                    for (a, b) in [(left, right), (right, left)] {
                        let reads_this = subquery_relations(b, ctx)
                            .iter()
                            .any(|r| r.kind == RelKind::This);
                        if reads_this
                            && !subquery_relations(a, ctx)
                                .iter()
                                .any(|r| r.kind == RelKind::This)
                        {
                            scope.watermarks.push(Watermark {
                                columns: idents(a),
                                this_columns: aggregate_columns(b, &["max", "min", "greatest"]),
                                text: clip(&e.to_string()),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    for w in &mut scope.windows {
        if direct_first.iter().any(|t| clip(t) == w.text) {
            w.filtered_to_first = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(sql: &str) -> SqlFacts {
        parse_sql(sql, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn a_dedup_in_a_dead_cte_is_not_reachable() {
        let f = facts(
            "with source as (select * from __dbt_source.\"marketplace.payments\"),
             deduplicated as (select * from source qualify row_number() over (partition by event_id order by received_at desc) = 1),
             final as (select event_id, order_id from source)
             select * from final",
        );
        let dedup = f.scope("deduplicated").unwrap();
        assert!(!dedup.reachable);
        assert!(dedup.windows[0].filtered_to_first);
        assert_eq!(dedup.windows[0].partition_by, vec!["event_id"]);
        assert!(f.scope("final").unwrap().reachable);
        assert!(f.scope("source").unwrap().reachable);
        assert_eq!(
            f.scope("source").unwrap().relations[0].kind,
            RelKind::Source
        );
    }

    #[test]
    fn a_rank_filtered_in_a_later_cte_counts() {
        let f = facts(
            "with ranked as (select *, row_number() over (partition by event_id order by received_at) as rn from __dbt_ref.\"stg\"),
             kept as (select * from ranked where rn = 1)
             select * from kept",
        );
        let ranked = f.scope("ranked").unwrap();
        assert!(ranked.reachable);
        assert!(ranked.windows[0].filtered_to_first, "{:?}", ranked.windows);
    }

    #[test]
    fn a_filter_on_a_rank_read_from_a_model_is_found_through_ctes() {
        let f = facts(
            "with ranked as (select * from __dbt_ref.\"int_ranked\"),
             dead as (select * from __dbt_ref.\"other\" where rn = 1),
             kept as (select * from ranked where rn = 1)
             select * from kept",
        );
        assert!(f.keeps_first_of("int_ranked", "rn"));
        assert!(!f.keeps_first_of("int_ranked", "row_num"));
        assert!(!f.keeps_first_of("other", "rn"), "a dead CTE keeps nothing");
    }

    #[test]
    fn an_unfiltered_rank_is_not_a_dedup() {
        let f = facts(
            "select *, row_number() over (partition by event_id order by received_at) as rn from __dbt_ref.\"stg\"",
        );
        assert!(!f.final_scope().unwrap().windows[0].filtered_to_first);
    }

    #[test]
    fn reads_timezones_joins_and_watermarks() {
        let f = facts(
            "with o as (select order_id, ((cast(confirmed_at as timestamp) at time zone 'America/New_York') at time zone 'UTC') as confirmed_at_utc, coalesce(country_code, 'ZZ') as cc, deleted_at is not null as is_deleted from __dbt_source.\"marketplace.orders\"
               where _airbyte_extracted_at >= (select max(_airbyte_extracted_at) from __dbt_this.\"fct_orders\"))
             select o.*, r.rate_to_usd from o left join __dbt_ref.\"exchange_rates\" r on r.currency = o.currency and r.month = date_trunc('month', o.created_at)",
        );
        let o = f.scope("o").unwrap();
        assert!(o
            .tz_conversions
            .iter()
            .any(|t| t.columns == vec!["confirmed_at"]
                && t.zones.contains(&"america/new_york".to_string())));
        assert!(o.coalesced.contains(&"country_code".to_string()));
        assert!(o.null_checked.contains(&"deleted_at".to_string()));
        assert_eq!(o.watermarks[0].columns, vec!["_airbyte_extracted_at"]);
        assert!(o.relations.iter().any(|r| r.kind == RelKind::This));
        let fin = f.final_scope().unwrap();
        assert_eq!(fin.joins.len(), 1);
        assert!(fin.joins[0].by_month);
        assert_eq!(
            fin.joins[0].relation.as_ref().unwrap().name,
            "exchange_rates"
        );
    }

    #[test]
    fn distinct_on_and_group_by() {
        let f = facts(
            "select distinct on (event_id) * from __dbt_ref.\"p\" order by event_id, received_at",
        );
        assert_eq!(
            f.final_scope().unwrap().distinct.as_ref().unwrap().on,
            vec!["event_id"]
        );
        let g = facts("select event_id, min(received_at) from __dbt_ref.\"p\" group by 1");
        assert_eq!(g.final_scope().unwrap().group_by, vec!["event_id"]);
    }

    #[test]
    fn output_columns_follow_a_final_star() {
        let f =
            facts("with final as (select user_id, false as is_deleted from x) select * from final");
        let cols = f.output_columns().unwrap();
        assert!(cols
            .iter()
            .any(|c| c.name.as_deref() == Some("is_deleted") && c.constant));
        assert_eq!(f.scope("final").unwrap().relations[0].kind, RelKind::Table);
        let g = facts("select * from __dbt_ref.\"stg_users\"");
        assert!(g.output_columns().is_none());
    }

    #[test]
    fn refuses_oversized_sql() {
        let sql = format!("select 1 {}", " ".repeat(MAX_SQL_BYTES));
        assert!(matches!(
            parse_sql(&sql, &BTreeMap::new()),
            Err(SqlError::TooLarge(_))
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_crashed() {
        let sql = format!("select {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(
            parse_sql(&sql, &BTreeMap::new()),
            Err(SqlError::Parse(_))
        ));
    }
}
