//! The `docker` and `podman` drivers: containers through the Docker Engine
//! API over its Unix socket (podman's compatible service for `podman`),
//! with no `docker` or `podman` CLI in between. `http` is the client, `engine` the requests, `spec` the create
//! request of a task, `worker` the threads that make them and report back
//! to the loop.

pub mod engine;
pub mod http;
pub mod spec;
pub mod worker;

pub use engine::{Conflict, Engine, EngineError};
pub use http::{Endpoint, EndpointError};
pub use spec::{Settings, SpecError};
pub use worker::{Docker, Report, StartRequest, Survey, short};

use super::{Def, EngineDef, Host, Kind, no_attributes, own_command};
use crate::jobspec::decode::container::{docker_config, podman_config};
use crate::jobspec::model::Task;

/// The drivers of this file, for `drivers::all`.
pub static DEFS: &[&Def] = &[&DOCKER, &PODMAN];

/// `docker`: a container of the Docker Engine (`[driver.docker]`).
pub static DOCKER: Def = Def {
    name: "docker",
    kind: Kind::Container,
    isolated: false,
    engine: Some(EngineDef { slot: 0, endpoint: Endpoint::choose, settings: docker_settings }),
    config: docker_config,
    nothing_to_run: no_container,
    hint: IMAGE_HINT,
    attributes: no_attributes,
    program: own_command,
};

/// `podman`: the same driver on podman's Docker-compatible service
/// (`[driver.podman]`), with the `config` keys of Nomad's podman driver.
pub static PODMAN: Def = Def {
    name: "podman",
    kind: Kind::Container,
    isolated: false,
    engine: Some(EngineDef { slot: 1, endpoint: Endpoint::choose_podman, settings: podman_settings }),
    config: podman_config,
    nothing_to_run: no_container,
    hint: IMAGE_HINT,
    attributes: no_attributes,
    program: own_command,
};

const IMAGE_HINT: &str = "`config { image = \"…\" }`";

fn no_container(t: &Task) -> bool {
    t.container.is_none()
}

fn docker_settings<'a>(h: &Host<'a>) -> &'a Settings {
    h.docker
}

fn podman_settings<'a>(h: &Host<'a>) -> &'a Settings {
    h.podman
}

/// The labels supd puts on its containers; `HOME` names the supd (its
/// state directory), so that supds sharing an engine leave each other's
/// containers alone.
pub const LABEL_HOME: &str = "supd.home";
pub const LABEL_JOB: &str = "supd.job";
pub const LABEL_GROUP: &str = "supd.group";
pub const LABEL_INDEX: &str = "supd.index";
pub const LABEL_TASK: &str = "supd.task";
pub const LABEL_ALLOC: &str = "supd.alloc_id";
/// The supd that made the container (one value per start of supd): one a
/// previous supd made is adopted at start or is a leftover.
pub const LABEL_BOOT: &str = "supd.boot";

/// `driver.NAME` and `driver.NAME.version` (`docker`, `podman`), when the
/// engine answers.
pub fn fingerprint(engine: &Engine, name: &str) -> Result<Vec<(String, String)>, EngineError> {
    let version = engine.version()?;
    Ok(vec![(format!("driver.{name}"), "1".into()), (format!("driver.{name}.version"), version)])
}
