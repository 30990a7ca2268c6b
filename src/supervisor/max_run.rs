//! `max_run_duration` of batch and sysbatch groups: an instance that has
//! run that long since its first task started has its tasks stopped with
//! their kill signal, as Nomad's client does (its `max_run_duration` hook):
//! each task's `Killing` event and the instance's description say
//! "allocation exceeded max_run_duration", the instance ends `complete`,
//! and nothing of it is restarted or handed off for it.

use super::Supervisor;
use super::task::State;
use super::timers::Timer;
use crate::jobspec::model::Hook;
use crate::supervisor::task::EventKind;
use std::time::{Instant, SystemTime};

/// Nomad's words (`structs.AllocTimeoutReasonMaxRunDuration`).
pub const EXCEEDED: &str = "allocation exceeded max_run_duration";

impl Supervisor {
    /// The first task of an instance has started: the instance is placed
    /// now, and its group's `max_run_duration` counts from here.
    pub(super) fn placed(&mut self, serial: u64, inst: usize) {
        self.placed_at(serial, inst, Instant::now());
    }

    /// The instance was placed at `at` (earlier than now for one taken
    /// over across a re-exec): its `max_run_duration` counts from then.
    pub(super) fn placed_at(&mut self, serial: u64, inst: usize, at: Instant) {
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return };
        let Some(i) = run.instances.get_mut(inst) else { return };
        if i.placed_at.is_some() {
            return;
        }
        i.placed_at = Some(at);
        if let Some(limit) = run.job.groups.get(i.group).and_then(|g| g.max_run_duration) {
            self.io.timers.arm(at + limit, Timer::MaxRun { run: serial, inst, since: at });
        }
    }

    /// The instance placed at `since` has run for its `max_run_duration`:
    /// its tasks are stopped for good.
    pub(super) fn max_run_reached(&mut self, serial: u64, inst: usize, since: Instant) {
        let Some(i) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) else { return };
        // Placed again since (taken back after a hand-off), already ended,
        // or already being stopped: not this timer's business.
        if i.placed_at != Some(since) || i.winding_down || !i.is_live() {
            return;
        }
        i.description = Some(EXCEEDED);
        for t in i.tasks.iter_mut().filter(|t| t.state != State::Dead) {
            t.kill_reason = Some(EXCEEDED);
            // As Nomad, a poststop task that has not run yet does not run
            // at all now.
            if t.state == State::Pending && t.hook() == Some(Hook::Poststop) {
                t.generation += 1;
                t.kill_reason = None;
                t.push_event(EventKind::Killing, EXCEEDED);
                t.state = State::Dead;
                t.launched = true;
                t.finished_at = Some(SystemTime::now());
            }
        }
        log::info!("{}: {EXCEEDED}; stopping its tasks", i.name);
        self.wind_down(serial, inst, None);
        self.state_changed();
    }
}
