//! Time: `formatdate` (Terraform's date format) and `timeadd` (a Go
//! duration), both of RFC 3339 timestamps.

use super::error::FuncError;
use super::{R, s, text_bounded};
use crate::timefmt::MONTHS;
use hcl::Value;

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
        nanos = frac[..len].bytes().chain(std::iter::repeat(b'0')).take(9).fold(0, |n, c| n * 10 + i32::from(c - b'0'));
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
    let dt =
        jiff::civil::DateTime::new(year as i16, month as i8, day as i8, hour as i8, minute as i8, second as i8, nanos)
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
