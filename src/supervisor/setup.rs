//! The stage before a task's process is spawned, as Nomad's task runner
//! hooks: the allocation and task directories (`Task Setup`: `Building Task
//! Directory`), the artifacts (`Downloading Artifacts`, fetched once, off
//! the loop by `taskdir::Fetcher`'s helper threads), and the templates
//! (rendered before every start, off the loop with the dispatch payload by
//! `rendering.rs`; `env = true` ones join the environment).
//!
//! `start_task` asks [`Supervisor::setup_task`] first; it answers whether
//! the spawn may go on now. While artifacts are fetched the task stays
//! `pending` with `setup.fetching` set: a stop cancels the fetch (the
//! generation moves on and the helper stops at its next chunk); a result
//! comes back through the loop's waker, and the start is made again.
//!
//! Template `source` files are watched with inotify on the loop (their
//! directory, so that an editor's rename over the file is seen too); a
//! source that renders differently applies its `change_mode` after a
//! random wait of up to its `splay`.
//!
//! The allocation directory lives as long as its instance: kept across
//! restarts of the task and of supd (named by the ID the instance had when
//! it was made; the state remembers the name), removed
//! once the instance is stopped for good or replaced; with `ephemeral_disk
//! { sticky = true }` its `alloc/data` moves to the replacement first.

use super::rendering::{self, Purpose, RenderFailure, Renders, Work, Written};
use super::task::{After, State};
use super::{Supervisor, TaskKey, Timer, launch};
use crate::jobspec::duration::GoDuration;
use crate::jobspec::model::PortRef;
use crate::jobspec::taskdir_blocks::{ChangeMode, TemplateSource};
use crate::policy::restart::Outcome;
use crate::process;
use crate::taskdir::{self, AllocDir, Fetcher, Secrets, ServiceAddr};
use mio::{Interest, Registry, Token};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// A template whose `source` file is watched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceWatch {
    task: TaskKey,
    template: usize,
    /// The file's name in the watched directory.
    name: OsString,
}

/// What the pre-start stage keeps between turns of the loop.
pub(super) struct SetupWork {
    /// Artifact fetches, keyed by task and the generation they were made
    /// for (a result for an older generation is dropped).
    fetcher: Fetcher<(TaskKey, u64)>,
    /// Watches of template sources; `None` when the kernel refused one
    /// (then sources are rendered at each start only, as said at start).
    inotify: Option<Inotify>,
    sources: HashMap<WatchDescriptor, Vec<SourceWatch>>,
    /// The warning about `secrets/` not being a tmpfs was given.
    secrets_warned: bool,
    /// `change_script`s killed at their timeout, until reaped.
    timed_out: HashSet<nix::unistd::Pid>,
    /// Templates rendered and payloads written off the loop.
    pub(super) renders: Renders,
}

impl SetupWork {
    /// The fetcher wakes the loop with `waker` (the loop's one waker,
    /// shared with other helper threads); inotify is registered under
    /// `changed`.
    pub(super) fn new(registry: &Registry, waker: Arc<mio::Waker>, changed: Token) -> std::io::Result<SetupWork> {
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(i) => {
                let raw = i.as_fd().as_raw_fd();
                registry.register(&mut mio::unix::SourceFd(&raw), changed, Interest::READABLE)?;
                Some(i)
            }
            Err(e) => {
                log::warn!(
                    "cannot watch template sources ({}): a changed `source` is rendered at the task's next start only",
                    e.desc()
                );
                None
            }
        };
        Ok(SetupWork {
            renders: Renders::new(waker.clone()),
            fetcher: Fetcher::new(waker),
            inotify,
            sources: HashMap::new(),
            secrets_warned: false,
            timed_out: HashSet::new(),
        })
    }
}

/// The owner of what is made for a task: its `user`, when supd may give
/// files away (as root); else supd's own user.
fn owner_of(user: Option<&str>) -> taskdir::beneath::Owner {
    let name = user?;
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    process::lookup_user(name).ok().map(|u| (u.uid, u.gid))
}

impl Supervisor {
    /// The pre-start stage of a task: true when its process may be spawned
    /// now; false when it failed (the restart policy has been asked) or
    /// waits for its artifacts (the start is made again once they are in).
    pub(super) fn setup_task(&mut self, key: TaskKey) -> bool {
        let Some(run) = self.jobs.runs.get(&key.run) else { return false };
        let Some(instance) = run.instances.get(key.inst) else { return false };
        let Some(t) = instance.tasks.get(key.task) else { return false };
        let (Some(alloc), Some(dir)) = (instance.dir.clone(), launch::task_dir(instance, t)) else { return true };
        if t.setup.fetching.is_some() {
            return false;
        }
        let owner = owner_of(crate::drivers::exec::user_of(&t.spec));
        let first = !t.setup.built;
        let need_fetch = !t.setup.fetched && !t.spec.artifacts.is_empty();
        let has_templates = !t.spec.templates.is_empty();
        let payload = t.spec.dispatch_payload.clone().zip(run.job.payload.clone());
        if !self.build_task_dir(key, &alloc, &dir, owner, first) {
            return false;
        }
        if !need_fetch && !has_templates && payload.is_none() {
            return true;
        }
        // The task's environment (without what templates add): what
        // `${...}` in sources and destinations, and `env`, see.
        let Some(run) = self.jobs.runs.get(&key.run) else { return false };
        let Some(instance) = run.instances.get(key.inst) else { return false };
        let Some(t) = instance.tasks.get(key.task) else { return false };
        let Ok(env) = launch::setup_env(&self.cfg.node, run, instance, t) else {
            return true; // the spawn reports this one
        };
        if need_fetch {
            return self.start_fetch(key, &dir, &env);
        }
        self.request_render(key, dir, env, payload, owner)
    }

    /// The allocation and task directories of a task, built at its first
    /// start (`first`) or when gone: false when that failed (the restart
    /// policy has been asked).
    fn build_task_dir(
        &mut self,
        key: TaskKey,
        alloc: &AllocDir,
        dir: &taskdir::TaskDir,
        owner: taskdir::beneath::Owner,
        first: bool,
    ) -> bool {
        if first && let Some(t) = self.jobs.task_mut(key) {
            t.push_event("Task Setup", "Building Task Directory".into());
            t.setup.built = true;
        }
        // Built at the first start; a later start builds it again only when
        // it is gone (removed under supd): one stat on a restart's path.
        let built = if first || !std::fs::symlink_metadata(dir.local()).is_ok_and(|m| m.is_dir()) {
            alloc.build().and_then(|()| dir.build(owner))
        } else {
            Ok(Secrets::Tmpfs)
        };
        match built {
            Ok(Secrets::Tmpfs) => true,
            Ok(Secrets::Directory { warning }) => {
                if !self.pending.setup.secrets_warned {
                    self.pending.setup.secrets_warned = true;
                    log::warn!("{warning} (said once for every task)");
                }
                true
            }
            Err(e) => {
                self.setup_failed(key, "Setup Failure", format!("cannot build the task directory: {e}"), false);
                false
            }
        }
    }

    /// Starts the download of a task's artifacts, with `${...}` resolved in
    /// `env`; always false: the start is made again once they are in, or
    /// the failure has asked the restart policy.
    fn start_fetch(&mut self, key: TaskKey, dir: &taskdir::TaskDir, env: &BTreeMap<String, String>) -> bool {
        let Some(t) = self.jobs.task(key) else { return false };
        let node = &self.cfg.node;
        let vars = |name: &str| launch::lookup_in(node, env, name);
        let prepared: Result<Vec<_>, _> =
            // Owned by supd's user, as Nomad's without `chown`.
            t.spec.artifacts.iter().map(|a| taskdir::artifact::prepare(a, dir, &vars, None)).collect();
        let generation = t.generation;
        let limits = self.cfg.artifact_limits.clone();
        // A file of this host only from the directories supd.toml lists.
        let prepared = prepared.and_then(|fetches| {
            for f in &fetches {
                taskdir::artifact::check_file_root(f, &limits.file_roots)?;
            }
            Ok(fetches)
        });
        let started = prepared.and_then(|fetches| {
            self.pending
                .setup
                .fetcher
                .start((key, generation), fetches, limits)
                .map_err(|e| taskdir::ArtifactError::Io(format!("cannot start a download thread: {e}")))
        });
        match started {
            Ok(handle) => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.push_event("Downloading Artifacts", "Client is downloading artifacts".into());
                    t.setup.fetching = Some(handle);
                }
            }
            Err(e) => {
                self.setup_failed(key, "Failed Artifact Download", format!("Failed to download artifacts: {e}"), true);
            }
        }
        false
    }

    /// The templates and the payload of a task's start: true once written
    /// for its generation (what they set is carried in); else false, and
    /// the writing is asked of a thread (or failed, or already asked).
    fn request_render(
        &mut self,
        key: TaskKey,
        dir: taskdir::TaskDir,
        env: BTreeMap<String, String>,
        payload: Option<(String, Vec<u8>)>,
        owner: taskdir::beneath::Owner,
    ) -> bool {
        let Some(run) = self.jobs.runs.get(&key.run) else { return false };
        let Some(instance) = run.instances.get(key.inst) else { return false };
        let Some(t) = instance.tasks.get(key.task) else { return false };
        // The templates and the payload, written off the loop for this
        // generation: their results are taken once, then the spawn goes on.
        let generation = t.generation;
        if t.setup.rendered.as_ref().is_some_and(|(g, _)| *g == generation) {
            let written = self.jobs.task_mut(key).and_then(|t| t.setup.rendered.take()).map(|(_, w)| w);
            self.carry_rendered(key, written.unwrap_or_default());
            return true;
        }
        if t.setup.rendering == Some(generation) {
            return false;
        }
        let templates: Vec<_> = t
            .spec
            .templates
            .iter()
            .enumerate()
            .filter(|(i, _)| !t.setup.once.contains_key(i))
            .map(|(i, tpl)| (i, tpl.clone()))
            .collect();
        let (services, variables) = self.render_world(run, instance, t, &t.spec.templates);
        let work = Work {
            key,
            generation,
            purpose: Purpose::Start,
            dir,
            templates,
            payload: payload.map(|(file, bytes)| (file, std::sync::Arc::from(bytes))),
            env,
            node: self.cfg.node.clone(),
            services,
            variables,
            max_output: self.cfg.template_bytes,
            owner,
        };
        if let Err(e) = self.pending.setup.renders.start(work) {
            self.setup_failed(key, "Failed Templates", format!("cannot start a thread to render templates: {e}"), true);
            return false;
        }
        if let Some(t) = self.jobs.task_mut(key) {
            t.setup.rendering = Some(generation);
        }
        self.io.timers.arm(Instant::now() + rendering::DEADLINE, Timer::RenderTimeout { task: key, generation });
        false
    }

    /// What a task's templates set, carried into it before its spawn: the
    /// environment of `env = true` ones (in the task's order; a `once`
    /// template's as first rendered), and the sources to watch.
    fn carry_rendered(&mut self, key: TaskKey, written: Vec<Written>) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        let mut added = Vec::new();
        let mut watch = Vec::new();
        for i in 0..t.spec.templates.len() {
            if let Some(env) = t.setup.once.get(&i) {
                added.extend(env.iter().cloned());
                continue;
            }
            let Some(w) = written.iter().find(|w| w.index == i) else { continue };
            if t.spec.templates[i].once {
                t.setup.once.insert(i, w.env.clone());
            }
            added.extend(w.env.iter().cloned());
            if let Some(path) = &w.source {
                watch.push((i, path.clone()));
            }
        }
        t.setup.env = added;
        for (template, path) in watch {
            self.watch_source(key, template, &path);
        }
    }

    /// File work that ended off the loop: a start goes on, or its failure
    /// goes to the restart policy; a template rendered again applies its
    /// change mode when it changed.
    pub(super) fn on_rendered(&mut self) {
        while let Some(done) = self.pending.setup.renders.try_recv() {
            let key = done.key;
            let Some(t) = self.jobs.task_mut(key) else { continue };
            match done.purpose {
                Purpose::Start => {
                    if t.generation != done.generation || t.setup.rendering != Some(done.generation) {
                        continue; // given up: the task was stopped, or its deadline passed
                    }
                    t.setup.rendering = None;
                    match done.outcome {
                        Ok(written) => {
                            t.setup.rendered = Some((done.generation, written));
                            self.start_task(key);
                        }
                        Err(RenderFailure::Payload(e)) => self.setup_failed(
                            key,
                            "Setup Failure",
                            format!("cannot write the dispatch payload: {e}"),
                            false,
                        ),
                        Err(e @ RenderFailure::Template(_)) => {
                            self.setup_failed(key, "Failed Templates", format!("Template failed: {e}"), true)
                        }
                    }
                }
                Purpose::Again { template } => {
                    let again = t.setup.again.remove(&template) == Some(true);
                    if t.generation == done.generation && t.state == State::Running && t.stopping.is_none() {
                        self.rerendered(key, done.generation, template, done.outcome);
                    }
                    if again {
                        self.rerender(key, template);
                    }
                }
            }
        }
    }

    /// A start whose file work has not ended within its deadline fails.
    pub(super) fn render_timed_out(&mut self, key: TaskKey, generation: u64) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        if t.generation != generation || t.setup.rendering != Some(generation) {
            return;
        }
        t.setup.rendering = None;
        let message = format!(
            "Template failed: the task's templates were not rendered and written within {} s (is a filesystem under its directory stalled?)",
            rendering::DEADLINE.as_secs()
        );
        self.setup_failed(key, "Failed Templates", message, true);
    }

    /// A pre-start step failed: its event, then the restart policy (a
    /// recoverable failure is retried within the budget, as Nomad's).
    fn setup_failed(&mut self, key: TaskKey, kind: &'static str, message: String, recoverable: bool) {
        log::warn!("{}: {message}", self.label(key));
        let Some(t) = self.jobs.task_mut(key) else { return };
        t.launched = true;
        t.push_event(kind, message);
        self.decide(key, Outcome::StartError { recoverable });
    }

    /// Fetches that ended: the task starts, or its failure goes to the
    /// restart policy.
    pub(super) fn on_fetched(&mut self) {
        while let Some(((key, generation), outcome)) = self.pending.setup.fetcher.try_recv() {
            let Some(t) = self.jobs.task_mut(key) else { continue };
            if t.generation != generation || t.setup.fetching.is_none() {
                continue; // cancelled: the task was stopped meanwhile
            }
            t.setup.fetching = None;
            match outcome {
                Ok(fetched) => {
                    t.setup.fetched = true;
                    let label = self.label(key);
                    for f in &fetched {
                        log::info!("{label}: fetched {} into {} ({} bytes)", f.source, f.path.display(), f.downloaded);
                    }
                    self.start_task(key);
                }
                Err(e) => self.setup_failed(
                    key,
                    "Failed Artifact Download",
                    format!("Failed to download artifacts: {e}"),
                    true,
                ),
            }
        }
    }

    /// Watches the directory of a template's `source` file.
    fn watch_source(&mut self, task: TaskKey, template: usize, path: &Path) {
        let (Some(inotify), Some(dir), Some(name)) = (&self.pending.setup.inotify, path.parent(), path.file_name())
        else {
            return;
        };
        let flags = AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO;
        match inotify.add_watch(dir, flags) {
            Ok(wd) => {
                let w = SourceWatch { task, template, name: name.to_os_string() };
                let list = self.pending.setup.sources.entry(wd).or_default();
                if !list.contains(&w) {
                    list.push(w);
                }
            }
            Err(e) => log::warn!(
                "{}: cannot watch {} ({}): a change is rendered at the next start only",
                self.label(task),
                path.display(),
                e.desc()
            ),
        }
    }

    /// Template sources changed on disk: each is rendered again, and one
    /// that renders differently applies its change mode after its splay.
    pub(super) fn on_template_sources(&mut self) {
        let Some(inotify) = &self.pending.setup.inotify else { return };
        let mut hit: Vec<(TaskKey, usize)> = Vec::new();
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for ev in events {
                if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                    // The directory is gone (its instance was removed): the
                    // kernel dropped the watch, and may hand its number out again.
                    self.pending.setup.sources.remove(&ev.wd);
                    continue;
                }
                let Some(list) = self.pending.setup.sources.get(&ev.wd) else { continue };
                for w in list.iter().filter(|w| ev.name.as_ref() == Some(&w.name)) {
                    if !hit.contains(&(w.task, w.template)) {
                        hit.push((w.task, w.template));
                    }
                }
            }
        }
        // Watches of tasks that are gone are dropped as their files change.
        let jobs = &self.jobs;
        self.pending.setup.sources.retain(|_, list| {
            list.retain(|w| jobs.task(w.task).is_some());
            !list.is_empty()
        });
        for (key, template) in hit {
            self.rerender(key, template);
        }
    }

    /// Renders one template of a running task again, off the loop; one
    /// render of a template at a time (a change meanwhile renders it once
    /// more after).
    pub(super) fn rerender(&mut self, key: TaskKey, template: usize) {
        let Some(run) = self.jobs.runs.get(&key.run) else { return };
        let Some(instance) = run.instances.get(key.inst) else { return };
        let Some(t) = instance.tasks.get(key.task) else { return };
        if t.state != State::Running || t.stopping.is_some() {
            return; // rendered at its next start anyway
        }
        if t.setup.again.contains_key(&template) {
            if let Some(t) = self.jobs.task_mut(key) {
                t.setup.again.insert(template, true);
            }
            return;
        }
        let (Some(dir), Some(tpl)) = (launch::task_dir(instance, t), t.spec.templates.get(template)) else { return };
        let Ok(env) = launch::setup_env(&self.cfg.node, run, instance, t) else { return };
        let (services, variables) = self.render_world(run, instance, t, std::slice::from_ref(tpl));
        let work = Work {
            key,
            generation: t.generation,
            purpose: Purpose::Again { template },
            dir,
            templates: vec![(template, tpl.clone())],
            payload: None,
            env,
            node: self.cfg.node.clone(),
            services,
            variables,
            max_output: self.cfg.template_bytes,
            owner: owner_of(crate::drivers::exec::user_of(&t.spec)),
        };
        match self.pending.setup.renders.start(work) {
            Ok(()) => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.setup.again.insert(template, false);
                }
            }
            Err(e) => log::warn!("{}: cannot start a thread to render a template again: {e}", self.label(key)),
        }
    }

    /// A template of a running task rendered again: when the file
    /// changed, its change mode is armed; a failure stops the task.
    fn rerendered(
        &mut self,
        key: TaskKey,
        generation: u64,
        template: usize,
        outcome: Result<Vec<Written>, RenderFailure>,
    ) {
        let Some(t) = self.jobs.task(key) else { return };
        let Some(splay) = t.spec.templates.get(template).map(|tpl| tpl.splay) else { return };
        match outcome {
            Ok(written) => {
                let Some(r) = written.into_iter().next().filter(|r| r.changed) else { return };
                log::info!("{}: {} rendered again", self.label(key), r.path.display());
                if let Some(t) = self.jobs.task_mut(key)
                    && tpl_env_changed(&mut t.setup.env, &r.env)
                {
                    log::debug!("{}: its template environment changed", t.spec.name);
                }
                let wait = splay.mul_f64(self.io.rng.jitter());
                self.io.timers.arm(Instant::now() + wait, Timer::TemplateChange { task: key, generation, template });
            }
            Err(e) => {
                // As Nomad's template runner: a failed render while running
                // stops the task (Killing), which then fails.
                log::warn!("{}: Template failed: {e}", self.label(key));
                if let Some(t) = self.jobs.task_mut(key) {
                    t.push_event("Failed Templates", format!("Template failed: {e}"));
                }
                self.stop_task(key, After::Restart(Outcome::FailureRestart { success: false }));
            }
        }
    }

    /// A re-rendered template's change mode, after its splay.
    pub(super) fn template_changed(&mut self, key: TaskKey, generation: u64, template: usize) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        if t.generation != generation || t.state != State::Running || t.stopping.is_some() {
            return;
        }
        let Some(mode) = t.spec.templates.get(template).map(|tpl| tpl.change_mode.clone()) else { return };
        match mode {
            ChangeMode::Noop => {}
            ChangeMode::Restart => {
                t.push_event("Restart Signaled", "Template with change_mode restart re-rendered".into());
                self.stop_task(key, After::Restart(Outcome::UserRestart));
            }
            ChangeMode::Signal(name) => {
                let Some(pid) = t.pid else { return };
                let Some(sig) = crate::signals::parse(&name) else { return };
                t.push_event("Signaling", format!("Task being sent signal {}: Template re-rendered", sig.as_str()));
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
                        self.children.own(pid, super::Owner::ChangeScript { task: key, template });
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
    pub(super) fn change_script_timed_out(&mut self, pid: nix::unistd::Pid) {
        if self.children.owns(pid) {
            self.pending.setup.timed_out.insert(pid);
            let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// A `change_script` ended: Nomad's words for how; a failure with
    /// `fail_on_error` stops the task for good, failed.
    pub(super) fn on_change_script_exit(
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
                    "Task hook message",
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
        t.push_event("Task hook failed", why);
        let fail = matches!(
            t.spec.templates.get(template).map(|tpl| &tpl.change_mode),
            Some(ChangeMode::Script(s)) if s.fail_on_error
        );
        if fail && t.state == State::Running && t.stopping.is_none() {
            // Nomad kills it with a failing event.
            t.push_event("Task hook failed", "Template script failed, task is being killed".into());
            t.failed = true;
            self.stop_task(key, After::Killed);
        }
    }

    /// What rendering `templates` of task `t` may see beyond its
    /// environment: the services registered here (when they may ask), and
    /// the Nomad Variables the task may read.
    fn render_world(
        &self,
        run: &super::task::JobRun,
        instance: &super::task::Instance,
        t: &super::task::TaskRun,
        templates: &[crate::jobspec::taskdir_blocks::Template],
    ) -> (Vec<ServiceAddr>, std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>) {
        let services = if needs_services(templates) { self.registered_services() } else { Vec::new() };
        let group = &run.job.groups[instance.group].name;
        (services, self.readable_variables(&run.job.id, group, &t.spec.name))
    }

    /// The services supd registered on this host, as `nomadService` sees
    /// them: those of instances that run, at 127.0.0.1 and their port.
    fn registered_services(&self) -> Vec<ServiceAddr> {
        let mut out = Vec::new();
        for run in self.jobs.runs.values().filter(|r| !r.stopped) {
            for inst in run.instances.iter().filter(|i| i.tasks.iter().any(|t| t.state == State::Running)) {
                let group = &run.job.groups[inst.group];
                let task_services = group.tasks.iter().flat_map(|t| t.services.iter().map(move |s| (Some(t), s)));
                for (task, svc) in group.services.iter().map(|s| (None, s)).chain(task_services) {
                    let (port, label) = match &svc.port {
                        Some(PortRef::Number(n)) => (*n, n.to_string()),
                        Some(PortRef::Label(l)) => {
                            (inst.ports.iter().find(|(x, _)| x == l).map_or(0, |(_, p)| *p), l.clone())
                        }
                        Some(PortRef::Interpolated(written)) => {
                            // As at a check's start: in the service's task,
                            // or the group's first for a group service.
                            let at = task.and_then(|t| group.tasks.iter().position(|x| x.name == t.name));
                            let port = inst.tasks.get(at.unwrap_or(0)).map_or(0, |t| {
                                super::launch::port_of(&self.cfg.node, run, inst, t, written).unwrap_or(0)
                            });
                            (port, port.to_string())
                        }
                        None => (0, String::new()),
                    };
                    let owner = task.map_or_else(|| format!("group-{}", group.name), |t| t.name.clone());
                    out.push(ServiceAddr {
                        id: format!("_nomad-task-{}-{owner}-{}-{label}", inst.id, svc.name),
                        name: svc.name.clone(),
                        address: "127.0.0.1".into(),
                        port,
                        tags: svc.tags.clone(),
                        job: run.job.id.clone(),
                        alloc_id: inst.id.clone(),
                    });
                }
            }
        }
        out
    }

    /// Removes an instance's allocation directory once it is stopped for
    /// good (not while supd itself stops: the next supd runs it again).
    /// An instance that has ended by itself (every task dead: a finished
    /// batch run, a failed group) keeps its directory for inspection, but
    /// its tasks' `secrets/` are unmounted at once.
    pub(super) fn release_alloc_dir(&mut self, serial: u64, inst: usize) {
        if self.stopping() {
            return;
        }
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return };
        let Some(i) = run.instances.get_mut(inst) else { return };
        if (!run.stopped && !i.removed) || i.is_live() {
            let ended = !i.is_live() && i.tasks.iter().all(|t| t.state == State::Dead);
            if ended && i.tasks.iter().any(|t| t.setup.built) {
                // A later start builds the directory again, mounting anew.
                for t in &mut i.tasks {
                    t.setup.built = false;
                }
                if let Some(dir) = &i.dir
                    && let Err(e) = dir.unmount()
                {
                    log::warn!("{}: {e}", i.name);
                }
            }
            return;
        }
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let Some(i) = run.instances.get(inst) else { return };
        let Some(dir) = i.dir.as_ref().filter(|d| d.root().exists()).cloned() else { return };
        let group = &run.job.groups[i.group];
        if group.ephemeral_disk_sticky
            && let Some(next) = self.replacement_dir(&run.job.id, serial, &group.name, i.index)
        {
            match next.build().and_then(|()| dir.move_data_to(&next)) {
                Ok(()) => log::info!("{}: alloc/data moved to {} (sticky)", i.name, next.root().display()),
                Err(e) => log::warn!("{}: cannot move alloc/data to its replacement: {e}", i.name),
            }
        }
        match dir.remove() {
            Ok(()) => log::debug!("{}: removed {}", i.name, dir.root().display()),
            Err(e) => log::warn!("{}: cannot remove its allocation directory: {e}", i.name),
        }
    }

    /// At exit, once every task has ended: every task's `secrets/` is
    /// unmounted, and the directories stay for the next supd, which mounts
    /// them again at each task's start; the bind sources held for
    /// container tasks are let go, their staging points and the staging
    /// root's own mount with them (`<data_dir>/binds`, made again at the
    /// next supd's first container start). Nothing of supd's stays
    /// mounted, so that its data directory can be removed as any other.
    pub(super) fn unmount_alloc_dirs(&self) {
        let root = self.cfg.data_dir.join("alloc");
        match taskdir::layout::unmount_below(&root) {
            Ok(left) if left.is_empty() => {}
            Ok(left) => log::warn!("still mounted (busy) below {}: {left:?}", root.display()),
            Err(e) => log::warn!("cannot unmount the tasks' secrets/: {e}"),
        }
        if let Err(e) = taskdir::binds::release_all(&taskdir::binds::root_of(&self.cfg.data_dir)) {
            log::warn!("cannot let go of the bind sources held for container tasks: {e}");
        }
    }

    /// The allocation directory of the instance that replaces `group[index]`
    /// of job `id`'s version `serial`.
    fn replacement_dir(&self, id: &str, serial: u64, group: &str, index: u32) -> Option<AllocDir> {
        let current = *self.jobs.current.get(id)?;
        if current == serial {
            return None;
        }
        let run = self.jobs.runs.get(&current)?;
        run.instances.iter().find(|i| run.job.groups[i.group].name == group && i.index == index)?.dir.clone()
    }

    /// Allocation directories of instances a previous supd ran that are
    /// not run again (their job is gone or changed), by name.
    pub(super) fn remove_unclaimed_dirs(&mut self, names: Vec<String>) {
        for name in names {
            let Ok(dir) = AllocDir::new(&self.cfg.data_dir, &name) else { continue };
            let used = self.jobs.runs.values().flat_map(|r| &r.instances).any(|i| i.dir.as_ref() == Some(&dir));
            if used {
                continue;
            }
            if dir.root().exists() && dir.root().exists() {
                match dir.remove() {
                    Ok(()) => log::info!("removed {}, left by an instance that no longer runs", dir.root().display()),
                    Err(e) => log::warn!("cannot remove {}: {e}", dir.root().display()),
                }
            }
            // What a previous supd held for its container tasks.
            if let Err(e) = taskdir::binds::release(&self.cfg.data_dir, &name, None) {
                log::warn!("cannot let go of the bind sources held for {name}: {e}");
            }
        }
    }
}

/// Whether a template may call `nomadService(s)` (a `source` file may).
fn needs_services(templates: &[crate::jobspec::taskdir_blocks::Template]) -> bool {
    templates.iter().any(|t| match &t.source {
        TemplateSource::Data(d) => d.contains("nomadService"),
        TemplateSource::File(_) => true,
    })
}

/// Puts a re-rendered `env = true` template's variables in place of the
/// old ones (they take effect at the next start, as Nomad's); whether
/// anything changed.
fn tpl_env_changed(env: &mut Vec<(String, String)>, new: &[(String, String)]) -> bool {
    let mut changed = false;
    for (k, v) in new {
        match env.iter_mut().find(|(e, _)| e == k) {
            Some((_, old)) if old == v => {}
            Some((_, old)) => {
                *old = v.clone();
                changed = true;
            }
            None => {
                env.push((k.clone(), v.clone()));
                changed = true;
            }
        }
    }
    changed
}
