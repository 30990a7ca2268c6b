//! gotmpl's own functions that can make more than they are given (`print`,
//! `println`, `printf`, `html`, `js`, `urlquery`), replaced by measured ones.

use super::printf::{SMALL_ESTIMATE, printf_len};
use super::{fail, over, shown_len, text, within, within_estimate};
use gotmpl::{FuncMap, TemplateError, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

/// The most values `printf` takes after its format (gotmpl's own `printf`
/// is called through a template with a term for each, see [`Builtin`]).
const MAX_PRINTF_ARGS: usize = 256;

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
