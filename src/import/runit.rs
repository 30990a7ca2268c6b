//! runit service directories → supd jobs.
//!
//! Design. A runit service is a directory whose `run` file runsv starts,
//! in that directory, again and again. Most `run` files are a few lines
//! of `/bin/sh` ending in `exec [chpst OPTIONS] PROGRAM ARGS`: such a
//! script is read line by line (`exec 2>&1`, `NAME=value` and `export`
//! lines, `cd DIR`, comments) and converted to the program it ends in,
//! with its arguments split as the shell would (quotes, backslashes, the
//! script's own variables), its exported variables as `env`, and chpst's
//! `-u USER` as `user` (its other options become notes). Anything the
//! reader does not follow exactly (another command, a pipe, a variable the
//! script does not set, `$(...)`) makes the job run the script itself:
//! `/bin/sh -c SCRIPT` (or the shell its `#!` line names), which keeps its
//! meaning whatever it does, with a note; a script for another
//! interpreter (execlineb, perl, …) is run from its file, `DIR/run`.
//!
//! runsv restarts `run` whenever it ends, without limit, waiting a second
//! when it ended within a second: the restart policy is a 1s delay with
//! room for 60 restarts a minute (mode "delay"). `finish` has no
//! equivalent (it runs after every exit of `run`) and is only noted.

use super::{Converted, ImportError, JobOut, RestartOut, TaskOut, name};
use std::time::Duration;

/// The shells whose scripts are read, or run with `-c`.
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"];

/// Converts a runit service. `dir_name` is the service directory
/// (`/etc/sv/nginx`) or its name (`nginx`); `run_script` the text of its
/// `run` file, `finish` of its `finish` file if it has one.
pub fn convert(dir_name: &str, run_script: &str, finish: Option<&str>) -> Result<Converted, ImportError> {
    let dir = match dir_name.trim_end_matches('/') {
        "" if dir_name.starts_with('/') => "/",
        d => d,
    };
    let service = dir.rsplit('/').next().unwrap_or(dir);
    let job = name(service);
    let source = format!("{dir}/run");
    if run_script.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(ImportError::NoCommand {
            file: source,
            what: "the run script has no commands".to_string(),
            hint: String::new(),
        });
    }
    // runsv runs ./run in the service directory.
    let service_dir = dir.starts_with('/').then(|| dir.to_string());

    let mut task = TaskOut { name: job.clone(), ..TaskOut::default() };
    let mut notes = Vec::new();
    match read_simple(run_script) {
        Ok(simple) => simple_task(&mut task, simple, service_dir.as_deref(), &mut notes),
        Err(why) => script_task(&mut task, run_script, &why.to_string(), service_dir.as_deref(), service, &mut notes),
    }
    if service_dir.is_none() && task.work_dir.is_none() {
        notes.push(format!(
            "runsv starts ./run in the service directory; set config {{ work_dir }} to it if the program uses relative paths ({service} was given without its directory)"
        ));
    }
    task.kill_signal = Some("SIGTERM".to_string());
    task.kill_timeout = Some(Duration::from_secs(7));
    notes.push(
        "`sv down` sends SIGTERM (then SIGCONT) and never SIGKILL; supd sends SIGKILL after kill_timeout (7s, the time `sv` waits)"
            .to_string(),
    );
    if let Some(f) = finish
        && !f.trim().is_empty()
    {
        notes.push(format!(
            "{dir}/finish: not converted — runsv runs it after every exit of ./run; supd has no hook between restarts (a task with lifecycle {{ hook = \"poststop\" }} runs once, when the instance stops for good)"
        ));
    }
    task.notes = notes;

    let (restart, _) = RestartOut::delayed(60, Duration::from_secs(60), Duration::from_secs(1));
    Ok(JobOut {
        source,
        comments: Vec::new(),
        name: job,
        batch: false,
        count: None,
        restart: Some(restart),
        restart_notes: vec![
            "runsv restarts ./run whenever it exits, without limit, a second later at most; here 1s after each exit, up to 60 times a minute, then the next waits"
                .to_string(),
        ],
        notes: Vec::new(),
        tasks: vec![task],
    }
    .finish())
}

/// The task of a script of the simple form: the program it ends in, with
/// its arguments, user, environment and directory.
fn simple_task(task: &mut TaskOut, simple: Simple, service_dir: Option<&str>, notes: &mut Vec<String>) {
    task.command = simple.program;
    task.args = simple.args;
    task.user = simple.user;
    task.env = simple.env;
    task.work_dir = match simple.work_dir {
        Some(d) if d.starts_with('/') => Some(d),
        Some(d) => match service_dir {
            Some(s) => Some(format!("{s}/{d}")),
            None => {
                notes.push(format!(
                    "the script changes to the directory {d:?}, relative to the service directory: set work_dir to its full path"
                ));
                None
            }
        },
        None => service_dir.map(str::to_string),
    };
    notes.extend(simple.notes);
    if !task.command.contains('/') {
        notes.push(format!(
            "{}: not an absolute path — supd looks it up in the task's PATH (supd's own, not runsvdir's); write the full path to be sure",
            task.command
        ));
    } else if !task.command.starts_with('/') {
        notes.push(format!(
            "{}: a relative path (the script runs in the service directory) — write the full path",
            task.command
        ));
    }
}

/// The task of a script not of the simple form (`why` says why): the whole
/// script run by its shell with `-c`, or the `run` file itself for
/// another interpreter.
fn script_task(
    task: &mut TaskOut,
    run_script: &str,
    why: &str,
    service_dir: Option<&str>,
    service: &str,
    notes: &mut Vec<String>,
) {
    task.work_dir = service_dir.map(str::to_string);
    match shebang(run_script) {
        Shebang::Shell { interpreter, flags } => {
            task.command = interpreter;
            task.args = flags;
            task.args.push("-c".to_string());
            task.args.push(run_script.to_string());
            notes.push(format!(
                "the run script is not only `exec PROGRAM` ({why}): the task runs the whole script with {} -c, so it keeps its meaning — if it ends in `exec PROGRAM`, writing that program as command and args instead gives supd the process itself",
                task.command
            ));
        }
        Shebang::Other(interpreter) => {
            task.command = match service_dir {
                Some(d) => format!("{d}/run"),
                None => format!("/etc/sv/{service}/run"),
            };
            notes.push(format!(
                "the run script is for {interpreter}: the task runs the file {} itself, which must stay there{}",
                task.command,
                if service_dir.is_none() { " (check the path: the service directory was not given)" } else { "" }
            ));
        }
    }
}

// --- the #! line ----------------------------------------------------------------

enum Shebang {
    /// A shell: its path (or name, through `env`) and the flags of the line.
    Shell { interpreter: String, flags: Vec<String> },
    /// Another interpreter, as written.
    Other(String),
}

fn shebang(script: &str) -> Shebang {
    let Some(line) = script.lines().next().and_then(|l| l.strip_prefix("#!")) else {
        // runsv would fail to execute it (no #! line): read it as sh.
        return Shebang::Shell { interpreter: "/bin/sh".to_string(), flags: Vec::new() };
    };
    let mut words = line.split_whitespace();
    let Some(mut interpreter) = words.next() else {
        return Shebang::Shell { interpreter: "/bin/sh".to_string(), flags: Vec::new() };
    };
    if interpreter.rsplit('/').next() == Some("env")
        && let Some(next) = words.next()
    {
        interpreter = next;
    }
    let base = interpreter.rsplit('/').next().unwrap_or(interpreter);
    if SHELLS.contains(&base) {
        Shebang::Shell { interpreter: interpreter.to_string(), flags: words.map(str::to_string).collect() }
    } else {
        Shebang::Other(line.trim().to_string())
    }
}

// --- the simple form -----------------------------------------------------------------

/// What a `run` script of the simple form runs.
#[derive(Debug, Default)]
struct Simple {
    program: String,
    args: Vec<String>,
    user: Option<String>,
    work_dir: Option<String>,
    env: Vec<(String, String)>,
    notes: Vec<String>,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `NAME=value` as a shell assignment, if `word` is one.
fn assignment(word: &str) -> Option<(&str, &str)> {
    word.split_once('=').filter(|(n, _)| is_name(n))
}

/// Why a `run` script is not of the simple form (then it is run whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSimple {
    #[error("it has no #! line")]
    NoShebang,
    /// Its `#!` line names another interpreter than a shell.
    #[error("it is a {0} script")]
    OtherInterpreter(String),
    #[error("a line follows the exec line: {0:?}")]
    AfterExec(String),
    #[error("cannot read {0:?}")]
    Unreadable(String),
    /// It runs a command (this one) before its `exec`.
    #[error("it runs {0:?} before its program")]
    RunsFirst(String),
    #[error("it does not end in `exec PROGRAM`")]
    NoExec,
    #[error("chpst has no program to run")]
    NoProgram,
    #[error("chpst -{0} has no value")]
    NoOptionValue(char),
    #[error("chpst -{0} is not an option chpst knows")]
    UnknownOption(char),
    /// A `'` or `"` quote (the character) without its closing one.
    #[error("a {0} quote is not closed")]
    UnclosedQuote(char),
    #[error("a backslash ends the line")]
    TrailingBackslash,
    /// A character the shell acts on (a pipe, a redirection, a glob, …),
    /// in `line`.
    #[error("it uses {c:?} in {line:?}")]
    ShellSyntax { c: char, line: String },
    #[error("it uses ~ in {0:?}")]
    Tilde(String),
    #[error("it uses `...`")]
    Backquotes,
    #[error("a ${{ is not closed")]
    UnclosedBrace,
    /// `$` followed by what is not a variable's name (`$(`, `$1`, …).
    #[error("it uses ${0}")]
    Expansion(String),
    /// A variable the script does not set.
    #[error("it uses ${0}, which the script does not set")]
    UnsetVariable(String),
}

/// Reads a script of the simple form; `Err` says why it is not one.
fn read_simple(script: &str) -> Result<Simple, NotSimple> {
    match shebang(script) {
        Shebang::Shell { .. } if script.starts_with("#!") => {}
        Shebang::Shell { .. } => return Err(NotSimple::NoShebang),
        Shebang::Other(i) => return Err(NotSimple::OtherInterpreter(i)),
    }
    let mut out = Simple::default();
    // The script's variables, and which of them are exported.
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut exported: Vec<String> = Vec::new();
    let mut exec: Option<Vec<String>> = None;
    let set = |vars: &mut Vec<(String, String)>, n: &str, v: &str| match vars.iter_mut().find(|(k, _)| k == n) {
        Some(slot) => slot.1 = v.to_string(),
        None => vars.push((n.to_string(), v.to_string())),
    };
    for line in script.lines().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if exec.is_some() {
            return Err(NotSimple::AfterExec(line.to_string()));
        }
        let (words, _redirect) = shell_words(line, &vars)?;
        let Some(first) = words.first() else {
            continue;
        };
        if words.iter().all(|w| assignment(w).is_some()) {
            for w in &words {
                if let Some((n, v)) = assignment(w) {
                    set(&mut vars, n, v);
                }
            }
            continue;
        }
        match first.as_str() {
            "export" => {
                for w in &words[1..] {
                    match assignment(w) {
                        Some((n, v)) => {
                            set(&mut vars, n, v);
                            exported.push(n.to_string());
                        }
                        None if is_name(w) => exported.push(w.clone()),
                        None => return Err(NotSimple::Unreadable(line.to_string())),
                    }
                }
            }
            "cd" if words.len() == 2 => out.work_dir = Some(words[1].clone()),
            "umask" if words.len() == 2 => {
                out.notes.push(format!("umask {}: no equivalent — the task gets supd's umask", words[1]));
            }
            // `exec 2>&1` and a bare `exec`: nothing to run.
            "exec" if words.len() == 1 => {}
            "exec" => exec = Some(words[1..].to_vec()),
            other => return Err(NotSimple::RunsFirst(other.to_string())),
        }
    }
    let Some(words) = exec else {
        return Err(NotSimple::NoExec);
    };
    // A name exported without a value here (`export PATH`) is runsvdir's.
    for n in &exported {
        if let Some((k, v)) = vars.iter().find(|(k, _)| k == n)
            && !out.env.iter().any(|(e, _)| e == k)
        {
            out.env.push((k.clone(), v.clone()));
        }
    }
    let start = if words.first().map(|w| w.rsplit('/').next() == Some("chpst")) == Some(true) {
        chpst(&words, &mut out)?
    } else {
        0
    };
    let mut rest = words[start..].iter();
    out.program = rest.next().cloned().ok_or(NotSimple::NoProgram)?;
    out.args = rest.cloned().collect();
    Ok(out)
}

/// Reads chpst's options (`words[0]` is chpst) into `out`; returns the
/// index of the program.
fn chpst(words: &[String], out: &mut Simple) -> Result<usize, NotSimple> {
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        if w == "--" {
            i += 1;
            break;
        }
        let Some(opts) = w.strip_prefix('-').filter(|o| !o.is_empty()) else {
            break;
        };
        for (pos, c) in opts.char_indices() {
            if "vP012".contains(c) {
                if c != 'v' && c != 'P' {
                    out.notes.push(format!(
                        "chpst -{c}: closes the program's file descriptor {c}; supd gives every task /dev/null as stdin and captures stdout and stderr"
                    ));
                }
                continue;
            }
            // An option with a value: the rest of this word, or the next.
            let attached = &opts[pos + c.len_utf8()..];
            let value = if attached.is_empty() {
                i += 1;
                words.get(i).cloned().ok_or(NotSimple::NoOptionValue(c))?
            } else {
                attached.to_string()
            };
            match c {
                'u' => {
                    let mut parts = value.split(':');
                    let user = parts.next().unwrap_or_default();
                    if user.is_empty() {
                        // `-u :UID:GID`: numeric ids.
                        let uid = parts.next().unwrap_or_default();
                        out.user = Some(uid.to_string());
                        out.notes.push(format!(
                            "chpst -u {value}: user {uid} (numeric); supd gives the task that user's groups, not the ones given here"
                        ));
                    } else {
                        out.user = Some(user.to_string());
                        let groups: Vec<&str> = parts.collect();
                        if !groups.is_empty() {
                            out.notes.push(format!(
                                "chpst -u {value}: the groups {} have no equivalent — supd gives the task its user's primary group and supplementary groups",
                                groups.join(", ")
                            ));
                        }
                    }
                }
                'C' => out.work_dir = Some(value),
                'e' => out.notes.push(format!(
                    "chpst -e {value}: supd reads no envdir — put the variables of the files in {value} into the env block"
                )),
                'U' => out.notes.push(format!("chpst -U {value}: $UID and $GID are not set for the program")),
                'b' => out.notes.push(format!("chpst -b {value}: supd passes the program's path as argv[0]")),
                '/' => out.notes.push(format!("chpst -/ {value}: no equivalent — the task is not chrooted")),
                'n' => out.notes.push(format!(
                    "chpst -n {value}: supd does not change the task's nice value — run the program through `nice -n {value}` if it matters"
                )),
                'l' | 'L' => out.notes.push(format!("chpst -{c} {value}: no equivalent — the lock file is not taken")),
                'm' | 'd' | 'o' | 'p' | 'f' | 'c' | 'r' | 't' => out.notes.push(format!(
                    "chpst -{c} {value}: supd sets no resource limits of its own; the task inherits supd's"
                )),
                other => return Err(NotSimple::UnknownOption(other)),
            }
            break;
        }
        i += 1;
    }
    Ok(i)
}

/// The words of one line of a simple script as the shell would make
/// them: quotes, backslashes, `$NAME` and `${NAME}` of `vars` (split into
/// words outside double quotes), and `2>&1` (returned as `true`, not a
/// word). `Err` for anything else the shell would act on.
fn shell_words(line: &str, vars: &[(String, String)]) -> Result<(Vec<String>, bool), NotSimple> {
    let chars: Vec<char> = line.chars().collect();
    let mut w = LineWords::default();
    let mut redirect = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                w.end();
                i += 1;
            }
            '#' if !w.started => break,
            '\'' => {
                w.started = true;
                let close = chars[i + 1..].iter().position(|&c| c == '\'').ok_or(NotSimple::UnclosedQuote('\''))?;
                w.word.extend(&chars[i + 1..i + 1 + close]);
                i += close + 2;
            }
            '"' => {
                w.started = true;
                i = double_quoted(&chars, i + 1, vars, &mut w.word)?;
            }
            '\\' => {
                w.started = true;
                let n = chars.get(i + 1).ok_or(NotSimple::TrailingBackslash)?;
                w.word.push(*n);
                i += 2;
            }
            '$' if chars.get(i + 1).is_none_or(|n| n.is_whitespace()) => {
                w.started = true;
                w.word.push('$');
                i += 1;
            }
            '$' => {
                let (value, next) = variable(&chars, i, vars)?;
                // Outside quotes the value is split into words.
                for ch in value.chars() {
                    if ch.is_whitespace() {
                        w.end();
                    } else {
                        w.word.push(ch);
                        w.started = true;
                    }
                }
                i = next;
            }
            '>' if w.started
                && w.word == "2"
                && chars.get(i + 1) == Some(&'&')
                && chars.get(i + 2) == Some(&'1')
                && chars.get(i + 3).is_none_or(|n| n.is_whitespace()) =>
            {
                redirect = true;
                w.word.clear();
                w.started = false;
                i += 3;
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '`' | '*' | '?' | '[' => {
                return Err(NotSimple::ShellSyntax { c, line: line.to_string() });
            }
            '~' if !w.started => return Err(NotSimple::Tilde(line.to_string())),
            c => {
                w.word.push(c);
                w.started = true;
                i += 1;
            }
        }
    }
    w.end();
    Ok((w.words, redirect))
}

/// The words `shell_words` has read so far, and the one it is reading.
#[derive(Default)]
struct LineWords {
    words: Vec<String>,
    word: String,
    /// A word is being read (perhaps an empty one: `''`).
    started: bool,
}

impl LineWords {
    /// Ends the word being read, if one is.
    fn end(&mut self) {
        if self.started {
            self.words.push(std::mem::take(&mut self.word));
            self.started = false;
        }
    }
}

/// A double-quoted string whose opening quote is before `i`, into `word`:
/// backslashes before `$`, `` ` ``, `"` and `\`, and variables; the index
/// after its closing quote.
fn double_quoted(
    chars: &[char],
    mut i: usize,
    vars: &[(String, String)],
    word: &mut String,
) -> Result<usize, NotSimple> {
    loop {
        match chars.get(i) {
            None => return Err(NotSimple::UnclosedQuote('"')),
            Some('"') => {
                i += 1;
                break;
            }
            Some('\\') => {
                match chars.get(i + 1) {
                    Some(&n @ ('$' | '`' | '"' | '\\')) => word.push(n),
                    Some(&n) => {
                        word.push('\\');
                        word.push(n);
                    }
                    None => return Err(NotSimple::UnclosedQuote('"')),
                }
                i += 2;
            }
            Some('$') => {
                let (value, next) = variable(chars, i, vars)?;
                word.push_str(&value);
                i = next;
            }
            Some('`') => return Err(NotSimple::Backquotes),
            Some(&n) => {
                word.push(n);
                i += 1;
            }
        }
    }
    Ok(i)
}

/// `$NAME` or `${NAME}` at `i`: the value and the index after it.
fn variable(chars: &[char], i: usize, vars: &[(String, String)]) -> Result<(String, usize), NotSimple> {
    let (name, next) = if chars.get(i + 1) == Some(&'{') {
        let close = chars[i + 2..].iter().position(|&c| c == '}').ok_or(NotSimple::UnclosedBrace)?;
        (chars[i + 2..i + 2 + close].iter().collect::<String>(), i + 3 + close)
    } else {
        let len = chars[i + 1..].iter().take_while(|&&c| c.is_ascii_alphanumeric() || c == '_').count();
        (chars[i + 1..i + 1 + len].iter().collect::<String>(), i + 1 + len)
    };
    if !is_name(&name) {
        let written = if name.is_empty() { chars.get(i + 1).map(|c| c.to_string()).unwrap_or_default() } else { name };
        return Err(NotSimple::Expansion(written));
    }
    match vars.iter().find(|(k, _)| *k == name) {
        Some((_, v)) => Ok((v.clone(), next)),
        None => Err(NotSimple::UnsetVariable(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::import::testing::{has_note, valid};

    const NGINX: &str = r#"#!/bin/sh
# runit service for nginx
exec 2>&1
CONF=/etc/nginx/nginx.conf
export LANG=C.UTF-8
exec chpst -u www-data:www-data -o 4096 /usr/sbin/nginx -c "$CONF" -g 'daemon off;'
"#;

    #[test]
    fn simple_run_script() {
        let c = convert("/etc/sv/nginx/", NGINX, None).unwrap();
        assert_eq!(c.name, "nginx");
        let h = &c.hcl;
        assert!(h.starts_with("# Converted from /etc/sv/nginx/run by supctl import.\n"), "{h}");
        assert!(h.contains("user = \"www-data\""), "{h}");
        assert!(h.contains("command  = \"/usr/sbin/nginx\""), "{h}");
        assert!(h.contains("work_dir = \"/etc/sv/nginx\""), "{h}");
        assert!(h.contains("LANG = \"C.UTF-8\""), "{h}");
        assert!(!h.contains("CONF ="), "an unexported variable is not in env: {h}");
        assert!(h.contains("attempts = 60"), "{h}");
        assert!(h.contains("delay    = \"1s\""), "{h}");
        assert!(h.contains("mode     = \"delay\""), "{h}");
        assert!(has_note(&c, "chpst -u www-data:www-data"), "{:#?}", c.notes);
        assert!(has_note(&c, "chpst -o 4096"), "{:#?}", c.notes);
        let job = valid(h);
        let t = &job.groups[0].tasks[0];
        assert_eq!(t.command, "/usr/sbin/nginx");
        assert_eq!(t.args, vec!["-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"]);
        assert_eq!(t.user.as_deref(), Some("www-data"));
        assert_eq!(t.kill_signal.name(), Some("SIGTERM"));
        assert_eq!(job.groups[0].restart.attempts, 60);
    }

    #[test]
    fn other_scripts_run_whole() {
        let script =
            "#!/bin/sh -e\nsv start postgresql || exit 1\n. /etc/default/app\nexec /usr/bin/app $APP_OPTS 2>&1\n";
        let c = convert("app", script, Some("#!/bin/sh\nrm -f /run/app.pid\n")).unwrap();
        assert!(c.hcl.contains("command = \"/bin/sh\""), "{}", c.hcl);
        assert!(has_note(&c, "runs the whole script"), "{:#?}", c.notes);
        assert!(has_note(&c, "app/finish"), "{:#?}", c.notes);
        assert!(has_note(&c, "without its directory"), "{:#?}", c.notes);
        let job = valid(&c.hcl);
        let t = &job.groups[0].tasks[0];
        assert_eq!(t.args[0], "-e");
        assert_eq!(t.args[1], "-c");
        assert_eq!(t.args[2], script);

        let exec = "#!/bin/execlineb -P\nfdmove -c 2 1\ns6-setuidgid daemon /usr/bin/thing\n";
        let c = convert("/etc/sv/thing", exec, None).unwrap();
        assert!(c.hcl.contains("command  = \"/etc/sv/thing/run\""), "{}", c.hcl);
        assert!(has_note(&c, "execlineb"), "{:#?}", c.notes);
        valid(&c.hcl);

        let cd = "#!/bin/bash\ncd data\nexport HOME=/srv/x PORT\nexec ./server --name \"a b\" \\$literal\n";
        let c = convert("/etc/sv/x", cd, None).unwrap();
        let job = valid(&c.hcl);
        let t = &job.groups[0].tasks[0];
        assert_eq!(t.command, "./server");
        assert_eq!(t.args, vec!["--name", "a b", "$literal"]);
        assert_eq!(t.work_dir.as_deref(), Some("/etc/sv/x/data"));
        assert_eq!(t.env.get("HOME").map(String::as_str), Some("/srv/x"));
        assert!(!t.env.contains_key("PORT"));
    }

    #[test]
    fn empty_run_script() {
        match convert("/etc/sv/none", "#!/bin/sh\n# nothing\n\n", None) {
            Err(e @ ImportError::NoCommand { .. }) => assert!(e.to_string().contains("/etc/sv/none/run"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn words() {
        let vars = vec![("X".to_string(), "one two".to_string())];
        assert_eq!(
            shell_words("a $X \"$X\" b${X}c", &vars).unwrap().0,
            vec!["a", "one", "two", "one two", "bone", "twoc"]
        );
        assert_eq!(shell_words("exec 2>&1", &vars).unwrap(), (vec!["exec".to_string()], true));
        assert!(shell_words("a | b", &vars).is_err());
        assert!(shell_words("a $(b)", &vars).is_err());
        assert!(shell_words("a $UNSET", &vars).is_err());
        assert_eq!(shell_words("a # comment", &vars).unwrap().0, vec!["a"]);
    }
}
