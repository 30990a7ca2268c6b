//! Typed reading of hcl-edit's tree. Every reader reports what is wrong at
//! the value's own position and returns `None`, so one pass over a file
//! finds every problem at once. Values are literals: supd evaluates no HCL
//! expressions or functions, and keeps `${...}` references in strings as
//! written, for interpolation when a task starts.

use super::diag::{Sink, did_you_mean};
use super::duration;
use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Attribute, Block, Body, Structure};
use hcl_edit::template::{Element, Template};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

/// What a key in a block may be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attr,
    Block,
    /// `meta`, `env`: an attribute holding a map, or a block of attributes.
    Either,
}

/// The keys one kind of block accepts, and the Nomad keys it loads with a
/// warning because supd does not act on them.
pub struct Schema {
    pub what: &'static str,
    pub keys: &'static [(&'static str, Kind)],
    pub ignored: &'static [&'static str],
}

/// Reads values for one file, reporting into its sink.
pub struct Reader<'s> {
    pub src: &'s str,
    pub sink: Sink<'s>,
}

pub type Sp = Option<Range<usize>>;

impl<'s> Reader<'s> {
    pub fn new(file: &str, src: &'s str) -> Self {
        Reader { src, sink: Sink::new(file, src) }
    }

    /// Reports unknown keys (with a suggestion), Nomad keys supd ignores,
    /// and keys written as an attribute where a block belongs or back.
    pub fn check_keys(&mut self, body: &Body, schema: &Schema) {
        for s in body.iter() {
            let (key, is_block, span) = match s {
                Structure::Attribute(a) => (a.key.as_str(), false, a.key.span()),
                Structure::Block(b) => (b.ident.as_str(), true, b.ident.span()),
            };
            if let Some((_, kind)) = schema.keys.iter().find(|(k, _)| *k == key) {
                match (kind, is_block) {
                    (Kind::Attr, true) => self.sink.error(
                        span,
                        format!("`{key}` in {} is an attribute, not a block — write `{key} = …`", schema.what),
                    ),
                    (Kind::Block, false) => self.sink.error(
                        span,
                        format!("`{key}` in {} is a block, not an attribute — write `{key} {{ … }}`", schema.what),
                    ),
                    _ => {}
                }
            } else if schema.ignored.contains(&key) {
                self.sink.warn(
                    span,
                    format!("`{key}` in {} is ignored by supd — it loads, but has no effect here", schema.what),
                );
            } else {
                let names = schema.keys.iter().map(|(k, _)| *k);
                let hint = match did_you_mean(key, names) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!(
                        "{} accepts {}",
                        schema.what,
                        schema.keys.iter().map(|(k, _)| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                self.sink.error(span, format!("unknown key `{key}` in {} — {hint}", schema.what));
            }
        }
    }

    pub fn attr<'b>(&self, body: &'b Body, key: &str) -> Option<&'b Attribute> {
        body.get_attribute(key)
    }

    pub fn blocks<'b>(&self, body: &'b Body, key: &'b str) -> Vec<&'b Block> {
        body.get_blocks(key).collect()
    }

    /// At most one block `key`; further ones are reported.
    pub fn one_block<'b>(&mut self, body: &'b Body, key: &'b str, what: &str) -> Option<&'b Block> {
        let all = self.blocks(body, key);
        for extra in all.iter().skip(1) {
            let first = self.sink.pos(&all[0].ident.span());
            self.sink.error(
                extra.ident.span(),
                format!("only one `{key}` block is allowed in {what} (the first is at {first}) — merge them"),
            );
        }
        all.first().copied()
    }

    /// The one label of a block such as `group "cache"`.
    pub fn label(&mut self, block: &Block, example: &str) -> Option<String> {
        let key = block.ident.as_str();
        match block.labels.as_slice() {
            [one] => {
                let name = one.as_str();
                if name.is_empty() {
                    self.sink.error(one.span(), format!("the {key} name is empty — write {example}"));
                    None
                } else {
                    Some(name.to_string())
                }
            }
            [] => {
                self.sink.error(block.ident.span(), format!("{key} block has no name — write {example}"));
                None
            }
            [_, extra, ..] => {
                self.sink.error(
                    extra.span(),
                    format!("{key} block takes one name, found {} — write {example}", block.labels.len()),
                );
                None
            }
        }
    }

    /// The label of a job, group or task block, checked as a name: one
    /// that would escape a directory, hide in a terminal or not fit a file
    /// name is an error at the label.
    pub fn name_label(&mut self, block: &Block, kind: crate::names::Kind, example: &str) -> Option<String> {
        let name = self.label(block, example)?;
        if let Some(problem) = crate::names::problem(kind, &name) {
            self.sink.error(block.labels.first().and_then(|l| l.span()), problem);
            return None;
        }
        Some(name)
    }

    /// Reports labels on a block that takes none.
    pub fn no_label(&mut self, block: &Block) {
        if let Some(l) = block.labels.first() {
            let key = block.ident.as_str();
            self.sink.error(l.span(), format!("`{key}` block takes no name — write `{key} {{ … }}`"));
        }
    }

    fn not_literal(&mut self, expr: &Expression, field: &str, expected: &str) {
        let found = match expr {
            Expression::Null(_) => "null",
            Expression::Bool(_) => "a bool",
            Expression::Number(_) => "a number",
            Expression::String(_) | Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => "a string",
            Expression::Array(_) => "a list",
            Expression::Object(_) => "a map",
            Expression::Variable(v) if v.as_str() == "var" || v.as_str() == "local" => "an input variable",
            Expression::Traversal(t) if matches!(&t.expr, Expression::Variable(v) if v.as_str() == "var" || v.as_str() == "local") => {
                "an input variable"
            }
            _ => "an expression",
        };
        let hint = if found == "an expression" || found == "an input variable" {
            " — supd reads literal values and evaluates no HCL variables, expressions or functions; write the value itself"
        } else {
            ""
        };
        self.sink.error(expr.span(), format!("`{field}` must be {expected}, found {found}{hint}"));
    }

    /// A string; `${...}` references are kept for interpolation at start.
    pub fn string(&mut self, expr: &Expression, field: &str) -> Option<String> {
        match expr {
            Expression::String(s) => Some(escape_template(s.value())),
            Expression::StringTemplate(t) => self.template(t, field),
            Expression::HeredocTemplate(h) => self.template(&h.template, field),
            Expression::Number(n) => Some(n.value().to_string()),
            Expression::Bool(b) => Some(b.value().to_string()),
            other => {
                self.not_literal(other, field, "a string");
                None
            }
        }
    }

    /// A string that must not contain `${...}`: names, enums, durations.
    pub fn literal(&mut self, expr: &Expression, field: &str) -> Option<String> {
        match expr {
            Expression::String(s) => Some(s.value().to_string()),
            Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
                self.sink
                    .error(expr.span(), format!("`{field}` cannot use ${{...}} interpolation — write a plain value"));
                None
            }
            other => {
                self.not_literal(other, field, "a string");
                None
            }
        }
    }

    fn template(&mut self, t: &Template, field: &str) -> Option<String> {
        let mut out = String::new();
        let mut ok = true;
        for el in t.iter() {
            match el {
                Element::Literal(s) => out.push_str(&escape_template(s.value())),
                Element::Interpolation(i) => {
                    let span = i.expr.span();
                    // The expression's own text (lossless), not the source's:
                    // an evaluated expression was written elsewhere.
                    let owned = i.expr.to_string();
                    let text = owned.trim();
                    if let Some(problem) = reference_problem(&i.expr, text) {
                        self.sink.error(span, format!("in `{field}`: {problem}"));
                        ok = false;
                    }
                    out.push_str("${");
                    out.push_str(text);
                    out.push('}');
                }
                Element::Directive(d) => {
                    let span = match d.as_ref() {
                        hcl_edit::template::Directive::If(x) => x.if_expr.cond_expr.span(),
                        hcl_edit::template::Directive::For(x) => x.for_expr.collection_expr.span(),
                    };
                    self.sink.error(
                        span,
                        format!("in `{field}`: template directives (%{{if}}, %{{for}}) are not supported — write the text out, or escape a literal %{{ as %%{{"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub fn bool(&mut self, expr: &Expression, field: &str) -> Option<bool> {
        match expr {
            Expression::Bool(b) => Some(*b.value()),
            Expression::String(s) if s.value() == "true" || s.value() == "false" => Some(s.value() == "true"),
            other => {
                self.not_literal(other, field, "true or false");
                None
            }
        }
    }

    /// An integer in `min..=max`. A quoted number is accepted, as HCL
    /// converts it.
    pub fn int(&mut self, expr: &Expression, field: &str, min: i64, max: i64) -> Option<i64> {
        let range = if max == i64::MAX { format!("at least {min}") } else { format!("between {min} and {max}") };
        let value = match expr {
            Expression::Number(n) => match n.value().as_i64() {
                Some(v) => v,
                None => {
                    let shown = expr.span().and_then(|s| self.src.get(s)).unwrap_or("").trim().to_string();
                    let whole = n.value().as_f64().is_some_and(|f| f.fract() == 0.0);
                    let message = if whole {
                        format!("`{field}` must be {range}, found {shown}")
                    } else {
                        format!("`{field}` must be a whole number, found {shown}")
                    };
                    self.sink.error(expr.span(), message);
                    return None;
                }
            },
            Expression::String(s) if s.value().trim().parse::<i64>().is_ok() => s.value().trim().parse().ok()?,
            Expression::UnaryOp(op) if matches!(op.operator.value(), hcl_edit::expr::UnaryOperator::Neg) => {
                match &op.expr {
                    Expression::Number(n) => -n.value().as_i64()?,
                    other => {
                        self.not_literal(other, field, "a number");
                        return None;
                    }
                }
            }
            other => {
                self.not_literal(other, field, "a number");
                return None;
            }
        };
        if value < min || value > max {
            self.sink.error(expr.span(), format!("`{field}` must be {range}, found {value}"));
            return None;
        }
        Some(value)
    }

    /// A Go duration string; see [`duration::parse`].
    pub fn duration(&mut self, expr: &Expression, field: &str) -> Option<Duration> {
        let text = match expr {
            Expression::UnaryOp(op) if matches!(op.operator.value(), hcl_edit::expr::UnaryOperator::Neg) => {
                self.sink.error(expr.span(), format!("`{field}` must not be negative — write e.g. \"30s\""));
                return None;
            }
            Expression::Number(n) if n.value().as_f64().is_some_and(|f| f < 0.0) => {
                self.sink.error(expr.span(), format!("`{field}` must not be negative — write e.g. \"30s\""));
                return None;
            }
            Expression::Number(n) => {
                self.sink.error(
                    expr.span(),
                    format!("`{field}` = {} has no unit — write a unit, e.g. \"{}s\" (Nomad would read a bare number as nanoseconds)", n.value(), n.value()),
                );
                return None;
            }
            other => self.literal(other, field)?,
        };
        if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') && text != "0" {
            self.sink.error(
                expr.span(),
                format!("`{field}`: duration {text:?} has no unit — write a unit, e.g. \"{text}s\""),
            );
            return None;
        }
        match duration::parse(&text) {
            Ok(p) => {
                if let Some(w) = p.warning {
                    self.sink.warn(expr.span(), format!("`{field}`: {w}"));
                }
                Some(p.value)
            }
            Err(e) => {
                self.sink.error(expr.span(), format!("`{field}`: {e}"));
                None
            }
        }
    }

    /// One of a fixed set of words, with "did you mean".
    pub fn enum_value(&mut self, expr: &Expression, field: &str, allowed: &[&str]) -> Option<String> {
        let v = self.literal(expr, field)?;
        if allowed.contains(&v.as_str()) {
            return Some(v);
        }
        let list = allowed.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
        let hint = match did_you_mean(&v, allowed.iter().copied()) {
            Some(s) if allowed.len() > 8 => format!("did you mean {s:?}?"),
            Some(s) => format!("did you mean {s:?}? ({field} is one of {list})"),
            None => format!("use one of {list}"),
        };
        self.sink.error(expr.span(), format!("invalid {field} {v:?} — {hint}"));
        None
    }

    pub fn string_list(&mut self, expr: &Expression, field: &str) -> Option<Vec<String>> {
        let Expression::Array(items) = expr else {
            if matches!(expr, Expression::String(_) | Expression::StringTemplate(_)) {
                let shown = expr.span().and_then(|r| self.src.get(r)).unwrap_or("\"…\"");
                self.sink.error(expr.span(), format!("`{field}` must be a list of strings — write [{shown}]"));
            } else {
                self.not_literal(expr, field, "a list of strings");
            }
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items.iter() {
            match self.string(item, field) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        // Kept in the job model for its life: no spare room.
        out.shrink_to_fit();
        ok.then_some(out)
    }

    /// A map of strings, written as `key = { a = "x" }` or as a block
    /// `key { a = "x" }`.
    /// A `meta` map; the keys supd reads itself (`supd_task_output`) are
    /// checked here, where their position is known.
    pub fn meta(&mut self, body: &Body) -> BTreeMap<String, String> {
        let out = self.string_map(body, "meta");
        let key = super::model::TaskOutput::META_KEY;
        let mut values: Vec<&Expression> = Vec::new();
        if let Some(Expression::Object(obj)) = body.get_attribute("meta").map(|a| &a.value) {
            for (k, v) in obj.iter() {
                let name = match k {
                    ObjectKey::Ident(i) => i.as_str(),
                    ObjectKey::Expression(Expression::String(s)) => s.value().as_str(),
                    ObjectKey::Expression(_) => continue,
                };
                if name == key {
                    values.push(v.expr());
                }
            }
        }
        for block in body.get_blocks("meta") {
            values.extend(block.body.get_attribute(key).map(|a| &a.value));
        }
        for v in values {
            if let Expression::String(s) = v
                && let Err(e) = super::model::TaskOutput::parse(s.value())
            {
                self.sink.error(v.span(), format!("meta {key}: {e}"));
            }
        }
        out
    }

    pub fn string_map(&mut self, body: &Body, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(a) = body.get_attribute(key) {
            match &a.value {
                Expression::Object(obj) => {
                    for (k, v) in obj.iter() {
                        let name = match k {
                            ObjectKey::Ident(i) => Some(i.as_str().to_string()),
                            ObjectKey::Expression(Expression::String(s)) => Some(s.value().to_string()),
                            ObjectKey::Expression(e) => {
                                self.sink.error(e.span(), format!("keys of `{key}` must be names or plain strings"));
                                None
                            }
                        };
                        let value = self.string(v.expr(), &format!("{key}.{}", name.as_deref().unwrap_or("?")));
                        if let (Some(n), Some(v)) = (name, value) {
                            out.insert(n, v);
                        }
                    }
                }
                other => self.not_literal(other, key, "a map such as { name = \"value\" }"),
            }
        }
        for block in body.get_blocks(key) {
            self.no_label(block);
            for s in block.body.iter() {
                match s {
                    Structure::Attribute(a) => {
                        if let Some(v) = self.string(&a.value, &format!("{key}.{}", a.key.as_str())) {
                            out.insert(a.key.as_str().to_string(), v);
                        }
                    }
                    Structure::Block(b) => {
                        self.sink.error(b.ident.span(), format!("`{key}` holds `name = \"value\"` pairs, not blocks"))
                    }
                }
            }
        }
        out
    }
}

/// Keeps a literal `${` distinguishable from a reference: stored strings
/// use the template form, where a literal `${` is written `$${`.
pub fn escape_template(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

/// Why an interpolated expression is not a reference supd can resolve, or
/// `None` when it is one (`attr.*`, `node.*`, `meta.*`, `NOMAD_*`, `env.*`).
fn reference_problem(expr: &Expression, text: &str) -> Option<String> {
    let root = match expr {
        Expression::Variable(v) => v.as_str(),
        Expression::Traversal(t) => match &t.expr {
            Expression::Variable(v) => v.as_str(),
            _ => return Some(format!("`${{{text}}}` is not a reference supd can resolve")),
        },
        _ => {
            return Some(format!(
                "`${{{text}}}` is an expression; supd interpolates only references such as ${{attr.kernel.name}}, ${{node.datacenter}}, ${{meta.key}} and ${{NOMAD_ALLOC_INDEX}} — to write a literal ${{ use $${{"
            ));
        }
    };
    // As Nomad's parser, a reference to any other name is left as written,
    // for the task's start to interpolate (`${attr.*}`, `${NOMAD_*}`, …);
    // one nothing resolves then stays as written, and is an event.
    if root == "var" || root == "local" {
        let what = if root == "var" { "variable" } else { "local" };
        Some(format!(
            "`${{{text}}}` refers to a {what} this file does not declare — declare it (`{}`) or write the value itself",
            if root == "var" { "variable \"NAME\" { … }" } else { "locals { NAME = … }" }
        ))
    } else {
        None
    }
}
