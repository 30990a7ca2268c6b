//! Large job files sent with `job run` are parsed on threads of their
//! own: parsing 16 MiB takes a second, and the loop goes on meanwhile.
//! At most `THREADS` parse at once; more wait their turn in order. The
//! result comes back through a channel and the loop's `mio::Waker`, and
//! the request is answered then (tokens are never reused, so an answer to
//! a client that left goes nowhere).

use super::Supervisor;
use crate::jobspec::{self, Parsed};
use mio::{Token, Waker};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

/// A `job run` body at least this large is parsed off the loop (a job file
/// of ordinary size takes microseconds, less than a thread's start).
pub(super) const OFF_LOOP: usize = 256 << 10;

/// Parses at once: each holds its file's syntax tree, several times the
/// file's size, so their number is bounded, not the clients'.
const THREADS: usize = 2;

/// What a parse thread sends back: the client, the name it submitted
/// under, and the parsed file.
type Done = (Token, String, Parsed);

/// A parse waiting for a thread: the client, the file's name, its text.
type Waiting = (Token, String, String);

pub(super) struct Parses {
    waker: Arc<Waker>,
    tx: Sender<Done>,
    rx: Receiver<Done>,
    running: usize,
    waiting: VecDeque<Waiting>,
}

impl Parses {
    /// Threads wake the loop with `waker` (its one waker, shared with the
    /// artifact fetches: a wake-up looks at both).
    /// The loop's waker, for other work that reports through it.
    pub(super) fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    pub(super) fn new(waker: Arc<Waker>) -> Parses {
        let (tx, rx) = channel();
        Parses { waker, tx, rx, running: 0, waiting: VecDeque::new() }
    }

    /// A file is being parsed, or waits to be.
    pub(super) fn busy(&self) -> bool {
        self.running > 0 || !self.waiting.is_empty()
    }

    /// Parses `source` off the loop, now or when a thread is free; gives
    /// it back when no thread can be made, to be parsed here.
    pub(super) fn start(&mut self, client: Token, file: String, source: String) -> Result<(), Waiting> {
        if self.running >= THREADS {
            self.waiting.push_back((client, file, source));
            return Ok(());
        }
        let (tx, waker) = (self.tx.clone(), self.waker.clone());
        let shared = Arc::new((file, source));
        let mine = shared.clone();
        let spawned = std::thread::Builder::new().name("supd-parse".into()).spawn(move || {
            let parsed = jobspec::parse_str(&mine.0, &mine.1);
            if tx.send((client, mine.0.clone(), parsed)).is_ok() {
                let _ = waker.wake();
            }
        });
        match spawned {
            Ok(_) => {
                self.running += 1;
                Ok(())
            }
            Err(e) => {
                log::warn!("cannot start a thread to parse a large job ({e}); parsing it on the loop");
                let (file, source) = Arc::try_unwrap(shared).unwrap_or_else(|a| (a.0.clone(), a.1.clone()));
                Err((client, file, source))
            }
        }
    }

    /// A parse that is done, and the next waiting one started.
    fn done(&mut self) -> Option<(Done, Option<Waiting>)> {
        let done = self.rx.try_recv().ok()?;
        self.running = self.running.saturating_sub(1);
        let refused = match self.waiting.pop_front() {
            Some((client, file, source)) => self.start(client, file, source).err(),
            None => None,
        };
        Some((done, refused))
    }
}

impl Supervisor {
    /// Parses that are done: each request is carried out and answered.
    pub(super) fn on_parsed(&mut self) {
        while let Some(((client, file, parsed), on_loop)) = self.pending.parses.done() {
            self.answer_parsed(client, &file, parsed);
            if let Some((client, file, source)) = on_loop {
                let parsed = jobspec::parse_str(&file, &source);
                self.answer_parsed(client, &file, parsed);
            }
        }
    }

    fn answer_parsed(&mut self, client: Token, file: &str, parsed: Parsed) {
        let response = self.job_run_parsed(file, parsed);
        // A change is on disk before the client hears of it.
        self.save_acknowledged();
        self.server.answer(self.io.poll.registry(), client, response);
    }
}
