//! The model: the runtime state of jobs, instances, tasks and their health
//! checks, their events, and the status Nomad derives from them (reference
//! §5). A leaf: it imports nothing of the supervisor's other files but
//! `identity.rs` (a leaf too), and they all read and change it; `status`
//! renders it for `supctl`.

pub use super::event::EventKind;
use super::identity::{HandedIn, Launch};
use crate::checks::Probe;
use crate::jobspec::model::{Check, CheckStatus, Hook, Job, Task};
use crate::logs::Capture;
use crate::policy::check_restart::CheckWatch;
use crate::policy::restart::{Outcome, RestartTracker};
use crate::process::Exit;
use mio::Token;
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

static EVENT_SEQ: AtomicU64 = AtomicU64::new(0);

/// The sequence number of the newest event of any task.
pub fn last_event_seq() -> u64 {
    EVENT_SEQ.load(Ordering::Relaxed)
}

/// Carries on numbering events after the newest one an earlier image of
/// supd made (`daemon-reexec`).
pub fn resume_event_seq(newest: u64) {
    EVENT_SEQ.fetch_max(newest, Ordering::Relaxed);
}

/// Events kept per task.
pub const MAX_EVENTS: usize = 10;

/// Identifies one task of one instance of one job version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskKey {
    pub run: u64,
    pub inst: usize,
    pub task: usize,
}

/// Identifies one health check of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckKey {
    pub run: u64,
    pub inst: usize,
    pub check: usize,
}

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

/// An instance's status: Nomad's client status (reference §5), or handed
/// off to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStatus {
    Pending,
    Running,
    Complete,
    Failed,
    HandedOff,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Pending => "pending",
            InstanceStatus::Running => "running",
            InstanceStatus::Complete => "complete",
            InstanceStatus::Failed => "failed",
            InstanceStatus::HandedOff => "handed off",
        }
    }
}

/// A job's status, from its instances': `dead` once stopped and nothing of
/// it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Complete,
    Failed,
    HandedOff,
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Complete => "complete",
            JobStatus::Failed => "failed",
            JobStatus::HandedOff => "handed off",
            JobStatus::Dead => "dead",
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
    pub kind: EventKind,
    /// Most messages are fixed texts, kept without a copy of their own.
    pub message: std::borrow::Cow<'static, str>,
}

#[derive(Debug)]
pub struct TaskRun {
    pub spec: std::sync::Arc<Task>,
    /// What the state file or the journal last recorded of this task in
    /// full (the tracker's [`added`](RestartTracker::added) mark then, and
    /// a digest of its cgroups and directory): the next journal record only
    /// appends to it. `None` until then, and after a full save that did not
    /// include the task.
    pub journaled: std::cell::Cell<Option<(u64, u64)>>,
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
    pub log: Option<TaskLog>,
    /// It ended because supd itself was stopping: a later supd starts it
    /// again, unlike a task that completed or failed.
    pub ended_by_shutdown: bool,
    /// A process of this task that a previous supd left running: the task
    /// does not start until it is gone.
    pub leftover: Option<Pid>,
    /// Its cgroup: made before its first start, kept across restarts,
    /// removed once it is dead for good.
    pub cgroup: Option<crate::process::cgroup::TaskCgroup>,
    /// What its cgroup enforced, kept for `status` after it is removed
    /// (while it is there, its own).
    pub limits: Option<Box<crate::process::cgroup::Limits>>,
    /// Why it is being stopped, when not for the usual reasons: the message
    /// of its `Killing` event (Nomad's display message).
    pub kill_reason: Option<&'static str>,
    /// Its directory, artifacts and templates (setup.rs).
    pub setup: Setup,
    /// Its container while one is being started or runs (container
    /// drivers only).
    pub container: Option<Box<Container>>,
    /// What an earlier image of supd, or a previous supd, left of its run
    /// for this one to take over, until it is (right after the task is
    /// made).
    pub take_over: Option<Box<TakeOver>>,
    /// A container task made while its engine's survey was awaited, whose
    /// previous supd saw it not dead: the container it may have left is
    /// claimed once the survey answers (with the time after which an
    /// ended one is its run's).
    pub claim: Option<Option<std::time::SystemTime>>,
}

/// A task's run that this supd takes over instead of starting one.
#[derive(Debug)]
pub enum TakeOver {
    /// Its process runs (`pid`, `started_at` and the rest are set).
    Running {
        /// Still supd's child (the same process re-executed): its end is
        /// reaped. Otherwise a pidfd tells of it, and how it ended is
        /// unknown.
        child: bool,
        /// Its capture pipes (read end, write end) of stdout and stderr,
        /// as the earlier image held them.
        pipes: Option<[std::os::fd::OwnedFd; 4]>,
        /// Its cgroup's directories.
        cgroups: Vec<std::path::PathBuf>,
        /// The event that says so.
        event: (EventKind, String),
    },
    /// Its next start was due after this long (a restart's delay).
    StartIn(std::time::Duration),
}

/// Where a task stands with its pre-start stage: the task directory,
/// artifacts (fetched once), templates (rendered before every start).
#[derive(Debug, Default)]
pub struct Setup {
    /// `Task Setup` has been told and the directory made once.
    pub built: bool,
    /// Every artifact is in.
    pub fetched: bool,
    /// Artifacts are being fetched off the loop: the task is pending, not
    /// running, until they are in (a stop cancels the fetch).
    pub fetching: Option<crate::taskdir::artifact::FetchHandle>,
    /// Its start waits for the cgroup core to be warm (`warm.rs`): the
    /// generation it was asked with.
    pub warming: Option<u64>,
    /// What its templates and payload stand at (`None` until the first
    /// render: most tasks have none, and this is kept per task).
    pub templating: Option<Box<Templating>>,
    /// Starts in a row that found the task's container engine unreachable
    /// (none spends a restart attempt).
    pub engine_waits: u32,
}

impl Setup {
    /// Where its templates stand (nothing rendered when none ever was).
    pub fn tpl(&self) -> &Templating {
        static NONE: Templating = Templating {
            rendering: None,
            rendered: None,
            missing: None,
            again: std::collections::BTreeMap::new(),
            env: Vec::new(),
            once: std::collections::BTreeMap::new(),
        };
        self.templating.as_deref().unwrap_or(&NONE)
    }

    /// The same, to change.
    pub fn tpl_mut(&mut self) -> &mut Templating {
        self.templating.get_or_insert_default()
    }
}

/// Where a task's templates and payload stand.
#[derive(Debug, Default)]
pub struct Templating {
    /// They are being written off the loop for this generation
    /// (`rendering.rs`): the task is pending until they are.
    pub rendering: Option<u64>,
    /// What that work wrote, for the start of this generation.
    pub rendered: Option<(u64, Vec<Written>)>,
    /// Its start waits for these Nomad Variables to be written (the
    /// generation it was asked with, the paths): a `var put` of one
    /// renders again, without spending a restart attempt.
    pub missing: Option<(u64, Vec<String>)>,
    /// Templates of the running task being rendered again, by index:
    /// whether a change came meanwhile (rendered once more after).
    pub again: std::collections::BTreeMap<usize, bool>,
    /// What the `env = true` templates set, as last rendered.
    pub env: Vec<(String, String)>,
    /// The `once` templates rendered (by index), with what each set in
    /// the environment: they are not rendered again.
    pub once: std::collections::BTreeMap<usize, Vec<(String, String)>>,
}

/// One template written.
#[derive(Debug)]
pub struct Written {
    pub index: usize,
    pub path: std::path::PathBuf,
    /// The file's content differs from what it was.
    pub changed: bool,
    /// With `env = true`: what it sets.
    pub env: Vec<(String, String)>,
    /// Its `source` file, to watch.
    pub source: Option<std::path::PathBuf>,
}

/// The container of a container task's current run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The engine's id, once created and started.
    pub id: Option<String>,
    pub image: String,
    /// The task's generation its start was asked with: a report for
    /// another one is about a run that was given up.
    pub generation: u64,
    /// The engine said the kernel killed it for memory.
    pub oom_killed: bool,
    /// Adopted from a previous supd; its output is not followed yet.
    pub adopted: bool,
}

impl TaskRun {
    pub fn new(spec: std::sync::Arc<Task>, tracker: RestartTracker) -> TaskRun {
        TaskRun {
            spec,
            journaled: std::cell::Cell::new(None),
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
            kill_reason: None,
            setup: Setup::default(),
            container: None,
            take_over: None,
            claim: None,
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

    pub fn push_event(&mut self, kind: EventKind, message: impl Into<std::borrow::Cow<'static, str>>) -> TaskEvent {
        self.push_event_at(kind, message, SystemTime::now())
    }

    /// An event that happened at `time` (the core's steps are given their time).
    pub fn push_event_at(
        &mut self,
        kind: EventKind,
        message: impl Into<std::borrow::Cow<'static, str>>,
        time: SystemTime,
    ) -> TaskEvent {
        let seq = EVENT_SEQ.fetch_add(1, Ordering::Relaxed) + 1;
        let message = match message.into() {
            // An event may be kept long: a made message keeps no spare room.
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_boxed_str().into_string()),
            fixed => fixed,
        };
        let e = TaskEvent { seq, time, kind, message };
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
    pub ports: thin_vec::ThinVec<(String, u16)>,
    /// The health checks of its services (task and group ones).
    pub checks: thin_vec::ThinVec<CheckRun>,
    /// When its first task started here: how long it ran before failing
    /// decides the reschedule delay.
    pub placed_at: Option<std::time::Instant>,
    /// Its hand-off history, oldest first: brought along when it was handed
    /// to this host, and this host's own attempts.
    pub history: thin_vec::ThinVec<crate::handoff::HistoryEntry>,
    /// The node that handed it to this host.
    pub received_from: Option<String>,
    /// The ID of that hand-off (as its origin named it): what the origin
    /// asks about, and stops.
    pub received_id: String,
    /// Where it stands with the reschedule policy once it has failed.
    pub resched: Resched,
    /// Bumped to cancel a scheduled hand-off.
    pub resched_gen: u64,
    /// Why it ended, when its tasks do not say (Nomad's client
    /// description): it ran past its group's `max_run_duration`.
    pub description: Option<&'static str>,
    /// Its allocation directory (`None` only in unit tests of the model).
    pub dir: Option<crate::taskdir::AllocDir>,
    /// Its index is at or above its group's new `count` (an update in
    /// place): it is stopped, then no longer shown, saved or selected.
    pub removed: bool,
}

/// What the reschedule policy made of a failed instance.
#[derive(Debug, Default)]
pub enum Resched {
    /// Not failed, or not looked at yet.
    #[default]
    Idle,
    /// It stays failed: the policy, or no hand-off being configured, says so.
    Stay { reason: String, quiet: bool },
    /// A hand-off is due at this time, after this delay; `blocked`: the
    /// last attempt found no peer to take it, and this one spends no
    /// reschedule attempt either (Nomad's blocked evaluation).
    Waiting { at: SystemTime, delay: std::time::Duration, blocked: bool },
    /// Hooks are being run, one peer after the other.
    Trying(Box<Attempt>),
    /// A peer took it; it does not run here until an operator says so.
    HandedOff(Box<HandedOff>),
}

/// An instance a peer took: which, when, its ID there, what it last said.
#[derive(Debug)]
pub struct HandedOff {
    pub peer: String,
    pub at: SystemTime,
    pub id: String,
    pub remote: Remote,
}

/// What the origin last heard from the peer that holds its instance.
#[derive(Debug, Default, Clone)]
pub struct Remote {
    /// What the peer said, and when.
    pub state: Option<crate::handoff::wire::State>,
    pub message: String,
    pub checked: Option<SystemTime>,
    /// Since when, and why, the peer has not answered.
    pub unreachable: Option<(SystemTime, String)>,
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
    /// The hand-off's ID (the same for every peer of this attempt).
    pub id: String,
    /// The current peer heard the offer but its answer was lost: it is
    /// being asked what became of it (since this time), and no other peer
    /// is tried until it says. While it is, the hook asks (status) rather
    /// than offers.
    pub unsure: Option<SystemTime>,
}

impl Instance {
    /// Nomad's client status (reference §5), or `handed off`.
    pub fn status(&self) -> InstanceStatus {
        if matches!(self.resched, Resched::HandedOff(_)) {
            InstanceStatus::HandedOff
        } else if self.tasks.iter().any(|t| t.state == State::Dead && t.failed) {
            InstanceStatus::Failed
        } else if self.tasks.iter().any(|t| t.state == State::Running) {
            InstanceStatus::Running
        } else if self.tasks.iter().any(|t| t.state == State::Pending) {
            InstanceStatus::Pending
        } else {
            InstanceStatus::Complete
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
    /// The name it was submitted under when not from a job file (what
    /// supctl named it); empty for a job file's (see [`JobRun::origin`]).
    pub named: String,
    pub instances: Vec<Instance>,
    /// The operator stopped it, or a newer version replaced it.
    pub stopped: bool,
    /// The version this one replaces: nothing starts until its processes
    /// are gone, so that the two never hold the same ports at once.
    pub replaces: Option<u64>,
    /// Handed to this host by a peer (the job as the peer names it, the
    /// peer): only the instances peers sent run.
    pub received: Option<Box<HandedIn>>,
    /// A periodic job's launch or a parameterized job's dispatch: its
    /// parent and time, made with the run (`identity.rs`).
    pub launch: Option<Box<Launch>>,
    /// `state::digest` of the job's source, computed once: every journal
    /// record and save names it.
    pub digest: u64,
}

impl JobRun {
    /// The name it was submitted under: its job file, or what supctl named
    /// it.
    pub fn origin(&self) -> &str {
        self.file.as_deref().unwrap_or(&self.named)
    }

    pub fn status(&self) -> JobStatus {
        if self.stopped && !self.instances.iter().any(Instance::is_live) {
            return JobStatus::Dead;
        }
        // One look at each instance (`status` asks this of every job).
        let (mut running, mut pending, mut handed_off) = (false, false, false);
        for i in self.instances.iter().filter(|i| !i.removed) {
            match i.status() {
                InstanceStatus::Failed => return JobStatus::Failed,
                InstanceStatus::Running => running = true,
                InstanceStatus::Pending => pending = true,
                InstanceStatus::HandedOff => handed_off = true,
                InstanceStatus::Complete => {}
            }
        }
        if running {
            JobStatus::Running
        } else if pending {
            JobStatus::Pending
        } else if handed_off {
            JobStatus::HandedOff
        } else {
            JobStatus::Complete
        }
    }
}

/// A check in flight.
pub enum Inflight {
    Socket { probe: Probe, token: Token },
    Script { pid: Pid, output: std::fs::File },
}

/// Why a task's process cannot be made ready to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    User(#[from] crate::process::UserError),
    #[error("cannot run as user {0:?}: supd is not running as root — remove `user`, or run supd as root")]
    NotRoot(String),
    /// An isolated task that cannot be isolated as asked.
    #[error("{0}")]
    Isolation(String),
    /// What this host lacks to start the driver's tasks.
    #[error(transparent)]
    Driver(#[from] crate::drivers::Unavailable),
}

/// Why a port written with `${...}` is no port at a task's start (see
/// `launch::port_of`); kept with the check for as long as the start lasts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The task's environment, which the port is resolved with, cannot
    /// be made (the message is the whole chain).
    #[error("{}", crate::error_chain(.0))]
    Launch(LaunchError),
    /// What it resolved to is neither a port number nor a port label.
    #[error(
        "port {written:?} is {value:?} at the task's start, neither a port number (1 to 65535) nor a port label of the group"
    )]
    NotAPort { written: String, value: String },
    /// The check's task is no longer in its instance.
    #[error("the check's task is gone")]
    TaskGone,
}

pub struct CheckRun {
    pub spec: Check,
    /// The task whose runs the check follows, and which it restarts.
    pub task: usize,
    pub status: CheckStatus,
    pub output: String,
    pub watch: CheckWatch,
    pub active: bool,
    /// When the next run is due (unrounded, so that runs do not drift).
    pub next_due: Instant,
    /// Bumped to cancel scheduled runs.
    pub generation: u64,
    /// Bumped per probe, to match its timeout.
    pub probe_seq: u64,
    pub inflight: Option<Inflight>,
    /// The check's address, worked out once per task start (name lookups
    /// block, so the loop does not repeat them every interval).
    pub resolved: Option<SocketAddr>,
    /// A port written with `${...}` (`PortRef::Interpolated`), resolved
    /// at each start of the task: the port, or why there is none.
    pub interpolated_port: Option<Result<u16, PortError>>,
}

impl std::fmt::Debug for CheckRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckRun({:?}, {:?})", self.spec.name, self.status)
    }
}

/// The checks of one instance of a group: those of its task services, and
/// those of its group services (which follow the task they name, or the
/// first main task).
pub fn instance_checks(job: &Job, group: usize) -> Vec<CheckRun> {
    let g = &job.groups[group];
    let first_main = g.tasks.iter().position(|t| t.lifecycle.is_none()).unwrap_or(0);
    let mut out = Vec::new();
    let now = Instant::now();
    for svc in &g.services {
        for c in &svc.checks {
            let task = c.task.as_ref().and_then(|n| g.tasks.iter().position(|t| &t.name == n)).unwrap_or(first_main);
            out.push(new_run(c.clone(), task, now));
        }
    }
    for (ti, t) in g.tasks.iter().enumerate() {
        for svc in &t.services {
            for c in &svc.checks {
                out.push(new_run(c.clone(), ti, now));
            }
        }
    }
    out
}

fn new_run(spec: Check, task: usize, now: Instant) -> CheckRun {
    CheckRun {
        status: spec.initial_status,
        watch: CheckWatch::new(spec.check_restart, now),
        spec,
        task,
        output: String::new(),
        active: false,
        next_due: now,
        generation: 0,
        probe_seq: 0,
        inflight: None,
        resolved: None,
        interpolated_port: None,
    }
}

/// The worst status of a task's running checks, as its health.
pub fn task_health(instance: &Instance, task: usize) -> Option<CheckStatus> {
    instance.checks.iter().filter(|c| c.task == task && c.active).map(|c| c.status).max_by_key(|s| match s {
        CheckStatus::Passing => 0,
        CheckStatus::Warning => 1,
        CheckStatus::Critical => 2,
    })
}

/// A task's two captured streams.
pub struct TaskLog {
    pub out: Capture,
    pub err: Capture,
    pub out_token: Token,
    pub err_token: Token,
    /// Where its output goes.
    pub output: crate::jobspec::model::TaskOutput,
    /// Its lines to the journal or supd's stdout, when they go there.
    /// Boxed: most tasks write to files only, and a forward is large.
    pub forward_out: Option<Box<crate::logs::route::Forward>>,
    pub forward_err: Option<Box<crate::logs::route::Forward>>,
}

impl std::fmt::Debug for TaskLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskLog({})", self.out.shown())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A job version of the job `hcl` holding one instance of its first group.
    pub fn job_run_of(serial: u64, hcl: &str) -> JobRun {
        let inst = instance_of(hcl);
        let job = crate::jobspec::parse_str("t.hcl", hcl).jobs.into_iter().next().expect("a job");
        JobRun {
            serial,
            job,
            file: None,
            named: "t.hcl".into(),
            instances: vec![inst],
            stopped: false,
            replaces: None,
            received: None,
            launch: None,
            digest: crate::state::digest(hcl),
        }
    }

    /// An instance of the first group of the job `hcl`, every task pending.
    pub fn instance_of(hcl: &str) -> Instance {
        let parsed = crate::jobspec::parse_str("t.hcl", hcl);
        assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
        let job = parsed.jobs.into_iter().next().expect("a job");
        let g = &job.groups[0];
        let tasks = g.tasks.iter().map(|t| TaskRun::new(t.clone(), RestartTracker::new(t.restart, false))).collect();
        Instance {
            group: 0,
            index: 0,
            id: "0000".into(),
            name: format!("{}.{}[0]", job.id, g.name),
            tasks,
            winding_down: false,
            ports: thin_vec::ThinVec::new(),
            checks: thin_vec::ThinVec::new(),
            placed_at: None,
            history: thin_vec::ThinVec::new(),
            received_from: None,
            received_id: String::new(),
            resched: Resched::Idle,
            resched_gen: 0,
            description: None,
            dir: None,
            removed: false,
        }
    }
}
