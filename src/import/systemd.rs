//! systemd `.service` units → supd jobs.
//!
//! Design. The unit text is read as systemd reads it (systemd.syntax(7)):
//! `[Section]` headers, `Key=Value` lines, `#` and `;` comment lines, a
//! trailing backslash continuing a line (comment lines inside a continued
//! line are skipped). Entries are kept in file order and folded as systemd
//! folds them: list settings (`ExecStart=`, `ExecStartPre=`,
//! `Environment=`, `EnvironmentFile=`) accumulate and an empty assignment
//! resets them; other settings take their last value. A unit's drop-ins
//! therefore apply when their text is appended to the unit's (in systemd's
//! order) before calling [`convert`].
//!
//! Command lines follow systemd.service(5) "COMMAND LINES": words split on
//! whitespace with double and single quotes and C-style backslash escapes,
//! a lone unquoted `;` between commands, the prefixes `-`, `@`, `:`, `+`,
//! `!` and `!!` before the program, then specifiers (`%n`, `%N`, `%p`,
//! `%P`, `%i`, `%I`, `%j`, `%J`, `%f`, `%%`, and the fixed directories of
//! the system manager `%t`, `%S`, `%C`, `%L`, `%E`, `%T`, `%V`) and
//! `$NAME` / `${NAME}` from `Environment=`. What depends on the running
//! manager (`%h`, `%u`, `%H`, …) and variables this unit does not set
//! (from `EnvironmentFile=`, or `$MAINPID`) cannot be known here: they are
//! left as written or left out, and a note says which.
//!
//! The job has one group and one `raw_exec` task running `ExecStart=`;
//! `ExecStartPre=`, `ExecStartPost=` and `ExecStopPost=` become prestart,
//! poststart and poststop tasks (several commands of one kind become one
//! `/bin/sh -c` script that runs them in order and stops at the first
//! failure, as systemd does). Everything else is a setting of the task or
//! group, or a note.

use super::{Converted, ImportError, JobOut, RestartOut, TaskOut, derived_name, duration, name, signal_name};
use std::time::Duration;

mod error;
pub use error::ValueError;

/// systemd's default `TimeoutStopSec=` (DefaultTimeoutStopSec).
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// What `TimeoutStopSec=infinity` becomes.
const INFINITE_STOP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Converts the text of a `.service` unit. `unit_name` is the unit's file
/// name or path (`ssh.service`, `/lib/systemd/system/getty@tty1.service`):
/// its last component names the job and resolves `%n`, `%p`, `%i`.
pub fn convert(unit_name: &str, text: &str) -> Result<Converted, ImportError> {
    let base = unit_name.rsplit('/').next().unwrap_or(unit_name);
    let Some(stem) = base.strip_suffix(".service") else {
        let why = match base.rsplit_once('.') {
            Some((_, kind)) if !kind.is_empty() => format!(" (a .{kind} unit)"),
            _ => " (its name does not end in .service)".to_string(),
        };
        return Err(ImportError::NotAService { file: unit_name.to_string(), why });
    };
    let unit = UnitName::new(base, stem);
    let entries = parse_unit(unit_name, text)?;
    let mut u = Unit::default();
    for e in &entries {
        match e.section.as_str() {
            "Unit" => u.unit_key(e),
            "Service" => u.service_key(e),
            "Install" => {}
            "" => u
                .notes
                .push(format!("line {}: {}={} is outside any section; systemd ignores it", e.line, e.key, e.value)),
            s if s.starts_with("X-") => {}
            s => {
                let note = format!("[{s}] section ignored: supctl import reads [Unit] and [Service]");
                push_once(&mut u.notes, note);
            }
        }
    }
    u.build(unit_name, &unit)
}

// --- reading the file -------------------------------------------------------

/// One `Key=Value` of a unit file, with the line it starts on.
#[derive(Debug, Clone)]
struct Entry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

/// Whether a line ends in an unescaped backslash: it continues.
fn continues(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn parse_unit(file: &str, text: &str) -> Result<Vec<Entry>, ImportError> {
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

// --- unit names and specifiers ---------------------------------------------------

struct UnitName {
    /// `getty@tty1.service`
    full: String,
    /// `getty@tty1`
    stem: String,
    /// `getty`
    prefix: String,
    /// `tty1`; `Some("")` for a template (`getty@.service`).
    instance: Option<String>,
}

impl UnitName {
    fn new(full: &str, stem: &str) -> UnitName {
        let (prefix, instance) = match stem.split_once('@') {
            Some((p, i)) => (p.to_string(), Some(i.to_string())),
            None => (stem.to_string(), None),
        };
        UnitName { full: full.to_string(), stem: stem.to_string(), prefix, instance }
    }

    /// `s` with the specifiers resolved that do not depend on the running
    /// manager; the others are left as written and collected in `unknown`.
    fn expand(&self, s: &str, unknown: &mut Vec<char>) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        let instance = self.instance.clone().unwrap_or_default();
        let last = |p: &str| p.rsplit('-').next().unwrap_or(p).to_string();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(spec) = chars.next() else {
                out.push('%');
                break;
            };
            let value = match spec {
                '%' => "%".to_string(),
                'n' => self.full.clone(),
                'N' => self.stem.clone(),
                'p' => self.prefix.clone(),
                'P' => unescape(&self.prefix),
                'i' => instance.clone(),
                'I' => unescape(&instance),
                'j' => last(&self.prefix),
                'J' => unescape(&last(&self.prefix)),
                'f' => {
                    let s = if instance.is_empty() { &self.prefix } else { &instance };
                    let u = unescape(s);
                    if u.starts_with('/') { u } else { format!("/{u}") }
                }
                // The system manager's fixed directories.
                't' => "/run".to_string(),
                'S' => "/var/lib".to_string(),
                'C' => "/var/cache".to_string(),
                'L' => "/var/log".to_string(),
                'E' => "/etc".to_string(),
                'T' => "/tmp".to_string(),
                'V' => "/var/tmp".to_string(),
                other => {
                    if !unknown.contains(&other) {
                        unknown.push(other);
                    }
                    format!("%{other}")
                }
            };
            out.push_str(&value);
        }
        out
    }
}

/// systemd's unit name unescaping: `-` is `/`, `\xNN` a byte.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            out.push(b'/');
            i += 1;
        } else if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(hex) = s.get(i + 2..i + 4)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// --- words ---------------------------------------------------------------------

/// The words of a value, unquoted and unescaped; `true` with a word
/// written without quotes or escapes (a lone `;` separates commands only
/// then).
fn split_words(value: &str) -> Result<Vec<(String, bool)>, ValueError> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut bare = true;
        let mut quote: Option<char> = None;
        loop {
            let Some(c) = chars.next() else {
                if let Some(q) = quote {
                    return Err(ValueError::UnclosedQuote(q));
                }
                break;
            };
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '\'' | '"') => {
                    quote = Some(c);
                    bare = false;
                }
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    bare = false;
                    word.push_str(&unescape_c(&mut chars)?);
                }
                (_, c) => word.push(c),
            }
        }
        words.push((word, bare));
    }
}

/// The character(s) a backslash escape stands for (systemd's
/// `cunescape`); an unknown escape is kept as written.
fn unescape_c(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, ValueError> {
    let Some(c) = chars.next() else {
        return Err(ValueError::TrailingBackslash);
    };
    let ch = match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        's' => ' ',
        '\\' | '"' | '\'' | ';' => c,
        'x' => hex(chars, c, 2)?,
        'u' => hex(chars, c, 4)?,
        'U' => hex(chars, c, 8)?,
        '0'..='7' => {
            let mut v = c as u32 - '0' as u32;
            for _ in 0..2 {
                match chars.next_if(|d| ('0'..='7').contains(d)) {
                    Some(d) => v = v * 8 + (d as u32 - '0' as u32),
                    None => return Err(ValueError::ShortOctal(c)),
                }
            }
            char::from_u32(v).ok_or(ValueError::OctalOutOfRange)?
        }
        other => return Ok(format!("\\{other}")),
    };
    if ch == '\0' {
        return Err(ValueError::Nul);
    }
    Ok(ch.to_string())
}

/// The character of `\xNN`, `\uNNNN`, `\UNNNNNNNN` (`n` digits after `\c`).
fn hex(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, c: char, n: usize) -> Result<char, ValueError> {
    let mut digits = String::new();
    for _ in 0..n {
        match chars.next_if(|d| d.is_ascii_hexdigit()) {
            Some(d) => digits.push(d),
            None => break,
        }
    }
    if digits.len() != n {
        return Err(ValueError::ShortHex { escape: c, digits: n });
    }
    match u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32) {
        Some(ch) => Ok(ch),
        None => Err(ValueError::NotACharacter { escape: c, digits }),
    }
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn push_once(notes: &mut Vec<String>, note: String) {
    if !notes.contains(&note) {
        notes.push(note);
    }
}

/// `$NAME` (a word of its own: split into words) and `${NAME}` (in a word)
/// from `env`, and `$$`; pushes the resulting words to `out`.
fn expand_env(word: &str, env: &[(String, String)], key: &str, out: &mut Vec<String>, notes: &mut Vec<String>) {
    let unset = |name: &str, what: &str| {
        format!(
            "{key}: ${name} is not set by this unit (it may come from EnvironmentFile= or from systemd itself), so it was {what}; put its value there if it has one"
        )
    };
    if let Some(n) = word.strip_prefix('$').filter(|n| is_env_name(n)) {
        match lookup(env, n) {
            Some(v) => out.extend(v.split_whitespace().map(str::to_string)),
            None => push_once(notes, unset(n, "left out (systemd splits its value into words here)")),
        }
        return;
    }
    if let Some(n) = word.strip_prefix("${").and_then(|r| r.strip_suffix('}')).filter(|n| is_env_name(n)) {
        match lookup(env, n) {
            Some(v) => out.push(v.to_string()),
            None => push_once(notes, unset(n, "left out (systemd passes its value as one word here)")),
        }
        return;
    }
    let mut res = String::new();
    let mut rest = word;
    while let Some(pos) = rest.find('$') {
        res.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(a) = after.strip_prefix('$') {
            res.push('$');
            rest = a;
        } else if let Some(inner) = after.strip_prefix('{')
            && let Some(end) = inner.find('}')
            && is_env_name(&inner[..end])
        {
            let n = &inner[..end];
            match lookup(env, n) {
                Some(v) => res.push_str(v),
                None => {
                    res.push_str(&format!("${{{n}}}"));
                    push_once(notes, unset(n, "left as written (systemd would put its value in)"));
                }
            }
            rest = &inner[end + 1..];
        } else {
            res.push('$');
            rest = after;
        }
    }
    res.push_str(rest);
    out.push(res);
}

/// One command of an `Exec*=` line.
#[derive(Debug, Clone, Default)]
struct Command {
    program: String,
    args: Vec<String>,
    /// `-`: a failure counts as success.
    ignore_failure: bool,
    /// `+` or `!`: runs without the unit's `User=`.
    unprivileged_off: bool,
    /// The value as written, for notes.
    raw: String,
}

/// A raw `Exec*=` value and its line.
#[derive(Debug, Clone)]
struct Raw {
    value: String,
    line: usize,
}

/// The text of a program and its arguments for `/bin/sh -c`.
fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn sh_line(c: &Command) -> String {
    let mut words = vec![sh_quote(&c.program)];
    words.extend(c.args.iter().map(|a| sh_quote(a)));
    let line = words.join(" ");
    if c.ignore_failure { format!("{line} || true") } else { line }
}

// --- time spans and sizes -------------------------------------------------------

/// A systemd time span (systemd.time(7)): `90`, `5min 20s`, `1.5h`,
/// `100ms`; a number without a unit is seconds. `None` when malformed
/// (`infinity` is the caller's).
fn timespan(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        rest = rest[num_end..].trim_start();
        let unit_end = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = rest[unit_end..].trim_start();
        let scale: u128 = match unit {
            "nsec" | "ns" => 1,
            "usec" | "us" | "µs" | "μs" => 1_000,
            "msec" | "ms" => 1_000_000,
            "" | "seconds" | "second" | "sec" | "s" => 1_000_000_000,
            "minutes" | "minute" | "min" | "m" => 60_000_000_000,
            "hours" | "hour" | "hr" | "h" => 3_600_000_000_000,
            "days" | "day" | "d" => 86_400_000_000_000,
            "weeks" | "week" | "w" => 604_800_000_000_000,
            "months" | "month" | "M" => 2_629_800_000_000_000,
            "years" | "year" | "y" => 31_557_600_000_000_000,
            _ => return None,
        };
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if frac.contains('.') {
            return None;
        }
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        total = total.checked_add(whole.checked_mul(scale)?)?;
        if !frac.is_empty() {
            let digits = &frac[..frac.len().min(18)];
            let f: u128 = digits.parse().ok()?;
            total = total.checked_add(scale * f / 10u128.pow(digits.len() as u32))?;
        }
    }
    Some(Duration::from_nanos(u64::try_from(total).ok()?))
}

/// A size in bytes (`512M`, `1G`, `1073741824`; base 1024).
fn size_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = (&s[..num_end], s[num_end..].trim());
    let scale: f64 = match unit {
        "" | "B" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024f64.powi(4),
        "P" => 1024f64.powi(5),
        "E" => 1024f64.powi(6),
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    let bytes = n * scale;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

// --- the unit's settings ----------------------------------------------------------

#[derive(Debug, Default)]
struct Unit {
    description: Option<String>,
    documentation: Vec<String>,
    /// `After=network.target`, … as written.
    dependencies: Vec<String>,
    service_type: Option<Raw>,
    exec_start: Vec<Raw>,
    exec_start_pre: Vec<Raw>,
    exec_start_post: Vec<Raw>,
    exec_stop: Vec<Raw>,
    exec_stop_post: Vec<Raw>,
    exec_reload: Vec<Raw>,
    exec_condition: Vec<Raw>,
    restart: Option<Raw>,
    restart_sec: Option<Raw>,
    start_limit_interval: Option<Raw>,
    start_limit_burst: Option<Raw>,
    user: Option<String>,
    group: Option<String>,
    working_directory: Option<String>,
    /// `Environment=` values as written, each with its line.
    environment: Vec<Raw>,
    environment_files: Vec<String>,
    kill_signal: Option<Raw>,
    timeout_stop: Option<Raw>,
    memory_max: Option<Raw>,
    remain_after_exit: bool,
    pid_file: Option<String>,
    notes: Vec<String>,
}

/// Appends to a list setting; an empty value resets it.
fn push_list(list: &mut Vec<Raw>, e: &Entry) {
    if e.value.is_empty() {
        list.clear();
    } else {
        list.push(Raw { value: e.value.clone(), line: e.line });
    }
}

fn set(slot: &mut Option<Raw>, e: &Entry) {
    *slot = if e.value.is_empty() { None } else { Some(Raw { value: e.value.clone(), line: e.line }) };
}

fn set_string(slot: &mut Option<String>, e: &Entry) {
    *slot = if e.value.is_empty() { None } else { Some(e.value.clone()) };
}

impl Unit {
    fn no_equivalent(&mut self, e: &Entry) {
        self.notes.push(format!("no equivalent: {}={}", e.key, e.value));
    }

    fn unit_key(&mut self, e: &Entry) {
        match e.key.as_str() {
            "Description" => set_string(&mut self.description, e),
            "Documentation" => {
                if e.value.is_empty() {
                    self.documentation.clear();
                } else {
                    self.documentation.push(e.value.clone());
                }
            }
            "After"
            | "Before"
            | "Requires"
            | "Wants"
            | "BindsTo"
            | "PartOf"
            | "Requisite"
            | "Upholds"
            | "Conflicts"
            | "OnFailure"
            | "OnSuccess"
            | "PropagatesReloadTo"
            | "ReloadPropagatedFrom"
            | "PropagatesStopTo"
            | "StopPropagatedFrom"
            | "JoinsNamespaceOf" => {
                if !e.value.is_empty() {
                    self.dependencies.push(format!("{}={}", e.key, e.value));
                }
            }
            "StartLimitIntervalSec" | "StartLimitInterval" => set(&mut self.start_limit_interval, e),
            "StartLimitBurst" => set(&mut self.start_limit_burst, e),
            "DefaultDependencies" | "SourcePath" => {}
            k if k.starts_with("Condition") || k.starts_with("Assert") => self
                .notes
                .push(format!("{}={}: no equivalent — supd starts the job whether or not this holds", e.key, e.value)),
            _ => self.no_equivalent(e),
        }
    }

    fn service_key(&mut self, e: &Entry) {
        match e.key.as_str() {
            "Type" => set(&mut self.service_type, e),
            "ExecStart" => push_list(&mut self.exec_start, e),
            "ExecStartPre" => push_list(&mut self.exec_start_pre, e),
            "ExecStartPost" => push_list(&mut self.exec_start_post, e),
            "ExecStop" => push_list(&mut self.exec_stop, e),
            "ExecStopPost" => push_list(&mut self.exec_stop_post, e),
            "ExecReload" => push_list(&mut self.exec_reload, e),
            "ExecCondition" => push_list(&mut self.exec_condition, e),
            "Restart" => set(&mut self.restart, e),
            "RestartSec" => set(&mut self.restart_sec, e),
            "StartLimitIntervalSec" | "StartLimitInterval" => set(&mut self.start_limit_interval, e),
            "StartLimitBurst" => set(&mut self.start_limit_burst, e),
            "User" => set_string(&mut self.user, e),
            "Group" => set_string(&mut self.group, e),
            "WorkingDirectory" => set_string(&mut self.working_directory, e),
            "Environment" => push_list(&mut self.environment, e),
            "EnvironmentFile" => {
                if e.value.is_empty() {
                    self.environment_files.clear();
                } else {
                    self.environment_files.push(e.value.clone());
                }
            }
            "KillSignal" => set(&mut self.kill_signal, e),
            "TimeoutStopSec" | "TimeoutSec" => set(&mut self.timeout_stop, e),
            "MemoryMax" | "MemoryLimit" => set(&mut self.memory_max, e),
            "RemainAfterExit" => self.remain_after_exit = matches!(e.value.as_str(), "yes" | "true" | "on" | "1"),
            "PIDFile" => set_string(&mut self.pid_file, e),
            "GuessMainPID"
            | "NotifyAccess"
            | "RuntimeDirectoryMode"
            | "StateDirectoryMode"
            | "CacheDirectoryMode"
            | "LogsDirectoryMode"
            | "ConfigurationDirectoryMode"
            | "RuntimeDirectoryPreserve" => {}
            _ => self.service_note(e),
        }
    }

    /// A `[Service]` setting supd has no place for: how the task is killed,
    /// its exit statuses, directories, limits and resources, as a note.
    fn service_note(&mut self, e: &Entry) {
        match e.key.as_str() {
            "KillMode" => match e.value.as_str() {
                "" | "control-group" => {}
                "process" => self.notes.push(
                    "KillMode=process: systemd signals only the main process and leaves its children; supd signals the task's whole process group, and kills what is left in its cgroup"
                        .to_string(),
                ),
                _ => self.notes.push(format!(
                    "KillMode={}: supd signals the task's process group with kill_signal, then SIGKILL after kill_timeout",
                    e.value
                )),
            },
            "RestartPreventExitStatus" | "SuccessExitStatus" | "RestartForceExitStatus" => self.notes.push(format!(
                "{}={}: no equivalent — supd's restart policy does not look at the exit status",
                e.key, e.value
            )),
            "RuntimeDirectory" | "StateDirectory" | "CacheDirectory" | "LogsDirectory" | "ConfigurationDirectory" => {
                self.directory_note(e);
            }
            k if k.starts_with("Limit") => self.notes.push(format!(
                "{k}={}: supd sets no resource limits of its own; the task inherits supd's (raise them for supd itself, e.g. {k}= in supd's unit)",
                e.value
            )),
            "CPUQuota" => self.notes.push(format!(
                "CPUQuota={}: no direct equivalent — resources {{ cpu = MHz }} is a weight, a hard quota only with supd.toml's cpu_hard_limit",
                e.value
            )),
            "CPUWeight" | "CPUShares" | "StartupCPUWeight" | "StartupCPUShares" => self.notes.push(format!(
                "{}={}: no direct equivalent — resources {{ cpu = MHz }} sets the task's share of the CPU",
                e.key, e.value
            )),
            "MemoryHigh" | "MemoryLow" | "MemoryMin" | "MemorySwapMax" => self.notes.push(format!(
                "{}={}: no equivalent — resources {{ memory = MB }} is a hard limit (MemoryMax=)",
                e.key, e.value
            )),
            "Nice" => self.notes.push(format!(
                "Nice={}: supd does not change the task's nice value — run the program through `nice -n {}` if it matters",
                e.value, e.value
            )),
            _ => self.service_io_note(e),
        }
    }

    /// `RuntimeDirectory=` and its kin: a note naming the directories supd
    /// does not create.
    fn directory_note(&mut self, e: &Entry) {
        let root = match e.key.as_str() {
            "RuntimeDirectory" => "/run",
            "StateDirectory" => "/var/lib",
            "CacheDirectory" => "/var/cache",
            "LogsDirectory" => "/var/log",
            _ => "/etc",
        };
        let dirs: Vec<String> =
            e.value.split_whitespace().map(|d| format!("{root}/{}", d.split(':').next().unwrap_or(d))).collect();
        if !dirs.is_empty() {
            self.notes.push(format!(
                "{}={}: supd does not create {} — create it before the task starts (e.g. `install -d -o USER {}` in a prestart task)",
                e.key,
                e.value,
                dirs.join(" "),
                dirs.join(" ")
            ));
        }
    }

    /// A `[Service]` setting of the task's input and output, watchdog,
    /// groups or environment, as a note; anything else has no equivalent.
    fn service_io_note(&mut self, e: &Entry) {
        match e.key.as_str() {
            "StandardOutput" | "StandardError" => match e.value.as_str() {
                "" | "journal" | "inherit" | "journal+console" | "syslog" | "kmsg" => {}
                v => self.notes.push(format!(
                    "{}={v}: supd captures the task's stdout and stderr into rotated files (`supctl logs`), or into the journal with meta supd_task_output = \"journal\"",
                    e.key
                )),
            },
            "StandardInput" => match e.value.as_str() {
                "" | "null" => {}
                v => self.notes.push(format!("StandardInput={v}: supd gives every task /dev/null as its standard input")),
            },
            "WatchdogSec" => self.notes.push(format!(
                "WatchdogSec={}: supd has no watchdog — a check {{ type = \"script\" }} with check_restart can stand in",
                e.value
            )),
            "SupplementaryGroups" => self.notes.push(format!(
                "SupplementaryGroups={}: supd gives the task its user's groups (from /etc/group), no others",
                e.value
            )),
            "DynamicUser" => {
                if matches!(e.value.as_str(), "yes" | "true" | "on" | "1") {
                    self.notes.push(
                        "DynamicUser=yes: supd has no dynamic users — create a system user and set it as `user`"
                            .to_string(),
                    );
                }
            }
            "PassEnvironment" => self.notes.push(format!(
                "PassEnvironment={}: supd passes its whole environment to the task (supd-job(5), RUNTIME ENVIRONMENT)",
                e.value
            )),
            _ => self.no_equivalent(e),
        }
    }

    /// The commands of the `Exec*=` lines in `raws`, expanded.
    #[allow(clippy::too_many_arguments)]
    fn commands(
        &self,
        file: &str,
        key: &str,
        raws: &[Raw],
        unit: &UnitName,
        env: &[(String, String)],
        unknown: &mut Vec<char>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Command>, ImportError> {
        let mut out = Vec::new();
        for raw in raws {
            let syntax = |e: ValueError| ImportError::Syntax {
                file: file.to_string(),
                line: raw.line,
                message: format!("{key}={}: {e}", raw.value),
            };
            let words = split_words(&raw.value).map_err(syntax)?;
            let mut groups: Vec<Vec<String>> = vec![Vec::new()];
            for (w, bare) in words {
                if bare && w == ";" {
                    groups.push(Vec::new());
                } else if let Some(g) = groups.last_mut() {
                    g.push(w);
                }
            }
            for g in groups.into_iter().filter(|g| !g.is_empty()) {
                let c = command(key, &raw.value, g, unit, env, unknown, notes).map_err(syntax)?;
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The job: the settings read, converted, with a note at each one that has no exact equivalent.
    fn build(mut self, file: &str, unit: &UnitName) -> Result<Converted, ImportError> {
        let mut b = Build {
            file,
            unit,
            job: name(&unit.stem.replace('@', "-")),
            unknown: Vec::new(),
            notes: std::mem::take(&mut self.notes),
            env: Vec::new(),
        };
        if unit.instance.as_deref() == Some("") {
            b.notes.push(format!(
                "{} is a template: %i is empty here — import an instance instead ({}NAME.service)",
                unit.full,
                unit.prefix.clone() + "@"
            ));
        }

        // Environment= first: the command lines use it.
        self.read_environment(&mut b)?;

        // The service type.
        let (service_type, batch) = self.type_notes(&mut b.notes);

        // What to run.
        let starts = self.start_commands(&mut b, &service_type, batch)?;
        let mut main = self.main_task(&mut b);
        main_command(&mut main, &starts, &mut b.notes);

        // ExecStop, ExecReload, ExecCondition: notes.
        self.unrun_exec_notes(&mut b, main.kill_signal.as_deref().unwrap_or("SIGTERM"));

        // Hook tasks.
        let mut tasks = self.hook_tasks(&main, &mut b)?;

        // Restart.
        let (restart, restart_notes) = self.restart_policy(batch);

        // After=, Wants=, …
        let job_notes = self.dependency_notes();
        if !b.unknown.is_empty() {
            let list: Vec<String> = b.unknown.iter().map(|c| format!("%{c}")).collect();
            b.notes.push(format!(
                "the specifiers {} depend on the running systemd and were left as written — replace them",
                list.join(" ")
            ));
        }
        main.notes = b.notes;
        tasks.push(main);

        Ok(JobOut {
            source: file.to_string(),
            comments: self.comments(unit),
            name: b.job,
            batch,
            count: None,
            restart: Some(restart),
            restart_notes,
            notes: job_notes,
            tasks,
        }
        .finish())
    }

    /// The job's notes: `After=`, `Wants=` and the other dependencies have
    /// no equivalent.
    fn dependency_notes(&self) -> Vec<String> {
        let mut job_notes = Vec::new();
        if !self.dependencies.is_empty() {
            job_notes.push(format!(
                "{}: no equivalent — supd has no ordering or dependencies between jobs and starts them all at once; a prestart task that waits for what this service needs can stand in",
                self.dependencies.join(", ")
            ));
        }
        job_notes
    }

    /// The job's comments: `Description=` (its specifiers resolved) and
    /// `Documentation=`.
    fn comments(&self, unit: &UnitName) -> Vec<String> {
        let mut comments = Vec::new();
        if let Some(d) = &self.description {
            comments.push(format!("Description: {}", unit.expand(d, &mut Vec::new())));
        }
        for d in &self.documentation {
            comments.push(format!("Documentation: {d}"));
        }
        comments
    }

    /// `Environment=` as `NAME=VALUE` pairs into `b.env` (a later value of
    /// a name wins), and a note for each `EnvironmentFile=`.
    fn read_environment(&self, b: &mut Build<'_>) -> Result<(), ImportError> {
        for raw in &self.environment {
            let words = split_words(&raw.value).map_err(|m| ImportError::Syntax {
                file: b.file.to_string(),
                line: raw.line,
                message: format!("Environment={}: {m}", raw.value),
            })?;
            for (w, _) in words {
                let w = b.unit.expand(&w, &mut b.unknown);
                match w.split_once('=') {
                    Some((k, v)) if !k.is_empty() => match b.env.iter_mut().find(|(n, _)| n == k) {
                        Some(slot) => slot.1 = v.to_string(),
                        None => b.env.push((k.to_string(), v.to_string())),
                    },
                    _ => b.notes.push(format!(
                        "line {}: Environment= word {w:?} is not NAME=VALUE; systemd ignores it",
                        raw.line
                    )),
                }
            }
        }
        for f in &self.environment_files {
            let path = f.strip_prefix('-').unwrap_or(f);
            b.notes.push(format!(
                "EnvironmentFile={f}: supd reads no environment files — copy the variables of {path} into the env block, or into a template {{ data = \"…\", destination = \"local/env\", env = true }}"
            ));
        }
        Ok(())
    }

    /// `Type=` (`simple` when unset) and whether it makes a batch job, with
    /// notes on what supd does not wait for, and on `RemainAfterExit=`.
    fn type_notes(&self, notes: &mut Vec<String>) -> (String, bool) {
        let service_type = self.service_type.as_ref().map_or("simple", |r| r.value.as_str()).to_string();
        let batch = service_type == "oneshot";
        match service_type.as_str() {
            "simple" | "exec" | "idle" | "oneshot" => {}
            "notify" | "notify-reload" => notes.push(format!(
                "Type={service_type}: supd does not wait for the program's READY=1 (NOTIFY_SOCKET is not set for tasks); the task counts as running once started"
            )),
            "forking" => {
                let pid = self.pid_file.as_ref().map(|p| format!(" (PIDFile={p})")).unwrap_or_default();
                notes.push(format!(
                    "Type=forking{pid}: supd supervises the process it starts, so the program must stay in the foreground — add the daemon's own option for that (see its manual: often -f, --foreground, -D or --nodaemon), or the task will seem to exit at once"
                ));
            }
            "dbus" => notes.push(
                "Type=dbus: supd does not wait for the bus name; the task counts as running once started".to_string(),
            ),
            other => notes.push(format!("Type={other}: unknown type, read as Type=simple")),
        }
        if self.remain_after_exit {
            notes.push(
                "RemainAfterExit=yes: no equivalent — a batch job that ended shows as dead (complete) in `supctl status`"
                    .to_string(),
            );
        }
        (service_type, batch)
    }

    /// The `ExecStart=` commands: at least one, and more only with
    /// `Type=oneshot`.
    fn start_commands(&self, b: &mut Build<'_>, service_type: &str, batch: bool) -> Result<Vec<Command>, ImportError> {
        let file = b.file;
        let starts =
            self.commands(file, "ExecStart", &self.exec_start, b.unit, &b.env, &mut b.unknown, &mut b.notes)?;
        if starts.is_empty() {
            return Err(ImportError::NoCommand {
                file: file.to_string(),
                what: "no ExecStart=".to_string(),
                hint: " (a unit whose ExecStart= is in a drop-in: append the drop-in's text to the unit's)".to_string(),
            });
        }
        if starts.len() > 1 && !batch {
            let line = self.exec_start.last().map_or(0, |r| r.line);
            return Err(ImportError::Syntax {
                file: file.to_string(),
                line,
                message: format!(
                    "more than one ExecStart= command, which systemd allows only with Type=oneshot (this is Type={service_type})"
                ),
            });
        }
        Ok(starts)
    }

    /// The main task, without its command yet: `User=`, `Group=`,
    /// `WorkingDirectory=`, the environment, and how it is stopped.
    fn main_task(&self, b: &mut Build<'_>) -> TaskOut {
        let unit = b.unit;
        let mut main = TaskOut { name: b.job.clone(), ..TaskOut::default() };
        if let Some(user) = &self.user {
            main.user = Some(unit.expand(user, &mut b.unknown));
            b.notes.push("User=: supd runs the task as this user only when supd itself runs as root".to_string());
        }
        if let Some(g) = &self.group {
            b.notes.push(format!(
                "Group={g}: no equivalent — supd runs the task with its user's primary group and supplementary groups"
            ));
        }
        if let Some(dir) = &self.working_directory {
            let (dir, optional) = match dir.strip_prefix('-') {
                Some(d) => (d, true),
                None => (dir.as_str(), false),
            };
            if dir == "~" {
                b.notes.push(
                    "WorkingDirectory=~: the task starts in its own directory; set config { work_dir } to the user's home"
                        .to_string(),
                );
            } else {
                let dir = unit.expand(dir, &mut b.unknown);
                if optional {
                    b.notes.push(format!(
                        "WorkingDirectory=-{dir}: systemd ignores a missing directory; supd fails the start"
                    ));
                }
                main.work_dir = Some(dir);
            }
        }
        main.env = b.env.clone();
        main.kill_signal = Some(self.stop_signal(b));
        main.kill_timeout = Some(self.stop_timeout(&mut b.notes));
        self.memory_limit(&mut main, &mut b.notes);
        main
    }

    /// `KillSignal=`; SIGTERM when unset or not a signal supd knows (with a
    /// note).
    fn stop_signal(&self, b: &mut Build<'_>) -> String {
        match &self.kill_signal {
            None => "SIGTERM".to_string(),
            Some(r) => match signal_name(&b.unit.expand(&r.value, &mut b.unknown)) {
                Some(s) => s,
                None => {
                    b.notes.push(format!("KillSignal={}: a signal supd does not know; SIGTERM instead", r.value));
                    "SIGTERM".to_string()
                }
            },
        }
    }

    /// `TimeoutStopSec=` as the kill timeout: systemd's default when unset,
    /// a day for no timeout (with a note).
    fn stop_timeout(&self, notes: &mut Vec<String>) -> Duration {
        match &self.timeout_stop {
            None => DEFAULT_STOP_TIMEOUT,
            Some(r) => match r.value.as_str() {
                "infinity" => {
                    notes.push(format!(
                        "TimeoutStopSec=infinity: systemd never sends SIGKILL; kill_timeout = \"{}\" instead",
                        duration(INFINITE_STOP_TIMEOUT)
                    ));
                    INFINITE_STOP_TIMEOUT
                }
                v => match timespan(v) {
                    Some(d) if d.is_zero() => {
                        notes.push(format!(
                            "TimeoutStopSec=0 (no timeout): kill_timeout = \"{}\" instead",
                            duration(INFINITE_STOP_TIMEOUT)
                        ));
                        INFINITE_STOP_TIMEOUT
                    }
                    Some(d) => d,
                    None => {
                        notes.push(format!(
                            "line {}: TimeoutStopSec={v} is not a time span; systemd's default 90s instead",
                            r.line
                        ));
                        DEFAULT_STOP_TIMEOUT
                    }
                },
            },
        }
    }

    /// `MemoryMax=` as the main task's memory, in MiB.
    fn memory_limit(&self, main: &mut TaskOut, notes: &mut Vec<String>) {
        if let Some(r) = &self.memory_max {
            match r.value.as_str() {
                "infinity" => {}
                v if v.ends_with('%') => notes.push(format!(
                    "MemoryMax={v}: a share of the host's memory has no equivalent — set resources {{ memory = MB }}"
                )),
                v => match size_bytes(v) {
                    Some(bytes) => {
                        let mb = bytes.div_ceil(1 << 20);
                        let memory = mb.max(10);
                        main.memory_mb = Some(memory);
                        notes.push(format!(
                            "MemoryMax={v}: resources {{ memory = {memory} }} (MiB; at least 10) — the task now reserves it on this host and gets resources' default cpu = 100"
                        ));
                    }
                    None => notes.push(format!("line {}: MemoryMax={v} is not a size; ignored", r.line)),
                },
            }
        }
    }

    /// `ExecStop=`, `ExecReload=` and `ExecCondition=`: not run, each with
    /// a note on what supd does instead.
    fn unrun_exec_notes(&self, b: &mut Build<'_>, kill_signal: &str) {
        for r in &self.exec_stop {
            b.notes.push(format!(
                "ExecStop={}: not run — supd stops the task with kill_signal ({}), then SIGKILL after kill_timeout",
                r.value, kill_signal
            ));
        }
        for r in &self.exec_reload {
            let words: Vec<String> = split_words(&r.value).unwrap_or_default().into_iter().map(|(w, _)| w).collect();
            let job = &b.job;
            let hint = reload_signal(&words)
                .map(|sig| format!(" — reload with `supctl signal {job} {sig}`"))
                .unwrap_or_else(|| " — run it by hand to reload".to_string());
            b.notes.push(format!("ExecReload={}: supd has no reload command{hint}", r.value));
        }
        for r in &self.exec_condition {
            b.notes.push(format!("ExecCondition={}: no equivalent — supd always starts the task", r.value));
        }
    }

    /// The prestart, poststart and poststop tasks of `ExecStartPre=`,
    /// `ExecStartPost=` and `ExecStopPost=`, set up as the main task is.
    fn hook_tasks(&self, main: &TaskOut, b: &mut Build<'_>) -> Result<Vec<TaskOut>, ImportError> {
        let mut tasks = Vec::new();
        for (key, hook, suffix, raws, when) in [
            (
                "ExecStartPre",
                "prestart",
                "-prestart",
                &self.exec_start_pre,
                "systemd runs it before every start; supd runs a prestart task once when the instance starts, not before each restart, and starts the main task only once it succeeded",
            ),
            (
                "ExecStartPost",
                "poststart",
                "-poststart",
                &self.exec_start_post,
                "systemd runs it after every start; supd runs a poststart task once the main task runs, not after each restart",
            ),
            (
                "ExecStopPost",
                "poststop",
                "-poststop",
                &self.exec_stop_post,
                "systemd runs it after every stop; supd runs a poststop task once, when the instance stops for good",
            ),
        ] {
            let cmds = self.commands(b.file, key, raws, b.unit, &b.env, &mut b.unknown, &mut b.notes)?;
            if cmds.is_empty() {
                continue;
            }
            let mut t = TaskOut {
                name: derived_name(&b.job, suffix),
                hook: Some(hook),
                user: main.user.clone(),
                work_dir: main.work_dir.clone(),
                env: main.env.clone(),
                kill_signal: main.kill_signal.clone(),
                kill_timeout: main.kill_timeout,
                ..TaskOut::default()
            };
            let written: Vec<String> = cmds.iter().map(|c| format!("{key}={}", c.raw)).collect();
            t.notes.push(format!("{}: {when}", written.join(", ")));
            hook_command(&mut t, &cmds);
            tasks.push(t);
        }
        Ok(tasks)
    }

    /// `Restart=` with `RestartSec=` and the start limit as a restart
    /// policy, and the notes on how it differs from systemd's.
    fn restart_policy(&self, batch: bool) -> (RestartOut, Vec<String>) {
        let mut restart_notes = Vec::new();
        let restart_value = self.restart.as_ref().map_or("no", |r| r.value.as_str()).to_string();
        let restart = match restart_value.as_str() {
            "no" => {
                if !batch {
                    restart_notes.push(
                        "Restart=no: the task is not restarted; once it exits the job is dead until `supctl job start`"
                            .to_string(),
                    );
                }
                RestartOut::never()
            }
            "always" | "on-success" | "on-failure" | "on-abnormal" | "on-abort" | "on-watchdog" => {
                self.restarting(&restart_value, batch, &mut restart_notes)
            }
            other => {
                restart_notes.push(format!("Restart={other}: unknown value, read as Restart=no"));
                RestartOut::never()
            }
        };
        (restart, restart_notes)
    }

    /// A `Restart=` that restarts: after `RestartSec=`, at most
    /// `StartLimitBurst=` times in `StartLimitIntervalSec=`.
    fn restarting(&self, restart_value: &str, batch: bool, restart_notes: &mut Vec<String>) -> RestartOut {
        let delay = self.time_setting(&self.restart_sec, "RestartSec", Duration::from_millis(100), restart_notes);
        let interval = self.time_setting(
            &self.start_limit_interval,
            "StartLimitIntervalSec",
            Duration::from_secs(10),
            restart_notes,
        );
        let burst = match &self.start_limit_burst {
            None => 5,
            Some(r) => r.value.parse::<u32>().unwrap_or_else(|_| {
                restart_notes.push(format!(
                    "line {}: StartLimitBurst={} is not a number; systemd's default 5 instead",
                    r.line, r.value
                ));
                5
            }),
        };
        let (policy, raised) = if interval.is_zero() {
            // No start limit: systemd restarts after every delay, forever.
            let window = Duration::from_secs(10).max(delay.saturating_mul(5));
            let attempts =
                if delay.is_zero() { 100 } else { (window.as_nanos() / delay.as_nanos()).clamp(1, 100) as u32 };
            restart_notes.push(format!(
                "StartLimitIntervalSec=0: systemd restarts without limit; here at most {attempts} restarts in {}, then the next waits",
                duration(window)
            ));
            RestartOut::delayed(attempts, window, delay)
        } else {
            restart_notes.push(format!(
                "systemd gives up (the unit fails) after {burst} starts within {} (StartLimitBurst, StartLimitIntervalSec); mode \"delay\" waits for the window instead and keeps restarting — use mode = \"fail\" for systemd's behavior",
                duration(interval)
            ));
            RestartOut::delayed(burst, interval, delay)
        };
        restart_notes.extend(raised);
        restart_value_note(restart_value, batch, restart_notes);
        policy
    }

    /// A time setting, or its default when unset or malformed (with a note).
    fn time_setting(&self, slot: &Option<Raw>, key: &str, default: Duration, notes: &mut Vec<String>) -> Duration {
        match slot {
            None => default,
            Some(r) if r.value == "infinity" => {
                notes.push(format!("{key}=infinity: read as {}", duration(default)));
                default
            }
            Some(r) => timespan(&r.value).unwrap_or_else(|| {
                notes.push(format!(
                    "line {}: {key}={} is not a time span; systemd's default {} instead",
                    r.line,
                    r.value,
                    duration(default)
                ));
                default
            }),
        }
    }
}

/// What `Unit::build` gathers while it reads the settings: the job's name,
/// the environment the command lines use, the main task's notes and the
/// specifiers it could not resolve.
struct Build<'a> {
    file: &'a str,
    unit: &'a UnitName,
    job: String,
    unknown: Vec<char>,
    notes: Vec<String>,
    env: Vec<(String, String)>,
}

/// The main task's command from the `ExecStart=` commands (several run
/// through `/bin/sh -c`), with notes on what differs from systemd.
fn main_command(main: &mut TaskOut, starts: &[Command], notes: &mut Vec<String>) {
    let first = &starts[0];
    main.command = first.program.clone();
    main.args = first.args.clone();
    if first.ignore_failure {
        notes.push("ExecStart=-…: systemd counts a failure exit as success; supd counts it as a failure".to_string());
    }
    if first.unprivileged_off && main.user.is_some() {
        notes.push(
            "ExecStart=+… or !…: systemd runs it without User=; supd runs the task as `user` — remove `user` if it must run as root"
                .to_string(),
        );
    }
    if !first.program.contains('/') {
        notes.push(format!(
            "{}: not an absolute path — supd looks it up in the task's PATH (supd's own); write the full path to be sure",
            first.program
        ));
    }
    if starts.len() > 1 {
        let rest: Vec<String> = starts[1..].iter().map(|c| c.raw.clone()).collect();
        let mut script = vec!["set -e".to_string()];
        script.extend(starts.iter().map(sh_line));
        main.command = "/bin/sh".to_string();
        main.args = vec!["-c".to_string(), script.join("\n")];
        notes.push(format!(
            "ExecStart= runs {} commands one after another (Type=oneshot): here one /bin/sh -c script runs them in order and stops at the first failure (the first, then {})",
            starts.len(),
            rest.join("; ")
        ));
    }
}

/// A hook task's command from its commands: one as it is, several (or one
/// written with `-`) as a `/bin/sh -c` script; and whether `User=` applies.
fn hook_command(t: &mut TaskOut, cmds: &[Command]) {
    if cmds.len() == 1 && !cmds[0].ignore_failure {
        t.command = cmds[0].program.clone();
        t.args = cmds[0].args.clone();
    } else {
        let mut script: Vec<String> = Vec::new();
        if cmds.len() > 1 {
            script.push("set -e".to_string());
        }
        script.extend(cmds.iter().map(sh_line));
        t.command = "/bin/sh".to_string();
        t.args = vec!["-c".to_string(), script.join("\n")];
        t.notes.push(
            "run through /bin/sh: the commands in order, stopping at the first failure, except those written with `-` (`|| true`)"
                .to_string(),
        );
    }
    if cmds.iter().all(|c| c.unprivileged_off) && t.user.is_some() {
        t.user = None;
        t.notes.push("written with + or !: runs as supd's own user, without User=".to_string());
    } else if cmds.iter().any(|c| c.unprivileged_off) {
        t.notes
            .push("some commands are written with + or ! (without User=): all of them run as `user` here".to_string());
    }
}

/// The note on how a restarting `Restart=` value differs here.
fn restart_value_note(restart_value: &str, batch: bool, restart_notes: &mut Vec<String>) {
    match restart_value {
        "always" if batch => {
            restart_notes.push("Restart=always: a batch task that exits 0 is complete and not restarted".to_string())
        }
        "always" => {}
        "on-success" => restart_notes.push(
            "Restart=on-success: supd cannot restart only after a clean exit; it restarts after any exit (service) or after failures only (batch)"
                .to_string(),
        ),
        v if batch => restart_notes.push(format!(
            "Restart={v}: a batch task is restarted after any failure and complete after exit 0"
        )),
        v => restart_notes.push(format!(
            "Restart={v}: systemd does not restart after a clean exit (status 0); a supd service task is restarted whatever its exit status"
        )),
    }
}

/// One command of an `Exec*=` line from its words: prefixes, specifiers,
/// variables.
fn command(
    key: &str,
    raw: &str,
    words: Vec<String>,
    unit: &UnitName,
    env: &[(String, String)],
    unknown: &mut Vec<char>,
    notes: &mut Vec<String>,
) -> Result<Command, ValueError> {
    let mut words = words.into_iter();
    let first = words.next().unwrap_or_default();
    let mut path = first.as_str();
    let mut c = Command { raw: raw.to_string(), ..Command::default() };
    let (mut argv0, mut no_env, mut ambient) = (false, false, false);
    loop {
        if let Some(r) = path.strip_prefix("!!") {
            ambient = true;
            path = r;
        } else if let Some(r) = path.strip_prefix('!') {
            c.unprivileged_off = true;
            path = r;
        } else if let Some(r) = path.strip_prefix('+') {
            c.unprivileged_off = true;
            path = r;
        } else if let Some(r) = path.strip_prefix('-') {
            c.ignore_failure = true;
            path = r;
        } else if let Some(r) = path.strip_prefix('@') {
            argv0 = true;
            path = r;
        } else if let Some(r) = path.strip_prefix(':') {
            no_env = true;
            path = r;
        } else {
            break;
        }
    }
    if path.is_empty() {
        return Err(ValueError::NoProgram);
    }
    let mut rest: Vec<String> = words.collect();
    if argv0 {
        if rest.is_empty() {
            return Err(ValueError::NoArgv0);
        }
        let a0 = rest.remove(0);
        notes.push(format!("{key}: `@` sets argv[0] to {a0:?}; supd passes the program's path as argv[0]"));
    }
    if ambient {
        push_once(notes, format!("{key}: the !! prefix has no equivalent and was dropped"));
    }
    let mut argv = Vec::new();
    for w in std::iter::once(path.to_string()).chain(rest) {
        let w = unit.expand(&w, unknown);
        if no_env {
            argv.push(w);
        } else {
            expand_env(&w, env, key, &mut argv, notes);
        }
    }
    let mut argv = argv.into_iter();
    match argv.next() {
        Some(p) if !p.is_empty() => c.program = p,
        _ => return Err(ValueError::UnsetProgram),
    }
    c.args = argv.collect();
    Ok(c)
}

/// The signal an `ExecReload=` sends to the main process
/// (`/bin/kill -HUP $MAINPID`, `kill -s USR1 $MAINPID`), if that is all it does.
fn reload_signal(words: &[String]) -> Option<String> {
    let prog = words.first()?.trim_start_matches(['-', '@', ':', '+', '!']);
    if prog.rsplit('/').next() != Some("kill") || !words.iter().any(|w| w == "$MAINPID" || w == "${MAINPID}") {
        return None;
    }
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        if w == "-s" {
            return signal_name(it.next()?);
        }
        if let Some(sig) = w.strip_prefix('-') {
            return signal_name(sig);
        }
    }
    Some("SIGTERM".to_string())
}

#[cfg(test)]
mod tests;
