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

#[test]
fn restart_defaults_per_job_type() {
    for (ty, attempts, interval) in
        [("service", 2, 1800), ("system", 2, 1800), ("batch", 3, 86400), ("sysbatch", 3, 86400)]
    {
        let j = job(&wrap(ty, "", ""));
        let want = RestartPolicy { attempts, interval: S(interval), delay: S(15), mode: RestartMode::Fail };
        assert_eq!(j.groups[0].restart, want, "{ty}");
        assert_eq!(j.groups[0].tasks[0].restart, want, "{ty}");
    }
}

#[test]
fn reschedule_defaults_per_job_type() {
    let service = job(&wrap("service", "", "")).groups[0].reschedule.unwrap();
    assert_eq!(
        service,
        ReschedulePolicy {
            attempts: 0,
            interval: Duration::ZERO,
            delay: S(30),
            delay_function: DelayFunction::Exponential,
            max_delay: S(3600),
            unlimited: true
        }
    );
    let batch = job(&wrap("batch", "", "")).groups[0].reschedule.unwrap();
    assert_eq!(
        batch,
        ReschedulePolicy {
            attempts: 1,
            interval: S(86400),
            delay: S(5),
            delay_function: DelayFunction::Constant,
            max_delay: Duration::ZERO,
            unlimited: false
        }
    );
    assert_eq!(job(&wrap("system", "", "")).groups[0].reschedule, None);
    assert_eq!(job(&wrap("sysbatch", "", "")).groups[0].reschedule, None);
}

#[test]
fn other_defaults() {
    let j = job(&wrap("service", "", ""));
    assert_eq!((j.datacenters.clone(), j.region.as_str(), j.priority), (vec!["*".to_string()], "global", 50));
    let g = &j.groups[0];
    assert_eq!(g.count, 1);
    let t = &g.tasks[0];
    assert_eq!(t.kill_timeout, S(5));
    assert_eq!(t.kill_signal, crate::signals::KillSignal::Named(nix::sys::signal::Signal::SIGINT));
    assert_eq!(t.shutdown_delay, Duration::ZERO);
    assert_eq!(t.logs, Logs { max_files: 10, max_file_size: 10 });
    assert_eq!(t.resources, Resources { cpu: 100, memory: 300, memory_max: None, declared: false });
    assert!(!t.leader && t.lifecycle.is_none() && t.user.is_none());
    assert_eq!(t.driver, Driver::Exec);
    assert_eq!(j.name, "j");
}

#[test]
fn group_restart_overlays_the_type_default() {
    let j = job(&wrap("batch", r#"restart { attempts = 5 }"#, ""));
    let want = RestartPolicy { attempts: 5, interval: S(86400), delay: S(15), mode: RestartMode::Fail };
    assert_eq!(j.groups[0].restart, want);
    assert_eq!(j.groups[0].tasks[0].restart, want, "a task without restart inherits the group's");
}

#[test]
fn task_restart_overlays_only_its_own_fields() {
    let j = job(&wrap(
        "service",
        r#"restart {
      attempts = 5
      delay    = "1s"
      mode     = "delay"
    }"#,
        r#"restart { delay = "2s" }"#,
    ));
    let t = &j.groups[0].tasks[0];
    assert_eq!(t.restart, RestartPolicy { attempts: 5, interval: S(1800), delay: S(2), mode: RestartMode::Delay });
    // attempts = 0 is written, so it overrides (fields are "set", not "non-zero").
    let j = job(&wrap("service", r#"restart { attempts = 5 }"#, r#"restart { attempts = 0 }"#));
    assert_eq!(j.groups[0].tasks[0].restart.attempts, 0);
    assert_eq!(j.groups[0].restart.attempts, 5);
}

#[test]
fn reschedule_merges_job_then_group_then_defaults() {
    let src = r#"job "j" {
  reschedule { delay = "10s" }
  group "a" {
    reschedule { max_delay = "2h" }
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
  group "b" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}"#;
    let j = job(src);
    let a = j.groups[0].reschedule.unwrap();
    assert_eq!(
        (a.delay, a.max_delay, a.delay_function, a.unlimited),
        (S(10), S(7200), DelayFunction::Exponential, true)
    );
    let b = j.groups[1].reschedule.unwrap();
    assert_eq!((b.delay, b.max_delay), (S(10), S(3600)));
    assert_eq!(j.groups[0].tasks[0].driver, Driver::RawExec);
}

#[test]
fn check_restart_merges_service_into_check() {
    let src = wrap(
        "service",
        r#"network {
      port "http" { static = 8080 }
    }"#,
        r#"service {
        port = "http"
        check_restart {
          limit           = 3
          grace           = "90s"
          ignore_warnings = true
        }
        check {
          name     = "inherits"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
        check {
          name     = "zero-limit-does-not-override"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
          check_restart {
            limit           = 0
            ignore_warnings = false
          }
        }
        check {
          name     = "own"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
          check_restart {
            limit = 5
            grace = "10s"
          }
        }
      }"#,
    );
    let j = job(&src);
    let checks = &j.groups[0].tasks[0].services[0].checks;
    let cr: Vec<CheckRestart> = checks.iter().map(|c| c.check_restart).collect();
    assert_eq!(cr[0], CheckRestart { limit: 3, grace: S(90), ignore_warnings: true });
    assert_eq!(
        cr[1],
        CheckRestart { limit: 3, grace: S(90), ignore_warnings: true },
        "limit 0 and false do not override"
    );
    assert_eq!(cr[2], CheckRestart { limit: 5, grace: S(10), ignore_warnings: true });
    assert_eq!(checks[0].port, Some(PortRef::Label("http".into())), "a check falls back to its service's port");
}

#[test]
fn check_restart_defaults_and_names() {
    let src = wrap(
        "service",
        "",
        r#"service {
        port = 6379
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }"#,
    );
    let j = job(&src);
    let svc = &j.groups[0].tasks[0].services[0];
    assert_eq!(svc.name, "j-g-t");
    let c = &svc.checks[0];
    assert_eq!(c.name, "service: \"j-g-t\" check");
    assert_eq!(c.check_restart, CheckRestart { limit: 0, grace: S(1), ignore_warnings: false });
    assert_eq!(c.initial_status, CheckStatus::Critical);
    assert_eq!(c.port, Some(PortRef::Number(6379)));
}

#[test]
fn http_and_script_checks() {
    let src = wrap(
        "service",
        r#"network {
      port "web" {}
    }"#,
        r#"service {
        port = "web"
        check {
          type     = "http"
          path     = "/health"
          method   = "post"
          header   = { X-Token = ["a", "b"] }
          body     = "{}"
          interval = "5s"
          timeout  = "1s"
          initial_status = "passing"
        }
        check {
          name     = "script"
          type     = "script"
          command  = "/bin/check"
          args     = ["-v", "${NOMAD_PORT_web}"]
          interval = "30s"
          timeout  = "5s"
        }
      }"#,
    );
    let j = job(&src);
    assert_eq!(
        j.groups[0].ports,
        vec![Port { label: "web".into(), static_port: None, to: None, pos: j.groups[0].ports[0].pos }]
    );
    let checks = &j.groups[0].tasks[0].services[0].checks;
    match &checks[0].kind {
        CheckKind::Http { path, method, headers, body, protocol } => {
            assert_eq!((path.as_str(), method.as_str(), protocol.as_str()), ("/health", "POST", "http"));
            assert_eq!(headers["X-Token"], vec!["a", "b"]);
            assert_eq!(body.as_deref(), Some("{}"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(checks[0].initial_status, CheckStatus::Passing);
    assert_eq!(
        checks[1].kind,
        CheckKind::Script { command: "/bin/check".into(), args: vec!["-v".into(), "${NOMAD_PORT_web}".into()] }
    );
}

#[test]
fn meta_merges_job_group_task_and_both_forms_read() {
    let src = r#"job "j" {
  meta {
    a = "job"
    b = "job"
  }
  group "g" {
    meta = { b = "group", c = "group" }
    task "t" {
      driver = "exec"
      config { command = "/bin/true" }
      meta { c = "task" }
      env = { PORT = 8080, DEBUG = true }
    }
  }
}"#;
    let j = job(src);
    let t = &j.groups[0].tasks[0];
    let pairs: Vec<(&str, &str)> = t.meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(pairs, vec![("a", "job"), ("b", "group"), ("c", "task")]);
    assert_eq!(t.env["PORT"], "8080");
    assert_eq!(t.env["DEBUG"], "true");
}

#[test]
fn the_task_output_meta_key_is_checked_where_it_is_written_and_merges_down() {
    let j = job(&wrap("service", r#"meta = { supd_task_output = "journal" }"#, ""));
    assert_eq!(TaskOutput::of_meta(&j.groups[0].tasks[0].meta), Some(TaskOutput::parse("journal").unwrap()));
    let j = job(&wrap(
        "service",
        r#"meta = { supd_task_output = "journal" }"#,
        r#"meta { supd_task_output = "files+stdout" }"#,
    ));
    let t = TaskOutput::of_meta(&j.groups[0].tasks[0].meta).unwrap();
    assert!(t.files && t.stdout && !t.journal && t.name() == "files+stdout");
    let p = parse(&wrap("service", "", r#"meta { supd_task_output = "syslog" }"#));
    let e: Vec<String> = p.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "t.hcl:8:33: error: meta supd_task_output: task output \"syslog\" is not known — use files, journal, stdout"
        ),
        "{e:?}"
    );
    let e = errors(&wrap("service", r#"meta = { "supd_task_output" = "files+files" }"#, ""));
    assert_eq!(e, ["meta supd_task_output: task output \"files+files\" names files twice"]);
}

#[test]
fn interpolation_is_kept_and_escapes_stay_distinct() {
    let j = job(&wrap(
        "service",
        "",
        r#"env {
        A = "${NOMAD_ALLOC_INDEX}-x"
        B = "$${NOT_A_REFERENCE}"
        C = "${attr.kernel.name}/${meta.rack}/${node.datacenter}"
      }"#,
    ));
    let env = &j.groups[0].tasks[0].env;
    assert_eq!(env["A"], "${NOMAD_ALLOC_INDEX}-x");
    assert_eq!(env["B"], "$${NOT_A_REFERENCE}");
    assert_eq!(env["C"], "${attr.kernel.name}/${meta.rack}/${node.datacenter}");
    let e = errors(&wrap("service", "", r#"env { A = "${var.x}" }"#));
    assert!(e[0].contains("undefined var.x"), "{e:?}");
    // As Nomad's parser (jobspec2's TestParse_UnknownVariables), a name it
    // does not know is left as written, for the task's start.
    let j = job(&wrap("service", "", r#"env { A = "${foo}" }"#));
    assert_eq!(j.groups[0].tasks[0].env["A"], "${foo}");
    let j = job(&wrap("service", "", r#"env { A = "${upper("x")}-${NOMAD_ALLOC_INDEX}" }"#));
    assert_eq!(j.groups[0].tasks[0].env["A"], "X-${NOMAD_ALLOC_INDEX}");
}

/// Nomad's own test of it: known variables are evaluated, unknown names
/// stay, whatever else the file evaluates (`for`, functions, loop and
/// iterator names).
#[test]
fn unknown_names_are_left_intact_beside_evaluated_ones() {
    let src = r#"
variable "region_var" {
  default = "aug"
}
locals {
  names = [for s in ["a", "b"] : "${s}-${UNKNOWN}"]
}
job "example" {
  datacenters = [for s in ["dc1", "dc2"] : upper(s)]
  region      = var.region_var
  meta {
    known_var   = "${var.region_var}"
    unknown_var = "${UNKNOWN}"
    dotted      = "${some.thing[0]}-${upper(var.region_var)}"
    listed      = join(",", local.names)
    directive   = "%{ for x in ["p", "q"] }${x}${OTHER}%{ endfor }"
  }
  group "g" {
    dynamic "constraint" {
      for_each = ["linux"]
      iterator = os
      content {
        attribute = "${attr.kernel.name}"
        value     = "${os.value}"
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/echo"
        args    = ["${NOMAD_ALLOC_INDEX}", "${some_env}"]
      }
    }
  }
}
"#;
    let p = parse(src);
    assert!(p.is_valid(), "{:?}", p.diagnostics);
    let j = &p.jobs[0];
    assert_eq!(j.datacenters, ["DC1", "DC2"]);
    assert_eq!(j.region, "aug");
    assert_eq!(j.meta["known_var"], "aug");
    assert_eq!(j.meta["unknown_var"], "${UNKNOWN}");
    assert_eq!(j.meta["dotted"], "${some.thing[0]}-AUG");
    assert_eq!(j.meta["listed"], "a-${UNKNOWN},b-${UNKNOWN}");
    assert_eq!(j.meta["directive"], "p${OTHER}q${OTHER}");
    let c = &j.groups[0].constraints[0];
    assert_eq!((c.attribute.as_str(), c.value.as_str()), ("${attr.kernel.name}", "linux"));
    assert_eq!(j.groups[0].tasks[0].args, ["${NOMAD_ALLOC_INDEX}", "${some_env}"]);
    // A variable no block declares is still an error, at its place.
    let e = errors(&wrap("service", "", r#"env { A = "${var.nope}" }"#));
    assert!(e[0].contains("var.nope"), "{e:?}");
}

#[test]
fn several_jobs_in_one_file_and_source_kept() {
    let src = format!("{}\n{}", wrap("service", "", ""), wrap("batch", "", "").replace("job \"j\"", "job \"k\""));
    let p = parse(&src);
    assert!(p.is_valid(), "{:?}", p.diagnostics);
    let ids: Vec<&str> = p.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["j", "k"]);
    assert!(p.jobs[1].source.starts_with("job \"k\"") && p.jobs[1].source.ends_with('}'));
    assert_eq!(p.jobs[1].pos.line, 12);
}

#[test]
fn a_bad_job_does_not_hide_a_good_one() {
    let bad = wrap("service", "count = -1", "");
    let good = wrap("service", "", "").replace("job \"j\"", "job \"ok\"");
    let p = parse(&format!("{bad}\n{good}"));
    assert_eq!(p.errors(), 1);
    assert_eq!(p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["ok"]);
}

// Reference §7 case 7 and §1.4.
#[test]
fn restart_rules() {
    let e = errors(&wrap(
        "service",
        r#"restart {
      attempts = 0
      mode     = "delay"
    }"#,
        "",
    ));
    assert!(e.len() == 1 && e[0].contains("ambiguous"), "{e:?}");
    let w = warnings(&wrap(
        "service",
        r#"restart {
      interval = "4s"
      delay    = "1s"
    }"#,
        "",
    ));
    assert!(w.iter().any(|m| m.contains("below 5s")), "{w:?}");
    let e = errors(&wrap(
        "service",
        r#"restart {
      attempts = 3
      delay    = "15s"
      interval = "30s"
    }"#,
        "",
    ));
    assert_eq!(
        e,
        [
            "Nomad can't restart the task group 3 times in an interval of 30s with a delay of 15s — set interval to at least 45s, or lower attempts or delay"
        ]
    );
    let e = errors(&wrap("service", r#"restart { mode = "retry" }"#, ""));
    assert!(e[0].starts_with("invalid mode \"retry\""), "{e:?}");
    // The rule applies to the merged policy a task ends up with.
    let e = errors(&wrap("service", r#"restart { interval = "1m" }"#, r#"restart { attempts = 5 }"#));
    assert!(e.len() == 1 && e[0].starts_with("Nomad can't restart the task 5 times in an interval of 1m0s"), "{e:?}");
    // delay = 0 is legal; interval 0 is not when attempts count.
    assert!(errors(&wrap("service", r#"restart { delay = "0s" }"#, "")).is_empty());
    let e = errors(&wrap(
        "service",
        r#"restart {
      interval = "0s"
      delay    = "0s"
    }"#,
        "",
    ));
    assert!(e[0].contains("interval is 0"), "{e:?}");
}

// Reference §7 case 24 and §3.1.
#[test]
fn reschedule_rules() {
    let e = errors(&wrap(
        "service",
        r#"reschedule {
      attempts = 3
      interval = "1h"
    }"#,
        "",
    ));
    assert!(e.len() == 1 && e[0].contains("ambiguous") && e[0].contains("unlimited = false"), "{e:?}");
    assert!(
        errors(&wrap(
            "service",
            r#"reschedule {
      attempts  = 3
      interval  = "1h"
      unlimited = false
    }"#,
            ""
        ))
        .is_empty()
    );
    // Disabled: attempts = 0 and unlimited = false, nothing else checked.
    let j = job(&wrap(
        "service",
        r#"reschedule {
      attempts  = 0
      unlimited = false
      delay     = "1s"
    }"#,
        "",
    ));
    assert!(!j.groups[0].reschedule.unwrap().enabled());
    let e = errors(&wrap("system", r#"reschedule { delay = "30s" }"#, ""));
    assert!(e.len() == 1 && e[0].starts_with("system jobs cannot have a reschedule policy"), "{e:?}");
    let e = errors(&wrap(
        "service",
        r#"reschedule {
      delay     = "10m"
      max_delay = "5m"
    }"#,
        "",
    ));
    assert!(e[0].contains("max_delay 5m0s is below delay 10m0s"), "{e:?}");
    let e = errors(&wrap(
        "batch",
        r#"reschedule {
      attempts = 5
      interval = "1m"
      delay    = "30s"
    }"#,
        "",
    ));
    assert!(
        e[0].starts_with("only 2 of 5 reschedule attempts fit in 1m0s") && e[0].ends_with("at least 2m30s"),
        "{e:?}"
    );
    let w = warnings(&wrap("batch", r#"reschedule { delay = "1s" }"#, ""));
    assert!(w.iter().any(|m| m.contains("below 5s")), "{w:?}");
}

#[test]
fn viable_attempts_follow_nomad() {
    use super::decode::viable_attempts;
    let p = |attempts, interval, delay, f, max| ReschedulePolicy {
        attempts,
        interval: S(interval),
        delay: S(delay),
        delay_function: f,
        max_delay: S(max),
        unlimited: false,
    };
    assert_eq!(viable_attempts(&p(3, 90, 30, DelayFunction::Constant, 0)), (true, 0, S(90)));
    assert_eq!(viable_attempts(&p(4, 90, 30, DelayFunction::Constant, 0)), (false, 3, S(120)));
    // exponential 5, 10, 20, 40: the last delay must fit below the interval.
    assert!(viable_attempts(&p(4, 41, 5, DelayFunction::Exponential, 3600)).0);
    assert_eq!(viable_attempts(&p(4, 40, 5, DelayFunction::Exponential, 3600)), (false, 3, S(40)));
    // fibonacci 5, 5, 10, 15, then 25 is capped at 20 and the rest grows
    // by the cap: 5, 5, 10, 15, 20, 40.
    assert_eq!(viable_attempts(&p(6, 30, 5, DelayFunction::Fibonacci, 20)), (false, 5, S(40)));
    assert!(viable_attempts(&p(6, 40, 5, DelayFunction::Fibonacci, 20)).0);
}

// Reference §7 case 25 and §4.6.
#[test]
fn durations_in_job_files() {
    let w = warnings(&wrap("service", r#"reschedule { max_delay = "1hr" }"#, ""));
    assert!(w.iter().any(|m| m.contains("\"hr\"")), "{w:?}");
    let j = job(&wrap("service", r#"reschedule { max_delay = "1hr" }"#, ""));
    assert_eq!(j.groups[0].reschedule.unwrap().max_delay, S(3600));
    let e = errors(&wrap("service", r#"restart { delay = 30 }"#, ""));
    assert!(e[0].contains("no unit") && e[0].contains("\"30s\""), "{e:?}");
    let j = job(&wrap(
        "service",
        r#"restart {
      interval = "1h30m"
      delay    = "1.5s"
    }"#,
        r#"kill_timeout = "250ms""#,
    ));
    assert_eq!(j.groups[0].restart.interval, S(5400));
    assert_eq!(j.groups[0].restart.delay, Duration::from_millis(1500));
    assert_eq!(j.groups[0].tasks[0].kill_timeout, Duration::from_millis(250));
}

#[test]
fn constraint_forms() {
    let src = r#"job "j" {
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  constraint {
    attribute = "${attr.kernel.version}"
    version   = ">= 3.19"
  }
  constraint { distinct_hosts = true }
  constraint {
    distinct_property = "${meta.rack}"
    value             = "2"
  }
  constraint {
    attribute = "${meta.gpu}"
    operator  = "is_not_set"
  }
  group "g" {
    task "t" {
      driver = "exec"
      config { command = "/bin/true" }
    }
  }
}"#;
    let j = job(src);
    let ops: Vec<(Operator, &str, &str)> =
        j.constraints.iter().map(|c| (c.operator, c.attribute.as_str(), c.value.as_str())).collect();
    assert_eq!(
        ops,
        [
            (Operator::Equal, "${attr.kernel.name}", "linux"),
            (Operator::Version, "${attr.kernel.version}", ">= 3.19"),
            (Operator::DistinctHosts, "", ""),
            (Operator::DistinctProperty, "${meta.rack}", "2"),
            (Operator::IsNotSet, "${meta.gpu}", ""),
        ]
    );
    assert_eq!(j.constraints[1].pos.line, 6);
}

#[test]
fn positions_point_at_the_problem() {
    let src = wrap("service", "restart {\n      atempts = 2\n    }", "");
    let p = parse(&src);
    let d = &p.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(5), Some(7)));
    assert_eq!(d.message, "unknown key `atempts` in restart — did you mean `attempts`?");
}

#[test]
fn hcl2_values_reach_the_job_and_runtime_references_stay() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/jobs/valid/hcl2_variables_locals_functions.hcl"
    ))
    .unwrap();
    let j = job(&src);
    let g = &j.groups[0];
    assert_eq!(g.count, 1);
    let ports: Vec<(String, Option<u16>)> = g.ports.iter().map(|p| (p.label.clone(), p.static_port)).collect();
    assert_eq!(ports, [("http".to_string(), Some(8080)), ("admin".to_string(), Some(8081))]);
    let t = &g.tasks[0];
    assert_eq!(t.args, ["-c", "hello WORLD", "n0", "n1", "${NOMAD_TASK_DIR}/x-8080", r#"{"a":1}"#]);
    assert_eq!(t.env["NAME"], "world");
    assert_eq!(t.env["DIR"], "${NOMAD_ALLOC_DIR}/world");
    assert_eq!(t.env["HOST"], "${attr.unique.hostname}");
    assert_eq!(t.env["LIST"], "a,b,c");
    // What supd stores reads back alone, without the variables.
    let again = job(&j.source);
    assert_eq!(again.groups[0].tasks[0].args, t.args);
    // A written `$${` stays an escape when the string is evaluated.
    let j = job(&wrap("service", "", r#"env { A = "$${X}-${upper("y")}" }"#));
    assert_eq!(j.groups[0].tasks[0].env["A"], "$${X}-Y");
}

#[test]
fn evaluated_values_written_close_together_keep_their_places() {
    // Values longer than what they replace, with no room between them, and
    // one that the decoder refuses: its error names where it was written.
    let src = r#"locals {
  l = "a-long-value"
  n = "x"
}
job "j" {
  group "g" {
    count = local.n
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
        args = [local.l,local.l,"${local.l}",local.l]
      }
      env {
        A = local.l
        B = upper(local.l)
      }
    }
  }
}"#;
    let p = parse(src);
    let errs: Vec<(Option<usize>, Option<usize>, &str)> =
        p.diagnostics.iter().map(|d| (d.line, d.column, d.message.as_str())).collect();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    // `local.n` in `count = local.n` is at line 7, column 13.
    assert_eq!((errs[0].0, errs[0].1), (Some(7), Some(13)), "{errs:#?}");
    assert!(errs[0].2.starts_with("`count` must be"), "{errs:#?}");
    let j = job(&src.replace("count = local.n", "count = 1"));
    let t = &j.groups[0].tasks[0];
    assert_eq!(t.args, ["a-long-value"; 4]);
    assert_eq!((t.env["A"].as_str(), t.env["B"].as_str()), ("a-long-value", "A-LONG-VALUE"));
    // A check (`supctl validate`) puts the values in without positions
    // first: the same jobs, and the same messages at the same places.
    let dir = std::env::temp_dir().join(format!("supd-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("j.hcl");
    for text in [src.to_string(), src.replace("count = local.n", "count = 1")] {
        std::fs::write(&file, &text).unwrap();
        let vars = super::hcl2::Vars::default();
        let (checked, parsed) = (super::check_file_with(&file, &vars), super::parse_file_with(&file, &vars));
        assert_eq!(format!("{:?}", checked.diagnostics), format!("{:?}", parsed.diagnostics));
        assert_eq!(checked.jobs.len(), parsed.jobs.len());
        if let (Some(c), Some(p)) = (checked.jobs.first(), parsed.jobs.first()) {
            assert_eq!(c.groups[0].tasks[0].args, p.groups[0].tasks[0].args);
            assert_eq!(c.groups[0].tasks[0].env, p.groups[0].tasks[0].env);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_task_in_a_job_is_a_group_of_one() {
    let j = job(r#"job "j" {
  type = "batch"
  task "solo" {
    driver = "exec"
    config { command = "/bin/true" }
  }
}"#);
    assert_eq!(j.groups.len(), 1);
    assert_eq!(j.groups[0].name, "solo");
    assert_eq!(j.groups[0].count, 1);
    assert_eq!(j.groups[0].tasks[0].name, "solo");
}

#[test]
fn a_docker_tasks_config_is_read_into_its_container() {
    let j = job(include_str!("../../tests/jobs/valid/docker_config.hcl"));
    let g = &j.groups[0];
    assert_eq!(
        g.ports.iter().map(|p| (p.label.as_str(), p.to)).collect::<Vec<_>>(),
        [("db", Some(6379)), ("admin", None)]
    );
    let t = &g.tasks[0];
    assert_eq!(t.driver, Driver::Docker);
    assert!(t.driver.is_container());
    assert_eq!((t.command.as_str(), t.args.len(), t.work_dir.as_deref()), ("redis-server", 4, Some("/data")));
    let c = t.container.as_deref().unwrap();
    assert_eq!(c.image, "redis:3.2");
    assert_eq!(c.entrypoint.as_deref(), Some(&["/usr/local/bin/docker-entrypoint.sh".to_string()][..]));
    assert_eq!(c.ports, ["db", "admin"]);
    assert_eq!(c.volumes, ["local/data:/data", "/etc/ssl/certs:/etc/ssl/certs:ro"]);
    assert_eq!(c.image_pull_timeout, Duration::from_secs(600));
    assert_eq!(c.shm_size, Some(64 << 20));
    assert!(c.init && !c.privileged && !c.force_pull);
    assert_eq!(c.ulimits.get("nofile"), Some(&(1024, 4096)));
    assert_eq!(c.ulimits.get("nproc"), Some(&(512, 512)));
    assert_eq!(c.labels.get("team").map(String::as_str), Some("ops"));
    assert_eq!(c.mounts.len(), 2);
    assert_eq!(
        (c.mounts[1].kind.as_str(), c.mounts[1].source.as_str(), c.mounts[1].target.as_str()),
        ("bind", "local/conf", "/conf")
    );
    // A host task has no container.
    let j = job(&wrap("service", "", ""));
    assert!(j.groups[0].tasks[0].container.is_none());
}

/// A variable's `default` is a value, not an expression: it may call no
/// function (as Nomad's jobspec2 has it), whatever path works it out.
#[test]
fn a_variable_default_may_not_call_a_function() {
    for default in [r#"upper("x")"#, r#"["a", upper("x")]"#] {
        let src = format!("variable \"n\" {{\n  default = {default}\n}}\n{}", wrap("service", "", ""));
        let e = errors(&src);
        assert!(e.iter().any(|m| m.contains("undefined function `upper`")), "{default}: {e:?}");
    }
}

/// A task directly in a job becomes a group of its name, placed where the
/// task is written: errors and `status` point at the task's line.
#[test]
fn a_task_at_job_level_is_a_group_placed_at_the_task() {
    let j = job(
        "job \"j\" {\n  type = \"batch\"\n\n  task \"build\" {\n    driver = \"raw_exec\"\n    config { command = \"/bin/true\" }\n  }\n}\n",
    );
    assert_eq!(j.groups.len(), 1);
    let g = &j.groups[0];
    assert_eq!((g.name.as_str(), g.count), ("build", 1));
    assert_eq!((g.pos.line, g.pos.column), (4, 3), "group placed at {}", g.pos);
    assert_eq!((g.tasks[0].pos.line, g.tasks[0].pos.column), (4, 3));
}

/// A count of billions is a number, but not one this host can run: it is
/// refused at its line, naming the limit, and the largest allowed passes.
#[test]
fn count_is_bounded() {
    assert_eq!(
        errors(&wrap("service", "count = 4294967295", "")),
        ["`count` must be between 0 and 10000, found 4294967295"]
    );
    assert_eq!(job(&wrap("service", "count = 10000", "")).groups[0].count, 10000);
}

/// A group service's `task` is where its checks run unless a check names
/// its own (Nomad's checks take their service's task), so its script checks
/// need no `task` of their own.
#[test]
fn a_group_services_task_goes_to_its_checks() {
    let j = job(r#"job "j" {
  group "g" {
    service {
      name = "api"
      task = "web"
      check {
        type     = "script"
        command  = "/bin/true"
        interval = "10s"
        timeout  = "2s"
      }
      check {
        name     = "other"
        type     = "script"
        command  = "/bin/true"
        task     = "side"
        interval = "10s"
        timeout  = "2s"
      }
    }
    task "web" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
    task "side" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}"#);
    let checks = &j.groups[0].services[0].checks;
    assert_eq!(checks[0].task.as_deref(), Some("web"));
    assert_eq!(checks[1].task.as_deref(), Some("side"));
    let e = errors(
        r#"job "j" {
  group "g" {
    service {
      task = "wbe"
    }
    task "web" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}"#,
    );
    assert_eq!(e, ["the group has no task \"wbe\" — did you mean \"web\"?"]);
}

/// A group with no task is a mistake, unless it is a Connect gateway,
/// whose task Nomad and Consul provide: the refusal says which.
#[test]
fn a_group_without_a_task_is_told_from_a_connect_gateway() {
    let e = errors("job \"j\" {\n  group \"g\" {\n  }\n}");
    assert!(e.len() == 1 && e[0].starts_with("group \"g\" has no task — add `task"), "{e:?}");
    let e = errors(
        r#"job "j" {
  group "gw" {
    service {
      name = "api-gateway"
      port = "8080"
      connect {
        gateway {
          ingress {
            listener {
              port = 8080
            }
          }
        }
      }
    }
  }
}"#,
    );
    assert!(
        e.iter().any(|m| m.starts_with("group \"gw\" is a Consul Connect gateway") && m.contains("supd has no Consul")),
        "{e:?}"
    );
}

/// `try` and `can` in a job file: a map key that is missing falls back, a
/// validation condition uses `can`, and a failed validation names its
/// message.
#[test]
fn try_and_can_in_a_job_file() {
    let src = r#"
variable "ports" {
  type    = map(number)
  default = { http = 8080 }
}
variable "level" {
  default = "3"
  validation {
    condition     = can(tonumber(var.level))
    error_message = "level must be a number"
  }
}
locals {
  admin = try(var.ports["admin"], var.ports["http"] + 1)
}
job "j" {
  meta {
    admin = "${local.admin}"
    http  = "${try(var.ports.http, 0)}"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"#;
    let p = parse(src);
    assert!(p.is_valid(), "{:?}", p.diagnostics);
    assert_eq!(p.jobs[0].meta["admin"], "8081");
    assert_eq!(p.jobs[0].meta["http"], "8080");
    let bad = src.replace(r#"default = "3""#, r#"default = "three""#);
    let e = errors(&bad);
    assert!(e.iter().any(|m| m.contains("level must be a number")), "{e:?}");
}

/// As Nomad, a service's or check's `port` may be a `${...}` reference,
/// kept as written for the task's start (`PortRef::Interpolated`); a
/// plain label or number is read as before, and one that is only `$${`
/// escapes is plain text.
#[test]
fn an_interpolated_port_is_kept_for_the_start() {
    let src = wrap(
        "service",
        r#"network {
      port "api" {}
    }
    service {
      name = "uuid-api"
      port = "${NOMAD_PORT_api}"
      task = "t"
    }"#,
        r#"service {
        port = "${NOMAD_PORT_api}"
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
        check {
          name     = "web"
          type     = "http"
          path     = "/"
          port     = "9${NOMAD_ALLOC_INDEX}"
          interval = "10s"
          timeout  = "2s"
        }
      }
      service {
        name = "plain"
        port = "api"
      }"#,
    );
    let j = job(&src);
    let g = &j.groups[0];
    assert_eq!(g.services[0].port, Some(PortRef::Interpolated("${NOMAD_PORT_api}".into())));
    let svc = &g.tasks[0].services[0];
    assert_eq!(svc.checks[0].port, Some(PortRef::Interpolated("${NOMAD_PORT_api}".into())), "from its service");
    assert_eq!(svc.checks[1].port, Some(PortRef::Interpolated("9${NOMAD_ALLOC_INDEX}".into())));
    assert_eq!(g.tasks[0].services[1].port, Some(PortRef::Label("api".into())));
    let e = errors(&wrap("service", "", r#"service { port = "$${x}" }"#));
    assert_eq!(
        e,
        ["unknown port label \"${x}\" — declare it in the group: network { port \"${x}\" { static = 8080 } }"]
    );
    let e = errors(&wrap("service", "", r#"service { port = "${var.nope}" }"#));
    assert!(e.iter().any(|m| m.contains("var.nope")), "{e:?}");
}

/// Nomad's older place for ports, a task's `resources { network { … } }`
/// (`port` and `reserved_ports` blocks; `mbits` ignored), declares them as
/// the group's network would: the task's services and config name them,
/// and they are the group's ports. A label or static port the group or an
/// earlier task has is an error.
#[test]
fn a_tasks_resources_network_declares_ports() {
    let src = r#"job "j" {
  group "g" {
    network {
      port "admin" {}
    }
    task "a" {
      driver = "exec"
      config { command = "/bin/true" }
      service {
        port = "http"
        check {
          type     = "tcp"
          port     = "metrics"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 100
        memory = 64
        network {
          mbits = 10
          port "http" {}
          reserved_ports "metrics" {
            static = 9100
          }
        }
      }
    }
    task "b" {
      driver = "exec"
      config { command = "/bin/true" }
      service {
        port = "admin"
      }
    }
  }
}
"#;
    let p = parse(src);
    assert!(p.is_valid(), "{:?}", p.diagnostics);
    let w = warnings(src);
    assert_eq!(w, ["`mbits` in resources network is ignored by supd — it loads, but has no effect here"]);
    let g = &p.jobs[0].groups[0];
    let ports: Vec<(&str, Option<u16>)> = g.ports.iter().map(|p| (p.label.as_str(), p.static_port)).collect();
    assert_eq!(ports, [("admin", None), ("http", None), ("metrics", Some(9100))]);
    assert_eq!(g.tasks[0].services[0].port, Some(PortRef::Label("http".into())));
    assert_eq!(g.tasks[0].services[0].checks[0].port, Some(PortRef::Label("metrics".into())));
    assert_eq!(g.tasks[0].resources.memory, 64);

    let twice = src.replace(r#"port "http" {}"#, r#"port "admin" {}"#);
    let e = errors(&twice);
    assert!(e.iter().any(|m| m.starts_with("duplicate port \"admin\" (first defined at 4:")), "{e:?}");
    let clash = src
        .replace("static = 9100", "static = 9100\n          }\n          port \"other\" {\n            static = 9100");
    let e = errors(&clash);
    // `port` blocks are read before `reserved_ports` ones.
    assert!(e.iter().any(|m| m.starts_with("static port 9100 is already reserved by port \"other\"")), "{e:?}");
}

/// A task without `config` loads with a warning (Nomad's `job validate`
/// accepts it) and knows it cannot start; one with it can.
#[test]
fn a_task_without_config_loads_with_a_warning_and_cannot_start() {
    for (driver, hint) in [("docker", "image"), ("raw_exec", "command"), ("java", "jar_path"), ("podman", "image")] {
        let src = format!(
            "job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"{driver}\"\n    }}\n  }}\n}}\n"
        );
        let j = job(&src);
        let w = warnings(&src);
        assert!(w.iter().any(|m| m.contains("has no config block") && m.contains(hint)), "{driver}: {w:?}");
        let why = j.groups[0].tasks[0].missing_config().unwrap_or_default();
        assert!(why.contains("has no config block") && why.contains(driver) && why.contains(hint), "{why}");
    }
    let j = job(&wrap("service", "", ""));
    assert_eq!(j.groups[0].tasks[0].missing_config(), None);
}

/// Nomad's parser rules for `scaling`: a task's are named `cpu` or `mem`
/// once each, of the matching vertical type; a group's is one, unnamed,
/// horizontal, and its bounds hold the group's count (which its `min`
/// gives where `count` is not written).
#[test]
fn scaling_blocks_follow_nomads_rules() {
    let policy = "enabled = true\n min = 1\n max = 10\n policy {\na = 1\n}";
    let ok = wrap(
        "service",
        "",
        &format!(
            "scaling \"cpu\" {{
{policy}
}}\nscaling \"mem\" {{
type = \"vertical_mem\"\n{policy}
}}"
        ),
    );
    assert!(errors(&ok).is_empty(), "{:?}", errors(&ok));
    for (task_body, want) in [
        (
            format!(
                "scaling {{
{policy}
}}"
            ),
            "scaling block has no name",
        ),
        (
            format!(
                "scaling \"cpu\" \"mem\" {{
{policy}
}}"
            ),
            "takes one name",
        ),
        (
            format!(
                "scaling \"disk\" {{
{policy}
}}"
            ),
            "\"cpu\" or \"mem\", not \"disk\"",
        ),
        (
            format!(
                "scaling \"cpu\" {{
type = \"vertical_mem\"\n{policy}
}}"
            ),
            "\"vertical_mem\" is not valid here",
        ),
        (
            format!(
                "scaling \"cpu\" {{
{policy}
}}\nscaling \"cpu\" {{
{policy}
}}"
            ),
            "a second `scaling \"cpu\"` block",
        ),
        ("scaling \"mem\" {\nmin = 5\n}".to_string(), "has no `max`"),
        ("scaling \"mem\" {\nmin = 5\n max = 2\n}".to_string(), "`max` (2) is below `min` (5)"),
        (
            format!(
                "scaling \"cpu\" {{
{policy}\ncooldown = 1
}}"
            ),
            "unknown key `cooldown` in scaling",
        ),
    ] {
        let e = errors(&wrap("service", "", &task_body));
        assert!(e.iter().any(|m| m.contains(want)), "{task_body}: want {want:?} in {e:?}");
    }
    for (group_body, want) in [
        ("count = 4\n scaling {\nmin = 2\n max = 3\n}", "count (4) is above its scaling block's `max` (3)"),
        ("count = 4\n scaling {\nmin = 5\n max = 9\n}", "count (4) is below its scaling block's `min` (5)"),
        ("scaling \"x\" { max = 3 }", "`scaling` block takes no name"),
        ("scaling {\ntype = \"vertical_cpu\"\n max = 3\n}", "\"vertical_cpu\" is not valid here"),
        ("scaling { max = 3 }\n scaling { max = 4 }", "only one `scaling` block"),
    ] {
        let e = errors(&wrap("service", group_body, ""));
        assert!(e.iter().any(|m| m.contains(want)), "{group_body}: want {want:?} in {e:?}");
    }
    assert_eq!(job(&wrap("service", "scaling {\nmin = 3\n max = 5\n}", "")).groups[0].count, 3);
    assert_eq!(job(&wrap("service", "scaling { max = 5 }", "")).groups[0].count, 1);
    assert_eq!(job(&wrap("service", "count = 2\n scaling {\nmin = 1\n max = 5\n}", "")).groups[0].count, 2);
}
