//! Task events as Nomad words and orders them, through the real `supd` and
//! `supctl`: every text below is compared exactly, and quoted beside it from
//! the Nomad source it comes from (hashicorp/nomad: the display messages of
//! nomad/structs/structs.go `PopulateEventDisplayMessage`, the restart
//! reasons of client/client.go `RestartAllocation`, the event flow of
//! client/allocrunner/alloc_runner.go and taskrunner/).

use crate::support::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, m)| (k.to_string(), m.to_string())).collect()
}

/// One restart by the operator, as Nomad records it: the reason
/// (`Restart Signaled`), the exit, the decision, the start. Nomad's restart
/// path (taskrunner/lifecycle.go `restartImpl`: `tr.EmitEvent(event)`, then
/// `tr.killTask(handle, waitCh)`) sends no `Killing`; `Killing` is the alloc
/// runner's, on a stop (`killTasks`).
fn restart_cycle(reason: &str) -> Vec<(String, String)> {
    pairs(&[
        // client/client.go: SetRestartReason("User requested task to restart") etc.;
        // structs.go, TaskRestartSignal: `desc = e.RestartReason`.
        ("Restart Signaled", reason),
        // structs.go, TaskTerminated: fmt.Sprintf("Exit Code: %d", e.ExitCode),
        // fmt.Sprintf("Signal: %d", e.Signal) joined by ", "; the executor
        // reports 128 + the signal as the exit code (executor.go).
        ("Terminated", "Exit Code: 130, Signal: 2"),
        // structs.go, TaskRestarting: fmt.Sprintf("Task restarting in %v", …);
        // a user restart waits 0 (restarts.go: `return structs.TaskRestarting, 0`).
        ("Restarting", "Task restarting in 0s"),
        // structs.go, TaskStarted: "Task started by client".
        ("Started", "Task started by client"),
    ])
}

/// `supctl restart` of a task and of a job, and `supctl signal`.
#[test]
fn operator_restarts_and_signals_are_recorded_in_nomads_words() {
    const T: &str = "ev/g/0/t";
    let s = Supd::new();
    s.write_job(
        "ev.hcl",
        r#"job "ev" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap '' HUP; exec sleep 1000"]
      }
    }
  }
}"#,
    );
    let s = s.start();
    let t = s.wait_running(T);
    let first = event_mark(&t);
    assert_eq!(
        events(&t),
        pairs(&[
            ("Received", "Task received by client"),
            // taskrunner/task_dir_hook.go: NewTaskEvent(TaskSetup).SetMessage(TaskBuildingTaskDir),
            // structs.go: TaskBuildingTaskDir = "Building Task Directory".
            ("Task Setup", "Building Task Directory"),
            ("Started", "Task started by client"),
        ])
    );

    // The task named: client/client.go, `if taskName != ""`:
    // SetRestartReason("User requested task to restart").
    s.supctl_ok(&["restart", T]);
    let t = s.wait_task(T, "restarted once", |t| restarts(t) == 1 && t["state"] == "running");
    assert_eq!(events_since(&t, &first), restart_cycle("User requested task to restart"), "{}", s.log());

    // No task named: client/client.go, the default case:
    // SetRestartReason("User requested running tasks to restart").
    let second = event_mark(&t);
    s.supctl_ok(&["restart", "ev"]);
    let t = s.wait_task(T, "restarted twice", |t| restarts(t) == 2 && t["state"] == "running");
    assert_eq!(events_since(&t, &second), restart_cycle("User requested running tasks to restart"), "{}", s.log());

    // alloc_runner.go, Signal: NewTaskEvent(structs.TaskSignaling).SetSignalText(signal)
    // sets neither TaskSignal nor TaskSignalReason, so structs.go shows
    // `if sig == "" && reason == "" { desc = "Task being sent a signal" }`.
    let third = event_mark(&t);
    s.supctl_ok(&["signal", T, "SIGHUP"]);
    let t = s.wait_event(T, "Signaling", |_| true);
    assert_eq!(events_since(&t, &third), pairs(&[("Signaling", "Task being sent a signal")]));
    assert_eq!(t["state"], "running", "the task ignores SIGHUP");
}

/// A main task that never started because its prestart task failed is told
/// why, as Nomad's alloc runner does for every live task runner, started or
/// not: alloc_runner.go, handleTaskStateUpdates, `killEvent =
/// structs.NewTaskEvent(structs.TaskSiblingFailed).SetFailedSibling(name)`
/// and `tr.EmitEvent(killEvent)`, then `killTasks()`, whose event goes to
/// every task not finished yet: `structs.NewTaskEvent(structs.TaskKilling).
/// SetKillTimeout(…)`. Its run loop then ends before any start, without
/// `Killed`.
#[test]
fn a_main_task_that_never_started_is_told_why() {
    let s = Supd::new();
    s.write_job(
        "pre.hcl",
        r#"job "pre" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "setup" {
      driver = "raw_exec"
      lifecycle {
        hook    = "prestart"
        sidecar = false
      }
      config {
        command = "/bin/false"
      }
    }
    task "main" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "touch @DIR@/main-ran; exec sleep 1000"]
      }
    }
  }
}"#,
    );
    let s = s.start();
    let st = s.wait_status("both tasks are dead", |st| {
        ["pre/g/0/setup", "pre/g/0/main"].iter().all(|t| task(st, t).is_some_and(|t| t["state"] == "dead"))
    });
    let setup = task(&st, "pre/g/0/setup").expect("setup");
    assert_eq!(
        events(setup).last().cloned(),
        // restarts.go: ReasonNoRestartsAllowed = "Policy allows no restarts".
        Some(("Not Restarting".to_string(), "Policy allows no restarts".to_string()))
    );
    let main = task(&st, "pre/g/0/main").expect("main");
    assert_eq!(
        events(main),
        pairs(&[
            // structs.go, TaskReceived: "Task received by client".
            ("Received", "Task received by client"),
            // structs.go, TaskSiblingFailed: fmt.Sprintf("Task's sibling %q failed", e.FailedSibling).
            ("Sibling Task Failed", "Task's sibling \"setup\" failed"),
            // structs.go, TaskKilling: fmt.Sprintf("Sent interrupt. Waiting %v before force killing", e.KillTimeout),
            // with the default kill_timeout of 5s.
            ("Killing", "Sent interrupt. Waiting 5s before force killing"),
        ]),
        "{}",
        s.log()
    );
    assert_eq!((main["failed"].as_bool(), main["pid"].as_i64()), (Some(false), None));
    assert_eq!(instance(&st, "pre/g/0").expect("instance")["status"], "failed");
    assert!(!s.path("main-ran").exists(), "the main task never started");
}
