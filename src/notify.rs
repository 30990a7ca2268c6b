//! sd_notify, hand-written: datagrams to `$NOTIFY_SOCKET` (a path, or an
//! abstract name written `@name`), so that supd runs as a `Type=notify`
//! systemd service. Without the variable every call is a no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    last_status: String,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`; a bad value is reported once and ignored.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|v| {
            let v = v.to_string_lossy().into_owned();
            let addr = match v.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
                None => SocketAddr::from_pathname(&v),
            };
            match (addr, UnixDatagram::unbound()) {
                (Ok(a), Ok(s)) => {
                    let _ = s.set_nonblocking(true);
                    Some((s, a))
                }
                (Err(e), _) | (_, Err(e)) => {
                    log::warn!("NOTIFY_SOCKET={v} is unusable: {e}; not notifying systemd");
                    None
                }
            }
        });
        Notifier { target, last_status: String::new() }
    }

    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `KEY=value` lines; a failure is logged, never fatal.
    pub fn send(&self, state: &str) {
        if let Some((sock, addr)) = &self.target
            && let Err(e) = sock.send_to_addr(state.as_bytes(), addr)
        {
            log::debug!("sd_notify {state:?}: {e}");
        }
    }

    pub fn ready(&mut self, status: &str) {
        self.last_status = status.to_string();
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// `STATUS=` when it changed.
    pub fn status(&mut self, status: &str) {
        if self.enabled() && self.last_status != status {
            self.last_status = status.to_string();
            self.send(&format!("STATUS={status}"));
        }
    }

    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Hands descriptors to systemd's file-descriptor store under `name`
    /// (`FDSTORE=1`, the descriptors as `SCM_RIGHTS`): systemd keeps them
    /// open while supd is restarted, and passes them back at its next
    /// start (see [`stored_fds`]). Needs `FileDescriptorStoreMax=` in the
    /// unit. Returns whether the message went out.
    pub fn store_fds(&self, name: &str, fds: &[std::os::fd::RawFd]) -> bool {
        use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
        let Some((sock, addr)) = &self.target else { return false };
        let to = match addr.as_pathname() {
            Some(p) => UnixAddr::new(p),
            None => match addr.as_abstract_name() {
                Some(name) => UnixAddr::new_abstract(name),
                None => return false,
            },
        };
        let Ok(to) = to else { return false };
        let text = format!("FDSTORE=1\nFDNAME={name}");
        let iov = [std::io::IoSlice::new(text.as_bytes())];
        let cmsg = [ControlMessage::ScmRights(fds)];
        use std::os::fd::AsRawFd;
        match sendmsg(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), Some(&to)) {
            Ok(_) => true,
            Err(e) => {
                log::debug!("sd_notify FDSTORE {name}: {e}");
                false
            }
        }
    }

    /// Has systemd close and forget the descriptors stored under `name`.
    pub fn remove_fds(&self, name: &str) {
        self.send(&format!("FDSTOREREMOVE=1\nFDNAME={name}"));
    }
}

/// The descriptors systemd passed at this start (`LISTEN_FDS`, from 3 on,
/// for this process by `LISTEN_PID`), with their names (`LISTEN_FDNAMES`):
/// what an earlier supd of this service stored. Taken once.
pub fn stored_fds() -> Vec<(String, std::os::fd::OwnedFd)> {
    let mine = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count: i32 = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    if !mine || count <= 0 {
        return Vec::new();
    }
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    let mut names = names.split(':');
    (0..count.min(1 << 16))
        .filter_map(|i| {
            let name = names.next().unwrap_or("unknown").to_string();
            crate::process::sys::inherited_fd(3 + i).map(|fd| (name, fd))
        })
        .collect()
}

/// Half of `WATCHDOG_USEC`, when systemd asks for keep-alives (and, when
/// `WATCHDOG_PID` is set, asks this process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier_for(addr: SocketAddr) -> Notifier {
        Notifier { target: Some((UnixDatagram::unbound().unwrap(), addr)), last_status: String::new() }
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let mut n = notifier_for(SocketAddr::from_pathname(&path).unwrap());
        n.ready("1 running");
        assert_eq!(recv(&listener), "READY=1\nSTATUS=1 running");
        n.status("2 running");
        n.status("2 running"); // unchanged: not sent again
        n.stopping();
        assert_eq!(recv(&listener), "STATUS=2 running");
        assert_eq!(recv(&listener), "STOPPING=1");

        let name = format!("supd-test-{}", std::process::id());
        let abs = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&abs).unwrap();
        let n = notifier_for(abs);
        n.watchdog();
        assert_eq!(recv(&listener), "WATCHDOG=1");
    }

    #[test]
    fn no_socket_is_a_no_op() {
        let mut n = Notifier { target: None, last_status: String::new() };
        assert!(!n.enabled());
        n.ready("x");
    }
}
