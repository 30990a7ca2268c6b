//! Hostile and careless input, through the real `supd` and `supctl`: job,
//! group and task names that would lead out of the log directory, collide,
//! or hide in a terminal; job files that are FIFOs or devices.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A job of one task that notes its start in `@DIR@/started` and writes a
/// line of output. Labels go into the HCL as written (HCL escapes work).
fn job_hcl(id: &str, group: &str, task: &str) -> String {
    format!(
        r#"job "{id}" {{
  group "{group}" {{
    task "{task}" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo {id} >> @DIR@/started; echo out; exec sleep 600"]
      }}
    }}
  }}
}}
"#
    )
}

/// Lines per job of [`job_hcl`]: job `k` (from 0) starts at line 11k+1.
const JOB_LINES: usize = 11;

/// The hostile jobs, each with the place (job, group or task label) and
/// the words of the error it must get.
fn hostile_jobs(dir: &str) -> Vec<(String, &'static str, &'static str)> {
    let long = "x".repeat(10_000);
    vec![
        (job_hcl("../escape-job", "g", "t"), "job", "holds `/`"),
        (job_hcl(&format!("{dir}/abs"), "g", "t"), "job", "holds `/`"),
        (job_hcl("b", "g", "../../escape-task"), "task", "holds `/`"),
        (job_hcl("collide/y", "z", "t"), "job", "holds `/`"),
        (job_hcl("collide", "y/z", "t"), "group", "holds `/`"),
        (job_hcl("..", "g", "t"), "job", "names a directory"),
        (job_hcl("nul\\u0000x", "g", "t"), "job", "holds a NUL character"),
        (job_hcl("esc\\u001b[31mred", "g", "t"), "job", "holds the control character \\u{1b}"),
        (job_hcl("c", "g", "tab\\tx"), "task", "holds the control character \\t"),
        (job_hcl(&long, "g", "t"), "job", "is 10000 bytes long"),
    ]
}

/// The column of each label in [`job_hcl`], and its line within the job.
fn place(which: &str) -> (usize, usize) {
    match which {
        "job" => (0, 5),
        "group" => (1, 9),
        _ => (2, 10),
    }
}

/// Runs a command that must end by itself within `limit`; a command that
/// is still running then is blocked, and fails the test.
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    if !wait_until(limit, || matches!(child.try_wait(), Ok(Some(_)))) {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!("{cmd:?} is still running after {limit:?}: it blocked\n{}", describe(&out));
    }
    child.wait_with_output().expect("output")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every captured-output file (`*.stdout.N`, `*.stderr.N`) below `dir`.
fn output_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            } else if p.to_string_lossy().contains(".stdout.") || p.to_string_lossy().contains(".stderr.") {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

// --- 1. names -----------------------------------------------------------------

/// Every hostile name is an error at its label, in `supctl validate` and
/// `supd --check` alike, and the messages print no raw control character.
#[test]
fn hostile_names_are_errors_at_their_label() {
    let s = Supd::new();
    let jobs = hostile_jobs(s.dir());
    let text: String = jobs.iter().map(|(hcl, _, _)| hcl.as_str()).collect();
    let file = s.write_job("hostile.hcl", &text);
    let name = file.to_str().expect("UTF-8 path");

    let out = run_within(Command::new(SUPCTL).args(["validate", "--json", name]), PATIENCE);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let diags: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    for (k, (_, which, words)) in jobs.iter().enumerate() {
        let (line, column) = place(which);
        let line = k * JOB_LINES + 1 + line;
        let found = diags.iter().find(|d| d["line"] == line && d["column"] == column);
        let d = found.unwrap_or_else(|| panic!("no error at {line}:{column} ({which} of job {k}): {diags:#?}"));
        let message = d["message"].as_str().expect("message");
        assert_eq!(d["severity"], "error");
        assert!(message.contains(words), "{line}:{column}: {message:?} should say {words:?}");
        assert!(message.len() < 300, "a short message even for a long name: {message}");
    }

    let out = run_within(Command::new(SUPCTL).args(["validate", name]), PATIENCE);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("{name}: invalid ({} errors)", jobs.len())), "{text}");
    assert!(!text.contains(['\u{1b}', '\0', '\t']), "raw control characters printed: {text:?}");
    assert!(text.contains("esc\\u{1b}[31mred"), "{text}");

    let out = run_within(Command::new(SUPD).arg("--check").arg("--jobs").arg(s.path("jobs")), PATIENCE);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains(&format!("{name}:{}:5: error: the job name \"../escape-job\" holds `/`", 1)));
}

/// supd loads none of them: nothing starts, and no file appears outside
/// the log directory or in another instance's place; a good job beside
/// them runs and logs where it should. `job run -` and a hand-off
/// envelope with such names are refused the same way.
#[test]
fn hostile_names_never_make_a_file_outside_their_place() {
    let s = Supd::new();
    let dir = s.dir().to_string();
    let text: String = hostile_jobs(&dir).iter().map(|(hcl, _, _)| hcl.as_str()).collect();
    s.write_job("hostile.hcl", &text);
    s.write_job("good.hcl", &job_hcl("good", "g", "t"));
    let s = s.start_with_config("[handoff]\naccept = true\n");
    s.wait_running("good/g/0/t");
    s.wait_lines("logs/good/g[0]/t.stdout.0", 1);
    let only_good = |when: &str| {
        // Anything that did start has had the time to write.
        std::thread::sleep(Duration::from_millis(500));
        let st = s.status();
        let ids: Vec<&str> = st["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["name"].as_str()).collect();
        assert_eq!(ids, ["good"], "{when}: only the good job is loaded: {}", pretty(&st));
        assert_eq!(lines(&s.path("started")), ["good"], "{when}: only the good job started\n{}", s.log());
        let files = output_files(s.dir.path());
        assert_eq!(files, [s.path("logs/good/g[0]/t.stdout.0")], "{when}: output files\n{}", s.log());
        for gone in ["escape-job", "abs", "escape-run", "escape-handoff", "logs/escape-task.stdout.0", "logs/collide"] {
            assert!(!s.path(gone).exists(), "{when}: {gone} was made\n{}", s.log());
        }
    };
    only_good("at start");

    // A reload refuses the file again.
    let out = s.supctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("hostile.hcl:1:5: error: the job name \"../escape-job\""), "{}", describe(&out));

    // Through the socket: `job run -`, and a hand-off envelope.
    let run = job_hcl("../escape-run", "g", "t").replace("@DIR@", &dir);
    let out = supctl_input(&s, &["job", "run", "-"], &run);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let words = "<stdin>:1:5: error: the job name \"../escape-run\" holds `/`";
    assert!(stderr(&out).contains(words), "{}", describe(&out));
    let envelope = serde_json::json!({
        "version": 1,
        "job": "../escape-handoff",
        "source": job_hcl("../escape-handoff", "g", "t").replace("@DIR@", &dir),
        "file": "work.hcl",
        "group": "g",
        "index": 0,
        "origin": "a",
        "attempt": 1,
        "history": [],
    });
    let out = supctl_input(&s, &["job", "run", "--handoff", "-"], &envelope.to_string());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("the job name \"../escape-handoff\" holds `/`"), "{}", describe(&out));
    only_good("after the reload and the requests");
}

/// supctl with `input` on its standard input.
fn supctl_input(s: &Supd, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(SUPCTL)
        .arg("--socket")
        .arg(s.socket())
        .args(args)
        .env_remove("SUPD_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("supctl");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("write");
    child.wait_with_output().expect("supctl")
}

/// `status` and `events` escape what a terminal would act on, whatever
/// supd sends (a node name from supd.toml, a peer's name from a hand-off).
#[test]
fn status_and_events_print_names_safely() {
    let s = Supd::new();
    let hcl = job_hcl("work", "g", "t").replace("@DIR@", s.dir());
    let s = s.start_with_config("node_name = \"evil\\u001b[2J\"\n[handoff]\naccept = true\n");
    let envelope = serde_json::json!({
        "version": 1,
        "job": "work",
        "source": hcl,
        "file": "work.hcl",
        "group": "g",
        "index": 0,
        "origin": "peer\u{1b}]0;owned\u{7}",
        "attempt": 1,
        "history": [],
    });
    let out = supctl_input(&s, &["job", "run", "--handoff", "-"], &envelope.to_string());
    assert!(out.status.success(), "{}", describe(&out));
    s.wait_running("work/g/0/t");
    for args in [&["status"][..], &["status", "work/g/0"], &["events"]] {
        let out = s.supctl(args);
        assert!(out.status.success(), "{}", describe(&out));
        let text = stdout(&out);
        assert!(!text.contains(['\u{1b}', '\u{7}']), "supctl {args:?} printed raw control characters: {text:?}");
        if args[0] == "status" {
            let wanted = if args.len() == 1 { "evil\\u{1b}[2J" } else { "peer\\u{1b}]0;owned\\u{7}" };
            assert!(text.contains(wanted), "supctl {args:?}: {text}");
        }
    }
}

// --- 2. files that are not job files -------------------------------------------

/// A FIFO in the job directory is an error naming it, and blocks nothing:
/// not `supctl validate`, not `supd --check`, not supd's start or a reload.
/// A symlink to /dev/zero is refused without reading it; a symlink to a
/// job file is read.
#[test]
fn a_fifo_or_a_device_in_the_job_directory_blocks_nothing() {
    let s = Supd::new();
    let fifo = s.path("jobs").join("x.hcl");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
    let fifo_name = fifo.to_str().expect("UTF-8").to_string();
    let words = "is a FIFO (named pipe), not a job file";

    let out = run_within(Command::new(SUPCTL).args(["validate", &fifo_name]), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stdout(&out).contains(&format!("{fifo_name}: error: {words}")), "{}", describe(&out));
    let out = run_within(Command::new(SUPD).arg("--check").arg("--jobs").arg(s.path("jobs")), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains(&format!("{fifo_name}: error: {words}")), "{}", describe(&out));
    let out = run_within(
        Command::new(SUPCTL).arg("--socket").arg(s.socket()).args(["job", "run", &fifo_name]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains(words), "{}", describe(&out));

    // supd starts with it there (the harness waits for its socket to answer).
    s.write_file("real.hcl", &job_hcl("linked", "g", "t"));
    std::os::unix::fs::symlink(s.path("real.hcl"), s.path("jobs").join("linked.hcl")).expect("symlink");
    let s = s.start();
    s.wait_running("linked/g/0/t");
    std::os::unix::fs::symlink("/dev/zero", s.path("jobs").join("z.hcl")).expect("symlink");
    let reload =
        run_within(Command::new(SUPCTL).arg("--socket").arg(s.socket()).arg("reload"), Duration::from_secs(10));
    let text = format!("{}{}", stdout(&reload), stderr(&reload));
    assert!(text.contains(&format!("{fifo_name}: error: {words}")), "{text}");
    assert!(text.contains("z.hcl: error: is a device, not a job file"), "{text}");
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{}/status", s.pid()))
        .expect("supd's status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    assert!(rss_kb < 64 * 1024, "supd grew to {rss_kb} kB");
    assert_eq!(task(&s.status(), "linked/g/0/t").expect("task")["state"], "running");
}
