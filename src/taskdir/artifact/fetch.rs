//! What a fetch of an artifact is given and gives back: its limits, the
//! fetch resolved for one start, what it did and how it failed. A leaf:
//! the fetch itself (`artifact.rs`), its git clone (`git.rs`) and its
//! unpacking (`unpack.rs`) all speak of these.

use crate::jobspec::taskdir_blocks::{ArtifactMode, Checksum, ChecksumAlgo, Place, SourceKind};
use crate::taskdir::beneath::Owner;
use crate::taskdir::layout::TaskDir;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How much a fetch may take. Nomad's client defaults are 100 GB and 30
/// minutes; supd's sizes are smaller, as one host's disk is what they guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes one download may have.
    pub max_download: u64,
    /// Bytes one archive may unpack to.
    pub max_unpacked: u64,
    /// Entries one archive may hold (Nomad's decompression_file_count_limit).
    pub max_files: u64,
    /// The whole of one download, from connecting to the last byte; for
    /// a git repository, every run of git (clone, checkout, submodules).
    pub timeout: Duration,
    /// The directories whose files `file://` artifacts may copy (none: no
    /// file of this host is a task's to fetch).
    pub file_roots: Vec<std::path::PathBuf>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_download: 1 << 30,
            max_unpacked: 4 << 30,
            max_files: 4096,
            timeout: Duration::from_secs(30 * 60),
            file_roots: Vec::new(),
        }
    }
}

/// Why an artifact was not fetched: the reason of the task's
/// `Failed Artifact Download` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactError {
    /// The source or destination, once `${...}` are resolved, is not one
    /// supd can use.
    Source(String),
    /// The server answered with an error status.
    Http {
        url: String,
        status: u16,
        reason: String,
    },
    /// No answer: refused, reset, not resolved.
    Transport {
        url: String,
        error: String,
    },
    Timeout {
        url: String,
        after: Duration,
    },
    TooLarge {
        what: String,
    },
    Checksum {
        source: String,
        algo: ChecksumAlgo,
        expected: String,
        actual: String,
    },
    /// An archive entry that would land outside the destination, or that
    /// supd does not unpack.
    Unsafe {
        entry: String,
        why: String,
    },
    Archive(String),
    /// An entry of a git repository that would lead out of the
    /// destination, or that supd does not copy.
    Repository {
        entry: String,
        why: String,
    },
    /// git is missing, failed, or did not finish in time.
    Git(String),
    /// `mode` does not fit what was fetched.
    Mode(String),
    Io(String),
    Cancelled,
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactError::Source(m) | ArtifactError::Mode(m) | ArtifactError::Io(m) | ArtifactError::Git(m) => {
                f.write_str(m)
            }
            ArtifactError::Http { url, status, reason } => write!(f, "GET {url}: {status} {reason}"),
            ArtifactError::Transport { url, error } => write!(f, "GET {url}: {error}"),
            ArtifactError::Timeout { url, after } => {
                write!(
                    f,
                    "GET {url}: not complete after {:?} — the server is too slow, or the artifact timeout too short",
                    after
                )
            }
            ArtifactError::TooLarge { what } => {
                write!(f, "{what} — refused (raise the artifact size limit if it is meant)")
            }
            ArtifactError::Checksum { source, algo, expected, actual } => write!(
                f,
                "checksum mismatch for {source}: expected {}:{expected}, got {}:{actual}",
                algo.as_str(),
                algo.as_str()
            ),
            ArtifactError::Unsafe { entry, why } => {
                write!(f, "archive entry {entry:?} {why} — refused, nothing unpacked")
            }
            ArtifactError::Archive(m) => write!(f, "cannot unpack: {m}"),
            ArtifactError::Repository { entry, why } => {
                write!(f, "repository entry {entry:?} {why} — refused, nothing copied")
            }
            ArtifactError::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for ArtifactError {}

/// One artifact resolved for one start of a task: what to fetch, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub source: SourceKind,
    /// The source for messages (the URL without its query).
    pub shown: String,
    pub checksum: Option<Checksum>,
    /// The archive format to unpack, if any.
    pub unpack: Option<&'static str>,
    pub mode: ArtifactMode,
    pub headers: Vec<(String, String)>,
    pub task: TaskDir,
    /// The destination directory (modes any and dir) or file (mode file).
    pub dest: Place,
    /// The file name of a download that is not unpacked, in mode any.
    pub name: String,
    /// Owner of what is written; `None` for supd's own, as Nomad without
    /// `chown`.
    pub owner: Owner,
}

/// What one fetch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub source: String,
    /// The file or directory written.
    pub path: PathBuf,
    pub downloaded: u64,
    /// Files and links written (1 when not unpacked).
    pub files: u64,
}
