//! Job files: Nomad HCL → typed [`Job`]s with defaults and merge rules
//! applied, and every problem reported at once as `FILE:LINE:COL`.
//!
//! hcl-rs's serde path stops at the first error and carries no position, so
//! the file is read by walking hcl-edit's tree, which keeps spans.

pub mod decode;
pub mod diag;
pub mod diff;
pub mod duration;
pub mod effective;
pub mod gotemplate;
pub mod hcl2;
pub mod model;
pub mod periodic;
pub mod reader;
pub mod taskdir_blocks;
pub mod template;
pub mod version;

pub use diag::{Diagnostic, Severity};
pub use model::Job;

use std::path::Path;

/// Job files larger than this are refused rather than read into memory.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// The jobs of one file and what was found wrong with it.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Only jobs without errors.
    pub jobs: Vec<Job>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    pub fn is_valid(&self) -> bool {
        self.errors() == 0
    }
}

/// Parses job file text; `file` names it in messages.
pub fn parse_str(file: &str, src: &str) -> Parsed {
    parse_str_with(file, src, None)
}

/// Parses job file text with values for its variables; `base` is the
/// directory `file()` reads relative to.
pub fn parse_str_with(file: &str, src: &str, vars: Option<(&hcl2::Vars, Option<std::path::PathBuf>)>) -> Parsed {
    parse_text(file, src, vars, true)
}

/// `parse_str_with`; `evaluated_source` says whether a job whose file
/// was evaluated gets its evaluated text as `source` (else the block as
/// written).
fn parse_text(
    file: &str,
    src: &str,
    vars: Option<(&hcl2::Vars, Option<std::path::PathBuf>)>,
    evaluated_source: bool,
) -> Parsed {
    // A byte-order mark becomes a space: the parser takes it, and columns
    // on the first line stay where an editor shows them.
    let unmarked;
    let src = match src.strip_prefix('\u{feff}') {
        Some(rest) => {
            unmarked = format!(" {rest}");
            unmarked.as_str()
        }
        None => src,
    };
    // A check (no evaluated text) first puts evaluated values in without
    // their positions, which costs a parse of each; a file with anything
    // to say about it is read again with them, for exact places.
    let direct = !evaluated_source;
    let (mut jobs, mut sink) = decode::decode(file, src, vars.clone(), evaluated_source, direct);
    if direct && !sink.items.is_empty() {
        (jobs, sink) = decode::decode(file, src, vars, evaluated_source, false);
    }
    let mut diagnostics = sink.items;
    sort(&mut diagnostics);
    Parsed { jobs, diagnostics }
}

/// Why a job file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not a regular file (a FIFO, device, socket or directory): reading it
    /// could block, or never end.
    NotAFile(&'static str),
    /// Over [`MAX_FILE_SIZE`]: the size the file claimed, when that was
    /// already too much.
    TooLarge(Option<u64>),
    Io(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotAFile("a directory") => f.write_str("is a directory, not a job file"),
            ReadError::NotAFile(what) => write!(
                f,
                "is {what}, not a job file — job files are regular files: remove it, or put the job in a regular file"
            ),
            ReadError::TooLarge(Some(size)) => {
                write!(f, "the file is {size} bytes; job files may be at most 16 MiB — split it into several files")
            }
            ReadError::TooLarge(None) => f.write_str(
                "the file holds more than 16 MiB (more than its size said); job files may be at most 16 MiB — split it into several files",
            ),
            ReadError::Io(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

/// What a file is, when it is not a regular file.
fn kind_of(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    }
}

/// Reads a job file: a regular file (a symlink is followed only to one) of
/// at most [`MAX_FILE_SIZE`] bytes. Anything else is refused without being
/// read, and nothing here blocks: the file is opened non-blocking and
/// checked again once open (it may have been replaced in between), and
/// the read stops at the limit whatever size the file claims.
pub fn read_source(path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| ReadError::Io(e.to_string());
    // Before opening: opening a device or a FIFO can itself block or act.
    if let Some(what) = kind_of(std::fs::metadata(path).map_err(io)?.file_type()) {
        return Err(ReadError::NotAFile(what));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if let Some(what) = kind_of(meta.file_type()) {
        return Err(ReadError::NotAFile(what));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge(Some(meta.len())));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge(None));
    }
    Ok(bytes)
}

/// Reads and parses a file of the job directory. An unreadable,
/// oversized, non-UTF-8 or not regular file is reported as a diagnostic,
/// never a panic or a hang. Its variables' values come from
/// `NAME.vars.hcl` beside it, never from supd's environment
/// (`NOMAD_VAR_*` is supctl's, as it is Nomad's CLI's).
pub fn parse_file(path: &Path) -> Parsed {
    let mut vars = hcl2::Vars::default();
    if let Some(vf) = vars_file_of(path)
        && let Ok(bytes) = read_source(&vf)
    {
        vars.files.push((vf.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    parse_file_with(path, &vars)
}

/// `NAME.vars.hcl` beside `NAME.hcl`, when it exists: that job file's
/// variable values in the job directory.
pub fn vars_file_of(path: &Path) -> Option<std::path::PathBuf> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".hcl")?;
    let vf = path.with_file_name(format!("{stem}.vars.hcl"));
    vf.exists().then_some(vf)
}

/// Whether a file in the job directory holds variable values, not jobs.
pub fn is_vars_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".vars.hcl"))
}

/// Reads and parses a job file with the given variable values.
pub fn parse_file_with(path: &Path, vars: &hcl2::Vars) -> Parsed {
    read_and_parse(path, vars, true)
}

/// `parse_file_with` for a check of the file (`supctl validate`): the
/// jobs are not stored or sent anywhere, so the text of an evaluated job
/// is not written: its `source` is the job block as written.
pub fn check_file_with(path: &Path, vars: &hcl2::Vars) -> Parsed {
    read_and_parse(path, vars, false)
}

fn read_and_parse(path: &Path, vars: &hcl2::Vars, evaluated_source: bool) -> Parsed {
    let name = path.display().to_string();
    let fail = |line: Option<usize>, column: Option<usize>, message: String| Parsed {
        jobs: Vec::new(),
        diagnostics: vec![Diagnostic { file: name.clone(), line, column, severity: Severity::Error, message }],
    };
    let bytes = match read_source(path) {
        Ok(b) => b,
        Err(e) => return fail(None, None, e.to_string()),
    };
    match String::from_utf8(bytes) {
        Ok(text) => {
            let base = path.parent().map(Path::to_path_buf);
            parse_text(&name, &text, Some((vars, base)), evaluated_source)
        }
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
            let pos = diag::LineIndex::new(&text).pos(good);
            fail(Some(pos.line), Some(pos.column), "the file is not valid UTF-8 here — save it as UTF-8".into())
        }
    }
}

/// File order: by line, then column; whole-file problems first.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line, d.column));
}

#[cfg(test)]
mod tests;

/// Why the job directory cannot be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read job directory {}: {source}", dir.display())]
pub struct DirError {
    pub dir: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Parses every `*.hcl` file of a directory, in name order. A job ID
/// defined by an earlier file is an error in the later one.
pub fn parse_dir(dir: &Path) -> Result<Vec<(std::path::PathBuf, Parsed)>, DirError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DirError { dir: dir.to_path_buf(), source })?;
    let mut paths: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hcl") && !is_vars_file(p))
        .collect();
    paths.sort();
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for path in paths {
        let mut parsed = parse_file(&path);
        let name = path.display().to_string();
        let mut dups = Vec::new();
        for job in &parsed.jobs {
            if let Some(first) = seen.get(&job.id) {
                dups.push(Diagnostic {
                    file: name.clone(),
                    line: Some(job.pos.line),
                    column: Some(job.pos.column),
                    severity: Severity::Error,
                    message: format!(
                        "job {:?} is already defined in {first} — job names must be unique across the job directory",
                        job.id
                    ),
                });
            } else {
                seen.insert(job.id.clone(), name.clone());
            }
        }
        if !dups.is_empty() {
            let ids: Vec<String> =
                dups.iter().filter_map(|d| d.message.split('"').nth(1).map(str::to_string)).collect();
            parsed.jobs.retain(|j| !ids.contains(&j.id));
            parsed.diagnostics.extend(dups);
            sort(&mut parsed.diagnostics);
        }
        out.push((path, parsed));
    }
    Ok(out)
}
