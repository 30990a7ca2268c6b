//! The shell around an instance's core (`supervisor/core`): an input
//! stepped through it at the loop's time, and each effect it returns
//! carried out with the loop's means (spawns, signals, timers, the journal).

use crate::supervisor::core::{self, Context, Effect, Input};
use crate::supervisor::task::State;
use crate::supervisor::{Phase, Supervisor, TaskKey, Timer};
use std::time::{Instant, SystemTime};

impl Supervisor {
    /// Steps the core of instance `inst` of run `serial` with `input`, and
    /// carries out what it returns; false when it returned nothing.
    pub(in crate::supervisor) fn step(&mut self, serial: u64, inst: usize, input: Input) -> bool {
        let effects = self.step_only(serial, inst, input);
        let any = !effects.is_empty();
        self.apply_effects(serial, inst, effects);
        any
    }

    /// The core's answer to `input`, the model changed, nothing done yet.
    pub(in crate::supervisor) fn step_only(&mut self, serial: u64, inst: usize, input: Input) -> Vec<Effect> {
        let cx = Context {
            now: Instant::now(),
            wall: SystemTime::now(),
            stopped: self.jobs.runs.get(&serial).is_none_or(|r| r.stopped),
            shutting_down: self.stopping(),
            hurrying: self.phase == Phase::Hurrying,
        };
        let Some(instance) = self.jobs.runs.get_mut(&serial).and_then(|r| r.instances.get_mut(inst)) else {
            return Vec::new();
        };
        core::step(instance, input, cx)
    }

    /// Carries out the core's effects, in order.
    pub(in crate::supervisor) fn apply_effects(&mut self, serial: u64, inst: usize, effects: Vec<Effect>) {
        let key = |task| TaskKey { run: serial, inst, task };
        for effect in effects {
            match effect {
                // A start that an earlier effect of the same list made
                // stale is dropped: the start of a sibling before it
                // failed at once and tore the instance down.
                Effect::Start(task) => {
                    if self.jobs.task(key(task)).is_some_and(|t| t.state == State::Pending) {
                        self.start_task(key(task))
                    }
                }
                Effect::Decided { task, decision } => {
                    let label = self.label(key(task));
                    if let Some(t) = self.jobs.task(key(task)) {
                        super::exits::log_decision(&label, t, &decision);
                    }
                }
                Effect::ArmStart { task, at, generation } => {
                    self.io.timers.arm(at, Timer::Start { task: key(task), generation })
                }
                Effect::Signal(task) => self.send_kill(key(task)),
                Effect::ArmKill { task, at, generation } => {
                    self.io.timers.arm(at, Timer::Kill { task: key(task), generation })
                }
                Effect::CancelSetup(task) => {
                    if let Some(fetch) = self.jobs.task_mut(key(task)).and_then(|t| t.setup.fetching.take()) {
                        fetch.cancel();
                    }
                }
                Effect::JournalStarted(task) => self.journal_started(key(task)),
                Effect::Journal(task) => self.journal_task(key(task)),
                Effect::Release(task) => self.release_cgroup(key(task)),
                Effect::Running(task) => {
                    self.placed(serial, inst);
                    self.activate_checks(key(task));
                }
                Effect::Changed => self.state_changed(),
                Effect::Advance => self.advance(serial, inst),
            }
        }
    }
}
