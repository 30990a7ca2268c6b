//! The create request of a container task, from its job-file `config`,
//! its `resources`, Nomad's environment and supd's labels, and what
//! supd.toml allows (`[driver.docker]`). Pure: unit-tested without an
//! engine.

use crate::jobspec::model::{ContainerConfig, Task};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// `[driver.docker]` (or `[driver.podman]`) of supd.toml.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// `unix:///…`; else `DOCKER_HOST`, else `unix:///var/run/docker.sock`.
    pub endpoint: Option<String>,
    /// Containers may be `privileged`.
    pub allow_privileged: bool,
    /// Capabilities `cap_add` may name (lower case, no `cap_`); `all`
    /// allows every one. Default: Nomad's list.
    pub allow_caps: Option<Vec<String>>,
    /// Volumes and bind mounts may name host paths outside the task's
    /// directory, and named volumes (Nomad's `volumes.enabled`).
    pub allow_volumes: bool,
}

/// Nomad's docker driver's default `allow_caps`.
pub const DEFAULT_CAPS: [&str; 13] = [
    "audit_write",
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "mknod",
    "net_bind_service",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
];

/// Why a container task may not run as written on this host; what
/// supd.toml does not allow names the section of the task's driver
/// (`driver`: `docker` or `podman`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("task {0:?} is not a container task")]
    NotAContainer(String),
    #[error(
        "`privileged = true` is not allowed on this host — set `allow_privileged = true` in supd.toml's [driver.{driver}], or remove it"
    )]
    PrivilegedNotAllowed { driver: &'static str },
    /// `cap_add` names capabilities outside `allow_caps` (`allowed`, joined).
    #[error(
        "cap_add {refused:?} is not allowed on this host — add it to `allow_caps` in supd.toml's [driver.{driver}] (allowed: {allowed})"
    )]
    CapsNotAllowed { driver: &'static str, refused: Vec<String>, allowed: String },
    #[error("port {0:?} is not a port of the group's network")]
    UnknownPort(String),
    #[error("named volumes are not allowed on this host — set `allow_volumes = true` in supd.toml's [driver.{driver}]")]
    NamedVolumesNotAllowed { driver: &'static str },
    /// A volume or bind mount (`what`) of a host path, without `allow_volumes`.
    #[error(
        "{what} {src:?} names a host path outside the task's directory — set `allow_volumes = true` in supd.toml's [driver.{driver}], or use a path relative to the task's directory"
    )]
    HostPathNotAllowed { driver: &'static str, what: &'static str, src: String },
    #[error("{what} {src:?} leaves the task's directory — remove the `..`")]
    LeavesTaskDir { what: &'static str, src: String },
    #[error("{what} {src:?} is relative to the task's directory, which this task does not have")]
    NoTaskDir { what: &'static str, src: String },
}

/// What the supervisor knows of one start of the task.
pub struct Inputs<'a> {
    pub task: &'a Task,
    /// `NOMAD_*` and the task's `env`, resolved.
    pub env: Vec<(String, String)>,
    /// supd's own labels (job, group, index, task, …).
    pub labels: Vec<(String, String)>,
    /// The group's ports: (label, host port, `to`).
    pub ports: Vec<(String, u16, Option<u16>)>,
    /// The task's directory, for relative volume paths (none: refused).
    pub task_dir: Option<&'a Path>,
    /// The task's world, always bound: (host path, path inside), as
    /// Nomad's drivers bind `alloc/`, `local/` and `secrets/`.
    pub world: Vec<(PathBuf, &'static str)>,
    /// Resolves `${...}` in the config's strings.
    pub resolve: &'a dyn Fn(&str) -> String,
    /// supd's own (soft, hard) limits of open files and processes, the
    /// container's default (an engine's own defaults may exceed what
    /// this host lets anyone have).
    pub nofile: Option<(u64, u64)>,
    pub nproc: Option<(u64, u64)>,
}

/// The body of `POST /containers/create`, or why the task may not run
/// (naming the supd.toml section of the task's driver).
pub fn create_body(i: &Inputs, s: &Settings) -> Result<Value, SpecError> {
    let t = i.task;
    let Some(c) = t.container.as_deref() else { return Err(SpecError::NotAContainer(t.name.clone())) };
    let r = i.resolve;
    let mut config = container_config(i, c);

    let mut host = Map::new();
    resource_limits(&mut host, t, c);
    privileges(&mut host, c, s, t.driver.as_str())?;
    publish_ports(&mut config, &mut host, i, c)?;
    if let Some(m) = &c.network_mode {
        host.insert("NetworkMode".into(), json!(r(m)));
    }
    storage(&mut host, i, s, c)?;
    if c.init {
        host.insert("Init".into(), json!(true));
    }
    if let Some(n) = c.shm_size {
        host.insert("ShmSize".into(), json!(n));
    }
    set_ulimits(&mut host, i, c);
    // The engine keeps little output of its own: supd's log files are
    // where it goes, read from the engine as it comes.
    host.insert("LogConfig".into(), json!({ "Type": "json-file", "Config": { "max-size": "1m", "max-file": "2" } }));
    config.insert("HostConfig".into(), Value::Object(host));
    Ok(Value::Object(config))
}

/// The create request's container part (ports and `HostConfig` aside):
/// image, command, environment, labels, user, stop signal.
fn container_config(i: &Inputs, c: &ContainerConfig) -> Map<String, Value> {
    let t = i.task;
    let r = i.resolve;
    let mut config = Map::new();
    config.insert("Image".into(), json!(image_name(&r(&c.image))));
    // Nomad: `command` replaces the image's CMD, with `args` after it.
    let mut cmd: Vec<String> = Vec::new();
    if !t.command.is_empty() {
        cmd.push(r(&t.command));
    }
    cmd.extend(t.args.iter().map(|a| r(a)));
    if !cmd.is_empty() {
        config.insert("Cmd".into(), json!(cmd));
    }
    if let Some(ep) = &c.entrypoint {
        config.insert("Entrypoint".into(), json!(ep.iter().map(|e| r(e)).collect::<Vec<_>>()));
    }
    config.insert("Env".into(), json!(i.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()));
    let mut labels: Map<String, Value> = c.labels.iter().map(|(k, v)| (k.clone(), json!(r(v)))).collect();
    for (k, v) in &i.labels {
        labels.insert(k.clone(), json!(v));
    }
    config.insert("Labels".into(), Value::Object(labels));
    if let Some(w) = &t.work_dir {
        config.insert("WorkingDir".into(), json!(r(w)));
    }
    if let Some(u) = &t.user {
        config.insert("User".into(), json!(u));
    }
    if let Some(h) = &c.hostname {
        config.insert("Hostname".into(), json!(r(h)));
    }
    // Without a kill_signal the image's STOPSIGNAL stands.
    if let Some(name) = t.kill_signal.name() {
        config.insert("StopSignal".into(), json!(name));
    }
    config.insert("Tty".into(), json!(false));
    config.insert("AttachStdin".into(), json!(false));
    config
}

/// The memory and CPU limits of `HostConfig`.
fn resource_limits(host: &mut Map<String, Value>, t: &Task, c: &ContainerConfig) {
    // Nomad's docker driver: the hard limit is memory_max when set (and
    // `memory` the reservation), else `memory`; cpu is the share weight.
    // A task without `resources` gets no limit, as every supd task.
    if let Some(limits) = limits(&t.resources) {
        if let Some(m) = limits.memory {
            host.insert("Memory".into(), json!(m));
        }
        if let Some(m) = limits.reservation {
            host.insert("MemoryReservation".into(), json!(m));
        }
        host.insert("CpuShares".into(), json!(limits.cpu_shares));
    }
    if let Some(m) = c.memory_reservation {
        host.insert("MemoryReservation".into(), json!(m));
    }
}

/// `privileged` and `cap_add` in `HostConfig`, or why supd.toml's
/// `[driver.DRIVER]` does not allow them.
fn privileges(
    host: &mut Map<String, Value>,
    c: &ContainerConfig,
    s: &Settings,
    driver: &'static str,
) -> Result<(), SpecError> {
    if c.privileged {
        if !s.allow_privileged {
            return Err(SpecError::PrivilegedNotAllowed { driver });
        }
        host.insert("Privileged".into(), json!(true));
    }
    if !c.cap_add.is_empty() {
        let allowed: Vec<String> = match &s.allow_caps {
            Some(list) => list.iter().map(|c| cap_name(c)).collect(),
            None => DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        };
        let refused: Vec<String> = c
            .cap_add
            .iter()
            .filter(|cap| !allowed.iter().any(|a| a == "all" || *a == cap_name(cap)))
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(SpecError::CapsNotAllowed { driver, refused, allowed: allowed.join(", ") });
        }
        host.insert("CapAdd".into(), json!(c.cap_add));
    }
    Ok(())
}

/// The task's ports, exposed in the container part and published in
/// `HostConfig`, or why one cannot be.
fn publish_ports(
    config: &mut Map<String, Value>,
    host: &mut Map<String, Value>,
    i: &Inputs,
    c: &ContainerConfig,
) -> Result<(), SpecError> {
    // Ports: published on the host port supd chose (or `static`), on
    // loopback, where NOMAD_ADDR_* points.
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for label in &c.ports {
        let Some((_, host_port, to)) = i.ports.iter().find(|(l, _, _)| l == label) else {
            return Err(SpecError::UnknownPort(label.clone()));
        };
        let inside = to.unwrap_or(*host_port);
        for proto in ["tcp", "udp"] {
            let key = format!("{inside}/{proto}");
            exposed.insert(key.clone(), json!({}));
            bindings.insert(key, json!([{ "HostIp": "127.0.0.1", "HostPort": host_port.to_string() }]));
        }
    }
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
        host.insert("PortBindings".into(), Value::Object(bindings));
    }
    Ok(())
}

/// The binds (the task's world, `volumes`) and `mounts` of `HostConfig`,
/// or why supd.toml does not allow one.
fn storage(host: &mut Map<String, Value>, i: &Inputs, s: &Settings, c: &ContainerConfig) -> Result<(), SpecError> {
    let r = i.resolve;
    let driver = i.task.driver.as_str();
    let mut binds: Vec<String> = i.world.iter().map(|(host, inside)| format!("{}:{inside}", host.display())).collect();
    for v in &c.volumes {
        let v = r(v);
        let mut parts = v.splitn(3, ':');
        let (src, dst, mode) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
        let src = host_path(src, i, s, "volume")?;
        binds.push(match mode {
            Some(m) => format!("{src}:{dst}:{m}"),
            None => format!("{src}:{dst}"),
        });
    }
    if !binds.is_empty() {
        host.insert("Binds".into(), json!(binds));
    }
    let mut mounts = Vec::new();
    for m in &c.mounts {
        let source = match m.kind.as_str() {
            "bind" => host_path(&r(&m.source), i, s, "bind mount")?,
            "volume" if !s.allow_volumes => return Err(SpecError::NamedVolumesNotAllowed { driver }),
            _ => r(&m.source),
        };
        let mut o = json!({ "Type": m.kind, "Target": r(&m.target), "ReadOnly": m.readonly });
        if m.kind != "tmpfs" {
            o["Source"] = json!(source);
        }
        mounts.push(o);
    }
    if !mounts.is_empty() {
        host.insert("Mounts".into(), json!(mounts));
    }
    Ok(())
}

/// The container's ulimits in `HostConfig`: the task's, and supd's own
/// open files and processes limits where the task sets none.
fn set_ulimits(host: &mut Map<String, Value>, i: &Inputs, c: &ContainerConfig) {
    let mut ulimits: Vec<(String, (u64, u64))> = c.ulimits.iter().map(|(k, v)| (k.clone(), *v)).collect();
    for (name, own) in [("nofile", i.nofile), ("nproc", i.nproc)] {
        if let Some(l) = own
            && !ulimits.iter().any(|(n, _)| n == name)
        {
            ulimits.push((name.to_string(), l));
        }
    }
    if !ulimits.is_empty() {
        host.insert(
            "Ulimits".into(),
            json!(
                ulimits
                    .iter()
                    .map(|(n, (s, h))| json!({ "Name": n, "Soft": rlim(*s), "Hard": rlim(*h) }))
                    .collect::<Vec<_>>()
            ),
        );
    }
}

/// What the engine enforces for a task's `resources` (bytes, shares).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<u64>,
    pub reservation: Option<u64>,
    pub cpu_shares: u64,
}

/// Nomad's docker driver: the hard limit is `memory_max` when set (and
/// `memory` the reservation), else `memory`; `cpu` is the share weight. A
/// task without `resources` gets no limit, as every supd task.
pub fn limits(r: &crate::jobspec::model::Resources) -> Option<Limits> {
    if !r.declared {
        return None;
    }
    let mb = 1024 * 1024;
    let memory = u64::from(r.memory) * mb;
    let (memory, reservation) = match r.memory_max {
        Some(max) if max > 0 => (Some(max as u64 * mb), Some(memory)),
        Some(_) => (None, None),
        None => (Some(memory), None),
    };
    Some(Limits { memory, reservation, cpu_shares: u64::from(r.cpu.max(2)) })
}

/// The image as the engine's API names it: Nomad's podman driver takes
/// `docker://redis` (a transport), the API only `redis`.
pub fn image_name(written: &str) -> &str {
    written.strip_prefix("docker://").unwrap_or(written)
}

fn cap_name(c: &str) -> String {
    let c = c.to_ascii_lowercase();
    c.strip_prefix("cap_").map_or(c.clone(), str::to_string)
}

/// A resource limit as the engine reads it: -1 for unlimited.
fn rlim(v: u64) -> Value {
    if v == u64::MAX { json!(-1) } else { json!(v) }
}

/// A volume's (`what`'s) host side: a relative path is under the task's
/// directory (and may not leave it); anything else needs `allow_volumes`.
fn host_path(src: &str, i: &Inputs, s: &Settings, what: &'static str) -> Result<String, SpecError> {
    let allowed = s.allow_volumes;
    if src.starts_with('/') {
        if !allowed {
            let driver = i.task.driver.as_str();
            return Err(SpecError::HostPathNotAllowed { driver, what, src: src.to_string() });
        }
        return Ok(src.to_string());
    }
    if !src.starts_with('.') && !src.contains('/') && allowed {
        // A named volume.
        return Ok(src.to_string());
    }
    if Path::new(src).components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(SpecError::LeavesTaskDir { what, src: src.to_string() });
    }
    match i.task_dir {
        Some(d) => Ok(d.join(src).display().to_string()),
        None => Err(SpecError::NoTaskDir { what, src: src.to_string() }),
    }
}

/// Where a bind's host path is in a create request: the `n`th entry of
/// `HostConfig.Binds` (`SOURCE:TARGET[:OPTIONS]`) or of
/// `HostConfig.Mounts` (one of `Type` `bind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAt {
    Binds(usize),
    Mounts(usize),
}

/// Every bind's host path in a create request, in order: `Binds` first,
/// then the `Mounts` of type `bind` (a volume's or a tmpfs's is no host
/// path).
pub fn bind_sources(body: &Value) -> Vec<(BindAt, String)> {
    let host = &body["HostConfig"];
    let binds = host["Binds"].as_array().into_iter().flatten().enumerate().filter_map(|(n, b)| {
        let text = b.as_str()?;
        Some((BindAt::Binds(n), text.split(':').next().unwrap_or(text).to_string()))
    });
    let mounts = host["Mounts"].as_array().into_iter().flatten().enumerate().filter_map(|(n, m)| {
        let source = m["Source"].as_str().filter(|_| m["Type"] == "bind")?;
        Some((BindAt::Mounts(n), source.to_string()))
    });
    binds.chain(mounts).collect()
}

/// Whether the bind `at` asks the engine for mount propagation (`shared`,
/// `slave` or their recursive forms, among a `Binds` entry's options or
/// in a `Mounts` entry's `BindOptions`): the engine then wants its source
/// on a mount that propagates.
pub fn bind_propagates(body: &Value, at: BindAt) -> bool {
    let propagates = |o: &str| matches!(o, "shared" | "rshared" | "slave" | "rslave");
    let host = &body["HostConfig"];
    match at {
        BindAt::Binds(n) => host["Binds"][n]
            .as_str()
            .and_then(|b| b.splitn(3, ':').nth(2))
            .is_some_and(|options| options.split(',').any(propagates)),
        BindAt::Mounts(n) => host["Mounts"][n]["BindOptions"]["Propagation"].as_str().is_some_and(propagates),
    }
}

/// Puts `source` in place of the host path of the bind `at`, keeping its
/// target and options (the rest of a `Binds` entry, the other fields of
/// a `Mounts` one).
pub fn set_bind_source(body: &mut Value, at: BindAt, source: &str) {
    // Looked up, never indexed: indexing would add what is missing.
    let Some(host) = body.get_mut("HostConfig") else { return };
    match at {
        BindAt::Binds(n) => {
            if let Some(entry) = host.get_mut("Binds").and_then(|b| b.get_mut(n))
                && let Some(text) = entry.as_str()
            {
                let rewritten = match text.split_once(':') {
                    Some((_, rest)) => format!("{source}:{rest}"),
                    None => source.to_string(),
                };
                *entry = Value::String(rewritten);
            }
        }
        BindAt::Mounts(n) => {
            if let Some(m) = host.get_mut("Mounts").and_then(|m| m.get_mut(n)).and_then(Value::as_object_mut) {
                m.insert("Source".into(), Value::String(source.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobspec::parse_str;

    /// The binds' host paths are found in `Binds` and in the `Mounts` of
    /// type `bind` only, and each is replaced where it stands, its target
    /// and options kept.
    #[test]
    fn bind_sources_are_listed_and_replaced_in_place() {
        let mut b = json!({ "HostConfig": {
            "Binds": ["/a/alloc:/alloc", "/a/t/local/data:/data:ro,rslave", "/a/t/bare"],
            "Mounts": [
                { "Type": "volume", "Source": "named", "Target": "/v", "ReadOnly": false },
                { "Type": "bind", "Source": "/a/t/local/conf", "Target": "/etc/app", "ReadOnly": true },
                { "Type": "tmpfs", "Target": "/tmp", "ReadOnly": false }
            ]
        }});
        let found = bind_sources(&b);
        assert_eq!(
            found,
            vec![
                (BindAt::Binds(0), "/a/alloc".to_string()),
                (BindAt::Binds(1), "/a/t/local/data".to_string()),
                (BindAt::Binds(2), "/a/t/bare".to_string()),
                (BindAt::Mounts(1), "/a/t/local/conf".to_string()),
            ]
        );
        for (n, (at, _)) in found.into_iter().enumerate() {
            set_bind_source(&mut b, at, &format!("/s/i/t/{n}"));
        }
        assert_eq!(b["HostConfig"]["Binds"], json!(["/s/i/t/0:/alloc", "/s/i/t/1:/data:ro,rslave", "/s/i/t/2"]));
        assert_eq!(
            b["HostConfig"]["Mounts"],
            json!([
                { "Type": "volume", "Source": "named", "Target": "/v", "ReadOnly": false },
                { "Type": "bind", "Source": "/s/i/t/3", "Target": "/etc/app", "ReadOnly": true },
                { "Type": "tmpfs", "Target": "/tmp", "ReadOnly": false }
            ])
        );
        let asks = |b: &Value| (0..3).map(|n| bind_propagates(b, BindAt::Binds(n))).collect::<Vec<_>>();
        assert_eq!(asks(&b), [false, true, false], "rslave among the options");
        assert!(!bind_propagates(&b, BindAt::Mounts(1)));
        let shared = json!({ "HostConfig": { "Mounts": [
            { "Type": "bind", "Source": "/a", "Target": "/b", "BindOptions": { "Propagation": "rshared" } }
        ]}});
        assert!(bind_propagates(&shared, BindAt::Mounts(0)));
        // A body with neither has none, and nothing to replace.
        let mut none = json!({ "Image": "x", "HostConfig": {} });
        assert!(bind_sources(&none).is_empty());
        set_bind_source(&mut none, BindAt::Binds(0), "/s");
        set_bind_source(&mut none, BindAt::Mounts(0), "/s");
        assert_eq!(none, json!({ "Image": "x", "HostConfig": {} }));
    }

    fn task(config: &str, extra: &str) -> Task {
        task_of("docker", config, extra)
    }

    fn task_of(driver: &str, config: &str, extra: &str) -> Task {
        let src = format!(
            "job \"j\" {{\n group \"g\" {{\n network {{\n port \"db\" {{ to = 6379 }}\n }}\n task \"t\" {{\n driver = \"{driver}\"\n config {{\n{config}\n }}\n{extra}\n }}\n }}\n}}\n"
        );
        let p = parse_str("t.hcl", &src);
        assert!(p.is_valid(), "{:#?}", p.diagnostics);
        (*p.jobs[0].groups[0].tasks[0]).clone()
    }

    fn body(t: &Task, s: &Settings, dir: Option<&Path>) -> Result<Value, SpecError> {
        let resolve = |x: &str| x.replace("${NOMAD_TASK_NAME}", "t");
        let i = Inputs {
            task: t,
            env: vec![("NOMAD_TASK_NAME".into(), "t".into())],
            labels: vec![("supd.task".into(), "t".into())],
            ports: vec![("db".into(), 23456, Some(6379))],
            task_dir: dir,
            world: Vec::new(),
            resolve: &resolve,
            nofile: Some((1024, 4096)),
            nproc: None,
        };
        create_body(&i, s)
    }

    #[test]
    fn the_articles_task_gets_its_memory_limit_and_cpu_shares() {
        let t = task("image = \"redis:3.2\"", "resources {\n cpu = 500\n memory = 256\n }");
        let b = body(&t, &Settings::default(), None).unwrap();
        assert_eq!(b["Image"], "redis:3.2");
        assert_eq!(b["HostConfig"]["Memory"], 256 * 1024 * 1024);
        assert_eq!(b["HostConfig"]["CpuShares"], 500);
        assert!(b.get("Cmd").is_none(), "the image's own CMD runs");
        assert_eq!(b["Env"][0], "NOMAD_TASK_NAME=t");
        assert_eq!(b["Labels"]["supd.task"], "t");
        assert!(b.get("StopSignal").is_none(), "the image's STOPSIGNAL stands");
        assert_eq!(b["HostConfig"]["Ulimits"][0], json!({ "Name": "nofile", "Soft": 1024, "Hard": 4096 }));
        // -1 is unlimited (as Nomad's driver reads ulimit), for the engine too.
        let t = task("image = \"redis\"\nulimit {\n memlock = \"-1\"\n core = \"0:-1\"\n }", "");
        let b = body(&t, &Settings::default(), None).unwrap();
        let limits = b["HostConfig"]["Ulimits"].as_array().unwrap();
        assert!(limits.contains(&json!({ "Name": "memlock", "Soft": -1, "Hard": -1 })), "{limits:?}");
        assert!(limits.contains(&json!({ "Name": "core", "Soft": 0, "Hard": -1 })), "{limits:?}");
        // memory_max is the hard limit, memory the reservation.
        let t = task("image = \"redis\"", "resources {\n memory = 100\n memory_max = 300\n }");
        let b = body(&t, &Settings::default(), None).unwrap();
        assert_eq!(b["HostConfig"]["Memory"], 300 * 1024 * 1024);
        assert_eq!(b["HostConfig"]["MemoryReservation"], 100 * 1024 * 1024);
        // No resources block: no limit.
        let b = body(&task("image = \"redis\"", ""), &Settings::default(), None).unwrap();
        assert!(b["HostConfig"].get("Memory").is_none());
    }

    #[test]
    fn command_args_ports_and_volumes_become_the_containers() {
        let t = task(
            "image = \"redis\"\n command = \"redis-server\"\n args = [\"--port\", \"6379\", \"${NOMAD_TASK_NAME}\"]\n ports = [\"db\"]\n volumes = [\"local/data:/data:ro\"]\n ulimit { nofile = \"10:20\" }",
            "",
        );
        let b = body(&t, &Settings::default(), Some(Path::new("/srv/a/t"))).unwrap();
        assert_eq!(b["Cmd"], json!(["redis-server", "--port", "6379", "t"]));
        let resolve = |x: &str| x.to_string();
        let with_world = Inputs {
            task: &t,
            env: Vec::new(),
            labels: Vec::new(),
            ports: vec![("db".into(), 23456, Some(6379))],
            task_dir: Some(Path::new("/srv/a/t")),
            world: vec![("/srv/a/alloc".into(), "/alloc"), ("/srv/a/t/local".into(), "/local")],
            resolve: &resolve,
            nofile: None,
            nproc: None,
        };
        let w = create_body(&with_world, &Settings::default()).unwrap();
        assert_eq!(
            w["HostConfig"]["Binds"],
            json!(["/srv/a/alloc:/alloc", "/srv/a/t/local:/local", "/srv/a/t/local/data:/data:ro"])
        );
        assert_eq!(b["HostConfig"]["PortBindings"]["6379/tcp"][0]["HostPort"], "23456");
        assert_eq!(b["HostConfig"]["Binds"], json!(["/srv/a/t/local/data:/data:ro"]));
        assert_eq!(b["HostConfig"]["Ulimits"][0], json!({ "Name": "nofile", "Soft": 10, "Hard": 20 }));
    }

    #[test]
    fn a_podman_task_is_the_same_request_by_the_podman_drivers_names() {
        let t = task_of(
            "podman",
            "image = \"docker://redis:7\"\n working_dir = \"/data\"\n entrypoint = \"/init\"\n memory_reservation = \"64m\"\n shm_size = \"1k\"\n ulimit = { nofile = \"100:200\" }",
            "resources {\n memory = 256\n }",
        );
        let b = body(&t, &Settings::default(), None).unwrap();
        assert_eq!(b["Image"], "redis:7", "the API takes no transport");
        assert_eq!(b["WorkingDir"], "/data");
        assert_eq!(b["Entrypoint"], json!(["/init"]));
        assert_eq!(b["HostConfig"]["Memory"], 256 * 1024 * 1024);
        assert_eq!(b["HostConfig"]["MemoryReservation"], 64 * 1024 * 1024);
        assert_eq!(b["HostConfig"]["ShmSize"], 1024);
        assert_eq!(b["HostConfig"]["Ulimits"][0], json!({ "Name": "nofile", "Soft": 100, "Hard": 200 }));
        let t = task_of("podman", "image = \"x\"\n volumes = [\"/etc:/e\"]", "");
        let e = body(&t, &Settings::default(), Some(Path::new("/d"))).unwrap_err();
        assert!(matches!(e, SpecError::HostPathNotAllowed { driver: "podman", .. }), "{e}");
        assert!(e.to_string().contains("[driver.podman]"), "{e}");
    }

    #[test]
    fn what_supd_toml_does_not_allow_is_refused_with_the_key_to_set() {
        let s = Settings::default();
        let e = body(&task("image = \"x\"\n privileged = true", ""), &s, None).unwrap_err().to_string();
        assert!(e.contains("allow_privileged"), "{e}");
        let e = body(&task("image = \"x\"\n cap_add = [\"SYS_ADMIN\"]", ""), &s, None).unwrap_err().to_string();
        assert!(e.contains("allow_caps"), "{e}");
        assert!(body(&task("image = \"x\"\n cap_add = [\"CAP_CHOWN\", \"net_bind_service\"]", ""), &s, None).is_ok());
        let e =
            body(&task("image = \"x\"\n volumes = [\"/etc:/host-etc\"]", ""), &s, Some(Path::new("/d"))).unwrap_err();
        assert!(e.to_string().contains("allow_volumes"), "{e}");
        let e = body(&task("image = \"x\"\n volumes = [\"../../etc:/e\"]", ""), &s, Some(Path::new("/d"))).unwrap_err();
        assert!(e.to_string().contains("leaves the task's directory"), "{e}");
        let open = Settings { allow_privileged: true, allow_caps: Some(vec!["all".into()]), allow_volumes: true, ..s };
        let b = body(
            &task("image = \"x\"\n privileged = true\n cap_add = [\"SYS_ADMIN\"]\n volumes = [\"/etc:/e\"]", ""),
            &open,
            None,
        )
        .unwrap();
        assert_eq!(
            (b["HostConfig"]["Privileged"].clone(), b["HostConfig"]["Binds"][0].clone()),
            (json!(true), json!("/etc:/e"))
        );
    }
}
