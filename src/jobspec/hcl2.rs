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
use super::reader::Sp;
use hcl::Value;
use hcl::eval::{Context, Evaluate};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};
use hcl_edit::template::Element;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod funcs;

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
) -> (bool, Vec<String>) {
    funcs::set_base(base);
    let mut ev = Eval { src, sink, vars: Vec::new(), locals: Vec::new(), failed: Vec::new(), sensitive: Vec::new() };
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
    let any = !variables.is_empty() || !locals.is_empty();
    ev.vars = variables.iter().filter_map(vars::label).collect();
    ev.locals = locals.iter().flat_map(|b| b.body.attributes().map(|a| a.key.as_str().to_string())).collect();
    let var_values = ev.variables(&variables, vars, &ctx);
    ev.failed.extend(ev.vars.iter().filter(|n| !var_values.contains_key(*n)).map(|n| format!("var.{n}")));
    ctx.declare_var("var", Value::Object(var_values));
    let local_values = ev.locals(&locals, &mut ctx);
    ev.failed.extend(ev.locals.iter().filter(|n| !local_values.contains_key(*n)).map(|n| format!("local.{n}")));
    ctx.declare_var("local", Value::Object(local_values));
    let touched = ev.body(body, &ctx);
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

/// Roots of references that are resolved when the task starts.
fn is_runtime_root(name: &str) -> bool {
    name.starts_with("NOMAD_") || matches!(name, "attr" | "node" | "meta" | "env")
}

/// Stands for a written `$${` while a template is evaluated, so that it
/// is written back as `$${` and not read as a reference later.
const ESCAPE: char = '\u{E000}';

/// Escapes the runtime references inside the templates of `e`, so that
/// evaluating it leaves them as text: `${NOMAD_TASK_DIR}` stays.
pub(crate) fn keep_runtime(e: &mut hcl::Expression) {
    use hcl::Expression as E;
    match e {
        E::TemplateExpr(t) => {
            let raw = match t.as_ref() {
                hcl::TemplateExpr::QuotedString(s) => s.clone(),
                hcl::TemplateExpr::Heredoc(h) => h.template.clone(),
            };
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
                    let inner = rest[i + 2..].trim_start();
                    let root = inner.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("");
                    if is_runtime_root(root) {
                        out.push('$');
                    }
                    out.push_str("${");
                }
                rest = &rest[i + 2..];
            }
            out.push_str(rest);
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
        E::Array(a) => a.iter_mut().for_each(keep_runtime),
        E::Object(o) => o.values_mut().for_each(keep_runtime),
        E::FuncCall(f) => f.args.iter_mut().for_each(keep_runtime),
        E::Parenthesis(p) => keep_runtime(p),
        E::Conditional(c) => {
            keep_runtime(&mut c.true_expr);
            keep_runtime(&mut c.false_expr);
        }
        E::ForExpr(f) => {
            keep_runtime(&mut f.collection_expr);
            keep_runtime(&mut f.value_expr);
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
        Element::Directive(_) => false,
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
fn as_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("the value is null, which cannot go into a string".into()),
        Value::Array(_) | Value::Object(_) => {
            Err(format!("a {} cannot go into a string — use join() or jsonencode() to make it text", kind(v)))
        }
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
    let s = e.kind().to_string();
    if let Some(rest) = s.strip_prefix("error calling function `") {
        return rest.split_once("`: ").map_or(s.clone(), |(_, m)| m.to_string());
    }
    if let Some(name) = s.strip_prefix("undefined function `").and_then(|r| r.strip_suffix('`')) {
        let hint = super::diag::did_you_mean(name, funcs::NAMES.iter().copied())
            .map_or(String::new(), |n| format!("did you mean `{n}`? "));
        return format!("unknown function `{name}` — {hint}supd-job(5) lists the functions a job file may call");
    }
    match s.strip_prefix("undefined variable `").and_then(|r| r.strip_suffix('`')) {
        Some(name) => format!(
            "unknown name `{name}` — write var.NAME for a variable, local.NAME for a local, or a runtime reference (${{NOMAD_*}}, ${{attr.*}}, ${{node.*}}, ${{meta.*}}, ${{env.*}}) inside a string"
        ),
        None => s,
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
        let Some(coll) = self.value(&fe.value, ctx) else { return Vec::new() };
        let items: Vec<(Value, Value)> = match coll {
            Value::Array(a) => a.into_iter().enumerate().map(|(i, v)| (Value::from(i as u64), v)).collect(),
            Value::Object(o) => o.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
            other => {
                self.sink.eval_error(
                    fe.value.span(),
                    format!("`for_each` must be a list or a map, found a {}", kind(&other)),
                );
                return Vec::new();
            }
        };
        if items.len() > MAX_ELEMENTS {
            self.sink.eval_error(
                fe.value.span(),
                format!("`for_each` has {} elements; at most {MAX_ELEMENTS}", items.len()),
            );
            return Vec::new();
        }
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
        let mut out = Vec::new();
        for (k, v) in items {
            let mut c = ctx.clone();
            let mut it = hcl::Map::new();
            it.insert("key".to_string(), k);
            it.insert("value".to_string(), v);
            c.declare_var(iterator.as_str(), Value::Object(it));
            let mut labels = Vec::new();
            if let Some(l) = b.body.get_attribute("labels") {
                match self.value(&l.value, &c) {
                    Some(Value::Array(a)) => {
                        for x in a {
                            match as_text(&x) {
                                Ok(s) => labels.push(BlockLabel::String(s.into())),
                                Err(e) => self.sink.eval_error(l.value.span(), format!("`labels`: {e}")),
                            }
                        }
                    }
                    Some(other) => self
                        .sink
                        .eval_error(l.value.span(), format!("`labels` must be a list, found a {}", kind(&other))),
                    None => {}
                }
            }
            let mut body = content.body.clone();
            self.body(&mut body, &c);
            let mut nb = Block::builder(hcl_edit::Ident::new(name.as_str())).labels(labels).build();
            nb.body = body;
            out.push(nb);
        }
        out
    }

    /// Evaluates an expression to a value, reporting an error at it.
    fn value(&mut self, e: &Expression, ctx: &Context) -> Option<Value> {
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
                let elems: Vec<&Element> = match e {
                    Expression::StringTemplate(t) => t.iter().collect(),
                    Expression::HeredocTemplate(h) => h.template.iter().collect(),
                    _ => Vec::new(),
                };
                let mut ok = true;
                for el in elems {
                    if let Element::Interpolation(i) = el
                        && needs(&i.expr)
                    {
                        match self.value(&i.expr, ctx).map(|v| as_text(&v)) {
                            Some(Ok(_)) => {}
                            Some(Err(m)) => {
                                self.sink.eval_error(i.expr.span(), m);
                                ok = false;
                            }
                            None => ok = false,
                        }
                    }
                }
                if !ok {
                    return true;
                }
                if let Some(v) = self.value(e, ctx) {
                    match as_text(&v) {
                        Ok(text) => self.replace(e, Some(quoted(&text))),
                        Err(m) => self.sink.eval_error(e.span(), m),
                    }
                }
            }
            _ => {
                if let Some(v) = self.value(e, ctx) {
                    self.replace(e, Some(render(&v)));
                }
            }
        }
        true
    }

    /// Replaces `e` by the expression `text`, placed where `e` was written.
    fn replace(&mut self, e: &mut Expression, text: Option<String>) {
        let Some(text) = text else { return };
        let span: Sp = e.span();
        // Parsed as `x = TEXT` padded so that TEXT starts where `e` did: the
        // new expression's span then points at what the user wrote.
        // The padding is one block comment: the parser skips it with one
        // search for its end, where spaces were read one by one, on
        // every try of its alternatives.
        let start = span.map_or(0, |s| s.start);
        let padded = if start >= 8 {
            format!("/*{}*/x = {}\n", " ".repeat(start - 8), text)
        } else {
            format!("{}x = {}\n", " ".repeat(start.saturating_sub(4)), text)
        };
        let parsed = hcl_edit::parser::parse_body(&padded)
            .map_err(|e| e.to_string())
            .and_then(|b| b.into_attributes().next().map(|a| a.value).ok_or_else(|| "no value".to_string()));
        match parsed {
            Ok(mut n) => {
                hcl_edit::Decorate::decor_mut(&mut n).clear();
                *e = n;
            }
            Err(err) => self.sink.eval_error(e.span(), format!("the evaluated value does not read back: {err}")),
        }
    }
}

mod vars;
