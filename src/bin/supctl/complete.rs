//! Shell completion: `supctl completions SHELL` prints clap_complete's
//! script for the shell, wrapped so that where a job or target name goes
//! the shell asks `supctl __complete`, which reads them from the running
//! supd's status. Everything else (commands, options, files) is clap's.

use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;
use supd::control::client::Connection;
use supd::control::protocol::{Request, Status};

/// The hidden command the scripts run.
pub const COMMAND: &str = "__complete";

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The script for a shell.
pub fn script(shell: Shell, cmd: &mut clap::Command) -> ExitCode {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(generator, cmd, "supctl", &mut buf);
    let generated = String::from_utf8_lossy(&buf);
    let text = match shell {
        Shell::Bash => format!("{generated}\n{BASH}"),
        Shell::Zsh => zsh(&generated),
        Shell::Fish => format!("{generated}\n{FISH}"),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

/// Bash: a function in front of clap's `_supctl`, registered in its place.
const BASH: &str = r#"# Job and target names come from the running supd.
_supctl_supd() {
    local cmd=supctl out line c
    [[ ${COMP_WORDS[0]} == */* && -x ${COMP_WORDS[0]} ]] && cmd=${COMP_WORDS[0]}
    if out=$("$cmd" __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null); then
        COMPREPLY=()
        while IFS= read -r line; do
            [[ -n $line ]] && COMPREPLY+=("$line")
        done <<<"$out"
        # A name, not a file: no file names when nothing matches; no space
        # after JOB/ so that the name can go on.
        compopt +o default +o bashdefault 2>/dev/null
        for c in "${COMPREPLY[@]}"; do
            if [[ $c == */ ]]; then
                compopt -o nospace 2>/dev/null
                break
            fi
        done
        return 0
    fi
    _supctl "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _supctl_supd -o nosort -o bashdefault -o default supctl
else
    complete -F _supctl_supd -o bashdefault -o default supctl
fi
"#;

/// Zsh: clap's `_supctl` becomes `_supctl_clap`, and `_supctl` asks supd
/// first. The file works both autoloaded from `fpath` and sourced.
fn zsh(generated: &str) -> String {
    const CLAP_DEF: &str = "\n_supctl() {\n";
    const TAIL: &str = "\nif [ \"$funcstack[1]\" = \"_supctl\" ]; then";
    let (Some(def), Some(tail)) = (generated.find(CLAP_DEF), generated.rfind(TAIL)) else {
        // clap_complete changed its layout: its script alone still works.
        return generated.to_string();
    };
    let mut out = String::with_capacity(generated.len() + ZSH.len() + 16);
    out.push_str(&generated[..def]);
    out.push_str("\n_supctl_clap() {\n");
    out.push_str(&generated[def + CLAP_DEF.len()..tail]);
    out.push('\n');
    out.push_str(ZSH);
    out.push_str(&generated[tail..]);
    out
}

const ZSH: &str = r#"# Job and target names come from the running supd.
_supctl() {
    local out
    local -a names
    if out=$(${words[1]:-supctl} __complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null); then
        names=(${(f)out})
        # No space after JOB/ so that the name can go on.
        compadd -S '' -- ${(M)names:#*/}
        compadd -- ${names:#*/}
        return 0
    fi
    _supctl_clap "$@"
}
"#;

/// Fish: one more rule, active only where a name goes.
const FISH: &str = r#"# Job and target names come from the running supd.
function __fish_supctl_supd
    set -l words (commandline -opc) (commandline -ct)
    supctl __complete $argv (math (count $words) - 1) $words 2>/dev/null
end
complete -c supctl -f -n '__fish_supctl_supd --position' -a '(__fish_supctl_supd)'
"#;

/// What the completion of one word wants from supd.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    /// `JOB[/GROUP[/INDEX[/TASK]]]`
    Targets,
    Jobs,
    Signals,
}

/// Where the word being completed stands, and the socket or config file
/// the command line names.
#[derive(Debug, Default, PartialEq, Eq)]
struct Place {
    socket: Option<PathBuf>,
    config: Option<PathBuf>,
}

/// `__complete [--position] CWORD WORDS...`: with `--position`, only
/// whether word CWORD is a name supd knows (exit 0) or not (exit 1);
/// otherwise also the candidates that begin with it, one a line.
pub fn run(root: &clap::Command, args: &[String]) -> ExitCode {
    let (position_only, args) = match args.first().map(String::as_str) {
        Some("--position") => (true, &args[1..]),
        _ => (false, args),
    };
    let Some(cword) = args.first().and_then(|c| c.parse::<usize>().ok()) else {
        eprintln!("usage: supctl {COMMAND} [--position] CWORD WORDS...");
        return ExitCode::from(2);
    };
    let words = &args[1..];
    let Some((want, place)) = analyse(root, words, cword) else { return ExitCode::from(1) };
    if position_only {
        return ExitCode::SUCCESS;
    }
    let current = words.get(cword).map_or("", String::as_str);
    let names = match want {
        Want::Signals => signals(),
        Want::Jobs | Want::Targets => match status(&place) {
            Some(s) if want == Want::Jobs => s.jobs.iter().map(|j| j.name.clone()).collect(),
            Some(s) => targets(&s, current),
            None => Vec::new(),
        },
    };
    for n in names.iter().filter(|n| n.starts_with(current)) {
        println!("{n}");
    }
    ExitCode::SUCCESS
}

/// The status of the supd the command line talks to; `None` when none
/// answers (nothing to offer then).
fn status(place: &Place) -> Option<Status> {
    let socket = place
        .socket
        .clone()
        .or_else(|| std::env::var_os("SUPD_SOCKET").map(PathBuf::from))
        .or_else(|| supd::config::File::load_given_or_default(place.config.as_deref()).ok()?.socket)
        .unwrap_or_else(supd::config::default_socket);
    Connection::call(&socket, Request::Status { target: None, events: Some(0), brief: false }).ok()?.status
}

/// Reads the command line up to word `cword` as clap would: the
/// subcommand, how many positional words came before, and the global
/// options. `None` when the word is not a name supd knows: an option, an
/// option's value, a file.
fn analyse(root: &clap::Command, words: &[String], cword: usize) -> Option<(Want, Place)> {
    let mut root = root.clone();
    root.build();
    let mut cmd = &root;
    let mut path: Vec<&str> = Vec::new();
    let mut positional = 0;
    let mut place = Place::default();
    let mut only_positional = false;
    let end = cword.min(words.len());
    let mut i = 1;
    while i < end {
        let w = words[i].as_str();
        if !only_positional && w == "--" {
            only_positional = true;
            i += 1;
            continue;
        }
        if !only_positional && w.starts_with('-') && w.len() > 1 {
            i = read_option(cmd, words, i, end, &mut place)? + 1;
            continue;
        }
        match cmd.find_subcommand(w) {
            Some(sub) if positional == 0 && !only_positional => {
                cmd = sub;
                path.push(sub.get_name());
            }
            _ => positional += 1,
        }
        i += 1;
    }
    if !only_positional && words.get(cword).is_some_and(|w| w.starts_with('-')) {
        return None;
    }
    let want = match (path.as_slice(), positional) {
        (["status" | "restart" | "signal" | "logs" | "events"], 0) => Want::Targets,
        (["signal"], 1) => Want::Signals,
        (["job", "stop"] | ["job", "inspect"] | ["job", "periodic", "force"] | ["job", "dispatch"], 0) => Want::Jobs,
        _ => return None,
    };
    Some((want, place))
}

/// The option at word `i` of the command line, its value noted in `place`
/// when it names the socket or the config file: the index of its last word
/// (its value's, when that is the next word), or `None` when the word being
/// completed (at `end`) is its value.
fn read_option(cmd: &clap::Command, words: &[String], i: usize, end: usize, place: &mut Place) -> Option<usize> {
    let w = words[i].as_str();
    let mut i = i;
    // The option and its value: inline (`--x=v`, `-nv`), the next
    // word, or after a lone `=` that bash splits off.
    let (arg, inline) = if let Some(long) = w.strip_prefix("--") {
        let (name, value) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v)));
        (cmd.get_arguments().find(|a| a.get_long() == Some(name)), value)
    } else {
        // A cluster of short flags; the first that takes a value
        // takes the rest of the word, or the next word.
        let mut found = None;
        for (k, c) in w[1..].char_indices() {
            let a = cmd.get_arguments().find(|a| a.get_short() == Some(c));
            if a.is_some_and(|a| a.get_action().takes_values()) {
                let rest = &w[1 + k + c.len_utf8()..];
                found = Some((a, (!rest.is_empty()).then_some(rest)));
                break;
            }
        }
        found.unwrap_or((None, Some("")))
    };
    let takes_value = arg.is_some_and(|a| a.get_action().takes_values());
    let value = match inline {
        _ if !takes_value => None,
        Some(v) => Some(v.to_string()),
        None => {
            let mut j = i + 1;
            if words.get(j).map(String::as_str) == Some("=") {
                j += 1;
            }
            if j >= end {
                return None; // the word is this option's value
            }
            i = j;
            Some(words[j].clone())
        }
    };
    match (arg.map(|a| a.get_id().as_str()), value) {
        (Some("socket"), Some(v)) => place.socket = Some(v.into()),
        (Some("config"), Some(v)) => place.config = Some(v.into()),
        _ => {}
    }
    Some(i)
}

/// The targets one level below what `current` has typed: jobs, then
/// `JOB/GROUP`, `JOB/GROUP/INDEX`, `JOB/GROUP/INDEX/TASK`. A name with
/// more below it also comes with a `/` after it, so that it can go on.
fn targets(s: &Status, current: &str) -> Vec<String> {
    let depth = current.matches('/').count();
    let mut out = Vec::new();
    let mut add = |name: String, level: usize, more: bool| {
        if level == depth {
            if more {
                out.push(format!("{name}/"));
            }
            out.push(name);
        }
    };
    for j in &s.jobs {
        add(j.name.clone(), 0, !j.groups.is_empty());
        for g in &j.groups {
            let group = format!("{}/{}", j.name, g.name);
            add(group.clone(), 1, !g.instances.is_empty());
            for i in &g.instances {
                let instance = format!("{group}/{}", i.index);
                add(instance.clone(), 2, !i.tasks.is_empty());
                for t in &i.tasks {
                    add(format!("{instance}/{}", t.name), 3, false);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Signal names, and 0 (the liveness probe).
fn signals() -> Vec<String> {
    let mut out: Vec<String> = nix::sys::signal::Signal::iterator().map(|s| s.as_str().to_string()).collect();
    out.push("0".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn want(line: &str) -> Option<(Want, Place)> {
        // The last word is the one being completed ("" after a space).
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        if line.ends_with(' ') {
            words.pop();
            words.push(String::new());
        }
        analyse(&crate::Cli::command(), &words, words.len() - 1)
    }

    #[test]
    fn names_are_wanted_where_they_go() {
        for line in ["supctl status ", "supctl restart we", "supctl logs -f -n 5 ", "supctl events --since 1h "] {
            assert_eq!(want(line).map(|w| w.0), Some(Want::Targets), "{line:?}");
        }
        assert_eq!(want("supctl signal web ").map(|w| w.0), Some(Want::Signals));
        assert_eq!(want("supctl job stop ").map(|w| w.0), Some(Want::Jobs));
        for line in [
            "supctl ",
            "supctl status web ",
            "supctl logs -n ",
            "supctl events --since ",
            "supctl job run ",
            "supctl status --",
            "supctl --socket ",
            "supctl validate ",
        ] {
            assert_eq!(want(line), None, "{line:?}");
        }
    }

    #[test]
    fn the_socket_and_config_of_the_command_line_are_used() {
        let p = want("supctl --socket /x.sock status ").unwrap().1;
        assert_eq!(p.socket, Some(PathBuf::from("/x.sock")));
        // As bash splits `--socket=/y.sock`.
        let p = want("supctl --socket = /y.sock logs ").unwrap().1;
        assert_eq!(p.socket, Some(PathBuf::from("/y.sock")));
        let p = want("supctl status --config=/etc/s.toml ").unwrap().1;
        assert_eq!(p.config, Some(PathBuf::from("/etc/s.toml")));
    }
}
