//! Reloading the job directory: each file parsed and checked, then a plan
//! (jobs to add, update, remove; files that did not load, with their
//! problems) that a dry run only reports and a reload applies — all of it,
//! or nothing when a file does not load. Only supd's start applies what
//! loads beside a file that does not (a typo must not keep a host's other
//! services down).

use super::Supervisor;
use super::run::Source;
use crate::jobspec::{self, Job, diff};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

impl Supervisor {
    /// Reads the job directory and works out what a reload would change;
    /// `detail`: also field by field, for a dry run to show.
    pub(super) fn plan_reload(&mut self, detail: Detail) -> Reload {
        let files = jobspec::parse_dir(&self.cfg.job_dir);
        self.plan_files(files, detail)
    }

    /// The plan for the job directory read as `files`.
    pub(super) fn plan_files(
        &mut self,
        files: Result<Vec<(PathBuf, jobspec::Parsed)>, jobspec::DirError>,
        detail: Detail,
    ) -> Reload {
        let mut plan = Reload { detail, ..Reload::default() };
        let files = match files {
            Ok(f) => f,
            Err(e) => {
                plan.problems.push(format!("{e} — keeping the jobs that run"));
                plan.failed_dir = true;
                return plan;
            }
        };
        let mut seen_files = Vec::new();
        for (path, parsed) in files {
            let name = path.display().to_string();
            seen_files.push(name.clone());
            self.plan_file(&mut plan, name, parsed);
        }
        self.plan_removals(&mut plan, &seen_files);
        if plan.changes.is_empty() && plan.problems.is_empty() {
            plan.changes.push("no changes".into());
        }
        plan
    }

    /// Adds to `plan` what one file of the job directory (`name`, read as
    /// `parsed`) changes, or why it does not load.
    fn plan_file(&self, plan: &mut Reload, name: String, parsed: jobspec::Parsed) {
        if !parsed.is_valid() {
            let problems: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            plan.problems.push(format!("{name}: invalid, not loaded (the jobs it defined keep running as they were):"));
            plan.problems.extend(problems.iter().map(|p| format!("  {p}")));
            plan.invalid.insert(name, problems);
            return;
        }
        for d in &parsed.diagnostics {
            log::warn!("{d}");
        }
        for job in parsed.jobs {
            self.plan_job(plan, job, &name);
        }
    }

    /// Adds to `plan` what one job of the file `name` changes: added,
    /// updated, nothing, or not loaded (it does not fit).
    fn plan_job(&self, plan: &mut Reload, job: Job, name: &str) {
        // A job that starts nothing (unchanged, or stopped by the
        // operator) needs no room.
        let unchanged = self
            .jobs
            .current
            .get(&job.id)
            .and_then(|s| self.jobs.runs.get(s))
            .is_some_and(|run| run.job.source == job.source && !run.stopped)
            || self.jobs.stopped.contains(&job.id);
        let planned: Vec<&Job> = plan.submit.iter().map(|(j, _)| j).collect();
        if !unchanged && let Err(e) = self.fit_with(&job, &planned) {
            // Refused like an invalid file: what runs keeps running.
            plan.problems.push(format!("{name}: job {:?} not loaded: {e}", job.id));
            plan.invalid.entry(name.to_string()).or_default().push(e.to_string());
            return;
        }
        match self.jobs.current.get(&job.id).and_then(|s| self.jobs.runs.get(s)) {
            // Unchanged: the same text, or nothing that matters
            // changed; a job the operator stopped stays so.
            Some(run)
                if (!run.stopped || self.jobs.stopped.contains(&job.id))
                    && (run.job.source == job.source || !diff::plan(Some(&run.job), Some(&job)).changes()) => {}
            Some(run) => {
                let p = self.plan_against_running(&job);
                let in_place = run.file.as_deref() == Some(name)
                    && !p.instances.is_empty()
                    && p.instances.iter().all(|i| i.fate == diff::Fate::InPlace);
                let how = if in_place { " in place" } else { "" };
                plan.changes.push(format!("update job {:?}{how} from {name}", job.id));
                plan.detailed(|| p);
                plan.submit.push((job, name.to_string()));
            }
            None => {
                plan.changes.push(format!("add job {:?} from {name}", job.id));
                plan.detailed(|| diff::plan(None, Some(&job)));
                plan.submit.push((job, name.to_string()));
            }
        }
    }

    /// Adds to `plan` the jobs of the job directory that are no longer
    /// defined there (`seen_files`: the files read), unless their file did
    /// not load.
    fn plan_removals(&self, plan: &mut Reload, seen_files: &[String]) {
        let submitted: Vec<&str> = plan.submit.iter().map(|(j, _)| j.id.as_str()).collect();
        for (id, serial) in &self.jobs.current {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            let Some(file) = &run.file else { continue };
            if run.stopped || submitted.contains(&id.as_str()) || plan.invalid.contains_key(file) {
                continue;
            }
            let still_defined =
                seen_files.contains(file) && jobspec::parse_file(Path::new(file)).jobs.iter().any(|j| &j.id == id);
            if !still_defined {
                plan.changes.push(format!("remove job {id:?} (no longer in {file})"));
                if plan.detail == Detail::Plans {
                    plan.plans.push(diff::plan(Some(&run.job), None));
                }
                plan.remove.push(id.clone());
            }
        }
    }

    /// Carries out a plan: all of it, or — with `All::OrNothing` and a
    /// file that did not load — nothing but the list of problems (which
    /// `status` shows until the next reload).
    pub(super) fn apply_reload(&mut self, plan: Reload, all: All) {
        let refused = all == All::OrNothing && plan.refused();
        if !refused {
            plan.changes.iter().for_each(|m| log::info!("{m}"));
        }
        plan.problems.iter().for_each(|m| log::warn!("{m}"));
        self.jobs.load_errors = plan.invalid;
        if refused {
            log::warn!("{NOTHING_APPLIED}");
            return;
        }
        for id in plan.remove {
            self.stop_job(&id);
        }
        for (job, file) in plan.submit {
            self.submit(job, Source::JobDir { file });
        }
    }
}

/// What a refused reload says after its problems.
pub(super) const NOTHING_APPLIED: &str =
    "reload: nothing applied, every job runs as it was — fix the files above and reload again";

/// How much of a reload's plan to apply when a file did not load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum All {
    /// A reload: everything or nothing.
    OrNothing,
    /// supd's start: what loaded.
    ThatLoaded,
}

/// What a reload would do.
#[derive(Debug, Default)]
pub(super) struct Reload {
    pub(super) submit: Vec<(Job, String)>,
    pub(super) remove: Vec<String>,
    pub(super) invalid: BTreeMap<String, Vec<String>>,
    /// What it changes: jobs added, updated, removed.
    pub(super) changes: Vec<String>,
    /// The same, field by field and instance by instance (with
    /// `Detail::Plans` only).
    pub(super) plans: Vec<diff::Plan>,
    pub(super) detail: Detail,
    /// Files that did not load and jobs that do not fit, with why.
    pub(super) problems: Vec<String>,
    pub(super) failed_dir: bool,
}

/// Whether a plan is made field by field too: only a dry run shows that,
/// and at supd's start it was most of what a job's plan held (0.7 KiB a
/// job, all kept until the last job was planned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Detail {
    #[default]
    Changes,
    Plans,
}

impl Reload {
    /// Adds the field-by-field plan of a change, when it is wanted.
    fn detailed(&mut self, plan: impl FnOnce() -> diff::Plan) {
        if self.detail == Detail::Plans {
            self.plans.push(plan());
        }
    }

    /// A file did not load (or the directory could not be read).
    pub(super) fn refused(&self) -> bool {
        self.failed_dir || !self.invalid.is_empty()
    }
}
