//! `supctl job plan` and updates in place: a change that does not touch
//! what the process runs (here `restart`) is planned as an update in
//! place, and `job run` or a reload then keeps the process (same pid)
//! while the new policy applies; a change to the command is planned and
//! carried out as a replacement (a new pid). `reload --dry-run` shows the
//! plans, and an unchanged file — also of a stopped job — changes nothing.
//! A new `count` keeps the instances that stay (same pids), creates the
//! new indices and stops and removes those at or above it.

use crate::support::{Supd, alive, pid, sleep_job_with, wait_until};
use std::time::Duration;

fn job(attempts: u32, arg: &str) -> String {
    counted(1, attempts, arg)
}

fn counted(count: u32, attempts: u32, arg: &str) -> String {
    format!(
        r#"job "web" {{
  group "g" {{
    count = {count}
    restart {{
      attempts = {attempts}
      interval = "1h"
      delay    = "1s"
      mode     = "fail"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["{arg}"]
      }}
    }}
  }}
}}
"#
    )
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_restart_change_is_planned_and_applied_in_place_and_a_command_change_replaces() {
    let s = Supd::new();
    let v1 = s.write_file("v1.hcl", &job(0, "1000"));
    let v2 = s.write_file("v2.hcl", &job(3, "1000"));
    let v3 = s.write_file("v3.hcl", &job(3, "1001"));
    let (v1, v2, v3) = (v1.to_str().unwrap(), v2.to_str().unwrap(), v3.to_str().unwrap());
    let s = s.start();

    // Nothing runs: every instance is created.
    let out = s.supctl(&["job", "plan", v1]);
    assert_eq!(code(&out), Some(1), "{}", crate::support::describe(&out));
    assert_eq!(stdout(&out), "+ job \"web\"\n  + group \"g\"\n    + task \"t\"\n  instances:\n    web.g[0]: create\n");

    s.supctl_ok(&["job", "run", v1]);
    let first = pid(&s.wait_running("web/g/0/t"));

    // The same file: nothing to say.
    let out = s.supctl(&["job", "plan", v1]);
    assert_eq!((code(&out), stdout(&out)), (Some(0), String::new()), "{}", crate::support::describe(&out));

    // Only restart changed: in place, exit 0 (no instance made or ended).
    let out = s.supctl(&["job", "plan", v2]);
    assert_eq!(code(&out), Some(0), "{}", crate::support::describe(&out));
    assert_eq!(
        stdout(&out),
        "~ job \"web\"\n  ~ group \"g\"\n      ~ restart.attempts: 0 => 3\n    ~ task \"t\" (in place)\n        ~ restart.attempts: 0 => 3\n  instances:\n    web.g[0]: update in place\n"
    );
    let json: serde_json::Value = serde_json::from_str(&s.supctl_ok(&["--json", "job", "plan", v2])).expect("JSON");
    assert_eq!(json[0]["instances"][0]["fate"], "in_place");

    let said = s.supctl_ok(&["job", "run", v2]);
    assert!(said.contains("updated in place"), "{said}");
    let t = s.wait_running("web/g/0/t");
    assert_eq!(pid(&t), first, "the process was not kept");
    let detail = s.supctl_ok(&["status", "web/g/0"]);
    assert!(detail.contains("Restart policy: 3 attempts in 1h, delay 1s, mode fail"), "{detail}");
    // The new policy is the one in effect: with the old one (0 attempts)
    // a killed task failed for good; now it is restarted.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::Signal::SIGKILL).expect("kill");
    let st = s.wait_status("a new process after the kill", |st| {
        crate::support::task(st, "web/g/0/t")
            .is_some_and(|t| t["state"] == "running" && t["pid"].as_i64() != Some(first.into()))
    });
    let t = crate::support::task(&st, "web/g/0/t").expect("task");
    assert_eq!(t["failed"], false);
    assert_eq!(t["restarts"], 1);
    let second = pid(t);

    // The command changed: replaced.
    let out = s.supctl(&["job", "plan", v3]);
    assert_eq!(code(&out), Some(1), "{}", crate::support::describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains("    ~ task \"t\" (forces replacement)\n        ~ config.args: [\"1000\"] => [\"1001\"]\n"),
        "{text}"
    );
    assert!(text.ends_with("  instances:\n    web.g[0]: replace\n"), "{text}");
    let said = s.supctl_ok(&["job", "run", v3]);
    assert!(said.contains("replaced"), "{said}");
    let st = s.wait_status("the replacement runs", |st| {
        crate::support::task(st, "web/g/0/t")
            .is_some_and(|t| t["state"] == "running" && t["pid"].as_i64() != Some(second.into()))
    });
    assert_eq!(
        crate::support::cmdline_of(pid(crate::support::task(&st, "web/g/0/t").expect("task"))),
        "/bin/sleep 1001"
    );
    assert!(wait_until(Duration::from_secs(10), || !alive(second)), "the old process is still there");

    // An invalid file is an error (255), as in Nomad.
    let bad = s.write_file("bad.hcl", "job \"web\" {\n  group \"g\" {\n    count = \"x\"\n  }\n}\n");
    let out = s.supctl(&["job", "plan", bad.to_str().unwrap()]);
    assert_eq!(code(&out), Some(255), "{}", crate::support::describe(&out));
}

#[test]
fn reload_dry_run_shows_the_plan_and_a_reload_updates_in_place() {
    let s = Supd::new();
    let path = s.write_job("web.hcl", &job(0, "1000"));
    s.write_job("other.hcl", &crate::support::sleep_job("other"));
    let s = s.start();
    let first = pid(&s.wait_running("web/g/0/t"));
    s.wait_running("other/g/0/t");

    // Nothing changed: nothing to do.
    assert_eq!(s.supctl_ok(&["reload", "--dry-run"]), "no changes\n");

    std::fs::write(&path, job(2, "1000")).expect("write");
    let out = s.supctl_ok(&["reload", "--dry-run"]);
    let name = path.display();
    assert_eq!(
        out,
        format!(
            "update job \"web\" in place from {name}\n\n~ job \"web\"\n  ~ group \"g\"\n      ~ restart.attempts: 0 => 2\n    ~ task \"t\" (in place)\n        ~ restart.attempts: 0 => 2\n  instances:\n    web.g[0]: update in place\n"
        )
    );
    assert_eq!(pid(&s.wait_running("web/g/0/t")), first, "a dry run changed something");
    s.supctl_ok(&["reload"]);
    assert_eq!(pid(&s.wait_running("web/g/0/t")), first, "the reload replaced the process");
    let detail = s.supctl_ok(&["status", "web/g/0/t"]);
    assert!(detail.contains("Restart policy: 2 attempts in 1h, delay 1s, mode fail"), "{detail}");

    // A stopped job whose file did not change: a reload does nothing.
    s.supctl_ok(&["job", "stop", "other"]);
    s.wait_dead("other/g/0/t");
    assert_eq!(s.supctl_ok(&["reload"]), "no changes\n");
    assert_eq!(s.supctl_ok(&["reload", "--dry-run"]), "no changes\n");
}

#[test]
fn a_count_change_keeps_the_instances_that_stay() {
    let s = Supd::new();
    let two = s.write_file("two.hcl", &counted(2, 0, "1000"));
    let three = s.write_file("three.hcl", &counted(3, 0, "1000"));
    let one = s.write_file("one.hcl", &counted(1, 0, "1000"));
    let (two, three, one) = (two.to_str().unwrap(), three.to_str().unwrap(), one.to_str().unwrap());
    let s = s.start();
    s.supctl_ok(&["job", "run", two]);
    let p0 = pid(&s.wait_running("web/g/0/t"));
    let p1 = pid(&s.wait_running("web/g/1/t"));

    // 2 -> 3: [0] and [1] stay, [2] is created (exit 1: an instance is made).
    let out = s.supctl(&["job", "plan", three]);
    assert_eq!(code(&out), Some(1), "{}", crate::support::describe(&out));
    assert_eq!(
        stdout(&out),
        "~ job \"web\"\n  ~ group \"g\"\n      ~ count: 2 => 3\n  instances:\n    web.g[0]: update in place\n    web.g[1]: update in place\n    web.g[2]: create\n"
    );
    let said = s.supctl_ok(&["job", "run", three]);
    assert!(said.contains("updated in place: 2 instance(s) keep their processes, 1 created"), "{said}");
    let p2 = pid(&s.wait_running("web/g/2/t"));
    assert_eq!(pid(&s.wait_running("web/g/0/t")), p0, "[0] was replaced");
    assert_eq!(pid(&s.wait_running("web/g/1/t")), p1, "[1] was replaced");
    assert!(alive(p0) && alive(p1));

    // 3 -> 1: [1] and [2] are stopped and removed, [0] stays.
    let out = s.supctl(&["job", "plan", one]);
    assert_eq!(code(&out), Some(1), "{}", crate::support::describe(&out));
    assert_eq!(
        stdout(&out),
        "~ job \"web\"\n  ~ group \"g\"\n      ~ count: 3 => 1\n  instances:\n    web.g[0]: update in place\n    web.g[1]: remove\n    web.g[2]: remove\n"
    );
    let said = s.supctl_ok(&["job", "run", one]);
    assert!(said.contains("updated in place: 1 instance(s) keep their processes, 2 stopped and removed"), "{said}");
    assert!(wait_until(Duration::from_secs(10), || !alive(p1) && !alive(p2)), "[1] or [2] still runs");
    s.wait_status("[1] and [2] gone from the status", |st| {
        crate::support::task(st, "web/g/1/t").is_none() && crate::support::task(st, "web/g/2/t").is_none()
    });
    assert_eq!(pid(&s.wait_running("web/g/0/t")), p0, "[0] was replaced");
    assert!(alive(p0));
    // The same file again: nothing to do.
    let out = s.supctl(&["job", "plan", one]);
    assert_eq!((code(&out), stdout(&out)), (Some(0), String::new()), "{}", crate::support::describe(&out));
}

#[test]
fn plan_refuses_another_version_of_a_job_directory_job_as_run_does() {
    let s = Supd::new();
    let path = s.write_job("web.hcl", &job(0, "1000"));
    let other = s.write_file("other.hcl", &job(2, "1000"));
    let other = other.to_str().unwrap();
    let s = s.start();
    let first = pid(&s.wait_running("web/g/0/t"));

    let plan = s.supctl(&["job", "plan", other]);
    let run = s.supctl(&["job", "run", other]);
    assert_eq!(code(&plan), Some(255), "{}", crate::support::describe(&plan));
    assert_eq!(code(&run), Some(1), "{}", crate::support::describe(&run));
    let why = format!("job \"web\" comes from {} in the job directory", path.display());
    for out in [&plan, &run] {
        assert!(String::from_utf8_lossy(&out.stderr).contains(&why), "{}", crate::support::describe(out));
    }
    assert!(stdout(&plan).is_empty(), "the plan promised a change: {}", stdout(&plan));
    assert_eq!(pid(&s.wait_running("web/g/0/t")), first);
    // The file itself: nothing to change.
    let out = s.supctl(&["job", "plan", path.to_str().unwrap()]);
    assert_eq!((code(&out), stdout(&out)), (Some(0), String::new()), "{}", crate::support::describe(&out));
}

/// A job larger than this node's capacity: `job run` refuses it with the
/// numbers, and `job plan` says the same instead of promising its
/// instances (it exits 255, as for any refusal, and prints no plan).
#[test]
fn plan_refuses_a_job_that_does_not_fit_as_run_does() {
    let s = Supd::new().start();
    let big = s.write_file("big.hcl", &sleep_job_with("big", "", "resources {\n memory = 99999999\n }"));
    let big = big.to_str().expect("a UTF-8 path");
    let plan = s.supctl(&["job", "plan", big]);
    let run = s.supctl(&["job", "run", big]);
    assert_eq!(code(&plan), Some(255), "{}", crate::support::describe(&plan));
    assert_eq!(code(&run), Some(1), "{}", crate::support::describe(&run));
    for out in [&plan, &run] {
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("Resources exhausted") && said.contains("99999999 MB"),
            "{}",
            crate::support::describe(out)
        );
    }
    assert!(stdout(&plan).is_empty(), "the plan promised instances: {}", stdout(&plan));
    assert!(s.status()["jobs"].as_array().is_some_and(|j| j.iter().all(|j| j["name"] != "big")));
}
