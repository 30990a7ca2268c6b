//! Continuity: supd is re-executed (`supctl daemon-reexec`, also with a new
//! binary at its path) or killed and started again, and no task is
//! restarted: the same pids, every output line exactly once, the same
//! restart counts and events. A binary that cannot take over is refused and
//! the running supd goes on as it was.

mod common;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Three tasks, each writing a numbered line every 10 ms.
const COUNTERS: &str = r#"job "c" {
  group "g" {
    restart {
      attempts = 3
      interval = "10m"
      delay    = "1s"
      mode     = "fail"
    }
    task "a" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "i=0; while true; do i=$((i+1)); echo a$i; sleep 0.01; done"]
      }
    }
    task "b" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "i=0; while true; do i=$((i+1)); echo b$i; sleep 0.01; done"]
      }
    }
    task "d" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "i=0; while true; do i=$((i+1)); echo d$i; sleep 0.01; done"]
      }
    }
  }
}"#;

const TASKS: [&str; 3] = ["a", "b", "d"];

/// supd's binary copied into the test's directory, so that a test can put
/// another file at its path (by rename, as a package upgrade does).
fn copy_of_supd(s: &Supd) -> PathBuf {
    let exe = s.path("bin/supd");
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    std::fs::copy(SUPD, &exe).unwrap();
    exe
}

/// supd started from a copy of its binary, its three counters running.
fn counters_from_a_copy() -> (Supd, PathBuf) {
    let s = Supd::new();
    s.write_job("c.hcl", COUNTERS);
    let exe = copy_of_supd(&s);
    let s = s.start_from(&exe);
    for t in TASKS {
        s.wait_running(&format!("c/g/0/{t}"));
    }
    (s, exe)
}

/// Puts `text` as an executable script at `exe`, by rename.
fn replace_with_script(exe: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = exe.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, exe).unwrap();
}

/// Puts a fresh copy of supd's binary at `exe`, by rename.
fn replace_with_supd(exe: &Path) {
    let tmp = exe.with_extension("new");
    std::fs::copy(SUPD, &tmp).unwrap();
    std::fs::rename(&tmp, exe).unwrap();
}

/// Each task's pid and restart count.
fn pids_and_restarts(s: &Supd) -> Vec<(i32, u64)> {
    let st = s.status();
    TASKS
        .iter()
        .map(|t| {
            let t = task(&st, &format!("c/g/0/{t}")).expect("task");
            (pid(t), restarts(t))
        })
        .collect()
}

/// The numbers a task's lines carry, in the order of its log files.
fn numbers(s: &Supd, name: &str) -> Vec<u64> {
    let dir = s.path("logs/c/g[0]");
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix(&format!("{name}.stdout."))?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for (_, f) in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let n = line.strip_prefix(name).and_then(|n| n.parse().ok());
            out.push(n.unwrap_or_else(|| panic!("a line that is not {name}N: {line:?}")));
        }
    }
    out
}

/// Every line 1..=N, each exactly once, in order.
fn assert_each_line_once(s: &Supd, name: &str) {
    let nums = numbers(s, name);
    assert!(nums.len() > 20, "task {name} wrote only {} lines\n{}", nums.len(), s.log());
    for (i, n) in nums.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1, "task {name}: line {} reads {name}{n} (lost or duplicated)", i + 1);
    }
}

fn reexec(s: &Supd) -> String {
    let out = s.supctl(&["daemon-reexec"]);
    assert!(out.status.success(), "daemon-reexec failed: {}\n{}", describe(&out), s.log());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `supctl daemon-reexec`, twice in a row (the second after the binary at
/// supd's path was replaced by a fresh copy): supd keeps its pid, every
/// task its pid and restart count, every line of output is in the logs
/// exactly once, the events before are kept and a `Reexecuted` one added.
/// `supctl status` calls made during the exec are answered.
#[test]
fn daemon_reexec_keeps_every_task_and_every_line() {
    let (s, exe) = counters_from_a_copy();
    std::thread::sleep(Duration::from_millis(300));
    let before = pids_and_restarts(&s);
    let supd_pid = s.pid();
    let st = s.status();
    let started_events = kinds(task(&st, "c/g/0/a").unwrap());
    // Status calls go on during the exec: each is answered.
    let socket = s.socket();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new(SUPCTL)
                    .args(["--socket", socket.to_str().unwrap(), "status"])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "a status during the exec failed: {}", describe(&out));
                answered += 1;
            }
            answered
        })
    };
    let said = reexec(&s);
    assert!(said.contains("3 task(s) kept running"), "{said}");
    std::thread::sleep(Duration::from_millis(200));
    replace_with_supd(&exe);
    let said = reexec(&s);
    assert!(said.contains("3 task(s) kept running"), "{said}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered = asker.join().expect("status asker");
    assert!(answered > 0);
    assert_eq!(s.pid(), supd_pid, "supd keeps its pid");
    assert_eq!(pids_and_restarts(&s), before, "same pids and restart counts\n{}", s.log());
    let st = s.status();
    let kinds_now = kinds(task(&st, "c/g/0/a").unwrap());
    assert_eq!(&kinds_now[..started_events.len()], &started_events[..], "the events before are kept");
    assert_eq!(kinds_now.iter().filter(|k| *k == "Reexecuted").count(), 2, "{kinds_now:?}");
    // The counters go on: lines written across both execs, each once.
    std::thread::sleep(Duration::from_millis(300));
    s.supctl_ok(&["job", "stop", "c"]);
    s.wait_dead("c/g/0/a");
    for t in TASKS {
        assert_each_line_once(&s, t);
    }
}

/// After a re-exec supd still supervises: a task that then exits is reaped
/// with its exit code and restarted by its policy, and a task that was in
/// its restart delay starts when the delay is over, not at once.
#[test]
fn after_a_reexec_exits_are_seen_and_delays_kept() {
    let s = Supd::new();
    s.write_job(
        "r.hcl",
        r#"job "r" {
  group "g" {
    restart {
      attempts = 5
      interval = "10m"
      delay    = "3s"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/starts; exec sleep 1000"]
      }
    }
  }
}"#,
    );
    let s = s.start();
    let t = s.wait_running("r/g/0/t");
    let first = pid(&t);
    reexec(&s);
    // Its end after the exec: exit code seen, restart after the delay.
    kill(Pid::from_raw(first), Signal::SIGTERM).unwrap();
    let t = s.wait_event("r/g/0/t", "Terminated", |m| m.contains("Signal: 15"));
    assert_eq!(t["state"], "pending", "{}", pretty(&t));
    let ended = Instant::now();
    // A re-exec in the delay keeps it: the start comes ~3 s after the end.
    reexec(&s);
    let t = s.wait_task("r/g/0/t", "running again", |t| t["state"] == "running");
    let waited = ended.elapsed();
    assert!(waited >= Duration::from_millis(2500), "started {waited:?} after its end, inside its 3 s delay");
    assert_ne!(pid(&t), first);
    assert_eq!(restarts(&t), 1, "{}", pretty(&t));
    assert_eq!(lines(&s.path("starts")).len(), 2);
}

/// A binary that is not supd, exits at once, or does not answer is
/// refused before anything is executed: the answer says why, and supd
/// goes on as it was (its pid, its tasks, a working socket).
#[test]
fn a_binary_that_cannot_take_over_is_refused() {
    let (s, exe) = counters_from_a_copy();
    let before = pids_and_restarts(&s);
    let supd_pid = s.pid();
    for (script, expect) in [
        ("#!/bin/sh\nexit 1\n", "not a supd"),
        ("#!/bin/sh\necho hello\n", "not a supd"),
        ("#!/bin/sh\necho '{\"supd\":\"9.0.0\",\"carry\":[7,9],\"state\":99}'\n", "carry formats 7-9"),
        ("#!/bin/sh\nexec sleep 60\n", "did not answer"),
    ] {
        replace_with_script(&exe, script);
        let asked = Instant::now();
        let out = s.supctl(&["daemon-reexec"]);
        assert!(!out.status.success(), "{script:?} was taken: {}", describe(&out));
        let text = describe(&out);
        assert!(text.contains(expect) && text.contains("keeps running"), "{script:?}: {text}");
        assert!(asked.elapsed() < Duration::from_secs(10), "the refusal took {:?}", asked.elapsed());
        assert_eq!(s.pid(), supd_pid);
        assert_eq!(pids_and_restarts(&s), before, "{}", s.log());
    }
    // No checker is left running.
    assert!(procs_with_env(&format!("{TAG}={}", s.dir())).iter().all(|p| !cmdline_of(*p).contains("sleep 60")));
    // The path missing: refused too.
    std::fs::remove_file(&exe).unwrap();
    let out = s.supctl(&["daemon-reexec"]);
    assert!(!out.status.success() && describe(&out).contains("cannot run it"), "{}", describe(&out));
    assert_eq!(pids_and_restarts(&s), before);
}

/// `kill -9` of supd, then a new supd on the same state: every task is
/// taken over with its pid (no second copy, no restart), shown running
/// with an `Adopted` event; when one of them then exits, how it ended is
/// unknown to a supd that is not its parent: a failure, restarted by its
/// policy.
#[test]
fn after_kill_9_a_new_supd_takes_over_the_running_tasks() {
    let s = Supd::new();
    s.write_job(
        "k.hcl",
        r#"job "k" {
  group "g" {
    restart {
      attempts = 3
      interval = "10m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ >> @DIR@/starts; sleep 1000 & wait"]
      }
    }
    task "u" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
}"#,
    );
    let mut s = s.start();
    let t = s.wait_running("k/g/0/t");
    let u = s.wait_running("k/g/0/u");
    let (tp, up) = (pid(&t), pid(&u));
    let forked = s.procs_running("sleep 1000");
    assert_eq!(forked.len(), 1, "t's child");
    let alloc = s.status();
    let alloc_id = instance(&alloc, "k/g/0").unwrap()["id"].clone();
    s.kill9();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = Supd { dir, child: None }.start();
    let t = s2.wait_event("k/g/0/t", "Adopted", |_| true);
    let u = s2.wait_event("k/g/0/u", "Adopted", |_| true);
    assert_eq!((pid(&t), pid(&u)), (tp, up), "the same processes\n{}", s2.log());
    assert_eq!((t["state"].as_str(), restarts(&t)), (Some("running"), 0));
    let st = s2.status();
    assert_eq!(instance(&st, "k/g/0").unwrap()["id"], alloc_id, "the same instance");
    assert_eq!(lines(&s2.path("starts")).len(), 1, "not started twice");
    // It ends (killed from outside): restarted by its policy.
    kill(Pid::from_raw(tp), Signal::SIGKILL).unwrap();
    let t = s2.wait_task("k/g/0/t", "restarted", |t| restarts(t) == 1 && t["state"] == "running");
    assert_ne!(pid(&t), tp);
    assert!(events(&t).iter().any(|(k, m)| k == "Terminated" && m.contains("unknown")), "{}", pretty(&t));
    assert_eq!(lines(&s2.path("starts")).len(), 2);
    // The child it forked went with it (its cgroup is the task's); the
    // new run has its own.
    s2.assert_gone(forked[0], PATIENCE, "the child of the taken-over run");
    assert_eq!(s2.procs_running("sleep 1000").len(), 1, "the new run's child");
    // A stop stops the taken-over task too, and nothing is left.
    s2.supctl_ok(&["job", "stop", "k"]);
    s2.wait_dead("k/g/0/u");
    s2.assert_gone(up, PATIENCE, "the taken-over task, once stopped");
}
