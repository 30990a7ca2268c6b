//! What `status` prints: the table (jobs, instances, tasks, the node's
//! resources), fitted to the terminal, and the detail view of instances.

use super::*;

/// One line per task: the view an operator scans first.
pub(super) fn render_table(s: &Status) -> String {
    let mut rows = vec![
        ["INSTANCE", "TASK", "STATE", "HEALTH", "PID", "RESTARTS", "MEMORY", "CPU", "LAST EVENT"]
            .map(String::from)
            .to_vec(),
    ];
    for job in &s.jobs {
        for g in &job.groups {
            for i in &g.instances {
                for t in &i.tasks {
                    let last = t.events.last().map_or(String::new(), |e| {
                        if e.message.is_empty() { e.kind.clone() } else { format!("{}: {}", e.kind, e.message) }
                    });
                    let state = match i.reschedule.as_ref().and_then(|r| r.handed_off_to.as_ref()) {
                        Some(peer) if i.status == "handed off" => format!("handed off to {peer}"),
                        _ => task_state(t),
                    };
                    rows.push(vec![
                        i.name.clone(),
                        t.name.clone(),
                        state,
                        t.health.clone().unwrap_or_else(|| "-".into()),
                        t.pid.map_or("-".into(), |p| p.to_string()),
                        t.restarts.to_string(),
                        memory_cell(t),
                        cpu_cell(t),
                        last,
                    ]);
                }
            }
        }
    }
    let mut out = String::new();
    out.push_str(&format!("node {} ({}): {} job(s)\n", s.node.name, s.node.datacenter, s.jobs.len()));
    out.push_str(&node_resources(s));
    out.push_str(&job_lines(s));
    if rows.len() > 1 {
        out.push('\n');
        if let Some(width) = terminal_width() {
            trim_last_column(&mut rows, width);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// One line per job; a periodic job's schedule and launched runs under it
/// (a run is listed there, not on a line of its own, when its job is).
pub(super) fn job_lines(s: &Status) -> String {
    let listed: Vec<&str> = s.jobs.iter().map(|j| j.name.as_str()).collect();
    let mut out = String::new();
    for j in &s.jobs {
        if j.parent.as_deref().is_some_and(|p| listed.contains(&p)) {
            continue;
        }
        out.push_str(&format!("  {} ({}) {}\n", j.name, j.job_type, j.status));
        if let Some(p) = &j.parameterized {
            out.push_str(&parameterized_lines(p));
        }
        let Some(p) = &j.periodic else { continue };
        let next = match (&p.next_launch, p.enabled) {
            (Some(t), _) => format!("next launch {t}"),
            (None, false) => "not enabled".to_string(),
            (None, true) if j.status == "dead" => "stopped".to_string(),
            (None, true) => "no launch to come".to_string(),
        };
        let overlap = if p.prohibit_overlap { ", prohibit_overlap" } else { "" };
        out.push_str(&format!("    periodic {:?} ({}{overlap}): {next}\n", p.crons.join(", "), p.time_zone));
        for l in &p.launched {
            out.push_str(&format!("    {} {}\n", l.id, l.status));
        }
    }
    out
}

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

/// The node's cgroups, capacity and what is not enforced.
pub(super) fn node_resources(s: &Status) -> String {
    let n = &s.node;
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

/// `12.3M/256M`: memory in use and the hard limit; `-` for a task with no
/// process, which holds no memory whatever its limit was.
pub(super) fn memory_cell(t: &TaskStatus) -> String {
    let Some(r) = &t.resources else { return "-".into() };
    if t.state != "running" {
        return "-".into();
    }
    if r.unreserved {
        return format!("{} (unreserved)", r.memory_usage.map_or("-".into(), bytes));
    }
    if !r.enforced.iter().any(|e| e == "memory") {
        return format!("{}M (no limit)", r.memory);
    }
    let used = r.memory_usage.map_or("-".into(), bytes);
    format!("{used}/{}", r.memory_limit.map_or("-".into(), bytes))
}

/// `1.2s/500MHz`: cpu time of the current run, and the task's MHz.
pub(super) fn cpu_cell(t: &TaskStatus) -> String {
    let Some(r) = &t.resources else { return "-".into() };
    if r.unreserved {
        return format!("{} (unreserved)", r.cpu_seconds.map_or("-".into(), |s| format!("{s:.1}s")));
    }
    if !r.enforced.iter().any(|e| e == "cpu") {
        return format!("{}MHz (no limit)", r.cpu);
    }
    let used = r.cpu_seconds.map_or("-".into(), |s| format!("{s:.1}s"));
    format!("{used}/{}MHz", r.cpu)
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

pub(super) fn task_state(t: &TaskStatus) -> String {
    match (t.state.as_str(), t.failed) {
        ("dead", true) => "dead (failed)".into(),
        (s, _) => s.to_string(),
    }
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
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| show(c).into_owned()).collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| if i + 1 == r.len() { cell.clone() } else { format!("{cell:<w$}", w = widths[i]) })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
