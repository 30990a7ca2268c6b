//! The spawns of supd's start on a thread of their own. A spawn (`clone3`
//! with `CLONE_VFORK`, `process::spawn`) holds the thread that makes it
//! until the child has exec'd: about as long as the rest of a task's start
//! takes supd. While supd starts the tasks it found at start (before the
//! loop first polls), the loop's thread prepares the next task (its
//! directories, cgroup, log pipes, the journal's record) while this thread
//! makes the process of the one before.
//!
//! The loop's thread keeps the model: a request carries plain data (the
//! launch spec, its own duplicates of the log pipes' write ends, the
//! cgroup's descriptors, which the task's cgroup keeps open), and each
//! result comes back in order and is carried into the model by
//! `Supervisor::spawned`, as an inline spawn's would be. Every result is in
//! before the loop first polls (`Supervisor::spawns_done`), so nothing
//! reaps a child whose owner is not known yet; a task whose spawn is in
//! flight is not started a second time.

use super::TaskKey;
use crate::process::{self, Io, Join, SpawnError, SpawnSpec};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;

/// How many starts may wait for the thread: the loop's thread stays a few
/// tasks ahead, holding no more descriptors than that.
const AHEAD: usize = 8;

/// One task's output as the spawn gets it.
pub(super) enum Out {
    /// supd's own stream.
    Inherit,
    /// A duplicate of the task's log pipe.
    Fd(OwnedFd),
}

impl Out {
    /// `io` as a descriptor of its own (a duplicate) that can travel.
    pub(super) fn of(io: Io<'_>) -> std::io::Result<Out> {
        match io {
            Io::Fd(fd) => fd.try_clone_to_owned().map(Out::Fd),
            Io::Null | Io::Inherit => Ok(Out::Inherit),
        }
    }

    fn io(&self) -> Io<'_> {
        match self {
            Out::Inherit => Io::Inherit,
            Out::Fd(fd) => Io::Fd(fd.as_fd()),
        }
    }
}

/// A start the thread makes.
pub(super) struct Request {
    pub(super) key: TaskKey,
    pub(super) generation: u64,
    /// The task had a cgroup before this start (see `start_task_once`).
    pub(super) kept_cgroup: bool,
    pub(super) retry: bool,
    pub(super) spec: SpawnSpec,
    pub(super) stdout: Out,
    pub(super) stderr: Out,
    pub(super) join: Join,
}

/// What came of it.
pub(super) struct Done {
    pub(super) key: TaskKey,
    pub(super) generation: u64,
    pub(super) kept_cgroup: bool,
    pub(super) retry: bool,
    pub(super) result: Result<Pid, SpawnError>,
    /// The child's start time in clock ticks since boot, as `task_started`
    /// takes it.
    pub(super) ticks: Option<u64>,
}

pub(super) struct Spawner {
    to: Option<mpsc::SyncSender<Box<Request>>>,
    from: mpsc::Receiver<Done>,
    thread: Option<std::thread::JoinHandle<()>>,
    in_flight: HashSet<TaskKey>,
}

impl Spawner {
    /// The thread, or `None` when it cannot be made (then every spawn is
    /// made inline, as after bring-up).
    pub(super) fn start() -> Option<Spawner> {
        let (to, requests) = mpsc::sync_channel::<Box<Request>>(AHEAD);
        let (done, from) = mpsc::channel::<Done>();
        let thread = std::thread::Builder::new()
            .name("spawn".into())
            .spawn(move || {
                for r in requests {
                    let before = process::sys::boot_ticks_now();
                    let result = process::spawn_in(&r.spec, r.stdout.io(), r.stderr.io(), &r.join, false);
                    let ticks = match &result {
                        Ok(pid) => {
                            process::sys::child_start_ticks(pid.as_raw(), before, process::sys::boot_ticks_now())
                        }
                        Err(_) => None,
                    };
                    let d = Done {
                        key: r.key,
                        generation: r.generation,
                        kept_cgroup: r.kept_cgroup,
                        retry: r.retry,
                        result,
                        ticks,
                    };
                    if done.send(d).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Spawner { to: Some(to), from, thread: Some(thread), in_flight: HashSet::new() })
    }

    /// A spawn of this task is in flight.
    pub(super) fn busy_with(&self, key: TaskKey) -> bool {
        self.in_flight.contains(&key)
    }

    /// Hands a start to the thread (waiting while `AHEAD` are queued); the
    /// request comes back when the thread is gone.
    pub(super) fn send(&mut self, r: Box<Request>) -> Result<(), Box<Request>> {
        let key = r.key;
        let Some(to) = &self.to else { return Err(r) };
        to.send(r).map_err(|e| e.0)?;
        self.in_flight.insert(key);
        Ok(())
    }

    /// The next result: one that is in (`wait` false), or the next one
    /// at all; `None` when none is in flight (or the thread is gone).
    pub(super) fn next(&mut self, wait: bool) -> Option<Done> {
        if self.in_flight.is_empty() {
            return None;
        }
        let d = if wait { self.from.recv().ok() } else { self.from.try_recv().ok() };
        match d {
            Some(d) => {
                self.in_flight.remove(&d.key);
                Some(d)
            }
            None => None,
        }
    }

    /// The tasks whose spawns were in flight when the thread ended (it
    /// did not make them): they are started again inline.
    pub(super) fn lost(&mut self) -> Vec<TaskKey> {
        self.in_flight.drain().collect()
    }

    /// Ends the thread once its queue is done.
    pub(super) fn close(&mut self) {
        self.to = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl super::Supervisor {
    /// Hands a task's spawn to the spawn thread when one runs (supd's
    /// start) and the start needs nothing of the loop's thread (no v1
    /// cgroup join, which `warm.rs` times); gives the spec and cgroup back
    /// otherwise, for an inline spawn.
    pub(super) fn spawn_ahead(
        &mut self,
        key: TaskKey,
        spec: SpawnSpec,
        join: Join,
        kept_cgroup: bool,
        retry: bool,
        v1_join: bool,
    ) -> Result<(), Box<(SpawnSpec, Join)>> {
        if v1_join || self.pending.spawner.is_none() {
            return Err(Box::new((spec, join)));
        }
        let Some(generation) = self.jobs.task(key).map(|t| t.generation) else { return Err(Box::new((spec, join))) };
        let outs = {
            let (stdout, stderr) = self.task_io(key);
            Out::of(stdout).and_then(|o| Out::of(stderr).map(|e| (o, e)))
        };
        let Ok((stdout, stderr)) = outs else { return Err(Box::new((spec, join))) };
        let r = Box::new(Request { key, generation, kept_cgroup, retry, spec, stdout, stderr, join });
        let Some(spawner) = self.pending.spawner.as_mut() else { return Err(Box::new((r.spec, r.join))) };
        spawner.send(r).map_err(|r| Box::new((r.spec, r.join)))?;
        // What is in already goes into the model now.
        while let Some(d) = self.pending.spawner.as_mut().and_then(|s| s.next(false)) {
            self.spawned(d);
        }
        Ok(())
    }

    /// A spawn the thread made, carried into the model as an inline one.
    fn spawned(&mut self, d: Done) {
        let current = self.jobs.task(d.key).is_some_and(|t| t.generation == d.generation && t.pid.is_none());
        if !current {
            // Stopped meanwhile: the process is not the task's any more.
            if let Ok(pid) = d.result {
                let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                self.children.own(pid, super::Owner::Discarded);
            }
            return;
        }
        self.spawned_as(d.key, d.result, d.ticks, false, d.kept_cgroup, d.retry);
    }

    /// The start's spawns are all made and carried into the model; the
    /// thread ends and every later spawn is made inline. Called before the
    /// loop first polls.
    pub(super) fn spawns_done(&mut self) {
        let Some(mut spawner) = self.pending.spawner.take() else { return };
        while let Some(d) = spawner.next(true) {
            // A retry in a new cgroup is made inline: the thread is
            // no longer asked (`pending.spawner` is taken).
            self.spawned(d);
        }
        spawner.close();
        for key in spawner.lost() {
            self.start_task(key);
        }
    }
}
