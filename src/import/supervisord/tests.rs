use super::*;

const CONF: &str = r#"; supervisor config file

[unix_http_server]
file=/var/run/supervisor.sock   ; (the path to the socket file)
chmod=0700                       ; sockef file mode (default 0700)

[supervisord]
logfile=/var/log/supervisor/supervisord.log ; (main log file;default $CWD/supervisord.log)
pidfile=/var/run/supervisord.pid ; (supervisord pidfile;default supervisord.pid)
childlogdir=/var/log/supervisor            ; ('AUTO' child log dir, default $TEMP)

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///var/run/supervisor.sock ; use a unix:// URL  for a unix socket

[program:web]
command=/srv/app/venv/bin/gunicorn --bind 127.0.0.1:800%(process_num)s
    --workers 2 "app:create_app()"
process_name=%(program_name)s_%(process_num)02d
numprocs=2
directory=%(here)s/app
user=www-data
environment=PYTHONUNBUFFERED="1",APP_ENV="production, eu",HOME="/home/www"
autorestart=true
startretries=5
stopsignal=QUIT
stopwaitsecs=30
stdout_logfile=/var/log/web.log
redirect_stderr=true
priority=10

[program:worker]
Command = /usr/bin/python3 -m worker --queue default  # inline comment
autostart = false
autorestart = unexpected
exitcodes = 0,2
startsecs = 5
stopsignal = INT
environment = HOME="%(ENV_HOME)s"

[include]
files = /etc/supervisor/conf.d/*.conf
"#;

use crate::import::testing::{has_note, valid};

#[test]
fn two_programs() {
    let jobs = convert("/etc/supervisor/supervisord.conf", CONF).unwrap();
    assert_eq!(jobs.len(), 2);
    let (web, worker) = (&jobs[0], &jobs[1]);
    assert_eq!(web.name, "web");
    assert_eq!(worker.name, "worker");

    let h = &web.hcl;
    assert!(
        h.starts_with("# Converted from /etc/supervisor/supervisord.conf [program:web] by supctl import.\n"),
        "{h}"
    );
    assert!(h.contains("count = 2"), "{h}");
    assert!(h.contains("\"127.0.0.1:800${NOMAD_ALLOC_INDEX}\""), "{h}");
    assert!(h.contains("\"app:create_app()\""), "{h}");
    assert!(h.contains("work_dir = \"/etc/supervisor/app\""), "{h}");
    assert!(h.contains("user = \"www-data\""), "{h}");
    assert!(h.contains("kill_signal  = \"SIGQUIT\""), "{h}");
    assert!(h.contains("kill_timeout = \"30s\""), "{h}");
    assert!(h.contains("attempts = 5"), "{h}");
    assert!(h.contains("delay    = \"1s\""), "{h}");
    assert!(h.contains("mode     = \"delay\""), "{h}");
    for part in ["stdout_logfile=/var/log/web.log", "priority=10", "numprocs=2", "[include]"] {
        assert!(has_note(web, part), "no note with {part:?}: {:#?}", web.notes);
    }
    let job = valid(h);
    let g = &job.groups[0];
    assert_eq!(g.count, 2);
    let t = &g.tasks[0];
    assert_eq!(t.command, "/srv/app/venv/bin/gunicorn");
    assert_eq!(t.args.len(), 5);
    assert_eq!(t.args[4], "app:create_app()");
    assert_eq!(t.user.as_deref(), Some("www-data"));
    assert_eq!(t.env.get("APP_ENV").map(String::as_str), Some("production, eu"));
    assert_eq!(t.env.get("PYTHONUNBUFFERED").map(String::as_str), Some("1"));
    assert_eq!(g.restart.attempts, 5);

    let h = &worker.hcl;
    assert!(!h.contains("count ="), "{h}");
    assert!(h.contains("kill_signal  = \"SIGINT\""), "{h}");
    assert!(h.contains("kill_timeout = \"10s\""), "{h}");
    assert!(h.contains("attempts = 3"), "{h}");
    for part in [
        "autostart=false",
        "supctl job stop worker",
        "autorestart=unexpected",
        "exitcodes=0,2",
        "startsecs=5",
        "%(ENV_HOME)s",
    ] {
        assert!(has_note(worker, part), "no note with {part:?}: {:#?}", worker.notes);
    }
    let job = valid(h);
    let t = &job.groups[0].tasks[0];
    assert_eq!(t.command, "/usr/bin/python3");
    assert_eq!(t.args, vec!["-m", "worker", "--queue", "default"]);
    assert_eq!(t.env.get("HOME").map(String::as_str), Some("%(ENV_HOME)s"));
}

#[test]
fn defaults_groups_and_no_restart() {
    let text = "[DEFAULT]\nstopwaitsecs = 60\n\n[group:site]\nprograms = api , cron\n\n[program:api]\ncommand = api-server --port 80%(process_num)02d\nautorestart = false\n\n[program:cron]\ncommand = /usr/sbin/cron -f\nstdout_logfile = AUTO\nserverurl = AUTO\n";
    let jobs = convert("supervisord.conf", text).unwrap();
    assert_eq!(jobs.len(), 2);
    let api = &jobs[0];
    assert!(api.hcl.contains("\"--port\", \"8000\""), "{}", api.hcl);
    assert!(api.hcl.contains("kill_timeout = \"1m\""), "{}", api.hcl);
    assert!(api.hcl.contains("attempts = 0"), "{}", api.hcl);
    assert!(api.hcl.contains("mode     = \"fail\""), "{}", api.hcl);
    assert!(has_note(api, "[group:site]"), "{:#?}", api.notes);
    assert!(has_note(api, "api-server: not an absolute path"), "{:#?}", api.notes);
    valid(&api.hcl);
    let cron = &jobs[1];
    assert!(has_note(cron, "no equivalent: serverurl=AUTO"), "{:#?}", cron.notes);
    assert!(has_note(cron, "stdout_logfile=AUTO"), "{:#?}", cron.notes);
    valid(&cron.hcl);
}

#[test]
fn refused_files() {
    match convert("s.conf", "[supervisord]\nlogfile=/tmp/x\n[include]\nfiles=conf.d/*.conf\n") {
        Err(e @ ImportError::NoPrograms { .. }) => assert!(e.to_string().contains("[include]"), "{e}"),
        other => panic!("{other:?}"),
    }
    match convert("s.conf", "[program:x]\nautostart=true\n") {
        Err(e @ ImportError::NoCommand { .. }) => assert!(e.to_string().contains("[program:x]"), "{e}"),
        other => panic!("{other:?}"),
    }
    match convert("s.conf", "[program:x]\ncommand=/bin/true\nthis line has no separator\n") {
        Err(ImportError::Syntax { line: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    match convert("s.conf", "command=/bin/true\n") {
        Err(ImportError::Syntax { line: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    match convert("s.conf", "[program:x]\ncommand=/bin/echo \"open\n") {
        Err(ImportError::Syntax { line: 2, message, .. }) => assert!(message.contains("not closed"), "{message}"),
        other => panic!("{other:?}"),
    }
    match convert("s.conf", "[program:x]\ncommand=/bin/true\nenvironment=A=b c\n") {
        Err(ImportError::Syntax { line: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    match convert("s.conf", "[program:x]\ncommand=/bin/true\nautorestart=sometimes\n") {
        Err(ImportError::Syntax { line: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn pieces() {
    assert_eq!(
        shlex_split(r#"a "b c" 'd "e"' f\ g "h\"i" "j\k""#).unwrap(),
        vec!["a", "b c", "d \"e\"", "f g", "h\"i", "j\\k"]
    );
    assert_eq!(
        environment(r#"A="1",B='x, y', C=/usr/bin:/bin,D="""#).unwrap(),
        vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "x, y".to_string()),
            ("C".to_string(), "/usr/bin:/bin".to_string()),
            ("D".to_string(), String::new()),
        ]
    );
    assert_eq!(format_value("7", "02", 'd'), "07");
    assert_eq!(format_value("ab", "-4", 's'), "ab  ");
    assert_eq!(inline_comment("a=b ;c"), Some(4));
    assert_eq!(inline_comment("a=b;c"), None);
    let ini = parse_ini("f", "[s]\nkey = one\n  two\n\n  three\nnext: 1\n").unwrap();
    assert_eq!(ini.sections[0].get("key").unwrap().value, "one\ntwo\n\nthree");
    assert_eq!(ini.sections[0].get("next").unwrap().value, "1");
}
