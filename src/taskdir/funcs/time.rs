//! The render's time: `timestamp`, and Go's time layouts.

use super::{Put, fail, string, text, within};
use crate::taskdir::scope::Scope;
use gotmpl::Value;
use std::sync::Arc;

/// The render's time: `timestamp`.
pub(super) fn time_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "timestamp",
        Arc::new(move |a: &[Value]| {
            let layout = match a {
                [] => "2006-01-02T15:04:05Z07:00".to_string(),
                [l] => string("timestamp", l)?,
                _ => return Err(fail("timestamp", "takes at most one argument, a Go time layout or \"unix\"")),
            };
            if layout == "unix" {
                return text(s.now.as_secs().to_string());
            }
            // At most twice the layout (`1` may become `12`): measured once
            // made, as a layout grown by timestamp itself must not double
            // again and again.
            let out = format_time(s.now, &layout);
            within("timestamp", out.len() as u64, s.max_output)?;
            text(out)
        }),
    );
}

/// Formats a time since the Unix epoch (UTC) by a Go layout: the reference
/// time `Mon Jan 2 15:04:05 MST 2006` written as the output should look.
pub fn format_time(since_epoch: std::time::Duration, layout: &str) -> String {
    use crate::timefmt::MONTHS;
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    let secs = since_epoch.as_secs() as i64;
    let nanos = since_epoch.subsec_nanos();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (hour, min, sec) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (year, month, day) = crate::timefmt::civil(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let h12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let tokens: [(&str, String); 30] = [
        ("January", month_name.to_string()),
        ("Jan", month_name[..3].to_string()),
        ("Monday", weekday.to_string()),
        ("Mon", weekday[..3].to_string()),
        ("MST", "UTC".into()),
        ("2006", format!("{year:04}")),
        ("Z07:00", "Z".into()),
        ("Z0700", "Z".into()),
        ("-07:00", "+00:00".into()),
        ("-0700", "+0000".into()),
        ("-07", "+00".into()),
        (".000000000", format!(".{nanos:09}")),
        (".000000", format!(".{:06}", nanos / 1000)),
        (".000", format!(".{:03}", nanos / 1_000_000)),
        ("15", format!("{hour:02}")),
        ("06", format!("{:02}", year % 100)),
        ("01", format!("{month:02}")),
        ("02", format!("{day:02}")),
        ("_2", format!("{day:>2}")),
        ("03", format!("{h12:02}")),
        ("04", format!("{min:02}")),
        ("05", format!("{sec:02}")),
        ("PM", if hour < 12 { "AM" } else { "PM" }.into()),
        ("pm", if hour < 12 { "am" } else { "pm" }.into()),
        ("1", month.to_string()),
        ("2", day.to_string()),
        ("3", h12.to_string()),
        ("4", min.to_string()),
        ("5", sec.to_string()),
        ("", String::new()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in tokens.iter().filter(|(t, _)| !t.is_empty()) {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
