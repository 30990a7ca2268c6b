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

mod error;
mod sockaddr;

use super::render::{OUTPUT_KEY, Scope, size_text};
use error::FuncError;
use gotmpl::{FuncMap, TemplateError, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::iter::Peekable;
use std::str::Chars;
use std::sync::{Arc, Mutex, PoisonError};

type R = gotmpl::Result<Value>;

/// The most pieces `split` returns, and values `parseJSON` makes: as many
/// as one render's `range` may visit.
pub const MAX_PIECES: u64 = 1_000_000;

/// The most values `printf` takes after its format (gotmpl's own `printf`
/// is called through a template with a term for each, see [`Builtin`]).
const MAX_PRINTF_ARGS: usize = 256;

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

/// The bytes of `s` in lower case (a character may become two or three).
fn lower_len(s: &str) -> u64 {
    s.chars().map(|c| c.to_lowercase().map(char::len_utf8).sum::<usize>() as u64).sum()
}

/// The bytes of `s` in upper case.
fn upper_len(s: &str) -> u64 {
    s.chars().map(|c| c.to_uppercase().map(char::len_utf8).sum::<usize>() as u64).sum()
}

/// The bytes of [`title`]'s result.
fn title_len(s: &str) -> u64 {
    let mut n = 0u64;
    let mut start = true;
    for c in s.chars() {
        let len = if start { c.to_uppercase().map(char::len_utf8).sum() } else { c.len_utf8() };
        n += len as u64;
        start = c.is_whitespace();
    }
    n
}

/// base64 with padding: 4 bytes for each 3 or fewer.
fn base64_len(s: &str) -> u64 {
    (s.len() as u64).div_ceil(3) * 4
}

/// A value of a list as `join` takes it: a string, or a scalar as text.
fn piece<'v>(name: &str, v: &'v Value) -> Result<Cow<'v, str>, TemplateError> {
    match v {
        Value::String(s) => Ok(Cow::Borrowed(&s[..])),
        other => string(name, other).map(Cow::Owned),
    }
}

/// How many values a JSON text makes at most: one, and one more for each
/// `,`, `[` and `{` outside its strings (an array's elements are one more
/// than its commas, an object's members too).
fn json_values(s: &str) -> u64 {
    let (mut n, mut in_string, mut escaped) = (1u64, false, false);
    for b in s.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b',' | b'[' | b'{') {
            n += 1;
        }
    }
    n
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

/// consul-template's arithmetic: `{{ 5 | subtract 2 }}` is 3.
fn arith(name: &'static str, op: fn(i64, i64) -> Option<i64>, fop: fn(f64, f64) -> f64) -> gotmpl::ValueFunc {
    Arc::new(move |a: &[Value]| {
        let [b, x] = args::<2>(name, a)?;
        match (number(name, x)?, number(name, b)?) {
            (Num::I(x), Num::I(b)) => {
                op(x, b).map(Value::Int).ok_or_else(|| fail(name, "overflow or division by zero"))
            }
            (x, b) => Ok(Value::Float(fop(x.f(), b.f()))),
        }
    })
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

/// The task's environment: `env`, `mustEnv`, `envOrDefault`.
fn env_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "env",
        Arc::new(move |a: &[Value]| {
            let [n] = args::<1>("env", a)?;
            text(s.env.get(&string("env", n)?).cloned().unwrap_or_default())
        }),
    );
    let s = scope.clone();
    put(
        "mustEnv",
        Arc::new(move |a: &[Value]| {
            let [n] = args::<1>("mustEnv", a)?;
            let n = string("mustEnv", n)?;
            match s.env.get(&n) {
                Some(v) => text(v.clone()),
                None => Err(fail("mustEnv", format!("the task has no environment variable {n:?}"))),
            }
        }),
    );
    let s = scope.clone();
    put(
        "envOrDefault",
        Arc::new(move |a: &[Value]| {
            let [n, d] = args::<2>("envOrDefault", a)?;
            match s.env.get(&string("envOrDefault", n)?) {
                Some(v) if !v.is_empty() => text(v.clone()),
                _ => text(string("envOrDefault", d)?),
            }
        }),
    );
}

/// A file of the task's directory: `file`.
fn file_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "file",
        Arc::new(move |a: &[Value]| {
            let [p] = args::<1>("file", a)?;
            s.read_file(&string("file", p)?).map_err(|e| fail("file", e)).and_then(text)
        }),
    );
}

/// Encodings and hashes: `base64Encode`, `base64URLEncode`, their decodings, `sha256Hex`.
fn encoding_funcs(put: &mut Put<'_>, limit: u64) {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    put("base64Encode", growing("base64Encode", limit, base64_len, |s| STANDARD.encode(s)));
    put("base64URLEncode", growing("base64URLEncode", limit, base64_len, |s| URL_SAFE.encode(s)));
    put(
        "base64Decode",
        unary("base64Decode", |s| {
            let b = STANDARD.decode(s.trim())?;
            String::from_utf8(b).map_err(|_| FuncError::NotUtf8)
        }),
    );
    put(
        "base64URLDecode",
        unary("base64URLDecode", |s| {
            let b = URL_SAFE.decode(s.trim())?;
            String::from_utf8(b).map_err(|_| FuncError::NotUtf8)
        }),
    );
    put("sha256Hex", unary("sha256Hex", |s| Ok(hex(&<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes())))));
}

/// Strings: case, trimming, `split`, `regexMatch`, `indent`.
fn string_funcs(put: &mut Put<'_>, limit: u64) {
    put("toLower", growing("toLower", limit, lower_len, str::to_lowercase));
    put("toUpper", growing("toUpper", limit, upper_len, str::to_uppercase));
    put("toTitle", growing("toTitle", limit, title_len, title));
    put("trimSpace", unary("trimSpace", |s| Ok(s.trim().to_string())));
    put("trimPrefix", binary("trimPrefix", |p, s| Ok(s.strip_prefix(p).unwrap_or(s).into())));
    put("trimSuffix", binary("trimSuffix", |p, s| Ok(s.strip_suffix(p).unwrap_or(s).into())));
    put(
        "split",
        binary("split", |sep, s| {
            if s.is_empty() {
                return Ok(Value::List(Arc::from(Vec::new())));
            }
            // One more piece than separators (an empty one is found at
            // each character boundary).
            let pieces = s.matches(sep).count() as u64 + 1;
            if pieces > MAX_PIECES {
                return Err(FuncError::TooManyPieces { pieces });
            }
            Ok(Value::List(s.split(sep).map(|p| Value::String(p.into())).collect()))
        }),
    );
    put(
        "regexMatch",
        binary("regexMatch", |re, s| {
            let re = regex::Regex::new(re)?;
            Ok(Value::Bool(re.is_match(s)))
        }),
    );
    put(
        "indent",
        Arc::new(move |a: &[Value]| {
            let [n, s] = args::<2>("indent", a)?;
            let Num::I(n @ 0..=1024) = number("indent", n)? else {
                return Err(fail("indent", "wants a number of spaces from 0 to 1024"));
            };
            let n = n as usize;
            let s = string("indent", s)?;
            // The spaces before each line: one more than the newlines.
            let lines = s.matches('\n').count() + 1;
            within("indent", (s.len() as u64).saturating_add((lines as u64).saturating_mul(n as u64)), limit)?;
            let pad = " ".repeat(n);
            let mut out = String::with_capacity(s.len().saturating_add(lines.saturating_mul(n)));
            for (i, line) in s.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&pad);
                out.push_str(line);
            }
            text(out)
        }),
    );
}

/// Replacements, each measured first: `replaceAll`, `regexReplaceAll`.
fn replace_funcs(put: &mut Put<'_>, limit: u64) {
    put(
        "replaceAll",
        Arc::new(move |a: &[Value]| {
            let [from, to, s] = args::<3>("replaceAll", a)?;
            let (from, to, s) = (string("replaceAll", from)?, string("replaceAll", to)?, string("replaceAll", s)?);
            // Each match becomes `to`; an empty `from` matches at each
            // character boundary, one more than the characters.
            let matches = if from.is_empty() { s.chars().count() + 1 } else { s.matches(from.as_str()).count() };
            let matches = matches as u64;
            let kept = (s.len() as u64).saturating_sub(matches.saturating_mul(from.len() as u64));
            within("replaceAll", kept.saturating_add(matches.saturating_mul(to.len() as u64)), limit)?;
            text(s.replace(&from, &to))
        }),
    );
    put(
        "regexReplaceAll",
        Arc::new(move |a: &[Value]| {
            const NAME: &str = "regexReplaceAll";
            let [re, to, s] = args::<3>(NAME, a)?;
            let re = regex::Regex::new(&string(NAME, re)?).map_err(|e| fail(NAME, e))?;
            let (to, s) = (string(NAME, to)?, string(NAME, s)?);
            // Each match becomes `to`, its groups (`$1`, `${name}`) put in:
            // measured a match at a time, each expansion made alone (at
            // most `to` and, for each `$`, the whole match; one that could
            // be over the limit is counted as that).
            let refs = to.matches('$').count() as u64;
            let (mut matched, mut added, mut exact, mut stopped) = (0u64, 0u64, true, false);
            let mut expansion = String::new();
            for caps in re.captures_iter(&s) {
                let whole = caps.get(0).map_or(0, |m| m.as_str().len() as u64);
                matched += whole;
                let bound = (to.len() as u64).saturating_add(refs.saturating_mul(whole));
                let len = if refs == 0 {
                    to.len() as u64
                } else if bound <= limit {
                    expansion.clear();
                    caps.expand(&to, &mut expansion);
                    expansion.len() as u64
                } else {
                    exact = false;
                    bound
                };
                added = added.saturating_add(len);
                if added > limit {
                    stopped = true;
                    break;
                }
            }
            let size = (s.len() as u64).saturating_sub(matched).saturating_add(added);
            if !exact {
                within_estimate(NAME, size, limit)?;
            } else if stopped {
                return Err(over(NAME, limit));
            } else {
                within(NAME, size, limit)?;
            }
            text(re.replace_all(&s, to.as_str()).into_owned())
        }),
    );
}

/// JSON: `parseJSON`, `toJSON`, `toJSONPretty`.
fn json_funcs(put: &mut Put<'_>, limit: u64) {
    put(
        "parseJSON",
        Arc::new(|a: &[Value]| {
            let [s] = args::<1>("parseJSON", a)?;
            let s = string("parseJSON", s)?;
            let values = json_values(&s);
            if values > MAX_PIECES {
                return Err(fail(
                    "parseJSON",
                    format!("the document would make up to {values} values; at most {MAX_PIECES}"),
                ));
            }
            let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| fail("parseJSON", e))?;
            Ok(from_json(v))
        }),
    );
    for (name, pretty) in [("toJSON", false), ("toJSONPretty", true)] {
        put(
            name,
            Arc::new(move |a: &[Value]| {
                let [v] = args::<1>(name, a)?;
                let json = to_json(v);
                // Written nowhere first, to measure it.
                let mut count = Count::new(limit);
                let measured = if pretty {
                    serde_json::to_writer_pretty(&mut count, &json)
                } else {
                    serde_json::to_writer(&mut count, &json)
                };
                if count.n > limit {
                    return Err(over(name, limit));
                }
                measured.map_err(|e| fail(name, e))?;
                let out = if pretty { serde_json::to_string_pretty(&json) } else { serde_json::to_string(&json) };
                text(out.map_err(|e| fail(name, e))?)
            }),
        );
    }
}

/// Lists and maps: `join`, `contains`.
fn list_funcs(put: &mut Put<'_>, limit: u64) {
    put(
        "join",
        Arc::new(move |a: &[Value]| {
            let [sep, list] = args::<2>("join", a)?;
            let sep = string("join", sep)?;
            let Value::List(items) = list else {
                return Err(fail("join", format!("wants a list, got {}", list.type_name())));
            };
            let parts = items.iter().map(|v| piece("join", v)).collect::<Result<Vec<_>, _>>()?;
            let joints = (parts.len() as u64).saturating_sub(1).saturating_mul(sep.len() as u64);
            let size = parts.iter().map(|p| p.len() as u64).sum::<u64>().saturating_add(joints);
            within("join", size, limit)?;
            text(parts.join(sep.as_str()))
        }),
    );
    put(
        "contains",
        Arc::new(|a: &[Value]| {
            let [needle, hay] = args::<2>("contains", a)?;
            Ok(Value::Bool(match hay {
                Value::List(items) => {
                    let needle = needle.to_string();
                    items.iter().any(|v| v.to_string() == needle)
                }
                Value::Map(m) => m.contains_key(string("contains", needle)?.as_str()),
                other => string("contains", other)?.contains(&string("contains", needle)?),
            }))
        }),
    );
}

/// Numbers and booleans: `parseInt`, `parseBool`, and arithmetic.
fn number_funcs(put: &mut Put<'_>) {
    put(
        "parseInt",
        Arc::new(|a: &[Value]| {
            let [s] = args::<1>("parseInt", a)?;
            let s = string("parseInt", s)?;
            s.trim().parse::<i64>().map(Value::Int).map_err(|_| fail("parseInt", format!("{s:?} is not an integer")))
        }),
    );
    put(
        "parseBool",
        Arc::new(|a: &[Value]| {
            let [s] = args::<1>("parseBool", a)?;
            match string("parseBool", s)?.trim() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Value::Bool(true)),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Value::Bool(false)),
                other => Err(fail("parseBool", format!("{other:?} is not a boolean"))),
            }
        }),
    );
    put("add", arith("add", i64::checked_add, |x, b| x + b));
    put("subtract", arith("subtract", i64::checked_sub, |x, b| x - b));
    put("multiply", arith("multiply", i64::checked_mul, |x, b| x * b));
    put("divide", arith("divide", i64::checked_div, |x, b| x / b));
    put("modulo", arith("modulo", i64::checked_rem, |x, b| x % b));
}

/// The render's time: `timestamp`.
fn time_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "timestamp",
        Arc::new(move |a: &[Value]| {
            let layout = match a {
                [] => "2006-01-02T15:04:05Z07:00".to_string(),
                [l] => string("timestamp", l)?,
                _ => return Err(fail("timestamp", "takes at most one argument, a Go time layout or \"unix\"")),
            };
            if layout == "unix" {
                return text(s.now.as_secs().to_string());
            }
            // At most twice the layout (`1` may become `12`): measured once
            // made, as a layout grown by timestamp itself must not double
            // again and again.
            let out = format_time(s.now, &layout);
            within("timestamp", out.len() as u64, s.max_output)?;
            text(out)
        }),
    );
}

/// The host's services: `nomadServices`, `nomadService`.
fn service_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "nomadServices",
        Arc::new(move |a: &[Value]| {
            if !a.is_empty() {
                return Err(fail("nomadServices", "takes no argument in supd (one host, one namespace)"));
            }
            let mut names: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for svc in s.services.iter() {
                let tags = names.entry(svc.name.as_str()).or_default();
                for t in &svc.tags {
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
            }
            Ok(Value::List(
                names
                    .into_iter()
                    .map(|(n, tags)| object([("Name", Value::String(n.into())), ("Tags", strings(&tags))]))
                    .collect(),
            ))
        }),
    );
    let s = scope.clone();
    put(
        "nomadService",
        Arc::new(move |a: &[Value]| {
            let [n] = args::<1>("nomadService", a)
                .map_err(|_| fail("nomadService", "supd takes one argument, the service name"))?;
            let n = string("nomadService", n)?;
            Ok(Value::List(
                s.services
                    .iter()
                    .filter(|svc| svc.name == n)
                    .map(|svc| {
                        object([
                            ("ID", Value::String(svc.id.as_str().into())),
                            ("Name", Value::String(svc.name.as_str().into())),
                            ("Namespace", Value::String("default".into())),
                            ("Datacenter", Value::String(s.datacenter.as_str().into())),
                            ("Address", Value::String(svc.address.as_str().into())),
                            ("Port", Value::Int(i64::from(svc.port))),
                            ("Tags", strings(&svc.tags)),
                            ("JobID", Value::String(svc.job.as_str().into())),
                            ("AllocID", Value::String(svc.alloc_id.as_str().into())),
                        ])
                    })
                    .collect(),
            ))
        }),
    );
}

/// Nomad Variables: `nomadVar`, `nomadVarExists`, `nomadVarList`, `nomadVarListSafe`.
fn variable_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    // Nomad Variables: a task reads its job's, group's and own path.
    const READABLE: &str =
        "a task reads the variables at nomad/jobs/JOB, nomad/jobs/JOB/GROUP and nomad/jobs/JOB/GROUP/TASK";
    let s = scope.clone();
    put(
        "nomadVar",
        Arc::new(move |a: &[Value]| {
            let [p] = args::<1>("nomadVar", a)?;
            let p = string("nomadVar", p)?;
            match s.variables.get(&p) {
                Some(items) => Ok(Value::Map(Arc::new(
                    items.iter().map(|(k, v)| (Arc::from(k.as_str()), Value::String(v.as_str().into()))).collect(),
                ))),
                None => Err(fail(
                    "nomadVar",
                    format!(
                        "no variable at {p:?} that this task may read ({READABLE}; `supctl var put {p} KEY=VALUE` writes one)"
                    ),
                )),
            }
        }),
    );
    let s = scope.clone();
    put(
        "nomadVarExists",
        Arc::new(move |a: &[Value]| {
            let [p] = args::<1>("nomadVarExists", a)?;
            Ok(Value::Bool(s.variables.contains_key(&string("nomadVarExists", p)?)))
        }),
    );
    for name in ["nomadVarList", "nomadVarListSafe"] {
        let s = scope.clone();
        put(
            name,
            Arc::new(move |a: &[Value]| {
                let prefix = match a {
                    [] => String::new(),
                    [p] => string(name, p)?,
                    _ => return Err(fail(name, "takes at most one argument, a path prefix")),
                };
                Ok(Value::List(
                    s.variables
                        .keys()
                        .filter(|p| p.starts_with(&prefix))
                        .map(|p| {
                            object([
                                ("Path", Value::String(p.as_str().into())),
                                ("Namespace", Value::String("default".into())),
                            ])
                        })
                        .collect(),
                ))
            }),
        );
    }
}

/// gotmpl's own functions that can make more than they are given, each
/// replaced by one that measures its result first (a function of the
/// template's map replaces the builtin of its name): `print`, `println`,
/// `printf`, `html`, `js` and `urlquery`. Their names are in
/// `gotemplate::BUILTIN_FUNCS`.
pub fn bounded_builtins(limit: u64) -> FuncMap {
    let mut m: FuncMap = BTreeMap::new();
    for (name, line) in [("print", false), ("println", true)] {
        let f: gotmpl::ValueFunc = Arc::new(move |a: &[Value]| {
            if print_len(a, line, limit) > limit {
                return Err(over(name, limit));
            }
            text(print(a, line))
        });
        m.insert(name.to_string(), f);
    }
    let printf = Builtin::new("printf");
    let f: gotmpl::ValueFunc = Arc::new(move |a: &[Value]| {
        if a.len() > MAX_PRINTF_ARGS + 1 {
            return Err(fail(
                "printf",
                format!("takes at most {MAX_PRINTF_ARGS} values after the format, got {}", a.len() - 1),
            ));
        }
        // Anything else is gotmpl's printf to refuse. An estimate over the
        // limit refuses the call, unless it is small: then the result is
        // made and measured.
        if let [Value::String(format), values @ ..] = a {
            let size = printf_len(format, values, limit).map_err(|e| fail("printf", e))?;
            if size > limit.max(SMALL_ESTIMATE) {
                within_estimate("printf", size, limit)?;
            }
        }
        let out = printf.call(a)?;
        within("printf", out.len() as u64, limit)?;
        text(out)
    });
    m.insert("printf".to_string(), f);
    let escapes: [Escape; 3] = [
        ("html", html_len, gotmpl::html_escape),
        ("js", js_len, gotmpl::js_escape),
        ("urlquery", url_len, gotmpl::url_encode),
    ];
    for (name, size, escape) in escapes {
        let f: gotmpl::ValueFunc = Arc::new(move |a: &[Value]| {
            let [v] = a else {
                return Err(TemplateError::ArgCount { name: name.to_string(), expected: 1, got: a.len() });
            };
            // What gotmpl escapes: the string, `<no value>` for nil, else
            // the value as printed.
            let shown = match v {
                Value::Nil => Cow::Borrowed("<no value>"),
                Value::String(s) => Cow::Borrowed(&s[..]),
                other if shown_len(other, limit) > limit => return Err(over(name, limit)),
                other => Cow::Owned(other.to_string()),
            };
            within(name, size(&shown), limit)?;
            text(escape(&shown))
        });
        m.insert(name.to_string(), f);
    }
    m
}

/// An escaping builtin: its name, the bytes of its result, the function.
type Escape = (&'static str, fn(&str) -> u64, fn(&str) -> String);

/// `print` as gotmpl's (`line`: `println`): each value as `{}` shows it,
/// with a space between two that are not strings (`println`: between any
/// two, and a newline after).
fn print(a: &[Value], line: bool) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && spaced(&a[i - 1], v, line) {
            out.push(' ');
        }
        let _ = write!(out, "{v}");
    }
    if line {
        out.push('\n');
    }
    out
}

fn spaced(before: &Value, after: &Value, line: bool) -> bool {
    line || !(matches!(before, Value::String(_)) || matches!(after, Value::String(_)))
}

/// The bytes of [`print`]'s result, counted up to just past `limit`.
fn print_len(a: &[Value], line: bool, limit: u64) -> u64 {
    let mut n = u64::from(line);
    for (i, v) in a.iter().enumerate() {
        if i > 0 && spaced(&a[i - 1], v, line) {
            n = n.saturating_add(1);
        }
        n = n.saturating_add(shown_len(v, limit));
        if n > limit {
            break;
        }
    }
    n
}

/// The bytes of gotmpl's `html` of `s` (go.rs `html_escape`).
fn html_len(s: &str) -> u64 {
    s.chars()
        .map(|c| match c {
            '\0' => 3,
            '&' | '"' | '\'' => 5,
            '<' | '>' => 4,
            c => c.len_utf8() as u64,
        })
        .sum()
}

/// The bytes of gotmpl's `js` of `s` (go.rs `js_escape`).
fn js_len(s: &str) -> u64 {
    s.chars()
        .map(|c| match c {
            '\\' | '"' | '\'' => 2,
            '<' | '>' | '&' | '=' | '\u{2028}' | '\u{2029}' => 6,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8() as u64,
        })
        .sum()
}

/// The bytes of gotmpl's `urlquery` of `s` (go.rs `url_encode`).
fn url_len(s: &str) -> u64 {
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b' ');
    s.bytes().map(|b| if plain(b) { 1 } else { 3 }).sum()
}

/// A builtin of gotmpl that a function of the template replaces, called
/// as the replacement measured it harmless: through a template of one
/// action that calls it, the arguments its data (`{{printf (index . 0)
/// (index . 1)}}`), parsed once for each number of arguments.
struct Builtin {
    name: &'static str,
    parsed: Mutex<BTreeMap<usize, Arc<gotmpl::Template>>>,
}

impl Builtin {
    fn new(name: &'static str) -> Builtin {
        Builtin { name, parsed: Mutex::new(BTreeMap::new()) }
    }

    fn call(&self, args: &[Value]) -> Result<String, TemplateError> {
        let template = {
            let mut parsed = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
            match parsed.get(&args.len()) {
                Some(t) => t.clone(),
                None => {
                    let mut action = format!("{{{{{}", self.name);
                    for i in 0..args.len() {
                        let _ = write!(action, " (index . {i})");
                    }
                    action.push_str("}}");
                    let t = Arc::new(gotmpl::Template::new(self.name).parse(&action)?);
                    parsed.insert(args.len(), t.clone());
                    t
                }
            }
        };
        let mut out = String::new();
        template.execute_fmt(&mut out, &Value::List(args.into()))?;
        Ok(out)
    }
}

/// gotmpl's bound on a `printf` width or precision (go.rs `PRINTF_MAX_LEN`).
const PRINTF_MAX_LEN: u64 = u16::MAX as u64;

/// A `printf` whose estimate is over the limit but at most this is made,
/// and its result measured: an estimate counts [`VERB_EXTRA`] for each verb.
const SMALL_ESTIMATE: u64 = 1 << 20;

/// What a `printf` verb may add to its value: a float's integer digits
/// (309 at most), signs and prefixes, an exponent, gotmpl's markers
/// (`%!d(string=…)`, `%!(BADWIDTH)`, `%!v(MISSING)`).
const VERB_EXTRA: u64 = 400;

/// Where a `printf` directive takes its value from.
enum Index {
    /// No `[n]`: the next value.
    Absent,
    /// `[n]`, n-1.
    At(usize),
    /// `[n]` out of range: gotmpl writes `%!v(BADINDEX)`.
    Out,
}

/// An estimate from above of the bytes gotmpl's `printf` makes of `format`
/// and `values`, the format read as gotmpl reads it (go.rs `sprintf_into`):
/// its text, and each verb's value as the verb may show it (`%q` 4 bytes a
/// byte at most, `%x` 2), with its precision and [`VERB_EXTRA`], or its
/// width when that is more (gotmpl clamps both at 65535, but `%[1]` reuses
/// a value as often as the format says); then the values no verb took
/// (`%!(EXTRA …)`). Linear in the format; each value is shown once,
/// counted up to just past `limit`. A `[` that is not an index `[n]` is
/// refused: gotmpl reads the rest of the format again at each one.
fn printf_len(format: &str, values: &[Value], limit: u64) -> Result<u64, FuncError> {
    let mut shown: Vec<Option<u64>> = vec![None; values.len()];
    let mut shown_at = |i: usize| *shown[i].get_or_insert_with(|| shown_len(&values[i], limit));
    let mut chars = format.chars().peekable();
    let (mut size, mut next, mut reordered) = (0u64, 0usize, false);
    while let Some(c) = chars.next() {
        if c != '%' {
            size = size.saturating_add(c.len_utf8() as u64);
            continue;
        }
        while chars.next_if(|c| matches!(c, '-' | '+' | ' ' | '#' | '0')).is_some() {}
        let indexed = match printf_index(&mut chars, values.len())? {
            Index::Absent => false,
            Index::At(i) => {
                (next, reordered) = (i, true);
                true
            }
            Index::Out => {
                (size, reordered) = (size.saturating_add(VERB_EXTRA), true);
                continue;
            }
        };
        // A width or precision `*` takes a value when there is one.
        let mut width = 0;
        if chars.next_if_eq(&'*').is_some() {
            width = PRINTF_MAX_LEN;
            next = (next + 1).min(values.len());
        } else if let Some(w) = digits(&mut chars) {
            width = w.min(PRINTF_MAX_LEN);
        }
        let mut precision = 0;
        if chars.next_if_eq(&'.').is_some() {
            if chars.next_if_eq(&'*').is_some() {
                precision = PRINTF_MAX_LEN;
                next = (next + 1).min(values.len());
            } else {
                precision = digits(&mut chars).unwrap_or(0).min(PRINTF_MAX_LEN);
            }
        }
        if !indexed {
            match printf_index(&mut chars, values.len())? {
                Index::Absent => {}
                Index::At(i) => (next, reordered) = (i, true),
                Index::Out => {
                    (size, reordered) = (size.saturating_add(VERB_EXTRA), true);
                    continue;
                }
            }
        }
        let Some(verb) = chars.next() else {
            size = size.saturating_add(1);
            break;
        };
        if verb == '%' {
            size = size.saturating_add(1);
            continue;
        }
        if next >= values.len() {
            size = size.saturating_add(VERB_EXTRA);
            continue;
        }
        let factor = match verb {
            'q' => 4,
            'x' | 'X' => 2,
            _ => 1,
        };
        let content = shown_at(next).saturating_mul(factor).saturating_add(precision).saturating_add(VERB_EXTRA);
        next += 1;
        size = size.saturating_add(content.max(width));
    }
    if !reordered {
        for i in next..values.len() {
            size = size.saturating_add(shown_at(i)).saturating_add(VERB_EXTRA);
        }
    }
    Ok(size)
}

/// An index `[n]` where the format has one (go.rs `try_parse_index`).
fn printf_index(chars: &mut Peekable<Chars<'_>>, values: usize) -> Result<Index, FuncError> {
    if chars.peek() != Some(&'[') {
        return Ok(Index::Absent);
    }
    let mut probe = chars.clone();
    probe.next();
    if let Some(n) = digits(&mut probe)
        && probe.next_if_eq(&']').is_some()
    {
        *chars = probe;
        if (1..=values as u64).contains(&n) {
            return Ok(Index::At(n as usize - 1));
        }
        skip_to_verb(chars);
        return Ok(Index::Out);
    }
    Err(FuncError::PrintfIndex)
}

/// Past the verb of a directive whose index gotmpl refused (go.rs
/// `skip_to_verb`).
fn skip_to_verb(chars: &mut Peekable<Chars<'_>>) {
    let mut in_brackets = false;
    for c in chars.by_ref() {
        if in_brackets {
            in_brackets = c != ']';
            continue;
        }
        match c {
            '-' | '+' | ' ' | '#' | '.' | '*' | '0'..='9' => {}
            '[' => in_brackets = true,
            _ => return,
        }
    }
}

/// A run of digits as gotmpl reads a width, a precision or an index
/// (saturating); `None` without one.
fn digits(chars: &mut Peekable<Chars<'_>>) -> Option<u64> {
    let mut n = None;
    while let Some(d) = chars.next_if(char::is_ascii_digit) {
        n = Some(n.unwrap_or(0u64).saturating_mul(10).saturating_add(u64::from(d.to_digit(10).unwrap_or(0))));
    }
    n
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Map(Arc::new(fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()))
}

fn strings(items: &[String]) -> Value {
    Value::List(items.iter().map(|t| Value::String(t.as_str().into())).collect())
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase())
        } else {
            out.push(c)
        }
        start = c.is_whitespace();
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n.as_u64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Uint),
        },
        serde_json::Value::String(s) => Value::String(s.into()),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(Arc::new(o.into_iter().map(|(k, v)| (k.into(), from_json(v))).collect()))
        }
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => s.as_ref().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect::<serde_json::Map<_, _>>().into(),
        Value::Function(_) => serde_json::Value::Null,
    }
}

/// Formats a time since the Unix epoch (UTC) by a Go layout: the reference
/// time `Mon Jan 2 15:04:05 MST 2006` written as the output should look.
pub fn format_time(since_epoch: std::time::Duration, layout: &str) -> String {
    use crate::timefmt::MONTHS;
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    let secs = since_epoch.as_secs() as i64;
    let nanos = since_epoch.subsec_nanos();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (hour, min, sec) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (year, month, day) = crate::timefmt::civil(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let h12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let tokens: [(&str, String); 30] = [
        ("January", month_name.to_string()),
        ("Jan", month_name[..3].to_string()),
        ("Monday", weekday.to_string()),
        ("Mon", weekday[..3].to_string()),
        ("MST", "UTC".into()),
        ("2006", format!("{year:04}")),
        ("Z07:00", "Z".into()),
        ("Z0700", "Z".into()),
        ("-07:00", "+00:00".into()),
        ("-0700", "+0000".into()),
        ("-07", "+00".into()),
        (".000000000", format!(".{nanos:09}")),
        (".000000", format!(".{:06}", nanos / 1000)),
        (".000", format!(".{:03}", nanos / 1_000_000)),
        ("15", format!("{hour:02}")),
        ("06", format!("{:02}", year % 100)),
        ("01", format!("{month:02}")),
        ("02", format!("{day:02}")),
        ("_2", format!("{day:>2}")),
        ("03", format!("{h12:02}")),
        ("04", format!("{min:02}")),
        ("05", format!("{sec:02}")),
        ("PM", if hour < 12 { "AM" } else { "PM" }.into()),
        ("pm", if hour < 12 { "am" } else { "pm" }.into()),
        ("1", month.to_string()),
        ("2", day.to_string()),
        ("3", h12.to_string()),
        ("4", min.to_string()),
        ("5", sec.to_string()),
        ("", String::new()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in tokens.iter().filter(|(t, _)| !t.is_empty()) {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests;
