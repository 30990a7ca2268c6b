//! What crosses an exec of supd's own binary (`daemon-reexec`): the
//! listener, the connection of the client that asked, and the clients
//! still sending their request line or being sent their answer.

use super::{BindError, Client, ControlServer, Phase};
use crate::supervisor::watches::Tokens;
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

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

impl ControlServer {
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
}
