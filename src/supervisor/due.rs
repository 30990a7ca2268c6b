//! What each due timer does: the loop pops due timers from `Timers` (at
//! most `TIMER_TURN` of work per turn) and hands each to its component.

use super::{Supervisor, TIMER_TURN, Timer, process};
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
            match timer {
                Timer::Start { task: key, generation } => {
                    if self.jobs.task(key).is_some_and(|t| t.generation == generation) {
                        self.start_task(key);
                        self.metrics_started(key);
                    }
                }
                Timer::Check { check: key, generation } => self.run_check(key, generation),
                Timer::Drain { task, stream } => self.drain_log(task, stream),
                Timer::LeftoverKill { task: key, pid } => {
                    if self.jobs.task(key).is_some_and(|t| t.leftover == Some(pid)) {
                        let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                        let _ = process::signal_pid(pid, nix::sys::signal::Signal::SIGKILL);
                    }
                }
                Timer::Kill { task: key, generation } => {
                    if self.jobs.task(key).is_some_and(|t| t.generation == generation) {
                        self.send_kill(key);
                    }
                }
                Timer::Survey { engine } => self.survey_engine(engine),
                Timer::Wake => {}
                Timer::RenderTimeout { task, generation } => self.render_timed_out(task, generation),
                Timer::Reap => {
                    let reaped = self.children.reap_again();
                    self.on_reaped(reaped);
                }
                Timer::Sweep => {
                    if self.children.take_sweep() {
                        self.sweep_orphans();
                    }
                }
                Timer::Release { seq } => {
                    if self.server.is_last_big_answer(seq) {
                        process::sys::trim_heap();
                        // The code that made the answers (the status view,
                        // the encoder) is mapped again at the next one.
                        process::sys::release_startup_code();
                    }
                }
                Timer::Save => {
                    self.reports.store.save_pending = false;
                    self.save();
                }
                Timer::SweepKill => {
                    let _ = process::signal_pid(Pid::from_raw(-1), nix::sys::signal::Signal::SIGKILL);
                }
                Timer::Watchdog => {
                    self.reports.notify.watchdog();
                    if let Some(every) = crate::notify::watchdog_interval() {
                        self.io.timers.arm(now + every, Timer::Watchdog);
                    }
                }
                Timer::CheckTimeout { check: key, probe } => self.check_timed_out(key, probe),
                Timer::TemplateChange { task, generation, template } => {
                    self.template_changed(task, generation, template)
                }
                Timer::ChangeScriptTimeout { pid } => self.change_script_timed_out(pid),
                Timer::Handoff { run: serial, inst, generation } => self.start_handoff(serial, inst, generation),
                Timer::HandoffTimeout { run: serial, inst, pid } => self.hook_timed_out(serial, inst, pid),
                Timer::HandoffAsk { run: serial, inst, generation } => self.ask_peer(serial, inst, generation),
                Timer::HandoffPoll => self.poll_peers(),
                Timer::RemoteTimeout { ask, pid } => self.remote_timed_out(ask, pid),
                Timer::CgroupRemove => self.remove_dying_cgroups(),
                Timer::MaxRun { run: serial, inst, since } => self.max_run_reached(serial, inst, since),
                Timer::Launch { run: serial, generation } => self.launch_due(serial, generation),
                Timer::Escalate { task: key, generation } => {
                    if let Some(t) = self.jobs.task(key)
                        && t.generation == generation
                        && t.pid.is_some()
                    {
                        log::info!("task {} outlived its kill_timeout; sending SIGKILL", t.spec.name);
                        let _ = self.signal_task(key, nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
        }
    }
}
