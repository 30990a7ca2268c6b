//! `try` and `can`, as HCL's tryfunc: `try(a, b, …)` is the first argument
//! that evaluates without an error, `can(a)` whether `a` does. An evaluator
//! that evaluates a call's arguments before the call cannot do that, so
//! before an expression is evaluated each `try` and `can` in it is worked
//! out here, one argument at a time, and put in its place as a value.
//!
//! What is caught is what evaluating the argument reports (a missing
//! attribute or index, a wrong type, a function's error); a reference to a
//! variable or local the file does not declare is refused before, at its
//! place, as Terraform's validation refuses it. Inside a `for` expression,
//! a `try` or `can` whose arguments use the loop's names cannot be worked
//! out beforehand: there, `try` takes its first argument and `can` is true
//! when the argument has a value, and an error in it stays an error.

use super::budget::{self, BudgetError, EvalError};
use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use hcl::expr::{Expression, FuncCall, Operation, TemplateExpr};

/// Why the `try` and `can` of an expression cannot be worked out, or the
/// expression, with them worked out, cannot be evaluated. An enclosing
/// `try` or `can` catches none of these: it catches what its argument's
/// evaluation reports ([`EvalError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum TryError {
    /// `can` with other than one argument (this many).
    #[error("can() takes 1 argument, got {0}")]
    CanArity(usize),
    /// `try` without an argument.
    #[error("try() needs at least one argument")]
    NoArgument,
    /// None of the `args` arguments of a `try` has a value: the last one's error.
    #[error("try(): none of its {args} arguments has a value; the last: {last}")]
    NoValue {
        args: usize,
        #[source]
        last: EvalError,
    },
    /// The expression, its `try` and `can` worked out, is over the limits.
    #[error(transparent)]
    Budget(#[from] BudgetError),
}

/// Declares `try` and `can` for the places [`resolve`] leaves them (inside
/// a `for` body, using its names).
pub(super) fn declare(ctx: &mut Context) {
    fn first(args: FuncArgs) -> Result<Value, TryError> {
        args.into_values().into_iter().next().ok_or(TryError::NoArgument)
    }
    fn has_value(args: FuncArgs) -> Result<Value, TryError> {
        let a = args.into_values();
        if a.len() != 1 {
            return Err(TryError::CanArity(a.len()));
        }
        Ok(Value::Bool(true))
    }
    // hcl-rs takes a function's error as text: the error ends here.
    let try_ = FuncDef::builder().variadic_param(ParamType::Any).build(|args| first(args).map_err(|e| e.to_string()));
    let can =
        FuncDef::builder().variadic_param(ParamType::Any).build(|args| has_value(args).map_err(|e| e.to_string()));
    ctx.declare_func("try", try_);
    ctx.declare_func("can", can);
}

/// Works out every `try` and `can` of `e` that does not use a name bound
/// by an enclosing `for`, in place. An error: a `try` none of whose
/// arguments has a value (with the last one's error), or a `can` with
/// other than one argument.
pub(super) fn resolve(e: &mut Expression, ctx: &Context) -> Result<(), TryError> {
    walk(e, ctx, &mut Vec::new())
}

/// Works out the arithmetic of `e` that hcl-rs cannot do
/// ([`super::arith`]) and its `try` and `can` ([`resolve`]), then measures
/// it ([`budget::check`]): `Ok` lets it be evaluated.
pub(super) fn prepare(e: &mut Expression, ctx: &Context) -> Result<(), TryError> {
    super::arith::guard(e, ctx);
    resolve(e, ctx)?;
    Ok(budget::check(e, ctx)?)
}

fn walk(e: &mut Expression, ctx: &Context, bound: &mut Vec<String>) -> Result<(), TryError> {
    match e {
        Expression::FuncCall(f) => {
            if let Some(v) = func_call(f, ctx, bound)? {
                *e = v;
            }
            Ok(())
        }
        Expression::Array(a) => a.iter_mut().try_for_each(|x| walk(x, ctx, bound)),
        Expression::Object(o) => o.values_mut().try_for_each(|x| walk(x, ctx, bound)),
        Expression::Parenthesis(p) => walk(p, ctx, bound),
        Expression::Conditional(c) => {
            walk(&mut c.cond_expr, ctx, bound)?;
            walk(&mut c.true_expr, ctx, bound)?;
            walk(&mut c.false_expr, ctx, bound)
        }
        Expression::Operation(o) => match o.as_mut() {
            Operation::Unary(u) => walk(&mut u.expr, ctx, bound),
            Operation::Binary(b) => {
                walk(&mut b.lhs_expr, ctx, bound)?;
                walk(&mut b.rhs_expr, ctx, bound)
            }
        },
        Expression::Traversal(t) => walk(&mut t.expr, ctx, bound),
        Expression::ForExpr(f) => {
            walk(&mut f.collection_expr, ctx, bound)?;
            let outer = bound.len();
            bound.push(f.value_var.to_string());
            if let Some(k) = &f.key_var {
                bound.push(k.to_string());
            }
            let r = walk(&mut f.value_expr, ctx, bound)
                .and_then(|()| f.key_expr.as_mut().map_or(Ok(()), |k| walk(k, ctx, bound)))
                .and_then(|()| f.cond_expr.as_mut().map_or(Ok(()), |c| walk(c, ctx, bound)));
            bound.truncate(outer);
            r
        }
        Expression::TemplateExpr(t) => template_expr(t, ctx, bound),
        _ => Ok(()),
    }
}

/// Walks a call's arguments; for a `try` or `can` it can work out, the
/// value to put in the call's place.
fn func_call(f: &mut FuncCall, ctx: &Context, bound: &mut Vec<String>) -> Result<Option<Expression>, TryError> {
    for a in f.args.iter_mut() {
        walk(a, ctx, bound)?;
    }
    let name = f.name.to_string();
    // `convert(x, list(number))`: the type, written as Nomad writes
    // it, is text for the function (it is no value to evaluate).
    if name == "convert"
        && let Some(ty) = f.args.get_mut(1)
        && !matches!(ty, Expression::String(_) | Expression::TemplateExpr(_))
        && let Ok(text) = hcl::format::to_string(&*ty)
    {
        *ty = Expression::String(text);
    }
    if !matches!(name.as_str(), "try" | "can") || f.args.iter().any(|a| uses(a, bound)) {
        return Ok(None);
    }
    if name == "can" && f.args.len() != 1 {
        return Err(TryError::CanArity(f.args.len()));
    }
    let mut last = None;
    for a in &f.args {
        match budget::evaluate(a, ctx) {
            Ok(v) => return Ok(Some(if name == "can" { Expression::Bool(true) } else { Expression::from(v) })),
            Err(e) => last = Some(e),
        }
    }
    match last {
        _ if name == "can" => Ok(Some(Expression::Bool(false))),
        Some(last) => Err(TryError::NoValue { args: f.args.len(), last }),
        None => Err(TryError::NoArgument),
    }
}

/// Works out the `try` and `can` in a template's interpolations, writing
/// its text again when one changed.
fn template_expr(t: &mut TemplateExpr, ctx: &Context, bound: &mut Vec<String>) -> Result<(), TryError> {
    // Interpolations are text until the template is parsed: a
    // `try` or `can` in one is worked out the same way.
    let raw = match &*t {
        TemplateExpr::QuotedString(s) => s,
        TemplateExpr::Heredoc(h) => &h.template,
    };
    if !(raw.contains("try(") || raw.contains("can(")) {
        return Ok(());
    }
    let Ok(mut tpl) = hcl::Template::from_expr(t) else { return Ok(()) };
    let mut changed = false;
    for el in tpl.elements_mut() {
        if let hcl::template::Element::Interpolation(i) = el {
            let before = i.expr.clone();
            walk(&mut i.expr, ctx, bound)?;
            changed |= i.expr != before;
        }
    }
    if changed {
        let text = tpl.to_string();
        *t = match &*t {
            TemplateExpr::QuotedString(_) => TemplateExpr::QuotedString(text),
            TemplateExpr::Heredoc(h) => {
                let mut h = h.clone();
                h.template = text;
                TemplateExpr::Heredoc(h)
            }
        };
    }
    Ok(())
}

/// Whether `e` refers to any of `names`.
fn uses(e: &Expression, names: &[String]) -> bool {
    if names.is_empty() {
        return false;
    }
    match e {
        Expression::Variable(v) => names.iter().any(|n| n == v.as_str()),
        Expression::Traversal(t) => uses(&t.expr, names),
        Expression::FuncCall(f) => f.args.iter().any(|a| uses(a, names)),
        Expression::Array(a) => a.iter().any(|x| uses(x, names)),
        Expression::Object(o) => o.values().any(|x| uses(x, names)),
        Expression::Parenthesis(p) => uses(p, names),
        Expression::Conditional(c) => {
            uses(&c.cond_expr, names) || uses(&c.true_expr, names) || uses(&c.false_expr, names)
        }
        Expression::Operation(o) => match o.as_ref() {
            Operation::Unary(u) => uses(&u.expr, names),
            Operation::Binary(b) => uses(&b.lhs_expr, names) || uses(&b.rhs_expr, names),
        },
        Expression::ForExpr(f) => {
            uses(&f.collection_expr, names)
                || uses(&f.value_expr, names)
                || f.key_expr.as_ref().is_some_and(|k| uses(k, names))
                || f.cond_expr.as_ref().is_some_and(|c| uses(c, names))
        }
        // A template's interpolations: by their text.
        Expression::TemplateExpr(t) => {
            let raw = match t.as_ref() {
                TemplateExpr::QuotedString(s) => s,
                TemplateExpr::Heredoc(h) => &h.template,
            };
            names.iter().any(|n| raw.contains(n.as_str()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(src: &str, vars: Value) -> Result<Value, Box<str>> {
        let body: hcl::Body = hcl::from_str(&format!("x = {src}\n")).map_err(|e| e.to_string())?;
        let mut e = body.attributes().next().map(|a| a.expr.clone()).ok_or("no attribute")?;
        let mut ctx = Context::new();
        ctx.declare_var("var", vars);
        declare(&mut ctx);
        super::super::funcs::declare(&mut ctx, src);
        resolve(&mut e, &ctx).map_err(|e| e.to_string())?;
        e.evaluate(&ctx).map_err(|e| e.kind().to_string().into())
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn try_takes_the_first_argument_with_a_value() {
        let vars = obj(&[("m", obj(&[("a", Value::from("A"))]))]);
        // Terraform's documentation: a missing attribute falls back.
        assert_eq!(eval(r#"try(var.m.b, "fallback")"#, vars.clone()), Ok(Value::from("fallback")));
        assert_eq!(eval(r#"try(var.m.a, "fallback")"#, vars.clone()), Ok(Value::from("A")));
        assert_eq!(eval(r#"try(tonumber("x"), tonumber("7"), 0)"#, vars.clone()), Ok(Value::from(7)));
        // Nested, and inside other expressions and templates.
        assert_eq!(eval(r#"upper(try(var.m.z, try(var.m.y, "deep")))"#, vars.clone()), Ok(Value::from("DEEP")));
        assert_eq!(eval(r#""v=${try(var.m.q, "d")}""#, vars.clone()), Ok(Value::from("v=d")));
        // None has a value: an error that says the last one's.
        let err = eval(r#"try(var.m.b, var.m.c)"#, vars).unwrap_err();
        assert!(err.contains("none of its 2 arguments has a value"), "{err}");
    }

    #[test]
    fn convert_takes_its_type_as_nomad_writes_it() {
        assert_eq!(
            eval(r#"convert(["1", "2"], list(number))"#, obj(&[])),
            Ok(Value::Array(vec![Value::from(1), Value::from(2)]))
        );
        assert_eq!(eval(r#"convert(5, string)"#, obj(&[])), Ok(Value::from("5")));
    }

    #[test]
    fn can_says_whether_its_argument_has_a_value() {
        let vars = obj(&[("n", Value::from("12")), ("w", Value::from("twelve"))]);
        assert_eq!(eval(r#"can(tonumber(var.n))"#, vars.clone()), Ok(Value::Bool(true)));
        assert_eq!(eval(r#"can(tonumber(var.w))"#, vars.clone()), Ok(Value::Bool(false)));
        assert_eq!(eval(r#"can(var.nope.x) ? "y" : "n""#, vars.clone()), Ok(Value::from("n")));
        assert!(eval(r#"can(1, 2)"#, vars).unwrap_err().contains("can() takes 1 argument"));
    }

    #[test]
    fn inside_a_for_body_with_its_names_they_are_eager() {
        let vars = obj(&[]);
        assert_eq!(
            eval(r#"[for s in ["1", "2"] : try(tonumber(s), 0)]"#, vars.clone()),
            Ok(Value::Array(vec![Value::from(1), Value::from(2)]))
        );
        // Not using the loop's names: worked out exactly.
        assert_eq!(
            eval(r#"[for s in ["a"] : "${s}-${try(tonumber("x"), "n")}"]"#, vars),
            Ok(Value::Array(vec![Value::from("a-n")]))
        );
    }
}
