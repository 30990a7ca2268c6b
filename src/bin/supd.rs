//! supd: the daemon. Flags -> configuration -> supervisor::run.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use supd::jobspec;
use supd::node::Node;
use supd::supervisor::{Config, Supervisor};

#[derive(Parser)]
#[command(
    name = "supd",
    version,
    about = "Keep the programs of one Linux host running, as Nomad job files describe them"
)]
struct Cli {
    /// Directory of job files (*.hcl). Default: /etc/supd/jobs as root,
    /// else $XDG_CONFIG_HOME/supd/jobs (~/.config/supd/jobs).
    #[arg(long, value_name = "DIR")]
    jobs: Option<PathBuf>,
    /// Control socket. Default: /run/supd/supd.sock as root, else
    /// $XDG_RUNTIME_DIR/supd/supd.sock (or /tmp/supd-$UID/supd.sock).
    #[arg(long, value_name = "PATH", env = "SUPD_SOCKET")]
    socket: Option<PathBuf>,
    /// Where task output goes, as <DIR>/<job>/<group>[<index>]/<task>.stdout.N.
    /// Default: /var/log/supd as root, else $XDG_STATE_HOME/supd/logs.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Where supd's own log goes: stderr, or syslog.
    #[arg(long, value_name = "stderr|syslog", default_value = "stderr", value_parser = ["stderr", "syslog"])]
    log: String,
    /// The syslog socket for --log syslog.
    #[arg(long, value_name = "PATH", default_value = "/dev/log")]
    syslog_socket: PathBuf,
    /// error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: log::LevelFilter,
    /// Act as init (PID 1): reap every orphan, and at shutdown stop every
    /// process left in the namespace. Default: on when supd is PID 1.
    #[arg(long)]
    init: bool,
    /// Exit once every job has ended with nothing left to do: 0 when all
    /// completed, 1 otherwise. Default: on as init.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    exit_when_done: Option<bool>,
    /// Load and validate the job directory, print what was found, and exit:
    /// 0 when every file is valid, 1 otherwise.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let job_dir = cli.jobs.unwrap_or_else(supd::config::default_job_dir);
    let node = Node::detect();
    if cli.check {
        return check(&job_dir, &node);
    }
    if cli.log == "syslog" {
        supd::logging::init_syslog(cli.log_level, cli.syslog_socket.clone());
    } else {
        supd::logging::init(cli.log_level);
    }
    supd::process::close_inherited_on_exec();
    match supd::process::raise_nofile_limit() {
        Ok(n) => log::debug!("open files limit: {n}"),
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
    if let Err(e) = supd::process::become_subreaper() {
        log::warn!(
            "cannot become the reaper of orphaned task processes: {e}; daemons that tasks start may outlive them"
        );
    }
    if !job_dir.is_dir() {
        log::warn!(
            "job directory {} does not exist; starting with no jobs (add files there, then `supctl reload`)",
            job_dir.display()
        );
    }
    let socket = cli.socket.unwrap_or_else(supd::config::default_socket);
    let log_dir = cli.log_dir.unwrap_or_else(supd::config::default_log_dir);
    let init = cli.init || std::process::id() == 1;
    let exit_when_done = cli.exit_when_done.unwrap_or(init);
    let cfg = Config { job_dir, socket, log_dir, node, init, exit_when_done };
    match Supervisor::new(cfg) {
        Ok(s) => ExitCode::from(s.run() as u8),
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(1)
        }
    }
}

fn check(dir: &std::path::Path, node: &Node) -> ExitCode {
    let files = match jobspec::parse_dir(dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("supd: {e}");
            return ExitCode::from(1);
        }
    };
    let mut valid = true;
    for (path, parsed) in &files {
        let name = path.display().to_string();
        let mut diags = parsed.diagnostics.clone();
        diags.extend(jobspec::placement_warnings(&name, &parsed.jobs, node));
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
    if valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
