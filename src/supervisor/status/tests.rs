use super::*;
use crate::control::protocol::{Response, Status};
use crate::supervisor::task::EventKind;
use crate::supervisor::task::State;
use std::time::Duration;

const JOB: &str = r#"job "web" {
  group "g" {
    reschedule {
      attempts       = 2
      interval       = "1h"
      delay          = "5s"
      delay_function = "constant"
      unlimited      = false
    }
    network {
      port "http" {}
    }
    task "setup" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      lifecycle { hook = "prestart" }
    }
    task "main" {
      driver = "raw_exec"
      config { command = "/bin/sleep" }
      resources {
        cpu    = 200
        memory = 64
      }
      restart {
        attempts = 3
        interval = "10m"
        delay    = "2s"
        mode     = "fail"
      }
      service {
        port = "http"
        check {
          type     = "script"
          command  = "/bin/check"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
    task "app" {
      driver = "docker"
      config { image = "tools:1" }
    }
    task "cleanup" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      lifecycle { hook = "poststop" }
    }
  }
}
"#;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(secs * 1000 + 250)
}

/// A run whose tasks show most of what a status can say.
fn busy_run() -> JobRun {
    let mut run = super::super::task::tests::job_run_of(1, JOB);
    run.file = Some("jobs/web \"1\".hcl".into());
    let checks = super::super::task::instance_checks(&run.job, 0);
    let i = &mut run.instances[0];
    i.checks = checks.into();
    i.checks[0].active = true;
    i.checks[0].output = "ok\n\tfine".into();
    i.dir = Some(crate::taskdir::AllocDir::new(std::path::Path::new("/data"), "abcd").expect("a directory"));
    i.history.push(crate::handoff::HistoryEntry {
        time: "2026-11-28T05:06:07.123Z".into(),
        from: "n1".into(),
        to: None,
        delay: "5s".into(),
        reason: "failed".into(),
        attempt: 1,
    });
    i.resched = Resched::Waiting { at: at(1_795_838_767), delay: Duration::from_secs(5), blocked: false };
    let [setup, main, app, _cleanup] = &mut i.tasks[..] else { panic!("four tasks") };
    setup.state = State::Dead;
    setup.exit = Some(Exit::Code(0));
    setup.started_at = Some(at(1_795_838_700));
    setup.finished_at = Some(at(1_795_838_701));
    setup.push_event(EventKind::Terminated, "Exit Code: 0");
    main.state = State::Running;
    main.pid = Some(nix::unistd::Pid::from_raw(4242));
    main.restarts = 2;
    main.last_restart = Some(at(1_795_838_760));
    main.started_at = Some(at(1_795_838_761));
    main.exit = Some(Exit::Signal { signal: 9, core_dumped: false });
    for k in [EventKind::Received, EventKind::Started, EventKind::Restarting] {
        main.push_event(k, format!("\"{k}\" \u{1b}[31m"));
    }
    app.state = State::Dead;
    app.failed = true;
    app.exit = Some(Exit::Code(3));
    run
}

fn view<'a>(run: &'a JobRun, events: Option<usize>, brief: bool) -> StatusView<'a> {
    let node = protocol::NodeStatus {
        name: "n1".into(),
        datacenter: "dc1".into(),
        cgroups: None,
        cgroup_problems: vec!["no cpu".into()],
        cpu_total: Some(4000),
        memory_total: None,
        cpu_reserved: 200,
        memory_reserved: 64,
        unreserved_tasks: 3,
        supd_version: Some("0.1.0".into()),
        supd_uptime: Some(90_061),
    };
    let head = JobHead { status: run.status().as_str(), periodic: None, parameterized: None, parent: None };
    let lines = Box::leak(Box::default());
    StatusView { node, jobs: vec![JobView { run, head, shown: Shown { selection: None, events, brief, lines } }] }
}

/// The view is encoded exactly as the protocol's types it stands for:
/// decoded into them and encoded again, it is the same to the byte,
/// pretty (`--json status`) and as an answer line.
#[test]
fn the_view_encodes_as_the_protocol_types() {
    let run = busy_run();
    for events in [None, Some(1), Some(0)] {
        let v = view(&run, events, false);
        let mut pretty = Vec::new();
        to_pretty(&mut pretty, &v).unwrap();
        let pretty = String::from_utf8(pretty).unwrap();
        let typed: Status = serde_json::from_str(&pretty).unwrap();
        assert_eq!(serde_json::to_string_pretty(&typed).unwrap(), pretty);
        assert_eq!(typed.all_up(), v.all_up());
        let messages = vec!["jobs/x.hcl:1:1: bad".to_string()];
        let line = serde_json::to_string(&StatusAnswer { messages: &messages, status: &v }).unwrap();
        let mut r: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), line);
        assert_eq!(r.messages, messages);
        assert_eq!(r.status.take(), Some(typed));
    }
}

/// Deeper than the indentation written at once, and empty ones.
#[test]
fn pretty_is_serde_jsons_pretty() {
    let mut deep = serde_json::json!([1, {}, [], {"a": [[]]}, "x\n"]);
    for i in 0..40 {
        deep = serde_json::json!({ "k": [deep, i, {"e": {}}] });
    }
    let mut ours = Vec::new();
    to_pretty(&mut ours, &deep).unwrap();
    assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string_pretty(&deep).unwrap());
}

/// What the view says, read back through the protocol's types.
#[test]
fn the_view_says_what_the_model_holds() {
    let mut run = busy_run();
    let s: Status = serde_json::from_str(&serde_json::to_string(&view(&run, None, false)).unwrap()).unwrap();
    let j = &s.jobs[0];
    assert_eq!(
        (j.name.as_str(), j.job_type.as_str(), j.file.as_deref()),
        ("web", "service", Some("jobs/web \"1\".hcl"))
    );
    let i = &j.groups[0].instances[0];
    assert_eq!(
        (i.name.as_str(), i.id.as_str(), i.alloc_dir.as_deref()),
        ("web.g[0]", "0000", Some("/data/alloc/abcd"))
    );
    assert_eq!(i.reschedule_policy.as_deref(), Some("2 attempts in 1h, delay 5s constant up to 1h"));
    let r = i.reschedule.as_ref().expect("a reschedule state");
    assert_eq!(
        (r.state.as_str(), r.next.as_deref(), r.allowed),
        ("waiting", Some("2026-11-28T04:06:07.250Z"), Some(2))
    );
    assert_eq!(r.history[0].reason, "failed");
    let [setup, main, app, cleanup] = &i.tasks[..] else { panic!("four tasks") };
    assert_eq!((setup.hook.as_deref(), setup.exit_code, setup.state.as_str()), (Some("prestart"), Some(0), "dead"));
    assert_eq!(setup.finished_at.as_deref(), Some("2026-11-28T04:05:01.250Z"));
    assert_eq!((main.pid, main.restarts, main.signal.as_deref()), (Some(4242), 2, Some("SIGKILL")));
    assert_eq!(main.health.as_deref(), Some("critical"));
    assert_eq!(main.checks[0].output, "ok\n\tfine");
    assert_eq!(main.checks[0].kind, "script");
    assert_eq!(main.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["Received", "Started", "Restarting"]);
    assert_eq!(main.events[2].message, "\"Restarting\" \u{1b}[31m");
    assert_eq!(main.restart_policy.as_deref(), Some("3 attempts in 10m, delay 2s, mode fail"));
    // Each its own, though the line of the one before is kept.
    for (shown, t) in i.tasks.iter().zip(&run.instances[0].tasks) {
        assert_eq!(shown.restart_policy, Some(effective::restart_line(&t.spec.restart)), "{}", shown.name);
    }
    assert_ne!(main.restart_policy, setup.restart_policy);
    let res = main.resources.as_ref().expect("resources");
    assert_eq!((res.cpu, res.memory, res.unreserved), (200, 64, false));
    assert!(app.resources.as_ref().expect("resources").unreserved);
    assert_eq!(app.container.as_ref().map(|c| c.image.as_str()), Some("tools:1"));
    assert!(app.failed && app.exit_code == Some(3));
    assert_eq!((cleanup.hook.as_deref(), cleanup.state.as_str()), (Some("poststop"), "pending"));
    assert!(!s.all_up());
    // Up: the main task passes its check, the failed one is gone.
    let i = &mut run.instances[0];
    i.checks[0].status = crate::jobspec::model::CheckStatus::Passing;
    i.tasks[2].failed = false;
    i.tasks[2].exit = Some(Exit::Code(0));
    assert!(view(&run, None, false).all_up());
}

/// A brief status is the full one less what the table does not show.
#[test]
fn a_brief_status_leaves_out_only_what_the_table_does_not_show() {
    let run = busy_run();
    let line = serde_json::to_string(&view(&run, Some(1), true)).unwrap();
    let brief: Status = serde_json::from_str(&line).unwrap();
    let mut full: Status = serde_json::from_str(&serde_json::to_string(&view(&run, Some(1), false)).unwrap()).unwrap();
    for j in &mut full.jobs {
        j.file = None;
        for i in j.groups.iter_mut().flat_map(|g| &mut g.instances) {
            i.id.clear();
            i.alloc_dir = None;
            i.reschedule_policy = None;
            for t in &mut i.tasks {
                t.checks.clear();
                (t.started_at, t.finished_at, t.last_restart) = (None, None, None);
                t.restart_policy = None;
                t.container = None;
                t.events.iter_mut().for_each(|e| e.time.clear());
                let r = t.resources.as_mut().expect("resources");
                (r.memory_max, r.cpu_weight, r.cpu_quota, r.cgroup) = (None, None, None, None);
            }
        }
    }
    assert_eq!(brief, full);
    assert!(line.len() < serde_json::to_string(&view(&run, Some(1), false)).unwrap().len());
}
