//! Health checks as non-blocking state machines driven by the main loop:
//! no thread per check. A tcp check passes when it connects; an http check
//! sends one HTTP/1.1 request and reads at most a bounded answer (2xx
//! passing, 429 warning, anything else critical; redirects are not
//! followed). Script checks are child processes, so they live with the
//! supervisor's other children; this module only maps their exit codes.
//! The timeout is the caller's timer: a probe that has not finished by then
//! is critical.

use crate::jobspec::model::CheckStatus;
use crate::process::sys::{RawAddr, connect};
use mio::net::TcpStream;
use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType};
use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// At most this much of an HTTP answer is read.
const MAX_ANSWER: usize = 8 * 1024;

/// A check result and the text that explains it.
pub type Outcome = (CheckStatus, String);

pub enum Phase {
    Connecting,
    Sending { request: Vec<u8>, sent: usize },
    Reading { answer: Vec<u8> },
}

/// One tcp or http probe in flight.
pub struct Probe {
    pub stream: TcpStream,
    addr: SocketAddr,
    phase: Phase,
    /// The request to send once connected; `None` for a tcp check.
    request: Option<Vec<u8>>,
    /// A tcp check's socket, kept for the next check when this one ends.
    spare: bool,
}

/// How a tcp check's connect went within the call.
pub enum Dial {
    /// Connected or refused at once, as on loopback nearly always.
    Done(Outcome),
    /// Still connecting: the caller watches the probe's socket.
    Pending(Probe),
}

/// The most sockets kept unconnected between tcp checks. Checks run one
/// after another in the loop, so one or two are enough.
const SPARES: usize = 4;

thread_local! {
    /// Sockets of finished tcp checks, unconnected again, for the next ones.
    static SPARE: RefCell<Vec<(AddressFamily, OwnedFd)>> = const { RefCell::new(Vec::new()) };
}

/// Starts a tcp check's connect. The check itself is a fresh TCP
/// handshake each time, but the socket is not: a socket disconnected with
/// `connect(AF_UNSPEC)` (which resets an established connection, as a
/// close with a zero linger does) can connect again, which saves creating
/// and closing a socket per check: about a quarter of the kernel's work
/// for a check on loopback. The state of the connect is asked with
/// `connect` itself, one call instead of SO_ERROR and getpeername: on a
/// socket still connecting it says so (EALREADY), on a connected one it
/// succeeds, and on a failed one it returns the error. So a check that
/// connects within the call costs three system calls instead of six.
pub fn dial(addr: SocketAddr) -> Dial {
    let fail = |e: std::io::Error| Dial::Done(critical(format!("dial tcp {addr}: {e}")));
    let af = family(addr);
    let fd = match SPARE.with_borrow_mut(|s| s.iter().position(|(f, _)| *f == af).map(|i| s.swap_remove(i).1)) {
        Some(fd) => fd,
        None => {
            match nix::sys::socket::socket(af, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
            {
                Ok(fd) => fd,
                Err(e) => return fail(e.into()),
            }
        }
    };
    let target = RawAddr::from(addr);
    let state = match connect(fd.as_fd(), &target) {
        Ok(()) => Connect::Done,
        Err(Errno::EINPROGRESS) => connect_state(fd.as_fd(), &target),
        Err(e) => Connect::Failed(e.into()),
    };
    match state {
        Connect::Done => {
            keep(fd, addr);
            Dial::Done(passing(addr))
        }
        Connect::Failed(e) => {
            keep(fd, addr);
            fail(e)
        }
        Connect::Pending => Dial::Pending(Probe {
            stream: TcpStream::from(fd),
            addr,
            phase: Phase::Connecting,
            request: None,
            spare: true,
        }),
    }
}

/// Disconnects a tcp check's socket (with a reset if it connected: the
/// check needs no orderly shutdown, and skipping it halves the packets,
/// and leaves no TIME_WAIT) and keeps it for the next check.
fn keep(fd: OwnedFd, addr: SocketAddr) {
    if connect(fd.as_fd(), &RawAddr::unspecified()).is_ok() {
        SPARE.with_borrow_mut(|s| {
            if s.len() < SPARES {
                s.push((family(addr), fd));
            }
        });
    }
}

fn family(addr: SocketAddr) -> AddressFamily {
    if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 }
}

enum Connect {
    Done,
    Pending,
    Failed(std::io::Error),
}

/// Where a non-blocking connect stands, asked by connecting again.
fn connect_state(fd: BorrowedFd, addr: &RawAddr) -> Connect {
    match connect(fd, addr) {
        Ok(()) | Err(Errno::EISCONN) => Connect::Done,
        Err(Errno::EALREADY | Errno::EINPROGRESS | Errno::EINTR) => Connect::Pending,
        Err(e) => Connect::Failed(e.into()),
    }
}

fn passing(addr: SocketAddr) -> Outcome {
    (CheckStatus::Passing, format!("TCP connect {addr}: Success"))
}

impl Probe {
    /// Starts connecting; the caller registers `stream` for both readiness kinds.
    pub fn connect(addr: SocketAddr, request: Option<Vec<u8>>) -> std::io::Result<Probe> {
        let stream = TcpStream::connect(addr)?;
        Ok(Probe { stream, addr, phase: Phase::Connecting, request, spare: false })
    }

    /// Ends the probe once the caller no longer watches its socket: a tcp
    /// check's socket is kept for the next check, an http one is closed.
    pub fn finish(self) {
        if self.spare {
            keep(self.stream.into(), self.addr);
        }
    }

    /// Advances on readiness; `Some` once the check has a result.
    pub fn advance(&mut self) -> Option<Outcome> {
        loop {
            match &mut self.phase {
                Phase::Connecting => {
                    match connect_state(self.stream.as_fd(), &RawAddr::from(self.addr)) {
                        Connect::Done => {}
                        Connect::Pending => return None,
                        Connect::Failed(e) => return Some(critical(format!("dial tcp {}: {e}", self.addr))),
                    }
                    match self.request.take() {
                        None => return Some(passing(self.addr)),
                        Some(request) => self.phase = Phase::Sending { request, sent: 0 },
                    }
                }
                Phase::Sending { request, sent } => {
                    while *sent < request.len() {
                        match self.stream.write(&request[*sent..]) {
                            Ok(0) => return Some(critical("connection closed while sending the request".into())),
                            Ok(n) => *sent += n,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(e) => return Some(critical(format!("sending the request: {e}"))),
                        }
                    }
                    self.phase = Phase::Reading { answer: Vec::new() };
                }
                Phase::Reading { answer } => {
                    let mut buf = [0u8; 2048];
                    loop {
                        match self.stream.read(&mut buf) {
                            Ok(0) => return Some(http_outcome(answer, true)),
                            Ok(n) => {
                                answer.extend_from_slice(&buf[..n]);
                                if answer.len() >= MAX_ANSWER || answer.windows(2).any(|w| w == b"\r\n") {
                                    return Some(http_outcome(answer, false));
                                }
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(e) => return Some(critical(format!("reading the answer: {e}"))),
                        }
                    }
                }
            }
        }
    }
}

fn critical(text: String) -> Outcome {
    (CheckStatus::Critical, text)
}

/// Maps an HTTP answer's status line the way Consul does.
fn http_outcome(answer: &[u8], closed: bool) -> Outcome {
    let line_end = answer.windows(2).position(|w| w == b"\r\n").unwrap_or(answer.len());
    let line = String::from_utf8_lossy(&answer[..line_end]).into_owned();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(code) if version.starts_with("HTTP/1.") => {
            let status = match code {
                200..=299 => CheckStatus::Passing,
                429 => CheckStatus::Warning,
                _ => CheckStatus::Critical,
            };
            (status, line)
        }
        _ if closed && answer.is_empty() => critical("connection closed without an answer".into()),
        _ => critical(format!("malformed HTTP answer: {:?}", line.chars().take(80).collect::<String>())),
    }
}

/// The request an http check sends.
pub fn http_request(
    method: &str,
    host: &str,
    path: &str,
    headers: &std::collections::BTreeMap<String, Vec<String>>,
    body: Option<&str>,
) -> Vec<u8> {
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: supd/{}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if !headers.keys().any(|k| k.eq_ignore_ascii_case("accept")) {
        r.push_str("Accept: text/plain, text/*, */*\r\n");
    }
    for (k, vs) in headers {
        for v in vs {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if let Some(b) = body {
        r.push_str(&format!("Content-Length: {}\r\n\r\n{b}", b.len()));
    } else {
        r.push_str("\r\n");
    }
    r.into_bytes()
}

/// A script check's exit: 0 passing, 1 warning, anything else critical.
pub fn script_outcome(exit: crate::process::Exit, output: &str) -> Outcome {
    use crate::process::Exit;
    let status = match exit {
        Exit::Code(0) => CheckStatus::Passing,
        Exit::Code(1) => CheckStatus::Warning,
        _ => CheckStatus::Critical,
    };
    let text = match exit {
        Exit::Code(c) => format!("exit code {c}"),
        Exit::Signal { signal: s, .. } => format!("killed by {}", crate::signals::name(s)),
        Exit::Unknown => "ended".to_string(),
    };
    let output = output.trim();
    (status, if output.is_empty() { text } else { format!("{output} ({text})") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Drives a probe by polling readiness with mio, as the loop does.
    fn finish(mut p: Probe) -> Outcome {
        let mut poll = mio::Poll::new().unwrap();
        poll.registry()
            .register(&mut p.stream, mio::Token(0), mio::Interest::READABLE | mio::Interest::WRITABLE)
            .unwrap();
        let mut events = mio::Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
            if !events.is_empty()
                && let Some(o) = p.advance()
            {
                return o;
            }
            assert!(Instant::now() < deadline, "probe did not finish");
        }
    }

    fn serve_once(answer: &'static [u8]) -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer);
            }
        });
        addr
    }

    fn http(answer: &'static [u8]) -> Outcome {
        let addr = serve_once(answer);
        let req = http_request("GET", "127.0.0.1", "/health", &Default::default(), None);
        finish(Probe::connect(addr, Some(req)).unwrap())
    }

    #[test]
    fn tcp_passes_on_connect_and_fails_when_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(finish(Probe::connect(addr, None).unwrap()).0, CheckStatus::Passing);
        drop(l);
        let (status, text) = finish(Probe::connect(addr, None).unwrap());
        assert_eq!(status, CheckStatus::Critical);
        assert!(text.contains("refused"), "{text}");
    }

    fn dial_now(addr: SocketAddr) -> Outcome {
        match dial(addr) {
            Dial::Done(o) => o,
            Dial::Pending(p) => finish(p),
        }
    }

    #[test]
    fn tcp_dial_reuses_its_socket_and_connects_afresh_each_time() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let up = l.local_addr().unwrap();
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        for _ in 0..3 {
            let (status, text) = dial_now(up);
            assert_eq!(status, CheckStatus::Passing, "{text}");
            assert_eq!(text, format!("TCP connect {up}: Success"));
            let (status, text) = dial_now(down);
            assert_eq!(status, CheckStatus::Critical);
            assert!(text.contains("refused"), "{text}");
        }
        assert!(SPARE.with_borrow(|s| s.len()) <= 1, "one socket serves checks run one after another");
        // Each check was a whole connection, waiting in the accept queue
        // (reset by the check's end), as a frozen server's kernel sees it.
        l.set_nonblocking(true).unwrap();
        let mut accepted = 0;
        while let Ok((mut c, _)) = l.accept() {
            let mut buf = [0u8; 8];
            assert!(!matches!(c.read(&mut buf), Ok(n) if n > 0));
            accepted += 1;
        }
        assert_eq!(accepted, 3);
    }

    #[test]
    fn tcp_dial_waits_while_the_accept_queue_is_full() {
        // A server that never accepts, with room for one connection: the
        // checks fill its queue, then their SYNs go unanswered.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        nix::sys::socket::listen(&l, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let mut passed = 0;
        let pending = loop {
            match dial(addr) {
                Dial::Done((CheckStatus::Passing, _)) => passed += 1,
                Dial::Done(other) => panic!("{other:?}"),
                Dial::Pending(p) => break p,
            }
            assert!(passed < 10, "the accept queue never filled");
        };
        assert!(passed >= 1);
        let mut p = pending;
        let mut poll = mio::Poll::new().unwrap();
        poll.registry()
            .register(&mut p.stream, mio::Token(0), mio::Interest::READABLE | mio::Interest::WRITABLE)
            .unwrap();
        let mut events = mio::Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            poll.poll(&mut events, Some(Duration::from_millis(50))).unwrap();
            if !events.is_empty() {
                assert!(p.advance().is_none(), "no connect while the queue is full");
            }
        }
        poll.registry().deregister(&mut p.stream).unwrap();
        p.finish();
        // Once the server takes its connection, checks connect again.
        drop(l.accept().unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Dial::Done((CheckStatus::Passing, _)) = dial(addr) {
                break;
            }
            assert!(Instant::now() < deadline, "no connect after the server accepted");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn http_status_codes() {
        assert_eq!(http(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").0, CheckStatus::Passing);
        assert_eq!(http(b"HTTP/1.0 204 No Content\r\n\r\n").0, CheckStatus::Passing);
        assert_eq!(http(b"HTTP/1.1 429 Too Many Requests\r\n\r\n").0, CheckStatus::Warning);
        assert_eq!(
            http(b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n").0,
            CheckStatus::Critical,
            "no redirects followed"
        );
        let (s, text) = http(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(s, CheckStatus::Critical);
        assert_eq!(text, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(http(b"garbage\r\n").0, CheckStatus::Critical);
        assert_eq!(http(b"").1, "connection closed without an answer");
    }

    #[test]
    fn requests_carry_method_headers_and_body() {
        let mut h = std::collections::BTreeMap::new();
        h.insert("X-Token".to_string(), vec!["a".to_string(), "b".to_string()]);
        let r = String::from_utf8(http_request("POST", "h:80", "ready", &h, Some("{}"))).unwrap();
        assert!(r.starts_with("POST /ready HTTP/1.1\r\nHost: h:80\r\n"), "{r}");
        assert!(r.contains("X-Token: a\r\nX-Token: b\r\n") && r.ends_with("Content-Length: 2\r\n\r\n{}"), "{r}");
    }

    #[test]
    fn script_exit_codes() {
        use crate::process::Exit;
        assert_eq!(script_outcome(Exit::Code(0), "ok\n"), (CheckStatus::Passing, "ok (exit code 0)".into()));
        assert_eq!(script_outcome(Exit::Code(1), "").0, CheckStatus::Warning);
        assert_eq!(script_outcome(Exit::Code(2), "").0, CheckStatus::Critical);
        assert_eq!(script_outcome(Exit::Signal { signal: 9, core_dumped: false }, "").1, "killed by SIGKILL");
    }
}
