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
//!
//! Here: the evaluation of a body and of one expression. `dynamic.rs`
//! expands `dynamic` blocks, `runtime.rs` keeps what the task's start
//! resolves, `quick.rs` works out the simplest expressions, `place.rs` puts
//! the values in place, `text.rs` writes them as text, `vars.rs` reads the
//! variables and locals.

use super::diag::Sink;
use hcl::Value;
use hcl::eval::{Context, Evaluate};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};
use hcl_edit::template::Element;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod arith;
mod budget;
mod dynamic;
mod error;
mod funcs;
mod limits;
mod place;
mod quick;
mod runtime;
mod text;
mod tryfunc;

pub use text::{kind, render};

use quick::{calls_a_function, quick};
use runtime::{keep_runtime, needs};
use text::as_text;

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
    arith::declare(&mut ctx);
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
        match budget::caught(|| h.evaluate(ctx)) {
            Some(Ok(v)) => Some(v),
            Some(Err(err)) => {
                self.sink.eval_error(e.span(), message(&err));
                None
            }
            None => {
                self.sink.eval_error(e.span(), budget::ARITHMETIC.to_string());
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
                // Where the string interpolates: when one of them failed
                // (said already), the string stays as written and nothing
                // more is said at any of them.
                let mut places = Vec::new();
                for el in elems {
                    if let Element::Interpolation(i) = el {
                        places.push(i.expr.span());
                    }
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
                    places.into_iter().for_each(|p| self.sink.claim(p));
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
}

mod vars;
