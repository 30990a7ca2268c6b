//! `supctl --json status`: supd sends the document itself after its answer
//! line, pretty for a terminal and on one line for anything else, and
//! supctl copies it to stdout as it comes. The status
//! of 1000 tasks is megabytes of JSON: decoding it and encoding it again
//! cost more than supd's answer itself.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use supd::control::client::{ClientError, Connection};
use supd::control::protocol::Request;

use super::client_error;

/// Asks for the status and prints it as JSON; exits as `status` does.
pub fn json_status(socket: &Path, target: Option<String>) -> ExitCode {
    use std::io::IsTerminal;
    let mut out = std::io::stdout().lock();
    let compact = !out.is_terminal();
    let answer = match Connection::call_document(socket, Request::StatusJson { target, compact }, &mut out) {
        Ok(a) => a,
        Err(e) => return client_error(e),
    };
    if !answer.ok {
        eprintln!("supctl: {}", super::show_lines(answer.error.as_deref().unwrap_or("refused")));
        return ExitCode::from(1);
    }
    if answer.body.is_none() {
        return client_error(ClientError::Protocol("supd's answer holds no status".into()));
    }
    let _ = out.flush();
    if answer.up == Some(true) { ExitCode::SUCCESS } else { ExitCode::from(4) }
}
