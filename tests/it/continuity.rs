//! Continuity: supd is re-executed (`supctl daemon-reexec`, also with a new
//! binary at its path) or killed and started again, and no task is
//! restarted: the same pids, every output line exactly once, the same
//! restart counts and events. A binary that cannot take over is refused and
//! the running supd goes on as it was.

use crate::support::*;
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

/// The pids of these tasks of instance 0 of group g of `job`.
fn pids_of(s: &Supd, job: &str, tasks: &[&str]) -> Vec<i32> {
    let st = s.status();
    tasks.iter().map(|t| pid(task(&st, &format!("{job}/g/0/{t}")).expect("task"))).collect()
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

/// `supctl daemon-reexec`, four times in a row (the last two after the
/// binary at supd's path was replaced by a fresh copy): supd keeps its pid, every
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
    for round in 0..4 {
        if round == 2 {
            replace_with_supd(&exe);
        }
        let said = reexec(&s);
        assert!(said.contains("3 task(s) kept running"), "{said}");
        std::thread::sleep(Duration::from_millis(150));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered = asker.join().expect("status asker");
    assert!(answered > 0);
    assert_eq!(s.pid(), supd_pid, "supd keeps its pid");
    assert_eq!(pids_and_restarts(&s), before, "same pids and restart counts\n{}", s.log());
    let st = s.status();
    let kinds_now = kinds(task(&st, "c/g/0/a").unwrap());
    assert_eq!(&kinds_now[..started_events.len()], &started_events[..], "the events before are kept");
    assert_eq!(kinds_now.iter().filter(|k| *k == "Reexecuted").count(), 4, "{kinds_now:?}");
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
/// policy (also after a re-exec in between).
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
    assert_eq!(kinds(&t), ["Received", "Adopted"], "received, then adopted");
    let st = s2.status();
    assert_eq!(instance(&st, "k/g/0").unwrap()["id"], alloc_id, "the same instance");
    assert_eq!(lines(&s2.path("starts")).len(), 1, "not started twice");
    // A re-exec now: the taken-over processes are still followed.
    reexec(&s2);
    assert_eq!(pids_of(&s2, "k", &["t", "u"]), vec![tp, up]);
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

/// systemd's side of the descriptor store, as the test plays it: a
/// datagram socket at `NOTIFY_SOCKET` that keeps every descriptor sent
/// with `FDSTORE=1` under its `FDNAME`, and forgets them at
/// `FDSTOREREMOVE=1`.
struct Store {
    socket: std::os::unix::net::UnixDatagram,
    kept: Vec<(String, std::os::fd::OwnedFd)>,
}

impl Store {
    fn bind(path: &Path) -> Store {
        let socket = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        socket.set_nonblocking(true).unwrap();
        Store { socket, kept: Vec::new() }
    }

    /// Takes every message sent so far.
    fn take(&mut self) {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        use std::os::fd::{AsRawFd, FromRawFd};
        loop {
            let mut buf = [0u8; 4096];
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([std::os::fd::RawFd; 8]);
            let Ok(msg) = recvmsg::<()>(self.socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()) else {
                return;
            };
            let mut fds = Vec::new();
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(got) = c {
                    // SAFETY: the kernel just made these descriptors for us.
                    fds.extend(got.into_iter().map(|fd| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }));
                }
            }
            let n = msg.bytes;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let name = text.lines().find_map(|l| l.strip_prefix("FDNAME=")).unwrap_or("").to_string();
            if text.lines().any(|l| l == "FDSTORE=1") {
                self.kept.extend(fds.into_iter().map(|fd| (name.clone(), fd)));
            } else if text.lines().any(|l| l == "FDSTOREREMOVE=1") {
                self.kept.retain(|(n, _)| *n != name);
            }
        }
    }
}

/// Under systemd (`NOTIFY_SOCKET`), supd keeps each task's output pipes in
/// the service's descriptor store. supd is killed; the task goes on
/// writing; the next supd gets the pipes back (`LISTEN_FDS`,
/// `LISTEN_FDNAMES`, as systemd passes them) with the task: its lines,
/// also those written while no supd ran, are all in its log, each once.
#[test]
fn under_systemd_a_task_keeps_its_output_across_a_crash_of_supd() {
    let s = Supd::new();
    s.write_job(
        "w.hcl",
        r#"job "w" {
  group "g" {
    task "a" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "i=0; while true; do i=$((i+1)); echo a$i; sleep 0.01; done"]
      }
    }
  }
}"#,
    );
    let mut store = Store::bind(&s.path("notify.sock"));
    let notify = s.path("notify.sock");
    let mut s = s.start_with_env(&[("NOTIFY_SOCKET", notify.to_str().unwrap())]);
    let t = s.wait_running("w/g/0/a");
    assert!(wait_until(PATIENCE, || {
        store.take();
        store.kept.len() == 4
    }));
    assert!(store.kept.iter().all(|(n, _)| n.starts_with("log-")), "{:?}", store.kept);
    s.kill9();
    // The task writes on while no supd runs (into its pipe, which the
    // store holds open).
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid(&t)));
    // systemd does not pass them back in the order they were stored.
    store.kept.reverse();
    let names: Vec<&str> = store.kept.iter().map(|(n, _)| n.as_str()).collect();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let next = Supd { dir, child: None };
    // As systemd starts a service: the stored descriptors from 3 on, their
    // count and names, LISTEN_PID its own pid.
    let mut cmd = next.command(Path::new("/bin/sh"), &["-c", "LISTEN_PID=$$ exec \"$0\" \"$@\"", SUPD]);
    cmd.env("LISTEN_FDS", store.kept.len().to_string())
        .env("LISTEN_FDNAMES", names.join(":"))
        .env("NOTIFY_SOCKET", &notify);
    let raw: Vec<i32> = store.kept.iter().map(|(_, fd)| std::os::fd::AsRawFd::as_raw_fd(fd)).collect();
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: dup2 and fcntl only, between fork and exec; the sources
        // are moved above the targets first, so no target overwrites a
        // source still to be placed.
        unsafe {
            cmd.pre_exec(move || {
                let mut high = Vec::new();
                for fd in &raw {
                    high.push(libc::fcntl(*fd, libc::F_DUPFD, 100));
                }
                for (i, fd) in high.iter().enumerate() {
                    libc::dup2(*fd, 3 + i as i32);
                    libc::close(*fd);
                }
                Ok(())
            });
        }
    }
    let s2 = next.spawn_ready(cmd);
    let t2 = s2.wait_event("w/g/0/a", "Adopted", |m| m.contains("systemd kept its pipes"));
    assert_eq!(pid(&t2), pid(&t), "the same process\n{}", s2.log());
    std::thread::sleep(Duration::from_millis(300));
    drop(store);
    s2.supctl_ok(&["job", "stop", "w"]);
    s2.wait_dead("w/g/0/a");
    let nums: Vec<u64> = std::fs::read_to_string(s2.path("logs/w/g[0]/a.stdout.0"))
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix('a').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{l:?}")))
        .collect();
    assert!(nums.len() > 50, "{} lines\n{}", nums.len(), s2.log());
    for (i, n) in nums.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1, "line {} reads a{n}: lost or doubled across the crash", i + 1);
    }
}

/// Chaos: supd is killed with SIGKILL at a random moment around a
/// `daemon-reexec` (before, during or after the exec), then started again,
/// several times over. Every time, each task runs exactly once, supervised
/// (its pid in the status is the one process running it).
#[test]
fn kill_9_at_random_moments_around_a_reexec_never_runs_a_task_twice() {
    let s = Supd::new();
    s.write_job(
        "z.hcl",
        r#"job "z" {
  group "g" {
    task "a" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1001"]
      }
    }
    task "b" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1002"]
      }
    }
  }
}"#,
    );
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut s = s.start();
    for round in 0..6 {
        for (t, cmd) in [("a", "/bin/sleep 1001"), ("b", "/bin/sleep 1002")] {
            let st = s.wait_running(&format!("z/g/0/{t}"));
            let running = s.procs_running(cmd);
            assert_eq!(running, vec![pid(&st)], "round {round}: task {t} runs exactly once, as its status says");
        }
        let socket = s.socket();
        let asker = std::thread::spawn(move || {
            let _ = std::process::Command::new(SUPCTL)
                .args(["--socket", socket.to_str().unwrap(), "daemon-reexec"])
                .output();
        });
        std::thread::sleep(Duration::from_micros(next() % 40_000));
        s.kill9();
        asker.join().unwrap();
        let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
        s = Supd { dir, child: None }.start();
    }
}

/// Two `daemon-reexec` at once, while a script check is in flight: both
/// are answered (the second by the image the first made, or refused with
/// its reason), the task keeps its pid, and its check goes on passing.
#[test]
fn two_reexecs_at_once_with_a_check_in_flight() {
    let s = Supd::new();
    s.write_job(
        "h.hcl",
        r#"job "h" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        name = "h"
        check {
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "echo run >> @DIR@/checks; sleep 0.3"]
          interval = "1s"
          timeout  = "5s"
        }
      }
    }
  }
}"#,
    );
    let s = s.start();
    let t = s.wait_health("h/g/0/t", "passing");
    let first = pid(&t);
    // Right after a run began (it writes its line, then sleeps 0.3 s): the
    // re-execs come while it is in flight.
    let runs = lines(&s.path("checks")).len();
    s.wait_lines("checks", runs + 1);
    let socket = s.socket();
    let askers: Vec<_> = (0..2)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                std::process::Command::new(SUPCTL)
                    .args(["--socket", socket.to_str().unwrap(), "daemon-reexec"])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for a in askers {
        let out = a.join().unwrap();
        let text = describe(&out);
        assert!(
            out.status.success() && text.contains("kept running") || text.contains("try again"),
            "each is answered: {text}"
        );
    }
    // Its check's state crossed the exec: passing at once, not back to its
    // initial status until its next run.
    let t = task(&s.status(), "h/g/0/t").cloned().expect("the task");
    assert_eq!(check_state(&t, "service: \"h\" check").0, "passing", "{}", pretty(&t));
    assert_eq!(pid(&t), first);
    assert_eq!(restarts(&t), 0);
    // The check runs on after the exec, and passes.
    let runs = lines(&s.path("checks")).len();
    s.wait_lines("checks", runs + 2);
    let t = s.wait_health("h/g/0/t", "passing");
    assert_eq!(pid(&t), first);
}

/// A task that failed for good stays failed, with its story, across a
/// re-exec (its events as they were, nothing added after its last) and
/// across a restart of supd (received first, then told what it was
/// restored as): it never runs again and its last event says why.
#[test]
fn a_task_that_failed_for_good_keeps_its_story_across_a_reexec_and_a_restart() {
    let s = Supd::new();
    let runs = s.path("runs");
    let never_again =
        "restart {\n  attempts = 0\n  mode = \"fail\"\n}\nreschedule {\n  attempts = 0\n  unlimited = false\n}";
    s.write_job("f.hcl", &sh_job("f", "", never_again, &format!("echo run >> {}; exit 3", runs.display())));
    let mut s = s.start();
    let t = s.wait_task("f/g/0/t", "failed for good", |t| t["state"] == "dead" && t["failed"] == true);
    let before = kinds(&t);
    assert_eq!(before.first().map(String::as_str), Some("Received"), "{before:?}");
    assert_eq!(before.last().map(String::as_str), Some("Not Restarting"), "{before:?}");

    reexec(&s);
    let st = s.status();
    let t = task(&st, "f/g/0/t").expect("the task after the re-exec");
    assert_eq!((t["state"].as_str(), t["failed"].as_bool()), (Some("dead"), Some(true)), "{}", pretty(t));
    assert_eq!(kinds(t), before, "the events across a re-exec are the ones before, nothing added");

    s.kill9();
    let s = s.start();
    let t = s.wait_task("f/g/0/t", "restored", |t| t["state"] == "dead");
    assert_eq!(t["failed"], true, "{}", pretty(&t));
    let got = events(&t);
    assert_eq!(got.first().map(|(k, _)| k.as_str()), Some("Received"), "{got:?}");
    let (kind, message) = got.last().cloned().unwrap_or_default();
    assert_eq!(kind, "Task Setup", "{got:?}");
    assert!(message.contains("had failed before supd restarted"), "{message}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&runs).len(), 1, "the task ran once, across the re-exec and the restart");
}
