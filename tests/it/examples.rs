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
fn supd_check_loads_the_example_directory() {
    let out = Command::new(env!("CARGO_BIN_EXE_supd")).args(["--jobs", JOBS, "--check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("job \"example\" (service): 1 group(s), 1 instance(s), 1 task(s)"), "{stdout}");
    assert!(stdout.contains("job \"web\" (service)"), "{stdout}");
}
