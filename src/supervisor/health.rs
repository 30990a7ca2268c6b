//! Health checks in the loop: each check of an instance runs every
//! `interval` while its task runs, the first time one interval (at most a
//! second) after the task's start; its result goes
//! through `policy::check_restart`, and a restart it asks for goes through
//! the task's restart policy like any failure.

use super::task::{After, CheckRun, Inflight, LaunchError, PortError};
use super::watches::Watched;
use super::{CheckKey, Owner, Supervisor, TaskKey, Timer};
use crate::checks::{self, Dial, Outcome, Probe};
use crate::jobspec::duration::GoDuration;
use crate::jobspec::model::{CheckKind, CheckStatus, PortRef};
use crate::jobspec::template::interpolate;
use crate::policy::check_restart::{CheckWatch, Verdict};
use crate::policy::restart::Outcome as RunOutcome;
use crate::process::{self, Exit};
use crate::supervisor::task::EventKind;
use mio::Interest;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a check's run cannot start: its result is critical with this
/// message as its output, never a supd error.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    /// What the check belongs to left the model (`job`, `instance`,
    /// `check`, `task`).
    #[error("{0} is gone")]
    Gone(&'static str),
    #[error("no port {0:?} in this instance")]
    NoPortLabel(String),
    /// Its `${...}` port resolved to no port at the task's start.
    #[error(transparent)]
    Port(PortError),
    #[error("port {0:?} was not resolved at the task's start")]
    Unresolved(String),
    #[error("the check has no port")]
    NoPort,
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} has no address")]
    NoAddress(String),
    /// The script's process cannot be made ready (the whole chain).
    #[error("{}", crate::error_chain(.0))]
    Script(LaunchError),
    #[error("cannot create a pipe for the script: {0}")]
    Pipe(#[source] nix::Error),
    /// A script check of an isolated task runs inside it.
    #[error("the task is not running")]
    NotRunning,
    #[error(transparent)]
    Spawn(#[from] process::SpawnError),
    #[error("dial tcp {addr}: {source}")]
    Dial {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot watch the check's socket: {0}")]
    Watch(#[source] std::io::Error),
}

impl Supervisor {
    fn check_mut(&mut self, key: CheckKey) -> Option<&mut CheckRun> {
        self.jobs.runs.get_mut(&key.run)?.instances.get_mut(key.inst)?.checks.get_mut(key.check)
    }

    fn checks_of(&self, key: TaskKey) -> Vec<CheckKey> {
        let Some(inst) = self.jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)) else {
            return Vec::new();
        };
        inst.checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.task == key.task)
            .map(|(i, _)| CheckKey { run: key.run, inst: key.inst, check: i })
            .collect()
    }

    /// A task (re)started: its checks begin, with a fresh grace period.
    pub(super) fn activate_checks(&mut self, key: TaskKey) {
        let (now, epoch) = (Instant::now(), self.io.timers.epoch());
        for ck in self.checks_of(key) {
            let port = self.interpolated_port(ck);
            let Some(c) = self.check_mut(ck) else { continue };
            c.active = true;
            c.generation += 1;
            c.status = c.spec.initial_status;
            c.output.clear();
            c.resolved = None;
            c.watch = CheckWatch::new(c.spec.check_restart, now);
            let unresolved = match &port {
                Some(Err(why)) => Some(format!("check {}: {why}", quoted(&c.spec.name))),
                _ => None,
            };
            c.interpolated_port = port;
            let generation = c.generation;
            // The first run comes one interval after the start, but no later
            // than a second: a freshly started server is rarely listening at
            // once, and its health should show soon.
            let first = c.spec.interval.min(Duration::from_secs(1));
            c.next_due = now + first;
            let at = run_at(epoch, c.next_due, c.spec.interval);
            self.io.timers.arm(at, Timer::Check { check: ck, generation });
            if let Some(message) = unresolved {
                self.tell_check_port(key, message);
            }
        }
    }

    /// A check's port written with `${...}`, resolved for this start of
    /// its task; `None` for a port written plainly.
    fn interpolated_port(&self, ck: CheckKey) -> Option<Result<u16, PortError>> {
        let run = self.jobs.runs.get(&ck.run)?;
        let inst = run.instances.get(ck.inst)?;
        let c = inst.checks.get(ck.check)?;
        let Some(PortRef::Interpolated(written)) = &c.spec.port else { return None };
        let Some(t) = inst.tasks.get(c.task) else { return Some(Err(PortError::TaskGone)) };
        Some(super::launch::port_of(&self.cfg.node, run, inst, t, written))
    }

    /// A check whose `${...}` port resolved to no port: its task's event
    /// says why, once for as long as the reason stays the same (each of
    /// its runs fails with it, critical).
    fn tell_check_port(&mut self, key: TaskKey, message: String) {
        let label = self.label(key);
        let Some(t) = self.jobs.task_mut(key) else { return };
        if !t.events.iter().any(|e| e.kind == EventKind::CheckPort && *e.message == *message) {
            log::warn!("{label}: {message}");
            t.push_event(EventKind::CheckPort, message);
        }
    }

    /// A task's process ended: its checks stop until it runs again.
    pub(super) fn deactivate_checks(&mut self, key: TaskKey) {
        for ck in self.checks_of(key) {
            if let Some(c) = self.check_mut(ck) {
                c.active = false;
                c.generation += 1;
            }
            self.cancel_probe(ck);
        }
    }

    fn cancel_probe(&mut self, ck: CheckKey) {
        let Some(inflight) = self.check_mut(ck).and_then(|c| c.inflight.take()) else { return };
        match inflight {
            Inflight::Socket { mut probe, token } => {
                // A socket still watched is closed, never kept for reuse.
                if self.io.poll.registry().deregister(&mut probe.stream).is_ok() {
                    probe.finish();
                }
                self.io.watches.forget(token);
            }
            Inflight::Script { pid, .. } => {
                // Reaped like any child; its end no longer matters.
                let _ = process::signal_group(pid, Signal::SIGKILL);
                if self.children.owns(pid) {
                    self.children.own(pid, Owner::Discarded);
                }
            }
        }
    }

    /// Starts one run of a check, and schedules the next.
    pub(super) fn run_check(&mut self, ck: CheckKey, generation: u64) {
        let epoch = self.io.timers.epoch();
        let Some(c) = self.check_mut(ck) else { return };
        if !c.active || c.generation != generation {
            return;
        }
        let (interval, timeout) = (c.spec.interval, c.spec.timeout);
        let busy = c.inflight.is_some();
        // The next run is one interval after this one was due; after a
        // stall, missed runs are skipped rather than run in a burst.
        let now = Instant::now();
        c.next_due += interval;
        while c.next_due <= now && !interval.is_zero() {
            c.next_due += interval;
        }
        let next = run_at(epoch, c.next_due, interval);
        self.io.timers.arm(next, Timer::Check { check: ck, generation });
        if busy {
            return; // the previous run has not timed out yet
        }
        self.metrics_probe_started(ck);
        match self.start_probe(ck) {
            Ok(Some(outcome)) => self.finish_check(ck, outcome),
            Ok(None) => {
                if let Some(c) = self.check_mut(ck) {
                    c.probe_seq += 1;
                    let seq = c.probe_seq;
                    self.io.timers.arm(Instant::now() + timeout, Timer::CheckTimeout { check: ck, probe: seq });
                }
            }
            // A check that cannot even start is critical, never a supd error.
            Err(e) => self.finish_check(ck, (CheckStatus::Critical, e.to_string())),
        }
    }

    /// Starts a probe; a result known at once is returned.
    fn start_probe(&mut self, ck: CheckKey) -> Result<Option<Outcome>, ProbeError> {
        let run = self.jobs.runs.get(&ck.run).ok_or(ProbeError::Gone("job"))?;
        let inst = run.instances.get(ck.inst).ok_or(ProbeError::Gone("instance"))?;
        let c = inst.checks.get(ck.check).ok_or(ProbeError::Gone("check"))?;
        match (&c.spec.kind, c.resolved) {
            // A tcp check's address is worked out once per task start.
            (CheckKind::Tcp, Some(addr)) => self.start_socket_probe(ck, addr, None),
            (CheckKind::Tcp | CheckKind::Http { .. }, _) => {
                let port = match c.spec.port.as_ref() {
                    Some(PortRef::Number(n)) => *n,
                    Some(PortRef::Label(l)) => inst
                        .ports
                        .iter()
                        .find(|(x, _)| x == l)
                        .map(|(_, p)| *p)
                        .ok_or_else(|| ProbeError::NoPortLabel(l.clone()))?,
                    // Resolved at the task's start (activate_checks).
                    Some(PortRef::Interpolated(written)) => match &c.interpolated_port {
                        Some(Ok(p)) => *p,
                        Some(Err(why)) => return Err(ProbeError::Port(why.clone())),
                        None => return Err(ProbeError::Unresolved(written.clone())),
                    },
                    None => return Err(ProbeError::NoPort),
                };
                // Job-file strings keep `$${` for a literal `${`; undo it here.
                let text = |s: &str| interpolate(s, &|_| None);
                let host = c.spec.address.as_deref().map_or_else(|| "127.0.0.1".into(), text);
                let addr = match c.resolved {
                    Some(a) => a,
                    None => resolve(&host, port)?,
                };
                let request = match &c.spec.kind {
                    CheckKind::Http { path, method, headers, body, .. } => {
                        let headers =
                            headers.iter().map(|(k, vs)| (k.clone(), vs.iter().map(|v| text(v)).collect())).collect();
                        let body = body.as_deref().map(text);
                        Some(checks::http_request(
                            method,
                            &format!("{host}:{port}"),
                            &text(path),
                            &headers,
                            body.as_deref(),
                        ))
                    }
                    _ => None,
                };
                if let Some(c) = self.check_mut(ck) {
                    c.resolved = Some(addr);
                }
                self.start_socket_probe(ck, addr, request)
            }
            (CheckKind::Script { command, args }, _) => {
                let t = inst.tasks.get(c.task).ok_or(ProbeError::Gone("task"))?;
                let spec = super::launch::check_spec(&self.cfg.node, &self.cfg.exec, run, inst, t, (command, args))
                    .map_err(ProbeError::Script)?;
                let (read, write) = process::output_pipe().map_err(ProbeError::Pipe)?;
                let out = std::os::fd::AsFd::as_fd(&write);
                // An isolated task's check runs inside it, as Nomad's exec
                // driver runs it.
                let started = match (spec.isolation.is_some(), t.pid) {
                    (true, Some(task)) => {
                        process::spawn_helper_inside(&spec, task, process::Io::Fd(out), process::Io::Fd(out))
                    }
                    (true, None) => return Err(ProbeError::NotRunning),
                    (false, _) => process::spawn_helper(&spec, process::Io::Fd(out), process::Io::Fd(out)),
                };
                let pid = started?;
                drop(write);
                self.children.own(pid, Owner::Check(ck));
                if let Some(c) = self.check_mut(ck) {
                    c.inflight = Some(Inflight::Script { pid, output: std::fs::File::from(read) });
                }
                Ok(None)
            }
        }
    }

    /// Connects a tcp or http probe; a tcp result known at once is returned.
    fn start_socket_probe(
        &mut self,
        ck: CheckKey,
        addr: SocketAddr,
        request: Option<Vec<u8>>,
    ) -> Result<Option<Outcome>, ProbeError> {
        let mut probe = match request {
            // On loopback a connect usually completes (or is refused)
            // within the call: then the result needs no wake-up.
            None => match checks::dial(addr) {
                Dial::Done(outcome) => return Ok(Some(outcome)),
                Dial::Pending(probe) => probe,
            },
            Some(request) => Probe::connect(addr, Some(request)).map_err(|source| ProbeError::Dial { addr, source })?,
        };
        let token = self.io.watches.token();
        self.io
            .poll
            .registry()
            .register(&mut probe.stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(ProbeError::Watch)?;
        self.io.watches.watch(token, Watched::Check(ck));
        if let Some(c) = self.check_mut(ck) {
            c.inflight = Some(Inflight::Socket { probe, token });
        }
        Ok(None)
    }

    /// A check's socket is ready: the probe goes one step on.
    pub(super) fn on_check_socket(&mut self, ck: CheckKey) {
        let outcome = match self.check_mut(ck).and_then(|c| c.inflight.as_mut()) {
            Some(Inflight::Socket { probe, .. }) => probe.advance(),
            _ => None,
        };
        if let Some(o) = outcome {
            self.cancel_probe(ck);
            self.finish_check(ck, o);
        }
    }

    pub(super) fn on_script_exit(&mut self, ck: CheckKey, pid: Pid, exit: Exit) {
        let Some(c) = self.check_mut(ck) else { return };
        // Only the script of the run in flight decides its result.
        if !matches!(&c.inflight, Some(Inflight::Script { pid: p, .. }) if *p == pid) {
            return;
        }
        let Some(Inflight::Script { mut output, .. }) = c.inflight.take() else { return };
        let mut buf = vec![0u8; 4096];
        let n = output.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        self.finish_check(ck, checks::script_outcome(exit, &text));
    }

    pub(super) fn check_timed_out(&mut self, ck: CheckKey, seq: u64) {
        let Some(c) = self.check_mut(ck) else { return };
        if c.probe_seq != seq || c.inflight.is_none() {
            return;
        }
        let timeout = c.spec.timeout;
        self.cancel_probe(ck);
        self.finish_check(ck, (CheckStatus::Critical, format!("timed out after {}", GoDuration(timeout))));
    }

    /// Records a result: an event when the status changes, and a restart of
    /// the task when check_restart's limit is reached.
    fn finish_check(&mut self, ck: CheckKey, (status, output): Outcome) {
        self.metrics_probe_finished(ck);
        let Some(c) = self.check_mut(ck) else { return };
        if !c.active {
            return;
        }
        // Most results repeat the last one: nothing to tell, nothing to copy.
        let change = (c.status != status).then(|| {
            format!("check {} is {} (was {}): {output}", quoted(&c.spec.name), status.as_str(), c.status.as_str())
        });
        c.status = status;
        c.output = output;
        let verdict = c.watch.observe(status, Instant::now());
        let key = TaskKey { run: ck.run, inst: ck.inst, task: c.task };
        let name = (verdict == Verdict::Restart).then(|| c.spec.name.clone());
        if let Some(text) = change
            && let Some(t) = self.jobs.task_mut(key)
        {
            t.push_event(EventKind::CheckStatus, text);
        }
        if let Some(name) = name {
            log::info!("{}: check {} unhealthy; restarting", self.label(key), quoted(&name));
            if let Some(t) = self.jobs.task_mut(key)
                && t.pid.is_some()
            {
                t.push_event(EventKind::RestartSignaled, format!("healthcheck: check {} unhealthy", quoted(&name)));
                self.deactivate_checks(key);
                // How it exits is filled in when it does.
                self.stop_task(key, After::Restart(RunOutcome::FailureRestart { success: false }));
            }
        }
    }
}

/// The coarsest grid check runs are rounded up to.
const MAX_GRID: Duration = Duration::from_millis(100);

/// When a run due at `due` starts: rounded up to a grid of a tenth of the
/// check's interval, at most 100 ms, common to all checks. Checks of many
/// tasks then share a wake-up of the loop (ten a second at most for
/// intervals of a second or more, instead of a hundred on the loop's 10 ms
/// grid): measured in a VM, a wake-up costs as much as one to three
/// loopback checks, and with 1000 tcp checks a second this takes a quarter
/// off supd's CPU. A run is at most a tenth of its interval late, and runs
/// do not drift (`next_due` stays unrounded). `origin`: the loop's epoch.
fn run_at(origin: Instant, due: Instant, interval: Duration) -> Instant {
    let grid = (interval / 10).min(MAX_GRID).as_nanos().max(1);
    let since = due.saturating_duration_since(origin).as_nanos();
    let up = since.div_ceil(grid) * grid;
    origin + Duration::from_nanos(u64::try_from(up).unwrap_or(u64::MAX))
}

/// A check name in quotes, readable when the name holds quotes itself
/// (Nomad's default names do: `service: "web" check`).
fn quoted(name: &str) -> String {
    if name.contains('"') { format!("'{name}'") } else { format!("\"{name}\"") }
}

/// An address for a check: an IP literal, or a name resolved now.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, ProbeError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|source| ProbeError::Resolve { host: host.to_string(), source })?
        .next()
        .ok_or_else(|| ProbeError::NoAddress(host.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_share_a_grid_of_a_tenth_of_their_interval() {
        let t = Instant::now();
        for (interval, grid) in
            [(Duration::from_secs(1), 100), (Duration::from_secs(10), 100), (Duration::from_millis(300), 30)]
        {
            let grid = Duration::from_millis(grid);
            let mut slots = std::collections::BTreeSet::new();
            for ms in 0..200 {
                let due = t + Duration::from_millis(ms);
                let at = run_at(t, due, interval);
                assert!(at >= due && at - due <= grid, "{due:?} {at:?}");
                slots.insert(at);
            }
            let want = 200usize.div_ceil(grid.as_millis() as usize);
            assert!((want..=want + 1).contains(&slots.len()), "{} slots for {interval:?}", slots.len());
        }
    }
}
