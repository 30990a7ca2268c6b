//! The `config` of a `docker` or `podman` task: the keys of Nomad's docker
//! driver, or of Nomad's podman driver where its names differ
//! (`working_dir`, `memory_reservation`, `shm_size` as a size, a string
//! `entrypoint`). The keys supd acts on are read and checked here; the
//! other keys each driver knows load with a warning naming them.

use super::config::{ConfigBlock, RunConfig};
use super::*;
use hcl_edit::structure::Attribute;

pub(super) const DOCKER_CONFIG: Schema = Schema {
    what: "docker config",
    keys: &[
        ("image", Attr),
        ("command", Attr),
        ("args", Attr),
        ("entrypoint", Attr),
        ("ports", Attr),
        ("network_mode", Attr),
        ("volumes", Attr),
        ("mount", Blk),
        ("work_dir", Attr),
        ("labels", Either),
        ("hostname", Attr),
        ("privileged", Attr),
        ("cap_add", Attr),
        ("force_pull", Attr),
        ("image_pull_timeout", Attr),
        ("init", Attr),
        ("shm_size", Attr),
        ("ulimit", Either),
    ],
    ignored: &[
        "auth",
        "auth_soft_fail",
        "cap_drop",
        "cpuset_cpus",
        "cpu_hard_limit",
        "cpu_cfs_period",
        "devices",
        "dns_search_domains",
        "dns_options",
        "dns_servers",
        "extra_hosts",
        "group_add",
        "healthchecks",
        "interactive",
        "ipc_mode",
        "ipv4_address",
        "ipv6_address",
        "advertise_ipv6_address",
        "isolation",
        "load",
        "logging",
        "mac_address",
        "memory_hard_limit",
        "mounts",
        "network_aliases",
        "oom_score_adj",
        "pid_mode",
        "pids_limit",
        "port_map",
        "readonly_rootfs",
        "runtime",
        "security_opt",
        "storage_opt",
        "sysctl",
        "tty",
        "userns_mode",
        "uts_mode",
        "volume_driver",
    ],
};

pub(super) const PODMAN_CONFIG: Schema = Schema {
    what: "podman config",
    keys: &[
        ("image", Attr),
        ("command", Attr),
        ("args", Attr),
        ("entrypoint", Attr),
        ("ports", Attr),
        ("network_mode", Attr),
        ("volumes", Attr),
        ("working_dir", Attr),
        ("labels", Either),
        ("hostname", Attr),
        ("privileged", Attr),
        ("cap_add", Attr),
        ("force_pull", Attr),
        ("image_pull_timeout", Attr),
        ("init", Attr),
        ("shm_size", Attr),
        ("ulimit", Either),
        ("memory_reservation", Attr),
    ],
    ignored: &[
        "auth",
        "auth_soft_fail",
        "cap_drop",
        "selinux_opts",
        "cpu_hard_limit",
        "cpu_cfs_period",
        "devices",
        "arch",
        "os",
        "variant",
        "init_path",
        "ipv4_address",
        "ipv6_address",
        "static_ips",
        "static_mac",
        "logging",
        "memory_swap",
        "memory_swappiness",
        "ipc_mode",
        "oom_score_adj",
        "extra_hosts",
        "pids_limit",
        "port_map",
        "security_opt",
        "socket",
        "sysctl",
        "tmpfs",
        "tty",
        "readonly_rootfs",
        "userns",
    ],
};

const MOUNT: Schema = Schema {
    what: "mount",
    keys: &[("type", Attr), ("target", Attr), ("source", Attr), ("readonly", Attr)],
    ignored: &["bind_options", "volume_options", "tmpfs_options"],
};

/// What a docker task's `config` says: the container, and the command,
/// arguments and working directory it overrides (all optional).
pub(super) struct Decoded {
    pub container: ContainerConfig,
    pub command: String,
    pub args: Vec<String>,
    pub work_dir: Option<String>,
}

/// A `docker` task's `config`.
pub fn docker_config(r: &mut Reader, c: &ConfigBlock) -> RunConfig {
    run_config(container_config(r, c.block, c.task, c.ports, false))
}

/// A `podman` task's `config`: the key names of Nomad's podman driver.
pub fn podman_config(r: &mut Reader, c: &ConfigBlock) -> RunConfig {
    run_config(container_config(r, c.block, c.task, c.ports, true))
}

/// What a container task runs, as a task's `config` says it.
fn run_config(d: Decoded) -> RunConfig {
    let (command, args, work_dir) = (d.command, d.args, d.work_dir);
    RunConfig { command, args, work_dir, container: Some(Box::new(d.container)), ..RunConfig::default() }
}

/// A container task's `config`, by the key names of its driver (`podman`
/// or `docker`).
fn container_config(r: &mut Reader, cfg: &Block, task: &str, ports: &[Port], podman: bool) -> Decoded {
    let b = &cfg.body;
    r.check_keys(b, if podman { &PODMAN_CONFIG } else { &DOCKER_CONFIG });
    let image = image(r, cfg, task);
    let mut c = ContainerConfig { image, image_pull_timeout: Duration::from_secs(300), ..ContainerConfig::default() };
    let command = r.attr(b, "command").and_then(|a| r.string(&a.value, "command")).unwrap_or_default();
    let args = r.attr(b, "args").and_then(|a| r.string_list(&a.value, "args")).unwrap_or_default();
    let work_key = if podman { "working_dir" } else { "work_dir" };
    let work_dir = r.attr(b, work_key).and_then(|a| r.string(&a.value, work_key));
    c.entrypoint = r.attr(b, "entrypoint").and_then(|a| match &a.value {
        // Nomad's podman driver still takes one string.
        Expression::String(_) | Expression::StringTemplate(_) if podman => {
            r.string(&a.value, "entrypoint").map(|e| vec![e])
        }
        v => r.string_list(v, "entrypoint"),
    });
    c.ports = published_ports(r, b, ports);
    c.network_mode = r.attr(b, "network_mode").and_then(|a| r.string(&a.value, "network_mode"));
    c.volumes = volumes(r, b);
    c.mounts = r.blocks(b, "mount").into_iter().map(|mb| mount(r, mb)).collect();
    c.labels = r.string_map(b, "labels");
    c.hostname = r.attr(b, "hostname").and_then(|a| r.string(&a.value, "hostname"));
    c.privileged = r.attr(b, "privileged").and_then(|a| r.bool(&a.value, "privileged")).unwrap_or(false);
    c.cap_add = r.attr(b, "cap_add").and_then(|a| r.string_list(&a.value, "cap_add")).unwrap_or_default();
    c.force_pull = r.attr(b, "force_pull").and_then(|a| r.bool(&a.value, "force_pull")).unwrap_or(false);
    if let Some(d) = r.attr(b, "image_pull_timeout").and_then(|a| r.duration(&a.value, "image_pull_timeout")) {
        c.image_pull_timeout = d;
    }
    c.init = r.attr(b, "init").and_then(|a| r.bool(&a.value, "init")).unwrap_or(false);
    c.shm_size = match r.attr(b, "shm_size") {
        Some(a) if podman => size(r, a, "shm_size"),
        Some(a) => r.int(&a.value, "shm_size", 1, i64::MAX).map(|v| v as u64),
        None => None,
    };
    c.memory_reservation = r.attr(b, "memory_reservation").and_then(|a| size(r, a, "memory_reservation"));
    c.ulimits = ulimits(r, b);
    Decoded { container: c, command, args, work_dir }
}

/// The `image` to run, which must be there and not be empty.
fn image(r: &mut Reader, cfg: &Block, task: &str) -> String {
    match r.attr(&cfg.body, "image") {
        Some(a) => {
            let image = r.string(&a.value, "image").unwrap_or_default();
            if image.trim().is_empty() && matches!(a.value, Expression::String(_)) {
                r.sink.error(a.value.span(), "`image` is empty — name the image to run, e.g. \"redis:7\"");
            }
            image
        }
        None => {
            r.sink.error(
                cfg.ident.span(),
                format!("{} config has no `image` — add e.g. `image = \"redis:7\"`", named("task", task)),
            );
            String::new()
        }
    }
}

/// The `ports` to publish: labels of the group's `network` ports.
fn published_ports(r: &mut Reader, b: &Body, ports: &[Port]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = r.attr(b, "ports") {
        let labels = r.string_list(&a.value, "ports").unwrap_or_default();
        for label in labels {
            if ports.iter().any(|p| p.label == label) {
                out.push(label);
                continue;
            }
            let hint = match did_you_mean(&label, ports.iter().map(|p| p.label.as_str())) {
                Some(l) => format!("did you mean {l:?}?"),
                None if ports.is_empty() => format!("add `network {{ port {label:?} {{ to = 6379 }} }}` to the group"),
                None => format!(
                    "the group's ports are {}",
                    ports.iter().map(|p| format!("{:?}", p.label)).collect::<Vec<_>>().join(", ")
                ),
            };
            r.sink.error(a.value.span(), format!("port {label:?} is not a port of the group's network — {hint}"));
        }
    }
    out
}

/// The `volumes`, each `HOST_PATH:CONTAINER_PATH[:ro]`.
fn volumes(r: &mut Reader, b: &Body) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = r.attr(b, "volumes") {
        for v in r.string_list(&a.value, "volumes").unwrap_or_default() {
            let parts: Vec<&str> = v.split(':').collect();
            let ok = matches!(parts.len(), 2 | 3)
                && !parts[0].is_empty()
                && parts[1].starts_with('/')
                && parts.get(2).is_none_or(|m| matches!(*m, "ro" | "rw"));
            if ok {
                out.push(v);
            } else {
                r.sink.error(
                    a.value.span(),
                    format!("volume {v:?} is not `HOST_PATH:CONTAINER_PATH[:ro]` — e.g. \"local/data:/data\" (a relative host path is under the task's directory)"),
                );
            }
        }
    }
    out
}

/// One `mount` block: its `type`, `target`, `source` and `readonly`.
fn mount(r: &mut Reader, mb: &Block) -> ContainerMount {
    r.no_label(mb);
    r.check_keys(&mb.body, &MOUNT);
    let kind = match r.attr(&mb.body, "type") {
        Some(a) => r.enum_value(&a.value, "type", &["bind", "volume", "tmpfs"]).unwrap_or_default(),
        None => "volume".into(),
    };
    let target = r.attr(&mb.body, "target").and_then(|a| r.string(&a.value, "target")).unwrap_or_default();
    if !target.starts_with('/') {
        r.sink.error(
            mb.ident.span(),
            "mount needs an absolute `target` — where it appears in the container, e.g. \"/data\"",
        );
    }
    let source = r.attr(&mb.body, "source").and_then(|a| r.string(&a.value, "source")).unwrap_or_default();
    if source.is_empty() && kind != "tmpfs" {
        r.sink.error(mb.ident.span(), format!("a {kind} mount needs a `source`"));
    }
    let readonly = r.attr(&mb.body, "readonly").and_then(|a| r.bool(&a.value, "readonly")).unwrap_or(false);
    ContainerMount { kind, source, target, readonly }
}

/// The `ulimit` map: each limit `"SOFT:HARD"` or `"N"`, soft at most hard.
fn ulimits(r: &mut Reader, b: &Body) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for (name, value) in r.string_map(b, "ulimit") {
        // -1 is unlimited, as Nomad's docker driver and the engine read it
        // (RLIM_INFINITY, kept as u64::MAX).
        let parse = |s: &str| match s.trim() {
            "-1" | "unlimited" => Some(u64::MAX),
            s => s.parse::<u64>().ok(),
        };
        let limits = match value.split_once(':') {
            Some((soft, hard)) => parse(soft).zip(parse(hard)),
            None => parse(&value).map(|v| (v, v)),
        };
        match limits {
            Some((soft, hard)) if soft <= hard => {
                out.insert(name, (soft, hard));
            }
            _ => {
                let at = r
                    .attr(b, "ulimit")
                    .map(|a| a.key.span())
                    .or_else(|| r.blocks(b, "ulimit").first().map(|u| u.ident.span()));
                r.sink.error(
                    at.flatten(),
                    format!("ulimit {name} = {value:?} is not \"SOFT:HARD\" or \"N\" with soft at most hard (-1: unlimited) — e.g. nofile = \"1024:4096\""),
                );
            }
        }
    }
    out
}

/// A size as Nomad's podman driver writes it: a number and one of `b`,
/// `k`, `m`, `g` (powers of 1024), e.g. "64m".
fn size(r: &mut Reader, a: &Attribute, field: &str) -> Option<u64> {
    let text = r.string(&a.value, field)?;
    let unit = |c: char| match c.to_ascii_lowercase() {
        'b' => Some(1u64),
        'k' => Some(1 << 10),
        'm' => Some(1 << 20),
        'g' => Some(1 << 30),
        _ => None,
    };
    let parsed = text.trim().char_indices().last().and_then(|(at, last)| {
        let n = text.trim()[..at].parse::<u64>().ok()?;
        n.checked_mul(unit(last)?).filter(|v| *v > 0)
    });
    if parsed.is_none() {
        r.sink.error(
            a.value.span(),
            format!("{field} {text:?} is not a size — write a number and a unit b, k, m or g, e.g. \"64m\""),
        );
    }
    parsed
}
