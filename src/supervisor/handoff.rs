//! Rescheduling: a failed instance goes to a peer host (DESIGN §3, issue
//! "Reschedule"). Once an instance has failed and nothing of it runs, the
//! reschedule policy decides whether and after what delay; then the hook
//! (ssh to each peer in turn, or the configured command) runs as a child of
//! the loop, its end arriving like any child's. The receiving side runs
//! what a peer hands over, if this host's operator allows it.

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
        if !matches!(i.resched, Resched::Idle) || i.is_live() || i.status() != super::task::InstanceStatus::Failed {
            return;
        }
        let quiet = match run.job.groups[i.group].reschedule {
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
    fn plan_handoff(&mut self, serial: u64, inst: usize, ran_for: Duration) {
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
                let Some(i) = self.instance_mut(serial, inst) else { return };
                i.resched = Resched::Waiting { at: now + delay, delay };
                i.resched_gen += 1;
                let generation = i.resched_gen;
                self.io.timers.arm(Instant::now() + delay, Timer::Handoff { run: serial, inst, generation });
            }
        }
        self.state_changed();
    }

    /// The delay is over: try the peers, one after the other.
    pub(super) fn start_handoff(&mut self, serial: u64, inst: usize, generation: u64) {
        if self.stopping() {
            return;
        }
        let me = self.cfg.node.name.clone();
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        if run.stopped || self.jobs.current.get(&run.job.id) != Some(&serial) {
            return;
        }
        let Some(i) = run.instances.get(inst) else { return };
        let Resched::Waiting { delay, .. } = i.resched else { return };
        if i.resched_gen != generation {
            return;
        }
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
            let envelope = envelope_of(run, i, self.cfg.node.name.clone(), history);
            let result = self.spawn_hook(&envelope, peer.as_ref());
            let label = i.name.clone();
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
                    self.children.own(pid, Owner::Handoff { run: serial, inst });
                    let timeout = self.cfg.handoff.timeout;
                    self.io.timers.arm(Instant::now() + timeout, Timer::HandoffTimeout { run: serial, inst, pid });
                    if let Some(Resched::Trying(a)) = self.instance_mut(serial, inst).map(|i| &mut i.resched) {
                        a.pid = Some(pid);
                        a.output = Some(output);
                    }
                    return;
                }
                Err(reason) => {
                    log::warn!("{label}: cannot hand it to {to}: {reason}");
                    self.refused(serial, inst, &to, &reason);
                }
            }
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
    /// and its output in a memory file.
    fn spawn_hook(
        &self,
        envelope: &Envelope,
        peer: Option<&crate::config::Peer>,
    ) -> Result<(Pid, std::fs::File), String> {
        let h = &self.cfg.handoff;
        let (argv, input) = match &h.command {
            Some(command) => {
                let input = if h.hcl_stdin {
                    handoff::reduce_to_group(&envelope.source, &envelope.group)
                        .map_err(|e| crate::error_chain(&e))?
                        .into_bytes()
                } else {
                    envelope.encode().map_err(|e| format!("{e} — not sent"))?
                };
                (command.clone(), input)
            }
            None => {
                let peer = peer.ok_or("no peer to ssh to")?;
                let input = envelope.encode().map_err(|e| format!("{e} — not sent"))?;
                (handoff::ssh_argv(peer, h.connect_timeout), input)
            }
        };
        let mut stdin = process::memfd("supd-handoff-in").map_err(|e| format!("cannot hold the envelope: {e}"))?;
        stdin.write_all(&input).and_then(|()| stdin.rewind()).map_err(|e| format!("cannot hold the envelope: {e}"))?;
        let output =
            process::memfd("supd-handoff-out").map_err(|e| format!("cannot capture the hook's output: {e}"))?;
        let mut env = process::inherited_env();
        env.retain(|(k, _)| !k.starts_with("SUPD_HANDOFF_"));
        env.extend(handoff::hook_env(envelope, peer));
        let spec = process::SpawnSpec {
            program: argv[0].clone(),
            args: argv[1..].to_vec(),
            env,
            work_dir: None,
            user: None,
            isolation: None,
        };
        use std::os::fd::AsFd;
        let (input, out) = (process::Io::Fd(stdin.as_fd()), process::Io::Fd(output.as_fd()));
        let pid = process::spawn_hook(&spec, input, out, process::Io::Fd(output.as_fd())).map_err(|e| e.to_string())?;
        Ok((pid, output))
    }

    /// A hook ended: accepted, or on to the next peer.
    pub(super) fn on_hook_exit(&mut self, serial: u64, inst: usize, pid: Pid, exit: Exit) {
        let peers = self.cfg.handoff.peers.clone();
        let timeout = self.cfg.handoff.timeout;
        let me = self.cfg.node.name.clone();
        let shutting_down = self.stopping();
        let Some(i) = self.instance_mut(serial, inst) else { return };
        let Resched::Trying(a) = &mut i.resched else { return };
        if a.pid != Some(pid) {
            return; // an attempt that was called off
        }
        let mut output = Vec::new();
        if let Some(mut f) = a.output.take() {
            let len = f.metadata().map_or(0, |m| m.len());
            let _ = f.seek(std::io::SeekFrom::Start(len.saturating_sub(MAX_HOOK_OUTPUT)));
            let _ = f.read_to_end(&mut output);
        }
        a.pid = None;
        if shutting_down {
            // Killed because supd stops: the next supd takes it up again
            // from the saved history.
            i.resched = Resched::Idle;
            return;
        }
        let target = a.order.get(a.pos).copied().flatten();
        let (delay, timed_out) = (a.delay, a.timed_out);
        let peer = target.and_then(|p| peers.get(p));
        let to = self.target_name(peer);
        let label = self.instance_label(serial, inst);
        if exit.success() && !timed_out {
            let policy = self.group_policy(serial, inst);
            let Some(i) = self.instance_mut(serial, inst) else { return };
            let reason = failure_reason(i);
            let entry = HistoryEntry::new(SystemTime::now(), &me, Some(&to), delay, &reason);
            i.history = handoff::carry(policy.as_ref(), &i.history, entry);
            i.resched = Resched::HandedOff { peer: to.clone(), at: SystemTime::now() };
            let said = handoff::reason(&output);
            let message = if said.is_empty() { format!("To {to}") } else { format!("To {to}: {said}") };
            log::info!("{label}: handed off to {to}");
            self.instance_event(serial, inst, "Handed Off", message);
            self.state_changed();
            return;
        }
        let reason = if timed_out {
            format!("no answer within {}", GoDuration(timeout))
        } else {
            let said = handoff::reason(&output);
            let how = match exit {
                Exit::Code(c) => format!("exit code {c}"),
                Exit::Signal { signal: s, .. } => format!("signal {}", process::signal_name(s)),
                Exit::Unknown => "an unknown end".to_string(),
            };
            if said.is_empty() { how } else { format!("{said} ({how})") }
        };
        log::warn!("{label}: {to} did not take it: {reason}");
        self.refused(serial, inst, &to, &reason);
        self.try_peer(serial, inst);
    }

    /// A peer did not take the instance (its hook could not start, failed
    /// or timed out): noted, and the attempt moves on to the next peer.
    fn refused(&mut self, serial: u64, inst: usize, to: &str, reason: &str) {
        self.instance_event(serial, inst, "Hand-off Refused", format!("{to}: {reason}"));
        if let Some(Resched::Trying(a)) = self.instance_mut(serial, inst).map(|i| &mut i.resched) {
            a.refusals.push(format!("{to}: {reason}"));
            a.pos += 1;
            a.timed_out = false;
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

    /// No peer took the instance: that was one attempt; the policy says
    /// when the next one is.
    fn nobody_took_it(&mut self, serial: u64, inst: usize) {
        let me = self.cfg.node.name.clone();
        let policy = self.group_policy(serial, inst);
        let Some(i) = self.instance_mut(serial, inst) else { return };
        let Resched::Trying(a) = std::mem::take(&mut i.resched) else { return };
        let reason = format!("no peer took it ({})", a.refusals.join("; "));
        let entry = HistoryEntry::new(SystemTime::now(), &me, None, a.delay, &reason);
        i.history = handoff::carry(policy.as_ref(), &i.history, entry);
        self.instance_event(serial, inst, "Hand-off Failed", reason);
        // It has not run since: no reset of the backoff for a long run.
        self.plan_handoff(serial, inst, Duration::ZERO);
    }

    /// Kills the hooks in flight (supd is stopping).
    pub(super) fn kill_hooks(&mut self) {
        for pid in self.children.owned_by(|o| matches!(o, Owner::Handoff { .. })) {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
    }

    /// Makes a handed-off (or failed) instance run here again, afresh:
    /// new restart budgets, and the given history.
    pub(super) fn reset_instance(
        &mut self,
        serial: u64,
        inst: usize,
        history: Vec<HistoryEntry>,
        received_from: Option<String>,
    ) {
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
        i.received_from = received_from;
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
    /// had accepted before supd restarted). Returns what happened, or why
    /// this host refuses.
    pub(super) fn receive(&mut self, envelope: Envelope, restoring: bool) -> Result<String, String> {
        let (job, gi) = self.admit(&envelope, restoring)?;
        let node = self.cfg.node.name.clone();
        let name = format!("{}.{}[{}]", job.id, envelope.group, envelope.index);
        let key = (job.id.clone(), envelope.group.clone(), envelope.index);
        let incoming = crate::state::InstanceSaved::new(
            &job.id,
            &envelope.group,
            envelope.index,
            crate::state::digest(&job.source),
            envelope.history.clone(),
            Some(envelope.origin.clone()),
        );
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
        let Some(run) = self.jobs.runs.get(&serial) else { return Err("internal: job without a run".into()) };
        if run.job.source != job.source {
            if !run.received {
                return Err(format!(
                    "another version of job {:?} runs on node {node} (from {}); not replacing it with a copy handed off by {}",
                    job.id, run.origin, envelope.origin
                ));
            }
            self.reports.store.unclaimed.instances.insert(key, incoming);
            self.receive_new_version(serial, job, &envelope);
            return Ok(format!("accepted: {name} runs on node {node} (job {:?} updated)", envelope.job));
        }
        self.receive_instance(serial, &job, gi, &envelope, key, incoming)
    }

    /// The checks before anything of a handed-off instance runs: this host
    /// accepts work, the job is valid and has that instance, it may run
    /// here, fits, and was not stopped by this host's operator.
    fn admit(&self, envelope: &Envelope, restoring: bool) -> Result<(crate::jobspec::Job, usize), String> {
        let node = self.cfg.node.name.clone();
        if !restoring && !self.cfg.handoff.accept {
            return Err(format!(
                "node {node} does not accept handed-off work (set `accept = true` under [handoff] in its supd.toml)"
            ));
        }
        if self.stopping() {
            return Err(format!("supd on node {node} is shutting down"));
        }
        // Work comes only from the peers this node knows (its [[peer]]
        // entries), never from a name an envelope made up or from itself.
        if !restoring {
            if envelope.origin == node {
                return Err(format!("the envelope names node {node} itself as its origin — refused"));
            }
            if !self.cfg.handoff.peers.iter().any(|p| p.name == envelope.origin) {
                return Err(format!(
                    "node {node} takes hand-offs only from its [[peer]] entries, and {:?} is none of them — add it as a [[peer]] in supd.toml if it is one",
                    envelope.origin
                ));
            }
        }
        let parsed = crate::jobspec::parse_str(&envelope.file, &envelope.source);
        if !parsed.is_valid() {
            let errors: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            return Err(format!("the handed-off job is not valid here: {}", errors.join("; ")));
        }
        let Some(job) = parsed.jobs.into_iter().find(|j| j.id == envelope.job) else {
            return Err(format!("the envelope's HCL defines no job {:?}", envelope.job));
        };
        let Some(gi) = job.groups.iter().position(|g| g.name == envelope.group) else {
            return Err(format!("job {:?} has no group {:?}", job.id, envelope.group));
        };
        if envelope.index >= job.groups[gi].count {
            return Err(format!("group {:?} has no instance {}", envelope.group, envelope.index));
        }
        if let Some(why) = placement_refusal(&self.cfg.node, &job, gi) {
            return Err(why);
        }
        if !restoring {
            self.fits_here(&job, gi, envelope.index)?;
        }
        if !restoring && self.jobs.stopped.contains(&job.id) {
            return Err(format!(
                "job {:?} was stopped on node {node} by its operator (`supctl job run` there runs it again)",
                job.id
            ));
        }
        Ok((job, gi))
    }

    /// A newer (or older) version of received work: it replaces what runs,
    /// keeping the other received instances and their histories.
    fn receive_new_version(&mut self, serial: u64, job: crate::jobspec::Job, envelope: &Envelope) {
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let digest = crate::state::digest(&job.source);
        let mut only = Vec::new();
        for i in &run.instances {
            let g = run.job.groups[i.group].name.clone();
            if (g.as_str(), i.index) != (envelope.group.as_str(), envelope.index) {
                self.reports.store.unclaimed.instances.insert(
                    (job.id.clone(), g.clone(), i.index),
                    crate::state::InstanceSaved::new(
                        &job.id,
                        &g,
                        i.index,
                        digest,
                        i.history.clone(),
                        i.received_from.clone(),
                    ),
                );
                if job.groups.iter().any(|x| x.name == g && i.index < x.count) {
                    only.push((g, i.index));
                }
            }
        }
        only.push((envelope.group.clone(), envelope.index));
        self.submit(job, Source::HandedIn { name: envelope.file.clone(), only });
        self.received_event(envelope);
    }

    /// An instance of a version this host already runs for peers: updated
    /// if it runs, run again if it ended, added if it is new here.
    fn receive_instance(
        &mut self,
        serial: u64,
        job: &crate::jobspec::Job,
        gi: usize,
        envelope: &Envelope,
        key: (String, String, u32),
        incoming: crate::state::InstanceSaved,
    ) -> Result<String, String> {
        let node = self.cfg.node.name.clone();
        let name = format!("{}.{}[{}]", job.id, envelope.group, envelope.index);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Err("internal: job without a run".into()) };
        if let Some(ii) = run.instances.iter().position(|i| i.group == gi && i.index == envelope.index) {
            let i = &mut run.instances[ii];
            if i.is_live() {
                i.history = envelope.history.clone();
                i.received_from = Some(envelope.origin.clone());
                self.state_changed();
                return Ok(format!("{name} already runs on node {node}; its history is updated"));
            }
            self.reset_instance(serial, ii, envelope.history.clone(), Some(envelope.origin.clone()));
            self.received_event(envelope);
            return Ok(format!("accepted: {name} runs on node {node} again"));
        }
        if !run.received {
            return Err(format!("internal: job {:?} lacks instance {name}", job.id));
        }
        // One more instance of work this host already runs for peers.
        self.reports.store.unclaimed.instances.insert(key, incoming);
        let instance = self.new_instance(job, gi, envelope.index);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Err("internal: job without a run".into()) };
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
    fn fits_here(&self, job: &crate::jobspec::Job, gi: usize, index: u32) -> Result<(), String> {
        let (mut cpu, mut mem) = self.reserved(Some(&job.id));
        if let Some(run) = self.jobs.current.get(&job.id).and_then(|s| self.jobs.runs.get(s))
            && !run.stopped
        {
            for i in &run.instances {
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
        crate::node::fit(&self.cfg.node, (cpu, mem), &one).map_err(|e| {
            format!("node {} cannot hold {}.{}[{index}]: {e}", self.cfg.node.name, job.id, one.groups[0].name)
        })
    }

    fn received_event(&mut self, e: &Envelope) {
        let Some(&serial) = self.jobs.current.get(&e.job) else { return };
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let Some(inst) =
            run.instances.iter().position(|i| run.job.groups[i.group].name == e.group && i.index == e.index)
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
            .map(|i| envelope_of(run, i, i.received_from.clone().unwrap_or_default(), i.history.clone()))
            .collect()
    }

    /// An event on every task of an instance.
    fn instance_event(&mut self, serial: u64, inst: usize, kind: &'static str, message: String) {
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

    fn instance_label(&self, serial: u64, inst: usize) -> String {
        self.jobs.runs.get(&serial).and_then(|r| r.instances.get(inst)).map_or("an instance".into(), |i| i.name.clone())
    }
}

/// The envelope that carries an instance, from `origin`, with `history`.
fn envelope_of(run: &JobRun, i: &Instance, origin: String, history: Vec<HistoryEntry>) -> Envelope {
    Envelope {
        version: handoff::VERSION,
        job: run.job.id.clone(),
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
    let handed = match &i.resched {
        Resched::HandedOff { peer, at } => Some((peer.clone(), crate::timefmt::rfc3339(*at))),
        _ => None,
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
    Some(saved)
}

/// Applies saved hand-off state to a new instance: a handed-off one does
/// not run here.
pub(super) fn restore_instance(i: &mut Instance, s: crate::state::InstanceSaved) {
    i.history = s.history;
    i.received_from = s.received_from;
    if let Some(peer) = s.handed_off_to {
        let at = s.handed_off_at.as_deref().and_then(crate::timefmt::parse_rfc3339).unwrap_or_else(SystemTime::now);
        for t in &mut i.tasks {
            t.state = State::Dead;
            t.launched = true;
            t.push_event("Handed Off", format!("To {peer}, before supd restarted"));
        }
        i.resched = Resched::HandedOff { peer, at };
    }
}

/// Why an instance failed, for the history: its first failed task and
/// that task's last word.
fn failure_reason(i: &Instance) -> String {
    let Some(t) = i.tasks.iter().find(|t| t.failed) else { return "the instance failed".into() };
    let last = t
        .events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, "Not Restarting" | "Driver Failure" | "Terminated"))
        .map_or(String::new(), |e| format!(": {}", e.message));
    format!("task {:?} failed{last}", t.spec.name)
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
