//! Reads a parsed DAG file the way Airflow's parser would run it: module code
//! top to bottom, `with` blocks, called `@dag` functions and helper functions,
//! with values followed through variables, dict merges and later mutation. Code
//! that never runs at parse time (uncalled functions, `if __name__ == "__main__"`)
//! creates nothing. Values Airflow only knows at run time (Variables, the
//! environment) stay "unknown".

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::classify;
use super::imports::{submodule_key, ImportGraph};
use super::model::*;
use super::syntax::{Arg, CompClause, DictItem, Expr, Module, Param, Stmt, StrPart};

/// Evaluation steps before the analyser stops following a file's code.
const MAX_STEPS: usize = 200_000;
/// Nested calls of the file's own functions followed.
const MAX_CALL_DEPTH: usize = 12;
/// Items of a literal list a `for` loop is unrolled over.
const MAX_LOOP_ITEMS: usize = 200;
/// Longest string and list the analyser builds: code that doubles a string in a
/// loop must not exhaust the grader's memory.
const MAX_TEXT_BYTES: usize = 64 * 1024;
const MAX_LIST_ITEMS: usize = 10_000;

fn cap_text(mut s: String) -> String {
    if s.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[derive(Debug, Clone)]
pub(crate) enum V {
    Unknown(String),
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    Duration(f64),
    DateTime {
        is_static: bool,
        text: String,
    },
    List(Vec<V>),
    /// String-keyed dict: (key, value, line where the key was set).
    Dict(Vec<(String, V, u32)>),
    Func(usize),
    Import(String),
    /// One of the submission's own modules, with the key it was imported by.
    Module(usize, String),
    Class(String),
    Task(usize),
    Group(usize),
    Dag(usize),
    Xcom(usize),
    Label {
        text: String,
        ups: Vec<V>,
    },
    Object(String),
    /// A decorated function: `@task...`, `@dag`, `@task_group`.
    Deco(Box<Deco>),
    /// A decorator factory call such as `task(retries=2)` or `dag(schedule=...)`.
    DecoFactory {
        kind: DecoKind,
        kwargs: Vec<(String, V, u32)>,
    },
}

/// Keyword arguments or dict entries: (name, value, line).
type Kwargs = Vec<(String, V, u32)>;

#[derive(Debug, Clone)]
pub(crate) struct Text {
    pub s: String,
    /// Line of an f-string whose doubled braces were meant as Jinja.
    pub pitfall: Option<u32>,
    /// A wall-clock date was formatted into the text.
    pub wallclock: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DecoKind {
    Task(String),
    Dag,
    Group,
}

#[derive(Debug, Clone)]
pub(crate) struct Deco {
    kind: DecoKind,
    func: usize,
    kwargs: Vec<(String, V, u32)>,
}

struct FnDef<'m> {
    /// The module whose globals the function reads.
    module: usize,
    name: String,
    params: &'m [Param],
    body: &'m [Stmt],
    span: Span,
}

struct DagB {
    module: usize,
    dag_id: String,
    span: Span,
    style: DagStyle,
    kwargs: BTreeMap<String, (V, u32)>,
}

struct TaskB {
    module: usize,
    local_id: String,
    dag: Option<usize>,
    group: Option<usize>,
    operator: String,
    span: Span,
    kwargs: BTreeMap<String, (V, u32)>,
    /// TaskFlow function, or a PythonOperator's python_callable.
    func: Option<usize>,
    bash_from_func: Option<String>,
}

/// A module being evaluated: the DAG file or one it imports.
struct ModCtx<'m> {
    path: String,
    lines: Vec<&'m str>,
    body: &'m [Stmt],
    globals: HashMap<String, V>,
    /// 0 not run yet, 1 running (an import cycle), 2 done.
    state: u8,
}

struct GroupB {
    id: String,
    parent: Option<usize>,
    dag: Option<usize>,
    default_args: Vec<(String, V, u32)>,
    prefix: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NodeRef {
    Task(usize),
    Group(usize),
}

struct EdgeB {
    from: NodeRef,
    to: NodeRef,
    how: EdgeKind,
    line: u32,
    label: Option<String>,
}

pub(crate) struct Interp<'m> {
    mods: Vec<ModCtx<'m>>,
    links: &'m [HashMap<String, usize>],
    /// The module whose code runs now.
    cur: usize,
    frames: Vec<HashMap<String, V>>,
    fns: Vec<FnDef<'m>>,
    dags: Vec<DagB>,
    tasks: Vec<TaskB>,
    groups: Vec<GroupB>,
    edges: Vec<EdgeB>,
    dag_stack: Vec<usize>,
    group_stack: Vec<usize>,
    steps: usize,
    stopped: bool,
    current_line: u32,
    pub top_level_work: Vec<Site>,
    pub problems: Vec<Site>,
}

enum Flow {
    Next,
    Return(V),
}

/// What evaluating one file produced.
pub(crate) struct Evaluated {
    pub dags: Vec<Dag>,
    pub top_level_work: Vec<Site>,
    pub problems: Vec<Site>,
    pub date_templates: Vec<Site>,
    pub date_pitfalls: Vec<Site>,
}

/// Evaluates one module and returns its DAGs plus the file-level findings.
pub(crate) fn run(graph: &ImportGraph) -> Evaluated {
    let path = graph.modules[0].path.as_str();
    let module = &graph.modules[0].module;
    let mut it = Interp {
        mods: graph
            .modules
            .iter()
            .map(|m| ModCtx {
                path: m.path.clone(),
                lines: m.source.lines().collect(),
                body: &m.module.body,
                globals: HashMap::new(),
                state: 0,
            })
            .collect(),
        links: &graph.links,
        cur: 0,
        frames: Vec::new(),
        fns: Vec::new(),
        dags: Vec::new(),
        tasks: Vec::new(),
        groups: Vec::new(),
        edges: Vec::new(),
        dag_stack: Vec::new(),
        group_stack: Vec::new(),
        steps: 0,
        stopped: false,
        current_line: 1,
        top_level_work: Vec::new(),
        problems: Vec::new(),
    };
    it.mods[0].state = 1;
    let _ = it.block(&module.body);
    it.mods[0].state = 2;
    it.preload_callables();
    if it.stopped {
        it.problems.push(Site {
            file: path.to_string(),
            span: Span { start: 1, end: 1 },
            snippet: String::new(),
            what: "the file's code is too long to follow in full; later parts were not read".into(),
        });
    }
    let dags = it.finish(module);
    let (date_templates, date_pitfalls) = it.date_sites();
    Evaluated {
        dags,
        top_level_work: it.top_level_work,
        problems: it.problems,
        date_templates,
        date_pitfalls,
    }
}

pub(crate) fn snippet_of(lines: &[&str], span: Span) -> String {
    let start = span.start.max(1) as usize - 1;
    let end = (span.end as usize).min(lines.len()).min(start + 12);
    let mut out = lines
        .get(start..end.max(start))
        .map(|l| l.join("\n"))
        .unwrap_or_default();
    if out.len() > 800 {
        let mut cut = 800;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn is_airflow(path: &str) -> bool {
    path.starts_with("airflow.") || path == "airflow"
}

impl<'m> Interp<'m> {
    fn site(&self, span: Span, what: impl Into<String>) -> Site {
        self.site_in(self.cur, span, what)
    }

    fn site_in(&self, m: usize, span: Span, what: impl Into<String>) -> Site {
        Site {
            file: self.mods[m].path.clone(),
            span,
            snippet: snippet_of(&self.mods[m].lines, span),
            what: what.into(),
        }
    }

    fn tick(&mut self) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.stopped = true;
        }
        !self.stopped
    }

    // ---- variables ----

    fn lookup(&self, name: &str) -> V {
        if let Some(frame) = self.frames.last() {
            if let Some(v) = frame.get(name) {
                return v.clone();
            }
        }
        if let Some(v) = self.mods[self.cur].globals.get(name) {
            return v.clone();
        }
        match name {
            "dict" | "int" | "str" | "float" | "bool" | "len" | "list" | "print" | "open"
            | "range" | "sorted" | "max" | "min" | "abs" | "round" | "tuple" | "set" => {
                V::Import(format!("builtins.{name}"))
            }
            "__doc__" => V::Str(Text {
                s: "(module docstring)".into(),
                pitfall: None,
                wallclock: None,
            }),
            _ => V::Unknown(format!("`{name}` is not defined in this file")),
        }
    }

    fn bind(&mut self, name: &str, v: V) {
        match self.frames.last_mut() {
            Some(frame) => {
                frame.insert(name.to_string(), v);
            }
            None => {
                self.mods[self.cur].globals.insert(name.to_string(), v);
            }
        }
    }

    fn assign(&mut self, target: &'m Expr, v: V) {
        match target {
            Expr::Name { id } => self.bind(id, v),
            Expr::Tuple { items } | Expr::List { items } => {
                let values = match &v {
                    V::List(vs) if vs.len() == items.len() => vs.clone(),
                    _ => vec![V::Unknown("unpacked value".into()); items.len()],
                };
                for (t, v) in items.iter().zip(values) {
                    self.assign(t, v);
                }
            }
            Expr::Subscript { value, index } => {
                let key = self.eval(index);
                let line = self.line_hint();
                if let (Expr::Name { id }, V::Str(k)) = (value.as_ref(), key) {
                    if let V::Dict(mut items) = self.lookup(id) {
                        set_key(&mut items, &k.s, v, line);
                        self.bind(id, V::Dict(items));
                    }
                }
            }
            Expr::Attr { value, attr } => {
                let line = self.line_hint();
                match self.eval(value) {
                    V::Task(t) => {
                        self.tasks[t].kwargs.insert(attr.clone(), (v, line));
                    }
                    V::Dag(d) => {
                        self.dags[d].kwargs.insert(attr.clone(), (v, line));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Line of the statement being evaluated, for facts set by mutation.
    fn line_hint(&self) -> u32 {
        self.current_line
    }

    // ---- statements ----

    fn block(&mut self, body: &'m [Stmt]) -> Flow {
        for stmt in body {
            if !self.tick() {
                return Flow::Next;
            }
            if let Flow::Return(v) = self.stmt(stmt) {
                return Flow::Return(v);
            }
        }
        Flow::Next
    }

    fn stmt(&mut self, stmt: &'m Stmt) -> Flow {
        self.current_line = stmt.span().start;
        match stmt {
            Stmt::Assign { targets, value, .. } => {
                let v = self.eval(value);
                for t in targets {
                    self.current_line = stmt.span().start;
                    self.assign(t, v.clone());
                }
            }
            Stmt::AugAssign {
                target, op, value, ..
            } => {
                let left = self.eval(target);
                let right = self.eval(value);
                let op = op.trim_end_matches('=');
                let v = self.binop(op, left, right, stmt.span().start);
                self.assign(target, v);
            }
            Stmt::Expr { value, .. } => {
                self.eval(value);
            }
            Stmt::With { items, body, .. } => {
                let mut pushed_dags = 0;
                let mut pushed_groups = 0;
                for item in items {
                    let v = self.eval(&item.value);
                    match v {
                        V::Dag(d) => {
                            if self.dags[d].style == DagStyle::Classic {
                                self.dags[d].style = DagStyle::Context;
                            }
                            self.dag_stack.push(d);
                            pushed_dags += 1;
                        }
                        V::Group(g) => {
                            self.group_stack.push(g);
                            pushed_groups += 1;
                        }
                        _ => {}
                    }
                    if let Some(alias) = &item.alias {
                        self.assign(alias, v);
                    }
                }
                let flow = self.block(body);
                for _ in 0..pushed_dags {
                    self.dag_stack.pop();
                }
                for _ in 0..pushed_groups {
                    self.group_stack.pop();
                }
                return flow;
            }
            Stmt::Def {
                name,
                params,
                decorators,
                body,
                span,
            } => {
                let idx = self.fns.len();
                self.fns.push(FnDef {
                    module: self.cur,
                    name: name.clone(),
                    params,
                    body,
                    span: *span,
                });
                let mut v = V::Func(idx);
                // decorators apply bottom-up
                for d in decorators.iter().rev() {
                    v = self.decorate(d, v);
                }
                self.bind(name, v);
            }
            Stmt::Class { name, .. } => self.bind(name, V::Class(name.clone())),
            Stmt::Import { .. } | Stmt::ImportFrom { .. } => {
                self.load_linked(self.cur, stmt);
                for (name, v) in self.import_bindings(self.cur, stmt) {
                    self.bind(&name, v);
                }
            }
            Stmt::If {
                test, body, orelse, ..
            } => {
                if is_main_guard(test) {
                    return Flow::Next;
                }
                match self.truthiness(test) {
                    Some(true) => return self.block(body),
                    Some(false) => return self.block(orelse),
                    None => {
                        if let Flow::Return(v) = self.block(body) {
                            return Flow::Return(v);
                        }
                        return self.block(orelse);
                    }
                }
            }
            Stmt::For {
                target, iter, body, ..
            } => {
                for item in self.loop_items(iter) {
                    self.assign(target, item);
                    if let Flow::Return(v) = self.block(body) {
                        return Flow::Return(v);
                    }
                }
            }
            Stmt::Block { body, .. } => return self.block(body),
            Stmt::Return { value, .. } => {
                let v = value.as_ref().map(|e| self.eval(e)).unwrap_or(V::None);
                return Flow::Return(v);
            }
            Stmt::Raise { .. } | Stmt::Other { .. } => {}
        }
        Flow::Next
    }

    /// What a `for` walks over. An unknown iterable runs the body once with an
    /// unknown item, so the tasks it makes are still seen.
    fn loop_items(&mut self, iter: &'m Expr) -> Vec<V> {
        let mut items = match self.eval(iter) {
            V::List(items) => items,
            V::Dict(items) => items
                .into_iter()
                .map(|(k, _, _)| V::Str(plain(k)))
                .collect(),
            _ => vec![V::Unknown("loop item".into())],
        };
        items.truncate(MAX_LOOP_ITEMS);
        items
    }

    /// Evaluates a comprehension's body once per combination of its `for`
    /// clauses, in order. An `if` whose outcome the analyser cannot tell keeps
    /// the item: a task made there exists on some parse.
    fn comprehend(&mut self, body: &'m Expr, clauses: &'m [CompClause], out: &mut Vec<V>) {
        // Nested `for` clauses multiply: the budget counts every combination.
        if out.len() >= MAX_LIST_ITEMS || !self.tick() {
            return;
        }
        match clauses.split_first() {
            None => out.push(self.eval(body)),
            Some((CompClause::If { test }, rest)) => {
                if self.truthiness(test) != Some(false) {
                    self.comprehend(body, rest, out);
                }
            }
            Some((CompClause::For { target, iter }, rest)) => {
                for item in self.loop_items(iter) {
                    self.assign(target, item);
                    self.comprehend(body, rest, out);
                }
            }
        }
    }

    fn truthiness(&mut self, test: &'m Expr) -> Option<bool> {
        match test {
            Expr::Bool { v } => Some(*v),
            Expr::Int { v } => Some(*v != 0),
            Expr::None => Some(false),
            Expr::Unary { op, operand } if op == "not" => self.truthiness(operand).map(|b| !b),
            Expr::Name { id } => match self.lookup(id) {
                V::Bool(b) => Some(b),
                V::Int(i) => Some(i != 0),
                V::None => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    fn decorate(&mut self, deco: &'m Expr, v: V) -> V {
        let V::Func(func) = v else { return v };
        let (head, kwargs) = match deco {
            Expr::Call { func: f, args, .. } => {
                let head = self.eval(f);
                let kwargs = self.kwargs(args);
                (head, kwargs)
            }
            other => (self.eval(other), Vec::new()),
        };
        let kind = match head {
            V::Import(path) => decorator_kind(&path),
            V::DecoFactory { kind, kwargs: k } => {
                return V::Deco(Box::new(Deco {
                    kind,
                    func,
                    kwargs: k,
                }))
            }
            _ => None,
        };
        match kind {
            Some(kind) => V::Deco(Box::new(Deco { kind, func, kwargs })),
            None => V::Func(func),
        }
    }

    // ---- expressions ----

    pub(crate) fn eval(&mut self, e: &'m Expr) -> V {
        if !self.tick() {
            return V::Unknown("analysis budget spent".into());
        }
        match e {
            Expr::Name { id } => self.lookup(id),
            Expr::Attr { value, attr } => {
                let base = self.eval(value);
                self.attr(base, attr)
            }
            Expr::Call { func, args, span } => self.call(func, args, *span),
            Expr::Str {
                parts,
                fstring,
                line,
            } => self.string(parts, *fstring, *line),
            Expr::Int { v } => V::Int(*v),
            Expr::Float { v } => V::Float(*v),
            Expr::Bool { v } => V::Bool(*v),
            Expr::None => V::None,
            Expr::List { items } | Expr::Tuple { items } => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Expr::Starred { value } => match self.eval(value) {
                            V::List(vs) => out.extend(vs),
                            other => out.push(other),
                        },
                        other => out.push(self.eval(other)),
                    }
                }
                out.truncate(MAX_LIST_ITEMS);
                V::List(out)
            }
            Expr::Dict { items, .. } => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        DictItem::Pair { key, value, line } => {
                            let k = self.eval(key);
                            let v = self.eval(value);
                            if let V::Str(k) = k {
                                set_key(&mut out, &k.s, v, *line);
                            }
                        }
                        DictItem::Splat { value } => {
                            if let V::Dict(base) = self.eval(value) {
                                for (k, v, l) in base {
                                    set_key(&mut out, &k, v, l);
                                }
                            }
                        }
                    }
                }
                V::Dict(out)
            }
            Expr::BinOp {
                op,
                left,
                right,
                line,
            } => {
                let l = self.eval(left);
                let r = self.eval(right);
                self.binop(op, l, r, *line)
            }
            Expr::Unary { op, operand } => match (op.as_str(), self.eval(operand)) {
                ("-", V::Int(i)) => V::Int(-i),
                ("-", V::Float(f)) => V::Float(-f),
                ("not", V::Bool(b)) => V::Bool(!b),
                _ => V::Unknown("expression".into()),
            },
            Expr::BoolOp { op, left, right } => {
                let l = self.eval(left);
                let r = self.eval(right);
                match (op.as_str(), &l) {
                    ("or", V::Unknown(_)) => r,
                    ("or", V::None) | ("or", V::Bool(false)) => r,
                    ("or", _) => l,
                    ("and", V::None) | ("and", V::Bool(false)) => l,
                    _ => r,
                }
            }
            Expr::Subscript { value, index } => {
                let base = self.eval(value);
                let key = self.eval(index);
                match (base, key) {
                    (V::Dict(items), V::Str(k)) => items
                        .into_iter()
                        .find(|(name, _, _)| *name == k.s)
                        .map(|(_, v, _)| v)
                        .unwrap_or(V::Unknown(format!("key {:?}", k.s))),
                    (V::List(items), V::Int(i)) => {
                        let idx = if i < 0 { items.len() as i64 + i } else { i };
                        items
                            .get(idx.max(0) as usize)
                            .cloned()
                            .unwrap_or(V::Unknown("index".into()))
                    }
                    (V::Xcom(t), _) => V::Xcom(t),
                    (V::Import(p), k) if p == "os.environ" => V::Unknown(format!(
                        "environment variable {}",
                        match k {
                            V::Str(t) => t.s,
                            _ => "?".into(),
                        }
                    )),
                    _ => V::Unknown("subscript".into()),
                }
            }
            Expr::Starred { value } => self.eval(value),
            Expr::IfExp { body, test, orelse } => match self.truthiness(test) {
                Some(true) => self.eval(body),
                Some(false) => self.eval(orelse),
                None => {
                    let b = self.eval(body);
                    let o = self.eval(orelse);
                    match (&b, &o) {
                        (V::Task(_), _) | (V::Xcom(_), _) => b,
                        _ => V::Unknown(format!("either {} or {}", describe(&b), describe(&o))),
                    }
                }
            },
            Expr::Lambda { .. } => V::Object("lambda".into()),
            Expr::Comp { body, clauses } => {
                let mut out = Vec::new();
                self.comprehend(body, clauses, &mut out);
                out.truncate(MAX_LIST_ITEMS);
                V::List(out)
            }
            Expr::Opaque { kind } => V::Unknown(kind.clone()),
        }
    }

    fn string(&mut self, parts: &'m [StrPart], fstring: bool, line: u32) -> V {
        let mut s = String::new();
        let mut pitfall = None;
        let mut wallclock = None;
        for part in parts {
            match part {
                StrPart::Lit { text } => {
                    if fstring && classify::looks_like_broken_jinja(text) {
                        pitfall = Some(line);
                    }
                    s.push_str(text);
                }
                StrPart::Interp { expr } => match self.eval(expr) {
                    V::Str(t) => {
                        pitfall = pitfall.or(t.pitfall);
                        wallclock = wallclock.or(t.wallclock);
                        s.push_str(&t.s);
                    }
                    V::Int(i) => s.push_str(&i.to_string()),
                    V::Float(f) => s.push_str(&f.to_string()),
                    V::DateTime { is_static, .. } => {
                        if !is_static {
                            wallclock = Some(line);
                        }
                        s.push_str("<date>");
                    }
                    V::Xcom(t) => s.push_str(&format!(
                        "{{{{ task_instance.xcom_pull(task_ids='{}') }}}}",
                        self.tasks[t].local_id
                    )),
                    _ => s.push_str("<?>"),
                },
            }
        }
        V::Str(Text {
            s: cap_text(s),
            pitfall,
            wallclock,
        })
    }

    fn binop(&mut self, op: &str, l: V, r: V, line: u32) -> V {
        match op {
            ">>" => self.shift(l, r, line, true),
            "<<" => self.shift(l, r, line, false),
            "+" => match (l, r) {
                (V::Str(a), V::Str(b)) => V::Str(Text {
                    s: cap_text(a.s + &b.s),
                    pitfall: a.pitfall.or(b.pitfall),
                    wallclock: a.wallclock.or(b.wallclock),
                }),
                (V::Int(a), V::Int(b)) => V::Int(a.saturating_add(b)),
                (V::Duration(a), V::Duration(b)) => V::Duration(a + b),
                (V::DateTime { is_static, text }, V::Duration(_))
                | (V::Duration(_), V::DateTime { is_static, text }) => {
                    V::DateTime { is_static, text }
                }
                (V::List(mut a), V::List(b)) => {
                    a.extend(b);
                    a.truncate(MAX_LIST_ITEMS);
                    V::List(a)
                }
                _ => V::Unknown("expression".into()),
            },
            "-" => match (l, r) {
                (V::Int(a), V::Int(b)) => V::Int(a.saturating_sub(b)),
                (V::Duration(a), V::Duration(b)) => V::Duration(a - b),
                (V::DateTime { is_static, text }, V::Duration(_)) => {
                    V::DateTime { is_static, text }
                }
                _ => V::Unknown("expression".into()),
            },
            "*" => match (l, r) {
                (V::Int(a), V::Int(b)) => V::Int(a.saturating_mul(b)),
                (V::Duration(a), V::Int(b)) | (V::Int(b), V::Duration(a)) => {
                    V::Duration(a * b as f64)
                }
                (V::Duration(a), V::Float(b)) => V::Duration(a * b),
                _ => V::Unknown("expression".into()),
            },
            "|" => match (l, r) {
                (V::Dict(mut a), V::Dict(b)) => {
                    for (k, v, l) in b {
                        set_key(&mut a, &k, v, l);
                    }
                    V::Dict(a)
                }
                _ => V::Unknown("expression".into()),
            },
            "%" => match l {
                V::Str(t) => V::Str(Text {
                    s: t.s + " <formatted>",
                    ..t
                }),
                _ => V::Unknown("expression".into()),
            },
            _ => V::Unknown("expression".into()),
        }
    }

    /// `a >> b` (forward) or `a << b`: the edges, and the value Python returns.
    fn shift(&mut self, l: V, r: V, line: u32, forward: bool) -> V {
        if let V::Label { text, .. } = &r {
            if forward {
                return V::Label {
                    text: text.clone(),
                    ups: vec![l],
                };
            }
        }
        if let V::Label { text, ups } = &l {
            if forward {
                for up in ups {
                    self.connect(up, &r, EdgeKind::Shift, line, Some(text.clone()));
                }
                return r;
            }
        }
        let (from, to) = if forward { (&l, &r) } else { (&r, &l) };
        if matches!(l, V::List(_)) && matches!(r, V::List(_)) {
            let span = Span {
                start: line,
                end: line,
            };
            let site = self.site(
                span,
                "`list >> list` is not supported by Airflow and fails when the file is imported",
            );
            self.problems.push(site);
            return r;
        }
        self.connect(from, to, EdgeKind::Shift, line, None);
        r
    }

    fn nodes(&self, v: &V) -> Vec<NodeRef> {
        match v {
            V::Task(t) | V::Xcom(t) => vec![NodeRef::Task(*t)],
            V::Group(g) => vec![NodeRef::Group(*g)],
            V::List(items) => items.iter().flat_map(|i| self.nodes(i)).collect(),
            _ => Vec::new(),
        }
    }

    fn connect(&mut self, from: &V, to: &V, how: EdgeKind, line: u32, label: Option<String>) {
        let froms = self.nodes(from);
        let tos = self.nodes(to);
        for f in &froms {
            for t in &tos {
                self.edges.push(EdgeB {
                    from: *f,
                    to: *t,
                    how,
                    line,
                    label: label.clone(),
                });
            }
        }
    }

    fn attr(&mut self, base: V, attr: &str) -> V {
        match base {
            V::Import(path) => {
                let key = format!("{path}.{attr}");
                match self.links[self.cur].get(&key) {
                    Some(&m) => {
                        self.load_module(m);
                        V::Module(m, key)
                    }
                    None => V::Import(key),
                }
            }
            V::Module(m, key) => match self.mods[m].globals.get(attr) {
                Some(v) => v.clone(),
                None => self.attr(V::Import(key), attr),
            },
            V::Task(t) if attr == "output" => V::Xcom(t),
            V::Xcom(t) => V::Xcom(t),
            V::Task(t) => V::Object(format!("task:{t}:{attr}")),
            V::Dag(d) => match self.dags[d].kwargs.get(attr) {
                Some((v, _)) => v.clone(),
                None => V::Object(format!("dag:{d}:{attr}")),
            },
            V::Deco(d) => V::Object(format!("deco:{}:{attr}", d.func)),
            V::DateTime { is_static, text } => V::DateTime { is_static, text },
            V::Unknown(why) => V::Unknown(why),
            _ => V::Unknown(format!("attribute `{attr}`")),
        }
    }

    fn kwargs(&mut self, args: &'m [Arg]) -> Vec<(String, V, u32)> {
        let mut out = Vec::new();
        for a in args {
            match (&a.name, a.star) {
                (Some(name), _) => {
                    let v = self.eval(&a.value);
                    set_key(&mut out, name, v, a.line);
                }
                (None, 2) => {
                    if let V::Dict(items) = self.eval(&a.value) {
                        for (k, v, l) in items {
                            set_key(&mut out, &k, v, l);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn positional(&mut self, args: &'m [Arg]) -> Vec<V> {
        let mut out = Vec::new();
        for a in args.iter().filter(|a| a.name.is_none()) {
            match (a.star, self.eval(&a.value)) {
                (1, V::List(items)) => out.extend(items),
                (2, _) => {}
                (_, v) => out.push(v),
            }
        }
        out
    }

    fn call(&mut self, func: &'m Expr, args: &'m [Arg], span: Span) -> V {
        // Methods whose receiver is a value the analyser tracks.
        if let Expr::Attr { value, attr } = func {
            let recv = self.eval(value);
            if let Some(v) = self.method(&recv, value, attr, args, span) {
                return v;
            }
            let callee = self.attr(recv, attr);
            return self.apply(callee, args, span);
        }
        let callee = self.eval(func);
        self.apply(callee, args, span)
    }

    fn method(
        &mut self,
        recv: &V,
        recv_expr: &'m Expr,
        attr: &str,
        args: &'m [Arg],
        span: Span,
    ) -> Option<V> {
        match (recv, attr) {
            (
                V::Task(_) | V::Xcom(_) | V::Group(_) | V::List(_),
                "set_downstream" | "set_upstream",
            ) => {
                let other = self.positional(args).into_iter().next()?;
                if attr == "set_downstream" {
                    self.connect(recv, &other, EdgeKind::Method, span.start, None);
                } else {
                    self.connect(&other, recv, EdgeKind::Method, span.start, None);
                }
                Some(V::None)
            }
            (V::Dict(items), "update") => {
                let mut items = items.clone();
                for v in self.positional(args) {
                    if let V::Dict(more) = v {
                        for (k, v, l) in more {
                            set_key(&mut items, &k, v, l);
                        }
                    }
                }
                for (k, v, l) in self.kwargs(args) {
                    set_key(&mut items, &k, v, l);
                }
                if let Expr::Name { id } = recv_expr {
                    self.bind(id, V::Dict(items));
                }
                Some(V::None)
            }
            (V::Dict(items), "setdefault") => {
                let pos = self.positional(args);
                let mut items = items.clone();
                if let (Some(V::Str(k)), Some(v)) = (pos.first(), pos.get(1)) {
                    if !items.iter().any(|(n, _, _)| *n == k.s) {
                        set_key(&mut items, &k.s, v.clone(), span.start);
                    }
                }
                if let Expr::Name { id } = recv_expr {
                    self.bind(id, V::Dict(items));
                }
                Some(V::None)
            }
            (V::Dict(items), "copy") => Some(V::Dict(items.clone())),
            (V::Dict(items), "get") => {
                let pos = self.positional(args);
                let key = match pos.first() {
                    Some(V::Str(k)) => k.s.clone(),
                    _ => return Some(V::Unknown("dict lookup".into())),
                };
                Some(
                    items
                        .iter()
                        .find(|(n, _, _)| *n == key)
                        .map(|(_, v, _)| v.clone())
                        .or_else(|| pos.get(1).cloned())
                        .unwrap_or(V::None),
                )
            }
            (V::Task(t), "expand" | "expand_kwargs") => {
                let t = *t;
                for v in self.positional(args) {
                    self.data_edges(&v, t, span.start);
                }
                for (k, v, l) in self.kwargs(args) {
                    self.data_edges(&v, t, span.start);
                    // Each mapped instance gets one item; the first stands for
                    // them all, so that `bash_command=[...]` is still read.
                    if let V::List(items) = v {
                        if let Some(first) = items.into_iter().next() {
                            self.tasks[t].kwargs.entry(k).or_insert((first, l));
                        }
                    }
                }
                Some(V::Task(t))
            }
            (V::Deco(d), "override") => {
                let mut d = d.clone();
                for (k, v, l) in self.kwargs(args) {
                    set_key(&mut d.kwargs, &k, v, l);
                }
                Some(V::Deco(d))
            }
            (V::Deco(d), "partial") => {
                let mut d = d.clone();
                for (k, v, l) in self.kwargs(args) {
                    set_key(&mut d.kwargs, &k, v, l);
                }
                Some(V::Deco(d))
            }
            (V::Deco(d), "expand" | "expand_kwargs") if matches!(d.kind, DecoKind::Task(_)) => {
                Some(self.apply(V::Deco(d.clone()), args, span))
            }
            (V::Str(t), "format" | "strip" | "lower" | "upper" | "replace" | "join") => {
                let _ = self.positional(args);
                Some(V::Str(Text {
                    s: format!("{} <formatted>", t.s),
                    ..t.clone()
                }))
            }
            (V::Duration(s), "total_seconds") => Some(V::Float(*s)),
            (V::DateTime { is_static, text }, _) => Some(V::DateTime {
                is_static: *is_static,
                text: text.clone(),
            }),
            _ => None,
        }
    }

    fn apply(&mut self, callee: V, args: &'m [Arg], span: Span) -> V {
        match callee {
            V::Import(path) => self.call_import(&path, args, span),
            V::Func(f) => self.call_function(f, args, span),
            V::Deco(d) => self.call_decorated(*d, args, span),
            V::DecoFactory { .. } => V::Unknown("decorator".into()),
            V::Class(name) => {
                if is_operator_name(&name) {
                    self.make_task(name, args, span)
                } else {
                    V::Object(name)
                }
            }
            V::Object(o) if o.starts_with("dag:") => V::Unknown("dag method".into()),
            _ => {
                // evaluate arguments for their side effects (tasks made inline)
                let _ = self.positional(args);
                let _ = self.kwargs(args);
                V::Unknown("result of a call".into())
            }
        }
    }

    fn call_import(&mut self, path: &str, args: &'m [Arg], span: Span) -> V {
        let last = last_segment(path);
        let second = path.rsplit('.').nth(1).unwrap_or("");
        // `BashOperator.partial(task_id=...)` is the task of a dynamic mapping;
        // its `.expand(...)` adds only what it reads.
        if last == "partial" && is_operator_name(second) {
            return self.make_task(path.trim_end_matches(".partial").to_string(), args, span);
        }
        // parse-time work the scheduler repeats on every parse
        if let Some(what) = classify::top_level_work(path) {
            let site = self.site(span, what);
            self.top_level_work.push(site);
        }
        if (last == "get" || last == "get_variable") && second == "Variable" {
            let pos = self.positional(args);
            let name = match pos.first() {
                Some(V::Str(t)) => t.s.clone(),
                _ => "?".into(),
            };
            return V::Unknown(format!("Airflow Variable {name}"));
        }
        if path == "os.getenv" || path == "os.environ.get" {
            let pos = self.positional(args);
            let name = match pos.first() {
                Some(V::Str(t)) => t.s.clone(),
                _ => "?".into(),
            };
            return V::Unknown(format!("environment variable {name}"));
        }
        match path {
            "datetime.timedelta" | "pendulum.duration" | "datetime.datetime.timedelta" => {
                return self.duration(args)
            }
            "builtins.range" => {
                let bounds: Option<Vec<i64>> = self
                    .positional(args)
                    .into_iter()
                    .map(|v| match v {
                        V::Int(i) => Some(i),
                        _ => None,
                    })
                    .collect();
                let (start, stop, step) = match bounds.as_deref() {
                    Some([stop]) => (0, *stop, 1),
                    Some([start, stop]) => (*start, *stop, 1),
                    Some([start, stop, step]) if *step != 0 => (*start, *stop, *step),
                    _ => return V::Unknown("range".into()),
                };
                let mut out = Vec::new();
                let mut i = start;
                while (step > 0 && i < stop) || (step < 0 && i > stop) {
                    if out.len() == MAX_LOOP_ITEMS {
                        break;
                    }
                    out.push(V::Int(i));
                    i = i.saturating_add(step);
                }
                return V::List(out);
            }
            "builtins.dict" => {
                let mut items = Vec::new();
                for v in self.positional(args) {
                    if let V::Dict(base) = v {
                        items = base;
                    }
                }
                for (k, v, l) in self.kwargs(args) {
                    set_key(&mut items, &k, v, l);
                }
                return V::Dict(items);
            }
            "copy.deepcopy" | "copy.copy" | "builtins.list" | "builtins.tuple" => {
                return self
                    .positional(args)
                    .into_iter()
                    .next()
                    .unwrap_or(V::List(Vec::new()))
            }
            "builtins.int" => {
                return match self.positional(args).into_iter().next() {
                    Some(V::Int(i)) => V::Int(i),
                    Some(V::Float(f)) => V::Int(f as i64),
                    Some(V::Str(t)) => {
                        t.s.trim()
                            .parse()
                            .map(V::Int)
                            .unwrap_or(V::Unknown("int()".into()))
                    }
                    Some(V::Unknown(why)) => V::Unknown(why),
                    _ => V::Unknown("int()".into()),
                }
            }
            "builtins.str" => {
                return match self.positional(args).into_iter().next() {
                    Some(V::Str(t)) => V::Str(t),
                    Some(V::Int(i)) => V::Str(plain(i.to_string())),
                    Some(V::Unknown(why)) => V::Unknown(why),
                    _ => V::Unknown("str()".into()),
                }
            }
            _ => {}
        }
        if let Some(is_static) = classify::datetime_ctor(path) {
            let pos = self.positional(args);
            let kw = self.kwargs(args);
            let literal = pos
                .iter()
                .chain(kw.iter().map(|(_, v, _)| v))
                .all(|v| matches!(v, V::Int(_) | V::Str(_) | V::Object(_) | V::Import(_)));
            let shown: Vec<String> = pos
                .iter()
                .map(describe)
                .chain(kw.iter().map(|(k, v, _)| format!("{k}={}", describe(v))))
                .collect();
            let text = format!("{last}({})", shown.join(", "));
            return V::DateTime {
                is_static: is_static && literal,
                text,
            };
        }
        if is_airflow(path) || path.starts_with("cosmos.") {
            match last {
                "DAG" => return self.make_dag(args, span),
                "TaskGroup" => return self.make_group(args, span),
                "Label" => {
                    let text = match self.positional(args).into_iter().next() {
                        Some(V::Str(t)) => t.s,
                        _ => "label".into(),
                    };
                    return V::Label {
                        text,
                        ups: Vec::new(),
                    };
                }
                "chain" | "chain_linear" | "cross_downstream" => {
                    let items = self.positional(args);
                    self.chain(last, items, span.start);
                    return V::None;
                }
                _ => {}
            }
            if let Some(kind) = decorator_kind(path) {
                let kwargs = self.kwargs(args);
                return V::DecoFactory { kind, kwargs };
            }
        }
        if is_operator_name(last) && (is_airflow(path) || path.starts_with("cosmos.")) {
            return self.make_task(path.to_string(), args, span);
        }
        if is_operator_name(last) {
            // an operator from the candidate's own package
            return self.make_task(path.to_string(), args, span);
        }
        let _ = self.positional(args);
        let _ = self.kwargs(args);
        if last.ends_with("Notifier") {
            return V::Object(path.to_string());
        }
        if last.ends_with("Hook") {
            return V::Object(path.to_string());
        }
        if last == "Dataset" || last == "Asset" {
            return V::Object(last.to_string());
        }
        V::Import(format!("{path}()"))
    }

    fn duration(&mut self, args: &'m [Arg]) -> V {
        let pos = self.positional(args);
        let kw = self.kwargs(args);
        let unit = |name: &str| -> f64 {
            match name {
                "weeks" => 604_800.0,
                "days" => 86_400.0,
                "hours" => 3_600.0,
                "minutes" => 60.0,
                "seconds" => 1.0,
                "milliseconds" => 0.001,
                "microseconds" => 0.000_001,
                _ => 0.0,
            }
        };
        let num = |v: &V| -> Option<f64> {
            match v {
                V::Int(i) => Some(*i as f64),
                V::Float(f) => Some(*f),
                _ => None,
            }
        };
        let mut total = 0.0;
        for (i, v) in pos.iter().enumerate() {
            let name = [
                "days",
                "seconds",
                "microseconds",
                "milliseconds",
                "minutes",
                "hours",
                "weeks",
            ]
            .get(i)
            .copied()
            .unwrap_or("");
            match num(v) {
                Some(n) => total += n * unit(name),
                None => return V::Unknown(format!("timedelta of {}", describe(v))),
            }
        }
        for (k, v, _) in &kw {
            match num(v) {
                Some(n) => total += n * unit(k),
                None => return V::Unknown(format!("timedelta of {}", describe(v))),
            }
        }
        V::Duration(total)
    }

    fn chain(&mut self, kind: &str, items: Vec<V>, line: u32) {
        let how = match kind {
            "chain" => EdgeKind::Chain,
            "chain_linear" => EdgeKind::ChainLinear,
            _ => EdgeKind::CrossDownstream,
        };
        if kind == "cross_downstream" {
            if let (Some(a), Some(b)) = (items.first(), items.get(1)) {
                self.connect(a, b, how, line, None);
            }
            return;
        }
        // a Label between two items labels the edge that joins them
        let mut items = items;
        for i in 1..items.len() {
            if let V::Label { text, .. } = &items[i] {
                items[i] = V::Label {
                    text: text.clone(),
                    ups: vec![items[i - 1].clone()],
                };
            }
        }
        for pair in items.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            match (a, b) {
                // chain() pairs up two lists of the same length
                (V::List(xs), V::List(ys)) if kind == "chain" => {
                    if xs.len() == ys.len() {
                        for (x, y) in xs.iter().zip(ys) {
                            self.connect(x, y, how, line, None);
                        }
                    } else {
                        let site = self.site(
                            Span {
                                start: line,
                                end: line,
                            },
                            "chain() of two lists of different lengths fails when the file is imported",
                        );
                        self.problems.push(site);
                    }
                }
                (_, V::Label { .. }) => {}
                (V::Label { text, ups }, b) => {
                    for up in ups.clone() {
                        self.connect(&up, b, how, line, Some(text.clone()));
                    }
                }
                _ => self.connect(a, b, how, line, None),
            }
        }
    }

    fn call_function(&mut self, f: usize, args: &'m [Arg], span: Span) -> V {
        let pos = self.positional(args);
        let kw = self.kwargs(args);
        if self.frames.len() >= MAX_CALL_DEPTH {
            return V::Unknown("call nested too deep".into());
        }
        let params = self.fns[f].params;
        let body = self.fns[f].body;
        let mut frame = HashMap::new();
        let mut pos_iter = pos.into_iter();
        for p in params {
            let v = match p.star {
                1 => V::List(pos_iter.by_ref().collect()),
                2 => V::Dict(Vec::new()),
                _ => pos_iter
                    .next()
                    .or_else(|| {
                        kw.iter()
                            .find(|(k, _, _)| *k == p.name)
                            .map(|(_, v, _)| v.clone())
                    })
                    .or_else(|| p.default.as_ref().map(|d| self.eval(d)))
                    .unwrap_or(V::Unknown(format!("parameter {}", p.name))),
            };
            frame.insert(p.name.clone(), v);
        }
        let _ = span;
        self.frames.push(frame);
        let line = self.current_line;
        let caller = std::mem::replace(&mut self.cur, self.fns[f].module);
        let flow = self.block(body);
        self.cur = caller;
        self.frames.pop();
        self.current_line = line;
        match flow {
            Flow::Return(v) => v,
            Flow::Next => V::None,
        }
    }

    fn call_decorated(&mut self, d: Deco, args: &'m [Arg], span: Span) -> V {
        match &d.kind {
            DecoKind::Dag => {
                let name = self.fns[d.func].name.clone();
                let mut kwargs: BTreeMap<String, (V, u32)> = d
                    .kwargs
                    .iter()
                    .map(|(k, v, l)| (k.clone(), (v.clone(), *l)))
                    .collect();
                let dag_id = match kwargs.remove("dag_id") {
                    Some((V::Str(t), _)) => t.s,
                    _ => name,
                };
                let def_span = self.fns[d.func].span;
                let idx = self.dags.len();
                self.dags.push(DagB {
                    module: self.fns[d.func].module,
                    dag_id,
                    span: def_span,
                    style: DagStyle::Decorator,
                    kwargs,
                });
                self.dag_stack.push(idx);
                let groups = std::mem::take(&mut self.group_stack);
                self.call_function(d.func, args, span);
                self.group_stack = groups;
                self.dag_stack.pop();
                V::Dag(idx)
            }
            DecoKind::Group => {
                let name = self.fns[d.func].name.clone();
                let mut kwargs = d.kwargs.clone();
                if !kwargs.iter().any(|(k, _, _)| k == "group_id") {
                    kwargs.push(("group_id".into(), V::Str(plain(name)), span.start));
                }
                let g = self.group_from(kwargs, span);
                self.group_stack.push(g);
                let _ = self.call_function(d.func, args, span);
                self.group_stack.pop();
                V::Group(g)
            }
            DecoKind::Task(flavour) => {
                let flavour = flavour.clone();
                let name = self.fns[d.func].name.clone();
                let inputs: Vec<V> = self
                    .positional(args)
                    .into_iter()
                    .chain(self.kwargs(args).into_iter().map(|(_, v, _)| v))
                    .collect();
                let mut kwargs: BTreeMap<String, (V, u32)> = d
                    .kwargs
                    .iter()
                    .map(|(k, v, l)| (k.clone(), (v.clone(), *l)))
                    .collect();
                let wanted = match kwargs.remove("task_id") {
                    Some((V::Str(t), _)) => t.s,
                    _ => name,
                };
                let dag = self.dag_stack.last().copied();
                let group = self.group_stack.last().copied();
                let local_id = self.unique_id(dag, group, &wanted);
                let operator = if flavour.is_empty() {
                    "@task".to_string()
                } else {
                    format!("@task.{flavour}")
                };
                let bash_from_func = if flavour == "bash" {
                    match self.call_function(d.func, args, span) {
                        V::Str(t) => Some(t.s),
                        _ => None,
                    }
                } else {
                    None
                };
                let t = self.tasks.len();
                self.tasks.push(TaskB {
                    module: self.cur,
                    local_id,
                    dag,
                    group,
                    operator,
                    span,
                    kwargs,
                    func: Some(d.func),
                    bash_from_func,
                });
                for input in &inputs {
                    self.data_edges(input, t, span.start);
                }
                V::Xcom(t)
            }
        }
    }

    /// TaskFlow results and `.output` passed into a task make it downstream.
    fn data_edges(&mut self, v: &V, to: usize, line: u32) {
        match v {
            V::Xcom(from) if *from != to => self.edges.push(EdgeB {
                from: NodeRef::Task(*from),
                to: NodeRef::Task(to),
                how: EdgeKind::Data,
                line,
                label: None,
            }),
            V::List(items) => {
                for i in items {
                    self.data_edges(i, to, line);
                }
            }
            V::Dict(items) => {
                for (_, i, _) in items {
                    self.data_edges(i, to, line);
                }
            }
            _ => {}
        }
    }

    fn unique_id(&self, dag: Option<usize>, group: Option<usize>, wanted: &str) -> String {
        let taken = |id: &str| {
            self.tasks
                .iter()
                .any(|t| t.dag == dag && t.group == group && t.local_id == id)
        };
        if !taken(wanted) {
            return wanted.to_string();
        }
        (1..)
            .map(|n| format!("{wanted}__{n}"))
            .find(|id| !taken(id))
            .unwrap_or_else(|| wanted.to_string())
    }

    fn make_dag(&mut self, args: &'m [Arg], span: Span) -> V {
        let pos = self.positional(args);
        let mut kwargs: BTreeMap<String, (V, u32)> = self
            .kwargs(args)
            .into_iter()
            .map(|(k, v, l)| (k, (v, l)))
            .collect();
        let dag_id = match kwargs
            .remove("dag_id")
            .map(|(v, _)| v)
            .or(pos.into_iter().next())
        {
            Some(V::Str(t)) => t.s,
            Some(other) => format!("<{}>", describe(&other)),
            None => "<no dag_id>".into(),
        };
        let idx = self.dags.len();
        self.dags.push(DagB {
            module: self.cur,
            dag_id,
            span,
            style: DagStyle::Classic,
            kwargs,
        });
        V::Dag(idx)
    }

    fn make_group(&mut self, args: &'m [Arg], span: Span) -> V {
        let pos = self.positional(args);
        let mut kwargs = self.kwargs(args);
        if let Some(V::Str(t)) = pos.into_iter().next() {
            set_key(&mut kwargs, "group_id", V::Str(t), span.start);
        }
        V::Group(self.group_from(kwargs, span))
    }

    fn group_from(&mut self, kwargs: Vec<(String, V, u32)>, span: Span) -> usize {
        let get = |k: &str| kwargs.iter().find(|(n, _, _)| n == k).map(|(_, v, _)| v);
        let id = match get("group_id") {
            Some(V::Str(t)) => t.s.clone(),
            _ => format!("group@{}", span.start),
        };
        let parent = match get("parent_group") {
            Some(V::Group(g)) => Some(*g),
            _ => self.group_stack.last().copied(),
        };
        let dag = match get("dag") {
            Some(V::Dag(d)) => Some(*d),
            _ => parent
                .and_then(|p| self.groups[p].dag)
                .or(self.dag_stack.last().copied()),
        };
        let default_args = match get("default_args") {
            Some(V::Dict(items)) => items.clone(),
            _ => Vec::new(),
        };
        let prefix = !matches!(get("prefix_group_id"), Some(V::Bool(false)));
        self.groups.push(GroupB {
            id,
            parent,
            dag,
            default_args,
            prefix,
        });
        self.groups.len() - 1
    }

    fn make_task(&mut self, operator: String, args: &'m [Arg], span: Span) -> V {
        let _ = self.positional(args);
        let kwargs = self.kwargs(args);
        let mut map: BTreeMap<String, (V, u32)> = BTreeMap::new();
        for (k, v, l) in kwargs {
            map.insert(k, (v, l));
        }
        let dag = match map.get("dag") {
            Some((V::Dag(d), _)) => Some(*d),
            _ => self.dag_stack.last().copied(),
        };
        let group = match map.get("task_group") {
            Some((V::Group(g), _)) => Some(*g),
            _ => self.group_stack.last().copied(),
        };
        let local_id = match map.get("task_id") {
            Some((V::Str(t), _)) => t.s.clone(),
            Some((other, _)) => format!("<{}@{}>", describe(other), span.start),
            None => format!("<no task_id@{}>", span.start),
        };
        let func = match map.get("python_callable") {
            Some((V::Func(f), _)) => Some(*f),
            Some((V::Deco(d), _)) => Some(d.func),
            _ => None,
        };
        let t = self.tasks.len();
        let inputs: Vec<V> = map.values().map(|(v, _)| v.clone()).collect();
        self.tasks.push(TaskB {
            module: self.cur,
            local_id,
            dag,
            group,
            operator,
            span,
            kwargs: map,
            func,
            bash_from_func: None,
        });
        for input in &inputs {
            self.data_edges(input, t, span.start);
        }
        V::Task(t)
    }

    // ---- turning the evaluation into facts ----

    fn group_prefix(&self, g: Option<usize>) -> String {
        let mut parts = Vec::new();
        let mut cur = g;
        while let Some(i) = cur {
            if self.groups[i].prefix {
                parts.push(self.groups[i].id.clone());
            }
            cur = self.groups[i].parent;
        }
        parts.reverse();
        parts.join(".")
    }

    fn full_id(&self, t: usize) -> String {
        let prefix = self.group_prefix(self.tasks[t].group);
        if prefix.is_empty() {
            self.tasks[t].local_id.clone()
        } else {
            format!("{prefix}.{}", self.tasks[t].local_id)
        }
    }

    fn in_group(&self, t: usize, g: usize) -> bool {
        let mut cur = self.tasks[t].group;
        while let Some(i) = cur {
            if i == g {
                return true;
            }
            cur = self.groups[i].parent;
        }
        false
    }

    /// Task-to-task edges, with group endpoints expanded to the group's roots
    /// (as a downstream) or leaves (as an upstream), as Airflow does.
    fn task_edges(&self) -> Vec<(usize, usize, EdgeKind, u32, Option<String>)> {
        let mut out: Vec<(usize, usize, EdgeKind, u32, Option<String>)> = Vec::new();
        for _pass in 0..4 {
            let mut next = Vec::new();
            for e in &self.edges {
                let froms: Vec<usize> = match e.from {
                    NodeRef::Task(t) => vec![t],
                    NodeRef::Group(g) => self.group_ends(g, &out, false),
                };
                let tos: Vec<usize> = match e.to {
                    NodeRef::Task(t) => vec![t],
                    NodeRef::Group(g) => self.group_ends(g, &out, true),
                };
                for f in &froms {
                    for t in &tos {
                        if f != t {
                            next.push((*f, *t, e.how, e.line, e.label.clone()));
                        }
                    }
                }
            }
            let mut seen = BTreeSet::new();
            next.retain(|(f, t, _, _, _)| seen.insert((*f, *t)));
            if next.len() == out.len() {
                out = next;
                break;
            }
            out = next;
        }
        out
    }

    fn group_ends(
        &self,
        g: usize,
        edges: &[(usize, usize, EdgeKind, u32, Option<String>)],
        roots: bool,
    ) -> Vec<usize> {
        let members: Vec<usize> = (0..self.tasks.len())
            .filter(|t| self.in_group(*t, g))
            .collect();
        members
            .iter()
            .copied()
            .filter(|m| {
                !edges.iter().any(|(f, t, _, _, _)| {
                    if roots {
                        *t == *m && members.contains(f)
                    } else {
                        *f == *m && members.contains(t)
                    }
                })
            })
            .collect()
    }

    fn finish(&mut self, _module: &Module) -> Vec<Dag> {
        let edges = self.task_edges();
        // a task with no DAG joins the DAG of a task it is wired to (Airflow 2)
        for _ in 0..3 {
            for (f, t, _, _, _) in &edges {
                match (self.tasks[*f].dag, self.tasks[*t].dag) {
                    (Some(d), None) => self.tasks[*t].dag = Some(d),
                    (None, Some(d)) => self.tasks[*f].dag = Some(d),
                    _ => {}
                }
            }
        }
        for t in 0..self.tasks.len() {
            if self.tasks[t].dag.is_none() {
                let site = self.site_in(
                    self.tasks[t].module,
                    self.tasks[t].span,
                    format!(
                        "task `{}` belongs to no DAG, so Airflow never runs it",
                        self.tasks[t].local_id
                    ),
                );
                self.problems.push(site);
            }
        }
        let mut out = Vec::new();
        for d in 0..self.dags.len() {
            out.push(self.dag_fact(d, &edges));
        }
        out
    }

    fn dag_fact(&self, d: usize, edges: &[(usize, usize, EdgeKind, u32, Option<String>)]) -> Dag {
        let b = &self.dags[d];
        let mut settings = BTreeMap::new();
        for (k, (v, line)) in &b.kwargs {
            let key = match k.as_str() {
                "schedule_interval" | "timetable" => "schedule",
                other => other,
            };
            if key == "default_args" {
                continue;
            }
            settings.insert(
                key.to_string(),
                Setting {
                    value: self.known(v),
                    origin: Origin::Dag,
                    line: Some(*line),
                },
            );
        }
        let default_items = match b.kwargs.get("default_args") {
            Some((V::Dict(items), _)) => items.clone(),
            _ => Vec::new(),
        };
        let default_args: BTreeMap<String, Setting> = default_items
            .iter()
            .map(|(k, v, l)| {
                (
                    k.clone(),
                    Setting {
                        value: self.known(v),
                        origin: Origin::DefaultArgs,
                        line: Some(*l),
                    },
                )
            })
            .collect();
        if !settings.contains_key("start_date") {
            if let Some(s) = default_args.get("start_date") {
                settings.insert("start_date".into(), s.clone());
            }
        }
        let members: Vec<usize> = (0..self.tasks.len())
            .filter(|t| self.tasks[*t].dag == Some(d))
            .collect();
        let tasks: Vec<Task> = members
            .iter()
            .map(|t| self.task_fact(*t, &default_items))
            .collect();
        let dag_edges: Vec<Edge> = edges
            .iter()
            .filter(|(f, t, _, _, _)| members.contains(f) && members.contains(t))
            .map(|(f, t, how, line, label)| Edge {
                from: self.full_id(*f),
                to: self.full_id(*t),
                how: *how,
                line: *line,
                label: label.clone(),
            })
            .collect();
        let cycle = find_cycle(
            &tasks.iter().map(|t| t.task_id.clone()).collect::<Vec<_>>(),
            &dag_edges,
        );
        let groups = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.dag == Some(d))
            .map(|(i, g)| {
                let p = self.group_prefix(g.parent);
                let _ = i;
                if p.is_empty() {
                    g.id.clone()
                } else {
                    format!("{p}.{}", g.id)
                }
            })
            .collect();
        Dag {
            dag_id: b.dag_id.clone(),
            file: self.mods[b.module].path.clone(),
            span: b.span,
            snippet: snippet_of(
                &self.mods[b.module].lines,
                Span {
                    start: b.span.start,
                    end: b.span.start.max(b.span.end.min(b.span.start + 11)),
                },
            ),
            style: b.style,
            settings,
            default_args,
            tasks,
            groups,
            edges: dag_edges,
            cycle,
            index: Default::default(),
        }
    }

    fn task_fact(&self, t: usize, dag_defaults: &[(String, V, u32)]) -> Task {
        let b = &self.tasks[t];
        let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
        let is_sensor = classify::is_sensor(&b.operator, &b.kwargs);
        // Airflow's own defaults first, then each layer over it.
        for (k, v) in classify::airflow_defaults(is_sensor) {
            settings.insert(
                k.to_string(),
                Setting {
                    value: v,
                    origin: Origin::AirflowDefault,
                    line: None,
                },
            );
        }
        let mut layers: Vec<(Origin, Kwargs)> = vec![(Origin::DefaultArgs, dag_defaults.to_vec())];
        let mut chain_groups = Vec::new();
        let mut cur = b.group;
        while let Some(g) = cur {
            chain_groups.push(g);
            cur = self.groups[g].parent;
        }
        for g in chain_groups.into_iter().rev() {
            layers.push((Origin::DefaultArgs, self.groups[g].default_args.clone()));
        }
        if let Some((V::Dict(items), _)) = b.kwargs.get("default_args") {
            layers.push((Origin::Task, items.clone()));
        }
        layers.push((
            Origin::Task,
            b.kwargs
                .iter()
                .filter(|(k, _)| k.as_str() != "default_args")
                .map(|(k, (v, l))| (k.clone(), v.clone(), *l))
                .collect(),
        ));
        for (origin, items) in layers {
            for (k, v, l) in items {
                if !classify::TASK_SETTINGS.contains(&k.as_str()) {
                    continue;
                }
                settings.insert(
                    k.clone(),
                    Setting {
                        value: self.known(&v),
                        origin,
                        line: Some(l),
                    },
                );
            }
        }
        let text_of = |key: &str| -> Option<String> {
            match b.kwargs.get(key) {
                Some((V::Str(t), _)) => Some(t.s.clone()),
                Some((V::List(items), _)) => Some(
                    items
                        .iter()
                        .map(|i| match i {
                            V::Str(t) => t.s.clone(),
                            _ => "<?>".into(),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => None,
            }
        };
        let bash_command = text_of("bash_command")
            .or_else(|| b.bash_from_func.clone())
            .or_else(|| {
                let parts: Vec<String> = ["cmds", "arguments", "command"]
                    .iter()
                    .filter_map(|k| text_of(k))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            });
        let dbt = bash_command
            .as_deref()
            .map(classify::parse_dbt)
            .unwrap_or_default();
        let callable = b.func.map(|f| {
            let read: Vec<classify::FnSource> = self
                .callees(f)
                .into_iter()
                .map(|g| {
                    let def = &self.fns[g];
                    classify::FnSource {
                        path: &self.mods[def.module].path,
                        lines: &self.mods[def.module].lines,
                        name: &def.name,
                        span: def.span,
                        params: def.params,
                        body: def.body,
                    }
                })
                .collect();
            classify::read_callable(&read)
        });
        let unresolved_callable = match (&callable, b.kwargs.get("python_callable")) {
            (None, Some((v, _))) => Some(unresolved_reason(v)),
            _ => None,
        };
        let has_outlets = b.kwargs.contains_key("outlets");
        let (stages, stage_reason, is_check) = classify::stages(
            &b.operator,
            &self.full_id(t),
            &dbt,
            callable.as_ref(),
            unresolved_callable.is_some(),
            has_outlets,
            bash_command.as_deref(),
        );
        let end = b.span.end.min(b.span.start + 11);
        Task {
            task_id: self.full_id(t),
            operator: b.operator.clone(),
            group: b.group.map(|g| {
                let p = self.group_prefix(Some(g));
                if p.is_empty() {
                    self.groups[g].id.clone()
                } else {
                    p
                }
            }),
            file: self.mods[b.module].path.clone(),
            span: b.span,
            snippet: snippet_of(
                &self.mods[b.module].lines,
                Span {
                    start: b.span.start,
                    end,
                },
            ),
            stages,
            stage_reason,
            is_check,
            is_sensor,
            settings,
            bash_command,
            dbt,
            callable,
            unresolved_callable,
        }
    }

    fn known(&self, v: &V) -> Known {
        match v {
            V::Unknown(why) => Known::Unknown(why.clone()),
            V::None => Known::None,
            V::Bool(b) => Known::Bool(*b),
            V::Int(i) => Known::Int(*i),
            V::Float(f) => Known::Float(*f),
            V::Str(t) => Known::Text(t.s.clone()),
            V::Duration(s) => Known::Seconds(*s),
            V::DateTime { is_static, text } => Known::DateTime {
                is_static: *is_static,
                text: text.clone(),
            },
            V::List(items) => Known::List(items.iter().map(|i| self.known(i)).collect()),
            V::Func(f) => Known::Callable(CallbackRef {
                name: self.fns[*f].name.clone(),
                trivial: classify::is_trivial(self.fns[*f].body),
                line: Some(self.fns[*f].span.start),
            }),
            V::Deco(d) => Known::Callable(CallbackRef {
                name: self.fns[d.func].name.clone(),
                trivial: classify::is_trivial(self.fns[d.func].body),
                line: Some(self.fns[d.func].span.start),
            }),
            V::Object(o) if o.ends_with("Notifier") || o == "lambda" => {
                Known::Callable(CallbackRef {
                    name: o.clone(),
                    trivial: false,
                    line: None,
                })
            }
            // a function from another module: its body is not in this file
            V::Import(p) if !p.ends_with("()") => Known::Callable(CallbackRef {
                name: p.clone(),
                trivial: false,
                line: None,
            }),
            other => Known::Other(describe(other)),
        }
    }
}

/// Functions a task's callable reaches through calls, and modules followed.
const MAX_CALLEE_DEPTH: usize = 3;
const MAX_CALLEES: usize = 16;

impl<'m> Interp<'m> {
    /// Runs each submission module an import statement names, once, as Python
    /// does on the first import.
    fn load_linked(&mut self, m: usize, stmt: &Stmt) {
        let keys: Vec<String> = match stmt {
            Stmt::Import { names, .. } => names
                .iter()
                .flat_map(|(module, alias)| match alias {
                    Some(_) => vec![module.clone()],
                    None => vec![module.split('.').next().unwrap_or(module).to_string()],
                })
                .collect(),
            Stmt::ImportFrom { module, names, .. } => std::iter::once(module.clone())
                .chain(names.iter().map(|(n, _)| submodule_key(module, n)))
                .collect(),
            _ => Vec::new(),
        };
        for k in keys {
            if let Some(&idx) = self.links[m].get(&k) {
                self.load_module(idx);
            }
        }
    }

    /// Runs a module's top-level code in its own globals, outside any DAG or
    /// function the importer was in.
    fn load_module(&mut self, idx: usize) {
        if self.mods[idx].state != 0 {
            return;
        }
        self.mods[idx].state = 1;
        let frames = std::mem::take(&mut self.frames);
        let dags = std::mem::take(&mut self.dag_stack);
        let groups = std::mem::take(&mut self.group_stack);
        let caller = std::mem::replace(&mut self.cur, idx);
        let line = self.current_line;
        let body = self.mods[idx].body;
        let _ = self.block(body);
        self.cur = caller;
        self.current_line = line;
        self.frames = frames;
        self.dag_stack = dags;
        self.group_stack = groups;
        self.mods[idx].state = 2;
    }

    /// The names an import statement binds in module `m`, with their values:
    /// the submission's own modules and what they define, else an import path.
    fn import_bindings(&self, m: usize, stmt: &Stmt) -> Vec<(String, V)> {
        let links = &self.links[m];
        let mut out = Vec::new();
        match stmt {
            Stmt::Import { names, .. } => {
                for (module, alias) in names {
                    let (name, key) = match alias {
                        Some(a) => (a.clone(), module.clone()),
                        None => {
                            let head = module.split('.').next().unwrap_or(module);
                            (head.to_string(), head.to_string())
                        }
                    };
                    let v = match links.get(&key) {
                        Some(&idx) => V::Module(idx, key),
                        None => V::Import(key),
                    };
                    out.push((name, v));
                }
            }
            Stmt::ImportFrom { module, names, .. } => {
                let from = links.get(module).copied();
                for (name, alias) in names {
                    if name == "*" {
                        if let Some(idx) = from {
                            for (k, v) in &self.mods[idx].globals {
                                if !k.starts_with('_') {
                                    out.push((k.clone(), v.clone()));
                                }
                            }
                        }
                        continue;
                    }
                    let sub = submodule_key(module, name);
                    let v = match (links.get(&sub), from) {
                        (Some(&idx), _) => V::Module(idx, sub),
                        (None, Some(idx)) => match self.mods[idx].globals.get(name) {
                            Some(v) => v.clone(),
                            None => V::Import(format!("{}.{name}", module.trim_start_matches('.'))),
                        },
                        (None, None) => {
                            V::Import(format!("{}.{name}", module.trim_start_matches('.')))
                        }
                    };
                    out.push((alias.clone().unwrap_or_else(|| name.clone()), v));
                }
            }
            _ => {}
        }
        out
    }

    /// Loads the modules that task functions import in their own bodies (the
    /// usual way to keep heavy imports out of parse time), so that what they
    /// call can be read.
    fn preload_callables(&mut self) {
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        let mut todo: Vec<(usize, usize)> = self
            .tasks
            .iter()
            .filter_map(|t| t.func)
            .map(|f| (f, 0))
            .collect();
        while let Some((f, depth)) = todo.pop() {
            if !seen.insert(f) || seen.len() > MAX_CALLEES * 8 || self.stopped {
                continue;
            }
            let (m, body) = (self.fns[f].module, self.fns[f].body);
            let mut stmts = Vec::new();
            import_stmts(body, &mut stmts, 0);
            for stmt in stmts {
                self.load_linked(m, stmt);
            }
            if depth < MAX_CALLEE_DEPTH {
                for g in self.direct_callees(f) {
                    todo.push((g, depth + 1));
                }
            }
        }
    }

    /// Functions of the file or the submission's modules that `f` calls.
    fn direct_callees(&self, f: usize) -> Vec<usize> {
        let def = &self.fns[f];
        let mut locals: HashMap<String, V> = HashMap::new();
        let mut stmts = Vec::new();
        import_stmts(def.body, &mut stmts, 0);
        for stmt in stmts {
            locals.extend(self.import_bindings(def.module, stmt));
        }
        let mut out = Vec::new();
        classify::walk(def.body, &mut |e, _| {
            if let Expr::Call { func, .. } = e {
                let g = match self.static_value(def.module, &locals, func) {
                    Some(V::Func(g)) => Some(g),
                    Some(V::Deco(d)) => Some(d.func),
                    _ => None,
                };
                if let Some(g) = g {
                    if g != f && !out.contains(&g) {
                        out.push(g);
                    }
                }
            }
        });
        out
    }

    /// What a name or attribute chain refers to after the modules ran, without
    /// running anything.
    fn static_value(&self, m: usize, locals: &HashMap<String, V>, e: &Expr) -> Option<V> {
        match e {
            Expr::Name { id } => locals
                .get(id)
                .or_else(|| self.mods[m].globals.get(id))
                .cloned(),
            Expr::Attr { value, attr } => match self.static_value(m, locals, value)? {
                V::Module(idx, key) => self.mods[idx].globals.get(attr).cloned().or_else(|| {
                    let sub = format!("{key}.{attr}");
                    self.links[m].get(&sub).map(|&j| V::Module(j, sub))
                }),
                V::Import(path) => {
                    let key = format!("{path}.{attr}");
                    self.links[m].get(&key).map(|&j| V::Module(j, key))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The task function `f` and the functions it reaches through calls,
    /// within bounds: its work may sit in helpers it calls.
    fn callees(&self, f: usize) -> Vec<usize> {
        let mut out = vec![f];
        let mut frontier = vec![f];
        for _ in 0..MAX_CALLEE_DEPTH {
            let mut next = Vec::new();
            for g in frontier {
                for h in self.direct_callees(g) {
                    if !out.contains(&h) && out.len() < MAX_CALLEES {
                        out.push(h);
                        next.push(h);
                    }
                }
            }
            frontier = next;
        }
        out
    }
}

/// Import statements anywhere in a function body, nested functions excluded.
fn import_stmts<'a>(body: &'a [Stmt], out: &mut Vec<&'a Stmt>, depth: usize) {
    if depth > 32 {
        return;
    }
    for s in body {
        match s {
            Stmt::Import { .. } | Stmt::ImportFrom { .. } => out.push(s),
            Stmt::With { body, .. } | Stmt::For { body, .. } | Stmt::Block { body, .. } => {
                import_stmts(body, out, depth + 1)
            }
            Stmt::If { body, orelse, .. } => {
                import_stmts(body, out, depth + 1);
                import_stmts(orelse, out, depth + 1);
            }
            _ => {}
        }
    }
}

impl Interp<'_> {
    /// Template strings reaching tasks: run-date templates and the pitfalls.
    pub(crate) fn date_sites(&self) -> (Vec<Site>, Vec<Site>) {
        let mut templates = Vec::new();
        let mut pitfalls = Vec::new();
        for t in &self.tasks {
            if t.dag.is_none() {
                continue;
            }
            for (k, (v, line)) in &t.kwargs {
                let mut texts = Vec::new();
                collect_texts(v, &mut texts);
                for text in texts {
                    let span = Span {
                        start: *line,
                        end: *line,
                    };
                    if let Some(l) = text.pitfall {
                        let span = Span { start: l, end: l };
                        pitfalls.push(self.site_in(
                            t.module,
                            span,
                            format!("`{k}` is an f-string: its `{{{{ }}}}` render as single braces, so Airflow never templates the run date"),
                        ));
                    }
                    if let Some(l) = text.wallclock {
                        let span = Span { start: l, end: l };
                        pitfalls.push(self.site_in(
                            t.module,
                            span,
                            format!("`{k}` formats the wall-clock date at parse time, so a rerun or backfill uses the wrong day"),
                        ));
                    }
                    if classify::has_run_date_template(&text.s) {
                        templates.push(self.site_in(
                            t.module,
                            span,
                            format!("`{k}` uses a templated run date"),
                        ));
                    }
                }
                if let V::DateTime {
                    is_static: false, ..
                } = v
                {
                    pitfalls.push(self.site_in(
                        t.module,
                        Span {
                            start: *line,
                            end: *line,
                        },
                        format!("`{k}` is the wall-clock time when the file is parsed"),
                    ));
                }
            }
        }
        (templates, pitfalls)
    }
}

/// Why a task's `python_callable` cannot be read, for the task's facts.
fn unresolved_reason(v: &V) -> String {
    match v {
        V::Import(p) => format!(
            "`{}` is defined in a module the analyser did not read (not part of the submission, or over its limits)",
            p.trim_end_matches("()")
        ),
        V::Object(o) if o == "lambda" => {
            "a lambda, whose work the analyser does not follow".to_string()
        }
        V::Unknown(why) => format!("a value the analyser cannot determine ({why})"),
        other => format!("{}, not a function the analyser can read", describe(other)),
    }
}

fn collect_texts<'v>(v: &'v V, out: &mut Vec<&'v Text>) {
    match v {
        V::Str(t) => out.push(t),
        V::List(items) => items.iter().for_each(|i| collect_texts(i, out)),
        V::Dict(items) => items.iter().for_each(|(_, i, _)| collect_texts(i, out)),
        _ => {}
    }
}

pub(crate) fn plain(s: impl Into<String>) -> Text {
    Text {
        s: s.into(),
        pitfall: None,
        wallclock: None,
    }
}

fn set_key(items: &mut Vec<(String, V, u32)>, key: &str, v: V, line: u32) {
    if let Some(slot) = items.iter_mut().find(|(k, _, _)| k == key) {
        slot.1 = v;
        slot.2 = line;
    } else {
        items.push((key.to_string(), v, line));
    }
}

fn describe(v: &V) -> String {
    match v {
        V::Unknown(why) => format!("unknown ({why})"),
        V::Str(t) => format!("{:?}", t.s),
        V::Int(i) => i.to_string(),
        V::Import(p) => p.clone(),
        V::Object(o) => o.clone(),
        V::Class(c) => c.clone(),
        V::Task(_) => "a task".into(),
        V::Xcom(_) => "a task's output".into(),
        V::Group(_) => "a task group".into(),
        V::Dag(_) => "a DAG".into(),
        V::Dict(_) => "a dict".into(),
        V::List(_) => "a list".into(),
        V::Func(_) | V::Deco(_) => "a function".into(),
        _ => "a value".into(),
    }
}

fn is_main_guard(test: &Expr) -> bool {
    matches!(test, Expr::Opaque { kind } if kind == "main_guard")
}

fn decorator_kind(path: &str) -> Option<DecoKind> {
    if !is_airflow(path) {
        return None;
    }
    let rest = path
        .strip_prefix("airflow.decorators.")
        .or_else(|| path.strip_prefix("airflow.sdk.definitions.decorators."))
        .or_else(|| path.strip_prefix("airflow.sdk."))
        .or_else(|| path.strip_prefix("airflow.sdk.bases.decorator."))?;
    if rest == "dag" {
        return Some(DecoKind::Dag);
    }
    if rest == "task_group" {
        return Some(DecoKind::Group);
    }
    if rest == "task" {
        return Some(DecoKind::Task(String::new()));
    }
    if let Some(flavour) = rest.strip_prefix("task.") {
        return Some(DecoKind::Task(flavour.to_string()));
    }
    None
}

fn is_operator_name(name: &str) -> bool {
    let last = last_segment(name);
    last.ends_with("Operator") || last.ends_with("Sensor") || last == "DbtTaskGroup"
}

fn find_cycle(ids: &[String], edges: &[Edge]) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut adj = vec![Vec::new(); ids.len()];
    for e in edges {
        if let (Some(f), Some(t)) = (index.get(e.from.as_str()), index.get(e.to.as_str())) {
            adj[*f].push(*t);
        }
    }
    // iterative DFS with colours: 0 new, 1 on stack, 2 done
    let mut colour = vec![0u8; ids.len()];
    let mut parent = vec![usize::MAX; ids.len()];
    for start in 0..ids.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        colour[start] = 1;
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            if *next < adj[node].len() {
                let to = adj[node][*next];
                *next += 1;
                match colour[to] {
                    0 => {
                        colour[to] = 1;
                        parent[to] = node;
                        stack.push((to, 0));
                    }
                    1 => {
                        let mut cycle = vec![ids[to].clone()];
                        let mut cur = node;
                        while cur != to && cur != usize::MAX {
                            cycle.push(ids[cur].clone());
                            cur = parent[cur];
                        }
                        cycle.reverse();
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    None
}
