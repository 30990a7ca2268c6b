//! What `supctl status` shows, read from the model: a view that borrows
//! jobs, instances and tasks (`task`) and changes nothing. It is encoded
//! as the protocol's `Status` (`control::protocol`) would be, field for
//! field and byte for byte (a test below keeps the two in step), but
//! straight from the model: the status of a thousand tasks is not built
//! as a tree of owned strings first, only to be encoded and freed.

use super::control::selection::Selection;
use super::task::{Instance, JobRun, Resched, State, TaskEvent, TaskRun, task_health};
use crate::control::protocol;
use crate::jobspec::effective;
use crate::jobspec::model::{Hook, ReschedulePolicy, RestartPolicy};
use crate::process::Exit;
use crate::timefmt::{rfc3339, stamp};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::cell::RefCell;
use std::time::SystemTime;

/// Appends `value` to `out` as `serde_json::to_writer_pretty` writes it,
/// byte for byte, only sooner: a line break and its indentation go in one
/// write (serde_json's formatter writes each level's two spaces apart,
/// a million small writes in the status of a thousand tasks).
pub(super) fn to_pretty(out: &mut Vec<u8>, value: &impl Serialize) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(out, Pretty { level: 0, has_value: false }))
}

/// serde_json's `PrettyFormatter` with its default indentation.
struct Pretty {
    level: usize,
    has_value: bool,
}

/// A comma, a line break and the indentation of the deepest levels of a
/// status (deeper ones are written in more pieces).
const BREAK: &[u8] = b",\n                                                                ";

/// A line break (after a comma unless `first`) and the indentation of `level`.
fn line_break<W: ?Sized + std::io::Write>(w: &mut W, first: bool, level: usize) -> std::io::Result<()> {
    let from = usize::from(first);
    let end = 2 + 2 * level;
    if end <= BREAK.len() {
        return w.write_all(&BREAK[from..end]);
    }
    w.write_all(&BREAK[from..2])?;
    for _ in 0..level {
        w.write_all(b"  ")?;
    }
    Ok(())
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            line_break(w, true, self.level)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        line_break(w, first, self.level)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            line_break(w, true, self.level)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        line_break(w, first, self.level)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// What a job's entry shows beyond its groups (`periodic_status`).
pub(super) struct JobHead {
    /// The job's status; a periodic or parameterized job that is not
    /// stopped is `running` while it launches.
    pub status: &'static str,
    pub periodic: Option<protocol::PeriodicStatus>,
    pub parameterized: Option<protocol::ParameterizedStatus>,
    pub parent: Option<String>,
}

/// Which tasks are shown, and how much of each.
#[derive(Clone, Copy)]
pub(super) struct Shown<'a> {
    pub selection: Option<&'a Selection>,
    /// At most this many of each task's latest events; all that are kept
    /// when `None`.
    pub events: Option<usize>,
    /// Only what the table shows (`Request::Status::brief`).
    pub brief: bool,
    pub lines: &'a Lines,
}

/// The policy lines last written, kept for the next task or instance:
/// most of a host's tasks share their policies (defaults, or job files
/// written alike), so a line is formatted a few times per answer rather
/// than once per task.
#[derive(Default)]
pub(super) struct Lines {
    restart: RefCell<Option<(RestartPolicy, String)>>,
    reschedule: RefCell<Option<(Option<ReschedulePolicy>, String)>>,
}

impl Lines {
    /// `effective::restart_line(p)`, given to `f`.
    fn restart<R>(&self, p: &RestartPolicy, f: impl FnOnce(&str) -> R) -> R {
        let mut last = self.restart.borrow_mut();
        match &*last {
            Some((q, line)) if q == p => f(line),
            _ => f(&last.insert((*p, effective::restart_line(p))).1),
        }
    }

    /// `effective::reschedule_line(p)`, given to `f`.
    fn reschedule<R>(&self, p: Option<&ReschedulePolicy>, f: impl FnOnce(&str) -> R) -> R {
        let mut last = self.reschedule.borrow_mut();
        match &*last {
            Some((q, line)) if q.as_ref() == p => f(line),
            _ => f(&last.insert((p.copied(), effective::reschedule_line(p))).1),
        }
    }
}

/// The whole status, encoded as `protocol::Status`.
pub(super) struct StatusView<'a> {
    pub node: protocol::NodeStatus,
    pub jobs: Vec<JobView<'a>>,
}

/// One job, encoded as `protocol::JobStatus`.
pub(super) struct JobView<'a> {
    pub run: &'a JobRun,
    pub head: JobHead,
    pub shown: Shown<'a>,
}

impl StatusView<'_> {
    /// As `protocol::Status::all_up`: every task shown is up.
    pub fn all_up(&self) -> bool {
        self.jobs.iter().all(|j| {
            (0..j.run.job.groups.len()).all(|gi| j.instances(gi).all(|i| j.tasks(i).all(|(ti, t)| task_up(i, ti, t))))
        })
    }
}

impl<'a> JobView<'a> {
    fn instances(&self, gi: usize) -> impl Iterator<Item = &'a Instance> + use<'a> {
        let (run, sel) = (self.run, self.shown.selection);
        run.instances.iter().filter(move |i| {
            i.group == gi && (!i.removed || i.is_live()) && sel.is_none_or(|s| s.matches(run, i, None))
        })
    }

    fn tasks(&self, i: &'a Instance) -> impl Iterator<Item = (usize, &'a TaskRun)> + use<'a> {
        let (run, sel) = (self.run, self.shown.selection);
        i.tasks.iter().enumerate().filter(move |(_, t)| sel.is_none_or(|s| s.matches(run, i, Some(t))))
    }
}

/// As `protocol::TaskStatus::up`.
fn task_up(i: &Instance, ti: usize, t: &TaskRun) -> bool {
    use super::task::State;
    match t.state {
        State::Running => task_health(i, ti).is_none_or(|h| h == crate::jobspec::model::CheckStatus::Passing),
        State::Dead => !t.failed && t.exit == Some(Exit::Code(0)),
        State::Pending => t.hook() == Some(Hook::Poststop),
    }
}

/// A sequence of items made as they are encoded, one at a time.
struct Each<F>(F);

impl<I, F> Serialize for Each<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// A status answer line, encoded as `protocol::Response` holding it.
pub(super) struct StatusAnswer<'v, 'a> {
    pub messages: &'v [String],
    pub status: &'v StatusView<'a>,
}

impl Serialize for StatusAnswer<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Response", 4)?;
        st.serialize_field("version", &protocol::VERSION)?;
        st.serialize_field("ok", &true)?;
        if !self.messages.is_empty() {
            st.serialize_field("messages", self.messages)?;
        }
        st.serialize_field("status", self.status)?;
        st.end()
    }
}

impl Serialize for StatusView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Status", 3)?;
        st.serialize_field("version", &protocol::VERSION)?;
        st.serialize_field("node", &self.node)?;
        st.serialize_field("jobs", &self.jobs)?;
        st.end()
    }
}

impl Serialize for JobView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let run = self.run;
        let h = &self.head;
        let file = run.file.as_ref().filter(|_| !self.shown.brief);
        let mut st = s.serialize_struct("JobStatus", 8)?;
        st.serialize_field("name", &run.job.id)?;
        st.serialize_field("type", run.job.job_type.as_str())?;
        st.serialize_field("status", h.status)?;
        if let Some(f) = file {
            st.serialize_field("file", f)?;
        }
        st.serialize_field(
            "groups",
            &Each(|| run.job.groups.iter().enumerate().map(|(gi, g)| GroupView { job: self, gi, name: &g.name })),
        )?;
        if let Some(p) = &h.periodic {
            st.serialize_field("periodic", p)?;
        }
        if let Some(p) = &h.parameterized {
            st.serialize_field("parameterized", p)?;
        }
        if let Some(p) = &h.parent {
            st.serialize_field("parent", p)?;
        }
        st.end()
    }
}

struct GroupView<'v, 'a> {
    job: &'v JobView<'a>,
    gi: usize,
    name: &'a str,
}

impl Serialize for GroupView<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("GroupStatus", 2)?;
        st.serialize_field("name", self.name)?;
        st.serialize_field(
            "instances",
            &Each(|| self.job.instances(self.gi).map(|i| InstanceView { job: self.job, gi: self.gi, i })),
        )?;
        st.end()
    }
}

struct InstanceView<'v, 'a> {
    job: &'v JobView<'a>,
    gi: usize,
    i: &'a Instance,
}

impl Serialize for InstanceView<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (i, brief) = (self.i, self.job.shown.brief);
        let policy = self.job.run.job.groups[self.gi].reschedule.as_ref();
        let mut st = s.serialize_struct("InstanceStatus", 9)?;
        st.serialize_field("index", &i.index)?;
        st.serialize_field("name", &i.name)?;
        if !brief {
            st.serialize_field("id", &i.id)?;
        }
        st.serialize_field("status", i.status().as_str())?;
        if let Some(d) = i.description {
            st.serialize_field("description", d)?;
        }
        if let Some(dir) = i.dir.as_ref().filter(|_| !brief) {
            st.serialize_field("alloc_dir", &Shows(dir.root()))?;
        }
        if let Some(r) = reschedule_status(i, policy) {
            st.serialize_field("reschedule", &r)?;
        }
        if !brief {
            self.job.shown.lines.reschedule(policy, |line| st.serialize_field("reschedule_policy", line))?;
        }
        let shown = self.job.shown;
        st.serialize_field("tasks", &Each(|| self.job.tasks(i).map(|(ti, t)| TaskView { i, ti, t, shown })))?;
        st.end()
    }
}

/// A path as its `display()` text, without making a `String` of it.
struct Shows<'a>(&'a std::path::Path);

impl Serialize for Shows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.to_str() {
            Some(text) => s.serialize_str(text),
            None => s.collect_str(&self.0.display()),
        }
    }
}

/// An optional time, as RFC 3339 text or null.
struct Time(Option<SystemTime>);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(t) => s.serialize_str(stamp(t).as_str()),
            None => s.serialize_none(),
        }
    }
}

/// The instance's hand-off state, when there is anything to say.
fn reschedule_status(
    i: &Instance,
    policy: Option<&crate::jobspec::model::ReschedulePolicy>,
) -> Option<protocol::RescheduleStatus> {
    if matches!(i.resched, Resched::Idle) && i.history.is_empty() {
        return None;
    }
    let (state, next, to, reason) = match &i.resched {
        Resched::Idle => ("none", None, None, None),
        Resched::Stay { quiet: true, .. } if i.history.is_empty() && i.received_from.is_none() => return None,
        Resched::Stay { quiet: true, .. } => ("none", None, None, None),
        Resched::Stay { reason, .. } => ("stays failed", None, None, Some(reason.clone())),
        Resched::Waiting { at, blocked: true, .. } => {
            ("blocked", Some(rfc3339(*at)), None, Some("no peer took it the last time".to_string()))
        }
        Resched::Waiting { at, .. } => ("waiting", Some(rfc3339(*at)), None, None),
        Resched::Trying(a) if a.unsure.is_some() => (
            "outcome unknown",
            None,
            None,
            a.unsure.map(|u| format!("a peer heard the offer at {} and has not said what it did", rfc3339(u))),
        ),
        Resched::Trying(_) => ("handing off", None, None, None),
        Resched::HandedOff(h) => ("handed off", None, Some(h.peer.clone()), None),
    };
    let (handoff_id, remote) = match &i.resched {
        Resched::HandedOff(h) => (
            Some(h.id.clone()).filter(|id| !id.is_empty()),
            Some(protocol::RemoteStatus {
                state: h.remote.state.map(|s| s.as_str().to_string()),
                message: h.remote.message.clone(),
                checked: h.remote.checked.map(rfc3339),
                unreachable_since: h.remote.unreachable.as_ref().map(|(at, _)| rfc3339(*at)),
                unreachable: h.remote.unreachable.as_ref().map(|(_, why)| why.clone()),
            }),
        ),
        Resched::Trying(a) => (Some(a.id.clone()), None),
        _ if i.received_from.is_some() => (Some(i.received_id.clone()), None),
        _ => (None, None),
    };
    let events: Vec<_> = i.history.iter().filter_map(|h| h.to_policy().ok()).collect();
    let counted = match policy {
        Some(p) => crate::policy::reschedule::counted(p, &events, SystemTime::now()),
        None => events.len(),
    };
    Some(protocol::RescheduleStatus {
        state: state.to_string(),
        attempts: counted as u32,
        allowed: policy.filter(|p| !p.unlimited).map(|p| p.attempts),
        next,
        handed_off_to: to,
        received_from: i.received_from.clone(),
        reason,
        handoff_id,
        remote,
        history: i
            .history
            .iter()
            .map(|h| protocol::HandoffRecord {
                time: h.time.clone(),
                from: h.from.clone(),
                to: h.to.clone(),
                delay: h.delay.clone(),
                reason: h.reason.clone(),
                attempt: h.attempt,
            })
            .collect(),
    })
}

/// One task, encoded as `protocol::TaskStatus`.
struct TaskView<'a> {
    i: &'a Instance,
    ti: usize,
    t: &'a TaskRun,
    shown: Shown<'a>,
}

impl Serialize for TaskView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (i, ti, t, brief) = (self.i, self.ti, self.t, self.shown.brief);
        let (exit_code, signal) = match t.exit {
            Some(Exit::Code(c)) => (Some(c), None),
            Some(Exit::Signal { signal: s, .. }) => (None, Some(crate::signals::name(s))),
            Some(Exit::Unknown) | None => (None, None),
        };
        let mut st = s.serialize_struct("TaskStatus", 17)?;
        st.serialize_field("name", &t.spec.name)?;
        if let Some(h) = t.hook() {
            st.serialize_field("hook", h.as_str())?;
        }
        st.serialize_field("state", t.state.as_str())?;
        st.serialize_field("failed", &t.failed)?;
        st.serialize_field("pid", &t.pid.map(|p| p.as_raw()))?;
        st.serialize_field("restarts", &t.restarts)?;
        st.serialize_field("exit_code", &exit_code)?;
        if !brief || signal.is_some() {
            st.serialize_field("signal", &signal)?;
        }
        st.serialize_field("health", &task_health(i, ti).map(|h| h.as_str()))?;
        if !brief {
            st.serialize_field("checks", &Each(|| i.checks.iter().filter(|c| c.task == ti).map(CheckView)))?;
            st.serialize_field("started_at", &Time(t.started_at))?;
        }
        if let Some(up) = t.started_at.filter(|_| t.state == State::Running).and_then(|at| at.elapsed().ok()) {
            st.serialize_field("uptime", &up.as_secs())?;
        }
        if !brief {
            st.serialize_field("finished_at", &Time(t.finished_at))?;
            st.serialize_field("last_restart", &Time(t.last_restart))?;
        }
        let skip = t.events.len().saturating_sub(self.shown.events.unwrap_or(usize::MAX));
        st.serialize_field("events", &Each(|| t.events.iter().skip(skip).map(|e| EventView { e, brief })))?;
        if !brief {
            self.shown.lines.restart(&t.spec.restart, |line| st.serialize_field("restart_policy", line))?;
        }
        st.serialize_field("resources", &ResourcesView::of(t, brief))?;
        if let Some(c) = t.spec.container.as_deref().filter(|_| !brief) {
            let image = t.container.as_ref().map_or(&c.image, |r| &r.image);
            let id = t.container.as_ref().and_then(|r| r.id.as_deref()).map(crate::drivers::docker::short);
            st.serialize_field("container", &ContainerView { image, id })?;
        }
        st.end()
    }
}

struct CheckView<'a>(&'a super::task::CheckRun);

impl Serialize for CheckView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut st = s.serialize_struct("CheckState", 5)?;
        st.serialize_field("name", &c.spec.name)?;
        st.serialize_field("type", c.spec.kind.type_name())?;
        st.serialize_field("status", if c.active { c.status.as_str() } else { "inactive" })?;
        st.serialize_field("output", &c.output)?;
        st.serialize_field("check_restart", &effective::check_restart_line(&c.spec.check_restart))?;
        st.end()
    }
}

struct ContainerView<'a> {
    image: &'a str,
    id: Option<&'a str>,
}

impl Serialize for ContainerView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ContainerStatus", 2)?;
        st.serialize_field("image", self.image)?;
        if let Some(id) = self.id {
            st.serialize_field("id", id)?;
        }
        st.end()
    }
}

struct EventView<'a> {
    e: &'a TaskEvent,
    brief: bool,
}

impl Serialize for EventView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Event", 3)?;
        if !self.brief {
            st.serialize_field("time", stamp(self.e.time).as_str())?;
        }
        st.serialize_field("type", self.e.kind.as_str())?;
        st.serialize_field("message", &self.e.message)?;
        st.end()
    }
}

/// A task's `resources`, what its cgroup enforces and what it uses,
/// encoded as `protocol::TaskResources`.
struct ResourcesView<'a> {
    cpu: u32,
    memory: u32,
    memory_max: Option<i64>,
    unreserved: bool,
    enforced: &'static [&'static str],
    memory_limit: Option<u64>,
    cpu_weight: Option<u64>,
    cpu_quota: Option<u64>,
    memory_usage: Option<u64>,
    cpu_seconds: Option<f64>,
    cgroup: Option<&'a std::path::Path>,
    brief: bool,
}

/// `enforced`: memory, cpu, both or neither.
fn enforced(memory: bool, cpu: bool) -> &'static [&'static str] {
    match (memory, cpu) {
        (true, true) => &["memory", "cpu"],
        (true, false) => &["memory"],
        (false, true) => &["cpu"],
        (false, false) => &[],
    }
}

impl<'a> ResourcesView<'a> {
    fn of(t: &'a TaskRun, brief: bool) -> ResourcesView<'a> {
        let r = &t.spec.resources;
        let mut out = ResourcesView {
            cpu: r.cpu,
            memory: r.memory,
            memory_max: r.memory_max,
            unreserved: !r.declared,
            enforced: &[],
            memory_limit: None,
            cpu_weight: None,
            cpu_quota: None,
            memory_usage: None,
            cpu_seconds: None,
            cgroup: None,
            brief,
        };
        if let Some(l) = t.cgroup.as_ref().map(|c| &c.limits).or(t.limits.as_deref()) {
            out.enforced = enforced(!l.not_enforced.memory, !l.not_enforced.cpu);
            out.memory_limit = l.memory_hard;
            out.cpu_weight = l.cpu_weight;
            out.cpu_quota = l.cpu_quota;
        }
        // A container's limits are the engine's, set at its creation.
        if t.spec.driver.is_container()
            && let Some(l) = crate::drivers::docker::spec::limits(r)
        {
            out.enforced = enforced(l.memory.is_some(), true);
            out.memory_limit = l.memory;
            out.cpu_weight = Some(l.cpu_shares);
        }
        if let Some(cg) = &t.cgroup {
            let usage = cg.usage();
            out.memory_usage = usage.memory_bytes;
            out.cpu_seconds = usage.cpu_ns.map(|ns| ns as f64 / 1e9);
            out.cgroup = cg.path();
        }
        out
    }
}

impl Serialize for ResourcesView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let brief = self.brief;
        let mut st = s.serialize_struct("TaskResources", 11)?;
        st.serialize_field("cpu", &self.cpu)?;
        st.serialize_field("memory", &self.memory)?;
        if let Some(m) = self.memory_max.filter(|_| !brief) {
            st.serialize_field("memory_max", &m)?;
        }
        if self.unreserved {
            st.serialize_field("unreserved", &true)?;
        }
        st.serialize_field("enforced", self.enforced)?;
        if let Some(m) = self.memory_limit {
            st.serialize_field("memory_limit", &m)?;
        }
        if let Some(w) = self.cpu_weight.filter(|_| !brief) {
            st.serialize_field("cpu_weight", &w)?;
        }
        if let Some(q) = self.cpu_quota.filter(|_| !brief) {
            st.serialize_field("cpu_quota", &q)?;
        }
        if let Some(m) = self.memory_usage {
            st.serialize_field("memory_usage", &m)?;
        }
        if let Some(c) = self.cpu_seconds {
            st.serialize_field("cpu_seconds", &c)?;
        }
        if let Some(p) = self.cgroup.filter(|_| !brief) {
            st.serialize_field("cgroup", &Shows(p))?;
        }
        st.end()
    }
}

pub fn event(e: &TaskEvent) -> protocol::Event {
    protocol::Event { time: rfc3339(e.time), kind: e.kind.to_string(), message: e.message.to_string() }
}

#[cfg(test)]
mod tests;
