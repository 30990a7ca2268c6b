//! The functions of lists and maps: lookups, merges, slices and chunks,
//! `range`, and sets (lists here: distinct, in order of first appearance).

use super::super::{MAX_ELEMENTS, kind};
use super::error::{FuncError, Limit};
use super::strings::{graphemes, reversed};
use super::{R, bounded, list, map, n, num, s, whole};
use hcl::Value;

pub fn length(a: Vec<Value>) -> R {
    Ok(Value::from(match &a[0] {
        Value::Array(x) => x.len(),
        Value::Object(o) => o.len(),
        Value::String(x) => graphemes(x),
        other => return Err(FuncError::Type { needs: "a list, map or string", found: kind(other) }),
    } as u64))
}
pub fn lookup(a: Vec<Value>) -> R {
    let m = map(&a[0])?;
    let k = s(&a[1])?;
    match m.get(&k) {
        Some(v) => Ok(v.clone()),
        None => a.get(2).cloned().ok_or_else(|| {
            FuncError::Invalid(format!("the map has no key {k:?} — give a default as the third argument"))
        }),
    }
}
pub fn merge(a: Vec<Value>) -> R {
    let mut out = hcl::Map::new();
    for x in &a {
        if !matches!(x, Value::Null) {
            out.extend(map(x)?)
        }
    }
    Ok(Value::Object(out))
}
pub fn concat(a: Vec<Value>) -> R {
    let mut out = Vec::new();
    for x in &a {
        out.extend(list(x)?)
    }
    bounded(out.len())?;
    Ok(Value::Array(out))
}
pub fn range(a: Vec<Value>) -> R {
    let (start, end, step) = match a.len() {
        1 => (0.0, n(&a[0])?, 1.0),
        2 => (n(&a[0])?, n(&a[1])?, 1.0),
        _ => (n(&a[0])?, n(&a[1])?, n(&a[2])?),
    };
    if step == 0.0 || (end - start) / step < 0.0 && end != start {
        return Err(FuncError::Invalid("the step goes away from the end".into()));
    }
    let len = ((end - start) / step).ceil().max(0.0);
    if len > MAX_ELEMENTS as f64 {
        return Err(Limit::Range(len).into());
    }
    Ok(Value::Array((0..len as usize).map(|i| num(start + step * i as f64)).collect()))
}
pub fn coalesce(a: Vec<Value>) -> R {
    a.into_iter()
        .find(|v| !matches!(v, Value::Null) && *v != Value::String(String::new()))
        .ok_or_else(|| FuncError::Invalid("all arguments are null or empty".into()))
}
pub fn keys(a: Vec<Value>) -> R {
    Ok(Value::Array(map(&a[0])?.keys().map(|k| Value::String(k.clone())).collect()))
}
pub fn values(a: Vec<Value>) -> R {
    Ok(Value::Array(map(&a[0])?.values().cloned().collect()))
}
pub fn contains(a: Vec<Value>) -> R {
    Ok(Value::Bool(list(&a[0])?.contains(&a[1])))
}
pub fn element(a: Vec<Value>) -> R {
    let l = list(&a[0])?;
    if l.is_empty() {
        return Err(FuncError::Invalid("the list is empty".into()));
    }
    Ok(l[(n(&a[1])? as usize) % l.len()].clone())
}
pub fn index(a: Vec<Value>) -> R {
    list(&a[0])?
        .iter()
        .position(|x| *x == a[1])
        .map(|i| Value::from(i as u64))
        .ok_or_else(|| FuncError::Invalid("the value is not in the list".into()))
}
pub fn distinct(a: Vec<Value>) -> R {
    let mut out: Vec<Value> = Vec::new();
    for x in list(&a[0])? {
        if !out.contains(&x) {
            out.push(x)
        }
    }
    Ok(Value::Array(out))
}
pub fn flatten(a: Vec<Value>) -> R {
    fn go(v: Vec<Value>, out: &mut Vec<Value>) -> Result<(), FuncError> {
        for x in v {
            match x {
                Value::Array(i) => go(i, out)?,
                o => out.push(o),
            }
            bounded(out.len())?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(list(&a[0])?, &mut out)?;
    Ok(Value::Array(out))
}
/// A list backwards; a string as `strrev` (Nomad's `reverse` is cty's
/// string function, Terraform's the list one: both are taken).
pub fn reverse(a: Vec<Value>) -> R {
    if let Value::String(x) = &a[0] {
        return Ok(Value::String(reversed(x)));
    }
    Ok(Value::Array(list(&a[0])?.into_iter().rev().collect()))
}
pub fn compact(a: Vec<Value>) -> R {
    Ok(Value::Array(
        list(&a[0])?.into_iter().filter(|v| !matches!(v, Value::Null) && *v != Value::String(String::new())).collect(),
    ))
}
pub fn sort(a: Vec<Value>) -> R {
    let mut v = list(&a[0])?.iter().map(s).collect::<Result<Vec<_>, _>>()?;
    v.sort();
    Ok(Value::Array(v.into_iter().map(Value::String).collect()))
}
pub fn zipmap(a: Vec<Value>) -> R {
    let (k, v) = (list(&a[0])?, list(&a[1])?);
    if k.len() != v.len() {
        return Err(FuncError::Invalid(format!("{} keys but {} values", k.len(), v.len())));
    }
    let mut out = hcl::Map::new();
    for (k, v) in k.iter().zip(v) {
        out.insert(s(k)?, v);
    }
    Ok(Value::Object(out))
}
/// The list cut into lists of `size` elements (the last may be shorter);
/// size 0 gives the whole list as one.
pub fn chunklist(a: Vec<Value>) -> R {
    let l = list(&a[0])?;
    let size = whole(&a[1])?;
    if size < 0 {
        return Err(FuncError::Invalid("the size must not be negative".into()));
    }
    if l.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    if size == 0 {
        return Ok(Value::Array(vec![Value::Array(l)]));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::Array(l.chunks(size).map(|c| Value::Array(c.to_vec())).collect()))
}
/// The first argument that is a list with something in it.
pub fn coalescelist(a: Vec<Value>) -> R {
    for x in &a {
        match x {
            Value::Null => {}
            Value::Array(l) if l.is_empty() => {}
            Value::Array(_) => return Ok(x.clone()),
            other => return Err(FuncError::Type { needs: "lists", found: kind(other) }),
        }
    }
    Err(FuncError::Invalid("all arguments are null or empty lists".into()))
}
/// The elements from `start` up to (not including) `end`.
pub fn slice(a: Vec<Value>) -> R {
    let l = list(&a[0])?;
    let (start, end) = (whole(&a[1])?, whole(&a[2])?);
    if start < 0 {
        return Err(FuncError::Invalid("the start index must not be less than zero".into()));
    }
    if end > l.len() as i64 {
        return Err(FuncError::Invalid(format!(
            "the end index must not be greater than the length of the list ({})",
            l.len()
        )));
    }
    if start > end {
        return Err(FuncError::Invalid("the start index must not be greater than the end index".into()));
    }
    Ok(Value::Array(l[start as usize..end as usize].to_vec()))
}
/// A value's key for set membership: its JSON text (values are
/// compared by what they hold; linear scans would be quadratic).
fn set_key(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
pub fn setunion(a: Vec<Value>) -> R {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Value> = Vec::new();
    for x in &a {
        let l = list(x)?;
        bounded(l.len())?;
        for v in l {
            if seen.insert(set_key(&v)) {
                out.push(v);
                bounded(out.len())?;
            }
        }
    }
    Ok(Value::Array(out))
}
pub fn setintersection(a: Vec<Value>) -> R {
    let others = a[1..].iter().map(list).collect::<Result<Vec<_>, _>>()?;
    let others: Vec<std::collections::HashSet<String>> =
        others.iter().map(|o| o.iter().map(set_key).collect()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Value> = Vec::new();
    for v in list(&a[0])? {
        let k = set_key(&v);
        if others.iter().all(|o| o.contains(&k)) && seen.insert(k) {
            out.push(v);
        }
    }
    Ok(Value::Array(out))
}
/// Every combination of one element of each list, the first list's
/// element changing slowest.
pub fn setproduct(a: Vec<Value>) -> R {
    let lists = a.iter().map(list).collect::<Result<Vec<_>, _>>()?;
    let total = lists.iter().try_fold(1usize, |acc, l| acc.checked_mul(l.len())).unwrap_or(usize::MAX);
    if total == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    // Measured before it is made; with no list empty, no step makes
    // more than the whole.
    bounded(total)?;
    if total.saturating_mul(lists.len()) as u64 > super::super::limits::MAX_VALUES {
        return Err(Limit::Values(total.saturating_mul(lists.len())).into());
    }
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for l in &lists {
        let mut next = Vec::with_capacity(out.len() * l.len());
        for prefix in &out {
            for v in l {
                let mut p = prefix.clone();
                p.push(v.clone());
                next.push(p);
            }
        }
        out = next;
    }
    Ok(Value::Array(out.into_iter().map(Value::Array).collect()))
}
