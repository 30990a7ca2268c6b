//! The one vocabulary of signals: the names a job file may use, how a name
//! or number a person wrote is read, how a signal is named in messages, and
//! the signal that stops a task. A leaf module: it imports nothing of supd.

use nix::sys::signal::Signal;

/// The signals supd knows by name: what a job may name as `kill_signal` or
/// `change_signal`, and what [`parse`] reads.
pub const NAMES: [&str; 31] = [
    "SIGABRT",
    "SIGALRM",
    "SIGBUS",
    "SIGCHLD",
    "SIGCONT",
    "SIGFPE",
    "SIGHUP",
    "SIGILL",
    "SIGINT",
    "SIGIO",
    "SIGKILL",
    "SIGPIPE",
    "SIGPROF",
    "SIGPWR",
    "SIGQUIT",
    "SIGSEGV",
    "SIGSTKFLT",
    "SIGSTOP",
    "SIGSYS",
    "SIGTERM",
    "SIGTRAP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGUSR1",
    "SIGUSR2",
    "SIGVTALRM",
    "SIGWINCH",
    "SIGXCPU",
    "SIGXFSZ",
];

/// Reads a signal as a person writes it: `SIGTERM`, `TERM`, `sigterm`
/// (surrounding spaces ignored), a number in Linux's numbering (`15`), or
/// one of the aliases `SIGIOT` (SIGABRT), `SIGPOLL` (SIGIO) and `SIGCLD`
/// (SIGCHLD). `None` for anything not in [`NAMES`]: `0`, real-time
/// signals (`SIGRTMIN+3`), unknown names.
pub fn parse(text: &str) -> Option<Signal> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        let sig = Signal::try_from(n).ok()?;
        return NAMES.contains(&sig.as_str()).then_some(sig);
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    let name = match full.as_str() {
        "SIGIOT" => "SIGABRT",
        "SIGPOLL" => "SIGIO",
        "SIGCLD" => "SIGCHLD",
        other => other,
    };
    if !NAMES.contains(&name) {
        return None;
    }
    name.parse().ok()
}

/// Names a signal number for messages: `SIGTERM`, or `signal N` for one
/// without a name.
pub fn name(sig: i32) -> String {
    Signal::try_from(sig).map(|s| s.as_str().to_string()).unwrap_or_else(|_| format!("signal {sig}"))
}

/// The signal that stops a task (its `kill_signal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KillSignal {
    /// None named: the driver's own. A container is stopped with its
    /// image's STOPSIGNAL, else SIGTERM, as the engine's stop sends it; a
    /// host process gets SIGINT, Nomad's default.
    #[default]
    Default,
    /// The one the job names.
    Named(Signal),
}

impl KillSignal {
    /// The signal sent to a process supd signals itself.
    pub fn for_process(self) -> Signal {
        match self {
            KillSignal::Named(s) => s,
            KillSignal::Default => Signal::SIGINT,
        }
    }

    /// The name a job would write (`SIGTERM`); `None` for the driver's
    /// default.
    pub fn name(self) -> Option<&'static str> {
        match self {
            KillSignal::Named(s) => Some(s.as_str()),
            KillSignal::Default => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_signals() {
        for n in NAMES {
            let sig: Signal = n.parse().unwrap();
            assert_eq!(sig.as_str(), n);
            assert_eq!(parse(n), Some(sig), "{n}");
            assert_eq!(parse(&(sig as i32).to_string()), Some(sig), "{n}");
        }
    }

    #[test]
    fn parses_names_numbers_and_aliases() {
        assert_eq!(parse("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse("sigterm"), Some(Signal::SIGTERM));
        assert_eq!(parse("  TERM \n"), Some(Signal::SIGTERM));
        assert_eq!(parse("hup"), Some(Signal::SIGHUP));
        assert_eq!(parse("sighup"), Some(Signal::SIGHUP));
        assert_eq!(parse("15"), Some(Signal::SIGTERM));
        assert_eq!(parse("9"), Some(Signal::SIGKILL));
        assert_eq!(parse("IOT"), Some(Signal::SIGABRT));
        assert_eq!(parse("SIGIOT"), Some(Signal::SIGABRT));
        assert_eq!(parse("poll"), Some(Signal::SIGIO));
        assert_eq!(parse("SIGCLD"), Some(Signal::SIGCHLD));
        assert_eq!(parse("SIGNOPE"), None);
        assert_eq!(parse("SIGRTMIN+3"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse("32"), None);
        assert_eq!(parse("-15"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("SIG"), None);
    }

    #[test]
    fn names_numbers() {
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(9), "SIGKILL");
        assert_eq!(name(64), "signal 64");
    }

    #[test]
    fn kill_signal() {
        assert_eq!(KillSignal::default(), KillSignal::Default);
        assert_eq!(KillSignal::Default.for_process(), Signal::SIGINT);
        assert_eq!(KillSignal::Default.name(), None);
        assert_eq!(KillSignal::Named(Signal::SIGTERM).for_process(), Signal::SIGTERM);
        assert_eq!(KillSignal::Named(Signal::SIGQUIT).name(), Some("SIGQUIT"));
    }
}
