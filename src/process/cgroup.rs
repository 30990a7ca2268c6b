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

use super::Join;
use crate::jobspec::model::Resources;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One cgroup filesystem mount, from /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// cgroup2 (unified) rather than a v1 hierarchy.
    pub v2: bool,
    /// The cgroup of the hierarchy shown at the mount point (`/` unless a
    /// container sees only its own subtree).
    pub root: String,
    pub point: PathBuf,
    /// v1: the controllers of the hierarchy (`cpu`, `memory`,
    /// `name=systemd`); v2: empty (they are in `cgroup.controllers`).
    pub controllers: Vec<String>,
}

const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The cgroup mounts listed in a mountinfo text (proc(5)).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.lines() {
        // Optional fields end with a lone "-"; spaces inside paths are
        // escaped as \040, so splitting on spaces is safe.
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        let v2 = match r[0] {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let controllers = if v2 {
            Vec::new()
        } else {
            r[2].split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        };
        out.push(Mount { v2, root: unescape(l[3]), point: PathBuf::from(unescape(l[4])), controllers });
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroups of this process from /proc/self/cgroup: (controllers, path);
/// the v2 entry has no controllers.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let ctl = parts.next()?;
            let path = parts.next()?;
            let ctl = ctl.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
            Some((ctl, path.to_string()))
        })
        .collect()
}

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// cgroup v2 only.
    V2,
    /// cgroup v1 only.
    V1,
    /// v1 controllers plus a v2 mount.
    Hybrid,
    /// No cgroup filesystem at all.
    #[default]
    None,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::V2 => "v2",
            Kind::V1 => "v1",
            Kind::Hybrid => "hybrid",
            Kind::None => "none",
        }
    }
}

/// A hierarchy and supd's own cgroup in it, as a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub v2: bool,
    /// The v1 controller the hierarchy is used for; `""` for v2.
    pub controller: &'static str,
    pub mount: PathBuf,
    /// supd's own cgroup in this hierarchy.
    pub own: PathBuf,
}

impl Place {
    pub fn describe(&self) -> String {
        if self.v2 { "cgroup v2".to_string() } else { format!("cgroup v1 {}", self.controller) }
    }
}

/// Where each job of supd can be done, best first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub kind: Kind,
    /// Memory limits and OOM counting.
    pub memory: Vec<Place>,
    /// CPU weight or quota.
    pub cpu: Vec<Place>,
    /// CPU time used.
    pub acct: Vec<Place>,
    /// Finding and killing every process of a task.
    pub track: Vec<Place>,
}

/// supd's own cgroup as a directory of a mount: the mount shows the
/// hierarchy from `root` down.
fn own_dir(m: &Mount, own: &str) -> PathBuf {
    match Path::new(own).strip_prefix(&m.root) {
        Ok(rel) => m.point.join(rel),
        // A cgroup namespace can make the two disagree: the mount is then
        // what supd sees as its own cgroup.
        Err(_) => m.point.clone(),
    }
}

/// The v2 mount and supd's own directory in it, if any.
pub fn unified(mounts: &[Mount], proc_self_cgroup: &str) -> Option<PathBuf> {
    let m = mounts.iter().find(|m| m.v2)?;
    let own = parse_proc_cgroup(proc_self_cgroup).into_iter().find(|(c, _)| c.is_empty()).map(|(_, p)| p)?;
    Some(own_dir(m, &own))
}

/// Decides which hierarchy does what. `v2_controllers` are the controllers
/// available to supd's own v2 cgroup (its `cgroup.controllers`).
pub fn plan(mounts: &[Mount], proc_self_cgroup: &str, v2_controllers: &[String]) -> Plan {
    let own = parse_proc_cgroup(proc_self_cgroup);
    let v2 = mounts.iter().find(|m| m.v2).and_then(|m| {
        let path = own.iter().find(|(c, _)| c.is_empty())?;
        Some(Place { v2: true, controller: "", mount: m.point.clone(), own: own_dir(m, &path.1) })
    });
    let v1 = |controller: &'static str| -> Option<Place> {
        let m = mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))?;
        let path = own.iter().find(|(c, _)| c.iter().any(|c| c == controller)).map_or("/", |(_, p)| p.as_str());
        Some(Place { v2: false, controller, mount: m.point.clone(), own: own_dir(m, path) })
    };
    let has_v1 = mounts.iter().any(|m| !m.v2 && m.controllers.iter().any(|c| !c.starts_with("name=")));
    let kind = match (has_v1, v2.is_some()) {
        (true, true) => Kind::Hybrid,
        (true, false) => Kind::V1,
        (false, true) => Kind::V2,
        (false, false) => Kind::None,
    };
    let v2_with = |c: &str| v2.clone().filter(|_| v2_controllers.iter().any(|x| x == c));
    let memory = v2_with("memory").into_iter().chain(v1("memory")).collect();
    let cpu = v2_with("cpu").into_iter().chain(v1("cpu")).collect();
    // Every v2 cgroup counts its cpu time in cpu.stat, controller or not.
    let acct = v2.clone().into_iter().chain(v1("cpuacct")).collect();
    let track = v2.into_iter().chain(v1("freezer")).chain(v1("memory")).chain(v1("cpu")).collect();
    Plan { kind, memory, cpu, acct, track }
}

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
}

/// The name supd moves itself to when its own v2 cgroup must hand its
/// controllers down (a cgroup with processes cannot).
const DAEMON_LEAF: &str = "supd.daemon";

impl Cgroups {
    /// No cgroups: every task runs without limits, for this reason.
    pub fn disabled(reason: &str) -> Cgroups {
        Cgroups { problems: vec![format!("cpu and memory limits are not enforced: {reason}")], ..Cgroups::default() }
    }

    /// Detects the layout and makes the parent cgroups. Never fails: what
    /// cannot be done is listed in `problems`.
    pub fn setup(opts: &Options) -> Cgroups {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mounts = parse_mountinfo(&mountinfo);
        let v2_controllers: Vec<String> = unified(&mounts, &own)
            .and_then(|d| std::fs::read_to_string(d.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let p = plan(&mounts, &own, &v2_controllers);
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
        // The v2 controllers supd needs handed down to its tasks.
        let mut want_v2: Vec<&str> = Vec::new();
        if p.memory.first().is_some_and(|pl| pl.v2) {
            want_v2.push("memory");
        }
        if p.cpu.first().is_some_and(|pl| pl.v2) {
            want_v2.push("cpu");
        }
        // Each hierarchy is prepared once; the result says which v2
        // controllers its tasks get, or why it cannot be used.
        let mut prepared: Vec<(PathBuf, Result<Vec<String>, String>)> = Vec::new();
        let mut prepare = |pl: &Place| -> (PathBuf, Result<Vec<String>, String>) {
            let target = parent_dir(pl, &opts.parent);
            if let Some((_, r)) = prepared.iter().find(|(t, _)| *t == target) {
                return (target, r.clone());
            }
            let r = if pl.v2 { prepare_v2(&pl.own, &target, &want_v2) } else { prepare_v1(&target) };
            prepared.push((target.clone(), r.clone()));
            (target, r)
        };
        let mut pick = |places: &[Place], needs: Option<&str>, what: &str, problems: &mut Vec<String>| {
            let mut why = String::new();
            for pl in places {
                let (parent, r) = prepare(pl);
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
                    Err(e) => why = e,
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
        };
        let mut problems = Vec::new();
        cg.memory = pick(&p.memory, Some("memory"), "memory limits are not enforced", &mut problems);
        cg.cpu = pick(&p.cpu, Some("cpu"), "cpu weights are not enforced", &mut problems);
        cg.acct = pick(&p.acct, None, "cpu time of tasks is not reported", &mut problems);
        cg.track = pick(
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
        cg.remove_stale();
        cg
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
        for r in self.roles() {
            let Ok(entries) = std::fs::read_dir(&r.parent) else { continue };
            for e in entries.flatten() {
                let old =
                    e.metadata().ok().filter(|m| m.is_dir()).and_then(|m| m.modified().ok()).is_some_and(|t| {
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

    /// Makes the cgroup of one task and sets its limits. `name` must be
    /// unique among the tasks of this supd, and one plain file name (see
    /// [`crate::names::beneath`]).
    pub fn create(&self, name: &str, res: &Resources) -> Result<TaskCgroup, String> {
        let name = if name.starts_with('.') { format!("_{name}") } else { name.to_string() };
        let mut cg = TaskCgroup::default();
        let dir_of = |r: &Option<Role>, cg: &mut TaskCgroup| -> Result<Option<Dir>, String> {
            let Some(r) = r else { return Ok(None) };
            let path = crate::names::beneath(&r.parent, &[&name]).map_err(|e| format!("cannot name a cgroup: {e}"))?;
            let d = Dir { v2: r.v2, path };
            if !cg.dirs.iter().any(|x| x.path == d.path) {
                make_dir(&r.parent, &d.path, r.v2)
                    .map_err(|e| format!("cannot create the cgroup {}: {e}", d.path.display()))?;
                cg.dirs.push(d.clone());
            }
            Ok(Some(d))
        };
        let made = (|| -> Result<(), String> {
            cg.memory = dir_of(&self.memory, &mut cg)?;
            cg.cpu = dir_of(&self.cpu, &mut cg)?;
            cg.acct = dir_of(&self.acct, &mut cg)?;
            cg.track = dir_of(&self.track, &mut cg)?;
            Ok(())
        })();
        if let Err(e) = made.and_then(|()| cg.set_limits(res, self)) {
            let _ = cg.remove();
            return Err(e);
        }
        if self.memory.is_none() {
            cg.limits.not_enforced.push("memory".into());
        }
        if self.cpu.is_none() {
            cg.limits.not_enforced.push("cpu".into());
        }
        Ok(cg)
    }
}

/// `cgroup_parent` must name a cgroup below supd's own (or the root):
/// plain names separated by `/`.
pub fn check_parent(parent: &str) -> Result<(), String> {
    let rel = parent.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!(
            "cgroup_parent {parent:?} is not a cgroup name — use names separated by /, e.g. \"supd\" or \"/supd\""
        ));
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

fn prepare_v1(target: &Path) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
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
fn writable(dir: &Path) -> Result<(), String> {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK)
        .map_err(|e| format!("cannot make task cgroups in {}: {e}", dir.display()))
}

/// Makes the v2 parent and hands the wanted controllers down from supd's
/// own cgroup to it and its children; returns those its children get.
fn prepare_v2(own: &Path, target: &Path, want: &[&str]) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
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

/// Makes a task's cgroup; its parent is made again if another supd
/// sharing it removed it meanwhile.
fn make_dir(parent: &Path, dir: &Path, v2: bool) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
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

fn write(path: &Path, value: &str) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file such as memory.events.
fn keyed(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A small cgroup file in one read: open, read, close (no stat for a size
/// hint, no second read for the end).
fn read_small(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let n = std::fs::File::open(path).ok()?.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A small cgroup file opened on first use and kept: each read is one
/// pread from the start (kernfs makes the text afresh), not an open, a
/// stat, two reads and a close.
#[derive(Debug, Default)]
struct Kept(std::cell::OnceCell<Option<std::fs::File>>);

impl Kept {
    fn read(&self, path: &Path) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let f = self.0.get_or_init(|| std::fs::File::open(path).ok()).as_ref()?;
        let mut buf = [0u8; 1024];
        let n = f.read_at(&mut buf, 0).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

/// Nomad's (runc's) conversion of v1 shares to a v2 weight.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9_999 / 262_142
}

/// MHz as v1 shares, clamped as the kernel wants them.
pub fn mhz_to_shares(mhz: u32) -> u64 {
    u64::from(mhz).clamp(2, 262_144)
}

/// A quota of `mhz` per 100 ms period, on cores of `per_core` MHz.
pub fn mhz_to_quota(mhz: u32, per_core: u64) -> u64 {
    (u64::from(mhz) * 100_000 / per_core.max(1)).max(1_000)
}

const PERIOD_US: u64 = 100_000;
const MB: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dir {
    v2: bool,
    path: PathBuf,
}

/// What a task's cgroup enforces, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes.
    pub memory_hard: Option<u64>,
    pub memory_soft: Option<u64>,
    /// v1 shares or v2 weight, as written.
    pub cpu_weight: Option<u64>,
    /// Microseconds per 100 ms period.
    pub cpu_quota: Option<u64>,
    /// Swap could not be turned off (or the host has no swap accounting).
    pub swap_allowed: bool,
    /// Resources no hierarchy enforces (`memory`, `cpu`).
    pub not_enforced: Vec<String>,
}

/// What a task used, where the cgroup tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub cpu_ns: Option<u64>,
}

/// The cgroup of one task, across its restarts: made before its first
/// start, removed once it is dead for good.
#[derive(Debug, Default)]
pub struct TaskCgroup {
    dirs: Vec<Dir>,
    memory: Option<Dir>,
    cpu: Option<Dir>,
    acct: Option<Dir>,
    track: Option<Dir>,
    /// The OOM kill and failure counters when the current run started.
    oom_base: (Option<u64>, Option<u64>),
    /// The cpu time counter when the current run started.
    cpu_base: u64,
    /// v1 `cgroup.procs` of every hierarchy, opened at the first start and
    /// kept: each run's child joins by writing to them.
    procs: Vec<OwnedFd>,
    /// The v2 directory, kept open: each run's child is made in it.
    dir: Option<OwnedFd>,
    /// v2 `cgroup.events` of the tracking cgroup, kept open: whether the
    /// cgroup is empty is one read at each end of a run.
    events: Kept,
    /// The counters have moved since the bases were taken (a run ended
    /// without being read): read them again once the next run is started.
    stale: bool,
    pub limits: Limits,
}

impl TaskCgroup {
    fn set_limits(&mut self, res: &Resources, cg: &Cgroups) -> Result<(), String> {
        let set = |dir: &Dir, file: &str, value: &str| {
            let path = dir.path.join(file);
            write(&path, value).map_err(|e| format!("cannot write {value} to {}: {e}", path.display()))
        };
        if let Some(d) = &self.memory {
            let hard = match res.memory_max {
                None => Some(u64::from(res.memory) * MB),
                Some(m) if m < 0 => None,
                Some(m) => Some(m as u64 * MB),
            };
            let soft = res.memory_max.map(|_| u64::from(res.memory) * MB);
            let mut swap_off = false;
            if d.v2 {
                set(d, "memory.max", &hard.map_or("max".into(), |b| b.to_string()))?;
                if let Some(s) = soft {
                    set(d, "memory.low", &s.to_string())?;
                }
                if hard.is_some() && d.path.join("memory.swap.max").exists() {
                    swap_off = set(d, "memory.swap.max", "0").is_ok();
                }
            } else {
                if let Some(h) = hard {
                    set(d, "memory.limit_in_bytes", &h.to_string())?;
                    // Memory plus swap no larger than memory: no swap.
                    if d.path.join("memory.memsw.limit_in_bytes").exists() {
                        swap_off = set(d, "memory.memsw.limit_in_bytes", &h.to_string()).is_ok();
                    }
                }
                if let Some(s) = soft {
                    set(d, "memory.soft_limit_in_bytes", &s.to_string())?;
                }
                // memory.swappiness = 0 comes from the parent (prepare_v1).
            }
            self.limits.memory_hard = hard;
            self.limits.memory_soft = soft;
            self.limits.swap_allowed = hard.is_some() && !swap_off;
        }
        if let Some(d) = &self.cpu {
            let shares = mhz_to_shares(res.cpu);
            let quota = cg.mhz_per_core.filter(|_| cg.hard_cpu).map(|per_core| mhz_to_quota(res.cpu, per_core));
            if d.v2 {
                let weight = shares_to_weight(shares);
                set(d, "cpu.weight", &weight.to_string())?;
                self.limits.cpu_weight = Some(weight);
                if let Some(q) = quota {
                    set(d, "cpu.max", &format!("{q} {PERIOD_US}"))?;
                }
            } else {
                set(d, "cpu.shares", &shares.to_string())?;
                self.limits.cpu_weight = Some(shares);
                if let Some(q) = quota {
                    set(d, "cpu.cfs_period_us", &PERIOD_US.to_string())?;
                    set(d, "cpu.cfs_quota_us", &q.to_string())?;
                }
            }
            self.limits.cpu_quota = quota;
        }
        Ok(())
    }

    /// What the child of each run joins before exec: the v2 cgroup it is
    /// made in (its directory) and the v1 `cgroup.procs` it writes "0" to
    /// (the writer itself); opened on first use and kept.
    pub fn join(&mut self) -> Result<Join, String> {
        if self.procs.is_empty() && self.dir.is_none() {
            for d in &self.dirs {
                let open = if d.v2 {
                    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&d.path)
                } else {
                    std::fs::OpenOptions::new().write(true).open(d.path.join("cgroup.procs"))
                };
                let fd = open.map(OwnedFd::from).map_err(|e| format!("cannot open {}: {e}", d.path.display()))?;
                if d.v2 {
                    self.dir = Some(fd);
                } else {
                    self.procs.push(fd);
                }
            }
        }
        Ok(Join {
            procs: self.procs.iter().map(AsRawFd::as_raw_fd).collect(),
            dir: self.dir.as_ref().map(AsRawFd::as_raw_fd),
        })
    }

    /// (OOM kills, failures to charge) so far; v1 kernels before 4.13
    /// only have the second.
    fn oom_counters(&self) -> (Option<u64>, Option<u64>) {
        match &self.memory {
            Some(d) if d.v2 => (keyed(&d.path.join("memory.events"), "oom_kill"), None),
            Some(d) => match keyed(&d.path.join("memory.oom_control"), "oom_kill") {
                Some(n) => (Some(n), None),
                // Kernels before 4.13 have no kill counter.
                None => (None, read_u64(&d.path.join("memory.failcnt"))),
            },
            None => (None, None),
        }
    }

    fn cpu_ns(&self) -> Option<u64> {
        let d = self.acct.as_ref()?;
        if d.v2 {
            let text = read_small(&d.path.join("cpu.stat"))?;
            text.lines().find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok()).map(|us| us * 1000)
        } else {
            read_small(&d.path.join("cpuacct.usage"))?.trim().parse().ok()
        }
    }

    /// Whether the kernel's OOM killer struck in this cgroup since the run
    /// started. Without an OOM kill counter, a SIGKILL after the limit
    /// was hit counts.
    ///
    /// Called once per run, at its end. The OOM killer kills with SIGKILL,
    /// so any other end is not its doing and nothing is read: the bases are
    /// read again by [`TaskCgroup::started`], after the next run is on its
    /// way, off the path from one run's exit to the next one's start. After
    /// a SIGKILL, the counters read now are where the next run starts from
    /// (nothing runs in the cgroup in between). A new cgroup starts from
    /// zero.
    pub fn end_run(&mut self, sigkill: bool) -> bool {
        if !sigkill {
            self.stale = true;
            return false;
        }
        let now = self.oom_counters();
        let killed = match (now.0, self.oom_base.0) {
            (Some(n), Some(b)) => n > b,
            (Some(n), None) => n > 0,
            // Without a kill counter: a SIGKILL while failing to charge.
            _ => sigkill && now.1.unwrap_or(0) > self.oom_base.1.unwrap_or(0),
        };
        self.oom_base = now;
        self.cpu_base = self.cpu_ns().unwrap_or(self.cpu_base);
        self.stale = false;
        killed
    }

    /// A run has just started: the bases for its OOM verdict and cpu time,
    /// when the end of the previous run did not read them.
    pub fn started(&mut self) {
        if std::mem::take(&mut self.stale) {
            self.oom_base = self.oom_counters();
            self.cpu_base = self.cpu_ns().unwrap_or(self.cpu_base);
        }
    }

    /// What the task uses now; cpu time since its current run started.
    pub fn usage(&self) -> Usage {
        let memory_bytes = self.memory.as_ref().and_then(|d| {
            let file = d.path.join(if d.v2 { "memory.current" } else { "memory.usage_in_bytes" });
            read_small(&file)?.trim().parse().ok()
        });
        let cpu_ns = self.cpu_ns().map(|n| n.saturating_sub(self.cpu_base));
        Usage { memory_bytes, cpu_ns }
    }

    /// The pids in the cgroup (of the tracking hierarchy).
    pub fn pids(&self) -> Vec<i32> {
        let Some(d) = self.track.as_ref().or(self.dirs.first()) else { return Vec::new() };
        std::fs::read_to_string(d.path.join("cgroup.procs"))
            .map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Whether no process is left in it.
    pub fn is_empty(&self) -> bool {
        match &self.track {
            Some(d) if d.v2 => {
                let text = self.events.read(&d.path.join("cgroup.events")).unwrap_or_default();
                let populated = text.lines().find_map(|l| l.strip_prefix("populated ")?.trim().parse::<u64>().ok());
                populated.is_none_or(|p| p == 0)
            }
            _ => self
                .dirs
                .iter()
                .all(|d| std::fs::read_to_string(d.path.join("cgroup.procs")).map_or(true, |s| s.trim().is_empty())),
        }
    }

    /// SIGKILLs every process in the cgroup: at once with v2's
    /// cgroup.kill, else frozen (so that nothing forks meanwhile) and
    /// killed one by one. The processes die shortly after this returns.
    pub fn kill_all(&self) -> Result<(), String> {
        let Some(d) = self.track.as_ref() else { return Ok(()) };
        if d.v2 && d.path.join("cgroup.kill").exists() {
            return write(&d.path.join("cgroup.kill"), "1")
                .map_err(|e| format!("cannot kill the cgroup {}: {e}", d.path.display()));
        }
        let freezer = if d.v2 {
            Some(("cgroup.freeze", "1", "0"))
        } else if d.path.join("freezer.state").exists() {
            Some(("freezer.state", "FROZEN", "THAWED"))
        } else {
            None
        };
        if let Some((file, on, _)) = freezer {
            let _ = write(&d.path.join(file), on);
            // Freezing takes effect task by task; give it a moment.
            for _ in 0..50 {
                let state =
                    std::fs::read_to_string(d.path.join(if d.v2 { "cgroup.events" } else { file })).unwrap_or_default();
                if state.contains("FROZEN") && !state.contains("FREEZING") || state.contains("frozen 1") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
        // Without a freezer, a task may fork while it is being killed:
        // go round until nothing is left (or give up after a few rounds).
        for _ in 0..if freezer.is_some() { 1 } else { 20 } {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = super::signal_pid(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        if let Some((file, _, off)) = freezer {
            write(&d.path.join(file), off).map_err(|e| format!("cannot thaw {}: {e}", d.path.display()))?;
        }
        Ok(())
    }

    /// Removes the cgroup's directories; fails (EBUSY) while processes are
    /// still dying in it.
    pub fn remove(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        self.dirs.retain(|d| match std::fs::remove_dir(&d.path) {
            Ok(()) => false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => {
                if first.is_ok() {
                    first = Err(e);
                }
                true
            }
        });
        first
    }

    /// The directory that tracks the task's processes, for messages.
    pub fn path(&self) -> Option<&Path> {
        self.track.as_ref().or(self.dirs.first()).map(|d| d.path.as_path())
    }

    /// Every directory of this cgroup, to be saved (see [`stop_leftovers`]).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.path.clone()).collect()
    }
}

/// Kills every process left in the task cgroup directories of a supd that
/// is gone (a `setsid` daemon of a task is found too), then removes the
/// directories. Returns the pids killed.
pub fn stop_leftovers(dirs: &[PathBuf]) -> Vec<i32> {
    let pids_in = |d: &Path| -> Vec<i32> {
        std::fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let mut killed = Vec::new();
    for d in dirs {
        // Only a directory in a cgroup file system (never a path a state
        // file was edited to name): it has cgroup.procs.
        if !d.join("cgroup.procs").is_file() {
            continue;
        }
        let _ = write(&d.join("cgroup.kill"), "1");
        // A task may fork while it is being killed: go round a few times.
        for _ in 0..20 {
            let pids = pids_in(d);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                if !killed.contains(&pid) {
                    killed.push(pid);
                }
                let _ = super::signal_pid(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    // A killed process leaves its cgroup once it is reaped (by init here):
    // wait a little for that, bounded.
    for d in dirs {
        for _ in 0..100 {
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/7233f16422afae8091e95f0958c1f55e
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    /// A systemd host on cgroup v2 only, supd as a service.
    const V2: &str = "\
25 18 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const V2_SELF: &str = "0::/system.slice/supd.service\n";

    /// An older host on cgroup v1 with cpu and cpuacct co-mounted, and a
    /// container's view of its own subtree of the memory hierarchy.
    const V1: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 /docker/abc /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer
37 30 0:33 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,pids
";
    const V1_SELF: &str = "\
12:pids:/
5:freezer:/
4:memory:/docker/abc
3:cpu,cpuacct:/system.slice/supd.service
1:name=systemd:/system.slice/supd.service
";

    fn place(v2: bool, controller: &'static str, mount: &str, own: &str) -> Place {
        Place { v2, controller, mount: mount.into(), own: own.into() }
    }

    #[test]
    fn hybrid_host_limits_in_v1_and_tracks_in_v2() {
        let mounts = parse_mountinfo(HYBRID);
        assert_eq!(mounts.len(), 10, "every cgroup mount, nothing else: {mounts:#?}");
        assert_eq!(mounts[3].controllers, ["memory"]);
        assert!(mounts[9].v2 && mounts[9].controllers.is_empty());
        assert_eq!(unified(&mounts, HYBRID_SELF), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        // The v2 mount only has hugetlb: limits go to v1.
        let p = plan(&mounts, HYBRID_SELF, &["hugetlb".to_string()]);
        assert_eq!(p.kind, Kind::Hybrid);
        let mem_own = "/sys/fs/cgroup/memory/process_api/7233f16422afae8091e95f0958c1f55e";
        assert_eq!(p.memory, [place(false, "memory", "/sys/fs/cgroup/memory", mem_own)]);
        assert_eq!(p.cpu, [place(false, "cpu", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu")]);
        let v2 = place(true, "", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified");
        assert_eq!(p.acct[0], v2);
        assert_eq!(p.acct[1].controller, "cpuacct");
        assert_eq!(p.track[0], v2);
        assert_eq!(p.track[1].controller, "freezer");
        assert_eq!(parent_dir(&p.memory[0], "supd"), PathBuf::from(format!("{mem_own}/supd")));
        assert_eq!(parent_dir(&p.memory[0], "/supd"), PathBuf::from("/sys/fs/cgroup/memory/supd"));
    }

    #[test]
    fn v2_host_does_everything_in_one_tree() {
        let mounts = parse_mountinfo(V2);
        assert_eq!(mounts, [Mount { v2: true, root: "/".into(), point: "/sys/fs/cgroup".into(), controllers: vec![] }]);
        let ctl: Vec<String> = ["cpuset", "cpu", "io", "memory", "pids"].map(String::from).to_vec();
        let p = plan(&mounts, V2_SELF, &ctl);
        assert_eq!(p.kind, Kind::V2);
        let own = place(true, "", "/sys/fs/cgroup", "/sys/fs/cgroup/system.slice/supd.service");
        for role in [&p.memory, &p.cpu, &p.acct, &p.track] {
            assert_eq!(role, std::slice::from_ref(&own));
        }
        // Under systemd the tasks go inside supd's own (delegated) cgroup.
        assert_eq!(parent_dir(&own, "supd"), PathBuf::from("/sys/fs/cgroup/system.slice/supd.service/supd"));
        // A v2 host whose controllers were not delegated: tracking only.
        let p = plan(&mounts, V2_SELF, &[]);
        assert!(p.memory.is_empty() && p.cpu.is_empty());
        assert_eq!(p.track, [own]);
    }

    #[test]
    fn v1_host_with_comounted_controllers_and_a_container_subtree() {
        let mounts = parse_mountinfo(V1);
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(mounts[0].controllers, ["name=systemd"]);
        assert_eq!(mounts[4].point, PathBuf::from("/sys/fs/cgroup/with space"));
        assert_eq!(unified(&mounts, V1_SELF), None);
        let p = plan(&mounts, V1_SELF, &[]);
        assert_eq!(p.kind, Kind::V1);
        // The container sees /docker/abc as the memory mount's root.
        assert_eq!(p.memory, [place(false, "memory", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory")]);
        let cpu_own = "/sys/fs/cgroup/cpu,cpuacct/system.slice/supd.service";
        assert_eq!(p.cpu, [place(false, "cpu", "/sys/fs/cgroup/cpu,cpuacct", cpu_own)]);
        assert_eq!(p.acct, [place(false, "cpuacct", "/sys/fs/cgroup/cpu,cpuacct", cpu_own)]);
        let tracks: Vec<&str> = p.track.iter().map(|t| t.controller).collect();
        assert_eq!(tracks, ["freezer", "memory", "cpu"]);
    }

    #[test]
    fn no_cgroups_at_all() {
        let p = plan(&parse_mountinfo("22 1 0:21 / /proc rw - proc proc rw\n"), "", &[]);
        assert_eq!(p, Plan::default());
        assert_eq!(p.kind, Kind::None);
    }

    #[test]
    fn conversions() {
        assert_eq!(mhz_to_shares(500), 500);
        assert_eq!(mhz_to_shares(1), 2);
        assert_eq!(mhz_to_shares(u32::MAX), 262_144);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(mhz_to_quota(1300, 2600), 50_000);
        assert_eq!(mhz_to_quota(1, 2600), 1_000);
        assert!(check_parent("supd").is_ok() && check_parent("/a/b").is_ok());
        for bad in ["", "/", "a//b", "../x", "a/./b"] {
            assert!(check_parent(bad).is_err(), "{bad:?}");
        }
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
    }
}
