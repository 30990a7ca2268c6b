//! What each control request does: one method per request, called with a
//! request the server (`server`) has read, decoded and allowed; the
//! answer goes back through the server.
//!
//! Here: the dispatch of a request to its method. The methods are in
//! `jobs` (job run, plan, stop, start, inspect, reload, hand-offs),
//! `tasks` (restart, signal), `views` (status, events, logs); what a target
//! names in `targets`.

mod jobs;
pub(super) mod selection;
mod targets;
mod tasks;
mod views;

use super::{Supervisor, Timer};
use crate::control::protocol::{EventLine, Request, Response, VERSION};
use mio::Token;
use selection::EventFilter;
use std::time::Instant;

/// How long after the last large answer (the status of a thousand tasks)
/// the memory it took goes back.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// What the answer to a change says when supd could not save it.
const NOT_SAVED: &str = "warning: supd could not save this change to its state directory (its log says why): \
                         it is lost if supd stops before a later save succeeds";

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
    /// A change is saved before its answer; when that fails, the answer
    /// says so.
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
        let mut response = self.carry_out(token, request);
        if changes && !self.save_acknowledged() && response.ok {
            // Done, but not on disk: said, since a supd that stops before
            // a later save succeeds forgets it.
            response.messages.push(NOT_SAVED.into());
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
}

#[cfg(test)]
use views::merge_by_time;

#[cfg(test)]
mod tests;
