//! Tests of the template and artifact blocks: destinations, sources, checksums, decoding.

use super::template::source_map;
use super::*;

#[test]
fn destinations_stay_in_the_task_directory_or_the_shared_alloc() {
    let ok = |d: &str| destination_place(d).unwrap();
    assert_eq!(ok("local/app.conf"), Place { under: Under::Task, parts: vec!["local".into(), "app.conf".into()] });
    assert_eq!(ok("/local/./a"), Place { under: Under::Task, parts: vec!["local".into(), "a".into()] });
    assert_eq!(ok("${NOMAD_SECRETS_DIR}/s.env").parts, ["secrets", "s.env"]);
    assert_eq!(ok("${NOMAD_TASK_DIR}/x").parts, ["local", "x"]);
    assert_eq!(ok("${NOMAD_ALLOC_DIR}/shared.txt"), Place { under: Under::Alloc, parts: vec!["shared.txt".into()] });
    assert_eq!(ok("../alloc/data/x"), Place { under: Under::Alloc, parts: vec!["data".into(), "x".into()] });
    assert_eq!(ok("local/../secrets/y").parts, ["secrets", "y"]);
    for bad in ["../other-task/x", "../../etc/passwd", "local/../../x", "${NOMAD_ALLOC_DIR}/../t/x", ".."] {
        assert!(destination_place(bad).is_err(), "{bad}");
    }
}

#[test]
fn checksums_as_go_getter_writes_them() {
    let c = Checksum::parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap();
    assert_eq!(c.algo, ChecksumAlgo::Sha256);
    assert_eq!(c.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert!(Checksum::parse("md5:d41d8cd98f00b204e9800998ecf8427e").is_ok());
    assert_eq!(
        Checksum::parse("sha256:abcd").unwrap_err().to_string(),
        "a sha256 checksum has 64 hex digits, \"abcd\" has 4"
    );
    assert!(matches!(Checksum::parse("crc32:00"), Err(ChecksumError::UnknownType { .. })));
    assert!(Checksum::parse("abcd").is_err());
    assert!(matches!(Checksum::parse("md5:zz41d8cd98f00b204e9800998ecf8427"), Err(ChecksumError::NotHex { .. })));
}

#[test]
fn sources_as_go_getter_reads_them() {
    let s = parse_source("https://h.example/a/app.tar.gz?checksum=md5:d41d8cd98f00b204e9800998ecf8427e&x=1").unwrap();
    assert_eq!(s.kind, SourceKind::Http("https://h.example/a/app.tar.gz?x=1".into()));
    assert_eq!(s.checksum.unwrap().algo, ChecksumAlgo::Md5);
    let s = parse_source("file:///srv/app.zip?archive=false").unwrap();
    assert_eq!((s.kind, s.archive), (SourceKind::File("/srv/app.zip".into()), Some(ArchiveChoice::Keep)));
    assert_eq!(parse_source("/srv/bin").unwrap().kind, SourceKind::File("/srv/bin".into()));
    assert_eq!(parse_source("http://h/x?archive=tgz").unwrap().archive, Some(ArchiveChoice::Format("tgz".into())));
    for (src, word) in [
        ("hg::http://h/r", "Mercurial"),
        ("s3::https://s3.amazonaws.com/b/k", "S3"),
        ("bucket.s3.amazonaws.com/k", "S3"),
        ("gcs::https://www.googleapis.com/storage/v1/b/k", "Google Cloud Storage"),
        ("file://relative/x", "absolute path"),
        ("example.com/x.tgz", "not a URL"),
    ] {
        let e = parse_source(src).unwrap_err().to_string();
        assert!(e.contains(word), "{src}: {e}");
    }
    assert_eq!(archive_format("a.tar.gz"), Ok(Some("tar.gz")));
    assert_eq!(archive_format("a.bin"), Ok(None));
    assert!(archive_format("a.tar.bz2").unwrap_err().to_string().contains(".tar.bz2"));
}

/// The git source of a spec, or a failure that shows what it was.
fn git(src: &str) -> GitSource {
    match parse_source(src) {
        Ok(SourceSpec { kind: SourceKind::Git(g), checksum: None, archive: None }) => g,
        other => panic!("{src}: {other:?}"),
    }
}

#[test]
fn git_sources_as_go_getter_reads_them() {
    // Forced with git::, as Nomad's own e2e job (artifact_linux) writes it.
    let g = git("git::https://github.com/hashicorp/go-set");
    assert_eq!(
        g,
        GitSource {
            url: "https://github.com/hashicorp/go-set".into(),
            git_ref: None,
            depth: 0,
            ssh_key: None,
            subdir: vec![]
        }
    );
    // ref, depth and a directory after `//`; other query parameters stay in
    // the URL git is given, as go-getter leaves them.
    let g = git("git::https://example.com/r.git//sub/dir?ref=v1.2&depth=1&token=x");
    assert_eq!(g.url, "https://example.com/r.git?token=x");
    assert_eq!((g.git_ref.as_deref(), g.depth), (Some("v1.2"), 1));
    assert_eq!(g.subdir, ["sub", "dir"]);
    assert_eq!(g.shown(), "https://example.com/r.git");
    // An ssh key in base64 ("ssh-key"), never shown.
    let g = git("git::ssh://git@example.com:2222/r.git?sshkey=c3NoLWtleQ%3D%3D");
    assert_eq!(g.url, "ssh://git@example.com:2222/r.git");
    assert_eq!(g.ssh_key, Some(SshKey(b"ssh-key".to_vec())));
    assert_eq!(format!("{:?}", g.ssh_key), "Some(SshKey(7 bytes))");
    // The scp-like address git writes, detected as git without git::.
    let g = git("git@github.com:owner/repo.git?ref=main");
    assert_eq!((g.url.as_str(), g.git_ref.as_deref()), ("ssh://git@github.com/owner/repo.git", Some("main")));
    assert_eq!(git("git::example.com:repos/app//web").url, "ssh://example.com/repos/app");
    assert_eq!(git("git::example.com:repos/app//web").subdir, ["web"]);
    // go-getter's GitHub detector: https, `.git` added, the rest a directory.
    let g = git("github.com/hashicorp/go-set");
    assert_eq!((g.url.as_str(), g.subdir.len()), ("https://github.com/hashicorp/go-set.git", 0));
    let g = git("github.com/hashicorp/go-set/internal/x?ref=v0.1.0");
    assert_eq!(g.url, "https://github.com/hashicorp/go-set.git");
    assert_eq!((g.subdir, g.git_ref), (vec!["internal".to_string(), "x".to_string()], Some("v0.1.0".to_string())));
    assert_eq!(git("gitlab.com/o/r.git").url, "https://gitlab.com/o/r.git");
    // Schemes git reads as its own, and repositories of this host.
    assert_eq!(git("git://example.com/r.git").url, "git://example.com/r.git");
    assert_eq!(git("git::file:///srv/repos/app.git?ref=v1").url, "file:///srv/repos/app.git");
    assert_eq!(git("git::/srv/repos/app.git//etc").local_path(), Some("/srv/repos/app.git"));
    assert_eq!(git("git::https://h/r.git").local_path(), None);
    assert!(is_git_source("git::${NOMAD_META_repo}") && !is_git_source("https://h/r.git"));
    // A password in the URL is not shown.
    assert_eq!(git("git::https://me:secret@h.example/r.git?ref=x").shown(), "https://me:REDACTED@h.example/r.git");
    assert_eq!(git("git::ssh://git@h.example/r.git").shown(), "ssh://git@h.example/r.git");
    for (src, word) in [
        ("git::https://h/r?depth=deep", "not a whole number"),
        ("git::https://h/r?sshkey=not*base64", "base64"),
        ("git::https://h/r?checksum=md5:d41d8cd98f00b204e9800998ecf8427e", "no checksum"),
        ("git::https://h/r?archive=zip", "cannot unpack a git repository"),
        ("git::ext::sh -c touch% /tmp/x", "remote helper `ext::`"),
        ("git::ftp://h/r", "not ftp://"),
        ("git::https://h/r//../x", "climbs out"),
        ("git::https://h/r//sub*", "patterns"),
        ("git::ssh://-oProxyCommand=x/r", "cannot start with `-`"),
        ("git::file://relative/r", "absolute path"),
        ("github.com/hashicorp", "OWNER/REPO"),
        ("git::not-an-address", "not a git repository"),
    ] {
        let e = parse_source(src).unwrap_err().to_string();
        assert!(e.contains(word), "{src}: {e}");
    }
}

/// Nomad adds an artifact's `options` to its source's query: git's `ref`,
/// `depth` and `sshkey` come from there when the query does not give them.
#[test]
fn git_options_fill_what_the_query_leaves_out() {
    let options: BTreeMap<String, String> = [("ref", "v2"), ("depth", "3"), ("sshkey", "c3NoLWtleQ=="), ("other", "x")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let spec = parse_source_with("git::https://h/r.git?ref=v1", &options).unwrap();
    let SourceKind::Git(g) = spec.kind else { panic!("not a git source") };
    assert_eq!((g.git_ref.as_deref(), g.depth), (Some("v1"), 3), "the query's ref wins");
    assert_eq!(g.ssh_key, Some(SshKey(b"ssh-key".to_vec())));
    assert_eq!(g.url, "https://h/r.git", "an option is not added to the URL");
    let bad: BTreeMap<String, String> = [("depth".to_string(), "-1".to_string())].into_iter().collect();
    assert!(matches!(parse_source_with("git::https://h/r.git", &bad), Err(SourceError::Git(GitError::Depth { .. }))));
}

#[test]
fn git_artifacts_decode_with_their_options() {
    let src = r#"
artifact {
  source      = "git::https://github.com/hashicorp/go-set"
  destination = "local/repository"
  options {
    ref    = "v0.1.0"
    depth  = 1
    sshkey = "c3NoLWtleQ=="
  }
}
artifact {
  source = "git::https://github.com/hashicorp/go-set"
  mode   = "file"
  destination = "local/f"
}
artifact {
  source = "git::https://github.com/hashicorp/go-set"
  options {
    depth    = "many"
    checksum = "md5:d41d8cd98f00b204e9800998ecf8427e"
  }
}
"#;
    let body = hcl_edit::parser::parse_body(src).unwrap();
    let mut r = Reader::new("t.hcl", src);
    let (_, artifacts) = decode(&mut r, &body);
    let messages: Vec<&str> = r.sink.items.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(artifacts.len(), 1, "{messages:#?}");
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages.contains(&GIT_FILE_MODE), "{messages:#?}");
    assert!(messages.contains(&GIT_CHECKSUM), "{messages:#?}");
    assert!(messages.iter().any(|m| m.starts_with("options.depth: depth \"many\"")), "{messages:#?}");
    let a = &artifacts[0];
    assert_eq!(a.destination, "local/repository");
    let want: BTreeMap<String, String> = [("depth", "1"), ("ref", "v0.1.0"), ("sshkey", "c3NoLWtleQ==")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(a.git_options, want);
}

#[test]
fn text_maps_onto_the_source() {
    let src = "x = \"a\\n$${b}\"\ny = <<-EOT\n    one\n      {{ two }}\n    EOT\n";
    let body = hcl_edit::parser::parse_body(src).unwrap();
    let x = &body.get_attribute("x").unwrap().value;
    let (text, offsets) = source_map(src, x).unwrap();
    assert_eq!(text, "a\n${b}");
    assert_eq!(offsets, [5, 6, 8, 10, 11, 12]);
    let y = &body.get_attribute("y").unwrap().value;
    let (text, offsets) = source_map(src, y).unwrap();
    assert_eq!(text, "one\n  {{ two }}\n");
    assert_eq!(&src[offsets[0]..offsets[0] + 3], "one");
    assert_eq!(&src[offsets[6]..offsets[6] + 2], "{{");
}
