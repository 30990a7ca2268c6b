//! Nomad's defaults per job type and its merge rules (job → group → task,
//! service → check), meta, interpolation kept for the start, several jobs
//! in a file.

use super::*;

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
    assert_eq!(t.driver.as_str(), "exec");
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
    assert_eq!(j.groups[0].tasks[0].driver.as_str(), "raw_exec");
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
