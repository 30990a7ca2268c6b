//! A task's start: whether it may go on, what its process starts with, the
//! spawn (inline, or ahead on the spawner's thread) and what came of it.

use crate::policy::restart::Outcome;
use crate::process;
use crate::supervisor::core::Input;
use crate::supervisor::launch;
use crate::supervisor::task::EventKind;
use crate::supervisor::{Owner, Supervisor, TaskKey, Timer};
use std::time::{Instant, SystemTime};

impl Supervisor {
    pub(in crate::supervisor) fn start_task(&mut self, key: TaskKey) {
        self.start_task_once(key, true);
    }

    /// Starts a task; `retry`: a kept cgroup that cannot be joined any more
    /// (removed under supd) is replaced by a new one and the start is made
    /// again at once.
    fn start_task_once(&mut self, key: TaskKey, retry: bool) {
        let kept_cgroup = self.jobs.task(key).is_some_and(|t| t.cgroup.is_some());
        if !self.ready_to_start(key) {
            return;
        }
        if let Some(why) = self.jobs.task(key).and_then(|t| crate::drivers::missing_config(&t.spec)) {
            return self.start_failed(key, why, false);
        }
        let Some(spec) = self.launch_spec(key) else { return };
        let Some(t) = self.jobs.task(key) else { return };
        // The driver: a container task goes to its engine from here.
        if crate::drivers::Kind::of(&t.spec) == crate::drivers::Kind::Container {
            return self.start_container(key, spec);
        }
        // An isolated task's root needs its mount points.
        if let Some(iso) = &spec.isolation
            && let Err(e) = crate::taskdir::layout::make_mount_points(iso)
        {
            return self.start_failed(key, format!("cannot prepare the task's root: {e}"), false);
        }
        // Kept open by the task's cgroup, across its runs.
        let cgroup = match self.cgroup_for_start(key) {
            Ok(fds) => fds,
            Err(e) => {
                self.start_failed(key, e.to_string(), true);
                return;
            }
        };
        // A join of v1 cgroups when the cgroup core is cold would hold the
        // loop up (warm.rs): the start waits for it instead.
        let v1_join = !cgroup.procs.is_empty();
        if v1_join && self.held_for_warmth(key) {
            return;
        }
        self.ensure_task_log(key);
        self.journal_starting(key);
        // At supd's start the process is made on the spawn thread while
        // this one prepares the next task (spawner.rs).
        let (spec, cgroup) = match self.spawn_ahead(key, spec, cgroup, kept_cgroup, retry, v1_join) {
            Ok(()) => return,
            Err(back) => *back,
        };
        self.spawn_inline(key, spec, cgroup, v1_join, kept_cgroup, retry);
    }

    /// Whether a task's start may go on: it is not running or being
    /// spawned, its engine is not surveyed (else it is parked), and its
    /// pre-start stage is done (setup.rs).
    fn ready_to_start(&mut self, key: TaskKey) -> bool {
        let Some(t) = self.jobs.task(key) else { return false };
        if t.pid.is_some() {
            log::error!("{} is already running; not starting it twice", self.label(key));
            return false;
        }
        if self.pending.spawner.as_ref().is_some_and(|s| s.busy_with(key)) {
            return false;
        }
        // A container task waits for its engine's answer at start: a
        // container a previous supd left may be its run.
        if self.pending.containers.surveying(t.spec.driver) {
            self.park(key);
            return false;
        }
        // Its directory, artifacts and templates first (setup.rs); a
        // download in flight calls back here once it is in.
        self.setup_task(key)
    }

    /// What a task's process starts with (launch.rs); `None` when it cannot
    /// be made (the start has failed). A `${...}` nothing resolves is told
    /// once per task.
    fn launch_spec(&mut self, key: TaskKey) -> Option<process::SpawnSpec> {
        let run = self.jobs.runs.get(&key.run)?;
        let instance = run.instances.get(key.inst)?;
        let t = instance.tasks.get(key.task)?;
        let spec = match launch::task_spec(&self.cfg.node, &self.cfg.drivers(), run, instance, t) {
            Ok(s) => s,
            Err(message) => {
                self.start_failed(key, crate::error_chain(&message), false);
                return None;
            }
        };
        let unresolved = launch::take_unresolved();
        if !unresolved.is_empty()
            && let Some(t) = self.jobs.task_mut(key)
        {
            let names: Vec<String> = unresolved.iter().map(|n| format!("${{{n}}}")).collect();
            let message = format!("{} not known on this node: left as written", names.join(", "));
            // Said once per task, not at every restart.
            if !t.events.iter().any(|e| e.kind == EventKind::UnresolvedReference && *e.message == *message) {
                log::warn!("{}: {message}", t.spec.name);
                t.push_event(EventKind::UnresolvedReference, message);
            }
        }
        Some(spec)
    }

    /// A start that joins v1 cgroups while the cgroup core is cold: true
    /// when it waits for the core to be warm (warm.rs) instead of going on.
    fn held_for_warmth(&mut self, key: TaskKey) -> bool {
        if self.pending.warmer.is_warm(Instant::now()) {
            return false;
        }
        let Some(t) = self.jobs.task_mut(key) else { return true };
        if t.setup.warming == Some(t.generation) {
            return true;
        }
        if self.pending.warmer.hold(key, t.generation) {
            t.setup.warming = Some(t.generation);
            return true;
        }
        false
    }

    /// Makes a task's process on the loop's thread, then carries what came
    /// of it into the model (`spawned_as`).
    fn spawn_inline(
        &mut self,
        key: TaskKey,
        spec: process::SpawnSpec,
        cgroup: process::Join,
        v1_join: bool,
        kept_cgroup: bool,
        retry: bool,
    ) {
        let pin = std::mem::take(&mut self.io.pin_start);
        let (stdout, stderr) = self.task_io(key);
        let before = process::sys::boot_ticks_now();
        let result = process::spawn_in(&spec, stdout, stderr, &cgroup, pin);
        let ticks = match &result {
            Ok(pid) => process::sys::child_start_ticks(pid.as_raw(), before, process::sys::boot_ticks_now()),
            Err(_) => None,
        };
        self.spawned_as(key, result, ticks, v1_join, kept_cgroup, retry);
    }

    /// What a spawn came to, carried into the model: the task runs, or
    /// its start failed (a cgroup removed under supd is made again once).
    pub(in crate::supervisor) fn spawned_as(
        &mut self,
        key: TaskKey,
        result: Result<nix::unistd::Pid, process::SpawnError>,
        ticks: Option<u64>,
        v1_join: bool,
        kept_cgroup: bool,
        retry: bool,
    ) {
        match result {
            Ok(pid) => {
                if v1_join {
                    self.pending.warmer.migrated(Instant::now());
                }
                let Some(t) = self.jobs.task_mut(key) else { return };
                t.setup.warming = None;
                if let Some(cg) = t.cgroup.as_mut() {
                    cg.started();
                }
                self.children.own(pid, Owner::Task(key));
                self.task_started(key, pid, ticks);
            }
            Err(e) => {
                if matches!(e, process::SpawnError::Cgroup(_))
                    && let Some(mut cg) = self.jobs.task_mut(key).and_then(|t| t.cgroup.take())
                {
                    // Removed or broken under supd: a new one is made.
                    let _ = cg.remove();
                    if retry && kept_cgroup {
                        log::warn!("{}: {e}; starting it in a new cgroup", self.label(key));
                        self.start_task_once(key, false);
                        return;
                    }
                }
                let recoverable = e.recoverable();
                self.start_failed(key, e.to_string(), recoverable)
            }
        }
    }

    /// The cgroup core is warm: the starts that waited for it go ahead
    /// (those still wanted: a stop since bumped the task's generation).
    /// They are due now rather than made here, so that a turn of the loop
    /// makes no more of them than its timer budget allows (hundreds of
    /// crash-looping tasks can be waiting).
    pub(in crate::supervisor) fn on_warmed(&mut self) {
        let now = Instant::now();
        for (key, generation) in self.pending.warmer.done(now) {
            let Some(t) = self.jobs.task_mut(key) else { continue };
            if t.generation != generation || t.setup.warming != Some(generation) {
                continue;
            }
            t.setup.warming = None;
            self.io.timers.arm(now, Timer::Start { task: key, generation });
        }
    }

    /// A task's run has started (its process, or its container's first
    /// process, is `pid`).
    pub(in crate::supervisor) fn task_started(&mut self, key: TaskKey, pid: nix::unistd::Pid, ticks: Option<u64>) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        t.pid = Some(pid);
        t.started_at = Some(SystemTime::now());
        t.start_ticks = ticks;
        t.exit = None;
        log::info!("{} started as pid {pid}", self.label(key));
        self.step(key.run, key.inst, Input::Started { task: key.task });
    }

    pub(in crate::supervisor) fn start_failed(&mut self, key: TaskKey, message: String, recoverable: bool) {
        log::warn!("{}: {message}", self.label(key));
        let Some(t) = self.jobs.task_mut(key) else { return };
        t.launched = true;
        t.push_event(EventKind::DriverFailure, message);
        self.decide(key, Outcome::StartError { recoverable });
    }
}
