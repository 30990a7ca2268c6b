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

/// Whether the jobs saved in `dir` may hold `word`, without reading them
/// in: the state file's text holds it, or a source kept apart (sealed,
/// unreadable to this test) exists. For a look before the state is loaded.
pub fn may_mention(dir: &Path, word: &[u8]) -> bool {
    let found = |text: &[u8]| !word.is_empty() && text.windows(word.len()).any(|w| w == word);
    std::fs::read(path(dir)).is_ok_and(|b| found(&b))
        || std::fs::read_dir(dir.join(SENSITIVE_DIR)).is_ok_and(|mut d| d.next().is_some())
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
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_empty_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Saved::default());
        let s = Saved {
            version: VERSION,
            submitted: vec![Submitted { file: "web.hcl".into(), source: "job \"web\" {}\n".into() }],
            stopped: vec!["old".into()],
            tasks: vec![TaskSaved {
                job: "web".into(),
                group: "g".into(),
                index: 0,
                task: "t".into(),
                source_digest: digest("job \"web\" {}\n"),
                restart_times: vec![1_800_000_000_000, 1_800_000_001_000],
                restart_counts: vec![1, 40],
                restarts: 3,
                pid: Some(42),
                start_ticks: Some(1234),
                dead: false,
                failed: false,
                cgroups: Vec::new(),
                starting: false,
                alloc_dir: Some("0123".into()),
                alloc_id: Some("0123-4567".into()),
                appended: false,
                grown: false,
            }],
            instances: vec![InstanceSaved {
                job: "web".into(),
                group: "g".into(),
                index: 1,
                source_digest: 7,
                history: vec![crate::handoff::HistoryEntry::new(
                    std::time::UNIX_EPOCH,
                    "a",
                    Some("b"),
                    std::time::Duration::from_secs(5),
                    "task \"t\" failed",
                )],
                handed_off_to: Some("b".into()),
                handed_off_at: Some("2026-11-28T00:00:00.000Z".into()),
                received_from: None,
                handoff_id: Some("web/g/1/1".into()),
            }],
            received: Vec::new(),
            journal_seq: 0,
            periodic: vec![PeriodicSaved {
                job: "backup".into(),
                last_launch_ms: 1_796_403_600_000,
                launched: vec![LaunchedSaved { id: "backup/periodic-1796403600".into(), source: "job {}".into() }],
            }],
            dispatched: vec![DispatchedSaved {
                id: "render/dispatch-1796403600-0a1b2c3d".into(),
                source: "job {}".into(),
                meta: [("scene".to_string(), "kitchen".to_string())].into(),
                payload: Some("aGk=".into()),
            }],
            recalls: vec![Recall { peer: "b".into(), id: "web/g/1/1".into(), what: "web.g[1]".into() }],
            offers: vec![Recall { peer: "c".into(), id: "web/g/1/2".into(), what: "web.g[1]".into() }],
            withdrawn: vec![Withdrawn { from: "c".into(), id: "db/g/0/2".into() }],
        };
        save(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path()).unwrap(), s);
        assert!(!dir.path().join("state.json.tmp").exists());
    }

    /// Task `web.g[0]/t` of job digest 1, never started, directory `0123`.
    fn web_task() -> TaskSaved {
        TaskSaved {
            job: "web".into(),
            group: "g".into(),
            index: 0,
            task: "t".into(),
            source_digest: 1,
            restart_times: Vec::new(),
            restart_counts: Vec::new(),
            restarts: 0,
            pid: None,
            start_ticks: None,
            dead: false,
            failed: false,
            cgroups: Vec::new(),
            starting: false,
            alloc_dir: Some("0123".into()),
            alloc_id: None,
            appended: false,
            grown: false,
        }
    }

    #[test]
    fn journal_records_newer_than_the_state_apply_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let task = |pid| TaskSaved { pid: Some(pid), start_ticks: Some(5), alloc_dir: None, ..web_task() };
        let mut j = Journal::default();
        j.append(dir.path(), &task(10)).unwrap();
        let mut s = Saved { version: VERSION, tasks: vec![task(10)], ..Default::default() };
        save_with(dir.path(), &mut s, &mut j).unwrap();
        j.append(dir.path(), &task(11)).unwrap();
        j.append(dir.path(), &task(12)).unwrap();
        // A record cut short by a crash.
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("state.journal")).unwrap();
        f.write_all(b"{\"seq\": 4, \"task\": {").unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.tasks.len(), 1);
        assert_eq!(loaded.tasks[0].pid, Some(12));
        // A full save empties the journal: older records never apply again.
        let mut s = loaded;
        s.tasks[0].pid = Some(13);
        save_with(dir.path(), &mut s, &mut j).unwrap();
        assert_eq!(load(dir.path()).unwrap().tasks[0].pid, Some(13));
    }

    #[test]
    fn a_start_record_applies_its_pid_over_the_task_record_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let starting = TaskSaved { restart_times: vec![1000, 2000], restarts: 2, starting: true, ..web_task() };
        let mut j = Journal::default();
        j.append(dir.path(), &starting).unwrap();
        let started = |task: &str, pid| Started {
            job: "web".into(),
            group: "g".into(),
            index: 0,
            task: task.into(),
            pid,
            start_ticks: Some(7),
        };
        j.append_started(dir.path(), &started("t", 42)).unwrap();
        // A start of a task the journal never named changes nothing.
        j.append_started(dir.path(), &started("other", 43)).unwrap();
        let line = std::fs::read_to_string(dir.path().join("state.journal")).unwrap();
        assert!(!line.lines().nth(1).unwrap().contains("restart_times"), "{line}");
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.tasks.len(), 1);
        let t = &loaded.tasks[0];
        assert_eq!((t.pid, t.start_ticks, t.starting), (Some(42), Some(7), false));
        assert_eq!((t.restarts, t.restart_times.clone()), (2, vec![1000, 2000]));
        assert_eq!(t.alloc_dir.as_deref(), Some("0123"), "the start keeps the directory's name");
    }

    #[test]
    fn appended_records_add_their_restarts_to_the_record_before() {
        let dir = tempfile::tempdir().unwrap();
        let full = TaskSaved {
            restart_times: vec![1000, 2000],
            restarts: 2,
            pid: Some(5),
            start_ticks: Some(6),
            cgroups: vec!["/sys/fs/cgroup/supd/web.g.0.t".into()],
            ..web_task()
        };
        let mut j = Journal::default();
        let mut s = Saved { version: VERSION, tasks: vec![full.clone()], ..Default::default() };
        save_with(dir.path(), &mut s, &mut j).unwrap();
        let appended = |times: Vec<u64>, restarts, digest| TaskSaved {
            restart_times: times,
            restarts,
            source_digest: digest,
            pid: None,
            start_ticks: None,
            cgroups: Vec::new(),
            starting: true,
            alloc_dir: None,
            appended: true,
            ..full.clone()
        };
        j.append(dir.path(), &appended(vec![3000], 3, 1)).unwrap();
        j.append(dir.path(), &appended(vec![4000, 5000], 5, 1)).unwrap();
        let line = std::fs::read_to_string(dir.path().join("state.journal")).unwrap();
        assert!(!line.contains("1000,") && !line.contains("/sys/fs/cgroup"), "only what is new: {line}");
        let t = &load(dir.path()).unwrap().tasks[0];
        assert_eq!(t.restart_times, vec![1000, 2000, 3000, 4000, 5000]);
        assert_eq!((t.restarts, t.pid, t.starting, t.appended), (5, None, true, false));
        assert_eq!((t.cgroups.clone(), t.alloc_dir.clone()), (full.cgroups.clone(), full.alloc_dir.clone()));
        // A record of another job (a new digest) replaces the history.
        j.append(dir.path(), &appended(vec![9000], 1, 2)).unwrap();
        let t = &load(dir.path()).unwrap().tasks[0];
        assert_eq!((t.restart_times.clone(), t.source_digest), (vec![9000], 2));
    }

    #[test]
    fn restart_slots_merge_across_appended_records_and_old_files_load() {
        let dir = tempfile::tempdir().unwrap();
        // A file written before slots: no counts, each time one restart.
        let old = r#"{"version": VERSION_HERE, "tasks": [{"job": "web", "group": "g", "index": 0, "task": "t",
            "source_digest": 1, "restart_times": [1000, 2000], "restarts": 2, "pid": null, "start_ticks": null}]}"#;
        std::fs::write(dir.path().join("state.json"), old.replace("VERSION_HERE", &VERSION.to_string())).unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.tasks[0].restart_slots().collect::<Vec<_>>(), vec![(1000, 1), (2000, 1)]);

        let mut j = Journal::default();
        let mut full = web_task();
        full.set_restart_slots([(1000, 1), (2000, 3)]);
        full.restarts = 4;
        let mut s = Saved { version: VERSION, tasks: vec![full.clone()], ..Default::default() };
        save_with(dir.path(), &mut s, &mut j).unwrap();
        let appended = |slots: &[(u64, u32)], grown, restarts| {
            let mut t = TaskSaved { restarts, alloc_dir: None, appended: true, grown, ..web_task() };
            t.set_restart_slots(slots.iter().copied());
            t
        };
        // The newest slot grew (2000 ×3 → 2500 ×5), then a new one.
        j.append(dir.path(), &appended(&[(2500, 5)], true, 6)).unwrap();
        j.append(dir.path(), &appended(&[(9000, 1)], false, 7)).unwrap();
        // Then that one grew, and another came.
        j.append(dir.path(), &appended(&[(9100, 2), (20000, 1)], true, 9)).unwrap();
        let journal = std::fs::read_to_string(dir.path().join("state.journal")).unwrap();
        assert!(!journal.contains("1000"), "only what changed: {journal}");
        let t = &load(dir.path()).unwrap().tasks[0];
        assert_eq!(t.restart_slots().collect::<Vec<_>>(), vec![(1000, 1), (2500, 5), (9100, 2), (20000, 1)]);
        assert_eq!(t.restart_slots().map(|(_, n)| n).sum::<u32>(), t.restarts);
        assert_eq!((t.appended, t.grown, t.alloc_dir.as_deref()), (false, false, Some("0123")));

        // Counts of 1 are left out of the file.
        let mut s =
            Saved { version: VERSION, tasks: vec![appended(&[(1, 1), (2, 1)], false, 2)], ..Default::default() };
        save_with(dir.path(), &mut s, &mut j).unwrap();
        let text = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
        assert!(!text.contains("restart_counts") && text.contains("restart_times"), "{text}");
    }

    #[test]
    fn digests_differ() {
        assert_ne!(digest("a"), digest("b"));
    }

    #[test]
    fn a_corrupt_file_is_kept_under_a_new_name_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut kept = Vec::new();
        for text in ["{ not json", "{\"version\": \"one\"}", "{\"version\": 1, \"tasks\": 3}"] {
            std::fs::write(dir.path().join("state.json"), text).unwrap();
            let e = load(dir.path()).unwrap_err();
            assert!(!e.is_fatal(), "{e}");
            let LoadError::Corrupt { kept_as, .. } = e else { panic!("{e}") };
            assert_eq!(std::fs::read_to_string(&kept_as).unwrap(), text);
            kept.push(kept_as);
        }
        kept.dedup();
        assert_eq!(kept.len(), 3, "each copy has its own name: {kept:?}");
        assert_eq!(load(dir.path()).unwrap(), Saved::default());
    }

    #[test]
    fn a_newer_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // Fields this supd does not know, of types it would not read.
        let text = "{\"version\": 7, \"tasks\": {\"new\": \"shape\"}}";
        std::fs::write(dir.path().join("state.json"), text).unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(e.is_fatal());
        assert!(e.to_string().contains("newer supd (state version 7; this supd reads up to 1)"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.path().join("state.json")).unwrap(), text);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
