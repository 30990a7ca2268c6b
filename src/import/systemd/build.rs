//! The job a unit becomes (`Unit::build`): the main task and its command,
//! the hook tasks, the environment, how the task is stopped, and the notes.

use super::command::{Command, command, reload_signal, sh_line, split_words};
use super::specifiers::UnitName;
use super::values::{size_bytes, timespan};
use super::{Raw, Unit, ValueError};
use crate::import::{Converted, ImportError, JobOut, TaskOut, derived_name, duration, name, signal_name};
use std::time::Duration;

/// systemd's default `TimeoutStopSec=` (DefaultTimeoutStopSec).
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// What `TimeoutStopSec=infinity` becomes.
const INFINITE_STOP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Unit {
    /// The commands of the `Exec*=` lines in `raws`, expanded.
    #[allow(clippy::too_many_arguments)]
    fn commands(
        &self,
        file: &str,
        key: &str,
        raws: &[Raw],
        unit: &UnitName,
        env: &[(String, String)],
        unknown: &mut Vec<char>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Command>, ImportError> {
        let mut out = Vec::new();
        for raw in raws {
            let syntax = |e: ValueError| ImportError::Syntax {
                file: file.to_string(),
                line: raw.line,
                message: format!("{key}={}: {e}", raw.value),
            };
            let words = split_words(&raw.value).map_err(syntax)?;
            let mut groups: Vec<Vec<String>> = vec![Vec::new()];
            for (w, bare) in words {
                if bare && w == ";" {
                    groups.push(Vec::new());
                } else if let Some(g) = groups.last_mut() {
                    g.push(w);
                }
            }
            for g in groups.into_iter().filter(|g| !g.is_empty()) {
                let c = command(key, &raw.value, g, unit, env, unknown, notes).map_err(syntax)?;
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The job: the settings read, converted, with a note at each one that has no exact equivalent.
    pub(super) fn build(mut self, file: &str, unit: &UnitName) -> Result<Converted, ImportError> {
        let mut b = Build {
            file,
            unit,
            job: name(&unit.stem.replace('@', "-")),
            unknown: Vec::new(),
            notes: std::mem::take(&mut self.notes),
            env: Vec::new(),
        };
        if unit.instance.as_deref() == Some("") {
            b.notes.push(format!(
                "{} is a template: %i is empty here — import an instance instead ({}NAME.service)",
                unit.full,
                unit.prefix.clone() + "@"
            ));
        }

        // Environment= first: the command lines use it.
        self.read_environment(&mut b)?;

        // The service type.
        let (service_type, batch) = self.type_notes(&mut b.notes);

        // What to run.
        let starts = self.start_commands(&mut b, &service_type, batch)?;
        let mut main = self.main_task(&mut b);
        main_command(&mut main, &starts, &mut b.notes);

        // ExecStop, ExecReload, ExecCondition: notes.
        self.unrun_exec_notes(&mut b, main.kill_signal.as_deref().unwrap_or("SIGTERM"));

        // Hook tasks.
        let mut tasks = self.hook_tasks(&main, &mut b)?;

        // Restart.
        let (restart, restart_notes) = self.restart_policy(batch);

        // After=, Wants=, …
        let job_notes = self.dependency_notes();
        if !b.unknown.is_empty() {
            let list: Vec<String> = b.unknown.iter().map(|c| format!("%{c}")).collect();
            b.notes.push(format!(
                "the specifiers {} depend on the running systemd and were left as written — replace them",
                list.join(" ")
            ));
        }
        main.notes = b.notes;
        tasks.push(main);

        Ok(JobOut {
            source: file.to_string(),
            comments: self.comments(unit),
            name: b.job,
            batch,
            count: None,
            restart: Some(restart),
            restart_notes,
            notes: job_notes,
            tasks,
        }
        .finish())
    }

    /// The job's notes: `After=`, `Wants=` and the other dependencies have
    /// no equivalent.
    fn dependency_notes(&self) -> Vec<String> {
        let mut job_notes = Vec::new();
        if !self.dependencies.is_empty() {
            job_notes.push(format!(
                "{}: no equivalent — supd has no ordering or dependencies between jobs and starts them all at once; a prestart task that waits for what this service needs can stand in",
                self.dependencies.join(", ")
            ));
        }
        job_notes
    }

    /// The job's comments: `Description=` (its specifiers resolved) and
    /// `Documentation=`.
    fn comments(&self, unit: &UnitName) -> Vec<String> {
        let mut comments = Vec::new();
        if let Some(d) = &self.description {
            comments.push(format!("Description: {}", unit.expand(d, &mut Vec::new())));
        }
        for d in &self.documentation {
            comments.push(format!("Documentation: {d}"));
        }
        comments
    }

    /// `Environment=` as `NAME=VALUE` pairs into `b.env` (a later value of
    /// a name wins), and a note for each `EnvironmentFile=`.
    fn read_environment(&self, b: &mut Build<'_>) -> Result<(), ImportError> {
        for raw in &self.environment {
            let words = split_words(&raw.value).map_err(|m| ImportError::Syntax {
                file: b.file.to_string(),
                line: raw.line,
                message: format!("Environment={}: {m}", raw.value),
            })?;
            for (w, _) in words {
                let w = b.unit.expand(&w, &mut b.unknown);
                match w.split_once('=') {
                    Some((k, v)) if !k.is_empty() => match b.env.iter_mut().find(|(n, _)| n == k) {
                        Some(slot) => slot.1 = v.to_string(),
                        None => b.env.push((k.to_string(), v.to_string())),
                    },
                    _ => b.notes.push(format!(
                        "line {}: Environment= word {w:?} is not NAME=VALUE; systemd ignores it",
                        raw.line
                    )),
                }
            }
        }
        for f in &self.environment_files {
            let path = f.strip_prefix('-').unwrap_or(f);
            b.notes.push(format!(
                "EnvironmentFile={f}: supd reads no environment files — copy the variables of {path} into the env block, or into a template {{ data = \"…\", destination = \"local/env\", env = true }}"
            ));
        }
        Ok(())
    }

    /// `Type=` (`simple` when unset) and whether it makes a batch job, with
    /// notes on what supd does not wait for, and on `RemainAfterExit=`.
    fn type_notes(&self, notes: &mut Vec<String>) -> (String, bool) {
        let service_type = self.service_type.as_ref().map_or("simple", |r| r.value.as_str()).to_string();
        let batch = service_type == "oneshot";
        match service_type.as_str() {
            "simple" | "exec" | "idle" | "oneshot" => {}
            "notify" | "notify-reload" => notes.push(format!(
                "Type={service_type}: supd does not wait for the program's READY=1 (NOTIFY_SOCKET is not set for tasks); the task counts as running once started"
            )),
            "forking" => {
                let pid = self.pid_file.as_ref().map(|p| format!(" (PIDFile={p})")).unwrap_or_default();
                notes.push(format!(
                    "Type=forking{pid}: supd supervises the process it starts, so the program must stay in the foreground — add the daemon's own option for that (see its manual: often -f, --foreground, -D or --nodaemon), or the task will seem to exit at once"
                ));
            }
            "dbus" => notes.push(
                "Type=dbus: supd does not wait for the bus name; the task counts as running once started".to_string(),
            ),
            other => notes.push(format!("Type={other}: unknown type, read as Type=simple")),
        }
        if self.remain_after_exit {
            notes.push(
                "RemainAfterExit=yes: no equivalent — a batch job that ended shows as dead (complete) in `supctl status`"
                    .to_string(),
            );
        }
        (service_type, batch)
    }

    /// The `ExecStart=` commands: at least one, and more only with
    /// `Type=oneshot`.
    fn start_commands(&self, b: &mut Build<'_>, service_type: &str, batch: bool) -> Result<Vec<Command>, ImportError> {
        let file = b.file;
        let starts =
            self.commands(file, "ExecStart", &self.exec_start, b.unit, &b.env, &mut b.unknown, &mut b.notes)?;
        if starts.is_empty() {
            return Err(ImportError::NoCommand {
                file: file.to_string(),
                what: "no ExecStart=".to_string(),
                hint: " (a unit whose ExecStart= is in a drop-in: append the drop-in's text to the unit's)".to_string(),
            });
        }
        if starts.len() > 1 && !batch {
            let line = self.exec_start.last().map_or(0, |r| r.line);
            return Err(ImportError::Syntax {
                file: file.to_string(),
                line,
                message: format!(
                    "more than one ExecStart= command, which systemd allows only with Type=oneshot (this is Type={service_type})"
                ),
            });
        }
        Ok(starts)
    }

    /// The main task, without its command yet: `User=`, `Group=`,
    /// `WorkingDirectory=`, the environment, and how it is stopped.
    fn main_task(&self, b: &mut Build<'_>) -> TaskOut {
        let unit = b.unit;
        let mut main = TaskOut { name: b.job.clone(), ..TaskOut::default() };
        if let Some(user) = &self.user {
            main.user = Some(unit.expand(user, &mut b.unknown));
            b.notes.push("User=: supd runs the task as this user only when supd itself runs as root".to_string());
        }
        if let Some(g) = &self.group {
            b.notes.push(format!(
                "Group={g}: no equivalent — supd runs the task with its user's primary group and supplementary groups"
            ));
        }
        if let Some(dir) = &self.working_directory {
            let (dir, optional) = match dir.strip_prefix('-') {
                Some(d) => (d, true),
                None => (dir.as_str(), false),
            };
            if dir == "~" {
                b.notes.push(
                    "WorkingDirectory=~: the task starts in its own directory; set config { work_dir } to the user's home"
                        .to_string(),
                );
            } else {
                let dir = unit.expand(dir, &mut b.unknown);
                if optional {
                    b.notes.push(format!(
                        "WorkingDirectory=-{dir}: systemd ignores a missing directory; supd fails the start"
                    ));
                }
                main.work_dir = Some(dir);
            }
        }
        main.env = b.env.clone();
        main.kill_signal = Some(self.stop_signal(b));
        main.kill_timeout = Some(self.stop_timeout(&mut b.notes));
        self.memory_limit(&mut main, &mut b.notes);
        main
    }

    /// `KillSignal=`; SIGTERM when unset or not a signal supd knows (with a
    /// note).
    fn stop_signal(&self, b: &mut Build<'_>) -> String {
        match &self.kill_signal {
            None => "SIGTERM".to_string(),
            Some(r) => match signal_name(&b.unit.expand(&r.value, &mut b.unknown)) {
                Some(s) => s,
                None => {
                    b.notes.push(format!("KillSignal={}: a signal supd does not know; SIGTERM instead", r.value));
                    "SIGTERM".to_string()
                }
            },
        }
    }

    /// `TimeoutStopSec=` as the kill timeout: systemd's default when unset,
    /// a day for no timeout (with a note).
    fn stop_timeout(&self, notes: &mut Vec<String>) -> Duration {
        match &self.timeout_stop {
            None => DEFAULT_STOP_TIMEOUT,
            Some(r) => match r.value.as_str() {
                "infinity" => {
                    notes.push(format!(
                        "TimeoutStopSec=infinity: systemd never sends SIGKILL; kill_timeout = \"{}\" instead",
                        duration(INFINITE_STOP_TIMEOUT)
                    ));
                    INFINITE_STOP_TIMEOUT
                }
                v => match timespan(v) {
                    Some(d) if d.is_zero() => {
                        notes.push(format!(
                            "TimeoutStopSec=0 (no timeout): kill_timeout = \"{}\" instead",
                            duration(INFINITE_STOP_TIMEOUT)
                        ));
                        INFINITE_STOP_TIMEOUT
                    }
                    Some(d) => d,
                    None => {
                        notes.push(format!(
                            "line {}: TimeoutStopSec={v} is not a time span; systemd's default 90s instead",
                            r.line
                        ));
                        DEFAULT_STOP_TIMEOUT
                    }
                },
            },
        }
    }

    /// `MemoryMax=` as the main task's memory, in MiB.
    fn memory_limit(&self, main: &mut TaskOut, notes: &mut Vec<String>) {
        if let Some(r) = &self.memory_max {
            match r.value.as_str() {
                "infinity" => {}
                v if v.ends_with('%') => notes.push(format!(
                    "MemoryMax={v}: a share of the host's memory has no equivalent — set resources {{ memory = MB }}"
                )),
                v => match size_bytes(v) {
                    Some(bytes) => {
                        let mb = bytes.div_ceil(1 << 20);
                        let memory = mb.max(10);
                        main.memory_mb = Some(memory);
                        notes.push(format!(
                            "MemoryMax={v}: resources {{ memory = {memory} }} (MiB; at least 10) — the task now reserves it on this host and gets resources' default cpu = 100"
                        ));
                    }
                    None => notes.push(format!("line {}: MemoryMax={v} is not a size; ignored", r.line)),
                },
            }
        }
    }

    /// `ExecStop=`, `ExecReload=` and `ExecCondition=`: not run, each with
    /// a note on what supd does instead.
    fn unrun_exec_notes(&self, b: &mut Build<'_>, kill_signal: &str) {
        for r in &self.exec_stop {
            b.notes.push(format!(
                "ExecStop={}: not run — supd stops the task with kill_signal ({}), then SIGKILL after kill_timeout",
                r.value, kill_signal
            ));
        }
        for r in &self.exec_reload {
            let words: Vec<String> = split_words(&r.value).unwrap_or_default().into_iter().map(|(w, _)| w).collect();
            let job = &b.job;
            let hint = reload_signal(&words)
                .map(|sig| format!(" — reload with `supctl signal {job} {sig}`"))
                .unwrap_or_else(|| " — run it by hand to reload".to_string());
            b.notes.push(format!("ExecReload={}: supd has no reload command{hint}", r.value));
        }
        for r in &self.exec_condition {
            b.notes.push(format!("ExecCondition={}: no equivalent — supd always starts the task", r.value));
        }
    }

    /// The prestart, poststart and poststop tasks of `ExecStartPre=`,
    /// `ExecStartPost=` and `ExecStopPost=`, set up as the main task is.
    fn hook_tasks(&self, main: &TaskOut, b: &mut Build<'_>) -> Result<Vec<TaskOut>, ImportError> {
        let mut tasks = Vec::new();
        for (key, hook, suffix, raws, when) in [
            (
                "ExecStartPre",
                "prestart",
                "-prestart",
                &self.exec_start_pre,
                "systemd runs it before every start; supd runs a prestart task once when the instance starts, not before each restart, and starts the main task only once it succeeded",
            ),
            (
                "ExecStartPost",
                "poststart",
                "-poststart",
                &self.exec_start_post,
                "systemd runs it after every start; supd runs a poststart task once the main task runs, not after each restart",
            ),
            (
                "ExecStopPost",
                "poststop",
                "-poststop",
                &self.exec_stop_post,
                "systemd runs it after every stop; supd runs a poststop task once, when the instance stops for good",
            ),
        ] {
            let cmds = self.commands(b.file, key, raws, b.unit, &b.env, &mut b.unknown, &mut b.notes)?;
            if cmds.is_empty() {
                continue;
            }
            let mut t = TaskOut {
                name: derived_name(&b.job, suffix),
                hook: Some(hook),
                user: main.user.clone(),
                work_dir: main.work_dir.clone(),
                env: main.env.clone(),
                kill_signal: main.kill_signal.clone(),
                kill_timeout: main.kill_timeout,
                ..TaskOut::default()
            };
            let written: Vec<String> = cmds.iter().map(|c| format!("{key}={}", c.raw)).collect();
            t.notes.push(format!("{}: {when}", written.join(", ")));
            hook_command(&mut t, &cmds);
            tasks.push(t);
        }
        Ok(tasks)
    }
}

/// What `Unit::build` gathers while it reads the settings: the job's name,
/// the environment the command lines use, the main task's notes and the
/// specifiers it could not resolve.
struct Build<'a> {
    file: &'a str,
    unit: &'a UnitName,
    job: String,
    unknown: Vec<char>,
    notes: Vec<String>,
    env: Vec<(String, String)>,
}

/// The main task's command from the `ExecStart=` commands (several run
/// through `/bin/sh -c`), with notes on what differs from systemd.
fn main_command(main: &mut TaskOut, starts: &[Command], notes: &mut Vec<String>) {
    let first = &starts[0];
    main.command = first.program.clone();
    main.args = first.args.clone();
    if first.ignore_failure {
        notes.push("ExecStart=-…: systemd counts a failure exit as success; supd counts it as a failure".to_string());
    }
    if first.unprivileged_off && main.user.is_some() {
        notes.push(
            "ExecStart=+… or !…: systemd runs it without User=; supd runs the task as `user` — remove `user` if it must run as root"
                .to_string(),
        );
    }
    if !first.program.contains('/') {
        notes.push(format!(
            "{}: not an absolute path — supd looks it up in the task's PATH (supd's own); write the full path to be sure",
            first.program
        ));
    }
    if starts.len() > 1 {
        let rest: Vec<String> = starts[1..].iter().map(|c| c.raw.clone()).collect();
        let mut script = vec!["set -e".to_string()];
        script.extend(starts.iter().map(sh_line));
        main.command = "/bin/sh".to_string();
        main.args = vec!["-c".to_string(), script.join("\n")];
        notes.push(format!(
            "ExecStart= runs {} commands one after another (Type=oneshot): here one /bin/sh -c script runs them in order and stops at the first failure (the first, then {})",
            starts.len(),
            rest.join("; ")
        ));
    }
}

/// A hook task's command from its commands: one as it is, several (or one
/// written with `-`) as a `/bin/sh -c` script; and whether `User=` applies.
fn hook_command(t: &mut TaskOut, cmds: &[Command]) {
    if cmds.len() == 1 && !cmds[0].ignore_failure {
        t.command = cmds[0].program.clone();
        t.args = cmds[0].args.clone();
    } else {
        let mut script: Vec<String> = Vec::new();
        if cmds.len() > 1 {
            script.push("set -e".to_string());
        }
        script.extend(cmds.iter().map(sh_line));
        t.command = "/bin/sh".to_string();
        t.args = vec!["-c".to_string(), script.join("\n")];
        t.notes.push(
            "run through /bin/sh: the commands in order, stopping at the first failure, except those written with `-` (`|| true`)"
                .to_string(),
        );
    }
    if cmds.iter().all(|c| c.unprivileged_off) && t.user.is_some() {
        t.user = None;
        t.notes.push("written with + or !: runs as supd's own user, without User=".to_string());
    } else if cmds.iter().any(|c| c.unprivileged_off) {
        t.notes
            .push("some commands are written with + or ! (without User=): all of them run as `user` here".to_string());
    }
}
