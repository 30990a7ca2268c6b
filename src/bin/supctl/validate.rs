//! `supctl validate`: job files checked without a daemon (syntax, types,
//! Nomad's rules, and whether this host can run them), and with
//! --effective printed as supd would run them.

use super::show_lines;
use std::path::PathBuf;
use std::process::ExitCode;
use supd::jobspec::{self, Diagnostic};
use supd::node::Node;

/// What `validate` gathers over its files.
#[derive(Default)]
struct Validated {
    /// Every diagnostic, for --json.
    all: Vec<Diagnostic>,
    /// The valid jobs as supd would run them, for --effective --json.
    docs: Vec<serde_json::Value>,
    /// The same as HCL, for --effective.
    texts: Vec<String>,
    /// Some file is invalid.
    invalid: bool,
}

pub(super) fn validate(
    files: &[PathBuf],
    vars: &jobspec::hcl2::Vars,
    json: bool,
    effective: bool,
    host: Option<&supd::config::File>,
) -> ExitCode {
    // This host as supd.toml describes it, unless only the files count.
    let node = host.map(|config| {
        let mut node = Node::detect();
        config.apply_to(&mut node);
        node
    });
    let mut found = Validated::default();
    for path in files {
        validate_file(path, vars, node.as_ref(), json, effective, &mut found);
    }
    let Validated { all, docs, texts, invalid } = found;
    if effective {
        if json {
            match serde_json::to_string_pretty(&docs) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("supctl: cannot encode the result as JSON: {e}");
                    return ExitCode::from(1);
                }
            }
        } else {
            print!("{}", show_lines(&texts.join("\n")));
        }
        return if invalid { ExitCode::from(1) } else { ExitCode::SUCCESS };
    }
    if json {
        match serde_json::to_string_pretty(&all) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("supctl: cannot encode the result as JSON: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if invalid { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `validate`: one file checked; its diagnostics and verdict printed (or
/// kept for --json), its effective jobs kept for --effective.
fn validate_file(
    path: &std::path::Path,
    vars: &jobspec::hcl2::Vars,
    node: Option<&Node>,
    json: bool,
    effective: bool,
    found: &mut Validated,
) {
    // NAME.vars.hcl beside the file counts, below --var-file.
    let mut vars = vars.clone();
    if let Some(vf) = jobspec::vars_file_of(path)
        && let Ok(bytes) = jobspec::read_source(&vf)
    {
        vars.files.insert(0, (vf.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    // --effective reads which values the file wrote from the evaluated
    // job's text; a plain check needs no text.
    let mut parsed =
        if effective { jobspec::parse_file_with(path, &vars) } else { jobspec::check_file_with(path, &vars) };
    let name = path.display().to_string();
    if let Some(node) = node {
        parsed.diagnostics.extend(supd::node::placement_warnings(&name, &parsed.jobs, node));
    }
    jobspec::sort(&mut parsed.diagnostics);
    found.invalid |= !parsed.is_valid();
    if effective && parsed.is_valid() {
        for job in &parsed.jobs {
            let tree = jobspec::effective::of(job);
            if json {
                found.docs.push(jobspec::effective::to_json(&tree));
            } else {
                found.texts.push(jobspec::effective::to_hcl(&tree));
            }
        }
    }
    if json && !effective {
        found.all.extend(parsed.diagnostics);
        return;
    }
    // With --effective, stdout holds only the jobs.
    let say = |line: &str| if effective { eprintln!("{line}") } else { println!("{line}") };
    for d in &parsed.diagnostics {
        say(&show_lines(&d.to_string()));
    }
    if parsed.is_valid() {
        let n = parsed.jobs.len();
        let w = parsed.warnings();
        let warnings = if w > 0 { format!(", {w} warning{}", if w == 1 { "" } else { "s" }) } else { String::new() };
        say(&format!("{name}: ok ({n} job{}{warnings})", if n == 1 { "" } else { "s" }));
    } else {
        let e = parsed.errors();
        say(&format!("{name}: invalid ({e} error{})", if e == 1 { "" } else { "s" }));
    }
}
