//! `supctl import`: existing service definitions → supd job files.
//!
//! Design. Each importer ([`systemd`], [`supervisord`], [`runit`]) is a
//! pure function from the text of a definition to [`Converted`] jobs: it
//! reads no file and looks nothing up on the host, so that it can be
//! tested on inline texts and the command decides where text comes from
//! and where jobs go. An importer fills a small model of the one shape of
//! job it makes (`JobOut`: one job, one group, a main task and perhaps
//! lifecycle hook tasks), and this module writes that model as HCL, so
//! quoting lives in one place: every string is written as a literal (no
//! `${…}` or `%{…}` of the source is ever interpolated by supd), every
//! name is a valid supd name, and every block is written on lines of its
//! own (HCL allows one attribute at most in a one-line block).
//!
//! What has no exact equivalent is never dropped silently: each
//! approximation becomes a note, returned in [`Converted::notes`] and
//! written as a `#` comment where it applies in the job file (job notes
//! under `type`, restart notes above the `restart` block, task notes at
//! the end of their task).

pub mod runit;
pub mod supervisord;
pub mod systemd;

use std::time::Duration;

/// One job converted from a service definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The job's name (its ID, and the name of its group and main task).
    pub name: String,
    /// A complete job file.
    pub hcl: String,
    /// Directives with no exact equivalent, and what was chosen for each.
    pub notes: Vec<String>,
}

/// Why a definition could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A systemd unit that is not a `.service` unit.
    #[error("{file}: not a service unit{why} — supctl import converts .service units only")]
    NotAService { file: String, why: String },
    /// Nothing to run: no `ExecStart=`, no `command=`, an empty run script.
    #[error("{file}: {what} — there is nothing to run{hint}")]
    NoCommand { file: String, what: String, hint: String },
    /// A line that cannot be read, or a value the source program would refuse.
    #[error("{file}:{line}: {message}")]
    Syntax { file: String, line: usize, message: String },
    /// A supervisord file without any `[program:NAME]` section.
    #[error("{file}: no [program:NAME] section — there is nothing to import{hint}")]
    NoPrograms { file: String, hint: String },
}

// --- names ---------------------------------------------------------------

/// The longest name the importers make.
pub const MAX_NAME: usize = 64;

/// A valid supd job, group or task name made of `raw`: ASCII letters,
/// digits, `-`, `_` and `.` (anything else becomes `-`), no leading `.`,
/// at most [`MAX_NAME`] bytes, never empty.
pub fn name(raw: &str) -> String {
    let mapped: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect();
    let mut out = mapped.trim_start_matches('.').to_string();
    // Only ASCII is left, so any byte is a character boundary.
    out.truncate(MAX_NAME);
    if out.is_empty() { "imported".to_string() } else { out }
}

/// `base` (a name from [`name`]) with `suffix` appended, still at most
/// [`MAX_NAME`] bytes: the base is shortened, never the suffix, so that a
/// derived task name never equals the main task's.
pub fn derived_name(base: &str, suffix: &str) -> String {
    let mut out = name(base);
    out.truncate(MAX_NAME.saturating_sub(suffix.len()));
    out.push_str(suffix);
    name(&out)
}

// --- HCL writing -----------------------------------------------------------

/// Stands for `${NOMAD_ALLOC_INDEX}` in the strings of a task with
/// `TaskOut::indexed` set (supervisord's `%(process_num)s`): the one
/// interpolation an importer writes on purpose. Importers that set it
/// first replace this character in their input.
pub(crate) const ALLOC_INDEX: char = '\u{E000}';

/// `s` as an HCL quoted string whose value is exactly `s`: `\` and `"`
/// escaped, control characters as escapes, and `${` / `%{` doubled so that
/// supd interpolates nothing.
pub fn quote(s: &str) -> String {
    quote_with(s, false)
}

/// [`quote`], with [`ALLOC_INDEX`] written as `${NOMAD_ALLOC_INDEX}`.
pub(crate) fn quote_indexed(s: &str) -> String {
    quote_with(s, true)
}

fn quote_with(s: &str, indexed: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("$$"),
            '%' if chars.peek() == Some(&'{') => out.push_str("%%"),
            ALLOC_INDEX if indexed => out.push_str("${NOMAD_ALLOC_INDEX}"),
            c if c.is_control() || crate::names::is_hidden(c) || c == ALLOC_INDEX => {
                // Every such character is in the Basic Multilingual Plane.
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list of strings: `["a", "b"]`.
pub fn quote_list(items: &[String]) -> String {
    list_with(items, quote)
}

fn list_with(items: &[String], q: fn(&str) -> String) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A duration as supd reads it (Go's grammar): `100ms`, `10s`, `1m30s`, `1h`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if !ns.is_multiple_of(1_000_000_000) {
        return if ns.is_multiple_of(1_000_000) {
            format!("{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            format!("{}us", ns / 1_000)
        } else {
            format!("{ns}ns")
        };
    }
    let secs = ns / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// A signal as supd's `kill_signal` takes it (`SIGTERM`), from what
/// [`crate::signals::parse`] reads (`TERM`, `SIGTERM`, `sigterm`, a Linux
/// number, the aliases `IOT`, `POLL` and `CLD`); `None` when supd does not
/// know it.
pub fn signal_name(s: &str) -> Option<String> {
    crate::signals::parse(s).map(|s| s.as_str().to_string())
}

/// Writes `text` as `#` comments at `indent`, wrapped near 100 columns;
/// characters that would end the comment or hide text are replaced.
fn comment(out: &mut String, indent: usize, text: &str) {
    let width = 100usize.saturating_sub(indent + 2).max(40);
    for para in text.split('\n') {
        let clean: String =
            para.chars().map(|c| if c.is_control() || crate::names::is_hidden(c) { '\u{FFFD}' } else { c }).collect();
        let mut line = String::new();
        for word in clean.split(' ') {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                push_comment_line(out, indent, &line);
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        push_comment_line(out, indent, &line);
    }
}

fn push_comment_line(out: &mut String, indent: usize, line: &str) {
    out.push_str(&" ".repeat(indent));
    let line = line.trim_end();
    if line.is_empty() {
        out.push_str("#\n");
    } else {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
}

/// `key = value` lines at `indent`, their `=` aligned.
fn attrs(out: &mut String, indent: usize, pairs: &[(String, String)]) {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    for (k, v) in pairs {
        let pad = width - k.chars().count();
        out.push_str(&format!("{}{k}{} = {v}\n", " ".repeat(indent), " ".repeat(pad)));
    }
}

/// Whether `key` can be written bare as an attribute name.
fn is_plain_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(key, "true" | "false" | "null")
}

// --- the job model -----------------------------------------------------------

/// A restart policy to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestartOut {
    pub attempts: u32,
    pub interval: Option<Duration>,
    pub delay: Option<Duration>,
    /// `mode = "delay"`, else `"fail"`.
    pub delay_mode: bool,
}

impl RestartOut {
    /// Never restart: `attempts = 0`, `mode = "fail"`.
    pub fn never() -> RestartOut {
        RestartOut { attempts: 0, interval: None, delay: None, delay_mode: false }
    }

    /// Restart after `delay`, at most `attempts` times in `interval`, then
    /// wait (`mode = "delay"`). The interval is raised to `delay` ×
    /// `attempts` when shorter (supd refuses such a policy); returns the
    /// note that says so, if it was.
    pub fn delayed(attempts: u32, interval: Duration, delay: Duration) -> (RestartOut, Option<String>) {
        let attempts = attempts.max(1);
        let needed = delay.saturating_mul(attempts);
        let mut note = None;
        let mut interval = interval;
        if needed > interval || interval.is_zero() {
            let raised = needed.max(Duration::from_secs(1));
            note = Some(format!(
                "interval raised from {} to {}: supd needs room for {attempts} restarts {} apart in the interval",
                duration(interval),
                duration(raised),
                duration(delay)
            ));
            interval = raised;
        }
        (RestartOut { attempts, interval: Some(interval), delay: Some(delay), delay_mode: true }, note)
    }
}

/// A task to write: always `driver = "raw_exec"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TaskOut {
    pub name: String,
    /// `prestart`, `poststart` or `poststop`: a lifecycle hook task.
    pub hook: Option<&'static str>,
    pub user: Option<String>,
    pub command: String,
    pub args: Vec<String>,
    pub work_dir: Option<String>,
    /// In order; each name once.
    pub env: Vec<(String, String)>,
    pub kill_signal: Option<String>,
    pub kill_timeout: Option<Duration>,
    /// `resources { memory = … }`, in MB.
    pub memory_mb: Option<u64>,
    pub notes: Vec<String>,
    /// [`ALLOC_INDEX`] in `command`, `args`, `work_dir` and `env` values
    /// stands for `${NOMAD_ALLOC_INDEX}`.
    pub indexed: bool,
}

impl TaskOut {
    /// Sets `name` in the environment, over an earlier value.
    pub fn set_env(&mut self, name: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.env.push((name.to_string(), value.to_string())),
        }
    }

    fn render(&self, out: &mut String) {
        let q: fn(&str) -> String = if self.indexed { quote_indexed } else { quote };
        out.push_str(&format!("    task {} {{\n", quote(&self.name)));
        out.push_str("      driver = \"raw_exec\"\n");
        if let Some(hook) = self.hook {
            out.push_str(&format!("\n      lifecycle {{\n        hook = {}\n      }}\n\n", quote(hook)));
        }
        if let Some(user) = &self.user {
            out.push_str(&format!("      user = {}\n", quote(user)));
        }
        out.push_str("      config {\n");
        let mut config = vec![("command".to_string(), q(&self.command))];
        let one_line = list_with(&self.args, q);
        let long = one_line.chars().count() > 80;
        if !self.args.is_empty() && !long {
            config.push(("args".to_string(), one_line));
        }
        if let Some(dir) = &self.work_dir {
            config.push(("work_dir".to_string(), q(dir)));
        }
        attrs(out, 8, &config);
        if !self.args.is_empty() && long {
            out.push_str("        args = [\n");
            for a in &self.args {
                out.push_str(&format!("          {},\n", q(a)));
            }
            out.push_str("        ]\n");
        }
        out.push_str("      }\n");
        if !self.env.is_empty() {
            let pairs: Vec<(String, String)> = self.env.iter().map(|(k, v)| (k.clone(), q(v))).collect();
            if self.env.iter().all(|(k, _)| is_plain_key(k)) {
                out.push_str("\n      env {\n");
                attrs(out, 8, &pairs);
                out.push_str("      }\n");
            } else {
                out.push_str("\n      env = {\n");
                let quoted: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (quote(&k), v)).collect();
                attrs(out, 8, &quoted);
                out.push_str("      }\n");
            }
        }
        let mut kill = Vec::new();
        if let Some(sig) = &self.kill_signal {
            kill.push(("kill_signal".to_string(), quote(sig)));
        }
        if let Some(t) = self.kill_timeout {
            kill.push(("kill_timeout".to_string(), quote(&duration(t))));
        }
        if !kill.is_empty() {
            out.push('\n');
            attrs(out, 6, &kill);
        }
        if let Some(mb) = self.memory_mb {
            out.push_str(&format!("\n      resources {{\n        memory = {mb}\n      }}\n"));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                comment(out, 6, n);
            }
        }
        out.push_str("    }\n");
    }
}

/// A job of one group to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JobOut {
    /// What the job was converted from, for the first comment line.
    pub source: String,
    /// Comment lines under that one (a unit's description).
    pub comments: Vec<String>,
    /// The job's name, also its group's.
    pub name: String,
    /// `type = "batch"`, else `"service"`.
    pub batch: bool,
    pub count: Option<u32>,
    pub restart: Option<RestartOut>,
    pub restart_notes: Vec<String>,
    /// Notes about the job as a whole.
    pub notes: Vec<String>,
    /// The main task last: hook tasks first, in the order they run.
    pub tasks: Vec<TaskOut>,
}

impl JobOut {
    /// The job file and every note, in the order the file shows them.
    pub fn finish(self) -> Converted {
        let hcl = self.render();
        let mut notes = self.notes;
        notes.extend(self.restart_notes);
        for t in self.tasks {
            notes.extend(t.notes);
        }
        Converted { name: self.name, hcl, notes }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        comment(&mut out, 0, &format!("Converted from {} by supctl import.", self.source));
        for c in &self.comments {
            comment(&mut out, 0, c);
        }
        out.push_str(&format!("job {} {{\n", quote(&self.name)));
        out.push_str(&format!("  type = {}\n", quote(if self.batch { "batch" } else { "service" })));
        for n in &self.notes {
            comment(&mut out, 2, n);
        }
        out.push_str(&format!("\n  group {} {{\n", quote(&self.name)));
        if let Some(count) = self.count {
            out.push_str(&format!("    count = {count}\n\n"));
        }
        for n in &self.restart_notes {
            comment(&mut out, 4, n);
        }
        if let Some(r) = &self.restart {
            out.push_str("    restart {\n");
            let mut pairs = vec![("attempts".to_string(), r.attempts.to_string())];
            if let Some(i) = r.interval {
                pairs.push(("interval".to_string(), quote(&duration(i))));
            }
            if let Some(d) = r.delay {
                pairs.push(("delay".to_string(), quote(&duration(d))));
            }
            pairs.push(("mode".to_string(), quote(if r.delay_mode { "delay" } else { "fail" })));
            attrs(&mut out, 6, &pairs);
            out.push_str("    }\n");
        }
        for t in &self.tasks {
            out.push('\n');
            t.render(&mut out);
        }
        out.push_str("  }\n}\n");
        out
    }
}

/// What the converters' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::Converted;

    /// The job of a converted file, which must be valid.
    pub fn valid(hcl: &str) -> crate::jobspec::Job {
        let p = crate::jobspec::parse_str("x.hcl", hcl);
        assert!(p.is_valid(), "{:?}\n{hcl}", p.diagnostics);
        assert_eq!(p.jobs.len(), 1);
        p.jobs.into_iter().next().expect("a job")
    }

    pub fn has_note(c: &Converted, part: &str) -> bool {
        c.notes.iter().any(|n| n.contains(part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_the_text_literal() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("x\ny\tz"), r#""x\ny\tz""#);
        assert_eq!(quote("${HOME} %{if} $HOME 100%"), r#""$${HOME} %%{if} $HOME 100%""#);
        assert_eq!(quote("$${x}"), r#""$$${x}""#);
        assert_eq!(quote("\u{1}"), r#""\u0001""#);
        assert_eq!(quote_indexed("p\u{E000}"), r#""p${NOMAD_ALLOC_INDEX}""#);
        assert_eq!(quote("p\u{E000}"), r#""p\uE000""#);
    }

    #[test]
    fn quoted_strings_read_back_as_written() {
        let tricky = "a \"b\" \\c ${HOME} $${x} %{if} \n\ttab $ % {";
        let hcl = format!(
            "job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"raw_exec\"\n      config {{\n        command = \"/bin/echo\"\n        args = {}\n      }}\n    }}\n  }}\n}}\n",
            quote_list(&[tricky.to_string()])
        );
        let p = crate::jobspec::parse_str("x.hcl", &hcl);
        assert!(p.is_valid(), "{:?}", p.diagnostics);
        // Stored in the template form: a literal `${` is kept as `$${`.
        let stored = &p.jobs[0].groups[0].tasks[0].args[0];
        assert_eq!(stored, &tricky.replace("${", "$${").replace("%{", "%%{"));
    }

    #[test]
    fn names_are_valid_supd_names() {
        assert_eq!(name("foo@bar baz"), "foo-bar-baz");
        assert_eq!(name("..hidden"), "hidden");
        assert_eq!(name(""), "imported");
        assert_eq!(name("ünï"), "-n-");
        assert_eq!(name(&"x".repeat(100)).len(), MAX_NAME);
        let d = derived_name(&"x".repeat(100), "-prestart");
        assert_eq!(d.len(), MAX_NAME);
        assert!(d.ends_with("-prestart"));
    }

    #[test]
    fn durations_in_go_form() {
        assert_eq!(duration(Duration::from_millis(100)), "100ms");
        assert_eq!(duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(duration(Duration::from_secs(3600)), "1h");
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_micros(1500)), "1500us");
        for d in ["100ms", "1m30s", "1h", "0s", "1500us", "10s"] {
            assert!(crate::jobspec::duration::parse(d).is_ok(), "{d}");
        }
    }

    #[test]
    fn signals() {
        // What is read is crate::signals::parse's (tested there); the
        // name is the full one.
        assert_eq!(signal_name("IOT").as_deref(), Some("SIGABRT"));
        assert_eq!(signal_name("0"), None);
    }

    #[test]
    fn rendered_job_parses() {
        let (restart, note) = RestartOut::delayed(5, Duration::from_secs(10), Duration::from_secs(5));
        assert!(note.is_some());
        let mut task = TaskOut {
            name: "t".into(),
            command: "/bin/sleep".into(),
            args: vec!["1".into()],
            kill_signal: Some("SIGTERM".into()),
            kill_timeout: Some(Duration::from_secs(90)),
            memory_mb: Some(64),
            notes: vec!["a note\nover two lines".into()],
            ..TaskOut::default()
        };
        task.set_env("A", "1");
        task.set_env("weird.name", "2");
        task.set_env("A", "3");
        let job = JobOut {
            source: "test".into(),
            name: "j".into(),
            restart: Some(restart),
            restart_notes: note.into_iter().collect(),
            tasks: vec![task],
            ..JobOut::default()
        };
        let c = job.finish();
        assert!(c.hcl.contains("\"weird.name\" = \"2\""), "{}", c.hcl);
        assert!(c.hcl.contains("interval = \"25s\""), "{}", c.hcl);
        let p = crate::jobspec::parse_str("x.hcl", &c.hcl);
        assert!(p.is_valid(), "{:?}\n{}", p.diagnostics, c.hcl);
        let t = &p.jobs[0].groups[0].tasks[0];
        assert_eq!(t.env.get("A").map(String::as_str), Some("3"));
        assert_eq!(c.notes.len(), 2);
    }
}
