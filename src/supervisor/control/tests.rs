use super::*;

fn lines(items: &[(Option<u64>, &str)]) -> Vec<(Option<u64>, Vec<u8>)> {
    items.iter().map(|(t, l)| (*t, l.as_bytes().to_vec())).collect()
}

#[test]
fn streams_merge_by_time_and_neither_is_reordered() {
    let out = lines(&[(Some(10), "o1"), (Some(30), "o2"), (None, "o3"), (Some(5), "o4")]);
    let err = lines(&[(Some(20), "e1"), (Some(30), "e2"), (Some(40), "e3")]);
    let merged: Vec<String> =
        merge_by_time(out, err).into_iter().map(|(_, _, l)| String::from_utf8(l).unwrap()).collect();
    // o3 (no time) and o4 (a clock set back) stay after o2, in order.
    assert_eq!(merged, ["o1", "e1", "o2", "o3", "o4", "e2", "e3"]);
}
