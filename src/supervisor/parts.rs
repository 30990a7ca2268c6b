//! The supervisor's parts, grouped by what they serve: the loop's event
//! sources, what supd writes down and reports, and the work in flight.
//! Each field is a component with its own file and API; this file only
//! names the groups.

use super::{Timers, Watches};
use super::{
    cgroups, containers, metrics, output, parsing, periodic, persist, reexec, remote, rng, setup, spawner, warm,
};
use mio::Poll;
use signal_hook_mio::v1_0::Signals;

/// The loop's event sources and clocks.
pub(super) struct Io {
    pub(super) poll: Poll,
    pub(super) signals: Signals,
    /// What every other token of the loop watches.
    pub(super) watches: Watches,
    pub(super) timers: Timers,
    pub(super) rng: rng::Rng,
    /// The next task start is the first of this turn of the loop (after
    /// bring-up): its clone is held to supd's CPU (`process::spawn_in`).
    pub(super) pin_start: bool,
}

/// What supd writes down and tells the world.
pub(super) struct Reports {
    /// The journal, a pending save, saved states not yet matched.
    pub(super) store: persist::Store,
    /// systemd's notify socket (ready, status, watchdog).
    pub(super) notify: crate::notify::Notifier,
    /// Where task output goes beyond its files (the journal), and supd's
    /// warnings about output that cannot go where it should.
    pub(super) output: output::Sinks,
    /// The Prometheus endpoint, when configured, and supd's own measurements.
    pub(super) metrics: metrics::Metrics,
    /// The Nomad Variables, read at the first need (`None` until then).
    pub(super) variables: Option<crate::variables::Store>,
}

/// Work in flight off the loop, or due later: each part reports back
/// through the loop (a waker, a token, a timer).
pub(super) struct Pending {
    /// Artifact fetches in flight, template sources watched.
    pub(super) setup: setup::SetupWork,
    /// The container driver: its threads' reports, containers to adopt.
    pub(super) containers: containers::Containers,
    /// Large `job run` files being parsed off the loop.
    pub(super) parses: parsing::Parses,
    /// The schedules of periodic jobs.
    pub(super) launches: periodic::Launches,
    /// Cgroups of dead tasks, removed once their last processes are gone.
    pub(super) graveyard: cgroups::Graveyard,
    /// Starts held until a v1 cgroup join would not hold up the loop.
    pub(super) warmer: warm::Warmer,
    /// The spawn thread of supd's start (`None` once the loop runs).
    pub(super) spawner: Option<spawner::Spawner>,
    /// After a re-exec, until bring-up is done: who to answer, what was kept.
    pub(super) resumed: Option<reexec::Resumed>,
    /// Requests to peers about handed-off work, recalls owed, hand-offs
    /// withdrawn here.
    pub(super) remote: remote::Remote,
    /// The JVM's answer (`driver.java`), when no job needed it before the
    /// first tasks started.
    pub(super) java: JavaProbe,
}

/// `java -version`, when supd's start did not wait for it: asked once
/// bring-up is over (a JVM's start takes both CPUs for tens of
/// milliseconds, which the first tasks' starts had better have), taken
/// when it answers, or waited for by whatever needs the node's attributes
/// first.
#[derive(Default)]
pub(super) enum JavaProbe {
    /// Nothing to ask, or taken.
    #[default]
    None,
    /// To ask once bring-up is over.
    Later,
    /// Asked; its thread sends the answer and wakes the loop.
    Asked(std::sync::mpsc::Receiver<Vec<(String, String)>>),
}
