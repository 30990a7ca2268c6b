//! The simplest expressions worked out without the evaluator ([`quick`]),
//! and whether an expression calls a function.

use super::funcs;
use super::text::as_text;
use hcl::Value;
use hcl_edit::expr::Expression;
use hcl_edit::template::Element;

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
pub(super) fn quick(e: &Expression, vars: &hcl::Map<String, Value>, locals: &hcl::Map<String, Value>) -> Option<Value> {
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
