//! A helper program run to its end by the thread that starts it (the `git`
//! of a git artifact, on a fetch thread), never on the loop: in a session
//! of its own (no terminal to prompt on), stdin from /dev/null, with a
//! deadline, a flag that stops it early, a look at what it has done about
//! once a second, and no more of its output kept than asked. At the
//! deadline, when stopped, or when it ends, its whole process group is
//! killed (SIGKILL: what it left running goes with it), then it is reaped.
//!
//! supd's loop reaps every child of supd (`waitpid(-1)`), so it may take
//! this one's status before the thread does (a child made with no exit
//! signal gets SIGCHLD back once it has exec'd: no way around that). Each run
//! is therefore announced ([`Claims`]): while one is in flight, what the
//! loop reaps and does not own is handed to the claims ([`taken`]), and
//! the thread reads its program's status there when its own wait finds
//! it gone. Its group is killed only while the thread still sees it
//! unreaped, so that neither its pid nor its group's id can have been
//! given to another process meanwhile.

use super::spawn::{self, Io};
use super::{Exit, SpawnError, SpawnSpec};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest one wait lasts: how soon `cancel` is seen.
const TICK: Duration = Duration::from_millis(100);

/// How often `watch` is asked.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Reads of one output per turn at most, so that a program that writes
/// without pause does not keep the turn from looking at the deadline.
const READS_PER_TURN: usize = 16;

/// What bounds one run; `E` is why `watch` stops it.
pub struct Bounds<'a, E> {
    /// When the program is killed if it has not ended.
    pub deadline: Instant,
    /// Set by another thread: the program is killed within a tenth of a
    /// second.
    pub cancel: &'a AtomicBool,
    /// Bytes kept of stdout (its start) and of stderr (its end, where a
    /// program says why it failed); the rest is read and dropped.
    pub keep: usize,
    /// Asked about once a second while the program runs; an error kills
    /// it (what it writes has grown over a limit, say), and is handed back
    /// in [`Ended::Stopped`].
    pub watch: &'a mut dyn FnMut() -> Result<(), E>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended<E> {
    Exited {
        exit: Exit,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    /// Killed at the deadline.
    TimedOut {
        stderr: Vec<u8>,
    },
    /// Killed: `cancel` was set.
    Cancelled,
    /// Killed: `watch` said why.
    Stopped {
        why: E,
    },
}

/// Runs `spec` (its `program` and environment as given, nothing of supd's
/// added) to its end within `b`; blocks the calling thread meanwhile.
/// `Err` when it could not be started.
pub fn run<E>(spec: &SpawnSpec, b: Bounds<'_, E>) -> Result<Ended<E>, SpawnError> {
    // Before the program exists: the loop keeps what it reaps from now on.
    let _claim = Claim::new();
    let pipe = || {
        super::output_pipe().map_err(|e| {
            SpawnError::Transient(format!("cannot make a pipe for the output of {:?}: {}", spec.program, e.desc()))
        })
    };
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    let pid = spawn::spawn_waited(spec, [Io::Null, Io::Fd(out_write.as_fd()), Io::Fd(err_write.as_fd())])?;
    // Only the program holds the write ends now: its end closes them.
    drop(out_write);
    drop(err_write);
    // Wakes the wait when the program ends; without it (a kernel before
    // 5.3) the wait lasts its tick.
    let pidfd = super::pidfd_open(pid).ok();
    let mut out = Output::new(out_read, b.keep, Keep::Start);
    let mut err = Output::new(err_read, b.keep, Keep::End);
    let Bounds { deadline, cancel, watch, .. } = b;
    let mut next_watch = Instant::now() + WATCH_EVERY;
    let stopped = loop {
        let now = Instant::now();
        if cancel.load(Ordering::Relaxed) {
            break Some(Ended::Cancelled);
        }
        if now >= deadline {
            break Some(Ended::TimedOut { stderr: Vec::new() });
        }
        if now >= next_watch {
            if let Err(why) = watch() {
                break Some(Ended::Stopped { why });
            }
            next_watch = now + WATCH_EVERY;
        }
        let wait = TICK.min(deadline.saturating_duration_since(now)).min(next_watch.saturating_duration_since(now));
        wait_ready(pidfd.as_ref(), &out, &err, wait);
        out.drain();
        err.drain();
        if ended(pid) {
            break None;
        }
    };
    // What the program left in its group goes with it, while it is not
    // reaped (its pid, and so the group's id, is still its own).
    if !taken_by_loop(pid) {
        let _ = super::signal_group(pid, Signal::SIGKILL);
    }
    let exit = reap(pid);
    out.drain();
    err.drain();
    Ok(match stopped {
        Some(Ended::TimedOut { .. }) => Ended::TimedOut { stderr: err.into_kept() },
        Some(other) => other,
        None => Ended::Exited { exit, stdout: out.into_kept(), stderr: err.into_kept() },
    })
}

/// Waits up to `wait` for the program's end or its output.
fn wait_ready(pidfd: Option<&OwnedFd>, out: &Output, err: &Output, wait: Duration) {
    let mut fds: Vec<PollFd> = Vec::with_capacity(3);
    if let Some(fd) = pidfd {
        fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
    }
    for o in [out, err] {
        if let Some(f) = &o.file {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
        }
    }
    let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::ZERO);
    if fds.is_empty() || poll(&mut fds, timeout).is_err() {
        std::thread::sleep(wait);
    }
}

/// Whether the program has ended, looked at without reaping it.
fn ended(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
    // Anything else: ended, or no longer a child of this process (ECHILD),
    // so that nothing is left to wait for.
    !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive) | Err(Errno::EINTR))
}

/// Whether supd's loop has reaped the program already (it is no longer
/// this process's child).
fn taken_by_loop(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
    matches!(waitid(Id::Pid(pid), flags), Err(Errno::ECHILD))
}

/// Reaps the program (killed or ended); how it ended, from the loop when
/// the loop reaped it, `Unknown` when that cannot be read.
fn reap(pid: Pid) -> Exit {
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, code)) => return Exit::Code(code),
            Ok(WaitStatus::Signaled(_, sig, core_dumped)) => {
                return Exit::Signal { signal: sig as i32, core_dumped };
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return exit_taken(pid, TAKEN_WAIT),
            Err(_) => return Exit::Unknown,
        }
    }
}

/// How long a thread waits for the loop to hand over a status it reaped
/// (the loop reaps at once; this bounds a loop held up elsewhere).
const TAKEN_WAIT: Duration = Duration::from_secs(5);

/// How many statuses reaped by the loop are kept for runs in flight.
const TAKEN_KEPT: usize = 64;

/// Statuses the loop reaped while runs were in flight, newest last.
struct Claims {
    in_flight: usize,
    taken: std::collections::VecDeque<(Pid, Exit)>,
}

static CLAIMS: std::sync::Mutex<Claims> =
    std::sync::Mutex::new(Claims { in_flight: 0, taken: std::collections::VecDeque::new() });
static TAKEN: std::sync::Condvar = std::sync::Condvar::new();

fn claims() -> std::sync::MutexGuard<'static, Claims> {
    CLAIMS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A run in flight, from before its program exists to after its status
/// is read.
struct Claim;

impl Claim {
    fn new() -> Claim {
        claims().in_flight += 1;
        Claim
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut c = claims();
        c.in_flight -= 1;
        if c.in_flight == 0 {
            c.taken.clear();
        }
    }
}

/// The loop reaped `pid`, a child it does not own: kept for a run in
/// flight whose program it may be (nothing is kept when none is).
pub fn taken(pid: Pid, exit: Exit) {
    let mut c = claims();
    if c.in_flight == 0 {
        return;
    }
    if c.taken.len() == TAKEN_KEPT {
        c.taken.pop_front();
    }
    c.taken.push_back((pid, exit));
    TAKEN.notify_all();
}

/// The status of `pid` as the loop reaped it, waiting at most `within`.
fn exit_taken(pid: Pid, within: Duration) -> Exit {
    let until = Instant::now() + within;
    let mut c = claims();
    loop {
        if let Some(i) = c.taken.iter().rposition(|(p, _)| *p == pid) {
            return c.taken.remove(i).map_or(Exit::Unknown, |(_, e)| e);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Exit::Unknown;
        }
        c = TAKEN.wait_timeout(c, left).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
    }
}

/// Which part of an output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Start,
    End,
}

/// One of the program's outputs: supd's end of its pipe (non-blocking),
/// and what is kept of it.
struct Output {
    /// `None` once the program (and all it started) closed its end.
    file: Option<File>,
    kept: Vec<u8>,
    keep: usize,
    which: Keep,
}

impl Output {
    fn new(fd: OwnedFd, keep: usize, which: Keep) -> Output {
        Output { file: Some(File::from(fd)), kept: Vec::new(), keep, which }
    }

    /// Reads what is there now, without waiting.
    fn drain(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        for _ in 0..READS_PER_TURN {
            let Some(mut f) = self.file.as_ref() else { return };
            match f.read(&mut buf) {
                Ok(0) => {
                    self.file = None;
                    return;
                }
                Ok(n) => self.take(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.file = None;
                    return;
                }
            }
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        match self.which {
            Keep::Start => {
                let room = self.keep.saturating_sub(self.kept.len());
                self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Keep::End => {
                self.kept.extend_from_slice(bytes);
                // Trimmed in steps, not at every read.
                if self.kept.len() > self.keep.saturating_mul(2) {
                    let cut = self.kept.len() - self.keep;
                    self.kept.drain(..cut);
                }
            }
        }
    }

    /// What is kept, at most `keep` bytes.
    fn into_kept(mut self) -> Vec<u8> {
        if self.kept.len() > self.keep {
            let cut = self.kept.len() - self.keep;
            self.kept.drain(..cut);
        }
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: &str, args: &[&str]) -> SpawnSpec {
        SpawnSpec {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            work_dir: None,
            user: None,
            isolation: None,
        }
    }

    /// A watch of the tests: why it stops a run is a plain message.
    type Watch<'a> = &'a mut dyn FnMut() -> Result<(), &'static str>;

    fn bounds<'a>(deadline: Duration, cancel: &'a AtomicBool, watch: Watch<'a>) -> Bounds<'a, &'static str> {
        Bounds { deadline: Instant::now() + deadline, cancel, keep: 8, watch }
    }

    fn fine() -> Result<(), &'static str> {
        Ok(())
    }

    #[test]
    fn the_program_runs_to_its_end_with_its_output_kept_within_bounds() {
        let cancel = AtomicBool::new(false);
        let mut watch = fine;
        let s = spec("sh", &["-c", "echo 0123456789abcdef; echo fatal: 0123456789 >&2; exit 3"]);
        let ended = run(&s, bounds(Duration::from_secs(20), &cancel, &mut watch)).unwrap();
        assert_eq!(
            ended,
            Ended::Exited { exit: Exit::Code(3), stdout: b"01234567".to_vec(), stderr: b"3456789\n".to_vec() },
            "the start of stdout, the end of stderr"
        );
    }

    /// At the deadline the whole group goes: the program and what it
    /// started (a `sleep` that would otherwise hold the output open).
    #[test]
    fn the_deadline_kills_the_whole_group() {
        let cancel = AtomicBool::new(false);
        let mut watch = fine;
        // A sleep of its own length, to be found by it.
        let marker = format!("30.{}", std::process::id());
        let script = format!("sleep {marker} & echo started >&2; sleep 30");
        let s = spec("sh", &["-c", script.as_str()]);
        let started = Instant::now();
        let ended = run(&s, bounds(Duration::from_millis(500), &cancel, &mut watch)).unwrap();
        assert!(matches!(&ended, Ended::TimedOut { stderr } if stderr == b"started\n"), "{ended:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        // The sleep sh started in the background went with it (a zombie
        // until its new parent reaps it has an empty command line).
        let left = || {
            std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
                .filter(|c| String::from_utf8_lossy(c).contains(&marker))
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while left() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(left(), 0, "a process of the group outlived the deadline");
    }

    #[test]
    fn cancel_and_watch_stop_the_program() {
        let cancel = AtomicBool::new(true);
        let mut watch = fine;
        let ended = run(&spec("sleep", &["30"]), bounds(Duration::from_secs(20), &cancel, &mut watch)).unwrap();
        assert_eq!(ended, Ended::Cancelled);
        let cancel = AtomicBool::new(false);
        let mut watch = || -> Result<(), &'static str> { Err("grew too large") };
        let ended = run(&spec("sleep", &["30"]), bounds(Duration::from_secs(20), &cancel, &mut watch)).unwrap();
        assert_eq!(ended, Ended::Stopped { why: "grew too large" });
    }

    #[test]
    fn a_missing_program_is_an_error_of_its_own() {
        let cancel = AtomicBool::new(false);
        let mut watch = fine;
        let e = run(&spec("/nonexistent/supd-test", &[]), bounds(Duration::from_secs(5), &cancel, &mut watch));
        assert!(matches!(e, Err(SpawnError::Unrecoverable(ref m)) if m.contains("could not be found")), "{e:?}");
    }
}
