//! What a request targets, resolved (`Selection`: a job, a group, an
//! instance, a task) and which events a client follows (`EventFilter`). A
//! leaf: the control requests (`targets.rs`), the status views
//! (`status.rs`) and the server's followers (`server.rs`) all use these.

use crate::control::protocol::EventLine;

/// Which task events a client asked for: of the selected tasks, of these
/// types, of tasks of this name; everything when empty.
#[derive(Debug, Clone, Default)]
pub(in crate::supervisor) struct EventFilter {
    pub selection: Option<Selection>,
    pub types: Vec<String>,
    pub task: Option<String>,
}

impl EventFilter {
    pub(super) fn new(selection: Option<Selection>, types: Vec<String>, task: Option<String>) -> EventFilter {
        EventFilter { selection, types, task }
    }

    /// Whether it lets everything through.
    pub(in crate::supervisor) fn is_empty(&self) -> bool {
        self.selection.is_none() && self.types.is_empty() && self.task.is_none()
    }

    pub(in crate::supervisor) fn matches_line(&self, l: &EventLine) -> bool {
        self.selection.as_ref().is_none_or(|s| s.matches_line(l))
            && (self.types.is_empty() || self.types.iter().any(|t| t.eq_ignore_ascii_case(&l.event.kind)))
            && self.task.as_ref().is_none_or(|t| &l.task == t)
    }
}

/// A resolved status/restart/signal/events target.
#[derive(Debug, Clone)]
pub(in crate::supervisor) struct Selection {
    pub(super) job: String,
    pub(super) group: Option<String>,
    pub(super) index: Option<u32>,
    pub(super) task: Option<String>,
}

impl Selection {
    pub(in crate::supervisor) fn matches(
        &self,
        run: &crate::supervisor::task::JobRun,
        inst: &crate::supervisor::task::Instance,
        task: Option<&crate::supervisor::task::TaskRun>,
    ) -> bool {
        if inst.removed {
            return false;
        }
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
    pub(super) fn matches_line(&self, l: &EventLine) -> bool {
        l.job == self.job
            && self.group.as_ref().is_none_or(|g| &l.group == g)
            && self.index.is_none_or(|i| l.index == i)
            && self.task.as_ref().is_none_or(|t| &l.task == t)
    }
}
