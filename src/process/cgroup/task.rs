//! The cgroup of one task across its runs: joining it before exec, its
//! OOM kills and usage, whether it is empty, killing what is left in it,
//! and removing it.

use super::CgroupError;
use super::files::{Kept, keyed, read_u64, write};
use crate::process::Join;
use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a usage read stands for the current one.
pub const USAGE_AGE: Duration = Duration::from_secs(1);

/// The resident memory of these processes, from /proc/PID/statm (pages
/// shared between them counted in each); `None` without any.
///
/// `open` holds each process's statm file from one read to the next: a
/// read is then a pread (procfs makes the text afresh). A file of a
/// process that is gone fails to read, also once its pid is reused (the
/// file stays bound to the process it was opened for), and is opened
/// again by path.
fn resident(pids: &[i32], open: &mut Vec<(i32, std::fs::File)>) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map_or(4096, |p| p as u64);
    let mut total = None;
    let mut kept = Vec::with_capacity(pids.len());
    for &pid in pids {
        let mut buf = [0u8; 256];
        let held = open.iter().position(|(p, _)| *p == pid).map(|i| open.swap_remove(i).1);
        let read = |f: &std::fs::File, buf: &mut [u8]| f.read_at(buf, 0).ok().filter(|&n| n > 0);
        let (file, n) = match held.and_then(|f| read(&f, &mut buf).map(|n| (f, n))) {
            Some(got) => got,
            None => {
                let Ok(f) = std::fs::File::open(format!("/proc/{pid}/statm")) else { continue };
                let Some(n) = read(&f, &mut buf) else { continue };
                (f, n)
            }
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        if let Some(pages) = text.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()) {
            total = Some(total.unwrap_or(0) + pages * page);
        }
        kept.push((pid, file));
    }
    *open = kept;
    total
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Dir {
    pub(super) v2: bool,
    /// Shared by the roles the same directory plays (tracking, memory and
    /// cpu time on v2): one copy a task.
    pub(super) path: std::sync::Arc<Path>,
}

/// What a task used, where the cgroup tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub cpu_ns: Option<u64>,
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
    pub not_enforced: NotEnforced,
}

/// Which of a task's resources no hierarchy enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotEnforced {
    pub memory: bool,
    pub cpu: bool,
}

impl NotEnforced {
    pub const ALL: NotEnforced = NotEnforced { memory: true, cpu: true };
}

/// The cgroup of one task, across its restarts: made before its first
/// start, removed once it is dead for good.
#[derive(Debug, Default)]
pub struct TaskCgroup {
    pub(super) dirs: Vec<Dir>,
    /// Which of `dirs` plays each role (one directory may play several:
    /// tracking, memory and cpu time on v2), by index; see `memory()`.
    pub(super) memory: Option<u8>,
    pub(super) cpu: Option<u8>,
    pub(super) acct: Option<u8>,
    pub(super) track: Option<u8>,
    /// The OOM kill and failure counters when the current run started.
    pub(super) oom_base: (Option<u64>, Option<u64>),
    /// The cpu time counter when the current run started.
    pub(super) cpu_base: u64,
    /// v1 `cgroup.procs` of every hierarchy, opened at the first start and
    /// kept: each run's child joins by writing to them.
    pub(super) procs: Vec<OwnedFd>,
    /// The v2 directory, kept open: each run's child is made in it.
    pub(super) dir: Option<OwnedFd>,
    /// v2 `cgroup.events` of the tracking cgroup, kept open: whether the
    /// cgroup is empty is one read at each end of a run.
    pub(super) events: Kept,
    /// What `status` reads for each task, kept open as `events` is: a read
    /// is a pread, not a walk of the cgroup's path, an open and a close
    /// (33 µs a task with 1000 tasks).
    pub(super) cpu_stat: Kept,
    pub(super) memory_file: Kept,
    pub(super) procs_file: Kept,
    /// The statm files of the processes last read (see [`resident`]).
    pub(super) statm: std::cell::RefCell<Vec<(i32, std::fs::File)>>,
    /// The counters have moved since the bases were taken (a run ended
    /// without being read): read them again once the next run is started.
    pub(super) stale: bool,
    /// The last usage read and when (cpu time as counted, not since the
    /// run's start).
    pub(super) usage_cache: Cell<Option<(Instant, Usage)>>,
    pub limits: Limits,
}

impl TaskCgroup {
    /// The directory that limits and counts memory.
    pub(super) fn memory(&self) -> Option<&Dir> {
        self.dirs.get(usize::from(self.memory?))
    }

    /// The directory that limits cpu.
    pub(super) fn cpu(&self) -> Option<&Dir> {
        self.dirs.get(usize::from(self.cpu?))
    }

    /// The directory that counts cpu time.
    pub(super) fn acct(&self) -> Option<&Dir> {
        self.dirs.get(usize::from(self.acct?))
    }

    /// The directory that holds the task's processes.
    pub(super) fn track(&self) -> Option<&Dir> {
        self.dirs.get(usize::from(self.track?))
    }

    /// The index of `d` in `dirs`, where it is put when it is not yet.
    pub(super) fn role_of(&mut self, d: Dir) -> Option<u8> {
        let at = match self.dirs.iter().position(|x| x.path == d.path) {
            Some(at) => at,
            None => {
                self.dirs.push(d);
                self.dirs.len() - 1
            }
        };
        u8::try_from(at).ok()
    }

    /// What the child of each run joins before exec: the v2 cgroup it is
    /// made in (its directory) and the v1 `cgroup.procs` it writes "0" to
    /// (the writer itself); opened on first use and kept.
    pub fn join(&mut self) -> Result<Join, CgroupError> {
        if self.procs.is_empty() && self.dir.is_none() {
            for d in &self.dirs {
                let open = if d.v2 {
                    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&d.path)
                } else {
                    std::fs::OpenOptions::new().write(true).open(d.path.join("cgroup.procs"))
                };
                let fd = open
                    .map(OwnedFd::from)
                    .map_err(|source| CgroupError::Open { path: d.path.to_path_buf(), source })?;
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
        match self.memory() {
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
        let d = self.acct()?;
        if d.v2 {
            let text = self.cpu_stat.read(&d.path.join("cpu.stat"))?;
            text.lines().find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok()).map(|us| us * 1000)
        } else {
            self.cpu_stat.read(&d.path.join("cpuacct.usage"))?.trim().parse().ok()
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
    /// Read at most once per [`USAGE_AGE`]: `status` asked back to back,
    /// or for a thousand tasks, does not read every usage file each time.
    pub fn usage(&self) -> Usage {
        let now = Instant::now();
        let raw = match self.usage_cache.get() {
            Some((at, u)) if now.duration_since(at) < USAGE_AGE => u,
            _ => {
                let u = self.read_usage();
                self.usage_cache.set(Some((now, u)));
                u
            }
        };
        Usage { memory_bytes: raw.memory_bytes, cpu_ns: raw.cpu_ns.map(|n| n.saturating_sub(self.cpu_base)) }
    }

    /// The usage counters as they are: memory from the cgroup's memory
    /// controller, else the resident memory of its processes; the cpu
    /// time counter itself.
    fn read_usage(&self) -> Usage {
        let memory_bytes = match self.memory() {
            Some(d) => {
                let file = d.path.join(if d.v2 { "memory.current" } else { "memory.usage_in_bytes" });
                self.memory_file.read(&file).and_then(|t| t.trim().parse().ok())
            }
            None if self.track.is_some() => resident(&self.pids(), &mut self.statm.borrow_mut()),
            None => None,
        };
        Usage { memory_bytes, cpu_ns: self.cpu_ns() }
    }

    /// The pids in the cgroup (of the tracking hierarchy).
    pub fn pids(&self) -> Vec<i32> {
        let Some(d) = self.track().or(self.dirs.first()) else { return Vec::new() };
        self.procs_file
            .read_all(&d.path.join("cgroup.procs"))
            .map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Whether no process is left in it.
    pub fn is_empty(&self) -> bool {
        match self.track() {
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

    /// SIGKILLs every process in the cgroup. The processes die shortly
    /// after this returns.
    ///
    /// `reused`: the cgroup will hold the task's next run. Its processes
    /// are then frozen (so that nothing forks meanwhile) and killed one by
    /// one, never through v2's `cgroup.kill`: after a write to it, Linux
    /// (6.18 here) SIGKILLs every process later made in the cgroup with
    /// `clone3(CLONE_INTO_CGROUP)` (the kill count it compares a new
    /// child's against is read from the parent's cgroup, not the target's),
    /// so every later start of the task would die at once. A cgroup about
    /// to be removed is killed with `cgroup.kill`, at once.
    pub fn kill_all(&self, reused: bool) -> Result<(), CgroupError> {
        let Some(d) = self.track() else { return Ok(()) };
        if !reused && d.v2 && d.path.join("cgroup.kill").exists() {
            return write(&d.path.join("cgroup.kill"), "1")
                .map_err(|source| CgroupError::Kill { path: d.path.to_path_buf(), source });
        }
        let freezer = if d.v2 && d.path.join("cgroup.freeze").exists() {
            Some(("cgroup.freeze", "1", "0"))
        } else if !d.v2 && d.path.join("freezer.state").exists() {
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
        // A child whose fork was under way when the freeze came is frozen
        // too, but may be listed only on a second look; without a freezer
        // a task may fork while it is being killed: go round until no pid
        // is new (or give up after a few rounds).
        let mut killed: Vec<i32> = Vec::new();
        for _ in 0..20 {
            let fresh: Vec<i32> = self.pids().into_iter().filter(|p| !killed.contains(p)).collect();
            if fresh.is_empty() {
                break;
            }
            for pid in fresh {
                let _ = crate::process::signal_pid(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                killed.push(pid);
            }
        }
        if let Some((file, _, off)) = freezer {
            write(&d.path.join(file), off)
                .map_err(|source| CgroupError::Thaw { path: d.path.to_path_buf(), source })?;
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
        self.track().or(self.dirs.first()).map(|d| &*d.path)
    }

    /// Every directory of this cgroup, to be saved (see [`stop_leftovers`]).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.dirs.iter().map(|d| d.path.to_path_buf()).collect();
        if let Some(t) = self.track()
            && !out.iter().any(|p| **p == *t.path)
        {
            out.push(t.path.to_path_buf());
        }
        out
    }
}

/// Whether process `pid` is in one of these cgroups (each a directory in
/// a cgroup file system): with its start time, what tells a task's
/// process from another that got its pid.
pub fn holds(dirs: &[PathBuf], pid: i32) -> bool {
    dirs.iter().any(|d| pids_in(d).contains(&pid))
}

/// The processes listed in a cgroup directory's `cgroup.procs`.
fn pids_in(d: &Path) -> Vec<i32> {
    std::fs::read_to_string(d.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills every process left in the task cgroup directories of a supd that
/// is gone (a `setsid` daemon of a task is found too), then removes the
/// directories. Returns the pids killed.
pub fn stop_leftovers(dirs: &[PathBuf]) -> Vec<i32> {
    let mut killed = Vec::new();
    for d in dirs {
        // Only a directory in a cgroup file system (never a path a state
        // file was edited to name): it has cgroup.procs.
        if !d.join("cgroup.procs").is_file() {
            continue;
        }
        // Listed before `cgroup.kill`, which may empty the cgroup at once.
        killed.extend(pids_in(d).into_iter().filter(|p| !killed.contains(p)).collect::<Vec<_>>());
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
                let _ = crate::process::signal_pid(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // A killed process leaves its cgroup once it is reaped (by init here):
    // wait a little for that, bounded.
    for d in dirs {
        for _ in 0..100 {
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
    killed
}
