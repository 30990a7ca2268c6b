//! Bind sources held for the container engine. The engine mounts a
//! container's bind sources by path when it starts the container, after
//! supd has checked them; a process that can write into the instance's
//! directory (a sibling task sharing `alloc/`, or the task's own earlier
//! run) could swap a checked directory for a link to `/` in between, and
//! the engine would follow it. So supd holds what it checked: each bind
//! source below the instance's directory is opened with no link followed
//! anywhere on the way ([`Dir::hold`]), and that very object is
//! bind-mounted from its descriptor (`/proc/self/fd/N`: no lookup by name)
//! onto a staging point that only root can reach, outside every task
//! directory; the engine is given the staging point instead:
//!
//! ```text
//! <data_dir>/binds/                 0700 root, a private mount of its own
//!   <alloc dir>/<task>/             0700 root
//!     <n>                           the n-th held source of the task's
//!                                   create request (a directory, or an
//!                                   empty file for any other kind)
//! ```
//!
//! A task's points are made anew at each start (its container made ahead
//! for the next run names the same points, which then hold what that start
//! checked), and go when the task is dead for good, when what a previous
//! supd left is found, and when supd stops. A running container needs
//! none of them: the engine's own mount of a point, in the container's
//! mount namespace, is made when the container starts.
//!
//! The staging tree is made through [`Dir`] (no link followed); as no one
//! but root can reach it, it is unmounted and removed by path, with
//! `rmdir` and `unlink` only, which never reach below a mount.

use super::TaskDirError;
use super::beneath::{BeneathError, Dir};
use super::layout::name_beneath;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The staging root's name in `data_dir`.
pub const DIR: &str = "binds";

/// `<data_dir>/binds`.
pub fn root_of(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR)
}

/// Where the `n`th held source of task `task` of the instance whose
/// directory is `alloc` is staged: `<root>/<alloc>/<task>/<n>`. Names
/// that are not one plain component are refused.
pub fn point(root: &Path, alloc: &str, task: &str, n: usize) -> Result<PathBuf, TaskDirError> {
    Ok(slot(root, alloc, task)?.join(n.to_string()))
}

/// The directory of a task's staging points: `<root>/<alloc>/<task>`.
fn slot(root: &Path, alloc: &str, task: &str) -> Result<PathBuf, TaskDirError> {
    name_beneath(&name_beneath(root, alloc)?, task)
}

/// The components of `source` below the instance's directory `root`;
/// `None` when it is not strictly below it (the engine's own business:
/// supd.toml's `allow_volumes`).
pub fn parts_below<'a>(root: &Path, source: &'a str) -> Option<Vec<&'a str>> {
    let rel = Path::new(source).strip_prefix(root).ok()?;
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    (!parts.is_empty()).then_some(parts)
}

/// What is done with a bind source that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Made, as a directory owned by root with mode 0755, its missing
    /// parents too: what the engine does for a `Binds` entry. supd makes
    /// it itself (no link followed) so that nothing can be planted in its
    /// place between the look and the engine's mount.
    Make,
    /// Refused, as the engine refuses a `Mounts` entry whose source is
    /// missing.
    Refuse,
}

/// A bind source of a container's start, as the engine would take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// Its host path, strictly below the instance's directory.
    pub path: &'a str,
    pub missing: Missing,
    /// The bind asks for mount propagation (`rshared`, `rslave`, …): its
    /// staging point keeps the source's own propagation, which the engine
    /// checks and passes on. Any other is made private: a mount made
    /// later below the source does not reach it, and it joins no peer
    /// group (each of which every mount event on the host walks).
    pub propagation: bool,
}

/// Why a task's bind sources could not be held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldError {
    /// A source is not what may be bound (a link on its way, missing where
    /// it must exist): the task's doing, which a restart does not mend.
    Refused(String),
    /// supd could not stage it (a mount failed).
    Failed(String),
}

impl std::fmt::Display for HoldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldError::Refused(m) | HoldError::Failed(m) => f.write_str(m),
        }
    }
}

/// Why the staging root could not be made, or what is staged not let go
/// of.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// supd cannot mount: it does not run as root.
    #[error("supd does not run as root")]
    NotRoot,
    /// The staging root could not be mounted (no CAP_SYS_ADMIN).
    #[error("cannot mount on {} ({})", path.display(), errno.desc())]
    Mount {
        path: PathBuf,
        #[source]
        errno: Errno,
    },
    /// A directory of the staging tree could not be opened or made with no
    /// link followed.
    #[error(transparent)]
    Beneath(#[from] BeneathError),
    /// A name that cannot be a directory of the staging tree, or mounts
    /// below it that could not be read or detached.
    #[error(transparent)]
    TaskDir(#[from] TaskDirError),
    /// A directory of the staging tree could not be read or removed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Staging points that could not be unmounted or removed, each as
    /// `path: why`.
    #[error("staging points left: {}", .0.join("; "))]
    PointsLeft(Vec<String>),
    /// A mount is still below the staging root: nothing is removed.
    #[error("{} is still mounted (busy): the staging points below it are kept", .0.display())]
    Busy(PathBuf),
}

/// Whether supd holds bind sources, found out on first use.
#[derive(Debug, Default)]
enum Ready {
    #[default]
    Unasked,
    /// The staging root (a private mount of its own): its path and the
    /// mount's root, open.
    Holding(PathBuf, Dir),
    /// supd cannot mount (not root, no CAP_SYS_ADMIN): sources are checked
    /// only ([`Ready::Unasked`] found it out once and said why).
    CheckOnly,
}

/// The staging root of this supd.
#[derive(Debug, Default)]
pub struct Staging {
    ready: Ready,
}

impl Staging {
    /// Whether bind sources can be held. On first use the staging root is
    /// made (what a previous supd left there goes first: nothing of it is
    /// in use, see the module's comment); when it cannot be, the reason
    /// is returned that once (`Err`), to be said in supd's log, and from
    /// then on sources are only checked (`Ok(false)`).
    pub fn ready(&mut self, data_dir: &Path) -> Result<bool, BindError> {
        match self.ready {
            Ready::Holding(..) => return Ok(true),
            Ready::CheckOnly => return Ok(false),
            Ready::Unasked => {}
        }
        match prepare(data_dir) {
            Ok(ready) => {
                self.ready = ready;
                Ok(true)
            }
            Err(why) => {
                self.ready = Ready::CheckOnly;
                Err(why)
            }
        }
    }

    /// Holds the bind sources of a start of task `task` of the instance
    /// whose directory is `instance` (each source strictly below it, see
    /// [`parts_below`]) and stages them, in order: the staging points to
    /// give the engine instead. What the task's earlier starts staged goes
    /// first; on an error nothing of this start stays staged.
    pub fn hold(&self, instance: &Path, task: &str, sources: &[Source]) -> Result<Vec<PathBuf>, HoldError> {
        let Ready::Holding(root, root_dir) = &self.ready else {
            return Err(HoldError::Failed("bind sources cannot be held here".into()));
        };
        let failed = |what: &dyn std::fmt::Display| HoldError::Failed(format!("cannot hold the bind sources: {what}"));
        let alloc = instance.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let slot = slot(root, alloc, task).map_err(|e| failed(&e))?;
        clear_points(&slot).map_err(|e| failed(&e))?;
        let dir = root_dir.subdir(&[alloc, task], Some((0o700, None))).map_err(|e| failed(&e))?;
        let base = Dir::open(instance).map_err(|e| failed(&e))?;
        let mut points = Vec::with_capacity(sources.len());
        for (n, source) in sources.iter().enumerate() {
            let staged = stage((&base, instance), (&dir, &slot), n, source);
            match staged {
                Ok(p) => points.push(p),
                Err(e) => {
                    if let Err(left) = clear_points(&slot) {
                        log::warn!("{left}");
                    }
                    return Err(e);
                }
            }
        }
        Ok(points)
    }
}

/// Holds `source` (below the instance's directory, open as `base`) and
/// mounts it onto the `n`th point of the task's staging directory `dir`
/// (at `slot`).
fn stage(
    (base, instance): (&Dir, &Path),
    (dir, slot): (&Dir, &Path),
    n: usize,
    source: &Source,
) -> Result<PathBuf, HoldError> {
    let Source { path: source, missing, propagation } = *source;
    let refused = |e: &dyn std::fmt::Display| {
        HoldError::Refused(format!(
            "cannot bind {source} into the container: {e} — supd binds nothing that leads out of the task's directory"
        ))
    };
    let Some(parts) = parts_below(instance, source) else {
        return Err(refused(&"it is not below the instance's directory"));
    };
    let (held, kind) = match open_source(base, &parts, missing) {
        Ok(h) => h,
        Err(e) if e.errno == Errno::ENOENT && missing == Missing::Refuse => {
            return Err(HoldError::Refused(format!(
                "cannot bind {source} into the container: bind source path does not exist"
            )));
        }
        Err(e) => return Err(refused(&e)),
    };
    let failed = |e: &dyn std::fmt::Display| HoldError::Failed(format!("cannot stage {source} for the engine: {e}"));
    let name = n.to_string();
    // Recursive, as the engine's own default (`rbind`): what is mounted
    // below the source is bound too. The new mount takes the source's
    // propagation (made private below unless the bind asks for one).
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    // A point of the source's kind: a bind of a directory needs a
    // directory, of anything else a file.
    let bound = if kind == libc::S_IFDIR {
        let target = dir.subdir(&[name.as_str()], Some((0o700, None))).map_err(|e| failed(&e))?;
        bind_fd(&held, &target, flags)
    } else {
        let target = dir.create(&name, 0o600).map_err(|e| failed(&e))?;
        bind_fd(&held, &target, flags)
    };
    bound.map_err(|e| failed(&e.desc()))?;
    let point = slot.join(name);
    if !propagation {
        // By path: the point's descriptor is the directory beneath the new
        // mount (the tree is root's alone).
        let none = None::<&str>;
        nix::mount::mount(none, &point, none, MsFlags::MS_PRIVATE | MsFlags::MS_REC, none)
            .map_err(|e| failed(&e.desc()))?;
    }
    Ok(point)
}

/// The source `parts` below the instance's directory `base`, held with
/// no link followed anywhere on its way; what is missing is made when
/// `missing` says so.
fn open_source(base: &Dir, parts: &[&str], missing: Missing) -> Result<(OwnedFd, u32), BeneathError> {
    let Some((last, parents)) = parts.split_last() else {
        return Err(BeneathError { path: String::new(), errno: Errno::EINVAL, found: None });
    };
    // Root's, 0755, parents too: as the engine makes a missing source.
    let make = Some((0o755, None));
    let dir = match base.subdir(parents, None) {
        Err(e) if e.errno == Errno::ENOENT && missing == Missing::Make => base.subdir(parents, make)?,
        other => other?,
    };
    match dir.hold(last) {
        Err(e) if e.errno == Errno::ENOENT && missing == Missing::Make => {
            dir.subdir(&[last], make)?;
            dir.hold(last)
        }
        other => other,
    }
}

/// `/proc/self/fd/N`: the object the descriptor holds, found with no
/// lookup by name.
fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Bind-mounts what `source` holds onto what `target` holds. mount(2)
/// through `/proc/self/fd/N` binds the object the descriptor holds, as
/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH)` with `move_mount`
/// would (runc mounts through descriptors the same way, for the same
/// race); mount(2) is the one nix wraps and every kernel has, where the
/// new mount API (Linux 5.2) would take raw system calls, which supd keeps
/// to `process/sys.rs`.
fn bind_fd(source: &impl AsFd, target: &impl AsFd, flags: MsFlags) -> nix::Result<()> {
    let (s, t) = (fd_path(&source.as_fd()), fd_path(&target.as_fd()));
    nix::mount::mount(Some(s.as_str()), t.as_str(), None::<&str>, flags, None::<&str>)
}

/// Makes the staging root: `<data_dir>/binds`, root's alone (0700), made
/// with no link followed, after what a previous supd left there is gone.
/// It is bound onto itself and made private: a mount made below it (a
/// staging point, three or more a container task) is not copied into the
/// mount namespaces that receive supd's mounts (systemd services with
/// namespaces of their own, and their like), which would otherwise each
/// hold a copy of every point, pinning the task directories, and mount and
/// unmount with supd. The engine needs no copy: supd stages only for an
/// engine that mounts in supd's own namespace (`Supervisor::holds_binds`).
fn prepare(data_dir: &Path) -> Result<Ready, BindError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(BindError::NotRoot);
    }
    let root = root_of(data_dir);
    release_all(&root)?;
    let base = Dir::open(data_dir)?;
    let made = base.subdir(&[DIR], Some((0o700, None)))?;
    let cannot = |errno: Errno| BindError::Mount { path: root.clone(), errno };
    if let Err(e) = bind_fd(&made, &made, MsFlags::MS_BIND) {
        // Not even a bind (no CAP_SYS_ADMIN): nothing is left of it.
        let _ = std::fs::remove_dir(&root);
        return Err(cannot(e));
    }
    // Opened again: the mount's root, not the directory beneath it.
    let opened = base.subdir(&[DIR], None).map_err(BindError::from);
    let private = opened.and_then(|dir| {
        let none = None::<&str>;
        nix::mount::mount(none, fd_path(&dir.as_fd()).as_str(), none, MsFlags::MS_PRIVATE, none)
            .map(|()| dir)
            .map_err(cannot)
    });
    match private {
        Ok(dir) => Ok(Ready::Holding(root, dir)),
        Err(e) => {
            let _ = nix::mount::umount2(&root, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&root);
            Err(e)
        }
    }
}

/// Unmounts and removes a task's staging points (the directory `slot`
/// stays). A point that cannot be unmounted stays, and is named.
fn clear_points(slot: &Path) -> Result<(), BindError> {
    let entries = match std::fs::read_dir(slot) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(BindError::Io { path: slot.to_path_buf(), source }),
    };
    let mut left = Vec::new();
    for entry in entries.flatten() {
        let point = entry.path();
        if let Err(e) = unmount(&point) {
            left.push(format!("{}: {}", point.display(), e.desc()));
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let removed = if is_dir { std::fs::remove_dir(&point) } else { std::fs::remove_file(&point) };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => left.push(format!("{}: {e}", point.display())),
            _ => {}
        }
    }
    if left.is_empty() { Ok(()) } else { Err(BindError::PointsLeft(left)) }
}

/// Detaches every mount on `point` (one, unless a previous supd left
/// another beneath); not a mount point is no error.
fn unmount(point: &Path) -> Result<(), Errno> {
    for _ in 0..8 {
        match nix::mount::umount2(point, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Lets go of what is staged for task `task` of the instance whose
/// directory is named `alloc` (`None`: for every task of it): its points
/// unmounted and removed, with its directories. Nothing staged is no
/// error.
pub fn release(data_dir: &Path, alloc: &str, task: Option<&str>) -> Result<(), BindError> {
    let inst = name_beneath(&root_of(data_dir), alloc)?;
    let slots: Vec<PathBuf> = match task {
        Some(t) => vec![name_beneath(&inst, t)?],
        None => match std::fs::read_dir(&inst) {
            Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(BindError::Io { path: inst, source }),
        },
    };
    for slot in slots {
        clear_points(&slot)?;
        remove_dir(&slot)?;
    }
    // Another task's points may still be there.
    match std::fs::remove_dir(&inst) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(()),
        other => gone(other, &inst),
    }
}

fn remove_dir(dir: &Path) -> Result<(), BindError> {
    gone(std::fs::remove_dir(dir), dir)
}

/// A removal's result: what was already gone is no error.
fn gone(removed: std::io::Result<()>, path: &Path) -> Result<(), BindError> {
    match removed {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
            Err(BindError::Io { path: path.to_path_buf(), source })
        }
        _ => Ok(()),
    }
}

/// Everything at or below the staging root `root` unmounted (the root's
/// own mount too) and removed: at supd's exit, and on first use for what
/// a previous supd left. Nothing is removed while a mount stays below.
pub fn release_all(root: &Path) -> Result<(), BindError> {
    match std::fs::symlink_metadata(root) {
        Err(_) => return Ok(()),
        // Whatever is in the way, never walked through: made anew.
        Ok(m) if !m.is_dir() => return gone(std::fs::remove_file(root), root),
        Ok(_) => {}
    }
    let left = super::layout::unmount_below(root)?;
    if let Some(m) = left.into_iter().next() {
        return Err(BindError::Busy(m));
    }
    remove_tree(root, 3)
}

/// Removes `dir` and what is in it, `depth` levels at most (the staging
/// tree has three), with `rmdir` and `unlink` only.
fn remove_tree(dir: &Path, depth: u32) -> Result<(), BindError> {
    let entries = std::fs::read_dir(dir).map_err(|source| BindError::Io { path: dir.to_path_buf(), source })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if depth > 0 && entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&path, depth - 1)?;
        } else {
            gone(std::fs::remove_file(&path), &path)?;
        }
    }
    remove_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn staging_points_are_named_by_instance_task_and_order() {
        let root = root_of(Path::new("/var/lib/supd"));
        assert_eq!(root, Path::new("/var/lib/supd/binds"));
        assert_eq!(point(&root, "0a1b", "web", 2).unwrap(), Path::new("/var/lib/supd/binds/0a1b/web/2"));
        for (alloc, task) in [("..", "t"), ("a", ".."), ("a/b", "t"), ("a", "t/u"), ("", "t"), ("a", "")] {
            assert!(point(&root, alloc, task, 0).is_err(), "{alloc:?} {task:?}");
        }
        let inst = Path::new("/d/alloc/0a1b");
        assert_eq!(parts_below(inst, "/d/alloc/0a1b/web/local/data"), Some(vec!["web", "local", "data"]));
        assert_eq!(parts_below(inst, "/d/alloc/0a1b/alloc"), Some(vec!["alloc"]));
        assert_eq!(parts_below(inst, "/d/alloc/0a1b"), None, "the instance's directory itself");
        assert_eq!(parts_below(inst, "/d/alloc/0a1bc/web"), None, "a sibling by a longer name");
        assert_eq!(parts_below(inst, "/etc"), None);
        assert_eq!(parts_below(inst, "named-volume"), None);
    }

    /// What a test staged, undone however it ends: no mount outlives it.
    struct Undo(PathBuf);

    impl Drop for Undo {
        fn drop(&mut self) {
            let _ = crate::taskdir::layout::unmount_below(&self.0);
        }
    }

    fn held(path: &str, missing: Missing) -> Source<'_> {
        Source { path, missing, propagation: false }
    }

    /// The optional fields of `point`'s line in mountinfo (`shared:N`,
    /// `master:N`; none for a private mount).
    fn propagation_of(point: &Path) -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = info.lines().rev().find(|l| l.split(' ').nth(4).map(Path::new) == Some(point)).unwrap();
        line.split(' ').skip(6).take_while(|f| *f != "-").map(str::to_string).collect()
    }

    fn mounted_below(dir: &Path) -> Vec<PathBuf> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(PathBuf::from)
            .filter(|p| p.starts_with(dir) && p != dir)
            .collect()
    }

    /// Whether two paths are the same object (device and inode).
    fn same(a: &Path, b: &Path) -> bool {
        let (a, b) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
        (a.dev(), a.ino()) == (b.dev(), b.ino())
    }

    /// Without root, staging is refused and said once; then each start
    /// goes on with the check alone.
    #[test]
    fn without_root_staging_is_refused_once_then_the_check_alone_stays() {
        if nix::unistd::geteuid().is_root() {
            return; // sources_are_held_as_mounts_of_what_was_checked_and_released
        }
        let data = tempfile::tempdir().unwrap();
        let mut s = Staging::default();
        assert!(matches!(s.ready(data.path()), Err(BindError::NotRoot)));
        assert!(matches!(s.ready(data.path()), Ok(false)), "said once, then check-only");
    }

    /// As root: each source is a mount of the very object that was
    /// checked (a directory, a file, made where missing for `Binds`), a
    /// link or a missing `Mounts` source is refused with nothing left
    /// staged, a new start replaces the points, and a release leaves
    /// nothing mounted or made.
    #[test]
    fn sources_are_held_as_mounts_of_what_was_checked_and_released() {
        if !nix::unistd::geteuid().is_root() {
            return; // without_root_staging_is_refused_once_then_the_check_alone_stays
        }
        let data = tempfile::tempdir().unwrap();
        let _undo = Undo(data.path().to_path_buf());
        let inst = data.path().join("alloc/0a1b");
        std::fs::create_dir_all(inst.join("t/local/data")).unwrap();
        std::fs::write(inst.join("t/local/data/f"), "x").unwrap();
        std::fs::write(inst.join("t/local/conf"), "c").unwrap();
        std::os::unix::fs::symlink("/", inst.join("t/local/escape")).unwrap();
        let root = root_of(data.path());
        // A previous supd's leftovers go.
        std::fs::create_dir_all(root.join("old/t/0")).unwrap();

        let mut s = Staging::default();
        assert!(s.ready(data.path()).unwrap());
        assert!(!root.join("old").exists());
        let meta = std::fs::metadata(&root).unwrap();
        assert_eq!((meta.permissions().mode() & 0o7777, meta.uid()), (0o700, 0));

        let src = |p: &str| inst.join(p).display().to_string();
        let (data_src, conf_src, new_src) = (src("t/local/data"), src("t/local/conf"), src("t/local/new/deep"));
        let sources = [
            held(&data_src, Missing::Make),
            Source { propagation: true, ..held(&conf_src, Missing::Refuse) },
            held(&new_src, Missing::Make),
        ];
        let points = s.hold(&inst, "t", &sources).unwrap();
        assert_eq!(points, (0..3).map(|n| point(&root, "0a1b", "t", n).unwrap()).collect::<Vec<_>>());
        assert!(same(&points[0], &inst.join("t/local/data")));
        assert_eq!(std::fs::read_to_string(points[0].join("f")).unwrap(), "x");
        assert!(same(&points[1], &inst.join("t/local/conf")), "a file is bound onto a file");
        let made = std::fs::metadata(inst.join("t/local/new/deep")).unwrap();
        assert_eq!((made.is_dir(), made.uid(), made.permissions().mode() & 0o7777), (true, 0, 0o755));
        assert!(same(&points[2], &inst.join("t/local/new/deep")));
        assert_eq!(mounted_below(&root).len(), 3);
        assert_eq!(propagation_of(&points[0]), Vec::<String>::new(), "private unless the bind asks");
        assert_eq!(propagation_of(&root), Vec::<String>::new(), "the staging root is private");

        // Swapped after the hold: the point still holds what was checked.
        std::fs::rename(inst.join("t/local/data"), inst.join("t/local/moved")).unwrap();
        std::os::unix::fs::symlink("/", inst.join("t/local/data")).unwrap();
        assert_eq!(std::fs::read_to_string(points[0].join("f")).unwrap(), "x");
        assert!(!points[0].join("etc").exists());

        // The next start: a link is refused, and nothing stays staged.
        let e = s.hold(&inst, "t", &[held(&conf_src, Missing::Make), held(&data_src, Missing::Make)]);
        match e {
            Err(HoldError::Refused(m)) => assert!(m.contains("local/data") && m.contains("symbolic link"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(mounted_below(&root).is_empty());
        let escape = src("t/local/escape/etc");
        assert!(matches!(s.hold(&inst, "t", &[held(&escape, Missing::Make)]), Err(HoldError::Refused(_))));
        let missing = src("t/local/nothing");
        match s.hold(&inst, "t", &[held(&missing, Missing::Refuse)]) {
            Err(HoldError::Refused(m)) => assert!(m.contains("does not exist"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(!inst.join("t/local/nothing").exists());
        // A start that holds again replaces the points.
        std::fs::remove_file(inst.join("t/local/data")).unwrap();
        std::fs::create_dir(inst.join("t/local/data")).unwrap();
        let points = s.hold(&inst, "t", &[held(&data_src, Missing::Make)]).unwrap();
        assert!(same(&points[0], &inst.join("t/local/data")));
        assert_eq!(mounted_below(&root).len(), 1);
        assert!(!point(&root, "0a1b", "t", 1).unwrap().exists());

        release(data.path(), "0a1b", Some("t")).unwrap();
        assert!(mounted_below(&root).is_empty());
        assert!(!root.join("0a1b").exists());
        release(data.path(), "0a1b", None).unwrap();
        release(data.path(), "gone", Some("t")).unwrap();
        s.hold(&inst, "t", &[held(&data_src, Missing::Make)]).unwrap();
        release_all(&root).unwrap();
        assert!(!root.exists());
        assert!(mounted_below(data.path()).is_empty());
    }
}
