//! Where supd keeps things when nothing says otherwise: the embedded
//! defaults of DESIGN §4, shared by supd and supctl so that both find the
//! same socket.

use std::path::PathBuf;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("supd"),
        _ => PathBuf::from(format!("/tmp/supd-{}", nix::unistd::geteuid())),
    }
}

/// `/etc/supd/jobs` as root, else `$XDG_CONFIG_HOME/supd/jobs`.
pub fn default_job_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/etc/supd/jobs");
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/supd-{}", nix::unistd::geteuid())));
    base.join("supd").join("jobs")
}

/// `/var/log/supd` as root, else `$XDG_STATE_HOME/supd/logs`
/// (`~/.local/state/supd/logs`).
pub fn default_log_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/log/supd");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/supd-{}", nix::unistd::geteuid())));
    base.join("supd").join("logs")
}

/// `/run/supd/supd.sock` as root, else `$XDG_RUNTIME_DIR/supd/supd.sock`
/// (or `/tmp/supd-$UID/supd.sock`).
pub fn default_socket() -> PathBuf {
    if is_root() { PathBuf::from("/run/supd/supd.sock") } else { runtime_dir().join("supd.sock") }
}
