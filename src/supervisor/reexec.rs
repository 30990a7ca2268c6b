//! `supctl daemon-reexec`: supd executes its binary again — the file now at
//! the path it was started from, so that an upgraded binary takes over — as
//! the same process. Every task stays supd's child and keeps running; what
//! the new image needs to go on is carried across the exec:
//!
//! - the descriptors: the control socket's listener (a client that connects
//!   meanwhile waits in its backlog), the connection of the client that
//!   asked (the new image answers it), each running task's capture pipes
//!   (what a task writes during the exec waits in its pipe: no line is lost
//!   or read twice);
//! - a document in an anonymous file (`Carry`, JSON, its descriptor named by
//!   `SUPD_REEXEC_FD`): which job files were loaded and the exact text of
//!   their jobs (a file edited since is not taken in by the exec; the next
//!   reload does), each running task's pid and descriptors, each instance's
//!   ID, the start due later of a task in a restart delay, every task's
//!   events.
//!
//! The rest — restart budgets, stopped jobs, periodic launches, dispatched
//! and submitted jobs — is in the state directory, saved just before.
//!
//! Before it executes anything, the old image asks the binary what it can
//! take over (`supd --reexec-check`, answered within [`CHECK_TIMEOUT`]): a
//! binary that is not supd, hangs, or cannot read this carry or state is
//! refused and the old image keeps running. So is a re-exec while
//! something is in flight that the carry does not hold (a task being
//! stopped, artifacts being fetched, a hand-off): the answer says what to
//! wait for.

use super::errors::BinaryError;
use super::task::{State, TakeOver, TaskEvent, TaskKey};
use super::{Supervisor, Timer};
use crate::control::protocol::Response;
use crate::process;
use mio::Token;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The format of what is carried across the exec.
pub const CARRY_VERSION: u32 = 1;
/// Names the descriptor of the carried document in the new image.
pub const CARRY_ENV: &str = "SUPD_REEXEC_FD";
/// The flag a binary is asked with what it can take over.
pub const CHECK_FLAG: &str = "--reexec-check";
/// How long that answer may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The program supd runs from and its arguments, as it was started.
static STARTED_AS: OnceLock<(PathBuf, Vec<OsString>)> = OnceLock::new();

/// When supd first started (carried across re-executions).
static SINCE: OnceLock<SystemTime> = OnceLock::new();

/// Remembers the path supd was started from (before anything could
/// replace the file) and its arguments.
pub fn remember_start() {
    STARTED_AS.get_or_init(|| {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        (exe, std::env::args_os().collect())
    });
}

/// Since when supd runs, across re-executions.
pub fn since() -> SystemTime {
    *SINCE.get_or_init(SystemTime::now)
}

/// What a binary says it can take over (`supd --reexec-check`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Abilities {
    pub supd: String,
    /// The carry formats it reads (lowest, highest).
    pub carry: [u32; 2],
    /// The newest state format it reads.
    pub state: u32,
}

/// The line `supd --reexec-check` prints.
pub fn abilities_line() -> String {
    let a = Abilities {
        supd: env!("CARGO_PKG_VERSION").to_string(),
        carry: [CARRY_VERSION, CARRY_VERSION],
        state: crate::state::VERSION,
    };
    serde_json::to_string(&a).unwrap_or_default()
}

/// What crosses the exec in the document.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Carry {
    pub version: u32,
    /// The version of the image that wrote it.
    pub from: String,
    /// When supd first started (Unix ms).
    pub since_ms: u64,
    pub listener: RawFd,
    /// The connection of the client that asked.
    pub client: Option<RawFd>,
    /// The job directory's files as loaded: each file's jobs as supd runs
    /// them (their evaluated text).
    pub files: Vec<CarriedFile>,
    /// The job directory's files that did not load, with their problems.
    pub load_errors: BTreeMap<String, Vec<String>>,
    pub instances: Vec<CarriedInstance>,
    pub tasks: Vec<CarriedTask>,
    /// The newest event's sequence number.
    pub event_seq: u64,
    /// Other control clients, mid-request or mid-answer.
    #[serde(default)]
    pub clients: Vec<super::server::CarriedClient>,
    /// The `driver.java` attributes found at supd's start: the new image
    /// does not start a JVM again to find them.
    #[serde(default)]
    pub java: Option<Vec<(String, String)>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedFile {
    pub path: String,
    pub jobs: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedInstance {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub id: String,
    /// Its active checks, by their place in the instance.
    #[serde(default)]
    pub checks: Vec<CarriedCheck>,
    /// How long before the exec it was placed.
    #[serde(default)]
    pub placed_ago_ms: Option<u64>,
}

/// A health check's state across the exec: its status and output, its
/// failures in a row and what is left of its grace (`check_restart`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CarriedCheck {
    pub at: usize,
    pub status: String,
    pub output: String,
    pub consecutive: u32,
    pub grace_left_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedTask {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    pub pid: Option<i32>,
    /// Its process is supd's child (else it was taken over after a crash
    /// of supd, and is followed by a pidfd).
    #[serde(default = "yes")]
    pub child: bool,
    pub start_ticks: Option<u64>,
    pub started_ms: Option<u64>,
    /// stdout read, stdout write, stderr read, stderr write.
    pub pipes: Option<[RawFd; 4]>,
    /// A task in a restart delay: its start is due after this long.
    pub start_in_ms: Option<u64>,
    pub events: Vec<CarriedEvent>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedEvent {
    pub seq: u64,
    pub time_ms: u64,
    pub kind: String,
    pub message: String,
}

/// What the new image took in, until its bring-up is done and it answers.
#[derive(Debug, Default)]
pub(super) struct Resumed {
    /// The client that asked for the re-exec.
    pub client: Option<Token>,
    /// The version of the image before.
    pub from: String,
    /// Tasks taken over as they ran.
    pub kept: usize,
    /// The job directory's files as the earlier image ran them, until
    /// they are loaded.
    pub files: Option<Vec<(PathBuf, crate::jobspec::Parsed)>>,
    /// The java driver's attributes, as found before.
    pub java: Option<Vec<(String, String)>>,
}

/// The task key of a carried or saved task.
pub(super) type Named = (String, String, u32, String);

fn yes() -> bool {
    true
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// An event kind read back as the `&'static str` the model keeps: each
/// distinct kind is made static once.
fn intern(kind: &str) -> &'static str {
    static KINDS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut kinds) = KINDS.lock() else { return "Event" };
    if let Some(k) = kinds.iter().find(|k| **k == kind) {
        return k;
    }
    if kinds.len() >= 256 {
        return "Event";
    }
    let k: &'static str = Box::leak(kind.to_string().into_boxed_str());
    kinds.push(k);
    k
}

/// The document the previous image left, if supd was started by a
/// re-exec. Read once.
pub(super) fn take_carry() -> Option<Carry> {
    let raw: RawFd = std::env::var(CARRY_ENV).ok()?.parse().ok()?;
    let fd = process::sys::inherited_fd(raw)?;
    let file = std::fs::File::from(fd);
    match serde_json::from_reader::<_, Carry>(std::io::BufReader::new(file)) {
        Ok(c) if c.version == CARRY_VERSION => {
            let _ = SINCE.set(from_unix_ms(c.since_ms));
            Some(c)
        }
        Ok(c) => {
            log::error!("the previous image carried format {} (this supd reads {CARRY_VERSION})", c.version);
            None
        }
        Err(e) => {
            log::error!("cannot read what the previous image of supd carried: {e}");
            None
        }
    }
}

impl Carry {
    /// The job directory's files as the previous image ran them.
    pub(super) fn parsed_files(&self) -> Vec<(PathBuf, crate::jobspec::Parsed)> {
        self.files
            .iter()
            .map(|f| {
                let mut all = crate::jobspec::Parsed { jobs: Vec::new(), diagnostics: Vec::new() };
                for source in &f.jobs {
                    let p = crate::jobspec::parse_str(&f.path, source);
                    all.jobs.extend(p.jobs);
                    all.diagnostics.extend(p.diagnostics);
                }
                (PathBuf::from(&f.path), all)
            })
            .collect()
    }
}

impl Supervisor {
    /// `supctl daemon-reexec`. Returns only when the exec is refused or
    /// failed (the answer says why; this image goes on).
    pub(super) fn daemon_reexec(&mut self, token: Token) -> Response {
        let refused = |why: String| Response::refused(format!("not re-executing: {why}; supd keeps running as it is"));
        if let Some(why) = self.reexec_blocker() {
            return refused(why);
        }
        let Some((exe, args)) = STARTED_AS.get().cloned() else {
            return refused("supd does not know the path it was started from".to_string());
        };
        if let Err(why) = check_binary(&exe, &args) {
            return refused(format!("{}: {why}", exe.display()));
        }
        // What the new image reads back: if it cannot be written, the
        // new image would not know the tasks it takes over.
        if !self.save_acknowledged() {
            return refused(format!("the state cannot be saved in {}", self.cfg.state_dir.display()));
        }
        // Script checks in flight are given up (their end ignored, killed
        // right before the exec): they run again after.
        let checks = self.children.owned_by(|o| matches!(o, super::Owner::Check(_)));
        let owners: Vec<(nix::unistd::Pid, super::Owner)> =
            checks.iter().filter_map(|p| Some((*p, self.children.owner(*p)?))).collect();
        for pid in &checks {
            self.children.own(*pid, super::Owner::Discarded);
        }
        let (carry, mut keep) = self.carry(token);
        let bytes = match serde_json::to_vec(&carry) {
            Ok(b) => b,
            Err(e) => return refused(format!("cannot write what to carry: {e}")),
        };
        let file = process::memfd("supd-carry").and_then(|mut f| {
            use std::io::{Seek, Write};
            f.write_all(&bytes)?;
            f.rewind()?;
            Ok(f)
        });
        let file = match file {
            Ok(f) => f,
            Err(e) => return refused(format!("cannot hold what to carry: {e}")),
        };
        drop(bytes);
        keep.push(file.as_fd());
        let set = |keep: &[BorrowedFd<'_>], close: bool| {
            keep.iter().all(|fd| process::sys::set_close_on_exec(*fd, close).is_ok())
        };
        let error = if !set(&keep, false) {
            "cannot keep its descriptors open across the exec".to_string()
        } else {
            log::info!(
                "re-executing {} ({} task(s) keep running); supd {} hands over",
                exe.display(),
                carry.tasks.iter().filter(|t| t.pid.is_some()).count(),
                env!("CARGO_PKG_VERSION")
            );
            for pid in &checks {
                let _ = process::signal_pid(*pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = process::sys::block_signals(&super::all_handled());
            crate::logs::console::flush(Duration::from_millis(500));
            let e = exec(&exe, &args, file.as_raw_fd());
            let _ = process::sys::unblock_signals(&super::all_handled());
            format!("the exec failed: {e}")
        };
        set(&keep, true);
        drop(keep);
        for (pid, owner) in owners {
            if self.children.owns(pid) {
                self.children.own(pid, owner);
            }
        }
        log::error!("not re-executing {}: {error}", exe.display());
        refused(format!("{}: {error}", exe.display()))
    }

    /// What would be lost in a re-exec now, if anything.
    fn reexec_blocker(&self) -> Option<String> {
        if self.stopping() {
            return Some("supd is stopping".into());
        }
        if self.server.receiving_body() {
            return Some("a job file is being received over the control socket; try again in a moment".into());
        }
        if self.pending.parses.busy() {
            return Some("a large job file is being parsed; try again in a moment".into());
        }
        if self.pending.setup.renders.busy() > 0 {
            return Some("a task's templates are being rendered; try again in a moment".into());
        }
        if self.pending.containers.surveying.iter().any(|s| *s) {
            return Some("a container engine has not yet said what it runs; try again once it has".into());
        }
        let current: std::collections::BTreeSet<u64> = self.jobs.current.values().copied().collect();
        for run in self.jobs.runs.values() {
            for inst in &run.instances {
                // What the carry leaves out must have ended.
                let carried = current.contains(&run.serial) && !inst.removed;
                if !carried && inst.tasks.iter().any(|t| t.pid.is_some()) {
                    return Some(format!(
                        "{} (an older version, or an instance being removed) still runs; try again once it has ended",
                        inst.name
                    ));
                }
                if matches!(inst.resched, super::task::Resched::Trying(_)) {
                    return Some(format!("{} is being handed off; try again once it is", inst.name));
                }
                for t in &inst.tasks {
                    let label = || format!("{}/{}", inst.name, t.spec.name);
                    if t.stopping.is_some() && t.pid.is_some() {
                        return Some(format!("{} is being stopped; try again once it has", label()));
                    }
                    if t.setup.fetching.is_some() {
                        return Some(format!("{}'s artifacts are being fetched; try again once they are", label()));
                    }
                    if t.leftover.is_some() {
                        return Some(format!(
                            "{} waits for a process of the previous supd to end; try again once it has",
                            label()
                        ));
                    }
                    if t.container.as_ref().is_some_and(|c| c.id.is_none()) {
                        return Some(format!("{}'s container is being started; try again once it has", label()));
                    }
                }
            }
        }
        if !self
            .children
            .owned_by(|o| matches!(o, super::Owner::Handoff { .. } | super::Owner::Remote { .. }))
            .is_empty()
        {
            return Some("a hand-off hook runs; try again once it has ended".into());
        }
        if self.io.timers.due_at(|t| matches!(t, Timer::TemplateChange { .. })).is_some() {
            return Some("a template's change is due; try again once it has been carried out".into());
        }
        if !self.children.owned_by(|o| matches!(o, super::Owner::ChangeScript { .. })).is_empty() {
            return Some("a template's change script runs; try again once it has ended".into());
        }
        None
    }

    /// The document for the next image, and every descriptor it names
    /// (made to stay open across the exec by the caller).
    fn carry(&self, client: Token) -> (Carry, Vec<BorrowedFd<'_>>) {
        let now = Instant::now();
        let mut keep: Vec<BorrowedFd<'_>> = vec![self.server.listener_fd()];
        keep.extend(self.server.client_fd(client));
        let clients = self.server.carried_clients(client);
        keep.extend(clients.iter().map(|(fd, _)| *fd));
        let mut carry = Carry {
            version: CARRY_VERSION,
            from: env!("CARGO_PKG_VERSION").to_string(),
            since_ms: unix_ms(since()),
            listener: self.server.listener_fd().as_raw_fd(),
            client: self.server.client_fd(client).map(|fd| fd.as_raw_fd()),
            load_errors: self.jobs.load_errors.clone(),
            event_seq: super::task::last_event_seq(),
            clients: clients.into_iter().map(|(_, c)| c).collect(),
            java: Some(
                self.cfg
                    .node
                    .attrs
                    .iter()
                    .filter(|(k, _)| k.starts_with("driver.java"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..Carry::default()
        };
        carry.files = self.carried_files();
        for run in self.jobs.current_runs() {
            for (ii, inst) in run.instances.iter().enumerate().filter(|(_, i)| !i.removed) {
                self.carry_instance(&mut carry, &mut keep, run, ii, inst, now);
            }
        }
        (carry, keep)
    }

    /// The job directory's files as loaded, each with its jobs' sources.
    fn carried_files(&self) -> Vec<CarriedFile> {
        let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for run in self.jobs.current_runs() {
            if let Some(file) = &run.file {
                files.entry(file.clone()).or_default().push(run.job.source.clone());
            }
        }
        files.into_iter().map(|(path, jobs)| CarriedFile { path, jobs }).collect()
    }

    /// Puts one instance (number `ii` of `run`) and its tasks in the carry,
    /// and the capture pipes of its running host tasks in `keep`.
    fn carry_instance<'a>(
        &'a self,
        carry: &mut Carry,
        keep: &mut Vec<BorrowedFd<'a>>,
        run: &'a super::task::JobRun,
        ii: usize,
        inst: &'a super::task::Instance,
        now: Instant,
    ) {
        let group = run.job.groups.get(inst.group).map_or(String::new(), |g| g.name.clone());
        carry.instances.push(CarriedInstance {
            job: run.job.id.clone(),
            group: group.clone(),
            index: inst.index,
            id: inst.id.clone(),
            placed_ago_ms: inst.placed_at.map(|at| now.saturating_duration_since(at).as_millis() as u64),
            checks: checks_to_carry(inst, now),
        });
        for (ti, t) in inst.tasks.iter().enumerate() {
            let key = TaskKey { run: run.serial, inst: ii, task: ti };
            let host = t.container.is_none();
            let pid = t.pid.filter(|_| host);
            let pipes = t.log.as_ref().filter(|_| pid.is_some()).map(|l| {
                let (r1, w1) = l.out.fds();
                let (r2, w2) = l.err.fds();
                keep.extend([r1, w1, r2, w2]);
                [r1.as_raw_fd(), w1.as_raw_fd(), r2.as_raw_fd(), w2.as_raw_fd()]
            });
            let start_in_ms = self.start_in_ms(key, t, pid, now);
            carry.tasks.push(CarriedTask {
                job: run.job.id.clone(),
                group: group.clone(),
                index: inst.index,
                task: t.spec.name.clone(),
                pid: pid.map(|p| p.as_raw()),
                // One taken over after a crash of supd is followed
                // by a pidfd, not reaped.
                child: pid.is_none_or(|p| self.children.owns(p)),
                start_ticks: t.start_ticks.filter(|_| pid.is_some()),
                started_ms: t.started_at.map(unix_ms),
                pipes,
                start_in_ms,
                events: events_to_carry(t),
            });
        }
    }

    /// When the start of a pending task that has no process (`pid`) is due,
    /// in ms from `now`, if its timer is armed.
    fn start_in_ms(
        &self,
        key: TaskKey,
        t: &super::task::TaskRun,
        pid: Option<nix::unistd::Pid>,
        now: Instant,
    ) -> Option<u64> {
        (t.state == State::Pending && t.launched && pid.is_none())
            .then(|| {
                let generation = t.generation;
                self.io.timers.due_at(
                    |timer| matches!(timer, Timer::Start { task, generation: g } if *task == key && *g == generation),
                )
            })
            .flatten()
            .map(|at| at.saturating_duration_since(now).as_millis() as u64)
    }

    /// In the new image, before the jobs are made: what was carried waits
    /// for its tasks (see `new_instance`).
    pub(super) fn resume(&mut self, carry: &mut Carry, client: Option<Token>) {
        super::task::resume_event_seq(carry.event_seq);
        for c in carry.clients.drain(..) {
            self.server.resume_carried(self.io.poll.registry(), &mut self.io.watches.tokens, c);
        }
        self.jobs.load_errors = std::mem::take(&mut carry.load_errors);
        let unclaimed = &mut self.reports.store.unclaimed;
        for i in carry.instances.drain(..) {
            if !i.checks.is_empty() {
                unclaimed.checks.insert((i.job.clone(), i.group.clone(), i.index), i.checks);
            }
            if let Some(ago) = i.placed_ago_ms {
                unclaimed.placed.insert((i.job.clone(), i.group.clone(), i.index), ago);
            }
            unclaimed.alloc_ids.insert((i.job, i.group, i.index), i.id);
        }
        for t in carry.tasks.drain(..) {
            unclaimed.carried.insert((t.job.clone(), t.group.clone(), t.index, t.task.clone()), t);
        }
        self.pending.resumed = Some(Resumed {
            from: carry.from.clone(),
            client,
            files: Some(carry.parsed_files()),
            java: carry.java.take(),
            ..Resumed::default()
        });
    }

    /// Whether a carried task is still running as supd's child.
    pub(super) fn carried_running(&self, name: &Named) -> bool {
        self.reports.store.unclaimed.carried.get(name).is_some_and(|c| c.pid.is_some())
    }

    /// Once every job is in: the client that asked is answered, and what
    /// was carried for tasks that were not made again is closed (and their
    /// processes stopped: they belong to no job now).
    pub(super) fn resumed(&mut self) {
        let Some(resumed) = self.pending.resumed.take() else { return };
        self.reports.store.unclaimed.checks.clear();
        self.reports.store.unclaimed.placed.clear();
        for (_, t) in std::mem::take(&mut self.reports.store.unclaimed.carried) {
            // Taken, so closed.
            for fd in t.pipes.into_iter().flatten() {
                drop(process::sys::inherited_fd(fd));
            }
            if let Some(pid) = t.pid {
                log::warn!(
                    "{}.{}[{}]/{}: pid {pid} belongs to no job after the re-exec; killing it",
                    t.job,
                    t.group,
                    t.index,
                    t.task
                );
                let pid = nix::unistd::Pid::from_raw(pid);
                let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = process::signal_pid(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        let message = format!(
            "supd re-executed: {} -> {}; {} task(s) kept running, same pids",
            resumed.from,
            env!("CARGO_PKG_VERSION"),
            resumed.kept
        );
        log::info!("{message}");
        if let Some(token) = resumed.client {
            self.server.answer(self.io.poll.registry(), token, Response::ok(vec![message]));
        }
    }

    /// Takes over a task's run that an earlier image of supd, or a
    /// previous supd, left (see `TaskRun::take_over`).
    pub(super) fn take_over(&mut self, key: TaskKey) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(how) = t.take_over.take() else { return };
        match *how {
            TakeOver::StartIn(after) => {
                let generation = t.generation;
                self.io.timers.arm(Instant::now() + after, Timer::Start { task: key, generation });
            }
            TakeOver::Running { child, pipes, cgroups, event } => {
                let Some(pid) = t.pid else { return };
                t.push_event(event.0, event.1);
                if self.cfg.cgroups.active() && !cgroups.is_empty() {
                    let label = self.label(key);
                    let Some(t) = self.jobs.task_mut(key) else { return };
                    match self.cfg.cgroups.reopen(&cgroups, &t.spec.resources) {
                        Ok(cg) => t.cgroup = Some(cg),
                        Err(e) => {
                            log::warn!("{label}: its cgroup is not taken over ({e}); its next run gets a new one")
                        }
                    }
                }
                if let Some(pipes) = pipes {
                    match self.adopt_log(key, pipes) {
                        Ok(log) => {
                            if let Some(t) = self.jobs.task_mut(key) {
                                t.log = Some(log);
                            }
                        }
                        Err(e) => log::warn!("{}: its output pipes are not taken over: {e}", self.label(key)),
                    }
                }
                if let Some(r) = self.pending.resumed.as_mut() {
                    r.kept += 1;
                }
                if child {
                    self.children.own(pid, super::Owner::Task(key));
                } else {
                    self.follow_foreign(key, pid);
                }
                // Placed before the exec: its max_run_duration counts
                // from then.
                let placed = self.jobs.runs.get(&key.run).and_then(|r| {
                    let i = r.instances.get(key.inst)?;
                    let group = r.job.groups.get(i.group)?.name.clone();
                    self.reports.store.unclaimed.placed.remove(&(r.job.id.clone(), group, i.index))
                });
                let now = Instant::now();
                let at = placed.and_then(|ago| now.checked_sub(Duration::from_millis(ago))).unwrap_or(now);
                self.placed_at(key.run, key.inst, at);
                self.activate_checks(key);
                self.resume_checks(key);
            }
        }
    }

    /// The checks of a task taken over across a re-exec go on as they
    /// were: status, output, failures in a row, what is left of the grace.
    fn resume_checks(&mut self, key: TaskKey) {
        let Some(run) = self.jobs.runs.get_mut(&key.run) else { return };
        let Some(inst) = run.instances.get_mut(key.inst) else { return };
        let Some(group) = run.job.groups.get(inst.group).map(|g| g.name.clone()) else { return };
        let name = (run.job.id.clone(), group, inst.index);
        let Some(carried) = self.reports.store.unclaimed.checks.get(&name) else { return };
        let now = Instant::now();
        for c in carried {
            let Some(check) = inst.checks.get_mut(c.at).filter(|k| k.task == key.task && k.active) else { continue };
            if let Some(status) = crate::jobspec::model::CheckStatus::parse(&c.status) {
                check.status = status;
            }
            check.output.clone_from(&c.output);
            let grace_until = now + Duration::from_millis(c.grace_left_ms);
            check.watch =
                crate::policy::check_restart::CheckWatch::resumed(check.spec.check_restart, grace_until, c.consecutive);
        }
    }

    /// A carried task, matched with the task made again: what its run is
    /// taken over with. `None` when it had no process and no start due.
    pub(super) fn carried_run(&self, c: CarriedTask, run: &mut super::task::TaskRun) -> Option<TakeOver> {
        let from = self.pending.resumed.as_ref().map_or("?", |r| r.from.as_str());
        run.events = carried_events(c.events);
        if let Some(pid) = c.pid {
            run.state = State::Running;
            run.launched = true;
            run.pid = Some(nix::unistd::Pid::from_raw(pid));
            run.start_ticks = c.start_ticks;
            run.started_at = c.started_ms.map(from_unix_ms);
            let pipes = c.pipes.and_then(|p| {
                let fds: Vec<OwnedFd> = p.into_iter().filter_map(process::sys::inherited_fd).collect();
                <[OwnedFd; 4]>::try_from(fds).ok()
            });
            return Some(TakeOver::Running {
                child: c.child,
                pipes,
                cgroups: Vec::new(),
                event: (
                    "Reexecuted",
                    format!(
                        "supd re-executed ({from} -> {}); the task kept running as pid {pid}",
                        env!("CARGO_PKG_VERSION")
                    ),
                ),
            });
        }
        let after = Duration::from_millis(c.start_in_ms?);
        run.state = State::Pending;
        run.launched = true;
        Some(TakeOver::StartIn(after))
    }
}

impl Supervisor {
    /// Follows a task's process that is not supd's child (taken over from
    /// a previous supd): its pidfd says when it ends.
    pub(super) fn follow_foreign(&mut self, key: TaskKey, pid: nix::unistd::Pid) {
        let token = self.io.watches.token();
        let watched = process::pidfd_open(pid).and_then(|fd| {
            let raw = fd.as_raw_fd();
            self.io.poll.registry().register(&mut mio::unix::SourceFd(&raw), token, mio::Interest::READABLE)?;
            Ok(fd)
        });
        match watched {
            Ok(fd) => self.io.watches.watch_adopted(token, key, fd),
            // Gone already (or it cannot be watched): its run has ended.
            Err(e) => {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    log::warn!("{}: cannot follow pid {pid} ({e}); taken as ended", self.label(key));
                }
                self.on_exit(key, process::Exit::Unknown);
            }
        }
    }

    /// A task's process taken over from a previous supd ended; how, only
    /// its parent knows.
    pub(super) fn on_adopted_gone(&mut self, token: Token, key: TaskKey) {
        if let (_, Some(fd)) = self.io.watches.forget(token) {
            let raw = fd.as_raw_fd();
            let _ = self.io.poll.registry().deregister(&mut mio::unix::SourceFd(&raw));
        }
        if self.jobs.task(key).is_some_and(|t| t.pid.is_some()) {
            self.on_exit(key, process::Exit::Unknown);
        }
    }
}

/// A task's events as the earlier image had them.
pub(super) fn carried_events(events: Vec<CarriedEvent>) -> std::collections::VecDeque<TaskEvent> {
    events
        .into_iter()
        .map(|e| TaskEvent { seq: e.seq, time: from_unix_ms(e.time_ms), kind: intern(&e.kind), message: e.message })
        .collect()
}

/// Asks the binary at `exe` what it can take over, within [`CHECK_TIMEOUT`].
/// It is run with supd's own arguments, so that it also reads supd's
/// configuration as the new image will (a supd.toml edited since, that the
/// new image could not start with, is found here).
fn check_binary(exe: &std::path::Path, args: &[OsString]) -> Result<Abilities, BinaryError> {
    let mut asked: Vec<&std::ffi::OsStr> = args.iter().skip(1).map(OsString::as_os_str).collect();
    asked.push(std::ffi::OsStr::new(CHECK_FLAG));
    let answer = process::selfexec::ask(exe, &asked, CHECK_TIMEOUT)
        .map_err(BinaryError::Run)?
        .ok_or_else(|| BinaryError::Silent { exe: exe.to_path_buf(), secs: CHECK_TIMEOUT.as_secs() })?;
    if !answer.success {
        let said = String::from_utf8_lossy(&answer.stderr).trim().to_string();
        return Err(BinaryError::Failed { status: answer.status, said });
    }
    let a: Abilities = serde_json::from_slice(answer.stdout.trim_ascii()).map_err(|_| BinaryError::NotSupd)?;
    if !(a.carry[0]..=a.carry[1]).contains(&CARRY_VERSION) {
        return Err(BinaryError::Carry { supd: a.supd, low: a.carry[0], high: a.carry[1] });
    }
    if a.state < crate::state::VERSION {
        return Err(BinaryError::State { supd: a.supd, state: a.state });
    }
    Ok(a)
}

/// Executes `exe` with `args` and supd's environment, naming `carry`.
/// Returns only on failure.
fn exec(exe: &std::path::Path, args: &[OsString], carry: RawFd) -> String {
    // Descriptors systemd passed at supd's start were taken then: the
    // next image (the same pid) must not take those numbers again.
    let passed = |k: &OsString| k == CARRY_ENV || k.as_bytes().starts_with(b"LISTEN_");
    let env = std::env::vars_os()
        .filter(|(k, _)| !passed(k))
        .chain([(OsString::from(CARRY_ENV), OsString::from(carry.to_string()))]);
    process::selfexec::exec(exe, args, env).to_string()
}

/// The carried names of a task, as saved states name it.
pub(super) fn named(job: &str, group: &str, index: u32, task: &str) -> Named {
    (job.to_string(), group.to_string(), index, task.to_string())
}

/// The state of an instance's active checks, as carried.
fn checks_to_carry(inst: &super::task::Instance, now: Instant) -> Vec<CarriedCheck> {
    inst.checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.active)
        .map(|(at, c)| CarriedCheck {
            at,
            status: c.status.as_str().to_string(),
            output: c.output.clone(),
            consecutive: c.watch.consecutive(),
            grace_left_ms: c.watch.grace_left(now).as_millis() as u64,
        })
        .collect()
}

/// A task's events, as carried.
fn events_to_carry(t: &super::task::TaskRun) -> Vec<CarriedEvent> {
    t.events
        .iter()
        .map(|e| CarriedEvent {
            seq: e.seq,
            time_ms: unix_ms(e.time),
            kind: e.kind.to_string(),
            message: e.message.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
