//! `supctl status` as a table: one line per task. supd is asked for a
//! brief status (`Request::Status::brief`: only what the table shows),
//! and its answer is read into the types below, which hold only what the
//! table shows and borrow their text from the answer line: the status of
//! a thousand tasks is not made into a tree of owned strings only to be
//! read once.

use super::render::{bytes, parameterized_lines, table, terminal_width, trim_last_column};
use super::{client_error, show_lines};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use supd::control::client::{ClientError, Connection};
use supd::control::protocol::{NodeStatus, ParameterizedStatus, PeriodicStatus, Request};

type Text<'a> = Cow<'a, str>;

/// The answer line (`protocol::Response`), as far as the table reads it.
#[derive(Deserialize)]
struct Answer<'a> {
    ok: bool,
    #[serde(default, borrow)]
    error: Option<Text<'a>>,
    #[serde(default, borrow)]
    messages: Vec<Text<'a>>,
    #[serde(default, borrow)]
    status: Option<Status<'a>>,
}

/// `protocol::Status`, as far as the table shows it.
#[derive(Deserialize)]
pub(super) struct Status<'a> {
    node: NodeStatus,
    #[serde(borrow)]
    jobs: Jobs<'a>,
}

/// The jobs, read one at a time: each job's tasks become the table's rows
/// as it is read, and only its own line is kept (the status of a thousand
/// tasks is never held as a whole).
struct Jobs<'a> {
    heads: Vec<Head<'a>>,
    rows: Vec<Vec<String>>,
    /// Every task is up (`protocol::Status::all_up`).
    up: bool,
}

/// What a job's own line shows.
struct Head<'a> {
    name: Text<'a>,
    job_type: Text<'a>,
    status: Text<'a>,
    periodic: Option<Box<PeriodicStatus>>,
    parameterized: Option<Box<ParameterizedStatus>>,
    parent: Option<Text<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Jobs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Jobs<'a>, D::Error> {
        struct Each<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Each<'a> {
            type Value = Jobs<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of jobs")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Jobs<'a>, A::Error> {
                let mut jobs = Jobs { heads: Vec::new(), rows: vec![header()], up: true };
                while let Some(job) = seq.next_element::<Job<'a>>()? {
                    jobs.add(job);
                }
                Ok(jobs)
            }
        }
        d.deserialize_seq(Each(std::marker::PhantomData))
    }
}

fn header() -> Vec<String> {
    ["INSTANCE", "TASK", "STATE", "HEALTH", "PID", "UP", "RESTARTS", "MEMORY", "CPU", "LAST EVENT"]
        .map(String::from)
        .to_vec()
}

impl<'a> Jobs<'a> {
    /// One job: its tasks' rows, and its line.
    fn add(&mut self, job: Job<'a>) {
        for i in job.groups.iter().flat_map(|g| &g.instances) {
            for t in &i.tasks {
                self.up &= t.up();
                self.rows.push(row(i, t));
            }
        }
        let Job { name, job_type, status, periodic, parameterized, parent, .. } = job;
        self.heads.push(Head { name, job_type, status, periodic, parameterized, parent });
    }
}

#[derive(Deserialize)]
struct Job<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(rename = "type", borrow)]
    job_type: Text<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    #[serde(borrow)]
    groups: Vec<Group<'a>>,
    /// Boxed, as they are rare: the jobs are smaller.
    #[serde(default)]
    periodic: Option<Box<PeriodicStatus>>,
    #[serde(default)]
    parameterized: Option<Box<ParameterizedStatus>>,
    #[serde(default, borrow)]
    parent: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Group<'a> {
    #[serde(borrow)]
    instances: Vec<Instance<'a>>,
}

#[derive(Deserialize)]
struct Instance<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    #[serde(default, borrow)]
    reschedule: Option<Reschedule<'a>>,
    #[serde(borrow)]
    tasks: Vec<Task<'a>>,
}

#[derive(Deserialize)]
struct Reschedule<'a> {
    #[serde(default, borrow)]
    handed_off_to: Option<Text<'a>>,
    #[serde(default, borrow)]
    remote: Option<RemoteView<'a>>,
}

#[derive(Deserialize)]
struct RemoteView<'a> {
    #[serde(default, borrow)]
    state: Option<Text<'a>>,
    #[serde(default, borrow)]
    unreachable: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Task<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(default, borrow)]
    hook: Option<Text<'a>>,
    #[serde(borrow)]
    state: Text<'a>,
    failed: bool,
    pid: Option<i32>,
    #[serde(default)]
    uptime: Option<u64>,
    restarts: u32,
    exit_code: Option<i32>,
    #[serde(default, borrow)]
    health: Option<Text<'a>>,
    #[serde(borrow)]
    events: Vec<Event<'a>>,
    #[serde(default, borrow)]
    resources: Option<Resources<'a>>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Text<'a>,
    #[serde(borrow)]
    message: Text<'a>,
}

#[derive(Deserialize)]
struct Resources<'a> {
    cpu: u32,
    memory: u32,
    #[serde(default)]
    unreserved: bool,
    #[serde(borrow)]
    enforced: Vec<Text<'a>>,
    #[serde(default)]
    memory_limit: Option<u64>,
    #[serde(default)]
    memory_usage: Option<u64>,
    #[serde(default)]
    cpu_seconds: Option<f64>,
}

impl Task<'_> {
    /// As `protocol::TaskStatus::up`.
    fn up(&self) -> bool {
        supd::control::protocol::task_up(
            &self.state,
            self.health.as_deref(),
            self.failed,
            self.exit_code,
            self.hook.as_deref(),
        )
    }
}

/// Asks for the status and prints it as the table; exits as `status` does.
pub(super) fn status_table(socket: &Path, target: Option<String>) -> ExitCode {
    let ask = |brief| Connection::call_raw(socket, Request::Status { target: target.clone(), events: Some(1), brief });
    let mut line = match ask(true) {
        Ok(l) => l,
        Err(e) => return client_error(e),
    };
    // A supd from before `brief` (running on after an upgrade) refuses it:
    // it is asked for the whole status, which reads the same.
    let older = serde_json::from_str::<Answer>(&line)
        .is_ok_and(|a| !a.ok && a.error.is_some_and(|e| e.contains("unknown field `brief`")));
    if older {
        line = match ask(false) {
            Ok(l) => l,
            Err(e) => return client_error(e),
        };
    }
    let answer: Answer = match serde_json::from_str(&line) {
        Ok(a) => a,
        Err(e) => return client_error(ClientError::Protocol(format!("unreadable answer from supd: {e}"))),
    };
    if !answer.ok {
        eprintln!("supctl: {}", show_lines(answer.error.as_deref().unwrap_or("refused")));
        return ExitCode::from(1);
    }
    let Some(s) = answer.status else {
        for m in &answer.messages {
            println!("{}", show_lines(m));
        }
        return ExitCode::SUCCESS;
    };
    for m in &answer.messages {
        eprintln!("{}", show_lines(m));
    }
    let up = s.jobs.up;
    let (head, rows) = render_table(s);
    let mut out = std::io::stdout().lock();
    // The table's cells are shown (`render::table`) already.
    let _ = out.write_all(show_lines(&head).as_bytes()).and_then(|()| out.write_all(rows.as_bytes()));
    let _ = out.flush();
    let code = if up { ExitCode::SUCCESS } else { ExitCode::from(4) };
    // supctl exits now: the kernel takes back the memory at once, instead
    // of it being freed piece by piece.
    std::mem::forget(rows);
    std::mem::forget(line);
    code
}

/// One line per task: the view an operator scans first. The lines above
/// the table (node, jobs), and the table.
pub(super) fn render_table(s: Status) -> (String, String) {
    let Status { node, jobs } = s;
    let mut out = String::new();
    out.push_str(&format!("node {} ({}): {} job(s)", node.name, node.datacenter, jobs.heads.len()));
    if let (Some(v), Some(up)) = (&node.supd_version, node.supd_uptime) {
        out.push_str(&format!(", supd {v} up {}", super::render::uptime(up)));
    }
    out.push('\n');
    out.push_str(&super::render::node_resources(&node));
    out.push_str(&job_lines(&jobs.heads));
    let mut rows = jobs.rows;
    if rows.len() == 1 {
        return (out, String::new());
    }
    out.push('\n');
    if let Some(width) = terminal_width() {
        trim_last_column(&mut rows, width);
    }
    (out, table(&rows))
}

/// A task's row.
fn row(i: &Instance, t: &Task) -> Vec<String> {
    let last = t.events.last().map_or(String::new(), |e| {
        if e.message.is_empty() { e.kind.to_string() } else { format!("{}: {}", e.kind, e.message) }
    });
    let r = i.reschedule.as_ref();
    let state = match r.and_then(|r| r.handed_off_to.as_ref()) {
        Some(peer) if i.status == "handed off" => match r.and_then(|r| r.remote.as_ref()) {
            Some(x) if x.unreachable.is_some() => format!("handed off to {peer} (unreachable)"),
            Some(x) => match x.state.as_ref().map(|s| s.as_ref()) {
                Some(s @ ("running" | "pending" | "complete" | "failed" | "stopped")) => format!("{s} on {peer}"),
                Some("unknown") => format!("lost on {peer}"),
                _ => format!("handed off to {peer}"),
            },
            None => format!("handed off to {peer}"),
        },
        _ => task_state(t),
    };
    vec![
        i.name.to_string(),
        t.name.to_string(),
        state,
        t.health.as_deref().unwrap_or("-").to_string(),
        t.pid.map_or("-".into(), |p| p.to_string()),
        t.uptime.map_or("-".into(), super::render::uptime),
        t.restarts.to_string(),
        memory_cell(t),
        cpu_cell(t),
        last,
    ]
}

/// One line per job; a periodic job's schedule and launched runs under it
/// (a run is listed there, not on a line of its own, when its job is).
fn job_lines(jobs: &[Head]) -> String {
    let listed: std::collections::HashSet<&str> = jobs.iter().map(|j| &*j.name).collect();
    let mut out = String::new();
    for j in jobs {
        if j.parent.as_deref().is_some_and(|p| listed.contains(p)) {
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

/// `12.3M/256M`: memory in use and the hard limit; `-` for a task with no
/// process, which holds no memory whatever its limit was.
fn memory_cell(t: &Task) -> String {
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
fn cpu_cell(t: &Task) -> String {
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

fn task_state(t: &Task) -> String {
    match (&*t.state, t.failed) {
        ("dead", true) => "dead (failed)".into(),
        (s, _) => s.to_string(),
    }
}
