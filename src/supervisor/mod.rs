//! The event loop: one thread, one `mio::Poll`. Signals, the control socket
//! and its clients are file descriptors; timers are one min-heap whose
//! earliest deadline is the poll timeout. With nothing due, supd sleeps.
//!
//! SIGCHLD, the signal supd gets most (a thousand at once as PID 1), is
//! kept blocked and read from a signalfd: a child's end costs one read
//! before the waits, where a handler costs its run, a write to the
//! handler's socket, the return from it, an interrupted poll and two reads.
//! The other signals come through signal-hook's handlers.
//! This module owns every piece of runtime state; `policy` decides,
//! `process` acts.

mod control;
mod handoff;
mod health;
mod output;
mod resources;
mod run;
pub mod task;

use crate::jobspec::{self, Job};
use crate::node::Node;
use crate::process;
use mio::net::UnixListener;
use mio::{Events, Interest, Poll, Token};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use task::JobRun;

const SIGNALS: Token = Token(0);
const LISTENER: Token = Token(1);
const CHILDREN: Token = Token(2);
const FIRST_CLIENT: usize = 3;

/// How long reaping waits after a pass that found several orphans.
const REAP_AGAIN: Duration = Duration::from_millis(1);

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

/// What a child process belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Task(TaskKey),
    Check(CheckKey),
    /// A script check killed at its timeout: reaped, its end ignored.
    Discarded,
    /// A hand-off hook of an instance.
    Handoff(u64, usize),
}

/// Why a timer is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Run a check, if its generation still matches.
    Check(CheckKey, u64),
    /// A check that has not answered by now is critical.
    CheckTimeout(CheckKey, u64),
    /// Start (or restart) a task, if its generation still matches.
    Start(TaskKey, u64),
    /// SIGKILL a task that outlived its kill_timeout.
    Escalate(TaskKey, u64),
    /// Send a task its kill signal, after its shutdown_delay.
    Kill(TaskKey, u64),
    /// Go on reading a task's output (stderr when true).
    Drain(TaskKey, bool),
    /// SIGKILL a process a previous supd left, after its kill_timeout.
    LeftoverKill(TaskKey, Pid),
    /// Tell systemd's watchdog the loop is alive.
    Watchdog,
    /// As init, SIGKILL whatever ignored the final SIGTERM.
    SweepKill,
    /// Write the state: changes within a short while share one write.
    Save,
    /// Look for orphans of ended tasks: exits close together share one look.
    Sweep,
    /// Hand a failed instance off, if its generation still matches.
    Handoff(u64, usize, u64),
    /// A hand-off hook that has not finished by now is killed.
    HandoffTimeout(u64, usize, Pid),
    /// Try again to remove the cgroups of dead tasks.
    CgroupRemove,
    /// Reap again, after a pass that found several orphans.
    Reap,
}

#[derive(Debug, PartialEq, Eq)]
struct Due {
    at: Instant,
    seq: u64,
    timer: Timer,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

pub struct Supervisor {
    cfg: Config,
    poll: Poll,
    signals: Signals,
    /// SIGCHLD, blocked, as a descriptor.
    children: nix::sys::signalfd::SignalFd,
    listener: UnixListener,
    clients: HashMap<Token, control::Client>,
    next_token: usize,
    /// Every job version with live processes, current or retired.
    runs: BTreeMap<u64, JobRun>,
    /// Job ID -> the serial of its current version.
    current: BTreeMap<String, u64>,
    next_serial: u64,
    /// Each live child and what it belongs to: a task or a script check.
    pids: HashMap<Pid, Owner>,
    /// Sockets of tcp and http checks in flight.
    check_tokens: HashMap<Token, CheckKey>,
    timers: BinaryHeap<Reverse<Due>>,
    next_seq: u64,
    rng: u64,
    shutting_down: bool,
    /// A second stop request came: no more waiting.
    hurry: bool,
    /// Jobs the operator stopped: they stay stopped across reloads and restarts.
    stopped_jobs: std::collections::BTreeSet<String>,
    /// The state changed and a save is scheduled.
    save_pending: bool,
    /// A sweep for orphans is scheduled.
    sweep_pending: bool,
    /// The last sweep killed leftovers, whose own children may follow.
    hunting: bool,
    /// The next reaping waits for `Timer::Reap`: orphans are ending in
    /// numbers.
    reap_deferred: bool,
    /// pidfds of processes left by a previous supd, being stopped.
    leftover_tokens: HashMap<Token, (TaskKey, std::os::fd::OwnedFd)>,
    /// Saved task states not yet matched with a task, by job/group/index/task.
    saved_tasks: HashMap<(String, String, u32, String), crate::state::TaskSaved>,
    /// Hand-off state for instances about to be created (saved, or just
    /// received), by job/group/index.
    saved_instances: HashMap<(String, String, u32), crate::state::InstanceSaved>,
    /// Files of the job directory that failed to load, with their problems.
    load_errors: BTreeMap<String, Vec<String>>,
    /// The newest event sent to `events --follow` clients.
    sent_events: u64,
    /// Capture pipes: token -> (task, is stderr).
    log_tokens: HashMap<Token, (TaskKey, bool)>,
    /// `logs --follow` clients and what they follow.
    log_followers: Vec<(Token, output::LogPath)>,
    notify: crate::notify::Notifier,
    /// The origin of the grid check timers are rounded to.
    epoch: Instant,
    /// Cgroups of dead tasks, removed once their last processes are gone.
    dying_cgroups: Vec<resources::Dying>,
    /// Removes cgroups while supd stops (started then).
    janitor: Option<resources::Janitor>,
}

impl Supervisor {
    pub fn new(cfg: Config) -> Result<Supervisor, Error> {
        let poll = Poll::new().map_err(|e| Error::Setup(format!("cannot create the event loop: {e}")))?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGQUIT, SIGHUP])
            .map_err(|e| Error::Setup(format!("cannot install signal handlers: {e}")))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| Error::Setup(format!("cannot watch signals: {e}")))?;
        // Blocked in this thread before any other is made (they inherit
        // the mask), so that every SIGCHLD waits for the signalfd; children
        // start with nothing blocked (see process::spawn).
        // A SIGCHLD ignored by whoever started supd would have the kernel
        // reap its children unseen: the default disposition comes back.
        let mut chld = nix::sys::signal::SigSet::empty();
        chld.add(nix::sys::signal::Signal::SIGCHLD);
        // SAFETY: the default disposition installs no handler.
        let children = unsafe {
            nix::sys::signal::signal(nix::sys::signal::Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl)
        }
        .and_then(|_| chld.thread_block())
        .and_then(|()| {
            nix::sys::signalfd::SignalFd::with_flags(
                &chld,
                nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
            )
        })
        .map_err(|e| Error::Setup(format!("cannot watch child processes: {e}")))?;
        poll.registry()
            .register(
                &mut mio::unix::SourceFd(&std::os::fd::AsRawFd::as_raw_fd(&children)),
                CHILDREN,
                Interest::READABLE,
            )
            .map_err(|e| Error::Setup(format!("cannot watch child processes: {e}")))?;
        let mut listener = bind(&cfg.socket, cfg.socket_group)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| Error::Setup(format!("cannot watch the control socket: {e}")))?;
        Ok(Supervisor {
            cfg,
            poll,
            signals,
            children,
            listener,
            clients: HashMap::new(),
            next_token: FIRST_CLIENT,
            runs: BTreeMap::new(),
            current: BTreeMap::new(),
            next_serial: 1,
            pids: HashMap::new(),
            timers: BinaryHeap::new(),
            next_seq: 0,
            rng: seed(),
            shutting_down: false,
            hurry: false,
            stopped_jobs: std::collections::BTreeSet::new(),
            save_pending: false,
            sweep_pending: false,
            hunting: false,
            reap_deferred: false,
            saved_tasks: HashMap::new(),
            saved_instances: HashMap::new(),
            leftover_tokens: HashMap::new(),
            load_errors: BTreeMap::new(),
            sent_events: 0,
            log_tokens: HashMap::new(),
            check_tokens: HashMap::new(),
            log_followers: Vec::new(),
            notify: crate::notify::Notifier::from_env(),
            epoch: Instant::now(),
            dying_cgroups: Vec::new(),
            janitor: None,
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
                && crate::state::same_process(pid, ticks)
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
            self.arm(Instant::now() + every, Timer::Watchdog);
        }
        let mut events = Events::with_capacity(256);
        let mut sweeping = false;
        loop {
            if !self.shutting_down && self.cfg.exit_when_done && self.all_done() {
                log::info!("every job has ended; exiting");
                self.shutting_down = true;
            }
            if self.shutting_down && self.everything_stopped() {
                if std::mem::take(&mut self.sweep_pending) {
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
                    self.arm(Instant::now() + self.longest_kill_timeout(), Timer::SweepKill);
                }
            }
            let timeout = self.timers.peek().map(|Reverse(d)| d.at.saturating_duration_since(Instant::now()));
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
                    LISTENER => s.accept(),
                    token if s.log_tokens.contains_key(&token) => s.on_log(token),
                    token if s.check_tokens.contains_key(&token) => s.on_check_socket(token),
                    token if s.leftover_tokens.contains_key(&token) => s.on_leftover_gone(token),
                    token => s.on_client(token, readable, writable),
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
        let _ = std::fs::remove_file(&self.cfg.socket);
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
            .all(|r| r.instances.iter().all(|i| i.status() == "complete"));
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

    /// SIGCHLD: taken off the signalfd (its readiness is an edge: it
    /// is read until empty), then every ended child is reaped. While a
    /// reaping is deferred the signal is left pending, which also keeps
    /// the kernel from waking supd for the next ones.
    fn on_children(&mut self) {
        if self.reap_deferred {
            return;
        }
        while let Ok(Some(_)) = self.children.read_signal() {}
        self.reap();
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGTERM | SIGINT | SIGQUIT => self.shutdown(&process::signal_name(sig)),
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

    fn reap(&mut self) {
        let mut orphans = 0;
        for (pid, exit) in process::reap() {
            match self.pids.remove(&pid) {
                Some(Owner::Task(key)) => self.on_exit(key, exit),
                Some(Owner::Check(key)) => self.on_script_exit(key, pid, exit),
                Some(Owner::Discarded) => {}
                Some(Owner::Handoff(serial, inst)) => self.on_hook_exit(serial, inst, pid, exit),
                None => orphans += 1,
            }
        }
        if orphans > 1 {
            // Orphans ending in numbers (as init, a whole process tree
            // going): the next pass waits a millisecond and takes what
            // ended meanwhile at once, instead of waking supd for every
            // few of them and taking the CPU they need to end. A task that
            // ends meanwhile is collected by that pass.
            self.reap_deferred = true;
            self.arm(Instant::now() + REAP_AGAIN, Timer::Reap);
        }
        if orphans > 0 {
            log::debug!("reaped {orphans} adopted orphan(s)");
            // A reaped orphan may have left children of a task that ended:
            // looked for only while leftovers of ended tasks are being
            // killed, as their descendants come to supd in turn. Orphans of
            // running tasks (an init's daily bread) cost only the reaping.
            if self.hunting {
                self.sweep_soon();
            }
        }
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        // Check timeouts need no millisecond precision: rounding them up to
        // a 10 ms grid lets one wake-up handle many, instead of one each.
        // (Check runs are on a grid of their own: see health::run_at.)
        let at = match timer {
            Timer::CheckTimeout(..) => {
                const GRID: u128 = 10_000_000;
                let since = at.saturating_duration_since(self.epoch).as_nanos();
                let up = since.div_ceil(GRID) * GRID;
                self.epoch + Duration::from_nanos(up.min(u128::from(u64::MAX)) as u64)
            }
            _ => at,
        };
        self.next_seq += 1;
        self.timers.push(Reverse(Due { at, seq: self.next_seq, timer }));
    }

    fn run_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse(d)) = self.timers.peek() {
            if d.at > now {
                break;
            }
            let Some(Reverse(d)) = self.timers.pop() else { break };
            match d.timer {
                Timer::Start(key, generation) => {
                    if self.task(key).is_some_and(|t| t.generation == generation) {
                        self.start_task(key);
                    }
                }
                Timer::Check(key, generation) => self.run_check(key, generation),
                Timer::Drain(key, stderr) => self.drain_log(key, stderr),
                Timer::LeftoverKill(key, pid) => {
                    if self.task(key).is_some_and(|t| t.leftover == Some(pid)) {
                        let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                        let _ = process::signal_pid(pid, nix::sys::signal::Signal::SIGKILL);
                    }
                }
                Timer::Kill(key, generation) => {
                    if self.task(key).is_some_and(|t| t.generation == generation) {
                        self.send_kill(key);
                    }
                }
                Timer::Reap => {
                    self.reap_deferred = false;
                    self.on_children();
                }
                Timer::Sweep => {
                    self.sweep_pending = false;
                    self.sweep_orphans();
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
                        self.arm(now + every, Timer::Watchdog);
                    }
                }
                Timer::CheckTimeout(key, probe) => self.check_timed_out(key, probe),
                Timer::Handoff(serial, inst, generation) => self.start_handoff(serial, inst, generation),
                Timer::HandoffTimeout(serial, inst, pid) => self.hook_timed_out(serial, inst, pid),
                Timer::CgroupRemove => self.remove_dying_cgroups(),
                Timer::Escalate(key, generation) => {
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
        if !self.sweep_pending {
            self.sweep_pending = true;
            self.arm(Instant::now() + Duration::from_millis(20), Timer::Sweep);
        }
    }

    /// Schedules a save of the state; changes close together share one.
    fn state_changed(&mut self) {
        if !self.save_pending {
            self.save_pending = true;
            self.arm(Instant::now() + Duration::from_millis(100), Timer::Save);
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
        self.pids.is_empty() && self.runs.values().all(|r| !r.instances.iter().any(task::Instance::is_live))
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

fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, Error> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Setup(format!("cannot create the socket directory {}: {e}", dir.display())))?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(Error::Setup(format!(
            "another supd already listens on {} — stop it, or give this one another --socket",
            path.display()
        )));
    }
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).map_err(|e| Error::Setup(format!("cannot listen on {}: {e}", path.display())))?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| Error::Setup(format!("cannot give {} to group {gid}: {e}", path.display())))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::Setup(format!("cannot set {} to mode {mode:o}: {e}", path.display())))?;
    Ok(listener)
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
