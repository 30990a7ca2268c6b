//! The driver's reports (pulling, started, failed, exited, the engine lost
//! or back) carried into the same places a host process's start and exit
//! go; an engine that cannot be reached is waited for, not failed.

use super::{at, engines};
use crate::drivers::docker::{self, Report};
use crate::jobspec::model::Driver;
use crate::process::Exit;
use crate::supervisor::task::EventKind;
use crate::supervisor::{Supervisor, TaskKey, Timer};
use nix::unistd::Pid;
use std::time::Duration;

/// A start that found the engine unreachable is made again after 1 s,
/// then 2, 4, 8 and every 10 s.
const ENGINE_RETRY_FIRST: Duration = Duration::from_secs(1);
const ENGINE_RETRY_MAX: Duration = Duration::from_secs(10);

impl Supervisor {
    /// The driver's reports that came in.
    pub(in crate::supervisor) fn on_container_reports(&mut self) {
        let mut reports = Vec::new();
        for engine in engines() {
            if let Some((d, _)) = self.pending.containers.drivers[at(engine)].as_mut() {
                reports.extend(d.take().into_iter().map(|r| (engine, r)));
            }
        }
        for (engine, ((key, generation), report)) in reports {
            self.on_container_report(engine, key, generation, report);
        }
    }

    pub(super) fn on_container_report(&mut self, engine: Driver, key: TaskKey, generation: u64, report: Report) {
        let report = match report {
            Report::Surveyed(survey) => return self.surveyed(engine, survey),
            other => other,
        };
        let label = self.label(key);
        let current =
            self.jobs.task(key).and_then(|t| t.container.as_ref()).is_some_and(|c| c.generation == generation);
        if !current {
            // A run that was given up meanwhile (a stop while it started):
            // its container goes.
            if let Report::Started { id, .. } = report
                && let Ok(d) = self.docker(engine)
            {
                log::info!("{label}: removing container {}, started after its run was given up", docker::short(&id));
                d.remove((key, generation), id);
            }
            return;
        }
        match report {
            Report::Pulling { image } => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.push_event(EventKind::DownloadingImage, format!("Downloading image {image}"));
                }
            }
            Report::Started { id, pid } => self.container_started(engine, key, &label, id, pid),
            Report::Failed { error } => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.container = None;
                }
                if error.unreachable && !self.winding_down(key) {
                    return self.wait_for_engine(key, engine, error.message);
                }
                self.start_failed(key, error.message, error.recoverable);
            }
            Report::Exited { id, code, oom_killed, error } => {
                if let Some(e) = error {
                    log::warn!("{label}: container {}: {e}", docker::short(&id));
                }
                self.container_exited(key, generation, code, oom_killed);
            }
            Report::SignalFailed { id, error } => {
                log::warn!("{label}: cannot signal container {}: {error}", docker::short(&id));
            }
            Report::EngineLost { id, error } => self.engine_lost(engine, key, &label, &id, error),
            Report::Surveyed(_) => {}
            Report::EngineBack { id } => self.engine_back(engine, key, &label, &id),
        }
    }

    /// Whether `engine` answers, as just found: said in supd's log once
    /// when it changes (an engine that appears, goes, or comes back), not
    /// for each task.
    pub(super) fn engine_seen(&mut self, engine: Driver, answer: Result<&str, &str>) {
        let slot = &mut self.pending.containers.answering[at(engine)];
        if *slot == Some(answer.is_ok()) {
            return;
        }
        let was = slot.replace(answer.is_ok());
        let name = engine.as_str();
        let ep = self.engine_endpoint(engine).map_or_else(|e| e.to_string(), |ep| ep.to_string());
        match answer {
            Ok(detail) if was.is_some() => log::info!("{name} engine at {ep} answers again ({detail})"),
            Ok(detail) => log::info!("{name} engine at {ep} answers ({detail})"),
            Err(e) => log::warn!(
                "{name} engine at {ep} does not answer ({e}): {name} tasks wait for it without spending restart attempts, and running containers are watched by their processes"
            ),
        }
    }

    /// The task's container runs (`id`, its first process `pid`).
    fn container_started(&mut self, engine: Driver, key: TaskKey, label: &str, id: String, pid: i32) {
        log::info!("{label}: container {} runs", docker::short(&id));
        self.engine_seen(engine, Ok("a container started"));
        if let Some(t) = self.jobs.task_mut(key) {
            if t.setup.engine_waits > 0 {
                t.setup.engine_waits = 0;
                t.push_event(EventKind::EngineReachable, format!("the {} engine answers again", engine.as_str()));
            }
            if let Some(c) = t.container.as_mut() {
                c.id = Some(id);
            }
        }
        self.task_started(key, Pid::from_raw(pid), None);
    }

    /// The task's container of this `generation` ended, with the exit
    /// `code` (killed by the kernel's OOM killer: `oom_killed`).
    fn container_exited(&mut self, key: TaskKey, generation: u64, code: i32, oom_killed: bool) {
        if let Some(c) = self.jobs.task_mut(key).and_then(|t| t.container.as_mut()) {
            c.oom_killed = oom_killed;
        }
        self.on_exit(key, Exit::Code(code));
        if let Some(t) = self.jobs.task_mut(key)
            && t.container.as_ref().is_some_and(|c| c.generation == generation)
        {
            t.container = None;
        }
    }

    /// The engine stopped answering while the task's container `id` ran.
    fn engine_lost(&mut self, engine: Driver, key: TaskKey, label: &str, id: &str, error: String) {
        let message = format!(
            "{error}; container {} is not known to have ended: it is followed again once the {} engine answers, and its process is watched meanwhile (no restart attempt is spent)",
            docker::short(id),
            engine.as_str()
        );
        // The engine's going is said once (`engine_seen`); each task's
        // in its events.
        log::debug!("{label}: {message}");
        self.engine_seen(engine, Err(&error));
        if let Some(t) = self.jobs.task_mut(key) {
            t.push_event(EventKind::EngineUnreachable, message);
        }
    }

    /// The engine answers again, and the task's container `id` still runs.
    fn engine_back(&mut self, engine: Driver, key: TaskKey, label: &str, id: &str) {
        let message =
            format!("the {} engine answers again: container {} still runs", engine.as_str(), docker::short(id));
        log::debug!("{label}: {message}");
        self.engine_seen(engine, Ok("a running container is followed again"));
        if let Some(t) = self.jobs.task_mut(key) {
            t.push_event(EventKind::EngineReachable, message);
        }
    }

    /// A container could not be started because its engine could not be
    /// reached: an outage, not the task's failure. The task stays pending
    /// and is started again when the engine may be back (1 s, doubling to
    /// 10 s), without spending a restart attempt; the event says so once
    /// per outage.
    fn wait_for_engine(&mut self, key: TaskKey, engine: Driver, error: String) {
        let label = self.label(key);
        self.engine_seen(engine, Err(&error));
        let Some(t) = self.jobs.task_mut(key) else { return };
        let waits = t.setup.engine_waits;
        t.setup.engine_waits = waits.saturating_add(1);
        t.state = crate::supervisor::task::State::Pending;
        t.generation += 1;
        let generation = t.generation;
        if waits == 0 {
            let message = format!(
                "{error}; the task waits for the {} engine and starts once it answers (no restart attempt is spent)",
                engine.as_str()
            );
            log::debug!("{label}: {message}");
            t.push_event(EventKind::EngineUnreachable, message);
        }
        let delay = ENGINE_RETRY_FIRST.saturating_mul(1 << waits.min(4)).min(ENGINE_RETRY_MAX);
        self.io.timers.arm(std::time::Instant::now() + delay, Timer::Start { task: key, generation });
        self.state_changed();
    }
}
