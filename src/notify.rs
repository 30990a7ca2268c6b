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
