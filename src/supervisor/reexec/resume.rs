//! The new image's side of a re-exec: what was carried taken in before the
//! jobs are made, each task's run taken over (a carried child, or a
//! process a killed supd left, followed by a pidfd), and the client that
//! asked answered once every job is in.

use super::*;
use crate::control::protocol::Response;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{State, TakeOver, TaskKey, TaskRun};
use crate::supervisor::{Owner, Supervisor, Timer};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

impl Supervisor {
    /// In the new image, before the jobs are made: what was carried waits
    /// for its tasks (see `new_instance`).
    pub(in crate::supervisor) fn resume(&mut self, carry: &mut Carry, client: Option<Token>) {
        crate::supervisor::task::resume_event_seq(carry.event_seq);
        for c in carry.clients.drain(..) {
            self.server.resume_carried(self.io.poll.registry(), &mut self.io.watches.tokens, c);
        }
        self.jobs.load_errors = std::mem::take(&mut carry.load_errors);
        let unclaimed = &mut self.reports.store.unclaimed;
        for i in carry.instances.drain(..) {
            if !i.checks.is_empty() {
                unclaimed.checks.insert((i.job.clone(), i.group.clone(), i.index), i.checks);
            }
            if let Some(ago) = i.placed_ago_ms {
                unclaimed.placed.insert((i.job.clone(), i.group.clone(), i.index), ago);
            }
            unclaimed.alloc_ids.insert((i.job, i.group, i.index), i.id);
        }
        for t in carry.tasks.drain(..) {
            unclaimed.carried.insert((t.job.clone(), t.group.clone(), t.index, t.task.clone()), t);
        }
        self.pending.resumed = Some(Resumed {
            from: carry.from.clone(),
            client,
            files: Some(carry.parsed_files()),
            java: carry.java.take(),
            ..Resumed::default()
        });
    }

    /// Whether a carried task is still running as supd's child.
    pub(in crate::supervisor) fn carried_running(&self, name: &Named) -> bool {
        self.reports.store.unclaimed.carried.get(name).is_some_and(|c| c.pid.is_some())
    }

    /// Once every job is in: the client that asked is answered, and what
    /// was carried for tasks that were not made again is closed (and their
    /// processes stopped: they belong to no job now).
    pub(in crate::supervisor) fn resumed(&mut self) {
        let Some(resumed) = self.pending.resumed.take() else { return };
        self.reports.store.unclaimed.checks.clear();
        self.reports.store.unclaimed.placed.clear();
        for (_, t) in std::mem::take(&mut self.reports.store.unclaimed.carried) {
            // Taken, so closed.
            for fd in t.pipes.into_iter().flatten() {
                drop(process::sys::inherited_fd(fd));
            }
            if let Some(pid) = t.pid {
                log::warn!(
                    "{}.{}[{}]/{}: pid {pid} belongs to no job after the re-exec; killing it",
                    t.job,
                    t.group,
                    t.index,
                    t.task
                );
                let pid = nix::unistd::Pid::from_raw(pid);
                let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = process::signal_pid(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        let message = format!(
            "supd re-executed: {} -> {}; {} task(s) kept running, same pids",
            resumed.from,
            env!("CARGO_PKG_VERSION"),
            resumed.kept
        );
        log::info!("{message}");
        if let Some(token) = resumed.client {
            self.server.answer(self.io.poll.registry(), token, Response::ok(vec![message]));
        }
    }

    /// Takes over a task's run that an earlier image of supd, or a
    /// previous supd, left (see `TaskRun::take_over`).
    pub(in crate::supervisor) fn take_over(&mut self, key: TaskKey) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(how) = t.take_over.take() else { return };
        match *how {
            TakeOver::StartIn(after) => {
                let generation = t.generation;
                self.io.timers.arm(Instant::now() + after, Timer::Start { task: key, generation });
            }
            TakeOver::Running { child, pipes, cgroups, event } => {
                let Some(pid) = t.pid else { return };
                t.push_event(event.0, event.1);
                if self.cfg.cgroups.active() && !cgroups.is_empty() {
                    let label = self.label(key);
                    let Some(t) = self.jobs.task_mut(key) else { return };
                    match self.cfg.cgroups.reopen(&cgroups, &t.spec.resources) {
                        Ok(cg) => t.cgroup = Some(cg),
                        Err(e) => {
                            log::warn!("{label}: its cgroup is not taken over ({e}); its next run gets a new one")
                        }
                    }
                }
                if let Some(pipes) = pipes {
                    match self.adopt_log(key, pipes) {
                        Ok(log) => {
                            if let Some(t) = self.jobs.task_mut(key) {
                                t.log = Some(log);
                            }
                        }
                        Err(e) => log::warn!("{}: its output pipes are not taken over: {e}", self.label(key)),
                    }
                }
                if let Some(r) = self.pending.resumed.as_mut() {
                    r.kept += 1;
                }
                if child {
                    self.children.own(pid, Owner::Task(key));
                } else {
                    self.follow_foreign(key, pid);
                }
                // Placed before the exec: its max_run_duration counts
                // from then.
                let placed = self.jobs.runs.get(&key.run).and_then(|r| {
                    let i = r.instances.get(key.inst)?;
                    let group = r.job.groups.get(i.group)?.name.clone();
                    self.reports.store.unclaimed.placed.remove(&(r.job.id.clone(), group, i.index))
                });
                let now = Instant::now();
                let at = placed.and_then(|ago| now.checked_sub(Duration::from_millis(ago))).unwrap_or(now);
                self.placed_at(key.run, key.inst, at);
                self.activate_checks(key);
                self.resume_checks(key);
            }
        }
    }

    /// The checks of a task taken over across a re-exec go on as they
    /// were: status, output, failures in a row, what is left of the grace.
    fn resume_checks(&mut self, key: TaskKey) {
        let Some(run) = self.jobs.runs.get_mut(&key.run) else { return };
        let Some(inst) = run.instances.get_mut(key.inst) else { return };
        let Some(group) = run.job.groups.get(inst.group).map(|g| g.name.clone()) else { return };
        let name = (run.job.id.clone(), group, inst.index);
        let Some(carried) = self.reports.store.unclaimed.checks.get(&name) else { return };
        let now = Instant::now();
        for c in carried {
            let Some(check) = inst.checks.get_mut(c.at).filter(|k| k.task == key.task && k.active) else { continue };
            if let Some(status) = crate::jobspec::model::CheckStatus::parse(&c.status) {
                check.status = status;
            }
            check.output.clone_from(&c.output);
            let grace_until = now + Duration::from_millis(c.grace_left_ms);
            check.watch =
                crate::policy::check_restart::CheckWatch::resumed(check.spec.check_restart, grace_until, c.consecutive);
        }
    }

    /// A carried task, matched with the task made again: what its run is
    /// taken over with. `None` when it had no process and no start due.
    pub(in crate::supervisor) fn carried_run(&self, c: CarriedTask, run: &mut TaskRun) -> Option<TakeOver> {
        let from = self.pending.resumed.as_ref().map_or("?", |r| r.from.as_str());
        run.events = carried_events(c.events);
        if let Some(pid) = c.pid {
            run.state = State::Running;
            run.launched = true;
            run.pid = Some(nix::unistd::Pid::from_raw(pid));
            run.start_ticks = c.start_ticks;
            run.started_at = c.started_ms.map(from_unix_ms);
            let pipes = c.pipes.and_then(|p| {
                let fds: Vec<OwnedFd> = p.into_iter().filter_map(process::sys::inherited_fd).collect();
                <[OwnedFd; 4]>::try_from(fds).ok()
            });
            return Some(TakeOver::Running {
                child: c.child,
                pipes,
                cgroups: Vec::new(),
                event: (
                    EventKind::Reexecuted,
                    format!(
                        "supd re-executed ({from} -> {}); the task kept running as pid {pid}",
                        env!("CARGO_PKG_VERSION")
                    ),
                ),
            });
        }
        let after = Duration::from_millis(c.start_in_ms?);
        run.state = State::Pending;
        run.launched = true;
        Some(TakeOver::StartIn(after))
    }

    /// Follows a task's process that is not supd's child (taken over from
    /// a previous supd): its pidfd says when it ends.
    pub(in crate::supervisor) fn follow_foreign(&mut self, key: TaskKey, pid: nix::unistd::Pid) {
        let token = self.io.watches.token();
        let watched = process::pidfd_open(pid).and_then(|fd| {
            let raw = fd.as_raw_fd();
            self.io.poll.registry().register(&mut mio::unix::SourceFd(&raw), token, mio::Interest::READABLE)?;
            Ok(fd)
        });
        match watched {
            Ok(fd) => self.io.watches.watch_adopted(token, key, fd),
            // Gone already (or it cannot be watched): its run has ended.
            Err(e) => {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    log::warn!("{}: cannot follow pid {pid} ({e}); taken as ended", self.label(key));
                }
                self.on_exit(key, process::Exit::Unknown);
            }
        }
    }

    /// A task's process taken over from a previous supd ended; how, only
    /// its parent knows.
    pub(in crate::supervisor) fn on_adopted_gone(&mut self, token: Token, key: TaskKey) {
        if let (_, Some(fd)) = self.io.watches.forget(token) {
            let raw = fd.as_raw_fd();
            let _ = self.io.poll.registry().deregister(&mut mio::unix::SourceFd(&raw));
        }
        if self.jobs.task(key).is_some_and(|t| t.pid.is_some()) {
            self.on_exit(key, process::Exit::Unknown);
        }
    }
}
