//! `supctl job plan`: the file read and evaluated as for `job run`, sent
//! as a plan request, and each job's plan printed (`jobspec::diff`), with
//! `nomad job plan`'s exit codes. Also the job file reading `job run`
//! shares, and the plans' text that `reload --dry-run` prints.

use super::{VarArgs, client_error, evaluated};
use crate::render::show_lines;
use std::io::Read;
use std::process::ExitCode;
use supd::control::client::Connection;
use supd::control::protocol::Request;
use supd::jobspec;

/// A job file, or standard input for `-`: its text and the name it goes
/// by.
pub(super) fn read_job(file: String) -> Result<(String, String), String> {
    let (bytes, name) = if file == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(jobspec::MAX_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the job from standard input: {e}"))?;
        if bytes.len() as u64 > jobspec::MAX_FILE_SIZE {
            return Err("standard input holds more than 16 MiB; a job may be at most 16 MiB".into());
        }
        (bytes, "<stdin>".to_string())
    } else {
        match jobspec::read_source(std::path::Path::new(&file)) {
            Ok(bytes) => (bytes, file),
            Err(e) => return Err(format!("{file}: {e}")),
        }
    };
    match String::from_utf8(bytes) {
        Ok(s) => Ok((s, name)),
        Err(_) => Err(format!("{name} is not valid UTF-8 — save it as UTF-8")),
    }
}

/// `job plan`: exit 0 when no instance is created, replaced or removed, 1
/// when one is, 255 on an error.
pub(super) fn job_plan(socket: &std::path::Path, file: &str, vars: &VarArgs, json: bool) -> ExitCode {
    const ERROR: u8 = 255;
    let vars = match vars.resolve() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("supctl: {e}");
            return ExitCode::from(ERROR);
        }
    };
    let (source, name) = match read_job(file.to_string()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("supctl: {e}");
            return ExitCode::from(ERROR);
        }
    };
    let Ok(source) = evaluated(&name, source, &vars) else { return ExitCode::from(ERROR) };
    let r = match Connection::call(socket, Request::JobRun { source, file: name, plan: true }) {
        Ok(r) => r,
        Err(e) => {
            client_error(e);
            return ExitCode::from(ERROR);
        }
    };
    if !r.ok {
        eprintln!("supctl: {}", show_lines(r.error.as_deref().unwrap_or("refused")));
        return ExitCode::from(ERROR);
    }
    for m in &r.messages {
        eprintln!("{}", show_lines(m));
    }
    let plans: Vec<jobspec::diff::Plan> = match r.plans.iter().map(|p| serde_json::from_value(p.clone())).collect() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("supctl: supd sent a plan this supctl cannot read: {e}");
            return ExitCode::from(ERROR);
        }
    };
    if json {
        let changed: Vec<&jobspec::diff::Plan> = plans.iter().filter(|p| p.changes()).collect();
        match serde_json::to_string_pretty(&changed) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("supctl: cannot encode JSON: {e}");
                return ExitCode::from(ERROR);
            }
        }
    } else {
        print!("{}", render_plans(&r.plans));
    }
    if plans.iter().any(jobspec::diff::Plan::moves_instances) { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Plans as text, one after the other.
pub(super) fn render_plans(plans: &[serde_json::Value]) -> String {
    let texts: Vec<String> = plans
        .iter()
        .filter_map(|p| serde_json::from_value::<jobspec::diff::Plan>(p.clone()).ok())
        .map(|p| jobspec::diff::render(&p))
        .filter(|t| !t.is_empty())
        .collect();
    show_lines(&texts.join("\n"))
}
