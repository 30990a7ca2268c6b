//! What each control request does: one method per request, called with a
//! request the server (`server`) has read, decoded and allowed; the
//! answer goes back through the server.

use super::errors::TargetError;
use super::output::LogPath;
use super::reload::All;
use super::run::Source;
use super::status::{JobView, Lines, Shown, StatusAnswer, StatusView};
use super::task::State;
use super::{Supervisor, TaskKey, Timer};
use crate::control::protocol::{EventLine, Request, Response, VERSION};
use crate::jobspec;
use crate::logs::Stream;
use crate::policy::restart::Outcome;
use crate::process;
use mio::Token;
use std::time::Instant;

/// How long after the last large answer (the status of a thousand tasks)
/// the memory it took goes back.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

impl Supervisor {
    /// A control client's socket is ready: a request it completed is
    /// carried out and answered.
    pub(super) fn on_client(&mut self, token: Token, readable: bool, writable: bool) {
        if let Some(request) = self.server.on_ready(self.io.poll.registry(), token, readable, writable) {
            // A large job file is parsed off the loop, and answered then.
            // What places jobs or carries the node reads its attributes.
            if matches!(
                request,
                Request::JobRun { .. }
                    | Request::JobStart { .. }
                    | Request::PeriodicForce { .. }
                    | Request::JobDispatch { .. }
                    | Request::Reload { .. }
                    | Request::DaemonReexec
                    | Request::Handoff { .. }
            ) {
                self.settle_java();
            }
            let request = match request {
                Request::JobRun { source, file, plan: false } if source.len() >= super::parsing::OFF_LOOP => {
                    match self.pending.parses.start(token, file, source) {
                        Ok(()) => return,
                        Err((_, file, source)) => Request::JobRun { source, file, plan: false },
                    }
                }
                other => other,
            };
            let response = self.handle(token, request);
            self.server.answer(self.io.poll.registry(), token, response);
        }
        if let Some(seq) = self.server.take_big_answer() {
            // Not after each one: a client asking in a loop (or a busy
            // supd) would have the heap trimmed and supd's code faulted
            // back in at every answer. Once they stop, the memory goes.
            self.io.timers.arm(Instant::now() + RELEASE_AFTER, Timer::Release { seq });
        }
    }

    /// Sends new task events to every `events --follow` client.
    pub(super) fn broadcast_events(&mut self) {
        let Some(since) = self.server.events_wanted_since(super::task::last_event_seq()) else { return };
        let mut lines = self.event_lines(since);
        lines.sort_by_key(|(seq, _)| *seq);
        self.server.broadcast_events(self.io.poll.registry(), &lines);
    }

    fn event_lines(&self, since: u64) -> Vec<(u64, EventLine)> {
        let mut out = Vec::new();
        for run in self.jobs.runs.values() {
            for inst in &run.instances {
                let group = &run.job.groups[inst.group].name;
                for t in &inst.tasks {
                    for e in t.events.iter().filter(|e| e.seq > since) {
                        out.push((
                            e.seq,
                            EventLine {
                                version: VERSION,
                                job: run.job.id.clone(),
                                group: group.clone(),
                                index: inst.index,
                                task: t.spec.name.clone(),
                                event: super::status::event(e),
                            },
                        ));
                    }
                }
            }
        }
        out
    }

    /// Carries out one request (decoded and allowed by the server).
    fn handle(&mut self, token: Token, request: Request) -> Response {
        // A change is on disk before the client hears of it.
        let changes = matches!(
            request,
            Request::JobRun { plan: false, .. }
                | Request::JobStop { .. }
                | Request::JobStart { .. }
                | Request::VarPut { .. }
                | Request::VarPurge { .. }
                | Request::Restart { .. }
                | Request::Signal { .. }
                | Request::Reload { dry_run: false }
                | Request::Handoff { .. }
                | Request::PeriodicForce { .. }
                | Request::JobDispatch { .. }
        );
        let response = self.carry_out(token, request);
        if changes {
            self.save_acknowledged();
        }
        response
    }

    fn carry_out(&mut self, token: Token, request: Request) -> Response {
        match request {
            Request::Status { target, events, brief } => self.status(target.as_deref(), events, brief),
            Request::StatusJson { target, compact } => self.status_json(target.as_deref(), compact),
            Request::JobRun { source, file, plan: false } => self.job_run(&file, &source),
            Request::JobRun { source, file, plan: true } => self.job_plan(&file, &source),
            Request::JobStop { job, purge: false } => self.job_stop(&job),
            Request::JobStop { job, purge: true } => self.job_purge(&job),
            Request::JobStart { job } => self.job_start(&job),
            Request::VarPut { path, items, cas } => self.var_put(&path, items, cas),
            Request::VarGet { path } => self.var_get(&path),
            Request::VarList { prefix } => self.var_list(&prefix),
            Request::VarPurge { path } => self.var_purge(&path),
            Request::JobInspect { job, json } => self.job_inspect(&job, json),
            Request::PeriodicForce { job } => self.periodic_force(&job),
            Request::JobDispatch { job, meta, payload } => {
                use base64::Engine;
                match payload.map(|p| base64::engine::general_purpose::STANDARD.decode(p)).transpose() {
                    Ok(bytes) => self.dispatch(&job, meta, bytes),
                    Err(e) => Response::refused(format!("the payload is not base64: {e}")),
                }
            }
            Request::Restart { target } => self.restart(&target),
            Request::Signal { target, signal } => self.signal(&target, &signal),
            Request::Events { follow, target, since, types, task } => {
                self.events(token, follow, target.as_deref(), since.as_deref(), EventFilter::new(None, types, task))
            }
            Request::Logs { target, stderr, lines, follow, all } => {
                self.logs(token, &target, stderr, lines, follow, all)
            }
            Request::Reload { dry_run } => self.reload(dry_run),
            Request::Handoff { from, request } => self.handoff(&from, request),
            Request::DaemonReexec => self.daemon_reexec(token),
            Request::Shutdown => {
                let uid = self.server.uid(token).map_or("?".to_string(), |u| u.to_string());
                self.shutdown(&format!("shutdown requested over the control socket (uid {uid})"));
                Response::ok(vec!["supd is stopping every task, then exits".into()])
            }
        }
    }

    /// `job run`: every job of the file is valid and fits, or none is
    /// submitted.
    fn job_run(&mut self, file: &str, source: &str) -> Response {
        self.job_run_parsed(file, jobspec::parse_str(file, source))
    }

    /// `job run` of a parsed file.
    pub(super) fn job_run_parsed(&mut self, file: &str, parsed: jobspec::Parsed) -> Response {
        if !parsed.is_valid() {
            let lines: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            return Response::refused(lines.join("\n"));
        }
        if let Some(refusal) = self.job_dir_refusal(&parsed.jobs) {
            return Response::refused(refusal);
        }
        let mut planned = Vec::new();
        for job in &parsed.jobs {
            if let Err(e) = self.fit_with(job, &planned) {
                return Response::refused(e.to_string());
            }
            planned.push(job);
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

    /// `job inspect`: the effective job, from the version supd holds.
    fn job_inspect(&self, job: &str, json: bool) -> Response {
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
    fn job_plan(&mut self, file: &str, source: &str) -> Response {
        let parsed = jobspec::parse_str(file, source);
        if !parsed.is_valid() {
            let lines: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            return Response::refused(lines.join("\n"));
        }
        // What `job run` would refuse, the plan refuses too.
        if let Some(refusal) = self.job_dir_refusal(&parsed.jobs) {
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
    fn job_stop(&mut self, job: &str) -> Response {
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
    fn job_start(&mut self, job: &str) -> Response {
        let Some(run) = self.jobs.current.get(job).and_then(|s| self.jobs.runs.get(s)) else {
            return Response::refused(self.unknown_job(job).to_string());
        };
        if !run.stopped && !self.jobs.stopped.contains(job) {
            return Response::ok(vec![format!("job {job:?} is not stopped")]);
        }
        if run.received {
            let from = run.instances.iter().find_map(|i| i.received_from.clone()).unwrap_or_default();
            return Response::refused(format!(
                "job {job:?} was handed to this node by {from}, which decides where it runs now: run it there \
                 (`supctl restart` of the instance on {from} runs it there again)"
            ));
        }
        let source = match &run.file {
            Some(file) => Source::JobDir { file: file.clone() },
            None => Source::Operator { name: run.origin.clone() },
        };
        let spec = run.job.clone();
        self.jobs.stopped.remove(job);
        self.state_changed();
        Response::ok(self.submit(spec, source))
    }

    /// `job stop --purge`: a job submitted with `job run` is stopped and
    /// forgotten; one of the job directory is refused (its file defines
    /// it: the file goes, then a reload).
    fn job_purge(&mut self, job: &str) -> Response {
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
            .keys()
            .filter(|id| {
                id.as_str() == job
                    || super::periodic::parent_of(id) == Some(job)
                    || super::dispatch::parent_of(id) == Some(job)
            })
            .cloned()
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

    /// `events`: every kept event (of a target, since a time), then (with
    /// `follow`) the new ones.
    fn events(
        &mut self,
        token: Token,
        follow: bool,
        target: Option<&str>,
        since: Option<&str>,
        mut filter: EventFilter,
    ) -> Response {
        filter.selection = match target.map(|t| self.resolve(t)).transpose() {
            Ok(f) => f,
            Err(e) => return Response::refused(e.to_string()),
        };
        let since = match since {
            None => None,
            Some(text) => match crate::timefmt::parse_rfc3339(text) {
                Some(t) => Some(crate::timefmt::rfc3339(t)),
                None => {
                    return Response::refused(format!(
                        "since {text:?} is not an RFC 3339 time — write e.g. 2026-11-28T05:06:07Z"
                    ));
                }
            },
        };
        let mut lines = self.event_lines(0);
        lines.sort_by_key(|(s, _)| *s);
        if follow {
            self.server.follow_events(token, lines.last().map_or(0, |(s, _)| *s), filter.clone());
        }
        // Event times are all written alike (UTC, milliseconds), so they
        // compare as text.
        lines.retain(|(_, l)| {
            filter.matches_line(l) && since.as_ref().is_none_or(|s| l.event.time.as_str() >= s.as_str())
        });
        let mut r = Response::ok(Vec::new());
        r.events = lines.into_iter().map(|(_, l)| l).collect();
        r
    }

    /// `logs`: the last lines of a task's output, then (with `follow`)
    /// what it writes.
    /// With `all`, both streams: stdout's last lines go out first, then
    /// stderr's in the answer (the files keep no times, so the two cannot
    /// be merged line by line), then what either writes next.
    fn logs(&mut self, token: Token, target: &str, stderr: bool, lines: usize, follow: bool, all: bool) -> Response {
        let path = match self.log_target(target, stderr && !all) {
            Ok(p) => p,
            Err(e) => return Response::refused(e.to_string()),
        };
        if let Some(elsewhere) = self.output_elsewhere(&path) {
            return Response::refused(elsewhere);
        }
        let lines = lines.min(100_000);
        // The stored lines, each with when supd read it; with `all`, both
        // streams' merged in that order (stdout first at the same time).
        let mut stored: Vec<(Option<u64>, Stream, Vec<u8>)> = Vec::new();
        if all {
            let out = self.log_tail_timed(&LogPath { stream: Stream::Stdout, ..path.clone() }, lines);
            let err = self.log_tail_timed(&LogPath { stream: Stream::Stderr, ..path.clone() }, lines);
            stored = merge_by_time(out, err);
            // The last `lines` of both together.
            let extra = stored.len().saturating_sub(lines);
            stored.drain(..extra);
        } else {
            stored.extend(self.log_tail_timed(&path, lines).into_iter().map(|(t, l)| (t, path.stream, l)));
        }
        let path = if all { LogPath { stream: Stream::Stderr, ..path } } else { path };
        // Runs of lines of one stream and one time go as one piece.
        let mut pieces: Vec<(Option<u64>, Stream, Vec<u8>)> = Vec::new();
        for (t, s, l) in stored {
            match pieces.last_mut() {
                Some((pt, ps, buf)) if *pt == t && *ps == s => buf.extend_from_slice(&l),
                _ => pieces.push((t, s, l)),
            }
        }
        let stamp = |t: Option<u64>| {
            t.map(|ms| crate::timefmt::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)))
        };
        let last = pieces.pop();
        for (t, s, buf) in pieces {
            self.server.send_data(self.io.poll.registry(), token, &buf, s, stamp(t));
        }
        let r = match last {
            Some((t, s, buf)) => Response::output(&buf, s == Stream::Stderr, stamp(t)),
            None => Response::output(&[], path.stream == Stream::Stderr, None),
        };
        if follow {
            if all {
                self.server.follow_logs(token, LogPath { stream: Stream::Stdout, ..path.clone() });
            }
            self.server.follow_logs(token, path);
        }
        r
    }

    /// `reload`: all of the job directory's changes, or nothing when a
    /// file does not load (the answer lists why, and fails).
    fn reload(&mut self, dry_run: bool) -> Response {
        let plan = self.plan_reload();
        if plan.refused() {
            let mut lines = plan.problems.clone();
            if dry_run {
                lines.push("a reload would apply nothing until these files load".into());
            } else {
                lines.push(super::reload::NOTHING_APPLIED.into());
                self.apply_reload(plan, All::OrNothing);
            }
            return Response::refused(lines.join("\n"));
        }
        let changes = plan.changes.clone();
        let plans: Vec<serde_json::Value> = plan.plans.iter().filter_map(|p| serde_json::to_value(p).ok()).collect();
        if !dry_run {
            self.reports.notify.reloading();
            self.apply_reload(plan, All::OrNothing);
            let line = self.jobs.status_line();
            self.reports.notify.ready(&line);
            return Response::ok(changes);
        }
        let mut r = Response::ok(changes);
        r.plans = plans;
        r
    }

    /// `handoff serve`: a peer's request about work it hands to this host.
    fn handoff(&mut self, from: &str, request: serde_json::Value) -> Response {
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

    pub(super) fn unknown_job(&self, job: &str) -> TargetError {
        let hint = crate::jobspec::diag::did_you_mean(job, self.jobs.current.keys().map(String::as_str))
            .map_or(String::new(), |s| format!(" — did you mean {s:?}?"));
        TargetError::NoJob { job: job.to_string(), hint }
    }

    fn status(&self, target: Option<&str>, events: Option<usize>, brief: bool) -> Response {
        let selection = match target.map(|t| self.resolve(t)).transpose() {
            Ok(s) => s,
            Err(e) => return Response::refused(e.to_string()),
        };
        let lines = Lines::default();
        let view = self.status_view(selection.as_ref(), events, brief, &lines);
        let mut r = Response::ok(self.jobs.load_errors.values().flat_map(|p| p.clone()).collect());
        // The answer line is encoded here, from the view that borrows the
        // model: the status of a thousand tasks is not copied into owned
        // strings first.
        let line = serde_json::to_vec(&StatusAnswer { messages: &r.messages, status: &view });
        drop(view);
        match line {
            Ok(line) => r.line = Some(line),
            Err(e) => return Response::refused(format!("cannot encode the status: {e}")),
        }
        r
    }

    /// The status of the jobs `selection` names (all without one), as a
    /// view of the model.
    fn status_view<'a>(
        &'a self,
        selection: Option<&'a Selection>,
        events: Option<usize>,
        brief: bool,
        lines: &'a Lines,
    ) -> StatusView<'a> {
        let shown = Shown { selection, events, brief, lines };
        let mut jobs = Vec::with_capacity(self.jobs.current.len());
        for (id, serial) in &self.jobs.current {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            if selection.is_some_and(|sel| &sel.job != id) {
                continue;
            }
            jobs.push(JobView { run, head: self.job_head(id, run), shown });
        }
        StatusView { node: self.node_status(), jobs }
    }

    /// The status as `supctl --json status` prints it: encoded here, pretty,
    /// as the answer's body, which supctl copies out as it comes.
    fn status_json(&mut self, target: Option<&str>, compact: bool) -> Response {
        let selection = match target.map(|t| self.resolve(t)).transpose() {
            Ok(s) => s,
            Err(e) => return Response::refused(e.to_string()),
        };
        let lines = Lines::default();
        let view = self.status_view(selection.as_ref(), None, false, &lines);
        let mut doc = self.server.document_buffer();
        let encoded =
            if compact { serde_json::to_writer(&mut doc, &view) } else { super::status::to_pretty(&mut doc, &view) };
        if let Err(e) = encoded {
            return Response::refused(format!("cannot encode the status: {e}"));
        }
        doc.push(b'\n');
        let up = view.all_up();
        drop(view);
        let size = doc.len() - super::server::DOCUMENT_ROOM;
        self.server.note_document_size(size);
        let mut r = Response::ok(self.jobs.load_errors.values().flat_map(|p| p.clone()).collect());
        r.up = Some(up);
        r.body = Some(size as u64);
        r.document = Some(doc);
        r
    }

    /// `JOB`, `JOB/GROUP`, `JOB/GROUP/INDEX`, `JOB/GROUP/INDEX/TASK`,
    /// `JOB/GROUP/TASK` or Nomad's instance name `JOB.GROUP[INDEX]`.
    fn resolve(&self, target: &str) -> Result<Selection, TargetError> {
        let mut parts: Vec<String> = target.split('/').map(str::to_string).collect();
        // A launched run's ID holds a `/`: `JOB/periodic-T`.
        if parts.len() > 1 && self.jobs.current.contains_key(&format!("{}/{}", parts[0], parts[1])) {
            let second = parts.remove(1);
            parts[0] = format!("{}/{second}", parts[0]);
        }
        if let Some((head, rest)) = target.split_once('[')
            && let Some(index) = rest.strip_suffix(']')
            && let Some((job, group)) = head.rsplit_once('.')
            && (parts.len() == 1 || self.jobs.current.contains_key(job))
        {
            parts = vec![job.into(), group.into(), index.into()];
        }
        let job = parts[0].clone();
        let run =
            self.jobs.current.get(&job).and_then(|s| self.jobs.runs.get(s)).ok_or_else(|| self.unknown_job(&job))?;
        let mut sel = Selection { job, group: None, index: None, task: None };
        if let Some(g) = parts.get(1) {
            let Some(group) = run.job.groups.iter().find(|x| &x.name == g) else {
                return Err(TargetError::NoGroup { job: sel.job, group: g.clone() });
            };
            sel.group = Some(g.clone());
            let mut rest = &parts[2..];
            if let Some(first) = rest.first()
                && let Ok(i) = first.parse::<u32>()
            {
                if i >= group.count {
                    return Err(TargetError::NoIndex { group: g.clone(), last: group.count.saturating_sub(1) });
                }
                sel.index = Some(i);
                rest = &rest[1..];
            }
            if let Some(t) = rest.first() {
                if !group.tasks.iter().any(|x| &x.name == t) {
                    return Err(TargetError::NoTask { group: g.clone(), task: t.clone() });
                }
                sel.task = Some(t.clone());
            }
            if rest.len() > 1 {
                return Err(TargetError::Malformed(target.to_string()));
            }
        }
        Ok(sel)
    }

    /// One task's stream for `logs`: the group, index and task may each be
    /// left out when there is only one to choose.
    fn log_target(&self, target: &str, stderr: bool) -> Result<super::output::LogPath, TargetError> {
        let sel = self.resolve(target)?;
        let run = &self.jobs.runs[&self.jobs.current[&sel.job]];
        let gname = match sel.group {
            Some(g) => g,
            None if run.job.groups.len() == 1 => run.job.groups[0].name.clone(),
            None => {
                let choices = run.job.groups.iter().map(|g| format!("{}/{}", sel.job, g.name)).collect();
                return Err(TargetError::SeveralGroups { job: sel.job, choices });
            }
        };
        let Some(group) = run.job.groups.iter().find(|g| g.name == gname) else {
            return Err(TargetError::NoGroup { job: sel.job, group: gname });
        };
        let index = match sel.index {
            Some(i) => i,
            None if group.count == 1 => 0,
            None => return Err(TargetError::SeveralInstances { job: sel.job, group: gname, count: group.count }),
        };
        let task = match sel.task {
            Some(t) => t,
            None if group.tasks.len() == 1 => group.tasks[0].name.clone(),
            None => {
                let tasks = group.tasks.iter().map(|t| t.name.clone()).collect();
                return Err(TargetError::SeveralTasks { job: sel.job, group: gname, index, tasks });
            }
        };
        Ok(super::output::LogPath {
            job: sel.job,
            group: gname,
            index,
            task,
            stream: crate::logs::Stream::from_stderr(stderr),
        })
    }

    fn selected_tasks(&self, target: &str) -> Result<Vec<TaskKey>, TargetError> {
        let sel = self.resolve(target)?;
        let serial = self.jobs.current[&sel.job];
        let run = &self.jobs.runs[&serial];
        let mut keys = Vec::new();
        for (ii, inst) in run.instances.iter().enumerate() {
            for (ti, t) in inst.tasks.iter().enumerate() {
                if sel.matches(run, inst, Some(t)) {
                    keys.push(TaskKey { run: serial, inst: ii, task: ti });
                }
            }
        }
        Ok(keys)
    }

    fn restart(&mut self, target: &str) -> Response {
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e.to_string()),
        };
        // Nomad's words (client/client.go, RestartAllocation): a named task,
        // or every running task of the target.
        let reason = if self.resolve(target).is_ok_and(|s| s.task.is_some()) {
            "User requested task to restart"
        } else {
            "User requested running tasks to restart"
        };
        if keys.first().is_some_and(|k| self.jobs.runs.get(&k.run).is_some_and(|r| r.stopped)) {
            return Response::refused(format!("{target}: the job is stopped — submit it again with `supctl job run`"));
        }
        let mut messages = Vec::new();
        let keys = self.take_back_selected(keys, &mut messages);
        let not_running = self.restart_tasks(keys, reason, &mut messages);
        if messages.is_empty() {
            let why = if not_running.is_empty() { String::new() } else { format!(": {}", not_running.join("; ")) };
            return Response::refused(format!("{target}: no task to restart{why}"));
        }
        messages.extend(not_running);
        Response::ok(messages)
    }

    /// The first part of `restart`: the instances of `keys` that are handed
    /// off (or on their way) are taken back, what it says going in
    /// `messages`. Returns the keys of the other instances' tasks.
    fn take_back_selected(&mut self, mut keys: Vec<TaskKey>, messages: &mut Vec<String>) -> Vec<TaskKey> {
        // A handed-off instance (or one waiting to be) runs here again, as a
        // whole and afresh; a failed one forgets its hand-off history.
        let mut taken_back = Vec::new();
        for key in &keys {
            let Some(i) = self.jobs.runs.get_mut(&key.run).and_then(|r| r.instances.get_mut(key.inst)) else {
                continue;
            };
            match i.resched {
                super::task::Resched::HandedOff { .. }
                | super::task::Resched::Waiting { .. }
                | super::task::Resched::Trying(_) => {
                    if !taken_back.contains(&(key.run, key.inst)) {
                        taken_back.push((key.run, key.inst));
                    }
                }
                super::task::Resched::Stay { .. } => {
                    i.resched = super::task::Resched::Idle;
                    i.history.clear();
                }
                super::task::Resched::Idle => {}
            }
        }
        keys.retain(|k| !taken_back.contains(&(k.run, k.inst)));
        for (serial, inst) in taken_back {
            let name = self
                .jobs
                .runs
                .get(&serial)
                .and_then(|r| r.instances.get(inst))
                .map_or(String::new(), |i| i.name.clone());
            self.take_back(serial, inst);
            messages.push(format!("instance {name} runs here again"));
        }
        keys
    }

    /// Restarts each running task of `keys` and starts each dead one, what
    /// it does going in `messages`. Returns why the others were left alone.
    fn restart_tasks(&mut self, keys: Vec<TaskKey>, reason: &'static str, messages: &mut Vec<String>) -> Vec<String> {
        let mut not_running = Vec::new();
        for key in keys {
            let Some(t) = self.jobs.task_mut(key) else { continue };
            let name = t.spec.name.clone();
            match t.state {
                State::Running => {
                    t.push_event("Restart Signaled", reason.into());
                    self.stop_task(key, super::task::After::Restart(Outcome::UserRestart));
                    messages.push(format!("restarting task {name}"));
                }
                State::Pending => {
                    // As Nomad (taskrunner/lifecycle.go, Restart: `case
                    // structs.TaskStatePending, structs.TaskStateDead:
                    // return te.ErrTaskNotRunning`): it starts on its own,
                    // after its restart delay or once its prestart tasks are
                    // done, and an early start would skip either.
                    not_running.push(format!("task {name:?} is not running (pending): it starts on its own"));
                }
                State::Dead => {
                    // Dead: start it now (unlike Nomad, see supctl(1)). A
                    // dead instance comes back to life as a whole.
                    t.push_event("Restart Signaled", reason.into());
                    t.generation += 1;
                    t.failed = false;
                    t.state = State::Pending;
                    t.launched = true;
                    let generation = t.generation;
                    if let Some(inst) = self.jobs.runs.get_mut(&key.run).and_then(|r| r.instances.get_mut(key.inst)) {
                        inst.winding_down = false;
                    }
                    self.io.timers.arm(Instant::now(), Timer::Start { task: key, generation });
                    messages.push(format!("starting task {name}"));
                }
            }
        }
        not_running
    }

    fn signal(&mut self, target: &str, signal: &str) -> Response {
        if signal.trim() == "0" {
            return self.probe(target);
        }
        let Some(sig) = crate::signals::parse(signal) else {
            return Response::refused(format!(
                "unknown signal {signal:?} — use a name such as SIGHUP, a number, or 0 to test that the tasks are alive"
            ));
        };
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e.to_string()),
        };
        let mut messages = Vec::new();
        for key in keys {
            let Some(t) = self.jobs.task_mut(key) else { continue };
            let Some(pid) = t.pid else { continue };
            // Nomad's alloc runner names no signal in the event
            // (structs.go: `if sig == "" && reason == "" { desc = "Task being sent a signal" }`).
            t.push_event("Signaling", "Task being sent a signal".into());
            let name = t.spec.name.clone();
            match self.signal_task(key, sig) {
                Ok(()) => messages.push(format!("sent {} to task {name} (pid {pid})", sig.as_str())),
                Err(e) => return Response::refused(format!("cannot signal task {name}: {e}")),
            }
        }
        if messages.is_empty() {
            return Response::refused(format!("{target}: no running task to signal"));
        }
        Response::ok(messages)
    }

    /// `signal TARGET 0`: whether the target's tasks are alive, as kill(2)
    /// with no signal tells; nothing is sent and no event is recorded.
    fn probe(&self, target: &str) -> Response {
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e.to_string()),
        };
        let mut messages = Vec::new();
        for key in keys {
            let Some(t) = self.jobs.task(key) else { continue };
            let Some(pid) = t.pid else { continue };
            match process::probe_group(pid) {
                Ok(true) => messages.push(format!("task {} (pid {pid}) is alive", t.spec.name)),
                Ok(false) => {}
                Err(e) => return Response::refused(format!("cannot probe task {}: {e}", t.spec.name)),
            }
        }
        if messages.is_empty() {
            return Response::refused(format!("{target}: no running task"));
        }
        Response::ok(messages)
    }
}

/// Which task events a client asked for: of the selected tasks, of these
/// types, of tasks of this name; everything when empty.
#[derive(Debug, Clone, Default)]
pub(super) struct EventFilter {
    pub selection: Option<Selection>,
    pub types: Vec<String>,
    pub task: Option<String>,
}

impl EventFilter {
    pub(super) fn new(selection: Option<Selection>, types: Vec<String>, task: Option<String>) -> EventFilter {
        EventFilter { selection, types, task }
    }

    /// Whether it lets everything through.
    pub(super) fn is_empty(&self) -> bool {
        self.selection.is_none() && self.types.is_empty() && self.task.is_none()
    }

    pub(super) fn matches_line(&self, l: &EventLine) -> bool {
        self.selection.as_ref().is_none_or(|s| s.matches_line(l))
            && (self.types.is_empty() || self.types.iter().any(|t| t.eq_ignore_ascii_case(&l.event.kind)))
            && self.task.as_ref().is_none_or(|t| &l.task == t)
    }
}

/// A resolved status/restart/signal/events target.
#[derive(Debug, Clone)]
pub(super) struct Selection {
    job: String,
    group: Option<String>,
    index: Option<u32>,
    task: Option<String>,
}

impl Selection {
    pub(super) fn matches(
        &self,
        run: &super::task::JobRun,
        inst: &super::task::Instance,
        task: Option<&super::task::TaskRun>,
    ) -> bool {
        if inst.removed {
            return false;
        }
        if let Some(g) = &self.group
            && &run.job.groups[inst.group].name != g
        {
            return false;
        }
        if let Some(i) = self.index
            && inst.index != i
        {
            return false;
        }
        match (&self.task, task) {
            (Some(want), Some(t)) => &t.spec.name == want,
            _ => true,
        }
    }

    /// Whether an event belongs to a selected task.
    pub(super) fn matches_line(&self, l: &EventLine) -> bool {
        l.job == self.job
            && self.group.as_ref().is_none_or(|g| &l.group == g)
            && self.index.is_none_or(|i| l.index == i)
            && self.task.as_ref().is_none_or(|t| &l.task == t)
    }
}

impl Supervisor {
    /// Sends `sig` to every task that runs (a host task's process group,
    /// a container's first process), and says so once.
    pub(super) fn forward_signal(&mut self, sig: i32) {
        let Ok(signal) = nix::sys::signal::Signal::try_from(sig) else { return };
        let keys: Vec<TaskKey> =
            self.jobs.task_keys().into_iter().filter(|k| self.jobs.task(*k).is_some_and(|t| t.pid.is_some())).collect();
        let mut sent = 0;
        for key in keys {
            match self.signal_task(key, signal) {
                Ok(()) => sent += 1,
                Err(e) => log::warn!("{}: cannot forward {}: {e}", self.label(key), crate::signals::name(sig)),
            }
        }
        log::info!(
            "{}: forwarded to {sent} running task{}",
            crate::signals::name(sig),
            if sent == 1 { "" } else { "s" }
        );
    }
}

/// Two streams' lines, each in the order written, merged in the order supd
/// read them (stdout first at the same time). A line without a time takes
/// the one before it in its stream, so that neither stream is reordered,
/// whatever the clock did.
fn merge_by_time(
    out: Vec<(Option<u64>, Vec<u8>)>,
    err: Vec<(Option<u64>, Vec<u8>)>,
) -> Vec<(Option<u64>, Stream, Vec<u8>)> {
    fn carried(lines: Vec<(Option<u64>, Vec<u8>)>) -> Vec<(u64, Option<u64>, Vec<u8>)> {
        let mut last = 0;
        lines
            .into_iter()
            .map(|(t, l)| {
                // Never earlier than the line before: a clock set back does
                // not reorder a stream.
                last = t.map_or(last, |t| t.max(last));
                (last, t, l)
            })
            .collect()
    }
    let (out, err) = (carried(out), carried(err));
    let mut merged = Vec::with_capacity(out.len() + err.len());
    let (mut o, mut e) = (out.into_iter().peekable(), err.into_iter().peekable());
    loop {
        let take_out = match (o.peek(), e.peek()) {
            (Some(a), Some(b)) => a.0 <= b.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_out { o.next().map(|x| (x, Stream::Stdout)) } else { e.next().map(|x| (x, Stream::Stderr)) };
        if let Some(((_, t, l), s)) = next {
            merged.push((t, s, l));
        }
    }
    merged
}

#[cfg(test)]
mod tests;
