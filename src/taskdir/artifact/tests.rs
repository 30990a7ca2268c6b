//! Fetches from a real HTTP server on 127.0.0.1, started by each test on a
//! thread of its own, and from files of this host.

use super::*;
use crate::jobspec::taskdir_blocks::Artifact;
use crate::taskdir::layout::AllocDir;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

enum Reply {
    Bytes(Vec<u8>),
    Status(u16, &'static str),
    /// Announces `len` bytes, then sends one every `every`.
    Slow {
        len: usize,
        every: Duration,
    },
}

/// A tiny HTTP/1.1 server: one thread accepting, one per connection, each
/// connection one request. It records the request heads it saw.
struct Server {
    addr: SocketAddr,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

fn serve(routes: Vec<(&str, Reply)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let routes: Arc<Vec<(String, Reply)>> = Arc::new(routes.into_iter().map(|(p, r)| (p.to_string(), r)).collect());
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(64) {
            let Ok(conn) = conn else { return };
            let (routes, seen) = (routes.clone(), seen.clone());
            std::thread::spawn(move || answer(conn, &routes, &seen));
        }
    });
    Server { addr, heads }
}

fn answer(mut conn: TcpStream, routes: &[(String, Reply)], seen: &std::sync::Mutex<Vec<String>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    seen.lock().unwrap().push(head.clone());
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = path.split('?').next().unwrap_or("").to_string();
    let reply = routes.iter().find(|(p, _)| *p == path).map(|(_, r)| r);
    let _ = match reply {
        Some(Reply::Bytes(b)) => conn
            .write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()).as_bytes(),
            )
            .and_then(|()| conn.write_all(b)),
        Some(Reply::Status(code, reason)) => conn.write_all(
            format!("HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
        ),
        Some(Reply::Slow { len, every }) => {
            let mut r = conn
                .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n").as_bytes());
            for _ in 0..(*len).min(200) {
                if r.is_err() {
                    break;
                }
                std::thread::sleep(*every);
                r = conn.write_all(b"x");
            }
            r
        }
        None => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

fn sha256(b: &[u8]) -> String {
    super::super::funcs::hex(&<sha2::Sha256 as sha2::Digest>::digest(b))
}

/// A tar of `hello/bin/run.sh` (executable), `hello/README` and a link
/// `hello/bin/latest -> run.sh`.
fn good_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("hello/bin/run.sh", 0o755, b"#!/bin/sh\necho unpacked-ok\n");
    add("hello/README", 0o644, b"read me\n");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "hello/bin/latest", "run.sh").unwrap();
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar whose entries are written as given, unchecked: the tar crate's
/// builder refuses such names itself.
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = ::zip::write::SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    for (name, data) in files {
        w.start_file(*name, opts.unix_permissions(0o755)).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
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

fn artifact(source: String) -> Artifact {
    Artifact {
        pos: Default::default(),
        source,
        destination: "local/".into(),
        mode: ArtifactMode::Any,
        checksum: None,
        unpack: true,
        git_options: BTreeMap::new(),
        headers: BTreeMap::new(),
    }
}

fn no_vars(_: &str) -> Option<String> {
    None
}

fn run(w: &World, a: &Artifact, limits: &Limits) -> Result<Fetched, ArtifactError> {
    let f = prepare(a, &w.task, &no_vars, None)?;
    fetch(&f, limits, &AtomicBool::new(false))
}

/// Every file below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn tar_gz_with_its_checksum_is_unpacked_and_runs() {
    let tgz = gzip(&good_tar());
    let sum = sha256(&tgz);
    let s = serve(vec![("/app.tar.gz", Reply::Bytes(tgz.clone()))]);
    let w = world();
    let mut a = artifact(format!("http://{}/app.tar.gz?checksum=sha256:{sum}", s.addr));
    a.headers.insert("X-Token".into(), "${NOMAD_META_token}".into());
    let vars = |n: &str| (n == "NOMAD_META_token").then(|| "s3cret".to_string());
    let f = prepare(&a, &w.task, &vars, None).unwrap();
    let got = fetch(&f, &Limits::default(), &AtomicBool::new(false)).unwrap();
    assert_eq!(got.downloaded, tgz.len() as u64);
    assert_eq!(got.files, 3);
    assert_eq!(got.path, w.task.local());
    assert_eq!(tree(&w.task.local()), ["hello", "hello/README", "hello/bin", "hello/bin/latest", "hello/bin/run.sh"]);
    let run = w.task.local().join("hello/bin/latest");
    let out = std::process::Command::new(&run).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unpacked-ok\n");
    let head = s.heads.lock().unwrap()[0].to_lowercase();
    assert!(head.contains("x-token: s3cret"), "{head}");
    assert!(head.starts_with("get /app.tar.gz http/1.1"), "the checksum is not sent: {head}");
    // Fetched again (a restart): the same files, overwritten in place.
    fetch(&f, &Limits::default(), &AtomicBool::new(false)).unwrap();
    assert_eq!(tree(&w.task.local()).len(), 5);
}

#[test]
fn wrong_checksum_is_refused_and_nothing_is_unpacked() {
    let tgz = gzip(&good_tar());
    let s = serve(vec![("/app.tgz", Reply::Bytes(tgz.clone()))]);
    let w = world();
    let mut a = artifact(format!("http://{}/app.tgz", s.addr));
    let wrong = "0".repeat(64);
    a.checksum = Some(crate::jobspec::taskdir_blocks::Checksum::parse(&format!("sha256:{wrong}")).unwrap());
    let e = run(&w, &a, &Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "checksum mismatch for http://{}/app.tgz: expected sha256:{wrong}, got sha256:{}",
            s.addr,
            sha256(&tgz)
        )
    );
    assert!(tree(&w.task.local()).is_empty(), "{:?}", tree(&w.task.local()));
}

#[test]
fn a_missing_file_is_the_servers_answer() {
    let s = serve(vec![("/gone", Reply::Status(410, "Gone"))]);
    let w = world();
    let e = run(&w, &artifact(format!("http://{}/missing.tar.gz", s.addr)), &Limits::default()).unwrap_err();
    assert_eq!(
        e,
        ArtifactError::Http {
            url: format!("http://{}/missing.tar.gz", s.addr),
            status: 404,
            reason: "Not Found".into()
        }
    );
    assert_eq!(e.to_string(), format!("GET http://{}/missing.tar.gz: 404 Not Found", s.addr));
    let e = run(&w, &artifact(format!("http://{}/gone", s.addr)), &Limits::default()).unwrap_err();
    assert!(e.to_string().ends_with("410 Gone"), "{e}");
    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = run(&w, &artifact(format!("http://{closed}/x")), &Limits::default()).unwrap_err();
    assert!(matches!(e, ArtifactError::Transport { .. }), "{e:?}");
    assert!(tree(&w.task.local()).is_empty());
}

#[test]
fn a_slow_server_times_out() {
    let s = serve(vec![("/slow.bin", Reply::Slow { len: 100, every: Duration::from_millis(100) })]);
    let w = world();
    let limits = Limits { timeout: Duration::from_millis(800), ..Limits::default() };
    let start = std::time::Instant::now();
    let e = run(&w, &artifact(format!("http://{}/slow.bin", s.addr)), &limits).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, ArtifactError::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("too slow"), "{e}");
    assert!(took >= Duration::from_millis(700) && took < Duration::from_secs(8), "{took:?}");
    assert!(tree(&w.task.local()).is_empty(), "the partial download is removed");
}

#[test]
fn entries_that_leave_the_destination_are_refused_before_anything_is_written() {
    let w = world();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "dotdot.tar",
            raw_tar(&[
                ("ok.txt", tar::EntryType::Regular, "", b"fine"),
                ("../escaped.txt", tar::EntryType::Regular, "", b"x"),
            ]),
            "archive entry \"../escaped.txt\" climbs out with `..` — refused, nothing unpacked",
        ),
        (
            "absolute.tar",
            raw_tar(&[("/tmp/abs.txt", tar::EntryType::Regular, "", b"x")]),
            "archive entry \"/tmp/abs.txt\" is an absolute path — refused, nothing unpacked",
        ),
        (
            "link.tar",
            raw_tar(&[
                ("bin/etc", tar::EntryType::Symlink, "../../../../etc", b""),
                ("bin/etc/passwd", tar::EntryType::Regular, "", b"x"),
            ]),
            "archive entry \"bin/etc\" is a link to \"../../../../etc\", outside the destination — refused, nothing unpacked",
        ),
        (
            "hard.tar",
            raw_tar(&[("h", tar::EntryType::Link, "/etc/passwd", b"")]),
            "archive entry \"h\" is a hard link, which supd does not unpack — pack the file itself — refused, nothing unpacked",
        ),
    ];
    let paths: Vec<String> = cases.iter().map(|(n, _, _)| format!("/{n}")).collect();
    let s = serve(cases.iter().zip(&paths).map(|((_, b, _), p)| (p.as_str(), Reply::Bytes(b.clone()))).collect());
    for (name, _, want) in &cases {
        let e = run(&w, &artifact(format!("http://{}/{name}", s.addr)), &Limits::default()).unwrap_err();
        assert_eq!(e.to_string(), *want);
        assert!(tree(&w.task.local()).is_empty(), "{name}: {:?}", tree(&w.task.local()));
    }
    assert!(!w.task.dir.join("escaped.txt").exists() && !w.alloc.root().join("escaped.txt").exists());
    assert!(!Path::new("/tmp/abs.txt").exists());
}

/// A zip entry marked as a link is read as its target: 8 MB of it is
/// refused after one path's worth, not read whole into memory.
#[test]
fn a_zip_link_with_a_huge_target_is_refused() {
    let mut z = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = ::zip::write::SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    z.add_symlink("link", "a".repeat(8 << 20), opts).unwrap();
    let packed = z.finish().unwrap().into_inner();
    let s = serve(vec![("/link.zip", Reply::Bytes(packed))]);
    let w = world();
    let e = run(&w, &artifact(format!("http://{}/link.zip", s.addr)), &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("is a link whose target is over 4096 bytes"), "{e}");
    assert!(tree(&w.task.local()).is_empty());
}

#[test]
fn a_zip_bomb_is_refused() {
    let zeros = vec![0u8; 24 << 20];
    let bomb = zip(&[("a.bin", &zeros[..])]);
    assert!(bomb.len() < 200 << 10, "a bomb: small packed, {} bytes", bomb.len());
    let tgz_bomb = gzip(&raw_tar(&[("a.bin", tar::EntryType::Regular, "", &zeros[..])]));
    let s = serve(vec![("/bomb.zip", Reply::Bytes(bomb)), ("/bomb.tgz", Reply::Bytes(tgz_bomb))]);
    let w = world();
    let limits = Limits { max_unpacked: 8 << 20, ..Limits::default() };
    for name in ["bomb.zip", "bomb.tgz"] {
        let e = run(&w, &artifact(format!("http://{}/{name}", s.addr)), &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the archive unpacks to more than 8388608 bytes — refused (raise the artifact size limit if it is meant)"
        );
        assert!(tree(&w.task.local()).is_empty());
    }
    let many: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}"), vec![b'x'])).collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.zip");
    std::fs::write(&path, zip(&many)).unwrap();
    let limits = Limits { max_files: 10, ..Limits::default() };
    let e = run(&w, &artifact(format!("file://{}", path.display())), &limits).unwrap_err();
    assert!(e.to_string().starts_with("the archive holds more than 10 entries"), "{e}");
    // And the download itself is limited.
    let limits = Limits { max_download: 1000, ..Limits::default() };
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![1u8; 5000]).unwrap();
    let e = run(&w, &artifact(big.display().to_string()), &limits).unwrap_err();
    assert!(matches!(e, ArtifactError::TooLarge { .. }), "{e:?}");
}

#[test]
fn other_formats_modes_and_file_sources() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    // tar.xz
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&good_tar()).unwrap();
    let txz = dir.path().join("app.tar.xz");
    std::fs::write(&txz, xz.finish().unwrap()).unwrap();
    let got = run(&w, &artifact(format!("file://{}", txz.display())), &Limits::default()).unwrap();
    assert_eq!(got.files, 3);
    assert!(w.task.local().join("hello/bin/run.sh").is_file());
    // zip, keeping the mode bits it stores
    let z = dir.path().join("tool.zip");
    std::fs::write(&z, zip(&[("tool/run", b"#!/bin/sh\necho zip\n")])).unwrap();
    let mut a = artifact(z.display().to_string());
    a.destination = "local/z".into();
    run(&w, &a, &Limits::default()).unwrap();
    let mode = std::fs::metadata(w.task.local().join("z/tool/run")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    // An archive's group- or world-writable file is written as under the
    // task's umask (022).
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o6777);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "open/file", &b"hi\n"[..]).unwrap();
    let open = dir.path().join("open.tar");
    std::fs::write(&open, b.into_inner().unwrap()).unwrap();
    let mut a = artifact(open.display().to_string());
    a.destination = "local/o".into();
    run(&w, &a, &Limits::default()).unwrap();
    let mode = std::fs::metadata(w.task.local().join("o/open/file")).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o755, "{mode:o}");
    // ?archive=false keeps the archive; mode file names the file.
    let mut a = artifact(format!("file://{}?archive=false", z.display()));
    a.mode = ArtifactMode::File;
    a.destination = "${NOMAD_ALLOC_DIR}/kept.zip".into();
    let got = run(&w, &a, &Limits::default()).unwrap();
    assert_eq!(got.path, w.alloc.shared().join("kept.zip"));
    assert_eq!(std::fs::read(&got.path).unwrap(), std::fs::read(&z).unwrap());
    // A plain file in mode any goes in the directory under its own name, with md5 checked.
    let plain = dir.path().join("config.json");
    std::fs::write(&plain, b"{}").unwrap();
    let mut a = artifact(plain.display().to_string());
    a.checksum = Some(crate::jobspec::taskdir_blocks::Checksum::parse("md5:99914b932bd37a50b983c5e7c90ae93b").unwrap());
    let got = run(&w, &a, &Limits::default()).unwrap();
    assert_eq!(got.path, w.task.local().join("config.json"));
    // Modes that do not fit.
    let mut a = artifact(plain.display().to_string());
    a.mode = ArtifactMode::Dir;
    assert!(matches!(run(&w, &a, &Limits::default()), Err(ArtifactError::Mode(_))));
    let mut a = artifact(txz.display().to_string());
    a.mode = ArtifactMode::File;
    a.destination = "local/f".into();
    assert!(matches!(run(&w, &a, &Limits::default()), Err(ArtifactError::Mode(_))));
}

#[test]
fn sources_and_destinations_are_checked_once_resolved() {
    let w = world();
    // A destination that leaves the task directory once resolved.
    let mut a = artifact("/tmp/config.json".into());
    a.destination = "${NOMAD_META_d}/x".into();
    let vars = |n: &str| (n == "NOMAD_META_d").then(|| "../../..".to_string());
    assert!(matches!(prepare(&a, &w.task, &vars, None), Err(ArtifactError::Source(_))));
    // A source that is a Mercurial repository once resolved.
    let a = artifact("${NOMAD_META_src}".into());
    let vars = |n: &str| (n == "NOMAD_META_src").then(|| "hg::https://example.com/r".to_string());
    let e = prepare(&a, &w.task, &vars, None).unwrap_err();
    assert!(e.to_string().contains("Mercurial repository"), "{e}");
    // A git repository once resolved, its options' `${...}` too.
    let mut a = artifact("${NOMAD_META_src}".into());
    a.git_options.insert("ref".into(), "${NOMAD_META_ref}".into());
    let vars = |n: &str| match n {
        "NOMAD_META_src" => Some("git::https://example.com/r.git".to_string()),
        "NOMAD_META_ref" => Some("v2".to_string()),
        _ => None,
    };
    let f = prepare(&a, &w.task, &vars, None).unwrap();
    let SourceKind::Git(g) = &f.source else { panic!("{f:?}") };
    assert_eq!((g.url.as_str(), g.git_ref.as_deref()), ("https://example.com/r.git", Some("v2")));
    assert_eq!(f.shown, "https://example.com/r.git");
    a.mode = ArtifactMode::File;
    assert!(matches!(prepare(&a, &w.task, &vars, None), Err(ArtifactError::Mode(_))));
}

#[test]
fn the_fetcher_reports_through_the_waker() {
    let tgz = gzip(&good_tar());
    let s = serve(vec![
        ("/app.tgz", Reply::Bytes(tgz)),
        ("/slow.tgz", Reply::Slow { len: 100, every: Duration::from_millis(50) }),
    ]);
    let w = world();
    let mut poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(7)).unwrap());
    let fetcher: Fetcher<&'static str> = Fetcher::new(waker);
    let ok = prepare(&artifact(format!("http://{}/app.tgz", s.addr)), &w.task, &no_vars, None).unwrap();
    let mut slow = prepare(&artifact(format!("http://{}/slow.tgz", s.addr)), &w.task, &no_vars, None).unwrap();
    slow.dest.parts = vec!["tmp".into()];
    let handle = fetcher.start("slow", vec![slow], Limits::default()).unwrap();
    fetcher.start("web", vec![ok], Limits::default()).unwrap();
    handle.cancel();
    let mut events = mio::Events::with_capacity(4);
    let mut results = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while results.len() < 2 && std::time::Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_secs(5))).unwrap();
        assert!(events.iter().all(|e| e.token() == mio::Token(7)));
        while let Some((k, r)) = fetcher.try_recv() {
            results.insert(k, r);
        }
    }
    assert_eq!(results["web"].as_ref().unwrap()[0].files, 3);
    assert_eq!(results["slow"], Err(ArtifactError::Cancelled));
    assert!(tree(&w.task.tmp()).is_empty(), "a cancelled download leaves nothing");
}

/// A file of this host is a task's to fetch only below the directories
/// supd.toml lists: none by default, as Nomad sandboxes its fetcher.
#[test]
fn file_artifacts_come_only_from_the_listed_roots() {
    let w = world();
    let prepared = |src: &str| prepare(&artifact(src.to_string()), &w.task, &no_vars, None).unwrap();
    let shadow = prepared("file:///etc/shadow");
    let e = check_file_root(&shadow, &[]).unwrap_err().to_string();
    assert!(
        e.contains("/etc/shadow") && e.contains("no file of this host may be fetched") && e.contains("file_roots"),
        "{e}"
    );
    let roots = [std::path::PathBuf::from("/srv/artifacts")];
    assert!(check_file_root(&prepared("file:///srv/artifacts/app.tar.gz"), &roots).is_ok());
    let e = check_file_root(&prepared("file:///srv/artifacts/../../etc/shadow"), &roots).unwrap_err().to_string();
    assert!(e.contains("only below /srv/artifacts"), "{e}");
    assert!(check_file_root(&shadow, &roots).is_err());
    assert!(check_file_root(&prepared("https://example.com/x.tgz"), &[]).is_ok(), "HTTP is not a file of this host");
    // A git repository of this host is held to the same roots.
    let repo = prepared("git::file:///root/private.git?ref=main");
    assert!(check_file_root(&repo, &roots).unwrap_err().to_string().contains("/root/private.git"));
    assert!(check_file_root(&prepared("git::/srv/artifacts/app.git"), &roots).is_ok());
    assert!(check_file_root(&prepared("git::https://example.com/app.git"), &[]).is_ok());
}
