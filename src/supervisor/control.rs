//! The server side of the control socket, inside the event loop: accept,
//! read one request line, answer, and stream events to followers. A client
//! that sends garbage, too much, or disconnects mid-request only loses its
//! own connection.

use super::task::{State, event};
use super::{Supervisor, TaskKey, Timer};
use crate::control::protocol::{EventLine, MAX_REQUEST, Request, Response, Status, VERSION};
use crate::jobspec;
use crate::policy::restart::Outcome;
use crate::process;
use mio::net::UnixStream;
use mio::{Interest, Token};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

/// At most this many control connections at once.
const MAX_CLIENTS: usize = 256;

/// Answers larger than this give their memory back once sent.
const BIG_ANSWER: usize = 256 << 10;

/// A follower that falls this far behind is disconnected.
const MAX_BACKLOG: usize = 4 << 20;

pub(super) struct Client {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    uid: u32,
    /// Keeps the connection open after its answer (events or logs follow).
    follow: bool,
    /// Receives task events as they happen.
    events: bool,
    /// Only those of these tasks.
    event_filter: Option<Selection>,
    /// Close once everything is written.
    done: bool,
    writable: bool,
}

impl Supervisor {
    pub(super) fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    // Connections that never finish a request must not use up
                    // supd's descriptors: beyond a bound, new ones are refused.
                    if self.clients.len() >= MAX_CLIENTS {
                        let mut line = serde_json::to_vec(&Response::refused(format!(
                            "supd already serves {MAX_CLIENTS} control connections; try again"
                        )))
                        .unwrap_or_default();
                        line.push(b'\n');
                        let _ = stream.write(&line);
                        continue;
                    }
                    let uid = match getsockopt(&stream, PeerCredentials) {
                        Ok(c) => c.uid(),
                        Err(e) => {
                            log::warn!("control client without credentials ({e}); closing");
                            continue;
                        }
                    };
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE) {
                        log::warn!("cannot watch a control client: {e}");
                        continue;
                    }
                    self.clients.insert(
                        token,
                        Client {
                            stream,
                            rbuf: Vec::new(),
                            wbuf: Vec::new(),
                            uid,
                            follow: false,
                            events: false,
                            event_filter: None,
                            done: false,
                            writable: false,
                        },
                    );
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors is the likely cause; the listener
                    // stays registered and the next connection is retried.
                    log::error!("cannot accept a control connection: {e}");
                    break;
                }
            }
        }
    }

    pub(super) fn on_client(&mut self, token: Token, readable: bool, writable: bool) {
        if readable {
            self.read_client(token);
        }
        if writable && let Some(c) = self.clients.get_mut(&token) {
            c.writable = false;
        }
        self.flush_client(token);
    }

    fn read_client(&mut self, token: Token) {
        let mut line = None;
        let mut closed = false;
        let mut too_long = false;
        if let Some(c) = self.clients.get_mut(&token) {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        if c.follow || c.done {
                            continue; // nothing more is read from a client that was answered
                        }
                        c.rbuf.extend_from_slice(&buf[..n]);
                        if let Some(i) = c.rbuf.iter().position(|b| *b == b'\n') {
                            line = Some(c.rbuf[..i].to_vec());
                            c.rbuf.clear();
                            break;
                        }
                        if c.rbuf.len() > MAX_REQUEST {
                            too_long = true;
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        if too_long {
            self.answer(token, Response::refused("request too long"));
            return;
        }
        if let Some(line) = line {
            let response = self.handle_line(token, &line);
            self.answer(token, response);
        } else if closed {
            self.drop_client(token);
        }
    }

    fn answer(&mut self, token: Token, response: Response) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        match serde_json::to_vec(&response) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                c.wbuf.extend_from_slice(&bytes);
            }
            Err(e) => log::error!("cannot encode a response: {e}"),
        }
        if !c.follow {
            c.done = true;
        }
        self.flush_client(token);
    }

    fn flush_client(&mut self, token: Token) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        while !c.wbuf.is_empty() {
            match c.stream.write(&c.wbuf) {
                Ok(0) => break,
                Ok(n) => {
                    c.wbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !c.writable {
                        c.writable = true;
                        let _ = self.poll.registry().reregister(
                            &mut c.stream,
                            token,
                            Interest::READABLE | Interest::WRITABLE,
                        );
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.drop_client(token);
                    return;
                }
            }
        }
        // A large answer (the status of a thousand tasks is over a
        // megabyte) leaves the heap grown: once it is out, the buffer and
        // the freed memory go back to the system.
        let big = c.wbuf.is_empty() && c.wbuf.capacity() > BIG_ANSWER;
        if big {
            c.wbuf = Vec::new();
        }
        if c.done && c.wbuf.is_empty() {
            self.drop_client(token);
        }
        if big {
            // SAFETY: malloc_trim only releases free memory of the allocator.
            unsafe { libc::malloc_trim(0) };
        }
    }

    fn drop_client(&mut self, token: Token) {
        self.log_followers.retain(|(t, _)| *t != token);
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Sends a chunk of task output to a `logs` client; `time` is when it
    /// was read from the task, for output that is streamed as it comes.
    pub(super) fn send_data(&mut self, token: Token, data: &[u8], stderr: bool, time: Option<String>) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        if c.wbuf.len() > MAX_BACKLOG {
            log::warn!("dropping a logs follower that does not keep up");
            self.drop_client(token);
            return;
        }
        let r = Response::output(data, stderr, time);
        if let Ok(mut bytes) = serde_json::to_vec(&r) {
            bytes.push(b'\n');
            c.wbuf.extend_from_slice(&bytes);
        }
        self.flush_client(token);
    }

    /// Sends new task events to every `events --follow` client.
    pub(super) fn broadcast_events(&mut self) {
        if !self.clients.values().any(|c| c.events) {
            self.sent_events = super::task::last_event_seq();
            return;
        }
        let since = self.sent_events;
        let mut lines: Vec<(u64, EventLine)> = self.event_lines(since);
        if lines.is_empty() {
            return;
        }
        lines.sort_by_key(|(seq, _)| *seq);
        self.sent_events = lines.last().map_or(since, |(s, _)| *s);
        let mut bytes = Vec::new();
        for (_, l) in &lines {
            if let Ok(mut b) = serde_json::to_vec(l) {
                b.push(b'\n');
                bytes.extend_from_slice(&b);
            }
        }
        let tokens: Vec<Token> = self.clients.iter().filter(|(_, c)| c.events).map(|(t, _)| *t).collect();
        for t in tokens {
            if let Some(c) = self.clients.get_mut(&t) {
                if c.wbuf.len() > MAX_BACKLOG {
                    log::warn!("dropping an events follower that does not keep up");
                    self.drop_client(t);
                    continue;
                }
                match &c.event_filter {
                    None => c.wbuf.extend_from_slice(&bytes),
                    Some(sel) => {
                        for (_, l) in lines.iter().filter(|(_, l)| sel.matches_line(l)) {
                            if let Ok(mut b) = serde_json::to_vec(l) {
                                b.push(b'\n');
                                c.wbuf.extend_from_slice(&b);
                            }
                        }
                    }
                }
            }
            self.flush_client(t);
        }
    }

    fn event_lines(&self, since: u64) -> Vec<(u64, EventLine)> {
        let mut out = Vec::new();
        for run in self.runs.values() {
            for inst in &run.instances {
                let group = &run.job.groups[inst.group].name;
                for t in &inst.tasks {
                    for e in t.events.iter().filter(|e| e.seq > since) {
                        out.push((
                            e.seq,
                            EventLine {
                                version: VERSION,
                                job: run.job.id.clone(),
                                group: group.clone(),
                                index: inst.index,
                                task: t.spec.name.clone(),
                                event: event(e),
                            },
                        ));
                    }
                }
            }
        }
        out
    }

    fn handle_line(&mut self, token: Token, line: &[u8]) -> Response {
        let envelope: crate::control::protocol::Envelope = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => return Response::refused(format!("malformed request: {e}")),
        };
        if envelope.version != VERSION {
            return Response::refused(format!(
                "protocol version {} is not supported (supd speaks {VERSION}) — use the supctl that ships with this supd",
                envelope.version
            ));
        }
        let uid = self.clients.get(&token).map_or(u32::MAX, |c| c.uid);
        let read_only = matches!(
            envelope.request,
            Request::Status { .. } | Request::Events { .. } | Request::Logs { .. } | Request::Reload { dry_run: true }
        );
        let me = nix::unistd::geteuid().as_raw();
        if !read_only && uid != 0 && uid != me {
            return Response::refused(format!(
                "permission denied: uid {uid} may only read status and events; changes need root or uid {me}"
            ));
        }
        match envelope.request {
            Request::Status { target } => self.status(target.as_deref()),
            Request::JobRun { source, file } => {
                let parsed = jobspec::parse_str(&file, &source);
                if !parsed.is_valid() {
                    let lines: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
                    return Response::refused(lines.join("\n"));
                }
                // Every job of the file fits, or none is submitted.
                let mut planned = Vec::new();
                for job in &parsed.jobs {
                    if let Err(e) = self.fit_with(job, &planned) {
                        return Response::refused(e);
                    }
                    planned.push(job);
                }
                let mut messages: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
                messages.extend(
                    jobspec::placement_warnings(&file, &parsed.jobs, &self.cfg.node).iter().map(|d| d.to_string()),
                );
                for job in parsed.jobs {
                    messages.extend(self.submit(job, None, file.clone(), true));
                }
                Response::ok(messages)
            }
            Request::JobStop { job } => {
                if self.current.get(&job).and_then(|s| self.runs.get(s)).is_some_and(|r| r.stopped) {
                    return Response::ok(vec![format!("job {job:?} is already stopped")]);
                }
                if self.stop_job(&job) {
                    self.stopped_jobs.insert(job.clone());
                    self.state_changed();
                    Response::ok(vec![format!("job {job:?} stopping")])
                } else {
                    Response::refused(self.unknown_job(&job))
                }
            }
            Request::Restart { target } => self.restart(&target),
            Request::Signal { target, signal } => self.signal(&target, &signal),
            Request::Events { follow, target, since } => {
                let filter = match target.as_deref().map(|t| self.resolve(t)).transpose() {
                    Ok(f) => f,
                    Err(e) => return Response::refused(e),
                };
                let since = match since.as_deref() {
                    None => None,
                    Some(text) => match crate::timefmt::parse_rfc3339(text) {
                        Some(t) => Some(crate::timefmt::rfc3339(t)),
                        None => {
                            return Response::refused(format!(
                                "since {text:?} is not an RFC 3339 time — write e.g. 2026-11-28T05:06:07Z"
                            ));
                        }
                    },
                };
                let mut lines = self.event_lines(0);
                lines.sort_by_key(|(s, _)| *s);
                if follow {
                    if let Some(c) = self.clients.get_mut(&token) {
                        c.follow = true;
                        c.events = true;
                        c.event_filter = filter.clone();
                    }
                    self.sent_events = self.sent_events.max(lines.last().map_or(0, |(s, _)| *s));
                }
                // Event times are all written alike (UTC, milliseconds), so
                // they compare as text.
                lines.retain(|(_, l)| {
                    filter.as_ref().is_none_or(|f| f.matches_line(l))
                        && since.as_ref().is_none_or(|s| l.event.time.as_str() >= s.as_str())
                });
                let mut r = Response::ok(Vec::new());
                r.events = lines.into_iter().map(|(_, l)| l).collect();
                r
            }
            Request::Logs { target, stderr, lines, follow, all } => {
                let path = match self.log_target(&target, stderr && !all) {
                    Ok(p) => p,
                    Err(e) => return Response::refused(e),
                };
                let lines = lines.min(100_000);
                // Both streams: stdout's last lines go out first, then
                // stderr's in the answer. The files keep no times, so the
                // two cannot be merged line by line.
                let path = if all {
                    self.send_data(token, &self.log_tail(&path, lines), false, None);
                    super::output::LogPath { stderr: true, ..path }
                } else {
                    path
                };
                let r = Response::output(&self.log_tail(&path, lines), path.stderr, None);
                if follow {
                    if let Some(c) = self.clients.get_mut(&token) {
                        c.follow = true;
                    }
                    if all {
                        self.log_followers.push((token, super::output::LogPath { stderr: false, ..path.clone() }));
                    }
                    self.log_followers.push((token, path));
                }
                r
            }
            Request::Reload { dry_run } => {
                let plan = self.plan_reload();
                let messages = plan.messages.clone();
                let failed = plan.failed_dir || !plan.invalid.is_empty();
                if !dry_run {
                    self.notify.reloading();
                    self.apply_reload(plan);
                    let line = self.status_line();
                    self.notify.ready(&line);
                }
                if failed {
                    // What was valid is applied; the answer still fails, so
                    // that a script notices the files that were not loaded.
                    return Response::refused(messages.join("\n"));
                }
                Response::ok(messages)
            }
            Request::Handoff { envelope } => {
                let what = format!("{}.{}[{}] from {}", envelope.job, envelope.group, envelope.index, envelope.origin);
                match self.receive(envelope, false) {
                    Ok(m) => {
                        log::info!("hand-off of {what}: {m}");
                        Response::ok(vec![m])
                    }
                    Err(e) => {
                        log::warn!("hand-off of {what} refused: {e}");
                        Response::refused(e)
                    }
                }
            }
            Request::Shutdown => {
                self.shutdown(&format!("shutdown requested over the control socket (uid {uid})"));
                Response::ok(vec!["supd is stopping every task, then exits".into()])
            }
        }
    }

    fn unknown_job(&self, job: &str) -> String {
        let hint = crate::jobspec::diag::did_you_mean(job, self.current.keys().map(String::as_str))
            .map_or(String::new(), |s| format!(" — did you mean {s:?}?"));
        format!("no job {job:?}{hint}")
    }

    fn status(&self, target: Option<&str>) -> Response {
        let selection = match target {
            None => None,
            Some(t) => match self.resolve(t) {
                Ok(s) => Some(s),
                Err(e) => return Response::refused(e),
            },
        };
        let mut jobs = Vec::new();
        for (id, serial) in &self.current {
            let Some(run) = self.runs.get(serial) else { continue };
            if let Some(sel) = &selection
                && &sel.job != id
            {
                continue;
            }
            let filter = |inst: &super::task::Instance, task: Option<&super::task::TaskRun>| match &selection {
                None => true,
                Some(sel) => sel.matches(run, inst, task),
            };
            jobs.push(run.to_status(&filter));
        }
        let mut r = Response::ok(self.load_errors.values().flat_map(|p| p.clone()).collect());
        r.status = Some(Status { version: VERSION, node: self.node_status(), jobs });
        r
    }

    /// `JOB`, `JOB/GROUP`, `JOB/GROUP/INDEX`, `JOB/GROUP/INDEX/TASK`,
    /// `JOB/GROUP/TASK` or Nomad's instance name `JOB.GROUP[INDEX]`.
    fn resolve(&self, target: &str) -> Result<Selection, String> {
        let mut parts: Vec<String> = target.split('/').map(str::to_string).collect();
        if parts.len() == 1
            && let Some((head, rest)) = target.split_once('[')
            && let Some(index) = rest.strip_suffix(']')
            && let Some((job, group)) = head.rsplit_once('.')
        {
            parts = vec![job.into(), group.into(), index.into()];
        }
        let job = parts[0].clone();
        let run = self.current.get(&job).and_then(|s| self.runs.get(s)).ok_or_else(|| self.unknown_job(&job))?;
        let mut sel = Selection { job, group: None, index: None, task: None };
        if let Some(g) = parts.get(1) {
            let Some(group) = run.job.groups.iter().find(|x| &x.name == g) else {
                return Err(format!("job {:?} has no group {g:?}", sel.job));
            };
            sel.group = Some(g.clone());
            let mut rest = &parts[2..];
            if let Some(first) = rest.first()
                && let Ok(i) = first.parse::<u32>()
            {
                if i >= group.count {
                    return Err(format!("group {g:?} has instances 0 to {}", group.count.saturating_sub(1)));
                }
                sel.index = Some(i);
                rest = &rest[1..];
            }
            if let Some(t) = rest.first() {
                if !group.tasks.iter().any(|x| &x.name == t) {
                    return Err(format!("group {g:?} has no task {t:?}"));
                }
                sel.task = Some(t.clone());
            }
            if rest.len() > 1 {
                return Err(format!("bad target {target:?} — write JOB[/GROUP[/INDEX]][/TASK]"));
            }
        }
        Ok(sel)
    }

    /// One task's stream for `logs`: the group, index and task may each be
    /// left out when there is only one to choose.
    fn log_target(&self, target: &str, stderr: bool) -> Result<super::output::LogPath, String> {
        let sel = self.resolve(target)?;
        let run = &self.runs[&self.current[&sel.job]];
        let gname = match sel.group {
            Some(g) => g,
            None if run.job.groups.len() == 1 => run.job.groups[0].name.clone(),
            None => {
                let groups: Vec<String> = run.job.groups.iter().map(|g| format!("{}/{}", sel.job, g.name)).collect();
                return Err(format!("job {:?} has several groups: name one of {}", sel.job, groups.join(", ")));
            }
        };
        let Some(group) = run.job.groups.iter().find(|g| g.name == gname) else {
            return Err(format!("job {:?} has no group {gname:?}", sel.job));
        };
        let index = match sel.index {
            Some(i) => i,
            None if group.count == 1 => 0,
            None => {
                return Err(format!(
                    "group {gname:?} has {} instances: name one, e.g. {}/{gname}/0",
                    group.count, sel.job
                ));
            }
        };
        let task = match sel.task {
            Some(t) => t,
            None if group.tasks.len() == 1 => group.tasks[0].name.clone(),
            None => {
                let names: Vec<&str> = group.tasks.iter().map(|t| t.name.as_str()).collect();
                return Err(format!(
                    "group {gname:?} has several tasks ({}): name one, e.g. {}/{gname}/{index}/{}",
                    names.join(", "),
                    sel.job,
                    names[0]
                ));
            }
        };
        Ok(super::output::LogPath { job: sel.job, group: gname, index, task, stderr })
    }

    fn selected_tasks(&self, target: &str) -> Result<Vec<TaskKey>, String> {
        let sel = self.resolve(target)?;
        let serial = self.current[&sel.job];
        let run = &self.runs[&serial];
        let mut keys = Vec::new();
        for (ii, inst) in run.instances.iter().enumerate() {
            for (ti, t) in inst.tasks.iter().enumerate() {
                if sel.matches(run, inst, Some(t)) {
                    keys.push(TaskKey { run: serial, inst: ii, task: ti });
                }
            }
        }
        Ok(keys)
    }

    fn restart(&mut self, target: &str) -> Response {
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e),
        };
        if keys.first().is_some_and(|k| self.runs.get(&k.run).is_some_and(|r| r.stopped)) {
            return Response::refused(format!("{target}: the job is stopped — submit it again with `supctl job run`"));
        }
        let mut messages = Vec::new();
        // A handed-off instance (or one waiting to be) runs here again, as a
        // whole and afresh; a failed one forgets its hand-off history.
        let mut keys = keys;
        let mut taken_back = Vec::new();
        for key in &keys {
            let Some(i) = self.runs.get_mut(&key.run).and_then(|r| r.instances.get_mut(key.inst)) else { continue };
            match i.resched {
                super::task::Resched::HandedOff { .. }
                | super::task::Resched::Waiting { .. }
                | super::task::Resched::Trying(_) => {
                    if !taken_back.contains(&(key.run, key.inst)) {
                        taken_back.push((key.run, key.inst));
                    }
                }
                super::task::Resched::Stay { .. } => {
                    i.resched = super::task::Resched::Idle;
                    i.history.clear();
                }
                super::task::Resched::Idle => {}
            }
        }
        keys.retain(|k| !taken_back.contains(&(k.run, k.inst)));
        for (serial, inst) in taken_back {
            let name =
                self.runs.get(&serial).and_then(|r| r.instances.get(inst)).map_or(String::new(), |i| i.name.clone());
            self.take_back(serial, inst);
            messages.push(format!("instance {name} runs here again"));
        }
        for key in keys {
            let Some(t) = self.task_mut(key) else { continue };
            let name = t.spec.name.clone();
            match t.state {
                State::Running => {
                    t.push_event("Restart Signaled", "User requested task to restart".into());
                    self.stop_task(key, super::task::After::Restart(Outcome::UserRestart));
                    messages.push(format!("restarting task {name}"));
                }
                State::Pending | State::Dead => {
                    // Waiting out a delay, or dead: start it now. A dead
                    // instance comes back to life as a whole.
                    t.push_event("Restart Signaled", "User requested task to restart".into());
                    t.generation += 1;
                    t.failed = false;
                    t.state = State::Pending;
                    t.launched = true;
                    let generation = t.generation;
                    if let Some(inst) = self.runs.get_mut(&key.run).and_then(|r| r.instances.get_mut(key.inst)) {
                        inst.winding_down = false;
                    }
                    self.arm(Instant::now(), Timer::Start(key, generation));
                    messages.push(format!("starting task {name}"));
                }
            }
        }
        if messages.is_empty() {
            return Response::refused(format!("{target}: no task to restart"));
        }
        Response::ok(messages)
    }

    fn signal(&mut self, target: &str, signal: &str) -> Response {
        if signal.trim() == "0" {
            return self.probe(target);
        }
        let Some(sig) = process::parse_signal(signal) else {
            return Response::refused(format!(
                "unknown signal {signal:?} — use a name such as SIGHUP, a number, or 0 to test that the tasks are alive"
            ));
        };
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e),
        };
        let mut messages = Vec::new();
        for key in keys {
            let Some(t) = self.task_mut(key) else { continue };
            let Some(pid) = t.pid else { continue };
            t.push_event("Signaling", format!("Task being sent signal {}: User requested signal", sig.as_str()));
            match process::signal_group(pid, sig) {
                Ok(()) => messages.push(format!("sent {} to task {} (pid {pid})", sig.as_str(), t.spec.name)),
                Err(e) => return Response::refused(format!("cannot signal task {}: {e}", t.spec.name)),
            }
        }
        if messages.is_empty() {
            return Response::refused(format!("{target}: no running task to signal"));
        }
        Response::ok(messages)
    }

    /// `signal TARGET 0`: whether the target's tasks are alive, as kill(2)
    /// with no signal tells; nothing is sent and no event is recorded.
    fn probe(&self, target: &str) -> Response {
        let keys = match self.selected_tasks(target) {
            Ok(k) => k,
            Err(e) => return Response::refused(e),
        };
        let mut messages = Vec::new();
        for key in keys {
            let Some(t) = self.task(key) else { continue };
            let Some(pid) = t.pid else { continue };
            match process::probe_group(pid) {
                Ok(true) => messages.push(format!("task {} (pid {pid}) is alive", t.spec.name)),
                Ok(false) => {}
                Err(e) => return Response::refused(format!("cannot probe task {}: {e}", t.spec.name)),
            }
        }
        if messages.is_empty() {
            return Response::refused(format!("{target}: no running task"));
        }
        Response::ok(messages)
    }
}

/// A resolved status/restart/signal/events target.
#[derive(Clone)]
struct Selection {
    job: String,
    group: Option<String>,
    index: Option<u32>,
    task: Option<String>,
}

impl Selection {
    fn matches(
        &self,
        run: &super::task::JobRun,
        inst: &super::task::Instance,
        task: Option<&super::task::TaskRun>,
    ) -> bool {
        if let Some(g) = &self.group
            && &run.job.groups[inst.group].name != g
        {
            return false;
        }
        if let Some(i) = self.index
            && inst.index != i
        {
            return false;
        }
        match (&self.task, task) {
            (Some(want), Some(t)) => &t.spec.name == want,
            _ => true,
        }
    }

    /// Whether an event belongs to a selected task.
    fn matches_line(&self, l: &EventLine) -> bool {
        l.job == self.job
            && self.group.as_ref().is_none_or(|g| &l.group == g)
            && self.index.is_none_or(|i| l.index == i)
            && self.task.as_ref().is_none_or(|t| &l.task == t)
    }
}
