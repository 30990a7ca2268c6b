use super::*;

fn found(list: &[(&str, Option<i32>, Option<&str>)]) -> Containers {
    let mut c = Containers::default();
    let slot = (docker::DOCKER.driver(), "j".to_string(), "g".to_string(), 0, "t".to_string());
    let at = |t: &str| crate::timefmt::parse_rfc3339(t).expect("a time");
    let list = list.iter().map(|(id, pid, end)| (id.to_string(), *pid, end.map(at))).collect();
    c.found.insert(slot, list);
    c
}

#[test]
fn a_running_container_is_claimed_first_then_the_last_that_ended_if_the_run_was_going() {
    let ended = [
        ("made-ahead", None, None),
        ("old", None, Some("2026-12-06T02:11:36Z")),
        ("last", None, Some("2026-12-06T02:11:36.25Z")),
    ];
    let any = Some(std::time::UNIX_EPOCH);
    let mut c = found(&[ended[0], ("runs", Some(42), None), ended[1], ended[2]]);
    assert_eq!(c.claim(docker::DOCKER.driver(), ("j", "g", 0, "t"), any), Some(("runs".to_string(), Some(42))));
    let mut c = found(&ended);
    assert_eq!(c.claim(docker::DOCKER.driver(), ("j", "g", 0, "t"), None), None, "a run that was not going");
    assert_eq!(c.claim(docker::DOCKER.driver(), ("j", "g", 0, "t"), any), Some(("last".to_string(), None)));
    assert_eq!(c.claim(docker::PODMAN.driver(), ("j", "g", 0, "t"), any), None);
    let mut c = found(&ended[..1]);
    assert_eq!(c.claim(docker::DOCKER.driver(), ("j", "g", 0, "t"), any), None, "one that never ran is not claimed");
    // The run restarted after its last container ended: that container
    // was the earlier run's, not this one's.
    let restarted = crate::timefmt::parse_rfc3339("2026-12-06T02:11:37Z");
    let mut c = found(&ended);
    assert_eq!(c.claim(docker::DOCKER.driver(), ("j", "g", 0, "t"), restarted), None, "an earlier run's container");
}
