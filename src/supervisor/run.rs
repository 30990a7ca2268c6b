//! Running tasks: starting them, handling their ends through the restart
//! policy, stopping them with escalation, and the coupling of the tasks of
//! one instance (lifecycle hooks, leader, sibling failure; reference §5).

use super::launch;
use super::lifecycle::{self, Reason, Teardown};
use super::task::{After, Instance, JobRun, State, TakeOver, TaskRun};
use super::update::Update;
use super::{Phase, Supervisor, TaskKey, Timer};
use crate::jobspec::duration::GoDuration;
use crate::jobspec::model::Job;
use crate::policy::restart::{Decision, Outcome, RestartReason, RestartTracker, restarts_on_success};
use crate::process::{self, Exit};
use nix::sys::signal::Signal;
use std::time::{Instant, SystemTime};

/// Where a submitted job comes from, which decides what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A file of the job directory: reloads follow the file.
    JobDir { file: String },
    /// `supctl job run`, now: it ends a `job stop`, and it is saved.
    Operator { name: String },
    /// A job submitted with `job run` before supd restarted.
    Restored { name: String },
    /// Work peers handed to this host: only these instances (group,
    /// index) run.
    HandedIn { name: String, only: Vec<(String, u32)> },
    /// A run a periodic job launched (periodic.rs).
    Launched { name: String },
}

impl Source {
    /// The job file that defines it, for reloads (none when submitted).
    fn file(&self) -> Option<String> {
        match self {
            Source::JobDir { file } => Some(file.clone()),
            _ => None,
        }
    }

    /// The name it goes by in messages.
    fn name(&self) -> &str {
        match self {
            Source::JobDir { file } => file,
            Source::Operator { name }
            | Source::Restored { name }
            | Source::HandedIn { name, .. }
            | Source::Launched { name } => name,
        }
    }
}

impl Supervisor {
    /// Runs a job, replacing the version that runs under its ID. An
    /// identical job is a no-op; what the operator submits again also
    /// brings back what was handed off.
    pub(super) fn submit(&mut self, job: Job, source: Source) -> Vec<String> {
        let (file, origin) = (source.file(), source.name().to_string());
        let explicit = matches!(source, Source::Operator { .. });
        let only = match &source {
            Source::HandedIn { only, .. } => Some(only.as_slice()),
            _ => None,
        };
        if explicit && self.jobs.stopped.remove(&job.id) {
            self.state_changed();
        }
        let stays_stopped = self.jobs.stopped.contains(&job.id);
        if let Some(messages) = self.kept_as_is(&job, file.as_deref(), explicit, stays_stopped, only.is_some()) {
            return messages;
        }
        if explicit && file.is_none() {
            self.state_changed();
        }
        let mut messages = Vec::new();
        let current = self.jobs.current.get(&job.id).copied();
        // A version no longer current whose processes are still ending
        // (a handed-in job its origin recalled) is waited for as well.
        let replaces = current.or_else(|| {
            self.jobs
                .runs
                .values()
                .find(|r| r.job.id == job.id && r.instances.iter().any(|i| i.is_live()))
                .map(|r| r.serial)
        });
        if current.is_some() {
            self.stop_job(&job.id);
            messages.push(format!("job {:?} updated: its instances are replaced", job.id));
        } else {
            messages.push(format!("job {:?} submitted", job.id));
        }
        let serial = self.jobs.next_serial();
        let mut instances = self.instances_of(&job, only);
        let n = instances.len();
        self.jobs.current.insert(job.id.clone(), serial);
        if stays_stopped {
            // Stopped by the operator before: listed, but nothing starts.
            for inst in &mut instances {
                inst.winding_down = true;
            }
            messages.push(format!("job {:?} stays stopped (`supctl job run` starts it again)", job.id));
        }
        let digest = crate::state::digest(&job.source);
        let received = only.is_some();
        self.jobs.runs.insert(
            serial,
            Box::new(JobRun {
                serial,
                job,
                file,
                origin,
                instances,
                stopped: stays_stopped,
                replaces,
                received,
                digest,
            }),
        );
        self.periodic_submitted(serial);
        self.start_submitted(serial, n, replaces);
        messages
    }

    /// The answer to a submission whose instances stay as they run: the
    /// same job again (asked for explicitly, what was handed off runs here
    /// again), or a new version taken in place (update.rs); `None` when
    /// they are replaced (always for work handed in).
    fn kept_as_is(
        &mut self,
        job: &Job,
        file: Option<&str>,
        explicit: bool,
        stays_stopped: bool,
        received: bool,
    ) -> Option<Vec<String>> {
        if let Some(serial) = self.jobs.current.get(&job.id)
            && let Some(run) = self.jobs.runs.get(serial)
            && run.job.source == job.source
            && (!run.stopped || stays_stopped)
            && !received
        {
            // Asked for explicitly, what was handed off runs here again.
            if explicit {
                let serial = *serial;
                let back = self.take_back_handed_off(serial);
                if back > 0 {
                    return Some(vec![format!("job {:?}: {back} handed-off instance(s) run here again", job.id)]);
                }
            }
            return Some(vec![format!("job {:?} is unchanged", job.id)]);
        }
        if received {
            return None;
        }
        match self.update(job, file) {
            Update::Unchanged => Some(vec![format!("job {:?} is unchanged", job.id)]),
            Update::InPlace(message) => Some(vec![message]),
            Update::Replace => None,
        }
    }

    /// The instances of a new version of a job: every group's, or only
    /// those (group, index) handed in (`only`).
    fn instances_of(&mut self, job: &Job, only: Option<&[(String, u32)]>) -> Vec<Instance> {
        let mut instances = Vec::new();
        // A periodic or parameterized job runs nothing itself: its
        // launches do.
        for (gi, group) in job.groups.iter().enumerate().filter(|_| job.runs_itself()) {
            for index in 0..group.count {
                if only.is_some_and(|o| !o.iter().any(|(g, i)| g == &group.name && *i == index)) {
                    continue;
                }
                instances.push(self.new_instance(job, gi, index));
            }
        }
        instances.shrink_to_fit();
        instances
    }

    /// The first steps of a new version's `n` instances: what a previous
    /// supd left is taken in, then the version it `replaces` and the new
    /// one move on.
    fn start_submitted(&mut self, serial: u64, n: usize, replaces: Option<u64>) {
        // Processes a previous supd left running go first, each with its
        // task's kill signal and timeout.
        for inst in 0..n {
            self.take_in(serial, inst);
        }
        // The old version is forgotten as soon as nothing of it runs; if
        // nothing does now, the new one starts at once.
        if let Some(old) = replaces {
            let m = self.jobs.runs.get(&old).map_or(0, |r| r.instances.len());
            for inst in 0..m {
                self.advance(old, inst);
            }
        }
        for inst in 0..n {
            self.advance(serial, inst);
        }
    }

    /// What a previous supd (or supd's image before a re-exec) left of a
    /// new instance's tasks: a process to stop first, a container to
    /// follow, a run to take over.
    pub(super) fn take_in(&mut self, serial: u64, inst: usize) {
        let count = self.jobs.runs.get(&serial).and_then(|r| r.instances.get(inst)).map_or(0, |i| i.tasks.len());
        for task in 0..count {
            let key = TaskKey { run: serial, inst, task };
            if self.jobs.task(key).is_some_and(|t| t.leftover.is_some()) {
                self.stop_leftover(key);
            }
            self.follow_adopted(key);
            self.take_over(key);
        }
    }

    /// A new instance of a group, with what a previous supd saved of it
    /// (restart budgets, processes left running, hand-off state).
    pub(super) fn new_instance(&mut self, job: &Job, gi: usize, index: u32) -> Instance {
        let group = &job.groups[gi];
        let ports = group.ports.iter().map(|p| (p.label.clone(), p.static_port.unwrap_or_else(free_port))).collect();
        let digest = crate::state::digest(&job.source);
        // The directory a previous supd made for the same instance: it is
        // kept (the instance gets a new ID, as its cgroups a new name).
        let mut kept_dir = None;
        let tasks = (0..group.tasks.len())
            .map(|ti| {
                let (run, saved_dir) = self.restore_task(job, gi, index, ti, digest);
                if let Some(name) = saved_dir {
                    kept_dir.get_or_insert(name);
                }
                run
            })
            .collect();
        // The same instance keeps its ID across a re-exec (its tasks'
        // environment and cgroups name it).
        let id = match self.reports.store.unclaimed.alloc_ids.remove(&(job.id.clone(), group.name.clone(), index)) {
            Some(id) => id,
            None => self.io.rng.alloc_id(),
        };
        let dir = match crate::taskdir::AllocDir::new(&self.cfg.data_dir, kept_dir.as_deref().unwrap_or(&id)) {
            Ok(d) => Some(d),
            Err(e) => {
                log::error!("{}.{}[{index}]: no allocation directory: {e}", job.id, group.name);
                None
            }
        };
        let mut instance = Instance {
            group: gi,
            index,
            id,
            name: format!("{}.{}[{index}]", job.id, group.name),
            tasks,
            winding_down: false,
            ports,
            checks: super::task::instance_checks(job, gi),
            placed_at: None,
            history: Vec::new(),
            received_from: None,
            received_id: String::new(),
            resched: super::task::Resched::Idle,
            resched_gen: 0,
            description: None,
            dir,
            removed: false,
        };
        let saved = self.reports.store.unclaimed.instances.remove(&(job.id.clone(), group.name.clone(), index));
        match saved {
            Some(s) if s.source_digest == digest => super::handoff::restore_instance(&mut instance, s),
            // Handed off as another version (the file changed while supd
            // was down): that copy stops where it runs.
            Some(s) => self.recall_saved(&s, &instance.name),
            None => {}
        }
        instance
    }

    /// Task `ti` of a new instance, with what a previous supd saved or left
    /// of it (of the job whose source has `digest`); also the name of the
    /// allocation directory it saved.
    fn restore_task(&mut self, job: &Job, gi: usize, index: u32, ti: usize, digest: u64) -> (TaskRun, Option<String>) {
        let group = &job.groups[gi];
        let t = &group.tasks[ti];
        let mut tracker = RestartTracker::new(t.restart, restarts_on_success(job.job_type, t.lifecycle));
        let name = (job.id.clone(), group.name.clone(), index, t.name.clone());
        let (saved, stale_pid) = self.claim_saved(&name, digest);
        // What the image before a re-exec carried of it.
        let carried = self.reports.store.unclaimed.carried.remove(&name);
        if let Some(s) = &saved {
            restore_budget(&mut tracker, t, s);
        }
        let kept_dir = saved.as_ref().and_then(|s| s.alloc_dir.clone());
        let mut run = TaskRun::new(t.clone(), tracker);
        run.restarts = saved.as_ref().map_or(0, |s| s.restarts);
        if self.carry_over(carried, saved.as_ref(), name, &mut run) {
            return (run, kept_dir);
        }
        if self.claim_container(t.driver, (&job.id, &group.name, index, &t.name), saved.as_ref(), &mut run) {
            return (run, kept_dir);
        }
        if let Some(s) = saved.as_ref().filter(|_| !t.driver.is_container())
            && self.take_over_left(s, ti, &mut run)
        {
            return (run, kept_dir);
        }
        restore_last_run(saved.as_ref(), stale_pid, &mut run);
        run.push_event("Received", "Task received by client".into());
        (run, kept_dir)
    }

    /// The state a previous supd saved of a task (`name`), claimed if it is
    /// of the same job (`digest`); with the pid of a process of another
    /// version it left running, whose cgroup is emptied now.
    fn claim_saved(
        &mut self,
        name: &super::reexec::Named,
        digest: u64,
    ) -> (Option<crate::state::TaskSaved>, Option<i32>) {
        // The restart budget a previous supd used, for the same job.
        let (saved, stale) = match self.reports.store.unclaimed.tasks.remove(name) {
            Some(s) if s.source_digest == digest => (Some(s), None),
            other => (None, other),
        };
        // A process of another version of the job, left running by
        // a previous supd, does not run beside this one: with
        // cgroups, all of its cgroup is killed now; without, it is
        // stopped with the task's signal before the task starts.
        let stale_pid = stale.as_ref().and_then(super::persist::adoptable);
        if let Some(s) = stale.as_ref().filter(|_| stale_pid.is_some()) {
            let killed = process::cgroup::stop_leftovers(&s.cgroups);
            if !killed.is_empty() {
                let (job, group, index, task) = name;
                log::warn!(
                    "{job}.{group}[{index}]/{task}: stopped {killed:?}, left running by the previous supd for another version of the job (found in the task's cgroup)"
                );
            }
        }
        (saved, stale_pid)
    }

    /// What the image before a re-exec carried of a task: true when its
    /// run is taken over as it was (nothing more is restored).
    fn carry_over(
        &mut self,
        carried: Option<super::reexec::CarriedTask>,
        saved: Option<&crate::state::TaskSaved>,
        name: super::reexec::Named,
        run: &mut TaskRun,
    ) -> bool {
        match (carried, saved) {
            // Its process runs on (or its start is due later):
            // taken over as it was.
            (Some(c), Some(s)) if !run.spec.driver.is_container() => {
                if let Some(mut how) = self.carried_run(c, run) {
                    if let TakeOver::Running { cgroups, .. } = &mut how {
                        cgroups.clone_from(&s.cgroups);
                    }
                    run.take_over = Some(Box::new(how));
                    return true;
                }
            }
            (Some(c), Some(_)) => run.events = super::reexec::carried_events(c.events),
            // Of another version of the job: it is stopped once
            // every job is in (`resumed`).
            (Some(c), None) => {
                self.reports.store.unclaimed.carried.insert(name, c);
            }
            (None, _) => {}
        }
        false
    }

    /// A container task's container a previous supd left (`names`: job,
    /// group, index, task): true when it is claimed, or the claim waits for
    /// its engine's answer.
    fn claim_container(
        &mut self,
        driver: crate::jobspec::model::Driver,
        names: (&str, &str, u32, &str),
        saved: Option<&crate::state::TaskSaved>,
        run: &mut TaskRun,
    ) -> bool {
        // Its container, still running, of the same job: adopted.
        // One that ended meanwhile, if the previous supd saw its
        // run going: its exit code is the run's (not one of an
        // earlier run, which ended before the newest restart).
        let left = saved.filter(|s| !s.dead && driver.is_container());
        // Its engine has not said yet what it runs: the claim waits
        // for its answer (`claim_surveyed`), and so does its start.
        if let Some(s) = left
            && self.pending.containers.surveying(driver)
        {
            run.claim = Some(ended_after(s));
            run.push_event("Received", "Task received by client".into());
            return true;
        }
        let adopted = left.and_then(|s| self.pending.containers.claim(driver, names, ended_after(s)));
        if let Some((id, pid)) = adopted {
            run.push_event("Received", "Task received by client".into());
            Supervisor::adopt_container(run, id, pid);
            return true;
        }
        false
    }

    /// Task `ti`'s process, left by a previous supd that was killed or
    /// crashed (saved as `s`): true when it still runs and is taken over.
    fn take_over_left(&mut self, s: &crate::state::TaskSaved, ti: usize, run: &mut TaskRun) -> bool {
        // Its process, left by a previous supd that was killed or
        // crashed, still runs in its cgroup: taken over. Not supd's
        // child, so how it ends is unknown (a failure); its output
        // pipe went with the previous supd, so it has none until
        // its next start (a write may end it with SIGPIPE).
        let Some(pid) = super::persist::adoptable(s) else { return false };
        run.state = State::Running;
        run.launched = true;
        run.pid = Some(nix::unistd::Pid::from_raw(pid));
        run.start_ticks = s.start_ticks;
        run.started_at = s.start_ticks.and_then(process::sys::ticks_to_wall);
        // Under systemd its output pipes were kept in the
        // service's descriptor store while no supd ran.
        let pipes = s.alloc_id.as_deref().and_then(|id| self.stored_pipes(id, ti));
        let output = if pipes.is_some() {
            "its output goes on where it went (systemd kept its pipes while no supd ran)"
        } else {
            "its output pipe went with that supd (a write to it ends the process with SIGPIPE, or fails where \
             SIGPIPE is ignored), \
             and its next start gets a new one"
        };
        run.take_over = Some(Box::new(TakeOver::Running {
            child: false,
            pipes,
            cgroups: s.cgroups.clone(),
            event: (
                "Adopted",
                format!(
                    "supd {} took over pid {pid}, left running by the previous supd; {output}",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
        }));
        true
    }

    /// The output pipes of task `ti` of instance `id` that systemd's
    /// descriptor store kept, taken if all four are there.
    fn stored_pipes(&mut self, id: &str, ti: usize) -> Option<[std::os::fd::OwnedFd; 4]> {
        let stored = &mut self.reports.store.unclaimed.stored;
        let names = super::output::store_names(id, ti);
        if !names.iter().all(|n| stored.get(n).is_some_and(|fds| fds.len() == 1)) {
            return None;
        }
        let fds: Vec<std::os::fd::OwnedFd> = names.iter().filter_map(|n| stored.remove(n)?.pop()).collect();
        <[std::os::fd::OwnedFd; 4]>::try_from(fds).ok()
    }

    /// Stops every instance of a job; it stays listed as dead.
    pub(super) fn stop_job(&mut self, id: &str) -> bool {
        let Some(&serial) = self.jobs.current.get(id) else { return false };
        if let Some(run) = self.jobs.runs.get_mut(&serial) {
            run.stopped = true;
        }
        let n = self.jobs.runs.get(&serial).map_or(0, |r| r.instances.len());
        for inst in 0..n {
            // A copy handed to a peer stops there too, and no hand-off of
            // it goes on.
            self.call_off(serial, inst);
            self.wind_down(serial, inst, None);
        }
        true
    }

    /// Stops every instance of every job, then supd exits. A second
    /// request kills what is left at once.
    /// `cause` (a signal's name, or a request over the control socket) is
    /// what the log says.
    pub(super) fn shutdown(&mut self, cause: &str) {
        if self.stopping() {
            self.phase = Phase::Hurrying;
            log::warn!("{cause}: killing every task now");
            for pid in self.children.owned_by(|_| true) {
                let _ = process::signal_group(pid, Signal::SIGKILL);
            }
            return;
        }
        log::info!("{cause}: stopping every task");
        self.reports.notify.stopping();
        self.phase = Phase::Stopping;
        let all: Vec<(u64, usize)> =
            self.jobs.runs.iter().flat_map(|(s, r)| (0..r.instances.len()).map(move |i| (*s, i))).collect();
        for (serial, inst) in all {
            self.wind_down(serial, inst, None);
        }
        self.kill_hooks();
    }

    /// Every task has ended while supd stops: true once supd may exit. As
    /// init, whatever else is left (orphans of any origin) gets SIGTERM
    /// first, then SIGKILL after the longest kill_timeout.
    pub(super) fn last_orphans_gone(&mut self, sweeping: &mut bool) -> bool {
        if self.children.take_sweep() {
            self.sweep_orphans();
        }
        if !self.cfg.init || process::own_children().is_empty() {
            return true;
        }
        if !*sweeping {
            *sweeping = true;
            let _ = process::signal_pid(nix::unistd::Pid::from_raw(-1), Signal::SIGTERM);
            self.io.timers.arm(Instant::now() + self.jobs.longest_kill_timeout(), Timer::SweepKill);
        }
        false
    }

    /// Stops the live tasks of an instance and lets nothing restart;
    /// `why` is the event each stopped task gets first.
    pub(super) fn wind_down(&mut self, serial: u64, inst: usize, why: Option<Reason>) {
        let shutting_down = self.stopping();
        let Some(instance) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) else { return };
        instance.winding_down = true;
        for (ti, step) in lifecycle::teardown(&instance.tasks) {
            let key = TaskKey { run: serial, inst, task: ti };
            let Some(t) = self.jobs.task_mut(key) else { continue };
            if let Some(why) = &why {
                t.push_event(why.kind, why.message.clone());
            }
            match step {
                Teardown::Stop => self.stop_task(key, After::Killed),
                Teardown::Cancel => {
                    // As Nomad's killTasks, a task that has not started yet
                    // (or waits out a restart delay) gets the reason and
                    // `Killing` too; its run then ends without `Killed`.
                    t.generation += 1;
                    if let Some(fetch) = t.setup.fetching.take() {
                        fetch.cancel();
                    }
                    killing(t);
                    t.state = State::Dead;
                    t.finished_at = Some(SystemTime::now());
                    t.launched = true;
                    t.ended_by_shutdown = shutting_down;
                    self.release_cgroup(key);
                }
            }
        }
        self.advance(serial, inst);
    }

    /// Sends the task its kill signal, and SIGKILL after kill_timeout.
    pub(super) fn stop_task(&mut self, key: TaskKey, after: After) {
        let hurry = self.shutting_down_now();
        let Some(t) = self.jobs.task_mut(key) else { return };
        if t.pid.is_none() {
            return;
        }
        if t.stopping.is_some() {
            // Already being stopped: a stop for good wins over a restart.
            if after == After::Killed && t.stopping != Some(After::Killed) {
                killing(t);
                t.stopping = Some(After::Killed);
            }
            return;
        }
        t.stopping = Some(after);
        // `Killing` comes first, before the shutdown delay, and only on a stop
        // for good: Nomad's restart path (restartImpl) kills without it.
        if after == After::Killed {
            killing(t);
        }
        let delay = t.spec.shutdown_delay;
        // A task stopped for good first gets its shutdown_delay, as in
        // Nomad, so that clients can drain; a restart does not wait.
        if after == After::Killed && !delay.is_zero() && !hurry {
            t.push_event(
                "Waiting for shutdown delay",
                format!("Waiting for shutdown_delay of {} before killing the task.", GoDuration(delay)),
            );
            let generation = t.generation;
            self.io.timers.arm(Instant::now() + delay, Timer::Kill { task: key, generation });
            return;
        }
        self.send_kill(key);
    }

    /// Sends the kill signal now, and arms the SIGKILL escalation.
    pub(super) fn send_kill(&mut self, key: TaskKey) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(pid) = t.pid else { return };
        // No name for the driver's default: a container is stopped by the
        // engine's stop (its image's STOPSIGNAL).
        let sig = t.spec.kill_signal.for_process();
        let name = t.spec.kill_signal.name().unwrap_or("");
        let timeout = t.spec.kill_timeout;
        let generation = t.generation;
        if let Err(e) = self.signal_task_as(key, sig, name) {
            log::warn!("cannot signal {} (pid {pid}): {e}", self.label(key));
        }
        self.io.timers.arm(Instant::now() + timeout, Timer::Escalate { task: key, generation });
    }

    /// A second shutdown request skips every wait.
    fn shutting_down_now(&self) -> bool {
        self.phase == Phase::Hurrying
    }

    pub(super) fn start_task(&mut self, key: TaskKey) {
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
        if let Some(why) = self.jobs.task(key).and_then(|t| t.spec.missing_config()) {
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
        let java = t.spec.java.as_ref().and_then(|_| self.cfg.java.java());
        let java = java.as_deref().and_then(std::path::Path::to_str);
        let spec = match launch::task_spec(&self.cfg.node, &self.cfg.exec, java, run, instance, t) {
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
            if !t.events.iter().any(|e| e.kind == "Unresolved Reference" && e.message == message) {
                log::warn!("{}: {message}", t.spec.name);
                t.push_event("Unresolved Reference", message);
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
    pub(super) fn spawned_as(
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
                self.children.own(pid, super::Owner::Task(key));
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
    pub(super) fn on_warmed(&mut self) {
        let now = Instant::now();
        for (key, generation) in self.pending.warmer.done(now) {
            let Some(t) = self.jobs.task_mut(key) else { continue };
            if t.generation != generation || t.setup.warming != Some(generation) {
                continue;
            }
            t.setup.warming = None;
            self.io.timers.arm(now, super::Timer::Start { task: key, generation });
        }
    }

    /// A task's run has started (its process, or its container's first
    /// process, is `pid`).
    pub(super) fn task_started(&mut self, key: TaskKey, pid: nix::unistd::Pid, ticks: Option<u64>) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        t.pid = Some(pid);
        t.state = State::Running;
        t.launched = true;
        t.started_at = Some(SystemTime::now());
        t.start_ticks = ticks;
        t.exit = None;
        t.push_event("Started", "Task started by client".into());
        // The new pid is on record before supd can lose track of
        // it (and before anything else is written).
        self.journal_started(key);
        log::info!("{} started as pid {pid}", self.label(key));
        self.placed(key.run, key.inst);
        self.activate_checks(key);
        self.state_changed();
        self.advance(key.run, key.inst);
    }

    pub(super) fn start_failed(&mut self, key: TaskKey, message: String, recoverable: bool) {
        log::warn!("{}: {message}", self.label(key));
        let Some(t) = self.jobs.task_mut(key) else { return };
        t.launched = true;
        t.push_event("Driver Failure", message);
        self.decide(key, Outcome::StartError { recoverable });
    }

    /// A task's process ended.
    pub(super) fn on_exit(&mut self, key: TaskKey, exit: Exit) {
        self.drain_logs(key);
        self.deactivate_checks(key);
        let oom = self.oom_killed(key, exit);
        let Some(t) = self.jobs.task_mut(key) else { return };
        let pid = t.pid.take();
        let container = t.container.is_some();
        t.generation += 1; // cancels a pending SIGKILL escalation
        t.exit = Some(exit);
        t.finished_at = Some(SystemTime::now());
        let mut message = match exit {
            Exit::Code(c) => format!("Exit Code: {c}"),
            Exit::Signal { signal: s, .. } => format!("Exit Code: {}, Signal: {s}", 128 + s),
            Exit::Unknown => {
                "Exit Code: unknown (the process was taken over from a previous supd: only its parent could read how it ended)"
                    .to_string()
            }
        };
        if oom {
            // Nomad's wording: the exit message of an OOM-killed task.
            message.push_str(", Exit Message: \"OOM Killed\"");
        }
        t.push_event("Terminated", message);
        let stopping = t.stopping.take();
        let shown = match exit {
            Exit::Code(c) => format!("exit code {c}"),
            Exit::Signal { signal: s, .. } => format!("signal {}", crate::signals::name(s)),
            Exit::Unknown => "an unknown status (taken over from a previous supd; counted as a failure)".to_string(),
        };
        let shown = if oom { format!("{shown} (OOM killed: it reached its memory limit)") } else { shown };
        log::info!("{} (pid {}) ended with {shown}", self.label(key), pid.map_or(0, |p| p.as_raw()));
        // Whatever the task left in its process group goes with it, and
        // in its cgroup whatever left the group (a container's engine
        // does this for its own).
        if let Some(pid) = pid
            && !container
        {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
        // Before the cgroup's next run; a task that ends for good has its
        // cgroup emptied when it is removed.
        if !self.stopping() {
            self.kill_cgroup(key);
        }
        self.sweep_soon();
        let outcome = match stopping {
            Some(After::Killed) => Outcome::Killed,
            Some(After::Restart(Outcome::FailureRestart { .. })) => Outcome::FailureRestart { success: exit.success() },
            Some(After::Restart(o)) => o,
            None => Outcome::Exited { success: exit.success() },
        };
        self.decide(key, outcome);
    }

    /// Applies the restart policy to how a task's run ended.
    pub(super) fn decide(&mut self, key: TaskKey, outcome: Outcome) {
        let winding_down = self.winding_down(key);
        let jitter = self.io.rng.jitter();
        let shutting_down = self.stopping();
        let label = self.label(key);
        let Some(t) = self.jobs.task_mut(key) else { return };
        let mut decision = t.tracker.decide(outcome, Instant::now(), jitter);
        if winding_down {
            decision = lifecycle::while_winding_down(decision, outcome);
        }
        log_decision(&label, t, &decision);
        let now = SystemTime::now();
        match &decision {
            Decision::Restart { delay, .. } => {
                if let Some(m) = decision.message() {
                    t.push_event("Restarting", m);
                }
                t.state = State::Pending;
                t.restarts += 1;
                t.last_restart = Some(now);
                t.generation += 1;
                let generation = t.generation;
                let at = Instant::now() + *delay;
                self.io.timers.arm(at, Timer::Start { task: key, generation });
                // Not journaled: the start that follows is, and if supd
                // dies before it, the run it saw last counts (persist.rs).
                self.state_changed();
                return;
            }
            Decision::Fail { reason } => {
                t.push_event("Not Restarting", reason.clone());
                t.state = State::Dead;
                t.failed = true;
                t.finished_at = Some(now);
            }
            Decision::Complete => {
                t.state = State::Dead;
                t.finished_at = Some(now);
            }
            Decision::Killed => {
                t.ended_by_shutdown = shutting_down;
                t.push_event("Killed", "Task successfully killed".into());
                t.state = State::Dead;
                t.finished_at = Some(now);
            }
        }
        self.journal_task(key);
        self.state_changed();
        self.task_died(key);
    }

    /// Group coupling once a task is dead for good (reference §5).
    fn task_died(&mut self, key: TaskKey) {
        self.release_cgroup(key);
        let Some(instance) = self.jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)) else { return };
        match lifecycle::coupling(instance, key.task) {
            Some(why) => self.wind_down(key.run, key.inst, Some(why)),
            None => self.advance(key.run, key.inst),
        }
    }

    /// Starts the tasks whose turn has come: prestart first, main tasks once
    /// every non-sidecar prestart task has completed, poststart once the
    /// main tasks run, poststop once everything else is dead.
    pub(super) fn advance(&mut self, serial: u64, inst: usize) {
        let stopped = self.stopping() || self.jobs.runs.get(&serial).is_none_or(|r| r.stopped);
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        if run.replaces.is_some_and(|old| self.jobs.runs.contains_key(&old)) {
            return;
        }
        let Some(instance) = run.instances.get(inst) else { return };
        let turn = lifecycle::turn(&instance.tasks, stopped || instance.winding_down);
        let shutting_down = self.stopping();
        if let Some(instance) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) {
            for &ti in &turn.never_run {
                let t = &mut instance.tasks[ti];
                t.launched = true;
                t.state = State::Dead;
                t.ended_by_shutdown = shutting_down;
            }
            // All are marked before any starts: starting one advances the
            // instance again, which must not start the others a second time.
            for &ti in &turn.start {
                instance.tasks[ti].launched = true;
            }
        }
        for ti in turn.start {
            self.start_task(TaskKey { run: serial, inst, task: ti });
        }
        self.settle(serial, inst);
        self.release_alloc_dir(serial, inst);
        // A launched or dispatched run that has ended makes room: only the
        // newest ended runs of its job are kept, with their directories.
        if let Some(run) = self.jobs.runs.get(&serial)
            && !self.stopping()
            && !run.instances.iter().any(Instance::is_live)
        {
            let id = run.job.id.clone();
            if let Some(parent) = super::periodic::parent_of(&id) {
                self.forget_ended(parent, super::periodic::SUFFIX);
            } else if let Some(parent) = super::dispatch::parent_of(&id) {
                self.forget_ended(parent, super::dispatch::SUFFIX);
            }
        }
        // A retired version with nothing left is forgotten.
        if let Some(run) = self.jobs.runs.get(&serial)
            && run.stopped
            && self.jobs.current.get(&run.job.id) != Some(&serial)
            && !run.instances.iter().any(Instance::is_live)
        {
            if let Some(mut old) = self.jobs.runs.remove(&serial) {
                self.close_logs(&mut old);
            }
            // The version that waited for this one may start now.
            let next: Vec<(u64, usize)> = self
                .jobs
                .runs
                .values_mut()
                .filter(|r| r.replaces == Some(serial))
                .flat_map(|r| {
                    r.replaces = None;
                    (0..r.instances.len()).map(move |i| (r.serial, i))
                })
                .collect();
            for (s, i) in next {
                self.advance(s, i);
            }
        }
    }

    /// Kills adopted orphans whose task is no longer running: daemons a
    /// task double-forked, or children left when it died. supd is their
    /// reaper, and they carry their instance and task in the environment.
    pub(super) fn sweep_orphans(&mut self) {
        let mut killed = false;
        for pid in self.children.unowned() {
            let [Some(alloc), Some(task)] = process::environ_vars(pid, ["NOMAD_ALLOC_ID", "NOMAD_TASK_NAME"]) else {
                continue;
            };
            let running = self
                .jobs
                .runs
                .values()
                .flat_map(|r| &r.instances)
                .any(|i| i.id == alloc && i.tasks.iter().any(|t| t.spec.name == task && t.pid.is_some()));
            if !running {
                log::info!("killing pid {pid}, left behind by task {task} of instance {alloc}");
                let _ = process::signal_group(pid, Signal::SIGKILL);
                let _ = process::signal_pid(pid, Signal::SIGKILL);
                killed = true;
            }
        }
        // What was killed may leave children of its own to supd: the
        // orphans reaped next are looked at again.
        self.children.swept(killed);
    }

    /// Stops a process of this task that a previous supd left running; the
    /// task starts once it is gone.
    fn stop_leftover(&mut self, key: TaskKey) {
        let label = self.label(key);
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(pid) = t.leftover else { return };
        let sig = t.spec.kill_signal.for_process();
        let timeout = t.spec.kill_timeout;
        t.push_event("Killing", format!("Stopping pid {pid}, left running by the previous supd, before starting anew"));
        log::warn!("{label}: pid {pid} was left running by the previous supd; stopping it before starting anew");
        let _ = process::signal_group(pid, sig);
        match process::pidfd_open(pid) {
            Ok(fd) => {
                use std::os::fd::AsRawFd;
                let token = self.io.watches.token();
                let raw = fd.as_raw_fd();
                if self
                    .io
                    .poll
                    .registry()
                    .register(&mut mio::unix::SourceFd(&raw), token, mio::Interest::READABLE)
                    .is_ok()
                {
                    self.io.watches.watch_leftover(token, key, fd);
                    self.io.timers.arm(Instant::now() + timeout, Timer::LeftoverKill { task: key, pid });
                    return;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => log::warn!("{label}: cannot watch pid {pid} ({e}); killing it at once"),
        }
        // Gone already, or it cannot be watched: make sure, and go on.
        let _ = process::signal_group(pid, Signal::SIGKILL);
        let _ = process::signal_pid(pid, Signal::SIGKILL);
        if let Some(t) = self.jobs.task_mut(key) {
            t.leftover = None;
        }
    }

    /// A leftover process of an earlier supd ended: its task may start.
    pub(super) fn on_leftover_gone(&mut self, token: mio::Token, key: TaskKey) {
        if let (_, Some(fd)) = self.io.watches.forget(token) {
            use std::os::fd::AsRawFd;
            let raw = fd.as_raw_fd();
            let _ = self.io.poll.registry().deregister(&mut mio::unix::SourceFd(&raw));
        }
        if let Some(t) = self.jobs.task_mut(key) {
            t.leftover = None;
            t.push_event("Killed", "The process left by the previous supd is gone".into());
        }
        self.advance(key.run, key.inst);
    }

    /// `job.group[index]/task`, for messages.
    pub(super) fn label(&self, key: TaskKey) -> String {
        match self.jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)) {
            Some(i) => format!("{}/{}", i.name, i.tasks.get(key.task).map_or("?", |t| t.spec.name.as_str())),
            None => "a task of a removed job".into(),
        }
    }
}

/// The restart budget a previous supd used (`s`, of the same job), carried
/// into a task's `tracker`.
fn restore_budget(tracker: &mut RestartTracker, t: &crate::jobspec::model::Task, s: &crate::state::TaskSaved) {
    let (now_i, now_w) = (Instant::now(), SystemTime::now());
    // A restart still to come (mode "delay") counts too, if
    // it can be one: no further ahead than the policy waits.
    let ahead_at_most = t.restart.interval.saturating_add(t.restart.delay.saturating_mul(2));
    tracker.restore(s.restart_slots().filter_map(|(ms, count)| {
        let wall = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms))?;
        let at = match now_w.duration_since(wall) {
            Ok(ago) => now_i.checked_sub(ago)?,
            Err(ahead) if ahead.duration() <= ahead_at_most => now_i.checked_add(ahead.duration())?,
            Err(_) => return None,
        };
        Some(crate::policy::restart::Slot { at, count })
    }));
}

/// What a task not taken over keeps of its last run (`saved`): a run
/// interrupted counts as a restart, a process still running is a leftover
/// to stop first (so is `stale_pid`, of another version of the job), and a
/// task that had ended for good stays ended.
fn restore_last_run(saved: Option<&crate::state::TaskSaved>, stale_pid: Option<i32>, run: &mut TaskRun) {
    // A run the previous supd started and did not see end (it
    // was stopped with the leftovers): the next start is a
    // restart, within the budget, so that a crash of supd adds
    // no start.
    if saved.is_some_and(|s| (s.pid.is_some() || s.starting) && !s.dead) {
        super::persist::count_interrupted_run(run);
    }
    if let Some(s) = saved
        && let (Some(pid), Some(ticks)) = (s.pid, s.start_ticks)
        && process::sys::same_process(pid, ticks)
    {
        run.leftover = Some(nix::unistd::Pid::from_raw(pid));
    }
    if let Some(pid) = stale_pid.filter(|&p| process::sys::start_ticks(p).is_some()) {
        run.leftover = Some(nix::unistd::Pid::from_raw(pid));
    }
    if let Some(s) = saved.filter(|s| s.dead) {
        // It had ended for good: it stays ended.
        run.state = State::Dead;
        run.failed = s.failed;
        run.launched = true;
        let how = if s.failed { "failed" } else { "completed" };
        run.push_event("Task Setup", format!("Restored: the task had {how} before supd restarted"));
    }
}

/// The time after which a container that ended is a saved task's run (its
/// newest restart), if the previous supd saw that run going.
fn ended_after(s: &crate::state::TaskSaved) -> Option<SystemTime> {
    let going = s.pid.is_some() || s.starting;
    let newest_restart = s.restart_slots().map(|(ms, _)| ms).max().unwrap_or(0);
    let after = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(newest_restart));
    after.filter(|_| going)
}

/// Records that a task is being stopped for good, in Nomad's words
/// (nomad/structs/structs.go, PopulateEventDisplayMessage, TaskKilling:
/// `fmt.Sprintf("Sent interrupt. Waiting %v before force killing", e.KillTimeout)`).
/// A task stopped for a reason of its own (`kill_reason`) has that as the
/// message instead, as Nomad's `SetDisplayMessage`.
/// Every restart decision in supd's own log, one line each (what `docker
/// logs` of a container whose init is supd tells): how the run ended, and
/// the restart with its delay and its place in the policy's budget, or why
/// there is none.
fn log_decision(label: &str, t: &TaskRun, decision: &Decision) {
    let ended = match t.exit {
        Some(Exit::Code(c)) => format!("exit code {c}"),
        Some(Exit::Signal { signal, .. }) => format!("signal {}", crate::signals::name(signal)),
        Some(Exit::Unknown) => "an unknown status".to_string(),
        None => "a failed start".to_string(),
    };
    let p = t.tracker.policy();
    let d = crate::jobspec::duration::GoDuration;
    match decision {
        Decision::Restart { reason: RestartReason::UserRequested, delay } => {
            log::info!("{label}: ended with {ended}; restarting in {} as asked (no attempt spent)", d(*delay))
        }
        Decision::Restart { reason, delay } => log::info!(
            "{label}: ended with {ended}; restarting in {}{} (attempt {} of {} in {})",
            d(*delay),
            if *reason == RestartReason::WindowFull { ", once the interval allows" } else { "" },
            t.tracker.in_history(),
            p.attempts,
            d(p.interval)
        ),
        Decision::Fail { reason } => log::warn!("{label}: ended with {ended}; not restarting: {reason}"),
        Decision::Complete | Decision::Killed => {}
    }
}

fn killing(t: &mut TaskRun) {
    let message = match t.kill_reason.take() {
        Some(reason) => reason.to_string(),
        None => format!("Sent interrupt. Waiting {} before force killing", GoDuration(t.spec.kill_timeout)),
    };
    t.push_event("Killing", message);
}

/// A port nobody listens on now, for a `port` without `static`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(0, |a| a.port())
}
