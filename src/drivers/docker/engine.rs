//! The Docker Engine API requests supd makes (`/v1.41`, which Docker 20.10
//! and later and podman's compatible service both serve). Each call blocks
//! for at most its timeout; driver threads make them, never the loop.

use super::http::{self, Body, Endpoint, query};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const API: &str = "/v1.41";

/// What went wrong with a request, and whether trying again later may work
/// (Nomad's recoverable errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub message: String,
    pub recoverable: bool,
    /// The engine said 404 (no such container or image).
    pub not_found: bool,
    /// The engine could not be reached or did not answer in time (no
    /// socket, refused, cut off, timed out): an outage, which says nothing
    /// about the container.
    pub unreachable: bool,
    /// What the engine's answer says of the container's state, where supd
    /// acts on it; `None` for any other failure.
    pub conflict: Option<Conflict>,
}

/// A refusal that the container's state explains, as the engine's answer
/// words it (its API has no codes for these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another container has the name asked for (`holder`: its id, when
    /// the answer gives it).
    NameInUse { holder: Option<String> },
    /// The container is paused (frozen): it takes no signal.
    Paused,
    /// The container is not running (already gone).
    NotRunning,
}

impl Conflict {
    /// The conflict an engine's message tells of, if any.
    fn of(message: &str) -> Option<Conflict> {
        if message.contains("is already in use") {
            // `... The container name "/x" is already in use by container "ID". ...`
            Some(Conflict::NameInUse { holder: message.split('"').nth(3).map(str::to_string) })
        } else if message.contains("is paused") {
            Some(Conflict::Paused)
        } else if message.contains("is not running") {
            Some(Conflict::NotRunning)
        } else {
            None
        }
    }
}

impl EngineError {
    fn io(ep: &Endpoint, what: &str, e: std::io::Error) -> EngineError {
        let message = if e.to_string().contains(&ep.to_string()) {
            format!("{what}: {e}")
        } else {
            format!("{what}: the container engine at {ep}: {e}")
        };
        // An engine that is not there, went away or does not answer in
        // time is an outage; one that answers what supd cannot read (too
        // large, garbage) or refuses supd's access is not.
        use std::io::ErrorKind as K;
        let unreachable = matches!(
            e.kind(),
            K::NotFound
                | K::ConnectionRefused
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::NotConnected
                | K::BrokenPipe
                | K::UnexpectedEof
                | K::TimedOut
                | K::WouldBlock
        );
        EngineError { message, recoverable: true, not_found: false, unreachable, conflict: None }
    }

    fn answer(what: &str, r: &http::Response) -> EngineError {
        let said = r.message();
        EngineError {
            message: format!("{what}: {said} (HTTP {})", r.status),
            // The engine's own trouble may pass; a request it refuses as
            // written does not.
            recoverable: r.status >= 500 || r.status == 409,
            not_found: r.status == 404,
            unreachable: false,
            conflict: Conflict::of(&said),
        }
    }
}

/// A container's state, as inspect tells it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub id: String,
    pub running: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub image: String,
    /// The signal that stops it (its image's STOPSIGNAL); empty for the
    /// engine's default, SIGTERM.
    pub stop_signal: String,
    /// When it ended (RFC 3339) if it ran and ended; empty if it never
    /// started or still runs.
    pub finished_at: String,
}

/// A container as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub running: bool,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// One engine, at one endpoint.
#[derive(Debug, Clone)]
pub struct Engine {
    pub endpoint: Endpoint,
    /// For each ordinary request.
    pub timeout: Duration,
}

impl Engine {
    pub fn new(endpoint: Endpoint) -> Engine {
        Engine { endpoint, timeout: Duration::from_secs(30) }
    }

    fn call(&self, what: &str, method: &str, path: &str, body: Option<&Value>) -> Result<http::Response, EngineError> {
        http::request(&self.endpoint, method, &format!("{API}{path}"), body, self.timeout)
            .map_err(|e| EngineError::io(&self.endpoint, what, e))
    }

    fn json(&self, what: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, EngineError> {
        let r = self.call(what, method, path, body)?;
        if !r.ok() {
            return Err(EngineError::answer(what, &r));
        }
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&r.body).map_err(|e| EngineError {
            message: format!("{what}: the container engine at {} answered garbage: {e}", self.endpoint),
            recoverable: true,
            not_found: false,
            unreachable: false,
            conflict: None,
        })
    }

    /// The engine's version (`driver.docker.version`).
    pub fn version(&self) -> Result<String, EngineError> {
        let v = self.json("version", "GET", "/version", None)?;
        Ok(v.get("Version").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }

    pub fn image_exists(&self, image: &str) -> Result<bool, EngineError> {
        let r = self.call("cannot inspect the image", "GET", &format!("/images/{}/json", query(image)), None)?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(EngineError::answer("cannot inspect the image", &r)),
        }
    }

    /// Pulls an image; the engine streams progress and reports a failure
    /// inside a 200 answer, as `{"error": "..."}`.
    pub fn pull(&self, image: &str, timeout: Duration) -> Result<(), EngineError> {
        let what = format!("Failed to pull `{image}`");
        let (name, tag) = split_image(image);
        let mut path = format!("{API}/images/create?fromImage={}", query(name));
        if let Some(tag) = tag {
            path.push_str(&format!("&tag={}", query(tag)));
        }
        let (status, body) = http::stream(&self.endpoint, "POST", &path, None, timeout, false)
            .map_err(|e| EngineError::io(&self.endpoint, &what, e))?;
        let mut last_error = None;
        let mut text = String::new();
        for line in BufReader::new(body).lines() {
            // A pull past its image_pull_timeout is the pull's failure,
            // not an outage of the engine, which answered.
            let line =
                line.map_err(|e| EngineError { unreachable: false, ..EngineError::io(&self.endpoint, &what, e) })?;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(e) = v.get("error").and_then(Value::as_str) {
                    last_error = Some(e.to_string());
                }
                if let Some(m) = v.get("message").and_then(Value::as_str) {
                    text = m.to_string();
                }
            }
        }
        if let Some(e) = last_error.or_else(|| (!(200..300).contains(&status)).then_some(text)) {
            // Nomad: "image ... not found" will not appear by waiting.
            let recoverable = !(e.contains("not found") || e.contains("manifest unknown"));
            return Err(EngineError {
                message: format!("{what}: {e}"),
                recoverable,
                not_found: false,
                unreachable: false,
                conflict: None,
            });
        }
        Ok(())
    }

    /// Creates a container; its id.
    pub fn create(&self, name: &str, body: &Value) -> Result<String, EngineError> {
        let v = self.json(
            "cannot create the container",
            "POST",
            &format!("/containers/create?name={}", query(name)),
            Some(body),
        )?;
        v.get("Id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| EngineError {
            message: "the container engine created a container without an id".into(),
            recoverable: true,
            not_found: false,
            unreachable: false,
            conflict: None,
        })
    }

    pub fn start(&self, id: &str) -> Result<(), EngineError> {
        self.json("cannot start the container", "POST", &format!("/containers/{id}/start"), None).map(drop)
    }

    pub fn inspect(&self, id: &str) -> Result<State, EngineError> {
        let v = self.json("cannot inspect the container", "GET", &format!("/containers/{id}/json"), None)?;
        let s = &v["State"];
        Ok(State {
            id: v.get("Id").and_then(Value::as_str).unwrap_or(id).to_string(),
            running: s["Running"].as_bool().unwrap_or(false),
            pid: s["Pid"].as_i64().unwrap_or(0) as i32,
            exit_code: s["ExitCode"].as_i64().unwrap_or(-1) as i32,
            oom_killed: s["OOMKilled"].as_bool().unwrap_or(false),
            error: s["Error"].as_str().unwrap_or("").to_string(),
            image: v["Config"]["Image"].as_str().unwrap_or("").to_string(),
            stop_signal: v["Config"]["StopSignal"].as_str().unwrap_or("").to_string(),
            finished_at: match s["Status"].as_str() {
                Some("exited" | "dead") => s["FinishedAt"].as_str().unwrap_or("").to_string(),
                _ => String::new(),
            },
        })
    }

    /// Sends a signal (a name such as `SIGINT`) to the container's first
    /// process.
    pub fn kill(&self, id: &str, signal: &str) -> Result<(), EngineError> {
        self.json(
            "cannot signal the container",
            "POST",
            &format!("/containers/{id}/kill?signal={}", query(signal)),
            None,
        )
        .map(drop)
    }

    /// Thaws a paused container.
    pub fn unpause(&self, id: &str) -> Result<(), EngineError> {
        self.json("cannot unpause the container", "POST", &format!("/containers/{id}/unpause"), None).map(drop)
    }

    /// Removes a container, stopping it first if it runs.
    pub fn remove(&self, id: &str) -> Result<(), EngineError> {
        match self.json("cannot remove the container", "DELETE", &format!("/containers/{id}?force=1&v=1"), None) {
            Err(e) if e.not_found => Ok(()),
            other => other.map(drop),
        }
    }

    /// Every container (running or not) carrying all the labels
    /// `key=value` given.
    pub fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<Listed>, EngineError> {
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let filters = json!({ "label": wanted }).to_string();
        let v = self.json(
            "cannot list containers",
            "GET",
            &format!("/containers/json?all=1&filters={}", query(&filters)),
            None,
        )?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|c| Listed {
                        id: c["Id"].as_str().unwrap_or("").to_string(),
                        running: c["State"].as_str() == Some("running"),
                        labels: c["Labels"]
                            .as_object()
                            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                            .unwrap_or_default(),
                    })
                    .filter(|c| !c.id.is_empty())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The container's output from `since` (unix seconds; 0 = all) on,
    /// followed until it ends: stdout and stderr multiplexed.
    pub fn logs(&self, id: &str, since: u64) -> Result<Body, EngineError> {
        let what = "cannot read the container's output";
        let path = format!("{API}/containers/{id}/logs?follow=1&stdout=1&stderr=1&since={since}");
        let (status, body) = http::stream(&self.endpoint, "GET", &path, None, self.timeout, true)
            .map_err(|e| EngineError::io(&self.endpoint, what, e))?;
        if !(200..300).contains(&status) {
            return Err(EngineError {
                message: format!("{what} (HTTP {status})"),
                recoverable: true,
                not_found: status == 404,
                unreachable: false,
                conflict: None,
            });
        }
        Ok(body)
    }

    /// Waits until the container has stopped; its exit code.
    pub fn wait(&self, id: &str) -> Result<i64, EngineError> {
        let what = "cannot wait for the container";
        let path = format!("{API}/containers/{id}/wait");
        let (status, body) = http::stream(&self.endpoint, "POST", &path, None, self.timeout, true)
            .map_err(|e| EngineError::io(&self.endpoint, what, e))?;
        let v: Value = serde_json::from_reader(body)
            .map_err(|e| EngineError::io(&self.endpoint, what, std::io::Error::other(e)))?;
        if !(200..300).contains(&status) {
            let message = v.get("message").and_then(Value::as_str).unwrap_or("").to_string();
            return Err(EngineError {
                message: format!("{what}: {message} (HTTP {status})"),
                recoverable: true,
                not_found: status == 404,
                unreachable: false,
                conflict: None,
            });
        }
        Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(-1))
    }
}

/// `registry:5000/name:tag` → (`registry:5000/name`, `tag`); a digest
/// stays whole.
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (image, None),
    }
}

/// Splits the engine's multiplexed output (8-byte frame headers: stream,
/// three zero bytes, big-endian length) into stdout and stderr.
pub struct Demux {
    header: [u8; 8],
    have: usize,
    left: usize,
    stream: u8,
}

impl Default for Demux {
    fn default() -> Self {
        Demux { header: [0; 8], have: 0, left: 0, stream: 1 }
    }
}

impl Demux {
    /// Feeds bytes; calls `out(stream, bytes)` for each piece of payload
    /// (stream 1 is stdout, 2 stderr).
    pub fn feed(&mut self, mut data: &[u8], out: &mut dyn FnMut(u8, &[u8])) {
        while !data.is_empty() {
            if self.left == 0 {
                let n = (8 - self.have).min(data.len());
                self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
                self.have += n;
                data = &data[n..];
                if self.have == 8 {
                    self.have = 0;
                    self.stream = self.header[0];
                    self.left =
                        u32::from_be_bytes([self.header[4], self.header[5], self.header[6], self.header[7]]) as usize;
                }
                continue;
            }
            let n = self.left.min(data.len());
            out(self.stream, &data[..n]);
            self.left -= n;
            data = &data[n..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_at_the_tag_only() {
        assert_eq!(split_image("redis:3.2"), ("redis", Some("3.2")));
        assert_eq!(split_image("redis"), ("redis", None));
        assert_eq!(split_image("reg:5000/team/redis"), ("reg:5000/team/redis", None));
        assert_eq!(split_image("reg:5000/redis:7"), ("reg:5000/redis", Some("7")));
        assert_eq!(split_image("redis@sha256:abc"), ("redis@sha256:abc", None));
    }

    #[test]
    fn the_engines_refusals_are_told_apart_by_what_they_say() {
        let in_use = "Conflict. The container name \"/t-1\" is already in use by container \"abc123\". You have to remove (or rename) that container to be able to reuse that name.";
        assert_eq!(Conflict::of(in_use), Some(Conflict::NameInUse { holder: Some("abc123".into()) }));
        let paused = "Container abc is paused. Unpause the container before stopping or killing";
        assert_eq!(Conflict::of(paused), Some(Conflict::Paused));
        assert_eq!(Conflict::of("Container abc is not running"), Some(Conflict::NotRunning));
        assert_eq!(Conflict::of("No such container: abc"), None);
    }

    #[test]
    fn multiplexed_output_is_split_even_when_frames_are_cut_anywhere() {
        let mut wire = Vec::new();
        for (s, text) in [(1u8, &b"hello "[..]), (2, b"oops\n"), (1, b"world\n")] {
            wire.extend_from_slice(&[s, 0, 0, 0]);
            wire.extend_from_slice(&(text.len() as u32).to_be_bytes());
            wire.extend_from_slice(text);
        }
        for cut in 1..wire.len() {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut d = Demux::default();
            for piece in wire.chunks(cut) {
                d.feed(piece, &mut |s, b| if s == 2 { err.extend_from_slice(b) } else { out.extend_from_slice(b) });
            }
            assert_eq!((out.as_slice(), err.as_slice()), (&b"hello world\n"[..], &b"oops\n"[..]), "cut {cut}");
        }
    }
}
