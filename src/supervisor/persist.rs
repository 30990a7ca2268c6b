//! What survives a restart of supd, from the loop's side: a change that
//! is acknowledged to a client is saved (fsync'd) before the answer; each
//! task start and end is appended to the journal before the loop goes on;
//! the rest is saved a while after a change (changes close together share
//! one write), what bring-up changed at the loop's first idle moment. Read back at start: whatever a previous supd left in its
//! task cgroups is stopped first, submitted jobs run again, stopped ones
//! stay stopped, and saved task states wait to be matched with their tasks.

use super::TaskKey;
use super::run::Source;
use super::{Supervisor, Timer, handoff, task};
use crate::jobspec;
use crate::process;
use crate::supervisor::task::EventKind;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// How long a change that is not acknowledged to a client (and not in
/// the journal) may wait for a full save.
const SAVE_AFTER: Duration = Duration::from_secs(5);

/// A journal this large is folded into a full save.
const JOURNAL_MAX: u64 = 8 << 20;

/// The loop's side of what is saved: the journal, whether a full save is
/// due, and the states read at start that wait for their task.
#[derive(Default)]
pub(super) struct Store {
    /// Task starts and ends, written before the loop goes on.
    pub journal: crate::state::Journal,
    /// The state changed and a full save is scheduled.
    pub save_pending: bool,
    pub unclaimed: Unclaimed,
}

/// Saved states not yet matched with what they belong to.
#[derive(Default)]
pub(super) struct Unclaimed {
    /// A previous supd's task states (pid, restart budget), by
    /// job/group/index/task, until the same job's task is made.
    pub tasks: HashMap<(String, String, u32, String), crate::state::TaskSaved>,
    /// Hand-off state for instances about to be made (saved, or just
    /// received), by job/group/index.
    pub instances: HashMap<(String, String, u32), crate::state::InstanceSaved>,
    /// What the image before a re-exec carried of each task, until the
    /// task is made again.
    pub carried: HashMap<super::reexec::Named, super::reexec::CarriedTask>,
    /// Instance IDs kept across a re-exec (or a restart that takes over
    /// running tasks), by job/group/index.
    pub alloc_ids: HashMap<(String, String, u32), String>,
    /// Descriptors systemd kept in its store for the previous supd, by
    /// name (a task's capture pipes: `output::store_names`).
    pub stored: HashMap<String, Vec<std::os::fd::OwnedFd>>,
    /// How long before the re-exec each instance was placed (ms), by
    /// job/group/index: its `max_run_duration` counts from then.
    pub placed: HashMap<(String, String, u32), u64>,
    /// The state of each instance's checks before the re-exec, by
    /// job/group/index.
    pub checks: HashMap<(String, String, u32), Vec<super::reexec::CarriedCheck>>,
}

impl Supervisor {
    /// As a container's PID 1 (not re-executed), a start is a boot: the
    /// jobs of the job directory run again with fresh restart budgets,
    /// whatever an earlier run of the same container left in a state
    /// directory that is in the container's own layer (a `docker restart`
    /// keeps that layer). A state directory on a volume is kept and used
    /// as on a host.
    pub(super) fn boot_if_fresh(&mut self) {
        if std::process::id() != 1 || self.pending.resumed.is_some() {
            return;
        }
        let dir = &self.cfg.state_dir;
        if crate::state::on_a_volume(dir) {
            log::info!("state directory {} is on a volume: what it holds is used", dir.display());
            return;
        }
        let had = dir.join("state.json").exists() || dir.join("state.journal").exists();
        // What was read of it before is not restored either.
        self.cfg.saved = None;
        if let Err(e) = crate::state::clear(dir) {
            log::error!("cannot clear the state a previous run left in {}: {e}", dir.display());
            return;
        }
        let alloc = self.cfg.data_dir.join("alloc");
        if let Ok(entries) = std::fs::read_dir(&alloc) {
            for name in entries.flatten().filter_map(|e| e.file_name().into_string().ok()) {
                // Unmounted first; a mount that stays stops the removal.
                let removed = crate::taskdir::AllocDir::new(&self.cfg.data_dir, &name).and_then(|d| d.remove());
                if let Err(e) = removed {
                    log::warn!("an earlier run's allocation directory {name} is kept: {e}");
                }
            }
        }
        if had {
            log::info!(
                "supd is PID 1 and its state directory {} is in the container's own layer: this start is a boot, \
                 and what an earlier run left there is cleared (jobs run again with fresh restart budgets; put the \
                 state directory on a volume to keep it)",
                dir.display()
            );
        }
    }

    /// Reads the saved state: submitted jobs run again, stopped ones stay stopped.
    pub(super) fn restore(&mut self) {
        let preloaded = self.cfg.saved.take().map(Ok);
        let saved = match preloaded.unwrap_or_else(|| crate::state::load(&self.cfg.state_dir)) {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}");
                return;
            }
        };
        self.reports.store.journal.seq = saved.journal_seq;
        self.stop_saved_leftovers(&saved.tasks);
        self.jobs.stopped.extend(saved.stopped);
        for t in saved.tasks {
            // A process the previous supd was running must not run twice:
            // it goes before anything starts.
            // it is stopped (with its task's kill signal and timeout) before
            // the task starts again; see `submit` and `stop_leftover`.
            self.reports.store.unclaimed.tasks.insert((t.job.clone(), t.group.clone(), t.index, t.task.clone()), t);
        }
        for i in saved.instances {
            self.reports.store.unclaimed.instances.insert((i.job.clone(), i.group.clone(), i.index), i);
        }
        self.pending.remote.recalls = saved.recalls;
        // Offers a previous supd made and never heard the end of: the
        // instance starts afresh here, so whatever the peer made of them is
        // stopped there.
        for o in saved.offers {
            log::info!("{}: an offer to {} (hand-off {}) had no known outcome: recalling it", o.what, o.peer, o.id);
            if !self.pending.remote.recalls.iter().any(|r| r.peer == o.peer && r.id == o.id) {
                self.pending.remote.recalls.push(o);
            }
        }
        self.pending.remote.withdrawn = saved.withdrawn.into();
        // Launched runs find their tasks' saved states, and the periodic
        // jobs submitted next their last launch.
        self.restore_periodic(saved.periodic);
        self.restore_dispatched(saved.dispatched);
        self.restore_jobs(saved.submitted, saved.received);
        // Work handed off before: its peers are asked about it soon.
        self.arm_poll(Duration::from_secs(1));
    }

    /// Part of `restore`: what a previous supd's tasks left running in their
    /// cgroups is stopped, unless it is taken over.
    fn stop_saved_leftovers(&mut self, tasks: &[crate::state::TaskSaved]) {
        // Whatever a previous supd left in its task cgroups goes before
        // anything starts: the cgroup, not only the recorded pid, knows
        // every process of a task (a daemon that left its session too).
        for t in tasks {
            // A task still running as supd's child after a re-exec is
            // taken over, not stopped.
            if self.carried_running(&super::reexec::named(&t.job, &t.group, t.index, &t.task)) {
                continue;
            }
            // One whose process still runs in its cgroup (supd was killed,
            // or crashed) is taken over too, in the same instance.
            if let Some(pid) = adoptable(t) {
                log::info!("{}.{}[{}]/{}: pid {pid} still runs; taking it over", t.job, t.group, t.index, t.task);
                if let Some(id) = &t.alloc_id {
                    self.reports
                        .store
                        .unclaimed
                        .alloc_ids
                        .entry((t.job.clone(), t.group.clone(), t.index))
                        .or_insert(id.clone());
                }
                continue;
            }
            let killed = crate::process::cgroup::stop_leftovers(&t.cgroups);
            if !killed.is_empty() {
                log::warn!(
                    "{}.{}[{}]/{}: stopped {:?}, left running by the previous supd (found in the task's cgroup)",
                    t.job,
                    t.group,
                    t.index,
                    t.task,
                    killed
                );
            }
        }
    }

    /// Part of `restore`: the saved jobs submitted again, and the instances
    /// peers handed to this host received again.
    fn restore_jobs(&mut self, submitted: Vec<crate::state::Submitted>, received: Vec<crate::handoff::Envelope>) {
        for s in submitted {
            let parsed = jobspec::parse_str(&s.file, &s.source);
            if !parsed.is_valid() {
                log::error!("a saved job from {} no longer loads; it is dropped", s.file);
                continue;
            }
            for job in parsed.jobs {
                log::info!("restoring job {:?} submitted from {}", job.id, s.file);
                self.submit(job, Source::Restored { name: s.file.clone() });
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

    /// Once every job is in: processes a previous supd left for jobs that
    /// are gone (or changed) are killed, without grace.
    pub(super) fn kill_unclaimed(&mut self) {
        // Hand-offs of jobs that are gone: their copies stop where they run.
        for (_, s) in std::mem::take(&mut self.reports.store.unclaimed.instances) {
            let what = format!("{}.{}[{}]", s.job, s.group, s.index);
            self.recall_saved(&s, &what);
        }
        // Stored pipes of tasks that were not taken over: systemd forgets
        // them too.
        for (name, fds) in std::mem::take(&mut self.reports.store.unclaimed.stored) {
            drop(fds);
            self.reports.notify.remove_fds(&name);
        }
        let unclaimed = std::mem::take(&mut self.reports.store.unclaimed.tasks);
        let mut dirs: Vec<String> = unclaimed.values().filter_map(|t| t.alloc_dir.clone()).collect();
        dirs.sort();
        dirs.dedup();
        self.remove_unclaimed_dirs(dirs);
        for (_, t) in unclaimed {
            // One that could have been taken over was left alone at start.
            if adoptable(&t).is_some() {
                let killed = crate::process::cgroup::stop_leftovers(&t.cgroups);
                if !killed.is_empty() {
                    log::warn!(
                        "{}.{}[{}]/{}: stopped {killed:?}, left running by the previous supd for a job that is gone (found in the task's cgroup)",
                        t.job,
                        t.group,
                        t.index,
                        t.task
                    );
                }
            }
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
    }

    /// Schedules a save of the state; changes close together share one.
    pub(super) fn state_changed(&mut self) {
        if !self.reports.store.save_pending {
            self.reports.store.save_pending = true;
            self.io.timers.arm(Instant::now() + SAVE_AFTER, Timer::Save);
        }
    }

    /// Saves now, before a change is acknowledged to a client.
    pub(super) fn save_acknowledged(&mut self) -> bool {
        self.reports.store.save_pending = false;
        self.save()
    }

    /// Appends a task's state as it is now (its new pid, its restart
    /// budget, its end) to the journal, before the loop goes on.
    pub(super) fn journal_task(&mut self, key: TaskKey) {
        self.journal_record(key, false);
    }

    /// Appends that a task is about to start: if supd dies before the
    /// start is journaled with its pid, the next supd counts the start
    /// (a process may have run, and ended, unseen).
    pub(super) fn journal_starting(&mut self, key: TaskKey) {
        self.journal_record(key, true);
    }

    /// Appends the pid a start made (its budget is in the record
    /// [`journal_starting`](Self::journal_starting) wrote just before).
    pub(super) fn journal_started(&mut self, key: TaskKey) {
        let Some(run) = self.jobs.runs.get(&key.run) else { return };
        let Some(inst) = run.instances.get(key.inst).filter(|i| !i.removed) else { return };
        let Some(t) = inst.tasks.get(key.task) else { return };
        let Some(pid) = t.pid else { return };
        let started = crate::state::Started {
            job: run.job.id.clone(),
            group: run.job.groups.get(inst.group).map_or(String::new(), |g| g.name.clone()),
            index: inst.index,
            task: t.spec.name.clone(),
            pid: pid.as_raw(),
            start_ticks: t.start_ticks,
        };
        let written = self.reports.store.journal.append_started(&self.cfg.state_dir, &started);
        self.after_journal_write(written);
    }

    fn after_journal_write(&mut self, written: std::io::Result<()>) {
        if let Err(e) = written {
            log::error!("cannot write the journal in {}: {e}; saving the state instead", self.cfg.state_dir.display());
            self.save_acknowledged();
        } else if self.reports.store.journal.bytes > JOURNAL_MAX {
            self.save_acknowledged();
        }
    }

    fn journal_record(&mut self, key: TaskKey, starting: bool) {
        let Some(run) = self.jobs.runs.get(&key.run) else { return };
        let Some(inst) = run.instances.get(key.inst).filter(|i| !i.removed) else { return };
        let Some(t) = inst.tasks.get(key.task) else { return };
        let (now_i, now_w) = (Instant::now(), SystemTime::now());
        let mut saved = task_saved(run, inst, t, run.digest, now_i, now_w);
        saved.starting = starting;
        // Only what is new since the task's last full record, when its
        // cgroups and directory are those of that record.
        let dirs = dirs_digest(&saved);
        if let Some((mark, d)) = t.journaled.get()
            && d == dirs
        {
            let changed = t.tracker.changed_since(mark);
            saved.set_restart_slots(changed.slots.iter().map(|s| (wall_ms(s.at, now_i, now_w), s.count)));
            saved.grown = changed.grown;
            saved.cgroups = Vec::new();
            saved.alloc_dir = None;
            saved.appended = true;
        }
        let written = self.reports.store.journal.append(&self.cfg.state_dir, &saved);
        t.journaled.set(written.is_ok().then_some((t.tracker.added(), dirs)));
        self.after_journal_write(written);
    }

    /// Saves the state file; `false` when it could not be written (the
    /// error is logged).
    pub(super) fn save(&mut self) -> bool {
        let mut saved = crate::state::Saved { version: crate::state::VERSION, ..Default::default() };
        for serial in self.jobs.current.values() {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            if run.received.is_some() {
                saved.received.extend(self.received_envelopes(run));
            } else if run.file.is_none() && run.launch.is_none() {
                saved
                    .submitted
                    .push(crate::state::Submitted { file: run.origin().to_string(), source: run.job.source.clone() });
            }
        }
        saved.stopped = self.jobs.stopped.iter().cloned().collect();
        saved.periodic = self.periodic_saved();
        saved.dispatched = self.dispatched_saved();
        saved.recalls.clone_from(&self.pending.remote.recalls);
        saved.offers.clone_from(&self.pending.remote.offers);
        saved.withdrawn = self.pending.remote.withdrawn.iter().cloned().collect();
        let (now_i, now_w) = (Instant::now(), SystemTime::now());
        // Journal records after this save append to what it holds.
        for run in self.jobs.runs.values() {
            for t in run.instances.iter().flat_map(|i| &i.tasks) {
                t.journaled.set(None);
            }
        }
        for serial in self.jobs.current.values() {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            let digest = run.digest;
            for inst in run.instances.iter().filter(|i| !i.removed) {
                if let Some(i) = handoff::saved_instance(run, inst, digest) {
                    saved.instances.push(i);
                }
                for t in &inst.tasks {
                    let s = task_saved(run, inst, t, digest, now_i, now_w);
                    t.journaled.set(Some((t.tracker.added(), dirs_digest(&s))));
                    saved.tasks.push(s);
                }
            }
        }
        if let Err(e) = crate::state::save_with(&self.cfg.state_dir, &mut saved, &mut self.reports.store.journal) {
            for run in self.jobs.runs.values() {
                for t in run.instances.iter().flat_map(|i| &i.tasks) {
                    t.journaled.set(None);
                }
            }
            log::error!(
                "cannot save the state in {}: {e}; it will be tried again at the next change",
                self.cfg.state_dir.display()
            );
            return false;
        }
        true
    }
}

/// What is saved of one task.
fn task_saved(
    run: &task::JobRun,
    inst: &task::Instance,
    t: &task::TaskRun,
    digest: u64,
    now_i: Instant,
    now_w: SystemTime,
) -> crate::state::TaskSaved {
    let mut saved = crate::state::TaskSaved {
        job: run.job.id.clone(),
        group: run.job.groups.get(inst.group).map_or(String::new(), |g| g.name.clone()),
        index: inst.index,
        task: t.spec.name.clone(),
        source_digest: digest,
        restart_times: Vec::new(),
        restart_counts: Vec::new(),
        restarts: t.restarts,
        pid: t.pid.map(|p| p.as_raw()),
        start_ticks: t.pid.and(t.start_ticks),
        dead: t.state == task::State::Dead && !t.ended_by_shutdown,
        failed: t.failed,
        cgroups: t.cgroup.as_ref().map_or(Vec::new(), |c| c.dirs()),
        // A container adopted after it ended has no pid until its exit is
        // reported: its run is still going.
        starting: t.state == task::State::Running && t.pid.is_none(),
        alloc_dir: inst.dir.as_ref().and_then(|d| d.root().file_name()).map(|n| n.to_string_lossy().into_owned()),
        alloc_id: Some(inst.id.clone()),
        appended: false,
        grown: false,
    };
    saved.set_restart_slots(t.tracker.history().map(|s| (wall_ms(s.at, now_i, now_w), s.count)));
    saved
}

/// An instant as Unix milliseconds, by the wall clock now.
fn wall_ms(at: Instant, now_i: Instant, now_w: SystemTime) -> u64 {
    let wall = if at <= now_i { now_w - (now_i - at) } else { now_w + (at - now_i) };
    wall.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A digest of what an appended journal record leaves out (cgroups and
/// directory), to tell when it must be written in full again.
fn dirs_digest(saved: &crate::state::TaskSaved) -> u64 {
    let mut text = saved.alloc_dir.clone().unwrap_or_default();
    for c in &saved.cgroups {
        text.push('\0');
        text.push_str(&c.to_string_lossy());
    }
    crate::state::digest(&text)
}

/// The pid of a saved task's process that still runs in the task's cgroup,
/// for this supd to take over: a host process (a container is adopted
/// through its engine) that had not ended for good.
pub(super) fn adoptable(t: &crate::state::TaskSaved) -> Option<i32> {
    let (pid, ticks) = (t.pid?, t.start_ticks?);
    (!t.dead && process::sys::still_the_task(pid, ticks, &t.cgroups)).then_some(pid)
}

/// Counts the run a previous supd had going when it died as one that
/// ended in failure: a restart within the budget, or the end of the task.
pub(super) fn count_interrupted_run(run: &mut task::TaskRun) {
    use crate::policy::restart::{Decision, Outcome};
    match run.tracker.decide(Outcome::Exited { success: false }, Instant::now(), 0.0) {
        Decision::Restart { .. } => run.restarts += 1,
        Decision::Fail { reason } => {
            run.push_event(EventKind::NotRestarting, reason);
            run.state = task::State::Dead;
            run.failed = true;
            run.launched = true;
        }
        Decision::Complete | Decision::Killed => {}
    }
}
