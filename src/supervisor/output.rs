//! Task output inside the loop: the capture pipes of each task, opened at
//! its first start and kept across its restarts, read when readable, and
//! streamed to `supctl logs --follow` clients.

use super::task::JobRun;
use super::{Supervisor, TaskKey};
use crate::logs::{self, Stream};
use crate::process::Io;
use mio::unix::SourceFd;
use mio::{Interest, Token};

/// A task's two captured streams.
pub struct TaskLog {
    pub out: Stream,
    pub err: Stream,
    pub out_token: Token,
    pub err_token: Token,
}

impl std::fmt::Debug for TaskLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskLog({})", self.out.current_path().display())
    }
}

/// Which task's output a follower wants: job, group, index, task, stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPath {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    pub stderr: bool,
}

impl Supervisor {
    /// Opens a task's capture pipes on first use. When they cannot be
    /// opened (no room, no rights), the task still runs, writing to supd's
    /// own stderr, and says so.
    pub(super) fn ensure_task_log(&mut self, key: TaskKey) {
        if self.task(key).is_some_and(|t| t.log.is_none()) {
            match self.open_log(key) {
                Ok(log) => {
                    if let Some(t) = self.task_mut(key) {
                        t.log = Some(log);
                    }
                }
                Err(e) => {
                    let message = format!(
                        "cannot capture output in {}: {e}; it goes to supd's stderr",
                        self.cfg.log_dir.display()
                    );
                    log::warn!("{}: {message}", self.label(key));
                    if let Some(t) = self.task_mut(key) {
                        t.push_event("Task Setup", message);
                    }
                }
            }
        }
    }

    /// The stdout and stderr to give a task's process: its capture pipes,
    /// or supd's own when they could not be opened.
    pub(super) fn task_io(&self, key: TaskKey) -> (Io<'_>, Io<'_>) {
        match self.task(key).and_then(|t| t.log.as_ref()) {
            Some(l) => (Io::Fd(l.out.write_fd()), Io::Fd(l.err.write_fd())),
            None => (Io::Inherit, Io::Inherit),
        }
    }

    fn open_log(&mut self, key: TaskKey) -> std::io::Result<TaskLog> {
        let (dir, name, limits) = {
            let run = self.runs.get(&key.run).ok_or_else(|| std::io::Error::other("job is gone"))?;
            let inst = run.instances.get(key.inst).ok_or_else(|| std::io::Error::other("instance is gone"))?;
            let t = inst.tasks.get(key.task).ok_or_else(|| std::io::Error::other("task is gone"))?;
            let group = &run.job.groups[inst.group].name;
            (logs::instance_dir(&self.cfg.log_dir, &run.job.id, group, inst.index), t.spec.name.clone(), t.spec.logs)
        };
        let out = Stream::open(&dir, &format!("{name}.stdout"), limits.max_files, limits.max_file_size)?;
        let err = Stream::open(&dir, &format!("{name}.stderr"), limits.max_files, limits.max_file_size)?;
        let out_token = Token(self.next_token);
        let err_token = Token(self.next_token + 1);
        self.next_token += 2;
        let registry = self.poll.registry();
        registry.register(&mut SourceFd(&out.raw_fd()), out_token, Interest::READABLE)?;
        if let Err(e) = registry.register(&mut SourceFd(&err.raw_fd()), err_token, Interest::READABLE) {
            let _ = registry.deregister(&mut SourceFd(&out.raw_fd()));
            return Err(e);
        }
        self.log_tokens.insert(out_token, (key, false));
        self.log_tokens.insert(err_token, (key, true));
        Ok(TaskLog { out, err, out_token, err_token })
    }

    /// Reads a readable capture pipe.
    pub(super) fn on_log(&mut self, token: Token) {
        let Some(&(key, stderr)) = self.log_tokens.get(&token) else { return };
        self.drain_log(key, stderr);
    }

    /// Reads whatever a task's streams hold; before its end is recorded, so
    /// that its last words are on disk first.
    pub(super) fn drain_logs(&mut self, key: TaskKey) {
        self.drain_log(key, false);
        self.drain_log(key, true);
    }

    /// Reads a stream chunk by chunk, storing and forwarding each. The
    /// pipes are edge-triggered, so a stream is read until empty; a task
    /// that writes faster than that gets a turn of 1 MiB, and the rest is
    /// read on the next turn of the loop, after other work.
    pub(super) fn drain_log(&mut self, key: TaskKey, stderr: bool) {
        let mut total = 0;
        loop {
            let Some(t) = self.task_mut(key) else { return };
            let Some(log) = t.log.as_mut() else { return };
            let stream = if stderr { &mut log.err } else { &mut log.out };
            let chunk = stream.drain();
            let more = chunk.len() >= Stream::budget();
            total += chunk.len();
            if !chunk.is_empty() {
                self.send_log_data(key, stderr, &chunk);
            }
            if !more {
                break;
            }
            if total >= 1 << 20 {
                self.arm(std::time::Instant::now(), super::Timer::Drain(key, stderr));
                break;
            }
        }
        let Some(t) = self.task_mut(key) else { return };
        let Some(log) = t.log.as_mut() else { return };
        let stream = if stderr { &mut log.err } else { &mut log.out };
        let problem = stream.error.take().map(|e| (e, stream.dropped));
        if let Some((e, dropped)) = problem {
            log::warn!("{}: {e} ({dropped} bytes of output dropped so far)", self.label(key));
            if let Some(t) = self.task_mut(key) {
                t.push_event(
                    "Task hook message",
                    format!("Logs: {e}; output is dropped and counted ({dropped} bytes so far)"),
                );
            }
        }
    }

    fn log_path(&self, key: TaskKey, stderr: bool) -> Option<LogPath> {
        let run = self.runs.get(&key.run)?;
        let inst = run.instances.get(key.inst)?;
        Some(LogPath {
            job: run.job.id.clone(),
            group: run.job.groups[inst.group].name.clone(),
            index: inst.index,
            task: inst.tasks.get(key.task)?.spec.name.clone(),
            stderr,
        })
    }

    fn send_log_data(&mut self, key: TaskKey, stderr: bool, data: &[u8]) {
        if self.log_followers.is_empty() {
            return;
        }
        let Some(path) = self.log_path(key, stderr) else { return };
        let tokens: Vec<Token> = self.log_followers.iter().filter(|(_, p)| *p == path).map(|(t, _)| *t).collect();
        let time = crate::timefmt::rfc3339(std::time::SystemTime::now());
        for token in tokens {
            self.send_data(token, data, stderr, Some(time.clone()));
        }
    }

    /// Closes the capture pipes of a job version that is forgotten.
    pub(super) fn close_logs(&mut self, run: &mut JobRun) {
        for inst in &mut run.instances {
            for t in &mut inst.tasks {
                if let Some(log) = t.log.take() {
                    let registry = self.poll.registry();
                    let _ = registry.deregister(&mut SourceFd(&log.out.raw_fd()));
                    let _ = registry.deregister(&mut SourceFd(&log.err.raw_fd()));
                    self.log_tokens.remove(&log.out_token);
                    self.log_tokens.remove(&log.err_token);
                }
            }
        }
    }

    /// The last `lines` lines of a task's stream, from its files.
    pub(super) fn log_tail(&self, path: &LogPath, lines: usize) -> Vec<u8> {
        let dir = logs::instance_dir(&self.cfg.log_dir, &path.job, &path.group, path.index);
        let base = format!("{}.{}", path.task, if path.stderr { "stderr" } else { "stdout" });
        logs::tail(&dir, &base, lines)
    }
}
