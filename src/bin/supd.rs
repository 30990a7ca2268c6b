//! supd: the daemon. Flags -> configuration -> supervisor::run.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use supd::jobspec;
use supd::jobspec::model::TaskOutput;
use supd::node::Node;
use supd::supervisor::{Config, Supervisor};

#[derive(Parser)]
#[command(
    name = "supd",
    version,
    about = "Keep the programs of one Linux host running, as Nomad job files describe them"
)]
struct Cli {
    /// supd.toml (every key optional; flags override it). Default:
    /// /etc/supd/supd.toml as root or PID 1, else $XDG_CONFIG_HOME/supd/supd.toml,
    /// used when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of job files (*.hcl). Default: /etc/supd/jobs as root or
    /// PID 1, else $XDG_CONFIG_HOME/supd/jobs (~/.config/supd/jobs).
    #[arg(long, value_name = "DIR")]
    jobs: Option<PathBuf>,
    /// Control socket: a socket there is replaced when no supd answers on
    /// it, anything else is left alone. Default: /run/supd/supd.sock as
    /// root, else $XDG_RUNTIME_DIR/supd/supd.sock (or /tmp/supd-$UID/supd.sock);
    /// below /dev/shm/supd when that cannot be written (a read-only root).
    #[arg(long, value_name = "PATH", env = "SUPD_SOCKET")]
    socket: Option<PathBuf>,
    /// Where task output goes, as <DIR>/<job>/<group>[<index>]/<task>.stdout.N.
    /// Default: /var/log/supd as root, else $XDG_STATE_HOME/supd/logs.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Where task output goes: files, journal, stdout, files+journal or
    /// files+stdout (a task's meta supd_task_output overrides it). Default:
    /// stdout when supd is PID 1, else files.
    #[arg(long, value_name = "WHERE", value_parser = parse_task_output)]
    task_output: Option<TaskOutput>,
    /// What survives a restart of supd (jobs from `supctl job run`, stopped
    /// jobs). Default: /var/lib/supd as root, else $XDG_STATE_HOME/supd/state.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Where supd's own log goes: stderr, or syslog.
    #[arg(long, value_name = "stderr|syslog", value_parser = ["stderr", "syslog"])]
    log: Option<String>,
    /// The syslog socket for --log syslog.
    #[arg(long, value_name = "PATH", default_value = "/dev/log")]
    syslog_socket: PathBuf,
    /// error, warn, info, debug or trace (default info).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<log::LevelFilter>,
    /// Act as init (PID 1): reap every orphan, and at shutdown stop every
    /// process left in the namespace. Default: on when supd is PID 1.
    #[arg(long)]
    init: bool,
    /// Exit once every job has ended with nothing left to do: 0 when all
    /// completed, 1 otherwise. Default: on as init.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    exit_when_done: Option<bool>,
    /// What SIGHUP does: reload the job directory, or forward it to every
    /// task as other signals supd has no use for are (default reload).
    #[arg(long, value_name = "ACTION", value_enum)]
    sighup: Option<supd::config::Sighup>,
    /// Load and validate the job directory, print what was found, and exit:
    /// 0 when every file is valid, 1 otherwise.
    #[arg(long)]
    check: bool,
    /// With --check: a job that cannot run on this host as it is (a driver
    /// this host lacks, more memory than it has) is a warning, and the exit
    /// status stays 0; without it such a job makes --check exit 1.
    #[arg(long, requires = "check")]
    warn_only: bool,
    /// Print what this binary can take over from a running supd (asked by
    /// `supctl daemon-reexec` before it executes the binary), and exit.
    #[arg(long, hide = true)]
    reexec_check: bool,
}

fn parse_task_output(text: &str) -> Result<TaskOutput, String> {
    TaskOutput::parse(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let code = run();
    // What supd's stdout and stderr still hold, unless they are stuck.
    supd::logs::console::flush(std::time::Duration::from_secs(2));
    code
}

fn run() -> ExitCode {
    // Before anything else opens a descriptor: the low-numbered slots that
    // keep task starts cheap however many descriptors supd holds.
    supd::process::spawn::reserve_slots();
    let cli = Cli::parse();
    let file = match supd::config::File::load_given_or_default(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("supd: {}", supd::error_chain(&e));
            return ExitCode::from(1);
        }
    };
    let job_dir = cli.jobs.clone().or(file.job_dir.clone()).unwrap_or_else(supd::config::default_job_dir);
    // While supd has one thread (see `reserve_descriptors`): room for what
    // the job directory's tasks will hold, ~10 descriptors a task.
    let nofile = supd::process::raise_nofile_limit();
    if !cli.check {
        let files = std::fs::read_dir(&job_dir).map_or(0, |d| d.count() as u64);
        let limit = nofile.as_ref().map_or(1024, |n| *n);
        supd::process::reserve_descriptors((files * 12 + 256).min(limit));
    }
    let mut node = Node::detect();
    file.apply_to(&mut node);
    if cli.check {
        return check(&job_dir, &node, cli.warn_only);
    }
    let Some((socket_group, log_group)) = start_logging(&cli, &file) else {
        return ExitCode::from(1);
    };
    // Asked by a running supd before it executes this binary: it reads
    // the configuration the new image will start with, and says what it
    // can take over.
    if cli.reexec_check {
        println!("{}", supd::supervisor::reexec::abilities_line());
        return ExitCode::SUCCESS;
    }
    take_up_process_duties(nofile);
    let init = cli.init || std::process::id() == 1;
    if !job_dir_usable(&job_dir, cli.exit_when_done.unwrap_or(init)) {
        return ExitCode::from(1);
    }
    let places = places(cli, &file, log_group, init);
    let start = Start { job_dir, node, init, socket_group, log_group };
    let Some(cfg) = config(&file, start, places) else {
        return ExitCode::from(1);
    };
    match Supervisor::new(cfg) {
        Ok(s) => ExitCode::from(s.run() as u8),
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Sets up supd's own log at the level asked for, then looks up the
/// socket and log groups; `None` once the problem has been reported.
fn start_logging(cli: &Cli, file: &supd::config::File) -> Option<(Option<u32>, Option<u32>)> {
    let level = match (cli.log_level, &file.log_level) {
        (Some(l), _) => l,
        (None, Some(text)) => match text.parse() {
            Ok(l) => l,
            Err(_) => {
                eprintln!(
                    "supd: log_level {text:?} in supd.toml is not a level — use error, warn, info, debug or trace"
                );
                return None;
            }
        },
        (None, None) => log::LevelFilter::Info,
    };
    let syslog = match cli.log.as_deref() {
        Some(l) => l == "syslog",
        None => file.log == Some(supd::config::LogTarget::Syslog),
    };
    if syslog {
        supd::logging::init_syslog(level, cli.syslog_socket.clone());
    } else {
        supd::logging::init(level);
    }
    match (group_id("socket_group", &file.socket_group), group_id("log_group", &file.log_group)) {
        (Ok(s), Ok(l)) => Some((s, l)),
        (Err(e), _) | (_, Err(e)) => {
            log::error!("{e}");
            None
        }
    }
}

/// What supd does to its own process before it supervises: no inherited
/// descriptor passed on, the open files limit reported, orphans reaped.
fn take_up_process_duties(nofile: Result<u64, nix::errno::Errno>) {
    supd::process::close_inherited_on_exec();
    match nofile {
        Ok(n) => log::debug!("open files limit: {n}"),
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
    if let Err(e) = supd::process::become_subreaper() {
        log::warn!(
            "cannot become the reaper of orphaned task processes: {e}; daemons that tasks start may outlive them"
        );
    }
}

/// Whether supd may start with this job directory: a missing one is a
/// warning, or an error (false) when supd will exit once its jobs are done.
fn job_dir_usable(job_dir: &std::path::Path, exit_when_done: bool) -> bool {
    if !job_dir.is_dir() {
        // An init (or --exit-when-done) has no one to `supctl reload` it
        // later: nothing to run is an error at once.
        if exit_when_done {
            log::error!(
                "job directory {} does not exist: nothing to run — mount the job files there, or name their directory with --jobs",
                job_dir.display()
            );
            return false;
        }
        log::warn!(
            "job directory {} does not exist; starting with no jobs (add files there, then `supctl reload`)",
            job_dir.display()
        );
    }
    true
}

/// What `run` settled before the places: the job directory, this host,
/// init duties and the groups of the socket and of the logs.
struct Start {
    job_dir: PathBuf,
    node: Node,
    init: bool,
    socket_group: Option<u32>,
    log_group: Option<u32>,
}

/// Where supd's socket, task output and state go, and what it does when
/// its jobs are done or a SIGHUP comes.
struct Places {
    socket: PathBuf,
    log_dir: PathBuf,
    task_output: TaskOutput,
    journal_socket: PathBuf,
    exit_when_done: bool,
    sighup: supd::config::Sighup,
    state_dir: PathBuf,
}

/// The places and behaviour from the flags, else supd.toml, else the
/// defaults (below /dev/shm when a default cannot be written).
fn places(cli: Cli, file: &supd::config::File, log_group: Option<u32>, init: bool) -> Places {
    // Defaults that cannot be written (a read-only root) fall back below
    // /dev/shm; places an operator named are used as named.
    let mut fell_back = Vec::new();
    let mut default_in = |default: PathBuf, sub: &str| {
        let (dir, moved) = supd::config::writable_or_fallback(default.clone(), sub);
        if moved {
            fell_back.push(format!("{} -> {}", default.display(), dir.display()));
        }
        dir
    };
    let socket = cli.socket.or(file.socket.clone()).unwrap_or_else(|| {
        let default = supd::config::default_socket();
        let dir = default.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        default_in(dir, "").join("supd.sock")
    });
    let log_dir =
        cli.log_dir.or(file.log_dir.clone()).unwrap_or_else(|| default_in(supd::config::default_log_dir(), "logs"));
    if let Some(gid) = log_group {
        use std::os::unix::fs::DirBuilderExt;
        let made = std::fs::DirBuilder::new().recursive(true).mode(0o750).create(&log_dir);
        if let Err(e) = made.and_then(|()| std::os::unix::fs::chown(&log_dir, None, Some(gid))) {
            log::warn!("{}: cannot give it the log_group: {e}", log_dir.display());
        }
    }
    // As a container's init, `docker logs` is where the operator looks.
    let task_output = cli.task_output.or(file.task_output()).unwrap_or(if std::process::id() == 1 {
        TaskOutput::STDOUT
    } else {
        TaskOutput::FILES
    });
    let journal_socket =
        file.journal_socket.clone().unwrap_or_else(|| PathBuf::from(supd::logs::journal::DEFAULT_SOCKET));
    let exit_when_done = cli.exit_when_done.unwrap_or(init);
    let sighup = cli.sighup.or(file.sighup).unwrap_or_default();
    let state_dir = cli
        .state_dir
        .or(file.state_dir.clone())
        .unwrap_or_else(|| default_in(supd::config::default_state_dir(), "state"));
    // Tasks see these as absolute paths (NOMAD_ALLOC_DIR, NOMAD_TASK_DIR,
    // ...), from their own working directory: a relative one given here
    // is taken from supd's.
    let (state_dir, log_dir) = (absolute(state_dir), absolute(log_dir));
    for moved in &fell_back {
        log::info!("not writable, so kept in memory below /dev/shm instead: {moved}");
    }
    Places { socket, log_dir, task_output, journal_socket, exit_when_done, sighup, state_dir }
}

/// `path` from the root: relative to supd's working directory when it
/// is relative (as written, when that directory cannot be read).
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// The supervisor's configuration, once the state file, the hand-off
/// settings, cgroups and limits are checked; `None` once a problem that
/// keeps supd from starting has been logged.
fn config(file: &supd::config::File, start: Start, places: Places) -> Option<Config> {
    // Before anything runs: a state file this supd cannot read must stop it
    // here, or its first save would overwrite the file.
    let saved = match supd::state::load(&places.state_dir) {
        Ok(saved) => Some(saved),
        Err(e) if e.is_fatal() => {
            log::error!("{e}");
            return None;
        }
        Err(e) => {
            log::error!("{e}");
            None
        }
    };
    let handoff = handoff(file)?;
    let cgroups = cgroups(file, &start.node);
    let data_dir = file.data_dir.clone().map_or_else(|| places.state_dir.clone(), absolute);
    let artifact_limits = match file.artifact_limits() {
        Ok(l) => l,
        Err((_, e)) => {
            log::error!("{e}");
            return None;
        }
    };
    let template_bytes = match file.template_bytes() {
        Ok(b) => b,
        Err((_, e)) => {
            log::error!("{e}");
            return None;
        }
    };
    let docker = file.driver.docker.settings();
    let podman = file.driver.podman.settings();
    let exec = file.driver.exec.settings();
    let java = file.driver.java.settings();
    // `driver.java` and `driver.java.version` are asked for by
    // `Supervisor::run`, while it reads the job directory.
    // Checked when the file was read.
    let metrics_listen = file.metrics_addr().unwrap_or(None);
    Some(Config {
        job_dir: start.job_dir,
        socket: places.socket,
        socket_group: start.socket_group,
        log_group: start.log_group,
        keep_ended_runs: file.keep_ended_runs.unwrap_or(supd::supervisor::KEEP_ENDED_RUNS),
        log_dir: places.log_dir,
        task_output: places.task_output,
        journal_socket: places.journal_socket,
        state_dir: places.state_dir,
        data_dir,
        artifact_limits,
        template_bytes,
        node: start.node,
        init: start.init,
        exit_when_done: places.exit_when_done,
        sighup: places.sighup,
        cgroups,
        handoff,
        docker,
        podman,
        exec,
        java,
        metrics_listen,
        saved,
    })
}

/// The hand-off settings, with a warning for each peer whose host key
/// goes unchecked; `None` once a bad setting has been logged.
fn handoff(file: &supd::config::File) -> Option<supd::config::HandoffSettings> {
    let handoff = match file.handoff_settings() {
        Ok(h) => h,
        Err((_, e)) => {
            log::error!("{e}");
            return None;
        }
    };
    for p in &handoff.peers {
        if let Some(o) = p.ssh_options.iter().find(|o| supd::config::weakens_host_keys(o)) {
            log::warn!(
                "[[peer]] {:?}: ssh_options {o:?} lets a hand-off go to a host whose key is not checked (insecure_host_keys = true): anyone who can answer for {} can take this host's work",
                p.name,
                p.host
            );
        }
    }
    Some(handoff)
}

/// The tasks' cgroups, set up, with what they lack and what this host's
/// attributes leave unknown logged.
fn cgroups(file: &supd::config::File, node: &Node) -> supd::process::cgroup::Cgroups {
    let cgroups = supd::process::cgroup::Cgroups::setup(&file.cgroup_options(node));
    if cgroups.active() {
        log::info!("cgroups {}", cgroups.summary());
    }
    for p in &cgroups.problems {
        log::warn!("cgroups: {p}");
    }
    for (attr, key) in [("cpu.totalcompute", "cpu_total_compute"), ("memory.totalbytes", "memory_total_mb")] {
        if !node.attrs.contains_key(attr) {
            log::warn!("attr.{attr} of this host is unknown: jobs are not checked against it — set {key} in supd.toml");
        }
    }
    cgroups
}

fn check(dir: &std::path::Path, node: &Node, warn_only: bool) -> ExitCode {
    let files = match jobspec::parse_dir(dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("supd: {e}");
            return ExitCode::from(1);
        }
    };
    let mut valid = true;
    let mut cannot_run = 0;
    for (path, parsed) in &files {
        let name = path.display().to_string();
        let mut diags = parsed.diagnostics.clone();
        let placement = supd::node::placement_warnings(&name, &parsed.jobs, node);
        cannot_run += placement.len();
        diags.extend(placement);
        jobspec::sort(&mut diags);
        for d in &diags {
            eprintln!("{d}");
        }
        valid &= parsed.is_valid();
        for job in &parsed.jobs {
            let instances: u32 = job.groups.iter().map(|g| g.count).sum();
            let tasks: usize = job.groups.iter().map(|g| g.count as usize * g.tasks.len()).sum();
            println!(
                "{name}: job {:?} ({}): {} group(s), {instances} instance(s), {tasks} task(s)",
                job.id,
                job.job_type,
                job.groups.len()
            );
        }
    }
    if files.is_empty() {
        eprintln!("supd: no *.hcl job files in {}", dir.display());
    }
    if cannot_run > 0 && !warn_only {
        eprintln!(
            "supd: {cannot_run} problem(s) above keep jobs from running on this host as they are \
             (--warn-only reports them without failing)"
        );
        valid = false;
    }
    if valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// The group a supd.toml key names, by its ID; an error naming the key when
/// this host has no such group.
fn group_id(key: &str, name: &Option<String>) -> Result<Option<u32>, String> {
    let Some(name) = name else { return Ok(None) };
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(Some(g.gid.as_raw())),
        _ => Err(format!("{key} {name:?} in supd.toml is not a group of this host")),
    }
}
