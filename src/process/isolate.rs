//! The isolation of an `exec` (or `java`) task, as Nomad's exec driver
//! gives it: a private mount namespace whose root is the task's directory,
//! with the host directories of `chroot_env` bind-mounted read-only into
//! it, a fresh `/proc`, a small `/dev`; private PID and IPC namespaces; a
//! bounded capability set and `no_new_privs`.
//!
//! The namespaces are made by the clone itself (`CLONE_NEWNS`,
//! `CLONE_NEWPID`, `CLONE_NEWIPC`); the child then makes its mounts,
//! pivots into the task directory and detaches the host's tree, drops the
//! capabilities it may not keep, and goes on to the user switch and exec
//! of `spawn.rs`. It shares supd's memory until exec, so everything it
//! needs is prepared here as C strings first ([`Prepared`]); the child
//! only makes system calls on them. Every mount lives in the task's own
//! namespace: nothing reaches the host, and all of it is gone when the
//! task's last process ends.
//!
//! With a private PID namespace the task's process is PID 1 there: when it
//! ends, the kernel kills whatever else runs in it (as in Nomad), and it
//! only receives the signals it has a handler for (SIGKILL always).

use std::ffi::{CString, c_int, c_void};
use std::path::{Path, PathBuf};

/// What a task's isolation is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The new root: the task's directory (its mount points made).
    pub root: PathBuf,
    /// Host paths mounted into it.
    pub binds: Vec<Bind>,
    /// A private PID namespace (else the host's).
    pub pid: bool,
    /// A private IPC namespace (else the host's).
    pub ipc: bool,
    /// The capabilities the task may keep (bit N: capability N): its
    /// bounding set, and its effective set when it runs as root.
    pub caps: u64,
}

/// Why this process cannot isolate a task (`None`: it can): making the
/// namespaces and mounts takes root with `CAP_SYS_ADMIN` and a kernel
/// with mount and PID namespaces. Nomad's exec driver is undetected on
/// such a host; so is `driver.exec` here.
pub fn missing() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("supd does not run as root".into());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let sys_admin = cap_number("sys_admin").map_or(0, |n| 1u64 << n);
    if eff & sys_admin == 0 {
        return Some(
            "supd runs without the capability CAP_SYS_ADMIN (in a container: `--cap-add SYS_ADMIN` and \
             `--security-opt seccomp=unconfined`, whose default profile refuses namespaces and mounts; or use \
             raw_exec)"
                .into(),
        );
    }
    for ns in ["mnt", "pid", "ipc"] {
        if !Path::new("/proc/self/ns").join(ns).exists() {
            return Some(format!("the kernel has no {ns} namespaces"));
        }
    }
    None
}

/// A host path mounted at `target` (relative to the new root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// The device nodes of the task's `/dev`, as a container's: (name, major, minor).
pub const DEVICES: [(&str, u32, u32); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// The links of the task's `/dev`.
const DEV_LINKS: [(&str, &str); 4] = [
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
];

/// The directories inside the new root that the child mounts on (beside
/// the binds' targets): the parent makes them before the clone.
pub const MOUNT_POINTS: [&str; 2] = ["dev", "proc"];

/// A step of the child's set-up that failed, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    Private,
    RootBind,
    Bind(usize),
    ReadOnly(usize),
    Dev,
    Proc,
    Pivot,
    Caps,
    NoNewPrivs,
}

/// Everything the child needs, as C strings and numbers.
pub struct Prepared {
    root: CString,
    /// (source, target under root, read-only)
    binds: Vec<(CString, CString, bool)>,
    dev: CString,
    devices: Vec<(CString, libc::dev_t)>,
    links: Vec<(CString, CString)>,
    shm: CString,
    proc: CString,
    /// Capabilities to drop from the bounding set.
    drop: Vec<c_int>,
    pub(super) keep: u64,
    pub(super) flags: u64,
    /// Where the child records the failed step.
    pub(super) failed: std::sync::atomic::AtomicI32,
}

fn cpath(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("a NUL byte in {}", p.display())))
}

/// The highest capability number this kernel knows.
fn last_cap() -> c_int {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

impl Prepared {
    pub fn new(iso: &Isolation) -> std::io::Result<Prepared> {
        let under = |rel: &Path| cpath(&iso.root.join(rel.strip_prefix("/").unwrap_or(rel)));
        let mut binds = Vec::with_capacity(iso.binds.len());
        for b in &iso.binds {
            binds.push((cpath(&b.source)?, under(&b.target)?, b.read_only));
        }
        let dev = iso.root.join("dev");
        let mut devices = Vec::new();
        for (name, major, minor) in DEVICES {
            devices.push((cpath(&dev.join(name))?, libc::makedev(major, minor)));
        }
        let mut links = Vec::new();
        for (target, name) in DEV_LINKS {
            links.push((CString::new(target).map_err(std::io::Error::other)?, cpath(&dev.join(name))?));
        }
        let drop = (0..=last_cap()).filter(|&c| c >= 64 || iso.caps & (1u64 << c) == 0).collect();
        let mut flags = libc::CLONE_NEWNS as u64;
        if iso.pid {
            flags |= libc::CLONE_NEWPID as u64;
        }
        if iso.ipc {
            flags |= libc::CLONE_NEWIPC as u64;
        }
        Ok(Prepared {
            root: cpath(&iso.root)?,
            binds,
            dev: cpath(&dev)?,
            devices,
            links,
            shm: cpath(&dev.join("shm"))?,
            proc: cpath(&iso.root.join("proc"))?,
            drop,
            keep: iso.caps,
            flags,
            failed: std::sync::atomic::AtomicI32::new(-1),
        })
    }

    /// The failed step the child recorded.
    pub fn failed(&self) -> Option<Failed> {
        let v = self.failed.load(std::sync::atomic::Ordering::SeqCst);
        Some(match v {
            0 => Failed::Private,
            1 => Failed::RootBind,
            2 => Failed::Dev,
            3 => Failed::Proc,
            4 => Failed::Pivot,
            5 => Failed::Caps,
            6 => Failed::NoNewPrivs,
            v if v >= 2000 => Failed::ReadOnly((v - 2000) as usize),
            v if v >= 1000 => Failed::Bind((v - 1000) as usize),
            _ => return None,
        })
    }

    /// What the failed step was, for the task's event.
    pub fn describe(&self, f: Failed, iso: &Isolation) -> String {
        let root = iso.root.display();
        match f {
            Failed::Private => "cannot make the task's mounts private".into(),
            Failed::RootBind => format!("cannot bind-mount the task directory {root} as its root"),
            Failed::Bind(i) | Failed::ReadOnly(i) => {
                let b = iso.binds.get(i);
                let (s, t) = b.map_or((String::new(), String::new()), |b| {
                    (b.source.display().to_string(), b.target.display().to_string())
                });
                if matches!(f, Failed::Bind(_)) {
                    format!("cannot bind-mount {s} onto {t} in the task directory")
                } else {
                    format!("cannot make the mount of {s} at {t} read-only")
                }
            }
            Failed::Dev => format!("cannot make the task's /dev in {root}/dev"),
            Failed::Proc => format!("cannot mount a proc filesystem on {root}/proc"),
            Failed::Pivot => format!("cannot make {root} the task's root (pivot_root)"),
            Failed::Caps => "cannot drop capabilities from the bounding set".into(),
            Failed::NoNewPrivs => "cannot set no_new_privs".into(),
        }
    }
}

/// `mount_setattr(2)`'s argument (Linux 5.12).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: c_int = 0x8000;
const SYS_MOUNT_SETATTR: libc::c_long = 442;

/// The child's side, between the session and the user switch: mounts,
/// the new root, capabilities. Async-signal-safe system calls on `p`
/// only. Err: the step that failed (errno is left as the call set it).
///
/// # Safety
/// Called only in the cloned child, in its new mount namespace.
pub(super) unsafe fn enter(p: &Prepared) -> Result<(), i32> {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: system calls on NUL-ended strings owned by `p`; the helpers
    // are called, as this function is, in the cloned child in its new
    // mount namespace.
    unsafe {
        // Nothing mounted from here on propagates to the host.
        if libc::mount(null, c"/".as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) < 0 {
            return Err(0);
        }
        // The task directory (with its secrets/ tmpfs) as a mount of its
        // own, so that it can become the root.
        if libc::mount(p.root.as_ptr(), p.root.as_ptr(), null, libc::MS_BIND | libc::MS_REC, std::ptr::null()) < 0 {
            return Err(1);
        }
        mount_binds(p)?;
        make_dev(p)?;
        if libc::mount(
            c"proc".as_ptr(),
            p.proc.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) < 0
        {
            return Err(3);
        }
        // The task directory becomes `/`; the host's tree is detached
        // (unlike a chroot, nothing leads back to it).
        if libc::chdir(p.root.as_ptr()) < 0
            || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) < 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) < 0
            || libc::chdir(c"/".as_ptr()) < 0
        {
            return Err(4);
        }
        bound(&p.drop)
    }
}

/// The host directories of `p.binds` bind-mounted under the new root,
/// each made read-only where asked. Async-signal-safe system calls on `p`
/// only. Err: 1000 + the bind's index (its mount), 2000 + its index (its
/// read-only remount).
///
/// # Safety
/// Called only in the cloned child, in its new mount namespace.
unsafe fn mount_binds(p: &Prepared) -> Result<(), i32> {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: system calls on NUL-ended strings owned by `p`, in the
    // cloned child in its new mount namespace (as this function's caller).
    unsafe {
        for (i, (src, dst, ro)) in p.binds.iter().enumerate() {
            if libc::mount(src.as_ptr(), dst.as_ptr(), null, libc::MS_BIND | libc::MS_REC, std::ptr::null()) < 0 {
                return Err(1000 + i as i32);
            }
            if *ro {
                read_only(dst, i)?;
            }
        }
    }
    Ok(())
}

/// The mount at `dst` (the bind of index `i`) made read-only, recursively
/// through `mount_setattr(2)`, or a read-only remount where the kernel has
/// no such call. Async-signal-safe system calls only, on `dst` and a
/// struct on the stack. Err: 2000 + `i`.
///
/// # Safety
/// Called only in the cloned child, in its new mount namespace.
unsafe fn read_only(dst: &std::ffi::CStr, i: usize) -> Result<(), i32> {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: system calls on a NUL-ended string the caller's `Prepared`
    // owns and on `attr`, which lives until the call returns.
    unsafe {
        let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
        let r = libc::syscall(
            SYS_MOUNT_SETATTR,
            libc::AT_FDCWD,
            dst.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        );
        if r < 0
            && (*libc::__errno_location() != libc::ENOSYS
                || libc::mount(
                    null,
                    dst.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    std::ptr::null(),
                ) < 0)
        {
            return Err(2000 + i as i32);
        }
    }
    Ok(())
}

/// The task's `/dev`: a small tmpfs with the device nodes of [`DEVICES`],
/// the links of `DEV_LINKS` and a `shm` tmpfs. Async-signal-safe system
/// calls on `p` only. Err: 2.
///
/// # Safety
/// Called only in the cloned child, in its new mount namespace.
unsafe fn make_dev(p: &Prepared) -> Result<(), i32> {
    // SAFETY: system calls on NUL-ended strings owned by `p` (or static),
    // in the cloned child in its new mount namespace (as this function's
    // caller).
    unsafe {
        if libc::mount(
            c"tmpfs".as_ptr(),
            p.dev.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"mode=755,size=65536k".as_ptr() as *const c_void,
        ) < 0
        {
            return Err(2);
        }
        for (path, dev) in &p.devices {
            if libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, *dev) < 0 || libc::chmod(path.as_ptr(), 0o666) < 0 {
                return Err(2);
            }
        }
        for (target, path) in &p.links {
            if libc::symlink(target.as_ptr(), path.as_ptr()) < 0 {
                return Err(2);
            }
        }
        if libc::mkdir(p.shm.as_ptr(), 0o1777) < 0
            || libc::mount(
                c"shm".as_ptr(),
                p.shm.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"mode=1777,size=65536k".as_ptr() as *const c_void,
            ) < 0
        {
            return Err(2);
        }
    }
    Ok(())
}

/// The bounding set cut to what the task keeps, no ambient capability,
/// `no_new_privs`.
///
/// # Safety
/// Called only in the cloned child.
unsafe fn bound(drop: &[c_int]) -> Result<(), i32> {
    // SAFETY: prctl calls with numbers only.
    unsafe {
        for &cap in drop {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
                && *libc::__errno_location() != libc::EINVAL
            {
                return Err(5);
            }
        }
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0);
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
            return Err(6);
        }
    }
    Ok(())
}

/// A process started inside a running isolated task (a script check, as
/// Nomad runs one through the task's driver): the task's IPC, mount and
/// PID namespaces and its root, held open from before the clone, and its
/// capability bounds.
pub struct Joined {
    ipc: Option<std::fs::File>,
    mnt: std::fs::File,
    root: std::fs::File,
    /// The task's PID namespace: the parent's thread makes its children
    /// there for the clone (`pid_for_children`), then goes back to `own`.
    pub(super) pid: Option<std::fs::File>,
    pub(super) own: std::fs::File,
    drop: Vec<c_int>,
    pub(super) keep: u64,
}

impl Joined {
    /// The namespaces of the task whose first process is `task`.
    pub fn new(task: i32, iso: &Isolation) -> std::io::Result<Joined> {
        let open = |what: &str| std::fs::File::open(format!("/proc/{task}/{what}"));
        Ok(Joined {
            ipc: if iso.ipc { Some(open("ns/ipc")?) } else { None },
            mnt: open("ns/mnt")?,
            root: open("root")?,
            pid: if iso.pid { Some(open("ns/pid")?) } else { None },
            own: std::fs::File::open("/proc/thread-self/ns/pid_for_children")?,
            drop: (0..=last_cap()).filter(|&c| c >= 64 || iso.caps & (1u64 << c) == 0).collect(),
            keep: iso.caps,
        })
    }
}

/// The child's side of [`Joined`], before its descriptor table is
/// trimmed: into the task's IPC and mount namespaces, its root, its
/// capability bounds. Err: errno is left as the failed call set it.
///
/// # Safety
/// Called only in the cloned child (which shares no `fs` with supd).
pub(super) unsafe fn join(j: &Joined) -> Result<(), i32> {
    use std::os::fd::AsRawFd;
    // SAFETY: system calls on descriptors `j` holds open.
    unsafe {
        if let Some(ipc) = &j.ipc
            && libc::setns(ipc.as_raw_fd(), libc::CLONE_NEWIPC) < 0
        {
            return Err(0);
        }
        if libc::setns(j.mnt.as_raw_fd(), libc::CLONE_NEWNS) < 0
            || libc::fchdir(j.root.as_raw_fd()) < 0
            || libc::chroot(c".".as_ptr()) < 0
            || libc::chdir(c"/".as_ptr()) < 0
        {
            return Err(4);
        }
        bound(&j.drop)
    }
}

/// After the switch to root (allowed by supd.toml): its permitted and
/// effective sets become the kept ones (`keep`), as Nomad's for root.
///
/// # Safety
/// Called only in the cloned child.
pub(super) unsafe fn limit_root_caps(keep: u64) -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const V3: u32 = 0x2008_0522;
    let hdr = Header { version: V3, pid: 0 };
    let lo = keep as u32;
    let hi = (keep >> 32) as u32;
    let data =
        [Data { effective: lo, permitted: lo, inheritable: 0 }, Data { effective: hi, permitted: hi, inheritable: 0 }];
    // SAFETY: capset with a v3 header and two data words.
    unsafe { libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) == 0 }
}

/// Capability names as Nomad and Docker write them (lower case, without
/// `cap_`), by number.
pub const CAP_NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// The number of a capability named `chown`, `CAP_CHOWN` or `cap_chown`.
pub fn cap_number(name: &str) -> Option<u32> {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("cap_").unwrap_or(&n);
    CAP_NAMES.iter().position(|c| *c == n).map(|i| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names() {
        assert_eq!(cap_number("chown"), Some(0));
        assert_eq!(cap_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(cap_number("checkpoint_restore"), Some(40));
        assert_eq!(cap_number("nope"), None);
    }

    #[test]
    fn an_isolated_child_sees_its_own_root_processes_and_capabilities() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: not root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut binds = Vec::new();
        for d in ["bin", "lib", "lib64", "usr", "etc"] {
            if Path::new("/").join(d).exists() {
                std::fs::create_dir(dir.path().join(d)).unwrap();
                binds.push(Bind { source: Path::new("/").join(d), target: d.into(), read_only: true });
            }
        }
        for d in MOUNT_POINTS {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let iso = Isolation { root: dir.path().into(), binds, pid: true, ipc: true, caps: 1 << 5 };
        let nobody = crate::process::lookup_user("nobody").unwrap();
        let spec = crate::process::SpawnSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "echo $$; ls /proc | grep -c '^[0-9]'; grep -E '^Cap(Eff|Bnd)' /proc/self/status; id -u; ls /; touch /usr/x 2>&1".into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            work_dir: Some("/".into()),
            user: Some(nobody),
            isolation: Some(iso),
        };
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let pid = crate::process::spawn(
            &spec,
            crate::process::Io::Fd(std::os::fd::AsFd::as_fd(&w)),
            crate::process::Io::Inherit,
        )
        .unwrap();
        drop(w);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
        let _ = nix::sys::wait::waitpid(pid, None);
        eprintln!("{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "1", "PID 1 of its namespace: {out}");
        assert!(out.contains("CapBnd:\t0000000000000020"), "{out}");
        assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
        assert!(out.contains("Read-only file system"), "{out}");
        // Nothing stays mounted on the host.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(dir.path().to_str().unwrap()), "{mounts}");
    }

    #[test]
    fn the_prepared_paths_are_under_the_root() {
        let iso = Isolation {
            root: "/data/alloc/a/t".into(),
            binds: vec![Bind { source: "/usr".into(), target: "/usr".into(), read_only: true }],
            pid: true,
            ipc: false,
            caps: 1,
        };
        let p = Prepared::new(&iso).unwrap();
        assert_eq!(p.binds[0].1.to_str().unwrap(), "/data/alloc/a/t/usr");
        assert_eq!(p.proc.to_str().unwrap(), "/data/alloc/a/t/proc");
        assert!(!p.drop.contains(&0) && p.drop.contains(&1));
        assert_eq!(p.flags, (libc::CLONE_NEWNS | libc::CLONE_NEWPID) as u64);
    }
}
