//! supd as PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`),
//! as in a container: it reaps every orphan, exits when its jobs are done
//! with a status that tells how they ended, and stops everything on SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUPD: &str = env!("CARGO_BIN_EXE_supd");

fn write_job(dir: &Path, hcl: &str) {
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    std::fs::write(dir.join("jobs").join("job.hcl"), hcl.replace("@DIR@", dir.to_str().unwrap())).unwrap();
}

/// supd's job directory, socket, log and state directories, all in `dir`.
fn dir_args(dir: &Path) -> Vec<std::path::PathBuf> {
    ["--jobs", "jobs", "--socket", "supd.sock", "--log-dir", "logs", "--state-dir", "state"]
        .chunks(2)
        .flat_map(|kv| [kv[0].into(), dir.join(kv[1])])
        .collect()
}

/// Starts supd as PID 1 of a new PID namespace.
fn start_as_init(dir: &Path) -> Child {
    start_as_init_with(dir, None)
}

/// Starts supd as PID 1 of a new PID namespace, its state in `state`
/// when given.
fn start_as_init_with(dir: &Path, state: Option<&Path>) -> Child {
    let log = std::fs::File::create(dir.join("supd.log")).unwrap();
    let mut args = dir_args(dir);
    if let Some(state) = state {
        args[7] = state.to_path_buf();
    }
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child", SUPD])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("unshare (util-linux) runs supd in a PID namespace; run the tests as root")
}

fn wait(child: &mut Child, dir: &Path, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("supd did not exit\n{}", std::fs::read_to_string(dir.join("supd.log")).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// supd's pid on the host: unshare's child (PID 1 inside).
fn supd_of(unshare: &Child) -> i32 {
    let children = std::fs::read_to_string(format!("/proc/{}/task/{}/children", unshare.id(), unshare.id())).unwrap();
    children.split_whitespace().next().unwrap().parse().unwrap()
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("supd.log")).unwrap_or_default()
}

/// A batch job that completes: supd, as PID 1, exits 0 by itself. Its task
/// leaves 1000 orphans that end at once; a second later none is a zombie.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn init_reaps_orphans_and_exits_0_when_the_jobs_complete() {
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        r#"job "j" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ > @DIR@/task-pid; for i in $(seq 1000); do (/bin/true &) ; done; sleep 1; ps -eo stat= | grep -c '^Z' > @DIR@/zombies; exit 0"]
      }
    }
  }
}"#,
    );
    let mut supd = start_as_init(dir.path());
    let code = wait(&mut supd, dir.path(), Duration::from_secs(20));
    assert_eq!(code, 0, "{}", log(dir.path()));
    let zombies = std::fs::read_to_string(dir.path().join("zombies")).unwrap_or_default();
    assert_eq!(zombies.trim(), "0", "orphans were left as zombies\n{}", log(dir.path()));
    assert!(log(dir.path()).contains("every job has ended"), "{}", log(dir.path()));
}

/// A batch job that fails: the container's exit status is the task's own
/// exit code, as tini passes its child's on.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn init_exits_with_the_code_of_the_task_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        r#"job "j" {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exit 3"]
      }
    }
  }
}"#,
    );
    let mut supd = start_as_init(dir.path());
    assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(20)), 3, "{}", log(dir.path()));
}

/// SIGTERM from outside the namespace reaches supd as PID 1: each task gets
/// its own kill signal, a process that ignores SIGTERM and is no task's (it
/// left its task's session, environment and cgroups) is swept with SIGKILL,
/// and supd exits.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn sigterm_to_init_stops_tasks_and_sweeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        r#"job "j" {
  group "g" {
    task "t" {
      driver       = "raw_exec"
      kill_signal  = "SIGTERM"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo got TERM > @DIR@/term; exit 0' TERM; env -u NOMAD_ALLOC_ID -u NOMAD_TASK_NAME setsid sh -c 'trap \"\" TERM; for d in /sys/fs/cgroup /sys/fs/cgroup/*; do echo $$ > $d/cgroup.procs; done 2>/dev/null; echo $$ > @DIR@/stray; exec sleep 1000' & while true; do sleep 0.1; done"]
      }
    }
  }
}"#,
    );
    let mut supd = start_as_init(dir.path());
    let stray = dir.path().join("stray");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !stray.exists() {
        assert!(Instant::now() < deadline, "the task did not start\n{}", log(dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let supd_pid = supd_of(&supd);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supd_pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    let started = Instant::now();
    let code = wait(&mut supd, dir.path(), Duration::from_secs(20));
    assert_eq!(code, 0, "{}", log(dir.path()));
    assert_eq!(std::fs::read_to_string(dir.path().join("term")).unwrap_or_default().trim(), "got TERM");
    // The stray ignored SIGTERM; it went at the SIGKILL a kill_timeout later.
    assert!(started.elapsed() >= Duration::from_millis(800), "{:?}", started.elapsed());
}

/// PID 1 of a namespace whose /proc is still the host's (`unshare --pid
/// --fork` without `--mount-proc`, a chroot): SIGTERM stops its task and
/// supd exits, rather than waiting for the host init's children to go.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn init_without_its_own_proc_exits_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        r#"job "j" {
  group "g" {
    task "t" {
      driver      = "raw_exec"
      kill_signal = "SIGTERM"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ > @DIR@/started; exec sleep 1000"]
      }
    }
  }
}"#,
    );
    let log_file = std::fs::File::create(dir.path().join("supd.log")).unwrap();
    let mut supd = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", SUPD])
        .args(dir_args(dir.path()))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("unshare (util-linux)");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !dir.path().join("started").exists() {
        assert!(Instant::now() < deadline, "the task did not start\n{}", log(dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let supd_pid = supd_of(&supd);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supd_pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(15)), 0, "{}", log(dir.path()));
    assert!(log(dir.path()).contains("supd stopped"), "{}", log(dir.path()));
}

/// `--log syslog` sends supd's own log as RFC 3164 datagrams.
#[test]
fn log_to_syslog() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        r#"job "j" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}"#,
    );
    let path = dir.path().join("syslog");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut supd = Command::new(SUPD)
        .args(dir_args(dir.path()))
        .args(["--exit-when-done", "--log", "syslog", "--syslog-socket"])
        .arg(&path)
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = rx.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if lines.last().is_some_and(|l| l.contains("supd stopped")) {
            break;
        }
    }
    assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(20)), 0);
    assert!(
        lines.iter().any(|l| l.starts_with("<30>") && l.contains("supd[") && l.contains("j.g[0]/t started")),
        "{lines:#?}"
    );
}

/// An isolated task (driver exec) run as another user, started at supd's
/// start, when supd is PID 1 as in the container image: it runs, completes,
/// and supd exits 0. The child of such a start once hung for good in
/// glibc's set-id wrappers (which wait for every thread of the program to
/// follow), and supd with it.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn an_isolated_task_of_another_user_starts_under_init() {
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        r#"job "j" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "exec"
      user   = "nobody"
      config {
        command = "/bin/sh"
        args    = ["-c", "[ \"$(id -u)\" = 65534 ]"]
      }
    }
  }
}"#,
    );
    let mut supd = start_as_init(dir.path());
    let code = wait(&mut supd, dir.path(), Duration::from_secs(30));
    assert_eq!(code, 0, "{}", log(dir.path()));
    assert!(log(dir.path()).contains("ended with exit code 0"), "{}", log(dir.path()));
}

/// An init with nothing to run exits at once, non-zero, saying why: no one
/// is there to `supctl reload` it once the files are fixed.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn init_with_nothing_to_run_exits_1_at_once() {
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), "job \"j\" {\n  task \"t\" {\n    driver = \"raw_exec\"\n");
    let mut supd = start_as_init(dir.path());
    assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(20)), 1, "{}", log(dir.path()));
    assert!(log(dir.path()).contains("nothing to run"), "{}", log(dir.path()));
    std::fs::remove_dir_all(dir.path().join("jobs")).unwrap();
    let mut supd = start_as_init(dir.path());
    assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(20)), 1, "{}", log(dir.path()));
    assert!(log(dir.path()).contains("does not exist: nothing to run"), "{}", log(dir.path()));
}

/// A batch job that appends a line and completes.
const ONCE: &str = r#"job "once" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo run >> @DIR@/runs"]
      }
    }
  }
}"#;

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs")).unwrap_or_default().lines().count()
}

/// As a container's PID 1, a start is a boot (as after `docker restart`,
/// which keeps the container's layer): a batch job that completed runs
/// again, whatever the earlier run left in a state directory on the root
/// file system; on a volume (here a tmpfs: another file system) the state
/// is used as on a host, and the completed job stays completed.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn as_pid_1_a_start_is_a_boot_unless_the_state_is_on_a_volume() {
    // On the file system of the build (where `/tmp` may be a tmpfs, which
    // is a volume by this rule).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    write_job(dir.path(), ONCE);
    for n in 1..=2 {
        let mut supd = start_as_init(dir.path());
        assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(20)), 0, "{}", log(dir.path()));
        assert_eq!(runs(dir.path()), n, "start {n}\n{}", log(dir.path()));
    }
    assert!(log(dir.path()).contains("this start is a boot"), "{}", log(dir.path()));

    let volume = tempfile::Builder::new().prefix("supd-init-state-").tempdir_in("/dev/shm").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_job(dir.path(), ONCE);
    for _ in 0..2 {
        let mut supd = start_as_init_with(dir.path(), Some(volume.path()));
        assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(20)), 0, "{}", log(dir.path()));
    }
    assert_eq!(runs(dir.path()), 1, "the completed job ran again\n{}", log(dir.path()));
    assert!(log(dir.path()).contains("is on a volume"), "{}", log(dir.path()));
}

/// As init, the signals tini passes on that supd has no use for (here
/// SIGALRM and SIGPWR) reach the task, and supd itself goes on.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn as_init_more_signals_are_forwarded_as_tini_does() {
    let dir = tempfile::tempdir().unwrap();
    write_job(
        dir.path(),
        r#"job "j" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo alrm >> @DIR@/got' ALRM; trap 'echo pwr >> @DIR@/got' PWR; echo ready >> @DIR@/got; while true; do sleep 0.1; done"]
      }
    }
  }
}"#,
    );
    let mut supd = start_as_init(dir.path());
    let got = dir.path().join("got");
    let lines = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&got).unwrap_or_default();
            if text.lines().count() >= n || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(lines(1).contains("ready"), "{}", log(dir.path()));
    let supd_pid = supd_of(&supd);
    for sig in [nix::sys::signal::Signal::SIGALRM, nix::sys::signal::Signal::SIGPWR] {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(supd_pid), sig).unwrap();
    }
    let text = lines(3);
    assert!(text.contains("alrm") && text.contains("pwr"), "{text}\n{}", log(dir.path()));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supd_pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(wait(&mut supd, dir.path(), Duration::from_secs(20)), 0, "{}", log(dir.path()));
}

/// Side by side with tini, as PID 1 of a namespace running the same task
/// (a shell that writes the time it started, then waits for SIGTERM): the
/// time from exec to the task's start, and from SIGTERM to the end of
/// everything. Medians of three runs each; supd may be slower than tini by
/// a bounded margin (it reads its job directory and state first), never by
/// more. The figures are printed.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn as_init_supd_starts_and_stops_the_task_close_to_tini() {
    let tini = Path::new("/usr/bin/tini");
    assert!(tini.is_file(), "the tests install tini (Debian package tini)");
    let task =
        |dir: &Path| format!("date +%s%N >> {}/first; trap 'exit 0' TERM; while :; do sleep 0.05; done", dir.display());
    let now_ns = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128;
    let measure = |with_supd: bool| -> (Duration, Duration) {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
        if with_supd {
            write_job(
                dir.path(),
                &format!(
                    "job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"raw_exec\"\n      kill_signal = \"SIGTERM\"\n      config {{\n        command = \"/bin/sh\"\n        args = [\"-c\", {:?}]\n      }}\n    }}\n  }}\n}}\n",
                    task(dir.path())
                ),
            );
            // No JVM probed at start (a JDK is installed for the java
            // tests): supd's own work is what is compared.
            let config = dir.path().join("supd.toml");
            std::fs::write(&config, "[driver.java]\njava_path = \"/nonexistent/java\"\n").unwrap();
            cmd.arg(SUPD).args(dir_args(dir.path())).arg("--config").arg(&config);
        } else {
            cmd.arg(tini).args(["-s", "--", "/bin/sh", "-c"]).arg(task(dir.path()));
        }
        let out = std::fs::File::create(dir.path().join("supd.log")).unwrap();
        let t0 = now_ns();
        let mut child = cmd.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).spawn().unwrap();
        let first = dir.path().join("first");
        let deadline = Instant::now() + Duration::from_secs(15);
        let started: i128 = loop {
            if let Some(n) = std::fs::read_to_string(&first).ok().and_then(|t| t.trim().parse().ok()) {
                break n;
            }
            assert!(Instant::now() < deadline, "the task did not start\n{}", log(dir.path()));
            std::thread::sleep(Duration::from_millis(2));
        };
        let start = Duration::from_nanos((started - t0).max(0) as u64);
        std::thread::sleep(Duration::from_millis(300));
        let pid1 = supd_of(&child);
        let asked = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid1), nix::sys::signal::Signal::SIGTERM).unwrap();
        let code = wait(&mut child, dir.path(), Duration::from_secs(20));
        let stop = asked.elapsed();
        assert_eq!(code, 0, "{}", log(dir.path()));
        (start, stop)
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let runs = |with_supd| (0..3).map(|_| measure(with_supd)).collect::<Vec<_>>();
    let (s, t) = (runs(true), runs(false));
    let (s_start, s_stop) = (median(s.iter().map(|r| r.0).collect()), median(s.iter().map(|r| r.1).collect()));
    let (t_start, t_stop) = (median(t.iter().map(|r| r.0).collect()), median(t.iter().map(|r| r.1).collect()));
    eprintln!(
        "exec -> task started: supd {s_start:?}, tini {t_start:?}; SIGTERM -> all ended: supd {s_stop:?}, tini {t_stop:?}"
    );
    assert!(s_start <= t_start + Duration::from_millis(500), "supd {s_start:?} against tini {t_start:?}");
    assert!(s_stop <= t_stop + Duration::from_millis(1000), "supd {s_stop:?} against tini {t_stop:?}");
}
