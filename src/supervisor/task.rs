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
    /// Boot time in clock ticks read just before the current process was
    /// made: with its pid, what identifies it after a restart of supd.
    pub start_ticks: Option<u64>,
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
            start_ticks: None,
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
    /// When its first task started here: how long it ran before failing
    /// decides the reschedule delay.
    pub placed_at: Option<std::time::Instant>,
    /// Its hand-off history, oldest first: brought along when it was handed
    /// to this host, and this host's own attempts.
    pub history: Vec<crate::handoff::HistoryEntry>,
    /// The node that handed it to this host.
    pub received_from: Option<String>,
    /// Where it stands with the reschedule policy once it has failed.
    pub resched: Resched,
    /// Bumped to cancel a scheduled hand-off.
    pub resched_gen: u64,
}

/// What the reschedule policy made of a failed instance.
#[derive(Debug, Default)]
pub enum Resched {
    /// Not failed, or not looked at yet.
    #[default]
    Idle,
    /// It stays failed: the policy, or no hand-off being configured, says so.
    Stay { reason: String, quiet: bool },
    /// A hand-off is due at this time, after this delay.
    Waiting { at: SystemTime, delay: std::time::Duration },
    /// Hooks are being run, one peer after the other.
    Trying(Box<Attempt>),
    /// A peer took it; it does not run here until an operator says so.
    HandedOff { peer: String, at: SystemTime },
}

/// One hand-off attempt in flight.
#[derive(Debug)]
pub struct Attempt {
    /// The delay waited before it.
    pub delay: std::time::Duration,
    /// Peers (indices into the configured peers) in the order to try;
    /// `None` is the command hook without a peer.
    pub order: Vec<Option<usize>>,
    pub pos: usize,
    /// The hook now running, and where its output goes.
    pub pid: Option<Pid>,
    pub output: Option<std::fs::File>,
    pub timed_out: bool,
    /// Each refusal so far: `peer: reason`.
    pub refusals: Vec<String>,
}

impl Instance {
    /// Nomad's client status (reference §5), or `handed off`.
    pub fn status(&self) -> &'static str {
        if matches!(self.resched, Resched::HandedOff { .. }) {
            "handed off"
        } else if self.tasks.iter().any(|t| t.state == State::Dead && t.failed) {
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
    /// Handed to this host by peers: only the instances they sent run.
    pub received: bool,
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
        } else if statuses.contains(&"handed off") {
            "handed off"
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
                        reschedule: reschedule_status(i, g.reschedule.as_ref()),
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

/// The instance's hand-off state, when there is anything to say.
fn reschedule_status(
    i: &Instance,
    policy: Option<&crate::jobspec::model::ReschedulePolicy>,
) -> Option<protocol::RescheduleStatus> {
    let (state, next, to, reason) = match &i.resched {
        Resched::Idle => ("none", None, None, None),
        Resched::Stay { quiet: true, .. } if i.history.is_empty() => return None,
        Resched::Stay { reason, .. } => ("stays failed", None, None, Some(reason.clone())),
        Resched::Waiting { at, .. } => ("waiting", Some(rfc3339(*at)), None, None),
        Resched::Trying(_) => ("handing off", None, None, None),
        Resched::HandedOff { peer, .. } => ("handed off", None, Some(peer.clone()), None),
    };
    if matches!(i.resched, Resched::Idle) && i.history.is_empty() {
        return None;
    }
    let events: Vec<_> = i.history.iter().filter_map(|h| h.to_policy().ok()).collect();
    let counted = match policy {
        Some(p) => crate::policy::reschedule::counted(p, &events, SystemTime::now()),
        None => events.len(),
    };
    Some(protocol::RescheduleStatus {
        state: state.to_string(),
        attempts: counted as u32,
        allowed: policy.filter(|p| !p.unlimited).map(|p| p.attempts),
        next,
        handed_off_to: to,
        received_from: i.received_from.clone(),
        reason,
        history: i.history.clone(),
    })
}

fn task_status(inst: &Instance, ti: usize, t: &TaskRun) -> protocol::TaskStatus {
    let (exit_code, signal) = match t.exit {
        Some(Exit::Code(c)) => (Some(c), None),
        Some(Exit::Signal(s, _)) => (None, Some(crate::process::signal_name(s))),
        None => (None, None),
    };
    protocol::TaskStatus {
        name: t.spec.name.clone(),
        hook: t.hook().map(|h| h.as_str().to_string()),
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

pub use crate::timefmt::rfc3339;
