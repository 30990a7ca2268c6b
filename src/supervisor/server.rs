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
//!
//! Here: the listener, the clients and their deadlines, and the checks of
//! a request line; its framing is in `framing`, the writing of answers in
//! `answer`, followers in `follow`, and what crosses an exec of supd's own
//! binary in `carry`.

mod answer;
mod carry;
mod follow;
mod framing;

use super::control::selection::EventFilter;
use super::errors::DecodeError;
use super::output::LogPath;
use super::watches::Tokens;
use crate::control::protocol::{MAX_LINE, Request, Response, VERSION};
pub use carry::CarriedClient;
use framing::{Got, read_available};
use mio::net::{UnixListener, UnixStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::collections::HashMap;
use std::io::{ErrorKind, Write};
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

/// The room at the start of a document's buffer for its answer line
/// (`document_buffer`); a longer line (one with many messages) is
/// written with the document copied behind it.
pub const DOCUMENT_ROOM: usize = 4096;

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
