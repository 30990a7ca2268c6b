//! What the functions of one render see and read ([`Scope`], the files of
//! the task directory and `alloc/`), and the bounds they keep
//! ([`MAX_FILE`], [`Capped`]). A leaf of `taskdir`: the render
//! (`render.rs`) and the template functions (`funcs.rs`, `funcs/`) both
//! speak of these.

use crate::jobspec::taskdir_blocks::{Place, Under, destination_place};
use crate::taskdir::beneath::{BeneathError, Dir};
use crate::taskdir::layout::TaskDir;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Templates and the files they read may be this large; a template's
/// rendered output too, unless supd.toml says otherwise (`template_bytes`
/// under `[limits]`: `RenderInput::max_output`).
pub const MAX_FILE: u64 = 16 << 20;

/// The key of supd.toml that sets a render's output limit
/// (`RenderInput::max_output`), as an error over it names it.
pub const OUTPUT_KEY: &str = "limits.template_bytes";

/// A service registered by supd on this host, as `nomadService` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddr {
    pub id: String,
    pub name: String,
    pub address: String,
    pub port: u16,
    pub tags: Vec<String>,
    pub job: String,
    pub alloc_id: String,
}

/// What the functions of one render see.
pub struct Scope {
    pub env: BTreeMap<String, String>,
    pub task: TaskDir,
    pub services: Vec<ServiceAddr>,
    pub datacenter: String,
    /// Wall time since the Unix epoch, for `timestamp`.
    pub now: Duration,
    /// The Nomad Variables the task may read (its job's, group's and its
    /// own path), by path.
    pub variables: BTreeMap<String, BTreeMap<String, String>>,
    /// The paths the task may read (`crate::variables::readable`): a
    /// `nomadVar` of one that holds nothing yet waits for it (`missing`).
    pub readable: Vec<String>,
    /// The readable paths a `nomadVar` of this render found empty: the
    /// render is not written, and the task waits for them, as Nomad's
    /// template runner waits for a missing dependency.
    pub missing: std::sync::Mutex<Vec<String>>,
    /// The most bytes a function's result may have: the render's output
    /// limit (`RenderInput::max_output`).
    pub max_output: u64,
}

impl Scope {
    /// The `file` function: a file below the task directory or `alloc/`.
    pub fn read_file(&self, path: &str) -> Result<String, FileError> {
        let outside = || FileError::Outside(path.to_string());
        let place = if path.starts_with('/') {
            absolute_place(&self.task, Path::new(path)).ok_or_else(outside)?
        } else {
            destination_place(path).map_err(|_| outside())?
        };
        let bytes = read_place(&self.task, &place)?;
        String::from_utf8(bytes).map_err(|_| FileError::NotUtf8(path.to_string()))
    }
}

/// Why a template's `file` cannot read a file (or its `source` be read).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path is neither below the task directory nor in `alloc/`.
    #[error("{0} is outside the task directory — templates read files only below it and the shared alloc/")]
    Outside(String),
    /// The file cannot be read with no link followed (missing, too large,
    /// not a regular file).
    #[error(transparent)]
    Read(#[from] BeneathError),
    #[error("{0} is not UTF-8 text")]
    NotUtf8(String),
}

/// The place of an absolute host path inside the task directory or `alloc/`.
pub(in crate::taskdir) fn absolute_place(task: &TaskDir, path: &Path) -> Option<Place> {
    let (under, rest) = if let Ok(r) = path.strip_prefix(&task.dir) {
        (Under::Task, r)
    } else {
        (Under::Alloc, path.strip_prefix(&task.shared).ok()?)
    };
    let rel = rest.to_str()?;
    let prefix = if under == Under::Alloc { "${NOMAD_ALLOC_DIR}/" } else { "" };
    destination_place(&format!("{prefix}{rel}")).ok().filter(|p| p.under == under)
}

/// The bytes of the file at `place`, no link followed, at most [`MAX_FILE`].
pub(in crate::taskdir) fn read_place(task: &TaskDir, place: &Place) -> Result<Vec<u8>, BeneathError> {
    let base = Dir::open(task.base(place))?;
    let Some((last, dirs)) = place.parts.split_last() else {
        return Err(BeneathError { path: ".".into(), errno: nix::errno::Errno::EISDIR, found: None });
    };
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    base.subdir(&dirs, None)?.read(last, MAX_FILE)
}

/// A size as a message says it: in MiB or KiB when it is a whole number
/// of them, else in bytes.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// A template's output, cut off past `limit` (`RenderInput::max_output`):
/// rendering stops at the first write beyond it, before the text grows
/// further. (`sockaddr` renders its own template into one too.)
pub(in crate::taskdir) struct Capped {
    pub(in crate::taskdir) text: String,
    pub(in crate::taskdir) limit: u64,
    pub(in crate::taskdir) over: bool,
}

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if (self.text.len() as u64).saturating_add(s.len() as u64) > self.limit {
            self.over = true;
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}
