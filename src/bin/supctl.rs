//! supctl: the operator's command line for supd. Flags -> one request ->
//! print. Exit codes: 0 done; 1 refused or invalid (reason on stderr);
//! 2 usage error; 3 no daemon at the socket; 4 (status) a selected task is
//! not running and healthy; 5 permission denied on the socket.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[path = "supctl/complete.rs"]
mod complete;
#[path = "supctl/handoff.rs"]
mod handoff;
#[path = "supctl/import.rs"]
mod import;
#[path = "supctl/plan.rs"]
mod plan;
#[path = "supctl/raw.rs"]
mod raw;
#[path = "supctl/render.rs"]
mod render;
#[path = "supctl/stream.rs"]
mod stream;
#[path = "supctl/table.rs"]
mod table;
#[path = "supctl/validate.rs"]
mod validate;
#[path = "supctl/var.rs"]
mod var;
#[path = "supctl/wait.rs"]
mod wait;

use handoff::{HandoffCommand, handoff_serve};
use import::import;
use plan::{job_plan, read_job, render_plans};
use render::{render_detail, show, show_lines};
use stream::{events, logs};
use validate::validate;
use var::{VarCommand, var};

use clap::{CommandFactory, Parser, Subcommand, ValueHint};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;
use supd::control::client::{ClientError, Connection};
use supd::control::protocol::{Request, Response, Status, TaskStatus};
use supd::jobspec;

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
        /// Print each valid job as supd would run it — after evaluation,
        /// defaults and merges — as HCL with `# default` after each value
        /// that came from a default (with --json: one document per job,
        /// as `job inspect --json`). Diagnostics go to stderr then.
        #[arg(long)]
        effective: bool,
        /// Check the files only, not whether this host can run them (its
        /// drivers, datacenter, constraints and size): for a build machine,
        /// or a user without the rights supd runs with.
        #[arg(long)]
        no_host: bool,
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
        /// Both streams, each on supctl's own stdout and stderr, merged in
        /// the order supd read them, then with --follow what either writes.
        #[arg(short, long)]
        all: bool,
        /// Start each line with the time supd read it from the task (RFC
        /// 3339, UTC); lines stored before supd kept times show `-`.
        #[arg(short, long)]
        timestamps: bool,
        /// How many of the last lines to show first (default 10; with
        /// --since, all of them since then).
        #[arg(short = 'n', long)]
        lines: Option<usize>,
        /// Only the lines of the last DURATION ("10m", "1h30m"), or since an
        /// RFC 3339 time.
        #[arg(long, value_name = "DURATION", value_parser = since)]
        since: Option<String>,
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
        /// Only events of these types, separated by commas
        /// ("Restarting,Terminated").
        #[arg(long = "type", value_name = "TYPES", value_delimiter = ',')]
        types: Vec<String>,
        /// Only events of tasks of this name, in any job.
        #[arg(long, value_name = "NAME")]
        task: Option<String>,
    },
    /// Re-read the job directory: add, update and remove jobs.
    Reload {
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop every task, then supd exits.
    Shutdown,
    /// Execute supd's binary again (the file now at the path supd was
    /// started from: an upgraded binary takes over) as the same process:
    /// every task keeps running, with the same pid, output, restart
    /// budget and events. A binary that cannot take over is refused and
    /// supd keeps running as it is.
    DaemonReexec,
    /// Convert existing services into job files: systemd `.service`
    /// units, supervisord files (one job per [program:x]) and runit service
    /// directories (their `run`, and `finish`). Each job is printed (or
    /// written to DIR/NAME.hcl with --out), with a comment at every
    /// directive that has no exact equivalent and what was chosen. Exit 0
    /// when every source converted, 1 otherwise.
    Import {
        #[arg(required = true, value_hint = ValueHint::AnyPath)]
        sources: Vec<PathBuf>,
        /// Write each job to DIR/NAME.hcl (never over an existing file).
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        out: Option<PathBuf>,
    },
    /// Nomad Variables: paths of KEY=VALUE items a task's templates read
    /// with nomadVar (its job's, group's and task's paths), kept
    /// encrypted by supd.
    Var {
        #[command(subcommand)]
        command: VarCommand,
    },
    /// The side of hand-offs that peers talk to.
    Handoff {
        #[command(subcommand)]
        command: HandoffCommand,
    },
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
        /// Return once supd has taken the file, without waiting for its
        /// tasks to run (by default supctl waits until every task has run
        /// for a second, and passes its checks, or has completed — exit 0 —
        /// or one has failed — exit 1 — for at most --wait seconds).
        #[arg(long)]
        detach: bool,
        /// How long to wait for the tasks, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 300, conflicts_with = "detach")]
        wait: u64,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Stop a job's instances. It stays listed, and stopped across reloads
    /// and restarts of supd, until `job start` (or `job run`).
    Stop {
        job: String,
        /// Also forget the job (one submitted with `job run`): it is no
        /// longer listed, saved, or run again. A job of the job directory
        /// is forgotten by removing its file and reloading.
        #[arg(long)]
        purge: bool,
    },
    /// Run a stopped job again, as it was: a job of the job directory
    /// from its file, one submitted with `job run` as submitted.
    Start { job: String },
    /// The job as supd runs it: after evaluation, defaults and merges
    /// (every restart, reschedule, check_restart, kill_signal,
    /// kill_timeout and resources), as HCL with `# default` after each
    /// value that came from a default; with --json a document
    /// `{"job": …, "defaults": [JSON pointers]}`. Values of sensitive
    /// variables show as (sensitive).
    Inspect { job: String },
    /// What `job run FILE` would do, and nothing done: for each job of the
    /// file, the fields added (+), removed (-) and changed (~) against the
    /// version supd runs, and each instance's fate: create, update in
    /// place (only restart, reschedule, check_restart, kill_signal,
    /// kill_timeout, shutdown_delay, logs or priority changed: the process
    /// keeps running), replace, remove. An unchanged job prints nothing.
    /// Exit 0 when no instance is created, replaced or removed; 1 when one
    /// is; 255 on an error (as `nomad job plan`).
    Plan {
        #[arg(value_hint = ValueHint::FilePath)]
        file: String,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Run a parameterized job: a run `JOB/dispatch-<unix time>-<id>` with
    /// the meta given and INPUT (a file, or - for standard input; at most
    /// 16 KiB) as its payload.
    Dispatch {
        job: String,
        /// Meta for the run (NOMAD_META_KEY), as the job's parameterized
        /// block allows; repeatable.
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = key_value)]
        meta: Vec<(String, String)>,
        /// The payload: a file, or - for standard input.
        #[arg(value_hint = ValueHint::FilePath)]
        input: Option<String>,
    },
    /// Periodic jobs.
    Periodic {
        #[command(subcommand)]
        command: PeriodicCommand,
    },
}

#[derive(Subcommand)]
enum PeriodicCommand {
    /// Launch a periodic job now, whatever its schedule and
    /// prohibit_overlap say: a run `JOB/periodic-<unix time>`.
    Force { job: String },
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
    let socket = cli.socket.clone().or(file.socket.clone()).unwrap_or_else(supd::config::default_socket_to_find);
    let request = match carry_out(cli.command, &socket, cli.json, &file) {
        Next::Send(request) => request,
        Next::Done(code) => return code,
    };
    send(&socket, request, cli.json)
}

/// What a command comes to: a request for supd to send, or done (carried
/// out, or failed) with this exit code.
enum Next {
    Send(Request),
    Done(ExitCode),
}

/// Sends a command's request, prints supd's answer, and says how it went
/// (4: a status whose selected tasks are not all up).
fn send(socket: &std::path::Path, request: Request, json: bool) -> ExitCode {
    if json && let Request::Status { target, .. } = request {
        return raw::json_status(socket, target);
    }
    match Connection::call(socket, request) {
        Ok(r) => {
            let code = print_response(&r, json);
            match &r.status {
                Some(s) if r.ok && !s.all_up() => ExitCode::from(4),
                _ => code,
            }
        }
        Err(e) => client_error(e),
    }
}

/// Carries out a command that needs no request of its own, or makes its
/// request.
fn carry_out(command: Command, socket: &std::path::Path, json: bool, file: &supd::config::File) -> Next {
    let request = match command {
        Command::Completions { shell } => return Next::Done(complete::script(shell, &mut Cli::command())),
        Command::Validate { files, vars, effective, no_host } => {
            let vars = match vars.resolve() {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("supctl: {e}");
                    return Next::Done(ExitCode::from(2));
                }
            };
            let host = (!no_host).then_some(file);
            return Next::Done(validate(&files, &vars, json, effective, host));
        }
        Command::Job { command } => return job_command(command, socket, json),
        Command::Status { target } => {
            // The table shows each task's last event; the detail view
            // and --json all of them.
            let detail = target.as_deref().is_some_and(detail_view);
            if !(json || detail) {
                return Next::Done(table::status_table(socket, target));
            }
            Request::Status { target, events: None, brief: false }
        }
        Command::Handoff { command: HandoffCommand::Serve { from } } => {
            return Next::Done(handoff_serve(socket, &from));
        }
        Command::Var { command } => return Next::Done(var(socket, command, json)),
        Command::Import { sources, out } => return Next::Done(import(&sources, out.as_deref())),
        Command::Restart { target } => Request::Restart { target },
        Command::Signal { target, signal } => Request::Signal { target, signal },
        Command::Events { follow, target, since, types, task } => {
            return Next::Done(events(socket, Request::Events { follow, target, since, types, task }, json));
        }
        Command::Logs { target, follow, stderr, all, timestamps, lines, since } => {
            let lines = lines.unwrap_or(if since.is_some() { 100_000 } else { 10 });
            return Next::Done(logs(socket, Request::Logs { target, stderr, lines, follow, all }, timestamps, since));
        }
        Command::Reload { dry_run } => Request::Reload { dry_run },
        Command::Shutdown => Request::Shutdown,
        Command::DaemonReexec => Request::DaemonReexec,
    };
    Next::Send(request)
}

/// `supctl job …`: carried out here, or the request to send.
fn job_command(command: JobCommand, socket: &std::path::Path, json: bool) -> Next {
    let request = match command {
        JobCommand::Inspect { job } => return Next::Done(job_inspect(socket, job, json)),
        JobCommand::Plan { file, vars } => return Next::Done(job_plan(socket, &file, &vars, json)),
        JobCommand::Run { file, detach, wait, vars } => return job_run(socket, file, detach, wait, &vars, json),
        JobCommand::Stop { job, purge } => Request::JobStop { job, purge },
        JobCommand::Start { job } => Request::JobStart { job },
        JobCommand::Periodic { command: PeriodicCommand::Force { job } } => Request::PeriodicForce { job },
        JobCommand::Dispatch { job, meta, input } => {
            let payload = match input.as_deref().map(read_payload).transpose() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("supctl: {e}");
                    return Next::Done(ExitCode::from(1));
                }
            };
            use base64::Engine;
            let payload = payload.map(|b| base64::engine::general_purpose::STANDARD.encode(b));
            Request::JobDispatch { job, meta: meta.into_iter().collect(), payload }
        }
    };
    Next::Send(request)
}

/// `job inspect`: the job as supd runs it, printed as supd wrote it.
fn job_inspect(socket: &std::path::Path, job: String, json: bool) -> ExitCode {
    match Connection::call(socket, Request::JobInspect { job, json }) {
        Ok(r) if r.ok => {
            print!("{}", show_lines(r.data.as_deref().unwrap_or("")));
            ExitCode::SUCCESS
        }
        Ok(r) => print_response(&r, false),
        Err(e) => client_error(e),
    }
}

/// `job run`: the file read and evaluated; the request to send with
/// --detach or --json, else sent here and its tasks waited for.
fn job_run(socket: &std::path::Path, file: String, detach: bool, wait: u64, vars: &VarArgs, json: bool) -> Next {
    let (source, name) = match read_job(file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("supctl: {e}");
            return Next::Done(ExitCode::from(1));
        }
    };
    let vars = match vars.resolve() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("supctl: {e}");
            return Next::Done(ExitCode::from(2));
        }
    };
    match evaluated(&name, source, &vars) {
        Ok(source) if detach || json => Next::Send(Request::JobRun { source, file: name, plan: false }),
        Ok(source) => {
            let jobs: Vec<String> = supd::jobspec::parse_str(&name, &source).jobs.into_iter().map(|j| j.id).collect();
            let request = Request::JobRun { source, file: name, plan: false };
            Next::Done(match Connection::call(socket, request) {
                Ok(r) if r.ok => {
                    print_response(&r, false);
                    wait::until_up(socket, &jobs, std::time::Duration::from_secs(wait))
                }
                Ok(r) => print_response(&r, false),
                Err(e) => client_error(e),
            })
        }
        Err(code) => Next::Done(code),
    }
}

/// Whether `status TARGET` shows the detail view of instances (a target
/// down to an instance or a task) rather than the table.
fn detail_view(target: &str) -> bool {
    target.split('/').count() >= 3 || target.contains('[')
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

fn print_response(r: &Response, json: bool) -> ExitCode {
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
        // A status here is the detail view: the table is printed by
        // `table::status_table`.
        print!("{}", show_lines(&render_detail(s)));
    }
    if !r.plans.is_empty() {
        print!("\n{}", render_plans(&r.plans));
    }
    ExitCode::SUCCESS
}

/// `--meta KEY=VALUE`.
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE — write e.g. --meta input=/data/a.csv")),
    }
}

/// A dispatch's payload: a file, or standard input for `-`; at most 16 KiB
/// (one byte more is read, to tell).
fn read_payload(input: &str) -> Result<Vec<u8>, String> {
    const MAX: u64 = 16 * 1024;
    let mut bytes = Vec::new();
    let (name, read) = if input == "-" {
        ("standard input".to_string(), std::io::stdin().take(MAX + 1).read_to_end(&mut bytes))
    } else {
        let f = std::fs::File::open(input).map_err(|e| format!("cannot read {input}: {e}"))?;
        (input.to_string(), f.take(MAX + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > MAX {
        return Err(format!(
            "{name} holds more than 16 KiB; a payload may be at most 16 KiB (as in Nomad) — pass a path in --meta instead"
        ));
    }
    Ok(bytes)
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
