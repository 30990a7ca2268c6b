//! The endpoint's HTTP side: connections with their deadlines and
//! bounds, the request read, the answer queued.

use super::*;

/// Where a connection is.
pub(super) enum Phase {
    /// Reading the request's head.
    Reading,
    /// The answer is queued; nothing more is read.
    Answering,
}

pub(super) struct Conn {
    stream: TcpStream,
    phase: Phase,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Closed when it is reached.
    deadline: Instant,
}

/// What a complete request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// `GET /metrics`; without the body for `HEAD`.
    Metrics {
        head: bool,
    },
    /// `GET /`
    Index {
        head: bool,
    },
    NotFound,
    /// Another method than GET or HEAD.
    NotAllowed,
    BadRequest,
}

/// Why the metrics endpoint cannot listen (supd does not start then).
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address is taken, or not this host's.
    #[error("cannot listen for metrics on {addr}: {source} (change metrics_listen in supd.toml)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen for metrics on {addr}: {source}")]
    Nonblocking {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the metrics endpoint's timer: {0}")]
    Timer(#[source] nix::Error),
    #[error("cannot watch the metrics socket: {0}")]
    WatchSocket(#[source] std::io::Error),
    #[error("cannot watch the metrics endpoint's timer: {0}")]
    WatchTimer(#[source] std::io::Error),
}

/// The listening socket and its connections.
pub struct Endpoint {
    pub(super) addr: SocketAddr,
    listener: TcpListener,
    listener_token: Token,
    timer: TimerFd,
    timer_token: Token,
    armed: Option<Instant>,
    conns: HashMap<Token, Conn>,
    /// Bytes queued over all connections.
    queued: usize,
    /// The last text rendered and when: scrapes that come close together
    /// share one rendering (a flood of them costs copies, not renderings).
    /// Dropped once no connection is left.
    pub(super) rendered: Option<(Instant, String)>,
}

impl Endpoint {
    /// Listens on `addr`, registering the listener and the deadline timer
    /// with tokens of their own.
    pub fn bind(addr: SocketAddr, registry: &Registry, tokens: &mut Tokens) -> Result<Endpoint, ListenError> {
        let std = std::net::TcpListener::bind(addr).map_err(|source| ListenError::Bind { addr, source })?;
        std.set_nonblocking(true).map_err(|source| ListenError::Nonblocking { addr, source })?;
        let addr = std.local_addr().unwrap_or(addr);
        let mut listener = TcpListener::from_std(std);
        let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
            .map_err(ListenError::Timer)?;
        let (listener_token, timer_token) = (tokens.next(), tokens.next());
        registry.register(&mut listener, listener_token, Interest::READABLE).map_err(ListenError::WatchSocket)?;
        registry
            .register(&mut SourceFd(&timer.as_fd().as_raw_fd()), timer_token, Interest::READABLE)
            .map_err(ListenError::WatchTimer)?;
        Ok(Endpoint {
            addr,
            listener,
            listener_token,
            timer,
            timer_token,
            armed: None,
            conns: HashMap::new(),
            queued: 0,
            rendered: None,
        })
    }

    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || token == self.timer_token || self.conns.contains_key(&token)
    }

    /// A token of the endpoint's is ready; returns the connection and what
    /// it asks for once its request is complete.
    pub fn on_ready(&mut self, registry: &Registry, tokens: &mut Tokens, token: Token) -> Option<(Token, Wanted)> {
        if token == self.listener_token {
            self.accept(registry, tokens);
            return None;
        }
        if token == self.timer_token {
            self.expire(registry);
            return None;
        }
        let c = self.conns.get_mut(&token)?;
        if let Phase::Answering = c.phase {
            self.flush(registry, token);
            return None;
        }
        let mut buf = [0u8; 4096];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // Only the new bytes (and the three before) are searched
                    // for the head's end: linear in what the client sends.
                    let from = c.rbuf.len().saturating_sub(3);
                    c.rbuf.extend_from_slice(&buf[..n]);
                    if let Some(end) = head_end(&c.rbuf[from..]) {
                        let wanted = parse_request(&c.rbuf[..from + end]);
                        return Some((token, wanted));
                    }
                    if c.rbuf.len() > MAX_REQUEST {
                        self.reply(
                            registry,
                            token,
                            431,
                            "Request Header Fields Too Large",
                            "text/plain",
                            b"request head too large\n".to_vec(),
                        );
                        return None;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // Closed (or broken) before the request was complete.
        self.drop_conn(registry, token);
        None
    }

    fn accept(&mut self, registry: &Registry, tokens: &mut Tokens) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    if self.conns.len() >= MAX_CONNECTIONS {
                        // Best effort, never waited for: the socket's buffer
                        // takes a short answer.
                        let _ = stream.write(&http(
                            503,
                            "Service Unavailable",
                            "text/plain",
                            b"too many connections\n",
                            false,
                        ));
                        continue;
                    }
                    let _ = nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::SndBuf, &SEND_BUFFER);
                    let token = tokens.next();
                    if let Err(e) = registry.register(&mut stream, token, Interest::READABLE) {
                        log::warn!("cannot watch a metrics connection: {e}");
                        continue;
                    }
                    let deadline = Instant::now() + READ_TIMEOUT;
                    self.conns.insert(
                        token,
                        Conn { stream, phase: Phase::Reading, rbuf: Vec::new(), wbuf: Vec::new(), wpos: 0, deadline },
                    );
                    self.arm(deadline);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, likely: the next connection retries.
                    log::warn!("cannot accept a metrics connection on {}: {e}", self.addr);
                    break;
                }
            }
        }
    }

    /// Whether an answer of about `len` bytes may be queued now.
    pub fn has_room(&self, len: usize) -> bool {
        self.queued + len <= MAX_QUEUED
    }

    /// Queues an answer and writes what the socket takes; the connection
    /// closes once it is out, or at its write deadline.
    pub fn reply(
        &mut self,
        registry: &Registry,
        token: Token,
        code: u16,
        reason: &str,
        content_type: &str,
        body: Vec<u8>,
    ) {
        self.answer(registry, token, http(code, reason, content_type, &body, false));
    }

    /// Queues `bytes` (a whole HTTP answer) for the connection.
    pub fn answer(&mut self, registry: &Registry, token: Token, bytes: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&token) else { return };
        c.phase = Phase::Answering;
        c.rbuf = Vec::new();
        self.queued += bytes.len();
        c.wbuf = bytes;
        c.wpos = 0;
        c.deadline = Instant::now() + WRITE_TIMEOUT;
        let deadline = c.deadline;
        let _ = registry.reregister(&mut c.stream, token, Interest::WRITABLE);
        self.arm(deadline);
        self.flush(registry, token);
    }

    fn flush(&mut self, registry: &Registry, token: Token) {
        let Some(c) = self.conns.get_mut(&token) else { return };
        let mut broken = false;
        while c.wpos < c.wbuf.len() {
            match c.stream.write(&c.wbuf[c.wpos..]) {
                Ok(0) => {
                    broken = true;
                    break;
                }
                Ok(n) => {
                    c.wpos += n;
                    self.queued = self.queued.saturating_sub(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        if !broken {
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
        }
        self.drop_conn(registry, token);
    }

    fn drop_conn(&mut self, registry: &Registry, token: Token) {
        if let Some(mut c) = self.conns.remove(&token) {
            self.queued = self.queued.saturating_sub(c.wbuf.len() - c.wpos);
            let _ = registry.deregister(&mut c.stream);
            // The answer for a thousand tasks is near a megabyte: once it
            // is gone, the memory goes back to the system.
            if c.wbuf.capacity() > BIG_ANSWER {
                drop(c);
                crate::process::sys::trim_heap();
            }
        }
        if self.conns.is_empty() {
            self.disarm();
            self.rendered = None;
        }
    }

    /// Makes sure the timer goes off by `deadline`.
    fn arm(&mut self, deadline: Instant) {
        if self.armed.is_some_and(|a| a <= deadline) {
            return;
        }
        let after = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        match self.timer.set(Expiration::OneShot(TimeSpec::from_duration(after)), TimerSetTimeFlags::empty()) {
            Ok(()) => self.armed = Some(deadline),
            Err(e) => log::error!("cannot set the metrics endpoint's timer: {e}"),
        }
    }

    /// No connection is left: nothing is to wake the loop.
    fn disarm(&mut self) {
        if self.armed.take().is_some() {
            let _ = self.timer.unset();
        }
    }

    /// Connections past their deadline are closed; the timer is set for
    /// the next one.
    fn expire(&mut self, registry: &Registry) {
        let _ = self.timer.wait(); // non-blocking: consumes the expiry
        self.armed = None;
        let now = Instant::now();
        let late: Vec<Token> = self.conns.iter().filter(|(_, c)| c.deadline <= now).map(|(t, _)| *t).collect();
        for token in late {
            log::debug!("closing a metrics connection that missed its deadline");
            self.drop_conn(registry, token);
        }
        if let Some(next) = self.conns.values().map(|c| c.deadline).min() {
            self.arm(next);
        }
    }
}

/// Where the head ends in `bytes` (just after its blank line), if it does.
/// Lines end with CRLF, or with a bare LF as tolerant servers accept.
pub(super) fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().find_map(|(i, b)| match (b, bytes.get(i + 1), bytes.get(i + 2)) {
        (b'\n', Some(b'\n'), _) => Some(i + 2),
        (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
        _ => None,
    })
}

/// What a request's head asks for.
pub(super) fn parse_request(head: &[u8]) -> Wanted {
    let Ok(text) = std::str::from_utf8(head) else { return Wanted::BadRequest };
    let line = text.split('\n').next().unwrap_or("").trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Wanted::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Wanted::BadRequest;
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Wanted::NotAllowed,
    };
    match target.split('?').next().unwrap_or("") {
        "/metrics" => Wanted::Metrics { head },
        "/" => Wanted::Index { head },
        _ => Wanted::NotFound,
    }
}

/// An HTTP/1.1 answer that closes the connection.
pub(super) fn http(code: u16, reason: &str, content_type: &str, body: &[u8], head: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        if code == 405 { "Allow: GET, HEAD\r\n" } else { "" }
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(body);
    }
    out
}

pub(super) const INDEX: &str = "<html><head><title>supd</title></head><body><h1>supd</h1>\
<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";
