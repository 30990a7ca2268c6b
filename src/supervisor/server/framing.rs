//! The reading and framing of a client's request: its line (framed in
//! linear time, at most `MAX_LINE`), the body that follows a `job run` or
//! hand-off line, and what they came to.

use super::{BodyOf, Client, Phase, decode};
use crate::control::protocol::{MAX_BODY, MAX_LINE, Request};
use std::io::{ErrorKind, Read};
use std::time::Instant;

/// What a client that was answered may still send (and is thrown away)
/// before it is disconnected.
const MAX_DISCARD: usize = 64 << 10;

/// Reads what a client sent until its socket has nothing more, or what it
/// sent comes to something (a request, a refusal, the end).
pub(super) fn read_available(c: &mut Client, me: u32) -> Got {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match c.stream.read(&mut buf) {
            Ok(0) => break Got::Closed,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Got::More,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break Got::Closed,
        };
        c.last_read = Instant::now();
        if let Some(got) = take_bytes(c, &buf[..n], me) {
            break got;
        }
    }
}

/// Takes bytes just read from a client into its request, by its phase:
/// what they came to, or `None` to read on.
fn take_bytes(c: &mut Client, bytes: &[u8], me: u32) -> Option<Got> {
    let n = bytes.len();
    match &mut c.phase {
        Phase::Read => {
            // Nothing more is read from a client that was answered;
            // one that keeps sending is not kept.
            c.discarded += n;
            if c.discarded > MAX_DISCARD {
                return Some(Got::Closed);
            }
        }
        Phase::Line => {
            // Only the new bytes are searched: framing is linear
            // in what the client sends.
            let Some(i) = bytes.iter().position(|b| *b == b'\n') else {
                if c.rbuf.len() + n > MAX_LINE {
                    return Some(Got::TooLong);
                }
                c.rbuf.extend_from_slice(bytes);
                return None;
            };
            if c.rbuf.len() + i > MAX_LINE {
                return Some(Got::TooLong);
            }
            c.rbuf.extend_from_slice(&bytes[..i]);
            let line = std::mem::take(&mut c.rbuf);
            if let Some(got) = on_line(c, &line, &bytes[i + 1..], me) {
                return Some(got);
            }
        }
        Phase::Body { want, data, .. } => {
            let take = n.min(*want - data.len());
            data.extend_from_slice(&bytes[..take]);
        }
    }
    body_done(c)
}

/// Decodes a complete request line; for one that a body follows, the
/// client goes on to read it (`rest`: what came after the line) and
/// `None` is returned.
fn on_line(c: &mut Client, line: &[u8], rest: &[u8], me: u32) -> Option<Got> {
    match decode(line, c.uid, me) {
        Err(refusal) => Some(Got::Refused(refusal.to_string())),
        Ok((request, None)) => Some(Got::Request(request)),
        Ok((Request::JobRun { file, plan, .. }, Some(len))) => {
            if len > MAX_BODY {
                return Some(Got::Refused(format!(
                    "{file}: the job file is {len} bytes; supd takes job files of at most {} MiB",
                    MAX_BODY >> 20
                )));
            }
            let want = len as usize;
            let data = rest[..rest.len().min(want)].to_vec();
            c.phase = Phase::Body { of: BodyOf::Job { file, plan }, want, data };
            None
        }
        Ok((Request::Handoff { from, .. }, Some(len))) => {
            // An offer carries the job's source: as large
            // as a job file, and a little more.
            if len > crate::handoff::wire::MAX_REQUEST as u64 {
                return Some(Got::Refused(format!(
                    "the hand-off request is {len} bytes; supd takes requests of at most {} MiB",
                    crate::handoff::wire::MAX_REQUEST >> 20
                )));
            }
            let want = len as usize;
            let data = rest[..rest.len().min(want)].to_vec();
            c.phase = Phase::Body { of: BodyOf::Handoff { from }, want, data };
            None
        }
        Ok(_) => Some(Got::Refused("only `job run` and hand-offs send a body after their line".into())),
    }
}

/// A body read to its length: the request it completes, or why it is
/// refused. `None` while the client is not done sending one.
fn body_done(c: &mut Client) -> Option<Got> {
    if let Phase::Body { of, want, data } = &mut c.phase
        && data.len() >= *want
    {
        let data = std::mem::take(data);
        return Some(match std::mem::replace(of, BodyOf::Handoff { from: String::new() }) {
            BodyOf::Job { file, plan } => match String::from_utf8(data) {
                Ok(source) => Got::Request(Request::JobRun { source, file, plan }),
                Err(e) => Got::Refused(format!(
                    "{file}: the job file is not UTF-8 (byte {} is not valid) — save it as UTF-8",
                    e.utf8_error().valid_up_to()
                )),
            },
            BodyOf::Handoff { from } => match serde_json::from_slice(&data) {
                Ok(request) => Got::Request(Request::Handoff { from, request }),
                Err(e) => Got::Refused(format!("the hand-off request is not JSON: {e}")),
            },
        });
    }
    None
}

/// What reading a client came to.
pub(super) enum Got {
    /// Nothing complete yet.
    More,
    Closed,
    TooLong,
    Refused(String),
    Request(Request),
}
