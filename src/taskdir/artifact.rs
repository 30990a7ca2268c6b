//! Fetching `artifact` blocks into the task directory: `http(s)://` with
//! ureq and `file://` (or an absolute path) from this host, checked against
//! go-getter's checksums (md5, sha1, sha256, sha512), then unpacked or put in
//! place; a git repository is cloned by the `git` program (`git.rs`).
//! A download lands in a hidden file inside its destination and is
//! removed after; nothing is written outside the task directory.
//!
//! [`prepare`] is quick and runs on the loop (it resolves `${...}` and the
//! destination); [`fetch`] blocks and runs on a helper thread, which
//! [`Fetcher`] starts and whose result comes back through a channel and a
//! `mio::Waker`. The helper decides nothing: it reports what happened.

use super::beneath::{Dir, Owner};
use super::layout::TaskDir;
use super::render::resolve;
use crate::jobspec::taskdir_blocks::{
    ArchiveChoice, Artifact, ArtifactMode, ChecksumAlgo, SourceKind, archive_format, git_problem, parse_source_with,
};
use std::fs::File;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

pub mod fetch;
pub use fetch::{ArtifactError, Fetch, Fetched, Limits};

/// Whether a `file://` artifact's path (or a git repository's of this
/// host) lies below one of `roots` (read as written: absolute, no `..`);
/// an error that names the key otherwise.
pub fn check_file_root(f: &Fetch, roots: &[std::path::PathBuf]) -> Result<(), ArtifactError> {
    // A git repository of this host (file://) is a file of this host too.
    let path = match &f.source {
        SourceKind::File(path) => path.as_str(),
        SourceKind::Git(g) => match g.local_path() {
            Some(path) => path,
            None => return Ok(()),
        },
        SourceKind::Http(_) => return Ok(()),
    };
    let p = std::path::Path::new(path);
    let clean = p.is_absolute() && !p.components().any(|c| matches!(c, std::path::Component::ParentDir));
    if clean && roots.iter().any(|r| p.starts_with(r)) {
        return Ok(());
    }
    let allowed = if roots.is_empty() {
        "no file of this host may be fetched".to_string()
    } else {
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        format!("files of this host may be fetched only below {}", list.join(", "))
    };
    Err(ArtifactError::Source(format!(
        "{path}: {allowed} — list its directory in `file_roots` under [artifact] in supd.toml, or serve it over HTTP"
    )))
}

/// Resolves an artifact block for a task: `${...}` in its source, its git
/// options, headers and destination, go-getter's query parameters, the
/// archive format.
pub fn prepare(
    a: &Artifact,
    task: &TaskDir,
    vars: &dyn Fn(&str) -> Option<String>,
    owner: Owner,
) -> Result<Fetch, ArtifactError> {
    let interp = |s: &str| crate::jobspec::template::interpolate(s, vars);
    let source = interp(&a.source);
    let options = a.git_options.iter().map(|(k, v)| (k.clone(), interp(v))).collect();
    let spec = parse_source_with(&source, &options).map_err(|e| ArtifactError::Source(e.to_string()))?;
    if let SourceKind::Git(g) = &spec.kind {
        if let Some(problem) = git_problem(a.checksum.is_some(), a.mode) {
            return Err(if a.mode == ArtifactMode::File {
                ArtifactError::Mode(problem)
            } else {
                ArtifactError::Source(problem)
            });
        }
        let dest = resolve(task, &a.destination, vars).map_err(|e| ArtifactError::Source(e.to_string()))?;
        return Ok(Fetch {
            shown: g.shown(),
            source: spec.kind,
            checksum: None,
            unpack: None,
            mode: a.mode,
            headers: Vec::new(),
            task: task.clone(),
            dest,
            name: String::new(),
            owner,
        });
    }
    let checksum = match (spec.checksum, &a.checksum) {
        (Some(_), Some(_)) => {
            return Err(ArtifactError::Source(
                "the checksum is given twice, in ?checksum= and in options — keep one".into(),
            ));
        }
        (c, o) => c.or_else(|| o.clone()),
    };
    let path = match &spec.kind {
        SourceKind::Http(u) => u.split(['?', '#']).next().unwrap_or("").split("://").nth(1).unwrap_or(""),
        SourceKind::File(p) => p.as_str(),
        SourceKind::Git(g) => g.url.as_str(),
    };
    let name =
        path.rsplit('/').next().filter(|n| !n.is_empty() && path.contains('/')).unwrap_or("index.html").to_string();
    let unpack = match spec.archive {
        Some(ArchiveChoice::Keep) => None,
        Some(ArchiveChoice::Format(f)) => {
            crate::jobspec::taskdir_blocks::ARCHIVE_FORMATS.iter().find(|x| **x == f).copied()
        }
        None if a.unpack => archive_format(&name).map_err(|e| ArtifactError::Source(e.to_string()))?,
        None => None,
    };
    let dest = resolve(task, &a.destination, vars).map_err(|e| ArtifactError::Source(e.to_string()))?;
    if a.mode == ArtifactMode::File && dest.parts.is_empty() {
        return Err(ArtifactError::Mode(format!("mode \"file\" needs a file as destination, not {:?}", a.destination)));
    }
    let headers = a.headers.iter().map(|(k, v)| (k.clone(), interp(v))).collect();
    let shown = match &spec.kind {
        SourceKind::Http(u) => u.split('?').next().unwrap_or(u).to_string(),
        SourceKind::File(p) => p.clone(),
        SourceKind::Git(g) => g.shown(),
    };
    Ok(Fetch {
        source: spec.kind,
        shown,
        checksum,
        unpack,
        mode: a.mode,
        headers,
        task: task.clone(),
        dest,
        name,
        owner,
    })
}

/// A hash being computed as bytes pass.
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algo: ChecksumAlgo) -> Hasher {
        use sha2::Digest;
        match algo {
            ChecksumAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            ChecksumAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            ChecksumAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            ChecksumAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, b: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Md5(h) => h.update(b),
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    fn finish(self) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// A download in progress: where it goes, what it hashes to.
struct Temp<'a> {
    dir: &'a Dir,
    name: String,
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        let _ = self.dir.remove_file(&self.name);
    }
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Fetches one artifact; blocks, so it runs on a helper thread.
pub fn fetch(f: &Fetch, limits: &Limits, cancel: &AtomicBool) -> Result<Fetched, ArtifactError> {
    if let SourceKind::Git(g) = &f.source {
        return super::git::fetch(f, g, limits, cancel);
    }
    let io = |e: super::beneath::BeneathError| ArtifactError::Io(format!("{}: {e}", f.shown));
    let base = Dir::open(f.task.base(&f.dest)).map_err(io)?;
    let parts: Vec<&str> = f.dest.parts.iter().map(String::as_str).collect();
    // Where the download lands: the destination directory, or the file's.
    let (dir_parts, file_name) = match f.mode {
        ArtifactMode::File => (&parts[..parts.len().saturating_sub(1)], parts.last().copied()),
        _ => (&parts[..], None),
    };
    let dir = base.subdir(dir_parts, Some((0o755, f.owner))).map_err(io)?;
    if f.mode == ArtifactMode::File && f.unpack.is_some() {
        return Err(ArtifactError::Mode(format!(
            "{} is an archive, and mode \"file\" cannot unpack one into a file — use mode \"any\" or \"dir\", or add ?archive=false",
            f.shown
        )));
    }
    if f.mode == ArtifactMode::Dir && f.unpack.is_none() {
        return Err(ArtifactError::Mode(format!(
            "mode \"dir\" needs an archive, and {} is none supd unpacks — use mode \"any\" or \"file\"",
            f.shown
        )));
    }
    let temp = Temp {
        dir: &dir,
        name: format!(".supd-download-{}-{}", std::process::id(), TEMP_SEQ.fetch_add(1, Ordering::Relaxed)),
    };
    let mut file = dir.create(&temp.name, 0o600).map_err(io)?;
    let mut hasher = f.checksum.as_ref().map(|c| Hasher::new(c.algo));
    let downloaded = match &f.source {
        SourceKind::Http(url) => download(url, &f.headers, limits, cancel, &mut file, &mut hasher)?,
        SourceKind::Git(_) => return Err(ArtifactError::Source(format!("{} is a git repository", f.shown))),
        SourceKind::File(path) => {
            let mut src = File::open(path).map_err(|e| ArtifactError::Io(format!("{path}: {e}")))?;
            if src.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(ArtifactError::Source(format!(
                    "{path} is a directory — supd fetches files; pack the directory as .tar.gz"
                )));
            }
            copy(&mut src, &mut file, limits, cancel, &mut hasher, path)?
        }
    };
    file.sync_all().map_err(|e| ArtifactError::Io(format!("{}: {e}", f.shown)))?;
    if let (Some(want), Some(h)) = (&f.checksum, hasher) {
        let got = h.finish();
        if got != want.digest {
            return Err(ArtifactError::Checksum {
                source: f.shown.clone(),
                algo: want.algo,
                expected: want.hex(),
                actual: super::funcs::hex(&got),
            });
        }
    }
    let dest_path = f.task.path_of(&f.dest);
    match f.unpack {
        Some(format) => {
            let files = super::unpack::unpack(format, &mut file, &dir, f.owner, limits, cancel)?;
            Ok(Fetched { source: f.shown.clone(), path: dest_path, downloaded, files })
        }
        None => {
            let chmod = nix::sys::stat::fchmod(&file, nix::sys::stat::Mode::from_bits_truncate(0o644));
            let chown = f.owner.map_or(Ok(()), |(u, g)| {
                nix::unistd::fchown(&file, Some(nix::unistd::Uid::from_raw(u)), Some(nix::unistd::Gid::from_raw(g)))
            });
            chmod.and(chown).map_err(|e| ArtifactError::Io(format!("{}: {}", f.shown, e.desc())))?;
            drop(file);
            let name = file_name.unwrap_or(&f.name);
            dir.rename_to(&temp.name, &dir, name).map_err(io)?;
            let path = match f.mode {
                ArtifactMode::File => dest_path,
                _ => dest_path.join(name),
            };
            Ok(Fetched { source: f.shown.clone(), path, downloaded, files: 1 })
        }
    }
}

fn download(
    url: &str,
    headers: &[(String, String)],
    limits: &Limits,
    cancel: &AtomicBool,
    out: &mut File,
    hasher: &mut Option<Hasher>,
) -> Result<u64, ArtifactError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(limits.timeout))
        .http_status_as_error(false)
        .user_agent(concat!("supd/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let started = Instant::now();
    let failed = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => ArtifactError::Timeout { url: url.to_string(), after: started.elapsed() },
        other => ArtifactError::Transport { url: url.to_string(), error: other.to_string() },
    };
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.call().map_err(failed)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(ArtifactError::Http {
            url: url.to_string(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
        });
    }
    let announced = resp.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = announced
        && n > limits.max_download
    {
        return Err(ArtifactError::TooLarge {
            what: format!("{url} is {n} bytes, over the limit of {}", limits.max_download),
        });
    }
    let mut body = resp.into_body().into_reader();
    copy(&mut body, out, limits, cancel, hasher, url).map_err(|e| match e {
        ArtifactError::Io(m) if m.contains("timeout") || m.contains("timed out") => {
            ArtifactError::Timeout { url: url.to_string(), after: started.elapsed() }
        }
        other => other,
    })
}

/// Copies with the download limit, hashing, and a look at `cancel` every chunk.
fn copy(
    from: &mut dyn Read,
    to: &mut File,
    limits: &Limits,
    cancel: &AtomicBool,
    hasher: &mut Option<Hasher>,
    what: &str,
) -> Result<u64, ArtifactError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(ArtifactError::Cancelled);
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let e = ureq::Error::from(e);
                return Err(match e {
                    ureq::Error::Timeout(_) => ArtifactError::Io(format!("{what}: timeout")),
                    other => ArtifactError::Io(format!("{what}: {other}")),
                });
            }
        };
        total += n as u64;
        if total > limits.max_download {
            return Err(ArtifactError::TooLarge {
                what: format!("{what} is over the limit of {} bytes", limits.max_download),
            });
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        to.write_all(&buf[..n]).map_err(|e| ArtifactError::Io(format!("{what}: {e}")))?;
    }
}

/// The result of one task's artifacts, in block order; the first failure
/// ends the fetch.
pub type Outcome = Result<Vec<Fetched>, ArtifactError>;

/// Starts fetches on helper threads and hands their results to the loop:
/// each finished fetch is queued and the loop's `mio::Waker` woken; the
/// loop then takes results with [`Fetcher::try_recv`]. `K` says whose
/// fetch it was (an instance and task, say).
pub struct Fetcher<K> {
    tx: Sender<(K, Outcome)>,
    rx: Receiver<(K, Outcome)>,
    waker: Arc<mio::Waker>,
}

/// Stops a fetch at its next chunk.
#[derive(Debug, Clone)]
pub struct FetchHandle {
    cancel: Arc<AtomicBool>,
}

impl FetchHandle {
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl<K: Send + 'static> Fetcher<K> {
    pub fn new(waker: Arc<mio::Waker>) -> Fetcher<K> {
        let (tx, rx) = channel();
        Fetcher { tx, rx, waker }
    }

    /// Fetches `fetches` in order on a new thread; the result comes back
    /// under `key`.
    pub fn start(&self, key: K, fetches: Vec<Fetch>, limits: Limits) -> std::io::Result<FetchHandle> {
        let cancel = Arc::new(AtomicBool::new(false));
        let handle = FetchHandle { cancel: cancel.clone() };
        let (tx, waker) = (self.tx.clone(), self.waker.clone());
        std::thread::Builder::new().name("supd-artifact".into()).spawn(move || {
            let outcome = fetches.iter().map(|f| fetch(f, &limits, &cancel)).collect::<Outcome>();
            // The loop may be gone at shutdown; nothing is left to tell.
            if tx.send((key, outcome)).is_ok() {
                let _ = waker.wake();
            }
        })?;
        Ok(handle)
    }

    /// A finished fetch, if any.
    pub fn try_recv(&self) -> Option<(K, Outcome)> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests;
