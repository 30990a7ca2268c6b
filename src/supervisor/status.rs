//! What `supctl status` shows, built from the model: a view that reads
//! jobs, instances and tasks (`task`) and changes nothing. The protocol's
//! types (`control::protocol`) are its output.

use super::task::{Instance, JobRun, Resched, TaskEvent, TaskRun, task_health};
use crate::control::protocol;
use crate::jobspec::effective;
use crate::process::Exit;
use crate::timefmt::rfc3339;
use std::time::SystemTime;

/// A job's status, with at most `events` of each task's latest events
/// (all that are kept when `None`).
pub fn job_status(
    run: &JobRun,
    filter: &dyn Fn(&Instance, Option<&TaskRun>) -> bool,
    events: Option<usize>,
) -> protocol::JobStatus {
    let groups = run
        .job
        .groups
        .iter()
        .enumerate()
        .map(|(gi, g)| protocol::GroupStatus {
            name: g.name.clone(),
            instances: run
                .instances
                .iter()
                .filter(|i| i.group == gi && (!i.removed || i.is_live()) && filter(i, None))
                .map(|i| protocol::InstanceStatus {
                    index: i.index,
                    name: i.name.clone(),
                    id: i.id.clone(),
                    status: i.status().as_str().to_string(),
                    description: i.description.map(str::to_string),
                    alloc_dir: i.dir.as_ref().map(|d| d.root().display().to_string()),
                    reschedule: reschedule_status(i, g.reschedule.as_ref()),
                    reschedule_policy: Some(effective::reschedule_line(g.reschedule.as_ref())),
                    tasks: i
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| filter(i, Some(t)))
                        .map(|(ti, t)| task_status(i, ti, t, events))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    protocol::JobStatus {
        name: run.job.id.clone(),
        job_type: run.job.job_type.as_str().to_string(),
        status: run.status().as_str().to_string(),
        file: run.file.clone(),
        groups,
        periodic: None,
        parameterized: None,
        parent: None,
    }
}

/// The instance's hand-off state, when there is anything to say.
fn reschedule_status(
    i: &Instance,
    policy: Option<&crate::jobspec::model::ReschedulePolicy>,
) -> Option<protocol::RescheduleStatus> {
    let (state, next, to, reason) = match &i.resched {
        Resched::Idle => ("none", None, None, None),
        Resched::Stay { quiet: true, .. } if i.history.is_empty() => return None,
        Resched::Stay { reason, .. } => ("stays failed", None, None, Some(reason.clone())),
        Resched::Waiting { at, .. } => ("waiting", Some(rfc3339(*at)), None, None),
        Resched::Trying(_) => ("handing off", None, None, None),
        Resched::HandedOff { peer, .. } => ("handed off", None, Some(peer.clone()), None),
    };
    if matches!(i.resched, Resched::Idle) && i.history.is_empty() {
        return None;
    }
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

fn task_status(inst: &Instance, ti: usize, t: &TaskRun, events: Option<usize>) -> protocol::TaskStatus {
    let (exit_code, signal) = match t.exit {
        Some(Exit::Code(c)) => (Some(c), None),
        Some(Exit::Signal { signal: s, .. }) => (None, Some(crate::process::signal_name(s))),
        None => (None, None),
    };
    protocol::TaskStatus {
        name: t.spec.name.clone(),
        hook: t.hook().map(|h| h.as_str().to_string()),
        state: t.state.as_str().to_string(),
        failed: t.failed,
        pid: t.pid.map(|p| p.as_raw()),
        restarts: t.restarts,
        exit_code,
        signal,
        health: task_health(inst, ti).map(|s| s.as_str().to_string()),
        checks: inst
            .checks
            .iter()
            .filter(|c| c.task == ti)
            .map(|c| protocol::CheckState {
                name: c.spec.name.clone(),
                kind: c.spec.kind.type_name().to_string(),
                status: if c.active { c.status.as_str().to_string() } else { "inactive".to_string() },
                output: c.output.clone(),
                check_restart: Some(effective::check_restart_line(&c.spec.check_restart)),
            })
            .collect(),
        started_at: t.started_at.map(rfc3339),
        finished_at: t.finished_at.map(rfc3339),
        last_restart: t.last_restart.map(rfc3339),
        events: t.events.iter().skip(t.events.len().saturating_sub(events.unwrap_or(usize::MAX))).map(event).collect(),
        restart_policy: Some(effective::restart_line(&t.spec.restart)),
        resources: Some(super::resources::task_resources(t)),
        container: t.spec.container.as_deref().map(|c| protocol::ContainerStatus {
            image: t.container.as_ref().map_or_else(|| c.image.clone(), |r| r.image.clone()),
            id: t
                .container
                .as_ref()
                .and_then(|r| r.id.as_deref())
                .map(|id| crate::drivers::docker::short(id).to_string()),
        }),
    }
}

pub fn event(e: &TaskEvent) -> protocol::Event {
    protocol::Event { time: rfc3339(e.time), kind: e.kind.to_string(), message: e.message.clone() }
}
