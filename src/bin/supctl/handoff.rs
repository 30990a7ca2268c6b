//! `supctl handoff serve`: the command a peer's ssh key runs — one
//! hand-off request read on stdin, passed to supd, and its answer written
//! back as one line.

use clap::Subcommand;
use std::io::{Read, Write};
use std::process::ExitCode;
use supd::control::client::{ClientError, Connection};
use supd::control::protocol::{Request, Response};

#[derive(Subcommand)]
pub(super) enum HandoffCommand {
    /// Answer one request of peer PEER's supd about work it hands to this
    /// host: read on standard input, answered on standard output. This is
    /// the command a peer's ssh key runs (authorized_keys:
    /// `restrict,command="supctl handoff serve --from PEER" KEY`).
    Serve {
        /// The peer this key belongs to: every request is taken as coming
        /// from it, whatever it says.
        #[arg(long, value_name = "PEER")]
        from: String,
    },
}

/// `handoff serve`: says it started (before reading: an origin that sees
/// this knows its request may have reached supd), reads one request, and
/// prints supd's answer as one line. Exit 0 when supd answered and refused
/// nothing, 1 otherwise.
pub(super) fn handoff_serve(socket: &std::path::Path, from: &str) -> ExitCode {
    use supd::handoff::wire;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", wire::HELLO);
        let _ = out.flush();
    }
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().take(wire::MAX_REQUEST as u64 + 1).read_to_end(&mut input) {
        return handoff_fail(format!("cannot read the request: {e}"));
    }
    let request = match wire::Request::from_json(&input) {
        Ok(_) => match serde_json::from_slice::<serde_json::Value>(&input) {
            Ok(v) => v,
            Err(e) => return handoff_fail(format!("malformed hand-off request: {e}")),
        },
        Err(e) => return handoff_fail(supd::error_chain(&e)),
    };
    // Not connected: supd did not get the request, and says nothing.
    let mut conn = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("supd on this host cannot be reached: {}", handoff_reason(e));
            handoff_say(&wire::Answer {
                protocol: wire::PROTOCOL,
                node: String::new(),
                outcomes: Vec::new(),
                error: None,
                unreachable: Some(why.clone()),
            });
            eprintln!("supctl: {why}");
            return ExitCode::from(1);
        }
    };
    // Sent, but no answer: supd may have acted on it. No answer line: the
    // origin asks again.
    let response = conn.send(Request::Handoff { from: from.to_string(), request }).and_then(|()| conn.next_response());
    handoff_answered(response)
}

/// `handoff serve`: supd's answer (or its absence) passed on, with each
/// outcome on stderr; exit 1 when anything was refused or went wrong.
fn handoff_answered(response: Result<Option<Response>, ClientError>) -> ExitCode {
    use supd::handoff::wire;
    match response {
        Ok(Some(r)) if r.ok => match r.data.as_deref().map(serde_json::from_str::<wire::Answer>) {
            Some(Ok(answer)) => {
                handoff_say(&answer);
                let refused = answer.error.is_some() || answer.outcomes.iter().any(|o| o.state == wire::State::Refused);
                for o in &answer.outcomes {
                    eprintln!(
                        "supctl: {}: {}{}",
                        o.id,
                        o.state.as_str(),
                        if o.message.is_empty() { String::new() } else { format!(": {}", o.message) }
                    );
                }
                if let Some(e) = &answer.error {
                    eprintln!("supctl: {e}");
                }
                if refused { ExitCode::from(1) } else { ExitCode::SUCCESS }
            }
            // Sent, and acted on perhaps: no answer line, the origin asks.
            _ => {
                eprintln!("supctl: supd's answer cannot be read: use the supctl that ships with this supd");
                ExitCode::from(1)
            }
        },
        Ok(Some(r)) => handoff_fail(r.error.unwrap_or_else(|| "supd refused the request".into())),
        Ok(None) => {
            eprintln!("supctl: supd closed the connection without answering");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("supctl: no answer from supd: {}", handoff_reason(e));
            ExitCode::from(1)
        }
    }
}

/// `handoff serve`: one answer line on stdout, flushed at once.
fn handoff_say(answer: &supd::handoff::wire::Answer) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", answer.line());
    let _ = out.flush();
}

/// `handoff serve`: an answer that refuses the whole request, and why
/// (also on stderr); exit 1.
fn handoff_fail(error: String) -> ExitCode {
    use supd::handoff::wire;
    handoff_say(&wire::Answer {
        protocol: wire::PROTOCOL,
        node: String::new(),
        outcomes: Vec::new(),
        error: Some(error.clone()),
        unreachable: None,
    });
    eprintln!("supctl: {error}");
    ExitCode::from(1)
}

/// Why the client failed, whatever kind of failure it was.
fn handoff_reason(e: ClientError) -> String {
    match e {
        ClientError::NoDaemon(e) | ClientError::PermissionDenied(e) | ClientError::Protocol(e) => e,
    }
}
