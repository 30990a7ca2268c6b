//! `exec` isolation through the real supd, as root: the task's own root
//! (its task directory with `chroot_env` mounted read-only), private PID
//! and IPC namespaces with a fresh `/proc`, Nomad's default capabilities,
//! `nobody` unless it names a user, root and the host's PID namespace only
//! when supd.toml allows them, restarts as any task, and nothing left
//! mounted on the host.

use crate::support::*;
use std::path::{Path, PathBuf};

/// Nomad's default capability set (audit_write, chown, dac_override,
/// fowner, fsetid, kill, mknod, net_bind_service, setfcap, setgid,
/// setpcap, setuid, sys_chroot) as /proc shows it.
const NOMAD_CAPS: &str = "00000000a80405fb";

fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "exec isolation tests run as root (scripts/test runs them so)");
}

/// A file only root can read, in a directory outside `chroot_env`;
/// removed on drop.
struct HostSecret {
    dir: PathBuf,
}

impl HostSecret {
    fn new() -> HostSecret {
        let dir = PathBuf::from(format!("/srv/supd-exec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory under /srv");
        std::fs::write(dir.join("secret"), "s3cret\n").expect("the secret");
        std::os::unix::fs::chown(&dir, Some(0), Some(0)).expect("chown");
        std::fs::set_permissions(dir.join("secret"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        HostSecret { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("secret")
    }
}

impl Drop for HostSecret {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A job whose task writes what it sees to `/local/seen`, then lives
/// (`exec sleep`, with a handler-less PID 1 the stop is SIGKILL after
/// kill_timeout) or exits 1 (`restart`).
fn job(secret: &Path, extra_task: &str, extra_config: &str, then: &str) -> String {
    format!(
        r#"job "iso" {{
  group "g" {{
    restart {{
      attempts = 3
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }}
    task "t" {{
      driver       = "exec"
      kill_timeout = "300ms"
      {extra_task}
      config {{
        command = "/bin/sh"
        args    = ["-c", <<EOF
{{
echo pid=$$
echo procs=$(ls /proc | grep -c '^[0-9][0-9]*$')
grep -E '^Cap(Eff|Bnd)' /proc/self/status | tr -d '\t'
echo uid=$(id -u)
if [ -e {secret} ] || [ -e {secret_dir} ]; then echo secret=seen; else echo secret=hidden; fi
if touch /usr/supd-exec-test 2>/dev/null; then echo usr=writable; else echo usr=readonly; fi
echo dirs=$NOMAD_TASK_DIR,$NOMAD_ALLOC_DIR,$(pwd)
echo run >> /alloc/data/runs
}} > /local/seen
{then}
EOF
        ]
        {extra_config}
      }}
    }}
  }}
}}"#,
        secret = secret.display(),
        secret_dir = secret.parent().unwrap_or(Path::new("/")).display(),
    )
}

fn alloc_dir(s: &Supd) -> PathBuf {
    let st = s.status();
    PathBuf::from(instance(&st, "iso/g/0").and_then(|i| i["alloc_dir"].as_str()).expect("an allocation directory"))
}

/// What the task wrote, once it has.
fn seen(s: &Supd, dir: &Path) -> String {
    let path = dir.join("t/local/seen");
    let ok = wait_until(PATIENCE, || std::fs::read_to_string(&path).is_ok_and(|t| t.contains("dirs=")));
    assert!(ok, "the task wrote nothing to {}\n{}", path.display(), s.log());
    std::fs::read_to_string(&path).unwrap_or_default()
}

fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or("")
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let d = dir.to_string_lossy().to_string();
    info.lines().filter_map(|l| l.split(' ').nth(4)).filter(|m| m.starts_with(&d)).map(str::to_string).collect()
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn an_exec_task_sees_only_its_root_its_processes_and_nomads_capabilities() {
    require_root();
    let secret = HostSecret::new();
    let s = Supd::new();
    s.write_job("iso.hcl", &job(&secret.path(), "", "", "exec sleep 1000"));
    let s = s.start();
    let t = s.wait_running("iso/g/0/t");
    let dir = alloc_dir(&s);
    let out = seen(&s, &dir);
    assert_eq!(field(&out, "pid"), "1", "PID 1 of its own namespace:\n{out}");
    let procs: usize = field(&out, "procs").parse().unwrap_or(usize::MAX);
    assert!(procs <= 4, "/proc shows only the task's processes (sh, ls, grep, a subshell):\n{out}");
    assert!(out.contains(&format!("CapBnd:{NOMAD_CAPS}")), "bounding set is Nomad's default:\n{out}");
    assert!(out.contains("CapEff:0000000000000000"), "nobody has no effective capability:\n{out}");
    assert_eq!(field(&out, "uid"), "65534", "runs as nobody:\n{out}");
    assert_eq!(field(&out, "secret"), "hidden", "a host file outside chroot_env is not there:\n{out}");
    assert_eq!(field(&out, "usr"), "readonly", "chroot_env is read-only:\n{out}");
    assert_eq!(field(&out, "dirs"), "/local,/alloc,/", "Nomad's directories inside its root:\n{out}");
    // The host sees the task as one of its processes, in the task's cgroup.
    let pid = pid(&t);
    assert!(alive(pid));
    // The task's mounts are its own: the host has only the secrets/ tmpfs.
    let on_host = mounts_under(&dir);
    assert!(on_host.iter().all(|m| m.ends_with("/secrets")), "mounts of the task leaked to the host: {on_host:?}");
    s.supctl_ok(&["job", "stop", "iso"]);
    s.wait_dead("iso/g/0/t");
    s.assert_gone(pid, PATIENCE, "the task");
    let ok = wait_until(PATIENCE, || mounts_under(&dir).is_empty());
    assert!(ok, "mounts left after job stop: {:?}\n{}", mounts_under(&dir), s.log());
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn an_exec_task_restarts_like_any_task_and_leaves_no_mount() {
    require_root();
    let secret = HostSecret::new();
    let s = Supd::new();
    s.write_job("iso.hcl", &job(&secret.path(), "", "", "sleep 0.2; exit 1"));
    let s = s.start();
    let t = s.wait_task("iso/g/0/t", "restarted twice", |t| restarts(t) >= 2);
    let dir = alloc_dir(&s);
    let runs = wait_until(PATIENCE, || {
        std::fs::read_to_string(dir.join("alloc/data/runs")).is_ok_and(|r| r.lines().count() >= 3)
    });
    assert!(runs, "three runs wrote to /alloc/data/runs\n{}", s.log());
    assert!(count(&t, "Restarting", |_| true) >= 2, "{}", pretty(&t));
    let on_host = mounts_under(&dir);
    assert!(on_host.iter().all(|m| m.ends_with("/secrets")), "mounts of the task leaked to the host: {on_host:?}");
    let t = s.wait_dead("iso/g/0/t");
    assert_eq!(restarts(&t), 3, "{}", pretty(&t));
    assert!(s.leftovers().is_empty(), "processes left: {:?}", s.leftovers());
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn root_and_the_hosts_pid_namespace_are_refused_unless_supd_toml_allows_them() {
    require_root();
    let secret = HostSecret::new();
    let s = Supd::new();
    s.write_job("iso.hcl", &job(&secret.path(), "user = \"root\"", "", "exec sleep 1000"));
    let s = s.start();
    let t = s.wait_event("iso/g/0/t", "Driver Failure", |m| m.contains("user_denylist"));
    assert!(t["pid"].is_null(), "never started: {}", pretty(&t));
    drop(s);

    let s = Supd::new();
    s.write_job("iso.hcl", &job(&secret.path(), "", "pid_mode = \"host\"", "exec sleep 1000"));
    let s = s.start();
    s.wait_event("iso/g/0/t", "Driver Failure", |m| m.contains("allow_host_pid"));
    drop(s);

    // Allowed: root keeps Nomad's set as its effective one; the host's
    // PID namespace shows the host's processes.
    let s = Supd::new();
    s.write_job("iso.hcl", &job(&secret.path(), "user = \"root\"", "pid_mode = \"host\"", "exec sleep 1000"));
    let s = s.start_with_config("[driver.exec]\nuser_denylist = []\nallow_host_pid = true\n");
    s.wait_running("iso/g/0/t");
    let out = seen(&s, &alloc_dir(&s));
    assert_eq!(field(&out, "uid"), "0", "{out}");
    assert!(out.contains(&format!("CapEff:{NOMAD_CAPS}")), "root's effective set is Nomad's default:\n{out}");
    assert_ne!(field(&out, "pid"), "1", "{out}");
    let procs: usize = field(&out, "procs").parse().unwrap_or(0);
    assert!(procs > 4, "the host's processes:\n{out}");
    assert_eq!(field(&out, "secret"), "hidden", "still in its own root:\n{out}");
}

#[test]
fn an_unknown_exec_config_key_is_an_error_with_a_suggestion() {
    let s = Supd::new();
    let path = s.write_job("iso.hcl", &job(Path::new("/x/y"), "", "pid_mod = \"host\"", "exit 0"));
    let out =
        std::process::Command::new(SUPCTL).args(["validate", path.to_str().unwrap_or("")]).output().expect("supctl");
    let text = describe(&out);
    assert!(!out.status.success() && text.contains("pid_mod") && text.contains("pid_mode"), "{text}");
}

/// `driver.exec` is an attribute only where supd can isolate a task: as
/// root `supd --check` takes an exec job as it is; as an unprivileged
/// user it warns at the task that its start would be a Driver Failure.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn an_exec_task_is_flagged_where_supd_cannot_isolate_it() {
    require_root();
    require("setpriv", "util-linux");
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let file = dir.path().join("iso.hcl");
    std::fs::write(
        &file,
        "job \"iso\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config { command = \"/bin/true\" }\n    }\n  }\n}\n",
    )
    .expect("write the job");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    let check = |unprivileged: bool, warn_only: bool| {
        let mut cmd = if unprivileged {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", SUPD]);
            c
        } else {
            std::process::Command::new(SUPD)
        };
        cmd.arg("--check").arg("--jobs").arg(dir.path());
        if warn_only {
            cmd.arg("--warn-only");
        }
        let out = cmd.output().expect("run supd --check");
        // A job this host cannot run fails the check, unless only warned of.
        assert_eq!(out.status.success(), !unprivileged || warn_only, "{}", describe(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let as_root = check(false, false);
    assert!(!as_root.contains("driver.exec"), "{as_root}");
    assert!(check(true, false).contains("--warn-only"));
    let as_nobody = check(true, true);
    assert!(
        as_nobody.contains("iso.hcl:3:5: warning: task \"t\" uses driver \"exec\"")
            && as_nobody.contains("driver.exec is unset"),
        "{as_nobody}"
    );
}

/// A script check of an exec task runs inside the task, as Nomad's exec
/// driver runs it: in its root (a file the task made in /local is there,
/// which on the host is not), its PID namespace (PID 1 is the task,
/// which it may signal) and as its user.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_script_check_of_an_exec_task_runs_inside_the_task() {
    require_root();
    let s = Supd::new();
    s.write_job(
        "inside.hcl",
        r#"job "inside" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "touch /local/marker; exec sleep 1000"]
      }
      service {
        check {
          name     = "inside"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -f /local/marker && kill -0 1 && echo uid=$(id -u) pid1=$(cat /proc/1/comm) cwd=$(pwd)"]
          interval = "200ms"
          timeout  = "5s"
        }
      }
    }
  }
}
"#,
    );
    let s = s.start();
    assert!(!Path::new("/local/marker").exists(), "the host has no /local/marker");
    let t = s.wait_health("inside/g/0/t", "passing");
    let c = check(&t, "inside").expect("the check is listed");
    assert_eq!(c["status"], "passing", "{}", pretty(&t));
    assert!(c["output"].as_str().is_some_and(|o| o.contains("uid=65534 pid1=sleep cwd=/")), "{}", pretty(c));
    s.supctl_ok(&["job", "stop", "inside"]);
    s.wait_dead("inside/g/0/t");
}
