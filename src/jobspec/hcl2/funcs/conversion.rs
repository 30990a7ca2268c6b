//! Conversions: `tostring`, `tonumber`, `tobool`, and `convert` to a type
//! constraint written as a string (`"list(string)"`).

use super::error::{FuncError, Limit};
use super::{R, finite, n, num, s};
use hcl::Value;

pub fn tostring(a: Vec<Value>) -> R {
    Ok(Value::String(s(&a[0])?))
}
pub fn tonumber(a: Vec<Value>) -> R {
    Ok(num(n(&a[0])?))
}
pub fn tobool(a: Vec<Value>) -> R {
    match &a[0] {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(x) if x == "true" || x == "false" => Ok(Value::Bool(x == "true")),
        other => Err(FuncError::Invalid(format!("cannot make a bool of {}", super::super::render(other)))),
    }
}
/// A type constraint, as `variable` blocks and `convert` write them.
enum Ty {
    Any,
    Str,
    Num,
    Bool,
    List(Box<Ty>),
    Set(Box<Ty>),
    Map(Box<Ty>),
    Tuple(Vec<Ty>),
    Object(Vec<(String, Ty)>),
}
impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::Any => "any".into(),
            Ty::Str => "string".into(),
            Ty::Num => "number".into(),
            Ty::Bool => "bool".into(),
            Ty::List(t) => format!("list({})", t.name()),
            Ty::Set(t) => format!("set({})", t.name()),
            Ty::Map(t) => format!("map({})", t.name()),
            Ty::Tuple(ts) => format!("tuple([{}])", ts.iter().map(Ty::name).collect::<Vec<_>>().join(", ")),
            Ty::Object(fs) => format!(
                "object({{{}}})",
                fs.iter().map(|(k, t)| format!("{k} = {}", t.name())).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}
/// Reads a type constraint from text (`"list(string)"`).
struct TyParser<'a> {
    s: &'a str,
    i: usize,
}
impl<'a> TyParser<'a> {
    fn ws(&mut self) {
        while self.s[self.i..].starts_with([' ', '\t', '\n', '\r']) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn word(&mut self) -> &'a str {
        self.ws();
        let s: &'a str = self.s;
        let rest = &s[self.i..];
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(rest.len());
        self.i += len;
        &rest[..len]
    }
    fn ty(&mut self, depth: usize) -> Result<Ty, FuncError> {
        let bad = |m: &str| FuncError::Invalid(m.to_string());
        if depth > 32 {
            return Err(Limit::TypeDepth.into());
        }
        let w = self.word();
        Ok(match w {
            "any" => Ty::Any,
            "string" => Ty::Str,
            "number" => Ty::Num,
            "bool" => Ty::Bool,
            "list" | "set" | "map" => {
                if !self.eat('(') {
                    return Err(bad(&format!("{w} needs the type of its elements: {w}(TYPE)")));
                }
                let inner = Box::new(self.ty(depth + 1)?);
                if !self.eat(')') {
                    return Err(bad(&format!("a ')' is missing after {w}(…")));
                }
                match w {
                    "list" => Ty::List(inner),
                    "set" => Ty::Set(inner),
                    _ => Ty::Map(inner),
                }
            }
            "tuple" => {
                if !(self.eat('(') && self.eat('[')) {
                    return Err(bad("tuple needs a list of types: tuple([TYPE, …])"));
                }
                let mut ts = Vec::new();
                if !self.eat(']') {
                    loop {
                        ts.push(self.ty(depth + 1)?);
                        if self.eat(']') {
                            break;
                        }
                        if !self.eat(',') {
                            return Err(bad("a ',' or ']' is missing in tuple([…])"));
                        }
                        if self.eat(']') {
                            break;
                        }
                    }
                }
                if !self.eat(')') {
                    return Err(bad("a ')' is missing after tuple([…]"));
                }
                Ty::Tuple(ts)
            }
            "object" => {
                if !(self.eat('(') && self.eat('{')) {
                    return Err(bad("object needs the types of its attributes: object({NAME = TYPE, …})"));
                }
                let mut fields = Vec::new();
                while !self.eat('}') {
                    let name = self.word().to_string();
                    if name.is_empty() || !(self.eat('=') || self.eat(':')) {
                        return Err(bad("object({…}) needs NAME = TYPE for each attribute"));
                    }
                    fields.push((name, self.ty(depth + 1)?));
                    self.eat(',');
                }
                if !self.eat(')') {
                    return Err(bad("a ')' is missing after object({…}"));
                }
                Ty::Object(fields)
            }
            "" => return Err(bad("a type is missing")),
            other => {
                return Err(bad(&format!(
                    "unknown type {other:?} — use string, number, bool, any, list(T), set(T), map(T), tuple([…]) or object({{…}})"
                )));
            }
        })
    }
}
/// `v` as type `ty`, by the conversions HCL makes itself (a number to a
/// string, "true" to a bool, a list to a set, …). Null stays null.
fn conv(v: &Value, ty: &Ty) -> R {
    Ok(match (ty, v) {
        (_, Value::Null) | (Ty::Any, _) => v.clone(),
        (Ty::Str, Value::String(_) | Value::Number(_) | Value::Bool(_)) => Value::String(s(v)?),
        (Ty::Num, Value::Number(_)) => v.clone(),
        (Ty::Num, Value::String(x)) => match x.parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => {
                finite(x.parse::<f64>().map_err(|_| FuncError::Invalid(format!("cannot convert {x:?} to a number")))?)?
            }
        },
        (Ty::Bool, Value::Bool(_)) => v.clone(),
        (Ty::Bool, Value::String(x)) if x == "true" || x == "false" => Value::Bool(x == "true"),
        (Ty::List(t), Value::Array(xs)) => Value::Array(xs.iter().map(|x| conv(x, t)).collect::<Result<Vec<_>, _>>()?),
        (Ty::Set(t), Value::Array(xs)) => {
            let mut out: Vec<Value> = Vec::new();
            for x in xs {
                let x = conv(x, t)?;
                if !out.contains(&x) {
                    out.push(x);
                }
            }
            Value::Array(out)
        }
        (Ty::Map(t), Value::Object(o)) => Value::Object(
            o.iter()
                .map(|(k, x)| conv(x, t).map(|x| (k.clone(), x)))
                .collect::<Result<hcl::Map<String, Value>, FuncError>>()?,
        ),
        (Ty::Tuple(ts), Value::Array(xs)) if ts.len() == xs.len() => {
            Value::Array(xs.iter().zip(ts).map(|(x, t)| conv(x, t)).collect::<Result<Vec<_>, _>>()?)
        }
        (Ty::Object(fields), Value::Object(o)) => {
            let mut out = hcl::Map::new();
            for (k, t) in fields {
                let x = o.get(k).ok_or_else(|| {
                    FuncError::Invalid(format!("the map has no attribute {k:?}, which {} needs", ty.name()))
                })?;
                out.insert(k.clone(), conv(x, t)?);
            }
            Value::Object(out)
        }
        (ty, v) => {
            return Err(FuncError::Invalid(format!("cannot convert {} to {}", super::super::render(v), ty.name())));
        }
    })
}
/// `convert(value, "TYPE")`: the type as text, since a bare type
/// expression (`convert(x, list(string))`) is no value here.
pub fn convert(a: Vec<Value>) -> R {
    let Value::String(t) = &a[1] else {
        return Err(FuncError::Invalid("write the type as a string, e.g. convert(x, \"list(string)\")".into()));
    };
    let mut p = TyParser { s: t.as_str(), i: 0 };
    let ty = p.ty(0)?;
    p.ws();
    if p.i != t.len() {
        return Err(FuncError::Invalid(format!("{t:?} is not a type: unexpected {:?}", &t[p.i..])));
    }
    conv(&a[0], &ty)
}
