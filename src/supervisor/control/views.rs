//! The requests that only look: `status` (its view, and the `--json`
//! document), `events` and `logs`.

use super::selection::{EventFilter, Selection};
use crate::control::protocol::Response;
use crate::logs::Stream;
use crate::supervisor::Supervisor;
use crate::supervisor::output::LogPath;
use crate::supervisor::status::{JobView, Lines, Shown, StatusAnswer, StatusView};
use mio::Token;

impl Supervisor {
    /// `events`: every kept event (of a target, since a time), then (with
    /// `follow`) the new ones.
    pub(super) fn events(
        &mut self,
        token: Token,
        follow: bool,
        target: Option<&str>,
        since: Option<&str>,
        mut filter: EventFilter,
    ) -> Response {
        filter.selection = match target.map(|t| self.resolve(t)).transpose() {
            Ok(f) => f,
            Err(e) => return Response::refused(e.to_string()),
        };
        let since = match since {
            None => None,
            Some(text) => match crate::timefmt::parse_rfc3339(text) {
                Some(t) => Some(crate::timefmt::rfc3339(t)),
                None => {
                    return Response::refused(format!(
                        "since {text:?} is not an RFC 3339 time — write e.g. 2026-11-28T05:06:07Z"
                    ));
                }
            },
        };
        let mut lines = self.event_lines(0);
        lines.sort_by_key(|(s, _)| *s);
        if follow {
            self.server.follow_events(token, lines.last().map_or(0, |(s, _)| *s), filter.clone());
        }
        // Event times are all written alike (UTC, milliseconds), so they
        // compare as text.
        lines.retain(|(_, l)| {
            filter.matches_line(l) && since.as_ref().is_none_or(|s| l.event.time.as_str() >= s.as_str())
        });
        let mut r = Response::ok(Vec::new());
        r.events = lines.into_iter().map(|(_, l)| l).collect();
        r
    }

    /// `logs`: the last lines of a task's output, then (with `follow`)
    /// what it writes.
    /// With `all`, both streams: stdout's last lines go out first, then
    /// stderr's in the answer (the files keep no times, so the two cannot
    /// be merged line by line), then what either writes next.
    pub(super) fn logs(
        &mut self,
        token: Token,
        target: &str,
        stderr: bool,
        lines: usize,
        follow: bool,
        all: bool,
    ) -> Response {
        let path = match self.log_target(target, stderr && !all) {
            Ok(p) => p,
            Err(e) => return Response::refused(e.to_string()),
        };
        if let Some(elsewhere) = self.output_elsewhere(&path) {
            return Response::refused(elsewhere);
        }
        let lines = lines.min(100_000);
        // The stored lines, each with when supd read it; with `all`, both
        // streams' merged in that order (stdout first at the same time).
        let mut stored: Vec<(Option<u64>, Stream, Vec<u8>)> = Vec::new();
        if all {
            let out = self.log_tail_timed(&LogPath { stream: Stream::Stdout, ..path.clone() }, lines);
            let err = self.log_tail_timed(&LogPath { stream: Stream::Stderr, ..path.clone() }, lines);
            stored = merge_by_time(out, err);
            // The last `lines` of both together.
            let extra = stored.len().saturating_sub(lines);
            stored.drain(..extra);
        } else {
            stored.extend(self.log_tail_timed(&path, lines).into_iter().map(|(t, l)| (t, path.stream, l)));
        }
        let path = if all { LogPath { stream: Stream::Stderr, ..path } } else { path };
        // Runs of lines of one stream and one time go as one piece.
        let mut pieces: Vec<(Option<u64>, Stream, Vec<u8>)> = Vec::new();
        for (t, s, l) in stored {
            match pieces.last_mut() {
                Some((pt, ps, buf)) if *pt == t && *ps == s => buf.extend_from_slice(&l),
                _ => pieces.push((t, s, l)),
            }
        }
        let stamp = |t: Option<u64>| {
            t.map(|ms| crate::timefmt::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)))
        };
        let last = pieces.pop();
        for (t, s, buf) in pieces {
            self.server.send_data(self.io.poll.registry(), token, &buf, s, stamp(t));
        }
        let r = match last {
            Some((t, s, buf)) => Response::output(&buf, s == Stream::Stderr, stamp(t)),
            None => Response::output(&[], path.stream == Stream::Stderr, None),
        };
        if follow {
            if all {
                self.server.follow_logs(token, LogPath { stream: Stream::Stdout, ..path.clone() });
            }
            self.server.follow_logs(token, path);
        }
        r
    }

    pub(super) fn status(&self, target: Option<&str>, events: Option<usize>, brief: bool) -> Response {
        let selection = match target.map(|t| self.resolve(t)).transpose() {
            Ok(s) => s,
            Err(e) => return Response::refused(e.to_string()),
        };
        let lines = Lines::default();
        let view = self.status_view(selection.as_ref(), events, brief, &lines);
        let mut r = Response::ok(self.jobs.load_errors.values().flat_map(|p| p.clone()).collect());
        // The answer line is encoded here, from the view that borrows the
        // model: the status of a thousand tasks is not copied into owned
        // strings first.
        let line = serde_json::to_vec(&StatusAnswer { messages: &r.messages, status: &view });
        drop(view);
        match line {
            Ok(line) => r.line = Some(line),
            Err(e) => return Response::refused(format!("cannot encode the status: {e}")),
        }
        r
    }

    /// The status of the jobs `selection` names (all without one), as a
    /// view of the model.
    fn status_view<'a>(
        &'a self,
        selection: Option<&'a Selection>,
        events: Option<usize>,
        brief: bool,
        lines: &'a Lines,
    ) -> StatusView<'a> {
        let shown = Shown { selection, events, brief, lines };
        let mut jobs = Vec::with_capacity(self.jobs.current.len());
        for (id, serial) in &self.jobs.current {
            let Some(run) = self.jobs.runs.get(serial) else { continue };
            if selection.is_some_and(|sel| &sel.job != id) {
                continue;
            }
            jobs.push(JobView { run, head: self.job_head(id, run), shown });
        }
        StatusView { node: self.node_status(), jobs }
    }

    /// The status as `supctl --json status` prints it: encoded here, pretty,
    /// as the answer's body, which supctl copies out as it comes.
    pub(super) fn status_json(&mut self, target: Option<&str>, compact: bool) -> Response {
        let selection = match target.map(|t| self.resolve(t)).transpose() {
            Ok(s) => s,
            Err(e) => return Response::refused(e.to_string()),
        };
        let lines = Lines::default();
        let view = self.status_view(selection.as_ref(), None, false, &lines);
        let mut doc = self.server.document_buffer();
        let encoded = if compact {
            serde_json::to_writer(&mut doc, &view)
        } else {
            crate::supervisor::status::to_pretty(&mut doc, &view)
        };
        if let Err(e) = encoded {
            return Response::refused(format!("cannot encode the status: {e}"));
        }
        doc.push(b'\n');
        let up = view.all_up();
        drop(view);
        let size = doc.len() - crate::supervisor::server::DOCUMENT_ROOM;
        self.server.note_document_size(size);
        let mut r = Response::ok(self.jobs.load_errors.values().flat_map(|p| p.clone()).collect());
        r.up = Some(up);
        r.body = Some(size as u64);
        r.document = Some(doc);
        r
    }
}

/// Two streams' lines, each in the order written, merged in the order supd
/// read them (stdout first at the same time). A line without a time takes
/// the one before it in its stream, so that neither stream is reordered,
/// whatever the clock did.
pub(super) fn merge_by_time(
    out: Vec<(Option<u64>, Vec<u8>)>,
    err: Vec<(Option<u64>, Vec<u8>)>,
) -> Vec<(Option<u64>, Stream, Vec<u8>)> {
    fn carried(lines: Vec<(Option<u64>, Vec<u8>)>) -> Vec<(u64, Option<u64>, Vec<u8>)> {
        let mut last = 0;
        lines
            .into_iter()
            .map(|(t, l)| {
                // Never earlier than the line before: a clock set back does
                // not reorder a stream.
                last = t.map_or(last, |t| t.max(last));
                (last, t, l)
            })
            .collect()
    }
    let (out, err) = (carried(out), carried(err));
    let mut merged = Vec::with_capacity(out.len() + err.len());
    let (mut o, mut e) = (out.into_iter().peekable(), err.into_iter().peekable());
    loop {
        let take_out = match (o.peek(), e.peek()) {
            (Some(a), Some(b)) => a.0 <= b.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_out { o.next().map(|x| (x, Stream::Stdout)) } else { e.next().map(|x| (x, Stream::Stderr)) };
        if let Some(((_, t, l), s)) = next {
            merged.push((t, s, l));
        }
    }
    merged
}
