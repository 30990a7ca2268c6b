//! Capture of task output. Each task's stdout and stderr go through a pipe
//! that supd holds across the task's restarts (as runit and s6 do), read
//! without blocking in the main loop, into
//! `<log_dir>/<job>/<group>[<index>]/<task>.stdout.N` (and `.stderr.N`),
//! rotated by the task's `logs` block. The highest N is the file being
//! written; the oldest files go once there are `max_files`. A line is not
//! split across two files unless it is longer than a whole file. When a
//! write fails (a full disk), output is dropped and counted, and supervision
//! goes on.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod console;
pub mod journal;
pub mod route;

/// At most this much is read per call, so that memory stays flat however
/// fast a task writes.
const READ_BUDGET: usize = 64 * 1024;

/// One captured stream of one task.
/// One of a task's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`: the suffix of its log files.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The stream the protocol's `stderr` flag names.
    pub fn from_stderr(stderr: bool) -> Stream {
        if stderr { Stream::Stderr } else { Stream::Stdout }
    }
}

pub struct Capture {
    /// The task's log directory (one copy for both streams).
    dir: Arc<Path>,
    /// `task.stdout`
    base: String,
    read: File,
    write: OwnedFd,
    file: Option<File>,
    index: u64,
    size: u64,
    max_files: u32,
    max_size: u64,
    /// The current file ends with a whole line (or is empty).
    at_line_start: bool,
    /// The directory exists and `index` names the newest file: done at the
    /// first write, so that a task that writes nothing costs no files.
    located: bool,
    /// Output is stored in files (else only read, and forwarded).
    files: bool,
    /// The group the files and their directories are given (`log_group`).
    group: Option<u32>,
    /// The current file's times (`BASE.N.t`, see [`times_path`]), and the
    /// last time written there (Unix milliseconds).
    times: Option<File>,
    last_ms: u64,
    /// How large the times file is: it stays within half its log file's
    /// size (and 4 KiB), records growing sparser for a writer of tiny
    /// lines.
    times_size: u64,
    /// Writes to the files that failed (`None` until one does: kept per
    /// stream of every task).
    trouble: Option<Box<Trouble>>,
}

/// The failed writes of one stream (to files, the journal or supd's
/// stdout), and when they were last reported.
#[derive(Debug, Default)]
pub struct Trouble {
    /// Bytes that could not be written.
    pub dropped: u64,
    /// The last write error, until it is reported.
    pub error: Option<String>,
    /// Failed writes since the last report.
    failures: u64,
    /// When a problem was last reported; `None` while writes succeed.
    reported: Option<std::time::Instant>,
    /// A write succeeded after failures were reported.
    recovered: bool,
}

impl Trouble {
    /// A write of `bytes` failed with `error`.
    pub fn fail(&mut self, bytes: usize, error: impl FnOnce() -> String) {
        self.failures += 1;
        self.dropped += bytes as u64;
        if self.error.is_none() {
            self.error = Some(error());
        }
    }

    /// A write succeeded.
    pub fn succeeded(&mut self) {
        if self.reported.is_some() {
            self.recovered = true;
        }
    }

    /// What is to be reported now, if anything: a failure at once, then
    /// at most once per [`REPORT_EVERY`] with the count of failures in
    /// between (a full disk would otherwise fill the task's events and
    /// supd's log with the same line), and the recovery.
    pub fn problem(&mut self, now: std::time::Instant) -> Option<Problem> {
        if self.recovered && self.error.is_none() {
            self.recovered = false;
            self.reported = None;
            return Some(Problem::Recovered { failures: std::mem::take(&mut self.failures), dropped: self.dropped });
        }
        self.recovered = false;
        let due = self.reported.is_none_or(|r| now.duration_since(r) >= REPORT_EVERY);
        if !due {
            self.error = None;
            return None;
        }
        let error = self.error.take()?;
        self.reported = Some(now);
        Some(Problem::Failing { error, failures: std::mem::take(&mut self.failures).max(1), dropped: self.dropped })
    }
}

/// A stream's trouble with its files, as it is to be reported.
#[derive(Debug, PartialEq)]
pub enum Problem {
    /// Writes fail: the error, the failed writes it stands for, and the
    /// bytes dropped so far.
    Failing { error: String, failures: u64, dropped: u64 },
    /// Writes succeed again after failing.
    Recovered { failures: u64, dropped: u64 },
}

/// The same failure of one stream is reported at most this often; the
/// failures in between are counted in the next report.
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Capture {
    /// Creates the pipe. The file is opened when the first output arrives:
    /// the newest file of an earlier run of supd is appended to, never
    /// truncated. `base` must be a plain file name (see
    /// [`crate::names::beneath`]).
    pub fn open(
        dir: impl Into<Arc<Path>>,
        base: &str,
        max_files: u32,
        max_file_size_mb: u32,
    ) -> std::io::Result<Capture> {
        // The task's end blocks as usual: a task writing faster than supd
        // reads waits, it does not lose output.
        let (read, write) = crate::process::output_pipe()?;
        Capture::adopt(dir, base, max_files, max_file_size_mb, read, write)
    }

    /// A capture whose pipe already exists: the one an earlier image of
    /// supd held for the same task (`daemon-reexec`), with whatever the
    /// task wrote meanwhile still in it. The read end must not block.
    pub fn adopt(
        dir: impl Into<Arc<Path>>,
        base: &str,
        max_files: u32,
        max_file_size_mb: u32,
        read: OwnedFd,
        write: OwnedFd,
    ) -> std::io::Result<Capture> {
        let dir = dir.into();
        crate::names::beneath(&dir, &[base])?;
        Ok(Capture {
            dir,
            base: base.to_string(),
            read: File::from(read),
            write,
            file: None,
            index: 0,
            size: 0,
            max_files: max_files.max(1),
            max_size: u64::from(max_file_size_mb.max(1)) << 20,
            at_line_start: true,
            located: false,
            files: true,
            group: None,
            times: None,
            last_ms: 0,
            times_size: 0,
            trouble: None,
        })
    }

    /// Both ends of the pipe, to keep across an exec of supd's own binary.
    pub fn fds(&self) -> (std::os::fd::BorrowedFd<'_>, std::os::fd::BorrowedFd<'_>) {
        use std::os::fd::AsFd;
        (self.read.as_fd(), self.write.as_fd())
    }

    /// Whether output is stored in files; without, it is only read (and
    /// forwarded by the caller).
    pub fn keep_files(&mut self, files: bool) {
        self.files = files;
    }

    /// Gives the files, and the directories made for them, this group.
    pub fn group_files(&mut self, gid: Option<u32>) {
        self.group = gid;
    }

    pub fn raw_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// The task's end of the pipe.
    pub fn write_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.write.as_fd()
    }

    /// The file being written.
    pub fn current_path(&self) -> std::io::Result<PathBuf> {
        self.path(self.index)
    }

    /// The file being written, for messages.
    pub fn shown(&self) -> String {
        format!("{}/{}.{}", self.dir.display(), self.base, self.index)
    }

    fn path(&self, index: u64) -> std::io::Result<PathBuf> {
        file(&self.dir, &self.base, index)
    }

    fn open_current(&mut self) -> std::io::Result<()> {
        if !self.located {
            // Task output may hold what the task was given: its owner's
            // group may read it (0750, 0640), no one else.
            std::fs::DirBuilder::new().recursive(true).mode(0o750).create(&self.dir)?;
            if let Some(gid) = self.group {
                // The instance's directory and its job's, below the log
                // directory (which supd gives the group at its start).
                for d in [Some(&*self.dir), self.dir.parent()].into_iter().flatten() {
                    std::os::unix::fs::chown(d, None, Some(gid))?;
                }
            }
            self.index = existing(&self.dir, &self.base).into_iter().max().unwrap_or(0);
            self.located = true;
        }
        let path = self.current_path()?;
        let f = OpenOptions::new().create(true).append(true).mode(0o640).open(&path)?;
        if let Some(gid) = self.group {
            std::os::unix::fs::fchown(&f, None, Some(gid))?;
        }
        self.size = f.metadata()?.len();
        self.at_line_start = self.size == 0 || ends_with_newline(&path);
        self.file = Some(f);
        // The times are a help to `logs -t`, not the output: a file that
        // cannot be had costs them, not the output.
        self.times = OpenOptions::new().create(true).append(true).mode(0o640).open(times_path(&path)).ok();
        if let (Some(t), Some(gid)) = (&self.times, self.group) {
            let _ = std::os::unix::fs::fchown(t, None, Some(gid));
        }
        self.times_size = self.times.as_ref().and_then(|t| t.metadata().ok()).map_or(0, |m| m.len());
        self.last_ms = 0;
        Ok(())
    }

    /// Reads what the task wrote, stores it, and returns it (for followers).
    pub fn drain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while out.len() < READ_BUDGET {
            match self.read.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: all read
            }
        }
        if !out.is_empty() && self.files {
            self.store(&out);
        }
        out
    }

    /// Whether a read stopped at the budget with more to read.
    pub fn budget() -> usize {
        READ_BUDGET
    }

    fn store(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = self.max_size.saturating_sub(self.size) as usize;
            let cut = if data.len() <= room {
                data.len()
            } else {
                match data[..room].iter().rposition(|b| *b == b'\n') {
                    Some(i) => i + 1,
                    // No line end fits. A line that starts here begins a
                    // fresh file; one already begun here fills this file (it
                    // is longer than a file, or was read in pieces).
                    None if self.size > 0 && self.at_line_start => 0,
                    None => room,
                }
            };
            if cut > 0 {
                self.write_out(&data[..cut]);
                data = &data[cut..];
            }
            if !data.is_empty() {
                self.rotate();
            }
        }
    }

    fn write_out(&mut self, chunk: &[u8]) {
        if self.file.is_none()
            && let Err(e) = self.open_current()
        {
            self.fail(chunk.len(), e);
            return;
        }
        if let Some(f) = self.file.as_mut() {
            match f.write_all(chunk) {
                Ok(()) => {
                    if let Some(t) = self.trouble.as_deref_mut() {
                        t.succeeded();
                    }
                    // When it was read, for the lines it starts (one record
                    // per millisecond at most).
                    let ms = now_ms();
                    if ms != self.last_ms
                        && (self.times_size < self.size / 2 + 4096 || ms.saturating_sub(self.last_ms) >= 60_000)
                        && let Some(t) = self.times.as_mut()
                    {
                        // One write, whole: a line of its own.
                        let record = format!("{} {ms}\n", self.size);
                        if t.write_all(record.as_bytes()).is_ok() {
                            self.times_size += record.len() as u64;
                        }
                        self.last_ms = ms;
                    }
                    self.size += chunk.len() as u64;
                    self.at_line_start = chunk.last() == Some(&b'\n');
                }
                Err(e) => {
                    // Reopen next time: the disk may have room again.
                    self.file = None;
                    self.fail(chunk.len(), e);
                }
            }
        }
    }

    /// What is to be reported now about the files (see [`Trouble::problem`]).
    pub fn problem(&mut self, now: std::time::Instant) -> Option<Problem> {
        self.trouble.as_deref_mut()?.problem(now)
    }

    /// Bytes that could not be written to the files.
    pub fn dropped(&self) -> u64 {
        self.trouble.as_ref().map_or(0, |t| t.dropped)
    }

    fn fail(&mut self, bytes: usize, e: std::io::Error) {
        let shown = self.shown();
        self.trouble.get_or_insert_default().fail(bytes, || format!("cannot write {shown}: {e}"));
    }

    fn rotate(&mut self) {
        self.index += 1;
        self.file = None;
        self.times = None;
        self.times_size = 0;
        self.size = 0;
        self.at_line_start = true;
        if let Err(e) = self.open_current() {
            let shown = self.shown();
            let trouble = self.trouble.get_or_insert_default();
            if trouble.error.is_none() {
                trouble.error = Some(format!("cannot open {shown}: {e}"));
            }
            // Still move on, so that the size limit holds.
            self.size = 0;
        }
        let keep_from = (self.index + 1).saturating_sub(u64::from(self.max_files));
        for old in existing(&self.dir, &self.base) {
            if old < keep_from
                && let Ok(path) = self.path(old)
            {
                let _ = std::fs::remove_file(times_path(&path));
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The last `n` lines written, from the newest files.
    pub fn tail(&self, n: usize) -> Vec<u8> {
        tail(&self.dir, &self.base, n)
    }
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Seek, SeekFrom};
    let mut last = [0u8; 1];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::End(-1))?;
            f.read_exact(&mut last)
        })
        .is_ok_and(|()| last[0] == b'\n')
}

/// The indices of `base.N` files in `dir`.
fn existing(dir: &Path, base: &str) -> Vec<u64> {
    let prefix = format!("{base}.");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix(&prefix)?.parse::<u64>().ok()).collect()
        })
        .unwrap_or_default()
}

/// The most `tail` returns.
const MAX_TAIL: usize = 4 << 20;

/// The last `n` lines of a rotated stream, at most [`MAX_TAIL`] bytes of
/// them. Read backwards from the end of the newest file, block by block,
/// so that the cost is that of the lines asked for, whatever the files'
/// sizes.
pub fn tail(dir: &Path, base: &str, n: usize) -> Vec<u8> {
    use std::io::{Seek, SeekFrom};
    const BLOCK: u64 = 64 << 10;
    if n == 0 {
        return Vec::new();
    }
    let mut indices = existing(dir, base);
    indices.sort_unstable_by(|a, b| b.cmp(a));
    // Blocks from the end backwards; line ends counted but for the very
    // last byte (the end of the last line is not the start of another).
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    let mut line_ends = 0usize;
    'files: for i in indices {
        let Ok(mut f) = file(dir, base, i).and_then(File::open) else { continue };
        let Ok(len) = f.metadata().map(|m| m.len()) else { continue };
        let mut end = len;
        while end > 0 {
            let start = end.saturating_sub(BLOCK);
            let mut block = vec![0u8; (end - start) as usize];
            if f.seek(SeekFrom::Start(start)).and_then(|_| f.read_exact(&mut block)).is_err() {
                continue 'files; // shrunk meanwhile (rotated): what was read stays
            }
            line_ends += block.iter().filter(|b| **b == b'\n').count();
            if total == 0 && block.last() == Some(&b'\n') {
                line_ends -= 1;
            }
            total += block.len();
            blocks.push(block);
            end = start;
            if line_ends >= n || total >= MAX_TAIL {
                break 'files;
            }
        }
    }
    let mut collected = Vec::with_capacity(total);
    for b in blocks.iter().rev() {
        collected.extend_from_slice(b);
    }
    drop(blocks);
    let mut start = collected.len();
    let mut seen = 0;
    let body_end = if collected.last() == Some(&b'\n') { collected.len() - 1 } else { collected.len() };
    for (i, b) in collected[..body_end].iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                start = i + 1;
                break;
            }
        }
        start = i;
    }
    collected.split_off(start.min(collected.len()))
}

/// Where the times of a log file's lines are kept: `BASE.N.t`, a line
/// `OFFSET UNIX_MS` for each write (the moment supd read what it holds).
pub fn times_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(".t");
    PathBuf::from(name)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A file's times: (offset, Unix ms), in the order written (offsets grow).
fn read_times(file: &Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(times_path(file)) else { return Vec::new() };
    text.lines()
        .filter_map(|l| {
            let (o, t) = l.split_once(' ')?;
            Some((o.parse().ok()?, t.parse().ok()?))
        })
        .collect()
}

/// [`tail`], each line with the time supd read it (Unix ms), or `None`
/// where no time was kept (files written before times were, or whose
/// times file is gone).
pub fn tail_timed(dir: &Path, base: &str, n: usize) -> Vec<(Option<u64>, Vec<u8>)> {
    let bytes = tail(dir, base, n);
    // Where the bytes come from: the newest files' ends, newest last.
    let mut indices = existing(dir, base);
    indices.sort_unstable_by(|a, b| b.cmp(a));
    let mut segments = Vec::new(); // (start in `bytes`, file, offset in it)
    let mut remaining = bytes.len() as u64;
    for i in indices {
        if remaining == 0 {
            break;
        }
        let Ok(path) = file(dir, base, i) else { continue };
        let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) else { continue };
        let take = remaining.min(len);
        remaining -= take;
        segments.push((remaining, path, len - take));
    }
    segments.reverse();
    let mut times: Vec<Vec<(u64, u64)>> = segments.iter().map(|(_, p, _)| read_times(p)).collect();
    let mut out = Vec::new();
    let mut at = 0u64;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let seg = segments.iter().rposition(|(start, _, _)| *start <= at);
        let time = seg.and_then(|k| {
            let (start, _, offset) = &segments[k];
            let in_file = offset + (at - start);
            let t = &mut times[k];
            let i = t.partition_point(|(o, _)| *o <= in_file);
            i.checked_sub(1).map(|i| t[i].1)
        });
        out.push((time, line.to_vec()));
        at += line.len() as u64;
    }
    out
}

/// The directory of one instance's logs: `<log_dir>/<job>/<group>[<index>]`,
/// or an error when a name would lead outside `log_dir`. A periodic job's
/// launched run (`JOB/periodic-T`) has its directory in its job's.
pub fn instance_dir(log_dir: &Path, job: &str, group: &str, index: u32) -> std::io::Result<PathBuf> {
    let instance = format!("{group}[{index}]");
    let parts: Vec<&str> = job.split('/').chain([instance.as_str()]).collect();
    Ok(crate::names::beneath(log_dir, &parts)?)
}

/// One file of a rotated stream: `<dir>/<base>.<index>`.
fn file(dir: &Path, base: &str, index: u64) -> std::io::Result<PathBuf> {
    Ok(crate::names::beneath(dir, &[&format!("{base}.{index}")])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn write_through(s: &Capture, data: &[u8]) {
        let mut w = File::from(s.write.try_clone().unwrap());
        w.write_all(data).unwrap();
    }

    fn files(dir: &Path, base: &str) -> Vec<(u64, String)> {
        let mut v: Vec<(u64, String)> = existing(dir, base)
            .into_iter()
            .map(|i| (i, std::fs::read_to_string(dir.join(format!("{base}.{i}"))).unwrap()))
            .collect();
        v.sort();
        v
    }

    /// Each write's time is kept beside its file: `tail_timed` gives each
    /// line the time supd read it, across rotated files; a file kept
    /// without times (older) gives none; rotation removes both.
    #[test]
    fn lines_keep_the_time_they_were_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Capture::open(dir.path(), "t.stdout", 2, 1).unwrap();
        let before = now_ms();
        write_through(&s, b"one\ntwo\n");
        s.drain();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_through(&s, b"three\n");
        s.drain();
        let after = now_ms();
        let lines = tail_timed(dir.path(), "t.stdout", 10);
        let texts: Vec<&[u8]> = lines.iter().map(|(_, l)| l.as_slice()).collect();
        assert_eq!(texts, [&b"one\n"[..], b"two\n", b"three\n"]);
        let times: Vec<u64> = lines.iter().map(|(t, _)| t.expect("a time")).collect();
        assert!(times[0] >= before && times[2] <= after, "{times:?} in {before}..{after}");
        assert_eq!(times[0], times[1], "one read, one time");
        assert!(times[2] >= times[1] + 20, "{times:?}");
        // Over rotation (1 MiB files): the times follow their lines. (The
        // pipe holds 64 KiB: written and read in pieces.)
        let piece = vec![b'x'; 60 << 10];
        for _ in 0..4 {
            for _ in 0..10 {
                write_through(&s, &piece);
                s.drain();
            }
            write_through(&s, b"\n");
            s.drain();
        }
        let lines = tail_timed(dir.path(), "t.stdout", 2);
        assert_eq!(lines.len(), 2);
        assert!(
            lines.iter().all(|(t, l)| t.is_some() && l.ends_with(b"x\n")),
            "{:?}",
            lines.iter().map(|(t, l)| (t, l.len())).collect::<Vec<_>>()
        );
        // At most 2 files: the oldest went, with its times.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n == "t.stdout.0" || n == "t.stdout.0.t"), "{names:?}");
        assert_eq!(
            names.iter().filter(|n| n.ends_with(".t")).count(),
            names.iter().filter(|n| !n.ends_with(".t")).count(),
            "{names:?}"
        );
        // Files without their times (as written before times were kept):
        // lines without a time.
        for n in names.iter().filter(|n| n.ends_with(".t")) {
            std::fs::remove_file(dir.path().join(n)).unwrap();
        }
        assert!(tail_timed(dir.path(), "t.stdout", 2).iter().all(|(t, _)| t.is_none()));
    }

    #[test]
    fn rotates_at_size_keeping_lines_whole_and_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Capture::open(dir.path(), "t.stdout", 3, 1).unwrap();
        // Lines of 30 KiB (less than a pipe holds): 34 fit a 1 MiB file,
        // the 35th starts the next.
        let line = format!("{}\n", "x".repeat(30 * 1024 - 1));
        for _ in 0..(34 * 4 + 5) {
            write_through(&s, line.as_bytes());
            s.drain();
        }
        let f = files(dir.path(), "t.stdout");
        assert_eq!(f.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2, 3, 4], "only max_files remain");
        for (_, text) in &f[..2] {
            assert_eq!(text.len(), 34 * line.len(), "full files hold whole lines");
        }
        assert_eq!(f[2].1.len(), 5 * line.len());
        assert!(f.iter().all(|(_, t)| t.ends_with('\n')));
    }

    #[test]
    fn a_line_longer_than_a_file_is_split() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Capture::open(dir.path(), "t.stderr", 10, 1).unwrap();
        let big = vec![b'y'; (1 << 20) + 10];
        let mut w = File::from(s.write.try_clone().unwrap());
        std::thread::spawn(move || w.write_all(&big).unwrap());
        let mut total = 0;
        while total < (1 << 20) + 10 {
            total += s.drain().len();
        }
        let f = files(dir.path(), "t.stderr");
        assert_eq!(f.iter().map(|(_, t)| t.len()).collect::<Vec<_>>(), [1 << 20, 10]);
    }

    #[test]
    fn appends_after_a_restart_of_supd_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Capture::open(dir.path(), "t.stdout", 10, 10).unwrap();
            write_through(&s, b"one\ntwo\n");
            s.drain();
        }
        let mut s = Capture::open(dir.path(), "t.stdout", 10, 10).unwrap();
        write_through(&s, b"three\nfour");
        s.drain();
        assert_eq!(std::fs::read_to_string(s.current_path().unwrap()).unwrap(), "one\ntwo\nthree\nfour");
        assert_eq!(s.tail(2), b"three\nfour");
        assert_eq!(s.tail(10), b"one\ntwo\nthree\nfour");
        assert_eq!(s.tail(0), b"");
    }

    #[test]
    fn tail_spans_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.stdout.3"), "a\nb\n").unwrap();
        std::fs::write(dir.path().join("t.stdout.4"), "c\n").unwrap();
        assert_eq!(tail(dir.path(), "t.stdout", 2), b"b\nc\n");
        assert_eq!(tail(dir.path(), "t.stdout", 5), b"a\nb\nc\n");
    }

    #[test]
    fn tail_reads_only_the_end_of_a_huge_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.stdout.0");
        let f = File::create(&path).unwrap();
        f.set_len(3 << 30).unwrap(); // sparse: 3 GiB of nothing on disk
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let lines: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        f.write_all(lines.as_bytes()).unwrap();
        assert_eq!(tail(dir.path(), "t.stdout", 3), b"line 99997\nline 99998\nline 99999\n");
        // A line ending block boundaries apart is found whole.
        let long = "x".repeat(200 << 10);
        f.write_all(format!("{long}\nlast").as_bytes()).unwrap();
        assert_eq!(tail(dir.path(), "t.stdout", 2), format!("{long}\nlast").as_bytes());
        // Whatever is asked, at most MAX_TAIL (and a little) comes back.
        assert!(tail(dir.path(), "t.stdout", 10_000_000).len() <= MAX_TAIL + (64 << 10));
    }

    #[test]
    fn unwritable_output_is_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Capture::open(dir.path(), "t.stdout", 10, 10).unwrap();
        // /dev/full fails every write with ENOSPC, like a full disk.
        s.file = Some(OpenOptions::new().append(true).open("/dev/full").unwrap());
        write_through(&s, b"lost\n");
        assert_eq!(s.drain(), b"lost\n");
        assert_eq!(s.dropped(), 5);
        let error = s.trouble.as_ref().and_then(|t| t.error.as_deref());
        assert!(error.unwrap_or("").contains("No space left"), "{error:?}");
        // The next write reopens the real file and works.
        write_through(&s, b"kept\n");
        s.drain();
        assert_eq!(std::fs::read_to_string(s.current_path().unwrap()).unwrap(), "kept\n");
    }

    #[test]
    fn a_failing_stream_is_reported_once_then_with_the_count_then_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Capture::open(dir.path(), "t.stdout", 2, 1).unwrap();
        let t0 = std::time::Instant::now();
        for _ in 0..3 {
            s.fail(10, std::io::Error::other("full"));
        }
        let Some(Problem::Failing { failures: 3, dropped: 30, .. }) = s.problem(t0) else { panic!("first report") };
        s.fail(10, std::io::Error::other("full"));
        assert_eq!(s.problem(t0 + Duration::from_secs(1)), None, "reported again within the minute");
        s.fail(10, std::io::Error::other("full"));
        let later = t0 + REPORT_EVERY;
        let Some(Problem::Failing { failures: 2, dropped: 50, .. }) = s.problem(later) else { panic!("the count") };
        write_through(&s, b"fine\n");
        s.drain();
        assert_eq!(s.problem(later), Some(Problem::Recovered { failures: 0, dropped: 50 }));
        assert_eq!(s.problem(later), None);
    }
}
