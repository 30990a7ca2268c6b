//! Decoding a `template` block: its text checked as a Go template (each
//! problem at its place in the job file), destination, delimiters and change mode.

use super::{CHANGE_SCRIPT, ChangeMode, ChangeScript, TEMPLATE, Template, TemplateSource, destination_place, unescape};
use crate::jobspec::diag::did_you_mean;
use crate::jobspec::gotemplate;
use crate::jobspec::reader::Reader;
use crate::signals::NAMES;
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;
use std::time::Duration;

pub(super) fn template(r: &mut Reader, block: &Block) -> Option<Template> {
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
pub(super) fn source_map(src: &str, expr: &Expression) -> Option<(String, Vec<usize>)> {
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
