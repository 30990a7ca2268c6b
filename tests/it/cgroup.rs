//! Resources through the real supd, as root on this machine's cgroup
//! layout (hybrid here: v1 memory and cpu, v2 for tracking): a task past its
//! memory limit is OOM-killed, reported and restarted; cpu weights divide a
//! contended core; stopping a task kills descendants that left its process
//! group, session and environment; a job larger than the node is refused;
//! a task cgroup removed under supd is made again at the next start; a
//! task without `resources` reserves nothing and is limited by nothing.
//! Every test has its own `cgroup_parent`, and checks that supd removes it.

use crate::support::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// supd.toml with a cgroup parent of this test's own.
fn config(s: &Supd, extra: &str) -> (String, String) {
    let name = format!("supd-test-{}", s.dir.path().file_name().and_then(|n| n.to_str()).expect("temporary name"));
    (format!("cgroup_parent = \"{name}\"\n{extra}"), name)
}

/// These tests need root: they run unconditionally and say so.
fn need_root() {
    assert!(nix::unistd::geteuid().is_root(), "the cgroup tests run as root (scripts/test runs them so)");
}

/// The cgroup directories of a process, in every mounted hierarchy, that
/// lie under `parent`.
fn cgroup_dirs(pid: i32, parent: &str) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mounts: Vec<(bool, Vec<String>, PathBuf)> = mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            let v2 = match r[0] {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            Some((v2, r[2].split(',').map(String::from).collect(), PathBuf::from(l[4])))
        })
        .collect();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut out = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctl, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if !path.split('/').any(|c| c == parent) {
            continue;
        }
        let mount = if ctl.is_empty() {
            mounts.iter().find(|m| m.0)
        } else {
            mounts.iter().find(|m| !m.0 && ctl.split(',').all(|c| m.1.iter().any(|o| o == c)))
        };
        if let Some(m) = mount {
            out.push(m.2.join(path.trim_start_matches('/')));
        }
    }
    out
}

/// Every directory named `name` below the cgroup mounts (a few levels deep).
fn dirs_named(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((dir, depth)) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name() == name {
                out.push(e.path());
            } else if depth < 4 {
                todo.push((e.path(), depth + 1));
            }
        }
    }
    out
}

/// Removes what a failed test left: processes, then cgroups.
struct Cleanup {
    parent: String,
    pids: Vec<i32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        // Killed processes take a moment to leave their cgroups.
        wait_until(Duration::from_secs(5), || {
            for dir in dirs_named(&self.parent) {
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        if e.file_type().is_ok_and(|t| t.is_dir()) {
                            let _ = std::fs::remove_dir(e.path());
                        }
                    }
                }
                let _ = std::fs::remove_dir(&dir);
            }
            dirs_named(&self.parent).is_empty()
        });
    }
}

/// Stops supd and checks that it removed every cgroup it made.
fn stop_and_check_cgroups_removed(mut s: Supd, parent: &str) {
    s.supctl_ok(&["shutdown"]);
    assert!(s.wait_exit(PATIENCE).is_some(), "supd did not exit\n{}", s.log());
    let left = dirs_named(parent);
    assert!(left.is_empty(), "supd left its cgroups: {left:?}\n{}", s.log());
}

fn resources(t: &Value) -> &Value {
    &t["resources"]
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_task_past_its_memory_is_oom_killed_reported_and_restarted() {
    need_root();
    let s = Supd::new();
    let (toml, parent) = config(&s, "");
    let _cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    // Grows by 4 MiB every 10 ms, touching every page, far past 40 MB.
    s.write_job(
        "oom.hcl",
        r#"job "oom" {
  group "g" {
    restart {
      attempts = 1
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "hog" {
      driver = "raw_exec"
      config {
        command = "@PY@"
        args    = ["-c", "import time\nx = []\nwhile True:\n    x.append(bytearray(4 << 20))\n    time.sleep(0.01)"]
      }
      resources {
        cpu    = 100
        memory = 40
      }
    }
  }
}"#,
    );
    let s = s.start_with_config(&toml);
    let t = s.wait_task("oom/g/0/hog", "OOM-killed twice, then given up", |t| {
        count(t, "Terminated", |m| m.contains("OOM Killed")) == 2 && t["state"] == "dead"
    });
    let ev = events(&t);
    let terminated: Vec<&String> = ev.iter().filter(|(k, _)| k == "Terminated").map(|(_, m)| m).collect();
    assert_eq!(
        terminated, ["Exit Code: 137, Signal: 9, Exit Message: \"OOM Killed\""; 2],
        "Nomad's wording, every time: {ev:?}"
    );
    // The restart policy applies as for any failure: one restart, then no more.
    assert_eq!(restarts(&t), 1, "{ev:?}");
    assert_eq!(count(&t, "Not Restarting", |m| m.contains("Exceeded allowed attempts")), 1, "{ev:?}");
    assert_eq!(t["failed"], true);
    // How long a run lasted, from its start to the OOM kill: python needs
    // ~10 MB to start, then reaches 40 MB within a few dozen allocations.
    let started = event_times(&t, "Started");
    let ended = event_times(&t, "Terminated");
    for (a, b) in started.iter().zip(&ended) {
        eprintln!("run lasted {:.0} ms until its OOM kill", (b - a) * 1000.0);
        assert!(b - a < 10.0, "an OOM kill took {:.1} s", b - a);
    }
    let r = resources(&t);
    assert_eq!(r["memory"], 40);
    assert_eq!(r["memory_limit"], 40u64 << 20, "memory is the hard limit: {r}");
    assert_eq!(r["enforced"], serde_json::json!(["memory", "cpu"]), "{r}");
    let log = s.log();
    assert!(log.contains("OOM killed: it reached its memory limit"), "{log}");
    stop_and_check_cgroups_removed(s, &parent);
}

/// CPU ticks (user + system) a process used so far.
fn ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, r)| r.split_whitespace().collect());
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_busy_task_with_more_cpu_gets_more_of_a_contended_core() {
    need_root();
    let s = Supd::new();
    let (toml, parent) = config(&s, "");
    let _cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    // Both spin on core 0; their cpu (100 vs 1000 MHz) is their weight.
    let spinner = |name: &str, cpu: u32| {
        format!(
            r#"    task "{name}" {{
      driver = "raw_exec"
      config {{
        command = "/usr/bin/taskset"
        args    = ["-c", "0", "@PY@", "-c", "while True: pass"]
      }}
      resources {{
        cpu    = {cpu}
        memory = 50
      }}
    }}
"#
        )
    };
    s.write_job(
        "spin.hcl",
        &format!("job \"spin\" {{\n  group \"g\" {{\n{}{}  }}\n}}\n", spinner("small", 100), spinner("large", 1000)),
    );
    let s = s.start_with_config(&toml);
    let small = pid(&s.wait_running("spin/g/0/small"));
    let large = pid(&s.wait_running("spin/g/0/large"));
    // Let both settle, then measure over a few seconds.
    std::thread::sleep(Duration::from_millis(500));
    let (s0, l0, t0) = (ticks(small), ticks(large), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let (ds, dl) = (ticks(small) - s0, ticks(large) - l0);
    let secs = t0.elapsed().as_secs_f64();
    let ratio = dl as f64 / ds.max(1) as f64;
    eprintln!(
        "over {secs:.1} s on one core: large used {dl} ticks, small {ds} ticks: ratio {ratio:.1} (weights 1000:100)"
    );
    assert!(dl > 0, "the large task did not run at all");
    // The weights say 10:1; anything clearly above 1 shows they count, and
    // a loaded machine keeps well above 3.
    assert!(ratio >= 3.0, "large/small cpu = {ratio:.2}, expected about 10\n{}", s.log());
    let st = s.status();
    let r = resources(task(&st, "spin/g/0/large").expect("task"));
    assert_eq!(r["cpu_weight"], 1000, "v1 shares are the MHz: {r}");
    assert!(r["cpu_seconds"].as_f64().is_some_and(|c| c > 0.5), "cpu time is reported: {r}");
    assert!(r["memory_usage"].as_u64().is_some_and(|m| m > 0), "memory use is reported: {r}");
    let text = s.supctl_ok(&["status"]);
    assert!(text.contains("MEMORY") && text.contains("/1000MHz") && text.contains("cgroups hybrid"), "{text}");
    let detail = s.supctl_ok(&["status", "spin/g/0/large"]);
    assert!(detail.contains("Resources = cpu 1000 MHz, memory 50 MB; memory limit 50M, cpu weight 1000"), "{detail}");
    stop_and_check_cgroups_removed(s, &parent);
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn stopping_a_task_kills_descendants_that_left_its_group_session_and_environment() {
    need_root();
    let s = Supd::new();
    let (toml, parent) = config(&s, "");
    let mut cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    // Two descendants no process group, session or NOMAD_* variable leads
    // back to: a setsid'd child, and a daemon whose parent exited.
    s.write_job(
        "escape.hcl",
        r#"job "escape" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "env -i setsid sh -c 'echo $$ > @DIR@/child; exec sleep 1000' & env -i setsid sh -c 'sh -c \"echo \\$$ > @DIR@/daemon; exec sleep 1000\" & exit 0' & exec sleep 1000"]
      }
    }
  }
}"#,
    );
    let s = s.start_with_config(&toml);
    let main = pid(&s.wait_running("escape/g/0/t"));
    let child: i32 = s.wait_lines("child", 1)[0].trim().parse().expect("child pid");
    let daemon: i32 = s.wait_lines("daemon", 1)[0].trim().parse().expect("daemon pid");
    cleanup.pids = vec![child, daemon];
    let sid = |p: i32| proc_info(p);
    for p in [child, daemon] {
        assert!(alive(p), "pid {p} runs");
        assert_ne!(
            nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(p))).ok(),
            nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(main))).ok(),
            "pid {p} left the task's session: {}",
            sid(p)
        );
        let env =
            String::from_utf8_lossy(&std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default()).into_owned();
        assert!(!env.contains("NOMAD_") && !env.contains(TAG), "pid {p} has no variable to be found by: {env:?}");
    }
    // All three are in the task's cgroup (without resources, the one
    // that tracks it).
    let dirs = cgroup_dirs(main, &parent);
    assert!(!dirs.is_empty(), "the task has a cgroup under {parent}: {dirs:?}");
    for d in &dirs {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        let procs: Vec<i32> = procs.split_whitespace().filter_map(|p| p.parse().ok()).collect();
        for p in [main, child, daemon] {
            assert!(procs.contains(&p), "pid {p} is in {}: {procs:?}", d.display());
        }
    }
    s.supctl_ok(&["job", "stop", "escape"]);
    s.wait_dead("escape/g/0/t");
    for (p, what) in [(main, "the task"), (child, "the setsid'd child"), (daemon, "the orphaned daemon")] {
        s.assert_gone(p, PATIENCE, what);
    }
    // Once the task is dead for good, its cgroups go.
    let gone = wait_until(PATIENCE, || dirs.iter().all(|d| !d.exists()));
    assert!(
        gone,
        "the task's cgroups are left: {:?}\n{}",
        dirs.iter().filter(|d| d.exists()).collect::<Vec<_>>(),
        s.log()
    );
    stop_and_check_cgroups_removed(s, &parent);
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_job_larger_than_the_node_is_refused_with_the_numbers() {
    need_root();
    let s = Supd::new();
    let (toml, parent) = config(&s, "cpu_total_compute = 1000\nmemory_total_mb = 2000\n");
    let _cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    let job = |name: &str, count: u32, cpu: u32| {
        format!(
            r#"job "{name}" {{
  group "g" {{
    count = {count}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["1000"]
      }}
      resources {{
        cpu    = {cpu}
        memory = 100
      }}
    }}
  }}
}}
"#
        )
    };
    let s = s.start_with_config(&toml);
    let st = s.status();
    assert_eq!((st["node"]["cpu_total"].as_u64(), st["node"]["memory_total"].as_u64()), (Some(1000), Some(2000)));
    // Larger than the whole node.
    let big = s.write_file("big.hcl", &job("big", 3, 400));
    let out = s.supctl(&["job", "run", big.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "refused: {}", describe(&out));
    assert!(
        err.contains("Resources exhausted: job \"big\" needs cpu 1200 MHz and memory 300 MB for 3 instance(s)")
            && err
                .contains("this node has cpu 1000 MHz and memory 2000 MB, of which other jobs reserve 0 MHz and 0 MB")
            && err.contains("Dimension \"cpu\" exhausted"),
        "{err}"
    );
    // One that fits, then one that would not fit beside it.
    let a = s.write_file("a.hcl", &job("a", 1, 600));
    s.supctl_ok(&["job", "run", a.to_str().expect("path")]);
    s.wait_running("a/g/0/t");
    let b = s.write_file("b.hcl", &job("b", 1, 600));
    let out = s.supctl(&["job", "run", b.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(err.contains("other jobs reserve 600 MHz and 100 MB"), "{err}");
    // The same through the job directory: reload refuses it, a runs on.
    s.write_job("b.hcl", &job("b", 1, 600));
    let out = s.supctl(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(err.contains("job \"b\" not loaded: Resources exhausted"), "{err}");
    let st = s.status();
    assert!(st["jobs"].as_array().expect("jobs").iter().all(|j| j["name"] != "b"), "{}", pretty(&st));
    assert_eq!(st["node"]["cpu_reserved"], 600);
    // Once a is stopped, b fits.
    s.supctl_ok(&["job", "stop", "a"]);
    s.wait_dead("a/g/0/t");
    s.supctl_ok(&["reload"]);
    s.wait_running("b/g/0/t");
    stop_and_check_cgroups_removed(s, &parent);
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_task_cgroup_removed_under_supd_is_made_again_at_the_next_start() {
    need_root();
    let s = Supd::new();
    let (toml, parent) = config(&s, "");
    let _cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    s.write_job(
        "again.hcl",
        r#"job "again" {
  group "g" {
    restart {
      attempts = 10
      interval = "1m"
      delay    = "1s"
      mode     = "delay"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        cpu    = 10
        memory = 32
      }
    }
  }
}"#,
    );
    let s = s.start_with_config(&toml);
    let first = pid(&s.wait_running("again/g/0/t"));
    let dirs = cgroup_dirs(first, &parent);
    assert!(!dirs.is_empty(), "the task runs in cgroups under {parent}");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::Signal::SIGKILL);
    s.wait_task("again/g/0/t", "waiting to restart", |t| t["state"] == "pending");
    // While it waits out its delay, its (now empty) cgroups are removed.
    for d in &dirs {
        assert!(wait_until(PATIENCE, || std::fs::remove_dir(d).is_ok() || !d.exists()), "cannot remove {d:?}");
    }
    let t = s.wait_task("again/g/0/t", "running again", |t| t["state"] == "running" && pid(t) != first);
    let again = cgroup_dirs(pid(&t), &parent);
    assert_eq!(again.len(), dirs.len(), "in new cgroups: {again:?}");
    assert!(again.iter().all(|d| d.exists()), "{again:?}");
    assert_eq!(count(&t, "Driver Failure", |_| true), 0, "made again at once: {:?}", events(&t));
    assert!(s.log().contains("starting it in a new cgroup"), "supd says so\n{}", s.log());
    assert_eq!(restarts(&t), 1);
    stop_and_check_cgroups_removed(s, &parent);
}

/// A task with `resources` that restarts after a quiet spell joins its v1
/// cgroups at each start. Such a join would make the loop wait for the
/// cgroup core (an RCU grace period); supd warms the core up on a thread of
/// its own first and holds only that start meanwhile. Each run still lands
/// in every one of its cgroups.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_task_with_resources_restarting_after_a_pause_joins_its_cgroups_each_time() {
    need_root();
    let s = Supd::new();
    let (toml, parent) = config(&s, "");
    let _cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    s.write_job(
        "pause.hcl",
        r#"job "pause" {
  group "g" {
    restart {
      attempts = 20
      interval = "1m"
      delay    = "0s"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 0.4; exit 1"]
      }
      resources {
        cpu    = 10
        memory = 32
      }
    }
  }
}"#,
    );
    let s = s.start_with_config(&toml);
    let first = pid(&s.wait_running("pause/g/0/t"));
    let dirs = cgroup_dirs(first, &parent);
    assert!(!dirs.is_empty(), "the task runs in cgroups under {parent}");
    let mut seen = vec![first];
    let mut checked = 0;
    while seen.len() < 4 {
        let t = s.wait_task("pause/g/0/t", "running again", |t| {
            t["state"] == "running" && t["pid"].as_i64().is_some_and(|p| !seen.contains(&(p as i32)))
        });
        let p = pid(&t);
        let now = cgroup_dirs(p, &parent);
        if alive(p) {
            assert_eq!(now, dirs, "run {} (pid {p}) is in the same cgroups", seen.len() + 1);
            checked += 1;
        }
        seen.push(p);
    }
    assert!(checked >= 1, "none of 3 restarted runs was seen alive (each lives 0.4 s)");
    let t = task(&s.status(), "pause/g/0/t").cloned().expect("task");
    assert_eq!(count(&t, "Driver Failure", |_| true), 0, "{:?}", events(&t));
    stop_and_check_cgroups_removed(s, &parent);
}

/// A job of `n` tasks sleeping, with or without a `resources` block.
fn sleepers(name: &str, n: usize, resources: &str) -> String {
    let task = |i: usize| {
        format!(
            "    task \"t{i}\" {{\n      driver = \"raw_exec\"\n      config {{\n        command = \"/bin/sleep\"\n        args    = [\"1000\"]\n      }}\n{resources}    }}\n"
        )
    };
    format!("job \"{name}\" {{\n  group \"g\" {{\n{}  }}\n}}\n", (0..n).map(task).collect::<String>())
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_task_without_resources_reserves_nothing_and_is_limited_by_nothing() {
    need_root();
    let s = Supd::new();
    // Two tasks reserving Nomad's default 100 MHz would not fit in 150.
    let (toml, parent) = config(&s, "cpu_total_compute = 150\n");
    let _cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    s.write_job("free.hcl", &sleepers("free", 2, ""));
    s.write_job(
        "held.hcl",
        &sleepers("held", 1, "      resources {\n        cpu    = 50\n        memory = 64\n      }\n"),
    );
    let s = s.start_with_config(&toml);
    let free = pid(&s.wait_running("free/g/0/t0"));
    s.wait_running("free/g/0/t1");
    let held = pid(&s.wait_running("held/g/0/t0"));
    let st = s.status();
    assert_eq!(st["node"]["cpu_reserved"], 50, "only the task with resources reserves: {}", pretty(&st["node"]));
    assert_eq!(st["node"]["memory_reserved"], 64);
    assert_eq!(st["node"]["unreserved_tasks"], 2);
    // Only a tracking cgroup: on this hybrid host the v2 one, none of v1.
    let dirs = cgroup_dirs(free, &parent);
    assert_eq!(dirs.len(), 1, "one cgroup: {dirs:?}");
    let v2 = std::fs::read_to_string(format!("/proc/{free}/cgroup")).expect("cgroup");
    assert!(v2.lines().filter(|l| l.contains(&parent)).all(|l| l.starts_with("0::")), "{v2}");
    let env = environ(free);
    assert!(!env.contains("NOMAD_CPU_LIMIT") && !env.contains("NOMAD_MEMORY_LIMIT"), "no limits told: {env}");
    assert!(env.contains("NOMAD_TASK_NAME=t0"));
    let r = resources(task(&st, "free/g/0/t0").expect("task"));
    assert_eq!(r["unreserved"], true, "{r}");
    assert_eq!(r["enforced"], serde_json::json!([]), "{r}");
    assert!(r.get("memory_limit").is_none() && r.get("cpu_weight").is_none(), "{r}");
    assert!(r["memory_usage"].as_u64().is_some_and(|m| m > 0), "memory in use is still shown: {r}");
    // The task with resources keeps its limits, in v1 here.
    let r = resources(task(&st, "held/g/0/t0").expect("task"));
    assert!(r.get("unreserved").is_none(), "{r}");
    assert_eq!(r["memory_limit"], 64u64 << 20, "{r}");
    assert_eq!(r["enforced"], serde_json::json!(["memory", "cpu"]), "{r}");
    let held_env = environ(held);
    assert!(held_env.contains("NOMAD_CPU_LIMIT=50") && held_env.contains("NOMAD_MEMORY_LIMIT=64"), "{held_env}");
    assert!(cgroup_dirs(held, &parent).len() > 1, "v1 memory and cpu cgroups too");
    let text = s.supctl_ok(&["status"]);
    assert!(text.contains("2 tasks without resources reserve nothing"), "{text}");
    assert!(text.contains("(unreserved)"), "{text}");
    let detail = s.supctl_ok(&["status", "free/g/0/t0"]);
    assert!(detail.contains("Resources = none declared: no reservation, no limits; using memory"), "{detail}");
    stop_and_check_cgroups_removed(s, &parent);
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_hundred_job_files_without_resources_all_run_with_no_supd_toml() {
    need_root();
    let mut s = Supd::new();
    for i in 0..100 {
        s.write_job(&format!("svc{i}.hcl"), &sleepers(&format!("svc{i}"), 1, ""));
    }
    s = s.start();
    let st = s.wait_status("all 100 tasks running", |st| {
        let jobs = st["jobs"].as_array().map_or(0, Vec::len);
        jobs == 100 && (0..100).all(|i| task(st, &format!("svc{i}/g/0/t0")).is_some_and(|t| t["state"] == "running"))
    });
    assert_eq!(st["node"]["cpu_reserved"], 0, "{}", pretty(&st["node"]));
    assert_eq!(st["node"]["unreserved_tasks"], 100);
    assert!(!s.log().contains("Resources exhausted"), "{}", s.log());
    s.supctl_ok(&["shutdown"]);
    assert!(s.wait_exit(PATIENCE).is_some(), "supd did not exit\n{}", s.log());
}

/// A task that forks leaves a child in its cgroup when it ends, which
/// supd kills there. Each later run of the task must still start and keep
/// running in that cgroup: restarted by the operator five times (no
/// restart attempt spent: the policy allows two) and by its restart
/// policy after a failure.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_forking_task_restarts_by_the_operator_and_by_its_policy_each_time() {
    need_root();
    let s = Supd::new();
    let (toml, parent) = config(&s, "");
    let _cleanup = Cleanup { parent: parent.clone(), pids: Vec::new() };
    let job = |name: &str, script: &str| {
        format!(
            r#"job "{name}" {{
  group "g" {{
    restart {{
      attempts = 2
      interval = "10m"
      delay    = "0s"
      mode     = "fail"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
    }}
  }}
}}"#
        )
    };
    s.write_job("fork.hcl", &job("fork", "sleep 1000 & wait"));
    s.write_job("crash.hcl", &job("crash", "sleep 1000 & sleep 0.5; exit 1"));
    let s = s.start_with_config(&toml);
    let mut seen = vec![pid(&s.wait_running("fork/g/0/t"))];
    let killed = |t: &Value| count(t, "Terminated", |m| m.contains("Signal: 9"));
    for round in 1..=5 {
        s.supctl_ok(&["restart", "fork/g/0/t"]);
        let t = s.wait_task("fork/g/0/t", "running again", |t| {
            t["state"] == "running" && t["pid"].as_i64().is_some_and(|p| !seen.contains(&(p as i32)))
        });
        let p = pid(&t);
        // A start into a cgroup that kills what joins it ends at once.
        std::thread::sleep(Duration::from_millis(300));
        let t = task(&s.status(), "fork/g/0/t").cloned().expect("task");
        assert!(
            t["state"] == "running" && pid(&t) == p && alive(p) && killed(&t) == 0,
            "restart {round}: pid {p} keeps running\n{}\n{}",
            pretty(&t),
            s.log()
        );
        seen.push(p);
    }
    // Each run of the failing task lives its half second and exits 1; no
    // run is SIGKILLed at its start.
    let t = s.wait_task("crash/g/0/t", "failed after its attempts", |t| t["state"] == "dead");
    assert_eq!(restarts(&t), 2, "{}", pretty(&t));
    assert_eq!(killed(&t), 0, "no run of the failing task was killed: {:?}", events(&t));
    assert!(count(&t, "Terminated", |m| m.contains("Exit Code: 1")) >= 2, "{:?}", events(&t));
    stop_and_check_cgroups_removed(s, &parent);
}
