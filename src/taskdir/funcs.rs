//! The consul-template functions supd renders: those that need nothing but
//! this host (jobspec::gotemplate::HOST_FUNCS names them). Arguments come in
//! consul-template's order, the piped value last: `{{ "a,b" | split "," }}`.
//!
//! No function makes a value larger than the render's output limit
//! ([`Scope::max_output`], `limits.template_bytes`): a function whose
//! result can outgrow its arguments measures it first, and refuses it,
//! naming the limit, before it is made. gotmpl's own functions that can
//! (`print`, `println`, `printf`, `html`, `js`, `urlquery`) are replaced
//! by ones that measure too ([`bounded_builtins`]). `sockaddr` evaluates a
//! template of go-sockaddr's over this host's interfaces ([`sockaddr`]).

mod builtins;
mod data;
mod error;
mod printf;
mod sockaddr;
mod strings;
mod task;
mod time;

pub use builtins::bounded_builtins;

use super::scope::{OUTPUT_KEY, Scope, size_text};
use data::{json_funcs, list_funcs, number_funcs};
use error::FuncError;
use gotmpl::{FuncMap, TemplateError, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use strings::{encoding_funcs, replace_funcs, string_funcs};
use task::{env_funcs, file_funcs, service_funcs, variable_funcs};
use time::time_funcs;

type R = gotmpl::Result<Value>;

/// The most pieces `split` returns, and values `parseJSON` makes: as many
/// as one render's `range` may visit.
pub const MAX_PIECES: u64 = 1_000_000;

/// Refuses a result of `size` bytes, measured before it is made, over the
/// render's output limit: no value of a template may be larger than the
/// file it renders.
fn within(name: &str, size: u64, limit: u64) -> Result<(), TemplateError> {
    refuse_over(name, "would be", size, limit)
}

/// [`within`] for an estimate of the result's size from above.
fn within_estimate(name: &str, size: u64, limit: u64) -> Result<(), TemplateError> {
    refuse_over(name, "could be", size, limit)
}

fn refuse_over(name: &str, verb: &str, size: u64, limit: u64) -> Result<(), TemplateError> {
    if size <= limit {
        return Ok(());
    }
    let size = if size >= 1 << 20 && !size.is_multiple_of(1 << 20) {
        format!("over {} MiB", size >> 20)
    } else {
        size_text(size)
    };
    Err(fail(name, format!("the result {verb} {size}; at most {} ({OUTPUT_KEY})", size_text(limit))))
}

/// A result found over `limit` while it was counted (the count stops there).
fn over(name: &str, limit: u64) -> TemplateError {
    fail(name, format!("the result would be over {} ({OUTPUT_KEY})", size_text(limit)))
}

/// Counts the bytes written to it, and fails the write that takes it past
/// `limit`: a result measured without being made.
struct Count {
    n: u64,
    limit: u64,
}

impl Count {
    fn new(limit: u64) -> Count {
        Count { n: 0, limit }
    }

    /// Counts `len` more bytes; false once past the limit.
    fn add(&mut self, len: usize) -> bool {
        self.n = self.n.saturating_add(len as u64);
        self.n <= self.limit
    }
}

impl std::fmt::Write for Count {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.add(s.len()) { Ok(()) } else { Err(std::fmt::Error) }
    }
}

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.add(buf.len()) { Ok(buf.len()) } else { Err(std::io::Error::other("over the limit")) }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes of `v` as `{}` shows it (as `print` and `printf`'s `%v` do),
/// counted up to just past `limit`.
fn shown_len(v: &Value, limit: u64) -> u64 {
    if let Value::String(s) = v {
        return s.len() as u64;
    }
    let mut count = Count::new(limit);
    let _ = write!(count, "{v}");
    count.n
}

fn fail(name: &str, why: impl std::fmt::Display) -> TemplateError {
    TemplateError::Exec(format!("{name}: {why}"))
}

fn args<'a, const N: usize>(name: &str, a: &'a [Value]) -> Result<&'a [Value; N], TemplateError> {
    a.try_into().map_err(|_| fail(name, format!("takes {N} argument(s), got {}", a.len())))
}

fn string(name: &str, v: &Value) -> Result<String, TemplateError> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        Value::Int(_) | Value::Uint(_) | Value::Float(_) | Value::Bool(_) => Ok(v.to_string()),
        other => Err(fail(name, format!("wants a string, got {}", other.type_name()))),
    }
}

fn text(s: impl Into<Arc<str>>) -> R {
    Ok(Value::String(s.into()))
}

/// A one-string function.
fn unary(name: &'static str, f: fn(&str) -> Result<String, FuncError>) -> gotmpl::ValueFunc {
    Arc::new(move |a: &[Value]| {
        let [s] = args::<1>(name, a)?;
        text(f(&string(name, s)?).map_err(|e| fail(name, e))?)
    })
}

/// A one-string function whose result may be longer than its argument:
/// `size` tells how long, before it is made.
fn growing(name: &'static str, limit: u64, size: fn(&str) -> u64, f: fn(&str) -> String) -> gotmpl::ValueFunc {
    Arc::new(move |a: &[Value]| {
        let [s] = args::<1>(name, a)?;
        let s = string(name, s)?;
        within(name, size(&s), limit)?;
        text(f(&s))
    })
}

/// A function of two strings, the piped one last.
fn binary(name: &'static str, f: fn(&str, &str) -> Result<Value, FuncError>) -> gotmpl::ValueFunc {
    Arc::new(move |a: &[Value]| {
        let [x, y] = args::<2>(name, a)?;
        f(&string(name, x)?, &string(name, y)?).map_err(|e| fail(name, e))
    })
}

fn number(name: &str, v: &Value) -> Result<Num, TemplateError> {
    match v {
        Value::Int(i) => Ok(Num::I(*i)),
        Value::Uint(u) => i64::try_from(*u).map(Num::I).map_err(|_| fail(name, "number too large")),
        Value::Float(f) => Ok(Num::F(*f)),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Num::I)
            .or_else(|_| s.trim().parse::<f64>().map(Num::F))
            .map_err(|_| fail(name, format!("{s:?} is not a number"))),
        other => Err(fail(name, format!("wants a number, got {}", other.type_name()))),
    }
}

#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// Adds one function, by its name, to the map [`host_funcs`] makes.
type Put<'a> = dyn FnMut(&str, gotmpl::ValueFunc) + 'a;

/// Every function of HOST_FUNCS, bound to one render's scope.
pub fn host_funcs(scope: &Arc<Scope>) -> FuncMap {
    let mut m: FuncMap = BTreeMap::new();
    let mut put = |name: &str, f: gotmpl::ValueFunc| {
        m.insert(name.to_string(), f);
    };
    let limit = scope.max_output;
    env_funcs(&mut put, scope);
    file_funcs(&mut put, scope);
    encoding_funcs(&mut put, limit);
    string_funcs(&mut put, limit);
    replace_funcs(&mut put, limit);
    json_funcs(&mut put, limit);
    list_funcs(&mut put, limit);
    number_funcs(&mut put);
    put("sockaddr", sockaddr::func(limit));
    time_funcs(&mut put, scope);
    service_funcs(&mut put, scope);
    variable_funcs(&mut put, scope);
    m
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Map(Arc::new(fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
