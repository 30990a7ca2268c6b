//! Task drivers: how a task's run is started, signalled, waited for and
//! recovered after a restart of supd. Host processes (`exec`, `raw_exec`,
//! `java`) go through `process::spawn`, as always; container tasks
//! (`docker`, `podman`) go through the engine, on threads of the driver
//! that report back to the loop.
//!
//! The drivers supd runs are [`all`], each a [`Def`] in its own file: its
//! name, kind, `config` reader, host needs, attributes and program. A
//! task's [`Driver`] is a handle on one; what depends on the driver asks
//! its definition (`Driver::def`, [`Kind::of`]), not its name.

use crate::jobspec::decode::config::{ConfigBlock, RunConfig};
use crate::jobspec::model::{Driver, Task};
use crate::jobspec::reader::Reader;

/// Declares each driver's module and lists the definitions it exports as
/// `DEFS`, module by module, as [`all`]: a new driver is its file and its
/// name added to the one line below.
macro_rules! drivers {
    ($($module:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every driver supd runs, in the order messages list them
        /// (`[handoff] drivers`; an unsupported `driver` lists host
        /// processes first).
        pub fn all() -> impl Iterator<Item = &'static Def> {
            [$($module::DEFS),+].into_iter().flatten().copied()
        }
    };
}

drivers!(exec, docker, java);

/// A driver: what `driver = "…"` names, and what the rest of supd asks of
/// it. Each driver's file defines one, listed in its `DEFS`.
pub struct Def {
    /// What a job file's `driver` names (and `[handoff] drivers`).
    pub name: &'static str,
    /// Which mechanism runs its tasks.
    pub kind: Kind,
    /// Its tasks run in namespaces, a root and capabilities of their own
    /// (Nomad's `exec`), by `[driver.exec]`'s rules: that takes root
    /// (`process::isolate::missing`), without which they do not start and
    /// this node has no `driver.exec`.
    pub isolated: bool,
    /// The engine of a container driver (`Kind::Container`); `None` for
    /// host processes.
    pub engine: Option<EngineDef>,
    /// Reads a task's `config` block: the keys it knows, what they say.
    pub config: fn(&mut Reader, &ConfigBlock) -> RunConfig,
    /// Whether a task has nothing to run: it had no `config` block.
    pub nothing_to_run: fn(&Task) -> bool,
    /// The `config` block a task needs at least, for messages.
    pub hint: &'static str,
    /// Its attributes of this node (`driver.NAME`), found as supd starts
    /// (`Node::detect`); those asked of a program or an engine later are
    /// not here.
    pub attributes: fn() -> Vec<(String, String)>,
    /// The program and arguments a task's process starts with, when they
    /// are not its `command` and `args`; an error when this host cannot
    /// start its tasks.
    pub program: fn(&Task, &Host) -> Result<Option<Program>, Unavailable>,
}

/// A program and its arguments, as written (`${...}` resolved at start).
pub type Program = (String, Vec<String>);

/// Which mechanism runs a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A child process of supd (`exec`, `raw_exec`, `java`).
    Process,
    /// A container of the engine (`docker`, `podman`).
    Container,
}

/// How a container driver reaches its engine.
#[derive(Clone, Copy)]
pub struct EngineDef {
    /// Its place in the supervisor's state per engine (`Containers`,
    /// which holds two: 0 or 1).
    pub slot: usize,
    /// Where the engine listens: the endpoint configured, else its default.
    pub endpoint: fn(Option<&str>) -> Result<docker::Endpoint, docker::EndpointError>,
    /// Its section of supd.toml (`[driver.docker]`, `[driver.podman]`).
    pub settings: for<'a> fn(&Host<'a>) -> &'a docker::Settings,
}

/// supd.toml's `[driver.*]` sections, as the drivers ask them.
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    pub exec: &'a exec::Settings,
    pub java: &'a java::Settings,
    pub docker: &'a docker::Settings,
    pub podman: &'a docker::Settings,
}

/// What this host lacks to start a driver's tasks, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub &'static str);

impl Def {
    /// The handle a task holds on this driver.
    pub fn driver(&self) -> Driver {
        Driver(self.name)
    }
}

impl Driver {
    /// The driver `driver = "…"` names, if supd runs it.
    pub fn named(name: &str) -> Option<Driver> {
        all().find(|d| d.name == name).map(Def::driver)
    }

    /// What a task that names no driver is read as (its job is refused
    /// for that): a plain host process.
    pub fn fallback() -> Driver {
        exec::RAW_EXEC.driver()
    }

    /// Its definition. A `Driver` is only made from an entry of
    /// [`all`], which has it.
    pub fn def(self) -> &'static Def {
        all().find(|d| d.name == self.0).unwrap_or(&exec::RAW_EXEC)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// A container engine runs the task, not supd's own spawn.
    pub fn is_container(self) -> bool {
        self.def().kind == Kind::Container
    }

    /// A host process in namespaces, a root and capabilities of its own
    /// (Nomad's `exec`).
    pub fn is_isolated(self) -> bool {
        self.def().isolated
    }
}

impl Kind {
    pub fn of(task: &Task) -> Kind {
        task.driver.def().kind
    }
}

/// Why this task cannot start (`None`: it can): it has no `config`
/// block. A job file may hold such a task, as Nomad's `job validate`
/// accepts it; its start fails, as Nomad's driver fails it on the client.
pub fn missing_config(task: &Task) -> Option<String> {
    let def = task.driver.def();
    (def.nothing_to_run)(task).then(|| {
        format!(
            "task {:?} has no config block, so driver {:?} has nothing to run — add {}",
            task.name, def.name, def.hint
        )
    })
}

/// The drivers supd runs, for messages: `"exec", "raw_exec", … or
/// "podman"`, host processes first.
pub fn listed() -> String {
    let by_kind = |kind: Kind| all().filter(move |d| d.kind == kind);
    let names: Vec<String> =
        by_kind(Kind::Process).chain(by_kind(Kind::Container)).map(|d| format!("{:?}", d.name)).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A driver's [`Def::attributes`] when it has none to find at start.
pub fn no_attributes() -> Vec<(String, String)> {
    Vec::new()
}

/// A driver's [`Def::program`] when its tasks run their own `command`.
pub fn own_command(_: &Task, _: &Host) -> Result<Option<Program>, Unavailable> {
    Ok(None)
}
