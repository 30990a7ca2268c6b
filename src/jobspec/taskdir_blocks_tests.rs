//! Tests of the template and artifact blocks: destinations, sources, checksums, decoding.

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
    assert_eq!(Checksum::parse("sha256:abcd").unwrap_err(), "a sha256 checksum has 64 hex digits, \"abcd\" has 4");
    assert!(Checksum::parse("crc32:00").unwrap_err().starts_with("unknown checksum type"));
    assert!(Checksum::parse("abcd").is_err());
    assert!(Checksum::parse("md5:zz41d8cd98f00b204e9800998ecf8427").unwrap_err().contains("not hexadecimal"));
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
        ("git::https://github.com/o/r", "git repository"),
        ("github.com/hashicorp/nomad", "git repository"),
        ("git@github.com:o/r.git", "git repository"),
        ("hg::http://h/r", "Mercurial"),
        ("s3::https://s3.amazonaws.com/b/k", "S3"),
        ("bucket.s3.amazonaws.com/k", "S3"),
        ("gcs::https://www.googleapis.com/storage/v1/b/k", "Google Cloud Storage"),
        ("file://relative/x", "absolute path"),
        ("example.com/x.tgz", "not a URL"),
    ] {
        let e = parse_source(src).unwrap_err();
        assert!(e.contains(word), "{src}: {e}");
    }
    assert_eq!(archive_format("a.tar.gz"), Ok(Some("tar.gz")));
    assert_eq!(archive_format("a.bin"), Ok(None));
    assert!(archive_format("a.tar.bz2").unwrap_err().contains(".tar.bz2"));
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
