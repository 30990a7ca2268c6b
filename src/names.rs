//! Job, group and task names: what a name may hold, the one function that
//! builds a path from names, and how a name is shown. A name becomes a
//! directory or file under the log directory and part of a cgroup's name,
//! so it must stay one plain path component, short enough for every name
//! supd makes of it; and it is printed in terminals, so it holds nothing a
//! terminal would act on.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The longest job, group or task name, in bytes: a task's log files are
/// `<job>/<group>[<index>]/<task>.stderr.N`, each part well within the 255
/// bytes of a file name.
pub const MAX_LEN: usize = 128;

/// The longest a job's, a group's and a task's names may be together, in
/// bytes: the task's cgroup is named `JOB.GROUP.INDEX.TASK.ID`, the three
/// names with an index of up to 10 digits, 8 characters of the instance's
/// ID and 4 dots, at most 252 bytes of the 255 a file name may have.
pub const MAX_TOGETHER: usize = 230;

/// The longest file name Linux file systems and cgroupfs take.
const NAME_MAX: usize = 255;

/// What a name names, for the rules that differ and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A job's ID (its label).
    Job,
    /// A job's display name (its `name` attribute): never part of a path.
    JobName,
    Group,
    Task,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Job => "job name",
            Kind::JobName => "job's `name`",
            Kind::Group => "group name",
            Kind::Task => "task name",
        }
    }
}

/// Characters that change how text around them is shown without showing
/// themselves: control characters, and the invisible format characters
/// that reorder or hide text (bidirectional overrides, zero-width marks).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// What is wrong with a name, as a message that says how to fix it; `None`
/// when it is fine. Nomad's rules (no empty names; no space in a job ID; no
/// NUL anywhere; no `/` or `\` in a task name) and supd's (no `/` in any
/// name, not `.` or `..`, no control or invisible characters, at most
/// [`MAX_LEN`] bytes).
pub fn problem(kind: Kind, name: &str) -> Option<String> {
    let what = kind.noun();
    let shown = quoted(name);
    if name.is_empty() {
        return Some(format!("the {what} is empty — give it a name, e.g. \"web\""));
    }
    if let Some(c) = name.chars().find(|&c| is_hidden(c)) {
        let which = match c {
            '\0' => "a NUL character".to_string(),
            c if c.is_control() => format!("the control character {}", c.escape_debug()),
            c => format!("the invisible character {}", c.escape_debug()),
        };
        return Some(format!("the {what} {shown} holds {which} — use letters, digits, `-`, `_` and `.`"));
    }
    if kind == Kind::JobName {
        return None;
    }
    if name.contains('/') {
        return Some(format!(
            "the {what} {shown} holds `/`, which would make it a path of its own — use `-` or `_` instead"
        ));
    }
    if kind == Kind::Task && name.contains('\\') {
        return Some(format!("the {what} {shown} holds `\\`, which Nomad refuses in a task name — use `-` or `_`"));
    }
    if kind == Kind::Job && name.contains(' ') {
        return Some(format!("the {what} {shown} holds a space, which Nomad refuses in a job ID — use `-` or `_`"));
    }
    if name == "." || name == ".." {
        return Some(format!("the {what} {shown} names a directory — choose another name"));
    }
    if name.len() > MAX_LEN {
        return Some(format!(
            "the {what} is {} bytes long; names become file and cgroup names and may be at most {MAX_LEN} bytes — shorten it",
            name.len()
        ));
    }
    None
}

/// What is wrong with a task's names together (each one being fine).
pub fn together_problem(job: &str, group: &str, task: &str) -> Option<String> {
    let total = job.len() + group.len() + task.len();
    (total > MAX_TOGETHER).then(|| {
        format!(
            "the job, group and task names are {total} bytes together; they name the task's cgroup and may be at most {MAX_TOGETHER} bytes together — shorten one"
        )
    })
}

/// A name in quotes for a message: escaped, and cut after 40 characters.
fn quoted(name: &str) -> String {
    let cut: String = name.chars().take(40).collect();
    let more = if cut.len() < name.len() { "…" } else { "" };
    format!("\"{}{more}\"", printable(&cut))
}

/// Why a path could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub part: String,
    pub why: &'static str,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} cannot be a file name: {}", quoted(&self.part), self.why)
    }
}

impl std::error::Error for PathError {}

impl From<PathError> for std::io::Error {
    fn from(e: PathError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// `base/part1/part2/…`, every part one plain file name: not empty, not `.`
/// or `..`, without `/`, NUL or control characters, at most 255 bytes. The
/// path is always below `base`, whatever the parts hold; a part that would
/// lead elsewhere is an error. Every path supd builds from a job, group or
/// task name is built here.
pub fn beneath(base: &Path, parts: &[&str]) -> Result<PathBuf, PathError> {
    let mut path = base.to_path_buf();
    for part in parts {
        let why = if part.is_empty() {
            Some("it is empty")
        } else if *part == "." || *part == ".." {
            Some("it names a directory")
        } else if part.contains('/') {
            Some("it holds a `/`")
        } else if part.chars().any(is_hidden) {
            Some("it holds a control character")
        } else if part.len() > NAME_MAX {
            Some("it is longer than 255 bytes")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(PathError { part: part.to_string(), why });
        }
        path.push(part);
    }
    Ok(path)
}

/// A name (or any text from a job file or a peer) as it can be printed
/// safely: control and invisible characters escaped (`\u{1b}`, `\n`, `\0`),
/// everything else as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "..",
        ".",
        "../../../escape",
        "/abs",
        "/tmp/x/abs",
        "a/b",
        "collide/y",
        "y/z",
        "nul\0x",
        "esc\u{1b}[31mred",
        "line\nbreak",
        "right\u{202e}left",
        "",
    ];

    #[test]
    fn hostile_names_are_refused_and_good_ones_kept() {
        for kind in [Kind::Job, Kind::Group, Kind::Task] {
            for name in HOSTILE {
                assert!(problem(kind, name).is_some(), "{kind:?} {name:?} passes");
            }
            let long = "x".repeat(10_000);
            let p = problem(kind, &long).expect("10 000 bytes is refused");
            assert!(p.contains("10000 bytes") && p.len() < 200, "{p}");
            assert!(problem(kind, &"x".repeat(MAX_LEN)).is_none());
            assert!(problem(kind, &"é".repeat(MAX_LEN / 2 + 1)).is_some(), "bytes, not characters");
            assert!(problem(kind, &"x".repeat(MAX_LEN + 1)).is_some());
            for good in ["web", "redis-cache_2", ".hidden", "a.b", "ünïcødé", "a..b", "x[0]"] {
                assert_eq!(problem(kind, good), None, "{kind:?} {good:?}");
            }
        }
        let (a, b) = ("x".repeat(100), "y".repeat(31));
        assert_eq!(together_problem(&a, &b[1..], &a), None);
        let p = together_problem(&a, &b, &a).expect("too long together");
        assert!(p.contains("231 bytes together"), "{p}");
        // Nomad's own rules, which differ by kind.
        assert!(problem(Kind::Job, "my job").is_some());
        assert_eq!(problem(Kind::Group, "my group"), None);
        assert!(problem(Kind::Task, "back\\slash").is_some());
        assert_eq!(problem(Kind::Group, "back\\slash"), None);
        // A display name is never a path: only what a terminal would act on.
        assert_eq!(problem(Kind::JobName, "a/b c"), None);
        assert!(problem(Kind::JobName, "a\0b").is_some());
        // The message shows a hostile name escaped.
        let p = problem(Kind::Job, "esc\u{1b}[31mred").unwrap();
        assert!(!p.contains('\u{1b}') && p.contains("\\u{1b}"), "{p}");
    }

    #[test]
    fn a_path_never_leaves_its_base() {
        let base = Path::new("/var/log/supd");
        for name in HOSTILE {
            assert!(beneath(base, &[name]).is_err(), "{name:?}");
            assert!(beneath(base, &["job", name]).is_err(), "job/{name:?}");
        }
        assert!(beneath(base, &[&"x".repeat(10_000)]).is_err());
        assert!(beneath(base, &[&"x".repeat(255)]).is_ok());
        let p = beneath(base, &["web", "g[0]", "t.stdout.3"]).unwrap();
        assert_eq!(p, Path::new("/var/log/supd/web/g[0]/t.stdout.3"));
        // What passes is exactly one component each, below the base.
        for parts in [&["a..b", ".x"][..], &["...", "x y"], &["ünï", "-"]] {
            let p = beneath(base, parts).unwrap();
            assert!(p.starts_with(base));
            assert_eq!(p.components().count(), base.components().count() + parts.len(), "{p:?}");
        }
        // Names that used to collide (job "collide/y" group "z", job
        // "collide" group "y/z") cannot make a path at all.
        assert!(beneath(base, &["collide/y", "z[0]"]).is_err());
        assert!(beneath(base, &["collide", "y/z[0]"]).is_err());
        let e = beneath(base, &["esc\u{1b}x"]).unwrap_err().to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn printing_escapes_what_a_terminal_would_act_on() {
        assert!(matches!(printable("plain ünï"), Cow::Borrowed("plain ünï")));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("a\nb\0"), "a\\nb\\0");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
    }
}
