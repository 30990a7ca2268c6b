//! supd's own stdout and stderr, never waited on by the loop: a write goes
//! out at once when nothing waits and the stream has room (poll says so),
//! else into a bounded queue that a thread of the stream's own writes
//! out. A container whose log driver stalls, or a pipe nobody reads, fills
//! the queue, and what comes next is dropped and counted (and said, once
//! the stream moves again) instead of freezing supervision. Task output
//! sent to `stdout` and supd's own log both go this way, in order per
//! stream.
//!
//! When the stream is the journal's (`JOURNAL_STREAM` names its device and
//! inode, as systemd sets it), lines may carry a `<N>` priority prefix,
//! which journald reads as the entry's priority.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What may wait to be written to one stream.
const QUEUE_LIMIT: usize = 1 << 20;

/// Why a write to one of supd's streams (`stream`: `stdout` or `stderr`)
/// was refused or failed; what was refused is counted as dropped.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The stream's queue was poisoned by a panic.
    #[error("supd's {stream} is unusable")]
    Unusable { stream: &'static str },
    /// The thread that writes the stream could not be started.
    #[error("supd cannot start the thread that writes its {stream}")]
    NoThread { stream: &'static str },
    /// Writes to the stream fail (this one, or the last one tried).
    #[error("cannot write to supd's {stream}: {source}")]
    Write {
        stream: &'static str,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The queue is full (`kib` KiB wait): nobody reads the stream.
    #[error("supd's {stream} is not being read ({kib} KiB wait to be written)")]
    NotRead { stream: &'static str, kib: usize },
}

/// One of supd's two output streams.
pub struct Writer {
    name: &'static str,
    fd: Fd,
    shared: Arc<Shared>,
    /// The writing thread runs.
    running: bool,
    journal: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Items arrived.
    ready: Condvar,
    /// The queue is empty and nothing is being written.
    idle: Condvar,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Vec<u8>>,
    bytes: usize,
    writing: bool,
    /// Writes refused (queue full) or failed since the stream last took one.
    dropped: u64,
    /// Writes refused or failed since supd started.
    dropped_total: u64,
    /// The last write error, until a write succeeds.
    error: Option<Arc<std::io::Error>>,
}

#[derive(Clone, Copy)]
enum Fd {
    Stdout,
    Stderr,
}

impl Fd {
    fn with<T>(self, f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> T) -> T {
        match self {
            Fd::Stdout => f(std::io::stdout().as_fd()),
            Fd::Stderr => f(std::io::stderr().as_fd()),
        }
    }

    /// One write(2) of what fits.
    fn write_once(self, data: &[u8]) -> std::io::Result<usize> {
        self.with(|fd| nix::unistd::write(fd, data)).map_err(std::io::Error::from)
    }

    fn write_all(self, data: &[u8]) -> std::io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            match self.write_once(rest) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A stream left non-blocking by whoever opened it: wait for
                // room here, on this thread.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.poll_writable(1000);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the stream has room for a write now (waiting at most
    /// `ms`): for a pipe, a free buffer, so that a write of up to
    /// [`DIRECT_MAX`] bytes does not wait.
    fn poll_writable(self, ms: u16) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        self.with(|fd| {
            let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
            poll(&mut fds, PollTimeout::from(ms)).is_ok_and(|n| n > 0)
                && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLOUT))
        })
    }

    fn is_journal(self) -> bool {
        let Some(text) = std::env::var_os("JOURNAL_STREAM") else { return false };
        let Some((dev, ino)) = text.to_str().and_then(|t| t.split_once(':')) else { return false };
        self.with(|fd| nix::sys::stat::fstat(fd))
            .is_ok_and(|st| dev.parse() == Ok(st.st_dev) && ino.parse() == Ok(st.st_ino))
    }
}

/// The most written by the caller at once, when nothing waits and the
/// stream has room: a pipe's atomic write size, which fits a free buffer.
const DIRECT_MAX: usize = 4096;

impl Writer {
    fn start(name: &'static str, fd: Fd) -> Writer {
        let shared = Arc::new(Shared { queue: Mutex::default(), ready: Condvar::new(), idle: Condvar::new() });
        let worker = Arc::clone(&shared);
        // The thread starts with every signal blocked (a thread inherits
        // its maker's mask): SIGCHLD, read from a signalfd by the loop,
        // must never be taken by this thread instead.
        use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
        let mut old = SigSet::empty();
        let blocked = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), Some(&mut old)).is_ok();
        let running = std::thread::Builder::new()
            .name(format!("supd-{name}"))
            .stack_size(64 << 10)
            .spawn(move || write_loop(&worker, fd, name))
            .is_ok();
        if blocked {
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
        Writer { name, fd, shared, running, journal: fd.is_journal() }
    }

    /// Queues `data` (whole lines) to be written; refused, and counted,
    /// when the stream is not keeping up or fails.
    pub fn write(&self, data: &[u8]) -> Result<(), ConsoleError> {
        let stream = self.name;
        let Ok(mut q) = self.shared.queue.lock() else { return Err(ConsoleError::Unusable { stream }) };
        if !self.running {
            q.dropped += 1;
            q.dropped_total += 1;
            return Err(ConsoleError::NoThread { stream });
        }
        // Nothing waits: written here and now while the stream has room, as
        // a plain write would be (in order: the queue's lock is held), in
        // pieces that end with a line and fit a pipe's free buffer, so that
        // none waits; what does not go at once is queued.
        let mut data = data;
        let mut mid_line = false;
        if q.items.is_empty() && !q.writing && q.error.is_none() && q.dropped == 0 {
            while !data.is_empty() && self.fd.poll_writable(0) {
                let room = data.len().min(DIRECT_MAX);
                let piece = match data[..room].iter().rposition(|b| *b == b'\n') {
                    Some(i) => i + 1,
                    None => room,
                };
                match self.fd.write_once(&data[..piece]) {
                    Ok(0) => break,
                    Ok(n) => {
                        mid_line = n < piece || data[n - 1] != b'\n';
                        data = &data[n..];
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => break,
                    Err(e) => {
                        let e = Arc::new(e);
                        q.error = Some(Arc::clone(&e));
                        q.dropped += 1;
                        q.dropped_total += 1;
                        return Err(ConsoleError::Write { stream, source: e });
                    }
                }
            }
            if data.is_empty() {
                return Ok(());
            }
        }
        // A line begun on the stream is finished there, whatever waits.
        if q.bytes + data.len() > QUEUE_LIMIT && !mid_line {
            q.dropped += 1;
            q.dropped_total += 1;
            return Err(match &q.error {
                Some(e) => ConsoleError::Write { stream, source: Arc::clone(e) },
                None => ConsoleError::NotRead { stream, kib: QUEUE_LIMIT >> 10 },
            });
        }
        // While writes fail (a closed stream), data is still queued: the
        // thread tries it, counting it when that fails too, and the stream
        // may take it again. The caller hears of the failure now.
        let failing = q.error.as_ref().map(|e| ConsoleError::Write { stream, source: Arc::clone(e) });
        q.bytes += data.len();
        q.items.push_back(data.to_vec());
        self.shared.ready.notify_one();
        match failing {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The stream is the journal's: a `<N>` prefix sets a line's priority.
    pub fn is_journal(&self) -> bool {
        self.journal
    }

    /// Writes refused or failed since supd started.
    pub fn dropped(&self) -> u64 {
        self.shared.queue.lock().map_or(0, |q| q.dropped_total)
    }

    /// Waits until everything queued is written, or `deadline`.
    fn flush(&self, deadline: Instant) {
        let Ok(mut q) = self.shared.queue.lock() else { return };
        while self.running && (!q.items.is_empty() || q.writing) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match self.shared.idle.wait_timeout(q, deadline - now) {
                Ok((guard, _)) => q = guard,
                Err(_) => return,
            }
        }
    }
}

fn write_loop(shared: &Shared, fd: Fd, name: &str) {
    loop {
        let batch: Vec<Vec<u8>> = {
            let Ok(mut q) = shared.queue.lock() else { return };
            q.writing = false;
            while q.items.is_empty() {
                shared.idle.notify_all();
                q = match shared.ready.wait(q) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
            q.writing = true;
            q.bytes = 0;
            q.items.drain(..).collect()
        };
        let data = batch.concat();
        let result = fd.write_all(&data);
        let Ok(mut q) = shared.queue.lock() else { return };
        match result {
            Ok(()) => {
                q.error = None;
                let dropped = std::mem::take(&mut q.dropped);
                if dropped > 0 {
                    drop(q);
                    let note = format!(
                        "supd warning: {dropped} writes to supd's {name} were dropped while it was not being read\n"
                    );
                    let _ = fd.write_all(note.as_bytes());
                }
            }
            Err(e) => {
                q.dropped += batch.len() as u64;
                q.dropped_total += batch.len() as u64;
                q.error = Some(Arc::new(e));
            }
        }
    }
}

static OUT: OnceLock<Writer> = OnceLock::new();
static ERR: OnceLock<Writer> = OnceLock::new();

/// supd's stdout.
pub fn stdout() -> &'static Writer {
    OUT.get_or_init(|| Writer::start("stdout", Fd::Stdout))
}

/// supd's stderr.
pub fn stderr() -> &'static Writer {
    ERR.get_or_init(|| Writer::start("stderr", Fd::Stderr))
}

/// Writes what is queued on both streams, waiting at most `limit`: before
/// supd exits. A stream never written to is left alone.
pub fn flush(limit: Duration) {
    let deadline = Instant::now() + limit;
    for w in [OUT.get(), ERR.get()].into_iter().flatten() {
        w.flush(deadline);
    }
}
