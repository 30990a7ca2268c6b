//! Nomad's validation rules: restart, reschedule, durations, constraint
//! forms, and where a problem is reported.

use super::*;

// Reference §7 case 7 and §1.4.
#[test]
fn restart_rules() {
    let e = errors(&wrap(
        "service",
        r#"restart {
      attempts = 0
      mode     = "delay"
    }"#,
        "",
    ));
    assert!(e.len() == 1 && e[0].contains("ambiguous"), "{e:?}");
    let w = warnings(&wrap(
        "service",
        r#"restart {
      interval = "4s"
      delay    = "1s"
    }"#,
        "",
    ));
    assert!(w.iter().any(|m| m.contains("below 5s")), "{w:?}");
    let e = errors(&wrap(
        "service",
        r#"restart {
      attempts = 3
      delay    = "15s"
      interval = "30s"
    }"#,
        "",
    ));
    assert_eq!(
        e,
        [
            "Nomad can't restart the task group 3 times in an interval of 30s with a delay of 15s — set interval to at least 45s, or lower attempts or delay"
        ]
    );
    let e = errors(&wrap("service", r#"restart { mode = "retry" }"#, ""));
    assert!(e[0].starts_with("invalid mode \"retry\""), "{e:?}");
    // The rule applies to the merged policy a task ends up with.
    let e = errors(&wrap("service", r#"restart { interval = "1m" }"#, r#"restart { attempts = 5 }"#));
    assert!(e.len() == 1 && e[0].starts_with("Nomad can't restart the task 5 times in an interval of 1m0s"), "{e:?}");
    // delay = 0 is legal; interval 0 is not when attempts count.
    assert!(errors(&wrap("service", r#"restart { delay = "0s" }"#, "")).is_empty());
    let e = errors(&wrap(
        "service",
        r#"restart {
      interval = "0s"
      delay    = "0s"
    }"#,
        "",
    ));
    assert!(e[0].contains("interval is 0"), "{e:?}");
}

// Reference §7 case 24 and §3.1.
#[test]
fn reschedule_rules() {
    let e = errors(&wrap(
        "service",
        r#"reschedule {
      attempts = 3
      interval = "1h"
    }"#,
        "",
    ));
    assert!(e.len() == 1 && e[0].contains("ambiguous") && e[0].contains("unlimited = false"), "{e:?}");
    assert!(
        errors(&wrap(
            "service",
            r#"reschedule {
      attempts  = 3
      interval  = "1h"
      unlimited = false
    }"#,
            ""
        ))
        .is_empty()
    );
    // Disabled: attempts = 0 and unlimited = false, nothing else checked.
    let j = job(&wrap(
        "service",
        r#"reschedule {
      attempts  = 0
      unlimited = false
      delay     = "1s"
    }"#,
        "",
    ));
    assert!(!j.groups[0].reschedule.unwrap().enabled());
    let e = errors(&wrap("system", r#"reschedule { delay = "30s" }"#, ""));
    assert!(e.len() == 1 && e[0].starts_with("system jobs cannot have a reschedule policy"), "{e:?}");
    let e = errors(&wrap(
        "service",
        r#"reschedule {
      delay     = "10m"
      max_delay = "5m"
    }"#,
        "",
    ));
    assert!(e[0].contains("max_delay 5m0s is below delay 10m0s"), "{e:?}");
    let e = errors(&wrap(
        "batch",
        r#"reschedule {
      attempts = 5
      interval = "1m"
      delay    = "30s"
    }"#,
        "",
    ));
    assert!(
        e[0].starts_with("only 2 of 5 reschedule attempts fit in 1m0s") && e[0].ends_with("at least 2m30s"),
        "{e:?}"
    );
    let w = warnings(&wrap("batch", r#"reschedule { delay = "1s" }"#, ""));
    assert!(w.iter().any(|m| m.contains("below 5s")), "{w:?}");
}

#[test]
fn viable_attempts_follow_nomad() {
    use super::super::decode::viable_attempts;
    let p = |attempts, interval, delay, f, max| ReschedulePolicy {
        attempts,
        interval: S(interval),
        delay: S(delay),
        delay_function: f,
        max_delay: S(max),
        unlimited: false,
    };
    assert_eq!(viable_attempts(&p(3, 90, 30, DelayFunction::Constant, 0)), (true, 0, S(90)));
    assert_eq!(viable_attempts(&p(4, 90, 30, DelayFunction::Constant, 0)), (false, 3, S(120)));
    // exponential 5, 10, 20, 40: the last delay must fit below the interval.
    assert!(viable_attempts(&p(4, 41, 5, DelayFunction::Exponential, 3600)).0);
    assert_eq!(viable_attempts(&p(4, 40, 5, DelayFunction::Exponential, 3600)), (false, 3, S(40)));
    // fibonacci 5, 5, 10, 15, then 25 is capped at 20 and the rest grows
    // by the cap: 5, 5, 10, 15, 20, 40.
    assert_eq!(viable_attempts(&p(6, 30, 5, DelayFunction::Fibonacci, 20)), (false, 5, S(40)));
    assert!(viable_attempts(&p(6, 40, 5, DelayFunction::Fibonacci, 20)).0);
}

// Reference §7 case 25 and §4.6.
#[test]
fn durations_in_job_files() {
    let w = warnings(&wrap("service", r#"reschedule { max_delay = "1hr" }"#, ""));
    assert!(w.iter().any(|m| m.contains("\"hr\"")), "{w:?}");
    let j = job(&wrap("service", r#"reschedule { max_delay = "1hr" }"#, ""));
    assert_eq!(j.groups[0].reschedule.unwrap().max_delay, S(3600));
    let e = errors(&wrap("service", r#"restart { delay = 30 }"#, ""));
    assert!(e[0].contains("no unit") && e[0].contains("\"30s\""), "{e:?}");
    let j = job(&wrap(
        "service",
        r#"restart {
      interval = "1h30m"
      delay    = "1.5s"
    }"#,
        r#"kill_timeout = "250ms""#,
    ));
    assert_eq!(j.groups[0].restart.interval, S(5400));
    assert_eq!(j.groups[0].restart.delay, Duration::from_millis(1500));
    assert_eq!(j.groups[0].tasks[0].kill_timeout, Duration::from_millis(250));
}

#[test]
fn constraint_forms() {
    let src = r#"job "j" {
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  constraint {
    attribute = "${attr.kernel.version}"
    version   = ">= 3.19"
  }
  constraint { distinct_hosts = true }
  constraint {
    distinct_property = "${meta.rack}"
    value             = "2"
  }
  constraint {
    attribute = "${meta.gpu}"
    operator  = "is_not_set"
  }
  group "g" {
    task "t" {
      driver = "exec"
      config { command = "/bin/true" }
    }
  }
}"#;
    let j = job(src);
    let ops: Vec<(Operator, &str, &str)> =
        j.constraints.iter().map(|c| (c.operator, c.attribute.as_str(), c.value.as_str())).collect();
    assert_eq!(
        ops,
        [
            (Operator::Equal, "${attr.kernel.name}", "linux"),
            (Operator::Version, "${attr.kernel.version}", ">= 3.19"),
            (Operator::DistinctHosts, "", ""),
            (Operator::DistinctProperty, "${meta.rack}", "2"),
            (Operator::IsNotSet, "${meta.gpu}", ""),
        ]
    );
    assert_eq!(j.constraints[1].pos.line, 6);
}

#[test]
fn positions_point_at_the_problem() {
    let src = wrap("service", "restart {\n      atempts = 2\n    }", "");
    let p = parse(&src);
    let d = &p.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(5), Some(7)));
    assert_eq!(d.message, "unknown key `atempts` in restart — did you mean `attempts`?");
}
