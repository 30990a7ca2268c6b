//! The core of an instance's life, without I/O: `step` takes the instance's
//! model, one thing that happened (`Input`) and the moment it happened
//! (`Context`: the time, and whether the job or supd is stopping), changes
//! the model, and returns what the shell must do (`Effect`s, in order). It
//! reads no clock, draws no random number (the restart jitter comes with
//! the input), spawns, signals and writes nothing; the loop (`run/`) turns
//! the world's events into inputs and carries the effects out.
//!
//! What it decides: whose turn it is to start (prestart → main → poststart,
//! poststop last; `lifecycle::turn`), what the restart policy makes of a
//! run's end (`policy::restart`), what that end does to the siblings
//! (`lifecycle::coupling`), how a stop tears the instance down
//! (`lifecycle::teardown`), how one task is stopped (`Killing`, its
//! shutdown_delay, its kill signal) and what its end then means, what an
//! operator's restart does, and whether a due start still stands (a
//! poststop task's waits while another task lives again). The
//! property tests (`props.rs`) replay random sequences of inputs through
//! it and check what must always hold: at most one run of a task at a
//! time, no restart past the policy's budget, nothing but poststop tasks
//! started once the instance winds down, and every end for good journaled
//! in the step that makes it.

pub mod lifecycle;
#[cfg(test)]
mod props;

use crate::policy::restart::{Decision, Outcome};
use crate::process::Exit;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{After, Instance, State, TaskRun};
pub use lifecycle::Reason;
use lifecycle::Teardown;
use std::time::{Instant, SystemTime};

/// When an input happened, and what the rest of supd is doing.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The loop's clock at the input.
    pub now: Instant,
    /// The wall clock at the input (what events and statuses show).
    pub wall: SystemTime,
    /// The instance's job version is stopped (or replaced): nothing of it
    /// starts again.
    pub stopped: bool,
    /// supd itself is stopping.
    pub shutting_down: bool,
    /// supd was asked to stop a second time: no shutdown_delay is waited for.
    pub hurrying: bool,
}

impl Context {
    /// Nothing but poststop tasks starts, and nothing restarts.
    fn halting(&self, instance: &Instance) -> bool {
        self.stopped || self.shutting_down || instance.winding_down
    }
}

/// What happened to an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Start the tasks whose turn has come; end unstarted those that can
    /// no longer start.
    Advance,
    /// A start the loop armed (`Effect::ArmStart`, or another part of
    /// supd) is due; it stands only while the task waits for it with the
    /// same generation.
    StartDue { task: usize, generation: u64 },
    /// The task's run has started (its pid is in the model).
    Started { task: usize },
    /// The task's process ended as `exit`; `message` is its `Terminated`
    /// event. Why it was being stopped, if it was, makes the outcome the
    /// restart policy decides on; `jitter` as for `Ended`.
    Exited { task: usize, exit: Exit, message: String, jitter: f64 },
    /// The task's start failed (`StartError`), or a run ended with this
    /// outcome: `jitter` is the sample in [0, 1) the restart delay is drawn
    /// with.
    Ended { task: usize, outcome: Outcome, jitter: f64 },
    /// Stop the task's run, for good or to restart it (`after`).
    Stop { task: usize, after: After },
    /// The operator restarts the task (`reason`: its event's message): a
    /// running one is stopped and starts again outside its budget; a dead
    /// one starts now, and its instance comes back to life as a whole; a
    /// pending one starts on its own (after its restart delay, or once its
    /// prestart tasks are done), so nothing changes.
    Restart { task: usize, reason: &'static str },
    /// The shutdown_delay of a stop (`Effect::ArmKill`) is over; it stands
    /// while the run it was for goes on.
    KillDue { task: usize, generation: u64 },
    /// Stop every live task and restart none; `why` is the event each
    /// stopped or cancelled task gets first.
    WindDown { why: Option<Reason> },
}

/// What the shell does, in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start the task now (its setup, cgroup, spawn or container).
    Start(usize),
    /// The restart policy's decision about the task's run: for the log.
    Decided { task: usize, decision: Decision },
    /// Make `Input::StartDue { task, generation }` due at `at`.
    ArmStart { task: usize, at: Instant, generation: u64 },
    /// Send the task's run its kill signal now, and SIGKILL after its
    /// kill_timeout.
    Signal(usize),
    /// Make `Input::KillDue { task, generation }` due at `at` (the end of a
    /// shutdown_delay).
    ArmKill { task: usize, at: Instant, generation: u64 },
    /// The task's pre-start work in flight (an artifact fetch) is given up.
    CancelSetup(usize),
    /// The task's run is on record now (its pid, before anything else).
    JournalStarted(usize),
    /// The task is dead for good: its record is written.
    Journal(usize),
    /// The task's cgroup goes (and whatever else is held for its next run).
    Release(usize),
    /// The task runs: the instance is placed, its checks start.
    Running(usize),
    /// The state changed: save it (now if a client waits, else soon).
    Changed,
    /// The instance's turn moved: advance it (`Input::Advance`, then what
    /// the shell does once an instance may have ended).
    Advance,
}

/// Carries one input into the instance's model; returns what to do.
pub fn step(instance: &mut Instance, input: Input, cx: Context) -> Vec<Effect> {
    let mut out = Vec::new();
    match input {
        Input::Advance => advance(instance, cx, &mut out),
        Input::StartDue { task, generation } => {
            let waits = lifecycle::waits_for_others(&instance.tasks, task);
            if let Some(t) = instance.tasks.get_mut(task)
                && t.generation == generation
                && t.state == State::Pending
            {
                if waits {
                    // Its turn comes again once the others are dead.
                    t.launched = false;
                } else {
                    out.push(Effect::Start(task));
                }
            }
        }
        Input::Started { task } => started(instance, task, cx, &mut out),
        Input::Exited { task, exit, message, jitter } => exited(instance, task, exit, message, jitter, cx, &mut out),
        Input::Ended { task, outcome, jitter } => ended(instance, task, outcome, jitter, cx, &mut out),
        Input::Stop { task, after } => stop(instance, task, after, cx, &mut out),
        Input::Restart { task, reason } => restart(instance, task, reason, cx, &mut out),
        Input::KillDue { task, generation } => {
            if instance.tasks.get(task).is_some_and(|t| t.generation == generation && t.pid.is_some()) {
                out.push(Effect::Signal(task));
            }
        }
        Input::WindDown { why } => wind_down(instance, why, cx, &mut out),
    }
    out
}

fn advance(instance: &mut Instance, cx: Context, out: &mut Vec<Effect>) {
    let turn = lifecycle::turn(&instance.tasks, cx.halting(instance));
    for &ti in &turn.never_run {
        let t = &mut instance.tasks[ti];
        t.launched = true;
        t.state = State::Dead;
        t.ended_by_shutdown = cx.shutting_down;
    }
    // All are marked before any starts: starting one advances the
    // instance again, which must not start the others a second time.
    for &ti in &turn.start {
        instance.tasks[ti].launched = true;
    }
    out.extend(turn.start.into_iter().map(Effect::Start));
}

fn started(instance: &mut Instance, task: usize, cx: Context, out: &mut Vec<Effect>) {
    let Some(t) = instance.tasks.get_mut(task) else { return };
    t.state = State::Running;
    t.launched = true;
    t.push_event_at(EventKind::Started, "Task started by client", cx.wall);
    // The new pid is on record before supd can lose track of it (and
    // before anything else is written).
    out.extend([Effect::JournalStarted(task), Effect::Running(task), Effect::Changed, Effect::Advance]);
}

/// A run's end in the model: its process is gone, a stop in progress is
/// over (the generation moves on, which cancels its SIGKILL), and the
/// outcome follows from why it was stopped, if it was.
fn exited(
    instance: &mut Instance,
    task: usize,
    exit: Exit,
    message: String,
    jitter: f64,
    cx: Context,
    out: &mut Vec<Effect>,
) {
    let Some(t) = instance.tasks.get_mut(task) else { return };
    t.pid = None;
    t.generation += 1;
    t.exit = Some(exit);
    t.finished_at = Some(cx.wall);
    t.push_event_at(EventKind::Terminated, message, cx.wall);
    let outcome = match t.stopping.take() {
        Some(After::Killed) => Outcome::Killed,
        Some(After::Restart(Outcome::FailureRestart { .. })) => Outcome::FailureRestart { success: exit.success() },
        Some(After::Restart(o)) => o,
        None => Outcome::Exited { success: exit.success() },
    };
    ended(instance, task, outcome, jitter, cx, out);
}

/// A stop of a task's run: a task without a process is left alone; one
/// already being stopped is stopped for good if that is asked now (a stop
/// for good wins over a restart). `Killing` comes first, and only on a stop
/// for good: Nomad's restart path (restartImpl) kills without it. A task
/// stopped for good first gets its shutdown_delay, as in Nomad, so that
/// clients can drain; a restart does not wait, nor a second shutdown.
fn stop(instance: &mut Instance, task: usize, after: After, cx: Context, out: &mut Vec<Effect>) {
    let Some(t) = instance.tasks.get_mut(task) else { return };
    if t.pid.is_none() {
        return;
    }
    if t.stopping.is_some() {
        if after == After::Killed && t.stopping != Some(After::Killed) {
            killing(t, cx.wall);
            t.stopping = Some(After::Killed);
        }
        return;
    }
    t.stopping = Some(after);
    if after == After::Killed {
        killing(t, cx.wall);
    }
    let delay = t.spec.group_shutdown_delay + t.spec.shutdown_delay;
    if after == After::Killed && !delay.is_zero() && !cx.hurrying {
        t.push_event_at(
            EventKind::WaitingForShutdownDelay,
            format!(
                "Waiting for shutdown_delay of {} before killing the task.",
                crate::jobspec::duration::GoDuration(delay)
            ),
            cx.wall,
        );
        out.push(Effect::ArmKill { task, at: cx.now + delay, generation: t.generation });
        return;
    }
    out.push(Effect::Signal(task));
}

fn restart(instance: &mut Instance, task: usize, reason: &'static str, cx: Context, out: &mut Vec<Effect>) {
    let Some(t) = instance.tasks.get_mut(task) else { return };
    match t.state {
        State::Running => {
            t.push_event_at(EventKind::RestartSignaled, reason, cx.wall);
            stop(instance, task, After::Restart(Outcome::UserRestart), cx, out);
        }
        State::Pending => {}
        State::Dead => {
            t.push_event_at(EventKind::RestartSignaled, reason, cx.wall);
            t.generation += 1;
            t.failed = false;
            t.state = State::Pending;
            t.launched = true;
            out.push(Effect::ArmStart { task, at: cx.now, generation: t.generation });
            instance.winding_down = false;
        }
    }
}

/// The restart policy's decision carried into the model; a task dead for
/// good then couples to its siblings (reference §5).
fn ended(instance: &mut Instance, task: usize, outcome: Outcome, jitter: f64, cx: Context, out: &mut Vec<Effect>) {
    let halting = cx.halting(instance);
    let Some(t) = instance.tasks.get_mut(task) else { return };
    let mut decision = t.tracker.decide(outcome, cx.now, jitter);
    if halting {
        decision = lifecycle::while_winding_down(decision, outcome);
    }
    out.push(Effect::Decided { task, decision: decision.clone() });
    match decision {
        Decision::Restart { delay, .. } => {
            if let Some(m) = decision.message() {
                t.push_event_at(EventKind::Restarting, m, cx.wall);
            }
            t.state = State::Pending;
            t.restarts += 1;
            t.last_restart = Some(cx.wall);
            t.generation += 1;
            // Not journaled: the start that follows is, and if supd dies
            // before it, the run it saw last counts (persist.rs).
            out.extend([Effect::ArmStart { task, at: cx.now + delay, generation: t.generation }, Effect::Changed]);
            return;
        }
        Decision::Fail { reason } => {
            t.push_event_at(EventKind::NotRestarting, reason, cx.wall);
            t.failed = true;
        }
        Decision::Complete => {}
        Decision::Killed => {
            t.ended_by_shutdown = cx.shutting_down;
            t.push_event_at(EventKind::Killed, "Task successfully killed", cx.wall);
        }
    }
    t.state = State::Dead;
    t.finished_at = Some(cx.wall);
    out.extend([Effect::Journal(task), Effect::Changed, Effect::Release(task)]);
    match lifecycle::coupling(instance, task) {
        Some(why) => wind_down(instance, Some(why), cx, out),
        None => out.push(Effect::Advance),
    }
}

/// Tears the instance down: live tasks stopped, waiting ones cancelled;
/// nothing restarts from now on.
fn wind_down(instance: &mut Instance, why: Option<Reason>, cx: Context, out: &mut Vec<Effect>) {
    instance.winding_down = true;
    for (ti, teardown) in lifecycle::teardown(&instance.tasks) {
        let t = &mut instance.tasks[ti];
        if let Some(why) = &why {
            t.push_event_at(why.kind, why.message.clone(), cx.wall);
        }
        match teardown {
            Teardown::Stop => stop(instance, ti, After::Killed, cx, out),
            Teardown::Cancel => {
                // As Nomad's killTasks, a task that has not started yet
                // (or waits out a restart delay) gets the reason and
                // `Killing` too; its run then ends without `Killed`.
                t.generation += 1;
                killing(t, cx.wall);
                t.state = State::Dead;
                t.finished_at = Some(cx.wall);
                t.launched = true;
                t.ended_by_shutdown = cx.shutting_down;
                out.extend([Effect::CancelSetup(ti), Effect::Release(ti)]);
            }
        }
    }
    out.push(Effect::Advance);
}

/// Records that a task is being stopped for good, in Nomad's words
/// (nomad/structs/structs.go, PopulateEventDisplayMessage, TaskKilling:
/// `fmt.Sprintf("Sent interrupt. Waiting %v before force killing", e.KillTimeout)`).
/// A task stopped for a reason of its own (`kill_reason`) has that as the
/// message instead, as Nomad's `SetDisplayMessage`.
pub fn killing(t: &mut TaskRun, wall: SystemTime) {
    let message = match t.kill_reason.take() {
        Some(reason) => reason.to_string(),
        None => format!(
            "Sent interrupt. Waiting {} before force killing",
            crate::jobspec::duration::GoDuration(t.spec.kill_timeout)
        ),
    };
    t.push_event_at(EventKind::Killing, message, wall);
}
