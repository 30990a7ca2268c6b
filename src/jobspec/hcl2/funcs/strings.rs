//! The string functions: case, trimming, replacing, splitting and joining,
//! `format` and `formatlist`; lengths and offsets count grapheme clusters.

use super::error::FuncError;
use super::{R, bounded, list, n, s, text_bounded, whole};
use hcl::Value;

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
pub fn strlen(a: Vec<Value>) -> R {
    Ok(Value::from(graphemes(&s(&a[0])?) as u64))
}
/// How many extended grapheme clusters (Unicode's UAX #29, as Nomad's
/// go-textseg finds them) `x` has: what a reader counts as characters.
pub(super) fn graphemes(x: &str) -> usize {
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
pub(super) fn reversed(x: &str) -> String {
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
