//! Offering a failed instance to the peers, one after the other: the
//! attempt, the hook that carries each offer (or asks what became of one),
//! its timeout, and the hooks killed as supd stops.

use super::{envelope_of, failure_reason};
use crate::handoff::{self, Envelope, HistoryEntry};
use crate::process;
use crate::supervisor::errors::HookError;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{Attempt, Resched};
use crate::supervisor::{Owner, Supervisor, Timer};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::{Read, Seek, Write};
use std::time::{Duration, Instant, SystemTime};

/// At most this much of a hook's output is kept for its reason.
const MAX_HOOK_OUTPUT: u64 = 16 * 1024;

impl Supervisor {
    /// The delay is over: try the peers, one after the other.
    pub(in crate::supervisor) fn start_handoff(&mut self, serial: u64, inst: usize, generation: u64) {
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
    pub(super) fn try_peer(&mut self, serial: u64, inst: usize) {
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
                    self.instance_event(serial, inst, EventKind::HandingOff, what);
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
    pub(super) fn target_name(&self, peer: Option<&crate::config::Peer>) -> String {
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

    /// Asks the current peer of the attempt what became of the offer.
    pub(in crate::supervisor) fn ask_peer(&mut self, serial: u64, inst: usize, generation: u64) {
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
        let envelope = envelope_of(run, i, &run.job.id, a.id.clone(), self.cfg.node.name.clone(), i.history.to_vec());
        match self.spawn_hook(&envelope, Some(&peer), true) {
            Ok((pid, output)) => self.hook_started(serial, inst, pid, output),
            Err(e) => {
                log::warn!("{}: cannot ask {} about it: {e}", i.name, peer.name);
                let again = self.cfg.handoff.timeout.min(Duration::from_secs(10));
                self.io.timers.arm(Instant::now() + again, Timer::HandoffAsk { run: serial, inst, generation });
            }
        }
    }

    /// A hook outlived `[handoff] timeout`: it is killed, and counts as a refusal.
    pub(in crate::supervisor) fn hook_timed_out(&mut self, serial: u64, inst: usize, pid: Pid) {
        let Some(i) = self.instance_mut(serial, inst) else { return };
        let Resched::Trying(a) = &mut i.resched else { return };
        if a.pid != Some(pid) {
            return;
        }
        a.timed_out = true;
        let _ = process::signal_group(pid, Signal::SIGKILL);
    }

    /// Kills the hooks in flight (supd is stopping).
    pub(in crate::supervisor) fn kill_hooks(&mut self) {
        for pid in self.children.owned_by(|o| matches!(o, Owner::Handoff { .. } | Owner::Remote { .. })) {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
    }
}

/// Runs a hook (`argv`, no shell) with `input` on its stdin (from a memory
/// file) and its output captured in another, in its own process group.
pub(in crate::supervisor) fn spawn_with(
    argv: &[String],
    input: &[u8],
    vars: Vec<(String, String)>,
) -> Result<(Pid, std::fs::File), HookError> {
    let (program, args) = argv.split_first().ok_or(HookError::NoProgram)?;
    let mut stdin = process::memfd("supd-handoff-in").map_err(HookError::Input)?;
    stdin.write_all(input).and_then(|()| stdin.rewind()).map_err(HookError::Input)?;
    let output = process::memfd("supd-handoff-out").map_err(HookError::Output)?;
    let mut env = process::inherited_env().to_vec();
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

/// The last `MAX_HOOK_OUTPUT` bytes a hook wrote.
pub(in crate::supervisor) fn hook_output(f: Option<std::fs::File>) -> Vec<u8> {
    let mut output = Vec::new();
    if let Some(mut f) = f {
        let len = f.metadata().map_or(0, |m| m.len());
        let _ = f.seek(std::io::SeekFrom::Start(len.saturating_sub(MAX_HOOK_OUTPUT)));
        let _ = f.read_to_end(&mut output);
    }
    output
}
