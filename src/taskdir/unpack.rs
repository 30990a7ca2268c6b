//! Unpacking `.tar`, `.tar.gz`/`.tgz`, `.tar.xz`/`.txz` and `.zip` into a
//! directory, never outside it. A first pass reads every entry's name, kind
//! and stated size and refuses the archive before anything is written (a
//! `..` or absolute name, a link leading out — alone or through other links
//! of the archive —, a device, more files or bytes than allowed); the second
//! pass writes, counting the bytes it really writes against the same limit,
//! so a lying header does not help a bomb. A cloned git repository is
//! copied the same way ([`copy_tree`]).

use super::artifact::fetch::{ArtifactError, Limits};
use super::beneath::{BeneathError, Dir, Owner};
use nix::errno::Errno;
use std::collections::{HashMap, VecDeque};
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

/// Why an entry's name may not be unpacked; the refusal says it after
/// the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum NameError {
    #[error("is an absolute path")]
    Absolute,
    #[error("holds a NUL byte")]
    Nul,
    #[error("climbs out with `..`")]
    Climbs,
}

/// The plain components of an entry name, or why it may not be unpacked.
fn entry_parts(name: &str) -> Result<Vec<String>, NameError> {
    if name.starts_with('/') {
        return Err(NameError::Absolute);
    }
    if name.contains('\0') {
        return Err(NameError::Nul);
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(NameError::Climbs),
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

/// Checks one entry of `what` ("the archive") and adds it to the running
/// totals.
fn admit(e: &Entry, files: &mut u64, bytes: &mut u64, limits: &Limits, what: &str) -> Result<(), ArtifactError> {
    if let Kind::Symlink(t) = &e.kind
        && !link_stays_inside(&e.parts, t)
    {
        return Err(unsafe_entry(&e.name, format!("is a link to {t:?}, outside the destination")));
    }
    *files += 1;
    *bytes = bytes.saturating_add(e.size);
    if *files > limits.max_files {
        return Err(ArtifactError::TooLarge { what: format!("{what} holds more than {} entries", limits.max_files) });
    }
    if *bytes > limits.max_unpacked {
        return Err(ArtifactError::TooLarge {
            what: format!("{what} unpacks to more than {} bytes", limits.max_unpacked),
        });
    }
    Ok(())
}

/// The most links one path may go through, as Linux allows (ELOOP past it).
const LINK_HOPS: usize = 40;

/// Refuses a link that leads out of the root through other links of the
/// same tree: each link is checked alone as it is read ([`admit`]), but
/// `d/l -> ..` and `x -> d/l/../..` each stay inside on paper while `x`
/// resolves above the root. Every link's target is followed here through
/// the tree's links, component by component, as the kernel would; a path
/// that is not in the tree is taken as a plain directory.
fn links_stay_inside(links: &[(Vec<String>, String)]) -> Result<(), ArtifactError> {
    let by_path: HashMap<&[String], &str> = links.iter().map(|(p, t)| (p.as_slice(), t.as_str())).collect();
    for (parts, target) in links {
        if let Err(why) = resolve_inside(&by_path, parts, target) {
            return Err(unsafe_entry(&parts.join("/"), format!("is a link to {target:?}, which {why}")));
        }
    }
    Ok(())
}

/// Follows the link at `parts` to `target` through the links of `by_path`.
fn resolve_inside(by_path: &HashMap<&[String], &str>, parts: &[String], target: &str) -> Result<(), &'static str> {
    let mut at: Vec<String> = parts[..parts.len().saturating_sub(1)].to_vec();
    let mut rest: VecDeque<String> = VecDeque::new();
    let mut hops = 0;
    push_front(&mut rest, target)?;
    while let Some(c) = rest.pop_front() {
        if c.is_empty() || c == "." {
            continue;
        }
        if c == ".." {
            if at.pop().is_none() {
                return Err("leads out of the destination through other links");
            }
            continue;
        }
        at.push(c);
        if let Some(next) = by_path.get(at.as_slice()) {
            hops += 1;
            if hops > LINK_HOPS {
                return Err("goes through too many links");
            }
            at.pop();
            push_front(&mut rest, next)?;
        }
    }
    Ok(())
}

/// Puts a link's target before what is left of a path.
fn push_front(rest: &mut VecDeque<String>, target: &str) -> Result<(), &'static str> {
    if target.starts_with('/') {
        return Err("leads out of the destination through other links");
    }
    for c in target.split('/').rev() {
        rest.push_front(c.to_string());
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
    /// The links the first pass saw, with their targets.
    links: Vec<(Vec<String>, String)>,
}

impl Writer<'_> {
    /// An entry seen by the first pass: checked and counted.
    fn admit(&mut self, e: &Entry, files: &mut u64, bytes: &mut u64, what: &str) -> Result<(), ArtifactError> {
        admit(e, files, bytes, self.limits, what)?;
        if let Kind::Symlink(t) = &e.kind {
            self.links.push((e.parts.clone(), t.clone()));
        }
        Ok(())
    }

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
    let mut w = Writer { root, owner, limits, cancel, bytes: 0, files: 0, links: Vec::new() };
    if format == "zip" {
        unzip(file, &mut w)?;
    } else {
        for write in [false, true] {
            if write {
                links_stay_inside(&w.links)?;
            }
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
        let parts = entry_parts(&name).map_err(|why| unsafe_entry(&name, why.to_string()))?;
        let size = if matches!(kind, Kind::File(_)) { entry.size() } else { 0 };
        let e = Entry { name, parts, kind, size };
        if write {
            w.write(&e, &mut entry)?;
        } else {
            w.admit(&e, &mut files, &mut bytes, "the archive")?;
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
        let parts = entry_parts(&name).map_err(|why| unsafe_entry(&name, why.to_string()))?;
        let size = if matches!(kind, Kind::File(_)) { z.size() } else { 0 };
        let e = Entry { name, parts, kind, size };
        w.admit(&e, &mut files, &mut bytes, "the archive")?;
        entries.push(e);
    }
    links_stay_inside(&w.links)?;
    for (i, e) in entries.iter().enumerate() {
        let mut z = zip.by_index(i).map_err(bad_archive)?;
        w.write(e, &mut z)?;
    }
    Ok(())
}

/// Copies the tree below `src` (a git clone, in supd's own directory)
/// below `root` as an archive is unpacked: looked through whole first (a
/// link that leads out of the destination, alone or through other links, a
/// FIFO, a device or a socket, a name that is not UTF-8, more entries or
/// bytes than allowed refuse it before anything is written), then written
/// by the same writer, which counts the bytes really copied. No link below
/// `src` is followed, nor below `root`. Returns the files and links
/// written and the bytes copied.
pub(super) fn copy_tree(
    src: &Dir,
    root: &Dir,
    owner: Owner,
    limits: &Limits,
    cancel: &AtomicBool,
) -> Result<(u64, u64), ArtifactError> {
    let mut w = Writer { root, owner, limits, cancel, bytes: 0, files: 0, links: Vec::new() };
    let entries = look_through(src, &mut w)?;
    links_stay_inside(&w.links)?;
    for e in &entries {
        match e.kind {
            Kind::File(_) => {
                let Some((last, dirs)) = e.parts.split_last() else { continue };
                let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
                let mut from = src
                    .subdir(&dirs, None)
                    .and_then(|d| d.open_read(last))
                    .map_err(|er| ArtifactError::Io(format!("copying {}: {er}", e.name)))?;
                w.write(e, &mut from)?;
            }
            _ => w.write(e, &mut std::io::empty())?,
        }
    }
    Ok((w.files, w.bytes))
}

/// Every entry below `src`, each checked and counted as an archive's
/// entry is (`w.admit`), directories before what they hold.
fn look_through(src: &Dir, w: &mut Writer) -> Result<Vec<Entry>, ArtifactError> {
    const WHAT: &str = "the repository";
    let per_dir = usize::try_from(w.limits.max_files).unwrap_or(usize::MAX).saturating_add(1);
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut out = Vec::new();
    // Directories still to list, by path: reopened from `src` one
    // component at a time, so that no more than one is held open.
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(parts) = pending.pop() {
        if w.cancel.load(Ordering::Relaxed) {
            return Err(ArtifactError::Cancelled);
        }
        // Where this directory is, for messages ("" at the top).
        let prefix = if parts.is_empty() { String::new() } else { format!("{}/", parts.join("/")) };
        let io = |er: BeneathError| ArtifactError::Io(format!("copying {WHAT}: {prefix}{er}"));
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let dir = src.subdir(&refs, None).map_err(|er| ArtifactError::Io(format!("copying {WHAT}: {er}")))?;
        let list = match dir.entries_strict(per_dir) {
            Ok(list) => list,
            Err(er) if er.errno == Errno::EILSEQ => {
                let name = format!("{prefix}{}", er.path);
                return Err(unsafe_entry(&name, "has a name that is not UTF-8, which supd does not copy"));
            }
            Err(er) if er.errno == Errno::EFBIG => {
                return Err(ArtifactError::TooLarge {
                    what: format!("{WHAT} holds more than {} entries", w.limits.max_files),
                });
            }
            Err(er) => return Err(io(er)),
        };
        for (name, kind) in list {
            let mut child = parts.clone();
            child.push(name.clone());
            let (kind, size) = match kind {
                libc::S_IFDIR => {
                    pending.push(child.clone());
                    (Kind::Dir, 0)
                }
                libc::S_IFREG => match dir.stat(&name).map_err(io)? {
                    Some((mode, size)) => (Kind::File(mode & 0o7777), size),
                    None => continue,
                },
                libc::S_IFLNK => {
                    let target = dir.read_link(&name).map_err(io)?;
                    (Kind::Symlink(target.to_string_lossy().into_owned()), 0)
                }
                _ => {
                    let name = format!("{prefix}{name}");
                    return Err(unsafe_entry(&name, "is not a file, a directory or a link; only those are copied"));
                }
            };
            let e = Entry { name: child.join("/"), parts: child, kind, size };
            w.admit(&e, &mut files, &mut bytes, WHAT)?;
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(entry_parts("./a/b/").unwrap(), ["a", "b"]);
        assert_eq!(entry_parts("a//c").unwrap(), ["a", "c"]);
        assert_eq!(entry_parts("../x"), Err(NameError::Climbs));
        assert!(entry_parts("../x").unwrap_err().to_string().contains(".."));
        assert!(entry_parts("a/../../x").is_err());
        assert!(entry_parts("a/../b").is_err(), "any `..` is refused, as the tar crate does");
        assert!(entry_parts("/etc/passwd").unwrap_err().to_string().contains("absolute"));
    }

    /// Links that each stay inside on paper may lead out together: the
    /// second resolves through the first, as the kernel would follow it.
    #[test]
    fn chains_of_links_are_followed() {
        let p = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
        let inside = [(p("lib/libx.so"), "libx.so.1".to_string()), (p("bin/x"), "../lib/libx.so".to_string())];
        assert!(links_stay_inside(&inside).is_ok());
        // a/b/l points at the root; w climbs from there.
        let chain = [(p("a/b/l"), "../..".to_string()), (p("w"), "a/b/l/../x".to_string())];
        assert!(chain.iter().all(|(parts, t)| link_stays_inside(parts, t)), "each alone stays inside");
        let e = links_stay_inside(&chain).unwrap_err().to_string();
        assert!(e.contains("\"w\"") && e.contains("through other links"), "{e}");
        // Through a link to an absolute path.
        let abs = [(p("d/l"), "/etc".to_string()), (p("x"), "d/l/shadow".to_string())];
        assert!(links_stay_inside(&abs).is_err());
        // A loop is refused, not followed for ever.
        let ring = [(p("a"), "b".to_string()), (p("b"), "a".to_string())];
        assert!(links_stay_inside(&ring).unwrap_err().to_string().contains("too many links"));
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
