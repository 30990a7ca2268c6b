//! The consul-template functions supd renders: those that need nothing but
//! this host (jobspec::gotemplate::HOST_FUNCS names them). Arguments come in
//! consul-template's order, the piped value last: `{{ "a,b" | split "," }}`.

use super::render::Scope;
use gotmpl::{FuncMap, TemplateError, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

type R = gotmpl::Result<Value>;

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
fn unary(name: &'static str, f: fn(&str) -> Result<String, String>) -> gotmpl::ValueFunc {
    Arc::new(move |a: &[Value]| {
        let [s] = args::<1>(name, a)?;
        text(f(&string(name, s)?).map_err(|e| fail(name, e))?)
    })
}

/// A function of two strings, the piped one last.
fn binary(name: &'static str, f: fn(&str, &str) -> Result<Value, String>) -> gotmpl::ValueFunc {
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

/// Every function of HOST_FUNCS, bound to one render's scope.
pub fn host_funcs(scope: &Arc<Scope>) -> FuncMap {
    let mut m: FuncMap = BTreeMap::new();
    let mut put = |name: &str, f: gotmpl::ValueFunc| {
        m.insert(name.to_string(), f);
    };
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
    let s = scope.clone();
    put(
        "file",
        Arc::new(move |a: &[Value]| {
            let [p] = args::<1>("file", a)?;
            s.read_file(&string("file", p)?).map_err(|e| fail("file", e)).and_then(text)
        }),
    );
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    put("base64Encode", unary("base64Encode", |s| Ok(STANDARD.encode(s))));
    put("base64URLEncode", unary("base64URLEncode", |s| Ok(URL_SAFE.encode(s))));
    put(
        "base64Decode",
        unary("base64Decode", |s| {
            let b = STANDARD.decode(s.trim()).map_err(|e| e.to_string())?;
            String::from_utf8(b).map_err(|_| "the decoded bytes are not UTF-8 text".to_string())
        }),
    );
    put(
        "base64URLDecode",
        unary("base64URLDecode", |s| {
            let b = URL_SAFE.decode(s.trim()).map_err(|e| e.to_string())?;
            String::from_utf8(b).map_err(|_| "the decoded bytes are not UTF-8 text".to_string())
        }),
    );
    put("toLower", unary("toLower", |s| Ok(s.to_lowercase())));
    put("toUpper", unary("toUpper", |s| Ok(s.to_uppercase())));
    put("toTitle", unary("toTitle", |s| Ok(title(s))));
    put("trimSpace", unary("trimSpace", |s| Ok(s.trim().to_string())));
    put("sha256Hex", unary("sha256Hex", |s| Ok(hex(&<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes())))));
    put("trimPrefix", binary("trimPrefix", |p, s| Ok(s.strip_prefix(p).unwrap_or(s).into())));
    put("trimSuffix", binary("trimSuffix", |p, s| Ok(s.strip_suffix(p).unwrap_or(s).into())));
    put(
        "split",
        binary("split", |sep, s| {
            if s.is_empty() {
                return Ok(Value::List(Arc::from(Vec::new())));
            }
            Ok(Value::List(s.split(sep).map(|p| Value::String(p.into())).collect()))
        }),
    );
    put(
        "regexMatch",
        binary("regexMatch", |re, s| {
            let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(s)))
        }),
    );
    put(
        "parseJSON",
        Arc::new(|a: &[Value]| {
            let [s] = args::<1>("parseJSON", a)?;
            let v: serde_json::Value =
                serde_json::from_str(&string("parseJSON", s)?).map_err(|e| fail("parseJSON", e))?;
            Ok(from_json(v))
        }),
    );
    put(
        "toJSON",
        Arc::new(|a: &[Value]| {
            let [v] = args::<1>("toJSON", a)?;
            text(serde_json::to_string(&to_json(v)).map_err(|e| fail("toJSON", e))?)
        }),
    );
    put(
        "toJSONPretty",
        Arc::new(|a: &[Value]| {
            let [v] = args::<1>("toJSONPretty", a)?;
            text(serde_json::to_string_pretty(&to_json(v)).map_err(|e| fail("toJSONPretty", e))?)
        }),
    );
    put(
        "join",
        Arc::new(|a: &[Value]| {
            let [sep, list] = args::<2>("join", a)?;
            let sep = string("join", sep)?;
            let Value::List(items) = list else {
                return Err(fail("join", format!("wants a list, got {}", list.type_name())));
            };
            let parts: Result<Vec<String>, _> = items.iter().map(|v| string("join", v)).collect();
            text(parts?.join(&sep))
        }),
    );
    put(
        "replaceAll",
        Arc::new(|a: &[Value]| {
            let [from, to, s] = args::<3>("replaceAll", a)?;
            text(string("replaceAll", s)?.replace(&string("replaceAll", from)?, &string("replaceAll", to)?))
        }),
    );
    put(
        "regexReplaceAll",
        Arc::new(|a: &[Value]| {
            let [re, to, s] = args::<3>("regexReplaceAll", a)?;
            let re = regex::Regex::new(&string("regexReplaceAll", re)?).map_err(|e| fail("regexReplaceAll", e))?;
            text(re.replace_all(&string("regexReplaceAll", s)?, string("regexReplaceAll", to)?.as_str()).into_owned())
        }),
    );
    put(
        "contains",
        Arc::new(|a: &[Value]| {
            let [needle, hay] = args::<2>("contains", a)?;
            Ok(Value::Bool(match hay {
                Value::List(items) => items.iter().any(|v| v.to_string() == needle.to_string()),
                Value::Map(m) => m.contains_key(string("contains", needle)?.as_str()),
                other => string("contains", other)?.contains(&string("contains", needle)?),
            }))
        }),
    );
    put(
        "indent",
        Arc::new(|a: &[Value]| {
            let [n, s] = args::<2>("indent", a)?;
            let Num::I(n @ 0..=1024) = number("indent", n)? else {
                return Err(fail("indent", "wants a number of spaces from 0 to 1024"));
            };
            let pad = " ".repeat(n as usize);
            let s = string("indent", s)?;
            text(s.split('\n').map(|l| format!("{pad}{l}")).collect::<Vec<_>>().join("\n"))
        }),
    );
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
            text(format_time(s.now, &layout))
        }),
    );
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
    m
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
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_time_layouts() {
        // 2024-02-29T13:05:09.123456789Z, a Thursday.
        let t = Duration::new(1_709_211_909, 123_456_789);
        assert_eq!(format_time(t, "2006-01-02T15:04:05Z07:00"), "2024-02-29T13:05:09Z");
        assert_eq!(format_time(t, "Mon Jan _2 3:04PM MST 2006"), "Thu Feb 29 1:05PM UTC 2024");
        assert_eq!(format_time(t, "Monday, January 2 06 .000"), "Thursday, February 29 24 .123");
        assert_eq!(format_time(Duration::ZERO, "2006-01-02 15:04:05 -0700"), "1970-01-01 00:00:00 +0000");
        assert_eq!(format_time(Duration::from_secs(951_782_400), "2006-01-02"), "2000-02-29");
    }

    #[test]
    fn json_round_trip() {
        let v = from_json(serde_json::json!({"b": [1, 2.5, "x", null, true], "a": {"n": 18446744073709551615u64}}));
        assert_eq!(
            serde_json::to_string(&to_json(&v)).unwrap(),
            r#"{"a":{"n":18446744073709551615},"b":[1,2.5,"x",null,true]}"#
        );
    }

    #[test]
    fn titles() {
        assert_eq!(title("hello big  world"), "Hello Big  World");
    }
}
