//! The functions a job file may call: Nomad's HCL2 set, as far as it makes
//! sense on one host. Listed in supd-job(5).

use super::limits::MAX_BYTES;
use super::{MAX_ELEMENTS, kind};
use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use std::cell::RefCell;
use std::path::PathBuf;

mod error;
use error::{FuncError, Limit};

// The functions, one file per family; `imp` below names each for the table.
mod collections;
mod conversion;
mod crypto;
mod encoding;
mod files;
mod network;
mod numbers;
mod strings;
mod time;

/// `bcrypt()` may do this much work in one file, counted in hashes at cost
/// 10 (one at cost 11 counts 2, at 12 counts 4, below 10 counts 1): each
/// takes tens of milliseconds on purpose, and a file is read on supd's
/// loop, so a file holds the loop up at most about a second with it.
pub const MAX_BCRYPT_CALLS: u32 = 16;

/// `rsadecrypt()` may do this much work in one file, counted in
/// decryptions with a key of at most 2048 bits (one with a 3072-bit key
/// counts 4, with a 4096-bit key 8: the work grows with the cube of the
/// key's size). Each takes milliseconds, and a file is read on supd's loop.
pub const MAX_RSADECRYPT_CALLS: u32 = 32;

/// The largest RSA key `rsadecrypt()` takes, in bits of its modulus.
pub const MAX_RSA_BITS: usize = 4096;

thread_local! {
    /// The job file's directory, against which `file()` resolves paths.
    static BASE: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
    /// `bcrypt()` calls made in the file being evaluated.
    static BCRYPTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// `rsadecrypt()` work done in the file being evaluated
    /// ([`MAX_RSADECRYPT_CALLS`]).
    static RSADECRYPTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Starts the evaluation of a file: `file()` resolves paths against `base`.
pub fn set_base(base: Option<PathBuf>) {
    BASE.with(|b| *b.borrow_mut() = base);
    BCRYPTS.with(|c| c.set(0));
    RSADECRYPTS.with(|c| c.set(0));
}

type R = Result<Value, FuncError>;

macro_rules! funcs {
    ($($name:literal => $f:ident / $min:literal .. $max:expr),* $(,)?) => {
        /// Every function's name, for messages.
        pub const NAMES: &[&str] = &[$($name),*];
        /// Declares the functions whose names occur in `src` as words (a
        /// call's name always is one): building all of them for every file
        /// would cost more than evaluating it. One pass over the words.
        pub fn declare(ctx: &mut Context, src: &str) {
            let mut found: Vec<&str> = Vec::new();
            for w in src.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if matches!(w, $($name)|*) && !found.contains(&w) {
                    found.push(w);
                }
            }
            $(
                fn $f(args: FuncArgs) -> R {
                    let a = args.into_values();
                    let max: usize = $max;
                    let min: usize = $min;
                    if a.len() < min || a.len() > max {
                        return Err(FuncError::Arity { name: $name, min, max, got: a.len() });
                    }
                    imp::$f(a).map_err(|e| FuncError::In { name: $name, source: Box::new(e) })
                }
                if found.contains(&$name) {
                    // hcl-rs takes a function's error as text: the error ends here.
                    let def = FuncDef::builder().variadic_param(ParamType::Any);
                    ctx.declare_func($name, def.build(|args| $f(args).map_err(|e| e.to_string())));
                }
            )*
        }

        /// Calls the function `name` directly, as the evaluator would;
        /// `None` for a name that is none of these, or the wrong number
        /// of arguments.
        pub fn call(name: &str, a: Vec<Value>) -> Option<R> {
            match name {
                $($name => {
                    let max: usize = $max;
                    let min: usize = $min;
                    if a.len() < min || a.len() > max {
                        return None;
                    }
                    Some(imp::$f(a))
                })*
                _ => None,
            }
        }
    };
}

funcs! {
    "upper" => upper / 1..1, "lower" => lower / 1..1, "title" => title / 1..1,
    "trimspace" => trimspace / 1..1, "trim" => trim / 2..2, "trimprefix" => trimprefix / 2..2,
    "trimsuffix" => trimsuffix / 2..2, "chomp" => chomp / 1..1, "replace" => replace / 3..3,
    "substr" => substr / 3..3, "strrev" => strrev / 1..1, "split" => split / 2..2,
    "join" => join / 2..2, "format" => format / 1..usize::MAX, "length" => length / 1..1,
    "lookup" => lookup / 2..3, "merge" => merge / 0..usize::MAX, "concat" => concat / 0..usize::MAX,
    "range" => range / 1..3, "coalesce" => coalesce / 1..usize::MAX, "keys" => keys / 1..1,
    "values" => values / 1..1, "contains" => contains / 2..2, "element" => element / 2..2,
    "index" => index / 2..2, "distinct" => distinct / 1..1, "flatten" => flatten / 1..1,
    "reverse" => reverse / 1..1, "compact" => compact / 1..1, "sort" => sort / 1..1,
    "zipmap" => zipmap / 2..2, "min" => min / 1..usize::MAX, "max" => max / 1..usize::MAX,
    "abs" => abs / 1..1, "ceil" => ceil / 1..1, "floor" => floor / 1..1,
    "tostring" => tostring / 1..1, "tonumber" => tonumber / 1..1, "tobool" => tobool / 1..1,
    "jsonencode" => jsonencode / 1..1, "jsondecode" => jsondecode / 1..1, "file" => file / 1..1,
    // Strings. `strlen`, `substr`, `strrev` (and `length` and `reverse` of
    // a string) count extended grapheme clusters, as Nomad's (cty's) do: a
    // letter with its combining marks, a flag, a joined emoji is one.
    "strlen" => strlen / 1..1, "indent" => indent / 2..2, "formatlist" => formatlist / 1..usize::MAX,
    "regex_replace" => regex_replace / 3..3,
    // Numbers.
    "log" => log / 2..2, "pow" => pow / 2..2, "signum" => signum / 1..1, "parseint" => parseint / 2..2,
    // Collections. Sets are lists here: distinct, in order of first appearance.
    "chunklist" => chunklist / 2..2, "coalescelist" => coalescelist / 1..usize::MAX, "slice" => slice / 3..3,
    "setunion" => setunion / 1..usize::MAX, "setintersection" => setintersection / 1..usize::MAX,
    "setproduct" => setproduct / 2..usize::MAX,
    // Conversion: the type is written as a string here (`convert(x, "list(string)")`).
    "convert" => convert / 2..2,
    // Encoding.
    "base64encode" => base64encode / 1..1, "base64decode" => base64decode / 1..1, "urlencode" => urlencode / 1..1,
    "csvdecode" => csvdecode / 1..1, "yamlencode" => yamlencode / 1..1, "yamldecode" => yamldecode / 1..1,
    // Hashes, identifiers and decryption.
    "md5" => md5 / 1..1, "sha1" => sha1 / 1..1, "sha256" => sha256 / 1..1, "sha512" => sha512 / 1..1,
    "bcrypt" => bcrypt / 1..2, "uuidv4" => uuidv4 / 0..0, "uuidv5" => uuidv5 / 2..2,
    "rsadecrypt" => rsadecrypt / 2..2,
    // Time.
    "formatdate" => formatdate / 2..2, "timeadd" => timeadd / 2..2,
    // Networks.
    "cidrhost" => cidrhost / 2..2, "cidrnetmask" => cidrnetmask / 1..1, "cidrsubnet" => cidrsubnet / 3..3,
    "cidrsubnets" => cidrsubnets / 1..usize::MAX,
    // Paths and files (the files below the job file's directory only).
    "abspath" => abspath / 1..1, "basename" => basename / 1..1, "dirname" => dirname / 1..1,
    "pathexpand" => pathexpand / 1..1, "fileexists" => fileexists / 1..1, "filebase64" => filebase64 / 1..1,
    "fileset" => fileset / 2..2,
    // `try` and `can` need their arguments unevaluated: the evaluator has them.
}

// What the functions take their arguments as, and the bounds on what they
// make: shared by every family.

fn s(v: &Value) -> Result<String, FuncError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(FuncError::Type { needs: "a string", found: kind(other) }),
    }
}
fn n(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| FuncError::Invalid("not a number".into())),
        Value::String(x) => x.trim().parse().map_err(|_| FuncError::Invalid(format!("{x:?} is not a number"))),
        other => Err(FuncError::Type { needs: "a number", found: kind(other) }),
    }
}
fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9e15 {
        Value::from(f as i64)
    } else {
        hcl::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}
fn list(v: &Value) -> Result<Vec<Value>, FuncError> {
    match v {
        Value::Array(a) => Ok(a.clone()),
        other => Err(FuncError::Type { needs: "a list", found: kind(other) }),
    }
}
fn map(v: &Value) -> Result<hcl::Map<String, Value>, FuncError> {
    match v {
        Value::Object(o) => Ok(o.clone()),
        other => Err(FuncError::Type { needs: "a map", found: kind(other) }),
    }
}
fn bounded(len: usize) -> Result<(), FuncError> {
    if len > MAX_ELEMENTS { Err(Limit::Elements(len).into()) } else { Ok(()) }
}
/// A string result may be this long.
fn text_bounded(len: usize) -> Result<(), FuncError> {
    if len as u64 > MAX_BYTES { Err(Limit::Text { len }.into()) } else { Ok(()) }
}
/// A whole number (an index, a count, a size).
fn whole(v: &Value) -> Result<i64, FuncError> {
    if let Value::Number(x) = v
        && let Some(i) = x.as_i64()
    {
        return Ok(i);
    }
    let f = n(v)?;
    if !f.is_finite() || f.fract() != 0.0 || f.abs() > 9.0e18 {
        return Err(FuncError::Invalid(format!("needs a whole number, found {f}")));
    }
    Ok(f as i64)
}
/// A computed number, which must be finite (`log(-1, 10)` is not).
fn finite(f: f64) -> R {
    if f.is_finite() { Ok(num(f)) } else { Err(FuncError::Invalid("the result is not a finite number".into())) }
}

/// The functions of the table above, each from the file of its family.
mod imp {
    pub(super) use super::collections::{
        chunklist, coalesce, coalescelist, compact, concat, contains, distinct, element, flatten, index, keys, length,
        lookup, merge, range, reverse, setintersection, setproduct, setunion, slice, sort, values, zipmap,
    };
    pub(super) use super::conversion::{convert, tobool, tonumber, tostring};
    pub(super) use super::crypto::{bcrypt, md5, rsadecrypt, sha1, sha256, sha512, uuidv4, uuidv5};
    pub(super) use super::encoding::{
        base64decode, base64encode, csvdecode, jsondecode, jsonencode, urlencode, yamldecode, yamlencode,
    };
    pub(super) use super::files::{abspath, basename, dirname, file, filebase64, fileexists, fileset, pathexpand};
    pub(super) use super::network::{cidrhost, cidrnetmask, cidrsubnet, cidrsubnets};
    pub(super) use super::numbers::{abs, ceil, floor, log, max, min, parseint, pow, signum};
    pub(super) use super::strings::{
        chomp, format, formatlist, indent, join, lower, regex_replace, replace, split, strlen, strrev, substr, title,
        trim, trimprefix, trimspace, trimsuffix, upper,
    };
    pub(super) use super::time::{formatdate, timeadd};
}

#[cfg(test)]
mod tests;

/// The functions Nomad's job files offer beyond the first set, with the
/// examples of Terraform's documentation of them.
#[cfg(test)]
mod more_tests;

/// rsadecrypt() with a fixed key: what it decrypts, what it refuses, and
/// the bounds on its work.
#[cfg(test)]
mod rsadecrypt_tests;
