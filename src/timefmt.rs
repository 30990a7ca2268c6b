//! Times as RFC 3339 text (UTC, milliseconds), the form of every time in
//! statuses, events and hand-off envelopes. The calendar is jiff's; only
//! the digits of [`Stamp`] are written here, for speed.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::Offset;
use std::time::SystemTime;

/// Days in 400 Gregorian years, after which the calendar repeats (the
/// weekdays too: it is 20,871 weeks).
const CYCLE_DAYS: i64 = 146_097;
const CYCLE_SECS: i64 = CYCLE_DAYS * 86_400;

/// `2026-11-28T05:06:07.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    stamp(t).as_str().to_owned()
}

/// An RFC 3339 time written on the stack: `status` writes a few per task
/// and event, straight into its answer.
#[derive(Clone, Copy)]
pub struct Stamp {
    buf: [u8; 40],
    len: usize,
}

impl Stamp {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// The UTC time `secs` seconds after 1970 (before it when negative): its
/// year, and its month, day and time of day as a jiff `DateTime`, whose own
/// year is ignored. jiff's years end at 9999 while a `SystemTime` goes on
/// to the year 292,277,026,596, so jiff is given the same moment of the
/// calendar's 400-year cycle between 1970 and 2369, and the cycles left
/// out are added back to the year.
fn utc(secs: i64) -> (i64, DateTime) {
    let (cycles, secs) = (secs.div_euclid(CYCLE_SECS), secs.rem_euclid(CYCLE_SECS));
    // 1970 to 2369: always a timestamp jiff has, the epoch never used.
    let ts = Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH);
    let dt = Offset::UTC.to_datetime(ts);
    (i64::from(dt.year()) + cycles * 400, dt)
}

/// Writes `v` as `width` decimal digits from `at` (its lowest digits, were
/// it longer).
fn put(b: &mut [u8], at: usize, width: usize, mut v: u64) {
    for c in b[at..at + width].iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// [`rfc3339`] without a heap allocation. A time before 1970 is written as
/// 1970 began; milliseconds are truncated, not rounded.
pub fn stamp(t: SystemTime) -> Stamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let (year, dt) = utc(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    // The digits by hand, not through `format!` or jiff's `strftime` (which
    // reads its format each call and writes through `fmt::Write`): `format!`
    // took a tenth of `status`'s time with 500 tasks. jiff's part is
    // `Offset::to_datetime`, branch-free arithmetic like the code it
    // replaced.
    let year = year.unsigned_abs();
    // Four digits, more after 9999: at most 20 in a u64, so 40 bytes hold it.
    let w = year.checked_ilog10().map_or(1, |l| l as usize + 1).max(4);
    let mut out = Stamp { buf: [0; 40], len: w + 20 };
    let b = &mut out.buf;
    b[w..w + 20].copy_from_slice(b"-00-00T00:00:00.000Z");
    let n = |v: i8| u64::from(v.unsigned_abs());
    put(b, 0, w, year);
    put(b, w + 1, 2, n(dt.month()));
    put(b, w + 4, 2, n(dt.day()));
    put(b, w + 7, 2, n(dt.hour()));
    put(b, w + 10, 2, n(dt.minute()));
    put(b, w + 13, 2, n(dt.second()));
    put(b, w + 16, 3, u64::from(d.subsec_millis()));
    out
}

/// The (year, month, day) of a day counted from 1970-01-01, any day an
/// `i64` counts (through `utc`'s 400-year cycle, past jiff's years).
pub fn civil(days: i64) -> (i64, i64, i64) {
    let (cycles, days) = (days.div_euclid(CYCLE_DAYS), days.rem_euclid(CYCLE_DAYS));
    let (year, dt) = utc(days * 86_400);
    (year + cycles * 400, i64::from(dt.month()), i64::from(dt.day()))
}

/// Reads what [`rfc3339`] writes, and any RFC 3339 time
/// (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `t`, `z` or a space as well),
/// through jiff's `Timestamp` parser. That parser also takes some ISO 8601
/// and Temporal forms (`20261128T050607Z`, `…T05:06Z`, `+0200`, a `,`
/// before the fraction, a trailing `[zone]`), and refuses what the
/// hand-written parser took: a day the month lacks (`02-30`, which rolled
/// over), more than nine digits of fraction, an offset of 26 hours or
/// more, and the last 26 hours of the year 9999. A leap second (`:60`)
/// reads as `:59` (it rolled over to the next minute). A time before 1970
/// is refused, as before.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let ts: Timestamp = text.parse().ok()?;
    (ts.signum() >= 0).then(|| SystemTime::from(ts))
}

/// The months' English names, January first (Go's and Terraform's formats).
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn parse_reads_what_format_writes() {
        for ms in [0u64, 5, 951_782_400_005, 1_795_838_767_250, 4_107_542_399_999] {
            let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        let t = parse_rfc3339("2026-11-28T06:06:07.25+02:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-28T04:06:07.250Z");
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "2026-11-28T00:00:00",
            "2026-11-28T00:00:00.Z",
            "x026-11-28T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64, ms: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_838_767, 250), "2026-11-28T04:06:07.250Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(at(253_402_300_799, 1), "9999-12-31T23:59:59.001Z");
        assert_eq!(at(253_402_300_800, 2), "10000-01-01T00:00:00.002Z");
        // The latest time there is fits too.
        let latest = stamp(SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64));
        assert!(latest.as_str().ends_with(".000Z") && latest.as_str().len() > 30, "{}", latest.as_str());
    }

    #[test]
    fn before_1970() {
        // A SystemTime may be before 1970: written as 1970 began, and such
        // a time is not read (both as the hand-written code did).
        let t = SystemTime::UNIX_EPOCH - Duration::from_secs(86_400 * 365 + 1);
        assert_eq!(rfc3339(t), "1970-01-01T00:00:00.000Z");
        for before in ["1969-12-31T23:59:59.999Z", "1970-01-01T00:30:00+01:00", "0001-01-01T00:00:00Z"] {
            assert_eq!(parse_rfc3339(before), None, "{before}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(SystemTime::UNIX_EPOCH));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(-719_469), (0, 2, 29));
        assert_eq!(civil(-719_468), (0, 3, 1));
    }

    #[test]
    fn leap_years() {
        let t = parse_rfc3339("2024-02-29T12:34:56.789Z").unwrap();
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
        assert_eq!(rfc3339(t + Duration::from_secs(12 * 3600)), "2024-03-01T00:34:56.789Z");
        assert_eq!(civil(19_782), (2024, 2, 29));
        assert_eq!(civil(11_016), (2000, 2, 29));
        // 2100 is no leap year. The day it lacks is refused (the
        // hand-written parser took any day up to 31 and rolled it over).
        assert_eq!(parse_rfc3339("2100-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-04-31T00:00:00Z"), None);
        let t = parse_rfc3339("2100-02-28T23:59:59Z").unwrap() + Duration::from_secs(1);
        assert_eq!(rfc3339(t), "2100-03-01T00:00:00.000Z");
        // Past jiff's years, through the 400-year cycle.
        assert_eq!(civil(106_751_991_167_300), (292_277_026_596, 12, 4));
        let latest = stamp(SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64));
        assert_eq!(latest.as_str(), "292277026596-12-04T15:30:07.000Z");
    }

    #[test]
    fn offsets() {
        let read = |text: &str| parse_rfc3339(text).map(rfc3339);
        for text in [
            "2026-11-28T01:00:00+02:00",
            "2026-11-27T20:30:00-02:30",
            "2026-11-27T23:00:00Z",
            "2026-11-27t23:00:00z",
            "2026-11-27 23:00:00-00:00",
        ] {
            assert_eq!(read(text).as_deref(), Some("2026-11-27T23:00:00.000Z"), "{text}");
        }
    }

    #[test]
    fn fractions_are_truncated_to_milliseconds() {
        let t = parse_rfc3339("2026-11-28T04:06:07.123456789Z").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos(), 123_456_789);
        assert_eq!(rfc3339(t), "2026-11-28T04:06:07.123Z");
        let read = |text: &str| parse_rfc3339(text).map(rfc3339);
        assert_eq!(read("2026-11-28T04:06:07.9999999Z").as_deref(), Some("2026-11-28T04:06:07.999Z"));
        assert_eq!(read("2026-11-28T04:06:07.5Z").as_deref(), Some("2026-11-28T04:06:07.500Z"));
        assert_eq!(read("2026-11-28T04:06:07Z").as_deref(), Some("2026-11-28T04:06:07.000Z"));
    }

    proptest! {
        /// Within jiff's years, a stamp is jiff's own text of the time.
        #[test]
        fn stamp_is_jiffs_text(secs in 0u64..=253_402_207_200, nanos in 0u32..1_000_000_000) {
            let t = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
            let ts = Timestamp::try_from(t).unwrap();
            let s = stamp(t);
            prop_assert_eq!(s.as_str(), format!("{ts:.3}"));
            let whole_ms = t - Duration::from_nanos(u64::from(nanos % 1_000_000));
            prop_assert_eq!(parse_rfc3339(s.as_str()), Some(whole_ms));
        }

        /// The 400-year cycle gives the date jiff gives, before 1970 too.
        #[test]
        fn civil_is_jiffs_date(days in -4_371_000i64..2_932_000) {
            let dt = Offset::UTC.to_datetime(Timestamp::from_second(days * 86_400).unwrap());
            prop_assert_eq!(civil(days), (i64::from(dt.year()), i64::from(dt.month()), i64::from(dt.day())));
        }
    }
}
