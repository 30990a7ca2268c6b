//! The docker driver against a real Docker engine: a private `dockerd`
//! (Debian's docker.io) of this test binary, on its own data root, exec
//! root and socket under a temporary directory, with no bridge and no
//! iptables; never the host's daemon. Its images are made offline with
//! `docker import` from this host's own files: `redis:3.2` (redis-server,
//! redis-cli, a shell) and `tools:1` (a shell, sleep, echo, cat).
//!
//! The source article's job runs unchanged: redis answers inside the
//! container's network namespace, the engine enforces its memory, a killed
//! container is restarted as a host task is, a restarted supd adopts the
//! running container, `job stop` leaves no container.

use crate::support::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const DOCKERD: &str = "/usr/sbin/dockerd";
const DOCKER: &str = "/usr/bin/docker";

/// The source article's job, as the article writes it (its snippets put
/// together: the redis task, its restart, reschedule and check_restart).
const ARTICLE_JOB: &str = include_str!("../jobs/valid/article_job.hcl");

/// The private engine of this test binary. It lives as long as the
/// binary: a watcher shell holds it and stops it (and removes its
/// directory) when the pipe from this process closes.
struct Engine {
    dir: PathBuf,
    _watch: Mutex<(Child, ChildStdin)>,
}

impl Engine {
    fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(DOCKER)
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .output()
            .expect("run docker")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The ids of every container (running or not) labelled `key=value`.
    fn containers(&self, label: &str) -> Vec<String> {
        self.ps(&["-a", "--filter", &format!("label={label}")])
    }

    /// The ids of the running containers labelled `key=value`.
    fn running(&self, label: &str) -> Vec<String> {
        self.ps(&["--filter", &format!("label={label}")])
    }

    /// The ids of the containers labelled `key=value` that have ended
    /// (what supd removes once the next run has started).
    fn ended(&self, label: &str) -> Vec<String> {
        self.ps(&["-a", "--filter", &format!("label={label}"), "--filter", "status=exited"])
    }

    fn ps(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["ps", "-q", "--no-trunc"];
        all.extend_from_slice(args);
        self.docker_ok(&all).lines().map(str::to_string).collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(start_engine)
}

fn start_engine() -> Engine {
    require("dockerd", "docker.io");
    require("nsenter", "util-linux");
    assert!(Path::new(DOCKERD).is_file() && Path::new(DOCKER).is_file(), "install the Debian package docker.io");
    assert!(nix::unistd::geteuid().is_root(), "the docker driver's tests run a Docker engine, which needs root");
    // Short: containerd's sockets live under the exec root.
    let dir = tempfile::Builder::new().prefix("sd-").tempdir_in("/tmp").expect("temporary directory").keep();
    let d = dir.display().to_string();
    let script = format!(
        "{DOCKERD} --data-root {d}/root --exec-root {d}/exec --host unix://{d}/docker.sock --pidfile {d}/pid \
         --iptables=false --ip6tables=false --bridge=none </dev/null >{d}/dockerd.log 2>&1 &
         e=$!
         cat >/dev/null
         kill $e; wait $e
         grep -o ' {d}/[^ ]*' /proc/mounts | sort -r | xargs -r umount -l
         rm -rf {d}"
    );
    let mut child =
        Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect("start the private dockerd");
    let stdin = child.stdin.take().expect("the watcher's stdin");
    let engine = Engine { dir, _watch: Mutex::new((child, stdin)) };
    let up = wait_until(Duration::from_secs(60), || engine.docker(&["version"]).status.success());
    assert!(up, "the private dockerd did not answer:\n{}", engine.log());
    build_images(&engine);
    engine
}

/// A root filesystem of this host's own programs ([`image_rootfs`]),
/// imported as `redis:3.2` and `tools:1`.
fn build_images(engine: &Engine) {
    let rootfs = engine.dir.join("rootfs");
    image_rootfs(&rootfs);
    for (tag, cmd) in IMAGES {
        let script = format!(
            "tar -C {} -c . | {DOCKER} -H unix://{} import -c '{cmd}' - {tag}",
            rootfs.display(),
            engine.socket().display()
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().expect("docker import");
        assert!(out.status.success(), "{script}: {}", describe(&out));
    }
    // An image with a STOPSIGNAL, which `import --change` cannot set: a
    // container's own stop signal, committed into its image's config.
    let d = format!("{DOCKER} -H unix://{}", engine.socket().display());
    let script = format!(
        "{d} create --name stopsig-base --stop-signal SIGUSR1 tools:1 >/dev/null && {d} commit stopsig-base stopsig:1 >/dev/null && {d} rm stopsig-base >/dev/null"
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().expect("docker commit");
    assert!(out.status.success(), "{script}: {}", describe(&out));
}

/// supd started with the private engine as its endpoint.
fn supd_with(s: Supd) -> Supd {
    let endpoint = engine().socket();
    s.start_with_config(&format!("[driver.docker]\nendpoint = \"unix://{}\"\n", endpoint.display()))
}

/// Waits longer than [`PATIENCE`]: the article's job restarts after
/// Nomad's default delay (15 s and up to 25 % more).
fn wait_long(s: &Supd, target: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(Duration::from_secs(40), || match s.try_status() {
        Some(st) => {
            last = task(&st, target).cloned().unwrap_or(Value::Null);
            pred(&last)
        }
        None => false,
    });
    assert!(ok, "timed out waiting until {target}: {what}\nlast: {}\n{}", pretty(&last), s.log());
    last
}

#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn the_articles_job_runs_restarts_is_adopted_and_stops_in_a_container() {
    let e = engine();
    let s = Supd::new();
    s.write_job("example.hcl", ARTICLE_JOB);
    let out = s.supctl(&["validate", s.path("jobs/example.hcl").to_str().unwrap()]);
    assert!(out.status.success(), "the article's job validates: {}", describe(&out));
    let mut s = supd_with(s);
    let target = "example/cache/0/redis";
    let t = s.wait_running(target);
    let (pid1, id) = (pid(&t), container_id(&t));
    assert_eq!(t["container"]["image"], "redis:3.2", "{}", pretty(&t));
    assert_eq!(id.len(), 12, "status shows the short container id: {}", pretty(&t));
    assert_eq!(t["resources"]["memory_limit"], 256 * 1024 * 1024, "status shows the engine's limit: {}", pretty(&t));
    let ours = e.running(&home_label(&s));
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].starts_with(&id), "{ours:?} vs {id}");
    // Beside it at most the container made ahead for its next run, which
    // does not run.
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).len() == 2);
    assert!(ok, "the next run's container is made ahead: {:?}", e.containers(&home_label(&s)));
    // supd's status names the container's own first process.
    let inspect: Value = serde_json::from_str(&e.docker_ok(&["inspect", &ours[0]])).expect("inspect JSON");
    assert_eq!(inspect[0]["State"]["Pid"], pid1);
    assert_eq!(inspect[0]["HostConfig"]["Memory"], 256 * 1024 * 1024, "the engine enforces memory = 256");
    assert_eq!(inspect[0]["HostConfig"]["CpuShares"], 500);
    assert_eq!(inspect[0]["Config"]["Labels"]["supd.task"], "redis");
    assert!(
        inspect[0]["Config"]["Env"].as_array().unwrap().iter().any(|v| v == "NOMAD_TASK_NAME=redis"),
        "{}",
        inspect[0]["Config"]["Env"]
    );
    assert!(
        !inspect[0]["Config"]["Env"].as_array().unwrap().iter().any(|v| v.as_str().unwrap().starts_with(TAG)),
        "supd's own environment stays out of the container"
    );
    let ok = wait_until(PATIENCE, || ping(pid1) == "PONG");
    assert!(ok, "redis answers in the container's network namespace: {:?}", ping(pid1));
    // Its output is in supd's log files, as a host task's.
    let ok = wait_until(PATIENCE, || {
        String::from_utf8_lossy(&s.supctl(&["logs", target]).stdout).contains("Ready to accept connections")
    });
    assert!(ok, "supctl logs: {}", describe(&s.supctl(&["logs", target])));
    let detail = s.supctl_ok(&["status", target]);
    assert!(detail.contains(&format!("Image = redis:3.2  Container = {id}")), "{detail}");

    // The container's process dies: Terminated, Restarting after the
    // default delay, a new container.
    kill(Pid::from_raw(pid1), Signal::SIGKILL).expect("kill the container's process");
    let t = s.wait_event(target, "Terminated", |m| m == "Exit Code: 137");
    assert!(kinds(&t).contains(&"Restarting".to_string()), "{}", pretty(&t));
    let t = wait_long(&s, target, "runs again", |t| t["state"] == "running" && container_id(t) != id);
    assert_eq!(restarts(&t), 1);
    let (pid2, id2) = (pid(&t), container_id(&t));
    assert_ne!(pid2, pid1);
    let ok = wait_until(PATIENCE, || e.ended(&home_label(&s)).is_empty());
    assert!(ok, "the old container is removed: {:?}", e.ended(&home_label(&s)));
    assert_eq!(e.running(&home_label(&s)).len(), 1);
    assert!(wait_until(PATIENCE, || ping(pid2) == "PONG"), "the new redis answers");

    // supd is killed and started again: the container is adopted, not
    // started anew.
    s.kill9();
    let s = supd_with(s);
    let t = s.wait_running(target);
    assert_eq!((container_id(&t), pid(&t), restarts(&t)), (id2.clone(), pid2, 1), "{}", pretty(&t));
    assert!(kinds(&t).contains(&"Driver".to_string()), "{}", pretty(&t));
    let ours = e.running(&home_label(&s));
    assert_eq!(ours.len(), 1, "exactly one container runs for the task: {ours:?}");
    assert!(ours[0].starts_with(&id2));
    assert_eq!(ping(pid2), "PONG");
    // The adopted container is followed: its exit is seen.
    kill(Pid::from_raw(pid2), Signal::SIGKILL).expect("kill the adopted container's process");
    s.wait_event(target, "Terminated", |m| m == "Exit Code: 137");
    let t = wait_long(&s, target, "runs again", |t| t["state"] == "running" && container_id(t) != id2);
    assert_eq!(restarts(&t), 2);

    // job stop: no container left.
    s.supctl_ok(&["job", "stop", "example"]);
    let t = s.wait_dead(target);
    assert!(kinds(&t).contains(&"Killed".to_string()), "{}", pretty(&t));
    // Removals wait for the engine, which other tests keep busy too.
    let ok = wait_until(2 * PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(
        ok,
        "containers left after job stop: {}\n{}",
        e.docker_ok(&["ps", "-a", "--filter", &format!("label={}", home_label(&s))]),
        s.log()
    );
}

#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn kill_signal_and_kill_timeout_go_through_the_engine_and_output_reaches_the_logs() {
    let e = engine();
    let s = Supd::new();
    s.write_job(
        "sig.hcl",
        r#"job "sig" {
  group "g" {
    task "polite" {
      driver      = "docker"
      kill_signal = "SIGTERM"
      config {
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "echo to-stdout; echo to-stderr >&2; trap 'echo got TERM; exit 3' TERM; while :; do sleep 0.1; done"]
      }
    }
    task "stubborn" {
      driver       = "docker"
      kill_timeout = "2s"
      config {
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "trap '' INT TERM; echo ready; while :; do sleep 0.1; done"]
      }
    }
  }
}
"#,
    );
    let s = supd_with(s);
    s.wait_running("sig/g/0/polite");
    s.wait_running("sig/g/0/stubborn");
    let ok = wait_until(PATIENCE, || {
        let out = String::from_utf8_lossy(&s.supctl(&["logs", "sig/g/0/polite"]).stdout).into_owned();
        let err = String::from_utf8_lossy(&s.supctl(&["logs", "--stderr", "sig/g/0/polite"]).stdout).into_owned();
        out.contains("to-stdout") && !out.contains("to-stderr") && err.contains("to-stderr")
    });
    assert!(ok, "stdout and stderr go to their own files:\n{}", describe(&s.supctl(&["logs", "sig/g/0/polite"])));
    assert!(wait_until(PATIENCE, || String::from_utf8_lossy(&s.supctl(&["logs", "sig/g/0/stubborn"]).stdout)
        .contains("ready")));
    let started = Instant::now();
    s.supctl_ok(&["job", "stop", "sig"]);
    let polite = s.wait_dead("sig/g/0/polite");
    assert!(events(&polite).iter().any(|(k, m)| k == "Terminated" && m == "Exit Code: 3"), "{}", pretty(&polite));
    assert!(
        String::from_utf8_lossy(&s.supctl(&["logs", "sig/g/0/polite"]).stdout).contains("got TERM"),
        "the task's own kill_signal reached it"
    );
    let stubborn = s.wait_dead("sig/g/0/stubborn");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(12),
        "the stubborn container is killed after its kill_timeout of 2s: {took:?}"
    );
    assert!(events(&stubborn).iter().any(|(k, m)| k == "Terminated" && m == "Exit Code: 137"), "{}", pretty(&stubborn));
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(ok, "containers left: {:?}", e.containers(&home_label(&s)));
}

#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_bad_image_is_a_driver_failure_and_the_other_tasks_run_on() {
    let e = engine();
    let s = Supd::new();
    s.write_job(
        "bad.hcl",
        r#"job "bad" {
  group "missing" {
    restart {
      attempts = 1
      delay    = "1s"
      mode     = "fail"
    }
    task "t" {
      driver = "docker"
      config {
        image = "supd-test/no-such-image:1"
      }
    }
  }
  group "privileged" {
    task "t" {
      driver = "docker"
      config {
        image      = "tools:1"
        privileged = true
      }
    }
  }
  group "fine" {
    task "t" {
      driver = "docker"
      config {
        image   = "tools:1"
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
}
"#,
    );
    let s = supd_with(s);
    let t = s.wait_event("bad/missing/0/t", "Downloading Image", |m| m.contains("supd-test/no-such-image:1"));
    let _ = t;
    let t =
        s.wait_event("bad/missing/0/t", "Driver Failure", |m| m.contains("Failed to pull `supd-test/no-such-image:1`"));
    assert!(t["container"]["id"].is_null(), "{}", pretty(&t));
    let t = s.wait_event("bad/privileged/0/t", "Driver Failure", |m| m.contains("allow_privileged"));
    assert!(kinds(&t).contains(&"Not Restarting".to_string()), "refused as written: not retried: {}", pretty(&t));
    let fine = s.wait_running("bad/fine/0/t");
    assert!(!container_id(&fine).is_empty());
    // The pull failure follows the restart policy (a registry that cannot
    // be reached may come back), then the task fails; the other runs on.
    let t = s.wait_dead("bad/missing/0/t");
    assert!(t["failed"].as_bool().unwrap(), "{}", pretty(&t));
    assert_eq!(count(&t, "Driver Failure", |_| true), 2, "{}", pretty(&t));
    let fine2 = s.wait_running("bad/fine/0/t");
    assert_eq!((container_id(&fine2), restarts(&fine2)), (container_id(&fine), 0));
    assert_eq!(e.running(&home_label(&s)).len(), 1, "only the fine task has a container");
}

#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_container_killed_for_memory_ends_oom_killed() {
    let _ = engine();
    let s = Supd::new();
    s.write_job(
        "oom.hcl",
        r#"job "oom" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "redis" {
      driver = "docker"
      config {
        image   = "redis:3.2"
        command = "/usr/bin/redis-server"
        args    = ["--save", "", "--enable-debug-command", "yes"]
      }
      resources {
        memory = 24
      }
    }
  }
}
"#,
    );
    let s = supd_with(s);
    let t = s.wait_running("oom/g/0/redis");
    let pid1 = pid(&t);
    assert!(wait_until(PATIENCE, || ping(pid1) == "PONG"), "redis answers");
    // Half a million keys of 100 bytes: well past 24 MB.
    let _ = Command::new("nsenter")
        .args(["-t", &pid1.to_string(), "-n", "redis-cli", "-p", "6379", "debug", "populate", "500000", "k", "100"])
        .output();
    let t = s.wait_dead("oom/g/0/redis");
    assert!(
        events(&t).iter().any(|(k, m)| k == "Terminated" && m.contains("Exit Message: \"OOM Killed\"")),
        "{}",
        pretty(&t)
    );
}

#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_frozen_container_is_restarted_by_its_check() {
    let e = engine();
    let port = 16479;
    let s = Supd::new();
    s.write_job(
        "frozen.hcl",
        &format!(
            r#"job "frozen" {{
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
      driver       = "docker"
      kill_timeout = "1s"
      config {{
        image        = "redis:3.2"
        network_mode = "host"
        command      = "/usr/bin/redis-server"
        args         = ["--port", "${{NOMAD_PORT_db}}", "--bind", "127.0.0.1", "--save", "", "--tcp-backlog", "1"]
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
        ),
    );
    let s = supd_with(s);
    let target = "frozen/cache/0/redis";
    let t = s.wait_health(target, "passing");
    let id = container_id(&t);
    let frozen_at = Instant::now();
    e.docker_ok(&["pause", &id]);
    let t = s.wait_task(target, "restarted in a new container", |t| {
        t["restarts"] == 1 && t["state"] == "running" && container_id(t) != id
    });
    let took = frozen_at.elapsed();
    assert!(took < Duration::from_secs(10), "restarted {took:?} after the freeze");
    let signaled = events(&t).iter().find(|(k, _)| k == "Restart Signaled").cloned();
    assert_eq!(signaled.map(|(_, m)| m).as_deref(), Some("healthcheck: check \"redis-tcp\" unhealthy"));
    s.wait_health(target, "passing");
    let ok = wait_until(PATIENCE, || e.ended(&home_label(&s)).is_empty() && e.running(&home_label(&s)).len() == 1);
    assert!(ok, "the frozen container is gone: {:?}", e.containers(&home_label(&s)));
}

/// No engine answers where the task's driver looks: an outage, not the
/// task's failure. The task waits, pending, with an event naming the
/// endpoint, spends no restart attempt however long the wait, and starts
/// once an engine answers there; the host task beside it runs meanwhile.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_task_whose_engine_does_not_answer_waits_for_it_without_spending_attempts() {
    let e = engine();
    let s = Supd::new();
    let endpoint = s.path("later.sock");
    s.write_job(
        "later.hcl",
        r#"job "later" {
  group "g" {
    restart {
      attempts = 1
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "docker"
      config {
        image   = "tools:1"
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
  group "host" {
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
    let s = s.start_with_config(&format!("[driver.docker]\nendpoint = \"unix://{}\"\n", endpoint.display()));
    s.wait_running("later/host/0/t");
    let t = s.wait_event("later/g/0/t", "Engine Unreachable", |m| m.contains(&endpoint.display().to_string()));
    assert_eq!(t["state"], "pending", "{}", pretty(&t));
    // Well past the 1 attempt the policy allows, at 100 ms each.
    std::thread::sleep(Duration::from_secs(4));
    let t = task(&s.status(), "later/g/0/t").cloned().unwrap_or(Value::Null);
    assert_eq!(t["state"], "pending", "still waiting: {}", pretty(&t));
    assert_eq!(restarts(&t), 0, "no attempt spent: {}", pretty(&t));
    assert_eq!(count(&t, "Engine Unreachable", |_| true), 1, "said once: {}", pretty(&t));
    assert_eq!(count(&t, "Driver Failure", |_| true), 0, "{}", pretty(&t));
    // An engine answers there now.
    std::os::unix::fs::symlink(e.socket(), &endpoint).expect("link the endpoint to the engine");
    let t = s.wait_task("later/g/0/t", "running once the engine answers", |t| {
        t["state"] == "running" && !e.running(&home_label(&s)).is_empty()
    });
    assert_eq!(restarts(&t), 0, "{}", pretty(&t));
    assert_eq!(count(&t, "Engine Reachable", |_| true), 1, "{}", pretty(&t));
    s.supctl_ok(&["job", "stop", "later"]);
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(ok, "containers left: {:?}", e.containers(&home_label(&s)));
}

/// A Unix socket that passes every connection on to the private engine,
/// until it is cut (every connection closed, nothing listening: the
/// engine is gone, as when dockerd stops with `live-restore` and its
/// containers run on) and opened again.
struct Relay {
    path: PathBuf,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl Relay {
    fn new(path: PathBuf) -> Relay {
        let r = Relay { path, open: Default::default(), streams: Default::default() };
        r.restore();
        r
    }

    fn restore(&self) {
        use std::sync::atomic::Ordering;
        let listener = std::os::unix::net::UnixListener::bind(&self.path).expect("bind the relay");
        self.open.store(true, Ordering::SeqCst);
        let (open, streams, target) = (self.open.clone(), self.streams.clone(), engine().socket());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if !open.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(upstream) = std::os::unix::net::UnixStream::connect(&target) else { continue };
                let pairs = [(client.try_clone(), upstream.try_clone()), (upstream.try_clone(), client.try_clone())];
                streams.lock().unwrap().extend([client, upstream]);
                for (from, to) in pairs {
                    let (Ok(mut from), Ok(mut to)) = (from, to) else { continue };
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accepting thread, which sees it is closed.
        let _ = std::os::unix::net::UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The engine goes away while a container runs: the container is not
/// taken for ended (no restart, no attempt), the outage is an event, the
/// container is followed again when the engine is back; and a stop while
/// the engine is away still stops the container (supd signals its process
/// itself, having checked that its cgroup is the container's).
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn an_engine_outage_spends_no_attempt_and_a_stop_meanwhile_still_stops_the_container() {
    let e = engine();
    let s = Supd::new();
    let relay = Relay::new(s.path("relay.sock"));
    s.write_job(
        "calm.hcl",
        r#"job "calm" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver       = "docker"
      kill_timeout = "2s"
      config {
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"]
      }
    }
  }
}
"#,
    );
    let s = s.start_with_config(&format!("[driver.docker]\nendpoint = \"unix://{}\"\n", relay.path.display()));
    let t = s.wait_running("calm/g/0/t");
    let (pid0, id0) = (pid(&t), container_id(&t));
    relay.cut();
    let t = s.wait_event("calm/g/0/t", "Engine Unreachable", |m| m.contains("not known to have ended"));
    std::thread::sleep(Duration::from_secs(2));
    let t2 = task(&s.status(), "calm/g/0/t").cloned().unwrap_or(Value::Null);
    assert_eq!(t2["state"], "running", "the container runs on: {}", pretty(&t2));
    assert_eq!(pid(&t2), pid0, "{}", pretty(&t2));
    assert!(alive(pid0), "the container's process runs on");
    assert_eq!(restarts(&t2), 0, "{}", pretty(&t));
    assert_eq!(count(&t2, "Terminated", |_| true), 0, "{}", pretty(&t2));
    relay.restore();
    let t = s.wait_event("calm/g/0/t", "Engine Reachable", |_| true);
    assert_eq!((pid(&t), container_id(&t)), (pid0, id0.clone()), "the same container, followed again");
    // supd's log says the engine went and came back, once each.
    let log = s.log();
    let lines = |what: &str| log.lines().filter(|l| l.contains("docker engine at") && l.contains(what)).count();
    assert_eq!((lines("does not answer"), lines("answers again")), (1, 1), "{log}");
    assert_eq!(t["state"], "running", "{}", pretty(&t));
    // Its output is followed again.
    let last_tick = || {
        let out = String::from_utf8_lossy(&s.supctl(&["logs", "calm/g/0/t"]).stdout).into_owned();
        out.lines().filter_map(|l| l.strip_prefix("tick ")?.trim().parse::<u64>().ok()).max().unwrap_or(0)
    };
    let before = last_tick();
    let ok = wait_until(PATIENCE, || last_tick() > before + 3);
    assert!(ok, "its output reaches the logs again");
    // Away again, and the job is stopped meanwhile.
    relay.cut();
    s.wait_task("calm/g/0/t", "a second outage seen", |t| count(t, "Engine Unreachable", |_| true) == 2);
    let started = Instant::now();
    s.supctl_ok(&["job", "stop", "calm"]);
    let t = s.wait_dead("calm/g/0/t");
    assert!(started.elapsed() < Duration::from_secs(15), "stopped in {:?}", started.elapsed());
    assert!(!alive(pid0), "the container's process is gone: {}", pretty(&t));
    relay.restore();
    let ok = wait_until(PATIENCE, || !e.running(&home_label(&s)).iter().any(|c| c.starts_with(&id0)));
    assert!(ok, "the engine has the container stopped too");
}

/// The task's world as Nomad's docker driver mounts it: `alloc/` at
/// `/alloc`, `local/` at `/local`, `secrets/` at `/secrets`, the variables
/// naming them; a template rendered into `local/` is read inside; a
/// relative volume is under the task's directory.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_container_sees_its_task_directories_templates_and_relative_volumes() {
    let e = engine();
    let s = Supd::new();
    s.write_job(
        "world.hcl",
        r#"job "world" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "docker"
      template {
        data        = "greeting from {{ env \"NOMAD_TASK_NAME\" }}"
        destination = "local/conf/app.conf"
      }
      config {
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "echo dirs=$NOMAD_ALLOC_DIR,$NOMAD_TASK_DIR,$NOMAD_SECRETS_DIR; echo local=$(cat /local/conf/app.conf); echo volume=$(cat /etc/app/app.conf); echo secret > /secrets/s && echo secrets=ok; echo shared > /alloc/data/mark && echo alloc=ok; cat /proc/self/limits"]
        volumes = ["local/conf:/etc/app:ro"]
        ulimit { nofile = "512:1024" }
      }
    }
  }
}
"#,
    );
    let s = supd_with(s);
    let t = s.wait_dead("world/g/0/t");
    let out = String::from_utf8_lossy(&s.supctl(&["logs", "-n", "100", "world/g/0/t"]).stdout).into_owned();
    assert!(
        events(&t).iter().any(|(k, m)| k == "Terminated" && m == "Exit Code: 0"),
        "{}\n{out}\n{}",
        pretty(&t),
        s.log()
    );
    for line in
        ["dirs=/alloc,/local,/secrets", "local=greeting from t", "volume=greeting from t", "secrets=ok", "alloc=ok"]
    {
        assert!(out.lines().any(|l| l == line), "{line:?} is not in the container's output:\n{out}");
    }
    // The task's ulimit, and supd's own nproc where the task names none.
    assert_eq!(limits(&out, "Max open files"), ("512".to_string(), "1024".to_string()), "{out}");
    assert_eq!(limits(&out, "Max processes"), own_nproc(), "{out}");
    // What the container wrote into /alloc is the instance's alloc/ on the host.
    let marks: Vec<PathBuf> =
        walk(&s.path("state/alloc")).into_iter().filter(|p| p.ends_with("alloc/data/mark")).collect();
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(std::fs::read_to_string(&marks[0]).unwrap(), "shared\n");
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(ok, "containers left: {:?}", e.containers(&home_label(&s)));
}

/// A container task without `kill_signal` is stopped as Nomad's docker
/// driver stops it, with the engine's stop signal: its image's
/// STOPSIGNAL, else SIGTERM (drivers/docker/driver.go StopTask: an empty
/// signal means ContainerStop) — not SIGINT, the default of host tasks.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_container_without_kill_signal_gets_its_images_stop_signal() {
    let e = engine();
    let s = Supd::new();
    let trap = "trap 'echo got INT; exit 4' INT; trap 'echo got TERM; exit 3' TERM; trap 'echo got USR1; exit 5' USR1; echo ready; while :; do sleep 0.1; done";
    s.write_job(
        "stop.hcl",
        &format!(
            r#"job "stop" {{
  group "g" {{
    task "plain" {{
      driver = "docker"
      config {{
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "{trap}"]
      }}
    }}
    task "usr1" {{
      driver = "docker"
      config {{
        image   = "stopsig:1"
        command = "/bin/sh"
        args    = ["-c", "{trap}"]
      }}
    }}
  }}
}}
"#
        ),
    );
    let s = supd_with(s);
    for t in ["stop/g/0/plain", "stop/g/0/usr1"] {
        s.wait_running(t);
        assert!(
            wait_until(PATIENCE, || String::from_utf8_lossy(&s.supctl(&["logs", t]).stdout).contains("ready")),
            "{t} is ready"
        );
    }
    s.supctl_ok(&["job", "stop", "stop"]);
    for (t, code) in [("stop/g/0/plain", "Exit Code: 3"), ("stop/g/0/usr1", "Exit Code: 5")] {
        let dead = s.wait_dead(t);
        assert!(
            events(&dead).iter().any(|(k, m)| k == "Terminated" && m == code),
            "{t}: {}\n{}",
            pretty(&dead),
            String::from_utf8_lossy(&s.supctl(&["logs", t]).stdout)
        );
    }
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(ok, "containers left: {:?}", e.containers(&home_label(&s)));
}

/// A container that makes its relative volume's source a link to the
/// host's `/` and exits: its next start is refused with an event that
/// names the link, and no run ever sees the host's files through it
/// (`allow_volumes` is off: only the task's own directory may be bound).
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_link_planted_as_a_volume_source_is_never_bound() {
    let e = engine();
    let s = Supd::new();
    s.write_job(
        "escape.hcl",
        r#"job "escape" {
  group "g" {
    restart {
      attempts = 2
      interval = "10m"
      delay    = "0s"
      mode     = "fail"
    }
    task "t" {
      driver = "docker"
      config {
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "echo run >> /alloc/data/runs; ls -A /data >> /alloc/data/seen; rm -rf /local/data && ln -s / /local/data && exit 1"]
        volumes = ["local/data:/data"]
      }
    }
  }
}
"#,
    );
    let s = supd_with(s);
    let t = wait_long(&s, "escape/g/0/t", "given up", |t| t["state"] == "dead");
    assert!(
        events(&t).iter().any(|(_, m)| m.contains("local/data") && m.contains("symbolic link")),
        "the refused start names the link: {:?}\n{}",
        events(&t),
        s.log()
    );
    // Only the first run ran, and its /data was the task's own empty
    // directory.
    let file = |name: &str| {
        let found: Vec<PathBuf> =
            walk(&s.path("state/alloc")).into_iter().filter(|p| p.ends_with(format!("alloc/data/{name}"))).collect();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        std::fs::read_to_string(&found[0]).expect(name)
    };
    assert_eq!(file("runs"), "run\n", "one run started");
    assert_eq!(file("seen"), "", "the first run's /data is empty");
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(ok, "containers left: {:?}", e.containers(&home_label(&s)));
    // The refused start left nothing staged, and the task's end let go
    // of what the first run held.
    let binds = s.path("state/binds");
    assert!(mounts_below(&binds).is_empty(), "staging points left: {:?}", mounts_below(&binds));
}

/// The mount points at or below `dir` in this process's mount table
/// (supd's: the tests run in its mount namespace).
fn mounts_at_or_below(dir: &Path) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// The mount points strictly below `dir`.
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    mounts_at_or_below(dir).into_iter().filter(|p| p != dir).collect()
}

/// The source the engine reports for the mount at `destination` of
/// container `id`.
fn mount_source(e: &Engine, id: &str, destination: &str) -> PathBuf {
    let inspect: Value = serde_json::from_str(&e.docker_ok(&["inspect", id])).expect("inspect JSON");
    let mounts = inspect[0]["Mounts"].as_array().cloned().unwrap_or_default();
    let found = mounts.iter().find(|m| m["Destination"] == destination);
    let source = found.and_then(|m| m["Source"].as_str());
    PathBuf::from(source.unwrap_or_else(|| panic!("no mount at {destination}: {}", pretty(&inspect[0]["Mounts"]))))
}

/// (device, inode) of what `path` leads to.
fn identity(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.dev(), m.ino())
}

/// A container's bind sources below its instance's directory reach the
/// engine as supd's staging points (`<data_dir>/binds`, root's alone),
/// each a mount of the very directory supd opened just before the start,
/// so that nothing put in a source's place after supd's look is what the
/// engine binds: the engine reports the points as the mounts' sources,
/// the container sees the task's files through them, a restart (its
/// container made ahead) binds what is there at the restart, and once the
/// job is stopped, and once supd has stopped, nothing is left mounted or
/// made there.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn bind_sources_reach_the_engine_held_on_staging_points() {
    let e = engine();
    let s = Supd::new();
    s.write_job(
        "held.hcl",
        r#"job "held" {
  group "g" {
    restart {
      attempts = 3
      interval = "10m"
      delay    = "0s"
      mode     = "fail"
    }
    task "t" {
      driver = "docker"
      template {
        data        = "hello"
        destination = "local/data/greeting"
      }
      config {
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "echo seen=$(cat /data/greeting) files=$(ls /data); sleep 1000"]
        volumes = ["local/data:/data"]
      }
    }
  }
}
"#,
    );
    let mut s = supd_with(s);
    let target = "held/g/0/t";
    let t = s.wait_running(target);
    let id = container_id(&t);
    let binds = s.path("state/binds");
    let inst =
        PathBuf::from(instance(&s.status(), "held/g/0").and_then(|i| i["alloc_dir"].as_str()).expect("alloc_dir"));
    let local_data = inst.join("t/local/data");

    // The engine binds the staging points, not the task's directories.
    let data = mount_source(e, &id, "/data");
    assert!(data.starts_with(&binds), "/data is bound from {}, not from below {}", data.display(), binds.display());
    for inside in ["/alloc", "/local", "/secrets"] {
        let source = mount_source(e, &id, inside);
        assert!(source.starts_with(&binds), "{inside} is bound from {}", source.display());
    }
    // Each point is a mount of what it stands for, in a directory only
    // root may enter.
    assert_eq!(identity(&data), identity(&local_data), "{} holds {}", data.display(), local_data.display());
    assert_eq!(identity(&mount_source(e, &id, "/alloc")), identity(&inst.join("alloc")));
    assert_eq!(mounts_below(&binds).len(), 4, "alloc/, local/, secrets/ and local/data: {:?}", mounts_below(&binds));
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(&binds).expect("the staging root");
        assert_eq!((m.uid(), m.permissions().mode() & 0o7777), (0, 0o700));
    }
    // The container sees the task's files through them.
    let logs = || String::from_utf8_lossy(&s.supctl(&["logs", target]).stdout).into_owned();
    assert!(wait_until(PATIENCE, || logs().contains("seen=hello files=greeting")), "{}\n{}", logs(), s.log());
    // The container made ahead for the next run names the same points.
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).len() == 2);
    assert!(ok, "the next run's container is made ahead: {:?}", e.containers(&home_label(&s)));
    let ahead: Vec<String> = e.containers(&home_label(&s)).into_iter().filter(|c| !c.starts_with(&id)).collect();
    assert_eq!(mount_source(e, &ahead[0], "/data"), data);

    // local/data is replaced, then the task restarts: the new run binds
    // the new directory (held anew at its start), not the one held before.
    std::fs::rename(&local_data, inst.join("t/local/old-data")).expect("move local/data away");
    std::fs::create_dir(&local_data).expect("a new local/data");
    std::fs::write(local_data.join("marker"), "").expect("a marker");
    kill(Pid::from_raw(pid(&t)), Signal::SIGKILL).expect("kill the container's process");
    let t = s.wait_task(target, "runs again", |t| t["state"] == "running" && container_id(t) != id);
    let id2 = container_id(&t);
    assert_eq!(mount_source(e, &id2, "/data"), data, "the same staging point");
    assert_eq!(identity(&data), identity(&local_data), "now holding the new local/data");
    let ok = wait_until(PATIENCE, || logs().lines().any(|l| l.contains("files=") && l.contains("marker")));
    assert!(ok, "the new run sees the new local/data:\n{}\n{}", logs(), s.log());
    assert_eq!(mounts_below(&binds).len(), 4, "the points were replaced: {:?}", mounts_below(&binds));

    // Stopped: no container, no staging point, no staging directory.
    s.supctl_ok(&["job", "stop", "held"]);
    s.wait_dead(target);
    assert_no_container_left(e, &s, "after job stop");
    let ok = wait_until(PATIENCE, || mounts_below(&binds).is_empty());
    assert!(ok, "staging points left after job stop: {:?}\n{}", mounts_below(&binds), s.log());
    let left: Vec<PathBuf> = walk(&binds);
    assert!(left.is_empty(), "staging directories left after job stop: {left:?}");

    // supd stops: not even the staging root's own mount is left.
    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).expect("SIGTERM supd");
    assert!(s.wait_exit(Duration::from_secs(30)).is_some(), "supd exits\n{}", s.log());
    let left = mounts_at_or_below(&binds);
    assert!(left.is_empty(), "mounts left after supd's exit: {left:?}\n{}", s.log());
    assert!(!binds.exists(), "{} is left after supd's exit", binds.display());
}

/// The churn job: three instances of a container task restarted at once
/// whenever it ends (`args` is its shell command).
fn churn_job(args: &str) -> String {
    format!(
        r#"job "churn" {{
  group "g" {{
    count = 3
    restart {{
      attempts = 100000
      interval = "10m"
      delay    = "0s"
      mode     = "delay"
    }}
    task "t" {{
      driver       = "docker"
      kill_timeout = "1s"
      config {{
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "{args}"]
      }}
    }}
  }}
}}
"#
    )
}

const CHURN: [&str; 3] = ["churn/g/0/t", "churn/g/1/t", "churn/g/2/t"];

/// The alloc ids on the containers of this supd, running or not.
fn container_allocs(e: &Engine, s: &Supd) -> Vec<String> {
    let out = e.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={}", home_label(s)),
        "--format",
        "{{.Label \"supd.alloc_id\"}}",
    ]);
    out.lines().map(str::to_string).collect()
}

fn assert_no_container_left(e: &Engine, s: &Supd, when: &str) {
    // Removals wait for the engine, which other tests keep busy too.
    let ok = wait_until(2 * PATIENCE, || e.containers(&home_label(s)).is_empty());
    assert!(
        ok,
        "containers left {when}:\n{}\n{}",
        e.docker_ok(&["ps", "-a", "--filter", &format!("label={}", home_label(s))]),
        s.log()
    );
}

/// A container made ahead for a task's next run never outlives the task:
/// when the job is stopped at once after a restart (while the next run's
/// container is being made, or before its thread has even begun), after
/// a supd killed while it made one is started again, when the instance
/// is replaced, and at supd's shutdown with the job stopped.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn no_container_made_ahead_outlives_its_task() {
    let e = engine();
    let s = Supd::new();
    let file = s.write_file("churn.hcl", &churn_job("sleep 0.3"));
    let file = file.to_str().expect("UTF-8 path").to_string();
    let mut s = supd_with(s);

    // Stopped right after a restart, at a different moment each round.
    for round in 0..4u64 {
        s.supctl_ok(&["job", "run", &file]);
        let ok = wait_until(4 * PATIENCE, || {
            s.try_status().is_some_and(|st| CHURN.iter().all(|t| task(&st, t).is_some_and(|t| restarts(t) >= 1)))
        });
        assert!(ok, "round {round}: every instance restarts\n{}", s.log());
        std::thread::sleep(Duration::from_millis(round * 70));
        s.supctl_ok(&["job", "stop", "churn"]);
        for t in CHURN {
            s.wait_dead(t);
        }
        assert_no_container_left(e, &s, &format!("after job stop, round {round}"));
    }

    // supd killed as soon as a task runs (its next run's container, and
    // the other tasks' containers, being made), then started again: it
    // adopts what runs, and job stop leaves nothing, also of what the
    // killed supd was making.
    std::fs::write(&file, churn_job("sleep 1000")).expect("write the job");
    for round in 0..3 {
        s.supctl_ok(&["job", "run", &file]);
        let ok = wait_until(4 * PATIENCE, || {
            s.try_status().is_some_and(|st| CHURN.iter().any(|t| task(&st, t).is_some_and(|t| t["state"] == "running")))
        });
        assert!(ok, "round {round}: a task runs\n{}", s.log());
        s.kill9();
        s = supd_with(s);
        for t in CHURN {
            s.wait_running(t);
        }
        s.supctl_ok(&["job", "stop", "churn"]);
        for t in CHURN {
            s.wait_dead(t);
        }
        assert_no_container_left(e, &s, &format!("after a restart of supd and job stop, round {round}"));
    }

    // A container of a task that no run follows, made by a previous supd
    // (of an instance id of its own: the one a supd killed while creating
    // it leaves, answered after its successor listed the containers to
    // adopt) goes when the task ends.
    s.supctl_ok(&["job", "run", &file]);
    s.wait_running(CHURN[0]);
    let stray = e.docker_ok(&[
        "create",
        "--label",
        &home_label(&s),
        "--label",
        "supd.job=churn",
        "--label",
        "supd.group=g",
        "--label",
        "supd.index=0",
        "--label",
        "supd.task=t",
        "--label",
        "supd.alloc_id=0123456789abcdef",
        "tools:1",
        "/bin/sleep",
        "1000",
    ]);
    s.supctl_ok(&["job", "stop", "churn"]);
    for t in CHURN {
        s.wait_dead(t);
    }
    assert_no_container_left(e, &s, &format!("after job stop, beside {}", stray.trim()));

    // The instances are replaced: nothing of the old ones is left.
    s.supctl_ok(&["job", "run", &file]);
    let mut st = Value::Null;
    let ok = wait_until(4 * PATIENCE, || {
        st = s.try_status().unwrap_or(Value::Null);
        CHURN.iter().all(|t| task(&st, t).is_some_and(|t| t["state"] == "running"))
    });
    assert!(ok, "every instance runs: {}\n{}", pretty(&st), s.log());
    let old: Vec<String> = CHURN
        .iter()
        .map(|t| instance(&st, t.rsplit_once('/').unwrap().0).and_then(|i| i["id"].as_str()).unwrap().to_string())
        .collect();
    std::fs::write(&file, churn_job("sleep 999")).expect("write the job");
    s.supctl_ok(&["job", "run", &file]);
    let ok = wait_until(4 * PATIENCE, || {
        let allocs = container_allocs(e, &s);
        let st = s.status();
        CHURN.iter().all(|t| {
            task(&st, t).is_some_and(|t| t["state"] == "running")
                && instance(&st, t.rsplit_once('/').unwrap().0)
                    .and_then(|i| i["id"].as_str())
                    .is_some_and(|id| !old.iter().any(|o| o.starts_with(id) || id.starts_with(o.as_str())))
        }) && !allocs.iter().any(|a| old.iter().any(|o| o.starts_with(a.as_str()) || a.starts_with(o.as_str())))
    });
    assert!(ok, "containers of the replaced instances {old:?} are left: {:?}\n{}", container_allocs(e, &s), s.log());
    // The replacements' own containers were not taken for leftovers.
    std::thread::sleep(Duration::from_secs(1));
    let st = s.status();
    for t in CHURN {
        let t = task(&st, t).expect("the task");
        assert!(t["state"] == "running" && restarts(t) == 0, "{}\n{}", pretty(t), s.log());
    }

    // supd shuts down right after job stop: it waits for the removals.
    s.supctl_ok(&["job", "stop", "churn"]);
    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).expect("SIGTERM supd");
    assert!(s.wait_exit(Duration::from_secs(60)).is_some(), "supd exits\n{}", s.log());
    let left = e.containers(&home_label(&s));
    assert!(left.is_empty(), "containers left after job stop and supd's shutdown: {left:?}\n{}", s.log());
}

/// A parameterized batch job `name` whose container writes the run's id,
/// meta and payload to the instance's `alloc/data/runs` (one line per
/// start), waits until `alloc/data/go` exists, then exits with the code in
/// `NOMAD_META_code`. `restart` is its group's restart block (none: the
/// batch default, 3 attempts).
fn render_job(name: &str, restart: &str) -> String {
    format!(
        r#"job "{name}" {{
  type = "batch"
  parameterized {{
    payload       = "required"
    meta_required = ["scene", "code"]
  }}
  group "g" {{
    {restart}
    task "t" {{
      driver = "docker"
      dispatch_payload {{
        file = "in/scene.txt"
      }}
      config {{
        image   = "tools:1"
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_JOB_ID $NOMAD_META_scene $(cat /local/in/scene.txt) >> /alloc/data/runs; while [ ! -e /alloc/data/go ]; do sleep 0.1; done; exit $NOMAD_META_code"]
      }}
    }}
  }}
}}
"#
    )
}

/// A restart block that allows none: a run that fails is failed.
const NO_RESTART: &str = r#"restart {
      attempts = 0
      mode     = "fail"
    }"#;

/// A job's entry in a status.
fn job_entry<'a>(st: &'a Value, name: &str) -> Option<&'a Value> {
    st["jobs"].as_array()?.iter().find(|j| j["name"] == name)
}

/// The one instance of a dispatched run.
fn run_instance<'a>(st: &'a Value, id: &str) -> Option<&'a Value> {
    job_entry(st, id).map(|j| &j["groups"][0]["instances"][0])
}

/// The one task of a dispatched run.
fn run_task<'a>(st: &'a Value, id: &str) -> Option<&'a Value> {
    run_instance(st, id).map(|i| &i["tasks"][0])
}

/// `job dispatch JOB` with `scene` and `code`; the run's ID.
fn dispatch_render(s: &Supd, job: &str, scene: &str, code: u8) -> String {
    let input = s.write_file(&format!("{scene}.txt"), &format!("a {scene} teapot"));
    let out = s.supctl_ok(&[
        "job",
        "dispatch",
        job,
        "--meta",
        &format!("scene={scene}"),
        "--meta",
        &format!("code={code}"),
        input.to_str().expect("UTF-8"),
    ]);
    out.lines().next().and_then(|l| l.strip_prefix("dispatched ")).unwrap_or_else(|| panic!("{out}")).to_string()
}

/// Waits until the dispatched run's task runs; its status.
fn wait_run_running(s: &Supd, id: &str) -> Value {
    let st = s.wait_status(&format!("{id} runs"), |st| {
        run_task(st, id).is_some_and(|t| t["state"] == "running" && !container_id(t).is_empty())
    });
    run_task(&st, id).cloned().expect("the task")
}

/// The alloc directory of a dispatched run.
fn run_dir(st: &Value, id: &str) -> PathBuf {
    PathBuf::from(
        run_instance(st, id)
            .and_then(|i| i["alloc_dir"].as_str())
            .unwrap_or_else(|| panic!("no alloc_dir of {id}: {}", pretty(st))),
    )
}

/// The ids of the containers of a dispatched run that the engine started
/// (a container made ahead for a next run that never came has not), in
/// one listing: one that is removed meanwhile is not inspected.
fn started_containers(e: &Engine, s: &Supd, id: &str) -> Vec<String> {
    let mut args = vec![
        "-a".to_string(),
        "--filter".to_string(),
        format!("label={}", home_label(s)),
        "--filter".to_string(),
        format!("label=supd.job={id}"),
    ];
    // Filters on the same key are either-or.
    for state in ["running", "paused", "exited", "dead"] {
        args.extend(["--filter".to_string(), format!("status={state}")]);
    }
    e.ps(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A dispatched run of a container task outlives `kill -9` of supd: the
/// next supd adopts its container (the same one, still running, no second
/// start), shows the run running and, when the container ends, complete;
/// the container saw the meta and payload sent.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_dispatched_container_run_is_adopted_after_kill_9_and_runs_once() {
    let e = engine();
    let s = Supd::new();
    s.write_job("render.hcl", &render_job("render", ""));
    let mut s = supd_with(s);
    let id = dispatch_render(&s, "render", "kitchen", 0);
    let t = wait_run_running(&s, &id);
    let (pid1, cid) = (pid(&t), container_id(&t));
    let dir = run_dir(&s.status(), &id);
    let runs = dir.join("alloc/data/runs");
    let ok = wait_until(PATIENCE, || !lines(&runs).is_empty());
    assert!(ok, "the container wrote its line\n{}", s.log());

    s.kill9();
    assert!(alive(pid1), "the container outlives supd");
    let s = supd_with(s);
    let t = wait_run_running(&s, &id);
    assert_eq!((container_id(&t), pid(&t)), (cid.clone(), pid1), "adopted, not started anew: {}", pretty(&t));
    let st = s.status();
    assert_eq!(job_status(&st, &id), "running", "{}", pretty(&st));
    assert_eq!(run_dir(&st, &id), dir, "the same allocation directory");
    let started = started_containers(e, &s, &id);
    assert_eq!(started.len(), 1, "one container ran for {id}: {started:?}");
    assert!(started[0].starts_with(&cid), "{started:?} vs {cid}");

    // The container ends: the run completes with its exit code.
    std::fs::write(dir.join("alloc/data/go"), "").expect("write go");
    let st = s.wait_status(&format!("{id} completes"), |st| job_status(st, &id) == "complete");
    let t = run_task(&st, &id).expect("the task");
    assert!(events(t).iter().any(|(k, m)| k == "Terminated" && m == "Exit Code: 0"), "{}\n{}", pretty(t), s.log());
    let listed = &job_entry(&st, "render").expect("the job")["parameterized"]["dispatched"];
    assert_eq!(listed[0]["id"], id.as_str(), "{}", pretty(listed));
    assert_eq!(listed[0]["status"], "complete", "{}", pretty(listed));
    assert_eq!(lines(&runs), [format!("{id} kitchen a kitchen teapot")], "one run, with its meta and payload");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(job_status(&s.status(), &id), "complete");
    assert_eq!(lines(&runs).len(), 1, "the run ran again");
    assert_no_container_left(e, &s, "after the run completed");
}

/// A dispatched run whose container ended while supd was down: the next
/// supd reports it ended as the container did (complete with exit code 0,
/// failed with another) and does not run it again.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_dispatched_container_run_that_ended_while_supd_was_down_is_not_run_again() {
    let e = engine();
    let s = Supd::new();
    // The default policy would restart an interrupted run: the one that
    // completed must not be taken for one.
    s.write_job("render.hcl", &render_job("render", ""));
    s.write_job("strict.hcl", &render_job("strict", NO_RESTART));
    let mut s = supd_with(s);
    let ok = dispatch_render(&s, "render", "garden", 0);
    let bad = dispatch_render(&s, "strict", "cellar", 3);
    let mut dirs = Vec::new();
    for id in [&ok, &bad] {
        wait_run_running(&s, id);
        let dir = run_dir(&s.status(), id);
        let ok = wait_until(PATIENCE, || !lines(&dir.join("alloc/data/runs")).is_empty());
        assert!(ok, "{id}'s container wrote its line\n{}", s.log());
        dirs.push(dir);
    }

    s.kill9();
    for dir in &dirs {
        std::fs::write(dir.join("alloc/data/go"), "").expect("write go");
    }
    let ok_ended = wait_until(PATIENCE, || {
        [&ok, &bad].iter().all(|id| {
            let out = e.docker_ok(&[
                "ps",
                "-q",
                "--filter",
                &format!("label={}", home_label(&s)),
                "--filter",
                &format!("label=supd.job={id}"),
                "--filter",
                "status=running",
            ]);
            out.trim().is_empty()
        })
    });
    assert!(ok_ended, "the containers ended while supd was down");
    let s = supd_with(s);
    s.wait_status("both runs ended", |st| {
        [&ok, &bad].iter().all(|id| run_task(st, id).is_some_and(|t| t["state"] == "dead"))
    });
    // Time to start again, had it been going to.
    std::thread::sleep(Duration::from_secs(2));
    for (id, dir, scene) in [(&ok, &dirs[0], "garden"), (&bad, &dirs[1], "cellar")] {
        assert_eq!(
            lines(&dir.join("alloc/data/runs")),
            [format!("{id} {scene} a {scene} teapot")],
            "{id} ran once\n{}",
            s.log()
        );
    }
    let st = s.status();
    assert_eq!((job_status(&st, &ok), job_status(&st, &bad)), ("complete".into(), "failed".into()), "{}", pretty(&st));
    for (id, code) in [(&ok, 0), (&bad, 3)] {
        let t = run_task(&st, id).expect("the task");
        assert!(
            events(t).iter().any(|(k, m)| k == "Terminated" && *m == format!("Exit Code: {code}")),
            "{id}: {}\n{}",
            pretty(t),
            s.log()
        );
    }
    assert_no_container_left(e, &s, "after the runs ended");
}

/// An image of supd itself (supd, its libraries, a shell; made with
/// `docker import`) whose job appends a line to a bind-mounted file, then
/// exits 0 — or 1 once the file `fail` exists there.
fn supd_image(e: &Engine) -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = e.dir.join("supd-rootfs");
        for (bin, to) in [(SUPD, "/usr/bin/supd"), (SUPCTL, "/usr/bin/supctl"), ("/bin/sh", "/bin/sh")] {
            copy_with_libs(&root, bin, to);
        }
        for d in ["tmp", "run", "out", "etc/supd/jobs"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(
            root.join("etc/supd/jobs/once.hcl"),
            r#"job "once" {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo run >> /out/runs; test ! -e /out/fail"]
      }
    }
  }
}
"#,
        )
        .unwrap();
        let script = format!(
            "tar -C {} -c . | {DOCKER} -H unix://{} import -c 'ENTRYPOINT [\"/usr/bin/supd\"]' - supd-init:1",
            root.display(),
            e.socket().display()
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().expect("docker import");
        assert!(out.status.success(), "{script}: {}", describe(&out));
    });
    "supd-init:1"
}

/// supd as a container's init: every start of the container is a boot, so
/// its batch job runs again after `docker start` of the exited container
/// (its state is in the container's own layer), and `--restart
/// on-failure:2` runs a failing job three times in all, supd exiting with
/// the task's code each time.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn supd_as_a_containers_init_runs_its_jobs_at_every_start() {
    let e = engine();
    let image = supd_image(e);
    let out = tempfile::tempdir().unwrap();
    let runs = || lines(&out.path().join("runs")).len();
    let volume = format!("{}:/out", out.path().display());
    let name = format!("supd-init-{}", std::process::id());
    e.docker_ok(&["run", "--name", &name, "--network", "none", "-v", &volume, image]);
    assert_eq!(runs(), 1);
    e.docker_ok(&["start", "-a", &name]);
    assert_eq!(runs(), 2, "a container start runs the job again: {}", e.docker_ok(&["logs", &name]));
    let logs = e.docker(&["logs", &name]);
    assert!(String::from_utf8_lossy(&logs.stderr).contains("this start is a boot"), "{}", describe(&logs));
    e.docker_ok(&["rm", &name]);

    std::fs::write(out.path().join("fail"), "").unwrap();
    let failing = format!("{name}-f");
    let ran =
        e.docker(&["run", "--name", &failing, "--network", "none", "--restart", "on-failure:2", "-v", &volume, image]);
    assert_eq!(ran.status.code(), Some(1), "supd exits with the task's code: {}", describe(&ran));
    let done = wait_until(Duration::from_secs(60), || {
        e.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", &failing]).trim() == "exited 2"
    });
    assert!(done, "{}", e.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", &failing]));
    assert_eq!(runs(), 5, "two runs, then three: the first and two restarts");
    e.docker_ok(&["rm", "-f", &failing]);
}

/// supd's image under Docker's tightest usual settings: a read-only root
/// (only Docker's /dev/shm tmpfs is writable), as root and as an arbitrary
/// `--user` with no home. supd keeps its socket and state below /dev/shm,
/// the job runs, and a plain `docker exec … supctl status` finds supd.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn supd_as_a_containers_init_runs_read_only_and_as_any_user() {
    use std::os::unix::fs::PermissionsExt;
    let e = engine();
    let image = supd_image(e);
    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let runs = || lines(&out.path().join("runs")).len();
    let volume = format!("{}:/out", out.path().display());
    for (n, user) in [(1, "0:0"), (2, "1234:1234")] {
        let name = format!("supd-ro-{}-{n}", std::process::id());
        e.docker_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--read-only",
            "--user",
            user,
            "-v",
            &volume,
            image,
            "--exit-when-done=false",
        ]);
        assert!(wait_until(PATIENCE, || runs() == n), "as {user}: {}", describe(&e.docker(&["logs", &name])));
        let status = e.docker(&["exec", &name, "/usr/bin/supctl", "status"]);
        let text = describe(&status);
        assert!(status.status.success() && text.contains("once"), "as {user}: {text}");
        let logs = e.docker(&["logs", &name]);
        assert!(String::from_utf8_lossy(&logs.stderr).contains("/dev/shm"), "{}", describe(&logs));
        e.docker_ok(&["rm", "-f", &name]);
        // The next round's user appends to the same file.
        std::fs::set_permissions(out.path().join("runs"), std::fs::Permissions::from_mode(0o666)).unwrap();
    }
}

/// supd built static (`scripts/build-static`) is the init of an image with
/// nothing else in it: its job runs a program as `nobody` (a user looked
/// up in the image's /etc/passwd) and the container exits 0.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_static_supd_is_the_init_of_an_image_with_nothing_else() {
    let e = engine();
    let built = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-static"))
        .arg("--debug")
        .output()
        .expect("scripts/build-static");
    assert!(built.status.success(), "{}", describe(&built));
    let paths: Vec<String> =
        String::from_utf8_lossy(&built.stdout).lines().filter_map(|l| Some(l.split(' ').next()?.to_string())).collect();
    assert_eq!(paths.len(), 2, "{}", describe(&built));
    let root = tempfile::tempdir().unwrap();
    for (from, name) in paths.iter().zip(["supd", "supctl"]) {
        let ldd = Command::new("ldd").arg(from).output().expect("ldd");
        assert!(!String::from_utf8_lossy(&ldd.stdout).contains(".so"), "{name} needs no library: {}", describe(&ldd));
        std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
        std::fs::copy(from, root.path().join("usr/bin").join(name)).unwrap();
    }
    for d in ["tmp", "run", "etc/supd/jobs"] {
        std::fs::create_dir_all(root.path().join(d)).unwrap();
    }
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0::/root:/nonexistent\nnobody:x:65534:65534::/:/nonexistent\n",
    )
    .unwrap();
    std::fs::write(root.path().join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    std::fs::write(
        root.path().join("etc/supd/jobs/v.hcl"),
        r#"job "v" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      user   = "nobody"
      config {
        command = "/usr/bin/supctl"
        args    = ["--version"]
      }
    }
  }
}
"#,
    )
    .unwrap();
    let script = format!(
        "tar -C {} -c . | {DOCKER} -H unix://{} import -c 'ENTRYPOINT [\"/usr/bin/supd\"]' - supd-static:1",
        root.path().display(),
        e.socket().display()
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().expect("docker import");
    assert!(out.status.success(), "{script}: {}", describe(&out));
    let name = format!("supd-static-{}", std::process::id());
    let ran = e.docker(&["run", "--name", &name, "--network", "none", "supd-static:1"]);
    let logs = describe(&e.docker(&["logs", &name]));
    e.docker_ok(&["rm", "-f", &name]);
    assert!(ran.status.success(), "{}\n{logs}", describe(&ran));
    assert!(logs.contains(&format!("v.g[0]/t | supctl {}", env!("CARGO_PKG_VERSION"))), "{logs}");
}

/// Under `docker run --memory 64m`, supd's node has the container's 64 MiB,
/// not the host's memory: a job that asks for more is refused with the
/// numbers, and, as init with nothing else to run, supd exits 1.
#[test]
#[ignore = "needs dockerd, as root: scripts/test runs it (cargo test -- --ignored)"]
fn supd_in_a_container_counts_the_containers_memory_not_the_hosts() {
    let e = engine();
    let image = supd_image(e);
    let jobs = tempfile::tempdir().unwrap();
    std::fs::write(
        jobs.path().join("big.hcl"),
        r#"job "big" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exit 0"]
      }
      resources {
        memory = 200
      }
    }
  }
}
"#,
    )
    .unwrap();
    let volume = format!("{}:/etc/supd/jobs", jobs.path().display());
    let name = format!("supd-mem-{}", std::process::id());
    let ran = e.docker(&["run", "--name", &name, "--network", "none", "--memory", "64m", "-v", &volume, image]);
    let logs = describe(&e.docker(&["logs", &name]));
    e.docker_ok(&["rm", "-f", &name]);
    assert_eq!(ran.status.code(), Some(1), "{}\n{logs}", describe(&ran));
    assert!(logs.contains("64 MB") && logs.contains("memory 200"), "{logs}");
}
