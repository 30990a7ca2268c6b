//! The allocation and task directories: built before a task's first start
//! (or again when gone), and removed once their instance is stopped for
//! good; `secrets/` unmounted when supd exits.

use crate::supervisor::task::EventKind;
use crate::supervisor::task::State;
use crate::supervisor::{Supervisor, TaskKey};
use crate::taskdir::{self, AllocDir, Secrets};

impl Supervisor {
    /// The allocation and task directories of a task, built at its first
    /// start (`first`) or when gone: false when that failed (the restart
    /// policy has been asked).
    pub(super) fn build_task_dir(
        &mut self,
        key: TaskKey,
        alloc: &AllocDir,
        dir: &taskdir::TaskDir,
        owner: taskdir::beneath::Owner,
        first: bool,
    ) -> bool {
        if first && let Some(t) = self.jobs.task_mut(key) {
            t.push_event(EventKind::TaskSetup, "Building Task Directory");
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
                self.setup_failed(key, EventKind::SetupFailure, format!("cannot build the task directory: {e}"), false);
                false
            }
        }
    }

    /// Removes an instance's allocation directory once it is stopped for
    /// good (not while supd itself stops: the next supd runs it again).
    /// An instance that has ended by itself (every task dead: a finished
    /// batch run, a failed group) keeps its directory for inspection, but
    /// its tasks' `secrets/` are unmounted at once.
    pub(in crate::supervisor) fn release_alloc_dir(&mut self, serial: u64, inst: usize) {
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
    pub(in crate::supervisor) fn unmount_alloc_dirs(&self) {
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
    pub(in crate::supervisor) fn remove_unclaimed_dirs(&mut self, names: Vec<String>) {
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
