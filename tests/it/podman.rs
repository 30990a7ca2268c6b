//! The podman driver against a real podman: a private `podman system
//! service` (Debian's podman) of this test binary, with its own storage,
//! run and temporary directories and socket under a temporary directory,
//! in a network namespace of its own; never a podman of the host. Its
//! images are made offline with `podman import` from this host's own files
//! (`redis:3.2`, `tools:1`, as the docker tests').
//!
//! A podman task runs (redis answers inside its container's network
//! namespace), gets its task directories and its ulimits, is restarted
//! after its process is killed, and `job stop` leaves no container.

use crate::support::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The private podman service of this test binary. A watcher shell holds
/// it and, when the pipe from this process closes, removes every
/// container, stops the service and removes its directory.
struct Engine {
    dir: PathBuf,
    podman: PathBuf,
    _watch: Mutex<(Child, ChildStdin)>,
}

impl Engine {
    fn socket(&self) -> PathBuf {
        self.dir.join("podman.sock")
    }

    /// `podman` on this engine's own storage.
    fn flags(dir: &Path) -> String {
        let d = dir.display();
        format!("--root {d}/root --runroot {d}/run --tmpdir {d}/tmp --cgroup-manager=cgroupfs --events-backend=file")
    }

    /// `podman ARGS` in the service's mount namespace, on its storage.
    fn podman(&self, args: &[&str]) -> std::process::Output {
        let ns = std::fs::read_to_string(self.dir.join("ns.pid")).expect("the service's pid");
        Command::new("nsenter")
            .args(["-t", ns.trim(), "-m"])
            .arg(&self.podman)
            .args(Engine::flags(&self.dir).split(' '))
            .args(args)
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .output()
            .expect("run podman")
    }

    /// The ids of every container (running or not) labelled `key=value`.
    fn containers(&self, label: &str) -> Vec<String> {
        let out = self.podman(&["ps", "-a", "-q", "--no-trunc", "--filter", &format!("label={label}")]);
        assert!(out.status.success(), "podman ps: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }

    fn inspect(&self, id: &str) -> Value {
        let out = self.podman(&["inspect", id]);
        assert!(out.status.success(), "podman inspect: {}", describe(&out));
        serde_json::from_slice::<Value>(&out.stdout).expect("inspect JSON")[0].clone()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("podman.log")).unwrap_or_default()
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(start_engine)
}

fn start_engine() -> Engine {
    let podman = require("podman", "podman");
    require("nsenter", "util-linux");
    require("unshare", "util-linux");
    assert!(nix::unistd::geteuid().is_root(), "the podman driver's tests run a podman service as root");
    let dir = tempfile::Builder::new().prefix("sp-").tempdir_in("/tmp").expect("temporary directory").keep();
    let d = dir.display().to_string();
    std::fs::write(
        dir.join("storage.conf"),
        format!("[storage]\ndriver = \"overlay\"\nrunroot = \"{d}/run\"\ngraphroot = \"{d}/root\"\n"),
    )
    .expect("storage.conf");
    let p = format!("{} {}", podman.display(), Engine::flags(&dir));
    // Network and mount namespaces of its own: whatever network podman
    // sets up stays in the first; in the second (which sees the host's
    // mounts, the tasks' secrets/ among them) the image cache podman
    // keeps in /var/lib/containers whatever its storage is a directory
    // of the test's own.
    let script = format!(
        "export CONTAINERS_STORAGE_CONF={d}/storage.conf
         [ -e /var/lib/containers ] || {{ mkdir /var/lib/containers && touch {d}/made; }}
         mkdir -p {d}/cache
         unshare --net --mount --propagation slave sh -c 'echo $$ >{d}/ns.pid.new; mv {d}/ns.pid.new {d}/ns.pid
           ip link set lo up; mount --bind {d}/cache /var/lib/containers
           exec {p} system service --time=0 unix://{d}/podman.sock' </dev/null >{d}/podman.log 2>&1 &
         e=$!
         cat >/dev/null
         nsenter -t $e -m {p} rm -a -f -t 0 >/dev/null 2>&1
         kill $e; wait $e
         grep -o ' {d}/[^ ]*' /proc/mounts | sort -r | xargs -r umount -l
         [ -e {d}/made ] && rmdir /var/lib/containers
         rm -rf {d}"
    );
    let mut child =
        Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect("start the private podman");
    let stdin = child.stdin.take().expect("the watcher's stdin");
    let engine = Engine { dir, podman, _watch: Mutex::new((child, stdin)) };
    let up = wait_until(Duration::from_secs(60), || answers(&engine.socket()));
    assert!(up, "the private podman service did not answer:\n{}", engine.log());
    let rootfs = engine.dir.join("rootfs");
    image_rootfs(&rootfs);
    let ns = std::fs::read_to_string(engine.dir.join("ns.pid")).expect("the service's pid");
    for (tag, cmd) in IMAGES {
        let script =
            format!("tar -C {} -c . | nsenter -t {} -m {p} import -c '{cmd}' - {tag}", rootfs.display(), ns.trim());
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("CONTAINERS_STORAGE_CONF", engine.dir.join("storage.conf"))
            .output()
            .expect("podman import");
        assert!(out.status.success(), "{script}: {}", describe(&out));
    }
    engine
}

/// Whether the service answers `GET /_ping` on its socket.
fn answers(socket: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut c) = std::os::unix::net::UnixStream::connect(socket) else { return false };
    let mut text = String::new();
    c.write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n").is_ok()
        && c.read_to_string(&mut text).is_ok()
        && text.starts_with("HTTP/1.")
        && text.contains(" 200 ")
}

/// supd started with the private podman as its `[driver.podman]` endpoint.
fn supd_with(s: Supd) -> Supd {
    let endpoint = engine().socket();
    s.start_with_config(&format!("[driver.podman]\nendpoint = \"unix://{}\"\n", endpoint.display()))
}

#[test]
#[ignore = "needs podman, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_podman_task_runs_with_its_ulimits_is_restarted_and_leaves_no_container() {
    let e = engine();
    let s = Supd::new();
    s.write_job(
        "cache.hcl",
        r#"job "cache" {
  group "db" {
    restart {
      attempts = 3
      interval = "1m"
      delay    = "1s"
      mode     = "fail"
    }
    task "redis" {
      driver = "podman"
      config {
        image        = "docker://redis:3.2"
        network_mode = "none"
        ulimit       = { nofile = "1000:2000" }
      }
      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
"#,
    );
    let out = s.supctl(&["validate", s.path("jobs/cache.hcl").to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let s = supd_with(s);
    let t = s.wait_running("cache/db/0/redis");
    let (first, pid1) = (container_id(&t), pid(&t));
    assert!(!first.is_empty(), "{}", pretty(&t));
    assert!(wait_until(PATIENCE, || ping(pid1) == "PONG"), "redis answers inside its container:\n{}", e.log());
    // The task's ulimit, and supd's own nproc where it names none (podman's
    // defaults exceed what this host allows).
    let limits_text = std::fs::read_to_string(format!("/proc/{pid1}/limits")).expect("the container's limits");
    // (redis raises its own soft limit to the hard one)
    assert_eq!(limits(&limits_text, "Max open files").1, "2000", "{limits_text}");
    assert_eq!(limits(&limits_text, "Max processes"), own_nproc());
    let inspect = e.inspect(&first);
    assert_eq!(inspect["HostConfig"]["Memory"], 256 * 1024 * 1024, "{}", pretty(&inspect["HostConfig"]));
    assert!(
        s.log().contains("podman engine at ") && s.log().contains("answers (version "),
        "the engine was fingerprinted:\n{}",
        s.log()
    );

    // Its process killed: Terminated, restarted by the restart policy in a
    // new container.
    kill(Pid::from_raw(pid1), Signal::SIGKILL).expect("kill the container's process");
    let t = s.wait_task("cache/db/0/redis", "restarted", |t| t["state"] == "running" && restarts(t) == 1);
    let (second, pid2) = (container_id(&t), pid(&t));
    assert!(second != first && pid2 != pid1, "a new container: {}", pretty(&t));
    assert!(events(&t).iter().any(|(k, m)| k == "Terminated" && m.contains("137")), "{}", pretty(&t));
    assert!(wait_until(PATIENCE, || ping(pid2) == "PONG"));

    s.supctl_ok(&["job", "stop", "cache"]);
    s.wait_dead("cache/db/0/redis");
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(ok, "containers left: {:?}", e.containers(&home_label(&s)));
}

/// The task's world as Nomad's podman driver mounts it, by its key names
/// (`working_dir`): `/alloc`, `/local` (with what a template rendered),
/// `/secrets`, a relative volume.
#[test]
#[ignore = "needs podman, as root: scripts/test runs it (cargo test -- --ignored)"]
fn a_podman_task_sees_its_task_directories() {
    let e = engine();
    let s = Supd::new();
    s.write_job(
        "world.hcl",
        r#"job "world" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "podman"
      template {
        data        = "hello {{ env \"NOMAD_TASK_NAME\" }}"
        destination = "local/conf/app.conf"
      }
      config {
        image        = "tools:1"
        command      = "/bin/sh"
        args         = ["-c", "echo dirs=$NOMAD_ALLOC_DIR,$NOMAD_TASK_DIR,$NOMAD_SECRETS_DIR; echo local=$(cat /local/conf/app.conf); echo volume=$(cat conf/app.conf); echo shared > /alloc/data/mark && echo alloc=ok"]
        volumes      = ["local:/etc/app"]
        working_dir  = "/etc/app"
        network_mode = "none"
      }
    }
  }
}
"#,
    );
    let s = supd_with(s);
    let t = s.wait_dead("world/g/0/t");
    let out = String::from_utf8_lossy(&s.supctl(&["logs", "world/g/0/t"]).stdout).into_owned();
    assert!(
        events(&t).iter().any(|(k, m)| k == "Terminated" && m == "Exit Code: 0"),
        "{}\n{out}\n{}",
        pretty(&t),
        s.log()
    );
    for line in ["dirs=/alloc,/local,/secrets", "local=hello t", "volume=hello t", "alloc=ok"] {
        assert!(out.lines().any(|l| l == line), "{line:?} is not in the container's output:\n{out}");
    }
    let marks: Vec<PathBuf> =
        walk(&s.path("state/alloc")).into_iter().filter(|p| p.ends_with("alloc/data/mark")).collect();
    assert_eq!(marks.len(), 1, "{marks:?}");
    let ok = wait_until(PATIENCE, || e.containers(&home_label(&s)).is_empty());
    assert!(ok, "containers left: {:?}", e.containers(&home_label(&s)));
}
