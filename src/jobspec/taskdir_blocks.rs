//! A task's `template` and `artifact` blocks: decoded into typed values with
//! Nomad's defaults, and checked as Nomad checks them, plus what supd itself
//! cannot do (Consul and Vault functions, git/hg/s3/gcs sources). Template
//! problems are reported at their place in the job file, with their place
//! inside the template. taskdir renders and fetches what is decoded here.
//!
//! Here: the blocks' `Schema`s (tests/it/docs.rs reads them from this file)
//! and types; decoding in `template.rs` and `artifact.rs`, and a file each
//! for checksums, destinations, artifact sources and git repositories.

use super::diag::Pos;
use super::reader::{Kind, Reader, Schema};
use hcl_edit::structure::Body;
use std::collections::BTreeMap;
use std::time::Duration;

use Kind::{Attr, Block as Blk, Either};

mod artifact;
mod checksum;
pub(super) mod destination;
mod error;
mod git;
mod source;
mod template;

pub use artifact::{GIT_FILE_MODE, git_problem};
pub use checksum::{Checksum, ChecksumAlgo};
pub use destination::{DestinationError, Place, Under, destination_place};
pub use error::{ChecksumError, GitError, SourceError};
pub use git::{GIT_CHECKSUM, GIT_OPTIONS, GitSource, SshKey, git_depth, git_ssh_key};
pub use source::{
    ARCHIVE_FORMATS, ArchiveChoice, SourceKind, SourceSpec, archive_format, is_git_source, parse_source,
    parse_source_with,
};

use artifact::artifact;
use template::template;

const TEMPLATE: Schema = Schema {
    what: "template",
    keys: &[
        ("data", Attr),
        ("source", Attr),
        ("destination", Attr),
        ("perms", Attr),
        ("uid", Attr),
        ("gid", Attr),
        ("env", Attr),
        ("change_mode", Attr),
        ("change_signal", Attr),
        ("change_script", Blk),
        ("splay", Attr),
        ("left_delimiter", Attr),
        ("right_delimiter", Attr),
        ("error_on_missing_key", Attr),
        ("once", Attr),
    ],
    ignored: &["wait", "vault_grace"],
};

const CHANGE_SCRIPT: Schema = Schema {
    what: "change_script",
    keys: &[("command", Attr), ("args", Attr), ("timeout", Attr), ("fail_on_error", Attr)],
    ignored: &["run_on_first_render"],
};

const ARTIFACT: Schema = Schema {
    what: "artifact",
    keys: &[("source", Attr), ("destination", Attr), ("mode", Attr), ("options", Either), ("headers", Either)],
    ignored: &["insecure", "chown"],
};

/// One `template` block, with Nomad's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub pos: Pos,
    pub source: TemplateSource,
    /// As written, `${...}` kept; relative to the task directory
    /// (see [`destination_place`]).
    pub destination: String,
    /// Mode bits of the rendered file. Default 0644.
    pub perms: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The rendered `KEY=VALUE` lines join the task's environment.
    pub env: bool,
    pub change_mode: ChangeMode,
    /// At most this long a random wait before the change mode is applied.
    /// Default 5s.
    pub splay: Duration,
    pub left_delimiter: String,
    pub right_delimiter: String,
    pub error_on_missing_key: bool,
    /// Render once, never re-render.
    pub once: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplateSource {
    /// `data`: the template text itself.
    Data(String),
    /// `source`: a path on this host (relative: to the task directory),
    /// `${...}` kept.
    File(String),
}

/// What happens when a template renders differently while the task runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeMode {
    Noop,
    Restart,
    /// A signal name such as `SIGHUP` (the default with `change_mode = "signal"`).
    Signal(String),
    Script(ChangeScript),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeScript {
    pub command: String,
    pub args: Vec<String>,
    /// Default 5s.
    pub timeout: Duration,
    pub fail_on_error: bool,
}

/// One `artifact` block, with Nomad's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub pos: Pos,
    /// As written, `${...}` kept; go-getter's forms `http(s)://…`,
    /// `file:///…` or an absolute path, with `?checksum=` and `?archive=`,
    /// or a git repository (see [`GitSource`]).
    pub source: String,
    /// Relative to the task directory (see [`destination_place`]).
    /// Default `local/`, in mode `file` `local/<file name of the source>`.
    pub destination: String,
    pub mode: ArtifactMode,
    /// `options { checksum = "sha256:…" }`.
    pub checksum: Option<Checksum>,
    /// False with `options { archive = "false" }`: an archive is kept as is.
    pub unpack: bool,
    /// The `ref`, `depth` and `sshkey` of `options` (`${...}` kept), read
    /// for a git source where its query does not give them.
    pub git_options: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactMode {
    /// An archive is unpacked into the destination directory; any other
    /// file is put in it under its own name.
    Any,
    /// The destination is the file itself.
    File,
    /// The source must unpack into the destination directory.
    Dir,
}

/// The text of a template as the job file's string gives it: the reader
/// keeps a literal `${` as `$${`.
fn unescape(s: &str) -> String {
    s.replace("$${", "${").replace("%%{", "%{")
}

/// The `template` and `artifact` blocks of a task body.
pub fn decode(r: &mut Reader, b: &Body) -> (Vec<Template>, Vec<Artifact>) {
    let templates = r.blocks(b, "template").into_iter().filter_map(|tb| template(r, tb)).collect();
    let artifacts = r.blocks(b, "artifact").into_iter().filter_map(|ab| artifact(r, ab)).collect();
    (templates, artifacts)
}

#[cfg(test)]
mod tests;
