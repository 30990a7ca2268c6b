//! `job run` waits, as Nomad's `job run` monitors its deployment: until
//! every task of the submitted jobs has run for a second (and passes its
//! checks) or has completed — exit 0 — or one has failed — exit 1, naming
//! it and why — or the time allowed is up. Each task's state is printed when it
//! changes.

use super::client_error;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use supd::control::client::Connection;
use supd::control::protocol::{Request, TaskStatus};

/// How often the status is asked.
const EVERY: Duration = Duration::from_millis(250);

/// How long a run must have lasted for its task to count as up: a task
/// that fails at once is not up because a status caught it running (as
/// Nomad's deployment waits `min_healthy_time` before it calls an
/// allocation healthy).
const MIN_UP_SECS: u64 = 1;

/// The task is up (running and healthy, or completed), and a running one
/// has run for [`MIN_UP_SECS`].
fn settled_up(t: &TaskStatus) -> bool {
    t.up() && (t.state != "running" || t.uptime.unwrap_or(0) >= MIN_UP_SECS)
}

/// A task's state as the progress lines show it.
fn shown(t: &TaskStatus) -> String {
    match (t.state.as_str(), t.health.as_deref()) {
        ("dead", _) if t.failed => "failed".to_string(),
        ("dead", _) if t.exit_code == Some(0) => "completed".to_string(),
        ("running", Some(h)) => format!("running, {h}"),
        (state, _) => state.to_string(),
    }
}

pub(super) fn until_up(socket: &Path, jobs: &[String], limit: Duration) -> ExitCode {
    let deadline = Instant::now() + limit;
    let mut seen: HashMap<String, String> = HashMap::new();
    loop {
        let mut waiting = Vec::new();
        let mut failed = Vec::new();
        for job in jobs {
            let request = Request::Status { target: Some(job.clone()), events: Some(1), brief: false };
            let status = match Connection::call(socket, request) {
                Ok(r) if r.ok => r.status,
                Ok(r) => {
                    eprintln!("supctl: {}", r.error.unwrap_or_default());
                    return ExitCode::from(1);
                }
                Err(e) => return client_error(e),
            };
            // A stopped job, or one that launches others: nothing to wait for.
            for j in status.iter().flat_map(|s| &s.jobs).filter(|j| j.status != "dead") {
                for i in j.groups.iter().flat_map(|g| &g.instances).filter(|i| i.status != "handed off") {
                    for t in &i.tasks {
                        let label = format!("{}/{}", i.name, t.name);
                        let now = shown(t);
                        if seen.get(&label) != Some(&now) {
                            println!("  {label}: {now}");
                            seen.insert(label.clone(), now.clone());
                        }
                        if t.failed {
                            let why = t.events.last().map_or(String::new(), |e| format!(": {}: {}", e.kind, e.message));
                            failed.push(format!("{label} failed{why}"));
                        } else if !settled_up(t) {
                            // What holds it, as its last event says (a
                            // failing check, a variable not written yet).
                            let why = t.events.last().map_or(String::new(), |e| format!(": {}: {}", e.kind, e.message));
                            waiting.push(format!("{label} ({now}{why})"));
                        }
                    }
                }
            }
        }
        if !failed.is_empty() {
            for f in failed {
                eprintln!("supctl: {f}");
            }
            return ExitCode::from(1);
        }
        if waiting.is_empty() {
            println!("every task is up");
            return ExitCode::SUCCESS;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "supctl: not up after {} s: {} — supd goes on with them (`supctl status` shows them; --wait allows longer)",
                limit.as_secs(),
                waiting.join("; ")
            );
            return ExitCode::from(1);
        }
        std::thread::sleep(EVERY);
    }
}
