//! The harness shared by the integration tests that run the real `supd` on
//! a temporary job directory and socket, driven by the real `supctl`: start,
//! wait for what supd reports, read its JSON status, and leave nothing
//! behind. Each test file uses the parts it needs.
#![allow(dead_code)]

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use supd::control::protocol::{Status, TaskStatus};

pub const SUPD: &str = env!("CARGO_BIN_EXE_supd");
pub const SUPCTL: &str = env!("CARGO_BIN_EXE_supctl");

/// The ceiling of every wait for something supd should do "soon".
pub const PATIENCE: Duration = Duration::from_secs(15);

/// supd passes its own environment to its tasks; this variable, set to the
/// test's temporary directory, marks every process a test started, so that
/// nothing leaks from one test into the next.
pub const TAG: &str = "SUPD_TEST_TAG";

// --- harness -----------------------------------------------------------------

/// One supd on its own temporary job directory and socket. Dropping it stops
/// supd (SIGTERM, then SIGKILL) and kills anything its tasks left behind.
pub struct Supd {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
}

impl Supd {
    /// A temporary directory with an empty job directory; supd not started.
    pub fn new() -> Supd {
        let dir = tempfile::Builder::new().prefix("supd-it-").tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("jobs")).expect("job directory");
        Supd { dir, child: None }
    }

    /// A path in the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn dir(&self) -> &str {
        self.dir.path().to_str().expect("UTF-8 temporary path")
    }

    pub fn socket(&self) -> PathBuf {
        self.path("supd.sock")
    }

    /// Writes `jobs/NAME` with every `@DIR@` replaced by the temporary
    /// directory and `@PY@` by the python3 interpreter; returns its path.
    pub fn write_job(&self, name: &str, hcl: &str) -> PathBuf {
        let path = self.path("jobs").join(name);
        let hcl = hcl.replace("@DIR@", self.dir());
        let hcl = if hcl.contains("@PY@") { hcl.replace("@PY@", python()) } else { hcl };
        std::fs::write(&path, hcl).expect("write job file");
        path
    }

    /// Writes a file outside the job directory, with `@DIR@` replaced.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text.replace("@DIR@", self.dir())).expect("write file");
        path
    }

    pub fn start(self) -> Supd {
        self.start_with_env(&[])
    }

    /// Kills supd with SIGKILL (nothing is stopped, nothing saved) and
    /// reaps it; its directories stay for the next one.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("supd started");
        child.kill().expect("kill -9 supd");
        child.wait().expect("reap supd");
    }

    /// Starts supd with extra environment variables and waits until its
    /// socket answers.
    pub fn start_with_env(self, env: &[(&str, &str)]) -> Supd {
        self.start_with_args(&[], env)
    }

    /// Writes `supd.toml` (with `@DIR@` replaced) and starts supd with it.
    pub fn start_with_config(self, toml: &str) -> Supd {
        let path = self.write_file("supd.toml", toml);
        self.start_with_args(&["--config", path.to_str().expect("UTF-8 path")], &[])
    }

    /// Starts supd with extra arguments and environment variables.
    pub fn start_with_args(self, args: &[&str], env: &[(&str, &str)]) -> Supd {
        self.launch(Path::new(SUPD), args, env, false)
    }

    /// Starts the supd binary at `exe` (a copy, which a test may replace).
    pub fn start_from(self, exe: &Path) -> Supd {
        self.launch(exe, &[], &[], false)
    }

    /// Starts supd with SIGCHLD ignored, as some launchers leave it.
    pub fn start_with_sigchld_ignored(self) -> Supd {
        self.launch(Path::new(SUPD), &[], &[], true)
    }

    /// The command that starts supd on this directory: `program` with
    /// `first` before supd's own arguments (a wrapper that execs supd).
    pub fn command(&self, program: &Path, first: &[&str]) -> Command {
        let log = std::fs::File::create(self.path("supd.log")).expect("supd log");
        let log2 = log.try_clone().expect("supd log");
        let mut cmd = Command::new(program);
        cmd.args(first)
            .arg("--jobs")
            .arg(self.path("jobs"))
            .arg("--socket")
            .arg(self.socket())
            .arg("--log-dir")
            .arg(self.path("logs"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--log-level")
            .arg("debug")
            .env(TAG, self.dir())
            // No test reaches the host's container engine: one that wants
            // an engine names its own in supd.toml.
            .env("DOCKER_HOST", format!("unix://{}/no-engine.sock", self.dir()))
            .env_remove("NOTIFY_SOCKET")
            .env_remove("SUPD_SOCKET")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        cmd
    }

    fn launch(self, exe: &Path, args: &[&str], env: &[(&str, &str)], ignore_sigchld: bool) -> Supd {
        let mut cmd = self.command(exe, &[]);
        cmd.args(args).envs(env.iter().copied());
        if ignore_sigchld {
            use std::os::unix::process::CommandExt;
            // SAFETY: signal(2) only, between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGCHLD, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        self.spawn_ready(cmd)
    }

    /// Spawns `cmd` (see [`command`](Self::command)) and waits until supd's
    /// socket answers.
    pub fn spawn_ready(mut self, mut cmd: Command) -> Supd {
        self.child = Some(spawn_busy_safe(&mut cmd).expect("start supd"));
        let ready = wait_until(PATIENCE, || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("supd exited at start with {status}\n{}", self.log());
            }
            answered(&self.supctl(&["status"]))
        });
        assert!(ready, "supd's socket did not answer\n{}", self.log());
        self
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("supd started").id() as i32
    }

    /// supd's log, with the output of its tasks.
    pub fn log(&self) -> String {
        format!("--- supd log ---\n{}--- end ---", std::fs::read_to_string(self.path("supd.log")).unwrap_or_default())
    }

    /// Runs supctl on this supd. A `job run` returns once supd has taken
    /// the file (`--detach`), unless the test asks it to wait (`--wait`).
    pub fn supctl(&self, args: &[&str]) -> Output {
        let mut args = args.to_vec();
        if args.starts_with(&["job", "run"]) && !args.iter().any(|a| ["--handoff", "--wait", "--detach"].contains(a)) {
            args.insert(2, "--detach");
        }
        Command::new(SUPCTL)
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .env_remove("SUPD_SOCKET")
            .stdin(Stdio::null())
            .output()
            .expect("run supctl")
    }

    /// Runs supctl and insists that it succeeds (for `status`, that supd
    /// answered: 0 or 4); returns its stdout.
    pub fn supctl_ok(&self, args: &[&str]) -> String {
        let out = self.supctl(args);
        let status = args.iter().find(|a| !a.starts_with('-')) == Some(&"status");
        let ok = if status { answered(&out) } else { out.status.success() };
        assert!(ok, "supctl {args:?} failed: {}\n{}", describe(&out), self.log());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn try_status(&self) -> Option<Value> {
        let out = self.supctl(&["--json", "status"]);
        if !answered(&out) {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        typed::<Status>(&v);
        Some(v)
    }

    /// `supctl --json status`, checked against the protocol's own type (a
    /// field supd renames fails here, not silently in a test).
    pub fn status(&self) -> Value {
        let out = self.supctl(&["--json", "status"]);
        assert!(answered(&out), "supctl status failed: {}\n{}", describe(&out), self.log());
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status is not JSON ({e}): {}", describe(&out)));
        typed::<Status>(&v);
        v
    }

    /// Polls the status until `pred` holds; returns that status. Fails the
    /// test with the last status and supd's log after [`PATIENCE`].
    pub fn wait_status(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(PATIENCE, || match self.try_status() {
            Some(s) => {
                let done = pred(&s);
                last = s;
                done
            }
            None => false,
        });
        assert!(ok, "timed out waiting until {what}\nlast status: {}\n{}", pretty(&last), self.log());
        last
    }

    /// Waits until the task (`JOB/GROUP/INDEX/TASK`) runs; returns its status.
    pub fn wait_running(&self, target: &str) -> Value {
        let st =
            self.wait_status(&format!("{target} runs"), |s| task(s, target).is_some_and(|t| t["state"] == "running"));
        task(&st, target).cloned().expect("task")
    }

    /// Waits until the task is dead for good; returns its status.
    pub fn wait_dead(&self, target: &str) -> Value {
        let st =
            self.wait_status(&format!("{target} is dead"), |s| task(s, target).is_some_and(|t| t["state"] == "dead"));
        task(&st, target).cloned().expect("task")
    }

    /// Waits until the task (`JOB/GROUP/INDEX/TASK`) satisfies `pred`;
    /// returns the task's status.
    pub fn wait_task(&self, target: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let st = self.wait_status(&format!("{target}: {what}"), |s| task(s, target).is_some_and(&pred));
        task(&st, target).cloned().expect("task")
    }

    /// Waits until the task's health is `health`; returns the task's status.
    pub fn wait_health(&self, target: &str, health: &str) -> Value {
        self.wait_task(target, &format!("health is {health}"), |t| t["health"] == health)
    }

    /// Waits until the task has an event of type `kind` whose message
    /// satisfies `pred`; returns the task's status.
    pub fn wait_event(&self, target: &str, kind: &str, pred: impl Fn(&str) -> bool) -> Value {
        self.wait_task(target, &format!("a {kind:?} event"), |t| events(t).iter().any(|(k, m)| k == kind && pred(m)))
    }

    /// Live processes of this test (started through supd) whose command line
    /// is exactly `cmdline` (arguments joined by spaces).
    pub fn procs_running(&self, cmdline: &str) -> Vec<i32> {
        procs_with_env(&format!("{TAG}={}", self.dir())).into_iter().filter(|p| cmdline_of(*p) == cmdline).collect()
    }

    /// Waits until a file of the temporary directory has at least `n` lines.
    pub fn wait_lines(&self, name: &str, n: usize) -> Vec<String> {
        let ok = wait_until(PATIENCE, || lines(&self.path(name)).len() >= n);
        assert!(ok, "{name} did not reach {n} lines: {:?}\n{}", lines(&self.path(name)), self.log());
        lines(&self.path(name))
    }

    /// Waits until a process is gone from /proc (reaped, not a zombie);
    /// fails with what is left of it and supd's log.
    pub fn assert_gone(&self, pid: i32, timeout: Duration, what: &str) {
        if !wait_until(timeout, || !alive(pid)) {
            panic!("{what} (pid {pid}) is still there after {timeout:?}: {}\n{}", proc_info(pid), self.log());
        }
    }

    /// Waits until no process carries the instance's NOMAD_ALLOC_ID; fails
    /// with what is left and supd's log.
    pub fn assert_instance_gone(&self, st: &Value, target: &str) {
        let id = instance(st, target).and_then(|i| i["id"].as_str()).expect("instance id");
        let marker = format!("NOMAD_ALLOC_ID={id}");
        if !wait_until(PATIENCE, || procs_with_env(&marker).is_empty()) {
            let left: Vec<String> =
                procs_with_env(&marker).into_iter().map(|p| format!("{p}: {}", proc_info(p))).collect();
            panic!("processes of instance {target} ({id}) are left: {left:#?}\n{}", self.log());
        }
    }

    /// Waits for supd to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Live processes this test started (through supd), supd excluded.
    pub fn leftovers(&self) -> Vec<i32> {
        let me = self.child.as_ref().map(|c| c.id() as i32);
        procs_with_env(&format!("{TAG}={}", self.dir())).into_iter().filter(|p| Some(*p) != me).collect()
    }
}

impl Drop for Supd {
    fn drop(&mut self) {
        if let Some(pid) = self.child.as_ref().map(|c| c.id() as i32) {
            // Politely first: supd stops its tasks; a second SIGTERM kills
            // what is left; then no more politeness.
            let mut exited = matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(Some(_))));
            for _ in 0..2 {
                if exited {
                    break;
                }
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                exited = self.wait_exit(Duration::from_secs(8)).is_some();
            }
            if let Some(child) = self.child.as_mut()
                && !exited
            {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for pid in procs_with_env(&format!("{TAG}={}", self.dir())) {
            eprintln!("supervisor test: killing leftover process {pid}");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // supd keeps task directories, and their secrets/ tmpfs, across its
        // own restarts: once it is gone for good they are the test's to undo.
        unmount_below(self.dir.path());
        // The loop survives a panic of its own (PID 1 must not abort), and
        // says so: any test that made one fails, so that the bug is found.
        let log = std::fs::read_to_string(self.path("supd.log")).unwrap_or_default();
        if !std::thread::panicking()
            && let Some(line) = log.lines().find(|l| l.contains("internal error while handling an event"))
        {
            panic!("supd caught a panic of its own: {line}\n{}", self.log());
        }
    }
}

/// Detaches every mount at or below `dir`, deepest first, so that the
/// temporary directory can be removed and no mount outlives the test.
pub fn unmount_below(dir: &Path) {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let mut points: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The images the container tests import ([`image_rootfs`]): tag and
/// command.
pub const IMAGES: [(&str, &str); 2] =
    [("redis:3.2", r#"CMD ["/usr/bin/redis-server", "--save", ""]"#), ("tools:1", r#"CMD ["/bin/sh"]"#)];

/// A root filesystem at `rootfs` of this host's own programs (redis-server,
/// redis-cli, a shell, sleep, echo, cat) and the libraries `ldd` names, for
/// an engine to import as an image: no registry is needed.
pub fn image_rootfs(rootfs: &Path) {
    for (from, to) in [
        ("/usr/bin/redis-server", "/usr/bin/redis-server"),
        ("/usr/bin/redis-cli", "/usr/bin/redis-cli"),
        ("/bin/sh", "/bin/sh"),
        ("/bin/sleep", "/bin/sleep"),
        ("/bin/echo", "/bin/echo"),
        ("/bin/cat", "/bin/cat"),
        ("/bin/ls", "/bin/ls"),
        ("/bin/ln", "/bin/ln"),
        ("/bin/rm", "/bin/rm"),
    ] {
        copy_with_libs(rootfs, from, to);
    }
    std::fs::create_dir_all(rootfs.join("tmp")).expect("tmp");
}

/// Copies the program `from` to `to` below `root`, with the shared
/// libraries it needs (as `ldd` lists them) at their own paths.
pub fn copy_with_libs(root: &Path, from: &str, to: &str) {
    copy_into(root, Path::new(from), to);
    let ldd = Command::new("ldd").arg(from).output().expect("ldd");
    for lib in String::from_utf8_lossy(&ldd.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
        copy_into(root, Path::new(lib), lib);
    }
}

fn copy_into(root: &Path, from: &Path, to: &str) {
    let dest = root.join(to.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().expect("a parent")).expect("mkdir");
    // The file itself, under the name it is run by (redis-server is a
    // link whose name decides what it does).
    std::fs::copy(std::fs::canonicalize(from).expect("the host's file"), &dest).expect("copy into the image");
}

/// The container id `status` shows for a task.
pub fn container_id(t: &Value) -> String {
    t["container"]["id"].as_str().unwrap_or("").to_string()
}

/// What redis answers to PING on port 6379 inside `pid`'s network namespace.
pub fn ping(pid: i32) -> String {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "redis-cli", "-p", "6379", "ping"])
        .output()
        .expect("nsenter redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The label every container of supd `s` carries.
pub fn home_label(s: &Supd) -> String {
    format!("supd.home={}", s.path("state").display())
}

/// (soft, hard) of the `/proc/PID/limits` line `name` in `text`.
pub fn limits(text: &str, name: &str) -> (String, String) {
    let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name:?} in {text}"));
    let words: Vec<&str> = line[name.len()..].split_whitespace().collect();
    (words[0].to_string(), words[1].to_string())
}

/// The `nproc` limit a container gets from supd: its own, at most
/// kernel.pid_max.
pub fn own_nproc() -> (String, String) {
    let pid_max: u64 =
        std::fs::read_to_string("/proc/sys/kernel/pid_max").expect("pid_max").trim().parse().expect("a number");
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NPROC).expect("getrlimit");
    ((soft.min(hard).min(pid_max)).to_string(), hard.min(pid_max).to_string())
}

/// Every path under `dir`, depth first.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() && !p.is_symlink() {
            all.extend(walk(&p));
        }
        all.push(p);
    }
    all
}

/// The path of `cmd`, or a failure that names the package bringing it.
pub fn require(cmd: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]) {
        let candidate = dir.join(cmd);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{cmd}` is not installed: install the Debian package `{package}` (scripts/test does so when run as root)");
}

/// Calls `pred` every 50 ms until it holds (true) or `timeout` passes (false).
/// A process's environment (`/proc/PID/environ`), once its exec has set
/// it up: supd reports a task running when the exec can no longer fail,
/// a moment before the kernel has placed the new program's environment
/// (on a loaded machine, long enough for a test to read it empty).
pub fn environ(pid: i32) -> String {
    let mut env = String::new();
    wait_until(PATIENCE, || {
        env = std::fs::read(format!("/proc/{pid}/environ"))
            .map_or(String::new(), |b| String::from_utf8_lossy(&b).into_owned());
        !env.is_empty()
    });
    env
}

pub fn wait_until(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `supctl status` got an answer from supd: exit 0 (every task up)
/// or 4 (some task is not running and healthy).
pub fn answered(out: &Output) -> bool {
    matches!(out.status.code(), Some(0 | 4))
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The lines of a file; none when it does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|s| s.lines().map(str::to_string).collect()).unwrap_or_default()
}

/// Whether a process exists (a zombie counts: it has not been reaped).
/// Whether a process exists and has not ended (a zombie waiting for its
/// parent to reap it has ended).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// What /proc says of a process: its state, parent and command line.
pub fn proc_info(pid: i32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    // After the command's parenthesis: state, ppid, pgrp, session.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().take(4).collect());
    format!("state/ppid/pgrp/sid {fields:?}, cmdline {:?}", cmd.join(" ").trim())
}

/// Processes whose environment holds the entry `needle` (`NAME=value`).
pub fn procs_with_env(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else { continue };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

pub fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs_f64()
}

/// Seconds since 1970 of an RFC 3339 UTC time as supd writes them
/// (`2026-11-28T05:06:07.123Z`).
pub fn rfc3339_secs(text: &str) -> f64 {
    pub fn bad<T>(text: &str) -> T {
        panic!("not an RFC 3339 UTC time: {text:?}")
    }
    let (date, time) = text.strip_suffix('Z').and_then(|t| t.split_once('T')).unwrap_or_else(|| bad(text));
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap_or_else(|_| bad(text))).collect();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap_or_else(|_| bad(text))).collect();
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

/// Seconds of a Go duration as supd prints them (`2.8s`, `112.5ms`, `1m0s`).
pub fn go_duration_secs(text: &str) -> f64 {
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().unwrap_or_else(|_| panic!("not a Go duration: {text:?}"));
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => panic!("unknown unit {unit:?} in {text:?}"),
        };
        total += number * scale;
        rest = tail;
    }
    total
}

// --- reading the status --------------------------------------------------------

/// An instance by `JOB/GROUP/INDEX`.
pub fn instance<'a>(st: &'a Value, target: &str) -> Option<&'a Value> {
    let p: Vec<&str> = target.split('/').collect();
    let index: u64 = p[2].parse().expect("instance index");
    let job = st["jobs"].as_array()?.iter().find(|j| j["name"] == p[0])?;
    let group = job["groups"].as_array()?.iter().find(|g| g["name"] == p[1])?;
    group["instances"].as_array()?.iter().find(|i| i["index"] == index)
}

/// A task by `JOB/GROUP/INDEX/TASK`.
pub fn task<'a>(st: &'a Value, target: &str) -> Option<&'a Value> {
    let (inst, name) = target.rsplit_once('/').expect("JOB/GROUP/INDEX/TASK");
    instance(st, inst)?["tasks"].as_array()?.iter().find(|t| t["name"] == name)
}

/// A part of a status read as the protocol's type: the tests read the
/// fields supd writes, by the names supd's own code uses.
pub fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("not a {} of the protocol ({e}): {}", std::any::type_name::<T>(), pretty(v)))
}

pub fn job_status(st: &Value, job: &str) -> String {
    typed::<Status>(st).jobs.into_iter().find(|j| j.name == job).map_or(String::new(), |j| j.status)
}

/// A task's events as (type, message), oldest first.
pub fn events(t: &Value) -> Vec<(String, String)> {
    typed::<TaskStatus>(t).events.into_iter().map(|e| (e.kind, e.message)).collect()
}

pub fn kinds(t: &Value) -> Vec<String> {
    events(t).into_iter().map(|(k, _)| k).collect()
}

/// The position of the first event of a type, after position `from`.
pub fn event_at(t: &Value, kind: &str, from: usize) -> Option<usize> {
    kinds(t).iter().skip(from).position(|k| k == kind).map(|i| i + from)
}

pub fn pid(t: &Value) -> i32 {
    typed::<TaskStatus>(t).pid.unwrap_or_else(|| panic!("task has no pid: {}", pretty(t)))
}

pub fn restarts(t: &Value) -> u64 {
    u64::from(typed::<TaskStatus>(t).restarts)
}

/// A process's command line, arguments joined by spaces.
pub fn cmdline_of(pid: i32) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    cmd.join(" ").trim().to_string()
}

/// How many events of a type, whose message satisfies `pred`, a task has.
pub fn count(t: &Value, kind: &str, pred: impl Fn(&str) -> bool) -> usize {
    events(t).iter().filter(|(k, m)| k == kind && pred(m)).count()
}

/// The times (seconds since 1970) of a task's events of one type.
pub fn event_times(t: &Value, kind: &str) -> Vec<f64> {
    t["events"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter(|e| e["type"] == kind)
                .map(|e| rfc3339_secs(e["time"].as_str().expect("event time")))
                .collect()
        })
        .unwrap_or_default()
}

/// A task's check by name, as listed in `tasks[].checks[]`.
pub fn check<'a>(t: &'a Value, name: &str) -> Option<&'a Value> {
    t["checks"].as_array()?.iter().find(|c| c["name"] == name)
}

/// A check's `status` and `output`.
pub fn check_state(t: &Value, name: &str) -> (String, String) {
    let c = check(t, name).unwrap_or_else(|| panic!("no check {name:?}: {}", pretty(t)));
    (c["status"].as_str().unwrap_or_default().to_string(), c["output"].as_str().unwrap_or_default().to_string())
}

/// The python3 interpreter itself (not a version manager's shim, whose
/// start is slow and which leaves a shell between supd and python).
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed by the health check tests");
        assert!(out.status.success(), "python3 does not run: {}", describe(&out));
        String::from_utf8(out.stdout).expect("UTF-8 path").trim().to_string()
    })
}

/// A job of one task that sleeps: the plainest thing to supervise.
pub fn sleep_job(name: &str) -> String {
    sleep_job_with(name, "", "")
}

/// [`sleep_job`] with more attributes and blocks in its group and in its
/// task (HCL, each written as is).
pub fn sleep_job_with(name: &str, group: &str, task: &str) -> String {
    one_task_job(name, "", group, "/bin/sleep", r#"["1000"]"#, task)
}

/// A job of one task that runs `script` with `/bin/sh -c` (the text of an
/// HCL string: `\"` for a quote, `${…}` interpolated), with more in the
/// job and in its group (HCL, each written as is).
pub fn sh_job(name: &str, job: &str, group: &str, script: &str) -> String {
    one_task_job(name, job, group, "/bin/sh", &format!(r#"["-c", "{script}"]"#), "")
}

/// Job `name`, group `g`, raw_exec task `t` running `command` with `args`
/// (an HCL list), and what else the job, the group and the task say.
fn one_task_job(name: &str, job: &str, group: &str, command: &str, args: &str, task: &str) -> String {
    let line = |indent: &str, text: &str| if text.is_empty() { String::new() } else { format!("{indent}{text}\n") };
    let (job, group, task) = (line("  ", job), line("    ", group), line("      ", task));
    format!(
        r#"job "{name}" {{
{job}  group "g" {{
{group}    task "t" {{
      driver = "raw_exec"
      config {{
        command = "{command}"
        args    = {args}
      }}
{task}    }}
  }}
}}"#
    )
}

// --- events across status reads ------------------------------------------------

/// supd keeps the last 10 events of a task (as Nomad does): a test that
/// checks a longer history follows it across status reads.
pub const EVENTS_KEPT: usize = 10;

/// One event as a test compares it: (time, type, message).
type Ev = (String, String, String);

fn full_events(t: &Value) -> Vec<Ev> {
    typed::<TaskStatus>(t).events.into_iter().map(|e| (e.time, e.kind, e.message)).collect()
}

/// A task's events gathered across status reads: each read's events are
/// joined to those seen before where the two overlap. Read often enough
/// (each status read inside a wait predicate) and nothing is missed; a
/// read that shares nothing with the one before after a full ring means
/// events were missed, and the test says so.
#[derive(Default)]
pub struct EventLog {
    seen: std::cell::RefCell<Vec<Ev>>,
}

impl EventLog {
    pub fn new() -> EventLog {
        EventLog::default()
    }

    /// Adds the events of this status read of the task.
    pub fn follow(&self, t: &Value) {
        let new = full_events(t);
        let mut seen = self.seen.borrow_mut();
        // The longest end of what was seen that starts the new list.
        let overlap = (0..=seen.len().min(new.len())).rev().find(|&k| seen[seen.len() - k..] == new[..k]).unwrap_or(0);
        assert!(
            overlap > 0 || seen.is_empty() || new.len() < EVENTS_KEPT,
            "events were missed between two status reads: had {seen:#?}, then {new:#?}"
        );
        seen.extend_from_slice(&new[overlap..]);
    }

    /// Every event followed, as (type, message), oldest first.
    pub fn events(&self) -> Vec<(String, String)> {
        self.seen.borrow().iter().map(|(_, k, m)| (k.clone(), m.clone())).collect()
    }

    pub fn kinds(&self) -> Vec<String> {
        self.seen.borrow().iter().map(|(_, k, _)| k.clone()).collect()
    }

    /// How many followed events of a type have a message satisfying `pred`.
    pub fn count(&self, kind: &str, pred: impl Fn(&str) -> bool) -> usize {
        self.seen.borrow().iter().filter(|(_, k, m)| k == kind && pred(m)).count()
    }

    /// The times (seconds since 1970) of the followed events of one type.
    pub fn times(&self, kind: &str) -> Vec<f64> {
        self.seen.borrow().iter().filter(|(_, k, _)| k == kind).map(|(t, _, _)| rfc3339_secs(t)).collect()
    }
}

/// Marks where a task's events stand now, so that a test can ask for the
/// events that came after it even once older ones have left the ring.
#[derive(Debug, Clone)]
pub struct EventMark(Option<Ev>);

pub fn event_mark(t: &Value) -> EventMark {
    EventMark(full_events(t).pop())
}

/// The task's events after `mark`, as (type, message), oldest first. When
/// the marked event has left the ring, every event kept is newer than it.
pub fn events_since(t: &Value, mark: &EventMark) -> Vec<(String, String)> {
    let all = full_events(t);
    let start = match &mark.0 {
        None => 0,
        Some(m) => all.iter().rposition(|e| e == m).map_or(0, |i| i + 1),
    };
    all[start..].iter().map(|(_, k, m)| (k.clone(), m.clone())).collect()
}

/// Spawns `cmd`, again while its program is "busy": a binary a test has
/// just copied can still be open for writing in a child another test
/// thread forked meanwhile, until that child execs (ETXTBSY).
pub fn spawn_busy_safe(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other,
        }
    }
}

/// A tmpfs of `size` mounted on a new directory for the length of a test
/// (root only).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir(dir).expect("the mount point");
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status();
        assert!(ok.is_ok_and(|o| o.success()), "cannot mount a tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    /// Unmounts it; when the test's directory went first (its removal
    /// stopped at the mount point), the mount point and that directory go
    /// too.
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        if std::fs::remove_dir(&self.0).is_ok()
            && let Some(parent) = self.0.parent()
        {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
