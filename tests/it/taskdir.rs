//! The task's world on disk, through the real supd: allocation directories
//! (`NOMAD_ALLOC_DIR`, `NOMAD_TASK_DIR`, `NOMAD_SECRETS_DIR`, the working
//! directory), `template` blocks rendered before the start and again when
//! their `source` changes, and `artifact` blocks fetched from an HTTP
//! server the test runs on 127.0.0.1 or cloned by git from a repository the
//! test makes.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The allocation directory of instance `target` (`JOB/GROUP/INDEX`), as
/// `supctl status` names it.
fn alloc_dir(s: &Supd, target: &str) -> PathBuf {
    let st = s.status();
    let dir = instance(&st, target).and_then(|i| i["alloc_dir"].as_str()).expect("an allocation directory");
    PathBuf::from(dir)
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
    // The state directory is the default data_dir; the instance's ID names
    // its directory.
    let st = s.status();
    let id = instance(&st, "w/g/0").and_then(|i| i["id"].as_str()).expect("an instance id").to_string();
    assert_eq!(dir, s.path("state").join("alloc").join(&id));
    let shown = s.supctl_ok(&["status", "w/g/0"]);
    assert!(shown.contains(&format!("Dir      = {}\n", dir.display())), "{shown}");
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

    // So does a crash of supd: the next one takes the running task over,
    // in the same instance (same ID) and directory; its next run too.
    let running = pid(&s.wait_running("w/g/0/t"));
    s.kill9();
    wait_until(PATIENCE, || std::os::unix::net::UnixStream::connect(s.socket()).is_err());
    let s = s.start();
    let t = s.wait_event("w/g/0/t", "Adopted", |_| true);
    assert_eq!(pid(&t), running, "{}", s.log());
    assert_eq!(alloc_dir(&s, "w/g/0"), dir);
    let st = s.status();
    assert_eq!(instance(&st, "w/g/0").and_then(|i| i["id"].as_str()), Some(id.as_str()));
    s.supctl_ok(&["restart", "w/g/0/t"]);
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
    task "scripted" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec sleep 1000"]
      }
      template {
        source      = "../alloc/app.tpl"
        destination = "local/app.conf"
        change_mode = "script"
        change_script {
          command = "/bin/sh"
          args    = ["-c", "cat local/app.conf >> @DIR@/scripted"]
        }
        splay = "0s"
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

    assert_eq!(s.wait_lines("scripted", 1), ["scripted v2"], "the script ran in the task's directory");
    let st = s.wait_event("watch/g/0/scripted", "Task hook message", |_| true);
    assert!(
        events(&st).contains(&(
            "Task hook message".into(),
            "Template successfully ran script /bin/sh with arguments: [-c cat local/app.conf >> @DIR@/scripted]. Exit code: 0"
                .replace("@DIR@", s.dir())
        )),
        "{}",
        pretty(&st)
    );

    // Renamed over it, as editors and config tools do.
    let tmp = source.with_file_name(".app.tpl.new");
    std::fs::write(&tmp, "{{ env \"NOMAD_TASK_NAME\" }} v3\n").expect("write");
    std::fs::rename(&tmp, &source).expect("rename");
    assert_eq!(s.wait_lines("restarted", 3)[2], "restarted v3");
    assert_eq!(s.wait_lines("signalled", 3)[2], "signalled v3");
    assert_eq!(s.wait_lines("scripted", 2)[1], "scripted v3");

    // The same text again changes nothing: no restart, no signal.
    std::fs::write(&source, "{{ env \"NOMAD_TASK_NAME\" }} v3\n").expect("write");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines(&s.path("restarted")).len(), 3);
    assert_eq!(lines(&s.path("signalled")).len(), 3);
    assert_eq!(lines(&s.path("scripted")).len(), 2);
}

#[test]
fn a_failing_change_script_with_fail_on_error_fails_its_task() {
    let s = Supd::new();
    s.write_file("app.tpl", "v1\n");
    s.write_job(
        "strict.hcl",
        r#"job "strict" {
  group "g" {
    task "init" {
      lifecycle {
        hook = "prestart"
      }
      driver = "raw_exec"
      config {
        command = "/bin/cp"
        args    = ["@DIR@/app.tpl", "${NOMAD_ALLOC_DIR}/app.tpl"]
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      template {
        source      = "../alloc/app.tpl"
        destination = "local/app.conf"
        change_mode = "script"
        change_script {
          command       = "/bin/sh"
          args          = ["-c", "exit 3"]
          fail_on_error = true
        }
        splay = "0s"
      }
    }
  }
}
"#,
    );
    let s = s.start();
    s.wait_running("strict/g/0/t");
    let source = alloc_dir(&s, "strict/g/0").join("alloc/app.tpl");
    std::fs::write(&source, "v2\n").expect("write the source");
    let t = s.wait_dead("strict/g/0/t");
    let evs = events(&t);
    assert!(
        evs.contains(&(
            "Task hook failed".into(),
            "Template ran script /bin/sh with arguments [-c exit 3] on change but it exited with code: 3".into()
        )),
        "{evs:#?}"
    );
    assert!(evs.iter().any(|(k, _)| k == "Killing"), "{evs:#?}");
    assert_eq!(t["failed"].as_bool(), Some(true), "{}", pretty(&t));
}

// --- artifacts -------------------------------------------------------------------

/// What the test's HTTP server answers for a path.
#[derive(Clone)]
enum Reply {
    Bytes(Vec<u8>),
    /// Announces `len` bytes and sends one every 50 ms.
    Slow(usize),
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for the length of a test: each
/// connection one request; it counts the requests per path.
struct Http {
    port: u16,
    hits: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Http {
    fn serve(routes: Vec<(&str, Reply)>) -> Http {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let routes: Vec<(String, Reply)> = routes.into_iter().map(|(p, r)| (p.to_string(), r)).collect();
        let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let (routes, seen) = (routes.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                    let mut first = String::new();
                    let _ = reader.read_line(&mut first);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let path = first.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("");
                    seen.lock().expect("lock").push(path.to_string());
                    let _ = match routes.iter().find(|(p, _)| p == path).map(|(_, r)| r) {
                        Some(Reply::Bytes(b)) => conn
                            .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes())
                            .and_then(|()| conn.write_all(b)),
                        Some(Reply::Slow(len)) => {
                            let mut r =
                                conn.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").as_bytes());
                            for _ in 0..*len {
                                if r.is_err() {
                                    break;
                                }
                                std::thread::sleep(Duration::from_millis(50));
                                r = conn.write_all(b"x");
                            }
                            r
                        }
                        None => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
                    };
                });
            }
        });
        Http { port, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().expect("lock").iter().filter(|p| *p == path).count()
    }
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A tar of `hello/bin/run.sh` (executable) and `hello/README`.
fn program_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, mode, data) in [
        (
            "hello/bin/run.sh",
            0o755,
            &b"#!/bin/sh\necho \"unpacked program ran in $(pwd)\" >> \"$1\"\nexec sleep 1000\n"[..],
        ),
        ("hello/README", 0o644, &b"read me\n"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).expect("tar");
    }
    b.into_inner().expect("tar")
}

/// A tar with an entry named `../escaped.txt`, written byte by byte (the
/// tar crate's builder refuses such names itself).
fn climbing_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for name in ["fine.txt", "../escaped.txt"] {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().expect("gnu header").name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"x"[..]).expect("tar");
    }
    b.into_inner().expect("tar")
}

fn artifact_job(name: &str, source: &str, checksum: &str, command: &str, args: &str) -> String {
    format!(
        r#"job "{name}" {{
  group "g" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "{command}"
        args    = [{args}]
      }}
      artifact {{
        source = "{source}"
        options {{
          checksum = "{checksum}"
        }}
      }}
    }}
  }}
}}
"#
    )
}

#[test]
fn a_task_runs_the_program_of_a_checked_and_unpacked_tar_gz() {
    let archive = gzip(&program_tar());
    let http = Http::serve(vec![("/hello.tar.gz", Reply::Bytes(archive.clone()))]);
    let s = Supd::new();
    let job = artifact_job(
        "art",
        &http.url("/hello.tar.gz"),
        &format!("sha256:{}", sha256(&archive)),
        "local/hello/bin/run.sh",
        "\"@DIR@/out\"",
    );
    s.write_job("art.hcl", &job);
    let s = s.start();
    let t = s.wait_running("art/g/0/t");
    let task_dir = alloc_dir(&s, "art/g/0").join("t");
    assert_eq!(s.wait_lines("out", 1), [format!("unpacked program ran in {}", task_dir.display())]);
    assert_eq!(mode(&task_dir.join("local/hello/bin/run.sh")), 0o755);
    assert_eq!(std::fs::read_to_string(task_dir.join("local/hello/README")).expect("README"), "read me\n");
    assert_eq!(
        kinds(&t),
        ["Received", "Task Setup", "Downloading Artifacts", "Started"],
        "Nomad's order of setup events: {}",
        pretty(&t)
    );
    // Fetched once for the instance: a restart of the task does not fetch again.
    s.supctl_ok(&["restart", "art/g/0/t"]);
    s.wait_lines("out", 2);
    assert_eq!(http.hits("/hello.tar.gz"), 1);
}

#[test]
fn a_wrong_checksum_is_a_failed_download_and_the_task_never_starts() {
    let archive = gzip(&program_tar());
    let http = Http::serve(vec![("/hello.tar.gz", Reply::Bytes(archive))]);
    let s = Supd::new();
    let wrong = sha256(b"something else");
    let job = artifact_job(
        "sum",
        &http.url("/hello.tar.gz"),
        &format!("sha256:{wrong}"),
        "local/hello/bin/run.sh",
        "\"@DIR@/out\"",
    );
    s.write_job("sum.hcl", &job);
    let s = s.start();
    let t = s.wait_dead("sum/g/0/t");
    let evs = events(&t);
    let failed: Vec<&String> = evs.iter().filter(|(k, _)| k == "Failed Artifact Download").map(|(_, m)| m).collect();
    assert_eq!(failed.len(), 1, "{evs:#?}");
    let want = format!(
        "Failed to download artifacts: checksum mismatch for {}: expected sha256:{wrong}, got sha256:",
        http.url("/hello.tar.gz")
    );
    assert!(failed[0].starts_with(&want), "{}", failed[0]);
    assert!(!kinds(&t).contains(&"Started".to_string()), "{evs:#?}");
    assert_eq!(t["failed"].as_bool(), Some(true));
    assert!(!s.path("out").exists());
    let local = alloc_dir(&s, "sum/g/0").join("t/local");
    let left: Vec<_> = std::fs::read_dir(&local).expect("local/").collect();
    assert!(left.is_empty(), "nothing is left of the download in local/: {left:?}");
}

#[test]
fn an_archive_with_a_climbing_entry_is_refused() {
    let archive = gzip(&climbing_tar());
    let http = Http::serve(vec![("/evil.tar.gz", Reply::Bytes(archive.clone()))]);
    let s = Supd::new();
    let job = artifact_job("evil", &http.url("/evil.tar.gz"), &format!("sha256:{}", sha256(&archive)), "/bin/true", "");
    s.write_job("evil.hcl", &job);
    let s = s.start();
    let t = s.wait_dead("evil/g/0/t");
    let evs = events(&t);
    assert!(
        evs.contains(&(
            "Failed Artifact Download".into(),
            "Failed to download artifacts: archive entry \"../escaped.txt\" climbs out with `..` — refused, nothing unpacked".into()
        )),
        "{evs:#?}"
    );
    let dir = alloc_dir(&s, "evil/g/0");
    assert!(!dir.join("t/escaped.txt").exists() && !dir.join("t/local/fine.txt").exists());
}

#[test]
fn a_job_stopped_while_its_artifact_downloads_ends_cleanly() {
    let http = Http::serve(vec![("/slow.bin", Reply::Slow(1000))]);
    let s = Supd::new();
    let job = artifact_job("slow", &http.url("/slow.bin"), &format!("sha256:{}", sha256(b"x")), "/bin/true", "");
    s.write_job("slow.hcl", &job);
    let s = s.start();
    let t = s.wait_event("slow/g/0/t", "Downloading Artifacts", |_| true);
    assert_eq!(t["state"], "pending", "a task whose artifacts download is pending: {}", pretty(&t));
    let dir = alloc_dir(&s, "slow/g/0");
    let at = Instant::now();
    s.supctl_ok(&["job", "stop", "slow"]);
    let t = s.wait_dead("slow/g/0/t");
    assert!(at.elapsed() < Duration::from_secs(2), "the stop waited for the download");
    assert_eq!(t["failed"].as_bool(), Some(false), "{}", pretty(&t));
    let k = kinds(&t);
    assert!(!k.contains(&"Started".to_string()) && !k.contains(&"Failed Artifact Download".to_string()), "{k:?}");
    assert!(wait_until(PATIENCE, || !dir.exists()), "the directory of the stopped instance is removed");
}

// --- git artifacts ---------------------------------------------------------------

/// Runs git for the test itself in `dir`, with none of the host's
/// configuration; its stdout, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(require("git", "git"))
        .current_dir(dir)
        .args(["-c", "user.name=supd test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository `NAME.git` in the test's directory, made by git: at
/// tag `v1`, `hello.txt` says "hello from v1", `link` -> `hello.txt`, and
/// what `extra` adds to the work tree; on `main` after it, `hello.txt`
/// says "hello from v2". Its path.
fn git_repo(s: &Supd, name: &str, extra: impl Fn(&Path)) -> PathBuf {
    let work = s.path(&format!("{name}-work"));
    std::fs::create_dir(&work).expect("work tree");
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("hello.txt"), "hello from v1\n").expect("hello.txt");
    std::os::unix::fs::symlink("hello.txt", work.join("link")).expect("link");
    extra(&work);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "v1"]);
    git(&work, &["tag", "v1"]);
    std::fs::write(work.join("hello.txt"), "hello from v2\n").expect("hello.txt");
    git(&work, &["commit", "-q", "-am", "v2"]);
    let bare = s.path(&format!("{name}.git"));
    git(
        s.dir.path(),
        &["clone", "-q", "--bare", work.to_str().expect("UTF-8 path"), bare.to_str().expect("UTF-8 path")],
    );
    bare
}

/// A batch-like job whose task runs `script` (`/bin/sh -c`) once its git
/// artifact is in `local/repo`; no restart.
fn git_job(name: &str, source: &str, script: &str) -> String {
    format!(
        r#"job "{name}" {{
  group "g" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
      artifact {{
        source      = "{source}"
        destination = "local/repo"
      }}
    }}
  }}
}}
"#
    )
}

/// A repository of this host is a file of this host: supd clones it only
/// from below `file_roots`.
const GIT_ROOTS: &str = "[artifact]\nfile_roots = [\"@DIR@\"]\n";

#[test]
fn a_git_artifact_checks_out_the_tag_the_job_names() {
    let s = Supd::new();
    let repo = git_repo(&s, "app", |_| {});
    let source = format!("git::file://{}?ref=v1", repo.display());
    s.write_job("gitart.hcl", &git_job("gitart", &source, "cat local/repo/hello.txt > @DIR@/out; exec sleep 1000"));
    let s = s.start_with_config(GIT_ROOTS);
    let t = s.wait_running("gitart/g/0/t");
    assert_eq!(s.wait_lines("out", 1), ["hello from v1"], "the task read the file of tag v1\n{}", s.log());
    assert_eq!(
        kinds(&t),
        ["Received", "Task Setup", "Downloading Artifacts", "Started"],
        "Nomad's order of setup events: {}",
        pretty(&t)
    );
    let clone = alloc_dir(&s, "gitart/g/0").join("t/local/repo");
    assert!(clone.join(".git").is_dir(), "go-getter keeps .git");
    assert_eq!(git(&clone, &["describe", "--tags"]), "v1");
    assert_eq!(std::fs::read_link(clone.join("link")).expect("a link"), Path::new("hello.txt"), "a link inside stays");
}

/// A repository may hold a link to a file of this host (here /etc/shadow):
/// as an archive with a link leading out, it is refused whole, and the task
/// never starts; nothing of the repository reaches the task's directory.
#[test]
fn a_git_repository_with_a_link_to_a_host_file_gives_the_task_nothing() {
    let s = Supd::new();
    let repo = git_repo(&s, "evil", |work| {
        std::os::unix::fs::symlink("/etc/shadow", work.join("shadow")).expect("link");
    });
    let source = format!("git::file://{}?ref=v1", repo.display());
    s.write_job("gitevil.hcl", &git_job("gitevil", &source, "cat local/repo/shadow > @DIR@/out 2>&1; exec sleep 1000"));
    let s = s.start_with_config(GIT_ROOTS);
    let t = s.wait_dead("gitevil/g/0/t");
    let evs = events(&t);
    assert!(
        evs.contains(&(
            "Failed Artifact Download".into(),
            "Failed to download artifacts: repository entry \"shadow\" is a link to \"/etc/shadow\", outside the destination — refused, nothing copied".into()
        )),
        "{evs:#?}"
    );
    assert!(!kinds(&t).contains(&"Started".to_string()), "{evs:#?}");
    assert_eq!(t["failed"].as_bool(), Some(true));
    assert!(!s.path("out").exists(), "the task never ran");
    let clone = alloc_dir(&s, "gitevil/g/0").join("t/local/repo");
    assert!(std::fs::symlink_metadata(clone.join("shadow")).is_err(), "no link in the task's directory");
    assert!(!clone.join("hello.txt").exists(), "nothing of the repository is copied");
}

const STICKY: &str = r#"job "keep" {
  group "g" {
    ephemeral_disk {
      sticky = true
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "test -f $NOMAD_ALLOC_DIR/data/kept || echo made by v$V > $NOMAD_ALLOC_DIR/data/kept; echo \"v$V: $(cat $NOMAD_ALLOC_DIR/data/kept), $(cat local/once.conf) $(cat local/every.conf)\" >> @DIR@/seen; echo touched > local/once.conf; echo touched > local/every.conf; exec sleep 1000"]
      }
      env {
        V = "@V@"
      }
      template {
        destination = "local/once.conf"
        data        = "fresh"
        once        = true
      }
      template {
        destination = "local/every.conf"
        data        = "fresh"
      }
    }
  }
}
"#;

#[test]
fn once_templates_render_once_and_sticky_data_moves_to_the_replacement() {
    let s = Supd::new();
    s.write_job("keep.hcl", &STICKY.replace("@V@", "1"));
    let s = s.start();
    s.wait_running("keep/g/0/t");
    assert_eq!(s.wait_lines("seen", 1), ["v1: made by v1, fresh fresh"]);
    let first = alloc_dir(&s, "keep/g/0");

    // A restart renders `every` again, `once` not.
    s.supctl_ok(&["restart", "keep/g/0/t"]);
    assert_eq!(s.wait_lines("seen", 2)[1], "v1: made by v1, touched fresh");

    // A new version of the job replaces the instance: a new directory,
    // with the old one's alloc/data; the old directory is removed.
    s.write_job("keep.hcl", &STICKY.replace("@V@", "2"));
    s.supctl_ok(&["reload"]);
    assert_eq!(s.wait_lines("seen", 3)[2], "v2: made by v1, fresh fresh", "{}", s.log());
    let second = alloc_dir(&s, "keep/g/0");
    assert_ne!(first, second);
    assert!(!first.exists(), "the replaced instance's directory is removed");
    assert!(second.join("alloc/data/kept").is_file());
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn the_task_directory_and_its_templates_belong_to_the_tasks_user() {
    use std::os::unix::fs::MetadataExt;
    assert!(nix::unistd::geteuid().is_root(), "this test gives files to another user: run it as root");
    let s = Supd::new();
    s.write_job(
        "own.hcl",
        r#"job "own" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      user   = "nobody"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo written > local/by-task && echo written > secrets/by-task && cat local/app.conf > tmp/copy && exec sleep 1000"]
      }
      template {
        destination = "local/app.conf"
        data        = "for {{ env \"USER\" }}\n"
      }
    }
  }
}
"#,
    );
    let s = s.start();
    s.wait_running("own/g/0/t");
    let task = alloc_dir(&s, "own/g/0").join("t");
    assert!(
        wait_until(PATIENCE, || task.join("tmp/copy").exists()),
        "the task could not write its directories\n{}",
        s.log()
    );
    assert_eq!(std::fs::read_to_string(task.join("tmp/copy")).expect("copy"), "for nobody\n");
    for p in ["local", "secrets", "tmp", "local/app.conf", "local/by-task", "secrets/by-task"] {
        let m = std::fs::metadata(task.join(p)).expect(p);
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{p} belongs to the task's user");
    }
}

/// Templates render in the order they are written, each on disk before the
/// next: one whose `source` is another's output, and one that reads a
/// third's output with `file`, both work at the first start (Nomad renders
/// them in order too).
#[test]
fn a_template_reads_what_an_earlier_template_of_its_task_rendered() {
    let s = Supd::new();
    s.write_job(
        "chain.hcl",
        r#"job "chain" {
  type = "batch"
  task "t" {
    driver = "raw_exec"
    template {
      data        = "name={{ \"{{\" }} env \"NOMAD_TASK_NAME\" {{ \"}}\" }}\n"
      destination = "local/a.tpl"
    }
    template {
      source      = "local/a.tpl"
      destination = "local/b.conf"
    }
    template {
      data        = "copy={{ file \"local/b.conf\" }}"
      destination = "local/c.conf"
    }
    config {
      command = "/bin/sh"
      args    = ["-c", "cat local/b.conf local/c.conf > @DIR@/out"]
    }
  }
}
"#,
    );
    let s = s.start();
    let t = s.wait_dead("chain/t/0/t");
    assert!(events(&t).iter().any(|(k, m)| k == "Terminated" && m == "Exit Code: 0"), "{}", pretty(&t));
    assert_eq!(s.wait_lines("out", 2), ["name=t", "copy=name=t"]);
}

/// supd started with relative directories, as an operator may type them
/// (`--state-dir state` from the directory it runs in): its tasks still
/// get NOMAD_TASK_DIR, NOMAD_ALLOC_DIR and NOMAD_SECRETS_DIR as absolute
/// paths, which lead to their directories from the task's own working
/// directory (a relative one led nowhere from there).
#[test]
fn relative_directories_given_to_supd_reach_tasks_as_absolute_paths() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    std::fs::create_dir(dir.path().join("jobs")).expect("the job directory");
    let script = r#"for d in \"$NOMAD_TASK_DIR\" \"$NOMAD_ALLOC_DIR\" \"$NOMAD_SECRETS_DIR\" \"${NOMAD_TASK_DIR}\"; do case $d in /*) if test -d \"$d\"; then echo \"ok $d\"; else echo \"missing $d\"; fi ;; *) echo \"relative $d\" ;; esac; done"#;
    std::fs::write(dir.path().join("jobs/e.hcl"), sh_job("e", r#"type = "batch""#, "", script)).expect("the job file");
    let mut supd = std::process::Command::new(SUPD)
        .current_dir(dir.path())
        .args(["--jobs", "jobs", "--socket", "s.sock", "--state-dir", "state", "--log-dir", "logs"])
        .args(["--exit-when-done", "--log-level", "warn"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start supd");
    let exited = wait_until(PATIENCE, || supd.try_wait().ok().flatten().is_some());
    if !exited {
        let _ = supd.kill();
        let _ = supd.wait();
    }
    assert!(exited, "supd did not exit once its batch job was done");
    let said = std::fs::read_to_string(dir.path().join("logs/e/g[0]/t.stdout.0")).unwrap_or_default();
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 4, "{said}");
    assert!(lines.iter().all(|l| l.starts_with("ok /")), "each directory absolute and there:\n{said}");
}
