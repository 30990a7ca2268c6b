//! What each due timer does: the loop pops due timers from `Timers` (at
//! most `TIMER_TURN` of work per turn) and hands each to its component.

use super::{Supervisor, TIMER_TURN, TaskKey, Timer, process};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::Instant;

impl Supervisor {
    pub(super) fn run_due_timers(&mut self) {
        let now = Instant::now();
        // A turn does at most TIMER_TURN of due work (500 tasks restarting
        // at once are many spawns): what is left stays due, so the next
        // poll returns at once, after the sockets that are ready (a
        // `status` waiting) have had their turn.
        let turn_ends = now + TIMER_TURN;
        while Instant::now() < turn_ends
            && let Some(timer) = self.io.timers.pop_due(now)
        {
            // One exhaustive match: a new timer does not compile until it
            // is given its work here.
            match timer {
                Timer::Start { task, generation } => self.start_due(task, generation),
                Timer::Check { check, generation } => self.run_check(check, generation),
                Timer::Drain { task, stream } => self.drain_log(task, stream),
                Timer::LeftoverKill { task, pid } => self.leftover_kill_due(task, pid),
                Timer::Kill { task, generation } => self.kill_due(task, generation),
                Timer::RenderTimeout { task, generation } => self.render_timed_out(task, generation),
                Timer::CheckTimeout { check, probe } => self.check_timed_out(check, probe),
                Timer::TemplateChange { task, generation, template } => {
                    self.template_changed(task, generation, template)
                }
                Timer::ChangeScriptTimeout { pid } => self.change_script_timed_out(pid),
                Timer::Escalate { task, generation } => self.escalate_due(task, generation),
                Timer::Handoff { run, inst, generation } => self.start_handoff(run, inst, generation),
                Timer::HandoffTimeout { run, inst, pid } => self.hook_timed_out(run, inst, pid),
                Timer::HandoffAsk { run, inst, generation } => self.ask_peer(run, inst, generation),
                Timer::HandoffPoll => self.poll_peers(),
                Timer::RemoteTimeout { ask, pid } => self.remote_timed_out(ask, pid),
                Timer::MaxRun { run, inst, since } => self.max_run_reached(run, inst, since),
                Timer::Launch { run, generation } => self.launch_due(run, generation),
                Timer::Survey { engine } => self.survey_engine(engine),
                Timer::Wake => {}
                Timer::Reap => {
                    let reaped = self.children.reap_again();
                    self.on_reaped(reaped);
                }
                Timer::Sweep => self.sweep_due(),
                Timer::Release { seq } => self.release_due(seq),
                Timer::Save => {
                    self.reports.store.save_pending = false;
                    self.save();
                }
                Timer::SweepKill => {
                    let _ = process::signal_pid(Pid::from_raw(-1), Signal::SIGKILL);
                }
                Timer::Watchdog => self.watchdog_due(now),
                Timer::CgroupRemove => self.remove_dying_cgroups(),
            }
        }
    }

    /// A task's (re)start, if its generation still matches.
    fn start_due(&mut self, key: TaskKey, generation: u64) {
        if self.step(key.run, key.inst, crate::supervisor::core::Input::StartDue { task: key.task, generation }) {
            self.metrics_started(key);
        }
    }

    /// A previous supd's process that outlived its kill_timeout: SIGKILL.
    fn leftover_kill_due(&mut self, key: TaskKey, pid: Pid) {
        if self.jobs.task(key).is_some_and(|t| t.leftover == Some(pid)) {
            let _ = process::signal_group(pid, Signal::SIGKILL);
            let _ = process::signal_pid(pid, Signal::SIGKILL);
        }
    }

    /// A task's kill signal after its shutdown_delay.
    fn kill_due(&mut self, key: TaskKey, generation: u64) {
        self.step(key.run, key.inst, crate::supervisor::core::Input::KillDue { task: key.task, generation });
    }

    /// A task that outlived its kill_timeout: SIGKILL.
    fn escalate_due(&mut self, key: TaskKey, generation: u64) {
        if let Some(t) = self.jobs.task(key)
            && t.generation == generation
            && t.pid.is_some()
        {
            log::info!("task {} outlived its kill_timeout; sending SIGKILL", t.spec.name);
            let _ = self.signal_task(key, Signal::SIGKILL);
        }
    }

    /// Orphans of ended tasks, looked for once for exits close together.
    fn sweep_due(&mut self) {
        if self.children.take_sweep() {
            self.sweep_orphans();
        }
    }

    /// Large answers have stopped: the heap and the code they used go
    /// back, if no answer came since.
    fn release_due(&mut self, seq: u64) {
        if self.server.is_last_big_answer(seq) {
            process::sys::trim_heap();
            // The code that made the answers (the status view, the
            // encoder) is mapped again at the next one.
            process::sys::release_startup_code();
        }
    }

    /// systemd's watchdog is told the loop is alive, and asked again.
    fn watchdog_due(&mut self, now: Instant) {
        self.reports.notify.watchdog();
        if let Some(every) = crate::notify::watchdog_interval() {
            self.io.timers.arm(now + every, Timer::Watchdog);
        }
    }
}
