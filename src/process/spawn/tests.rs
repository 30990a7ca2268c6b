use super::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

fn spec(program: &str, args: &[&str]) -> SpawnSpec {
    SpawnSpec {
        program: program.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("X".into(), "y z".into())],
        work_dir: None,
        user: None,
        isolation: None,
    }
}

/// Runs a command with stdout to a pipe; returns what it wrote.
fn output(s: &SpawnSpec, detach: Detach) -> String {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let pid = spawn(s, Io::Null, Io::Fd(std::os::fd::AsFd::as_fd(&w)), Io::Inherit, detach, &Join::none()).unwrap();
    drop(w);
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).unwrap();
    let _ = nix::sys::wait::waitpid(pid, None);
    out
}

#[test]
fn the_child_gets_its_arguments_environment_and_only_three_descriptors() {
    // Many open descriptors in this process: none reaches the child.
    let held: Vec<OwnedFd> = (0..200).map(|_| nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap().0).collect();
    let out = output(&spec("sh", &["-c", "echo \"$0 $X\"; ls /proc/self/fd | tr '\\n' ' '", "a b"]), Detach::Session);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("a b y z"));
    // ls's own directory descriptor is the fourth.
    assert_eq!(lines.next().map(str::trim), Some("0 1 2 3"), "{out}");
    drop(held);
}

/// The clone is held to supd's CPU (`Pin`), the program is not: it
/// runs with supd's CPUs, and supd's thread gets them back.
#[test]
fn the_child_and_supd_keep_every_cpu_they_had() {
    let allowed = |pid: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status.lines().find(|l| l.starts_with("Cpus_allowed_list")).unwrap().to_string()
    };
    let tid = nix::unistd::gettid().to_string();
    let own = allowed(&format!("self/task/{tid}"));
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let s = spec("grep", &["Cpus_allowed_list", "/proc/self/status"]);
    let stdio = [Io::Null, Io::Fd(std::os::fd::AsFd::as_fd(&w)), Io::Inherit];
    let pid = spawn_task(&s, stdio, &Join::none(), true).unwrap();
    drop(w);
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).unwrap();
    let _ = nix::sys::wait::waitpid(pid, None);
    assert_eq!(out.trim(), own, "the program's CPUs");
    assert_eq!(allowed(&format!("self/task/{tid}")), own, "this thread's CPUs after the clone");
}

#[test]
fn session_group_and_working_directory() {
    let out = output(&spec("sh", &["-c", "echo $$ $(ps -o sid= -p $$) $(ps -o pgid= -p $$)"]), Detach::Session);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!((f[0], f[0]), (f[1], f[2]), "its own session and group: {out}");
    let out = output(&spec("sh", &["-c", "echo $$ $(ps -o sid= -p $$) $(ps -o pgid= -p $$)"]), Detach::Group);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert!(f[0] == f[2] && f[0] != f[1], "its own group in supd's session: {out}");
    let mut s = spec("pwd", &[]);
    s.work_dir = Some("/usr/share".into());
    assert_eq!(output(&s, Detach::Session).trim(), "/usr/share");
}

#[test]
fn path_search_and_errors_of_the_steps_before_exec() {
    let e = spawn(&spec("no-such-program-here", &[]), Io::Null, Io::Null, Io::Null, Detach::Session, &Join::none())
        .unwrap_err();
    assert!(e.to_string().contains("could not be found"), "{e}");
    let mut s = spec("true", &[]);
    s.work_dir = Some("/nonexistent".into());
    let e = spawn(&s, Io::Null, Io::Null, Io::Null, Detach::Session, &Join::none()).unwrap_err();
    assert!(e.to_string().contains("working directory"), "{e}");
    assert!(spawn(&spec("a\0b", &[]), Io::Null, Io::Null, Io::Null, Detach::Session, &Join::none()).is_err());
}

#[test]
fn the_child_is_in_its_v2_cgroup_made_there_by_clone3_or_by_a_write() {
    use crate::process::cgroup;
    let mounts = cgroup::parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let Some(parent) = cgroup::unified(&mounts, &own) else {
        eprintln!("skipped: no cgroup v2 here");
        return;
    };
    let name = format!("supd-spawn-test-{}", std::process::id());
    let dir = parent.join(&name);
    if let Err(e) = std::fs::create_dir(&dir) {
        eprintln!("skipped: cannot make a cgroup in {} ({e})", parent.display());
        return;
    }
    let fd = std::fs::File::open(&dir).unwrap();
    let join = Join { procs: Vec::new(), dir: Some(fd.as_raw_fd()) };
    let was = NO_CLONE3.load(Ordering::Relaxed);
    let mut seen = Vec::new();
    for no_clone3 in [was, true] {
        NO_CLONE3.store(no_clone3, Ordering::Relaxed);
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let s = spec("cat", &["/proc/self/cgroup"]);
        let pid = spawn(&s, Io::Null, Io::Fd(std::os::fd::AsFd::as_fd(&w)), Io::Inherit, Detach::Session, &join);
        drop(w);
        let mut out = String::new();
        std::fs::File::from(r).read_to_string(&mut out).unwrap();
        let _ = nix::sys::wait::waitpid(pid.unwrap(), None);
        seen.push(out.lines().find(|l| l.starts_with("0::")).unwrap_or("").to_string());
    }
    NO_CLONE3.store(was, Ordering::Relaxed);
    let _ = std::fs::remove_dir(&dir);
    for line in &seen {
        assert!(line.ends_with(&format!("/{name}")), "the child's v2 cgroup: {seen:?}");
    }
}

#[test]
fn signal_handlers_and_the_mask_are_the_defaults_in_the_child() {
    // SIGPIPE is ignored in Rust programs; the child gets the default.
    let out = output(&spec("sh", &["-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"]), Detach::Session);
    for line in out.lines() {
        let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap_or("0"), 16).unwrap_or(1);
        assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "{line}");
        if line.starts_with("SigBlk") {
            assert_eq!(mask, 0, "nothing blocked: {line}");
        }
    }
}

/// The strings a command line's pointers lead to.
fn strings(list: &[*const c_char]) -> Vec<String> {
    // SAFETY: each pointer leads to a NUL-ended string of the command
    // line, alive while the test holds it.
    list.iter().map(|&p| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()).collect()
}

#[test]
fn the_command_line_is_one_buffer_read_back_as_it_was_given() {
    let mut s = spec("app", &["", "two words", "ü"]);
    s.env = vec![("PATH".into(), "/opt/bin::/usr/bin".into()), ("EMPTY".into(), String::new())];
    s.work_dir = Some("/srv".into());
    let line = CommandLine::new(&s).unwrap();
    assert_eq!(line.argv.last(), Some(&std::ptr::null()), "argv ends with a null pointer");
    assert_eq!(line.envp.last(), Some(&std::ptr::null()), "envp ends with a null pointer");
    assert_eq!(strings(&line.argv[..line.argv.len() - 1]), ["app", "", "two words", "ü"]);
    assert_eq!(strings(&line.envp[..line.envp.len() - 1]), ["PATH=/opt/bin::/usr/bin", "EMPTY="]);
    assert_eq!(strings(&line.paths), ["/opt/bin/app", "./app", "/usr/bin/app"], "an empty PATH entry is .");
    assert_eq!(strings(&line.cwd.into_iter().collect::<Vec<_>>()), ["/srv"]);

    let s = spec("/bin/app", &[]);
    let line = CommandLine::new(&s).unwrap();
    assert_eq!(strings(&line.paths), ["/bin/app"], "a path is not searched");
    assert_eq!(line.cwd, None);

    let mut s = spec("app", &[]);
    s.env.push(("BAD".into(), "a\0b".into()));
    let Err(e) = CommandLine::new(&s) else { panic!("a NUL in the environment was taken") };
    assert!(e.to_string().contains("NUL byte in the command line or environment"), "{e}");
    let mut s = spec("app", &[]);
    s.work_dir = Some(std::ffi::OsStr::from_bytes(b"/a\0b").into());
    let Err(e) = CommandLine::new(&s) else { panic!("a NUL in the working directory was taken") };
    assert!(e.to_string().contains("NUL byte in the working directory"), "{e}");
}
