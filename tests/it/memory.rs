//! supd's own memory: what start-up alone needed is given back.
//!
//! One test in a binary of its own: other tests running beside it on other
//! threads would map code again while it measures.

use supd::process::sys::release_startup_code;

/// Resident kB of this executable's mappings that nothing wrote.
fn own_code_rss() -> u64 {
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let (mut ours, mut total) = (false, 0);
    for line in smaps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first().is_some_and(|r| r.contains('-') && !r.ends_with(':')) && f.len() >= 5 {
            ours = f.get(5) == exe.to_str().as_ref() && !f[1].contains('w');
        } else if ours && f.first() == Some(&"Rss:") {
            total += f[1].parse::<u64>().unwrap();
        }
    }
    total
}

#[test]
fn startup_code_is_unmapped_and_runs_again() {
    let before = own_code_rss();
    release_startup_code();
    let after = own_code_rss();
    assert!(after < before, "code still mapped: {after} kB of {before} kB");
    // What runs next maps itself again: this very test goes on.
    let again = format!("{:?}", std::fs::read_link("/proc/self/exe").map(|p| p.exists()));
    assert_eq!(again, "Ok(true)");
    // A later call (supd makes one once large answers stop) drops again
    // what ran since, from the ranges found the first time.
    let mapped = own_code_rss();
    assert!(mapped > 0, "what ran since the first call is mapped again");
    release_startup_code();
    let dropped = own_code_rss();
    assert!(dropped < mapped, "code still mapped after a second call: {dropped} kB of {mapped} kB");
}
