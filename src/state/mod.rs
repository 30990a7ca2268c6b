//! What survives a restart of supd: the jobs submitted with `supctl job
//! run` (their source) and the jobs the operator stopped. Written
//! atomically — a temporary file, fsync, rename, fsync of the directory —
//! so that a crash leaves either the old state or the new one, never half.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub version: u32,
    /// Jobs submitted through the control socket, in submission order.
    #[serde(default)]
    pub submitted: Vec<Submitted>,
    /// IDs of jobs stopped with `job stop`: they stay stopped.
    #[serde(default)]
    pub stopped: Vec<String>,
    /// Per task: its restart budget and the process it was running.
    #[serde(default)]
    pub tasks: Vec<TaskSaved>,
    /// Instances with a hand-off history, or handed off to a peer.
    #[serde(default)]
    pub instances: Vec<InstanceSaved>,
    /// Instances peers handed to this host, as they arrived (with the
    /// history as it is now).
    #[serde(default)]
    pub received: Vec<crate::handoff::Envelope>,
    /// The last journal record this file includes: later ones are applied
    /// over it at load (see [`Journal`]).
    #[serde(default)]
    pub journal_seq: u64,
    /// Periodic jobs: their last launch, and the runs launched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periodic: Vec<PeriodicSaved>,
    /// Runs of parameterized jobs (`job dispatch`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dispatched: Vec<DispatchedSaved>,
    /// Copies of this host's work that peers still hold and must stop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recalls: Vec<Recall>,
    /// Offers made whose outcome was not known: recalled at the next start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<Recall>,
    /// Hand-offs to this host it answered "unknown" to when asked to
    /// settle them, or stopped: a late offer of one is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<Withdrawn>,
}

/// A copy of this host's work that peer `peer` holds (or may) under
/// hand-off `id`, to be stopped there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recall {
    pub peer: String,
    pub id: String,
    /// The instance, for messages.
    pub what: String,
}

/// A hand-off from `from` this host will never run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    pub from: String,
    pub id: String,
}

/// One dispatched run: `JOB/dispatch-<unix time>-<id>`, the job as it was
/// then, the dispatch's meta and payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchedSaved {
    pub id: String,
    /// The parent's HCL at the dispatch.
    pub source: String,
    #[serde(default)]
    pub meta: std::collections::BTreeMap<String, String>,
    /// The payload, base64 (standard alphabet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// A periodic job's schedule as it stood: a launch missed while supd was
/// down is made once, and never twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicSaved {
    pub job: String,
    /// The last launch (milliseconds since 1970), or when the job was first
    /// seen.
    pub last_launch_ms: u64,
    /// Runs launched and kept, oldest first.
    #[serde(default)]
    pub launched: Vec<LaunchedSaved>,
}

/// One launched run: `JOB/periodic-<unix time>` and the job as it was then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchedSaved {
    pub id: String,
    /// The parent's HCL at the launch.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSaved {
    pub job: String,
    pub group: String,
    pub index: u32,
    /// As in [`TaskSaved`]: it applies to the same job only.
    pub source_digest: u64,
    #[serde(default)]
    pub history: Vec<crate::handoff::HistoryEntry>,
    /// The peer that took it: it is not run here again until an operator
    /// says so.
    #[serde(default)]
    pub handed_off_to: Option<String>,
    #[serde(default)]
    pub handed_off_at: Option<String>,
    #[serde(default)]
    pub received_from: Option<String>,
    /// The hand-off's ID: the one it was handed off under (with
    /// `handed_off_to`), or received under (with `received_from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_id: Option<String>,
}

impl InstanceSaved {
    /// An instance's history and origin, not handed off.
    pub fn new(
        job: &str,
        group: &str,
        index: u32,
        source_digest: u64,
        history: Vec<crate::handoff::HistoryEntry>,
        received_from: Option<String>,
    ) -> InstanceSaved {
        InstanceSaved {
            job: job.to_string(),
            group: group.to_string(),
            index,
            source_digest,
            history,
            handed_off_to: None,
            handed_off_at: None,
            received_from,
            handoff_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSaved {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    /// A digest of the job's source: the history only applies to the same job.
    pub source_digest: u64,
    /// The restart window's slots (`policy::restart::Slot`), oldest first:
    /// the wall-clock time (Unix milliseconds) of each slot's newest policy
    /// restart...
    pub restart_times: Vec<u64>,
    /// ... and how many restarts each slot holds. Empty when each holds one
    /// (as every slot of a file written before slots did); see
    /// [`restart_slots`](Self::restart_slots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart_counts: Vec<u32>,
    /// Total restarts shown in status.
    pub restarts: u32,
    /// The process running when this was written, with its start time
    /// (clock ticks since boot, /proc/PID/stat field 22) to tell it from a
    /// later process with the same pid.
    pub pid: Option<i32>,
    pub start_ticks: Option<u64>,
    /// The task had ended for good (`dead`), and whether it failed: it is
    /// not started again.
    #[serde(default)]
    pub dead: bool,
    #[serde(default)]
    pub failed: bool,
    /// The task's cgroup directories: whatever is left in them when supd
    /// starts again (a daemon that left the task's session too) is stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<PathBuf>,
    /// Written just before a start: a process may have started that the
    /// next record (with its pid) does not name.
    #[serde(default)]
    pub starting: bool,
    /// The name of the instance's allocation directory (the instance's ID
    /// when it was made): the same instance keeps the directory across a
    /// restart of supd, though it gets a new ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc_dir: Option<String>,
    /// The instance's ID: a process taken over by the next supd keeps
    /// the instance it was started in (its environment names the ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc_id: Option<String>,
    /// A journal record that only appends to the task's record before it
    /// (in the state file or the journal), for the same job: its
    /// `restart_times` are the restarts since, and its `cgroups` and
    /// `alloc_dir` are those of the record before (left out). A task that
    /// crash-loops thus writes a record of constant size per start, not
    /// its whole history each time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub appended: bool,
    /// In an appended record: its first slot is the newest slot of the
    /// record before, grown since (a restart joined it), and replaces it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grown: bool,
}

impl TaskSaved {
    fn key(&self) -> (&str, &str, u32, &str) {
        (&self.job, &self.group, self.index, &self.task)
    }

    /// The restart slots: (time in Unix milliseconds, restarts), oldest
    /// first. A count left out is 1.
    pub fn restart_slots(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        let counts = self.restart_counts.iter().copied().chain(std::iter::repeat(1));
        self.restart_times.iter().copied().zip(counts)
    }

    /// Sets the restart slots, leaving the counts out when each is 1.
    pub fn set_restart_slots(&mut self, slots: impl IntoIterator<Item = (u64, u32)>) {
        (self.restart_times, self.restart_counts) = slots.into_iter().unzip();
        if self.restart_counts.iter().all(|&n| n == 1) {
            self.restart_counts = Vec::new();
        }
    }

    /// Applies a journal record of the same task over this one.
    fn apply(&mut self, mut record: TaskSaved) {
        if record.appended && record.source_digest == self.source_digest {
            let mut slots: Vec<(u64, u32)> = self.restart_slots().collect();
            if record.grown {
                slots.pop();
            }
            slots.extend(record.restart_slots());
            record.set_restart_slots(slots);
            record.cgroups = std::mem::take(&mut self.cgroups);
            record.alloc_dir = self.alloc_dir.take();
        }
        record.appended = false;
        record.grown = false;
        *self = record;
    }
}

/// One journal record: a task's saved state as it is now (`task`), or
/// only the process a start made (`started`), which applies over the
/// task's record before it. A start is journaled twice (before the clone,
/// with the restart budget it spends, then with its pid): the second
/// record repeats nothing of the first, whose restart history can be long.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Record {
    seq: u64,
    #[serde(default)]
    task: Option<TaskSaved>,
    #[serde(default)]
    started: Option<Started>,
}

/// The process a task's start made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    pub pid: i32,
    pub start_ticks: Option<u64>,
}

/// A [`Record`] as written: the task borrowed, not copied.
#[derive(Serialize)]
struct RecordOut<'a> {
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<&'a TaskSaved>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<&'a Started>,
}

/// `state.journal`: an append-only file of task records (a start with its
/// pid and restart budget, an end), one JSON line each, written before
/// the loop goes on, so that a `kill -9` of supd loses none of them (the
/// page cache outlives the process; only a power loss needs fsync, which
/// the next full save gives). A full save (`state.json`) includes every
/// record up to its `journal_seq` and empties the journal.
#[derive(Debug, Default)]
pub struct Journal {
    file: Option<std::fs::File>,
    /// The sequence number of the last record written.
    pub seq: u64,
    /// Bytes written since the last full save.
    pub bytes: u64,
}

impl Journal {
    /// Appends one task record, in one write.
    pub fn append(&mut self, dir: &Path, task: &TaskSaved) -> std::io::Result<()> {
        self.write(dir, Some(task), None)
    }

    /// Appends the pid a start made, in one write.
    pub fn append_started(&mut self, dir: &Path, started: &Started) -> std::io::Result<()> {
        self.write(dir, None, Some(started))
    }

    fn write(&mut self, dir: &Path, task: Option<&TaskSaved>, started: Option<&Started>) -> std::io::Result<()> {
        if self.file.is_none() {
            private_dir(dir)?;
            self.file = Some(private_file().append(true).open(journal_path(dir))?);
        }
        self.seq += 1;
        let mut line =
            serde_json::to_vec(&RecordOut { seq: self.seq, task, started }).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        f.write_all(&line)?;
        self.bytes += line.len() as u64;
        Ok(())
    }
}

/// Forgets every saved state in `dir` (the state file, the journal, the
/// sealed sensitive sources): a start of supd as a container's PID 1 whose
/// state directory is in the container's own layer is a boot.
pub fn clear(dir: &Path) -> std::io::Result<()> {
    for f in [path(dir), journal_path(dir)] {
        match std::fs::remove_file(&f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    match std::fs::remove_dir_all(dir.join(SENSITIVE_DIR)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether `dir` (or, when it does not exist yet, its nearest existing
/// parent) is on another file system than `/`: a volume or a bind mount
/// in a container, whose content outlives the container's own layer.
pub fn on_a_volume(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(root) = std::fs::metadata("/") else { return false };
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Ok(m) = std::fs::metadata(d) {
            return m.dev() != root.dev();
        }
        at = d.parent();
    }
    false
}

fn journal_path(dir: &Path) -> PathBuf {
    dir.join("state.journal")
}

/// Applies the journal records newer than the state file over it. A last
/// line cut short (a crash in the middle of a write) is ignored.
fn replay(dir: &Path, saved: &mut Saved) {
    let Ok(text) = std::fs::read_to_string(journal_path(dir)) else { return };
    for line in text.lines() {
        let Ok(r) = serde_json::from_str::<Record>(line) else { continue };
        if r.seq <= saved.journal_seq {
            continue;
        }
        saved.journal_seq = r.seq;
        if let Some(mut task) = r.task {
            match saved.tasks.iter_mut().find(|t| t.key() == task.key()) {
                Some(t) => t.apply(task),
                None => {
                    task.appended = false;
                    saved.tasks.push(task);
                }
            }
        }
        if let Some(s) = r.started {
            let key = (s.job.as_str(), s.group.as_str(), s.index, s.task.as_str());
            if let Some(t) = saved.tasks.iter_mut().find(|t| t.key() == key) {
                t.pid = Some(s.pid);
                t.start_ticks = s.start_ticks;
                t.starting = false;
            }
        }
    }
}

/// A digest of a job's source text.
pub fn digest(source: &str) -> u64 {
    // FNV-1a: stable across builds, unlike std's hasher.
    source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The name the job was submitted under, for messages.
    pub file: String,
    /// The job's HCL, as submitted.
    pub source: String,
}

fn path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// The jobs saved in a state directory, as text, for a look before the
/// state is loaded: whether they may hold a word. Read once for all the
/// words asked (the state file of a thousand tasks is megabytes).
pub struct Mentions {
    text: Vec<u8>,
    /// A source kept apart (sealed, unreadable to this look) exists.
    sealed: bool,
}

impl Mentions {
    pub fn read(dir: &Path) -> Mentions {
        Mentions {
            text: std::fs::read(path(dir)).unwrap_or_default(),
            sealed: std::fs::read_dir(dir.join(SENSITIVE_DIR)).is_ok_and(|mut d| d.next().is_some()),
        }
    }

    /// Whether the saved jobs may hold `word`: the state file's text holds
    /// it, or a sealed source may.
    pub fn may_mention(&self, word: &[u8]) -> bool {
        let found = !word.is_empty() && self.text.windows(word.len()).any(|w| w == word);
        found || self.sealed
    }
}

/// Why the saved state was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Written by a newer supd: neither read nor overwritten.
    Newer { path: PathBuf, version: u32 },
    /// Not readable (rights, I/O): left as it is.
    Unreadable { path: PathBuf, error: String },
    /// Not state (cut short, edited by hand): kept under a name of its own,
    /// never overwritten; supd starts without it.
    Corrupt { path: PathBuf, error: String, kept_as: PathBuf },
    /// Not state, and it could not be moved aside: left as it is.
    Stuck { path: PathBuf, error: String, move_error: String },
}

impl LoadError {
    /// supd must not start: it would overwrite a state file it has not read.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, LoadError::Corrupt { .. })
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Newer { path, version } => write!(
                f,
                "{} was written by a newer supd (state version {version}; this supd reads up to {VERSION}) — \
                 run that supd, or move the file away to start this one without its state",
                path.display()
            ),
            LoadError::Unreadable { path, error } => write!(
                f,
                "cannot read {}: {error} — supd will not overwrite it: fix its permissions, or move it away",
                path.display()
            ),
            LoadError::Corrupt { path, error, kept_as } => write!(
                f,
                "{} is not valid state ({error}); kept as {} and starting without it",
                path.display(),
                kept_as.display()
            ),
            LoadError::Stuck { path, error, move_error } => write!(
                f,
                "{} is not valid state ({error}) and cannot be moved aside ({move_error}) — \
                 supd will not overwrite it: move it away, then start supd",
                path.display()
            ),
        }
    }
}

/// Reads the saved state; none yet is an empty state. A file of a newer
/// supd is refused as it is; one that cannot be read as state is moved
/// aside under a name with the time (`state.json.bad.20261128T101500.250Z`,
/// never replacing an earlier one), so that it can be examined.
pub fn load(dir: &Path) -> Result<Saved, LoadError> {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut s = Saved::default();
            replay(dir, &mut s);
            return Ok(s);
        }
        Err(e) => return Err(LoadError::Unreadable { path: p, error: e.to_string() }),
    };
    // The version first: a newer supd's file may not parse as this one's.
    #[derive(Deserialize)]
    struct Header {
        version: u32,
    }
    let parsed = serde_json::from_str::<Header>(&text).and_then(|h| {
        if h.version > VERSION {
            return Ok(Err(h.version));
        }
        serde_json::from_str::<Saved>(&text).map(Ok)
    });
    match parsed {
        Ok(Ok(mut s)) => {
            replay(dir, &mut s);
            unseal(dir, &mut s);
            Ok(s)
        }
        Ok(Err(version)) => Err(LoadError::Newer { path: p, version }),
        Err(e) => {
            let error = e.to_string();
            match keep_aside(dir, &p) {
                Ok(kept_as) => Err(LoadError::Corrupt { path: p, error, kept_as }),
                Err(m) => Err(LoadError::Stuck { path: p, error, move_error: m.to_string() }),
            }
        }
    }
}

/// Where the sources that hold the values of `sensitive` variables are kept:
/// each in a file of its own (0600, in a 0700 directory), named by its
/// digest, so that `state.json` holds no such value (only a reference).
const SENSITIVE_DIR: &str = "sensitive";
/// What stands in `state.json` for a source kept in [`SENSITIVE_DIR`].
const SEALED: &str = "# supd: sensitive source kept in sensitive/";

/// Every saved source, to look at or replace.
fn sources(s: &mut Saved) -> impl Iterator<Item = &mut String> {
    let submitted = s.submitted.iter_mut().map(|x| &mut x.source);
    let launched = s.periodic.iter_mut().flat_map(|p| p.launched.iter_mut().map(|l| &mut l.source));
    let dispatched = s.dispatched.iter_mut().map(|d| &mut d.source);
    let received = s.received.iter_mut().map(|e| &mut e.source);
    submitted.chain(launched).chain(dispatched).chain(received)
}

/// The state as written: each source that holds sensitive values (it
/// starts with their list, `jobspec::decode::SENSITIVE_MARK`) moved to a
/// file of its own, a reference left in its place; `None` when no source
/// does. Files no source refers to any more are removed.
fn seal(dir: &Path, state: &Saved) -> std::io::Result<Option<Saved>> {
    use std::os::unix::fs::DirBuilderExt;
    let mark = crate::jobspec::decode::SENSITIVE_MARK;
    let any = |s: &Saved| {
        s.submitted.iter().any(|x| x.source.starts_with(mark))
            || s.periodic.iter().flat_map(|p| &p.launched).any(|l| l.source.starts_with(mark))
            || s.dispatched.iter().any(|d| d.source.starts_with(mark))
            || s.received.iter().any(|e| e.source.starts_with(mark))
    };
    let keep = dir.join(SENSITIVE_DIR);
    if !any(state) {
        if keep.exists() {
            let _ = std::fs::remove_dir_all(&keep);
        }
        return Ok(None);
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&keep)?;
    let mut sealed = state.clone();
    let mut names = Vec::new();
    for source in sources(&mut sealed) {
        if !source.starts_with(mark) {
            continue;
        }
        let name = format!("{:016x}.hcl", digest(source));
        let file = keep.join(&name);
        if !file.exists() {
            let tmp = keep.join(format!("{name}.tmp"));
            private_file().write(true).truncate(true).open(&tmp)?.write_all(source.as_bytes())?;
            std::fs::rename(&tmp, &file)?;
        }
        *source = format!("{SEALED}{name}\n");
        names.push(name);
    }
    if let Ok(entries) = std::fs::read_dir(&keep) {
        for e in entries.flatten() {
            if !names.iter().any(|n| e.file_name().to_str() == Some(n.as_str())) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(Some(sealed))
}

/// The sources [`seal`] moved aside, put back; one whose file is gone
/// stays a reference (its job then does not load, and says why).
fn unseal(dir: &Path, state: &mut Saved) {
    for source in sources(state) {
        let Some(name) = source.strip_prefix(SEALED).map(|n| n.trim().to_string()) else { continue };
        if name.contains('/') {
            continue;
        }
        match std::fs::read_to_string(dir.join(SENSITIVE_DIR).join(&name)) {
            Ok(text) => *source = text,
            Err(e) => {
                log::error!("{}: {e}: the job saved with it is lost", dir.join(SENSITIVE_DIR).join(&name).display())
            }
        }
    }
}

/// Moves `file` to `state.json.bad.TIME` (then `…-1`, `-2`, … when taken),
/// never replacing a file already there.
fn keep_aside(dir: &Path, file: &Path) -> std::io::Result<PathBuf> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let stamp: String =
        crate::timefmt::rfc3339(std::time::SystemTime::now()).chars().filter(|c| *c != '-' && *c != ':').collect();
    for n in 0..1000 {
        let name = if n == 0 { format!("state.json.bad.{stamp}") } else { format!("state.json.bad.{stamp}-{n}") };
        let to = dir.join(name);
        match renameat2(AT_FDCWD, file, AT_FDCWD, &to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(to),
            Err(nix::errno::Errno::EEXIST) => continue,
            // A file system without RENAME_NOREPLACE: a new link cannot
            // replace anything either.
            Err(nix::errno::Errno::EINVAL) => match std::fs::hard_link(file, &to) {
                Ok(()) => return std::fs::remove_file(file).map(|()| to),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(std::io::Error::other("too many earlier copies"))
}

/// Writes the state atomically, then empties the journal it includes.
pub fn save_with(dir: &Path, state: &mut Saved, journal: &mut Journal) -> std::io::Result<()> {
    state.journal_seq = journal.seq;
    save(dir, state)?;
    if journal.bytes > 0 || journal.file.is_some() {
        journal.file = None;
        journal.bytes = 0;
        private_file().write(true).truncate(true).open(journal_path(dir))?;
    }
    Ok(())
}

/// State files are root's alone (0600: they hold the jobs' sources and
/// the variables given with them).
fn private_file() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.create(true).mode(0o600);
    o
}

/// The state directory: no one else may list it (0711: the allocation
/// directories below it, the default `data_dir`, stay reachable for tasks
/// that run as another user). One made wider by an earlier supd is
/// narrowed.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o711).create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o7777;
    if mode & 0o066 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & !0o066))?;
    }
    Ok(())
}

/// Writes the state atomically.
pub fn save(dir: &Path, state: &Saved) -> std::io::Result<()> {
    private_dir(dir)?;
    let tmp = dir.join("state.json.tmp");
    let sealed = seal(dir, state)?;
    let data = serde_json::to_vec_pretty(sealed.as_ref().unwrap_or(state)).map_err(std::io::Error::other)?;
    {
        let mut f = private_file().write(true).truncate(true).open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
