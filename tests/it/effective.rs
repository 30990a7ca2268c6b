//! The effective job: `supctl validate --effective` over the corpus under
//! `tests/jobs/effective/` (each `NAME.hcl` beside its exact expected
//! output, `NAME.effective` for HCL and `NAME.json` for `--json`), `supctl
//! job inspect` from the running supd, and the policy lines of `supctl
//! status JOB/GROUP/INDEX`.

use crate::support::Supd;
use std::path::Path;
use std::process::Command;

const SUPCTL: &str = env!("CARGO_BIN_EXE_supctl");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn effective(file: &Path, json: bool) -> (String, String, Option<i32>) {
    let mut cmd = Command::new(SUPCTL);
    cmd.current_dir(ROOT).args(["validate", "--effective", "--no-host"]);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.arg(file).env_remove("NOMAD_VAR_token").output().expect("run supctl");
    (
        String::from_utf8(out.stdout).expect("UTF-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn corpus() -> Vec<std::path::PathBuf> {
    let dir = Path::new(ROOT).join("tests/jobs/effective");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/jobs/effective")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "hcl"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the effective corpus must not shrink: {files:?}");
    files
}

#[test]
fn validate_effective_prints_the_expected_hcl_and_json() {
    for file in corpus() {
        let rel = file.strip_prefix(ROOT).expect("under the crate");
        let (out, err, code) = effective(rel, false);
        assert_eq!(code, Some(0), "{}: {err}", rel.display());
        let want = std::fs::read_to_string(file.with_extension("effective")).expect("NAME.effective");
        assert_eq!(out, want, "{}: the effective job differs from NAME.effective", rel.display());
        assert_eq!(err, format!("{}: ok (1 job)\n", rel.display()));
        let (out, err, code) = effective(rel, true);
        assert_eq!(code, Some(0), "{}: {err}", rel.display());
        let want = std::fs::read_to_string(file.with_extension("json")).expect("NAME.json");
        assert_eq!(out, want, "{}: the JSON differs from NAME.json", rel.display());
        assert!(!out.contains("hunter2"), "a sensitive value was printed: {out}");
    }
}

#[test]
fn validate_effective_of_an_invalid_file_prints_no_job_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.hcl");
    std::fs::write(&bad, "job \"x\" {\n  group \"g\" {\n    count = \"many\"\n  }\n}\n").expect("write");
    let (out, err, code) = effective(&bad, false);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert!(err.contains("invalid (") && err.contains(":3:"), "{err}");
}

#[test]
fn job_inspect_shows_what_supd_holds_and_status_shows_the_policies() {
    let s = Supd::new();
    let src = std::fs::read_to_string(Path::new(ROOT).join("tests/jobs/effective/merges.hcl")).expect("corpus file");
    let src = src.replace("count = 2", "count = 1");
    let path = s.write_job("web.hcl", &src);
    let s = s.start();
    s.wait_running("web/site/0/app");
    let out = s.supctl_ok(&["job", "inspect", "web"]);
    let (want, _, _) = effective(&path, false);
    assert_eq!(out, want, "job inspect differs from validate --effective of the same file");
    let json: serde_json::Value =
        serde_json::from_str(&s.supctl_ok(&["--json", "job", "inspect", "web"])).expect("JSON");
    assert_eq!(json["job"]["groups"][0]["tasks"][0]["kill_timeout"], "10s");
    assert!(json["defaults"].as_array().expect("list").iter().any(|d| d == "/groups/0/tasks/0/kill_signal"));
    let missing = s.supctl(&["job", "inspect", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no job \"nope\""));

    let detail = s.supctl_ok(&["status", "web/site/0"]);
    assert!(detail.contains("Reschedule policy: unlimited, delay 30s exponential up to 1h\n"), "{detail}");
    assert!(detail.contains("Restart policy: 5 attempts in 30m, delay 5s, mode fail\n"), "{detail}");
    assert!(detail.contains("Restart policy: 5 attempts in 30m, delay 5s, mode delay\n"), "{detail}");
    assert!(
        detail.contains("Check restart (service: \"web\" check): limit 3, grace 1s, ignore warnings no\n"),
        "{detail}"
    );
}

#[test]
fn job_inspect_of_a_job_run_with_a_sensitive_variable_hides_it_also_after_a_restart_of_supd() {
    let s = Supd::new();
    let file = s.write_file(
        "api.hcl",
        r#"variable "token" {
  type      = string
  sensitive = true
}
job "api" {
  task "server" {
    driver = "raw_exec"
    config {
      command = "/bin/sh"
      args    = ["-c", "sleep 1000", "--token=${var.token}"]
    }
    env {
      API_TOKEN = var.token
    }
  }
}
"#,
    );
    let file = file.to_str().expect("UTF-8 path").to_string();
    let mut s = s.start();
    s.supctl_ok(&["job", "run", &file, "--var", "token=s3cret-value"]);
    s.wait_running("api/server/0/server");
    let out = s.supctl_ok(&["job", "inspect", "api"]);
    assert!(!out.contains("s3cret"), "{out}");
    assert!(out.contains("API_TOKEN = \"(sensitive)\""), "{out}");
    // The job supd saved and reads back at its next start still knows.
    s.kill9();
    let s = s.start();
    s.wait_status("api is back", |st| crate::support::task(st, "api/server/0/server").is_some());
    let out = s.supctl_ok(&["job", "inspect", "api"]);
    assert!(!out.contains("s3cret"), "{out}");
    assert!(out.contains("API_TOKEN = \"(sensitive)\""), "{out}");
}
