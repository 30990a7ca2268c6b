//! Container tasks: what the supervisor does with the `docker` and
//! `podman` drivers (one Engine-API driver, one engine each).
//! Starting one hands the create request to a driver thread; its reports
//! (pulling, started, failed, exited) come back through the loop and end
//! in the same places a host process's start and exit do (`task_started`,
//! `start_failed`, `on_exit`), so restarts, checks, logs, status and
//! events do not know the difference. Containers a previous supd left
//! running are adopted at start.
//!
//! Here: the engines' drivers and the containers a previous supd left
//! (`Containers`), the engine's settings and endpoint, signals through the
//! engine, and what goes once a task is dead for good. The engines'
//! surveys at start and adoption are in `survey`, a container's start in
//! `start`, the driver's reports in `reports`.

mod reports;
mod start;
mod survey;

use super::errors::EngineError;
use super::{Supervisor, TaskKey};
use crate::drivers::docker::{self, Docker, Endpoint, Engine};
use crate::jobspec::model::Driver;
use nix::sys::signal::Signal;
use std::collections::HashMap;

/// (engine, job, group, index, task)
type Slot = (Driver, String, String, u32, String);

/// One engine's driver and the token its reports wake the loop on.
type EngineDriver = (Docker<(TaskKey, u64)>, mio::Token);

/// The container drivers, each with an engine of its own.
fn engines() -> impl Iterator<Item = Driver> {
    crate::drivers::all().filter(|d| d.engine.is_some()).map(|d| d.driver())
}

/// A container a previous supd left: its id, the pid of a running one,
/// and when one that ran has ended.
type Found = (String, Option<i32>, Option<std::time::SystemTime>);

/// The driver's side of the supervisor.
#[derive(Default)]
pub(super) struct Containers {
    /// Made on first use, one per engine (at its slot): the engine's
    /// threads, their reports and the token they wake the loop on.
    drivers: [Option<EngineDriver>; 2],
    /// Containers a previous supd left, by task: (id, pid of a running
    /// one, when one that ran has ended). Claimed by their task as it is
    /// made again; the rest are removed.
    found: HashMap<Slot, Vec<Found>>,
    /// Per engine: its survey at start has not answered yet. Until it
    /// does, a task of its driver is neither adopted nor started: its
    /// claim waits on the task (`TaskRun::claim`), its start here.
    pub surveying: [bool; 2],
    /// Starts held until their engine's survey answers (task, generation).
    parked: Vec<(TaskKey, u64)>,
    /// Every job found at start is in: a survey's answer is carried into
    /// the tasks (claims, leftovers removed, held starts made) at once.
    pub settled: bool,
    /// While supd stops: until when driver requests are waited for.
    pub grace: Option<std::time::Instant>,
    /// Per engine: whether it answered when last asked (`None`: not
    /// asked yet); supd's log says when this changes, once.
    answering: [Option<bool>; 2],
    /// Where the bind sources of container tasks are held for their
    /// engine (`<data_dir>/binds`), and whether they can be.
    binds: crate::taskdir::binds::Staging,
    /// Per engine: whether it mounts in supd's own mount namespace, where
    /// the held sources are (`None`: not found out yet).
    mounts_here: [Option<bool>; 2],
}

/// Where an engine's driver is in `Containers::drivers`: its slot.
fn at(engine: Driver) -> usize {
    engine.def().engine.map_or(0, |e| e.slot)
}

impl Containers {
    /// Whether `engine`'s survey at start is still awaited.
    pub fn surveying(&self, engine: Driver) -> bool {
        engine.is_container() && self.surveying[at(engine)]
    }

    pub fn owns(&self, token: mio::Token) -> bool {
        self.drivers.iter().flatten().any(|(_, t)| *t == token)
    }

    /// Driver threads still at work (starting, following, removing).
    pub fn busy(&self) -> usize {
        self.drivers.iter().flatten().map(|(d, _)| d.busy()).sum()
    }

    fn driver(&self, engine: Driver) -> Option<&Docker<(TaskKey, u64)>> {
        self.drivers[at(engine)].as_ref().map(|(d, _)| d)
    }

    /// A running container a previous supd left for this task; if none
    /// runs and `ended_after` is given (the previous supd saw its run
    /// going, started after that time), the last of its containers that
    /// ran and ended after it (`None` pid): its exit is the run's. An
    /// earlier run's container, ended before its restart, is not.
    pub fn claim(
        &mut self,
        engine: Driver,
        (job, group, index, task): (&str, &str, u32, &str),
        ended_after: Option<std::time::SystemTime>,
    ) -> Option<(String, Option<i32>)> {
        let slot = (engine, job.to_string(), group.to_string(), index, task.to_string());
        let list = self.found.get_mut(&slot)?;
        let running = list.iter().position(|(_, pid, _)| pid.is_some());
        let ended = || {
            let after = ended_after?;
            let last = list
                .iter()
                .enumerate()
                .filter_map(|(i, (_, _, end))| Some((end.as_ref().filter(|e| **e > after)?, i)))
                .max();
            last.map(|(_, i)| i)
        };
        let at = running.or_else(ended)?;
        let (id, pid, _) = list.remove(at);
        Some((id, pid))
    }
}

impl Supervisor {
    /// `[driver.docker]` or `[driver.podman]`: the engine's section.
    fn engine_settings(&self, engine: Driver) -> &docker::Settings {
        match engine.def().engine {
            Some(e) => (e.settings)(&self.cfg.drivers()),
            None => &self.cfg.docker,
        }
    }

    fn engine_endpoint(&self, engine: Driver) -> Result<Endpoint, EngineError> {
        let configured = self.engine_settings(engine).endpoint.as_deref();
        let endpoint = match engine.def().engine {
            Some(e) => (e.endpoint)(configured),
            None => Endpoint::choose(configured),
        };
        endpoint.map_err(|e| EngineError::Endpoint(e.to_string()))
    }

    /// The engine's driver, made and watched on first use.
    fn docker(&mut self, engine: Driver) -> Result<&Docker<(TaskKey, u64)>, EngineError> {
        let slot = at(engine);
        if self.pending.containers.drivers[slot].is_none() {
            let ep = self.engine_endpoint(engine)?;
            let name = engine.as_str();
            let mut d = Docker::new(Engine::new(ep)).map_err(|source| EngineError::Start { name, source })?;
            let token = self.io.watches.token();
            self.io
                .poll
                .registry()
                .register(d.source(), token, mio::Interest::READABLE)
                .map_err(|source| EngineError::Watch { name, source })?;
            self.pending.containers.drivers[slot] = Some((d, token));
        }
        self.pending.containers.driver(engine).ok_or(EngineError::Missing)
    }

    /// Whether a task's instance or supd itself is winding down: a start
    /// that cannot be made then is not waited for.
    pub(super) fn winding_down(&self, key: TaskKey) -> bool {
        self.stopping()
            || self.jobs.runs.get(&key.run).is_none_or(|r| r.stopped)
            || self.jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)).is_none_or(|i| i.winding_down)
    }

    /// A task is dead for good: the container made ahead for its next run
    /// is removed, and any other container of the task (its job, group,
    /// index and name) that this instance or a previous supd made.
    pub(super) fn release_container(&mut self, key: TaskKey) {
        let Some(engine) = self.jobs.task(key).map(|t| t.spec.driver).filter(|d| d.is_container()) else { return };
        let slot = slot_of(key, &self.jobs);
        let Some(run) = self.jobs.runs.get(&key.run) else { return };
        let Some(i) = run.instances.get(key.inst) else { return };
        let Some(t) = i.tasks.get(key.task) else { return };
        let labels = vec![
            (docker::LABEL_HOME.to_string(), self.cfg.state_dir.display().to_string()),
            (docker::LABEL_JOB.to_string(), run.job.id.clone()),
            (docker::LABEL_GROUP.to_string(), run.job.groups[i.group].name.clone()),
            (docker::LABEL_INDEX.to_string(), i.index.to_string()),
            (docker::LABEL_TASK.to_string(), t.spec.name.clone()),
        ];
        if let Some(d) = self.pending.containers.driver(engine) {
            d.drop_spare((key, 0), &slot, labels, i.id.clone(), boot().to_string());
        }
        // Its held bind sources go with it (its next start, had it one,
        // would have held them anew).
        let alloc = i.dir.as_ref().and_then(|d| d.root().file_name()).and_then(|n| n.to_str());
        if let Some(alloc) = alloc
            && let Err(e) = crate::taskdir::binds::release(&self.cfg.data_dir, alloc, Some(&t.spec.name))
        {
            log::warn!("{}/{}: cannot let go of its held bind sources: {e}", i.name, t.spec.name);
        }
    }

    /// Sends a signal to a task: through the engine for a container, to
    /// the process group for a host process.
    pub(super) fn signal_task(&mut self, key: TaskKey, sig: Signal) -> nix::Result<()> {
        self.signal_task_as(key, sig, sig.as_str())
    }

    /// [`Supervisor::signal_task`], naming the signal to the engine as
    /// `name` (empty: the container's stop signal).
    pub(super) fn signal_task_as(&mut self, key: TaskKey, sig: Signal, name: &str) -> nix::Result<()> {
        let Some(t) = self.jobs.task(key) else { return Ok(()) };
        let Some(pid) = t.pid else { return Ok(()) };
        let engine = t.spec.driver;
        match t.container.as_ref() {
            None => crate::process::signal_group(pid, sig),
            Some(c) => {
                let (id, generation) = (c.id.clone().unwrap_or_default(), c.generation);
                if let Ok(d) = self.docker(engine) {
                    d.kill((key, generation), id, name.to_string(), Some((pid.as_raw(), sig as i32)));
                }
                Ok(())
            }
        }
    }
}

/// This start of supd, as its containers' [`docker::LABEL_BOOT`] says it.
fn boot() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("{}-{:x}", std::process::id(), now.as_nanos())
    })
}

/// What identifies a task's runs to the driver: its instance and name.
fn slot_of(key: TaskKey, jobs: &super::jobs::Jobs) -> String {
    match jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)) {
        Some(i) => format!("{}/{}", i.id, i.tasks.get(key.task).map_or("", |t| t.spec.name.as_str())),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
