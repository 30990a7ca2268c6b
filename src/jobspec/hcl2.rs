//! HCL2 evaluation as Nomad's `jobspec2` does it: `variable` and `locals`
//! blocks, `var.*` and `local.*`, functions, `for` expressions and
//! `dynamic` blocks. The job's tree is rewritten in place before the decoder
//! reads it; every replaced expression keeps the position it was written
//! at, so the decoder's messages still name the right line and column.
//! Runtime references (`${NOMAD_*}`, `${attr.*}`, `${node.*}`, `${meta.*}`,
//! `${env.*}`) are left as written, for the task's start.
//!
//! Files without variables, locals, functions, `for` or `dynamic` are not
//! touched at all.

use super::diag::Sink;
use hcl::Value;
use hcl::eval::{Context, Evaluate};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, BlockLabel, Body, Structure};
use hcl_edit::template::Element;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod budget;
mod error;
mod funcs;
mod tryfunc;

use error::{ReadBackError, TextError};

/// The values given for a job's variables, from least to most important:
/// `NOMAD_VAR_<name>` from the environment, variable files, `--var`.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// `NOMAD_VAR_<name>` values, without the prefix.
    pub env: Vec<(String, String)>,
    /// Variable files: their name (for messages) and text, HCL or JSON.
    pub files: Vec<(String, String)>,
    /// `--var NAME=VALUE`.
    pub cli: Vec<(String, String)>,
}

impl Vars {
    /// `NOMAD_VAR_*` of this process's environment.
    pub fn from_env() -> Vars {
        let env =
            std::env::vars().filter_map(|(k, v)| k.strip_prefix("NOMAD_VAR_").map(|n| (n.to_string(), v))).collect();
        Vars { env, ..Vars::default() }
    }
}

/// Whether the text may need evaluation; a cheap test that lets plain job
/// files skip the rest.
pub fn may_need(src: &str) -> bool {
    src.contains("var.")
        || src.contains("local.")
        || src.contains("variable")
        || src.contains("locals")
        || src.contains("dynamic")
        || src.contains(" for ")
        || src.contains('(')
}

/// The most elements `range`, a `for` expression or a `dynamic` block may
/// make.
pub const MAX_ELEMENTS: usize = 10_000;

struct Eval<'s, 'k> {
    src: &'s str,
    sink: &'k mut Sink<'s>,
    /// Declared variable and local names, for clear messages.
    vars: Vec<String>,
    locals: Vec<String>,
    /// `var.NAME` and `local.NAME` whose value could not be had.
    failed: Vec<String>,
    /// The values of `sensitive` variables, as text.
    sensitive: Vec<String>,
    /// The text a replaced expression is parsed from (see `replace`),
    /// kept between replacements.
    pad: String,
    /// Evaluated values waiting to be put in place: where the replaced
    /// expression starts, and the value's text (see `flush`).
    pending: Vec<(usize, String)>,
    /// Whether a value may replace its expression without a position (see
    /// `put_value`).
    direct: bool,
    /// The values of `var` and `local` once all are known: simple
    /// expressions of them are then worked out by `quick`.
    known: Option<(hcl::Map<String, Value>, hcl::Map<String, Value>)>,
}

/// Evaluates `body` in place. Returns whether anything was evaluated (then
/// a job's source is its evaluated text), and the values of its
/// `sensitive` variables as text (never to be shown).
pub fn evaluate<'s>(
    body: &mut Body,
    src: &'s str,
    sink: &mut Sink<'s>,
    vars: &Vars,
    base: Option<PathBuf>,
    direct: bool,
) -> (bool, Vec<String>) {
    funcs::set_base(base);
    // Whatever an earlier evaluation on this thread left (it panicked).
    ITERATORS.with(|i| i.borrow_mut().clear());
    let mut ev = Eval {
        src,
        sink,
        vars: Vec::new(),
        locals: Vec::new(),
        failed: Vec::new(),
        sensitive: Vec::new(),
        pad: String::new(),
        pending: Vec::new(),
        direct,
        known: None,
    };
    let mut variables = Vec::new();
    let mut locals = Vec::new();
    let mut rest = Body::new();
    let old = std::mem::take(body);
    for s in old.into_iter() {
        match s {
            Structure::Block(b) if b.ident.as_str() == "variable" => variables.push(b),
            Structure::Block(b) if b.ident.as_str() == "locals" => locals.push(b),
            other => rest.push(other),
        }
    }
    *body = rest;
    let mut ctx = Context::new();
    funcs::declare(&mut ctx, src);
    tryfunc::declare(&mut ctx);
    let any = !variables.is_empty() || !locals.is_empty();
    ev.vars = variables.iter().filter_map(vars::label).collect();
    ev.locals = locals.iter().flat_map(|b| b.body.attributes().map(|a| a.key.as_str().to_string())).collect();
    let var_values = ev.variables(&variables, vars, &ctx);
    ev.failed.extend(ev.vars.iter().filter(|n| !var_values.contains_key(*n)).map(|n| format!("var.{n}")));
    let var_values_copy = var_values.clone();
    ctx.declare_var("var", Value::Object(var_values));
    ev.known = Some((var_values_copy, hcl::Map::new()));
    let local_values = ev.locals(&locals, &mut ctx);
    ev.failed.extend(ev.locals.iter().filter(|n| !local_values.contains_key(*n)).map(|n| format!("local.{n}")));
    if let Some((_, l)) = ev.known.as_mut() {
        l.clone_from(&local_values);
    }
    ctx.declare_var("local", Value::Object(local_values));
    let touched = ev.body(body, &ctx);
    ev.flush(body);
    let sensitive = std::mem::take(&mut ev.sensitive);
    (any || touched, sensitive)
}

/// The text forms of a value's leaves: what a `sensitive` value may show
/// up as once it is inside a string.
fn leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| leaves(x, out)),
        Value::Null => {}
        other => {
            if let Ok(t) = as_text(other)
                && !t.is_empty()
            {
                out.push(t);
            }
        }
    }
}

thread_local! {
    /// The iterators of the `dynamic` blocks being expanded: names a
    /// reference may start with that are evaluated now, as `var` and
    /// `local` are.
    static ITERATORS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether a reference starting with `name` is resolved when the task
/// starts rather than now. As Nomad's parser, every name that is not
/// `var`, `local` or a `dynamic` block's iterator is left as written —
/// `${NOMAD_ALLOC_INDEX}`, `${attr.kernel.name}`, `${meta.rack}`, but also
/// `${some_env}` — for the task's start to interpolate.
fn is_runtime_root(name: &str) -> bool {
    !matches!(name, "var" | "local") && !ITERATORS.with(|i| i.borrow().iter().any(|n| n == name))
}

/// [`is_runtime_root`], also false for names bound by enclosing `for`
/// expressions and template `for` directives.
fn is_runtime_root_in(name: &str, bound: &[String]) -> bool {
    is_runtime_root(name) && !bound.iter().any(|b| b == name)
}

/// The names a template's `%{ for K, V in … }` directives bind.
fn directive_names(raw: &str, out: &mut Vec<String>) {
    let mut rest = raw;
    while let Some(i) = rest.find("%{") {
        let escaped = i > 0 && rest.as_bytes()[i - 1] == b'%';
        rest = &rest[i + 2..];
        if escaped {
            continue;
        }
        let inner = rest.trim_start_matches('~').trim_start();
        let Some(after) = inner.strip_prefix("for").filter(|a| a.starts_with(char::is_whitespace)) else {
            continue;
        };
        let head = after.split(" in ").next().unwrap_or("");
        out.extend(head.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()));
    }
}

/// Stands for a written `$${` while a template is evaluated, so that it
/// is written back as `$${` and not read as a reference later.
const ESCAPE: char = '\u{E000}';

/// Escapes the runtime references inside the templates of `e`, so that
/// evaluating it leaves them as text: `${NOMAD_TASK_DIR}` stays.
pub(crate) fn keep_runtime(e: &mut hcl::Expression) {
    keep_runtime_in(e, &mut Vec::new());
}

/// [`keep_runtime`] below `for` expressions that bind `bound`.
fn keep_runtime_in(e: &mut hcl::Expression, bound: &mut Vec<String>) {
    use hcl::Expression as E;
    match e {
        E::TemplateExpr(t) => {
            let raw = match t.as_ref() {
                hcl::TemplateExpr::QuotedString(s) => s.clone(),
                hcl::TemplateExpr::Heredoc(h) => h.template.clone(),
            };
            let outer = bound.len();
            directive_names(&raw, bound);
            let mut out = String::with_capacity(raw.len());
            let mut rest = raw.as_str();
            while let Some(i) = rest.find("${") {
                let escaped = i > 0 && rest.as_bytes()[i - 1] == b'$';
                if escaped {
                    // `$${` stays an escape through evaluation (see ESCAPE).
                    out.push_str(&rest[..i - 1]);
                    out.push(ESCAPE);
                    out.push('{');
                } else {
                    out.push_str(&rest[..i]);
                    let inner = rest[i + 2..].trim_start_matches('~').trim_start();
                    let root =
                        inner.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).next().unwrap_or("");
                    // A name followed by `(` is a function call: evaluated.
                    let call = inner[root.len()..].trim_start().starts_with('(');
                    let name = root.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
                    if name && !call && is_runtime_root_in(root, bound) {
                        out.push('$');
                    }
                    out.push_str("${");
                }
                rest = &rest[i + 2..];
            }
            out.push_str(rest);
            bound.truncate(outer);
            if out != raw {
                **t = match t.as_ref() {
                    hcl::TemplateExpr::QuotedString(_) => hcl::TemplateExpr::QuotedString(out),
                    hcl::TemplateExpr::Heredoc(h) => {
                        let mut h = h.clone();
                        h.template = out;
                        hcl::TemplateExpr::Heredoc(h)
                    }
                };
            }
        }
        E::Array(a) => a.iter_mut().for_each(|x| keep_runtime_in(x, bound)),
        E::Object(o) => o.values_mut().for_each(|x| keep_runtime_in(x, bound)),
        E::FuncCall(f) => f.args.iter_mut().for_each(|x| keep_runtime_in(x, bound)),
        E::Parenthesis(p) => keep_runtime_in(p, bound),
        E::Conditional(c) => {
            keep_runtime_in(&mut c.true_expr, bound);
            keep_runtime_in(&mut c.false_expr, bound);
        }
        E::ForExpr(f) => {
            keep_runtime_in(&mut f.collection_expr, bound);
            let outer = bound.len();
            bound.push(f.value_var.to_string());
            if let Some(k) = &f.key_var {
                bound.push(k.to_string());
            }
            keep_runtime_in(&mut f.value_expr, bound);
            if let Some(k) = f.key_expr.as_mut() {
                keep_runtime_in(k, bound);
            }
            bound.truncate(outer);
        }
        _ => {}
    }
}

/// Whether an expression (not a template) must be evaluated now.
fn needs(expr: &Expression) -> bool {
    match expr {
        Expression::Variable(v) => !is_runtime_root(v.as_str()),
        Expression::Traversal(t) => match &t.expr {
            Expression::Variable(v) => !is_runtime_root(v.as_str()),
            e => needs(e),
        },
        Expression::FuncCall(_)
        | Expression::ForExpr(_)
        | Expression::Conditional(_)
        | Expression::BinaryOp(_)
        | Expression::UnaryOp(_) => true,
        Expression::Parenthesis(p) => needs(p.inner()),
        Expression::Array(a) => a.iter().any(needs),
        Expression::Object(o) => o.iter().any(|(_, v)| needs(v.expr())),
        Expression::StringTemplate(t) => elements_need(t.iter()),
        Expression::HeredocTemplate(h) => elements_need(h.template.iter()),
        _ => false,
    }
}

fn elements_need<'a>(mut it: impl Iterator<Item = &'a Element>) -> bool {
    it.any(|e| match e {
        Element::Interpolation(i) => needs(&i.expr),
        // `%{ if }` and `%{ for }` are worked out now, as Nomad's parser does.
        Element::Directive(_) => true,
        Element::Literal(_) => false,
    })
}

/// A string written as an HCL quoted string; `${` stays, so that a value
/// holding a runtime reference is interpolated when the task starts.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    push_escaped(&mut out, s);
    out.push('"');
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ESCAPE => out.push_str("$$"),
            c => out.push(c),
        }
    }
}

/// A value as HCL expression text.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Array(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!(
                "{{ {} }}",
                o.iter().map(|(k, v)| format!("{} = {}", quoted(k), render(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// A value as the text an interpolation puts in a string.
fn as_text(v: &Value) -> Result<String, TextError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(TextError::Null),
        Value::Array(_) | Value::Object(_) => Err(TextError::Collection { kind: kind(v) }),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// An evaluation error's message without hcl-rs's echo of the expression.
fn message(e: &hcl::eval::Error) -> String {
    use hcl::eval::ErrorKind;
    match e.kind() {
        // The function's own message, which names it.
        ErrorKind::FuncCall(_, m) => m.clone(),
        ErrorKind::UndefinedFunc(name) => {
            let name = name.to_string();
            let hint = super::diag::did_you_mean(&name, funcs::NAMES.iter().copied())
                .map_or(String::new(), |n| format!("did you mean `{n}`? "));
            format!("unknown function `{name}` — {hint}supd-job(5) lists the functions a job file may call")
        }
        ErrorKind::UndefinedVar(name) => format!(
            "unknown name `{name}` — write var.NAME for a variable, local.NAME for a local, or a runtime reference (${{NOMAD_*}}, ${{attr.*}}, ${{node.*}}, ${{meta.*}}, ${{env.*}}) inside a string"
        ),
        other => other.to_string(),
    }
}

/// Whether a function is called anywhere [`quick`] looks: a variable's
/// `default` may call none (as Nomad has it), so it goes to the evaluator,
/// which says so.
pub(super) fn calls_a_function(e: &Expression) -> bool {
    match e {
        Expression::FuncCall(_) => true,
        Expression::Array(a) => a.iter().any(calls_a_function),
        Expression::Object(o) => o.iter().any(|(_, v)| calls_a_function(v.expr())),
        Expression::Parenthesis(p) => calls_a_function(p.inner()),
        Expression::BinaryOp(b) => calls_a_function(&b.lhs_expr) || calls_a_function(&b.rhs_expr),
        Expression::StringTemplate(t) => {
            t.iter().any(|el| matches!(el, Element::Interpolation(i) if calls_a_function(&i.expr)))
        }
        _ => false,
    }
}

/// The value of the simplest expressions, worked out here where the
/// evaluator would first convert and copy them: literals, `var.NAME` and
/// `local.NAME` with `.FIELD`s under them, quoted strings of those
/// (without escapes or `~`), lists and maps of all these, calls of the
/// functions with them, and comparisons of them. `None` for anything
/// else, and for anything missing (the evaluator then says what).
fn quick(e: &Expression, vars: &hcl::Map<String, Value>, locals: &hcl::Map<String, Value>) -> Option<Value> {
    use hcl_edit::expr::TraversalOperator as Op;
    match e {
        Expression::Null(_) => Some(Value::Null),
        Expression::Bool(b) => Some(Value::Bool(*b.value())),
        Expression::Number(n) => Some(Value::Number(*n.value())),
        // A plain string is its value, as the evaluator has it (escapes
        // matter only in templates).
        Expression::String(s) => Some(Value::String(s.value().clone())),
        Expression::Traversal(t) => {
            let Expression::Variable(root) = &t.expr else { return None };
            let map = match root.as_str() {
                "var" => vars,
                "local" => locals,
                _ => return None,
            };
            let mut ops = t.operators.iter();
            let Op::GetAttr(name) = ops.next()?.value() else { return None };
            let mut v = map.get(name.as_str())?;
            for op in ops {
                match (op.value(), v) {
                    (Op::GetAttr(field), Value::Object(o)) => v = o.get(field.as_str())?,
                    _ => return None,
                }
            }
            Some(v.clone())
        }
        Expression::StringTemplate(t) => {
            let mut out = String::new();
            for el in t.iter() {
                match el {
                    Element::Literal(l) if !l.value().contains(['$', '%']) => out.push_str(l.value()),
                    Element::Interpolation(i) if i.strip == hcl_edit::template::Strip::None => {
                        out.push_str(&as_text(&quick(&i.expr, vars, locals)?).ok()?)
                    }
                    _ => return None,
                }
            }
            Some(Value::String(out))
        }
        Expression::Array(a) => a.iter().map(|x| quick(x, vars, locals)).collect::<Option<Vec<_>>>().map(Value::Array),
        Expression::FuncCall(f) if f.name.namespace.is_empty() && !f.args.expand_final() => {
            let args = f.args.iter().map(|x| quick(x, vars, locals)).collect::<Option<Vec<_>>>()?;
            // An error is left to the evaluator, which says it in full.
            funcs::call(f.name.name.as_str(), args)?.ok()
        }
        Expression::Parenthesis(p) => quick(p.inner(), vars, locals),
        Expression::BinaryOp(b) => {
            use hcl_edit::expr::BinaryOperator::*;
            let lhs = quick(&b.lhs_expr, vars, locals)?;
            let rhs = quick(&b.rhs_expr, vars, locals)?;
            // The comparisons, as the evaluator makes them; arithmetic
            // and anything that fails are left to it.
            Some(Value::Bool(match (lhs, b.operator.value(), rhs) {
                (l, Eq, r) => l == r,
                (l, NotEq, r) => l != r,
                (Value::Bool(l), And, Value::Bool(r)) => l && r,
                (Value::Bool(l), Or, Value::Bool(r)) => l || r,
                (Value::Number(l), LessEq, Value::Number(r)) => l <= r,
                (Value::Number(l), GreaterEq, Value::Number(r)) => l >= r,
                (Value::Number(l), Less, Value::Number(r)) => l < r,
                (Value::Number(l), Greater, Value::Number(r)) => l > r,
                _ => return None,
            }))
        }
        Expression::Object(o) => {
            let mut out = hcl::Map::new();
            for (k, v) in o.iter() {
                let key = match k {
                    hcl_edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                    hcl_edit::expr::ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                    _ => return None,
                };
                out.insert(key, quick(v.expr(), vars, locals)?);
            }
            Some(Value::Object(out))
        }
        _ => None,
    }
}

/// Whether a value's strings (and keys) hold nothing that its text
/// would read back as a template: `${`, `%{`, or a written `$${`.
fn plain(v: &Value) -> bool {
    let text = |s: &str| !(s.contains("${") || s.contains("%{") || s.contains(ESCAPE));
    match v {
        Value::String(s) => text(s),
        Value::Array(a) => a.iter().all(plain),
        Value::Object(o) => o.iter().all(|(k, v)| text(k) && plain(v)),
        _ => true,
    }
}

impl<'s> Eval<'s, '_> {
    fn body(&mut self, body: &mut Body, ctx: &Context) -> bool {
        let mut touched = false;
        let has_dynamic = body.iter().any(|s| s.as_block().is_some_and(|b| b.ident.as_str() == "dynamic"));
        if has_dynamic {
            touched = true;
            let old = std::mem::take(body);
            for s in old.into_iter() {
                match s {
                    Structure::Block(b) if b.ident.as_str() == "dynamic" => {
                        for nb in self.dynamic(&b, ctx) {
                            body.push(nb);
                        }
                    }
                    other => body.push(other),
                }
            }
        }
        for mut s in body.iter_mut() {
            if let Some(mut a) = s.as_attribute_mut() {
                touched |= self.expr(a.value_mut(), ctx);
            } else if let Some(b) = s.as_block_mut() {
                touched |= self.body(&mut b.body, ctx);
            }
        }
        touched
    }

    /// Expands `dynamic "NAME" { for_each, iterator, labels, content }`.
    fn dynamic(&mut self, b: &Block, ctx: &Context) -> Vec<Block> {
        let name = match b.labels.first() {
            Some(BlockLabel::String(s)) => s.as_str().to_string(),
            Some(BlockLabel::Ident(i)) => i.as_str().to_string(),
            None => {
                self.sink.eval_error(b.ident.span(), "`dynamic` block has no name — write `dynamic \"BLOCK\" { … }`");
                return Vec::new();
            }
        };
        let Some(fe) = b.body.get_attribute("for_each") else {
            self.sink.eval_error(
                b.ident.span(),
                format!("`dynamic \"{name}\"` has no `for_each` — write `for_each = LIST`"),
            );
            return Vec::new();
        };
        let Some(items) = self.dynamic_items(fe, ctx) else { return Vec::new() };
        let iterator = match b.body.get_attribute("iterator").map(|a| &a.value) {
            Some(Expression::Variable(v)) => v.as_str().to_string(),
            Some(e) => {
                self.sink.eval_error(e.span(), "`iterator` must be a name, e.g. `iterator = port`");
                return Vec::new();
            }
            None => name.clone(),
        };
        let Some(content) = b.body.get_blocks("content").next() else {
            self.sink.eval_error(b.ident.span(), format!("`dynamic \"{name}\"` has no `content {{ … }}` block"));
            return Vec::new();
        };
        // An iterator named `var` or `local` hides the known values.
        let known = if matches!(iterator.as_str(), "var" | "local") { self.known.take() } else { None };
        let mut out = Vec::new();
        for (k, v) in items {
            let mut c = ctx.clone();
            let mut it = hcl::Map::new();
            it.insert("key".to_string(), k);
            it.insert("value".to_string(), v);
            c.declare_var(iterator.as_str(), Value::Object(it));
            ITERATORS.with(|i| i.borrow_mut().push(iterator.to_string()));
            let labels = self.dynamic_labels(b, &c);
            let mut body = content.body.clone();
            // Each copy of the content has the same places: its values are
            // put in before the next copy is made.
            let outer = std::mem::take(&mut self.pending);
            self.body(&mut body, &c);
            ITERATORS.with(|i| i.borrow_mut().pop());
            self.flush(&mut body);
            self.pending = outer;
            let mut nb = Block::builder(hcl_edit::Ident::new(name.as_str())).labels(labels).build();
            nb.body = body;
            out.push(nb);
        }
        if known.is_some() {
            self.known = known;
        }
        out
    }

    /// The `(key, value)` pairs of a `dynamic` block's `for_each`; `None`
    /// (reported) when it is no list or map, or has too many elements.
    fn dynamic_items(&mut self, fe: &Attribute, ctx: &Context) -> Option<Vec<(Value, Value)>> {
        let coll = self.value(&fe.value, ctx)?;
        let items: Vec<(Value, Value)> = match coll {
            Value::Array(a) => a.into_iter().enumerate().map(|(i, v)| (Value::from(i as u64), v)).collect(),
            Value::Object(o) => o.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
            other => {
                self.sink.eval_error(
                    fe.value.span(),
                    format!("`for_each` must be a list or a map, found a {}", kind(&other)),
                );
                return None;
            }
        };
        if items.len() > MAX_ELEMENTS {
            self.sink.eval_error(
                fe.value.span(),
                format!("`for_each` has {} elements; at most {MAX_ELEMENTS}", items.len()),
            );
            return None;
        }
        Some(items)
    }

    /// The labels of one copy of a `dynamic` block: its `labels`, evaluated
    /// in `c` (where the iterator is declared).
    fn dynamic_labels(&mut self, b: &Block, c: &Context) -> Vec<BlockLabel> {
        let mut labels = Vec::new();
        if let Some(l) = b.body.get_attribute("labels") {
            match self.value(&l.value, c) {
                Some(Value::Array(a)) => {
                    for x in a {
                        match as_text(&x) {
                            Ok(s) => labels.push(BlockLabel::String(s.into())),
                            Err(e) => self.sink.eval_error(l.value.span(), format!("`labels`: {e}")),
                        }
                    }
                }
                Some(other) => {
                    self.sink.eval_error(l.value.span(), format!("`labels` must be a list, found a {}", kind(&other)))
                }
                None => {}
            }
        }
        labels
    }

    /// Evaluates an expression to a value, reporting an error at it.
    fn value(&mut self, e: &Expression, ctx: &Context) -> Option<Value> {
        if let Some((vars, locals)) = &self.known
            && let Some(v) = quick(e, vars, locals)
        {
            return Some(v);
        }
        let mut h: hcl::Expression = e.clone().into();
        keep_runtime(&mut h);
        for (root, known, how) in [
            ("var", &self.vars, "declare it with `variable \"NAME\" { … }` at the top of the file"),
            ("local", &self.locals, "define it in a `locals { … }` block"),
        ] {
            let mut used = Vec::new();
            vars::refs(&h, root, &mut used);
            if let Some(u) = used.iter().find(|u| !known.contains(u)) {
                self.sink.eval_error(e.span(), format!("undefined {root}.{u} — {how}"));
                return None;
            }
            if used.iter().any(|u| self.failed.contains(&format!("{root}.{u}"))) {
                // Already reported where it is defined.
                self.sink.claim(e.span());
                return None;
            }
        }
        if let Err(m) = tryfunc::prepare(&mut h, ctx) {
            self.sink.eval_error(e.span(), m.to_string());
            return None;
        }
        match h.evaluate(ctx) {
            Ok(v) => Some(v),
            Err(err) => {
                self.sink.eval_error(e.span(), message(&err));
                None
            }
        }
    }

    /// Evaluates what must be evaluated of `e` in place.
    fn expr(&mut self, e: &mut Expression, ctx: &Context) -> bool {
        if !needs(e) {
            return false;
        }
        match e {
            Expression::Array(a) => {
                for x in a.iter_mut() {
                    self.expr(x, ctx);
                }
            }
            Expression::Object(o) => {
                for (_, v) in o.iter_mut() {
                    self.expr(v.expr_mut(), ctx);
                }
            }
            Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
                // Each interpolation first, so that an error names its place.
                // The string's text, made from its pieces when that is
                // what evaluating it would give: a quoted string whose
                // interpolations are all evaluated now, without `~`, and
                // whose literal parts hold no `$` or `%` (escapes). Else
                // the whole string is evaluated.
                let mut direct = matches!(e, Expression::StringTemplate(_)).then(String::new);
                let elems: Vec<&Element> = match e {
                    Expression::StringTemplate(t) => t.iter().collect(),
                    Expression::HeredocTemplate(h) => h.template.iter().collect(),
                    _ => Vec::new(),
                };
                let mut ok = true;
                for el in elems {
                    match el {
                        Element::Interpolation(i) if needs(&i.expr) => {
                            match self.value(&i.expr, ctx).map(|v| as_text(&v)) {
                                Some(Ok(text)) => {
                                    if i.strip != hcl_edit::template::Strip::None {
                                        direct = None;
                                    }
                                    if let Some(d) = direct.as_mut() {
                                        d.push_str(&text);
                                    }
                                }
                                Some(Err(m)) => {
                                    self.sink.eval_error(i.expr.span(), m.to_string());
                                    ok = false;
                                }
                                None => ok = false,
                            }
                        }
                        Element::Literal(l) if !l.value().contains(['$', '%']) => {
                            if let Some(d) = direct.as_mut() {
                                d.push_str(l.value());
                            }
                        }
                        _ => direct = None,
                    }
                }
                if !ok {
                    return true;
                }
                if let Some(text) = direct {
                    self.put_value(e, Value::String(text));
                } else if let Some(v) = self.value(e, ctx) {
                    match as_text(&v) {
                        Ok(text) => self.put_value(e, Value::String(text)),
                        Err(m) => self.sink.eval_error(e.span(), m.to_string()),
                    }
                }
            }
            _ => {
                if let Some(v) = self.value(e, ctx) {
                    self.put_value(e, v);
                }
            }
        }
        true
    }

    /// Replaces `e` by the value `v`. Made directly, without a position,
    /// when the caller asked for that (a check, which reads the file again
    /// the usual way when anything is to be said about it) and the value
    /// holds no `${` or `%{`, which its text would read back as a template.
    fn put_value(&mut self, e: &mut Expression, v: Value) {
        if self.direct && plain(&v) {
            *e = Expression::from(hcl::Expression::from(v));
        } else {
            self.replace(e, Some(render(&v)));
        }
    }

    /// Replaces `e` by the expression `text`, placed where `e` was written:
    /// at once when `e` has no position, else when the body is flushed
    /// (see `flush`), together with the other values of the body.
    fn replace(&mut self, e: &mut Expression, text: Option<String>) {
        let Some(text) = text else { return };
        match e.span() {
            Some(s) if !text.contains(['\n', '\r']) => self.pending.push((s.start, text)),
            span => {
                let start = span.map_or(0, |s| s.start);
                match self.parse_one(start, &text) {
                    Ok(n) => *e = n,
                    Err(err) => {
                        self.sink.eval_error(e.span(), format!("the evaluated value does not read back: {err}"))
                    }
                }
            }
        }
    }

    /// The expression `text`, parsed so that its span starts at `start`:
    /// parsed as `x = TEXT`, padded so that TEXT starts where the replaced
    /// expression did, its span then points at what the user wrote. The
    /// padding is one line comment: the parser skips it with one scan for
    /// the line's end (a block comment's end is searched for by comparing
    /// at every byte; spaces are read one by one).
    fn parse_one(&mut self, start: usize, text: &str) -> Result<Expression, ReadBackError> {
        let pad = &mut self.pad;
        pad.clear();
        if start >= 6 {
            pad.push('#');
            pad.extend(std::iter::repeat_n(' ', start - 6));
            pad.push('\n');
        } else {
            pad.extend(std::iter::repeat_n(' ', start.saturating_sub(4)));
        }
        pad.push_str("x = ");
        pad.push_str(text);
        pad.push('\n');
        let mut n = hcl_edit::parser::parse_body(pad)?
            .into_attributes()
            .next()
            .map(|a| a.value)
            .ok_or(ReadBackError::NoValue)?;
        hcl_edit::Decorate::decor_mut(&mut n).clear();
        Ok(n)
    }

    /// Puts the values `replace` left pending into `body`. They are parsed
    /// together, as one body of attributes each placed where its
    /// expression was written (`k=TEXT` lines, with line comments filling
    /// the gaps): one scan over the file's length for all of them, where
    /// a parse per value would scan up to its place every time. A value
    /// that does not fit before the next is parsed in a further body.
    fn flush(&mut self, body: &mut Body) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|(start, _)| *start);
        let mut done: Vec<(usize, Option<Result<Expression, ReadBackError>>)> = Vec::with_capacity(pending.len());
        let mut buf = std::mem::take(&mut self.pad);
        buf.clear();
        let mut batch: Vec<(usize, String)> = Vec::new();
        for (start, text) in pending {
            let key_len = key(batch.len()).len() + 1;
            if !batch.is_empty() && start < buf.len() + key_len {
                self.parse_batch(&buf, &mut batch, &mut done);
                buf.clear();
            }
            let key = key(batch.len());
            if start < key.len() + 1 + buf.len() {
                let one = self.parse_one(start, &text);
                done.push((start, Some(one)));
                continue;
            }
            let gap = start - key.len() - 1 - buf.len();
            if gap >= 2 {
                buf.push('#');
                buf.extend(std::iter::repeat_n(' ', gap - 2));
                buf.push('\n');
            } else {
                buf.extend(std::iter::repeat_n(' ', gap));
            }
            buf.push_str(&key);
            buf.push('=');
            buf.push_str(&text);
            buf.push('\n');
            batch.push((start, text));
        }
        self.parse_batch(&buf, &mut batch, &mut done);
        self.pad = buf;
        done.sort_by_key(|(start, _)| *start);
        self.put_body(body, &mut done);
    }

    /// Parses one body made by `flush`; when it does not read back, each
    /// of its values alone, so that the error names the right one.
    fn parse_batch(
        &mut self,
        buf: &str,
        batch: &mut Vec<(usize, String)>,
        done: &mut Vec<(usize, Option<Result<Expression, ReadBackError>>)>,
    ) {
        if batch.is_empty() {
            return;
        }
        let values: Option<Vec<Expression>> = hcl_edit::parser::parse_body(buf).ok().and_then(|b| {
            let v: Vec<Expression> = b.into_attributes().map(|a| a.value).collect();
            let placed = v.len() == batch.len()
                && v.iter().zip(batch.iter()).all(|(e, (start, _))| e.span().is_some_and(|s| s.start == *start));
            placed.then_some(v)
        });
        match values {
            Some(v) => {
                for (mut n, (start, _)) in v.into_iter().zip(batch.drain(..)) {
                    hcl_edit::Decorate::decor_mut(&mut n).clear();
                    done.push((start, Some(Ok(n))));
                }
            }
            None => {
                for (start, text) in batch.drain(..) {
                    let one = self.parse_one(start, &text);
                    done.push((start, Some(one)));
                }
            }
        }
    }

    fn put_body(&mut self, body: &mut Body, done: &mut [(usize, Option<Result<Expression, ReadBackError>>)]) {
        for mut s in body.iter_mut() {
            if let Some(mut a) = s.as_attribute_mut() {
                self.put(a.value_mut(), done);
            } else if let Some(b) = s.as_block_mut() {
                self.put_body(&mut b.body, done);
            }
        }
    }

    /// Puts the parsed value that belongs at `e`'s place, looking where
    /// `expr` may have replaced something: `e` itself, or inside lists and
    /// maps.
    fn put(&mut self, e: &mut Expression, done: &mut [(usize, Option<Result<Expression, ReadBackError>>)]) {
        if let Some(s) = e.span()
            && let Ok(i) = done.binary_search_by_key(&s.start, |(start, _)| *start)
        {
            // The first of equal places not yet put.
            let first = done[..i].iter().rposition(|(start, _)| *start != s.start).map_or(0, |p| p + 1);
            if let Some(slot) =
                done[first..].iter_mut().take_while(|(start, _)| *start == s.start).find(|(_, v)| v.is_some())
            {
                match slot.1.take() {
                    Some(Ok(n)) => *e = n,
                    Some(Err(err)) => {
                        self.sink.eval_error(e.span(), format!("the evaluated value does not read back: {err}"))
                    }
                    None => {}
                }
                return;
            }
        }
        // Only a list or map that still waits for a value holds a place to
        // fill: one already put in (a `dynamic` copy's, flushed on its own)
        // has parts at made-up places that may equal a waiting one's.
        if !needs(e) {
            return;
        }
        match e {
            Expression::Array(a) => {
                for x in a.iter_mut() {
                    self.put(x, done);
                }
            }
            Expression::Object(o) => {
                for (_, v) in o.iter_mut() {
                    self.put(v.expr_mut(), done);
                }
            }
            _ => {}
        }
    }
}

/// The `n`th attribute name of a body `flush` parses: `a` … `z`, `ba` …
fn key(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

mod vars;
