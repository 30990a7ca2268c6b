//! Health checks end to end: the real `supd` binary on a temporary job
//! directory and control socket, driven by the real `supctl`, probing real
//! servers — a python3 HTTP server whose answer the test sets through a file
//! (200, 429, 500, 302, or no answer at all), python3 tcp listeners, ports
//! nobody listens on — and running real sh scripts as script checks.
//!
//! Timing allows for a loaded 2-core machine: checks run every 100–200 ms,
//! waits poll with generous ceilings, and timing assertions are ranges.
//! Nothing here depends on whether a check's first run comes right at the
//! task's start or one interval later.

use crate::support::*;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// --- real servers --------------------------------------------------------------

/// An HTTP server that answers every request with the status code in the
/// file `code` of its directory (read per request), or never answers when
/// the file says `hang`. It notes each request's method and path in `hits`.
const HTTP_SERVER: &str = r#"
import http.server, os, sys, time

root = sys.argv[1]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with open(os.path.join(root, "hits"), "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
        try:
            with open(os.path.join(root, "code")) as f:
                code = f.read().strip()
        except OSError:
            code = "200"
        if code == "hang":
            time.sleep(60)
            return
        code = int(code)
        body = b"status %d\n" % code
        self.send_response(code)
        if 300 <= code < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_POST = do_GET

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(os.path.join(root, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(root, "port.tmp"), os.path.join(root, "port"))
server.serve_forever()
"#;

/// The test's own HTTP server (not a task: it lives across the task's
/// restarts, so only the test decides what it answers). Killed on drop.
struct HttpServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl HttpServer {
    /// Starts the server in `DIR/http`, answering `code`; waits for its port.
    fn start(s: &Supd, code: &str) -> HttpServer {
        let dir = s.path("http");
        std::fs::create_dir_all(&dir).expect("server directory");
        let script = dir.join("server.py");
        std::fs::write(&script, HTTP_SERVER).expect("server script");
        let log = std::fs::File::create(dir.join("server.log")).expect("server log");
        let child = Command::new(python())
            .arg(&script)
            .arg(&dir)
            .env(TAG, s.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the HTTP server");
        let mut server = HttpServer { child, port: 0, dir };
        server.answer(code);
        let port_file = server.dir.join("port");
        let up = wait_until(PATIENCE, || port_file.exists());
        assert!(
            up,
            "the HTTP server did not start: {}",
            std::fs::read_to_string(server.dir.join("server.log")).unwrap()
        );
        server.port = std::fs::read_to_string(&port_file).expect("port").trim().parse().expect("a port number");
        server
    }

    /// From now on the server answers `code` (`200`, `429`, …, or `hang`).
    fn answer(&self, code: &str) {
        let tmp = self.dir.join("code.tmp");
        std::fs::write(&tmp, code).expect("write the answer");
        std::fs::rename(&tmp, self.dir.join("code")).expect("set the answer");
    }

    /// `METHOD PATH` of every request so far.
    fn hits(&self) -> Vec<String> {
        lines(&self.dir.join("hits"))
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on (bound by the OS, then released).
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A tcp server for a task: accepts and closes connections forever on
/// 127.0.0.1 and the port in the environment variable named by argv[1].
const TCP_SERVER: &str = r#"
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ[sys.argv[1]])))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
"#;

// --- http checks -----------------------------------------------------------------

/// An http check follows what the server answers: 2xx passing, anything
/// else critical with the status line as the output, redirects not followed,
/// no answer within the timeout critical. Every change is a `Check Status`
/// event; without check_restart nothing restarts.
#[test]
fn http_check_follows_the_servers_answers() {
    const T: &str = "web/g/0/t";
    let s = Supd::new();
    let server = HttpServer::start(&s, "200");
    s.write_job(
        "web.hcl",
        &r#"
job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        name = "web"
        port = @PORT@
        check {
          name     = "alive"
          type     = "http"
          path     = "/health"
          interval = "200ms"
          timeout  = "1s"
        }
      }
    }
  }
}
"#
        .replace("@PORT@", &server.port.to_string()),
    );
    let s = s.start();

    let t = s.wait_health(T, "passing");
    let first_pid = pid(&t);
    let c = check(&t, "alive").expect("the check is listed");
    let mut keys: Vec<&str> = c.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["check_restart", "name", "output", "status", "type"], "{}", pretty(c));
    assert_eq!(c["check_restart"], "off (limit 0)");
    assert_eq!((&c["type"], &c["status"]), (&Value::from("http"), &Value::from("passing")));
    assert!(c["output"].as_str().is_some_and(|o| o.contains("200")), "{}", pretty(c));
    let to_passing = |m: &str| m.starts_with(r#"check "alive" is passing (was critical): "#) && m.contains("200");
    let t = s.wait_event(T, "Check Status", to_passing);
    assert_eq!(count(&t, "Check Status", to_passing), 1, "{:#?}", events(&t));
    assert!(server.hits().iter().any(|h| h == "GET /health"), "requests: {:?}", server.hits());

    // 500: critical, with the status in the output and in the event.
    server.answer("500");
    let t = s.wait_health(T, "critical");
    let (status, output) = check_state(&t, "alive");
    assert_eq!(status, "critical");
    assert!(output.contains("500"), "{output:?}");
    let to_critical = |m: &str| m.starts_with(r#"check "alive" is critical (was passing): "#) && m.contains("500");
    s.wait_event(T, "Check Status", to_critical);

    // Back to 200.
    server.answer("200");
    let t = s.wait_health(T, "passing");
    assert!(count(&t, "Check Status", to_passing) >= 2, "{:#?}", events(&t));

    // A redirect is an answer like any other: not followed, critical.
    server.answer("302");
    let t = s.wait_task(T, "the check reports the redirect", |t| check_state(t, "alive").1.contains("302"));
    assert_eq!(check_state(&t, "alive").0, "critical");
    assert_eq!(t["health"], "critical");
    server.answer("200");
    s.wait_health(T, "passing");
    assert!(!server.hits().iter().any(|h| h.contains("/elsewhere")), "a redirect was followed: {:?}", server.hits());

    // No answer at all: critical once the timeout passes.
    server.answer("hang");
    let t = s.wait_task(T, "the check times out", |t| check_state(t, "alive").1 == "timed out after 1s");
    assert_eq!((check_state(&t, "alive").0.as_str(), &t["health"]), ("critical", &Value::from("critical")));
    let timed_out = |m: &str| m == r#"check "alive" is critical (was passing): timed out after 1s"#;
    s.wait_event(T, "Check Status", timed_out);
    server.answer("200");
    let t = s.wait_health(T, "passing");

    // Without check_restart, none of this touched the task.
    assert_eq!((t["state"].as_str(), restarts(&t), pid(&t)), (Some("running"), 0, first_pid));
    assert_eq!(count(&t, "Restart Signaled", |_| true), 0, "{:#?}", events(&t));
}

/// 429 is a warning: it counts as unhealthy for check_restart, unless
/// `ignore_warnings = true`, which never restarts the task.
#[test]
fn http_429_is_a_warning_that_ignore_warnings_tolerates() {
    const STRICT: &str = "strict/g/0/t";
    const LENIENT: &str = "lenient/g/0/t";
    let s = Supd::new();
    let server = HttpServer::start(&s, "429");
    let job = |name: &str, ignore: bool| {
        r#"
job "@NAME@" {
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
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        port = @PORT@
        check {
          name     = "api"
          type     = "http"
          path     = "/@NAME@"
          interval = "200ms"
          timeout  = "1s"
          check_restart {
            limit           = 2
            grace           = "0s"
            ignore_warnings = @IGNORE@
          }
        }
      }
    }
  }
}
"#
        .replace("@NAME@", name)
        .replace("@PORT@", &server.port.to_string())
        .replace("@IGNORE@", &ignore.to_string())
    };
    s.write_job("strict.hcl", &job("strict", false));
    s.write_job("lenient.hcl", &job("lenient", true));
    let s = s.start();

    // Both see a warning.
    for target in [STRICT, LENIENT] {
        let warned = |m: &str| m.starts_with(r#"check "api" is warning (was critical): "#) && m.contains("429");
        s.wait_event(target, "Check Status", warned);
    }
    let t = s.wait_health(LENIENT, "warning");
    let lenient_pid = pid(&t);
    assert!(check_state(&t, "api").1.contains("429"), "{}", pretty(&t));

    // Warnings count: the strict task is restarted, through its restart policy.
    let t = s.wait_task(STRICT, "restarted twice by its check", |t| restarts(t) >= 2);
    let signaled = count(&t, "Restart Signaled", |m| m == r#"healthcheck: check "api" unhealthy"#);
    assert!(signaled >= 2, "{:#?}", events(&t));
    assert_eq!(count(&t, "Restart Signaled", |_| true), signaled, "{:#?}", events(&t));
    assert!(count(&t, "Restarting", |_| true) >= 2, "{:#?}", events(&t));

    // Meanwhile the lenient task got as many warnings, and more: never restarted.
    let enough = wait_until(PATIENCE, || server.hits().iter().filter(|h| *h == "GET /lenient").count() >= 12);
    assert!(enough, "the lenient check did not run 12 times: {:?}\n{}", server.hits(), s.log());
    let st = s.status();
    let t = task(&st, LENIENT).expect("task");
    assert_eq!((t["state"].as_str(), restarts(t), pid(t)), (Some("running"), 0, lenient_pid), "{}", pretty(t));
    assert_eq!(count(t, "Restart Signaled", |_| true), 0, "{:#?}", events(t));
    assert_eq!(t["health"], "warning");
}

// --- tcp checks and check_restart ----------------------------------------------------

/// A tcp check on a port nobody listens on, with check_restart: each run is
/// restarted after `limit` critical results, against the restart policy's
/// attempts, with the task's kill signal; then `Not Restarting`.
#[test]
fn failing_tcp_check_uses_up_restart_attempts() {
    const T: &str = "tcpdown/g/0/t";
    let s = Supd::new();
    s.write_job(
        "tcpdown.hcl",
        &r#"
job "tcpdown" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "500ms"
      mode     = "fail"
    }
    task "t" {
      driver      = "raw_exec"
      kill_signal = "SIGUSR1"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started >> @DIR@/starts; exec sleep 1000"]
      }
      service {
        port = @PORT@
        check {
          name     = "port-open"
          type     = "tcp"
          interval = "100ms"
          timeout  = "1s"
          check_restart {
            limit = 3
            grace = "0s"
          }
        }
      }
    }
  }
}
"#
        .replace("@PORT@", &unused_port().to_string()),
    );
    let s = s.start();
    let log = EventLog::new();
    let t = s.wait_task(T, "dead and failed", |t| {
        log.follow(t);
        t["state"] == "dead" && t["failed"] == true
    });
    let evs = log.events();

    // Exactly 2 check-triggered restarts, then the policy gives up.
    assert_eq!(restarts(&t), 2, "{evs:#?}");
    assert_eq!(lines(&s.path("starts")).len(), 3, "one run and 2 restarts\n{evs:#?}");
    let flow: Vec<&str> = evs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| ["Started", "Restart Signaled", "Terminated", "Restarting", "Not Restarting"].contains(k))
        .collect();
    let run = ["Started", "Restart Signaled", "Terminated"];
    let expected: Vec<&str> = [&run[..], &["Restarting"], &run, &["Restarting"], &run, &["Not Restarting"]].concat();
    assert_eq!(flow, expected, "{evs:#?}");
    for (k, m) in &evs {
        match k.as_str() {
            "Restart Signaled" => assert_eq!(m, r#"healthcheck: check "port-open" unhealthy"#),
            // Stopped with its kill signal, SIGUSR1.
            "Terminated" => assert_eq!(m, "Exit Code: 138, Signal: 10", "{evs:#?}"),
            _ => {}
        }
    }
    // Each restart waits the policy's delay (500 ms, plus up to 25 % jitter).
    let (ended, started) = (log.times("Terminated"), log.times("Started"));
    for (i, m) in evs.iter().filter(|(k, _)| k == "Restarting").map(|(_, m)| m).enumerate() {
        let delay = m.strip_prefix("Task restarting in ").unwrap_or_else(|| panic!("{m:?}"));
        let delay = go_duration_secs(delay);
        assert!((0.5..=0.625).contains(&delay), "{m:?}");
        let gap = started[i + 1] - ended[i];
        assert!((delay - 0.01..delay + 3.0).contains(&gap), "restart {} came {gap:.3}s after the stop", i + 1);
    }
    let last = evs.last().expect("events");
    assert_eq!(last.0, "Not Restarting", "{evs:#?}");
    assert!(last.1.starts_with("Exceeded allowed attempts 2 "), "{last:?}");
    assert_eq!(last.1, r#"Exceeded allowed attempts 2 in interval 1m0s and mode is "fail""#);

    let st = s.status();
    assert_eq!(instance(&st, "tcpdown/g/0").expect("instance")["status"], "failed");
    let t_last = task(&st, T).expect("task").clone();
    assert_eq!(t_last["pid"], Value::Null);
    assert_eq!(check_state(&t_last, "port-open").0, "inactive", "a dead task's checks do not run");

    // It stays down, and its check stays quiet.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(lines(&s.path("starts")).len(), 3, "the task started again\n{}", s.log());
    let st = s.status();
    let later = task(&st, T).expect("task");
    assert_eq!(events(later), events(&t_last), "events after Not Restarting");
    assert_eq!(check_state(later, "port-open").0, "inactive");
}

/// Reference §2.4: a batch task that check_restart stops, and that exits 0
/// on its kill signal, has finished its work: it completes and is not
/// started again. Nomad's tracker (restarts.go, GetState) looks at the exit
/// first: `if r.exitRes.Successful() && !r.onSuccess { … return
/// structs.TaskTerminated, 0 }`.
#[test]
fn a_batch_task_stopped_by_its_check_that_exits_0_completes() {
    const T: &str = "done/g/0/t";
    let s = Supd::new();
    s.write_job(
        "done.hcl",
        r#"
job "done" {
  type = "batch"
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
        args    = ["-c", "trap 'exit 0' INT; echo started >> @DIR@/starts; touch @DIR@/ready; while true; do sleep 0.1; done"]
      }
      service {
        check {
          name     = "never"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -e @DIR@/ready && exit 2; exit 0"]
          interval = "200ms"
          timeout  = "1s"
          check_restart {
            limit = 1
            grace = "0s"
          }
        }
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_dead(T);
    let evs = events(&t);
    // Every event but the check's own: no `Killing` either, as Nomad's
    // restart path (lifecycle.go, restartImpl) kills without one.
    let flow: Vec<(&str, &str)> =
        evs.iter().filter(|(k, _)| k != "Check Status").map(|(k, m)| (k.as_str(), m.as_str())).collect();
    assert_eq!(
        flow,
        [
            ("Received", "Task received by client"),
            ("Task Setup", "Building Task Directory"),
            ("Started", "Task started by client"),
            // client/serviceregistration/watcher.go: fmt.Sprintf("healthcheck: check %q unhealthy", r.checkName).
            ("Restart Signaled", r#"healthcheck: check "never" unhealthy"#),
            ("Terminated", "Exit Code: 0"),
        ],
        "{evs:#?}"
    );
    assert_eq!((t["failed"].as_bool(), restarts(&t)), (Some(false), 0), "{}", pretty(&t));
    let st = s.status();
    assert_eq!(instance(&st, "done/g/0").expect("instance")["status"], "complete", "{}", pretty(&st));
    assert_eq!(job_status(&st, "done"), "complete");
    // Asserts that nothing happens: no start within half a second.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines(&s.path("starts")).len(), 1, "it never started again\n{}", s.log());
}

/// Results inside `grace` after each (re)start are not counted: a check
/// failing from the start restarts its task only after the grace period, and
/// again only after a new grace period from the restart.
#[test]
fn grace_delays_check_restarts_after_every_start() {
    const T: &str = "graceful/g/0/t";
    let s = Supd::new();
    s.write_job(
        "graceful.hcl",
        &r#"
job "graceful" {
  group "g" {
    restart {
      attempts = 5
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        port = @PORT@
        check {
          name     = "port-open"
          type     = "tcp"
          interval = "200ms"
          timeout  = "1s"
          check_restart {
            limit = 2
            grace = "2s"
          }
        }
      }
    }
  }
}
"#
        .replace("@PORT@", &unused_port().to_string()),
    );
    let s = s.start();

    // The check fails at once, but nothing restarts during the grace period.
    let t = s.wait_task(T, "its check reports the refused connection", |t| {
        let (status, output) = check_state(t, "port-open");
        status == "critical" && !output.is_empty()
    });
    assert!(check_state(&t, "port-open").1.contains("refused"), "{}", pretty(&t));

    let t = s.wait_task(T, "two check-triggered restarts", |t| count(t, "Restart Signaled", |_| true) >= 2);
    let started = event_times(&t, "Started");
    let signaled = event_times(&t, "Restart Signaled");
    for (i, at) in signaled.iter().take(2).enumerate() {
        let since_start = at - started[i];
        // Grace 2s, then 2 results 200 ms apart; allow for a loaded machine.
        assert!(
            (1.5..6.0).contains(&since_start),
            "restart {} signaled {since_start:.3}s after its start (grace 2s)\n{:#?}",
            i + 1,
            t["events"]
        );
    }
    assert!(restarts(&t) >= 1, "{}", pretty(&t));
    assert_eq!(count(&t, "Restart Signaled", |m| m != r#"healthcheck: check "port-open" unhealthy"#), 0);
}

// --- script checks -------------------------------------------------------------------

/// One healthy result resets the count: a script check that goes critical,
/// critical, passing, … never reaches `limit = 3`; once it stays critical
/// it does.
#[test]
fn one_healthy_result_resets_the_count() {
    const T: &str = "flap/g/0/t";
    let s = Supd::new();
    // The n-th run: passing when n is a multiple of 3, critical otherwise;
    // always critical once the file `fail` exists.
    s.write_file(
        "flap.sh",
        r#"n=$(cat @DIR@/count 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > @DIR@/count.tmp && mv @DIR@/count.tmp @DIR@/count
if [ -e @DIR@/fail ]; then echo bad; exit 2; fi
if [ $((n % 3)) -eq 0 ]; then echo fine; exit 0; fi
echo bad
exit 2
"#,
    );
    s.write_job(
        "flap.hcl",
        r#"
job "flap" {
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
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        check {
          name     = "flappy"
          type     = "script"
          command  = "/bin/sh"
          args     = ["@DIR@/flap.sh"]
          interval = "150ms"
          timeout  = "3s"
          check_restart {
            limit = 3
            grace = "0s"
          }
        }
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let runs = || std::fs::read_to_string(s.path("count")).ok().and_then(|c| c.trim().parse::<u32>().ok()).unwrap_or(0);
    let t = s.wait_task(T, "running", |t| t["state"] == "running");
    let first_pid = pid(&t);

    // Five rounds of critical, critical, passing.
    assert!(wait_until(PATIENCE, || runs() >= 16), "the script ran {} times\n{}", runs(), s.log());
    let st = s.status();
    let t = task(&st, T).expect("task");
    let evs = events(t);
    assert_eq!((t["state"].as_str(), restarts(t), pid(t)), (Some("running"), 0, first_pid), "{evs:#?}");
    assert_eq!(count(t, "Restart Signaled", |_| true), 0, "{evs:#?}");
    let up = count(t, "Check Status", |m| m == r#"check "flappy" is passing (was critical): fine (exit code 0)"#);
    let down = count(t, "Check Status", |m| m == r#"check "flappy" is critical (was passing): bad (exit code 2)"#);
    assert!(up >= 4 && down >= 4, "{up} passing and {down} critical changes\n{evs:#?}");

    // Three criticals in a row: restarted.
    s.write_file("fail", "");
    s.wait_event(T, "Restart Signaled", |m| m == r#"healthcheck: check "flappy" unhealthy"#);
    let t = s.wait_task(T, "restarted", |t| restarts(t) >= 1);
    assert!(count(&t, "Restarting", |_| true) >= 1, "{:#?}", events(&t));
}

/// A script check that outlives its timeout is killed, with its process
/// group, and is critical "timed out after …"; no script is left behind,
/// neither then nor when the task stops.
#[test]
fn script_check_timeout_kills_the_script() {
    const T: &str = "slow/g/0/t";
    const SCRIPT: &str = "sleep 10";
    let s = Supd::new();
    s.write_job(
        "slow.hcl",
        r#"
job "slow" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        check {
          name           = "slow"
          type           = "script"
          command        = "/bin/sh"
          args           = ["-c", "echo $$ >> @DIR@/script_pids; exec sleep 10"]
          interval       = "200ms"
          timeout        = "300ms"
          initial_status = "passing"
        }
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t =
        s.wait_event(T, "Check Status", |m| m == r#"check "slow" is critical (was passing): timed out after 300ms"#);
    assert_eq!(check_state(&t, "slow"), ("critical".to_string(), "timed out after 300ms".to_string()));
    assert_eq!(t["health"], "critical");

    // Scripts keep being started, one at a time, and each is killed when
    // its time is up.
    let mut most = 0;
    let enough = wait_until(PATIENCE, || {
        most = most.max(s.procs_running(SCRIPT).len());
        lines(&s.path("script_pids")).len() >= 4
    });
    assert!(enough, "the script did not run 4 times: {:?}\n{}", lines(&s.path("script_pids")), s.log());
    assert_eq!(most, 1, "at most one script of the check runs at a time (and it was seen running)");
    let pids: Vec<i32> = lines(&s.path("script_pids")).iter().map(|p| p.parse().expect("a pid")).collect();
    for p in &pids[..3] {
        s.assert_gone(*p, Duration::from_secs(3), "a timed-out script");
    }
    let t = task(&s.status(), T).cloned().expect("task");
    assert_eq!((t["state"].as_str(), restarts(&t)), (Some("running"), 0), "no check_restart, no restart");

    // Stopping the task stops its check, and whatever script is in flight.
    s.supctl_ok(&["job", "stop", "slow"]);
    s.wait_task(T, "dead", |t| t["state"] == "dead");
    let settled = wait_until(Duration::from_secs(3), || s.procs_running(SCRIPT).is_empty());
    let left: Vec<String> = s.procs_running(SCRIPT).iter().map(|p| format!("{p}: {}", proc_info(*p))).collect();
    assert!(settled, "scripts left after the job stopped: {left:#?}\n{}", s.log());
    for p in lines(&s.path("script_pids")) {
        s.assert_gone(p.parse().expect("a pid"), Duration::from_secs(3), "a script of a stopped task");
    }
}

/// When a script's timeout and the check's next run fall due in the same
/// pass of supd's loop (a timeout just below the interval, or a multiple of
/// it), the timed-out script is killed and the next one starts before supd
/// reaps the first. That late exit must not be taken for the new run's:
/// each script is killed at its own timeout, at most one runs per check, and
/// no run ends as "killed by SIGKILL".
#[test]
fn script_timeout_next_to_the_next_run_leaks_no_script() {
    const T: &str = "edge/g/0/t";
    // (check, interval, timeout, how long its script sleeps)
    const CHECKS: [(&str, &str, &str, &str); 7] = [
        ("a", "100ms", "99ms", "10.1"),
        ("b", "100ms", "97ms", "10.2"),
        ("c", "100ms", "200ms", "10.3"),
        ("d", "100ms", "210ms", "10.4"),
        ("e", "100ms", "220ms", "10.5"),
        ("f", "100ms", "310ms", "10.6"),
        ("g", "100ms", "320ms", "10.7"),
    ];
    let s = Supd::new();
    let checks: String = CHECKS
        .iter()
        .map(|(name, interval, timeout, secs)| {
            format!(
                r#"
        check {{
          name     = "{name}"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "echo $$ >> @DIR@/pids.{name}; exec sleep {secs}"]
          interval = "{interval}"
          timeout  = "{timeout}"
        }}"#
            )
        })
        .collect();
    s.write_job(
        "edge.hcl",
        &r#"
job "edge" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {@CHECKS@
      }
    }
  }
}
"#
        .replace("@CHECKS@", &checks),
    );
    let s = s.start();
    s.wait_task(T, "running", |t| t["state"] == "running");
    let mut most = std::collections::BTreeMap::new();
    let mut outputs = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        for (name, .., secs) in CHECKS {
            let n = s.procs_running(&format!("sleep {secs}")).len();
            let m = most.entry(name).or_insert(0);
            *m = n.max(*m);
        }
        if let Some(t) = task(&s.status(), T) {
            for (name, ..) in CHECKS {
                outputs.insert(format!("{name}: {}", check_state(t, name).1));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let runs: Vec<(&str, usize)> =
        CHECKS.iter().map(|(n, ..)| (*n, lines(&s.path(&format!("pids.{n}"))).len())).collect();
    assert!(
        most.values().all(|m| *m <= 1),
        "most scripts running at once, per check: {most:?} (runs {runs:?})\noutputs seen: {outputs:#?}"
    );
    assert!(!outputs.iter().any(|o| o.contains("SIGKILL")), "outputs seen: {outputs:#?}");
}

/// Before its first result a check is its `initial_status` (critical by
/// default), again after every restart of its task; reaching the first
/// result is a status change like any other.
#[test]
fn initial_status_holds_until_the_first_result() {
    const A: &str = "init/g/0/a";
    const B: &str = "init/g/0/b";
    let s = Supd::new();
    let task_block = |name: &str, initial: &str| {
        r#"
    task "@NAME@" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        check {
          name     = "slow-@NAME@"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "sleep 2; echo up"]
          interval = "200ms"
          timeout  = "5s"
          @INITIAL@
        }
      }
    }"#
        .replace("@NAME@", name)
        .replace("@INITIAL@", initial)
    };
    let job = format!(
        "job \"init\" {{\n  group \"g\" {{{}{}\n  }}\n}}\n",
        task_block("a", r#"initial_status = "warning""#),
        task_block("b", "")
    );
    s.write_job("init.hcl", &job);
    let s = s.start();

    // The scripts take 2 s: until then, each check is its initial status.
    let st = s.wait_status("both tasks run", |st| {
        [A, B].iter().all(|t| task(st, t).is_some_and(|t| t["state"] == "running"))
    });
    let (a, b) = (task(&st, A).expect("a"), task(&st, B).expect("b"));
    assert_eq!(check_state(a, "slow-a"), ("warning".to_string(), String::new()), "{}", pretty(a));
    assert_eq!(a["health"], "warning");
    assert_eq!(check_state(b, "slow-b"), ("critical".to_string(), String::new()), "{}", pretty(b));
    assert_eq!(b["health"], "critical");
    assert_eq!(count(a, "Check Status", |_| true) + count(b, "Check Status", |_| true), 0);

    let a = s.wait_event(A, "Check Status", |m| m == r#"check "slow-a" is passing (was warning): up (exit code 0)"#);
    let b = s.wait_event(B, "Check Status", |m| m == r#"check "slow-b" is passing (was critical): up (exit code 0)"#);
    assert_eq!((a["health"].as_str(), b["health"].as_str()), (Some("passing"), Some("passing")));

    // A restart starts the checks over from their initial status.
    s.supctl_ok(&["restart", A]);
    let a = s.wait_task(A, "restarted, its check back to warning", |t| {
        restarts(t) == 1 && t["state"] == "running" && check_state(t, "slow-a").0 == "warning"
    });
    assert_eq!(a["health"], "warning", "{}", pretty(&a));
    let a = s.wait_health(A, "passing");
    assert_eq!(check_state(&a, "slow-a"), ("passing".to_string(), "up (exit code 0)".to_string()));
    let st = s.status();
    assert_eq!(task(&st, B).expect("b")["health"], "passing", "the other task's check is not reset");
}

/// A script check runs with its task's environment (Nomad's runtime
/// variables and the task's `env`), its working directory, and interpolated
/// arguments.
#[test]
fn script_checks_run_with_the_tasks_environment() {
    const T: &str = "envcheck/g/0/t";
    let s = Supd::new();
    std::fs::create_dir(s.path("wd")).expect("work dir");
    s.write_file(
        "dump.sh",
        r#"{ env; echo "PWD_IS=$(pwd)"; echo "ARG1_IS=$1"; } > @DIR@/$2.tmp && mv @DIR@/$2.tmp @DIR@/$2
"#,
    );
    s.write_job(
        "envcheck.hcl",
        r#"
job "envcheck" {
  group "g" {
    network {
      port "http" {}
    }
    task "t" {
      driver = "raw_exec"
      config {
        command  = "/bin/sh"
        args     = ["-c", "/bin/sh @DIR@/dump.sh ${NOMAD_TASK_NAME} task_env; exec sleep 1000"]
        work_dir = "@DIR@/wd"
      }
      env {
        GREETING = "hello-${NOMAD_ALLOC_INDEX}"
      }
      meta {
        owner = "ops"
      }
      service {
        check {
          name     = "env"
          type     = "script"
          command  = "/bin/sh"
          args     = ["@DIR@/dump.sh", "${NOMAD_JOB_NAME}", "check_env"]
          interval = "200ms"
          timeout  = "3s"
        }
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_health(T, "passing");
    let read = |name: &str| -> std::collections::BTreeMap<String, String> {
        let path = s.path(name);
        assert!(wait_until(PATIENCE, || path.exists()), "{name} was not written\n{}", s.log());
        lines(&path).iter().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let check_env = read("check_env");
    let task_env = read("task_env");
    let get = |k: &str| check_env.get(k).map(String::as_str);
    let st = s.status();
    let id = instance(&st, "envcheck/g/0").and_then(|i| i["id"].as_str()).expect("instance id");
    assert_eq!(get("GREETING"), Some("hello-0"), "the task's env, interpolated: {check_env:#?}");
    assert_eq!(get("NOMAD_ALLOC_ID"), Some(id));
    assert_eq!(get("NOMAD_TASK_NAME"), Some("t"));
    assert_eq!(get("NOMAD_JOB_NAME"), Some("envcheck"));
    assert_eq!(get("NOMAD_META_owner"), Some("ops"));
    assert_eq!(get(TAG), Some(s.dir()), "supd's environment is inherited");
    assert_eq!(get("ARG1_IS"), Some("envcheck"), "the check's args are interpolated");
    assert_eq!(get("PWD_IS"), Some(s.path("wd").to_str().expect("UTF-8")), "the task's work_dir");
    for k in ["GREETING", "NOMAD_ALLOC_ID", "NOMAD_ALLOC_NAME", "NOMAD_PORT_http", "NOMAD_ADDR_http", "PWD_IS"] {
        assert!(task_env.contains_key(k), "the task has no {k}: {task_env:#?}");
        assert_eq!(check_env.get(k), task_env.get(k), "{k}: the check's value differs from the task's");
    }
    assert_eq!(restarts(&t), 0);
}

// --- group services --------------------------------------------------------------------

/// A group service's check without `task` follows the group's first main
/// task (not a prestart sidecar listed before it, nor a later main task): it
/// is listed and counted in that task's health, and probes the group's port
/// of its own instance. A group script check follows the task it names.
#[test]
fn group_service_check_follows_the_first_main_task() {
    let s = Supd::new();
    s.write_file("tcp_server.py", TCP_SERVER);
    s.write_job(
        "grp.hcl",
        r#"
job "grp" {
  group "g" {
    count = 2
    network {
      port "db" {}
    }
    service {
      name = "grp-db"
      port = "db"
      check {
        name     = "listening"
        type     = "tcp"
        interval = "200ms"
        timeout  = "1s"
      }
    }
    service {
      name = "grp-other"
      check {
        name     = "other-ready"
        type     = "script"
        task     = "other"
        command  = "/bin/sh"
        args     = ["-c", "echo $NOMAD_TASK_NAME"]
        interval = "200ms"
        timeout  = "3s"
      }
    }
    task "helper" {
      driver = "raw_exec"
      lifecycle {
        hook    = "prestart"
        sidecar = true
      }
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "@PY@"
        args    = ["@DIR@/tcp_server.py", "NOMAD_PORT_db"]
      }
    }
    task "other" {
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
    let s = s.start();
    let mut ports = Vec::new();
    for index in 0..2 {
        let server = format!("grp/g/{index}/server");
        let t = s.wait_health(&server, "passing");
        let (status, output) = check_state(&t, "listening");
        assert_eq!(status, "passing", "{}", pretty(&t));
        assert_eq!(check(&t, "listening").expect("check")["type"], "tcp");
        assert_eq!(t["checks"].as_array().map(Vec::len), Some(1), "{}", pretty(&t));
        // The port the server listens on is its instance's port: the one in
        // its environment, which the check's output names.
        let env = std::fs::read(format!("/proc/{}/environ", pid(&t))).expect("the server's environment");
        let env = String::from_utf8_lossy(&env).into_owned();
        let port = env.split('\0').find_map(|kv| kv.strip_prefix("NOMAD_PORT_db=")).expect("NOMAD_PORT_db");
        assert!(output.contains(&format!(":{port}")), "the check probes port {port}: {output:?}");
        ports.push(port.to_string());
        s.wait_event(&server, "Check Status", |m| m.starts_with(r#"check "listening" is passing (was critical): "#));

        let other = format!("grp/g/{index}/other");
        let o = s.wait_health(&other, "passing");
        assert_eq!(o["checks"].as_array().map(Vec::len), Some(1), "{}", pretty(&o));
        assert_eq!(check_state(&o, "other-ready"), ("passing".to_string(), "other (exit code 0)".to_string()));

        let st = s.status();
        let h = task(&st, &format!("grp/g/{index}/helper")).expect("task");
        assert_eq!(h["state"], "running", "{}", pretty(h));
        assert_eq!(h["checks"].as_array().map(Vec::len), Some(0), "the sidecar has no checks: {}", pretty(h));
        assert_eq!(h["health"], Value::Null, "the sidecar has no health: {}", pretty(h));
        assert_eq!(count(h, "Check Status", |_| true), 0, "{}", pretty(h));
    }
    assert_ne!(ports[0], ports[1], "each instance has its own port");
}

// --- supctl's views ----------------------------------------------------------------------

/// `supctl status` shows each task's health (its worst check) in a HEALTH
/// column; `supctl status JOB/GROUP/INDEX/TASK` lists the checks in a
/// `Checks:` table; once the task is stopped, its checks are inactive.
#[test]
fn supctl_status_shows_health_and_checks() {
    const T: &str = "tbl/g/0/t";
    let s = Supd::new();
    let server = HttpServer::start(&s, "200");
    s.write_job(
        "tbl.hcl",
        &r#"
job "tbl" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      service {
        port = @PORT@
        check {
          name     = "alive"
          type     = "http"
          path     = "/"
          interval = "200ms"
          timeout  = "1s"
        }
        check {
          name     = "ready"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "echo not ready yet; exit 1"]
          interval = "200ms"
          timeout  = "3s"
        }
      }
    }
  }
}
"#
        .replace("@PORT@", &server.port.to_string()),
    );
    let s = s.start();
    // Passing and warning: the task's health is the worse, warning.
    let t = s.wait_task(T, "alive passes and ready warns", |t| {
        check(t, "alive").is_some_and(|c| c["status"] == "passing")
            && check(t, "ready").is_some_and(|c| c["status"] == "warning")
    });
    assert_eq!(t["health"], "warning", "{}", pretty(&t));
    assert_eq!(check_state(&t, "ready").1, "not ready yet (exit code 1)");

    let table = s.supctl_ok(&["status"]);
    let column = |table: &str, row_start: &str, column: &str| -> String {
        let header = table.lines().find(|l| l.starts_with("INSTANCE")).unwrap_or_else(|| panic!("no header:\n{table}"));
        let at = header.find(column).unwrap_or_else(|| panic!("no {column} column:\n{table}"));
        let row = table.lines().find(|l| l.starts_with(row_start)).unwrap_or_else(|| panic!("no row:\n{table}"));
        row.get(at..).and_then(|r| r.split_whitespace().next()).unwrap_or_default().to_string()
    };
    assert_eq!(column(&table, "tbl.g[0]", "HEALTH"), "warning", "{table}");

    let detail = s.supctl_ok(&["status", T]);
    let rows = |detail: &str| -> Vec<Vec<String>> {
        let after = detail.split_once("Checks:\n").unwrap_or_else(|| panic!("no Checks: table:\n{detail}")).1;
        after
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().take(3).map(str::to_string).collect())
            .collect()
    };
    let checks = rows(&detail);
    assert_eq!(checks.first().map(|r| r.join(" ")), Some("Name Type Status".into()), "{detail}");
    assert!(checks.contains(&vec!["alive".into(), "http".into(), "passing".into()]), "{detail}");
    assert!(checks.contains(&vec!["ready".into(), "script".into(), "warning".into()]), "{detail}");
    assert!(detail.contains("not ready yet (exit code 1)"), "{detail}");

    // Stopped: the checks are inactive, and the task has no health.
    s.supctl_ok(&["job", "stop", "tbl"]);
    let t = s.wait_task(T, "dead", |t| t["state"] == "dead");
    assert_eq!(check_state(&t, "alive").0, "inactive");
    assert_eq!(check_state(&t, "ready").0, "inactive");
    let detail = s.supctl_ok(&["status", T]);
    let checks = rows(&detail);
    assert!(checks.contains(&vec!["alive".into(), "http".into(), "inactive".into()]), "{detail}");
    assert!(checks.contains(&vec!["ready".into(), "script".into(), "inactive".into()]), "{detail}");
    let table = s.supctl_ok(&["status"]);
    assert_eq!(column(&table, "tbl.g[0]", "HEALTH"), "-", "{table}");
}

// --- interpolated ports ----------------------------------------------------------------

/// As Nomad's, a service's `port` may be a `${...}` reference (Nomad's own
/// e2e job native-demo.nomad writes `port = "${NOMAD_PORT_api}"`): it is
/// resolved when the task starts, and the service's checks probe that
/// port. One that comes out as no port makes its check critical with the
/// reason, and the task gets a `Check Port` event; the task runs on.
#[test]
fn an_interpolated_service_port_is_resolved_when_the_task_starts() {
    const T: &str = "interp/g/0/server";
    let s = Supd::new();
    s.write_file("tcp_server.py", TCP_SERVER);
    s.write_job(
        "interp.hcl",
        r#"
job "interp" {
  group "g" {
    network {
      port "api" {}
    }
    service {
      name = "api"
      port = "${NOMAD_PORT_api}"
      task = "server"
      check {
        name     = "listening"
        type     = "tcp"
        interval = "200ms"
        timeout  = "1s"
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "@PY@"
        args    = ["@DIR@/tcp_server.py", "NOMAD_PORT_api"]
      }
      env {
        NOT_A_PORT = "eighty"
      }
      service {
        name = "odd"
        port = "${NOT_A_PORT}"
        check {
          name     = "odd"
          type     = "tcp"
          interval = "200ms"
          timeout  = "1s"
        }
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_event(T, "Check Status", |m| m.starts_with(r#"check "listening" is passing (was critical): "#));
    let env = std::fs::read(format!("/proc/{}/environ", pid(&t))).expect("the server's environment");
    let env = String::from_utf8_lossy(&env).into_owned();
    let port = env.split('\0').find_map(|kv| kv.strip_prefix("NOMAD_PORT_api=")).expect("NOMAD_PORT_api");
    let (_, output) = check_state(&t, "listening");
    assert!(output.contains(&format!(":{port}")), "the check probes port {port}: {output:?}");

    let t = s.wait_event(T, "Check Port", |m| {
        m.starts_with(r#"check "odd": port "${NOT_A_PORT}" is "eighty" at the task's start, neither a port number"#)
    });
    assert_eq!(count(&t, "Check Port", |_| true), 1, "said once: {}", pretty(&t));
    // Each run of the check fails with the reason.
    let t = s.wait_task(T, "check \"odd\" says why", |t| check_state(t, "odd").1.contains("neither a port number"));
    let (status, output) = check_state(&t, "odd");
    assert_eq!(status, "critical", "{}", pretty(&t));
    assert!(output.contains("nor a port label of the group"), "{output:?}");
    assert_eq!(t["state"], "running", "{}", pretty(&t));
}
