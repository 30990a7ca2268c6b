//! Periodic jobs, as Nomad's periodic dispatcher runs them: the job itself
//! runs nothing; at each instant of its schedule a copy of it is launched
//! as a job of its own, `JOB/periodic-<unix time>`, listed under the job;
//! the run carries its parent and launch time (`identity::Launch`), made
//! here with its ID.
//! With `prohibit_overlap`, a launch is skipped while an earlier one still
//! runs. Each launch is a timer on the loop's heap (`Timer::Launch`).
//!
//! The last launch is saved (fsync'd) with each launch: after a restart of
//! supd, an instant missed while it was down is launched once, at once
//! (however many were missed, as Nomad's leader does on its restore), and
//! one already launched is not launched again. The launched runs are saved
//! too, and come back with their tasks' states.

use super::Supervisor;
use super::identity::{Launch, LaunchKind};
use super::run::Source;
use super::task::{Instance, JobRun};
use super::timers::Timer;
use crate::control::protocol::{self, Response};
use crate::jobspec::Job;
use crate::jobspec::periodic::Schedule;
use crate::state::{LaunchedSaved, PeriodicSaved};
use crate::timefmt::rfc3339;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Launched runs kept per periodic job once they have ended, unless
/// supd.toml's `keep_ended_runs` says otherwise; older ones are forgotten
/// as a new one ends.
pub const KEEP_ENDED: usize = 10;

/// A launch timer that fires this much before its instant by the wall
/// clock (the clock was set back) waits again.
const EARLY: Duration = Duration::from_millis(20);

/// Why a periodic job's launch is not made.
#[derive(Debug, thiserror::Error)]
enum LaunchRefused {
    /// A run of that instant's ID exists (two launches in one second).
    #[error("{0} was launched already — launch again in a second")]
    Again(String),
    #[error("no job {0:?}")]
    NoJob(String),
}

/// Every periodic job's schedule.
#[derive(Default)]
pub(super) struct Launches {
    by_job: BTreeMap<String, Entry>,
    /// Last launches a previous supd saved, until their job is submitted.
    saved: HashMap<String, SystemTime>,
}

struct Entry {
    /// The version of the job the schedule belongs to.
    serial: u64,
    /// Bumped to cancel the armed launch timer.
    generation: u64,
    schedule: Option<Schedule>,
    /// The next launch, while one is armed.
    next: Option<SystemTime>,
    /// The last launch, or when the job was first seen.
    last: SystemTime,
}

/// The run launched from `job` under `id`: a copy that is not periodic, its
/// name its ID (as Nomad's `deriveJob`).
fn derive(mut job: Job, id: &str) -> Job {
    job.id = id.to_string();
    job.name = id.to_string();
    job.periodic = None;
    job
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Supervisor {
    /// At start: the last launches and the launched runs a previous supd
    /// saved (the runs come back with their tasks' saved states).
    pub(super) fn restore_periodic(&mut self, saved: Vec<PeriodicSaved>) {
        for p in saved {
            self.pending.launches.saved.insert(p.job.clone(), UNIX_EPOCH + Duration::from_millis(p.last_launch_ms));
            for l in p.launched {
                // The state file names the run by its ID only.
                let Some(launch) = Launch::parse(&l.id).filter(|x| x.kind() == LaunchKind::Periodic) else {
                    log::error!("the saved run {} is not named as a periodic launch is; it is dropped", l.id);
                    continue;
                };
                let parsed = crate::jobspec::parse_str(&l.id, &l.source);
                match parsed.jobs.into_iter().next() {
                    Some(job) if parsed.diagnostics.iter().all(|d| d.severity != crate::jobspec::Severity::Error) => {
                        let name = format!("a launch of {}", p.job);
                        self.submit(derive(job, &l.id), Source::Launched { name, launch });
                    }
                    _ => log::error!("the saved run {} no longer loads; it is dropped", l.id),
                }
            }
        }
    }

    /// What is saved of every periodic job.
    pub(super) fn periodic_saved(&self) -> Vec<PeriodicSaved> {
        let mut out: Vec<PeriodicSaved> = self
            .pending
            .launches
            .by_job
            .iter()
            .map(|(id, e)| PeriodicSaved {
                job: id.clone(),
                last_launch_ms: unix_ms(e.last),
                launched: self
                    .launched_runs(id)
                    .into_iter()
                    .map(|r| LaunchedSaved { id: r.job.id.clone(), source: r.job.source.clone() })
                    .collect(),
            })
            .collect();
        // Jobs not back yet (their file does not load now) keep theirs.
        for (id, last) in &self.pending.launches.saved {
            if !self.pending.launches.by_job.contains_key(id) {
                out.push(PeriodicSaved { job: id.clone(), last_launch_ms: unix_ms(*last), launched: Vec::new() });
            }
        }
        out
    }

    /// The runs launched from periodic job `id`, oldest first.
    pub(super) fn launched_runs(&self, id: &str) -> Vec<&JobRun> {
        self.runs_under(id, LaunchKind::Periodic)
    }

    /// The runs of job `id` launched or dispatched (`kind`) from it, oldest
    /// first. Their IDs are one range of the current IDs, in order.
    fn runs_under(&self, id: &str, kind: LaunchKind) -> Vec<&JobRun> {
        let prefix = kind.id_prefix(id);
        let mut runs: Vec<&JobRun> = self
            .jobs
            .current
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, s)| self.jobs.runs.get(s).map(|r| &**r))
            .filter(|r| r.launch.as_ref().is_some_and(|l| l.kind() == kind && l.parent() == id))
            .collect();
        runs.sort_by_key(|r| r.launch.as_deref().map(Launch::at));
        runs
    }

    /// A job was submitted as version `serial`: a periodic one gets its
    /// schedule (again), and the first time after a restart of supd, the
    /// launch it missed meanwhile.
    pub(super) fn periodic_submitted(&mut self, serial: u64) {
        self.forget_empty_version(serial);
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let id = run.job.id.clone();
        let Some(p) = run.job.periodic.clone() else {
            self.pending.launches.by_job.remove(&id);
            return;
        };
        let now = SystemTime::now();
        let schedule = match Schedule::new(&p) {
            Ok(s) => Some(s),
            Err(e) => {
                log::error!("periodic job {id:?}: {e}; it launches nothing");
                None
            }
        };
        let restored = self.pending.launches.saved.remove(&id);
        let catch_up = restored.is_some() && !self.pending.launches.by_job.contains_key(&id);
        let e = self.pending.launches.by_job.entry(id.clone()).or_insert(Entry {
            serial,
            generation: 0,
            schedule: None,
            next: None,
            last: restored.unwrap_or(now),
        });
        e.serial = serial;
        e.generation += 1;
        e.schedule = schedule;
        e.next = None;
        let missed = e.schedule.as_ref().and_then(|s| s.next_after(e.last)).is_some_and(|t| t <= now);
        if !p.enabled || run.stopped {
            return;
        }
        if catch_up && missed {
            if p.prohibit_overlap && self.launch_running(&id) {
                log::info!(
                    "periodic job {id:?}: the launch missed while supd was down is skipped: prohibit_overlap, and an earlier launch still runs"
                );
            } else {
                log::info!("periodic job {id:?}: launching the run missed while supd was down");
                if let Err(e) = self.launch(&id, now) {
                    log::warn!("periodic job {id:?}: {e}");
                }
            }
        }
        self.arm_launch(&id, now);
    }

    /// The version `serial` replaces is forgotten at once when it has no
    /// instances (a periodic or parameterized job, or a count of 0): no
    /// process of it can end to let the new version start.
    fn forget_empty_version(&mut self, serial: u64) {
        let Some(old) = self.jobs.runs.get(&serial).and_then(|r| r.replaces) else { return };
        if self.jobs.runs.get(&old).is_some_and(|r| r.instances.is_empty()) {
            self.jobs.runs.remove(&old);
            if let Some(run) = self.jobs.runs.get_mut(&serial) {
                run.replaces = None;
            }
        }
    }

    /// Arms the next launch after `after` (and after the last one).
    fn arm_launch(&mut self, id: &str, after: SystemTime) {
        let Some(e) = self.pending.launches.by_job.get_mut(id) else { return };
        let next = e.schedule.as_ref().and_then(|s| s.next_after(after.max(e.last)));
        e.next = next;
        let Some(next) = next else { return };
        let wait = next.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
        let (run, generation) = (e.serial, e.generation);
        self.io.timers.arm(Instant::now() + wait, Timer::Launch { run, generation });
    }

    /// A launch timer is due.
    pub(super) fn launch_due(&mut self, serial: u64, generation: u64) {
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let id = run.job.id.clone();
        let current = self.jobs.current.get(&id) == Some(&serial) && !run.stopped && !self.stopping();
        let Some(e) = self.pending.launches.by_job.get(&id) else { return };
        if e.serial != serial || e.generation != generation || !current {
            return;
        }
        let Some(at) = e.next else { return };
        let now = SystemTime::now();
        if now + EARLY < at {
            // The wall clock was set back since the timer was armed.
            let (run, generation) = (e.serial, e.generation);
            let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
            self.io.timers.arm(Instant::now() + wait, Timer::Launch { run, generation });
            return;
        }
        let prohibit = run.job.periodic.as_ref().is_some_and(|p| p.prohibit_overlap);
        if prohibit && self.launch_running(&id) {
            log::info!(
                "periodic job {id:?}: the launch of {} is skipped: prohibit_overlap, and an earlier launch still runs",
                rfc3339(at)
            );
        } else if let Err(e) = self.launch(&id, at) {
            log::warn!("periodic job {id:?}: {e}");
        }
        // A clock set forward past several instants launches once.
        self.arm_launch(&id, at.max(now));
    }

    /// Whether a run launched from `id` has a task running or about to.
    fn launch_running(&self, id: &str) -> bool {
        self.launched_runs(id).iter().any(|r| r.instances.iter().any(Instance::is_live))
    }

    /// Launches a run of periodic job `id` for the instant `at`; the launch
    /// is on disk before supd goes on.
    fn launch(&mut self, id: &str, at: SystemTime) -> Result<String, LaunchRefused> {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let launch = Launch::Periodic { parent: id.to_string(), at: secs };
        let child = launch.id();
        if self.jobs.current.contains_key(&child) {
            return Err(LaunchRefused::Again(child));
        }
        let Some(job) = self.jobs.current.get(id).and_then(|s| self.jobs.runs.get(s)).map(|r| r.job.clone()) else {
            return Err(LaunchRefused::NoJob(id.to_string()));
        };
        if let Some(e) = self.pending.launches.by_job.get_mut(id) {
            e.last = e.last.max(at);
        }
        log::info!("periodic job {id:?}: launching {child}");
        self.submit(derive(job, &child), Source::Launched { name: format!("a launch of {id}"), launch });
        self.forget_ended(id, LaunchKind::Periodic);
        self.save_acknowledged();
        Ok(child)
    }

    /// Ended runs of job `id` (its launches or dispatches: `kind`) beyond
    /// the newest `keep_ended_runs` are forgotten, and their allocation
    /// directories removed: mounts and disk stay bounded by what runs and
    /// the last `keep_ended_runs` runs of each job.
    pub(super) fn forget_ended(&mut self, id: &str, kind: LaunchKind) {
        let ended: Vec<(String, u64)> = self
            .runs_under(id, kind)
            .into_iter()
            .filter(|r| !r.instances.iter().any(Instance::is_live))
            .map(|r| (r.job.id.clone(), r.serial))
            .collect();
        let drop = ended.len().saturating_sub(self.cfg.keep_ended_runs);
        for (child, serial) in ended.into_iter().take(drop) {
            self.jobs.current.remove(&child);
            if let Some(mut run) = self.jobs.runs.remove(&serial) {
                self.close_logs(&mut run);
                for dir in run.instances.iter().filter_map(|i| i.dir.as_ref()) {
                    if let Err(e) = dir.remove() {
                        log::warn!("{child}: cannot remove its allocation directory: {e}");
                    }
                }
            }
        }
    }

    /// `job periodic force`: a launch now, whatever the schedule and
    /// `prohibit_overlap` say (as Nomad's).
    pub(super) fn periodic_force(&mut self, id: &str) -> Response {
        let Some(run) = self.jobs.current.get(id).and_then(|s| self.jobs.runs.get(s)) else {
            return Response::refused(self.unknown_job(id).to_string());
        };
        let Some(p) = &run.job.periodic else {
            return Response::refused(format!(
                "job {id:?} is not periodic — `job periodic force` launches jobs with a `periodic` block; run this one with `supctl restart {id}`"
            ));
        };
        if !p.enabled {
            return Response::refused(format!(
                "job {id:?} is not enabled (`enabled = false` in its `periodic` block) — set it to true to launch it"
            ));
        }
        if run.stopped {
            return Response::refused(format!("job {id:?} is stopped — submit it again with `supctl job run`"));
        }
        match self.launch(id, SystemTime::now()) {
            Ok(child) => Response::ok(vec![format!("launched {child}")]),
            Err(e) => Response::refused(e.to_string()),
        }
    }

    /// What the status of the job `run` (listed as `id`) shows beyond its
    /// groups: a periodic job's schedule and launched runs, a
    /// parameterized job's rules and dispatched runs, a launched run's
    /// parent.
    pub(super) fn job_head(&self, id: &str, run: &JobRun) -> super::status::JobHead {
        let mut head = super::status::JobHead {
            status: run.status().as_str(),
            periodic: None,
            parameterized: None,
            parent: run.launch.as_ref().map(|l| l.parent().to_string()),
        };
        if let Some(p) = &run.job.parameterized {
            if !run.stopped {
                head.status = "running";
            }
            head.parameterized = Some(protocol::ParameterizedStatus {
                payload: p.payload.as_str().to_string(),
                meta_required: p.meta_required.clone(),
                meta_optional: p.meta_optional.clone(),
                dispatched: self.listed(id, LaunchKind::Dispatch),
            });
        }
        let Some(p) = &run.job.periodic else { return head };
        let entry = self.pending.launches.by_job.get(id);
        let live = !run.stopped && p.enabled;
        if live {
            // It runs nothing itself; it is running while it launches.
            head.status = "running";
        }
        head.periodic = Some(protocol::PeriodicStatus {
            crons: p.crons.clone(),
            time_zone: p.time_zone.clone(),
            prohibit_overlap: p.prohibit_overlap,
            enabled: p.enabled,
            next_launch: entry.and_then(|e| e.next).filter(|_| live).map(rfc3339),
            launched: self.listed(id, LaunchKind::Periodic),
        });
        head
    }

    /// The runs of job `id` launched or dispatched (`kind`) from it, for
    /// the status.
    fn listed(&self, id: &str, kind: LaunchKind) -> Vec<protocol::LaunchedRun> {
        self.runs_under(id, kind)
            .into_iter()
            .map(|r| protocol::LaunchedRun {
                id: r.job.id.clone(),
                status: r.status().as_str().to_string(),
                launched_at: r
                    .launch
                    .as_ref()
                    .and_then(|l| UNIX_EPOCH.checked_add(Duration::from_secs(l.at())))
                    .map(rfc3339)
                    .unwrap_or_default(),
            })
            .collect()
    }
}
