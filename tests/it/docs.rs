//! The documentation and the packaging: every man page lints clean and says
//! what the code does (keys, defaults, operators, signals), the systemd unit
//! passes `systemd-analyze verify`, and scripts/build-deb makes a package
//! with everything in its place. The tools are real; a missing one fails the
//! test with the Debian package to install (scripts/test installs them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use supd::jobspec::model::{DelayFunction, JobType, Operator, RestartMode};

use crate::support::require;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every man page in man/, in name order.
fn man_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("man"))
        .expect("man/ is readable")
        .map(|e| e.expect("man/ entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x.len() == 1 && x.to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    pages.sort();
    pages
}

fn job_page() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("man/supd-job.5")).expect("man/supd-job.5 exists")
}

// --- lint ------------------------------------------------------------------

#[test]
fn man_pages_lint_clean() {
    let mandoc = require("mandoc", "mandoc");
    let groff = require("groff", "groff-base");
    let pages = man_pages();
    let names: Vec<String> = pages.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["supctl.1", "supd-job.5", "supd.8"] {
        assert!(names.iter().any(|n| n == expected), "man/{expected} is missing; found {names:?}");
    }
    let mut problems = Vec::new();
    for page in &pages {
        let out = run(Command::new(&mandoc).args(["-Tlint", "-W", "warning"]).arg(page));
        if !out.status.success() || !text(&out).trim().is_empty() {
            problems.push(format!("mandoc -Tlint -W warning {}:\n{}", page.display(), text(&out)));
        }
        // groff renders as man(1) does on a terminal (tables through tbl),
        // and catches what mandoc lets pass, such as a table wider than a line.
        let out = run(Command::new(&groff).args(["-Tutf8", "-t", "-ww", "-z", "-man"]).arg(page));
        if !out.status.success() || !text(&out).trim().is_empty() {
            problems.push(format!("groff -Tutf8 -t -ww -z -man {}:\n{}", page.display(), text(&out)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn man_pages_name_themselves_and_each_other() {
    for page in man_pages() {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let (stem, section) = name.rsplit_once('.').unwrap();
        let src = std::fs::read_to_string(&page).unwrap();
        let th = src.lines().find(|l| l.starts_with(".TH ")).unwrap_or_else(|| panic!("{name}: no .TH line"));
        let expected = format!(".TH {} {section} ", stem.to_uppercase());
        assert!(th.starts_with(&expected), "{name}: `{th}` should start with `{expected}`");
        assert!(
            th.contains(&format!("\"supd {}\"", env!("CARGO_PKG_VERSION"))),
            "{name}: `{th}` should name supd {}",
            env!("CARGO_PKG_VERSION")
        );
        let see_also = src.split(".SH SEE ALSO").nth(1).unwrap_or_else(|| panic!("{name}: no SEE ALSO section"));
        for other in man_pages() {
            let other = other.file_name().unwrap().to_string_lossy().into_owned();
            if other == name {
                continue;
            }
            let (ostem, osection) = other.rsplit_once('.').unwrap();
            let reference = format!(".BR {} ({osection})", ostem.replace('-', "\\-"));
            assert!(see_also.contains(&reference), "{name}: SEE ALSO should list `{reference}`");
        }
    }
}

// --- supctl(1) and supd(8) against the binaries ----------------------------

/// The text of one `.SH` section of any page.
fn page_section<'a>(page: &'a str, name: &str, title: &str) -> &'a str {
    let start = page.find(&format!(".SH {title}\n")).unwrap_or_else(|| panic!("{name} has no section {title}"));
    let rest = &page[start + 4..];
    &rest[..rest.find("\n.SH ").unwrap_or(rest.len())]
}

fn read_page(name: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join("man").join(name)).unwrap_or_else(|e| panic!("man/{name}: {e}"))
}

/// Every option of every supctl command, as clap knows them: from the fish
/// completion script, which lists them one a line, as
/// (command, long, short); the command is "" for the global options.
fn supctl_options() -> Vec<(String, String, Option<char>)> {
    let out = run(Command::new(env!("CARGO_BIN_EXE_supctl")).args(["completions", "fish"]));
    assert!(out.status.success(), "{}", text(&out));
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut options = Vec::new();
    for line in script.lines().filter(|l| l.starts_with("complete -c supctl -n \"")) {
        let condition = line.split('"').nth(1).unwrap();
        let command = if condition == "__fish_supctl_needs_command" {
            String::new()
        } else if let Some(rest) = condition.strip_prefix("__fish_supctl_using_subcommand ")
            && !rest.contains("; and not ")
        {
            // `job; and __fish_seen_subcommand_from run` -> `job run`
            let mut words = rest.split("; and __fish_seen_subcommand_from ");
            let first = words.next().unwrap().to_string();
            words.fold(first, |acc, w| format!("{acc} {w}"))
        } else {
            continue;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |flag: &str| words.windows(2).find(|w| w[0] == flag).map(|w| w[1].to_string());
        if let Some(long) = after("-l") {
            options.push((command, long, after("-s").and_then(|s| s.chars().next())));
        }
    }
    assert!(options.iter().any(|(c, l, _)| c == "logs" && l == "follow"), "no options read from {script}");
    options
}

/// The `.TP` entry of a command in the COMMANDS section of supctl(1),
/// with the options indented inside it (`.RS` … `.RE`).
fn command_entry(commands: &str, command: &str) -> Option<String> {
    let tag = command.replace('-', "\\-");
    let mut entries: Vec<Vec<&str>> = Vec::new();
    let mut depth = 0;
    for line in commands.lines() {
        match line {
            ".RS" => depth += 1,
            ".RE" => depth -= 1,
            ".TP" if depth == 0 => {
                entries.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(e) = entries.last_mut() {
            e.push(line);
        }
    }
    entries
        .into_iter()
        .find(|e| {
            let first = e.first().copied().unwrap_or("");
            [".BR ", ".B "].iter().any(|m| {
                first.strip_prefix(m).is_some_and(|r| {
                    let r = r.trim_start_matches('"');
                    r == tag || r.starts_with(&format!("{tag} ")) || r.starts_with(&format!("{tag}\""))
                })
            })
        })
        .map(|e| e.join("\n"))
}

#[test]
fn supctl_page_documents_every_command_and_option() {
    let page = read_page("supctl.1");
    let commands = page_section(&page, "supctl.1", "COMMANDS");
    let options = page_section(&page, "supctl.1", "OPTIONS");
    let mut missing = Vec::new();
    let all = supctl_options();
    let global: Vec<&String> = all.iter().filter(|(c, _, _)| c.is_empty()).map(|(_, l, _)| l).collect();
    for (command, long, short) in all.iter().cloned() {
        // Global options are repeated for every command; OPTIONS has them.
        if long == "help" || long == "version" || (!command.is_empty() && global.contains(&&long)) {
            continue;
        }
        let (where_, text) = if command.is_empty() {
            ("OPTIONS".to_string(), Some(options.to_string()))
        } else {
            (format!("the entry of `{command}`"), command_entry(commands, &command))
        };
        let Some(text) = text.as_deref() else {
            missing.push(format!("COMMANDS has no entry for `{command}`"));
            continue;
        };
        if !text.contains(&format!("\\-\\-{}", long.replace('-', "\\-"))) {
            missing.push(format!("{where_}: --{long}"));
        }
        if let Some(c) = short
            && !text.contains(&format!("\\-{c}"))
        {
            missing.push(format!("{where_}: -{c}"));
        }
    }
    // Every command, with or without options.
    let out = run(Command::new(env!("CARGO_BIN_EXE_supctl")).arg("--help"));
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let listed: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .expect("supctl --help lists its commands")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(listed.contains(&"completions") && listed.contains(&"status"), "{help}");
    for c in listed {
        let c = if c == "job" { "job stop" } else { c };
        if command_entry(commands, c).is_none() {
            missing.push(format!("COMMANDS has no entry for `{c}`"));
        }
    }
    assert!(missing.is_empty(), "supctl(1) does not document:\n{}", missing.join("\n"));
}

#[test]
fn supd_page_documents_every_option() {
    let page = read_page("supd.8");
    let options = page_section(&page, "supd.8", "OPTIONS");
    let out = run(Command::new(env!("CARGO_BIN_EXE_supd")).arg("--help"));
    assert!(out.status.success(), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let longs: Vec<String> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("--")))
        .map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).next().unwrap_or("").to_string())
        .filter(|l| !l.is_empty() && l != "help" && l != "version")
        .collect();
    assert!(longs.len() >= 10, "options read from supd --help: {longs:?}\n{help}");
    let missing: Vec<&String> = longs
        .iter()
        .filter(|l| {
            let tag = format!("\\-\\-{}", l.replace('-', "\\-"));
            !options.lines().any(|line| {
                line.starts_with(".B")
                    && line.split_whitespace().nth(1).is_some_and(|w| w.trim_matches('"').starts_with(&tag))
            })
        })
        .collect();
    assert!(missing.is_empty(), "OPTIONS of supd(8) has no entry for {missing:?}");
}

#[test]
fn pages_have_exit_status_environment_and_files() {
    for name in ["supd.8", "supctl.1"] {
        let page = read_page(name);
        for title in ["EXIT STATUS", "ENVIRONMENT", "FILES"] {
            assert!(!page_section(&page, name, title).trim().is_empty(), "{name}: {title} is empty");
        }
    }
    // supctl's exit statuses, each with its meaning.
    let page = read_page("supctl.1");
    let exits = page_section(&page, "supctl.1", "EXIT STATUS");
    for code in 0..=4 {
        assert!(exits.contains(&format!(".TP\n.B {code}\n")), "supctl(1) EXIT STATUS lacks {code}");
    }
    let page = read_page("supd.8");
    let systemd = page_section(&page, "supd.8", "SYSTEMD");
    assert!(systemd.contains("not sandboxed"), "supd(8) SYSTEMD should say the unit is not sandboxed and why");
}

// --- supd-job(5) against the code ------------------------------------------

/// The `Schema` constants of src/jobspec/decode/ and taskdir_blocks.rs:
/// for each block, the keys it accepts and the Nomad keys it loads with a
/// warning.
fn schemas() -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(Path::new(ROOT).join("src/jobspec/decode")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.push(Path::new(ROOT).join("src/jobspec/taskdir_blocks.rs"));
    let src = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n");
    let quoted = |s: &str| -> Vec<String> { s.split('"').skip(1).step_by(2).map(str::to_string).collect() };
    let mut out = BTreeMap::new();
    for part in src.split(": Schema =").skip(1) {
        let body = &part[..part.find("};").expect("a Schema constant ends with `};`")];
        let what = quoted(body.split("what:").nth(1).expect("Schema has `what`"))[0].clone();
        let keys_part = body.split("keys:").nth(1).expect("Schema has `keys`");
        let keys_part = &keys_part[..keys_part.find("ignored:").expect("Schema has `ignored`")];
        let ignored_part = body.split("ignored:").nth(1).unwrap();
        out.insert(what, (quoted(keys_part), quoted(ignored_part)));
    }
    assert!(out.len() >= 15, "expected the Schema constants of decode/, found {:?}", out.keys());
    out
}

/// The text of one `.SH` section of a page.
fn section<'a>(page: &'a str, title: &str) -> &'a str {
    let start = page.find(&format!(".SH {title}\n")).unwrap_or_else(|| panic!("supd-job(5) has no section {title}"));
    let rest = &page[start + 4..];
    &rest[..rest.find("\n.SH ").unwrap_or(rest.len())]
}

#[test]
fn job_page_documents_every_accepted_key() {
    let page = job_page();
    let mut missing = Vec::new();
    for (what, (keys, _)) in schemas() {
        if what == "a job file" {
            continue;
        }
        for key in keys {
            // Each field is a tag: `.BR key " \(em type"`, or `.B key = ...`
            // for the shorthand constraint forms.
            let documented =
                page.lines().any(|l| l.starts_with(&format!(".BR {key} ")) || l.starts_with(&format!(".B {key} ")));
            if !documented {
                missing.push(format!("{what}: {key}"));
            }
        }
    }
    assert!(missing.is_empty(), "supd-job(5) does not document these keys:\n{}", missing.join("\n"));
}

/// Every deliberate difference from Nomad (the restart, check_restart and
/// reschedule ones above all) is an entry of one section, which says what
/// Nomad does beside what supd does.
#[test]
fn job_page_gathers_the_differences_from_nomad() {
    let page = job_page();
    let entries: BTreeMap<&str, &str> = section(&page, "DIFFERENCES FROM NOMAD")
        .split("\n.TP\n")
        .skip(1)
        .map(|entry| entry.split_once('\n').unwrap_or((entry, "")))
        .collect();
    for title in [
        "Restart window",
        "Restart interval 0",
        "check_restart",
        "Reschedule backoff reset",
        "Reschedule target",
        "Reschedule without a peer",
        "Restart of a dead task",
        "Minimum durations",
        "\\(dq1hr\\(dq",
        "Bare numbers",
        "Placement",
    ] {
        assert!(entries.contains_key(title), "no entry {title:?} in DIFFERENCES FROM NOMAD: {:?}", entries.keys());
    }
    for (title, text) in &entries {
        assert!(text.contains("Nomad"), "the entry {title:?} does not say what Nomad does:\n{text}");
    }
    let placement = entries["Placement"];
    assert!(placement.contains("distinct_hosts") && placement.contains("distinct_property"), "{placement}");
}

#[test]
fn job_page_lists_exactly_the_ignored_nomad_keys() {
    let page = job_page();
    let listed: BTreeMap<String, BTreeSet<String>> = section(&page, "IGNORED NOMAD FIELDS")
        .split("\n.TP\n")
        .skip(1)
        .map(|entry| {
            let mut lines = entry.lines();
            let block = lines.next().unwrap().trim().to_string();
            let keys = lines
                .take_while(|l| !l.starts_with(".PP"))
                .filter_map(|l| l.strip_prefix(".BR "))
                .map(|l| l.split_whitespace().next().unwrap().to_string())
                .collect();
            (block, keys)
        })
        .collect();
    let expected: BTreeMap<String, BTreeSet<String>> = schemas()
        .into_iter()
        .filter(|(_, (_, ignored))| !ignored.is_empty())
        .map(|(what, (_, ignored))| (what, ignored.into_iter().collect()))
        .collect();
    let mut problems = Vec::new();
    for block in listed.keys().chain(expected.keys()).collect::<BTreeSet<_>>() {
        let (l, e) = (listed.get(block).cloned().unwrap_or_default(), expected.get(block).cloned().unwrap_or_default());
        let missing: Vec<_> = e.difference(&l).collect();
        let extra: Vec<_> = l.difference(&e).collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!("{block}: missing {missing:?}, not ignored by decode/ {extra:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "IGNORED NOMAD FIELDS of supd-job(5) differs from the Schema constants of decode/:\n{}",
        problems.join("\n")
    );
}

/// The arguments of a macro line, with roff's double quotes.
fn macro_args(rest: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            args.push(chars.by_ref().take_while(|c| *c != '"').collect());
        } else {
            args.push(chars.by_ref().take_while(|c| *c != ' ').collect());
        }
    }
    args
}

/// Whether `word` is set in bold by a `.B` or `.BR` line of `text`, alone or
/// in a comma-separated run such as `.BR = ", " == ", " is`.
fn tagged(text: &str, word: &str) -> bool {
    let word = word.replace('-', "\\-");
    text.lines().any(|l| {
        let bold: Vec<String> = if let Some(rest) = l.strip_prefix(".BR ") {
            macro_args(rest).into_iter().step_by(2).collect()
        } else if let Some(rest) = l.strip_prefix(".B ") {
            macro_args(rest)
        } else {
            return false;
        };
        bold.iter().any(|arg| arg.split([' ', ',']).any(|w| w == word))
    })
}

#[test]
fn job_page_names_every_operator_signal_type_and_delay_function() {
    let page = job_page();
    let mut missing = Vec::new();
    let constraint = section(&page, "CONSTRAINT");
    missing.extend(Operator::NAMES.iter().filter(|op| !tagged(constraint, op)).map(|op| format!("operator {op}")));
    let task = section(&page, "TASK");
    missing.extend(supd::signals::NAMES.iter().filter(|s| !tagged(task, s)).map(|s| format!("signal {s}")));
    let job = section(&page, "JOB");
    missing.extend(JobType::NAMES.iter().filter(|t| !tagged(job, t)).map(|t| format!("job type {t}")));
    let reschedule = section(&page, "RESCHEDULE");
    missing
        .extend(DelayFunction::NAMES.iter().filter(|f| !tagged(reschedule, f)).map(|f| format!("delay_function {f}")));
    assert!(missing.is_empty(), "supd-job(5) does not list {missing:?}");
}

/// `30m`, `24h`, `1h30m`, `15s`, `0`: how the defaults tables write durations.
fn short(d: Duration) -> String {
    if d.is_zero() {
        return "0".into();
    }
    let s = d.as_secs();
    let mut out = String::new();
    for (unit, n) in [("h", s / 3600), ("m", s / 60 % 60), ("s", s % 60)] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    assert_eq!(d.subsec_nanos(), 0, "a default with a fraction of a second: {d:?}");
    out
}

/// The tables of DEFAULTS BY JOB TYPE: for each, column title -> field -> value.
fn defaults_tables(page: &str) -> Vec<BTreeMap<String, BTreeMap<String, String>>> {
    section(page, "DEFAULTS BY JOB TYPE")
        .split(".TS\n")
        .skip(1)
        .map(|t| {
            let rows: Vec<Vec<&str>> = t[..t.find(".TE").unwrap()]
                .lines()
                .skip(1) // the format line
                .filter(|l| *l != "_")
                .map(|l| l.split('\t').collect())
                .collect();
            let mut table: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for (c, title) in rows[0].iter().enumerate().skip(1) {
                for row in &rows[1..] {
                    table.entry(title.to_string()).or_default().insert(row[0].to_string(), row[c].to_string());
                }
            }
            table
        })
        .collect()
}

#[test]
fn job_page_defaults_are_the_codes() {
    let page = job_page();
    let tables = defaults_tables(&page);
    assert_eq!(tables.len(), 2, "DEFAULTS BY JOB TYPE should hold the restart and the reschedule table");
    let (restart, reschedule) = (&tables[0], &tables[1]);
    let mut seen = BTreeSet::new();
    for (title, fields) in restart {
        for name in title.split(", ") {
            let t =
                JobType::parse(name).unwrap_or_else(|| panic!("restart table column {title:?}: no job type {name:?}"));
            seen.insert(name);
            let p = t.default_restart();
            let mode = match p.mode {
                RestartMode::Fail => "fail",
                RestartMode::Delay => "delay",
            };
            let code: BTreeMap<String, String> = [
                ("attempts", p.attempts.to_string()),
                ("interval", short(p.interval)),
                ("delay", short(p.delay)),
                ("mode", mode.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            assert_eq!(fields, &code, "restart defaults of {name} jobs");
        }
    }
    assert_eq!(seen.len(), JobType::NAMES.len(), "the restart table should cover every job type");
    let mut seen = BTreeSet::new();
    for t in JobType::NAMES.iter().map(|n| JobType::parse(n).unwrap()) {
        let column = reschedule.iter().find(|(title, _)| title.split(", ").any(|n| n == t.as_str()));
        match (t.default_reschedule(), column) {
            (None, None) => {}
            (None, Some(_)) => panic!("{t} jobs have no reschedule policy, but the table gives them one"),
            (Some(_), None) => panic!("the reschedule table has no column for {t} jobs"),
            (Some(p), Some((_, fields))) => {
                seen.insert(t.as_str());
                let code: BTreeMap<String, String> = [
                    ("attempts", p.attempts.to_string()),
                    ("interval", short(p.interval)),
                    ("delay", short(p.delay)),
                    ("delay_function", p.delay_function.as_str().to_string()),
                    ("max_delay", short(p.max_delay)),
                    ("unlimited", p.unlimited.to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                assert_eq!(fields, &code, "reschedule defaults of {t} jobs");
            }
        }
    }
    assert!(!seen.is_empty());
    let cr = supd::jobspec::model::CheckRestart::default();
    let defaults = section(&page, "DEFAULTS BY JOB TYPE").replace('\n', " ");
    for (field, value) in [
        ("limit", cr.limit.to_string()),
        ("grace", short(cr.grace)),
        ("ignore_warnings", cr.ignore_warnings.to_string()),
    ] {
        assert!(
            defaults.contains(&format!(".B {field} {value}")),
            "DEFAULTS BY JOB TYPE should give check_restart's {field} as {value}"
        );
    }
}

/// What the entry of `key` in a section of supd-job(5) gives after
/// "Default:", as plain text (`5s`, `SIGINT`, `["*"]`).
fn documented_default(page: &str, title: &str, key: &str) -> String {
    let text = section(page, title);
    let lines: Vec<&str> = text.lines().collect();
    let tag = format!(".BR {key} \" \\(em");
    let start = lines.iter().position(|l| l.starts_with(&tag)).unwrap_or_else(|| panic!("{title}: no entry for {key}"));
    let entry: Vec<String> = lines[start + 1..]
        .iter()
        .take_while(|l| ![".TP", ".PP", ".SH", ".SS", ".RS", ".RE", ".IP"].iter().any(|m| l.starts_with(m)))
        .map(|l| if l.starts_with('.') { l.split_once(' ').map_or("", |x| x.1) } else { l })
        .map(|l| l.replace('"', "").replace("\\(dq", "\"").replace("\\-", "-"))
        .collect();
    let entry = entry.join(" ");
    let after = entry.split("Default:").nth(1).unwrap_or_else(|| panic!("{title}: {key} gives no default: {entry}"));
    after.split_whitespace().next().unwrap_or("").trim_end_matches(['.', ',', ';']).to_string()
}

#[test]
fn job_page_field_defaults_are_the_codes() {
    // A job that leaves every field with a default unset.
    let src = r#"
job "j" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      lifecycle {
        hook = "prestart"
      }
      service {
        port = 8080
        check {
          type     = "http"
          path     = "/"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
"#;
    let parsed = supd::jobspec::parse_str("defaults.hcl", src);
    assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
    let job = &parsed.jobs[0];
    let group = &job.groups[0];
    let task = &group.tasks[0];
    let check = &task.services[0].checks[0];
    let supd::jobspec::model::CheckKind::Http { method, protocol, .. } = &check.kind else { panic!("an http check") };
    let datacenters = job.datacenters.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ");
    let expected = [
        ("JOB", "type", job.job_type.as_str().to_string()),
        ("JOB", "datacenters", format!("[{datacenters}]")),
        ("JOB", "region", job.region.clone()),
        ("JOB", "priority", job.priority.to_string()),
        ("GROUP", "count", group.count.to_string()),
        ("GROUP", "shutdown_delay", short(task.group_shutdown_delay)),
        ("TASK", "kill_timeout", short(task.kill_timeout)),
        ("TASK", "kill_signal", task.kill_signal.name().unwrap_or_default().to_string()),
        ("TASK", "shutdown_delay", short(task.shutdown_delay)),
        ("TASK", "leader", task.leader.to_string()),
        ("LIFECYCLE", "sidecar", task.lifecycle.unwrap().sidecar.to_string()),
        ("LOGS", "max_files", task.logs.max_files.to_string()),
        ("LOGS", "max_file_size", task.logs.max_file_size.to_string()),
        ("RESOURCES", "cpu", task.resources.cpu.to_string()),
        ("RESOURCES", "memory", task.resources.memory.to_string()),
        ("CHECK", "method", method.clone()),
        ("CHECK", "protocol", protocol.clone()),
        ("CHECK", "initial_status", check.initial_status.as_str().to_string()),
        ("CHECK_RESTART", "limit", check.check_restart.limit.to_string()),
        ("CHECK_RESTART", "grace", short(check.check_restart.grace)),
        ("CHECK_RESTART", "ignore_warnings", check.check_restart.ignore_warnings.to_string()),
    ];
    let page = job_page();
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(title, key, code)| {
            let doc = documented_default(&page, title, key);
            (doc != *code).then(|| format!("{title} {key}: the page says {doc:?}, the code {code:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "supd-job(5) defaults that are not the code's:\n{}", wrong.join("\n"));
    assert!(task.resources.memory_max.is_none() && task.work_dir.is_none() && task.user.is_none());
}

#[test]
fn job_page_examples_validate() {
    let page = job_page();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, block) in page.split(".EX\n").skip(1).enumerate() {
        let code = block[..block.find(".EE").unwrap()].replace("\\-", "-").replace("\\e", "\\");
        let file = dir.path().join(format!("example{i}.hcl"));
        std::fs::write(&file, code).unwrap();
        files.push(file);
    }
    assert!(files.len() >= 2, "supd-job(5) should have examples");
    let out = run(Command::new(env!("CARGO_BIN_EXE_supctl")).args(["validate", "--no-host"]).args(&files));
    assert!(out.status.success() && !text(&out).contains("warning"), "{}", text(&out));
}

// --- systemd -----------------------------------------------------------------

#[test]
fn systemd_unit_verifies() {
    let analyze = require("systemd-analyze", "systemd");
    // The unit's Documentation= pages are looked up with man(1).
    require("man", "man-db");
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(Path::new(ROOT).join("packaging/supd.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/bin/supd\n"), "packaging/supd.service should start /usr/bin/supd");
    assert!(unit.contains("\nExecReload=/usr/bin/supctl reload\n"), "packaging/supd.service should reload with supctl");
    // Verify checks that the programs exist: point at the binaries just built.
    let unit = unit.replace("\nExecStart=/usr/bin/supd\n", &format!("\nExecStart={}\n", env!("CARGO_BIN_EXE_supd")));
    let unit = unit.replace(
        "\nExecReload=/usr/bin/supctl reload\n",
        &format!("\nExecReload={} reload\n", env!("CARGO_BIN_EXE_supctl")),
    );
    let path = dir.path().join("supd.service");
    std::fs::write(&path, unit).unwrap();
    let manpath = dir.path().join("man");
    for page in man_pages() {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let section = name.rsplit_once('.').unwrap().1;
        let d = manpath.join(format!("man{section}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(&page, d.join(&name)).unwrap();
    }
    let out = run(Command::new(&analyze).arg("verify").arg(&path).env("MANPATH", &manpath));
    // verify exits 0 on unknown keys and bad values too: any output is a problem.
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify packaging/supd.service ({}):\n{}",
        out.status,
        text(&out)
    );
}

// --- the Debian package --------------------------------------------------------

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn debian_package_has_everything_in_place() {
    let dpkg_deb = require("dpkg-deb", "dpkg");
    let dpkg = require("dpkg", "dpkg");
    let gzip = require("gzip", "gzip");
    let out_dir = tempfile::tempdir().unwrap();
    // Under a strict umask, as root's may be: the package's modes must not follow it.
    let script = Path::new(ROOT).join("scripts/build-deb");
    // (The binaries of the tests' own build.)
    let out = run(Command::new("/bin/sh")
        .args(["-c", "umask 077; exec \"$0\" --bin-dir \"$1\" --fast \"$2\""])
        .arg(&script)
        .arg(crate::debian::bin_dir())
        .arg(out_dir.path()));
    assert!(out.status.success(), "scripts/build-deb failed ({}):\n{}", out.status, text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    assert!(deb.is_file(), "scripts/build-deb should print the path of the .deb, printed {stdout:?}");
    assert!(deb.starts_with(out_dir.path()), "the .deb {} should be in OUTDIR", deb.display());

    let listing = run(Command::new(&dpkg_deb).arg("-c").arg(&deb));
    assert!(listing.status.success(), "{}", text(&listing));
    // `drwxr-xr-x root/root 0 2026-11-28 06:16 ./etc/supd/jobs/` -> `etc/supd/jobs/`
    let entries: Vec<(String, String)> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let mode = f.next()?.to_string();
            let owner = f.next()?;
            assert_eq!(owner, "root/root", "every file of the package belongs to root: {l}");
            Some((mode, f.nth(3)?.trim_start_matches("./").to_string()))
        })
        .collect();
    let has = |p: &str| entries.iter().any(|(_, e)| e == p);
    let mut missing: Vec<String> =
        ["usr/bin/supd", "usr/bin/supctl", "etc/supd/jobs/", "var/lib/supd/", "var/log/supd/"]
            .into_iter()
            .filter(|p| !has(p))
            .map(str::to_string)
            .collect();
    if !has("lib/systemd/system/supd.service") && !has("usr/lib/systemd/system/supd.service") {
        missing.push("(usr/)lib/systemd/system/supd.service".into());
    }
    for page in man_pages() {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let section = name.rsplit_once('.').unwrap().1;
        let p = format!("usr/share/man/man{section}/{name}.gz");
        if !has(&p) {
            missing.push(p);
        }
    }
    let listed: Vec<&str> = entries.iter().map(|(_, e)| e.as_str()).collect();
    assert!(missing.is_empty(), "the package lacks {missing:?}; it holds {listed:#?}");
    for (mode, entry) in &entries {
        let expected = match entry.as_str() {
            "usr/bin/supd" | "usr/bin/supctl" => "-rwxr-xr-x",
            "var/lib/supd/" | "var/log/supd/" => "drwxr-x---",
            e if e.ends_with('/') || e.is_empty() => "drwxr-xr-x",
            _ => "-rw-r--r--",
        };
        assert_eq!(mode, expected, "mode of {entry:?} in the package");
    }
    // supd loads *.hcl files: the package must not start any job.
    let jobs: Vec<&str> =
        listed.iter().copied().filter(|e| e.starts_with("etc/supd/jobs/") && e.ends_with(".hcl")).collect();
    assert!(jobs.is_empty(), "the package would make supd run {jobs:?}");

    let field = |name: &str| -> String {
        let out = run(Command::new(&dpkg_deb).arg("-f").arg(&deb).arg(name));
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let arch = run(Command::new(&dpkg).arg("--print-architecture"));
    assert_eq!(field("Package"), "supd");
    // Cargo's version with a Debian revision, as packaging/debian/changelog has it.
    let version = field("Version");
    assert!(
        version.strip_prefix(env!("CARGO_PKG_VERSION")).is_some_and(|r| r.starts_with('-') && r.len() > 1),
        "Version: {version}"
    );
    assert_eq!(field("Architecture"), String::from_utf8_lossy(&arch.stdout).trim());
    let maintainer = field("Maintainer");
    let (name, address) = maintainer.split_once(" <").unwrap_or_else(|| panic!("Maintainer: {maintainer}"));
    let address = address.strip_suffix('>').unwrap_or_else(|| panic!("Maintainer: {maintainer}"));
    let (user, host) = address.split_once('@').unwrap_or_else(|| panic!("Maintainer: {maintainer}"));
    assert!(!name.is_empty() && !user.is_empty() && host.contains('.'), "Maintainer: {maintainer}");
    assert!(field("Depends").split(',').any(|d| d.trim().starts_with("libc6")), "Depends: {}", field("Depends"));
    assert!(!field("Description").is_empty());

    // What is inside works: the man pages are the sources, the binaries run,
    // the example job is valid, and the job directory loads no job.
    let root = tempfile::tempdir().unwrap();
    let x = run(Command::new(&dpkg_deb).arg("-x").arg(&deb).arg(root.path()));
    assert!(x.status.success(), "{}", text(&x));
    for page in man_pages() {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let section = name.rsplit_once('.').unwrap().1;
        let gz = root.path().join(format!("usr/share/man/man{section}/{name}.gz"));
        let out = run(Command::new(&gzip).arg("-dc").arg(&gz));
        assert!(out.status.success(), "{}", text(&out));
        assert!(out.stdout == std::fs::read(&page).unwrap(), "{} is not man/{name}", gz.display());
    }
    let supd = root.path().join("usr/bin/supd");
    let supctl = root.path().join("usr/bin/supctl");
    let v = run(Command::new(&supd).arg("--version"));
    assert!(v.status.success() && text(&v).contains(env!("CARGO_PKG_VERSION")), "{}", text(&v));
    let job_dir = root.path().join("etc/supd/jobs");
    let examples: Vec<PathBuf> = std::fs::read_dir(&job_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!examples.is_empty(), "the package should keep an example job in /etc/supd/jobs");
    let out = run(Command::new(&supctl).arg("validate").args(&examples));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(Command::new(&supd).arg("--jobs").arg(&job_dir).arg("--check"));
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("job \""), "{}", text(&out));

    // The control files: conffiles, md5sums of every other file, the
    // maintainer scripts; supd.toml is the commented example, and supd
    // reads it as it is.
    let control = tempfile::tempdir().unwrap();
    let e = run(Command::new(&dpkg_deb).arg("-e").arg(&deb).arg(control.path()));
    assert!(e.status.success(), "{}", text(&e));
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    assert_eq!(conffiles, "/etc/supd/supd.toml\n/etc/supd/jobs/example.hcl.disabled\n");
    assert_eq!(
        std::fs::read(root.path().join("etc/supd/supd.toml")).unwrap(),
        std::fs::read(Path::new(ROOT).join("packaging/supd.toml")).unwrap()
    );
    let out = run(Command::new(&supd)
        .args(["--check", "--config"])
        .arg(root.path().join("etc/supd/supd.toml"))
        .arg("--jobs")
        .arg(&job_dir));
    assert!(out.status.success(), "supd --check with the packaged supd.toml: {}", text(&out));
    let md5sums = std::fs::read_to_string(control.path().join("md5sums")).unwrap();
    let summed: BTreeSet<&str> = md5sums.lines().filter_map(|l| l.split_once("  ").map(|(_, p)| p)).collect();
    let files: BTreeSet<&str> = entries
        .iter()
        .filter(|(mode, e)| mode.starts_with('-') && !conffiles.lines().any(|c| c.trim_start_matches('/') == e))
        .map(|(_, e)| e.as_str())
        .collect();
    assert_eq!(summed, files, "md5sums should list every file but the conffiles");
    let check = run(Command::new("md5sum")
        .arg("--check")
        .arg("--quiet")
        .arg(control.path().join("md5sums"))
        .current_dir(root.path()));
    assert!(check.status.success(), "md5sums do not match the files: {}", text(&check));
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.path().join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{script}");
        let out = run(Command::new("sh").arg("-n").arg(&path));
        assert!(out.status.success(), "{script} is not valid sh: {}", text(&out));
    }

    // The documentation Debian asks for: the changelog of this version, and
    // a machine-readable copyright naming the license and the crates linked.
    let out = run(Command::new(&gzip).arg("-dc").arg(root.path().join("usr/share/doc/supd/changelog.Debian.gz")));
    let changelog = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(changelog.starts_with(&format!("supd ({version}) ")), "changelog.Debian: {changelog}");
    let copyright = std::fs::read_to_string(root.path().join("usr/share/doc/supd/copyright")).unwrap();
    assert!(
        copyright.starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"),
        "{copyright}"
    );
    for needle in
        ["\nFiles: *\n", "\nLicense: MIT or Apache-2.0\n", "\nLicense: MIT\n", "\nLicense: Apache-2.0\n", " mio "]
    {
        assert!(copyright.contains(needle), "copyright lacks {needle:?}: {copyright}");
    }
    // supctl's completions, from the packaged supctl.
    for (path, shell) in [
        ("usr/share/bash-completion/completions/supctl", "bash"),
        ("usr/share/zsh/vendor-completions/_supctl", "zsh"),
        ("usr/share/fish/vendor_completions.d/supctl.fish", "fish"),
    ] {
        let out = run(Command::new(&supctl).args(["completions", shell]));
        assert!(
            std::fs::read(root.path().join(path)).unwrap() == out.stdout,
            "{path} is not `supctl completions {shell}`"
        );
    }
}

// --- the container example -----------------------------------------------------

#[test]
fn container_example_loads() {
    let dir = Path::new(ROOT).join("packaging/container");
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).expect("packaging/container/Dockerfile");
    assert!(
        dockerfile.contains("ENTRYPOINT [\"/usr/bin/supd\", \"--jobs\", \"/etc/supd/jobs\"]"),
        "the Dockerfile should run supd as PID 1 (exec form) on /etc/supd/jobs"
    );
    // What the image copies from the build context must be there.
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
        let source = line.split_whitespace().nth(1).unwrap();
        assert!(Path::new(ROOT).join(source).exists(), "Dockerfile: `{line}` copies {source}, which does not exist");
    }
    let out = run(Command::new(env!("CARGO_BIN_EXE_supd")).arg("--jobs").arg(dir.join("jobs")).arg("--check"));
    assert!(out.status.success() && !text(&out).contains("warning"), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("job \""),
        "no job in packaging/container/jobs: {}",
        text(&out)
    );
}
