//! The validation corpus: runs the real `supctl validate` on every job file
//! under `tests/jobs/valid/` and `tests/jobs/invalid/` and checks what it
//! reports against what each file says it must report. Also checks the
//! command's text output, its exit codes, and the files that are not job
//! files at all (missing, a directory, too large, not UTF-8, empty).
//!
//! # Expectation format
//!
//! Each corpus file states its expectations in comment lines of its own. By
//! convention they lead the file, after a comment saying which rule the file
//! covers; the runner reads them wherever they are (the source article's job
//! keeps them after the job, so that the job keeps the article's line
//! numbers). One directive per line, starting at the line's first column:
//!
//! ```text
//! # expect: ok                                the file is valid: exit 0 and
//!                                             `FILE: ok (N jobs...)`
//! # jobs: N                                   a valid file holds N jobs (default 1)
//! # expect: LINE:COL SEVERITY: MESSAGE        one diagnostic: exact 1-based line and
//!                                             column (in characters), `error` or
//!                                             `warning`, and the full exact message
//! # expect-prefix: LINE:COL SEVERITY: TEXT    one diagnostic whose message starts with
//!                                             TEXT; only for messages that carry a
//!                                             value of this host (e.g. its core count)
//! ```
//!
//! A file without `# expect: ok` must be invalid (exit 1) and expect at least
//! one error; a file with it must expect no error. The diagnostics `supctl
//! validate --json FILE` prints must equal the expected ones as a multiset:
//! nothing missing, nothing extra. They must come in file order, and the text
//! output of `supctl validate FILE` must be exactly the same diagnostics as
//! `FILE:LINE:COL: SEVERITY: MESSAGE` lines followed by the summary line.
//! A comment line that looks like a directive but does not parse (`#expect:`,
//! `# expect : ok`, an unknown severity) fails the test rather than being
//! skipped.
//!
//! Files under `valid/` must be valid and files under `invalid/` invalid, so
//! that a misplaced file is caught too.

use serde_json::Value;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The corpus must not shrink below this many files.
const MIN_CORPUS_FILES: usize = 40;

const SUPCTL: &str = env!("CARGO_BIN_EXE_supctl");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `supctl validate --no-host [--json] ARGS...` from the crate root,
/// so that file names in its output are the relative paths the tests
/// pass: what is said of the files, whoever runs the tests.
fn validate(json: bool, args: &[&str]) -> Output {
    validate_as(json, &[&["--no-host"][..], args].concat())
}

/// `supctl validate [--json] ARGS...`: with this host's checks unless
/// ARGS say `--no-host`.
fn validate_as(json: bool, args: &[&str]) -> Output {
    let mut cmd = Command::new(SUPCTL);
    cmd.current_dir(ROOT).arg("validate");
    if json {
        cmd.arg("--json");
    }
    cmd.args(args);
    cmd.output().unwrap_or_else(|e| panic!("cannot run {SUPCTL}: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("supctl printed non-UTF-8 on stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// --- expectations ----------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Diag {
    line: Option<u64>,
    column: Option<u64>,
    severity: String,
    message: String,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c} {}: {}", self.severity, self.message),
            _ => write!(f, "(no position) {}: {}", self.severity, self.message),
        }
    }
}

#[derive(Debug)]
struct Expected {
    diag: Diag,
    /// `diag.message` is only a prefix of the real message.
    prefix: bool,
    /// Where the directive is, for failure messages.
    at: usize,
}

#[derive(Debug, Default)]
struct Expectations {
    ok: bool,
    jobs: Option<usize>,
    diags: Vec<Expected>,
}

impl Expectations {
    fn errors(&self) -> usize {
        self.diags.iter().filter(|e| e.diag.severity == "error").count()
    }

    fn warnings(&self) -> usize {
        self.diags.len() - self.errors()
    }
}

/// Reads the directives of one corpus file.
fn expectations(text: &str) -> Result<Expectations, String> {
    let mut out = Expectations::default();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if let Some(rest) = line.strip_prefix("# expect: ") {
            if rest == "ok" {
                if out.ok {
                    return Err(format!("line {n}: `# expect: ok` given twice"));
                }
                out.ok = true;
            } else {
                out.diags.push(Expected {
                    diag: diagnostic(rest).map_err(|e| format!("line {n}: {e}"))?,
                    prefix: false,
                    at: n,
                });
            }
        } else if let Some(rest) = line.strip_prefix("# expect-prefix: ") {
            out.diags.push(Expected {
                diag: diagnostic(rest).map_err(|e| format!("line {n}: {e}"))?,
                prefix: true,
                at: n,
            });
        } else if let Some(rest) = line.strip_prefix("# jobs: ") {
            let jobs = rest.parse().map_err(|_| format!("line {n}: `# jobs:` needs a count, found {rest:?}"))?;
            if out.jobs.replace(jobs).is_some() {
                return Err(format!("line {n}: `# jobs:` given twice"));
            }
        } else if looks_like_directive(line) {
            return Err(format!(
                "line {n}: malformed directive {line:?} — write `# expect: …`, `# expect-prefix: …` or `# jobs: N`"
            ));
        }
    }
    Ok(out)
}

/// `LINE:COL SEVERITY: MESSAGE`
fn diagnostic(s: &str) -> Result<Diag, String> {
    let bad = || format!("expected `LINE:COL error|warning: MESSAGE`, found {s:?}");
    let (pos, rest) = s.split_once(' ').ok_or_else(bad)?;
    let (line, column) = pos.split_once(':').ok_or_else(bad)?;
    let (severity, message) = rest.split_once(": ").ok_or_else(bad)?;
    if !matches!(severity, "error" | "warning") || message.is_empty() {
        return Err(bad());
    }
    Ok(Diag {
        line: Some(line.parse().map_err(|_| bad())?),
        column: Some(column.parse().map_err(|_| bad())?),
        severity: severity.to_string(),
        message: message.to_string(),
    })
}

/// A comment that was probably meant as a directive: `#expect:`,
/// `#  expect-prefix :`, `# jobs:2`.
fn looks_like_directive(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('#') else { return false };
    let rest = rest.trim_start();
    let word = if let Some(r) = rest.strip_prefix("expect") {
        r.strip_prefix("-prefix").unwrap_or(r)
    } else if let Some(r) = rest.strip_prefix("jobs") {
        r
    } else {
        return false;
    };
    word.trim_start().starts_with(':')
}

// --- running ---------------------------------------------------------------

fn corpus() -> Vec<(PathBuf, bool)> {
    let mut files = Vec::new();
    for (dir, valid) in [("valid", true), ("invalid", false)] {
        let path = Path::new(ROOT).join("tests/jobs").join(dir);
        let entries = fs::read_dir(&path).unwrap_or_else(|e| panic!("cannot list {}: {e}", path.display()));
        for entry in entries {
            let p = entry.expect("directory entry").path();
            assert_eq!(
                p.extension().and_then(|e| e.to_str()),
                Some("hcl"),
                "{} is not a .hcl file; the corpus holds only job files",
                p.display()
            );
            let rel = p.strip_prefix(ROOT).expect("corpus file under the crate root").to_path_buf();
            files.push((rel, valid));
        }
    }
    files.sort();
    files
}

fn parse_json(out: &str) -> Result<Vec<(String, Diag)>, String> {
    let v: Value = serde_json::from_str(out).map_err(|e| format!("--json output is not JSON ({e}): {out}"))?;
    let items = v.as_array().ok_or_else(|| format!("--json output is not an array: {out}"))?;
    items
        .iter()
        .map(|d| {
            let obj = d.as_object().filter(|o| o.len() == 5).ok_or_else(|| {
                format!("a diagnostic must be an object with exactly file, line, column, severity, message: {d}")
            })?;
            let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
            let num = |k: &str| -> Result<Option<u64>, String> {
                match obj.get(k) {
                    Some(Value::Null) => Ok(None),
                    Some(n) => n.as_u64().map(Some).ok_or_else(|| format!("`{k}` must be a number or null: {d}")),
                    None => Err(format!("missing `{k}`: {d}")),
                }
            };
            let file = text("file").ok_or_else(|| format!("missing `file`: {d}"))?;
            Ok((
                file,
                Diag {
                    line: num("line")?,
                    column: num("column")?,
                    severity: text("severity").ok_or_else(|| format!("missing `severity`: {d}"))?,
                    message: text("message").ok_or_else(|| format!("missing `message`: {d}"))?,
                },
            ))
        })
        .collect()
}

/// The text `supctl validate FILE` must print for these diagnostics of one file.
fn text_report(file: &str, diags: &[Diag], jobs: usize) -> String {
    let mut out = String::new();
    for d in diags {
        match (d.line, d.column) {
            (Some(l), Some(c)) => out.push_str(&format!("{file}:{l}:{c}: {}: {}\n", d.severity, d.message)),
            _ => out.push_str(&format!("{file}: {}: {}\n", d.severity, d.message)),
        }
    }
    let errors = diags.iter().filter(|d| d.severity == "error").count();
    let warnings = diags.len() - errors;
    let s = |n: usize| if n == 1 { "" } else { "s" };
    if errors == 0 {
        let w = if warnings > 0 { format!(", {warnings} warning{}", s(warnings)) } else { String::new() };
        out.push_str(&format!("{file}: ok ({jobs} job{}{w})\n", s(jobs)));
    } else {
        out.push_str(&format!("{file}: invalid ({errors} error{})\n", s(errors)));
    }
    out
}

/// Checks one corpus file; returns what is wrong with it.
fn check_file(rel: &Path, in_valid_dir: bool) -> Vec<String> {
    let name = rel.to_str().expect("UTF-8 path");
    let mut problems = Vec::new();
    let text = match fs::read_to_string(Path::new(ROOT).join(rel)) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot read it: {e}")],
    };
    let exp = match expectations(&text) {
        Ok(e) => e,
        Err(e) => return vec![e],
    };

    // The file's own statement must be coherent and match its directory.
    if exp.ok != in_valid_dir {
        problems.push(format!(
            "it is under {}/ but {} `# expect: ok`",
            if in_valid_dir { "valid" } else { "invalid" },
            if exp.ok { "says" } else { "does not say" }
        ));
    }
    if exp.ok && exp.errors() > 0 {
        problems.push("it says `# expect: ok` but also expects errors".into());
    }
    if !exp.ok && exp.errors() == 0 {
        problems.push("an invalid file must expect at least one error (or say `# expect: ok`)".into());
    }
    if !exp.ok && exp.jobs.is_some() {
        problems.push("`# jobs:` is only for valid files".into());
    }

    // JSON: the exact set of diagnostics and the exit code.
    let out = validate_as(true, &[name]);
    let want_code = if exp.ok { 0 } else { 1 };
    if out.status.code() != Some(want_code) {
        problems.push(format!("exit code {:?}, expected {want_code}; stderr: {}", out.status.code(), stderr(&out)));
    }
    if !out.stderr.is_empty() {
        problems.push(format!("unexpected stderr: {}", stderr(&out)));
    }
    let actual = match parse_json(&stdout(&out)) {
        Ok(a) => a,
        Err(e) => {
            problems.push(e);
            return problems;
        }
    };
    for (file, d) in &actual {
        if file != name {
            problems.push(format!("diagnostic names file {file:?}, expected {name:?}: {d}"));
        }
    }
    let actual: Vec<Diag> = actual.into_iter().map(|(_, d)| d).collect();
    let positions: Vec<_> = actual.iter().map(|d| (d.line, d.column)).collect();
    if !positions.is_sorted() {
        problems.push(format!("diagnostics are not in file order: {positions:?}"));
    }

    let mut rest: Vec<&Diag> = actual.iter().collect();
    let mut missing = Vec::new();
    // Exact expectations first, so that a prefix cannot take a diagnostic an
    // exact one needs.
    let (exact, prefixed): (Vec<&Expected>, Vec<&Expected>) = exp.diags.iter().partition(|e| !e.prefix);
    for e in exact {
        match rest.iter().position(|d| **d == e.diag) {
            Some(i) => {
                rest.remove(i);
            }
            None => missing.push(e),
        }
    }
    for e in prefixed {
        let hit = rest.iter().position(|d| {
            d.line == e.diag.line
                && d.column == e.diag.column
                && d.severity == e.diag.severity
                && d.message.starts_with(&e.diag.message)
        });
        match hit {
            Some(i) => {
                rest.remove(i);
            }
            None => missing.push(e),
        }
    }
    for e in missing {
        let kind = if e.prefix { "expect-prefix" } else { "expect" };
        problems.push(format!("missing (the `# {kind}:` at line {}): {}", e.at, e.diag));
    }
    for d in rest {
        problems.push(format!("unexpected: {d}"));
    }

    // Text: the same diagnostics, one `FILE:LINE:COL: severity: message` line
    // each, then the summary.
    let out = validate_as(false, &[name]);
    if out.status.code() != Some(want_code) {
        problems.push(format!("text mode: exit code {:?}, expected {want_code}", out.status.code()));
    }
    let want = text_report(name, &actual, exp.jobs.unwrap_or(1));
    let got = stdout(&out);
    if got != want {
        problems.push(format!("text output differs\n--- expected\n{want}--- got\n{got}---"));
    }
    problems
}

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn corpus_files_report_exactly_what_they_expect() {
    let files = corpus();
    let mut failures = Vec::new();
    for (rel, valid) in &files {
        let problems = check_file(rel, *valid);
        if !problems.is_empty() {
            failures.push(format!("{}:\n  {}", rel.display(), problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn corpus_is_large_enough() {
    let files = corpus();
    let valid = files.iter().filter(|(_, v)| *v).count();
    let invalid = files.len() - valid;
    assert!(
        files.len() >= MIN_CORPUS_FILES,
        "the corpus has {} files, at least {MIN_CORPUS_FILES} are required",
        files.len()
    );
    assert!(valid >= 10 && invalid >= 10, "the corpus needs both kinds: {valid} valid, {invalid} invalid");
}

#[test]
fn expectation_directives_parse() {
    let e = expectations(
        "# covers X\n# expect: ok\n# jobs: 2\n# expect: 3:7 warning: a: b — c\n# expect-prefix: 4:1 warning: d (\"\n# expected: prose\n",
    )
    .expect("valid directives");
    assert!(e.ok);
    assert_eq!(e.jobs, Some(2));
    assert_eq!(e.diags.len(), 2);
    assert_eq!(e.diags[0].diag.message, "a: b — c");
    assert!(!e.diags[0].prefix && e.diags[1].prefix);
    assert_eq!((e.warnings(), e.errors()), (2, 0));
    for bad in
        ["#expect: ok", "# expect : ok", "# expect: 3:7 fatal: x", "# expect: 3 error: x", "# jobs:two", "# jobs: x"]
    {
        assert!(expectations(bad).is_err(), "{bad:?} must be refused");
    }
}

// --- text output -------------------------------------------------------------

#[test]
fn text_output_names_file_line_column_severity_and_message() {
    let f = "tests/jobs/valid/article_job.hcl";
    let out = validate(false, &[f]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        format!(
            "{f}:19:24: warning: `max_delay`: duration \"1hr\" uses the unit \"hr\", which Nomad refuses — write \"h\" (read here as hours)"
        )
    );
    assert!(lines[1].starts_with(&format!("{f}:32:9: warning: ")), "{}", lines[1]);
    assert_eq!(lines[2], format!("{f}: ok (1 job, 2 warnings)"));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let f = "tests/jobs/invalid/unsupported_driver.hcl";
    let out = validate(false, &[f]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("{f}:9:16: error: driver \"containerd-driver\" is not supported — ")),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], format!("{f}: invalid (1 error)"));
}

#[test]
fn text_summary_counts_jobs_and_warnings() {
    for (file, summary) in [
        ("tests/jobs/valid/minimal.hcl", "ok (1 job)"),
        ("tests/jobs/valid/two_jobs.hcl", "ok (2 jobs)"),
        ("tests/jobs/valid/logs_over_disk.hcl", "ok (1 job, 1 warning)"),
        ("tests/jobs/valid/check_interval_below_1s.hcl", "ok (1 job, 2 warnings)"),
        ("tests/jobs/invalid/two_leaders.hcl", "invalid (1 error)"),
        ("tests/jobs/invalid/duration_bare_number.hcl", "invalid (3 errors)"),
    ] {
        let out = validate(false, &[file]);
        let text = stdout(&out);
        assert_eq!(text.lines().last(), Some(format!("{file}: {summary}").as_str()), "{text}");
        assert_eq!(out.status.code(), Some(if summary.starts_with("ok") { 0 } else { 1 }), "{file}");
    }
    let out = validate(false, &["tests/jobs/valid/minimal.hcl"]);
    assert_eq!(stdout(&out), "tests/jobs/valid/minimal.hcl: ok (1 job)\n");
}

#[test]
fn json_output_of_a_clean_file_is_an_empty_array() {
    let out = validate(true, &["tests/jobs/valid/minimal.hcl"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).trim(), "[]");
}

// --- several files -------------------------------------------------------------

#[test]
fn several_valid_files_exit_0_and_report_each_in_order() {
    let (a, b) = ("tests/jobs/valid/minimal.hcl", "tests/jobs/valid/two_jobs.hcl");
    let out = validate(false, &[a, b]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{a}: ok (1 job)\n{b}: ok (2 jobs)\n"));
}

#[test]
fn one_invalid_file_among_several_makes_the_call_exit_1() {
    let (a, b, c) =
        ("tests/jobs/valid/minimal.hcl", "tests/jobs/invalid/two_leaders.hcl", "tests/jobs/valid/two_jobs.hcl");
    let out = validate(false, &[a, b, c]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], format!("{a}: ok (1 job)"));
    assert!(lines[1].starts_with(&format!("{b}:6:3: error: group \"g\" marks 2 tasks as leader")), "{text}");
    assert_eq!(lines[2], format!("{b}: invalid (1 error)"));
    assert_eq!(lines[3], format!("{c}: ok (2 jobs)"));

    // JSON: one array for the whole call, each diagnostic naming its file.
    let d = "tests/jobs/invalid/duration_bare_number.hcl";
    let out = validate(true, &[a, b, d]);
    assert_eq!(out.status.code(), Some(1));
    let diags = parse_json(&stdout(&out)).expect("JSON");
    let files: Vec<&str> = diags.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files, [b, d, d, d], "{diags:?}");
}

// --- usage and files that are not job files ------------------------------------

#[test]
fn no_file_argument_is_a_usage_error() {
    for args in [&["validate"][..], &["validate", "--json"], &["validate", "--no-such-flag", "x.hcl"]] {
        let out = Command::new(SUPCTL).args(args).output().expect("run supctl");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains("Usage"), "{args:?}: {}", stderr(&out));
    }
}

/// Runs both output modes on a path that is not a good job file and checks
/// that the one problem is a clear file-level error, not a panic.
fn file_level_error(path: &Path, message: &str) {
    let name = path.to_str().expect("UTF-8 path");
    let out = validate(false, &[name]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{name}: error: {message}\n{name}: invalid (1 error)\n"));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));

    let out = validate(true, &[name]);
    assert_eq!(out.status.code(), Some(1));
    let diags = parse_json(&stdout(&out)).expect("JSON");
    let want = Diag { line: None, column: None, severity: "error".into(), message: message.into() };
    assert_eq!(diags, [(name.to_string(), want)]);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    file_level_error(&dir.path().join("nope.hcl"), "cannot read the file: No such file or directory (os error 2)");
}

#[test]
fn a_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    file_level_error(dir.path(), "is a directory, not a job file");
}

#[test]
fn a_file_over_16_mib_is_refused_and_one_of_exactly_16_mib_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.hcl");
    let f = fs::File::create(&big).expect("create");
    f.set_len((16 << 20) + 1).expect("set_len");
    drop(f);
    file_level_error(&big, "the file is 16777217 bytes; job files may be at most 16 MiB — split it into several files");

    // The limit itself is allowed: a valid job padded to exactly 16 MiB.
    let job = fs::read_to_string(Path::new(ROOT).join("tests/jobs/valid/minimal.hcl")).expect("read");
    let mut text = job.clone();
    text.push('#');
    text.push_str(&"x".repeat((16 << 20) - job.len() - 2));
    text.push('\n');
    assert_eq!(text.len(), 16 << 20);
    let exact = dir.path().join("exact.hcl");
    fs::write(&exact, text).expect("write");
    let out = validate(false, &[exact.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with(": ok (1 job)\n"), "{}", stdout(&out));
}

#[test]
fn a_non_utf8_file_is_reported_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Line 3: four spaces, `note = "café ` (é is one character, two bytes),
    // then a Latin-1 byte at column 18. A second bad byte on line 5 is not
    // reported: the file is refused as a whole.
    let mut bytes = b"job \"web\" {\n  meta {\n    note = \"caf\xc3\xa9 ".to_vec();
    bytes.extend_from_slice(b"\xff\"\n  }\n  # \xe9\n}\n");
    let path = dir.path().join("latin1.hcl");
    fs::write(&path, &bytes).expect("write");
    let name = path.to_str().expect("UTF-8 path");
    let message = "the file is not valid UTF-8 here — save it as UTF-8";

    let out = validate(true, &[name]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let want = Diag { line: Some(3), column: Some(18), severity: "error".into(), message: message.into() };
    assert_eq!(parse_json(&stdout(&out)).expect("JSON"), [(name.to_string(), want)]);

    let out = validate(false, &[name]);
    assert_eq!(stdout(&out), format!("{name}:3:18: error: {message}\n{name}: invalid (1 error)\n"));

    // A multi-byte sequence cut short at the end of the file.
    let cut = dir.path().join("cut.hcl");
    fs::write(&cut, b"job \xc3").expect("write");
    let name = cut.to_str().expect("UTF-8 path");
    let out = validate(false, &[name]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), format!("{name}:1:5: error: {message}\n{name}: invalid (1 error)\n"));
}

#[test]
fn an_empty_file_holds_no_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.hcl");
    fs::write(&path, b"").expect("write");
    let name = path.to_str().expect("UTF-8 path");
    let out = validate(false, &[name]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "{name}:1:1: error: no job in this file — write `job \"NAME\" {{ group \"NAME\" {{ task \"NAME\" {{ … }} }} }}`\n{name}: invalid (1 error)\n"
        )
    );
}

/// Nomad's own job files that use a driver supd runs, from its last
/// release under the MPL-2.0 (v1.5.12; `tests/nomad/LICENSE`): each
/// validates, or is refused with the first error `tests/nomad/expected.txt`
/// names (Consul, Vault, a variable the file gives no value, a group
/// without a task, …), and none crashes supctl. A regression in the language
/// shows here as a file that no longer validates.
#[test]
fn nomads_own_job_files_validate_or_are_refused_for_their_reason() {
    let dir = Path::new(ROOT).join("tests/nomad");
    let text = fs::read_to_string(dir.join("expected.txt")).expect("tests/nomad/expected.txt");
    let mut expected: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (file, what) = line.split_once(": ").unwrap_or_else(|| panic!("bad line {line:?}"));
        let refusal = match what {
            "ok" => None,
            w => Some(w.strip_prefix("refused: ").unwrap_or_else(|| panic!("bad line {line:?}")).to_string()),
        };
        expected.push((file.to_string(), refusal));
    }
    assert!(expected.len() >= 200, "the corpus holds {} files", expected.len());
    let out = Command::new(SUPCTL)
        .current_dir(&dir)
        .args(["validate", "--json", "--no-host"])
        // A path the files name under `~` is said as this HOME makes it.
        .env("HOME", "/root")
        .args(expected.iter().map(|(f, _)| f.as_str()))
        .output()
        .expect("supctl validate");
    assert!(out.status.code().is_some(), "supctl crashed: {out:?}");
    let found: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON diagnostics");
    let mut wrong = Vec::new();
    for (file, refusal) in &expected {
        let first = found
            .iter()
            .find(|d| d["file"] == file.as_str() && d["severity"] == "error")
            .and_then(|d| d["message"].as_str())
            .map(|m| m.split(" — ").next().unwrap_or(m).to_string());
        if first != *refusal {
            wrong.push(format!("{file}: expected {refusal:?}, got {first:?}"));
        }
    }
    let ok = expected.iter().filter(|(_, r)| r.is_none()).count();
    assert!(
        wrong.is_empty(),
        "{} of {} files differ ({ok} expected valid):\n{}",
        wrong.len(),
        expected.len(),
        wrong.join("\n")
    );
}

/// `--no-host` says what the file is, not whether this host can run it:
/// a job for another datacenter is warned of only without it.
#[test]
fn no_host_leaves_out_this_hosts_checks_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("elsewhere.hcl");
    fs::write(
        &file,
        "job \"elsewhere\" {\n  datacenters = [\"eu-west\"]\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n    }\n  }\n}\n",
    )
    .expect("write");
    let name = file.to_str().expect("UTF-8 path");
    let here = validate_as(false, &[name]);
    let warned =
        format!("{name}:1:1: warning: job \"elsewhere\" runs in datacenters [\"eu-west\"] but this node is in");
    assert!(stdout(&here).contains(&warned), "{}", stdout(&here));
    assert!(stdout(&here).contains(&format!("{name}: ok (1 job, 1 warning)")), "{}", stdout(&here));
    let anywhere = validate(false, &[name]);
    assert_eq!(stdout(&anywhere), format!("{name}: ok (1 job)\n"));
    assert_eq!((here.status.code(), anywhere.status.code()), (Some(0), Some(0)));
}
