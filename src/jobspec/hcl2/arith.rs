//! Arithmetic hcl-rs cannot do: a division or remainder by zero, or a
//! result beyond the range of a number. hcl-rs computes `+ - * / %` and
//! asserts that the result is finite (a panic in a debug build, an
//! infinite "number" otherwise); HCL's own evaluator refuses them ("can't
//! divide by zero"). Before an expression is measured and evaluated, each
//! such operation whose operands are plain (numbers, names, indexes and
//! operations of them: nothing that costs to evaluate) is worked out here.
//! A good result takes its place, so that the operation above it is worked
//! out once; a bad one becomes a call of [`ARITH_FAILED`] with the message,
//! which fails only where it is evaluated: not in a conditional's branch
//! not taken, and `try`/`can` catch it as any function's error. A divisor
//! that is plain is checked whatever the dividend is.
//!
//! Not covered: an operation inside a string template (`"${2/0}"`), on a
//! `for` expression's own names, or whose divisor is not plain (a function
//! call: `1 / length([])`); in a release build those make an infinite
//! number, which no field of a job takes.

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::{BinaryOp, BinaryOperator, Expression, FuncCall, Operation, TraversalOperator};
use hcl::{Number, Value};

/// The function an operation that cannot be done becomes; its one
/// argument is the message.
pub(super) const ARITH_FAILED: &str = "arithmetic_failed";

/// Declares [`ARITH_FAILED`] in `ctx`.
pub(super) fn declare(ctx: &mut Context) {
    let def = FuncDef::builder().param(ParamType::String).build(|args: FuncArgs| {
        let message = args.into_values().into_iter().next().and_then(|v| v.as_str().map(str::to_string));
        Err(message.unwrap_or_default())
    });
    ctx.declare_func(ARITH_FAILED, def);
}

/// A context with nothing but [`ARITH_FAILED`] (for variable defaults,
/// which may call no function).
pub(super) fn context() -> Context<'static> {
    let mut ctx = Context::new();
    declare(&mut ctx);
    ctx
}

/// Works out, in place, the arithmetic of `e` that [the module](self) can.
pub(super) fn guard(e: &mut Expression, ctx: &Context) {
    let replacement = match e {
        Expression::Array(xs) => {
            xs.iter_mut().for_each(|x| guard(x, ctx));
            None
        }
        Expression::Object(o) => {
            o.values_mut().for_each(|x| guard(x, ctx));
            None
        }
        Expression::Parenthesis(p) => {
            guard(p, ctx);
            None
        }
        Expression::FuncCall(f) => {
            f.args.iter_mut().for_each(|x| guard(x, ctx));
            None
        }
        Expression::Conditional(c) => {
            guard(&mut c.cond_expr, ctx);
            guard(&mut c.true_expr, ctx);
            guard(&mut c.false_expr, ctx);
            None
        }
        Expression::Traversal(t) => {
            guard(&mut t.expr, ctx);
            for op in t.operators.iter_mut() {
                if let TraversalOperator::Index(x) = op {
                    guard(x, ctx);
                }
            }
            None
        }
        Expression::ForExpr(f) => {
            guard(&mut f.collection_expr, ctx);
            if let Some(k) = f.key_expr.as_mut() {
                guard(k, ctx);
            }
            guard(&mut f.value_expr, ctx);
            if let Some(c) = f.cond_expr.as_mut() {
                guard(c, ctx);
            }
            None
        }
        Expression::Operation(op) => match op.as_mut() {
            Operation::Unary(u) => {
                guard(&mut u.expr, ctx);
                None
            }
            Operation::Binary(b) => {
                guard(&mut b.lhs_expr, ctx);
                guard(&mut b.rhs_expr, ctx);
                worked_out(b, ctx)
            }
        },
        _ => None,
    };
    if let Some(r) = replacement {
        *e = r;
    }
}

/// What an arithmetic operation of plain operands comes to: its result,
/// or a call of [`ARITH_FAILED`]; `None` to leave it to the evaluator.
fn worked_out(b: &BinaryOp, ctx: &Context) -> Option<Expression> {
    use BinaryOperator::{Div, Minus, Mod, Mul, Plus};
    if !matches!(b.operator, Plus | Minus | Mul | Div | Mod) {
        return None;
    }
    let number = |x: &Expression| match plain(x).then(|| x.evaluate(ctx)) {
        Some(Ok(Value::Number(n))) => Some(n),
        _ => None,
    };
    let rhs = number(&b.rhs_expr)?;
    let divisor_zero = rhs.as_f64() == Some(0.0);
    match b.operator {
        Div if divisor_zero => return Some(failed("can't divide by zero")),
        Mod if divisor_zero => return Some(failed("can't use modulo with zero")),
        _ => {}
    }
    let lhs = number(&b.lhs_expr)?;
    let (x, y) = (lhs.as_f64()?, rhs.as_f64()?);
    // In floating point first: hcl-rs's own operation must see only a
    // finite result.
    let exact = match b.operator {
        Plus => x + y,
        Minus => x - y,
        Mul => x * y,
        Div => x / y,
        _ => x % y,
    };
    if !exact.is_finite() {
        return Some(failed("the result is too large for a number"));
    }
    let result: Number = match b.operator {
        Plus => lhs + rhs,
        Minus => lhs - rhs,
        Mul => lhs * rhs,
        Div => lhs / rhs,
        _ => lhs % rhs,
    };
    Some(Expression::Number(result))
}

/// Whether `e` costs nothing much to evaluate: numbers, names, indexes
/// and operations of them.
fn plain(e: &Expression) -> bool {
    match e {
        Expression::Null | Expression::Bool(_) | Expression::Number(_) | Expression::Variable(_) => true,
        Expression::Parenthesis(p) => plain(p),
        Expression::Traversal(t) => {
            plain(&t.expr)
                && t.operators.iter().all(|op| match op {
                    TraversalOperator::Index(x) => plain(x),
                    TraversalOperator::GetAttr(_) | TraversalOperator::LegacyIndex(_) => true,
                    _ => false,
                })
        }
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => plain(&u.expr),
            Operation::Binary(b) => plain(&b.lhs_expr) && plain(&b.rhs_expr),
        },
        _ => false,
    }
}

/// A call of [`ARITH_FAILED`] that fails with `message`.
fn failed(message: &str) -> Expression {
    Expression::FuncCall(Box::new(FuncCall::builder(ARITH_FAILED).arg(message).build()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Value, Box<str>> {
        let body: hcl::Body = hcl::from_str(&format!("x = {src}\n")).map_err(|e| e.to_string())?;
        let mut e = body.attributes().next().map(|a| a.expr.clone()).ok_or("no attribute")?;
        let mut ctx = context();
        ctx.declare_var("var", hcl::value!({ zero = 0, big = 1e308, n = 7 }));
        super::super::tryfunc::declare(&mut ctx);
        super::super::tryfunc::prepare(&mut e, &ctx).map_err(|e| e.to_string())?;
        e.evaluate(&ctx).map_err(|e| e.kind().to_string().into())
    }

    #[test]
    fn a_division_by_zero_is_an_error_not_a_panic() {
        for src in [
            "2/0",
            "2 % 0",
            "var.n / var.zero",
            "(1 + 2) / (3 - 3)",
            "1e308 * 10",
            "-var.big - var.big",
            "length([1]) / 0",
        ] {
            let e = eval(src).expect_err(src);
            assert!(
                e.contains("divide by zero") || e.contains("modulo with zero") || e.contains("too large"),
                "{src}: {e}"
            );
        }
    }

    #[test]
    fn good_arithmetic_keeps_hcl_rs_results() {
        assert_eq!(eval("7 / 2"), Ok(Value::from(3.5)));
        assert_eq!(eval("var.n % 4 + 1"), Ok(Value::from(4)));
        assert!(eval("9223372036854775807 + 1").is_ok());
        assert_eq!(eval("(2 - 1) * 3"), Ok(Value::from(3)));
    }

    #[test]
    fn only_what_is_evaluated_fails() {
        assert_eq!(eval("var.zero == 0 ? 0 : 100 / var.zero"), Ok(Value::from(0)));
        assert_eq!(eval("try(1 / var.zero, -1)"), Ok(Value::from(-1)));
        assert_eq!(eval("can(1 / var.zero)"), Ok(Value::Bool(false)));
    }
}
