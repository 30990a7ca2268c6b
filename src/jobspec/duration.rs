//! Go's duration grammar, as Nomad reads job files with `time.ParseDuration`,
//! plus the two deliberate differences of DESIGN §3: `"1hr"` (the source
//! article's own `max_delay`) is read as an hour with a warning, and a bare
//! number is refused instead of silently meaning nanoseconds.

use std::fmt;
use std::time::Duration;

/// What parsing a duration string found, besides the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub value: Duration,
    /// Set when the text used a spelling Nomad refuses but supd accepts.
    pub warning: Option<String>,
}

/// Why a duration string is refused; `text` is the duration as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration — write a number with a unit, e.g. \"30s\"")]
    Empty,
    #[error("negative duration {text:?} — durations must be zero or positive")]
    Negative { text: String },
    /// A sign and nothing after it.
    #[error("invalid duration {text:?} — write e.g. \"30s\"")]
    NoNumber { text: String },
    /// A part that is no number (`..s`, `1.2.3s`).
    #[error("invalid duration {text:?} — write e.g. \"30s\" or \"1h30m\"")]
    Malformed { text: String },
    /// A number alone, which Nomad would read as nanoseconds.
    #[error(
        "duration {text:?} has no unit — write a unit, e.g. \"{number}s\" (Nomad would read a bare number as nanoseconds)"
    )]
    BareNumber { text: String, number: String },
    /// A number without a unit after another part (`1h30`).
    #[error("missing unit in duration {text:?} — write e.g. \"1h30m\"")]
    MissingUnit { text: String },
    #[error("unknown unit {unit:?} in duration {text:?} — use ns, us, ms, s, m or h")]
    UnknownUnit { unit: String, text: String },
    /// Too large to count in nanoseconds.
    #[error("duration {text:?} is too large")]
    TooLarge { text: String },
    /// Over Go's limit, int64 nanoseconds.
    #[error("duration {text:?} is too large (at most about 292 years)")]
    OverGoLimit { text: String },
}

/// Parses a Go duration (`"30s"`, `"1h30m"`, `"1.5h"`, `"500ms"`, `"0"`).
///
/// Negative durations are refused: no job field means anything by them.
pub fn parse(text: &str) -> Result<Parsed, DurationError> {
    let owned = || text.to_string();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = text;
    if let Some(r) = rest.strip_prefix('-') {
        if r.trim_start_matches(['0', '.']).is_empty() {
            rest = r;
        } else {
            return Err(DurationError::Negative { text: owned() });
        }
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Parsed { value: Duration::ZERO, warning: None });
    }
    if rest.is_empty() {
        return Err(DurationError::NoNumber { text: owned() });
    }
    let mut total: u128 = 0;
    let mut warning = None;
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..digits_end];
        rest = &rest[digits_end..];
        let (whole, frac) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(DurationError::Malformed { text: owned() });
        }
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let scale = unit_scale(unit, text, number, total == 0 && rest.is_empty(), &mut warning)?;
        let part = nanos(whole, frac, scale, text)?;
        total = total.checked_add(part).ok_or_else(|| DurationError::TooLarge { text: owned() })?;
        // Go limits durations to int64 nanoseconds (about 292 years).
        if total > i64::MAX as u128 {
            return Err(DurationError::OverGoLimit { text: owned() });
        }
    }
    let value = Duration::new((total / 1_000_000_000) as u64, (total % 1_000_000_000) as u32);
    Ok(Parsed { value, warning })
}

/// The nanoseconds in one `unit` of a duration (`text`); `alone` when
/// nothing is counted before `number` and nothing follows it. A warning
/// for `hr`.
fn unit_scale(
    unit: &str,
    text: &str,
    number: &str,
    alone: bool,
    warning: &mut Option<String>,
) -> Result<u128, DurationError> {
    let scale: u128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "hr" => {
            *warning = Some(format!(
                "duration {text:?} uses the unit \"hr\", which Nomad refuses — write \"h\" (read here as hours)"
            ));
            3_600 * 1_000_000_000
        }
        "" if alone => {
            return Err(DurationError::BareNumber { text: text.to_string(), number: number.to_string() });
        }
        "" => return Err(DurationError::MissingUnit { text: text.to_string() }),
        other => return Err(DurationError::UnknownUnit { unit: other.to_string(), text: text.to_string() }),
    };
    Ok(scale)
}

/// The nanoseconds of `whole.frac` units of `scale` nanoseconds, in a
/// duration (`text`).
fn nanos(whole: &str, frac: &str, scale: u128, text: &str) -> Result<u128, DurationError> {
    let too_large = || DurationError::TooLarge { text: text.to_string() };
    let w: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
    let part = w.checked_mul(scale).ok_or_else(too_large)?;
    // Fractions: take digits while they still matter at nanosecond precision.
    let mut div: u128 = 1;
    let mut f: u128 = 0;
    for c in frac.chars() {
        if div > scale {
            break;
        }
        f = f * 10 + u128::from(c.to_digit(10).unwrap_or(0));
        div *= 10;
    }
    part.checked_add(f * scale / div).ok_or_else(too_large)
}

/// Formats a duration the way Go prints one (`30m0s`, `1h0m0s`, `1.5s`,
/// `15ms`, `0s`), so messages read like Nomad's.
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0.as_nanos();
        if total == 0 {
            return f.write_str("0s");
        }
        if total < 1_000_000_000 {
            let (unit, scale) = if total < 1_000 {
                ("ns", 1)
            } else if total < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{}{unit}", fraction(total, scale));
        }
        let hours = total / 3_600_000_000_000;
        let minutes = (total / 60_000_000_000) % 60;
        let seconds = total % 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h{minutes}m")?;
        } else if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", fraction(seconds, 1_000_000_000))
    }
}

fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        match parse(text) {
            Ok(p) => {
                assert!(p.warning.is_none(), "{text}: unexpected warning");
                p.value
            }
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn every_go_unit() {
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("7us"), Duration::from_micros(7));
        assert_eq!(ok("7µs"), Duration::from_micros(7));
        assert_eq!(ok("7μs"), Duration::from_micros(7));
        assert_eq!(ok("7ms"), Duration::from_millis(7));
        assert_eq!(ok("7s"), Duration::from_secs(7));
        assert_eq!(ok("7m"), Duration::from_secs(420));
        assert_eq!(ok("7h"), Duration::from_secs(7 * 3600));
    }

    #[test]
    fn zero_fractions_and_compounds() {
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("-0"), Duration::ZERO);
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("2h45m30.5s"), Duration::from_millis((2 * 3600 + 45 * 60 + 30) * 1000 + 500));
        assert_eq!(ok("1m1s1ms1us1ns"), Duration::from_nanos(61_001_001_001));
        assert_eq!(ok("+5s"), Duration::from_secs(5));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("1.0000000019s"), Duration::from_nanos(1_000_000_001));
    }

    #[test]
    fn hr_reads_as_hours_with_a_warning() {
        let p = parse("1hr").unwrap();
        assert_eq!(p.value, Duration::from_secs(3600));
        assert!(p.warning.unwrap().contains("Nomad refuses"));
    }

    #[test]
    fn bare_number_asks_for_a_unit() {
        let e = parse("30").unwrap_err().to_string();
        assert!(e.contains("no unit") && e.contains("\"30s\""), "{e}");
    }

    #[test]
    fn refusals() {
        for bad in ["", "1d", "1 h", "1H", "h", "1.2.3s", "s1", "-5s", "1h30", "..s", "1e3s"] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse("1d").unwrap_err().to_string().contains("unknown unit \"d\""));
        assert!(parse("99999999999999h").unwrap_err().to_string().contains("too large"));
        assert!(parse("340282366920938463463374607431768211.999us").unwrap_err().to_string().contains("too large"));
        assert!(matches!(parse("-5s"), Err(DurationError::Negative { .. })));
    }

    #[test]
    fn go_formatting() {
        let s = |d: Duration| GoDuration(d).to_string();
        assert_eq!(s(Duration::ZERO), "0s");
        assert_eq!(s(Duration::from_secs(1800)), "30m0s");
        assert_eq!(s(Duration::from_secs(86400)), "24h0m0s");
        assert_eq!(s(Duration::from_secs(15)), "15s");
        assert_eq!(s(Duration::from_millis(1500)), "1.5s");
        assert_eq!(s(Duration::from_millis(15)), "15ms");
        assert_eq!(s(Duration::from_nanos(1)), "1ns");
        assert_eq!(s(Duration::from_micros(3)), "3µs");
        assert_eq!(s(Duration::from_nanos(15_587_610_296)), "15.587610296s");
        assert_eq!(s(Duration::from_secs(3661)), "1h1m1s");
    }
}
