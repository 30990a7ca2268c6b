//! What two supd hosts say to each other about a hand-off (DESIGN §4):
//! the origin runs `supctl handoff serve` on a peer over ssh, writes one
//! request on its standard input, and reads one answer from its output.
//!
//! Every hand-off has an ID the origin makes (its job, group, index and
//! hand-off number); the peer keys what it runs by the origin (the ssh key's
//! `--from`) and that ID, so that an offer made twice runs once, and an
//! origin that heard no answer can ask what became of it — `settle` makes
//! the answer final: an ID the peer does not know is withdrawn there, and a
//! late offer of it is refused.

use super::Envelope;
use serde::{Deserialize, Serialize};

/// The protocol's version.
pub const PROTOCOL: u32 = 1;

/// The first line `supctl handoff serve` writes, before it reads anything:
/// an origin that never saw it knows that its request reached no supd.
pub const HELLO: &str = "supd-handoff-serve 1";

/// The start of the answer's line.
pub const ANSWER: &str = "supd-handoff-answer ";

/// A request is at most this large: an envelope and a little more.
pub const MAX_REQUEST: usize = super::MAX_ENVELOPE + 64 * 1024;

/// At most this many IDs in one status request.
pub const MAX_IDS: usize = 4096;

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Run the instance the envelope carries (its `id` names the hand-off).
    Offer { protocol: u32, envelope: Box<Envelope> },
    /// What became of these hand-offs; with `settle`, an ID the peer does
    /// not know is withdrawn, so that the answer stays true.
    Status {
        protocol: u32,
        ids: Vec<String>,
        #[serde(default)]
        settle: bool,
    },
    /// Stop the instance of this hand-off and forget it (the origin runs it
    /// elsewhere, or its operator stopped it); a later offer of it is
    /// refused.
    Stop { protocol: u32, id: String },
}

/// Why a request cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("hand-off request too large ({0} bytes, at most {MAX_REQUEST})")]
    TooLarge(usize),
    #[error("malformed hand-off request")]
    Malformed(#[source] serde_json::Error),
    #[error("hand-off protocol {0} is not spoken here (this supd speaks {PROTOCOL}): update the older supd")]
    Protocol(u32),
    #[error("a status request names {0} hand-offs, at most {MAX_IDS}")]
    TooMany(usize),
    #[error(transparent)]
    Envelope(#[from] super::EnvelopeError),
}

impl Request {
    /// Reads a request, checking what the peer needs before it looks at
    /// anything it holds.
    pub fn from_json(text: &[u8]) -> Result<Request, RequestError> {
        if text.len() > MAX_REQUEST {
            return Err(RequestError::TooLarge(text.len()));
        }
        Request::checked(serde_json::from_slice(text).map_err(RequestError::Malformed)?)
    }

    /// [`Request::from_json`], for one that came inside a control request.
    pub fn from_value(value: serde_json::Value) -> Result<Request, RequestError> {
        Request::checked(serde_json::from_value(value).map_err(RequestError::Malformed)?)
    }

    fn checked(r: Request) -> Result<Request, RequestError> {
        let protocol = match &r {
            Request::Offer { protocol, envelope } => {
                super::Envelope::checked((**envelope).clone())?;
                *protocol
            }
            Request::Status { protocol, ids, .. } => {
                if ids.len() > MAX_IDS {
                    return Err(RequestError::TooMany(ids.len()));
                }
                *protocol
            }
            Request::Stop { protocol, .. } => *protocol,
        };
        if protocol != PROTOCOL {
            return Err(RequestError::Protocol(protocol));
        }
        Ok(r)
    }

    /// The request as it travels, refused when a peer would refuse it for
    /// its size: checked before anything is sent.
    pub fn encode(&self) -> Result<Vec<u8>, RequestError> {
        let bytes = serde_json::to_vec(self).map_err(RequestError::Malformed)?;
        if bytes.len() > MAX_REQUEST {
            return Err(RequestError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }
}

/// What became of a hand-off on the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Taken; its tasks are starting.
    Pending,
    Running,
    /// A batch instance that ended well.
    Complete,
    /// It failed there (and the peer does not move it on: its origin does).
    Failed,
    /// The peer's operator stopped it.
    Stopped,
    /// The offer was refused (the message says why).
    Refused,
    /// The peer holds nothing of it (never had it, lost it, or forgot it).
    Unknown,
}

impl State {
    /// Whether the peer holds the instance (running, or about to).
    pub fn taken(self) -> bool {
        matches!(self, State::Pending | State::Running | State::Complete)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Complete => "complete",
            State::Failed => "failed",
            State::Stopped => "stopped",
            State::Refused => "refused",
            State::Unknown => "unknown",
        }
    }
}

/// What the peer says of one hand-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub state: State,
    /// Why (a refusal, a failure), or what was done.
    #[serde(default)]
    pub message: String,
}

/// The peer's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub protocol: u32,
    /// The node that answers.
    pub node: String,
    /// One per ID asked about (one for an offer or a stop).
    #[serde(default)]
    pub outcomes: Vec<Outcome>,
    /// The whole request was refused (who asked, or what), and why.
    #[serde(default)]
    pub error: Option<String>,
    /// supd on the peer did not get the request (it is not running, or its
    /// socket cannot be reached), and why: nothing was done there, and
    /// nothing is known of earlier requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
}

impl Answer {
    /// The answer's line, as `handoff serve` writes it.
    pub fn line(&self) -> String {
        format!("{ANSWER}{}", serde_json::to_string(self).unwrap_or_else(|_| "{}".into()))
    }

    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.id == id)
    }
}

/// What an origin heard from one run of the ssh hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// `handoff serve` started on the peer: the request may have reached
    /// its supd, even without an answer.
    pub hello: bool,
    pub answer: Option<Answer>,
}

/// Reads the hook's output (ssh's own messages, then the peer's lines).
pub fn hear(output: &[u8]) -> Heard {
    let text = String::from_utf8_lossy(output);
    let hello = text.lines().any(|l| l.trim_end() == HELLO);
    let answer = text.lines().rev().find_map(|l| l.strip_prefix(ANSWER)).and_then(|j| serde_json::from_str(j).ok());
    Heard { hello, answer }
}

/// The ID of the `n`th hand-off of an instance, as its origin names it:
/// `nonce` (random, made for each attempt) keeps it unique when the same
/// number comes again (the instance was taken back, or the job run anew).
pub fn handoff_id(job: &str, group: &str, index: u32, n: u32, nonce: &str) -> String {
    format!("{job}/{group}/{index}/{n}-{nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            version: super::super::VERSION,
            id: handoff_id("web", "g", 0, 1, "0a1b2c3d"),
            job: "web".into(),
            source: "job \"web\" {}".into(),
            file: "web.hcl".into(),
            group: "g".into(),
            index: 0,
            origin: "a".into(),
            attempt: 1,
            history: Vec::new(),
        }
    }

    #[test]
    fn requests_round_trip_and_bad_ones_say_why() {
        let offer = Request::Offer { protocol: PROTOCOL, envelope: Box::new(envelope()) };
        let text = offer.encode().unwrap();
        assert!(String::from_utf8_lossy(&text).starts_with(r#"{"op":"offer","protocol":1,"#));
        assert_eq!(Request::from_json(&text).unwrap(), offer);
        let status = Request::Status { protocol: PROTOCOL, ids: vec!["web/g/0/1".into()], settle: true };
        assert_eq!(Request::from_json(&status.encode().unwrap()).unwrap(), status);
        let stop: Request = Request::from_json(br#"{"op":"stop","protocol":1,"id":"x"}"#).unwrap();
        assert_eq!(stop, Request::Stop { protocol: 1, id: "x".into() });
        let err = Request::from_json(br#"{"op":"stop","protocol":2,"id":"x"}"#).unwrap_err().to_string();
        assert!(err.contains("protocol 2 is not spoken here"), "{err}");
        let err = Request::from_json(br#"{"op":"run","protocol":1}"#).unwrap_err();
        assert!(crate::error_chain(&err).contains("unknown variant `run`"), "{}", crate::error_chain(&err));
        let many = Request::Status { protocol: 1, ids: vec![String::new(); MAX_IDS + 1], settle: false };
        assert!(Request::from_json(&serde_json::to_vec(&many).unwrap()).unwrap_err().to_string().contains("at most"));
        // The envelope inside an offer is checked as an envelope.
        let mut bad = envelope();
        bad.version = 99;
        let offer = Request::Offer { protocol: PROTOCOL, envelope: Box::new(bad) };
        let err = Request::from_json(&serde_json::to_vec(&offer).unwrap()).unwrap_err().to_string();
        assert!(err.contains("version 99"), "{err}");
    }

    #[test]
    fn an_offer_too_large_for_a_peer_is_refused_before_it_is_sent() {
        let mut e = envelope();
        e.source = "\n".repeat(10 << 20);
        let err = Request::Offer { protocol: PROTOCOL, envelope: Box::new(e) }.encode().unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn the_origin_hears_the_hello_and_the_answer_among_ssh_noise() {
        let answer = Answer {
            protocol: PROTOCOL,
            node: "b".into(),
            outcomes: vec![Outcome { id: "web/g/0/1".into(), state: State::Running, message: String::new() }],
            error: None,
            unreachable: None,
        };
        let out = format!("Warning: Permanently added 'x'\r\n{HELLO}\n{}\n", answer.line());
        let heard = hear(out.as_bytes());
        assert!(heard.hello);
        assert_eq!(heard.answer.as_ref().and_then(|a| a.outcome("web/g/0/1")).map(|o| o.state), Some(State::Running));
        // Started, then cut off: it may have arrived.
        let heard = hear(format!("{HELLO}\n").as_bytes());
        assert!(heard.hello && heard.answer.is_none());
        // ssh alone: nothing reached the peer's supd.
        let heard = hear(b"ssh: connect to host 127.0.0.3 port 22: Connection refused\r\n");
        assert!(!heard.hello && heard.answer.is_none());
        // A garbled answer is no answer.
        assert!(hear(format!("{HELLO}\n{ANSWER}{{\"protocol\"\n").as_bytes()).answer.is_none());
    }

    #[test]
    fn ids_name_job_group_index_and_number() {
        assert_eq!(handoff_id("web", "g", 2, 3, "0a1b2c3d"), "web/g/2/3-0a1b2c3d");
        assert!(State::Running.taken() && State::Pending.taken() && !State::Unknown.taken());
    }
}
