//! `dynamic` blocks: a copy of the `content` block for each element of
//! `for_each`, its labels evaluated with the iterator declared.

use super::text::{as_text, kind};
use super::{Eval, ITERATORS, MAX_ELEMENTS};
use hcl::Value;
use hcl::eval::Context;
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, BlockLabel};

impl<'s> Eval<'s, '_> {
    /// Expands `dynamic "NAME" { for_each, iterator, labels, content }`.
    pub(super) fn dynamic(&mut self, b: &Block, ctx: &Context) -> Vec<Block> {
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
}
