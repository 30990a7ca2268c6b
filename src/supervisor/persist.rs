//! What survives a restart of supd, from the loop's side: the state is
//! saved (shortly after a change; changes close together share one write)
//! and read back at start, where submitted jobs run again, stopped ones
//! stay stopped, and saved task states wait to be matched with their tasks.

use super::run::Source;
use super::{Supervisor, Timer, handoff, task};
use crate::jobspec;
use crate::process;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Saved states not yet matched with what they belong to.
#[derive(Default)]
pub(super) struct Unclaimed {
    /// A previous supd's task states (pid, restart budget), by
    /// job/group/index/task, until the same job's task is made.
    pub tasks: HashMap<(String, String, u32, String), crate::state::TaskSaved>,
    /// Hand-off state for instances about to be made (saved, or just
    /// received), by job/group/index.
    pub instances: HashMap<(String, String, u32), crate::state::InstanceSaved>,
}

impl Supervisor {
    /// Reads the saved state: submitted jobs run again, stopped ones stay stopped.
    pub(super) fn restore(&mut self) {
        let saved = match crate::state::load(&self.cfg.state_dir) {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}");
                return;
            }
        };
        self.jobs.stopped.extend(saved.stopped);
        for t in saved.tasks {
            // A process the previous supd was running must not run twice:
            // it goes before anything starts.
            // it is stopped (with its task's kill signal and timeout) before
            // the task starts again; see `submit` and `stop_leftover`.
            self.unclaimed.tasks.insert((t.job.clone(), t.group.clone(), t.index, t.task.clone()), t);
        }
        for i in saved.instances {
            self.unclaimed.instances.insert((i.job.clone(), i.group.clone(), i.index), i);
        }
        let received = saved.received;
        for s in saved.submitted {
            let parsed = jobspec::parse_str(&s.file, &s.source);
            if !parsed.is_valid() {
                log::error!("a saved job from {} no longer loads; it is dropped", s.file);
                continue;
            }
            for job in parsed.jobs {
                log::info!("restoring job {:?} submitted from {}", job.id, s.file);
                self.submit(job, Source::Restored { name: s.file.clone() });
            }
        }
        for envelope in received {
            log::info!(
                "restoring {}.{}[{}], handed to this host by {}",
                envelope.job,
                envelope.group,
                envelope.index,
                envelope.origin
            );
            if let Err(e) = self.receive(envelope, true) {
                log::error!("a handed-off instance no longer runs here: {e}");
            }
        }
    }

    /// Once every job is in: processes a previous supd left for jobs that
    /// are gone (or changed) are killed, without grace.
    pub(super) fn kill_unclaimed(&mut self) {
        for (_, t) in std::mem::take(&mut self.unclaimed.tasks) {
            if let (Some(pid), Some(ticks)) = (t.pid, t.start_ticks)
                && process::sys::same_process(pid, ticks)
            {
                log::warn!(
                    "{}.{}[{}]/{}: killing pid {pid}, left running by the previous supd for a job that is gone or changed",
                    t.job,
                    t.group,
                    t.index,
                    t.task
                );
                let _ = process::signal_group(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    /// Schedules a save of the state; changes close together share one.
    pub(super) fn state_changed(&mut self) {
        if !self.save_pending {
            self.save_pending = true;
            self.timers.arm(Instant::now() + Duration::from_millis(100), Timer::Save);
        }
    }

    pub(super) fn save(&mut self) {
        let mut saved = crate::state::Saved { version: crate::state::VERSION, ..Default::default() };
        for serial in self.jobs.current.values() {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            if run.received {
                saved.received.extend(self.received_envelopes(run));
            } else if run.file.is_none() {
                saved
                    .submitted
                    .push(crate::state::Submitted { file: run.origin.clone(), source: run.job.source.clone() });
            }
        }
        saved.stopped = self.jobs.stopped.iter().cloned().collect();
        let (now_i, now_w) = (Instant::now(), std::time::SystemTime::now());
        for serial in self.jobs.current.values() {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            let digest = crate::state::digest(&run.job.source);
            for inst in &run.instances {
                if let Some(i) = handoff::saved_instance(run, inst, digest) {
                    saved.instances.push(i);
                }
                for t in &inst.tasks {
                    let restart_times = t
                        .tracker
                        .history()
                        .map(|at| {
                            let wall = if at <= now_i { now_w - (now_i - at) } else { now_w + (at - now_i) };
                            wall.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
                        })
                        .collect();
                    let pid = t.pid.map(|p| p.as_raw());
                    saved.tasks.push(crate::state::TaskSaved {
                        job: run.job.id.clone(),
                        group: run.job.groups[inst.group].name.clone(),
                        index: inst.index,
                        task: t.spec.name.clone(),
                        source_digest: digest,
                        restart_times,
                        restarts: t.restarts,
                        pid,
                        start_ticks: t.pid.and(t.start_ticks),
                        dead: t.state == task::State::Dead && !t.ended_by_shutdown,
                        failed: t.failed,
                    });
                }
            }
        }
        if let Err(e) = crate::state::save(&self.cfg.state_dir, &saved) {
            log::error!(
                "cannot save the state in {}: {e}; it will be tried again at the next change",
                self.cfg.state_dir.display()
            );
        }
    }
}
