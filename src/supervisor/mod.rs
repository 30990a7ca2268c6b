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
mod containers;
mod control;
mod core;
mod dispatch;
mod due;
mod errors;
mod event;
mod handoff;
mod health;
pub mod identity;
mod jobs;
mod launch;
mod max_run;
mod metrics;
mod output;
mod parsing;
mod parts;
mod periodic;
mod persist;
pub mod reexec;
mod reload;
mod remote;
mod rendering;
mod resources;
mod rng;
mod run;
mod server;
mod settings;
mod setup;
mod spawner;
mod status;
pub mod task;
mod timers;
mod update;
mod variables;
mod warm;
mod watches;

use crate::process;
use children::{Children, Owner};
use jobs::Jobs;
use mio::{Events, Interest, Poll, Token};
use parts::{Io, Pending, Reports};
use server::ControlServer;
pub use settings::{Config, Error};

/// Ended runs kept per periodic or parameterized job when supd.toml does
/// not say (`keep_ended_runs`).
pub const KEEP_ENDED_RUNS: usize = periodic::KEEP_ENDED;
use signal_hook::consts::{
    SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGIO, SIGPROF, SIGQUIT, SIGTERM, SIGTSTP, SIGURG, SIGUSR1, SIGUSR2, SIGVTALRM,
    SIGWINCH,
};
use signal_hook_mio::v1_0::Signals;
use std::time::{Duration, Instant};
pub use task::{CheckKey, TaskKey};
use timers::{Timer, Timers};
use watches::{Watched, Watches};

const SIGNALS: Token = Token(0);
const LISTENER: Token = Token(1);
const CHILDREN: Token = Token(2);
/// A helper thread has a result: an artifact fetch or the parse of a
/// large job file ended (the loop's one `mio::Waker`).
const WOKEN: Token = Token(3);
/// A template's `source` changed (inotify).
const TEMPLATE_SOURCES: Token = Token(4);
const FIRST_TOKEN: usize = 5;

/// Signals supd handles (SIGCHLD aside, which a signalfd reads).
const HANDLED: [i32; 7] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH];

/// Every signal supd may handle: blocked across a re-exec.
fn all_handled() -> Vec<i32> {
    HANDLED.into_iter().chain(FORWARDED_AS_INIT).collect()
}

/// Signals supd passes on to every task only as init (a container's PID
/// 1), as tini does: in a terminal or under systemd they keep their usual
/// meaning for supd itself (SIGTSTP stops it, SIGCONT resumes it).
const FORWARDED_AS_INIT: [i32; 8] = [SIGALRM, SIGCONT, SIGIO, SIGPROF, libc::SIGPWR, SIGTSTP, SIGURG, SIGVTALRM];

/// Where supd itself stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Every task is being stopped; supd exits once they are.
    Stopping,
    /// A second stop request came: no more waiting.
    Hurrying,
}

/// The longest run of due timers between two polls.
const TIMER_TURN: Duration = Duration::from_millis(5);

pub struct Supervisor {
    cfg: Config,
    /// The loop's event sources and clocks.
    io: Io,
    /// Every child's owner, and the reaping.
    children: Children,
    server: ControlServer,
    /// Every job, its versions, instances and tasks.
    jobs: Jobs,
    /// Running, or stopping every task before supd exits.
    phase: Phase,
    /// What supd writes down and tells the world.
    reports: Reports,
    /// Work in flight off the loop, or due later.
    pending: Pending,
}

impl Supervisor {
    pub fn new(cfg: Config) -> Result<Supervisor, Error> {
        let poll = Poll::new().map_err(|e| Error::Setup(format!("cannot create the event loop: {e}")))?;
        let signals = watch_signals(&poll, cfg.init)?;
        // An earlier image blocked them across its exec of this one: those
        // that came meanwhile are handled now.
        let _ = process::sys::unblock_signals(&all_handled());
        reexec::remember_start();
        let mut carry = reexec::take_carry();
        // Before any other thread is made: they inherit the blocked SIGCHLD.
        let children = watch_children(&poll)?;
        let (parses, warmer, setup) = off_loop_work(&poll, &cfg)?;
        let mut watches = Watches::starting_at(FIRST_TOKEN);
        let (server, client) = open_control(&cfg, &poll, &mut watches, carry.as_mut())?;
        let output = output::Sinks {
            journald: crate::logs::journal::Journal::new(&cfg.journal_socket),
            warnings: output::WarnThrottle::default(),
        };
        let metrics_listen = cfg.metrics_listen;
        let mut s = Supervisor {
            cfg,
            io: Io {
                poll,
                signals,
                watches,
                timers: Timers::new(Instant::now()),
                rng: rng::Rng::seeded(),
                pin_start: false,
            },
            children,
            server,
            jobs: Jobs::default(),
            phase: Phase::Running,
            reports: Reports {
                store: persist::Store::default(),
                notify: crate::notify::Notifier::from_env(),
                output,
                metrics: metrics::Metrics::default(),
                variables: None,
            },
            pending: Pending {
                setup,
                containers: containers::Containers::default(),
                parses,
                launches: periodic::Launches::default(),
                graveyard: cgroups::Graveyard::default(),
                warmer,
                spawner: None,
                resumed: None,
                remote: remote::Remote::default(),
                java: parts::JavaProbe::None,
            },
        };
        s.settle_in(carry, client, metrics_listen)?;
        Ok(s)
    }

    /// The end of `new`: the Variables, what an earlier image carried, the
    /// descriptors systemd's store kept, and the metrics endpoint.
    fn settle_in(
        &mut self,
        carry: Option<reexec::Carry>,
        client: Option<Token>,
        metrics_listen: Option<std::net::SocketAddr>,
    ) -> Result<(), Error> {
        // Before any template is rendered.
        self.load_variables();
        if let Some(mut carry) = carry {
            self.resume(&mut carry, client);
        }
        for (name, fd) in crate::notify::stored_fds() {
            self.reports.store.unclaimed.stored.entry(name).or_default().push(fd);
        }
        if let Some(addr) = metrics_listen {
            self.bind_metrics(addr).map_err(|e| Error::Setup(e.to_string()))?;
        }
        Ok(())
    }

    /// Loads the job directory, starts everything, and runs until shut
    /// down. Returns the exit code supd should end with.
    pub fn run(mut self) -> i32 {
        if let Some(code) = self.bring_up() {
            return code;
        }
        self.run_loop();
        self.close_down()
    }

    /// Bring-up before the loop: the job directory read, the saved state
    /// restored, the tasks started, supd declared ready. `Some(code)` when
    /// supd must exit with it instead.
    fn bring_up(&mut self) -> Option<i32> {
        let (java, files) = self.read_job_dir();
        self.boot_if_fresh();
        self.restore();
        let plan = self.plan_files(files, reload::Detail::Changes);
        self.pending.spawner = spawner::Spawner::start();
        self.apply_reload(plan, reload::All::ThatLoaded);
        self.spawns_done();
        // No job needed the JVM's answer: it is asked once bring-up is over.
        if java {
            self.pending.java = parts::JavaProbe::Later;
        }
        // An init has no one to reload it once the files are fixed.
        if self.cfg.exit_when_done && self.jobs.current.is_empty() && !self.jobs.load_errors.is_empty() {
            log::error!(
                "no job file of {} loads: nothing to run — fix the files (`supd --check` lists the problems)",
                self.cfg.job_dir.display()
            );
            self.release_all_cgroups();
            self.server.close();
            return Some(1);
        }
        self.kill_unclaimed();
        self.resumed();
        // Engines that answered already: what no task claimed goes; the
        // others' answers are carried into the tasks as they come.
        self.pending.containers.settled = true;
        self.remove_unclaimed_containers();
        log::info!("supd ready: {} job(s), control socket {}", self.jobs.current.len(), self.cfg.socket.display());
        self.reports.notify.ready(&self.jobs.status_line());
        if let Some(every) = crate::notify::watchdog_interval() {
            self.io.timers.arm(Instant::now() + every, Timer::Watchdog);
        }
        None
    }

    /// The first part of bring-up: the JVM and the container engines asked
    /// while the job directory is read (or taken from a carry), and waited
    /// for when the jobs may place by their attributes. Returns whether
    /// the JVM is still to be asked, and the files.
    fn read_job_dir(&mut self) -> (bool, JobFiles) {
        // `driver.java` and `driver.java.version`, when this host has a JVM
        // and supd can isolate its tasks (java tasks run as exec ones). A
        // JVM takes tens of milliseconds of both CPUs to answer: when a job
        // may need it (a java task, a constraint on it), it answers while
        // the job directory is read and is waited for before the jobs
        // start; else it is asked once bring-up is over.
        // After a re-exec, what the earlier image found.
        let carried = self.pending.resumed.as_mut().and_then(|r| r.java.take());
        let can_run_java = carried.is_none() && process::isolate::missing().is_none();
        if let Some(attrs) = carried {
            self.cfg.node.attrs.extend(attrs);
        }
        // The container engines answer on threads of their own meanwhile.
        self.survey_engines();
        // After a re-exec, the job files as the earlier image ran them.
        let files: JobFiles = match self.pending.resumed.as_mut().and_then(|r| r.files.take()) {
            Some(files) => Ok(files),
            None => crate::jobspec::parse_dir(&self.cfg.job_dir),
        };
        // Jobs saved by an earlier supd count too (a sealed source may be
        // one: then it is waited for).
        let saved = crate::state::Mentions::read(&self.cfg.state_dir);
        let needs_java = saved.may_mention(b"java")
            || files
                .as_ref()
                .is_ok_and(|f| f.iter().any(|(_, p)| p.jobs.iter().any(|j| mentions_java(j.source.as_bytes()))));
        let java = can_run_java && !needs_java;
        if can_run_java && needs_java {
            self.pending.java = parts::JavaProbe::Later;
            self.settle_java();
        }
        // A job that places by an engine's attributes waits for them (each
        // survey's requests have 5 s); other container tasks wait for
        // their engine's answer as they start, and host tasks not at all.
        let needs_engines = crate::drivers::all().filter(|d| d.engine.is_some()).any(|d| {
            let word = format!("driver.{}", d.name);
            let word = word.as_bytes();
            files.as_ref().is_ok_and(|f| {
                f.iter().any(|(_, p)| p.jobs.iter().any(|j| j.source.as_bytes().windows(word.len()).any(|w| w == word)))
            }) || saved.may_mention(word)
        });
        if needs_engines {
            self.await_surveys(Duration::from_secs(6));
        }
        (java, files)
    }

    /// The loop itself, from bring-up's end until every task has stopped
    /// and supd may exit.
    fn run_loop(&mut self) {
        let mut events = Events::with_capacity(256);
        let mut sweeping = false;
        // Until the loop first has nothing to do, it polls without
        // blocking; that first idle moment ends bring-up (see `brought_up`).
        let mut settled = false;
        loop {
            if !self.stopping() && self.cfg.exit_when_done && self.jobs.all_done() {
                log::info!("every job has ended; exiting");
                self.phase = Phase::Stopping;
            }
            if self.stopping() && self.everything_stopped() && self.last_orphans_gone(&mut sweeping) {
                break;
            }
            let due_in = self.io.timers.timeout(Instant::now());
            let looking = !settled && due_in != Some(Duration::ZERO);
            let timeout = if looking { Some(Duration::ZERO) } else { due_in };
            if let Err(e) = self.io.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("event loop: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            if looking && events.is_empty() {
                settled = true;
                self.guarded(|s| s.brought_up());
                continue;
            }
            // One start a turn, after bring-up, has its clone held to
            // supd's CPU: a restart on a quiet host, whose child then runs
            // at once on a CPU that is awake. Not the starts in numbers (a
            // bring-up, a reload, many tasks restarting together): their
            // children would crowd supd's CPU while the others idle (1000
            // starts took 1.2-2.2 s pinned against 0.52 s).
            self.io.pin_start = settled;
            for ev in events.iter() {
                let (token, readable, writable) = (ev.token(), ev.is_readable(), ev.is_writable());
                // A bug in handling one event must not take the supervisor
                // (maybe PID 1) down with every task: log it and go on.
                self.guarded(|s| s.dispatch_ready(token, readable, writable));
            }
            self.guarded(|s| s.run_due_timers());
            self.guarded(|s| s.broadcast_events());
            if self.reports.notify.enabled() {
                let line = self.jobs.status_line();
                self.reports.notify.status(&line);
            }
        }
    }

    /// Routes one ready token to the component that owns it.
    fn dispatch_ready(&mut self, token: Token, readable: bool, writable: bool) {
        match token {
            SIGNALS => self.on_signals(),
            CHILDREN => self.on_children(),
            LISTENER => self.server.accept(self.io.poll.registry(), &mut self.io.watches.tokens),
            WOKEN => {
                self.on_java();
                self.on_fetched();
                self.on_rendered();
                self.on_parsed();
                self.on_warmed();
            }
            TEMPLATE_SOURCES => self.on_template_sources(),
            token => match self.io.watches.get(token) {
                Some(Watched::Log { task, stream }) => self.drain_log(task, stream),
                Some(Watched::Check(check)) => self.on_check_socket(check),
                Some(Watched::Leftover(task)) => self.on_leftover_gone(token, task),
                Some(Watched::Adopted(task)) => self.on_adopted_gone(token, task),
                None if self.server.owns(token) => self.on_client(token, readable, writable),
                None if self.pending.containers.owns(token) => self.on_container_reports(),
                None if self.metrics_owns(token) => self.on_metrics(token),
                None => {}
            },
        }
    }

    /// After the loop: the last save, cgroups and mounts let go, the socket
    /// removed. Returns the exit code supd should end with.
    fn close_down(&mut self) -> i32 {
        if self.reports.store.save_pending {
            self.save();
        }
        self.release_all_cgroups();
        self.unmount_alloc_dirs();
        self.server.close();
        let code = if self.cfg.exit_when_done { self.jobs.exit_code() } else { 0 };
        log::info!("supd stopped: every task has ended (exit status {code})");
        code
    }

    /// The loop's first idle moment (it would block in poll): bring-up is
    /// over. What it changed is saved now rather than at a timer, so that
    /// an idle supd has nothing left to wake for; then what only bring-up
    /// needed goes back to the system: the allocator's free memory and the
    /// pages of supd's own code that bring-up alone ran.
    fn brought_up(&mut self) {
        if matches!(self.pending.java, parts::JavaProbe::Later) {
            self.pending.java = parts::JavaProbe::Asked(self.ask_java());
        }
        if self.reports.store.save_pending {
            self.io.timers.cancel(|t| matches!(t, Timer::Save));
            self.save_acknowledged();
        }
        process::sys::trim_heap();
        process::sys::release_startup_code();
    }

    /// `java -version` asked on a thread of its own, which sends the
    /// attributes and wakes the loop.
    fn ask_java(&self) -> std::sync::mpsc::Receiver<Vec<(String, String)>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (settings, waker) = (self.cfg.java.clone(), self.pending.parses.waker());
        let asked = std::thread::Builder::new().name("java-probe".into()).stack_size(128 * 1024).spawn(move || {
            let _ = tx.send(settings.fingerprint());
            let _ = waker.wake();
        });
        if let Err(e) = asked {
            log::warn!("cannot ask the JVM for its version ({e}): driver.java is not set");
        }
        rx
    }

    /// The JVM answered (the loop was woken): its attributes are taken.
    fn on_java(&mut self) {
        if let parts::JavaProbe::Asked(rx) = &self.pending.java {
            match rx.try_recv() {
                Ok(attrs) => {
                    self.cfg.node.attrs.extend(attrs);
                    self.pending.java = parts::JavaProbe::None;
                    // The thread's heap and the code only it ran go back,
                    // as bring-up's did.
                    process::sys::trim_heap();
                    process::sys::release_startup_code();
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
                Err(std::sync::mpsc::TryRecvError::Disconnected) => self.pending.java = parts::JavaProbe::None,
            }
        }
    }

    /// Before anything that reads the node's attributes (a job placed, a
    /// reload, a hand-off, a re-exec's carry): the JVM's answer is taken,
    /// waited for (at most [`JAVA_WAIT`]) if it is still on its way, asked
    /// now if bring-up has not asked it yet. A JVM that does not answer in
    /// time leaves `driver.java` unset until it does.
    pub(super) fn settle_java(&mut self) {
        let rx = match std::mem::take(&mut self.pending.java) {
            parts::JavaProbe::None => return,
            parts::JavaProbe::Later => self.ask_java(),
            parts::JavaProbe::Asked(rx) => rx,
        };
        match rx.recv_timeout(JAVA_WAIT) {
            Ok(attrs) => self.cfg.node.attrs.extend(attrs),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                log::warn!(
                    "`java -version` has not answered within {} s: driver.java is unset until it does",
                    JAVA_WAIT.as_secs()
                );
                self.pending.java = parts::JavaProbe::Asked(rx);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
        }
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

    /// SIGCHLD: every ended child goes to its owner.
    fn on_children(&mut self) {
        let reaped = self.children.on_signal();
        self.on_reaped(reaped);
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.io.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGTERM | SIGINT | SIGQUIT => self.shutdown(&crate::signals::name(sig)),
                SIGHUP if self.cfg.sighup == crate::config::Sighup::Forward => self.forward_signal(sig),
                SIGHUP => {
                    log::info!("SIGHUP: reloading {}", self.cfg.job_dir.display());
                    self.settle_java();
                    self.reports.notify.reloading();
                    let plan = self.plan_reload(reload::Detail::Changes);
                    self.apply_reload(plan, reload::All::OrNothing);
                    self.reports.notify.ready(&self.jobs.status_line());
                }
                // Signals supd has no use for go to every task, as a
                // container's init passes them on (tini, dumb-init).
                SIGUSR1 | SIGUSR2 | SIGWINCH => self.forward_signal(sig),
                _ if FORWARDED_AS_INIT.contains(&sig) => self.forward_signal(sig),
                _ => {}
            }
        }
    }

    fn on_reaped(&mut self, reaped: children::Reaped) {
        self.metrics_reaped(&reaped);
        for (pid, owner, exit) in reaped.ended {
            match owner {
                Owner::Task(key) => self.on_exit(key, exit),
                Owner::Check(key) => self.on_script_exit(key, pid, exit),
                Owner::Discarded => {}
                Owner::Handoff { run, inst } => self.on_hook_exit(run, inst, pid, exit),
                Owner::Remote { ask } => self.on_remote_exit(ask, exit),
                Owner::ChangeScript { task, template } => self.on_change_script_exit(task, template, pid, exit),
            }
        }
        if reaped.reap_again {
            self.io.timers.arm(Instant::now() + children::REAP_AGAIN, Timer::Reap);
        }
        if reaped.sweep {
            self.sweep_soon();
        }
    }

    /// Schedules a sweep for orphans (reading /proc costs time in
    /// proportion to supd's children, so a thousand tasks ending together
    /// share one).
    fn sweep_soon(&mut self) {
        if self.children.want_sweep() {
            self.io.timers.arm(Instant::now() + Duration::from_millis(20), Timer::Sweep);
        }
    }

    /// supd is stopping every task, to exit.
    fn stopping(&self) -> bool {
        self.phase != Phase::Running
    }

    fn everything_stopped(&mut self) -> bool {
        if !(self.children.is_empty() && self.jobs.nothing_live()) {
            return false;
        }
        // Containers being removed are waited for, unless in a hurry, and
        // at most DRIVER_GRACE: a start or a removal that an engine does
        // not answer is not waited for (what it leaves, the next supd's
        // survey removes).
        let busy = self.pending.containers.busy();
        if busy == 0 || self.phase == Phase::Hurrying {
            return true;
        }
        let now = Instant::now();
        match self.pending.containers.grace {
            Some(until) if now >= until => {
                log::warn!("{busy} container driver request(s) still unanswered; not waiting for them");
                true
            }
            Some(_) => false,
            None => {
                self.pending.containers.grace = Some(now + DRIVER_GRACE);
                self.io.timers.arm(now + DRIVER_GRACE, Timer::Wake);
                false
            }
        }
    }
}

/// How long a stopping supd waits for container driver requests once
/// every task has stopped.
const DRIVER_GRACE: Duration = Duration::from_secs(3);

/// How long whatever needs the JVM's attributes waits for its answer.
const JAVA_WAIT: Duration = Duration::from_secs(10);

/// Whether a job's text may need the JVM's attributes: a `java` task, or a
/// constraint on `driver.java`.
fn mentions_java(text: &[u8]) -> bool {
    text.windows(4).any(|w| w == b"java")
}

/// The job directory's files as read: each with what it parsed to, or why
/// the directory could not be read.
type JobFiles = Result<Vec<(std::path::PathBuf, crate::jobspec::Parsed)>, crate::jobspec::DirError>;

/// The signals supd handles (those it passes on as init too, when it is
/// one), watched by the loop's `Poll`.
fn watch_signals(poll: &Poll, init: bool) -> Result<Signals, Error> {
    let as_init: &[i32] = if init { &FORWARDED_AS_INIT } else { &[] };
    let handled = HANDLED.into_iter().chain(as_init.iter().copied());
    let mut signals =
        Signals::new(handled).map_err(|e| Error::Setup(format!("cannot install signal handlers: {e}")))?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .map_err(|e| Error::Setup(format!("cannot watch signals: {e}")))?;
    Ok(signals)
}

/// The SIGCHLD signalfd, watched by the loop's `Poll`.
fn watch_children(poll: &Poll) -> Result<Children, Error> {
    let children = Children::new().map_err(|e| Error::Setup(format!("cannot watch child processes: {e}")))?;
    poll.registry()
        .register(&mut mio::unix::SourceFd(&children.fd()), CHILDREN, Interest::READABLE)
        .map_err(|e| Error::Setup(format!("cannot watch child processes: {e}")))?;
    Ok(children)
}

/// The loop's waker and the work that reports through it: large parses,
/// the cgroup warmer, artifact fetches and template sources.
fn off_loop_work(poll: &Poll, cfg: &Config) -> Result<(parsing::Parses, warm::Warmer, setup::SetupWork), Error> {
    let waker = std::sync::Arc::new(
        mio::Waker::new(poll.registry(), WOKEN)
            .map_err(|e| Error::Setup(format!("cannot make the loop's waker: {e}")))?,
    );
    let parses = parsing::Parses::new(waker.clone());
    let warmer = warm::Warmer::new(cfg.cgroups.warm_file(), waker.clone());
    let setup = setup::SetupWork::new(poll.registry(), waker, TEMPLATE_SOURCES)
        .map_err(|e| Error::Setup(format!("cannot watch artifact downloads and template sources: {e}")))?;
    Ok((parses, warmer, setup))
}

/// The control socket (bound, or the listener an earlier image carried)
/// watched by the loop, and the token of the carried client that asked
/// for the re-exec, if it can still be answered.
fn open_control(
    cfg: &Config,
    poll: &Poll,
    watches: &mut Watches,
    mut carry: Option<&mut reexec::Carry>,
) -> Result<(ControlServer, Option<Token>), Error> {
    let carried_listener = carry.as_ref().and_then(|c| process::sys::inherited_fd(c.listener));
    let mut server = match carried_listener {
        Some(fd) => ControlServer::resume(&cfg.socket, fd),
        None => ControlServer::bind(&cfg.socket, cfg.socket_group),
    }
    .map_err(|e| Error::Setup(e.0))?;
    server
        .register(poll.registry(), LISTENER, &mut watches.tokens)
        .map_err(|e| Error::Setup(format!("cannot watch the control socket: {e}")))?;
    let client = carry.as_mut().and_then(|c| c.client.take()).and_then(process::sys::inherited_fd).and_then(|fd| {
        match server.resume_client(poll.registry(), &mut watches.tokens, fd) {
            Ok(token) => Some(token),
            Err(e) => {
                log::warn!("the client that asked for the re-exec cannot be answered: {e}");
                None
            }
        }
    });
    Ok((server, client))
}
