//! Nomad Variables on one host: paths holding `KEY = VALUE` items, which an
//! operator writes with `supctl var put` and a task's templates read with
//! `nomadVar`. Where an operator keeps a task's secrets instead of a job
//! file.
//!
//! At rest they are sealed: one file, `variables.enc` in the state
//! directory (0600), holding the JSON of every variable encrypted with
//! XChaCha20-Poly1305 under a key made at the first write,
//! `variables.key` (32 random bytes, 0600). A copy of the state directory
//! without the key reads as noise; a changed byte is refused, not read.
//!
//! Nomad's rules: a path is 1–128 characters of `[A-Za-z0-9-_~/]`; under
//! `nomad/` only `nomad/jobs…` and `nomad/job-templates/NAME` are allowed; a
//! variable holds at least one item and at most 64 KiB of them. A task reads
//! the variables of its own job, group and task — `nomad/jobs/JOB`,
//! `nomad/jobs/JOB/GROUP`, `nomad/jobs/JOB/GROUP/TASK` — and no other, as
//! Nomad's workload identity grants.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The most a variable's items may hold, keys and values (Nomad's).
pub const MAX_SIZE: usize = 64 * 1024;
/// The most variables one host keeps.
pub const MAX_COUNT: usize = 10_000;

const KEY_FILE: &str = "variables.key";
const DATA_FILE: &str = "variables.enc";
const MAGIC: &[u8] = b"supd-variables-1\n";

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    pub items: BTreeMap<String, String>,
    /// Unix seconds.
    pub create_time: u64,
    pub modify_time: u64,
    /// Bumped at each write (Nomad's `ModifyIndex`): `var put --cas`.
    pub modify_index: u64,
}

/// Why a variable cannot be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum VarError {
    #[error("{0}")]
    Invalid(String),
    /// A path Nomad does not take for a variable.
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} cannot be read with {} (it was changed, or the key is another's): the variables are not loaded",
        data.display(),
        key.display()
    )]
    Sealed { data: PathBuf, key: PathBuf },
}

/// Why Nomad does not take a path for a variable (its words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty, or longer than 128 bytes (its length).
    #[error("a variable's path is 1 to 128 characters, not {0}")]
    Length(usize),
    /// A character (`c`) other than letters, digits, `-`, `_`, `~` and `/`.
    #[error("invalid path {path:?}: {c:?} is not allowed — use letters, digits, `-`, `_`, `~` and `/` (as Nomad)")]
    Character { path: String, c: char },
    /// `nomad` itself.
    #[error(
        "\"nomad\" is a reserved top-level directory path, but you may write variables to \"nomad/jobs\", \"nomad/job-templates\", or below"
    )]
    ReservedTop,
    /// `nomad/job-templates`, or deeper than one level below it.
    #[error(
        "\"nomad/job-templates\" is a reserved directory path, but you may write variables at the level below it, for example, \"nomad/job-templates/template-name\""
    )]
    ReservedTemplates,
    /// Under `nomad/`, outside `nomad/jobs` and `nomad/job-templates`.
    #[error(
        "only paths at \"nomad/jobs\" or \"nomad/job-templates\" and below are valid paths under the top-level \"nomad\" directory"
    )]
    OutsideNomadDirs,
}

/// Whether `path` is a path Nomad takes for a variable; the reason if not.
pub fn check_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() || path.len() > 128 {
        return Err(PathError::Length(path.len()));
    }
    if let Some(c) = path.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~' | '/'))) {
        return Err(PathError::Character { path: path.to_string(), c });
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts[0] != "nomad" {
        return Ok(());
    }
    match parts.as_slice() {
        [_] => Err(PathError::ReservedTop),
        [_, "jobs", ..] => Ok(()),
        [_, "job-templates", _] => Ok(()),
        [_, "job-templates", ..] => Err(PathError::ReservedTemplates),
        _ => Err(PathError::OutsideNomadDirs),
    }
}

/// The paths a task of `job`/`group`/`task` may read (Nomad's implicit
/// access of a workload to its own variables).
pub fn readable(job: &str, group: &str, task: &str) -> [String; 3] {
    [format!("nomad/jobs/{job}"), format!("nomad/jobs/{job}/{group}"), format!("nomad/jobs/{job}/{group}/{task}")]
}

/// Every variable of this host, and where they are kept.
#[derive(Debug, Default)]
pub struct Store {
    dir: PathBuf,
    pub vars: BTreeMap<String, Variable>,
}

impl Store {
    /// The variables kept in `dir` (none when nothing was ever written).
    pub fn load(dir: &Path) -> Result<Store, VarError> {
        let data = dir.join(DATA_FILE);
        let bytes = match std::fs::read(&data) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Store { dir: dir.to_path_buf(), vars: BTreeMap::new() });
            }
            Err(source) => return Err(VarError::Io { path: data, source }),
        };
        let key = read_key(dir)?.ok_or_else(|| VarError::Sealed { data: data.clone(), key: dir.join(KEY_FILE) })?;
        let sealed = || VarError::Sealed { data: data.clone(), key: dir.join(KEY_FILE) };
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(sealed)?;
        if rest.len() < 24 {
            return Err(sealed());
        }
        let (nonce, ciphertext) = rest.split_at(24);
        let cipher = XChaCha20Poly1305::new((&key).into());
        let plain = cipher.decrypt(XNonce::from_slice(nonce), ciphertext).map_err(|_| sealed())?;
        let vars = serde_json::from_slice(&plain).map_err(|_| sealed())?;
        Ok(Store { dir: dir.to_path_buf(), vars })
    }

    /// Writes every variable, sealed (the key is made at the first write).
    pub fn save(&self) -> Result<(), VarError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| VarError::Io { path, source }
        };
        let key = match read_key(&self.dir)? {
            Some(k) => k,
            None => make_key(&self.dir)?,
        };
        let plain = serde_json::to_vec(&self.vars).map_err(|e| VarError::Invalid(e.to_string()))?;
        let nonce = random::<24>().map_err(io(&self.dir))?;
        let cipher = XChaCha20Poly1305::new((&key).into());
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .map_err(|_| VarError::Invalid("the variables cannot be encrypted".into()))?;
        let data = self.dir.join(DATA_FILE);
        let tmp = self.dir.join(format!("{DATA_FILE}.tmp"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(MAGIC)
            .and_then(|()| f.write_all(&nonce))
            .and_then(|()| f.write_all(&sealed))
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &data).map_err(io(&data))
    }

    /// Writes `items` at `path` (all of them: a put replaces the variable),
    /// at `now` (Unix seconds). With `cas`, only if the variable's
    /// `modify_index` is that (0: only if it does not exist).
    pub fn put(
        &mut self,
        path: &str,
        items: BTreeMap<String, String>,
        now: u64,
        cas: Option<u64>,
    ) -> Result<&Variable, VarError> {
        check_path(path)?;
        if items.is_empty() {
            return Err(VarError::Invalid("a variable holds at least one item — give KEY=VALUE".into()));
        }
        if let Some(k) = items.keys().find(|k| k.is_empty() || k.chars().any(|c| c.is_control())) {
            return Err(VarError::Invalid(format!("an item's key {k:?} is empty or holds a control character")));
        }
        let size: usize = items.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_SIZE {
            return Err(VarError::Invalid(format!(
                "variables are limited to 64KiB in total size, and this one is {size} bytes"
            )));
        }
        let current = self.vars.get(path).map_or(0, |v| v.modify_index);
        if let Some(want) = cas
            && want != current
        {
            return Err(VarError::Invalid(format!(
                "check-and-set failed: {path} is at index {current}, not {want} — read it again"
            )));
        }
        if !self.vars.contains_key(path) && self.vars.len() >= MAX_COUNT {
            return Err(VarError::Invalid(format!("this host keeps at most {MAX_COUNT} variables")));
        }
        let create_time = self.vars.get(path).map_or(now, |v| v.create_time);
        let v = Variable { items, create_time, modify_time: now, modify_index: current + 1 };
        self.vars.insert(path.to_string(), v);
        self.vars.get(path).ok_or_else(|| VarError::Invalid("internal: lost the variable".into()))
    }

    /// Removes the variable at `path`; whether there was one.
    pub fn purge(&mut self, path: &str) -> bool {
        self.vars.remove(path).is_some()
    }

    /// The variables whose path starts with `prefix`.
    pub fn list<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a Variable)> + 'a {
        self.vars.range(prefix.to_string()..).take_while(move |(p, _)| p.starts_with(prefix))
    }
}

fn read_key(dir: &Path) -> Result<Option<[u8; 32]>, VarError> {
    let path = dir.join(KEY_FILE);
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(VarError::Io { path, source }),
    };
    let mut key = [0u8; 32];
    f.read_exact(&mut key).map_err(|source| VarError::Io { path, source })?;
    Ok(Some(key))
}

/// Makes the key: 32 random bytes, 0600, never replacing one.
fn make_key(dir: &Path) -> Result<[u8; 32], VarError> {
    let path = dir.join(KEY_FILE);
    let io = |source| VarError::Io { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let key = random::<32>().map_err(io)?;
    // Whole or not at all: written aside, then linked into place (never
    // over a key already there).
    let tmp = dir.join(format!("{KEY_FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io)?;
    f.write_all(&key).and_then(|()| f.sync_all()).map_err(io)?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(key)
}

fn random<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn paths_follow_nomads_rules() {
        for ok in
            ["nomad/jobs", "nomad/jobs/web", "nomad/jobs/web/g/t", "nomad/job-templates/x", "shared/db", "a~b_c-d"]
        {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "1 to 128"),
            ("a b", "not allowed"),
            ("web@a/x", "not allowed"),
            ("nomad", "reserved top-level"),
            ("nomad/other", "only paths at"),
            ("nomad/job-templates", "reserved directory"),
            ("nomad/job-templates/a/b", "reserved directory"),
        ] {
            let e = check_path(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(check_path(&"a".repeat(129)).is_err());
        assert_eq!(readable("web", "g", "t")[2], "nomad/jobs/web/g/t");
    }

    #[test]
    fn variables_are_sealed_at_rest_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::load(dir.path()).unwrap();
        assert!(s.vars.is_empty());
        s.put("nomad/jobs/web", items(&[("password", "hunter2-plain")]), 100, None).unwrap();
        s.put("shared/db", items(&[("url", "postgres://x")]), 101, Some(0)).unwrap();
        s.save().unwrap();
        let data = std::fs::read(dir.path().join(DATA_FILE)).unwrap();
        assert!(!data.windows(13).any(|w| w == b"hunter2-plain"), "no value in clear");
        for f in [DATA_FILE, KEY_FILE] {
            let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let back = Store::load(dir.path()).unwrap();
        assert_eq!(back.vars, s.vars);
        assert_eq!(back.vars["nomad/jobs/web"].modify_index, 1);
        let listed: Vec<&String> = back.list("nomad/").map(|(p, _)| p).collect();
        assert_eq!(listed, ["nomad/jobs/web"]);
        // A changed byte is refused, not read.
        let mut bad = data.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        std::fs::write(dir.path().join(DATA_FILE), &bad).unwrap();
        assert!(matches!(Store::load(dir.path()), Err(VarError::Sealed { .. })));
        // Without its key, nothing is read either.
        std::fs::write(dir.path().join(DATA_FILE), &data).unwrap();
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        assert!(matches!(Store::load(dir.path()), Err(VarError::Sealed { .. })));
    }

    #[test]
    fn puts_are_checked_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::load(dir.path()).unwrap();
        assert!(s.put("x", BTreeMap::new(), 1, None).unwrap_err().to_string().contains("at least one item"));
        let big = "v".repeat(MAX_SIZE);
        assert!(s.put("x", items(&[("k", &big)]), 1, None).unwrap_err().to_string().contains("64KiB"));
        s.put("x", items(&[("a", "1")]), 1, None).unwrap();
        let v = s.put("x", items(&[("a", "2")]), 5, Some(1)).unwrap().clone();
        assert_eq!((v.create_time, v.modify_time, v.modify_index), (1, 5, 2));
        assert!(s.put("x", items(&[("a", "3")]), 6, Some(1)).unwrap_err().to_string().contains("check-and-set"));
        assert!(s.purge("x") && !s.purge("x"));
    }
}
