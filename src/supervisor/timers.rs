//! Every timer of the loop in one min-heap: each entry says why it is due
//! ([`Timer`]), and its earliest deadline is the loop's poll timeout. A
//! cancelled timer is never searched for: the thing it would act on carries
//! a generation number, and a timer whose generation no longer matches is
//! dropped when it comes up.

use super::task::{CheckKey, TaskKey};
use crate::logs::Stream;
use nix::unistd::Pid;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Check timeouts need no millisecond precision: rounded up to this grid,
/// one wake-up handles many of them instead of one each. (Check runs are
/// on a grid of their own, a tenth of their interval: see `health`.)
const CHECK_TIMEOUT_GRID: Duration = Duration::from_millis(10);

/// Why a timer is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Run a check, if its generation still matches.
    Check { check: CheckKey, generation: u64 },
    /// A check probe that has not answered by now is critical.
    CheckTimeout { check: CheckKey, probe: u64 },
    /// Start (or restart) a task, if its generation still matches.
    Start { task: TaskKey, generation: u64 },
    /// Apply a re-rendered template's change mode, if the task's
    /// generation still matches.
    TemplateChange { task: TaskKey, generation: u64, template: usize },
    /// Kill a template's `change_script` that outlived its timeout.
    ChangeScriptTimeout { pid: Pid },
    /// SIGKILL a task that outlived its kill_timeout.
    Escalate { task: TaskKey, generation: u64 },
    /// Send a task its kill signal, after its shutdown_delay.
    Kill { task: TaskKey, generation: u64 },
    /// Go on reading a task's output.
    Drain { task: TaskKey, stream: Stream },
    /// SIGKILL a process a previous supd left, after its kill_timeout.
    LeftoverKill { task: TaskKey, pid: Pid },
    /// Tell systemd's watchdog the loop is alive.
    Watchdog,
    /// As init, SIGKILL whatever ignored the final SIGTERM.
    SweepKill,
    /// Write the state: changes within a short while share one write.
    Save,
    /// Look for orphans of ended tasks: exits close together share one look.
    Sweep,
    /// Hand a failed instance off, if its generation still matches.
    Handoff { run: u64, inst: usize, generation: u64 },
    /// A hand-off hook that has not finished by now is killed.
    HandoffTimeout { run: u64, inst: usize, pid: Pid },
    /// Ask a peer again what became of an offer it did not answer.
    HandoffAsk { run: u64, inst: usize, generation: u64 },
    /// Ask the peers about the work they hold for this host.
    HandoffPoll,
    /// A request to a peer that has not finished by now is killed.
    RemoteTimeout { ask: u64, pid: Pid },
    /// Try again to remove the cgroups of dead tasks.
    CgroupRemove,
    /// Reap again, after a pass that found several orphans.
    Reap,
    /// An instance placed at `since` has run for its group's
    /// `max_run_duration`.
    MaxRun { run: u64, inst: usize, since: Instant },
    /// A periodic job's next launch, if its generation still matches.
    Launch { run: u64, generation: u64 },
    /// A task's file work (templates, payload) that has not ended by now
    /// fails its start, if its generation still matches.
    RenderTimeout { task: TaskKey, generation: u64 },
    /// Nothing is due but a look at what the loop waits for (a wait with
    /// a deadline, such as a stopping supd's for driver requests).
    Wake,
    /// Ask a container engine again what it holds (its survey at start
    /// found it not answering).
    Survey { engine: crate::jobspec::model::Driver },
    /// Large answers have stopped for a while: give back the heap they
    /// grew and the code that made them, if no answer came since (`seq`).
    Release { seq: u64 },
}

#[derive(Debug, PartialEq, Eq)]
struct Due {
    at: Instant,
    /// Timers due at the same instant fire in the order they were armed.
    seq: u64,
    timer: Timer,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The deadline heap.
#[derive(Debug)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Due>>,
    seq: u64,
    /// The origin of the grids timers are rounded to.
    epoch: Instant,
}

impl Timers {
    pub fn new(epoch: Instant) -> Timers {
        Timers { heap: BinaryHeap::new(), seq: 0, epoch }
    }

    /// The origin of the grids (check runs are placed on one from it).
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Arms `timer` for `at` (a check timeout is rounded up to its grid).
    pub fn arm(&mut self, at: Instant, timer: Timer) {
        let at = match timer {
            Timer::CheckTimeout { .. } => round_up(self.epoch, at, CHECK_TIMEOUT_GRID),
            _ => at,
        };
        self.seq += 1;
        self.heap.push(Reverse(Due { at, seq: self.seq, timer }));
    }

    /// How long the loop may sleep: until the earliest deadline, or for
    /// ever when nothing is armed.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap.peek().map(|Reverse(d)| d.at.saturating_duration_since(now))
    }

    /// When the earliest timer `pick` chooses is due (a pass over the
    /// heap: for rare questions only).
    pub fn due_at(&self, pick: impl Fn(&Timer) -> bool) -> Option<Instant> {
        self.heap.iter().filter(|Reverse(d)| pick(&d.timer)).map(|Reverse(d)| d.at).min()
    }

    /// Drops every armed timer that `pick` chooses, so that it does not
    /// wake the loop (costs a pass over the heap: for rare events only).
    pub fn cancel(&mut self, pick: impl Fn(&Timer) -> bool) {
        self.heap.retain(|Reverse(d)| !pick(&d.timer));
    }

    /// The next timer due by `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
            self.heap.pop().map(|Reverse(d)| d.timer)
        } else {
            None
        }
    }
}

/// `at` rounded up to the next point of a grid of `step` from `origin`.
pub fn round_up(origin: Instant, at: Instant, step: Duration) -> Instant {
    let step = step.as_nanos().max(1);
    let since = at.saturating_duration_since(origin).as_nanos();
    let up = since.div_ceil(step) * step;
    origin + Duration::from_nanos(up.min(u128::from(u64::MAX)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(n: usize) -> TaskKey {
        TaskKey { run: 1, inst: 0, task: n }
    }

    #[test]
    fn timers_fire_earliest_first_and_in_arming_order_at_the_same_instant() {
        let t0 = Instant::now();
        let mut timers = Timers::new(t0);
        assert_eq!(timers.timeout(t0), None, "nothing armed: sleep for ever");
        timers.arm(t0 + Duration::from_millis(30), Timer::Save);
        timers.arm(t0 + Duration::from_millis(10), Timer::Start { task: task(1), generation: 0 });
        timers.arm(t0 + Duration::from_millis(10), Timer::Start { task: task(2), generation: 0 });
        assert_eq!(timers.timeout(t0), Some(Duration::from_millis(10)));
        assert_eq!(timers.pop_due(t0), None, "nothing is due yet");
        let now = t0 + Duration::from_millis(20);
        assert_eq!(timers.pop_due(now), Some(Timer::Start { task: task(1), generation: 0 }));
        assert_eq!(timers.pop_due(now), Some(Timer::Start { task: task(2), generation: 0 }));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.timeout(now), Some(Duration::from_millis(10)));
        assert_eq!(timers.pop_due(t0 + Duration::from_millis(30)), Some(Timer::Save));
        assert_eq!(timers.timeout(now), None);
    }

    #[test]
    fn check_timeouts_share_a_grid_and_other_timers_do_not() {
        let t0 = Instant::now();
        let mut timers = Timers::new(t0);
        let check = CheckKey { run: 1, inst: 0, check: 0 };
        timers.arm(t0 + Duration::from_millis(11), Timer::CheckTimeout { check, probe: 1 });
        assert_eq!(timers.timeout(t0), Some(Duration::from_millis(20)), "rounded up to the 10 ms grid");
        timers.arm(t0 + Duration::from_millis(11), Timer::Reap);
        assert_eq!(timers.timeout(t0), Some(Duration::from_millis(11)), "a reap is not rounded");
        assert_eq!(round_up(t0, t0 + Duration::from_millis(20), CHECK_TIMEOUT_GRID), t0 + Duration::from_millis(20));
        assert_eq!(round_up(t0, t0, CHECK_TIMEOUT_GRID), t0, "a point on the grid stays");
    }
}
