//! Task output inside the loop: the capture pipes of each task, opened at
//! its first start and kept across its restarts, read when readable, and
//! streamed to `supctl logs --follow` clients.

use super::task::{JobRun, TaskLog};
use super::watches::Watched;
use super::{Supervisor, TaskKey};
use crate::jobspec::model::TaskOutput;
use crate::logs::route::{Forward, Label};
use crate::logs::{self, Capture, Problem, Stream};
use crate::process::Io;
use crate::supervisor::task::EventKind;
use mio::Interest;
use mio::unix::SourceFd;
use std::os::fd::AsRawFd;

/// Which task's output a follower wants: job, group, index, task, stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPath {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    pub stream: Stream,
}

/// The names under which a task's capture pipes are kept in systemd's
/// descriptor store (its instance's ID and its place in its group): one
/// per descriptor (stdout's read and write ends, stderr's), as systemd
/// does not keep the order of descriptors stored under one name.
pub(super) fn store_names(alloc_id: &str, task: usize) -> [String; 4] {
    ["out-r", "out-w", "err-r", "err-w"].map(|end| format!("log-{alloc_id}-{task}-{end}"))
}

impl Supervisor {
    /// Opens a task's capture pipes on first use. When they cannot be
    /// opened (no room, no rights), the task still runs, writing to supd's
    /// own stderr, and says so.
    pub(super) fn ensure_task_log(&mut self, key: TaskKey) {
        if self.jobs.task(key).is_some_and(|t| t.log.is_none()) {
            match self.open_log(key) {
                Ok(log) => {
                    if let Some(t) = self.jobs.task_mut(key) {
                        t.log = Some(log);
                    }
                }
                Err(e) => {
                    let message = format!(
                        "cannot capture output in {}: {e}; it goes to supd's stderr",
                        self.cfg.log_dir.display()
                    );
                    log::warn!("{}: {message}", self.label(key));
                    if let Some(t) = self.jobs.task_mut(key) {
                        t.push_event(EventKind::TaskSetup, message);
                    }
                }
            }
        }
    }

    /// The stdout and stderr to give a task's process: its capture pipes,
    /// or supd's own when they could not be opened.
    pub(super) fn task_io(&self, key: TaskKey) -> (Io<'_>, Io<'_>) {
        match self.jobs.task(key).and_then(|t| t.log.as_ref()) {
            Some(l) => (Io::Fd(l.out.write_fd()), Io::Fd(l.err.write_fd())),
            None => (Io::Inherit, Io::Inherit),
        }
    }

    fn open_log(&mut self, key: TaskKey) -> std::io::Result<TaskLog> {
        self.open_log_with(key, None)
    }

    /// A task's capture on the pipes an earlier image of supd held for it
    /// (stdout read and write ends, stderr read and write ends).
    pub(super) fn adopt_log(&mut self, key: TaskKey, pipes: [std::os::fd::OwnedFd; 4]) -> std::io::Result<TaskLog> {
        self.open_log_with(key, Some(pipes))
    }

    fn open_log_with(&mut self, key: TaskKey, pipes: Option<[std::os::fd::OwnedFd; 4]>) -> std::io::Result<TaskLog> {
        let fresh = pipes.is_none();
        let (dir, name, limits, output, forward_out, forward_err, stored) = {
            let run = self.jobs.runs.get(&key.run).ok_or_else(|| std::io::Error::other("job is gone"))?;
            let inst = run.instances.get(key.inst).ok_or_else(|| std::io::Error::other("instance is gone"))?;
            let t = inst.tasks.get(key.task).ok_or_else(|| std::io::Error::other("task is gone"))?;
            let group = &run.job.groups[inst.group].name;
            let output = self.task_output(&t.spec);
            let label = Label { job: &run.job.id, group, index: inst.index, task: &t.spec.name };
            (
                logs::instance_dir(&self.cfg.log_dir, &run.job.id, group, inst.index)?,
                t.spec.name.clone(),
                t.spec.logs,
                output,
                Forward::new(output, Stream::Stdout, &label).map(Box::new),
                Forward::new(output, Stream::Stderr, &label).map(Box::new),
                store_names(&inst.id, key.task),
            )
        };
        let (out_base, err_base) =
            (format!("{name}.{}", Stream::Stdout.as_str()), format!("{name}.{}", Stream::Stderr.as_str()));
        // One copy of the directory's path for both streams.
        let dir: std::sync::Arc<std::path::Path> = std::sync::Arc::from(dir);
        let (mut out, mut err) = match pipes {
            Some([r1, w1, r2, w2]) => (
                Capture::adopt(dir.clone(), &out_base, limits.max_files, limits.max_file_size, r1, w1)?,
                Capture::adopt(dir, &err_base, limits.max_files, limits.max_file_size, r2, w2)?,
            ),
            None => (
                Capture::open(dir.clone(), &out_base, limits.max_files, limits.max_file_size)?,
                Capture::open(dir, &err_base, limits.max_files, limits.max_file_size)?,
            ),
        };
        out.keep_files(output.files);
        err.keep_files(output.files);
        out.group_files(self.cfg.log_group);
        err.group_files(self.cfg.log_group);
        let (out_token, err_token) = (self.io.watches.token(), self.io.watches.token());
        let registry = self.io.poll.registry();
        registry.register(&mut SourceFd(&out.raw_fd()), out_token, Interest::READABLE)?;
        if let Err(e) = registry.register(&mut SourceFd(&err.raw_fd()), err_token, Interest::READABLE) {
            let _ = registry.deregister(&mut SourceFd(&out.raw_fd()));
            return Err(e);
        }
        self.io.watches.watch(out_token, Watched::Log { task: key, stream: Stream::Stdout });
        self.io.watches.watch(err_token, Watched::Log { task: key, stream: Stream::Stderr });
        // Under systemd, the pipes are also kept in the service's
        // descriptor store: should supd be killed or crash, the next one
        // takes them back, and the task's output goes on without loss.
        if fresh && self.reports.notify.enabled() {
            let (r1, w1) = out.fds();
            let (r2, w2) = err.fds();
            for (name, fd) in stored.iter().zip([r1, w1, r2, w2]) {
                // A stale copy (a previous supd's, not taken back) goes first.
                if self.reports.store.unclaimed.stored.remove(name).is_some() {
                    self.reports.notify.remove_fds(name);
                }
                self.reports.notify.store_fds(name, &[fd.as_raw_fd()]);
            }
        }
        Ok(TaskLog { out, err, out_token, err_token, output, forward_out, forward_err })
    }

    /// Where a task's output goes: its meta's choice, else supd's.
    fn task_output(&self, spec: &crate::jobspec::model::Task) -> TaskOutput {
        TaskOutput::of_meta(&spec.meta).unwrap_or(self.cfg.task_output)
    }

    /// When a task's output is not in files: where it is instead, for
    /// `supctl logs`.
    pub(super) fn output_elsewhere(&self, path: &LogPath) -> Option<String> {
        let run = self.jobs.runs.get(self.jobs.current.get(&path.job)?)?;
        let inst = run
            .instances
            .iter()
            .find(|i| !i.removed && run.job.groups[i.group].name == path.group && i.index == path.index)?;
        let t = inst.tasks.iter().find(|t| t.spec.name == path.task)?;
        let output = t.log.as_ref().map_or_else(|| self.task_output(&t.spec), |l| l.output);
        if output.files {
            return None;
        }
        let label = format!("{}.{}[{}]/{}", path.job, path.group, path.index, path.task);
        let mut places = Vec::new();
        if output.journal {
            places.push(format!(
                "to the journal: journalctl SUPD_JOB={} SUPD_GROUP={} SUPD_ALLOC_INDEX={} SUPD_TASK={}",
                path.job, path.group, path.index, path.task
            ));
        }
        if output.stdout {
            places.push(format!(
                "to supd's own stdout and stderr, each line prefixed \"{label} | \" (docker logs, kubectl logs, or wherever supd's output goes)"
            ));
        }
        Some(format!(
            "{label} writes its output {} (task_output = \"{}\"), not to files: there is nothing for supctl logs to show",
            places.join(" and "),
            output.name()
        ))
    }

    /// Reads whatever a task's streams hold; before its end is recorded, so
    /// that its last words are on disk first.
    pub(super) fn drain_logs(&mut self, key: TaskKey) {
        self.drain_log(key, Stream::Stdout);
        self.drain_log(key, Stream::Stderr);
        // Its last line, even without a line end, goes now.
        if let Some(log) = self.jobs.task_mut(key).and_then(|t| t.log.as_mut()) {
            for f in [log.forward_out.as_deref_mut(), log.forward_err.as_deref_mut()].into_iter().flatten() {
                f.finish(&mut self.reports.output.journald);
            }
        }
    }

    /// Reads a stream chunk by chunk, storing and forwarding each. The
    /// pipes are edge-triggered, so a stream is read until empty; a task
    /// that writes faster than that gets a turn of 1 MiB, and the rest is
    /// read on the next turn of the loop, after other work.
    pub(super) fn drain_log(&mut self, key: TaskKey, which: Stream) {
        let mut total = 0;
        loop {
            let Some(t) = self.jobs.task_mut(key) else { return };
            let Some(log) = t.log.as_mut() else { return };
            let (stream, forward) = match which {
                Stream::Stdout => (&mut log.out, log.forward_out.as_deref_mut()),
                Stream::Stderr => (&mut log.err, log.forward_err.as_deref_mut()),
            };
            let chunk = stream.drain();
            if let Some(f) = forward {
                f.push(&chunk, &mut self.reports.output.journald);
            }
            let more = chunk.len() >= Capture::budget();
            total += chunk.len();
            if !chunk.is_empty() {
                self.send_log_data(key, which, &chunk);
            }
            if !more {
                break;
            }
            if total >= 1 << 20 {
                self.io.timers.arm(std::time::Instant::now(), super::Timer::Drain { task: key, stream: which });
                break;
            }
        }
        let now = std::time::Instant::now();
        let Some(t) = self.jobs.task_mut(key) else { return };
        let Some(log) = t.log.as_mut() else { return };
        let (stream, forward) = match which {
            Stream::Stdout => (&mut log.out, log.forward_out.as_deref_mut()),
            Stream::Stderr => (&mut log.err, log.forward_err.as_deref_mut()),
        };
        let mut problems: Vec<Problem> = stream.problem(now).into_iter().collect();
        if let Some(f) = forward {
            problems.extend(f.journal_trouble.problem(now));
            problems.extend(f.stdout_trouble.problem(now));
        }
        for problem in problems {
            self.report_log_problem(key, problem, now);
        }
    }

    /// Says in supd's log (held back when many) and in the task's events
    /// that its output is dropped, or written again.
    fn report_log_problem(&mut self, key: TaskKey, problem: Problem, now: std::time::Instant) {
        let label = self.label(key);
        let message = match problem {
            Problem::Failing { error, failures, dropped } => {
                let repeated = if failures > 1 {
                    format!("; {failures} failed writes since the last report")
                } else {
                    String::new()
                };
                self.reports
                    .output
                    .warnings
                    .warn(&format!("{label}: {error} ({dropped} bytes of output dropped so far{repeated})"), now);
                format!("Logs: {error}; output is dropped and counted ({dropped} bytes so far{repeated})")
            }
            Problem::Recovered { failures, dropped } => {
                log::info!("{label}: output is written again ({dropped} bytes were dropped)");
                format!(
                    "Logs: output is written again after {failures} more failed writes ({dropped} bytes dropped in all)"
                )
            }
        };
        if let Some(t) = self.jobs.task_mut(key) {
            t.push_event(EventKind::TaskHookMessage, message);
        }
    }

    fn log_path(&self, key: TaskKey, stream: Stream) -> Option<LogPath> {
        let run = self.jobs.runs.get(&key.run)?;
        let inst = run.instances.get(key.inst)?;
        Some(LogPath {
            job: run.job.id.clone(),
            group: run.job.groups[inst.group].name.clone(),
            index: inst.index,
            task: inst.tasks.get(key.task)?.spec.name.clone(),
            stream,
        })
    }

    fn send_log_data(&mut self, key: TaskKey, stream: Stream, data: &[u8]) {
        if !self.server.has_log_followers() {
            return;
        }
        let Some(path) = self.log_path(key, stream) else { return };
        let time = crate::timefmt::rfc3339(std::time::SystemTime::now());
        for token in self.server.log_followers_of(&path) {
            self.server.send_data(self.io.poll.registry(), token, data, stream, Some(time.clone()));
        }
    }

    /// Closes the capture pipes of a job version that is forgotten.
    pub(super) fn close_logs(&mut self, run: &mut JobRun) {
        for inst in &mut run.instances {
            for (ti, t) in inst.tasks.iter_mut().enumerate() {
                if let Some(log) = t.log.take() {
                    if self.reports.notify.enabled() {
                        for name in store_names(&inst.id, ti) {
                            self.reports.notify.remove_fds(&name);
                        }
                    }
                    let registry = self.io.poll.registry();
                    let _ = registry.deregister(&mut SourceFd(&log.out.raw_fd()));
                    let _ = registry.deregister(&mut SourceFd(&log.err.raw_fd()));
                    self.io.watches.forget(log.out_token);
                    self.io.watches.forget(log.err_token);
                }
            }
        }
    }

    /// The last `lines` lines of a task's stream, from its files, each with
    /// when supd read it (Unix ms; `None` where no time was kept).
    pub(super) fn log_tail_timed(&self, path: &LogPath, lines: usize) -> Vec<(Option<u64>, Vec<u8>)> {
        let Ok(dir) = logs::instance_dir(&self.cfg.log_dir, &path.job, &path.group, path.index) else {
            return Vec::new();
        };
        let base = format!("{}.{}", path.task, path.stream.as_str());
        logs::tail_timed(&dir, &base, lines)
    }
}

/// Log-write warnings in supd's own log: at most one per
/// [`WARN_EVERY`] over all tasks (a full disk fails every task's writes
/// at once), the next one saying how many were held back.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Where task output goes beyond its own files, and supd's warnings
/// about output that cannot go where it should.
pub(super) struct Sinks {
    /// The journal's socket, for tasks whose output goes there.
    pub(super) journald: crate::logs::journal::Journal,
    /// supd's own warnings about failing task output, held back when many.
    pub(super) warnings: WarnThrottle,
}

/// Holds back log-write warnings beyond one per [`WARN_EVERY`].
#[derive(Debug, Default)]
pub(super) struct WarnThrottle {
    last: Option<std::time::Instant>,
    held: u64,
}

impl WarnThrottle {
    /// Logs `line` unless one went out less than [`WARN_EVERY`] before
    /// `now`; the next one logged says how many were held back.
    fn warn(&mut self, line: &str, now: std::time::Instant) {
        if self.last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
            self.held += 1;
            return;
        }
        let held = std::mem::take(&mut self.held);
        self.last = Some(now);
        if held > 0 {
            log::warn!("{line} (and {held} more such warnings in the last {}s)", WARN_EVERY.as_secs());
        } else {
            log::warn!("{line}");
        }
    }
}
