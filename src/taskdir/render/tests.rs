use super::*;
use crate::jobspec::taskdir_blocks::ChangeMode;
use crate::taskdir::layout::AllocDir;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

fn template(data: &str, dest: &str) -> Template {
    Template {
        pos: Default::default(),
        source: TemplateSource::Data(data.to_string()),
        destination: dest.to_string(),
        perms: 0o644,
        uid: None,
        gid: None,
        env: false,
        change_mode: ChangeMode::Restart,
        splay: Duration::from_secs(5),
        left_delimiter: "{{".into(),
        right_delimiter: "}}".into(),
        error_on_missing_key: false,
        once: false,
    }
}

struct World {
    _data: tempfile::TempDir,
    alloc: AllocDir,
    task: TaskDir,
    env: BTreeMap<String, String>,
    services: Vec<ServiceAddr>,
    variables: BTreeMap<String, BTreeMap<String, String>>,
    readable: Vec<String>,
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
    let mut env: BTreeMap<String, String> = task.env().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    env.insert("NOMAD_PORT_http".into(), "8080".into());
    env.insert("GREETING".into(), "hello".into());
    env.insert("NOMAD_META_env".into(), "prod".into());
    let services = vec![
        ServiceAddr {
            id: "_supd-a1-web-db".into(),
            name: "db".into(),
            address: "127.0.0.1".into(),
            port: 6379,
            tags: vec!["primary".into()],
            job: "web".into(),
            alloc_id: "a1".into(),
        },
        ServiceAddr {
            id: "_supd-a2-web-db".into(),
            name: "db".into(),
            address: "127.0.0.1".into(),
            port: 6380,
            tags: vec!["replica".into()],
            job: "web".into(),
            alloc_id: "a2".into(),
        },
    ];
    let mut db = BTreeMap::new();
    db.insert("password".to_string(), "hunter2".to_string());
    db.insert("user".to_string(), "app".to_string());
    let variables = BTreeMap::from([("nomad/jobs/web".to_string(), db)]);
    let readable = crate::variables::readable("web", "g", "web").to_vec();
    World { _data: data, alloc, task, env, services, variables, readable }
}

impl World {
    fn render(&self, t: &Template) -> Result<Rendered, RenderError> {
        let env = self.env.clone();
        let vars = move |n: &str| env.get(n).cloned();
        render(t, &self.input(&vars))
    }

    fn input<'a>(&'a self, vars: &'a dyn Fn(&str) -> Option<String>) -> RenderInput<'a> {
        RenderInput {
            task: &self.task,
            env: &self.env,
            vars,
            services: &self.services,
            datacenter: "dc1",
            variables: &self.variables,
            readable: &self.readable,
            max_output: MAX_FILE,
        }
    }

    fn text(&self, data: &str) -> String {
        self.render(&template(data, "local/out")).map(|r| r.text).unwrap_or_else(|e| format!("ERROR {e}"))
    }
}

#[test]
fn host_functions_render() {
    let w = world();
    let cases: &[(&str, &str)] = &[
        (r#"port={{ env "NOMAD_PORT_http" }} none={{ env "NOPE" }}"#, "port=8080 none="),
        (r#"{{ envOrDefault "NOPE" "dflt" }} {{ envOrDefault "GREETING" "x" }}"#, "dflt hello"),
        (r#"{{ "hello" | base64Encode }} {{ "aGVsbG8=" | base64Decode }}"#, "aGVsbG8= hello"),
        (r#"{{ "a?b" | base64URLEncode }} {{ "YT9i" | base64URLDecode }}"#, "YT9i a?b"),
        (r#"{{ "a,b,c" | split "," | join ";" }}"#, "a;b;c"),
        (r#"{{ "MiXed" | toLower }} {{ "MiXed" | toUpper }} {{ "big world" | toTitle }}"#, "mixed MIXED Big World"),
        (r#"{{ "a-b-c" | replaceAll "-" "+" }} {{ "v1.2.3" | regexReplaceAll "[0-9]" "N" }}"#, "a+b+c vN.N.N"),
        (r#"{{ "  x " | trimSpace }}|{{ "pre-x" | trimPrefix "pre-" }}|{{ "x.conf" | trimSuffix ".conf" }}"#, "x|x|x"),
        (
            r#"{{ with parseJSON `{"a": {"b": [1, "two"]}, "n": 3}` }}{{ .a.b }} {{ .n }} {{ toJSON .a }}{{ end }}"#,
            r#"[1 two] 3 {"b":[1,"two"]}"#,
        ),
        (
            r#"{{ 5 | subtract 2 }} {{ 2 | add 3 }} {{ 4 | multiply 2.5 }} {{ 7 | divide 2 }} {{ 7 | modulo 4 }}"#,
            "3 5 10 3 3",
        ),
        (r#"{{ "42" | parseInt | add 1 }} {{ if "true" | parseBool }}yes{{ end }}"#, "43 yes"),
        (r#"{{ if "hello world" | contains "lo w" }}in{{ end }} {{ "a,b" | split "," | contains "b" }}"#, "in true"),
        (r#"{{ "abc" | sha256Hex }}"#, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("{{ \"a\\nb\" | indent 2 }}", "  a\n  b"),
        (r#"{{ "x" | regexMatch "^[a-z]$" }}"#, "true"),
        (r#"{{ timestamp "2006" | len }}"#, "4"),
        (r#"{{ range nomadServices }}{{ .Name }}:{{ .Tags }}{{ end }}"#, "db:[primary replica]"),
        (
            r#"{{ range nomadService "db" }}{{ .Address }}:{{ .Port }}/{{ .AllocID }} {{ end }}"#,
            "127.0.0.1:6379/a1 127.0.0.1:6380/a2 ",
        ),
        (r#"{{ len (nomadService "other") }}"#, "0"),
        (r#"{{ printf "%05d" 42 }} {{ if eq (env "NOMAD_META_env") "prod" }}P{{ end }}"#, "00042 P"),
    ];
    for (t, want) in cases {
        assert_eq!(w.text(t), *want, "{t}");
    }
    let stamp = w.text("{{ timestamp }}");
    assert!(stamp.len() == 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{stamp}");
    let unix: u64 = w.text(r#"{{ timestamp "unix" }}"#).parse().unwrap();
    assert!(unix > 1_700_000_000);
}

#[test]
fn every_host_function_has_an_implementation() {
    let w = world();
    let scope = Arc::new(Scope {
        env: BTreeMap::new(),
        task: w.task.clone(),
        services: Vec::new(),
        datacenter: String::new(),
        now: Duration::ZERO,
        variables: BTreeMap::new(),
        readable: Vec::new(),
        missing: Default::default(),
        max_output: MAX_FILE,
    });
    let funcs = crate::taskdir::funcs::host_funcs(&scope);
    let names: Vec<&str> = funcs.keys().map(String::as_str).collect();
    assert_eq!(names, gotemplate::HOST_FUNCS, "HOST_FUNCS and the implementations must name the same functions");
    // The builtins supd replaces by measured ones are gotmpl's own.
    for name in crate::taskdir::funcs::bounded_builtins(MAX_FILE).keys() {
        assert!(gotemplate::BUILTIN_FUNCS.contains(&name.as_str()), "{name}");
    }
}

#[test]
fn function_errors_fail_the_render_with_the_reason() {
    let w = world();
    assert_eq!(
        w.text(r#"{{ mustEnv "NOPE" }}"#),
        "ERROR template for local/out: execution error: mustEnv: the task has no environment variable \"NOPE\""
    );
    assert!(
        w.text(r#"{{ "%%%" | base64Decode }}"#)
            .starts_with("ERROR template for local/out: execution error: base64Decode:")
    );
    assert!(w.text("{{ parseJSON `{` }}").contains("parseJSON"));
    assert!(w.text(r#"{{ key "a" }}"#).contains("1:4: supd has no Consul: `key` cannot be rendered"));
    // A missing key renders as Go's <no value>, or fails with
    // error_on_missing_key.
    let mut t = template("{{ with parseJSON `{\"a\": 1}` }}{{ .missing }}{{ end }}", "local/out");
    assert_eq!(w.render(&t).unwrap().text, "<no value>");
    t.error_on_missing_key = true;
    assert!(w.render(&t).unwrap_err().to_string().contains("missing"));
}

#[test]
fn files_are_read_only_inside_the_task_directory() {
    let w = world();
    std::fs::write(w.task.local().join("in.txt"), "inside").unwrap();
    std::fs::write(w.alloc.shared().join("data/shared.txt"), "shared").unwrap();
    assert_eq!(w.text(r#"{{ file "local/in.txt" }}"#), "inside");
    let abs = format!(r#"{{{{ file "{}" }}}}"#, w.task.local().join("in.txt").display());
    assert_eq!(w.text(&abs), "inside");
    assert_eq!(w.text(r#"{{ file "../alloc/data/shared.txt" }}"#), "shared");
    for bad in [r#"{{ file "/etc/hostname" }}"#, r#"{{ file "../../../../etc/hostname" }}"#] {
        assert!(w.text(bad).contains("is outside the task directory"), "{bad}: {}", w.text(bad));
    }
    // A link the task planted is not followed.
    std::os::unix::fs::symlink("/etc/hostname", w.task.local().join("link")).unwrap();
    let e = w.text(r#"{{ file "local/link" }}"#);
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn source_files_render_and_are_watched_where_they_are() {
    let w = world();
    std::fs::write(w.task.local().join("app.tpl"), "greeting={{ env \"GREETING\" }}\n").unwrap();
    let mut t = template("", "${NOMAD_TASK_DIR}/app.conf");
    t.source = TemplateSource::File("local/app.tpl".into());
    let vars = |n: &str| w.env.get(n).cloned();
    let input = w.input(&vars);
    assert_eq!(source_path(&t, &input).unwrap(), Some(w.task.local().join("app.tpl")));
    let (r, changed) = render_to_disk(&t, &input, None).unwrap();
    assert!(changed);
    assert_eq!(r.path, w.task.local().join("app.conf"));
    assert_eq!(std::fs::read_to_string(&r.path).unwrap(), "greeting=hello\n");
    let (_, changed) = render_to_disk(&t, &input, None).unwrap();
    assert!(!changed, "the same text again is no change");
    std::fs::write(w.task.local().join("app.tpl"), "greeting={{ env \"GREETING\" | toUpper }}\n").unwrap();
    let (r, changed) = render_to_disk(&t, &input, None).unwrap();
    assert!(changed);
    assert_eq!(r.text, "greeting=HELLO\n");
    // A source file is checked as validation checks `data`, at render.
    std::fs::write(w.task.local().join("app.tpl"), "a\n {{ secret \"x\" }}").unwrap();
    let e = render(&t, &input).unwrap_err().to_string();
    assert_eq!(
        e,
        "local/app.tpl:2:5: supd has no Vault: `secret` cannot be rendered — keep the secret in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), or read it from a file on this host with `file`"
    );
    t.source = TemplateSource::File("local/missing.tpl".into());
    assert!(
        render(&t, &input).unwrap_err().to_string().starts_with("cannot read the template source local/missing.tpl")
    );
    t.source = TemplateSource::File("/etc/hostname".into());
    assert!(render(&t, &input).unwrap_err().to_string().contains("outside the task directory"));
}

#[test]
fn written_with_mode_owner_and_atomically() {
    let w = world();
    let vars = |n: &str| w.env.get(n).cloned();
    let input = w.input(&vars);
    let mut t = template("secret={{ env \"GREETING\" }}\n", "secrets/app.env");
    t.perms = 0o600;
    let (r, _) = render_to_disk(&t, &input, None).unwrap();
    let meta = std::fs::metadata(&r.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    // New directories on the way are made.
    let t = template("x", "local/deep/er/f.conf");
    render_to_disk(&t, &input, None).unwrap();
    assert!(w.task.local().join("deep/er/f.conf").is_file());
    // The shared alloc/ is a place too.
    let t = template("x", "${NOMAD_ALLOC_DIR}/shared.conf");
    assert_eq!(render_to_disk(&t, &input, None).unwrap().0.path, w.alloc.shared().join("shared.conf"));
    // A directory the task swapped for a link is refused, nothing is written through it.
    let outside = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(w.task.local().join("deep")).unwrap();
    std::os::unix::fs::symlink(outside.path(), w.task.local().join("deep")).unwrap();
    let e = render_to_disk(&template("x", "local/deep/f"), &input, None).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    // A destination that leaves the task directory after interpolation.
    let e = render(
        &template("x", "${NOMAD_META_up}/x"),
        &RenderInput { vars: &|n| (n == "NOMAD_META_up").then(|| "../../..".to_string()), ..w.input(&vars) },
    )
    .unwrap_err();
    assert!(e.to_string().contains("outside the task directory"), "{e}");
    if nix::unistd::geteuid().is_root() {
        let mut t = template("x", "local/owned");
        t.uid = Some(65534);
        t.gid = Some(65534);
        let (r, _) = render_to_disk(&t, &input, Some((1, 1))).unwrap();
        let m = std::fs::metadata(&r.path).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
        let (r, _) = render_to_disk(&template("y", "local/task-owned"), &input, Some((1, 1))).unwrap();
        assert_eq!(std::fs::metadata(&r.path).unwrap().uid(), 1);
    }
}

#[test]
fn env_templates() {
    let w = world();
    let mut t = template(
        "# comment\n\nPORT={{ env \"NOMAD_PORT_http\" }}\nexport NAME=\"a \\\"b\\\"\"\nRAW='x=$y'\nEMPTY=\n",
        "secrets/file.env",
    );
    t.env = true;
    let r = w.render(&t).unwrap();
    assert_eq!(
        r.env,
        [
            ("PORT".to_string(), "8080".to_string()),
            ("NAME".into(), "a \"b\"".into()),
            ("RAW".into(), "x=$y".into()),
            ("EMPTY".into(), String::new())
        ]
    );
    assert_eq!(parse_env("A=1\nnot a pair\n"), Err((2, "\"not a pair\" is not KEY=VALUE".into())));
    assert_eq!(parse_env("1A=x"), Err((1, "\"1A\" is not a variable name".into())));
    assert_eq!(parse_env("A=\"open"), Err((1, "the value of A opens a \" it does not close".into())));
    t.source = TemplateSource::Data("oops\n".into());
    assert_eq!(
        w.render(&t).unwrap_err().to_string(),
        "template for secrets/file.env: rendered line 1: \"oops\" is not KEY=VALUE"
    );
}

#[test]
fn other_delimiters() {
    let w = world();
    let mut t = template("{{ literal }} [[ env \"GREETING\" ]]", "local/x");
    t.left_delimiter = "[[".into();
    t.right_delimiter = "]]".into();
    assert_eq!(w.render(&t).unwrap().text, "{{ literal }} hello");
}

/// Render time of one small template, and the memory 1000 kept parsed
/// templates would take. Run alone, in release:
/// `cargo test --release --lib taskdir::render::tests::measure -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    let w = world();
    let t = template("port = {{ env \"NOMAD_PORT_http\" }}\nname = {{ env \"GREETING\" | toUpper }}\n", "local/m.conf");
    let vars = |n: &str| w.env.get(n).cloned();
    let input = w.input(&vars);
    for _ in 0..100 {
        render(&t, &input).unwrap();
    }
    let n = 10_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        render(&t, &input).unwrap();
    }
    let per = start.elapsed() / n;
    let start = std::time::Instant::now();
    for _ in 0..1000 {
        render_to_disk(&t, &input, None).unwrap();
    }
    let written = start.elapsed() / 1000;
    println!(
        "render (parse + execute) of one small template: {per:?}; with the atomic write (unchanged file): {written:?}"
    );

    let pss = || -> u64 {
        let s = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
        s.lines().find(|l| l.starts_with("Pss:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let text = match &t.source {
        TemplateSource::Data(d) => d.clone(),
        TemplateSource::File(_) => unreachable!(),
    };
    let before = pss();
    let scope = Arc::new(Scope {
        env: w.env.clone(),
        task: w.task.clone(),
        services: Vec::new(),
        datacenter: String::new(),
        now: Duration::ZERO,
        variables: BTreeMap::new(),
        readable: Vec::new(),
        missing: Default::default(),
        max_output: MAX_FILE,
    });
    let kept: Vec<gotmpl::Template> = (0..1000)
        .map(|_| gotmpl::Template::new("").funcs(crate::taskdir::funcs::host_funcs(&scope)).parse(&text).unwrap())
        .collect();
    let after = pss();
    let sources: Vec<Template> = (0..1000).map(|_| t.clone()).collect();
    let after_sources = pss();
    println!(
        "PSS: 1000 parsed templates kept: +{} KiB; 1000 template blocks (text only): +{} KiB",
        after - before,
        after_sources - after
    );
    assert_eq!(kept.len() + sources.len(), 2000);
}

/// A template that renders without end stops at the output limit, with an
/// error that names it, and the memory it took stays near the limit.
#[test]
fn output_past_the_limit_is_an_error_naming_it() {
    let w = world();
    // 1,000,000 iterations of 64 bytes: 64 MB if nothing stopped it.
    let bomb =
        format!("{{{{ range $i, $_ := (split \",\" \"{}\") }}}}{}{{{{ end }}}}", ",".repeat(999_999), "x".repeat(64));
    let text = w.text(&bomb);
    assert!(
        text.starts_with("ERROR") && text.contains("over 16 MiB (limits.template_bytes in supd.toml)"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert_eq!(w.text("{{ range $i, $_ := (split \",\" \",,\") }}ab{{ end }}"), "ababab");
}

/// supd.toml's `template_bytes` moves the limit: output up to it renders,
/// one byte more is an error that names the limit and the key.
#[test]
fn the_output_limit_is_the_configured_one() {
    let w = world();
    let vars = |_: &str| -> Option<String> { None };
    let input = RenderInput { max_output: 6, ..w.input(&vars) };
    let t = template("{{ range $i, $_ := (split \",\" \",,\") }}ab{{ end }}", "local/out");
    assert_eq!(render(&t, &input).unwrap().text, "ababab");
    let input = RenderInput { max_output: 5, ..w.input(&vars) };
    let e = render(&t, &input).unwrap_err().to_string();
    assert!(e.contains("over 5 bytes (limits.template_bytes in supd.toml)"), "{e}");
    let input = RenderInput { max_output: 2 << 10, ..w.input(&vars) };
    let big = template(&"x".repeat(3 << 10), "local/out");
    let e = render(&big, &input).unwrap_err().to_string();
    assert!(e.contains("over 2 KiB (limits.template_bytes"), "{e}");
    assert_eq!((size_text(MAX_FILE), size_text(1000)), ("16 MiB".to_string(), "1000 bytes".to_string()));
}

/// A function whose result can outgrow what it is given measures the
/// result first and refuses it over the output limit, naming itself and
/// the limit, before it is made: a render cannot build a value of
/// gigabytes on the way to a file of megabytes.
#[test]
fn functions_refuse_results_over_the_output_limit() {
    let w = world();
    std::fs::write(w.task.local().join("big"), "a".repeat(2 << 20)).unwrap();
    std::fs::write(w.task.local().join("lines"), "\n".repeat(100_000)).unwrap();
    let exec = "ERROR template for local/out: execution error:";
    // An empty `from` matches at each of the 2 Mi + 1 character boundaries.
    assert_eq!(
        w.text(r#"{{ file "local/big" | replaceAll "" "xxxxxxxx" }}"#),
        format!("{exec} replaceAll: the result would be over 18 MiB; at most 16 MiB (limits.template_bytes)")
    );
    // 4 TiB: refused without being tried.
    assert_eq!(
        w.text(r#"{{ $b := file "local/big" }}{{ $b | replaceAll "" $b }}"#),
        format!("{exec} replaceAll: the result would be 4194308 MiB; at most 16 MiB (limits.template_bytes)")
    );
    // 100,001 lines of 1024 spaces each.
    assert_eq!(
        w.text(r#"{{ file "local/lines" | indent 1024 }}"#),
        format!("{exec} indent: the result would be over 97 MiB; at most 16 MiB (limits.template_bytes)")
    );
    // A value repeated by gotmpl's own print: replaced by a measured one.
    let nine = r#"{{ $b := file "local/big" }}{{ print $b $b $b $b $b $b $b $b $b }}"#;
    assert_eq!(w.text(nine), format!("{exec} print: the result would be over 16 MiB (limits.template_bytes)"));
    assert_eq!(
        w.text(r#"{{ len (split "" (file "local/big")) }}"#),
        format!("{exec} split: the result would have 2097154 pieces; at most 1000000")
    );
    std::fs::write(w.task.local().join("many.json"), format!("[{}0]", "0,".repeat(1_000_000))).unwrap();
    assert_eq!(
        w.text(r#"{{ len (parseJSON (file "local/many.json")) }}"#),
        format!("{exec} parseJSON: the document would make up to 1000002 values; at most 1000000")
    );

    // Under a smaller limit, results up to it are made, one byte more is not.
    let vars = |_: &str| -> Option<String> { None };
    let limited = |limit: u64, data: &str| {
        let input = RenderInput { max_output: limit, ..w.input(&vars) };
        render(&template(data, "local/out"), &input).map(|r| r.text).unwrap_or_else(|e| format!("ERROR {e}"))
    };
    assert_eq!(limited(10, r#"{{ "ab" | replaceAll "" "--" }}"#), "--a--b--");
    assert_eq!(
        limited(10, r#"{{ "abc" | replaceAll "" "--" }}"#),
        format!("{exec} replaceAll: the result would be 11 bytes; at most 10 bytes (limits.template_bytes)")
    );
    assert_eq!(limited(10, "{{ \"a\\nb\" | indent 3 }}"), "   a\n   b");
    assert_eq!(
        limited(10, "{{ \"a\\nb\" | indent 4 }}"),
        format!("{exec} indent: the result would be 11 bytes; at most 10 bytes (limits.template_bytes)")
    );
    // Each match's expansion is measured, the count stopped past the limit;
    // one that could be over it alone is counted as that.
    let nines = r#"| regexReplaceAll "a" "$0$0$0$0$0$0$0$0$0" }}"#;
    assert_eq!(limited(100, &format!("{{{{ \"{}\" {nines}", "a".repeat(10))), "a".repeat(90));
    assert_eq!(
        limited(100, &format!("{{{{ \"{}\" {nines}", "a".repeat(12))),
        format!("{exec} regexReplaceAll: the result would be over 100 bytes (limits.template_bytes)")
    );
    assert_eq!(
        limited(10, r#"{{ "abc" | regexReplaceAll "" "--" }}"#),
        format!("{exec} regexReplaceAll: the result would be 11 bytes; at most 10 bytes (limits.template_bytes)")
    );
    assert_eq!(
        limited(10, r#"{{ "abcdefghij" | regexReplaceAll ".+" "$0$0" }}"#),
        format!("{exec} regexReplaceAll: the result could be 24 bytes; at most 10 bytes (limits.template_bytes)")
    );
    // One character that upper-cases to three.
    assert_eq!(
        limited(5, "{{ \"\u{390}\" | toUpper }}"),
        format!("{exec} toUpper: the result would be 6 bytes; at most 5 bytes (limits.template_bytes)")
    );
    assert_eq!(
        limited(5, r#"{{ "<" | js }}"#),
        format!("{exec} js: the result would be 6 bytes; at most 5 bytes (limits.template_bytes)")
    );
    assert_eq!(
        limited(16, r#"{{ toJSON (split "," "a,b,c,d,e") }}"#),
        format!("{exec} toJSON: the result would be over 16 bytes (limits.template_bytes)")
    );
}

/// What stays under the limit renders as before.
#[test]
fn functions_under_the_output_limit_render_as_before() {
    let w = world();
    let cases: &[(&str, &str)] = &[
        (r#"{{ "ab" | replaceAll "" "-" }}|{{ "a-b-c" | replaceAll "-" "" }}"#, "-a-b-|abc"),
        ("{{ \"a\\n\\nb\" | indent 3 }}", "   a\n   \n   b"),
        (r#"{{ "v1.2" | regexReplaceAll "([0-9])" "<$1>" }}"#, "v<1>.<2>"),
        (r#"{{ "a,b" | split "," | join ", " }} {{ print "a" 1 2 "b" }} {{ println 1 "x" }}"#, "a, b a1 2b 1 x\n"),
        (
            r#"{{ "a<b" | html }} {{ "a=b" | js }} {{ "a b&c" | urlquery }} {{ "ß" | toUpper }}"#,
            "a&lt;b a\\u003Db a+b%26c SS",
        ),
        (
            r#"{{ printf "%s-%d-%v" "a" 1 true }} {{ 7 | printf "%03d" }} {{ printf "%[2]s%[1]s" "a" "b" }}"#,
            "a-1-true 007 ba",
        ),
        (r#"{{ toJSONPretty (parseJSON `{"a": [1]}`) }}"#, "{\n  \"a\": [\n    1\n  ]\n}"),
    ];
    for (t, want) in cases {
        assert_eq!(w.text(t), *want, "{t}");
    }
}

/// gotmpl clamps a `printf` width or precision at 65535 bytes itself, but
/// an index (`%[1]`) repeats a value and its width as often as the format
/// says: supd's `printf` estimates the result from the format before
/// gotmpl's makes it.
#[test]
fn printf_is_measured_before_gotmpl_formats() {
    let w = world();
    let exec = "ERROR template for local/out: execution error:";
    assert_eq!(w.text(r#"{{ printf "%999999999d" 1 | len }}"#), "65535");
    let repeated = format!("{{{{ printf \"{}\" 1 }}}}", "%[1]65535d".repeat(300));
    assert_eq!(
        w.text(&repeated),
        format!("{exec} printf: the result could be over 18 MiB; at most 16 MiB (limits.template_bytes)")
    );
    // Under a small limit, a small estimate is made and measured: the
    // estimate counts 400 bytes a verb, the result is what it is.
    let vars = |_: &str| -> Option<String> { None };
    let input = RenderInput { max_output: 1 << 10, ..w.input(&vars) };
    let e = render(&template(r#"{{ printf "%999999999d" 1 }}"#, "local/out"), &input).unwrap_err().to_string();
    assert_eq!(
        e,
        "template for local/out: execution error: printf: the result would be 65535 bytes; at most 1 KiB (limits.template_bytes)"
    );
    let input = RenderInput { max_output: 8, ..w.input(&vars) };
    assert_eq!(render(&template(r#"{{ printf "%d-%s" 1 "ab" }}"#, "local/out"), &input).unwrap().text, "1-ab");
    // A `[` that is not an index: gotmpl would read the rest of the format
    // again at each one.
    let e = w.text(r#"{{ printf "%[x]d" 1 }}"#);
    assert!(e.contains("printf: the format has a `[` that is not an argument index"), "{e}");
    let many = format!("{{{{ printf \"%d\"{} }}}}", " 1".repeat(300));
    assert_eq!(w.text(&many), format!("{exec} printf: takes at most 256 values after the format, got 300"));
}

/// `nomadVar` reads the variables the task may read; a path it may not
/// read fails the render and says why; one it may read that holds
/// nothing yet makes the render wait for it, as Nomad's does.
#[test]
fn nomad_variables_render_wait_for_missing_ones_and_refuse_unreadable_paths() {
    let w = world();
    let t = template(
        r#"{{ with nomadVar "nomad/jobs/web" }}user={{ .user }} pw={{ .password }}{{ end }}
{{ if nomadVarExists "nomad/jobs/web/g" }}group{{ else }}no group{{ end }}
{{ range nomadVarList "nomad/" }}{{ .Path }};{{ end }}"#,
        "local/v.conf",
    );
    assert_eq!(w.render(&t).unwrap().text, "user=app pw=hunter2\nno group\nnomad/jobs/web;");
    // A function that quotes what it was given never shows a variable's
    // value in its error (an event any user may read).
    let e = w
        .render(&template(r#"{{ with nomadVar "nomad/jobs/web" }}{{ .password | parseInt }}{{ end }}"#, "local/p.conf"))
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2") && e.contains("(a variable's value)"), "{e}");
    let e = w
        .render(&template(r#"{{ with nomadVar "nomad/jobs/other" }}{{ .x }}{{ end }}"#, "local/o.conf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("may not read the variables at \"nomad/jobs/other\""), "{e}");
    // The group's and the task's paths are readable and empty: the render
    // waits for both, even where the empty value failed what followed.
    let waits = template(
        r#"{{ with nomadVar "nomad/jobs/web/g" }}{{ .a }}{{ end }}{{ (nomadVar "nomad/jobs/web/g/web").port | parseInt }}"#,
        "local/w.conf",
    );
    match w.render(&waits) {
        Err(RenderError::Missing(paths)) => assert_eq!(paths, ["nomad/jobs/web/g", "nomad/jobs/web/g/web"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.render(&waits).unwrap_err().to_string(),
        "Missing: nomad.var.block(nomad/jobs/web/g@default.global), nomad.var.block(nomad/jobs/web/g/web@default.global)"
    );
    let env = w.env.clone();
    let vars = move |n: &str| env.get(n).cloned();
    assert!(matches!(render_to_disk(&waits, &w.input(&vars), None), Err(RenderError::Missing(_))));
    assert!(!w.task.dir.join("local/w.conf").exists(), "nothing is written while a variable is missing");
}
