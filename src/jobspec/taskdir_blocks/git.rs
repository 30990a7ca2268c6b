//! A git repository as go-getter's git getter reads its source: the URL
//! `git clone` is given, `//DIR`, and `ref`, `depth` and `sshkey`.

use super::error::GitError;
use std::collections::BTreeMap;

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

/// The options of an artifact's `options` that go-getter's git getter
/// reads (Nomad adds every option to the source's query).
pub const GIT_OPTIONS: &[&str] = &["ref", "depth", "sshkey"];

/// The hosts whose `HOST/OWNER/REPO` go-getter reads as a git repository
/// over https (its GitHub and GitLab detectors; Bitbucket's asks
/// Bitbucket's API whether it is git or Mercurial, supd takes git).
pub(super) const HOSTED_GIT: &[&str] = &["github.com/", "gitlab.com/", "bitbucket.org/"];

/// A git source as go-getter's git getter reads it: the repository's URL
/// (forced with `git::`, or detected: `user@host:path`, `HOST/OWNER/REPO`
/// of GitHub, GitLab, Bitbucket, `git://`, `ssh://`), `//DIR` after it,
/// and `ref`, `depth` and `sshkey` from the query or else from `options`.
pub(super) fn parse_git(src: &str, options: &BTreeMap<String, String>) -> Result<GitSource, GitError> {
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

pub(super) fn percent_decode(s: &str) -> String {
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
