//! The old image's side of a re-exec: what would be lost is refused, the
//! state saved, the carry written (the document and the descriptors it
//! names), then the exec as the same pid.

use super::*;
use crate::control::protocol::Response;
use crate::supervisor::task::{State, TaskKey};
use crate::supervisor::{Owner, Supervisor, Timer};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Instant;

impl Supervisor {
    /// `supctl daemon-reexec`. Returns only when the exec is refused or
    /// failed (the answer says why; this image goes on).
    pub(in crate::supervisor) fn daemon_reexec(&mut self, token: Token) -> Response {
        let refused = |why: String| Response::refused(format!("not re-executing: {why}; supd keeps running as it is"));
        if let Some(why) = self.reexec_blocker() {
            return refused(why);
        }
        let Some((exe, args)) = STARTED_AS.get().cloned() else {
            return refused("supd does not know the path it was started from".to_string());
        };
        if let Err(why) = check_binary(&exe, &args) {
            return refused(format!("{}: {why}", exe.display()));
        }
        // What the new image reads back: if it cannot be written, the
        // new image would not know the tasks it takes over.
        if !self.save_acknowledged() {
            return refused(format!("the state cannot be saved in {}", self.cfg.state_dir.display()));
        }
        // Script checks in flight are given up (their end ignored, killed
        // right before the exec): they run again after.
        let checks = self.children.owned_by(|o| matches!(o, Owner::Check(_)));
        let owners: Vec<(nix::unistd::Pid, Owner)> =
            checks.iter().filter_map(|p| Some((*p, self.children.owner(*p)?))).collect();
        for pid in &checks {
            self.children.own(*pid, Owner::Discarded);
        }
        let (carry, mut keep) = self.carry(token);
        let bytes = match serde_json::to_vec(&carry) {
            Ok(b) => b,
            Err(e) => return refused(format!("cannot write what to carry: {e}")),
        };
        let file = process::memfd("supd-carry").and_then(|mut f| {
            use std::io::{Seek, Write};
            f.write_all(&bytes)?;
            f.rewind()?;
            Ok(f)
        });
        let file = match file {
            Ok(f) => f,
            Err(e) => return refused(format!("cannot hold what to carry: {e}")),
        };
        drop(bytes);
        keep.push(file.as_fd());
        let set = |keep: &[BorrowedFd<'_>], close: bool| {
            keep.iter().all(|fd| process::sys::set_close_on_exec(*fd, close).is_ok())
        };
        let error = if !set(&keep, false) {
            "cannot keep its descriptors open across the exec".to_string()
        } else {
            log::info!(
                "re-executing {} ({} task(s) keep running); supd {} hands over",
                exe.display(),
                carry.tasks.iter().filter(|t| t.pid.is_some()).count(),
                env!("CARGO_PKG_VERSION")
            );
            for pid in &checks {
                let _ = process::signal_pid(*pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = process::sys::block_signals(&crate::supervisor::all_handled());
            crate::logs::console::flush(Duration::from_millis(500));
            let e = exec(&exe, &args, file.as_raw_fd());
            let _ = process::sys::unblock_signals(&crate::supervisor::all_handled());
            format!("the exec failed: {e}")
        };
        set(&keep, true);
        drop(keep);
        for (pid, owner) in owners {
            if self.children.owns(pid) {
                self.children.own(pid, owner);
            }
        }
        log::error!("not re-executing {}: {error}", exe.display());
        refused(format!("{}: {error}", exe.display()))
    }

    /// What would be lost in a re-exec now, if anything.
    fn reexec_blocker(&self) -> Option<String> {
        if self.stopping() {
            return Some("supd is stopping".into());
        }
        if self.server.receiving_body() {
            return Some("a job file is being received over the control socket; try again in a moment".into());
        }
        if self.pending.parses.busy() {
            return Some("a large job file is being parsed; try again in a moment".into());
        }
        if self.pending.setup.renders.busy() > 0 {
            return Some("a task's templates are being rendered; try again in a moment".into());
        }
        if self.pending.containers.surveying.iter().any(|s| *s) {
            return Some("a container engine has not yet said what it runs; try again once it has".into());
        }
        let current: std::collections::BTreeSet<u64> = self.jobs.current.values().copied().collect();
        for run in self.jobs.runs.values() {
            for inst in &run.instances {
                // What the carry leaves out must have ended.
                let carried = current.contains(&run.serial) && !inst.removed;
                if !carried && inst.tasks.iter().any(|t| t.pid.is_some()) {
                    return Some(format!(
                        "{} (an older version, or an instance being removed) still runs; try again once it has ended",
                        inst.name
                    ));
                }
                if matches!(inst.resched, crate::supervisor::task::Resched::Trying(_)) {
                    return Some(format!("{} is being handed off; try again once it is", inst.name));
                }
                for t in &inst.tasks {
                    let label = || format!("{}/{}", inst.name, t.spec.name);
                    if t.stopping.is_some() && t.pid.is_some() {
                        return Some(format!("{} is being stopped; try again once it has", label()));
                    }
                    if t.setup.fetching.is_some() {
                        return Some(format!("{}'s artifacts are being fetched; try again once they are", label()));
                    }
                    if t.leftover.is_some() {
                        return Some(format!(
                            "{} waits for a process of the previous supd to end; try again once it has",
                            label()
                        ));
                    }
                    if t.container.as_ref().is_some_and(|c| c.id.is_none()) {
                        return Some(format!("{}'s container is being started; try again once it has", label()));
                    }
                }
            }
        }
        if !self.children.owned_by(|o| matches!(o, Owner::Handoff { .. } | Owner::Remote { .. })).is_empty() {
            return Some("a hand-off hook runs; try again once it has ended".into());
        }
        if self.io.timers.due_at(|t| matches!(t, Timer::TemplateChange { .. })).is_some() {
            return Some("a template's change is due; try again once it has been carried out".into());
        }
        if !self.children.owned_by(|o| matches!(o, Owner::ChangeScript { .. })).is_empty() {
            return Some("a template's change script runs; try again once it has ended".into());
        }
        None
    }

    /// The document for the next image, and every descriptor it names
    /// (made to stay open across the exec by the caller).
    fn carry(&self, client: Token) -> (Carry, Vec<BorrowedFd<'_>>) {
        let now = Instant::now();
        let mut keep: Vec<BorrowedFd<'_>> = vec![self.server.listener_fd()];
        keep.extend(self.server.client_fd(client));
        let clients = self.server.carried_clients(client);
        keep.extend(clients.iter().map(|(fd, _)| *fd));
        let mut carry = Carry {
            version: CARRY_VERSION,
            from: env!("CARGO_PKG_VERSION").to_string(),
            since_ms: unix_ms(since()),
            listener: self.server.listener_fd().as_raw_fd(),
            client: self.server.client_fd(client).map(|fd| fd.as_raw_fd()),
            load_errors: self.jobs.load_errors.clone(),
            event_seq: crate::supervisor::task::last_event_seq(),
            clients: clients.into_iter().map(|(_, c)| c).collect(),
            java: Some(
                self.cfg
                    .node
                    .attrs
                    .iter()
                    .filter(|(k, _)| k.starts_with("driver.java"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..Carry::default()
        };
        carry.files = self.carried_files();
        for run in self.jobs.current_runs() {
            for (ii, inst) in run.instances.iter().enumerate().filter(|(_, i)| !i.removed) {
                self.carry_instance(&mut carry, &mut keep, run, ii, inst, now);
            }
        }
        (carry, keep)
    }

    /// The job directory's files as loaded, each with its jobs' sources.
    fn carried_files(&self) -> Vec<CarriedFile> {
        let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for run in self.jobs.current_runs() {
            if let Some(file) = &run.file {
                files.entry(file.clone()).or_default().push(run.job.source.clone());
            }
        }
        files.into_iter().map(|(path, jobs)| CarriedFile { path, jobs }).collect()
    }

    /// Puts one instance (number `ii` of `run`) and its tasks in the carry,
    /// and the capture pipes of its running host tasks in `keep`.
    fn carry_instance<'a>(
        &'a self,
        carry: &mut Carry,
        keep: &mut Vec<BorrowedFd<'a>>,
        run: &'a crate::supervisor::task::JobRun,
        ii: usize,
        inst: &'a crate::supervisor::task::Instance,
        now: Instant,
    ) {
        let group = run.job.groups.get(inst.group).map_or(String::new(), |g| g.name.clone());
        carry.instances.push(CarriedInstance {
            job: run.job.id.clone(),
            group: group.clone(),
            index: inst.index,
            id: inst.id.clone(),
            placed_ago_ms: inst.placed_at.map(|at| now.saturating_duration_since(at).as_millis() as u64),
            checks: checks_to_carry(inst, now),
        });
        for (ti, t) in inst.tasks.iter().enumerate() {
            let key = TaskKey { run: run.serial, inst: ii, task: ti };
            let host = t.container.is_none();
            let pid = t.pid.filter(|_| host);
            let pipes = t.log.as_ref().filter(|_| pid.is_some()).map(|l| {
                let (r1, w1) = l.out.fds();
                let (r2, w2) = l.err.fds();
                keep.extend([r1, w1, r2, w2]);
                [r1.as_raw_fd(), w1.as_raw_fd(), r2.as_raw_fd(), w2.as_raw_fd()]
            });
            let start_in_ms = self.start_in_ms(key, t, pid, now);
            carry.tasks.push(CarriedTask {
                job: run.job.id.clone(),
                group: group.clone(),
                index: inst.index,
                task: t.spec.name.clone(),
                pid: pid.map(|p| p.as_raw()),
                // One taken over after a crash of supd is followed
                // by a pidfd, not reaped.
                child: pid.is_none_or(|p| self.children.owns(p)),
                start_ticks: t.start_ticks.filter(|_| pid.is_some()),
                started_ms: t.started_at.map(unix_ms),
                pipes,
                start_in_ms,
                events: events_to_carry(t),
            });
        }
    }

    /// When the start of a pending task that has no process (`pid`) is due,
    /// in ms from `now`, if its timer is armed.
    fn start_in_ms(
        &self,
        key: TaskKey,
        t: &crate::supervisor::task::TaskRun,
        pid: Option<nix::unistd::Pid>,
        now: Instant,
    ) -> Option<u64> {
        (t.state == State::Pending && t.launched && pid.is_none())
            .then(|| {
                let generation = t.generation;
                self.io.timers.due_at(
                    |timer| matches!(timer, Timer::Start { task, generation: g } if *task == key && *g == generation),
                )
            })
            .flatten()
            .map(|at| at.saturating_duration_since(now).as_millis() as u64)
    }
}

/// The state of an instance's active checks, as carried.
fn checks_to_carry(inst: &crate::supervisor::task::Instance, now: Instant) -> Vec<CarriedCheck> {
    inst.checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.active)
        .map(|(at, c)| CarriedCheck {
            at,
            status: c.status.as_str().to_string(),
            output: c.output.clone(),
            consecutive: c.watch.consecutive(),
            grace_left_ms: c.watch.grace_left(now).as_millis() as u64,
        })
        .collect()
}

/// A task's events, as carried.
fn events_to_carry(t: &crate::supervisor::task::TaskRun) -> Vec<CarriedEvent> {
    t.events
        .iter()
        .map(|e| CarriedEvent {
            seq: e.seq,
            time_ms: unix_ms(e.time),
            kind: e.kind.to_string(),
            message: e.message.to_string(),
        })
        .collect()
}
