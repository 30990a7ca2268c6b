//! The origin in charge of what it handed off, and the peer answering it
//! (DESIGN §4, `handoff::wire`).
//!
//! Origin: on a timer (`[handoff] poll_interval`) and soon after each
//! hand-off, supd asks every peer that holds its work what became of it,
//! one ssh request per peer, as a child of the loop; a copy that failed,
//! was stopped or is unknown there — or whose peer stays silent past
//! `lost_after` — goes back to the reschedule policy. Copies a peer must
//! stop (the operator stopped, updated or took back the job here, or it was
//! moved on) are recalls, kept in the state until the peer confirms.
//!
//! Peer: `supctl handoff serve --from ORIGIN` brings one request; offers
//! are run at most once per hand-off ID, and an ID this host answered
//! "unknown" to when asked to settle, or stopped, is withdrawn for good.

use super::task::{Resched, State};
use super::{Owner, Supervisor, Timer};
use crate::handoff::wire::{self, Answer, Outcome, Request};
use crate::jobspec::duration::GoDuration;
use crate::process::{self, Exit};
use crate::state::{Recall, Withdrawn};
use crate::supervisor::task::EventKind;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

/// At most this many withdrawn hand-offs are remembered per origin (its
/// oldest go).
const MAX_WITHDRAWN: usize = 4096;

/// The longest hand-off ID a peer takes.
const MAX_ID: usize = 512;

/// Requests to peers in flight, recalls owed, hand-offs withdrawn here.
#[derive(Default)]
pub(super) struct Remote {
    next: u64,
    asks: HashMap<u64, Ask>,
    pub(super) recalls: Vec<Recall>,
    /// Offers whose outcome is not known yet: saved before the offer is
    /// made, so that a supd killed meanwhile recalls them at its next start.
    pub(super) offers: Vec<Recall>,
    pub(super) withdrawn: VecDeque<Withdrawn>,
    /// The poll timer is armed.
    polling: bool,
    /// When each recall was first owed (this supd's start, for those it
    /// found saved).
    recalled_at: HashMap<(String, String), Instant>,
}

/// One request to a peer, its hook running.
struct Ask {
    peer: String,
    what: AskFor,
    pid: Pid,
    output: Option<std::fs::File>,
    timed_out: bool,
}

enum AskFor {
    /// The status of these hand-offs (run, instance, ID).
    Poll(Vec<(u64, usize, String)>),
    /// Stop the copy of this hand-off.
    Stop(String),
}

impl Remote {
    pub(super) fn in_flight(&self) -> bool {
        !self.asks.is_empty()
    }

    fn withdrawn(&self, from: &str, id: &str) -> bool {
        self.withdrawn.iter().any(|w| w.from == from && w.id == id)
    }

    fn withdraw(&mut self, from: &str, id: &str) {
        if !self.withdrawn(from, id) {
            self.withdrawn.push_back(Withdrawn { from: from.to_string(), id: id.to_string() });
            if self.withdrawn.iter().filter(|w| w.from == from).count() > MAX_WITHDRAWN
                && let Some(oldest) = self.withdrawn.iter().position(|w| w.from == from)
            {
                self.withdrawn.remove(oldest);
            }
        }
    }

    fn asking(&self, peer: &str, poll: bool) -> bool {
        self.asks.values().any(|a| a.peer == peer && matches!(a.what, AskFor::Poll(_)) == poll)
    }
}

impl Supervisor {
    // ---- origin ----

    /// An offer to `peer` of hand-off `id` is about to be made: on disk first.
    /// Returns whether it could be saved.
    pub(super) fn offering(&mut self, peer: &str, id: &str, what: &str) -> bool {
        let r = &mut self.pending.remote;
        if !r.offers.iter().any(|x| x.peer == peer && x.id == id) {
            r.offers.push(Recall { peer: peer.to_string(), id: id.to_string(), what: what.to_string() });
        }
        self.state_changed();
        if self.save() {
            return true;
        }
        self.pending.remote.offers.retain(|x| !(x.peer == peer && x.id == id));
        false
    }

    /// The outcome of the offer to `peer` of hand-off `id` is known (taken,
    /// refused, or a recall now stands for it).
    pub(super) fn offered_settled(&mut self, peer: &str, id: &str) {
        let r = &mut self.pending.remote;
        let before = r.offers.len();
        r.offers.retain(|x| !(x.peer == peer && x.id == id));
        if r.offers.len() != before {
            self.state_changed();
        }
    }

    /// Peer `peer` holds (or may hold) a copy under hand-off `id` that must
    /// stop: remembered until the peer confirms, and asked now. A `blocking`
    /// recall keeps the instance from being handed off again until the peer
    /// confirms (or for `lost_after`); one of a copy known dead there, or
    /// of a peer already taken as lost, does not.
    pub(super) fn recall(&mut self, peer: &str, id: &str, what: &str, blocking: bool) {
        self.offered_settled(peer, id);
        let lost_after = self.cfg.handoff.lost_after;
        let r = &mut self.pending.remote;
        let now = Instant::now();
        let since = if blocking { now } else { now.checked_sub(lost_after).unwrap_or(now) };
        r.recalled_at.entry((peer.to_string(), id.to_string())).or_insert(since);
        if !r.recalls.iter().any(|x| x.peer == peer && x.id == id) {
            log::info!("{what}: stopping its copy on {peer} (hand-off {id})");
            r.recalls.push(Recall { peer: peer.to_string(), id: id.to_string(), what: what.to_string() });
            self.state_changed();
        }
        self.send_recalls(peer);
    }

    /// A saved hand-off that no instance takes up any more (its job changed
    /// or went while supd was down): the peer's copy is recalled.
    pub(super) fn recall_saved(&mut self, s: &crate::state::InstanceSaved, what: &str) {
        if let (Some(peer), Some(id)) = (&s.handed_off_to, &s.handoff_id) {
            self.recall(peer, id, what, true);
        }
    }

    /// A recall of instance `what` that must be confirmed before it is
    /// handed off again (so that no peer still runs it when another starts
    /// it): its peer, unless it has been owed for `lost_after` already.
    pub(super) fn recall_pending(&mut self, what: &str) -> Option<String> {
        let lost_after = self.cfg.handoff.lost_after;
        let r = &mut self.pending.remote;
        let pending = r
            .recalls
            .iter()
            .find(|x| {
                x.what == what
                    && r.recalled_at.entry((x.peer.clone(), x.id.clone())).or_insert_with(Instant::now).elapsed()
                        < lost_after
            })
            .map(|x| x.peer.clone());
        if let Some(peer) = &pending {
            self.send_recalls(peer);
        }
        pending
    }

    /// Sends the first recall owed by `peer`, unless one is in flight.
    fn send_recalls(&mut self, peer: &str) {
        if self.stopping()
            || self.pending.remote.asks.values().any(|a| a.peer == peer && matches!(a.what, AskFor::Stop(_)))
        {
            return;
        }
        let Some(r) = self.pending.remote.recalls.iter().find(|r| r.peer == peer).cloned() else { return };
        let request = Request::Stop { protocol: wire::PROTOCOL, id: r.id.clone() };
        self.ask(peer, &request, AskFor::Stop(r.id));
    }

    /// Polls the peers soon (after a hand-off).
    pub(super) fn poll_soon(&mut self) {
        self.arm_poll(Duration::from_secs(1).min(self.cfg.handoff.poll_interval));
    }

    /// Arms the poll timer, if it is not and there are peers to poll.
    pub(super) fn arm_poll(&mut self, after: Duration) {
        if self.pending.remote.polling || self.cfg.handoff.peers.is_empty() || self.cfg.handoff.command.is_some() {
            return;
        }
        self.pending.remote.polling = true;
        self.io.timers.arm(Instant::now() + after, Timer::HandoffPoll);
    }

    /// The poll timer: each peer that holds work of this host is asked
    /// about it, and each owed recall is sent again.
    pub(super) fn poll_peers(&mut self) {
        self.pending.remote.polling = false;
        if self.stopping() {
            return;
        }
        let mut by_peer: HashMap<String, Vec<(u64, usize, String)>> = HashMap::new();
        for (&serial, run) in &self.jobs.runs {
            if self.jobs.current.get(&run.job.id) != Some(&serial) || run.stopped {
                continue;
            }
            for (inst, i) in run.instances.iter().enumerate().filter(|(_, i)| !i.removed) {
                if let Resched::HandedOff(h) = &i.resched
                    && !h.id.is_empty()
                    && h.remote.state != Some(wire::State::Complete)
                {
                    by_peer.entry(h.peer.clone()).or_default().push((serial, inst, h.id.clone()));
                }
            }
        }
        let mut any = !by_peer.is_empty() || !self.pending.remote.recalls.is_empty();
        for (peer, held) in by_peer {
            if !self.cfg.handoff.peers.iter().any(|p| p.name == peer) {
                // A peer no longer configured is asked nothing: its work
                // goes on elsewhere.
                for (serial, inst, _) in held {
                    let why = format!("{peer} is no longer one of this node's [[peer]] entries");
                    log::warn!("{}: {why}", self.instance_label(serial, inst));
                    self.moved_on(serial, inst, why, Duration::ZERO);
                }
                continue;
            }
            if self.pending.remote.asking(&peer, true) {
                continue;
            }
            for chunk in held.chunks(wire::MAX_IDS) {
                let ids = chunk.iter().map(|(_, _, id)| id.clone()).collect();
                let request = Request::Status { protocol: wire::PROTOCOL, ids, settle: false };
                self.ask(&peer, &request, AskFor::Poll(chunk.to_vec()));
            }
        }
        let owed: Vec<String> = self.pending.remote.recalls.iter().map(|r| r.peer.clone()).collect();
        for peer in owed {
            self.send_recalls(&peer);
        }
        any |= self.pending.remote.in_flight();
        if any {
            self.arm_poll(self.cfg.handoff.poll_interval);
        }
    }

    /// Runs one request to a peer over ssh.
    fn ask(&mut self, peer: &str, request: &Request, what: AskFor) {
        let Some(p) = self.cfg.handoff.peers.iter().find(|p| p.name == peer).cloned() else {
            // A peer no longer configured: nothing can reach it.
            if let AskFor::Stop(id) = what {
                log::warn!(
                    "recall of hand-off {id} from {peer}: {peer} is no longer a [[peer]]; its copy, if any, is left"
                );
                self.pending.remote.recalls.retain(|r| !(r.peer == peer && r.id == id));
                self.state_changed();
            }
            return;
        };
        let input = match request.encode() {
            Ok(i) => i,
            Err(e) => {
                log::warn!("cannot ask {peer}: {e}");
                return;
            }
        };
        let argv = crate::handoff::ssh_argv(&p, self.cfg.handoff.connect_timeout, self.cfg.handoff.insecure_host_keys);
        match super::handoff::spawn_with(&argv, &input, Vec::new()) {
            Ok((pid, output)) => {
                let r = &mut self.pending.remote;
                r.next += 1;
                let n = r.next;
                r.asks.insert(n, Ask { peer: peer.to_string(), what, pid, output: Some(output), timed_out: false });
                self.children.own(pid, Owner::Remote { ask: n });
                let timeout = self.cfg.handoff.timeout;
                self.io.timers.arm(Instant::now() + timeout, Timer::RemoteTimeout { ask: n, pid });
            }
            Err(e) => log::warn!("cannot ask {peer}: {e}"),
        }
    }

    /// A request to a peer outlived `[handoff] timeout`.
    pub(super) fn remote_timed_out(&mut self, ask: u64, pid: Pid) {
        if let Some(a) = self.pending.remote.asks.get_mut(&ask)
            && a.pid == pid
        {
            a.timed_out = true;
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
    }

    /// A request to a peer ended: what it said is applied.
    pub(super) fn on_remote_exit(&mut self, ask: u64, exit: Exit) {
        let Some(mut a) = self.pending.remote.asks.remove(&ask) else { return };
        if self.stopping() {
            return;
        }
        let output = super::handoff::hook_output(a.output.take());
        let heard = wire::hear(&output);
        let silence = || {
            let said = crate::handoff::reason(&output);
            let how = match exit {
                _ if a.timed_out => "no answer in time".to_string(),
                Exit::Code(c) => format!("exit code {c}"),
                Exit::Signal { signal, .. } => format!("signal {}", crate::signals::name(signal)),
                Exit::Unknown => "an unknown end".into(),
            };
            if said.is_empty() { how } else { format!("{said} ({how})") }
        };
        match a.what {
            AskFor::Stop(id) => match heard.answer.as_ref().and_then(|x| x.outcome(&id)) {
                Some(o) => {
                    log::info!("{}: hand-off {id}: {} ({})", a.peer, o.state.as_str(), o.message);
                    self.pending.remote.recalls.retain(|r| !(r.peer == a.peer && r.id == id));
                    self.pending.remote.recalled_at.remove(&(a.peer.clone(), id.clone()));
                    self.state_changed();
                    self.send_recalls(&a.peer.clone());
                }
                None => {
                    let why = heard.answer.and_then(|x| x.error.or(x.unreachable)).unwrap_or_else(silence);
                    log::warn!("{}: cannot stop the copy of hand-off {id} yet: {why}; asking again later", a.peer);
                    self.arm_poll(self.cfg.handoff.poll_interval);
                }
            },
            AskFor::Poll(held) => {
                let why = heard.answer.as_ref().and_then(|x| x.error.clone().or(x.unreachable.clone()));
                let answer = heard.answer.filter(|x| x.error.is_none() && x.unreachable.is_none());
                for (serial, inst, id) in held {
                    let outcome = answer.as_ref().and_then(|x| x.outcome(&id)).cloned();
                    match outcome {
                        Some(o) => self.heard_of(serial, inst, &a.peer, &id, o),
                        None => self.not_heard(serial, inst, &a.peer, &id, &why.clone().unwrap_or_else(silence)),
                    }
                }
            }
        }
    }

    /// What a peer says of an instance this host handed it.
    fn heard_of(&mut self, serial: u64, inst: usize, peer: &str, id: &str, o: Outcome) {
        let Some(i) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) else { return };
        let Resched::HandedOff(h) = &mut i.resched else { return };
        let crate::supervisor::task::HandedOff { peer: p, id: x, remote, at } = &mut **h;
        if p != peer || x != id {
            return;
        }
        let before = remote.state;
        remote.state = Some(o.state);
        remote.message.clone_from(&o.message);
        remote.checked = Some(SystemTime::now());
        remote.unreachable = None;
        let on_peer_for = at.elapsed().unwrap_or_default();
        let label = i.name.clone();
        match o.state {
            wire::State::Pending | wire::State::Running | wire::State::Complete => {
                if before != Some(o.state) {
                    let kind = match o.state {
                        wire::State::Complete => super::task::EventKind::CompleteOnPeer,
                        _ => super::task::EventKind::RunningOnPeer,
                    };
                    self.instance_event(serial, inst, kind, format!("{peer}: {}", o.state.as_str()));
                }
            }
            wire::State::Failed | wire::State::Stopped | wire::State::Unknown | wire::State::Refused => {
                let what = match o.state {
                    wire::State::Failed => format!("failed on {peer}"),
                    wire::State::Stopped => format!("stopped on {peer} by its operator"),
                    _ => format!("lost on {peer} (it holds nothing of it)"),
                };
                let why = if o.message.is_empty() { what } else { format!("{what}: {}", o.message) };
                log::warn!("{label}: {why}");
                if o.state != wire::State::Unknown {
                    self.recall(peer, id, &label, false);
                }
                self.moved_on(serial, inst, why, on_peer_for);
            }
        }
    }

    /// A peer that holds an instance of this host did not answer.
    fn not_heard(&mut self, serial: u64, inst: usize, peer: &str, id: &str, why: &str) {
        let lost_after = self.cfg.handoff.lost_after;
        let Some(i) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) else { return };
        let Resched::HandedOff(h) = &mut i.resched else { return };
        let crate::supervisor::task::HandedOff { peer: p, id: x, remote, at } = &mut **h;
        if p != peer || x != id {
            return;
        }
        let first = remote.unreachable.is_none();
        let since = remote.unreachable.as_ref().map_or_else(SystemTime::now, |(s, _)| *s);
        remote.unreachable = Some((since, why.to_string()));
        let silent = since.elapsed().unwrap_or_default();
        let on_peer_for = at.elapsed().unwrap_or_default();
        let label = i.name.clone();
        if first {
            log::warn!("{label}: {peer}, which holds it, does not answer: {why}");
            self.instance_event(serial, inst, EventKind::PeerUnreachable, format!("{peer}: {why}"));
        }
        if silent >= lost_after {
            let why = format!("lost on {peer}: no answer for {} ({why})", GoDuration(silent));
            log::warn!("{label}: {why}; its copy there is stopped once it answers");
            self.recall(peer, id, &label, false);
            self.moved_on(serial, inst, why, on_peer_for);
        }
    }

    /// The copy a peer held is gone (or given up): the instance goes back to
    /// its reschedule policy, as a failure of its own.
    fn moved_on(&mut self, serial: u64, inst: usize, why: String, ran_for: Duration) {
        self.instance_event(serial, inst, EventKind::LostOnPeer, why.clone());
        let Some(i) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) else { return };
        i.resched = Resched::Idle;
        i.resched_gen += 1;
        for t in &mut i.tasks {
            t.state = State::Dead;
            t.failed = true;
        }
        if let Some(t) = i.tasks.first_mut() {
            t.push_event(EventKind::NotRestarting, why);
        }
        self.state_changed();
        self.plan_handoff(serial, inst, ran_for);
    }

    // ---- peer ----

    /// `supctl handoff serve --from ORIGIN`: one request of a peer.
    pub(super) fn serve(&mut self, from: &str, request: Request) -> Answer {
        let node = self.cfg.node.name.clone();
        let mut answer = Answer {
            protocol: wire::PROTOCOL,
            node: node.clone(),
            outcomes: Vec::new(),
            error: None,
            unreachable: None,
        };
        if from == node {
            answer.error = Some(format!("the request names node {node} itself as its origin — refused"));
            return answer;
        }
        let ids: Vec<&String> = match &request {
            Request::Offer { envelope, .. } => vec![&envelope.id],
            Request::Status { ids, .. } => ids.iter().collect(),
            Request::Stop { id, .. } => vec![id],
        };
        if let Some(bad) = ids.iter().find(|id| id.len() > MAX_ID || id.chars().any(crate::names::is_hidden)) {
            answer.error = Some(format!(
                "a hand-off ID of {} bytes, or with control characters, is not one supd makes — refused",
                bad.len()
            ));
            return answer;
        }
        // Questions about work this host holds for a peer, and stops of it,
        // are answered whatever it now accepts: only new work is refused.
        if matches!(request, Request::Offer { .. }) && !self.cfg.handoff.accepts_from(from) {
            let whom = if self.cfg.handoff.accept_from.is_some() {
                "the peers of its [handoff] accept_from"
            } else {
                "its [[peer]] entries"
            };
            answer.error = Some(format!(
                "node {node} takes hand-offs only from {whom}, and {from:?} is none of them — add it there if it is one"
            ));
            return answer;
        }
        match request {
            Request::Offer { envelope, .. } => {
                let outcome = self.offered(from, *envelope);
                answer.outcomes.push(outcome);
            }
            Request::Status { ids, settle, .. } => {
                for id in ids {
                    let mut o = self.received_state(from, &id);
                    if o.state == wire::State::Unknown && settle {
                        self.pending.remote.withdraw(from, &id);
                        self.state_changed();
                        o.message = "withdrawn: an offer of it is refused from now on".into();
                    }
                    answer.outcomes.push(o);
                }
            }
            Request::Stop { id, .. } => {
                let o = self.stop_received(from, &id);
                answer.outcomes.push(o);
            }
        }
        answer
    }

    /// An offer: run at most once per hand-off ID.
    fn offered(&mut self, from: &str, mut envelope: crate::handoff::Envelope) -> Outcome {
        let id = envelope.id.clone();
        let refused = |message: String| Outcome { id: id.clone(), state: wire::State::Refused, message };
        if envelope.origin != from {
            return refused(format!(
                "the envelope says it comes from {:?}, but this key speaks for {from:?} — refused",
                envelope.origin
            ));
        }
        if id.is_empty() {
            return refused("the envelope has no hand-off ID: update the supd that sent it".into());
        }
        if self.pending.remote.withdrawn(from, &id) {
            return refused(format!(
                "hand-off {id} was withdrawn on node {} (it was asked about before the offer arrived, or stopped)",
                self.cfg.node.name
            ));
        }
        let mine = self.received_state(from, &id);
        if mine.state != wire::State::Unknown {
            return mine;
        }
        envelope.origin = from.to_string();
        let what = format!("{}.{}[{}] from {from}", envelope.job, envelope.group, envelope.index);
        match self.receive(envelope, false) {
            Ok(m) => {
                log::info!("hand-off {id} of {what}: {m}");
                let now = self.received_state(from, &id);
                Outcome { message: m, ..now }
            }
            Err(e) => {
                log::warn!("hand-off {id} of {what} refused: {e}");
                refused(e.to_string())
            }
        }
    }

    /// Where the instance of hand-off `id` from `from` stands here.
    fn received_state(&self, from: &str, id: &str) -> Outcome {
        let unknown = Outcome { id: id.to_string(), state: wire::State::Unknown, message: String::new() };
        let Some((serial, inst)) = self.find_received(from, id) else { return unknown };
        let Some(run) = self.jobs.runs.get(&serial) else { return unknown };
        let Some(i) = run.instances.get(inst) else { return unknown };
        use super::task::InstanceStatus as S;
        let (state, message) = match i.status() {
            _ if run.stopped || self.jobs.stopped.contains(&run.job.id) => {
                (wire::State::Stopped, format!("job {:?} stopped by the operator of this node", run.job.id))
            }
            S::Running => (wire::State::Running, String::new()),
            S::Pending => (wire::State::Pending, String::new()),
            S::Complete => (wire::State::Complete, String::new()),
            S::Failed => (wire::State::Failed, super::handoff::failure_reason(i)),
            S::HandedOff => (wire::State::Unknown, String::new()),
        };
        Outcome { id: id.to_string(), state, message }
    }

    fn find_received(&self, from: &str, id: &str) -> Option<(u64, usize)> {
        self.jobs.current.values().find_map(|&serial| {
            let run = self.jobs.runs.get(&serial).filter(|r| r.received.is_some())?;
            let inst = run
                .instances
                .iter()
                .position(|i| !i.removed && i.received_from.as_deref() == Some(from) && i.received_id == id)?;
            Some((serial, inst))
        })
    }

    /// The origin stops its copy here: it goes, and the ID is withdrawn.
    fn stop_received(&mut self, from: &str, id: &str) -> Outcome {
        self.pending.remote.withdraw(from, id);
        self.state_changed();
        let Some((serial, inst)) = self.find_received(from, id) else {
            return Outcome {
                id: id.to_string(),
                state: wire::State::Unknown,
                message: "nothing of it runs here".into(),
            };
        };
        let Some(run) = self.jobs.runs.get(&serial) else {
            return Outcome { id: id.to_string(), state: wire::State::Unknown, message: String::new() };
        };
        let job = run.job.id.clone();
        let label = run.instances.get(inst).map_or(String::new(), |i| i.name.clone());
        let others = run.instances.iter().enumerate().any(|(n, i)| n != inst && !i.removed);
        log::info!("{label}: {from} recalls it (hand-off {id}): stopping it");
        let why = super::core::Reason { kind: EventKind::Killing, message: format!("Recalled by {from}, its origin") };
        if others {
            if let Some(i) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) {
                i.removed = true;
            }
            self.wind_down(serial, inst, Some(why));
        } else {
            // The job's last instance: the job goes with it.
            if let Some(run) = self.jobs.runs.get_mut(&serial) {
                run.stopped = true;
            }
            self.wind_down(serial, inst, Some(why));
            self.jobs.current.remove(&job);
            // An operator's stop of it here goes with it.
            self.jobs.stopped.remove(&job);
            self.advance(serial, inst);
        }
        self.state_changed();
        Outcome {
            id: id.to_string(),
            state: wire::State::Stopped,
            message: format!("{label} stopped on node {}", self.cfg.node.name),
        }
    }
}
