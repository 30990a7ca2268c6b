//! supd's own binary as a program: asking a binary a question with a
//! deadline (what a new binary can take over, before `daemon-reexec`), and
//! executing a binary in place of supd's image, as the same process.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// What a program answered.
#[derive(Debug)]
pub struct Answer {
    pub success: bool,
    /// How it ended, for messages (`exit status: 1`).
    pub status: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program` with `args` (no stdin) and reads what it writes, up to
/// 64 KiB of stdout and 4 KiB of stderr. `Ok(None)` when it has not ended
/// within `limit` (it is killed and reaped); `Err` when it cannot run. The
/// caller waits meanwhile.
pub fn ask(program: &Path, args: &[&OsStr], limit: Duration) -> std::io::Result<Option<Answer>> {
    use std::io::Read;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let ended = match super::pidfd_open(pid) {
        Ok(fd) => {
            let mut fds = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
            let ms = nix::poll::PollTimeout::try_from(limit.as_millis() as i32).unwrap_or(nix::poll::PollTimeout::NONE);
            matches!(nix::poll::poll(&mut fds, ms), Ok(n) if n > 0)
        }
        Err(_) => false,
    };
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(None);
    }
    let status = child.wait()?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut out) = child.stdout.take() {
        let _ = out.by_ref().take(64 << 10).read_to_end(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.by_ref().take(4 << 10).read_to_end(&mut stderr);
    }
    Ok(Some(Answer { success: status.success(), status: status.to_string(), stdout, stderr }))
}

/// Why a binary could not be executed in place of supd's image.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Its path, an argument or a variable holds a NUL byte.
    #[error("a NUL byte in an argument")]
    Nul,
    /// execve(2) refused it.
    #[error(transparent)]
    Exec(nix::errno::Errno),
}

/// Executes `program` with `args` (the first is its name) and `env`
/// (`KEY=value`) in place of this process's image. Returns only on
/// failure, with the reason.
pub fn exec(program: &Path, args: &[OsString], env: impl Iterator<Item = (OsString, OsString)>) -> ExecError {
    let c = |b: &[u8]| CString::new(b).map_err(|_| ExecError::Nul);
    let run = || -> Result<std::convert::Infallible, ExecError> {
        let path = c(program.as_os_str().as_bytes())?;
        let argv = args.iter().map(|a| c(a.as_bytes())).collect::<Result<Vec<_>, _>>()?;
        let mut envp = Vec::new();
        for (k, v) in env {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(c(&kv)?);
        }
        nix::unistd::execve(&path, &argv, &envp).map_err(ExecError::Exec)
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}
