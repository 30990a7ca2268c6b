//! The requests about jobs: `job run` (and its plan), `job inspect`,
//! `job stop` (and `--purge`), `job start`, `reload`, and a peer's
//! `handoff serve` request.

use crate::control::protocol::Response;
use crate::jobspec;
use crate::supervisor::Supervisor;
use crate::supervisor::reload::{All, Detail};
use crate::supervisor::run::Source;

impl Supervisor {
    /// `job run`: every job of the file is valid and fits, or none is
    /// submitted.
    pub(super) fn job_run(&mut self, file: &str, source: &str) -> Response {
        self.job_run_parsed(file, jobspec::parse_str(file, source))
    }

    /// `job run` of a parsed file.
    pub(in crate::supervisor) fn job_run_parsed(&mut self, file: &str, parsed: jobspec::Parsed) -> Response {
        if !parsed.is_valid() {
            let lines: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            return Response::refused(lines.join("\n"));
        }
        if let Some(refusal) = self.job_dir_refusal(&parsed.jobs) {
            return Response::refused(refusal);
        }
        if let Some(refusal) = self.fit_refusal(&parsed.jobs) {
            return Response::refused(refusal);
        }
        let mut messages: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
        messages
            .extend(crate::node::placement_warnings(file, &parsed.jobs, &self.cfg.node).iter().map(|d| d.to_string()));
        for job in parsed.jobs {
            // The same job as its file in the job directory defines (run
            // again after a stop): it goes on following its file, and is
            // not saved as a submitted copy besides it.
            let dir_file = self
                .jobs
                .current
                .get(&job.id)
                .and_then(|s| self.jobs.runs.get(s))
                .filter(|r| r.job.source == job.source)
                .and_then(|r| r.file.clone());
            let source = match dir_file {
                Some(file) => {
                    if self.jobs.stopped.remove(&job.id) {
                        self.state_changed();
                    }
                    Source::JobDir { file }
                }
                None => Source::Operator { name: file.to_string() },
            };
            messages.extend(self.submit(job, source));
        }
        Response::ok(messages)
    }

    /// Why `job run` refuses these jobs, if it does: a job of the job
    /// directory changes with its file, and a different version run by
    /// hand would be undone by the next reload.
    fn job_dir_refusal(&self, jobs: &[jobspec::Job]) -> Option<String> {
        jobs.iter().find_map(|job| {
            let run = self.jobs.current.get(&job.id).and_then(|s| self.jobs.runs.get(s))?;
            let path = run.file.as_ref().filter(|_| run.job.source != job.source)?;
            Some(format!(
                "job {:?} comes from {path} in the job directory, and `job run` of another version would be \
                 undone at the next reload — edit that file and run `supctl reload`, or move it out of the job \
                 directory first",
                job.id
            ))
        })
    }

    /// Why `job run` refuses these jobs for this node's capacity, if it
    /// does: each must fit beside the jobs that run and those before it in
    /// the file.
    fn fit_refusal(&self, jobs: &[jobspec::Job]) -> Option<String> {
        let mut planned = Vec::new();
        for job in jobs {
            if let Err(e) = self.fit_with(job, &planned) {
                return Some(e.to_string());
            }
            planned.push(job);
        }
        None
    }

    /// `job inspect`: the effective job, from the version supd holds.
    pub(super) fn job_inspect(&self, job: &str, json: bool) -> Response {
        let Some(run) = self.jobs.current.get(job).and_then(|s| self.jobs.runs.get(s)) else {
            return Response::refused(self.unknown_job(job).to_string());
        };
        let tree = jobspec::effective::of(&run.job);
        let text = if json {
            match serde_json::to_string_pretty(&jobspec::effective::to_json(&tree)) {
                Ok(s) => format!("{s}\n"),
                Err(e) => return Response::refused(format!("cannot encode the job as JSON: {e}")),
            }
        } else {
            jobspec::effective::to_hcl(&tree)
        };
        let mut r = Response::ok(Vec::new());
        r.data = Some(text);
        r
    }

    /// `job plan`: what `job run` of the file would do to each job, and
    /// nothing done.
    pub(super) fn job_plan(&mut self, file: &str, source: &str) -> Response {
        let parsed = jobspec::parse_str(file, source);
        if !parsed.is_valid() {
            let lines: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            return Response::refused(lines.join("\n"));
        }
        // What `job run` would refuse, the plan refuses too.
        if let Some(refusal) = self.job_dir_refusal(&parsed.jobs).or_else(|| self.fit_refusal(&parsed.jobs)) {
            return Response::refused(refusal);
        }
        let mut r = Response::ok(parsed.diagnostics.iter().map(|d| d.to_string()).collect());
        for job in &parsed.jobs {
            let plan = self.plan_against_running(job);
            match serde_json::to_value(&plan) {
                Ok(v) => r.plans.push(v),
                Err(e) => return Response::refused(format!("cannot encode the plan: {e}")),
            }
        }
        r
    }

    /// `job stop`: the job stays stopped across reloads and restarts.
    pub(super) fn job_stop(&mut self, job: &str) -> Response {
        if self.jobs.current.get(job).and_then(|s| self.jobs.runs.get(s)).is_some_and(|r| r.stopped) {
            return Response::ok(vec![format!("job {job:?} is already stopped")]);
        }
        if self.stop_job(job) {
            self.jobs.stopped.insert(job.to_string());
            self.state_changed();
            Response::ok(vec![format!("job {job:?} stopping")])
        } else {
            Response::refused(self.unknown_job(job).to_string())
        }
    }

    /// `job start`: a stopped job runs again, as it was: from its file in
    /// the job directory (which it keeps following), or as submitted.
    pub(super) fn job_start(&mut self, job: &str) -> Response {
        let Some(run) = self.jobs.current.get(job).and_then(|s| self.jobs.runs.get(s)) else {
            return Response::refused(self.unknown_job(job).to_string());
        };
        if !run.stopped && !self.jobs.stopped.contains(job) {
            return Response::ok(vec![format!("job {job:?} is not stopped")]);
        }
        if run.received.is_some() {
            let from = run.instances.iter().find_map(|i| i.received_from.clone()).unwrap_or_default();
            return Response::refused(format!(
                "job {job:?} was handed to this node by {from}, which decides where it runs now: run it there \
                 (`supctl restart` of the instance on {from} runs it there again)"
            ));
        }
        let source = match &run.file {
            Some(file) => Source::JobDir { file: file.clone() },
            None => Source::Operator { name: run.origin().to_string() },
        };
        let spec = run.job.clone();
        self.jobs.stopped.remove(job);
        self.state_changed();
        Response::ok(self.submit(spec, source))
    }

    /// `job stop --purge`: a job submitted with `job run` is stopped and
    /// forgotten; one of the job directory is refused (its file defines
    /// it: the file goes, then a reload).
    pub(super) fn job_purge(&mut self, job: &str) -> Response {
        let Some(&serial) = self.jobs.current.get(job) else {
            return Response::refused(self.unknown_job(job).to_string());
        };
        if let Some(file) = self.jobs.runs.get(&serial).and_then(|r| r.file.clone()) {
            return Response::refused(format!(
                "job {job:?} comes from {file} in the job directory: remove (or rename) that file and run \
                 `supctl reload` to forget it, or `supctl job stop {job}` to stop it"
            ));
        }
        self.stop_job(job);
        // Its periodic launches and dispatched runs go with it.
        let family: Vec<String> = self
            .jobs
            .current
            .iter()
            .filter(|(id, serial)| {
                id.as_str() == job
                    || self.jobs.runs.get(*serial).and_then(|r| r.launch.as_ref()).is_some_and(|l| l.parent() == job)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut retired = Vec::new();
        for id in &family {
            self.stop_job(id);
            self.jobs.stopped.remove(id);
            retired.extend(self.jobs.current.remove(id));
        }
        // What has nothing left running is forgotten now, the rest once
        // it has ended.
        for serial in retired {
            let n = self.jobs.runs.get(&serial).map_or(0, |r| r.instances.len());
            for inst in 0..n {
                self.advance(serial, inst);
            }
        }
        self.state_changed();
        Response::ok(vec![format!("job {job:?} stopping, and forgotten: it is no longer listed or run again")])
    }

    /// `reload`: all of the job directory's changes, or nothing when a
    /// file does not load (the answer lists why, and fails).
    pub(super) fn reload(&mut self, dry_run: bool) -> Response {
        let detail = if dry_run { Detail::Plans } else { Detail::Changes };
        let plan = self.plan_reload(detail);
        if plan.refused() {
            let mut lines = plan.problems.clone();
            if dry_run {
                lines.push("a reload would apply nothing until these files load".into());
            } else {
                lines.push(crate::supervisor::reload::NOTHING_APPLIED.into());
                self.apply_reload(plan, All::OrNothing);
            }
            return Response::refused(lines.join("\n"));
        }
        let changes = plan.changes.clone();
        if !dry_run {
            self.reports.notify.reloading();
            self.apply_reload(plan, All::OrNothing);
            let line = self.jobs.status_line();
            self.reports.notify.ready(&line);
            return Response::ok(changes);
        }
        let mut r = Response::ok(changes);
        r.plans = plan.plans.iter().filter_map(|p| serde_json::to_value(p).ok()).collect();
        r
    }

    /// `handoff serve`: a peer's request about work it hands to this host.
    pub(super) fn handoff(&mut self, from: &str, request: serde_json::Value) -> Response {
        let request = match crate::handoff::wire::Request::from_value(request) {
            Ok(r) => r,
            Err(e) => return Response::refused(crate::error_chain(&e)),
        };
        let answer = self.serve(from, request);
        if let Some(e) = &answer.error {
            log::warn!("hand-off request from {from} refused: {e}");
        }
        match serde_json::to_string(&answer) {
            Ok(text) => {
                let mut r = Response::ok(Vec::new());
                r.data = Some(text);
                r
            }
            Err(e) => Response::refused(format!("cannot encode the answer: {e}")),
        }
    }
}
