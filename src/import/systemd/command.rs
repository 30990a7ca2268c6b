//! Command lines of `Exec*=` (systemd.service(5) "COMMAND LINES"): words,
//! quotes and escapes, prefixes, `$NAME` variables; their text for `/bin/sh -c`.

use super::specifiers::UnitName;
use super::{ValueError, push_once};
use crate::import::signal_name;

/// The words of a value, unquoted and unescaped; `true` with a word
/// written without quotes or escapes (a lone `;` separates commands only
/// then).
pub(super) fn split_words(value: &str) -> Result<Vec<(String, bool)>, ValueError> {
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
pub(super) struct Command {
    pub(super) program: String,
    pub(super) args: Vec<String>,
    /// `-`: a failure counts as success.
    pub(super) ignore_failure: bool,
    /// `+` or `!`: runs without the unit's `User=`.
    pub(super) unprivileged_off: bool,
    /// The value as written, for notes.
    pub(super) raw: String,
}

/// The text of a program and its arguments for `/bin/sh -c`.
fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub(super) fn sh_line(c: &Command) -> String {
    let mut words = vec![sh_quote(&c.program)];
    words.extend(c.args.iter().map(|a| sh_quote(a)));
    let line = words.join(" ");
    if c.ignore_failure { format!("{line} || true") } else { line }
}

/// One command of an `Exec*=` line from its words: prefixes, specifiers,
/// variables.
pub(super) fn command(
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
pub(super) fn reload_signal(words: &[String]) -> Option<String> {
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
