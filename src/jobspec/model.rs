//! The typed job: what a job file means once defaults are filled in and the
//! merge rules (restart group → task, reschedule job → group, check_restart
//! service → check) are applied. Every value here is final; nothing
//! downstream needs to know which of them the file wrote.

use super::diag::Pos;
pub use super::taskdir_blocks::{Artifact, ArtifactMode, ChangeMode, ChangeScript, Checksum, Template, TemplateSource};
use crate::signals::KillSignal;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use thin_vec::ThinVec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Service,
    Batch,
    System,
    Sysbatch,
}

impl JobType {
    pub const NAMES: [&'static str; 4] = ["service", "batch", "system", "sysbatch"];

    pub fn parse(s: &str) -> Option<JobType> {
        Some(match s {
            "service" => JobType::Service,
            "batch" => JobType::Batch,
            "system" => JobType::System,
            "sysbatch" => JobType::Sysbatch,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Service => "service",
            JobType::Batch => "batch",
            JobType::System => "system",
            JobType::Sysbatch => "sysbatch",
        }
    }

    /// Nomad's `restart` defaults (reference §1.2): service and system share
    /// one, batch and sysbatch the other.
    pub fn default_restart(self) -> RestartPolicy {
        match self {
            JobType::Service | JobType::System => RestartPolicy {
                attempts: 2,
                interval: Duration::from_secs(30 * 60),
                delay: Duration::from_secs(15),
                mode: RestartMode::Fail,
            },
            JobType::Batch | JobType::Sysbatch => RestartPolicy {
                attempts: 3,
                interval: Duration::from_secs(24 * 3600),
                delay: Duration::from_secs(15),
                mode: RestartMode::Fail,
            },
        }
    }

    /// Nomad's `reschedule` defaults (reference §3.1); system and sysbatch
    /// jobs have none.
    pub fn default_reschedule(self) -> Option<ReschedulePolicy> {
        match self {
            JobType::Service => Some(ReschedulePolicy {
                attempts: 0,
                interval: Duration::ZERO,
                delay: Duration::from_secs(30),
                delay_function: DelayFunction::Exponential,
                max_delay: Duration::from_secs(3600),
                unlimited: true,
            }),
            JobType::Batch => Some(ReschedulePolicy {
                attempts: 1,
                interval: Duration::from_secs(24 * 3600),
                delay: Duration::from_secs(5),
                delay_function: DelayFunction::Constant,
                max_delay: Duration::ZERO,
                unlimited: false,
            }),
            JobType::System | JobType::Sysbatch => None,
        }
    }

    /// Whether a task that exits 0 is restarted (Nomad's `onSuccess`).
    pub fn restarts_on_success(self) -> bool {
        matches!(self, JobType::Service | JobType::System)
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The block label: the job's ID.
    pub id: String,
    /// `name`, or the ID when not set.
    pub name: String,
    pub pos: Pos,
    /// The text of this job's block in its file, as written.
    pub source: String,
    pub job_type: JobType,
    pub datacenters: Vec<String>,
    pub region: String,
    pub priority: u8,
    pub meta: BTreeMap<String, String>,
    pub constraints: ThinVec<Constraint>,
    pub groups: Vec<Group>,
    /// Batch and sysbatch only: the job is not run itself; each launch of
    /// its schedule runs a copy of it (`ID/periodic-<unix time>`).
    pub periodic: Option<Box<Periodic>>,
    /// Batch and sysbatch only: the job is not run itself; each
    /// `supctl job dispatch` runs a copy (`ID/dispatch-<unix time>-<id>`).
    pub parameterized: Option<Box<Parameterized>>,
    /// A dispatched run's payload (`supctl job dispatch`), written to the
    /// `dispatch_payload` file of each task that takes it.
    pub payload: Option<Vec<u8>>,
    /// A dispatched run's own meta (`--meta`), merged into every level's
    /// meta already; kept to derive the run again after a restart of supd.
    pub dispatch_meta: BTreeMap<String, String>,
    /// The values of the file's `sensitive` variables, as text. Never
    /// shown: the effective job and plans print `(sensitive)` for any
    /// value that holds one.
    pub sensitive: ThinVec<String>,
}

impl Job {
    /// Whether the job runs its groups itself: a periodic or parameterized
    /// job runs only through its launches.
    pub fn runs_itself(&self) -> bool {
        self.periodic.is_none() && self.parameterized.is_none()
    }
}

/// A `parameterized` block: what a dispatch must and may bring.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameterized {
    pub payload: PayloadRule,
    pub meta_required: Vec<String>,
    pub meta_optional: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadRule {
    Optional,
    Required,
    Forbidden,
}

impl PayloadRule {
    pub const NAMES: [&'static str; 3] = ["optional", "required", "forbidden"];

    pub fn as_str(self) -> &'static str {
        match self {
            PayloadRule::Optional => "optional",
            PayloadRule::Required => "required",
            PayloadRule::Forbidden => "forbidden",
        }
    }
}

/// A `periodic` block, checked: every cron parses and fires, the time zone
/// exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Periodic {
    /// In Nomad's syntax, as written (`cron` becomes the only entry).
    pub crons: Vec<String>,
    pub prohibit_overlap: bool,
    /// An IANA name, `UTC` by default.
    pub time_zone: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub pos: Pos,
    pub count: u32,
    pub restart: RestartPolicy,
    /// `None` for system and sysbatch jobs.
    pub reschedule: Option<ReschedulePolicy>,
    pub constraints: ThinVec<Constraint>,
    /// Group meta merged over job meta.
    pub meta: BTreeMap<String, String>,
    pub ports: ThinVec<Port>,
    pub services: ThinVec<Service>,
    /// Shared with the running instances (`TaskRun::spec`): one copy per
    /// job version, however many instances run it.
    pub tasks: Vec<std::sync::Arc<Task>>,
    /// Batch and sysbatch only: how long an instance may run (from its
    /// first start) before its tasks are stopped.
    pub max_run_duration: Option<Duration>,
    /// `ephemeral_disk { sticky = true }`: a replacement instance gets the
    /// replaced one's `alloc/data`.
    pub ephemeral_disk_sticky: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub label: String,
    /// `None` asks for a dynamic port.
    pub static_port: Option<u16>,
    /// The port inside a container the host port is published to
    /// (`to`); `None` publishes it to the same number.
    pub to: Option<u16>,
    pub pos: Pos,
}

/// A task's driver: the name of an entry of `drivers::all()`, made only
/// from one (`Driver::named`, `Def::driver`). What the driver is, its
/// definition says (`Driver::def` and the other methods, in `drivers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Driver(pub(crate) &'static str);

/// The `config` of a `java` task (Nomad's java driver keys); strings keep
/// their `${...}` references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JavaConfig {
    pub jar_path: Option<String>,
    pub class: Option<String>,
    pub class_path: Option<String>,
    pub jvm_options: Vec<String>,
}

impl Task {
    /// The isolation it asks for (the defaults when it says nothing).
    pub fn isolation(&self) -> &IsolationConfig {
        static DEFAULT: IsolationConfig =
            IsolationConfig { pid_mode: None, ipc_mode: None, cap_add: Vec::new(), cap_drop: Vec::new() };
        self.isolation.as_deref().unwrap_or(&DEFAULT)
    }
}

/// What an isolated task's `config` says of its isolation (Nomad's exec
/// driver keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IsolationConfig {
    /// `"private"` or `"host"`; none: private.
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    /// Capability names as written (`net_raw`, `CAP_NET_RAW`; `all` in
    /// `cap_drop`).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
}

/// The `config` of a container task (Nomad's docker driver keys).
/// Strings keep their `${...}` references, resolved at every start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerConfig {
    /// `redis:3.2`; a name without a tag means `:latest`.
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    /// Labels of the group's `network` ports to publish.
    pub ports: Vec<String>,
    pub network_mode: Option<String>,
    /// `host:container[:ro]`; a relative host path is under the task's
    /// directory.
    pub volumes: Vec<String>,
    pub mounts: Vec<ContainerMount>,
    pub labels: BTreeMap<String, String>,
    pub hostname: Option<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub force_pull: bool,
    pub image_pull_timeout: Duration,
    pub init: bool,
    /// Bytes.
    pub shm_size: Option<u64>,
    /// `nofile = "1024:2048"`: name → soft[:hard].
    pub ulimits: BTreeMap<String, (u64, u64)>,
    /// Bytes (podman's `memory_reservation`): the soft memory limit.
    pub memory_reservation: Option<u64>,
}

/// A `mount` block of a container task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerMount {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    pub source: String,
    pub target: String,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub pos: Pos,
    pub driver: Driver,
    /// What a container driver runs (`None` for host processes).
    pub container: Option<Box<ContainerConfig>>,
    /// The isolation an `exec` task asks for, when it says anything of it
    /// (`isolation()` gives the defaults otherwise).
    pub isolation: Option<Box<IsolationConfig>>,
    /// What a `java` task runs (`None` for other drivers).
    pub java: Option<Box<JavaConfig>>,
    /// `command`, `args`, `env` values and `work_dir` keep their `${...}`
    /// references; they are interpolated at every start.
    pub command: String,
    pub args: Vec<String>,
    pub work_dir: Option<String>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub kill_timeout: Duration,
    /// The signal that stops a run: the one named, else `SIGINT` for a
    /// host process and the driver's default for a container task (its
    /// image's STOPSIGNAL, else SIGTERM).
    pub kill_signal: KillSignal,
    pub shutdown_delay: Duration,
    /// Its group's `shutdown_delay`: a stop of its instance waits it before
    /// the task's own (Nomad waits the group's once the group's services
    /// are deregistered, then each task's before its kill signal).
    pub group_shutdown_delay: Duration,
    pub leader: bool,
    pub lifecycle: Option<Lifecycle>,
    pub logs: Logs,
    pub resources: Resources,
    pub restart: RestartPolicy,
    pub services: ThinVec<Service>,
    pub templates: ThinVec<Template>,
    pub artifacts: ThinVec<Artifact>,
    pub constraints: ThinVec<Constraint>,
    /// Task meta merged over group and job meta.
    pub meta: BTreeMap<String, String>,
    /// `dispatch_payload { file }`: where under the task's `local/` a
    /// dispatch's payload is written.
    pub dispatch_payload: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prestart,
    Poststart,
    Poststop,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Prestart => "prestart",
            Hook::Poststart => "poststart",
            Hook::Poststop => "poststop",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub hook: Hook,
    pub sidecar: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logs {
    pub max_files: u32,
    /// Megabytes.
    pub max_file_size: u32,
}

impl Default for Logs {
    fn default() -> Self {
        Logs { max_files: 10, max_file_size: 10 }
    }
}

/// Where a task's output goes: rotated files under `log_dir`, the
/// journal (native protocol), supd's own stdout and stderr with a prefix,
/// or files and one of the others. supd.toml's `task_output` sets it for
/// every task; a task's (or group's, or job's) `meta` key
/// [`TaskOutput::META_KEY`] sets it for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskOutput {
    pub files: bool,
    pub journal: bool,
    pub stdout: bool,
}

impl TaskOutput {
    /// The `meta` key that overrides supd.toml's `task_output` for a task.
    pub const META_KEY: &'static str = "supd_task_output";
    pub const FILES: TaskOutput = TaskOutput { files: true, journal: false, stdout: false };
    pub const STDOUT: TaskOutput = TaskOutput { files: false, journal: false, stdout: true };
    /// What the error messages offer.
    pub const CHOICES: &'static str = "files, journal, stdout, files+journal or files+stdout";

    /// `files`, `journal`, `stdout`, or two or three of them joined by `+`.
    pub fn parse(text: &str) -> Result<TaskOutput, TaskOutputError> {
        let mut out = TaskOutput { files: false, journal: false, stdout: false };
        for part in text.split('+') {
            let slot = match part.trim() {
                "files" => &mut out.files,
                "journal" => &mut out.journal,
                "stdout" => &mut out.stdout,
                other => return Err(TaskOutputError::Unknown { part: other.to_string() }),
            };
            if *slot {
                return Err(TaskOutputError::Twice { text: text.to_string(), part: part.trim().to_string() });
            }
            *slot = true;
        }
        Ok(out)
    }

    /// The task's own choice in its merged `meta`, if any and valid
    /// (validation reports an invalid one).
    pub fn of_meta(meta: &BTreeMap<String, String>) -> Option<TaskOutput> {
        meta.get(TaskOutput::META_KEY).and_then(|v| TaskOutput::parse(v).ok())
    }

    /// The choice as written: `files+journal`.
    pub fn name(self) -> String {
        let parts: Vec<&str> = [(self.files, "files"), (self.journal, "journal"), (self.stdout, "stdout")]
            .into_iter()
            .filter_map(|(on, n)| on.then_some(n))
            .collect();
        parts.join("+")
    }
}

/// Why a `task_output` choice is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskOutputError {
    /// A part that names no output.
    #[error("task output {part:?} is not known — use {}", TaskOutput::CHOICES)]
    Unknown { part: String },
    /// An output named twice in `text`.
    #[error("task output {text:?} names {part} twice")]
    Twice { text: String, part: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// MHz.
    pub cpu: u32,
    /// MB.
    pub memory: u32,
    /// MB; `None` when not set, `Some(-1)` for no hard limit.
    pub memory_max: Option<i64>,
    /// The task has a `resources` block. Without one it reserves nothing
    /// on the node and gets no limit (as a systemd or runit service);
    /// with one, the fields it leaves out take Nomad's defaults.
    pub declared: bool,
}

impl Resources {
    /// What the task holds on the node: (cpu MHz, memory MB); nothing
    /// without a `resources` block.
    pub fn reserved(&self) -> (u64, u64) {
        if self.declared { (u64::from(self.cpu), u64::from(self.memory)) } else { (0, 0) }
    }
}

/// Nomad's defaults, as a block without fields gets them; a task without
/// a block has these values too, but not `declared`.
impl Default for Resources {
    fn default() -> Self {
        Resources { cpu: 100, memory: 300, memory_max: None, declared: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    Fail,
    Delay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub attempts: u32,
    pub interval: Duration,
    pub delay: Duration,
    pub mode: RestartMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayFunction {
    Constant,
    Exponential,
    Fibonacci,
}

impl DelayFunction {
    pub const NAMES: [&'static str; 3] = ["constant", "exponential", "fibonacci"];

    pub fn as_str(self) -> &'static str {
        match self {
            DelayFunction::Constant => "constant",
            DelayFunction::Exponential => "exponential",
            DelayFunction::Fibonacci => "fibonacci",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReschedulePolicy {
    pub attempts: u32,
    pub interval: Duration,
    pub delay: Duration,
    pub delay_function: DelayFunction,
    pub max_delay: Duration,
    pub unlimited: bool,
}

impl ReschedulePolicy {
    /// Disabled when `attempts = 0` and `unlimited = false` (reference §3.1).
    pub fn enabled(&self) -> bool {
        self.attempts > 0 || self.unlimited
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortRef {
    Number(u16),
    Label(String),
    /// Written with `${...}` (`"${NOMAD_PORT_api}"`), kept as written (in
    /// the template form, `$${` a literal `${`): resolved when the task
    /// starts, as its `args` are, to a number or a port label.
    Interpolated(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub pos: Pos,
    pub port: Option<PortRef>,
    pub tags: Vec<String>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Passing,
    Warning,
    Critical,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        }
    }

    /// The status [`as_str`](Self::as_str) names.
    pub fn parse(text: &str) -> Option<CheckStatus> {
        [CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical].into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Http {
        path: String,
        method: String,
        headers: BTreeMap<String, Vec<String>>,
        body: Option<String>,
        protocol: String,
    },
    Tcp,
    Script {
        command: String,
        args: Vec<String>,
    },
}

impl CheckKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::Script { .. } => "script",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub pos: Pos,
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    /// Falls back to the service's port when not set.
    pub port: Option<PortRef>,
    /// Host to check; 127.0.0.1 when not set.
    pub address: Option<String>,
    /// Status before the first result; Consul's default is critical.
    pub initial_status: CheckStatus,
    /// For script checks of group services: the task whose user, environment
    /// and directory the script runs with.
    pub task: Option<String>,
    pub check_restart: CheckRestart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckRestart {
    /// 0 disables check-triggered restarts.
    pub limit: u32,
    pub grace: Duration,
    pub ignore_warnings: bool,
}

impl Default for CheckRestart {
    fn default() -> Self {
        CheckRestart { limit: 0, grace: Duration::from_secs(1), ignore_warnings: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Version,
    Semver,
    Regexp,
    SetContains,
    SetContainsAll,
    SetContainsAny,
    IsSet,
    IsNotSet,
    DistinctHosts,
    DistinctProperty,
}

impl Operator {
    pub const NAMES: [&'static str; 19] = [
        "=",
        "==",
        "is",
        "!=",
        "not",
        "<",
        "<=",
        ">",
        ">=",
        "version",
        "semver",
        "regexp",
        "set_contains",
        "set_contains_all",
        "set_contains_any",
        "is_set",
        "is_not_set",
        "distinct_hosts",
        "distinct_property",
    ];

    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "=" | "==" | "is" => Operator::Equal,
            "!=" | "not" => Operator::NotEqual,
            "<" => Operator::Less,
            "<=" => Operator::LessEqual,
            ">" => Operator::Greater,
            ">=" => Operator::GreaterEqual,
            "version" => Operator::Version,
            "semver" => Operator::Semver,
            "regexp" => Operator::Regexp,
            "set_contains" => Operator::SetContains,
            "set_contains_all" => Operator::SetContainsAll,
            "set_contains_any" => Operator::SetContainsAny,
            "is_set" => Operator::IsSet,
            "is_not_set" => Operator::IsNotSet,
            "distinct_hosts" => Operator::DistinctHosts,
            "distinct_property" => Operator::DistinctProperty,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equal => "=",
            Operator::NotEqual => "!=",
            Operator::Less => "<",
            Operator::LessEqual => "<=",
            Operator::Greater => ">",
            Operator::GreaterEqual => ">=",
            Operator::Version => "version",
            Operator::Semver => "semver",
            Operator::Regexp => "regexp",
            Operator::SetContains => "set_contains",
            Operator::SetContainsAll => "set_contains_all",
            Operator::SetContainsAny => "set_contains_any",
            Operator::IsSet => "is_set",
            Operator::IsNotSet => "is_not_set",
            Operator::DistinctHosts => "distinct_hosts",
            Operator::DistinctProperty => "distinct_property",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// Left target, usually `${attr.…}`, `${node.…}` or `${meta.…}`.
    pub attribute: String,
    pub operator: Operator,
    /// Right target.
    pub value: String,
    pub pos: Pos,
}
