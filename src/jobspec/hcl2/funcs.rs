//! The functions a job file may call: Nomad's HCL2 set, as far as it makes
//! sense on one host. Listed in supd-job(5).

use super::{MAX_ELEMENTS, kind};
use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use std::cell::RefCell;
use std::path::PathBuf;

mod error;
use error::{FuncError, Limit};

/// `file()` reads at most this many bytes.
pub const MAX_FILE: usize = 1 << 20;

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

mod imp {
    use super::*;

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
    fn text_bounded(len: usize) -> Result<(), FuncError> {
        if len as u64 > super::super::budget::MAX_BYTES { Err(Limit::Text { len }.into()) } else { Ok(()) }
    }
    pub fn replace(a: Vec<Value>) -> R {
        let (x, from, to) = (s(&a[0])?, s(&a[1])?, s(&a[2])?);
        // Measured before it is made: each match may grow the text.
        let matches = if from.is_empty() { x.chars().count() + 1 } else { x.matches(from.as_str()).count() };
        text_bounded(x.len().saturating_add(matches.saturating_mul(to.len())))?;
        Ok(Value::String(x.replace(&from, &to)))
    }
    /// `length` extended grapheme clusters of `x` from the `offset`th on
    /// (from the end when negative), the rest when `length` is negative;
    /// as cty's, which Nomad's is. Nothing is collected: a long text would
    /// cost a word per cluster.
    pub fn substr(a: Vec<Value>) -> R {
        let x = s(&a[0])?;
        let (off, len) = (whole(&a[1])?, whole(&a[2])?);
        let start = if off < 0 {
            graphemes(&x).saturating_sub(usize::try_from(off.unsigned_abs()).unwrap_or(usize::MAX))
        } else {
            usize::try_from(off).unwrap_or(usize::MAX)
        };
        let from = cluster_start(&x, start);
        let rest = &x[from..];
        let to = if len < 0 { rest.len() } else { cluster_start(rest, usize::try_from(len).unwrap_or(usize::MAX)) };
        Ok(Value::String(rest[..to].to_string()))
    }
    /// The clusters of `x` in reverse order, each as it was (a letter
    /// keeps its accent after it), as cty's.
    pub fn strrev(a: Vec<Value>) -> R {
        Ok(Value::String(reversed(&s(&a[0])?)))
    }
    pub fn split(a: Vec<Value>) -> R {
        let (sep, x) = (s(&a[0])?, s(&a[1])?);
        if sep.is_empty() {
            return Err(FuncError::Invalid("the separator is empty".into()));
        }
        bounded(x.matches(sep.as_str()).count() + 1)?;
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
        format_with(&s(&a[0])?, a[1..].iter())
    }
    /// `format` with the values from `args` (`formatlist` gives each
    /// round's without copying them).
    fn format_with<'v>(f: &str, mut args: impl Iterator<Item = &'v Value>) -> R {
        let mut out = String::new();
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
                    let x = args.next().ok_or_else(|| FuncError::Invalid("more verbs than values".into()))?;
                    match v {
                        'd' => out.push_str(&(n(x)? as i64).to_string()),
                        'f' => out.push_str(&format!("{:.6}", n(x)?)),
                        'q' => out.push_str(&format!("{:?}", s(x)?)),
                        'v' if !matches!(x, Value::String(_)) => out.push_str(&serde_json::to_string(x)?),
                        _ => out.push_str(&s(x)?),
                    }
                }
                other => {
                    return Err(FuncError::Invalid(format!(
                        "unsupported verb %{} — use %s, %d, %f, %q, %v or %%",
                        other.map(String::from).unwrap_or_default()
                    )));
                }
            }
        }
        Ok(Value::String(out))
    }
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
            return Err(FuncError::Invalid(format!("{} keys but {} values", k.len(), v.len())));
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
            other => Err(FuncError::Invalid(format!("cannot make a bool of {}", super::super::render(other)))),
        }
    }
    pub fn jsonencode(a: Vec<Value>) -> R {
        Ok(Value::String(serde_json::to_string(&a[0])?))
    }
    pub fn jsondecode(a: Vec<Value>) -> R {
        serde_json::from_str::<Value>(&s(&a[0])?).map_err(|e| FuncError::Invalid(format!("not JSON: {e}")))
    }
    /// The job file's directory and the components of `rel` below it: a
    /// path that leaves it (absolute, or with a `..`) is refused, as
    /// Nomad's jobspec2 confines its file functions to their base.
    fn confined(rel: &str, what: &'static str) -> Result<(PathBuf, Vec<String>), FuncError> {
        // Without a job file's directory (a source supd holds, a peer's
        // hand-off) there is nothing a file function may read.
        let Some(base) = BASE.with(|b| b.borrow().clone()).filter(|b| !b.as_os_str().is_empty()) else {
            return Err(FuncError::NoBase { what });
        };
        let parts: Vec<String> = rel.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
        if rel.starts_with('/') || parts.iter().any(|p| p == "..") {
            return Err(FuncError::Outside { rel: rel.to_string(), what });
        }
        Ok((base, parts))
    }
    /// A regular file below the job file's directory, walked there without
    /// following a link; at most [`MAX_FILE`] bytes.
    fn read_below(rel: &str, what: &'static str) -> Result<Vec<u8>, FuncError> {
        let (base, parts) = confined(rel, what)?;
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let Some((name, dirs)) = parts.split_last() else {
            return Err(FuncError::Invalid("the path is empty".into()));
        };
        let shown = base.join(rel).display().to_string();
        crate::beneath::Dir::open(&base)
            .and_then(|d| d.subdir(dirs, None))
            .and_then(|d| d.read(name, MAX_FILE as u64))
            .map_err(|e| match e.errno {
                nix::errno::Errno::EFBIG => FuncError::Limit(Limit::File { shown, what }),
                _ => FuncError::Io { shown, source: e },
            })
    }
    /// A file below the job file's directory, walked there without
    /// following a link: a job file cannot read what its directory does
    /// not hold (as Nomad's jobspec2 file() is confined to its base).
    pub fn file(a: Vec<Value>) -> R {
        let rel = s(&a[0])?;
        let bytes = read_below(&rel, "file")?;
        String::from_utf8(bytes).map(Value::String).map_err(|_| {
            let base = BASE.with(|b| b.borrow().clone()).filter(|b| !b.as_os_str().is_empty());
            let shown = base.unwrap_or_else(|| PathBuf::from(".")).join(&rel);
            FuncError::Invalid(format!("{} is not UTF-8 text", shown.display()))
        })
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

    // Strings.

    pub fn strlen(a: Vec<Value>) -> R {
        Ok(Value::from(graphemes(&s(&a[0])?) as u64))
    }
    /// How many extended grapheme clusters (Unicode's UAX #29, as Nomad's
    /// go-textseg finds them) `x` has: what a reader counts as characters.
    fn graphemes(x: &str) -> usize {
        use unicode_segmentation::UnicodeSegmentation;
        x.graphemes(true).count()
    }
    /// The byte offset at which the `k`th cluster of `x` starts; its length
    /// when it has no more.
    fn cluster_start(x: &str, k: usize) -> usize {
        use unicode_segmentation::UnicodeSegmentation;
        x.grapheme_indices(true).nth(k).map_or(x.len(), |(i, _)| i)
    }
    /// `x` with its clusters in reverse order: found from the front, as cty
    /// finds them (linear; a search from the back may look back over a
    /// run of flags at every boundary), each copied into place from the
    /// back of the result.
    fn reversed(x: &str) -> String {
        use unicode_segmentation::UnicodeSegmentation;
        let mut out = vec![0u8; x.len()];
        let mut end = x.len();
        for g in x.graphemes(true) {
            // The clusters add up to `x`: `end` never goes below 0.
            let start = end.saturating_sub(g.len());
            if let Some(to) = out.get_mut(start..end)
                && to.len() == g.len()
            {
                to.copy_from_slice(g.as_bytes());
            }
            end = start;
        }
        // Whole clusters of a `str`: always UTF-8.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
    /// Every line but the first indented by `spaces` spaces.
    pub fn indent(a: Vec<Value>) -> R {
        let spaces = whole(&a[0])?;
        if spaces < 0 {
            return Err(FuncError::Invalid("the number of spaces must not be negative".into()));
        }
        let x = s(&a[1])?;
        let lines = x.matches('\n').count();
        if lines == 0 {
            return Ok(Value::String(x));
        }
        text_bounded(x.len().saturating_add(lines.saturating_mul(spaces as usize)))?;
        let pad = format!("\n{}", " ".repeat(spaces as usize));
        Ok(Value::String(x.replace('\n', &pad)))
    }
    /// `format` once per element of the lists given (all of one length),
    /// other values repeated in each.
    pub fn formatlist(a: Vec<Value>) -> R {
        let f = s(&a[0])?;
        let args = &a[1..];
        let mut len: Option<(usize, usize)> = None;
        for (i, x) in args.iter().enumerate() {
            if let Value::Array(l) = x {
                match len {
                    None => len = Some((l.len(), i + 1)),
                    Some((n, j)) if n != l.len() => {
                        return Err(FuncError::Invalid(format!(
                            "argument {} has length {}, which is inconsistent with argument {j} of length {n}",
                            i + 1,
                            l.len()
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        let rounds = len.map_or(1, |(n, _)| n);
        bounded(rounds)?;
        let mut out = Vec::with_capacity(rounds);
        let mut total = 0usize;
        for k in 0..rounds {
            let round = args.iter().map(|x| match x {
                Value::Array(l) => &l[k],
                other => other,
            });
            let text = match format_with(&f, round).map_err(|e| FuncError::Round { round: k, source: Box::new(e) })? {
                Value::String(t) => t,
                other => super::super::render(&other),
            };
            total = total.saturating_add(text.len());
            text_bounded(total)?;
            out.push(Value::String(text));
        }
        Ok(Value::Array(out))
    }
    /// Every match of a regular expression replaced; `$1`, `${name}` and
    /// `$$` in the replacement as Go's ReplaceAllString reads them.
    pub fn regex_replace(a: Vec<Value>) -> R {
        let (x, pattern, to) = (s(&a[0])?, s(&a[1])?, s(&a[2])?);
        let re = regex::Regex::new(&pattern)
            .map_err(|e| FuncError::Invalid(format!("{pattern:?} is not a regular expression: {e}")))?;
        // One replacement is at most its own text and, for each `$`, the
        // whole match: measured before it is made.
        let refs = to.matches('$').count();
        let mut out = String::new();
        let mut last = 0;
        for caps in re.captures_iter(&x) {
            let Some(m) = caps.get(0) else { continue };
            out.push_str(&x[last..m.start()]);
            let most = to.len().saturating_add(refs.saturating_mul(m.len()));
            text_bounded(out.len().saturating_add(most).saturating_add(x.len() - m.end()))?;
            caps.expand(&to, &mut out);
            last = m.end();
        }
        out.push_str(&x[last..]);
        Ok(Value::String(out))
    }

    // Numbers.

    pub fn log(a: Vec<Value>) -> R {
        finite(n(&a[0])?.ln() / n(&a[1])?.ln())
    }
    pub fn pow(a: Vec<Value>) -> R {
        finite(n(&a[0])?.powf(n(&a[1])?))
    }
    pub fn signum(a: Vec<Value>) -> R {
        let x = n(&a[0])?;
        Ok(Value::from(if x > 0.0 {
            1
        } else if x < 0.0 {
            -1
        } else {
            0
        }))
    }
    /// A string of digits in a base from 2 to 62, as Go's big.Int reads it:
    /// an optional sign; letters for the digits above 9, either case up to
    /// base 36, above it `a`–`z` before `A`–`Z`.
    pub fn parseint(a: Vec<Value>) -> R {
        let Value::String(t) = &a[0] else {
            return Err(FuncError::Invalid(format!("the first argument must be a string, not a {}", kind(&a[0]))));
        };
        let base = whole(&a[1])?;
        if !(2..=62).contains(&base) {
            return Err(FuncError::Invalid("the base must be a whole number from 2 to 62".into()));
        }
        let bad = || FuncError::Invalid(format!("cannot parse {t:?} as a base {base} integer"));
        let (negative, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t.as_str()),
        };
        if digits.is_empty() {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for c in digits.chars() {
            let d = match c {
                '0'..='9' => c as u32 - '0' as u32,
                'a'..='z' => c as u32 - 'a' as u32 + 10,
                'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
                'A'..='Z' => c as u32 - 'A' as u32 + 36,
                _ => return Err(bad()),
            };
            if i64::from(d) >= base {
                return Err(bad());
            }
            v = v
                .checked_mul(base as u128)
                .and_then(|v| v.checked_add(u128::from(d)))
                .ok_or_else(|| FuncError::Invalid(format!("{t:?} is too large")))?;
        }
        if negative {
            if v > i64::MAX as u128 + 1 {
                return Err(FuncError::Invalid(format!("{t:?} is too small (at least {})", i64::MIN)));
            }
            Ok(Value::from((-(v as i128)) as i64))
        } else {
            u64::try_from(v)
                .map(Value::from)
                .map_err(|_| FuncError::Invalid(format!("{t:?} is too large (at most {})", u64::MAX)))
        }
    }

    // Collections.

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
        if total.saturating_mul(lists.len()) as u64 > super::super::budget::MAX_VALUES {
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

    // Conversion.

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
                Err(_) => finite(
                    x.parse::<f64>().map_err(|_| FuncError::Invalid(format!("cannot convert {x:?} to a number")))?,
                )?,
            },
            (Ty::Bool, Value::Bool(_)) => v.clone(),
            (Ty::Bool, Value::String(x)) if x == "true" || x == "false" => Value::Bool(x == "true"),
            (Ty::List(t), Value::Array(xs)) => {
                Value::Array(xs.iter().map(|x| conv(x, t)).collect::<Result<Vec<_>, _>>()?)
            }
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

    // Encoding.

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
            FuncError::Invalid(
                "the decoded data is not UTF-8 text (filebase64() and base64decode() are for text)".into(),
            )
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
            if values > super::super::budget::MAX_VALUES {
                return Err(Limit::Rows.into());
            }
            out.push(Value::Object(
                header.iter().cloned().zip(r.iter().map(|v| Value::String(v.to_string()))).collect(),
            ));
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
            use super::super::budget::{MAX_BYTES, MAX_VALUES};
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
            hcl::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| E::custom("infinity and NaN are not numbers here"))
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

    // Hashes and identifiers.

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    pub fn md5(a: Vec<Value>) -> R {
        use sha2::Digest;
        Ok(Value::String(hex(&::md5::Md5::digest(s(&a[0])?.as_bytes()))))
    }
    pub fn sha1(a: Vec<Value>) -> R {
        use sha2::Digest;
        Ok(Value::String(hex(&::sha1::Sha1::digest(s(&a[0])?.as_bytes()))))
    }
    pub fn sha256(a: Vec<Value>) -> R {
        use sha2::Digest;
        Ok(Value::String(hex(&::sha2::Sha256::digest(s(&a[0])?.as_bytes()))))
    }
    pub fn sha512(a: Vec<Value>) -> R {
        use sha2::Digest;
        Ok(Value::String(hex(&::sha2::Sha512::digest(s(&a[0])?.as_bytes()))))
    }
    /// bcrypt() hashes at most at this cost: each step doubles the time,
    /// and the job file is evaluated on every read (Go allows 31: days).
    /// Nomad's default is 10; each step doubles the time (12: ~0.25 s).
    pub(super) const MAX_BCRYPT_COST: i64 = 12;
    /// A bcrypt hash (`$2a$`, as Go's), cost 10 unless given; a cost below
    /// 4 is 10, as in Go.
    pub fn bcrypt(a: Vec<Value>) -> R {
        let password = s(&a[0])?;
        let cost = match a.get(1) {
            Some(c) => whole(c)?,
            None => 10,
        };
        let cost = if cost < 4 { 10 } else { cost };
        if cost > MAX_BCRYPT_COST {
            return Err(Limit::BcryptCost(cost).into());
        }
        let work = 1u32 << (cost.clamp(10, MAX_BCRYPT_COST) - 10);
        let done = BCRYPTS.with(|c| {
            c.set(c.get() + work);
            c.get()
        });
        if done > MAX_BCRYPT_CALLS {
            return Err(Limit::Bcrypts.into());
        }
        ::bcrypt::non_truncating_hash_with_result(password.as_bytes(), cost as u32)
            .map(|h| Value::String(h.format_for_version(::bcrypt::Version::TwoA)))
            .map_err(|e| match e {
                ::bcrypt::BcryptError::Truncation(_) => {
                    FuncError::Invalid("the password is longer than 72 bytes".into())
                }
                e => FuncError::Bcrypt(e),
            })
    }
    /// Decrypts `ciphertext` (base64; RSA with PKCS #1 v1.5 padding) with a
    /// PEM private key, as Nomad's (Terraform's) rsadecrypt: the first PEM
    /// block of the text, a PKCS #1 key ("RSA PRIVATE KEY") as Nomad takes
    /// it, or beyond Nomad one in a PKCS #8 envelope ("PRIVATE KEY"). The
    /// key is measured before any arithmetic on it, and the work counted
    /// against the file's budget ([`MAX_RSADECRYPT_CALLS`]).
    pub fn rsadecrypt(a: Vec<Value>) -> R {
        use ::base64::Engine;
        use ::rsa::pkcs1::DecodeRsaPrivateKey;
        let (text, pem) = (s(&a[0])?, s(&a[1])?);
        // Go's decoder skips line breaks.
        let text: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        let ciphertext = ::base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(|e| {
            FuncError::Invalid(format!("failed to decode the input: cipher text must be base64-encoded ({e})"))
        })?;
        let block = pem_block(&pem)?;
        let (der, bits) = rsa_key_der(&block)?;
        // Decryption costs the cube of the key's size: a 2048-bit key
        // counts 1 (and a smaller one), 3072 bits 4, 4096 bits 8.
        let k = bits.div_ceil(1024) as u32;
        let work = (k * k * k).div_ceil(8).max(1);
        let done = RSADECRYPTS.with(|c| {
            c.set(c.get().saturating_add(work));
            c.get()
        });
        if done > MAX_RSADECRYPT_CALLS {
            return Err(Limit::Rsadecrypts.into());
        }
        let key = ::rsa::RsaPrivateKey::from_pkcs1_der(der)
            .map_err(|e| FuncError::Invalid(format!("failed to parse key: {e}")))?;
        let plain = key.decrypt(::rsa::Pkcs1v15Encrypt, &ciphertext).map_err(|e| {
            FuncError::Invalid(format!(
                "failed to decrypt: {e} — the cipher text must be made with this key's public key and PKCS #1 v1.5 padding"
            ))
        })?;
        String::from_utf8(plain)
            .map(Value::String)
            .map_err(|_| FuncError::Invalid("the decrypted data is not UTF-8 text (rsadecrypt() is for text)".into()))
    }
    /// A PEM block: its type, whether its headers say it is encrypted, and
    /// what it holds.
    struct Pem {
        label: String,
        encrypted: bool,
        bytes: Vec<u8>,
    }
    /// The first PEM block of `text`, found as Go's pem.Decode finds it
    /// (text around it ignored, headers read before the data), a little
    /// more leniently: its lines may be indented and of any width.
    fn pem_block(text: &str) -> Result<Pem, FuncError> {
        use ::base64::Engine;
        const NO_KEY: &str = "failed to parse key: no key found (no line -----BEGIN RSA PRIVATE KEY-----)";
        let mut lines = text.lines();
        let label = loop {
            let line = lines.next().ok_or_else(|| FuncError::Invalid(NO_KEY.into()))?;
            if let Some(label) = line.trim().strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
                break label;
            }
        };
        let end = format!("-----END {label}-----");
        let (mut encrypted, mut in_headers, mut ended) = (false, true, false);
        let mut body = String::new();
        for line in lines {
            let line = line.trim();
            if line == end {
                ended = true;
                break;
            }
            if in_headers {
                if let Some((name, value)) = line.split_once(':') {
                    encrypted |= name.trim() == "Proc-Type" && value.trim() == "4,ENCRYPTED";
                    continue;
                }
                in_headers = false;
            }
            body.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
        if !ended {
            return Err(FuncError::Invalid(format!("failed to parse key: the PEM block {label:?} has no line {end}")));
        }
        let bytes = ::base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).map_err(|e| {
            FuncError::Invalid(format!("failed to parse key: the PEM block {label:?} is not base64 ({e})"))
        })?;
        Ok(Pem { label: label.to_string(), encrypted, bytes })
    }
    /// The PKCS #1 RSA private key in `pem` (the DER, in a PKCS #8 envelope
    /// or not, whatever the block's type says, as Go takes it) and the size
    /// of its modulus in bits. Refused before the key is built (which
    /// multiplies and divides its numbers): a modulus of more than
    /// [`MAX_RSA_BITS`] bits, or another number in it longer than the
    /// modulus.
    fn rsa_key_der(pem: &Pem) -> Result<(&[u8], usize), FuncError> {
        use ::rsa::{pkcs1, pkcs8};
        if pem.encrypted || pem.label == "ENCRYPTED PRIVATE KEY" {
            return Err(FuncError::Invalid(
                "failed to parse key: password protected keys are not supported. Please decrypt the key prior to use"
                    .into(),
            ));
        }
        let der: &[u8] = match pkcs1::RsaPrivateKey::try_from(pem.bytes.as_slice()) {
            Ok(_) => &pem.bytes,
            Err(as_pkcs1) => match pkcs8::PrivateKeyInfo::try_from(pem.bytes.as_slice()) {
                Ok(info) if info.algorithm.oid == pkcs1::ALGORITHM_OID => info.private_key,
                Ok(info) => {
                    return Err(FuncError::Invalid(format!(
                        "failed to parse key: the PKCS #8 key is no RSA key (its algorithm is {})",
                        info.algorithm.oid
                    )));
                }
                Err(_) => {
                    return Err(FuncError::Invalid(format!(
                        "failed to parse key: the PEM block {:?} holds no RSA private key, PKCS #1 or PKCS #8 ({as_pkcs1})",
                        pem.label
                    )));
                }
            },
        };
        let key =
            pkcs1::RsaPrivateKey::try_from(der).map_err(|e| FuncError::Invalid(format!("failed to parse key: {e}")))?;
        let n = key.modulus.as_bytes();
        // Leading zeros are stripped: the first byte is the highest.
        let bits = n.first().map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize));
        if bits > MAX_RSA_BITS {
            return Err(Limit::RsaBits(bits).into());
        }
        if key.other_prime_infos.is_some() {
            return Err(FuncError::Invalid(
                "failed to parse key: a key of more than two primes is not supported".into(),
            ));
        }
        let numbers = [
            &key.public_exponent,
            &key.private_exponent,
            &key.prime1,
            &key.prime2,
            &key.exponent1,
            &key.exponent2,
            &key.coefficient,
        ];
        if numbers.iter().any(|u| u.as_bytes().len() > n.len()) {
            return Err(FuncError::Invalid(
                "failed to parse key: it is malformed (a number in it is longer than its modulus)".into(),
            ));
        }
        Ok((der, bits))
    }
    pub fn uuidv4(_: Vec<Value>) -> R {
        Ok(Value::String(::uuid::Uuid::new_v4().to_string()))
    }
    /// A name-based UUID: the namespace `dns`, `url`, `oid`, `x500` or a
    /// UUID.
    pub fn uuidv5(a: Vec<Value>) -> R {
        use ::uuid::Uuid;
        let (namespace, name) = (s(&a[0])?, s(&a[1])?);
        let ns = match namespace.as_str() {
            "dns" => Uuid::NAMESPACE_DNS,
            "url" => Uuid::NAMESPACE_URL,
            "oid" => Uuid::NAMESPACE_OID,
            "x500" => Uuid::NAMESPACE_X500,
            other => Uuid::parse_str(other).map_err(|e| {
                FuncError::Invalid(format!("the namespace {other:?} is neither dns, url, oid, x500 nor a UUID ({e})"))
            })?,
        };
        Ok(Value::String(Uuid::new_v5(&ns, name.as_bytes()).to_string()))
    }

    // Time.

    /// An RFC 3339 timestamp as Go's `time.Parse(time.RFC3339, …)` reads
    /// it (a fraction of a second allowed): its civil time and offset.
    fn timestamp(t: &str) -> Result<(jiff::civil::DateTime, jiff::tz::Offset), FuncError> {
        let bad = || FuncError::Invalid(format!("{t:?} is not an RFC 3339 timestamp (like \"2006-01-02T15:04:05Z\")"));
        let digits = |at: usize, len: usize| -> Result<i32, FuncError> {
            let d = t.get(at..at + len).ok_or_else(bad)?;
            if !d.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            d.parse::<i32>().map_err(|_| bad())
        };
        let b = t.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(bad());
        }
        let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
        let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
        let mut rest = t.get(19..).ok_or_else(bad)?;
        let mut nanos = 0i32;
        if let Some(frac) = rest.strip_prefix('.') {
            let len = frac.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return Err(bad());
            }
            nanos =
                frac[..len].bytes().chain(std::iter::repeat(b'0')).take(9).fold(0, |n, c| n * 10 + i32::from(c - b'0'));
            rest = &frac[len..];
        }
        let offset = if rest == "Z" {
            0
        } else {
            let o = rest.as_bytes();
            if o.len() != 6 || !matches!(o[0], b'+' | b'-') || o[3] != b':' {
                return Err(bad());
            }
            let (h, m) = (rest[1..3].parse::<i32>().map_err(|_| bad())?, rest[4..6].parse::<i32>().map_err(|_| bad())?);
            if !rest[1..3].bytes().chain(rest[4..6].bytes()).all(|c| c.is_ascii_digit()) || h > 24 || m > 59 {
                return Err(bad());
            }
            if o[0] == b'-' { -(h * 3600 + m * 60) } else { h * 3600 + m * 60 }
        };
        let dt = jiff::civil::DateTime::new(
            year as i16,
            month as i8,
            day as i8,
            hour as i8,
            minute as i8,
            second as i8,
            nanos,
        )
        .map_err(|e| FuncError::Invalid(format!("{t:?}: {e}")))?;
        let offset = jiff::tz::Offset::from_seconds(offset).map_err(|e| FuncError::Invalid(format!("{t:?}: {e}")))?;
        Ok((dt, offset))
    }
    /// An offset as `+07:00` (`colon`) or `+0700`.
    fn offset_text(offset: jiff::tz::Offset, colon: bool) -> String {
        let secs = offset.seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.unsigned_abs();
        let sep = if colon { ":" } else { "" };
        format!("{sign}{:02}{sep}{:02}", a / 3600, a % 3600 / 60)
    }
    use crate::timefmt::MONTHS;
    /// A timestamp in Terraform's date format: `YYYY YY MMMM MMM MM M DD D
    /// EEEE EEE hh h` (24-hour) `HH H` (12-hour) `AA aa mm m ss s ZZZZZ
    /// ZZZZ ZZZ Z`, other letters refused, `'quoted text'` as it is and
    /// `''` a quote.
    pub fn formatdate(a: Vec<Value>) -> R {
        let (spec, t) = (s(&a[0])?, s(&a[1])?);
        let (dt, offset) = timestamp(&t)?;
        let chars: Vec<char> = spec.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                i = quoted(&chars, i, &mut out)?;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                out.push(c);
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && chars[i] == c {
                i += 1;
            }
            let len = i - start;
            let tok: String = chars[start..i].iter().collect();
            let part = match c {
                'Y' | 'M' | 'D' | 'E' => date_verb(c, len, &tok, dt)?,
                'h' | 'H' | 'A' | 'a' | 'm' | 's' => clock_verb(c, len, &tok, dt)?,
                'Z' => zone_verb(len, &tok, offset)?,
                _ => return Err(FuncError::Invalid(format!("invalid date format verb {tok:?}"))),
            };
            out.push_str(&part);
            text_bounded(out.len())?;
        }
        Ok(Value::String(out))
    }
    /// Adds the `formatdate` literal quoted at `chars[i]` to `out` (`''` a quote); where the format goes on.
    fn quoted(chars: &[char], i: usize, out: &mut String) -> Result<usize, FuncError> {
        if chars.get(i + 1) == Some(&'\'') {
            out.push('\'');
            return Ok(i + 2);
        }
        let mut j = i + 1;
        loop {
            match chars.get(j) {
                None => return Err(FuncError::Invalid("unterminated literal '".into())),
                Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                    out.push('\'');
                    j += 2;
                }
                Some('\'') => {
                    j += 1;
                    break;
                }
                Some(&other) => {
                    out.push(other);
                    j += 1;
                }
            }
        }
        Ok(j)
    }
    /// A `formatdate` verb of the date (`Y`, `M`, `D`, `E`): `tok` is `len` of `c`.
    fn date_verb(c: char, len: usize, tok: &str, dt: jiff::civil::DateTime) -> Result<String, FuncError> {
        let bad = |why: &str| FuncError::Invalid(format!("invalid date format verb {tok:?}{why}"));
        let part = match (c, len) {
            ('Y', 2) => format!("{:02}", dt.year().rem_euclid(100)),
            ('Y', 4) => format!("{:04}", dt.year()),
            ('Y', _) => return Err(bad(": year must either be \"YY\" or \"YYYY\"")),
            ('M', 1) => dt.month().to_string(),
            ('M', 2) => format!("{:02}", dt.month()),
            ('M', 3) => MONTHS[dt.month() as usize - 1][..3].to_string(),
            ('M', 4) => MONTHS[dt.month() as usize - 1].to_string(),
            ('M', _) => return Err(bad(": month must be \"M\", \"MM\", \"MMM\", or \"MMMM\"")),
            ('D', 1) => dt.day().to_string(),
            ('D', 2) => format!("{:02}", dt.day()),
            ('D', _) => return Err(bad(": day of month must either be \"D\" or \"DD\"")),
            ('E', 3 | 4) => {
                use jiff::civil::Weekday::*;
                let name = match dt.weekday() {
                    Monday => "Monday",
                    Tuesday => "Tuesday",
                    Wednesday => "Wednesday",
                    Thursday => "Thursday",
                    Friday => "Friday",
                    Saturday => "Saturday",
                    Sunday => "Sunday",
                };
                if len == 3 { name[..3].to_string() } else { name.to_string() }
            }
            ('E', _) => return Err(bad(": day of week must either be \"EEE\" or \"EEEE\"")),
            _ => return Err(bad("")),
        };
        Ok(part)
    }
    /// A `formatdate` verb of the time of day (`h`, `H`, `A`, `a`, `m`, `s`): `tok` is `len` of `c`.
    fn clock_verb(c: char, len: usize, tok: &str, dt: jiff::civil::DateTime) -> Result<String, FuncError> {
        let bad = |why: &str| FuncError::Invalid(format!("invalid date format verb {tok:?}{why}"));
        let twelve = match dt.hour() % 12 {
            0 => 12,
            h => h,
        };
        let part = match (c, len) {
            ('h', 1) => dt.hour().to_string(),
            ('h', 2) => format!("{:02}", dt.hour()),
            ('h', _) => return Err(bad(": 24-hour must either be \"h\" or \"hh\"")),
            ('H', 1) => twelve.to_string(),
            ('H', 2) => format!("{twelve:02}"),
            ('H', _) => return Err(bad(": 12-hour must either be \"H\" or \"HH\"")),
            ('A', 2) => (if dt.hour() < 12 { "AM" } else { "PM" }).to_string(),
            ('a', 2) => (if dt.hour() < 12 { "am" } else { "pm" }).to_string(),
            ('A' | 'a', _) => return Err(bad(&format!(": must be \"{c}{c}\""))),
            ('m', 1) => dt.minute().to_string(),
            ('m', 2) => format!("{:02}", dt.minute()),
            ('m', _) => return Err(bad(": minute must either be \"m\" or \"mm\"")),
            ('s', 1) => dt.second().to_string(),
            ('s', 2) => format!("{:02}", dt.second()),
            ('s', _) => return Err(bad(": second must either be \"s\" or \"ss\"")),
            _ => return Err(bad("")),
        };
        Ok(part)
    }
    /// A `formatdate` verb of the offset: `tok` is `len` of `Z`.
    fn zone_verb(len: usize, tok: &str, offset: jiff::tz::Offset) -> Result<String, FuncError> {
        let part = match len {
            1 if offset.seconds() == 0 => "Z".to_string(),
            1 | 5 => offset_text(offset, true),
            3 if offset.seconds() == 0 => "UTC".to_string(),
            3 | 4 => offset_text(offset, false),
            _ => {
                return Err(FuncError::Invalid(format!(
                    "invalid date format verb {tok:?}: timezone must be Z, ZZZ, ZZZZ, or ZZZZZ"
                )));
            }
        };
        Ok(part)
    }
    /// A Go duration (`"1h30m"`, `"-10m"`, `"1.5s"`) added to an RFC 3339
    /// timestamp; the result in the timestamp's own offset.
    pub fn timeadd(a: Vec<Value>) -> R {
        let (t, d) = (s(&a[0])?, s(&a[1])?);
        let (dt, offset) = timestamp(&t)?;
        let (negative, body) = match d.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, d.as_str()),
        };
        let parsed = crate::jobspec::duration::parse(body)?.value;
        let mut by =
            jiff::SignedDuration::try_from(parsed).map_err(|e| FuncError::Invalid(format!("duration {d:?}: {e}")))?;
        if negative {
            by = by.checked_neg().ok_or_else(|| FuncError::Invalid(format!("duration {d:?} is too large")))?;
        }
        let at = offset.to_timestamp(dt).map_err(|e| FuncError::Invalid(format!("{t:?}: {e}")))?;
        let at = at.checked_add(by).map_err(|e| FuncError::Invalid(format!("{t} + {d}: {e}")))?;
        let dt = offset.to_datetime(at);
        if !(0..=9999).contains(&dt.year()) {
            return Err(FuncError::Invalid(format!("{t} + {d} is outside the years 0000 to 9999")));
        }
        let zone = if offset.seconds() == 0 { "Z".to_string() } else { offset_text(offset, true) };
        Ok(Value::String(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )))
    }

    // Networks.

    /// A CIDR prefix as Go's net.ParseCIDR reads it: the network's address
    /// (host bits cleared) as a number, the prefix length and the address
    /// width (32 or 128).
    fn cidr(p: &str) -> Result<(u128, u32, u32), FuncError> {
        let bad = || FuncError::Invalid(format!("{p:?} is not a CIDR prefix (like \"10.0.0.0/16\" or \"fd00::/8\")"));
        let (addr, len) = p.split_once('/').ok_or_else(bad)?;
        let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let len: u32 = len.parse().map_err(|_| bad())?;
        let (bits, width) = match ip {
            std::net::IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
            std::net::IpAddr::V6(a) => (u128::from(a), 128),
        };
        if len > width {
            return Err(bad());
        }
        Ok((bits & mask(len, width), len, width))
    }
    /// The first `len` of `width` bits set.
    fn mask(len: u32, width: u32) -> u128 {
        if len == 0 { 0 } else { (u128::MAX << (width - len)) & all(width) }
    }
    /// All `width` bits set.
    fn all(width: u32) -> u128 {
        if width >= 128 { u128::MAX } else { (1u128 << width) - 1 }
    }
    fn ip_text(bits: u128, width: u32) -> String {
        if width == 32 {
            std::net::Ipv4Addr::from(bits as u32).to_string()
        } else {
            std::net::Ipv6Addr::from(bits).to_string()
        }
    }
    /// The address of host `hostnum` in the prefix; a negative number
    /// counts from the end (-1 is the last address).
    pub fn cidrhost(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        let (net, len, width) = cidr(&p)?;
        let num = whole(&a[1])?;
        let max = all(width - len);
        let too_big = || FuncError::Invalid(format!("prefix of {len} does not accommodate a host numbered {num}"));
        let host = if num < 0 {
            let back = u128::from(num.unsigned_abs()) - 1;
            max.checked_sub(back).ok_or_else(too_big)?
        } else {
            let n = num as u128;
            if n > max {
                return Err(too_big());
            }
            n
        };
        Ok(Value::String(ip_text(net | host, width)))
    }
    /// An IPv4 prefix's netmask (`"255.255.240.0"`).
    pub fn cidrnetmask(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        let (_, len, width) = cidr(&p)?;
        if width != 32 {
            return Err(FuncError::Invalid(format!("IPv6 addresses cannot have a netmask: {p}")));
        }
        Ok(Value::String(ip_text(mask(len, 32), 32)))
    }
    /// Subnet `netnum` of the prefix made `newbits` longer.
    pub fn cidrsubnet(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        let (net, len, width) = cidr(&p)?;
        let (newbits, netnum) = (whole(&a[1])?, whole(&a[2])?);
        if newbits < 0 {
            return Err(FuncError::Invalid("newbits must not be negative".into()));
        }
        if i64::from(len) + newbits > i64::from(width) {
            return Err(FuncError::Invalid(format!(
                "insufficient address space to extend prefix of {len} by {newbits}"
            )));
        }
        let newlen = len + newbits as u32;
        if netnum < 0 || netnum as u128 > all(newbits as u32) {
            return Err(FuncError::Invalid(format!(
                "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
            )));
        }
        let sub = net | (netnum as u128).checked_shl(width - newlen).unwrap_or(0);
        Ok(Value::String(format!("{}/{newlen}", ip_text(sub, width))))
    }
    /// Consecutive subnets of the prefix, each `newbits` longer than it,
    /// each aligned after the one before (as Terraform allocates them).
    pub fn cidrsubnets(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        let (net, start, width) = cidr(&p)?;
        let mut lens = Vec::with_capacity(a.len() - 1);
        for (i, x) in a[1..].iter().enumerate() {
            let bits = whole(x)?;
            let arg = i + 2;
            if bits < 1 {
                return Err(FuncError::Invalid(format!("argument {arg}: must extend the prefix by at least one bit")));
            }
            if bits > 32 {
                return Err(FuncError::Invalid(format!(
                    "argument {arg}: may not extend the prefix by more than 32 bits"
                )));
            }
            let l = i64::from(start) + bits;
            if l > i64::from(width) {
                return Err(FuncError::Invalid(format!(
                    "argument {arg}: would extend the prefix to {l} bits, which is too long for an IPv{} address",
                    if width == 32 { 4 } else { 6 }
                )));
            }
            lens.push(l as u32);
        }
        let mut out = Vec::with_capacity(lens.len());
        let mut prev: Option<(u128, u32)> = None;
        for (i, &l) in lens.iter().enumerate() {
            let next = match prev {
                // The first starts at the prefix itself.
                None => net,
                Some((cur, cur_len)) => {
                    // The last address of the current subnet, in a block
                    // of the new length; the new subnet follows that block.
                    let cur_last = cur | (!mask(cur_len, width) & all(width));
                    let last = (cur_last & mask(l, width)) | (!mask(l, width) & all(width));
                    if last == all(width) || (last + 1) & mask(start, width) != net {
                        return Err(FuncError::Invalid(format!(
                            "argument {}: not enough remaining address space for a subnet with a prefix of {l} bits after {}/{cur_len}",
                            i + 2,
                            ip_text(cur, width)
                        )));
                    }
                    last + 1
                }
            };
            out.push(Value::String(format!("{}/{l}", ip_text(next, width))));
            prev = Some((next, l));
        }
        Ok(Value::Array(out))
    }

    // Paths and files.

    /// A path made clean lexically, as Go's path.Clean does.
    fn clean(p: &str) -> String {
        if p.is_empty() {
            return ".".into();
        }
        let rooted = p.starts_with('/');
        let mut out: Vec<&str> = Vec::new();
        for part in p.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if out.last().is_some_and(|l| *l != "..") {
                        out.pop();
                    } else if !rooted {
                        out.push("..");
                    }
                }
                x => out.push(x),
            }
        }
        let body = out.join("/");
        if rooted {
            format!("/{body}")
        } else if body.is_empty() {
            ".".into()
        } else {
            body
        }
    }
    /// An absolute path: a relative one is taken from the job file's
    /// directory (Nomad takes it from the working directory).
    pub fn abspath(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        if p.starts_with('/') {
            return Ok(Value::String(clean(&p)));
        }
        let base = BASE.with(|b| b.borrow().clone()).unwrap_or_default();
        let base =
            if base.is_absolute() { base } else { std::env::current_dir().map_err(FuncError::WorkingDir)?.join(base) };
        Ok(Value::String(clean(&format!("{}/{p}", base.to_string_lossy()))))
    }
    /// The last element of a path, as Go's filepath.Base.
    pub fn basename(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        if p.is_empty() {
            return Ok(Value::String(".".into()));
        }
        let t = p.trim_end_matches('/');
        if t.is_empty() {
            return Ok(Value::String("/".into()));
        }
        Ok(Value::String(t.rsplit('/').next().unwrap_or(t).to_string()))
    }
    /// All but the last element of a path, as Go's filepath.Dir.
    pub fn dirname(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        let cut = p.rfind('/').map_or(0, |i| i + 1);
        Ok(Value::String(clean(&p[..cut])))
    }
    /// `~` at the start of a path as the home directory.
    pub fn pathexpand(a: Vec<Value>) -> R {
        let p = s(&a[0])?;
        if !p.starts_with('~') {
            return Ok(Value::String(p));
        }
        let rest = &p[1..];
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(FuncError::Invalid(format!(
                "cannot expand {p:?}: only ~ alone stands for a home directory, not ~user"
            )));
        }
        let home = match std::env::var("HOME") {
            Ok(h) if !h.is_empty() => h,
            _ => nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.dir.to_string_lossy().into_owned())
                .ok_or(FuncError::NoHome)?,
        };
        Ok(Value::String(clean(&format!("{home}{rest}"))))
    }
    /// Whether a regular file is there, below the job file's directory (a
    /// link on the way is refused, as by file()).
    pub fn fileexists(a: Vec<Value>) -> R {
        let rel = s(&a[0])?;
        let (base, parts) = confined(&rel, "fileexists")?;
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let Some((name, dirs)) = parts.split_last() else {
            return Err(FuncError::Invalid("the path is empty".into()));
        };
        let shown = base.join(&rel).display().to_string();
        let dir = match crate::beneath::Dir::open(&base).and_then(|d| d.subdir(dirs, None)) {
            Ok(d) => d,
            Err(e) if e.errno == nix::errno::Errno::ENOENT => return Ok(Value::Bool(false)),
            Err(e) => return Err(FuncError::Io { shown, source: e }),
        };
        let why = match dir.kind(name).map_err(|e| FuncError::Io { shown: shown.clone(), source: e })? {
            None => return Ok(Value::Bool(false)),
            Some(libc::S_IFREG) => return Ok(Value::Bool(true)),
            Some(libc::S_IFLNK) => ": a symbolic link is in the way (supd never follows one here)",
            Some(libc::S_IFDIR) => " is a directory, not a regular file",
            Some(_) => " is not a regular file",
        };
        Err(FuncError::Invalid(format!("{shown}{why}")))
    }
    /// A file below the job file's directory (as file() reads it), any
    /// bytes, in base64.
    pub fn filebase64(a: Vec<Value>) -> R {
        use base64::Engine;
        let bytes = read_below(&s(&a[0])?, "filebase64")?;
        Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
    }
    /// fileset() looks at most at this many directory entries…
    pub(super) const MAX_WALK: usize = 100_000;
    /// …and this many directories deep.
    const MAX_DEPTH: usize = 64;
    /// The regular files below `path` (itself below the job file's
    /// directory) whose path from there matches `pattern`: `*` and `?`
    /// within a name, `**` for any number of directories. Sorted; links are
    /// neither followed nor listed (Nomad follows them).
    pub fn fileset(a: Vec<Value>) -> R {
        let (rel, pattern) = (s(&a[0])?, s(&a[1])?);
        let (base, parts) = confined(&rel, "fileset")?;
        if pattern.contains(['[', '{', '\\']) {
            return Err(FuncError::Invalid(format!(
                "the pattern {pattern:?} uses [...], {{...}} or \\, which supd does not read — use *, ** and ?"
            )));
        }
        let pat: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if pat.contains(&"..") {
            return Err(FuncError::Invalid(format!(
                "the pattern {pattern:?} leaves the directory — fileset() reads only below the job file's directory"
            )));
        }
        let dirs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let shown = base.join(&rel).display().to_string();
        let dir = match crate::beneath::Dir::open(&base).and_then(|d| d.subdir(&dirs, None)) {
            Ok(d) => d,
            Err(e) if e.errno == nix::errno::Errno::ENOENT => return Ok(Value::Array(Vec::new())),
            Err(e) => return Err(FuncError::Io { shown, source: e }),
        };
        let mut walk = Walk { pat: &pat, seen: 0, found: Vec::new() };
        let start = closure(&pat, vec![0]);
        walk.dir(&dir, "", &start, 0).map_err(|e| FuncError::Below { shown, source: Box::new(e) })?;
        let mut found = walk.found;
        found.sort();
        Ok(Value::Array(found.into_iter().map(Value::String).collect()))
    }
    /// Pattern positions (states) with the `**` components that may match
    /// nothing skipped.
    fn closure(pat: &[&str], mut states: Vec<usize>) -> Vec<usize> {
        let mut i = 0;
        while i < states.len() {
            let st = states[i];
            if st < pat.len() && pat[st] == "**" && !states.contains(&(st + 1)) {
                states.push(st + 1);
            }
            i += 1;
        }
        states
    }
    /// The states after one more path component, `name`.
    fn step(pat: &[&str], states: &[usize], name: &str) -> Vec<usize> {
        let mut next = Vec::new();
        for &st in states {
            if st >= pat.len() {
                continue;
            }
            let to = if pat[st] == "**" {
                st
            } else if glob(pat[st], name) {
                st + 1
            } else {
                continue;
            };
            if !next.contains(&to) {
                next.push(to);
            }
        }
        closure(pat, next)
    }
    /// Whether `name` matches `p`: `*` any run of characters, `?` one.
    fn glob(p: &str, name: &str) -> bool {
        let (p, n): (Vec<char>, Vec<char>) = (p.chars().collect(), name.chars().collect());
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ni));
                pi += 1;
            } else if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if let Some((sp, sn)) = star {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            } else {
                return false;
            }
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        pi == p.len()
    }
    /// A walk of fileset(): entries seen so far and the files found.
    struct Walk<'p> {
        pat: &'p [&'p str],
        seen: usize,
        found: Vec<String>,
    }
    impl Walk<'_> {
        fn dir(
            &mut self,
            dir: &crate::beneath::Dir,
            rel: &str,
            states: &[usize],
            depth: usize,
        ) -> Result<(), FuncError> {
            let entries = dir.entries(MAX_WALK - self.seen).map_err(|e| match e.errno {
                nix::errno::Errno::EFBIG => FuncError::Limit(Limit::Entries),
                errno => FuncError::Walk { path: if rel.is_empty() { "." } else { rel }.to_string(), errno },
            })?;
            self.seen += entries.len();
            for (name, kind) in entries {
                let next = step(self.pat, states, &name);
                if next.is_empty() {
                    continue;
                }
                let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
                match kind {
                    libc::S_IFREG if next.contains(&self.pat.len()) => {
                        self.found.push(path);
                        bounded(self.found.len())?;
                    }
                    libc::S_IFDIR if depth < MAX_DEPTH && next.iter().any(|&st| st < self.pat.len()) => {
                        let sub = dir
                            .subdir(&[name.as_str()], None)
                            .map_err(|e| FuncError::Walk { path: path.clone(), errno: e.errno })?;
                        self.dir(&sub, &path, &next, depth + 1)?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
    }
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
