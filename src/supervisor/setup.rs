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
//!
//! Here: what the stage keeps (`SetupWork`) and its order
//! (`setup_task`); the directories are in `dirs`, the artifacts in
//! `artifacts`, templates and the payload in `templates`, the change modes
//! of a template rendered again in `changes`.

mod artifacts;
mod changes;
mod dirs;
mod templates;

use super::rendering::Renders;
use super::{Supervisor, TaskKey, launch};
use crate::policy::restart::Outcome;
use crate::process;
use crate::taskdir::{self, Fetcher};
use mio::{Interest, Registry, Token};
use nix::sys::inotify::{InitFlags, Inotify, WatchDescriptor};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

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

    /// A pre-start step failed: its event, then the restart policy (a
    /// recoverable failure is retried within the budget, as Nomad's).
    fn setup_failed(&mut self, key: TaskKey, kind: super::task::EventKind, message: String, recoverable: bool) {
        log::warn!("{}: {message}", self.label(key));
        let Some(t) = self.jobs.task_mut(key) else { return };
        t.launched = true;
        t.push_event(kind, message);
        self.decide(key, Outcome::StartError { recoverable });
    }
}
