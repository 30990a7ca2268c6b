//! The one place that forks, execs, signals and waits. Everything a child
//! needs (argv, envp, ids) is prepared before it is created; until exec the
//! child makes only async-signal-safe system calls. Exec failures reach the
//! parent as the child's own errno, so a missing binary is an error from the
//! child itself, not a guess. How children are created: [`spawn`]; a helper
//! program a thread runs to its end itself, bounded: [`bounded`].

pub mod isolate;
pub mod spawn;

pub use spawn::{Detach, Io, Join};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::path::PathBuf;

pub mod bounded;
pub mod cgroup;
pub mod selfexec;
pub mod sys;

/// Everything needed to start one task process.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub program: String,
    pub args: Vec<String>,
    /// The complete environment; nothing of supd's is added.
    pub env: Vec<(String, String)>,
    pub work_dir: Option<PathBuf>,
    pub user: Option<UserIds>,
    /// An `exec` task's namespaces, root and capabilities; none for a
    /// plain host process.
    pub isolation: Option<isolate::Isolation>,
}

/// A resolved `user`: ids and supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: PathBuf,
}

/// Why a task's `user` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("cannot look up user {name:?}")]
    Lookup {
        name: String,
        #[source]
        errno: Errno,
    },
    #[error("user {0:?} does not exist on this host: create it, or change the task's `user`")]
    Unknown(String),
}

/// Why a process could not be started; the message says what failed and,
/// where it can, what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// It cannot start as written (a missing or non-executable program, a
    /// working directory that is not there, a NUL byte): trying again will
    /// not help.
    #[error("{0}")]
    Unrecoverable(String),
    /// A shortage that may pass (descriptors, processes, memory).
    #[error("{0}")]
    Transient(String),
    /// The child could not be put in its cgroup (removed under supd, not a
    /// leaf, not permitted): a new cgroup may do.
    #[error("{0}")]
    Cgroup(String),
}

impl SpawnError {
    /// Whether a later start may succeed.
    pub fn recoverable(&self) -> bool {
        !matches!(self, SpawnError::Unrecoverable(_))
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal (with a core dump when `core_dumped`).
    Signal {
        signal: i32,
        core_dumped: bool,
    },
    /// A process supd took over from a previous supd, so not its child:
    /// its end is known (a pidfd), how it ended is not (only a parent can
    /// read that). It counts as a failure.
    Unknown,
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// Looks a user up by name (or numeric id). Done in the parent, before
/// any fork: NSS lookups are not async-signal-safe.
pub fn lookup_user(name: &str) -> Result<UserIds, UserError> {
    let user = match name.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
        Err(_) => nix::unistd::User::from_name(name),
    };
    let user = user
        .map_err(|e| UserError::Lookup { name: name.to_string(), errno: e })?
        .ok_or_else(|| UserError::Unknown(name.to_string()))?;
    let cname = std::ffi::CString::new(user.name.clone()).map_err(|_| UserError::Unknown(name.to_string()))?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|_| vec![user.gid.as_raw()]);
    Ok(UserIds { name: user.name, uid: user.uid.as_raw(), gid: user.gid.as_raw(), groups, home: user.dir })
}

/// Starts a task's process in its own session and process group, stdin
/// from /dev/null, stdout and stderr as given, only descriptors 0, 1 and 2
/// open (see [`spawn::spawn`]).
pub fn spawn(spec: &SpawnSpec, stdout: Io<'_>, stderr: Io<'_>) -> Result<Pid, SpawnError> {
    spawn::spawn(spec, Io::Null, stdout, stderr, Detach::Session, &Join::none())
}

/// [`spawn`], with the child in the task's cgroups before it execs: made
/// in its v2 cgroup, and writing "0" (itself) to each v1 `cgroup.procs`
/// descriptor, opened by the parent. Joining before exec is what makes it
/// race-free: no process of the task ever runs outside its cgroup, where a
/// pid written by the parent after the spawn would let the task fork first.
///
/// With `pin`, the clone is held to supd's CPU (see `spawn`'s module).
pub fn spawn_in(spec: &SpawnSpec, stdout: Io<'_>, stderr: Io<'_>, join: &Join, pin: bool) -> Result<Pid, SpawnError> {
    spawn::spawn_task(spec, [Io::Null, stdout, stderr], join, pin)
}

fn spawn_error(program: &str, e: &std::io::Error) -> SpawnError {
    let errno = e.raw_os_error().unwrap_or(0);
    use SpawnError::{Transient, Unrecoverable};
    match Errno::from_raw(errno) {
        Errno::ENOENT => Unrecoverable(format!("binary {program:?} could not be found ({e})")),
        Errno::EACCES => {
            Unrecoverable(format!("binary {program:?} is not executable or a directory is not searchable ({e})"))
        }
        Errno::ENOEXEC => Unrecoverable(format!("{program:?} is not an executable format ({e})")),
        Errno::EPERM => Unrecoverable(format!("not permitted to start {program:?} as the requested user ({e})")),
        Errno::EMFILE | Errno::ENFILE => Transient(format!(
            "out of file descriptors starting {program:?} ({e}) — raise the open-files limit of supd"
        )),
        Errno::EAGAIN | Errno::ENOMEM => Transient(format!("out of processes or memory starting {program:?} ({e})")),
        _ => Unrecoverable(format!("failed to start {program:?}: {e}")),
    }
}

/// Starts a short-lived helper (a script check) in its own process group,
/// in supd's session.
pub fn spawn_helper(spec: &SpawnSpec, stdout: Io<'_>, stderr: Io<'_>) -> Result<Pid, SpawnError> {
    spawn::spawn(spec, Io::Null, stdout, stderr, Detach::Group, &Join::none())
}

/// Starts a short-lived helper (a script check) inside the running
/// isolated task whose first process is `task`: its namespaces, root and
/// capability bounds (`spec.isolation`), as Nomad's exec driver runs one.
pub fn spawn_helper_inside(spec: &SpawnSpec, task: Pid, stdout: Io<'_>, stderr: Io<'_>) -> Result<Pid, SpawnError> {
    spawn::spawn_inside(spec, task, [Io::Null, stdout, stderr], Detach::Group)
}

/// Starts a hand-off hook in its own process group with the given stdin,
/// stdout and stderr.
pub fn spawn_hook(spec: &SpawnSpec, stdin: Io<'_>, stdout: Io<'_>, stderr: Io<'_>) -> Result<Pid, SpawnError> {
    spawn::spawn(spec, stdin, stdout, stderr, Detach::Group, &Join::none())
}

/// An anonymous memory file, close-on-exec: a child's stdin prepared
/// whole, or where its output is kept (it gets it as 0, 1 or 2).
pub fn memfd(name: &str) -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let cname = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: memfd_create with a valid C string; the descriptor returned
    // is owned by the File from here on.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Every child that has ended since the last call, without blocking.
pub fn reap() -> Vec<(Pid, Exit)> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid, Exit::Code(code))),
            Ok(WaitStatus::Signaled(pid, sig, core)) => {
                out.push((pid, Exit::Signal { signal: sig as i32, core_dumped: core }))
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    out
}

/// Sends a signal to a whole process group. A group that is already gone is
/// not an error.
pub fn signal_group(pgid: Pid, sig: Signal) -> Result<(), Errno> {
    match killpg(pgid, sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether any process of a group exists, as kill(2) with signal 0 tells
/// (a process not yet reaped counts).
pub fn probe_group(pgid: Pid) -> Result<bool, Errno> {
    match killpg(pgid, None) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn signal_pid(pid: Pid, sig: Signal) -> Result<(), Errno> {
    match kill(pid, sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes supd the reaper of orphaned descendants of its tasks.
pub fn become_subreaper() -> Result<(), Errno> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Raises the soft open-files limit to the hard limit; returns the new
/// soft limit.
pub fn raise_nofile_limit() -> Result<u64, Errno> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// Makes the descriptor table hold `count` descriptors now, in one step,
/// while supd has one thread. The kernel grows a table by doubling it, and
/// once a second thread shares it each growth waits for an RCU grace
/// period (several ms on a quiet host): supd starting 1000 tasks opens
/// ~10 000 descriptors, eight growths. A duplicate at number `count - 1`,
/// closed at once, leaves the table that large.
pub fn reserve_descriptors(count: u64) {
    use nix::fcntl::{FcntlArg, fcntl};
    let Ok(top) = i32::try_from(count.saturating_sub(1)) else { return };
    if top < 64 {
        return;
    }
    let Ok(null) = std::fs::File::open("/dev/null") else { return };
    if let Ok(fd) = fcntl(&null, FcntlArg::F_DUPFD_CLOEXEC(top)) {
        // SAFETY: `fd` was just made by F_DUPFD and nothing else holds it;
        // the OwnedFd closes it here.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    }
}

/// Marks every descriptor above 2 that supd inherited as close-on-exec, so
/// that no task inherits what supd's parent left open.
pub fn close_inherited_on_exec() {
    // SAFETY: close_range takes no pointers and only sets the
    // close-on-exec flag: no descriptor that Rust code owns is closed.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    }
}

/// A pipe for a child's output: supd's end (the first) does not block, the
/// child's end does, so that a child writing faster than supd reads waits
/// rather than losing output. Both ends close on exec.
pub fn output_pipe() -> nix::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    fcntl(&write, FcntlArg::F_SETFL(OFlag::empty()))?;
    Ok((read, write))
}

/// A descriptor that becomes readable when the process ends, for a
/// process that is not supd's child (left by a previous supd).
pub fn pidfd_open(pid: Pid) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes no pointers; on success it returns a new
    // descriptor that this function then owns (nix has no wrapper).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Direct children of this process, from /proc (supd is a subreaper, so
/// orphaned descendants of tasks show up here). Through /proc/self: as PID 1
/// of a PID namespace whose /proc was not mounted anew, /proc/1 is another
/// process (the host's init), while /proc/self is always this one.
pub fn own_children() -> Vec<Pid> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()).map(Pid::from_raw));
        }
    }
    out
}

/// The values of some environment variables of a process (one read of
/// /proc/PID/environ), each `None` when unset or unreadable.
pub fn environ_vars<const N: usize>(pid: Pid, names: [&str; N]) -> [Option<String>; N] {
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    let Ok(data) = std::fs::read(format!("/proc/{pid}/environ")) else { return out };
    for kv in data.split(|b| *b == 0) {
        for (i, name) in names.iter().enumerate() {
            if out[i].is_none()
                && let Some(v) = kv.strip_prefix(name.as_bytes()).and_then(|r| r.strip_prefix(b"="))
            {
                out[i] = Some(String::from_utf8_lossy(v).into_owned());
            }
        }
    }
    out
}

/// What of supd's own environment never reaches a task: the variables
/// of Nomad's default `env.denylist` (tokens and cloud credentials),
/// `NOTIFY_SOCKET` (supd's own), and `NOMAD_VAR_*` (job variables, given
/// to `supctl`, not tasks).
const DENIED_ENV: &[&str] = &[
    "NOTIFY_SOCKET",
    "SUPD_REEXEC_FD",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "NOMAD_TOKEN",
    "VAULT_TOKEN",
    "CONSUL_LICENSE",
    "NOMAD_LICENSE",
    "VAULT_LICENSE",
    "CONSUL_LICENSE_PATH",
    "NOMAD_LICENSE_PATH",
    "VAULT_LICENSE_PATH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// supd's own environment for tasks, as Nomad's drivers pass the client's
/// (less [`DENIED_ENV`]), sorted by name. Read once: supd never changes
/// its own environment, and each start read it anew (some 70 allocations
/// a start with a shell's environment).
pub fn inherited_env() -> &'static [(String, String)] {
    static ENV: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let env: std::collections::BTreeMap<String, String> = std::env::vars_os()
            .filter(|(k, _)| {
                let k = k.to_string_lossy();
                !DENIED_ENV.contains(&k.as_ref()) && !k.starts_with("NOMAD_VAR_")
            })
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        env.into_iter().collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_for(pid: Pid) -> Exit {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, c)) => return Exit::Code(c),
                Ok(WaitStatus::Signaled(_, s, core)) => return Exit::Signal { signal: s as i32, core_dumped: core },
                _ => {}
            }
            assert!(Instant::now() < deadline, "child {pid} did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn spec(program: &str, args: &[&str]) -> SpawnSpec {
        SpawnSpec {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("X".into(), "42".into())],
            work_dir: Some("/tmp".into()),
            user: None,
            isolation: None,
        }
    }

    #[test]
    fn exec_errors_come_from_the_child() {
        let e = spawn(&spec("/no/such/bin", &[]), Io::Null, Io::Null).unwrap_err();
        assert!(!e.recoverable() && e.to_string().contains("could not be found"), "{e:?}");
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let e = spawn(&spec(plain.to_str().unwrap(), &[]), Io::Null, Io::Null).unwrap_err();
        assert!(!e.recoverable() && e.to_string().contains("not executable"), "{e:?}");
    }

    #[test]
    fn own_session_env_workdir_and_no_extra_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "echo $X; pwd; ps -o sid= -p $$; echo $$; ls /proc/self/fd > {}; cat > {}",
            dir.path().join("fds").display(),
            dir.path().join("stdin").display()
        );
        let f = std::fs::File::create(&out).unwrap();
        let pid = spawn(&spec("/bin/sh", &["-c", &script]), Io::Fd(std::os::fd::AsFd::as_fd(&f)), Io::Null).unwrap();
        assert_eq!(wait_for(pid), Exit::Code(0));
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "42");
        assert_eq!(lines[1], "/tmp");
        assert_eq!(lines[2].trim(), lines[3].trim(), "the task leads its own session");
        // ls lists its own descriptors: 0, 1, 2 and the one it reads the
        // directory with; nothing else was inherited.
        let fds = std::fs::read_to_string(dir.path().join("fds")).unwrap();
        let mut fds: Vec<u32> = fds.split_whitespace().map(|f| f.parse().unwrap()).collect();
        fds.sort();
        assert_eq!(fds, [0, 1, 2, 3]);
        assert_eq!(std::fs::read(dir.path().join("stdin")).unwrap(), b"", "stdin is /dev/null");
    }

    #[test]
    fn environment_of_another_process() {
        let mut s = spec("/bin/sleep", &["30"]);
        s.env.push(("NOMAD_TASK_NAME".into(), "web".into()));
        s.env.push(("NOMAD_ALLOC_ID".into(), "a=b".into()));
        let pid = spawn(&s, Io::Null, Io::Null).unwrap();
        // The new program's environment is in place a moment after spawn
        // returns (exec releases supd before it sets the stack up).
        let deadline = Instant::now() + Duration::from_secs(5);
        let [id, task, none] = loop {
            let got = environ_vars(pid, ["NOMAD_ALLOC_ID", "NOMAD_TASK_NAME", "NOMAD"]);
            if got[0].is_some() || Instant::now() > deadline {
                break got;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!((id.as_deref(), task.as_deref(), none), (Some("a=b"), Some("web"), None));
        signal_group(pid, Signal::SIGKILL).unwrap();
        wait_for(pid);
    }

    #[test]
    fn group_signals() {
        let pid = spawn(&spec("/bin/sleep", &["30"]), Io::Null, Io::Null).unwrap();
        signal_group(pid, Signal::SIGTERM).unwrap();
        assert_eq!(wait_for(pid), Exit::Signal { signal: Signal::SIGTERM as i32, core_dumped: false });
        // Signalling a group that is gone is fine.
        signal_group(pid, Signal::SIGKILL).unwrap();
    }

    #[test]
    fn users() {
        let root = lookup_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup_user("0").unwrap().name, "root");
        assert_eq!(lookup_user("no-such-user-here"), Err(UserError::Unknown("no-such-user-here".into())));
    }
}
