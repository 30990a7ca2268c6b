//! supervisord configuration files → supd jobs, one per `[program:NAME]`.
//!
//! Design. The file is read by hand, as Python 3's configparser reads it
//! for supervisord (supervisor's `UnhosedConfigParser`: inline comments,
//! non-strict), rather than with an INI crate: configparser's rules are
//! what a supervisord file means, and the INI crates differ on each of
//! them — a line indented deeper than its key's line continues the value
//! (joined with newlines, blank lines inside kept), `;` and `#` start a
//! comment at the start of a line or after whitespace, the first `=` or
//! `:` separates key and value, keys are case-insensitive, a section
//! named twice is merged, `[DEFAULT]` gives every section its keys — and
//! the line of every value is kept for messages.
//!
//! Values are expanded as supervisord expands them, with Python's
//! `%(name)s` formatting: `program_name`, `group_name`, `here` (the
//! file's directory), `numprocs` and `process_num`. With `numprocs` above
//! 1 the program becomes a group with that `count`, and `process_num`
//! becomes `${NOMAD_ALLOC_INDEX}` (0, 1, …) in the command, `directory`
//! and `environment`. `%(ENV_X)s` and `%(host_node_name)s` depend on
//! supervisord's process and are left as written, with a note.
//!
//! `command` is split as supervisord splits it (Python's `shlex.split`:
//! POSIX shell quoting, no shell); `environment` is read as supervisord
//! reads it (`KEY="val",KEY2="val2"`, a non-POSIX shlex).

use super::{ALLOC_INDEX, Converted, ImportError, JobOut, RestartOut, TaskOut, derived_name, name, signal_name};
use std::collections::BTreeMap;
use std::time::Duration;

mod error;
pub use error::ConfError;

/// Converts every `[program:NAME]` section of a supervisord file. `file`
/// is the file's path: it names the file in messages and gives `%(here)s`.
pub fn convert(file: &str, text: &str) -> Result<Vec<Converted>, ImportError> {
    // ALLOC_INDEX marks %(process_num)s: not the same character in the file.
    let text = text.replace(ALLOC_INDEX, "\u{FFFD}");
    let ini = parse_ini(file, &text)?;
    let here = match file.rsplit_once('/') {
        Some(("", _)) => Some("/".to_string()),
        Some((dir, _)) => Some(dir.to_string()),
        None => None,
    };
    let mut group_of: BTreeMap<String, String> = BTreeMap::new();
    for s in &ini.sections {
        if let Some(g) = s.name.strip_prefix("group:")
            && let Some(programs) = s.get("programs")
        {
            for p in programs.value.split(',') {
                group_of.insert(p.trim().to_string(), g.trim().to_string());
            }
        }
    }
    let mut jobs: Vec<JobOut> = Vec::new();
    let mut file_notes = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    let mut includes = false;
    for s in &ini.sections {
        let section = s.name.as_str();
        if let Some(prog) = section.strip_prefix("program:") {
            let prog = prog.trim();
            let mut job = name(prog);
            let mut n = 2;
            while taken.contains(&job) {
                job = derived_name(&name(prog), &format!("-{n}"));
                n += 1;
            }
            taken.push(job.clone());
            let ctx = Program {
                file,
                prog,
                job,
                section: s,
                defaults: &ini.defaults,
                group: group_of.get(prog),
                here: here.as_deref(),
            };
            jobs.push(ctx.convert()?);
        } else if section == "include" {
            includes = true;
            let files = s.get("files").map(|o| o.value.replace('\n', " ")).unwrap_or_default();
            file_notes.push(format!("[include] files = {files}: not read — import those files too"));
        } else if section.starts_with("eventlistener:") || section.starts_with("fcgi-program:") {
            file_notes.push(format!("[{section}] not converted: supd has no event listeners or FastCGI programs"));
        }
        // [supervisord], [supervisorctl], [unix_http_server],
        // [inet_http_server], [rpcinterface:*], [group:*]: supervisord's own.
    }
    if jobs.is_empty() {
        let hint =
            if includes { " (its [include] files may hold them: import those)".to_string() } else { String::new() };
        return Err(ImportError::NoPrograms { file: file.to_string(), hint });
    }
    if let Some(first) = jobs.first_mut() {
        first.notes.extend(file_notes);
    }
    Ok(jobs.into_iter().map(JobOut::finish).collect())
}

// --- reading the file (Python's configparser) -------------------------------------

#[derive(Debug, Clone)]
struct Opt {
    value: String,
    line: usize,
}

#[derive(Debug, Clone)]
struct Section {
    name: String,
    /// Keys lowercased, each once, in the order first seen.
    options: Vec<(String, Opt)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&Opt> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, o)| o)
    }
}

#[derive(Debug)]
struct Ini {
    sections: Vec<Section>,
    /// `[DEFAULT]`: every section's values unless it sets its own.
    defaults: Section,
}

/// Where an inline comment starts: `;` or `#` at the start of the line or
/// after whitespace.
fn inline_comment(line: &str) -> Option<usize> {
    let mut after_space = true;
    for (i, c) in line.char_indices() {
        if (c == ';' || c == '#') && after_space {
            return Some(i);
        }
        after_space = c.is_whitespace();
    }
    None
}

fn parse_ini(file: &str, text: &str) -> Result<Ini, ImportError> {
    let syntax = |line: usize, message: String| ImportError::Syntax { file: file.to_string(), line, message };
    let mut reader = IniReader {
        ini: Ini { sections: Vec::new(), defaults: Section { name: "DEFAULT".to_string(), options: Vec::new() } },
        current: None,
        option: None,
        indent_level: 0,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        reader.line(raw, line).map_err(|e| syntax(line, e.to_string()))?;
    }
    let mut ini = reader.ini;
    for sec in ini.sections.iter_mut().chain(std::iter::once(&mut ini.defaults)) {
        for (_, opt) in sec.options.iter_mut() {
            opt.value = opt.value.trim_end().to_string();
        }
    }
    Ok(ini)
}

/// `parse_ini` between two lines: what has been read, and where it stands.
struct IniReader {
    ini: Ini,
    /// The current section: `None` before the first, `Some(None)` for [DEFAULT].
    current: Option<Option<usize>>,
    /// The option the next deeper-indented line continues.
    option: Option<usize>,
    indent_level: usize,
}

impl IniReader {
    /// The current section; none before the first header.
    fn section(&mut self) -> Option<&mut Section> {
        match self.current {
            Some(Some(s)) => self.ini.sections.get_mut(s),
            Some(None) => Some(&mut self.ini.defaults),
            None => None,
        }
    }

    /// Reads line number `line` of the file; the message when it is not
    /// one configparser reads.
    fn line(&mut self, raw: &str, line: usize) -> Result<(), ConfError> {
        let comment = if raw.trim_start().starts_with([';', '#']) { Some(0) } else { inline_comment(raw) };
        let value = comment.map_or(raw, |c| &raw[..c]).trim();
        let (option, indent_level) = (self.option, self.indent_level);
        let section = self.section();
        if value.is_empty() {
            // A blank line (not a comment) is kept inside a value that
            // continues after it.
            if comment.is_none()
                && let (Some(sec), Some(o)) = (section, option)
                && let Some((_, opt)) = sec.options.get_mut(o)
            {
                opt.value.push('\n');
            }
            return Ok(());
        }
        let indent = raw.len() - raw.trim_start().len();
        if let (Some(sec), Some(o)) = (section, option)
            && indent > indent_level
        {
            if let Some((_, opt)) = sec.options.get_mut(o) {
                opt.value.push('\n');
                opt.value.push_str(value);
            }
            return Ok(());
        }
        self.indent_level = indent;
        if value.starts_with('[')
            && let Some(end) = value.rfind(']')
            && end > 1
        {
            self.header(&value[1..end]);
            return Ok(());
        }
        self.assignment(value, line)
    }

    /// A `[section]` header: that section is current, a new one or one
    /// named before.
    fn header(&mut self, header: &str) {
        self.option = None;
        if header == "DEFAULT" {
            self.current = Some(None);
        } else if let Some(pos) = self.ini.sections.iter().position(|s| s.name == header) {
            self.current = Some(Some(pos));
        } else {
            self.ini.sections.push(Section { name: header.to_string(), options: Vec::new() });
            self.current = Some(Some(self.ini.sections.len() - 1));
        }
    }

    /// A `key = value` (or `key: value`) line of the current section; a
    /// later value of a key replaces the earlier one.
    fn assignment(&mut self, value: &str, line: usize) -> Result<(), ConfError> {
        let Some(sec) = self.section() else {
            return Err(ConfError::BeforeSection(value.to_string()));
        };
        let Some(pos) = value.find(['=', ':']) else {
            return Err(ConfError::NotAnAssignment(value.to_string()));
        };
        let key = value[..pos].trim_end().to_lowercase();
        if key.is_empty() {
            return Err(ConfError::NoKey { text: value.to_string(), separator: value[pos..pos + 1].to_string() });
        }
        let opt = Opt { value: value[pos + 1..].trim().to_string(), line };
        let index = match sec.options.iter().position(|(k, _)| *k == key) {
            Some(p) => {
                sec.options[p].1 = opt;
                p
            }
            None => {
                sec.options.push((key, opt));
                sec.options.len() - 1
            }
        };
        self.option = Some(index);
        Ok(())
    }
}

// --- expansions -------------------------------------------------------------------

/// supervisord's `%(name)s` expansions of one program.
struct Expander {
    vars: Vec<(&'static str, String)>,
    /// `process_num` stands for `${NOMAD_ALLOC_INDEX}` (numprocs > 1).
    indexed: bool,
    /// `%(process_num)s` was used.
    used_index: bool,
    /// `%(process_num)02d` and the like: a width that cannot be applied.
    padded_index: bool,
    /// Names left as written.
    unknown: Vec<String>,
}

impl Expander {
    fn expand(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(pos) = rest.find('%') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(a) = after.strip_prefix('%') {
                out.push('%');
                rest = a;
                continue;
            }
            if let Some(inner) = after.strip_prefix('(')
                && let Some(close) = inner.find(')')
            {
                let key = &inner[..close];
                let tail = &inner[close + 1..];
                let spec_len =
                    tail.find(|c: char| !matches!(c, '-' | '+' | ' ' | '#' | '.' | '0'..='9')).unwrap_or(tail.len());
                let spec = &tail[..spec_len];
                if let Some(conv) = tail[spec_len..].chars().next().filter(|c| "sdirfFgGeExXoc".contains(*c)) {
                    let end = spec_len + conv.len_utf8();
                    let written = format!("%({key}){}", &tail[..end]);
                    if key == "process_num" && self.indexed {
                        self.used_index = true;
                        self.padded_index |= !spec.is_empty();
                        out.push(ALLOC_INDEX);
                    } else if let Some((_, v)) = self.vars.iter().find(|(k, _)| *k == key) {
                        out.push_str(&format_value(v, spec, conv));
                    } else {
                        if !self.unknown.contains(&written) {
                            self.unknown.push(written.clone());
                        }
                        out.push_str(&written);
                    }
                    rest = &tail[end..];
                    continue;
                }
            }
            out.push('%');
            rest = after;
        }
        out.push_str(rest);
        out
    }
}

/// Python's `%` formatting of one value: width, `-` and `0` flags, and
/// `d` / `i` for numbers; anything else is formatted as with `s`.
fn format_value(v: &str, spec: &str, conv: char) -> String {
    let flags: String = spec.chars().take_while(|c| "#0- +".contains(*c)).collect();
    let width: usize =
        spec[flags.len()..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0);
    let left = flags.contains('-');
    if matches!(conv, 'd' | 'i')
        && let Ok(n) = v.parse::<i64>()
    {
        if flags.contains('0') && !left {
            return format!("{n:0width$}");
        }
        return if left { format!("{n:<width$}") } else { format!("{n:>width$}") };
    }
    if left { format!("{v:<width$}") } else { format!("{v:>width$}") }
}

// --- splitting ------------------------------------------------------------------

/// `shlex.split`: POSIX shell words without a shell (quotes, backslashes;
/// no variables, no comments).
fn shlex_split(s: &str) -> Result<Vec<String>, ConfError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().ok_or(ConfError::TrailingBackslash)?);
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(ConfError::UnclosedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\')) => word.push(n),
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => return Err(ConfError::UnclosedQuote('"')),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(ConfError::UnclosedQuote('"')),
                    }
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// supervisord's `dict_of_key_value_pairs`: the tokens of a non-POSIX
/// shlex (word characters, quoted strings with their quotes, any other
/// character alone, `#` comments), read as `KEY = VALUE ,` runs; quotes
/// around a value are stripped.
fn environment(s: &str) -> Result<Vec<(String, String)>, ConfError> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || "_/.+-():".contains(c);
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            continue;
        }
        if c == '#' {
            for n in chars.by_ref() {
                if n == '\n' {
                    break;
                }
            }
            continue;
        }
        let mut token = c.to_string();
        if c == '"' || c == '\'' {
            loop {
                match chars.next() {
                    Some(n) if n == c => {
                        token.push(n);
                        break;
                    }
                    Some(n) => token.push(n),
                    None => return Err(ConfError::UnclosedQuote(c)),
                }
            }
        } else if is_word(c) {
            while let Some(n) = chars.next_if(|&n| is_word(n) || n == '"' || n == '\'') {
                token.push(n);
            }
        }
        tokens.push(token);
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let kv = &tokens[i..tokens.len().min(i + 3)];
        if kv.len() != 3 || kv[1] != "=" {
            return Err(ConfError::NotAPair(kv.join("")));
        }
        if let Some(sep) = tokens.get(i + 3)
            && sep != ","
        {
            return Err(ConfError::NoComma { found: sep.clone(), key: kv[0].clone(), value: kv[2].clone() });
        }
        let value = kv[2].trim_matches(|c: char| c == '"' || c == '\'').to_string();
        match out.iter_mut().find(|(k, _)| *k == kv[0]) {
            Some(slot) => slot.1 = value,
            None => out.push((kv[0].clone(), value)),
        }
        i += 4;
    }
    Ok(out)
}

fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

// --- one program ----------------------------------------------------------------

struct Program<'a> {
    file: &'a str,
    prog: &'a str,
    job: String,
    section: &'a Section,
    defaults: &'a Section,
    group: Option<&'a String>,
    here: Option<&'a str>,
}

/// The keys of a `[program:x]` section this module reads.
const KNOWN: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "environment",
    "directory",
    "umask",
    "redirect_stderr",
];

impl Program<'_> {
    fn get(&self, key: &str) -> Option<&Opt> {
        self.section.get(key).or_else(|| self.defaults.get(key))
    }

    fn syntax(&self, opt: &Opt, message: String) -> ImportError {
        ImportError::Syntax { file: self.file.to_string(), line: opt.line, message }
    }

    fn number(&self, key: &str, default: u64, min: u64) -> Result<u64, ImportError> {
        match self.get(key) {
            None => Ok(default),
            Some(o) => match o.value.parse::<u64>() {
                Ok(n) if n >= min => Ok(n),
                _ => Err(self.syntax(o, format!("{key}={}: must be a whole number of at least {min}", o.value))),
            },
        }
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, ImportError> {
        match self.get(key) {
            None => Ok(default),
            Some(o) => {
                boolean(&o.value).ok_or_else(|| self.syntax(o, format!("{key}={}: must be true or false", o.value)))
            }
        }
    }

    fn convert(&self) -> Result<JobOut, ImportError> {
        let prog = self.prog;
        let numprocs = self.number("numprocs", 1, 1)?;
        let numprocs = u32::try_from(numprocs).unwrap_or(u32::MAX).min(10000);
        let numprocs_start = self.number("numprocs_start", 0, 0)?;
        let group_name = self.group.cloned().unwrap_or_else(|| prog.to_string());
        let mut vars: Vec<(&'static str, String)> = vec![
            ("program_name", prog.to_string()),
            ("group_name", group_name),
            ("numprocs", numprocs.to_string()),
            ("process_num", numprocs_start.to_string()),
        ];
        if let Some(h) = self.here {
            vars.push(("here", h.to_string()));
        }
        let mut x =
            Expander { vars, indexed: numprocs > 1, used_index: false, padded_index: false, unknown: Vec::new() };

        let mut notes: Vec<String> = Vec::new();

        // command
        let mut task = self.task(&mut x, numprocs > 1, &mut notes)?;

        // Stopping.
        self.stopping(&mut task, &mut notes)?;

        // Restarting.
        let (restart, restart_notes) = self.restart()?;

        // The job as a whole.
        let job_notes = self.job_notes(&x, numprocs, numprocs_start)?;

        // Output, and the rest.
        self.other_notes(&x, &mut notes);

        Ok(JobOut {
            source: format!("{} [program:{prog}]", self.file),
            comments: Vec::new(),
            name: self.job.clone(),
            batch: false,
            count: (numprocs > 1).then_some(numprocs),
            restart: Some(restart),
            restart_notes,
            notes: job_notes,
            tasks: vec![TaskOut { notes, ..task }],
        })
    }

    /// The task: `command` (split as supervisord splits it), `directory`,
    /// `user` and `environment`, expanded.
    fn task(&self, x: &mut Expander, indexed: bool, notes: &mut Vec<String>) -> Result<TaskOut, ImportError> {
        let prog = self.prog;
        let Some(cmd) = self.get("command") else {
            return Err(ImportError::NoCommand {
                file: format!("{} [program:{prog}]", self.file),
                what: "no command=".to_string(),
                hint: String::new(),
            });
        };
        let words =
            shlex_split(&x.expand(&cmd.value)).map_err(|m| self.syntax(cmd, format!("command={}: {m}", cmd.value)))?;
        let mut words = words.into_iter();
        let Some(program) = words.next() else {
            return Err(ImportError::NoCommand {
                file: format!("{} [program:{prog}]", self.file),
                what: "an empty command=".to_string(),
                hint: String::new(),
            });
        };
        let mut task = TaskOut { name: self.job.clone(), indexed, ..TaskOut::default() };
        if !program.contains('/') {
            notes.push(format!(
                "{program}: not an absolute path — supd looks it up in the task's PATH (supd's own); write the full path to be sure"
            ));
        }
        task.command = program;
        task.args = words.collect();

        if let Some(d) = self.get("directory") {
            task.work_dir = Some(x.expand(&d.value));
        }
        if let Some(u) = self.get("user") {
            task.user = Some(x.expand(&u.value));
        }
        if let Some(e) = self.get("environment") {
            let pairs = environment(&x.expand(&e.value)).map_err(|m| self.syntax(e, format!("environment: {m}")))?;
            for (k, v) in pairs {
                task.set_env(&k, &v);
            }
        }
        Ok(task)
    }

    /// How the task is stopped: `stopsignal`, `stopwaitsecs`, and notes on
    /// `stopasgroup` and `killasgroup`.
    fn stopping(&self, task: &mut TaskOut, notes: &mut Vec<String>) -> Result<(), ImportError> {
        task.kill_signal = Some(match self.get("stopsignal") {
            None => "SIGTERM".to_string(),
            Some(o) => signal_name(&o.value)
                .ok_or_else(|| self.syntax(o, format!("stopsignal={}: not a signal supd knows", o.value)))?,
        });
        task.kill_timeout = Some(Duration::from_secs(self.number("stopwaitsecs", 10, 0)?));
        for key in ["stopasgroup", "killasgroup"] {
            if let Some(o) = self.get(key)
                && boolean(&o.value) == Some(false)
            {
                notes.push(format!(
                    "{key}=false: supervisord signals only the program itself; supd signals the task's whole process group"
                ));
            }
        }
        Ok(())
    }

    /// `autorestart` as `"true"`, `"false"` or `"unexpected"` (the default).
    fn autorestart(&self) -> Result<String, ImportError> {
        Ok(match self.get("autorestart") {
            None => "unexpected".to_string(),
            Some(o) => match o.value.to_ascii_lowercase().as_str() {
                "unexpected" => "unexpected".to_string(),
                v => match boolean(v) {
                    Some(true) => "true".to_string(),
                    Some(false) => "false".to_string(),
                    None => {
                        return Err(
                            self.syntax(o, format!("autorestart={}: must be true, false or unexpected", o.value))
                        );
                    }
                },
            },
        })
    }

    /// The restart policy from `autorestart`, `startretries` and
    /// `startsecs`, and the notes on how it differs from supervisord's.
    fn restart(&self) -> Result<(RestartOut, Vec<String>), ImportError> {
        let mut restart_notes: Vec<String> = Vec::new();
        let autorestart = self.autorestart()?;
        let startretries = self.number("startretries", 3, 0)?;
        let startsecs = self.number("startsecs", 1, 0)?;
        let restart = if autorestart == "false" {
            restart_notes.push(
                "autorestart=false: the task is not restarted; once it exits the job is dead until `supctl job start`"
                    .to_string(),
            );
            RestartOut::never()
        } else {
            let attempts = u32::try_from(startretries).unwrap_or(u32::MAX).max(1);
            let delay = Duration::from_secs(1);
            let (policy, raised) = RestartOut::delayed(attempts, Duration::from_secs(60), delay);
            restart_notes.push(format!(
                "supervisord restarts a program that ran startsecs ({startsecs}s) at once whenever it exits, without limit, and retries one that exits sooner up to startretries ({startretries}) times, 1 s, 2 s, 3 s … apart, before giving up (FATAL); here: 1s after each exit, at most {attempts} times in {}, then the next waits (mode = \"delay\")",
                policy.interval.map(super::duration).unwrap_or_default()
            ));
            restart_notes.extend(raised);
            if autorestart == "unexpected" {
                restart_notes.push(
                    "autorestart=unexpected: supervisord restarts only after an exit status not in exitcodes; a supd service task is restarted whatever its exit status"
                        .to_string(),
                );
            }
            policy
        };
        if let Some(o) = self.get("exitcodes")
            && o.value.replace(' ', "") != "0"
        {
            restart_notes.push(format!(
                "exitcodes={}: no equivalent — supd's restart policy does not look at the exit status",
                o.value
            ));
        }
        if let Some(o) = self.section.get("startsecs") {
            restart_notes.push(format!(
                "startsecs={}: no equivalent — supd counts an exit the same however long the task ran",
                o.value
            ));
        }
        Ok((restart, restart_notes))
    }

    /// The notes of the job as a whole: its `[group:…]`, `priority`,
    /// `autostart` and `numprocs`.
    fn job_notes(&self, x: &Expander, numprocs: u32, numprocs_start: u64) -> Result<Vec<String>, ImportError> {
        let mut job_notes: Vec<String> = Vec::new();
        if let Some(g) = self.group {
            job_notes.push(format!("in [group:{g}]: supd has no process groups; each program is a job of its own"));
        }
        if let Some(o) = self.get("priority") {
            job_notes.push(format!("priority={}: no equivalent — supd starts all jobs at once, in no order", o.value));
        }
        if !self.flag("autostart", true)? {
            job_notes.push(format!(
                "autostart=false: supd starts every job it loads — stop this one with `supctl job stop {}` once loaded, or keep the file out of the job directory until it is needed",
                self.job
            ));
        }
        if numprocs > 1 {
            let mut n = format!(
                "numprocs={numprocs}: count = {numprocs} instances of the group, numbered from 0 (NOMAD_ALLOC_INDEX)"
            );
            if x.used_index {
                n.push_str("; %(process_num)s is ${NOMAD_ALLOC_INDEX}");
            } else {
                n.push_str(
                    "; every instance runs the same command (supervisord's %(process_num)s would tell them apart)",
                );
            }
            if numprocs_start != 0 {
                n.push_str(&format!(", which starts at 0, not at numprocs_start={numprocs_start}"));
            }
            if x.padded_index {
                n.push_str(", without the zero padding or width of %(process_num)0Nd");
            }
            job_notes.push(n);
        }
        Ok(job_notes)
    }

    /// The task's notes on its output settings, `umask`, keys with no
    /// equivalent, and expansions left as written.
    fn other_notes(&self, x: &Expander, notes: &mut Vec<String>) {
        let logs: Vec<String> = self
            .section
            .options
            .iter()
            .filter(|(k, _)| k.starts_with("stdout_") || k.starts_with("stderr_") || k == "redirect_stderr")
            .map(|(k, o)| format!("{k}={}", o.value))
            .collect();
        if !logs.is_empty() {
            notes.push(format!(
                "{}: supd captures stdout and stderr into rotated files of its own (`supctl logs {}`; logs {{ max_files, max_file_size }})",
                logs.join(", "),
                self.job
            ));
        }
        if let Some(o) = self.get("umask") {
            notes.push(format!("umask={}: no equivalent — the task gets supd's umask", o.value));
        }
        for (k, o) in &self.section.options {
            if !KNOWN.contains(&k.as_str()) && !k.starts_with("stdout_") && !k.starts_with("stderr_") {
                notes.push(format!("no equivalent: {k}={}", o.value));
            }
        }
        if !x.unknown.is_empty() {
            notes.push(format!(
                "{}: left as written — supervisord fills these in from its own environment and host; put the values in",
                x.unknown.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests;
