//! Clones of real repositories made by the test with the `git` program,
//! over `file://` (no network), into a real task directory.

use super::*;
use crate::jobspec::taskdir_blocks::Artifact;
use crate::taskdir::artifact::{fetch as fetch_artifact, prepare};
use crate::taskdir::layout::{AllocDir, TaskDir};
use std::collections::BTreeMap;
use std::process::Command;

/// Runs git for the test itself (not through supd) in `dir`, with none of
/// the host's configuration; its stdout, trimmed.
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=supd test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("these tests need git (apt-get install git; scripts/test installs it): {e}"));
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository `repo.git`: at tag `v1`, `hello.txt` says "v1",
/// `sub/inner.txt` and a link `link` -> `hello.txt` (with what `extra`
/// adds to the work tree); on `main` after it, `hello.txt` says "v2".
struct Repo {
    dir: tempfile::TempDir,
    /// The commit of `v1`.
    v1: String,
}

impl Repo {
    fn new(extra: impl Fn(&Path)) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        git_in(&work, &["init", "-q"]);
        std::fs::write(work.join("hello.txt"), "v1\n").unwrap();
        std::fs::create_dir(work.join("sub")).unwrap();
        std::fs::write(work.join("sub/inner.txt"), "inner\n").unwrap();
        std::os::unix::fs::symlink("hello.txt", work.join("link")).unwrap();
        extra(&work);
        git_in(&work, &["add", "-A"]);
        git_in(&work, &["commit", "-q", "-m", "v1"]);
        git_in(&work, &["tag", "v1"]);
        let v1 = git_in(&work, &["rev-parse", "HEAD"]);
        std::fs::write(work.join("hello.txt"), "v2\n").unwrap();
        git_in(&work, &["commit", "-q", "-am", "v2"]);
        git_in(dir.path(), &["clone", "-q", "--bare", "work", "repo.git"]);
        Repo { dir, v1 }
    }

    fn url(&self) -> String {
        format!("file://{}/repo.git", self.dir.path().display())
    }
}

struct World {
    _data: tempfile::TempDir,
    alloc: AllocDir,
    task: TaskDir,
}

/// The task's `secrets/` tmpfs (mounted when the tests run as root) goes
/// with the world, so that the temporary directory can go too.
impl Drop for World {
    fn drop(&mut self) {
        let _ = self.alloc.remove();
    }
}

fn world() -> World {
    let data = tempfile::tempdir().unwrap();
    let alloc = AllocDir::new(data.path(), "a1").unwrap();
    alloc.build().unwrap();
    let task = alloc.task("web").unwrap();
    task.build(None).unwrap();
    World { _data: data, alloc, task }
}

fn no_vars(_: &str) -> Option<String> {
    None
}

/// Fetches `source` into `destination` of the world's task.
fn get(w: &World, source: &str, destination: &str, limits: &Limits) -> Result<Fetched, ArtifactError> {
    let a = Artifact {
        pos: Default::default(),
        source: source.to_string(),
        destination: destination.to_string(),
        mode: ArtifactMode::Any,
        checksum: None,
        unpack: true,
        git_options: BTreeMap::new(),
        headers: BTreeMap::new(),
    };
    let f = prepare(&a, &w.task, &no_vars, None)?;
    fetch_artifact(&f, limits, &AtomicBool::new(false))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_tag_is_checked_out_with_its_git_directory_and_its_inner_links() {
    let r = Repo::new(|_| {});
    let w = world();
    let got = get(&w, &format!("git::{}?ref=v1", r.url()), "local/repo", &Limits::default()).unwrap();
    let repo = w.task.local().join("repo");
    assert_eq!(got.path, repo);
    assert_eq!(got.source, r.url());
    assert_eq!(read(&repo.join("hello.txt")), "v1\n");
    assert_eq!(read(&repo.join("sub/inner.txt")), "inner\n");
    // A link inside the repository stays a link, as an archive's does.
    assert_eq!(std::fs::read_link(repo.join("link")).unwrap(), Path::new("hello.txt"));
    // go-getter keeps .git: the clone is a repository, at v1.
    assert!(repo.join(".git").is_dir());
    assert_eq!(git_in(&repo, &["rev-parse", "HEAD"]), r.v1);
    assert!(got.files > 4 && got.downloaded > 0, "{got:?}");
}

#[test]
fn a_commit_a_branch_the_default_branch_and_a_shallow_tag() {
    let r = Repo::new(|_| {});
    let w = world();
    let limits = Limits::default();
    get(&w, &format!("git::{}?ref={}", r.url(), r.v1), "local/commit", &limits).unwrap();
    assert_eq!(read(&w.task.local().join("commit/hello.txt")), "v1\n");
    get(&w, &format!("git::{}", r.url()), "local/default", &limits).unwrap();
    assert_eq!(read(&w.task.local().join("default/hello.txt")), "v2\n");
    get(&w, &format!("git::{}?ref=main", r.url()), "local/main", &limits).unwrap();
    assert_eq!(read(&w.task.local().join("main/hello.txt")), "v2\n");
    get(&w, &format!("git::{}?ref=v1&depth=1", r.url()), "local/shallow", &limits).unwrap();
    assert_eq!(read(&w.task.local().join("shallow/hello.txt")), "v1\n");
    assert!(w.task.local().join("shallow/.git/shallow").is_file(), "a clone of depth 1 is shallow");
    // A plain path is a repository of this host too.
    let path = format!("git::{}/repo.git?ref=v1", r.dir.path().display());
    get(&w, &path, "local/path", &limits).unwrap();
    assert_eq!(read(&w.task.local().join("path/hello.txt")), "v1\n");
}

#[test]
fn a_directory_after_double_slash_is_fetched_alone() {
    let r = Repo::new(|_| {});
    let w = world();
    get(&w, &format!("git::{}//sub?ref=v1", r.url()), "local/only", &Limits::default()).unwrap();
    let only = w.task.local().join("only");
    assert_eq!(read(&only.join("inner.txt")), "inner\n");
    let names: Vec<_> = std::fs::read_dir(only).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["inner.txt"], "only the directory, without .git");
    let e = get(&w, &format!("git::{}//nowhere", r.url()), "local/none", &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("\"nowhere\" after `//` is not one of the repository's"), "{e}");
}

/// A repository may hold a link to a file of this host: it is refused
/// whole, as an archive with a link leading out is, and nothing of it is
/// copied; so is a link that leads out through another link.
#[test]
fn a_link_out_of_the_destination_refuses_the_repository() {
    let r = Repo::new(|work| std::os::unix::fs::symlink("/etc/shadow", work.join("secret")).unwrap());
    let w = world();
    let e = get(&w, &format!("git::{}?ref=v1", r.url()), "local/repo", &Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "repository entry \"secret\" is a link to \"/etc/shadow\", outside the destination — refused, nothing copied"
    );
    let repo = w.task.local().join("repo");
    assert_eq!(std::fs::read_dir(repo).unwrap().count(), 0, "nothing is copied");

    let r = Repo::new(|work| {
        std::fs::create_dir_all(work.join("a/b")).unwrap();
        std::os::unix::fs::symlink("../..", work.join("a/b/l")).unwrap();
        std::os::unix::fs::symlink("a/b/l/../escaped", work.join("w")).unwrap();
    });
    let e = get(&w, &format!("git::{}?ref=v1", r.url()), "local/chain", &Limits::default()).unwrap_err();
    assert!(matches!(&e, ArtifactError::Repository { entry, .. } if entry == "w"), "{e:?}");
    assert!(e.to_string().contains("through other links"), "{e}");
}

#[test]
fn what_git_says_when_it_fails_is_the_reason() {
    let r = Repo::new(|_| {});
    let w = world();
    let e = get(&w, &format!("git::{}?ref=nope", r.url()), "local/a", &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("ref \"nope\" is no branch, tag or commit"), "{e}");
    let missing = format!("git::file://{}/missing.git", r.dir.path().display());
    let e = get(&w, &missing, "local/b", &Limits::default()).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, ArtifactError::Git(_)), "{e:?}");
    assert!(m.starts_with("git clone file://") && m.contains("exit code 128: "), "{m}");
    // A commit cannot be cloned shallowly by its hash: the message says why.
    let e = get(&w, &format!("git::{}?ref={}&depth=1", r.url(), r.v1), "local/c", &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("with `depth`, `ref` must name a branch or a tag"), "{e}");
}

#[test]
fn the_artifact_limits_bound_the_clone() {
    let r = Repo::new(|_| {});
    let w = world();
    let few = Limits { max_files: 3, ..Limits::default() };
    let e = get(&w, &format!("git::{}", r.url()), "local/a", &few).unwrap_err();
    assert!(matches!(&e, ArtifactError::TooLarge { what } if what.contains("repository holds more than 3")), "{e:?}");
    let quick = Limits { timeout: Duration::from_nanos(1), ..Limits::default() };
    let e = get(&w, &format!("git::{}", r.url()), "local/b", &quick).unwrap_err();
    assert!(e.to_string().contains("not complete after"), "{e}");
    // The clone on disk is watched while git runs: its bytes, its files.
    let local = w.task.local();
    std::fs::write(local.join("big"), vec![0u8; 4096]).unwrap();
    assert_eq!(on_disk(&local, 100, 1000), Err(CloneLimit::Bytes(100)));
    assert!(on_disk(&local, 100, 1000).unwrap_err().to_string().contains("more than 100 bytes"));
    assert!(on_disk(&local, u64::MAX, 0).unwrap_err().to_string().contains("more than 0 files"));
    assert_eq!(on_disk(&local, u64::MAX, 1000), Ok(()));
}

#[test]
fn a_cancelled_clone_ends_at_once() {
    let r = Repo::new(|_| {});
    let w = world();
    let a = Artifact {
        pos: Default::default(),
        source: format!("git::{}", r.url()),
        destination: "local/x".into(),
        mode: ArtifactMode::Any,
        checksum: None,
        unpack: true,
        git_options: BTreeMap::new(),
        headers: BTreeMap::new(),
    };
    let f = prepare(&a, &w.task, &no_vars, None).unwrap();
    assert_eq!(fetch_artifact(&f, &Limits::default(), &AtomicBool::new(true)), Err(ArtifactError::Cancelled));
}

#[test]
fn the_scratch_directory_and_the_key_are_private_and_go() {
    let s = Scratch::new().unwrap();
    let dir = s.path.clone();
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o700);
    let key = s.write_key(&SshKey(b"-----BEGIN KEY-----".to_vec())).unwrap();
    assert_eq!(mode(&key), 0o600);
    assert_eq!(read(&key), "-----BEGIN KEY-----\n");
    let env = environment("/usr/bin:/bin", Some(key.as_path()));
    let ssh = env.iter().find(|(k, _)| k == "GIT_SSH_COMMAND").map(|(_, v)| v.clone());
    assert_eq!(ssh, Some(format!("ssh -i '{}'", key.display())));
    assert!(env.contains(&("GIT_TERMINAL_PROMPT".to_string(), "0".to_string())));
    assert!(!env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK" || k == "GIT_ASKPASS"));
    drop(s);
    assert!(!dir.exists(), "the scratch directory is removed");
}

#[test]
fn helpers() {
    assert_eq!(shell_quote("/tmp/a b/it's"), r"'/tmp/a b/it'\''s'");
    assert!(looks_like_commit("0123abc") && looks_like_commit(&"f".repeat(40)));
    assert!(!looks_like_commit("main") && !looks_like_commit("abc") && !looks_like_commit(&"f".repeat(41)));
    assert_eq!(last_lines(b"Cloning...\n\nfatal: no\n"), ": Cloning...; fatal: no");
    assert_eq!(last_lines(b""), "");
    let long = last_lines("é".repeat(2000).as_bytes());
    assert!(long.starts_with(": …") && long.len() <= SHOWN + 8, "{}", long.len());
    assert_eq!(find_program("sh", "relative:/bin:/usr/bin").map(|p| p.is_absolute()), Some(true));
    assert_eq!(find_program("git", "/nonexistent"), None);
    let e = not_installed("https://h/r.git", "/nonexistent").to_string();
    assert!(e.contains("git is not installed") && e.contains("apt-get install git"), "{e}");
    assert_eq!(ended_as(Exit::Code(128)), "exit code 128");
    assert_eq!(ended_as(Exit::Signal { signal: 9, core_dumped: false }), "killed by SIGKILL");
}
