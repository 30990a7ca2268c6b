//! Batch jobs over time, end to end with the real `supd` and `supctl`:
//! `max_run_duration` stops an instance that ran too long. Tasks record
//! what happened to them in files of the temporary directory, so what supd
//! reports is checked against what ran.
//!
//! Timing allows for a loaded 2-core machine: waits poll with generous
//! ceilings, and timing assertions are ranges, never instants.

mod common;

use common::*;
use std::time::Duration;

/// The group's `max_run_duration` stops the task with its kill_signal once
/// the instance has run that long: the `Killing` event and the instance's
/// description say so in Nomad's words, the instance is complete, nothing
/// restarts, and a poststop task that had not run does not run.
#[test]
fn max_run_duration_stops_a_batch_task_in_time() {
    let s = Supd::new();
    s.write_job(
        "long.hcl",
        r#"
job "long" {
  type = "batch"
  group "g" {
    max_run_duration = "1s"
    restart {
      attempts = 3
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver      = "raw_exec"
      kill_signal = "SIGTERM"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo TERM >> @DIR@/signals; exit 3' TERM; echo started >> @DIR@/starts; while :; do sleep 0.05; done"]
      }
    }
    task "after" {
      driver = "raw_exec"
      lifecycle {
        hook = "poststop"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ran >> @DIR@/poststop"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_dead("long/g/0/t");
    assert_eq!(t["failed"], false, "{}", pretty(&t));
    let started = event_times(&t, "Started");
    let killing = event_times(&t, "Killing");
    assert_eq!((started.len(), killing.len()), (1, 1), "{:?}", events(&t));
    let after = killing[0] - started[0];
    assert!((0.95..1.5).contains(&after), "stopped {after:.3}s after its start, max_run_duration is 1s");
    assert_eq!(count(&t, "Killing", |m| m == "allocation exceeded max_run_duration"), 1, "{:?}", events(&t));
    assert!(kinds(&t).iter().any(|k| k == "Killed"), "{:?}", events(&t));
    assert!(wait_until(PATIENCE, || lines(&s.path("signals")) == ["TERM"]), "the task got its kill_signal");
    // Not restarted for it (the restart policy would within 100 ms).
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(lines(&s.path("starts")).len(), 1, "restarted after max_run_duration\n{}", s.log());
    assert!(!s.path("poststop").exists(), "the poststop task ran after max_run_duration");
    let st = s.status();
    let inst = instance(&st, "long/g/0").expect("instance");
    assert_eq!(inst["status"], "complete", "{}", pretty(inst));
    assert_eq!(inst["description"], "allocation exceeded max_run_duration");
    let poststop = task(&st, "long/g/0/after").expect("poststop task");
    assert_eq!(poststop["state"], "dead");
    assert_eq!(count(poststop, "Killing", |m| m == "allocation exceeded max_run_duration"), 1);
    let detail = s.supctl_ok(&["status", "long/g/0"]);
    assert!(detail.contains("Status   = complete (allocation exceeded max_run_duration)"), "{detail}");
}
