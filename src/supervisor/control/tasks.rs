//! The requests about tasks: `restart` (which also takes handed-off
//! instances back) and `signal` (`0`: a probe), and signals supd forwards
//! to every task.

use crate::control::protocol::Response;
use crate::process;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::State;
use crate::supervisor::{Supervisor, TaskKey};

impl Supervisor {
    pub(super) fn restart(&mut self, target: &str) -> Response {
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e.to_string()),
        };
        // Nomad's words (client/client.go, RestartAllocation): a named task,
        // or every running task of the target.
        let reason = if self.resolve(target).is_ok_and(|s| s.task.is_some()) {
            "User requested task to restart"
        } else {
            "User requested running tasks to restart"
        };
        if keys.first().is_some_and(|k| self.jobs.runs.get(&k.run).is_some_and(|r| r.stopped)) {
            return Response::refused(format!("{target}: the job is stopped — submit it again with `supctl job run`"));
        }
        let mut messages = Vec::new();
        let keys = self.take_back_selected(keys, &mut messages);
        let not_running = self.restart_tasks(keys, reason, &mut messages);
        if messages.is_empty() {
            let why = if not_running.is_empty() { String::new() } else { format!(": {}", not_running.join("; ")) };
            return Response::refused(format!("{target}: no task to restart{why}"));
        }
        messages.extend(not_running);
        Response::ok(messages)
    }

    /// The first part of `restart`: the instances of `keys` that are handed
    /// off (or on their way) are taken back, what it says going in
    /// `messages`. Returns the keys of the other instances' tasks.
    fn take_back_selected(&mut self, mut keys: Vec<TaskKey>, messages: &mut Vec<String>) -> Vec<TaskKey> {
        // A handed-off instance (or one waiting to be) runs here again, as a
        // whole and afresh; a failed one forgets its hand-off history.
        let mut taken_back = Vec::new();
        for key in &keys {
            let Some(i) = self.jobs.runs.get_mut(&key.run).and_then(|r| r.instances.get_mut(key.inst)) else {
                continue;
            };
            match i.resched {
                crate::supervisor::task::Resched::HandedOff(_)
                | crate::supervisor::task::Resched::Waiting { .. }
                | crate::supervisor::task::Resched::Trying(_) => {
                    if !taken_back.contains(&(key.run, key.inst)) {
                        taken_back.push((key.run, key.inst));
                    }
                }
                crate::supervisor::task::Resched::Stay { .. } => {
                    i.resched = crate::supervisor::task::Resched::Idle;
                    i.history.clear();
                }
                crate::supervisor::task::Resched::Idle => {}
            }
        }
        keys.retain(|k| !taken_back.contains(&(k.run, k.inst)));
        for (serial, inst) in taken_back {
            let name = self
                .jobs
                .runs
                .get(&serial)
                .and_then(|r| r.instances.get(inst))
                .map_or(String::new(), |i| i.name.clone());
            self.take_back(serial, inst);
            messages.push(format!("instance {name} runs here again"));
        }
        keys
    }

    /// Restarts each running task of `keys` and starts each dead one, what
    /// it does going in `messages`. Returns why the others were left alone.
    fn restart_tasks(&mut self, keys: Vec<TaskKey>, reason: &'static str, messages: &mut Vec<String>) -> Vec<String> {
        let mut not_running = Vec::new();
        for key in keys {
            let Some(t) = self.jobs.task(key) else { continue };
            let name = t.spec.name.clone();
            match t.state {
                State::Running => messages.push(format!("restarting task {name}")),
                // As Nomad (taskrunner/lifecycle.go, Restart: `case
                // structs.TaskStatePending, structs.TaskStateDead:
                // return te.ErrTaskNotRunning`): it starts on its own,
                // after its restart delay or once its prestart tasks are
                // done, and an early start would skip either.
                State::Pending => {
                    not_running.push(format!("task {name:?} is not running (pending): it starts on its own"))
                }
                // Dead: start it now (unlike Nomad, see supctl(1)).
                State::Dead => messages.push(format!("starting task {name}")),
            }
            self.step(key.run, key.inst, crate::supervisor::core::Input::Restart { task: key.task, reason });
        }
        not_running
    }

    pub(super) fn signal(&mut self, target: &str, signal: &str) -> Response {
        if signal.trim() == "0" {
            return self.probe(target);
        }
        let Some(sig) = crate::signals::parse(signal) else {
            return Response::refused(format!(
                "unknown signal {signal:?} — use a name such as SIGHUP, a number, or 0 to test that the tasks are alive"
            ));
        };
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e.to_string()),
        };
        let mut messages = Vec::new();
        for key in keys {
            let Some(t) = self.jobs.task_mut(key) else { continue };
            let Some(pid) = t.pid else { continue };
            // Nomad's alloc runner names no signal in the event
            // (structs.go: `if sig == "" && reason == "" { desc = "Task being sent a signal" }`).
            t.push_event(EventKind::Signaling, "Task being sent a signal");
            let name = t.spec.name.clone();
            match self.signal_task(key, sig) {
                Ok(()) => messages.push(format!("sent {} to task {name} (pid {pid})", sig.as_str())),
                Err(e) => return Response::refused(format!("cannot signal task {name}: {e}")),
            }
        }
        if messages.is_empty() {
            return Response::refused(format!("{target}: no running task to signal"));
        }
        Response::ok(messages)
    }

    /// `signal TARGET 0`: whether the target's tasks are alive, as kill(2)
    /// with no signal tells; nothing is sent and no event is recorded.
    fn probe(&self, target: &str) -> Response {
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e.to_string()),
        };
        let mut messages = Vec::new();
        for key in keys {
            let Some(t) = self.jobs.task(key) else { continue };
            let Some(pid) = t.pid else { continue };
            match process::probe_group(pid) {
                Ok(true) => messages.push(format!("task {} (pid {pid}) is alive", t.spec.name)),
                Ok(false) => {}
                Err(e) => return Response::refused(format!("cannot probe task {}: {e}", t.spec.name)),
            }
        }
        if messages.is_empty() {
            return Response::refused(format!("{target}: no running task"));
        }
        Response::ok(messages)
    }

    /// Sends `sig` to every task that runs (a host task's process group,
    /// a container's first process), and says so once.
    pub(in crate::supervisor) fn forward_signal(&mut self, sig: i32) {
        let Ok(signal) = nix::sys::signal::Signal::try_from(sig) else { return };
        let keys: Vec<TaskKey> =
            self.jobs.task_keys().into_iter().filter(|k| self.jobs.task(*k).is_some_and(|t| t.pid.is_some())).collect();
        let mut sent = 0;
        for key in keys {
            match self.signal_task(key, signal) {
                Ok(()) => sent += 1,
                Err(e) => log::warn!("{}: cannot forward {}: {e}", self.label(key), crate::signals::name(sig)),
            }
        }
        log::info!(
            "{}: forwarded to {sent} running task{}",
            crate::signals::name(sig),
            if sent == 1 { "" } else { "s" }
        );
    }
}
