//! What a request's target names: a job, a group, an instance or a task
//! (`Selection`), the one task of `logs`, the tasks a `restart` or
//! `signal` acts on, and which events a client follows (`EventFilter`).

use super::selection::Selection;
use crate::supervisor::errors::TargetError;
use crate::supervisor::output::LogPath;
use crate::supervisor::{Supervisor, TaskKey};

impl Supervisor {
    pub(in crate::supervisor) fn unknown_job(&self, job: &str) -> TargetError {
        let hint = crate::jobspec::diag::did_you_mean(job, self.jobs.current.keys().map(String::as_str))
            .map_or(String::new(), |s| format!(" — did you mean {s:?}?"));
        TargetError::NoJob { job: job.to_string(), hint }
    }

    /// `JOB`, `JOB/GROUP`, `JOB/GROUP/INDEX`, `JOB/GROUP/INDEX/TASK`,
    /// `JOB/GROUP/TASK` or Nomad's instance name `JOB.GROUP[INDEX]`.
    pub(super) fn resolve(&self, target: &str) -> Result<Selection, TargetError> {
        let mut parts: Vec<String> = target.split('/').map(str::to_string).collect();
        // A launched run's ID holds a `/`: `JOB/periodic-T`.
        if parts.len() > 1 && self.jobs.current.contains_key(&format!("{}/{}", parts[0], parts[1])) {
            let second = parts.remove(1);
            parts[0] = format!("{}/{second}", parts[0]);
        }
        if let Some((head, rest)) = target.split_once('[')
            && let Some(index) = rest.strip_suffix(']')
            && let Some((job, group)) = head.rsplit_once('.')
            && (parts.len() == 1 || self.jobs.current.contains_key(job))
        {
            parts = vec![job.into(), group.into(), index.into()];
        }
        let job = parts[0].clone();
        let run =
            self.jobs.current.get(&job).and_then(|s| self.jobs.runs.get(s)).ok_or_else(|| self.unknown_job(&job))?;
        let mut sel = Selection { job, group: None, index: None, task: None };
        if let Some(g) = parts.get(1) {
            let Some(group) = run.job.groups.iter().find(|x| &x.name == g) else {
                return Err(TargetError::NoGroup { job: sel.job, group: g.clone() });
            };
            sel.group = Some(g.clone());
            let mut rest = &parts[2..];
            if let Some(first) = rest.first()
                && let Ok(i) = first.parse::<u32>()
            {
                if i >= group.count {
                    return Err(TargetError::NoIndex { group: g.clone(), last: group.count.saturating_sub(1) });
                }
                sel.index = Some(i);
                rest = &rest[1..];
            }
            if let Some(t) = rest.first() {
                if !group.tasks.iter().any(|x| &x.name == t) {
                    return Err(TargetError::NoTask { group: g.clone(), task: t.clone() });
                }
                sel.task = Some(t.clone());
            }
            if rest.len() > 1 {
                return Err(TargetError::Malformed(target.to_string()));
            }
        }
        Ok(sel)
    }

    /// One task's stream for `logs`: the group, index and task may each be
    /// left out when there is only one to choose.
    pub(super) fn log_target(&self, target: &str, stderr: bool) -> Result<LogPath, TargetError> {
        let sel = self.resolve(target)?;
        let run = &self.jobs.runs[&self.jobs.current[&sel.job]];
        let gname = match sel.group {
            Some(g) => g,
            None if run.job.groups.len() == 1 => run.job.groups[0].name.clone(),
            None => {
                let choices = run.job.groups.iter().map(|g| format!("{}/{}", sel.job, g.name)).collect();
                return Err(TargetError::SeveralGroups { job: sel.job, choices });
            }
        };
        let Some(group) = run.job.groups.iter().find(|g| g.name == gname) else {
            return Err(TargetError::NoGroup { job: sel.job, group: gname });
        };
        let index = match sel.index {
            Some(i) => i,
            None if group.count == 1 => 0,
            None => return Err(TargetError::SeveralInstances { job: sel.job, group: gname, count: group.count }),
        };
        let task = match sel.task {
            Some(t) => t,
            None if group.tasks.len() == 1 => group.tasks[0].name.clone(),
            None => {
                let tasks = group.tasks.iter().map(|t| t.name.clone()).collect();
                return Err(TargetError::SeveralTasks { job: sel.job, group: gname, index, tasks });
            }
        };
        Ok(LogPath { job: sel.job, group: gname, index, task, stream: crate::logs::Stream::from_stderr(stderr) })
    }

    pub(super) fn selected_tasks(&self, target: &str) -> Result<Vec<TaskKey>, TargetError> {
        let sel = self.resolve(target)?;
        let serial = self.jobs.current[&sel.job];
        let run = &self.jobs.runs[&serial];
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
}
