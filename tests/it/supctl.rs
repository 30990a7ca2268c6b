//! supctl as an operator meets it, through the real binaries: the exit
//! status of `status`, the filters of `events`, both streams and times in
//! `logs`, `--json` where it does not apply, the table fitted to the
//! terminal, what a dead task shows, `shutdown` in supd's log, and
//! `signal TARGET 0` as a liveness probe.

use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A service whose script check passes while `@DIR@/healthy` exists.
const CHECKED: &str = r#"
job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        check {
          name     = "file"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -e @DIR@/healthy || exit 2"]
          interval = "200ms"
          timeout  = "2s"
        }
      }
    }
  }
}
"#;

/// A batch job whose task completes, with a poststop task that waits for
/// its turn until the instance ends.
const BATCH: &str = r#"
job "once" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"#;

const WITH_POSTSTOP: &str = r#"
job "side" {
  group "g" {
    task "main" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
    task "cleanup" {
      lifecycle {
        hook = "poststop"
      }
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"#;

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn status_exits_0_only_when_every_selected_task_is_up() {
    let s = Supd::new();
    std::fs::write(s.path("healthy"), "").unwrap();
    s.write_job("web.hcl", CHECKED);
    s.write_job("once.hcl", BATCH);
    s.write_job("side.hcl", WITH_POSTSTOP);
    let s = s.start();
    s.wait_health("web/g/0/t", "passing");
    s.wait_task("once/g/0/t", "completed", |t| t["state"] == "dead" && t["exit_code"] == 0);
    s.wait_running("side/g/0/main");

    // Running and passing, completed, and a poststop task waiting: all up.
    for args in [&["status"][..], &["--json", "status"], &["status", "web/g/0/t"], &["status", "once"]] {
        let out = s.supctl(args);
        assert_eq!(code(&out), Some(0), "supctl {args:?}: {}\n{}", describe(&out), s.log());
    }
    let side = task(&s.status(), "side/g/0/cleanup").cloned().expect("poststop task");
    assert_eq!((side["state"].as_str(), side["hook"].as_str()), (Some("pending"), Some("poststop")), "{side}");

    // The check fails: 4, for the whole node and for that job, with the
    // same output as before (text, and JSON that is the status).
    std::fs::remove_file(s.path("healthy")).unwrap();
    s.wait_health("web/g/0/t", "critical");
    for args in [&["status"][..], &["status", "web"], &["status", "web/g/0"]] {
        let out = s.supctl(args);
        assert_eq!(code(&out), Some(4), "supctl {args:?}: {}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("critical"), "supctl {args:?} still prints the status: {text}");
    }
    let out = s.supctl(&["--json", "status", "web"]);
    assert_eq!(code(&out), Some(4), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(v["jobs"][0]["groups"][0]["instances"][0]["tasks"][0]["health"], "critical");
    assert!(v.get("exit").is_none() && v["version"] == 1, "the JSON is the status, unchanged: {v}");
    // Printed as supd sent it, on one line when not on a terminal: the
    // same text as the status decoded and encoded again.
    let typed: supd::control::protocol::Status = serde_json::from_slice(&out.stdout).expect("a status");
    let again = serde_json::to_string(&typed).unwrap() + "\n";
    assert_eq!(String::from_utf8_lossy(&out.stdout), again);
    // On a terminal, pretty.
    let pty = Command::new("script")
        .args(["-qec", &format!("{SUPCTL} --socket {} --json status web", s.socket().display()), "/dev/null"])
        .output()
        .expect("script(1)");
    let text = String::from_utf8_lossy(&pty.stdout).replace("\r\n", "\n");
    let on_terminal: supd::control::protocol::Status = serde_json::from_str(&text).expect("a status");
    assert_eq!(text, serde_json::to_string_pretty(&on_terminal).unwrap() + "\n", "{}", describe(&pty));
    // What is selected decides: the other jobs are still up.
    let out = s.supctl(&["status", "once"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));

    // Healthy again: 0.
    std::fs::write(s.path("healthy"), "").unwrap();
    s.wait_health("web/g/0/t", "passing");
    assert_eq!(code(&s.supctl(&["status"])), Some(0));

    // A stopped job is not up.
    s.supctl_ok(&["job", "stop", "side"]);
    s.wait_dead("side/g/0/main");
    let out = s.supctl(&["status", "side"]);
    assert_eq!(code(&out), Some(4), "{}", describe(&out));
    // No supd: still 3, not 4.
    let none = Command::new(SUPCTL).args(["--socket", "/nonexistent/supd.sock", "status"]).output().unwrap();
    assert_eq!(code(&none), Some(3), "{}", describe(&none));
}

#[test]
fn a_failed_task_makes_status_exit_4() {
    let s = Supd::new();
    s.write_job(
        "bad.hcl",
        r#"
job "bad" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/false"
      }
    }
  }
}
"#,
    );
    let s = s.start();
    s.wait_task("bad/g/0/t", "failed", |t| t["state"] == "dead" && t["failed"] == true);
    let out = s.supctl(&["status"]);
    assert_eq!(code(&out), Some(4), "{}", describe(&out));
    let out = s.supctl(&["--json", "status", "bad/g/0/t"]);
    assert_eq!(code(&out), Some(4), "{}", describe(&out));
}

const TWO: &str = r#"
job "a" {
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
job "b" {
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
"#;

/// `(task, type)` of each line of `supctl events` text output.
fn event_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split("  ").collect();
            (f.get(1).unwrap_or(&"").to_string(), f.get(2).unwrap_or(&"").to_string())
        })
        .collect()
}

#[test]
fn events_filter_by_target_and_time() {
    let s = Supd::new();
    s.write_job("two.hcl", TWO);
    let s = s.start();
    s.wait_running("a/g/0/t");
    s.wait_running("b/g/0/t");

    let all = event_rows(&s.supctl_ok(&["events"]));
    assert!(all.iter().any(|(t, _)| t == "a.g[0]/t") && all.iter().any(|(t, _)| t == "b.g[0]/t"), "{all:?}");
    for target in ["a", "a/g", "a/g/0", "a/g/0/t", "a.g[0]"] {
        let rows = event_rows(&s.supctl_ok(&["events", target]));
        assert!(!rows.is_empty() && rows.iter().all(|(t, _)| t == "a.g[0]/t"), "events {target}: {rows:?}");
    }
    let out = s.supctl(&["events", "nope"]);
    assert_eq!(code(&out), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no job \"nope\""), "{}", describe(&out));

    // --since: the events from a moment on, by RFC 3339 time or by
    // duration. The restart comes after `mark`.
    std::thread::sleep(Duration::from_millis(50));
    let mark_secs = now_secs();
    std::thread::sleep(Duration::from_millis(50));
    s.supctl_ok(&["restart", "b"]);
    s.wait_task("b/g/0/t", "restarted", |t| restarts(t) == 1 && t["state"] == "running");
    let ndjson = |out: String| -> Vec<Value> {
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    };
    let recent = ndjson(s.supctl_ok(&["--json", "events", "--since", "30s"]));
    assert!(recent.len() >= all.len(), "30s covers the whole test so far: {recent:?}");
    let since_mark = rfc3339_of(mark_secs);
    let recent = ndjson(s.supctl_ok(&["--json", "events", "--since", &since_mark]));
    let kinds: Vec<&str> = recent.iter().map(|e| e["type"].as_str().unwrap_or_default()).collect();
    assert!(kinds.contains(&"Restart Signaled") && !kinds.contains(&"Received"), "since {since_mark}: {kinds:?}");
    assert!(
        recent.iter().all(|e| rfc3339_secs(e["time"].as_str().unwrap()) >= mark_secs - 0.001 && e["job"] == "b"),
        "{recent:?}"
    );
    let out = s.supctl(&["events", "--since", "soon"]);
    assert_eq!(code(&out), Some(2), "a bad duration is a usage error: {}", describe(&out));

    // -f with a target: only that target's new events stream.
    let mut follow = Command::new(SUPCTL)
        .args(["--socket", s.socket().to_str().unwrap(), "events", "-f", "--since", "0s", "a"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("supctl events -f");
    let mut reader = BufReader::new(follow.stdout.take().unwrap());
    // Something to flush past: b first, then a.
    std::thread::sleep(Duration::from_millis(200));
    s.supctl_ok(&["restart", "b"]);
    s.supctl_ok(&["restart", "a"]);
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push(line.clone());
        if line.contains("Started") {
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let rows = event_rows(&seen.concat());
    assert!(rows.iter().any(|(_, k)| k == "Restart Signaled"), "a's restart streamed: {seen:?}");
    assert!(rows.iter().all(|(t, _)| t == "a.g[0]/t"), "only a's events: {seen:?}");
}

/// `2026-11-28T05:06:07.123Z` for seconds since 1970 (whole milliseconds,
/// rounded up so that the time is not before `secs`).
fn rfc3339_of(secs: f64) -> String {
    let ms = (secs * 1000.0).ceil() as u64;
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    supd::timefmt::rfc3339(t)
}

/// A task that writes `out N` to stdout and `err N` to stderr in turn,
/// 100 ms apart.
const TALKER: &str = r#"
job "talk" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "i=0; while true; do echo out $i; sleep 0.1; echo err $i >&2; sleep 0.1; i=$((i+1)); done"]
      }
    }
  }
}
"#;

#[test]
fn logs_all_gives_both_streams_and_t_the_times_it_has() {
    let s = Supd::new();
    s.write_job("talk.hcl", TALKER);
    let s = s.start();
    s.wait_running("talk/g/0/t");
    let ok = wait_until(PATIENCE, || {
        String::from_utf8_lossy(&s.supctl(&["logs", "talk", "--stderr"]).stdout).contains("err 3")
    });
    assert!(ok, "{}", s.log());

    // Without -f: the last 6 lines of both, stdout's on stdout, stderr's
    // on stderr (they alternate: 3 and 3).
    let out = s.supctl(&["logs", "talk", "--all", "-n", "6"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 3, "{}", describe(&out));
    assert!(stdout.lines().all(|l| l.starts_with("out ")), "{}", describe(&out));
    assert_eq!(stderr.lines().count(), 3, "{}", describe(&out));
    assert!(stderr.lines().all(|l| l.starts_with("err ")), "{}", describe(&out));

    // With -f -t, both streams into one pipe: the stored lines first, merged
    // in the order supd read them and each with that time, then new lines
    // in the order written.
    let (read, write) = std::io::pipe().expect("pipe");
    let started = now_secs();
    let mut follow = Command::new(SUPCTL)
        .args(["--socket", s.socket().to_str().unwrap(), "logs", "talk", "--all", "-t", "-f", "-n", "4"])
        .stdout(write.try_clone().unwrap())
        .stderr(write)
        .spawn()
        .expect("supctl logs -f");
    let mut reader = BufReader::new(read);
    let mut lines = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while lines.len() < 4 + 8 && Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        lines.push(line.trim_end().to_string());
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let ended = now_secs();
    assert_eq!(lines.len(), 12, "{lines:#?}\n{}", s.log());
    let (stored, live) = lines.split_at(4);
    let mut stored_times = Vec::new();
    for l in stored {
        let (time, _) = l.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
        let secs = rfc3339_secs(time);
        assert!(secs >= started - 30.0 && secs <= ended + 0.5, "a stored line's time: {l:?}");
        stored_times.push(secs);
    }
    assert!(stored_times.windows(2).all(|w| w[1] >= w[0]), "stored lines in the order read: {stored:#?}");
    let mut last = (String::new(), -1i64);
    let mut times = Vec::new();
    for l in stored.iter().chain(live) {
        let (time, text) = l.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
        let secs = rfc3339_secs(time);
        assert!(secs >= started - 30.0 && secs <= ended + 0.5, "{l:?}: not between {started} and {ended}");
        times.push(secs);
        let (stream, n) = text.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
        let n: i64 = n.parse().unwrap_or_else(|_| panic!("{l:?}"));
        // out N, err N, out N+1, err N+1, …: the streams alternate.
        if !last.0.is_empty() {
            let expected = if last.0 == "out" { ("err", last.1) } else { ("out", last.1 + 1) };
            assert_eq!((stream, n), expected, "after {last:?}: {live:#?}");
        }
        last = (stream.to_string(), n);
    }
    assert!(times.windows(2).all(|w| w[1] >= w[0]), "times in order: {live:#?}");
    // 100 ms between lines: 12 lines span at least ~0.5 s.
    let span = times.last().unwrap() - times.first().unwrap();
    assert!((0.5..5.0).contains(&span), "8 lines 100 ms apart span {span:.3}s: {live:#?}");

    // --since: only what supd read in the last second (every such line,
    // not the last 10), and nothing after a time still to come.
    let asked = now_secs();
    let out = s.supctl(&["logs", "talk", "-t", "--since", "1s"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    let recent: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| rfc3339_secs(l.split_once(' ').map_or(l, |(t, _)| t)))
        .collect();
    assert!(recent.len() >= 2, "a second holds ~5 lines: {}", describe(&out));
    assert!(recent.iter().all(|t| *t >= asked - 1.5), "{recent:?} (asked at {asked})");
    let out = s.supctl(&["logs", "talk", "--since", "2099-01-01T00:00:00Z"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{}", describe(&out));

    // Usage errors: --json, and --all with --stderr.
    for args in
        [&["--json", "logs", "talk"][..], &["logs", "talk", "--all", "--stderr"], &["--json", "completions", "bash"]]
    {
        let out = s.supctl(args);
        assert_eq!(code(&out), Some(2), "supctl {args:?}: {}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"), "{}", describe(&out));
    }
    // --json works where it means something: a change prints its answer.
    let out = s.supctl_ok(&["--json", "restart", "talk"]);
    let v: Value = serde_json::from_str(&out).expect("JSON answer");
    assert_eq!(v["ok"], true, "{v}");
}

/// A job whose task fails at once and for good (its last event is long:
/// "Not Restarting: Exceeded allowed attempts …"), with a memory limit.
const LONG_EVENT: &str = r#"
job "gone" {
  group "g" {
    restart {
      attempts = 1
      interval = "30m"
      delay    = "0s"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/false"
      }
      resources {
        memory = 64
      }
    }
  }
}
"#;

#[test]
fn the_table_fits_the_terminal_and_a_dead_task_shows_no_memory() {
    let s = Supd::new();
    s.write_job("gone.hcl", LONG_EVENT);
    let s = s.start();
    let t = s.wait_task("gone/g/0/t", "failed", |t| t["state"] == "dead" && t["failed"] == true);
    let message = events(&t).last().map(|(k, m)| format!("{k}: {m}")).expect("an event");
    assert!(message.chars().count() > 60, "{message}");

    let table_row = |text: &str| -> String {
        text.lines().find(|l| l.starts_with("gone.g[0]")).unwrap_or_else(|| panic!("no row: {text}")).to_string()
    };
    // COLUMNS=110: the row within 110 columns, the event cut.
    let out = Command::new(SUPCTL)
        .args(["--socket", s.socket().to_str().unwrap(), "status"])
        .env("COLUMNS", "110")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = table_row(&text);
    assert!(row.chars().count() <= 110 && row.ends_with('…'), "{row:?} ({} chars)", row.chars().count());
    let header = text.lines().find(|l| l.starts_with("INSTANCE")).unwrap();
    let at = header.find("MEMORY").unwrap();
    let memory: String = row.chars().skip(header[..at].chars().count()).take_while(|c| *c != ' ').collect();
    assert_eq!(memory, "-", "a dead task holds no memory: {row:?}");

    // A real terminal of 100 columns (script(1) gives supctl a pty).
    let cmd = format!("stty cols 100 rows 40 && exec {SUPCTL} --socket {} status", s.socket().display());
    let out =
        Command::new("script").args(["-q", "-e", "-c", &cmd, "/dev/null"]).env_remove("COLUMNS").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let row = table_row(&text);
    assert!(row.chars().count() <= 100 && row.ends_with('…'), "on a 100-column terminal: {row:?}");

    // Into a pipe: the whole text; and in the detail view and JSON.
    let row = table_row(&s.supctl_ok(&["status"]));
    assert!(row.ends_with(&message), "{row:?} should end with {message:?}");
    let detail = s.supctl_ok(&["status", "gone/g/0/t"]);
    assert!(detail.contains(&t["events"].as_array().unwrap().last().unwrap()["message"].as_str().unwrap().to_string()));
    let out = Command::new(SUPCTL)
        .args(["--socket", s.socket().to_str().unwrap(), "--json", "status"])
        .env("COLUMNS", "40")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = task(&v, "gone/g/0/t").unwrap()["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(format!("{}: {}", last["type"].as_str().unwrap(), last["message"].as_str().unwrap()), message);
}

#[test]
fn signal_0_probes_without_signalling() {
    let s = Supd::new();
    s.write_job("two.hcl", TWO);
    s.write_job("once.hcl", BATCH);
    let s = s.start();
    let t = s.wait_running("a/g/0/t");
    s.wait_task("once/g/0/t", "completed", |t| t["state"] == "dead");
    let out = s.supctl(&["signal", "a", "0"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("(pid {}) is alive", pid(&t))),
        "{}",
        describe(&out)
    );
    // Nothing was sent: no event, the same process.
    let after = task(&s.status(), "a/g/0/t").cloned().unwrap();
    assert!(!kinds(&after).iter().any(|k| k == "Signaling"), "{}", pretty(&after));
    assert_eq!(pid(&after), pid(&t));
    // A task that is not running: 1, with the reason.
    let out = s.supctl(&["signal", "once", "0"]);
    assert_eq!(code(&out), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running task"), "{}", describe(&out));
    let out = s.supctl(&["signal", "nope", "0"]);
    assert_eq!(code(&out), Some(1), "{}", describe(&out));
}

#[test]
fn shutdown_is_logged_as_a_request() {
    let s = Supd::new();
    s.write_job("two.hcl", TWO);
    let mut s = s.start();
    s.wait_running("a/g/0/t");
    s.supctl_ok(&["shutdown"]);
    let status = s.wait_exit(PATIENCE).expect("supd exits after shutdown");
    assert!(status.success(), "{status}\n{}", s.log());
    let log = s.log();
    assert!(log.contains("shutdown requested over the control socket"), "{log}");
    assert!(!log.contains("SIGTERM"), "no signal was involved: {log}");
}

/// `status` as a table asks supd for each task's last event only (the
/// table shows no more, and 500 tasks' full event lists made the answer
/// several times larger); `--json` and the detail view keep them all.
#[test]
fn the_status_table_asks_for_the_last_event_only() {
    let s = Supd::new();
    s.write_job("web.hcl", &sleep_job("web"));
    let s = s.start();
    s.wait_running("web/g/0/t");
    s.supctl_ok(&["restart", "web/g/0/t"]);
    assert!(
        wait_until(PATIENCE, || s
            .status()
            .pointer("/jobs/0/groups/0/instances/0/tasks/0/events")
            .and_then(Value::as_array)
            .is_some_and(|e| e.len() >= 4 && e.last().is_some_and(|e| e["type"] == "Started"))),
        "the restarted task has no events\n{}",
        pretty(&s.status())
    );
    let all = events(task(&s.status(), "web/g/0/t").expect("the task"));
    let ask = |line: &str| {
        let mut c = std::os::unix::net::UnixStream::connect(s.socket()).expect("connect");
        std::io::Write::write_all(&mut c, line.as_bytes()).expect("send");
        let mut answer = String::new();
        BufReader::new(&c).read_line(&mut answer).expect("answer");
        serde_json::from_str::<Value>(&answer).expect("an answer")
    };
    let one = ask("{\"version\":1,\"cmd\":\"status\",\"events\":1}\n");
    let one = events(task(&one["status"], "web/g/0/t").expect("the task"));
    assert_eq!(one.as_slice(), &all[all.len() - 1..], "{one:?} against {all:?}");
    let none = ask("{\"version\":1,\"cmd\":\"status\",\"events\":0}\n");
    assert!(events(task(&none["status"], "web/g/0/t").expect("the task")).is_empty());

    // What the operator sees: the table's LAST EVENT is the last one;
    // the detail view lists every event.
    let table = s.supctl_ok(&["status"]);
    assert!(table.contains("Task started by client"), "{table}");
    let detail = s.supctl_ok(&["status", "web/g/0"]);
    for (kind, _) in &all {
        assert!(detail.contains(kind.as_str()), "{kind} missing from\n{detail}");
    }
    assert!(detail.contains("Restart Signaled"), "{detail}");
}

/// `job run` of another version of a job that comes from the job
/// directory is refused (the next reload would undo it without a word);
/// the same version starts it again after `job stop`.
#[test]
fn job_run_does_not_override_a_job_of_the_job_directory() {
    let s = Supd::new();
    let file = s.write_job("web.hcl", &sleep_job("web"));
    let s = s.start();
    let before = pid(&s.wait_running("web/g/0/t"));
    let other = s.write_file("other.hcl", &sleep_job("web").replace("1000", "2000"));
    let out = s.supctl(&["job", "run", other.to_str().expect("a UTF-8 path")]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in the job directory") && stderr.contains("supctl reload"), "{stderr}");
    assert_eq!(pid(task(&s.status(), "web/g/0/t").expect("the task")), before, "the running task was replaced");
    s.supctl_ok(&["reload"]);
    assert_eq!(pid(task(&s.status(), "web/g/0/t").expect("the task")), before);

    s.supctl_ok(&["job", "stop", "web"]);
    s.wait_task("web/g/0/t", "stopped", |t| t["state"] == "dead");
    s.supctl_ok(&["job", "run", file.to_str().expect("a UTF-8 path")]);
    let after = pid(&s.wait_running("web/g/0/t"));
    assert_ne!(after, before);
    assert!(cmdline_of(after).contains("1000"), "{}", cmdline_of(after));
}

/// `job stop` then `job start` of a job of the job directory runs it again
/// from its file; so does `job run` of the same file. Either way, after a
/// restart of supd exactly one copy runs, and no stale copy was saved
/// (nothing is started and then killed).
#[test]
fn job_start_and_run_again_of_a_directory_job_leave_no_stale_copy() {
    let s = Supd::new();
    let file = s.write_job("web.hcl", &sleep_job("web"));
    let mut s = s.start();
    let first = pid(&s.wait_running("web/g/0/t"));
    s.supctl_ok(&["job", "stop", "web"]);
    s.wait_dead("web/g/0/t");
    let said = s.supctl_ok(&["job", "start", "web"]);
    // Said as what it is: nothing running was replaced.
    assert_eq!(said.trim(), "job \"web\" started (it was stopped)");
    let second = pid(&s.wait_running("web/g/0/t"));
    assert_ne!(second, first);
    assert!(s.supctl_ok(&["job", "start", "web"]).contains("is not stopped"));
    s.supctl_ok(&["job", "stop", "web"]);
    s.wait_dead("web/g/0/t");
    s.supctl_ok(&["job", "run", file.to_str().unwrap()]);
    s.wait_running("web/g/0/t");
    let st = s.status();
    assert_eq!(
        st["jobs"].as_array().unwrap().iter().find(|j| j["name"] == "web").unwrap()["file"],
        file.to_str().unwrap(),
        "it still follows its file"
    );
    // A graceful restart of supd: one copy, started once, nothing killed.
    let pid_supd = s.pid();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid_supd), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(s.wait_exit(PATIENCE).is_some_and(|st| st.success()));
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = Supd { dir, child: None }.start();
    s2.wait_running("web/g/0/t");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s2.procs_running("/bin/sleep 1000").len(), 1, "{}", s2.log());
    assert!(!s2.log().contains("replaced") && !s2.log().contains("killing"), "{}", s2.log());
}

/// `job stop --purge` forgets a job submitted with `job run`: it is no
/// longer listed, and a restart of supd does not run it again. A job of
/// the job directory is refused, with how to remove it.
#[test]
fn job_stop_purge_forgets_a_submitted_job_and_refuses_a_directory_one() {
    let s = Supd::new();
    s.write_job("dir.hcl", &sleep_job("dir"));
    let mut s = s.start();
    let extra = s.write_file("extra.hcl", &sleep_job("extra"));
    s.supctl_ok(&["job", "run", extra.to_str().unwrap()]);
    let t = s.wait_running("extra/g/0/t");
    let out = s.supctl(&["job", "stop", "--purge", "dir"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(describe(&out).contains("remove (or rename) that file"), "{}", describe(&out));
    s.wait_running("dir/g/0/t");
    s.supctl_ok(&["job", "stop", "--purge", "extra"]);
    s.assert_gone(pid(&t), PATIENCE, "the purged job's task");
    assert!(
        wait_until(PATIENCE, || job_status(&s.status(), "extra").is_empty()),
        "the purged job is still listed: {}",
        pretty(&s.status())
    );
    let out = s.supctl(&["job", "start", "extra"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(s.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(s.wait_exit(PATIENCE).is_some_and(|st| st.success()));
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = Supd { dir, child: None }.start();
    s2.wait_running("dir/g/0/t");
    assert!(job_status(&s2.status(), "extra").is_empty(), "the purged job came back: {}", pretty(&s2.status()));
}

/// `events --type` and `--task` filter what is listed and what `-f`
/// streams, with `--json` too.
#[test]
fn events_filter_by_type_and_task_name() {
    let s = Supd::new();
    s.write_job("two.hcl", TWO);
    let s = s.start();
    s.wait_running("a/g/0/t");
    s.wait_running("b/g/0/t");
    s.supctl_ok(&["restart", "b"]);
    s.wait_task("b/g/0/t", "restarted", |t| restarts(t) == 1 && t["state"] == "running");
    let rows = event_rows(&s.supctl_ok(&["events", "--type", "Restart Signaled,Terminated"]));
    assert!(!rows.is_empty(), "{rows:?}");
    assert!(rows.iter().all(|(t, k)| t == "b.g[0]/t" && (k == "Restart Signaled" || k == "Terminated")), "{rows:?}");
    let json: Vec<Value> = s
        .supctl_ok(&["--json", "events", "--task", "t", "--type", "started"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let jobs: Vec<&str> = json.iter().map(|e| e["job"].as_str().unwrap()).collect();
    assert!(jobs.contains(&"a") && jobs.contains(&"b"), "{json:?}");
    assert!(json.iter().all(|e| e["type"] == "Started"), "{json:?}");
    assert!(s.supctl_ok(&["events", "--task", "nosuch"]).trim().is_empty());
    // Following with a type: only new events of that type arrive.
    let mut follow = Command::new(SUPCTL)
        .args([
            "--socket",
            s.socket().to_str().unwrap(),
            "--json",
            "events",
            "-f",
            "--since",
            "0s",
            "--type",
            "Started",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("supctl events -f");
    let mut reader = BufReader::new(follow.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    s.supctl_ok(&["restart", "a"]);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    let e: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((e["job"].as_str(), e["type"].as_str()), (Some("a"), Some("Started")), "{line}");
}

/// `job run` waits until every task of the file's jobs is up (running and
/// healthy, or completed), printing each state as it changes, and exits 0;
/// a task that fails makes it exit 1 naming the task and why; a task that
/// is still not up when the time allowed is over, exit 1 saying which.
#[test]
fn job_run_waits_for_the_tasks_and_tells_a_bad_deploy_from_a_good_one() {
    let s = Supd::new().start();
    let good = s.write_file("good.hcl", &sleep_job("good"));
    let out = s.supctl(&["job", "run", "--wait", "30", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("good.g[0]/t: running") && text.contains("every task is up"), "{text}");
    assert_eq!(task(&s.status(), "good/g/0/t").unwrap()["state"], "running");

    let bad = s.write_file(
        "bad.hcl",
        r#"job "bad" {
  group "g" {
    restart {
      attempts = 1
      delay    = "100ms"
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
    let out = s.supctl(&["job", "run", "--wait", "30", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(describe(&out).contains("bad.g[0]/t failed"), "{}", describe(&out));

    let sick = s.write_file(
        "sick.hcl",
        r#"job "sick" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        name = "sick"
        check {
          type     = "script"
          command  = "/bin/false"
          interval = "1s"
          timeout  = "1s"
        }
      }
    }
  }
}"#,
    );
    let asked = Instant::now();
    let out = s.supctl(&["job", "run", "--wait", "2", sick.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    // Named with what holds it: its state and its last event.
    let said = describe(&out);
    assert!(said.contains("not up after 2 s: sick.g[0]/t (running, "), "{said}");
    assert!(said.contains(": Check Status: check 'service: \"sick\" check' is "), "{said}");
    assert!(asked.elapsed() < Duration::from_secs(15));
    // --detach returns at once.
    let other = s.write_file("other.hcl", &sleep_job("other"));
    let out = s.supctl(&["job", "run", "--detach", other.to_str().unwrap()]);
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("every task is up"));
}

/// `supctl import` of every systemd service unit this machine's Debian
/// packages ship: each unit that runs a command becomes a job file that
/// `supctl validate` accepts; the others are masked (a link to /dev/null)
/// or run nothing (no ExecStart=), and say so.
#[test]
fn import_converts_the_service_units_of_this_machine_into_valid_jobs() {
    let units: Vec<std::path::PathBuf> = std::fs::read_dir("/lib/systemd/system")
        .expect("/lib/systemd/system")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "service"))
        .collect();
    assert!(units.len() >= 20, "{} units", units.len());
    let out_dir = tempfile::tempdir().expect("a directory");
    let out = Command::new(SUPCTL)
        .arg("import")
        .arg("--out")
        .arg(out_dir.path())
        .args(&units)
        .output()
        .expect("supctl import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let written: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    let mut refused = Vec::new();
    for line in stderr.lines() {
        if line.contains("masked (a link to /dev/null)") || line.contains("no ExecStart=") {
            refused.push(line.to_string());
        }
    }
    assert_eq!(written.len() + refused.len(), units.len(), "every unit converts or says why:\n{stderr}");
    let validated = Command::new(SUPCTL).arg("validate").args(&written).output().expect("supctl validate");
    assert!(validated.status.success(), "{}", describe(&validated));
    eprintln!(
        "{} of {} units converted and valid; {} masked or without a command",
        written.len(),
        units.len(),
        refused.len()
    );
    // An ssh unit (Debian's), where there is one: its daemon, its restart.
    if let Some(ssh) = written.iter().find(|p| p.ends_with("/ssh.hcl")) {
        let hcl = std::fs::read_to_string(ssh).expect("ssh.hcl");
        assert!(hcl.contains("/usr/sbin/sshd") && hcl.contains("restart"), "{hcl}");
    }
}

/// `supctl import` of a supervisord file (a job per program) and a runit
/// service directory: job files `supctl validate` accepts, and a job that
/// runs as the program did.
#[test]
fn import_converts_supervisord_programs_and_runit_services() {
    let s = Supd::new();
    let conf = s.write_file(
        "supervisord.conf",
        "[supervisord]\nnodaemon=true\n\n[program:web]\ncommand=/bin/sleep 600\nautorestart=true\nstartretries=5\nstopsignal=TERM\nstopwaitsecs=20\nenvironment=MODE=\"prod\",LEVEL=\"2\"\n\n[program:worker]\ncommand=/bin/sh -c \"echo %(program_name)s; exec sleep 600\"\nautorestart=unexpected\n",
    );
    let runit = s.path("sv/cache");
    std::fs::create_dir_all(&runit).expect("a service directory");
    std::fs::write(runit.join("run"), "#!/bin/sh\nexec 2>&1\nexec /bin/sleep 700\n").expect("run");
    let out_dir = s.path("jobs");
    let out = Command::new(SUPCTL)
        .arg("import")
        .arg("--out")
        .arg(&out_dir)
        .arg(&conf)
        .arg(&runit)
        .output()
        .expect("supctl import");
    assert!(out.status.success(), "{}", describe(&out));
    let written: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(written.len(), 3, "{}", describe(&out));
    let validated = Command::new(SUPCTL).arg("validate").args(&written).output().expect("supctl validate");
    assert!(validated.status.success(), "{}", describe(&validated));
    // They run: supd on the written directory.
    let s = s.start();
    let web = s.wait_running("web/web/0/web");
    assert_eq!(cmdline_of(pid(&web)), "/bin/sleep 600");
    assert!(environ(pid(&web)).contains("MODE=prod"), "{}", environ(pid(&web)));
    s.wait_running("worker/worker/0/worker");
    let cache = s.wait_running("cache/cache/0/cache");
    assert_eq!(cmdline_of(pid(&cache)), "/bin/sleep 700");
}
