//! An artifact's source as go-getter reads it: http(s), a file of this host
//! or a git repository, with `?checksum=` and `?archive=`; the getters supd lacks refused.

use super::checksum::Checksum;
use super::error::SourceError;
use super::git::{GitSource, HOSTED_GIT, parse_git, percent_decode};
use std::collections::BTreeMap;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveChoice {
    Keep,
    Format(String),
}

/// The archive formats supd unpacks, by the file name's ending.
pub const ARCHIVE_FORMATS: &[&str] = &["tar.gz", "tgz", "tar.xz", "txz", "tar", "zip"];

/// Archive endings go-getter knows that supd does not unpack.
const OTHER_ARCHIVES: &[&str] = &["tar.bz2", "tbz2", "tar.zst", "tzst", "bz2", "gz", "xz", "zst"];

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
pub(super) fn refuse_getter(src: &str) -> Result<(), SourceError> {
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
