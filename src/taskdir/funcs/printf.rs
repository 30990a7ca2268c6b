//! An estimate from above of what gotmpl's `printf` makes, read from its
//! format as gotmpl reads it, before `printf` is called.

use super::error::FuncError;
use super::shown_len;
use gotmpl::Value;
use std::iter::Peekable;
use std::str::Chars;

/// gotmpl's bound on a `printf` width or precision (go.rs `PRINTF_MAX_LEN`).
const PRINTF_MAX_LEN: u64 = u16::MAX as u64;

/// A `printf` whose estimate is over the limit but at most this is made,
/// and its result measured: an estimate counts [`VERB_EXTRA`] for each verb.
pub(super) const SMALL_ESTIMATE: u64 = 1 << 20;

/// What a `printf` verb may add to its value: a float's integer digits
/// (309 at most), signs and prefixes, an exponent, gotmpl's markers
/// (`%!d(string=…)`, `%!(BADWIDTH)`, `%!v(MISSING)`).
const VERB_EXTRA: u64 = 400;

/// Where a `printf` directive takes its value from.
enum Index {
    /// No `[n]`: the next value.
    Absent,
    /// `[n]`, n-1.
    At(usize),
    /// `[n]` out of range: gotmpl writes `%!v(BADINDEX)`.
    Out,
}

/// An estimate from above of the bytes gotmpl's `printf` makes of `format`
/// and `values`, the format read as gotmpl reads it (go.rs `sprintf_into`):
/// its text, and each verb's value as the verb may show it (`%q` 4 bytes a
/// byte at most, `%x` 2), with its precision and [`VERB_EXTRA`], or its
/// width when that is more (gotmpl clamps both at 65535, but `%[1]` reuses
/// a value as often as the format says); then the values no verb took
/// (`%!(EXTRA …)`). Linear in the format; each value is shown once,
/// counted up to just past `limit`. A `[` that is not an index `[n]` is
/// refused: gotmpl reads the rest of the format again at each one.
pub(super) fn printf_len(format: &str, values: &[Value], limit: u64) -> Result<u64, FuncError> {
    let mut shown: Vec<Option<u64>> = vec![None; values.len()];
    let mut shown_at = |i: usize| *shown[i].get_or_insert_with(|| shown_len(&values[i], limit));
    let mut chars = format.chars().peekable();
    let (mut size, mut next, mut reordered) = (0u64, 0usize, false);
    while let Some(c) = chars.next() {
        if c != '%' {
            size = size.saturating_add(c.len_utf8() as u64);
            continue;
        }
        while chars.next_if(|c| matches!(c, '-' | '+' | ' ' | '#' | '0')).is_some() {}
        let indexed = match printf_index(&mut chars, values.len())? {
            Index::Absent => false,
            Index::At(i) => {
                (next, reordered) = (i, true);
                true
            }
            Index::Out => {
                (size, reordered) = (size.saturating_add(VERB_EXTRA), true);
                continue;
            }
        };
        // A width or precision `*` takes a value when there is one.
        let mut width = 0;
        if chars.next_if_eq(&'*').is_some() {
            width = PRINTF_MAX_LEN;
            next = (next + 1).min(values.len());
        } else if let Some(w) = digits(&mut chars) {
            width = w.min(PRINTF_MAX_LEN);
        }
        let mut precision = 0;
        if chars.next_if_eq(&'.').is_some() {
            if chars.next_if_eq(&'*').is_some() {
                precision = PRINTF_MAX_LEN;
                next = (next + 1).min(values.len());
            } else {
                precision = digits(&mut chars).unwrap_or(0).min(PRINTF_MAX_LEN);
            }
        }
        if !indexed {
            match printf_index(&mut chars, values.len())? {
                Index::Absent => {}
                Index::At(i) => (next, reordered) = (i, true),
                Index::Out => {
                    (size, reordered) = (size.saturating_add(VERB_EXTRA), true);
                    continue;
                }
            }
        }
        let Some(verb) = chars.next() else {
            size = size.saturating_add(1);
            break;
        };
        if verb == '%' {
            size = size.saturating_add(1);
            continue;
        }
        if next >= values.len() {
            size = size.saturating_add(VERB_EXTRA);
            continue;
        }
        let factor = match verb {
            'q' => 4,
            'x' | 'X' => 2,
            _ => 1,
        };
        let content = shown_at(next).saturating_mul(factor).saturating_add(precision).saturating_add(VERB_EXTRA);
        next += 1;
        size = size.saturating_add(content.max(width));
    }
    if !reordered {
        for i in next..values.len() {
            size = size.saturating_add(shown_at(i)).saturating_add(VERB_EXTRA);
        }
    }
    Ok(size)
}

/// An index `[n]` where the format has one (go.rs `try_parse_index`).
fn printf_index(chars: &mut Peekable<Chars<'_>>, values: usize) -> Result<Index, FuncError> {
    if chars.peek() != Some(&'[') {
        return Ok(Index::Absent);
    }
    let mut probe = chars.clone();
    probe.next();
    if let Some(n) = digits(&mut probe)
        && probe.next_if_eq(&']').is_some()
    {
        *chars = probe;
        if (1..=values as u64).contains(&n) {
            return Ok(Index::At(n as usize - 1));
        }
        skip_to_verb(chars);
        return Ok(Index::Out);
    }
    Err(FuncError::PrintfIndex)
}

/// Past the verb of a directive whose index gotmpl refused (go.rs
/// `skip_to_verb`).
fn skip_to_verb(chars: &mut Peekable<Chars<'_>>) {
    let mut in_brackets = false;
    for c in chars.by_ref() {
        if in_brackets {
            in_brackets = c != ']';
            continue;
        }
        match c {
            '-' | '+' | ' ' | '#' | '.' | '*' | '0'..='9' => {}
            '[' => in_brackets = true,
            _ => return,
        }
    }
}

/// A run of digits as gotmpl reads a width, a precision or an index
/// (saturating); `None` without one.
fn digits(chars: &mut Peekable<Chars<'_>>) -> Option<u64> {
    let mut n = None;
    while let Some(d) = chars.next_if(char::is_ascii_digit) {
        n = Some(n.unwrap_or(0u64).saturating_mul(10).saturating_add(u64::from(d.to_digit(10).unwrap_or(0))));
    }
    n
}
