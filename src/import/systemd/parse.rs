//! Reading a unit file as systemd reads it (systemd.syntax(7)): sections,
//! `Key=Value` lines, comments and continued lines.

use crate::import::ImportError;

/// One `Key=Value` of a unit file, with the line it starts on.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) section: String,
    pub(super) key: String,
    pub(super) value: String,
    pub(super) line: usize,
}

/// Whether a line ends in an unescaped backslash: it continues.
fn continues(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

pub(super) fn parse_unit(file: &str, text: &str) -> Result<Vec<Entry>, ImportError> {
    let syntax = |line: usize, message: String| ImportError::Syntax { file: file.to_string(), line, message };
    let mut entries = Vec::new();
    let mut section = String::new();
    let mut lines = text.strip_prefix('\u{feff}').unwrap_or(text).lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let mut logical = String::new();
        let mut cur = raw.to_string();
        while continues(&cur) {
            logical.push_str(&cur[..cur.len() - 1]);
            logical.push(' ');
            cur = String::new();
            for (_, next) in lines.by_ref() {
                let t = next.trim_start();
                if t.starts_with('#') || t.starts_with(';') {
                    continue;
                }
                cur = next.to_string();
                break;
            }
        }
        logical.push_str(&cur);
        let l = logical.trim();
        if l.starts_with('[') {
            match l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(s) if !s.is_empty() && !s.contains(['[', ']']) => section = s.to_string(),
                _ => return Err(syntax(line, format!("{l:?} is not a section header — write it as [Service]"))),
            }
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(syntax(line, format!("{l:?} is not an assignment — write it as Key=Value")));
        };
        let key = k.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(syntax(line, format!("{l:?}: {key:?} is not a setting's name")));
        }
        entries.push(Entry { section: section.clone(), key: key.to_string(), value: v.trim().to_string(), line });
    }
    Ok(entries)
}
