//! HCL2 values in place, and the blocks of a job as they are read: tasks
//! at job level, docker config, group services, ports, `try`/`can`, tasks
//! without config, scaling.

use super::*;

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
        let vars = super::super::hcl2::Vars::default();
        let (checked, parsed) =
            (super::super::check_file_with(&file, &vars), super::super::parse_file_with(&file, &vars));
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
    let j = job(include_str!("../../../tests/jobs/valid/docker_config.hcl"));
    let g = &j.groups[0];
    assert_eq!(
        g.ports.iter().map(|p| (p.label.as_str(), p.to)).collect::<Vec<_>>(),
        [("db", Some(6379)), ("admin", None)]
    );
    let t = &g.tasks[0];
    assert_eq!(t.driver.as_str(), "docker");
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
        let why = crate::drivers::missing_config(&j.groups[0].tasks[0]).unwrap_or_default();
        assert!(why.contains("has no config block") && why.contains(driver) && why.contains(hint), "{why}");
    }
    let j = job(&wrap("service", "", ""));
    assert_eq!(crate::drivers::missing_config(&j.groups[0].tasks[0]), None);
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
        &format!("scaling \"cpu\" {{\n{policy}\n}}\nscaling \"mem\" {{\ntype = \"vertical_mem\"\n{policy}\n}}"),
    );
    assert!(errors(&ok).is_empty(), "{:?}", errors(&ok));
    for (task_body, want) in [
        (format!("scaling {{\n{policy}\n}}"), "scaling block has no name"),
        (format!("scaling \"cpu\" \"mem\" {{\n{policy}\n}}"), "takes one name"),
        (format!("scaling \"disk\" {{\n{policy}\n}}"), "\"cpu\" or \"mem\", not \"disk\""),
        (format!("scaling \"cpu\" {{\ntype = \"vertical_mem\"\n{policy}\n}}"), "\"vertical_mem\" is not valid here"),
        (
            format!("scaling \"cpu\" {{\n{policy}\n}}\nscaling \"cpu\" {{\n{policy}\n}}"),
            "a second `scaling \"cpu\"` block",
        ),
        ("scaling \"mem\" {\nmin = 5\n}".to_string(), "has no `max`"),
        ("scaling \"mem\" {\nmin = 5\n max = 2\n}".to_string(), "`max` (2) is below `min` (5)"),
        (format!("scaling \"cpu\" {{\n{policy}\ncooldown = 1\n}}"), "unknown key `cooldown` in scaling"),
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

/// A division by zero in a job file is an error at its place, not a
/// panic (the fuzzer found `max_file_size = 2/0`); a guarded one is not.
#[test]
fn a_division_by_zero_is_reported_where_it_is_written() {
    let vars = "variable \"n\" {\n  default = 0\n}\n".to_string();
    let e = errors(&(vars.clone() + &wrap("service", "", "logs {\n        max_file_size = 2/0\n      }")));
    assert!(e.iter().any(|m| m.contains("can't divide by zero")), "{e:?}");
    let src = vars + &wrap("service", "", "logs {\n        max_file_size = var.n == 0 ? 10 : 100 / var.n\n      }");
    assert_eq!(job(&src).groups[0].tasks[0].logs.max_file_size, 10);
}

/// A remainder by zero that the arithmetic guard cannot see before (its
/// divisor a call, a `for`'s own name, a template's `${…}`) is an error of
/// the file, not a panic of hcl-rs that would abort supd.
#[test]
fn a_remainder_by_zero_out_of_sight_is_an_error_not_a_panic() {
    for value in
        ["10 % length([])", "length(range(10 % length([])))", "[for x in [0] : 10 % x][0]", "length(\"${10 % 0}\")"]
    {
        let src = format!("locals {{\n  n = {value}\n}}\n") + &wrap("service", "", "");
        let e = errors(&src);
        assert!(e.iter().any(|m| m.contains("can't divide by zero")), "{value}: {e:?}");
    }
}
