//! Running tasks: starting them, handling their ends through the restart
//! policy, stopping them with escalation, and the coupling of the tasks of
//! one instance (lifecycle hooks, leader, sibling failure; reference §5).
//!
//! Here: where a job becomes instances (`submit`) and whose turn it is
//! (`advance`). A new instance and what a previous supd left of it are in
//! `instances`, a task's start in `start`, its end in `exits`, stops in `stop`.

mod exits;
mod instances;
mod start;
mod steps;
mod stop;

use super::core::Input;
use super::identity::{HandedIn, Launch};
use super::task::{Instance, JobRun};
use super::update::Update;
use super::{Supervisor, TaskKey};
use crate::jobspec::model::Job;

/// Where a submitted job comes from, which decides what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A file of the job directory: reloads follow the file.
    JobDir { file: String },
    /// `supctl job run`, now: it ends a `job stop`, and it is saved.
    Operator { name: String },
    /// A job submitted with `job run` before supd restarted.
    Restored { name: String },
    /// Work peers handed to this host (`from`, which its ID was made
    /// of): only these instances (group, index) run.
    HandedIn { name: String, only: Vec<(String, u32)>, from: HandedIn },
    /// A run a periodic job launched (periodic.rs) or a parameterized job
    /// dispatched (dispatch.rs): `launch`, which its ID was made of.
    Launched { name: String, launch: Launch },
}

impl Source {
    /// The job file that defines it (for reloads), or else the name it
    /// goes by in messages: kept once, not twice.
    fn into_names(self) -> (Option<String>, String) {
        match self {
            Source::JobDir { file } => (Some(file), String::new()),
            Source::Operator { name }
            | Source::Restored { name }
            | Source::HandedIn { name, .. }
            | Source::Launched { name, .. } => (None, name),
        }
    }
}

impl Supervisor {
    /// Runs a job, replacing the version that runs under its ID. An
    /// identical job is a no-op; what the operator submits again also
    /// brings back what was handed off.
    pub(super) fn submit(&mut self, job: Job, source: Source) -> Vec<String> {
        let explicit = matches!(source, Source::Operator { .. });
        let (only, received, launch) = match &source {
            Source::HandedIn { only, from, .. } => (Some(only.clone()), Some(from.clone()), None),
            Source::Launched { launch, .. } => (None, None, Some(launch.clone())),
            _ => (None, None, None),
        };
        let only = only.as_deref();
        let (file, named) = source.into_names();
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
        if let Some(serial) = current {
            // A stopped job started again replaces nothing that runs.
            let was_stopped = self.jobs.runs.get(&serial).is_some_and(|r| r.stopped) && !stays_stopped;
            self.stop_job(&job.id);
            messages.push(if was_stopped {
                format!("job {:?} started (it was stopped)", job.id)
            } else {
                format!("job {:?} updated: its instances are replaced", job.id)
            });
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
        self.jobs.runs.insert(
            serial,
            Box::new(JobRun {
                serial,
                job,
                file,
                named,
                instances,
                stopped: stays_stopped,
                replaces,
                received: received.map(Box::new),
                launch: launch.map(Box::new),
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

    /// Starts the tasks whose turn has come: prestart first, main tasks once
    /// every non-sidecar prestart task has completed, poststart once the
    /// main tasks run, poststop once everything else is dead.
    pub(super) fn advance(&mut self, serial: u64, inst: usize) {
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        if run.replaces.is_some_and(|old| self.jobs.runs.contains_key(&old)) {
            return;
        }
        if run.instances.get(inst).is_none() {
            return;
        }
        // The core marks the tasks whose turn has come; the starts follow.
        self.step(serial, inst, Input::Advance);
        self.settle(serial, inst);
        self.release_alloc_dir(serial, inst);
        // A launched or dispatched run that has ended makes room: only the
        // newest ended runs of its job are kept, with their directories.
        if let Some(run) = self.jobs.runs.get(&serial)
            && !self.stopping()
            && !run.instances.iter().any(Instance::is_live)
            && let Some(launch) = &run.launch
        {
            let (parent, kind) = (launch.parent().to_string(), launch.kind());
            self.forget_ended(&parent, kind);
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

    /// `job.group[index]/task`, for messages.
    pub(super) fn label(&self, key: TaskKey) -> String {
        match self.jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)) {
            Some(i) => format!("{}/{}", i.name, i.tasks.get(key.task).map_or("?", |t| t.spec.name.as_str())),
            None => "a task of a removed job".into(),
        }
    }
}
