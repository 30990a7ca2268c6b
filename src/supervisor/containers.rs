//! Container tasks: what the supervisor does with the `docker` driver.
//! Starting one hands the create request to a driver thread; its reports
//! (pulling, started, failed, exited) come back through the loop and end
//! in the same places a host process's start and exit do (`task_started`,
//! `start_failed`, `on_exit`), so restarts, checks, logs, status and
//! events do not know the difference. Containers a previous supd left
//! running are adopted at start.

use super::task::Container;
use super::{Supervisor, TaskKey};
use crate::drivers::docker::{self, Docker, Endpoint, Engine, Report, StartRequest};
use crate::process::{Exit, SpawnSpec};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::fs::File;
use std::time::Duration;

/// (job, group, index, task)
type Slot = (String, String, u32, String);

/// The driver's side of the supervisor.
#[derive(Default)]
pub(super) struct Containers {
    /// Made on first use: the engine's threads and their reports.
    driver: Option<Docker<(TaskKey, u64)>>,
    token: Option<mio::Token>,
    /// Containers a previous supd left, by task: (id, pid) of a running
    /// one; `None` for one that is not running. Claimed by their task as
    /// it is made again; the rest are removed.
    found: HashMap<Slot, Vec<(String, Option<i32>)>>,
}

impl Containers {
    pub fn owns(&self, token: mio::Token) -> bool {
        self.token == Some(token)
    }

    /// Driver threads still at work (starting, following, removing).
    pub fn busy(&self) -> usize {
        self.driver.as_ref().map_or(0, Docker::busy)
    }

    /// A running container a previous supd left for this task.
    pub fn claim(&mut self, job: &str, group: &str, index: u32, task: &str) -> Option<(String, i32)> {
        let slot = (job.to_string(), group.to_string(), index, task.to_string());
        let list = self.found.get_mut(&slot)?;
        let at = list.iter().position(|(_, pid)| pid.is_some())?;
        let (id, pid) = list.remove(at);
        pid.map(|p| (id, p))
    }
}

/// How long supd waits for the engine at start (fingerprint, adoption).
const AT_START: Duration = Duration::from_secs(5);

impl Supervisor {
    fn engine_endpoint(&self) -> Result<Endpoint, String> {
        Endpoint::choose(self.cfg.docker.endpoint.as_deref())
    }

    /// The driver, made and watched on first use.
    fn docker(&mut self) -> Result<&Docker<(TaskKey, u64)>, String> {
        if self.containers.driver.is_none() {
            let ep = self.engine_endpoint()?;
            let mut d = Docker::new(Engine::new(ep)).map_err(|e| format!("cannot start the container driver: {e}"))?;
            let token = self.watches.token();
            self.poll
                .registry()
                .register(d.source(), token, mio::Interest::READABLE)
                .map_err(|e| format!("cannot watch the container driver: {e}"))?;
            self.containers.token = Some(token);
            self.containers.driver = Some(d);
        }
        self.containers.driver.as_ref().ok_or_else(|| "no container driver".to_string())
    }

    /// At start, before any job: asks the engine (briefly) for its version
    /// (`driver.docker` node attributes) and for the containers a previous
    /// supd left, to adopt or remove. No engine: no container tasks here.
    pub(super) fn find_containers(&mut self) {
        let ep = match self.engine_endpoint() {
            Ok(ep) => ep,
            Err(e) => {
                log::warn!("docker driver: {e}");
                return;
            }
        };
        let engine = Engine { endpoint: ep.clone(), timeout: AT_START };
        match docker::fingerprint(&engine) {
            Ok(attrs) => {
                log::info!("docker driver: engine {} at {ep}", attrs.last().map_or("", |a| a.1.as_str()));
                self.cfg.node.attrs.extend(attrs);
            }
            Err(e) => {
                log::info!("docker driver: no container engine answers ({e}); container tasks fail until one does");
                return;
            }
        }
        let home = self.cfg.state_dir.display().to_string();
        let listed = match engine.list(docker::LABEL_HOME, &home) {
            Ok(l) => l,
            Err(e) => {
                log::warn!("docker driver: {e}; containers of a previous supd are not adopted");
                return;
            }
        };
        for c in listed {
            let l = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
            let Ok(index) = l(docker::LABEL_INDEX).parse::<u32>() else { continue };
            let pid = if c.running { engine.inspect(&c.id).ok().filter(|s| s.running).map(|s| s.pid) } else { None };
            let slot = (l(docker::LABEL_JOB), l(docker::LABEL_GROUP), index, l(docker::LABEL_TASK));
            self.containers.found.entry(slot).or_default().push((c.id, pid));
        }
    }

    /// Once every job is in: containers of a previous supd that no task
    /// took are stopped and removed.
    pub(super) fn remove_unclaimed_containers(&mut self) {
        let left: Vec<(Slot, String)> = self
            .containers
            .found
            .drain()
            .flat_map(|(slot, list)| list.into_iter().map(move |(id, _)| (slot.clone(), id)))
            .collect();
        if left.is_empty() {
            return;
        }
        let key = TaskKey { run: 0, inst: 0, task: 0 };
        for ((job, group, index, task), id) in left {
            log::warn!(
                "{job}.{group}[{index}]/{task}: removing container {}, left by the previous supd",
                docker::short(&id)
            );
            match self.docker() {
                Ok(d) => d.remove((key, 0), id),
                Err(e) => log::warn!("docker driver: {e}"),
            }
        }
    }

    /// Starts a container task's run; the driver reports how it went.
    pub(super) fn start_container(&mut self, key: TaskKey, spec: SpawnSpec) {
        let body = match self.create_body(key, &spec) {
            Ok(b) => b,
            Err(message) => return self.start_failed(key, message, false),
        };
        self.ensure_task_log(key);
        self.journal_starting(key);
        let (stdout, stderr) = self.log_files(key);
        let name = self.container_name(key);
        let slot = slot_of(key, &self.jobs);
        let Some(t) = self.jobs.task_mut(key) else { return };
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
        t.container = Some(Container { id: None, image, generation, oom_killed: false, adopted: false });
        match self.docker() {
            Ok(d) => d.start((key, generation), req),
            Err(message) => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.container = None;
                }
                self.start_failed(key, message, true);
            }
        }
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
    fn create_body(&self, key: TaskKey, spec: &SpawnSpec) -> Result<serde_json::Value, String> {
        let run = self.jobs.runs.get(&key.run).ok_or("the job is gone")?;
        let inst = run.instances.get(key.inst).ok_or("the instance is gone")?;
        let t = inst.tasks.get(key.task).ok_or("the task is gone")?;
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
            nproc: limit(nix::sys::resource::Resource::RLIMIT_NPROC),
        };
        docker::spec::create_body(&inputs, &self.cfg.docker)
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
        let reports = self.containers.driver.as_mut().map(Docker::take).unwrap_or_default();
        for ((key, generation), report) in reports {
            self.on_container_report(key, generation, report);
        }
    }

    fn on_container_report(&mut self, key: TaskKey, generation: u64, report: Report) {
        let label = self.label(key);
        let current =
            self.jobs.task(key).and_then(|t| t.container.as_ref()).is_some_and(|c| c.generation == generation);
        if !current {
            // A run that was given up meanwhile (a stop while it started):
            // its container goes.
            if let Report::Started { id, .. } = report
                && let Ok(d) = self.docker()
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
            Report::Started { id, pid } => {
                log::info!("{label}: container {} runs", docker::short(&id));
                if let Some(c) = self.jobs.task_mut(key).and_then(|t| t.container.as_mut()) {
                    c.id = Some(id);
                }
                self.task_started(key, Pid::from_raw(pid), None);
            }
            Report::Failed { error } => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.container = None;
                }
                self.start_failed(key, error.message, error.recoverable);
            }
            Report::Exited { id, code, oom_killed, error } => {
                if let Some(e) = error {
                    log::warn!("{label}: container {}: {e}", docker::short(&id));
                }
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
            Report::SignalFailed { id, error } => {
                log::warn!("{label}: cannot signal container {}: {error}", docker::short(&id));
            }
        }
    }

    /// A task is dead for good: the container made ahead for its next run
    /// is removed.
    pub(super) fn release_container(&mut self, key: TaskKey) {
        if self.jobs.task(key).is_none_or(|t| !t.spec.driver.is_container()) || self.containers.driver.is_none() {
            return;
        }
        let slot = slot_of(key, &self.jobs);
        if let Some(d) = self.containers.driver.as_ref() {
            d.drop_spare((key, 0), &slot);
        }
    }

    /// Sends a signal to a task: through the engine for a container, to
    /// the process group for a host process.
    pub(super) fn signal_task(&mut self, key: TaskKey, sig: Signal) -> nix::Result<()> {
        let Some(t) = self.jobs.task(key) else { return Ok(()) };
        let Some(pid) = t.pid else { return Ok(()) };
        match t.container.as_ref() {
            None => crate::process::signal_group(pid, sig),
            Some(c) => {
                let (id, generation) = (c.id.clone().unwrap_or_default(), c.generation);
                if let Ok(d) = self.docker() {
                    d.kill((key, generation), id, sig.as_str().to_string());
                }
                Ok(())
            }
        }
    }

    /// A task made again with a container a previous supd left running:
    /// it is adopted (same container, same pid, its restart budget as
    /// saved), not started again.
    pub(super) fn adopt_container(run: &mut super::task::TaskRun, id: String, pid: i32) {
        run.pid = Some(Pid::from_raw(pid));
        run.state = super::task::State::Running;
        run.launched = true;
        run.started_at = Some(std::time::SystemTime::now());
        let image = run.spec.container.as_deref().map_or(String::new(), |c| c.image.clone());
        run.push_event(
            "Driver",
            format!("Adopted container {} (pid {pid}), left running by the previous supd", docker::short(&id)),
        );
        run.container =
            Some(Container { id: Some(id), image, generation: run.generation, oom_killed: false, adopted: true });
    }

    /// Follows an adopted container (its output from now, its exit) and
    /// runs its checks.
    pub(super) fn follow_adopted(&mut self, key: TaskKey) {
        let Some(c) = self.jobs.task_mut(key).and_then(|t| t.container.as_mut()).filter(|c| c.adopted) else { return };
        c.adopted = false;
        let (id, generation) = (c.id.clone().unwrap_or_default(), c.generation);
        log::info!("{}: adopted container {}", self.label(key), docker::short(&id));
        self.ensure_task_log(key);
        let (stdout, stderr) = self.log_files(key);
        match self.docker() {
            Ok(d) => d.adopt((key, generation), id, stdout, stderr),
            Err(e) => log::warn!("docker driver: {e}"),
        }
        self.journal_task(key);
        self.activate_checks(key);
    }
}

/// What identifies a task's runs to the driver: its instance and name.
fn slot_of(key: TaskKey, jobs: &super::jobs::Jobs) -> String {
    match jobs.runs.get(&key.run).and_then(|r| r.instances.get(key.inst)) {
        Some(i) => format!("{}/{}", i.id, i.tasks.get(key.task).map_or("", |t| t.spec.name.as_str())),
        None => String::new(),
    }
}
