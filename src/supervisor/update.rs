//! Updating a job in place: a new version whose changes do not touch what
//! its processes run (`jobspec::diff`: only `restart`, `reschedule`,
//! `check_restart`, `kill_signal`, `kill_timeout`, `shutdown_delay`,
//! `logs`, `priority`) is taken by the running version — the processes
//! keep running, the new policies apply from then on. A new `count` is
//! taken the same way: the instances below both counts stay, the new
//! indices are created, those at or above the new count are stopped
//! (highest first) and removed. A version that changes nothing that
//! matters (comments, layout) is unchanged.

use super::Supervisor;
use super::task::instance_checks;
use crate::jobspec::Job;
use crate::jobspec::diff::{self, Fate};

/// What became of a new version offered to the running one.
pub(super) enum Update {
    /// Nothing that matters changed: the running version stays as it is.
    Unchanged,
    /// Taken in place; the message says so.
    InPlace(String),
    /// Its instances must be replaced (or there is no running version to
    /// update).
    Replace,
}

impl Supervisor {
    /// The plan from the version of `job.id` that runs (none when it is
    /// stopped or handed in) to `job`.
    pub(super) fn plan_against_running(&self, job: &Job) -> diff::Plan {
        let run = self.jobs.current.get(&job.id).and_then(|s| self.jobs.runs.get(s));
        let old = run.filter(|r| !r.stopped && r.received.is_none()).map(|r| &r.job);
        diff::plan(old, Some(job))
    }

    /// Offers `job` to the version that runs under its ID, from the same
    /// place (`file`: the job directory's file, or none for `job run`).
    pub(super) fn update(&mut self, job: &Job, file: Option<&str>) -> Update {
        let Some(&serial) = self.jobs.current.get(&job.id) else { return Update::Replace };
        let Some(run) = self.jobs.runs.get(&serial) else { return Update::Replace };
        // A periodic or parameterized job's schedule goes with its
        // submission.
        let plain = run.job.runs_itself() && job.runs_itself();
        if run.stopped || run.received.is_some() || run.file.as_deref() != file || !plain {
            return Update::Replace;
        }
        let plan = diff::plan(Some(&run.job), Some(job));
        if !plan.changes() {
            return Update::Unchanged;
        }
        // The instances keep their places (TaskKey indexes): groups and
        // tasks in the same order; a new count creates and removes
        // instances, the others stay.
        let same_order = run.job.groups.len() == job.groups.len()
            && run.job.groups.iter().zip(&job.groups).all(|(a, b)| {
                a.name == b.name
                    && a.tasks.len() == b.tasks.len()
                    && a.tasks.iter().zip(&b.tasks).all(|(x, y)| x.name == y.name)
            });
        if !same_order || plan.instances.iter().any(|i| i.fate == Fate::Replace) {
            return Update::Replace;
        }
        let kept = plan.instances.iter().filter(|i| i.fate == Fate::InPlace).count();
        let digest = crate::state::digest(&job.source);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Update::Replace };
        let mut gone = Vec::new();
        for (ii, inst) in run.instances.iter_mut().enumerate().filter(|(_, i)| !i.removed) {
            let Some(g) = job.groups.get(inst.group) else { continue };
            if inst.index >= g.count {
                inst.removed = true;
                gone.push((inst.index, ii));
                continue;
            }
            for (t, spec) in inst.tasks.iter_mut().zip(&g.tasks) {
                t.tracker.set_policy(spec.restart);
                t.spec = spec.clone();
            }
            for (c, new) in inst.checks.iter_mut().zip(instance_checks(job, inst.group)) {
                c.spec = new.spec;
            }
        }
        let missing: Vec<(usize, u32)> = job
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| (0..g.count).map(move |index| (gi, index)))
            .filter(|&(gi, index)| !run.instances.iter().any(|i| !i.removed && i.group == gi && i.index == index))
            .collect();
        run.job = job.clone();
        run.digest = digest;
        // Removed highest index first, as Nomad stops them.
        gone.sort_by(|a, b| b.cmp(a));
        for &(_, ii) in &gone {
            self.call_off(serial, ii);
            self.wind_down(serial, ii, None);
        }
        for &(gi, index) in &missing {
            let instance = self.new_instance(job, gi, index);
            let Some(run) = self.jobs.runs.get_mut(&serial) else { break };
            run.instances.push(instance);
            let ii = run.instances.len() - 1;
            self.advance(serial, ii);
        }
        self.state_changed();
        let mut message = format!("job {:?} updated in place: {kept} instance(s) keep their processes", job.id);
        if !missing.is_empty() {
            message.push_str(&format!(", {} created", missing.len()));
        }
        if !gone.is_empty() {
            message.push_str(&format!(", {} stopped and removed", gone.len()));
        }
        message.push_str(", the new policies apply");
        Update::InPlace(message)
    }
}
