//! Who owns each child process, and the reaping of them all. Every live
//! child of supd has exactly one owner ([`Owner`]): a task, a script check,
//! a hand-off hook. A reaped pid with no owner is an adopted orphan (supd
//! is a subreaper, or PID 1). This is also where the orphan sweep's
//! bookkeeping lives: when to look for leftovers of ended tasks.
//!
//! SIGCHLD, the signal supd gets most (a thousand at once as PID 1), is
//! kept blocked and read from a signalfd: a child's end costs one read
//! before the waits, where a handler costs its run, a write to the
//! handler's socket, the return from it, an interrupted poll and two reads.

use super::task::{CheckKey, TaskKey};
use crate::process::{self, Exit};
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::Duration;

/// How long reaping waits after a pass that found several orphans.
pub const REAP_AGAIN: Duration = Duration::from_millis(1);

/// What a child process belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Task(TaskKey),
    Check(CheckKey),
    /// A script check killed at its timeout: reaped, its end ignored.
    Discarded,
    /// A hand-off hook of an instance.
    Handoff {
        run: u64,
        inst: usize,
    },
    /// A request to a peer about work handed to it (`remote::Remote`).
    Remote {
        ask: u64,
    },
    /// The `change_script` of a task's template.
    ChangeScript {
        task: TaskKey,
        template: usize,
    },
}

/// One reaping pass.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Children that had an owner, with it.
    pub ended: Vec<(Pid, Owner, Exit)>,
    /// Adopted orphans reaped.
    pub orphans: usize,
    /// Orphans are ending in numbers: reap again after [`REAP_AGAIN`]
    /// (arm `Timer::Reap`), not at the next SIGCHLD.
    pub reap_again: bool,
    /// Orphans were reaped while leftovers are being hunted: sweep soon.
    pub sweep: bool,
}

pub struct Children {
    signals: SignalFd,
    owners: HashMap<Pid, Owner>,
    /// The next reaping waits for `Timer::Reap`: orphans are ending in
    /// numbers.
    deferred: bool,
    /// A sweep for orphans is scheduled.
    sweep_pending: bool,
    /// The last sweep killed leftovers, whose own children may follow.
    hunting: bool,
}

impl Children {
    /// Blocks SIGCHLD and makes its signalfd: call before any other thread
    /// exists.
    pub fn new() -> nix::Result<Children> {
        Ok(Children {
            signals: process::sys::child_signals()?,
            owners: HashMap::new(),
            deferred: false,
            sweep_pending: false,
            hunting: false,
        })
    }

    /// The descriptor that becomes readable when a child ends.
    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.signals)
    }

    pub fn own(&mut self, pid: Pid, owner: Owner) {
        self.owners.insert(pid, owner);
    }

    /// Who owns a live child.
    pub fn owner(&self, pid: Pid) -> Option<Owner> {
        self.owners.get(&pid).copied()
    }

    /// A child that is still owned (not yet reaped).
    pub fn owns(&self, pid: Pid) -> bool {
        self.owners.contains_key(&pid)
    }

    /// No owned child is alive.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// The live children owned by `wanted`.
    pub fn owned_by(&self, wanted: impl Fn(&Owner) -> bool) -> Vec<Pid> {
        self.owners.iter().filter(|(_, o)| wanted(o)).map(|(p, _)| *p).collect()
    }

    /// SIGCHLD arrived: the signalfd is read until empty (its readiness is
    /// an edge), then every ended child is reaped. While a reaping is
    /// deferred the signal is left pending, which also keeps the kernel
    /// from waking supd for the next ones.
    pub fn on_signal(&mut self) -> Reaped {
        if self.deferred {
            return Reaped::default();
        }
        while let Ok(Some(_)) = self.signals.read_signal() {}
        self.reap()
    }

    /// `Timer::Reap` is due: the deferred pass.
    pub fn reap_again(&mut self) -> Reaped {
        self.deferred = false;
        self.on_signal()
    }

    fn reap(&mut self) -> Reaped {
        let mut out = Reaped::default();
        for (pid, exit) in process::reap() {
            match self.owners.remove(&pid) {
                Some(owner) => out.ended.push((pid, owner, exit)),
                None => {
                    // Or a helper program a thread of supd is running.
                    process::bounded::taken(pid, exit);
                    out.orphans += 1;
                }
            }
        }
        self.account_orphans(&mut out);
        out
    }

    /// Orphans ending in numbers (as init, a whole process tree going):
    /// the next pass waits a millisecond and takes what ended meanwhile at
    /// once, instead of waking supd for every few of them and taking the
    /// CPU they need to end. A task that ends meanwhile is collected by
    /// that pass. A reaped orphan may have left children of a task that
    /// ended: looked for only while leftovers of ended tasks are being
    /// killed, as their descendants come to supd in turn. Orphans of
    /// running tasks (an init's daily bread) cost only the reaping.
    fn account_orphans(&mut self, out: &mut Reaped) {
        if out.orphans > 1 {
            self.deferred = true;
            out.reap_again = true;
        }
        if out.orphans > 0 {
            log::debug!("reaped {} adopted orphan(s)", out.orphans);
            out.sweep = self.hunting;
        }
    }

    /// Asks for a sweep; true when one must be scheduled (none is yet), so
    /// that exits close together share one.
    pub fn want_sweep(&mut self) -> bool {
        !std::mem::replace(&mut self.sweep_pending, true)
    }

    /// The scheduled sweep runs now (or at the end): true if one was due.
    pub fn take_sweep(&mut self) -> bool {
        std::mem::take(&mut self.sweep_pending)
    }

    /// The candidates of a sweep: direct children of supd that no one owns.
    pub fn unowned(&self) -> Vec<Pid> {
        process::own_children().into_iter().filter(|p| !self.owners.contains_key(p)).collect()
    }

    /// What a sweep did: if it killed leftovers, their own children may
    /// follow, and the orphans reaped next are looked at again.
    pub fn swept(&mut self, killed: bool) {
        self.hunting = killed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // No test here reaps: `waitpid(-1)` would take the children of other
    // tests running in this process. The integration tests reap for real.
    fn children() -> Children {
        Children {
            signals: process::sys::child_signals().expect("a signalfd"),
            owners: HashMap::new(),
            deferred: false,
            sweep_pending: false,
            hunting: false,
        }
    }

    #[test]
    fn orphans_in_numbers_defer_the_next_pass_and_hunting_asks_for_a_sweep() {
        let mut c = children();
        let mut one = Reaped { orphans: 1, ..Default::default() };
        c.account_orphans(&mut one);
        assert!(!one.reap_again && !one.sweep, "one orphan: nothing more");
        let mut many = Reaped { orphans: 5, ..Default::default() };
        c.account_orphans(&mut many);
        assert!(many.reap_again, "several: reap again after a pause");
        assert!(c.deferred, "while deferred, SIGCHLD is left pending");
        c.swept(true);
        let mut hunted = Reaped { orphans: 1, ..Default::default() };
        c.account_orphans(&mut hunted);
        assert!(hunted.sweep, "while hunting leftovers, an orphan asks for a sweep");
    }

    #[test]
    fn sweeps_close_together_share_one() {
        let mut c = children();
        assert!(c.want_sweep(), "the first asks for one");
        assert!(!c.want_sweep(), "the next shares it");
        assert!(c.take_sweep());
        assert!(!c.take_sweep());
        assert!(c.want_sweep());
    }
}
