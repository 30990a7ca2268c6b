//! `Restart=`, `RestartSec=` and the start limit as a restart policy, with
//! notes on how it differs from systemd's.

use super::values::timespan;
use super::{Raw, Unit};
use crate::import::{RestartOut, duration};
use std::time::Duration;

impl Unit {
    /// `Restart=` with `RestartSec=` and the start limit as a restart
    /// policy, and the notes on how it differs from systemd's.
    pub(super) fn restart_policy(&self, batch: bool) -> (RestartOut, Vec<String>) {
        let mut restart_notes = Vec::new();
        let restart_value = self.restart.as_ref().map_or("no", |r| r.value.as_str()).to_string();
        let restart = match restart_value.as_str() {
            "no" => {
                if !batch {
                    restart_notes.push(
                        "Restart=no: the task is not restarted; once it exits the job is dead until `supctl job start`"
                            .to_string(),
                    );
                }
                RestartOut::never()
            }
            "always" | "on-success" | "on-failure" | "on-abnormal" | "on-abort" | "on-watchdog" => {
                self.restarting(&restart_value, batch, &mut restart_notes)
            }
            other => {
                restart_notes.push(format!("Restart={other}: unknown value, read as Restart=no"));
                RestartOut::never()
            }
        };
        (restart, restart_notes)
    }

    /// A `Restart=` that restarts: after `RestartSec=`, at most
    /// `StartLimitBurst=` times in `StartLimitIntervalSec=`.
    fn restarting(&self, restart_value: &str, batch: bool, restart_notes: &mut Vec<String>) -> RestartOut {
        let delay = self.time_setting(&self.restart_sec, "RestartSec", Duration::from_millis(100), restart_notes);
        let interval = self.time_setting(
            &self.start_limit_interval,
            "StartLimitIntervalSec",
            Duration::from_secs(10),
            restart_notes,
        );
        let burst = match &self.start_limit_burst {
            None => 5,
            Some(r) => r.value.parse::<u32>().unwrap_or_else(|_| {
                restart_notes.push(format!(
                    "line {}: StartLimitBurst={} is not a number; systemd's default 5 instead",
                    r.line, r.value
                ));
                5
            }),
        };
        let (policy, raised) = if interval.is_zero() {
            // No start limit: systemd restarts after every delay, forever.
            let window = Duration::from_secs(10).max(delay.saturating_mul(5));
            let attempts =
                if delay.is_zero() { 100 } else { (window.as_nanos() / delay.as_nanos()).clamp(1, 100) as u32 };
            restart_notes.push(format!(
                "StartLimitIntervalSec=0: systemd restarts without limit; here at most {attempts} restarts in {}, then the next waits",
                duration(window)
            ));
            RestartOut::delayed(attempts, window, delay)
        } else {
            restart_notes.push(format!(
                "systemd gives up (the unit fails) after {burst} starts within {} (StartLimitBurst, StartLimitIntervalSec); mode \"delay\" waits for the window instead and keeps restarting — use mode = \"fail\" for systemd's behavior",
                duration(interval)
            ));
            RestartOut::delayed(burst, interval, delay)
        };
        restart_notes.extend(raised);
        restart_value_note(restart_value, batch, restart_notes);
        policy
    }

    /// A time setting, or its default when unset or malformed (with a note).
    fn time_setting(&self, slot: &Option<Raw>, key: &str, default: Duration, notes: &mut Vec<String>) -> Duration {
        match slot {
            None => default,
            Some(r) if r.value == "infinity" => {
                notes.push(format!("{key}=infinity: read as {}", duration(default)));
                default
            }
            Some(r) => timespan(&r.value).unwrap_or_else(|| {
                notes.push(format!(
                    "line {}: {key}={} is not a time span; systemd's default {} instead",
                    r.line,
                    r.value,
                    duration(default)
                ));
                default
            }),
        }
    }
}

/// The note on how a restarting `Restart=` value differs here.
fn restart_value_note(restart_value: &str, batch: bool, restart_notes: &mut Vec<String>) {
    match restart_value {
        "always" if batch => {
            restart_notes.push("Restart=always: a batch task that exits 0 is complete and not restarted".to_string())
        }
        "always" => {}
        "on-success" => restart_notes.push(
            "Restart=on-success: supd cannot restart only after a clean exit; it restarts after any exit (service) or after failures only (batch)"
                .to_string(),
        ),
        v if batch => restart_notes.push(format!(
            "Restart={v}: a batch task is restarted after any failure and complete after exit 0"
        )),
        v => restart_notes.push(format!(
            "Restart={v}: systemd does not restart after a clean exit (status 0); a supd service task is restarted whatever its exit status"
        )),
    }
}
