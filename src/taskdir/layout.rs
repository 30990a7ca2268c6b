//! The allocation directory of an instance, laid out as Nomad's:
//!
//! ```text
//! <data_dir>/alloc/<alloc id>/
//!   alloc/{data,logs,tmp}      shared by the group's tasks
//!   <task>/{local,secrets,tmp} one per task; the task's working directory
//! ```
//!
//! `secrets/` is a small tmpfs (mode 0700, owned by the task's user) where
//! supd may mount one, else a 0700 directory and a warning. Every directory
//! named after an instance or a task is made through [`name_beneath`],
//! which cannot leave its base.

use super::TaskDirError;
use super::beneath::{Dir, Owner};
use crate::jobspec::taskdir_blocks::{Place, Under};
use nix::mount::{MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// Size of a task's `secrets/` tmpfs, as Nomad's.
pub const SECRETS_SIZE: &str = "1m";

/// `base/name` for a name of one plain component; anything else (empty,
/// `.`, `..`, a `/`, a NUL, over 255 bytes) is refused.
pub fn name_beneath(base: &Path, name: &str) -> Result<PathBuf, TaskDirError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) || name.len() > 255 {
        return Err(TaskDirError::Name(name.to_string()));
    }
    Ok(base.join(name))
}

/// The directory of one instance (Nomad's allocation directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocDir {
    root: PathBuf,
}

/// The directory of one task of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDir {
    /// `<alloc dir>/<task>`: the task's working directory.
    pub dir: PathBuf,
    /// `<alloc dir>/alloc`, shared by the group's tasks.
    pub shared: PathBuf,
}

/// How `secrets/` came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secrets {
    /// A tmpfs was mounted, or was there from before (a restart of supd).
    Tmpfs,
    /// A plain 0700 directory; the warning says why.
    Directory { warning: String },
}

impl AllocDir {
    /// `<data_dir>/alloc/<alloc_id>`; nothing is made yet.
    pub fn new(data_dir: &Path, alloc_id: &str) -> Result<AllocDir, TaskDirError> {
        Ok(AllocDir { root: name_beneath(&data_dir.join("alloc"), alloc_id)? })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The shared `alloc/` directory.
    pub fn shared(&self) -> PathBuf {
        self.root.join("alloc")
    }

    /// Makes the instance's directory and `alloc/{data,logs,tmp}`; what
    /// exists is kept (the directory lives as long as the instance).
    /// `data` and `tmp` are writable by every task user, sticky as /tmp.
    pub fn build(&self) -> Result<(), TaskDirError> {
        if let Some(parent) = self.root.parent() {
            std::fs::create_dir_all(parent).map_err(|e| TaskDirError::Io(parent.to_path_buf(), e))?;
        }
        let base = Dir::open(self.root.parent().unwrap_or(Path::new("/"))).map_err(TaskDirError::Beneath)?;
        let name = self.root.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let root = base.subdir(&[name], Some((0o755, None))).map_err(TaskDirError::Beneath)?;
        let alloc = root.subdir(&["alloc"], Some((0o755, None))).map_err(TaskDirError::Beneath)?;
        for (sub, mode) in [("data", 0o1777), ("logs", 0o755), ("tmp", 0o1777)] {
            alloc.subdir(&[sub], Some((mode, None))).map_err(TaskDirError::Beneath)?;
        }
        Ok(())
    }

    /// The directory of task `name` (not made yet). A task cannot be called
    /// `alloc`: that is the shared directory.
    pub fn task(&self, name: &str) -> Result<TaskDir, TaskDirError> {
        if name == "alloc" {
            return Err(TaskDirError::Name(name.to_string()));
        }
        Ok(TaskDir { dir: name_beneath(&self.root, name)?, shared: self.shared() })
    }

    /// Moves `alloc/data` into `next`'s (made by [`AllocDir::build`]), for
    /// `ephemeral_disk { sticky = true }`: the replacement keeps the data.
    pub fn move_data_to(&self, next: &AllocDir) -> Result<(), TaskDirError> {
        let from = Dir::open(&self.shared()).map_err(TaskDirError::Beneath)?;
        let to = Dir::open(&next.shared()).map_err(TaskDirError::Beneath)?;
        // The replacement's own empty `data` goes first.
        let _ = std::fs::remove_dir(next.shared().join("data"));
        from.rename_to("data", &to, "data").map_err(TaskDirError::Beneath)
    }

    /// Unmounts the tasks' `secrets/` and keeps the directory, for an
    /// instance that has ended: nothing runs there any more, and a later
    /// start mounts a fresh one (see [`TaskDir::build`]).
    pub fn unmount(&self) -> Result<(), TaskDirError> {
        match unmount_below(&self.root)?.first() {
            Some(m) => Err(TaskDirError::Mounted(m.clone())),
            None => Ok(()),
        }
    }

    /// Removes the whole directory, after unmounting the tasks' `secrets/`.
    /// A mount that stays under it stops the removal: nothing below a mount
    /// point is ever deleted.
    pub fn remove(&self) -> Result<(), TaskDirError> {
        if !self.root.exists() {
            return Ok(());
        }
        let left = unmount_below(&self.root)?;
        if let Some(m) = left.first() {
            return Err(TaskDirError::Mounted(m.clone()));
        }
        std::fs::remove_dir_all(&self.root).map_err(|e| TaskDirError::Io(self.root.clone(), e))
    }
}

/// Makes the mount points of an isolated task's root in its directory
/// (owned by root, mode 0755; what exists is kept): a directory for each
/// bind of a directory, `dev` and `proc`, an empty file for a bind of a
/// file. Made beneath the directory: a link the task left in its place
/// fails the start instead of leading elsewhere.
pub fn make_mount_points(iso: &crate::process::isolate::Isolation) -> Result<(), TaskDirError> {
    let root = Dir::open(&iso.root).map_err(TaskDirError::Beneath)?;
    let parts_of = |p: &Path| -> Vec<String> {
        p.components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => n.to_str().map(str::to_string),
                _ => None,
            })
            .collect()
    };
    let mut points: Vec<(Vec<String>, bool)> =
        crate::process::isolate::MOUNT_POINTS.iter().map(|p| (vec![p.to_string()], true)).collect();
    for b in &iso.binds {
        points.push((parts_of(&b.target), b.source.is_dir()));
    }
    for (parts, is_dir) in points {
        let names: Vec<&str> = parts.iter().map(String::as_str).collect();
        let Some((last, parents)) = names.split_last() else { continue };
        if is_dir {
            root.subdir(&names, Some((0o755, None))).map_err(TaskDirError::Beneath)?;
        } else {
            let dir = root.subdir(parents, Some((0o755, None))).map_err(TaskDirError::Beneath)?;
            dir.create(last, 0o644).map_err(TaskDirError::Beneath)?;
        }
    }
    Ok(())
}

impl TaskDir {
    pub fn local(&self) -> PathBuf {
        self.dir.join("local")
    }

    pub fn secrets(&self) -> PathBuf {
        self.dir.join("secrets")
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Makes `<task>/{local,secrets,tmp}` owned by the task's user (`owner`,
    /// `None` for supd's own), mounting a tmpfs on `secrets/` where supd may.
    /// What exists is kept, a mounted `secrets/` too.
    pub fn build(&self, owner: Owner) -> Result<Secrets, TaskDirError> {
        let parent = self.dir.parent().unwrap_or(Path::new("/"));
        let base = Dir::open(parent).map_err(TaskDirError::Beneath)?;
        let name = self.dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let task = base.subdir(&[name], Some((0o755, owner))).map_err(TaskDirError::Beneath)?;
        task.chown(owner).map_err(TaskDirError::Beneath)?;
        for (sub, mode) in [("local", 0o755), ("tmp", 0o755), ("secrets", 0o700)] {
            task.subdir(&[sub], Some((mode, owner))).map_err(TaskDirError::Beneath)?;
        }
        let secrets = self.secrets();
        if is_mount_point(&secrets) {
            return Ok(Secrets::Tmpfs);
        }
        let (uid, gid) = owner.unwrap_or((nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw()));
        let data = format!("size={SECRETS_SIZE},mode=0700,uid={uid},gid={gid}");
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        match nix::mount::mount(Some("tmpfs"), &secrets, Some("tmpfs"), flags, Some(data.as_str())) {
            Ok(()) => Ok(Secrets::Tmpfs),
            Err(e) => Ok(Secrets::Directory {
                warning: format!(
                    "{}: not a tmpfs ({}): secrets are kept on disk in a 0700 directory — run supd as root to keep them in memory",
                    secrets.display(),
                    e.desc()
                ),
            }),
        }
    }

    /// `NOMAD_ALLOC_DIR`, `NOMAD_TASK_DIR` and `NOMAD_SECRETS_DIR` as the
    /// task sees them (raw_exec: host paths).
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("NOMAD_ALLOC_DIR", self.shared.display().to_string()),
            ("NOMAD_TASK_DIR", self.local().display().to_string()),
            ("NOMAD_SECRETS_DIR", self.secrets().display().to_string()),
        ]
    }

    /// The three directories as a container task sees them, as Nomad's
    /// docker and podman drivers bind them: (host path, path inside the
    /// container, the variable that names it there).
    pub fn in_container(&self) -> [(PathBuf, &'static str, &'static str); 3] {
        [
            (self.shared.clone(), "/alloc", "NOMAD_ALLOC_DIR"),
            (self.local(), "/local", "NOMAD_TASK_DIR"),
            (self.secrets(), "/secrets", "NOMAD_SECRETS_DIR"),
        ]
    }

    /// The base directory of a place and its components.
    pub fn base(&self, place: &Place) -> &Path {
        match place.under {
            Under::Task => &self.dir,
            Under::Alloc => &self.shared,
        }
    }

    /// The host path of a place, for messages and watches.
    pub fn path_of(&self, place: &Place) -> PathBuf {
        place.parts.iter().fold(self.base(place).to_path_buf(), |p, c| p.join(c))
    }
}

/// Whether `path` is a mount point (it sits on another device than its parent).
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(path), path.parent().map(std::fs::symlink_metadata)) {
        (Ok(m), Some(Ok(p))) => m.dev() != p.dev(),
        _ => false,
    }
}

/// Mount points at or below `root`, deepest first, from /proc/self/mountinfo.
/// Unmounts every mount below `root` (the tasks' `secrets/` tmpfs),
/// deepest first; the directories stay. Returns the mounts that are still
/// there (none, unless another process holds one).
pub fn unmount_below(root: &Path) -> Result<Vec<PathBuf>, TaskDirError> {
    // mountinfo names mount points by their absolute, resolved path: a
    // relative `--state-dir`, or one through a link, is resolved first
    // (it is supd's own directory, not a task's).
    let resolved = std::fs::canonicalize(root);
    let root = resolved.as_deref().unwrap_or(root);
    let mounts = mounts_under(root)?;
    if mounts.is_empty() {
        return Ok(mounts);
    }
    // Read again only when an unmount failed: one read of a long
    // mountinfo (a line per task) costs as much as a hundred unmounts.
    if detach_all(&mounts) { mounts_under(root) } else { Ok(Vec::new()) }
}

/// Threads that unmount together: each unmount waits for an RCU grace
/// period after it lets go of the mount table's lock, and waits of several
/// threads overlap (one grace period serves them all).
const UNMOUNTERS: usize = 8;

/// Detaches every mount of `mounts` (deepest first, as given): mounts of
/// the same depth are detached on [`UNMOUNTERS`] threads at once, a depth
/// only after the deeper ones are done. Whether an unmount failed.
fn detach_all(mounts: &[PathBuf]) -> bool {
    let failed = std::sync::atomic::AtomicBool::new(false);
    let detach = |ms: &[PathBuf]| {
        for m in ms {
            if nix::mount::umount2(m, MntFlags::MNT_DETACH).is_err() {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    for level in mounts.chunk_by(|a, b| a.components().count() == b.components().count()) {
        if level.len() < 2 * UNMOUNTERS {
            detach(level);
            continue;
        }
        let per = level.len().div_ceil(UNMOUNTERS);
        std::thread::scope(|s| {
            let mut rest = level.chunks(per);
            let mine = rest.next().unwrap_or_default();
            for chunk in rest {
                if std::thread::Builder::new().stack_size(64 * 1024).spawn_scoped(s, || detach(chunk)).is_err() {
                    detach(chunk);
                }
            }
            detach(mine);
        });
    }
    failed.into_inner()
}

fn mounts_under(root: &Path) -> Result<Vec<PathBuf>, TaskDirError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| TaskDirError::Io(PathBuf::from("/proc/self/mountinfo"), e))?;
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(crate::process::cgroup::unescape(p)))
        .filter(|p| p.starts_with(root))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn names_cannot_leave_their_base() {
        let base = Path::new("/data");
        assert_eq!(name_beneath(base, "web.g[0]").unwrap(), Path::new("/data/web.g[0]"));
        assert_eq!(AllocDir::new(base, "web.g[0]").unwrap().root(), Path::new("/data/alloc/web.g[0]"));
        for bad in ["", ".", "..", "a/b", "../x", "a\0b"] {
            assert!(name_beneath(base, bad).is_err(), "{bad:?}");
        }
        assert!(name_beneath(base, &"x".repeat(256)).is_err());
        let a = AllocDir::new(base, "id").unwrap();
        assert!(a.task("alloc").is_err());
        assert!(a.task("..").is_err());
    }

    #[test]
    fn layout_as_nomad_lays_it_out() {
        let data = tempfile::tempdir().unwrap();
        let a = AllocDir::new(data.path(), "1234-abcd").unwrap();
        a.build().unwrap();
        let t = a.task("web").unwrap();
        let secrets = t.build(None).unwrap();
        let root = data.path().join("alloc/1234-abcd");
        for d in ["alloc/data", "alloc/logs", "alloc/tmp", "web/local", "web/secrets", "web/tmp"] {
            assert!(root.join(d).is_dir(), "{d}");
        }
        assert_eq!(mode(&root.join("alloc/data")), 0o1777);
        assert_eq!(mode(&root.join("alloc/tmp")), 0o1777);
        assert_eq!(mode(&root.join("web/secrets")), 0o700);
        assert_eq!(mode(&root.join("web/local")), 0o755);
        let uid = nix::unistd::geteuid().as_raw();
        assert_eq!(std::fs::metadata(root.join("web/local")).unwrap().uid(), uid);
        if uid == 0 {
            assert_eq!(secrets, Secrets::Tmpfs);
            assert!(is_mount_point(&t.secrets()));
        } else {
            assert!(matches!(&secrets, Secrets::Directory { warning } if warning.contains("0700")), "{secrets:?}");
        }
        let env = t.env();
        assert_eq!(env[0], ("NOMAD_ALLOC_DIR", root.join("alloc").display().to_string()));
        assert_eq!(env[1].1, root.join("web/local").display().to_string());
        assert_eq!(env[2].1, root.join("web/secrets").display().to_string());

        // Built again (a restart): what is there stays.
        std::fs::write(t.local().join("kept"), "x").unwrap();
        std::fs::write(a.shared().join("data/kept"), "y").unwrap();
        a.build().unwrap();
        t.build(None).unwrap();
        assert!(t.local().join("kept").exists());

        // Sticky data moves to the replacement.
        let next = AllocDir::new(data.path(), "5678").unwrap();
        next.build().unwrap();
        a.move_data_to(&next).unwrap();
        assert_eq!(std::fs::read_to_string(next.shared().join("data/kept")).unwrap(), "y");

        a.remove().unwrap();
        assert!(!root.exists());
        assert!(mounts_under(&root).unwrap().is_empty());
        next.remove().unwrap();
        a.remove().unwrap();
    }

    /// At exit every task's `secrets/` goes, many at once on several
    /// threads, the deeper before the shallower; the directories stay.
    #[test]
    fn every_mount_below_the_root_is_unmounted() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let data = tempfile::tempdir().unwrap();
        let root = data.path().join("alloc");
        let mut dirs = Vec::new();
        for i in 0..(3 * UNMOUNTERS) {
            let d = root.join(format!("{i}/t/secrets"));
            std::fs::create_dir_all(&d).unwrap();
            nix::mount::mount(Some("tmpfs"), &d, Some("tmpfs"), MsFlags::empty(), Some("size=64k")).unwrap();
            dirs.push(d);
        }
        // Named through a link (as a relative or linked --state-dir is),
        // the root is found all the same.
        let link = data.path().join("link");
        std::os::unix::fs::symlink(data.path(), &link).unwrap();
        let root_by_link = link.join("alloc");
        // A mount inside a mount: unmounted first.
        let inner = dirs[0].join("inner");
        std::fs::create_dir(&inner).unwrap();
        nix::mount::mount(Some("tmpfs"), &inner, Some("tmpfs"), MsFlags::empty(), Some("size=64k")).unwrap();
        assert_eq!(mounts_under(&root).unwrap().len(), dirs.len() + 1);
        assert_eq!(unmount_below(&root_by_link).unwrap(), Vec::<PathBuf>::new());
        assert!(mounts_under(&root).unwrap().is_empty());
        assert!(dirs.iter().all(|d| d.is_dir() && !is_mount_point(d)));
    }

    #[test]
    #[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
    fn the_task_user_owns_its_directories() {
        if !nix::unistd::geteuid().is_root() {
            // Only root can give a directory away; the tests run as root in CI.
            let data = tempfile::tempdir().unwrap();
            let t = AllocDir::new(data.path(), "a").unwrap().task("t").unwrap();
            let e = t.build(Some((65534, 65534))).unwrap_err();
            assert!(e.to_string().contains("Operation not permitted"), "{e}");
            return;
        }
        let data = tempfile::tempdir().unwrap();
        let a = AllocDir::new(data.path(), "a").unwrap();
        a.build().unwrap();
        let t = a.task("t").unwrap();
        t.build(Some((65534, 65534))).unwrap();
        for d in [t.dir.clone(), t.local(), t.tmp(), t.secrets()] {
            let m = std::fs::metadata(&d).unwrap();
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", d.display());
        }
        assert_eq!(mode(&t.secrets()), 0o700);
        a.remove().unwrap();
        assert!(!a.root().exists());
    }
}
