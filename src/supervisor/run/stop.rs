//! Stopping: a job, every task as supd exits (and the orphans left as
//! init), an instance wound down, a task with its kill signal and the
//! SIGKILL escalation, orphans of dead tasks swept.

use crate::process;
use crate::supervisor::core::{Input, Reason};
use crate::supervisor::task::After;
use crate::supervisor::{Phase, Supervisor, TaskKey, Timer};
use nix::sys::signal::Signal;
use std::time::Instant;

impl Supervisor {
    /// Stops every instance of a job; it stays listed as dead.
    pub(in crate::supervisor) fn stop_job(&mut self, id: &str) -> bool {
        let Some(&serial) = self.jobs.current.get(id) else { return false };
        if let Some(run) = self.jobs.runs.get_mut(&serial) {
            run.stopped = true;
        }
        let n = self.jobs.runs.get(&serial).map_or(0, |r| r.instances.len());
        for inst in 0..n {
            // A copy handed to a peer stops there too, and no hand-off of
            // it goes on.
            self.call_off(serial, inst);
            self.wind_down(serial, inst, None);
        }
        true
    }

    /// Stops every instance of every job, then supd exits. A second
    /// request kills what is left at once.
    /// `cause` (a signal's name, or a request over the control socket) is
    /// what the log says.
    pub(in crate::supervisor) fn shutdown(&mut self, cause: &str) {
        if self.stopping() {
            self.phase = Phase::Hurrying;
            log::warn!("{cause}: killing every task now");
            for pid in self.children.owned_by(|_| true) {
                let _ = process::signal_group(pid, Signal::SIGKILL);
            }
            return;
        }
        log::info!("{cause}: stopping every task");
        self.reports.notify.stopping();
        self.phase = Phase::Stopping;
        let all: Vec<(u64, usize)> =
            self.jobs.runs.iter().flat_map(|(s, r)| (0..r.instances.len()).map(move |i| (*s, i))).collect();
        for (serial, inst) in all {
            self.wind_down(serial, inst, None);
        }
        self.kill_hooks();
    }

    /// Every task has ended while supd stops: true once supd may exit. As
    /// init, whatever else is left (orphans of any origin) gets SIGTERM
    /// first, then SIGKILL after the longest kill_timeout.
    pub(in crate::supervisor) fn last_orphans_gone(&mut self, sweeping: &mut bool) -> bool {
        if self.children.take_sweep() {
            self.sweep_orphans();
        }
        if !self.cfg.init || process::own_children().is_empty() {
            return true;
        }
        if !*sweeping {
            *sweeping = true;
            let _ = process::signal_pid(nix::unistd::Pid::from_raw(-1), Signal::SIGTERM);
            self.io.timers.arm(Instant::now() + self.jobs.longest_kill_timeout(), Timer::SweepKill);
        }
        false
    }

    /// Stops the live tasks of an instance and lets nothing restart;
    /// `why` is the event each stopped task gets first.
    pub(in crate::supervisor) fn wind_down(&mut self, serial: u64, inst: usize, why: Option<Reason>) {
        self.step(serial, inst, Input::WindDown { why });
    }

    /// Stops a task's run (the core's `Input::Stop`): its kill signal,
    /// after its shutdown_delay when it is stopped for good, then SIGKILL
    /// after kill_timeout.
    pub(in crate::supervisor) fn stop_task(&mut self, key: TaskKey, after: After) {
        self.step(key.run, key.inst, Input::Stop { task: key.task, after });
    }

    /// Sends the kill signal now, and arms the SIGKILL escalation.
    pub(in crate::supervisor) fn send_kill(&mut self, key: TaskKey) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(pid) = t.pid else { return };
        // No name for the driver's default: a container is stopped by the
        // engine's stop (its image's STOPSIGNAL).
        let sig = t.spec.kill_signal.for_process();
        let name = t.spec.kill_signal.name().unwrap_or("");
        let timeout = t.spec.kill_timeout;
        let generation = t.generation;
        if let Err(e) = self.signal_task_as(key, sig, name) {
            log::warn!("cannot signal {} (pid {pid}): {e}", self.label(key));
        }
        self.io.timers.arm(Instant::now() + timeout, Timer::Escalate { task: key, generation });
    }

    /// Kills adopted orphans whose task is no longer running: daemons a
    /// task double-forked, or children left when it died. supd is their
    /// reaper, and they carry their instance and task in the environment.
    pub(in crate::supervisor) fn sweep_orphans(&mut self) {
        let mut killed = false;
        for pid in self.children.unowned() {
            let [Some(alloc), Some(task)] = process::environ_vars(pid, ["NOMAD_ALLOC_ID", "NOMAD_TASK_NAME"]) else {
                continue;
            };
            let running = self
                .jobs
                .runs
                .values()
                .flat_map(|r| &r.instances)
                .any(|i| i.id == alloc && i.tasks.iter().any(|t| t.spec.name == task && t.pid.is_some()));
            if !running {
                log::info!("killing pid {pid}, left behind by task {task} of instance {alloc}");
                let _ = process::signal_group(pid, Signal::SIGKILL);
                let _ = process::signal_pid(pid, Signal::SIGKILL);
                killed = true;
            }
        }
        // What was killed may leave children of its own to supd: the
        // orphans reaped next are looked at again.
        self.children.swept(killed);
    }
}
