//! The runtime state of instances and tasks, their events, and the status
//! Nomad derives from them (reference §5). Plain data: the supervisor's
//! loop is what changes it.

use crate::control::protocol;
use crate::jobspec::model::{Hook, Job, Task};
use crate::policy::restart::{Outcome, RestartTracker};
use crate::process::Exit;
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

static EVENT_SEQ: AtomicU64 = AtomicU64::new(0);

/// The sequence number of the newest event of any task.
pub fn last_event_seq() -> u64 {
    EVENT_SEQ.load(Ordering::Relaxed)
}

/// Events kept per task.
pub const MAX_EVENTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Running,
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Dead => "dead",
        }
    }
}

/// What to do once a task that is being stopped has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Stay dead (job stop, sibling failure, shutdown).
    Killed,
    /// Ask the restart policy, with this outcome.
    Restart(Outcome),
}

#[derive(Debug, Clone)]
pub struct TaskEvent {
    /// Orders events across tasks, for streaming them.
    pub seq: u64,
    pub time: SystemTime,
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug)]
pub struct TaskRun {
    pub spec: Task,
    pub state: State,
    pub failed: bool,
    pub pid: Option<Pid>,
    pub restarts: u32,
    pub last_restart: Option<SystemTime>,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub exit: Option<Exit>,
    pub tracker: RestartTracker,
    pub events: VecDeque<TaskEvent>,
    /// Bumped to cancel the task's pending timers.
    pub generation: u64,
    /// Started at least once, or a start is scheduled.
    pub launched: bool,
    /// Set while a stop is in progress.
    pub stopping: Option<After>,
    /// The capture of its output, kept across restarts.
    pub log: Option<super::output::TaskLog>,
    /// It ended because supd itself was stopping: a later supd starts it
    /// again, unlike a task that completed or failed.
    pub ended_by_shutdown: bool,
    /// A process of this task that a previous supd left running: the task
    /// does not start until it is gone.
    pub leftover: Option<Pid>,
    /// Its cgroup: made before its first start, kept across restarts,
    /// removed once it is dead for good.
    pub cgroup: Option<crate::process::cgroup::TaskCgroup>,
    /// What its cgroup enforced, kept for `status` after it is removed.
    pub limits: Option<crate::process::cgroup::Limits>,
}

impl TaskRun {
    pub fn new(spec: Task, tracker: RestartTracker) -> TaskRun {
        TaskRun {
            spec,
            state: State::Pending,
            failed: false,
            pid: None,
            restarts: 0,
            last_restart: None,
            started_at: None,
            finished_at: None,
            exit: None,
            tracker,
            events: VecDeque::new(),
            generation: 0,
            launched: false,
            stopping: None,
            log: None,
            ended_by_shutdown: false,
            leftover: None,
            cgroup: None,
            limits: None,
        }
    }

    pub fn hook(&self) -> Option<Hook> {
        self.spec.lifecycle.map(|l| l.hook)
    }

    pub fn sidecar(&self) -> bool {
        self.spec.lifecycle.is_some_and(|l| l.sidecar)
    }

    /// A task with no lifecycle hook.
    pub fn is_main(&self) -> bool {
        self.spec.lifecycle.is_none()
    }

    pub fn push_event(&mut self, kind: &'static str, message: String) -> TaskEvent {
        let seq = EVENT_SEQ.fetch_add(1, Ordering::Relaxed) + 1;
        let e = TaskEvent { seq, time: SystemTime::now(), kind, message };
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e.clone());
        e
    }
}

#[derive(Debug)]
pub struct Instance {
    pub group: usize,
    pub index: u32,
    /// Unique per instance, like Nomad's allocation ID.
    pub id: String,
    /// `job.group[index]`
    pub name: String,
    pub tasks: Vec<TaskRun>,
    /// Set once the instance is being torn down (stop, sibling failure,
    /// leader death, shutdown): nothing is restarted any more.
    pub winding_down: bool,
    /// Ports chosen for this instance: (label, port).
    pub ports: Vec<(String, u16)>,
    /// The health checks of its services (task and group ones).
    pub checks: Vec<super::health::CheckRun>,
}

impl Instance {
    /// Nomad's client status (reference §5).
    pub fn status(&self) -> &'static str {
        if self.tasks.iter().any(|t| t.state == State::Dead && t.failed) {
            "failed"
        } else if self.tasks.iter().any(|t| t.state == State::Running) {
            "running"
        } else if self.tasks.iter().any(|t| t.state == State::Pending) {
            "pending"
        } else {
            "complete"
        }
    }

    /// Whether any task still has a process or a scheduled start.
    pub fn is_live(&self) -> bool {
        self.tasks.iter().any(|t| t.pid.is_some() || (t.state == State::Pending && t.launched))
    }
}

#[derive(Debug)]
pub struct JobRun {
    pub serial: u64,
    pub job: Job,
    /// The job file it came from, or `None` when submitted with `job run`.
    pub file: Option<String>,
    /// The name it was submitted under (the file, or what supctl named it).
    pub origin: String,
    pub instances: Vec<Instance>,
    /// The operator stopped it, or a newer version replaced it.
    pub stopped: bool,
    /// The version this one replaces: nothing starts until its processes
    /// are gone, so that the two never hold the same ports at once.
    pub replaces: Option<u64>,
}

impl JobRun {
    pub fn status(&self) -> &'static str {
        let statuses: Vec<&str> = self.instances.iter().map(Instance::status).collect();
        if self.stopped && !self.instances.iter().any(Instance::is_live) {
            "dead"
        } else if statuses.contains(&"failed") {
            "failed"
        } else if statuses.contains(&"running") {
            "running"
        } else if statuses.contains(&"pending") {
            "pending"
        } else {
            "complete"
        }
    }

    pub fn to_status(&self, filter: &dyn Fn(&Instance, Option<&TaskRun>) -> bool) -> protocol::JobStatus {
        let groups = self
            .job
            .groups
            .iter()
            .enumerate()
            .map(|(gi, g)| protocol::GroupStatus {
                name: g.name.clone(),
                instances: self
                    .instances
                    .iter()
                    .filter(|i| i.group == gi && filter(i, None))
                    .map(|i| protocol::InstanceStatus {
                        index: i.index,
                        name: i.name.clone(),
                        id: i.id.clone(),
                        status: i.status().to_string(),
                        tasks: i
                            .tasks
                            .iter()
                            .enumerate()
                            .filter(|(_, t)| filter(i, Some(t)))
                            .map(|(ti, t)| task_status(i, ti, t))
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        protocol::JobStatus {
            name: self.job.id.clone(),
            job_type: self.job.job_type.as_str().to_string(),
            status: self.status().to_string(),
            file: self.file.clone(),
            groups,
        }
    }
}

fn task_status(inst: &Instance, ti: usize, t: &TaskRun) -> protocol::TaskStatus {
    let (exit_code, signal) = match t.exit {
        Some(Exit::Code(c)) => (Some(c), None),
        Some(Exit::Signal(s, _)) => (None, Some(crate::process::signal_name(s))),
        None => (None, None),
    };
    protocol::TaskStatus {
        name: t.spec.name.clone(),
        state: t.state.as_str().to_string(),
        failed: t.failed,
        pid: t.pid.map(|p| p.as_raw()),
        restarts: t.restarts,
        exit_code,
        signal,
        health: super::health::task_health(inst, ti).map(|s| s.as_str().to_string()),
        checks: inst
            .checks
            .iter()
            .filter(|c| c.task == ti)
            .map(|c| protocol::CheckState {
                name: c.spec.name.clone(),
                kind: c.spec.kind.type_name().to_string(),
                status: if c.active { c.status.as_str().to_string() } else { "inactive".to_string() },
                output: c.output.clone(),
            })
            .collect(),
        started_at: t.started_at.map(rfc3339),
        finished_at: t.finished_at.map(rfc3339),
        last_restart: t.last_restart.map(rfc3339),
        events: t.events.iter().map(event).collect(),
        resources: Some(super::resources::task_resources(t)),
    }
}

pub fn event(e: &TaskEvent) -> protocol::Event {
    protocol::Event { time: rfc3339(e.time), kind: e.kind.to_string(), message: e.message.clone() }
}

/// `2026-11-28T05:06:07.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64, ms: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_838_767, 250), "2026-11-28T04:06:07.250Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }
}
