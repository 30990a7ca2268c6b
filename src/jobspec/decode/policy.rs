//! The `restart` and `reschedule` blocks and Nomad's checks of them.

use super::*;

pub(super) const RESTART: Schema = Schema {
    what: "restart",
    keys: &[("attempts", Attr), ("interval", Attr), ("delay", Attr), ("mode", Attr)],
    ignored: &["render_templates"],
};

pub(super) const RESCHEDULE: Schema = Schema {
    what: "reschedule",
    keys: &[
        ("attempts", Attr),
        ("interval", Attr),
        ("delay", Attr),
        ("delay_function", Attr),
        ("max_delay", Attr),
        ("unlimited", Attr),
    ],
    ignored: &[],
};

// --- restart -------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub(super) struct RestartSpec {
    pub(super) attempts: Option<u32>,
    pub(super) interval: Option<Duration>,
    pub(super) delay: Option<Duration>,
    pub(super) mode: Option<RestartMode>,
    pub(super) span: Sp,
    /// Some field had an error: the policy's rules are not checked, as they
    /// would judge defaults the file did not ask for.
    pub(super) broken: bool,
}

impl RestartSpec {
    pub(super) fn over(&self, base: RestartPolicy) -> RestartPolicy {
        RestartPolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            interval: self.interval.unwrap_or(base.interval),
            delay: self.delay.unwrap_or(base.delay),
            mode: self.mode.unwrap_or(base.mode),
        }
    }
}

pub(super) fn restart_spec(r: &mut Reader, blk: &Block) -> RestartSpec {
    r.no_label(blk);
    r.check_keys(&blk.body, &RESTART);
    let b = &blk.body;
    let before = r.sink.error_count();
    let mut spec = RestartSpec {
        attempts: r.attr(b, "attempts").and_then(|a| r.int(&a.value, "attempts", 0, u32::MAX as i64)).map(|v| v as u32),
        interval: r.attr(b, "interval").and_then(|a| r.duration(&a.value, "interval")),
        delay: r.attr(b, "delay").and_then(|a| r.duration(&a.value, "delay")),
        mode: r
            .attr(b, "mode")
            .and_then(|a| r.enum_value(&a.value, "mode", &["fail", "delay"]))
            .map(|m| if m == "fail" { RestartMode::Fail } else { RestartMode::Delay }),
        span: blk.ident.span(),
        broken: false,
    };
    spec.broken = r.sink.error_count() > before;
    spec
}

/// Nomad's `RestartPolicy.Validate` (reference §1.4), with DESIGN §3's
/// relaxed minimum interval.
pub(super) fn validate_restart(r: &mut Reader, p: &RestartPolicy, span: Sp, scope: &str) {
    if p.mode == RestartMode::Delay && p.attempts == 0 {
        r.sink.error(span.clone(), "restart mode \"delay\" with 0 attempts is ambiguous — set attempts above 0, or use mode = \"fail\" to stop after the first failure");
    }
    if p.attempts > 0 && p.interval.is_zero() {
        r.sink.error(span.clone(), "restart interval is 0 — with a zero window no restart is ever counted, so attempts would not limit anything; set an interval such as \"30m\"");
        return;
    }
    if p.interval < Duration::from_secs(5) {
        r.sink.warn(
            span.clone(),
            format!("restart interval {} is below 5s, which Nomad refuses (supd accepts it)", GoDuration(p.interval)),
        );
    }
    let needed = p.delay.saturating_mul(p.attempts);
    if needed > p.interval {
        r.sink.error(
            span,
            format!(
                "Nomad can't restart the {scope} {} times in an interval of {} with a delay of {} — set interval to at least {}, or lower attempts or delay",
                p.attempts,
                GoDuration(p.interval),
                GoDuration(p.delay),
                GoDuration(needed)
            ),
        );
    }
}

// --- reschedule ----------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub(super) struct RescheduleSpec {
    pub(super) attempts: Option<u32>,
    pub(super) interval: Option<Duration>,
    pub(super) delay: Option<Duration>,
    pub(super) delay_function: Option<DelayFunction>,
    pub(super) max_delay: Option<Duration>,
    pub(super) unlimited: Option<bool>,
    pub(super) span: Sp,
    pub(super) broken: bool,
}

impl RescheduleSpec {
    pub(super) fn over(&self, base: ReschedulePolicy) -> ReschedulePolicy {
        ReschedulePolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            interval: self.interval.unwrap_or(base.interval),
            delay: self.delay.unwrap_or(base.delay),
            delay_function: self.delay_function.unwrap_or(base.delay_function),
            max_delay: self.max_delay.unwrap_or(base.max_delay),
            unlimited: self.unlimited.unwrap_or(base.unlimited),
        }
    }

    /// Group fields over job fields, field by field.
    pub(super) fn over_spec(&self, base: &RescheduleSpec) -> RescheduleSpec {
        RescheduleSpec {
            attempts: self.attempts.or(base.attempts),
            interval: self.interval.or(base.interval),
            delay: self.delay.or(base.delay),
            delay_function: self.delay_function.or(base.delay_function),
            max_delay: self.max_delay.or(base.max_delay),
            unlimited: self.unlimited.or(base.unlimited),
            span: self.span.clone().or(base.span.clone()),
            broken: self.broken || base.broken,
        }
    }
}

pub(super) fn reschedule_spec(r: &mut Reader, blk: &Block) -> RescheduleSpec {
    r.no_label(blk);
    r.check_keys(&blk.body, &RESCHEDULE);
    let b = &blk.body;
    let before = r.sink.error_count();
    let mut spec = RescheduleSpec {
        attempts: r.attr(b, "attempts").and_then(|a| r.int(&a.value, "attempts", 0, u32::MAX as i64)).map(|v| v as u32),
        interval: r.attr(b, "interval").and_then(|a| r.duration(&a.value, "interval")),
        delay: r.attr(b, "delay").and_then(|a| r.duration(&a.value, "delay")),
        delay_function: r
            .attr(b, "delay_function")
            .and_then(|a| r.enum_value(&a.value, "delay_function", &DelayFunction::NAMES))
            .map(|f| match f.as_str() {
                "constant" => DelayFunction::Constant,
                "exponential" => DelayFunction::Exponential,
                _ => DelayFunction::Fibonacci,
            }),
        max_delay: r.attr(b, "max_delay").and_then(|a| r.duration(&a.value, "max_delay")),
        unlimited: r.attr(b, "unlimited").and_then(|a| r.bool(&a.value, "unlimited")),
        span: blk.ident.span(),
        broken: false,
    };
    spec.broken = r.sink.error_count() > before;
    spec
}

/// Nomad's `ReschedulePolicy.Validate` (reference §3.1), with DESIGN §3's
/// relaxed minimum delays.
pub(super) fn validate_reschedule(r: &mut Reader, p: &ReschedulePolicy, span: Sp) {
    if !p.enabled() {
        return;
    }
    if p.attempts > 0 {
        if p.interval.is_zero() {
            r.sink.error(
                span.clone(),
                format!("reschedule attempts = {} needs an interval — set e.g. interval = \"1h\"", p.attempts),
            );
            return;
        }
        if p.unlimited {
            r.sink.error(
                span.clone(),
                format!(
                    "reschedule policy with attempts = {}, interval = {} and unlimited = true is ambiguous — add `unlimited = false` to limit attempts (service jobs default to unlimited), or remove attempts",
                    p.attempts,
                    GoDuration(p.interval)
                ),
            );
            return;
        }
    }
    if p.delay < Duration::from_secs(5) {
        r.sink.warn(
            span.clone(),
            format!("reschedule delay {} is below 5s, which Nomad refuses (supd accepts it)", GoDuration(p.delay)),
        );
    }
    if p.delay_function != DelayFunction::Constant && !max_delay_ok(r, p, span.clone()) {
        return;
    }
    if !p.unlimited && p.attempts > 0 {
        validate_reschedule_window(r, p, span);
    }
}

/// The `max_delay` of a growing delay: false (an error) below `delay`,
/// a warning below 5s.
fn max_delay_ok(r: &mut Reader, p: &ReschedulePolicy, span: Sp) -> bool {
    if p.max_delay < p.delay {
        r.sink.error(
            span,
            format!(
                "reschedule max_delay {} is below delay {} — raise max_delay",
                GoDuration(p.max_delay),
                GoDuration(p.delay)
            ),
        );
        return false;
    }
    if p.max_delay < Duration::from_secs(5) {
        r.sink.warn(
            span,
            format!(
                "reschedule max_delay {} is below 5s, which Nomad refuses (supd accepts it)",
                GoDuration(p.max_delay)
            ),
        );
    }
    true
}

/// A limited number of attempts: the interval's minimum, and whether the
/// attempts fit in it.
fn validate_reschedule_window(r: &mut Reader, p: &ReschedulePolicy, span: Sp) {
    if p.interval < Duration::from_secs(15) {
        r.sink.warn(
            span.clone(),
            format!(
                "reschedule interval {} is below 15s, which Nomad refuses (supd accepts it)",
                GoDuration(p.interval)
            ),
        );
    }
    let (ok, possible, recommended) = viable_attempts(p);
    if !ok {
        let ceiling = if p.delay_function == DelayFunction::Constant {
            String::new()
        } else {
            format!(" and delay ceiling {}", GoDuration(p.max_delay))
        };
        let rounded = Duration::from_secs(recommended.as_secs() + u64::from(recommended.subsec_nanos() >= 500_000_000));
        r.sink.error(
            span,
            format!(
                "only {possible} of {} reschedule attempts fit in {} with initial delay {}, delay function {:?}{ceiling} — set interval to at least {}",
                p.attempts,
                GoDuration(p.interval),
                GoDuration(p.delay),
                p.delay_function.as_str(),
                GoDuration(rounded)
            ),
        );
    }
}

/// Nomad's `viableAttempts`: whether `attempts` reschedules fit in
/// `interval` given the delay progression; also how many do, and the
/// interval that would hold them all.
pub fn viable_attempts(p: &ReschedulePolicy) -> (bool, u32, Duration) {
    match p.delay_function {
        DelayFunction::Constant => {
            let recommended = p.delay.saturating_mul(p.attempts);
            if p.interval < recommended {
                let possible =
                    if p.delay.is_zero() { p.attempts } else { (p.interval.as_nanos() / p.delay.as_nanos()) as u32 };
                (false, possible, recommended)
            } else {
                (true, 0, recommended)
            }
        }
        DelayFunction::Exponential => viable_exponential(p),
        DelayFunction::Fibonacci => viable_fibonacci(p),
    }
}

/// [`viable_attempts`] with delays that double up to `max_delay`.
fn viable_exponential(p: &ReschedulePolicy) -> (bool, u32, Duration) {
    // Doubling until the cap, then adding the cap each time: once
    // capped, the rest follows by arithmetic, so a huge `attempts`
    // costs nothing.
    let mut recommended = Duration::ZERO;
    let mut possible: u64 = 0;
    let mut i = 0u32;
    while i < p.attempts {
        // delay × 2^i passes any cap by i = 64 (durations are < 2^64 ns).
        let ns = if i >= 64 { u128::MAX } else { p.delay.as_nanos().saturating_mul(1u128 << i) };
        let next = Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64);
        if next > p.max_delay || i >= 64 {
            break;
        }
        recommended = next;
        if recommended < p.interval {
            possible += 1;
        }
        i += 1;
    }
    let rest = u64::from(p.attempts - i);
    if rest > 0 {
        let step = p.max_delay.as_nanos();
        let room = p.interval.as_nanos().saturating_sub(recommended.as_nanos());
        // Steps k = 1..=rest with recommended + k·step < interval.
        let fit = match room.saturating_sub(1).checked_div(step) {
            Some(k) => k.min(u128::from(rest)) as u64,
            None if room > 0 => rest,
            None => 0,
        };
        possible += fit;
        recommended =
            Duration::from_nanos((recommended.as_nanos() + step * u128::from(rest)).min(u128::from(u64::MAX)) as u64);
    }
    let possible = possible.min(u64::from(u32::MAX)) as u32;
    (possible >= p.attempts, possible, recommended)
}

/// [`viable_attempts`] with delays that grow as Fibonacci up to `max_delay`.
fn viable_fibonacci(p: &ReschedulePolicy) -> (bool, u32, Duration) {
    // Slots grow as Fibonacci until the cap, then by the cap each time.
    let slot_count = p.attempts.max(2) as u64;
    let mut slots = vec![p.delay, p.delay];
    while (slots.len() as u64) < slot_count {
        let n = slots[slots.len() - 1].saturating_add(slots[slots.len() - 2]);
        if n > p.max_delay {
            break;
        }
        slots.push(n);
    }
    let linear_from = slots.len() as u64;
    let last_slot = |k: u64| -> Duration {
        // Slot k (0-based) for k >= linear_from: the cap, then +cap per slot.
        let steps = k - linear_from;
        Duration::from_nanos((p.max_delay.as_nanos() * u128::from(steps + 1)).min(u128::from(u64::MAX)) as u64)
    };
    let recommended = if slot_count > linear_from { last_slot(slot_count - 1) } else { slots[slots.len() - 1] };
    if p.interval < recommended {
        let possible = match slots.iter().position(|s| *s > p.interval) {
            Some(i) => i as u64,
            None if p.max_delay.is_zero() => 0,
            None => {
                // First linear slot k with (k - linear_from + 1)·cap > interval.
                let over = p.interval.as_nanos() / p.max_delay.as_nanos();
                linear_from + over as u64
            }
        };
        (false, possible.min(u64::from(u32::MAX)) as u32, recommended)
    } else {
        (true, 0, recommended)
    }
}
