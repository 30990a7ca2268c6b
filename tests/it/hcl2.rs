//! HCL2 job files run for real: a task's command line built from
//! variables, locals and functions gets each variable's value from the
//! right source, lowest first: `default`, `NOMAD_VAR_<name>` (supctl's),
//! variable files (`NAME.vars.hcl` beside the job file, `--var-file`),
//! `--var`; runtime
//! references stay for the task's start.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// Four variables, each set by one more source than the one before; the
/// task writes what it was given and its job name to `@DIR@/OUT`.
const JOB: &str = r#"
variable "a" {
  type    = string
  default = "def"
}
variable "b" {
  default = "def"
}
variable "c" {
  default = "def"
}
variable "d" {
  default = "def"
}
variable "repeat" {
  type    = number
  default = 1
}
locals {
  line = format("%s-%s-%s", upper(var.a), var.b, join("+", [var.c, var.d]))
  more = [for i in range(var.repeat) : "x${i}"]
}
job "JOBNAME" {
  type = "batch"
  task "t" {
    driver = "raw_exec"
    config {
      command = "/bin/sh"
      args    = concat(["-c", "echo \"$*\" > @DIR@/OUT", "sh", local.line, "${NOMAD_JOB_NAME}"], local.more)
    }
  }
}
"#;

fn job(name: &str, out: &str) -> String {
    JOB.replace("JOBNAME", name).replace("OUT", out)
}

#[test]
fn values_come_from_each_source_in_nomads_order() {
    let s = Supd::new();
    // The job directory: defaults, then NAME.vars.hcl. supd's own
    // NOMAD_VAR_* count for nothing (they are supctl's, as they are Nomad's
    // CLI's) and reach no task, nor do the tokens of Nomad's env.denylist.
    s.write_job("dir.hcl", &job("dir", "dir.out"));
    s.write_job("dir.vars.hcl", "c = \"file\"\nd = \"file\"\n");
    s.write_job(
        "leak.hcl",
        "job \"leak\" {\n  type = \"batch\"\n  task \"t\" {\n    driver = \"raw_exec\"\n    config {\n      command = \"/bin/sh\"\n      args    = [\"-c\", \"echo [$NOMAD_VAR_b][$VAULT_TOKEN][$AWS_SECRET_ACCESS_KEY][$KEPT] > @DIR@/leak.out\"]\n    }\n  }\n}\n",
    );
    let s = s.start_with_env(&[
        ("NOMAD_VAR_b", "env"),
        ("NOMAD_VAR_c", "env"),
        ("NOMAD_VAR_d", "env"),
        ("VAULT_TOKEN", "s.secret"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("KEPT", "kept"),
    ]);
    assert_eq!(s.wait_lines("dir.out", 1), ["DEF-def-file+file dir x0"]);
    assert_eq!(s.wait_lines("leak.out", 1), ["[][][][kept]"]);
    // The vars file is not a job.
    let st = s.status();
    let jobs: Vec<&str> = st["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["name"].as_str()).collect();
    assert_eq!(jobs, ["dir", "leak"], "{}", pretty(&st));

    // supctl job run: supctl's NOMAD_VAR_*, then --var-file, then --var.
    let file = s.write_file("cli.hcl", &job("cli", "cli.out"));
    let vf = s.write_file("cli.vars.json", r#"{"c": "file", "d": "file", "repeat": 2}"#);
    let out = Command::new(env!("CARGO_BIN_EXE_supctl"))
        .arg("--socket")
        .arg(s.socket())
        .args(["job", "run", file.to_str().expect("path"), "--var", "d=cli", "--var-file", vf.to_str().expect("path")])
        .env_remove("SUPD_SOCKET")
        .env("NOMAD_VAR_b", "env")
        .env("NOMAD_VAR_c", "env")
        .env("NOMAD_VAR_d", "env")
        .stdin(Stdio::null())
        .output()
        .expect("run supctl");
    assert!(out.status.success(), "{}\n{}", describe(&out), s.log());
    assert_eq!(s.wait_lines("cli.out", 1), ["DEF-env-file+cli cli x0 x1"]);

    // A variable without a value: refused, naming it and the ways to set it.
    let file = s.write_file("bare.hcl", "variable \"v\" {}\njob \"bare\" {\n  task \"t\" {\n    driver = \"raw_exec\"\n    config { command = var.v }\n  }\n}\n");
    let out = s.supctl(&["job", "run", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1:10: error: variable `v` has no value") && err.contains("--var v=VALUE"), "{err}");
    // --var for a variable the file does not declare.
    let out = s.supctl(&["job", "run", file.to_str().expect("path"), "--var", "v=/bin/true", "--var", "w=1"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--var w: the job file declares no variable `w`"),
        "{}",
        describe(&out)
    );
}

/// As Nomad's parser, names a file does not define are left for the task's
/// start: `${attr.kernel.name}` and `${NOMAD_ALLOC_INDEX}` are
/// interpolated there; `${some_env}`, which nothing defines, reaches the
/// task as written, and the task has an event that names it.
#[test]
fn unknown_names_are_interpolated_at_the_start_or_named_in_an_event() {
    let s = Supd::new();
    let out = s.path("out");
    s.write_job(
        "refs.hcl",
        &format!(
            r#"
variable "greeting" {{
  default = "hi"
}}
job "refs" {{
  group "g" {{
    count = 2
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo \"$0 $1 $2 $3\" >> {out}; exec sleep 600", "${{var.greeting}}", "${{attr.kernel.name}}", "${{NOMAD_ALLOC_INDEX}}", "${{some_env}}"]
      }}
    }}
  }}
}}
"#,
            out = out.display()
        ),
    );
    let s = s.start();
    s.wait_running("refs/g/0/t");
    s.wait_running("refs/g/1/t");
    let mut lines = s.wait_lines("out", 2);
    lines.sort();
    assert_eq!(lines, ["hi linux 0 ${some_env}", "hi linux 1 ${some_env}"]);
    let t = s.wait_event("refs/g/0/t", "Unresolved Reference", |m| m.contains("${some_env}"));
    assert_eq!(count(&t, "Unresolved Reference", |_| true), 1, "{:?}", events(&t));
    // Said once, not at every restart.
    let first = pid(&t);
    s.supctl_ok(&["restart", "refs/g/0/t"]);
    let t = s.wait_task("refs/g/0/t", "running again", |t| t["state"] == "running" && pid(t) != first);
    assert_eq!(s.wait_lines("out", 3).len(), 3, "it started again");
    assert_eq!(count(&t, "Unresolved Reference", |_| true), 1, "{:?}", events(&t));
}

/// Nomad Variables: a task whose template reads a variable not written yet
/// waits for it, pending, as Nomad's does (no failed start, no restart
/// delay); `supctl var put` writes one and the task starts at once; a new
/// value renders the template again and restarts the task (its
/// change_mode); a purge leaves the running task and its file as they are;
/// the file that keeps the variables does not hold the value in clear.
#[test]
fn a_nomad_variable_reaches_the_template_and_a_new_value_restarts_the_task() {
    let s = Supd::new();
    s.write_job(
        "app.hcl",
        r#"
job "app" {
  group "g" {
    restart {
      attempts = 10
      delay    = "1m"
      mode     = "delay"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      template {
        data        = "{{ with nomadVar \"nomad/jobs/app\" }}password={{ .password }}{{ end }}\n"
        destination = "local/db.conf"
        change_mode = "restart"
      }
    }
  }
}
"#,
    );
    let s = s.start();
    // Before the variable exists, the task waits for it and says so.
    let t = s.wait_event("app/g/0/t", "Template", |m| m == "Missing: nomad.var.block(nomad/jobs/app@default.global)");
    assert_eq!(t["state"], "pending", "{t}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = s.status();
    let t = task(&st, "app/g/0/t").expect("the task");
    assert_eq!(t["state"], "pending", "{t}");
    assert_eq!(count(t, "Failed Templates", |_| true) + count(t, "Restarting", |_| true), 0, "{:?}", events(t));
    let out = s.supctl_ok(&["var", "put", "nomad/jobs/app", "password=hunter2-v1"]);
    assert!(out.contains("variable nomad/jobs/app written (index 1)"), "{out}");
    // It starts now, not after the restart delay of a minute.
    let t = s.wait_running("app/g/0/t");
    let first = pid(&t);
    assert_eq!(count(&t, "Restarting", |_| true), 0, "{:?}", events(&t));
    let conf = |s: &Supd| {
        let st = s.status();
        let dir = instance(&st, "app/g/0").and_then(|i| i["alloc_dir"].as_str()).unwrap_or("").to_string();
        std::fs::read_to_string(Path::new(&dir).join("t/local/db.conf")).unwrap_or_default()
    };
    assert_eq!(conf(&s), "password=hunter2-v1\n");
    // A new value: rendered again, and the task restarted with it.
    s.supctl_ok(&["var", "put", "nomad/jobs/app", "password=hunter2-v2"]);
    let t = s.wait_task("app/g/0/t", "restarted with the new value", |t| t["state"] == "running" && pid(t) != first);
    assert_eq!(count(&t, "Restart Signaled", |m| m.contains("Template")), 1, "{:?}", events(&t));
    assert_eq!(conf(&s), "password=hunter2-v2\n");
    // What supctl shows; what is on disk.
    assert_eq!(s.supctl_ok(&["var", "get", "nomad/jobs/app"]), "password=hunter2-v2\n");
    assert_eq!(s.supctl_ok(&["var", "get", "nomad/jobs/app", "--item", "password"]), "hunter2-v2\n");
    assert_eq!(s.supctl_ok(&["var", "list"]), "nomad/jobs/app\n");
    // (The task's own rendered file holds it, as in Nomad: not supd's.)
    for f in walk(&s.path("state")).into_iter().filter(|f| !f.starts_with(s.path("state/alloc"))) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!bytes.windows(10).any(|w| w == b"hunter2-v2"), "{} holds the value in clear", f.display());
    }
    // A stale check-and-set is refused; a path Nomad refuses too.
    let out = s.supctl(&["var", "put", "--check-index", "1", "nomad/jobs/app", "password=x"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check-and-set failed"), "{}", describe(&out));
    let out = s.supctl(&["var", "put", "nomad/other", "a=b"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("only paths at \"nomad/jobs\""), "{}", describe(&out));
    // It survives a restart of supd, and goes with purge.
    let mut s = s;
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(s.pid()), nix::sys::signal::Signal::SIGTERM);
    assert!(s.wait_exit(PATIENCE).is_some());
    let s = s.start();
    assert_eq!(s.supctl_ok(&["var", "get", "nomad/jobs/app", "--item", "password"]), "hunter2-v2\n");
    let running = pid(&s.wait_running("app/g/0/t"));
    s.supctl_ok(&["var", "purge", "nomad/jobs/app"]);
    assert_eq!(s.supctl_ok(&["var", "list"]), "");
    // Purged under a running task: it runs on with its file as it was.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let st = s.status();
    let t = task(&st, "app/g/0/t").expect("the task");
    assert_eq!((t["state"].as_str(), pid(t)), (Some("running"), running), "{t}");
    assert_eq!(conf(&s), "password=hunter2-v2\n");
}

/// A number hcl-rs cannot compute (a remainder by zero it does not see
/// coming, the smallest integer divided by -1) is an error of the job file
/// at its place: `supctl validate` says so, and prints no panic of supd's
/// (the panic is caught, and its hook kept quiet).
#[test]
fn arithmetic_that_cannot_be_done_is_an_error_with_no_panic_said() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    for value in
        ["10 % length([])", "[for x in [0] : 10 % x][0]", "[for x in [-1] : (-9223372036854775807 - 1) % x][0]"]
    {
        let file = dir.path().join("math.hcl");
        let text = format!(
            "locals {{\n  n = {value}\n}}\njob \"math\" {{\n  task \"t\" {{\n    driver = \"raw_exec\"\n    config {{\n      command = \"/bin/true\"\n      args = [\"${{local.n}}\"]\n    }}\n  }}\n}}\n"
        );
        std::fs::write(&file, text).expect("write the job file");
        let out =
            Command::new(SUPCTL).args(["validate", "--no-host"]).arg(&file).output().expect("run supctl validate");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!said.contains("panicked") && !said.contains("backtrace"), "{value}: a panic was said:\n{said}");
        assert!(!out.status.success(), "{value}: validate passed:\n{said}");
        assert!(said.contains("math.hcl:2:") && said.contains("can't divide by zero"), "{value}:\n{said}");
    }
}
