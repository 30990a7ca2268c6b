//! What evaluating an expression may make, bounded before it is evaluated.
//!
//! hcl-rs evaluates an expression whole: a `for` inside a `for` over
//! `range(10000)` makes a hundred million values, and a template that
//! repeats a large local grows it without end, until the allocator aborts
//! the process (supd as PID 1 included). So every expression is first
//! measured: an upper estimate of the values and string bytes its result
//! holds, from the sizes of what it refers to (variables and locals are
//! known by then) and of the collections it iterates (evaluated first,
//! each measured the same way). Over [`MAX_VALUES`] or [`MAX_BYTES`], the
//! expression is refused at its position, naming the limit, and nothing is
//! evaluated.
//!
//! A `for` body that depends on its own loop variable is measured with the
//! variable bound to the collection's last element (the largest of a
//! `range`): an estimate, not a proof. The functions bound their own
//! results as well (`funcs.rs`).

use super::limits::{MAX_BYTES, MAX_FILE, MAX_VALUES};
use hcl::eval::{Context, Evaluate};
use hcl::expr::{Expression, ForExpr, FuncCall, Operation, TemplateExpr};
use hcl::template::{Directive, Element, Template};
use hcl::{Identifier, Value};

/// An estimate of what an expression makes: values and string bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Size {
    values: u64,
    bytes: u64,
}

impl Size {
    const ONE: Size = Size { values: 1, bytes: 0 };

    fn add(self, o: Size) -> Size {
        Size { values: self.values.saturating_add(o.values), bytes: self.bytes.saturating_add(o.bytes) }
    }

    fn times(self, n: u64) -> Size {
        Size { values: self.values.saturating_mul(n), bytes: self.bytes.saturating_mul(n) }
    }

    fn max(self, o: Size) -> Size {
        Size { values: self.values.max(o.values), bytes: self.bytes.max(o.bytes) }
    }

    fn over(self) -> Option<BudgetError> {
        if self.values > MAX_VALUES {
            Some(BudgetError::Values { values: self.values })
        } else if self.bytes > MAX_BYTES {
            Some(BudgetError::Text { bytes: self.bytes })
        } else {
            None
        }
    }
}

/// Why an expression is refused before it is evaluated: what it would
/// make is over a limit, or it nests too deeply to be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// About `values` values, over [`MAX_VALUES`].
    #[error(
        "this expression would make about {values} values; at most {MAX_VALUES} — iterate over less (a `for` inside a `for` multiplies)"
    )]
    Values { values: u64 },
    /// About `bytes` bytes of text, over [`MAX_BYTES`].
    #[error(
        "this expression would make about {} MiB of text; at most {} MiB — repeat less",
        *bytes >> 20,
        MAX_BYTES >> 20
    )]
    Text { bytes: u64 },
    /// Expressions nested more than `MAX_DEPTH` deep.
    #[error("expressions nest more than {MAX_DEPTH} deep")]
    Expressions,
    /// Templates nested more than `MAX_DEPTH` deep.
    #[error("templates nest more than {MAX_DEPTH} deep")]
    Templates,
}

/// Why an expression has no value: refused before it is evaluated (a
/// `try` takes the next argument then as well), or what evaluating it
/// reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// hcl-rs's error (a missing key, a wrong type, a function's error),
    /// said without its echo of the expression.
    #[error("{}", .0.kind())]
    Eval(hcl::eval::Error),
    /// hcl-rs's number arithmetic gave up (see [`caught`]).
    #[error("{}", ARITHMETIC)]
    Arithmetic,
}

/// Refuses an expression whose result would be over the limits, with the
/// reason; `Ok` lets it be evaluated.
pub fn check(e: &Expression, ctx: &Context) -> Result<(), BudgetError> {
    // An arithmetic panic while measuring (`range`'s arguments) is met
    // again, and said, where the expression is evaluated.
    let size = caught(|| measure(e, ctx, 0)).unwrap_or(Ok(Size::ONE))?;
    size.over().map_or(Ok(()), Err)
}

/// The value of `e` in `ctx`, once [`check`] lets it be evaluated.
pub fn evaluate(e: &Expression, ctx: &Context) -> Result<Value, EvalError> {
    let mut e = e.clone();
    super::arith::guard(&mut e, ctx);
    caught(|| {
        check(&e, ctx)?;
        e.evaluate(ctx).map_err(EvalError::Eval)
    })
    .unwrap_or(Err(EvalError::Arithmetic))
}

/// What an evaluation whose arithmetic gave up says.
pub const ARITHMETIC: &str = "can't divide by zero, or a number is out of range";

/// `f`'s result, or `None` when hcl-rs's arithmetic panicked in it. Its
/// numbers panic on an integer remainder by zero and on an integer result
/// out of range, in release builds too. `arith.rs` works out plain
/// arithmetic before, as an error at its place; what it does not see (a
/// divisor that is not plain, a `for`'s own names, a template's `${…}`)
/// ends here instead of aborting supd. Every evaluation of a job file's
/// expressions goes through it, and the measure ([`check`]).
///
/// Such a panic is an error of the job file, said as one: the panic hook
/// (which would print a panic's message and backtrace to stderr, as for a
/// bug of supd) stays silent for the panics caught here.
pub fn caught<T>(f: impl FnOnce() -> T) -> Option<T> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let told = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(std::cell::Cell::get) {
                told(info);
            }
        }));
    });
    let outer = CATCHING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    CATCHING.with(|c| c.set(outer));
    result
}

thread_local! {
    /// This thread is inside [`caught`].
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How deep expressions may nest before the measure gives up (hcl-rs
/// recurses as deeply when it evaluates them).
const MAX_DEPTH: usize = 256;

/// An estimate of what `e` makes, measured `depth` expressions deep.
fn measure(e: &Expression, ctx: &Context, depth: usize) -> Result<Size, BudgetError> {
    if depth > MAX_DEPTH {
        return Err(BudgetError::Expressions);
    }
    let m = |x: &Expression| measure(x, ctx, depth + 1);
    let size = match e {
        Expression::Null | Expression::Bool(_) | Expression::Number(_) => Size::ONE,
        Expression::String(s) => Size { values: 1, bytes: s.len() as u64 },
        Expression::Array(xs) => xs.iter().try_fold(Size::ONE, |acc, x| Ok::<_, BudgetError>(acc.add(m(x)?)))?,
        Expression::Object(o) => {
            o.values().try_fold(Size::ONE, |acc, x| Ok::<_, BudgetError>(acc.add(m(x)?).add(Size::ONE)))?
        }
        Expression::Variable(_) | Expression::Traversal(_) => lookup(e, ctx),
        Expression::Parenthesis(x) => m(x)?,
        Expression::Conditional(c) => m(&c.cond_expr)?.add(m(&c.true_expr)?.max(m(&c.false_expr)?)),
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => m(&u.expr)?,
            Operation::Binary(b) => m(&b.lhs_expr)?.add(m(&b.rhs_expr)?),
        },
        Expression::FuncCall(f) => func_call(f, ctx, depth)?,
        Expression::ForExpr(f) => for_expr(f, ctx, depth)?,
        Expression::TemplateExpr(t) => template(t, ctx, depth)?,
        // Kinds added to hcl-rs later: left to the evaluation.
        #[allow(unreachable_patterns)]
        _ => Size::ONE,
    };
    Ok(size)
}

/// A function call: its arguments, and what the function may make of them.
fn func_call(f: &FuncCall, ctx: &Context, depth: usize) -> Result<Size, BudgetError> {
    let args = f.args.iter().map(|x| measure(x, ctx, depth + 1)).collect::<Result<Vec<_>, _>>()?;
    let sum = args.iter().fold(Size::ONE, |acc, a| acc.add(*a));
    let size = match f.name.name.as_str() {
        // What may make more than it is given: a number of values,
        // a text repeated.
        "range" => Size { values: range_len(&f.args, ctx).unwrap_or(0).saturating_add(1), bytes: 0 },
        // The text each match grows by, from the arguments (each
        // measured above, so cheap to evaluate).
        "replace" => replaced(f, ctx, sum),
        // A file read whole: up to file()'s limit (base64: 4/3).
        "file" => sum.add(Size { values: 0, bytes: MAX_FILE as u64 }),
        "filebase64" => sum.add(Size { values: 0, bytes: (MAX_FILE as u64) * 4 / 3 + 4 }),
        "fileset" => sum.add(Size { values: super::MAX_ELEMENTS as u64, bytes: 128 * super::MAX_ELEMENTS as u64 }),
        // Decoding makes at most a value per byte; YAML's aliases may
        // repeat what they name, up to yamldecode's own limits.
        "jsondecode" | "csvdecode" => {
            let text = args.first().map_or(0, |a| a.bytes);
            // A CSV row's object repeats the header's names.
            let factor = if f.name.name.as_str() == "csvdecode" { 64 } else { 1 };
            sum.add(Size { values: text.saturating_add(1), bytes: text.saturating_mul(factor) })
        }
        "yamldecode" => yaml_decoded(f, ctx, &args, sum),
        // Each combination is a list of one value per list.
        "setproduct" => {
            let n = args.iter().fold(1u64, |acc, a| acc.saturating_mul(a.values.max(1)));
            sum.add(Size { values: n.saturating_mul(args.len() as u64 + 1), bytes: sum.bytes.saturating_mul(n) })
        }
        // Spaces after each line; a replacement at each match (at
        // most one per character, and one more).
        "indent" | "regex_replace" => grown(f, ctx, sum),
        // Each value of the lists may repeat the format.
        "formatlist" => {
            let format = args.first().map_or(0, |a| a.bytes);
            let n = args.iter().skip(1).map(|a| a.values).max().unwrap_or(1);
            sum.add(Size { values: n, bytes: format.saturating_mul(n) })
        }
        _ => sum,
    };
    Ok(size)
}

/// `replace`: its arguments (`sum`), and what each match grows by.
fn replaced(f: &FuncCall, ctx: &Context, sum: Size) -> Size {
    let vals: Option<Vec<Value>> = f.args.iter().map(|a| a.evaluate(ctx).ok()).collect();
    match vals.as_deref() {
        Some([Value::String(x), Value::String(from), Value::String(to)]) => {
            let matches =
                if from.is_empty() { x.chars().count() as u64 + 1 } else { x.matches(from.as_str()).count() as u64 };
            sum.add(Size { values: 0, bytes: matches.saturating_mul(to.len() as u64) })
        }
        _ => sum,
    }
}

/// `yamldecode`: a value per byte of its text, or the limits when the text may hold aliases.
fn yaml_decoded(f: &FuncCall, ctx: &Context, args: &[Size], sum: Size) -> Size {
    let aliases = f.args.first().and_then(|a| a.evaluate(ctx).ok()).is_some_and(|v| match v {
        Value::String(t) => t.contains('*') || t.contains("<<"),
        _ => true,
    });
    if aliases {
        Size { values: MAX_VALUES, bytes: MAX_BYTES }
    } else {
        let text = args.first().map_or(0, |a| a.bytes);
        sum.add(Size { values: text.saturating_add(1), bytes: text })
    }
}

/// `indent` and `regex_replace`: their arguments (`sum`) and the text they add.
fn grown(f: &FuncCall, ctx: &Context, sum: Size) -> Size {
    let vals: Option<Vec<Value>> = f.args.iter().map(|a| a.evaluate(ctx).ok()).collect();
    let grown = match (f.name.name.as_str(), vals.as_deref()) {
        ("indent", Some([n, Value::String(t)])) => {
            let spaces = n.as_u64().unwrap_or(0);
            spaces.saturating_mul(t.matches('\n').count() as u64)
        }
        ("regex_replace", Some([Value::String(t), _, Value::String(to)])) => {
            (t.chars().count() as u64 + 1).saturating_mul(to.len() as u64)
        }
        _ => 0,
    };
    sum.add(Size { values: 0, bytes: grown })
}

/// A `for` expression: its collection, and its body times the elements.
fn for_expr(f: &ForExpr, ctx: &Context, depth: usize) -> Result<Size, BudgetError> {
    check_part(measure(&f.collection_expr, ctx, depth + 1)?)?;
    let (n, inner) = iterate(&f.collection_expr, ctx, f.key_var.as_ref(), &f.value_var);
    let mut body = measure(&f.value_expr, &inner, depth + 1)?;
    if let Some(k) = &f.key_expr {
        body = body.add(measure(k, &inner, depth + 1)?);
    }
    if let Some(c) = &f.cond_expr {
        body = body.add(measure(c, &inner, depth + 1)?);
    }
    check_part(body)?;
    Ok(Size::ONE.add(body.times(n)))
}

/// A part already over the limits ends the measure (its product would
/// only say so later, or overflow).
fn check_part(s: Size) -> Result<(), BudgetError> {
    s.over().map_or(Ok(()), Err)
}

/// A reference's value is there already: its size is what it is.
fn lookup(e: &Expression, ctx: &Context) -> Size {
    // A traversal over a computed expression (`f(x)[0]`) is measured by
    // what it starts from.
    if let Expression::Traversal(t) = e
        && !matches!(t.expr, Expression::Variable(_))
    {
        return measure(&t.expr, ctx, MAX_DEPTH).unwrap_or(Size::ONE);
    }
    e.evaluate(ctx).map_or(Size::ONE, |v| value_size(&v))
}

fn value_size(v: &Value) -> Size {
    match v {
        Value::String(s) => Size { values: 1, bytes: s.len() as u64 },
        Value::Array(xs) => xs.iter().fold(Size::ONE, |acc, x| acc.add(value_size(x))),
        Value::Object(o) => o
            .iter()
            .fold(Size::ONE, |acc, (k, x)| acc.add(value_size(x)).add(Size { values: 1, bytes: k.len() as u64 })),
        _ => Size::ONE,
    }
}

fn elements(v: &Value) -> u64 {
    match v {
        Value::Array(xs) => xs.len() as u64,
        Value::Object(o) => o.len() as u64,
        _ => 1,
    }
}

/// The last (key, value) of a collection: what a loop variable is bound to
/// while its body is measured.
fn last(v: &Value) -> Option<(Value, Value)> {
    match v {
        Value::Array(xs) => xs.last().map(|x| (Value::from(xs.len().saturating_sub(1)), x.clone())),
        Value::Object(o) => o.iter().last().map(|(k, x)| (Value::String(k.clone()), x.clone())),
        _ => None,
    }
}

/// What a `for` (expression or directive) over `collection` iterates: how
/// many elements (1 when it cannot be told), and the context its body is
/// measured in, the loop variables bound to the last element (null when
/// there is none).
fn iterate<'c>(
    collection: &Expression,
    ctx: &Context<'c>,
    key: Option<&Identifier>,
    value: &Identifier,
) -> (u64, Context<'c>) {
    let items = collection.evaluate(ctx).ok();
    let n = items.as_ref().map_or(1, elements);
    let (k, v) = items.as_ref().and_then(last).unwrap_or((Value::Null, Value::Null));
    let mut inner = ctx.clone();
    if let Some(key) = key {
        inner.declare_var(key.clone(), k);
    }
    inner.declare_var(value.clone(), v);
    (n, inner)
}

/// The number of values `range(...)` makes, from its arguments.
fn range_len(args: &[Expression], ctx: &Context) -> Option<u64> {
    let n = |e: &Expression| e.evaluate(ctx).ok()?.as_f64();
    let (start, end, step) = match args {
        [end] => (0.0, n(end)?, 1.0),
        [start, end] => (n(start)?, n(end)?, 1.0),
        [start, end, step] => (n(start)?, n(end)?, n(step)?),
        _ => return None,
    };
    if step == 0.0 {
        return None;
    }
    let len = ((end - start) / step).ceil();
    (len.is_finite() && len > 0.0).then(|| len.min(u64::MAX as f64) as u64)
}

/// A string template: its literal text, each interpolation, and each
/// `%{ for }` directive's body times its collection.
fn template(t: &TemplateExpr, ctx: &Context, depth: usize) -> Result<Size, BudgetError> {
    let Ok(parsed) = Template::from_expr(t) else { return Ok(Size::ONE) };
    elements_of(&parsed, ctx, depth)
}

fn elements_of(t: &Template, ctx: &Context, depth: usize) -> Result<Size, BudgetError> {
    if depth > MAX_DEPTH {
        return Err(BudgetError::Templates);
    }
    let mut size = Size::ONE;
    for el in t.elements() {
        let part = match el {
            Element::Literal(s) => Size { values: 0, bytes: s.len() as u64 },
            Element::Interpolation(i) => measure(&i.expr, ctx, depth + 1)?,
            Element::Directive(d) => match d.as_ref() {
                Directive::If(i) => {
                    let t = elements_of(&i.true_template, ctx, depth + 1)?;
                    let f =
                        i.false_template.as_ref().map_or(Ok(Size::default()), |f| elements_of(f, ctx, depth + 1))?;
                    measure(&i.cond_expr, ctx, depth + 1)?.add(t.max(f))
                }
                Directive::For(f) => {
                    check_part(measure(&f.collection_expr, ctx, depth + 1)?)?;
                    let (n, inner) = iterate(&f.collection_expr, ctx, f.key_var.as_ref(), &f.value_var);
                    let body = elements_of(&f.template, &inner, depth + 1)?;
                    check_part(body)?;
                    body.times(n)
                }
            },
        };
        size = size.add(part);
        check_part(size)?;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(src: &str) -> Expression {
        let body: hcl::Body = hcl::from_str(&format!("x = {src}\n")).unwrap();
        body.attributes().next().unwrap().expr().clone()
    }

    /// `local.a` is `a`; the functions `src` calls are declared.
    fn ctx_with(src: &str, a: &str) -> Context<'static> {
        let mut ctx = Context::new();
        super::super::funcs::declare(&mut ctx, src);
        ctx.declare_var("local", Value::Object([("a".to_string(), Value::String(a.into()))].into_iter().collect()));
        ctx
    }

    /// Functions that make more than they are given are measured by what
    /// they may make: a file read in a loop, a product of sets, YAML's
    /// aliases, a replacement at every character.
    #[test]
    fn functions_that_grow_their_input_are_measured() {
        let big = "x".repeat(64 << 10);
        let refused = |src: &str| check(&expr(src), &ctx_with(src, &big)).unwrap_err().to_string();
        let e = refused(r#"[for i in range(100) : file("a.txt")]"#);
        assert!(e.contains("at most 16 MiB"), "{e}");
        let e = refused(r#"setproduct(range(1000), range(1000), range(1000))"#);
        assert!(e.contains("at most 1000000"), "{e}");
        let e = refused(r#"[for i in range(2) : yamldecode("a: &x [1]\nb: *x")]"#);
        assert!(e.contains("at most"), "{e}");
        let e = refused(r#"regex_replace(local.a, "", local.a)"#);
        assert!(e.contains("MiB of text"), "{e}");
        let e = refused(
            r#"[for i in range(1000) : indent(1000, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\no\np\nq\nr\ns\nt\nu")]"#,
        );
        assert!(e.contains("MiB of text"), "{e}");
        // What stays small passes.
        let ok = |src: &str| check(&expr(src), &ctx_with(src, &big));
        assert_eq!(ok(r#"file("a.txt")"#), Ok(()));
        assert_eq!(ok(r#"yamldecode("a: [1, 2]")"#), Ok(()));
        assert_eq!(ok(r#"indent(2, "a\nb")"#), Ok(()));
    }

    #[test]
    fn bombs_are_refused_before_they_are_evaluated() {
        let big = "x".repeat(1 << 20);
        let refused = |src: &str| check(&expr(src), &ctx_with(src, &big)).unwrap_err().to_string();
        let e = refused(r#"[for i in range(10000) : [for j in range(10000) : "xxxxxxxxxxxxxxxx"]]"#);
        assert!(e.contains("values; at most 1000000"), "{e}");
        let e = refused(
            r#""${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}${local.a}""#,
        );
        assert!(e.contains("MiB of text; at most 16 MiB"), "{e}");
        let e = refused(r#"replace(local.a, "x", local.a)"#);
        assert!(e.contains("MiB of text"), "{e}");
        let e = refused(r#""%{ for i in range(10000) }${local.a}%{ endfor }""#);
        assert!(e.contains("MiB of text"), "{e}");
        // The loop variable's last value stands for its largest.
        let e = refused(r#"[for i in range(2000) : [for j in range(i) : i]]"#);
        assert!(e.contains("values"), "{e}");
    }

    #[test]
    fn ordinary_expressions_pass() {
        for src in [
            r#"[for i in range(100) : "item-${i}"]"#,
            r#"{ for k, v in { a = 1, b = 2 } : k => v * 2 }"#,
            r#"replace(local.a, "b", "xyz")"#,
            r#""%{ for i in range(3) }${i},%{ endfor }""#,
            r#"[for i in range(1000) : [for j in range(100) : j]]"#,
            // A few matches of a large text: measured by its matches.
            r#"replace("${local.a}${local.a}", "b", local.a)"#,
            r#"join(", ", [for i in range(1000) : "${local.a}-${i}"])"#,
        ] {
            check(&expr(src), &ctx_with(src, "abc")).unwrap_or_else(|e| panic!("{src}: {e}"));
        }
    }
}
