//! Container tasks: what the supervisor does with the `docker` and
//! `podman` drivers (one Engine-API driver, one engine each).
//! Starting one hands the create request to a driver thread; its reports
//! (pulling, started, failed, exited) come back through the loop and end
//! in the same places a host process's start and exit do (`task_started`,
//! `start_failed`, `on_exit`), so restarts, checks, logs, status and
//! events do not know the difference. Containers a previous supd left
//! running are adopted at start.

use super::errors::{BindCheckError, BindsError, CreateError, EngineError, NamespaceError};
use super::task::Container;
use super::{Supervisor, TaskKey};
use crate::drivers::docker::{self, Docker, Endpoint, Engine, Report, StartRequest};
use crate::jobspec::model::Driver;
use crate::process::{Exit, SpawnSpec};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::fs::File;
use std::time::Duration;

/// (engine, job, group, index, task)
type Slot = (Driver, String, String, u32, String);

/// One engine's driver and the token its reports wake the loop on.
type EngineDriver = (Docker<(TaskKey, u64)>, mio::Token);

/// The engines container tasks run on, each with the driver of its own.
const ENGINES: [Driver; 2] = [Driver::Docker, Driver::Podman];

/// A container a previous supd left: its id, the pid of a running one,
/// and when one that ran has ended.
type Found = (String, Option<i32>, Option<std::time::SystemTime>);

/// The driver's side of the supervisor.
#[derive(Default)]
pub(super) struct Containers {
    /// Made on first use, one per engine (`ENGINES`' order): the engine's
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

/// Where an engine's driver is in `Containers::drivers`.
fn at(engine: Driver) -> usize {
    usize::from(engine == Driver::Podman)
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

/// How long supd waits for the engine at start (fingerprint, adoption).
const AT_START: Duration = Duration::from_secs(5);

/// A survey at start that found no engine answering, while tasks may
/// have containers there to adopt, is made again after this long.
const RESURVEY: Duration = Duration::from_secs(2);

/// Reports that are about no task (a survey, a removal).
const NO_TASK: TaskKey = TaskKey { run: 0, inst: 0, task: 0 };

/// A start that found the engine unreachable is made again after 1 s,
/// then 2, 4, 8 and every 10 s.
const ENGINE_RETRY_FIRST: Duration = Duration::from_secs(1);
const ENGINE_RETRY_MAX: Duration = Duration::from_secs(10);

impl Supervisor {
    /// `[driver.docker]` or `[driver.podman]`.
    fn engine_settings(&self, engine: Driver) -> &docker::Settings {
        if engine == Driver::Podman { &self.cfg.podman } else { &self.cfg.docker }
    }

    fn engine_endpoint(&self, engine: Driver) -> Result<Endpoint, EngineError> {
        let configured = self.engine_settings(engine).endpoint.as_deref();
        match engine {
            Driver::Podman => Endpoint::choose_podman(configured).map_err(|e| EngineError::Endpoint(e.to_string())),
            _ => Endpoint::choose(configured).map_err(|e| EngineError::Endpoint(e.to_string())),
        }
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

    /// At start: asks each engine (each request within 5 s), on a thread,
    /// for its version (`driver.docker`, `driver.podman` node attributes)
    /// and for the containers a previous supd left, to adopt or remove.
    /// supd does not wait for the answer: host tasks start meanwhile, and
    /// a container task waits for its engine's (`Surveyed`). No engine
    /// socket: nothing to ask.
    pub(super) fn survey_engines(&mut self) {
        for engine in ENGINES {
            self.survey_engine(engine);
        }
    }

    pub(super) fn survey_engine(&mut self, which: Driver) {
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
    pub(super) fn await_surveys(&mut self, within: Duration) {
        let until = std::time::Instant::now() + within;
        for engine in ENGINES {
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
    fn surveyed<E: std::fmt::Display>(&mut self, which: Driver, survey: Result<docker::Survey, E>) {
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
                    self.io.timers.arm(std::time::Instant::now() + RESURVEY, super::Timer::Survey { engine: which });
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
                    if t.pid.is_some() || t.container.is_some() || t.state == super::task::State::Dead {
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
                            super::persist::count_interrupted_run(t);
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
    pub(super) fn park(&mut self, key: TaskKey) {
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
                && t.state != super::task::State::Dead
            {
                self.io.timers.arm(now, super::Timer::Start { task: key, generation });
            }
        }
    }

    /// Once every job is in: containers of a previous supd that no task
    /// took are stopped and removed.
    pub(super) fn remove_unclaimed_containers(&mut self) {
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

    /// Starts a container task's run; the driver reports how it went.
    pub(super) fn start_container(&mut self, key: TaskKey, spec: SpawnSpec) {
        let mut body = match self.create_body(key, &spec) {
            Ok(b) => b,
            Err(e) => return self.start_failed(key, e.to_string(), false),
        };
        let root = self
            .jobs
            .runs
            .get(&key.run)
            .and_then(|r| r.instances.get(key.inst))
            .and_then(|i| i.dir.as_ref())
            .map(|d| d.root().to_path_buf());
        if let Some(root) = root
            && let Err(e) = self.hold_binds(key, &root, &mut body)
        {
            return self.start_failed(key, e.to_string(), e.recoverable());
        }
        self.ensure_task_log(key);
        self.journal_starting(key);
        let (stdout, stderr) = self.log_files(key);
        let name = self.container_name(key);
        let slot = slot_of(key, &self.jobs);
        let Some(t) = self.jobs.task_mut(key) else { return };
        let engine = t.spec.driver;
        let Some(c) = t.spec.container.as_deref() else { return };
        let image = body["Image"].as_str().unwrap_or(&c.image).to_string();
        let req = StartRequest {
            slot,
            name,
            image: image.clone(),
            force_pull: c.force_pull,
            pull_timeout: c.image_pull_timeout,
            body,
            stdout,
            stderr,
        };
        let generation = t.generation;
        t.launched = true;
        t.container = Some(Box::new(Container { id: None, image, generation, oom_killed: false, adopted: false }));
        match self.docker(engine) {
            Ok(d) => d.start((key, generation), req),
            Err(e) => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.container = None;
                }
                self.start_failed(key, e.to_string(), true);
            }
        }
    }

    /// The bind sources below the instance's directory `root`, just
    /// before the container starts (no run of the task is alive then):
    /// held and staged where supd can mount and the engine mounts in
    /// supd's namespace, the create request then naming the staging
    /// points (`taskdir::binds`: what the engine binds is what was
    /// checked, whatever is swapped in meanwhile); else checked only
    /// (`check_binds`). The error says whether a restart may mend it.
    /// Mounts are a few quick system calls: made on the loop, where the
    /// check was.
    fn hold_binds(
        &mut self,
        key: TaskKey,
        root: &std::path::Path,
        body: &mut serde_json::Value,
    ) -> Result<(), BindsError> {
        use crate::taskdir::binds::{Missing, Source, parts_below};
        let Some(t) = self.jobs.task(key) else { return Ok(()) };
        let (engine, task) = (t.spec.driver, t.spec.name.clone());
        let below: Vec<(docker::spec::BindAt, String)> = docker::spec::bind_sources(body)
            .into_iter()
            .filter(|(_, source)| parts_below(root, source).is_some())
            .collect();
        if below.is_empty() || !self.holds_binds(engine) {
            return check_binds(root, body).map_err(BindsError::Checked);
        }
        let asked: &serde_json::Value = body;
        let sources: Vec<Source> = below
            .iter()
            .map(|(at, source)| Source {
                path: source,
                // What the engine makes of a missing source: a `Binds`
                // entry's, a directory; a `Mounts` entry's, a refusal.
                missing: match at {
                    docker::spec::BindAt::Binds(_) => Missing::Make,
                    docker::spec::BindAt::Mounts(_) => Missing::Refuse,
                },
                propagation: docker::spec::bind_propagates(asked, *at),
            })
            .collect();
        match self.pending.containers.binds.hold(root, &task, &sources) {
            Ok(points) => {
                for ((at, _), point) in below.iter().zip(points) {
                    docker::spec::set_bind_source(body, *at, &point.display().to_string());
                }
                Ok(())
            }
            Err(e) => Err(BindsError::Held(e)),
        }
    }

    /// Whether the bind sources of `engine`'s tasks are held: supd can
    /// mount (found out once; said once when it cannot), and the engine
    /// mounts in supd's own mount namespace, where the staging points are
    /// (found out once per engine, from its socket's listener). An engine
    /// elsewhere (supd in a container and the engine on the host, an
    /// engine in a namespace of its own) would find empty directories
    /// there: its tasks' sources are checked only, and supd's log says so.
    fn holds_binds(&mut self, engine: Driver) -> bool {
        let staging_root = crate::taskdir::binds::root_of(&self.cfg.data_dir);
        match self.pending.containers.binds.ready(&self.cfg.data_dir) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(why) => {
                log::warn!(
                    "the bind sources of container tasks are checked before each start but not held ({why}): a process that can write into an instance's directory could swap a checked source for a link before the engine mounts it — supd holds them in {} where it may mount (as root, with CAP_SYS_ADMIN)",
                    staging_root.display()
                );
                return false;
            }
        }
        if let Some(here) = self.pending.containers.mounts_here[at(engine)] {
            return here;
        }
        let name = engine.as_str();
        let ep = match self.engine_endpoint(engine) {
            Ok(ep) => ep,
            Err(_) => return false,
        };
        let found = match ep.listener_pid() {
            Ok(pid) => mounts_here(pid),
            // Not answering: this start is checked only, and the engine
            // is asked again at the next.
            Err(e) => {
                log::debug!("{name} engine at {ep}: cannot tell where it mounts ({e}); bind sources are checked only");
                return false;
            }
        };
        match &found {
            Ok(()) => log::debug!("{name} engine at {ep} mounts in supd's namespace: bind sources are held"),
            Err(why) => log::warn!(
                "{name} engine at {ep}: {why}, so it would not see what supd holds in {}: the bind sources of {name} tasks are checked before each start but not held (a process that can write into an instance's directory could swap a checked source for a link before the engine mounts it)",
                staging_root.display()
            ),
        }
        self.pending.containers.mounts_here[at(engine)] = Some(found.is_ok());
        found.is_ok()
    }

    /// Copies of the write ends of the task's log pipes, for the thread
    /// that copies the container's output (none: the output is dropped).
    fn log_files(&self, key: TaskKey) -> (Option<File>, Option<File>) {
        let (stdout, stderr) = self.task_io(key);
        let dup = |io: crate::process::Io| match io {
            crate::process::Io::Fd(fd) => fd.try_clone_to_owned().ok().map(File::from),
            _ => None,
        };
        (dup(stdout), dup(stderr))
    }

    /// The create request, or why the task may not run as written.
    fn create_body(&self, key: TaskKey, spec: &SpawnSpec) -> Result<serde_json::Value, CreateError> {
        let run = self.jobs.runs.get(&key.run).ok_or(CreateError::Gone("job"))?;
        let inst = run.instances.get(key.inst).ok_or(CreateError::Gone("instance"))?;
        let t = inst.tasks.get(key.task).ok_or(CreateError::Gone("task"))?;
        let group = &run.job.groups[inst.group];
        // Nomad's variables and the task's env; not supd's own environment.
        let env: Vec<(String, String)> =
            spec.env.iter().filter(|(k, _)| k.starts_with("NOMAD_") || t.spec.env.contains_key(k)).cloned().collect();
        let vars: HashMap<String, String> = env.iter().cloned().collect();
        let node = &self.cfg.node;
        let resolve = |s: &str| {
            crate::jobspec::template::interpolate(s, &|n| {
                if let Some(v) = vars.get(n) {
                    return Some(v.to_string());
                }
                let n = n.strip_prefix("env.").unwrap_or(n);
                if let Some(v) = vars.get(n) {
                    return Some(v.to_string());
                }
                (n.starts_with("attr.") || n.starts_with("node.") || n.starts_with("meta."))
                    .then(|| node.resolve(&format!("${{{n}}}")))
                    .flatten()
            })
        };
        let labels = vec![
            (docker::LABEL_HOME.to_string(), self.cfg.state_dir.display().to_string()),
            (docker::LABEL_JOB.to_string(), run.job.id.clone()),
            (docker::LABEL_GROUP.to_string(), group.name.clone()),
            (docker::LABEL_INDEX.to_string(), inst.index.to_string()),
            (docker::LABEL_TASK.to_string(), t.spec.name.clone()),
            (docker::LABEL_ALLOC.to_string(), inst.id.clone()),
            (docker::LABEL_BOOT.to_string(), boot().to_string()),
        ];
        let ports = inst
            .ports
            .iter()
            .map(|(label, port)| {
                let to = group.ports.iter().find(|p| &p.label == label).and_then(|p| p.to);
                (label.clone(), *port, to)
            })
            .collect();
        let limit = |r| nix::sys::resource::getrlimit(r).ok().map(|(s, h)| (s.min(h), h));
        // No more processes than pids: podman lowers its own limit to
        // kernel.pid_max, and a container may not ask for more than it has.
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let dirs = super::launch::task_dir(inst, t);
        let inputs = docker::spec::Inputs {
            task: &t.spec,
            env,
            labels,
            ports,
            task_dir: dirs.as_ref().map(|d| d.dir.as_path()),
            world: dirs.iter().flat_map(|d| d.in_container()).map(|(host, inside, _)| (host, inside)).collect(),
            resolve: &resolve,
            nofile: limit(nix::sys::resource::Resource::RLIMIT_NOFILE),
            nproc: limit(nix::sys::resource::Resource::RLIMIT_NPROC).map(|(s, h)| (s.min(pid_max), h.min(pid_max))),
        };
        docker::spec::create_body(&inputs, self.engine_settings(t.spec.driver))
            .map_err(|e| CreateError::Spec(e.to_string()))
    }

    /// `task-allocid-N`: readable in `docker ps`, new for every run.
    fn container_name(&self, key: TaskKey) -> String {
        let Some(i) = self.jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)) else {
            return String::new();
        };
        let Some(t) = i.tasks.get(key.task) else { return String::new() };
        let clean: String =
            t.spec.name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        format!("{}-{}-{:x}", clean.trim_start_matches(['_', '.', '-']), i.id.get(..8).unwrap_or(&i.id), nanos)
    }

    /// The driver's reports that came in.
    pub(super) fn on_container_reports(&mut self) {
        let mut reports = Vec::new();
        for (engine, d) in ENGINES.into_iter().zip(self.pending.containers.drivers.iter_mut()) {
            if let Some((d, _)) = d {
                reports.extend(d.take().into_iter().map(|r| (engine, r)));
            }
        }
        for (engine, ((key, generation), report)) in reports {
            self.on_container_report(engine, key, generation, report);
        }
    }

    fn on_container_report(&mut self, engine: Driver, key: TaskKey, generation: u64, report: Report) {
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
                    t.push_event("Downloading Image", format!("Downloading image {image}"));
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
    fn engine_seen(&mut self, engine: Driver, answer: Result<&str, &str>) {
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
                t.push_event("Engine Reachable", format!("the {} engine answers again", engine.as_str()));
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
            t.push_event("Engine Unreachable", message);
        }
    }

    /// The engine answers again, and the task's container `id` still runs.
    fn engine_back(&mut self, engine: Driver, key: TaskKey, label: &str, id: &str) {
        let message =
            format!("the {} engine answers again: container {} still runs", engine.as_str(), docker::short(id));
        log::debug!("{label}: {message}");
        self.engine_seen(engine, Ok("a running container is followed again"));
        if let Some(t) = self.jobs.task_mut(key) {
            t.push_event("Engine Reachable", message);
        }
    }

    /// Whether a task's instance or supd itself is winding down: a start
    /// that cannot be made then is not waited for.
    pub(super) fn winding_down(&self, key: TaskKey) -> bool {
        self.stopping()
            || self.jobs.runs.get(&key.run).is_none_or(|r| r.stopped)
            || self.jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)).is_none_or(|i| i.winding_down)
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
        t.state = super::task::State::Pending;
        t.generation += 1;
        let generation = t.generation;
        if waits == 0 {
            let message = format!(
                "{error}; the task waits for the {} engine and starts once it answers (no restart attempt is spent)",
                engine.as_str()
            );
            log::debug!("{label}: {message}");
            t.push_event("Engine Unreachable", message);
        }
        let delay = ENGINE_RETRY_FIRST.saturating_mul(1 << waits.min(4)).min(ENGINE_RETRY_MAX);
        self.io.timers.arm(std::time::Instant::now() + delay, super::Timer::Start { task: key, generation });
        self.state_changed();
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

    /// A task made again with a container a previous supd left running:
    /// it is adopted (same container, same pid, its restart budget as
    /// saved), not started again. One that ended while no supd ran
    /// (no pid) is adopted too: its exit, read from the engine, ends the
    /// run as if it had been seen.
    pub(super) fn adopt_container(run: &mut super::task::TaskRun, id: String, pid: Option<i32>) {
        run.pid = pid.map(Pid::from_raw);
        run.state = super::task::State::Running;
        run.launched = true;
        run.started_at = Some(std::time::SystemTime::now());
        let image = run.spec.container.as_deref().map_or(String::new(), |c| c.image.clone());
        let short = docker::short(&id);
        run.push_event(
            "Driver",
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
    pub(super) fn follow_adopted(&mut self, key: TaskKey) {
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

/// Whether the process `pid` (an engine's socket's listener) is in supd's
/// own mount namespace; else why not.
fn mounts_here(pid: i32) -> Result<(), NamespaceError> {
    if pid <= 0 {
        return Err(NamespaceError::OutsidePidNamespace);
    }
    let ns = |who: &str| std::fs::read_link(format!("/proc/{who}/ns/mnt"));
    match (ns("self"), ns(&pid.to_string())) {
        (Ok(ours), Ok(theirs)) if ours == theirs => Ok(()),
        (Ok(_), Ok(_)) => Err(NamespaceError::Elsewhere { pid }),
        (Err(source), _) | (_, Err(source)) => Err(NamespaceError::Unreadable { pid, source }),
    }
}

/// The engine follows links in a bind's source when it starts a container,
/// and a task may plant one in its own directory (`local/data` → `/`)
/// before its next run. So every bind source below the instance's
/// directory (`root`) is walked one component at a time without following
/// a link, just before each start (no run of the task is alive then), and
/// a link on the way fails the start. Where supd holds the sources
/// (`Supervisor::hold_binds`) the same walk opens what it checks; here,
/// where it cannot, a swap after the walk is not seen.
fn check_binds(root: &std::path::Path, body: &serde_json::Value) -> Result<(), BindCheckError> {
    use crate::taskdir::beneath::Dir;
    let sources = docker::spec::bind_sources(body);
    let base = Dir::open(root).map_err(|source| BindCheckError::Root { root: root.to_path_buf(), source })?;
    for (_, src) in &sources {
        let Ok(rel) = std::path::Path::new(src).strip_prefix(root) else { continue };
        let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
        let Some((last, parents)) = parts.split_last() else { continue };
        let refused = |source| BindCheckError::Walk { src: src.to_string(), source };
        // What is missing, the engine makes (a directory, as root): no link
        // is there now (one planted after this look is not seen: only a
        // held source is safe from that).
        let dir = match base.subdir(parents, None) {
            Err(e) if e.errno == nix::errno::Errno::ENOENT => continue,
            other => other.map_err(refused)?,
        };
        if dir.kind(last).map_err(refused)? == Some(libc::S_IFLNK) {
            return Err(BindCheckError::Link { src: src.to_string(), last: last.to_string() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
