//! supctl: the operator's command line for supd. Flags -> one request ->
//! print. Exit codes: 0 done; 1 refused or invalid (reason on stderr);
//! 2 usage error; 3 no daemon at the socket; 5 permission denied on the
//! socket.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use supd::control::client::{ClientError, Connection};
use supd::control::protocol::{Request, Response, Status, TaskStatus};
use supd::jobspec::{self, Diagnostic};
use supd::node::Node;

#[derive(Parser)]
#[command(
    name = "supctl",
    version,
    about = "Drive supd, the process supervisor that runs Nomad job files",
    after_help = "Exit status: 0 done; 1 refused or invalid (the reason on stderr); 2 usage error; \
                  3 no supd at the socket; 5 permission denied on the socket."
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// supd's control socket (default: the one supd.toml names, else supd's default).
    #[arg(long, global = true, value_name = "PATH", env = "SUPD_SOCKET")]
    socket: Option<PathBuf>,
    /// supd.toml, for the socket and this node's name, datacenter and meta
    /// (default: supd's default path, when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Jobs, instances and tasks; one instance or task in detail with its
    /// recent events. TARGET: JOB[/GROUP[/INDEX]][/TASK].
    Status { target: Option<String> },
    /// Submit, update or stop jobs.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Check job files without a daemon: syntax, types, Nomad's rules, and
    /// whether this host can run them. Exit 0 when every file is valid, 1
    /// when any is not (warnings never fail), 2 on a usage error.
    Validate {
        /// Job files (HCL).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Restart the running tasks of a target (uses no restart attempt); a
    /// dead task is started again, a pending one is left to start on its own.
    Restart { target: String },
    /// Send a signal (SIGHUP, HUP or a number) to the running tasks of a target.
    Signal { target: String, signal: String },
    /// A task's output: the last lines, and with --follow what it writes
    /// next, across rotation and restarts. TARGET as in status; a
    /// single-task group may omit the task.
    Logs {
        target: String,
        /// Follow the output until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Show stderr instead of stdout.
        #[arg(long)]
        stderr: bool,
        /// How many of the last lines to show first.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
    },
    /// Every task event; with --follow, keep streaming new ones (NDJSON with --json).
    Events {
        #[arg(short, long)]
        follow: bool,
    },
    /// Re-read the job directory: add, update and remove jobs.
    Reload {
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop every task, then supd exits.
    Shutdown,
}

#[derive(Subcommand)]
enum JobCommand {
    /// Submit or update a job from FILE, or standard input with `-`.
    Run {
        file: String,
        /// FILE is a hand-off envelope from a peer's supd (JSON), not HCL:
        /// run the instance it carries, if this host accepts hand-offs.
        /// This is the command a peer runs over ssh.
        #[arg(long)]
        handoff: bool,
    },
    /// Stop a job's instances.
    Stop { job: String },
}

fn main() -> ExitCode {
    // Like any command-line tool: `supctl … | head` ends quietly.
    supd::process::sys::default_sigpipe();
    let cli = Cli::parse();
    let file = match supd::config::File::load_given_or_default(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("supctl: {e}");
            return ExitCode::from(2);
        }
    };
    let socket = cli.socket.clone().or(file.socket.clone()).unwrap_or_else(supd::config::default_socket);
    let request = match cli.command {
        Command::Validate { files } => return validate(&files, cli.json, &file),
        Command::Status { target } => Request::Status { target },
        Command::Job { command: JobCommand::Run { file, handoff } } => {
            let (source, name) = if file == "-" {
                let mut bytes = Vec::new();
                if let Err(e) = std::io::stdin().take(jobspec::MAX_FILE_SIZE + 1).read_to_end(&mut bytes) {
                    eprintln!("supctl: cannot read the job from standard input: {e}");
                    return ExitCode::from(1);
                }
                if bytes.len() as u64 > jobspec::MAX_FILE_SIZE {
                    eprintln!("supctl: standard input holds more than 16 MiB; a job may be at most 16 MiB");
                    return ExitCode::from(1);
                }
                (bytes, "<stdin>".to_string())
            } else {
                match jobspec::read_source(std::path::Path::new(&file)) {
                    Ok(bytes) => (bytes, file),
                    Err(e) => {
                        eprintln!("supctl: {file}: {e}");
                        return ExitCode::from(1);
                    }
                }
            };
            let source = match String::from_utf8(source) {
                Ok(s) => s,
                Err(_) => {
                    eprintln!("supctl: {name} is not valid UTF-8 — save it as UTF-8");
                    return ExitCode::from(1);
                }
            };
            if handoff {
                match supd::handoff::Envelope::from_json(source.as_bytes()) {
                    Ok(envelope) => Request::Handoff { envelope },
                    Err(e) => {
                        eprintln!("supctl: {name}: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                Request::JobRun { source, file: name }
            }
        }
        Command::Job { command: JobCommand::Stop { job } } => Request::JobStop { job },
        Command::Restart { target } => Request::Restart { target },
        Command::Signal { target, signal } => Request::Signal { target, signal },
        Command::Events { follow } => return events(&socket, follow, cli.json),
        Command::Logs { target, follow, stderr, lines } => {
            return logs(&socket, Request::Logs { target, stderr, lines, follow });
        }
        Command::Reload { dry_run } => Request::Reload { dry_run },
        Command::Shutdown => Request::Shutdown,
    };
    let detail =
        matches!(&request, Request::Status { target: Some(t) } if t.split('/').count() >= 3 || t.contains('['));
    match Connection::call(&socket, request) {
        Ok(r) => print_response(&r, cli.json, detail),
        Err(e) => client_error(e),
    }
}

fn client_error(e: ClientError) -> ExitCode {
    match e {
        ClientError::NoDaemon(m) => {
            eprintln!("supctl: {}", show_lines(&m));
            ExitCode::from(3)
        }
        ClientError::PermissionDenied(m) => {
            eprintln!("supctl: {}", show_lines(&m));
            ExitCode::from(5)
        }
        ClientError::Protocol(m) => {
            eprintln!("supctl: {}", show_lines(&m));
            ExitCode::from(1)
        }
    }
}

fn print_response(r: &Response, json: bool, detail: bool) -> ExitCode {
    if !r.ok {
        eprintln!("supctl: {}", show_lines(r.error.as_deref().unwrap_or("refused")));
        return ExitCode::from(1);
    }
    if json {
        let out = match &r.status {
            Some(s) => serde_json::to_string_pretty(s),
            None => serde_json::to_string_pretty(r),
        };
        match out {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("supctl: cannot encode JSON: {e}");
                return ExitCode::from(1);
            }
        }
        return ExitCode::SUCCESS;
    }
    for m in &r.messages {
        if r.status.is_some() {
            eprintln!("{}", show_lines(m));
        } else {
            println!("{}", show_lines(m));
        }
    }
    if let Some(s) = &r.status {
        print!("{}", show_lines(&if detail { render_detail(s) } else { render_table(s) }));
    }
    ExitCode::SUCCESS
}

/// One line per task: the view an operator scans first.
fn render_table(s: &Status) -> String {
    let mut rows = vec![
        ["INSTANCE", "TASK", "STATE", "HEALTH", "PID", "RESTARTS", "MEMORY", "CPU", "LAST EVENT"]
            .map(String::from)
            .to_vec(),
    ];
    for job in &s.jobs {
        for g in &job.groups {
            for i in &g.instances {
                for t in &i.tasks {
                    let last = t.events.last().map_or(String::new(), |e| {
                        if e.message.is_empty() { e.kind.clone() } else { format!("{}: {}", e.kind, e.message) }
                    });
                    let state = match i.reschedule.as_ref().and_then(|r| r.handed_off_to.as_ref()) {
                        Some(peer) if i.status == "handed off" => format!("handed off to {peer}"),
                        _ => task_state(t),
                    };
                    rows.push(vec![
                        i.name.clone(),
                        t.name.clone(),
                        state,
                        t.health.clone().unwrap_or_else(|| "-".into()),
                        t.pid.map_or("-".into(), |p| p.to_string()),
                        t.restarts.to_string(),
                        memory_cell(t),
                        cpu_cell(t),
                        last,
                    ]);
                }
            }
        }
    }
    let mut out = String::new();
    let summary: Vec<String> = s.jobs.iter().map(|j| format!("{} ({}) {}", j.name, j.job_type, j.status)).collect();
    out.push_str(&format!("node {} ({}): {} job(s)\n", s.node.name, s.node.datacenter, s.jobs.len()));
    out.push_str(&node_resources(s));
    for line in summary {
        out.push_str(&format!("  {line}\n"));
    }
    if rows.len() > 1 {
        out.push('\n');
        out.push_str(&table(&rows));
    }
    out
}

/// The node's cgroups, capacity and what is not enforced.
fn node_resources(s: &Status) -> String {
    let n = &s.node;
    let mut out = String::new();
    if let Some(cg) = &n.cgroups {
        out.push_str(&format!("  cgroups {cg}\n"));
    }
    let total = |t: Option<u64>| t.map_or("?".to_string(), |t| t.to_string());
    out.push_str(&format!(
        "  reserved: cpu {}/{} MHz, memory {}/{} MB\n",
        n.cpu_reserved,
        total(n.cpu_total),
        n.memory_reserved,
        total(n.memory_total)
    ));
    for p in &n.cgroup_problems {
        out.push_str(&format!("  warning: {p}\n"));
    }
    out
}

/// `12.3M/256M`: memory in use and the hard limit.
fn memory_cell(t: &TaskStatus) -> String {
    let Some(r) = &t.resources else { return "-".into() };
    if !r.enforced.iter().any(|e| e == "memory") {
        return format!("{}M (no limit)", r.memory);
    }
    let used = r.memory_usage.map_or("-".into(), bytes);
    format!("{used}/{}", r.memory_limit.map_or("-".into(), bytes))
}

/// `1.2s/500MHz`: cpu time of the current run, and the task's MHz.
fn cpu_cell(t: &TaskStatus) -> String {
    let Some(r) = &t.resources else { return "-".into() };
    if !r.enforced.iter().any(|e| e == "cpu") {
        return format!("{}MHz (no limit)", r.cpu);
    }
    let used = r.cpu_seconds.map_or("-".into(), |s| format!("{s:.1}s"));
    format!("{used}/{}MHz", r.cpu)
}

/// A byte count in K, M or G (binary), one decimal below 10.
fn bytes(b: u64) -> String {
    let (v, unit) = match b {
        b if b >= 1 << 30 => (b as f64 / (1u64 << 30) as f64, "G"),
        b if b >= 1 << 20 => (b as f64 / (1u64 << 20) as f64, "M"),
        b => (b as f64 / 1024.0, "K"),
    };
    if v < 10.0 { format!("{v:.1}{unit}") } else { format!("{v:.0}{unit}") }
}

/// The resources line of one task in detail.
fn resources_detail(t: &TaskStatus) -> Option<String> {
    let r = t.resources.as_ref()?;
    let mut asked = format!("cpu {} MHz, memory {} MB", r.cpu, r.memory);
    if let Some(m) = r.memory_max {
        asked.push_str(&format!(", memory_max {}", if m < 0 { "none".to_string() } else { format!("{m} MB") }));
    }
    if r.enforced.is_empty() {
        return Some(format!("Resources = {asked}; not enforced (no cgroup: see the node's warnings)\n"));
    }
    let mut enforced = Vec::new();
    if r.enforced.iter().any(|e| e == "memory") {
        enforced.push(format!("memory limit {}", r.memory_limit.map_or("none".into(), bytes)));
    }
    if let Some(q) = r.cpu_quota {
        enforced.push(format!("cpu quota {q} us per 100 ms"));
    } else if let Some(w) = r.cpu_weight {
        enforced.push(format!("cpu weight {w}"));
    }
    let mut usage = Vec::new();
    if let Some(m) = r.memory_usage {
        usage.push(format!("memory {}", bytes(m)));
    }
    if let Some(c) = r.cpu_seconds {
        usage.push(format!("cpu time {c:.2}s"));
    }
    let usage = if usage.is_empty() { String::new() } else { format!("; using {}", usage.join(", ")) };
    let cgroup = r.cgroup.as_deref().map_or(String::new(), |c| format!("\nCgroup = {c}"));
    Some(format!("Resources = {asked}; {}{usage}{cgroup}\n", enforced.join(", ")))
}

fn task_state(t: &TaskStatus) -> String {
    match (t.state.as_str(), t.failed) {
        ("dead", true) => "dead (failed)".into(),
        (s, _) => s.to_string(),
    }
}

/// One instance or task with its recent events, like `nomad alloc status`.
fn render_detail(s: &Status) -> String {
    let mut out = String::new();
    for job in &s.jobs {
        for g in &job.groups {
            for i in &g.instances {
                out.push_str(&format!(
                    "Instance {} ({})\nID       = {}\nStatus   = {}\n",
                    i.name, job.job_type, i.id, i.status
                ));
                if let Some(r) = &i.reschedule {
                    out.push_str(&render_reschedule(r));
                }
                for t in &i.tasks {
                    out.push_str(&format!(
                        "\nTask {:?} is {:?}{}\n",
                        t.name,
                        t.state,
                        if t.failed { " (failed)" } else { "" }
                    ));
                    let exit = match (&t.exit_code, &t.signal) {
                        (Some(c), _) => format!("exit code {c}"),
                        (None, Some(sig)) => format!("signal {sig}"),
                        _ => "-".into(),
                    };
                    out.push_str(&format!(
                        "PID = {}  Total Restarts = {}  Last Restart = {}  Started At = {}  Finished At = {}  Last Exit = {exit}\n",
                        t.pid.map_or("-".into(), |p| p.to_string()),
                        t.restarts,
                        t.last_restart.as_deref().unwrap_or("N/A"),
                        t.started_at.as_deref().unwrap_or("N/A"),
                        t.finished_at.as_deref().unwrap_or("N/A"),
                    ));
                    if let Some(line) = resources_detail(t) {
                        out.push_str(&line);
                    }
                    if !t.checks.is_empty() {
                        out.push_str("\nChecks:\n");
                        let mut rows = vec![vec!["Name".to_string(), "Type".into(), "Status".into(), "Output".into()]];
                        for c in &t.checks {
                            rows.push(vec![c.name.clone(), c.kind.clone(), c.status.clone(), c.output.clone()]);
                        }
                        out.push_str(&table(&rows));
                    }
                    out.push_str("\nRecent Events:\n");
                    let mut rows = vec![vec!["Time".to_string(), "Type".into(), "Description".into()]];
                    for e in t.events.iter().rev() {
                        rows.push(vec![e.time.clone(), e.kind.clone(), e.message.clone()]);
                    }
                    out.push_str(&table(&rows));
                }
                out.push('\n');
            }
        }
    }
    out
}

/// An instance's hand-off state and history, for the detail view.
fn render_reschedule(r: &supd::control::protocol::RescheduleStatus) -> String {
    let mut out = String::new();
    let allowed = r.allowed.map_or("unlimited".to_string(), |a| a.to_string());
    out.push_str(&format!("Reschedule = {} ({} of {allowed} attempts used)", r.state, r.attempts));
    if let Some(to) = &r.handed_off_to {
        out.push_str(&format!(", handed off to {to}"));
    }
    if let Some(next) = &r.next {
        out.push_str(&format!(", next hand-off at {next}"));
    }
    out.push('\n');
    if let Some(from) = &r.received_from {
        out.push_str(&format!("Handed In From = {from}\n"));
    }
    if let Some(reason) = &r.reason {
        out.push_str(&format!("Reason   = {reason}\n"));
    }
    if !r.history.is_empty() {
        out.push_str("\nHand-off History:\n");
        let mut rows = vec![["Attempt", "Time", "From", "To", "Delay", "Reason"].map(String::from).to_vec()];
        for h in &r.history {
            rows.push(vec![
                if h.attempt == 0 { "-".into() } else { h.attempt.to_string() },
                h.time.clone(),
                h.from.clone(),
                h.to.clone().unwrap_or_else(|| "-".into()),
                h.delay.clone(),
                h.reason.clone(),
            ]);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// Text from supd, a job file or a peer, safe to print: control and
/// invisible characters escaped (names are checked when a job is
/// submitted, but a terminal must not act on whatever comes).
fn show(text: &str) -> std::borrow::Cow<'_, str> {
    supd::names::printable(text)
}

/// The same, keeping line breaks.
fn show_lines(text: &str) -> String {
    text.split('\n').map(show).collect::<Vec<_>>().join("\n")
}

fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| show(c).into_owned()).collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| if i + 1 == r.len() { cell.clone() } else { format!("{cell:<w$}", w = widths[i]) })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn events(socket: &std::path::Path, follow: bool, json: bool) -> ExitCode {
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return client_error(e),
    };
    if let Err(e) = conn.send(Request::Events { follow }) {
        return client_error(e);
    }
    let first = match conn.next_response() {
        Ok(Some(r)) => r,
        Ok(None) => return client_error(ClientError::Protocol("supd closed the connection".into())),
        Err(e) => return client_error(e),
    };
    if !first.ok {
        eprintln!("supctl: {}", show_lines(first.error.as_deref().unwrap_or("refused")));
        return ExitCode::from(1);
    }
    let print = |l: &supd::control::protocol::EventLine| {
        if json {
            if let Ok(s) = serde_json::to_string(l) {
                println!("{s}");
            }
        } else {
            let line = format!(
                "{}  {}.{}[{}]/{}  {}  {}",
                l.event.time, l.job, l.group, l.index, l.task, l.event.kind, l.event.message
            );
            println!("{}", show(&line));
        }
    };
    first.events.iter().for_each(print);
    if !follow {
        return ExitCode::SUCCESS;
    }
    // Following: further lines are bare events.
    loop {
        match conn.next_event() {
            Ok(Some(l)) => print(&l),
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => return client_error(e),
        }
    }
}

fn logs(socket: &std::path::Path, request: Request) -> ExitCode {
    use std::io::Write;
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return client_error(e),
    };
    if let Err(e) = conn.send(request) {
        return client_error(e);
    }
    let mut stdout = std::io::stdout();
    loop {
        match conn.next_response() {
            Ok(Some(r)) if !r.ok => {
                eprintln!("supctl: {}", show_lines(r.error.as_deref().unwrap_or("refused")));
                return ExitCode::from(1);
            }
            Ok(Some(r)) => {
                if let Some(d) = r.data {
                    let _ = stdout.write_all(d.as_bytes());
                    let _ = stdout.flush();
                }
            }
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => return client_error(e),
        }
    }
}

fn validate(files: &[PathBuf], json: bool, config: &supd::config::File) -> ExitCode {
    let mut node = Node::detect();
    config.apply_to(&mut node);
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut invalid = false;
    for path in files {
        let mut parsed = jobspec::parse_file(path);
        let name = path.display().to_string();
        parsed.diagnostics.extend(supd::node::placement_warnings(&name, &parsed.jobs, &node));
        jobspec::sort(&mut parsed.diagnostics);
        invalid |= !parsed.is_valid();
        if json {
            all.extend(parsed.diagnostics);
            continue;
        }
        for d in &parsed.diagnostics {
            println!("{}", show_lines(&d.to_string()));
        }
        if parsed.is_valid() {
            let n = parsed.jobs.len();
            let w = parsed.warnings();
            let warnings =
                if w > 0 { format!(", {w} warning{}", if w == 1 { "" } else { "s" }) } else { String::new() };
            println!("{name}: ok ({n} job{}{warnings})", if n == 1 { "" } else { "s" });
        } else {
            let e = parsed.errors();
            println!("{name}: invalid ({e} error{})", if e == 1 { "" } else { "s" });
        }
    }
    if json {
        match serde_json::to_string_pretty(&all) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("supctl: cannot encode the result as JSON: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if invalid { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
