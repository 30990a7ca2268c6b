//! `periodic`: Nomad's cron syntax (gorhill/cronexpr's) read with the
//! `croner` crate, and time zones from the system's time zone database
//! through `jiff`, as Nomad reads them through Go's `time.LoadLocation`.
//!
//! cronexpr counts fields differently from croner: 5 fields are minute …
//! day-of-week, 6 add a trailing year, 7 put seconds first and the year
//! last. Each is given to croner as its 7-field form (seconds and year
//! required), so that croner never reads a 6-field expression as seconds
//! first. `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily` and
//! `@hourly` are croner's, with the same meaning as cronexpr's.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use std::time::SystemTime;

/// cronexpr's shortcuts (croner reads the same ones).
const SHORTCUTS: [&str; 6] = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"];

/// The fields of the 7-field form, for messages.
const FIELDS: [&str; 7] = ["second", "minute", "hour", "day-of-month", "month", "day-of-week", "year"];

/// Why a cron expression or a time zone of a `periodic` block is refused.
#[derive(Debug, thiserror::Error)]
pub enum PeriodicError {
    /// An `@` word that is none of cronexpr's.
    #[error("unknown shortcut — use one of {}", SHORTCUTS.join(", "))]
    UnknownShortcut,
    #[error("it is empty")]
    Empty,
    /// Not 5, 6 or 7 fields.
    #[error("it has {0} fields")]
    Fields(usize),
    /// The first field croner refuses on its own: its name, as written,
    /// and croner's reason.
    #[error("the {field} field {written:?}: {reason}")]
    Field { field: &'static str, written: String, reason: String },
    /// croner refuses the whole expression: its reason.
    #[error("{0}")]
    Refused(String),
    /// No time zone of that name in the system's database.
    #[error(transparent)]
    Zone(jiff::Error),
}

/// Reads one cron expression in Nomad's syntax; the error says which field
/// is wrong and why.
pub fn parse_cron(spec: &str) -> Result<Cron, PeriodicError> {
    let spec = spec.trim();
    if spec.starts_with('@') {
        if !SHORTCUTS.iter().any(|s| s.eq_ignore_ascii_case(spec)) {
            return Err(PeriodicError::UnknownShortcut);
        }
        return parser().parse(spec).map_err(|e| PeriodicError::Refused(reason(&e)));
    }
    let seven: Vec<&str> = match spec.split_whitespace().collect::<Vec<_>>() {
        f if f.is_empty() => return Err(PeriodicError::Empty),
        f if f.len() == 5 => [&["0"], f.as_slice(), &["*"]].concat(),
        f if f.len() == 6 => [&["0"], f.as_slice()].concat(),
        f if f.len() == 7 => f,
        f => return Err(PeriodicError::Fields(f.len())),
    };
    parser().parse(&seven.join(" ")).map_err(|e| {
        // The first field that is wrong on its own, every other one `*`.
        (0..7)
            .find_map(|i| {
                let mut alone = ["*"; 7];
                alone[i] = seven[i];
                let e = parser().parse(&alone.join(" ")).err()?;
                Some(PeriodicError::Field { field: FIELDS[i], written: seven[i].to_string(), reason: reason(&e) })
            })
            .unwrap_or_else(|| PeriodicError::Refused(reason(&e)))
    })
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Required).year(Year::Required).build()
}

/// croner's message, as a clause of ours.
fn reason(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    let m = match e {
        CronError::InvalidPattern(m) | CronError::IllegalCharacters(m) | CronError::ComponentError(m) => m.clone(),
        other => other.to_string(),
    };
    let m = m.trim_end_matches('.').trim_start_matches("CronPattern contains ");
    let mut c = m.chars();
    c.next().map_or(String::new(), |f| f.to_lowercase().chain(c).collect())
}

/// A time zone by its IANA name (`Local` is supd's own, `UTC` the default).
pub fn time_zone(name: &str) -> Result<TimeZone, PeriodicError> {
    if name == "Local" {
        return Ok(TimeZone::system());
    }
    TimeZone::get(name).map_err(PeriodicError::Zone)
}

/// Names of the system's time zone database close to `name`, for a hint.
pub fn zone_like(name: &str) -> Option<String> {
    let names: Vec<String> = jiff::tz::db().available().map(|n| n.as_str().to_string()).collect();
    super::diag::did_you_mean(name, names.iter().map(String::as_str)).map(str::to_string)
}

/// When a periodic job launches: the earliest next instant of any of its
/// crons, in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    crons: Vec<Cron>,
    zone: TimeZone,
}

impl Schedule {
    pub fn new(p: &super::model::Periodic) -> Result<Schedule, PeriodicError> {
        let crons = p.crons.iter().map(|c| parse_cron(c)).collect::<Result<Vec<_>, _>>()?;
        Ok(Schedule { crons, zone: time_zone(&p.time_zone)? })
    }

    /// The first launch strictly after `after`; `None` when no cron fires
    /// again (before the year 5000).
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let ts = jiff::Timestamp::try_from(after).ok()?;
        let from = ts.to_zoned(self.zone.clone());
        self.crons
            .iter()
            .filter_map(|c| c.find_next_occurrence(&from, false).ok())
            .map(|z| SystemTime::from(z.timestamp()))
            .min()
    }
}

/// Whether a cron ever fires from `now` on.
pub fn fires(cron: &Cron, zone: &TimeZone, now: SystemTime) -> bool {
    jiff::Timestamp::try_from(now)
        .ok()
        .is_some_and(|ts| cron.find_next_occurrence(&ts.to_zoned(zone.clone()), false).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobspec::model::Periodic;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn schedule(crons: &[&str], zone: &str) -> Schedule {
        let p = Periodic {
            crons: crons.iter().map(|c| c.to_string()).collect(),
            prohibit_overlap: false,
            time_zone: zone.into(),
            enabled: true,
        };
        Schedule::new(&p).expect("a valid schedule")
    }

    // 2026-12-04T17:00:00Z, a Friday.
    const FRI_17H: u64 = 1_796_403_600;

    #[test]
    fn five_six_and_seven_fields_are_read_as_cronexpr_reads_them() {
        // 5: minute … day-of-week.
        let s = schedule(&["*/15 * * * *"], "UTC");
        assert_eq!(s.next_after(at(FRI_17H)), Some(at(FRI_17H + 15 * 60)));
        // 6: a trailing year, not leading seconds.
        let s = schedule(&["30 18 * * * 2026"], "UTC");
        assert_eq!(s.next_after(at(FRI_17H)), Some(at(FRI_17H + 90 * 60)));
        assert_eq!(schedule(&["30 18 * * * 2025"], "UTC").next_after(at(FRI_17H)), None, "a past year never fires");
        // 7: seconds first, year last.
        let s = schedule(&["*/2 * * * * * *"], "UTC");
        assert_eq!(s.next_after(at(FRI_17H)), Some(at(FRI_17H + 2)));
        assert_eq!(s.next_after(at(FRI_17H) + Duration::from_millis(1500)), Some(at(FRI_17H + 2)));
        assert_eq!(s.next_after(at(FRI_17H + 2)), Some(at(FRI_17H + 4)), "strictly after");
    }

    #[test]
    fn shortcuts_names_and_the_earliest_of_several_crons() {
        assert_eq!(schedule(&["@daily"], "UTC").next_after(at(FRI_17H)), Some(at(FRI_17H + 7 * 3600)));
        assert_eq!(schedule(&["@hourly"], "UTC").next_after(at(FRI_17H)), Some(at(FRI_17H + 3600)));
        // Monday 00:00, by name.
        let s = schedule(&["0 0 * * MON"], "UTC");
        assert_eq!(s.next_after(at(FRI_17H)), Some(at(FRI_17H + 7 * 3600 + 2 * 86_400)));
        let s = schedule(&["@daily", "0 18 * * *"], "UTC");
        assert_eq!(s.next_after(at(FRI_17H)), Some(at(FRI_17H + 3600)));
    }

    #[test]
    fn the_time_zone_decides_the_instant() {
        // 18:00 in Berlin (UTC+1 in December) is 17:00 UTC.
        let s = schedule(&["0 18 * * *"], "Europe/Berlin");
        assert_eq!(s.next_after(at(FRI_17H - 60)), Some(at(FRI_17H)));
        assert!(time_zone("Mars/Olympus").is_err());
        assert_eq!(zone_like("Europe/Berln").as_deref(), Some("Europe/Berlin"));
    }

    #[test]
    fn bad_expressions_say_why() {
        assert_eq!(parse_cron("* * *").err().map(|e| e.to_string()).as_deref(), Some("it has 3 fields"));
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("* * * * MOON").is_err());
        let never = parse_cron("0 0 30 2 *").expect("it parses");
        assert!(!fires(&never, &TimeZone::UTC, at(FRI_17H)), "February 30th never comes");
    }
}
