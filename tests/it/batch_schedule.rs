//! Batch jobs over time, end to end with the real `supd` and `supctl`:
//! `max_run_duration` stops an instance that ran too long; `periodic` jobs
//! launch runs on their schedule, skip one while an earlier one runs with
//! `prohibit_overlap`, launch a missed one once after a restart of supd and
//! never twice, and launch one on demand. Tasks record what happened to
//! them in files of the temporary directory, so what supd reports is
//! checked against what ran.
//!
//! Timing allows for a loaded 2-core machine: waits poll with generous
//! ceilings, and timing assertions are ranges, never instants.

use crate::support::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::time::Duration;

/// The group's `max_run_duration` stops the task with its kill_signal once
/// the instance has run that long: the `Killing` event and the instance's
/// description say so in Nomad's words, the instance is complete, nothing
/// restarts, and a poststop task that had not run does not run.
#[test]
fn max_run_duration_stops_a_batch_task_in_time() {
    let s = Supd::new();
    s.write_job(
        "long.hcl",
        r#"
job "long" {
  type = "batch"
  group "g" {
    max_run_duration = "1s"
    restart {
      attempts = 3
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver      = "raw_exec"
      kill_signal = "SIGTERM"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo TERM >> @DIR@/signals; exit 3' TERM; echo started >> @DIR@/starts; while :; do sleep 0.05; done"]
      }
    }
    task "after" {
      driver = "raw_exec"
      lifecycle {
        hook = "poststop"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ran >> @DIR@/poststop"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_dead("long/g/0/t");
    assert_eq!(t["failed"], false, "{}", pretty(&t));
    let started = event_times(&t, "Started");
    let killing = event_times(&t, "Killing");
    assert_eq!((started.len(), killing.len()), (1, 1), "{:?}", events(&t));
    let after = killing[0] - started[0];
    assert!((0.95..1.5).contains(&after), "stopped {after:.3}s after its start, max_run_duration is 1s");
    assert_eq!(count(&t, "Killing", |m| m == "allocation exceeded max_run_duration"), 1, "{:?}", events(&t));
    assert!(kinds(&t).iter().any(|k| k == "Killed"), "{:?}", events(&t));
    assert!(wait_until(PATIENCE, || lines(&s.path("signals")) == ["TERM"]), "the task got its kill_signal");
    // Not restarted for it (the restart policy would within 100 ms).
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(lines(&s.path("starts")).len(), 1, "restarted after max_run_duration\n{}", s.log());
    assert!(!s.path("poststop").exists(), "the poststop task ran after max_run_duration");
    let st = s.status();
    let inst = instance(&st, "long/g/0").expect("instance");
    assert_eq!(inst["status"], "complete", "{}", pretty(inst));
    assert_eq!(inst["description"], "allocation exceeded max_run_duration");
    let poststop = task(&st, "long/g/0/after").expect("poststop task");
    assert_eq!(poststop["state"], "dead");
    assert_eq!(count(poststop, "Killing", |m| m == "allocation exceeded max_run_duration"), 1);
    let detail = s.supctl_ok(&["status", "long/g/0"]);
    assert!(detail.contains("Status   = complete (allocation exceeded max_run_duration)"), "{detail}");
}

/// A periodic batch job of one task running `script` (sh), on `crons`.
fn periodic_job(name: &str, periodic: &str, script: &str) -> String {
    format!(
        r#"
job "{name}" {{
  type = "batch"
  periodic {{
{periodic}
  }}
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
    }}
  }}
}}
"#
    )
}

/// A job's entry in a status.
fn job_entry<'a>(st: &'a Value, name: &str) -> Option<&'a Value> {
    st["jobs"].as_array()?.iter().find(|j| j["name"] == name)
}

/// The runs a periodic job launched, as (ID, launch time in seconds since
/// 1970, status), oldest first.
fn launched(st: &Value, name: &str) -> Vec<(String, u64, String)> {
    let Some(runs) = job_entry(st, name).and_then(|j| j["periodic"]["launched"].as_array()) else { return vec![] };
    runs.iter()
        .map(|r| {
            let id = r["id"].as_str().expect("an ID").to_string();
            let secs = id.rsplit_once("/periodic-").and_then(|(_, t)| t.parse().ok()).expect("ID/periodic-TIME");
            assert_eq!(r["launched_at"].as_str().map(rfc3339_secs), Some(secs as f64), "{}", pretty(r));
            (id, secs, r["status"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// The one task of a launched run.
fn run_task<'a>(st: &'a Value, id: &str) -> &'a Value {
    let job = job_entry(st, id).unwrap_or_else(|| panic!("no job {id}: {}", pretty(st)));
    assert_eq!(job["parent"], id.split('/').next().expect("a parent"), "{}", pretty(job));
    &job["groups"][0]["instances"][0]["tasks"][0]
}

/// Waits until a periodic job has launched at least `n` runs.
fn wait_launches(s: &Supd, name: &str, n: usize) -> Value {
    s.wait_status(&format!("{name} launched {n} runs"), |st| launched(st, name).len() >= n)
}

/// A 7-field cron (seconds first) every 2 seconds launches a run at each
/// instant: each run starts within half a second after its instant, the
/// instants follow each other without a gap, and the status lists the
/// runs under the job with the next launch, also by a run's own target.
#[test]
fn a_periodic_job_launches_a_run_at_each_instant_of_its_cron() {
    let s = Supd::new();
    s.write_job(
        "tick.hcl",
        &periodic_job(
            "tick",
            r#"    crons = ["*/2 * * * * * *"]"#,
            "echo $NOMAD_JOB_ID $NOMAD_JOB_PARENT_ID >> @DIR@/runs",
        ),
    );
    let s = s.start();
    wait_launches(&s, "tick", 3);
    let st = s.wait_status("three runs completed", |st| {
        launched(st, "tick").iter().take(3).all(|(_, _, status)| status == "complete")
    });
    let runs = launched(&st, "tick");
    for (id, secs, _) in &runs[..3] {
        assert_eq!(secs % 2, 0, "{id} is not on an instant of */2 seconds");
        let started = event_times(run_task(&st, id), "Started");
        assert_eq!(started.len(), 1, "{id}: {}", pretty(run_task(&st, id)));
        let late = started[0] - *secs as f64;
        eprintln!("{id} started {late:.3}s after its instant");
        assert!((-0.01..0.5).contains(&late), "{id} started {late:.3}s after its instant");
    }
    assert_eq!(runs[1].1 - runs[0].1, 2, "an instant was skipped: {runs:?}");
    assert_eq!(runs[2].1 - runs[1].1, 2, "an instant was skipped: {runs:?}");
    let ran = lines(&s.path("runs"));
    for (id, _, _) in &runs[..3] {
        assert_eq!(ran.iter().filter(|l| **l == format!("{id} tick")).count(), 1, "{id} ran once: {ran:?}");
    }
    let parent = job_entry(&st, "tick").expect("the periodic job");
    assert_eq!(parent["status"], "running");
    let next = rfc3339_secs(parent["periodic"]["next_launch"].as_str().expect("a next launch"));
    assert!(next > runs.last().expect("a run").1 as f64 && next % 2.0 == 0.0, "next launch {next}");
    assert!(next - now_secs() <= 2.0, "next launch {next} more than 2s away");
    let text = s.supctl_ok(&["status", "tick"]);
    assert!(text.contains("periodic \"*/2 * * * * * *\" (UTC): next launch "), "{text}");
    assert!(text.contains(&format!("    {} complete", runs[0].0)), "{text}");
    let detail = s.supctl_ok(&["status", &format!("{}/g/0/t", runs[0].0)]);
    assert!(detail.contains(&format!("Instance {}.g[0] (batch)", runs[0].0)), "{detail}");
}

/// With `prohibit_overlap`, the instant that comes while the previous run
/// still runs launches nothing; the next one after it ended does.
#[test]
fn prohibit_overlap_skips_a_launch_while_the_previous_run_runs() {
    let s = Supd::new();
    s.write_job(
        "slow.hcl",
        &periodic_job(
            "slow",
            "    crons = [\"*/2 * * * * * *\"]\n    prohibit_overlap = true",
            "echo start $(date +%s.%N) >> @DIR@/spans; sleep 3; echo end $(date +%s.%N) >> @DIR@/spans",
        ),
    );
    let s = s.start();
    let st = wait_launches(&s, "slow", 2);
    let runs = launched(&st, "slow");
    assert_eq!(runs[1].1 - runs[0].1, 4, "the instant during the first run was not skipped: {runs:?}\n{}", s.log());
    assert!(s.log().contains("is skipped: prohibit_overlap, and an earlier launch still runs"), "{}", s.log());
    // Never two at once: each run starts after the one before it ended.
    let st = s.wait_status("two runs completed", |st| {
        launched(st, "slow").iter().take(2).all(|(_, _, status)| status == "complete")
    });
    let (first, second) = (run_task(&st, &runs[0].0), run_task(&st, &runs[1].0));
    let ended = event_times(first, "Terminated")[0];
    let started = event_times(second, "Started")[0];
    assert!(started > ended, "the second run started at {started}, before the first ended at {ended}");
}

/// supd is stopped across two instants of a 3-second cron: started again,
/// it launches the missed run once, at once, then goes on with the
/// schedule. Killed right after a launch and started again before the next
/// instant, it launches nothing twice.
#[test]
fn a_launch_missed_while_supd_was_down_runs_once_and_never_twice() {
    let s = Supd::new();
    s.write_job(
        "nightly.hcl",
        &periodic_job("nightly", r#"    crons = ["*/3 * * * * * *"]"#, "echo $NOMAD_JOB_ID >> @DIR@/runs"),
    );
    let mut s = s.start();
    let st = wait_launches(&s, "nightly", 1);
    let first = launched(&st, "nightly")[0].clone();
    s.wait_status("the first run completed", |st| launched(st, "nightly").first().is_some_and(|r| r.2 == "complete"));
    // A clean stop, then 6.5 s down: two instants or three are missed.
    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).expect("SIGTERM supd");
    assert!(s.wait_exit(PATIENCE).is_some(), "supd did not stop\n{}", s.log());
    let stopped_at = now_secs();
    std::thread::sleep(Duration::from_millis(6500));
    let restarted_at = now_secs();
    let mut s = s.start();
    let st = wait_launches(&s, "nightly", 2);
    let runs = launched(&st, "nightly");
    assert_eq!(runs[0], (first.0.clone(), first.1, "complete".into()), "the first run is kept across the restart");
    let caught_up = &runs[1];
    assert!(
        caught_up.1 as f64 >= restarted_at.floor() && (caught_up.1 as f64) < restarted_at + 2.0,
        "the missed launch came at {}, supd was started again at {restarted_at}",
        caught_up.1
    );
    let st = wait_launches(&s, "nightly", 3);
    let runs = launched(&st, "nightly");
    let between = runs.iter().filter(|r| r.1 as f64 > stopped_at && (r.1 as f64) < restarted_at + 2.0).count();
    assert_eq!(between, 1, "the launches missed while supd was down ran {between} times: {runs:?}");
    assert_eq!(runs[2].1 % 3, 0, "then the schedule goes on: {runs:?}");

    // Killed just after a launch (whose run completed), back before the
    // next instant; a machine too loaded to see that in time tries at the
    // next launch.
    let mut tries = 0;
    let (before, last) = loop {
        tries += 1;
        assert!(tries <= 5, "never saw a run complete within 2 s of its launch\n{}", s.log());
        let st = s.wait_status("the newest run completed", |st| {
            launched(st, "nightly").last().is_some_and(|r| r.2 == "complete")
        });
        let before = launched(&st, "nightly");
        let last = before.last().expect("a run").1;
        if now_secs() < last as f64 + 2.0 {
            break (before, last);
        }
        wait_launches(&s, "nightly", before.len() + 1);
    };
    s.kill9();
    let s = s.start();
    let st = wait_launches(&s, "nightly", before.len() + 1);
    let after = launched(&st, "nightly");
    assert_eq!(&after[..before.len()], &before[..], "the runs before the crash are kept");
    assert_eq!(after[before.len()].1, last + 3, "the next instant, and nothing launched twice: {after:?}");
    let ran = lines(&s.path("runs"));
    for (id, _, _) in &after {
        assert!(ran.iter().filter(|l| *l == id).count() <= 1, "{id} ran twice: {ran:?}");
    }
}

/// `job periodic force` launches a run now, whatever the schedule; a job
/// that is not periodic, or not enabled, is refused with the reason.
#[test]
fn job_periodic_force_launches_a_run_now() {
    let s = Supd::new();
    s.write_job(
        "yearly.hcl",
        &periodic_job("yearly", r#"    crons = ["@yearly"]"#, "echo $NOMAD_JOB_ID >> @DIR@/runs"),
    );
    s.write_job(
        "off.hcl",
        &periodic_job("off", "    crons = [\"@daily\"]\n    enabled = false", "echo off >> @DIR@/runs"),
    );
    s.write_job("plain.hcl", &sleep_job("plain"));
    let s = s.start();
    let before = now_secs();
    let out = s.supctl_ok(&["job", "periodic", "force", "yearly"]);
    let id = out.trim().strip_prefix("launched ").unwrap_or_else(|| panic!("{out}")).to_string();
    let st = s.wait_status("the forced run completed", |st| launched(st, "yearly").iter().any(|r| r.2 == "complete"));
    let runs = launched(&st, "yearly");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, id);
    assert!((runs[0].1 as f64 - before).abs() < 2.0, "launched at {} for a force at {before}", runs[0].1);
    assert_eq!(lines(&s.path("runs")), [id]);
    let refused = s.supctl(&["job", "periodic", "force", "plain"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("job \"plain\" is not periodic"),
        "{}",
        describe(&refused)
    );
    let refused = s.supctl(&["job", "periodic", "force", "off"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not enabled"), "{}", describe(&refused));
    let st = s.status();
    assert_eq!(job_entry(&st, "off").expect("job off")["periodic"]["next_launch"], Value::Null);
}

/// `job dispatch` runs a parameterized job with the meta and payload given:
/// the task sees the meta as NOMAD_META_*, and reads the payload where its
/// `dispatch_payload` puts it; what the job's rules refuse is refused.
#[test]
fn job_dispatch_passes_meta_and_payload() {
    let s = Supd::new();
    s.write_job(
        "render.hcl",
        r#"
job "render" {
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["scene"]
    meta_optional = ["quality"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      dispatch_payload {
        file = "in/scene.txt"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_JOB_ID $NOMAD_JOB_PARENT_ID $NOMAD_META_scene $NOMAD_META_QUALITY $(cat local/in/scene.txt) $(stat -c %a $NOMAD_TASK_DIR/in/scene.txt) >> @DIR@/runs"]
      }
    }
  }
}
"#,
    );
    let s = s.start();
    assert_eq!(job_entry(&s.status(), "render").expect("the job")["status"], "running");
    let input = s.write_file("scene.txt", "a teapot");
    let out = s.supctl_ok(&[
        "job",
        "dispatch",
        "render",
        "--meta",
        "scene=kitchen",
        "--meta",
        "quality=high",
        input.to_str().expect("UTF-8"),
    ]);
    let id =
        out.lines().next().and_then(|l| l.strip_prefix("dispatched ")).unwrap_or_else(|| panic!("{out}")).to_string();
    assert!(id.starts_with("render/dispatch-"), "{id}");
    let st = s.wait_status("the dispatched run completed", |st| job_status(st, &id) == "complete");
    assert_eq!(lines(&s.path("runs")), [format!("{id} render kitchen high a teapot 600")]);
    let listed = &job_entry(&st, "render").expect("the job")["parameterized"]["dispatched"];
    assert_eq!(listed[0]["id"], id.as_str(), "{}", pretty(listed));
    assert_eq!(listed[0]["status"], "complete");
    let text = s.supctl_ok(&["status"]);
    assert!(text.contains(&format!("    {id} complete")), "{text}");

    let refused = |args: &[&str], why: &str| {
        let out = s.supctl(args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{}", describe(&out));
    };
    let input = input.to_str().expect("UTF-8");
    refused(&["job", "dispatch", "render", input], "Dispatch did not provide required meta keys: [scene]");
    refused(&["job", "dispatch", "render", "--meta", "scene=x"], "Payload is not provided but required");
    refused(
        &["job", "dispatch", "render", "--meta", "scene=x", "--meta", "who=me", input],
        "unpermitted metadata keys: [who]",
    );
    s.write_file("big", &"x".repeat(16 * 1024 + 1));
    refused(
        &["job", "dispatch", "render", "--meta", "scene=x", s.path("big").to_str().expect("UTF-8")],
        "more than 16 KiB",
    );
    assert_eq!(lines(&s.path("runs")).len(), 1, "a refused dispatch ran");
}

/// Dispatched runs survive `kill -9` of supd: the next supd lists both
/// runs under their job, the one that had ended stays ended (it does not
/// run again), the one still running is taken over as any job's task is
/// after a crash (the same process, in the same allocation directory),
/// with its meta and payload: the payload file is still in its `local/`.
#[test]
fn dispatched_runs_survive_kill_9_with_their_meta_and_payload_and_keep_running() {
    let s = Supd::new();
    s.write_job(
        "render.hcl",
        r#"
job "render" {
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["scene"]
    meta_optional = ["mode"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      dispatch_payload {
        file = "in/scene.txt"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_JOB_ID $NOMAD_META_scene $(cat local/in/scene.txt) >> @DIR@/runs; if [ \"$NOMAD_META_mode\" = long ]; then exec sleep 1000; fi"]
      }
    }
  }
}
"#,
    );
    let mut s = s.start();
    let input = s.write_file("scene.txt", "a teapot");
    let input = input.to_str().expect("UTF-8");
    let dispatch = |args: &[&str]| {
        let mut all = vec!["job", "dispatch", "render"];
        all.extend_from_slice(args);
        all.push(input);
        let out = s.supctl_ok(&all);
        out.lines().next().and_then(|l| l.strip_prefix("dispatched ")).unwrap_or_else(|| panic!("{out}")).to_string()
    };
    let short = dispatch(&["--meta", "scene=kitchen"]);
    s.wait_status("the short run completed", |st| job_status(st, &short) == "complete");
    // Dispatched in the same second, it needs another ID.
    let long = dispatch(&["--meta", "scene=garden", "--meta", "mode=long"]);
    assert_ne!(short, long);
    let first = pid(run_task(
        &s.wait_status("the long run runs", |st| {
            job_entry(st, &long).is_some_and(|_| run_task(st, &long)["state"] == "running")
        }),
        &long,
    ));
    let dir_of = |st: &Value, id: &str| {
        job_entry(st, id)
            .and_then(|j| j["groups"][0]["instances"][0]["alloc_dir"].as_str())
            .unwrap_or_else(|| panic!("no alloc_dir of {id}: {}", pretty(st)))
            .to_string()
    };
    let st = s.status();
    let (short_dir, long_dir) = (dir_of(&st, &short), dir_of(&st, &long));

    s.kill9();
    let s = s.start();
    let st = s.wait_status("the long run is taken over", |st| {
        job_entry(st, &long).is_some_and(|_| {
            let t = run_task(st, &long);
            t["state"] == "running" && t["pid"].as_i64() == Some(first.into())
        })
    });
    assert_eq!(job_status(&st, &short), "complete", "{}", pretty(&st));
    let listed: Vec<(String, String)> = job_entry(&st, "render").expect("the job")["parameterized"]["dispatched"]
        .as_array()
        .expect("dispatched runs")
        .iter()
        .map(|r| {
            (r["id"].as_str().unwrap_or_default().to_string(), r["status"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let mut want = vec![(short.clone(), "complete".to_string()), (long.clone(), "running".to_string())];
    let mut listed = listed;
    // Runs dispatched in the same second are listed in any order.
    listed.sort();
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(
        (dir_of(&st, &short), dir_of(&st, &long)),
        (short_dir.clone(), long_dir.clone()),
        "a new allocation directory"
    );
    for dir in [&short_dir, &long_dir] {
        let payload = std::path::Path::new(dir).join("t/local/in/scene.txt");
        assert_eq!(std::fs::read_to_string(&payload).ok().as_deref(), Some("a teapot"), "{}", payload.display());
    }
    assert!(alive(first), "the run of the crashed supd is taken over");
    assert_eq!(s.procs_running("sleep 1000").len(), 1, "{}", s.log());
    // Neither run ran again.
    assert_eq!(lines(&s.path("runs")), [format!("{short} kitchen a teapot"), format!("{long} garden a teapot")]);
}

/// A periodic job whose file is changed into a plain batch job runs at the
/// reload: the periodic version, which ran nothing, holds nothing up; and a
/// plain job changed into a periodic one launches on its schedule.
#[test]
fn a_periodic_job_changed_into_a_plain_one_and_back_runs() {
    let s = Supd::new();
    s.write_job("flip.hcl", &periodic_job("flip", r#"    crons = ["@yearly"]"#, "echo $NOMAD_JOB_ID >> @DIR@/runs"));
    let s = s.start();
    s.write_job(
        "flip.hcl",
        r#"
job "flip" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_JOB_ID >> @DIR@/runs"]
      }
    }
  }
}
"#,
    );
    s.supctl_ok(&["reload"]);
    s.wait_status("the plain job completed", |st| job_status(st, "flip") == "complete");
    assert_eq!(lines(&s.path("runs")), ["flip"]);
    s.write_job(
        "flip.hcl",
        &periodic_job("flip", r#"    crons = ["*/2 * * * * * *"]"#, "echo $NOMAD_JOB_ID >> @DIR@/runs"),
    );
    s.supctl_ok(&["reload"]);
    let st = wait_launches(&s, "flip", 1);
    assert_eq!(job_entry(&st, "flip").expect("the job")["status"], "running", "{}", pretty(&st));
    assert!(wait_until(PATIENCE, || lines(&s.path("runs")).len() == 2), "{:?}", lines(&s.path("runs")));
}

/// The mount points below `dir`, from this process's mountinfo.
fn mounts_below(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.to_str().expect("UTF-8").to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&format!("{dir}/")))
        .map(str::to_string)
        .collect()
}

/// Allocation directories have a lifecycle: a run that ended has its
/// tasks' `secrets/` unmounted at once, only the newest ended runs of a
/// job keep their directories (`keep_ended_runs`, as `status` lists
/// them), and when supd stops nothing of its stays mounted below its
/// directories.
#[test]
fn ended_runs_leave_no_mounts_and_only_the_newest_keep_their_directories() {
    let s = Supd::new();
    s.write_job(
        "work.hcl",
        r#"
job "work" {
  type = "batch"
  parameterized {}
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_JOB_ID >> @DIR@/runs"]
      }
    }
  }
}
"#,
    );
    s.write_job(
        "svc.hcl",
        r#"
job "svc" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
    }
  }
}
"#,
    );
    // Nomad's client keeps 50 terminal allocations (gc_max_allocs); here
    // the bound is per job, 10 unless supd.toml says.
    let mut s = s.start_with_config("keep_ended_runs = 3\n");
    s.wait_running("svc/g/0/t");
    let root = std::path::PathBuf::from(s.dir());
    let as_root = nix::unistd::geteuid().is_root();
    if as_root {
        assert_eq!(mounts_below(&root).len(), 1, "the running task's secrets/ is a tmpfs: {:?}", mounts_below(&root));
    }
    const RUNS: usize = 25;
    for _ in 0..RUNS {
        s.supctl_ok(&["job", "dispatch", "work"]);
    }
    s.wait_lines("runs", RUNS);
    s.wait_status("every dispatched run completed", |st| {
        typed::<supd::control::protocol::Status>(st)
            .jobs
            .iter()
            .filter(|j| j.name.starts_with("work/dispatch-"))
            .all(|j| j.status == "complete")
    });
    let alloc = root.join("state/alloc");
    let dirs = || std::fs::read_dir(&alloc).expect("alloc dir").count();
    // The running task's, and those of the three newest ended runs.
    assert!(wait_until(PATIENCE, || dirs() == 4), "{} allocation directories for 1 running and {RUNS} ended", dirs());
    let kept = typed::<supd::control::protocol::Status>(&s.status())
        .jobs
        .iter()
        .filter(|j| j.name.starts_with("work/dispatch-"))
        .count();
    assert_eq!(kept, 3, "status lists the runs that keep their directories");
    if as_root {
        let left = mounts_below(&root);
        assert_eq!(left.len(), 1, "only the running task keeps its secrets/ mounted: {left:?}");
    }
    kill(Pid::from_raw(s.pid()), Signal::SIGTERM).expect("SIGTERM");
    assert!(s.wait_exit(PATIENCE).is_some(), "supd exits on SIGTERM\n{}", s.log());
    assert_eq!(mounts_below(&root), Vec::<String>::new(), "nothing stays mounted after supd stops\n{}", s.log());
    assert!(alloc.read_dir().is_ok_and(|mut d| d.next().is_some()), "the directories stay for the next supd");
}
