//! A container task's start: the create request from the model, its bind
//! sources held (or checked) just before, and the start handed to the
//! engine's driver.

use super::{at, boot, slot_of};
use crate::drivers::docker::{self, StartRequest};
use crate::jobspec::model::Driver;
use crate::process::SpawnSpec;
use crate::supervisor::errors::{BindCheckError, BindsError, CreateError, NamespaceError};
use crate::supervisor::task::Container;
use crate::supervisor::{Supervisor, TaskKey};
use std::collections::HashMap;
use std::fs::File;

impl Supervisor {
    /// Starts a container task's run; the driver reports how it went.
    pub(in crate::supervisor) fn start_container(&mut self, key: TaskKey, spec: SpawnSpec) {
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
    pub(super) fn log_files(&self, key: TaskKey) -> (Option<File>, Option<File>) {
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
        let dirs = crate::supervisor::launch::task_dir(inst, t);
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
