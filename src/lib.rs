//! supd keeps the programs of one Linux host running: it reads Nomad job
//! files and supervises each task as a child process.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod beneath; // file operations that cannot leave a directory (no link followed, no FIFO opened)
pub mod checks; // tcp, http and script health checks as non-blocking state machines
pub mod config; // embedded defaults: job directory, socket
pub mod control; // the socket protocol shared by supd and supctl; the client side
pub mod drivers; // how tasks run: host processes, containers through the engine API
pub mod handoff; // failed instances to peer hosts: envelope, peer choice, ssh and command hooks
pub mod import; // service definitions (systemd, supervisord, runit) → job files (supctl import)
pub mod jobspec; // HCL job files -> typed jobs; defaults, merge rules, validation
pub mod logging; // supd's own log
pub mod logs; // capture and rotation of task stdout and stderr
pub mod names; // what a job, group or task name may be; the one way paths are built from names
pub mod node; // this host's attributes; constraint evaluation
pub mod notify; // sd_notify for Type=notify services
pub mod policy; // restart, check_restart, reschedule: pure decisions
pub mod process; // spawn, signal, reap: the only place that forks or waits
pub mod signals; // signal names a job may use, parsing and naming them; a task's kill signal
pub mod state; // what survives a restart of supd (atomic JSON)
pub mod supervisor; // the event loop; owns all runtime state
pub mod taskdir; // allocation directories, templates, artifacts
pub mod timefmt; // RFC 3339 times
pub mod variables; // Nomad Variables: paths of items, sealed at rest

/// An error and each of its causes, as one line: `what failed: why: why`.
/// What the binaries print.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}
