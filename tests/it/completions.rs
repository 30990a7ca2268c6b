//! `supctl completions`: each script loads in its real shell, completes
//! commands as clap describes them, and completes job and target names from
//! a running supd. Bash is driven as its completion machinery drives it
//! (COMP_WORDS, COMP_CWORD and the function `complete -p` names), fish by
//! `complete -C`, zsh by a real interactive shell on a pseudo-terminal.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Output};

/// A shell that must be there: scripts/test installs it.
fn shell(name: &str) -> String {
    let out = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!path.is_empty(), "`{name}` is not installed: install the Debian package `{name}` (scripts/test does)");
    path
}

/// A PATH whose `supctl` is the one just built.
fn path_with_supctl() -> String {
    let dir = Path::new(SUPCTL).parent().unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

fn script(shell: &str) -> String {
    let out = Command::new(SUPCTL).args(["completions", shell]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Two jobs, one with two instances, so that names branch.
fn supd_with_jobs() -> Supd {
    let s = Supd::new();
    s.write_job("web.hcl", &sleep_job("webapp").replace("group \"g\" {", "group \"g\" {\n    count = 2"));
    s.write_job("worker.hcl", &sleep_job("worker"));
    let s = s.start();
    s.wait_running("webapp/g/0/t");
    s.wait_running("webapp/g/1/t");
    s.wait_running("worker/g/0/t");
    s
}

/// Runs `script` in bash with the completion script loaded; the test's supd
/// is named by SUPD_SOCKET.
fn bash(s: &Supd, file: &Path, script: &str) -> Output {
    Command::new(shell("bash"))
        .args(["--norc", "--noprofile", "-c"])
        .arg(format!("source {} || exit 9\n{script}", file.display()))
        .env("PATH", path_with_supctl())
        .env("SUPD_SOCKET", s.socket())
        .output()
        .unwrap()
}

/// What bash offers for the line `words` (the last word is the one being
/// completed), through the function the script registered for supctl.
const COMPLETE_BASH: &str = r#"
complete_line() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    local spec fn
    spec=$(complete -p supctl) || exit 8
    fn=${spec#*-F }
    fn=${fn%% *}
    "$fn" supctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\n' "${COMPREPLY[@]}"
    echo "--"
}
"#;

fn lines_between(out: &Output) -> Vec<Vec<String>> {
    String::from_utf8_lossy(&out.stdout)
        .split("--\n")
        .map(|block| block.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
        .collect()
}

#[test]
fn bash_completes_commands_and_the_names_of_a_running_supd() {
    let s = supd_with_jobs();
    let file = s.write_file("supctl.bash", &script("bash"));
    let out = bash(
        &s,
        &file,
        &format!(
            "{COMPLETE_BASH}
complete_line supctl st
complete_line supctl status we
complete_line supctl status webapp/
complete_line supctl status webapp/g/
complete_line supctl logs -f -n 5 wor
complete_line supctl --socket {sock} restart w
complete_line supctl signal worker SIGH
complete_line supctl job stop ''
complete_line supctl logs --
complete_line supctl status zzz
",
            sock = s.socket().display()
        ),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let blocks = lines_between(&out);
    let expect: [&[&str]; 10] = [
        &["status"],
        &["webapp", "webapp/"],
        &["webapp/g", "webapp/g/"],
        &["webapp/g/0", "webapp/g/0/", "webapp/g/1", "webapp/g/1/"],
        &["worker", "worker/"],
        &["webapp", "webapp/", "worker", "worker/"],
        &["SIGHUP"],
        &["webapp", "worker"],
        &[],
        &[],
    ];
    for (i, want) in expect.iter().enumerate() {
        let mut got = blocks[i].clone();
        got.sort();
        if i == 8 {
            // Options come from clap's part of the script.
            assert!(got.iter().any(|o| o == "--follow") && got.iter().any(|o| o == "--timestamps"), "{got:?}");
            continue;
        }
        assert_eq!(got, *want, "completion {i}: {}", describe(&out));
    }

    // Without a supd, names are not offered, and nothing fails.
    let out = Command::new(shell("bash"))
        .args(["--norc", "--noprofile", "-c"])
        .arg(format!("source {} || exit 9\n{COMPLETE_BASH}\ncomplete_line supctl status we", file.display()))
        .env("PATH", path_with_supctl())
        .env("SUPD_SOCKET", s.path("nobody.sock"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(lines_between(&out)[0], Vec::<String>::new(), "{}", describe(&out));
}

#[test]
fn fish_completes_the_names_of_a_running_supd() {
    let fish = shell("fish");
    let s = supd_with_jobs();
    let file = s.write_file("supctl.fish", &script("fish"));
    let run = |line: &str| -> Vec<String> {
        let out = Command::new(&fish)
            .args(["--no-config", "-c"])
            .arg(format!("source {}; complete -C '{line}'", file.display()))
            .env("PATH", path_with_supctl())
            .env("SUPD_SOCKET", s.socket())
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {}", describe(&out));
        let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect();
        got.sort();
        got
    };
    assert_eq!(run("supctl status we"), ["webapp", "webapp/"]);
    assert_eq!(run("supctl events webapp/g/"), ["webapp/g/0", "webapp/g/0/", "webapp/g/1", "webapp/g/1/"]);
    assert_eq!(run("supctl job stop w"), ["webapp", "worker"]);
    assert!(run("supctl st").contains(&"status".to_string()));
    // Where a file goes, files (the script's own directory holds it).
    let dir = s.dir().to_string();
    assert!(run(&format!("supctl validate {dir}/supctl.f")).contains(&format!("{dir}/supctl.fish")));
}

#[test]
fn zsh_completes_a_job_name_in_an_interactive_shell() {
    let zsh = shell("zsh");
    let s = supd_with_jobs();
    let fpath = s.path("zfunc");
    std::fs::create_dir(&fpath).unwrap();
    // As the package installs it: a file named _supctl in $fpath.
    std::fs::write(fpath.join("_supctl"), script("zsh")).unwrap();
    // A driver zsh runs an interactive zsh on a pseudo-terminal (zpty),
    // types `supctl status wor<TAB>`, then prints the line zsh made.
    let driver = format!(
        r#"
zmodload zsh/zpty || exit 9
zpty z {zsh} -f -i
zpty -w z 'PS1="> "; fpath=({fpath} $fpath); autoload -Uz compinit; compinit -u -D; bindkey "^I" complete-word'
zpty -w -n z $'supctl status wor\t'
for i in {{1..100}}; do
  zpty -w -n z ''
  sleep 0.1
  out=""
  while zpty -r -t z chunk 2>/dev/null; do out+=$chunk; done
  all+=$out
  [[ $all == *worker* ]] && break
done
print -r -- "$all"
zpty -d z
"#,
        fpath = fpath.display()
    );
    let out = Command::new(&zsh)
        .args(["-f", "-c", &driver])
        .env("PATH", path_with_supctl())
        .env("SUPD_SOCKET", s.socket())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(screen.contains("supctl status worker"), "zsh did not complete the job name: {screen:?}");
}
