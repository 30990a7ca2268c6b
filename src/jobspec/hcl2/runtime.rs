//! What the task's start resolves: the names a reference may start with
//! that are left as written (kept so in templates), and whether an
//! expression must be evaluated now.

use super::ITERATORS;
use hcl_edit::expr::Expression;
use hcl_edit::template::Element;

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
pub(super) const ESCAPE: char = '\u{E000}';

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
pub(super) fn needs(expr: &Expression) -> bool {
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
