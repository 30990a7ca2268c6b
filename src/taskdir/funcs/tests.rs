use super::data::{from_json, to_json};
use super::strings::title;
use super::time::format_time;
use std::time::Duration;

#[test]
fn go_time_layouts() {
    // 2024-02-29T13:05:09.123456789Z, a Thursday.
    let t = Duration::new(1_709_211_909, 123_456_789);
    assert_eq!(format_time(t, "2006-01-02T15:04:05Z07:00"), "2024-02-29T13:05:09Z");
    assert_eq!(format_time(t, "Mon Jan _2 3:04PM MST 2006"), "Thu Feb 29 1:05PM UTC 2024");
    assert_eq!(format_time(t, "Monday, January 2 06 .000"), "Thursday, February 29 24 .123");
    assert_eq!(format_time(Duration::ZERO, "2006-01-02 15:04:05 -0700"), "1970-01-01 00:00:00 +0000");
    assert_eq!(format_time(Duration::from_secs(951_782_400), "2006-01-02"), "2000-02-29");
}

#[test]
fn json_round_trip() {
    let v = from_json(serde_json::json!({"b": [1, 2.5, "x", null, true], "a": {"n": 18446744073709551615u64}}));
    assert_eq!(
        serde_json::to_string(&to_json(&v)).unwrap(),
        r#"{"a":{"n":18446744073709551615},"b":[1,2.5,"x",null,true]}"#
    );
}

#[test]
fn titles() {
    assert_eq!(title("hello big  world"), "Hello Big  World");
}
