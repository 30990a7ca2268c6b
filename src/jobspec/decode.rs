//! One pass over hcl-edit's tree of a job file: builds the typed [`Job`]s,
//! fills in Nomad's defaults, applies the merge rules, and checks Nomad's
//! own rules, reporting every problem with its position.

use super::diag::{Sink, did_you_mean};
use super::duration::GoDuration;
use super::model::*;
use super::reader::{Kind, Reader, Schema, Sp};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Body};
use std::collections::BTreeMap;
use std::time::Duration;

use Kind::{Attr, Block as Blk, Either};

const JOB: Schema = Schema {
    what: "job",
    keys: &[
        ("type", Attr),
        ("name", Attr),
        ("datacenters", Attr),
        ("region", Attr),
        ("priority", Attr),
        ("meta", Either),
        ("constraint", Blk),
        ("reschedule", Blk),
        ("group", Blk),
    ],
    ignored: &[
        "namespace",
        "node_pool",
        "all_at_once",
        "affinity",
        "spread",
        "update",
        "migrate",
        "periodic",
        "parameterized",
        "multiregion",
        "vault",
        "consul",
        "vault_token",
        "consul_token",
        "ui",
        "id",
    ],
};

const GROUP: Schema = Schema {
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
    ],
    ignored: &[
        "affinity",
        "spread",
        "update",
        "migrate",
        "ephemeral_disk",
        "volume",
        "scaling",
        "consul",
        "vault",
        "disconnect",
        "max_client_disconnect",
        "stop_after_client_disconnect",
        "prevent_reschedule_on_lost",
        "shutdown_delay",
    ],
};

const NETWORK: Schema =
    Schema { what: "network", keys: &[("port", Blk), ("mode", Attr)], ignored: &["dns", "hostname", "mbits", "cni"] };

const PORT: Schema =
    Schema { what: "port", keys: &[("static", Attr)], ignored: &["to", "host_network", "ignore_collision"] };

const TASK: Schema = Schema {
    what: "task",
    keys: &[
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
        "dispatch_payload",
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

const CONFIG: Schema = Schema {
    what: "config",
    keys: &[("command", Attr), ("args", Attr), ("work_dir", Attr)],
    ignored: &[
        "pid_mode",
        "ipc_mode",
        "cap_add",
        "cap_drop",
        "cgroup_v2_override",
        "cgroup_v1_override",
        "oom_score_adj",
        "denied_envvars",
    ],
};

const LIFECYCLE: Schema = Schema { what: "lifecycle", keys: &[("hook", Attr), ("sidecar", Attr)], ignored: &[] };

const LOGS: Schema =
    Schema { what: "logs", keys: &[("max_files", Attr), ("max_file_size", Attr)], ignored: &["disabled", "enabled"] };

const RESOURCES: Schema = Schema {
    what: "resources",
    keys: &[("cpu", Attr), ("memory", Attr), ("memory_max", Attr)],
    ignored: &["cores", "device", "network", "numa", "disk", "iops", "secrets"],
};

const RESTART: Schema = Schema {
    what: "restart",
    keys: &[("attempts", Attr), ("interval", Attr), ("delay", Attr), ("mode", Attr)],
    ignored: &["render_templates"],
};

const RESCHEDULE: Schema = Schema {
    what: "reschedule",
    keys: &[
        ("attempts", Attr),
        ("interval", Attr),
        ("delay", Attr),
        ("delay_function", Attr),
        ("max_delay", Attr),
        ("unlimited", Attr),
    ],
    ignored: &[],
};

const SERVICE: Schema = Schema {
    what: "service",
    keys: &[("name", Attr), ("port", Attr), ("tags", Attr), ("check", Blk), ("check_restart", Blk), ("provider", Attr)],
    ignored: &[
        "canary_tags",
        "enable_tag_override",
        "meta",
        "canary_meta",
        "tagged_addresses",
        "address",
        "address_mode",
        "on_update",
        "task",
        "connect",
        "identity",
        "cluster",
        "kind",
        "weights",
    ],
};

const CHECK: Schema = Schema {
    what: "check",
    keys: &[
        ("type", Attr),
        ("name", Attr),
        ("interval", Attr),
        ("timeout", Attr),
        ("path", Attr),
        ("method", Attr),
        ("header", Either),
        ("body", Attr),
        ("protocol", Attr),
        ("port", Attr),
        ("address", Attr),
        ("command", Attr),
        ("args", Attr),
        ("initial_status", Attr),
        ("task", Attr),
        ("check_restart", Blk),
    ],
    ignored: &[
        "address_mode",
        "grpc_service",
        "grpc_use_tls",
        "tls_skip_verify",
        "tls_server_name",
        "expose",
        "on_update",
        "notes",
        "success_before_passing",
        "failures_before_critical",
        "failures_before_warning",
        "method_override",
    ],
};

const CHECK_RESTART: Schema = Schema {
    what: "check_restart",
    keys: &[("limit", Attr), ("grace", Attr), ("ignore_warnings", Attr)],
    ignored: &[],
};

const CONSTRAINT: Schema = Schema {
    what: "constraint",
    keys: &[
        ("attribute", Attr),
        ("operator", Attr),
        ("value", Attr),
        ("version", Attr),
        ("semver", Attr),
        ("regexp", Attr),
        ("set_contains", Attr),
        ("distinct_hosts", Attr),
        ("distinct_property", Attr),
    ],
    ignored: &[],
};

/// Signals a task may name as `kill_signal`.
pub const SIGNALS: [&str; 31] = [
    "SIGABRT",
    "SIGALRM",
    "SIGBUS",
    "SIGCHLD",
    "SIGCONT",
    "SIGFPE",
    "SIGHUP",
    "SIGILL",
    "SIGINT",
    "SIGIO",
    "SIGKILL",
    "SIGPIPE",
    "SIGPROF",
    "SIGPWR",
    "SIGQUIT",
    "SIGSEGV",
    "SIGSTKFLT",
    "SIGSTOP",
    "SIGSYS",
    "SIGTERM",
    "SIGTRAP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGUSR1",
    "SIGUSR2",
    "SIGVTALRM",
    "SIGWINCH",
    "SIGXCPU",
    "SIGXFSZ",
];

/// Parses every job of one file. Jobs with errors are left out of the
/// result; the diagnostics say why.
pub fn decode<'s>(file: &str, src: &'s str) -> (Vec<Job>, Sink<'s>) {
    let mut r = Reader::new(file, src);
    let body = match hcl_edit::parser::parse_body(src) {
        Ok(b) => b,
        Err(e) => {
            let (line, column, message) = syntax_error(src, &e);
            r.sink.push(super::diag::Diagnostic {
                file: file.to_string(),
                line: Some(line),
                column: Some(column),
                severity: super::diag::Severity::Error,
                message,
            });
            return (Vec::new(), r.sink);
        }
    };
    for s in body.iter() {
        if let Some(b) = s.as_block()
            && matches!(b.ident.as_str(), "variable" | "locals")
        {
            r.sink.error(
                b.ident.span(),
                format!(
                    "`{}` blocks are not supported — supd evaluates no HCL variables; write the values in place",
                    b.ident.as_str()
                ),
            );
            continue;
        }
        if let Some(a) = s.as_attribute() {
            r.sink.error(
                a.key.span(),
                format!(
                    "unexpected attribute `{}` outside a job — a job file holds `job \"NAME\" {{ … }}` blocks",
                    a.key.as_str()
                ),
            );
            continue;
        }
        if let Some(b) = s.as_block()
            && b.ident.as_str() != "job"
        {
            let hint =
                did_you_mean(b.ident.as_str(), ["job"]).map_or(String::new(), |s| format!("did you mean `{s}`? "));
            r.sink.error(
                b.ident.span(),
                format!("unknown block `{}` — {hint}a job file holds `job \"NAME\" {{ … }}` blocks", b.ident.as_str()),
            );
        }
    }
    let mut jobs = Vec::new();
    let mut seen: BTreeMap<String, Sp> = BTreeMap::new();
    let job_blocks: Vec<&Block> = body.get_blocks("job").collect();
    if job_blocks.is_empty() && !r.sink.has_errors() {
        r.sink
            .error(Some(0..0), "no job in this file — write `job \"NAME\" { group \"NAME\" { task \"NAME\" { … } } }`");
    }
    for block in job_blocks {
        let errors_before = r.sink.error_count();
        let id = r.name_label(block, crate::names::Kind::Job, "job \"NAME\" { … }");
        if let Some(id) = &id {
            if let Some(first) = seen.get(id) {
                let at = r.sink.pos(first);
                r.sink.error(
                    block.labels.first().and_then(|l| l.span()),
                    format!("duplicate job {id:?} (first defined at {at}) — give each job its own name"),
                );
            } else {
                seen.insert(id.clone(), block.labels.first().and_then(|l| l.span()));
            }
        }
        let job = job(&mut r, block, id.unwrap_or_default());
        if r.sink.error_count() == errors_before {
            jobs.push(job);
        }
    }
    (jobs, r.sink)
}

/// A syntax error's place and message. hcl-edit lets a quoted string run
/// on past its line and then reports a confusing place; HCL forbids that, so
/// an unterminated string is found here and reported where it starts.
fn syntax_error(src: &str, e: &hcl_edit::parser::Error) -> (usize, usize, String) {
    let index = super::diag::LineIndex::new(src);
    // hcl-edit's byte offset, turned into a character column here (its own
    // column counts bytes after some non-ASCII text).
    let off = e.location().offset();
    let pos = index.pos(off);
    if let Some((l, c)) = unterminated_string(src)
        && l <= pos.line
    {
        return (l, c, "unterminated string — close it with `\"` on the same line".into());
    }
    // At the end of the input the parser points at the last byte; the place
    // is just past it.
    let rest = src.get(off..).unwrap_or("");
    let at_end = rest.trim().is_empty() || (off + 1 >= src.len() && e.message().contains("expected `}`"));
    let pos = if at_end { index.pos(src.len()) } else { pos };
    let message = if at_end {
        "unexpected end of file — a block is not closed; add the missing `}`".to_string()
    } else if e.message().contains("redefined") {
        "this attribute is already set in this block — remove one of the two".to_string()
    } else {
        format!("syntax error: {} — check the brackets, quotes and `=` here", e.message())
    };
    (pos.line, pos.column, message)
}

/// The line and column of the first quoted string that is not closed on
/// its line, skipping comments and heredocs.
fn unterminated_string(src: &str) -> Option<(usize, usize)> {
    let mut in_block_comment = false;
    let mut heredoc: Option<String> = None;
    for (ln, line) in src.lines().enumerate() {
        if let Some(tag) = &heredoc {
            if line.trim() == tag {
                heredoc = None;
            }
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if in_block_comment {
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    in_block_comment = false;
                    i += 1;
                }
                i += 1;
                continue;
            }
            match chars[i] {
                '#' => break,
                '/' if chars.get(i + 1) == Some(&'/') => break,
                '/' if chars.get(i + 1) == Some(&'*') => {
                    in_block_comment = true;
                    i += 1;
                }
                '<' if chars.get(i + 1) == Some(&'<') => {
                    let tag: String = chars[i + 2..]
                        .iter()
                        .skip_while(|c| **c == '-')
                        .take_while(|c| c.is_alphanumeric() || **c == '_')
                        .collect();
                    if !tag.is_empty() {
                        heredoc = Some(tag);
                        break;
                    }
                }
                '"' => {
                    let start = i;
                    let mut depth = 0usize;
                    let mut closed = false;
                    i += 1;
                    while i < chars.len() {
                        match chars[i] {
                            '\\' => i += 1,
                            '$' | '%' if chars.get(i + 1) == Some(&'{') => {
                                depth += 1;
                                i += 1;
                            }
                            '}' if depth > 0 => depth -= 1,
                            '"' if depth == 0 => {
                                closed = true;
                                break;
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    if !closed {
                        return Some((ln + 1, start + 1));
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    None
}

/// A name in quotes that reads well even when it holds quotes itself.
fn quote(name: &str) -> String {
    if name.contains('"') { format!("'{name}'") } else { format!("\"{name}\"") }
}

/// `job "web"`, or `this job` when it has no name.
fn named(kind: &str, name: &str) -> String {
    if name.is_empty() { format!("this {kind}") } else { format!("{kind} {name:?}") }
}

fn job(r: &mut Reader, block: &Block, id: String) -> Job {
    let b = &block.body;
    r.check_keys(b, &JOB);
    let job_type = match r.attr(b, "type") {
        Some(a) => {
            r.enum_value(&a.value, "type", &JobType::NAMES).and_then(|s| JobType::parse(&s)).unwrap_or(JobType::Service)
        }
        None => JobType::Service,
    };
    let name = match r.attr(b, "name") {
        Some(a) => {
            let name = r.literal(&a.value, "name");
            if let Some(problem) = name.as_deref().and_then(|n| crate::names::problem(crate::names::Kind::JobName, n)) {
                r.sink.error(a.value.span(), problem);
            }
            name.unwrap_or_else(|| id.clone())
        }
        None => id.clone(),
    };
    let datacenters = match r.attr(b, "datacenters") {
        Some(a) => {
            let list = r.string_list(&a.value, "datacenters").unwrap_or_else(|| vec!["*".into()]);
            if list.is_empty() {
                r.sink.error(
                    a.value.span(),
                    "`datacenters` is empty — list at least one, e.g. [\"dc1\"], or [\"*\"] for any",
                );
            }
            list
        }
        None => vec!["*".into()],
    };
    let region = r.attr(b, "region").and_then(|a| r.literal(&a.value, "region")).unwrap_or_else(|| "global".into());
    let priority = r.attr(b, "priority").and_then(|a| r.int(&a.value, "priority", 1, 100)).unwrap_or(50) as u8;
    let meta = r.string_map(b, "meta");
    let constraints = constraints(r, b);
    let resched_block = r.one_block(b, "reschedule", "a job");
    let job_resched = resched_block.map(|blk| reschedule_spec(r, blk));
    if let Some(blk) = resched_block
        && matches!(job_type, JobType::System | JobType::Sysbatch)
    {
        r.sink.error(blk.ident.span(), format!("{job_type} jobs cannot have a reschedule policy — they run on every node; remove the `reschedule` block"));
    }
    let mut groups = Vec::new();
    let mut seen: BTreeMap<String, Sp> = BTreeMap::new();
    let group_blocks = r.blocks(b, "group");
    if group_blocks.is_empty() {
        r.sink.error(
            block.ident.span(),
            format!("{} has no group — add `group \"NAME\" {{ task \"NAME\" {{ … }} }}`", named("job", &id)),
        );
    }
    let ctx = JobCtx { id: id.clone(), job_type, meta: meta.clone(), resched: job_resched };
    for gb in group_blocks {
        // A group without a name, or with a taken one, is still read for
        // its other problems, but not kept.
        let Some(name) = r.name_label(gb, crate::names::Kind::Group, "group \"NAME\" { … }") else {
            group(r, gb, String::new(), &ctx);
            continue;
        };
        let lspan = gb.labels.first().and_then(|l| l.span());
        if let Some(first) = seen.get(&name) {
            let at = r.sink.pos(first);
            r.sink.error(
                lspan,
                format!(
                    "duplicate group {name:?} in job {id:?} (first defined at {at}) — give each group its own name"
                ),
            );
            group(r, gb, name, &ctx);
            continue;
        }
        seen.insert(name.clone(), lspan);
        groups.push(group(r, gb, name, &ctx));
    }
    let pos = r.sink.pos(&block.ident.span());
    let source = block.span().and_then(|s| r.src.get(s)).unwrap_or_default().to_string();
    Job { id, name, pos, source, job_type, datacenters, region, priority, meta, constraints, groups }
}

struct JobCtx {
    id: String,
    job_type: JobType,
    meta: BTreeMap<String, String>,
    resched: Option<RescheduleSpec>,
}

fn group(r: &mut Reader, block: &Block, name: String, job: &JobCtx) -> Group {
    let b = &block.body;
    r.check_keys(b, &GROUP);
    let count = r.attr(b, "count").and_then(|a| r.int(&a.value, "count", 0, u32::MAX as i64)).unwrap_or(1) as u32;
    let mut meta = job.meta.clone();
    meta.extend(r.string_map(b, "meta"));
    let constraints = constraints(r, b);

    let restart_spec = r.one_block(b, "restart", "a group").map(|blk| restart_spec(r, blk)).unwrap_or_default();
    let restart = restart_spec.over(job.job_type.default_restart());
    if restart_spec.span.is_some() && !restart_spec.broken {
        validate_restart(r, &restart, restart_spec.span.clone(), "task group");
    }

    let resched_block = r.one_block(b, "reschedule", "a group");
    let reschedule = match job.job_type.default_reschedule() {
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
    };

    let ports = network(r, b);
    let task_names: Vec<String> =
        r.blocks(b, "task").iter().filter_map(|t| t.labels.first().map(|l| l.as_str().to_string())).collect();
    let services = services(r, b, &Scope { job: &job.id, group: &name, task: None, ports: &ports, tasks: &task_names });
    let mut tasks = Vec::new();
    let mut seen: BTreeMap<String, Sp> = BTreeMap::new();
    let task_blocks = r.blocks(b, "task");
    if task_blocks.is_empty() {
        r.sink.error(
            block.ident.span(),
            format!(
                "{} has no task — add `task \"NAME\" {{ driver = \"exec\" config {{ command = \"…\" }} }}`",
                named("group", &name)
            ),
        );
    }
    for tb in task_blocks {
        // As with groups, a nameless or duplicate task is read but not kept.
        let mut label = r.name_label(tb, crate::names::Kind::Task, "task \"NAME\" { … }");
        let tname = label.clone().unwrap_or_default();
        let lspan = tb.labels.first().and_then(|l| l.span());
        if label.is_some()
            && let Some(problem) = crate::names::together_problem(&job.id, &name, &tname)
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
        let scope = Scope { job: &job.id, group: &name, task: Some(&tname), ports: &ports, tasks: &task_names };
        let t = task(r, tb, tname.clone(), &scope, job.job_type, &restart_spec, &meta);
        if label.is_some() && !duplicate {
            seen.insert(tname, lspan);
            tasks.push(t);
        }
    }
    let leaders: Vec<&Task> = tasks.iter().filter(|t| t.leader).collect();
    if leaders.len() > 1 {
        let at = leaders.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
        r.sink.error(
            block.ident.span(),
            format!("group {name:?} marks {} tasks as leader ({at}) — only one task may be the leader", leaders.len()),
        );
    }
    let pos = r.sink.pos(&block.ident.span());
    Group { name, pos, count, restart, reschedule, constraints, meta, ports, services, tasks }
}

fn network(r: &mut Reader, b: &Body) -> Vec<Port> {
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
    for pb in r.blocks(&net.body, "port") {
        let Some(label) = r.label(pb, "port \"http\" { static = 8080 }") else { continue };
        r.check_keys(&pb.body, &PORT);
        let pos = r.sink.pos(&pb.labels.first().and_then(|l| l.span()));
        if let Some(first) = ports.iter().find(|p| p.label == label) {
            r.sink.error(
                pb.labels.first().and_then(|l| l.span()),
                format!("duplicate port {label:?} (first defined at {}) — give each port its own label", first.pos),
            );
            continue;
        }
        let static_port = r.attr(&pb.body, "static").and_then(|a| {
            let v = r.int(&a.value, "static", 1, 65535)? as u16;
            if let Some(other) = ports.iter().find(|p| p.static_port == Some(v)) {
                r.sink.error(
                    a.value.span(),
                    format!("static port {v} is already reserved by port {:?} — use another port number", other.label),
                );
            }
            Some(v)
        });
        ports.push(Port { label, static_port, pos });
    }
    ports
}

struct Scope<'a> {
    job: &'a str,
    group: &'a str,
    task: Option<&'a str>,
    ports: &'a [Port],
    /// The names of the group's tasks.
    tasks: &'a [String],
}

#[allow(clippy::too_many_arguments)]
fn task(
    r: &mut Reader,
    block: &Block,
    name: String,
    scope: &Scope,
    job_type: JobType,
    group_restart: &RestartSpec,
    group_meta: &BTreeMap<String, String>,
) -> Task {
    let b = &block.body;
    r.check_keys(b, &TASK);
    // Another driver's config keys are that driver's business: they are
    // not checked once the unsupported driver is reported.
    let mut foreign_driver = false;
    let driver = match r.attr(b, "driver") {
        None => {
            r.sink.error(
                block.ident.span(),
                format!("{} has no driver — add `driver = \"exec\"` (or \"raw_exec\")", named("task", &name)),
            );
            None
        }
        Some(a) => match r.literal(&a.value, "driver").as_deref() {
            Some("exec") => Some(Driver::Exec),
            Some("raw_exec") => Some(Driver::RawExec),
            Some(other) => {
                foreign_driver = true;
                let hint = if matches!(other, "docker" | "podman" | "containerd-driver" | "containerd") {
                    "; for a container image, run its entrypoint binary with one of them"
                } else {
                    ""
                };
                r.sink.error(
                    a.value.span(),
                    format!("driver {other:?} is not supported — supd runs tasks as host processes with driver \"exec\" or \"raw_exec\"{hint}"),
                );
                None
            }
            None => None,
        },
    };
    let (mut command, mut args, mut work_dir) = (String::new(), Vec::new(), None);
    match r.one_block(b, "config", "a task") {
        Some(cfg) => {
            r.no_label(cfg);
            if !foreign_driver {
                r.check_keys(&cfg.body, &CONFIG);
                match r.attr(&cfg.body, "command") {
                    Some(a) => {
                        command = r.string(&a.value, "command").unwrap_or_default();
                        if command.trim().is_empty() && matches!(a.value, Expression::String(_)) {
                            r.sink.error(
                                a.value.span(),
                                "`command` is empty — name the program to run, e.g. \"/usr/bin/redis-server\"",
                            );
                        }
                    }
                    None => r.sink.error(
                        cfg.ident.span(),
                        format!(
                            "{} config has no `command` — add e.g. `command = \"/usr/bin/redis-server\"`",
                            named("task", &name)
                        ),
                    ),
                }
                args = r.attr(&cfg.body, "args").and_then(|a| r.string_list(&a.value, "args")).unwrap_or_default();
                work_dir = r.attr(&cfg.body, "work_dir").and_then(|a| r.string(&a.value, "work_dir"));
            }
        }
        None if !foreign_driver => r.sink.error(
            block.ident.span(),
            format!("{} has no config block — add `config {{ command = \"…\" }}`", named("task", &name)),
        ),
        None => {}
    }
    let env = r.string_map(b, "env");
    let user = r.attr(b, "user").and_then(|a| r.literal(&a.value, "user"));
    let kill_timeout =
        r.attr(b, "kill_timeout").and_then(|a| r.duration(&a.value, "kill_timeout")).unwrap_or(Duration::from_secs(5));
    let kill_signal = match r.attr(b, "kill_signal") {
        Some(a) => r.enum_value(&a.value, "kill_signal", &SIGNALS).unwrap_or_else(|| "SIGINT".into()),
        None => "SIGINT".into(),
    };
    let shutdown_delay =
        r.attr(b, "shutdown_delay").and_then(|a| r.duration(&a.value, "shutdown_delay")).unwrap_or_default();
    let leader = r.attr(b, "leader").and_then(|a| r.bool(&a.value, "leader")).unwrap_or(false);
    let lifecycle = r.one_block(b, "lifecycle", "a task").and_then(|lb| {
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
    });
    let logs = r.one_block(b, "logs", "a task").map_or_else(Logs::default, |lb| logs(r, lb));
    let resources = r.one_block(b, "resources", "a task").map_or_else(Resources::default, |rb| resources(r, rb));
    let own_restart = r.one_block(b, "restart", "a task").map(|blk| restart_spec(r, blk));
    let restart = match &own_restart {
        Some(spec) => {
            let merged = spec.over(group_restart.over(job_type.default_restart()));
            if !spec.broken && !group_restart.broken {
                validate_restart(r, &merged, spec.span.clone(), "task");
            }
            merged
        }
        None => group_restart.over(job_type.default_restart()),
    };
    let services = services(r, b, scope);
    let (templates, artifacts) = super::taskdir_blocks::decode(r, b);
    let constraints = constraints(r, b);
    let mut meta = group_meta.clone();
    meta.extend(r.string_map(b, "meta"));
    let pos = r.sink.pos(&block.ident.span());
    Task {
        name,
        pos,
        driver: driver.unwrap_or(Driver::Exec),
        command,
        args,
        work_dir,
        env,
        user,
        kill_timeout,
        kill_signal,
        shutdown_delay,
        leader,
        lifecycle,
        logs,
        resources,
        restart,
        services,
        templates,
        artifacts,
        constraints,
        meta,
    }
}

fn logs(r: &mut Reader, lb: &Block) -> Logs {
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

fn resources(r: &mut Reader, rb: &Block) -> Resources {
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

// --- restart -------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct RestartSpec {
    attempts: Option<u32>,
    interval: Option<Duration>,
    delay: Option<Duration>,
    mode: Option<RestartMode>,
    span: Sp,
    /// Some field had an error: the policy's rules are not checked, as they
    /// would judge defaults the file did not ask for.
    broken: bool,
}

impl RestartSpec {
    fn over(&self, base: RestartPolicy) -> RestartPolicy {
        RestartPolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            interval: self.interval.unwrap_or(base.interval),
            delay: self.delay.unwrap_or(base.delay),
            mode: self.mode.unwrap_or(base.mode),
        }
    }
}

fn restart_spec(r: &mut Reader, blk: &Block) -> RestartSpec {
    r.no_label(blk);
    r.check_keys(&blk.body, &RESTART);
    let b = &blk.body;
    let before = r.sink.error_count();
    let mut spec = RestartSpec {
        attempts: r.attr(b, "attempts").and_then(|a| r.int(&a.value, "attempts", 0, u32::MAX as i64)).map(|v| v as u32),
        interval: r.attr(b, "interval").and_then(|a| r.duration(&a.value, "interval")),
        delay: r.attr(b, "delay").and_then(|a| r.duration(&a.value, "delay")),
        mode: r
            .attr(b, "mode")
            .and_then(|a| r.enum_value(&a.value, "mode", &["fail", "delay"]))
            .map(|m| if m == "fail" { RestartMode::Fail } else { RestartMode::Delay }),
        span: blk.ident.span(),
        broken: false,
    };
    spec.broken = r.sink.error_count() > before;
    spec
}

/// Nomad's `RestartPolicy.Validate` (reference §1.4), with DESIGN §3's
/// relaxed minimum interval.
fn validate_restart(r: &mut Reader, p: &RestartPolicy, span: Sp, scope: &str) {
    if p.mode == RestartMode::Delay && p.attempts == 0 {
        r.sink.error(span.clone(), "restart mode \"delay\" with 0 attempts is ambiguous — set attempts above 0, or use mode = \"fail\" to stop after the first failure");
    }
    if p.attempts > 0 && p.interval.is_zero() {
        r.sink.error(span.clone(), "restart interval is 0 — with a zero window no restart is ever counted, so attempts would not limit anything; set an interval such as \"30m\"");
        return;
    }
    if p.interval < Duration::from_secs(5) {
        r.sink.warn(
            span.clone(),
            format!("restart interval {} is below 5s, which Nomad refuses (supd accepts it)", GoDuration(p.interval)),
        );
    }
    let needed = p.delay.saturating_mul(p.attempts);
    if needed > p.interval {
        r.sink.error(
            span,
            format!(
                "Nomad can't restart the {scope} {} times in an interval of {} with a delay of {} — set interval to at least {}, or lower attempts or delay",
                p.attempts,
                GoDuration(p.interval),
                GoDuration(p.delay),
                GoDuration(needed)
            ),
        );
    }
}

// --- reschedule ----------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct RescheduleSpec {
    attempts: Option<u32>,
    interval: Option<Duration>,
    delay: Option<Duration>,
    delay_function: Option<DelayFunction>,
    max_delay: Option<Duration>,
    unlimited: Option<bool>,
    span: Sp,
    broken: bool,
}

impl RescheduleSpec {
    fn over(&self, base: ReschedulePolicy) -> ReschedulePolicy {
        ReschedulePolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            interval: self.interval.unwrap_or(base.interval),
            delay: self.delay.unwrap_or(base.delay),
            delay_function: self.delay_function.unwrap_or(base.delay_function),
            max_delay: self.max_delay.unwrap_or(base.max_delay),
            unlimited: self.unlimited.unwrap_or(base.unlimited),
        }
    }

    /// Group fields over job fields, field by field.
    fn over_spec(&self, base: &RescheduleSpec) -> RescheduleSpec {
        RescheduleSpec {
            attempts: self.attempts.or(base.attempts),
            interval: self.interval.or(base.interval),
            delay: self.delay.or(base.delay),
            delay_function: self.delay_function.or(base.delay_function),
            max_delay: self.max_delay.or(base.max_delay),
            unlimited: self.unlimited.or(base.unlimited),
            span: self.span.clone().or(base.span.clone()),
            broken: self.broken || base.broken,
        }
    }
}

fn reschedule_spec(r: &mut Reader, blk: &Block) -> RescheduleSpec {
    r.no_label(blk);
    r.check_keys(&blk.body, &RESCHEDULE);
    let b = &blk.body;
    let before = r.sink.error_count();
    let mut spec = RescheduleSpec {
        attempts: r.attr(b, "attempts").and_then(|a| r.int(&a.value, "attempts", 0, u32::MAX as i64)).map(|v| v as u32),
        interval: r.attr(b, "interval").and_then(|a| r.duration(&a.value, "interval")),
        delay: r.attr(b, "delay").and_then(|a| r.duration(&a.value, "delay")),
        delay_function: r
            .attr(b, "delay_function")
            .and_then(|a| r.enum_value(&a.value, "delay_function", &DelayFunction::NAMES))
            .map(|f| match f.as_str() {
                "constant" => DelayFunction::Constant,
                "exponential" => DelayFunction::Exponential,
                _ => DelayFunction::Fibonacci,
            }),
        max_delay: r.attr(b, "max_delay").and_then(|a| r.duration(&a.value, "max_delay")),
        unlimited: r.attr(b, "unlimited").and_then(|a| r.bool(&a.value, "unlimited")),
        span: blk.ident.span(),
        broken: false,
    };
    spec.broken = r.sink.error_count() > before;
    spec
}

/// Nomad's `ReschedulePolicy.Validate` (reference §3.1), with DESIGN §3's
/// relaxed minimum delays.
fn validate_reschedule(r: &mut Reader, p: &ReschedulePolicy, span: Sp) {
    if !p.enabled() {
        return;
    }
    if p.attempts > 0 {
        if p.interval.is_zero() {
            r.sink.error(
                span.clone(),
                format!("reschedule attempts = {} needs an interval — set e.g. interval = \"1h\"", p.attempts),
            );
            return;
        }
        if p.unlimited {
            r.sink.error(
                span.clone(),
                format!(
                    "reschedule policy with attempts = {}, interval = {} and unlimited = true is ambiguous — add `unlimited = false` to limit attempts (service jobs default to unlimited), or remove attempts",
                    p.attempts,
                    GoDuration(p.interval)
                ),
            );
            return;
        }
    }
    if p.delay < Duration::from_secs(5) {
        r.sink.warn(
            span.clone(),
            format!("reschedule delay {} is below 5s, which Nomad refuses (supd accepts it)", GoDuration(p.delay)),
        );
    }
    if p.delay_function != DelayFunction::Constant {
        if p.max_delay < p.delay {
            r.sink.error(
                span.clone(),
                format!(
                    "reschedule max_delay {} is below delay {} — raise max_delay",
                    GoDuration(p.max_delay),
                    GoDuration(p.delay)
                ),
            );
            return;
        }
        if p.max_delay < Duration::from_secs(5) {
            r.sink.warn(
                span.clone(),
                format!(
                    "reschedule max_delay {} is below 5s, which Nomad refuses (supd accepts it)",
                    GoDuration(p.max_delay)
                ),
            );
        }
    }
    if !p.unlimited && p.attempts > 0 {
        if p.interval < Duration::from_secs(15) {
            r.sink.warn(
                span.clone(),
                format!(
                    "reschedule interval {} is below 15s, which Nomad refuses (supd accepts it)",
                    GoDuration(p.interval)
                ),
            );
        }
        let (ok, possible, recommended) = viable_attempts(p);
        if !ok {
            let ceiling = if p.delay_function == DelayFunction::Constant {
                String::new()
            } else {
                format!(" and delay ceiling {}", GoDuration(p.max_delay))
            };
            let rounded =
                Duration::from_secs(recommended.as_secs() + u64::from(recommended.subsec_nanos() >= 500_000_000));
            r.sink.error(
                span,
                format!(
                    "only {possible} of {} reschedule attempts fit in {} with initial delay {}, delay function {:?}{ceiling} — set interval to at least {}",
                    p.attempts,
                    GoDuration(p.interval),
                    GoDuration(p.delay),
                    p.delay_function.as_str(),
                    GoDuration(rounded)
                ),
            );
        }
    }
}

/// Nomad's `viableAttempts`: whether `attempts` reschedules fit in
/// `interval` given the delay progression; also how many do, and the
/// interval that would hold them all.
pub fn viable_attempts(p: &ReschedulePolicy) -> (bool, u32, Duration) {
    match p.delay_function {
        DelayFunction::Constant => {
            let recommended = p.delay.saturating_mul(p.attempts);
            if p.interval < recommended {
                let possible =
                    if p.delay.is_zero() { p.attempts } else { (p.interval.as_nanos() / p.delay.as_nanos()) as u32 };
                (false, possible, recommended)
            } else {
                (true, 0, recommended)
            }
        }
        DelayFunction::Exponential => {
            // Doubling until the cap, then adding the cap each time: once
            // capped, the rest follows by arithmetic, so a huge `attempts`
            // costs nothing.
            let mut recommended = Duration::ZERO;
            let mut possible: u64 = 0;
            let mut i = 0u32;
            while i < p.attempts {
                // delay × 2^i passes any cap by i = 64 (durations are < 2^64 ns).
                let ns = if i >= 64 { u128::MAX } else { p.delay.as_nanos().saturating_mul(1u128 << i) };
                let next = Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64);
                if next > p.max_delay || i >= 64 {
                    break;
                }
                recommended = next;
                if recommended < p.interval {
                    possible += 1;
                }
                i += 1;
            }
            let rest = u64::from(p.attempts - i);
            if rest > 0 {
                let step = p.max_delay.as_nanos();
                let room = p.interval.as_nanos().saturating_sub(recommended.as_nanos());
                // Steps k = 1..=rest with recommended + k·step < interval.
                let fit = match room.saturating_sub(1).checked_div(step) {
                    Some(k) => k.min(u128::from(rest)) as u64,
                    None if room > 0 => rest,
                    None => 0,
                };
                possible += fit;
                recommended = Duration::from_nanos(
                    (recommended.as_nanos() + step * u128::from(rest)).min(u128::from(u64::MAX)) as u64,
                );
            }
            let possible = possible.min(u64::from(u32::MAX)) as u32;
            (possible >= p.attempts, possible, recommended)
        }
        DelayFunction::Fibonacci => {
            // Slots grow as Fibonacci until the cap, then by the cap each time.
            let slot_count = p.attempts.max(2) as u64;
            let mut slots = vec![p.delay, p.delay];
            while (slots.len() as u64) < slot_count {
                let n = slots[slots.len() - 1].saturating_add(slots[slots.len() - 2]);
                if n > p.max_delay {
                    break;
                }
                slots.push(n);
            }
            let linear_from = slots.len() as u64;
            let last_slot = |k: u64| -> Duration {
                // Slot k (0-based) for k >= linear_from: the cap, then +cap per slot.
                let steps = k - linear_from;
                Duration::from_nanos((p.max_delay.as_nanos() * u128::from(steps + 1)).min(u128::from(u64::MAX)) as u64)
            };
            let recommended = if slot_count > linear_from { last_slot(slot_count - 1) } else { slots[slots.len() - 1] };
            if p.interval < recommended {
                let possible = match slots.iter().position(|s| *s > p.interval) {
                    Some(i) => i as u64,
                    None if p.max_delay.is_zero() => 0,
                    None => {
                        // First linear slot k with (k - linear_from + 1)·cap > interval.
                        let over = p.interval.as_nanos() / p.max_delay.as_nanos();
                        linear_from + over as u64
                    }
                };
                (false, possible.min(u64::from(u32::MAX)) as u32, recommended)
            } else {
                (true, 0, recommended)
            }
        }
    }
}

// --- services and checks -------------------------------------------------

#[derive(Debug, Clone, Default)]
struct CheckRestartSpec {
    limit: Option<u32>,
    grace: Option<Duration>,
    ignore_warnings: Option<bool>,
    span: Sp,
}

fn check_restart_spec(r: &mut Reader, body: &Body, what: &str) -> Option<CheckRestartSpec> {
    let blk = r.one_block(body, "check_restart", what)?;
    r.no_label(blk);
    r.check_keys(&blk.body, &CHECK_RESTART);
    let b = &blk.body;
    Some(CheckRestartSpec {
        limit: r.attr(b, "limit").and_then(|a| r.int(&a.value, "limit", 0, u32::MAX as i64)).map(|v| v as u32),
        grace: r.attr(b, "grace").and_then(|a| r.duration(&a.value, "grace")),
        ignore_warnings: r.attr(b, "ignore_warnings").and_then(|a| r.bool(&a.value, "ignore_warnings")),
        span: blk.ident.span(),
    })
}

/// Reference §2.2: the check's values win, but `limit` only when above 0,
/// and `ignore_warnings` only when true.
fn merge_check_restart(service: Option<&CheckRestartSpec>, check: Option<&CheckRestartSpec>) -> CheckRestart {
    let mut out = CheckRestart::default();
    for spec in [service, check].into_iter().flatten() {
        if let Some(l) = spec.limit
            && l > 0
        {
            out.limit = l;
        }
        if let Some(g) = spec.grace {
            out.grace = g;
        }
        if spec.ignore_warnings == Some(true) {
            out.ignore_warnings = true;
        }
    }
    out
}

fn services(r: &mut Reader, b: &Body, scope: &Scope) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    for sb in r.blocks(b, "service") {
        r.no_label(sb);
        r.check_keys(&sb.body, &SERVICE);
        let sbody = &sb.body;
        let default_name = match scope.task {
            Some(t) => format!("{}-{}-{}", scope.job, scope.group, t),
            None => format!("{}-{}", scope.job, scope.group),
        };
        let name = r.attr(sbody, "name").and_then(|a| r.string(&a.value, "name")).unwrap_or(default_name);
        let pos = r.sink.pos(&sb.ident.span());
        let port = r.attr(sbody, "port").and_then(|a| port_ref(r, &a.value, scope.ports));
        let tags = r.attr(sbody, "tags").and_then(|a| r.string_list(&a.value, "tags")).unwrap_or_default();
        let provider = r
            .attr(sbody, "provider")
            .and_then(|a| r.enum_value(&a.value, "provider", &["consul", "nomad"]).map(|p| (p, a.value.span())));
        let svc_restart = check_restart_spec(r, sbody, "a service");
        let mut checks: Vec<Check> = Vec::new();
        let check_blocks = r.blocks(sbody, "check");
        if check_blocks.is_empty()
            && let Some(cr) = &svc_restart
        {
            r.sink.warn(
                cr.span.clone(),
                format!("check_restart has no effect: service {name:?} has no check — add a `check` block"),
            );
        }
        for cb in check_blocks {
            if let Some(c) = check(
                r,
                cb,
                &name,
                port.as_ref(),
                r.attr(sbody, "port").is_some(),
                svc_restart.as_ref(),
                scope,
                provider.as_ref(),
            ) {
                if let Some(first) = checks.iter().find(|x| x.name == c.name) {
                    r.sink.error(cb.ident.span(), format!(
                            "service {name:?} has two checks named {} (the first at {}) — give each check a distinct `name`",
                            quote(&c.name),
                            first.pos
                        ));
                    continue;
                }
                checks.push(c);
            }
        }
        out.push(Service { name, pos, port, tags, checks });
    }
    out
}

fn port_ref(r: &mut Reader, expr: &Expression, ports: &[Port]) -> Option<PortRef> {
    if let Expression::Number(_) = expr {
        return r.int(expr, "port", 1, 65535).map(|p| PortRef::Number(p as u16));
    }
    let text = r.literal(expr, "port")?;
    if let Ok(n) = text.parse::<u16>() {
        if n == 0 {
            r.sink.error(expr.span(), "`port` 0 is not a port — use 1 to 65535 or a port label");
            return None;
        }
        return Some(PortRef::Number(n));
    }
    if ports.iter().any(|p| p.label == text) {
        return Some(PortRef::Label(text));
    }
    let hint = match did_you_mean(&text, ports.iter().map(|p| p.label.as_str())) {
        Some(s) => format!("did you mean {s:?}?"),
        None if ports.is_empty() => format!("declare it in the group: network {{ port {text:?} {{ static = 8080 }} }}"),
        None => format!(
            "the group declares {}",
            ports.iter().map(|p| format!("{:?}", p.label)).collect::<Vec<_>>().join(", ")
        ),
    };
    r.sink.error(expr.span(), format!("unknown port label {text:?} — {hint}"));
    None
}

#[allow(clippy::too_many_arguments)]
fn check(
    r: &mut Reader,
    cb: &Block,
    service: &str,
    service_port: Option<&PortRef>,
    service_port_written: bool,
    svc_restart: Option<&CheckRestartSpec>,
    scope: &Scope,
    provider: Option<&(String, Sp)>,
) -> Option<Check> {
    r.no_label(cb);
    r.check_keys(&cb.body, &CHECK);
    let b = &cb.body;
    let name = r
        .attr(b, "name")
        .and_then(|a| r.string(&a.value, "name"))
        .unwrap_or_else(|| format!("service: {service:?} check"));
    let pos = r.sink.pos(&cb.ident.span());
    let ctype = match r.attr(b, "type") {
        Some(a) => {
            let t = r.literal(&a.value, "type");
            match t.as_deref() {
                Some("http" | "tcp" | "script") => t,
                Some("grpc") => {
                    r.sink.error(a.value.span(), "check type \"grpc\" is not supported — supd runs \"http\", \"tcp\" and \"script\" checks; a script check can call grpc_health_probe");
                    None
                }
                Some(other) => {
                    let hint = did_you_mean(other, ["http", "tcp", "script"])
                        .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                    r.sink.error(
                        a.value.span(),
                        format!("invalid check type {other:?} — {hint}use \"http\", \"tcp\" or \"script\""),
                    );
                    None
                }
                None => None,
            }
        }
        None => {
            r.sink.error(cb.ident.span(), "check has no `type` — add type = \"http\", \"tcp\" or \"script\"");
            None
        }
    };
    let interval = required_duration(r, b, cb, "interval");
    let timeout = required_duration(r, b, cb, "timeout");
    let port = r.attr(b, "port").and_then(|a| port_ref(r, &a.value, scope.ports)).or_else(|| service_port.cloned());
    let address = r.attr(b, "address").and_then(|a| r.string(&a.value, "address"));
    let initial_status = match r.attr(b, "initial_status") {
        Some(a) => match r.enum_value(&a.value, "initial_status", &["passing", "warning", "critical", ""]).as_deref() {
            Some("passing") => CheckStatus::Passing,
            Some("warning") => CheckStatus::Warning,
            _ => CheckStatus::Critical,
        },
        None => CheckStatus::Critical,
    };
    let task = r.attr(b, "task").and_then(|a| {
        let t = r.literal(&a.value, "task")?;
        if !scope.tasks.contains(&t) {
            let hint = did_you_mean(&t, scope.tasks.iter().map(String::as_str))
                .map_or(String::new(), |s| format!(" — did you mean {s:?}?"));
            r.sink.error(a.value.span(), format!("the group has no task {t:?}{hint}"));
            return None;
        }
        Some(t)
    });
    let own_restart = check_restart_spec(r, b, "a check");
    let check_restart = merge_check_restart(svc_restart, own_restart.as_ref());
    if let Some((p, pspan)) = provider
        && p == "nomad"
    {
        if check_restart.ignore_warnings {
            r.sink.error(pspan.clone(), "check_restart ignore_warnings = true cannot be used with provider = \"nomad\" (Nomad checks have no warning state) — remove one of them");
        }
        if ctype.as_deref() == Some("script") {
            r.sink.error(
                pspan.clone(),
                "provider = \"nomad\" supports only http and tcp checks — remove `provider` to run script checks",
            );
        }
    }
    if let (Some(i), Some(t)) = (interval, timeout) {
        for (field, d) in [("interval", i), ("timeout", t)] {
            if d < Duration::from_secs(1) {
                let span = r.attr(b, field).and_then(|a| a.value.span());
                r.sink.warn(
                    span,
                    format!("check {field} {} is below 1s, which Nomad refuses (supd accepts it)", GoDuration(d)),
                );
            }
        }
    }
    let kind = match ctype.as_deref()? {
        "http" => {
            let path = match r.attr(b, "path") {
                Some(a) => {
                    let p = r.string(&a.value, "path")?;
                    if p.contains("://") {
                        r.sink.error(a.value.span(), format!("http check path {p:?} must be relative to the task's address — write just the path, e.g. \"/health\""));
                        return None;
                    }
                    p
                }
                None => {
                    r.sink.error(cb.ident.span(), "http check has no `path` — add e.g. path = \"/health\"");
                    return None;
                }
            };
            let method =
                r.attr(b, "method").and_then(|a| r.literal(&a.value, "method")).unwrap_or_else(|| "GET".into());
            if method.is_empty() || !method.chars().all(|c| c.is_ascii_alphabetic()) {
                let span = r.attr(b, "method").and_then(|a| a.value.span());
                r.sink.error(span, format!("invalid HTTP method {method:?} — use e.g. \"GET\" or \"POST\""));
            }
            let headers = headers(r, b);
            let body = r.attr(b, "body").and_then(|a| r.string(&a.value, "body"));
            let protocol = match r.attr(b, "protocol") {
                Some(a) => {
                    let p = r.enum_value(&a.value, "protocol", &["http", "https"])?;
                    if p == "https" {
                        r.sink.error(a.value.span(), "https checks are not supported — check the plain-HTTP port, or use a script check with curl");
                        return None;
                    }
                    p
                }
                None => "http".into(),
            };
            CheckKind::Http { path, method: method.to_ascii_uppercase(), headers, body, protocol }
        }
        "tcp" => CheckKind::Tcp,
        _ => {
            let command = match r.attr(b, "command") {
                Some(a) => r.string(&a.value, "command")?,
                None => {
                    r.sink.error(
                        cb.ident.span(),
                        "script check has no `command` — add e.g. command = \"/usr/local/bin/healthy\"",
                    );
                    return None;
                }
            };
            let args = r.attr(b, "args").and_then(|a| r.string_list(&a.value, "args")).unwrap_or_default();
            if scope.task.is_none() && r.attr(b, "task").is_none() {
                r.sink.error(cb.ident.span(), "script checks of a group service need `task` — name the task whose user and environment the script runs with");
                return None;
            }
            CheckKind::Script { command, args }
        }
    };
    if matches!(kind, CheckKind::Http { .. } | CheckKind::Tcp) && port.is_none() {
        // A port that was written but is wrong is reported already.
        if !service_port_written && r.attr(b, "port").is_none() {
            r.sink.error(cb.ident.span(), format!("{} check {} has no port — set `port` on the check or on its service (a number or a label from the group's network block)", kind.type_name(), quote(&name)));
        }
        return None;
    }
    Some(Check {
        name,
        pos,
        kind,
        interval: interval?,
        timeout: timeout?,
        port,
        address,
        initial_status,
        task,
        check_restart,
    })
}

fn required_duration(r: &mut Reader, b: &Body, cb: &Block, field: &str) -> Option<Duration> {
    match r.attr(b, field) {
        Some(a) => {
            let d = r.duration(&a.value, field)?;
            if d.is_zero() {
                r.sink.error(a.value.span(), format!("check {field} must be longer than 0 — e.g. \"10s\""));
                return None;
            }
            Some(d)
        }
        None => {
            r.sink.error(
                cb.ident.span(),
                format!(
                    "check has no `{field}` — add e.g. {field} = \"{}\"",
                    if field == "interval" { "10s" } else { "2s" }
                ),
            );
            None
        }
    }
}

/// `header = { Name = ["v"] }`, or Nomad's documented block form
/// `header { Name = ["v"] }`.
fn headers(r: &mut Reader, b: &Body) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for hb in r.blocks(b, "header") {
        r.no_label(hb);
        for s in hb.body.iter() {
            match s {
                hcl_edit::structure::Structure::Attribute(a) => {
                    let name = a.key.as_str().to_string();
                    if let Some(values) = r.string_list(&a.value, &format!("header.{name}")) {
                        out.insert(name, values);
                    }
                }
                hcl_edit::structure::Structure::Block(x) => {
                    r.sink.error(x.ident.span(), "`header` holds `Name = [\"value\"]` pairs, not blocks")
                }
            }
        }
    }
    let Some(a) = r.attr(b, "header") else { return out };
    let Expression::Object(obj) = &a.value else {
        r.sink.error(
            a.value.span(),
            "`header` must be a map of lists, e.g. header = { Authorization = [\"Basic ...\"] }",
        );
        return out;
    };
    for (k, v) in obj.iter() {
        let name = match k {
            hcl_edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
            hcl_edit::expr::ObjectKey::Expression(Expression::String(s)) => s.value().to_string(),
            hcl_edit::expr::ObjectKey::Expression(e) => {
                r.sink.error(e.span(), "header names must be names or plain strings");
                continue;
            }
        };
        if let Some(values) = r.string_list(v.expr(), &format!("header.{name}")) {
            out.insert(name, values);
        }
    }
    out
}

// --- constraints ---------------------------------------------------------

fn constraints(r: &mut Reader, b: &Body) -> Vec<Constraint> {
    let mut out = Vec::new();
    for cb in r.blocks(b, "constraint") {
        r.no_label(cb);
        r.check_keys(&cb.body, &CONSTRAINT);
        if let Some(c) = constraint(r, cb) {
            out.push(c);
        }
    }
    out
}

fn constraint(r: &mut Reader, cb: &Block) -> Option<Constraint> {
    let b = &cb.body;
    let pos = r.sink.pos(&cb.ident.span());
    let mut attribute = r.attr(b, "attribute").and_then(|a| r.string(&a.value, "attribute")).unwrap_or_default();
    let mut value = r.attr(b, "value").and_then(|a| r.string(&a.value, "value")).unwrap_or_default();
    let mut operator = None;
    let mut op_span = cb.ident.span();
    if let Some(a) = r.attr(b, "operator") {
        op_span = a.value.span();
        let text = r.enum_value(&a.value, "operator", &Operator::NAMES)?;
        operator = Operator::parse(&text);
    }
    for (key, op) in [
        ("version", Operator::Version),
        ("semver", Operator::Semver),
        ("regexp", Operator::Regexp),
        ("set_contains", Operator::SetContains),
        ("distinct_hosts", Operator::DistinctHosts),
        ("distinct_property", Operator::DistinctProperty),
    ] {
        let Some(a) = r.attr(b, key) else { continue };
        if operator.is_some() {
            r.sink.error(
                a.key.span(),
                format!("`{key}` sets the operator, which this constraint already sets — keep one of them"),
            );
            return None;
        }
        operator = Some(op);
        op_span = a.value.span();
        match op {
            Operator::DistinctHosts => {
                if !r.bool(&a.value, key)? {
                    // `distinct_hosts = false` is no constraint at all.
                    return None;
                }
            }
            Operator::DistinctProperty => attribute = r.string(&a.value, key)?,
            _ => value = r.string(&a.value, key)?,
        }
    }
    let operator = operator.unwrap_or(Operator::Equal);
    let c = Constraint { attribute, operator, value, pos };
    let problem = match operator {
        Operator::SetContains | Operator::SetContainsAll | Operator::SetContainsAny if c.value.is_empty() => {
            Some(format!("operator {:?} needs a `value` listing the items", operator.as_str()))
        }
        Operator::Regexp => {
            // The regex crate draws a multi-line picture; its last line says what is wrong.
            regex::Regex::new(&c.value).err().map(|e| {
                let text = e.to_string();
                let why = text.lines().last().unwrap_or("").trim_start_matches("error: ").to_string();
                format!("regular expression {:?} does not compile: {why}", c.value)
            })
        }
        Operator::Version => node_version::Constraints::parse_loose(&c.value)
            .err()
            .map(|e| format!("version constraint is invalid: {e}")),
        Operator::Semver => node_version::Constraints::parse_strict(&c.value)
            .err()
            .map(|e| format!("semver constraint is invalid: {e}")),
        Operator::DistinctProperty if !c.value.is_empty() => {
            op_span = r.attr(b, "value").and_then(|a| a.value.span()).or(op_span);
            match c.value.parse::<u64>() {
                Ok(0) => {
                    Some("distinct_property allows at least 1 instance per value — set value to 1 or more".to_string())
                }
                Ok(_) => None,
                Err(_) => Some(format!("distinct_property value {:?} must be a count, e.g. \"2\"", c.value)),
            }
        }
        Operator::IsSet | Operator::IsNotSet if !c.value.is_empty() => {
            Some(format!("operator {:?} takes no `value` — remove it", operator.as_str()))
        }
        Operator::Equal
        | Operator::NotEqual
        | Operator::Less
        | Operator::LessEqual
        | Operator::Greater
        | Operator::GreaterEqual
            if c.value.is_empty() =>
        {
            Some(format!("operator {:?} needs a `value` to compare with", operator.as_str()))
        }
        _ => None,
    };
    if let Some(p) = problem {
        r.sink.error(op_span, p);
        return None;
    }
    if operator != Operator::DistinctHosts && c.attribute.is_empty() {
        r.sink.error(cb.ident.span(), "constraint has no `attribute` — add e.g. attribute = \"${attr.kernel.name}\"");
        return None;
    }
    Some(c)
}

use super::version as node_version;
