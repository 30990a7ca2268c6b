//! The event loop: one thread, one `mio::Poll`. Signals, the control socket
//! and its clients are file descriptors; timers are one min-heap whose
//! earliest deadline is the poll timeout. With nothing due, supd sleeps.
//!
//! SIGCHLD comes from a signalfd (see `children`); the other signals
//! through signal-hook's handlers.
//! This module owns every piece of runtime state; `policy` decides,
//! `process` acts.

mod cgroups;
mod children;
mod control;
mod handoff;
mod health;
mod output;
mod resources;
mod run;
mod server;
mod status;
pub mod task;
mod timers;

use crate::jobspec::{self, Job};
use crate::node::Node;
use crate::process;
use children::{Children, Owner};
use mio::{Events, Interest, Poll, Token};
use nix::unistd::Pid;
use server::{ControlServer, Tokens};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use task::JobRun;
pub use task::{CheckKey, TaskKey};
use timers::{Timer, Timers};

const SIGNALS: Token = Token(0);
const LISTENER: Token = Token(1);
const CHILDREN: Token = Token(2);
const FIRST_TOKEN: usize = 3;

/// What supd needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub job_dir: PathBuf,
    pub socket: PathBuf,
    /// A group allowed to use the socket (mode 0660 instead of 0600).
    pub socket_group: Option<u32>,
    /// Where task output goes: `<log_dir>/<job>/<group>[<index>]/<task>.stdout.N`.
    pub log_dir: PathBuf,
    /// What survives a restart of supd.
    pub state_dir: PathBuf,
    pub node: Node,
    /// Init duties: after the tasks, stop and reap every process left.
    pub init: bool,
    /// Exit once every job has ended with nothing left to do.
    pub exit_when_done: bool,
    /// Peers, the hand-off hook, and whether work may arrive.
    pub handoff: crate::config::HandoffSettings,
    /// Where the tasks' cgroups go, and what they can enforce.
    pub cgroups: crate::process::cgroup::Cgroups,
}

#[derive(Debug)]
pub enum Error {
    Setup(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Setup(s) => f.write_str(s),
        }
    }
}

pub struct Supervisor {
    cfg: Config,
    poll: Poll,
    signals: Signals,
    /// Every child's owner, and the reaping.
    children: Children,
    server: ControlServer,
    tokens: Tokens,
    /// Every job version with live processes, current or retired.
    runs: BTreeMap<u64, JobRun>,
    /// Job ID -> the serial of its current version.
    current: BTreeMap<String, u64>,
    next_serial: u64,
    /// Sockets of tcp and http checks in flight.
    check_tokens: HashMap<Token, CheckKey>,
    timers: Timers,
    rng: u64,
    shutting_down: bool,
    /// A second stop request came: no more waiting.
    hurry: bool,
    /// Jobs the operator stopped: they stay stopped across reloads and restarts.
    stopped_jobs: std::collections::BTreeSet<String>,
    /// The state changed and a save is scheduled.
    save_pending: bool,
    /// pidfds of processes left by a previous supd, being stopped.
    leftover_tokens: HashMap<Token, (TaskKey, std::os::fd::OwnedFd)>,
    /// Saved task states not yet matched with a task, by job/group/index/task.
    saved_tasks: HashMap<(String, String, u32, String), crate::state::TaskSaved>,
    /// Hand-off state for instances about to be created (saved, or just
    /// received), by job/group/index.
    saved_instances: HashMap<(String, String, u32), crate::state::InstanceSaved>,
    /// Files of the job directory that failed to load, with their problems.
    load_errors: BTreeMap<String, Vec<String>>,
    /// Capture pipes: token -> (task, stream).
    log_tokens: HashMap<Token, (TaskKey, crate::logs::Stream)>,
    notify: crate::notify::Notifier,
    /// Cgroups of dead tasks, removed once their last processes are gone.
    graveyard: cgroups::Graveyard,
}

impl Supervisor {
    pub fn new(cfg: Config) -> Result<Supervisor, Error> {
        let poll = Poll::new().map_err(|e| Error::Setup(format!("cannot create the event loop: {e}")))?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGQUIT, SIGHUP])
            .map_err(|e| Error::Setup(format!("cannot install signal handlers: {e}")))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| Error::Setup(format!("cannot watch signals: {e}")))?;
        // Before any other thread is made: they inherit the blocked SIGCHLD.
        let children = Children::new().map_err(|e| Error::Setup(format!("cannot watch child processes: {e}")))?;
        poll.registry()
            .register(&mut mio::unix::SourceFd(&children.fd()), CHILDREN, Interest::READABLE)
            .map_err(|e| Error::Setup(format!("cannot watch child processes: {e}")))?;
        let mut server = ControlServer::bind(&cfg.socket, cfg.socket_group).map_err(|e| Error::Setup(e.0))?;
        server
            .register(poll.registry(), LISTENER)
            .map_err(|e| Error::Setup(format!("cannot watch the control socket: {e}")))?;
        Ok(Supervisor {
            cfg,
            poll,
            signals,
            children,
            server,
            tokens: Tokens::starting_at(FIRST_TOKEN),
            runs: BTreeMap::new(),
            current: BTreeMap::new(),
            next_serial: 1,
            timers: Timers::new(Instant::now()),
            rng: seed(),
            shutting_down: false,
            hurry: false,
            stopped_jobs: std::collections::BTreeSet::new(),
            save_pending: false,
            saved_tasks: HashMap::new(),
            saved_instances: HashMap::new(),
            leftover_tokens: HashMap::new(),
            load_errors: BTreeMap::new(),
            log_tokens: HashMap::new(),
            check_tokens: HashMap::new(),
            notify: crate::notify::Notifier::from_env(),
            graveyard: cgroups::Graveyard::default(),
        })
    }

    /// Loads the job directory, starts everything, and runs until shut
    /// down. Returns the exit code supd should end with.
    pub fn run(mut self) -> i32 {
        self.restore();
        let plan = self.plan_reload();
        self.apply_reload(plan);
        // Processes of jobs that are gone (or changed) get no grace.
        for (_, t) in std::mem::take(&mut self.saved_tasks) {
            if let (Some(pid), Some(ticks)) = (t.pid, t.start_ticks)
                && process::sys::same_process(pid, ticks)
            {
                log::warn!(
                    "{}.{}[{}]/{}: killing pid {pid}, left running by the previous supd for a job that is gone or changed",
                    t.job,
                    t.group,
                    t.index,
                    t.task
                );
                let _ = process::signal_group(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        log::info!("supd ready: {} job(s), control socket {}", self.current.len(), self.cfg.socket.display());
        self.notify.ready(&self.status_line());
        if let Some(every) = crate::notify::watchdog_interval() {
            self.timers.arm(Instant::now() + every, Timer::Watchdog);
        }
        let mut events = Events::with_capacity(256);
        let mut sweeping = false;
        loop {
            if !self.shutting_down && self.cfg.exit_when_done && self.all_done() {
                log::info!("every job has ended; exiting");
                self.shutting_down = true;
            }
            if self.shutting_down && self.everything_stopped() {
                if self.children.take_sweep() {
                    self.sweep_orphans();
                }
                if !self.cfg.init || process::own_children().is_empty() {
                    break;
                }
                if !sweeping {
                    // As init: whatever else is left (orphans of any origin)
                    // gets SIGTERM, then SIGKILL after the longest kill_timeout.
                    sweeping = true;
                    let _ = process::signal_pid(Pid::from_raw(-1), nix::sys::signal::Signal::SIGTERM);
                    self.timers.arm(Instant::now() + self.longest_kill_timeout(), Timer::SweepKill);
                }
            }
            let timeout = self.timers.timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("event loop: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for ev in events.iter() {
                let (token, readable, writable) = (ev.token(), ev.is_readable(), ev.is_writable());
                // A bug in handling one event must not take the supervisor
                // (maybe PID 1) down with every task: log it and go on.
                self.guarded(|s| match token {
                    SIGNALS => s.on_signals(),
                    CHILDREN => s.on_children(),
                    LISTENER => s.server.accept(s.poll.registry(), &mut s.tokens),
                    token if s.log_tokens.contains_key(&token) => s.on_log(token),
                    token if s.check_tokens.contains_key(&token) => s.on_check_socket(token),
                    token if s.leftover_tokens.contains_key(&token) => s.on_leftover_gone(token),
                    token if s.server.owns(token) => s.on_client(token, readable, writable),
                    _ => {}
                });
            }
            self.guarded(|s| s.run_due_timers());
            self.guarded(|s| s.broadcast_events());
            if self.notify.enabled() {
                let line = self.status_line();
                self.notify.status(&line);
            }
        }
        if self.save_pending {
            self.save();
        }
        self.release_all_cgroups();
        self.server.close();
        let code = self.exit_code();
        log::info!("supd stopped: every task has ended (exit status {code})");
        code
    }

    fn guarded(&mut self, f: impl FnOnce(&mut Supervisor)) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            log::error!("internal error while handling an event ({what}); supervision goes on");
        }
    }

    /// Every current job has ended: no task runs or waits to start.
    fn all_done(&self) -> bool {
        let handing_off =
            |i: &task::Instance| matches!(i.resched, task::Resched::Waiting { .. } | task::Resched::Trying(_));
        self.runs.values().all(|r| !r.instances.iter().any(|i| i.is_live() || handing_off(i)))
            && self
                .current
                .values()
                .filter_map(|s| self.runs.get(s))
                .all(|r| r.instances.iter().all(|i| i.tasks.iter().all(|t| t.state == task::State::Dead)))
    }

    /// 0 when every instance completed, 1 otherwise (with --exit-when-done
    /// the exit status tells how the jobs ended).
    fn exit_code(&self) -> i32 {
        if !self.cfg.exit_when_done {
            return 0;
        }
        let all_complete = self
            .current
            .values()
            .filter_map(|s| self.runs.get(s))
            .all(|r| r.instances.iter().all(|i| i.status() == task::InstanceStatus::Complete));
        if all_complete { 0 } else { 1 }
    }

    fn longest_kill_timeout(&self) -> Duration {
        self.runs
            .values()
            .flat_map(|r| r.job.groups.iter().flat_map(|g| &g.tasks))
            .map(|t| t.kill_timeout)
            .max()
            .unwrap_or(Duration::from_secs(5))
    }

    /// SIGCHLD: every ended child goes to its owner.
    fn on_children(&mut self) {
        let reaped = self.children.on_signal();
        self.on_reaped(reaped);
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGTERM | SIGINT | SIGQUIT => self.shutdown(sig),
                SIGHUP => {
                    log::info!("SIGHUP: reloading {}", self.cfg.job_dir.display());
                    self.notify.reloading();
                    let plan = self.plan_reload();
                    self.apply_reload(plan);
                    self.notify.ready(&self.status_line());
                }
                _ => {}
            }
        }
    }

    fn on_reaped(&mut self, reaped: children::Reaped) {
        for (pid, owner, exit) in reaped.ended {
            match owner {
                Owner::Task(key) => self.on_exit(key, exit),
                Owner::Check(key) => self.on_script_exit(key, pid, exit),
                Owner::Discarded => {}
                Owner::Handoff { run, inst } => self.on_hook_exit(run, inst, pid, exit),
            }
        }
        if reaped.reap_again {
            self.timers.arm(Instant::now() + children::REAP_AGAIN, Timer::Reap);
        }
        if reaped.sweep {
            self.sweep_soon();
        }
    }

    fn run_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Start { task: key, generation } => {
                    if self.task(key).is_some_and(|t| t.generation == generation) {
                        self.start_task(key);
                    }
                }
                Timer::Check { check: key, generation } => self.run_check(key, generation),
                Timer::Drain { task, stream } => self.drain_log(task, stream),
                Timer::LeftoverKill { task: key, pid } => {
                    if self.task(key).is_some_and(|t| t.leftover == Some(pid)) {
                        let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                        let _ = process::signal_pid(pid, nix::sys::signal::Signal::SIGKILL);
                    }
                }
                Timer::Kill { task: key, generation } => {
                    if self.task(key).is_some_and(|t| t.generation == generation) {
                        self.send_kill(key);
                    }
                }
                Timer::Reap => {
                    let reaped = self.children.reap_again();
                    self.on_reaped(reaped);
                }
                Timer::Sweep => {
                    if self.children.take_sweep() {
                        self.sweep_orphans();
                    }
                }
                Timer::Save => {
                    self.save_pending = false;
                    self.save();
                }
                Timer::SweepKill => {
                    let _ = process::signal_pid(Pid::from_raw(-1), nix::sys::signal::Signal::SIGKILL);
                }
                Timer::Watchdog => {
                    self.notify.watchdog();
                    if let Some(every) = crate::notify::watchdog_interval() {
                        self.timers.arm(now + every, Timer::Watchdog);
                    }
                }
                Timer::CheckTimeout { check: key, probe } => self.check_timed_out(key, probe),
                Timer::Handoff { run: serial, inst, generation } => self.start_handoff(serial, inst, generation),
                Timer::HandoffTimeout { run: serial, inst, pid } => self.hook_timed_out(serial, inst, pid),
                Timer::CgroupRemove => self.remove_dying_cgroups(),
                Timer::Escalate { task: key, generation } => {
                    if let Some(t) = self.task(key)
                        && t.generation == generation
                        && let Some(pid) = t.pid
                    {
                        log::info!("task {} outlived its kill_timeout; sending SIGKILL", t.spec.name);
                        let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
        }
    }

    /// Reads the saved state: submitted jobs run again, stopped ones stay stopped.
    fn restore(&mut self) {
        let saved = match crate::state::load(&self.cfg.state_dir) {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}");
                return;
            }
        };
        self.stopped_jobs.extend(saved.stopped);
        for t in saved.tasks {
            // A process the previous supd was running must not run twice:
            // it goes before anything starts.
            // it is stopped (with its task's kill signal and timeout) before
            // the task starts again; see `submit` and `stop_leftover`.
            self.saved_tasks.insert((t.job.clone(), t.group.clone(), t.index, t.task.clone()), t);
        }
        for i in saved.instances {
            self.saved_instances.insert((i.job.clone(), i.group.clone(), i.index), i);
        }
        let received = saved.received;
        for s in saved.submitted {
            let parsed = jobspec::parse_str(&s.file, &s.source);
            if !parsed.is_valid() {
                log::error!("a saved job from {} no longer loads; it is dropped", s.file);
                continue;
            }
            for job in parsed.jobs {
                log::info!("restoring job {:?} submitted from {}", job.id, s.file);
                self.submit(job, None, s.file.clone(), false);
            }
        }
        for envelope in received {
            log::info!(
                "restoring {}.{}[{}], handed to this host by {}",
                envelope.job,
                envelope.group,
                envelope.index,
                envelope.origin
            );
            if let Err(e) = self.receive(envelope, true) {
                log::error!("a handed-off instance no longer runs here: {e}");
            }
        }
    }

    /// Schedules a sweep for orphans (reading /proc costs time in
    /// proportion to supd's children, so a thousand tasks ending together
    /// share one).
    fn sweep_soon(&mut self) {
        if self.children.want_sweep() {
            self.timers.arm(Instant::now() + Duration::from_millis(20), Timer::Sweep);
        }
    }

    /// Schedules a save of the state; changes close together share one.
    fn state_changed(&mut self) {
        if !self.save_pending {
            self.save_pending = true;
            self.timers.arm(Instant::now() + Duration::from_millis(100), Timer::Save);
        }
    }

    fn save(&mut self) {
        let mut saved = crate::state::Saved { version: crate::state::VERSION, ..Default::default() };
        for serial in self.current.values() {
            let Some(run) = self.runs.get(serial) else { continue };
            if run.received {
                saved.received.extend(self.received_envelopes(run));
            } else if run.file.is_none() {
                saved
                    .submitted
                    .push(crate::state::Submitted { file: run.origin.clone(), source: run.job.source.clone() });
            }
        }
        saved.stopped = self.stopped_jobs.iter().cloned().collect();
        let (now_i, now_w) = (Instant::now(), std::time::SystemTime::now());
        for serial in self.current.values() {
            let Some(run) = self.runs.get(serial) else { continue };
            let digest = crate::state::digest(&run.job.source);
            for inst in &run.instances {
                if let Some(i) = handoff::saved_instance(run, inst, digest) {
                    saved.instances.push(i);
                }
                for t in &inst.tasks {
                    let restart_times = t
                        .tracker
                        .history()
                        .map(|at| {
                            let wall = if at <= now_i { now_w - (now_i - at) } else { now_w + (at - now_i) };
                            wall.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
                        })
                        .collect();
                    let pid = t.pid.map(|p| p.as_raw());
                    saved.tasks.push(crate::state::TaskSaved {
                        job: run.job.id.clone(),
                        group: run.job.groups[inst.group].name.clone(),
                        index: inst.index,
                        task: t.spec.name.clone(),
                        source_digest: digest,
                        restart_times,
                        restarts: t.restarts,
                        pid,
                        start_ticks: t.pid.and(t.start_ticks),
                        dead: t.state == task::State::Dead && !t.ended_by_shutdown,
                        failed: t.failed,
                    });
                }
            }
        }
        if let Err(e) = crate::state::save(&self.cfg.state_dir, &saved) {
            log::error!(
                "cannot save the state in {}: {e}; it will be tried again at the next change",
                self.cfg.state_dir.display()
            );
        }
    }

    /// `3 running, 1 pending, 0 failed` over every task, for systemd's STATUS.
    fn status_line(&self) -> String {
        let (mut running, mut pending, mut failed) = (0, 0, 0);
        for run in self.current.values().filter_map(|s| self.runs.get(s)) {
            for t in run.instances.iter().flat_map(|i| &i.tasks) {
                match t.state {
                    task::State::Running => running += 1,
                    task::State::Pending => pending += 1,
                    task::State::Dead if t.failed => failed += 1,
                    task::State::Dead => {}
                }
            }
        }
        format!("{running} running, {pending} pending, {failed} failed")
    }

    fn task(&self, key: TaskKey) -> Option<&task::TaskRun> {
        self.runs.get(&key.run)?.instances.get(key.inst)?.tasks.get(key.task)
    }

    fn task_mut(&mut self, key: TaskKey) -> Option<&mut task::TaskRun> {
        self.runs.get_mut(&key.run)?.instances.get_mut(key.inst)?.tasks.get_mut(key.task)
    }

    fn everything_stopped(&self) -> bool {
        self.children.is_empty() && self.runs.values().all(|r| !r.instances.iter().any(task::Instance::is_live))
    }

    /// A sample from [0, 1) for restart jitter (xorshift; quality is not
    /// critical, spreading restarts is).
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Reads the job directory and works out what a reload would change.
    fn plan_reload(&mut self) -> Reload {
        let mut plan = Reload::default();
        let files = match jobspec::parse_dir(&self.cfg.job_dir) {
            Ok(f) => f,
            Err(e) => {
                plan.messages.push(format!("{e} — keeping the jobs that run"));
                plan.failed_dir = true;
                return plan;
            }
        };
        let mut seen_files = Vec::new();
        for (path, parsed) in files {
            let name = path.display().to_string();
            seen_files.push(name.clone());
            if !parsed.is_valid() {
                let problems: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
                plan.messages
                    .push(format!("{name}: invalid, not loaded (the jobs it defined keep running as they were):"));
                plan.messages.extend(problems.iter().map(|p| format!("  {p}")));
                plan.invalid.insert(name, problems);
                continue;
            }
            for d in &parsed.diagnostics {
                log::warn!("{d}");
            }
            for job in parsed.jobs {
                // A job that starts nothing (unchanged, or stopped by the
                // operator) needs no room.
                let unchanged = self
                    .current
                    .get(&job.id)
                    .and_then(|s| self.runs.get(s))
                    .is_some_and(|run| run.job.source == job.source && !run.stopped)
                    || self.stopped_jobs.contains(&job.id);
                let planned: Vec<&Job> = plan.submit.iter().map(|(j, _)| j).collect();
                if !unchanged && let Err(e) = self.fit_with(&job, &planned) {
                    // Refused like an invalid file: what runs keeps running.
                    plan.messages.push(format!("{name}: job {:?} not loaded: {e}", job.id));
                    plan.invalid.entry(name.clone()).or_default().push(e);
                    continue;
                }
                match self.current.get(&job.id).and_then(|s| self.runs.get(s)) {
                    Some(run) if run.job.source == job.source && !run.stopped => {}
                    Some(_) => {
                        plan.messages.push(format!("update job {:?} from {name}", job.id));
                        plan.submit.push((job, name.clone()));
                    }
                    None => {
                        plan.messages.push(format!("add job {:?} from {name}", job.id));
                        plan.submit.push((job, name.clone()));
                    }
                }
            }
        }
        let submitted: Vec<&str> = plan.submit.iter().map(|(j, _)| j.id.as_str()).collect();
        for (id, serial) in &self.current {
            let Some(run) = self.runs.get(serial) else { continue };
            let Some(file) = &run.file else { continue };
            if run.stopped || submitted.contains(&id.as_str()) || plan.invalid.contains_key(file) {
                continue;
            }
            let still_defined =
                seen_files.contains(file) && jobspec::parse_file(Path::new(file)).jobs.iter().any(|j| &j.id == id);
            if !still_defined {
                plan.messages.push(format!("remove job {id:?} (no longer in {file})"));
                plan.remove.push(id.clone());
            }
        }
        if plan.messages.is_empty() {
            plan.messages.push("no changes".into());
        }
        plan
    }

    fn apply_reload(&mut self, plan: Reload) {
        for m in &plan.messages {
            if plan.invalid.is_empty() && !plan.failed_dir {
                log::info!("{m}");
            } else {
                log::warn!("{m}");
            }
        }
        self.load_errors = plan.invalid;
        for id in plan.remove {
            self.stop_job(&id);
        }
        for (job, file) in plan.submit {
            self.submit(job, Some(file.clone()), file, false);
        }
    }
}

/// What a reload would do.
#[derive(Debug, Default)]
struct Reload {
    submit: Vec<(Job, String)>,
    remove: Vec<String>,
    invalid: BTreeMap<String, Vec<String>>,
    messages: Vec<String>,
    failed_dir: bool,
}

fn seed() -> u64 {
    let mut buf = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    let s = u64::from_le_bytes(buf);
    if s == 0 { 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()) } else { s }
}

/// A random identifier shaped like Nomad's allocation IDs.
fn random_id(rng: &mut u64) -> String {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}
