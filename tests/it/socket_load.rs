//! The control socket under hostile load, through the real `supd`: request
//! lines without end, many clients sending megabytes, crowds of idle
//! connections, followers that never read, the tail of a huge log, random
//! bytes and framing. Each time the loop must keep a crash-looping task at
//! its restart pace and answer `status` promptly, and supd's memory must
//! stay bounded.

use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A task that notes the time of each start in `@DIR@/starts` and fails
/// at once, restarted after 100 ms for ever.
const CRASH_LOOP: &str = r#"job "loop" {
  group "g" {
    restart {
      attempts = 30000
      interval = "1h"
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
"#;

/// The start times of the crash-looping task, in seconds.
fn starts(s: &Supd) -> Vec<f64> {
    std::fs::read_to_string(s.path("starts"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The longest gap between starts of the crash loop in `[from, to]`
/// (counting its edges), and the number of starts in it.
fn pace(s: &Supd, from: f64, to: f64) -> (f64, usize) {
    let mut times: Vec<f64> = starts(s).into_iter().filter(|t| *t >= from && *t <= to).collect();
    let n = times.len();
    times.insert(0, from);
    times.push(to);
    let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    (gap, n)
}

/// Starts supd with the crash loop and waits until it restarts.
fn with_crash_loop(s: Supd) -> Supd {
    s.write_job("loop.hcl", CRASH_LOOP);
    let s = s.start();
    assert!(wait_until(PATIENCE, || starts(&s).len() >= 3), "the crash loop does not run\n{}", s.log());
    s
}

/// Asserts that the crash loop kept its pace (100 ms delay, up to 25 %
/// jitter, and a loaded machine: gaps of 1 s were seen at load 8; a
/// stalled loop stalled it for 14 s) over `[from, to]`.
fn assert_pace(s: &Supd, from: f64, to: f64, what: &str) {
    let (gap, n) = pace(s, from, to);
    eprintln!("{what}: {n} starts in {:.1}s, longest gap {:.0} ms", to - from, gap * 1000.0);
    assert!(gap < 2.0, "{what}: the crash loop stalled for {:.0} ms\n{}", gap * 1000.0, s.log());
}

/// One request line and its first answer line, over a raw connection;
/// with how long the answer took.
fn raw_request(socket: &Path, line: &str) -> (Value, Duration) {
    let t = Instant::now();
    let mut c = UnixStream::connect(socket).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(line.as_bytes()).expect("send");
    let mut answer = String::new();
    BufReader::new(&c).read_line(&mut answer).expect("answer");
    (serde_json::from_str(&answer).unwrap_or_else(|e| panic!("unreadable answer {answer:?}: {e}")), t.elapsed())
}

const STATUS: &str = "{\"version\":1,\"cmd\":\"status\"}\n";

/// supd's resident memory now and at its peak, in MiB.
fn rss_mib(pid: i32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("supd's /proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn a_request_line_without_end_is_refused_at_once_and_the_loop_keeps_its_pace() {
    let s = with_crash_loop(Supd::new());
    let from = now_secs();
    let c = UnixStream::connect(s.socket()).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let writer = c.try_clone().unwrap();
    let t = Instant::now();
    // 16 MB with no line end, sent as fast as supd takes it.
    let sender = std::thread::spawn(move || {
        let mut w = writer;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..16 {
            if w.write_all(&chunk).is_err() {
                return false; // supd closed: refused before the end
            }
        }
        true
    });
    let mut answer = String::new();
    BufReader::new(&c).read_line(&mut answer).expect("an answer");
    let took = t.elapsed();
    let r: Value = serde_json::from_str(&answer).expect("a JSON answer");
    assert_eq!(r["ok"], false, "{answer}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("longer than 1 MiB"), "{error}");
    eprintln!("16 MB line refused after {took:?}");
    assert!(took < Duration::from_secs(2), "the refusal took {took:?}");
    let all_sent = sender.join().unwrap();
    assert!(!all_sent, "supd read all 16 MB of a line it had refused");
    // supd answers others and restarts on.
    assert!(s.try_status().is_some(), "no status after the long line\n{}", s.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_pace(&s, from, now_secs(), "during a 16 MB line");
}

#[test]
fn four_clients_sending_20_mb_each_do_not_stall_status_or_restarts() {
    let s = with_crash_loop(Supd::new());
    let from = now_secs();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let socket = s.socket();
        let stop = stop.clone();
        senders.push(std::thread::spawn(move || {
            // Each connects again when refused, for as long as the test runs.
            let chunk = vec![b'{'; 1 << 20];
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut c) = UnixStream::connect(&socket) else { continue };
                for _ in 0..20 {
                    match c.write_all(&chunk) {
                        Ok(()) => sent += chunk.len(),
                        Err(_) => break,
                    }
                }
            }
            sent
        }));
    }
    // status from another client, over and over, while they send.
    let mut times = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(4) {
        let (r, took) = raw_request(&s.socket(), STATUS);
        assert_eq!(r["ok"], true, "{r}");
        times.push(took);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let sent: usize = senders.into_iter().map(|h| h.join().unwrap()).sum();
    times.sort();
    let p50 = times[times.len() / 2];
    let max = *times.last().unwrap();
    eprintln!("4 clients sent {} MB; status answered {} times: p50 {p50:?}, max {max:?}", sent >> 20, times.len());
    // The goal is a stall of at most 10 ms; a loaded 2-core machine gets
    // room on top.
    assert!(max < Duration::from_millis(500), "status took up to {max:?} while 4 clients sent 20 MB each");
    assert_pace(&s, from, now_secs(), "during 4 × 20 MB");
}

/// Runs the system's python3 (one the user nobody can run) as nobody
/// (group nogroup) with `script`.
fn as_nobody(script: &str, args: &[&str]) -> std::process::Child {
    let setpriv = require("setpriv", "util-linux");
    let python = "/usr/bin/python3";
    assert!(Path::new(python).exists(), "{python} is needed (apt-get install python3)");
    Command::new(setpriv)
        .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", python, "-c", script])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3 as nobody")
}

/// Opens connections until supd refuses them, keeps them open without a
/// word, and reports how many it holds.
const CROWD: &str = r#"
import socket, sys, time
held = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
    except OSError:
        continue
    held.append(s)
time.sleep(0.3)
alive = 0
for s in held:
    s.setblocking(False)
    try:
        s.recv(1)  # a refusal, or the end: not held
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print(alive, flush=True)
time.sleep(60)
"#;

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_crowd_of_idle_connections_does_not_lock_out_root() {
    assert!(nix::unistd::geteuid().is_root(), "this test switches to the user nobody and needs root");
    let s = Supd::new().start_with_config("socket_group = \"nogroup\"\n");
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let socket = s.socket();
    let mut crowd = as_nobody(CROWD, &[socket.to_str().unwrap(), "300"]);
    let mut line = String::new();
    BufReader::new(crowd.stdout.as_mut().unwrap()).read_line(&mut line).expect("the crowd's count");
    let held: usize = line.trim().parse().expect("a count");
    eprintln!("nobody holds {held} idle connections");
    assert!(held >= 200, "the crowd got only {held} connections");
    assert!(held <= 240, "another user took {held} connections: the reserved ones too");
    // root gets in at once, with the crowd still there.
    let (r, took) = raw_request(&socket, STATUS);
    assert_eq!(r["ok"], true, "root is locked out: {r}");
    assert!(took < Duration::from_secs(1), "root waited {took:?}");
    let _ = crowd.kill();
    let _ = crowd.wait();
}

#[test]
fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let s = Supd::new().start();
    let silent = UnixStream::connect(s.socket()).expect("connect");
    let mut partial = UnixStream::connect(s.socket()).expect("connect");
    partial.write_all(b"{\"version\":1,").unwrap();
    let t = Instant::now();
    for mut c in [silent, partial] {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    }
    let took = t.elapsed();
    eprintln!("silent connections closed after {took:?}");
    assert!(took >= Duration::from_secs(4) && took < Duration::from_secs(9), "closed after {took:?}");
    assert!(s.try_status().is_some(), "supd does not answer\n{}", s.log());
}

/// A task that writes about 1 MB of numbered lines per second.
const CHATTY: &str = r#"job "chatty" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "while :; do seq 1 10000; sleep 0.05; done"]
      }
    }
  }
}
"#;

#[test]
fn followers_that_never_read_keep_memory_bounded_and_end_on_a_whole_line() {
    let s = Supd::new();
    s.write_job("chatty.hcl", CHATTY);
    let s = s.start();
    s.wait_running("chatty/g/0/t");
    let request = "{\"version\":1,\"cmd\":\"logs\",\"target\":\"chatty\",\"lines\":0,\"follow\":true}\n";
    let mut followers = Vec::new();
    for _ in 0..200 {
        let mut c = UnixStream::connect(s.socket()).expect("connect");
        c.write_all(request.as_bytes()).unwrap();
        followers.push(c);
    }
    // They read nothing while the task writes on, until their backlogs
    // are full (how soon depends on how fast the task gets to write).
    assert!(
        wait_until(PATIENCE, || s.log().contains("cutting a follower's stream")),
        "no follower was cut\n{}",
        s.log()
    );
    std::thread::sleep(Duration::from_secs(1));
    let (rss, peak) = rss_mib(s.pid());
    eprintln!("200 stalled followers: supd RSS {rss:.1} MiB, peak {peak:.1} MiB");
    assert!(peak <= 64.0, "supd grew to {peak:.1} MiB with 200 followers that do not read");
    // One of them reads now: whole JSON lines, the last one saying why it ended.
    let c = followers.pop().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut all = Vec::new();
    (&c).read_to_end(&mut all).expect("the stream to its end");
    assert_eq!(all.last(), Some(&b'\n'), "the stream ends in the middle of a line");
    let lines: Vec<Value> = all
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).unwrap_or_else(|e| panic!("half a line ({e}): {}", String::from_utf8_lossy(l)))
        })
        .collect();
    let last = lines.last().expect("some lines");
    assert_eq!(last["ok"], false, "{last}");
    assert!(last["error"].as_str().unwrap_or_default().contains("cut this stream"), "{last}");
    assert!(s.try_status().is_some(), "supd does not answer\n{}", s.log());
}

/// A task that writes nothing and runs on.
const QUIET: &str = r#"job "quiet" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo first; exec sleep 600"]
      }
    }
  }
}
"#;

#[test]
fn the_last_lines_of_a_huge_log_come_fast_with_little_memory() {
    let s = Supd::new();
    s.write_job("quiet.hcl", QUIET);
    let s = s.start();
    s.wait_running("quiet/g/0/t");
    let dir = s.path("logs").join("quiet").join("g[0]");
    assert!(wait_until(PATIENCE, || dir.join("t.stdout.0").exists()), "no log file\n{}", s.log());
    // 3 GiB, sparse, then three lines, in a newer file of the stream.
    let path = dir.join("t.stdout.1");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(3 << 30).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"\none\ntwo\nthree\n").unwrap();
    let t = Instant::now();
    let out = s.supctl_ok(&["logs", "quiet", "-n", "3"]);
    let took = t.elapsed();
    let (_, peak) = rss_mib(s.pid());
    eprintln!("logs -n 3 of a 3 GiB file: {took:?}, supd peak RSS {peak:.1} MiB");
    assert_eq!(out, "one\ntwo\nthree\n");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(peak <= 64.0, "supd grew to {peak:.1} MiB");
}

/// A small, seeded generator: the fuzz test can be replayed from its seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One hostile conversation: what is sent, in pieces, and whether the
/// connection is dropped without reading.
fn fuzz_message(rng: &mut XorShift) -> Vec<u8> {
    let requests = [
        r#"{"version":1,"cmd":"status"}"#,
        r#"{"version":1,"cmd":"events"}"#,
        r#"{"version":1,"cmd":"events","follow":true}"#,
        r#"{"version":1,"cmd":"logs","target":"loop","follow":true}"#,
        r#"{"version":1,"cmd":"logs","target":"loop","lines":100000}"#,
        r#"{"version":1,"cmd":"reload","dry_run":true}"#,
        r#"{"version":1,"cmd":"job_run","source":"","file":"f.hcl","body":99999999999}"#,
        r#"{"version":1,"cmd":"job_run","source":"","file":"f.hcl","body":100}"#,
        r#"{"version":1,"cmd":"status","body":5}"#,
        r#"{"version":2,"cmd":"status"}"#,
        r#"{"version":1,"cmd":"signal","target":"nothing","signal":"SIGKILL"}"#,
        r#"{"version":1,"cmd":"restart","target":"no/such"}"#,
    ];
    let mut m = Vec::new();
    for _ in 0..=rng.below(3) {
        match rng.below(6) {
            0 => {
                let n = rng.below(4096) as usize;
                m.extend(rng.bytes(n));
            }
            1 => m.extend(std::iter::repeat_n(b'\n', rng.below(100) as usize)),
            2 => {
                // A request, maybe mangled at one byte, maybe cut short.
                let mut r = requests[rng.below(requests.len() as u64) as usize].as_bytes().to_vec();
                if rng.below(3) == 0 {
                    let i = rng.below(r.len() as u64) as usize;
                    r[i] = rng.next() as u8;
                }
                if rng.below(4) == 0 {
                    r.truncate(rng.below(r.len() as u64) as usize);
                }
                m.extend(r);
                m.push(b'\n');
            }
            3 => m.extend(std::iter::repeat_n(b'[', rng.below(300_000) as usize)),
            4 => m.extend(std::iter::repeat_n(0u8, rng.below(2 << 20) as usize)),
            _ => m.extend(format!("{{\"version\":1,\"cmd\":\"{}\"}}\n", "x".repeat(rng.below(64) as usize)).bytes()),
        }
    }
    m
}

#[test]
fn random_bytes_and_framing_do_not_disturb_supervision() {
    let s = with_crash_loop(Supd::new());
    let from = now_secs();
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| now_secs().to_bits());
    eprintln!("fuzz seed {seed} (FUZZ_SEED={seed} replays it)");
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let socket = s.socket();
        let stop = stop.clone();
        workers.push(std::thread::spawn(move || {
            let mut rng = XorShift(seed ^ (w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut conversations = 0;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut c) = UnixStream::connect(&socket) else { continue };
                let _ = c.set_write_timeout(Some(Duration::from_millis(500)));
                let _ = c.set_read_timeout(Some(Duration::from_millis(rng.below(200))));
                let message = fuzz_message(&mut rng);
                // Sent in random pieces.
                let mut rest = &message[..];
                while !rest.is_empty() {
                    let n = (1 + rng.below(rest.len() as u64)) as usize;
                    if c.write_all(&rest[..n]).is_err() {
                        break;
                    }
                    rest = &rest[n..];
                }
                if rng.below(2) == 0 {
                    let mut sink = [0u8; 4096];
                    let _ = c.read(&mut sink);
                }
                conversations += 1;
            }
            conversations
        }));
    }
    let mut worst = Duration::ZERO;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        let (r, took) = raw_request(&s.socket(), STATUS);
        assert_eq!(r["ok"], true, "{r}");
        worst = worst.max(took);
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let conversations: usize = workers.into_iter().map(|h| h.join().unwrap()).sum();
    eprintln!("fuzz: {conversations} conversations; status took at most {worst:?}");
    assert!(worst < Duration::from_secs(1), "status took {worst:?} during the fuzzing");
    assert_pace(&s, from, now_secs(), "during the fuzzing");
    let st = s.status();
    assert_eq!(st["jobs"][0]["name"], "loop", "{st}");
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_full_log_disk_is_reported_once_with_a_count_not_per_write() {
    assert!(nix::unistd::geteuid().is_root(), "this test mounts a tmpfs and needs root");
    let s = Supd::new();
    let logs = s.path("logs");
    let _mount = Tmpfs::mount(&logs, "64k");
    s.write_job("chatty.hcl", CHATTY);
    let s = s.start();
    s.wait_running("chatty/g/0/t");
    // Every write fails from the first second on.
    std::thread::sleep(Duration::from_secs(4));
    let st = s.status();
    let events =
        st["jobs"][0]["groups"][0]["instances"][0]["tasks"][0]["events"].as_array().cloned().unwrap_or_default();
    let failures: Vec<&str> =
        events.iter().filter_map(|e| e["message"].as_str()).filter(|m| m.starts_with("Logs: cannot write")).collect();
    let warnings = s.log().lines().filter(|l| l.contains("cannot write")).count();
    eprintln!("full disk for 4 s: {} events, {warnings} warnings in supd's log", failures.len());
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(failures[0].contains("No space left on device"), "{}", failures[0]);
    assert!(warnings <= 2, "{warnings} warnings\n{}", s.log());
}

#[test]
fn supctl_gives_up_on_a_supd_that_does_not_answer_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mute.sock");
    // Accepts (the kernel does) and never answers.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let t = Instant::now();
    let out = Command::new(SUPCTL).arg("--socket").arg(&socket).args(["--timeout", "1", "status"]).output().unwrap();
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(stderr.contains("did not answer within 1s (waiting for the answer)"), "{stderr}");
    assert!(took < Duration::from_secs(5), "supctl waited {took:?}");
}

/// `count` tasks that fail at once, restarted without delay for ever.
fn crash_loops(count: usize) -> String {
    format!(
        r#"job "many" {{
  group "g" {{
    count = {count}
    restart {{
      attempts = 1000000
      interval = "1h"
      delay    = "0s"
      mode     = "delay"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/false"
      }}
      resources {{
        cpu    = 1
        memory = 10
      }}
    }}
  }}
}}
"#
    )
}

#[test]
fn status_answers_promptly_while_500_tasks_crash_loop() {
    let s = Supd::new();
    s.write_job("many.hcl", &crash_loops(500));
    let s = s.start_with_config("cpu_total_compute = 100000\nmemory_total_mb = 100000\n");
    assert!(
        wait_until(PATIENCE, || s
            .try_status()
            .is_some_and(|st| st["jobs"][0]["groups"][0]["instances"].as_array().is_some_and(|i| i.len() == 500))),
        "500 instances do not run\n{}",
        s.log()
    );
    let mut times = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) && times.len() < 100 {
        let (r, took) = raw_request(&s.socket(), STATUS);
        assert_eq!(r["ok"], true, "{r}");
        times.push(took);
        std::thread::sleep(Duration::from_millis(20));
    }
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    eprintln!(
        "status with 500 crash loops: p50 {:?}, p95 {:?}, max {:?} ({} asked)",
        p(0.5),
        p(0.95),
        p(1.0),
        times.len()
    );
    // The goal is 50 ms in a release build (supd answered after 10 s
    // before); a debug build on a loaded 2-core machine gets room on top.
    assert!(p(0.95) < Duration::from_secs(1), "status p95 {:?} with 500 crash loops", p(0.95));
}

/// A large job file sent with `job run` (8 MB, 50 000 groups) is parsed
/// off the loop: the crash loop keeps its pace meanwhile, and the job is
/// taken once parsed.
#[test]
fn a_large_job_run_is_parsed_without_stalling_the_loop() {
    let s = with_crash_loop(Supd::new());
    let mut hcl = String::from("job \"big\" {\n  type = \"batch\"\n");
    let mut g = 0;
    while hcl.len() < 8 << 20 {
        hcl.push_str(&format!(
            "  group \"g{g}\" {{\n    count = 0\n    task \"t\" {{\n      driver = \"raw_exec\"\n      config {{\n        command = \"/bin/true\"\n        args = [\"a\", \"b\", \"c\"]\n      }}\n    }}\n  }}\n"
        ));
        g += 1;
    }
    hcl.push_str("}\n");
    let file = s.write_file("big.hcl", &hcl);
    let from = now_secs();
    let t = Instant::now();
    let out = s.supctl(&["--timeout", "120", "job", "run", file.to_str().expect("a UTF-8 path")]);
    let took = t.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    eprintln!("job run of {} bytes ({g} groups) answered after {took:?}", hcl.len());
    assert_pace(&s, from, now_secs(), "while a large job file was parsed");
    assert!(s.status()["jobs"].as_array().is_some_and(|j| j.iter().any(|j| j["name"] == "big")));
}

/// A large answer (the status of hundreds of tasks) is handed to the
/// kernel in one go: the client gets all of it even while supd's loop
/// does not run (a loop busy with crash loops would otherwise send it one
/// socket buffer per turn).
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_large_answer_is_in_the_socket_at_once() {
    let s = Supd::new();
    s.write_job(
        "idle.hcl",
        r#"job "idle" {
  group "g" {
    count = 600
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      resources {
        cpu    = 1
        memory = 10
      }
    }
  }
}
"#,
    );
    let s = s.start_with_config("cpu_total_compute = 100000\nmemory_total_mb = 100000\n");
    assert!(
        wait_until(PATIENCE, || s.try_status().is_some_and(|st| st["jobs"][0]["groups"][0]["instances"]
            .as_array()
            .is_some_and(|i| i.len() == 600 && i.iter().all(|i| i["tasks"][0]["state"] == "running")))),
        "600 instances do not run\n{}",
        s.log()
    );
    let mut c = UnixStream::connect(s.socket()).expect("connect");
    c.write_all(STATUS.as_bytes()).unwrap();
    let mut first = [0u8; 1];
    c.read_exact(&mut first).expect("the answer's first byte");
    // supd stops; what it put in the socket is all the client can get.
    let pid = nix::unistd::Pid::from_raw(s.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut rest = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let complete = loop {
        match c.read(&mut buf) {
            Ok(0) => break rest.last() == Some(&b'\n'),
            Ok(n) => {
                rest.extend_from_slice(&buf[..n]);
                if rest.last() == Some(&b'\n') {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    eprintln!("{} bytes of the answer came while supd was stopped", rest.len() + 1);
    assert!(rest.len() > 512 << 10, "the answer is too small to tell: {} bytes", rest.len() + 1);
    assert!(complete, "only {} bytes of the answer were in the socket", rest.len() + 1);
    assert!(s.try_status().is_some(), "supd does not answer after SIGCONT\n{}", s.log());
}
