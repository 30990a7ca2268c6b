//! The control socket's server side, inside the event loop: the listener,
//! each client's buffers, the reading and framing of a request line, its
//! decoding, version and permission checks, the writing of answers, and
//! the clients that follow events or a task's output. What a request does
//! is the supervisor's (`control`): this component hands it a decoded
//! [`Request`] and writes back the [`Response`] it gets. A client that
//! sends garbage, too much, or disconnects mid-request only loses its own
//! connection.

use super::control::Selection;
use super::output::LogPath;
use crate::control::protocol::{EventLine, MAX_REQUEST, Request, Response, VERSION};
use crate::logs::Stream;
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// At most this many control connections at once.
const MAX_CLIENTS: usize = 256;

/// Answers larger than this give their memory back once sent.
const BIG_ANSWER: usize = 256 << 10;

/// A follower that falls this far behind is disconnected.
const MAX_BACKLOG: usize = 4 << 20;

/// Why the control socket could not be set up.
#[derive(Debug)]
pub struct BindError(pub String);

struct Client {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    uid: u32,
    /// Keeps the connection open after its answer (events or logs follow).
    follow: bool,
    /// Receives task events as they happen.
    events: bool,
    /// Only those of these tasks.
    event_filter: Option<Selection>,
    /// Close once everything is written.
    done: bool,
    writable: bool,
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
}

impl ControlServer {
    /// Listens on `path` (mode 0600, or 0660 for `group`); refuses when
    /// another supd answers there.
    pub fn bind(path: &Path, group: Option<u32>) -> Result<ControlServer, BindError> {
        Ok(ControlServer {
            path: path.to_path_buf(),
            listener: bind(path, group)?,
            clients: HashMap::new(),
            log_followers: Vec::new(),
            sent_events: 0,
        })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
        registry.register(&mut self.listener, token, Interest::READABLE)
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
        self.clients.contains_key(&token)
    }

    pub fn accept(&mut self, registry: &Registry, tokens: &mut Tokens) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    // Connections that never finish a request must not use up
                    // supd's descriptors: beyond a bound, new ones are refused.
                    if self.clients.len() >= MAX_CLIENTS {
                        let mut line = serde_json::to_vec(&Response::refused(format!(
                            "supd already serves {MAX_CLIENTS} control connections; try again"
                        )))
                        .unwrap_or_default();
                        line.push(b'\n');
                        let _ = stream.write(&line);
                        continue;
                    }
                    let uid = match getsockopt(&stream, PeerCredentials) {
                        Ok(c) => c.uid(),
                        Err(e) => {
                            log::warn!("control client without credentials ({e}); closing");
                            continue;
                        }
                    };
                    let token = tokens.next();
                    if let Err(e) = registry.register(&mut stream, token, Interest::READABLE) {
                        log::warn!("cannot watch a control client: {e}");
                        continue;
                    }
                    self.clients.insert(
                        token,
                        Client {
                            stream,
                            rbuf: Vec::new(),
                            wbuf: Vec::new(),
                            uid,
                            follow: false,
                            events: false,
                            event_filter: None,
                            done: false,
                            writable: false,
                        },
                    );
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

    /// A client's socket is ready: reads, flushes, and returns the request
    /// it completed, if any (already checked: anything refused was
    /// answered here).
    pub fn on_ready(&mut self, registry: &Registry, token: Token, readable: bool, writable: bool) -> Option<Request> {
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
        let mut line = None;
        let mut closed = false;
        let mut too_long = false;
        let c = self.clients.get_mut(&token)?;
        let mut buf = [0u8; 16 * 1024];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    if c.follow || c.done {
                        continue; // nothing more is read from a client that was answered
                    }
                    c.rbuf.extend_from_slice(&buf[..n]);
                    if let Some(i) = c.rbuf.iter().position(|b| *b == b'\n') {
                        line = Some(c.rbuf[..i].to_vec());
                        c.rbuf.clear();
                        break;
                    }
                    if c.rbuf.len() > MAX_REQUEST {
                        too_long = true;
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let uid = c.uid;
        if too_long {
            self.answer(registry, token, Response::refused("request too long"));
            return None;
        }
        if let Some(line) = line {
            match decode(&line, uid) {
                Ok(request) => return Some(request),
                Err(refusal) => self.answer(registry, token, Response::refused(refusal)),
            }
        } else if closed {
            self.drop_client(registry, token);
        }
        None
    }

    /// Queues `response` for the client and writes what it can; the
    /// connection closes after it unless the client follows something.
    pub fn answer(&mut self, registry: &Registry, token: Token, response: Response) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        // Encoded straight into the write buffer: a status of a thousand
        // tasks is not copied once more.
        let start = c.wbuf.len();
        match serde_json::to_writer(&mut c.wbuf, &response) {
            Ok(()) => c.wbuf.push(b'\n'),
            Err(e) => {
                c.wbuf.truncate(start);
                log::error!("cannot encode a response: {e}");
            }
        }
        if !c.follow {
            c.done = true;
        }
        self.flush_client(registry, token);
    }

    fn flush_client(&mut self, registry: &Registry, token: Token) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        // What is written is dropped from the buffer once, at the end,
        // not after every partial write (each would move the rest).
        let mut sent = 0;
        while sent < c.wbuf.len() {
            match c.stream.write(&c.wbuf[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    c.wbuf.drain(..sent);
                    if !c.writable {
                        c.writable = true;
                        let _ = registry.reregister(&mut c.stream, token, Interest::READABLE | Interest::WRITABLE);
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.drop_client(registry, token);
                    return;
                }
            }
        }
        c.wbuf.drain(..sent);
        // A large answer (the status of a thousand tasks is over a
        // megabyte) leaves the heap grown: once it is out, the buffer and
        // the freed memory go back to the system.
        let big = c.wbuf.is_empty() && c.wbuf.capacity() > BIG_ANSWER;
        if big {
            c.wbuf = Vec::new();
        }
        if c.done && c.wbuf.is_empty() {
            self.drop_client(registry, token);
        }
        if big {
            crate::process::sys::trim_heap();
        }
    }

    fn drop_client(&mut self, registry: &Registry, token: Token) {
        self.log_followers.retain(|(t, _)| *t != token);
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    /// The client stays connected and receives task events newer than
    /// `since` (of the selected tasks only, with a filter) as they happen.
    pub fn follow_events(&mut self, token: Token, since: u64, filter: Option<Selection>) {
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

    /// Sends a chunk of task output to a `logs` client; `time` is when it
    /// was read from the task, for output that is streamed as it comes.
    pub fn send_data(&mut self, registry: &Registry, token: Token, data: &[u8], stream: Stream, time: Option<String>) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        if c.wbuf.len() > MAX_BACKLOG {
            log::warn!("dropping a logs follower that does not keep up");
            self.drop_client(registry, token);
            return;
        }
        let r = Response::output(data, stream == Stream::Stderr, time);
        if let Ok(mut bytes) = serde_json::to_vec(&r) {
            bytes.push(b'\n');
            c.wbuf.extend_from_slice(&bytes);
        }
        self.flush_client(registry, token);
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
        let mut bytes = Vec::new();
        for (_, l) in lines {
            if let Ok(mut b) = serde_json::to_vec(l) {
                b.push(b'\n');
                bytes.extend_from_slice(&b);
            }
        }
        let tokens: Vec<Token> = self.clients.iter().filter(|(_, c)| c.events).map(|(t, _)| *t).collect();
        for t in tokens {
            if let Some(c) = self.clients.get_mut(&t) {
                if c.wbuf.len() > MAX_BACKLOG {
                    log::warn!("dropping an events follower that does not keep up");
                    self.drop_client(registry, t);
                    continue;
                }
                match &c.event_filter {
                    None => c.wbuf.extend_from_slice(&bytes),
                    Some(sel) => {
                        for (_, l) in lines.iter().filter(|(_, l)| sel.matches_line(l)) {
                            if let Ok(mut b) = serde_json::to_vec(l) {
                                b.push(b'\n');
                                c.wbuf.extend_from_slice(&b);
                            }
                        }
                    }
                }
            }
            self.flush_client(registry, t);
        }
    }
}

/// A request line: decoded, its version checked, and its sender allowed
/// to make it (any uid may read; changes need root or supd's own uid).
fn decode(line: &[u8], uid: u32) -> Result<Request, String> {
    let envelope: crate::control::protocol::Envelope =
        serde_json::from_slice(line).map_err(|e| format!("malformed request: {e}"))?;
    if envelope.version != VERSION {
        return Err(format!(
            "protocol version {} is not supported (supd speaks {VERSION}) — use the supctl that ships with this supd",
            envelope.version
        ));
    }
    let read_only = matches!(
        envelope.request,
        Request::Status { .. } | Request::Events { .. } | Request::Logs { .. } | Request::Reload { dry_run: true }
    );
    let me = nix::unistd::geteuid().as_raw();
    if !read_only && uid != 0 && uid != me {
        return Err(format!(
            "permission denied: uid {uid} may only read status and events; changes need root or uid {me}"
        ));
    }
    Ok(envelope.request)
}

/// The socket, made safely (see `control::listen`), as the loop takes it.
fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, BindError> {
    let listener = crate::control::listen::bind(path, group).map_err(BindError)?;
    listener.set_nonblocking(true).map_err(|e| BindError(format!("cannot listen on {}: {e}", path.display())))?;
    Ok(UnixListener::from_std(listener))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::Envelope;

    fn line(request: Request) -> Vec<u8> {
        serde_json::to_vec(&Envelope { version: VERSION, request }).expect("encodes")
    }

    #[test]
    fn anyone_may_read_and_only_root_or_supds_own_uid_may_change() {
        let me = nix::unistd::geteuid().as_raw();
        let other = me.wrapping_add(4242).max(1);
        assert!(decode(&line(Request::Status { target: None }), other).is_ok());
        assert!(decode(&line(Request::Reload { dry_run: true }), other).is_ok());
        let stop = line(Request::JobStop { job: "web".into() });
        let refused = decode(&stop, other).expect_err("a change from another uid");
        assert!(refused.contains("permission denied"), "{refused}");
        assert!(decode(&stop, me).is_ok());
        assert!(decode(&stop, 0).is_ok());
    }

    #[test]
    fn garbage_and_other_versions_are_refused_with_the_reason() {
        let r = decode(b"{not json", 0).expect_err("garbage");
        assert!(r.contains("malformed request"), "{r}");
        let mut v = serde_json::to_value(Envelope { version: VERSION, request: Request::Shutdown }).expect("encodes");
        v["version"] = serde_json::json!(VERSION + 1);
        let r = decode(v.to_string().as_bytes(), 0).expect_err("another version");
        assert!(r.contains("not supported"), "{r}");
    }

    #[test]
    fn tokens_are_never_handed_out_twice() {
        let mut t = Tokens::starting_at(3);
        let (a, b) = (t.next(), t.next());
        assert_eq!((a, b), (Token(3), Token(4)));
    }
}
