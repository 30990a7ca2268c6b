//! Why a job file's function call has no value. The messages are Nomad's
//! (cty's, Terraform's) where it has one: hcl-rs takes them as text, and
//! the user reads them as diagnostics at the call.

use super::super::MAX_ELEMENTS;
use super::super::limits::{MAX_BCRYPT_COST, MAX_BYTES, MAX_FILE, MAX_VALUES, MAX_WALK};
use super::{MAX_BCRYPT_CALLS, MAX_RSA_BITS, MAX_RSADECRYPT_CALLS};
use crate::beneath::BeneathError;
use crate::jobspec::duration::DurationError;

/// Why a function call has no value.
#[derive(Debug, thiserror::Error)]
pub enum FuncError {
    /// Called with fewer than `min` or more than `max` arguments.
    #[error("{name}() takes {} argument{}, got {got}", wanted(*min, *max), plural(*min, *max))]
    Arity { name: &'static str, min: usize, max: usize, got: usize },
    /// The error of the function `name`, named with it.
    #[error("{name}(): {source}")]
    In { name: &'static str, source: Box<FuncError> },
    /// An argument of a kind the function does not take: it `needs` another.
    #[error("needs {needs}, found a {found}")]
    Type { needs: &'static str, found: &'static str },
    /// A result, or the work of a file, over a limit.
    #[error(transparent)]
    Limit(#[from] Limit),
    /// A file function without a job file's directory to read below.
    #[error(
        "{what}() reads below the job file's directory, and this job has none here (it came over the control socket or from a peer) — evaluate it where its file is (supctl job run evaluates it)"
    )]
    NoBase { what: &'static str },
    /// A path that leaves the job file's directory (absolute, or with `..`).
    #[error("{rel:?} is outside the job file's directory — {what}() reads only below it; copy the file there")]
    Outside { rel: String, what: &'static str },
    /// Reading at `shown`, below the job file's directory, failed.
    #[error("{shown}: {source}")]
    Io { shown: String, source: BeneathError },
    /// fileset()'s walk failed at `path`, relative to where it started.
    #[error("{path}: {}", errno.desc())]
    Walk { path: String, errno: nix::errno::Errno },
    /// An error of fileset()'s walk below `shown`.
    #[error("{shown}: {source}")]
    Below { shown: String, source: Box<FuncError> },
    /// abspath() cannot know the working directory.
    #[error("the working directory: {0}")]
    WorkingDir(#[source] std::io::Error),
    /// pathexpand() finds no home directory.
    #[error("HOME is not set and the user has no home directory")]
    NoHome,
    /// timeadd()'s duration.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// formatlist()'s format fails for the values of one `round`.
    #[error("error on format iteration {round}: {source}")]
    Round { round: usize, source: Box<FuncError> },
    /// A value JSON cannot hold.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A value YAML cannot hold.
    #[error(transparent)]
    Yaml(#[from] serde_norway::Error),
    /// CSV text that does not read.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Bcrypt(#[from] ::bcrypt::BcryptError),
    /// An argument the function cannot take, in the function's own words.
    #[error("{0}")]
    Invalid(String),
}

/// A limit that a function's result, or the work of the functions of one
/// file, would go over.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Limit {
    /// A list of this many elements.
    #[error("the result would have {0} elements; at most {MAX_ELEMENTS}")]
    Elements(usize),
    /// range() of this many elements.
    #[error("the range has {0} elements; at most {MAX_ELEMENTS}")]
    Range(f64),
    /// Text of `len` bytes.
    #[error("the result would be {} MiB of text; at most {} MiB", *len >> 20, MAX_BYTES >> 20)]
    Text { len: usize },
    /// setproduct() making this many values.
    #[error("the result would have {0} values; at most {MAX_VALUES}")]
    Values(usize),
    /// csvdecode() making more values than the budget's.
    #[error("the result would have more than {MAX_VALUES} values")]
    Rows,
    /// bcrypt() at this cost.
    #[error("the cost {0} is too high; at most {MAX_BCRYPT_COST} here")]
    BcryptCost(i64),
    /// bcrypt() called for more hashes in one file than it may.
    #[error(
        "called for more than {MAX_BCRYPT_CALLS} hashes at cost 10 in one file (one at cost 11 counts 2, at 12 counts 4) — each takes tens of milliseconds on purpose"
    )]
    Bcrypts,
    /// rsadecrypt() called for more work in one file than it may.
    #[error(
        "called for more than {MAX_RSADECRYPT_CALLS} decryptions with a 2048-bit key in one file (one with a 3072-bit key counts 4, with a 4096-bit key 8) — the file is evaluated whenever it is read"
    )]
    Rsadecrypts,
    /// An RSA key of this many bits.
    #[error(
        "failed to parse key: it has {0} bits; at most {MAX_RSA_BITS} here (decrypting with a larger key costs too much)"
    )]
    RsaBits(usize),
    /// A file at `shown` larger than `what`() reads.
    #[error("{shown}: {what}() reads at most {MAX_FILE} bytes")]
    File { shown: String, what: &'static str },
    /// fileset() looking at more directory entries than it may.
    #[error("more than {MAX_WALK} entries below — give fileset() a narrower path")]
    Entries,
    /// A type constraint nested too deeply.
    #[error("the type is nested too deeply")]
    TypeDepth,
}

/// How many arguments a function takes, as its message says it.
fn wanted(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else if max == usize::MAX {
        format!("at least {min}")
    } else {
        format!("{min} to {max}")
    }
}

/// The plural ending of "argument" after [`wanted`].
fn plural(min: usize, max: usize) -> &'static str {
    if min == 1 && max == 1 { "" } else { "s" }
}
