//! Rendering a `template` block: its text (from `data`, or the `source`
//! file read from the task directory) through Go's text/template by the
//! `gotmpl` crate, with the host-only functions of [`super::funcs`], then
//! written whole (a new file renamed over the old) with its mode and owner.
//! Files are read and written only below the task directory or the shared
//! `alloc/`, as Nomad's template sandbox does.
//!
//! Templates are parsed at each render, not kept parsed: a `source` file can
//! change between renders anyway, and parsing a small template costs
//! microseconds (see the measurement in the tests).

use super::beneath::{BeneathError, Dir, Owner};
use super::layout::TaskDir;
use crate::jobspec::gotemplate;
use crate::jobspec::taskdir_blocks::{Place, Template, TemplateSource, destination_place};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::scope::{Capped, OUTPUT_KEY, absolute_place, read_place};
pub use super::scope::{FileError, MAX_FILE, Scope, ServiceAddr, size_text};

/// What one render may see.
pub struct RenderInput<'a> {
    pub task: &'a TaskDir,
    /// The task's environment: what `env` returns.
    pub env: &'a BTreeMap<String, String>,
    /// Resolves `${...}` in `source` and `destination` (the same lookup as
    /// for `command` and `args`).
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    pub services: &'a [ServiceAddr],
    pub datacenter: &'a str,
    /// The Nomad Variables the task may read, by path: what `nomadVar`
    /// returns.
    pub variables: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// The variable paths the task may read: a `nomadVar` of one that
    /// holds nothing makes the render [`RenderError::Missing`].
    pub readable: &'a [String],
    /// The most bytes the rendered output may have (`template_bytes` under
    /// `[limits]` in supd.toml; [`MAX_FILE`] by default): rendering stops
    /// at the first write beyond it, and no function makes a value larger
    /// (`funcs.rs` measures each result that can outgrow what it is given
    /// before it is made).
    pub max_output: u64,
}

/// A path written in the job (a `destination`, a `source`) that resolves
/// outside the task directory; the text names it and says what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OutsideError(pub String);

/// Why a template could not be rendered; the text is what the task's
/// `Template failed` event says.
#[derive(Debug)]
pub enum RenderError {
    /// `source` or `destination` resolves outside the task directory.
    Place(String),
    /// The `source` file cannot be read.
    Source(String, BeneathError),
    /// The template does not parse, or names a function supd lacks.
    Syntax {
        what: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Executing it failed (a function's error, a missing key).
    Exec {
        what: String,
        message: String,
    },
    /// An `env = true` template rendered a line that is not `KEY=VALUE`.
    Env {
        what: String,
        line: usize,
        message: String,
    },
    Write(String, BeneathError),
    /// `nomadVar` read variables the task may read that nobody wrote yet
    /// (their paths): nothing is written, and the task waits for them.
    Missing(Vec<String>),
}

/// How Nomad's `Template` event names the variables a render waits for:
/// `nomad.var.block(PATH@default.global)`, the first three, then how many
/// more.
fn missing_text(paths: &[String]) -> String {
    let mut text: Vec<String> = paths.iter().take(3).map(|p| format!("nomad.var.block({p}@default.global)")).collect();
    if paths.len() > 3 {
        text.push(format!("and {} more", paths.len() - 3));
    }
    format!("Missing: {}", text.join(", "))
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Place(m) => f.write_str(m),
            RenderError::Source(p, e) => write!(f, "cannot read the template source {p}: {e}"),
            RenderError::Syntax { what, line, column, message } => write!(f, "{what}:{line}:{column}: {message}"),
            RenderError::Exec { what, message } => write!(f, "{what}: {message}"),
            RenderError::Env { what, line, message } => write!(f, "{what}: rendered line {line}: {message}"),
            RenderError::Write(p, e) => write!(f, "cannot write {p}: {e}"),
            RenderError::Missing(paths) => f.write_str(&missing_text(paths)),
        }
    }
}

impl std::error::Error for RenderError {}

/// A rendered template, not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub place: Place,
    /// The destination's host path.
    pub path: PathBuf,
    pub text: String,
    /// With `env = true`: the variables it sets, in file order.
    pub env: Vec<(String, String)>,
}

/// Where a destination written in the job (`${...}` resolved) lands. An
/// absolute path outside the task directory is taken relative to it, as
/// Nomad joins it.
pub fn resolve(task: &TaskDir, written: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<Place, OutsideError> {
    // The three directory variables stay as written: destination_place
    // knows them as places, not as host paths.
    let dirs = ["NOMAD_TASK_DIR", "NOMAD_SECRETS_DIR", "NOMAD_ALLOC_DIR"];
    let text = crate::jobspec::template::interpolate(written, &|n| if dirs.contains(&n) { None } else { vars(n) });
    if text.starts_with('/')
        && let Some(p) = absolute_place(task, Path::new(&text))
    {
        return Ok(p);
    }
    destination_place(&text).map_err(|e| OutsideError(e.to_string()))
}

/// The host path of a template's `source` file, to watch for changes;
/// `None` for `data`.
pub fn source_path(t: &Template, input: &RenderInput) -> Result<Option<PathBuf>, RenderError> {
    match &t.source {
        TemplateSource::Data(_) => Ok(None),
        TemplateSource::File(written) => {
            let place = resolve_source(input, written)?;
            Ok(Some(input.task.path_of(&place)))
        }
    }
}

/// Where a `source` lands: as a destination, except that an absolute path
/// is a host path, read only when inside the task directory or `alloc/`.
fn resolve_source(input: &RenderInput, written: &str) -> Result<Place, RenderError> {
    let place = resolve(input.task, written, input.vars).map_err(|e| RenderError::Place(e.to_string()))?;
    let text = crate::jobspec::template::interpolate(written, input.vars);
    if text.starts_with('/') && absolute_place(input.task, Path::new(&text)).is_none() {
        return Err(RenderError::Place(FileError::Outside(text).to_string()));
    }
    Ok(place)
}

/// Renders a template; nothing is written.
pub fn render(t: &Template, input: &RenderInput) -> Result<Rendered, RenderError> {
    let (text, what) = match &t.source {
        TemplateSource::Data(d) => (d.clone(), format!("template for {}", t.destination)),
        TemplateSource::File(written) => {
            let place = resolve_source(input, written)?;
            let bytes = read_place(input.task, &place).map_err(|e| RenderError::Source(written.clone(), e))?;
            let text = String::from_utf8(bytes).map_err(|_| RenderError::Exec {
                what: written.clone(),
                message: "the template file is not UTF-8 text".into(),
            })?;
            (text, written.clone())
        }
    };
    let place = resolve(input.task, &t.destination, input.vars).map_err(|e| RenderError::Place(e.to_string()))?;
    if place.parts.is_empty() {
        return Err(RenderError::Place(format!("destination {:?} names a directory, not a file", t.destination)));
    }
    let out = execute(&text, &what, t, input)?;
    let env = if t.env {
        parse_env(&out).map_err(|(line, message)| RenderError::Env { what: what.clone(), line, message })?
    } else {
        Vec::new()
    };
    Ok(Rendered { path: input.task.path_of(&place), place, text: out, env })
}

fn execute(text: &str, what: &str, t: &Template, input: &RenderInput) -> Result<String, RenderError> {
    let (l, r) = (t.left_delimiter.as_str(), t.right_delimiter.as_str());
    // Refused functions and block structure, as validation reports them; a
    // `source` file is seen here first.
    if let Some(p) = gotemplate::check(text, l, r).into_iter().next() {
        return Err(RenderError::Syntax { what: what.to_string(), line: p.line, column: p.column, message: p.message });
    }
    let scope = Arc::new(Scope {
        env: input.env.clone(),
        task: input.task.clone(),
        services: input.services.to_vec(),
        datacenter: input.datacenter.to_string(),
        variables: input.variables.clone(),
        readable: input.readable.to_vec(),
        missing: Default::default(),
        now: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default(),
        max_output: input.max_output,
    });
    let missing = if t.error_on_missing_key { gotmpl::MissingKey::Error } else { gotmpl::MissingKey::Invalid };
    let tmpl = gotmpl::Template::new("")
        .delims(l, r)
        .missing_key(missing)
        .max_range_iters(super::funcs::MAX_PIECES)
        .funcs(super::funcs::host_funcs(&scope))
        .funcs(super::funcs::bounded_builtins(input.max_output))
        .parse(text)
        .map_err(|e| {
            let p = gotemplate::syntax(e);
            RenderError::Syntax { what: what.to_string(), line: p.line, column: p.column, message: p.message }
        })?;
    let mut out = Capped { text: String::new(), limit: input.max_output, over: false };
    let done = tmpl.execute_fmt(&mut out, &gotmpl::Value::Nil);
    // A variable not written yet: whatever came of the rest (an empty
    // value may well have failed it), the render waits for it.
    let waits_for = scope.missing.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default();
    if !waits_for.is_empty() {
        return Err(RenderError::Missing(waits_for));
    }
    if out.over {
        return Err(RenderError::Exec {
            what: what.to_string(),
            message: format!(
                "the rendered output is over {} ({OUTPUT_KEY} in supd.toml), the limit of a template's output — render less, or fetch large files as an artifact",
                size_text(input.max_output)
            ),
        });
    }
    done.map(|()| out.text).map_err(|e| RenderError::Exec {
        what: what.to_string(),
        // A function's error may quote what it was given: never a
        // variable's value (errors are events any user may read).
        message: scrub(&e.to_string(), input.variables),
    })
}

/// `message` with every item value of `variables` (of 4 bytes or more)
/// replaced by `(a variable's value)`.
fn scrub(message: &str, variables: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut out = message.to_string();
    let mut values: Vec<&String> =
        variables.values().flat_map(|items| items.values()).filter(|v| v.len() >= 4).collect();
    // Longer first, so that a value holding another is hidden whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in values {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "(a variable's value)");
        }
    }
    out
}

/// Writes a rendered template with its mode and owner (the template's
/// `uid`/`gid` over `owner`, the task's user). Returns whether the file
/// changed.
pub fn write(t: &Template, task: &TaskDir, r: &Rendered, owner: Owner) -> Result<bool, RenderError> {
    let owner = match (t.uid, t.gid, owner) {
        (None, None, o) => o,
        (u, g, o) => {
            let (ou, og) = o.unwrap_or((nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw()));
            Some((u.unwrap_or(ou), g.unwrap_or(og)))
        }
    };
    let fail = |e| RenderError::Write(r.path.display().to_string(), e);
    let base = Dir::open(task.base(&r.place)).map_err(fail)?;
    let Some((name, dirs)) = r.place.parts.split_last() else {
        return Err(RenderError::Place(format!("destination {:?} names a directory, not a file", t.destination)));
    };
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let dir = base.subdir(&dirs, Some((0o755, owner))).map_err(fail)?;
    dir.write_atomic(name, r.text.as_bytes(), t.perms, owner).map_err(fail)
}

/// Renders and writes: what the supervisor calls before a start and when a
/// `source` file changed.
pub fn render_to_disk(t: &Template, input: &RenderInput, owner: Owner) -> Result<(Rendered, bool), RenderError> {
    let r = render(t, input)?;
    let changed = write(t, input.task, &r, owner)?;
    Ok((r, changed))
}

/// The `KEY=VALUE` lines of an `env = true` template, as Nomad reads them:
/// blank lines and `#` comments skipped, `export ` allowed, values in
/// double quotes unescaped, in single quotes taken as written. An error
/// gives the 1-based line.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err((i + 1, format!("{line:?} is not KEY=VALUE")));
        };
        let key = key.trim();
        let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err((i + 1, format!("{key:?} is not a variable name")));
        }
        let value = value.trim();
        let value = if let Some(q) = value.strip_prefix('"') {
            let Some(inner) = q.strip_suffix('"') else {
                return Err((i + 1, format!("the value of {key} opens a \" it does not close")));
            };
            unquote(inner)
        } else if let Some(q) = value.strip_prefix('\'') {
            match q.strip_suffix('\'') {
                Some(inner) => inner.to_string(),
                None => return Err((i + 1, format!("the value of {key} opens a ' it does not close"))),
            }
        } else {
            value.to_string()
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
