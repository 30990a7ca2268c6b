//! The writing of answers: queued for a client and written as its socket
//! takes them, a large one given a send buffer that holds it and its
//! memory back once sent, and the buffer of a document that follows its
//! answer line.

use super::{Client, ControlServer, DOCUMENT_ROOM};
use crate::control::protocol::Response;
use mio::net::UnixStream;
use mio::{Interest, Registry, Token};
use std::io::{ErrorKind, Write};
use std::time::Instant;

/// Answers larger than this give their memory back once sent.
const BIG_ANSWER: usize = 256 << 10;

/// The most a one-off answer may put in its connection's send buffer at
/// once (the `--json` status of 500 tasks is over 2 MB).
const ANSWER_SEND_BUFFER: usize = 8 << 20;

impl ControlServer {
    /// Queues `response` for the client and writes what it can; the
    /// connection closes after it unless the client follows something.
    pub fn answer(&mut self, registry: &Registry, token: Token, response: Response) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        let mut response = response;
        let document = response.document.take();
        let encoded = match response.line.take() {
            Some(line) => Ok(line),
            None => serde_json::to_vec(&response),
        };
        // The view goes before the answer is sent: a large one is freed
        // by the time the heap is trimmed (see `flush_client`).
        drop(response);
        match encoded {
            Ok(mut line) => {
                line.push(b'\n');
                let (bytes, start) = match document {
                    // The line goes into the room kept for it at the front.
                    Some(mut doc) if line.len() <= DOCUMENT_ROOM && doc.len() >= DOCUMENT_ROOM => {
                        let start = DOCUMENT_ROOM - line.len();
                        doc[start..DOCUMENT_ROOM].copy_from_slice(&line);
                        (doc, start)
                    }
                    Some(doc) => {
                        line.extend_from_slice(doc.get(DOCUMENT_ROOM..).unwrap_or_default());
                        (line, 0)
                    }
                    None => (line, 0),
                };
                let size = bytes.len() - start;
                if !c.follow && size > BIG_ANSWER {
                    make_room(&c.stream, size);
                }
                if c.pending() == 0 {
                    // Nothing queued: the encoded answer becomes the
                    // buffer, not a second copy of it.
                    c.last_write = Instant::now();
                    c.wbuf = bytes;
                    c.wpos = start;
                } else {
                    queue(c, &bytes[start..]);
                }
            }
            Err(e) => log::error!("cannot encode a response: {e}"),
        }
        if !c.follow {
            c.done = true;
        }
        self.flush_client(registry, token);
    }

    pub(super) fn flush_client(&mut self, registry: &Registry, token: Token) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        let before = c.pending();
        while c.pending() > 0 {
            match c.stream.write(&c.wbuf[c.wpos..]) {
                Ok(0) => break,
                Ok(n) => {
                    c.wpos += n;
                    c.last_write = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.drop_client(registry, token);
                    return;
                }
            }
        }
        let sent = before - c.pending();
        if c.follow {
            self.backlog = self.backlog.saturating_sub(sent);
        }
        if c.pending() > 0 {
            if !c.writable {
                c.writable = true;
                let _ = registry.reregister(&mut c.stream, token, Interest::READABLE | Interest::WRITABLE);
            }
            let deadline = c.deadline();
            self.arm(deadline);
            return;
        }
        // A large answer (the status of a thousand tasks is over a
        // megabyte) leaves the heap grown: once it is out, the buffer and
        // the freed memory go back to the system.
        let big = c.wbuf.capacity() > BIG_ANSWER;
        if big {
            c.wbuf = Vec::new();
        } else {
            c.wbuf.clear();
        }
        c.wpos = 0;
        if c.done {
            self.drop_client(registry, token);
        } else {
            // A follower that has taken everything has no deadline.
            self.disarm_if_unneeded();
        }
        if big {
            self.big_answer = true;
        }
    }

    /// A large answer went out since the last call: its number, for the
    /// `Timer::Release` that gives the memory it took back once such
    /// answers stop.
    pub fn take_big_answer(&mut self) -> Option<u64> {
        if !std::mem::take(&mut self.big_answer) {
            return None;
        }
        self.release_seq += 1;
        Some(self.release_seq)
    }

    /// A buffer for a document that follows its answer line
    /// (`Response::document`): sized as the last one was (not grown and
    /// copied a dozen times on the way to megabytes), and starting with
    /// [`DOCUMENT_ROOM`] bytes kept for the answer line, which goes there
    /// instead of the document being copied behind it.
    pub fn document_buffer(&self) -> Vec<u8> {
        let mut doc = Vec::with_capacity(DOCUMENT_ROOM + self.document_size);
        doc.resize(DOCUMENT_ROOM, 0);
        doc
    }

    /// The length of the last document, to size the next one's buffer.
    pub fn note_document_size(&mut self, size: usize) {
        self.document_size = size;
    }

    /// Whether no large answer went out after the one numbered `seq`.
    pub fn is_last_big_answer(&self, seq: u64) -> bool {
        seq == self.release_seq
    }
}

/// Lets the kernel take a large answer in one write: a busy loop (500
/// crash-looping tasks) would otherwise send it one socket buffer per
/// turn, each turn waiting for the others' work. The client takes it at
/// its pace from the kernel, which holds it until then; beyond
/// `net.core.wmem_max` only root may ask (SO_SNDBUFFORCE), others get what
/// the system allows.
fn make_room(stream: &UnixStream, len: usize) {
    use nix::sys::socket::{setsockopt, sockopt};
    let want = len.min(ANSWER_SEND_BUFFER);
    if setsockopt(stream, sockopt::SndBufForce, &want).is_err() {
        let _ = setsockopt(stream, sockopt::SndBuf, &want);
    }
}

/// Queues bytes for a client; the deadline to take them starts when the
/// client had taken everything before.
pub(super) fn queue(c: &mut Client, bytes: &[u8]) {
    if c.pending() == 0 {
        c.last_write = Instant::now();
    }
    c.wbuf.extend_from_slice(bytes);
}
