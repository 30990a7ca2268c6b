//! JSON, lists and numbers: `parseJSON`, `toJSON`, `toJSONPretty`, `join`,
//! `contains`, `parseInt`, `parseBool` and the arithmetic; values to and from JSON.

use super::{Count, MAX_PIECES, Num, Put, args, fail, number, over, string, text, within};
use gotmpl::{TemplateError, Value};
use std::borrow::Cow;
use std::sync::Arc;

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

/// JSON: `parseJSON`, `toJSON`, `toJSONPretty`.
pub(super) fn json_funcs(put: &mut Put<'_>, limit: u64) {
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
pub(super) fn list_funcs(put: &mut Put<'_>, limit: u64) {
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
pub(super) fn number_funcs(put: &mut Put<'_>) {
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

pub(super) fn from_json(v: serde_json::Value) -> Value {
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

pub(super) fn to_json(v: &Value) -> serde_json::Value {
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
