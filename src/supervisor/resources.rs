//! What tasks may use and do use: each task's cgroup (made before its
//! first start, emptied at every end, removed once the task is dead for
//! good), its OOM kills, its usage for `status`, and whether a job fits
//! on this node beside what already runs.

use super::cgroups::{Dying, RETRY_EVERY, RETRY_FIRST};
use super::task::State;
use super::{Supervisor, TaskKey, Timer};
use crate::control::protocol::NodeStatus;
use crate::jobspec::Job;
use crate::process::Exit;
use crate::process::Join;
use std::time::Instant;

/// Why a task's run has no cgroup to join; the message is the cgroup
/// layer's.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The task's cgroup could not be made.
    #[error("{0}")]
    Create(String),
    /// Its descriptors for the child to join it could not be opened.
    #[error("{0}")]
    Join(String),
}

/// Why a job does not fit on this node beside what runs: the node's
/// reckoning (`node::fit`), as it says it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoRoom(pub String);

impl Supervisor {
    /// The cgroup the task's next run joins (made on first use), as open
    /// descriptors for the child; none without cgroups.
    pub(super) fn cgroup_for_start(&mut self, key: TaskKey) -> Result<Join, CgroupError> {
        if !self.cfg.cgroups.active() {
            return Ok(Join::none());
        }
        let label = self.label(key);
        let cgroups = &self.cfg.cgroups;
        let Some(run) = self.jobs.runs.get_mut(&key.run) else { return Ok(Join::none()) };
        // A launched run's ID holds a `/` (`JOB/periodic-T`).
        let job = run.job.id.replace('/', ".");
        let Some(inst) = run.instances.get_mut(key.inst) else { return Ok(Join::none()) };
        let group = run.job.groups.get(inst.group).map_or("", |g| g.name.as_str());
        // job.group.index.task.id: no brackets, which shells take for globs.
        let name = format!("{job}.{group}.{}", inst.index);
        let id = inst.id.get(..8).unwrap_or(&inst.id).to_string();
        let Some(t) = inst.tasks.get_mut(key.task) else { return Ok(Join::none()) };
        let name = format!("{name}.{}.{id}", t.spec.name);
        // The cgroup of an earlier run (a start that could not join it
        // dropped it: see `start_task`), or a new one.
        let cg = match t.cgroup.take() {
            Some(cg) => Ok(cg),
            None => cgroups.create(&name, &t.spec.resources).map_err(|e| CgroupError::Create(e.to_string())),
        };
        let fds = cg.and_then(|mut cg| {
            let fds = cg.join().map_err(|e| CgroupError::Join(e.to_string()))?;
            t.cgroup = Some(cg);
            Ok(fds)
        });
        if let Err(e) = &fds {
            log::error!("{label}: {e}");
        }
        fds
    }

    /// Whether the kernel's OOM killer struck the task's run that just ended.
    pub(super) fn oom_killed(&mut self, key: TaskKey, exit: Exit) -> bool {
        if self.jobs.task(key).and_then(|t| t.container.as_ref()).is_some_and(|c| c.oom_killed) {
            return true;
        }
        let sigkill = matches!(exit, Exit::Signal { signal: libc::SIGKILL, .. });
        self.jobs.task_mut(key).and_then(|t| t.cgroup.as_mut()).is_some_and(|cg| cg.end_run(sigkill))
    }

    /// Kills whatever a task's run left in its cgroup: descendants that
    /// left its process group and session too.
    pub(super) fn kill_cgroup(&self, key: TaskKey) {
        let Some(cg) = self.jobs.task(key).and_then(|t| t.cgroup.as_ref()) else { return };
        if cg.is_empty() {
            return;
        }
        let pids = cg.pids();
        match cg.kill_all(true) {
            Ok(()) => log::info!("{}: killed what it left in its cgroup (pids {pids:?})", self.label(key)),
            Err(e) => log::error!("{}: {e}", self.label(key)),
        }
    }

    /// A task is dead for good: its cgroup goes, once empty.
    pub(super) fn release_cgroup(&mut self, key: TaskKey) {
        self.release_container(key);
        let label = self.label(key);
        let Some(t) = self.jobs.task_mut(key) else { return };
        if t.pid.is_some() {
            return;
        }
        let Some(cgroup) = t.cgroup.take() else { return };
        // What it enforced, for `status` once it is gone.
        t.limits = Some(Box::new(cgroup.limits.clone()));
        if self.pending.graveyard.bury(Dying::new(cgroup, label), self.stopping()) {
            self.io.timers.arm(Instant::now() + RETRY_FIRST, Timer::CgroupRemove);
        }
    }

    /// Tries again to remove the cgroups of dead tasks.
    pub(super) fn remove_dying_cgroups(&mut self) {
        if self.pending.graveyard.retry() {
            self.io.timers.arm(Instant::now() + RETRY_EVERY, Timer::CgroupRemove);
        }
    }

    /// At exit: every task cgroup, then the parents, are removed (waiting
    /// a little for processes that are still dying).
    pub(super) fn release_all_cgroups(&mut self) {
        // supd is stopping (the loop has ended): the thread takes them.
        for key in self.jobs.task_keys() {
            self.release_cgroup(key);
        }
        self.pending.graveyard.finish();
        self.cfg.cgroups.remove_parents();
    }

    /// This node in `status`: its cgroups and its capacity.
    pub(super) fn node_status(&self) -> NodeStatus {
        let cg = &self.cfg.cgroups;
        let attr = |k: &str| self.cfg.node.attrs.get(k).and_then(|v| v.parse::<u64>().ok());
        let (cpu_reserved, memory_reserved) = self.reserved(None);
        let unreserved_tasks = self.unreserved_tasks();
        NodeStatus {
            name: self.cfg.node.name.clone(),
            datacenter: self.cfg.node.datacenter.clone(),
            cgroups: cg.active().then(|| cg.summary()),
            cgroup_problems: cg.problems.clone(),
            cpu_total: attr("cpu.totalcompute"),
            memory_total: attr("memory.totalbytes").map(|b| b / (1024 * 1024)),
            cpu_reserved,
            memory_reserved,
            unreserved_tasks,
            supd_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            supd_uptime: super::reexec::since().elapsed().ok().map(|d| d.as_secs()),
        }
    }

    /// How many tasks of the jobs that run have no `resources` block.
    fn unreserved_tasks(&self) -> u64 {
        let mut n = 0;
        for serial in self.jobs.current.values() {
            let Some(run) = self.jobs.runs.get(serial).filter(|r| !r.stopped) else { continue };
            for inst in run.instances.iter().filter(|i| i.tasks.iter().any(|t| t.state != State::Dead)) {
                n += inst.tasks.iter().filter(|t| !t.spec.resources.declared).count() as u64;
            }
        }
        n
    }

    /// What the jobs that run reserve: (cpu MHz, memory MB). Stopped jobs,
    /// and instances that have ended, reserve nothing.
    pub(super) fn reserved(&self, except: Option<&str>) -> (u64, u64) {
        let mut total = (0, 0);
        for (id, serial) in &self.jobs.current {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            if run.stopped || except == Some(id.as_str()) {
                continue;
            }
            for inst in &run.instances {
                if inst.tasks.iter().all(|t| t.state == State::Dead) {
                    continue;
                }
                for t in &inst.tasks {
                    let (c, m) = t.spec.resources.reserved();
                    total.0 += c;
                    total.1 += m;
                }
            }
        }
        total
    }

    /// Whether a job fits on this node beside what runs (its own current
    /// version aside): the check of `job run` and reloads, for a hand-off
    /// received from a peer too.
    pub fn check_fit(&self, job: &Job) -> Result<(), NoRoom> {
        self.fit_with(job, &[])
    }

    /// [`Supervisor::check_fit`], counting jobs about to be submitted too.
    pub(super) fn fit_with(&self, job: &Job, planned: &[&Job]) -> Result<(), NoRoom> {
        let (mut cpu, mut mem) = self.reserved(Some(&job.id));
        for p in planned.iter().filter(|p| p.id != job.id) {
            let (c, m) = crate::node::demand(p);
            cpu += c;
            mem += m;
        }
        crate::node::fit(&self.cfg.node, (cpu, mem), job).map_err(|e| NoRoom(e.to_string()))
    }
}
