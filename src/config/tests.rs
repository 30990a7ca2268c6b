use super::*;

#[test]
fn every_key() {
    let f = File::parse(
        r#"
node_name = "web-1"
datacenter = "eu-west"
region = "eu"
node_class = "edge"
job_dir = "/srv/jobs"
socket = "/run/x.sock"
socket_group = "ops"
log_group = "adm"
keep_ended_runs = 50
log_dir = "/srv/logs"
state_dir = "/srv/state"
data_dir = "/srv/data"
log = "syslog"
log_level = "debug"
task_output = "files+journal"
journal_socket = "/run/j.sock"
cgroup_parent = "/tasks"
cpu_hard_limit = true
cpu_total_compute = 8000
memory_total_mb = 2048
metrics_listen = "127.0.0.1:9464"
[node.meta]
rack = "r12"
"#,
    )
    .unwrap();
    assert_eq!(f.node_name.as_deref(), Some("web-1"));
    assert_eq!(f.log, Some(LogTarget::Syslog));
    let t = f.task_output().unwrap();
    assert!(t.files && t.journal && !t.stdout, "{t:?}");
    assert_eq!(f.journal_socket.as_deref(), Some(std::path::Path::new("/run/j.sock")));
    assert_eq!(f.node.meta["rack"], "r12");
    assert_eq!(f.metrics_addr().unwrap(), Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(File::default().metrics_addr().unwrap(), None);
    let mut n = crate::node::Node::bare("h", "dc1");
    f.apply_to(&mut n);
    assert_eq!((n.name.as_str(), n.datacenter.as_str(), n.region.as_str()), ("web-1", "eu-west", "eu"));
    assert_eq!(n.class.as_deref(), Some("edge"));
    assert_eq!(n.resolve("${meta.rack}").as_deref(), Some("r12"));
    assert_eq!(n.resolve("${attr.cpu.totalcompute}").as_deref(), Some("8000"));
    assert_eq!(n.resolve("${attr.memory.totalbytes}").as_deref(), Some("2147483648"));
    n.attrs.insert("cpu.numcores".into(), "4".into());
    let o = f.cgroup_options(&n);
    assert_eq!((o.parent.as_str(), o.hard_cpu, o.mhz_per_core), ("/tasks", true, Some(2000)));
    assert_eq!(File::default().cgroup_options(&n).parent, "supd");
}

#[test]
fn unknown_keys_and_bad_values_point_at_their_place() {
    let e = File::parse("datacenter = \"dc2\"\nlog_levl = \"debug\"\n").unwrap_err().to_string();
    assert!(e.starts_with("2:1: unknown field `log_levl`"), "{e}");
    let e = File::parse("log = \"journal\"\n").unwrap_err().to_string();
    assert!(e.starts_with("1:7: unknown variant `journal`"), "{e}");
    assert_eq!(File::parse("").unwrap(), File::default());
    let e = File::parse("log = \"stderr\"\nmetrics_listen = \"localhost:9464\"\n").unwrap_err().to_string();
    assert!(e.starts_with("2:18: metrics_listen \"localhost:9464\" is not an IP address and port"), "{e}");
    let e = File::parse("metrics_listen = 9464\n").unwrap_err().to_string();
    assert!(e.starts_with("1:18: invalid type"), "{e}");
}

#[test]
fn the_docker_driver_section() {
    let f = File::parse(
        "[driver.docker]\nendpoint = \"unix:///run/podman/podman.sock\"\nallow_caps = [\"all\"]\nallow_volumes = true\n",
    )
    .unwrap();
    let s = f.driver.docker.settings();
    assert_eq!(s.endpoint.as_deref(), Some("unix:///run/podman/podman.sock"));
    assert_eq!((s.allow_privileged, s.allow_volumes, s.allow_caps), (false, true, Some(vec!["all".to_string()])));
    let e = File::parse("[driver.docker]\nallow_privilegd = true\n").unwrap_err().to_string();
    assert!(e.starts_with("2:1: unknown field `allow_privilegd`"), "{e}");
    let f = File::parse("[driver.podman]\nendpoint = \"unix:///tmp/p.sock\"\nallow_volumes = true\n").unwrap();
    let s = f.driver.podman.settings();
    assert_eq!((s.endpoint.as_deref(), s.allow_volumes), (Some("unix:///tmp/p.sock"), true));
    assert_eq!(f.driver.docker, DockerSection::default());
    let e = File::parse("[driver.podmann]\n").unwrap_err().to_string();
    assert!(e.contains("unknown field `podmann`"), "{e}");
}

#[test]
fn the_limits_section() {
    let f = File::parse("[limits]\ntemplate_bytes = 1048576\n").unwrap();
    assert_eq!(f.template_bytes().unwrap(), 1 << 20);
    // Absent, or a section without the key: the render's own limit.
    assert_eq!(File::default().template_bytes().unwrap(), crate::taskdir::render::MAX_FILE);
    assert_eq!(File::parse("[limits]\n").unwrap().template_bytes().unwrap(), 16 << 20);
    let cases = [
        ("[limits]\ntemplate_bytes = 0\n", "2:18: [limits] template_bytes must be more than 0, e.g. 16777216"),
        ("[limits]\ntemplate_bytes = \"16 MiB\"\n", "2:18: invalid type"),
        ("[limits]\ntemplate_bytes = -1\n", "2:18: invalid value"),
        ("[limits]\ntemplate_byte = 1\n", "2:1: unknown field `template_byte`"),
    ];
    for (text, want) in cases {
        let e = File::parse(text).unwrap_err().to_string();
        assert!(e.starts_with(want), "{text:?}: {e}");
    }
}

#[test]
fn peers_and_handoff() {
    let f = File::parse(
        r#"
[handoff]
timeout = "5s"
accept = true

[[peer]]
name = "b"
host = "10.0.0.2"
port = 2222
user = "supd"
identity_file = "/etc/supd/key"
ssh_options = ["UserKnownHostsFile=/etc/supd/known_hosts"]

[[peer]]
name = "c"
host = "10.0.0.3"
"#,
    )
    .unwrap();
    let h = f.handoff_settings().unwrap();
    assert_eq!(h.peers.len(), 2);
    assert_eq!((h.peers[0].port, h.peers[1].port), (Some(2222), None));
    assert_eq!(h.timeout, std::time::Duration::from_secs(5));
    assert_eq!(h.connect_timeout, std::time::Duration::from_secs(10));
    assert!(h.accept && h.command.is_none() && !h.hcl_stdin);
    let h = File::parse("[handoff]\ncommand = [\"nomad\", \"job\", \"run\", \"-\"]\nstdin = \"hcl\"\n")
        .unwrap()
        .handoff_settings()
        .unwrap();
    assert_eq!(h.command.as_deref(), Some(&["nomad".to_string(), "job".into(), "run".into(), "-".into()][..]));
    assert!(h.hcl_stdin && !h.accept);
    assert_eq!(File::parse("").unwrap().handoff_settings().unwrap(), HandoffSettings::default());
    // Peers are accepted from by default; accept_from narrows it.
    let h = f.handoff_settings().unwrap();
    assert!(h.accepts_from("b") && h.accepts_from("c") && !h.accepts_from("mallory"));
    assert!(!h.raw_exec_as_root && h.drivers.is_none() && h.users.is_none());
    assert_eq!((h.poll_interval.as_secs(), h.lost_after.as_secs()), (30, 300));
    let h = File::parse(
        "[handoff]\naccept_from = [\"c\"]\ndrivers = [\"exec\", \"docker\"]\nusers = [\"app\"]\nraw_exec_as_root = true\npoll_interval = \"5s\"\nlost_after = \"1m\"\n[[peer]]\nname = \"b\"\nhost = \"x\"\n[[peer]]\nname = \"c\"\nhost = \"y\"\n",
    )
    .unwrap()
    .handoff_settings()
    .unwrap();
    assert!(!h.accepts_from("b") && h.accepts_from("c"));
    assert_eq!(h.drivers.as_deref(), Some(&["exec".to_string(), "docker".into()][..]));
    assert!(h.raw_exec_as_root && h.users.as_deref() == Some(&["app".to_string()][..]));
    assert_eq!((h.poll_interval.as_secs(), h.lost_after.as_secs()), (5, 60));
}

#[test]
fn host_key_checking_is_weakened_only_when_said_so() {
    let weak = "[[peer]]\nname = \"b\"\nhost = \"x\"\nssh_options = [\"StrictHostKeyChecking=no\", \"UserKnownHostsFile=/dev/null\"]\n";
    let e = File::parse(weak).unwrap_err().to_string();
    assert!(e.contains("whose key is not known") && e.contains("insecure_host_keys = true"), "{e}");
    let h = File::parse(&format!("[handoff]\ninsecure_host_keys = true\n{weak}")).unwrap().handoff_settings().unwrap();
    assert!(h.insecure_host_keys && h.peers[0].ssh_options.iter().any(|o| weakens_host_keys(o)));
    assert!(!weakens_host_keys("StrictHostKeyChecking=yes") && weakens_host_keys("stricthostkeychecking = accept-new"));
}

#[test]
fn bad_peers_and_handoff_point_at_their_place() {
    let cases = [
        (
            "[[peer]]\nname = \"b\"\nhost = \"x\"\n[[peer]]\nname = \"b\"\nhost = \"y\"\n",
            "4:1: two [[peer]] entries are named \"b\"",
        ),
        ("[[peer]]\nname = \"b\"\n", "1:1: missing field `host`"),
        ("[[peer]]\nname = \"b\"\nhost = \"x\"\nprot = 22\n", "4:1: unknown field `prot`"),
        ("[[peer]]\nname = \"b\"\nhost = \"-oProxyCommand=x\"\n", "must not start with '-'"),
        ("[[peer]]\nname = \"b/../c\"\nhost = \"x\"\n", "use letters, digits"),
        ("[[peer]]\nname = \"b\\u001b\"\nhost = \"x\"\n", "use letters, digits"),
        ("[handoff]\ndrivers = [\"qemu\"]\n", "\"qemu\" is not a driver supd runs"),
        ("[handoff]\npoll_interval = \"0s\"\n", "poll_interval must be more than 0s"),
        ("[[peer]]\nname = \"b\"\nhost = \"x\"\nssh_options = [\"-v\"]\n", "`Key=Value`"),
        (
            "[[peer]]\nname = \"b\"\nhost = \"x\"\nssh_options = [\"StrictHostKeyChecking=no\"]\n",
            "whose key is not known",
        ),
        (
            "[[peer]]\nname = \"b\"\nhost = \"x\"\nssh_options = [\"StrictHostKeyChecking=accept-new\"]\n",
            "whose key is not known",
        ),
        ("[handoff]\ntimeout = \"30\"\n", "2:11: [handoff] timeout: "),
        ("[handoff]\nconnect_timeout = \"0s\"\n", "2:19: [handoff] connect_timeout must be more than 0s"),
        ("[handoff]\nmethod = \"command\"\n", "needs `command = "),
        ("[handoff]\nmethod = \"ssh\"\ncommand = [\"x\"]\n", "remove one of them"),
        ("[handoff]\ncommand = []\n", "command is empty"),
        ("[handoff]\nstdin = \"hcl\"\n", "stdin only applies to the command hook"),
        ("[handoff]\nmethod = \"scp\"\n", "2:10: unknown variant `scp`"),
        ("[handoff]\naccept = \"yes\"\n", "2:10: invalid type"),
        ("task_output = \"file\"\n", "1:15: task output \"file\" is not known — use files, journal"),
        ("task_output = \"stdout+stdout\"\n", "names stdout twice"),
        ("[artifact]\ntimeout = \"0s\"\n", "2:11: [artifact] timeout must be more than 0s"),
        ("[artifact]\nmax_size = 3\n", "unknown field `max_size`"),
    ];
    for (text, want) in cases {
        let e = File::parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn a_missing_default_file_is_fine_a_named_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("supd.toml");
    assert_eq!(File::load(&p, false).unwrap(), File::default());
    let e = crate::error_chain(&File::load(&p, true).unwrap_err());
    assert_eq!(e, format!("cannot read {}: No such file or directory (os error 2)", p.display()));
    std::fs::write(&p, "node_name = 3\n").unwrap();
    let e = File::load(&p, true).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:1:13: invalid type", p.display())), "{e}");
}
