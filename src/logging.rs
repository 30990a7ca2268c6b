//! supd's own log: one line per record on stderr (journald takes it under
//! systemd), with the time when stderr is a terminal.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::{IsTerminal, Write};

struct Stderr {
    level: LevelFilter,
    times: bool,
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let line = if self.times {
            let now = crate::supervisor::task::rfc3339(std::time::SystemTime::now());
            format!("{now} supd {level}: {}\n", r.args())
        } else {
            format!("supd {level}: {}\n", r.args())
        };
        // A full or closed stderr must not stop supervision.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the stderr logger at `level`.
pub fn init(level: LevelFilter) {
    let logger = Stderr { level, times: std::io::stderr().is_terminal() };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}
