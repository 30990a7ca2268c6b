//! Why a checksum or an artifact source is refused: the errors of
//! `taskdir_blocks.rs`, which validation reports and an artifact's fetch
//! fails with (a destination's is in `destination.rs`).

use super::{ARCHIVE_FORMATS, GIT_CHECKSUM};

/// A checksum that is not go-getter's `TYPE:HEX` of a type supd checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// No `TYPE:` before the digest.
    #[error("checksum {text:?} must be written TYPE:HEX, e.g. \"sha256:3b1f…\"")]
    NoType { text: String },
    /// `file:URL`, a checksum file go-getter fetches.
    #[error("checksum files (`file:URL`) are not supported — write the digest, e.g. \"sha256:3b1f…\"")]
    File,
    #[error("unknown checksum type {kind:?} — use md5, sha1, sha256 or sha512")]
    UnknownType { kind: String },
    #[error("checksum {hex:?} is not hexadecimal")]
    NotHex { hex: String },
    /// A digest of the wrong length for its type (`digits` hex digits).
    #[error("a {algo} checksum has {digits} hex digits, {hex:?} has {}", hex.len())]
    Length { algo: &'static str, digits: usize, hex: String },
}

/// An artifact source supd cannot fetch as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The http getter forced with `http::` or `https::`.
    #[error(
        "write the {getter} source as a URL without `{getter}::` — supd fetches http://, https://, file:/// and absolute paths"
    )]
    ForcedHttp { getter: String },
    /// A go-getter getter supd does not have (hg, s3, gcs); `what` it fetches.
    #[error(
        "supd does not fetch {what} (go-getter's `{getter}` getter) — fetch http://, https://, file:/// or an absolute path; publish the files over HTTP or put them on this host"
    )]
    Getter { what: &'static str, getter: String },
    #[error("file source {src:?} needs an absolute path — write file:///path/to/file")]
    FileNotAbsolute { src: String },
    #[error("source {src:?} has no host — write e.g. https://example.com/app.tar.gz")]
    NoHost { src: String },
    /// No scheme or shape of a source supd fetches.
    #[error("source {src:?} is not a URL supd can fetch — write http://…, https://…, file:///… or an absolute path")]
    NotFetchable { src: String },
    /// `?checksum=`.
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    /// `?archive=` naming no format supd unpacks.
    #[error("?archive={value} names no format supd unpacks — use one of {}, or false", ARCHIVE_FORMATS.join(", "))]
    ArchiveFormat { value: String },
    /// A file whose name ends as an archive supd does not unpack.
    #[error(
        "supd does not unpack .{ending} files — use .tar.gz, .tgz, .tar.xz, .tar or .zip, or add ?archive=false to keep the file as it is"
    )]
    Unpack { ending: &'static str },
    #[error(transparent)]
    Git(#[from] GitError),
}

/// A git source that go-getter's git getter would not read, or supd does
/// not run git on; `src` is the source as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// git's own `TRANSPORT::ADDRESS` (`ext::` runs a command).
    #[error(
        "{src:?} names git's remote helper `{helper}::` — supd runs git only on https://, http://, ssh://, git:// and file:/// URLs, user@host:path and github.com/OWNER/REPO"
    )]
    RemoteHelper { src: String, helper: String },
    /// `?checksum=`: a repository has none.
    #[error("{GIT_CHECKSUM}")]
    Checksum,
    /// `?archive=` other than `false`.
    #[error("?archive={value} cannot unpack a git repository (it is a directory) — leave it out")]
    Archive { value: String },
    #[error("depth {depth:?} is not a whole number of commits — write e.g. depth=1")]
    Depth { depth: String },
    #[error(
        "sshkey is not a base64-encoded private key — write e.g. sshkey = \"${{base64encode(file(\"id_ed25519\"))}}\""
    )]
    SshKey,
    /// `HOST/OWNER/REPO` of a hosted service without its owner or repository.
    #[error("{src:?}: write {host}OWNER/REPO, e.g. github.com/hashicorp/go-set")]
    Hosted { src: String, host: &'static str },
    #[error("{src:?}: git fetches https://, http://, ssh://, git:// and file:/// URLs, not {scheme}://")]
    Scheme { src: String, scheme: String },
    #[error("git source {src:?} needs an absolute path — write git::file:///path/to/repo")]
    FileNotAbsolute { src: String },
    #[error("{src:?}: write the path of a file:// repository without %-escapes")]
    FileEscapes { src: String },
    #[error("{src:?}: write the path of a repository without %-escapes")]
    PathEscapes { src: String },
    /// `user@host:` with nothing after the colon.
    #[error("{src:?} names no repository after `:` — write e.g. git@github.com:OWNER/REPO.git")]
    NoRepository { src: String },
    #[error(
        "{src:?} is not a git repository supd can fetch — write git::https://…, git::ssh://…, user@host:path or github.com/OWNER/REPO"
    )]
    NotRepository { src: String },
    #[error("{src:?} has no host — write e.g. git::https://example.com/repo.git")]
    NoHost { src: String },
    /// A host ssh would read as an option.
    #[error("{src:?}: a host cannot start with `-`")]
    DashHost { src: String },
    #[error("{src:?}: the directory after `//` climbs out with `..` — name a directory of the repository")]
    SubdirClimbs { src: String },
    #[error("{src:?}: supd does not expand patterns in the directory after `//` — name the directory")]
    SubdirPattern { src: String },
}
