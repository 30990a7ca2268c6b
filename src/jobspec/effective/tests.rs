use super::*;
use crate::jobspec::parse_str;

fn effective(src: &str) -> String {
    let p = parse_str("t.hcl", src);
    assert!(p.is_valid(), "{:?}", p.diagnostics);
    to_hcl(&of(&p.jobs[0]))
}

#[test]
fn defaults_are_marked_and_written_values_are_not() {
    let out = effective(
        r#"job "j" {
  group "g" {
    restart { attempts = 5 }
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      restart { delay = "3s" }
      kill_timeout = "9s"
    }
  }
}"#,
    );
    assert!(out.contains("      attempts = 5\n"), "{out}");
    assert!(out.contains("      delay = \"3s\"\n"), "{out}");
    assert!(out.contains("      interval = \"30m\" # default\n"), "{out}");
    assert!(out.contains("    kill_timeout = \"9s\"\n"), "{out}");
    assert!(out.contains("    kill_signal = \"SIGINT\" # default\n"), "{out}");
    assert!(out.contains("# resources: none declared — no reservation, no limits"), "{out}");
}

#[test]
fn reschedule_fields_written_at_the_job_level_are_not_defaults() {
    let out = effective(
        r#"job "j" {
  reschedule { delay = "1m" }
  group "g" {
    reschedule { attempts = 0 }
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}"#,
    );
    assert!(out.contains("      delay = \"1m\"\n"), "{out}");
    assert!(out.contains("      attempts = 0\n"), "{out}");
    assert!(out.contains("      max_delay = \"1h\" # default\n"), "{out}");
}

#[test]
fn a_task_written_in_the_job_finds_its_own_fields() {
    let out = effective(
        r#"job "j" {
  task "t" {
    driver = "raw_exec"
    config { command = "/bin/true" }
    kill_signal = "SIGTERM"
    resources { memory = 64 }
  }
}"#,
    );
    assert!(out.contains("    kill_signal = \"SIGTERM\"\n"), "{out}");
    assert!(out.contains("      memory = 64\n      cpu") || out.contains("      cpu = 100 # default\n"), "{out}");
    assert!(out.contains("      memory = 64\n"), "{out}");
}

#[test]
fn sensitive_values_never_appear() {
    let src = r#"variable "token" {
  type = string
  default = "hunter2"
  sensitive = true
}
job "j" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/echo"
        args = ["--token=${var.token}", "plain"]
      }
      env { TOKEN = var.token }
    }
  }
}"#;
    let out = effective(src);
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains(r#"args = ["(sensitive)", "plain"]"#), "{out}");
    assert!(out.contains(r#"TOKEN = "(sensitive)""#), "{out}");
    let json = to_json(&of(&parse_str("t.hcl", src).jobs[0])).to_string();
    assert!(!json.contains("hunter2"), "{json}");
    // The source supd keeps names them, so that a job read back from the
    // state still hides them.
    let p = parse_str("t.hcl", src);
    let again = parse_str("t.hcl", &p.jobs[0].source);
    assert_eq!(again.jobs[0].sensitive, vec!["hunter2".to_string()]);
    assert!(!to_hcl(&of(&again.jobs[0])).contains("hunter2"));
}

#[test]
fn json_lists_the_defaults_as_pointers() {
    let p = parse_str(
        "t.hcl",
        r#"job "j" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      kill_timeout = "1s"
    }
  }
}"#,
    );
    let v = to_json(&of(&p.jobs[0]));
    let defaults: Vec<&str> = v["defaults"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(defaults.contains(&"/groups/0/restart/attempts"), "{defaults:?}");
    assert!(defaults.contains(&"/groups/0/tasks/0/kill_signal"), "{defaults:?}");
    assert!(!defaults.contains(&"/groups/0/tasks/0/kill_timeout"), "{defaults:?}");
    assert_eq!(v["job"]["groups"][0]["tasks"][0]["kill_timeout"], "1s");
    assert_eq!(v["job"]["groups"][0]["tasks"][0]["name"], "t");
}

#[test]
fn status_lines() {
    let p = crate::jobspec::model::JobType::Service.default_restart();
    assert_eq!(restart_line(&p), "2 attempts in 30m, delay 15s, mode fail");
    let r = crate::jobspec::model::JobType::Service.default_reschedule();
    assert_eq!(reschedule_line(r.as_ref()), "unlimited, delay 30s exponential up to 1h");
    let b = crate::jobspec::model::JobType::Batch.default_reschedule();
    assert_eq!(reschedule_line(b.as_ref()), "1 attempt in 24h, delay 5s constant");
    assert_eq!(reschedule_line(None), "disabled");
}
