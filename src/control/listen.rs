//! Making the control socket. A path that holds anything but a socket is
//! left alone (an operator's `--socket` typo must not delete a file); a
//! socket is replaced only when no supd answers on it. The socket is
//! created with a umask of 077, so that between its creation and its final
//! mode nobody else can connect, whatever umask supd was started with.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why the control socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot create the socket directory {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A supd answers on the socket already.
    #[error("another supd already listens on {} — stop it, or give this one another --socket", path.display())]
    InUse { path: PathBuf },
    /// The dead socket left by a supd that ended could not be removed.
    #[error("cannot remove the old socket {}: {source}", path.display())]
    RemoveOld {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Something other than a socket (`kind`) is there: left alone.
    #[error(
        "{} exists and is {kind}, not a socket — supd replaces only a socket: remove it yourself, or give --socket another path",
        path.display()
    )]
    NotASocket { path: PathBuf, kind: &'static str },
    #[error("cannot look at {}: {source}", path.display())]
    Stat {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on {}: {source}", path.display())]
    Listen {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot give {} to group {gid}: {source}", path.display())]
    Chown {
        path: PathBuf,
        gid: u32,
        #[source]
        source: io::Error,
    },
    #[error("cannot set {} to mode {mode:o}: {source}", path.display())]
    Chmod {
        path: PathBuf,
        mode: u32,
        #[source]
        source: io::Error,
    },
}

/// Listens on `path`: mode 0600, or 0660 owned by `group` when given.
pub fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, ListenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ListenError::CreateDir { dir: dir.to_path_buf(), source })?;
    }
    let at = || path.to_path_buf();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(ListenError::InUse { path: at() });
            }
            // A socket nobody answers on: left by a supd that ended.
            std::fs::remove_file(path).map_err(|source| ListenError::RemoveOld { path: at(), source })?;
        }
        Ok(m) => return Err(ListenError::NotASocket { path: at(), kind: kind_of(m.file_type()) }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(ListenError::Stat { path: at(), source }),
    }
    let listener = {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        let bound = UnixListener::bind(path);
        nix::sys::stat::umask(old);
        bound.map_err(|source| ListenError::Listen { path: at(), source })?
    };
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|source| ListenError::Chown {
            path: at(),
            gid,
            source,
        })?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| ListenError::Chmod {
        path: at(),
        mode,
        source,
    })?;
    Ok(listener)
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else {
        "a device"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn only_a_dead_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").unwrap();
        let e = bind(&file, None).unwrap_err();
        assert!(matches!(e, ListenError::NotASocket { kind: "a regular file", .. }), "{e}");
        assert!(e.to_string().contains("is a regular file, not a socket"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(bind(&link, None).unwrap_err().to_string().contains("a symbolic link"));
        assert!(bind(dir.path(), None).unwrap_err().to_string().contains("a directory"));

        let sock = dir.path().join("s.sock");
        let live = bind(&sock, None).unwrap();
        assert_eq!(std::fs::metadata(&sock).unwrap().mode() & 0o777, 0o600);
        let e = bind(&sock, None).unwrap_err();
        assert!(matches!(e, ListenError::InUse { .. }), "{e}");
        assert!(e.to_string().contains("another supd already listens"), "{e}");
        drop(live);
        let again = bind(&sock, None).unwrap();
        assert!(UnixStream::connect(&sock).is_ok());
        drop(again);
    }
}
