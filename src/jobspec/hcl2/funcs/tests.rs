use super::*;

/// file() reads below the job file's directory and nowhere else.
#[test]
fn file_reads_only_below_the_job_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/a.txt"), "hello").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
    set_base(Some(dir.path().to_path_buf()));
    let read = |p: &str| call("file", vec![Value::String(p.into())]).unwrap().map_err(|e| e.to_string());
    assert_eq!(read("conf/a.txt"), Ok(Value::String("hello".into())));
    assert_eq!(read("./conf/a.txt"), Ok(Value::String("hello".into())));
    for bad in ["/etc/passwd", "../etc/passwd", "conf/../../x"] {
        let e = read(bad).unwrap_err();
        assert!(e.contains("outside the job file's directory"), "{bad}: {e}");
    }
    assert!(read("link").unwrap_err().contains("symbolic link"));
    set_base(None);
}
