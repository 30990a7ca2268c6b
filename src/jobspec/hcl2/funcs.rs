//! The functions a job file may call: Nomad's HCL2 set, as far as it makes
//! sense on one host. Listed in supd-job(5).

use super::{MAX_ELEMENTS, kind};
use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use std::cell::RefCell;
use std::path::PathBuf;

/// `file()` reads at most this many bytes.
pub const MAX_FILE: usize = 1 << 20;

thread_local! {
    /// The job file's directory, against which `file()` resolves paths.
    static BASE: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

pub fn set_base(base: Option<PathBuf>) {
    BASE.with(|b| *b.borrow_mut() = base);
}

type R = Result<Value, String>;

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
                        let want = if $min == max { format!("{}", $min) } else if max == usize::MAX { format!("at least {}", $min) } else { format!("{} to {}", $min, max) };
                        return Err(format!("{}() takes {want} argument{}, got {}", $name, if want == "1" { "" } else { "s" }, a.len()));
                    }
                    imp::$f(a).map_err(|e| format!("{}(): {e}", $name))
                }
                if found.contains(&$name) {
                    ctx.declare_func($name, FuncDef::builder().variadic_param(ParamType::Any).build($f));
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
}

mod imp {
    use super::*;

    fn s(v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(format!("needs a string, found a {}", kind(other))),
        }
    }
    fn n(v: &Value) -> Result<f64, String> {
        match v {
            Value::Number(n) => n.as_f64().ok_or_else(|| "not a number".to_string()),
            Value::String(x) => x.trim().parse().map_err(|_| format!("{x:?} is not a number")),
            other => Err(format!("needs a number, found a {}", kind(other))),
        }
    }
    fn num(f: f64) -> Value {
        if f.fract() == 0.0 && f.abs() < 9e15 {
            Value::from(f as i64)
        } else {
            hcl::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
    }
    fn list(v: &Value) -> Result<Vec<Value>, String> {
        match v {
            Value::Array(a) => Ok(a.clone()),
            other => Err(format!("needs a list, found a {}", kind(other))),
        }
    }
    fn map(v: &Value) -> Result<hcl::Map<String, Value>, String> {
        match v {
            Value::Object(o) => Ok(o.clone()),
            other => Err(format!("needs a map, found a {}", kind(other))),
        }
    }
    fn bounded(len: usize) -> Result<(), String> {
        if len > MAX_ELEMENTS {
            Err(format!("the result would have {len} elements; at most {MAX_ELEMENTS}"))
        } else {
            Ok(())
        }
    }

    pub fn upper(a: Vec<Value>) -> R {
        Ok(Value::String(s(&a[0])?.to_uppercase()))
    }
    pub fn lower(a: Vec<Value>) -> R {
        Ok(Value::String(s(&a[0])?.to_lowercase()))
    }
    pub fn title(a: Vec<Value>) -> R {
        let t = s(&a[0])?;
        let mut out = String::new();
        let mut start = true;
        for c in t.chars() {
            if start {
                out.extend(c.to_uppercase())
            } else {
                out.push(c)
            }
            start = c.is_whitespace();
        }
        Ok(Value::String(out))
    }
    pub fn trimspace(a: Vec<Value>) -> R {
        Ok(Value::String(s(&a[0])?.trim().to_string()))
    }
    pub fn trim(a: Vec<Value>) -> R {
        let cut = s(&a[1])?;
        Ok(Value::String(s(&a[0])?.trim_matches(|c| cut.contains(c)).to_string()))
    }
    pub fn trimprefix(a: Vec<Value>) -> R {
        let (x, p) = (s(&a[0])?, s(&a[1])?);
        Ok(Value::String(x.strip_prefix(p.as_str()).unwrap_or(&x).to_string()))
    }
    pub fn trimsuffix(a: Vec<Value>) -> R {
        let (x, p) = (s(&a[0])?, s(&a[1])?);
        Ok(Value::String(x.strip_suffix(p.as_str()).unwrap_or(&x).to_string()))
    }
    pub fn chomp(a: Vec<Value>) -> R {
        Ok(Value::String(s(&a[0])?.trim_end_matches(['\n', '\r']).to_string()))
    }
    /// A string result may be this long.
    fn text_bounded(len: usize) -> Result<(), String> {
        if len as u64 > super::super::budget::MAX_BYTES {
            Err(format!(
                "the result would be {} MiB of text; at most {} MiB",
                len >> 20,
                super::super::budget::MAX_BYTES >> 20
            ))
        } else {
            Ok(())
        }
    }
    pub fn replace(a: Vec<Value>) -> R {
        let (x, from, to) = (s(&a[0])?, s(&a[1])?, s(&a[2])?);
        // Measured before it is made: each match may grow the text.
        let matches = if from.is_empty() { x.chars().count() + 1 } else { x.matches(from.as_str()).count() };
        text_bounded(x.len().saturating_add(matches.saturating_mul(to.len())))?;
        Ok(Value::String(x.replace(&from, &to)))
    }
    pub fn substr(a: Vec<Value>) -> R {
        let x: Vec<char> = s(&a[0])?.chars().collect();
        let off = n(&a[1])? as i64;
        let len = n(&a[2])? as i64;
        let start = if off < 0 { (x.len() as i64 + off).max(0) } else { off.min(x.len() as i64) } as usize;
        let end = if len < 0 { x.len() } else { (start + len as usize).min(x.len()) };
        Ok(Value::String(x[start..end].iter().collect()))
    }
    pub fn strrev(a: Vec<Value>) -> R {
        Ok(Value::String(s(&a[0])?.chars().rev().collect()))
    }
    pub fn split(a: Vec<Value>) -> R {
        let (sep, x) = (s(&a[0])?, s(&a[1])?);
        if sep.is_empty() {
            return Err("the separator is empty".into());
        }
        Ok(Value::Array(x.split(sep.as_str()).map(|p| Value::String(p.to_string())).collect()))
    }
    pub fn join(a: Vec<Value>) -> R {
        let sep = s(&a[0])?;
        let parts = list(&a[1])?.iter().map(s).collect::<Result<Vec<_>, _>>()?;
        let len = parts.iter().map(String::len).sum::<usize>().saturating_add(sep.len().saturating_mul(parts.len()));
        text_bounded(len)?;
        Ok(Value::String(parts.join(&sep)))
    }
    pub fn format(a: Vec<Value>) -> R {
        let f = s(&a[0])?;
        let mut out = String::new();
        let mut args = a[1..].iter();
        let mut chars = f.chars().peekable();
        while let Some(c) = chars.next() {
            text_bounded(out.len())?;
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some(v @ ('s' | 'd' | 'v' | 'q' | 'f')) => {
                    let x = args.next().ok_or("more verbs than values")?;
                    match v {
                        'd' => out.push_str(&(n(x)? as i64).to_string()),
                        'f' => out.push_str(&format!("{:.6}", n(x)?)),
                        'q' => out.push_str(&format!("{:?}", s(x)?)),
                        'v' if !matches!(x, Value::String(_)) => {
                            out.push_str(&serde_json::to_string(x).map_err(|e| e.to_string())?)
                        }
                        _ => out.push_str(&s(x)?),
                    }
                }
                other => {
                    return Err(format!(
                        "unsupported verb %{} — use %s, %d, %f, %q, %v or %%",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            }
        }
        Ok(Value::String(out))
    }
    pub fn length(a: Vec<Value>) -> R {
        Ok(Value::from(match &a[0] {
            Value::Array(x) => x.len(),
            Value::Object(o) => o.len(),
            Value::String(x) => x.chars().count(),
            other => return Err(format!("needs a list, map or string, found a {}", kind(other))),
        } as u64))
    }
    pub fn lookup(a: Vec<Value>) -> R {
        let m = map(&a[0])?;
        let k = s(&a[1])?;
        match m.get(&k) {
            Some(v) => Ok(v.clone()),
            None => a
                .get(2)
                .cloned()
                .ok_or_else(|| format!("the map has no key {k:?} — give a default as the third argument")),
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
            return Err("the step goes away from the end".into());
        }
        let len = ((end - start) / step).ceil().max(0.0);
        if len > MAX_ELEMENTS as f64 {
            return Err(format!("the range has {len} elements; at most {MAX_ELEMENTS}"));
        }
        Ok(Value::Array((0..len as usize).map(|i| num(start + step * i as f64)).collect()))
    }
    pub fn coalesce(a: Vec<Value>) -> R {
        a.into_iter()
            .find(|v| !matches!(v, Value::Null) && *v != Value::String(String::new()))
            .ok_or_else(|| "all arguments are null or empty".into())
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
            return Err("the list is empty".into());
        }
        Ok(l[(n(&a[1])? as usize) % l.len()].clone())
    }
    pub fn index(a: Vec<Value>) -> R {
        list(&a[0])?
            .iter()
            .position(|x| *x == a[1])
            .map(|i| Value::from(i as u64))
            .ok_or_else(|| "the value is not in the list".into())
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
        fn go(v: Vec<Value>, out: &mut Vec<Value>) -> Result<(), String> {
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
    pub fn reverse(a: Vec<Value>) -> R {
        Ok(Value::Array(list(&a[0])?.into_iter().rev().collect()))
    }
    pub fn compact(a: Vec<Value>) -> R {
        Ok(Value::Array(
            list(&a[0])?
                .into_iter()
                .filter(|v| !matches!(v, Value::Null) && *v != Value::String(String::new()))
                .collect(),
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
            return Err(format!("{} keys but {} values", k.len(), v.len()));
        }
        let mut out = hcl::Map::new();
        for (k, v) in k.iter().zip(v) {
            out.insert(s(k)?, v);
        }
        Ok(Value::Object(out))
    }
    pub fn min(a: Vec<Value>) -> R {
        Ok(num(a.iter().map(n).collect::<Result<Vec<_>, _>>()?.into_iter().fold(f64::INFINITY, f64::min)))
    }
    pub fn max(a: Vec<Value>) -> R {
        Ok(num(a.iter().map(n).collect::<Result<Vec<_>, _>>()?.into_iter().fold(f64::NEG_INFINITY, f64::max)))
    }
    pub fn abs(a: Vec<Value>) -> R {
        Ok(num(n(&a[0])?.abs()))
    }
    pub fn ceil(a: Vec<Value>) -> R {
        Ok(num(n(&a[0])?.ceil()))
    }
    pub fn floor(a: Vec<Value>) -> R {
        Ok(num(n(&a[0])?.floor()))
    }
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
            other => Err(format!("cannot make a bool of {}", super::super::render(other))),
        }
    }
    pub fn jsonencode(a: Vec<Value>) -> R {
        serde_json::to_string(&a[0]).map(Value::String).map_err(|e| e.to_string())
    }
    pub fn jsondecode(a: Vec<Value>) -> R {
        serde_json::from_str::<Value>(&s(&a[0])?).map_err(|e| format!("not JSON: {e}"))
    }
    /// A file below the job file's directory, walked there without
    /// following a link: a job file cannot read what its directory does
    /// not hold (as Nomad's jobspec2 file() is confined to its base).
    pub fn file(a: Vec<Value>) -> R {
        let rel = s(&a[0])?;
        let base = BASE.with(|b| b.borrow().clone()).unwrap_or_default();
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if rel.starts_with('/') || parts.contains(&"..") {
            return Err(format!(
                "{rel:?} is outside the job file's directory — file() reads only below it; copy the file there"
            ));
        }
        let Some((name, dirs)) = parts.split_last() else { return Err("the path is empty".into()) };
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let shown = base.join(&rel).display().to_string();
        let bytes = crate::beneath::Dir::open(&base)
            .and_then(|d| d.subdir(dirs, None))
            .and_then(|d| d.read(name, MAX_FILE as u64))
            .map_err(|e| match e.errno {
                nix::errno::Errno::EFBIG => format!("{shown}: file() reads at most {MAX_FILE} bytes"),
                _ => format!("{shown}: {e}"),
            })?;
        String::from_utf8(bytes).map(Value::String).map_err(|_| format!("{shown} is not UTF-8 text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// file() reads below the job file's directory and nowhere else.
    #[test]
    fn file_reads_only_below_the_job_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/a.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        set_base(Some(dir.path().to_path_buf()));
        let read = |p: &str| call("file", vec![Value::String(p.into())]).unwrap();
        assert_eq!(read("conf/a.txt"), Ok(Value::String("hello".into())));
        assert_eq!(read("./conf/a.txt"), Ok(Value::String("hello".into())));
        for bad in ["/etc/passwd", "../etc/passwd", "conf/../../x"] {
            let e = read(bad).unwrap_err();
            assert!(e.contains("outside the job file's directory"), "{bad}: {e}");
        }
        assert!(read("link").unwrap_err().contains("symbolic link"));
        set_base(None);
    }
}
