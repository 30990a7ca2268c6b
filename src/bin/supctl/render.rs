//! What `status` prints: the table (jobs, instances, tasks, the node's
//! resources), fitted to the terminal, and the detail view of instances.

use super::*;

/// A parameterized job's rules and dispatched runs, under its line.
pub(super) fn parameterized_lines(p: &supd::control::protocol::ParameterizedStatus) -> String {
    let keys = |k: &[String]| if k.is_empty() { "none".to_string() } else { k.join(", ") };
    let mut out = format!(
        "    parameterized: payload {}, meta required {}, optional {}\n",
        p.payload,
        keys(&p.meta_required),
        keys(&p.meta_optional)
    );
    for d in &p.dispatched {
        out.push_str(&format!("    {} {}\n", d.id, d.status));
    }
    out
}

/// The width to fit the table to: `COLUMNS` when set, else the terminal's
/// when standard output is one; `None` (no trimming) for a pipe or file.
pub(super) fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|n| *n > 0) {
        return Some(n);
    }
    supd::process::sys::stdout_columns()
}

/// Shortens the cells of the last column (LAST EVENT) so that each line
/// fits in `width`, ending a cut cell with `…`; never below 10 characters.
pub(super) fn trim_last_column(rows: &mut [Vec<String>], width: usize) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if cols < 2 {
        return;
    }
    let before: usize = (0..cols - 1)
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0) + 2)
        .sum();
    let room = width.saturating_sub(before).max(10);
    for r in rows.iter_mut() {
        if let Some(last) = r.last_mut()
            && last.chars().count() > room
        {
            *last = last.chars().take(room - 1).chain(['…']).collect();
        }
    }
}

/// A duration in seconds as the UP column shows it: its two largest units
/// (`45s`, `12m3s`, `2h5m`, `3d4h`).
pub(super) fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// The node's cgroups, capacity and what is not enforced.
pub(super) fn node_resources(n: &supd::control::protocol::NodeStatus) -> String {
    let mut out = String::new();
    if let Some(cg) = &n.cgroups {
        out.push_str(&format!("  cgroups {cg}\n"));
    }
    let total = |t: Option<u64>| t.map_or("?".to_string(), |t| t.to_string());
    let unreserved = match n.unreserved_tasks {
        0 => String::new(),
        1 => " (1 task without resources reserves nothing and has no limits)".to_string(),
        k => format!(" ({k} tasks without resources reserve nothing and have no limits)"),
    };
    out.push_str(&format!(
        "  reserved: cpu {}/{} MHz, memory {}/{} MB{unreserved}\n",
        n.cpu_reserved,
        total(n.cpu_total),
        n.memory_reserved,
        total(n.memory_total)
    ));
    for p in &n.cgroup_problems {
        out.push_str(&format!("  warning: {p}\n"));
    }
    out
}

/// A byte count in K, M or G (binary), one decimal below 10.
pub(super) fn bytes(b: u64) -> String {
    let (v, unit) = match b {
        b if b >= 1 << 30 => (b as f64 / (1u64 << 30) as f64, "G"),
        b if b >= 1 << 20 => (b as f64 / (1u64 << 20) as f64, "M"),
        b => (b as f64 / 1024.0, "K"),
    };
    if v < 10.0 { format!("{v:.1}{unit}") } else { format!("{v:.0}{unit}") }
}

/// The resources line of one task in detail.
pub(super) fn resources_detail(t: &TaskStatus) -> Option<String> {
    let r = t.resources.as_ref()?;
    let usage = usage_detail(r);
    let cgroup = r.cgroup.as_deref().map_or(String::new(), |c| format!("\nCgroup = {c}"));
    if r.unreserved {
        return Some(format!("Resources = none declared: no reservation, no limits{usage}{cgroup}\n"));
    }
    let mut asked = format!("cpu {} MHz, memory {} MB", r.cpu, r.memory);
    if let Some(m) = r.memory_max {
        asked.push_str(&format!(", memory_max {}", if m < 0 { "none".to_string() } else { format!("{m} MB") }));
    }
    if r.enforced.is_empty() {
        return Some(format!("Resources = {asked}; not enforced (no cgroup: see the node's warnings)\n"));
    }
    let mut enforced = Vec::new();
    if r.enforced.iter().any(|e| e == "memory") {
        enforced.push(format!("memory limit {}", r.memory_limit.map_or("none".into(), bytes)));
    }
    if let Some(q) = r.cpu_quota {
        enforced.push(format!("cpu quota {q} us per 100 ms"));
    } else if let Some(w) = r.cpu_weight {
        enforced.push(format!("cpu weight {w}"));
    }
    Some(format!("Resources = {asked}; {}{usage}{cgroup}\n", enforced.join(", ")))
}

/// `; using memory 12M, cpu time 0.31s`, or nothing when nothing is known.
pub(super) fn usage_detail(r: &supd::control::protocol::TaskResources) -> String {
    let mut usage = Vec::new();
    if let Some(m) = r.memory_usage {
        usage.push(format!("memory {}", bytes(m)));
    }
    if let Some(c) = r.cpu_seconds {
        usage.push(format!("cpu time {c:.2}s"));
    }
    if usage.is_empty() { String::new() } else { format!("; using {}", usage.join(", ")) }
}

/// One instance or task with its recent events, like `nomad alloc status`.
pub(super) fn render_detail(s: &Status) -> String {
    let mut out = String::new();
    for job in &s.jobs {
        for g in &job.groups {
            for i in &g.instances {
                let described = i.description.as_ref().map_or(String::new(), |d| format!(" ({d})"));
                out.push_str(&format!(
                    "Instance {} ({})\nID       = {}\nStatus   = {}{described}\n",
                    i.name, job.job_type, i.id, i.status
                ));
                if let Some(dir) = &i.alloc_dir {
                    out.push_str(&format!("Dir      = {dir}\n"));
                }
                if let Some(p) = &i.reschedule_policy {
                    out.push_str(&format!("Reschedule policy: {p}\n"));
                }
                if let Some(r) = &i.reschedule {
                    out.push_str(&render_reschedule(r));
                }
                for t in &i.tasks {
                    out.push_str(&format!(
                        "\nTask {:?} is {:?}{}\n",
                        t.name,
                        t.state,
                        if t.failed { " (failed)" } else { "" }
                    ));
                    let exit = match (&t.exit_code, &t.signal) {
                        (Some(c), _) => format!("exit code {c}"),
                        (None, Some(sig)) => format!("signal {sig}"),
                        _ => "-".into(),
                    };
                    out.push_str(&format!(
                        "PID = {}  Total Restarts = {}  Last Restart = {}  Started At = {}  Finished At = {}  Last Exit = {exit}\n",
                        t.pid.map_or("-".into(), |p| p.to_string()),
                        t.restarts,
                        t.last_restart.as_deref().unwrap_or("N/A"),
                        t.started_at.as_deref().unwrap_or("N/A"),
                        t.finished_at.as_deref().unwrap_or("N/A"),
                    ));
                    if let Some(p) = &t.restart_policy {
                        out.push_str(&format!("Restart policy: {p}\n"));
                    }
                    if let Some(line) = resources_detail(t) {
                        out.push_str(&line);
                    }
                    if let Some(c) = &t.container {
                        out.push_str(&format!("Image = {}  Container = {}\n", c.image, c.id.as_deref().unwrap_or("-")));
                    }
                    if !t.checks.is_empty() {
                        out.push_str("\nChecks:\n");
                        let mut rows = vec![vec!["Name".to_string(), "Type".into(), "Status".into(), "Output".into()]];
                        for c in &t.checks {
                            rows.push(vec![c.name.clone(), c.kind.clone(), c.status.clone(), c.output.clone()]);
                        }
                        out.push_str(&table(&rows));
                        for c in t.checks.iter().filter(|c| c.check_restart.is_some()) {
                            let p = c.check_restart.as_deref().unwrap_or_default();
                            out.push_str(&format!("Check restart ({}): {p}\n", c.name));
                        }
                    }
                    out.push_str("\nRecent Events:\n");
                    let mut rows = vec![vec!["Time".to_string(), "Type".into(), "Description".into()]];
                    for e in t.events.iter().rev() {
                        rows.push(vec![e.time.clone(), e.kind.clone(), e.message.clone()]);
                    }
                    out.push_str(&table(&rows));
                }
                out.push('\n');
            }
        }
    }
    out
}

/// What the peer that holds a handed-off instance last said: "running on
/// b (checked …)", "b unreachable since …: why", or "not asked yet".
pub(super) fn remote_summary(peer: &str, r: &supd::control::protocol::RemoteStatus) -> String {
    let said = match (&r.state, &r.checked) {
        (Some(state), Some(at)) => {
            let why = if r.message.is_empty() { String::new() } else { format!(": {}", r.message) };
            format!("{state} on {peer}{why} (it said so at {at})")
        }
        _ => format!("handed off to {peer}, not asked since"),
    };
    match (&r.unreachable_since, &r.unreachable) {
        (Some(since), Some(why)) => format!("{peer} unreachable since {since}: {why}; last heard: {said}"),
        _ => said,
    }
}

/// An instance's hand-off state and history, for the detail view.
pub(super) fn render_reschedule(r: &supd::control::protocol::RescheduleStatus) -> String {
    let mut out = String::new();
    let allowed = r.allowed.map_or("unlimited".to_string(), |a| a.to_string());
    out.push_str(&format!("Reschedule = {} ({} of {allowed} attempts used)", r.state, r.attempts));
    if let Some(to) = &r.handed_off_to {
        out.push_str(&format!(", handed off to {to}"));
    }
    if let Some(next) = &r.next {
        out.push_str(&format!(", next hand-off at {next}"));
    }
    out.push('\n');
    if let Some(from) = &r.received_from {
        out.push_str(&format!("Handed In From = {from}\n"));
    }
    if let Some(id) = &r.handoff_id {
        out.push_str(&format!("Hand-off ID = {}\n", show(id)));
    }
    if let (Some(remote), Some(to)) = (&r.remote, &r.handed_off_to) {
        out.push_str(&format!("On {to}    = {}\n", show(&remote_summary(to, remote))));
    }
    if let Some(reason) = &r.reason {
        out.push_str(&format!("Reason   = {reason}\n"));
    }
    if !r.history.is_empty() {
        out.push_str("\nHand-off History:\n");
        let mut rows = vec![["Attempt", "Time", "From", "To", "Delay", "Reason"].map(String::from).to_vec()];
        for h in &r.history {
            rows.push(vec![
                if h.attempt == 0 { "-".into() } else { h.attempt.to_string() },
                h.time.clone(),
                h.from.clone(),
                h.to.clone().unwrap_or_else(|| "-".into()),
                h.delay.clone(),
                h.reason.clone(),
            ]);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// Text from supd, a job file or a peer, safe to print: control and
/// invisible characters escaped (names are checked when a job is
/// submitted, but a terminal must not act on whatever comes).
pub(super) fn show(text: &str) -> std::borrow::Cow<'_, str> {
    supd::names::printable(text)
}

/// The same, keeping line breaks.
pub(super) fn show_lines(text: &str) -> String {
    text.split('\n').map(show).collect::<Vec<_>>().join("\n")
}

pub(super) fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows.iter().map(|r| r.iter().map(|c| show(c)).collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0)).collect();
    let mut out = String::with_capacity(rows.len() * (widths.iter().sum::<usize>() + 2 * cols + 1));
    for r in rows {
        let start = out.len();
        for (i, cell) in r.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let line = out[start..].trim_end().len();
        out.truncate(start + line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod uptime_tests {
    use super::uptime;

    #[test]
    fn the_up_column_shows_the_two_largest_units() {
        assert_eq!(uptime(0), "0s");
        assert_eq!(uptime(45), "45s");
        assert_eq!(uptime(12 * 60 + 3), "12m3s");
        assert_eq!(uptime(2 * 3600 + 5 * 60 + 59), "2h5m");
        assert_eq!(uptime(3 * 86_400 + 4 * 3600 + 1), "3d4h");
    }
}
