//! A task's `template` and `artifact` blocks: decoded into typed values with
//! Nomad's defaults, and checked as Nomad checks them, plus what supd itself
//! cannot do (Consul and Vault functions, git/hg/s3/gcs sources). Template
//! problems are reported at their place in the job file, with their place
//! inside the template. taskdir renders and fetches what is decoded here.

use super::diag::{Pos, did_you_mean};
use super::gotemplate;
use super::reader::{Kind, Reader, Schema};
use crate::signals::NAMES;
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Body};
use std::collections::BTreeMap;
use std::time::Duration;

use Kind::{Attr, Block as Blk, Either};

#[path = "taskdir_blocks_error.rs"]
mod error;
pub use error::{ChecksumError, DestinationError, GitError, SourceError};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl ChecksumAlgo {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgo::Md5 => "md5",
            ChecksumAlgo::Sha1 => "sha1",
            ChecksumAlgo::Sha256 => "sha256",
            ChecksumAlgo::Sha512 => "sha512",
        }
    }

    fn len(self) -> usize {
        match self {
            ChecksumAlgo::Md5 => 16,
            ChecksumAlgo::Sha1 => 20,
            ChecksumAlgo::Sha256 => 32,
            ChecksumAlgo::Sha512 => 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algo: ChecksumAlgo,
    pub digest: Vec<u8>,
}

impl Checksum {
    /// go-getter's `TYPE:HEX`, as Nomad validates it.
    pub fn parse(text: &str) -> Result<Checksum, ChecksumError> {
        let text = text.trim();
        let Some((kind, hex)) = text.split_once(':') else {
            return Err(ChecksumError::NoType { text: text.to_string() });
        };
        let algo = match kind {
            "md5" => ChecksumAlgo::Md5,
            "sha1" => ChecksumAlgo::Sha1,
            "sha256" => ChecksumAlgo::Sha256,
            "sha512" => ChecksumAlgo::Sha512,
            "file" => return Err(ChecksumError::File),
            other => return Err(ChecksumError::UnknownType { kind: other.to_string() }),
        };
        let digest = decode_hex(hex).ok_or_else(|| ChecksumError::NotHex { hex: hex.to_string() })?;
        if digest.len() != algo.len() {
            return Err(ChecksumError::Length { algo: algo.as_str(), digits: algo.len() * 2, hex: hex.to_string() });
        }
        Ok(Checksum { algo, digest })
    }

    pub fn hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

// --- where destinations go ---------------------------------------------------

/// The two places of an allocation a task may write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Under {
    /// The task's own directory.
    Task,
    /// The `alloc/` directory the group's tasks share.
    Alloc,
}

/// A destination as a path below the task directory or the shared `alloc/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub under: Under,
    /// Normal components only: no `.`, `..` or empty ones.
    pub parts: Vec<String>,
}

/// Where a destination lands. Relative paths (and absolute ones, as Nomad
/// joins them to the task directory) start at the task directory;
/// `${NOMAD_TASK_DIR}`, `${NOMAD_SECRETS_DIR}` and `${NOMAD_ALLOC_DIR}` at
/// the start stand for `local/`, `secrets/` and the shared `alloc/`. A path
/// that leaves both the task directory and the shared `alloc/` is refused.
pub fn destination_place(dest: &str) -> Result<Place, DestinationError> {
    let (mut under, rest) = if let Some(r) = dest.strip_prefix("${NOMAD_TASK_DIR}") {
        (Under::Task, format!("local/{r}"))
    } else if let Some(r) = dest.strip_prefix("${NOMAD_SECRETS_DIR}") {
        (Under::Task, format!("secrets/{r}"))
    } else if let Some(r) = dest.strip_prefix("${NOMAD_ALLOC_DIR}") {
        (Under::Alloc, r.to_string())
    } else {
        (Under::Task, dest.to_string())
    };
    let mut parts: Vec<String> = Vec::new();
    // Above the task directory is the allocation directory, where only
    // `alloc/` belongs to the task.
    let mut above = false;
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    if above || under == Under::Alloc {
                        return Err(outside(dest));
                    }
                    above = true;
                }
            }
            c if above => {
                if c != "alloc" {
                    return Err(outside(dest));
                }
                above = false;
                under = Under::Alloc;
            }
            c => parts.push(c.to_string()),
        }
    }
    if above {
        return Err(outside(dest));
    }
    Ok(Place { under, parts })
}

fn outside(dest: &str) -> DestinationError {
    DestinationError { dest: dest.to_string() }
}

// --- artifact sources ----------------------------------------------------------

/// What an artifact source asks for, once its `${...}` are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub kind: SourceKind,
    /// `?checksum=`.
    pub checksum: Option<Checksum>,
    /// `?archive=false` gives `Some(false)`; `?archive=FORMAT` names the
    /// format to unpack whatever the file is called.
    pub archive: Option<ArchiveChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// The URL to request, without the query parameters go-getter reads.
    Http(String),
    File(String),
    /// go-getter's `git` getter: a repository the `git` program clones.
    Git(GitSource),
}

/// A git repository to clone, as go-getter's git getter reads its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// What `git clone` is given: an `https://`, `http://`, `ssh://` (also
    /// from the scp-like `user@host:path`), `git://` or `file:///` URL, the
    /// query parameters go-getter reads taken out, any other kept.
    pub url: String,
    /// `ref`: the branch, tag or commit checked out; none: the remote's
    /// default branch.
    pub git_ref: Option<String>,
    /// `depth`: a shallow clone of this many commits; 0: the whole history.
    pub depth: u32,
    /// `sshkey`: a private key for ssh, decoded from base64.
    pub ssh_key: Option<SshKey>,
    /// The directory after `//`: only it is fetched (without `.git`);
    /// empty: the whole repository, `.git` included, as go-getter keeps it.
    pub subdir: Vec<String>,
}

impl GitSource {
    /// The repository for messages: the URL without its query, and
    /// without a password it may carry.
    pub fn shown(&self) -> String {
        let base = self.url.split('?').next().unwrap_or(&self.url);
        let Some((scheme, rest)) = base.split_once("://") else { return base.to_string() };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        match authority.rsplit_once('@') {
            Some((user, host)) if user.contains(':') => {
                let name = user.split(':').next().unwrap_or("");
                format!("{scheme}://{name}:REDACTED@{host}{path}")
            }
            _ => base.to_string(),
        }
    }

    /// The repository's path on this host, for a `file://` URL.
    pub fn local_path(&self) -> Option<&str> {
        let path = self.url.strip_prefix("file://")?;
        Some(path.split('?').next().unwrap_or(path))
    }
}

/// A private key given with `sshkey`; never shown (its `Debug` says only
/// how long it is).
#[derive(Clone, PartialEq, Eq)]
pub struct SshKey(pub Vec<u8>);

impl std::fmt::Debug for SshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SshKey({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveChoice {
    Keep,
    Format(String),
}

/// The archive formats supd unpacks, by the file name's ending.
pub const ARCHIVE_FORMATS: &[&str] = &["tar.gz", "tgz", "tar.xz", "txz", "tar", "zip"];

/// Archive endings go-getter knows that supd does not unpack.
const OTHER_ARCHIVES: &[&str] = &["tar.bz2", "tbz2", "tar.zst", "tzst", "bz2", "gz", "xz", "zst"];

/// The options of an artifact's `options` that go-getter's git getter
/// reads (Nomad adds every option to the source's query).
pub const GIT_OPTIONS: &[&str] = &["ref", "depth", "sshkey"];

/// The archive format a file name ends with, if any; an error for the
/// formats supd does not unpack.
pub fn archive_format(name: &str) -> Result<Option<&'static str>, SourceError> {
    if let Some(f) = ARCHIVE_FORMATS.iter().find(|f| name.ends_with(&format!(".{f}"))) {
        return Ok(Some(f));
    }
    if let Some(f) = OTHER_ARCHIVES.iter().find(|f| name.ends_with(&format!(".{f}"))) {
        return Err(SourceError::Unpack { ending: f });
    }
    Ok(None)
}

/// Reads a source as go-getter would, refusing the getters supd lacks.
pub fn parse_source(src: &str) -> Result<SourceSpec, SourceError> {
    parse_source_with(src, &BTreeMap::new())
}

/// [`parse_source`], with the artifact's `options` (their `${...}`
/// resolved): a git source takes `ref`, `depth` and `sshkey` from them
/// where its query does not give them, as go-getter reads the query Nomad
/// adds them to.
pub fn parse_source_with(src: &str, options: &BTreeMap<String, String>) -> Result<SourceSpec, SourceError> {
    refuse_getter(src)?;
    if getter_of(src).as_deref() == Some("git") {
        let git = parse_git(src, options)?;
        return Ok(SourceSpec { kind: SourceKind::Git(git), checksum: None, archive: None });
    }
    let (kind, query) = if let Some(rest) = src.strip_prefix("file://") {
        let (path, q) = rest.split_once('?').unwrap_or((rest, ""));
        if !path.starts_with('/') {
            return Err(SourceError::FileNotAbsolute { src: src.to_string() });
        }
        (SourceKind::File(path.to_string()), q)
    } else if src.starts_with('/') {
        let (path, q) = src.split_once('?').unwrap_or((src, ""));
        (SourceKind::File(path.to_string()), q)
    } else if src.starts_with("http://") || src.starts_with("https://") {
        let (base, q) = src.split_once('?').unwrap_or((src, ""));
        let host = base.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("");
        if host.is_empty() {
            return Err(SourceError::NoHost { src: src.to_string() });
        }
        let kept: Vec<&str> = q
            .split('&')
            .filter(|p| {
                !p.is_empty() && !["checksum", "archive", "filename"].contains(&p.split('=').next().unwrap_or(""))
            })
            .collect();
        let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        (SourceKind::Http(url), q)
    } else {
        return Err(SourceError::NotFetchable { src: src.to_string() });
    };
    let mut spec = SourceSpec { kind, checksum: None, archive: None };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "checksum" => spec.checksum = Some(Checksum::parse(&v)?),
            "archive" if v == "false" => spec.archive = Some(ArchiveChoice::Keep),
            "archive" => {
                let f = ARCHIVE_FORMATS
                    .iter()
                    .find(|f| **f == v)
                    .ok_or_else(|| SourceError::ArchiveFormat { value: v.clone() })?;
                spec.archive = Some(ArchiveChoice::Format(f.to_string()));
            }
            _ => {}
        }
    }
    Ok(spec)
}

/// Whether a source (its `${...}` resolved or not) is one go-getter
/// fetches with its git getter.
pub fn is_git_source(src: &str) -> bool {
    getter_of(src).as_deref() == Some("git")
}

/// The getter go-getter would use for a source: forced (`git::…`, the
/// name before `::` plain letters and digits, as go-getter reads it), or
/// detected from the scheme or the shape (`user@host:path`,
/// `github.com/…`, an S3 or GCS host); `None` for the http and file
/// getters.
fn getter_of(src: &str) -> Option<String> {
    if let Some((forced, _)) = src.split_once("::")
        && !forced.is_empty()
        && forced.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Some(forced.to_string());
    }
    let scheme = src.split_once("://").map(|(s, _)| s);
    match scheme {
        Some("git" | "ssh" | "git+ssh") => Some("git".into()),
        Some("hg") => Some("hg".into()),
        Some("s3") => Some("s3".into()),
        Some("gs" | "gcs") => Some("gcs".into()),
        Some(_) => None,
        None if HOSTED_GIT.iter().any(|h| src.starts_with(h)) || scp_like(src) => Some("git".into()),
        None if src.contains(".amazonaws.com/") => Some("s3".into()),
        None if src.starts_with("www.googleapis.com/storage/") || src.contains("storage.googleapis.com/") => {
            Some("gcs".into())
        }
        None => None,
    }
}

/// The hosts whose `HOST/OWNER/REPO` go-getter reads as a git repository
/// over https (its GitHub and GitLab detectors; Bitbucket's asks
/// Bitbucket's API whether it is git or Mercurial, supd takes git).
const HOSTED_GIT: &[&str] = &["github.com/", "gitlab.com/", "bitbucket.org/"];

/// An ssh address as git writes it, `user@host:path`: no scheme, a colon
/// before any slash, a user before it (go-getter's git detector reads what
/// is no URL this way).
fn scp_like(src: &str) -> bool {
    match src.split_once(':') {
        Some((user_host, _)) => {
            !src.contains("://")
                && !user_host.contains('/')
                && user_host.split_once('@').is_some_and(|(u, h)| !u.is_empty() && !h.is_empty())
        }
        None => false,
    }
}

/// Refuses the getters supd lacks (hg, s3, gcs) and a forced `http::`.
fn refuse_getter(src: &str) -> Result<(), SourceError> {
    match getter_of(src).as_deref() {
        None | Some("git") => Ok(()),
        Some(g @ ("http" | "https")) => Err(SourceError::ForcedHttp { getter: g.to_string() }),
        Some(g) => {
            let what = match g {
                "hg" => "a Mercurial repository",
                "s3" => "an S3 bucket",
                "gcs" => "a Google Cloud Storage bucket",
                _ => "this kind of source",
            };
            Err(SourceError::Getter { what, getter: g.to_string() })
        }
    }
}

/// A git source as go-getter's git getter reads it: the repository's URL
/// (forced with `git::`, or detected: `user@host:path`, `HOST/OWNER/REPO`
/// of GitHub, GitLab, Bitbucket, `git://`, `ssh://`), `//DIR` after it,
/// and `ref`, `depth` and `sshkey` from the query or else from `options`.
fn parse_git(src: &str, options: &BTreeMap<String, String>) -> Result<GitSource, GitError> {
    let forced = src.strip_prefix("git::");
    let rest = forced.unwrap_or(src);
    // git's own `TRANSPORT::ADDRESS` (ext:: runs a command): never asked for.
    if let Some((helper, _)) = rest.split_once("::")
        && !helper.is_empty()
        && helper.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(GitError::RemoteHelper { src: src.to_string(), helper: helper.to_string() });
    }
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (url, subdir) = git_url(src, base, forced.is_some())?;
    let mut found: BTreeMap<&str, String> = BTreeMap::new();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            // The first of a name wins, as url.Values.Get answers.
            "ref" | "depth" | "sshkey" => {
                found.entry(k).or_insert_with(|| percent_decode(v));
            }
            "checksum" => return Err(GitError::Checksum),
            "archive" if percent_decode(v) == "false" => {}
            "archive" => return Err(GitError::Archive { value: v.to_string() }),
            _ => kept.push(pair),
        }
    }
    for (k, v) in options {
        if GIT_OPTIONS.contains(&k.as_str()) {
            found.entry(k.as_str()).or_insert_with(|| v.clone());
        }
    }
    let git_ref = found.get("ref").filter(|r| !r.is_empty()).cloned();
    let depth = match found.get("depth") {
        Some(d) => git_depth(d)?,
        None => 0,
    };
    let ssh_key = match found.get("sshkey") {
        Some(k) => Some(git_ssh_key(k)?),
        None => None,
    };
    let url = if kept.is_empty() { url } else { format!("{url}?{}", kept.join("&")) };
    Ok(GitSource { url, git_ref, depth, ssh_key, subdir })
}

/// Why a git source takes no checksum.
pub const GIT_CHECKSUM: &str =
    "a git repository has no checksum to check — pin its content with ref=COMMIT (a commit's full hash) instead";

/// `depth`: a whole number of commits.
pub fn git_depth(d: &str) -> Result<u32, GitError> {
    d.trim().parse().map_err(|_| GitError::Depth { depth: d.to_string() })
}

/// `sshkey`: a private key, base64-encoded as go-getter reads it.
pub fn git_ssh_key(k: &str) -> Result<SshKey, GitError> {
    use base64::Engine;
    let text: String = k.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
        Ok(key) if !key.is_empty() => Ok(SshKey(key)),
        _ => Err(GitError::SshKey),
    }
}

/// The URL `git clone` is given for the address part of a git source
/// (`base`, without its query), and the directory after `//`.
fn git_url(src: &str, base: &str, forced: bool) -> Result<(String, Vec<String>), GitError> {
    if let Some(host) = HOSTED_GIT.iter().find(|h| base.starts_with(**h)) {
        let parts: Vec<&str> = base.split('/').collect();
        if parts.len() < 3 || parts[1].is_empty() || parts[2].is_empty() {
            return Err(GitError::Hosted { src: src.to_string(), host });
        }
        let repo = if parts[2].ends_with(".git") { parts[2].to_string() } else { format!("{}.git", parts[2]) };
        let url = format!("https://{}/{}/{repo}", parts[0], parts[1]);
        return Ok((url, git_subdir(src, &parts[3..].join("/"))?));
    }
    if let Some((scheme, after)) = base.split_once("://") {
        let lower = scheme.to_ascii_lowercase();
        if !["https", "http", "ssh", "git", "git+ssh", "file"].contains(&lower.as_str()) {
            return Err(GitError::Scheme { src: src.to_string(), scheme: scheme.to_string() });
        }
        let (repo, dir) = split_subdir(after);
        if lower == "file" {
            if !repo.starts_with('/') {
                return Err(GitError::FileNotAbsolute { src: src.to_string() });
            }
            if repo.contains('%') {
                return Err(GitError::FileEscapes { src: src.to_string() });
            }
        } else {
            let authority = repo.split('/').next().unwrap_or("");
            git_host(src, authority.rsplit('@').next().unwrap_or(""))?;
        }
        return Ok((format!("{scheme}://{repo}"), git_subdir(src, dir)?));
    }
    if base.starts_with('/') {
        let (repo, dir) = split_subdir(base);
        if repo.contains('%') {
            return Err(GitError::PathEscapes { src: src.to_string() });
        }
        return Ok((format!("file://{repo}"), git_subdir(src, dir)?));
    }
    // `[user@]host:path`, as git writes an ssh address; read as
    // ssh://[user@]host/path, as go-getter's detector does.
    if let Some((user_host, path)) = base.split_once(':')
        && !user_host.is_empty()
        && !user_host.contains('/')
        && (forced || user_host.contains('@'))
    {
        git_host(src, user_host.rsplit('@').next().unwrap_or(""))?;
        let (path, dir) = split_subdir(path.strip_prefix('/').unwrap_or(path));
        if path.is_empty() {
            return Err(GitError::NoRepository { src: src.to_string() });
        }
        return Ok((format!("ssh://{user_host}/{path}"), git_subdir(src, dir)?));
    }
    Err(GitError::NotRepository { src: src.to_string() })
}

/// A git host: named, and not an option to ssh.
fn git_host(src: &str, host: &str) -> Result<(), GitError> {
    if host.is_empty() || host.starts_with(':') {
        return Err(GitError::NoHost { src: src.to_string() });
    }
    if host.starts_with('-') {
        return Err(GitError::DashHost { src: src.to_string() });
    }
    Ok(())
}

/// The repository and the directory after its `//`.
fn split_subdir(path: &str) -> (&str, &str) {
    match path.find("//") {
        Some(i) => (&path[..i], &path[i + 2..]),
        None => (path, ""),
    }
}

/// The directory after `//` as plain components.
fn git_subdir(src: &str, dir: &str) -> Result<Vec<String>, GitError> {
    let mut out = Vec::new();
    for c in dir.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(GitError::SubdirClimbs { src: src.to_string() }),
            c if c.contains(['*', '?', '[']) => return Err(GitError::SubdirPattern { src: src.to_string() }),
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// --- decoding ----------------------------------------------------------------

/// The `template` and `artifact` blocks of a task body.
pub fn decode(r: &mut Reader, b: &Body) -> (Vec<Template>, Vec<Artifact>) {
    let templates = r.blocks(b, "template").into_iter().filter_map(|tb| template(r, tb)).collect();
    let artifacts = r.blocks(b, "artifact").into_iter().filter_map(|ab| artifact(r, ab)).collect();
    (templates, artifacts)
}

fn template(r: &mut Reader, block: &Block) -> Option<Template> {
    r.no_label(block);
    r.check_keys(&block.body, &TEMPLATE);
    let b = &block.body;
    let before = r.sink.error_count();
    let pos = r.sink.pos(&block.ident.span());
    let left =
        r.attr(b, "left_delimiter").and_then(|a| delimiter(r, &a.value, "left_delimiter")).unwrap_or("{{".into());
    let right =
        r.attr(b, "right_delimiter").and_then(|a| delimiter(r, &a.value, "right_delimiter")).unwrap_or("}}".into());
    let source = template_source(r, block, &left, &right);
    let destination = template_destination(r, block);
    let perms = match r.attr(b, "perms") {
        Some(a) => r.literal(&a.value, "perms").and_then(|p| match u32::from_str_radix(&p, 8) {
            Ok(v) if v <= 0o7777 => Some(v),
            _ => {
                r.sink.error(a.value.span(), format!("`perms` {p:?} is not an octal file mode — write e.g. \"0640\""));
                None
            }
        }),
        None => Some(0o644),
    };
    let uid = r.attr(b, "uid").and_then(|a| r.int(&a.value, "uid", 0, u32::MAX as i64)).map(|v| v as u32);
    let gid = r.attr(b, "gid").and_then(|a| r.int(&a.value, "gid", 0, u32::MAX as i64)).map(|v| v as u32);
    let env = r.attr(b, "env").and_then(|a| r.bool(&a.value, "env")).unwrap_or(false);
    let splay = r.attr(b, "splay").and_then(|a| r.duration(&a.value, "splay")).unwrap_or(Duration::from_secs(5));
    let error_on_missing_key =
        r.attr(b, "error_on_missing_key").and_then(|a| r.bool(&a.value, "error_on_missing_key")).unwrap_or(false);
    let once = r.attr(b, "once").and_then(|a| r.bool(&a.value, "once")).unwrap_or(false);
    let change_mode = change_mode(r, block, env);
    if r.sink.error_count() > before {
        return None;
    }
    Some(Template {
        pos,
        source: source?,
        destination: destination?,
        perms: perms?,
        uid,
        gid,
        env,
        change_mode: change_mode?,
        splay,
        left_delimiter: left,
        right_delimiter: right,
        error_on_missing_key,
        once,
    })
}

/// A template's `data` or `source`, its text checked with the delimiters.
fn template_source(r: &mut Reader, block: &Block, left: &str, right: &str) -> Option<TemplateSource> {
    let b = &block.body;
    match (r.attr(b, "data"), r.attr(b, "source")) {
        (Some(_), Some(s)) => {
            r.sink.error(s.key.span(), "a template has `data` or `source`, not both — remove one of them");
            None
        }
        (Some(d), None) => r.string(&d.value, "data").map(|text| {
            let text = unescape(&text);
            check_text(r, &d.value, &text, left, right);
            TemplateSource::Data(text)
        }),
        (None, Some(s)) => {
            let path = r.string(&s.value, "source").map(|p| unescape(&p));
            if path.as_deref().is_some_and(str::is_empty) {
                r.sink.error(s.value.span(), "`source` is empty — name the template file, e.g. \"local/app.conf.tpl\"");
            }
            path.map(TemplateSource::File)
        }
        (None, None) => {
            r.sink.error(
                block.ident.span(),
                "template has neither `data` nor `source` — add data = <<EOT … EOT, or source = \"path/to/file.tpl\"",
            );
            None
        }
    }
}

/// A template's `destination`, which must name a place in the task's directories.
fn template_destination(r: &mut Reader, block: &Block) -> Option<String> {
    let b = &block.body;
    match r.attr(b, "destination") {
        Some(a) => r.string(&a.value, "destination").and_then(|d| {
            if d.trim().is_empty() {
                r.sink
                    .error(a.value.span(), "`destination` is empty — name the file to write, e.g. \"local/app.conf\"");
                return None;
            }
            if let Err(e) = destination_place(&d) {
                r.sink.error(a.value.span(), e.to_string());
                return None;
            }
            Some(d)
        }),
        None => {
            r.sink
                .error(block.ident.span(), "template has no `destination` — add e.g. destination = \"local/app.conf\"");
            None
        }
    }
}

fn delimiter(r: &mut Reader, expr: &Expression, field: &str) -> Option<String> {
    let d = r.literal(expr, field)?;
    if d.trim().is_empty() {
        r.sink.error(expr.span(), format!("`{field}` is empty — write the delimiter, e.g. \"[[\""));
        return None;
    }
    Some(d)
}

fn change_mode(r: &mut Reader, block: &Block, env: bool) -> Option<ChangeMode> {
    let b = &block.body;
    let mode_attr = r.attr(b, "change_mode");
    let mode = match mode_attr {
        Some(a) => r.enum_value(&a.value, "change_mode", &["noop", "restart", "signal", "script"])?,
        None => "restart".into(),
    };
    let signal_attr = r.attr(b, "change_signal");
    let signal = signal_attr.and_then(|a| {
        let s = r.literal(&a.value, "change_signal")?.to_uppercase();
        // A full name (any case), as Nomad reads it; what setup.rs
        // parses when the template changes.
        if !NAMES.contains(&s.as_str()) {
            let hint = did_you_mean(&s, NAMES).map_or(String::new(), |d| format!(" — did you mean {d:?}?"));
            r.sink.error(a.value.span(), format!("unknown signal {s:?}{hint}"));
            return None;
        }
        Some(s)
    });
    let script_block = r.one_block(b, "change_script", "a template");
    let script = script_block.and_then(|sb| change_script(r, sb));
    match mode.as_str() {
        "noop" => Some(ChangeMode::Noop),
        "restart" => Some(ChangeMode::Restart),
        "signal" => {
            if env {
                let span = mode_attr.and_then(|a| a.value.span());
                r.sink.error(span, "env templates cannot use change_mode \"signal\" — a running task does not re-read its environment; use \"restart\"");
                return None;
            }
            if signal_attr.is_some() && signal.is_none() {
                return None;
            }
            Some(ChangeMode::Signal(signal.unwrap_or_else(|| "SIGHUP".into())))
        }
        _ => match (script_block, script) {
            (None, _) => {
                let span = mode_attr.and_then(|a| a.value.span());
                r.sink.error(span, "change_mode \"script\" needs a change_script block — add change_script { command = \"/path/to/script\" }");
                None
            }
            (Some(_), s) => s.map(ChangeMode::Script),
        },
    }
}

fn change_script(r: &mut Reader, sb: &Block) -> Option<ChangeScript> {
    r.no_label(sb);
    r.check_keys(&sb.body, &CHANGE_SCRIPT);
    let b = &sb.body;
    let command = match r.attr(b, "command") {
        Some(a) => {
            let c = r.string(&a.value, "command")?;
            if c.trim().is_empty() {
                r.sink.error(a.value.span(), "`command` is empty — name the script to run");
                return None;
            }
            c
        }
        None => {
            r.sink.error(
                sb.ident.span(),
                "change_script has no `command` — add e.g. command = \"/usr/local/bin/reload\"",
            );
            return None;
        }
    };
    let args = r.attr(b, "args").and_then(|a| r.string_list(&a.value, "args")).unwrap_or_default();
    let timeout = r.attr(b, "timeout").and_then(|a| r.duration(&a.value, "timeout")).unwrap_or(Duration::from_secs(5));
    let fail_on_error = r.attr(b, "fail_on_error").and_then(|a| r.bool(&a.value, "fail_on_error")).unwrap_or(false);
    Some(ChangeScript { command, args, timeout, fail_on_error })
}

/// The text of a template as the job file's string gives it: the reader
/// keeps a literal `${` as `$${`.
fn unescape(s: &str) -> String {
    s.replace("$${", "${").replace("%%{", "%{")
}

/// Reports the problems of a template's text, each at its place in the job
/// file when the text maps onto it character by character, else at the
/// start of the value; the message gives the place inside the template.
fn check_text(r: &mut Reader, expr: &Expression, text: &str, left: &str, right: &str) {
    let problems = gotemplate::check_job(text, left, right);
    if problems.is_empty() {
        return;
    }
    let map = source_map(r.src, expr).filter(|(decoded, _)| decoded == text).map(|(_, offsets)| offsets);
    let starts: Vec<usize> =
        std::iter::once(0).chain(text.char_indices().filter(|(_, c)| *c == '\n').map(|(i, _)| i + 1)).collect();
    for p in problems {
        let char_index = starts.get(p.line - 1).map(|&s| text[..s].chars().count() + p.column - 1).unwrap_or(0);
        let span = match &map {
            Some(offsets) => {
                let at = offsets.get(char_index).or(offsets.last()).copied().unwrap_or(0);
                Some(at..at)
            }
            None => expr.span(),
        };
        r.sink.error(span, format!("template line {}, column {}: {}", p.line, p.column, p.message));
    }
}

/// The text of a string or heredoc as written in the source, decoded, with
/// the source offset of each character; `None` when the expression is of
/// another kind.
fn source_map(src: &str, expr: &Expression) -> Option<(String, Vec<usize>)> {
    let span = expr.span()?;
    let raw = src.get(span.clone())?;
    let mut text = String::new();
    let mut offsets = Vec::new();
    match expr {
        Expression::String(_) | Expression::StringTemplate(_) => {
            let body = raw.strip_prefix('"')?.strip_suffix('"')?;
            let base = span.start + 1;
            let mut it = body.char_indices().peekable();
            while let Some((i, c)) = it.next() {
                let decoded = match c {
                    '\\' => match it.next()?.1 {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '"' => '"',
                        '\\' => '\\',
                        'u' | 'U' => return None,
                        _ => return None,
                    },
                    '$' | '%' if body[i + 1..].starts_with(&format!("{c}{{")) => {
                        it.next();
                        c
                    }
                    c => c,
                };
                text.push(decoded);
                offsets.push(base + i);
            }
        }
        Expression::HeredocTemplate(h) => {
            let indent = h.indent().unwrap_or(0);
            let first = raw.find('\n')? + 1;
            let body = &raw[first..];
            let end = body.trim_end().rfind('\n').map_or(0, |i| i + 1);
            let mut line_start = span.start + first;
            for line in body[..end].split_inclusive('\n') {
                let skip: usize = line.chars().take(indent).take_while(|c| *c == ' ').map(char::len_utf8).sum();
                let mut it = line[skip..].char_indices();
                while let Some((i, c)) = it.next() {
                    if matches!(c, '$' | '%') && line[skip + i + 1..].starts_with(&format!("{c}{{")) {
                        it.next();
                    }
                    text.push(c);
                    offsets.push(line_start + skip + i);
                }
                line_start += line.len();
            }
        }
        _ => return None,
    }
    Some((text, offsets))
}

fn artifact(r: &mut Reader, block: &Block) -> Option<Artifact> {
    r.no_label(block);
    r.check_keys(&block.body, &ARTIFACT);
    let b = &block.body;
    let before = r.sink.error_count();
    let pos = r.sink.pos(&block.ident.span());
    let mode = match r.attr(b, "mode") {
        Some(a) => match r.enum_value(&a.value, "mode", &["any", "file", "dir"]).as_deref() {
            Some("file") => ArtifactMode::File,
            Some("dir") => ArtifactMode::Dir,
            _ => ArtifactMode::Any,
        },
        None => ArtifactMode::Any,
    };
    let options = r.string_map(b, "options");
    let headers = r.string_map(b, "headers");
    let options_span = r
        .attr(b, "options")
        .and_then(|a| a.value.span())
        .or_else(|| r.blocks(b, "options").first().and_then(|o| o.ident.span()));
    let (checksum, unpack, others) = artifact_options(r, options_span.clone(), &options);
    let (source, git) = artifact_source(r, block, checksum.is_some(), unpack, mode);
    let mut git_options = BTreeMap::new();
    for (k, v) in others {
        if !git || !GIT_OPTIONS.contains(&k.as_str()) {
            r.sink.warn(
                options_span.clone(),
                format!("options.{k} is ignored by supd — it is an option of a go-getter getter supd does not have"),
            );
            continue;
        }
        let v = unescape(&v);
        if !v.contains("${") {
            let problem = match k.as_str() {
                "depth" => git_depth(&v).err(),
                "sshkey" => git_ssh_key(&v).err(),
                _ => None,
            };
            if let Some(e) = problem {
                r.sink.error(options_span.clone(), format!("options.{k}: {e}"));
            }
        }
        git_options.insert(k, v);
    }
    let destination = match r.attr(b, "destination") {
        Some(a) => r.string(&a.value, "destination").and_then(|d| match destination_place(&d) {
            Ok(_) => Some(d),
            Err(e) => {
                r.sink.error(a.value.span(), e.to_string());
                None
            }
        }),
        None => source.as_ref().map(|s| match mode {
            ArtifactMode::File => {
                let base = s.split('?').next().unwrap_or("").rsplit('/').next().unwrap_or("");
                format!("local/{base}")
            }
            _ => "local/".to_string(),
        }),
    };
    if r.sink.error_count() > before {
        return None;
    }
    Some(Artifact { pos, source: source?, destination: destination?, mode, checksum, unpack, git_options, headers })
}

/// An artifact's `options`: the checksum, whether an archive is unpacked
/// (false with `archive = "false"`), and the other options, which only a
/// getter reads (git's `ref`, `depth`, `sshkey`).
fn artifact_options(
    r: &mut Reader,
    options_span: Option<std::ops::Range<usize>>,
    options: &BTreeMap<String, String>,
) -> (Option<Checksum>, bool, BTreeMap<String, String>) {
    let mut checksum = None;
    let mut unpack = true;
    let mut others = BTreeMap::new();
    for (k, v) in options {
        match k.as_str() {
            "checksum" if v.contains("${") => {}
            "checksum" => match Checksum::parse(v) {
                Ok(c) => checksum = Some(c),
                Err(e) => r.sink.error(options_span.clone(), format!("options.checksum: {e}")),
            },
            "archive" if v == "false" => unpack = false,
            "archive" => r.sink.error(options_span.clone(), format!("options.archive = {v:?}: supd reads only \"false\" here (keep the file packed); to name a format, add ?archive=FORMAT to the source")),
            other => {
                others.insert(other.to_string(), v.clone());
            }
        }
    }
    (checksum, unpack, others)
}

/// An artifact's `source`, unescaped, when it is one supd can fetch
/// (`has_checksum` and `unpack` are what its `options` say), and whether
/// it is a git repository (fetchable or not: its options are git's).
fn artifact_source(
    r: &mut Reader,
    block: &Block,
    has_checksum: bool,
    unpack: bool,
    mode: ArtifactMode,
) -> (Option<String>, bool) {
    let b = &block.body;
    let source_attr = r.attr(b, "source");
    match source_attr {
        Some(a) => match r.string(&a.value, "source") {
            Some(s) => {
                let s = unescape(&s);
                let git = is_git_source(&s);
                match source_problem(&s, has_checksum, unpack, mode) {
                    Some(p) => {
                        r.sink.error(a.value.span(), p);
                        (None, git)
                    }
                    None => (Some(s), git),
                }
            }
            None => (None, false),
        },
        None => {
            r.sink.error(
                block.ident.span(),
                "artifact has no `source` — add e.g. source = \"https://example.com/app.tar.gz\"",
            );
            (None, false)
        }
    }
}

/// What is wrong with an artifact source (unescaped), if anything.
fn source_problem(s: &str, has_checksum: bool, unpack: bool, mode: ArtifactMode) -> Option<String> {
    if s.trim().is_empty() {
        Some("`source` is empty — write the URL to fetch, e.g. \"https://example.com/app.tar.gz\"".to_string())
    } else if s.contains("${") {
        // The rest is known once the task's environment is.
        refuse_getter(s).err().map(|e| e.to_string())
    } else {
        match parse_source(s) {
            Err(e) => Some(e.to_string()),
            Ok(SourceSpec { kind: SourceKind::Git(_), .. }) => git_problem(has_checksum, mode),
            Ok(spec) => {
                let name = match &spec.kind {
                    SourceKind::Http(u) => u.split('?').next().unwrap_or("").to_string(),
                    SourceKind::File(p) | SourceKind::Git(GitSource { url: p, .. }) => p.clone(),
                };
                if spec.checksum.is_some() && has_checksum {
                    Some("the checksum is given twice, in ?checksum= and in options — keep one".into())
                } else if spec.archive.is_none() && unpack {
                    archive_format(&name).err().map(|e| e.to_string())
                } else {
                    None
                }
            }
        }
    }
}

/// What a git source cannot have: a checksum (in `options`), mode `file`.
pub fn git_problem(has_checksum: bool, mode: ArtifactMode) -> Option<String> {
    if has_checksum {
        Some(GIT_CHECKSUM.to_string())
    } else if mode == ArtifactMode::File {
        Some(GIT_FILE_MODE.to_string())
    } else {
        None
    }
}

/// Why a git source cannot be fetched in mode `file`.
pub const GIT_FILE_MODE: &str = "mode \"file\" cannot fetch a git repository, which is a directory — use mode \"any\" or \"dir\", and `//DIR` after the repository for one of its directories";

#[cfg(test)]
#[path = "taskdir_blocks_tests.rs"]
mod tests;
