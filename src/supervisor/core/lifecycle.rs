//! An instance's task state machine, decided without processes: which tasks
//! start now (prestart → main → poststart, poststop last), which end
//! without having run, what one task's end does to its siblings (reference
//! §5: leader, sibling failure, main tasks dead), how a stop tears an
//! instance down, and what the restart policy's answer becomes while it
//! does. Each function reads the model and returns what to do; `run.rs`
//! carries it out (signals, starts, timers). Unit-tested below with tasks
//! whose states are set by hand, as the loop would set them.

use crate::jobspec::model::Hook;
use crate::policy::restart::{Decision, Outcome};
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{Instance, State, TaskRun};

/// The tasks whose turn has come.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// Start these now (indices into the instance's tasks).
    pub start: Vec<usize>,
    /// These can never start now, the instance going away: they end
    /// without having run.
    pub never_run: Vec<usize>,
}

/// Which tasks start now: prestart tasks first; main tasks once every
/// prestart task has completed (a prestart sidecar: once it runs);
/// poststart tasks once every main task runs; poststop tasks once every
/// other task is dead. While the instance winds down only poststop tasks
/// start; the others that never started end unstarted.
pub fn turn(tasks: &[TaskRun], winding_down: bool) -> Turn {
    let prestart_done = tasks
        .iter()
        .filter(|t| t.hook() == Some(Hook::Prestart))
        .all(|t| if t.sidecar() { t.state == State::Running } else { t.state == State::Dead && !t.failed });
    let main_running = tasks.iter().filter(|t| t.is_main()).all(|t| t.state == State::Running);
    let others_dead = tasks.iter().filter(|t| t.hook() != Some(Hook::Poststop)).all(|t| t.state == State::Dead);
    let mut turn = Turn::default();
    for (ti, t) in tasks.iter().enumerate() {
        if t.launched {
            continue;
        }
        if winding_down && t.hook() != Some(Hook::Poststop) {
            turn.never_run.push(ti);
            continue;
        }
        // A process a previous supd left must be gone first.
        if t.leftover.is_some() {
            continue;
        }
        let ready = match t.hook() {
            Some(Hook::Poststop) => others_dead,
            Some(Hook::Prestart) => true,
            None => prestart_done,
            Some(Hook::Poststart) => main_running,
        };
        if ready {
            turn.start.push(ti);
        }
    }
    turn
}

/// Whether task `task` may not start now although its start is due: a
/// poststop task runs only once every other task is dead, and the others
/// can live again (an operator's restart of a dead task) while its own
/// restart is due.
pub fn waits_for_others(tasks: &[TaskRun], task: usize) -> bool {
    tasks.get(task).is_some_and(|t| t.hook() == Some(Hook::Poststop))
        && tasks.iter().any(|t| t.hook() != Some(Hook::Poststop) && t.state != State::Dead)
}

/// Why an instance is torn down: the event each of its live tasks gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub kind: crate::supervisor::task::EventKind,
    pub message: String,
}

/// What the end for good of task `task` does to its siblings: `Some` when
/// the instance must now be torn down (a task failed, the leader died, or
/// every main task is dead while sidecars still run), `None` when the
/// others go on (or the instance is already winding down).
pub fn coupling(instance: &Instance, task: usize) -> Option<Reason> {
    if instance.winding_down {
        return None;
    }
    let t = instance.tasks.get(task)?;
    if t.failed && t.hook() != Some(Hook::Poststop) {
        Some(Reason { kind: EventKind::SiblingTaskFailed, message: format!("Task's sibling {:?} failed", t.spec.name) })
    } else if t.spec.leader {
        Some(Reason { kind: EventKind::LeaderTaskDead, message: "Leader Task in Group dead".into() })
    } else if instance.tasks.iter().filter(|x| x.is_main()).all(|x| x.state == State::Dead)
        && instance.tasks.iter().any(|x| x.sidecar() && x.state != State::Dead)
    {
        Some(Reason { kind: EventKind::MainTasksDead, message: "Main tasks in the group died".into() })
    } else {
        None
    }
}

/// What tearing an instance down does to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// It runs: stop it (kill signal, then SIGKILL), for good.
    Stop,
    /// It waits for its (re)start: cancel that; it ends without running.
    Cancel,
}

/// How an instance is torn down, task by task. Tasks already dead, and
/// poststop tasks not yet running (their turn comes once the others are
/// dead), are left alone.
pub fn teardown(tasks: &[TaskRun]) -> Vec<(usize, Teardown)> {
    tasks
        .iter()
        .enumerate()
        .filter_map(|(ti, t)| match t.state {
            State::Running => Some((ti, Teardown::Stop)),
            State::Pending if t.hook() == Some(Hook::Poststop) => None,
            State::Pending => Some((ti, Teardown::Cancel)),
            State::Dead => None,
        })
        .collect()
}

/// The restart policy's decision for a task whose instance is being torn
/// down: nothing restarts then; a failure stays a failure, a success a
/// completion, a stop a kill.
pub fn while_winding_down(decision: Decision, outcome: Outcome) -> Decision {
    if !matches!(decision, Decision::Restart { .. }) {
        return decision;
    }
    match outcome {
        Outcome::Exited { success: false }
        | Outcome::StartError { .. }
        | Outcome::FailureRestart { success: false } => {
            Decision::Fail { reason: "The instance is stopping: not restarting".into() }
        }
        Outcome::Exited { success: true } | Outcome::FailureRestart { success: true } => Decision::Complete,
        Outcome::UserRestart | Outcome::Killed => Decision::Killed,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::policy::restart::RestartReason;
    use std::time::Duration;

    /// An instance of the job's first group, every task pending.
    pub(in crate::supervisor::core) fn instance(tasks: &str) -> Instance {
        let hcl = format!("job \"j\" {{\n  group \"g\" {{\n{tasks}\n  }}\n}}\n");
        crate::supervisor::task::tests::instance_of(&hcl)
    }

    pub(in crate::supervisor::core) fn task(name: &str, extra: &str) -> String {
        format!(
            "    task \"{name}\" {{\n      driver = \"raw_exec\"\n      config {{ command = \"true\" }}\n{extra}\n    }}\n"
        )
    }

    pub(in crate::supervisor::core) fn hook(h: &str, sidecar: bool) -> String {
        format!("      lifecycle {{\n        hook = \"{h}\"\n        sidecar = {sidecar}\n      }}")
    }

    /// Marks the tasks of `start` as started and running, as the loop does.
    fn run(i: &mut Instance, start: &[usize]) {
        for &ti in start {
            i.tasks[ti].launched = true;
            i.tasks[ti].state = State::Running;
        }
    }

    fn end(i: &mut Instance, ti: usize, failed: bool) {
        i.tasks[ti].state = State::Dead;
        i.tasks[ti].failed = failed;
    }

    fn names(i: &Instance, idx: &[usize]) -> Vec<String> {
        idx.iter().map(|&ti| i.tasks[ti].spec.name.clone()).collect()
    }

    /// The four hooks (ordered by Nomad's lifecycle), each in turn.
    #[test]
    fn tasks_start_prestart_then_main_then_poststart_then_poststop() {
        let mut i = instance(
            &[
                task("post", &hook("poststart", false)),
                task("main", ""),
                task("stop", &hook("poststop", false)),
                task("pre", &hook("prestart", false)),
            ]
            .concat(),
        );
        let t = turn(&i.tasks, false);
        assert_eq!(names(&i, &t.start), ["pre"]);
        run(&mut i, &t.start);
        assert!(turn(&i.tasks, false).start.is_empty(), "main waits for prestart to complete");
        end(&mut i, 3, false);
        let t = turn(&i.tasks, false);
        assert_eq!(names(&i, &t.start), ["main"]);
        run(&mut i, &t.start);
        let t = turn(&i.tasks, false);
        assert_eq!(names(&i, &t.start), ["post"]);
        run(&mut i, &t.start);
        assert!(turn(&i.tasks, false).start.is_empty(), "poststop waits for every other task");
        end(&mut i, 0, false);
        end(&mut i, 1, false);
        let t = turn(&i.tasks, false);
        assert_eq!(names(&i, &t.start), ["stop"]);
    }

    #[test]
    fn a_failed_prestart_task_keeps_main_tasks_from_starting() {
        let mut i = instance(&[task("pre", &hook("prestart", false)), task("main", "")].concat());
        run(&mut i, &[0]);
        end(&mut i, 0, true);
        assert!(turn(&i.tasks, false).start.is_empty());
    }

    #[test]
    fn a_prestart_sidecar_lets_main_tasks_start_once_it_runs() {
        let mut i = instance(&[task("side", &hook("prestart", true)), task("main", "")].concat());
        let t = turn(&i.tasks, false);
        assert_eq!(names(&i, &t.start), ["side"]);
        run(&mut i, &t.start);
        assert_eq!(names(&i, &turn(&i.tasks, false).start), ["main"]);
    }

    #[test]
    fn a_task_left_by_a_previous_supd_waits_until_its_process_is_gone() {
        let mut i = instance(&task("main", ""));
        i.tasks[0].leftover = Some(nix::unistd::Pid::from_raw(12345));
        assert_eq!(turn(&i.tasks, false), Turn::default());
        i.tasks[0].leftover = None;
        assert_eq!(turn(&i.tasks, false).start, [0]);
    }

    #[test]
    fn winding_down_starts_only_poststop_and_ends_the_rest_unstarted() {
        let mut i = instance(
            &[task("pre", &hook("prestart", false)), task("main", ""), task("stop", &hook("poststop", false))].concat(),
        );
        run(&mut i, &[0]);
        end(&mut i, 0, true);
        let t = turn(&i.tasks, true);
        assert_eq!(names(&i, &t.never_run), ["main"]);
        assert!(t.start.is_empty(), "poststop waits until main has ended: {t:?}");
        end(&mut i, 1, false);
        i.tasks[1].launched = true;
        let t = turn(&i.tasks, true);
        assert_eq!(names(&i, &t.start), ["stop"]);
        assert!(t.never_run.is_empty());
    }

    #[test]
    fn a_failed_task_tears_its_siblings_down() {
        let mut i = instance(&[task("a", ""), task("b", "")].concat());
        run(&mut i, &[0, 1]);
        end(&mut i, 0, true);
        let why = coupling(&i, 0).expect("the instance winds down");
        assert_eq!(why.kind, EventKind::SiblingTaskFailed);
        assert_eq!(why.message, "Task's sibling \"a\" failed");
        assert_eq!(teardown(&i.tasks), [(1, Teardown::Stop)]);
    }

    #[test]
    fn a_failed_poststop_task_does_not_count_as_a_sibling_failure() {
        let mut i = instance(&[task("a", ""), task("stop", &hook("poststop", false))].concat());
        end(&mut i, 0, false);
        run(&mut i, &[1]);
        end(&mut i, 1, true);
        assert_eq!(coupling(&i, 1), None);
    }

    #[test]
    fn the_leader_ending_well_still_tears_the_others_down() {
        let mut i = instance(&[task("lead", "      leader = true"), task("b", "")].concat());
        run(&mut i, &[0, 1]);
        end(&mut i, 0, false);
        assert_eq!(coupling(&i, 0).map(|r| r.kind), Some(EventKind::LeaderTaskDead));
    }

    #[test]
    fn a_completed_task_leaves_its_running_siblings_alone() {
        let mut i = instance(&[task("a", ""), task("b", "")].concat());
        run(&mut i, &[0, 1]);
        end(&mut i, 0, false);
        assert_eq!(coupling(&i, 0), None);
    }

    #[test]
    fn sidecars_are_stopped_once_every_main_task_is_dead() {
        let mut i = instance(&[task("side", &hook("poststart", true)), task("a", ""), task("b", "")].concat());
        run(&mut i, &[0, 1, 2]);
        end(&mut i, 1, false);
        assert_eq!(coupling(&i, 1), None, "b still runs");
        end(&mut i, 2, false);
        assert_eq!(coupling(&i, 2).map(|r| r.kind), Some(EventKind::MainTasksDead));
        assert_eq!(teardown(&i.tasks), [(0, Teardown::Stop)]);
    }

    #[test]
    fn nothing_couples_twice_while_winding_down() {
        let mut i = instance(&[task("a", ""), task("b", "")].concat());
        run(&mut i, &[0, 1]);
        i.winding_down = true;
        end(&mut i, 0, true);
        assert_eq!(coupling(&i, 0), None);
    }

    #[test]
    fn teardown_stops_running_tasks_cancels_waiting_ones_and_keeps_poststop_for_last() {
        let mut i = instance(
            &[task("run", ""), task("wait", ""), task("done", ""), task("stop", &hook("poststop", false))].concat(),
        );
        run(&mut i, &[0, 1, 2]);
        i.tasks[1].state = State::Pending; // waiting out its restart delay
        end(&mut i, 2, false);
        assert_eq!(teardown(&i.tasks), [(0, Teardown::Stop), (1, Teardown::Cancel)]);
        // Shutdown order: poststop starts once the stopped ones are dead.
        end(&mut i, 0, false);
        end(&mut i, 1, false);
        assert_eq!(turn(&i.tasks, true).start, [3]);
    }

    #[test]
    fn a_running_poststop_task_is_stopped_too() {
        let mut i = instance(&[task("a", ""), task("stop", &hook("poststop", false))].concat());
        end(&mut i, 0, false);
        run(&mut i, &[1]);
        assert_eq!(teardown(&i.tasks), [(1, Teardown::Stop)]);
    }

    #[test]
    fn nothing_restarts_while_the_instance_winds_down() {
        let restart = || Decision::Restart { delay: Duration::from_secs(1), reason: RestartReason::WithinPolicy };
        let cases = [
            (Outcome::Exited { success: false }, "fail"),
            (Outcome::StartError { recoverable: true }, "fail"),
            (Outcome::FailureRestart { success: false }, "fail"),
            (Outcome::Exited { success: true }, "complete"),
            (Outcome::FailureRestart { success: true }, "complete"),
            (Outcome::UserRestart, "killed"),
            (Outcome::Killed, "killed"),
        ];
        for (outcome, want) in cases {
            let got = match while_winding_down(restart(), outcome) {
                Decision::Fail { reason } => {
                    assert_eq!(reason, "The instance is stopping: not restarting");
                    "fail"
                }
                Decision::Complete => "complete",
                Decision::Killed => "killed",
                Decision::Restart { .. } => "restart",
            };
            assert_eq!(got, want, "{outcome:?}");
        }
        // Other decisions stand.
        assert_eq!(while_winding_down(Decision::Complete, Outcome::Exited { success: false }), Decision::Complete);
    }
}
