//! supctl: the operator's command line for supd. Flags -> one request ->
//! print. Exit codes: 0 done; 1 refused or invalid (reason on stderr);
//! 2 usage error; 3 no daemon at the socket; 4 (status) a selected task is
//! not running and healthy; 5 permission denied on the socket.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[path = "supctl/complete.rs"]
mod complete;

use clap::{CommandFactory, Parser, Subcommand, ValueHint};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;
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
                  3 no supd at the socket, or it did not answer in time; 4 (status) a selected task is not \
                  running and healthy; 5 permission denied on the socket."
)]
struct Cli {
    /// Print machine-readable JSON instead of text (not with logs or
    /// completions, whose output is not records).
    #[arg(long, global = true)]
    json: bool,
    /// supd's control socket (default: the one supd.toml names, else supd's default).
    #[arg(long, global = true, value_name = "PATH", env = "SUPD_SOCKET", value_hint = ValueHint::FilePath)]
    socket: Option<PathBuf>,
    /// supd.toml, for the socket and this node's name, datacenter and meta
    /// (default: supd's default path, when it exists).
    #[arg(long, global = true, value_name = "FILE", value_hint = ValueHint::FilePath)]
    config: Option<PathBuf>,
    /// How long to wait for supd's answer, in seconds (connecting may take
    /// at most 5 s). supctl exits 3 when supd does not answer in time.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Jobs, instances and tasks; one instance or task in detail with its
    /// recent events. TARGET: JOB[/GROUP[/INDEX]][/TASK]. Exit 0 when every
    /// selected task is running and healthy (passing, or no checks) or has
    /// completed (exit 0), 4 otherwise; the same with --json.
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
        #[arg(required = true, value_hint = ValueHint::FilePath)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Restart the running tasks of a target (uses no restart attempt); a
    /// dead task is started again, a pending one is left to start on its own.
    Restart { target: String },
    /// Send a signal (SIGHUP, HUP or a number) to the running tasks of a
    /// target; 0 sends nothing and exits 0 only when a task of the target
    /// is alive (a liveness probe).
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
        #[arg(long, conflicts_with = "all")]
        stderr: bool,
        /// Both streams, each on supctl's own stdout and stderr: the last
        /// lines of stdout, then those of stderr (the files keep no times to
        /// merge them by), then with --follow what either writes, in the
        /// order supd reads it.
        #[arg(short, long)]
        all: bool,
        /// Start each line with the time supd read it from the task (RFC
        /// 3339, UTC). Only output streamed with --follow has one: the lines
        /// already in the files were stored without times and show `-`.
        #[arg(short, long)]
        timestamps: bool,
        /// How many of the last lines to show first.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
    },
    /// Task events, oldest first; with --follow, keep streaming new ones
    /// (NDJSON with --json).
    Events {
        /// Only the events of these tasks: JOB[/GROUP[/INDEX]][/TASK].
        target: Option<String>,
        /// Only the events of the last DURATION ("10m", "1h30m"), or since
        /// an RFC 3339 time.
        #[arg(long, value_name = "DURATION", value_parser = since)]
        since: Option<String>,
        /// Keep streaming new events until interrupted.
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
    /// Print a completion script for a shell: job and target names are
    /// completed from the running supd. Load it with
    /// `source <(supctl completions bash)`, or install it where the shell
    /// looks (the Debian package does).
    Completions {
        #[arg(value_enum)]
        shell: complete::Shell,
    },
}

/// `--since`: a duration back from now, or an RFC 3339 time; what supd
/// gets is the RFC 3339 time.
fn since(text: &str) -> Result<String, String> {
    if let Some(t) = supd::timefmt::parse_rfc3339(text) {
        return Ok(supd::timefmt::rfc3339(t));
    }
    let d = jobspec::duration::parse(text)
        .map_err(|e| format!("{e}, or an RFC 3339 time such as 2026-11-28T05:06:07Z"))?
        .value;
    let t = SystemTime::now().checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(supd::timefmt::rfc3339(t))
}

/// Values for a job file's `variable` blocks. NOMAD_VAR_NAME in supctl's
/// environment counts too, below variable files, below --var.
#[derive(clap::Args, Default)]
struct VarArgs {
    /// A value for the job file's variable NAME (repeatable; wins over
    /// variable files and NOMAD_VAR_NAME).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    var: Vec<String>,
    /// A file of variable values, HCL (`name = value`) or JSON (repeatable;
    /// a later file wins).
    #[arg(long = "var-file", value_name = "FILE", value_hint = ValueHint::FilePath)]
    var_file: Vec<PathBuf>,
}

impl VarArgs {
    /// The values, in precedence order; the error names the bad flag.
    fn resolve(&self) -> Result<jobspec::hcl2::Vars, String> {
        let mut vars = jobspec::hcl2::Vars::from_env();
        for f in &self.var_file {
            let bytes = jobspec::read_source(f).map_err(|e| format!("--var-file {}: {e}", f.display()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("--var-file {}: not valid UTF-8 — save it as UTF-8", f.display()))?;
            vars.files.push((f.display().to_string(), text));
        }
        for v in &self.var {
            match v.split_once('=') {
                Some((k, val)) if !k.is_empty() => vars.cli.push((k.to_string(), val.to_string())),
                _ => return Err(format!("--var {v}: write --var NAME=VALUE")),
            }
        }
        Ok(vars)
    }
}

#[derive(Subcommand)]
enum JobCommand {
    /// Submit or update a job from FILE, or standard input with `-`.
    Run {
        #[arg(value_hint = ValueHint::FilePath)]
        file: String,
        /// FILE is a hand-off envelope from a peer's supd (JSON), not HCL:
        /// run the instance it carries, if this host accepts hand-offs.
        /// This is the command a peer runs over ssh.
        #[arg(long)]
        handoff: bool,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Stop a job's instances.
    Stop { job: String },
}

fn main() -> ExitCode {
    // Like any command-line tool: `supctl … | head` ends quietly.
    supd::process::sys::default_sigpipe();
    // What the completion scripts run, outside clap's command tree so that
    // no completion offers it: `supctl __complete [--position] CWORD WORDS...`.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(complete::COMMAND) {
        return complete::run(&Cli::command(), &args[2..]);
    }
    let cli = Cli::parse();
    supd::control::client::set_answer_timeout(std::time::Duration::from_secs(cli.timeout.max(1)));
    if cli.json && matches!(cli.command, Command::Logs { .. } | Command::Completions { .. }) {
        let what = if matches!(cli.command, Command::Logs { .. }) { "logs" } else { "completions" };
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("--json does not apply to {what}: its output is text, not records — leave out --json"),
            )
            .exit();
    }
    let file = match supd::config::File::load_given_or_default(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("supctl: {}", supd::error_chain(&e));
            return ExitCode::from(2);
        }
    };
    let socket = cli.socket.clone().or(file.socket.clone()).unwrap_or_else(supd::config::default_socket);
    let request = match cli.command {
        Command::Completions { shell } => return complete::script(shell, &mut Cli::command()),
        Command::Validate { files, vars } => {
            let vars = match vars.resolve() {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("supctl: {e}");
                    return ExitCode::from(2);
                }
            };
            return validate(&files, &vars, cli.json, &file);
        }
        Command::Status { target } => {
            // The table shows each task's last event; the detail view
            // and --json all of them.
            let detail = target.as_deref().is_some_and(detail_view);
            let events = if cli.json || detail { None } else { Some(1) };
            Request::Status { target, events }
        }
        Command::Job { command: JobCommand::Run { file, handoff, vars } } => {
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
                match supd::handoff::Envelope::from_json(source.as_bytes())
                    .and_then(|_| serde_json::from_str(&source).map_err(supd::handoff::EnvelopeError::Malformed))
                {
                    Ok(envelope) => Request::Handoff { envelope },
                    Err(e) => {
                        eprintln!("supctl: {name}: {}", supd::error_chain(&e));
                        return ExitCode::from(1);
                    }
                }
            } else {
                let vars = match vars.resolve() {
                    Ok(v) => v,
                    Err(e) => {
                        eprintln!("supctl: {e}");
                        return ExitCode::from(2);
                    }
                };
                match evaluated(&name, source, &vars) {
                    Ok(source) => Request::JobRun { source, file: name },
                    Err(code) => return code,
                }
            }
        }
        Command::Job { command: JobCommand::Stop { job } } => Request::JobStop { job },
        Command::Restart { target } => Request::Restart { target },
        Command::Signal { target, signal } => Request::Signal { target, signal },
        Command::Events { follow, target, since } => {
            return events(&socket, Request::Events { follow, target, since }, cli.json);
        }
        Command::Logs { target, follow, stderr, all, timestamps, lines } => {
            return logs(&socket, Request::Logs { target, stderr, lines, follow, all }, timestamps);
        }
        Command::Reload { dry_run } => Request::Reload { dry_run },
        Command::Shutdown => Request::Shutdown,
    };
    let detail = matches!(&request, Request::Status { target: Some(t), .. } if detail_view(t));
    match Connection::call(&socket, request) {
        Ok(r) => {
            let code = print_response(&r, cli.json, detail);
            match &r.status {
                Some(s) if r.ok && !all_up(s) => ExitCode::from(4),
                _ => code,
            }
        }
        Err(e) => client_error(e),
    }
}

/// Whether `status TARGET` shows the detail view of instances (a target
/// down to an instance or a task) rather than the table.
fn detail_view(target: &str) -> bool {
    target.split('/').count() >= 3 || target.contains('[')
}

/// Whether every task of a status is running and healthy (passing, or no
/// checks) or has completed (exit 0): `status` exits 0 then, else 4. A
/// poststop task waits for its turn and is not counted.
fn all_up(s: &Status) -> bool {
    s.jobs.iter().flat_map(|j| &j.groups).flat_map(|g| &g.instances).flat_map(|i| &i.tasks).all(|t| {
        match t.state.as_str() {
            "running" => t.health.as_deref().is_none_or(|h| h == "passing"),
            "dead" => !t.failed && t.exit_code == Some(0),
            "pending" => t.hook.as_deref() == Some("poststop"),
            _ => false,
        }
    })
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
        if let Some(width) = terminal_width() {
            trim_last_column(&mut rows, width);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// The width to fit the table to: `COLUMNS` when set, else the terminal's
/// when standard output is one; `None` (no trimming) for a pipe or file.
fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|n| *n > 0) {
        return Some(n);
    }
    supd::process::sys::stdout_columns()
}

/// Shortens the cells of the last column (LAST EVENT) so that each line
/// fits in `width`, ending a cut cell with `…`; never below 10 characters.
fn trim_last_column(rows: &mut [Vec<String>], width: usize) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if cols < 2 {
        return;
    }
    let before: usize = (0..cols - 1)
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0) + 2)
        .sum();
    let room = width.saturating_sub(before).max(10);
    for r in rows.iter_mut() {
        if let Some(last) = r.last_mut()
            && last.chars().count() > room
        {
            *last = last.chars().take(room - 1).chain(['…']).collect();
        }
    }
}

/// The node's cgroups, capacity and what is not enforced.
fn node_resources(s: &Status) -> String {
    let n = &s.node;
    let mut out = String::new();
    if let Some(cg) = &n.cgroups {
        out.push_str(&format!("  cgroups {cg}\n"));
    }
    let total = |t: Option<u64>| t.map_or("?".to_string(), |t| t.to_string());
    let unreserved = match n.unreserved_tasks {
        0 => String::new(),
        1 => " (1 task without resources reserves nothing and has no limits)".to_string(),
        k => format!(" ({k} tasks without resources reserve nothing and have no limits)"),
    };
    out.push_str(&format!(
        "  reserved: cpu {}/{} MHz, memory {}/{} MB{unreserved}\n",
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

/// `12.3M/256M`: memory in use and the hard limit; `-` for a task with no
/// process, which holds no memory whatever its limit was.
fn memory_cell(t: &TaskStatus) -> String {
    let Some(r) = &t.resources else { return "-".into() };
    if t.state != "running" {
        return "-".into();
    }
    if r.unreserved {
        return format!("{} (unreserved)", r.memory_usage.map_or("-".into(), bytes));
    }
    if !r.enforced.iter().any(|e| e == "memory") {
        return format!("{}M (no limit)", r.memory);
    }
    let used = r.memory_usage.map_or("-".into(), bytes);
    format!("{used}/{}", r.memory_limit.map_or("-".into(), bytes))
}

/// `1.2s/500MHz`: cpu time of the current run, and the task's MHz.
fn cpu_cell(t: &TaskStatus) -> String {
    let Some(r) = &t.resources else { return "-".into() };
    if r.unreserved {
        return format!("{} (unreserved)", r.cpu_seconds.map_or("-".into(), |s| format!("{s:.1}s")));
    }
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
    let usage = usage_detail(r);
    let cgroup = r.cgroup.as_deref().map_or(String::new(), |c| format!("\nCgroup = {c}"));
    if r.unreserved {
        return Some(format!("Resources = none declared: no reservation, no limits{usage}{cgroup}\n"));
    }
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
    Some(format!("Resources = {asked}; {}{usage}{cgroup}\n", enforced.join(", ")))
}

/// `; using memory 12M, cpu time 0.31s`, or nothing when nothing is known.
fn usage_detail(r: &supd::control::protocol::TaskResources) -> String {
    let mut usage = Vec::new();
    if let Some(m) = r.memory_usage {
        usage.push(format!("memory {}", bytes(m)));
    }
    if let Some(c) = r.cpu_seconds {
        usage.push(format!("cpu time {c:.2}s"));
    }
    if usage.is_empty() { String::new() } else { format!("; using {}", usage.join(", ")) }
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

fn events(socket: &std::path::Path, request: Request, json: bool) -> ExitCode {
    let follow = matches!(request, Request::Events { follow: true, .. });
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return client_error(e),
    };
    if let Err(e) = conn.send(request) {
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

fn logs(socket: &std::path::Path, request: Request, timestamps: bool) -> ExitCode {
    let all = matches!(request, Request::Logs { all: true, .. });
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return client_error(e),
    };
    if let Err(e) = conn.send(request) {
        return client_error(e);
    }
    let mut out = LogPrinter { all, timestamps, partial: Default::default() };
    loop {
        match conn.next_response() {
            Ok(Some(r)) if !r.ok => {
                eprintln!("supctl: {}", show_lines(r.error.as_deref().unwrap_or("refused")));
                return ExitCode::from(1);
            }
            Ok(Some(r)) => {
                if let Some(d) = &r.data {
                    out.chunk(r.stream.as_deref() == Some("stderr"), d, r.time.as_deref());
                }
            }
            Ok(None) => {
                out.finish();
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                out.finish();
                return client_error(e);
            }
        }
    }
}

/// Prints task output. As it comes unless lines need something at their
/// start (a time) or must not mix (both streams); then whole lines, each
/// stream's unfinished line kept until its end arrives.
struct LogPrinter {
    all: bool,
    timestamps: bool,
    /// Per stream (stdout, stderr): the unfinished line and its time.
    partial: [(String, Option<String>); 2],
}

/// What `-t` shows for a line stored without a time, as wide as a time.
const NO_TIME: &str = "-                       ";

impl LogPrinter {
    fn chunk(&mut self, stderr: bool, data: &str, time: Option<&str>) {
        if !self.all && !self.timestamps {
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(data.as_bytes());
            let _ = stdout.flush();
            return;
        }
        let i = usize::from(stderr);
        let mut rest = data;
        while let Some(end) = rest.find('\n') {
            let (line, tail) = rest.split_at(end + 1);
            let (mut text, started) = std::mem::take(&mut self.partial[i]);
            text.push_str(line);
            self.print(stderr, &text, started.as_deref().or(time));
            rest = tail;
        }
        if !rest.is_empty() {
            let (text, started) = &mut self.partial[i];
            if text.is_empty() {
                *started = time.map(str::to_string);
            }
            text.push_str(rest);
        }
    }

    fn print(&self, stderr: bool, line: &str, time: Option<&str>) {
        let prefix = match (self.timestamps, time) {
            (false, _) => String::new(),
            (true, Some(t)) => format!("{t} "),
            (true, None) => format!("{NO_TIME} "),
        };
        let text = format!("{prefix}{line}");
        let _ = if self.all && stderr {
            std::io::stderr().write_all(text.as_bytes())
        } else {
            let mut stdout = std::io::stdout();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        };
    }

    /// Prints what is left of unfinished lines when the output ends.
    fn finish(&mut self) {
        for i in 0..2 {
            let (text, time) = std::mem::take(&mut self.partial[i]);
            if !text.is_empty() {
                self.print(i == 1, &text, time.as_deref());
            }
        }
    }
}

/// A job file that uses variables, locals or functions is evaluated here,
/// with supctl's values, and supd is sent the evaluated jobs: supd never
/// sees the values' sources. Other files go as they are.
fn evaluated(name: &str, source: String, vars: &jobspec::hcl2::Vars) -> Result<String, ExitCode> {
    if !jobspec::hcl2::may_need(&source) && vars.cli.is_empty() {
        return Ok(source);
    }
    let base =
        if name == "<stdin>" { None } else { std::path::Path::new(name).parent().map(std::path::Path::to_path_buf) };
    let parsed = jobspec::parse_str_with(name, &source, Some((vars, base)));
    if !parsed.is_valid() {
        for d in &parsed.diagnostics {
            eprintln!("{d}");
        }
        return Err(ExitCode::from(1));
    }
    Ok(parsed.jobs.iter().map(|j| j.source.as_str()).collect::<Vec<_>>().join("\n"))
}

fn validate(files: &[PathBuf], vars: &jobspec::hcl2::Vars, json: bool, config: &supd::config::File) -> ExitCode {
    let mut node = Node::detect();
    config.apply_to(&mut node);
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut invalid = false;
    for path in files {
        // NAME.vars.hcl beside the file counts, below --var-file.
        let mut vars = vars.clone();
        if let Some(vf) = jobspec::vars_file_of(path)
            && let Ok(bytes) = jobspec::read_source(&vf)
        {
            vars.files.insert(0, (vf.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
        }
        let mut parsed = jobspec::parse_file_with(path, &vars);
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
