//! go-getter's git getter: a repository cloned by the `git` program, as
//! go-getter shells out to it, then copied into the task's directory.
//!
//! git runs on the fetch thread, never on the loop, through
//! `process::bounded`: a fixed argument vector (no shell), `--` before the
//! URL, stdin from /dev/null, a session of its own (no terminal to prompt
//! on), `GIT_TERMINAL_PROMPT=0`, an environment of its own (supd's `PATH`,
//! `HOME` for the host's own git and ssh configuration, proxy variables;
//! no askpass, credential or ssh agent variables of supd's), only the
//! protocols of the source's kind allowed (`GIT_ALLOW_PROTOCOL`: no `ext::`,
//! no `file://` submodules), the artifact timeout over all its runs, and
//! the clone's size on disk watched. It clones into a private directory of
//! supd's (mode 0700, outside any task directory), which is removed after;
//! an `sshkey` is written there (0600) and given to ssh with `-i` in
//! `GIT_SSH_COMMAND`. As go-getter, it checks out `ref` (a branch, a tag or
//! a commit), clones `depth` commits, fetches submodules, and keeps `.git`
//! (a `//DIR` takes only that directory). The clone is copied as an archive
//! is unpacked (`unpack::copy_tree`): a link that leads out of the
//! destination refuses it whole, nothing is followed, limits hold.

use super::artifact::fetch::{ArtifactError, Fetch, Fetched, Limits};
use super::beneath::Dir;
use crate::jobspec::taskdir_blocks::{ArtifactMode, GIT_FILE_MODE, GitSource, SshKey};
use crate::process::bounded::{self, Bounds, Ended};
use crate::process::{Exit, SpawnSpec};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes kept of what git writes on stdout and on stderr.
const KEEP: usize = 64 << 10;

/// At most this much of git's stderr (its last lines) goes into a message.
const SHOWN: usize = 1024;

/// Where programs are looked for when supd has no `PATH`.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// supd's environment variables that git gets as they are: where programs
/// are, whose home (the host's own git and ssh configuration), and the
/// proxies the host's network needs.
const PASSED_ENV: &[&str] = &[
    "HOME",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "all_proxy",
];

/// Clones `src` and copies it into `f`'s destination; blocks (a fetch
/// thread).
pub(super) fn fetch(
    f: &Fetch,
    src: &GitSource,
    limits: &Limits,
    cancel: &AtomicBool,
) -> Result<Fetched, ArtifactError> {
    if f.mode == ArtifactMode::File {
        return Err(ArtifactError::Mode(GIT_FILE_MODE.to_string()));
    }
    let path_var = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
    let program = find_program("git", &path_var).ok_or_else(|| not_installed(&f.shown, &path_var))?;
    let scratch = Scratch::new()?;
    let key = match &src.ssh_key {
        Some(k) => Some(scratch.write_key(k)?),
        None => None,
    };
    let repo = scratch.path.join("repo");
    // A timeout too long to add is as good as none.
    let deadline = Instant::now()
        .checked_add(limits.timeout)
        .or_else(|| Instant::now().checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or_else(Instant::now);
    let git = Git {
        program: program.display().to_string(),
        env: environment(&path_var, key.as_deref()),
        deadline,
        cancel,
        limits,
        scratch: &scratch.path,
        shown: &f.shown,
    };
    let repo_arg = repo.display().to_string();
    let depth = src.depth.to_string();
    // go-getter clones the default branch, then checks `ref` out; with a
    // depth it clones `ref` alone (a branch or a tag: git cannot clone a
    // commit shallowly by its hash).
    let mut clone = vec!["clone", "--quiet"];
    if src.depth > 0 {
        clone.extend(["--depth", depth.as_str()]);
        if let Some(r) = &src.git_ref {
            clone.extend(["--branch", r.as_str()]);
        }
    }
    clone.extend(["--", src.url.as_str(), repo_arg.as_str()]);
    let file_ok = src.local_path().is_some();
    if let Err(e) = git.run(&clone, &scratch.path, file_ok) {
        let shallow_commit = src.depth > 0 && src.git_ref.as_deref().is_some_and(looks_like_commit);
        return Err(match e {
            ArtifactError::Git(m) if shallow_commit => {
                ArtifactError::Git(format!("{m} (with `depth`, `ref` must name a branch or a tag, not a commit)"))
            }
            other => other,
        });
    }
    if let (Some(r), 0) = (&src.git_ref, src.depth) {
        let commit = git.resolve(r, &repo)?;
        git.run(&["checkout", "--quiet", "--detach", commit.as_str()], &repo, false)?;
    }
    // As go-getter: submodules too, never over file:// (a repository
    // cannot make supd copy this host's other repositories).
    let mut submodules = vec!["submodule", "--quiet", "update", "--init", "--recursive"];
    if src.depth > 0 {
        submodules.extend(["--depth", depth.as_str()]);
    }
    git.run(&submodules, &repo, false)?;
    if let Some(k) = &key {
        // Not needed past here; the scratch directory goes too.
        let _ = std::fs::remove_file(k);
    }
    copy(f, src, &repo, limits, cancel)
}

/// Copies the clone (or its `//DIR`) into the destination.
fn copy(
    f: &Fetch,
    src: &GitSource,
    repo: &Path,
    limits: &Limits,
    cancel: &AtomicBool,
) -> Result<Fetched, ArtifactError> {
    let io = |e: super::beneath::BeneathError| ArtifactError::Io(format!("{}: {e}", f.shown));
    let subdir: Vec<&str> = src.subdir.iter().map(String::as_str).collect();
    let from = Dir::open(repo).and_then(|d| d.subdir(&subdir, None)).map_err(|e| {
        if src.subdir.is_empty() {
            io(e)
        } else {
            ArtifactError::Git(format!(
                "{}: the directory {:?} after `//` is not one of the repository's ({e})",
                f.shown,
                src.subdir.join("/")
            ))
        }
    })?;
    let parts: Vec<&str> = f.dest.parts.iter().map(String::as_str).collect();
    let dest = Dir::open(f.task.base(&f.dest)).and_then(|b| b.subdir(&parts, Some((0o755, f.owner)))).map_err(io)?;
    let (files, bytes) = super::unpack::copy_tree(&from, &dest, f.owner, limits, cancel).map_err(|e| match e {
        ArtifactError::Unsafe { entry, why } => ArtifactError::Repository { entry, why },
        other => other,
    })?;
    Ok(Fetched { source: f.shown.clone(), path: f.task.path_of(&f.dest), downloaded: bytes, files })
}

/// git's runs for one fetch: the program, its environment, the deadline
/// they share, and what stops them.
struct Git<'a> {
    program: String,
    env: Vec<(String, String)>,
    deadline: Instant,
    cancel: &'a AtomicBool,
    limits: &'a Limits,
    scratch: &'a Path,
    shown: &'a str,
}

/// How one run of git went, when it ran to its end.
enum Ran {
    /// Exit 0, with its stdout.
    Done(Vec<u8>),
    /// Another end, with its stderr.
    Failed(Exit, Vec<u8>),
}

impl Git<'_> {
    /// Runs git with `args` in `dir`; its stdout when it exits 0.
    fn run(&self, args: &[&str], dir: &Path, file_ok: bool) -> Result<Vec<u8>, ArtifactError> {
        match self.attempt(args, dir, file_ok)? {
            Ran::Done(stdout) => Ok(stdout),
            Ran::Failed(exit, stderr) => Err(ArtifactError::Git(format!(
                "git {} {}: {}{}",
                args.first().copied().unwrap_or(""),
                self.shown,
                ended_as(exit),
                last_lines(&stderr)
            ))),
        }
    }

    /// Runs git with `args` in `dir` to its end; an error when it could not
    /// run, did not finish in time, was stopped, or its clone grew too
    /// large. With `file_ok`, the file protocol is allowed (a repository
    /// of this host the source names, checked against `file_roots`).
    fn attempt(&self, args: &[&str], dir: &Path, file_ok: bool) -> Result<Ran, ArtifactError> {
        let mut env = self.env.clone();
        let protocols = if file_ok { "https:http:ssh:git:file" } else { "https:http:ssh:git" };
        env.push(("GIT_ALLOW_PROTOCOL".into(), protocols.into()));
        let spec = SpawnSpec {
            program: self.program.clone(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env,
            work_dir: Some(dir.to_path_buf()),
            user: None,
            isolation: None,
        };
        // The clone on disk, its .git and its checkout, while git writes it.
        let max_bytes = self.limits.max_download.saturating_add(self.limits.max_unpacked);
        let max_entries = self.limits.max_files.saturating_mul(4).saturating_add(4096);
        let scratch = self.scratch;
        let mut watch = || on_disk(scratch, max_bytes, max_entries);
        let bounds: Bounds<'_, CloneLimit> =
            Bounds { deadline: self.deadline, cancel: self.cancel, keep: KEEP, watch: &mut watch };
        let what = args.first().copied().unwrap_or("git");
        let ended = bounded::run(&spec, bounds)
            .map_err(|e| ArtifactError::Git(format!("cannot run git {what} for {}: {e}", self.shown)))?;
        match ended {
            Ended::Exited { exit: Exit::Code(0), stdout, .. } => Ok(Ran::Done(stdout)),
            Ended::Exited { exit, stderr, .. } => Ok(Ran::Failed(exit, stderr)),
            Ended::TimedOut { stderr } => Err(ArtifactError::Git(format!(
                "git {what} {}: not complete after {:?}{} — the server is too slow, or the artifact timeout ([artifact] timeout in supd.toml) too short",
                self.shown,
                self.limits.timeout,
                last_lines(&stderr)
            ))),
            Ended::Cancelled => Err(ArtifactError::Cancelled),
            Ended::Stopped { why } => Err(ArtifactError::TooLarge { what: format!("{}: {why}", self.shown) }),
        }
    }

    /// The commit `r` names in the clone, as go-getter looks for it: as
    /// given, as a branch of the remote, as a tag.
    fn resolve(&self, r: &str, repo: &Path) -> Result<String, ArtifactError> {
        for candidate in [r.to_string(), format!("refs/remotes/origin/{r}"), format!("refs/tags/{r}")] {
            let spec = format!("{candidate}^{{commit}}");
            let args = ["rev-parse", "--verify", "--quiet", "--end-of-options", spec.as_str()];
            // Not a commit by this name: the next name is tried.
            if let Ran::Done(out) = self.attempt(&args, repo, false)? {
                let commit = String::from_utf8_lossy(&out).trim().to_string();
                if !commit.is_empty() && commit.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Ok(commit);
                }
            }
        }
        Err(ArtifactError::Git(format!(
            "{}: ref {r:?} is no branch, tag or commit of the repository — name one that is",
            self.shown
        )))
    }
}

/// Why a git source cannot be fetched on a host without git.
fn not_installed(shown: &str, path_var: &str) -> ArtifactError {
    ArtifactError::Git(format!(
        "cannot clone {shown}: git is not installed on this host (no `git` in PATH {path_var}) — a git artifact is cloned by the git program, as Nomad's go-getter does; install it, e.g. `apt-get install git`"
    ))
}

/// `exit code 128`, `killed by SIGKILL`.
fn ended_as(exit: Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exit code {c}"),
        Exit::Signal { signal, .. } => format!("killed by {}", crate::signals::name(signal)),
        Exit::Unknown => "ended".to_string(),
    }
}

/// The last lines git wrote on stderr, for a message: `: line; line`.
fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut shown = lines[lines.len().saturating_sub(4)..].join("; ");
    if shown.len() > SHOWN {
        let mut cut = shown.len() - SHOWN;
        while !shown.is_char_boundary(cut) {
            cut += 1;
        }
        shown = format!("…{}", &shown[cut..]);
    }
    if shown.is_empty() { shown } else { format!(": {shown}") }
}

/// Whether a ref is written as a commit's hash (go-getter's heuristic:
/// 7 to 40 hex digits).
fn looks_like_commit(r: &str) -> bool {
    (7..=40).contains(&r.len()) && r.chars().all(|c| c.is_ascii_hexdigit())
}

/// Why a clone is stopped while git writes it: it went over a limit of
/// `[artifact]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum CloneLimit {
    /// Its bytes on disk, over this many.
    #[error("the clone takes more than {0} bytes on disk (max_download_mb + max_unpacked_mb under [artifact])")]
    Bytes(u64),
    /// Its files and directories, over this many.
    #[error("the clone holds more than {0} files (4 × max_files + 4096, under [artifact])")]
    Files(u64),
}

/// Whether the clone holds more than allowed; asked while git runs.
fn on_disk(scratch: &Path, max_bytes: u64, max_entries: u64) -> Result<(), CloneLimit> {
    let Ok(dir) = Dir::open(scratch) else { return Ok(()) };
    match dir.usage(max_entries) {
        Ok((bytes, _)) if bytes > max_bytes => Err(CloneLimit::Bytes(max_bytes)),
        Err(e) if e.errno == nix::errno::Errno::EFBIG => Err(CloneLimit::Files(max_entries)),
        _ => Ok(()),
    }
}

/// git's environment: nothing of supd's but [`PASSED_ENV`]; the key, if
/// any, given to ssh as go-getter gives it.
fn environment(path_var: &str, key: Option<&Path>) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), path_var.to_string()),
        ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
        ("LC_ALL".to_string(), "C".to_string()),
    ];
    for name in PASSED_ENV {
        if let Ok(v) = std::env::var(name) {
            env.push((name.to_string(), v));
        }
    }
    if let Some(k) = key {
        env.push(("GIT_SSH_COMMAND".to_string(), format!("ssh -i {}", shell_quote(&k.display().to_string()))));
    }
    env
}

/// `s` as one word for a POSIX shell (git runs `GIT_SSH_COMMAND` with one).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first executable file `name` in the directories of `path_var`
/// (absolute ones only).
fn find_program(name: &str, path_var: &str) -> Option<PathBuf> {
    path_var
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

static SCRATCH_SEQ: AtomicU64 = AtomicU64::new(0);

/// A directory of supd's own for one clone (mode 0700, in the system's
/// temporary directory: never inside a task's), removed with all it holds
/// when dropped (`remove_dir_all` follows no link).
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> Result<Scratch, ArtifactError> {
        let base = std::env::temp_dir();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let mut last = None;
        for _ in 0..16 {
            let seq = SCRATCH_SEQ.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("supd-git-{}-{seq}-{nanos:08x}", std::process::id()));
            // A name someone else made first (EEXIST) is passed over: the
            // directory is ours only when this mkdir made it.
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Scratch { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(ArtifactError::Io(format!(
                        "cannot make a directory for a git clone in {}: {e} (set TMPDIR for supd to another directory)",
                        base.display()
                    )));
                }
            }
        }
        Err(ArtifactError::Io(format!(
            "cannot make a directory for a git clone in {}: {}",
            base.display(),
            last.map_or_else(String::new, |e| e.to_string())
        )))
    }

    /// Writes the ssh key, readable by supd's user alone; its path.
    fn write_key(&self, key: &SshKey) -> Result<PathBuf, ArtifactError> {
        let path = self.path.join("sshkey");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(&key.0)?;
                // ssh refuses a key without its final newline on some
                // versions: one is added when missing.
                if !key.0.ends_with(b"\n") {
                    f.write_all(b"\n")?;
                }
                Ok(())
            });
        written.map_err(|e| ArtifactError::Io(format!("cannot write the ssh key of a git artifact: {e}")))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            log::warn!("cannot remove the git clone {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests;
