//! `supctl daemon-reexec`: supd executes its binary again — the file now at
//! the path it was started from, so that an upgraded binary takes over — as
//! the same process. Every task stays supd's child and keeps running; what
//! the new image needs to go on is carried across the exec:
//!
//! - the descriptors: the control socket's listener (a client that connects
//!   meanwhile waits in its backlog), the connection of the client that
//!   asked (the new image answers it), each running task's capture pipes
//!   (what a task writes during the exec waits in its pipe: no line is lost
//!   or read twice);
//! - a document in an anonymous file (`Carry`, JSON, its descriptor named by
//!   `SUPD_REEXEC_FD`): which job files were loaded and the exact text of
//!   their jobs (a file edited since is not taken in by the exec; the next
//!   reload does), each running task's pid and descriptors, each instance's
//!   ID, the start due later of a task in a restart delay, every task's
//!   events.
//!
//! The rest — restart budgets, stopped jobs, periodic launches, dispatched
//! and submitted jobs — is in the state directory, saved just before.
//!
//! Before it executes anything, the old image asks the binary what it can
//! take over (`supd --reexec-check`, answered within [`CHECK_TIMEOUT`]): a
//! binary that is not supd, hangs, or cannot read this carry or state is
//! refused and the old image keeps running. So is a re-exec while
//! something is in flight that the carry does not hold (a task being
//! stopped, artifacts being fetched, a hand-off): the answer says what to
//! wait for.
//!
//! Here: the carried document and the check of the binary; the old image's
//! side (what would be lost refused, the carry written, the exec) is in
//! `hand_over`, the new image's (taking in what was carried, taking over
//! each task's run) in `resume`.

mod hand_over;
mod resume;

use super::task::TaskEvent;
use crate::process;
use crate::supervisor::task::EventKind;
use mio::Token;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The format of what is carried across the exec.
pub const CARRY_VERSION: u32 = 1;
/// Names the descriptor of the carried document in the new image.
pub const CARRY_ENV: &str = "SUPD_REEXEC_FD";
/// The flag a binary is asked with what it can take over.
pub const CHECK_FLAG: &str = "--reexec-check";
/// How long that answer may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The program supd runs from and its arguments, as it was started.
static STARTED_AS: OnceLock<(PathBuf, Vec<OsString>)> = OnceLock::new();

/// When supd first started (carried across re-executions).
static SINCE: OnceLock<SystemTime> = OnceLock::new();

/// Remembers the path supd was started from (before anything could
/// replace the file) and its arguments.
pub fn remember_start() {
    STARTED_AS.get_or_init(|| {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        (exe, std::env::args_os().collect())
    });
}

/// Since when supd runs, across re-executions.
pub fn since() -> SystemTime {
    *SINCE.get_or_init(SystemTime::now)
}

/// Why the binary at supd's path cannot take over (its answer to
/// `--reexec-check`).
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("cannot run it: {0}")]
    Run(#[source] std::io::Error),
    /// No answer within `secs` seconds.
    #[error("it did not answer `{} {CHECK_FLAG}` within {secs} s", exe.display())]
    Silent { exe: PathBuf, secs: u64 },
    /// It failed; `said`: what it wrote on stderr, trimmed.
    #[error("`{CHECK_FLAG}` failed ({status}){} — it is not a supd that can take over as started", after_colon(.said))]
    Failed { status: String, said: String },
    #[error("it did not answer as supd does: it is not a supd that can take over")]
    NotSupd,
    #[error("supd {supd} reads carry formats {low}-{high}, this one writes {CARRY_VERSION}")]
    Carry { supd: String, low: u32, high: u32 },
    #[error("supd {supd} reads state format {state} at most, this one writes {}", crate::state::VERSION)]
    State { supd: String, state: u32 },
}

/// `: TEXT`, or nothing for no text.
fn after_colon(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!(": {text}") }
}

/// What a binary says it can take over (`supd --reexec-check`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Abilities {
    pub supd: String,
    /// The carry formats it reads (lowest, highest).
    pub carry: [u32; 2],
    /// The newest state format it reads.
    pub state: u32,
}

/// The line `supd --reexec-check` prints.
pub fn abilities_line() -> String {
    let a = Abilities {
        supd: env!("CARGO_PKG_VERSION").to_string(),
        carry: [CARRY_VERSION, CARRY_VERSION],
        state: crate::state::VERSION,
    };
    serde_json::to_string(&a).unwrap_or_default()
}

/// What crosses the exec in the document.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Carry {
    pub version: u32,
    /// The version of the image that wrote it.
    pub from: String,
    /// When supd first started (Unix ms).
    pub since_ms: u64,
    pub listener: RawFd,
    /// The connection of the client that asked.
    pub client: Option<RawFd>,
    /// The job directory's files as loaded: each file's jobs as supd runs
    /// them (their evaluated text).
    pub files: Vec<CarriedFile>,
    /// The job directory's files that did not load, with their problems.
    pub load_errors: BTreeMap<String, Vec<String>>,
    pub instances: Vec<CarriedInstance>,
    pub tasks: Vec<CarriedTask>,
    /// The newest event's sequence number.
    pub event_seq: u64,
    /// Other control clients, mid-request or mid-answer.
    #[serde(default)]
    pub clients: Vec<super::server::CarriedClient>,
    /// The `driver.java` attributes found at supd's start: the new image
    /// does not start a JVM again to find them.
    #[serde(default)]
    pub java: Option<Vec<(String, String)>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedFile {
    pub path: String,
    pub jobs: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedInstance {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub id: String,
    /// Its active checks, by their place in the instance.
    #[serde(default)]
    pub checks: Vec<CarriedCheck>,
    /// How long before the exec it was placed.
    #[serde(default)]
    pub placed_ago_ms: Option<u64>,
}

/// A health check's state across the exec: its status and output, its
/// failures in a row and what is left of its grace (`check_restart`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CarriedCheck {
    pub at: usize,
    pub status: String,
    pub output: String,
    pub consecutive: u32,
    pub grace_left_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedTask {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    pub pid: Option<i32>,
    /// Its process is supd's child (else it was taken over after a crash
    /// of supd, and is followed by a pidfd).
    #[serde(default = "yes")]
    pub child: bool,
    pub start_ticks: Option<u64>,
    pub started_ms: Option<u64>,
    /// stdout read, stdout write, stderr read, stderr write.
    pub pipes: Option<[RawFd; 4]>,
    /// A task in a restart delay: its start is due after this long.
    pub start_in_ms: Option<u64>,
    pub events: Vec<CarriedEvent>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CarriedEvent {
    pub seq: u64,
    pub time_ms: u64,
    pub kind: String,
    pub message: String,
}

/// What the new image took in, until its bring-up is done and it answers.
#[derive(Debug, Default)]
pub(super) struct Resumed {
    /// The client that asked for the re-exec.
    pub client: Option<Token>,
    /// The version of the image before.
    pub from: String,
    /// Tasks taken over as they ran.
    pub kept: usize,
    /// The job directory's files as the earlier image ran them, until
    /// they are loaded.
    pub files: Option<Vec<(PathBuf, crate::jobspec::Parsed)>>,
    /// The java driver's attributes, as found before.
    pub java: Option<Vec<(String, String)>>,
}

/// The task key of a carried or saved task.
pub(super) type Named = (String, String, u32, String);

fn yes() -> bool {
    true
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The document the previous image left, if supd was started by a
/// re-exec. Read once.
pub(super) fn take_carry() -> Option<Carry> {
    let raw: RawFd = std::env::var(CARRY_ENV).ok()?.parse().ok()?;
    let fd = process::sys::inherited_fd(raw)?;
    let file = std::fs::File::from(fd);
    match serde_json::from_reader::<_, Carry>(std::io::BufReader::new(file)) {
        Ok(c) if c.version == CARRY_VERSION => {
            let _ = SINCE.set(from_unix_ms(c.since_ms));
            Some(c)
        }
        Ok(c) => {
            log::error!("the previous image carried format {} (this supd reads {CARRY_VERSION})", c.version);
            None
        }
        Err(e) => {
            log::error!("cannot read what the previous image of supd carried: {e}");
            None
        }
    }
}

impl Carry {
    /// The job directory's files as the previous image ran them.
    pub(super) fn parsed_files(&self) -> Vec<(PathBuf, crate::jobspec::Parsed)> {
        self.files
            .iter()
            .map(|f| {
                let mut all = crate::jobspec::Parsed { jobs: Vec::new(), diagnostics: Vec::new() };
                for source in &f.jobs {
                    let p = crate::jobspec::parse_str(&f.path, source);
                    all.jobs.extend(p.jobs);
                    all.diagnostics.extend(p.diagnostics);
                }
                (PathBuf::from(&f.path), all)
            })
            .collect()
    }
}

/// A task's events as the earlier image had them.
pub(super) fn carried_events(events: Vec<CarriedEvent>) -> std::collections::VecDeque<TaskEvent> {
    events
        .into_iter()
        .map(|e| TaskEvent {
            seq: e.seq,
            time: from_unix_ms(e.time_ms),
            kind: EventKind::parse(&e.kind),
            message: e.message.into(),
        })
        .collect()
}

/// Asks the binary at `exe` what it can take over, within [`CHECK_TIMEOUT`].
/// It is run with supd's own arguments, so that it also reads supd's
/// configuration as the new image will (a supd.toml edited since, that the
/// new image could not start with, is found here).
fn check_binary(exe: &std::path::Path, args: &[OsString]) -> Result<Abilities, BinaryError> {
    let mut asked: Vec<&std::ffi::OsStr> = args.iter().skip(1).map(OsString::as_os_str).collect();
    asked.push(std::ffi::OsStr::new(CHECK_FLAG));
    let answer = process::selfexec::ask(exe, &asked, CHECK_TIMEOUT)
        .map_err(BinaryError::Run)?
        .ok_or_else(|| BinaryError::Silent { exe: exe.to_path_buf(), secs: CHECK_TIMEOUT.as_secs() })?;
    if !answer.success {
        let said = String::from_utf8_lossy(&answer.stderr).trim().to_string();
        return Err(BinaryError::Failed { status: answer.status, said });
    }
    let a: Abilities = serde_json::from_slice(answer.stdout.trim_ascii()).map_err(|_| BinaryError::NotSupd)?;
    if !(a.carry[0]..=a.carry[1]).contains(&CARRY_VERSION) {
        return Err(BinaryError::Carry { supd: a.supd, low: a.carry[0], high: a.carry[1] });
    }
    if a.state < crate::state::VERSION {
        return Err(BinaryError::State { supd: a.supd, state: a.state });
    }
    Ok(a)
}

/// Executes `exe` with `args` and supd's environment, naming `carry`.
/// Returns only on failure.
fn exec(exe: &std::path::Path, args: &[OsString], carry: RawFd) -> String {
    // Descriptors systemd passed at supd's start were taken then: the
    // next image (the same pid) must not take those numbers again.
    let passed = |k: &OsString| k == CARRY_ENV || k.as_bytes().starts_with(b"LISTEN_");
    let env = std::env::vars_os()
        .filter(|(k, _)| !passed(k))
        .chain([(OsString::from(CARRY_ENV), OsString::from(carry.to_string()))]);
    process::selfexec::exec(exe, args, env).to_string()
}

/// The carried names of a task, as saved states name it.
pub(super) fn named(job: &str, group: &str, index: u32, task: &str) -> Named {
    (job.to_string(), group.to_string(), index, task.to_string())
}

#[cfg(test)]
mod tests;
