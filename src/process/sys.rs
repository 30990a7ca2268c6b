//! The system calls that are not about one child but still need `unsafe`
//! or raw descriptors: a socket address as the kernel takes it (a tcp
//! check's connect and its reset), the signalfd that delivers SIGCHLD,
//! the allocator's trim, and the identity of a process across a restart of
//! supd. Kept here so that `process/` stays the one unsafe island.

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// A socket address as the kernel takes it, for `connect` on a socket that
/// is reused: std has no way to connect an existing socket, nor to connect
/// one to `AF_UNSPEC`.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    /// `AF_UNSPEC`: connecting to it dissolves a socket's association.
    pub fn unspecified() -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data, and all zeroes is a
        // valid value of it: the family AF_UNSPEC.
        let storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        RawAddr { storage, len: std::mem::size_of::<libc::sockaddr>() as libc::socklen_t }
    }
}

impl From<SocketAddr> for RawAddr {
    fn from(addr: SocketAddr) -> RawAddr {
        let mut raw = RawAddr::unspecified();
        let ptr = std::ptr::addr_of_mut!(raw.storage);
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in and
                // aligned for it, which is what the kernel's ABI promises.
                unsafe { ptr.cast::<libc::sockaddr_in>().write(sin) };
                raw.len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { ptr.cast::<libc::sockaddr_in6>().write(sin6) };
                raw.len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }
}

/// `connect(2)` on a socket the caller owns.
pub fn connect(fd: BorrowedFd, addr: &RawAddr) -> nix::Result<()> {
    // SAFETY: the pointer and length describe `addr.storage`, which lives
    // for the call; the kernel only reads `len` bytes of it.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), std::ptr::addr_of!(addr.storage).cast(), addr.len) };
    Errno::result(rc).map(drop)
}

/// SIGCHLD as a descriptor: blocked in the calling thread (call it before
/// any other thread exists, so that they inherit the mask and no SIGCHLD
/// is delivered elsewhere), read from a non-blocking signalfd. A SIGCHLD
/// ignored by whoever started supd would have the kernel reap its children
/// unseen: the default disposition comes back first.
pub fn child_signals() -> nix::Result<SignalFd> {
    // SAFETY: installing the default disposition sets no handler, so no
    // code of ours can run in signal context.
    unsafe { nix::sys::signal::signal(Signal::SIGCHLD, SigHandler::SigDfl) }?;
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    chld.thread_block()?;
    SignalFd::with_flags(&chld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// SIGPIPE back to its default, as a command-line tool wants it: a reader
/// that goes away (`supctl … | head`) ends the writer quietly.
pub fn default_sigpipe() {
    // SAFETY: as for SIGCHLD above: the default disposition runs no code
    // of ours.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// The width of the terminal on standard output; `None` when it is not
/// a terminal (a pipe or a file).
pub fn stdout_columns() -> Option<usize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes only the winsize it is given, which lives
    // for the call; it fails on a descriptor that is not a terminal.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// Gives the allocator's free memory back to the system (after a large
/// answer has gone out, so that a status of a thousand tasks does not stay
/// in supd's footprint).
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases memory the allocator holds free;
    // it touches no live allocation.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0)
    };
}

/// A process's start time in clock ticks since boot, if it exists.
pub fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The time since boot in clock ticks, as `/proc/PID/stat` counts a
/// process's start: read just before and just after a child is made, it
/// brackets that child's start time; when both readings are within a tick,
/// the first stands for it and no file of the child is read (so nothing
/// is left for the kernel to prune when it is reaped).
pub fn boot_ticks_now() -> Option<u64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten()?;
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    let ns = u64::try_from(t.tv_sec()).ok()? * 1_000_000_000 + u64::try_from(t.tv_nsec()).ok()?;
    Some(ns / (1_000_000_000 / hz))
}

/// A child's start time from the boot clock read `before` and `after`
/// making it: the first reading when the two are within a tick, else its
/// own `/proc/PID/stat`.
pub fn child_start_ticks(pid: i32, before: Option<u64>, after: Option<u64>) -> Option<u64> {
    match (before, after) {
        (Some(b), Some(a)) if a.saturating_sub(b) <= 1 => Some(b),
        _ => start_ticks(pid),
    }
}

/// Whether `pid` is still the process that started at `ticks` (as
/// [`child_start_ticks`] gave it): not a later process that got the same
/// pid.
pub fn same_process(pid: i32, ticks: u64) -> bool {
    start_ticks(pid).is_some_and(|t| t >= ticks && t - ticks <= 1)
}

/// The wall-clock time of a process start given in clock ticks since boot
/// (as [`start_ticks`] reads it).
pub fn ticks_to_wall(ticks: u64) -> Option<std::time::SystemTime> {
    let now = boot_ticks_now()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten()?;
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    let ago = now.checked_sub(ticks)?;
    std::time::SystemTime::now().checked_sub(std::time::Duration::from_millis(ago * 1000 / hz))
}

/// Whether the process `pid`, which started at `ticks`, still runs in one
/// of the cgroups `dirs` (or `dirs` is empty: supd ran without cgroups):
/// a task process a previous supd left, that this one may take over.
pub fn still_the_task(pid: i32, ticks: u64, dirs: &[std::path::PathBuf]) -> bool {
    same_process(pid, ticks) && (dirs.is_empty() || super::cgroup::holds(dirs, pid))
}

/// After start-up (and once large answers stop): unmaps supd's own code and
/// read-only data, so that what stays mapped is what supd runs from now on.
///
/// A fault on a file page maps its cached neighbours too (up to 64 KiB
/// around it), so once every job file is parsed and every task started,
/// most of the 6 MiB binary is mapped, whether it runs again or not (the
/// HCL parser and evaluator, the decoder, start-up itself). Dropping those
/// mappings leaves the pages in the page cache (nothing is read from disk
/// again); what supd runs next is mapped again at its first use, with a
/// minor fault. Measured with 1000 job files: 5.3 MiB of supd's PSS was its
/// code before, 2.8 MiB after, with a `supctl status` served since.
///
/// Only mappings of the executable that nothing ever wrote are dropped
/// (not the relocated read-only data, not the writable data).
///
/// The ranges are found once (in `/proc/self/smaps`) and kept: supd's own
/// mappings do not change, so a later call (after large answers) costs
/// only the `madvise` calls.
pub fn release_startup_code() {
    static RANGES: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();
    for &(start, end) in RANGES.get_or_init(own_code_ranges) {
        // SAFETY: the range is a private mapping of supd's own executable
        // that holds no written page (checked in `own_code_ranges`: no
        // anonymous page), so MADV_DONTNEED only unmaps pages that are
        // identical to the file's; the next access maps the same contents
        // again from the page cache. The mapping itself stays.
        let _ = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// The mappings of supd's executable that nothing ever wrote.
fn own_code_ranges() -> Vec<(usize, usize)> {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else { return Vec::new() };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return Vec::new() };
    let mut current: Option<(usize, usize, bool)> = None;
    let mut drop = Vec::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            if let Some((s, e, true)) = current.take() {
                drop.push((s, e));
            }
            let mut f = line.split_whitespace();
            let perms = f.nth(1).unwrap_or_default();
            let path = f.nth(3);
            let ours = path == exe.to_str() && perms.starts_with('r') && !perms.contains('w');
            current = Some((start, end, ours));
        } else if let Some((_, _, ours)) = current.as_mut()
            && let Some(kb) = line.strip_prefix("Anonymous:")
            && kb.trim().trim_end_matches("kB").trim() != "0"
        {
            // Written to (relocations): those pages are copies, not the
            // file's. (`Private_Dirty` would also count page-cache pages
            // not yet written back, as right after an install.)
            *ours = false;
        }
    }
    if let Some((s, e, true)) = current {
        drop.push((s, e));
    }
    drop
}

fn set_of(signals: &[i32]) -> SigSet {
    let mut set = SigSet::empty();
    for s in signals.iter().filter_map(|&n| Signal::try_from(n).ok()) {
        set.add(s);
    }
    set
}

/// Blocks `signals` in the calling thread: the signals supd handles,
/// across an exec of its own binary, so that one that comes while the new
/// image has no handler yet waits for it instead of taking the default
/// action (which ends supd).
pub fn block_signals(signals: &[i32]) -> nix::Result<()> {
    set_of(signals).thread_block()
}

/// Unblocks them: after the handlers are installed (those that came
/// meanwhile are delivered now), or when the exec failed.
pub fn unblock_signals(signals: &[i32]) -> nix::Result<()> {
    set_of(signals).thread_unblock()
}

/// Sets or clears a descriptor's close-on-exec flag: cleared, it stays
/// open across supd's exec of its own binary (`daemon-reexec`).
pub fn set_close_on_exec(fd: BorrowedFd, close: bool) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let flags = if close { FdFlag::FD_CLOEXEC } else { FdFlag::empty() };
    fcntl(fd, FcntlArg::F_SETFD(flags)).map(drop)
}

/// Takes a descriptor the previous image of supd left open for this one
/// (named in what it carried across the exec): `None` when no descriptor
/// is open under that number, or it is one of the standard three. It is
/// made close-on-exec again.
pub fn inherited_fd(raw: std::os::fd::RawFd) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if raw < 3 {
        return None;
    }
    // SAFETY: F_GETFD takes no pointers; it only says whether `raw` is open.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the descriptor is open, and nothing in this image owns it:
    // the previous image handed it over by number, and each number is
    // taken once (the caller takes what it carried once).
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    use std::os::fd::AsFd;
    let _ = set_close_on_exec(fd.as_fd(), true);
    Some(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_identify_a_process() {
        let me = std::process::id() as i32;
        let t = start_ticks(me).expect("this process has a start time");
        assert_eq!(start_ticks(me), Some(t));
        assert_eq!(start_ticks(i32::MAX), None);
        // The boot clock read around making a child brackets its start.
        let before = boot_ticks_now();
        let mut child = std::process::Command::new("sleep").arg("1").spawn().expect("sleep runs");
        let after = boot_ticks_now();
        let pid = child.id() as i32;
        let started = start_ticks(pid).expect("the child has a start time");
        let (b, a) = (before.expect("a boot clock"), after.expect("a boot clock"));
        assert!(b <= started && started <= a, "{b} <= {started} <= {a}");
        let ticks = child_start_ticks(pid, before, after).expect("a start time");
        assert!(same_process(pid, ticks));
        assert!(!same_process(pid, started + 2), "a later start is another process");
        assert!(!same_process(pid, started.saturating_sub(50)), "an earlier start is another process");
        // Readings far apart: the child's own start time.
        assert_eq!(child_start_ticks(pid, Some(0), Some(1000)), Some(started));
        let _ = child.kill();
        let _ = child.wait();
        assert!(!same_process(pid, ticks), "gone");
    }
}
