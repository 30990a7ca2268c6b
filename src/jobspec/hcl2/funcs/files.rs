//! Paths and files: paths made lexically, and the file functions, which read
//! only below the job file's directory, following no link.

use super::super::limits::{MAX_FILE, MAX_WALK};
use super::error::{FuncError, Limit};
use super::{BASE, R, bounded, s};
use hcl::Value;
use std::path::PathBuf;

/// The job file's directory and the components of `rel` below it: a
/// path that leaves it (absolute, or with a `..`) is refused, as
/// Nomad's jobspec2 confines its file functions to their base.
fn confined(rel: &str, what: &'static str) -> Result<(PathBuf, Vec<String>), FuncError> {
    // Without a job file's directory (a source supd holds, a peer's
    // hand-off) there is nothing a file function may read.
    let Some(base) = BASE.with(|b| b.borrow().clone()).filter(|b| !b.as_os_str().is_empty()) else {
        return Err(FuncError::NoBase { what });
    };
    let parts: Vec<String> = rel.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
    if rel.starts_with('/') || parts.iter().any(|p| p == "..") {
        return Err(FuncError::Outside { rel: rel.to_string(), what });
    }
    Ok((base, parts))
}
/// A regular file below the job file's directory, walked there without
/// following a link; at most [`MAX_FILE`] bytes.
fn read_below(rel: &str, what: &'static str) -> Result<Vec<u8>, FuncError> {
    let (base, parts) = confined(rel, what)?;
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let Some((name, dirs)) = parts.split_last() else {
        return Err(FuncError::Invalid("the path is empty".into()));
    };
    let shown = base.join(rel).display().to_string();
    crate::beneath::Dir::open(&base)
        .and_then(|d| d.subdir(dirs, None))
        .and_then(|d| d.read(name, MAX_FILE as u64))
        .map_err(|e| match e.errno {
            nix::errno::Errno::EFBIG => FuncError::Limit(Limit::File { shown, what }),
            _ => FuncError::Io { shown, source: e },
        })
}
/// A file below the job file's directory, walked there without
/// following a link: a job file cannot read what its directory does
/// not hold (as Nomad's jobspec2 file() is confined to its base).
pub fn file(a: Vec<Value>) -> R {
    let rel = s(&a[0])?;
    let bytes = read_below(&rel, "file")?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        let base = BASE.with(|b| b.borrow().clone()).filter(|b| !b.as_os_str().is_empty());
        let shown = base.unwrap_or_else(|| PathBuf::from(".")).join(&rel);
        FuncError::Invalid(format!("{} is not UTF-8 text", shown.display()))
    })
}
/// A path made clean lexically, as Go's path.Clean does.
fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let body = out.join("/");
    if rooted {
        format!("/{body}")
    } else if body.is_empty() {
        ".".into()
    } else {
        body
    }
}
/// An absolute path: a relative one is taken from the job file's
/// directory (Nomad takes it from the working directory).
pub fn abspath(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    if p.starts_with('/') {
        return Ok(Value::String(clean(&p)));
    }
    let base = BASE.with(|b| b.borrow().clone()).unwrap_or_default();
    let base =
        if base.is_absolute() { base } else { std::env::current_dir().map_err(FuncError::WorkingDir)?.join(base) };
    Ok(Value::String(clean(&format!("{}/{p}", base.to_string_lossy()))))
}
/// The last element of a path, as Go's filepath.Base.
pub fn basename(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    if p.is_empty() {
        return Ok(Value::String(".".into()));
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return Ok(Value::String("/".into()));
    }
    Ok(Value::String(t.rsplit('/').next().unwrap_or(t).to_string()))
}
/// All but the last element of a path, as Go's filepath.Dir.
pub fn dirname(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    let cut = p.rfind('/').map_or(0, |i| i + 1);
    Ok(Value::String(clean(&p[..cut])))
}
/// `~` at the start of a path as the home directory.
pub fn pathexpand(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    if !p.starts_with('~') {
        return Ok(Value::String(p));
    }
    let rest = &p[1..];
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err(FuncError::Invalid(format!(
            "cannot expand {p:?}: only ~ alone stands for a home directory, not ~user"
        )));
    }
    let home = match std::env::var("HOME") {
        Ok(h) if !h.is_empty() => h,
        _ => nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.dir.to_string_lossy().into_owned())
            .ok_or(FuncError::NoHome)?,
    };
    Ok(Value::String(clean(&format!("{home}{rest}"))))
}
/// Whether a regular file is there, below the job file's directory (a
/// link on the way is refused, as by file()).
pub fn fileexists(a: Vec<Value>) -> R {
    let rel = s(&a[0])?;
    let (base, parts) = confined(&rel, "fileexists")?;
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let Some((name, dirs)) = parts.split_last() else {
        return Err(FuncError::Invalid("the path is empty".into()));
    };
    let shown = base.join(&rel).display().to_string();
    let dir = match crate::beneath::Dir::open(&base).and_then(|d| d.subdir(dirs, None)) {
        Ok(d) => d,
        Err(e) if e.errno == nix::errno::Errno::ENOENT => return Ok(Value::Bool(false)),
        Err(e) => return Err(FuncError::Io { shown, source: e }),
    };
    let why = match dir.kind(name).map_err(|e| FuncError::Io { shown: shown.clone(), source: e })? {
        None => return Ok(Value::Bool(false)),
        Some(libc::S_IFREG) => return Ok(Value::Bool(true)),
        Some(libc::S_IFLNK) => ": a symbolic link is in the way (supd never follows one here)",
        Some(libc::S_IFDIR) => " is a directory, not a regular file",
        Some(_) => " is not a regular file",
    };
    Err(FuncError::Invalid(format!("{shown}{why}")))
}
/// A file below the job file's directory (as file() reads it), any
/// bytes, in base64.
pub fn filebase64(a: Vec<Value>) -> R {
    use base64::Engine;
    let bytes = read_below(&s(&a[0])?, "filebase64")?;
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
}
/// fileset() looks at most this many directories deep (and at most at
/// [`MAX_WALK`] directory entries).
const MAX_DEPTH: usize = 64;
/// The regular files below `path` (itself below the job file's
/// directory) whose path from there matches `pattern`: `*` and `?`
/// within a name, `**` for any number of directories. Sorted; links are
/// neither followed nor listed (Nomad follows them).
pub fn fileset(a: Vec<Value>) -> R {
    let (rel, pattern) = (s(&a[0])?, s(&a[1])?);
    let (base, parts) = confined(&rel, "fileset")?;
    if pattern.contains(['[', '{', '\\']) {
        return Err(FuncError::Invalid(format!(
            "the pattern {pattern:?} uses [...], {{...}} or \\, which supd does not read — use *, ** and ?"
        )));
    }
    let pat: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if pat.contains(&"..") {
        return Err(FuncError::Invalid(format!(
            "the pattern {pattern:?} leaves the directory — fileset() reads only below the job file's directory"
        )));
    }
    let dirs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let shown = base.join(&rel).display().to_string();
    let dir = match crate::beneath::Dir::open(&base).and_then(|d| d.subdir(&dirs, None)) {
        Ok(d) => d,
        Err(e) if e.errno == nix::errno::Errno::ENOENT => return Ok(Value::Array(Vec::new())),
        Err(e) => return Err(FuncError::Io { shown, source: e }),
    };
    let mut walk = Walk { pat: &pat, seen: 0, found: Vec::new() };
    let start = closure(&pat, vec![0]);
    walk.dir(&dir, "", &start, 0).map_err(|e| FuncError::Below { shown, source: Box::new(e) })?;
    let mut found = walk.found;
    found.sort();
    Ok(Value::Array(found.into_iter().map(Value::String).collect()))
}
/// Pattern positions (states) with the `**` components that may match
/// nothing skipped.
fn closure(pat: &[&str], mut states: Vec<usize>) -> Vec<usize> {
    let mut i = 0;
    while i < states.len() {
        let st = states[i];
        if st < pat.len() && pat[st] == "**" && !states.contains(&(st + 1)) {
            states.push(st + 1);
        }
        i += 1;
    }
    states
}
/// The states after one more path component, `name`.
fn step(pat: &[&str], states: &[usize], name: &str) -> Vec<usize> {
    let mut next = Vec::new();
    for &st in states {
        if st >= pat.len() {
            continue;
        }
        let to = if pat[st] == "**" {
            st
        } else if glob(pat[st], name) {
            st + 1
        } else {
            continue;
        };
        if !next.contains(&to) {
            next.push(to);
        }
    }
    closure(pat, next)
}
/// Whether `name` matches `p`: `*` any run of characters, `?` one.
fn glob(p: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (p.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}
/// A walk of fileset(): entries seen so far and the files found.
struct Walk<'p> {
    pat: &'p [&'p str],
    seen: usize,
    found: Vec<String>,
}
impl Walk<'_> {
    fn dir(&mut self, dir: &crate::beneath::Dir, rel: &str, states: &[usize], depth: usize) -> Result<(), FuncError> {
        let entries = dir.entries(MAX_WALK - self.seen).map_err(|e| match e.errno {
            nix::errno::Errno::EFBIG => FuncError::Limit(Limit::Entries),
            errno => FuncError::Walk { path: if rel.is_empty() { "." } else { rel }.to_string(), errno },
        })?;
        self.seen += entries.len();
        for (name, kind) in entries {
            let next = step(self.pat, states, &name);
            if next.is_empty() {
                continue;
            }
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            match kind {
                libc::S_IFREG if next.contains(&self.pat.len()) => {
                    self.found.push(path);
                    bounded(self.found.len())?;
                }
                libc::S_IFDIR if depth < MAX_DEPTH && next.iter().any(|&st| st < self.pat.len()) => {
                    let sub = dir
                        .subdir(&[name.as_str()], None)
                        .map_err(|e| FuncError::Walk { path: path.clone(), errno: e.errno })?;
                    self.dir(&sub, &path, &next, depth + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
