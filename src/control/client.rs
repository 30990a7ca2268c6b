//! supctl's side of the socket: send one request, read response lines.
//! Every wait has a bound: connecting (a supd that does not accept, or
//! whose backlog is full) and the answer (a supd whose loop is stuck);
//! following output waits without one once the first answer is in.

use super::protocol::{Envelope, Request, Response, VERSION};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the answer may take by default (`supctl --timeout`).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

static ANSWER_MS: AtomicU64 = AtomicU64::new(30_000);

/// Sets how long supctl waits for an answer (a `job run` of a very large
/// job on a slow host may need more than the default).
pub fn set_answer_timeout(d: Duration) {
    ANSWER_MS.store(d.as_millis().clamp(1, u128::from(u64::MAX)) as u64, Ordering::Relaxed);
}

fn answer_timeout() -> Duration {
    Duration::from_millis(ANSWER_MS.load(Ordering::Relaxed))
}

#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens at the socket, or supd did not answer in time
    /// (supctl exits 3).
    NoDaemon(String),
    /// The socket is there but this user may not use it (supctl exits 5).
    PermissionDenied(String),
    /// The daemon answered with something unreadable, or hung up.
    Protocol(String),
}

pub struct Connection {
    reader: BufReader<UnixStream>,
    socket: PathBuf,
    /// The first answer is in: what follows is streamed, without a bound.
    answered: bool,
}

impl Connection {
    pub fn open(socket: &Path) -> Result<Connection, ClientError> {
        let stream = connect(socket)?;
        let _ = stream.set_read_timeout(Some(answer_timeout()));
        let _ = stream.set_write_timeout(Some(answer_timeout()));
        Ok(Connection { reader: BufReader::new(stream), socket: socket.to_path_buf(), answered: false })
    }

    /// Sends a request. The HCL of `job run` and a hand-off's envelope
    /// follow the line as a body of their own, so that the line stays short.
    pub fn send(&mut self, request: Request) -> Result<(), ClientError> {
        let (request, body) = match request {
            Request::JobRun { source, file, plan } => {
                (Request::JobRun { source: String::new(), file, plan }, Some(source))
            }
            // An offer holds the job's source: as large as a job file.
            Request::Handoff { from, request } => {
                (Request::Handoff { from, request: serde_json::Value::Null }, Some(request.to_string()))
            }
            r => (r, None),
        };
        let envelope = Envelope { version: VERSION, body: body.as_ref().map(|b| b.len() as u64), request };
        let mut line = serde_json::to_vec(&envelope)
            .map_err(|e| ClientError::Protocol(format!("cannot encode the request: {e}")))?;
        line.push(b'\n');
        let stream = self.reader.get_ref();
        let sent = send_all(stream, &line).and_then(|()| body.map_or(Ok(()), |b| send_all(stream, b.as_bytes())));
        match sent {
            Ok(()) => Ok(()),
            Err(e) if timed_out(&e) => Err(self.timeout("sending the request")),
            // supd refuses a request it will not read to its end and
            // closes: its reason is what to report, not the broken pipe.
            Err(e) => match self.next_response() {
                Ok(Some(r)) if !r.ok => {
                    Err(ClientError::Protocol(r.error.unwrap_or_else(|| "supd refused the request".into())))
                }
                _ => Err(ClientError::Protocol(format!("cannot send the request: {e}"))),
            },
        }
    }

    fn timeout(&self, what: &str) -> ClientError {
        ClientError::NoDaemon(format!(
            "supd at {} did not answer within {} ({what}) — it may be overloaded or hung; see its log, or allow longer with --timeout",
            self.socket.display(),
            secs(answer_timeout()),
        ))
    }

    /// One line, bounded in time until the first answer is in.
    fn line(&mut self) -> Result<Option<String>, ClientError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => {
                if !self.answered {
                    self.answered = true;
                    let _ = self.reader.get_ref().set_read_timeout(None);
                }
                Ok(Some(line))
            }
            Err(e) if timed_out(&e) => Err(self.timeout("waiting for the answer")),
            Err(e) => Err(ClientError::Protocol(format!("reading from supd: {e}"))),
        }
    }

    /// The next response line, or `None` when the daemon closed the stream.
    pub fn next_response(&mut self) -> Result<Option<Response>, ClientError> {
        match self.line()? {
            None => Ok(None),
            Some(line) => serde_json::from_str(&line)
                .map(Some)
                .map_err(|e| ClientError::Protocol(format!("unreadable answer from supd: {e}"))),
        }
    }

    /// Sends a request and returns its one response.
    pub fn call(socket: &Path, request: Request) -> Result<Response, ClientError> {
        let mut c = Connection::open(socket)?;
        c.send(request)?;
        c.next_response()?.ok_or_else(|| ClientError::Protocol("supd closed the connection without answering".into()))
    }

    /// Sends a request and returns its one answer as supd sent it: a JSON
    /// line, for a caller that prints it without decoding it all.
    pub fn call_raw(socket: &Path, request: Request) -> Result<String, ClientError> {
        let mut c = Connection::open(socket)?;
        c.send(request)?;
        c.line()?.ok_or_else(|| ClientError::Protocol("supd closed the connection without answering".into()))
    }

    /// Sends `request` and copies the document that follows the answer
    /// (`Response::body`) into `out` as it arrives; returns the answer.
    pub fn call_document(socket: &Path, request: Request, out: &mut impl Write) -> Result<Response, ClientError> {
        let mut c = Connection::open(socket)?;
        c.send(request)?;
        let r = c
            .next_response()?
            .ok_or_else(|| ClientError::Protocol("supd closed the connection without answering".into()))?;
        let Some(mut left) = r.body else { return Ok(r) };
        let cut = |e: std::io::Error| ClientError::Protocol(format!("reading the answer from supd: {e}"));
        let write = |e: std::io::Error| ClientError::Protocol(format!("cannot write the answer: {e}"));
        // What the line's reader holds already, then large reads.
        let held = c.reader.buffer();
        let first = held.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        out.write_all(&held[..first]).map_err(write)?;
        c.reader.consume(first);
        left -= first as u64;
        let mut buf = vec![0u8; 1 << 18];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match c.reader.get_mut().read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(ClientError::Protocol(format!(
                        "supd closed the connection {left} bytes before the end of its answer"
                    )));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if timed_out(&e) => return Err(c.timeout("reading the answer")),
                Err(e) => return Err(cut(e)),
            };
            out.write_all(&buf[..n]).map_err(write)?;
            left -= n as u64;
        }
        out.flush().map_err(write)?;
        Ok(r)
    }

    /// The next streamed event line (after an `events --follow` answer).
    /// supd ends a stream it had to cut with a refusal saying why.
    pub fn next_event(&mut self) -> Result<Option<super::protocol::EventLine>, ClientError> {
        match self.line()? {
            None => Ok(None),
            Some(line) => {
                serde_json::from_str(&line).map(Some).map_err(|e| match serde_json::from_str::<Response>(&line) {
                    Ok(r) if !r.ok => ClientError::Protocol(r.error.unwrap_or_else(|| "supd ended the stream".into())),
                    _ => ClientError::Protocol(format!("unreadable event from supd: {e}")),
                })
            }
        }
    }
}

/// Writes everything; a closed socket is an error (EPIPE), not SIGPIPE
/// (supctl keeps SIGPIPE's default for its stdout).
fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    use nix::sys::socket::{MsgFlags, send};
    use std::os::fd::AsRawFd;
    while !bytes.is_empty() {
        match send(stream.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Connects within [`CONNECT_TIMEOUT`]. A Unix socket's connect blocks
/// while supd's backlog is full, and has no timeout of its own: it runs
/// on a thread of its own, abandoned (supctl exits) when it takes too long.
/// First, a connect that does not block: with room in the backlog (nearly
/// always) it is made at once, without a thread.
fn connect(socket: &Path) -> Result<UnixStream, ClientError> {
    if let Some(stream) = connect_at_once(socket) {
        return Ok(stream);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let path = socket.to_path_buf();
    let spawned = std::thread::Builder::new().name("connect".into()).spawn(move || {
        let _ = tx.send(UnixStream::connect(&path));
    });
    let result = match spawned {
        Ok(_) => match rx.recv_timeout(CONNECT_TIMEOUT) {
            Ok(r) => r,
            Err(_) => {
                return Err(ClientError::NoDaemon(format!(
                    "supd at {} did not accept the connection within {} (connect timeout) — it may be overloaded or hung; see its log",
                    socket.display(),
                    secs(CONNECT_TIMEOUT),
                )));
            }
        },
        Err(_) => UnixStream::connect(socket),
    };
    result.map_err(|e| {
        if e.kind() == ErrorKind::PermissionDenied {
            return ClientError::PermissionDenied(format!(
                "permission denied on {} — ask root, or join socket_group{}",
                socket.display(),
                group_hint(socket)
            ));
        }
        ClientError::NoDaemon(format!(
            "no supd at {} ({e}) — start supd, or name its socket with --socket or SUPD_SOCKET",
            socket.display()
        ))
    })
}

/// A connection made without waiting; `None` when it cannot be (a full
/// backlog, or any error, which the blocking connect then reports).
fn connect_at_once(socket: &Path) -> Option<UnixStream> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr};
    let addr = UnixAddr::new(socket).ok()?;
    let fd = nix::sys::socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).ok()?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false).ok()?;
    Some(stream)
}

/// Which group may use the socket, as far as this user can tell.
fn group_hint(socket: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(socket) else { return String::new() };
    if m.mode() & 0o060 == 0 {
        return " (supd.toml names none: only the socket's owner may use it)".into();
    }
    match nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(m.gid())) {
        Ok(Some(g)) => format!(" (the group {:?})", g.name),
        _ => format!(" (the group {})", m.gid()),
    }
}
