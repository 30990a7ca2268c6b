//! Every job supd knows: each job's versions (`JobRun`, by serial: the
//! current one and those retired but still stopping), which one is current,
//! the jobs the operator stopped, and the files of the job directory that
//! did not load. What is asked of all jobs at once is answered here: the
//! summary line for systemd, whether everything has ended, how long the
//! last kill may take.

use super::task::{Instance, InstanceStatus, JobRun, Resched, State, TaskKey, TaskRun};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug)]
pub struct Jobs {
    /// Every job version with live processes, current or retired.
    /// Boxed: a map node then holds 11 pointers, not 11 runs of ~0.5 KiB
    /// each (half empty after in-order inserts).
    pub runs: BTreeMap<u64, Box<JobRun>>,
    /// Job ID -> the serial of its current version.
    pub current: BTreeMap<String, u64>,
    next_serial: u64,
    /// Jobs the operator stopped: they stay stopped across reloads and
    /// restarts.
    pub stopped: BTreeSet<String>,
    /// Files of the job directory that failed to load, with their problems.
    pub load_errors: BTreeMap<String, Vec<String>>,
}

impl Default for Jobs {
    fn default() -> Jobs {
        Jobs {
            runs: BTreeMap::new(),
            current: BTreeMap::new(),
            next_serial: 1,
            stopped: BTreeSet::new(),
            load_errors: BTreeMap::new(),
        }
    }
}

impl Jobs {
    /// The serial for a new job version: never used before.
    pub fn next_serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial - 1
    }

    pub fn task(&self, key: TaskKey) -> Option<&TaskRun> {
        self.runs.get(&key.run)?.instances.get(key.inst)?.tasks.get(key.task)
    }

    pub fn task_mut(&mut self, key: TaskKey) -> Option<&mut TaskRun> {
        self.runs.get_mut(&key.run)?.instances.get_mut(key.inst)?.tasks.get_mut(key.task)
    }

    /// The current version of every job.
    pub fn current_runs(&self) -> impl Iterator<Item = &JobRun> {
        self.current.values().filter_map(|s| self.runs.get(s).map(|r| &**r))
    }

    /// `3 running, 1 pending, 0 failed` over every task, for systemd's
    /// STATUS.
    pub fn status_line(&self) -> String {
        let (mut running, mut pending, mut failed) = (0, 0, 0);
        for t in self.current_runs().flat_map(|r| &r.instances).filter(|i| !i.removed).flat_map(|i| &i.tasks) {
            match t.state {
                State::Running => running += 1,
                State::Pending => pending += 1,
                State::Dead if t.failed => failed += 1,
                State::Dead => {}
            }
        }
        format!("{running} running, {pending} pending, {failed} failed")
    }

    /// No version of any job has a process or a scheduled start.
    pub fn nothing_live(&self) -> bool {
        self.runs.values().all(|r| !r.instances.iter().any(Instance::is_live))
    }

    /// Every current job has ended: no task runs or waits to start, and no
    /// hand-off is pending.
    pub fn all_done(&self) -> bool {
        let handing_off = |i: &Instance| matches!(i.resched, Resched::Waiting { .. } | Resched::Trying(_));
        // An enabled periodic job is never done: it launches again; nor is
        // a parameterized one, which waits for dispatches.
        let launches = |r: &JobRun| {
            !r.stopped && (r.job.periodic.as_ref().is_some_and(|p| p.enabled) || r.job.parameterized.is_some())
        };
        self.runs.values().all(|r| !r.instances.iter().any(|i| i.is_live() || handing_off(i)))
            && self.current_runs().all(|r| r.instances.iter().all(|i| i.tasks.iter().all(|t| t.state == State::Dead)))
            && !self.current_runs().any(launches)
    }

    /// Every instance of every current job completed (with --exit-when-done
    /// supd's exit status says so).
    pub fn all_complete(&self) -> bool {
        self.current_runs().all(|r| r.instances.iter().all(|i| i.removed || i.status() == InstanceStatus::Complete))
    }

    /// Every task of every run, in order.
    pub fn task_keys(&self) -> Vec<TaskKey> {
        let mut keys = Vec::new();
        for (serial, run) in &self.runs {
            for (inst, i) in run.instances.iter().enumerate() {
                keys.extend((0..i.tasks.len()).map(|task| TaskKey { run: *serial, inst, task }));
            }
        }
        keys
    }

    /// supd's exit status once every job has ended (`--exit-when-done`):
    /// 0 when every instance completed; else the exit code of the first
    /// task that failed (jobs in the order they came, then instances and
    /// tasks in order), a signal as 128 + its number, as tini and
    /// dumb-init pass a single child's on; 1 when that task has no exit
    /// code of its own (it could not start, or exited 0 and was failed by
    /// a sibling).
    pub fn exit_code(&self) -> i32 {
        if self.all_complete() {
            return 0;
        }
        let mut runs: Vec<&JobRun> = self.current_runs().collect();
        runs.sort_by_key(|r| r.serial);
        let failed = runs
            .into_iter()
            .flat_map(|r| r.instances.iter().filter(|i| !i.removed))
            .flat_map(|i| &i.tasks)
            .find(|t| t.failed);
        match failed.and_then(|t| t.exit) {
            Some(crate::process::Exit::Code(c)) if c != 0 => c,
            Some(crate::process::Exit::Signal { signal, .. }) => 128 + signal,
            _ => 1,
        }
    }

    /// The longest kill_timeout of any task: how long the last SIGTERM of
    /// an init waits before SIGKILL.
    pub fn longest_kill_timeout(&self) -> Duration {
        self.runs
            .values()
            .flat_map(|r| r.job.groups.iter().flat_map(|g| &g.tasks))
            .map(|t| t.kill_timeout)
            .max()
            .unwrap_or(Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(serial: u64, hcl: &str) -> JobRun {
        super::super::task::tests::job_run_of(serial, hcl)
    }

    const TWO_TASKS: &str = r#"job "web" {
  group "g" {
    task "a" {
      driver = "raw_exec"
      kill_timeout = "9s"
      config { command = "/bin/true" }
    }
    task "b" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}"#;

    fn jobs_with(r: JobRun) -> Jobs {
        let mut jobs = Jobs::default();
        let serial = jobs.next_serial();
        jobs.current.insert(r.job.id.clone(), serial);
        jobs.runs.insert(serial, Box::new(JobRun { serial, ..r }));
        jobs
    }

    #[test]
    fn the_summary_counts_the_tasks_of_current_jobs_by_state() {
        let mut jobs = jobs_with(run(0, TWO_TASKS));
        assert_eq!(jobs.status_line(), "0 running, 2 pending, 0 failed");
        let key = |task| TaskKey { run: 1, inst: 0, task };
        jobs.task_mut(key(0)).expect("task a").state = State::Running;
        let b = jobs.task_mut(key(1)).expect("task b");
        b.state = State::Dead;
        b.failed = true;
        assert_eq!(jobs.status_line(), "1 running, 0 pending, 1 failed");
        assert!(!jobs.all_done(), "a task still runs");
        assert!(!jobs.all_complete(), "one failed");
    }

    #[test]
    fn all_done_once_every_task_is_dead_and_complete_only_without_failures() {
        let mut jobs = jobs_with(run(0, TWO_TASKS));
        for task in 0..2 {
            jobs.task_mut(TaskKey { run: 1, inst: 0, task }).expect("a task").state = State::Dead;
        }
        assert!(jobs.all_done());
        assert!(jobs.all_complete());
        assert!(jobs.nothing_live());
        assert_eq!(jobs.longest_kill_timeout(), Duration::from_secs(9), "task a's kill_timeout");
    }

    #[test]
    fn the_exit_code_is_the_first_failed_tasks() {
        let mut jobs = jobs_with(run(0, TWO_TASKS));
        let key = |task| TaskKey { run: 1, inst: 0, task };
        for task in 0..2 {
            jobs.task_mut(key(task)).expect("a task").state = State::Dead;
        }
        assert_eq!(jobs.exit_code(), 0, "every instance completed");
        for (exit, code) in [
            (Some(crate::process::Exit::Code(3)), 3),
            (Some(crate::process::Exit::Signal { signal: 9, core_dumped: false }), 137),
            (None, 1),
        ] {
            let b = jobs.task_mut(key(1)).expect("task b");
            b.failed = true;
            b.exit = exit;
            assert_eq!(jobs.exit_code(), code, "{exit:?}");
        }
    }

    #[test]
    fn serials_are_never_reused() {
        let mut jobs = Jobs::default();
        let a = jobs.next_serial();
        assert_ne!(a, jobs.next_serial());
    }
}
