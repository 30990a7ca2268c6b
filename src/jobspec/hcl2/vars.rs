//! `variable` and `locals` blocks: values by precedence, types,
//! validation, and locals in dependency order.

use super::budget::EvalError;
use super::*;

/// The variable names a local's expression refers to under `root`.
pub(super) fn refs(e: &hcl::Expression, root: &str, out: &mut Vec<String>) {
    use hcl::Expression as E;
    match e {
        E::Traversal(t) => {
            if let E::Variable(v) = &t.expr
                && v.as_str() == root
                && let Some(hcl::TraversalOperator::GetAttr(n)) = t.operators.first()
            {
                out.push(n.to_string());
            }
            refs(&t.expr, root, out);
        }
        E::Array(a) => a.iter().for_each(|x| refs(x, root, out)),
        E::Object(o) => o.values().for_each(|x| refs(x, root, out)),
        E::TemplateExpr(t) => {
            if let Ok(tpl) = hcl::Template::from_expr(t) {
                for el in tpl.elements() {
                    if let hcl::template::Element::Interpolation(i) = el {
                        refs(&i.expr, root, out);
                    }
                }
            }
        }
        E::FuncCall(f) => f.args.iter().for_each(|x| refs(x, root, out)),
        E::Parenthesis(p) => refs(p, root, out),
        E::Conditional(c) => {
            refs(&c.cond_expr, root, out);
            refs(&c.true_expr, root, out);
            refs(&c.false_expr, root, out);
        }
        E::Operation(o) => match o.as_ref() {
            hcl::expr::Operation::Unary(u) => refs(&u.expr, root, out),
            hcl::expr::Operation::Binary(b) => {
                refs(&b.lhs_expr, root, out);
                refs(&b.rhs_expr, root, out);
            }
        },
        E::ForExpr(f) => {
            refs(&f.collection_expr, root, out);
            refs(&f.value_expr, root, out);
            if let Some(k) = &f.key_expr {
                refs(k, root, out);
            }
            if let Some(c) = &f.cond_expr {
                refs(c, root, out);
            }
        }
        _ => {}
    }
}

/// `refs` over hcl-edit's tree, which needs no conversion: the same
/// names, as runtime references and escaped `$${` are no references here
/// either.
pub(super) fn edit_refs(e: &Expression, root: &str, out: &mut Vec<String>) {
    match e {
        Expression::Traversal(t) => {
            if let Expression::Variable(v) = &t.expr
                && v.as_str() == root
                && let Some(hcl_edit::expr::TraversalOperator::GetAttr(n)) = t.operators.first().map(|o| o.value())
            {
                out.push(n.as_str().to_string());
            }
            edit_refs(&t.expr, root, out);
        }
        Expression::Array(a) => a.iter().for_each(|x| edit_refs(x, root, out)),
        Expression::Object(o) => o.iter().for_each(|(_, v)| edit_refs(v.expr(), root, out)),
        Expression::StringTemplate(t) => template_refs(t.iter(), root, out),
        Expression::HeredocTemplate(h) => template_refs(h.template.iter(), root, out),
        Expression::FuncCall(f) => f.args.iter().for_each(|x| edit_refs(x, root, out)),
        Expression::Parenthesis(p) => edit_refs(p.inner(), root, out),
        Expression::Conditional(c) => {
            edit_refs(&c.cond_expr, root, out);
            edit_refs(&c.true_expr, root, out);
            edit_refs(&c.false_expr, root, out);
        }
        Expression::UnaryOp(u) => edit_refs(&u.expr, root, out),
        Expression::BinaryOp(b) => {
            edit_refs(&b.lhs_expr, root, out);
            edit_refs(&b.rhs_expr, root, out);
        }
        Expression::ForExpr(f) => {
            edit_refs(&f.intro.collection_expr, root, out);
            edit_refs(&f.value_expr, root, out);
            if let Some(k) = &f.key_expr {
                edit_refs(k, root, out);
            }
            if let Some(c) = &f.cond {
                edit_refs(&c.expr, root, out);
            }
        }
        _ => {}
    }
}

fn template_refs<'a>(it: impl Iterator<Item = &'a Element>, root: &str, out: &mut Vec<String>) {
    for el in it {
        if let Element::Interpolation(i) = el {
            edit_refs(&i.expr, root, out);
        }
    }
}

pub(super) fn label(b: &Block) -> Option<String> {
    match b.labels.first()? {
        BlockLabel::String(s) => Some(s.as_str().to_string()),
        BlockLabel::Ident(i) => Some(i.as_str().to_string()),
    }
}

/// Why a variable's value, or a variable file, cannot be had.
#[derive(Debug, thiserror::Error)]
pub(super) enum VarError {
    /// A variable file in JSON that does not parse.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Text that is no HCL: a variable file, or a value given as text.
    #[error(transparent)]
    Syntax(#[from] hcl::Error),
    /// A value given as text that parses to nothing.
    #[error("no value")]
    NoValue,
    /// Over the limits, or what evaluating it reported.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A value given as text, and where: `NOMAD_VAR_NAME` or `--var NAME`.
    #[error("{given}: {source}")]
    Given { given: String, source: Box<VarError> },
    /// A value of a `found` kind where the variable's type `ty` needs another.
    #[error("a {found} where a {ty} is needed")]
    Mismatch { found: &'static str, ty: String },
    /// Text that is no number, for a number.
    #[error("{0:?} is not a number")]
    NotANumber(String),
}

/// A value given as text (`--var`, the environment) read as the variable's
/// type: strings stay text, anything else is read as an HCL expression.
fn from_text(text: &str, ty: &str) -> Result<Value, VarError> {
    if ty == "string" || ty.is_empty() && !text.trim_start().starts_with(['[', '{']) {
        return Ok(Value::String(text.to_string()));
    }
    let e: hcl::Expression = match hcl::from_str::<hcl::Expression>(text) {
        Ok(e) => e,
        Err(_) => {
            hcl::parse(&format!("v = {text}"))?.into_attributes().next().map(|a| a.expr).ok_or(VarError::NoValue)?
        }
    };
    Ok(super::budget::evaluate(&e, &super::arith::context())?)
}

/// Whether `v` is of type `ty` (as written in the `type` attribute),
/// converting text to numbers and booleans as HCL does.
fn convert(v: Value, ty: &str) -> Result<Value, VarError> {
    let ty = ty.replace(' ', "");
    let bad = |v: &Value| VarError::Mismatch { found: kind(v), ty: ty.clone() };
    match ty.as_str() {
        "" | "any" => Ok(v),
        "string" => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(bad(&other)),
        },
        "number" => match v {
            Value::Number(_) => Ok(v),
            Value::String(ref s) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Value::from(i)),
                Err(_) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(hcl::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| VarError::NotANumber(s.clone())),
            },
            other => Err(bad(&other)),
        },
        "bool" => match v {
            Value::Bool(_) => Ok(v),
            Value::String(ref s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
            other => Err(bad(&other)),
        },
        t if t.starts_with("list(") || t.starts_with("set(") || t.starts_with("tuple(") => {
            let inner = t.split_once('(').map_or("any", |x| x.1).trim_end_matches(')').to_string();
            match v {
                Value::Array(a) => {
                    a.into_iter().map(|x| convert(x, &inner)).collect::<Result<Vec<_>, _>>().map(Value::Array)
                }
                other => Err(bad(&other)),
            }
        }
        t if t.starts_with("map(") || t.starts_with("object(") => match v {
            Value::Object(_) => Ok(v),
            other => Err(bad(&other)),
        },
        _ => Ok(v),
    }
}

/// The values variable files give, by variable name, each with its file's name.
type FromFiles = BTreeMap<String, (Value, String)>;

/// A variable's value, the last given winning: `default`, `NOMAD_VAR_*`, a variable file, `--var`.
fn given_value(
    b: &Block,
    name: &str,
    ty: &str,
    given: &Vars,
    from_files: &FromFiles,
) -> Option<Result<Value, VarError>> {
    let mut value: Option<Result<Value, VarError>> = None;
    if let Some(d) = b.body.get_attribute("default") {
        let empty = hcl::Map::new();
        let fast = if calls_a_function(&d.value) { None } else { quick(&d.value, &empty, &empty) };
        value = Some(match fast {
            Some(v) => Ok(v),
            None => {
                let h: hcl::Expression = d.value.clone().into();
                super::budget::evaluate(&h, &super::arith::context()).map_err(VarError::from)
            }
        });
    }
    let given_as = |from: String, e: VarError| VarError::Given { given: from, source: Box::new(e) };
    if let Some((_, v)) = given.env.iter().rev().find(|(k, _)| k == name) {
        value = Some(from_text(v, ty).map_err(|e| given_as(format!("NOMAD_VAR_{name}"), e)));
    }
    if let Some((v, _)) = from_files.get(name) {
        value = Some(Ok(v.clone()));
    }
    if let Some((_, v)) = given.cli.iter().rev().find(|(k, _)| k == name) {
        value = Some(from_text(v, ty).map_err(|e| given_as(format!("--var {name}"), e)));
    }
    value
}

impl Eval<'_, '_> {
    pub(super) fn variables(&mut self, blocks: &[Block], given: &Vars, ctx: &Context) -> hcl::Map<String, Value> {
        let mut out = hcl::Map::new();
        let from_files = self.variable_files(given);
        self.undeclared(blocks, given, &from_files);
        for b in blocks {
            if let Some((name, v)) = self.variable(b, given, &from_files, ctx) {
                out.insert(name, v);
            }
        }
        out
    }

    /// The values of the variable files, a file's errors reported.
    fn variable_files(&mut self, given: &Vars) -> FromFiles {
        // Values from files: the later file wins.
        let mut from_files: BTreeMap<String, (Value, String)> = BTreeMap::new();
        for (name, text) in &given.files {
            let parsed: Result<Vec<(String, Value)>, VarError> = if text.trim_start().starts_with('{') {
                serde_json::from_str::<BTreeMap<String, Value>>(text)
                    .map(|m| m.into_iter().collect())
                    .map_err(VarError::from)
            } else {
                hcl::parse(text).map_err(VarError::from).and_then(|b| {
                    b.into_attributes()
                        .map(|a| {
                            let v = super::budget::evaluate(&a.expr, &super::arith::context())?;
                            Ok::<_, VarError>((a.key.to_string(), v))
                        })
                        .collect()
                })
            };
            match parsed {
                Ok(kv) => {
                    for (k, v) in kv {
                        from_files.insert(k, (v, name.clone()));
                    }
                }
                Err(e) => self.sink.error(None, format!("variable file {name}: {e}")),
            }
        }
        from_files
    }

    /// Reports values given for undeclared variables: `--var` as an error, a file's as a warning.
    fn undeclared(&mut self, blocks: &[Block], given: &Vars, from_files: &FromFiles) {
        let declared: Vec<String> = blocks.iter().filter_map(label).collect();
        for (k, _) in &given.cli {
            if !declared.contains(k) {
                self.sink.error(
                    None,
                    format!("--var {k}: the job file declares no variable `{k}` — declare it with `variable \"{k}\" {{ type = string }}` or drop the flag"),
                );
            }
        }
        for (k, (_, file)) in from_files {
            if !declared.contains(k) {
                self.sink
                    .warn(None, format!("variable file {file}: `{k}` is not declared by the job file; it is ignored"));
            }
        }
    }

    /// One `variable` block's name and checked value; `None` once an error is reported.
    fn variable(&mut self, b: &Block, given: &Vars, from_files: &FromFiles, ctx: &Context) -> Option<(String, Value)> {
        let Some(name) = label(b) else {
            self.sink.error(b.ident.span(), "`variable` block has no name — write `variable \"NAME\" { … }`");
            return None;
        };
        let ty = b
            .body
            .get_attribute("type")
            .and_then(|a| a.value.span())
            .and_then(|s| self.src.get(s))
            .unwrap_or("")
            .to_string();
        let where_ = b.labels.first().and_then(|l| l.span());
        let v = match given_value(b, &name, &ty, given, from_files) {
            None => {
                self.sink.error(
                    where_,
                    format!(
                        "variable `{name}` has no value — give it a `default`, or set it with `--var {name}=VALUE`, a variable file (`--var-file`, or NAME.vars.hcl beside the job file in the job directory), or NOMAD_VAR_{name} in the environment"
                    ),
                );
                return None;
            }
            Some(Err(e)) => {
                self.sink.error(where_, format!("variable `{name}`: {e}"));
                return None;
            }
            Some(Ok(v)) => v,
        };
        let sensitive =
            matches!(b.body.get_attribute("sensitive").map(|a| &a.value), Some(Expression::Bool(x)) if *x.value());
        let v = match convert(v, &ty) {
            Ok(v) => v,
            Err(e) => {
                let e = if sensitive { format!("its value is not a {ty}") } else { e.to_string() };
                self.sink.error(where_, format!("variable `{name}`: {e} — give a value of type {ty}"));
                return None;
            }
        };
        self.validate(b, &name, &v, ctx);
        if sensitive {
            super::leaves(&v, &mut self.sensitive);
        }
        Some((name, v))
    }

    /// Reports each `validation` condition of the block that is not true of `v`.
    fn validate(&mut self, b: &Block, name: &str, v: &Value, ctx: &Context) {
        for vb in b.body.get_blocks("validation") {
            let (Some(cond), msg) = (vb.body.get_attribute("condition"), vb.body.get_attribute("error_message")) else {
                self.sink.error(vb.ident.span(), "`validation` needs a `condition`");
                continue;
            };
            let mut m = hcl::Map::new();
            m.insert(name.to_string(), v.clone());
            let checked = match quick(&cond.value, &m, &hcl::Map::new()) {
                Some(r) => Some(r),
                None => {
                    let mut c = ctx.clone();
                    c.declare_var("var", Value::Object(m));
                    self.value(&cond.value, &c)
                }
            };
            match checked {
                Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => {
                    let text = msg.and_then(|m| self.value(&m.value, &Context::new())).and_then(|v| as_text(&v).ok());
                    self.sink.error(
                        cond.value.span(),
                        format!(
                            "variable `{name}` is not valid: {}",
                            text.unwrap_or_else(|| "its validation condition is false".into())
                        ),
                    );
                }
                Some(other) => self
                    .sink
                    .error(cond.value.span(), format!("`condition` must be true or false, found a {}", kind(&other))),
                None => {}
            }
        }
    }

    pub(super) fn locals(&mut self, blocks: &[Block], ctx: &mut Context) -> hcl::Map<String, Value> {
        let mut defs: BTreeMap<String, &Expression> = BTreeMap::new();
        for b in blocks {
            for a in b.body.attributes() {
                defs.insert(a.key.as_str().to_string(), &a.value);
            }
        }
        let mut done: hcl::Map<String, Value> = hcl::Map::new();
        let mut failed: Vec<String> = Vec::new();
        let names: Vec<String> = defs.keys().cloned().collect();
        for n in names {
            let mut stack = Vec::new();
            self.local(&n, &defs, ctx, &mut done, &mut failed, &mut stack);
        }
        done
    }

    fn local(
        &mut self,
        name: &str,
        defs: &BTreeMap<String, &Expression>,
        ctx: &mut Context,
        done: &mut hcl::Map<String, Value>,
        failed: &mut Vec<String>,
        stack: &mut Vec<String>,
    ) -> bool {
        if done.contains_key(name) {
            return true;
        }
        if failed.iter().any(|f| f == name) {
            return false;
        }
        let Some(e) = defs.get(name).copied() else { return false };
        if let Some(i) = stack.iter().position(|s| s == name) {
            let chain: Vec<String> =
                stack[i..].iter().chain([&name.to_string()]).map(|s| format!("local.{s}")).collect();
            self.sink.error(
                e.span(),
                format!("locals refer to each other in a cycle: {} — break the cycle", chain.join(" → ")),
            );
            failed.push(name.to_string());
            return false;
        }
        stack.push(name.to_string());
        let mut deps = Vec::new();
        edit_refs(e, "local", &mut deps);
        let mut ok = true;
        for d in deps {
            if defs.contains_key(&d) {
                ok &= self.local(&d, defs, ctx, done, failed, stack);
            }
        }
        stack.pop();
        if !ok {
            failed.push(name.to_string());
            return false;
        }
        if let Some((vars, _)) = &self.known
            && let Some(v) = quick(e, vars, done)
        {
            done.insert(name.to_string(), v);
            return true;
        }
        let mut h: hcl::Expression = e.clone().into();
        keep_runtime(&mut h);
        // One context for all locals (cloning it per local costs more than
        // the evaluation): `local` holds those evaluated so far.
        ctx.declare_var("local", Value::Object(done.clone()));
        if let Err(m) = super::tryfunc::prepare(&mut h, ctx) {
            self.sink.error(e.span(), format!("local `{name}`: {m}"));
            failed.push(name.to_string());
            return false;
        }
        let said = match super::budget::caught(|| h.evaluate(ctx)) {
            Some(Ok(v)) => {
                done.insert(name.to_string(), v);
                return true;
            }
            Some(Err(err)) => message(&err),
            None => super::budget::ARITHMETIC.to_string(),
        };
        self.sink.error(e.span(), format!("local `{name}`: {said}"));
        failed.push(name.to_string());
        false
    }
}
