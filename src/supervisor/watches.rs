//! What each of the loop's tokens watches, beyond the three fixed ones
//! (signals, the listener, children) and the control server's clients: a
//! task's capture pipe, a check's socket, or a process a previous supd
//! left (its pidfd, owned here). Tokens are handed out here, never twice.

use super::task::{CheckKey, TaskKey};
use crate::logs::Stream;
use mio::Token;
use std::collections::HashMap;
use std::os::fd::OwnedFd;

/// What a token's readiness is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// One of a task's two capture pipes.
    Log { task: TaskKey, stream: Stream },
    /// The socket of a tcp or http check in flight.
    Check(CheckKey),
    /// A process a previous supd left running for this task.
    Leftover(TaskKey),
    /// A task's process taken over from a previous supd (not supd's
    /// child): its pidfd tells of its end.
    Adopted(TaskKey),
}

pub struct Watches {
    /// Hands out every token of the loop's (the control server's clients
    /// take theirs from here too).
    pub tokens: Tokens,
    watched: HashMap<Token, Watched>,
    pidfds: HashMap<Token, OwnedFd>,
}

impl Watches {
    /// Tokens below `first` are the loop's own.
    pub fn starting_at(first: usize) -> Watches {
        Watches { tokens: Tokens::starting_at(first), watched: HashMap::new(), pidfds: HashMap::new() }
    }

    /// A fresh token, for anything the loop watches.
    pub fn token(&mut self) -> Token {
        self.tokens.next()
    }

    /// Records what `token` watches.
    pub fn watch(&mut self, token: Token, what: Watched) {
        self.watched.insert(token, what);
    }

    /// Watches a leftover process through its pidfd, kept open here.
    pub fn watch_leftover(&mut self, token: Token, task: TaskKey, pidfd: OwnedFd) {
        self.watched.insert(token, Watched::Leftover(task));
        self.pidfds.insert(token, pidfd);
    }

    /// Watches a task's process taken over from a previous supd through
    /// its pidfd, kept open here.
    pub fn watch_adopted(&mut self, token: Token, task: TaskKey, pidfd: OwnedFd) {
        self.watched.insert(token, Watched::Adopted(task));
        self.pidfds.insert(token, pidfd);
    }

    pub fn get(&self, token: Token) -> Option<Watched> {
        self.watched.get(&token).copied()
    }

    /// Stops watching `token`; a leftover's pidfd is handed back (to be
    /// deregistered, then closed).
    pub fn forget(&mut self, token: Token) -> (Option<Watched>, Option<OwnedFd>) {
        (self.watched.remove(&token), self.pidfds.remove(&token))
    }
}

/// Hands out the loop's tokens: every registered descriptor has its own.
#[derive(Debug)]
pub struct Tokens(usize);

impl Tokens {
    pub fn starting_at(first: usize) -> Tokens {
        Tokens(first)
    }

    pub fn next(&mut self) -> Token {
        self.0 += 1;
        Token(self.0 - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_never_handed_out_twice_and_start_after_the_loops_own() {
        let mut w = Watches::starting_at(3);
        let a = w.token();
        let b = w.token();
        assert_eq!(a, Token(3));
        assert_ne!(a, b);
    }

    #[test]
    fn a_forgotten_token_watches_nothing_and_returns_its_pidfd() {
        let mut w = Watches::starting_at(3);
        let task = TaskKey { run: 1, inst: 0, task: 0 };
        let (log, left) = (w.token(), w.token());
        w.watch(log, Watched::Log { task, stream: Stream::Stderr });
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").expect("/dev/null"));
        w.watch_leftover(left, task, fd);
        assert_eq!(w.get(log), Some(Watched::Log { task, stream: Stream::Stderr }));
        assert_eq!(w.get(left), Some(Watched::Leftover(task)));
        let (what, fd) = w.forget(left);
        assert_eq!(what, Some(Watched::Leftover(task)));
        assert!(fd.is_some());
        assert_eq!(w.get(left), None);
        let (what, fd) = w.forget(log);
        assert_eq!(what, Some(Watched::Log { task, stream: Stream::Stderr }));
        assert!(fd.is_none());
    }
}
