use super::*;

#[test]
fn the_check_line_names_this_carry_and_state() {
    let a: Abilities = serde_json::from_str(&abilities_line()).unwrap();
    assert!((a.carry[0]..=a.carry[1]).contains(&CARRY_VERSION));
    assert_eq!(a.state, crate::state::VERSION);
    assert_eq!(a.supd, env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_binary_that_is_not_supd_is_refused_with_the_reason() {
    let e = check_binary(std::path::Path::new("/bin/true"), &[]).unwrap_err();
    assert!(e.to_string().contains("not a supd"), "{e}");
    let e = check_binary(std::path::Path::new("/nonexistent/supd"), &[]).unwrap_err();
    assert!(matches!(e, BinaryError::Run(_)), "{e}");
    assert!(e.to_string().contains("cannot run it"), "{e}");
}

#[test]
fn a_carry_reads_back() {
    let c = Carry {
        version: CARRY_VERSION,
        from: "0.1.0".into(),
        listener: 7,
        files: vec![CarriedFile { path: "/j/a.hcl".into(), jobs: vec!["job \"a\" {}".into()] }],
        ..Carry::default()
    };
    let back: Carry = serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap();
    assert_eq!(back.listener, 7);
    assert_eq!(back.files[0].jobs, c.files[0].jobs);
}
