//! The Debian package as Debian handles it: lintian finds no error in it,
//! two builds of one tree are the same bytes, and dpkg installs, upgrades,
//! removes and purges it with its real maintainer scripts, the real
//! deb-systemd-helper and deb-systemd-invoke, and a policy-rc.d that
//! forbids (then allows) starting services, as in an image build.
//!
//! dpkg runs in a root of its own: an overlay of this machine's root whose
//! changes go to a tmpfs, in private mount and PID namespaces, so that
//! nothing of this machine changes (its dpkg database is compared before
//! and after) and nothing started inside outlives the test. /run there
//! holds /run/systemd/system, so that the scripts take their systemd path;
//! a `systemctl` first on PATH records each call before running the real
//! one, which finds no systemd to talk to.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::require;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs scripts/build-deb into `dir`; returns the .deb. It packages the
/// binaries of the tests' own build (the package is the same but for
/// them), not a release build of minutes.
fn build_into(dir: &Path) -> PathBuf {
    let out = Command::new(Path::new(ROOT).join("scripts/build-deb"))
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--fast")
        .arg(dir)
        .output()
        .expect("run build-deb");
    assert!(out.status.success(), "scripts/build-deb failed: {}", text(&out));
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim());
    assert!(deb.is_file(), "build-deb printed {:?}", String::from_utf8_lossy(&out.stdout));
    deb
}

/// Where supd and supctl of this build are.
pub fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_supd")).parent().expect("the binaries' directory")
}

/// The package, built once for this file's tests.
fn deb() -> &'static Path {
    static DEB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DEB.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("supd-deb-").tempdir().unwrap();
        let deb = build_into(dir.path());
        (dir, deb)
    })
    .1
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn lintian_finds_no_error_and_builds_are_reproducible() {
    let lintian = require("lintian", "lintian");
    let out = Command::new(&lintian).args(["--fail-on", "error", "--display-info"]).arg(deb()).output().unwrap();
    let report = text(&out);
    assert!(out.status.success(), "lintian: {report}");
    let tags: Vec<&str> = report.lines().filter(|l| l.starts_with("E: ") || l.starts_with("W: ")).collect();
    assert!(tags.is_empty(), "lintian errors or warnings (deliberate ones are overridden in the package): {tags:#?}");

    // A second build of the same tree: the same bytes.
    let again = tempfile::tempdir().unwrap();
    let second = build_into(again.path());
    assert!(
        std::fs::read(deb()).unwrap() == std::fs::read(&second).unwrap(),
        "two builds of one tree differ: {} and {}",
        deb().display(),
        second.display()
    );
}

/// The start of each test script, run in private mount and PID namespaces
/// with the scratch directory as $1: `$r`, this machine's root as an
/// overlay whose changes go to a tmpfs, with its own /proc, /run and /tmp;
/// `in_root` runs a command there as dpkg would be run.
const PRIVATE_ROOT: &str = r#"
set -eu
work=$1
shift
mount -t tmpfs tmpfs "$work"
mkdir "$work/upper" "$work/work" "$work/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$work/root"
r=$work/root
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
mount -t tmpfs tmpfs "$r/run"
mount -t tmpfs tmpfs "$r/tmp"
in_root() {
  chroot "$r" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
}
"#;

/// Runs `PRIVATE_ROOT` then `script` with `args` after the scratch
/// directory; nothing it mounts or starts outlives it.
fn in_private_root(script: &str, args: &[&std::ffi::OsStr]) -> Output {
    let unshare = require("unshare", "util-linux");
    assert!(nix::unistd::geteuid().is_root(), "this test mounts an overlay in its own namespaces: run it as root");
    let work = tempfile::tempdir().unwrap();
    Command::new(&unshare)
        .args(["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc"])
        .args(["sh", "-c", &format!("{PRIVATE_ROOT}{script}"), "sh"])
        .arg(work.path())
        .args(args)
        .output()
        .unwrap()
}

/// The test's steps, then a snapshot of what each step left in
/// `$out/STEP/`.
const SCRIPT: &str = r#"
deb=$1 out=$2
# What the maintainer scripts take as "systemd runs here".
mkdir -p "$r/run/systemd/system"
mkdir -p "$r/usr/local/sbin"
cat >"$r/usr/local/sbin/systemctl" <<'EOF'
#!/bin/sh
echo "$*" >>/tmp/systemctl.log
exec /usr/bin/systemctl "$@"
EOF
chmod 0755 "$r/usr/local/sbin/systemctl"
cp "$deb" "$r/tmp/supd.deb"
touch "$r/tmp/policy-rc.d.log" "$r/tmp/systemctl.log"

policy() {
  cat >"$r/usr/sbin/policy-rc.d" <<EOF
#!/bin/sh
echo "\$*" >>/tmp/policy-rc.d.log
exit $1
EOF
  chmod 0755 "$r/usr/sbin/policy-rc.d"
}
exists() { if [ -e "$r$1" ] || [ -L "$r$1" ]; then echo yes; else echo no; fi; }
snapshot() {
  d=$out/$1
  mkdir -p "$d"
  mv "$r/tmp/policy-rc.d.log" "$d/policy"
  mv "$r/tmp/systemctl.log" "$d/systemctl"
  touch "$r/tmp/policy-rc.d.log" "$r/tmp/systemctl.log"
  readlink "$r/etc/systemd/system/multi-user.target.wants/supd.service" >"$d/wants" || echo absent >"$d/wants"
  readlink "$r/etc/systemd/system/supd.service" >"$d/mask" || echo absent >"$d/mask"
  in_root dpkg-query -W -f '${Status}|${Version}' supd >"$d/status" 2>/dev/null || echo absent >"$d/status"
  for p in /usr/bin/supd /etc/supd/supd.toml /etc/supd/jobs/mine.hcl /var/lib/supd /var/log/supd /etc/supd \
    /usr/share/bash-completion/completions/supctl /var/lib/systemd/deb-systemd-helper-enabled/supd.service.dsh-also; do
    echo "$p $(exists "$p")"
  done >"$d/files"
  # Processes of supd in this PID namespace (there should be none).
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = supd ] && echo "${p#/proc/}"
  done >"$d/procs" || true
}

# 1. First installation, with every start forbidden.
policy 101
in_root dpkg -i /tmp/supd.deb >"$out/install.log" 2>&1
in_root supd --check >"$out/check.log" 2>&1
snapshot install

# 2. The administrator edits the conffile and adds a job; an upgrade
#    (the same version again) with starts allowed.
echo 'node_name = "edited"' >>"$r/etc/supd/supd.toml"
cp "$r/etc/supd/jobs/example.hcl.disabled" "$r/etc/supd/jobs/mine.hcl"
policy 0
in_root dpkg -i --force-confold /tmp/supd.deb >"$out/upgrade.log" 2>&1
grep -c '^node_name = "edited"' "$r/etc/supd/supd.toml" >"$out/edited" || true
snapshot upgrade

# 3. Disabled by the administrator, it stays disabled across an upgrade.
in_root systemctl disable supd.service >"$out/disable.log" 2>&1
in_root dpkg -i --force-confold /tmp/supd.deb >"$out/upgrade2.log" 2>&1
snapshot upgrade-disabled

# 4. Removal, with stops forbidden, then purge; state and output first.
policy 101
mkdir -p "$r/var/log/supd/web/site[0]"
echo out >"$r/var/log/supd/web/site[0]/server.stdout.0"
echo '{}' >"$r/var/lib/supd/state.json"
in_root dpkg -r supd >"$out/remove.log" 2>&1
snapshot remove
in_root dpkg -P supd >"$out/purge.log" 2>&1
snapshot purge
"#;

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

/// `path yes|no` lines of a snapshot, as a lookup.
fn file_exists(dir: &Path, path: &str) -> bool {
    let files = read(dir, "files");
    let line = files.lines().find(|l| l.split(' ').next() == Some(path)).unwrap_or_else(|| panic!("{path}: {files}"));
    line.ends_with(" yes")
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn dpkg_installs_upgrades_removes_and_purges_it_by_debians_rules() {
    require("dpkg", "dpkg");
    require("deb-systemd-helper", "init-system-helpers");
    require("systemctl", "systemd");
    let host_status = std::fs::read("/var/lib/dpkg/status").unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = in_private_root(SCRIPT, &[deb().as_os_str(), out_dir.path().as_os_str()]);
    let o = out_dir.path();
    let logs = || -> String {
        ["install.log", "upgrade.log", "disable.log", "upgrade2.log", "remove.log", "purge.log", "check.log"]
            .iter()
            .map(|n| format!("--- {n}\n{}", std::fs::read_to_string(o.join(n)).unwrap_or_default()))
            .collect()
    };
    assert!(out.status.success(), "the dpkg steps failed: {}\n{}", text(&out), logs());
    assert_eq!(std::fs::read("/var/lib/dpkg/status").unwrap(), host_status, "this machine's dpkg database changed");
    assert!(!Path::new("/etc/systemd/system/multi-user.target.wants/supd.service").exists() || host_has_supd());

    // deb-systemd-helper links to the unit through /lib (the same
    // directory as /usr/lib on a merged /usr).
    let unit_link = |d: &Path| -> bool {
        let w = read(d, "wants");
        ["/lib/systemd/system/supd.service", "/usr/lib/systemd/system/supd.service"].contains(&w.trim())
    };
    // 1. Installed, enabled, and its start asked of policy-rc.d, which
    //    forbade it: systemd was told to reload, never to start anything.
    let d = o.join("install");
    let version = format!("{}-1", env!("CARGO_PKG_VERSION"));
    assert_eq!(read(&d, "status"), format!("install ok installed|{version}"), "{}", logs());
    assert!(unit_link(&d), "enabled on its first installation: {}", read(&d, "wants"));
    assert!(file_exists(&d, "/var/lib/systemd/deb-systemd-helper-enabled/supd.service.dsh-also"));
    assert_eq!(read(&d, "policy").trim(), "supd.service start", "{}", logs());
    let calls = read(&d, "systemctl");
    assert!(calls.lines().any(|l| l == "--system daemon-reload"), "systemd reloaded: {calls}\n{}", logs());
    assert!(!calls.lines().any(starts_something), "policy-rc.d forbade it, yet: {calls}\n{}", logs());
    assert!(read(&d, "procs").trim().is_empty(), "a supd runs: {}", read(&d, "procs"));
    for p in ["/usr/bin/supd", "/etc/supd/supd.toml", "/usr/share/bash-completion/completions/supctl"] {
        assert!(file_exists(&d, p), "{p} is not installed");
    }
    // The installed supd reads the installed supd.toml and job directory.
    let check = read(o, "check.log");
    assert!(check.contains("no *.hcl job files in /etc/supd/jobs"), "supd --check: {check}");

    // 2. An upgrade restarts it (policy allowed); the edited conffile stays.
    let d = o.join("upgrade");
    assert_eq!(read(&d, "policy").trim(), "supd.service restart", "{}", logs());
    let calls = read(&d, "systemctl");
    assert!(calls.lines().any(|l| l == "--quiet --system restart supd.service"), "restart: {calls}\n{}", logs());
    assert!(!calls.contains(" start "), "{calls}");
    assert_eq!(read(o, "edited").trim(), "1", "dpkg replaced the edited supd.toml: {}", logs());
    assert!(unit_link(&d), "{}", read(&d, "wants"));

    // 3. Disabled before an upgrade: it stays disabled. (Whether it is
    //    restarted depends on whether it runs, which systemctl in a chroot
    //    cannot tell.)
    let d = o.join("upgrade-disabled");
    assert_eq!(read(&d, "wants").trim(), "absent", "an upgrade enabled what the administrator disabled");

    // 4. Removal: the stop is asked (and forbidden here), the unit masked,
    //    configuration, state and output kept.
    let d = o.join("remove");
    assert_eq!(read(&d, "policy").trim(), "supd.service stop", "{}", logs());
    assert!(!read(&d, "systemctl").lines().any(starts_something), "{}", read(&d, "systemctl"));
    assert_eq!(read(&d, "mask").trim(), "/dev/null", "masked after removal");
    assert_eq!(read(&d, "status"), format!("deinstall ok config-files|{version}"), "{}", logs());
    assert!(!file_exists(&d, "/usr/bin/supd"));
    for p in ["/etc/supd/supd.toml", "/etc/supd/jobs/mine.hcl", "/var/lib/supd", "/var/log/supd"] {
        assert!(file_exists(&d, p), "{p} should stay until purge");
    }

    // 5. Purge: nothing of supd's own left, the mask and the helper's state
    //    gone; the administrator's own job file stays, and so its directory.
    let d = o.join("purge");
    assert_eq!(read(&d, "status").trim(), "absent", "{}", logs());
    assert!(file_exists(&d, "/etc/supd/jobs/mine.hcl"), "the administrator's job file is kept\n{}", logs());
    assert!(read(o, "purge.log").contains("your job files in /etc/supd/jobs are kept"), "{}", logs());
    for p in [
        "/etc/supd/supd.toml",
        "/var/lib/supd",
        "/var/log/supd",
        "/var/lib/systemd/deb-systemd-helper-enabled/supd.service.dsh-also",
    ] {
        assert!(!file_exists(&d, p), "{p} is left after purge\n{}", logs());
    }
    assert_eq!(read(&d, "mask").trim(), "absent");
    assert_eq!(read(&d, "wants").trim(), "absent");
}

/// Whether a systemctl call starts, restarts or stops a unit.
fn starts_something(call: &str) -> bool {
    call.split_whitespace().any(|w| ["start", "restart", "stop", "try-restart", "reload-or-restart"].contains(&w))
}

/// Whether this machine itself has supd installed (then its own links are
/// not the test's doing).
fn host_has_supd() -> bool {
    Command::new("dpkg-query").args(["-W", "supd"]).output().is_ok_and(|o| o.status.success())
}

/// The image of packaging/container/Dockerfile, built as far as this
/// machine allows without a container engine or registry: its build stage
/// is scripts/build-deb; its final stage installs that package into a
/// Debian bookworm root (this machine's, in an overlay, as above), copies
/// the job directory and runs its `supd --check`. Then its ENTRYPOINT runs
/// as PID 1 of new PID and network namespaces (as Docker starts it), its
/// HEALTHCHECK command reports healthy once the job's check passes and
/// unhealthy (1, as Docker wants) once it fails, and `docker stop`'s
/// SIGTERM ends it with status 0.
const IMAGE_SCRIPT: &str = r#"
deb=$1 out=$2 jobs=$3 check=$4 health=$5
shift 5
# As Debian's images have it: no service starts while building.
printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
chmod 0755 "$r/usr/sbin/policy-rc.d"
# RUN apt-get install /tmp/deb/supd_*.deb python3 (python3 is there)
mkdir -p "$r/tmp/deb"
cp "$deb" "$r/tmp/deb/"
in_root sh -c 'dpkg -i /tmp/deb/supd_*.deb' >"$out/install.log" 2>&1
# COPY packaging/container/jobs/ /etc/supd/jobs/
cp -R "$jobs/." "$r/etc/supd/jobs/"
# RUN supd --check --jobs /etc/supd/jobs
in_root sh -c "$check" >"$out/check.log" 2>&1

# docker run: the ENTRYPOINT as PID 1, with its own /proc and loopback up
# as Docker sets them.
unshare --pid --net --fork --kill-child --mount-proc="$r/proc" \
  chroot "$r" /bin/sh -c 'ip link set lo up && exec "$@"' sh "$@" \
  >"$out/supd.log" 2>&1 &
launcher=$!
healthcheck() { in_root /bin/sh -c "$health" >"$out/health.out" 2>&1; }
# Healthy once the job's http check passes (its first run is a second in).
i=0
until healthcheck; do
  i=$((i + 1))
  [ "$i" -lt 150 ] || { echo "never healthy: $(cat "$out/health.out")" >"$out/fail"; exit 1; }
  sleep 0.2
done
echo "$i" >"$out/healthy-after"
cp "$out/health.out" "$out/health-healthy.out"
# The server stops answering: its next check (5s apart, 2s timeout) fails.
in_root supctl signal web SIGSTOP >"$out/stop.log" 2>&1
i=0
while healthcheck; do
  i=$((i + 1))
  [ "$i" -lt 150 ] || { echo "never unhealthy" >"$out/fail"; exit 1; }
  sleep 0.2
done
status=0
healthcheck || status=$?
echo "$status" >"$out/unhealthy-status"
cp "$out/health.out" "$out/health-unhealthy.out"
in_root supctl signal web SIGCONT >>"$out/stop.log" 2>&1
# docker stop: SIGTERM to PID 1, whose exit status is the container's.
pid1=$(cat "/proc/$launcher/task/$launcher/children")
kill -TERM "$pid1"
i=0
while kill -0 "$pid1" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -lt 300 ] || { echo "supd did not exit within 60s of SIGTERM" >"$out/fail"; kill -KILL "$pid1"; break; }
  sleep 0.2
done
status=0
wait "$launcher" || status=$?
echo "$status" >"$out/exit"
"#;

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn the_container_image_installs_runs_reports_health_and_stops() {
    require("ip", "iproute2");
    require("python3", "python3");
    let dir = Path::new(ROOT).join("packaging/container");
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let lines: Vec<&str> = dockerfile.lines().collect();
    // The two stages, the final one installing the first one's package.
    let froms: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a two-stage Dockerfile: {froms:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("RUN scripts/build-deb /out")),
        "the build stage runs scripts/build-deb"
    );
    let install = dockerfile.split("\nRUN ").find(|r| r.contains("apt-get install")).expect("RUN apt-get install");
    let pattern =
        install.split_whitespace().find(|w| w.starts_with("/tmp/deb/")).expect("the package in apt-get install");
    let name = deb().file_name().unwrap().to_string_lossy().into_owned();
    let (prefix, suffix) = pattern.trim_start_matches("/tmp/deb/").split_once('*').expect("a glob");
    assert!(name.starts_with(prefix) && name.ends_with(suffix), "{pattern} does not match {name}");
    assert!(lines.contains(&"COPY packaging/container/jobs/ /etc/supd/jobs/"), "the job directory is copied");
    let check = lines.iter().find_map(|l| l.strip_prefix("RUN supd --check")).map(|r| format!("supd --check{r}"));
    let check = check.expect("RUN supd --check");
    let entry = lines.iter().find_map(|l| l.strip_prefix("ENTRYPOINT ")).expect("ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(entry).expect("ENTRYPOINT in exec form");
    let health = lines.iter().find_map(|l| l.strip_prefix("HEALTHCHECK ")).expect("HEALTHCHECK");
    let health = health.split_once("CMD ").expect("HEALTHCHECK … CMD").1;
    assert!(!health.starts_with('['), "the shell form, so that `|| exit 1` maps supctl's 3 and 4 to Docker's 1");

    let out_dir = tempfile::tempdir().unwrap();
    let jobs = dir.join("jobs");
    let mut args =
        vec![deb().as_os_str(), out_dir.path().as_os_str(), jobs.as_os_str(), check.as_ref(), health.as_ref()];
    args.extend(entry.iter().map(std::ffi::OsStr::new));
    let out = in_private_root(IMAGE_SCRIPT, &args);
    let o = out_dir.path();
    let logs = || -> String {
        ["fail", "install.log", "check.log", "health.out", "stop.log", "supd.log"]
            .iter()
            .map(|n| format!("--- {n}\n{}", std::fs::read_to_string(o.join(n)).unwrap_or_default()))
            .collect()
    };
    assert!(out.status.success(), "the image steps failed: {}\n{}", text(&out), logs());
    assert!(read(o, "check.log").contains("job \"web\""), "supd --check: {}", logs());
    let healthy = read(o, "health-healthy.out");
    assert!(healthy.contains("passing"), "the status table of a healthy image: {healthy}");
    assert_eq!(read(o, "unhealthy-status").trim(), "1", "unhealthy is 1 for Docker: {}", logs());
    let unhealthy = read(o, "health-unhealthy.out");
    assert!(unhealthy.contains("critical"), "{unhealthy}");
    assert_eq!(read(o, "exit").trim(), "0", "docker stop ends the container with 0: {}", logs());
    let log = read(o, "supd.log");
    assert!(log.contains("SIGTERM: stopping every task"), "{log}");
    // `docker logs` shows the task's output: the server's request log (on
    // its stderr), each line prefixed with the task.
    assert!(
        log.lines().any(|l| l.starts_with("web.site[0]/server | ") && l.contains("\"GET / HTTP/1.1\" 200")),
        "{log}"
    );
}
