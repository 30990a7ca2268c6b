//! The task's world on disk, through the real supd: allocation directories
//! (`NOMAD_ALLOC_DIR`, `NOMAD_TASK_DIR`, `NOMAD_SECRETS_DIR`, the working
//! directory), `template` blocks rendered before the start and again when
//! their `source` changes, and `artifact` blocks fetched from an HTTP
//! server the test runs on 127.0.0.1.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The allocation directory of instance `target` (`JOB/GROUP/INDEX`), as
/// its task sees it: the state directory is the default data_dir.
fn alloc_dir(s: &Supd, target: &str) -> PathBuf {
    let st = s.status();
    let id = instance(&st, target).and_then(|i| i["id"].as_str()).expect("an instance id").to_string();
    s.path("state").join("alloc").join(id)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

fn is_mount_point(p: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines().filter_map(|l| l.split(' ').nth(4)).any(|m| Path::new(m) == p)
}

/// Waits until the file has at least `n` lines; returns them.
fn wait_lines_at(s: &Supd, path: &Path, n: usize) -> Vec<String> {
    s.wait_lines(path.to_str().expect("UTF-8 path"), n)
}

const RUNNER: &str = r#"job "w" {
  group "g" {
    restart {
      attempts = 5
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo \"$NOMAD_ALLOC_DIR $NOMAD_TASK_DIR $NOMAD_SECRETS_DIR $(pwd)\" >> local/seen; echo run >> ${NOMAD_ALLOC_DIR}/data/runs; exec sleep 1000"]
      }
    }
  }
}
"#;

#[test]
fn the_allocation_directory_lives_as_long_as_the_instance() {
    let s = Supd::new();
    s.write_job("w.hcl", RUNNER);
    let mut s = s.start();
    let t = s.wait_running("w/g/0/t");
    let dir = alloc_dir(&s, "w/g/0");
    let task = dir.join("t");
    let seen = wait_lines_at(&s, &task.join("local/seen"), 1);
    let want = format!(
        "{} {} {} {}",
        dir.join("alloc").display(),
        task.join("local").display(),
        task.join("secrets").display(),
        task.display()
    );
    assert_eq!(seen, std::slice::from_ref(&want), "the task's view of its directories\n{}", s.log());
    for d in ["alloc/data", "alloc/logs", "alloc/tmp", "t/local", "t/secrets", "t/tmp"] {
        assert!(dir.join(d).is_dir(), "{d} is missing\n{}", s.log());
    }
    assert_eq!(mode(&task.join("secrets")), 0o700);
    if nix::unistd::geteuid().is_root() {
        assert!(is_mount_point(&task.join("secrets")), "secrets/ is a tmpfs as root\n{}", s.log());
    }
    // Task Setup comes between Received and Started, as in Nomad.
    let k = kinds(&t);
    let (rec, setup, started) =
        (event_at(&t, "Received", 0), event_at(&t, "Task Setup", 0), event_at(&t, "Started", 0));
    assert!(rec < setup && setup < started && rec.is_some(), "events in Nomad's order: {k:?}");
    assert!(events(&t).contains(&("Task Setup".into(), "Building Task Directory".into())), "{k:?}");

    // A restart of the task keeps the directory and what is in it.
    s.supctl_ok(&["restart", "w/g/0/t"]);
    wait_lines_at(&s, &task.join("local/seen"), 2);
    assert_eq!(lines(&dir.join("alloc/data/runs")).len(), 2);

    // So does a restart of supd (even a crash): the instance gets a new ID
    // but keeps its directory.
    s.kill9();
    wait_until(PATIENCE, || std::os::unix::net::UnixStream::connect(s.socket()).is_err());
    let s = s.start();
    s.wait_running("w/g/0/t");
    wait_lines_at(&s, &task.join("local/seen"), 3);
    assert_eq!(lines(&task.join("local/seen")), [want.clone(), want.clone(), want]);

    // A stop for good removes it, the secrets tmpfs first.
    s.supctl_ok(&["job", "stop", "w"]);
    s.wait_dead("w/g/0/t");
    assert!(wait_until(PATIENCE, || !dir.exists()), "{} is still there after job stop\n{}", dir.display(), s.log());
    assert!(!is_mount_point(&task.join("secrets")));
}

#[test]
fn a_task_reads_its_rendered_config_and_a_secret_from_an_env_template() {
    let s = Supd::new();
    s.write_job(
        "tpl.hcl",
        r#"job "tpl" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat local/app.conf > @DIR@/out; echo \"password=$DB_PASSWORD user=$DB_USER\" >> @DIR@/out; exec sleep 1000"]
      }
      env {
        GREETING = "hello"
        DB_USER  = "from-env-block"
      }
      template {
        destination = "local/app.conf"
        data        = <<EOH
greeting={{ env "GREETING" }}
task={{ env "NOMAD_TASK_NAME" }}
EOH
      }
      template {
        destination = "${NOMAD_SECRETS_DIR}/db.env"
        env         = true
        perms       = "0600"
        data        = <<EOH
DB_PASSWORD={{ "czNjcjN0" | base64Decode }}
DB_USER=app
EOH
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_running("tpl/g/0/t");
    let out = s.wait_lines("out", 3);
    assert_eq!(out, ["greeting=hello", "task=t", "password=s3cr3t user=app"], "{}", s.log());
    let secret = alloc_dir(&s, "tpl/g/0").join("t/secrets/db.env");
    assert_eq!(mode(&secret), 0o600);
    // Nomad's order: received, the task directory, then the start.
    let k = kinds(&t);
    assert_eq!(k, ["Received", "Task Setup", "Started"], "{}", pretty(&t));
}

#[test]
fn a_template_that_does_not_render_fails_the_start_and_follows_the_restart_policy() {
    let s = Supd::new();
    s.write_job(
        "bad.hcl",
        r#"job "bad" {
  group "g" {
    restart {
      attempts = 1
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started >> @DIR@/started; exec sleep 1000"]
      }
      template {
        source      = "local/missing.tpl"
        destination = "local/app.conf"
      }
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_dead("bad/g/0/t");
    let evs = events(&t);
    let failures: Vec<&(String, String)> = evs.iter().filter(|(k, _)| k == "Failed Templates").collect();
    assert_eq!(failures.len(), 2, "one attempt, then the restart: {evs:#?}");
    assert!(
        failures[0].1.starts_with("Template failed: cannot read the template source local/missing.tpl"),
        "{evs:#?}"
    );
    assert!(kinds(&t).contains(&"Restarting".to_string()) && kinds(&t).contains(&"Not Restarting".to_string()));
    assert_eq!(t["failed"].as_bool(), Some(true));
    assert!(!s.path("started").exists(), "the task never started");
}

/// A template rendered from a `source` in the shared alloc/ (put there by a
/// prestart task), by two tasks: one restarted, one signalled on change.
const WATCHED: &str = r#"job "watch" {
  group "g" {
    task "init" {
      lifecycle {
        hook = "prestart"
      }
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cp @DIR@/app.tpl ${NOMAD_ALLOC_DIR}/app.tpl"]
      }
    }
    task "restarted" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat local/app.conf >> @DIR@/restarted; exec sleep 1000"]
      }
      template {
        source      = "../alloc/app.tpl"
        destination = "local/app.conf"
        change_mode = "restart"
        splay       = "100ms"
      }
    }
    task "signalled" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'cat local/app.conf >> @DIR@/signalled' HUP; cat local/app.conf >> @DIR@/signalled; while :; do sleep 0.05; done"]
      }
      template {
        source        = "../alloc/app.tpl"
        destination   = "local/app.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        splay         = "0s"
      }
    }
  }
}
"#;

#[test]
fn a_changed_template_source_restarts_or_signals_its_task() {
    let s = Supd::new();
    s.write_file("app.tpl", "{{ env \"NOMAD_TASK_NAME\" }} v1\n");
    s.write_job("watch.hcl", WATCHED);
    let s = s.start();
    s.wait_running("watch/g/0/restarted");
    let signalled = s.wait_running("watch/g/0/signalled");
    assert_eq!(s.wait_lines("restarted", 1), ["restarted v1"]);
    assert_eq!(s.wait_lines("signalled", 1), ["signalled v1"]);
    let source = alloc_dir(&s, "watch/g/0").join("alloc/app.tpl");

    // Written in place.
    let at = Instant::now();
    std::fs::write(&source, "{{ env \"NOMAD_TASK_NAME\" }} v2\n").expect("write the source");
    assert_eq!(s.wait_lines("restarted", 2)[1], "restarted v2");
    assert_eq!(s.wait_lines("signalled", 2)[1], "signalled v2");
    let took = at.elapsed();
    assert!(took < Duration::from_secs(2), "the change took {took:?}\n{}", s.log());
    let st = s.status();
    let r = task(&st, "watch/g/0/restarted").expect("task");
    assert!(
        events(r).contains(&("Restart Signaled".into(), "Template with change_mode restart re-rendered".into())),
        "{}",
        pretty(r)
    );
    assert_eq!(restarts(r), 1);
    let g = task(&st, "watch/g/0/signalled").expect("task");
    assert_eq!(pid(g), pid(&signalled), "a signal, not a restart");
    assert!(
        events(g).contains(&("Signaling".into(), "Task being sent signal SIGHUP: Template re-rendered".into())),
        "{}",
        pretty(g)
    );

    // Renamed over it, as editors and config tools do.
    let tmp = source.with_file_name(".app.tpl.new");
    std::fs::write(&tmp, "{{ env \"NOMAD_TASK_NAME\" }} v3\n").expect("write");
    std::fs::rename(&tmp, &source).expect("rename");
    assert_eq!(s.wait_lines("restarted", 3)[2], "restarted v3");
    assert_eq!(s.wait_lines("signalled", 3)[2], "signalled v3");

    // The same text again changes nothing: no restart, no signal.
    std::fs::write(&source, "{{ env \"NOMAD_TASK_NAME\" }} v3\n").expect("write");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines(&s.path("restarted")).len(), 3);
    assert_eq!(lines(&s.path("signalled")).len(), 3);
}
