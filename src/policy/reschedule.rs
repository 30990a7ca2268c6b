//! The `reschedule` block as a pure function: given the hand-off history
//! that travels with an instance, when it failed, and how long it had run,
//! decide whether and after what delay it goes to another host (reference
//! §3.2–3.3). Times are wall-clock times, since the history crosses hosts.
//!
//! One deliberate difference (DESIGN §3): the delay falls back to `delay`
//! whenever the failed instance had run longer than `max_delay`, not only
//! on the step where the progression would pass the cap — a long-healthy
//! task should not inherit an hour-long backoff.

use crate::jobspec::duration::GoDuration;
use crate::jobspec::model::{DelayFunction, ReschedulePolicy};
use std::time::{Duration, SystemTime};

/// One earlier hand-off of the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When the replacement was placed.
    pub time: SystemTime,
    /// The host the instance left.
    pub node: String,
    /// The delay that was applied.
    pub delay: Duration,
    pub reason: String,
    /// Its number in the chain of hand-offs, 1 for the first: the count goes
    /// on when older events leave the kept history. 0 when not known (a
    /// history kept before the numbers were): its position counts then.
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Hand the instance off after `delay`.
    Reschedule { delay: Duration },
    /// Leave it failed, for this reason.
    Stay { reason: String },
}

/// Decides what follows the failure of an instance at `failed_at` after
/// running for `ran_for`, with `history` oldest first.
pub fn decide(p: &ReschedulePolicy, history: &[Event], failed_at: SystemTime, ran_for: Duration) -> Decision {
    if !p.enabled() {
        return Decision::Stay { reason: "rescheduling is disabled (attempts = 0, unlimited = false)".into() };
    }
    let delay = next_delay(p, history, ran_for);
    if !p.unlimited {
        let recent = counted(p, history, failed_at);
        if recent >= p.attempts as usize {
            return Decision::Stay {
                reason: format!(
                    "Exhausted {} reschedule attempts within {} ({recent} so far)",
                    p.attempts,
                    GoDuration(p.interval)
                ),
            };
        }
        // Nomad's `nextRescheduleTime` always allows the first reschedule
        // of a limited policy; only a later one must have a delay shorter
        // than the interval.
        if !history.is_empty() && delay >= p.interval {
            return Decision::Stay {
                reason: format!(
                    "the next delay {} would not fit in the interval {}",
                    GoDuration(delay),
                    GoDuration(p.interval)
                ),
            };
        }
    }
    Decision::Reschedule { delay }
}

/// The hand-offs that count at `now`: against `attempts`, those inside the
/// sliding `interval`; for an unlimited policy, every one of the chain, those
/// the history no longer keeps included.
pub fn counted(p: &ReschedulePolicy, history: &[Event], now: SystemTime) -> usize {
    if p.unlimited {
        made(history) as usize
    } else {
        history.iter().filter(|e| within(e.time, now, p.interval)).count()
    }
}

/// How many hand-offs the chain has had: the number of the newest event,
/// or the length of the history where numbers are missing.
pub fn made(history: &[Event]) -> u32 {
    history.iter().zip(1..).map(|(e, position)| e.attempt.max(position)).max().unwrap_or(0)
}

fn within(t: SystemTime, failed_at: SystemTime, interval: Duration) -> bool {
    failed_at.duration_since(t).map_or(true, |ago| ago < interval)
}

/// Nomad's `NextDelay`, with DESIGN §3's reset.
pub fn next_delay(p: &ReschedulePolicy, history: &[Event], ran_for: Duration) -> Duration {
    let n = history.len();
    if n == 0 || p.delay_function == DelayFunction::Constant {
        return p.delay;
    }
    if p.max_delay > Duration::ZERO && ran_for > p.max_delay {
        return p.delay;
    }
    let last = history[n - 1].delay;
    let next = match p.delay_function {
        DelayFunction::Constant => p.delay,
        DelayFunction::Exponential => last.saturating_mul(2),
        DelayFunction::Fibonacci => {
            if n < 2 {
                p.delay
            } else {
                let before = history[n - 2].delay;
                // Right after a reset the series starts afresh: delay, delay, 2·delay, …
                if last == p.delay && before != p.delay { p.delay } else { before.saturating_add(last) }
            }
        }
    };
    if p.max_delay > Duration::ZERO && next > p.max_delay { p.max_delay } else { next }
}

/// The history the replacement carries: the earlier events that can still
/// matter (those inside `interval` for a limited policy, the last five for
/// an unlimited one, as Nomad keeps them) and the new one, numbered next.
pub fn carry(p: &ReschedulePolicy, history: &[Event], new: Event) -> Vec<Event> {
    let new = Event { attempt: made(history) + 1, ..new };
    let mut out: Vec<Event> = if p.unlimited {
        history.iter().rev().take(5).rev().cloned().collect()
    } else {
        history.iter().filter(|e| within(e.time, new.time, p.interval)).cloned().collect()
    };
    out.push(new);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobspec::model::JobType;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + S(1_800_000_000 + secs)
    }

    /// Runs a chain of failures: each replacement fails `ran` after being
    /// placed; returns the delays applied, until the policy says stay.
    fn chain(p: &ReschedulePolicy, ran: &[u64]) -> (Vec<u64>, Option<String>) {
        let mut history: Vec<Event> = Vec::new();
        let mut now = 0;
        let mut delays = Vec::new();
        for r in ran {
            now += r;
            match decide(p, &history, at(now), S(*r)) {
                Decision::Reschedule { delay } => {
                    now += delay.as_secs();
                    delays.push(delay.as_secs());
                    let e = Event { time: at(now), node: "a".into(), delay, reason: "failed".into(), attempt: 0 };
                    history = carry(p, &history, e);
                }
                Decision::Stay { reason } => return (delays, Some(reason)),
            }
        }
        (delays, None)
    }

    // §7 case 20: the service default doubles from 30s up to the hour.
    #[test]
    fn service_default_backs_off_exponentially() {
        let p = JobType::Service.default_reschedule().unwrap();
        let (d, stay) = chain(&p, &[10; 10]);
        assert_eq!(d, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(stay, None, "unlimited");
    }

    // §7 case 21, restated for DESIGN §3: running longer than max_delay resets.
    #[test]
    fn a_long_run_resets_the_backoff() {
        let p = JobType::Service.default_reschedule().unwrap();
        let hist = |delay: u64| {
            vec![Event { time: at(0), node: "a".into(), delay: S(delay), reason: String::new(), attempt: 0 }]
        };
        assert_eq!(next_delay(&p, &hist(3600), S(2 * 3600)), S(30));
        // Nomad would give 32m here (no reset below the cap); supd resets.
        assert_eq!(next_delay(&p, &hist(16 * 60), S(2 * 86400)), S(30));
        assert_eq!(next_delay(&p, &hist(16 * 60), S(10)), S(32 * 60));
    }

    // §7 case 22: Fibonacci, and its restart after a reset.
    #[test]
    fn fibonacci_series_and_reset() {
        let p = ReschedulePolicy {
            attempts: 0,
            interval: Duration::ZERO,
            delay: S(5),
            delay_function: DelayFunction::Fibonacci,
            max_delay: S(60),
            unlimited: true,
        };
        assert_eq!(chain(&p, &[1; 8]).0, [5, 5, 10, 15, 25, 40, 60, 60]);
        // The one that would get 60s ran for 61s: reset, and the series starts again.
        assert_eq!(chain(&p, &[1, 1, 1, 1, 1, 1, 61, 1, 1, 1]).0, [5, 5, 10, 15, 25, 40, 5, 5, 10, 15]);
    }

    // §7 case 23: the batch default allows one hand-off per 24h.
    #[test]
    fn batch_window() {
        let p = JobType::Batch.default_reschedule().unwrap();
        let first = Event { time: at(5), node: "a".into(), delay: S(5), reason: String::new(), attempt: 0 };
        assert_eq!(decide(&p, &[], at(0), S(0)), Decision::Reschedule { delay: S(5) });
        match decide(&p, std::slice::from_ref(&first), at(3600), S(3595)) {
            Decision::Stay { reason } => {
                assert!(reason.starts_with("Exhausted 1 reschedule attempts within 24h0m0s"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decide(&p, &[first], at(25 * 3600), S(3600)), Decision::Reschedule { delay: S(5) });
    }

    // Nomad, nomad/structs/alloc.go (nextRescheduleTime):
    //   rescheduleEligible := reschedulePolicy.Unlimited || (reschedulePolicy.Attempts > 0 && a.RescheduleTracker == nil)
    //   if reschedulePolicy.Attempts > 0 && a.RescheduleTracker != nil && a.RescheduleTracker.Events != nil {
    //       rescheduleEligible = attempted < attempts && nextDelay < reschedulePolicy.Interval
    // The first reschedule is always allowed; a later one needs a delay
    // shorter than the interval, even once the earlier ones left it.
    #[test]
    fn the_first_reschedule_is_allowed_even_when_its_delay_fills_the_interval() {
        let p = ReschedulePolicy {
            attempts: 1,
            interval: S(15),
            delay: S(15),
            delay_function: DelayFunction::Constant,
            max_delay: Duration::ZERO,
            unlimited: false,
        };
        assert_eq!(decide(&p, &[], at(0), S(1)), Decision::Reschedule { delay: S(15) });
        let (d, stay) = chain(&p, &[1, 1]);
        assert_eq!(d, [15]);
        assert_eq!(stay.as_deref(), Some("Exhausted 1 reschedule attempts within 15s (1 so far)"));
        // Long after the first: the count is free again, but 15s does not
        // fit in 15s.
        let first = Event { time: at(15), node: "a".into(), delay: S(15), reason: String::new(), attempt: 0 };
        match decide(&p, &[first], at(1000), S(985)) {
            Decision::Stay { reason } => {
                assert_eq!(reason, "the next delay 15s would not fit in the interval 15s")
            }
            other => panic!("{other:?}"),
        }
    }

    // §7 case 24: disabled.
    #[test]
    fn disabled_policy_leaves_it_failed() {
        let mut p = JobType::Batch.default_reschedule().unwrap();
        p.attempts = 0;
        assert!(matches!(decide(&p, &[], at(0), S(1)), Decision::Stay { .. }));
    }

    #[test]
    fn limited_policies_count_within_the_sliding_interval() {
        let p = ReschedulePolicy {
            attempts: 3,
            interval: S(3600),
            delay: S(10),
            delay_function: DelayFunction::Constant,
            max_delay: Duration::ZERO,
            unlimited: false,
        };
        let (d, stay) = chain(&p, &[60; 5]);
        assert_eq!(d, [10, 10, 10]);
        assert!(stay.is_some());
        // Spaced by more than the interval, hand-offs never run out.
        assert_eq!(chain(&p, &[4000; 6]).0.len(), 6);
    }

    // An unlimited policy keeps only the last five hand-offs (Nomad's
    // UpdateRescheduleTracker does too), but the attempt number counts the
    // whole chain.
    #[test]
    fn unlimited_attempts_are_counted_past_the_kept_history() {
        let p = JobType::Service.default_reschedule().unwrap();
        let (mut history, mut numbers, mut now) = (Vec::new(), Vec::new(), 0);
        for _ in 0..10 {
            now += 10;
            numbers.push(counted(&p, &history, at(now)) + 1);
            let Decision::Reschedule { delay } = decide(&p, &history, at(now), S(10)) else { panic!("unlimited") };
            now += delay.as_secs();
            let e = Event { time: at(now), node: "a".into(), delay, reason: String::new(), attempt: 0 };
            history = carry(&p, &history, e);
            assert!(history.len() <= 6, "{}", history.len());
        }
        assert_eq!(numbers, (1..=10).collect::<Vec<usize>>());
        assert_eq!(history.iter().map(|e| e.attempt).collect::<Vec<_>>(), [5, 6, 7, 8, 9, 10]);
        // A history kept without numbers counts by its length.
        let unnumbered: Vec<Event> = history.iter().map(|e| Event { attempt: 0, ..e.clone() }).collect();
        assert_eq!(made(&unnumbered), 6);
    }

    #[test]
    fn carried_history_is_bounded() {
        let unlimited = JobType::Service.default_reschedule().unwrap();
        let e = |t: u64| Event { time: at(t), node: "a".into(), delay: S(30), reason: String::new(), attempt: 0 };
        let h: Vec<Event> = (0..9).map(e).collect();
        assert_eq!(carry(&unlimited, &h, e(100)).len(), 6, "the last five and the new one");
        let limited = JobType::Batch.default_reschedule().unwrap();
        let h = vec![e(0), e(90_000)];
        assert_eq!(carry(&limited, &h, e(100_000)).len(), 2, "only those inside 24h");
    }
}
