//! cgroups for tasks, written directly against the cgroup files: v2
//! (unified), v1, and the hybrid of both (v1 controllers beside a v2 mount
//! that only tracks processes). Each task gets its own cgroup under a supd
//! parent in every hierarchy supd uses: its memory limit and cpu weight are
//! set there, its processes join it before they exec, its OOM kills are
//! counted there, and on its end whatever it left behind is killed through
//! it, however far it wandered from the task's process group.
//!
//! The layout is read from /proc/self/mountinfo and /proc/self/cgroup by
//! pure functions ([`parse_mountinfo`], [`plan`]); [`Cgroups::setup`] then
//! makes the parent directories and keeps the list of what could not be
//! set up, so that supd says so instead of running tasks silently without
//! limits.

mod files;
mod layout;
mod limits;
mod task;

pub use layout::{Kind, Mount, Place, Plan, parse_mountinfo, parse_proc_cgroup, plan, unescape, unified};
pub use limits::{mhz_to_quota, mhz_to_shares, shares_to_weight};
pub use task::{Limits, NotEnforced, TaskCgroup, Usage, holds, stop_leftovers};

use crate::jobspec::model::Resources;
use files::write;
use std::io;
use std::path::{Path, PathBuf};
use task::Dir;

/// What supd.toml says about cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `cgroup_parent`: relative to supd's own cgroup, or absolute from the
    /// root of each hierarchy.
    pub parent: String,
    /// `cpu_hard_limit`: a quota of `cpu` MHz instead of a weight.
    pub hard_cpu: bool,
    /// MHz of one core, to turn MHz into a quota.
    pub mhz_per_core: Option<u64>,
}

/// A hierarchy in use: the parent of the tasks' cgroups in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Role {
    v2: bool,
    controller: &'static str,
    parent: PathBuf,
}

/// The cgroup set-up of this supd: which hierarchies hold the tasks, and
/// what could not be set up.
#[derive(Debug, Clone, Default)]
pub struct Cgroups {
    pub kind: Kind,
    memory: Option<Role>,
    cpu: Option<Role>,
    acct: Option<Role>,
    track: Option<Role>,
    hard_cpu: bool,
    mhz_per_core: Option<u64>,
    /// What is not enforced and why, for the startup warning and `status`.
    pub problems: Vec<String>,
    /// The `tasks` file of supd's own cgroup in a v1 hierarchy its tasks
    /// join: see [`migrate_self`].
    warm: Option<PathBuf>,
}

/// The name supd moves itself to when its own v2 cgroup must hand its
/// controllers down (a cgroup with processes cannot).
const DAEMON_LEAF: &str = "supd.daemon";

/// Why a cgroup could not be made, joined, limited or killed, or a parent
/// of tasks' cgroups not used.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `cgroup_parent` is not a cgroup name.
    #[error("cgroup_parent {0:?} is not a cgroup name — use names separated by /, e.g. \"supd\" or \"/supd\"")]
    BadParent(String),
    /// A task's name that cannot name a cgroup directory.
    #[error("cannot name a cgroup: {0}")]
    Name(#[source] crate::names::PathError),
    /// A parent of the tasks' cgroups could not be made.
    #[error("cannot create {}: {source}", path.display())]
    CreateParent {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// supd may not make cgroups in a parent (made by root earlier).
    #[error("cannot make task cgroups in {}: {source}", path.display())]
    NotWritable {
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    /// A task's cgroup could not be made (EBUSY: one of that name still
    /// holds processes).
    #[error("cannot create the cgroup {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// None of the saved cgroups of a task taken over is in this set-up.
    #[error("none of the task's saved cgroups is left")]
    SavedGone,
    /// A limit could not be written.
    #[error("cannot write {value} to {}: {source}", path.display())]
    Write {
        value: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The cgroup could not be opened for a child to join.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `cgroup.kill` could not be written.
    #[error("cannot kill the cgroup {}: {source}", path.display())]
    Kill {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The cgroup could not be thawed after its processes were killed.
    #[error("cannot thaw {}: {source}", path.display())]
    Thaw {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Cgroups {
    /// No cgroups: every task runs without limits, for this reason.
    pub fn disabled(reason: &str) -> Cgroups {
        Cgroups { problems: vec![format!("cpu and memory limits are not enforced: {reason}")], ..Cgroups::default() }
    }

    /// Detects the layout and makes the parent cgroups. Never fails: what
    /// cannot be done is listed in `problems`.
    pub fn setup(opts: &Options) -> Cgroups {
        let p = detect();
        let mut cg =
            Cgroups { kind: p.kind, hard_cpu: opts.hard_cpu, mhz_per_core: opts.mhz_per_core, ..Cgroups::default() };
        if p.kind == Kind::None {
            cg.problems.push("cpu and memory limits are not enforced: no cgroup filesystem is mounted".into());
            return cg;
        }
        if let Err(e) = check_parent(&opts.parent) {
            cg.problems.push(format!("cpu and memory limits are not enforced: {e}"));
            return cg;
        }
        let mut parents = Parents::new(&opts.parent, &p);
        let mut problems = Vec::new();
        cg.memory = parents.pick(&p.memory, Some("memory"), "memory limits are not enforced", &mut problems);
        cg.cpu = parents.pick(&p.cpu, Some("cpu"), "cpu weights are not enforced", &mut problems);
        cg.acct = parents.pick(&p.acct, None, "cpu time of tasks is not reported", &mut problems);
        cg.track = parents.pick(
            &p.track,
            None,
            "task processes are not tracked by cgroup (stop relies on process groups)",
            &mut problems,
        );
        if opts.hard_cpu && cg.cpu.is_some() && opts.mhz_per_core.is_none() {
            problems.push(
                "cpu_hard_limit: the cpu frequency of this host is unknown, so cpu stays a weight — set cpu_total_compute"
                    .into(),
            );
        }
        cg.problems = problems;
        cg.warm = cg.own_v1_tasks(&p);
        cg.remove_stale();
        cg
    }

    /// The `tasks` file of supd's own cgroup in the first v1 hierarchy
    /// (memory, cpu, cpu time, tracking) its tasks join, if any: see
    /// [`migrate_self`].
    fn own_v1_tasks(&self, p: &Plan) -> Option<PathBuf> {
        let own_tasks = |role: &Option<Role>, places: &[Place]| {
            let role = role.as_ref().filter(|r| !r.v2)?;
            places.iter().find(|pl| !pl.v2 && pl.controller == role.controller).map(|pl| pl.own.join("tasks"))
        };
        own_tasks(&self.memory, &p.memory)
            .or_else(|| own_tasks(&self.cpu, &p.cpu))
            .or_else(|| own_tasks(&self.acct, &p.acct))
            .or_else(|| own_tasks(&self.track, &p.track))
    }

    /// Where [`migrate_self`] warms the cgroup core up before a task joins
    /// its v1 cgroups; `None` when no task joins one.
    pub fn warm_file(&self) -> Option<PathBuf> {
        self.warm.clone()
    }

    /// Whether any limit can be set.
    pub fn enforcing(&self) -> bool {
        self.memory.is_some() || self.cpu.is_some()
    }

    /// Whether tasks get cgroups at all.
    pub fn active(&self) -> bool {
        self.memory.is_some() || self.cpu.is_some() || self.acct.is_some() || self.track.is_some()
    }

    /// One line for the log and `status`: the layout and what does what.
    pub fn summary(&self) -> String {
        let role = |r: &Option<Role>| match r {
            Some(r) if r.v2 => "v2".to_string(),
            Some(r) => format!("v1 {}", r.controller),
            None => "none".to_string(),
        };
        let parent = [&self.memory, &self.cpu, &self.track, &self.acct]
            .into_iter()
            .flatten()
            .next()
            .map_or(String::new(), |r| format!(", parent {}", r.parent.display()));
        format!(
            "{}: memory {}, cpu {}{}, cpu time {}, kill {}{parent}",
            self.kind.as_str(),
            role(&self.memory),
            role(&self.cpu),
            if self.hard_cpu && self.mhz_per_core.is_some() { " (hard quota)" } else { "" },
            role(&self.acct),
            role(&self.track),
        )
    }

    fn roles(&self) -> impl Iterator<Item = &Role> {
        [&self.memory, &self.cpu, &self.acct, &self.track].into_iter().flatten()
    }

    /// Removes the empty task cgroups a crashed supd left behind. One
    /// made in the last minute may be another supd's, about to be joined
    /// (several may share a parent): it stays.
    fn remove_stale(&self) {
        let now = std::time::SystemTime::now();
        let mut walked: Vec<&Path> = Vec::new();
        for r in self.roles() {
            // Roles that share a parent (v2 tracking and cpu time) walk it once.
            if walked.contains(&r.parent.as_path()) {
                continue;
            }
            walked.push(&r.parent);
            let Ok(entries) = std::fs::read_dir(&r.parent) else { continue };
            for e in entries.flatten() {
                // The directory's own listing says which entries are
                // directories: a parent's dozens of control files cost no
                // stat each (this runs before the first task starts).
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let old =
                    e.metadata().ok().and_then(|m| m.modified().ok()).is_some_and(|t| {
                        now.duration_since(t).is_ok_and(|age| age > std::time::Duration::from_secs(60))
                    });
                if old {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    }

    /// Removes the parent cgroups when nothing is left in them (at exit).
    pub fn remove_parents(&self) {
        for r in self.roles() {
            let _ = std::fs::remove_dir(&r.parent);
        }
    }

    /// Makes the cgroup of one task and sets its limits (a task without
    /// `resources` gets a tracking cgroup only). `name` must be
    /// unique among the tasks of this supd, and one plain file name (see
    /// [`crate::names::beneath`]).
    ///
    /// A cgroup of that name left by an earlier supd is made afresh: a
    /// cgroup that was killed through `cgroup.kill` kills every process
    /// later cloned into it (see [`TaskCgroup::kill_all`]). One that still
    /// holds processes cannot be, and the task gets the next free name
    /// (`NAME~2`, `NAME~3`, ...).
    pub fn create(&self, name: &str, res: &Resources) -> Result<TaskCgroup, CgroupError> {
        let name = if name.starts_with('.') { format!("_{name}") } else { name.to_string() };
        let mut n = 1;
        loop {
            let named = if n == 1 { name.clone() } else { format!("{name}~{n}") };
            match self.create_named(&named, res) {
                // The last name tried says why.
                Err(Made::Busy(_)) if n < MAX_NAMES => n += 1,
                Err(Made::Busy(e) | Made::Failed(e)) => return Err(e),
                Ok(cg) => return Ok(cg),
            }
        }
    }

    /// The cgroup a task's process already runs in, made by an earlier
    /// image of supd or a previous supd (its directories as saved), for a
    /// task whose process is taken over: each directory is matched to this
    /// set-up's hierarchies as [`create`](Self::create) would pick them;
    /// nothing is made or removed, and the limits are written again (the
    /// same job, so the same values).
    pub fn reopen(&self, saved: &[PathBuf], res: &Resources) -> Result<TaskCgroup, CgroupError> {
        let mut cg = TaskCgroup::default();
        let find = |r: &Option<Role>, cg: &mut TaskCgroup| -> Option<u8> {
            let r = r.as_ref()?;
            // Not looked at on disk (a thousand tasks taken over at once
            // would each pay the path walks): a directory removed under
            // supd fails the next run's join, which makes a new one.
            let path = saved.iter().find(|p| p.parent() == Some(r.parent.as_path()))?;
            cg.role_of(Dir { v2: r.v2, path: std::sync::Arc::from(path.as_path()) })
        };
        if !res.declared {
            let beside_track =
                |r: &Option<Role>| r.clone().filter(|r| self.track.as_ref().is_some_and(|t| t.parent == r.parent));
            cg.track = find(&self.track, &mut cg);
            cg.memory = find(&beside_track(&self.memory), &mut cg);
            cg.acct = find(&beside_track(&self.acct), &mut cg);
            cg.limits.not_enforced = NotEnforced::ALL;
        } else {
            cg.memory = find(&self.memory, &mut cg);
            cg.cpu = find(&self.cpu, &mut cg);
            cg.acct = find(&self.acct, &mut cg);
            cg.track = find(&self.track, &mut cg);
            cg.set_limits(res, self)?;
            if self.memory.is_none() {
                cg.limits.not_enforced.memory = true;
            }
            if self.cpu.is_none() {
                cg.limits.not_enforced.cpu = true;
            }
        }
        if cg.dirs.is_empty() {
            return Err(CgroupError::SavedGone);
        }
        // Its counters are read as of now (the run began before).
        cg.stale = true;
        cg.started();
        Ok(cg)
    }

    fn create_named(&self, name: &str, res: &Resources) -> Result<TaskCgroup, Made> {
        let mut cg = TaskCgroup::default();
        let dir_of = |r: &Option<Role>, cg: &mut TaskCgroup| -> Result<Option<u8>, Made> {
            let Some(r) = r else { return Ok(None) };
            let path = crate::names::beneath(&r.parent, &[name]).map_err(|e| Made::Failed(CgroupError::Name(e)))?;
            if let Some(at) = cg.dirs.iter().position(|x| *x.path == *path) {
                return Ok(u8::try_from(at).ok());
            }
            if let Err(source) = make_dir(&r.parent, &path, r.v2) {
                let busy = source.raw_os_error() == Some(libc::EBUSY);
                let e = CgroupError::Create { path, source };
                return Err(if busy { Made::Busy(e) } else { Made::Failed(e) });
            }
            Ok(cg.role_of(Dir { v2: r.v2, path: std::sync::Arc::from(path) }))
        };
        if !res.declared {
            // No `resources`: a cgroup that only tracks the task (v2 where
            // there is one, which the child is made in: no migration),
            // with the memory and cpu time it counts there, and no limit.
            let beside_track =
                |r: &Option<Role>| r.clone().filter(|r| self.track.as_ref().is_some_and(|t| t.parent == r.parent));
            let made = (|| -> Result<(), Made> {
                cg.track = dir_of(&self.track, &mut cg)?;
                cg.memory = dir_of(&beside_track(&self.memory), &mut cg)?;
                cg.acct = dir_of(&beside_track(&self.acct), &mut cg)?;
                Ok(())
            })();
            if let Err(e) = made {
                let _ = cg.remove();
                return Err(e);
            }
            cg.limits.not_enforced = NotEnforced::ALL;
            // Kept for the task's life: no spare room.
            cg.dirs.shrink_to_fit();
            return Ok(cg);
        }
        let made = (|| -> Result<(), Made> {
            cg.memory = dir_of(&self.memory, &mut cg)?;
            cg.cpu = dir_of(&self.cpu, &mut cg)?;
            cg.acct = dir_of(&self.acct, &mut cg)?;
            cg.track = dir_of(&self.track, &mut cg)?;
            Ok(())
        })();
        if let Err(e) = made.and_then(|()| cg.set_limits(res, self).map_err(Made::Failed)) {
            let _ = cg.remove();
            return Err(e);
        }
        if self.memory.is_none() {
            cg.limits.not_enforced.memory = true;
        }
        if self.cpu.is_none() {
            cg.limits.not_enforced.cpu = true;
        }
        cg.dirs.shrink_to_fit();
        Ok(cg)
    }
}

/// Moves the calling thread into the v1 cgroup whose `tasks` file this is:
/// its own, so nothing changes, but the move takes the cgroup core's
/// threadgroup lock for writing. After a quiet spell the first such writer
/// waits for an RCU grace period; the writers in the next few milliseconds
/// (a child joining its cgroups) do not.
pub fn migrate_self(tasks: &Path) -> io::Result<()> {
    use std::io::Write;
    let tid = nix::unistd::gettid().as_raw();
    std::fs::OpenOptions::new().write(true).open(tasks)?.write_all(tid.to_string().as_bytes())
}

/// The cgroup layout of this host, as /proc/self/mountinfo and
/// /proc/self/cgroup show it to supd.
fn detect() -> Plan {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = parse_mountinfo(&mountinfo);
    let v2_controllers: Vec<String> = unified(&mounts, &own)
        .and_then(|d| std::fs::read_to_string(d.join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    plan(&mounts, &own, &v2_controllers)
}

/// The parents of the tasks' cgroups as [`Cgroups::setup`] makes them,
/// one per hierarchy used.
struct Parents<'a> {
    /// `cgroup_parent`.
    parent: &'a str,
    /// The v2 controllers supd needs handed down to its tasks.
    want_v2: Vec<&'static str>,
    /// Each hierarchy is prepared once; the result says which v2
    /// controllers its tasks get, or why it cannot be used.
    prepared: Vec<(PathBuf, Result<Vec<String>, CgroupError>)>,
}

impl<'a> Parents<'a> {
    /// Nothing prepared yet, for the layout `p` and `cgroup_parent`.
    fn new(parent: &'a str, p: &Plan) -> Parents<'a> {
        // The v2 controllers supd needs handed down to its tasks.
        let mut want_v2: Vec<&'static str> = Vec::new();
        if p.memory.first().is_some_and(|pl| pl.v2) {
            want_v2.push("memory");
        }
        if p.cpu.first().is_some_and(|pl| pl.v2) {
            want_v2.push("cpu");
        }
        Parents { parent, want_v2, prepared: Vec::new() }
    }

    /// The parent in `pl`'s hierarchy, made (once) with what its tasks get.
    fn prepare(&mut self, pl: &Place) -> (PathBuf, &Result<Vec<String>, CgroupError>) {
        let target = parent_dir(pl, self.parent);
        let at = match self.prepared.iter().position(|(t, _)| *t == target) {
            Some(at) => at,
            None => {
                let r = if pl.v2 { prepare_v2(&pl.own, &target, &self.want_v2) } else { prepare_v1(&target) };
                self.prepared.push((target.clone(), r));
                self.prepared.len() - 1
            }
        };
        (target, &self.prepared[at].1)
    }

    /// The first of `places` (best first) whose parent can be made and,
    /// in v2, gets the controller `needs`; else why not, in `problems`
    /// after `what`.
    fn pick(&mut self, places: &[Place], needs: Option<&str>, what: &str, problems: &mut Vec<String>) -> Option<Role> {
        let mut why = String::new();
        for pl in places {
            let (parent, r) = self.prepare(pl);
            match r {
                Ok(enabled) if !pl.v2 || needs.is_none_or(|c| enabled.iter().any(|e| e == c)) => {
                    return Some(Role { v2: pl.v2, controller: pl.controller, parent });
                }
                Ok(_) => {
                    why = format!(
                        "the {} controller cannot be handed down to {} (cgroup.subtree_control)",
                        needs.unwrap_or_default(),
                        parent.display()
                    )
                }
                Err(e) => why = e.to_string(),
            }
        }
        if why.is_empty() {
            why = match needs {
                Some(c) => format!("no {c} controller is mounted"),
                None => "no usable cgroup hierarchy".into(),
            };
        }
        problems.push(format!("{what}: {why}"));
        None
    }
}

/// `cgroup_parent` must name a cgroup below supd's own (or the root):
/// plain names separated by `/`.
pub fn check_parent(parent: &str) -> Result<(), CgroupError> {
    let rel = parent.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(CgroupError::BadParent(parent.to_string()));
    }
    Ok(())
}

/// The parent cgroup of the tasks in a hierarchy: relative to supd's own
/// cgroup, or (with a leading `/`) to the root of the mount.
fn parent_dir(pl: &Place, parent: &str) -> PathBuf {
    match parent.strip_prefix('/') {
        Some(abs) => pl.mount.join(abs.trim_start_matches('/')),
        None => pl.own.join(parent),
    }
}

fn prepare_v1(target: &Path) -> Result<Vec<String>, CgroupError> {
    create_parent(target)?;
    writable(target)?;
    // New memory cgroups take their swappiness from their parent: set once
    // here, not for every task (as Nomad does; refused in some nested
    // hierarchies, which is harmless).
    let swappiness = target.join("memory.swappiness");
    if swappiness.exists() {
        let _ = write(&swappiness, "0");
    }
    Ok(Vec::new())
}

/// Whether supd may make task cgroups in `dir` (a parent made earlier by
/// root is not writable for an unprivileged supd).
fn writable(dir: &Path) -> Result<(), CgroupError> {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK)
        .map_err(|source| CgroupError::NotWritable { path: dir.to_path_buf(), source })
}

/// Makes a parent of tasks' cgroups, and those above it.
fn create_parent(target: &Path) -> Result<(), CgroupError> {
    std::fs::create_dir_all(target).map_err(|source| CgroupError::CreateParent { path: target.to_path_buf(), source })
}

/// Makes the v2 parent and hands the wanted controllers down from supd's
/// own cgroup to it and its children; returns those its children get.
fn prepare_v2(own: &Path, target: &Path, want: &[&str]) -> Result<Vec<String>, CgroupError> {
    create_parent(target)?;
    writable(target)?;
    if want.is_empty() {
        return Ok(Vec::new());
    }
    let mut chain = vec![own.to_path_buf()];
    if let Ok(rel) = target.strip_prefix(own) {
        let mut d = own.to_path_buf();
        for c in rel.components() {
            d.push(c);
            chain.push(d.clone());
        }
    }
    for (i, dir) in chain.iter().enumerate() {
        for c in want {
            let r = write(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
            if i == 0 && r.as_ref().is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY)) {
                // supd's own cgroup has processes (supd itself, under
                // systemd's delegation): it may not hand controllers down
                // until supd moves into a leaf of its own.
                let leaf = own.join(DAEMON_LEAF);
                let moved = std::fs::create_dir_all(&leaf)
                    .and_then(|()| write(&leaf.join("cgroup.procs"), &std::process::id().to_string()))
                    .and_then(|()| write(&dir.join("cgroup.subtree_control"), &format!("+{c}")));
                if let Err(e) = moved {
                    log::debug!("cannot move supd into {}: {e}", leaf.display());
                }
            }
        }
    }
    let enabled = std::fs::read_to_string(target.join("cgroup.subtree_control")).unwrap_or_default();
    Ok(enabled.split_whitespace().map(str::to_string).collect())
}

/// How many names [`Cgroups::create`] tries for one task.
const MAX_NAMES: u32 = 8;

/// Why a task's cgroup was not made.
enum Made {
    /// A cgroup of that name holds processes: another name may do.
    Busy(CgroupError),
    Failed(CgroupError),
}

/// Makes a task's cgroup, afresh: one of that name is removed first (it
/// fails with EBUSY while processes are in it). Its parent is made again
/// if another supd sharing it removed it meanwhile.
fn make_dir(parent: &Path, dir: &Path, v2: bool) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_dir(dir)?;
            std::fs::create_dir(dir)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(parent)?;
            if v2 && let Some(grand) = parent.parent() {
                // Hand the controllers of the grandparent down again.
                let ctl = std::fs::read_to_string(grand.join("cgroup.subtree_control")).unwrap_or_default();
                for c in ctl.split_whitespace() {
                    let _ = write(&parent.join("cgroup.subtree_control"), &format!("+{c}"));
                }
            }
            std::fs::create_dir(dir)
        }
        Err(e) => Err(e),
    }
}

/// What supd's own cgroups allow it, a container's limits: the lowest
/// memory limit (bytes) and cpu quota (cores) on the way from its own
/// cgroup up to the top of each mount it sees; `None` where nothing
/// limits. v2 `memory.max` and `cpu.max`, v1 `memory.limit_in_bytes` and
/// `cpu.cfs_quota_us` / `cpu.cfs_period_us`.
pub fn own_limits(mounts: &[Mount], proc_self_cgroup: &str) -> (Option<u64>, Option<f64>) {
    let own = parse_proc_cgroup(proc_self_cgroup);
    let read = |p: PathBuf| std::fs::read_to_string(p).ok().map(|t| t.trim().to_string());
    let (mut memory, mut cpus): (Option<u64>, Option<f64>) = (None, None);
    for m in mounts {
        let path = if m.v2 {
            own.iter().find(|(c, _)| c.is_empty())
        } else {
            own.iter().find(|(c, _)| c.iter().any(|x| m.controllers.contains(x)))
        };
        let Some((_, path)) = path else { continue };
        let has = |c: &str| m.v2 || m.controllers.iter().any(|x| x == c);
        let mut dir = layout::own_dir(m, path);
        loop {
            let mem = if !has("memory") {
                None
            } else if m.v2 {
                read(dir.join("memory.max")).and_then(|v| v.parse::<u64>().ok())
            } else {
                // v1's "no limit" is the largest page-aligned i64.
                read(dir.join("memory.limit_in_bytes")).and_then(|v| v.parse::<u64>().ok()).filter(|v| *v < 1 << 62)
            };
            let cpu = if !has("cpu") {
                None
            } else if m.v2 {
                read(dir.join("cpu.max")).and_then(|v| {
                    let (quota, period) = v.split_once(' ')?;
                    Some(quota.parse::<f64>().ok()? / period.parse::<f64>().ok().filter(|p| *p > 0.0)?)
                })
            } else {
                let quota = read(dir.join("cpu.cfs_quota_us")).and_then(|v| v.parse::<f64>().ok()).filter(|q| *q > 0.0);
                let period =
                    read(dir.join("cpu.cfs_period_us")).and_then(|v| v.parse::<f64>().ok()).filter(|p| *p > 0.0);
                quota.zip(period).map(|(q, p)| q / p)
            };
            if let Some(v) = mem {
                memory = Some(memory.map_or(v, |x| x.min(v)));
            }
            if let Some(v) = cpu {
                cpus = Some(cpus.map_or(v, |x| x.min(v)));
            }
            if dir == m.point || !dir.starts_with(&m.point) {
                break;
            }
            let Some(up) = dir.parent() else { break };
            dir = up.to_path_buf();
        }
    }
    (memory, cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At start, a task cgroup a crashed supd left (an empty directory over
    /// a minute old) is removed from each parent, also from one two roles
    /// share; a fresh one (another supd's, about to be joined) and the
    /// parent's own files stay.
    #[test]
    fn stale_task_cgroups_are_removed_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let (v1, v2) = (d.path().join("memory"), d.path().join("unified"));
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        for parent in [&v1, &v2] {
            for name in ["left", "fresh"] {
                std::fs::create_dir_all(parent.join(name)).unwrap();
            }
            std::fs::write(parent.join("cgroup.procs"), "").unwrap();
            for name in ["left", "cgroup.procs"] {
                std::fs::File::open(parent.join(name)).unwrap().set_modified(old).unwrap();
            }
        }
        let role = |v2: bool, controller, parent: &Path| Some(Role { v2, controller, parent: parent.to_path_buf() });
        let cg = Cgroups {
            memory: role(false, "memory", &v1),
            acct: role(true, "cpu", &v2),
            track: role(true, "", &v2),
            ..Cgroups::default()
        };
        cg.remove_stale();
        for parent in [&v1, &v2] {
            assert!(!parent.join("left").exists(), "{}: the stale cgroup is removed", parent.display());
            assert!(parent.join("fresh").is_dir() && parent.join("cgroup.procs").is_file(), "{}", parent.display());
        }
    }

    /// A container's limits, as its own cgroups show them: the lowest on
    /// the way up, v1 and v2, "max" and -1 being none.
    #[test]
    fn own_limits_are_the_lowest_on_the_way_up() {
        let d = tempfile::tempdir().unwrap();
        let v2 = d.path().join("unified");
        let mem1 = d.path().join("memory");
        let cpu1 = d.path().join("cpu");
        for dir in [v2.join("box/inner"), mem1.join("box"), cpu1.join("box")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(v2.join("box/memory.max"), "67108864\n").unwrap();
        std::fs::write(v2.join("box/inner/memory.max"), "max\n").unwrap();
        std::fs::write(v2.join("box/cpu.max"), "max 100000\n").unwrap();
        std::fs::write(v2.join("box/inner/cpu.max"), "50000 100000\n").unwrap();
        let mounts = vec![Mount { v2: true, root: "/".into(), point: v2.clone(), controllers: vec![] }];
        assert_eq!(own_limits(&mounts, "0::/box/inner\n"), (Some(64 << 20), Some(0.5)));
        std::fs::write(mem1.join("box/memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(mem1.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(cpu1.join("box/cpu.cfs_quota_us"), "-1\n").unwrap();
        std::fs::write(cpu1.join("box/cpu.cfs_period_us"), "100000\n").unwrap();
        std::fs::write(cpu1.join("cpu.cfs_quota_us"), "150000\n").unwrap();
        std::fs::write(cpu1.join("cpu.cfs_period_us"), "100000\n").unwrap();
        let mounts = vec![
            Mount { v2: false, root: "/".into(), point: mem1, controllers: vec!["memory".into()] },
            Mount { v2: false, root: "/".into(), point: cpu1, controllers: vec!["cpu".into()] },
        ];
        assert_eq!(own_limits(&mounts, "4:memory:/box\n2:cpu:/box\n"), (None, Some(1.5)));
    }
}
