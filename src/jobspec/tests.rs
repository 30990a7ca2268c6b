//! Defaults, merge rules and Nomad's validation rules, checked on small
//! job files (reference §1.2–1.4, §2.2, §3.1, §7 cases 7, 24, 25).

use super::model::*;
use super::{Parsed, Severity, parse_str};
use std::time::Duration;

fn parse(src: &str) -> Parsed {
    parse_str("t.hcl", src)
}

fn job(src: &str) -> Job {
    let p = parse(src);
    assert!(p.is_valid(), "unexpected errors: {:#?}", p.diagnostics);
    assert_eq!(p.jobs.len(), 1);
    p.jobs.into_iter().next().unwrap()
}

fn errors(src: &str) -> Vec<String> {
    parse(src).diagnostics.into_iter().filter(|d| d.severity == Severity::Error).map(|d| d.message).collect()
}

fn warnings(src: &str) -> Vec<String> {
    parse(src).diagnostics.into_iter().filter(|d| d.severity == Severity::Warning).map(|d| d.message).collect()
}

/// A job of `type` whose group and task bodies are given.
fn wrap(job_type: &str, group_body: &str, task_body: &str) -> String {
    format!(
        r#"job "j" {{
  type = "{job_type}"
  group "g" {{
    {group_body}
    task "t" {{
      driver = "exec"
      config {{ command = "/bin/true" }}
      {task_body}
    }}
  }}
}}"#
    )
}

const S: fn(u64) -> Duration = Duration::from_secs;

mod blocks;
mod merges;
mod rules;
