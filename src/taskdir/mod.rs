//! The task's world on disk: the allocation directory of each instance
//! ([`layout`]), the `template` blocks rendered into it ([`render`]) and the
//! `artifact` blocks fetched into it ([`artifact`]; a git repository is
//! cloned by the `git` program, in `git.rs`), and the bind sources of a
//! container task held for its engine ([`binds`], staged in supd's own
//! `<data_dir>/binds`). Nothing else here is ever written outside an
//! instance's directory: paths go through
//! [`layout::name_beneath`] and [`beneath::Dir`], which cannot leave their
//! base. Downloads run on helper threads that report back through a channel
//! and a `mio::Waker`; everything else is quick enough for the loop.

pub mod artifact;
pub use crate::beneath;
pub mod binds;
mod funcs;
mod git;
pub mod layout;
pub mod render;
pub mod scope;
mod unpack;

pub use artifact::{ArtifactError, Fetched, Fetcher, Limits};
pub use layout::{AllocDir, Secrets, TaskDir, name_beneath};
pub use render::{RenderError, RenderInput, Rendered, ServiceAddr};

use std::fmt;
use std::path::PathBuf;

/// Why an allocation or task directory could not be made or removed.
#[derive(Debug)]
pub enum TaskDirError {
    /// A job, instance or task name that cannot be a directory name.
    Name(String),
    Io(PathBuf, std::io::Error),
    Beneath(beneath::BeneathError),
    /// A mount is still below the directory to remove.
    Mounted(PathBuf),
}

impl fmt::Display for TaskDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskDirError::Name(n) => write!(
                f,
                "{n:?} cannot name a directory — names must be one path component, not empty, `.`, `..` or `alloc`, without `/`"
            ),
            TaskDirError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            TaskDirError::Beneath(e) => write!(f, "{e}"),
            TaskDirError::Mounted(p) => {
                write!(f, "{} is still mounted — unmount it; supd removes nothing below a mount point", p.display())
            }
        }
    }
}

impl std::error::Error for TaskDirError {}
