//! The `restart` block as a pure state machine: given what ended a task's
//! run, the time, and a random sample for jitter, decide whether and when it
//! starts again. It reads no clock, spawns nothing and logs nothing.
//!
//! The window slides (DESIGN §3): a policy restart is allowed while fewer
//! than `attempts` restarts were performed in the `interval` before the
//! moment the new one would be performed. Nomad's tumbling window (reference
//! §1.5) lets a task that fails just slower than `interval / attempts`
//! restart forever; this one never exceeds `attempts` in any window.

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

/// One task's restart budget.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    restart_on_success: bool,
    /// When each policy restart was (or will be) performed, oldest first;
    /// only those that can still matter are kept.
    history: VecDeque<Instant>,
    /// How many restarts were ever added to `history`: the newest
    /// `added - n` of it came after the `n`th (what a journal record that
    /// only appends needs).
    added: u64,
}

impl RestartTracker {
    /// `restart_on_success` is whether exit 0 is a reason to restart; see
    /// [`restarts_on_success`].
    pub fn new(policy: RestartPolicy, restart_on_success: bool) -> Self {
        RestartTracker { policy, restart_on_success, history: VecDeque::new(), added: 0 }
    }

    /// How many restarts were ever added to the history (a mark for
    /// [`added_since`](Self::added_since)).
    pub fn added(&self) -> u64 {
        self.added
    }

    /// The restarts added after `mark` (a value of [`added`](Self::added))
    /// that are still in the history, oldest first.
    pub fn added_since(&self, mark: u64) -> impl Iterator<Item = Instant> + '_ {
        let n = usize::try_from(self.added.saturating_sub(mark)).unwrap_or(usize::MAX).min(self.history.len());
        self.history.iter().skip(self.history.len() - n).copied()
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// A new policy for the restarts to come (a job updated in place);
    /// the restarts made so far still count in its interval.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// Times of the policy restarts still inside the window, oldest first.
    pub fn history(&self) -> impl Iterator<Item = Instant> + '_ {
        self.history.iter().copied()
    }

    /// Restores restart times kept across a supd restart.
    pub fn restore(&mut self, times: impl IntoIterator<Item = Instant>) {
        self.history = times.into_iter().collect();
        self.history.make_contiguous().sort();
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
        if self.history.len() < p.attempts as usize {
            self.history.push_back(at);
            self.added += 1;
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
                // The oldest restart that must leave the window first.
                let excess = self.history.len() + 1 - p.attempts as usize;
                let leaves = self.history[excess - 1] + p.interval;
                let at = leaves.max(now + p.delay);
                self.forget_before(at);
                self.history.push_back(at);
                self.added += 1;
                Decision::Restart { delay: at - now, reason: RestartReason::WindowFull }
            }
        }
    }

    /// Drops restarts that are out of the window ending at `at`: those at or
    /// before `at - interval`.
    fn forget_before(&mut self, at: Instant) {
        while let Some(&first) = self.history.front() {
            if at.saturating_duration_since(first) >= self.policy.interval {
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
    fn added_since_a_mark_names_only_the_newer_restarts_still_kept() {
        let c = clock();
        let mut t = RestartTracker::new(policy(100, 10, 0, RestartMode::Delay), true);
        t.restore([c.at(0.0)]);
        assert_eq!((t.added(), t.added_since(0).count()), (0, 0), "restored restarts are not new");
        t.decide(FAIL, c.at(1.0), 0.0);
        let mark = t.added();
        t.decide(FAIL, c.at(2.0), 0.0);
        t.decide(FAIL, c.at(3.0), 0.0);
        assert_eq!(t.added_since(mark).collect::<Vec<_>>(), vec![c.at(2.0), c.at(3.0)]);
        // Those that left the window are not named, whatever the mark.
        t.decide(FAIL, c.at(12.5), 0.0);
        assert_eq!(t.history().count(), 2);
        assert_eq!(t.added_since(0).collect::<Vec<_>>(), vec![c.at(3.0), c.at(12.5)]);
        assert_eq!(t.added_since(t.added()).count(), 0);
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
