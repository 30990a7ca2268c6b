//! What the supervisor is started with (supd's flags and supd.toml, already
//! read: `bin/supd.rs` builds it), and why it may fail to start.

use crate::node::Node;
use std::path::PathBuf;

/// What supd needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub job_dir: PathBuf,
    pub socket: PathBuf,
    /// A group allowed to use the socket (mode 0660 instead of 0600).
    pub socket_group: Option<u32>,
    /// The group task logs are given (`log_group`), so that its members
    /// read them.
    pub log_group: Option<u32>,
    /// Ended runs kept per periodic or parameterized job, with their
    /// allocation directories.
    pub keep_ended_runs: usize,
    /// Where task output goes: `<log_dir>/<job>/<group>[<index>]/<task>.stdout.N`.
    pub log_dir: PathBuf,
    /// Where task output goes, unless a task's meta says otherwise.
    pub task_output: crate::jobspec::model::TaskOutput,
    /// The journal's native socket, for task output to the journal.
    pub journal_socket: PathBuf,
    /// What survives a restart of supd.
    pub state_dir: PathBuf,
    /// Allocation directories go in `<data_dir>/alloc/`.
    pub data_dir: PathBuf,
    /// What one artifact download may take.
    pub artifact_limits: crate::taskdir::Limits,
    /// The most bytes one template's rendered output may have
    /// (`template_bytes` under `[limits]`).
    pub template_bytes: u64,
    pub node: Node,
    /// Init duties: after the tasks, stop and reap every process left.
    pub init: bool,
    /// Exit once every job has ended with nothing left to do.
    pub exit_when_done: bool,
    /// What SIGHUP does: reload, or forward to the tasks.
    pub sighup: crate::config::Sighup,
    /// Peers, the hand-off hook, and whether work may arrive.
    pub handoff: crate::config::HandoffSettings,
    /// Where the tasks' cgroups go, and what they can enforce.
    pub cgroups: crate::process::cgroup::Cgroups,
    /// `[driver.docker]`: where the container engine is, what containers may do.
    pub docker: crate::drivers::docker::Settings,
    /// `[driver.podman]`: the same, for podman's Docker-compatible service.
    pub podman: crate::drivers::docker::Settings,
    /// `[driver.exec]`: what isolated tasks are made of and may do.
    pub exec: crate::drivers::exec::Settings,
    /// `[driver.java]`: the `java` program.
    pub java: crate::drivers::java::Settings,
    /// Where the Prometheus endpoint listens; none without one.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The state read before the supervisor was made (whether supd may
    /// start at all depends on it), taken by its restore rather than read
    /// and parsed a second time; `None`: read it then.
    pub saved: Option<crate::state::Saved>,
}

impl Config {
    /// The `[driver.*]` sections, as the drivers ask them.
    pub fn drivers(&self) -> crate::drivers::Host<'_> {
        crate::drivers::Host { exec: &self.exec, java: &self.java, docker: &self.docker, podman: &self.podman }
    }
}

#[derive(Debug)]
pub enum Error {
    Setup(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Setup(s) => f.write_str(s),
        }
    }
}
