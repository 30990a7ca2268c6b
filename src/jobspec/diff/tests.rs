use super::*;
use crate::jobspec::parse_str;

const BASE: &str = r#"job "web" {
  group "site" {
    count = 2
    restart {
      attempts = 2
    }
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      env {
        A = "1"
      }
      service {
        name = "web"
        port = 8080
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
"#;

fn job(src: &str) -> Job {
    let p = parse_str("t.hcl", src);
    assert!(p.is_valid(), "{:?}", p.diagnostics);
    p.jobs.into_iter().next().expect("one job")
}

fn edit(from: &str, to: &str) -> Job {
    assert!(BASE.contains(from), "{from}");
    job(&BASE.replacen(from, to, 1))
}

fn fates(p: &Plan) -> Vec<(String, Fate)> {
    p.instances.iter().map(|i| (i.name.clone(), i.fate)).collect()
}

#[test]
fn the_same_job_plans_nothing() {
    let p = plan(Some(&job(BASE)), Some(&job(BASE)));
    assert_eq!(p.kind, Kind::Same);
    assert!(p.instances.is_empty() && p.groups.is_empty() && p.fields.is_empty());
    assert_eq!(render(&p), "");
}

#[test]
fn moving_blocks_and_reformatting_plans_nothing() {
    let moved = job(&format!("\n\n# a comment\n{}", BASE.replace("    count = 2\n", "    count    =   2\n")));
    let p = plan(Some(&job(BASE)), Some(&moved));
    assert_eq!(p.kind, Kind::Same, "{p:#?}");
}

#[test]
fn a_restart_change_updates_in_place() {
    let p = plan(Some(&job(BASE)), Some(&edit("attempts = 2", "attempts = 5")));
    assert_eq!(fates(&p), vec![("web.site[0]".into(), Fate::InPlace), ("web.site[1]".into(), Fate::InPlace)]);
    assert!(!p.moves_instances());
    let g = &p.groups[0];
    assert!(g.fields.contains(&Field {
        sign: '~',
        path: "restart.attempts".into(),
        old: Some("2".into()),
        new: Some("5".into())
    }));
    assert_eq!(g.tasks[0].fate, Fate::InPlace);
    let text = render(&p);
    assert!(text.contains("~ job \"web\"\n  ~ group \"site\"\n      ~ restart.attempts: 2 => 5\n"), "{text}");
    assert!(text.contains("    ~ task \"app\" (in place)\n        ~ restart.attempts: 2 => 5\n"), "{text}");
    assert!(text.contains("  instances:\n    web.site[0]: update in place\n"), "{text}");
}

#[test]
fn kill_timeout_signal_shutdown_delay_logs_and_check_restart_are_in_place() {
    for (from, to) in [
        ("env {", "kill_timeout = \"30s\"\n      env {"),
        ("env {", "kill_signal = \"SIGTERM\"\n      env {"),
        ("env {", "shutdown_delay = \"2s\"\n      env {"),
        ("env {", "logs {\n        max_files = 3\n      }\n      env {"),
        ("timeout  = \"2s\"", "timeout  = \"2s\"\n          check_restart {\n            limit = 3\n          }"),
        ("job \"web\" {", "job \"web\" {\n  priority = 70"),
        ("job \"web\" {", "job \"web\" {\n  reschedule {\n    delay = \"1m\"\n  }"),
    ] {
        let p = plan(Some(&job(BASE)), Some(&edit(from, to)));
        assert!(p.changes(), "{to}");
        assert!(p.instances.iter().all(|i| i.fate == Fate::InPlace), "{to}: {:?}", fates(&p));
        assert_eq!(p.instances.len(), 2, "{to}");
    }
}

#[test]
fn what_the_process_sees_replaces() {
    for (from, to) in [
        ("\"600\"", "\"700\""),
        ("/bin/sleep", "/usr/bin/sleep"),
        ("A = \"1\"", "A = \"2\""),
        ("A = \"1\"", "A = \"1\"\n        B = \"2\""),
        ("env {", "user = \"nobody\"\n      env {"),
        ("env {", "resources {\n        memory = 64\n      }\n      env {"),
        ("env {", "meta {\n        k = \"v\"\n      }\n      env {"),
        ("interval = \"10s\"", "interval = \"20s\""),
        ("driver = \"raw_exec\"", "driver = \"exec\""),
        ("env {", "template {\n        data = \"x\"\n        destination = \"local/x\"\n      }\n      env {"),
        ("job \"web\" {", "job \"web\" {\n  type = \"batch\""),
    ] {
        let p = plan(Some(&job(BASE)), Some(&edit(from, to)));
        assert_eq!(
            fates(&p),
            vec![("web.site[0]".into(), Fate::Replace), ("web.site[1]".into(), Fate::Replace)],
            "{to}"
        );
        assert!(p.moves_instances());
    }
}

#[test]
fn a_replacing_change_shows_the_field_and_the_reason() {
    let p = plan(Some(&job(BASE)), Some(&edit("\"600\"", "\"700\"")));
    let t = &p.groups[0].tasks[0];
    assert_eq!(t.fate, Fate::Replace);
    assert_eq!(
        t.fields,
        vec![Field {
            sign: '~',
            path: "config.args".into(),
            old: Some("[\"600\"]".into()),
            new: Some("[\"700\"]".into())
        }]
    );
    assert!(
        render(&p).contains("    ~ task \"app\" (forces replacement)\n        ~ config.args: [\"600\"] => [\"700\"]\n")
    );
}

#[test]
fn added_and_removed_fields_have_their_signs() {
    let p = plan(Some(&job(BASE)), Some(&edit("A = \"1\"", "B = \"1\"")));
    let f = &p.groups[0].tasks[0].fields;
    assert!(f.contains(&Field { sign: '+', path: "env.B".into(), old: None, new: Some("\"1\"".into()) }), "{f:?}");
    assert!(f.contains(&Field { sign: '-', path: "env.A".into(), old: Some("\"1\"".into()), new: None }), "{f:?}");
}

#[test]
fn count_creates_and_removes_only_the_instances_beyond() {
    let up = plan(Some(&job(BASE)), Some(&edit("count = 2", "count = 3")));
    assert_eq!(
        fates(&up),
        vec![
            ("web.site[0]".into(), Fate::InPlace),
            ("web.site[1]".into(), Fate::InPlace),
            ("web.site[2]".into(), Fate::Create)
        ]
    );
    assert!(up.moves_instances(), "one is created");
    assert_eq!(
        render(&up),
        "~ job \"web\"\n  ~ group \"site\"\n      ~ count: 2 => 3\n  instances:\n    web.site[0]: update in place\n    web.site[1]: update in place\n    web.site[2]: create\n"
    );
    let down = plan(Some(&job(BASE)), Some(&edit("count = 2", "count = 1")));
    assert_eq!(fates(&down), vec![("web.site[0]".into(), Fate::InPlace), ("web.site[1]".into(), Fate::Remove)]);
    // A count change beside one that replaces: the kept ones are replaced.
    let replaced = plan(
        Some(&job(BASE)),
        Some(&job(&BASE.replace("count = 2", "count = 3").replace("args    = [\"600\"]", "args    = [\"601\"]"))),
    );
    assert_eq!(
        fates(&replaced),
        vec![
            ("web.site[0]".into(), Fate::Replace),
            ("web.site[1]".into(), Fate::Replace),
            ("web.site[2]".into(), Fate::Create)
        ]
    );
    // With a restart change too: the kept one in place, the new one created.
    let both = plan(
        Some(&job(BASE)),
        Some(&job(&BASE.replace("count = 2", "count = 3").replace("attempts = 2", "attempts = 4"))),
    );
    assert_eq!(
        fates(&both),
        vec![
            ("web.site[0]".into(), Fate::InPlace),
            ("web.site[1]".into(), Fate::InPlace),
            ("web.site[2]".into(), Fate::Create)
        ]
    );
}

#[test]
fn a_new_or_removed_task_replaces_the_instance() {
    let with = edit(
        "    task \"app\" {",
        "    task \"side\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n    }\n    task \"app\" {",
    );
    let p = plan(Some(&job(BASE)), Some(&with));
    assert!(p.instances.iter().all(|i| i.fate == Fate::Replace));
    assert!(p.groups[0].tasks.iter().any(|t| t.name == "side" && t.kind == Kind::Added));
    let back = plan(Some(&with), Some(&job(BASE)));
    assert!(back.groups[0].tasks.iter().any(|t| t.name == "side" && t.kind == Kind::Removed));
    assert!(back.instances.iter().all(|i| i.fate == Fate::Replace));
}

#[test]
fn new_and_removed_groups_and_jobs() {
    let more = job(&BASE.replacen(
        "  group \"site\" {",
        "  group \"extra\" {\n    task \"x\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n    }\n  }\n  group \"site\" {",
        1,
    ));
    let p = plan(Some(&job(BASE)), Some(&more));
    assert_eq!(fates(&p), vec![("web.extra[0]".into(), Fate::Create)]);
    let p = plan(Some(&more), Some(&job(BASE)));
    assert_eq!(fates(&p), vec![("web.extra[0]".into(), Fate::Remove)]);
    let p = plan(None, Some(&job(BASE)));
    assert_eq!(p.kind, Kind::Added);
    assert_eq!(fates(&p), vec![("web.site[0]".into(), Fate::Create), ("web.site[1]".into(), Fate::Create)]);
    assert!(render(&p).starts_with("+ job \"web\"\n  + group \"site\"\n    + task \"app\"\n"));
    let p = plan(Some(&job(BASE)), None);
    assert_eq!(p.kind, Kind::Removed);
    assert_eq!(fates(&p), vec![("web.site[0]".into(), Fate::Remove), ("web.site[1]".into(), Fate::Remove)]);
}

#[test]
fn a_changed_sensitive_value_replaces_without_showing_either_value() {
    let src = |v: &str| {
        format!(
            r#"variable "token" {{
  type = string
  default = "{v}"
  sensitive = true
}}
job "j" {{
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/echo"
        args = [var.token]
      }}
    }}
  }}
}}"#
        )
    };
    let p = plan(Some(&job(&src("old-secret"))), Some(&job(&src("new-secret"))));
    assert_eq!(fates(&p), vec![("j.g[0]".into(), Fate::Replace)]);
    let text = render(&p);
    assert!(!text.contains("secret"), "{text}");
    let json = serde_json::to_string(&p).expect("JSON");
    assert!(!json.contains("secret"), "{json}");
}

/// A template's splay is shown changed, not as a hidden value: every field
/// of a template is in the plan's text.
#[test]
fn a_changed_splay_is_shown_not_hidden() {
    let src = |splay: &str| {
        BASE.replace(
            "      env {\n",
            &format!("      template {{\n        data        = \"x\"\n        destination = \"local/x\"\n        splay       = \"{splay}\"\n      }}\n      env {{\n"),
        )
    };
    let p = plan(Some(&job(&src("5s"))), Some(&job(&src("10s"))));
    let text = render(&p);
    assert!(text.contains("splay") && text.contains("10s"), "{text}");
    assert!(!text.contains("sensitive or unshown"), "{text}");
}
