//! Values as text: as HCL expression text ([`render`]), as an
//! interpolation puts them in a string ([`as_text`]), and their kind's name.

use super::error::TextError;
use super::runtime::ESCAPE;
use hcl::Value;

/// A string written as an HCL quoted string; `${` stays, so that a value
/// holding a runtime reference is interpolated when the task starts.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    push_escaped(&mut out, s);
    out.push('"');
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ESCAPE => out.push_str("$$"),
            c => out.push(c),
        }
    }
}

/// A value as HCL expression text.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Array(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!(
                "{{ {} }}",
                o.iter().map(|(k, v)| format!("{} = {}", quoted(k), render(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// A value as the text an interpolation puts in a string.
pub(super) fn as_text(v: &Value) -> Result<String, TextError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(TextError::Null),
        Value::Array(_) | Value::Object(_) => Err(TextError::Collection { kind: kind(v) }),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}
