//! The functions of strings: encodings and hashes, case, trimming, `split`,
//! `regexMatch`, `indent`, and the replacements, each measured first.

use super::error::FuncError;
use super::{
    MAX_PIECES, Num, Put, args, binary, fail, growing, hex, number, over, string, text, unary, within, within_estimate,
};
use gotmpl::Value;
use std::sync::Arc;

/// The bytes of `s` in lower case (a character may become two or three).
fn lower_len(s: &str) -> u64 {
    s.chars().map(|c| c.to_lowercase().map(char::len_utf8).sum::<usize>() as u64).sum()
}

/// The bytes of `s` in upper case.
fn upper_len(s: &str) -> u64 {
    s.chars().map(|c| c.to_uppercase().map(char::len_utf8).sum::<usize>() as u64).sum()
}

/// The bytes of [`title`]'s result.
fn title_len(s: &str) -> u64 {
    let mut n = 0u64;
    let mut start = true;
    for c in s.chars() {
        let len = if start { c.to_uppercase().map(char::len_utf8).sum() } else { c.len_utf8() };
        n += len as u64;
        start = c.is_whitespace();
    }
    n
}

/// base64 with padding: 4 bytes for each 3 or fewer.
fn base64_len(s: &str) -> u64 {
    (s.len() as u64).div_ceil(3) * 4
}

/// Encodings and hashes: `base64Encode`, `base64URLEncode`, their decodings, `sha256Hex`.
pub(super) fn encoding_funcs(put: &mut Put<'_>, limit: u64) {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    put("base64Encode", growing("base64Encode", limit, base64_len, |s| STANDARD.encode(s)));
    put("base64URLEncode", growing("base64URLEncode", limit, base64_len, |s| URL_SAFE.encode(s)));
    put(
        "base64Decode",
        unary("base64Decode", |s| {
            let b = STANDARD.decode(s.trim())?;
            String::from_utf8(b).map_err(|_| FuncError::NotUtf8)
        }),
    );
    put(
        "base64URLDecode",
        unary("base64URLDecode", |s| {
            let b = URL_SAFE.decode(s.trim())?;
            String::from_utf8(b).map_err(|_| FuncError::NotUtf8)
        }),
    );
    put("sha256Hex", unary("sha256Hex", |s| Ok(hex(&<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes())))));
}

/// Strings: case, trimming, `split`, `regexMatch`, `indent`.
pub(super) fn string_funcs(put: &mut Put<'_>, limit: u64) {
    put("toLower", growing("toLower", limit, lower_len, str::to_lowercase));
    put("toUpper", growing("toUpper", limit, upper_len, str::to_uppercase));
    put("toTitle", growing("toTitle", limit, title_len, title));
    put("trimSpace", unary("trimSpace", |s| Ok(s.trim().to_string())));
    put("trimPrefix", binary("trimPrefix", |p, s| Ok(s.strip_prefix(p).unwrap_or(s).into())));
    put("trimSuffix", binary("trimSuffix", |p, s| Ok(s.strip_suffix(p).unwrap_or(s).into())));
    put(
        "split",
        binary("split", |sep, s| {
            if s.is_empty() {
                return Ok(Value::List(Arc::from(Vec::new())));
            }
            // One more piece than separators (an empty one is found at
            // each character boundary).
            let pieces = s.matches(sep).count() as u64 + 1;
            if pieces > MAX_PIECES {
                return Err(FuncError::TooManyPieces { pieces });
            }
            Ok(Value::List(s.split(sep).map(|p| Value::String(p.into())).collect()))
        }),
    );
    put(
        "regexMatch",
        binary("regexMatch", |re, s| {
            let re = regex::Regex::new(re)?;
            Ok(Value::Bool(re.is_match(s)))
        }),
    );
    put(
        "indent",
        Arc::new(move |a: &[Value]| {
            let [n, s] = args::<2>("indent", a)?;
            let Num::I(n @ 0..=1024) = number("indent", n)? else {
                return Err(fail("indent", "wants a number of spaces from 0 to 1024"));
            };
            let n = n as usize;
            let s = string("indent", s)?;
            // The spaces before each line: one more than the newlines.
            let lines = s.matches('\n').count() + 1;
            within("indent", (s.len() as u64).saturating_add((lines as u64).saturating_mul(n as u64)), limit)?;
            let pad = " ".repeat(n);
            let mut out = String::with_capacity(s.len().saturating_add(lines.saturating_mul(n)));
            for (i, line) in s.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&pad);
                out.push_str(line);
            }
            text(out)
        }),
    );
}

/// Replacements, each measured first: `replaceAll`, `regexReplaceAll`.
pub(super) fn replace_funcs(put: &mut Put<'_>, limit: u64) {
    put(
        "replaceAll",
        Arc::new(move |a: &[Value]| {
            let [from, to, s] = args::<3>("replaceAll", a)?;
            let (from, to, s) = (string("replaceAll", from)?, string("replaceAll", to)?, string("replaceAll", s)?);
            // Each match becomes `to`; an empty `from` matches at each
            // character boundary, one more than the characters.
            let matches = if from.is_empty() { s.chars().count() + 1 } else { s.matches(from.as_str()).count() };
            let matches = matches as u64;
            let kept = (s.len() as u64).saturating_sub(matches.saturating_mul(from.len() as u64));
            within("replaceAll", kept.saturating_add(matches.saturating_mul(to.len() as u64)), limit)?;
            text(s.replace(&from, &to))
        }),
    );
    put(
        "regexReplaceAll",
        Arc::new(move |a: &[Value]| {
            const NAME: &str = "regexReplaceAll";
            let [re, to, s] = args::<3>(NAME, a)?;
            let re = regex::Regex::new(&string(NAME, re)?).map_err(|e| fail(NAME, e))?;
            let (to, s) = (string(NAME, to)?, string(NAME, s)?);
            // Each match becomes `to`, its groups (`$1`, `${name}`) put in:
            // measured a match at a time, each expansion made alone (at
            // most `to` and, for each `$`, the whole match; one that could
            // be over the limit is counted as that).
            let refs = to.matches('$').count() as u64;
            let (mut matched, mut added, mut exact, mut stopped) = (0u64, 0u64, true, false);
            let mut expansion = String::new();
            for caps in re.captures_iter(&s) {
                let whole = caps.get(0).map_or(0, |m| m.as_str().len() as u64);
                matched += whole;
                let bound = (to.len() as u64).saturating_add(refs.saturating_mul(whole));
                let len = if refs == 0 {
                    to.len() as u64
                } else if bound <= limit {
                    expansion.clear();
                    caps.expand(&to, &mut expansion);
                    expansion.len() as u64
                } else {
                    exact = false;
                    bound
                };
                added = added.saturating_add(len);
                if added > limit {
                    stopped = true;
                    break;
                }
            }
            let size = (s.len() as u64).saturating_sub(matched).saturating_add(added);
            if !exact {
                within_estimate(NAME, size, limit)?;
            } else if stopped {
                return Err(over(NAME, limit));
            } else {
                within(NAME, size, limit)?;
            }
            text(re.replace_all(&s, to.as_str()).into_owned())
        }),
    );
}

pub(super) fn title(s: &str) -> String {
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
