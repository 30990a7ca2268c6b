//! What a hand-off hook's end answers: taken (handed off), refused (on to
//! the next peer), or unsure (the peer is asked before any other is tried).

use super::failure_reason;
use super::offer::hook_output;
use crate::handoff::{self, HistoryEntry};
use crate::jobspec::duration::GoDuration;
use crate::process::Exit;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::Resched;
use crate::supervisor::{Supervisor, Timer};
use nix::unistd::Pid;
use std::time::{Duration, Instant, SystemTime};

impl Supervisor {
    /// A hook ended: accepted, or on to the next peer.
    pub(in crate::supervisor) fn on_hook_exit(&mut self, serial: u64, inst: usize, pid: Pid, exit: Exit) {
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
        i.history = handoff::carry(policy.as_ref(), &i.history, entry).into();
        let remote = crate::supervisor::task::Remote {
            state,
            message: said.to_string(),
            checked: state.map(|_| SystemTime::now()),
            unreachable: None,
        };
        i.resched = Resched::HandedOff(Box::new(crate::supervisor::task::HandedOff {
            peer: to.to_string(),
            at: SystemTime::now(),
            id,
            remote,
        }));
        let message = if said.is_empty() { format!("To {to}") } else { format!("To {to}: {said}") };
        log::info!("{label}: handed off to {to}");
        self.instance_event(serial, inst, EventKind::HandedOff, message);
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
                EventKind::HandOffUnknown,
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

    /// A peer did not take the instance (its hook could not start, failed
    /// or timed out): noted, and the attempt moves on to the next peer.
    pub(super) fn refused(&mut self, serial: u64, inst: usize, to: &str, reason: &str) {
        let id = self.attempt_id(serial, inst);
        self.offered_settled(to, &id);
        self.instance_event(serial, inst, EventKind::HandOffRefused, format!("{to}: {reason}"));
        if let Some(Resched::Trying(a)) = self.instance_mut(serial, inst).map(|i| &mut i.resched) {
            a.refusals.push(format!("{to}: {reason}"));
            a.pos += 1;
            a.timed_out = false;
            a.unsure = None;
        }
    }
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
