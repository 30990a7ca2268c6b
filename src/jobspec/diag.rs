//! Problems found in a job file, each with its place (`FILE:LINE:COL`), what
//! is wrong and how to fix it. Validation collects them all instead of
//! stopping at the first.

use serde::Serialize;
use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// `None` for problems with the file as a whole (unreadable, too large).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}: {}", self.file, self.severity, self.message),
            _ => write!(f, "{}: {}: {}", self.file, self.severity, self.message),
        }
    }
}

/// Maps byte offsets of one source text to lines and columns.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line.saturating_sub(1)];
        let column = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        Pos { line, column }
    }
}

/// Collects the diagnostics of one file.
pub struct Sink<'a> {
    pub file: String,
    pub lines: LineIndex<'a>,
    pub items: Vec<Diagnostic>,
    seen: std::collections::HashSet<(Option<usize>, Option<usize>, Severity, String)>,
    /// Places where evaluating the job file failed: the decoder's own
    /// complaint about the unevaluated expression there is left out.
    claimed: std::collections::HashSet<(Option<usize>, Option<usize>)>,
    errors: usize,
}

impl<'a> Sink<'a> {
    pub fn new(file: &str, text: &'a str) -> Self {
        Sink {
            file: file.to_string(),
            lines: LineIndex::new(text),
            items: Vec::new(),
            seen: std::collections::HashSet::new(),
            errors: 0,
            claimed: Default::default(),
        }
    }

    /// Records a problem; the same problem at the same place is recorded
    /// once (a job-level block inherited by several groups, say).
    pub fn at(&mut self, span: Option<Range<usize>>, severity: Severity, message: String) {
        let pos = span.map(|s| self.lines.pos(s.start));
        self.push(Diagnostic {
            file: self.file.clone(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            severity,
            message,
        });
    }

    /// An evaluation error at `span`; later errors at the same place are
    /// consequences of it and left out.
    pub fn eval_error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.error(span.clone(), message);
        self.claim(span);
    }

    /// Leaves out later errors at `span`: what is wrong there was already
    /// said elsewhere.
    pub fn claim(&mut self, span: Option<Range<usize>>) {
        let pos = span.map(|s| self.lines.pos(s.start));
        self.claimed.insert((pos.map(|p| p.line), pos.map(|p| p.column)));
    }

    pub fn push(&mut self, d: Diagnostic) {
        if d.severity == Severity::Error && self.claimed.contains(&(d.line, d.column)) {
            return;
        }
        if self.seen.insert((d.line, d.column, d.severity, d.message.clone())) {
            if d.severity == Severity::Error {
                self.errors += 1;
            }
            self.items.push(d);
        }
    }

    pub fn error_count(&self) -> usize {
        self.errors
    }

    pub fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.at(span, Severity::Error, message.into());
    }

    pub fn warn(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.at(span, Severity::Warning, message.into());
    }

    pub fn pos(&self, span: &Option<Range<usize>>) -> Pos {
        span.as_ref().map(|s| self.lines.pos(s.start)).unwrap_or_default()
    }

    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

/// The closest candidate to a misspelt name, for "did you mean".
pub fn did_you_mean<'k>(name: &str, candidates: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    // Typos are in short names; long ones would only cost time.
    const LONGEST: usize = 64;
    if name.len() > LONGEST {
        return None;
    }
    let limit = (name.chars().count() / 3).clamp(1, 3);
    let candidates: Vec<&str> = candidates.into_iter().filter(|c| c.len() <= LONGEST).collect();
    candidates
        .iter()
        .map(|c| (distance(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
        .or_else(|| candidates.iter().copied().find(|c| same_words(name, c)))
}

/// One driver's name for another's key: the same words, each a prefix of
/// the other's (`work_dir` and `working_dir`).
fn same_words(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let (wa, wb): (Vec<&str>, Vec<&str>) = (a.split('_').collect(), b.split('_').collect());
    a != b
        && wa.len() == wb.len()
        && wa.iter().zip(&wb).all(|(x, y)| !x.is_empty() && !y.is_empty() && (x.starts_with(y) || y.starts_with(x)))
}

/// Optimal string alignment distance (Levenshtein plus adjacent swaps).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let idx = LineIndex::new("ab\nµx = 1\n");
        assert_eq!(idx.pos(0), Pos { line: 1, column: 1 });
        assert_eq!(idx.pos(3), Pos { line: 2, column: 1 });
        // 'x' follows a two-byte character: byte 5, column 2.
        assert_eq!(idx.pos(5), Pos { line: 2, column: 2 });
        assert_eq!(idx.pos(100), Pos { line: 3, column: 1 });
    }

    #[test]
    fn suggestions() {
        let keys = ["attempts", "interval", "delay", "mode"];
        assert_eq!(did_you_mean("atempts", keys), Some("attempts"));
        assert_eq!(did_you_mean("intreval", keys), Some("interval"));
        assert_eq!(did_you_mean("dealy", keys), Some("delay"));
        assert_eq!(did_you_mean("colour", keys), None);
    }
}
