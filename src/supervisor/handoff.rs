//! Rescheduling: a failed instance goes to a peer host (DESIGN §3, issue
//! "Reschedule"). Once an instance has failed and nothing of it runs, the
//! reschedule policy decides whether and after what delay; then the hook
//! (ssh to each peer in turn, or the configured command) runs as a child of
//! the loop, its end arriving like any child's. The receiving side runs
//! what a peer hands over, if this host's operator allows it.
//!
//! Here: the policy's decision and the instance's hand-off state (waiting,
//! blocked, taken back, recalled); the offer to each peer in turn is in
//! `offer`, what a hook's end answers in `answers`, the receiving side in
//! `receive`.

mod answers;
mod offer;
mod receive;

use super::task::{Instance, JobRun, Resched, State};
use super::{Supervisor, Timer};
use crate::handoff::{self, Envelope, HistoryEntry};
use crate::jobspec::duration::GoDuration;
use crate::policy::reschedule::{self, Decision};
use crate::policy::restart::{RestartTracker, restarts_on_success};
use crate::process;
use crate::supervisor::task::EventKind;
use nix::sys::signal::Signal;
pub(super) use offer::{hook_output, spawn_with};
use std::time::{Duration, Instant, SystemTime};

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
        let quiet = match run.job.groups[i.group].reschedule {
            _ if run.launch.is_some() => Some("periodic launches and dispatched runs are not handed off".to_string()),
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
                self.instance_event(serial, inst, EventKind::Rescheduling, message);
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

    /// The instance stays failed here, for this reason.
    fn stays_failed(&mut self, serial: u64, inst: usize, reason: String) {
        self.instance_event(serial, inst, EventKind::NotRescheduling, reason.clone());
        if let Some(i) = self.instance_mut(serial, inst) {
            i.resched = Resched::Stay { reason, quiet: false };
        }
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
        self.instance_event(serial, inst, EventKind::HandOffBlocked, reason);
        self.wait_to_hand_off(serial, inst, next, true);
        self.state_changed();
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
        i.history = history.into();
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
        if matches!(i.resched, Resched::Waiting { .. } | Resched::Trying(_) | Resched::HandedOff(_)) {
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
            Resched::HandedOff(h) if !h.id.is_empty() => (h.peer.clone(), h.id.clone()),
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
        self.instance_event(serial, inst, EventKind::Recalling, format!("Stopping its copy on {peer}"));
        self.recall(&peer, &id, &label, true);
    }

    /// `supctl job run` of an unchanged job: what was handed off runs here
    /// again. Returns how many instances.
    pub(super) fn take_back_handed_off(&mut self, serial: u64) -> usize {
        let handed: Vec<usize> = self.jobs.runs.get(&serial).map_or(Vec::new(), |r| {
            r.instances
                .iter()
                .enumerate()
                .filter(|(_, i)| matches!(i.resched, Resched::HandedOff(_)))
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
        self.instance_event(serial, inst, EventKind::RestartSignaled, "User requested it to run here again".into());
        self.reset_instance(serial, inst, Vec::new(), None);
    }

    /// An event on every task of an instance.
    pub(super) fn instance_event(&mut self, serial: u64, inst: usize, kind: super::task::EventKind, message: String) {
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
        file: run.origin().to_string(),
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
        Resched::HandedOff(h) => {
            (Some((h.peer.clone(), crate::timefmt::rfc3339(h.at))), Some(h.id.clone()).filter(|id| !id.is_empty()))
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
        i.history.to_vec(),
        i.received_from.clone(),
    );
    (saved.handed_off_to, saved.handed_off_at) = handed.unzip();
    saved.handoff_id = handoff_id;
    Some(saved)
}

/// Applies saved hand-off state to a new instance: a handed-off one does
/// not run here.
pub(super) fn restore_instance(i: &mut Instance, s: crate::state::InstanceSaved) {
    i.history = s.history.into();
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
            t.push_event(EventKind::HandedOff, format!("To {peer}, before supd restarted"));
        }
        i.resched = Resched::HandedOff(Box::new(super::task::HandedOff {
            peer,
            at,
            id,
            remote: super::task::Remote::default(),
        }));
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
        .find(|e| matches!(e.kind, EventKind::NotRestarting | EventKind::DriverFailure | EventKind::Terminated))
        .map_or(String::new(), |e| format!(": {}", e.message));
    format!("task {:?} failed{last}", t.spec.name)
}
