//! supctl: the operator's command line for supd. Flags -> one request ->
//! print. Exit codes: 0 done; 1 refused or invalid (reason on stderr);
//! 2 usage error; 3 no daemon at the socket; 4 (status) a selected task is
//! not running and healthy; 5 permission denied on the socket.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[path = "supctl/complete.rs"]
mod complete;
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
#[path = "supctl/wait.rs"]
mod wait;

use plan::{job_plan, read_job, render_plans};
use render::{render_detail, show, show_lines};
use stream::{events, logs};

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
enum VarCommand {
    /// Write the variable at PATH: its items are exactly the KEY=VALUE
    /// given (a value `-` is read from standard input). Templates that
    /// read it are rendered again.
    Put {
        path: String,
        #[arg(value_name = "KEY=VALUE", required = true)]
        items: Vec<String>,
        /// Only if the variable is at this modify index (0: only if it
        /// does not exist yet).
        #[arg(long)]
        check_index: Option<u64>,
    },
    /// Print the variable at PATH: its items, one KEY=VALUE per line
    /// (with --json, Nomad's document).
    Get {
        path: String,
        /// Print only this item's value.
        #[arg(long)]
        item: Option<String>,
    },
    /// List the variables' paths (under PREFIX), without their items.
    List { prefix: Option<String> },
    /// Remove the variable at PATH.
    Purge { path: String },
}

#[derive(Subcommand)]
enum HandoffCommand {
    /// Answer one request of peer PEER's supd about work it hands to this
    /// host: read on standard input, answered on standard output. This is
    /// the command a peer's ssh key runs (authorized_keys:
    /// `restrict,command="supctl handoff serve --from PEER" KEY`).
    Serve {
        /// The peer this key belongs to: every request is taken as coming
        /// from it, whatever it says.
        #[arg(long, value_name = "PEER")]
        from: String,
    },
}

#[derive(Subcommand)]
enum JobCommand {
    /// Submit or update a job from FILE, or standard input with `-`.
    Run {
        #[arg(value_hint = ValueHint::FilePath)]
        file: String,
        /// Return once supd has taken the file, without waiting for its
        /// tasks to run (by default supctl waits until every task runs,
        /// and passes its checks, or has completed — exit 0 — or one has
        /// failed — exit 1 — for at most --wait seconds).
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

/// `supctl import`: each source converted, printed or written.
fn import(sources: &[PathBuf], out: Option<&std::path::Path>) -> ExitCode {
    let mut failed = false;
    for src in sources {
        let shown = src.display().to_string();
        match convert_source(src, &shown) {
            Ok(jobs) => {
                for c in jobs {
                    if !emit_converted(&c, &shown, out) {
                        failed = true;
                    }
                }
            }
            Err(e) => {
                eprintln!("supctl: {e}");
                failed = true;
            }
        }
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// One source of `supctl import` converted, by what it is: a runit service
/// directory, a systemd unit (with its drop-ins) or a supervisord file.
fn convert_source(src: &std::path::Path, shown: &str) -> Result<Vec<supd::import::Converted>, String> {
    use supd::import;
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    if src.is_dir() {
        let run = read(&src.join("run"))?;
        let finish = read(&src.join("finish")).ok();
        let name = src.file_name().map_or(shown.to_string(), |n| n.to_string_lossy().into_owned());
        return import::runit::convert(&name, &run, finish.as_deref()).map(|c| vec![c]).map_err(|e| e.to_string());
    }
    if std::fs::read_link(src).is_ok_and(|t| t == std::path::Path::new("/dev/null")) {
        return Err(format!("{shown}: masked (a link to /dev/null): nothing to convert"));
    }
    let text = read(src)?;
    let name = src.file_name().map_or(shown.to_string(), |n| n.to_string_lossy().into_owned());
    if name.ends_with(".service") {
        // Its drop-ins (NAME.service.d/*.conf) apply over it, in order.
        let mut text = text;
        if let Ok(dir) = std::fs::read_dir(src.with_file_name(format!("{name}.d"))) {
            let mut confs: Vec<PathBuf> =
                dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "conf")).collect();
            confs.sort();
            for c in confs {
                text.push('\n');
                text.push_str(&read(&c)?);
            }
        }
        return import::systemd::convert(&name, &text).map(|c| vec![c]).map_err(|e| e.to_string());
    }
    if text.contains("[program:") {
        return import::supervisord::convert(shown, &text).map_err(|e| e.to_string());
    }
    Err(format!(
        "{shown}: not a systemd .service unit, a supervisord file with [program:…] sections, or a runit service directory"
    ))
}

/// One converted job's notes on stderr, then the job printed, or written
/// to DIR/NAME.hcl with --out; false when it could not be written.
fn emit_converted(c: &supd::import::Converted, shown: &str, out: Option<&std::path::Path>) -> bool {
    for n in &c.notes {
        eprintln!("supctl: {shown}: {}: {n}", c.name);
    }
    let Some(dir) = out else {
        print!("{}", c.hcl);
        return true;
    };
    // A name from the source: joined the one safe way.
    let path = match supd::names::beneath(dir, &[&format!("{}.hcl", c.name)]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("supctl: {shown}: {e}");
            return false;
        }
    };
    // It may hold what the source kept from others
    // (an Environment= secret): the owner's alone.
    use std::os::unix::fs::OpenOptionsExt;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, c.hcl.as_bytes()));
    match written {
        Ok(()) => {
            println!("{}", path.display());
            true
        }
        Err(e) => {
            eprintln!("supctl: {}: {e}", path.display());
            false
        }
    }
}

/// `supctl var …`.
fn var(socket: &std::path::Path, command: VarCommand, json: bool) -> ExitCode {
    let request = match command {
        VarCommand::Put { path, items, check_index } => {
            let mut map = std::collections::BTreeMap::new();
            let mut stdin_used = false;
            for item in items {
                let Some((k, v)) = item.split_once('=') else {
                    eprintln!("supctl: {item:?} is not KEY=VALUE");
                    return ExitCode::from(2);
                };
                let v = if v == "-" && !stdin_used {
                    stdin_used = true;
                    let mut s = String::new();
                    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                        eprintln!("supctl: cannot read the value of {k} from standard input: {e}");
                        return ExitCode::from(1);
                    }
                    s.strip_suffix('\n').map(str::to_string).unwrap_or(s)
                } else {
                    v.to_string()
                };
                map.insert(k.to_string(), v);
            }
            Request::VarPut { path, items: map, cas: check_index }
        }
        VarCommand::Get { path, item } => {
            return match Connection::call(socket, Request::VarGet { path }) {
                Ok(r) if r.ok => {
                    let doc: serde_json::Value =
                        r.data.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
                    let items = doc["Items"].as_object().cloned().unwrap_or_default();
                    match item {
                        Some(k) => match items.get(&k).and_then(|v| v.as_str()) {
                            Some(v) => println!("{v}"),
                            None => {
                                eprintln!("supctl: the variable has no item {k:?}");
                                return ExitCode::from(1);
                            }
                        },
                        None if json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
                        None => {
                            for (k, v) in items {
                                println!("{k}={}", v.as_str().unwrap_or_default());
                            }
                        }
                    }
                    ExitCode::SUCCESS
                }
                Ok(r) => print_response(&r, json),
                Err(e) => client_error(e),
            };
        }
        VarCommand::List { prefix } => {
            return match Connection::call(socket, Request::VarList { prefix: prefix.unwrap_or_default() }) {
                Ok(r) if r.ok => {
                    let list: Vec<serde_json::Value> =
                        r.data.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
                    if json {
                        println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
                    } else {
                        for v in list {
                            println!("{}", v["Path"].as_str().unwrap_or_default());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Ok(r) => print_response(&r, json),
                Err(e) => client_error(e),
            };
        }
        VarCommand::Purge { path } => Request::VarPurge { path },
    };
    match Connection::call(socket, request) {
        Ok(r) => print_response(&r, json),
        Err(e) => client_error(e),
    }
}

/// `handoff serve`: says it started (before reading: an origin that sees
/// this knows its request may have reached supd), reads one request, and
/// prints supd's answer as one line. Exit 0 when supd answered and refused
/// nothing, 1 otherwise.
fn handoff_serve(socket: &std::path::Path, from: &str) -> ExitCode {
    use supd::handoff::wire;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", wire::HELLO);
        let _ = out.flush();
    }
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().take(wire::MAX_REQUEST as u64 + 1).read_to_end(&mut input) {
        return handoff_fail(format!("cannot read the request: {e}"));
    }
    let request = match wire::Request::from_json(&input) {
        Ok(_) => match serde_json::from_slice::<serde_json::Value>(&input) {
            Ok(v) => v,
            Err(e) => return handoff_fail(format!("malformed hand-off request: {e}")),
        },
        Err(e) => return handoff_fail(supd::error_chain(&e)),
    };
    // Not connected: supd did not get the request, and says nothing.
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("supd on this host cannot be reached: {}", handoff_reason(e));
            handoff_say(&wire::Answer {
                protocol: wire::PROTOCOL,
                node: String::new(),
                outcomes: Vec::new(),
                error: None,
                unreachable: Some(why.clone()),
            });
            eprintln!("supctl: {why}");
            return ExitCode::from(1);
        }
    };
    // Sent, but no answer: supd may have acted on it. No answer line: the
    // origin asks again.
    let response = conn.send(Request::Handoff { from: from.to_string(), request }).and_then(|()| conn.next_response());
    handoff_answered(response)
}

/// `handoff serve`: supd's answer (or its absence) passed on, with each
/// outcome on stderr; exit 1 when anything was refused or went wrong.
fn handoff_answered(response: Result<Option<Response>, ClientError>) -> ExitCode {
    use supd::handoff::wire;
    match response {
        Ok(Some(r)) if r.ok => match r.data.as_deref().map(serde_json::from_str::<wire::Answer>) {
            Some(Ok(answer)) => {
                handoff_say(&answer);
                let refused = answer.error.is_some() || answer.outcomes.iter().any(|o| o.state == wire::State::Refused);
                for o in &answer.outcomes {
                    eprintln!(
                        "supctl: {}: {}{}",
                        o.id,
                        o.state.as_str(),
                        if o.message.is_empty() { String::new() } else { format!(": {}", o.message) }
                    );
                }
                if let Some(e) = &answer.error {
                    eprintln!("supctl: {e}");
                }
                if refused { ExitCode::from(1) } else { ExitCode::SUCCESS }
            }
            // Sent, and acted on perhaps: no answer line, the origin asks.
            _ => {
                eprintln!("supctl: supd's answer cannot be read: use the supctl that ships with this supd");
                ExitCode::from(1)
            }
        },
        Ok(Some(r)) => handoff_fail(r.error.unwrap_or_else(|| "supd refused the request".into())),
        Ok(None) => {
            eprintln!("supctl: supd closed the connection without answering");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("supctl: no answer from supd: {}", handoff_reason(e));
            ExitCode::from(1)
        }
    }
}

/// `handoff serve`: one answer line on stdout, flushed at once.
fn handoff_say(answer: &supd::handoff::wire::Answer) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", answer.line());
    let _ = out.flush();
}

/// `handoff serve`: an answer that refuses the whole request, and why
/// (also on stderr); exit 1.
fn handoff_fail(error: String) -> ExitCode {
    use supd::handoff::wire;
    handoff_say(&wire::Answer {
        protocol: wire::PROTOCOL,
        node: String::new(),
        outcomes: Vec::new(),
        error: Some(error.clone()),
        unreachable: None,
    });
    eprintln!("supctl: {error}");
    ExitCode::from(1)
}

/// Why the client failed, whatever kind of failure it was.
fn handoff_reason(e: ClientError) -> String {
    match e {
        ClientError::NoDaemon(e) | ClientError::PermissionDenied(e) | ClientError::Protocol(e) => e,
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

/// What `validate` gathers over its files.
#[derive(Default)]
struct Validated {
    /// Every diagnostic, for --json.
    all: Vec<Diagnostic>,
    /// The valid jobs as supd would run them, for --effective --json.
    docs: Vec<serde_json::Value>,
    /// The same as HCL, for --effective.
    texts: Vec<String>,
    /// Some file is invalid.
    invalid: bool,
}

fn validate(
    files: &[PathBuf],
    vars: &jobspec::hcl2::Vars,
    json: bool,
    effective: bool,
    host: Option<&supd::config::File>,
) -> ExitCode {
    // This host as supd.toml describes it, unless only the files count.
    let node = host.map(|config| {
        let mut node = Node::detect();
        config.apply_to(&mut node);
        node
    });
    let mut found = Validated::default();
    for path in files {
        validate_file(path, vars, node.as_ref(), json, effective, &mut found);
    }
    let Validated { all, docs, texts, invalid } = found;
    if effective {
        if json {
            match serde_json::to_string_pretty(&docs) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("supctl: cannot encode the result as JSON: {e}");
                    return ExitCode::from(1);
                }
            }
        } else {
            print!("{}", show_lines(&texts.join("\n")));
        }
        return if invalid { ExitCode::from(1) } else { ExitCode::SUCCESS };
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

/// `validate`: one file checked; its diagnostics and verdict printed (or
/// kept for --json), its effective jobs kept for --effective.
fn validate_file(
    path: &std::path::Path,
    vars: &jobspec::hcl2::Vars,
    node: Option<&Node>,
    json: bool,
    effective: bool,
    found: &mut Validated,
) {
    // NAME.vars.hcl beside the file counts, below --var-file.
    let mut vars = vars.clone();
    if let Some(vf) = jobspec::vars_file_of(path)
        && let Ok(bytes) = jobspec::read_source(&vf)
    {
        vars.files.insert(0, (vf.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    // --effective reads which values the file wrote from the evaluated
    // job's text; a plain check needs no text.
    let mut parsed =
        if effective { jobspec::parse_file_with(path, &vars) } else { jobspec::check_file_with(path, &vars) };
    let name = path.display().to_string();
    if let Some(node) = node {
        parsed.diagnostics.extend(supd::node::placement_warnings(&name, &parsed.jobs, node));
    }
    jobspec::sort(&mut parsed.diagnostics);
    found.invalid |= !parsed.is_valid();
    if effective && parsed.is_valid() {
        for job in &parsed.jobs {
            let tree = jobspec::effective::of(job);
            if json {
                found.docs.push(jobspec::effective::to_json(&tree));
            } else {
                found.texts.push(jobspec::effective::to_hcl(&tree));
            }
        }
    }
    if json && !effective {
        found.all.extend(parsed.diagnostics);
        return;
    }
    // With --effective, stdout holds only the jobs.
    let say = |line: &str| if effective { eprintln!("{line}") } else { println!("{line}") };
    for d in &parsed.diagnostics {
        say(&show_lines(&d.to_string()));
    }
    if parsed.is_valid() {
        let n = parsed.jobs.len();
        let w = parsed.warnings();
        let warnings = if w > 0 { format!(", {w} warning{}", if w == 1 { "" } else { "s" }) } else { String::new() };
        say(&format!("{name}: ok ({n} job{}{warnings})", if n == 1 { "" } else { "s" }));
    } else {
        let e = parsed.errors();
        say(&format!("{name}: invalid ({e} error{})", if e == 1 { "" } else { "s" }));
    }
}
