//! The only contract between supd and supctl: newline-delimited JSON over a
//! stream Unix socket. A client sends one request line and reads one
//! response line (`events --follow` keeps streaming event lines). Every
//! message carries `version`; fields may be added, never renamed.

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

/// A request line longer than this is refused as soon as it is seen to be
/// longer. A job file does not travel inside the line: it follows it as a
/// body of its own (see [`Envelope::body`]), bounded by the job file limit.
pub const MAX_LINE: usize = 1 << 20;

/// The longest body (the HCL of `job run`): the job file limit
/// (`jobspec::MAX_FILE_SIZE`, which a test keeps equal).
pub const MAX_BODY: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// `target` is `JOB`, `JOB/GROUP`, `JOB/GROUP/INDEX` or `JOB/GROUP/INDEX/TASK`
    /// (`JOB/GROUP/TASK` also works for the instance 0 of a group).
    Status {
        #[serde(default)]
        target: Option<String>,
        /// The most recent events to include per task (the table view
        /// shows one); all that are kept when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        events: Option<usize>,
        /// Only what the table shows: each instance's `id`, `alloc_dir`
        /// and `reschedule_policy`, each task's `checks`, times,
        /// `restart_policy` and `container`, each event's `time`, a job's
        /// `file` and the resources' limits as set (`memory_max`,
        /// `cpu_weight`, `cpu_quota`) and `cgroup` are left out.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        brief: bool,
    },
    /// The status as the JSON document `supctl --json status` prints
    /// (pretty, one line per value): it follows the answer line as a body
    /// (`Response::body`), so that the client copies it instead of
    /// decoding and encoding megabytes again. `up` says whether every
    /// selected task is up (`status`'s exit status).
    StatusJson {
        #[serde(default)]
        target: Option<String>,
        /// One line (for a script: 40 % fewer bytes than the pretty
        /// layout), not pretty (for a terminal).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        compact: bool,
    },
    /// Submit or update a job from HCL text; `file` names it in messages.
    /// With `plan`, change nothing: answer with what a run would do
    /// (`plans`, `supctl job plan`).
    JobRun {
        source: String,
        file: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        plan: bool,
    },
    /// Stop a job; with `purge`, also forget it (a job submitted with
    /// `job run`: it is no longer listed, saved or run again).
    JobStop {
        job: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        purge: bool,
    },
    /// Run a stopped job again, as it was (`supctl job start`).
    JobStart {
        job: String,
    },
    /// The job supd holds, after evaluation, defaults and merges
    /// (`supctl job inspect`): HCL in `data`, or with `json` the JSON
    /// document (`jobspec::effective::to_json`) in `data`.
    JobInspect {
        job: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        json: bool,
    },
    /// Write a Nomad Variable (`supctl var put`): every item of it; with
    /// `cas`, only if its modify index is that (0: only if it is new).
    VarPut {
        path: String,
        items: std::collections::BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cas: Option<u64>,
    },
    /// One variable, JSON in `data` (`supctl var get`).
    VarGet {
        path: String,
    },
    /// The variables under a prefix, without their items, JSON in `data`
    /// (`supctl var list`).
    VarList {
        #[serde(default)]
        prefix: String,
    },
    /// Remove a variable (`supctl var purge`).
    VarPurge {
        path: String,
    },
    /// Launch a periodic job now (`supctl job periodic force`).
    PeriodicForce {
        job: String,
    },
    /// Run a parameterized job with meta and a payload (`supctl job dispatch`).
    JobDispatch {
        job: String,
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        meta: std::collections::BTreeMap<String, String>,
        /// Base64 (standard, padded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
    },
    Restart {
        target: String,
    },
    Signal {
        target: String,
        signal: String,
    },
    /// Task events, oldest first; with `follow`, new ones as they happen.
    Events {
        #[serde(default)]
        follow: bool,
        /// Only the events of these tasks (a target as in `status`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// Only the events at or after this time (RFC 3339).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<String>,
        /// Only the events of these types (`Restarting`, `Terminated`, …).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        types: Vec<String>,
        /// Only the events of tasks of this name, in any job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
    },
    /// A task's output: the last `lines` lines, then with `follow` what it
    /// writes next. `target` as in `status`; a single-task group may omit
    /// the task, a single-instance group the index. With `all`, both
    /// streams: the last lines of stdout, then those of stderr, then what
    /// either writes next, in the order supd reads it.
    Logs {
        target: String,
        #[serde(default)]
        stderr: bool,
        #[serde(default = "ten")]
        lines: usize,
        #[serde(default)]
        follow: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
    },
    Reload {
        #[serde(default)]
        dry_run: bool,
    },
    Shutdown,
    /// Execute supd's binary again (the file now at the path it was
    /// started from), as the same process, keeping every task running
    /// (`supctl daemon-reexec`). Answered by the new image, or with the
    /// reason it was refused.
    DaemonReexec,
    /// A request of a peer about work it hands to this host (`supctl
    /// handoff serve`); the answer (`supd::handoff::wire::Answer`, JSON) is
    /// the response's `data`.
    Handoff {
        /// The peer the request comes from: what the ssh key it used says
        /// (`--from` in its authorized_keys command), never the request.
        from: String,
        /// The request as it came: a document of its own
        /// (`supd::handoff::wire::Request`), which supd reads and checks.
        request: serde_json::Value,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    /// With `job run`: the job's HCL is not in the line (`source` is empty)
    /// but follows it, exactly this many bytes of UTF-8 with no line end.
    /// Only a client that may change things may send a body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<u64>,
    #[serde(flatten)]
    pub request: Request,
}

/// One response line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    pub ok: bool,
    /// Why the request was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Human-readable outcome, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventLine>,
    /// Task output (lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Which stream `data` is from: `stdout` or `stderr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// When supd read `data` from the task (RFC 3339): set on output
    /// streamed as it comes; output read back from the files has no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `job plan` and `reload --dry-run`: each job's plan, a document of
    /// its own (`jobspec::diff::Plan`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<serde_json::Value>,
    /// The answer line is followed by exactly this many bytes (the
    /// document of `StatusJson`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<u64>,
    /// `StatusJson`: whether every selected task is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    /// The body itself, on supd's side until it is sent, after room kept
    /// for the answer line (`ControlServer::document_buffer`).
    #[serde(skip)]
    pub document: Option<Vec<u8>>,
    /// On supd's side: the answer line itself, encoded ahead (a status,
    /// straight from the model), sent instead of this.
    #[serde(skip)]
    pub line: Option<Vec<u8>>,
}

fn ten() -> usize {
    10
}

impl Response {
    pub fn ok(messages: Vec<String>) -> Response {
        Response {
            version: VERSION,
            ok: true,
            error: None,
            messages,
            status: None,
            events: Vec::new(),
            data: None,
            stream: None,
            time: None,
            plans: Vec::new(),
            body: None,
            up: None,
            document: None,
            line: None,
        }
    }

    pub fn refused(error: impl Into<String>) -> Response {
        Response {
            version: VERSION,
            ok: false,
            error: Some(error.into()),
            messages: Vec::new(),
            status: None,
            events: Vec::new(),
            data: None,
            stream: None,
            time: None,
            plans: Vec::new(),
            body: None,
            up: None,
            document: None,
            line: None,
        }
    }

    /// A chunk of one task stream's output.
    pub fn output(data: &[u8], stderr: bool, time: Option<String>) -> Response {
        let mut r = Response::ok(Vec::new());
        r.data = Some(String::from_utf8_lossy(data).into_owned());
        r.stream = Some(if stderr { "stderr" } else { "stdout" }.to_string());
        r.time = time;
        r
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: u32,
    pub node: NodeStatus,
    pub jobs: Vec<JobStatus>,
}

impl Status {
    /// Whether every task is running and healthy (passing, or no checks)
    /// or has completed (exit 0): `supctl status` exits 0 then, else 4. A
    /// poststop task waits for its turn and is not counted.
    pub fn all_up(&self) -> bool {
        self.jobs.iter().flat_map(|j| &j.groups).flat_map(|g| &g.instances).flat_map(|i| &i.tasks).all(TaskStatus::up)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    pub datacenter: String,
    /// The cgroup layout and what enforces what; null without cgroups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups: Option<String>,
    /// What is not enforced, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_problems: Vec<String>,
    /// `attr.cpu.totalcompute` (MHz), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_total: Option<u64>,
    /// `attr.memory.totalbytes` in MB, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total: Option<u64>,
    /// What the jobs that run reserve: cpu MHz.
    #[serde(default)]
    pub cpu_reserved: u64,
    /// What the jobs that run reserve: memory MB.
    #[serde(default)]
    pub memory_reserved: u64,
    /// Tasks of running jobs without a `resources` block, which reserve
    /// nothing.
    #[serde(default)]
    pub unreserved_tasks: u64,
    /// The running supd's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supd_version: Option<String>,
    /// For how many seconds supd has run (across re-executions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supd_uptime: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub name: String,
    #[serde(rename = "type")]
    pub job_type: String,
    /// `running`, `pending`, `complete`, `failed` or `dead` (stopped).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub groups: Vec<GroupStatus>,
    /// A periodic job's schedule and the runs it launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic: Option<PeriodicStatus>,
    /// A parameterized job's rules and the runs dispatched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameterized: Option<ParameterizedStatus>,
    /// The periodic or parameterized job a launched or dispatched run
    /// (`JOB/periodic-<unix time>`, `JOB/dispatch-<unix time>-<id>`) comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicStatus {
    pub crons: Vec<String>,
    pub time_zone: String,
    pub prohibit_overlap: bool,
    pub enabled: bool,
    /// RFC 3339; none while the job is stopped or not enabled, or when no
    /// cron fires again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_launch: Option<String>,
    /// The runs launched and kept, oldest first.
    pub launched: Vec<LaunchedRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterizedStatus {
    /// `optional`, `required` or `forbidden`.
    pub payload: String,
    pub meta_required: Vec<String>,
    pub meta_optional: Vec<String>,
    /// The runs dispatched and still known, oldest first.
    pub dispatched: Vec<LaunchedRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchedRun {
    /// `JOB/periodic-<unix time>`
    pub id: String,
    /// As a job's status.
    pub status: String,
    /// The launch instant, RFC 3339.
    pub launched_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub name: String,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub index: u32,
    /// `job.group[index]`
    pub name: String,
    /// Absent from a brief status.
    #[serde(default)]
    pub id: String,
    pub status: String,
    /// Why it ended, when its tasks do not say: "allocation exceeded
    /// max_run_duration".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its allocation directory on this host (`NOMAD_ALLOC_DIR`'s parent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc_dir: Option<String>,
    /// Hand-off state and history, once the instance has failed or was
    /// handed to this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule: Option<RescheduleStatus>,
    /// The group's effective `reschedule`: `unlimited, delay 30s
    /// exponential up to 1h`, or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule_policy: Option<String>,
    pub tasks: Vec<TaskStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RescheduleStatus {
    /// `none`, `waiting`, `blocked` (no peer took it: waiting without
    /// spending an attempt), `handing off`, `outcome unknown` (a peer heard
    /// the offer and has not said what it did), `handed off` or `stays
    /// failed`.
    pub state: String,
    /// Hand-offs (and attempts no peer took) that count against `allowed`.
    pub attempts: u32,
    /// The policy's `attempts`; null when unlimited.
    pub allowed: Option<u32>,
    /// When the next hand-off is due (RFC 3339).
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub handed_off_to: Option<String>,
    #[serde(default)]
    pub received_from: Option<String>,
    /// Why it stays failed, why no peer took it, or why its outcome on
    /// a peer is not known.
    #[serde(default)]
    pub reason: Option<String>,
    /// The hand-off's ID: the one it was handed off under, or received under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_id: Option<String>,
    /// What the peer that holds it last said of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteStatus>,
    /// Oldest first.
    pub history: Vec<HandoffRecord>,
}

/// What the peer that holds a handed-off instance last said of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteStatus {
    /// `pending`, `running`, `complete`, `failed`, `stopped`, `unknown`;
    /// absent until the peer has been asked.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub message: String,
    /// When it last answered (RFC 3339).
    #[serde(default)]
    pub checked: Option<String>,
    /// Since when it has not answered (RFC 3339), and why.
    #[serde(default)]
    pub unreachable_since: Option<String>,
    #[serde(default)]
    pub unreachable: Option<String>,
}

/// One hand-off of an instance, or one attempt that no peer took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffRecord {
    /// RFC 3339.
    pub time: String,
    /// The node it failed on.
    pub from: String,
    /// The peer that took it; absent when none did.
    #[serde(default)]
    pub to: Option<String>,
    /// The delay waited before it, as a Go duration.
    pub delay: String,
    pub reason: String,
    /// Its number in the instance's chain of hand-offs (1 for the first).
    #[serde(default)]
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub name: String,
    /// Its lifecycle hook (`prestart`, `poststart`, `poststop`); absent
    /// for a main task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// `pending`, `running` or `dead`.
    pub state: String,
    pub failed: bool,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// The worst status of the task's running checks; null without checks.
    pub health: Option<String>,
    /// Each health check of the task.
    #[serde(default)]
    pub checks: Vec<CheckState>,
    #[serde(default)]
    pub started_at: Option<String>,
    /// For how many seconds its current run has been going (a running
    /// task only; in the brief status too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<u64>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub last_restart: Option<String>,
    pub events: Vec<Event>,
    /// The task's effective `restart`: `2 attempts in 30m, delay 15s,
    /// mode fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<TaskResources>,
    /// The container of a container task (docker driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerStatus>,
}

impl TaskStatus {
    /// Whether the task counts as up for `status`'s exit status.
    pub fn up(&self) -> bool {
        task_up(&self.state, self.health.as_deref(), self.failed, self.exit_code, self.hook.as_deref())
    }
}

/// Whether a task with these fields counts as up for `status`'s exit
/// status: running and healthy (passing, or no checks), or completed
/// (exit 0); a poststop task waiting for its turn is not counted.
pub fn task_up(state: &str, health: Option<&str>, failed: bool, exit_code: Option<i32>, hook: Option<&str>) -> bool {
    match state {
        "running" => health.is_none_or(|h| h == "passing"),
        "dead" => !failed && exit_code == Some(0),
        "pending" => hook == Some("poststop"),
        _ => false,
    }
}

/// A container task's image and current container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatus {
    pub image: String,
    /// The short (12-character) id; absent while none runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A task's `resources`, what its cgroup enforces, and what it uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResources {
    /// MHz, as the job asks.
    pub cpu: u32,
    /// MB, as the job asks.
    pub memory: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<i64>,
    /// The task has no `resources` block: it reserves nothing on the node
    /// and is limited by nothing (`cpu` and `memory` are Nomad's defaults,
    /// shown but not applied).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreserved: bool,
    /// What the task's cgroup enforces (`memory`, `cpu`); empty: nothing.
    pub enforced: Vec<String>,
    /// The hard memory limit set, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
    /// The cgroup's cpu weight (v1 shares or v2 weight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_weight: Option<u64>,
    /// The hard cpu quota, microseconds per 100 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<u64>,
    /// Memory in use now, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_usage: Option<u64>,
    /// CPU time used by the current (or last) run, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// The task's cgroup (the one that tracks its processes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `passing`, `warning`, `critical`, or `inactive` while the task is not running.
    pub status: String,
    pub output: String,
    /// The check's effective `check_restart`: `limit 3, grace 10s, ignore
    /// warnings no`, or `off (limit 0)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_restart: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339, UTC; absent from a brief status.
    #[serde(default)]
    pub time: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// An event with the task it belongs to, as `events` streams them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    pub version: u32,
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    #[serde(flatten)]
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_one_line() {
        let reqs = [
            Request::Status { target: Some("web/site/0".into()), events: Some(1), brief: false },
            Request::Status { target: None, events: Some(1), brief: true },
            Request::JobRun { source: "job \"x\" {\n}\n".into(), file: "x.hcl".into(), plan: false },
            Request::JobRun { source: "job \"x\" {\n}\n".into(), file: "x.hcl".into(), plan: true },
            Request::JobStop { job: "x".into(), purge: false },
            Request::JobStop { job: "x".into(), purge: true },
            Request::JobStart { job: "x".into() },
            Request::PeriodicForce { job: "x".into() },
            Request::JobDispatch {
                job: "x".into(),
                meta: [("k".to_string(), "v".to_string())].into(),
                payload: Some("aGk=".into()),
            },
            Request::Restart { target: "x/g/0/t".into() },
            Request::Signal { target: "x".into(), signal: "SIGHUP".into() },
            Request::Events { follow: true, target: None, since: None, types: Vec::new(), task: None },
            Request::Events {
                follow: false,
                target: Some("x/g/0".into()),
                since: Some("2026-11-28T05:06:07.123Z".into()),
                types: vec!["Restarting".into(), "Terminated".into()],
                task: Some("t".into()),
            },
            Request::Logs { target: "x/g".into(), stderr: true, lines: 5, follow: false, all: false },
            Request::Logs { target: "x/g".into(), stderr: false, lines: 5, follow: true, all: true },
            Request::Reload { dry_run: true },
            Request::Shutdown,
            Request::DaemonReexec,
        ];
        for r in reqs {
            let line = serde_json::to_string(&Envelope { version: VERSION, body: None, request: r.clone() }).unwrap();
            assert!(!line.contains('\n'));
            let back: Envelope = serde_json::from_str(&line).unwrap();
            assert_eq!(back.request, r);
        }
        let e: Envelope = serde_json::from_str(r#"{"version":1,"cmd":"status"}"#).unwrap();
        assert_eq!(e.body, None);
        assert_eq!(e.request, Request::Status { target: None, events: None, brief: false });
        let e: Envelope =
            serde_json::from_str(r#"{"version":1,"body":12,"cmd":"job_run","source":"","file":"x.hcl"}"#).unwrap();
        assert_eq!(e.body, Some(12));
        assert_eq!(e.request, Request::JobRun { source: String::new(), file: "x.hcl".into(), plan: false });
        assert_eq!(MAX_BODY, crate::jobspec::MAX_FILE_SIZE, "a body holds any job file supd would read");
        // What an older supctl sends still reads, with the new fields off.
        let e: Envelope = serde_json::from_str(r#"{"version":1,"cmd":"events","follow":true}"#).unwrap();
        assert_eq!(
            e.request,
            Request::Events { follow: true, target: None, since: None, types: Vec::new(), task: None }
        );
        let e: Envelope = serde_json::from_str(r#"{"version":1,"cmd":"logs","target":"x"}"#).unwrap();
        assert_eq!(
            e.request,
            Request::Logs { target: "x".into(), stderr: false, lines: 10, follow: false, all: false }
        );
    }

    #[test]
    fn bad_requests_say_why() {
        let e = serde_json::from_str::<Envelope>(r#"{"version":1,"cmd":"bogus"}"#).unwrap_err().to_string();
        assert!(e.contains("unknown variant `bogus`"), "{e}");
        assert!(serde_json::from_str::<Envelope>(r#"{"cmd":"status"}"#).is_err(), "version is required");
    }
}
