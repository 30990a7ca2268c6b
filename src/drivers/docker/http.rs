//! A small HTTP/1.1 client over the engine's Unix socket: one request per
//! connection (`Connection: close`), bodies by `Content-Length`, chunked
//! encoding or the end of the connection. A request has a deadline for
//! the whole of its answer, not only for each read (an engine that
//! trickles a byte a second would never trip a per-read timeout); a
//! stream (logs that follow a container) has none once its headers are
//! in. It blocks: only driver threads use it, never the loop.
//!
//! `httparse` parses the status line, the headers and each chunk-size
//! line. It only parses bytes it is given, so the I/O around it is still
//! written here: reading the head into a buffer until it is complete
//! (within 64 KiB), the deadline for the whole answer (`Timed`, which
//! re-arms the socket's read timeout with what is left of it before each
//! read), and the body as a stream (`Body`: `Content-Length`, chunked or
//! to the end, read as the caller asks, so that logs and pulls can be
//! followed without a deadline once their headers are in).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An endpoint written as something other than a Unix socket (`tcp://`
/// and the like are not supported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "container engine endpoint {written:?} is not a Unix socket — write e.g. \"unix:///var/run/docker.sock\" (tcp:// endpoints are not supported)"
)]
pub struct EndpointError {
    /// The endpoint as written.
    pub written: String,
}

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub socket: PathBuf,
}

impl Endpoint {
    /// `unix:///var/run/docker.sock` (or a bare absolute path).
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let path = text.strip_prefix("unix://").unwrap_or(text);
        if path.starts_with('/') {
            return Ok(Endpoint { socket: PathBuf::from(path) });
        }
        Err(EndpointError { written: text.to_string() })
    }

    /// `[driver.docker] endpoint`, else `DOCKER_HOST`, else the default.
    pub fn choose(configured: Option<&str>) -> Result<Endpoint, EndpointError> {
        match configured {
            Some(e) => Endpoint::parse(e),
            None => match std::env::var("DOCKER_HOST") {
                Ok(e) if !e.is_empty() => Endpoint::parse(&e),
                _ => Endpoint::parse("unix:///var/run/docker.sock"),
            },
        }
    }

    /// `[driver.podman] endpoint`, else where Nomad's podman driver looks:
    /// root's podman service, or the user's own.
    pub fn choose_podman(configured: Option<&str>) -> Result<Endpoint, EndpointError> {
        match configured {
            Some(e) => Endpoint::parse(e),
            None => {
                let uid = nix::unistd::geteuid();
                if uid.is_root() {
                    Endpoint::parse("unix:///run/podman/podman.sock")
                } else {
                    Endpoint::parse(&format!("unix:///run/user/{uid}/podman/podman.sock"))
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.socket
    }

    /// The process that listens on the socket (the one that called
    /// `listen`: the engine, or systemd for a socket it activates), as the
    /// kernel tells a connection's peer; 0 when it is outside supd's PID
    /// namespace. The connection is made without waiting (the loop asks):
    /// a full backlog is an error, as is an engine that is not there.
    pub fn listener_pid(&self) -> io::Result<i32> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, getsockopt, sockopt::PeerCredentials};
        use std::os::fd::AsRawFd;
        let addr = UnixAddr::new(&self.socket)?;
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let fd = nix::sys::socket::socket(AddressFamily::Unix, SockType::Stream, flags, None)?;
        nix::sys::socket::connect(fd.as_raw_fd(), &addr)?;
        Ok(getsockopt(&fd, PeerCredentials)?.pid())
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unix://{}", self.socket.display())
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The engine's `{"message": "..."}`, else the body as text.
    pub fn message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string())
    }
}

/// The most a response body may hold (inspect and list answers are small).
const MAX_BODY: usize = 16 << 20;

/// Sends one request and reads the whole answer.
pub fn request(
    ep: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> io::Result<Response> {
    let (status, mut reader) = open(ep, method, path, body, timeout)?;
    let mut out = Vec::new();
    reader.by_ref().take(MAX_BODY as u64 + 1).read_to_end(&mut out)?;
    if out.len() > MAX_BODY {
        return Err(io::Error::other("the engine's answer is too large"));
    }
    Ok(Response { status, body: out })
}

/// Sends one request and returns the status and the body as a stream;
/// `follow` drops the read timeout once the headers are in.
pub fn stream(
    ep: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
    follow: bool,
) -> io::Result<(u16, Body)> {
    let (status, mut reader) = open(ep, method, path, body, timeout)?;
    if follow {
        reader.inner.get_mut().deadline = None;
        reader.inner.get_ref().sock.set_read_timeout(None)?;
    }
    Ok((status, reader))
}

/// The engine's socket, read within the deadline of the request.
struct Timed {
    sock: UnixStream,
    deadline: Option<Instant>,
    limit: Duration,
}

impl Timed {
    fn timed_out(&self) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, format!("it did not answer within {} s", self.limit.as_secs_f64()))
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out());
            }
            self.sock.set_read_timeout(Some(left))?;
        }
        self.sock.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => self.timed_out(),
            _ => e,
        })
    }
}

fn open(
    ep: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> io::Result<(u16, Body)> {
    let sock = UnixStream::connect(&ep.socket)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot reach the container engine at {ep}: {e}")))?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let payload = match body {
        Some(v) => serde_json::to_vec(v).map_err(io::Error::other)?,
        None => Vec::new(),
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nUser-Agent: supd\r\n");
    if body.is_some() || method == "POST" {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", payload.len()));
    }
    head.push_str("\r\n");
    let deadline = Instant::now() + timeout;
    let mut w = &sock;
    let timed_out = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("it did not take the request within {} s", timeout.as_secs_f64()),
        ),
        _ => e,
    };
    w.write_all(head.as_bytes()).map_err(timed_out)?;
    w.write_all(&payload).map_err(timed_out)?;
    let timed = Timed { sock, deadline: Some(deadline), limit: timeout };
    let mut reader = BufReader::with_capacity(16 * 1024, timed);
    let status = read_head(&mut reader)?;
    Ok((status.0, Body { inner: reader, framing: status.1 }))
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(u64),
    /// Bytes left in the current chunk (0 before the first and between
    /// chunks); `done` after the last.
    Chunked {
        left: u64,
        done: bool,
    },
    ToEnd,
}

/// The most the status line and headers may take.
const MAX_HEAD: usize = 64 * 1024;

/// The most headers an answer may have (the engine sends a dozen).
const MAX_HEADERS: usize = 128;

fn garbage(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the engine answered garbage: {what}"))
}

/// Reads the status line and headers: the status and how the body is
/// framed. Only the head is consumed; what follows it stays buffered in
/// `r` for the body.
fn read_head(r: &mut BufReader<Timed>) -> io::Result<(u16, Framing)> {
    let mut head = Vec::new();
    loop {
        let more = match r.fill_buf() {
            Ok(more) => more,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if more.is_empty() {
            return Err(garbage("the connection closed inside the headers"));
        }
        let had = head.len();
        let took = more.len().min(MAX_HEAD + 1 - had);
        head.extend_from_slice(&more[..took]);
        match parse_head(&head)? {
            Some((len, status)) => {
                if len > MAX_HEAD {
                    return Err(garbage("headers too long"));
                }
                // The head ends in what was just taken (it was not
                // complete without it); the rest is the body's.
                r.consume(len.saturating_sub(had));
                return Ok(status);
            }
            None if head.len() > MAX_HEAD => return Err(garbage("headers too long")),
            None => r.consume(took),
        }
    }
}

/// Parses a head: `None` while it is incomplete, else its length, the
/// status and how the body is framed.
fn parse_head(buf: &[u8]) -> io::Result<Option<(usize, (u16, Framing))>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut headers);
    // As lenient as the engine's own clients: a space before a header's
    // colon is allowed and a header line that is not one is skipped.
    let parsed = httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .ignore_invalid_headers_in_responses(true)
        .parse_response(&mut answer, buf);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version | httparse::Error::Status) => {
            let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(&line[..line.len().min(200)]);
            return Err(garbage(&format!("status line {:?}", line.trim_end())));
        }
        Err(e) => return Err(garbage(&e.to_string())),
    };
    let mut framing = Framing::ToEnd;
    for h in answer.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = String::from_utf8_lossy(h.value).trim().parse().map_err(|_| garbage("Content-Length"))?;
            if !matches!(framing, Framing::Chunked { .. }) {
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value).to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked { left: 0, done: false };
        }
    }
    // A 1xx, 204 or 304 answer has no body.
    let code = answer.code.unwrap_or(0);
    if code == 204 || code == 304 || (100..200).contains(&code) {
        framing = Framing::Length(0);
    }
    Ok(Some((len, (code, framing))))
}

/// The most a chunk-size line (with its extensions) may take.
const MAX_CHUNK_LINE: u64 = 64 * 1024;

/// Reads the size of the next chunk: the CRLF that ends the previous
/// chunk, then the size line.
fn next_chunk_size(r: &mut BufReader<Timed>) -> io::Result<u64> {
    let cut = || io::Error::new(io::ErrorKind::UnexpectedEof, "chunked answer cut short");
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunk size");
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r.by_ref().take(MAX_CHUNK_LINE).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(cut());
        }
        if line.last() != Some(&b'\n') && n as u64 == MAX_CHUNK_LINE {
            return Err(bad());
        }
        if !line.trim_ascii().is_empty() {
            break;
        }
    }
    // Spaces around it, a bare LF or the end of the connection after it
    // are let pass; at least one digit is required (httparse reads
    // ";ext" as a last chunk).
    let size = line.trim_ascii();
    if !size.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    match httparse::parse_chunk_size(&[size, &b"\r\n"[..]].concat()) {
        Ok(httparse::Status::Complete((_, size))) => Ok(size),
        _ => Err(bad()),
    }
}

/// A response body, unframed.
pub struct Body {
    inner: BufReader<Timed>,
    framing: Framing,
}

impl Body {
    /// Shuts the connection down, which ends a blocked read of another
    /// thread holding a clone.
    pub fn shutdown_handle(&self) -> io::Result<UnixStream> {
        self.inner.get_ref().sock.try_clone()
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.framing {
            Framing::ToEnd => self.inner.read(buf),
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let max = buf.len().min(*left as usize);
                let n = self.inner.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the engine's answer was cut short"));
                }
                *left -= n as u64;
                Ok(n)
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let size = next_chunk_size(&mut self.inner)?;
                    if size == 0 {
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let max = buf.len().min(*left as usize);
                let n = self.inner.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunked answer cut short"));
                }
                *left -= n as u64;
                Ok(n)
            }
        }
    }
}

/// Escapes a query value.
pub fn query(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn serve(answer: &'static [u8]) -> (tempfile::TempDir, Endpoint, std::thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sock");
        let l = UnixListener::bind(&path).unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            // The whole request (head and body, which the client may
            // write apart) before the answer: a socket closed on an unread
            // body would fail the client's write instead.
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).into_owned();
                let Some(end) = text.find("\r\n\r\n") else {
                    if n == 0 {
                        break;
                    }
                    continue;
                };
                let len = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if n == 0 || req.len() >= end + 4 + len {
                    break;
                }
            }
            s.write_all(answer).unwrap();
            String::from_utf8_lossy(&req).into_owned()
        });
        (dir, Endpoint { socket: path }, h)
    }

    #[test]
    fn a_chunked_answer_is_put_back_together() {
        let (_d, ep, h) =
            serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        let r = request(&ep, "GET", "/v1.41/version", None, Duration::from_secs(5)).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world"[..]));
        assert!(h.join().unwrap().starts_with("GET /v1.41/version HTTP/1.1\r\n"));
    }

    #[test]
    fn a_length_framed_error_gives_the_engines_message() {
        let (_d, ep, _h) =
            serve(b"HTTP/1.1 404 Not Found\r\nContent-Length: 29\r\n\r\n{\"message\":\"No such image x\"}");
        let r = request(&ep, "POST", "/v1.41/containers/create", Some(&serde_json::json!({})), Duration::from_secs(5))
            .unwrap();
        assert_eq!((r.status, r.message().as_str()), (404, "No such image x"));
    }

    #[test]
    fn garbage_and_silence_are_errors_not_hangs() {
        let (_d, ep, _h) = serve(b"SSH-2.0-OpenSSH\r\n\r\n");
        let e = request(&ep, "GET", "/x", None, Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("garbage"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mute.sock");
        let _l = UnixListener::bind(&path).unwrap();
        let t = std::time::Instant::now();
        let e = request(&Endpoint { socket: path }, "GET", "/x", None, Duration::from_millis(300)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(3), "{e}");
        let e = request(&Endpoint::parse("/nonexistent/d.sock").unwrap(), "GET", "/x", None, Duration::from_secs(1))
            .unwrap_err();
        assert!(e.to_string().contains("unix:///nonexistent/d.sock"), "{e}");
    }

    /// An engine that answers a byte at a time, each within the read
    /// timeout, is cut off at the request's deadline, and the error says
    /// so in words (not "os error 11").
    #[test]
    fn a_trickling_engine_is_cut_off_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slow.sock");
        let l = UnixListener::bind(&path).unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".iter().chain([b'x'; 100].iter()) {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let t = Instant::now();
        let e = request(&Endpoint { socket: path }, "GET", "/x", None, Duration::from_millis(400)).unwrap_err();
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(350) && took < Duration::from_secs(2), "{took:?}");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("did not answer within 0.4 s"), "{e}");
        let _ = h.join();
    }

    /// The head is read into a buffer of its own, the rest stays for the
    /// body: a head longer than one read of the socket keeps its body.
    #[test]
    fn a_head_is_limited_to_64_kib() {
        let head = |filler: usize| -> &'static [u8] {
            let mut a = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
            a.resize(a.len() + filler, b'a');
            a.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
            a.leak()
        };
        let (_d, ep, _h) = serve(head(60 * 1024));
        let r = request(&ep, "GET", "/x", None, Duration::from_secs(5)).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        let (_d, ep, _h) = serve(head(70 * 1024));
        let e = request(&ep, "GET", "/x", None, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("garbage: headers too long"), "{e}");
    }

    #[test]
    fn a_chunk_size_may_carry_an_extension() {
        let (_d, ep, _h) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a;foo=bar\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
        );
        let r = request(&ep, "GET", "/x", None, Duration::from_secs(5)).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcdefghijklmnopqrstuvwxyz"[..]));
    }

    /// An answer cut short is the engine going away (UnexpectedEof); one
    /// that is not HTTP is a bad answer (InvalidData).
    #[test]
    fn cut_and_bad_answers_have_their_kinds() {
        let cases: &[(&'static [u8], io::ErrorKind)] = &[
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", io::ErrorKind::UnexpectedEof),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", io::ErrorKind::UnexpectedEof),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", io::ErrorKind::UnexpectedEof),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n", io::ErrorKind::InvalidData),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\nhello\r\n", io::ErrorKind::InvalidData),
            (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\nabc", io::ErrorKind::InvalidData),
            (b"HTTP/1.1 200 OK\r\nContent-Le", io::ErrorKind::InvalidData),
        ];
        for &(answer, kind) in cases {
            let (_d, ep, _h) = serve(answer);
            let e = request(&ep, "GET", "/x", None, Duration::from_secs(5)).unwrap_err();
            assert_eq!(e.kind(), kind, "{e} for {:?}", String::from_utf8_lossy(answer));
        }
    }

    #[test]
    fn endpoints_are_unix_sockets() {
        assert_eq!(Endpoint::parse("unix:///run/d.sock").unwrap().socket, PathBuf::from("/run/d.sock"));
        assert!(Endpoint::parse("tcp://127.0.0.1:2375").unwrap_err().to_string().contains("not a Unix socket"));
        assert_eq!(Endpoint::choose(Some("/x.sock")).unwrap().to_string(), "unix:///x.sock");
        assert_eq!(query("a b/c=d"), "a%20b%2Fc%3Dd");
    }
}
