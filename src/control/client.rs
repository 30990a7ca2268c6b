//! supctl's side of the socket: send one request, read response lines.

use super::protocol::{Envelope, Request, Response, VERSION};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens at the socket (supctl exits 3).
    NoDaemon(String),
    /// The socket is there but this user may not use it (supctl exits 5).
    PermissionDenied(String),
    /// The daemon answered with something unreadable, or hung up.
    Protocol(String),
}

pub struct Connection {
    reader: BufReader<UnixStream>,
}

impl Connection {
    pub fn open(socket: &Path) -> Result<Connection, ClientError> {
        let stream = UnixStream::connect(socket).map_err(|e| {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
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
        })?;
        Ok(Connection { reader: BufReader::new(stream) })
    }

    pub fn send(&mut self, request: Request) -> Result<(), ClientError> {
        let mut line = serde_json::to_string(&Envelope { version: VERSION, request })
            .map_err(|e| ClientError::Protocol(format!("cannot encode the request: {e}")))?;
        line.push('\n');
        self.reader
            .get_mut()
            .write_all(line.as_bytes())
            .map_err(|e| ClientError::Protocol(format!("cannot send the request: {e}")))
    }

    /// The next response line, or `None` when the daemon closed the stream.
    pub fn next_response(&mut self) -> Result<Option<Response>, ClientError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => serde_json::from_str(&line)
                .map(Some)
                .map_err(|e| ClientError::Protocol(format!("unreadable answer from supd: {e}"))),
            Err(e) => Err(ClientError::Protocol(format!("reading from supd: {e}"))),
        }
    }

    /// Sends a request and returns its one response.
    pub fn call(socket: &Path, request: Request) -> Result<Response, ClientError> {
        let mut c = Connection::open(socket)?;
        c.send(request)?;
        c.next_response()?.ok_or_else(|| ClientError::Protocol("supd closed the connection without answering".into()))
    }
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

impl Connection {
    /// The next streamed event line (after an `events --follow` answer).
    pub fn next_event(&mut self) -> Result<Option<super::protocol::EventLine>, ClientError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => serde_json::from_str(&line)
                .map(Some)
                .map_err(|e| ClientError::Protocol(format!("unreadable event from supd: {e}"))),
            Err(e) => Err(ClientError::Protocol(format!("reading from supd: {e}"))),
        }
    }
}
