//! Keeps the loop from waiting on the kernel's cgroup core when a task
//! joins v1 cgroups (its memory and cpu cgroups on a v1 or hybrid host).
//!
//! A v1 join is a migration: it takes the cgroup core's threadgroup lock
//! for writing, and unless the host mounts cgroup2 with `favordynmods`,
//! the first writer after a quiet spell waits for an RCU grace period
//! (7–16 ms measured on this kind of host); writers within about 10 ms of
//! the last one do not wait (0.03–0.09 ms). The child makes the join
//! before its exec, and supd waits for that exec (vfork), so a cold join
//! held up the whole loop: every other task's restart, check and `status`.
//!
//! So when a task with v1 joins is to start and no migration happened in
//! the last [`WARM_FOR`], its start waits instead (the loop goes on): a
//! thread of its own moves itself into the cgroup it is already in (a
//! migration that changes nothing, and pays the wait), then wakes the
//! loop, which makes every task that waited due at once, while the lock
//! is warm (as timers: a turn of the loop starts no more of them than its
//! timer budget allows).
//! The task itself starts no sooner than before; nothing else waits.

use super::task::TaskKey;
use mio::Waker;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

/// How long after a migration the next one is taken to find the lock warm
/// (measured: warm up to 10 ms after, cold from 20 ms).
pub const WARM_FOR: Duration = Duration::from_millis(5);

pub(super) struct Warmer {
    /// The `tasks` file of supd's own cgroup in a v1 hierarchy; `None`
    /// where no task joins a v1 cgroup.
    file: Option<PathBuf>,
    waker: Arc<Waker>,
    /// To and from the thread, once it is made.
    thread: Option<(Sender<()>, Receiver<()>)>,
    /// A request is with the thread.
    asked: bool,
    /// Tasks waiting, with the generation their start was asked with.
    waiting: Vec<(TaskKey, u64)>,
    /// The last migration supd saw end (a join, or the thread's).
    last: Option<Instant>,
}

impl Warmer {
    pub(super) fn new(file: Option<PathBuf>, waker: Arc<Waker>) -> Warmer {
        Warmer { file, waker, thread: None, asked: false, waiting: Vec::new(), last: None }
    }

    /// A migration has just ended (a child joined its v1 cgroups).
    pub(super) fn migrated(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// Whether a v1 join now would not wait for the cgroup core.
    pub(super) fn is_warm(&self, now: Instant) -> bool {
        self.file.is_none() || self.last.is_some_and(|l| now.saturating_duration_since(l) < WARM_FOR)
    }

    /// Holds a task's start until the lock is warm. False when that cannot
    /// be done (no thread): the start goes ahead and waits in the child.
    pub(super) fn hold(&mut self, key: TaskKey, generation: u64) -> bool {
        let Some(file) = self.file.clone() else { return false };
        if self.thread.is_none() {
            let (to_thread, requests) = channel::<()>();
            let (done, from_thread) = channel::<()>();
            let waker = self.waker.clone();
            let made = std::thread::Builder::new().name("supd-warm".into()).stack_size(64 << 10).spawn(move || {
                while requests.recv().is_ok() {
                    if let Err(e) = crate::process::cgroup::migrate_self(&file) {
                        log::debug!("cannot warm the cgroup core up: {e}");
                    }
                    if done.send(()).is_err() || waker.wake().is_err() {
                        break;
                    }
                }
            });
            if let Err(e) = made {
                log::warn!(
                    "cannot start the thread that warms the cgroup core up: {e}; v1 cgroup joins wait in the loop"
                );
                self.file = None;
                return false;
            }
            self.thread = Some((to_thread, from_thread));
        }
        if !self.asked {
            let sent = self.thread.as_ref().is_some_and(|(tx, _)| tx.send(()).is_ok());
            if !sent {
                self.file = None;
                self.thread = None;
                return false;
            }
            self.asked = true;
        }
        self.waiting.push((key, generation));
        true
    }

    /// The tasks to start now, if the thread is done (after a wake-up).
    pub(super) fn done(&mut self, now: Instant) -> Vec<(TaskKey, u64)> {
        let Some((_, rx)) = &self.thread else { return Vec::new() };
        let mut finished = false;
        loop {
            match rx.try_recv() {
                Ok(()) => finished = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // The thread is gone: whoever waited starts anyway.
                    self.file = None;
                    self.thread = None;
                    finished = true;
                    break;
                }
            }
        }
        if !finished {
            return Vec::new();
        }
        self.asked = false;
        self.last = Some(now);
        std::mem::take(&mut self.waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(task: usize) -> TaskKey {
        TaskKey { run: 1, inst: 0, task }
    }

    fn warmer(file: Option<PathBuf>) -> (Warmer, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(1)).unwrap());
        (Warmer::new(file, waker), poll)
    }

    #[test]
    fn without_v1_joins_nothing_waits() {
        let (mut w, _p) = warmer(None);
        assert!(w.is_warm(Instant::now()));
        assert!(!w.hold(key(0), 0));
    }

    #[test]
    fn a_migration_keeps_it_warm_for_a_while() {
        let (mut w, _p) = warmer(Some("/nonexistent/tasks".into()));
        let now = Instant::now();
        assert!(!w.is_warm(now), "nothing migrated yet");
        w.migrated(now);
        assert!(w.is_warm(now + WARM_FOR / 2));
        assert!(!w.is_warm(now + WARM_FOR));
    }

    #[test]
    fn every_task_held_meanwhile_starts_after_one_warm_up() {
        // The thread's migration fails here (no such file): the tasks
        // still start, as they would have without it.
        let (mut w, mut poll) = warmer(Some("/nonexistent/tasks".into()));
        assert!(w.hold(key(0), 3));
        assert!(w.hold(key(1), 5));
        let mut events = mio::Events::with_capacity(4);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut started = Vec::new();
        while started.is_empty() && Instant::now() < deadline {
            poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
            started = w.done(Instant::now());
        }
        assert_eq!(started, vec![(key(0), 3), (key(1), 5)]);
        assert!(w.is_warm(Instant::now()));
        assert!(w.done(Instant::now()).is_empty(), "nothing is left waiting");
    }
}
