//! supd: the daemon. Flags -> configuration -> the job directory.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use supd::jobspec;
use supd::node::Node;

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
    /// Load and validate the job directory, print what was found, and exit:
    /// 0 when every file is valid, 1 otherwise.
    #[arg(long)]
    check: bool,
}

fn default_job_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/etc/supd/jobs");
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("supd").join("jobs")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.jobs.unwrap_or_else(default_job_dir);
    let files = match jobspec::parse_dir(&dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("supd: {e}");
            return ExitCode::from(1);
        }
    };
    let node = Node::detect();
    let mut valid = true;
    for (path, parsed) in &files {
        let name = path.display().to_string();
        let mut diags = parsed.diagnostics.clone();
        diags.extend(jobspec::placement_warnings(&name, &parsed.jobs, &node));
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
    if !cli.check {
        eprintln!("supd: running tasks is not available in this build; use --check to validate the job directory");
        return ExitCode::from(1);
    }
    if valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
