//! The clients that follow something (`events -f`, `logs -f`): what they
//! follow, and what is queued for them within their bounds, a stream that
//! falls too far behind being cut.

use super::answer::queue;
use super::{ControlServer, FOLLOWER_BACKLOG, TOTAL_BACKLOG};
use crate::control::protocol::{EventLine, Response};
use crate::logs::Stream;
use crate::supervisor::control::selection::EventFilter;
use crate::supervisor::output::LogPath;
use mio::{Registry, Token};

impl ControlServer {
    /// The client stays connected and receives task events newer than
    /// `since` (of the selected tasks only, with a filter) as they happen.
    pub fn follow_events(&mut self, token: Token, since: u64, filter: EventFilter) {
        if let Some(c) = self.clients.get_mut(&token) {
            c.follow = true;
            c.events = true;
            c.event_filter = filter;
        }
        self.sent_events = self.sent_events.max(since);
    }

    /// The client stays connected and receives a task's output.
    pub fn follow_logs(&mut self, token: Token, path: LogPath) {
        if let Some(c) = self.clients.get_mut(&token) {
            c.follow = true;
        }
        self.log_followers.push((token, path));
    }

    /// The clients that follow this output.
    pub fn log_followers_of(&self, path: &LogPath) -> Vec<Token> {
        self.log_followers.iter().filter(|(_, p)| p == path).map(|(t, _)| *t).collect()
    }

    pub fn has_log_followers(&self) -> bool {
        !self.log_followers.is_empty()
    }

    /// Queues `bytes` (whole lines) for a follower, unless that would take
    /// it past its own bound or all followers past theirs: then its stream
    /// ends with a line saying why, and it is disconnected once that is
    /// out (or at its write deadline).
    fn feed(&mut self, registry: &Registry, token: Token, bytes: &[u8]) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        if c.cut {
            return;
        }
        if !c.follow {
            // Not following yet (the answer to `logs -a` is being put
            // together): an answer, bounded by the request.
            queue(c, bytes);
            self.flush_client(registry, token);
            return;
        }
        let over_own = c.pending() + bytes.len() > FOLLOWER_BACKLOG;
        let over_all = self.backlog + bytes.len() > TOTAL_BACKLOG;
        if over_own || over_all {
            let why = if over_own {
                format!("this client fell more than {} KiB behind", FOLLOWER_BACKLOG >> 10)
            } else {
                format!("the clients that follow fell more than {} MiB behind together", TOTAL_BACKLOG >> 20)
            };
            log::warn!("cutting a follower's stream: {why}");
            let before = c.pending();
            c.cut_to_line();
            self.backlog = self.backlog.saturating_sub(before - c.pending());
            let mut line = serde_json::to_vec(&Response::refused(format!(
                "supd cut this stream: {why} (read faster, or follow less)"
            )))
            .unwrap_or_default();
            line.push(b'\n');
            queue(c, &line);
            self.backlog += line.len();
            c.cut = true;
            c.done = true;
            c.events = false;
            self.log_followers.retain(|(t, _)| *t != token);
        } else {
            queue(c, bytes);
            self.backlog += bytes.len();
        }
        self.flush_client(registry, token);
    }

    /// Sends a chunk of task output to a `logs` client; `time` is when it
    /// was read from the task, for output that is streamed as it comes.
    pub fn send_data(&mut self, registry: &Registry, token: Token, data: &[u8], stream: Stream, time: Option<String>) {
        let r = Response::output(data, stream == Stream::Stderr, time);
        if let Ok(mut bytes) = serde_json::to_vec(&r) {
            bytes.push(b'\n');
            self.feed(registry, token, &bytes);
        }
    }

    /// The newest event already sent, when some client follows events;
    /// `None` (and everything up to `newest` counts as sent) otherwise.
    pub fn events_wanted_since(&mut self, newest: u64) -> Option<u64> {
        if self.clients.values().any(|c| c.events) {
            Some(self.sent_events)
        } else {
            self.sent_events = newest;
            None
        }
    }

    /// Sends task events (in order) to every `events --follow` client.
    pub fn broadcast_events(&mut self, registry: &Registry, lines: &[(u64, EventLine)]) {
        let Some((last, _)) = lines.last() else { return };
        self.sent_events = *last;
        let mut all = Vec::new();
        for (_, l) in lines {
            if let Ok(mut b) = serde_json::to_vec(l) {
                b.push(b'\n');
                all.extend_from_slice(&b);
            }
        }
        let followers: Vec<(Token, EventFilter)> =
            self.clients.iter().filter(|(_, c)| c.events).map(|(t, c)| (*t, c.event_filter.clone())).collect();
        for (token, filter) in followers {
            if filter.is_empty() {
                self.feed(registry, token, &all);
            } else {
                let mut bytes = Vec::new();
                for (_, l) in lines.iter().filter(|(_, l)| filter.matches_line(l)) {
                    if let Ok(mut b) = serde_json::to_vec(l) {
                        b.push(b'\n');
                        bytes.extend_from_slice(&b);
                    }
                }
                if !bytes.is_empty() {
                    self.feed(registry, token, &bytes);
                }
            }
        }
    }
}
