//! File operations that cannot leave a directory. A task owns its task
//! directory and may plant symbolic links in it; supd writes there as root.
//! So every path below a base is walked one component at a time from an open
//! directory with `O_NOFOLLOW`: a link anywhere on the way is refused, never
//! followed, whatever the task does meanwhile.

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, fchmod, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, symlinkat, unlinkat};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
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
    /// What was found where a regular file was wanted (a FIFO, a device,
    /// a socket): supd neither reads nor writes it.
    pub found: Option<&'static str>,
}

impl fmt::Display for BeneathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(what) = self.found {
            return write!(
                f,
                "{}: a {what} is in the way — supd reads and writes only regular files in a task's directory; remove it",
                self.path
            );
        }
        match self.errno {
            Errno::ELOOP => write!(f, "{}: a symbolic link is in the way (supd never follows one here)", self.path),
            Errno::ENOTDIR => write!(f, "{}: a file is in the way of a directory", self.path),
            e => write!(f, "{}: {}", self.path, e.desc()),
        }
    }
}

impl std::error::Error for BeneathError {}

fn err(parts: &[&str], errno: Errno) -> BeneathError {
    BeneathError { path: parts.join("/"), errno, found: None }
}

/// A file of type `fmt` (`S_IFMT` bits) where a regular file was wanted.
fn found(name: &str, fmt: u32) -> BeneathError {
    let what = match fmt {
        libc::S_IFIFO => "FIFO",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFSOCK => "socket",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symbolic link",
        _ => "special file",
    };
    BeneathError { path: name.to_string(), errno: Errno::EINVAL, found: Some(what) }
}

/// Opening a file below a task's directory never blocks (a FIFO) and
/// never makes a terminal supd's.
const FILE_FLAGS: OFlag = OFlag::O_NOFOLLOW.union(OFlag::O_CLOEXEC).union(OFlag::O_NONBLOCK).union(OFlag::O_NOCTTY);

const DIR_FLAGS: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

impl Dir {
    /// Opens a directory supd itself made (its own path may hold links,
    /// such as /var/run → /run).
    pub fn open(path: &Path) -> Result<Dir, BeneathError> {
        nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map(|fd| Dir { fd })
            .map_err(|e| BeneathError { path: path.display().to_string(), errno: e, found: None })
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

    /// The type (`S_IFMT` bits) of `name`, a link not followed; `None`
    /// when there is nothing by that name.
    pub fn kind(&self, name: &str) -> Result<Option<u32>, BeneathError> {
        match nix::sys::stat::fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st.st_mode & libc::S_IFMT)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(err(&[name], e)),
        }
    }

    /// `name` held open as the object it is now (`O_PATH`: neither read
    /// nor written, a FIFO not waited on), with no link followed: a link is
    /// refused (ELOOP), never opened through. What is held stays that
    /// object, whatever is renamed or planted by that name afterwards.
    /// Returns its type (`S_IFMT` bits) too.
    pub fn hold(&self, name: &str) -> Result<(OwnedFd, u32), BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&self.fd, name, flags, Mode::empty()).map_err(|e| err(&[name], e))?;
        // With O_PATH and O_NOFOLLOW a link is opened as itself: refused.
        let kind = nix::sys::stat::fstat(&fd).map_err(|e| err(&[name], e))?.st_mode & libc::S_IFMT;
        if kind == libc::S_IFLNK {
            return Err(err(&[name], Errno::ELOOP));
        }
        Ok((fd, kind))
    }

    /// The mode (type and permission bits) and size of `name`, a link not
    /// followed; `None` when there is nothing by that name.
    pub fn stat(&self, name: &str) -> Result<Option<(u32, u64)>, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        match nix::sys::stat::fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some((st.st_mode, u64::try_from(st.st_size).unwrap_or(0)))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(err(&[name], e)),
        }
    }

    /// The target of the link `name`, which is read, never followed.
    pub fn read_link(&self, name: &str) -> Result<OsString, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        nix::fcntl::readlinkat(&self.fd, name).map_err(|e| err(&[name], e))
    }

    /// The entries of this directory (`.` and `..` left out), each name
    /// with its type (`S_IFMT` bits, a link not followed); names that are
    /// not UTF-8 are left out. More than `limit` entries fail as EFBIG.
    pub fn entries(&self, limit: usize) -> Result<Vec<(String, u32)>, BeneathError> {
        self.list(limit, false)
    }

    /// [`Dir::entries`], where a name that is not UTF-8 fails as EILSEQ
    /// (the error's path is the name, made UTF-8) instead of being left
    /// out: for a copy that must be whole.
    pub fn entries_strict(&self, limit: usize) -> Result<Vec<(String, u32)>, BeneathError> {
        self.list(limit, true)
    }

    fn list(&self, limit: usize, strict: bool) -> Result<Vec<(String, u32)>, BeneathError> {
        use nix::dir::Type;
        let mut d = nix::dir::Dir::openat(&self.fd, ".", DIR_FLAGS, Mode::empty()).map_err(|e| err(&["."], e))?;
        let mut out = Vec::new();
        for entry in d.iter() {
            let entry = entry.map_err(|e| err(&["."], e))?;
            let Ok(name) = entry.file_name().to_str() else {
                if strict {
                    return Err(err(&[&*entry.file_name().to_string_lossy()], Errno::EILSEQ));
                }
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            if out.len() >= limit {
                return Err(err(&["."], Errno::EFBIG));
            }
            let kind = match entry.file_type() {
                Some(Type::File) => libc::S_IFREG,
                Some(Type::Directory) => libc::S_IFDIR,
                Some(Type::Symlink) => libc::S_IFLNK,
                Some(Type::Fifo) => libc::S_IFIFO,
                Some(Type::CharacterDevice) => libc::S_IFCHR,
                Some(Type::BlockDevice) => libc::S_IFBLK,
                Some(Type::Socket) => libc::S_IFSOCK,
                // The file system does not say: asked, a link not followed.
                None => match self.kind(name)? {
                    Some(k) => k,
                    None => continue,
                },
            };
            out.push((name.to_string(), kind));
        }
        Ok(out)
    }

    /// Reads the regular file `name` of this directory, at most `limit`
    /// bytes. Anything else by that name (a FIFO, a device) is refused
    /// without being opened, a link as ELOOP.
    pub fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, BeneathError> {
        let file = self.open_read(name)?;
        let mut out = Vec::new();
        file.take(limit + 1).read_to_end(&mut out).map_err(|e| err(&[name], io_errno(&e)))?;
        if out.len() as u64 > limit {
            return Err(err(&[name], Errno::EFBIG));
        }
        Ok(out)
    }

    /// Opens the regular file `name` of this directory to read. Anything
    /// else by that name (a FIFO, a device) is refused without being
    /// opened, a link as ELOOP.
    pub fn open_read(&self, name: &str) -> Result<File, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        match self.kind(name)? {
            Some(libc::S_IFREG) | None => {}
            Some(libc::S_IFLNK) => return Err(err(&[name], Errno::ELOOP)),
            Some(k) => return Err(found(name, k)),
        }
        let fd = openat(&self.fd, name, OFlag::O_RDONLY | FILE_FLAGS, Mode::empty()).map_err(|e| err(&[name], e))?;
        // Swapped since the look: checked again on what was opened.
        let st = nix::sys::stat::fstat(&fd).map_err(|e| err(&[name], e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(found(name, st.st_mode & libc::S_IFMT));
        }
        Ok(File::from(fd))
    }

    /// What the tree below this directory takes: the bytes of its regular
    /// files and the number of its entries, every name counted (UTF-8 or
    /// not), no link followed, entries that vanish meanwhile passed over.
    /// Past `max_entries` entries it stops with EFBIG. For a tree another
    /// program is writing (a git clone) while it is measured.
    pub fn usage(&self, max_entries: u64) -> Result<(u64, u64), BeneathError> {
        let (mut bytes, mut entries) = (0u64, 0u64);
        // Directories still to look at, by path: reopened from here one
        // component at a time, so that no more than two are held open.
        let mut pending: Vec<Vec<OsString>> = vec![Vec::new()];
        while let Some(parts) = pending.pop() {
            let Some(fd) = self.open_below(&parts) else { continue };
            let Ok(mut d) = nix::dir::Dir::openat(&fd, ".", DIR_FLAGS, Mode::empty()) else { continue };
            for entry in d.iter() {
                let Ok(entry) = entry else { break };
                let raw = entry.file_name().to_bytes();
                if raw == b"." || raw == b".." {
                    continue;
                }
                entries += 1;
                if entries > max_entries {
                    return Err(err(&["."], Errno::EFBIG));
                }
                let name = OsStr::from_bytes(raw);
                let Ok(st) = nix::sys::stat::fstatat(&fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) else {
                    continue;
                };
                match st.st_mode & libc::S_IFMT {
                    libc::S_IFDIR => {
                        let mut below = parts.clone();
                        below.push(name.to_os_string());
                        pending.push(below);
                    }
                    libc::S_IFREG => bytes = bytes.saturating_add(u64::try_from(st.st_size).unwrap_or(0)),
                    _ => {}
                }
            }
        }
        Ok((bytes, entries))
    }

    /// The directory `parts` below this one, each component opened without
    /// following a link; `None` when it is gone or no directory.
    fn open_below(&self, parts: &[OsString]) -> Option<OwnedFd> {
        let mut cur: Option<OwnedFd> = None;
        for p in parts {
            let at = cur.as_ref().unwrap_or(&self.fd);
            cur = Some(openat(at, p.as_os_str(), DIR_FLAGS, Mode::empty()).ok()?);
        }
        cur.or_else(|| self.fd.try_clone().ok())
    }

    /// Creates the regular file `name` anew, open to write and read: a
    /// regular file by that name is replaced (never written through: it
    /// may be a hard link to another file), a link is refused as ELOOP,
    /// anything else (a FIFO, a device, a socket, a directory) is refused
    /// and named.
    pub fn create(&self, name: &str, mode: u32) -> Result<File, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        match self.kind(name)? {
            None => {}
            Some(libc::S_IFREG) => match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(err(&[name], e)),
            },
            Some(libc::S_IFLNK) => return Err(err(&[name], Errno::ELOOP)),
            Some(k) => return Err(found(name, k)),
        }
        // Whatever was put there since the look makes this fail (EEXIST).
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | FILE_FLAGS;
        let fd = openat(&self.fd, name, flags, Mode::from_bits_truncate(mode)).map_err(|e| err(&[name], e))?;
        fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(|e| err(&[name], e))?;
        Ok(File::from(fd))
    }

    /// Writes `name` whole or not at all: a new file beside it, then
    /// renamed over it. Returns false (and writes nothing) when the file
    /// already holds exactly `data` with this mode.
    ///
    /// What is there now must be a regular file or a link (which is
    /// replaced, never followed): a FIFO, a device or a socket is refused
    /// and named, and never opened.
    pub fn write_atomic(&self, name: &str, data: &[u8], mode: u32, owner: Owner) -> Result<bool, BeneathError> {
        check_name(name).map_err(|e| err(&[name], e))?;
        let kind = self.kind(name)?;
        if let Some(k) = kind.filter(|k| *k != libc::S_IFREG && *k != libc::S_IFLNK) {
            return Err(found(name, k));
        }
        if kind == Some(libc::S_IFREG)
            && let Ok(fd) = openat(&self.fd, name, OFlag::O_RDONLY | FILE_FLAGS, Mode::empty())
            && let Ok(st) = nix::sys::stat::fstat(&fd)
            && st.st_mode & libc::S_IFMT == libc::S_IFREG
            && st.st_mode & 0o7777 == mode
            && owner.is_none_or(|(u, g)| st.st_uid == u && st.st_gid == g)
            && st.st_size as usize == data.len()
        {
            let mut old = Vec::with_capacity(data.len());
            let read = File::from(fd).take(data.len() as u64 + 1).read_to_end(&mut old);
            if read.is_ok() && old == data {
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

/// The open directory itself (to mount onto it, or from it, through
/// `/proc/self/fd`).
impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
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

    /// What is held is the object found, of any kind (a FIFO is not
    /// waited on), never a link's target.
    #[test]
    fn hold_opens_what_is_there_and_refuses_a_link() {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("dir")).unwrap();
        nix::unistd::mkfifo(&base.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        std::os::unix::fs::symlink("/", base.path().join("root")).unwrap();
        let d = Dir::open(base.path()).unwrap();
        assert_eq!(d.hold("dir").unwrap().1, libc::S_IFDIR);
        assert_eq!(d.hold("fifo").unwrap().1, libc::S_IFIFO);
        let e = d.hold("root").unwrap_err();
        assert_eq!((e.path.as_str(), e.errno), ("root", Errno::ELOOP));
        assert_eq!(d.hold("none").unwrap_err().errno, Errno::ENOENT);
        assert_eq!(d.hold("..").unwrap_err().errno, Errno::EINVAL);
    }

    /// A task may put a FIFO or a device where supd reads or writes: it is
    /// refused at once and named, never opened (a FIFO would block).
    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let base = tempfile::tempdir().unwrap();
        let d = Dir::open(base.path()).unwrap();
        nix::unistd::mkfifo(&base.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let e = d.read("fifo", 10).unwrap_err();
        assert_eq!(e.found, Some("FIFO"));
        assert!(e.to_string().contains("fifo: a FIFO is in the way"), "{e}");
        assert_eq!(d.write_atomic("fifo", b"x", 0o600, None).unwrap_err().found, Some("FIFO"));
        assert_eq!(d.create("fifo", 0o600).unwrap_err().found, Some("FIFO"));
        // supd's own temporary name, planted by the task.
        nix::unistd::mkfifo(&base.path().join(".conf.supd-new"), Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(d.write_atomic("conf", b"x", 0o600, None).unwrap_err().found, Some("FIFO"));
        let sock = std::os::unix::net::UnixListener::bind(base.path().join("sock")).unwrap();
        assert_eq!(d.write_atomic("sock", b"x", 0o600, None).unwrap_err().found, Some("socket"));
        drop(sock);
        std::fs::create_dir(base.path().join("dir")).unwrap();
        assert_eq!(d.create("dir", 0o600).unwrap_err().found, Some("directory"));
    }

    /// A file by the name supd creates is replaced, not written through: a
    /// hard link to another file leaves that file as it was.
    #[test]
    fn create_replaces_a_hard_link_instead_of_writing_through_it() {
        let base = tempfile::tempdir().unwrap();
        std::fs::write(base.path().join("precious"), b"keep").unwrap();
        std::fs::hard_link(base.path().join("precious"), base.path().join("out")).unwrap();
        let d = Dir::open(base.path()).unwrap();
        let mut f = d.create("out", 0o600).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(std::fs::read(base.path().join("precious")).unwrap(), b"keep");
        assert_eq!(std::fs::read(base.path().join("out")).unwrap(), b"new");
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
