use super::*;

fn ok(name: &str, args: Vec<Value>) -> Value {
    call(name, args)
        .unwrap_or_else(|| panic!("{name}: unknown or wrong arity"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}
fn fails(name: &str, args: Vec<Value>) -> String {
    match call(name, args).unwrap_or_else(|| panic!("{name}: unknown or wrong arity")) {
        Ok(v) => panic!("{name}: expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}
fn st(x: &str) -> Value {
    Value::String(x.into())
}
fn strs(xs: &[&str]) -> Value {
    Value::Array(xs.iter().map(|x| st(x)).collect())
}
fn obj(kv: &[(&str, Value)]) -> Value {
    Value::Object(kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

#[test]
fn encodings() {
    assert_eq!(ok("base64encode", vec![st("Hello World")]), st("SGVsbG8gV29ybGQ="));
    assert_eq!(ok("base64decode", vec![st("SGVsbG8gV29ybGQ=")]), st("Hello World"));
    assert_eq!(ok("base64decode", vec![st("SGVsbG8g\nV29ybGQ=")]), st("Hello World"));
    assert!(fails("base64decode", vec![st("not base64!")]).contains("base64"));
    assert!(fails("base64decode", vec![st("/w==")]).contains("UTF-8"));
    assert_eq!(ok("urlencode", vec![st("Hello World!")]), st("Hello+World%21"));
    assert_eq!(ok("urlencode", vec![st("☃")]), st("%E2%98%83"));
    assert_eq!(
        ok("urlencode", vec![st("foo:bar@localhost?foo=bar&bar=baz")]),
        st("foo%3Abar%40localhost%3Ffoo%3Dbar%26bar%3Dbaz")
    );
    assert_eq!(ok("urlencode", vec![st("a-b_c.d~e*f")]), st("a-b_c.d~e%2Af"));
    assert_eq!(
        ok("csvdecode", vec![st("a,b,c\n1,2,3\n4,5,6\n")]),
        Value::Array(vec![
            obj(&[("a", st("1")), ("b", st("2")), ("c", st("3"))]),
            obj(&[("a", st("4")), ("b", st("5")), ("c", st("6"))]),
        ])
    );
    assert_eq!(ok("csvdecode", vec![st("a,b\n")]), Value::Array(vec![]));
    assert!(fails("csvdecode", vec![st("")]).contains("missing header line"));
    assert!(fails("csvdecode", vec![st("a,a\n1,2\n")]).contains("duplicate column name"));
    assert!(call("csvdecode", vec![st("a,b\n1,2,3\n")]).unwrap().is_err());
}

#[test]
fn yaml() {
    assert_eq!(ok("yamldecode", vec![st("hello: world")]), obj(&[("hello", st("world"))]));
    assert_eq!(ok("yamldecode", vec![st("true")]), Value::Bool(true));
    assert_eq!(ok("yamldecode", vec![st("- a\n- 1\n- 2.5\n- null\n")]), {
        Value::Array(vec![st("a"), Value::from(1), Value::from(2.5), Value::Null])
    });
    assert_eq!(
        ok("yamldecode", vec![st("a: &x [1, 2]\nb: *x\n")]),
        obj(&[
            ("a", Value::Array(vec![Value::from(1), Value::from(2)])),
            ("b", Value::Array(vec![Value::from(1), Value::from(2)]))
        ])
    );
    assert!(fails("yamldecode", vec![st("a: [")]).contains("not YAML"));
    // Aliases that repeat a large anchor: refused once too large, not made.
    let mut bomb = format!("a: &a [{}]\nb: [", vec!["x"; 1000].join(", "));
    bomb.push_str(&vec!["*a"; 2000].join(", "));
    bomb.push_str("]\n");
    let e = fails("yamldecode", vec![st(&bomb)]);
    assert!(e.contains("aliases"), "{e}");
    assert_eq!(ok("yamlencode", vec![obj(&[("hello", st("world"))])]), st("hello: world\n"));
    let v = obj(&[("a", st("b")), ("c", Value::Array(vec![Value::from(1), Value::Bool(true), Value::Null]))]);
    let text = ok("yamlencode", vec![v.clone()]);
    assert_eq!(ok("yamldecode", vec![text]), v);
}

#[test]
fn hashes_and_identifiers() {
    assert_eq!(ok("md5", vec![st("hello world")]), st("5eb63bbbe01eeed093cb22bb8f5acdc3"));
    assert_eq!(ok("sha1", vec![st("hello world")]), st("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"));
    assert_eq!(
        ok("sha256", vec![st("hello world")]),
        st("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
    );
    assert_eq!(
        ok("sha512", vec![st("hello world")]),
        st(
            "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f"
        )
    );
    let Value::String(h) = ok("bcrypt", vec![st("hello world"), Value::from(4)]) else { panic!() };
    assert!(h.starts_with("$2a$04$") && h.len() == 60, "{h}");
    assert!(::bcrypt::verify("hello world", &h).unwrap());
    assert!(fails("bcrypt", vec![st("x"), Value::from(31)]).contains("at most"));
    // A file calls it a bounded number of times: each call is slow on
    // purpose, and files are read on supd's loop.
    set_base(None);
    for _ in 0..MAX_BCRYPT_CALLS {
        ok("bcrypt", vec![st("x"), Value::from(4)]);
    }
    assert!(fails("bcrypt", vec![st("x"), Value::from(4)]).contains("more than 16 hashes at cost 10"));
    // A costlier hash counts more (refused before it is made): one at
    // cost 12 counts 4, at 11 counts 2, a cheaper one 1.
    for (done, cost) in [(13, 12), (15, 11)] {
        BCRYPTS.with(|c| c.set(done));
        assert!(fails("bcrypt", vec![st("x"), Value::from(cost)]).contains("more than 16 hashes"), "{cost}");
    }
    BCRYPTS.with(|c| c.set(15));
    ok("bcrypt", vec![st("x"), Value::from(4)]);
    set_base(None);
    ok("bcrypt", vec![st("x"), Value::from(4)]);
    let Value::String(u) = ok("uuidv4", vec![]) else { panic!() };
    assert_eq!((u.len(), &u[14..15]), (36, "4"), "{u}");
    assert_ne!(ok("uuidv4", vec![]), ok("uuidv4", vec![]));
    assert_eq!(ok("uuidv5", vec![st("dns"), st("www.terraform.io")]), st("a5008fae-b28c-5ba5-96cd-82b4c53552d6"));
    assert_eq!(
        ok("uuidv5", vec![st("url"), st("https://www.terraform.io/")]),
        st("9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5")
    );
    assert_eq!(
        ok("uuidv5", vec![st("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), st("www.terraform.io")]),
        st("a5008fae-b28c-5ba5-96cd-82b4c53552d6")
    );
    assert!(fails("uuidv5", vec![st("nope"), st("x")]).contains("namespace"));
}

#[test]
fn numbers() {
    assert_eq!(ok("log", vec![Value::from(16), Value::from(2)]), Value::from(4));
    assert_eq!(ok("log", vec![Value::from(1), Value::from(10)]), Value::from(0));
    let Value::Number(x) = ok("log", vec![Value::from(50), Value::from(10)]) else { panic!() };
    assert!((x.as_f64().unwrap() - 1.6989700043360185).abs() < 1e-12);
    assert!(fails("log", vec![Value::from(-1), Value::from(10)]).contains("finite"));
    assert_eq!(ok("pow", vec![Value::from(3), Value::from(2)]), Value::from(9));
    assert_eq!(ok("pow", vec![Value::from(4), Value::from(0)]), Value::from(1));
    assert_eq!(ok("signum", vec![Value::from(-13)]), Value::from(-1));
    assert_eq!(ok("signum", vec![Value::from(0)]), Value::from(0));
    assert_eq!(ok("signum", vec![Value::from(344)]), Value::from(1));
    assert_eq!(ok("parseint", vec![st("100"), Value::from(10)]), Value::from(100));
    assert_eq!(ok("parseint", vec![st("FF"), Value::from(16)]), Value::from(255));
    assert_eq!(ok("parseint", vec![st("-10"), Value::from(16)]), Value::from(-16));
    assert_eq!(ok("parseint", vec![st("-12"), Value::from(10)]), Value::from(-12));
    assert_eq!(ok("parseint", vec![st("1011111011101111"), Value::from(2)]), Value::from(48879));
    assert_eq!(ok("parseint", vec![st("aA"), Value::from(62)]), Value::from(10 * 62 + 36));
    assert_eq!(ok("parseint", vec![st("zz"), Value::from(36)]), Value::from(35 * 36 + 35));
    assert!(fails("parseint", vec![st("12"), Value::from(2)]).contains("cannot parse"));
    assert!(fails("parseint", vec![st("FF"), Value::from(10)]).contains("cannot parse"));
    assert!(fails("parseint", vec![st("1"), Value::from(63)]).contains("from 2 to 62"));
    assert!(fails("parseint", vec![Value::from(1), Value::from(10)]).contains("string"));
}

#[test]
fn strings() {
    assert_eq!(ok("strlen", vec![st("hello")]), Value::from(5));
    assert_eq!(ok("strlen", vec![st("☃☃")]), Value::from(2));
    assert_eq!(ok("indent", vec![Value::from(2), st("a\nb")]), st("a\n  b"));
    assert_eq!(ok("indent", vec![Value::from(4), st("one")]), st("one"));
    assert!(fails("indent", vec![Value::from(1 << 30), st("a\nb\nc")]).contains("MiB"));
    assert_eq!(
        ok("formatlist", vec![st("Hello, %s!"), strs(&["Valentina", "Ander", "Olivia", "Sam"])]),
        strs(&["Hello, Valentina!", "Hello, Ander!", "Hello, Olivia!", "Hello, Sam!"])
    );
    assert_eq!(
        ok("formatlist", vec![st("%s, %s!"), st("Salutations"), strs(&["Valentina", "Ander"])]),
        strs(&["Salutations, Valentina!", "Salutations, Ander!"])
    );
    assert_eq!(ok("formatlist", vec![st("%s"), strs(&[])]), strs(&[]));
    assert_eq!(ok("formatlist", vec![st("x=%d"), Value::from(1)]), strs(&["x=1"]));
    assert!(fails("formatlist", vec![st("%s%s"), strs(&["a"]), strs(&["b", "c"])]).contains("inconsistent"));
    assert_eq!(ok("regex_replace", vec![st("hello world"), st("o"), st("0")]), st("hell0 w0rld"));
    assert_eq!(ok("regex_replace", vec![st("2018-01-02"), st(r"(\d+)-(\d+)-(\d+)"), st("$3.$2.$1")]), st("02.01.2018"));
    assert_eq!(ok("regex_replace", vec![st("a b"), st(r"(?P<w>\w)"), st("<${w}>")]), st("<a> <b>"));
    assert!(fails("regex_replace", vec![st("x"), st("("), st("")]).contains("regular expression"));
    let big = "x".repeat(1 << 20);
    assert!(fails("regex_replace", vec![st(&big), st("x"), st(&"y".repeat(1000))]).contains("MiB"));
}

#[test]
fn collections() {
    assert_eq!(
        ok("chunklist", vec![strs(&["a", "b", "c", "d", "e"]), Value::from(2)]),
        Value::Array(vec![strs(&["a", "b"]), strs(&["c", "d"]), strs(&["e"])])
    );
    assert_eq!(ok("chunklist", vec![strs(&["a", "b"]), Value::from(0)]), Value::Array(vec![strs(&["a", "b"])]));
    assert_eq!(ok("chunklist", vec![strs(&[]), Value::from(3)]), strs(&[]));
    assert!(fails("chunklist", vec![strs(&["a"]), Value::from(-1)]).contains("negative"));
    assert_eq!(ok("coalescelist", vec![strs(&["a", "b"]), strs(&["c", "d"])]), strs(&["a", "b"]));
    assert_eq!(ok("coalescelist", vec![strs(&[]), Value::Null, strs(&["c", "d"])]), strs(&["c", "d"]));
    assert!(call("coalescelist", vec![strs(&[])]).unwrap().is_err());
    assert_eq!(ok("slice", vec![strs(&["a", "b", "c", "d"]), Value::from(1), Value::from(3)]), strs(&["b", "c"]));
    assert_eq!(ok("slice", vec![strs(&["a"]), Value::from(1), Value::from(1)]), strs(&[]));
    assert!(fails("slice", vec![strs(&["a"]), Value::from(0), Value::from(2)]).contains("length"));
    assert!(fails("slice", vec![strs(&["a", "b"]), Value::from(2), Value::from(1)]).contains("greater"));
    assert_eq!(ok("setunion", vec![strs(&["a", "b"]), strs(&["b", "c"]), strs(&["d"])]), strs(&["a", "b", "c", "d"]));
    assert_eq!(
        ok("setintersection", vec![strs(&["a", "b", "c"]), strs(&["b", "c", "d"]), strs(&["b", "z"])]),
        strs(&["b"])
    );
    assert_eq!(ok("setintersection", vec![strs(&["a", "a"])]), strs(&["a"]));
    assert_eq!(
        ok("setproduct", vec![strs(&["a", "b"]), strs(&["x", "y"])]),
        Value::Array(vec![strs(&["a", "x"]), strs(&["a", "y"]), strs(&["b", "x"]), strs(&["b", "y"])])
    );
    assert_eq!(
        ok("setproduct", vec![strs(&["development", "staging"]), strs(&["app1"])]),
        Value::Array(vec![strs(&["development", "app1"]), strs(&["staging", "app1"])])
    );
    assert_eq!(ok("setproduct", vec![strs(&["a"]), strs(&[])]), strs(&[]));
    let hundred = Value::Array((0..100).map(Value::from).collect());
    let e = fails("setproduct", vec![hundred.clone(), hundred.clone(), hundred]);
    assert!(e.contains("1000000 elements"), "{e}");
    assert!(call("setproduct", vec![strs(&["a"])]).is_none(), "two lists at least");
}

#[test]
fn conversion() {
    assert_eq!(ok("convert", vec![Value::from(5), st("string")]), st("5"));
    assert_eq!(ok("convert", vec![st("5"), st("number")]), Value::from(5));
    assert_eq!(ok("convert", vec![st("true"), st("bool")]), Value::Bool(true));
    assert_eq!(
        ok("convert", vec![Value::Array(vec![Value::from(1), st("a")]), st(" list( string ) ")]),
        strs(&["1", "a"])
    );
    assert_eq!(ok("convert", vec![strs(&["a", "a", "b"]), st("set(string)")]), strs(&["a", "b"]));
    assert_eq!(
        ok("convert", vec![obj(&[("a", Value::from(1)), ("b", st("x"))]), st("object({a = string})")]),
        obj(&[("a", st("1"))])
    );
    assert_eq!(
        ok("convert", vec![strs(&["1", "x"]), st("tuple([number, string])")]),
        Value::Array(vec![Value::from(1), st("x")])
    );
    assert_eq!(ok("convert", vec![Value::Null, st("number")]), Value::Null);
    assert!(fails("convert", vec![st("x"), st("number")]).contains("number"));
    assert!(fails("convert", vec![strs(&["a"]), st("string")]).contains("cannot convert"));
    assert!(fails("convert", vec![st("x"), st("lisst(string)")]).contains("unknown type"));
    assert!(fails("convert", vec![st("x"), st("list(string")]).contains("')'"));
    assert!(fails("convert", vec![st("x"), Value::from(1)]).contains("as a string"));
}

#[test]
fn time() {
    let date = |spec: &str, t: &str| ok("formatdate", vec![st(spec), st(t)]);
    assert_eq!(date("DD MMM YYYY hh:mm ZZZ", "2018-01-02T23:12:01Z"), st("02 Jan 2018 23:12 UTC"));
    assert_eq!(date("EEEE, DD-MMM-YY hh:mm:ss ZZZ", "2018-01-02T23:12:01Z"), st("Tuesday, 02-Jan-18 23:12:01 UTC"));
    assert_eq!(
        date("EEE, DD MMM YYYY hh:mm:ss ZZZ", "2018-01-02T23:12:01-08:00"),
        st("Tue, 02 Jan 2018 23:12:01 -0800")
    );
    assert_eq!(date("MMM DD, YYYY", "2018-01-02T23:12:01Z"), st("Jan 02, 2018"));
    assert_eq!(date("HH:mmaa", "2018-01-02T23:12:01Z"), st("11:12pm"));
    assert_eq!(date("h'h'mm", "2018-01-02T23:12:01-08:00"), st("23h12"));
    assert_eq!(date("H AA, MMMM D, 'o''clock' ''", "2018-03-04T00:05:09.5+05:30"), st("12 AM, March 4, o'clock '"));
    assert_eq!(date("Z ZZZZ ZZZZZ m s", "2018-03-04T00:05:09+05:30"), st("+05:30 +0530 +05:30 5 9"));
    assert_eq!(date("Z", "2018-03-04T00:05:09Z"), st("Z"));
    assert!(fails("formatdate", vec![st("YYY"), st("2018-01-02T23:12:01Z")]).contains("year"));
    assert!(fails("formatdate", vec![st("Q"), st("2018-01-02T23:12:01Z")]).contains("verb"));
    assert!(fails("formatdate", vec![st("'abc"), st("2018-01-02T23:12:01Z")]).contains("unterminated"));
    for bad in
        ["2018-01-02", "2018-01-02 23:12:01Z", "2018-02-30T00:00:00Z", "2018-01-02T23:12:01", "2018-01-02T25:00:00Z"]
    {
        assert!(call("formatdate", vec![st("YYYY"), st(bad)]).unwrap().is_err(), "{bad}");
    }
    let add = |t: &str, d: &str| ok("timeadd", vec![st(t), st(d)]);
    assert_eq!(add("2017-11-22T00:00:00Z", "10m"), st("2017-11-22T00:10:00Z"));
    assert_eq!(add("2017-11-22T00:00:00Z", "-10m"), st("2017-11-21T23:50:00Z"));
    assert_eq!(add("2017-11-22T00:00:00Z", "1h30m"), st("2017-11-22T01:30:00Z"));
    assert_eq!(add("2017-11-22T23:00:00+01:00", "2h"), st("2017-11-23T01:00:00+01:00"));
    assert_eq!(add("2017-11-22T00:00:00.5Z", "0.5s"), st("2017-11-22T00:00:01Z"));
    assert!(call("timeadd", vec![st("2017-11-22T00:00:00Z"), st("10")]).unwrap().is_err());
    assert!(call("timeadd", vec![st("yesterday"), st("10m")]).unwrap().is_err());
}

#[test]
fn networks() {
    let two = |f: &str, p: &str, x: i64| ok(f, vec![st(p), Value::from(x)]);
    assert_eq!(two("cidrhost", "10.12.112.0/20", 16), st("10.12.112.16"));
    assert_eq!(two("cidrhost", "10.12.112.0/20", 268), st("10.12.113.12"));
    assert_eq!(two("cidrhost", "10.12.112.0/20", -1), st("10.12.127.255"));
    assert_eq!(two("cidrhost", "fd00:fd12:3456:7890:00a2::/72", 34), st("fd00:fd12:3456:7890::22"));
    assert!(fails("cidrhost", vec![st("10.0.0.0/30"), Value::from(4)]).contains("does not accommodate"));
    assert!(fails("cidrhost", vec![st("10.0.0.0/30"), Value::from(-5)]).contains("does not accommodate"));
    assert!(fails("cidrhost", vec![st("10.0.0.0"), Value::from(1)]).contains("CIDR"));
    assert_eq!(ok("cidrnetmask", vec![st("172.16.0.0/12")]), st("255.240.0.0"));
    assert_eq!(ok("cidrnetmask", vec![st("10.0.0.0/32")]), st("255.255.255.255"));
    assert_eq!(ok("cidrnetmask", vec![st("0.0.0.0/0")]), st("0.0.0.0"));
    assert!(fails("cidrnetmask", vec![st("fd00::/8")]).contains("IPv6"));
    let sub = |p: &str, bits: i64, num: i64| ok("cidrsubnet", vec![st(p), Value::from(bits), Value::from(num)]);
    assert_eq!(sub("172.16.0.0/12", 4, 2), st("172.18.0.0/16"));
    assert_eq!(sub("10.1.2.0/24", 4, 15), st("10.1.2.240/28"));
    assert_eq!(sub("fd00:fd12:3456:7890::/56", 16, 162), st("fd00:fd12:3456:7800:a200::/72"));
    assert_eq!(sub("10.0.0.0/8", 0, 0), st("10.0.0.0/8"));
    assert!(call("cidrsubnet", vec![st("10.0.0.0/8"), Value::from(4), Value::from(16)]).unwrap().is_err());
    assert!(call("cidrsubnet", vec![st("10.0.0.0/30"), Value::from(4), Value::from(0)]).unwrap().is_err());
    let subs = |p: &str, bits: &[i64]| {
        let mut args = vec![st(p)];
        args.extend(bits.iter().map(|b| Value::from(*b)));
        ok("cidrsubnets", args)
    };
    assert_eq!(
        subs("10.1.0.0/16", &[4, 4, 8, 4]),
        strs(&["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20"])
    );
    assert_eq!(
        subs("fd00:fd12:3456:7890::/56", &[16, 16, 16, 32]),
        strs(&[
            "fd00:fd12:3456:7800::/72",
            "fd00:fd12:3456:7800:100::/72",
            "fd00:fd12:3456:7800:200::/72",
            "fd00:fd12:3456:7800:300::/88",
        ])
    );
    assert_eq!(subs("0.0.0.0/0", &[1, 1]), strs(&["0.0.0.0/1", "128.0.0.0/1"]));
    assert_eq!(subs("10.0.0.0/8", &[]), strs(&[]));
    let e = fails("cidrsubnets", vec![st("10.0.0.0/30"), Value::from(1), Value::from(1), Value::from(1)]);
    assert!(e.contains("not enough remaining address space"), "{e}");
    assert!(fails("cidrsubnets", vec![st("10.0.0.0/30"), Value::from(0)]).contains("at least one bit"));
    assert!(fails("cidrsubnets", vec![st("10.0.0.0/30"), Value::from(3)]).contains("too long"));
}

#[test]
fn paths() {
    let one = |f: &str, p: &str| ok(f, vec![st(p)]);
    assert_eq!(one("basename", "foo/bar/baz.txt"), st("baz.txt"));
    assert_eq!(one("basename", "foo/bar/"), st("bar"));
    assert_eq!(one("basename", "/"), st("/"));
    assert_eq!(one("basename", ""), st("."));
    assert_eq!(one("dirname", "foo/bar/baz.txt"), st("foo/bar"));
    assert_eq!(one("dirname", "/foo"), st("/"));
    assert_eq!(one("dirname", "foo"), st("."));
    assert_eq!(one("dirname", "foo//bar/"), st("foo/bar"));
    assert_eq!(one("pathexpand", "/etc/x"), st("/etc/x"));
    let Value::String(home) = one("pathexpand", "~/.ssh/id_rsa") else { panic!() };
    assert!(home.starts_with('/') && home.ends_with("/.ssh/id_rsa"), "{home}");
    assert!(fails("pathexpand", vec![st("~root/x")]).contains("~user"));
    let dir = tempfile::tempdir().unwrap();
    set_base(Some(dir.path().to_path_buf()));
    let base = dir.path().display().to_string();
    assert_eq!(one("abspath", "a/../b/./c"), st(&format!("{base}/b/c")));
    assert_eq!(one("abspath", "/x//y/.."), st("/x"));
    set_base(None);
}

/// The file functions read below the job file's directory and nowhere
/// else, as file() does.
#[test]
fn file_functions_stay_below_the_job_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("sub/deep")).unwrap();
    for f in ["a.txt", "b.txt", "c.md", "sub/c.txt", "sub/deep/d.txt", "sub/deep/e.md", ".hidden.txt"] {
        std::fs::write(d.join(f), f).unwrap();
    }
    std::fs::write(d.join("bin"), [0xffu8, 0, 1]).unwrap();
    std::os::unix::fs::symlink("/etc", d.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("a.txt", d.join("link.txt")).unwrap();
    set_base(Some(d.to_path_buf()));

    assert_eq!(ok("fileexists", vec![st("a.txt")]), Value::Bool(true));
    assert_eq!(ok("fileexists", vec![st("./sub/c.txt")]), Value::Bool(true));
    assert_eq!(ok("fileexists", vec![st("nope.txt")]), Value::Bool(false));
    assert_eq!(ok("fileexists", vec![st("nope/x.txt")]), Value::Bool(false));
    assert!(fails("fileexists", vec![st("sub")]).contains("directory"));
    assert!(fails("fileexists", vec![st("link.txt")]).contains("symbolic link"));
    assert!(fails("fileexists", vec![st("etc-link/passwd")]).contains("symbolic link"));
    assert!(fails("fileexists", vec![st("/etc/passwd")]).contains("outside the job file's directory"));
    assert!(fails("fileexists", vec![st("../x")]).contains("outside the job file's directory"));

    assert_eq!(ok("filebase64", vec![st("bin")]), st("/wAB"));
    assert_eq!(ok("filebase64", vec![st("a.txt")]), st("YS50eHQ="));
    assert!(fails("filebase64", vec![st("link.txt")]).contains("symbolic link"));
    assert!(fails("filebase64", vec![st("/etc/passwd")]).contains("outside the job file's directory"));
    assert!(fails("file", vec![st("bin")]).contains("not UTF-8"));

    let set = |p: &str, pat: &str| ok("fileset", vec![st(p), st(pat)]);
    assert_eq!(set(".", "*.txt"), strs(&[".hidden.txt", "a.txt", "b.txt"]));
    assert_eq!(set(".", "?.txt"), strs(&["a.txt", "b.txt"]));
    assert_eq!(set("sub", "*"), strs(&["c.txt"]));
    assert_eq!(set("sub", "**/*.md"), strs(&["deep/e.md"]));
    assert_eq!(set(".", "**/*.txt"), strs(&[".hidden.txt", "a.txt", "b.txt", "sub/c.txt", "sub/deep/d.txt"]));
    assert_eq!(set(".", "sub/*/*"), strs(&["sub/deep/d.txt", "sub/deep/e.md"]));
    assert_eq!(set("", "**"), set(".", "**/*"));
    assert_eq!(set("missing", "*"), strs(&[]));
    assert!(fails("fileset", vec![st("etc-link"), st("*")]).contains("symbolic link"));
    assert!(fails("fileset", vec![st("../"), st("*")]).contains("outside the job file's directory"));
    assert!(fails("fileset", vec![st("."), st("../*")]).contains("leaves the directory"));
    assert!(fails("fileset", vec![st("."), st("[ab].txt")]).contains("does not read"));
    set_base(None);
}

/// strlen, substr, strrev (and length and reverse of a string) count
/// extended grapheme clusters, as Nomad's (cty's) do.
#[test]
fn graphemes() {
    let accent = "e\u{301}"; // e and a combining acute accent
    let flag = "🇺🇸"; // two regional indicators
    let family = "👨\u{200d}👩\u{200d}👧"; // joined by zero-width joiners
    for one in [accent, flag, family, "\r\n", "☃"] {
        assert_eq!(ok("strlen", vec![st(one)]), Value::from(1), "{one:?}");
        assert_eq!(ok("length", vec![st(one)]), Value::from(1), "{one:?}");
    }
    assert_eq!(ok("strlen", vec![st("")]), Value::from(0));
    assert_eq!(ok("strlen", vec![st("cafe\u{301}")]), Value::from(4));
    assert_eq!(ok("strlen", vec![st("🇺🇸🇫🇷")]), Value::from(2));
    let x = format!("{accent}{flag}{family}x");
    assert_eq!(ok("strlen", vec![st(&x)]), Value::from(4));
    let sub = |off: i64, len: i64| ok("substr", vec![st(&x), Value::from(off), Value::from(len)]);
    assert_eq!(sub(0, 1), st(accent));
    assert_eq!(sub(1, 2), st(&format!("{flag}{family}")));
    assert_eq!(sub(2, 1), st(family));
    assert_eq!(sub(-2, -1), st(&format!("{family}x")));
    assert_eq!(sub(-10, 2), st(&format!("{accent}{flag}")));
    assert_eq!(sub(3, 5), st("x"));
    assert_eq!(sub(4, 1), st(""));
    assert_eq!(sub(9, -1), st(""));
    assert_eq!(sub(1, 0), st(""));
    assert_eq!(sub(-1, 0), st(""));
    // Terraform's examples.
    let sub = |x: &str, off: i64, len: i64| ok("substr", vec![st(x), Value::from(off), Value::from(len)]);
    assert_eq!(sub("hello world", 1, 4), st("ello"));
    assert_eq!(sub("🤔🤷", 0, 1), st("🤔"));
    assert_eq!(sub("hello world", -5, -1), st("world"));
    assert_eq!(sub("hello world", 6, 10), st("world"));
    assert_eq!(sub("", 0, 1), st(""));
    assert!(fails("substr", vec![st("abc"), Value::from(1.5), Value::from(1)]).contains("whole number"));
    // A cluster keeps its parts in their order: an accent stays after its
    // letter, a flag's indicators stay the flag they were.
    assert_eq!(ok("strrev", vec![st("hello")]), st("olleh"));
    assert_eq!(ok("strrev", vec![st(&x)]), st(&format!("x{family}{flag}{accent}")));
    assert_eq!(ok("strrev", vec![st("🇺🇸🇫🇷")]), st("🇫🇷🇺🇸"));
    assert_eq!(ok("strrev", vec![st("")]), st(""));
    // Nomad's reverse is cty's string function, Terraform's the list one.
    assert_eq!(ok("reverse", vec![st(&format!("a{accent}"))]), st(&format!("{accent}a")));
    assert_eq!(ok("reverse", vec![strs(&["a", "b", "c"])]), strs(&["c", "b", "a"]));
}
