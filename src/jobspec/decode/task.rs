//! The `task` block and its `config`, `lifecycle`, `logs` and `resources`.

use super::config::{ConfigBlock, RunConfig};
use super::*;
use crate::signals::{self, KillSignal};
use nix::sys::signal::Signal;

pub(super) const TASK: Schema = Schema {
    what: "task",
    keys: &[
        ("dispatch_payload", Blk),
        ("driver", Attr),
        ("config", Blk),
        ("env", Either),
        ("user", Attr),
        ("kill_timeout", Attr),
        ("kill_signal", Attr),
        ("shutdown_delay", Attr),
        ("leader", Attr),
        ("lifecycle", Blk),
        ("logs", Blk),
        ("resources", Blk),
        ("restart", Blk),
        ("service", Blk),
        ("constraint", Blk),
        ("meta", Either),
        ("template", Blk),
        ("artifact", Blk),
    ],
    ignored: &[
        "vault",
        "volume_mount",
        "kind",
        "affinity",
        "identity",
        "csi_plugin",
        "scaling",
        "consul",
        "action",
        "schedule",
        "secret",
    ],
};

pub(super) const LIFECYCLE: Schema =
    Schema { what: "lifecycle", keys: &[("hook", Attr), ("sidecar", Attr)], ignored: &[] };

pub(super) const LOGS: Schema =
    Schema { what: "logs", keys: &[("max_files", Attr), ("max_file_size", Attr)], ignored: &["disabled", "enabled"] };

pub(super) const RESOURCES: Schema = Schema {
    what: "resources",
    keys: &[("cpu", Attr), ("memory", Attr), ("memory_max", Attr), ("network", Blk)],
    ignored: &["cores", "device", "numa", "disk", "iops", "secrets"],
};

pub(super) struct Scope<'a> {
    pub(super) job: &'a str,
    pub(super) group: &'a str,
    pub(super) task: Option<&'a str>,
    pub(super) ports: &'a [Port],
    /// The names of the group's tasks.
    pub(super) tasks: &'a [String],
}

/// A task block: its driver and `config`, how it is stopped, its
/// sub-blocks, and what it takes over from its group. With it, the ports
/// its `resources` declare (a label or static port of `taken`, the
/// group's so far, is an error), which its config and services may name
/// beside the group's.
#[allow(clippy::too_many_arguments)]
pub(super) fn task(
    r: &mut Reader,
    block: &Block,
    name: String,
    scope: &Scope,
    taken: &[Port],
    job_type: JobType,
    group_restart: &RestartSpec,
    group_meta: &BTreeMap<String, String>,
) -> (Task, Vec<Port>) {
    let b = &block.body;
    r.check_keys(b, &TASK);
    let resources_block = r.one_block(b, "resources", "a task");
    let own_ports = resources_block.map(|rb| task_network(r, &rb.body, taken)).unwrap_or_default();
    let ports: Vec<Port> = scope.ports.iter().chain(&own_ports).cloned().collect();
    let scope = &Scope { ports: &ports, ..*scope };
    let (driver, foreign_driver) = task_driver(r, block, &name);
    super::scaling::task_scaling(r, b);
    let run = task_config(r, block, &name, scope.ports, driver, foreign_driver);
    let env = r.string_map(b, "env");
    let user = r.attr(b, "user").and_then(|a| r.literal(&a.value, "user"));
    let kill_timeout =
        r.attr(b, "kill_timeout").and_then(|a| r.duration(&a.value, "kill_timeout")).unwrap_or(Duration::from_secs(5));
    let kill_signal = kill_signal(r, b, driver);
    let shutdown_delay =
        r.attr(b, "shutdown_delay").and_then(|a| r.duration(&a.value, "shutdown_delay")).unwrap_or_default();
    let leader = r.attr(b, "leader").and_then(|a| r.bool(&a.value, "leader")).unwrap_or(false);
    let lifecycle = r.one_block(b, "lifecycle", "a task").and_then(|lb| lifecycle(r, lb));
    let logs = r.one_block(b, "logs", "a task").map_or_else(Logs::default, |lb| logs(r, lb));
    let resources = resources_block.map_or_else(Resources::default, |rb| resources(r, rb));
    let restart = task_restart(r, b, job_type, group_restart);
    let services = services(r, b, scope);
    let (templates, artifacts) = super::super::taskdir_blocks::decode(r, b);
    let constraints = constraints(r, b);
    let mut meta = group_meta.clone();
    meta.extend(r.meta(b));
    let dispatch_payload = dispatch_payload(r, b);
    let pos = r.sink.pos(&block.ident.span());
    let task = Task {
        name,
        pos,
        driver: driver.unwrap_or_else(Driver::fallback),
        container: run.container,
        isolation: Some(run.isolation).filter(|i| *i != IsolationConfig::default()).map(Box::new),
        java: run.java,
        command: run.command,
        args: run.args,
        work_dir: run.work_dir,
        env,
        user,
        kill_timeout,
        kill_signal,
        shutdown_delay,
        group_shutdown_delay: Duration::ZERO,
        leader,
        lifecycle,
        logs,
        resources,
        restart,
        services: services.into(),
        templates: templates.into(),
        artifacts: artifacts.into(),
        constraints: constraints.into(),
        meta,
        dispatch_payload,
    };
    (task, own_ports)
}

/// The task's `driver`, and whether it names a driver supd does not run.
/// Another driver's config keys are that driver's business: they are
/// not checked once the unsupported driver is reported.
fn task_driver(r: &mut Reader, block: &Block, name: &str) -> (Option<Driver>, bool) {
    let mut foreign_driver = false;
    let driver = match r.attr(&block.body, "driver") {
        None => {
            r.sink.error(
                block.ident.span(),
                format!("{} has no driver — add `driver = \"exec\"` (or \"raw_exec\")", named("task", name)),
            );
            None
        }
        Some(a) => match r.literal(&a.value, "driver").as_deref() {
            Some(written) if let Some(driver) = Driver::named(written) => Some(driver),
            Some(other) => {
                foreign_driver = true;
                let hint = if matches!(other, "containerd-driver" | "containerd") {
                    "; for a container image, use driver \"docker\""
                } else {
                    ""
                };
                r.sink.error(
                    a.value.span(),
                    format!(
                        "driver {other:?} is not supported — supd runs tasks with driver {}{hint}",
                        crate::drivers::listed()
                    ),
                );
                None
            }
            None => None,
        },
    };
    (driver, foreign_driver)
}

/// The task's `config` block, read by its driver's reader
/// (`drivers::Def::config`); a missing one is reported unless the driver
/// is one supd does not run.
fn task_config(
    r: &mut Reader,
    block: &Block,
    name: &str,
    ports: &[Port],
    driver: Option<Driver>,
    foreign_driver: bool,
) -> RunConfig {
    match r.one_block(&block.body, "config", "a task") {
        Some(cfg) => {
            r.no_label(cfg);
            if foreign_driver {
                return RunConfig::default();
            }
            let read = driver.unwrap_or_else(Driver::fallback).def().config;
            read(r, &ConfigBlock { block: cfg, task: name, ports })
        }
        // Nomad's `job validate` accepts a task without one and its
        // client fails the task at start: so does supd, warning here.
        None => {
            if let Some(driver) = driver {
                r.sink.warn(
                    block.ident.span(),
                    format!(
                        "{} has no config block: its start will fail (a Driver Failure) — add {}",
                        named("task", name),
                        driver.def().hint
                    ),
                );
            }
            RunConfig::default()
        }
    }
}

/// The task's `kill_signal`, or the driver's default without one.
fn kill_signal(r: &mut Reader, b: &Body, driver: Option<Driver>) -> KillSignal {
    // A container without one is stopped with its image's STOPSIGNAL,
    // else SIGTERM, as Nomad's docker and podman drivers stop it (the
    // engine's stop): `KillSignal::Default` stands for that.
    let container_task = driver.is_some_and(Driver::is_container);
    match r.attr(b, "kill_signal") {
        Some(a) => {
            let written = r.enum_value(&a.value, "kill_signal", &signals::NAMES);
            KillSignal::Named(written.as_deref().and_then(signals::parse).unwrap_or(Signal::SIGINT))
        }
        None if container_task => KillSignal::Default,
        None => KillSignal::Named(Signal::SIGINT),
    }
}

/// The task's `lifecycle` block: its `hook` and `sidecar`; `None` when
/// the hook is missing or wrong.
fn lifecycle(r: &mut Reader, lb: &Block) -> Option<Lifecycle> {
    r.no_label(lb);
    r.check_keys(&lb.body, &LIFECYCLE);
    let sidecar = r.attr(&lb.body, "sidecar").and_then(|a| r.bool(&a.value, "sidecar")).unwrap_or(false);
    let hook = match r.attr(&lb.body, "hook") {
        Some(a) => r.enum_value(&a.value, "hook", &["prestart", "poststart", "poststop"])?,
        None => {
            r.sink.error(
                lb.ident.span(),
                "lifecycle block has no `hook` — add hook = \"prestart\", \"poststart\" or \"poststop\"",
            );
            return None;
        }
    };
    let hook = match hook.as_str() {
        "prestart" => Hook::Prestart,
        "poststart" => Hook::Poststart,
        _ => Hook::Poststop,
    };
    Some(Lifecycle { hook, sidecar })
}

/// The task's `restart` block over its group's and the job type's
/// defaults; checked when the task has one of its own.
fn task_restart(r: &mut Reader, b: &Body, job_type: JobType, group_restart: &RestartSpec) -> RestartPolicy {
    let own_restart = r.one_block(b, "restart", "a task").map(|blk| restart_spec(r, blk));
    match &own_restart {
        Some(spec) => {
            let merged = spec.over(group_restart.over(job_type.default_restart()));
            if !spec.broken && !group_restart.broken {
                validate_restart(r, &merged, spec.span.clone(), "task");
            }
            merged
        }
        None => group_restart.over(job_type.default_restart()),
    }
}

pub(super) fn logs(r: &mut Reader, lb: &Block) -> Logs {
    r.no_label(lb);
    r.check_keys(&lb.body, &LOGS);
    let d = Logs::default();
    let max_files = r
        .attr(&lb.body, "max_files")
        .and_then(|a| r.int(&a.value, "max_files", 1, 10_000))
        .map_or(d.max_files, |v| v as u32);
    let max_file_size = r
        .attr(&lb.body, "max_file_size")
        .and_then(|a| r.int(&a.value, "max_file_size", 1, 1_000_000))
        .map_or(d.max_file_size, |v| v as u32);
    if u64::from(max_files) * u64::from(max_file_size) >= 300 {
        r.sink.warn(
            lb.ident.span(),
            format!("logs may take {max_files} × {max_file_size} MB = {} MB; Nomad refuses this unless the group's ephemeral_disk is larger (300 MB by default)", u64::from(max_files) * u64::from(max_file_size)),
        );
    }
    Logs { max_files, max_file_size }
}

pub(super) fn resources(r: &mut Reader, rb: &Block) -> Resources {
    r.no_label(rb);
    r.check_keys(&rb.body, &RESOURCES);
    let d = Resources::default();
    let cpu =
        r.attr(&rb.body, "cpu").and_then(|a| r.int(&a.value, "cpu", 1, u32::MAX as i64)).map_or(d.cpu, |v| v as u32);
    let memory = r
        .attr(&rb.body, "memory")
        .and_then(|a| r.int(&a.value, "memory", 10, u32::MAX as i64))
        .map_or(d.memory, |v| v as u32);
    let memory_max = r.attr(&rb.body, "memory_max").and_then(|a| {
        let v = r.int(&a.value, "memory_max", -1, u32::MAX as i64)?;
        if v != -1 && v < i64::from(memory) {
            r.sink.error(a.value.span(), format!("`memory_max` ({v} MB) is below `memory` ({memory} MB) — it is the hard limit, so make it at least {memory}, or -1 for none"));
            return None;
        }
        Some(v)
    });
    Resources { cpu, memory, memory_max, declared: true }
}
