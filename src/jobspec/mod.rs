//! Job files: Nomad HCL → typed [`Job`]s with defaults and merge rules
//! applied, and every problem reported at once as `FILE:LINE:COL`.
//!
//! hcl-rs's serde path stops at the first error and carries no position, so
//! the file is read by walking hcl-edit's tree, which keeps spans.

pub mod decode;
pub mod diag;
pub mod duration;
pub mod gotemplate;
pub mod model;
mod reader;
pub mod taskdir_blocks;
pub mod template;
pub mod version;

pub use diag::{Diagnostic, Severity};
pub use model::Job;

use crate::node::Node;
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
    let (jobs, sink) = decode::decode(file, src);
    let mut diagnostics = sink.items;
    sort(&mut diagnostics);
    Parsed { jobs, diagnostics }
}

/// Reads and parses a job file. An unreadable, oversized or non-UTF-8 file
/// is reported as a diagnostic, never a panic.
pub fn parse_file(path: &Path) -> Parsed {
    let name = path.display().to_string();
    let fail = |line: Option<usize>, column: Option<usize>, message: String| Parsed {
        jobs: Vec::new(),
        diagnostics: vec![Diagnostic { file: name.clone(), line, column, severity: Severity::Error, message }],
    };
    match std::fs::metadata(path) {
        Err(e) => return fail(None, None, format!("cannot read the file: {e}")),
        Ok(m) if m.is_dir() => return fail(None, None, "is a directory, not a job file".into()),
        Ok(m) if m.len() > MAX_FILE_SIZE => {
            return fail(
                None,
                None,
                format!("the file is {} bytes; job files may be at most 16 MiB — split it into several files", m.len()),
            );
        }
        Ok(_) => {}
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return fail(None, None, format!("cannot read the file: {e}")),
    };
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return fail(None, None, "the file grew past 16 MiB while being read — job files may be at most 16 MiB".into());
    }
    match String::from_utf8(bytes) {
        Ok(text) => parse_str(&name, &text),
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
            let pos = diag::LineIndex::new(&text).pos(good);
            fail(Some(pos.line), Some(pos.column), "the file is not valid UTF-8 here — save it as UTF-8".into())
        }
    }
}

/// Warnings for jobs this node cannot run as written: datacenters that
/// do not match, constraints it does not satisfy, counts that
/// `distinct_hosts` or `distinct_property` make impossible on one host.
pub fn placement_warnings(file: &str, jobs: &[Job], node: &Node) -> Vec<Diagnostic> {
    jobs.iter()
        .flat_map(|job| node.placement_problems(job))
        .map(|(pos, message)| Diagnostic {
            file: file.to_string(),
            line: Some(pos.line),
            column: Some(pos.column),
            severity: Severity::Warning,
            message,
        })
        .collect()
}

/// File order: by line, then column; whole-file problems first.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line, d.column));
}

#[cfg(test)]
mod tests;

/// Parses every `*.hcl` file of a directory, in name order. A job ID
/// defined by an earlier file is an error in the later one.
pub fn parse_dir(dir: &Path) -> Result<Vec<(std::path::PathBuf, Parsed)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read job directory {}: {e}", dir.display()))?;
    let mut paths: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hcl"))
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
