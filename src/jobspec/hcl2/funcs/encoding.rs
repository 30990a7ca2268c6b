//! Encodings: JSON, base64, URL query escaping, CSV, and YAML (decoded with
//! what its aliases repeat counted).

use super::error::{FuncError, Limit};
use super::{R, bounded, s, text_bounded};
use hcl::Value;

pub fn jsonencode(a: Vec<Value>) -> R {
    Ok(Value::String(serde_json::to_string(&a[0])?))
}
pub fn jsondecode(a: Vec<Value>) -> R {
    serde_json::from_str::<Value>(&s(&a[0])?).map_err(|e| FuncError::Invalid(format!("not JSON: {e}")))
}
pub fn base64encode(a: Vec<Value>) -> R {
    use base64::Engine;
    let x = s(&a[0])?;
    text_bounded((x.len() / 3 + 1).saturating_mul(4))?;
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(x.as_bytes())))
}
pub fn base64decode(a: Vec<Value>) -> R {
    use base64::Engine;
    let x = s(&a[0])?;
    // Go's decoder skips line breaks.
    let x: String = x.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(x.as_bytes())
        .map_err(|e| FuncError::Invalid(format!("failed to decode base64 data: {e}")))?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        FuncError::Invalid("the decoded data is not UTF-8 text (filebase64() and base64decode() are for text)".into())
    })
}
/// As Go's url.QueryEscape: letters, digits and `-_.~` kept, a space
/// as `+`, every other byte as `%XX`.
pub fn urlencode(a: Vec<Value>) -> R {
    let x = s(&a[0])?;
    text_bounded(x.len().saturating_mul(3))?;
    let mut out = String::with_capacity(x.len());
    for b in x.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(Value::String(out))
}
/// CSV text whose first line names the columns: a list of maps, one a
/// row, every value a string.
pub fn csvdecode(a: Vec<Value>) -> R {
    let text = s(&a[0])?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        None => return Err(FuncError::Invalid("missing header line".into())),
        Some(r) => r?.iter().map(str::to_string).collect(),
    };
    let mut seen = std::collections::HashSet::new();
    for h in &header {
        if !seen.insert(h.as_str()) {
            return Err(FuncError::Invalid(format!("duplicate column name {h:?}")));
        }
    }
    let mut out = Vec::new();
    let mut values = 0u64;
    for r in records {
        let r = r?;
        if r.len() != header.len() {
            return Err(FuncError::Invalid(format!(
                "a row has {} fields where the header has {}",
                r.len(),
                header.len()
            )));
        }
        values = values.saturating_add(header.len() as u64 + 1);
        if values > super::super::limits::MAX_VALUES {
            return Err(Limit::Rows.into());
        }
        out.push(Value::Object(header.iter().cloned().zip(r.iter().map(|v| Value::String(v.to_string()))).collect()));
        bounded(out.len())?;
    }
    Ok(Value::Array(out))
}
/// YAML (block style, strings quoted only where YAML needs it: the
/// same data as Nomad's, not always the same text).
pub fn yamlencode(a: Vec<Value>) -> R {
    Ok(Value::String(serde_norway::to_string(&a[0])?))
}
pub fn yamldecode(a: Vec<Value>) -> R {
    let text = s(&a[0])?;
    let made = std::cell::Cell::new((0u64, 0u64));
    serde::de::DeserializeSeed::deserialize(Counted(&made), serde_norway::Deserializer::from_str(&text))
        .map_err(|e| FuncError::Invalid(format!("not YAML: {e}")))
}
/// Builds a decoded YAML value while counting what it makes (values,
/// string bytes): an alias repeats what its anchor names, so a short
/// text may stand for a huge value, and serde_norway bounds how often
/// aliases repeat, not how much.
#[derive(Clone, Copy)]
struct Counted<'c>(&'c std::cell::Cell<(u64, u64)>);
impl Counted<'_> {
    fn take<E: serde::de::Error>(self, bytes: usize) -> Result<(), E> {
        use super::super::limits::{MAX_BYTES, MAX_VALUES};
        let (values, text) = self.0.get();
        let (values, text) = (values + 1, text.saturating_add(bytes as u64));
        if values > MAX_VALUES || text > MAX_BYTES {
            return Err(E::custom(format!(
                "the value would be larger than {MAX_VALUES} values or {} MiB of text (aliases repeat what they name)",
                MAX_BYTES >> 20
            )));
        }
        self.0.set((values, text));
        Ok(())
    }
}
impl<'de> serde::de::DeserializeSeed<'de> for Counted<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}
impl<'de> serde::de::Visitor<'de> for Counted<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        self.take::<E>(0)?;
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<Value, E> {
        self.take::<E>(0)?;
        Ok(Value::from(i))
    }
    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
        self.take::<E>(0)?;
        Ok(Value::from(u))
    }
    fn visit_i128<E: serde::de::Error>(self, i: i128) -> Result<Value, E> {
        serde::de::Visitor::visit_f64(self, i as f64)
    }
    fn visit_u128<E: serde::de::Error>(self, u: u128) -> Result<Value, E> {
        serde::de::Visitor::visit_f64(self, u as f64)
    }
    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Value, E> {
        self.take::<E>(0)?;
        hcl::Number::from_f64(f).map(Value::Number).ok_or_else(|| E::custom("infinity and NaN are not numbers here"))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.take::<E>(v.len())?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.take::<E>(v.len())?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.take::<E>(0)?;
        Ok(Value::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        serde::de::Visitor::visit_unit(self)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.take::<A::Error>(0)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.take::<A::Error>(0)?;
        let mut out = hcl::Map::new();
        while let Some(k) = map.next_key_seed(YamlKey(self))? {
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}
/// A YAML map's key: text, or a number or bool written as text.
struct YamlKey<'c>(Counted<'c>);
impl<'de> serde::de::DeserializeSeed<'de> for YamlKey<'_> {
    type Value = String;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}
impl<'de> serde::de::Visitor<'de> for YamlKey<'_> {
    type Value = String;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map key that is a string, a number or a bool")
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<String, E> {
        Ok(b.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<String, E> {
        Ok(i.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<String, E> {
        Ok(u.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<String, E> {
        Ok(f.to_string())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        self.0.take::<E>(v.len())?;
        Ok(v.to_string())
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        self.0.take::<E>(v.len())?;
        Ok(v)
    }
}
