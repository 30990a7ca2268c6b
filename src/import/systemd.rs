//! systemd `.service` units → supd jobs.
//!
//! Design. The unit text is read as systemd reads it (systemd.syntax(7)):
//! `[Section]` headers, `Key=Value` lines, `#` and `;` comment lines, a
//! trailing backslash continuing a line (comment lines inside a continued
//! line are skipped). Entries are kept in file order and folded as systemd
//! folds them: list settings (`ExecStart=`, `ExecStartPre=`,
//! `Environment=`, `EnvironmentFile=`) accumulate and an empty assignment
//! resets them; other settings take their last value. A unit's drop-ins
//! therefore apply when their text is appended to the unit's (in systemd's
//! order) before calling [`convert`].
//!
//! Command lines follow systemd.service(5) "COMMAND LINES": words split on
//! whitespace with double and single quotes and C-style backslash escapes,
//! a lone unquoted `;` between commands, the prefixes `-`, `@`, `:`, `+`,
//! `!` and `!!` before the program, then specifiers (`%n`, `%N`, `%p`,
//! `%P`, `%i`, `%I`, `%j`, `%J`, `%f`, `%%`, and the fixed directories of
//! the system manager `%t`, `%S`, `%C`, `%L`, `%E`, `%T`, `%V`) and
//! `$NAME` / `${NAME}` from `Environment=`. What depends on the running
//! manager (`%h`, `%u`, `%H`, …) and variables this unit does not set
//! (from `EnvironmentFile=`, or `$MAINPID`) cannot be known here: they are
//! left as written or left out, and a note says which.
//!
//! The job has one group and one `raw_exec` task running `ExecStart=`;
//! `ExecStartPre=`, `ExecStartPost=` and `ExecStopPost=` become prestart,
//! poststart and poststop tasks (several commands of one kind become one
//! `/bin/sh -c` script that runs them in order and stops at the first
//! failure, as systemd does). Everything else is a setting of the task or
//! group, or a note.

use super::{Converted, ImportError};

mod build;
mod command;
mod error;
mod parse;
mod restart;
mod settings;
mod specifiers;
mod values;
pub use error::ValueError;

use parse::parse_unit;
use specifiers::UnitName;

/// Converts the text of a `.service` unit. `unit_name` is the unit's file
/// name or path (`ssh.service`, `/lib/systemd/system/getty@tty1.service`):
/// its last component names the job and resolves `%n`, `%p`, `%i`.
pub fn convert(unit_name: &str, text: &str) -> Result<Converted, ImportError> {
    let base = unit_name.rsplit('/').next().unwrap_or(unit_name);
    let Some(stem) = base.strip_suffix(".service") else {
        let why = match base.rsplit_once('.') {
            Some((_, kind)) if !kind.is_empty() => format!(" (a .{kind} unit)"),
            _ => " (its name does not end in .service)".to_string(),
        };
        return Err(ImportError::NotAService { file: unit_name.to_string(), why });
    };
    let unit = UnitName::new(base, stem);
    let entries = parse_unit(unit_name, text)?;
    let mut u = Unit::default();
    for e in &entries {
        match e.section.as_str() {
            "Unit" => u.unit_key(e),
            "Service" => u.service_key(e),
            "Install" => {}
            "" => u
                .notes
                .push(format!("line {}: {}={} is outside any section; systemd ignores it", e.line, e.key, e.value)),
            s if s.starts_with("X-") => {}
            s => {
                let note = format!("[{s}] section ignored: supctl import reads [Unit] and [Service]");
                push_once(&mut u.notes, note);
            }
        }
    }
    u.build(unit_name, &unit)
}

// --- the unit's settings ----------------------------------------------------------

/// A raw `Exec*=` value and its line.
#[derive(Debug, Clone)]
struct Raw {
    value: String,
    line: usize,
}

#[derive(Debug, Default)]
struct Unit {
    description: Option<String>,
    documentation: Vec<String>,
    /// `After=network.target`, … as written.
    dependencies: Vec<String>,
    service_type: Option<Raw>,
    exec_start: Vec<Raw>,
    exec_start_pre: Vec<Raw>,
    exec_start_post: Vec<Raw>,
    exec_stop: Vec<Raw>,
    exec_stop_post: Vec<Raw>,
    exec_reload: Vec<Raw>,
    exec_condition: Vec<Raw>,
    restart: Option<Raw>,
    restart_sec: Option<Raw>,
    start_limit_interval: Option<Raw>,
    start_limit_burst: Option<Raw>,
    user: Option<String>,
    group: Option<String>,
    working_directory: Option<String>,
    /// `Environment=` values as written, each with its line.
    environment: Vec<Raw>,
    environment_files: Vec<String>,
    kill_signal: Option<Raw>,
    timeout_stop: Option<Raw>,
    memory_max: Option<Raw>,
    remain_after_exit: bool,
    pid_file: Option<String>,
    notes: Vec<String>,
}

fn push_once(notes: &mut Vec<String>, note: String) {
    if !notes.contains(&note) {
        notes.push(note);
    }
}

#[cfg(test)]
mod tests;
