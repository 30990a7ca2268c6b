//! Reading and writing the small text files of a cgroup.

use std::io;
use std::path::Path;

pub(super) fn write(path: &Path, value: &str) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

pub(super) fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file such as memory.events.
pub(super) fn keyed(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A small cgroup file opened on first use and kept: each read is one
/// pread from the start (kernfs makes the text afresh), not an open, a
/// stat, two reads and a close.
#[derive(Debug, Default)]
pub(super) struct Kept(std::cell::OnceCell<Option<std::fs::File>>);

impl Kept {
    pub(super) fn read(&self, path: &Path) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let f = self.0.get_or_init(|| std::fs::File::open(path).ok()).as_ref()?;
        let mut buf = [0u8; 1024];
        let n = f.read_at(&mut buf, 0).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The whole file however long (a `cgroup.procs` of many processes),
    /// read from the start. A read shorter than asked is the end: a
    /// kernfs file fills the buffer while it has more.
    pub(super) fn read_all(&self, path: &Path) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let f = self.0.get_or_init(|| std::fs::File::open(path).ok()).as_ref()?;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match f.read_at(&mut buf, out.len() as u64) {
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}
