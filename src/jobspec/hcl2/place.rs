//! Evaluated values put in place of their expressions, each where it was
//! written: their text parsed together, as one body of attributes (`flush`).

use super::Eval;
use super::error::ReadBackError;
use super::runtime::{ESCAPE, needs};
use super::text::render;
use hcl::Value;
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::Body;

/// Whether a value's strings (and keys) hold nothing that its text
/// would read back as a template: `${`, `%{`, or a written `$${`.
fn plain(v: &Value) -> bool {
    let text = |s: &str| !(s.contains("${") || s.contains("%{") || s.contains(ESCAPE));
    match v {
        Value::String(s) => text(s),
        Value::Array(a) => a.iter().all(plain),
        Value::Object(o) => o.iter().all(|(k, v)| text(k) && plain(v)),
        _ => true,
    }
}

impl<'s> Eval<'s, '_> {
    /// Replaces `e` by the value `v`. Made directly, without a position,
    /// when the caller asked for that (a check, which reads the file again
    /// the usual way when anything is to be said about it) and the value
    /// holds no `${` or `%{`, which its text would read back as a template.
    pub(super) fn put_value(&mut self, e: &mut Expression, v: Value) {
        if self.direct && plain(&v) {
            *e = Expression::from(hcl::Expression::from(v));
        } else {
            self.replace(e, Some(render(&v)));
        }
    }

    /// Replaces `e` by the expression `text`, placed where `e` was written:
    /// at once when `e` has no position, else when the body is flushed
    /// (see `flush`), together with the other values of the body.
    fn replace(&mut self, e: &mut Expression, text: Option<String>) {
        let Some(text) = text else { return };
        match e.span() {
            Some(s) if !text.contains(['\n', '\r']) => self.pending.push((s.start, text)),
            span => {
                let start = span.map_or(0, |s| s.start);
                match self.parse_one(start, &text) {
                    Ok(n) => *e = n,
                    Err(err) => {
                        self.sink.eval_error(e.span(), format!("the evaluated value does not read back: {err}"))
                    }
                }
            }
        }
    }

    /// The expression `text`, parsed so that its span starts at `start`:
    /// parsed as `x = TEXT`, padded so that TEXT starts where the replaced
    /// expression did, its span then points at what the user wrote. The
    /// padding is one line comment: the parser skips it with one scan for
    /// the line's end (a block comment's end is searched for by comparing
    /// at every byte; spaces are read one by one).
    fn parse_one(&mut self, start: usize, text: &str) -> Result<Expression, ReadBackError> {
        let pad = &mut self.pad;
        pad.clear();
        if start >= 6 {
            pad.push('#');
            pad.extend(std::iter::repeat_n(' ', start - 6));
            pad.push('\n');
        } else {
            pad.extend(std::iter::repeat_n(' ', start.saturating_sub(4)));
        }
        pad.push_str("x = ");
        pad.push_str(text);
        pad.push('\n');
        let mut n = hcl_edit::parser::parse_body(pad)?
            .into_attributes()
            .next()
            .map(|a| a.value)
            .ok_or(ReadBackError::NoValue)?;
        hcl_edit::Decorate::decor_mut(&mut n).clear();
        Ok(n)
    }

    /// Puts the values `replace` left pending into `body`. They are parsed
    /// together, as one body of attributes each placed where its
    /// expression was written (`k=TEXT` lines, with line comments filling
    /// the gaps): one scan over the file's length for all of them, where
    /// a parse per value would scan up to its place every time. A value
    /// that does not fit before the next is parsed in a further body.
    pub(super) fn flush(&mut self, body: &mut Body) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|(start, _)| *start);
        let mut done: Vec<(usize, Option<Result<Expression, ReadBackError>>)> = Vec::with_capacity(pending.len());
        let mut buf = std::mem::take(&mut self.pad);
        buf.clear();
        let mut batch: Vec<(usize, String)> = Vec::new();
        for (start, text) in pending {
            let key_len = key(batch.len()).len() + 1;
            if !batch.is_empty() && start < buf.len() + key_len {
                self.parse_batch(&buf, &mut batch, &mut done);
                buf.clear();
            }
            let key = key(batch.len());
            if start < key.len() + 1 + buf.len() {
                let one = self.parse_one(start, &text);
                done.push((start, Some(one)));
                continue;
            }
            let gap = start - key.len() - 1 - buf.len();
            if gap >= 2 {
                buf.push('#');
                buf.extend(std::iter::repeat_n(' ', gap - 2));
                buf.push('\n');
            } else {
                buf.extend(std::iter::repeat_n(' ', gap));
            }
            buf.push_str(&key);
            buf.push('=');
            buf.push_str(&text);
            buf.push('\n');
            batch.push((start, text));
        }
        self.parse_batch(&buf, &mut batch, &mut done);
        self.pad = buf;
        done.sort_by_key(|(start, _)| *start);
        self.put_body(body, &mut done);
    }

    /// Parses one body made by `flush`; when it does not read back, each
    /// of its values alone, so that the error names the right one.
    fn parse_batch(
        &mut self,
        buf: &str,
        batch: &mut Vec<(usize, String)>,
        done: &mut Vec<(usize, Option<Result<Expression, ReadBackError>>)>,
    ) {
        if batch.is_empty() {
            return;
        }
        let values: Option<Vec<Expression>> = hcl_edit::parser::parse_body(buf).ok().and_then(|b| {
            let v: Vec<Expression> = b.into_attributes().map(|a| a.value).collect();
            let placed = v.len() == batch.len()
                && v.iter().zip(batch.iter()).all(|(e, (start, _))| e.span().is_some_and(|s| s.start == *start));
            placed.then_some(v)
        });
        match values {
            Some(v) => {
                for (mut n, (start, _)) in v.into_iter().zip(batch.drain(..)) {
                    hcl_edit::Decorate::decor_mut(&mut n).clear();
                    done.push((start, Some(Ok(n))));
                }
            }
            None => {
                for (start, text) in batch.drain(..) {
                    let one = self.parse_one(start, &text);
                    done.push((start, Some(one)));
                }
            }
        }
    }

    fn put_body(&mut self, body: &mut Body, done: &mut [(usize, Option<Result<Expression, ReadBackError>>)]) {
        for mut s in body.iter_mut() {
            if let Some(mut a) = s.as_attribute_mut() {
                self.put(a.value_mut(), done);
            } else if let Some(b) = s.as_block_mut() {
                self.put_body(&mut b.body, done);
            }
        }
    }

    /// Puts the parsed value that belongs at `e`'s place, looking where
    /// `expr` may have replaced something: `e` itself, or inside lists and
    /// maps.
    fn put(&mut self, e: &mut Expression, done: &mut [(usize, Option<Result<Expression, ReadBackError>>)]) {
        if let Some(s) = e.span()
            && let Ok(i) = done.binary_search_by_key(&s.start, |(start, _)| *start)
        {
            // The first of equal places not yet put.
            let first = done[..i].iter().rposition(|(start, _)| *start != s.start).map_or(0, |p| p + 1);
            if let Some(slot) =
                done[first..].iter_mut().take_while(|(start, _)| *start == s.start).find(|(_, v)| v.is_some())
            {
                match slot.1.take() {
                    Some(Ok(n)) => *e = n,
                    Some(Err(err)) => {
                        self.sink.eval_error(e.span(), format!("the evaluated value does not read back: {err}"))
                    }
                    None => {}
                }
                return;
            }
        }
        // Only a list or map that still waits for a value holds a place to
        // fill: one already put in (a `dynamic` copy's, flushed on its own)
        // has parts at made-up places that may equal a waiting one's.
        if !needs(e) {
            return;
        }
        match e {
            Expression::Array(a) => {
                for x in a.iter_mut() {
                    self.put(x, done);
                }
            }
            Expression::Object(o) => {
                for (_, v) in o.iter_mut() {
                    self.put(v.expr_mut(), done);
                }
            }
            _ => {}
        }
    }
}

/// The `n`th attribute name of a body `flush` parses: `a` … `z`, `ba` …
fn key(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}
