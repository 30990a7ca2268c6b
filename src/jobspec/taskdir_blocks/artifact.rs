//! Decoding an `artifact` block: its source (refused when supd cannot fetch
//! it), options, mode and destination.

use super::source::refuse_getter;
use super::{
    ARTIFACT, Artifact, ArtifactMode, Checksum, GIT_CHECKSUM, GIT_OPTIONS, GitSource, SourceKind, SourceSpec,
    archive_format, destination_place, git_depth, git_ssh_key, is_git_source, parse_source, unescape,
};
use crate::jobspec::reader::Reader;
use hcl_edit::Span;
use hcl_edit::structure::Block;
use std::collections::BTreeMap;

pub(super) fn artifact(r: &mut Reader, block: &Block) -> Option<Artifact> {
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
