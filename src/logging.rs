//! supd's own log: one line per record on stderr (journald takes it under
//! systemd, each line prefixed with its priority, `<4>`, when stderr is
//! the journal's stream), with the time when stderr is a terminal; stderr
//! is written by a thread of its own (`logs::console`), so that a stderr
//! nobody reads drops lines instead of stopping supd; or syslog (RFC 3164
//! datagrams to /dev/log) through a writer that never blocks the loop,
//! reconnects when the syslog daemon comes back, and counts what it drops.
//! Control characters in a record (a line break, an escape sequence from a
//! peer's name) are written escaped: a record stays one line, and a
//! terminal showing the log acts on nothing in it.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::{ErrorKind, IsTerminal};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;

struct Stderr {
    level: LevelFilter,
    times: bool,
    /// stderr is the journal's: each line starts with its priority, `<3>`.
    priorities: bool,
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = level_name(r.level());
        let message = r.args().to_string();
        let message = crate::names::printable(&message);
        let line = if self.times {
            let now = crate::timefmt::rfc3339(std::time::SystemTime::now());
            format!("{now} supd {level}: {message}\n")
        } else if self.priorities {
            format!("<{}>supd {level}: {message}\n", severity(r.level()))
        } else {
            format!("supd {level}: {message}\n")
        };
        // A full or closed stderr must not stop supervision: the line is
        // written by stderr's own thread, or dropped and counted.
        let _ = crate::logs::console::stderr().write(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the stderr logger at `level`.
pub fn init(level: LevelFilter) {
    let stderr = crate::logs::console::stderr();
    let logger = Stderr { level, times: std::io::stderr().is_terminal(), priorities: stderr.is_journal() };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

/// Syslog over a non-blocking datagram socket.
pub struct Syslog {
    level: LevelFilter,
    path: PathBuf,
    state: Mutex<SyslogState>,
}

struct SyslogState {
    sock: Option<UnixDatagram>,
    dropped: u64,
}

impl Syslog {
    pub fn new(level: LevelFilter, path: PathBuf) -> Syslog {
        Syslog { level, path, state: Mutex::new(SyslogState { sock: None, dropped: 0 }) }
    }

    fn connect(&self) -> Option<UnixDatagram> {
        let s = UnixDatagram::unbound().ok()?;
        s.connect(&self.path).ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    }

    /// Sends one formatted message; on a broken connection it reconnects
    /// once, otherwise the message is dropped and counted.
    pub fn send(&self, message: &[u8]) -> bool {
        let Ok(mut st) = self.state.lock() else { return false };
        for attempt in 0..2 {
            if st.sock.is_none() {
                st.sock = self.connect();
            }
            let Some(sock) = st.sock.as_ref() else { break };
            match sock.send(message) {
                Ok(_) => {
                    if st.dropped > 0 {
                        let note = format_line(
                            Level::Warn,
                            &format!("{} log messages were dropped while syslog was unavailable", st.dropped),
                        );
                        if sock.send(note.as_bytes()).is_ok() {
                            st.dropped = 0;
                        }
                    }
                    return true;
                }
                // The receiver is full: drop, do not wait.
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // The daemon went away (or restarted): reconnect once.
                Err(_) if attempt == 0 => st.sock = None,
                Err(_) => break,
            }
        }
        st.dropped += 1;
        false
    }

    pub fn dropped(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.dropped)
    }
}

/// The syslog severity of a level: 3 error … 7 debug.
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// `<PRI>Mmm dd hh:mm:ss supd[PID]: message`, facility daemon.
fn format_line(level: Level, message: &str) -> String {
    let severity = severity(level);
    let stamp = crate::timefmt::rfc3339(std::time::SystemTime::now());
    // RFC 3164 wants "Mmm dd hh:mm:ss"; derive it from the RFC 3339 stamp.
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = stamp.get(5..7).and_then(|m| m.parse::<usize>().ok()).map_or("Jan", |m| months[(m + 11) % 12]);
    let day = stamp.get(8..10).and_then(|d| d.parse::<u32>().ok()).unwrap_or(1);
    let time = stamp.get(11..19).unwrap_or("00:00:00");
    format!("<{}>{month} {day:>2} {time} supd[{}]: {message}", 3 * 8 + severity, std::process::id())
}

impl Log for Syslog {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let message = r.args().to_string();
            self.send(format_line(r.level(), &crate::names::printable(&message)).as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Installs the syslog logger; says on stderr when the socket is not there
/// yet (messages are dropped and counted until it is).
pub fn init_syslog(level: LevelFilter, path: PathBuf) {
    let logger = Syslog::new(level, path.clone());
    if logger.connect().is_none() {
        eprintln!(
            "supd warning: no syslog at {} yet; log messages are dropped and counted until it appears",
            path.display()
        );
    }
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(s: &UnixDatagram) -> String {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        let n = s.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn rfc3164_lines() {
        let l = format_line(Level::Info, "hello");
        assert!(l.starts_with("<30>"), "{l}");
        assert!(l.ends_with(&format!(" supd[{}]: hello", std::process::id())), "{l}");
        assert!(format_line(Level::Error, "x").starts_with("<27>"));
    }

    #[test]
    fn drops_while_absent_then_reconnects_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let s = Syslog::new(LevelFilter::Info, path.clone());
        // No receiver yet: dropped and counted, never blocked.
        assert!(!s.send(b"lost 1"));
        assert!(!s.send(b"lost 2"));
        assert_eq!(s.dropped(), 2);
        let rx = UnixDatagram::bind(&path).unwrap();
        assert!(s.send(b"first"));
        assert_eq!(recv(&rx), "first");
        assert!(recv(&rx).contains("2 log messages were dropped"));
        // The receiver restarts: the writer reconnects.
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        let rx = UnixDatagram::bind(&path).unwrap();
        assert!(s.send(b"again"));
        assert_eq!(recv(&rx), "again");
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn a_full_receiver_drops_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let _rx = UnixDatagram::bind(&path).unwrap();
        let s = Syslog::new(LevelFilter::Info, path);
        let big = vec![b'x'; 1024];
        let started = std::time::Instant::now();
        let sent = (0..10_000).filter(|_| s.send(&big)).count();
        assert!(sent < 10_000 && s.dropped() > 0, "sent {sent}");
        assert!(started.elapsed() < Duration::from_secs(5), "never blocks");
    }
}
