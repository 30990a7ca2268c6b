//! The `group` block and its `network`.

use super::*;

/// The most instances of one group a job may ask for: each is a task
/// directory, cgroups and processes on this one host, and a count of
/// billions (which validates as a number) would exhaust supd's memory.
pub const MAX_COUNT: i64 = 10_000;

pub(super) const GROUP: Schema = Schema {
    what: "group",
    keys: &[
        ("count", Attr),
        ("restart", Blk),
        ("reschedule", Blk),
        ("constraint", Blk),
        ("meta", Either),
        ("network", Blk),
        ("service", Blk),
        ("task", Blk),
        ("max_run_duration", Attr),
        ("ephemeral_disk", Blk),
        ("scaling", Blk),
        ("shutdown_delay", Attr),
    ],
    ignored: &[
        "affinity",
        "spread",
        "update",
        "migrate",
        "volume",
        "consul",
        "vault",
        "disconnect",
        "max_client_disconnect",
        "stop_after_client_disconnect",
        "prevent_reschedule_on_lost",
    ],
};

pub(super) const EPHEMERAL_DISK: Schema =
    Schema { what: "ephemeral_disk", keys: &[("sticky", Attr)], ignored: &["size", "migrate"] };

pub(super) const NETWORK: Schema =
    Schema { what: "network", keys: &[("port", Blk), ("mode", Attr)], ignored: &["dns", "hostname", "mbits", "cni"] };

pub(super) const PORT: Schema =
    Schema { what: "port", keys: &[("static", Attr), ("to", Attr)], ignored: &["host_network", "ignore_collision"] };

/// A task's `resources { network { … } }`: where Nomad's jobs declared
/// their ports before group networks (Nomad 1.5 still accepts it).
pub(super) const TASK_NETWORK: Schema = Schema {
    what: "resources network",
    keys: &[("port", Blk), ("reserved_ports", Blk)],
    ignored: &["mbits", "mode", "device", "cidr", "ip", "dns", "hostname", "cni"],
};

/// A group block: its count and policies, its network and services, and
/// its tasks, which take over the group's restart policy and meta.
pub(super) fn group(r: &mut Reader, block: &Block, name: String, job: &JobCtx) -> Group {
    let b = &block.body;
    r.check_keys(b, &GROUP);
    let count = r.attr(b, "count").and_then(|a| r.int(&a.value, "count", 0, MAX_COUNT));
    let scaled = super::scaling::group_scaling(r, b, count);
    let count = count.or(scaled).unwrap_or(1) as u32;
    let mut meta = job.meta.clone();
    meta.extend(r.meta(b));
    let constraints = constraints(r, b);

    let restart_spec = r.one_block(b, "restart", "a group").map(|blk| restart_spec(r, blk)).unwrap_or_default();
    let restart = restart_spec.over(job.job_type.default_restart());
    if restart_spec.span.is_some() && !restart_spec.broken {
        validate_restart(r, &restart, restart_spec.span.clone(), "task group");
    }

    let reschedule = group_reschedule(r, b, job);
    let max_run_duration = max_run_duration(r, b, job.job_type);
    let ephemeral_disk_sticky = ephemeral_disk_sticky(r, b);
    let ports = network(r, b);
    let task_names: Vec<String> =
        r.blocks(b, "task").iter().filter_map(|t| t.labels.first().map(|l| l.as_str().to_string())).collect();
    let scope = Scope { job: &job.id, group: &name, task: None, ports: &ports, tasks: &task_names };
    let services = services(r, b, &scope);
    // The group's ports, and those its tasks' resources declare.
    let (mut tasks, ports) = group_tasks(r, block, &scope, job.job_type, &restart_spec, &meta);
    let shutdown_delay =
        r.attr(b, "shutdown_delay").and_then(|a| r.duration(&a.value, "shutdown_delay")).unwrap_or_default();
    for t in tasks.iter_mut().filter_map(std::sync::Arc::get_mut) {
        t.group_shutdown_delay = shutdown_delay;
    }
    check_leaders(r, block, &name, &tasks);
    tasks.shrink_to_fit();
    let pos = r.sink.pos(&block.ident.span());
    Group {
        name,
        pos,
        count,
        restart,
        reschedule,
        constraints: constraints.into(),
        meta,
        ports: ports.into(),
        services: services.into(),
        tasks,
        max_run_duration,
        ephemeral_disk_sticky,
    }
}

/// The group's `reschedule` policy over the job's and the job type's
/// defaults; none for the job types that reschedule nothing.
fn group_reschedule(r: &mut Reader, b: &Body, job: &JobCtx) -> Option<ReschedulePolicy> {
    let resched_block = r.one_block(b, "reschedule", "a group");
    match job.job_type.default_reschedule() {
        None => {
            if let Some(blk) = resched_block {
                r.sink.error(blk.ident.span(), format!("{} jobs cannot have a reschedule policy — they run on every node; remove the `reschedule` block", job.job_type));
            }
            None
        }
        Some(defaults) => {
            // Nomad checks the policy each group ends up with: group fields
            // over job fields over the type's defaults. The report points at
            // the group's block, or at the job's when the group has none.
            let mut spec = job.resched.clone().unwrap_or_default();
            if let Some(blk) = resched_block {
                spec = reschedule_spec(r, blk).over_spec(&spec);
            }
            if spec.span.is_some() && !spec.broken {
                validate_reschedule(r, &spec.over(defaults), spec.span.clone());
            }
            Some(spec.over(defaults))
        }
    }
}

/// The `sticky` of the group's `ephemeral_disk` block.
fn ephemeral_disk_sticky(r: &mut Reader, b: &Body) -> bool {
    match r.one_block(b, "ephemeral_disk", "a group") {
        Some(disk) => {
            r.no_label(disk);
            r.check_keys(&disk.body, &EPHEMERAL_DISK);
            r.attr(&disk.body, "sticky").and_then(|a| r.bool(&a.value, "sticky")).unwrap_or(false)
        }
        None => false,
    }
}

/// The group's `task` blocks, each read; a task without a good name, or
/// with one the group already has, is read but not kept. With them, the
/// group's ports: its network's, then those each task's `resources`
/// declare (which every task of an instance gets, as the group's).
fn group_tasks(
    r: &mut Reader,
    block: &Block,
    group_scope: &Scope,
    job_type: JobType,
    restart_spec: &RestartSpec,
    meta: &BTreeMap<String, String>,
) -> (Vec<std::sync::Arc<Task>>, Vec<Port>) {
    let name = group_scope.group;
    let mut ports = group_scope.ports.to_vec();
    let mut tasks = Vec::new();
    let mut seen: BTreeMap<String, Sp> = BTreeMap::new();
    let task_blocks = r.blocks(&block.body, "task");
    if task_blocks.is_empty() {
        // A Connect gateway's group has no task of its own: Nomad runs
        // Consul's Envoy in it.
        let gateway = r
            .blocks(&block.body, "service")
            .into_iter()
            .any(|s| r.blocks(&s.body, "connect").into_iter().any(|c| !r.blocks(&c.body, "gateway").is_empty()));
        let message = if gateway {
            format!(
                "{} is a Consul Connect gateway (Nomad runs Consul's Envoy proxy in it): supd has no Consul — run the gateway with Nomad and Consul, or a proxy of your own as a task",
                named("group", name)
            )
        } else {
            format!(
                "{} has no task — add `task \"NAME\" {{ driver = \"exec\" config {{ command = \"…\" }} }}`",
                named("group", name)
            )
        };
        r.sink.error(block.ident.span(), message);
    }
    for tb in task_blocks {
        // As with groups, a nameless or duplicate task is read but not kept.
        let mut label = r.name_label(tb, crate::names::Kind::Task, "task \"NAME\" { … }");
        let tname = label.clone().unwrap_or_default();
        let lspan = tb.labels.first().and_then(|l| l.span());
        if label.is_some()
            && let Some(problem) = crate::names::together_problem(group_scope.job, name, &tname)
        {
            r.sink.error(lspan.clone(), problem);
            label = None;
        }
        let duplicate = label.is_some() && seen.contains_key(&tname);
        if duplicate {
            let at = seen.get(&tname).map(|first| r.sink.pos(first)).unwrap_or_default();
            r.sink.error(
                lspan.clone(),
                format!(
                    "duplicate task {tname:?} in group {name:?} (first defined at {at}) — give each task its own name"
                ),
            );
        }
        let scope = Scope {
            job: group_scope.job,
            group: name,
            task: Some(&tname),
            ports: group_scope.ports,
            tasks: group_scope.tasks,
        };
        let (t, own_ports) = task(r, tb, tname.clone(), &scope, &ports, job_type, restart_spec, meta);
        if label.is_some() && !duplicate {
            seen.insert(tname, lspan);
            tasks.push(std::sync::Arc::new(t));
            ports.extend(own_ports);
        }
    }
    (tasks, ports)
}

/// Reports a group with more than one `leader` task.
fn check_leaders(r: &mut Reader, block: &Block, name: &str, tasks: &[std::sync::Arc<Task>]) {
    let leaders: Vec<&Task> = tasks.iter().map(|t| &**t).filter(|t| t.leader).collect();
    if leaders.len() > 1 {
        let at = leaders.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
        r.sink.error(
            block.ident.span(),
            format!("group {name:?} marks {} tasks as leader ({at}) — only one task may be the leader", leaders.len()),
        );
    }
}

/// `max_run_duration` (Nomad 2.0): how long a batch or sysbatch instance
/// may run before its tasks are stopped. Nomad refuses it on other job
/// types and refuses zero.
fn max_run_duration(r: &mut Reader, b: &Body, job_type: JobType) -> Option<Duration> {
    let a = r.attr(b, "max_run_duration")?;
    let d = r.duration(&a.value, "max_run_duration")?;
    if !matches!(job_type, JobType::Batch | JobType::Sysbatch) {
        r.sink.error(
            a.key.span(),
            format!(
                "`max_run_duration` is for batch and sysbatch jobs, and this is a {job_type} job — remove it, or set `type = \"batch\"` in the job"
            ),
        );
        return None;
    }
    if d.is_zero() {
        r.sink.error(
            a.value.span(),
            "`max_run_duration` must be greater than zero — write e.g. \"30m\", or remove it to let the task run as long as it needs",
        );
        return None;
    }
    Some(d)
}

pub(super) fn network(r: &mut Reader, b: &Body) -> Vec<Port> {
    let Some(net) = r.one_block(b, "network", "a group") else { return Vec::new() };
    r.no_label(net);
    r.check_keys(&net.body, &NETWORK);
    if let Some(a) = r.attr(&net.body, "mode")
        && let Some(m) = r.literal(&a.value, "mode")
        && m != "host"
    {
        r.sink.warn(a.value.span(), format!("network mode {m:?} is ignored by supd — tasks use the host's network"));
    }
    let mut ports: Vec<Port> = Vec::new();
    read_ports(r, &net.body, "port", &[], &mut ports);
    ports
}

/// The ports of a task's `resources { network { … } }`: `port` blocks, and
/// Nomad's `reserved_ports` blocks, read alike. A label or static port
/// that one of `taken` (the group's and its earlier tasks') has is an
/// error: they all become the group's.
pub(super) fn task_network(r: &mut Reader, resources: &Body, taken: &[Port]) -> Vec<Port> {
    let Some(net) = r.one_block(resources, "network", "a task's resources") else { return Vec::new() };
    r.no_label(net);
    r.check_keys(&net.body, &TASK_NETWORK);
    let mut ports: Vec<Port> = Vec::new();
    for key in ["port", "reserved_ports"] {
        read_ports(r, &net.body, key, taken, &mut ports);
    }
    ports
}

/// The `key` blocks of a network, each a port, added to `ports`; a label
/// or static port that one of `taken` or an earlier port has is an error.
fn read_ports(r: &mut Reader, body: &Body, key: &str, taken: &[Port], ports: &mut Vec<Port>) {
    for pb in r.blocks(body, key) {
        let Some(label) = r.label(pb, "port \"http\" { static = 8080 }") else { continue };
        r.check_keys(&pb.body, &PORT);
        let pos = r.sink.pos(&pb.labels.first().and_then(|l| l.span()));
        if let Some(first) = taken.iter().chain(ports.iter()).find(|p| p.label == label) {
            r.sink.error(
                pb.labels.first().and_then(|l| l.span()),
                format!("duplicate port {label:?} (first defined at {}) — give each port its own label", first.pos),
            );
            continue;
        }
        let static_port = r.attr(&pb.body, "static").and_then(|a| {
            let v = r.int(&a.value, "static", 1, 65535)? as u16;
            if let Some(other) = taken.iter().chain(ports.iter()).find(|p| p.static_port == Some(v)) {
                r.sink.error(
                    a.value.span(),
                    format!("static port {v} is already reserved by port {:?} — use another port number", other.label),
                );
            }
            Some(v)
        });
        // `to` is where a container listens; -1 (Nomad's "the same as the
        // host port") is what leaving it out means.
        let to =
            r.attr(&pb.body, "to").and_then(|a| r.int(&a.value, "to", -1, 65535)).filter(|v| *v > 0).map(|v| v as u16);
        ports.push(Port { label, static_port, to, pos });
    }
}
