//! The driver's threads. Each container has one, from the pull to the
//! removal: pull if needed, create, start, create the container of the
//! task's next run ahead (a restart is then a start, as the engine's own
//! restart policy does it), copy its output into the task's log pipes
//! until the output ends, wait for the exit, report it, and remove the
//! container. Signals and removals are short threads of
//! their own. Threads decide nothing: every result goes back to the loop
//! through a channel, with a byte on a socket the loop watches.
//!
//! Exits are learned per container (the end of its output stream, then
//! `wait`) rather than from the engine's event stream: the output of a
//! container is read to its end before its exit is reported (as a host
//! task's pipes are drained), a container that ended between two events
//! streams cannot be missed, and a broken connection touches one task.

use super::engine::{Conflict, Demux, Engine, EngineError};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a driver thread tells the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The image is not here (or `force_pull`): it is being pulled.
    Pulling { image: String },
    /// Running: the container and its first process on this host.
    Started { id: String, pid: i32 },
    /// It could not be started; nothing of it is left.
    Failed { error: EngineError },
    /// It ended (`error`: the engine could not say how).
    Exited { id: String, code: i32, oom_killed: bool, error: Option<String> },
    /// A signal could not be delivered.
    SignalFailed { id: String, error: EngineError },
    /// The engine stopped answering while the container ran: its process
    /// is watched meanwhile, and its end is not assumed.
    EngineLost { id: String, error: String },
    /// The engine answers again, and the container still runs.
    EngineBack { id: String },
    /// What the engine answered at supd's start ([`Docker::survey`]), or
    /// why it did not.
    Surveyed(Result<Survey, EngineError>),
}

/// What an engine holds at supd's start: its node attributes and the
/// containers that carry the asked labels (a previous supd's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    pub attrs: Vec<(String, String)>,
    pub containers: Vec<Surveyed>,
}

/// A container a previous supd left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surveyed {
    pub id: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its first process, if it runs.
    pub pid: Option<i32>,
    /// When it ended, if it ran and ended (one whose end time does not
    /// read counts as the oldest).
    pub ended: Option<std::time::SystemTime>,
}

/// Asks the engine, within `timeout` per request, for its version and
/// the containers carrying `labels`, with the state of each.
pub fn survey(engine: &Engine, name: &str, labels: &[(String, String)]) -> Result<Survey, EngineError> {
    let attrs = super::fingerprint(engine, name)?;
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let listed = engine.list(&labels)?;
    let containers = listed
        .into_iter()
        .map(|c| {
            let state = engine.inspect(&c.id).ok();
            let pid = state.as_ref().filter(|s| s.running).map(|s| s.pid);
            let ended = state
                .filter(|s| !s.running && !s.finished_at.is_empty())
                .map(|s| crate::timefmt::parse_rfc3339(&s.finished_at).unwrap_or(std::time::UNIX_EPOCH));
            Surveyed { id: c.id, labels: c.labels, pid, ended }
        })
        .collect();
    Ok(Survey { attrs, containers })
}

/// What starting a container takes.
#[derive(Debug)]
pub struct StartRequest {
    /// The task (instance and name): a container made ahead for its next
    /// run is found by it.
    pub slot: String,
    pub name: String,
    pub image: String,
    pub force_pull: bool,
    pub pull_timeout: Duration,
    /// The create request's body.
    pub body: Value,
    /// Where its output goes (the write ends of the task's log pipes).
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

/// Starts driver threads and hands their reports to the loop.
pub struct Docker<K> {
    engine: Arc<Engine>,
    tx: Sender<(K, Report)>,
    rx: Receiver<(K, Report)>,
    /// Written by threads, read by the loop.
    wake: Arc<UnixStream>,
    woken: mio::net::UnixStream,
    /// Threads still at work.
    busy: Arc<AtomicUsize>,
    spares: Spares,
}

const STACK: usize = 256 * 1024;

impl<K: Send + Clone + 'static> Docker<K> {
    pub fn new(engine: Engine) -> std::io::Result<Docker<K>> {
        let (a, b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        let (tx, rx) = channel();
        Ok(Docker {
            engine: Arc::new(engine),
            tx,
            rx,
            wake: Arc::new(a),
            woken: mio::net::UnixStream::from_std(b),
            busy: Arc::new(AtomicUsize::new(0)),
            spares: Spares::default(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// What the loop registers for reading.
    pub fn source(&mut self) -> &mut mio::net::UnixStream {
        &mut self.woken
    }

    /// The reports that come in within `within` (at least one, unless
    /// none came in time).
    pub fn take_within(&mut self, within: Duration) -> Vec<(K, Report)> {
        match self.rx.recv_timeout(within) {
            Ok(first) => std::iter::once(first).chain(self.take()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Asks the engine, on a thread of its own, what it is and which
    /// containers carrying `labels` it holds ([`survey`], each request
    /// within `timeout`): reported as [`Report::Surveyed`]. Not counted
    /// as work in flight: a stopping supd does not wait for it.
    pub fn survey(&self, key: K, name: String, labels: Vec<(String, String)>, timeout: Duration) -> bool {
        let (tx, wake) = (self.tx.clone(), self.wake.clone());
        let engine = Engine { endpoint: self.engine.endpoint.clone(), timeout };
        let spawned = std::thread::Builder::new().name("supd-survey".into()).stack_size(STACK).spawn(move || {
            let _ = tx.send((key, Report::Surveyed(survey(&engine, &name, &labels))));
            let _ = (&*wake).write(&[1]);
        });
        if let Err(e) = &spawned {
            log::error!("cannot start a container driver thread: {e}");
        }
        spawned.is_ok()
    }

    /// Every report that has come in.
    pub fn take(&mut self) -> Vec<(K, Report)> {
        let mut buf = [0u8; 256];
        while matches!((&self.woken).read(&mut buf), Ok(n) if n > 0) {}
        self.rx.try_iter().collect()
    }

    /// Threads still at work (removals included).
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    fn spawn(&self, what: &str, key: K, work: impl FnOnce(&Engine, &dyn Fn(Report)) + Send + 'static) {
        let (engine, tx, wake, busy) = (self.engine.clone(), self.tx.clone(), self.wake.clone(), self.busy.clone());
        busy.fetch_add(1, Ordering::SeqCst);
        let ended = (wake.clone(), busy.clone());
        let spawned = std::thread::Builder::new().name(format!("supd-{what}")).stack_size(STACK).spawn(move || {
            let report = |r: Report| {
                let _ = tx.send((key.clone(), r));
                let _ = (&*wake).write(&[1]);
            };
            work(&engine, &report);
            busy.fetch_sub(1, Ordering::SeqCst);
            let _ = (&*wake).write(&[1]);
        });
        if let Err(e) = spawned {
            ended.1.fetch_sub(1, Ordering::SeqCst);
            log::error!("cannot start a container driver thread: {e}");
        }
    }

    /// Pulls (if needed), creates and starts a container, then follows it.
    pub fn start(&self, key: K, req: StartRequest) {
        // The slot lives again from here, in the loop's order: a task
        // given up after this start (`drop_spare`) stays given up, however
        // late this thread runs.
        self.spares.revive(&req.slot);
        let spares = self.spares.clone();
        self.spawn("container", key, move |engine, report| {
            let StartRequest { slot, name, image, force_pull, pull_timeout, body, stdout, stderr } = req;
            // The container created ahead for this task, when it is what
            // this start asks for: only its start is left to do.
            let ahead = spares.take(engine, &slot, &body).filter(|_| !force_pull);
            let started = match ahead {
                Some(id) => match engine.start(&id) {
                    Ok(()) => Ok(id),
                    Err(_) => {
                        let _ = engine.remove(&id);
                        create_and_start(engine, &name, &image, force_pull, pull_timeout, &body, report)
                    }
                },
                None => create_and_start(engine, &name, &image, force_pull, pull_timeout, &body, report),
            };
            let (id, pid) = match started.and_then(|id| running(engine, id)) {
                Ok((id, pid)) => {
                    report(Report::Started { id: id.clone(), pid });
                    (id, pid)
                }
                Err(error) => return report(Report::Failed { error }),
            };
            // The next run's container is made while this one runs, so
            // that a restart is a start (what the engine's own restart
            // policy does), not a create and a start.
            for old in spares.take_ended(&slot) {
                let _ = engine.remove(&old);
            }
            if !force_pull && let Ok(spare) = engine.create(&format!("{name}-next"), &body) {
                spares.put(engine, &slot, spare, body);
            }
            let end = follow(engine, &id, Some(pid), 0, stdout, stderr, report);
            // On the list before the exit is known, so that the next start
            // finds it to remove.
            spares.ended(engine, &slot, &id);
            report(end);
        });
    }

    /// Follows a container a previous supd started: its output from now
    /// on, its exit, its removal.
    pub fn adopt(&self, key: K, id: String, pid: Option<i32>, stdout: Option<File>, stderr: Option<File>) {
        self.spawn("container", key, move |engine, report| {
            let end = follow(engine, &id, pid, unix_now(), stdout, stderr, report);
            report(end);
            if let Err(e) = engine.remove(&id) {
                log::warn!("container {}: {e}", short(&id));
            }
        });
    }

    /// Sends a signal through the engine; an empty `signal` is the one
    /// that stops the container (its image's STOPSIGNAL, else SIGTERM), as
    /// the engine's own stop sends it. While the engine cannot be reached,
    /// `direct` (the container's first process and the signal's number)
    /// gets it from supd, as the engine would send it: a container is
    /// stopped even while its engine is down.
    pub fn kill(&self, key: K, id: String, signal: String, direct: Option<(i32, i32)>) {
        self.spawn("signal", key, move |engine, report| {
            let signal = match signal.as_str() {
                "" => engine
                    .inspect(&id)
                    .ok()
                    .map(|s| s.stop_signal)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "SIGTERM".into()),
                _ => signal,
            };
            let mut sent = engine.kill(&id, &signal);
            // The engine refuses to signal a paused (frozen) container:
            // it is thawed to get the signal, as a stopped process would.
            if sent.as_ref().is_err_and(|e| e.conflict == Some(Conflict::Paused)) {
                sent = engine.unpause(&id).and_then(|()| engine.kill(&id, &signal));
            }
            if let Err(error) = sent {
                // Already gone: its exit is on its way.
                if error.conflict == Some(Conflict::NotRunning) {
                    return;
                }
                if error.unreachable
                    && let Some((pid, sig)) = direct
                    && runs_in(pid, &id)
                {
                    let sig = nix::sys::signal::Signal::try_from(sig).ok();
                    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok() {
                        return;
                    }
                }
                report(Report::SignalFailed { id, error });
            }
        });
    }

    /// A task is dead for good: the container made ahead for its next run
    /// and those of its ended runs go, then every other container carrying
    /// the task's `labels` (job, group, index, task) that is of this
    /// instance (`mine`: its alloc id, [`super::LABEL_ALLOC`]) or that a
    /// previous supd made (`boot`: this supd's [`super::LABEL_BOOT`]):
    /// one whose create was answered after this supd listed the containers
    /// to adopt (the previous supd was killed while creating it) is known
    /// to no one else. Another instance's containers (its replacement) are
    /// left alone. A container made or ended later by a thread of the
    /// task's runs goes as it comes (`put`, `ended`). The sweep stops if
    /// the task is started again meanwhile.
    pub fn drop_spare(&self, key: K, slot: &str, labels: Vec<(String, String)>, mine: String, boot: String) {
        let known = self.spares.drop_slot(slot);
        let (spares, slot) = (self.spares.clone(), slot.to_string());
        self.spawn("remove", key, move |engine, _| {
            for id in known {
                if let Err(e) = engine.remove(&id) {
                    log::warn!("container {}: {e}", short(&id));
                }
            }
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let left = match engine.list(&labels) {
                Ok(l) => l,
                Err(e) => return log::warn!("{slot}: {e}; containers of the task may be left"),
            };
            let label = |c: &super::engine::Listed, k: &str| c.labels.get(k).cloned().unwrap_or_default();
            for c in left {
                if label(&c, super::LABEL_ALLOC) != mine && label(&c, super::LABEL_BOOT) == boot {
                    continue;
                }
                if !spares.dropped(&slot) {
                    return;
                }
                log::info!("{slot}: removing container {}, which no run follows", short(&c.id));
                if let Err(e) = engine.remove(&c.id) {
                    log::warn!("container {}: {e}", short(&c.id));
                }
            }
        });
    }

    /// Stops and removes a container nobody follows.
    pub fn remove(&self, key: K, id: String) {
        self.spawn("remove", key, move |engine, _| {
            if let Err(e) = engine.remove(&id) {
                log::warn!("container {}: {e}", short(&id));
            }
        });
    }
}

fn create_and_start(
    engine: &Engine,
    name: &str,
    image: &str,
    force_pull: bool,
    pull_timeout: Duration,
    body: &Value,
    report: &dyn Fn(Report),
) -> Result<String, EngineError> {
    if force_pull || !engine.image_exists(image)? {
        report(Report::Pulling { image: image.to_string() });
        engine.pull(image, pull_timeout)?;
    }
    let id = match engine.create(name, body) {
        Err(EngineError { conflict: Some(Conflict::NameInUse { holder }), .. }) => {
            // A container of an earlier run by the same name: it goes.
            if let Some(old) = holder {
                let _ = engine.remove(&old);
            }
            engine.create(name, body)?
        }
        other => other?,
    };
    if let Err(e) = engine.start(&id) {
        let _ = engine.remove(&id);
        return Err(e);
    }
    Ok(id)
}

/// A started container and its first process, or it goes.
fn running(engine: &Engine, id: String) -> Result<(String, i32), EngineError> {
    match engine.inspect(&id) {
        Ok(s) => Ok((id, s.pid)),
        Err(e) => {
            let _ = engine.remove(&id);
            Err(e)
        }
    }
}

/// Per task (its slot): the container created ahead for its next run, and
/// the containers of its ended runs, removed once the next run has
/// started (a removal beside a start slows the start down).
#[derive(Default, Clone)]
struct Spares(Arc<Mutex<HashMap<String, Slot>>>);

#[derive(Default)]
struct Slot {
    ahead: Option<(String, Value)>,
    ended: Vec<String>,
    /// The task is dead for good: what is made or ends meanwhile goes.
    dropped: bool,
}

impl Spares {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The slot's container made ahead, if it was created with this very
    /// request; one made for another request is removed.
    fn take(&self, engine: &Engine, slot: &str, body: &Value) -> Option<String> {
        let found = {
            let mut map = self.lock();
            map.entry(slot.to_string()).or_default().ahead.take()
        };
        match found {
            Some((id, made)) if &made == body => Some(id),
            Some((id, _)) => {
                let _ = engine.remove(&id);
                None
            }
            None => None,
        }
    }

    fn put(&self, engine: &Engine, slot: &str, id: String, body: Value) {
        let gone = {
            let mut map = self.lock();
            let entry = map.entry(slot.to_string()).or_default();
            if entry.dropped { Some(id) } else { entry.ahead.replace((id, body)).map(|(old, _)| old) }
        };
        if let Some(id) = gone {
            let _ = engine.remove(&id);
        }
    }

    /// A run's container ended: removed after the next start, or now if
    /// the task is dead for good.
    fn ended(&self, engine: &Engine, slot: &str, id: &str) {
        let now = {
            let mut map = self.lock();
            let entry = map.entry(slot.to_string()).or_default();
            if !entry.dropped {
                entry.ended.push(id.to_string());
            }
            entry.dropped
        };
        if now {
            let _ = engine.remove(id);
        }
    }

    /// The containers of the slot's ended runs, to remove now.
    fn take_ended(&self, slot: &str) -> Vec<String> {
        self.lock().get_mut(slot).map(|e| std::mem::take(&mut e.ended)).unwrap_or_default()
    }

    /// The slot's task is started (again).
    fn revive(&self, slot: &str) {
        self.lock().entry(slot.to_string()).or_default().dropped = false;
    }

    fn dropped(&self, slot: &str) -> bool {
        self.lock().get(slot).is_some_and(|e| e.dropped)
    }

    /// The slot's task is dead for good: every container kept for it.
    fn drop_slot(&self, slot: &str) -> Vec<String> {
        let mut map = self.lock();
        let entry = map.entry(slot.to_string()).or_default();
        entry.dropped = true;
        let mut ids = std::mem::take(&mut entry.ended);
        ids.extend(entry.ahead.take().map(|(id, _)| id));
        ids
    }
}

/// Copies the container's output until it ends; how it ended.
///
/// An engine that goes away (stopped, restarted, hung) is not the end of
/// the container: with `live-restore` its containers run on. The outage is
/// reported (`EngineLost`) and the container's process (`pid`, if known)
/// watched meanwhile: the engine's answer, once it comes, says whether the
/// container still runs (followed again, `EngineBack`) or how it ended;
/// a process that ends while the engine is still away ended, with an
/// unknown status.
fn follow(
    engine: &Engine,
    id: &str,
    pid: Option<i32>,
    mut since: u64,
    mut stdout: Option<File>,
    mut stderr: Option<File>,
    report: &dyn Fn(Report),
) -> Report {
    // Watched only where its cgroup says whose it is.
    let pid = pid.filter(|&p| runs_in(p, id));
    let mut lost = false;
    loop {
        match engine.logs(id, since) {
            Ok(body) => {
                if lost {
                    lost = false;
                    report(Report::EngineBack { id: id.to_string() });
                }
                copy_output(body, &mut stdout, &mut stderr);
            }
            Err(e) if e.unreachable => {}
            Err(e) => log::warn!("container {}: {e}", short(id)),
        }
        // What is written from here on is read again if the engine went.
        since = unix_now();
        let error = match engine.wait(id).and_then(|_| engine.inspect(id)) {
            Ok(s) => return exited(id, &s),
            Err(e) if e.unreachable => e.message,
            Err(e) => {
                return Report::Exited { id: id.to_string(), code: -1, oom_killed: false, error: Some(e.message) };
            }
        };
        if !lost {
            lost = true;
            report(Report::EngineLost { id: id.to_string(), error });
        }
        if let Some(end) = outlast_outage(engine, id, pid) {
            return end;
        }
    }
}

/// Copies the container's output stream (`body`, multiplexed) into its
/// log pipes until it ends or breaks.
fn copy_output(mut body: impl Read, stdout: &mut Option<File>, stderr: &mut Option<File>) {
    let mut demux = Demux::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match body.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => demux.feed(&buf[..n], &mut |s, bytes| {
                let out = if s == 2 { stderr.as_mut() } else { stdout.as_mut() };
                if let Some(f) = out {
                    let _ = f.write_all(bytes);
                }
            }),
        }
    }
}

/// Waits through an engine outage: `None` once the engine answers that
/// the container still runs (to be followed again), else how it ended
/// (its process `pid`, if watched, may end first).
fn outlast_outage(engine: &Engine, id: &str, pid: Option<i32>) -> Option<Report> {
    // Until the engine answers or the process is gone.
    let mut pause = Duration::from_millis(250);
    loop {
        std::thread::sleep(pause);
        pause = (pause * 2).min(OUTAGE_POLL);
        if let Some(pid) = pid
            && !runs_in(pid, id)
        {
            // Its end may be read from the engine once it is back.
            if let Ok(s) = engine.inspect(id)
                && !s.running
            {
                return Some(exited(id, &s));
            }
            return Some(Report::Exited {
                id: id.to_string(),
                code: -1,
                oom_killed: false,
                error: Some("it ended while its container engine could not be reached: how is unknown".into()),
            });
        }
        match engine.inspect(id) {
            Ok(s) if s.running => return None,
            Ok(s) => return Some(exited(id, &s)),
            Err(e) if e.unreachable => continue,
            Err(e) => {
                return Some(Report::Exited {
                    id: id.to_string(),
                    code: -1,
                    oom_killed: false,
                    error: Some(e.message),
                });
            }
        }
    }
}

/// How often a container's process and its engine are looked at while
/// the engine cannot be reached (at most; sooner at first).
const OUTAGE_POLL: Duration = Duration::from_secs(2);

fn exited(id: &str, s: &super::engine::State) -> Report {
    Report::Exited { id: id.to_string(), code: s.exit_code, oom_killed: s.oom_killed, error: None }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether `pid` is a live process of container `id`: its cgroup's path
/// names the container (`/docker/ID`, `docker-ID.scope`, `libpod-ID.scope`),
/// so that a pid reused by another process is never taken for it.
fn runs_in(pid: i32, id: &str) -> bool {
    if pid <= 0 || id.len() < 12 {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(id))
}

/// The 12 characters `docker ps` shows.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
