//! The change mode of a template rendered again while its task runs:
//! nothing, a restart, a signal, or a `change_script` run in the task's
//! environment (its timeout, how it ended).

use crate::jobspec::duration::GoDuration;
use crate::jobspec::taskdir_blocks::ChangeMode;
use crate::policy::restart::Outcome;
use crate::process;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{After, State};
use crate::supervisor::{Owner, Supervisor, TaskKey, Timer, launch};
use std::time::Instant;

impl Supervisor {
    /// A re-rendered template's change mode, after its splay.
    pub(in crate::supervisor) fn template_changed(&mut self, key: TaskKey, generation: u64, template: usize) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        if t.generation != generation || t.state != State::Running || t.stopping.is_some() {
            return;
        }
        let Some(mode) = t.spec.templates.get(template).map(|tpl| tpl.change_mode.clone()) else { return };
        match mode {
            ChangeMode::Noop => {}
            ChangeMode::Restart => {
                t.push_event(EventKind::RestartSignaled, "Template with change_mode restart re-rendered");
                self.stop_task(key, After::Restart(Outcome::UserRestart));
            }
            ChangeMode::Signal(name) => {
                let Some(pid) = t.pid else { return };
                let Some(sig) = crate::signals::parse(&name) else { return };
                t.push_event(
                    EventKind::Signaling,
                    format!("Task being sent signal {}: Template re-rendered", sig.as_str()),
                );
                if let Err(e) = process::signal_pid(pid, sig) {
                    log::warn!("{}: cannot send {}: {e}", self.label(key), sig.as_str());
                }
            }
            ChangeMode::Script(script) => {
                let Some(run) = self.jobs.runs.get(&key.run) else { return };
                let Some(instance) = run.instances.get(key.inst) else { return };
                let Some(t) = instance.tasks.get(key.task) else { return };
                // In the task's environment and directory, as Nomad's exec.
                let spec = launch::spawn_spec(&self.cfg.node, run, instance, t, Some((&script.command, &script.args)));
                match spec
                    .map_err(|e| e.to_string())
                    .and_then(|s| process::spawn(&s, process::Io::Null, process::Io::Null).map_err(|e| e.to_string()))
                {
                    Ok(pid) => {
                        self.children.own(pid, Owner::ChangeScript { task: key, template });
                        self.io.timers.arm(Instant::now() + script.timeout, Timer::ChangeScriptTimeout { pid });
                    }
                    Err(e) => self.change_script_failed(
                        key,
                        template,
                        format!(
                            "Template failed to run script {} with arguments [{}]: {e}",
                            script.command,
                            script.args.join(" ")
                        ),
                    ),
                }
            }
        }
    }

    /// A `change_script` outlived its timeout: killed, its end is a failure.
    pub(in crate::supervisor) fn change_script_timed_out(&mut self, pid: nix::unistd::Pid) {
        if self.children.owns(pid) {
            self.pending.setup.timed_out.insert(pid);
            let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// A `change_script` ended: Nomad's words for how; a failure with
    /// `fail_on_error` stops the task for good, failed.
    pub(in crate::supervisor) fn on_change_script_exit(
        &mut self,
        key: TaskKey,
        template: usize,
        pid: nix::unistd::Pid,
        exit: process::Exit,
    ) {
        let timed_out = self.pending.setup.timed_out.remove(&pid);
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(ChangeMode::Script(script)) = t.spec.templates.get(template).map(|tpl| tpl.change_mode.clone()) else {
            return;
        };
        match exit {
            process::Exit::Code(0) if !timed_out => {
                t.push_event(
                    EventKind::TaskHookMessage,
                    format!(
                        "Template successfully ran script {} with arguments: [{}]. Exit code: 0",
                        script.command,
                        script.args.join(" ")
                    ),
                );
            }
            _ => {
                let how = match exit {
                    _ if timed_out => format!("timed out after {}", GoDuration(script.timeout)),
                    process::Exit::Code(c) => format!("exited with code: {c}"),
                    process::Exit::Signal { signal, .. } => format!("was killed by {}", crate::signals::name(signal)),
                    process::Exit::Unknown => "ended".to_string(),
                };
                let why = format!(
                    "Template ran script {} with arguments [{}] on change but it {how}",
                    script.command,
                    script.args.join(" ")
                );
                self.change_script_failed(key, template, why);
            }
        }
    }

    fn change_script_failed(&mut self, key: TaskKey, template: usize, why: String) {
        log::warn!("{}: {why}", self.label(key));
        let Some(t) = self.jobs.task_mut(key) else { return };
        t.push_event(EventKind::TaskHookFailed, why);
        let fail = matches!(
            t.spec.templates.get(template).map(|tpl| &tpl.change_mode),
            Some(ChangeMode::Script(s)) if s.fail_on_error
        );
        if fail && t.state == State::Running && t.stopping.is_none() {
            // Nomad kills it with a failing event.
            t.push_event(EventKind::TaskHookFailed, "Template script failed, task is being killed");
            t.failed = true;
            self.stop_task(key, After::Killed);
        }
    }
}
