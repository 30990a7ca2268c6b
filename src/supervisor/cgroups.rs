//! The cgroups of tasks that are dead for good, until they are removed.
//! Removal usually succeeds at once; a cgroup whose last processes are
//! still dying is tried again on a timer, and given up (and said) after a
//! while. While supd stops, removal moves to a thread of its own (the
//! [`Janitor`]) so that the loop goes on reaping.

use crate::process::cgroup::TaskCgroup;
use std::time::{Duration, Instant};

/// How often, and how many times, removing the cgroup of a dead task is
/// tried while its last processes are still dying.
const REMOVE_EVERY: Duration = Duration::from_millis(100);
const REMOVE_TRIES: u32 = 50;

/// A cgroup whose task is dead for good, waiting for its processes to be
/// gone so that it can be removed.
#[derive(Debug)]
pub struct Dying {
    cgroup: TaskCgroup,
    label: String,
    tries: u32,
}

impl Dying {
    pub fn new(cgroup: TaskCgroup, label: String) -> Dying {
        Dying { cgroup, label, tries: 0 }
    }

    /// Removes it, killing what is still in it first; whether it is gone.
    fn bury(&mut self) -> bool {
        // Empty, as it nearly always is: removed at once, nothing read.
        if self.cgroup.remove().is_ok() {
            return true;
        }
        if !self.cgroup.is_empty()
            && let Err(e) = self.cgroup.kill_all(false)
        {
            log::error!("{}: {e}", self.label);
        }
        self.cgroup.remove().is_ok()
    }

    fn left(&self) {
        log::error!(
            "{}: its cgroup {} is left: processes are still in it (pids {:?})",
            self.label,
            self.cgroup.path().map_or(String::new(), |p| p.display().to_string()),
            self.cgroup.pids()
        );
    }
}

/// Removes the cgroups of the tasks that end while supd stops, on a thread
/// of its own. Removing a cgroup is slow kernel work (its control files
/// go one by one under the cgroup core's lock: ~95 µs for a task's three
/// cgroups on a hybrid host, two thirds of supd's time while 1000 tasks
/// stop) that nothing waits for, so the loop goes on reaping meanwhile.
/// Only while stopping: no cgroup can be made again under the same name
/// then, so the thread never races a new run of the task.
struct Janitor {
    tx: Option<std::sync::mpsc::Sender<Dying>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long supd waits at exit for the last cgroups to empty, and how
/// often it tries them meanwhile.
const EXIT_WAIT: Duration = Duration::from_secs(2);
const EXIT_RETRY: Duration = Duration::from_millis(20);

impl Janitor {
    fn start() -> Janitor {
        let (tx, rx) = std::sync::mpsc::channel::<Dying>();
        let thread = std::thread::Builder::new()
            .name("cgroup-rm".into())
            .stack_size(64 * 1024)
            .spawn(move || janitor(&rx))
            .map_err(|e| log::warn!("cannot start a thread to remove cgroups ({e}): supd removes them itself"))
            .ok();
        Janitor { tx: thread.as_ref().map(|_| tx), thread }
    }

    /// Hands a cgroup over; gives it back when there is no thread.
    fn take(&self, d: Dying) -> Option<Dying> {
        match &self.tx {
            Some(tx) => tx.send(d).err().map(|e| e.0),
            None => Some(d),
        }
    }

    /// Waits until the thread has removed everything it was given (or
    /// given up on what stays busy after [`EXIT_WAIT`]).
    fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread: removes each cgroup as it comes; the busy ones are tried
/// again every 20 ms, until [`EXIT_WAIT`] after supd has handed over the
/// last one.
fn janitor(rx: &std::sync::mpsc::Receiver<Dying>) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut busy: Vec<Dying> = Vec::new();
    loop {
        let got = if busy.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(EXIT_RETRY)
        };
        match got {
            Ok(mut d) => {
                if !d.bury() {
                    busy.push(d);
                }
            }
            Err(RecvTimeoutError::Timeout) => busy.retain_mut(|d| !d.bury()),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    bury_before_exit(&mut busy);
}

/// At exit: the cgroups still busy are tried again every 20 ms for up to
/// [`EXIT_WAIT`]; those left then are said.
fn bury_before_exit(busy: &mut Vec<Dying>) {
    let deadline = Instant::now() + EXIT_WAIT;
    while !busy.is_empty() && Instant::now() < deadline {
        std::thread::sleep(EXIT_RETRY);
        busy.retain_mut(|d| !d.bury());
    }
    for d in busy.iter() {
        d.left();
    }
}

/// The cgroups waiting to be removed.
#[derive(Default)]
pub struct Graveyard {
    dying: Vec<Dying>,
    /// Removes cgroups while supd stops (started then).
    janitor: Option<Janitor>,
}

/// When a busy cgroup is first tried again, then how often.
pub const RETRY_FIRST: Duration = Duration::from_millis(REMOVE_EVERY.as_millis() as u64 / 5);
pub const RETRY_EVERY: Duration = REMOVE_EVERY;

impl Graveyard {
    /// Removes `d` now (or hands it to the thread while supd stops); true
    /// when it stays busy and is the first to wait: arm a retry after
    /// [`RETRY_FIRST`].
    pub fn bury(&mut self, d: Dying, stopping: bool) -> bool {
        let mut d = if stopping {
            match self.janitor.get_or_insert_with(Janitor::start).take(d) {
                None => return false,
                Some(d) => d,
            }
        } else {
            d
        };
        if d.bury() {
            return false;
        }
        self.dying.push(d);
        self.dying.len() == 1
    }

    /// Tries the busy ones again; true while some are left (arm a retry
    /// after [`RETRY_EVERY`]). One that stays busy for [`REMOVE_TRIES`]
    /// tries is given up, and said.
    pub fn retry(&mut self) -> bool {
        self.dying.retain_mut(|d| {
            if d.bury() {
                return false;
            }
            d.tries += 1;
            if d.tries >= REMOVE_TRIES {
                d.left();
                return false;
            }
            true
        });
        !self.dying.is_empty()
    }

    /// At exit: whatever is left is removed, waiting a little for
    /// processes that are still dying.
    pub fn finish(&mut self) {
        for d in std::mem::take(&mut self.dying) {
            self.bury(d, true);
        }
        if let Some(mut j) = self.janitor.take() {
            j.finish();
        }
        // Without a thread: here, the same way.
        bury_before_exit(&mut self.dying);
    }
}
