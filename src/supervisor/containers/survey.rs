//! The engines' surveys at start (their version, the containers a previous
//! supd left), container starts held until their engine answers, and the
//! containers of a previous supd adopted by their task or removed.

use super::{Slot, at, engines};
use crate::drivers::docker;
use crate::jobspec::model::Driver;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{Container, TaskRun};
use crate::supervisor::{Supervisor, TaskKey, Timer};
use nix::unistd::Pid;
use std::time::Duration;

/// How long supd waits for the engine at start (fingerprint, adoption).
const AT_START: Duration = Duration::from_secs(5);

/// A survey at start that found no engine answering, while tasks may
/// have containers there to adopt, is made again after this long.
const RESURVEY: Duration = Duration::from_secs(2);

/// Reports that are about no task (a survey, a removal).
const NO_TASK: TaskKey = TaskKey { run: 0, inst: 0, task: 0 };

impl Supervisor {
    /// At start: asks each engine (each request within 5 s), on a thread,
    /// for its version (`driver.docker`, `driver.podman` node attributes)
    /// and for the containers a previous supd left, to adopt or remove.
    /// supd does not wait for the answer: host tasks start meanwhile, and
    /// a container task waits for its engine's (`Surveyed`). No engine
    /// socket: nothing to ask.
    pub(in crate::supervisor) fn survey_engines(&mut self) {
        for engine in engines() {
            self.survey_engine(engine);
        }
    }

    pub(in crate::supervisor) fn survey_engine(&mut self, which: Driver) {
        let name = which.as_str();
        let ep = match self.engine_endpoint(which) {
            Ok(ep) => ep,
            Err(e) => {
                log::warn!("{name} driver: {e}");
                return;
            }
        };
        // A host without this engine (no socket) is the common case: said
        // at debug level, not at every start.
        if !ep.path().exists() {
            log::debug!("{name} driver: no engine socket at {ep}; {name} tasks wait until one answers there");
            return;
        }
        let labels = vec![(docker::LABEL_HOME.to_string(), self.cfg.state_dir.display().to_string())];
        let asked = match self.docker(which) {
            Ok(d) => d.survey((NO_TASK, 0), name.to_string(), labels, AT_START),
            Err(e) => {
                log::warn!("{name} driver: {e}");
                false
            }
        };
        self.pending.containers.surveying[at(which)] = asked;
    }

    /// Waits (at most `within`) for the engines' surveys: at start, when a
    /// job's placement may need their attributes.
    pub(in crate::supervisor) fn await_surveys(&mut self, within: Duration) {
        let until = std::time::Instant::now() + within;
        for engine in engines() {
            while self.pending.containers.surveying[at(engine)] {
                let left = until.saturating_duration_since(std::time::Instant::now());
                let Some((d, _)) = self.pending.containers.drivers[at(engine)].as_mut() else { break };
                let reports = d.take_within(left);
                if reports.is_empty() {
                    break;
                }
                for ((key, generation), report) in reports {
                    self.on_container_report(engine, key, generation, report);
                }
            }
        }
    }

    /// An engine's survey answered: its attributes and what a previous
    /// supd left. Once the jobs are in, claims are made, leftovers
    /// removed and held starts made.
    pub(super) fn surveyed<E: std::fmt::Display>(&mut self, which: Driver, survey: Result<docker::Survey, E>) {
        let name = which.as_str();
        self.pending.containers.surveying[at(which)] = false;
        match survey {
            Ok(survey) => {
                let version = survey.attrs.last().map_or("", |a| a.1.as_str()).to_string();
                self.engine_seen(which, Ok(&format!("version {version}")));
                self.cfg.node.attrs.extend(survey.attrs);
                for c in survey.containers {
                    let l = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
                    let Ok(index) = l(docker::LABEL_INDEX).parse::<u32>() else { continue };
                    let slot = (which, l(docker::LABEL_JOB), l(docker::LABEL_GROUP), index, l(docker::LABEL_TASK));
                    self.pending.containers.found.entry(slot).or_default().push((c.id, c.pid, c.ended));
                }
            }
            Err(e) => {
                // Tasks that may have a container there wait for the
                // engine (asked again); the others start and wait for it
                // as any start does.
                self.engine_seen(which, Err(&e.to_string()));
                let claims = self.jobs.runs.values().flat_map(|r| &r.instances).flat_map(|i| &i.tasks);
                if claims.filter(|t| t.spec.driver == which).any(|t| t.claim.is_some()) {
                    log::debug!("{name} driver: asked again in {RESURVEY:?}, for the containers its tasks may have");
                    self.pending.containers.surveying[at(which)] = true;
                    self.io.timers.arm(std::time::Instant::now() + RESURVEY, Timer::Survey { engine: which });
                    return;
                }
            }
        }
        if self.pending.containers.settled {
            self.claim_surveyed(which);
            self.remove_unclaimed_containers();
            self.unpark(which);
        }
    }

    /// Tasks made while their engine's survey was awaited take what a
    /// previous supd left of them now: a container to adopt.
    fn claim_surveyed(&mut self, which: Driver) {
        let (mut adopted, mut ended) = (Vec::new(), Vec::new());
        let containers = &mut self.pending.containers;
        for (&serial, run) in self.jobs.runs.iter_mut() {
            for (inst, i) in run.instances.iter_mut().enumerate() {
                let group = &run.job.groups[i.group].name;
                for (task, t) in i.tasks.iter_mut().enumerate() {
                    if t.spec.driver != which {
                        continue;
                    }
                    let Some(ended_after) = t.claim.take() else { continue };
                    if t.pid.is_some() || t.container.is_some() || t.state == crate::supervisor::task::State::Dead {
                        continue;
                    }
                    match containers.claim(which, (&run.job.id, group, i.index, &t.spec.name), ended_after) {
                        Some((id, pid)) => {
                            Supervisor::adopt_container(t, id, pid);
                            adopted.push(TaskKey { run: serial, inst, task });
                        }
                        // A run the previous supd saw going left nothing:
                        // its next start is a restart, within the budget.
                        None if ended_after.is_some() => {
                            crate::supervisor::persist::count_interrupted_run(t);
                            ended.push((serial, inst));
                        }
                        None => {}
                    }
                }
            }
        }
        for key in adopted {
            self.follow_adopted(key);
        }
        // One out of its budget ended there: its siblings learn it.
        for (serial, inst) in ended {
            self.advance(serial, inst);
        }
    }

    /// Holds a container task's start until its engine's survey answers.
    pub(in crate::supervisor) fn park(&mut self, key: TaskKey) {
        let Some(t) = self.jobs.task(key) else { return };
        let held = (key, t.generation);
        if !self.pending.containers.parked.contains(&held) {
            self.pending.containers.parked.push(held);
        }
    }

    /// The starts held for `which`'s survey are made now.
    fn unpark(&mut self, which: Driver) {
        let parked = std::mem::take(&mut self.pending.containers.parked);
        let now = std::time::Instant::now();
        for (key, generation) in parked {
            let Some(t) = self.jobs.task(key) else { continue };
            if t.spec.driver != which {
                self.pending.containers.parked.push((key, generation));
            } else if t.generation == generation
                && t.pid.is_none()
                && t.container.is_none()
                && t.state != crate::supervisor::task::State::Dead
            {
                self.io.timers.arm(now, Timer::Start { task: key, generation });
            }
        }
    }

    /// Once every job is in: containers of a previous supd that no task
    /// took are stopped and removed.
    pub(in crate::supervisor) fn remove_unclaimed_containers(&mut self) {
        let left: Vec<(Slot, String)> = self
            .pending
            .containers
            .found
            .drain()
            .flat_map(|(slot, list)| list.into_iter().map(move |(id, _, _)| (slot.clone(), id)))
            .collect();
        if left.is_empty() {
            return;
        }
        let key = NO_TASK;
        for ((engine, job, group, index, task), id) in left {
            log::warn!(
                "{job}.{group}[{index}]/{task}: removing container {}, left by the previous supd",
                docker::short(&id)
            );
            match self.docker(engine) {
                Ok(d) => d.remove((key, 0), id),
                Err(e) => log::warn!("{} driver: {e}", engine.as_str()),
            }
        }
    }

    /// A task made again with a container a previous supd left running:
    /// it is adopted (same container, same pid, its restart budget as
    /// saved), not started again. One that ended while no supd ran
    /// (no pid) is adopted too: its exit, read from the engine, ends the
    /// run as if it had been seen.
    pub(in crate::supervisor) fn adopt_container(run: &mut TaskRun, id: String, pid: Option<i32>) {
        run.pid = pid.map(Pid::from_raw);
        run.state = crate::supervisor::task::State::Running;
        run.launched = true;
        run.started_at = Some(std::time::SystemTime::now());
        let image = run.spec.container.as_deref().map_or(String::new(), |c| c.image.clone());
        let short = docker::short(&id);
        run.push_event(
            EventKind::Driver,
            match pid {
                Some(pid) => format!("Adopted container {short} (pid {pid}), left running by the previous supd"),
                None => format!("Adopted container {short}, which ended while no supd ran"),
            },
        );
        run.container = Some(Box::new(Container {
            id: Some(id),
            image,
            generation: run.generation,
            oom_killed: false,
            adopted: true,
        }));
    }

    /// Follows an adopted container (its output from now, its exit) and
    /// runs its checks.
    pub(in crate::supervisor) fn follow_adopted(&mut self, key: TaskKey) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        let engine = t.spec.driver;
        let pid = t.pid.map(Pid::as_raw);
        let Some(c) = t.container.as_mut().filter(|c| c.adopted) else { return };
        c.adopted = false;
        let (id, generation) = (c.id.clone().unwrap_or_default(), c.generation);
        log::info!("{}: adopted container {}", self.label(key), docker::short(&id));
        self.ensure_task_log(key);
        let (stdout, stderr) = self.log_files(key);
        match self.docker(engine) {
            Ok(d) => d.adopt((key, generation), id, pid, stdout, stderr),
            Err(e) => log::warn!("{} driver: {e}", engine.as_str()),
        }
        self.journal_task(key);
        self.activate_checks(key);
    }
}
