//! Starting a process in time independent of how many descriptors supd
//! holds. supd keeps several descriptors per task (capture pipes, log
//! files), so with 1000 tasks it holds thousands. `fork` copies that table
//! and `exec` then closes every close-on-exec entry one by one, each with a
//! flush: the cost of a start grows with the number of tasks, and starting N
//! tasks costs N².
//!
//! Here the child is created with `clone(CLONE_VM | CLONE_VFORK |
//! CLONE_FILES)`: it shares supd's memory and descriptor table (no copy of
//! either) while supd waits, suspended, until it has called `execve`. Its
//! first act on the table is `close_range(N, ~0, CLOSE_RANGE_UNSHARE)`,
//! which gives it a private table holding only descriptors below N: three
//! slots reserved at start-up (low numbers) into which supd has just put the
//! child's stdin, stdout and stderr. Nothing above is copied, so nothing has
//! to be closed. The child then moves the slots onto 0, 1 and 2, joins its
//! cgroups, starts its session, switches user, changes directory and execs.
//!
//! Between clone and exec the child only makes system calls on data
//! prepared before (no allocation, no locks); signals are blocked around
//! the clone and reset to their defaults in the child before it unblocks
//! them. An error before or at exec is written to memory the two share
//! (the child runs in supd's memory until exec), so it reaches supd as the
//! child's own errno.
//!
//! For a task started alone (a restart on a quiet host), supd's thread is
//! held to the CPU it runs on for the clone (`Pin`), so that the child,
//! which supd waits for, runs there at once rather than on the idlest CPU,
//! often one asleep that must be woken first; the child gets supd's CPUs
//! back before exec. Starts in numbers are not held: their children would
//! crowd supd's CPU.
//!
//! A task's cgroup v2 is joined at creation: `clone3` with
//! `CLONE_INTO_CGROUP` (Linux 5.7, x86_64 here) makes the child in it, so
//! nothing migrates. A migration (a write to `cgroup.procs`) takes the
//! cgroup core's global lock for writing, and unless the host mounts
//! cgroup2 with `favordynmods` the first writer after a quiet spell waits
//! for an RCU grace period: 7.8 ms measured on a 2-core VM, against
//! 0.43 ms for a `clone3` into the cgroup after the same quiet spell. v1
//! hierarchies (hybrid hosts) can only be joined by a write, which the
//! child still makes. Where `clone3` is missing (older kernels, seccomp
//! filters that refuse it), the child joins v2 by a write as well.
//!
//! A helper whose end the thread that starts it waits for itself (the `git`
//! of a git artifact, on a fetch thread: [`spawn_waited`]) dies with that
//! thread (`PR_SET_PDEATHSIG`). The loop may still reap it: how its status
//! reaches the thread is `process::bounded`'s.

mod pin;

use super::isolate::{self, Joined, Prepared};
use super::{SpawnError, SpawnSpec, spawn_error};
use nix::unistd::Pid;
use pin::Pin;
use std::ffi::{c_char, c_int, c_void};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

/// Where a child's stdin, stdout or stderr comes from.
pub enum Io<'a> {
    /// /dev/null.
    Null,
    /// supd's own descriptor of the same number.
    Inherit,
    Fd(std::os::fd::BorrowedFd<'a>),
}

/// How the child is set apart from supd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detach {
    /// Its own session and process group (`setsid`): a task.
    Session,
    /// Its own process group (`setpgid`): a script check or a hook.
    Group,
}

/// Three descriptors opened on /dev/null at start-up, before supd opens
/// anything else, so that they have low numbers.
struct Slots {
    fds: [RawFd; 3],
    null: RawFd,
}

static SLOTS: OnceLock<Option<Slots>> = OnceLock::new();

/// Reserves the descriptor slots; call it first thing in `main`. (Called
/// lazily otherwise, with whatever numbers are free then.)
pub fn reserve_slots() {
    SLOTS.get_or_init(open_slots);
}

fn open_slots() -> Option<Slots> {
    let open = || -> Option<RawFd> {
        // SAFETY: open(2) on a constant C string.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        (fd >= 0).then_some(fd)
    };
    Some(Slots { fds: [open()?, open()?, open()?], null: open()? })
}

/// The child's stack: the child runs on it until exec while supd is
/// suspended, so one is enough; the lock keeps spawns from other threads
/// (tests) apart.
static STACK: Mutex<Vec<u8>> = Mutex::new(Vec::new());
const STACK_SIZE: usize = 128 * 1024;

/// The cgroups a child joins before it execs.
#[derive(Debug, Default, Clone)]
pub struct Join {
    /// `cgroup.procs` files (v1), open for writing: the child writes
    /// itself ("0") to each.
    pub procs: Vec<RawFd>,
    /// A cgroup v2 directory, open: the child is made in it.
    pub dir: Option<RawFd>,
}

impl Join {
    pub fn none() -> Join {
        Join::default()
    }
}

/// Whether `clone3` refused a flag or the call itself: every start then
/// takes the `clone` path.
static NO_CLONE3: AtomicBool = AtomicBool::new(!cfg!(target_arch = "x86_64"));

/// What the child needs, all prepared by the parent.
struct ChildArgs<'a> {
    /// Full paths to try in order (the program, or it in each PATH entry).
    paths: &'a [*const c_char],
    argv: &'a [*const c_char],
    envp: &'a [*const c_char],
    cwd: Option<*const c_char>,
    ids: Option<(libc::uid_t, libc::gid_t, &'a [libc::gid_t])>,
    detach: Detach,
    cgroups: &'a [RawFd],
    /// A v2 cgroup directory the child must join by a write (it was not
    /// made in it).
    cgroup_dir: RawFd,
    /// Below this the private table keeps descriptors: the slots.
    keep_below: c_int,
    slots: [RawFd; 3],
    /// Signals whose handlers must not run in the child.
    reset: &'static [c_int],
    /// The kernel has reset the handlers (`CLONE_CLEAR_SIGHAND`): only
    /// SIGPIPE, which supd ignores (as every Rust program), is set back.
    cleared: bool,
    old_mask: libc::sigset_t,
    /// The CPUs supd's thread may run on, given back to the child (see
    /// [`Pin`]); `None` when the clone was not pinned.
    cpus: Option<libc::cpu_set_t>,
    /// Namespaces, mounts, root and capabilities of an isolated task.
    iso: Option<&'a Prepared>,
    /// The running isolated task the child starts inside.
    joined: Option<&'a Joined>,
    /// The child's errno and the step that failed, 0 when it exec'd.
    errno: AtomicI32,
    step: AtomicI32,
    /// A helper its starting thread waits for ([`spawn_waited`]).
    helper: bool,
}

/// Signals whose handlers must not run in the child.
const RESET: [c_int; 9] = [
    libc::SIGCHLD,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGPIPE,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

const STEP_CGROUP: i32 = 1;
const STEP_FDS: i32 = 2;
const STEP_SESSION: i32 = 3;
const STEP_USER: i32 = 4;
const STEP_CWD: i32 = 5;
const STEP_EXEC: i32 = 6;
const STEP_ISOLATE: i32 = 7;
const STEP_JOIN: i32 = 8;

/// Starts `spec` in the cgroups of `join`: the command line is made ready
/// in supd's memory, the child's stdio is put in the slots, the child is
/// cloned (it execs), the slots are let go, and what the child reported is
/// read back.
pub fn spawn(
    spec: &SpawnSpec,
    stdin: Io<'_>,
    stdout: Io<'_>,
    stderr: Io<'_>,
    detach: Detach,
    join: &Join,
) -> Result<Pid, SpawnError> {
    spawn_in(spec, [stdin, stdout, stderr], detach, join, None, false, false)
}

/// A task's process: as [`spawn`] in its own session; with `pin`, the
/// clone is held to supd's CPU ([`Pin`]).
pub fn spawn_task(spec: &SpawnSpec, stdio: [Io<'_>; 3], join: &Join, pin: bool) -> Result<Pid, SpawnError> {
    spawn_in(spec, stdio, Detach::Session, join, None, pin, false)
}

/// A helper in its own session whose end its caller waits for (see
/// `process::bounded`). It is killed (SIGKILL) if the calling thread ends
/// first (`PR_SET_PDEATHSIG`): a supd that exits or re-executes meanwhile
/// leaves none behind.
pub fn spawn_waited(spec: &SpawnSpec, stdio: [Io<'_>; 3]) -> Result<Pid, SpawnError> {
    spawn_in(spec, stdio, Detach::Session, &Join::none(), None, false, true)
}

/// As [`spawn`], inside the running isolated task whose first process is
/// `task` (its namespaces, root and capability bounds: `spec.isolation`
/// says which), instead of namespaces of its own.
pub fn spawn_inside(spec: &SpawnSpec, task: Pid, stdio: [Io<'_>; 3], detach: Detach) -> Result<Pid, SpawnError> {
    let Some(iso) = &spec.isolation else { return spawn_in(spec, stdio, detach, &Join::none(), None, false, false) };
    let joined = Joined::new(task.as_raw(), iso).map_err(|e| {
        SpawnError::Transient(format!("cannot enter the task (pid {task}) to start {:?}: {e}", spec.program))
    })?;
    spawn_in(spec, stdio, detach, &Join::none(), Some(&joined), false, false)
}

fn spawn_in(
    spec: &SpawnSpec,
    [stdin, stdout, stderr]: [Io<'_>; 3],
    detach: Detach,
    join: &Join,
    joined: Option<&Joined>,
    pin: bool,
    helper: bool,
) -> Result<Pid, SpawnError> {
    let line = CommandLine::new(spec)?;
    let iso = match &spec.isolation {
        Some(i) if joined.is_none() => Some(Prepared::new(i).map_err(|e| {
            SpawnError::Unrecoverable(format!("cannot prepare the isolation of {:?}: {e}", spec.program))
        })?),
        _ => None,
    };
    let Some(slots) = SLOTS.get_or_init(open_slots) else {
        return Err(SpawnError::Transient("cannot open /dev/null".into()));
    };
    let mut stack = STACK.lock().unwrap_or_else(|p| p.into_inner());
    if stack.len() < STACK_SIZE {
        stack.resize(STACK_SIZE, 0);
    }
    let mut args = ChildArgs::new(&line, spec, detach, join, slots);
    args.iso = iso.as_ref();
    args.joined = joined;
    args.helper = helper;
    let stdio = [&stdin, &stdout, &stderr];
    let pid = place_stdio(slots, stdio).and_then(|()| match joined {
        Some(j) => in_pid_namespace(j, || clone_child(&mut args, &mut stack, join, pin)),
        None => clone_child(&mut args, &mut stack, join, pin),
    });
    release_stdio(slots, stdio);
    drop(stack);
    let pid = match pid {
        Ok(pid) => pid,
        // A cgroup that cannot take the child (removed meanwhile, not a
        // leaf, not permitted).
        Err(e) if iso.is_some() && !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) => {
            return Err(SpawnError::Unrecoverable(format!(
                "cannot make the task's namespaces (mount, PID, IPC) to start {:?}: {e} — exec isolation needs supd to run as root on a kernel with namespaces; a plain host process is driver \"raw_exec\"",
                spec.program
            )));
        }
        Err(e) if join.dir.is_some() && !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) => {
            return Err(cannot_join(&spec.program, &e));
        }
        Err(e) => return Err(spawn_error(&spec.program, &e)),
    };
    child_report(spec, Pid::from_raw(pid), &args)
}

/// Runs `clone` with this thread's children made in the joined task's PID
/// namespace (when it has one of its own), and this thread's own PID
/// namespace back for its children after.
fn in_pid_namespace(j: &Joined, clone: impl FnOnce() -> std::io::Result<c_int>) -> std::io::Result<c_int> {
    use std::os::fd::AsRawFd;
    let Some(pid) = &j.pid else { return clone() };
    // SAFETY: setns on descriptors `j` holds open; CLONE_NEWPID changes
    // only where this thread's next children are made.
    if unsafe { libc::setns(pid.as_raw_fd(), libc::CLONE_NEWPID) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let r = clone();
    // SAFETY: as above, back to the namespace this thread's children were
    // made in before.
    if unsafe { libc::setns(j.own.as_raw_fd(), libc::CLONE_NEWPID) } < 0 {
        log::error!(
            "cannot return to supd's own PID namespace after a start inside a task: {}",
            std::io::Error::last_os_error()
        );
    }
    r
}

/// The command line, environment, paths to try and working directory as C
/// strings, owned here while the child reads them. Every string lives in
/// one buffer, each ended by a NUL: a start makes five allocations for its
/// command line, not two for each argument and variable (a task with a
/// shell's environment made about 90, and their holes stayed in the heap
/// between what the start kept).
struct CommandLine {
    /// The strings, back to back; never grown once the pointers are taken,
    /// and kept while they are read.
    _text: Vec<u8>,
    /// Each list ends with a null pointer, as execve wants it.
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    /// Full paths to try in order (the program, or it in each PATH entry).
    paths: Vec<*const c_char>,
    cwd: Option<*const c_char>,
}

impl CommandLine {
    fn new(spec: &SpawnSpec) -> Result<CommandLine, SpawnError> {
        let bad = |what: &str| SpawnError::Unrecoverable(format!("cannot start {:?}: {what}", spec.program));
        let nul = || bad("a NUL byte in the command line or environment");
        let search = (!spec.program.contains('/')).then(|| {
            spec.env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", |(_, v)| v.as_str())
        });
        let cwd = spec.work_dir.as_ref().map(|d| d.as_os_str().as_encoded_bytes());
        // Each string is written as its parts, then a NUL.
        let mut size = spec.program.len() + 1;
        size += spec.args.iter().map(|a| a.len() + 1).sum::<usize>();
        size += spec.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>();
        size += match search {
            None => spec.program.len() + 1,
            Some(path) => path.split(':').map(|d| d.len().max(1) + spec.program.len() + 2).sum(),
        };
        size += cwd.map_or(0, |d| d.len() + 1);
        let count = spec.args.len() + spec.env.len() + search.map_or(1, |p| p.split(':').count()) + 2;
        let mut text = Vec::with_capacity(size);
        // Where each string starts: the arguments, the variables, the
        // paths, the working directory.
        let mut starts = Vec::with_capacity(count);
        let mut put = |text: &mut Vec<u8>, parts: &[&[u8]]| -> Result<(), SpawnError> {
            starts.push(text.len());
            for part in parts {
                if part.contains(&0) {
                    return Err(nul());
                }
                text.extend_from_slice(part);
            }
            text.push(0);
            Ok(())
        };
        put(&mut text, &[spec.program.as_bytes()])?;
        for a in &spec.args {
            put(&mut text, &[a.as_bytes()])?;
        }
        for (k, v) in &spec.env {
            put(&mut text, &[k.as_bytes(), b"=", v.as_bytes()])?;
        }
        match search {
            None => put(&mut text, &[spec.program.as_bytes()])?,
            Some(path) => {
                for dir in path.split(':') {
                    let dir = if dir.is_empty() { "." } else { dir };
                    put(&mut text, &[dir.as_bytes(), b"/", spec.program.as_bytes()])?;
                }
            }
        }
        if let Some(d) = cwd {
            put(&mut text, &[d]).map_err(|_| bad("a NUL byte in the working directory"))?;
        }
        // The pointers are taken once `text` is written: it does not move
        // after.
        let base = text.as_ptr().cast::<c_char>();
        let mut at = starts.iter().map(|&i| base.wrapping_add(i));
        let ended = |at: &mut dyn Iterator<Item = *const c_char>, n: usize| -> Vec<*const c_char> {
            at.take(n).chain([std::ptr::null()]).collect()
        };
        let argv = ended(&mut at, 1 + spec.args.len());
        let envp = ended(&mut at, spec.env.len());
        let cwd = if cwd.is_some() { at.next_back() } else { None };
        let paths = at.collect();
        Ok(CommandLine { _text: text, argv, envp, paths, cwd })
    }
}

impl<'a> ChildArgs<'a> {
    /// Everything the child reads, pointing into `line`.
    fn new(line: &'a CommandLine, spec: &'a SpawnSpec, detach: Detach, join: &'a Join, slots: &Slots) -> ChildArgs<'a> {
        ChildArgs {
            paths: &line.paths,
            argv: &line.argv,
            envp: &line.envp,
            cwd: line.cwd,
            ids: spec.user.as_ref().map(|u| (u.uid, u.gid, u.groups.as_slice())),
            detach,
            cgroups: &join.procs,
            cgroup_dir: -1,
            keep_below: slots.fds.iter().copied().max().unwrap_or(2) + 1,
            slots: slots.fds,
            reset: &RESET,
            cleared: false,
            iso: None,
            joined: None,
            // SAFETY: a zeroed sigset_t is a valid value to be overwritten.
            old_mask: unsafe { std::mem::zeroed() },
            cpus: None,
            errno: AtomicI32::new(0),
            step: AtomicI32::new(0),
            helper: false,
        }
    }
}

/// Puts the child's stdin, stdout and stderr in the slots. Between spawns
/// every slot holds /dev/null: a `Null` costs nothing.
fn place_stdio(slots: &Slots, stdio: [&Io<'_>; 3]) -> std::io::Result<()> {
    for (own, (io, &slot)) in stdio.into_iter().zip(&slots.fds).enumerate() {
        let src = match io {
            Io::Null => continue,
            Io::Inherit => own as RawFd,
            Io::Fd(fd) => fd.as_raw_fd(),
        };
        // SAFETY: dup3 onto a slot this module owns.
        if unsafe { libc::dup3(src, slot, libc::O_CLOEXEC) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The slots let go of the child's stdio (a pipe must not keep a writer).
fn release_stdio(slots: &Slots, stdio: [&Io<'_>; 3]) {
    for (io, &slot) in stdio.into_iter().zip(&slots.fds) {
        if !matches!(io, Io::Null) {
            // SAFETY: dup3 of /dev/null onto a slot this module owns.
            unsafe { libc::dup3(slots.null, slot, libc::O_CLOEXEC) };
        }
    }
}

/// Clones the child on `stack`: into its v2 cgroup with `clone3` where the
/// kernel allows it, else with `clone` (the child then joins by a write).
/// Returns once the child has exec'd or exited (CLONE_VFORK).
fn clone_child(args: &mut ChildArgs<'_>, stack: &mut [u8], join: &Join, pin: bool) -> std::io::Result<c_int> {
    // SAFETY: every signal blocked around the clone, restored after; the
    // child gets the old mask back just before exec. `child` only makes
    // async-signal-safe system calls on `args`, which outlives the clone
    // (CLONE_VFORK: this thread is suspended until the child has exec'd or
    // exited). `stack` is ours alone (its lock is held) for as long.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut args.old_mask);
        let base = stack.as_mut_ptr();
        let top = ((base as usize + stack.len()) & !15) as *mut c_void;
        let argp = args as *mut ChildArgs<'_> as *mut c_void;
        let mut r = Err(std::io::Error::from_raw_os_error(libc::ENOSYS));
        let pin = if pin { Pin::here() } else { None };
        (*argp.cast::<ChildArgs<'_>>()).cpus = pin.as_ref().map(|p| p.cpus);
        if !NO_CLONE3.load(Ordering::Relaxed) {
            (*argp.cast::<ChildArgs<'_>>()).cleared = true;
            let ns = args.iso.map_or(0, |p| p.flags);
            r = clone3_into(join.dir, ns, base, top as usize - base as usize, argp);
            if let Err(e) = &r
                && matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL | libc::EPERM))
                // Namespaces refused are the isolation's failure, not clone3's.
                && (ns == 0 || e.raw_os_error() == Some(libc::ENOSYS))
            {
                // No clone3, no CLONE_INTO_CGROUP, or a filter that refuses
                // it (EPERM from seccomp, not from the cgroup: tried again
                // below by a write that says so).
                NO_CLONE3.store(true, Ordering::Relaxed);
                log::debug!("clone3 into a cgroup is not available ({e}): cgroups are joined by writes");
            }
        }
        if NO_CLONE3.load(Ordering::Relaxed) {
            (*argp.cast::<ChildArgs<'_>>()).cleared = false;
            (*argp.cast::<ChildArgs<'_>>()).cgroup_dir = join.dir.unwrap_or(-1);
            let ns = args.iso.map_or(0, |p| p.flags) as c_int;
            let pid = libc::clone(
                child,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | ns | libc::SIGCHLD,
                argp,
            );
            r = if pid < 0 { Err(std::io::Error::last_os_error()) } else { Ok(pid) };
        }
        drop(pin);
        libc::pthread_sigmask(libc::SIG_SETMASK, &args.old_mask, std::ptr::null_mut());
        r
    }
}

/// What the child reported: it exec'd (its pid), or the step that failed
/// and its errno (the child has exited: it is collected here).
fn child_report(spec: &SpawnSpec, pid: Pid, args: &ChildArgs<'_>) -> Result<Pid, SpawnError> {
    let errno = args.errno.load(Ordering::SeqCst);
    if errno == 0 {
        return Ok(pid);
    }
    let _ = nix::sys::wait::waitpid(pid, None);
    let e = std::io::Error::from_raw_os_error(errno);
    match args.step.load(Ordering::SeqCst) {
        STEP_EXEC | STEP_USER => Err(spawn_error(&spec.program, &e)),
        STEP_CGROUP => Err(cannot_join(&spec.program, &e)),
        STEP_ISOLATE => {
            let what = match (args.iso.and_then(Prepared::failed), &spec.isolation) {
                (Some(f), Some(i)) => args.iso.map_or(String::new(), |p| p.describe(f, i)),
                _ => "cannot isolate the task".into(),
            };
            Err(SpawnError::Unrecoverable(format!("{what} to start {:?}: {e}", spec.program)))
        }
        STEP_JOIN => Err(SpawnError::Transient(format!(
            "cannot enter the task's namespaces, root or capability bounds to start {:?}: {e}",
            spec.program
        ))),
        STEP_CWD => Err(SpawnError::Unrecoverable(format!(
            "cannot change to the working directory {:?} to start {:?}: {e}",
            spec.work_dir.as_deref().unwrap_or(std::path::Path::new("")),
            spec.program
        ))),
        _ => Err(SpawnError::Transient(format!("failed to start {:?}: {e}", spec.program))),
    }
}

fn cannot_join(program: &str, e: &std::io::Error) -> SpawnError {
    SpawnError::Cgroup(format!("cannot join the task's cgroup before starting {program:?}: {e}"))
}

/// `clone3(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_CLEAR_SIGHAND)`,
/// with `CLONE_INTO_CGROUP` when `dir` is given: the child is made in that
/// cgroup v2 directory, with every signal handler reset, and runs `child(arg)` on
/// the stack `[base, base + size)` (its top 16-byte aligned), then exits
/// with what it returned (it execs or `_exit`s first). glibc has no
/// wrapper that takes a function, so the few instructions are here.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_into(
    dir: Option<RawFd>,
    ns: u64,
    base: *mut u8,
    size: usize,
    arg: *mut c_void,
) -> std::io::Result<c_int> {
    /// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let into = if dir.is_some() { CLONE_INTO_CGROUP } else { 0 };
    let ca = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES) as u64 | CLONE_CLEAR_SIGHAND | into | ns,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: base as u64,
        stack_size: size as u64,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: dir.map_or(0, |d| d as u64),
    };
    let entry: extern "C" fn(*mut c_void) -> c_int = child;
    let ret: i64;
    // SAFETY: the kernel starts the child at the instruction after the
    // syscall with rax = 0 and rsp at the top of its stack, which is
    // 16-byte aligned, so the call below is made with the alignment the
    // ABI wants. The child never comes back to Rust code in this frame:
    // it calls `child`, which execs or exits, and exits with its return
    // value otherwise. The parent only gets rax (the pid or -errno);
    // syscall clobbers rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, 60",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &ca as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 { Err(std::io::Error::from_raw_os_error(-ret as i32)) } else { Ok(ret as c_int) }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_into(_: Option<RawFd>, _: u64, _: *mut u8, _: usize, _: *mut c_void) -> std::io::Result<c_int> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

/// The child, from clone to exec. Async-signal-safe system calls only.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's ChildArgs, alive and not touched by the
    // parent until this child execs or exits (CLONE_VFORK).
    let a = unsafe { &*(arg as *const ChildArgs<'_>) };
    // SAFETY: system calls on data prepared by the parent; see above.
    match unsafe { prepare(a) } {
        // SAFETY: as above.
        Ok(()) => unsafe { exec(a) },
        Err(step) => fail(a, step),
    }
}

/// Records the step that failed and errno for the parent, and exits
/// without running any destructor.
fn fail(a: &ChildArgs<'_>, step: i32) -> c_int {
    // SAFETY: reading errno and exiting.
    unsafe {
        let e = *libc::__errno_location();
        a.step.store(step, Ordering::SeqCst);
        a.errno.store(if e == 0 { libc::EINVAL } else { e }, Ordering::SeqCst);
        libc::_exit(127)
    }
}

/// Everything between the clone and the exec, in order; the step that
/// failed, with errno as it left it.
///
/// # Safety
/// Only in the child, on the parent's prepared data.
unsafe fn prepare(a: &ChildArgs<'_>) -> Result<(), i32> {
    // SAFETY: the caller's.
    unsafe {
        reset_signals(a);
        enter_cgroups(a)?;
        // Into a running task, while the descriptors that lead there are
        // still open.
        if let Some(j) = a.joined
            && isolate::join(j).is_err()
        {
            return Err(STEP_JOIN);
        }
        own_descriptors(a)?;
        detach(a)?;
        if let Some(p) = a.iso
            && let Err(step) = isolate::enter(p)
        {
            p.failed.store(step, Ordering::SeqCst);
            return Err(STEP_ISOLATE);
        }
        become_user(a)?;
        if let Some(dir) = a.cwd
            && libc::chdir(dir) < 0
        {
            return Err(STEP_CWD);
        }
        if let Some(cpus) = &a.cpus {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), cpus);
        }
        // A program starts with no signal blocked, whatever supd's thread
        // had blocked.
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        Ok(())
    }
}

/// # Safety
/// Only in the child.
unsafe fn reset_signals(a: &ChildArgs<'_>) {
    // SAFETY: the caller's.
    unsafe {
        if a.cleared {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        } else {
            for &sig in a.reset {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// # Safety
/// Only in the child.
unsafe fn enter_cgroups(a: &ChildArgs<'_>) -> Result<(), i32> {
    // SAFETY: the caller's.
    unsafe {
        for &fd in a.cgroups {
            if libc::write(fd, b"0".as_ptr() as *const c_void, 1) != 1 {
                return Err(STEP_CGROUP);
            }
        }
        if a.cgroup_dir >= 0 {
            let fd = libc::openat(a.cgroup_dir, c"cgroup.procs".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr() as *const c_void, 1) != 1 {
                return Err(STEP_CGROUP);
            }
            libc::close(fd);
        }
        Ok(())
    }
}

/// A private descriptor table holding only the slots (and anything below
/// them): nothing above is copied, so nothing is closed.
///
/// # Safety
/// Only in the child.
unsafe fn own_descriptors(a: &ChildArgs<'_>) -> Result<(), i32> {
    // SAFETY: the caller's.
    unsafe {
        if libc::syscall(libc::SYS_close_range, a.keep_below as u32, u32::MAX, libc::CLOSE_RANGE_UNSHARE) < 0 {
            return Err(STEP_FDS);
        }
        for (target, &slot) in a.slots.iter().enumerate() {
            if libc::dup2(slot, target as c_int) < 0 {
                return Err(STEP_FDS);
            }
        }
        libc::syscall(libc::SYS_close_range, 3u32, a.keep_below as u32, 0u32);
        Ok(())
    }
}

/// # Safety
/// Only in the child.
unsafe fn detach(a: &ChildArgs<'_>) -> Result<(), i32> {
    // SAFETY: the caller's.
    unsafe {
        let detached = match a.detach {
            Detach::Session => libc::setsid() >= 0,
            Detach::Group => libc::setpgid(0, 0) == 0,
        };
        if !detached {
            return Err(STEP_SESSION);
        }
        if a.helper {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        }
        Ok(())
    }
}

/// The task's user, then the capabilities root keeps.
///
/// # Safety
/// Only in the child.
unsafe fn become_user(a: &ChildArgs<'_>) -> Result<(), i32> {
    // SAFETY: the caller's.
    unsafe {
        // The system calls themselves, not glibc's wrappers: in a
        // multi-threaded program these make every thread change its ids
        // too (signalling them and waiting on a futex), which in a child
        // that shares supd's memory waits for threads that are not its own
        // (a child made by the spawn thread hung there for good).
        if let Some((uid, gid, groups)) = &a.ids
            && (libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) < 0
                || libc::syscall(libc::SYS_setgid, *gid) < 0
                || libc::syscall(libc::SYS_setuid, *uid) < 0)
        {
            return Err(STEP_USER);
        }
        if let Some(p) = a.iso
            && libc::geteuid() == 0
            && !isolate::limit_root_caps(p.keep)
        {
            p.failed.store(5, Ordering::SeqCst);
            return Err(STEP_ISOLATE);
        }
        if let Some(j) = a.joined
            && libc::geteuid() == 0
            && !isolate::limit_root_caps(j.keep)
        {
            return Err(STEP_JOIN);
        }
        Ok(())
    }
}

/// As execvp: the first path that is not missing wins; EACCES is
/// remembered over a later ENOENT. Returns only when no path ran.
///
/// # Safety
/// Only in the child.
unsafe fn exec(a: &ChildArgs<'_>) -> c_int {
    // SAFETY: the caller's.
    unsafe {
        let mut saw_eacces = false;
        for &p in a.paths {
            libc::execve(p, a.argv.as_ptr(), a.envp.as_ptr());
            match *libc::__errno_location() {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => saw_eacces = true,
                _ => return fail(a, STEP_EXEC),
            }
        }
        if saw_eacces {
            *libc::__errno_location() = libc::EACCES;
        }
        fail(a, STEP_EXEC)
    }
}

#[cfg(test)]
mod tests;
