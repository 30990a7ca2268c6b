//! The errors of the supervisor's longest files (`control.rs`,
//! `handoff.rs`, `containers.rs`, `server.rs`), kept here so that those
//! files do not grow (a binary that cannot take over a re-exec is
//! `reexec.rs`'s own, beside the constants its messages name). Each message is the text a control
//! answer, a task event or supd's log says; where it ends as text (the
//! answer, the event), the caller calls `to_string` there.

use crate::control::protocol::VERSION;
use crate::taskdir::beneath::BeneathError;
use crate::taskdir::binds::HoldError;
use std::path::PathBuf;

/// Why a control request's target (`JOB[/GROUP[/INDEX]][/TASK]`, or
/// Nomad's `JOB.GROUP[INDEX]`) names nothing here, or (`logs`) not one
/// task's stream.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// No current job of that name; `hint` is a guess at the one meant
    /// (` — did you mean "web"?`), or empty.
    #[error("no job {job:?}{hint}")]
    NoJob { job: String, hint: String },
    #[error("job {job:?} has no group {group:?}")]
    NoGroup { job: String, group: String },
    /// An index at or beyond the group's count (`last`: its highest).
    #[error("group {group:?} has instances 0 to {last}")]
    NoIndex { group: String, last: u32 },
    #[error("group {group:?} has no task {task:?}")]
    NoTask { group: String, task: String },
    /// More parts than a target has.
    #[error("bad target {0:?} — write JOB[/GROUP[/INDEX]][/TASK]")]
    Malformed(String),
    /// `logs` of a job of several groups that names none.
    #[error("job {job:?} has several groups: name one of {}", .choices.join(", "))]
    SeveralGroups { job: String, choices: Vec<String> },
    /// `logs` of a group of several instances that names none.
    #[error("group {group:?} has {count} instances: name one, e.g. {job}/{group}/0")]
    SeveralInstances { job: String, group: String, count: u32 },
    /// `logs` of a group of several tasks that names none.
    #[error(
        "group {group:?} has several tasks ({}): name one, e.g. {job}/{group}/{index}/{}",
        .tasks.join(", "),
        first(.tasks)
    )]
    SeveralTasks { job: String, group: String, index: u32, tasks: Vec<String> },
}

/// The first of `names`, or nothing.
fn first(names: &[String]) -> &str {
    names.first().map_or("", String::as_str)
}

/// Why this host refuses an instance a peer hands over (or no longer runs
/// one it had accepted before supd restarted).
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("node {node} does not accept handed-off work (set `accept = true` under [handoff] in its supd.toml)")]
    NotAccepting { node: String },
    #[error("supd on node {node} is shutting down")]
    ShuttingDown { node: String },
    /// The envelope's HCL does not load here; each diagnostic.
    #[error("the handed-off job is not valid here: {}", .errors.join("; "))]
    Invalid { errors: Vec<String> },
    #[error("the envelope's HCL defines no job {job:?}")]
    NoJob { job: String },
    #[error("job {job:?} is periodic or parameterized: its launches are its origin's, not handed off")]
    Launcher { job: String },
    /// `JOB@ORIGIN` is no name a job may have.
    #[error("{why} (the job runs here as JOB@ORIGIN)")]
    JobName { why: String },
    /// A task's name together with `JOB@ORIGIN` and its group's is not one supd takes.
    #[error("{why} (the job runs here as {job:?})")]
    TaskName { why: String, job: String },
    #[error("job {job:?} has no group {group:?}")]
    NoGroup { job: String, group: String },
    #[error("group {group:?} has no instance {index}")]
    NoInstance { group: String, index: u32 },
    /// Its placement (datacenter, a constraint) rules this node out.
    #[error("{0}")]
    Placement(String),
    /// What this node lets peers run (`[handoff]` drivers, users,
    /// `raw_exec` as root) does not take it.
    #[error("{0}")]
    Policy(String),
    /// It does not fit beside what runs (`instance`: `JOB.GROUP[INDEX]`;
    /// `why`: the node's reckoning).
    #[error("node {node} cannot hold {instance}: {why}")]
    NoRoom { node: String, instance: String, why: String },
    #[error("job {job:?} was stopped on node {node} by its operator (`supctl job start {job}` there runs it again)")]
    Stopped { job: String, node: String },
    #[error("internal: job without a run")]
    NoRun,
    #[error("internal: job {job:?} on node {node} is not one handed in")]
    NotHandedIn { job: String, node: String },
    #[error("internal: job {job:?} lacks instance {instance}")]
    LacksInstance { job: String, instance: String },
}

/// Why a hand-off hook (an offer, a question to a peer, the configured
/// command) did not start.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the state cannot be saved, so an offer could be forgotten — not sent")]
    Unsaved,
    /// The job's HCL could not be reduced to the group (`hcl_stdin`).
    #[error("{}", crate::error_chain(.0))]
    Reduce(crate::handoff::ReduceError),
    #[error("{0} — not sent")]
    Envelope(#[source] crate::handoff::EnvelopeError),
    #[error("{0} — not sent")]
    Request(#[source] crate::handoff::wire::RequestError),
    #[error("no peer to ssh to")]
    NoPeer,
    #[error("no program to run")]
    NoProgram,
    /// The memory file of the hook's stdin.
    #[error("cannot hold the request: {0}")]
    Input(#[source] std::io::Error),
    /// The memory file of the hook's output.
    #[error("cannot capture the hook's output: {0}")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    Spawn(#[from] crate::process::SpawnError),
}

/// Why a container engine's driver cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No usable endpoint (`[driver.docker] endpoint`, or the one found).
    #[error("{0}")]
    Endpoint(String),
    #[error("cannot start the {name} driver: {source}")]
    Start {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot watch the {name} driver: {source}")]
    Watch {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("no container driver")]
    Missing,
}

/// Why a container task's create request cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The model no longer holds it (`job`, `instance`, `task`).
    #[error("the {0} is gone")]
    Gone(&'static str),
    /// The task may not run as written (the driver's reason).
    #[error("{0}")]
    Spec(String),
}

/// Why an engine is not known to mount in supd's own mount namespace.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("its socket's listener is outside supd's PID namespace")]
    OutsidePidNamespace,
    #[error("its socket's listener (pid {pid}) is in another mount namespace")]
    Elsewhere { pid: i32 },
    #[error("the mount namespace of its socket's listener (pid {pid}) cannot be read ({source})")]
    Unreadable {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
}

/// Why a bind source below an instance's directory is refused when it is
/// checked (not held): a link on its way out of the task's directory.
#[derive(Debug, thiserror::Error)]
pub enum BindCheckError {
    #[error("cannot open {}: {source}", root.display())]
    Root {
        root: PathBuf,
        #[source]
        source: BeneathError,
    },
    #[error(
        "cannot bind {src} into the container: {source} — supd binds nothing that leads out of the task's directory"
    )]
    Walk {
        src: String,
        #[source]
        source: BeneathError,
    },
    #[error(
        "cannot bind {src} into the container: {last}: a symbolic link is in the way (supd never follows one here) — supd binds nothing that leads out of the task's directory"
    )]
    Link { src: String, last: String },
}

/// Why a container task's bind sources cannot be bound as asked.
#[derive(Debug, thiserror::Error)]
pub enum BindsError {
    /// Checked only (supd does not hold them), and refused.
    #[error(transparent)]
    Checked(#[from] BindCheckError),
    /// Held: refused (the task's doing), or a mount failed.
    #[error("{0}")]
    Held(HoldError),
}

impl BindsError {
    /// Whether a later start may mend it: a mount that failed, not what
    /// the task made of its directory.
    pub fn recoverable(&self) -> bool {
        matches!(self, BindsError::Held(HoldError::Failed(_)))
    }
}

/// Why a control request line is refused before it is carried out.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed request: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("protocol version {0} is not supported (supd speaks {VERSION}) — use the supctl that ships with this supd")]
    Version(u32),
    /// A change asked by a uid that may only read (`me`: supd's own).
    #[error("permission denied: uid {uid} may only read status and events; changes need root or uid {me}")]
    Denied { uid: u32, me: u32 },
}
