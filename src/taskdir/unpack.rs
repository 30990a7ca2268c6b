//! Unpacking `.tar`, `.tar.gz`/`.tgz`, `.tar.xz`/`.txz` and `.zip` into a
//! directory, never outside it. A first pass reads every entry's name, kind
//! and stated size and refuses the archive before anything is written (a
//! `..` or absolute name, a link leading out, a device, more files or bytes
//! than allowed); the second pass writes, counting the bytes it really
//! writes against the same limit, so a lying header does not help a bomb.

use super::artifact::{ArtifactError, Limits};
use super::beneath::{Dir, Owner};
use std::fs::File;
use std::io::{Read, Seek};
use std::sync::atomic::{AtomicBool, Ordering};

/// What an entry is.
enum Kind {
    Dir,
    File(u32),
    Symlink(String),
}

struct Entry {
    name: String,
    parts: Vec<String>,
    kind: Kind,
    size: u64,
}

/// The plain components of an entry name, or why it may not be unpacked.
fn entry_parts(name: &str) -> Result<Vec<String>, String> {
    if name.starts_with('/') {
        return Err("is an absolute path".into());
    }
    if name.contains('\0') {
        return Err("holds a NUL byte".into());
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("climbs out with `..`".into()),
            c => parts.push(c.to_string()),
        }
    }
    Ok(parts)
}

/// Whether a link at `parts` pointing to `target` stays below the root.
fn link_stays_inside(parts: &[String], target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth = parts.len().saturating_sub(1) as i64;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

fn unsafe_entry(name: &str, why: impl Into<String>) -> ArtifactError {
    ArtifactError::Unsafe { entry: name.to_string(), why: why.into() }
}

/// Checks one entry and adds it to the running totals.
fn admit(e: &Entry, files: &mut u64, bytes: &mut u64, limits: &Limits) -> Result<(), ArtifactError> {
    if let Kind::Symlink(t) = &e.kind
        && !link_stays_inside(&e.parts, t)
    {
        return Err(unsafe_entry(&e.name, format!("is a link to {t:?}, outside the destination")));
    }
    *files += 1;
    *bytes = bytes.saturating_add(e.size);
    if *files > limits.max_files {
        return Err(ArtifactError::TooLarge {
            what: format!("the archive holds more than {} entries", limits.max_files),
        });
    }
    if *bytes > limits.max_unpacked {
        return Err(ArtifactError::TooLarge {
            what: format!("the archive unpacks to more than {} bytes", limits.max_unpacked),
        });
    }
    Ok(())
}

/// Writes entries below `root`, counting files and bytes.
struct Writer<'a> {
    root: &'a Dir,
    owner: Owner,
    limits: &'a Limits,
    cancel: &'a AtomicBool,
    bytes: u64,
    files: u64,
}

impl Writer<'_> {
    fn write(&mut self, e: &Entry, data: &mut dyn Read) -> Result<(), ArtifactError> {
        let io = |err: super::beneath::BeneathError| ArtifactError::Io(format!("unpacking {}: {err}", e.name));
        let Some((last, dirs)) = e.parts.split_last() else { return Ok(()) };
        let mut dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        if matches!(e.kind, Kind::Dir) {
            dirs.push(last);
            self.root.subdir(&dirs, Some((0o755, self.owner))).map_err(io)?;
            return Ok(());
        }
        let dir = self.root.subdir(&dirs, Some((0o755, self.owner))).map_err(io)?;
        self.files += 1;
        match &e.kind {
            Kind::Symlink(target) => dir.symlink(last, target).map_err(io),
            Kind::File(mode) => {
                // A link left by an earlier unpack gives way to the file.
                dir.remove_file(last).map_err(io)?;
                // As written under a task's umask (022, Nomad's): no file an
                // archive ships is writable by its group or by others, and
                // no set-id bit is kept.
                let mut f = dir.create(last, mode & 0o755).map_err(io)?;
                if let Some((u, g)) = self.owner {
                    nix::unistd::fchown(&f, Some(nix::unistd::Uid::from_raw(u)), Some(nix::unistd::Gid::from_raw(g)))
                        .map_err(|er| ArtifactError::Io(format!("unpacking {}: {}", e.name, er.desc())))?;
                }
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    if self.cancel.load(Ordering::Relaxed) {
                        return Err(ArtifactError::Cancelled);
                    }
                    let n = match data.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(er) if er.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(er) => return Err(ArtifactError::Archive(format!("{}: {er}", e.name))),
                    };
                    self.bytes += n as u64;
                    if self.bytes > self.limits.max_unpacked {
                        return Err(ArtifactError::TooLarge {
                            what: format!("the archive unpacks to more than {} bytes", self.limits.max_unpacked),
                        });
                    }
                    std::io::Write::write_all(&mut f, &buf[..n])
                        .map_err(|er| ArtifactError::Io(format!("unpacking {}: {er}", e.name)))?;
                }
                Ok(())
            }
            Kind::Dir => Ok(()),
        }
    }
}

/// Unpacks the archive in `file` (of `format`, one of
/// jobspec::taskdir_blocks::ARCHIVE_FORMATS) below `root`; returns the
/// number of files and links written.
pub fn unpack(
    format: &str,
    file: &mut File,
    root: &Dir,
    owner: Owner,
    limits: &Limits,
    cancel: &AtomicBool,
) -> Result<u64, ArtifactError> {
    let mut w = Writer { root, owner, limits, cancel, bytes: 0, files: 0 };
    if format == "zip" {
        unzip(file, &mut w)?;
    } else {
        for write in [false, true] {
            file.rewind().map_err(|e| ArtifactError::Io(e.to_string()))?;
            let reader: Box<dyn Read> = match format {
                "tar.gz" | "tgz" => Box::new(flate2::read::MultiGzDecoder::new(&mut *file)),
                "tar.xz" | "txz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(&mut *file)),
                _ => Box::new(&mut *file),
            };
            untar(reader, &mut w, write)?;
        }
    }
    Ok(w.files)
}

fn bad_archive(e: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Archive(e.to_string())
}

fn untar(reader: Box<dyn Read + '_>, w: &mut Writer, write: bool) -> Result<(), ArtifactError> {
    let mut archive = tar::Archive::new(reader);
    let (mut files, mut bytes) = (0u64, 0u64);
    for entry in archive.entries().map_err(bad_archive)? {
        if w.cancel.load(Ordering::Relaxed) {
            return Err(ArtifactError::Cancelled);
        }
        let mut entry = entry.map_err(bad_archive)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header();
        use tar::EntryType as T;
        let kind = match header.entry_type() {
            T::Directory => Kind::Dir,
            T::Regular | T::Continuous | T::GNUSparse => Kind::File(header.mode().map_err(bad_archive)?),
            T::Symlink => {
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                Kind::Symlink(target.unwrap_or_default())
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
            T::Link => {
                return Err(unsafe_entry(&name, "is a hard link, which supd does not unpack — pack the file itself"));
            }
            other => {
                return Err(unsafe_entry(
                    &name,
                    format!("is a {other:?} entry; only files, directories and links are unpacked"),
                ));
            }
        };
        let parts = entry_parts(&name).map_err(|why| unsafe_entry(&name, why))?;
        let size = if matches!(kind, Kind::File(_)) { entry.size() } else { 0 };
        let e = Entry { name, parts, kind, size };
        if write {
            w.write(&e, &mut entry)?;
        } else {
            admit(&e, &mut files, &mut bytes, w.limits)?;
        }
    }
    Ok(())
}

/// The longest target a link may have (Linux's PATH_MAX).
const LINK_MAX: u64 = 4096;

fn unzip(file: &mut File, w: &mut Writer) -> Result<(), ArtifactError> {
    let mut zip = zip::ZipArchive::new(file).map_err(bad_archive)?;
    let mut entries = Vec::with_capacity(zip.len());
    let (mut files, mut bytes) = (0u64, 0u64);
    for i in 0..zip.len() {
        let mut z = zip.by_index(i).map_err(bad_archive)?;
        let name = z.name().map_err(bad_archive)?.replace('\\', "/");
        let kind = if z.is_dir() {
            Kind::Dir
        } else if z.is_symlink() {
            // A link's target is a path: read no more than one can be
            // (an entry that says it is a link may hold gigabytes).
            let mut target = String::new();
            (&mut z).take(LINK_MAX + 1).read_to_string(&mut target).map_err(bad_archive)?;
            if target.len() as u64 > LINK_MAX {
                return Err(unsafe_entry(
                    &name,
                    format!("is a link whose target is over {LINK_MAX} bytes, longer than any path"),
                ));
            }
            Kind::Symlink(target)
        } else {
            Kind::File(z.unix_mode().unwrap_or(0o644))
        };
        let parts = entry_parts(&name).map_err(|why| unsafe_entry(&name, why))?;
        let size = if matches!(kind, Kind::File(_)) { z.size() } else { 0 };
        let e = Entry { name, parts, kind, size };
        admit(&e, &mut files, &mut bytes, w.limits)?;
        entries.push(e);
    }
    for (i, e) in entries.iter().enumerate() {
        let mut z = zip.by_index(i).map_err(bad_archive)?;
        w.write(e, &mut z)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(entry_parts("./a/b/").unwrap(), ["a", "b"]);
        assert_eq!(entry_parts("a//c").unwrap(), ["a", "c"]);
        assert!(entry_parts("../x").unwrap_err().contains(".."));
        assert!(entry_parts("a/../../x").is_err());
        assert!(entry_parts("a/../b").is_err(), "any `..` is refused, as the tar crate does");
        assert!(entry_parts("/etc/passwd").unwrap_err().contains("absolute"));
    }

    #[test]
    fn links() {
        let p = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
        assert!(link_stays_inside(&p("lib/libx.so"), "libx.so.1"));
        assert!(link_stays_inside(&p("bin/x"), "../lib/x"));
        assert!(!link_stays_inside(&p("bin/x"), "../../x"));
        assert!(!link_stays_inside(&p("x"), "../x"));
        assert!(!link_stays_inside(&p("x"), "/etc/passwd"));
        assert!(link_stays_inside(&p("a/b/c"), "../../d"));
    }
}
