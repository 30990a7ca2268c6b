//! A task's file work off the loop: its templates rendered and written,
//! and a dispatched run's payload written, on a thread of their own per
//! request. A task owns its directory and may make its files slow to
//! write (a full disk, a stalled filesystem) or templates costly to
//! render; none of that holds up the loop: `status`, other tasks'
//! restarts and shutdown go on, and a render that has not finished within
//! [`DEADLINE`] fails the task's start (`Timer::RenderTimeout`). The
//! thread decides nothing: what it did comes back on a channel through
//! the loop's waker (`WOKEN`), keyed by the task and the generation it
//! was asked for, and a result for an older generation is dropped.

use super::TaskKey;
use super::task::Written;
use crate::jobspec::taskdir_blocks::Template;
use crate::node::Node;
use crate::taskdir::{self, RenderInput, ServiceAddr, TaskDir};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// How long a task's file work may take before its start fails.
pub(super) const DEADLINE: Duration = Duration::from_secs(10);

/// What the work is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Before the task's start: its payload and every template.
    Start,
    /// A running task's template whose source changed.
    Again { template: usize },
}

/// Variables a task's templates may read, by path.
pub(super) type Variables = BTreeMap<String, BTreeMap<String, String>>;

/// What a task's templates may see beyond its environment.
pub(super) struct World {
    /// The services registered here (when they may ask).
    pub services: Vec<ServiceAddr>,
    /// The variables the task may read that are written.
    pub variables: Variables,
    /// The paths it may read: a `nomadVar` of one not written yet waits.
    pub readable: Vec<String>,
}

/// Everything one request needs, owned: the thread sees nothing else.
pub(super) struct Work {
    pub key: TaskKey,
    pub generation: u64,
    pub purpose: Purpose,
    pub dir: TaskDir,
    /// (index in the task's list, template)
    pub templates: Vec<(usize, Template)>,
    /// A dispatched run's payload: its file under `local/`, its bytes.
    pub payload: Option<(String, Arc<[u8]>)>,
    pub env: BTreeMap<String, String>,
    pub node: Node,
    pub world: World,
    pub max_output: u64,
    pub owner: taskdir::beneath::Owner,
}

/// What a request came to: every template written, or the first failure.
pub(super) struct Done {
    pub key: TaskKey,
    pub generation: u64,
    pub purpose: Purpose,
    pub outcome: Result<Vec<Written>, RenderFailure>,
}

/// What a render request failed on; the message is the failure's own.
#[derive(Debug, thiserror::Error)]
pub(super) enum RenderFailure {
    /// A dispatched run's payload could not be written.
    #[error(transparent)]
    Payload(taskdir::beneath::BeneathError),
    /// A template could not be rendered or written.
    #[error(transparent)]
    Template(taskdir::RenderError),
}

/// The threads' side: requests in flight and their results.
pub(super) struct Renders {
    tx: Sender<Done>,
    rx: Receiver<Done>,
    waker: Arc<mio::Waker>,
    busy: Arc<AtomicUsize>,
}

/// A render builds its output in memory (at most the template limit) and
/// its functions may recurse: room for both.
const STACK: usize = 1024 * 1024;

impl Renders {
    pub(super) fn new(waker: Arc<mio::Waker>) -> Renders {
        let (tx, rx) = channel();
        Renders { tx, rx, waker, busy: Arc::new(AtomicUsize::new(0)) }
    }

    /// Starts the work on a thread of its own.
    pub(super) fn start(&self, work: Work) -> std::io::Result<()> {
        let (tx, waker, busy) = (self.tx.clone(), self.waker.clone(), self.busy.clone());
        busy.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new().name("supd-render".into()).stack_size(STACK).spawn(move || {
            let done = Done { key: work.key, generation: work.generation, purpose: work.purpose, outcome: run(&work) };
            let _ = tx.send(done);
            busy.fetch_sub(1, Ordering::SeqCst);
            let _ = waker.wake();
        });
        if spawned.is_err() {
            self.busy.fetch_sub(1, Ordering::SeqCst);
        }
        spawned.map(|_| ())
    }

    pub(super) fn try_recv(&self) -> Option<Done> {
        self.rx.try_recv().ok()
    }

    /// Requests still at work.
    pub(super) fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }
}

fn run(w: &Work) -> Result<Vec<Written>, RenderFailure> {
    if let Some((file, payload)) = &w.payload {
        write_payload(&w.dir, file, payload, w.owner).map_err(RenderFailure::Payload)?;
    }
    let vars = |name: &str| super::launch::lookup_in(&w.node, &w.env, name);
    let input = RenderInput {
        task: &w.dir,
        env: &w.env,
        vars: &vars,
        services: &w.world.services,
        datacenter: &w.node.datacenter,
        variables: &w.world.variables,
        readable: &w.world.readable,
        max_output: w.max_output,
    };
    let mut out = Vec::with_capacity(w.templates.len());
    for (index, tpl) in &w.templates {
        let (r, changed) = taskdir::render::render_to_disk(tpl, &input, w.owner).map_err(RenderFailure::Template)?;
        let source = if tpl.once { None } else { taskdir::render::source_path(tpl, &input).ok().flatten() };
        out.push(Written { index: *index, path: r.path, changed, env: r.env, source });
    }
    Ok(out)
}

/// Writes a dispatched run's payload to `local/FILE` (validation kept
/// FILE inside `local/`), 0600 and owned by the task's user.
fn write_payload(
    dir: &TaskDir,
    file: &str,
    payload: &[u8],
    owner: taskdir::beneath::Owner,
) -> Result<(), taskdir::beneath::BeneathError> {
    let parts: Vec<&str> = file.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let Some((name, parents)) = parts.split_last() else { return Ok(()) };
    // Walked from the task's directory: a `local` the task made a link
    // is refused, not followed.
    let mut path = vec!["local"];
    path.extend_from_slice(parents);
    let local = taskdir::beneath::Dir::open(&dir.dir)?.subdir(&path, Some((0o755, owner)))?;
    local.write_atomic(name, payload, 0o600, owner).map(|_| ())
}
