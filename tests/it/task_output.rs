//! Where task output goes (`task_output`, the meta key
//! `supd_task_output`): the journal's native protocol, read from a socket
//! the test binds where supd is told the journal is, and stored by a real
//! journald of the test's own; supd's own stdout
//! with `job.group[index]/task | ` prefixes, as PID 1 of a PID namespace
//! (a container's init); and a stdout nobody reads, which must cost lines,
//! not supervision.

use crate::support::*;
use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One journal entry: its fields by name.
type Entry = BTreeMap<String, String>;

/// The native protocol as journald reads it: `NAME=value` lines, or
/// `NAME`, a 64-bit little-endian length, the value and a line end.
fn parse_entry(mut data: &[u8]) -> Entry {
    let mut out = Entry::new();
    while !data.is_empty() {
        let end = data.iter().position(|b| *b == b'\n').expect("a field ends with a line end");
        let line = &data[..end];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            out.insert(String::from_utf8_lossy(&line[..eq]).into(), String::from_utf8_lossy(&line[eq + 1..]).into());
            data = &data[end + 1..];
        } else {
            let rest = &data[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            out.insert(String::from_utf8_lossy(line).into(), String::from_utf8_lossy(&rest[8..8 + len]).into());
            assert_eq!(rest[8 + len], b'\n');
            data = &rest[8 + len + 1..];
        }
    }
    out
}

/// Entries received until `pred` holds for the whole list, or [`PATIENCE`].
fn receive_until(rx: &UnixDatagram, s: &Supd, pred: impl Fn(&[Entry]) -> bool) -> Vec<Entry> {
    rx.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 17];
    while !pred(&got) {
        assert!(Instant::now() < deadline, "the journal did not get what was expected: {got:#?}\n{}", s.log());
        if let Ok(n) = rx.recv(&mut buf) {
            got.push(parse_entry(&buf[..n]));
        }
    }
    got
}

fn messages<'a>(entries: &'a [Entry], task: &str, priority: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|e| e.get("SUPD_TASK").map(String::as_str) == Some(task) && e["PRIORITY"] == priority)
        .map(|e| e["MESSAGE"].as_str())
        .collect()
}

/// A job of two tasks: `talk` writes numbered lines to stdout and stderr
/// (one without a line end), `filed` keeps its output in files by its meta.
const TWO_TASKS: &str = r#"job "web" {
  group "api" {
    task "talk" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "for i in 1 2 3; do echo out $i; echo err $i >&2; done; printf 'no end'; exec sleep 1000"]
      }
    }
    task "filed" {
      driver = "raw_exec"
      meta { supd_task_output = "files" }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo in a file; exec sleep 1000"]
      }
    }
  }
}"#;

/// task_output = "journal": one entry per line with the fields that name
/// the task, priority 6 for stdout and 3 for stderr; a task whose meta says
/// "files" keeps its files; `supctl logs` says where the output went.
#[test]
fn journal_entries_carry_the_task_s_fields() {
    let s = Supd::new();
    let socket = s.path("journal.sock");
    let rx = UnixDatagram::bind(&socket).unwrap();
    s.write_job("web.hcl", TWO_TASKS);
    let s = s.start_with_config("task_output = \"journal\"\njournal_socket = \"@DIR@/journal.sock\"\n");
    s.wait_running("web/api/0/talk");
    let entries =
        receive_until(&rx, &s, |e| messages(e, "talk", "6").len() >= 3 && messages(e, "talk", "3").len() >= 3);
    assert_eq!(messages(&entries, "talk", "6"), ["out 1", "out 2", "out 3"], "{entries:#?}");
    assert_eq!(messages(&entries, "talk", "3"), ["err 1", "err 2", "err 3"], "{entries:#?}");
    let e = entries.iter().find(|e| e["MESSAGE"] == "out 1").unwrap();
    assert_eq!(
        [&e["SYSLOG_IDENTIFIER"], &e["SUPD_JOB"], &e["SUPD_GROUP"], &e["SUPD_ALLOC_INDEX"], &e["SUPD_TASK"]],
        ["talk", "web", "api", "0", "talk"]
    );
    assert!(entries.iter().all(|e| e.get("SUPD_TASK").map(String::as_str) != Some("filed")), "{entries:#?}");
    // The unfinished line goes when the task ends.
    s.supctl_ok(&["restart", "web/api/0/talk"]);
    let entries = receive_until(&rx, &s, |e| e.iter().any(|e| e["MESSAGE"] == "no end"));
    assert_eq!(messages(&entries, "talk", "6").last(), Some(&"no end"));

    let out = s.supctl(&["logs", "web/api/0/talk"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("web.api[0]/talk writes its output to the journal: journalctl SUPD_JOB=web SUPD_GROUP=api SUPD_ALLOC_INDEX=0 SUPD_TASK=talk"),
        "{said}"
    );
    assert!(!s.path("logs/web/api[0]/talk.stdout.0").exists(), "no files for a journal task");
    assert_eq!(s.supctl_ok(&["logs", "web/api/0/filed"]), "in a file\n");
}

/// No journal at the socket: supd runs on, says in the task's events that
/// its output is dropped, and once the journal is there the lines arrive,
/// after supd's own entry counting what was lost.
#[test]
fn a_missing_journal_costs_lines_not_supervision() {
    let s = Supd::new();
    s.write_job(
        "tick.hcl",
        r#"job "tick" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      meta { supd_task_output = "files+journal" }
      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do echo tick; sleep 0.1; done"]
      }
    }
  }
}"#,
    );
    let s = s.start_with_config("journal_socket = \"@DIR@/journal.sock\"\n");
    let t = s.wait_event("tick/g/0/t", "Task hook message", |m| m.starts_with("Logs: no journal listens at"));
    assert_eq!(t["state"], "running");
    assert!(s.log().contains("output dropped so far"), "{}", s.log());
    let rx = UnixDatagram::bind(s.path("journal.sock")).unwrap();
    let entries = receive_until(&rx, &s, |e| e.iter().filter(|e| e["MESSAGE"] == "tick").count() >= 2);
    let note = entries.iter().find(|e| e["SYSLOG_IDENTIFIER"] == "supd").expect("supd counts the dropped entries");
    assert!(
        note["MESSAGE"].ends_with("entries of task output were dropped: the journal did not take them"),
        "{note:?}"
    );
    // Files were written all along.
    assert!(s.supctl_ok(&["logs", "tick"]).starts_with("tick\n"));
    s.wait_event("tick/g/0/t", "Task hook message", |m| m.starts_with("Logs: output is written again"));
}

/// Whatever supd left mounted below a directory (its tasks' secrets/
/// tmpfs) is unmounted when the test ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        crate::support::unmount_below(&self.0);
    }
}

/// A child killed (with what it started, `--kill-child`) when the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// As PID 1 (a container's init) supd writes each task's lines on its own
/// stdout (stderr's on its stderr), prefixed with the task, whole and in
/// order per task; no files are written.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn as_pid_1_task_output_is_on_supd_s_stdout_with_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let _unmount = Unmount(dir.path().to_path_buf());
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    let task = |name: &str| {
        format!(
            r#"    task "{name}" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo {name} $i; done; echo {name} to stderr >&2"]
      }}
    }}
"#
        )
    };
    let job = format!("job \"j\" {{\n  type = \"batch\"\n  group \"g\" {{\n{}{}  }}\n}}\n", task("a"), task("b"));
    std::fs::write(dir.path().join("jobs/j.hcl"), job).unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut supd = Reaped(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", SUPD])
            .args(
                ["jobs", "supd.sock", "logs", "state"]
                    .iter()
                    .zip(["--jobs", "--socket", "--log-dir", "--state-dir"])
                    .flat_map(|(path, flag)| [flag.into(), dir.path().join(path).into_os_string()]),
            )
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("unshare (util-linux) runs supd in a PID namespace; run the tests as root"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = supd.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "supd did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(&err).unwrap());
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    for name in ["a", "b"] {
        let prefix = format!("j.g[0]/{name} | ");
        let lines: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect();
        let want: Vec<String> = (1..=500).map(|i| format!("{name} {i}")).collect();
        assert_eq!(lines, want, "{name}'s lines, whole and in order\n{stdout}");
        assert!(stderr.lines().any(|l| l == format!("{prefix}{name} to stderr")), "{stderr}");
    }
    assert!(stdout.lines().all(|l| l.starts_with("j.g[0]/a | ") || l.starts_with("j.g[0]/b | ")), "{stdout}");
    assert!(stderr.contains("supd info: every job has ended"), "{stderr}");
    assert!(!dir.path().join("logs/j/g[0]/a.stdout.0").exists(), "no files as a container's init");
}

/// supd's stdout is a pipe nobody reads (a container whose log driver
/// stalls): a task that floods it loses lines, counted and said in its
/// events, while another task's restarts go on at their pace and `supctl
/// status` answers at once.
#[test]
fn a_stdout_nobody_reads_does_not_stop_restarts_or_status() {
    stalled(false);
}

/// The same with supd's stderr (its own log) stalled too, as when a log
/// driver stops taking anything.
#[test]
fn a_stalled_stdout_and_stderr_do_not_stop_restarts_or_status() {
    stalled(true);
}

fn stalled(stderr_too: bool) {
    let s = Supd::new();
    let tee = if stderr_too { "| tee /dev/stderr" } else { "" };
    s.write_job(
        "flood.hcl",
        &r#"job "flood" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "yes 'a line of output that nobody will ever read' @TEE@"]
      }
    }
  }
}"#
        .replace("@TEE@", tee),
    );
    s.write_job(
        "flap.hcl",
        r#"job "flap" {
  group "g" {
    restart {
      attempts = 1000
      interval = "1h"
      delay    = "100ms"
      mode     = "delay"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo flap; sleep 0.1; exit 1"]
      }
    }
  }
}"#,
    );
    let (_read_end, write_end) = nix::unistd::pipe().unwrap();
    let mut s = s;
    let log = if stderr_too {
        std::fs::File::from(write_end.try_clone().unwrap())
    } else {
        std::fs::File::create(s.path("supd.log")).unwrap()
    };
    s.child = Some(
        Command::new(SUPD)
            .args(["--jobs", &format!("{}/jobs", s.dir()), "--socket", s.socket().to_str().unwrap()])
            .args(["--log-dir", &format!("{}/logs", s.dir()), "--state-dir", &format!("{}/state", s.dir())])
            .args(["--task-output", "stdout"])
            .env(TAG, s.dir())
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(std::fs::File::from(write_end))
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    assert!(wait_until(PATIENCE, || answered(&s.supctl(&["status"]))), "{}", s.log());
    s.wait_event("flood/g/0/t", "Task hook message", |m| m.contains("supd's stdout is not being read"));
    let before = restarts(&s.wait_running("flap/g/0/t"));
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(4) {
        let asked = Instant::now();
        let st = s.status();
        slowest = slowest.max(asked.elapsed());
        assert!(task(&st, "flood/g/0/t").is_some());
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = restarts(task(&s.status(), "flap/g/0/t").unwrap());
    // One restart per ~0.3 s (run 0.1 s, delay 0.1 s + jitter): at least 6
    // in 4 s on a loaded machine.
    assert!(after >= before + 6, "restarts went from {before} to {after} in 4 s\n{}", s.log());
    assert!(slowest < Duration::from_secs(1), "status took {slowest:?}");
    if !stderr_too {
        assert!(s.log().contains("supd's stdout is not being read"), "{}", s.log());
    } else {
        s.wait_event("flood/g/0/t", "Task hook message", |m| m.contains("supd's stderr is not being read"));
    }
}

/// Under systemd (`JOURNAL_STREAM` names supd's stderr), each of supd's own
/// lines starts with its priority, and task lines sent to supd's streams
/// with theirs: 6 for stdout, 3 for stderr. With another stream named,
/// nothing changes.
#[test]
fn lines_carry_priorities_when_stderr_is_the_journal() {
    use std::os::unix::fs::MetadataExt;
    for journal in [true, false] {
        let s = Supd::new();
        s.write_job(
            "say.hcl",
            r#"job "say" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      meta { supd_task_output = "stdout" }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo hello; echo oops >&2; exec sleep 1000"]
      }
    }
  }
}"#,
        );
        // supd's log file is made before, so that its device and inode are
        // known (the harness truncates it in place).
        let meta = std::fs::File::create(s.path("supd.log")).unwrap().metadata().unwrap();
        let stream = if journal { format!("{}:{}", meta.dev(), meta.ino()) } else { "1:1".into() };
        let s = s.start_with_env(&[("JOURNAL_STREAM", &stream)]);
        s.wait_running("say/g/0/t");
        assert!(wait_until(PATIENCE, || s.log().contains("oops")), "{}", s.log());
        let log = s.log();
        let (p6, p3) = if journal { ("<6>", "<3>") } else { ("", "") };
        assert!(log.lines().any(|l| l == format!("{p6}say.g[0]/t | hello")), "{log}");
        assert!(log.lines().any(|l| l == format!("{p3}say.g[0]/t | oops")), "{log}");
        assert!(log.lines().any(|l| l.starts_with(&format!("{p6}supd info: supd ready"))), "{log}");
        if !journal {
            assert!(!log.contains("<6>") && !log.contains("<7>"), "{log}");
        }
    }
}

/// `supctl validate` knows the meta key: a value supd would not understand
/// is an error at its place, with the choices.
#[test]
fn validate_reports_a_bad_task_output_at_its_place() {
    let s = Supd::new();
    let file =
        s.write_job("bad.hcl", &TWO_TASKS.replace(r#"supd_task_output = "files""#, r#"supd_task_output = "file""#));
    let out = Command::new(SUPCTL).args(["validate", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "{}:12:33: error: meta supd_task_output: task output \"file\" is not known — use files, journal, stdout, files+journal or files+stdout",
            file.display()
        )),
        "{said}"
    );
    let good = s.write_job("good.hcl", TWO_TASKS);
    let out = Command::new(SUPCTL).args(["validate", good.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// What the test below runs in a mount namespace of its own: tmpfs over
/// journald's directories (nothing of the host's journal is read or
/// written), a journald of a namespace of its own, supd until its batch job
/// is done, then `journalctl` of what arrived.
const PRIVATE_JOURNALD: &str = r#"
set -e
journald=$1 supd=$2 d=$3
for m in /run/systemd /run/log /var/log/journal; do
  mkdir -p "$m"
  mount -t tmpfs tmpfs "$m"
done
"$journald" supdtest >"$d/journald.log" 2>&1 &
jd=$!
trap 'kill "$jd" 2>/dev/null' EXIT
i=0
until [ -S /run/systemd/journal.supdtest/socket ]; do
  i=$((i + 1))
  [ "$i" -lt 500 ] || { echo "journald made no socket" >&2; exit 1; }
  sleep 0.02
done
"$supd" --config "$d/supd.toml" --jobs "$d/jobs" --socket "$d/supd.sock" --log-dir "$d/logs" \
  --state-dir "$d/state" --exit-when-done >"$d/supd.log" 2>&1
journalctl --namespace=supdtest --sync
journalctl --namespace=supdtest SUPD_JOB=web -o json --no-pager >"$d/entries.json"
"#;

/// A real journald (in a namespace of the test's own) stores a task's
/// lines with the fields supd sends, so that `journalctl SUPD_JOB=web`
/// finds them.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_private_journald_stores_the_lines_with_their_fields() {
    require("journalctl", "systemd");
    let journald = ["/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("systemd-journald is not installed: install the Debian package `systemd` (scripts/test does)");
    let s = Supd::new();
    s.write_job(
        "web.hcl",
        r#"job "web" {
  type = "batch"
  group "api" {
    task "talk" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo out 1; echo err 1 >&2; echo out 2"]
      }
    }
  }
}"#,
    );
    s.write_file("supd.toml", "task_output = \"journal\"\njournal_socket = \"/run/systemd/journal.supdtest/socket\"\n");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", PRIVATE_JOURNALD, "sh", journald, SUPD, s.dir()])
        .output()
        .expect("unshare (util-linux)");
    let read = |n: &str| std::fs::read_to_string(s.path(n)).unwrap_or_default();
    assert!(out.status.success(), "{}\n{}\n{}", describe(&out), read("supd.log"), read("journald.log"));
    let entries: Vec<serde_json::Value> =
        read("entries.json").lines().map(|l| serde_json::from_str(l).expect("journalctl's JSON")).collect();
    let field = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
    let got: Vec<[String; 3]> =
        entries.iter().map(|e| [field(e, "MESSAGE"), field(e, "PRIORITY"), field(e, "SUPD_STREAM")]).collect();
    let stdout: Vec<&[String; 3]> = got.iter().filter(|g| g[2] == "stdout").collect();
    assert_eq!(
        got.len(),
        3,
        "three lines, stored by journald: {got:?}\n{}\n{}",
        read("supd.log"),
        read("journald.log")
    );
    assert_eq!(
        stdout.iter().map(|g| [g[0].as_str(), g[1].as_str()]).collect::<Vec<_>>(),
        [["out 1", "6"], ["out 2", "6"]]
    );
    assert!(got.iter().any(|g| g == &["err 1".to_string(), "3".into(), "stderr".into()]), "{got:?}");
    for e in &entries {
        assert_eq!(
            [
                field(e, "SYSLOG_IDENTIFIER"),
                field(e, "SUPD_GROUP"),
                field(e, "SUPD_ALLOC_INDEX"),
                field(e, "SUPD_TASK")
            ],
            ["talk", "api", "0", "talk"]
        );
        assert_eq!(field(e, "_TRANSPORT"), "journal", "sent over the native protocol");
    }
}

/// A burst far bigger than supd's queue (200 000 lines at once, about 5 MB
/// once prefixed) to a stdout that is read loses nothing: the lines go out
/// as fast as the reader takes them, whole and in order.
#[test]
fn a_burst_to_a_stdout_that_is_read_loses_nothing() {
    let s = Supd::new();
    s.write_job(
        "burst.hcl",
        r#"job "burst" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/seq"
        args    = ["1", "200000"]
      }
    }
  }
}"#,
    );
    let (text, log) = run_to_stdout(&s);
    let numbers: Vec<&str> = text.lines().map(|l| l.strip_prefix("burst.g[0]/t | ").unwrap_or(l)).collect();
    assert_eq!(numbers.len(), 200_000, "{log}");
    assert!(numbers.iter().enumerate().all(|(i, n)| *n == (i + 1).to_string()), "in order, whole\n{log}");
    assert!(!log.contains("dropped"), "{log}");
}

/// Runs supd on `s`'s job directory with task output on its stdout until
/// every job has ended; returns its stdout and its log.
fn run_to_stdout(s: &Supd) -> (String, String) {
    let mut supd = Reaped(
        Command::new(SUPD)
            .args(["--jobs", &format!("{}/jobs", s.dir()), "--socket", s.socket().to_str().unwrap()])
            .args(["--log-dir", &format!("{}/logs", s.dir()), "--state-dir", &format!("{}/state", s.dir())])
            .args(["--task-output", "stdout", "--exit-when-done"])
            .env(TAG, s.dir())
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = supd.0.stdout.take().unwrap();
    let mut err = supd.0.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).unwrap();
        text
    });
    let mut log = String::new();
    std::io::Read::read_to_string(&mut err, &mut log).unwrap();
    let text = reader.join().unwrap();
    assert!(supd.0.wait().unwrap().success(), "{log}");
    (text, log)
}

/// A 70 000-byte line goes to supd's stdout whole, as one prefixed line
/// (as a container's init passes it on); one longer than 256 KiB goes in
/// pieces of 256 KiB.
#[test]
fn a_long_line_reaches_stdout_whole() {
    let s = Supd::new();
    s.write_job(
        "long.hcl",
        r#"job "long" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "head -c 70000 /dev/zero | tr '\\0' x; echo; head -c 300000 /dev/zero | tr '\\0' y; echo"]
      }
    }
  }
}"#,
    );
    let (text, log) = run_to_stdout(&s);
    let lines: Vec<&str> = text.lines().map(|l| l.strip_prefix("long.g[0]/t | ").unwrap_or(l)).collect();
    let sizes: Vec<(char, usize)> = lines.iter().map(|l| (l.chars().next().unwrap_or(' '), l.len())).collect();
    assert_eq!(sizes, [('x', 70_000), ('y', 256 << 10), ('y', 300_000 - (256 << 10))], "{log}");
}
