//! Templates and the dispatch payload: written off the loop before every
//! start (`rendering.rs`), what they set carried into the task, their
//! `source` files watched by inotify and rendered again when they change.

use super::{SourceWatch, owner_of};
use crate::jobspec::model::PortRef;
use crate::jobspec::taskdir_blocks::TemplateSource;
use crate::policy::restart::Outcome;
use crate::supervisor::rendering::{self, Purpose, RenderFailure, Work};
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{After, State, Written};
use crate::supervisor::{Supervisor, TaskKey, Timer, launch};
use crate::taskdir::{self, ServiceAddr};
use nix::sys::inotify::AddWatchFlags;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

impl Supervisor {
    /// The templates and the payload of a task's start: true once written
    /// for its generation (what they set is carried in); else false, and
    /// the writing is asked of a thread (or failed, or already asked).
    pub(super) fn request_render(
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
        if t.setup.tpl().rendered.as_ref().is_some_and(|(g, _)| *g == generation) {
            let written = self.jobs.task_mut(key).and_then(|t| t.setup.tpl_mut().rendered.take()).map(|(_, w)| w);
            self.carry_rendered(key, written.unwrap_or_default());
            return true;
        }
        if t.setup.tpl().rendering == Some(generation) {
            return false;
        }
        let templates: Vec<_> = t
            .spec
            .templates
            .iter()
            .enumerate()
            .filter(|(i, _)| !t.setup.tpl().once.contains_key(i))
            .map(|(i, tpl)| (i, tpl.clone()))
            .collect();
        let world = self.render_world(run, instance, t, &t.spec.templates);
        let work = Work {
            key,
            generation,
            purpose: Purpose::Start,
            dir,
            templates,
            payload: payload.map(|(file, bytes)| (file, std::sync::Arc::from(bytes))),
            env,
            node: self.cfg.node.clone(),
            world,
            max_output: self.cfg.template_bytes,
            owner,
        };
        if let Err(e) = self.pending.setup.renders.start(work) {
            self.setup_failed(
                key,
                EventKind::FailedTemplates,
                format!("cannot start a thread to render templates: {e}"),
                true,
            );
            return false;
        }
        if let Some(t) = self.jobs.task_mut(key) {
            t.setup.tpl_mut().rendering = Some(generation);
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
            if let Some(env) = t.setup.tpl().once.get(&i) {
                added.extend(env.iter().cloned());
                continue;
            }
            let Some(w) = written.iter().find(|w| w.index == i) else { continue };
            if t.spec.templates[i].once {
                t.setup.tpl_mut().once.insert(i, w.env.clone());
            }
            added.extend(w.env.iter().cloned());
            if let Some(path) = &w.source {
                watch.push((i, path.clone()));
            }
        }
        t.setup.tpl_mut().env = added;
        for (template, path) in watch {
            self.watch_source(key, template, &path);
        }
    }

    /// File work that ended off the loop: a start goes on, or its failure
    /// goes to the restart policy; a template rendered again applies its
    /// change mode when it changed.
    pub(in crate::supervisor) fn on_rendered(&mut self) {
        while let Some(done) = self.pending.setup.renders.try_recv() {
            let key = done.key;
            let Some(t) = self.jobs.task_mut(key) else { continue };
            match done.purpose {
                Purpose::Start => {
                    if t.generation != done.generation || t.setup.tpl().rendering != Some(done.generation) {
                        continue; // given up: the task was stopped, or its deadline passed
                    }
                    t.setup.tpl_mut().rendering = None;
                    match done.outcome {
                        Ok(written) => {
                            t.setup.tpl_mut().rendered = Some((done.generation, written));
                            self.start_task(key);
                        }
                        Err(RenderFailure::Payload(e)) => self.setup_failed(
                            key,
                            EventKind::SetupFailure,
                            format!("cannot write the dispatch payload: {e}"),
                            false,
                        ),
                        Err(RenderFailure::Template(taskdir::RenderError::Missing(paths))) => {
                            self.wait_for_variables(key, done.generation, paths)
                        }
                        Err(e @ RenderFailure::Template(_)) => {
                            self.setup_failed(key, EventKind::FailedTemplates, format!("Template failed: {e}"), true)
                        }
                    }
                }
                Purpose::Again { template } => {
                    let again = t.setup.tpl_mut().again.remove(&template) == Some(true);
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

    /// A start whose templates read variables not written yet: the task
    /// stays pending until a `var put` of one of them renders them again
    /// (`variable_written`), as Nomad's template runner waits for a missing
    /// dependency; no restart attempt is spent. The `Template` event says
    /// what it waits for, again only when that changes.
    fn wait_for_variables(&mut self, key: TaskKey, generation: u64, paths: Vec<String>) {
        // One was written while the render ran (it saw the variables as
        // they were when it was asked): render again now, or the put that
        // came meanwhile would wake nobody.
        if self.reports.variables.as_ref().is_some_and(|store| paths.iter().any(|p| store.vars.contains_key(p))) {
            return self.start_task(key);
        }
        let label = self.label(key);
        let Some(t) = self.jobs.task_mut(key) else { return };
        let message = taskdir::RenderError::Missing(paths.clone()).to_string();
        if !t.events.back().is_some_and(|e| e.kind == EventKind::Template && *e.message == *message) {
            log::info!("{label}: {message}; it starts once `supctl var put` writes it");
            t.push_event(EventKind::Template, message);
        }
        t.setup.tpl_mut().missing = Some((generation, paths));
    }

    /// A variable was written: the starts that waited for it go on.
    pub(in crate::supervisor) fn variable_written(&mut self, path: &str) {
        let mut due = Vec::new();
        for (&run, r) in &self.jobs.runs {
            for (inst, i) in r.instances.iter().enumerate() {
                for (task, t) in i.tasks.iter().enumerate() {
                    if t.setup
                        .tpl()
                        .missing
                        .as_ref()
                        .is_some_and(|(g, paths)| *g == t.generation && paths.iter().any(|p| p == path))
                    {
                        due.push(TaskKey { run, inst, task });
                    }
                }
            }
        }
        for key in due {
            if let Some(t) = self.jobs.task_mut(key) {
                t.setup.tpl_mut().missing = None;
            }
            self.start_task(key);
        }
    }

    /// A start whose file work has not ended within its deadline fails.
    pub(in crate::supervisor) fn render_timed_out(&mut self, key: TaskKey, generation: u64) {
        let Some(t) = self.jobs.task_mut(key) else { return };
        if t.generation != generation || t.setup.tpl().rendering != Some(generation) {
            return;
        }
        t.setup.tpl_mut().rendering = None;
        let message = format!(
            "Template failed: the task's templates were not rendered and written within {} s (is a filesystem under its directory stalled?)",
            rendering::DEADLINE.as_secs()
        );
        self.setup_failed(key, EventKind::FailedTemplates, message, true);
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
    pub(in crate::supervisor) fn on_template_sources(&mut self) {
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
    pub(in crate::supervisor) fn rerender(&mut self, key: TaskKey, template: usize) {
        let Some(run) = self.jobs.runs.get(&key.run) else { return };
        let Some(instance) = run.instances.get(key.inst) else { return };
        let Some(t) = instance.tasks.get(key.task) else { return };
        if t.state != State::Running || t.stopping.is_some() {
            return; // rendered at its next start anyway
        }
        if t.setup.tpl().again.contains_key(&template) {
            if let Some(t) = self.jobs.task_mut(key) {
                t.setup.tpl_mut().again.insert(template, true);
            }
            return;
        }
        let (Some(dir), Some(tpl)) = (launch::task_dir(instance, t), t.spec.templates.get(template)) else { return };
        let Ok(env) = launch::setup_env(&self.cfg.node, run, instance, t) else { return };
        let world = self.render_world(run, instance, t, std::slice::from_ref(tpl));
        let work = Work {
            key,
            generation: t.generation,
            purpose: Purpose::Again { template },
            dir,
            templates: vec![(template, tpl.clone())],
            payload: None,
            env,
            node: self.cfg.node.clone(),
            world,
            max_output: self.cfg.template_bytes,
            owner: owner_of(crate::drivers::exec::user_of(&t.spec)),
        };
        match self.pending.setup.renders.start(work) {
            Ok(()) => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.setup.tpl_mut().again.insert(template, false);
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
                    && tpl_env_changed(&mut t.setup.tpl_mut().env, &r.env)
                {
                    log::debug!("{}: its template environment changed", t.spec.name);
                }
                let wait = splay.mul_f64(self.io.rng.jitter());
                self.io.timers.arm(Instant::now() + wait, Timer::TemplateChange { task: key, generation, template });
            }
            Err(RenderFailure::Template(taskdir::RenderError::Missing(paths))) => {
                // Purged while the task runs: as consul-template, the file
                // stays as last rendered until the variable is back.
                let message = taskdir::RenderError::Missing(paths).to_string();
                log::info!("{}: {message}; its file stays as it was until then", self.label(key));
            }
            Err(e) => {
                // As Nomad's template runner: a failed render while running
                // stops the task (Killing), which then fails.
                log::warn!("{}: Template failed: {e}", self.label(key));
                if let Some(t) = self.jobs.task_mut(key) {
                    t.push_event(EventKind::FailedTemplates, format!("Template failed: {e}"));
                }
                self.stop_task(key, After::Restart(Outcome::FailureRestart { success: false }));
            }
        }
    }

    /// What rendering `templates` of task `t` may see beyond its
    /// environment: the services registered here (when they may ask), and
    /// the Nomad Variables the task may read.
    fn render_world(
        &self,
        run: &crate::supervisor::task::JobRun,
        instance: &crate::supervisor::task::Instance,
        t: &crate::supervisor::task::TaskRun,
        templates: &[crate::jobspec::taskdir_blocks::Template],
    ) -> rendering::World {
        let services = if needs_services(templates) { self.registered_services() } else { Vec::new() };
        let group = &run.job.groups[instance.group].name;
        rendering::World {
            services,
            variables: self.readable_variables(run, group, &t.spec.name),
            readable: crate::supervisor::variables::readable_paths(run, group, &t.spec.name),
        }
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
                            let port = inst
                                .tasks
                                .get(at.unwrap_or(0))
                                .map_or(0, |t| launch::port_of(&self.cfg.node, run, inst, t, written).unwrap_or(0));
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
