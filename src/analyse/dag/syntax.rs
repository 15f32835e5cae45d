//! The contained half of the DAG analyser: Python source in, a small syntax tree
//! out, as JSON. It runs in a child process (tree-sitter-python can abort on some
//! inputs), so it stays pure: no file access, no resolution, only the shape of the
//! code. Comments are dropped here, which is why a word in a comment can never
//! earn credit further on.

use serde::{Deserialize, Serialize};
use tree_sitter::Node;

/// Deepest nesting of statements and expressions kept; deeper code becomes
/// [`Expr::Opaque`]. It also keeps the JSON within serde_json's nesting limit.
pub const MAX_DEPTH: usize = 32;
/// Syntax nodes visited before the parser gives up on a file.
pub const MAX_NODES: usize = 400_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Module {
    pub body: Vec<Stmt>,
    /// First line where tree-sitter found a syntax error, if any.
    pub syntax_error_line: Option<u32>,
}

/// 1-based inclusive line span.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "s", rename_all = "snake_case")]
pub enum Stmt {
    Assign {
        targets: Vec<Expr>,
        value: Expr,
        span: Span,
    },
    AugAssign {
        target: Expr,
        op: String,
        value: Expr,
        span: Span,
    },
    Expr {
        value: Expr,
        span: Span,
    },
    With {
        items: Vec<WithItem>,
        body: Vec<Stmt>,
        span: Span,
    },
    Def {
        name: String,
        params: Vec<Param>,
        decorators: Vec<Expr>,
        body: Vec<Stmt>,
        span: Span,
    },
    Class {
        name: String,
        body: Vec<Stmt>,
        span: Span,
    },
    Import {
        /// (dotted module, alias)
        names: Vec<(String, Option<String>)>,
        span: Span,
    },
    ImportFrom {
        module: String,
        /// (name, alias); `*` for a wildcard.
        names: Vec<(String, Option<String>)>,
        span: Span,
    },
    If {
        test: Expr,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
        span: Span,
    },
    For {
        target: Expr,
        iter: Expr,
        body: Vec<Stmt>,
        span: Span,
    },
    /// `while`, `try` and other blocks: their statements, flattened, since the
    /// analyser cannot tell which branch runs.
    Block {
        body: Vec<Stmt>,
        span: Span,
        /// A `while` loop (its body may run again).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        looped: bool,
        /// For a `try`: how many statements at the start of `body` are the
        /// guarded block itself.
        #[serde(default, skip_serializing_if = "is_zero")]
        try_len: usize,
        /// For a `try`: its `except` clauses in order (their statements are in
        /// `body` too), so that what a handler does with an error can be read.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        handlers: Vec<Handler>,
    },
    Return {
        value: Option<Expr>,
        span: Span,
    },
    /// `raise` or `assert`: the function can fail on purpose.
    Raise {
        span: Span,
    },
    Other {
        span: Span,
    },
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Assign { span, .. }
            | Stmt::AugAssign { span, .. }
            | Stmt::Expr { span, .. }
            | Stmt::With { span, .. }
            | Stmt::Def { span, .. }
            | Stmt::Class { span, .. }
            | Stmt::Import { span, .. }
            | Stmt::ImportFrom { span, .. }
            | Stmt::If { span, .. }
            | Stmt::For { span, .. }
            | Stmt::Block { span, .. }
            | Stmt::Return { span, .. }
            | Stmt::Raise { span }
            | Stmt::Other { span } => *span,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WithItem {
    pub value: Expr,
    pub alias: Option<Expr>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Param {
    pub name: String,
    pub default: Option<Expr>,
    /// `*args` (1) or `**kwargs` (2).
    pub star: u8,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One `except` clause of a `try`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Handler {
    /// The exception types it names; empty for a bare `except:`.
    pub types: Vec<Expr>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Arg {
    /// Keyword name; `None` for a positional argument.
    pub name: Option<String>,
    /// `*x` (1) or `**x` (2).
    pub star: u8,
    pub value: Expr,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum StrPart {
    Lit { text: String },
    Interp { expr: Box<Expr> },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum DictItem {
    Pair { key: Expr, value: Expr, line: u32 },
    Splat { value: Expr },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum Expr {
    Name {
        id: String,
    },
    Attr {
        value: Box<Expr>,
        attr: String,
    },
    Call {
        func: Box<Expr>,
        args: Vec<Arg>,
        span: Span,
    },
    Str {
        parts: Vec<StrPart>,
        fstring: bool,
        line: u32,
    },
    Int {
        v: i64,
    },
    Float {
        v: f64,
    },
    Bool {
        v: bool,
    },
    None,
    List {
        items: Vec<Expr>,
    },
    Tuple {
        items: Vec<Expr>,
    },
    Dict {
        items: Vec<DictItem>,
        line: u32,
    },
    BinOp {
        op: String,
        left: Box<Expr>,
        right: Box<Expr>,
        line: u32,
    },
    Unary {
        op: String,
        operand: Box<Expr>,
    },
    BoolOp {
        op: String,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Subscript {
        value: Box<Expr>,
        index: Box<Expr>,
    },
    Starred {
        value: Box<Expr>,
    },
    IfExp {
        body: Box<Expr>,
        test: Box<Expr>,
        orelse: Box<Expr>,
    },
    Lambda {
        body: Box<Expr>,
    },
    /// A list, set or generator comprehension: `[body for t in it if c]`.
    Comp {
        body: Box<Expr>,
        clauses: Vec<CompClause>,
    },
    /// Anything the analyser does not model (dict comprehensions, comparisons,
    /// code nested too deep); the kind says which.
    Opaque {
        kind: String,
    },
}

/// One `for ... in ...` or `if ...` of a comprehension, in source order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "c", rename_all = "snake_case")]
pub enum CompClause {
    For { target: Expr, iter: Expr },
    If { test: Expr },
}

/// Clauses kept per comprehension: the evaluator nests one level per clause.
pub const MAX_COMP_CLAUSES: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    #[error("tree-sitter could not load the Python grammar: {0}")]
    Grammar(String),
    #[error("tree-sitter returned no tree")]
    NoTree,
    #[error("the file has more than {0} syntax nodes")]
    TooManyNodes(usize),
}

/// Parses Python source into a [`Module`]. Pure: bytes in, syntax out.
pub fn parse(source: &[u8]) -> Result<Module, SyntaxError> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .map_err(|e| SyntaxError::Grammar(e.to_string()))?;
    let tree = parser.parse(source, None).ok_or(SyntaxError::NoTree)?;
    let root = tree.root_node();
    let mut cx = Cx {
        src: source,
        nodes: 0,
        too_many: false,
    };
    let body = cx.block(root, 0);
    if cx.too_many {
        return Err(SyntaxError::TooManyNodes(MAX_NODES));
    }
    let syntax_error_line = if root.has_error() {
        first_error(root).map(|n| n.start_position().row as u32 + 1)
    } else {
        None
    };
    Ok(Module {
        body,
        syntax_error_line,
    })
}

fn first_error(node: Node) -> Option<Node> {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.is_error() || n.is_missing() {
            return Some(n);
        }
        if n.has_error() {
            let mut cursor = n.walk();
            let children: Vec<Node> = n.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    None
}

struct Cx<'a> {
    src: &'a [u8],
    nodes: usize,
    too_many: bool,
}

fn span(node: Node) -> Span {
    Span {
        start: node.start_position().row as u32 + 1,
        end: node.end_position().row as u32 + 1,
    }
}

fn line(node: Node) -> u32 {
    node.start_position().row as u32 + 1
}

fn named(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|c| c.kind() != "comment")
        .collect()
}

impl<'a> Cx<'a> {
    fn text(&self, node: Node) -> String {
        String::from_utf8_lossy(&self.src[node.byte_range()]).into_owned()
    }

    fn tick(&mut self) -> bool {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.too_many = true;
        }
        !self.too_many
    }

    fn block(&mut self, node: Node, depth: usize) -> Vec<Stmt> {
        let mut out = Vec::new();
        for child in named(node) {
            if !self.tick() {
                break;
            }
            if let Some(stmt) = self.stmt(child, depth + 1) {
                out.push(stmt);
            }
        }
        out
    }

    fn field_block(&mut self, node: Node, field: &str, depth: usize) -> Vec<Stmt> {
        node.child_by_field_name(field)
            .map(|b| self.block(b, depth))
            .unwrap_or_default()
    }

    fn stmt(&mut self, node: Node, depth: usize) -> Option<Stmt> {
        let sp = span(node);
        if depth > MAX_DEPTH {
            return Some(Stmt::Other { span: sp });
        }
        let stmt = match node.kind() {
            "expression_statement" => {
                let inner = named(node);
                let first = *inner.first()?;
                match first.kind() {
                    "assignment" => self.assignment(first, depth, sp),
                    "augmented_assignment" => Stmt::AugAssign {
                        target: self.field_expr(first, "left", depth),
                        op: first
                            .child_by_field_name("operator")
                            .map(|o| self.text(o))
                            .unwrap_or_default(),
                        value: self.field_expr(first, "right", depth),
                        span: sp,
                    },
                    _ => {
                        let value = if inner.len() > 1 {
                            Expr::Tuple {
                                items: inner.iter().map(|n| self.expr(*n, depth)).collect(),
                            }
                        } else {
                            self.expr(first, depth)
                        };
                        Stmt::Expr { value, span: sp }
                    }
                }
            }
            "import_statement" => {
                let mut names = Vec::new();
                for child in named(node) {
                    names.push(self.import_name(child));
                }
                Stmt::Import { names, span: sp }
            }
            "import_from_statement" | "future_import_statement" => {
                let module_node = node.child_by_field_name("module_name");
                let module = module_node
                    .map(|m| self.text(m))
                    .unwrap_or_else(|| "__future__".into());
                let mut names = Vec::new();
                for child in named(node) {
                    if Some(child.id()) == module_node.map(|m| m.id()) {
                        continue;
                    }
                    if child.kind() == "wildcard_import" {
                        names.push(("*".to_string(), None));
                    } else {
                        names.push(self.import_name(child));
                    }
                }
                Stmt::ImportFrom {
                    module,
                    names,
                    span: sp,
                }
            }
            "with_statement" => {
                let mut items = Vec::new();
                for clause in named(node) {
                    if clause.kind() != "with_clause" {
                        continue;
                    }
                    for item in named(clause) {
                        let Some(value) = item.child_by_field_name("value") else {
                            continue;
                        };
                        if value.kind() == "as_pattern" {
                            let inner = named(value);
                            let expr = inner
                                .first()
                                .map(|n| self.expr(*n, depth))
                                .unwrap_or(Expr::None);
                            let alias = value.child_by_field_name("alias").map(|a| {
                                let target = named(a).first().copied().unwrap_or(a);
                                self.expr(target, depth)
                            });
                            items.push(WithItem { value: expr, alias });
                        } else {
                            items.push(WithItem {
                                value: self.expr(value, depth),
                                alias: None,
                            });
                        }
                    }
                }
                Stmt::With {
                    items,
                    body: self.field_block(node, "body", depth),
                    span: sp,
                }
            }
            "decorated_definition" => {
                let decorators: Vec<Expr> = named(node)
                    .into_iter()
                    .filter(|c| c.kind() == "decorator")
                    .filter_map(|d| named(d).first().map(|e| self.expr(*e, depth)))
                    .collect();
                let def = node.child_by_field_name("definition")?;
                let mut stmt = self.stmt(def, depth)?;
                match &mut stmt {
                    Stmt::Def {
                        decorators: ds,
                        span,
                        ..
                    } => {
                        *ds = decorators;
                        *span = sp;
                    }
                    Stmt::Class { span, .. } => *span = sp,
                    _ => {}
                }
                stmt
            }
            "function_definition" => {
                let name = node
                    .child_by_field_name("name")
                    .map(|n| self.text(n))
                    .unwrap_or_default();
                let params = node
                    .child_by_field_name("parameters")
                    .map(|p| self.params(p, depth))
                    .unwrap_or_default();
                Stmt::Def {
                    name,
                    params,
                    decorators: Vec::new(),
                    body: self.field_block(node, "body", depth),
                    span: sp,
                }
            }
            "class_definition" => Stmt::Class {
                name: node
                    .child_by_field_name("name")
                    .map(|n| self.text(n))
                    .unwrap_or_default(),
                body: self.field_block(node, "body", depth),
                span: sp,
            },
            "if_statement" => self.if_stmt(node, depth, sp),
            "for_statement" => Stmt::For {
                target: self.field_expr(node, "left", depth),
                iter: self.field_expr(node, "right", depth),
                body: self.field_block(node, "body", depth),
                span: sp,
            },
            "try_statement" => self.try_stmt(node, depth, sp),
            "while_statement" | "match_statement" => {
                let mut body = Vec::new();
                self.flatten_blocks(node, depth, &mut body);
                Stmt::Block {
                    body,
                    span: sp,
                    looped: node.kind() == "while_statement",
                    try_len: 0,
                    handlers: Vec::new(),
                }
            }
            "return_statement" => Stmt::Return {
                value: named(node).first().map(|n| self.expr(*n, depth)),
                span: sp,
            },
            "raise_statement" | "assert_statement" => Stmt::Raise { span: sp },
            _ => Stmt::Other { span: sp },
        };
        Some(stmt)
    }

    /// A `try`: every block's statements flattened in source order, as for the
    /// other blocks, plus the guarded block's length and each `except` clause.
    fn try_stmt(&mut self, node: Node, depth: usize, sp: Span) -> Stmt {
        let guarded = node.child_by_field_name("body");
        let mut body = guarded
            .map(|b| self.block(b, depth + 1))
            .unwrap_or_default();
        let try_len = body.len();
        let mut handlers = Vec::new();
        for child in named(node) {
            if !self.tick() {
                break;
            }
            if Some(child.id()) == guarded.map(|b| b.id()) {
                continue;
            }
            if matches!(child.kind(), "except_clause" | "except_group_clause") {
                let types = {
                    let mut cursor = child.walk();
                    let values: Vec<Node> =
                        child.children_by_field_name("value", &mut cursor).collect();
                    values
                        .into_iter()
                        .map(|v| {
                            // `except E as e`: the type is the pattern's first part
                            let v = if v.kind() == "as_pattern" {
                                named(v).first().copied().unwrap_or(v)
                            } else {
                                v
                            };
                            self.expr(v, depth)
                        })
                        .collect()
                };
                let handled = named(child)
                    .into_iter()
                    .find(|c| c.kind() == "block")
                    .map(|b| self.block(b, depth + 1))
                    .unwrap_or_default();
                body.extend(handled.iter().cloned());
                handlers.push(Handler {
                    types,
                    body: handled,
                    span: span(child),
                });
            } else if child.kind().ends_with("_clause") {
                self.flatten_blocks(child, depth + 1, &mut body);
            }
        }
        Stmt::Block {
            body,
            span: sp,
            looped: false,
            try_len,
            handlers,
        }
    }

    /// Statements of every block under a `while`/`try`/`match`, in order.
    fn flatten_blocks(&mut self, node: Node, depth: usize, out: &mut Vec<Stmt>) {
        for child in named(node) {
            if !self.tick() {
                return;
            }
            if child.kind() == "block" {
                out.extend(self.block(child, depth + 1));
            } else if child.kind().ends_with("_clause") || child.kind() == "case_clause" {
                self.flatten_blocks(child, depth + 1, out);
            }
        }
    }

    fn if_stmt(&mut self, node: Node, depth: usize, sp: Span) -> Stmt {
        let test = self.field_expr(node, "condition", depth);
        let body = self.field_block(node, "consequence", depth);
        let mut orelse = Vec::new();
        // `elif` chains nest as further ifs in the else branch.
        let alternatives: Vec<Node> = {
            let mut cursor = node.walk();
            node.children_by_field_name("alternative", &mut cursor)
                .collect()
        };
        for (i, alt) in alternatives.iter().enumerate() {
            match alt.kind() {
                "elif_clause" => {
                    let inner = Stmt::If {
                        test: self.field_expr(*alt, "condition", depth),
                        body: self.field_block(*alt, "consequence", depth),
                        orelse: Vec::new(),
                        span: span(*alt),
                    };
                    orelse.push(inner);
                    // remaining alternatives belong to the deepest elif; the
                    // analyser treats branches alike, so order is what matters.
                    let _ = i;
                }
                "else_clause" => orelse.extend(self.field_block(*alt, "body", depth)),
                _ => {}
            }
        }
        Stmt::If {
            test,
            body,
            orelse,
            span: sp,
        }
    }

    fn assignment(&mut self, node: Node, depth: usize, sp: Span) -> Stmt {
        // `a = b = value` nests: the right side is another assignment.
        let mut targets = vec![self.field_expr(node, "left", depth)];
        let mut right = node.child_by_field_name("right");
        while let Some(r) = right {
            if r.kind() == "assignment" {
                targets.push(self.field_expr(r, "left", depth));
                right = r.child_by_field_name("right");
            } else {
                break;
            }
        }
        let value = match right {
            Some(r) => self.expr(r, depth),
            // an annotation without a value
            None => Expr::Opaque {
                kind: "annotation".into(),
            },
        };
        Stmt::Assign {
            targets,
            value,
            span: sp,
        }
    }

    fn import_name(&mut self, node: Node) -> (String, Option<String>) {
        if node.kind() == "aliased_import" {
            let name = node
                .child_by_field_name("name")
                .map(|n| self.text(n))
                .unwrap_or_default();
            let alias = node.child_by_field_name("alias").map(|n| self.text(n));
            (name, alias)
        } else {
            (self.text(node), None)
        }
    }

    fn params(&mut self, node: Node, depth: usize) -> Vec<Param> {
        let mut out = Vec::new();
        for p in named(node) {
            let (name, default, star) = match p.kind() {
                "identifier" => (self.text(p), None, 0),
                "typed_parameter" => {
                    let inner = named(p);
                    let first = inner.first().copied();
                    match first.map(|f| f.kind()) {
                        Some("list_splat_pattern") => (
                            first.map(|f| self.strip_stars(f)).unwrap_or_default(),
                            None,
                            1,
                        ),
                        Some("dictionary_splat_pattern") => (
                            first.map(|f| self.strip_stars(f)).unwrap_or_default(),
                            None,
                            2,
                        ),
                        _ => (first.map(|f| self.text(f)).unwrap_or_default(), None, 0),
                    }
                }
                "default_parameter" | "typed_default_parameter" => (
                    p.child_by_field_name("name")
                        .map(|n| self.text(n))
                        .unwrap_or_default(),
                    p.child_by_field_name("value").map(|v| self.expr(v, depth)),
                    0,
                ),
                "list_splat_pattern" => (self.strip_stars(p), None, 1),
                "dictionary_splat_pattern" => (self.strip_stars(p), None, 2),
                _ => continue,
            };
            out.push(Param {
                name,
                default,
                star,
            });
        }
        out
    }

    fn strip_stars(&self, node: Node) -> String {
        self.text(node).trim_start_matches('*').to_string()
    }

    fn field_expr(&mut self, node: Node, field: &str, depth: usize) -> Expr {
        match node.child_by_field_name(field) {
            Some(n) => self.expr(n, depth),
            None => Expr::Opaque {
                kind: format!("missing {field}"),
            },
        }
    }

    fn boxed(&mut self, node: Option<Node>, depth: usize) -> Box<Expr> {
        Box::new(match node {
            Some(n) => self.expr(n, depth),
            None => Expr::Opaque {
                kind: "missing".into(),
            },
        })
    }

    fn expr(&mut self, node: Node, depth: usize) -> Expr {
        let depth = depth + 1;
        if depth > MAX_DEPTH || !self.tick() {
            return Expr::Opaque {
                kind: "too deep".into(),
            };
        }
        match node.kind() {
            "identifier" => Expr::Name {
                id: self.text(node),
            },
            "attribute" => Expr::Attr {
                value: self.boxed(node.child_by_field_name("object"), depth),
                attr: node
                    .child_by_field_name("attribute")
                    .map(|a| self.text(a))
                    .unwrap_or_default(),
            },
            "call" => {
                let func = self.boxed(node.child_by_field_name("function"), depth);
                let mut args = Vec::new();
                if let Some(list) = node.child_by_field_name("arguments") {
                    if list.kind() == "argument_list" {
                        for a in named(list) {
                            args.push(self.arg(a, depth));
                        }
                    } else {
                        args.push(Arg {
                            name: None,
                            star: 0,
                            value: self.expr(list, depth),
                            line: line(list),
                        });
                    }
                }
                Expr::Call {
                    func,
                    args,
                    span: span(node),
                }
            }
            "string" => self.string(node, depth),
            "concatenated_string" => {
                let mut parts = Vec::new();
                let mut fstring = false;
                for s in named(node) {
                    if let Expr::Str {
                        parts: p,
                        fstring: f,
                        ..
                    } = self.string(s, depth)
                    {
                        parts.extend(p);
                        fstring |= f;
                    }
                }
                Expr::Str {
                    parts,
                    fstring,
                    line: line(node),
                }
            }
            "integer" => {
                let text = self.text(node).replace('_', "");
                let v = if let Some(hex) =
                    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
                {
                    i64::from_str_radix(hex, 16).ok()
                } else {
                    text.parse::<i64>().ok()
                };
                match v {
                    Some(v) => Expr::Int { v },
                    None => Expr::Opaque {
                        kind: "integer".into(),
                    },
                }
            }
            "float" => match self.text(node).replace('_', "").parse::<f64>() {
                Ok(v) => Expr::Float { v },
                Err(_) => Expr::Opaque {
                    kind: "float".into(),
                },
            },
            "true" => Expr::Bool { v: true },
            "false" => Expr::Bool { v: false },
            "none" => Expr::None,
            "list" | "set" => Expr::List {
                items: named(node).iter().map(|n| self.expr(*n, depth)).collect(),
            },
            "tuple" | "expression_list" | "pattern_list" | "tuple_pattern" | "list_pattern" => {
                Expr::Tuple {
                    items: named(node).iter().map(|n| self.expr(*n, depth)).collect(),
                }
            }
            "dictionary" => {
                let mut items = Vec::new();
                for child in named(node) {
                    match child.kind() {
                        "pair" => items.push(DictItem::Pair {
                            key: self.field_expr(child, "key", depth),
                            value: self.field_expr(child, "value", depth),
                            line: line(child),
                        }),
                        "dictionary_splat" => items.push(DictItem::Splat {
                            value: named(child)
                                .first()
                                .map(|n| self.expr(*n, depth))
                                .unwrap_or(Expr::None),
                        }),
                        _ => {}
                    }
                }
                Expr::Dict {
                    items,
                    line: line(node),
                }
            }
            "binary_operator" => Expr::BinOp {
                op: node
                    .child_by_field_name("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default(),
                left: self.boxed(node.child_by_field_name("left"), depth),
                right: self.boxed(node.child_by_field_name("right"), depth),
                line: line(node),
            },
            "unary_operator" => Expr::Unary {
                op: node
                    .child_by_field_name("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default(),
                operand: self.boxed(node.child_by_field_name("argument"), depth),
            },
            "not_operator" => Expr::Unary {
                op: "not".into(),
                operand: self.boxed(node.child_by_field_name("argument"), depth),
            },
            "boolean_operator" => Expr::BoolOp {
                op: node
                    .child_by_field_name("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default(),
                left: self.boxed(node.child_by_field_name("left"), depth),
                right: self.boxed(node.child_by_field_name("right"), depth),
            },
            "subscript" => Expr::Subscript {
                value: self.boxed(node.child_by_field_name("value"), depth),
                index: self.boxed(node.child_by_field_name("subscript"), depth),
            },
            "list_splat" | "dictionary_splat" => Expr::Starred {
                value: self.boxed(named(node).first().copied(), depth),
            },
            "parenthesized_expression" => match named(node).first() {
                Some(inner) => self.expr(*inner, depth),
                None => Expr::Tuple { items: Vec::new() },
            },
            "conditional_expression" => {
                let parts = named(node);
                Expr::IfExp {
                    body: self.boxed(parts.first().copied(), depth),
                    test: self.boxed(parts.get(1).copied(), depth),
                    orelse: self.boxed(parts.get(2).copied(), depth),
                }
            }
            "comparison_operator" => {
                let text = self.text(node);
                let kind = if text.contains("__name__") && text.contains("__main__") {
                    "main_guard"
                } else {
                    "comparison"
                };
                // the operands may still create tasks or read Variables
                for child in named(node) {
                    let _ = self.expr(child, depth);
                }
                Expr::Opaque { kind: kind.into() }
            }
            "list_comprehension" | "set_comprehension" | "generator_expression" => {
                let body = self.boxed(node.child_by_field_name("body"), depth);
                let mut clauses = Vec::new();
                for child in named(node) {
                    if clauses.len() == MAX_COMP_CLAUSES {
                        return Expr::Opaque {
                            kind: "comprehension with too many clauses".into(),
                        };
                    }
                    match child.kind() {
                        "for_in_clause" => clauses.push(CompClause::For {
                            target: self.field_expr(child, "left", depth),
                            iter: self.field_expr(child, "right", depth),
                        }),
                        "if_clause" => clauses.push(CompClause::If {
                            test: named(child)
                                .first()
                                .map(|n| self.expr(*n, depth))
                                .unwrap_or(Expr::None),
                        }),
                        _ => {}
                    }
                }
                Expr::Comp { body, clauses }
            }
            "lambda" => Expr::Lambda {
                body: self.boxed(node.child_by_field_name("body"), depth),
            },
            "await" => match named(node).first() {
                Some(inner) => self.expr(*inner, depth),
                None => Expr::None,
            },
            other => Expr::Opaque { kind: other.into() },
        }
    }

    fn arg(&mut self, node: Node, depth: usize) -> Arg {
        match node.kind() {
            "keyword_argument" => Arg {
                name: node.child_by_field_name("name").map(|n| self.text(n)),
                star: 0,
                value: self.field_expr(node, "value", depth),
                line: line(node),
            },
            "list_splat" => Arg {
                name: None,
                star: 1,
                value: *self.boxed(named(node).first().copied(), depth),
                line: line(node),
            },
            "dictionary_splat" => Arg {
                name: None,
                star: 2,
                value: *self.boxed(named(node).first().copied(), depth),
                line: line(node),
            },
            _ => Arg {
                name: None,
                star: 0,
                value: self.expr(node, depth),
                line: line(node),
            },
        }
    }

    fn string(&mut self, node: Node, depth: usize) -> Expr {
        let mut parts: Vec<StrPart> = Vec::new();
        let mut fstring = false;
        let mut raw = false;
        let push_lit = |parts: &mut Vec<StrPart>, text: &str| {
            if let Some(StrPart::Lit { text: last }) = parts.last_mut() {
                last.push_str(text);
            } else {
                parts.push(StrPart::Lit {
                    text: text.to_string(),
                });
            }
        };
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            match child.kind() {
                "string_start" => {
                    let prefix = self.text(child).to_ascii_lowercase();
                    fstring = prefix.contains('f');
                    raw = prefix.contains('r');
                }
                "string_content" => {
                    // escapes and `{{` inside an f-string are children of the content
                    let start = child.start_byte();
                    let end = child.end_byte();
                    let mut at = start;
                    let mut c2 = child.walk();
                    for inner in child.children(&mut c2) {
                        if inner.start_byte() > at {
                            let lit = String::from_utf8_lossy(&self.src[at..inner.start_byte()])
                                .into_owned();
                            push_lit(&mut parts, &lit);
                        }
                        let text = self.text(inner);
                        let decoded = match inner.kind() {
                            "escape_interpolation" => text.chars().take(1).collect(),
                            "escape_sequence" if !raw => decode_escape(&text),
                            _ => text,
                        };
                        push_lit(&mut parts, &decoded);
                        at = inner.end_byte();
                    }
                    if end > at {
                        let lit = String::from_utf8_lossy(&self.src[at..end]).into_owned();
                        push_lit(&mut parts, &lit);
                    }
                }
                "escape_interpolation" => {
                    let text = self.text(child);
                    push_lit(&mut parts, &text.chars().take(1).collect::<String>());
                }
                "escape_sequence" => {
                    let text = self.text(child);
                    push_lit(&mut parts, &if raw { text } else { decode_escape(&text) });
                }
                "interpolation" => {
                    let inner = child
                        .child_by_field_name("expression")
                        .or_else(|| named(child).first().copied());
                    parts.push(StrPart::Interp {
                        expr: self.boxed(inner, depth),
                    });
                }
                _ => {}
            }
        }
        Expr::Str {
            parts,
            fstring,
            line: line(node),
        }
    }
}

fn decode_escape(text: &str) -> String {
    match text {
        "\\n" => "\n".into(),
        "\\t" => "\t".into(),
        "\\\\" => "\\".into(),
        "\\'" => "'".into(),
        "\\\"" => "\"".into(),
        "\\\n" => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Stmt {
        parse(src.as_bytes()).unwrap().body.remove(0)
    }

    #[test]
    fn comments_leave_no_trace() {
        let m = parse(b"# retries=3\nx = 1  # retries\n").unwrap();
        assert_eq!(m.body.len(), 1);
        assert!(!serde_json::to_string(&m).unwrap().contains("retries"));
    }

    #[test]
    fn fstring_braces_render_single() {
        let Stmt::Assign { value, .. } = one("x = f\"run {{ ds }} {a}\"\n") else {
            panic!()
        };
        let Expr::Str { parts, fstring, .. } = value else {
            panic!("{value:?}")
        };
        assert!(fstring);
        assert_eq!(
            parts[0],
            StrPart::Lit {
                text: "run { ds } ".into()
            }
        );
        assert!(matches!(parts[1], StrPart::Interp { .. }));
    }

    #[test]
    fn plain_string_keeps_jinja() {
        let Stmt::Assign { value, .. } = one("x = 'run {{ ds }}'\n") else {
            panic!()
        };
        assert_eq!(
            value,
            Expr::Str {
                parts: vec![StrPart::Lit {
                    text: "run {{ ds }}".into()
                }],
                fstring: false,
                line: 1
            }
        );
    }

    #[test]
    fn with_dag_as_alias_and_decorators() {
        let src = "with DAG('x', schedule=None) as dag:\n    t = Op(task_id='a')\n@dag(schedule='@daily')\ndef f():\n    pass\n";
        let m = parse(src.as_bytes()).unwrap();
        let Stmt::With { items, body, .. } = &m.body[0] else {
            panic!()
        };
        assert_eq!(items[0].alias, Some(Expr::Name { id: "dag".into() }));
        assert_eq!(body.len(), 1);
        let Stmt::Def {
            decorators, span, ..
        } = &m.body[1]
        else {
            panic!()
        };
        assert_eq!(decorators.len(), 1);
        assert_eq!(span.start, 3);
    }

    #[test]
    fn deep_nesting_is_cut_and_serialises() {
        let mut src = String::from("x = ");
        for _ in 0..500 {
            src.push('(');
            src.push('[');
        }
        src.push('1');
        for _ in 0..500 {
            src.push(']');
            src.push(')');
        }
        let m = parse(src.as_bytes()).unwrap();
        let json = serde_json::to_vec(&m).unwrap();
        let back: Module = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, m);

        let mut src = String::new();
        for i in 0..60 {
            src.push_str(&"    ".repeat(i));
            src.push_str("with f(a=g(x=f'{d}', y={'k': [h(**{'z': 1})]})) as q:\n");
        }
        src.push_str(&"    ".repeat(60));
        src.push_str("pass\n");
        let m = parse(src.as_bytes()).unwrap();
        let json = serde_json::to_vec(&m).unwrap();
        let back: Module = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, m);
    }
}
