//! The source article's scenario with a real redis-server: a tcp check with
//! check_restart notices a frozen redis (SIGSTOP: alive but not answering),
//! restarts it through the restart policy, and gives up when the attempts
//! are used up.

use crate::support::{EventMark, event_mark, events_since};

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUPD: &str = env!("CARGO_BIN_EXE_supd");
const SUPCTL: &str = env!("CARGO_BIN_EXE_supctl");

struct Supd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Supd {
    fn start(hcl: &str) -> Supd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("jobs")).unwrap();
        std::fs::write(dir.path().join("jobs").join("redis.hcl"), hcl).unwrap();
        let log = std::fs::File::create(dir.path().join("supd.log")).unwrap();
        let child = Command::new(SUPD)
            .arg("--jobs")
            .arg(dir.path().join("jobs"))
            .arg("--socket")
            .arg(dir.path().join("s.sock"))
            .arg("--log-dir")
            .arg(dir.path().join("logs"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Supd { dir, child }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("supd.log")).unwrap_or_default()
    }

    fn task(&self) -> Option<Value> {
        let out = Command::new(SUPCTL)
            .arg("--socket")
            .arg(self.dir.path().join("s.sock"))
            .args(["--json", "status"])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v["jobs"][0]["groups"][0]["instances"][0]["tasks"][0].clone())
    }

    fn wait(&self, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = self.task()
                && pred(&t)
            {
                return t;
            }
            assert!(Instant::now() < deadline, "timed out waiting until {what}\n{:?}\n{}", self.task(), self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Supd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The task's secrets/ tmpfs outlives supd by design; not the test.
        crate::support::unmount_below(self.dir.path());
    }
}

fn ping(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "PING"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
}

fn freeze(t: &Value) -> i64 {
    let pid = t["pid"].as_i64().expect("a running redis");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGSTOP).unwrap();
    pid
}

fn kinds_after(t: &Value, mark: &EventMark) -> Vec<String> {
    events_since(t, mark).into_iter().map(|(k, _)| k).collect()
}

fn secs(e: &Value) -> f64 {
    // "2026-11-28T06:07:20.690Z" -> seconds of the day
    let s = e["time"].as_str().unwrap();
    let h: f64 = s[11..13].parse().unwrap();
    let m: f64 = s[14..16].parse().unwrap();
    let sec: f64 = s[17..23].parse().unwrap();
    h * 3600.0 + m * 60.0 + sec
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn frozen_redis_is_restarted_by_its_check_then_the_instance_fails() {
    assert!(Path::new("/usr/bin/redis-server").exists(), "redis-server is missing: scripts/test installs it");
    let port = 16399;
    let s = Supd::start(&format!(
        r#"job "example" {{
  group "cache" {{
    network {{
      port "db" {{
        static = {port}
      }}
    }}
    restart {{
      attempts = 2
      interval = "30m"
      delay    = "200ms"
      mode     = "fail"
    }}
    task "redis" {{
      driver       = "exec"
      kill_timeout = "1s"
      config {{
        command = "/usr/bin/redis-server"
        args    = ["--port", "${{NOMAD_PORT_db}}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--tcp-backlog", "1"]
      }}
      service {{
        port = "db"
        check_restart {{
          limit = 3
          grace = "1s"
        }}
        check {{
          name     = "redis-tcp"
          type     = "tcp"
          interval = "300ms"
          timeout  = "200ms"
        }}
      }}
    }}
  }}
}}"#
    ));
    let t = s.wait("redis is healthy", Duration::from_secs(20), |t| t["health"] == "passing");
    assert!(ping(port), "redis answers PING");
    let before = event_mark(&t);
    let frozen_at = Instant::now();
    let old = freeze(&t);
    // A stopped process's kernel still completes TCP handshakes until its
    // accept queue is full (here 2, with --tcp-backlog 1); then connects
    // time out. So: two more passing checks, three failing ones 300 ms
    // apart, and the restart about 1.5 s after the freeze.
    let t = s.wait("redis is restarted", Duration::from_secs(20), |t| {
        t["restarts"] == 1 && t["state"] == "running" && t["pid"].as_i64() != Some(old)
    });
    let took = frozen_at.elapsed();
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(8), "restart after {took:?}\n{}", s.log());
    let kinds = kinds_after(&t, &before);
    let order: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| matches!(*k, "Restart Signaled" | "Terminated" | "Restarting" | "Started"))
        .collect();
    assert_eq!(order, ["Restart Signaled", "Terminated", "Restarting", "Started"], "{kinds:?}");
    let signaled = t["events"].as_array().unwrap().iter().find(|e| e["type"] == "Restart Signaled").unwrap();
    assert_eq!(signaled["message"], "healthcheck: check \"redis-tcp\" unhealthy");
    // The frozen redis ignored SIGINT; it was SIGKILLed after kill_timeout.
    // The kill signal goes with `Restart Signaled` (a restart records no
    // `Killing`, as in Nomad).
    let signaled = t["events"].as_array().unwrap().iter().position(|e| e["type"] == "Restart Signaled").unwrap();
    let terminated = t["events"].as_array().unwrap().iter().position(|e| e["type"] == "Terminated").unwrap();
    let waited = secs(&t["events"][terminated]) - secs(&t["events"][signaled]);
    assert!(waited >= 0.8, "a stopped process is killed after kill_timeout, waited {waited}");
    s.wait("the new redis answers", Duration::from_secs(20), |t| t["health"] == "passing");
    assert!(ping(port), "the new redis answers PING");

    // Freeze it again until the attempts are used up.
    let t = s.task().unwrap();
    freeze(&t);
    let t = s.wait("the second restart", Duration::from_secs(20), |t| t["restarts"] == 2 && t["state"] == "running");
    s.wait("healthy again", Duration::from_secs(20), |t| t["health"] == "passing");
    freeze(&t);
    let t = s.wait("the task gives up", Duration::from_secs(20), |t| t["state"] == "dead");
    assert_eq!(t["failed"], true);
    let last = t["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "Not Restarting");
    assert_eq!(last["message"], "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"");
    assert_eq!(t["restarts"], 2);
}
