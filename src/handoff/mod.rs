//! Handing a failed instance to a peer host (DESIGN §3, §4): the envelope
//! that carries it, the order in which peers are tried, the command lines
//! and variables of the ssh and command hooks, and the job's HCL reduced to
//! the failed group. Pure: the supervisor runs the hooks.
//!
//! Nothing from a job ever reaches a command line: the job travels on the
//! hook's stdin, and the ssh command line holds only what supd.toml says.

use crate::config::Peer;
use crate::jobspec::duration::GoDuration;
use crate::policy::reschedule;
use crate::timefmt::{parse_rfc3339, rfc3339};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

pub mod wire;

/// The envelope's format version (2: it carries the hand-off's ID).
pub const VERSION: u32 = 2;

/// An envelope larger than this is refused (the job's HCL is inside): a
/// job file's largest size and a request line's, what the control socket
/// takes as a hand-off's body.
pub const MAX_ENVELOPE: usize = (crate::control::protocol::MAX_BODY as usize) + crate::control::protocol::MAX_LINE;

/// What travels to the peer on the hook's stdin, as one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub version: u32,
    /// The hand-off's ID, as its origin names it ([`wire::handoff_id`]).
    #[serde(default)]
    pub id: String,
    /// The job's ID.
    pub job: String,
    /// The job's HCL, as written (the job's block of its file).
    pub source: String,
    /// The name the job goes by at its origin (its file), for messages.
    pub file: String,
    /// The failed group and instance.
    pub group: String,
    pub index: u32,
    /// The node that hands it off.
    pub origin: String,
    /// 1 for the first hand-off of this failure chain, then 2, …
    pub attempt: u32,
    /// Every earlier hand-off that still counts, oldest first, and this one
    /// last.
    pub history: Vec<HistoryEntry>,
}

/// One hand-off (or one attempt at it that no peer took).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// RFC 3339.
    pub time: String,
    /// The node the instance failed on.
    pub from: String,
    /// The peer that took it; `None` when no peer did.
    #[serde(default)]
    pub to: Option<String>,
    /// The delay waited before this hand-off, as a Go duration.
    pub delay: String,
    /// Why the instance left (or why nobody took it).
    pub reason: String,
    /// Its number in the instance's chain of hand-offs, 1 for the first;
    /// it goes on when older entries are no longer kept. 0 (or absent) in a
    /// history written before the numbers were kept.
    #[serde(default)]
    pub attempt: u32,
}

impl HistoryEntry {
    pub fn new(time: SystemTime, from: &str, to: Option<&str>, delay: Duration, reason: &str) -> HistoryEntry {
        HistoryEntry {
            time: rfc3339(time),
            from: from.to_string(),
            to: to.map(str::to_string),
            delay: GoDuration(delay).to_string(),
            reason: reason.to_string(),
            attempt: 0,
        }
    }

    /// As the reschedule policy counts it.
    pub fn to_policy(&self) -> Result<reschedule::Event, EnvelopeError> {
        let time = parse_rfc3339(&self.time).ok_or_else(|| EnvelopeError::BadTime(self.time.clone()))?;
        let delay = crate::jobspec::duration::parse(&self.delay)
            .map_err(|why| EnvelopeError::BadDelay { delay: self.delay.clone(), why: why.to_string() })?
            .value;
        Ok(reschedule::Event {
            time,
            node: self.from.clone(),
            delay,
            reason: self.reason.clone(),
            attempt: self.attempt,
        })
    }
}

/// Why a hand-off envelope cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("hand-off envelope too large ({0} bytes, at most {MAX_ENVELOPE})")]
    TooLarge(usize),
    #[error("malformed hand-off envelope")]
    Malformed(#[source] serde_json::Error),
    #[error("hand-off envelope version {0} is not supported (this supd reads {VERSION}): update the older supd")]
    Version(u32),
    #[error("bad time {0:?} in the history (RFC 3339 expected)")]
    BadTime(String),
    #[error("bad delay {delay:?} in the history: {why}")]
    BadDelay { delay: String, why: String },
}

/// Why a job cannot be reduced to its failed group.
#[derive(Debug, thiserror::Error)]
pub enum ReduceError {
    #[error("the job's HCL does not parse")]
    Parse(#[source] hcl_edit::parser::Error),
    #[error("the job has no group {0:?}")]
    NoGroup(String),
}

impl Envelope {
    /// The envelope as it travels, refused when a peer would refuse it
    /// for its size: checked before anything is sent.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        let bytes = serde_json::to_vec(self).map_err(EnvelopeError::Malformed)?;
        if bytes.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Reads an envelope, checking what a peer needs before it runs anything.
    pub fn from_json(text: &[u8]) -> Result<Envelope, EnvelopeError> {
        if text.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::TooLarge(text.len()));
        }
        Envelope::checked(serde_json::from_slice(text).map_err(EnvelopeError::Malformed)?)
    }

    /// [`Envelope::from_json`], for one that came inside a control request.
    pub fn from_value(value: serde_json::Value) -> Result<Envelope, EnvelopeError> {
        Envelope::checked(serde_json::from_value(value).map_err(EnvelopeError::Malformed)?)
    }

    pub(crate) fn checked(e: Envelope) -> Result<Envelope, EnvelopeError> {
        if e.version != VERSION {
            return Err(EnvelopeError::Version(e.version));
        }
        e.policy_history()?;
        Ok(e)
    }

    /// The history as the reschedule policy counts it.
    pub fn policy_history(&self) -> Result<Vec<reschedule::Event>, EnvelopeError> {
        self.history.iter().map(HistoryEntry::to_policy).collect()
    }
}

/// How many hand-offs an instance has had (as [`reschedule::made`]): the
/// number of the newest entry, or the length of a history without numbers.
pub fn made(history: &[HistoryEntry]) -> u32 {
    history.iter().zip(1..).map(|(h, position)| h.attempt.max(position)).max().unwrap_or(0)
}

/// The history with `new` added and numbered, keeping what can still
/// matter (as [`reschedule::carry`]): the entries inside `interval` for a
/// limited policy, the last five for an unlimited one. Entries whose time
/// cannot be read are dropped.
pub fn carry(
    p: Option<&crate::jobspec::model::ReschedulePolicy>,
    history: &[HistoryEntry],
    mut new: HistoryEntry,
) -> Vec<HistoryEntry> {
    new.attempt = made(history) + 1;
    let Some(p) = p else {
        let mut all = history.to_vec();
        all.push(new);
        return all;
    };
    let (Ok(events), Ok(newest)) =
        (history.iter().map(HistoryEntry::to_policy).collect::<Result<Vec<_>, _>>(), new.to_policy())
    else {
        return vec![new];
    };
    let kept = reschedule::carry(p, &events, newest);
    // carry keeps a suffix-preserving subset: match it back by position.
    let mut out: Vec<HistoryEntry> = history
        .iter()
        .zip(&events)
        .filter(|(_, e)| kept[..kept.len() - 1].contains(e))
        .map(|(h, _)| h.clone())
        .collect();
    out.push(new);
    out
}

/// The order in which to try the peers: first those the instance has never
/// been on or sent to (in supd.toml's order), then the others, least
/// recently tried first. This node itself is never a target.
pub fn order_peers(peers: &[Peer], history: &[HistoryEntry], me: &str) -> Vec<usize> {
    let last_seen = |name: &str| history.iter().rposition(|h| h.from == name || h.to.as_deref() == Some(name));
    let mut fresh = Vec::new();
    let mut seen = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        if p.name == me {
            continue;
        }
        match last_seen(&p.name) {
            None => fresh.push(i),
            Some(at) => seen.push((at, i)),
        }
    }
    seen.sort();
    fresh.extend(seen.into_iter().map(|(_, i)| i));
    fresh
}

/// The ssh command line of the `ssh` hook: options from supd.toml only,
/// then the remote command, which reads the envelope from stdin.
pub fn ssh_argv(peer: &Peer, connect_timeout: Duration, insecure_host_keys: bool) -> Vec<String> {
    let mut argv: Vec<String> = vec!["ssh".into(), "-o".into(), "BatchMode=yes".into()];
    if !insecure_host_keys {
        // ssh keeps the first value of an option: no later one can turn
        // host key checking off.
        argv.extend(["-o".into(), "StrictHostKeyChecking=yes".into()]);
    }
    argv.extend(["-o".into(), format!("ConnectTimeout={}", connect_timeout.as_secs().max(1)), "-T".into()]);
    if let Some(port) = peer.port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    if let Some(key) = &peer.identity_file {
        argv.extend(["-i".into(), key.display().to_string()]);
    }
    for o in &peer.ssh_options {
        argv.extend(["-o".into(), o.clone()]);
    }
    let target = match &peer.user {
        Some(u) => format!("{u}@{}", peer.host),
        None => peer.host.clone(),
    };
    // `--` ends ssh's options: the host can never be read as one.
    argv.extend(["--".into(), target]);
    let supctl = peer.supctl.clone().unwrap_or_else(|| "supctl".into());
    argv.push(format!("{supctl} handoff serve"));
    argv
}

/// The variables a hook gets, naming what is handed off and to whom.
pub fn hook_env(e: &Envelope, peer: Option<&Peer>) -> Vec<(String, String)> {
    let mut v = vec![
        ("SUPD_HANDOFF_JOB".to_string(), e.job.clone()),
        ("SUPD_HANDOFF_GROUP".into(), e.group.clone()),
        ("SUPD_HANDOFF_INDEX".into(), e.index.to_string()),
        ("SUPD_HANDOFF_ATTEMPT".into(), e.attempt.to_string()),
        ("SUPD_HANDOFF_ORIGIN".into(), e.origin.clone()),
        ("SUPD_HANDOFF_ID".into(), e.id.clone()),
    ];
    if let Some(p) = peer {
        v.push(("SUPD_HANDOFF_PEER".into(), p.name.clone()));
        v.push(("SUPD_HANDOFF_PEER_HOST".into(), p.host.clone()));
        if let Some(port) = p.port {
            v.push(("SUPD_HANDOFF_PEER_PORT".into(), port.to_string()));
        }
        if let Some(u) = &p.user {
            v.push(("SUPD_HANDOFF_PEER_USER".into(), u.clone()));
        }
    }
    v
}

/// A hook's reason for refusing, from what it wrote: the last lines, at
/// most 400 characters, ssh's banner noise aside.
pub fn reason(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added")).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join("; ");
    if tail.chars().count() > 400 {
        let skip = tail.chars().count() - 400;
        format!("…{}", tail.chars().skip(skip).collect::<String>())
    } else {
        tail
    }
}

/// The job's HCL with only `group` left in it, its `count` set to 1: the
/// failed instance alone, for a hook that submits it elsewhere (`nomad job
/// run -`). Comments and layout of what is kept stay as written, but for
/// the list of sensitive values supd keeps at the top: a hook never sees it.
pub fn reduce_to_group(source: &str, group: &str) -> Result<String, ReduceError> {
    use hcl_edit::expr::Expression;
    use hcl_edit::structure::Structure;
    let source = match source.strip_prefix(crate::jobspec::decode::SENSITIVE_MARK) {
        Some(rest) => rest.split_once('\n').map_or("", |(_, after)| after),
        None => source,
    };
    let mut body = hcl_edit::parser::parse_body(source).map_err(ReduceError::Parse)?;
    let mut found = false;
    for mut s in body.iter_mut() {
        let Some(job) = s.as_block_mut() else { continue };
        if !job.has_ident("job") {
            continue;
        }
        let kept: Vec<bool> = job
            .body
            .iter()
            .map(|s| match s {
                Structure::Block(b) if b.has_ident("group") => b.labels.first().is_some_and(|l| l.as_str() == group),
                _ => true,
            })
            .collect();
        for i in (0..kept.len()).rev() {
            if !kept[i] {
                job.body.remove(i);
            }
        }
        for mut s in job.body.iter_mut() {
            let Some(g) = s.as_block_mut() else { continue };
            if !g.has_ident("group") {
                continue;
            }
            found = true;
            if let Some(mut a) = g.body.get_attribute_mut("count") {
                *a.value_mut() = Expression::from(1);
            }
        }
    }
    if !found {
        return Err(ReduceError::NoGroup(group.to_string()));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> Peer {
        Peer {
            name: name.into(),
            host: format!("{name}.example"),
            port: None,
            user: None,
            identity_file: None,
            ssh_options: Vec::new(),
            supctl: None,
        }
    }

    fn hop(from: &str, to: Option<&str>) -> HistoryEntry {
        HistoryEntry::new(SystemTime::UNIX_EPOCH, from, to, Duration::from_secs(5), "failed")
    }

    #[test]
    fn an_envelope_a_peer_would_refuse_for_its_size_is_not_sent() {
        let mut e = Envelope {
            version: VERSION,
            id: "big/g/0/1".into(),
            job: "big".into(),
            source: String::new(),
            file: "big.hcl".into(),
            group: "g".into(),
            index: 0,
            origin: "a".into(),
            attempt: 1,
            history: vec![hop("a", Some("b"))],
        };
        // The largest job file a peer reads fits in an envelope.
        e.source = "#".repeat(crate::control::protocol::MAX_BODY as usize - 1);
        let sent = e.encode().expect("a job file of the largest size fits");
        assert!(Envelope::from_json(&sent).is_ok_and(|back| back.source.len() == e.source.len()));
        // Escaped, it no longer does: refused here, before it is sent.
        e.source = "\n".repeat(10 << 20);
        let err = e.encode().expect_err("20 MiB once escaped");
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn peers_never_tried_come_first_then_the_least_recently_tried() {
        let peers = [peer("a"), peer("b"), peer("c"), peer("d")];
        // On a, sent to b; b failed, sent to c; c failed: from c, d is fresh,
        // then a (longest ago), then b.
        let history = [hop("a", Some("b")), hop("b", Some("c"))];
        let order: Vec<&str> = order_peers(&peers, &history, "c").iter().map(|&i| peers[i].name.as_str()).collect();
        assert_eq!(order, ["d", "a", "b"]);
        let order: Vec<&str> = order_peers(&peers, &[], "a").iter().map(|&i| peers[i].name.as_str()).collect();
        assert_eq!(order, ["b", "c", "d"], "supd.toml's order, without this node");
        // An attempt no peer took names no peer.
        let order: Vec<&str> =
            order_peers(&peers, &[hop("a", None)], "a").iter().map(|&i| peers[i].name.as_str()).collect();
        assert_eq!(order, ["b", "c", "d"]);
    }

    #[test]
    fn the_history_keeps_what_still_counts() {
        use crate::jobspec::model::{DelayFunction, ReschedulePolicy};
        let mut p = ReschedulePolicy {
            attempts: 3,
            interval: Duration::from_secs(3600),
            delay: Duration::from_secs(5),
            delay_function: DelayFunction::Exponential,
            max_delay: Duration::from_secs(60),
            unlimited: false,
        };
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s);
        let entry = |s: u64| HistoryEntry::new(at(s), "a", Some("b"), Duration::from_secs(5), "x");
        let numbered = |s: u64, attempt: u32| HistoryEntry { attempt, ..entry(s) };
        let h = vec![entry(0), entry(3000), entry(3500)];
        let out = carry(Some(&p), &h, entry(4000));
        assert_eq!(out, vec![entry(3000), entry(3500), numbered(4000, 4)], "older than the interval goes");
        // The numbers go on from the newest kept one.
        let out = carry(Some(&p), &out, entry(7200));
        assert_eq!(out, vec![numbered(4000, 4), numbered(7200, 5)]);
        p.unlimited = true;
        let mut h: Vec<HistoryEntry> = Vec::new();
        for i in 0..8 {
            h = carry(Some(&p), &h, entry(i * 10));
        }
        assert_eq!(h.len(), 6, "the last five and the new one");
        assert_eq!(h[0], numbered(20, 3));
        assert_eq!(made(&h), 8);
        assert_eq!(carry(None, &h, entry(100)).last(), Some(&numbered(100, 9)));
    }

    #[test]
    fn ssh_gets_only_configured_options_and_a_fixed_remote_command() {
        let mut p = peer("b");
        p.port = Some(2222);
        p.user = Some("supd".into());
        p.identity_file = Some("/etc/supd/key".into());
        p.ssh_options = vec!["UserKnownHostsFile=/etc/supd/known_hosts".into()];
        let argv = ssh_argv(&p, Duration::from_secs(7), false);
        assert_eq!(
            argv,
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "ConnectTimeout=7",
                "-T",
                "-p",
                "2222",
                "-i",
                "/etc/supd/key",
                "-o",
                "UserKnownHostsFile=/etc/supd/known_hosts",
                "--",
                "supd@b.example",
                "supctl handoff serve"
            ]
        );
        // With insecure_host_keys, the peer's own options decide.
        p.ssh_options = vec!["StrictHostKeyChecking=no".into()];
        let argv = ssh_argv(&p, Duration::from_secs(7), true);
        assert!(!argv.iter().any(|a| a == "StrictHostKeyChecking=yes"), "{argv:?}");
        assert!(argv.iter().any(|a| a == "StrictHostKeyChecking=no"), "{argv:?}");
    }

    #[test]
    fn envelopes_round_trip_and_bad_ones_say_why() {
        let e = Envelope {
            version: VERSION,
            id: "web/g/2/1".into(),
            job: "web; rm -rf / $(x) 'q'".into(),
            source: "job \"x\" {}".into(),
            file: "x.hcl".into(),
            group: "g".into(),
            index: 2,
            origin: "a".into(),
            attempt: 1,
            history: vec![HistoryEntry::new(
                SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_250),
                "a",
                Some("b"),
                Duration::from_millis(1500),
                "task failed",
            )],
        };
        let text = serde_json::to_vec(&e).unwrap();
        assert_eq!(Envelope::from_json(&text).unwrap(), e);
        let h = e.policy_history().unwrap();
        assert_eq!(h[0].delay, Duration::from_millis(1500));
        assert_eq!(h[0].time, SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_250));
        let err = crate::error_chain(&Envelope::from_json(b"{").unwrap_err());
        assert!(err.starts_with("malformed hand-off envelope: EOF while parsing"), "{err}");
        let mut v3 = e.clone();
        v3.version = 3;
        let err = Envelope::from_json(&serde_json::to_vec(&v3).unwrap()).unwrap_err().to_string();
        assert!(err.contains("version 3 is not supported"), "{err}");
        let mut bad = e;
        bad.history[0].time = "yesterday".into();
        let err = Envelope::from_json(&serde_json::to_vec(&bad).unwrap()).unwrap_err().to_string();
        assert!(err.contains("bad time \"yesterday\""), "{err}");
    }

    #[test]
    fn hook_variables_name_job_instance_attempt_and_peer() {
        let e = Envelope {
            version: VERSION,
            id: "web/site/3/2".into(),
            job: "web".into(),
            source: String::new(),
            file: String::new(),
            group: "site".into(),
            index: 3,
            origin: "a".into(),
            attempt: 2,
            history: Vec::new(),
        };
        let v = hook_env(&e, Some(&peer("b")));
        let get = |k: &str| v.iter().find(|(n, _)| n == k).map(|(_, x)| x.as_str());
        assert_eq!(get("SUPD_HANDOFF_JOB"), Some("web"));
        assert_eq!(get("SUPD_HANDOFF_GROUP"), Some("site"));
        assert_eq!(get("SUPD_HANDOFF_INDEX"), Some("3"));
        assert_eq!(get("SUPD_HANDOFF_ATTEMPT"), Some("2"));
        assert_eq!(get("SUPD_HANDOFF_PEER"), Some("b"));
        assert_eq!(get("SUPD_HANDOFF_PEER_HOST"), Some("b.example"));
        assert_eq!(hook_env(&e, None).iter().filter(|(k, _)| k.starts_with("SUPD_HANDOFF_PEER")).count(), 0);
    }

    #[test]
    fn reasons_are_the_last_lines_trimmed() {
        let out = b"Warning: Permanently added 'x' (ED25519) to the list of known hosts.\r\n\nsupctl: this host does not accept handed-off work\n";
        assert_eq!(reason(out), "supctl: this host does not accept handed-off work");
        let long = "x".repeat(1000);
        assert_eq!(reason(long.as_bytes()).chars().count(), 401);
    }

    #[test]
    fn the_reduced_job_has_the_failed_group_alone_with_count_1() {
        let src = r#"job "shop" {
  datacenters = ["dc1"]
  # the front end
  group "web" {
    count = 3
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
  group "db" {
    task "d" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
"#;
        let out = reduce_to_group(src, "db").unwrap();
        assert!(!out.contains("group \"web\""), "{out}");
        assert!(out.contains("group \"db\"") && out.contains("datacenters = [\"dc1\"]"), "{out}");
        assert!(!out.contains("# the front end"), "a removed group's comment goes with it: {out}");
        let parsed = crate::jobspec::parse_str("reduced.hcl", &out);
        assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.jobs[0].groups.len(), 1);
        let out = reduce_to_group(src, "web").unwrap();
        assert!(out.contains("# the front end") && out.contains("count = 1"), "{out}");
        let parsed = crate::jobspec::parse_str("reduced.hcl", &out);
        assert_eq!(parsed.jobs[0].groups[0].name, "web");
        assert_eq!(parsed.jobs[0].groups[0].count, 1);
        assert!(reduce_to_group(src, "nope").unwrap_err().to_string().contains("no group \"nope\""));
        // The list of sensitive values supd keeps on top stays with supd.
        let marked = format!("{}[\"hunter2\"]\n{src}", crate::jobspec::decode::SENSITIVE_MARK);
        let out = reduce_to_group(&marked, "db").unwrap();
        assert!(!out.contains("hunter2") && out.contains("group \"db\""), "{out}");
    }
}
