//! The control socket's server side, inside the event loop: the listener,
//! each client's buffers, the reading and framing of a request line, its
//! decoding, version and permission checks, the writing of answers, and
//! the clients that follow events or a task's output. What a request does
//! is the supervisor's (`control`): this component hands it a decoded
//! [`Request`] and writes back the [`Response`] it gets.
//!
//! Nothing a client does may hold up the loop or the other clients: a
//! request line is at most [`MAX_LINE`] and is framed in linear time (only
//! new bytes are searched for its end); a job's HCL follows its line as a
//! body of bounded length, accepted only from clients that may change
//! things; every client has deadlines to send its request and to take its
//! answer ([`IDLE_TIMEOUT`], [`READ_TIMEOUT`], [`WRITE_TIMEOUT`]); the last
//! [`RESERVED`] connection slots are kept for root and supd's own uid; and
//! what waits to be sent to followers is bounded per client and over all
//! of them, a follower that falls behind getting one last line that says
//! its stream was cut. A client that sends garbage, too much, or
//! disconnects mid-request only loses its own connection.
use super::control::EventFilter;
use super::errors::DecodeError;
use super::output::LogPath;
use crate::control::protocol::{EventLine, MAX_BODY, MAX_LINE, Request, Response, VERSION};
use crate::logs::Stream;
use mio::net::{UnixListener, UnixStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// At most this many control connections at once.
pub const MAX_CLIENTS: usize = 256;

/// Of those, this many only root and supd's own uid may take: a crowd of
/// other clients cannot lock the operator out.
pub const RESERVED: usize = 16;

/// A client that has not finished its request sends a byte at least this
/// often, or is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A request (its line and any body) is complete this long after the
/// connection at the latest.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A client that takes nothing of what is queued for it for this long is
/// disconnected.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What may wait to be sent to one follower (`logs -f`, `events -f`)
/// before its stream is cut.
pub const FOLLOWER_BACKLOG: usize = 256 << 10;

/// What may wait to be sent to all followers together.
pub const TOTAL_BACKLOG: usize = 8 << 20;

/// Answers larger than this give their memory back once sent.
const BIG_ANSWER: usize = 256 << 10;

/// The room at the start of a document's buffer for its answer line
/// (`document_buffer`); a longer line (one with many messages) is
/// written with the document copied behind it.
pub const DOCUMENT_ROOM: usize = 4096;

/// The most a one-off answer may put in its connection's send buffer at
/// once (the `--json` status of 500 tasks is over 2 MB).
const ANSWER_SEND_BUFFER: usize = 8 << 20;

/// What a client that was answered may still send (and is thrown away)
/// before it is disconnected.
const MAX_DISCARD: usize = 64 << 10;

/// A client carried across an exec of supd's own binary (`daemon-reexec`):
/// one still sending its request line (what it sent so far), or one whose
/// answer is not all sent yet (the rest of it).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CarriedClient {
    pub fd: std::os::fd::RawFd,
    #[serde(default)]
    pub rbuf: Vec<u8>,
    #[serde(default)]
    pub unsent: Vec<u8>,
}

/// Why the control socket could not be set up.
#[derive(Debug)]
pub struct BindError(pub String);

/// Where a client is in its one request.
enum Phase {
    /// Reading the request line.
    Line,
    /// Reading the body that follows a `job run` or hand-off line.
    Body { of: BodyOf, want: usize, data: Vec<u8> },
    /// The request is read: being answered, answered, or followed.
    Read,
}

/// What a request's body holds.
enum BodyOf {
    /// The HCL of `job run`, with the name it was submitted under.
    Job { file: String, plan: bool },
    /// A peer's hand-off request (JSON), and the peer it comes from.
    Handoff { from: String },
}

struct Client {
    stream: UnixStream,
    phase: Phase,
    /// The request line so far (no line end in it).
    rbuf: Vec<u8>,
    /// What is to be written, from `wpos` on.
    wbuf: Vec<u8>,
    wpos: usize,
    uid: u32,
    /// Keeps the connection open after its answer (events or logs follow).
    follow: bool,
    /// Receives task events as they happen.
    events: bool,
    /// Only those of these tasks.
    event_filter: EventFilter,
    /// Close once everything is written.
    done: bool,
    writable: bool,
    /// Its stream was cut; nothing more is queued.
    cut: bool,
    accepted: Instant,
    last_read: Instant,
    /// When the client last took some output, or output was first queued
    /// for a client that had taken everything.
    last_write: Instant,
    /// Bytes read and thrown away after the request.
    discarded: usize,
}

impl Client {
    fn new(stream: UnixStream, uid: u32, phase: Phase) -> Client {
        let now = Instant::now();
        Client {
            stream,
            phase,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            uid,
            follow: false,
            events: false,
            event_filter: EventFilter::default(),
            done: false,
            writable: false,
            cut: false,
            accepted: now,
            last_read: now,
            last_write: now,
            discarded: 0,
        }
    }

    fn pending(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// When the client is disconnected unless it does something.
    fn deadline(&self) -> Option<Instant> {
        if self.pending() > 0 {
            return Some(self.last_write + WRITE_TIMEOUT);
        }
        match self.phase {
            Phase::Line | Phase::Body { .. } => Some((self.last_read + IDLE_TIMEOUT).min(self.accepted + READ_TIMEOUT)),
            Phase::Read => None,
        }
    }

    /// Drops what is queued but not begun, keeping the end of a line
    /// already partly sent, so that the client never gets half a line.
    fn cut_to_line(&mut self) {
        let at_line_start = self.wpos == 0 || self.wbuf.get(self.wpos - 1) == Some(&b'\n');
        let keep = if at_line_start {
            self.wpos
        } else {
            self.wbuf[self.wpos..].iter().position(|b| *b == b'\n').map_or(self.wbuf.len(), |i| self.wpos + i + 1)
        };
        self.wbuf.truncate(keep);
    }
}

/// Hands out the loop's tokens: every registered descriptor has its own.
#[derive(Debug)]
pub struct Tokens(usize);

impl Tokens {
    pub fn starting_at(first: usize) -> Tokens {
        Tokens(first)
    }

    pub fn next(&mut self) -> Token {
        self.0 += 1;
        Token(self.0 - 1)
    }
}

pub struct ControlServer {
    path: PathBuf,
    listener: UnixListener,
    clients: HashMap<Token, Client>,
    /// `logs --follow` clients and what they follow.
    log_followers: Vec<(Token, LogPath)>,
    /// The newest event sent to `events --follow` clients.
    sent_events: u64,
    /// Bytes queued for followers, over all of them.
    backlog: usize,
    /// Wakes the loop at the earliest client deadline.
    timer: TimerFd,
    timer_token: Token,
    /// When `timer` is set to go off.
    armed: Option<Instant>,
    /// supd's own uid, which may change things as root may.
    me: u32,
    /// A large answer went out since the loop last asked
    /// ([`take_big_answer`](Self::take_big_answer)).
    big_answer: bool,
    /// See [`document_buffer`](Self::document_buffer).
    document_size: usize,
    /// Counts the large answers the loop was told of: a `Timer::Release`
    /// armed for an older one is stale.
    release_seq: u64,
}

impl ControlServer {
    /// Listens on `path` (mode 0600, or 0660 for `group`); refuses when
    /// another supd answers there.
    pub fn bind(path: &Path, group: Option<u32>) -> Result<ControlServer, BindError> {
        ControlServer::on(path, bind(path, group)?)
    }

    fn on(path: &Path, listener: UnixListener) -> Result<ControlServer, BindError> {
        let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
            .map_err(|e| BindError(format!("cannot create the control socket's timer: {e}")))?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            listener,
            clients: HashMap::new(),
            log_followers: Vec::new(),
            sent_events: 0,
            backlog: 0,
            timer,
            timer_token: Token(usize::MAX),
            armed: None,
            me: nix::unistd::geteuid().as_raw(),
            big_answer: false,
            document_size: 0,
            release_seq: 0,
        })
    }

    /// Listens on the socket an earlier image of supd listened on (carried
    /// across its exec as `listener`): nothing is bound or replaced, and
    /// connections made during the exec wait in its backlog.
    pub fn resume(path: &Path, listener: std::os::fd::OwnedFd) -> Result<ControlServer, BindError> {
        let std_listener = std::os::unix::net::UnixListener::from(listener);
        std_listener
            .set_nonblocking(true)
            .map_err(|e| BindError(format!("cannot use the carried control socket: {e}")))?;
        ControlServer::on(path, UnixListener::from_std(std_listener))
    }

    /// The listener, to carry across an exec of supd's own binary.
    pub fn listener_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// A client's connection, to carry across an exec of supd's own binary.
    pub fn client_fd(&self, token: Token) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.clients.get(&token).map(|c| c.stream.as_fd())
    }

    /// The clients to carry across an exec of supd's own binary, but the
    /// one that asked (`except`): those still sending their request line
    /// and those still being sent their answer. Followers (`events -f`,
    /// `logs -f`) are not carried: their streams end.
    pub fn carried_clients(&self, except: Token) -> Vec<(std::os::fd::BorrowedFd<'_>, CarriedClient)> {
        self.clients
            .iter()
            .filter(|(t, c)| **t != except && !c.follow)
            .filter_map(|(_, c)| {
                let carried = match c.phase {
                    Phase::Line => CarriedClient { fd: c.stream.as_raw_fd(), rbuf: c.rbuf.clone(), unsent: Vec::new() },
                    Phase::Read if c.done && c.pending() > 0 => {
                        CarriedClient { fd: c.stream.as_raw_fd(), rbuf: Vec::new(), unsent: c.wbuf[c.wpos..].to_vec() }
                    }
                    _ => return None,
                };
                Some((c.stream.as_fd(), carried))
            })
            .collect()
    }

    /// A client is sending the body of its request (a job file, a
    /// hand-off): what it sent so far would not cross an exec.
    pub fn receiving_body(&self) -> bool {
        self.clients.values().any(|c| matches!(c.phase, Phase::Body { .. }))
    }

    /// Takes in a client an earlier image of supd carried across its exec
    /// (see [`carried_clients`](Self::carried_clients)).
    pub fn resume_carried(&mut self, registry: &Registry, tokens: &mut Tokens, carried: CarriedClient) {
        let Some(fd) = crate::process::sys::inherited_fd(carried.fd) else { return };
        let answering = !carried.unsent.is_empty();
        match self.resume_client(registry, tokens, fd) {
            Ok(token) => {
                let Some(c) = self.clients.get_mut(&token) else { return };
                if answering {
                    c.wbuf = carried.unsent;
                    c.done = true;
                    self.flush_client(registry, token);
                } else {
                    c.phase = Phase::Line;
                    c.rbuf = carried.rbuf;
                    let deadline = c.deadline();
                    self.arm(deadline);
                }
            }
            Err(e) => log::debug!("a control client carried across the re-exec is lost: {e}"),
        }
    }

    /// Takes in the connection of a client whose request an earlier image
    /// of supd read (the one that asked for the re-exec): it waits for its
    /// answer.
    pub fn resume_client(
        &mut self,
        registry: &Registry,
        tokens: &mut Tokens,
        fd: std::os::fd::OwnedFd,
    ) -> std::io::Result<Token> {
        let std_stream = std::os::unix::net::UnixStream::from(fd);
        std_stream.set_nonblocking(true)?;
        let mut stream = UnixStream::from_std(std_stream);
        let uid = getsockopt(&stream, PeerCredentials).map(|c| c.uid()).map_err(std::io::Error::from)?;
        let token = tokens.next();
        registry.register(&mut stream, token, Interest::READABLE)?;
        self.clients.insert(token, Client::new(stream, uid, Phase::Read));
        Ok(token)
    }

    /// Registers the listener as `token`, and the deadline timer with a
    /// token of its own.
    pub fn register(&mut self, registry: &Registry, token: Token, tokens: &mut Tokens) -> std::io::Result<()> {
        registry.register(&mut self.listener, token, Interest::READABLE)?;
        self.timer_token = tokens.next();
        registry.register(&mut SourceFd(&self.timer.as_fd().as_raw_fd()), self.timer_token, Interest::READABLE)
    }

    /// Removes the socket (supd is exiting).
    pub fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// The uid of a connected client.
    pub fn uid(&self, token: Token) -> Option<u32> {
        self.clients.get(&token).map(|c| c.uid)
    }

    pub fn owns(&self, token: Token) -> bool {
        token == self.timer_token || self.clients.contains_key(&token)
    }

    fn privileged(&self, uid: u32) -> bool {
        uid == 0 || uid == self.me
    }

    pub fn accept(&mut self, registry: &Registry, tokens: &mut Tokens) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let uid = match getsockopt(&stream, PeerCredentials) {
                        Ok(c) => c.uid(),
                        Err(e) => {
                            log::warn!("control client without credentials ({e}); closing");
                            continue;
                        }
                    };
                    // Connections that never finish a request must not use up
                    // supd's descriptors: beyond a bound, new ones are refused,
                    // and the last slots are root's.
                    let limit = if self.privileged(uid) { MAX_CLIENTS } else { MAX_CLIENTS - RESERVED };
                    if self.clients.len() >= limit {
                        let mut line = serde_json::to_vec(&Response::refused(format!(
                            "supd already serves {} control connections; try again",
                            self.clients.len()
                        )))
                        .unwrap_or_default();
                        line.push(b'\n');
                        let _ = stream.write(&line);
                        continue;
                    }
                    let token = tokens.next();
                    if let Err(e) = registry.register(&mut stream, token, Interest::READABLE) {
                        log::warn!("cannot watch a control client: {e}");
                        continue;
                    }
                    let client = Client::new(stream, uid, Phase::Line);
                    let deadline = client.deadline();
                    self.clients.insert(token, client);
                    self.arm(deadline);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors is the likely cause; the listener
                    // stays registered and the next connection is retried.
                    log::error!("cannot accept a control connection: {e}");
                    break;
                }
            }
        }
    }

    /// Makes sure the timer goes off by `deadline`.
    fn arm(&mut self, deadline: Option<Instant>) {
        let Some(deadline) = deadline else { return };
        if self.armed.is_some_and(|a| a <= deadline) {
            return;
        }
        let after = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        match self.timer.set(Expiration::OneShot(TimeSpec::from_duration(after)), TimerSetTimeFlags::empty()) {
            Ok(()) => self.armed = Some(deadline),
            Err(e) => log::error!("cannot set the control socket's timer: {e}"),
        }
    }

    /// The timer went off: clients past their deadline are disconnected,
    /// and the timer is set for the next deadline.
    fn expire(&mut self, registry: &Registry) {
        let _ = self.timer.wait(); // non-blocking: consumes the expiry
        self.armed = None;
        let now = Instant::now();
        let late: Vec<(Token, &'static str)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.deadline().is_some_and(|d| d <= now))
            .map(|(t, c)| {
                let why = if c.pending() > 0 {
                    "took none of its answer in time"
                } else if now >= c.accepted + READ_TIMEOUT {
                    "did not send its request in time"
                } else {
                    "was idle"
                };
                (*t, why)
            })
            .collect();
        for (token, why) in late {
            log::debug!("closing a control connection that {why}");
            self.drop_client(registry, token);
        }
        let next = self.clients.values().filter_map(Client::deadline).min();
        self.arm(next);
    }

    /// A client's socket (or the deadline timer) is ready: reads, flushes,
    /// and returns the request it completed, if any (already checked:
    /// anything refused was answered here).
    pub fn on_ready(&mut self, registry: &Registry, token: Token, readable: bool, writable: bool) -> Option<Request> {
        if token == self.timer_token {
            self.expire(registry);
            return None;
        }
        let mut request = None;
        if readable {
            request = self.read_client(registry, token);
        }
        if writable && let Some(c) = self.clients.get_mut(&token) {
            c.writable = false;
        }
        self.flush_client(registry, token);
        request
    }

    fn read_client(&mut self, registry: &Registry, token: Token) -> Option<Request> {
        let me = self.me;
        let c = self.clients.get_mut(&token)?;
        let outcome = read_available(c, me);
        match outcome {
            Got::More => None,
            Got::Closed => {
                self.drop_client(registry, token);
                None
            }
            Got::TooLong => {
                c.rbuf = Vec::new();
                c.phase = Phase::Read;
                self.answer(
                    registry,
                    token,
                    Response::refused(format!(
                        "request line longer than {} MiB refused (a job file follows its line as a body of its own; use supctl)",
                        MAX_LINE >> 20
                    )),
                );
                None
            }
            Got::Refused(refusal) => {
                c.phase = Phase::Read;
                self.answer(registry, token, Response::refused(refusal));
                None
            }
            Got::Request(request) => {
                c.phase = Phase::Read;
                c.rbuf = Vec::new();
                Some(request)
            }
        }
    }

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

    fn flush_client(&mut self, registry: &Registry, token: Token) {
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

    fn drop_client(&mut self, registry: &Registry, token: Token) {
        self.log_followers.retain(|(t, _)| *t != token);
        if let Some(mut c) = self.clients.remove(&token) {
            if c.follow {
                self.backlog = self.backlog.saturating_sub(c.pending());
            }
            let _ = registry.deregister(&mut c.stream);
        }
        self.disarm_if_unneeded();
    }

    /// Unsets the timer when no client is left with a deadline (none
    /// connected, or only followers with nothing queued): an idle supd is
    /// not woken for a deadline that no longer exists.
    fn disarm_if_unneeded(&mut self) {
        if self.armed.is_some() && self.clients.values().all(|c| c.deadline().is_none()) {
            match self.timer.unset() {
                Ok(()) => self.armed = None,
                Err(e) => log::error!("cannot unset the control socket's timer: {e}"),
            }
        }
    }

    /// The client stays connected and receives task events newer than
    /// `since` (of the selected tasks only, with a filter) as they happen.
    pub fn follow_events(&mut self, token: Token, since: u64, filter: EventFilter) {
        if let Some(c) = self.clients.get_mut(&token) {
            c.follow = true;
            c.events = true;
            c.event_filter = filter;
        }
        self.sent_events = self.sent_events.max(since);
    }

    /// The client stays connected and receives a task's output.
    pub fn follow_logs(&mut self, token: Token, path: LogPath) {
        if let Some(c) = self.clients.get_mut(&token) {
            c.follow = true;
        }
        self.log_followers.push((token, path));
    }

    /// The clients that follow this output.
    pub fn log_followers_of(&self, path: &LogPath) -> Vec<Token> {
        self.log_followers.iter().filter(|(_, p)| p == path).map(|(t, _)| *t).collect()
    }

    pub fn has_log_followers(&self) -> bool {
        !self.log_followers.is_empty()
    }

    /// Queues `bytes` (whole lines) for a follower, unless that would take
    /// it past its own bound or all followers past theirs: then its stream
    /// ends with a line saying why, and it is disconnected once that is
    /// out (or at its write deadline).
    fn feed(&mut self, registry: &Registry, token: Token, bytes: &[u8]) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        if c.cut {
            return;
        }
        if !c.follow {
            // Not following yet (the answer to `logs -a` is being put
            // together): an answer, bounded by the request.
            queue(c, bytes);
            self.flush_client(registry, token);
            return;
        }
        let over_own = c.pending() + bytes.len() > FOLLOWER_BACKLOG;
        let over_all = self.backlog + bytes.len() > TOTAL_BACKLOG;
        if over_own || over_all {
            let why = if over_own {
                format!("this client fell more than {} KiB behind", FOLLOWER_BACKLOG >> 10)
            } else {
                format!("the clients that follow fell more than {} MiB behind together", TOTAL_BACKLOG >> 20)
            };
            log::warn!("cutting a follower's stream: {why}");
            let before = c.pending();
            c.cut_to_line();
            self.backlog = self.backlog.saturating_sub(before - c.pending());
            let mut line = serde_json::to_vec(&Response::refused(format!(
                "supd cut this stream: {why} (read faster, or follow less)"
            )))
            .unwrap_or_default();
            line.push(b'\n');
            queue(c, &line);
            self.backlog += line.len();
            c.cut = true;
            c.done = true;
            c.events = false;
            self.log_followers.retain(|(t, _)| *t != token);
        } else {
            queue(c, bytes);
            self.backlog += bytes.len();
        }
        self.flush_client(registry, token);
    }

    /// Sends a chunk of task output to a `logs` client; `time` is when it
    /// was read from the task, for output that is streamed as it comes.
    pub fn send_data(&mut self, registry: &Registry, token: Token, data: &[u8], stream: Stream, time: Option<String>) {
        let r = Response::output(data, stream == Stream::Stderr, time);
        if let Ok(mut bytes) = serde_json::to_vec(&r) {
            bytes.push(b'\n');
            self.feed(registry, token, &bytes);
        }
    }

    /// The newest event already sent, when some client follows events;
    /// `None` (and everything up to `newest` counts as sent) otherwise.
    pub fn events_wanted_since(&mut self, newest: u64) -> Option<u64> {
        if self.clients.values().any(|c| c.events) {
            Some(self.sent_events)
        } else {
            self.sent_events = newest;
            None
        }
    }

    /// Sends task events (in order) to every `events --follow` client.
    pub fn broadcast_events(&mut self, registry: &Registry, lines: &[(u64, EventLine)]) {
        let Some((last, _)) = lines.last() else { return };
        self.sent_events = *last;
        let mut all = Vec::new();
        for (_, l) in lines {
            if let Ok(mut b) = serde_json::to_vec(l) {
                b.push(b'\n');
                all.extend_from_slice(&b);
            }
        }
        let followers: Vec<(Token, EventFilter)> =
            self.clients.iter().filter(|(_, c)| c.events).map(|(t, c)| (*t, c.event_filter.clone())).collect();
        for (token, filter) in followers {
            if filter.is_empty() {
                self.feed(registry, token, &all);
            } else {
                let mut bytes = Vec::new();
                for (_, l) in lines.iter().filter(|(_, l)| filter.matches_line(l)) {
                    if let Ok(mut b) = serde_json::to_vec(l) {
                        b.push(b'\n');
                        bytes.extend_from_slice(&b);
                    }
                }
                if !bytes.is_empty() {
                    self.feed(registry, token, &bytes);
                }
            }
        }
    }
}

/// Reads what a client sent until its socket has nothing more, or what it
/// sent comes to something (a request, a refusal, the end).
fn read_available(c: &mut Client, me: u32) -> Got {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match c.stream.read(&mut buf) {
            Ok(0) => break Got::Closed,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Got::More,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break Got::Closed,
        };
        c.last_read = Instant::now();
        if let Some(got) = take_bytes(c, &buf[..n], me) {
            break got;
        }
    }
}

/// Takes bytes just read from a client into its request, by its phase:
/// what they came to, or `None` to read on.
fn take_bytes(c: &mut Client, bytes: &[u8], me: u32) -> Option<Got> {
    let n = bytes.len();
    match &mut c.phase {
        Phase::Read => {
            // Nothing more is read from a client that was answered;
            // one that keeps sending is not kept.
            c.discarded += n;
            if c.discarded > MAX_DISCARD {
                return Some(Got::Closed);
            }
        }
        Phase::Line => {
            // Only the new bytes are searched: framing is linear
            // in what the client sends.
            let Some(i) = bytes.iter().position(|b| *b == b'\n') else {
                if c.rbuf.len() + n > MAX_LINE {
                    return Some(Got::TooLong);
                }
                c.rbuf.extend_from_slice(bytes);
                return None;
            };
            if c.rbuf.len() + i > MAX_LINE {
                return Some(Got::TooLong);
            }
            c.rbuf.extend_from_slice(&bytes[..i]);
            let line = std::mem::take(&mut c.rbuf);
            if let Some(got) = on_line(c, &line, &bytes[i + 1..], me) {
                return Some(got);
            }
        }
        Phase::Body { want, data, .. } => {
            let take = n.min(*want - data.len());
            data.extend_from_slice(&bytes[..take]);
        }
    }
    body_done(c)
}

/// Decodes a complete request line; for one that a body follows, the
/// client goes on to read it (`rest`: what came after the line) and
/// `None` is returned.
fn on_line(c: &mut Client, line: &[u8], rest: &[u8], me: u32) -> Option<Got> {
    match decode(line, c.uid, me) {
        Err(refusal) => Some(Got::Refused(refusal.to_string())),
        Ok((request, None)) => Some(Got::Request(request)),
        Ok((Request::JobRun { file, plan, .. }, Some(len))) => {
            if len > MAX_BODY {
                return Some(Got::Refused(format!(
                    "{file}: the job file is {len} bytes; supd takes job files of at most {} MiB",
                    MAX_BODY >> 20
                )));
            }
            let want = len as usize;
            let data = rest[..rest.len().min(want)].to_vec();
            c.phase = Phase::Body { of: BodyOf::Job { file, plan }, want, data };
            None
        }
        Ok((Request::Handoff { from, .. }, Some(len))) => {
            // An offer carries the job's source: as large
            // as a job file, and a little more.
            if len > crate::handoff::wire::MAX_REQUEST as u64 {
                return Some(Got::Refused(format!(
                    "the hand-off request is {len} bytes; supd takes requests of at most {} MiB",
                    crate::handoff::wire::MAX_REQUEST >> 20
                )));
            }
            let want = len as usize;
            let data = rest[..rest.len().min(want)].to_vec();
            c.phase = Phase::Body { of: BodyOf::Handoff { from }, want, data };
            None
        }
        Ok(_) => Some(Got::Refused("only `job run` and hand-offs send a body after their line".into())),
    }
}

/// A body read to its length: the request it completes, or why it is
/// refused. `None` while the client is not done sending one.
fn body_done(c: &mut Client) -> Option<Got> {
    if let Phase::Body { of, want, data } = &mut c.phase
        && data.len() >= *want
    {
        let data = std::mem::take(data);
        return Some(match std::mem::replace(of, BodyOf::Handoff { from: String::new() }) {
            BodyOf::Job { file, plan } => match String::from_utf8(data) {
                Ok(source) => Got::Request(Request::JobRun { source, file, plan }),
                Err(e) => Got::Refused(format!(
                    "{file}: the job file is not UTF-8 (byte {} is not valid) — save it as UTF-8",
                    e.utf8_error().valid_up_to()
                )),
            },
            BodyOf::Handoff { from } => match serde_json::from_slice(&data) {
                Ok(request) => Got::Request(Request::Handoff { from, request }),
                Err(e) => Got::Refused(format!("the hand-off request is not JSON: {e}")),
            },
        });
    }
    None
}

/// What reading a client came to.
enum Got {
    /// Nothing complete yet.
    More,
    Closed,
    TooLong,
    Refused(String),
    Request(Request),
}

/// Queues bytes for a client; the deadline to take them starts when the
/// client had taken everything before.
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

fn queue(c: &mut Client, bytes: &[u8]) {
    if c.pending() == 0 {
        c.last_write = Instant::now();
    }
    c.wbuf.extend_from_slice(bytes);
}

/// A request line: decoded, its version checked, and its sender allowed
/// to make it (any uid may read; changes need root or supd's own uid,
/// `me`). With it, the length of the body that follows, if any.
fn decode(line: &[u8], uid: u32, me: u32) -> Result<(Request, Option<u64>), DecodeError> {
    let envelope: crate::control::protocol::Envelope = serde_json::from_slice(line).map_err(DecodeError::Malformed)?;
    if envelope.version != VERSION {
        return Err(DecodeError::Version(envelope.version));
    }
    let read_only = matches!(
        envelope.request,
        Request::Status { .. }
            | Request::StatusJson { .. }
            | Request::Events { .. }
            | Request::Logs { .. }
            | Request::Reload { dry_run: true }
    );
    if !read_only && uid != 0 && uid != me {
        return Err(DecodeError::Denied { uid, me });
    }
    Ok((envelope.request, envelope.body))
}

/// The socket, made safely (see `control::listen`), as the loop takes it.
fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, BindError> {
    let listener = crate::control::listen::bind(path, group).map_err(|e| BindError(e.to_string()))?;
    listener.set_nonblocking(true).map_err(|e| BindError(format!("cannot listen on {}: {e}", path.display())))?;
    Ok(UnixListener::from_std(listener))
}

#[cfg(test)]
mod tests;
