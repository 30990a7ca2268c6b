//! The job's `periodic` block: crons in Nomad's syntax, checked here to
//! parse and to fire at least once more; the time zone, checked to exist.

use super::*;
use crate::jobspec::periodic::{fires, parse_cron, time_zone, zone_like};

pub(super) const PERIODIC: Schema = Schema {
    what: "periodic",
    keys: &[("crons", Attr), ("cron", Attr), ("prohibit_overlap", Attr), ("time_zone", Attr), ("enabled", Attr)],
    ignored: &[],
};

const HOW: &str = "write 5 fields (minute hour day-of-month month day-of-week), e.g. \"*/15 * * * *\", 6 with a year last, 7 with seconds first and a year last, or a shortcut such as \"@daily\"";

/// The job's `periodic` block: its crons, each checked to parse and to
/// fire, its time zone, and its switches.
pub(super) fn periodic(r: &mut Reader, b: &Body, job_type: JobType) -> Option<Periodic> {
    let blk = r.one_block(b, "periodic", "a job")?;
    r.no_label(blk);
    r.check_keys(&blk.body, &PERIODIC);
    let body = &blk.body;
    if !matches!(job_type, JobType::Batch | JobType::Sysbatch) {
        r.sink.error(
            blk.ident.span(),
            format!("`periodic` is for batch and sysbatch jobs, and this is a {job_type} job — set `type = \"batch\"` in the job, or remove the `periodic` block"),
        );
        return None;
    }
    let enabled = r.attr(body, "enabled").and_then(|a| r.bool(&a.value, "enabled")).unwrap_or(true);
    let prohibit_overlap =
        r.attr(body, "prohibit_overlap").and_then(|a| r.bool(&a.value, "prohibit_overlap")).unwrap_or(false);
    let (zone_name, zone) = periodic_zone(r, body)?;
    let (written, broken) = written_crons(r, blk)?;
    let invalid = check_crons(r, &written, &zone);
    if broken || invalid {
        return None;
    }
    Some(Periodic {
        crons: written.into_iter().map(|(s, _)| s).collect(),
        prohibit_overlap,
        time_zone: zone_name,
        enabled,
    })
}

/// The `time_zone`, UTC without one: its name and the zone; `None` when
/// the name is not a string or no zone of the system's.
fn periodic_zone(r: &mut Reader, body: &Body) -> Option<(String, jiff::tz::TimeZone)> {
    match r.attr(body, "time_zone") {
        Some(a) => {
            let name = r.literal(&a.value, "time_zone")?;
            match time_zone(&name) {
                Ok(z) => Some((name, z)),
                Err(_) => {
                    let hint = zone_like(&name).map_or(String::new(), |s| format!("did you mean {s:?}? "));
                    r.sink.error(
                        a.value.span(),
                        format!("unknown time zone {name:?} — {hint}write an IANA name from the system's time zone database (/usr/share/zoneinfo), e.g. \"Europe/Berlin\" or \"America/New_York\", or \"UTC\""),
                    );
                    None
                }
            }
        }
        None => Some(("UTC".to_string(), jiff::tz::TimeZone::UTC)),
    }
}

/// Cron expressions as written, each with its span.
type Crons = Vec<(String, Sp)>;

/// The cron expressions as written, `cron` or `crons`, each with its span,
/// and whether one of them is not a string; `None` when the block is
/// refused as a whole (both keys, an empty or wrong `crons`, no schedule).
fn written_crons(r: &mut Reader, blk: &Block) -> Option<(Crons, bool)> {
    let body = &blk.body;
    // (expression, its span) as written, `cron` or `crons`.
    let mut written: Crons = Vec::new();
    let mut broken = false;
    let one = r.attr(body, "cron");
    let many = r.attr(body, "crons");
    if let (Some(c), Some(_)) = (one, many) {
        r.sink.error(
            c.key.span(),
            "`cron` and `crons` are both set — move this expression into `crons` and remove `cron`",
        );
        return None;
    }
    if let Some(a) = one {
        match r.literal(&a.value, "cron") {
            Some(s) => written.push((s, a.value.span())),
            None => broken = true,
        }
    }
    if let Some(a) = many {
        match &a.value {
            Expression::Array(items) => {
                for item in items.iter() {
                    match r.literal(item, "crons") {
                        Some(s) => written.push((s, item.span())),
                        None => broken = true,
                    }
                }
                if items.iter().next().is_none() {
                    r.sink.error(a.value.span(), "`crons` is empty — list at least one, e.g. [\"0 3 * * *\"]");
                    return None;
                }
            }
            other => {
                r.string_list(other, "crons");
                return None;
            }
        }
    }
    if written.is_empty() {
        if !broken {
            r.sink.error(blk.ident.span(), "`periodic` has no schedule — add e.g. `crons = [\"0 3 * * *\"]`");
        }
        return None;
    }
    Some((written, broken))
}

/// Checks each cron to parse and to fire again in `zone`, and warns of a
/// 6-field one that may mean seconds; true when one is refused.
fn check_crons(r: &mut Reader, written: &[(String, Sp)], zone: &jiff::tz::TimeZone) -> bool {
    let mut broken = false;
    let now = std::time::SystemTime::now();
    for (spec, span) in written {
        match parse_cron(spec) {
            Err(why) => {
                // A bad shortcut's reason already lists the good ones.
                let how = if spec.trim_start().starts_with('@') { String::new() } else { format!(" — {HOW}") };
                r.sink.error(span.clone(), format!("cron expression {spec:?} is invalid: {why}{how}"));
                broken = true;
            }
            Ok(cron) if !fires(&cron, zone, now) => {
                r.sink.error(
                    span.clone(),
                    format!("cron expression {spec:?} never fires — check that the day of month exists in the month, and that the year is not past"),
                );
                broken = true;
            }
            Ok(_) => {
                let fields: Vec<&str> = spec.split_whitespace().collect();
                if fields.len() == 6 && fields[5] == "*" {
                    r.sink.warn(
                        span.clone(),
                        format!("6 fields are minute, hour, day of month, month, day of week and year in Nomad's syntax, so the first is minutes — if it is meant as seconds, write 7 fields: \"{} *\"", spec.trim()),
                    );
                }
            }
        }
    }
    broken
}
