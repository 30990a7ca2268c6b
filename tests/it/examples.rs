//! The example jobs the README points newcomers at must load cleanly, and
//! the programs they run must exist on a machine prepared by scripts/test.

use std::path::Path;
use std::process::Command;

const JOBS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jobs");

#[test]
fn examples_validate_ok() {
    let files: Vec<_> = std::fs::read_dir(JOBS).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 2, "expected the redis and web examples, found {files:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_supctl")).arg("validate").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains(": error:"), "{stdout}");
    for f in &files {
        assert!(stdout.contains(&format!("{}: ok (1 job", f.display())), "{stdout}");
    }
}

#[test]
fn example_programs_exist() {
    for file in std::fs::read_dir(JOBS).unwrap() {
        let path = file.unwrap().path();
        let parsed = supd::jobspec::parse_file(&path);
        for job in &parsed.jobs {
            for task in job.groups.iter().flat_map(|g| &g.tasks) {
                assert!(
                    Path::new(&task.command).is_file(),
                    "{}: task {} runs {}, which is not installed",
                    path.display(),
                    task.name,
                    task.command
                );
            }
        }
    }
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn supd_check_loads_the_example_directory() {
    let out = Command::new(env!("CARGO_BIN_EXE_supd")).args(["--jobs", JOBS, "--check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("job \"example\" (service): 1 group(s), 1 instance(s), 1 task(s)"), "{stdout}");
    assert!(stdout.contains("job \"web\" (service)"), "{stdout}");
}

/// The README's two commands for the examples, run as written: `supd` with
/// the arguments the README gives it (the embedded defaults: /run/supd,
/// /var/lib/supd and /var/log/supd, each a fresh tmpfs in a mount namespace
/// of this test's own, with a network namespace of its own for the
/// examples' static ports), then `supctl status` from "another terminal"
/// until it says every task runs and passes its checks, the web example
/// answering on its port; then Ctrl-C (SIGINT) stops every task and supd
/// exits 0.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn the_readmes_commands_run_the_examples() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(Path::new(root).join("README.md")).expect("README.md");
    let words = |prefix: &str| -> Vec<String> {
        let line = readme
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("README.md has no `{prefix}` command"));
        let line = line.split('`').next().unwrap_or(line);
        line.split_whitespace().map(str::to_string).collect()
    };
    let supd_args = words("cargo run --release --bin supd -- ");
    let supctl_args = words("(`cargo run --release --bin supctl -- ");
    assert_eq!(supd_args, ["--jobs", "examples/jobs"], "the README's supd command changed: update this test");
    assert_eq!(supctl_args, ["status"]);
    let quote = |w: &[String]| w.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
    let script = format!(
        r#"set -u
ip link set lo up
for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
"{supd}" {supd_args} 2>"$SUPD_TEST_WORK/supd.err" &
supd=$!
ok=
for i in $(seq 1 120); do
  if "{supctl}" {supctl_args} >"$SUPD_TEST_WORK/status.out" 2>&1; then ok=1; break; fi
  sleep 0.5
done
echo "status-exit-ok=${{ok:-no}}"
cat "$SUPD_TEST_WORK/status.out"
python3 -c 'import urllib.request; print("web=%d" % urllib.request.urlopen("http://127.0.0.1:8088/", timeout=5).status)' || echo web=none
kill -INT $supd
wait $supd
echo "supd-exit=$?"
cat "$SUPD_TEST_WORK/supd.err" >&2
"#,
        supd = env!("CARGO_BIN_EXE_supd"),
        supctl = env!("CARGO_BIN_EXE_supctl"),
        supd_args = quote(&supd_args),
        supctl_args = quote(&supctl_args),
    );
    let work = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", &script])
        .current_dir(root)
        .env("SUPD_TEST_WORK", work.path())
        .output()
        .expect("unshare (util-linux); the test runs as root");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let said = |what: &str| text.lines().any(|l| l == what);
    assert!(said("status-exit-ok=1"), "supctl status never said every task runs healthy:\n{text}\n{err}");
    for job in ["example", "web"] {
        assert!(text.contains(job), "the status names {job}:\n{text}");
    }
    assert!(said("web=200"), "the web example answers:\n{text}\n{err}");
    assert!(said("supd-exit=0"), "Ctrl-C stops every task and supd exits 0:\n{text}\n{err}");
}

/// Every `hcl` block of the README is a job file `supctl validate` takes,
/// without a warning.
#[test]
fn the_readmes_job_files_validate() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(Path::new(root).join("README.md")).expect("README.md");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut files = Vec::new();
    for (i, block) in readme.split("```hcl\n").skip(1).enumerate() {
        let code = &block[..block.find("```").expect("a closed block")];
        let file = dir.path().join(format!("readme{i}.hcl"));
        std::fs::write(&file, code).expect("write");
        files.push(file);
    }
    assert!(!files.is_empty(), "the README shows a job file");
    let out = Command::new(env!("CARGO_BIN_EXE_supctl")).arg("validate").args(&files).output().expect("supctl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("warning"), "{text}");
}
