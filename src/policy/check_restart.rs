//! `check_restart` as a pure state machine (DESIGN §3): after `grace` from
//! each (re)start of the task, count consecutive unhealthy results
//! (critical, and warning unless `ignore_warnings`); one healthy result
//! resets the count; at `limit` the task is restarted. `limit = 0` never
//! restarts. Results inside the grace period are ignored entirely.

use crate::jobspec::model::{CheckRestart, CheckStatus};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Inside the grace period: not counted.
    Grace,
    /// Healthy: the count is back to zero.
    Healthy,
    /// Unhealthy, `n` in a row, below the limit (or no limit).
    Unhealthy(u32),
    /// The limit is reached: restart the task.
    Restart,
}

#[derive(Debug, Clone)]
pub struct CheckWatch {
    policy: CheckRestart,
    grace_until: Instant,
    consecutive: u32,
}

impl CheckWatch {
    /// Starts watching a check of a task (re)started at `started`.
    pub fn new(policy: CheckRestart, started: Instant) -> CheckWatch {
        CheckWatch { policy, grace_until: started + policy.grace, consecutive: 0 }
    }

    pub fn consecutive(&self) -> u32 {
        self.consecutive
    }

    /// How much of its grace is left at `now`.
    pub fn grace_left(&self, now: Instant) -> std::time::Duration {
        self.grace_until.saturating_duration_since(now)
    }

    /// A watch carried across a re-exec of supd: its grace ends and its
    /// count of failures in a row are as they were.
    pub fn resumed(policy: CheckRestart, grace_until: Instant, consecutive: u32) -> CheckWatch {
        CheckWatch { policy, grace_until, consecutive }
    }

    /// Takes one check result observed at `now`.
    pub fn observe(&mut self, status: CheckStatus, now: Instant) -> Verdict {
        if now < self.grace_until {
            return Verdict::Grace;
        }
        let unhealthy = match status {
            CheckStatus::Passing => false,
            CheckStatus::Warning => !self.policy.ignore_warnings,
            CheckStatus::Critical => true,
        };
        if !unhealthy {
            self.consecutive = 0;
            return Verdict::Healthy;
        }
        self.consecutive += 1;
        if self.policy.limit > 0 && self.consecutive >= self.policy.limit {
            self.consecutive = 0;
            Verdict::Restart
        } else {
            Verdict::Unhealthy(self.consecutive)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(limit: u32, grace: u64, ignore_warnings: bool) -> CheckRestart {
        CheckRestart { limit, grace: Duration::from_secs(grace), ignore_warnings }
    }

    /// Results every `interval` seconds from the start, with the statuses given.
    fn run(p: CheckRestart, interval: u64, statuses: &[CheckStatus]) -> Vec<Verdict> {
        let t0 = Instant::now();
        let mut w = CheckWatch::new(p, t0);
        statuses.iter().enumerate().map(|(i, s)| w.observe(*s, t0 + Duration::from_secs(interval * i as u64))).collect()
    }

    use CheckStatus::{Critical as C, Passing as P, Warning as W};
    use Verdict::*;

    // Reference §7 case 12, as DESIGN §3 restates it: interval 10s, limit 3,
    // grace 90s, critical from the start: results at 0..80 ignored, 90, 100
    // and 110 counted, restart at the third (110s).
    #[test]
    fn limit_consecutive_results_after_grace() {
        let v = run(policy(3, 90, false), 10, &[C; 12]);
        assert!(v[..9].iter().all(|x| *x == Grace), "{v:?}");
        assert_eq!(&v[9..], &[Unhealthy(1), Unhealthy(2), Restart]);
    }

    // Case 13: one passing result resets the count.
    #[test]
    fn one_healthy_result_resets() {
        let v = run(policy(3, 0, false), 10, &[C, C, P, C, C, C]);
        assert_eq!(v, [Unhealthy(1), Unhealthy(2), Healthy, Unhealthy(1), Unhealthy(2), Restart]);
        // Flapping never restarts.
        let v = run(policy(2, 0, false), 10, &[C, P, C, P, C, P, C]);
        assert!(!v.contains(&Restart), "{v:?}");
    }

    // Case 14: limit 1 restarts at the first unhealthy result after grace.
    #[test]
    fn limit_one() {
        assert_eq!(run(policy(1, 5, false), 10, &[C, C]), [Grace, Restart]);
    }

    // Case 15: warnings count unless ignore_warnings.
    #[test]
    fn warnings() {
        assert_eq!(run(policy(2, 0, false), 10, &[W, W]), [Unhealthy(1), Restart]);
        assert_eq!(run(policy(2, 0, true), 10, &[W, W, W]), [Healthy, Healthy, Healthy]);
        assert_eq!(run(policy(2, 0, true), 10, &[C, W, C]), [Unhealthy(1), Healthy, Unhealthy(1)]);
    }

    #[test]
    fn limit_zero_never_restarts() {
        let v = run(policy(0, 0, false), 10, &[C; 50]);
        assert!(!v.contains(&Restart) && v[49] == Unhealthy(50));
    }
}
