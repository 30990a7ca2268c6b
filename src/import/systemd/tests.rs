use super::command::{reload_signal, split_words};
use super::specifiers::unescape;
use super::values::{size_bytes, timespan};
use super::*;
use crate::jobspec::model::JobType;
use std::time::Duration;

use crate::import::testing::{has_note, valid};

const SSH: &str = r#"[Unit]
Description=OpenBSD Secure Shell server
Documentation=man:sshd(8) man:sshd_config(5)
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
Type=notify
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
Alias=sshd.service
"#;

#[test]
fn debian_ssh_service() {
    let c = convert("/lib/systemd/system/ssh.service", SSH).unwrap();
    assert_eq!(c.name, "ssh");
    let h = &c.hcl;
    assert!(h.starts_with("# Converted from /lib/systemd/system/ssh.service by supctl import.\n"), "{h}");
    assert!(h.contains("# Description: OpenBSD Secure Shell server"), "{h}");
    assert!(h.contains("job \"ssh\" {"), "{h}");
    assert!(h.contains("type = \"service\""), "{h}");
    assert!(h.contains("command = \"/usr/sbin/sshd\""), "{h}");
    assert!(h.contains("args    = [\"-D\"]"), "{h}");
    assert!(h.contains("task \"ssh-prestart\""), "{h}");
    assert!(h.contains("hook = \"prestart\""), "{h}");
    assert!(h.contains("args    = [\"-t\"]"), "{h}");
    assert!(h.contains("attempts = 5"), "{h}");
    assert!(h.contains("interval = \"10s\""), "{h}");
    assert!(h.contains("delay    = \"100ms\""), "{h}");
    assert!(h.contains("mode     = \"delay\""), "{h}");
    assert!(h.contains("kill_signal  = \"SIGTERM\""), "{h}");
    assert!(h.contains("kill_timeout = \"1m30s\""), "{h}");
    assert!(!h.contains("WantedBy"), "[Install] is ignored: {h}");
    for part in [
        "EnvironmentFile=-/etc/default/ssh",
        "$SSHD_OPTS is not set by this unit",
        "RestartPreventExitStatus=255",
        "Type=notify",
        "KillMode=process",
        "/run/sshd",
        "After=network.target auditd.service",
        "ConditionPathExists",
        "supctl signal ssh SIGHUP",
        "Restart=on-failure",
    ] {
        assert!(has_note(&c, part), "no note with {part:?}: {:#?}", c.notes);
    }
    let job = valid(h);
    assert_eq!(job.id, "ssh");
    let group = &job.groups[0];
    assert_eq!(group.tasks.len(), 2);
    let main = group.tasks.iter().find(|t| t.name == "ssh").unwrap();
    assert_eq!(main.command, "/usr/sbin/sshd");
    assert_eq!(main.args, vec!["-D".to_string()]);
    assert_eq!(main.kill_timeout, Duration::from_secs(90));
    let pre = group.tasks.iter().find(|t| t.name == "ssh-prestart").unwrap();
    assert!(pre.lifecycle.is_some());
    assert_eq!(group.restart.attempts, 5);
}

#[test]
fn debian_cron_service() {
    let text = "[Unit]\nDescription=Regular background program processing daemon\nDocumentation=man:cron(8)\nAfter=remote-fs.target nss-user-lookup.target\n\n[Service]\nEnvironmentFile=-/etc/default/cron\nExecStart=/usr/sbin/cron -f -P $EXTRA_OPTS\nIgnoreSIGPIPE=false\nKillMode=process\nRestart=on-failure\nSyslogFacility=cron\n\n[Install]\nWantedBy=multi-user.target\n";
    let c = convert("cron.service", text).unwrap();
    assert!(c.hcl.contains("args    = [\"-f\", \"-P\"]"), "{}", c.hcl);
    assert!(has_note(&c, "no equivalent: IgnoreSIGPIPE=false"), "{:#?}", c.notes);
    assert!(has_note(&c, "no equivalent: SyslogFacility=cron"), "{:#?}", c.notes);
    assert!(has_note(&c, "$EXTRA_OPTS"), "{:#?}", c.notes);
    let job = valid(&c.hcl);
    assert_eq!(job.groups[0].tasks.len(), 1);
}

#[test]
fn quoting_continuation_specifiers_and_environment() {
    let text = r#"# a template instance
[Unit]
Description=Greeter on %i

[Service]
Type=oneshot
Environment="GREETING=hello world" 'PATH=/usr/bin:/bin' DIR=/srv/%i
Environment=EMPTY=
; a comment
ExecStart=/usr/bin/printf "%%s|%%s\n" \
    "${GREETING}" $GREETING \
# a comment inside the continued line
    %n %i %h '${NOT_SET}' x${NOT_SET2}y $$HOME
User=nobody
Group=nogroup
WorkingDirectory=-/srv/%i
TimeoutStopSec=infinity
MemoryMax=512M
"#;
    let c = convert("greet@tty1.service", text).unwrap();
    assert_eq!(c.name, "greet-tty1");
    assert!(c.hcl.contains("# Description: Greeter on tty1"), "{}", c.hcl);
    assert!(c.hcl.contains("type = \"batch\""), "{}", c.hcl);
    assert!(c.hcl.contains("user = \"nobody\""), "{}", c.hcl);
    assert!(c.hcl.contains("work_dir = \"/srv/tty1\""), "{}", c.hcl);
    assert!(c.hcl.contains("GREETING = \"hello world\""), "{}", c.hcl);
    assert!(c.hcl.contains("attempts = 0"), "{}", c.hcl);
    assert!(c.hcl.contains("mode     = \"fail\""), "{}", c.hcl);
    assert!(c.hcl.contains("memory = 512"), "{}", c.hcl);
    assert!(c.hcl.contains("kill_timeout = \"24h\""), "{}", c.hcl);
    assert!(c.hcl.contains("\"x$${NOT_SET2}y\""), "the unset ${{}} is kept literally: {}", c.hcl);
    for part in ["Group=nogroup", "%h", "$NOT_SET is not set", "WorkingDirectory=-/srv/tty1", "TimeoutStopSec=infinity"]
    {
        assert!(has_note(&c, part), "no note with {part:?}: {:#?}", c.notes);
    }
    let job = valid(&c.hcl);
    assert_eq!(job.job_type, JobType::Batch);
    let t = &job.groups[0].tasks[0];
    assert_eq!(t.command, "/usr/bin/printf");
    let want: Vec<String> = [
        "%s|%s\n",
        "hello world",
        "hello",
        "world",
        "greet@tty1.service",
        "tty1",
        "%h",
        // Stored in supd's template form: a literal `${` is `$${`.
        "x$${NOT_SET2}y",
        "$HOME",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(t.args, want);
    assert_eq!(t.env.get("DIR").map(String::as_str), Some("/srv/tty1"));
    assert_eq!(t.env.get("EMPTY").map(String::as_str), Some(""));
    assert_eq!(t.env.get("PATH").map(String::as_str), Some("/usr/bin:/bin"));
    assert_eq!(t.resources.memory, 512);
}

#[test]
fn resets_restart_policy_and_prefixes() {
    let text = "[Unit]\nStartLimitIntervalSec=30s\nStartLimitBurst=3\n[Service]\nExecStart=/bin/false\nExecStart=\nExecStart=-@/usr/bin/daemon daemon-name --flag\nExecStartPre=-/bin/mkdir /run/x\nExecStartPre=/bin/chown nobody /run/x\nExecStopPost=+/bin/rm -rf /run/x\nUser=nobody\nRestart=always\nRestartSec=20s\nKillSignal=SIGQUIT\nTimeoutStopSec=5min 30s\n";
    let c = convert("daemon.service", text).unwrap();
    let h = &c.hcl;
    assert!(h.contains("command = \"/usr/bin/daemon\""), "{h}");
    assert!(h.contains("args    = [\"--flag\"]"), "{h}");
    assert!(h.contains("kill_signal  = \"SIGQUIT\""), "{h}");
    assert!(h.contains("kill_timeout = \"5m30s\""), "{h}");
    // 3 restarts 20s apart do not fit in 30s: the interval is raised.
    assert!(h.contains("interval = \"1m\""), "{h}");
    assert!(has_note(&c, "interval raised"), "{:#?}", c.notes);
    assert!(has_note(&c, "argv[0]"), "{:#?}", c.notes);
    assert!(has_note(&c, "counts a failure exit as success"), "{:#?}", c.notes);
    assert!(h.contains("set -e\\n/bin/mkdir /run/x || true\\n/bin/chown nobody /run/x"), "{h}");
    let job = valid(h);
    let tasks = &job.groups[0].tasks;
    assert_eq!(tasks.len(), 3);
    let post = tasks.iter().find(|t| t.name == "daemon-poststop").unwrap();
    assert_eq!(post.user, None, "`+` runs without User=");
    assert_eq!(post.args, vec!["-rf".to_string(), "/run/x".to_string()]);
    let main = tasks.iter().find(|t| t.name == "daemon").unwrap();
    assert_eq!(main.user.as_deref(), Some("nobody"));
    assert_eq!(job.groups[0].restart.attempts, 3);
    assert_eq!(job.groups[0].restart.delay, Duration::from_secs(20));
}

#[test]
fn unlimited_restarts_and_oneshot_with_several_commands() {
    let text = "[Service]\nType=oneshot\nExecStart=/bin/echo 'it'\"'\"'s'\nExecStart=/bin/true\nRestart=on-failure\nStartLimitIntervalSec=0\nRestartSec=1\n";
    let c = convert("multi.service", text).unwrap();
    assert!(c.hcl.contains("command = \"/bin/sh\""), "{}", c.hcl);
    let job = valid(&c.hcl);
    let t = &job.groups[0].tasks[0];
    assert_eq!(t.args, vec!["-c".to_string(), "set -e\n/bin/echo 'it'\\''s'\n/bin/true".to_string()]);
    assert_eq!(job.groups[0].restart.attempts, 10);
    assert_eq!(job.groups[0].restart.interval, Duration::from_secs(10));
    assert!(has_note(&c, "StartLimitIntervalSec=0"), "{:#?}", c.notes);
}

#[test]
fn refused_units() {
    assert!(matches!(convert("foo.socket", "[Socket]\nListenStream=80\n"), Err(ImportError::NotAService { .. })));
    match convert("stop-only.service", "[Service]\nType=oneshot\nExecStop=/bin/true\n") {
        Err(e @ ImportError::NoCommand { .. }) => assert!(e.to_string().contains("stop-only.service"), "{e}"),
        other => panic!("{other:?}"),
    }
    match convert("q.service", "[Service]\n\nExecStart=/bin/echo \"open\n") {
        Err(ImportError::Syntax { line, message, .. }) => {
            assert_eq!(line, 3);
            assert!(message.contains("not closed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match convert("two.service", "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n") {
        Err(e @ ImportError::Syntax { line: 3, .. }) => {
            assert!(e.to_string().starts_with("two.service:3: "), "{e}")
        }
        other => panic!("{other:?}"),
    }
    match convert("bad.service", "[Service\nExecStart=/bin/a\n") {
        Err(ImportError::Syntax { line: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn pieces() {
    assert_eq!(timespan("90"), Some(Duration::from_secs(90)));
    assert_eq!(timespan("5min 20s"), Some(Duration::from_secs(320)));
    assert_eq!(timespan("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(timespan("100ms"), Some(Duration::from_millis(100)));
    assert_eq!(timespan("2 weeks"), Some(Duration::from_secs(14 * 86400)));
    assert_eq!(timespan("soon"), None);
    assert_eq!(size_bytes("512M"), Some(512 << 20));
    assert_eq!(size_bytes("1G"), Some(1 << 30));
    assert_eq!(size_bytes("1000"), Some(1000));
    assert_eq!(unescape("dev-sda1"), "dev/sda1");
    assert_eq!(unescape("a\\x2db"), "a-b");
    let w = split_words(r#"a "b c" 'd "e"' f\sg \x41 ; \;"#).unwrap();
    let texts: Vec<&str> = w.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(texts, vec!["a", "b c", "d \"e\"", "f g", "A", ";", ";"]);
    assert!(w[5].1 && !w[6].1);
    assert_eq!(
        reload_signal(&["/bin/kill".to_string(), "-s".to_string(), "USR1".to_string(), "$MAINPID".to_string()]),
        Some("SIGUSR1".to_string())
    );
}
