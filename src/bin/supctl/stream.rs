//! The commands that stream: `events` (with `-f`) and `logs` (with `-f`,
//! both streams, timestamps).

use super::*;

pub(super) fn events(socket: &std::path::Path, request: Request, json: bool) -> ExitCode {
    let follow = matches!(request, Request::Events { follow: true, .. });
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return client_error(e),
    };
    if let Err(e) = conn.send(request) {
        return client_error(e);
    }
    let first = match conn.next_response() {
        Ok(Some(r)) => r,
        Ok(None) => return client_error(ClientError::Protocol("supd closed the connection".into())),
        Err(e) => return client_error(e),
    };
    if !first.ok {
        eprintln!("supctl: {}", show_lines(first.error.as_deref().unwrap_or("refused")));
        return ExitCode::from(1);
    }
    let print = |l: &supd::control::protocol::EventLine| {
        if json {
            if let Ok(s) = serde_json::to_string(l) {
                println!("{s}");
            }
        } else {
            let line = format!(
                "{}  {}.{}[{}]/{}  {}  {}",
                l.event.time, l.job, l.group, l.index, l.task, l.event.kind, l.event.message
            );
            println!("{}", show(&line));
        }
    };
    first.events.iter().for_each(print);
    if !follow {
        return ExitCode::SUCCESS;
    }
    // Following: further lines are bare events.
    loop {
        match conn.next_event() {
            Ok(Some(l)) => print(&l),
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => return client_error(e),
        }
    }
}

pub(super) fn logs(socket: &std::path::Path, request: Request, timestamps: bool, since: Option<String>) -> ExitCode {
    let all = matches!(request, Request::Logs { all: true, .. });
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return client_error(e),
    };
    if let Err(e) = conn.send(request) {
        return client_error(e);
    }
    let mut out = LogPrinter { all, timestamps, since, partial: Default::default() };
    loop {
        match conn.next_response() {
            Ok(Some(r)) if !r.ok => {
                eprintln!("supctl: {}", show_lines(r.error.as_deref().unwrap_or("refused")));
                return ExitCode::from(1);
            }
            Ok(Some(r)) => {
                if let Some(d) = &r.data {
                    out.chunk(r.stream.as_deref() == Some("stderr"), d, r.time.as_deref());
                }
            }
            Ok(None) => {
                out.finish();
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                out.finish();
                return client_error(e);
            }
        }
    }
}

/// Prints task output. As it comes unless lines need something at their
/// start (a time) or must not mix (both streams); then whole lines, each
/// stream's unfinished line kept until its end arrives.
pub(super) struct LogPrinter {
    all: bool,
    timestamps: bool,
    /// Lines read before this time (RFC 3339, as supd writes times) are
    /// left out, and so are lines without a time.
    since: Option<String>,
    /// Per stream (stdout, stderr): the unfinished line and its time.
    partial: [(String, Option<String>); 2],
}

/// What `-t` shows for a line stored without a time, as wide as a time.
pub(super) const NO_TIME: &str = "-                       ";

impl LogPrinter {
    fn chunk(&mut self, stderr: bool, data: &str, time: Option<&str>) {
        if !self.all && !self.timestamps && self.since.is_none() {
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(data.as_bytes());
            let _ = stdout.flush();
            return;
        }
        let i = usize::from(stderr);
        let mut rest = data;
        while let Some(end) = rest.find('\n') {
            let (line, tail) = rest.split_at(end + 1);
            let (mut text, started) = std::mem::take(&mut self.partial[i]);
            text.push_str(line);
            self.print(stderr, &text, started.as_deref().or(time));
            rest = tail;
        }
        if !rest.is_empty() {
            let (text, started) = &mut self.partial[i];
            if text.is_empty() {
                *started = time.map(str::to_string);
            }
            text.push_str(rest);
        }
    }

    fn print(&self, stderr: bool, line: &str, time: Option<&str>) {
        if let Some(since) = &self.since
            && time.is_none_or(|t| t < since.as_str())
        {
            return;
        }
        let prefix = match (self.timestamps, time) {
            (false, _) => String::new(),
            (true, Some(t)) => format!("{t} "),
            (true, None) => format!("{NO_TIME} "),
        };
        let text = format!("{prefix}{line}");
        let _ = if self.all && stderr {
            std::io::stderr().write_all(text.as_bytes())
        } else {
            let mut stdout = std::io::stdout();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        };
    }

    /// Prints what is left of unfinished lines when the output ends.
    fn finish(&mut self) {
        for i in 0..2 {
            let (text, time) = std::mem::take(&mut self.partial[i]);
            if !text.is_empty() {
                self.print(i == 1, &text, time.as_deref());
            }
        }
    }
}
