use super::*;
use crate::control::protocol::Envelope;

fn line(request: Request) -> Vec<u8> {
    serde_json::to_vec(&Envelope { version: VERSION, body: None, request }).expect("encodes")
}

fn decode(line: &[u8], uid: u32) -> Result<(Request, Option<u64>), DecodeError> {
    super::decode(line, uid, nix::unistd::geteuid().as_raw())
}

#[test]
fn anyone_may_read_and_only_root_or_supds_own_uid_may_change() {
    let me = nix::unistd::geteuid().as_raw();
    let other = me.wrapping_add(4242).max(1);
    assert!(decode(&line(Request::Status { target: None, events: None, brief: false }), other).is_ok());
    assert!(decode(&line(Request::Reload { dry_run: true }), other).is_ok());
    let stop = line(Request::JobStop { job: "web".into(), purge: false });
    let refused = decode(&stop, other).expect_err("a change from another uid");
    assert!(matches!(refused, DecodeError::Denied { .. }), "{refused}");
    assert!(refused.to_string().contains("permission denied"), "{refused}");
    assert!(decode(&stop, me).is_ok());
    assert!(decode(&stop, 0).is_ok());
}

#[test]
fn garbage_and_other_versions_are_refused_with_the_reason() {
    let r = decode(b"{not json", 0).expect_err("garbage");
    assert!(r.to_string().contains("malformed request"), "{r}");
    let mut v =
        serde_json::to_value(Envelope { version: VERSION, body: None, request: Request::Shutdown }).expect("encodes");
    v["version"] = serde_json::json!(VERSION + 1);
    let r = decode(v.to_string().as_bytes(), 0).expect_err("another version");
    assert!(matches!(r, DecodeError::Version(v) if v == VERSION + 1), "{r}");
    assert!(r.to_string().contains("not supported"), "{r}");
}

#[test]
fn tokens_are_never_handed_out_twice() {
    let mut t = Tokens::starting_at(3);
    let (a, b) = (t.next(), t.next());
    assert_eq!((a, b), (Token(3), Token(4)));
}
