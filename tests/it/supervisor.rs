//! The supervisor end to end: the real `supd` binary on a temporary job
//! directory and control socket, driven by the real `supctl`, with real
//! programs (sh scripts, sleep) as tasks. Tasks record their own starts in
//! files of the temporary directory, so what supd reports is checked against
//! what actually ran.
//!
//! Timing allows for a loaded 2-core machine: waits poll with generous
//! ceilings, and timing assertions are ranges, never instants.

use crate::support::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn time_parsers() {
    assert_eq!(rfc3339_secs("1970-01-02T00:00:01.500Z"), 86_401.5);
    assert_eq!(rfc3339_secs("2000-03-01T00:00:00.000Z") - rfc3339_secs("2000-02-28T00:00:00.000Z"), 2.0 * 86_400.0);
    assert_eq!(go_duration_secs("1m0s"), 60.0);
    assert_eq!(go_duration_secs("112.5ms"), 0.1125);
    assert_eq!(go_duration_secs("1h2m3.5s"), 3723.5);
}

// --- restart policy ----------------------------------------------------------------

/// A supd started with SIGCHLD ignored (inherited across exec) still
/// sees its tasks end: without the default disposition back, the kernel
/// would reap them unseen and nothing would restart.
#[test]
fn a_supd_started_with_sigchld_ignored_still_restarts_its_tasks() {
    let s = Supd::new();
    s.write_job(
        "again.hcl",
        r#"
job "again" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "50ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started >> @DIR@/starts; exit 3"]
      }
    }
  }
}
"#,
    );
    let s = s.start_with_sigchld_ignored();
    let st = s.wait_status("the task has failed for good", |s| {
        task(s, "again/g/0/t").is_some_and(|t| t["state"] == "dead" && t["failed"] == true)
    });
    let t = task(&st, "again/g/0/t").expect("task");
    assert_eq!(lines(&s.path("starts")).len(), 3, "one run and 2 restarts\n{}", pretty(t));
    assert!(events(t).iter().any(|(_, m)| m.contains("Exit Code: 3")), "its exit status was seen\n{}", pretty(t));
}

/// Reference §7 case 1: `attempts + 1` runs, then `Not Restarting`, and
/// nothing more.
#[test]
fn fail_mode_crash_loop_gives_up_after_attempts() {
    let s = Supd::new();
    s.write_job(
        "crash.hcl",
        r#"
job "crash" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started >> @DIR@/starts; exit 1"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let st = s.wait_status("the crash loop gives up", |s| {
        task(s, "crash/g/0/t").is_some_and(|t| t["state"] == "dead" && t["failed"] == true)
    });
    let t = task(&st, "crash/g/0/t").expect("task");
    assert_eq!(lines(&s.path("starts")).len(), 3, "one run and 2 restarts\n{}", pretty(t));
    let evs = events(t);
    let last = evs.last().expect("events");
    assert_eq!(last.0, "Not Restarting", "{evs:?}");
    assert_eq!(last.1, "Exceeded allowed attempts 2 in interval 1m0s and mode is \"fail\"");
    assert_eq!(evs.iter().filter(|(k, _)| k == "Restarting").count(), 2, "{evs:?}");
    assert_eq!(evs.iter().filter(|(k, _)| k == "Started").count(), 3, "{evs:?}");
    assert_eq!(restarts(t), 2);
    assert_eq!(t["exit_code"], 1);
    assert_eq!(t["pid"], Value::Null);
    assert_eq!(instance(&st, "crash/g/0").expect("instance")["status"], "failed");
    assert_eq!(job_status(&st, "crash"), "failed");

    // It stays down.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines(&s.path("starts")).len(), 3, "the task started again after Not Restarting\n{}", s.log());
    let t = s.status();
    let t = task(&t, "crash/g/0/t").expect("task");
    assert_eq!((t["state"].as_str(), restarts(t)), (Some("dead"), 2));
}

/// Mode "delay" never gives up, and the sliding window holds: at most
/// `attempts` restarts in any `interval`.
#[test]
fn delay_mode_waits_for_the_window_and_never_fails() {
    let s = Supd::new();
    s.write_job(
        "slow.hcl",
        r#"
job "slow" {
  group "g" {
    restart {
      attempts = 2
      interval = "3s"
      delay    = "100ms"
      mode     = "delay"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "date +%s.%N >> @DIR@/starts; exit 1"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let first: f64 = s.wait_lines("starts", 1)[0].parse().expect("a time stamp");
    // Watch ~7 s of the task's life (three windows begin in it).
    let until = first + 7.0;
    while now_secs() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let starts: Vec<f64> = lines(&s.path("starts")).iter().map(|l| l.parse().expect("a time stamp")).collect();
    let seen: Vec<f64> = starts.iter().copied().filter(|t| *t <= until).map(|t| t - first).collect();
    let st = s.status();
    let t = task(&st, "slow/g/0/t").expect("task");
    let evs = events(t);
    // Restarts at ~0.1 s and ~0.2 s, then the window is full until ~3.1 s,
    // ~3.2 s, then ~6.1 s, ~6.2 s: 7 starts at most, at least the 4th.
    assert!((4..=7).contains(&seen.len()), "starts at {seen:?} (s after the first)\n{evs:?}");
    // The sliding window as supd planned it: each Restarting event at time
    // T says "Task restarting in D"; no 3 of those T + D within 3 s.
    let planned: Vec<f64> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "Restarting")
        .map(|e| {
            let message = e["message"].as_str().expect("message");
            let delay = message.rsplit_once("Task restarting in ").map(|(_, d)| d).expect("a delay");
            rfc3339_secs(e["time"].as_str().expect("time")) + go_duration_secs(delay)
        })
        .collect();
    assert!(planned.len() >= 3, "{evs:?}");
    for w in planned.windows(3) {
        assert!(w[2] - w[0] >= 2.99, "3 restarts planned within {:.3}s: {planned:?}\n{evs:?}", w[2] - w[0]);
    }
    // And as the task saw it, with slack for the time a start takes to
    // write its stamp on a loaded machine.
    let restarts_at = &starts[1..];
    for w in restarts_at.windows(3) {
        assert!(w[2] - w[0] >= 2.0, "3 restarts within {:.3}s: {restarts_at:?}\n{evs:?}", w[2] - w[0]);
    }
    assert!(
        evs.iter().any(|(k, m)| k == "Restarting" && m.contains("Exceeded allowed attempts, applying a delay")),
        "{evs:?}"
    );
    assert!(!evs.iter().any(|(k, _)| k == "Not Restarting"), "{evs:?}");
    assert_eq!(t["failed"], false);
    assert_ne!(t["state"], "dead");
    assert_ne!(instance(&st, "slow/g/0").expect("instance")["status"], "failed");
}

/// Reference §7 case 4: a batch task that exits 0 has done its work.
#[test]
fn batch_success_completes() {
    let s = Supd::new();
    s.write_job(
        "once.hcl",
        r#"
job "once" {
  type = "batch"
  group "g" {
    restart {
      attempts = 3
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started >> @DIR@/starts; exit 0"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_dead("once/g/0/t");
    assert_eq!(t["failed"], false, "{}", pretty(&t));
    assert_eq!(t["exit_code"], 0);
    assert_eq!(restarts(&t), 0);
    assert!(!kinds(&t).iter().any(|k| k == "Restarting" || k == "Not Restarting"), "{:?}", events(&t));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(lines(&s.path("starts")).len(), 1, "a completed batch task ran again\n{}", s.log());
    let st = s.status();
    assert_eq!(instance(&st, "once/g/0").expect("instance")["status"], "complete");
    assert_eq!(job_status(&st, "once"), "complete");
}

/// Reference §7 case 5: a service task that exits 0 is restarted, and
/// (Nomad compatibility) the restarts come out of its budget.
#[test]
fn service_success_is_restarted() {
    let s = Supd::new();
    s.write_job(
        "svc.hcl",
        r#"
job "svc" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started >> @DIR@/starts; exit 0"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let st = s.wait_status("the service task was restarted", |s| {
        task(s, "svc/g/0/t").is_some_and(|t| t["restarts"].as_u64() >= Some(1))
    });
    let t = task(&st, "svc/g/0/t").expect("task");
    assert!(events(t).iter().any(|(k, m)| k == "Restarting" && m.starts_with("Task restarting in")), "{:?}", events(t));
    s.wait_lines("starts", 2);
    // Exit 0 burns attempts like a failure: after 2 restarts it gives up.
    let t = s.wait_dead("svc/g/0/t");
    assert_eq!(t["failed"], true, "{}", pretty(&t));
    assert_eq!(restarts(&t), 2);
    let evs = events(&t);
    assert_eq!(evs.last().map(|e| e.0.as_str()), Some("Not Restarting"), "{evs:?}");
    assert!(evs.iter().any(|(k, m)| k == "Terminated" && m == "Exit Code: 0"), "{evs:?}");
    assert_eq!(lines(&s.path("starts")).len(), 3);
}

/// Reference §7 case 8: a start error is not retried and uses no attempt.
#[test]
fn missing_binary_is_unrecoverable() {
    let s = Supd::new();
    s.write_job(
        "nobin.hcl",
        r#"
job "nobin" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/no/such/bin"
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_dead("nobin/g/0/t");
    let evs = events(&t);
    let failure = event_at(&t, "Driver Failure", 0).unwrap_or_else(|| panic!("no Driver Failure: {evs:?}"));
    assert!(
        evs[failure].1.contains("/no/such/bin") && evs[failure].1.contains("could not be found"),
        "the message should say the binary could not be found: {evs:?}"
    );
    let gave_up = event_at(&t, "Not Restarting", failure).unwrap_or_else(|| panic!("no Not Restarting: {evs:?}"));
    assert_eq!(evs[gave_up].1, "Error was unrecoverable");
    assert!(!kinds(&t).iter().any(|k| k == "Restarting" || k == "Started"), "{evs:?}");
    assert_eq!(t["failed"], true);
    assert_eq!(restarts(&t), 0);
    let st = s.status();
    assert_eq!(instance(&st, "nobin/g/0").expect("instance")["status"], "failed");
}

/// Reference §7 case 11: an operator restart is immediate, counts in
/// `restarts`, and leaves the policy's budget untouched.
#[test]
fn user_restart_uses_no_attempt() {
    let s = Supd::new();
    s.write_job(
        "user.hcl",
        r#"
job "user" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/starts; while [ ! -e @DIR@/crash ]; do sleep 0.1; done; exit 1"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_running("user/g/0/t");
    let first = pid(&t);
    assert_eq!(s.wait_lines("starts", 1), vec![first.to_string()]);

    let out = s.supctl_ok(&["restart", "user/g/0/t"]);
    assert!(out.contains("restarting task t"), "{out}");
    let st = s.wait_status("the task runs again under a new pid", |s| {
        task(s, "user/g/0/t").is_some_and(|t| t["state"] == "running" && t["pid"].as_i64() != Some(first.into()))
    });
    let t = task(&st, "user/g/0/t").expect("task");
    let second = pid(t);
    assert_eq!(restarts(t), 1);
    assert!(kinds(t).iter().any(|k| k == "Restart Signaled"), "{:?}", events(t));
    assert_eq!(s.wait_lines("starts", 2), vec![first.to_string(), second.to_string()]);
    s.assert_gone(first, PATIENCE, "the first process");

    // Now a crash loop: the full 2 attempts remain, so 3 more runs end in
    // Not Restarting (2 would mean the operator's restart used an attempt).
    std::fs::write(s.path("crash"), "").expect("crash marker");
    let t = s.wait_dead("user/g/0/t");
    let evs = events(&t);
    assert_eq!(t["failed"], true, "{evs:?}");
    assert_eq!(
        evs.last().map(|e| e.1.as_str()),
        Some("Exceeded allowed attempts 2 in interval 1m0s and mode is \"fail\"")
    );
    assert_eq!(restarts(&t), 3, "1 by the operator, 2 by the policy: {evs:?}");
    assert_eq!(lines(&s.path("starts")).len(), 4, "{evs:?}");
}

/// `supctl restart` of a pending task answers as Nomad does ("Task not
/// running", taskrunner/lifecycle.go): a task waiting out its restart delay,
/// or for its prestart task, starts on its own and is not started early;
/// the running tasks of the same target are restarted.
#[test]
fn restart_of_a_pending_task_is_refused() {
    let s = Supd::new();
    s.write_job(
        "wait.hcl",
        r#"
job "wait" {
  group "crash" {
    restart {
      attempts = 2
      interval = "10m"
      delay    = "1m"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/crash.starts; exit 1"]
      }
    }
  }
  group "life" {
    task "setup" {
      driver = "raw_exec"
      lifecycle {
        hook    = "prestart"
        sidecar = false
      }
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
    task "main" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "touch @DIR@/main-ran; exec sleep 1000"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_event("wait/crash/0/t", "Restarting", |_| true);
    assert_eq!(t["state"], "pending", "waiting out its 1m delay: {}", pretty(&t));
    s.wait_running("wait/life/0/setup");

    for (target, name) in [("wait/crash/0/t", "t"), ("wait/crash", "t"), ("wait/life/0/main", "main")] {
        let out = s.supctl(&["restart", target]);
        assert_eq!(out.status.code(), Some(1), "{target}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{target}: no task to restart: task \"{name}\" is not running (pending)")),
            "{target}: {err}"
        );
    }
    // The whole job: the running prestart task restarts, the others wait.
    let out = s.supctl_ok(&["restart", "wait"]);
    assert!(out.contains("restarting task setup"), "{out}");
    assert!(
        out.contains("task \"main\" is not running (pending)") && out.contains("task \"t\" is not running"),
        "{out}"
    );
    s.wait_task("wait/life/0/setup", "restarted", |t| restarts(t) == 1 && t["state"] == "running");

    // Asserts that nothing happens: the delayed task and main stay pending.
    std::thread::sleep(Duration::from_millis(500));
    let st = s.status();
    let t = task(&st, "wait/crash/0/t").expect("t");
    assert_eq!((t["state"].as_str(), restarts(t)), (Some("pending"), 1), "{}", pretty(t));
    assert_eq!(lines(&s.path("crash.starts")).len(), 1, "started before its delay was over");
    assert_eq!(task(&st, "wait/life/0/main").expect("main")["state"], "pending");
    assert!(!s.path("main-ran").exists(), "main started before its prestart task was done");
}

// --- stopping --------------------------------------------------------------------------

/// A task that ignores its kill signal is SIGKILLed after kill_timeout.
#[test]
fn stop_escalates_to_sigkill_after_kill_timeout() {
    let s = Supd::new();
    s.write_job(
        "stubborn.hcl",
        r#"
job "stubborn" {
  group "g" {
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap '' INT TERM; echo $$ > @DIR@/pid; while true; do sleep 0.1; done"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_running("stubborn/g/0/t");
    let p = pid(&t);
    // The pid is written after the trap is set: from here on it holds.
    assert_eq!(s.wait_lines("pid", 1), vec![p.to_string()]);
    let begun = Instant::now();
    let out = s.supctl_ok(&["job", "stop", "stubborn"]);
    assert!(out.contains("stopping"), "{out}");
    s.assert_gone(p, Duration::from_secs(10), "the stopped task");
    let took = begun.elapsed();
    assert!(took >= Duration::from_millis(800), "gone after {took:?}: the 1s kill_timeout was not waited out");
    assert!(took <= Duration::from_secs(8), "gone only after {took:?}");
    let t = s.wait_dead("stubborn/g/0/t");
    let evs = events(&t);
    let killing = event_at(&t, "Killing", 0).unwrap_or_else(|| panic!("no Killing event: {evs:?}"));
    assert!(event_at(&t, "Killed", killing).is_some(), "no Killed after Killing: {evs:?}");
    assert_eq!(evs.last().map(|e| e.0.as_str()), Some("Killed"), "{evs:?}");
    assert_eq!(t["failed"], false);
    assert_eq!(t["signal"], "SIGKILL", "{}", pretty(&t));
    assert!(s.leftovers().is_empty(), "left behind: {:?}", s.leftovers());
}

/// supd is a subreaper: a daemon a task double-forked into its own session
/// goes when the task's job is stopped. The subshell form leaves a zombie
/// intermediate that supd reaps too.
#[test]
fn stop_kills_double_forked_daemons() {
    daemon_goes_with_its_task("(setsid sleep 1000 & echo $! > @DIR@/daemon.pid); exec sleep 1000");
}

/// As above, with the launcher reaped by the task itself (as daemon(3) and
/// `--daemonize` flags do): nothing but the task's own end tells supd that
/// the daemon is now an orphan of a dead task.
#[test]
fn stop_kills_daemons_whose_launcher_was_reaped() {
    daemon_goes_with_its_task("setsid -f sh -c 'echo $$ > @DIR@/daemon.pid; exec sleep 1000'; exec sleep 1000");
}

fn daemon_goes_with_its_task(script: &str) {
    let s = Supd::new();
    s.write_job(
        "forker.hcl",
        &r#"
job "forker" {
  group "g" {
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "SCRIPT"]
      }
    }
  }
}
"#
        .replace("SCRIPT", script),
    );
    let s = s.start();
    let t = s.wait_running("forker/g/0/t");
    let main = pid(&t);
    let daemon: i32 = s.wait_lines("daemon.pid", 1)[0].parse().expect("daemon pid");
    let st = s.status();
    let alloc_id = instance(&st, "forker/g/0").expect("instance")["id"].as_str().expect("instance id").to_string();
    let marker = format!("NOMAD_ALLOC_ID={alloc_id}");
    assert!(wait_until(PATIENCE, || procs_with_env(&marker).contains(&daemon)), "the daemon {daemon} is not running");
    assert!(alive(main));

    s.supctl_ok(&["job", "stop", "forker"]);
    s.wait_dead("forker/g/0/t");
    s.assert_gone(main, Duration::from_secs(10), "the task's process");
    let gone = wait_until(Duration::from_secs(10), || !alive(daemon));
    let left = procs_with_env(&marker);
    assert!(
        gone && left.is_empty(),
        "after `job stop` the daemon {daemon} is {}; processes of instance {alloc_id} left: {left:?}\n{}",
        if gone { "gone" } else { "still alive" },
        s.log()
    );
}

// --- reload and supctl ---------------------------------------------------------------

const RELOAD_JOB: &str = r#"job "rl" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $VERSION_TAG $$ >> @DIR@/versions; exec sleep 1000"]
      }
      env {
        VERSION_TAG = "one"
      }
    }
  }
}
"#;

#[test]
fn reload_applies_changes_and_keeps_running_on_invalid_files() {
    let s = Supd::new();
    let file = s.write_job("rl.hcl", RELOAD_JOB);
    let file = file.to_str().expect("UTF-8 path").to_string();
    let s = s.start();
    let t = s.wait_running("rl/g/0/t");
    let p1 = pid(&t);
    assert_eq!(s.wait_lines("versions", 1), vec![format!("one {p1}")]);

    // A dry run shows the update and changes nothing.
    s.write_job("rl.hcl", &RELOAD_JOB.replace("\"one\"", "\"two\""));
    let out = s.supctl_ok(&["reload", "--dry-run"]);
    assert!(out.contains("update job \"rl\""), "{out}");
    // Asserts that nothing happens after a dry run.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines(&s.path("versions")).len(), 1, "a dry run changed something\n{}", s.log());
    assert_eq!(pid(task(&s.status(), "rl/g/0/t").expect("task")), p1);

    // The real one replaces the instance with the new version.
    let out = s.supctl_ok(&["reload"]);
    assert!(out.contains("update job \"rl\""), "{out}");
    let v = s.wait_lines("versions", 2);
    assert!(v[1].starts_with("two "), "{v:?}");
    let t = s.wait_running("rl/g/0/t");
    let p2 = pid(&t);
    assert_eq!(v[1], format!("two {p2}"));
    s.assert_gone(p1, PATIENCE, "the old version");

    // An invalid file is reported with its position; the job keeps running.
    s.write_job("rl.hcl", &RELOAD_JOB.replace("VERSION_TAG = \"one\"", "VERSION_TAG = \"three"));
    let out = s.supctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "a reload that leaves a file out fails: {}", describe(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let re = regex::Regex::new(&format!(r"{}:(\d+):(\d+): error", regex::escape(&file))).expect("regex");
    let pos = re.captures(&text).unwrap_or_else(|| panic!("no {file}:LINE:COL problem in: {}", describe(&out)));
    assert_eq!(&pos[1], "10", "the problem is on line 10: {text}");
    // Asserts that nothing happens: the running version is kept.
    std::thread::sleep(Duration::from_millis(500));
    let st = s.status();
    let t = task(&st, "rl/g/0/t").expect("task");
    assert_eq!((t["state"].as_str(), pid(t)), (Some("running"), p2), "the old version should keep running");
    assert_eq!(lines(&s.path("versions")).len(), 2, "{}", s.log());
    assert!(alive(p2));
}

#[test]
fn supctl_exit_codes() {
    let s = Supd::new();

    // 3: nobody listens at the socket.
    let out = s.supctl(&["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no supd at"), "{}", describe(&out));

    let s = s.start();
    // 1: refused, with the reason on stderr.
    let out = s.supctl(&["job", "stop", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no job \"nope\""), "{}", describe(&out));

    // 2: usage errors.
    for args in [&["frobnicate"][..], &["job", "stop"], &["status", "a", "b"], &["--no-such-flag", "status"]] {
        let out = s.supctl(args);
        assert_eq!(out.status.code(), Some(2), "supctl {args:?}: {}", describe(&out));
    }

    // 1: an invalid job, with every problem at its line:col.
    let bad = s.write_file(
        "bad.hcl",
        r#"job "bad" {
  group "g" {
    task "t" {
      drivr = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"#,
    );
    let bad = bad.to_str().expect("UTF-8 path");
    let out = s.supctl(&["job", "run", bad]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{bad}:4:7: error")), "expected the unknown key at 4:7: {}", describe(&out));
    assert!(job_status(&s.status(), "bad").is_empty(), "an invalid job was accepted");

    // 0, then 0 and "unchanged" for the same job again.
    let good = s.write_file(
        "good.hcl",
        r#"job "good" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
}
"#,
    );
    let good = good.to_str().expect("UTF-8 path");
    let first = s.supctl_ok(&["job", "run", good]);
    assert!(first.contains("submitted"), "{first}");
    let t = s.wait_running("good/g/0/t");
    let again = s.supctl_ok(&["job", "run", good]);
    assert!(again.contains("unchanged"), "{again}");
    // Asserts that nothing happens: no restart of an unchanged job.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pid(task(&s.status(), "good/g/0/t").expect("task")), pid(&t), "an unchanged job was restarted");

    // And a stop of a known job succeeds.
    let out = s.supctl_ok(&["job", "stop", "good"]);
    assert!(out.contains("stopping"), "{out}");
}

// --- the task's environment ------------------------------------------------------

#[test]
fn tasks_get_nomads_runtime_environment() {
    let s = Supd::new();
    s.write_job(
        "envjob.hcl",
        r#"
job "envjob" {
  group "web" {
    count = 2
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "env > @DIR@/env.tmp.$$ && mv @DIR@/env.tmp.$$ @DIR@/env.web.${NOMAD_ALLOC_INDEX}; exec sleep 1000"]
      }
      env {
        MY_INDEX = "idx-${NOMAD_ALLOC_INDEX}"
      }
      meta {
        owner = "ops"
      }
    }
  }
  group "api" {
    network {
      port "http" {
        static = 18733
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "env > @DIR@/env.tmp.$$ && mv @DIR@/env.tmp.$$ @DIR@/env.api.0; exec sleep 1000"]
      }
    }
  }
}
"#,
    );
    let notify = s.path("notify.sock");
    let s = s.start_with_env(&[("NOTIFY_SOCKET", notify.to_str().expect("UTF-8 path"))]);
    let read_env = |name: &str| -> std::collections::BTreeMap<String, String> {
        let path = s.path(name);
        assert!(wait_until(PATIENCE, || path.exists()), "{name} was not written\n{}", s.log());
        lines(&path).iter().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let st = s.wait_status("every instance runs", |s| {
        ["envjob/web/0/t", "envjob/web/1/t", "envjob/api/0/t"]
            .iter()
            .all(|t| task(s, t).is_some_and(|t| t["state"] == "running"))
    });
    let web: Vec<&Value> = st["jobs"][0]["groups"][0]["instances"].as_array().expect("instances").iter().collect();
    assert_eq!(web.iter().map(|i| i["index"].as_u64()).collect::<Vec<_>>(), vec![Some(0), Some(1)], "count = 2");

    for index in 0..2 {
        let env = read_env(&format!("env.web.{index}"));
        let get = |k: &str| env.get(k).map(String::as_str);
        let inst = instance(&st, &format!("envjob/web/{index}")).expect("instance");
        assert_eq!(get("NOMAD_ALLOC_INDEX"), Some(index.to_string().as_str()), "{env:?}");
        assert_eq!(get("NOMAD_ALLOC_NAME"), Some(format!("envjob.web[{index}]").as_str()));
        assert_eq!(inst["name"], format!("envjob.web[{index}]"));
        assert_eq!(get("NOMAD_ALLOC_ID"), inst["id"].as_str());
        assert_eq!(get("NOMAD_JOB_NAME"), Some("envjob"));
        assert_eq!(get("NOMAD_GROUP_NAME"), Some("web"));
        assert_eq!(get("NOMAD_TASK_NAME"), Some("t"));
        assert_eq!(get("NOMAD_META_owner"), Some("ops"), "{env:?}");
        assert_eq!(get("MY_INDEX"), Some(format!("idx-{index}").as_str()), "the task's env is interpolated");
        assert_eq!(get("NOTIFY_SOCKET"), None, "supd's NOTIFY_SOCKET must not reach tasks");
        assert_eq!(get(TAG), Some(s.dir()), "the rest of supd's environment is inherited");
    }
    let env = read_env("env.api.0");
    assert_eq!(env.get("NOMAD_PORT_http").map(String::as_str), Some("18733"), "{env:?}");
    assert_eq!(env.get("NOMAD_GROUP_NAME").map(String::as_str), Some("api"));
    assert_eq!(env.get("NOMAD_ALLOC_NAME").map(String::as_str), Some("envjob.api[0]"));
    assert_eq!(env.get("NOTIFY_SOCKET"), None);
}

// --- the tasks of one instance ------------------------------------------------------

/// Reference §7 case 17.
#[test]
fn sibling_failure_takes_the_group_down() {
    let s = Supd::new();
    s.write_job(
        "sib.hcl",
        r#"
job "sib" {
  group "g" {
    task "a" {
      driver = "raw_exec"
      restart {
        attempts = 0
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/a.starts; sleep 0.3; exit 1"]
      }
    }
    task "b" {
      driver = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/b.starts; exec sleep 1000"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let st = s.wait_status("both tasks are dead", |s| {
        ["sib/g/0/a", "sib/g/0/b"].iter().all(|t| task(s, t).is_some_and(|t| t["state"] == "dead"))
    });
    let a = task(&st, "sib/g/0/a").expect("a");
    let b = task(&st, "sib/g/0/b").expect("b");
    assert_eq!(a["failed"], true, "{}", pretty(a));
    assert_eq!(events(a).last().map(|e| e.1.as_str()), Some("Policy allows no restarts"), "{:?}", events(a));
    let bevs = events(b);
    let sibling = event_at(b, "Sibling Task Failed", 0).unwrap_or_else(|| panic!("b: {bevs:?}"));
    assert_eq!(bevs[sibling].1, "Task's sibling \"a\" failed");
    let killing = event_at(b, "Killing", sibling).unwrap_or_else(|| panic!("b not killed: {bevs:?}"));
    assert!(event_at(b, "Killed", killing).is_some(), "{bevs:?}");
    assert_eq!(b["failed"], false, "a killed sibling is not failed");
    assert_eq!(instance(&st, "sib/g/0").expect("instance")["status"], "failed");
    assert_eq!(lines(&s.path("a.starts")).len(), 1, "a started more than once");
    assert_eq!(lines(&s.path("b.starts")).len(), 1, "b started more than once: {:?}", lines(&s.path("b.starts")));
    s.assert_instance_gone(&st, "sib/g/0");
}

/// Reference §7 case 18.
#[test]
fn leader_death_ends_the_group() {
    let s = Supd::new();
    s.write_job(
        "lead.hcl",
        r#"
job "lead" {
  type = "batch"
  group "g" {
    task "leader" {
      driver = "raw_exec"
      leader = true
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/leader.starts; sleep 0.5; exit 0"]
      }
    }
    task "other" {
      driver = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/other.starts; exec sleep 1000"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let st = s.wait_status("both tasks are dead", |s| {
        ["lead/g/0/leader", "lead/g/0/other"].iter().all(|t| task(s, t).is_some_and(|t| t["state"] == "dead"))
    });
    let leader = task(&st, "lead/g/0/leader").expect("leader");
    let other = task(&st, "lead/g/0/other").expect("other");
    assert_eq!(
        (leader["failed"].as_bool(), leader["exit_code"].as_i64()),
        (Some(false), Some(0)),
        "{}",
        pretty(leader)
    );
    let evs = events(other);
    let dead = event_at(other, "Leader Task Dead", 0).unwrap_or_else(|| panic!("other: {evs:?}"));
    let killing = event_at(other, "Killing", dead).unwrap_or_else(|| panic!("other not killed: {evs:?}"));
    assert!(event_at(other, "Killed", killing).is_some(), "{evs:?}");
    assert_eq!(other["failed"], false);
    assert_eq!(instance(&st, "lead/g/0").expect("instance")["status"], "complete");
    assert_eq!(lines(&s.path("leader.starts")).len(), 1, "the leader started more than once");
    let others = lines(&s.path("other.starts"));
    assert_eq!(others.len(), 1, "other started more than once: {others:?}");
    s.assert_instance_gone(&st, "lead/g/0");
}

/// Each task of a group runs as one process; stopping the job leaves none,
/// and supd then exits on the first SIGTERM.
#[test]
fn every_task_of_a_group_starts_once() {
    let s = Supd::new();
    s.write_job(
        "two.hcl",
        r#"
job "two" {
  group "g" {
    task "a" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/starts.${NOMAD_TASK_NAME}; exec sleep 1000"]
      }
    }
    task "b" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/starts.${NOMAD_TASK_NAME}; exec sleep 1000"]
      }
    }
  }
}
"#,
    );
    let mut s = s.start();
    let st = s.wait_status("both tasks run", |s| {
        ["two/g/0/a", "two/g/0/b"].iter().all(|t| task(s, t).is_some_and(|t| t["state"] == "running"))
    });
    // Asserts that nothing happens: neither task starts a second time.
    std::thread::sleep(Duration::from_millis(500));
    for name in ["a", "b"] {
        let t = task(&st, &format!("two/g/0/{name}")).expect("task");
        assert_eq!(lines(&s.path(&format!("starts.{name}"))), vec![pid(t).to_string()], "task {name}'s starts");
    }
    s.supctl_ok(&["job", "stop", "two"]);
    s.assert_instance_gone(&st, "two/g/0");
    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).expect("signal supd");
    assert!(s.wait_exit(PATIENCE).is_some(), "supd did not exit on SIGTERM\n{}", s.log());
}

/// Reference §7 case 19: a prestart task that is not a sidecar runs to
/// completion before the main task starts, and is not restarted.
#[test]
fn prestart_task_runs_first_and_once() {
    let s = Supd::new();
    s.write_job(
        "life.hcl",
        r#"
job "life" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "init" {
      driver = "raw_exec"
      lifecycle {
        hook    = "prestart"
        sidecar = false
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started >> @DIR@/init.starts; sleep 0.5; touch @DIR@/marker; exit 0"]
      }
    }
    task "main" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "if [ -e @DIR@/marker ]; then echo yes; else echo no; fi >> @DIR@/saw; exec sleep 1000"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    s.wait_running("life/g/0/main");
    assert_eq!(s.wait_lines("saw", 1), vec!["yes"], "main started before the prestart task had finished");
    // Asserts that nothing happens: with a 100ms restart delay, a second
    // run of the prestart task would show within a second.
    std::thread::sleep(Duration::from_millis(1000));
    let st = s.status();
    let init = task(&st, "life/g/0/init").expect("init");
    assert_eq!((init["state"].as_str(), init["failed"].as_bool()), (Some("dead"), Some(false)), "{}", pretty(init));
    assert_eq!(restarts(init), 0);
    assert!(!kinds(init).iter().any(|k| k == "Restarting"), "{:?}", events(init));
    assert_eq!(lines(&s.path("init.starts")).len(), 1, "the prestart task ran again");
    assert_eq!(lines(&s.path("saw")), vec!["yes"], "main ran again");
    assert_eq!(task(&st, "life/g/0/main").expect("main")["state"], "running");
    assert_eq!(instance(&st, "life/g/0").expect("instance")["status"], "running");
}

// --- supd itself -----------------------------------------------------------------

#[test]
fn sigterm_stops_every_task_then_supd_exits_0() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"
job "a" {
  group "g" {
    task "t" {
      driver       = "raw_exec"
      kill_signal  = "SIGTERM"
      kill_timeout = "3s"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo TERM > @DIR@/a.got; exit 0' TERM; echo $$ > @DIR@/a.pid; while true; do sleep 0.1; done"]
      }
    }
  }
}
"#,
    );
    s.write_job(
        "b.hcl",
        r#"
job "b" {
  group "g" {
    count = 2
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "3s"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo INT > @DIR@/b.got.${NOMAD_ALLOC_INDEX}; exit 0' INT; echo $$ >> @DIR@/b.pids; while true; do sleep 0.1; done"]
      }
    }
  }
}
"#,
    );
    s.write_job(
        "d.hcl",
        r#"
job "d" {
  group "g" {
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "3s"
      config {
        command = "/bin/sh"
        args    = ["-c", "setsid -f sh -c 'echo $$ > @DIR@/d.pid; exec sleep 1000'; exec sleep 1000"]
      }
    }
  }
}
"#,
    );
    let mut s = s.start();
    let daemon: i32 = s.wait_lines("d.pid", 1)[0].parse().expect("pid");
    let a: i32 = s.wait_lines("a.pid", 1)[0].parse().expect("pid");
    let b: Vec<i32> = s.wait_lines("b.pids", 2).iter().map(|l| l.parse().expect("pid")).collect();
    let before = s.leftovers();
    assert!([a, b[0], b[1], daemon].iter().all(|p| before.contains(p)), "the tasks run: {before:?}");

    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).expect("signal supd");
    let status = s.wait_exit(PATIENCE).unwrap_or_else(|| panic!("supd did not exit after SIGTERM\n{}", s.log()));
    assert_eq!(status.code(), Some(0), "supd's exit status\n{}", s.log());
    assert_eq!(lines(&s.path("a.got")), vec!["TERM"], "a did not get its kill_signal\n{}", s.log());
    assert_eq!(lines(&s.path("b.got.0")), vec!["INT"], "b[0] did not get SIGINT\n{}", s.log());
    assert_eq!(lines(&s.path("b.got.1")), vec!["INT"], "b[1] did not get SIGINT\n{}", s.log());
    for p in [a, b[0], b[1], daemon] {
        s.assert_gone(p, Duration::from_secs(2), "a task process after supd exited");
    }
    assert!(s.leftovers().is_empty(), "processes left behind: {:?}", s.leftovers());
    assert!(!s.socket().exists(), "supd left its socket behind");
}

/// Voluntary context switches of a process, summed over its threads.
fn voluntary_switches(pid: i32) -> u64 {
    let mut sum = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).expect("supd's threads").flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        sum += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    sum
}

/// Once its tasks run and nothing happens, supd sleeps: the state of the
/// bring-up is saved at the loop's first idle moment (not a few seconds
/// later), and the control socket's deadline timer is unset once no
/// client is connected.
#[test]
fn an_idle_supd_does_not_wake() {
    let s = Supd::new();
    let names = ["a", "b", "c"];
    for n in names {
        s.write_job(&format!("{n}.hcl"), &sleep_job(n));
    }
    let s = s.start();
    s.wait_status("every task runs", |st| {
        names.iter().all(|n| task(st, &format!("{n}/g/0/t")).is_some_and(|t| t["state"] == "running"))
    });
    let saved = wait_until(Duration::from_secs(3), || s.path("state/state.json").exists());
    assert!(saved, "the state of the bring-up was not saved once supd was idle\n{}", s.log());
    // What supd did before (the start, the status calls) is over well
    // before the window; before this change a save and the socket's
    // timer came due within it.
    std::thread::sleep(Duration::from_secs(2));
    let before = voluntary_switches(s.pid());
    std::thread::sleep(Duration::from_secs(3));
    let woke = voluntary_switches(s.pid()) - before;
    assert!(woke < 3, "supd woke {woke} times in 3 s with nothing to do\n{}", s.log());
    let st = s.status();
    assert!(names.iter().all(|n| task(&st, &format!("{n}/g/0/t")).is_some_and(|t| t["state"] == "running")));
}

// --- the control socket ---------------------------------------------------------

/// Clients that send garbage, too little, or hang up mid-request lose only
/// their own connection; the loop and the tasks carry on.
#[test]
fn bad_clients_do_not_disturb_supd() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let s = Supd::new();
    s.write_job("a.hcl", &sleep_job("a"));
    let s = s.start();
    let before = pid(&s.wait_running("a/g/0/t"));

    // Garbage gets an error line, then the connection closes.
    let mut c = UnixStream::connect(s.socket()).expect("connect");
    c.write_all(b"this is not json\n").expect("write");
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("read");
    assert!(answer.contains("\"ok\":false") && answer.contains("malformed request"), "{answer}");

    // An unknown command and a wrong version are refused with the reason.
    let mut c = UnixStream::connect(s.socket()).expect("connect");
    c.write_all(b"{\"version\":1,\"cmd\":\"explode\"}\n").expect("write");
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("read");
    assert!(answer.contains("unknown variant"), "{answer}");
    let mut c = UnixStream::connect(s.socket()).expect("connect");
    c.write_all(b"{\"version\":99,\"cmd\":\"status\"}\n").expect("write");
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("read");
    assert!(answer.contains("protocol version 99"), "{answer}");

    // Half a request, then a hang-up; and a client that connects and says nothing.
    let mut half = UnixStream::connect(s.socket()).expect("connect");
    half.write_all(b"{\"version\":1,\"cmd\":\"sta").expect("write");
    drop(half);
    let _silent = UnixStream::connect(s.socket()).expect("connect");

    // supd still answers, and the task was not touched.
    let st = s.status();
    assert_eq!(pid(task(&st, "a/g/0/t").expect("task")), before, "{}", pretty(&st));
    assert!(alive(before));
}

/// Anyone who can reach the socket may read; only root or supd's own user may
/// change anything.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn other_users_may_read_but_not_change() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        panic!("this test switches to the user nobody and needs root (scripts/test runs as root in CI)");
    }
    let s = Supd::new();
    s.write_job("a.hcl", &sleep_job("a"));
    let s = s.start();
    s.wait_running("a/g/0/t");
    // The socket is 0600; open it (and its directory) up so that nobody can connect.
    let mode = std::fs::metadata(s.socket()).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the control socket is private to supd's user");
    std::fs::set_permissions(s.socket(), std::fs::Permissions::from_mode(0o666)).expect("chmod");
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", SUPCTL, "--socket"])
            .arg(s.socket())
            .args(args)
            .env_remove("SUPD_SOCKET")
            .output()
            .expect("run setpriv")
    };
    let read = as_nobody(&["status"]);
    assert!(read.status.success(), "{}", describe(&read));
    let change = as_nobody(&["job", "stop", "a"]);
    assert_eq!(change.status.code(), Some(1), "{}", describe(&change));
    assert!(String::from_utf8_lossy(&change.stderr).contains("permission denied"), "{}", describe(&change));
    assert_eq!(task(&s.status(), "a/g/0/t").expect("task")["state"], "running");
}

/// `supctl events` lists every event; `--follow` streams new ones as they happen.
#[test]
fn events_are_listed_and_followed() {
    use std::io::{BufRead, BufReader};
    let s = Supd::new();
    s.write_job("a.hcl", &sleep_job("a"));
    let s = s.start();
    s.wait_running("a/g/0/t");
    let listed = s.supctl_ok(&["events"]);
    assert!(listed.contains("a.g[0]/t  Received") && listed.contains("a.g[0]/t  Started"), "{listed}");

    let mut follower = Command::new(SUPCTL)
        .arg("--socket")
        .arg(s.socket())
        .args(["--json", "events", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("supctl events --follow");
    let mut out = BufReader::new(follower.stdout.take().expect("stdout"));
    // The history comes first.
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert!(line.contains("\"type\":\"Received\""), "{line}");
    for kind in ["Task Setup", "Started"] {
        line.clear();
        out.read_line(&mut line).expect("read");
        assert!(line.contains(&format!("\"type\":\"{kind}\"")), "{line}");
    }
    s.supctl_ok(&["restart", "a/g/0/t"]);
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let mut l = String::new();
        if out.read_line(&mut l).expect("read") == 0 {
            break;
        }
        let v: Value = serde_json::from_str(&l).expect("one JSON event per line");
        seen.push(v["type"].as_str().unwrap_or("").to_string());
        if seen.last().map(String::as_str) == Some("Started") {
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    // Nomad's restart path kills without a `Killing` event (tests/events.rs).
    assert_eq!(seen, ["Restart Signaled", "Terminated", "Restarting", "Started"], "{}", s.log());
}

// --- task output -------------------------------------------------------------------

/// Output lands in `<log_dir>/<job>/<group>[<index>]/<task>.stdout.N`, the
/// last words before a crash are on disk when `Terminated` is recorded, and
/// `supctl logs` shows the last lines of stdout or stderr.
#[test]
fn output_is_captured_per_task_and_shown_by_supctl_logs() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; printf 'last words'; exit 2"]
      }
    }
  }
}"#,
    );
    let s = s.start();
    s.wait_dead("a/g/0/t");
    let dir = s.path("logs").join("a").join("g[0]");
    assert_eq!(
        std::fs::read_to_string(dir.join("t.stdout.0")).expect("stdout file"),
        "line 1\nline 2\nline 3\nline 4\nline 5\nlast words"
    );
    assert_eq!(std::fs::read_to_string(dir.join("t.stderr.0")).expect("stderr file"), "oops\n");
    assert_eq!(s.supctl_ok(&["logs", "a/g/0/t", "-n", "2"]), "line 5\nlast words");
    assert_eq!(s.supctl_ok(&["logs", "a", "--stderr"]), "oops\n");
    let unknown = s.supctl(&["logs", "a/g/0/nope"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", describe(&unknown));
}

/// A task that writes much more than its `logs` block allows keeps disk use
/// within max_files × max_file_size, in files of whole lines.
#[test]
fn output_rotates_within_the_logs_limits() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/python3"
        args    = ["-c", "import sys\nline = 'x' * 99 + '\\n'\nfor i in range(60000): sys.stdout.write(line)"]
      }
      logs {
        max_files     = 3
        max_file_size = 1
      }
    }
  }
}"#,
    );
    let s = s.start();
    s.wait_dead("a/g/0/t");
    let dir = s.path("logs").join("a").join("g[0]");
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .expect("log dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("t.stdout."))
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".t"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().expect("meta").len()))
        .collect();
    files.sort();
    // 6 MB written, 1 MB per file, 3 files kept: the newest three of 0..=5.
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["t.stdout.3", "t.stdout.4", "t.stdout.5"], "{files:?}");
    let total: u64 = files.iter().map(|(_, n)| n).sum();
    assert!(total <= 3 << 20, "{total} bytes kept");
    for (name, size) in &files[..2] {
        assert!(*size <= 1 << 20 && *size > (1 << 20) - 100, "{name}: {size}");
        let text = std::fs::read_to_string(dir.join(name)).expect("read");
        assert!(text.ends_with('\n') && text.lines().all(|l| l.len() == 99), "{name} holds whole lines");
    }
}

/// `supctl logs --follow` keeps showing a task's output across its restarts.
#[test]
fn logs_follow_across_restarts() {
    use std::io::{BufRead, BufReader};
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    restart {
      attempts = 10
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo run $$; sleep 0.3; exit 1"]
      }
    }
  }
}"#,
    );
    let s = s.start();
    s.wait_running("a/g/0/t");
    let mut follower = Command::new(SUPCTL)
        .arg("--socket")
        .arg(s.socket())
        .args(["logs", "-f", "a", "-n", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("supctl logs -f");
    let mut out = BufReader::new(follower.stdout.take().expect("stdout"));
    let mut pids = Vec::new();
    while pids.len() < 3 {
        let mut l = String::new();
        if out.read_line(&mut l).expect("read") == 0 {
            break;
        }
        if let Some(p) = l.trim().strip_prefix("run ") {
            pids.push(p.to_string());
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three different runs followed: {pids:?}\n{}", s.log());
}

// --- systemd -------------------------------------------------------------------------

/// Under systemd (`Type=notify`), supd says READY=1 once the job directory
/// is loaded and its tasks started (their output pipes stored in the
/// service's descriptor store before), keeps STATUS= current, RELOADING=1 …
/// READY=1 around a reload, and STOPPING=1 on shutdown; its tasks never see
/// NOTIFY_SOCKET.
#[test]
fn systemd_notifications() {
    use std::os::unix::net::UnixDatagram;
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    count = 2
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $${NOTIFY_SOCKET:-unset} > @DIR@/seen.$NOMAD_ALLOC_INDEX; exec sleep 1000"]
      }
    }
  }
}"#,
    );
    let path = s.path("notify.sock");
    let listener = UnixDatagram::bind(&path).expect("bind the notify socket");
    listener.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let notify = path.to_str().expect("UTF-8 path").to_string();
    let mut s = s.start_with_env(&[("NOTIFY_SOCKET", &notify)]);
    let stored = std::cell::Cell::new(0);
    // The next notification that is not about the descriptor store (those
    // are counted).
    let recv = || loop {
        let mut buf = [0u8; 1024];
        let n = listener.recv(&mut buf).expect("a notification from supd");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("FDSTORE=1\n") {
            stored.set(stored.get() + 1);
        } else if !text.starts_with("FDSTOREREMOVE=1\n") {
            return text;
        }
    };
    // Both tasks are started before READY=1, their pipes stored (four
    // descriptors each).
    assert_eq!(recv(), "READY=1\nSTATUS=2 running, 0 pending, 0 failed");
    assert_eq!(stored.get(), 8);
    s.supctl_ok(&["reload"]);
    assert_eq!(recv(), "RELOADING=1");
    assert!(recv().starts_with("READY=1\n"));
    // SIGHUP reloads the same way, as systemd's ExecReload sends it.
    kill(Pid::from_raw(s.pid()), Signal::SIGHUP).expect("SIGHUP");
    assert_eq!(recv(), "RELOADING=1");
    assert!(recv().starts_with("READY=1\n"));
    for i in 0..2 {
        assert_eq!(s.wait_lines(&format!("seen.{i}"), 1), ["unset"], "a task saw NOTIFY_SOCKET");
    }
    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(recv(), "STOPPING=1");
    assert!(s.wait_exit(PATIENCE).is_some_and(|st| st.success()), "{}", s.log());
}

/// NOTIFY_SOCKET may name an abstract socket (`@name`), as systemd does.
#[test]
fn systemd_notifications_on_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let s = Supd::new();
    let name = format!("supd-test-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    let listener = UnixDatagram::bind_addr(&addr).expect("bind the abstract socket");
    listener.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let notify = format!("@{name}");
    let s = s.start_with_env(&[("NOTIFY_SOCKET", &notify)]);
    let mut buf = [0u8; 1024];
    let n = listener.recv(&mut buf).expect("a notification from supd");
    assert_eq!(&buf[..n], b"READY=1\nSTATUS=0 running, 0 pending, 0 failed", "{}", s.log());
}

/// With `WATCHDOG_USEC`, supd pings `WATCHDOG=1` from its loop every half of it.
#[test]
fn watchdog_pings_at_half_the_interval() {
    use std::os::unix::net::UnixDatagram;
    let s = Supd::new();
    let path = s.path("notify.sock");
    let listener = UnixDatagram::bind(&path).expect("bind the notify socket");
    listener.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let notify = path.to_str().expect("UTF-8 path").to_string();
    // 400 ms: a ping every 200 ms.
    let s = s.start_with_env(&[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "400000")]);
    let mut pings = Vec::new();
    let mut buf = [0u8; 512];
    while pings.len() < 8 {
        let n = listener.recv(&mut buf).expect("notifications");
        if &buf[..n] == b"WATCHDOG=1" {
            pings.push(Instant::now());
        }
    }
    let gaps: Vec<f64> = pings.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!((0.15..0.35).contains(&mean), "mean gap {mean:.3}s, gaps {gaps:?}\n{}", s.log());
}

/// `shutdown_delay` holds the kill signal back when a task is stopped for
/// good, so that its clients can drain; a restart does not wait. The events
/// come in Nomad's order: the alloc runner's `Killing` (alloc_runner.go,
/// killTasks) before the task runner's `Waiting for shutdown delay`
/// (task_runner.go, handleKill: fmt.Sprintf("Waiting for shutdown_delay of
/// %s before killing the task.", delay)).
#[test]
fn shutdown_delay_comes_before_the_kill_signal() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    task "t" {
      driver         = "raw_exec"
      shutdown_delay = "1s"
      kill_signal    = "SIGTERM"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
}"#,
    );
    let s = s.start();
    s.wait_running("a/g/0/t");
    s.supctl_ok(&["restart", "a/g/0/t"]);
    let t = s.wait_status("restarted", |st| {
        task(st, "a/g/0/t").is_some_and(|t| t["restarts"] == 1 && t["state"] == "running")
    });
    assert!(!kinds(task(&t, "a/g/0/t").unwrap()).contains(&"Waiting for shutdown delay".to_string()));
    let before = event_mark(task(&t, "a/g/0/t").unwrap());
    s.supctl_ok(&["job", "stop", "a"]);
    let t = s.wait_dead("a/g/0/t");
    let ev = events_since(&t, &before);
    let stop: Vec<(&str, &str)> = ev.iter().map(|(k, m)| (k.as_str(), m.as_str())).collect();
    assert_eq!(
        stop,
        [
            ("Killing", "Sent interrupt. Waiting 5s before force killing"),
            ("Waiting for shutdown delay", "Waiting for shutdown_delay of 1s before killing the task."),
            ("Terminated", "Exit Code: 143, Signal: 15"),
            ("Killed", "Task successfully killed"),
        ]
    );
    let at = |kind: &str| {
        let e = t["events"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {ev:?}"));
        rfc3339_secs(e["time"].as_str().unwrap())
    };
    // SIGTERM ends the sleep at once: it ends when the delay is over.
    let waited = at("Terminated") - at("Waiting for shutdown delay");
    assert!((0.8..5.0).contains(&waited), "waited {waited}s: {ev:?}");
}

/// A group's `shutdown_delay` is waited before its tasks' own, when the
/// instance is stopped for good (Nomad's group service hook waits it once
/// the group's services are deregistered, then each task runner its own):
/// one event names the two together, and the kill signal comes after both.
#[test]
fn a_groups_shutdown_delay_comes_before_its_tasks_own() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        &sleep_job_with("a", "shutdown_delay = \"1s\"", "shutdown_delay = \"500ms\"\n kill_signal = \"SIGTERM\""),
    );
    let s = s.start();
    let before = event_mark(&s.wait_running("a/g/0/t"));
    s.supctl_ok(&["job", "stop", "a"]);
    let t = s.wait_dead("a/g/0/t");
    let ev = events_since(&t, &before);
    let waiting = ev.iter().find(|(k, _)| k == "Waiting for shutdown delay").map(|(_, m)| m.as_str());
    assert_eq!(waiting, Some("Waiting for shutdown_delay of 1.5s before killing the task."), "{ev:?}");
    let at = |kind: &str| {
        let e = t["events"].as_array().unwrap().iter().rev().find(|e| e["type"] == kind);
        rfc3339_secs(e.unwrap_or_else(|| panic!("no {kind}: {ev:?}"))["time"].as_str().unwrap())
    };
    let waited = at("Terminated") - at("Waiting for shutdown delay");
    assert!((1.3..6.0).contains(&waited), "waited {waited}s: {ev:?}");
}

// --- what survives a restart of supd ---------------------------------------------------

/// Jobs submitted with `job run` come back after supd restarts, and a job
/// the operator stopped stays stopped, even though its file is still in the
/// job directory.
#[test]
fn submitted_and_stopped_jobs_survive_a_restart() {
    let s = Supd::new();
    s.write_job("fromdir.hcl", &sleep_job("fromdir"));
    let submitted = s.write_file("submitted.hcl", &sleep_job("submitted"));
    let mut s = s.start();
    s.wait_running("fromdir/g/0/t");
    s.supctl_ok(&["job", "run", submitted.to_str().unwrap()]);
    s.wait_running("submitted/g/0/t");
    s.supctl_ok(&["job", "stop", "fromdir"]);
    s.wait_dead("fromdir/g/0/t");
    // A clean stop of supd, then a new supd on the same state directory.
    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).unwrap();
    assert!(s.wait_exit(PATIENCE).is_some_and(|st| st.success()), "{}", s.log());
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    s.child = None;
    let s2 = Supd { dir, child: None }.start();
    s2.wait_running("submitted/g/0/t");
    let st = s2.status();
    assert_eq!(task(&st, "fromdir/g/0/t").expect("listed")["state"], "dead", "{}", pretty(&st));
    assert_eq!(job_status(&st, "fromdir"), "dead");
    // `job run` of a stopped job starts it again, and that survives too.
    let again = s2.path("jobs").join("fromdir.hcl");
    s2.supctl_ok(&["job", "run", again.to_str().unwrap()]);
    s2.wait_running("fromdir/g/0/t");
}

/// If supd dies (SIGKILL), the next supd on the same state directory takes
/// over the task process the dead one left running — the same pid, never a
/// second copy — and the task keeps the restart budget it had used: here
/// attempts = 2, one restart before the crash; the taken-over run then ends
/// (how, only its parent could tell: a failure) and is the second restart;
/// run 3 fails and the budget is spent: three starts in all, as without
/// the crash.
#[test]
fn after_a_crash_of_supd_no_task_runs_twice_and_the_budget_carries_over() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    restart {
      attempts = 2
      interval = "10m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/starts; n=$(wc -l < @DIR@/starts); if [ $n -eq 2 ]; then exec sleep 1000; fi; exit 1"]
      }
    }
  }
}"#,
    );
    let mut s = s.start();
    // Run 1 fails, run 2 sleeps.
    let lines = s.wait_lines("starts", 2);
    let t = s.wait_running("a/g/0/t");
    assert_eq!(t["restarts"], 1);
    let left: i32 = lines[1].parse().unwrap();
    // No wait for a save: starts are journaled before supd goes on;
    // supd dies now without stopping anything.
    s.kill9();
    assert!(alive(left), "the task outlives the crashed supd");
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = Supd { dir, child: None }.start();
    let t = s2.wait_event("a/g/0/t", "Adopted", |_| true);
    assert_eq!((t["state"].as_str(), t["pid"].as_i64()), (Some("running"), Some(i64::from(left))), "{}", pretty(&t));
    assert_eq!(t["restarts"], 1, "{}", pretty(&t));
    assert_eq!(lines_of(&s2, "starts").len(), 2, "not started again: {}", s2.log());
    // The taken-over run ends: restart 2; run 3 fails; the budget is spent.
    kill(Pid::from_raw(left), Signal::SIGTERM).unwrap();
    let t = s2.wait_dead("a/g/0/t");
    assert_eq!(t["failed"], true, "{}", pretty(&t));
    assert_eq!(t["restarts"], 2, "{}", pretty(&t));
    assert_eq!(lines_of(&s2, "starts").len(), 3, "{}", s2.log());
    assert!(s2.log().contains("taking it over"), "{}", s2.log());
}

fn lines_of(s: &Supd, name: &str) -> Vec<String> {
    lines(&s.path(name))
}

/// A crash loop that had used its attempts before supd was killed is still
/// failed after it: the task is not started again.
#[test]
fn a_failed_task_stays_failed_across_a_crash_of_supd() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    restart {
      attempts = 1
      interval = "10m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/starts; exit 1"]
      }
    }
  }
}"#,
    );
    let mut s = s.start();
    s.wait_dead("a/g/0/t");
    // No wait for a save: a task's end is journaled before supd goes on.
    s.kill9();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = Supd { dir, child: None }.start();
    let st = s2.status();
    let t = task(&st, "a/g/0/t").expect("task");
    assert_eq!((t["state"].as_str(), t["failed"].as_bool()), (Some("dead"), Some(true)), "{}", pretty(&st));
    assert_eq!(instance(&st, "a/g/0").unwrap()["status"], "failed");
    // Asserts that nothing happens: the failed task is not started again.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines_of(&s2, "starts").len(), 2, "not started again\n{}", s2.log());
}

/// A task that writes as fast as it can for 10 s: disk use stays within
/// max_files × max_file_size, supd's memory stays flat, and `logs -f` keeps
/// following across the rotations.
#[test]
fn a_flood_of_output_stays_within_bounds() {
    use std::io::Read;
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/timeout"
        args    = ["10", "/usr/bin/yes", "a line of output that repeats"]
      }
      logs {
        max_files     = 3
        max_file_size = 1
      }
    }
  }
}"#,
    );
    let s = s.start();
    s.wait_running("a/g/0/t");
    // Anonymous memory only: the pages of supd's own code that it unmaps
    // after bring-up come back as the followers' requests run them (some
    // MB of a debug build, earlier or later on a loaded machine), which is
    // not memory the flood made.
    let rss = |pid: i32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("RssAnon:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let rss_start = rss(s.pid());
    let mut followed = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    // Read 5 MB through followers: five rotations' worth. A follower that
    // falls behind the flood (a loaded machine) is cut by design; the
    // next one goes on.
    let until = Instant::now() + Duration::from_secs(60);
    while followed < 5 << 20 && Instant::now() < until {
        let mut follower = Command::new(SUPCTL)
            .arg("--socket")
            .arg(s.socket())
            .args(["logs", "-f", "a", "-n", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("supctl logs -f");
        let mut out = follower.stdout.take().unwrap();
        while followed < 5 << 20 {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => followed += n as u64,
            }
        }
        let _ = follower.kill();
        let _ = follower.wait();
    }
    assert!(followed >= 5 << 20, "followed {followed} bytes\n{}", s.log());
    let dir = s.path("logs").join("a").join("g[0]");
    let mut peak_disk = 0u64;
    let mut peak_file = 0u64;
    let mut peak_rss = rss_start;
    let deadline = Instant::now() + Duration::from_secs(12);
    while Instant::now() < deadline {
        let sizes: Vec<u64> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("t.stdout."))
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".t"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .collect();
        peak_disk = peak_disk.max(sizes.iter().sum());
        peak_file = peak_file.max(sizes.iter().copied().max().unwrap_or(0));
        peak_rss = peak_rss.max(rss(s.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    // Files of at most 1 MB, three of them (the rotation removes the
    // oldest as it opens a new one). A listing is not a snapshot: with a
    // rotation every few milliseconds it can see the oldest file and the
    // start of the next one, so a fourth file's worth is allowed.
    assert!(peak_file <= 1 << 20, "a log file reached {peak_file} bytes");
    assert!(peak_disk <= 4 << 20, "disk use reached {peak_disk} bytes");
    assert!(peak_rss < rss_start + 8 * 1024, "supd's anonymous memory grew from {rss_start} to {peak_rss} KiB");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("t.stdout."))
        .collect();
    // Each file with its lines' times beside it.
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.ends_with(".t")).count(), 3, "{names:?}");
}

/// A leftover of a crashed supd for a job that changed meanwhile (not
/// taken over: it runs the old version) that ignores its kill signal is
/// killed (with task cgroups, as here: SIGKILL to everything in its cgroup
/// at once), and only then does the new version's task start.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_stubborn_leftover_is_killed_before_the_task_starts() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  group "g" {
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap '' INT TERM; echo $$ >> @DIR@/starts; while true; do sleep 0.1; done"]
      }
    }
  }
}"#,
    );
    let mut s = s.start();
    let first: i32 = s.wait_lines("starts", 1)[0].parse().unwrap();
    // No wait for a save: a start is journaled before supd goes on.
    s.kill9();
    let changed = std::fs::read_to_string(s.path("jobs/a.hcl")).unwrap().replace("\"1s\"", "\"2s\"");
    std::fs::write(s.path("jobs/a.hcl"), changed).unwrap();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = Supd { dir, child: None }.start();
    let lines = s2.wait_lines("starts", 2);
    assert!(!alive(first), "the leftover is gone before the task starts again");
    assert_ne!(lines[1], lines[0]);
    s2.wait_running("a/g/0/t");
    assert!(s2.log().contains(&format!("stopped [{first}")), "{}", s2.log());
}

/// A state file that is not valid state does not stop supd: it is moved
/// aside (`state.json.bad.TIME`), the log says where, and the job
/// directory runs as usual.
#[test]
fn a_corrupt_state_file_is_moved_aside() {
    let s = Supd::new();
    s.write_job("a.hcl", &sleep_job("a"));
    std::fs::create_dir_all(s.path("state")).unwrap();
    let text = "{\"version\":1,\"submitted\":[{\"file\":\"x\",\"sou";
    std::fs::write(s.path("state").join("state.json"), text).unwrap();
    let s = s.start();
    s.wait_running("a/g/0/t");
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(s.path("state"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("state.json.bad.")))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), text);
    let log = s.log();
    assert!(log.contains("is not valid") && log.contains(&kept[0].display().to_string()), "{log}");
}

/// Clients that connect and never finish a request cannot use up supd:
/// beyond 256 open connections new ones are refused, and supd answers again
/// once they go.
#[test]
fn too_many_idle_connections_are_refused_not_fatal() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let s = Supd::new().start();
    let idle: Vec<UnixStream> = (0..256).map(|_| UnixStream::connect(s.socket()).expect("connect")).collect();
    // Let supd accept them all.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = UnixStream::connect(s.socket()).expect("connect");
    extra.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut answer = String::new();
    let _ = extra.read_to_string(&mut answer);
    assert!(answer.contains("already serves 256"), "{answer:?}");
    drop(idle);
    let ok = wait_until(PATIENCE, || s.supctl(&["status"]).status.success());
    assert!(ok, "supd answers again once the idle connections are gone\n{}", s.log());
}

/// A reload with one file that does not load applies nothing, not even
/// the other files' changes; it fails with the problems. Once the file is
/// gone, the next reload applies everything and its problems leave
/// `status`.
#[test]
fn a_reload_is_all_or_nothing() {
    let s = Supd::new();
    s.write_job("rl.hcl", RELOAD_JOB);
    let s = s.start();
    let p1 = pid(&s.wait_running("rl/g/0/t"));
    s.write_job("rl.hcl", &RELOAD_JOB.replace("\"one\"", "\"two\""));
    s.write_job("new.hcl", &sleep_job("new"));
    let bad = s.write_job("bad.hcl", "job \"bad\" {\n  group \"g\" {\n    count = \"many\"\n  }\n}\n");
    let out = s.supctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", bad.display())), "{err}");
    assert!(err.contains("nothing applied"), "{err}");
    assert!(!err.contains("update job"), "{err}");
    // Asserts that nothing happens: no new version, no new job.
    std::thread::sleep(Duration::from_millis(500));
    let st = s.status();
    assert_eq!(pid(task(&st, "rl/g/0/t").expect("the task")), p1, "{}", pretty(&st));
    assert!(task(&st, "new/g/0/t").is_none(), "{}", pretty(&st));
    assert_eq!(lines(&s.path("versions")).len(), 1);
    let table = s.supctl(&["status"]);
    assert!(String::from_utf8_lossy(&table.stderr).contains("bad.hcl:3:"), "{}", describe(&table));

    // A dry run says the same and changes nothing.
    let out = s.supctl(&["reload", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    std::fs::remove_file(&bad).expect("remove bad.hcl");
    let out = s.supctl_ok(&["reload"]);
    assert!(out.contains("update job \"rl\"") && out.contains("add job \"new\""), "{out}");
    s.wait_running("new/g/0/t");
    assert!(s.wait_lines("versions", 2)[1].starts_with("two "));
    let table = s.supctl(&["status"]);
    assert!(!String::from_utf8_lossy(&table.stderr).contains("bad.hcl"), "{}", describe(&table));
}

/// Every restart decision is one line of supd's own log (what `docker
/// logs` shows of a container whose init is supd): how the run ended, the
/// delay and the attempt of the budget, then why there is no restart.
#[test]
fn restart_decisions_are_in_supds_log() {
    let s = Supd::new();
    s.write_job(
        "flaky.hcl",
        r#"job "flaky" {
  group "g" {
    restart {
      attempts = 2
      interval = "10m"
      delay    = "0s"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exit 3"]
      }
    }
  }
}"#,
    );
    let s = s.start();
    s.wait_dead("flaky/g/0/t");
    let log = s.log();
    for line in [
        "flaky.g[0]/t: ended with exit code 3; restarting in 0s (attempt 1 of 2 in 10m0s)",
        "flaky.g[0]/t: ended with exit code 3; restarting in 0s (attempt 2 of 2 in 10m0s)",
        "flaky.g[0]/t: ended with exit code 3; not restarting: Exceeded allowed attempts 2 in interval 10m0s",
    ] {
        assert!(log.contains(line), "{line:?} is in supd's log\n{log}");
    }
}

/// USR1, USR2 and WINCH, which supd has no use for, reach every running
/// task, as a container's init (tini, dumb-init) passes them on.
#[test]
fn signals_supd_does_not_use_are_forwarded_to_every_task() {
    let s = Supd::new();
    let job = |name: &str| {
        format!(
            r#"job "{name}" {{
  task "t" {{
    driver = "raw_exec"
    config {{
      command = "/bin/sh"
      args    = ["-c", "trap 'echo usr1 >> @DIR@/{name}' USR1; trap 'echo winch >> @DIR@/{name}' WINCH; echo ready >> @DIR@/{name}; while :; do sleep 0.1; done"]
    }}
  }}
}}"#
        )
    };
    s.write_job("a.hcl", &job("a"));
    s.write_job("b.hcl", &job("b"));
    let s = s.start();
    for name in ["a", "b"] {
        s.wait_lines(name, 1);
    }
    for sig in [Signal::SIGUSR1, Signal::SIGWINCH] {
        nix::sys::signal::kill(Pid::from_raw(s.pid()), sig).expect("signal supd");
    }
    for name in ["a", "b"] {
        let got = s.wait_lines(name, 3);
        assert!(got.contains(&"usr1".to_string()) && got.contains(&"winch".to_string()), "{name}: {got:?}");
    }
    assert!(s.log().contains("SIGUSR1: forwarded to 2 running tasks"), "{}", s.log());
    assert_eq!(task(&s.status(), "a/t/0/t").expect("task")["state"], "running", "supd itself did not stop");
}

/// With `--sighup forward`, SIGHUP reaches every running task instead of
/// reloading the job directory (a file added meanwhile is not loaded).
#[test]
fn sighup_can_be_forwarded_instead_of_reloading() {
    let s = Supd::new();
    s.write_job(
        "a.hcl",
        r#"job "a" {
  task "t" {
    driver = "raw_exec"
    config {
      command = "/bin/sh"
      args    = ["-c", "trap 'echo hup >> @DIR@/a' HUP; echo ready >> @DIR@/a; while :; do sleep 0.1; done"]
    }
  }
}"#,
    );
    let s = s.start_with_args(&["--sighup", "forward"], &[]);
    s.wait_lines("a", 1);
    s.write_job("b.hcl", &sleep_job("b"));
    nix::sys::signal::kill(Pid::from_raw(s.pid()), Signal::SIGHUP).expect("signal supd");
    assert_eq!(s.wait_lines("a", 2)[1], "hup");
    assert!(s.log().contains("SIGHUP: forwarded to 1 running task"), "{}", s.log());
    assert!(job_status(&s.status(), "b").is_empty(), "SIGHUP reloaded the job directory");
}

/// A task with no `config` block validates with a warning, as Nomad's
/// `job validate` accepts it, and fails at its start as Nomad's client
/// fails it: a Driver Failure naming what to add, not retried; the job's
/// other group runs on.
#[test]
fn a_task_without_config_validates_with_a_warning_and_fails_at_start() {
    let s = Supd::new();
    let file = s.write_job(
        "half.hcl",
        r#"
job "half" {
  group "empty" {
    restart {
      attempts = 3
      delay    = "50ms"
    }
    task "t" {
      driver = "raw_exec"
    }
  }
  group "fine" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
}
"#,
    );
    let out = s.supctl(&["validate", file.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("half.hcl:8:5: warning: task \"t\" has no config block"), "{text}");
    let s = s.start();
    let t = s.wait_event("half/empty/0/t", "Driver Failure", |m| {
        m.contains("has no config block") && m.contains("`config { command = ")
    });
    let _ = t;
    let t = s.wait_dead("half/empty/0/t");
    assert_eq!(t["failed"], true, "{}", pretty(&t));
    assert_eq!(count(&t, "Driver Failure", |_| true), 1, "not retried: {}", pretty(&t));
    s.wait_running("half/fine/0/t");
}

/// A task whose start fails at once, for good, tears its instance down
/// before a sibling due in the same turn starts: the sibling ends without
/// having run, and nothing of it runs.
#[test]
fn a_start_failing_at_once_keeps_its_sibling_from_starting() {
    let s = Supd::new();
    s.write_job(
        "pair.hcl",
        r#"
job "pair" {
  group "g" {
    restart {
      attempts = 0
    }
    task "broken" {
      driver = "raw_exec"
    }
    task "sleeper" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1001"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let broken = s.wait_dead("pair/g/0/broken");
    assert_eq!(broken["failed"], true, "{}", pretty(&broken));
    let sleeper = s.wait_dead("pair/g/0/sleeper");
    assert_eq!(count(&sleeper, "Started", |_| true), 0, "it never ran: {}", pretty(&sleeper));
    assert_eq!(count(&sleeper, "Sibling Task Failed", |_| true), 1, "{}", pretty(&sleeper));
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.procs_running("/bin/sleep 1001").is_empty(), "a sleeper runs\n{}", s.log());
}
