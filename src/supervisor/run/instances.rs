//! A new instance of a group and its tasks, with what a previous supd (or
//! supd's image before a re-exec) saved or left of them: restart budgets,
//! runs to take over, containers to adopt, leftover processes to stop first.

use crate::jobspec::model::Job;
use crate::policy::restart::{RestartTracker, restarts_on_success};
use crate::process;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{Instance, Resched, State, TakeOver, TaskRun, instance_checks};
use crate::supervisor::{Supervisor, TaskKey, Timer};
use nix::sys::signal::Signal;
use std::time::{Instant, SystemTime};

impl Supervisor {
    /// What a previous supd (or supd's image before a re-exec) left of a
    /// new instance's tasks: a process to stop first, a container to
    /// follow, a run to take over.
    pub(in crate::supervisor) fn take_in(&mut self, serial: u64, inst: usize) {
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
    pub(in crate::supervisor) fn new_instance(&mut self, job: &Job, gi: usize, index: u32) -> Instance {
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
            checks: instance_checks(job, gi).into(),
            placed_at: None,
            history: thin_vec::ThinVec::new(),
            received_from: None,
            received_id: String::new(),
            resched: Resched::Idle,
            resched_gen: 0,
            description: None,
            dir,
            removed: false,
        };
        let saved = self.reports.store.unclaimed.instances.remove(&(job.id.clone(), group.name.clone(), index));
        match saved {
            Some(s) if s.source_digest == digest => crate::supervisor::handoff::restore_instance(&mut instance, s),
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
        // Its history carried across a re-exec goes on as it was; else it
        // is received first, as a new task is, then told what it was.
        let carried_history = !run.events.is_empty();
        received(&mut run);
        restore_last_run(saved.as_ref(), stale_pid, &mut run, !carried_history);
        (run, kept_dir)
    }

    /// The state a previous supd saved of a task (`name`), claimed if it is
    /// of the same job (`digest`); with the pid of a process of another
    /// version it left running, whose cgroup is emptied now.
    fn claim_saved(
        &mut self,
        name: &crate::supervisor::reexec::Named,
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
        let stale_pid = stale.as_ref().and_then(crate::supervisor::persist::adoptable);
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
        carried: Option<crate::supervisor::reexec::CarriedTask>,
        saved: Option<&crate::state::TaskSaved>,
        name: crate::supervisor::reexec::Named,
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
            (Some(c), Some(_)) => run.events = crate::supervisor::reexec::carried_events(c.events),
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
            received(run);
            return true;
        }
        let adopted = left.and_then(|s| self.pending.containers.claim(driver, names, ended_after(s)));
        if let Some((id, pid)) = adopted {
            received(run);
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
        let Some(pid) = crate::supervisor::persist::adoptable(s) else { return false };
        // Received first, as a new task is; then adopted.
        received(run);
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
                EventKind::Adopted,
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
        let names = crate::supervisor::output::store_names(id, ti);
        if !names.iter().all(|n| stored.get(n).is_some_and(|fds| fds.len() == 1)) {
            return None;
        }
        let fds: Vec<std::os::fd::OwnedFd> = names.iter().filter_map(|n| stored.remove(n)?.pop()).collect();
        <[std::os::fd::OwnedFd; 4]>::try_from(fds).ok()
    }

    /// Stops a process of this task that a previous supd left running; the
    /// task starts once it is gone.
    fn stop_leftover(&mut self, key: TaskKey) {
        let label = self.label(key);
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(pid) = t.leftover else { return };
        let sig = t.spec.kill_signal.for_process();
        let timeout = t.spec.kill_timeout;
        t.push_event(
            EventKind::Killing,
            format!("Stopping pid {pid}, left running by the previous supd, before starting anew"),
        );
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
    pub(in crate::supervisor) fn on_leftover_gone(&mut self, token: mio::Token, key: TaskKey) {
        if let (_, Some(fd)) = self.io.watches.forget(token) {
            use std::os::fd::AsRawFd;
            let raw = fd.as_raw_fd();
            let _ = self.io.poll.registry().deregister(&mut mio::unix::SourceFd(&raw));
        }
        if let Some(t) = self.jobs.task_mut(key) {
            t.leftover = None;
            t.push_event(EventKind::Killed, "The process left by the previous supd is gone");
        }
        self.advance(key.run, key.inst);
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

/// The first event of a task made again, as of a new one: "Received";
/// none when its history was carried across a re-exec (it has one).
fn received(run: &mut TaskRun) {
    if run.events.is_empty() {
        run.push_event(EventKind::Received, "Task received by client");
    }
}

/// What a task not taken over keeps of its last run (`saved`): a run
/// interrupted counts as a restart, a process still running is a leftover
/// to stop first (so is `stale_pid`, of another version of the job), and a
/// task that had ended for good stays ended.
/// `tell`: say in an event what it was restored as (not when its history
/// was carried, which says it already).
fn restore_last_run(saved: Option<&crate::state::TaskSaved>, stale_pid: Option<i32>, run: &mut TaskRun, tell: bool) {
    // A run the previous supd started and did not see end (it
    // was stopped with the leftovers): the next start is a
    // restart, within the budget, so that a crash of supd adds
    // no start.
    if saved.is_some_and(|s| (s.pid.is_some() || s.starting) && !s.dead) {
        crate::supervisor::persist::count_interrupted_run(run);
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
        if tell {
            let how = if s.failed { "failed" } else { "completed" };
            run.push_event(EventKind::TaskSetup, format!("Restored: the task had {how} before supd restarted"));
        }
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

/// A port nobody listens on now, for a `port` without `static`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(0, |a| a.port())
}
