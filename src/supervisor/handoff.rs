//! Rescheduling: a failed instance goes to a peer host (DESIGN §3, issue
//! "Reschedule"). Once an instance has failed and nothing of it runs, the
//! reschedule policy decides whether and after what delay; then the hook
//! (ssh to each peer in turn, or the configured command) runs as a child of
//! the loop, its end arriving like any child's. The receiving side runs
//! what a peer hands over, if this host's operator allows it.

use super::errors::{HandoffError, HookError};
use super::run::Source;
use super::task::{Attempt, Instance, JobRun, Resched, State};
use super::{Owner, Supervisor, Timer};
use crate::handoff::{self, Envelope, HistoryEntry};
use crate::jobspec::duration::GoDuration;
use crate::policy::reschedule::{self, Decision};
use crate::policy::restart::{RestartTracker, restarts_on_success};
use crate::process::{self, Exit};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::{Read, Seek, Write};
use std::time::{Duration, Instant, SystemTime};

/// At most this much of a hook's output is kept for its reason.
const MAX_HOOK_OUTPUT: u64 = 16 * 1024;

impl Supervisor {
    /// Called whenever an instance may have changed: a failed instance with
    /// nothing left running goes to the reschedule policy, once.
    pub(super) fn settle(&mut self, serial: u64, inst: usize) {
        if self.stopping() {
            return;
        }
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        if run.stopped || self.jobs.current.get(&run.job.id) != Some(&serial) {
            return;
        }
        let Some(i) = run.instances.get(inst) else { return };
        if i.removed
            || !matches!(i.resched, Resched::Idle)
            || i.is_live()
            || i.status() != super::task::InstanceStatus::Failed
        {
            return;
        }
        let launched =
            super::periodic::launched_from(&run.job.id).is_some() || super::dispatch::parent_of(&run.job.id).is_some();
        let quiet = match run.job.groups[i.group].reschedule {
            _ if launched => Some("periodic launches and dispatched runs are not handed off".to_string()),
            _ if i.received_from.is_some() => Some(format!(
                "handed to this node by {}, which decides where it goes next",
                i.received_from.as_deref().unwrap_or_default()
            )),
            None => Some(format!("{} jobs are not rescheduled", run.job.job_type)),
            Some(_) if self.cfg.handoff.command.is_none() && self.cfg.handoff.peers.is_empty() => {
                Some("no peers to hand it to ([[peer]] or [handoff] command in supd.toml)".to_string())
            }
            Some(_) => None,
        };
        if let Some(reason) = quiet {
            if let Some(i) = self.instance_mut(serial, inst) {
                i.resched = Resched::Stay { reason, quiet: true };
            }
            return;
        }
        let ran_for = i.placed_at.map_or(Duration::ZERO, |at| at.elapsed());
        self.plan_handoff(serial, inst, ran_for);
    }

    /// Asks the policy about the next hand-off of a failed instance and
    /// schedules it, or leaves the instance failed with the reason.
    pub(super) fn plan_handoff(&mut self, serial: u64, inst: usize, ran_for: Duration) {
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let Some(i) = run.instances.get(inst) else { return };
        let Some(policy) = run.job.groups[i.group].reschedule else { return };
        let history: Vec<reschedule::Event> = i.history.iter().filter_map(|h| h.to_policy().ok()).collect();
        let now = SystemTime::now();
        let decision = reschedule::decide(&policy, &history, now, ran_for);
        let label = i.name.clone();
        match decision {
            Decision::Stay { reason } => {
                log::warn!("{label}: not handing it off: {reason}");
                self.stays_failed(serial, inst, reason);
            }
            Decision::Reschedule { delay } => {
                let of = if policy.unlimited { String::new() } else { format!(" of {}", policy.attempts) };
                let n = reschedule::counted(&policy, &history, now) + 1;
                let message = format!("Handing it to a peer in {} (attempt {n}{of})", GoDuration(delay));
                log::info!("{label}: {message}");
                self.instance_event(serial, inst, "Rescheduling", message);
                self.wait_to_hand_off(serial, inst, delay, false);
            }
        }
        self.state_changed();
    }

    /// The next hand-off of the instance, after `delay`.
    fn wait_to_hand_off(&mut self, serial: u64, inst: usize, delay: Duration, blocked: bool) {
        let Some(i) = self.instance_mut(serial, inst) else { return };
        i.resched = Resched::Waiting { at: SystemTime::now() + delay, delay, blocked };
        i.resched_gen += 1;
        let generation = i.resched_gen;
        self.io.timers.arm(Instant::now() + delay, Timer::Handoff { run: serial, inst, generation });
    }

    /// The delay is over: try the peers, one after the other.
    pub(super) fn start_handoff(&mut self, serial: u64, inst: usize, generation: u64) {
        if self.stopping() {
            return;
        }
        let me = self.cfg.node.name.clone();
        let nonce = self.io.rng.alloc_id()[..8].to_string();
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        if run.stopped || self.jobs.current.get(&run.job.id) != Some(&serial) {
            return;
        }
        let Some(i) = run.instances.get(inst) else { return };
        let Resched::Waiting { delay, .. } = i.resched else { return };
        if i.resched_gen != generation || i.removed {
            return;
        }
        let n = handoff::made(&i.history) + 1;
        let id = handoff::wire::handoff_id(&run.job.id, &run.job.groups[i.group].name, i.index, n, &nonce);
        // A peer may still run it (a copy recalled, not yet confirmed): it
        // goes nowhere else until that peer confirms, or is lost.
        let label = i.name.clone();
        if let Some(peer) = self.recall_pending(&label) {
            log::info!("{label}: waiting for {peer} to confirm it stopped its copy before handing it off");
            self.io
                .timers
                .arm(Instant::now() + Duration::from_secs(1), Timer::Handoff { run: serial, inst, generation });
            return;
        }
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let Some(i) = run.instances.get(inst) else { return };
        let order: Vec<Option<usize>> = if self.cfg.handoff.command.is_some() && self.cfg.handoff.peers.is_empty() {
            vec![None]
        } else {
            handoff::order_peers(&self.cfg.handoff.peers, &i.history, &me).into_iter().map(Some).collect()
        };
        if order.is_empty() {
            self.stays_failed(serial, inst, format!("no peer other than this node ({me}) is configured"));
            self.state_changed();
            return;
        }
        if let Some(i) = self.instance_mut(serial, inst) {
            i.resched = Resched::Trying(Box::new(Attempt {
                delay,
                order,
                pos: 0,
                pid: None,
                output: None,
                timed_out: false,
                refusals: Vec::new(),
                id,
                unsure: None,
            }));
        }
        self.try_peer(serial, inst);
    }

    /// Runs the hook for the next peer of the attempt; when none is left,
    /// the attempt failed.
    fn try_peer(&mut self, serial: u64, inst: usize) {
        loop {
            let Some(run) = self.jobs.runs.get(&serial) else { return };
            let Some(i) = run.instances.get(inst) else { return };
            let Resched::Trying(a) = &i.resched else { return };
            let Some(&target) = a.order.get(a.pos) else {
                self.nobody_took_it(serial, inst);
                return;
            };
            let peer = target.and_then(|p| self.cfg.handoff.peers.get(p)).cloned();
            let to = self.target_name(peer.as_ref());
            let history = handoff::carry(
                run.job.groups[i.group].reschedule.as_ref(),
                &i.history,
                HistoryEntry::new(SystemTime::now(), &self.cfg.node.name, Some(&to), a.delay, &failure_reason(i)),
            );
            let envelope = envelope_of(run, i, &run.job.id, a.id.clone(), self.cfg.node.name.clone(), history);
            let label = i.name.clone();
            let saved = match peer.as_ref().filter(|_| self.cfg.handoff.command.is_none()) {
                Some(p) => self.offering(&p.name, &envelope.id, &label),
                None => true,
            };
            let result = if saved { self.spawn_hook(&envelope, peer.as_ref(), false) } else { Err(HookError::Unsaved) };
            match result {
                Ok((pid, output)) => {
                    let what = match &peer {
                        Some(p) => format!("Handing it to peer {} ({})", p.name, p.host),
                        None => {
                            format!("Handing it to `{}`", self.cfg.handoff.command.as_deref().unwrap_or(&[]).join(" "))
                        }
                    };
                    log::info!("{label}: {what} (pid {pid})");
                    self.instance_event(serial, inst, "Handing Off", what);
                    self.hook_started(serial, inst, pid, output);
                    return;
                }
                Err(e) => {
                    log::warn!("{label}: cannot hand it to {to}: {e}");
                    self.refused(serial, inst, &to, &e.to_string());
                }
            }
        }
    }

    /// The attempt's hook runs: owned, timed, its output kept.
    fn hook_started(&mut self, serial: u64, inst: usize, pid: Pid, output: std::fs::File) {
        self.children.own(pid, Owner::Handoff { run: serial, inst });
        let timeout = self.cfg.handoff.timeout;
        self.io.timers.arm(Instant::now() + timeout, Timer::HandoffTimeout { run: serial, inst, pid });
        if let Some(Resched::Trying(a)) = self.instance_mut(serial, inst).map(|i| &mut i.resched) {
            a.pid = Some(pid);
            a.output = Some(output);
            a.timed_out = false;
        }
    }

    /// A peer's name for the history, or the command's program.
    fn target_name(&self, peer: Option<&crate::config::Peer>) -> String {
        match peer {
            Some(p) => p.name.clone(),
            None => {
                let program = self.cfg.handoff.command.as_ref().and_then(|c| c.first()).map_or("command", |s| s);
                std::path::Path::new(program).file_name().map_or(program.to_string(), |f| f.to_string_lossy().into())
            }
        }
    }

    /// Starts the hook with the envelope (or the reduced HCL) on its stdin
    /// and its output in a memory file; over ssh, the offer of the
    /// envelope, or (`asking`) the question what became of it.
    fn spawn_hook(
        &self,
        envelope: &Envelope,
        peer: Option<&crate::config::Peer>,
        asking: bool,
    ) -> Result<(Pid, std::fs::File), HookError> {
        let h = &self.cfg.handoff;
        let (argv, input) = match &h.command {
            Some(command) => {
                let input = if h.hcl_stdin {
                    handoff::reduce_to_group(&envelope.source, &envelope.group).map_err(HookError::Reduce)?.into_bytes()
                } else {
                    envelope.encode().map_err(HookError::Envelope)?
                };
                (command.clone(), input)
            }
            None => {
                let peer = peer.ok_or(HookError::NoPeer)?;
                let protocol = handoff::wire::PROTOCOL;
                let request = if asking {
                    handoff::wire::Request::Status { protocol, ids: vec![envelope.id.clone()], settle: true }
                } else {
                    handoff::wire::Request::Offer { protocol, envelope: Box::new(envelope.clone()) }
                };
                let input = request.encode().map_err(HookError::Request)?;
                (handoff::ssh_argv(peer, h.connect_timeout, h.insecure_host_keys), input)
            }
        };
        spawn_with(&argv, &input, handoff::hook_env(envelope, peer))
    }

    /// A hook ended: accepted, or on to the next peer.
    pub(super) fn on_hook_exit(&mut self, serial: u64, inst: usize, pid: Pid, exit: Exit) {
        let Some(end) = self.hook_ended(serial, inst, pid, exit) else { return };
        if end.by_command {
            // A command: its exit status is its answer.
            self.on_command_answer(serial, inst, end);
        } else {
            self.on_peer_answer(serial, inst, end);
        }
    }

    /// Takes the end of a hook out of its attempt: what its answer is read
    /// with, or `None` when there is nothing more to do (an attempt that
    /// was called off, or supd stops).
    fn hook_ended(&mut self, serial: u64, inst: usize, pid: Pid, exit: Exit) -> Option<HookEnd> {
        let peers = self.cfg.handoff.peers.clone();
        let timeout = self.cfg.handoff.timeout;
        let shutting_down = self.stopping();
        let i = self.instance_mut(serial, inst)?;
        let Resched::Trying(a) = &mut i.resched else { return None };
        if a.pid != Some(pid) {
            return None; // an attempt that was called off
        }
        let output = hook_output(a.output.take());
        a.pid = None;
        if shutting_down {
            // Killed because supd stops: the next supd takes it up again
            // from the saved history.
            i.resched = Resched::Idle;
            return None;
        }
        let target = a.order.get(a.pos).copied().flatten();
        let (timed_out, unsure) = (a.timed_out, a.unsure);
        let asking = unsure.is_some();
        let peer = target.and_then(|p| peers.get(p));
        let to = self.target_name(peer);
        let label = self.instance_label(serial, inst);
        let by_command = peer.is_none() || self.cfg.handoff.command.is_some();
        Some(HookEnd { exit, timeout, output, target, timed_out, unsure, asking, to, label, by_command })
    }

    /// The end of a hand-off command (or of a hook with no peer to ask):
    /// its exit status is its answer.
    fn on_command_answer(&mut self, serial: u64, inst: usize, end: HookEnd) {
        let HookEnd { exit, timeout, output, timed_out, to, label, .. } = end;
        let how = || hook_end(exit, timed_out, timeout);
        if exit.success() && !timed_out {
            let said = handoff::reason(&output);
            self.handed_off(serial, inst, &to, String::new(), None, &said);
            return;
        }
        let said = handoff::reason(&output);
        let reason = if said.is_empty() || timed_out { how() } else { format!("{said} ({})", how()) };
        log::warn!("{label}: {to} did not take it: {reason}");
        self.refused(serial, inst, &to, &reason);
        self.try_peer(serial, inst);
    }

    /// The end of the ssh hook to a peer: what supd there answered (taken,
    /// refused, unreachable), or what is unsure about the request.
    fn on_peer_answer(&mut self, serial: u64, inst: usize, end: HookEnd) {
        let HookEnd { exit, timeout, output, target, timed_out, unsure, asking, to, label, .. } = end;
        let how = || hook_end(exit, timed_out, timeout);
        let heard = handoff::wire::hear(&output);
        let id = self.attempt_id(serial, inst);
        let outcome = heard.answer.as_ref().and_then(|a| a.outcome(&id)).cloned();
        let error = heard.answer.as_ref().and_then(|a| a.error.clone());
        if let Some(why) = heard.answer.as_ref().and_then(|a| a.unreachable.clone()) {
            // supd there did not get this request: an offer was not made; a
            // question was not answered.
            if asking {
                self.unsure(serial, inst, &to, target, &why);
            } else {
                log::warn!("{label}: {to} did not take it: {why}");
                self.refused(serial, inst, &to, &why);
                self.try_peer(serial, inst);
            }
            return;
        }
        match (outcome, error) {
            (Some(o), _) if o.state.taken() || (asking && o.state == handoff::wire::State::Failed) => {
                self.handed_off(serial, inst, &to, id, Some(o.state), &o.message);
            }
            (Some(o), _) => {
                let reason = match (asking, o.message.is_empty()) {
                    (true, _) => format!(
                        "it never took it (asked after {}: {}; withdrawn there)",
                        unsure.and_then(|u| u.elapsed().ok()).map_or("a while".into(), |d| GoDuration(d).to_string()),
                        o.state.as_str()
                    ),
                    (false, true) => o.state.as_str().to_string(),
                    (false, false) => o.message,
                };
                log::warn!("{label}: {to} did not take it: {reason}");
                self.refused(serial, inst, &to, &reason);
                self.try_peer(serial, inst);
            }
            (None, Some(error)) if asking => self.unsure(serial, inst, &to, target, &error),
            (None, Some(error)) => {
                log::warn!("{label}: {to} did not take it: {error}");
                self.refused(serial, inst, &to, &error);
                self.try_peer(serial, inst);
            }
            // Cut off by the timeout, the hello may have been on its way:
            // the request may have arrived.
            (None, None) if heard.hello || asking || timed_out => {
                // The request may have reached the peer's supd: what became
                // of it is asked before any other peer is tried.
                let said = handoff::reason(&output);
                let why = if said.is_empty() { how() } else { format!("{said} ({})", how()) };
                self.unsure(serial, inst, &to, target, &why);
            }
            (None, None) => {
                // Nothing reached a supd there (ssh could not connect or log
                // in): a refusal.
                let said = handoff::reason(&output);
                let reason = if said.is_empty() { how() } else { format!("{said} ({})", how()) };
                log::warn!("{label}: {to} did not take it: {reason}");
                self.refused(serial, inst, &to, &reason);
                self.try_peer(serial, inst);
            }
        }
    }

    fn attempt_id(&self, serial: u64, inst: usize) -> String {
        let i = self.jobs.runs.get(&serial).and_then(|r| r.instances.get(inst));
        match i.map(|i| &i.resched) {
            Some(Resched::Trying(a)) => a.id.clone(),
            _ => String::new(),
        }
    }

    /// A peer took the instance: it is handed off, and the history says so.
    fn handed_off(
        &mut self,
        serial: u64,
        inst: usize,
        to: &str,
        id: String,
        state: Option<handoff::wire::State>,
        said: &str,
    ) {
        let me = self.cfg.node.name.clone();
        let policy = self.group_policy(serial, inst);
        let label = self.instance_label(serial, inst);
        self.offered_settled(to, &id);
        let Some(i) = self.instance_mut(serial, inst) else { return };
        let Resched::Trying(a) = &i.resched else { return };
        let delay = a.delay;
        let reason = failure_reason(i);
        let entry = HistoryEntry::new(SystemTime::now(), &me, Some(to), delay, &reason);
        i.history = handoff::carry(policy.as_ref(), &i.history, entry);
        let remote = super::task::Remote {
            state,
            message: said.to_string(),
            checked: state.map(|_| SystemTime::now()),
            unreachable: None,
        };
        i.resched = Resched::HandedOff { peer: to.to_string(), at: SystemTime::now(), id, remote };
        let message = if said.is_empty() { format!("To {to}") } else { format!("To {to}: {said}") };
        log::info!("{label}: handed off to {to}");
        self.instance_event(serial, inst, "Handed Off", message);
        self.state_changed();
        self.poll_soon();
    }

    /// The peer may have taken the instance but did not say: ask it (again,
    /// after a while), and try no other peer meanwhile — unless it stays
    /// silent past `[handoff] lost_after`: then the next peer is tried, and
    /// the silent one is told to stop its copy once it answers again.
    fn unsure(&mut self, serial: u64, inst: usize, to: &str, target: Option<usize>, why: &str) {
        let lost_after = self.cfg.handoff.lost_after;
        let label = self.instance_label(serial, inst);
        let Some(i) = self.instance_mut(serial, inst) else { return };
        let Resched::Trying(a) = &mut i.resched else { return };
        let first = a.unsure.is_none();
        let since = *a.unsure.get_or_insert_with(SystemTime::now);
        let id = a.id.clone();
        let silent = since.elapsed().unwrap_or_default();
        if silent >= lost_after {
            let reason = format!(
                "no answer for {} ({why}); a copy it may have started is stopped once it answers",
                GoDuration(silent)
            );
            log::warn!("{label}: {to}: {reason}");
            if let Some(name) = target.and_then(|p| self.cfg.handoff.peers.get(p)).map(|p| p.name.clone()) {
                self.recall(&name, &id, &label, false);
            }
            if let Some(Resched::Trying(a)) = self.instance_mut(serial, inst).map(|i| &mut i.resched) {
                a.unsure = None;
            }
            self.refused(serial, inst, to, &reason);
            self.try_peer(serial, inst);
            return;
        }
        let generation = i.resched_gen;
        if first {
            log::warn!("{label}: {to} heard the offer but did not answer ({why}): asking it what became of it");
            self.instance_event(
                serial,
                inst,
                "Hand-off Unknown",
                format!("{to} did not answer ({why}): asking it before any other peer is tried"),
            );
            self.ask_peer(serial, inst, generation);
        } else {
            // Asked and still no answer: again after a while.
            let again = self.cfg.handoff.timeout.min(Duration::from_secs(10));
            self.io.timers.arm(Instant::now() + again, Timer::HandoffAsk { run: serial, inst, generation });
        }
        self.state_changed();
    }

    /// Asks the current peer of the attempt what became of the offer.
    pub(super) fn ask_peer(&mut self, serial: u64, inst: usize, generation: u64) {
        if self.stopping() {
            return;
        }
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let Some(i) = run.instances.get(inst) else { return };
        let Resched::Trying(a) = &i.resched else { return };
        if i.resched_gen != generation || a.unsure.is_none() || a.pid.is_some() {
            return;
        }
        let Some(peer) = a.order.get(a.pos).copied().flatten().and_then(|p| self.cfg.handoff.peers.get(p)).cloned()
        else {
            return;
        };
        let envelope = envelope_of(run, i, &run.job.id, a.id.clone(), self.cfg.node.name.clone(), i.history.clone());
        match self.spawn_hook(&envelope, Some(&peer), true) {
            Ok((pid, output)) => self.hook_started(serial, inst, pid, output),
            Err(e) => {
                log::warn!("{}: cannot ask {} about it: {e}", i.name, peer.name);
                let again = self.cfg.handoff.timeout.min(Duration::from_secs(10));
                self.io.timers.arm(Instant::now() + again, Timer::HandoffAsk { run: serial, inst, generation });
            }
        }
    }

    /// A peer did not take the instance (its hook could not start, failed
    /// or timed out): noted, and the attempt moves on to the next peer.
    fn refused(&mut self, serial: u64, inst: usize, to: &str, reason: &str) {
        let id = self.attempt_id(serial, inst);
        self.offered_settled(to, &id);
        self.instance_event(serial, inst, "Hand-off Refused", format!("{to}: {reason}"));
        if let Some(Resched::Trying(a)) = self.instance_mut(serial, inst).map(|i| &mut i.resched) {
            a.refusals.push(format!("{to}: {reason}"));
            a.pos += 1;
            a.timed_out = false;
            a.unsure = None;
        }
    }

    /// The instance stays failed here, for this reason.
    fn stays_failed(&mut self, serial: u64, inst: usize, reason: String) {
        self.instance_event(serial, inst, "Not Rescheduling", reason.clone());
        if let Some(i) = self.instance_mut(serial, inst) {
            i.resched = Resched::Stay { reason, quiet: false };
        }
    }

    /// A hook outlived `[handoff] timeout`: it is killed, and counts as a refusal.
    pub(super) fn hook_timed_out(&mut self, serial: u64, inst: usize, pid: Pid) {
        let Some(i) = self.instance_mut(serial, inst) else { return };
        let Resched::Trying(a) = &mut i.resched else { return };
        if a.pid != Some(pid) {
            return;
        }
        a.timed_out = true;
        let _ = process::signal_group(pid, Signal::SIGKILL);
    }

    /// No peer took the instance: no attempt is spent (Nomad's blocked
    /// evaluation waits for capacity); the peers are tried again after the
    /// delay, which grows by the policy's function up to its `max_delay`.
    fn nobody_took_it(&mut self, serial: u64, inst: usize) {
        let policy = self.group_policy(serial, inst);
        let Some(i) = self.instance_mut(serial, inst) else { return };
        let Resched::Trying(a) = std::mem::take(&mut i.resched) else { return };
        let next = match policy {
            Some(p) if p.delay_function != crate::jobspec::model::DelayFunction::Constant => {
                a.delay.saturating_mul(2).min(p.max_delay.max(p.delay)).max(p.delay)
            }
            Some(p) => p.delay,
            None => a.delay,
        };
        let reason = format!(
            "no peer took it ({}); trying again in {}, no reschedule attempt spent",
            a.refusals.join("; "),
            GoDuration(next)
        );
        log::warn!("{}: {reason}", i.name);
        self.instance_event(serial, inst, "Hand-off Blocked", reason);
        self.wait_to_hand_off(serial, inst, next, true);
        self.state_changed();
    }

    /// Kills the hooks in flight (supd is stopping).
    pub(super) fn kill_hooks(&mut self) {
        for pid in self.children.owned_by(|o| matches!(o, Owner::Handoff { .. } | Owner::Remote { .. })) {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
    }

    /// Makes a handed-off (or failed) instance run here again, afresh:
    /// new restart budgets, and the given history. A copy a peer holds (or
    /// may hold) is stopped there.
    pub(super) fn reset_instance(
        &mut self,
        serial: u64,
        inst: usize,
        history: Vec<HistoryEntry>,
        received: Option<(String, String)>,
    ) {
        self.recall_instance(serial, inst);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return };
        let job_type = run.job.job_type;
        let Some(i) = run.instances.get_mut(inst) else { return };
        if i.is_live() {
            return;
        }
        if let Resched::Trying(a) = &i.resched
            && let Some(pid) = a.pid
        {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
        i.resched = Resched::Idle;
        i.resched_gen += 1;
        i.history = history;
        (i.received_from, i.received_id) = match received {
            Some((from, id)) => (Some(from), id),
            None => (None, String::new()),
        };
        i.placed_at = None;
        i.winding_down = false;
        for t in &mut i.tasks {
            t.generation += 1;
            t.state = State::Pending;
            t.failed = false;
            t.launched = false;
            t.exit = None;
            t.stopping = None;
            t.tracker = RestartTracker::new(t.spec.restart, restarts_on_success(job_type, t.spec.lifecycle));
        }
        self.state_changed();
        self.advance(serial, inst);
    }

    /// The instance is stopped or removed here: a copy a peer holds is
    /// recalled, and a hand-off waiting or in flight is called off.
    pub(super) fn call_off(&mut self, serial: u64, inst: usize) {
        self.recall_instance(serial, inst);
        let Some(i) = self.instance_mut(serial, inst) else { return };
        if let Resched::Trying(a) = &i.resched
            && let Some(pid) = a.pid
        {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
        if matches!(i.resched, Resched::Waiting { .. } | Resched::Trying(_) | Resched::HandedOff { .. }) {
            i.resched = Resched::Idle;
            i.resched_gen += 1;
            self.state_changed();
        }
    }

    /// The instance no longer goes (or stays) where it was handed: the
    /// peer that holds it, or may, is told to stop its copy.
    pub(super) fn recall_instance(&mut self, serial: u64, inst: usize) {
        let Some(i) = self.jobs.runs.get(&serial).and_then(|r| r.instances.get(inst)) else { return };
        let label = i.name.clone();
        let (peer, id) = match &i.resched {
            Resched::HandedOff { peer, id, .. } if !id.is_empty() => (peer.clone(), id.clone()),
            // An offer made, or one unanswered: the peer may hold it.
            Resched::Trying(a) if a.unsure.is_some() || a.pid.is_some() => {
                let Some(p) = a.order.get(a.pos).copied().flatten().and_then(|p| self.cfg.handoff.peers.get(p)) else {
                    return;
                };
                if self.cfg.handoff.command.is_some() {
                    return;
                }
                (p.name.clone(), a.id.clone())
            }
            _ => return,
        };
        self.instance_event(serial, inst, "Recalling", format!("Stopping its copy on {peer}"));
        self.recall(&peer, &id, &label, true);
    }

    /// `supctl job run` of an unchanged job: what was handed off runs here
    /// again. Returns how many instances.
    pub(super) fn take_back_handed_off(&mut self, serial: u64) -> usize {
        let handed: Vec<usize> = self.jobs.runs.get(&serial).map_or(Vec::new(), |r| {
            r.instances
                .iter()
                .enumerate()
                .filter(|(_, i)| matches!(i.resched, Resched::HandedOff { .. }))
                .map(|(n, _)| n)
                .collect()
        });
        for &inst in &handed {
            self.take_back(serial, inst);
        }
        handed.len()
    }

    /// An operator asked for an instance handed off (or waiting to be) to
    /// run here again: afresh, with no hand-off history.
    pub(super) fn take_back(&mut self, serial: u64, inst: usize) {
        self.instance_event(serial, inst, "Restart Signaled", "User requested it to run here again".into());
        self.reset_instance(serial, inst, Vec::new(), None);
    }

    /// Runs an instance a peer handed over (or, `restoring`, one this host
    /// had accepted before supd restarted). The envelope's `origin` is the
    /// peer the request came from, checked. Returns what happened, or why
    /// this host refuses.
    pub(super) fn receive(&mut self, envelope: Envelope, restoring: bool) -> Result<String, HandoffError> {
        let (job, gi) = self.admit(&envelope, restoring)?;
        let node = self.cfg.node.name.clone();
        let name = format!("{}.{}[{}]", job.id, envelope.group, envelope.index);
        let key = (job.id.clone(), envelope.group.clone(), envelope.index);
        let mut incoming = crate::state::InstanceSaved::new(
            &job.id,
            &envelope.group,
            envelope.index,
            crate::state::digest(&job.source),
            envelope.history.clone(),
            Some(envelope.origin.clone()),
        );
        incoming.handoff_id = Some(envelope.id.clone());
        let Some(&serial) = self.jobs.current.get(&job.id) else {
            if restoring {
                self.reports.store.unclaimed.instances.entry(key).or_insert(incoming);
            } else {
                self.reports.store.unclaimed.instances.insert(key, incoming);
            }
            let only = vec![(envelope.group.clone(), envelope.index)];
            self.submit(job, Source::HandedIn { name: envelope.file.clone(), only });
            self.received_event(&envelope);
            return Ok(format!("accepted: {name} runs on node {node}"));
        };
        let Some(run) = self.jobs.runs.get(&serial) else { return Err(HandoffError::NoRun) };
        if run.job.source != job.source {
            if !run.received {
                return Err(HandoffError::NotHandedIn { job: job.id, node });
            }
            self.reports.store.unclaimed.instances.insert(key, incoming);
            self.receive_new_version(serial, job, &envelope);
            return Ok(format!("accepted: {name} runs on node {node} (job {:?} updated)", envelope.job));
        }
        self.receive_instance(serial, &job, gi, &envelope, key, incoming)
    }

    /// The checks before anything of a handed-off instance runs: this host
    /// accepts work, the job is valid and has that instance, it may run
    /// here (placement, and what this host lets peers run), fits, and was
    /// not stopped by this host's operator. The job comes back with the ID
    /// it runs under here: `JOB@ORIGIN`, so that two origins never share one.
    fn admit(&self, envelope: &Envelope, restoring: bool) -> Result<(crate::jobspec::Job, usize), HandoffError> {
        let node = self.cfg.node.name.clone();
        if !restoring && !self.cfg.handoff.accept {
            return Err(HandoffError::NotAccepting { node });
        }
        if self.stopping() {
            return Err(HandoffError::ShuttingDown { node });
        }
        let parsed = crate::jobspec::parse_str(&envelope.file, &envelope.source);
        if !parsed.is_valid() {
            let errors = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            return Err(HandoffError::Invalid { errors });
        }
        let Some(mut job) = parsed.jobs.into_iter().find(|j| j.id == envelope.job) else {
            return Err(HandoffError::NoJob { job: envelope.job.clone() });
        };
        if !job.runs_itself() {
            return Err(HandoffError::Launcher { job: envelope.job.clone() });
        }
        job.id = received_job_id(&envelope.job, &envelope.origin);
        if let Some(why) = crate::names::problem(crate::names::Kind::Job, &job.id) {
            return Err(HandoffError::JobName { why });
        }
        for g in &job.groups {
            if let Some(why) = g.tasks.iter().find_map(|t| crate::names::together_problem(&job.id, &g.name, &t.name)) {
                return Err(HandoffError::TaskName { why, job: job.id.clone() });
            }
        }
        let Some(gi) = job.groups.iter().position(|g| g.name == envelope.group) else {
            return Err(HandoffError::NoGroup { job: envelope.job.clone(), group: envelope.group.clone() });
        };
        if envelope.index >= job.groups[gi].count {
            return Err(HandoffError::NoInstance { group: envelope.group.clone(), index: envelope.index });
        }
        if let Some(why) = placement_refusal(&self.cfg.node, &job, gi) {
            return Err(HandoffError::Placement(why));
        }
        if !restoring {
            if let Some(why) = policy_refusal(&self.cfg.handoff, &node, &envelope.origin, &job.groups[gi]) {
                return Err(HandoffError::Policy(why));
            }
            self.fits_here(&job, gi, envelope.index)?;
        }
        if !restoring && self.jobs.stopped.contains(&job.id) {
            return Err(HandoffError::Stopped { job: job.id, node });
        }
        Ok((job, gi))
    }

    /// A newer (or older) version of received work: it replaces what runs,
    /// keeping the other received instances and their histories.
    fn receive_new_version(&mut self, serial: u64, job: crate::jobspec::Job, envelope: &Envelope) {
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let digest = crate::state::digest(&job.source);
        let mut only = Vec::new();
        for i in run.instances.iter().filter(|i| !i.removed) {
            let g = run.job.groups[i.group].name.clone();
            // The new version of each other instance must be one this host
            // runs for the peer too; one that is not stops.
            let allowed = job.groups.iter().position(|x| x.name == g).is_some_and(|gi| {
                placement_refusal(&self.cfg.node, &job, gi).is_none()
                    && policy_refusal(&self.cfg.handoff, &self.cfg.node.name, &envelope.origin, &job.groups[gi])
                        .is_none()
            });
            if !allowed {
                log::warn!("{}: its new version may not run on this node; it stops", i.name);
                continue;
            }
            if (g.as_str(), i.index) != (envelope.group.as_str(), envelope.index) {
                let mut saved = crate::state::InstanceSaved::new(
                    &job.id,
                    &g,
                    i.index,
                    digest,
                    i.history.clone(),
                    i.received_from.clone(),
                );
                saved.handoff_id = Some(i.received_id.clone());
                self.reports.store.unclaimed.instances.insert((job.id.clone(), g.clone(), i.index), saved);
                if job.groups.iter().any(|x| x.name == g && i.index < x.count) {
                    only.push((g, i.index));
                }
            }
        }
        only.push((envelope.group.clone(), envelope.index));
        self.submit(job, Source::HandedIn { name: envelope.file.clone(), only });
        self.received_event(envelope);
    }

    /// An instance of a version this host already runs for a peer: a newer
    /// hand-off of one it runs takes it over, one that ended runs again,
    /// one new here is added.
    fn receive_instance(
        &mut self,
        serial: u64,
        job: &crate::jobspec::Job,
        gi: usize,
        envelope: &Envelope,
        key: (String, String, u32),
        incoming: crate::state::InstanceSaved,
    ) -> Result<String, HandoffError> {
        let node = self.cfg.node.name.clone();
        let name = format!("{}.{}[{}]", job.id, envelope.group, envelope.index);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Err(HandoffError::NoRun) };
        if let Some(ii) = run.instances.iter().position(|i| !i.removed && i.group == gi && i.index == envelope.index) {
            let i = &mut run.instances[ii];
            if i.is_live() {
                i.history = envelope.history.clone();
                i.received_id = envelope.id.clone();
                self.state_changed();
                return Ok(format!("{name} already runs on node {node}; it goes on as hand-off {}", envelope.id));
            }
            let received = Some((envelope.origin.clone(), envelope.id.clone()));
            self.reset_instance(serial, ii, envelope.history.clone(), received);
            self.received_event(envelope);
            return Ok(format!("accepted: {name} runs on node {node} again"));
        }
        if !run.received {
            return Err(HandoffError::LacksInstance { job: job.id.clone(), instance: name });
        }
        // One more instance of work this host already runs for the peer.
        self.reports.store.unclaimed.instances.insert(key, incoming);
        let instance = self.new_instance(job, gi, envelope.index);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Err(HandoffError::NoRun) };
        run.instances.push(instance);
        let ii = run.instances.len() - 1;
        self.take_in(serial, ii);
        self.received_event(envelope);
        self.state_changed();
        self.advance(serial, ii);
        Ok(format!("accepted: {name} runs on node {node}"))
    }

    /// Whether one instance of group `gi` fits beside what runs here (the
    /// job's other live instances included): "Resources exhausted" with the
    /// numbers otherwise, so that the sender tries the next peer.
    fn fits_here(&self, job: &crate::jobspec::Job, gi: usize, index: u32) -> Result<(), HandoffError> {
        let (mut cpu, mut mem) = self.reserved(Some(&job.id));
        if let Some(run) = self.jobs.current.get(&job.id).and_then(|s| self.jobs.runs.get(s))
            && !run.stopped
        {
            for i in run.instances.iter().filter(|i| !i.removed) {
                let same = run.job.groups[i.group].name == job.groups[gi].name && i.index == index;
                if same || i.tasks.iter().all(|t| t.state == State::Dead) {
                    continue;
                }
                for t in &i.tasks {
                    let (c, m) = t.spec.resources.reserved();
                    cpu += c;
                    mem += m;
                }
            }
        }
        let mut one = job.clone();
        one.groups = vec![job.groups[gi].clone()];
        one.groups[0].count = 1;
        crate::node::fit(&self.cfg.node, (cpu, mem), &one).map_err(|e| HandoffError::NoRoom {
            node: self.cfg.node.name.clone(),
            instance: format!("{}.{}[{index}]", job.id, one.groups[0].name),
            why: e.to_string(),
        })
    }

    fn received_event(&mut self, e: &Envelope) {
        let id = received_job_id(&e.job, &e.origin);
        let Some(&serial) = self.jobs.current.get(&id) else { return };
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let Some(inst) = run
            .instances
            .iter()
            .position(|i| !i.removed && run.job.groups[i.group].name == e.group && i.index == e.index)
        else {
            return;
        };
        let why = e.history.last().map_or(String::new(), |h| format!(": {}", h.reason));
        self.instance_event(serial, inst, "Handed In", format!("From node {} (hand-off {}){why}", e.origin, e.attempt));
        self.state_changed();
    }

    /// The envelopes that re-create a received run after a restart.
    pub(super) fn received_envelopes(&self, run: &JobRun) -> Vec<Envelope> {
        run.instances
            .iter()
            .filter(|i| !i.removed)
            .map(|i| {
                let origin = i.received_from.clone().unwrap_or_default();
                let job = run.job.id.strip_suffix(&format!("@{origin}")).unwrap_or(&run.job.id).to_string();
                envelope_of(run, i, &job, i.received_id.clone(), origin, i.history.clone())
            })
            .collect()
    }

    /// An event on every task of an instance.
    pub(super) fn instance_event(&mut self, serial: u64, inst: usize, kind: &'static str, message: String) {
        if let Some(i) = self.instance_mut(serial, inst) {
            for t in &mut i.tasks {
                t.push_event(kind, message.clone());
            }
        }
    }

    fn group_policy(&self, serial: u64, inst: usize) -> Option<crate::jobspec::model::ReschedulePolicy> {
        let run = self.jobs.runs.get(&serial)?;
        run.job.groups[run.instances.get(inst)?.group].reschedule
    }

    fn instance_mut(&mut self, serial: u64, inst: usize) -> Option<&mut Instance> {
        self.jobs.runs.get_mut(&serial)?.instances.get_mut(inst)
    }

    pub(super) fn instance_label(&self, serial: u64, inst: usize) -> String {
        self.jobs.runs.get(&serial).and_then(|r| r.instances.get(inst)).map_or("an instance".into(), |i| i.name.clone())
    }
}

/// Runs a hook (`argv`, no shell) with `input` on its stdin (from a memory
/// file) and its output captured in another, in its own process group.
pub(super) fn spawn_with(
    argv: &[String],
    input: &[u8],
    vars: Vec<(String, String)>,
) -> Result<(Pid, std::fs::File), HookError> {
    let (program, args) = argv.split_first().ok_or(HookError::NoProgram)?;
    let mut stdin = process::memfd("supd-handoff-in").map_err(HookError::Input)?;
    stdin.write_all(input).and_then(|()| stdin.rewind()).map_err(HookError::Input)?;
    let output = process::memfd("supd-handoff-out").map_err(HookError::Output)?;
    let mut env = process::inherited_env();
    env.retain(|(k, _)| !k.starts_with("SUPD_HANDOFF_"));
    env.extend(vars);
    let spec = process::SpawnSpec {
        program: program.clone(),
        args: args.to_vec(),
        env,
        work_dir: None,
        user: None,
        isolation: None,
    };
    use std::os::fd::AsFd;
    let (input, out) = (process::Io::Fd(stdin.as_fd()), process::Io::Fd(output.as_fd()));
    let pid = process::spawn_hook(&spec, input, out, process::Io::Fd(output.as_fd()))?;
    Ok((pid, output))
}

/// A hand-off hook that ended, as its attempt knew it: what its answer is
/// read with (`on_hook_exit`).
struct HookEnd {
    exit: Exit,
    /// The configured hook timeout.
    timeout: Duration,
    /// The last of what the hook wrote.
    output: Vec<u8>,
    /// The peer asked (an index into the configured peers).
    target: Option<usize>,
    timed_out: bool,
    /// Since when the request's fate is unsure (it is being asked about).
    unsure: Option<SystemTime>,
    /// The hook asked about an earlier request instead of offering.
    asking: bool,
    /// The peer's name, as the history and the log say it.
    to: String,
    /// The instance's name.
    label: String,
    /// A command, or no peer: the exit status is the answer.
    by_command: bool,
}

/// How a hook ended, for a message.
fn hook_end(exit: Exit, timed_out: bool, timeout: Duration) -> String {
    match exit {
        _ if timed_out => format!("no answer within {}", GoDuration(timeout)),
        Exit::Code(c) => format!("exit code {c}"),
        Exit::Signal { signal: s, .. } => format!("signal {}", crate::signals::name(s)),
        Exit::Unknown => "an unknown end".to_string(),
    }
}

/// The last `MAX_HOOK_OUTPUT` bytes a hook wrote.
pub(super) fn hook_output(f: Option<std::fs::File>) -> Vec<u8> {
    let mut output = Vec::new();
    if let Some(mut f) = f {
        let len = f.metadata().map_or(0, |m| m.len());
        let _ = f.seek(std::io::SeekFrom::Start(len.saturating_sub(MAX_HOOK_OUTPUT)));
        let _ = f.read_to_end(&mut output);
    }
    output
}

/// The ID a job handed in by `origin` runs under here.
pub(super) fn received_job_id(job: &str, origin: &str) -> String {
    format!("{job}@{origin}")
}

/// The envelope that carries an instance of job `job` (its ID at the
/// origin), hand-off `id`, from `origin`, with `history`.
fn envelope_of(
    run: &JobRun,
    i: &Instance,
    job: &str,
    id: String,
    origin: String,
    history: Vec<HistoryEntry>,
) -> Envelope {
    Envelope {
        version: handoff::VERSION,
        id,
        job: job.to_string(),
        source: run.job.source.clone(),
        file: run.origin.clone(),
        group: run.job.groups[i.group].name.clone(),
        index: i.index,
        origin,
        attempt: handoff::made(&history),
        history,
    }
}

/// What a previous supd knew of an instance's hand-offs, if anything.
pub(super) fn saved_instance(run: &JobRun, i: &Instance, digest: u64) -> Option<crate::state::InstanceSaved> {
    let (handed, handoff_id) = match &i.resched {
        Resched::HandedOff { peer, at, id, .. } => {
            (Some((peer.clone(), crate::timefmt::rfc3339(*at))), Some(id.clone()).filter(|id| !id.is_empty()))
        }
        _ if i.received_from.is_some() => (None, Some(i.received_id.clone())),
        _ => (None, None),
    };
    if i.history.is_empty() && handed.is_none() && i.received_from.is_none() {
        return None;
    }
    let mut saved = crate::state::InstanceSaved::new(
        &run.job.id,
        &run.job.groups[i.group].name,
        i.index,
        digest,
        i.history.clone(),
        i.received_from.clone(),
    );
    (saved.handed_off_to, saved.handed_off_at) = handed.unzip();
    saved.handoff_id = handoff_id;
    Some(saved)
}

/// Applies saved hand-off state to a new instance: a handed-off one does
/// not run here.
pub(super) fn restore_instance(i: &mut Instance, s: crate::state::InstanceSaved) {
    i.history = s.history;
    i.received_from = s.received_from;
    let id = s.handoff_id.unwrap_or_default();
    if i.received_from.is_some() {
        i.received_id.clone_from(&id);
    }
    if let Some(peer) = s.handed_off_to {
        let at = s.handed_off_at.as_deref().and_then(crate::timefmt::parse_rfc3339).unwrap_or_else(SystemTime::now);
        for t in &mut i.tasks {
            t.state = State::Dead;
            t.launched = true;
            t.push_event("Handed Off", format!("To {peer}, before supd restarted"));
        }
        i.resched = Resched::HandedOff { peer, at, id, remote: super::task::Remote::default() };
    }
}

/// Why an instance failed, for the history: its first failed task and
/// that task's last word.
pub(super) fn failure_reason(i: &Instance) -> String {
    let Some(t) = i.tasks.iter().find(|t| t.failed) else { return "the instance failed".into() };
    let last = t
        .events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, "Not Restarting" | "Driver Failure" | "Terminated"))
        .map_or(String::new(), |e| format!(": {}", e.message));
    format!("task {:?} failed{last}", t.spec.name)
}

/// Why this node does not let `origin` run this group here, if it does
/// not: the drivers, users, and `raw_exec` as root its `[handoff]` allows.
fn policy_refusal(
    h: &crate::config::HandoffSettings,
    node: &str,
    origin: &str,
    group: &crate::jobspec::model::Group,
) -> Option<String> {
    for t in &group.tasks {
        let driver = t.driver.as_str();
        if let Some(allowed) = h.drivers.as_ref().filter(|d| !d.iter().any(|x| x == driver)) {
            return Some(format!(
                "node {node} does not run {driver} tasks for peers (task {:?}; [handoff] drivers = {allowed:?})",
                t.name
            ));
        }
        let user = t.user.as_deref().filter(|u| !u.is_empty());
        let root = matches!(user, None | Some("root") | Some("0"));
        if t.driver == crate::jobspec::model::Driver::RawExec && root && !h.raw_exec_as_root {
            return Some(format!(
                "node {node} does not run a peer's raw_exec task as root (task {:?} from {origin} has {}) — give the task a `user`, or set raw_exec_as_root = true under [handoff] on {node}",
                t.name,
                user.map_or("no user".to_string(), |u| format!("user = {u:?}"))
            ));
        }
        if let Some(users) = &h.users {
            let name = user.unwrap_or("root");
            if !users.iter().any(|u| u == name) {
                return Some(format!(
                    "node {node} does not run a peer's tasks as {name:?} (task {:?}; [handoff] users = {users:?})",
                    t.name
                ));
            }
        }
    }
    None
}

/// Why this node cannot run a group of the job: its datacenter, or a
/// constraint of the job, the group or its tasks that does not hold here.
fn placement_refusal(node: &crate::node::Node, job: &crate::jobspec::Job, gi: usize) -> Option<String> {
    if !node.in_datacenters(&job.datacenters) {
        return Some(format!(
            "node {} is in datacenter {:?}; job {:?} runs in {:?}",
            node.name, node.datacenter, job.id, job.datacenters
        ));
    }
    let group = &job.groups[gi];
    let scopes =
        job.constraints.iter().chain(&group.constraints).chain(group.tasks.iter().flat_map(|t| &t.constraints));
    for c in scopes {
        if crate::node::placement_limit(c).is_none() && !node.satisfies(c) {
            let shown = node.resolve(&c.attribute).map_or("unset".to_string(), |v| format!("{v:?}"));
            return Some(format!(
                "node {} does not satisfy the constraint `{}` ({} is {shown})",
                node.name,
                format!("{} {} {}", c.attribute, c.operator.as_str(), c.value).trim(),
                c.attribute
            ));
        }
    }
    None
}
