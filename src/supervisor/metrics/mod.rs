//! The optional Prometheus endpoint (supd.toml `metrics_listen`): a
//! minimal HTTP/1.1 server on the loop's own `Poll`, and the text
//! exposition format (version 0.0.4) rendered from the model.
//!
//! The rendering ([`render`]) is a function of the jobs and of supd's own
//! measurements ([`Stats`]); the server ([`Endpoint`]) only frames requests
//! and writes answers. As with the control socket, no client may hold up
//! the loop or make supd's memory grow without bound: at most
//! [`MAX_CONNECTIONS`] at once (more are answered 503 and closed), a
//! request's head is at most [`MAX_REQUEST`] bytes and complete within
//! [`READ_TIMEOUT`] of the connection, the answer is taken within
//! [`WRITE_TIMEOUT`] or the connection is closed, and answers waiting to
//! be sent are bounded over all connections ([`MAX_QUEUED`]). Deadlines
//! are kept on a timerfd of the endpoint's own, armed only while a
//! connection is open: an endpoint nobody scrapes costs no wake-up.

mod endpoint;
use endpoint::*;

use super::jobs::Jobs;
use super::task::{CheckKey, Instance, InstanceStatus, State, TaskKey, TaskRun, task_health};
use super::watches::Tokens;
use super::{Supervisor, children};
use crate::jobspec::model::CheckStatus;
use crate::process::Exit;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// At most this many scrape connections at once.
pub const MAX_CONNECTIONS: usize = 32;

/// A request's head (request line and headers) is at most this long.
pub const MAX_REQUEST: usize = 8 << 10;

/// A request is complete this long after its connection at the latest.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer is taken whole this long after it was ready at the latest.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What may wait to be sent, over all connections; beyond it, requests
/// are answered 503.
pub const MAX_QUEUED: usize = 64 << 20;

/// The kernel's send buffer of a connection: what is left of an answer
/// stays with supd (bounded, under the write deadline) rather than with
/// the kernel, which keeps a closed connection's unsent bytes until the
/// client takes them or the connection times out.
const SEND_BUFFER: usize = 64 << 10;

/// A scrape this soon after another gets the same text.
const RENDER_REUSE: Duration = Duration::from_secs(1);

/// Answers larger than this give their memory back once sent.
const BIG_ANSWER: usize = 256 << 10;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bounds of the restart reaction histogram, in seconds.
const REACTION_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Bounds of the check duration histograms, in seconds.
const CHECK_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The check types, in the order of [`Stats::check_duration`].
const CHECK_TYPES: [&str; 3] = ["tcp", "http", "script"];

/// Stale reap and probe start times are dropped once this many are kept.
const MAX_REAPED: usize = 4096;

/// The endpoint, when configured, and what supd measures of itself.
#[derive(Default)]
pub struct Metrics {
    endpoint: Option<Endpoint>,
    pub stats: Stats,
}

/// What supd measures of itself for the endpoint.
#[derive(Debug)]
pub struct Stats {
    /// From a task's end being reaped to its next start, for restarts with
    /// no delay.
    pub restart_reaction: Histogram,
    /// When tasks restarted without delay were reaped, until they start.
    reaped: HashMap<TaskKey, Instant>,
    /// From a check's probe starting to its result (or its timeout), per
    /// type as in [`CHECK_TYPES`].
    pub check_duration: [Histogram; 3],
    /// When each check's probe in flight started (one per check at most).
    probes: HashMap<CheckKey, Instant>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            restart_reaction: Histogram::new(REACTION_BUCKETS),
            reaped: HashMap::new(),
            check_duration: std::array::from_fn(|_| Histogram::new(CHECK_BUCKETS)),
            probes: HashMap::new(),
        }
    }
}

/// A Prometheus histogram: counts per upper bound (not cumulative here),
/// their sum and count.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One more than `bounds`: the last is above every bound.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0, count: 0 }
    }

    pub fn observe(&mut self, value: f64) {
        let i = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// `NAME_bucket`, `NAME_sum` and `NAME_count` lines, with `labels`
    /// (`a="x",` — each followed by a comma, or empty).
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{}\"}} {cumulative}", float(*bound));
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let labels = labels.trim_end_matches(',');
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", float(self.sum));
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// A sample value as the format writes it.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

/// A label value escaped as the format wants: backslash, double quote and
/// line feed.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One task with its labels, as every per-task family needs it.
struct Row<'a> {
    /// `job="…",group="…",index="…",task="…"`
    labels: String,
    inst: &'a Instance,
    ti: usize,
    task: &'a TaskRun,
}

/// Every metric, in the text exposition format, from the current version
/// of every job (what `supctl status` shows) and supd's own measurements.
/// Cgroup usage is read through the task cgroup's cache.
pub fn render(jobs: &Jobs, stats: &Stats) -> String {
    let mut instances = Vec::new();
    let mut rows = Vec::new();
    for run in jobs.current_runs() {
        let job = escape(&run.job.id);
        for inst in &run.instances {
            let group = escape(run.job.groups.get(inst.group).map_or("", |g| g.name.as_str()));
            let base = format!("job=\"{job}\",group=\"{group}\",index=\"{}\"", inst.index);
            for (ti, task) in inst.tasks.iter().enumerate() {
                let labels = format!("{base},task=\"{}\"", escape(&task.spec.name));
                rows.push(Row { labels, inst, ti, task });
            }
            instances.push((base, inst));
        }
    }
    // About 600 bytes per task: one allocation for a thousand of them.
    let mut out = String::with_capacity(1024 + rows.len() * 640 + instances.len() * 512);

    task_families(&mut out, &rows);
    usage_families(&mut out, &rows);

    instance_families(&mut out, &instances);

    own_families(&mut out, jobs, stats);
    out
}

/// The per-task families of a task's state: up, restarts, health, how its
/// last run ended.
fn task_families(out: &mut String, rows: &[Row<'_>]) {
    family(out, "supd_task_up", "gauge", "Whether the task's process is running (1) or not (0).");
    for r in rows {
        let _ = writeln!(out, "supd_task_up{{{}}} {}", r.labels, u8::from(r.task.state == State::Running));
    }
    family(out, "supd_task_restarts_total", "counter", "Restarts of the task since its instance was placed.");
    for r in rows {
        let _ = writeln!(out, "supd_task_restarts_total{{{}}} {}", r.labels, r.task.restarts);
    }
    family(
        out,
        "supd_task_healthy",
        "gauge",
        "Whether every running check of the task passes (1) or not (0); absent for a task with no running check.",
    );
    for r in rows {
        if let Some(h) = task_health(r.inst, r.ti) {
            let _ = writeln!(out, "supd_task_healthy{{{}}} {}", r.labels, u8::from(h == CheckStatus::Passing));
        }
    }
    family(
        out,
        "supd_task_last_exit_code",
        "gauge",
        "Exit code of the task's last run that ended with one; absent before, and when it ended by a signal.",
    );
    for r in rows {
        if let Some(Exit::Code(c)) = r.task.exit {
            let _ = writeln!(out, "supd_task_last_exit_code{{{}}} {c}", r.labels);
        }
    }
    family(
        out,
        "supd_task_last_exit_signal",
        "gauge",
        "Number of the signal that ended the task's last run; absent when it exited.",
    );
    for r in rows {
        if let Some(Exit::Signal { signal, .. }) = r.task.exit {
            let _ = writeln!(out, "supd_task_last_exit_signal{{{}}} {signal}", r.labels);
        }
    }
}

/// The per-task families of what a task uses: its cgroup's CPU and memory,
/// the output it lost.
fn usage_families(out: &mut String, rows: &[Row<'_>]) {
    let usage: Vec<_> = rows.iter().map(|r| r.task.cgroup.as_ref().map(|cg| cg.usage())).collect();
    family(
        out,
        "supd_task_cpu_seconds_total",
        "counter",
        "CPU time used by the task's cgroup (every run of it); absent without cgroups.",
    );
    for (r, u) in rows.iter().zip(&usage) {
        if let Some(ns) = u.as_ref().and_then(|u| u.cpu_ns) {
            let _ = writeln!(out, "supd_task_cpu_seconds_total{{{}}} {}", r.labels, float(ns as f64 / 1e9));
        }
    }
    family(out, "supd_task_memory_bytes", "gauge", "Memory used by the task's cgroup; absent without cgroups.");
    for (r, u) in rows.iter().zip(&usage) {
        if let Some(bytes) = u.as_ref().and_then(|u| u.memory_bytes) {
            let _ = writeln!(out, "supd_task_memory_bytes{{{}}} {bytes}", r.labels);
        }
    }
    family(
        out,
        "supd_task_output_dropped_bytes_total",
        "counter",
        "Bytes of the task's output that could not be written where it goes (files, the journal, supd's stdout).",
    );
    for r in rows {
        if let Some(log) = &r.task.log {
            for (stream, capture) in [("stdout", &log.out), ("stderr", &log.err)] {
                let _ = writeln!(
                    out,
                    "supd_task_output_dropped_bytes_total{{{},stream=\"{stream}\"}} {}",
                    r.labels,
                    capture.dropped()
                );
            }
        }
    }
}

/// The per-instance families: its status, its hand-off attempts.
fn instance_families(out: &mut String, instances: &[(String, &Instance)]) {
    family(out, "supd_instance_status", "gauge", "The instance's status: 1 for the one it has, 0 for the others.");
    const STATUSES: [InstanceStatus; 5] = [
        InstanceStatus::Pending,
        InstanceStatus::Running,
        InstanceStatus::Complete,
        InstanceStatus::Failed,
        InstanceStatus::HandedOff,
    ];
    for (labels, inst) in instances {
        let now = inst.status();
        for s in STATUSES {
            let name = s.as_str().replace(' ', "_");
            let _ = writeln!(out, "supd_instance_status{{{labels},status=\"{name}\"}} {}", u8::from(s == now));
        }
    }
    family(
        out,
        "supd_instance_handoff_attempts_total",
        "counter",
        "Hand-off attempts in the instance's reschedule history (this host's and, for work handed in, its earlier hosts').",
    );
    for (labels, inst) in instances {
        let _ =
            writeln!(out, "supd_instance_handoff_attempts_total{{{labels}}} {}", crate::handoff::made(&inst.history));
    }
}

/// supd's own families: its measurements, and the job files that did not
/// load.
fn own_families(out: &mut String, jobs: &Jobs, stats: &Stats) {
    family(
        out,
        "supd_restart_reaction_seconds",
        "histogram",
        "Time from a task's end being reaped to its next process running, for restarts with no delay.",
    );
    stats.restart_reaction.write(out, "supd_restart_reaction_seconds", "");
    family(
        out,
        "supd_check_duration_seconds",
        "histogram",
        "Time from a health check's probe starting to its result, or to its timeout.",
    );
    for (kind, h) in CHECK_TYPES.iter().zip(&stats.check_duration) {
        h.write(out, "supd_check_duration_seconds", &format!("type=\"{kind}\","));
    }
    family(
        out,
        "supd_job_files_invalid",
        "gauge",
        "Files of the job directory that did not load (supctl status lists their problems).",
    );
    let _ = writeln!(out, "supd_job_files_invalid {}", jobs.load_errors.len());
}

impl Stats {
    /// Tasks whose end was just reaped and which restart without delay
    /// have that moment noted.
    fn reaped(&mut self, jobs: &Jobs, ended: &children::Reaped, at: Instant) {
        if self.reaped.len() >= MAX_REAPED {
            // Tasks that did not restart (failed, stopped) left theirs.
            self.reaped.retain(|k, _| jobs.task(*k).is_some_and(|t| t.state == State::Pending));
        }
        for (_, owner, _) in &ended.ended {
            if let children::Owner::Task(key) = owner
                && jobs.task(*key).is_some_and(|t| t.spec.restart.delay.is_zero())
            {
                self.reaped.insert(*key, at);
            }
        }
    }

    /// A start of `key` was made: when it runs and was reaped just before,
    /// that is one restart reaction.
    fn started(&mut self, jobs: &Jobs, key: TaskKey, at: Instant) {
        if let Some(reaped) = self.reaped.remove(&key)
            && jobs.task(key).is_some_and(|t| t.pid.is_some())
        {
            self.restart_reaction.observe(at.saturating_duration_since(reaped).as_secs_f64());
        }
    }
}

impl Supervisor {
    /// Listens for scrapes when supd.toml says where.
    pub(super) fn bind_metrics(&mut self, addr: SocketAddr) -> Result<(), ListenError> {
        let endpoint = Endpoint::bind(addr, self.io.poll.registry(), &mut self.io.watches.tokens)?;
        log::info!("metrics on http://{}/metrics", endpoint.addr);
        self.reports.metrics.endpoint = Some(endpoint);
        Ok(())
    }

    /// Whether `token` is the metrics endpoint's.
    pub(super) fn metrics_owns(&self, token: Token) -> bool {
        self.reports.metrics.endpoint.as_ref().is_some_and(|e| e.owns(token))
    }

    /// One of the metrics endpoint's tokens is ready.
    pub(super) fn on_metrics(&mut self, token: Token) {
        let Some(endpoint) = self.reports.metrics.endpoint.as_mut() else { return };
        let registry = self.io.poll.registry();
        let Some((conn, wanted)) = endpoint.on_ready(registry, &mut self.io.watches.tokens, token) else { return };
        let answer = match wanted {
            Wanted::Metrics { head } => {
                if !endpoint.has_room(0) {
                    http(503, "Service Unavailable", "text/plain", b"too many answers waiting to be taken\n", head)
                } else {
                    let now = Instant::now();
                    let fresh = endpoint.rendered.as_ref().filter(|(at, _)| now.duration_since(*at) < RENDER_REUSE);
                    match fresh {
                        Some((_, body)) => http(200, "OK", CONTENT_TYPE, body.as_bytes(), head),
                        None => {
                            let body = render(&self.jobs, &self.reports.metrics.stats);
                            let answer = http(200, "OK", CONTENT_TYPE, body.as_bytes(), head);
                            endpoint.rendered = Some((now, body));
                            answer
                        }
                    }
                }
            }
            Wanted::Index { head } => http(200, "OK", "text/html; charset=utf-8", INDEX.as_bytes(), head),
            Wanted::NotFound => {
                http(404, "Not Found", "text/plain", b"not found: the metrics are at /metrics\n", false)
            }
            Wanted::NotAllowed => http(405, "Method Not Allowed", "text/plain", b"only GET and HEAD\n", false),
            Wanted::BadRequest => http(400, "Bad Request", "text/plain", b"malformed HTTP request\n", false),
        };
        let Some(endpoint) = self.reports.metrics.endpoint.as_mut() else { return };
        endpoint.answer(self.io.poll.registry(), conn, answer);
    }

    /// Tasks' ends were reaped: restart reactions start now.
    pub(super) fn metrics_reaped(&mut self, reaped: &children::Reaped) {
        self.reports.metrics.stats.reaped(&self.jobs, reaped, Instant::now());
    }

    /// A due start of `key` was made.
    pub(super) fn metrics_started(&mut self, key: TaskKey) {
        self.reports.metrics.stats.started(&self.jobs, key, Instant::now());
    }

    /// A check's probe is about to start.
    pub(super) fn metrics_probe_started(&mut self, ck: CheckKey) {
        let probes = &mut self.reports.metrics.stats.probes;
        if probes.len() >= MAX_REAPED {
            // Probes called off (their task ended, their job went) left theirs.
            let jobs = &self.jobs;
            probes.retain(|k, _| {
                let check =
                    jobs.runs.get(&k.run).and_then(|r| r.instances.get(k.inst)).and_then(|i| i.checks.get(k.check));
                check.is_some_and(|c| c.inflight.is_some())
            });
        }
        probes.insert(ck, Instant::now());
    }

    /// A check's probe has its result: its duration, by the check's type.
    pub(super) fn metrics_probe_finished(&mut self, ck: CheckKey) {
        let Some(started) = self.reports.metrics.stats.probes.remove(&ck) else { return };
        let check =
            self.jobs.runs.get(&ck.run).and_then(|r| r.instances.get(ck.inst)).and_then(|i| i.checks.get(ck.check));
        let Some(kind) = check.map(|c| c.spec.kind.type_name()) else { return };
        if let Some(i) = CHECK_TYPES.iter().position(|t| *t == kind) {
            self.reports.metrics.stats.check_duration[i].observe(started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::task::tests::job_run_of;

    fn jobs_of(runs: Vec<super::super::task::JobRun>) -> Jobs {
        let mut jobs = Jobs::default();
        for r in runs {
            jobs.current.insert(r.job.id.clone(), r.serial);
            jobs.runs.insert(r.serial, Box::new(r));
        }
        jobs
    }

    const WEB: &str = r#"
job "web" {
  group "g" {
    task "a" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
    task "b" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
"#;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
        assert_eq!(escape("plain-name_1.2"), "plain-name_1.2");
    }

    #[test]
    fn every_task_has_its_series_with_its_state() {
        let mut run = job_run_of(1, WEB);
        let inst = &mut run.instances[0];
        inst.tasks[0].state = State::Running;
        inst.tasks[0].restarts = 3;
        inst.tasks[1].state = State::Dead;
        inst.tasks[1].failed = true;
        inst.tasks[1].exit = Some(Exit::Code(2));
        let text = render(&jobs_of(vec![run]), &Stats::default());
        let a = r#"{job="web",group="g",index="0",task="a"}"#;
        let b = r#"{job="web",group="g",index="0",task="b"}"#;
        for line in [
            format!("supd_task_up{a} 1"),
            format!("supd_task_up{b} 0"),
            format!("supd_task_restarts_total{a} 3"),
            format!("supd_task_restarts_total{b} 0"),
            format!("supd_task_last_exit_code{b} 2"),
            r#"supd_instance_status{job="web",group="g",index="0",status="failed"} 1"#.to_string(),
            r#"supd_instance_status{job="web",group="g",index="0",status="running"} 0"#.to_string(),
            r#"supd_instance_handoff_attempts_total{job="web",group="g",index="0"} 0"#.to_string(),
            "supd_job_files_invalid 0".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains(&format!("supd_task_last_exit_code{a}")), "a never exited:\n{text}");
        assert!(!text.contains("supd_task_healthy{"), "no task has checks:\n{text}");
    }

    #[test]
    fn every_family_is_declared_once_before_its_samples() {
        let text = render(&jobs_of(vec![job_run_of(1, WEB)]), &Stats::default());
        let mut declared = std::collections::BTreeSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(declared.insert(name.clone()), "{name} declared twice");
                current = name;
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| *b == current))
                    .unwrap_or(name);
                assert_eq!(base, current, "{line} outside its family");
            }
        }
        assert!(declared.len() >= 10, "{declared:?}");
    }

    #[test]
    fn names_with_quotes_backslashes_and_newlines_stay_one_valid_line() {
        let hcl = WEB.replace("job \"web\"", r#"job "we\"b\\x""#);
        let mut run = job_run_of(1, &hcl);
        run.job.id = "we\"b\\x\nnext".into();
        let text = render(&jobs_of(vec![run]), &Stats::default());
        assert!(
            text.lines().any(|l| l == r#"supd_task_up{job="we\"b\\x\nnext",group="g",index="0",task="a"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn the_reaction_histogram_is_cumulative_with_sum_and_count() {
        let mut stats = Stats::default();
        for v in [0.0003, 0.002, 0.002, 7.0] {
            stats.restart_reaction.observe(v);
        }
        stats.check_duration[2].observe(0.02);
        let text = render(&Jobs::default(), &stats);
        for line in [
            r#"supd_check_duration_seconds_bucket{type="script",le="0.01"} 0"#,
            r#"supd_check_duration_seconds_bucket{type="script",le="0.025"} 1"#,
            r#"supd_check_duration_seconds_count{type="script"} 1"#,
            r#"supd_check_duration_seconds_count{type="tcp"} 0"#,
            r#"supd_restart_reaction_seconds_bucket{le="0.0005"} 1"#,
            r#"supd_restart_reaction_seconds_bucket{le="0.001"} 1"#,
            r#"supd_restart_reaction_seconds_bucket{le="0.0025"} 3"#,
            r#"supd_restart_reaction_seconds_bucket{le="2.5"} 3"#,
            r#"supd_restart_reaction_seconds_bucket{le="+Inf"} 4"#,
            "supd_restart_reaction_seconds_count 4",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let sum = text.lines().find_map(|l| l.strip_prefix("supd_restart_reaction_seconds_sum ")).unwrap();
        assert!((sum.parse::<f64>().unwrap() - 7.0043).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn requests_are_read_from_their_line() {
        assert_eq!(parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Wanted::Metrics { head: false });
        assert_eq!(parse_request(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"), Wanted::Metrics { head: true });
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Wanted::Index { head: false });
        assert_eq!(parse_request(b"GET /other HTTP/1.1\r\n\r\n"), Wanted::NotFound);
        assert_eq!(parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"), Wanted::NotAllowed);
        assert_eq!(parse_request(b"GET /metrics\r\n\r\n"), Wanted::BadRequest);
        assert_eq!(parse_request(b"\xff\xfe\r\n\r\n"), Wanted::BadRequest);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(parse_request(b"GET /metrics HTTP/1.0\n\n"), Wanted::Metrics { head: false });
    }
}
