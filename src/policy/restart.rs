//! The `restart` block as a pure state machine: given what ended a task's
//! run, the time, and a random sample for jitter, decide whether and when it
//! starts again. It reads no clock, spawns nothing and logs nothing.
//!
//! The window slides (DESIGN §3): a policy restart is allowed while fewer
//! than `attempts` restarts were performed in the `interval` before the
//! moment the new one would be performed. Nomad's tumbling window (reference
//! §1.5) lets a task that fails just slower than `interval / attempts`
//! restart forever; this one never exceeds `attempts` in any window.
//! Past 64 restarts the window is kept to `interval / 64` precision (see
//! [`RestartTracker`]), so that a budget that means "always" keeps a
//! bounded history: a restart may wait a little longer, never less.

use crate::jobspec::duration::GoDuration;
use crate::jobspec::model::{Hook, JobType, Lifecycle, RestartMode, RestartPolicy};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Nomad's jitter: a restart waits `delay` plus up to a quarter more.
pub const JITTER: f64 = 0.25;

/// What ended the task's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The process exited by itself (or was killed by a signal nobody asked
    /// for); `success` is exit code 0.
    Exited { success: bool },
    /// The process could not be started. Unrecoverable errors (no such
    /// binary, not executable, unknown user) never will be; recoverable ones
    /// (out of descriptors or processes) are retried within the budget.
    StartError { recoverable: bool },
    /// A restart that counts as a failure: a health check asked for it.
    /// `success` is how the stopped process then exited: as in Nomad, whose
    /// tracker looks at the exit before the budget, exit 0 of a task for
    /// which that means completion completes it.
    FailureRestart { success: bool },
    /// The operator asked for a restart: immediate, outside the budget.
    UserRestart,
    /// The task was stopped on purpose (job stop, sibling failure, shutdown).
    Killed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// Within the budget; the delay carries jitter.
    WithinPolicy,
    /// Mode `delay`: the budget is spent, wait until the window allows one more.
    WindowFull,
    /// The operator asked; no budget used.
    UserRequested,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start the task again after `delay`.
    Restart { delay: Duration, reason: RestartReason },
    /// Give up: the task is dead and failed (event `Not Restarting`).
    Fail { reason: String },
    /// The task finished its work: dead, not failed.
    Complete,
    /// The task was stopped on purpose: dead, not failed.
    Killed,
}

impl Decision {
    /// The message of the event this decision records, as Nomad words it:
    /// `Restarting` for a restart, `Not Restarting` for a failure.
    pub fn message(&self) -> Option<String> {
        match self {
            Decision::Restart { delay, reason } => {
                let shown = if delay.is_zero() && *reason == RestartReason::WithinPolicy {
                    // Nomad replaces a zero delay by 1ns before jitter.
                    "1ns".to_string()
                } else {
                    GoDuration(*delay).to_string()
                };
                Some(match reason {
                    RestartReason::WindowFull => {
                        format!("Exceeded allowed attempts, applying a delay - Task restarting in {shown}")
                    }
                    _ => format!("Task restarting in {shown}"),
                })
            }
            Decision::Fail { reason } => Some(reason.clone()),
            Decision::Complete | Decision::Killed => None,
        }
    }
}

/// How many slots of the window hold one restart each; past that, restarts
/// close together share a slot (see [`RestartTracker`]).
pub const SLOTS: usize = 64;

/// Restarts of the window that share one slot: `count` of them, the newest
/// performed at `at`. The slot stays in the window until `at` leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub at: Instant,
    pub count: u32,
}

/// A slot as the tracker keeps it.
#[derive(Debug, Clone, Copy)]
struct Kept {
    slot: Slot,
    /// Its oldest restart, when known: a slot spans less than
    /// `interval / SLOTS`. A restored slot does not grow (`None`).
    first: Option<Instant>,
    /// The number of its newest restart among all this tracker recorded
    /// (see [`RestartTracker::added`]); its restarts are consecutive.
    seq: u64,
}

/// One task's restart budget.
///
/// The window is kept as slots, oldest first. The first [`SLOTS`] hold one
/// restart each; past that, a restart less than `interval / SLOTS` after the
/// oldest restart of the newest slot joins that slot. A slot leaves the
/// window when its newest restart does, so its older restarts count a little
/// longer than they would one by one: a restart may wait up to
/// `interval / SLOTS` longer than an exact count would make it, never less,
/// and the budget is never exceeded. The history holds at most
/// `2 × SLOTS + 2` slots whatever `attempts` is (a budget that means
/// "always" keeps a bounded history in memory and in the state file).
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    restart_on_success: bool,
    /// The slots of the policy restarts performed (or to be performed)
    /// that can still matter, oldest first.
    history: VecDeque<Kept>,
    /// How many restarts were ever recorded: a mark for
    /// [`changed_since`](Self::changed_since) (what a journal record that
    /// only appends needs).
    added: u64,
}

/// The slots changed since a mark: see [`RestartTracker::changed_since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The first of `slots` is the newest slot at the mark, grown since:
    /// it replaces that slot rather than following it.
    pub grown: bool,
    /// Oldest first.
    pub slots: Vec<Slot>,
}

impl RestartTracker {
    /// `restart_on_success` is whether exit 0 is a reason to restart; see
    /// [`restarts_on_success`].
    pub fn new(policy: RestartPolicy, restart_on_success: bool) -> Self {
        RestartTracker { policy, restart_on_success, history: VecDeque::new(), added: 0 }
    }

    /// How many restarts were ever recorded (a mark for
    /// [`changed_since`](Self::changed_since)).
    pub fn added(&self) -> u64 {
        self.added
    }

    /// The slots still in the history that changed after `mark` (a value
    /// of [`added`](Self::added)): the newest slot at the mark if it grew
    /// since (then `grown`), and those made since, oldest first.
    pub fn changed_since(&self, mark: u64) -> Changed {
        let slots: Vec<&Kept> = self.history.iter().filter(|k| k.seq > mark).collect();
        let grown = slots.first().is_some_and(|k| k.seq - mark < u64::from(k.slot.count));
        Changed { grown, slots: slots.into_iter().map(|k| k.slot).collect() }
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// A new policy for the restarts to come (a job updated in place);
    /// the restarts made so far still count in its interval.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// The slots of the policy restarts still inside the window, oldest first.
    pub fn history(&self) -> impl Iterator<Item = Slot> + '_ {
        self.history.iter().map(|k| k.slot)
    }

    /// How many policy restarts the history holds.
    pub fn in_history(&self) -> u64 {
        self.history.iter().map(|k| u64::from(k.slot.count)).sum()
    }

    /// Restores the slots kept across a supd restart (they are not new for
    /// [`changed_since`](Self::changed_since), and do not grow).
    pub fn restore(&mut self, slots: impl IntoIterator<Item = Slot>) {
        let mut slots: Vec<Slot> = slots.into_iter().filter(|s| s.count > 0).collect();
        slots.sort_by_key(|s| s.at);
        let seq = self.added;
        self.history = slots.into_iter().map(|slot| Kept { slot, first: None, seq }).collect();
    }

    /// Decides what follows `outcome` at `now`. `jitter` is a sample from
    /// [0, 1) that the caller draws; the tracker stays deterministic.
    pub fn decide(&mut self, outcome: Outcome, now: Instant, jitter: f64) -> Decision {
        let p = self.policy;
        match outcome {
            Outcome::Killed => return Decision::Killed,
            Outcome::UserRestart => {
                return Decision::Restart { delay: Duration::ZERO, reason: RestartReason::UserRequested };
            }
            _ => {}
        }
        let success = matches!(outcome, Outcome::Exited { success: true } | Outcome::FailureRestart { success: true });
        if p.attempts == 0 {
            if success && !self.restart_on_success {
                return Decision::Complete;
            }
            return Decision::Fail { reason: "Policy allows no restarts".into() };
        }
        if outcome == (Outcome::StartError { recoverable: false }) {
            return Decision::Fail { reason: "Error was unrecoverable".into() };
        }
        if success && !self.restart_on_success {
            return Decision::Complete;
        }
        let delay = jittered(p.delay, jitter);
        let at = now + delay;
        self.forget_before(at);
        let attempts = u64::from(p.attempts);
        let inside = self.in_history();
        if inside < attempts {
            self.record(at);
            return Decision::Restart { delay, reason: RestartReason::WithinPolicy };
        }
        match p.mode {
            RestartMode::Fail => Decision::Fail {
                reason: format!(
                    "Exceeded allowed attempts {} in interval {} and mode is \"fail\"",
                    p.attempts,
                    GoDuration(p.interval)
                ),
            },
            RestartMode::Delay => {
                // The slot whose leaving leaves room for one more: oldest
                // first, until enough restarts have left.
                let excess = inside + 1 - attempts;
                let mut left = 0;
                let mut leaves = now;
                for k in &self.history {
                    left += u64::from(k.slot.count);
                    leaves = k.slot.at + p.interval;
                    if left >= excess {
                        break;
                    }
                }
                let at = leaves.max(now + p.delay);
                self.forget_before(at);
                self.record(at);
                Decision::Restart { delay: at - now, reason: RestartReason::WindowFull }
            }
        }
    }

    /// Records a restart performed at `at` (no earlier than those before).
    fn record(&mut self, at: Instant) {
        self.added += 1;
        let span = self.policy.interval / SLOTS as u32;
        let full = self.history.len() >= SLOTS;
        if let Some(k) = self.history.back_mut()
            && full
            && let Some(first) = k.first
            && at.saturating_duration_since(first) < span
            && k.slot.count < u32::MAX
        {
            k.slot.at = k.slot.at.max(at);
            k.slot.count = k.slot.count.saturating_add(1);
            k.seq = self.added;
            return;
        }
        self.history.push_back(Kept { slot: Slot { at, count: 1 }, first: Some(at), seq: self.added });
    }

    /// Drops the slots that are out of the window ending at `at`: those
    /// whose newest restart is at or before `at - interval`.
    fn forget_before(&mut self, at: Instant) {
        while let Some(first) = self.history.front() {
            if at.saturating_duration_since(first.slot.at) >= self.policy.interval {
                self.history.pop_front();
            } else {
                break;
            }
        }
    }
}

/// Whether a task that exits 0 should run again (Nomad's `onSuccess`):
/// service and system tasks yes, batch and sysbatch no; prestart and
/// poststart tasks only when they are sidecars; poststop tasks never.
pub fn restarts_on_success(job_type: JobType, lifecycle: Option<Lifecycle>) -> bool {
    match lifecycle {
        Some(Lifecycle { hook: Hook::Prestart | Hook::Poststart, sidecar }) => sidecar,
        Some(Lifecycle { hook: Hook::Poststop, .. }) => false,
        None => job_type.restarts_on_success(),
    }
}

/// `delay` plus `jitter` × 25 % of it, with Nomad's floor of 1ns for a zero
/// delay kept at zero here: supd can restart at once.
pub fn jittered(delay: Duration, jitter: f64) -> Duration {
    let j = jitter.clamp(0.0, 0.999_999_999);
    delay + delay.mul_f64(j * JITTER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(attempts: u32, interval: u64, delay: u64, mode: RestartMode) -> RestartPolicy {
        RestartPolicy { attempts, interval: Duration::from_secs(interval), delay: Duration::from_secs(delay), mode }
    }

    const FAIL: Outcome = Outcome::Exited { success: false };
    const OK: Outcome = Outcome::Exited { success: true };

    struct Clock(Instant);
    impl Clock {
        fn at(&self, secs: f64) -> Instant {
            self.0 + Duration::from_secs_f64(secs)
        }
    }

    fn clock() -> Clock {
        Clock(Instant::now())
    }

    fn delay_of(d: &Decision) -> f64 {
        match d {
            Decision::Restart { delay, .. } => delay.as_secs_f64(),
            other => panic!("expected a restart, got {other:?}"),
        }
    }

    // §7 case 1: attempts + 1 runs, then Not Restarting.
    #[test]
    fn fail_mode_crash_loop() {
        let c = clock();
        let mut t = RestartTracker::new(policy(2, 1800, 15, RestartMode::Fail), true);
        let d1 = t.decide(FAIL, c.at(0.0), 0.5);
        assert_eq!(delay_of(&d1), 15.0 * 1.125);
        assert_eq!(d1.message().unwrap(), "Task restarting in 16.875s");
        let d2 = t.decide(FAIL, c.at(17.0), 0.0);
        assert_eq!(delay_of(&d2), 15.0);
        let d3 = t.decide(FAIL, c.at(33.0), 0.0);
        assert_eq!(
            d3,
            Decision::Fail { reason: "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"".into() }
        );
    }

    #[test]
    fn changed_since_a_mark_names_the_grown_and_new_slots_still_kept() {
        let c = clock();
        // interval / SLOTS = 1s.
        let mut t = RestartTracker::new(policy(1000, 64, 0, RestartMode::Fail), true);
        for i in 0..SLOTS {
            t.decide(FAIL, c.at(i as f64 * 0.01), 0.0);
        }
        assert_eq!((t.history().count(), t.in_history()), (SLOTS, SLOTS as u64), "one restart each");
        let mark = t.added();
        assert_eq!(t.changed_since(mark), Changed { grown: false, slots: vec![] });
        // Within 1s of the newest slot's oldest restart (0.63): it grows.
        t.decide(FAIL, c.at(0.9), 0.0);
        t.decide(FAIL, c.at(1.5), 0.0);
        // 1.07s after 0.63: a new slot.
        t.decide(FAIL, c.at(1.7), 0.0);
        let grown = Slot { at: c.at(1.5), count: 3 };
        assert_eq!(
            t.changed_since(mark),
            Changed { grown: true, slots: vec![grown, Slot { at: c.at(1.7), count: 1 }] }
        );
        assert_eq!(t.changed_since(mark - 1).slots[0], grown, "a slot made after the mark is new, not grown");
        assert!(!t.changed_since(mark - 1).grown);
        let mark = t.added();
        t.decide(FAIL, c.at(1.8), 0.0);
        assert_eq!(t.changed_since(mark), Changed { grown: true, slots: vec![Slot { at: c.at(1.8), count: 2 }] });
        assert_eq!((t.history().count(), t.in_history()), (SLOTS + 1, SLOTS as u64 + 4));

        // Restored slots are not new, and do not grow.
        let mut r = RestartTracker::new(policy(1000, 64, 0, RestartMode::Fail), true);
        r.restore(t.history());
        assert_eq!((r.added(), r.in_history()), (0, SLOTS as u64 + 4));
        assert_eq!(r.changed_since(0), Changed { grown: false, slots: vec![] });
        r.decide(FAIL, c.at(1.9), 0.0);
        assert_eq!(r.changed_since(0), Changed { grown: false, slots: vec![Slot { at: c.at(1.9), count: 1 }] });

        // Those that left the window are not named, whatever the mark.
        // A slot leaves when its newest restart does (its oldest, at 0.63,
        // has left the window that ends at 65.45).
        t.decide(FAIL, c.at(65.45), 0.0);
        assert_eq!(t.history().next(), Some(Slot { at: c.at(1.5), count: 3 }));
        t.decide(FAIL, c.at(70.0), 0.0);
        assert_eq!(
            t.changed_since(0).slots,
            vec![Slot { at: c.at(65.45), count: 1 }, Slot { at: c.at(70.0), count: 1 }]
        );
        assert_eq!(t.changed_since(t.added()).slots, vec![]);
    }

    /// xorshift64*: a seeded generator, so that a failure can be replayed.
    struct Prng(u64);
    impl Prng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// In [0, n).
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// In [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// How many of `restarts` (sorted) are inside the window ending at `at`.
    fn exact_inside(restarts: &[Instant], interval: Duration, at: Instant) -> usize {
        restarts.len() - restarts.partition_point(|r| *r + interval <= at)
    }

    /// When an exact count of `restarts` would perform the restart that
    /// follows a failure at `now`: `None` when it would give up.
    fn exact_restart(restarts: &[Instant], p: &RestartPolicy, now: Instant, jitter: f64) -> Option<Instant> {
        let at = now + jittered(p.delay, jitter);
        let attempts = p.attempts as usize;
        let inside = exact_inside(restarts, p.interval, at);
        if inside < attempts {
            return Some(at);
        }
        match p.mode {
            RestartMode::Fail => None,
            RestartMode::Delay => {
                let window = &restarts[restarts.len() - inside..];
                let leaves = window[inside - attempts] + p.interval;
                Some(leaves.max(now + p.delay))
            }
        }
    }

    /// Against an exact count of the same restarts, for crash loops of
    /// 200 to 1500 failures at random times and budgets of 65 to 400
    /// restarts: the slots never allow more than `attempts` restarts in
    /// any interval, never delay a restart more than `interval / SLOTS`
    /// beyond the exact one, give up only where an exact count would have
    /// given up `interval / SLOTS` earlier, and stay few.
    #[test]
    fn slots_keep_the_budget_within_a_64th_of_the_interval_of_an_exact_count() {
        let mut rng = Prng(0x5eed_1234_abcd_0018);
        let c = clock();
        for case in 0..160 {
            let attempts = 65 + rng.below(336) as u32;
            let interval = Duration::from_millis(1000 + rng.below(3_600_000));
            let span = interval / SLOTS as u32;
            let per_restart = interval / attempts;
            let delay = if rng.below(3) == 0 { Duration::ZERO } else { per_restart.mul_f64(rng.unit() * 0.5) };
            let mode = if rng.below(2) == 0 { RestartMode::Fail } else { RestartMode::Delay };
            let p = RestartPolicy { attempts, interval, delay, mode };
            // The mean run before a failure: from a twentieth to twice
            // what the budget allows on average.
            let run = per_restart.mul_f64(0.05 + rng.unit() * 1.95);
            let failures = 200 + rng.below(1301);
            let mut t = RestartTracker::new(p, true);
            let mut now = c.at(0.0);
            let mut restarts: Vec<Instant> = Vec::new();
            let what = format!("case {case}: {p:?}, runs of {run:?}");
            for i in 0..failures {
                now += if rng.below(300) == 0 {
                    interval.mul_f64(rng.unit() * 1.5)
                } else {
                    run.mul_f64(rng.unit() * 2.0)
                };
                let jitter = rng.unit();
                let exact = exact_restart(&restarts, &p, now, jitter);
                match t.decide(FAIL, now, jitter) {
                    Decision::Restart { delay, .. } => {
                        let at = now + delay;
                        let e = exact
                            .unwrap_or_else(|| panic!("{what}: failure {i}: restarts where an exact count would not"));
                        assert!(at >= e, "{what}: failure {i}: restarts {:?} early", e - at);
                        assert!(at <= e + span, "{what}: failure {i}: restarts {:?} late", at - e);
                        restarts.push(at);
                        now = at;
                    }
                    Decision::Fail { .. } => {
                        assert_eq!(mode, RestartMode::Fail, "{what}: delay mode never fails");
                        let at = now + jittered(delay, jitter);
                        let earlier = restarts.len() - restarts.partition_point(|r| *r + interval + span <= at);
                        assert!(earlier >= attempts as usize, "{what}: failure {i}: gives up with {earlier} restarts");
                        break;
                    }
                    other => panic!("{what}: unexpected {other:?}"),
                }
                assert!(t.history().count() <= 2 * SLOTS + 2, "{what}: {} slots", t.history().count());
            }
            for (i, start) in restarts.iter().enumerate() {
                let inside = restarts[i..].partition_point(|r| r.duration_since(*start) < interval);
                assert!(inside <= attempts as usize, "{what}: {inside} restarts within an interval from restart {i}");
            }
        }
    }

    #[test]
    fn jitter_stays_in_range() {
        for j in [0.0, 0.25, 0.5, 0.999, 1.0, -1.0] {
            let d = jittered(Duration::from_secs(15), j);
            assert!(d >= Duration::from_secs(15) && d < Duration::from_millis(18_750), "{j}: {d:?}");
        }
        assert_eq!(jittered(Duration::ZERO, 0.9), Duration::ZERO);
    }

    // §7 case 2, restated for the sliding window: failures at 29m00, 29m30
    // and 30m10 after the first start: the first two restart; the third
    // would be the third restart within 30m of the first, so it fails.
    // Spaced-out failures regain budget only as old restarts leave the window.
    #[test]
    fn sliding_window_boundary() {
        let c = clock();
        let mut t = RestartTracker::new(policy(2, 1800, 15, RestartMode::Fail), true);
        assert!(matches!(t.decide(FAIL, c.at(1740.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(FAIL, c.at(1770.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(FAIL, c.at(1810.0), 0.0), Decision::Fail { .. }));
        // Same, but the third failure comes when the first restart (at
        // 1755) has left the window of the would-be restart (at 3555+15).
        let mut t = RestartTracker::new(policy(2, 1800, 15, RestartMode::Fail), true);
        t.decide(FAIL, c.at(1740.0), 0.0);
        t.decide(FAIL, c.at(1770.0), 0.0);
        assert!(matches!(t.decide(FAIL, c.at(3541.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(FAIL, c.at(3560.0), 0.0), Decision::Fail { .. }));
    }

    // §7 case 3: delay mode waits for the window, without jitter, and never fails.
    #[test]
    fn delay_mode_waits_for_the_window() {
        let c = clock();
        let mut t = RestartTracker::new(policy(2, 60, 5, RestartMode::Delay), true);
        assert_eq!(delay_of(&t.decide(FAIL, c.at(0.0), 0.0)), 5.0); // restart at 5
        assert_eq!(delay_of(&t.decide(FAIL, c.at(6.0), 0.0)), 5.0); // restart at 11
        let d = t.decide(FAIL, c.at(12.0), 0.9);
        // The restart at 5 leaves the window at 65.
        assert_eq!(delay_of(&d), 53.0);
        assert_eq!(d.message().unwrap(), "Exceeded allowed attempts, applying a delay - Task restarting in 53s");
        // Then restart at 65; the next failure at 66: window holds 11 and 65, wait for 71.
        assert_eq!(delay_of(&t.decide(FAIL, c.at(66.0), 0.0)), 5.0);
        for i in 0..50 {
            assert!(matches!(t.decide(FAIL, c.at(100.0 + i as f64 * 30.0), 0.0), Decision::Restart { .. }));
        }
    }

    // §7 case 4: batch exit 0 completes.
    #[test]
    fn batch_success_completes() {
        let c = clock();
        let mut t = RestartTracker::new(JobType::Batch.default_restart(), false);
        assert_eq!(t.decide(OK, c.at(0.0), 0.0), Decision::Complete);
        assert_eq!(t.history().count(), 0);
    }

    // §7 case 5: service exit 0 burns attempts.
    #[test]
    fn service_success_burns_attempts() {
        let c = clock();
        let mut t = RestartTracker::new(JobType::Service.default_restart(), true);
        assert!(matches!(t.decide(OK, c.at(0.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(OK, c.at(20.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(OK, c.at(40.0), 0.0), Decision::Fail { .. }));
    }

    // §7 case 6: attempts = 0.
    #[test]
    fn zero_attempts() {
        let c = clock();
        let p = policy(0, 1800, 15, RestartMode::Fail);
        let none = Decision::Fail { reason: "Policy allows no restarts".into() };
        assert_eq!(RestartTracker::new(p, true).decide(OK, c.at(0.0), 0.0), none);
        assert_eq!(RestartTracker::new(p, false).decide(OK, c.at(0.0), 0.0), Decision::Complete);
        assert_eq!(RestartTracker::new(p, false).decide(FAIL, c.at(0.0), 0.0), none);
    }

    // §7 case 8: a start error uses no attempt and is final.
    #[test]
    fn unrecoverable_start_error() {
        let c = clock();
        let mut t = RestartTracker::new(JobType::Service.default_restart(), true);
        let d = t.decide(Outcome::StartError { recoverable: false }, c.at(0.0), 0.0);
        assert_eq!(d, Decision::Fail { reason: "Error was unrecoverable".into() });
        assert_eq!(t.history().count(), 0);
        // A recoverable one (out of descriptors) goes through the budget.
        let mut t = RestartTracker::new(JobType::Service.default_restart(), true);
        assert!(matches!(
            t.decide(Outcome::StartError { recoverable: true }, c.at(0.0), 0.0),
            Decision::Restart { .. }
        ));
        assert_eq!(t.history().count(), 1);
    }

    // §7 case 9: exit 127 is an ordinary failure (nothing special in policy).
    // §7 case 10: zero delay.
    #[test]
    fn zero_delay() {
        let c = clock();
        let mut t = RestartTracker::new(policy(2, 1800, 0, RestartMode::Fail), true);
        let d = t.decide(FAIL, c.at(0.0), 0.7);
        assert_eq!(d, Decision::Restart { delay: Duration::ZERO, reason: RestartReason::WithinPolicy });
        assert_eq!(d.message().unwrap(), "Task restarting in 1ns");
    }

    // §7 case 11: a user restart is immediate and uses no attempt.
    #[test]
    fn user_restart_uses_no_attempt() {
        let c = clock();
        let mut t = RestartTracker::new(JobType::Service.default_restart(), true);
        let d = t.decide(Outcome::UserRestart, c.at(0.0), 0.5);
        assert_eq!(d, Decision::Restart { delay: Duration::ZERO, reason: RestartReason::UserRequested });
        assert_eq!(d.message().unwrap(), "Task restarting in 0s");
        // The crash loop that follows still gets both attempts.
        assert!(matches!(t.decide(FAIL, c.at(1.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(FAIL, c.at(17.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(FAIL, c.at(33.0), 0.0), Decision::Fail { .. }));
    }

    // §2.4 / §7 case 16: check-triggered restarts spend the same budget.
    #[test]
    fn failure_restarts_share_the_budget() {
        let c = clock();
        let mut t = RestartTracker::new(policy(2, 1800, 15, RestartMode::Fail), false);
        let check = Outcome::FailureRestart { success: false };
        assert!(matches!(t.decide(check, c.at(0.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(check, c.at(20.0), 0.0), Decision::Restart { .. }));
        assert!(matches!(t.decide(check, c.at(40.0), 0.0), Decision::Fail { .. }));
        // A service task that exits 0 when stopped for its check is restarted.
        let mut t = RestartTracker::new(policy(2, 1800, 15, RestartMode::Fail), true);
        let check = Outcome::FailureRestart { success: true };
        assert!(matches!(t.decide(check, c.at(0.0), 0.0), Decision::Restart { .. }));
    }

    // Reference §2.4's edge. Nomad, client/allocrunner/taskrunner/restarts/restarts.go
    // (GetState), after `r.count++` and with r.failure set by the check's
    // restart and r.exitRes by the exit:
    //   if r.exitRes.Successful() && !r.onSuccess {
    //       r.reason = "Restart unnecessary as task terminated successfully"
    //       return structs.TaskTerminated, 0
    // and, with no attempts at all:
    //   if !r.onSuccess && r.exitRes != nil && r.exitRes.Successful() {
    //       return structs.TaskTerminated, 0
    #[test]
    fn a_batch_task_that_exits_0_when_stopped_for_its_check_completes() {
        let c = clock();
        let ok = Outcome::FailureRestart { success: true };
        let mut t = RestartTracker::new(policy(1, 1800, 15, RestartMode::Fail), false);
        assert_eq!(t.decide(ok, c.at(0.0), 0.0), Decision::Complete);
        let mut t = RestartTracker::new(policy(0, 1800, 15, RestartMode::Fail), false);
        assert_eq!(t.decide(ok, c.at(0.0), 0.0), Decision::Complete);
        // Exit 1 after the check's restart is a failure like any other.
        let failed = Outcome::FailureRestart { success: false };
        assert!(matches!(t.decide(failed, c.at(1.0), 0.0), Decision::Fail { .. }));
    }

    #[test]
    fn killed_is_final_and_uncounted() {
        let c = clock();
        let mut t = RestartTracker::new(JobType::Service.default_restart(), true);
        assert_eq!(t.decide(Outcome::Killed, c.at(0.0), 0.0), Decision::Killed);
        assert_eq!(t.history().count(), 0);
    }

    // §7 case 19: lifecycle hooks and exit 0.
    #[test]
    fn lifecycle_success_rules() {
        let l = |hook, sidecar| Some(Lifecycle { hook, sidecar });
        assert!(!restarts_on_success(JobType::Service, l(Hook::Prestart, false)));
        assert!(restarts_on_success(JobType::Service, l(Hook::Prestart, true)));
        assert!(restarts_on_success(JobType::Batch, l(Hook::Poststart, true)));
        assert!(!restarts_on_success(JobType::Service, l(Hook::Poststop, true)));
        assert!(restarts_on_success(JobType::System, None));
        assert!(!restarts_on_success(JobType::Sysbatch, None));
    }

    proptest! {
        /// No schedule of failures, whatever the jitter, yields more than
        /// `attempts` policy restarts in any window of `interval`, in either mode.
        #[test]
        fn never_more_than_attempts_in_any_window(
            attempts in 1u32..5,
            interval in 1u64..120,
            delay_ms in 0u64..20_000,
            delay_mode in any::<bool>(),
            gaps in proptest::collection::vec((0u64..90_000, 0.0f64..1.0), 1..60),
        ) {
            let c = clock();
            let p = RestartPolicy {
                attempts,
                interval: Duration::from_secs(interval),
                delay: Duration::from_millis(delay_ms),
                mode: if delay_mode { RestartMode::Delay } else { RestartMode::Fail },
            };
            proptest::prop_assume!(p.delay.saturating_mul(attempts) <= p.interval);
            let mut t = RestartTracker::new(p, true);
            let mut now = c.at(0.0);
            let mut restarts: Vec<Instant> = Vec::new();
            for (gap_ms, jitter) in gaps {
                // The task runs for `gap` after its (re)start, then fails.
                now += Duration::from_millis(gap_ms);
                match t.decide(FAIL, now, jitter) {
                    Decision::Restart { delay, .. } => {
                        now += delay;
                        restarts.push(now);
                    }
                    Decision::Fail { .. } => {
                        proptest::prop_assert!(!delay_mode, "delay mode never fails");
                        break;
                    }
                    other => proptest::prop_assert!(false, "unexpected {other:?}"),
                }
            }
            for (i, start) in restarts.iter().enumerate() {
                let inside = restarts[i..].iter().filter(|r| r.duration_since(*start) < p.interval).count();
                proptest::prop_assert!(inside <= attempts as usize, "{inside} restarts within {interval}s from restart {i}");
            }
        }
    }
}
