//! The Prometheus endpoint (supd.toml `metrics_listen`): scraped over real
//! TCP, checked by Prometheus's own `promtool check metrics`, compared with
//! `supctl --json status`; clients that connect and do nothing, or ask and
//! never read, hold up nothing; a thousand tasks still answer; and without
//! the setting nothing listens.

use crate::support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts supd with the endpoint on a port of the kernel's choosing; returns
/// it with the address it logged.
fn start_with_metrics(s: Supd) -> (Supd, SocketAddr) {
    let s = s.start_with_config("metrics_listen = \"127.0.0.1:0\"\n");
    let mut addr = None;
    let found = wait_until(PATIENCE, || {
        let log = std::fs::read_to_string(s.path("supd.log")).unwrap_or_default();
        addr = log
            .lines()
            .find_map(|l| l.split("metrics on http://").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok());
        addr.is_some()
    });
    assert!(found, "supd did not say where the metrics are\n{}", s.log());
    (s, addr.expect("address"))
}

/// One HTTP request; returns the status code, the head and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut c = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    c.set_read_timeout(Some(PATIENCE)).expect("timeout");
    c.write_all(request.as_bytes()).expect("send the request");
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).expect("read the answer");
    let answer = String::from_utf8(answer).expect("UTF-8 answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {answer:?}"));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
    (code, head.to_string(), body.to_string())
}

fn scrape(addr: SocketAddr) -> String {
    let (code, head, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: supd\r\n\r\n");
    assert_eq!(code, 200, "{head}\n{body}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    body
}

/// `promtool check metrics` on the text: Prometheus's own parser and linter.
fn promtool_accepts(text: &str) {
    let promtool = require("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{text}",
        describe(&out)
    );
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_restart_counter_matches_status_and_promtool_accepts_the_text() {
    let s = Supd::new();
    // A job ID may hold a double quote and a backslash: escaped in labels.
    s.write_job(
        "crash.hcl",
        r#"job "cr\"ash\\1" {
  group "g" {
    restart {
      attempts = 3
      interval = "1h"
      delay    = "0s"
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
}
"#,
    );
    s.write_job(
        "up.hcl",
        &sleep_job("up").replace(
            "args    = [\"1000\"]\n      }",
            r#"args    = ["1000"]
      }
      service {
        check {
          type     = "script"
          command  = "/bin/true"
          interval = "200ms"
          timeout  = "5s"
        }
      }"#,
        ),
    );
    let (s, addr) = start_with_metrics(s);
    let t = s.wait_dead("cr\"ash\\1/g/0/t");
    s.wait_health("up/g/0/t", "passing");
    let text = scrape(addr);
    promtool_accepts(&text);
    let crash = r#"job="cr\"ash\\1",group="g",index="0""#;
    let counted = sample(&text, &format!("supd_task_restarts_total{{{crash},task=\"t\"}}"));
    assert_eq!(counted, Some(restarts(&t) as f64), "{text}");
    assert_eq!(counted, Some(3.0));
    assert_eq!(sample(&text, &format!("supd_task_last_exit_code{{{crash},task=\"t\"}}")), Some(3.0), "{text}");
    assert_eq!(sample(&text, &format!("supd_task_up{{{crash},task=\"t\"}}")), Some(0.0), "{text}");
    assert_eq!(sample(&text, &format!("supd_instance_status{{{crash},status=\"failed\"}}")), Some(1.0), "{text}");
    let up = r#"job="up",group="g",index="0""#;
    assert_eq!(sample(&text, &format!("supd_task_up{{{up},task=\"t\"}}")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &format!("supd_instance_status{{{up},status=\"running\"}}")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &format!("supd_task_healthy{{{up},task=\"t\"}}")), Some(1.0), "{text}");
    let probes = sample(&text, "supd_check_duration_seconds_count{type=\"script\"}").unwrap_or(0.0);
    let within = sample(&text, "supd_check_duration_seconds_bucket{type=\"script\",le=\"5\"}").unwrap_or(0.0);
    assert!(probes >= 1.0 && within == probes, "a script check ran and ended within its timeout:\n{text}");
    // Three restarts without delay: three reactions, each well under a second.
    assert_eq!(sample(&text, "supd_restart_reaction_seconds_count"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "supd_restart_reaction_seconds_bucket{le=\"1\"}"), Some(3.0), "{text}");

    let (code, head, body) = http(addr, "GET / HTTP/1.1\r\n\r\n");
    assert!(code == 200 && body.contains("/metrics"), "{head}\n{body}");
    let (code, head, _) = http(addr, "GET /nothing HTTP/1.1\r\n\r\n");
    assert_eq!(code, 404, "{head}");
    let (code, head, _) = http(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(code == 405 && head.contains("Allow: GET, HEAD"), "{head}");
    let (code, head, _) = http(addr, "garbage\r\n\r\n");
    assert_eq!(code, 400, "{head}");
    let (code, head, _) = http(addr, &format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(16 << 10)));
    assert_eq!(code, 431, "{head}");
    // supd still answers after all that.
    s.wait_running("up/g/0/t");
}

/// A connection whose receive buffer is as small as the kernel allows (set
/// before connecting, so that the window it offers stays small): an answer
/// it does not read stays with the sender.
fn connect_small(addr: SocketAddr) -> TcpStream {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socket, sockopt};
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(v4) = addr else { panic!("an IPv4 address: {addr}") };
    let sock = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).expect("socket");
    setsockopt(&sock, sockopt::RcvBuf, &1024).expect("SO_RCVBUF");
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: connect(2) on a socket this function owns, with an address
    // that lives across the call and its true size.
    let r = unsafe {
        libc::connect(
            sock.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "connect to {addr}: {}", std::io::Error::last_os_error());
    TcpStream::from(sock)
}

#[test]
fn silent_and_unread_clients_hold_up_nothing_and_a_thousand_tasks_answer() {
    let s = Supd::new();
    s.write_job("many.hcl", &sleep_job("many").replace("group \"g\" {", "group \"g\" {\n    count = 1000"));
    let (s, addr) = start_with_metrics(s);
    s.wait_status("1000 tasks run", |st| {
        st["jobs"][0]["groups"][0]["instances"]
            .as_array()
            .is_some_and(|i| i.len() == 1000 && i.iter().all(|i| i["tasks"][0]["state"] == "running"))
    });

    let started = Instant::now();
    let text = scrape(addr);
    let took = started.elapsed();
    let ups = text.lines().filter(|l| l.starts_with("supd_task_up{") && l.ends_with(" 1")).count();
    assert_eq!(ups, 1000, "{}", &text[..text.len().min(2000)]);
    assert!(took < Duration::from_secs(5), "a scrape of 1000 tasks took {took:?}");
    promtool_accepts(&text);
    eprintln!("scrape of 1000 tasks: {took:?}, {} bytes", text.len());

    // Clients that connect and send nothing, and clients that ask and
    // never read their answer (larger than their socket buffer).
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(TcpStream::connect(addr).expect("connect"));
    }
    let mut unread = Vec::new();
    for _ in 0..10 {
        let mut c = connect_small(addr);
        c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").expect("ask");
        unread.push(c);
    }
    let asked = Instant::now();
    for _ in 0..3 {
        let started = Instant::now();
        s.status();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "status took {took:?} beside idle metrics clients\n{}", s.log());
    }
    // A scrape beside them is answered in full.
    assert_eq!(scrape(addr).lines().filter(|l| l.starts_with("supd_task_up{")).count(), 1000);
    assert_eq!(connections(s.pid(), addr.port()), 20, "supd holds its 20 idle clients");

    // The silent ones are closed after the read deadline (5 s), the
    // unread ones after the write deadline (10 s): supd keeps nothing of
    // them.
    let mut c = silent.pop().expect("a silent client");
    c.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    assert_eq!(c.read(&mut [0u8; 64]).ok(), Some(0), "a silent client is closed at its deadline");
    let closed = wait_until(Duration::from_secs(20), || connections(s.pid(), addr.port()) == 0);
    assert!(closed, "supd still holds {} metrics connections", connections(s.pid(), addr.port()));
    let after = asked.elapsed();
    assert!(after >= Duration::from_secs(9), "unread answers were dropped after only {after:?}, not at 10 s");
}

#[test]
fn idle_with_metrics_on_supd_does_not_wake() {
    let s = Supd::new();
    s.write_job("up.hcl", &sleep_job("up"));
    let (s, addr) = start_with_metrics(s);
    s.wait_running("up/g/0/t");
    scrape(addr);
    // The scrape's connection is closed; the state of the bring-up was
    // saved at the loop's first idle moment.
    std::thread::sleep(Duration::from_secs(1));
    let switches = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).expect("supd's status");
        status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = switches();
    std::thread::sleep(Duration::from_secs(3));
    let woke = switches() - before;
    assert_eq!(woke, 0, "supd woke {woke} times in 3 s with nothing to do\n{}", s.log());
}

/// The inodes of this host's TCP sockets (of its network namespace) that
/// `pick` takes, from their local port and state (`0A` listening, `01`
/// established).
fn tcp_inodes(pick: impl Fn(u16, &str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for l in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f.get(1).and_then(|a| a.rsplit(':').next()).and_then(|p| u16::from_str_radix(p, 16).ok());
            if let (Some(port), Some(state), Some(inode)) = (port, f.get(3), f.get(9))
                && pick(port, state)
            {
                out.push(inode.to_string());
            }
        }
    }
    out
}

/// The inodes of the sockets a process holds.
fn socket_inodes(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process's descriptors")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|p| p.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(String::from))
        .collect()
}

/// The connections to `port` that supd holds open.
fn connections(pid: i32, port: u16) -> usize {
    let open = tcp_inodes(|p, state| p == port && state == "01");
    socket_inodes(pid).iter().filter(|i| open.contains(i)).count()
}

#[test]
fn without_metrics_listen_nothing_listens_and_a_bad_one_is_refused_with_its_place() {
    let s = Supd::new().start();
    let listening = tcp_inodes(|_, state| state == "0A");
    let mine: Vec<String> = socket_inodes(s.pid()).into_iter().filter(|i| listening.contains(i)).collect();
    assert!(mine.is_empty(), "supd listens on TCP without metrics_listen: {mine:?}");
    drop(s);

    let s = Supd::new();
    let config = s.write_file("supd.toml", "# metrics\nmetrics_listen = \"localhost:9464\"\n");
    let out = Command::new(SUPD).arg("--config").arg(&config).arg("--check").output().expect("run supd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2:18: metrics_listen \"localhost:9464\" is not an IP address and port",
            config.display()
        )),
        "{err}"
    );

    // An address that is taken: supd says which and does not start.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let s = Supd::new();
    let config = s.write_file("supd.toml", &format!("metrics_listen = \"{}\"\n", taken.local_addr().expect("addr")));
    let out = Command::new(SUPD)
        .arg("--config")
        .arg(&config)
        .arg("--jobs")
        .arg(s.path("jobs"))
        .arg("--socket")
        .arg(s.socket())
        .arg("--state-dir")
        .arg(s.path("state"))
        .arg("--log-dir")
        .arg(s.path("logs"))
        .env(TAG, s.dir())
        .output()
        .expect("run supd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot listen for metrics on 127.0.0.1:") && err.contains("metrics_listen"), "{err}");
}
