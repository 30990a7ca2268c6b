//! A task's run ended: its exit recorded, the restart policy's decision
//! carried out, and the coupling of its instance once it is dead for good.

use crate::policy::restart::{Decision, Outcome, RestartReason};
use crate::process::{self, Exit};
use crate::supervisor::core::Input;
use crate::supervisor::task::TaskRun;
use crate::supervisor::{Supervisor, TaskKey};
use nix::sys::signal::Signal;

impl Supervisor {
    /// A task's process ended: what it left goes with it, and the core
    /// carries the end into the model (`Input::Exited`).
    pub(in crate::supervisor) fn on_exit(&mut self, key: TaskKey, exit: Exit) {
        self.drain_logs(key);
        self.deactivate_checks(key);
        let oom = self.oom_killed(key, exit);
        let Some(t) = self.jobs.task(key) else { return };
        let pid = t.pid;
        let container = t.container.is_some();
        let mut message = match exit {
            Exit::Code(c) => format!("Exit Code: {c}"),
            Exit::Signal { signal: s, .. } => format!("Exit Code: {}, Signal: {s}", 128 + s),
            Exit::Unknown => {
                "Exit Code: unknown (the process was taken over from a previous supd: only its parent could read how it ended)"
                    .to_string()
            }
        };
        if oom {
            // Nomad's wording: the exit message of an OOM-killed task.
            message.push_str(", Exit Message: \"OOM Killed\"");
        }
        let shown = match exit {
            Exit::Code(c) => format!("exit code {c}"),
            Exit::Signal { signal: s, .. } => format!("signal {}", crate::signals::name(s)),
            Exit::Unknown => "an unknown status (taken over from a previous supd; counted as a failure)".to_string(),
        };
        let shown = if oom { format!("{shown} (OOM killed: it reached its memory limit)") } else { shown };
        log::info!("{} (pid {}) ended with {shown}", self.label(key), pid.map_or(0, |p| p.as_raw()));
        // Whatever the task left in its process group goes with it, and
        // in its cgroup whatever left the group (a container's engine
        // does this for its own).
        if let Some(pid) = pid
            && !container
        {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
        // Before the cgroup's next run; a task that ends for good has its
        // cgroup emptied when it is removed.
        if !self.stopping() {
            self.kill_cgroup(key);
        }
        self.sweep_soon();
        let jitter = self.io.rng.jitter();
        self.step(key.run, key.inst, Input::Exited { task: key.task, exit, message, jitter });
    }

    /// Applies the restart policy to how a task's run ended (the core's
    /// `Input::Ended`): a restart armed, or the task dead for good and its
    /// siblings coupled to that.
    pub(in crate::supervisor) fn decide(&mut self, key: TaskKey, outcome: Outcome) {
        let jitter = self.io.rng.jitter();
        self.step(key.run, key.inst, Input::Ended { task: key.task, outcome, jitter });
    }
}

/// Every restart decision in supd's own log, one line each (what `docker
/// logs` of a container whose init is supd tells): how the run ended, and
/// the restart with its delay and its place in the policy's budget, or why
/// there is none.
pub(super) fn log_decision(label: &str, t: &TaskRun, decision: &Decision) {
    let ended = match t.exit {
        Some(Exit::Code(c)) => format!("exit code {c}"),
        Some(Exit::Signal { signal, .. }) => format!("signal {}", crate::signals::name(signal)),
        Some(Exit::Unknown) => "an unknown status".to_string(),
        None => "a failed start".to_string(),
    };
    let p = t.tracker.policy();
    let d = crate::jobspec::duration::GoDuration;
    match decision {
        Decision::Restart { reason: RestartReason::UserRequested, delay } => {
            log::info!("{label}: ended with {ended}; restarting in {} as asked (no attempt spent)", d(*delay))
        }
        Decision::Restart { reason, delay } => log::info!(
            "{label}: ended with {ended}; restarting in {}{} (attempt {} of {} in {})",
            d(*delay),
            if *reason == RestartReason::WindowFull { ", once the interval allows" } else { "" },
            t.tracker.in_history(),
            p.attempts,
            d(p.interval)
        ),
        Decision::Fail { reason } => log::warn!("{label}: ended with {ended}; not restarting: {reason}"),
        Decision::Complete | Decision::Killed => {}
    }
}
