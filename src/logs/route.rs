//! Where a task's output goes besides its files: line by line to the
//! journal (an entry per line, with fields naming the task) and to supd's
//! own stdout or stderr (each line prefixed `job.group[index]/task | `).
//! Lines are kept whole: a line read in pieces waits for its end, up to
//! [`MAX_LINE`] bytes to the journal (then it goes in pieces, as journald
//! cuts long lines too) and [`MAX_CONSOLE_LINE`] to supd's stdout (as a
//! container's init passes a long line on whole), as long as all the
//! unfinished lines held together stay below [`HELD_BUDGET`] (beyond, they
//! go in pieces of [`MAX_LINE`]); what is left without an end goes when the
//! task ends.

use super::journal::{Entry, Journal};
use super::{Stream, Trouble, console};
use crate::jobspec::model::TaskOutput;

/// The longest line forwarded whole to the journal (journald's own
/// `LineMax`).
pub const MAX_LINE: usize = 48 * 1024;

/// The longest line forwarded whole to supd's stdout or stderr.
pub const MAX_CONSOLE_LINE: usize = 256 << 10;

/// What all tasks' unfinished lines may hold together before each is cut
/// at [`MAX_LINE`]: a thousand tasks writing long lines cost at most this.
pub const HELD_BUDGET: usize = 16 << 20;

/// The bytes held in unfinished lines, over every forward.
static HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Names a task's lines: `job.group[index]/task` and its parts.
#[derive(Debug, Clone)]
pub struct Label<'a> {
    pub job: &'a str,
    pub group: &'a str,
    pub index: u32,
    pub task: &'a str,
}

impl Label<'_> {
    /// `job.group[index]/task`.
    pub fn shown(&self) -> String {
        format!("{}.{}[{}]/{}", self.job, self.group, self.index, self.task)
    }
}

/// One stream of one task, forwarded.
pub struct Forward {
    stream: Stream,
    journal: bool,
    stdout: bool,
    /// `job.group[index]/task | `, with the priority first when supd's
    /// stream is the journal's.
    prefix: Vec<u8>,
    /// Every field of an entry but the message.
    fields: Entry,
    /// The start of a line whose end has not been read.
    partial: Vec<u8>,
    /// Lines the journal did not take.
    pub journal_trouble: Trouble,
    /// Lines supd's stdout or stderr did not take.
    pub stdout_trouble: Trouble,
}

impl Forward {
    /// The forwarding of `stream` by `output`; `None` when it goes only to
    /// files.
    pub fn new(output: TaskOutput, stream: Stream, label: &Label) -> Option<Forward> {
        if !output.journal && !output.stdout {
            return None;
        }
        let priority: &[u8] = match stream {
            Stream::Stdout => b"6",
            Stream::Stderr => b"3",
        };
        let mut prefix = Vec::new();
        // (Asked only when lines go there: asking starts the writer.)
        if output.stdout && writer(stream).is_journal() {
            prefix.extend_from_slice(format!("<{}>", priority[0] as char).as_bytes());
        }
        prefix.extend_from_slice(format!("{} | ", label.shown()).as_bytes());
        let fields = Entry::new()
            .field("SYSLOG_IDENTIFIER", label.task.as_bytes())
            .field("PRIORITY", priority)
            .field("SUPD_JOB", label.job.as_bytes())
            .field("SUPD_GROUP", label.group.as_bytes())
            .field("SUPD_ALLOC_INDEX", label.index.to_string().as_bytes())
            .field("SUPD_TASK", label.task.as_bytes())
            .field("SUPD_STREAM", stream.as_str().as_bytes());
        Some(Forward {
            stream,
            journal: output.journal,
            stdout: output.stdout,
            prefix,
            fields,
            partial: Vec::new(),
            journal_trouble: Trouble::default(),
            stdout_trouble: Trouble::default(),
        })
    }

    /// Forwards the whole lines of what was read; keeps the start of an
    /// unfinished one.
    pub fn push(&mut self, data: &[u8], journal: &mut Journal) {
        let held = self.partial.len();
        self.push_lines(data, journal);
        let now = self.partial.len();
        if now >= held {
            HELD.fetch_add(now - held, std::sync::atomic::Ordering::Relaxed);
        } else {
            HELD.fetch_sub(held - now, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The longest unfinished line kept now.
    fn limit(&self) -> usize {
        if self.stdout && HELD.load(std::sync::atomic::Ordering::Relaxed) < HELD_BUDGET {
            MAX_CONSOLE_LINE
        } else {
            MAX_LINE
        }
    }

    fn push_lines(&mut self, data: &[u8], journal: &mut Journal) {
        let mut console = Vec::new();
        let mut rest = data;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (line, after) = (&rest[..end], &rest[end + 1..]);
            if self.partial.is_empty() {
                self.line(line, journal, &mut console);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, journal, &mut console);
            }
            rest = after;
        }
        self.partial.extend_from_slice(rest);
        let limit = self.limit();
        while self.partial.len() >= limit {
            let piece: Vec<u8> = self.partial.drain(..limit).collect();
            self.line(&piece, journal, &mut console);
        }
        if self.partial.capacity() > 4 * MAX_LINE && self.partial.len() < MAX_LINE {
            self.partial.shrink_to(MAX_LINE);
        }
        self.send_console(&console);
    }

    /// Forwards what is left of an unfinished line: the task ended.
    pub fn finish(&mut self, journal: &mut Journal) {
        if self.partial.is_empty() {
            return;
        }
        let mut console = Vec::new();
        let piece = std::mem::take(&mut self.partial);
        HELD.fetch_sub(piece.len(), std::sync::atomic::Ordering::Relaxed);
        self.line(&piece, journal, &mut console);
        self.send_console(&console);
    }

    fn line(&mut self, line: &[u8], journal: &mut Journal, console: &mut Vec<u8>) {
        let pieces = |max: usize| line.chunks(max).chain(line.is_empty().then_some(&[][..]));
        if self.journal {
            for piece in pieces(MAX_LINE) {
                let mut entry = self.fields.clone();
                entry.push("MESSAGE", piece);
                match journal.send(entry.as_bytes()) {
                    Ok(()) => self.journal_trouble.succeeded(),
                    Err(e) => self.journal_trouble.fail(piece.len() + 1, || e.to_string()),
                }
            }
        }
        if self.stdout {
            for piece in pieces(MAX_CONSOLE_LINE) {
                console.extend_from_slice(&self.prefix);
                console.extend_from_slice(piece);
                console.push(b'\n');
            }
        }
    }

    fn send_console(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match writer(self.stream).write(data) {
            Ok(()) => self.stdout_trouble.succeeded(),
            Err(e) => self.stdout_trouble.fail(data.len(), || e.to_string()),
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        HELD.fetch_sub(self.partial.len(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where a stream's lines go for `stdout`: stdout's to supd's stdout,
/// stderr's to supd's stderr.
fn writer(stream: Stream) -> &'static console::Writer {
    match stream {
        Stream::Stdout => console::stdout(),
        Stream::Stderr => console::stderr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    #[test]
    fn lines_become_entries_whole_with_the_task_s_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut journal = Journal::new(&path);
        let output = TaskOutput { files: false, journal: true, stdout: false };
        let label = Label { job: "web", group: "api", index: 2, task: "server" };
        let mut f = Forward::new(output, Stream::Stderr, &label).unwrap();
        f.push(b"one\ntw", &mut journal);
        f.push(b"o\n\nthr", &mut journal);
        f.finish(&mut journal);
        let mut buf = vec![0u8; 1 << 16];
        let mut messages = Vec::new();
        for _ in 0..4 {
            let n = rx.recv(&mut buf).unwrap();
            let fields = super::super::journal::parse(&buf[..n]).unwrap();
            let get = |k: &str| String::from_utf8(fields.iter().find(|(n, _)| n == k).unwrap().1.clone()).unwrap();
            assert_eq!(
                [get("SYSLOG_IDENTIFIER"), get("PRIORITY"), get("SUPD_JOB"), get("SUPD_GROUP")],
                ["server", "3", "web", "api"]
            );
            assert_eq!([get("SUPD_ALLOC_INDEX"), get("SUPD_TASK")], ["2", "server"]);
            messages.push(get("MESSAGE"));
        }
        assert_eq!(messages, ["one", "two", "", "thr"]);
        assert!(Forward::new(TaskOutput::FILES, Stream::Stdout, &label).is_none());
    }

    #[test]
    fn a_line_longer_than_max_line_goes_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut journal = Journal::new(&path);
        let output = TaskOutput { files: true, journal: true, stdout: false };
        let label = Label { job: "j", group: "g", index: 0, task: "t" };
        let mut f = Forward::new(output, Stream::Stdout, &label).unwrap();
        f.push(&vec![b'x'; MAX_LINE + 10], &mut journal);
        f.push(b"\n", &mut journal);
        let mut buf = vec![0u8; 1 << 17];
        let mut sizes = Vec::new();
        for _ in 0..2 {
            let n = rx.recv(&mut buf).unwrap();
            let fields = super::super::journal::parse(&buf[..n]).unwrap();
            sizes.push(fields.iter().find(|(n, _)| n == "MESSAGE").unwrap().1.len());
        }
        assert_eq!(sizes, [MAX_LINE, 10]);
    }
}
