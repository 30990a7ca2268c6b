//! File operations that cannot leave a directory. A task owns its task
//! directory and may plant symbolic links in it; supd writes there as root.
//! So every path below a base is walked one component at a time from an open
//! directory with `O_NOFOLLOW`: a link anywhere on the way is refused, never
//! followed, whatever the task does meanwhile.

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, fchmod, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, symlinkat, unlinkat};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// An open directory; every path below it is a list of plain components.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// Owner and group for what is created; `None` keeps supd's own.
pub type Owner = Option<(u32, u32)>;

/// Why an operation below a directory failed: the path (relative to the
/// base) and the system's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeneathError {
    pub path: String,
    pub errno: Errno,
}

impl fmt::Display for BeneathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno {
            Errno::ELOOP => write!(f, "{}: a symbolic link is in the way (supd never follows one here)", self.path),
            Errno::ENOTDIR => write!(f, "{}: a file is in the way of a directory", self.path),
            e => write!(f, "{}: {}", self.path, e.desc()),
        }
    }
}

impl std::error::Error for BeneathError {}

fn err(parts: &[&str], errno: Errno) -> BeneathError {
    BeneathError { path: parts.join("/"), errno }
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

impl Dir {
    /// Opens a directory supd itself made (its own path may hold links,
    /// such as /var/run → /run).
    pub fn open(path: &Path) -> Result<Dir, BeneathError> {
        nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map(|fd| Dir { fd })
            .map_err(|e| BeneathError { path: path.display().to_string(), errno: e })
    }

    /// The directory `parts` below this one, made (with `mode` and `owner`)
    /// where missing.
    pub fn subdir(&self, parts: &[&str], create: Option<(u32, Owner)>) -> Result<Dir, BeneathError> {
        let mut cur: Option<OwnedFd> = None;
        for (i, name) in parts.iter().enumerate() {
            check_name(name).map_err(|e| err(&parts[..=i], e))?;
            let at = cur.as_ref().unwrap_or(&self.fd);
            // Made first, then opened: a fresh tree costs no failed open,
            // and on a kept one the mkdir fails with EEXIST (a link in the
            // way too: it is refused by the open below, never followed).
            let made = match create {
                Some((mode, _)) => match mkdirat(at, *name, Mode::from_bits_truncate(mode)) {
                    Ok(()) => true,
                    Err(Errno::EEXIST) => false,
                    Err(e) => return Err(err(&parts[..=i], e)),
                },
                None => false,
            };
            let fd =
                openat(at, *name, DIR_FLAGS, Mode::empty()).map_err(|e| err(&parts[..=i], link_or(at, name, e)))?;
            if let (true, Some((mode, owner))) = (made, create) {
                // mkdir's mode passes through the umask; the mode asked for
                // is meant.
                if mode & !umask() != mode {
                    fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(|e| err(&parts[..=i], e))?;
                }
                chown(&fd, owner).map_err(|e| err(&parts[..=i], e))?;
            }
            cur = Some(fd);
        }
        match cur {
            Some(fd) => Ok(Dir { fd }),
            None => {
                let fd = self.fd.try_clone().map_err(|e| err(parts, io_errno(&e)))?;
                Ok(Dir { fd })
            }
        }
    }

    /// Reads the regular file `name` of this directory, at most `limit` bytes.
    pub fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        let fd = openat(&self.fd, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| err(&[name], e))?;
        let st = nix::sys::stat::fstat(&fd).map_err(|e| err(&[name], e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(err(&[name], Errno::EINVAL));
        }
        let mut out = Vec::new();
        File::from(fd).take(limit + 1).read_to_end(&mut out).map_err(|e| err(&[name], io_errno(&e)))?;
        if out.len() as u64 > limit {
            return Err(err(&[name], Errno::EFBIG));
        }
        Ok(out)
    }

    /// Creates (or truncates) the regular file `name`, open to write and read; a link
    /// or a directory by that name is refused.
    pub fn create(&self, name: &str, mode: u32) -> Result<File, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&self.fd, name, flags, Mode::from_bits_truncate(mode)).map_err(|e| err(&[name], e))?;
        fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(|e| err(&[name], e))?;
        Ok(File::from(fd))
    }

    /// Writes `name` whole or not at all: a new file beside it, then
    /// renamed over it. Returns false (and writes nothing) when the file
    /// already holds exactly `data` with this mode.
    pub fn write_atomic(&self, name: &str, data: &[u8], mode: u32, owner: Owner) -> Result<bool, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        if let Ok(fd) = openat(&self.fd, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
            && let Ok(st) = nix::sys::stat::fstat(&fd)
            && st.st_mode & 0o7777 == mode
            && owner.is_none_or(|(u, g)| st.st_uid == u && st.st_gid == g)
            && st.st_size as usize == data.len()
        {
            let mut old = Vec::with_capacity(data.len());
            if File::from(fd).read_to_end(&mut old).is_ok() && old == data {
                return Ok(false);
            }
        }
        let tmp = format!(".{name}.supd-new");
        let mut f = self.create(&tmp, mode)?;
        // No fsync: the rename keeps readers from seeing half a file, and
        // what is rendered is rendered again before the task's next start
        // (after a power loss too), so the loop does not wait for the disk.
        let written = f
            .write_all(data)
            .map_err(|e| err(&[&tmp], io_errno(&e)))
            .and_then(|()| chown(f.as_fd(), owner).map_err(|e| err(&[&tmp], e)))
            .and_then(|()| renameat(&self.fd, tmp.as_str(), &self.fd, name).map_err(|e| err(&[name], e)));
        if written.is_err() {
            let _ = unlinkat(&self.fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        written.map(|()| true)
    }

    /// Makes the symbolic link `name` → `target` (replacing a file or link
    /// of that name).
    pub fn symlink(&self, name: &str, target: &str) -> Result<(), BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        match symlinkat(target, &self.fd, name) {
            Err(Errno::EEXIST) => {
                self.remove_file(name)?;
                symlinkat(target, &self.fd, name).map_err(|e| err(&[name], e))
            }
            other => other.map_err(|e| err(&[name], e)),
        }
    }

    /// Removes the file or link `name`; a missing one is no error.
    pub fn remove_file(&self, name: &str) -> Result<(), BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(err(&[name], e)),
        }
    }

    /// Renames `from` of this directory to `to` of `dir`.
    pub fn rename_to(&self, from: &str, dir: &Dir, to: &str) -> Result<(), BeneathError> {
        check_name(from).map_err(|e| err(&[from], e))?;
        check_name(to).map_err(|e| err(&[to], e))?;
        renameat(&self.fd, from, &dir.fd, to).map_err(|e| err(&[to], e))
    }

    pub fn chown(&self, owner: Owner) -> Result<(), BeneathError> {
        chown(&self.fd, owner).map_err(|e| err(&["."], e))
    }
}

/// With `O_DIRECTORY`, a link in the way fails as ENOTDIR; it is told
/// apart, as the link it is.
fn link_or(dir: &OwnedFd, name: &str, e: Errno) -> Errno {
    let is_link = e == Errno::ENOTDIR
        && nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
    if is_link { Errno::ELOOP } else { e }
}

/// One plain component: not empty, `.` or `..`, without `/` or NUL.
fn check_name(name: &str) -> Result<(), Errno> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn chown<F: AsFd>(fd: F, owner: Owner) -> Result<(), Errno> {
    match owner {
        None => Ok(()),
        Some((u, g)) => fchown(fd, Some(Uid::from_raw(u)), Some(Gid::from_raw(g))),
    }
}

/// supd's umask, read once from /proc/self/status (reading it with
/// umask(2) would change it for a moment under other threads); when it
/// cannot be read, every mode is set explicitly.
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Umask:"))?;
                u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
            })
            .unwrap_or(0o7777)
    })
}

pub fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn links_on_the_way_are_refused_never_followed() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), base.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), base.path().join("file-link")).unwrap();
        let d = Dir::open(base.path()).unwrap();
        let e = d.subdir(&["escape", "x"], Some((0o755, None))).unwrap_err();
        assert_eq!((e.path.as_str(), e.errno), ("escape", Errno::ELOOP));
        assert!(e.to_string().contains("symbolic link"));
        assert_eq!(d.create("file-link", 0o644).unwrap_err().errno, Errno::ELOOP);
        assert_eq!(d.read("file-link", 10).unwrap_err().errno, Errno::ELOOP);
        assert_eq!(d.subdir(&[".."], None).unwrap_err().errno, Errno::EINVAL);
        assert_eq!(d.subdir(&["a/b"], None).unwrap_err().errno, Errno::EINVAL);
        // Writing over the link replaces the link, not its target.
        assert!(d.write_atomic("file-link", b"x", 0o600, None).unwrap());
        assert!(!outside.path().join("f").exists());
        assert_eq!(std::fs::read(base.path().join("file-link")).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn atomic_writes_report_whether_anything_changed() {
        let base = tempfile::tempdir().unwrap();
        let d = Dir::open(base.path()).unwrap().subdir(&["a", "b"], Some((0o700, None))).unwrap();
        let meta = std::fs::metadata(base.path().join("a/b")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
        assert!(d.write_atomic("f", b"one", 0o640, None).unwrap());
        assert!(!d.write_atomic("f", b"one", 0o640, None).unwrap());
        assert!(d.write_atomic("f", b"one", 0o600, None).unwrap());
        assert!(d.write_atomic("f", b"two", 0o600, None).unwrap());
        let path = base.path().join("a/b/f");
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read_dir(base.path().join("a/b")).unwrap().count(), 1, "no temporary file is left");
        assert_eq!(d.read("f", 2).unwrap_err().errno, Errno::EFBIG);
        assert_eq!(d.read("f", 3).unwrap(), b"two");
    }
}
