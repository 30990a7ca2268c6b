//! Task output to the journal over its native protocol: one datagram per
//! entry to `/run/systemd/journal/socket`, each field `NAME=value\n`, the
//! way `sd_journal_send` does it. The socket is non-blocking: an entry the
//! journal cannot take now (its queue is full, it is not running) is
//! dropped and counted, never waited for. An entry too big for one
//! datagram goes in a sealed memfd whose descriptor is the datagram's only
//! content, as the protocol allows.

use std::io::{ErrorKind, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// Where journald listens for native entries.
pub const DEFAULT_SOCKET: &str = "/run/systemd/journal/socket";

/// Why an entry was dropped.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The socket's queue is full.
    #[error("the journal at {} is not keeping up", path.display())]
    NotKeepingUp { path: PathBuf },
    /// No socket there, or nobody reads it.
    #[error("no journal listens at {}", path.display())]
    NotListening { path: PathBuf },
    #[error("cannot send to the journal at {}: {source}", path.display())]
    Send {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The sending end, shared by every task.
pub struct Journal {
    path: PathBuf,
    /// Made at the first entry: supd with no task writing to the journal
    /// holds no socket for it.
    sock: Option<UnixDatagram>,
    /// Entries sent.
    pub sent: u64,
    /// Entries dropped since the journal last took one.
    pub dropped: u64,
}

impl Journal {
    pub fn new(path: &Path) -> Journal {
        Journal { path: path.to_path_buf(), sock: None, sent: 0, dropped: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn socket(&mut self) -> std::io::Result<&UnixDatagram> {
        if self.sock.is_none() {
            let s = UnixDatagram::unbound()?;
            s.set_nonblocking(true)?;
            self.sock = Some(s);
        }
        self.sock.as_ref().ok_or_else(|| std::io::Error::other("no socket"))
    }

    /// Sends one entry; an error says why it was dropped (and it is
    /// counted). After drops, the first entry that goes through is
    /// followed by supd's own entry saying how many were lost.
    pub fn send(&mut self, entry: &[u8]) -> Result<(), JournalError> {
        match self.send_entry(entry) {
            Ok(()) => {
                self.sent += 1;
                if self.dropped > 0 {
                    let note = Entry::new()
                        .field("SYSLOG_IDENTIFIER", b"supd")
                        .field("PRIORITY", b"4")
                        .field(
                            "MESSAGE",
                            format!(
                                "{} entries of task output were dropped: the journal did not take them",
                                self.dropped
                            )
                            .as_bytes(),
                        )
                        .finish();
                    if self.send_entry(&note).is_ok() {
                        self.dropped = 0;
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.dropped += 1;
                let path = self.path.clone();
                Err(match e.kind() {
                    ErrorKind::WouldBlock => JournalError::NotKeepingUp { path },
                    ErrorKind::NotFound | ErrorKind::ConnectionRefused => JournalError::NotListening { path },
                    _ => JournalError::Send { path, source: e },
                })
            }
        }
    }

    fn send_entry(&mut self, entry: &[u8]) -> std::io::Result<()> {
        let path = self.path.clone();
        let sock = self.socket()?;
        match sock.send_to(entry, &path) {
            Ok(_) => Ok(()),
            // Too big for a datagram (the socket's send buffer): the
            // protocol's other way.
            Err(e) if e.raw_os_error() == Some(nix::libc::EMSGSIZE) || e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                send_memfd(sock, &path, entry)
            }
            Err(e) => Err(e),
        }
    }
}

/// The entry in a sealed memfd, its descriptor sent alone.
fn send_memfd(sock: &UnixDatagram, path: &Path, entry: &[u8]) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
    let fd = memfd_create(c"supd-journal-entry", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(entry)?;
    let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SEAL;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
    let addr = UnixAddr::new(path)?;
    let fds = [file.as_raw_fd()];
    let iov: [IoSlice; 0] = [];
    sendmsg(sock.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::MSG_DONTWAIT, Some(&addr))?;
    Ok(())
}

/// One entry of the native protocol, field by field.
#[derive(Debug, Default, Clone)]
pub struct Entry(Vec<u8>);

impl Entry {
    pub fn new() -> Entry {
        Entry(Vec::new())
    }

    /// `NAME=value\n`; a value holding a line break goes in the binary
    /// form (`NAME\n`, its length as 64-bit little endian, the value, `\n`).
    pub fn field(mut self, name: &str, value: &[u8]) -> Entry {
        self.push(name, value);
        self
    }

    pub fn push(&mut self, name: &str, value: &[u8]) {
        self.0.extend_from_slice(name.as_bytes());
        if value.contains(&b'\n') {
            self.0.push(b'\n');
            self.0.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            self.0.push(b'=');
        }
        self.0.extend_from_slice(value);
        self.0.push(b'\n');
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Reads native-protocol entries back into (name, value) pairs: what
/// journald does with a datagram; for tests and for whoever checks what
/// supd sends.
pub fn parse(mut data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let end = data.iter().position(|b| *b == b'\n')?;
        let line = &data[..end];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            out.push((String::from_utf8_lossy(&line[..eq]).into_owned(), line[eq + 1..].to_vec()));
            data = &data[end + 1..];
        } else {
            let name = String::from_utf8_lossy(line).into_owned();
            let rest = &data[end + 1..];
            let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
            let value = rest.get(8..8 + len)?.to_vec();
            if rest.get(8 + len) != Some(&b'\n') {
                return None;
            }
            out.push((name, value));
            data = &rest[8 + len + 1..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(rx: &UnixDatagram) -> Vec<(String, Vec<u8>)> {
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let n = rx.recv(&mut buf).unwrap();
        parse(&buf[..n]).unwrap()
    }

    fn value<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
        &fields.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn fields_round_trip_in_both_forms() {
        let e = Entry::new().field("MESSAGE", b"hello").field("MULTI", b"a\nb").finish();
        assert!(e.starts_with(b"MESSAGE=hello\nMULTI\n\x03\0\0\0\0\0\0\0a\nb\n"), "{e:?}");
        let f = parse(&e).unwrap();
        assert_eq!(f, [("MESSAGE".to_string(), b"hello".to_vec()), ("MULTI".to_string(), b"a\nb".to_vec())]);
    }

    #[test]
    fn drops_while_absent_then_sends_and_reports_the_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let mut j = Journal::new(&path);
        let entry = Entry::new().field("MESSAGE", b"one").finish();
        let e = j.send(&entry).unwrap_err();
        assert!(matches!(e, JournalError::NotListening { .. }), "{e}");
        assert!(e.to_string().contains("no journal listens at"), "{e}");
        assert_eq!(j.dropped, 1);
        let rx = UnixDatagram::bind(&path).unwrap();
        j.send(&entry).unwrap();
        assert_eq!(value(&recv(&rx), "MESSAGE"), b"one");
        let note = recv(&rx);
        assert_eq!(value(&note, "SYSLOG_IDENTIFIER"), b"supd");
        assert!(String::from_utf8_lossy(value(&note, "MESSAGE")).starts_with("1 entries of task output were dropped"));
        assert_eq!(j.dropped, 0);
    }

    #[test]
    fn a_full_journal_drops_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let _rx = UnixDatagram::bind(&path).unwrap();
        let mut j = Journal::new(&path);
        let entry = Entry::new().field("MESSAGE", &[b'x'; 1024]).finish();
        let started = std::time::Instant::now();
        let sent = (0..10_000).filter(|_| j.send(&entry).is_ok()).count();
        assert!(sent < 10_000 && j.dropped > 0, "sent {sent}");
        assert!(started.elapsed() < Duration::from_secs(5), "never blocks");
    }

    #[test]
    fn an_entry_bigger_than_a_datagram_goes_in_a_memfd() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let rx = UnixDatagram::bind(&path).unwrap();
        let mut j = Journal::new(&path);
        let big = vec![b'y'; 4 << 20]; // beyond any datagram's size
        let entry = Entry::new().field("MESSAGE", &big).finish();
        j.send(&entry).unwrap();
        // What journald does: take the descriptor, read the entry from it.
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut buf = [0u8; 16];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(rx.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
        assert_eq!(msg.bytes, 0, "the datagram carries only the descriptor");
        let Some(ControlMessageOwned::ScmRights(fds)) = msg.cmsgs().unwrap().next() else { panic!("no descriptor") };
        // Read through /proc (the received descriptor stays open until the
        // test ends).
        let text = std::fs::read(format!("/proc/self/fd/{}", fds[0])).unwrap();
        assert_eq!(value(&parse(&text).unwrap(), "MESSAGE").len(), 4 << 20);
    }
}
