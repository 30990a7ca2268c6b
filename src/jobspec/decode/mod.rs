//! One pass over hcl-edit's tree of a job file: builds the typed [`Job`]s,
//! fills in Nomad's defaults, applies the merge rules, and checks Nomad's
//! own rules, reporting every problem with its position.

use super::diag::{Sink, did_you_mean};
use super::duration::GoDuration;
use super::hcl2::Vars;
use super::model::*;
use super::reader::{Kind, Reader, Schema, Sp};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Body, Structure};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use Kind::{Attr, Block as Blk, Either};

pub mod config;
mod constraint;
pub mod container;
mod group;
mod job;
mod parameterized;
mod periodic;
mod policy;
mod scaling;
mod service;
mod task;

use constraint::*;
use group::*;
use job::*;
use parameterized::*;
use periodic::*;
pub use policy::viable_attempts;
use policy::*;
use service::*;
use task::*;

/// Parses every job of one file. Jobs with errors are left out of the
/// result; the diagnostics say why.
/// With `evaluated_source`, an evaluated job's `source` is its evaluated
/// text (what supd stores); else the job block as written. With
/// `direct`, evaluated values have no position: only for a file that is
/// read again without it when anything is to be said about it.
pub fn decode<'s>(
    file: &str,
    src: &'s str,
    vars: Option<(&Vars, Option<PathBuf>)>,
    evaluated_source: bool,
    direct: bool,
) -> (Vec<Job>, Sink<'s>) {
    let mut r = Reader::new(file, src);
    let Some(mut body) = parse_file(&mut r, file, src) else { return (Vec::new(), r.sink) };
    let (evaluated, sensitive) = evaluate_hcl2(&mut r, &mut body, src, vars, direct);
    for job in body.get_blocks_mut("job") {
        task_at_job_level(job);
    }
    check_top_level(&mut r, &body);
    let sources = if evaluated && evaluated_source { evaluated_sources(&mut body) } else { Vec::new() };
    let jobs = decode_jobs(&mut r, &body, sources, &sensitive);
    (jobs, r.sink)
}

/// The file parsed; a syntax error is reported, and ends the reading.
fn parse_file(r: &mut Reader, file: &str, src: &str) -> Option<Body> {
    match hcl_edit::parser::parse_body(src) {
        Ok(b) => Some(b),
        Err(e) => {
            let (line, column, message) = syntax_error(src, &e);
            r.sink.push(super::diag::Diagnostic {
                file: file.to_string(),
                line: Some(line),
                column: Some(column),
                severity: super::diag::Severity::Error,
                message,
            });
            None
        }
    }
}

/// The HCL2 evaluation of the body: whether anything was evaluated, and
/// the names of the sensitive values.
fn evaluate_hcl2<'s>(
    r: &mut Reader<'s>,
    body: &mut Body,
    src: &'s str,
    vars: Option<(&Vars, Option<PathBuf>)>,
    direct: bool,
) -> (bool, Vec<String>) {
    // HCL2: variables, locals, functions, `for` and `dynamic` are
    // evaluated first; a plain file skips this.
    let mut evaluated = false;
    // An evaluated source kept by supd names its sensitive values on its
    // first line.
    let mut sensitive: Vec<String> = src
        .strip_prefix(SENSITIVE_MARK)
        .and_then(|rest| serde_json::from_str(rest.lines().next().unwrap_or("")).ok())
        .unwrap_or_default();
    if super::hcl2::may_need(src) || vars.as_ref().is_some_and(|(v, _)| !v.cli.is_empty()) {
        let none = (Vars::default(), None);
        let (vars, base) = vars.map_or((&none.0, none.1), |(v, b)| (v, b));
        let (any, found) = super::hcl2::evaluate(body, src, &mut r.sink, vars, base, direct);
        evaluated = any;
        sensitive.extend(found);
    }
    (evaluated, sensitive)
}

/// Reports what the file holds outside `job` blocks.
fn check_top_level(r: &mut Reader, body: &Body) {
    for s in body.iter() {
        if let Some(a) = s.as_attribute() {
            r.sink.error(
                a.key.span(),
                format!(
                    "unexpected attribute `{}` outside a job — a job file holds `job \"NAME\" {{ … }}` blocks",
                    a.key.as_str()
                ),
            );
            continue;
        }
        if let Some(b) = s.as_block()
            && b.ident.as_str() != "job"
        {
            let hint =
                did_you_mean(b.ident.as_str(), ["job"]).map_or(String::new(), |s| format!("did you mean `{s}`? "));
            r.sink.error(
                b.ident.span(),
                format!("unknown block `{}` — {hint}a job file holds `job \"NAME\" {{ … }}` blocks", b.ident.as_str()),
            );
        }
    }
}

/// The jobs as evaluated: what supd stores and hands on reads back
/// without the variables. Each job block is written alone, moved out
/// of the body and back (a copy of it would cost more than writing).
fn evaluated_sources(body: &mut Body) -> Vec<String> {
    let mut sources: Vec<String> = Vec::new();
    let old = std::mem::take(body);
    for s in old.into_iter() {
        match s {
            Structure::Block(mut b) if b.ident.as_str() == "job" => {
                let decor = std::mem::take(hcl_edit::Decorate::decor_mut(&mut b));
                let mut one = Body::new();
                one.push(b);
                sources.push(one.to_string());
                for s in one.into_iter() {
                    if let Structure::Block(mut b) = s {
                        *hcl_edit::Decorate::decor_mut(&mut b) = decor.clone();
                        body.push(b);
                    }
                }
            }
            other => body.push(other),
        }
    }
    sources
}

/// The `job` blocks, each checked for a unique name and read; a job with
/// errors is left out.
fn decode_jobs(r: &mut Reader, body: &Body, mut sources: Vec<String>, sensitive: &[String]) -> Vec<Job> {
    let mut seen: BTreeMap<String, Sp> = BTreeMap::new();
    let job_blocks: Vec<&Block> = body.get_blocks("job").collect();
    // As long as the file: a list grown to four left its room behind when
    // its jobs moved on, a hole of 1 KiB a job file in supd's heap.
    let mut jobs = Vec::with_capacity(job_blocks.len());
    if job_blocks.is_empty() && !r.sink.has_errors() {
        r.sink
            .error(Some(0..0), "no job in this file — write `job \"NAME\" { group \"NAME\" { task \"NAME\" { … } } }`");
    }
    for (i, block) in job_blocks.into_iter().enumerate() {
        let errors_before = r.sink.error_count();
        let id = r.name_label(block, crate::names::Kind::Job, "job \"NAME\" { … }");
        if let Some(id) = &id {
            if let Some(first) = seen.get(id) {
                let at = r.sink.pos(first);
                r.sink.error(
                    block.labels.first().and_then(|l| l.span()),
                    format!("duplicate job {id:?} (first defined at {at}) — give each job its own name"),
                );
            } else {
                seen.insert(id.clone(), block.labels.first().and_then(|l| l.span()));
            }
        }
        let mut job = job(r, block, id.unwrap_or_default());
        if let Some(source) = sources.get_mut(i) {
            job.source = std::mem::take(source);
        }
        if !sensitive.is_empty() {
            let list = serde_json::to_string(sensitive).unwrap_or_default();
            job.source = format!("{SENSITIVE_MARK}{list}\n{}", job.source);
            job.sensitive = sensitive.iter().cloned().collect();
        }
        if r.sink.error_count() == errors_before {
            jobs.push(job);
        }
    }
    jobs
}

/// The first line of an evaluated source with sensitive values: a JSON
/// list of them follows, so that the job read back from supd's state still
/// knows what not to show.
pub const SENSITIVE_MARK: &str = "# sensitive: ";

/// A `task` directly in a `job` is a group of the task's name with one
/// instance, as Nomad's parser makes it.
fn task_at_job_level(job: &mut Block) {
    if !job.body.has_blocks("task") {
        return;
    }
    let old = std::mem::take(&mut job.body);
    for s in old.into_iter() {
        match s {
            Structure::Block(t) if t.ident.as_str() == "task" => {
                // The task's own ident, renamed, keeps its place in the file.
                let mut ident = t.ident.clone();
                *ident = hcl_edit::Ident::new("group");
                let mut g = Block::builder(ident).labels(t.labels.clone()).build();
                g.body.push(hcl_edit::structure::Attribute::new(hcl_edit::Ident::new("count"), Expression::from(1)));
                g.body.push(t);
                job.body.push(g);
            }
            other => job.body.push(other),
        }
    }
}

/// A syntax error's place and message. hcl-edit lets a quoted string run
/// on past its line and then reports a confusing place; HCL forbids that, so
/// an unterminated string is found here and reported where it starts.
pub(super) fn syntax_error(src: &str, e: &hcl_edit::parser::Error) -> (usize, usize, String) {
    let index = super::diag::LineIndex::new(src);
    // hcl-edit's byte offset, turned into a character column here (its own
    // column counts bytes after some non-ASCII text).
    let off = e.location().offset();
    let pos = index.pos(off);
    if let Some((l, c)) = unterminated_string(src)
        && l <= pos.line
    {
        return (l, c, "unterminated string — close it with `\"` on the same line".into());
    }
    // At the end of the input the parser points at the last byte; the place
    // is just past it.
    let rest = src.get(off..).unwrap_or("");
    let at_end = rest.trim().is_empty() || (off + 1 >= src.len() && e.message().contains("expected `}`"));
    let pos = if at_end { index.pos(src.len()) } else { pos };
    let message = if at_end {
        "unexpected end of file — a block is not closed; add the missing `}`".to_string()
    } else if e.message().contains("redefined") {
        "this attribute is already set in this block — remove one of the two".to_string()
    } else {
        format!("syntax error: {} — check the brackets, quotes and `=` here", e.message())
    };
    (pos.line, pos.column, message)
}

/// The line and column of the first quoted string that is not closed on
/// its line, skipping comments and heredocs.
pub(super) fn unterminated_string(src: &str) -> Option<(usize, usize)> {
    let mut in_block_comment = false;
    let mut heredoc: Option<String> = None;
    for (ln, line) in src.lines().enumerate() {
        if let Some(tag) = &heredoc {
            if line.trim() == tag {
                heredoc = None;
            }
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if in_block_comment {
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    in_block_comment = false;
                    i += 1;
                }
                i += 1;
                continue;
            }
            match chars[i] {
                '#' => break,
                '/' if chars.get(i + 1) == Some(&'/') => break,
                '/' if chars.get(i + 1) == Some(&'*') => {
                    in_block_comment = true;
                    i += 1;
                }
                '<' if chars.get(i + 1) == Some(&'<') => {
                    let tag: String = chars[i + 2..]
                        .iter()
                        .skip_while(|c| **c == '-')
                        .take_while(|c| c.is_alphanumeric() || **c == '_')
                        .collect();
                    if !tag.is_empty() {
                        heredoc = Some(tag);
                        break;
                    }
                }
                '"' => {
                    let start = i;
                    let mut depth = 0usize;
                    let mut closed = false;
                    i += 1;
                    while i < chars.len() {
                        match chars[i] {
                            '\\' => i += 1,
                            '$' | '%' if chars.get(i + 1) == Some(&'{') => {
                                depth += 1;
                                i += 1;
                            }
                            '}' if depth > 0 => depth -= 1,
                            '"' if depth == 0 => {
                                closed = true;
                                break;
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    if !closed {
                        return Some((ln + 1, start + 1));
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    None
}

/// A name in quotes that reads well even when it holds quotes itself.
pub(super) fn quote(name: &str) -> String {
    if name.contains('"') { format!("'{name}'") } else { format!("\"{name}\"") }
}

/// `job "web"`, or `this job` when it has no name.
pub(super) fn named(kind: &str, name: &str) -> String {
    if name.is_empty() { format!("this {kind}") } else { format!("{kind} {name:?}") }
}

use super::version as node_version;
