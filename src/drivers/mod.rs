//! Task drivers: how a task's run is started, signalled, waited for and
//! recovered after a restart of supd. Host processes (`exec`, `raw_exec`)
//! go through `process::spawn`, as always; container tasks (`docker`, `podman`) go
//! through the engine, on threads of the driver that report back to the
//! loop. The supervisor asks [`Kind::of`] once per start, per signal and per
//! exit, and nothing else about a task knows its driver.

pub mod docker;
pub mod exec;
pub mod java;

use crate::jobspec::model::{Driver, Task};

/// Which mechanism runs a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A child process of supd (`exec`, `raw_exec`).
    Process,
    /// A container of the engine (`docker`, `podman`).
    Container,
}

impl Kind {
    pub fn of(task: &Task) -> Kind {
        match task.driver {
            Driver::Exec | Driver::RawExec | Driver::Java => Kind::Process,
            Driver::Docker | Driver::Podman => Kind::Container,
        }
    }
}
