//! Updating a job in place: a new version whose changes do not touch what
//! its processes run (`jobspec::diff`: only `restart`, `reschedule`,
//! `check_restart`, `kill_signal`, `kill_timeout`, `shutdown_delay`,
//! `logs`, `priority`) is taken by the running version — the processes
//! keep running, the new policies apply from then on. A version that
//! changes nothing that matters (comments, layout) is unchanged.

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
        let old = run.filter(|r| !r.stopped && !r.received).map(|r| &r.job);
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
        if run.stopped || run.received || run.file.as_deref() != file || !plain {
            return Update::Replace;
        }
        let plan = diff::plan(Some(&run.job), Some(job));
        if !plan.changes() {
            return Update::Unchanged;
        }
        // The instances keep their places (TaskKey indexes): groups and
        // tasks in the same order, no instance made or ended.
        let same_order = run.job.groups.len() == job.groups.len()
            && run.job.groups.iter().zip(&job.groups).all(|(a, b)| {
                a.name == b.name
                    && a.tasks.len() == b.tasks.len()
                    && a.tasks.iter().zip(&b.tasks).all(|(x, y)| x.name == y.name)
            });
        if !same_order || plan.instances.iter().any(|i| i.fate != Fate::InPlace) {
            return Update::Replace;
        }
        let kept = plan.instances.len();
        let digest = crate::state::digest(&job.source);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Update::Replace };
        for inst in &mut run.instances {
            let Some(g) = job.groups.get(inst.group) else { continue };
            for (t, spec) in inst.tasks.iter_mut().zip(&g.tasks) {
                t.tracker.set_policy(spec.restart);
                t.spec = spec.clone();
            }
            for (c, new) in inst.checks.iter_mut().zip(instance_checks(job, inst.group)) {
                c.spec = new.spec;
            }
        }
        run.job = job.clone();
        run.digest = digest;
        self.state_changed();
        Update::InPlace(format!(
            "job {:?} updated in place: {kept} instance(s) keep their processes, the new policies apply",
            job.id
        ))
    }
}
