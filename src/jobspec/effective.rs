//! The effective job: a [`Job`] as supd runs it — after evaluation, with
//! every default filled in and the merges applied (restart group → task,
//! reschedule job → group, check_restart service → check) — as a tree of
//! blocks and attributes, each value marked when it came from a default.
//! Rendered as HCL (`# default` after such a value) or as JSON (the
//! document, and the JSON pointers of the defaulted values).
//!
//! Which values the file wrote is read from the job's `source` (its own
//! block, evaluated when it had variables), so that decoding, which every
//! `validate` and `job run` goes through, pays nothing for it.
//!
//! The values of `sensitive` variables never appear: a string that holds
//! one is shown as `(sensitive)`.

use super::duration::GoDuration;
use super::model::{
    Artifact, ChangeMode, Check, CheckKind, ContainerConfig, Group, Job, PortRef, ReschedulePolicy, RestartMode,
    RestartPolicy, Service, Task, Template, TemplateSource,
};
use hcl_edit::structure::{Block, Body};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a string holding a sensitive value is shown as.
pub const SENSITIVE: &str = "(sensitive)";

/// One entry of a block.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `key = value`; `default` when the file did not write it.
    Attr { key: String, value: Value, default: bool },
    /// `ident "label" { items }`.
    Block { ident: String, label: Option<String>, items: Vec<Item> },
    /// A line of its own saying what is not there (`# …`).
    Note(String),
}

impl Item {
    fn attr(key: &str, value: impl Into<Value>, default: bool) -> Item {
        Item::Attr { key: key.to_string(), value: value.into(), default }
    }

    fn block(ident: &str, label: Option<&str>, items: Vec<Item>) -> Item {
        Item::Block { ident: ident.to_string(), label: label.map(str::to_string), items }
    }
}

/// The effective job: one `job` block.
pub fn of(job: &Job) -> Item {
    let written = Written::of(job);
    let hide = Hide(&job.sensitive);
    let jb = written.job.as_ref().map(|b| &b.body);
    let mut items = vec![
        Item::attr("type", job.job_type.as_str(), !has(jb, &["type"])),
        Item::attr("region", job.region.as_str(), !has(jb, &["region"])),
        Item::attr("datacenters", job.datacenters.clone(), !has(jb, &["datacenters"])),
        Item::attr("priority", job.priority, !has(jb, &["priority"])),
    ];
    if job.name != job.id {
        items.insert(0, Item::attr("name", hide.text(&job.name), false));
    }
    if let Some(p) = &job.periodic {
        items.push(Item::block(
            "periodic",
            None,
            vec![
                Item::attr("crons", p.crons.clone(), false),
                Item::attr("prohibit_overlap", p.prohibit_overlap, !has(jb, &["periodic", "prohibit_overlap"])),
                Item::attr("time_zone", p.time_zone.as_str(), !has(jb, &["periodic", "time_zone"])),
                Item::attr("enabled", p.enabled, !has(jb, &["periodic", "enabled"])),
            ],
        ));
    }
    if let Some(p) = &job.parameterized {
        items.push(Item::block(
            "parameterized",
            None,
            vec![
                Item::attr("payload", p.payload.as_str(), !has(jb, &["parameterized", "payload"])),
                Item::attr("meta_required", p.meta_required.clone(), !has(jb, &["parameterized", "meta_required"])),
                Item::attr("meta_optional", p.meta_optional.clone(), !has(jb, &["parameterized", "meta_optional"])),
            ],
        ));
    }
    for c in &job.constraints {
        items.push(constraint(&hide, c));
    }
    for g in &job.groups {
        items.push(group(&hide, &written, g, job));
    }
    Item::block("job", Some(&job.id), items)
}

fn constraint(hide: &Hide, c: &super::model::Constraint) -> Item {
    Item::block(
        "constraint",
        None,
        vec![
            Item::attr("attribute", hide.text(&c.attribute), false),
            Item::attr("operator", c.operator.as_str(), false),
            Item::attr("value", hide.text(&c.value), false),
        ],
    )
}

fn group(hide: &Hide, written: &Written, g: &Group, job: &Job) -> Item {
    let gb = written.group(&g.name);
    let jb = written.job.as_ref().map(|b| &b.body);
    let mut items = vec![Item::attr("count", g.count, !has(gb, &["count"]))];
    if let Some(d) = g.max_run_duration {
        items.push(Item::attr("max_run_duration", dur(d), false));
    }
    // Shown where written, as Nomad leaves it unset otherwise; every task
    // holds its group's (`Task::group_shutdown_delay`).
    if has(gb, &["shutdown_delay"]) {
        let shutdown_delay = g.tasks.first().map(|t| t.group_shutdown_delay).unwrap_or_default();
        items.push(Item::attr("shutdown_delay", dur(shutdown_delay), false));
    }
    items.push(restart(&g.restart, |f| has(gb, &["restart", f])));
    match &g.reschedule {
        Some(p) => items.push(reschedule(p, |f| has(gb, &["reschedule", f]) || has(jb, &["reschedule", f]))),
        None => items.push(Item::Note(format!("reschedule: none ({} jobs are not rescheduled)", job.job_type))),
    }
    if g.ephemeral_disk_sticky {
        items.push(Item::block("ephemeral_disk", None, vec![Item::attr("sticky", true, false)]));
    }
    if !g.ports.is_empty() {
        let ports = g
            .ports
            .iter()
            .map(|p| {
                let mut items = Vec::new();
                if let Some(s) = p.static_port {
                    items.push(Item::attr("static", s, false));
                }
                if let Some(t) = p.to {
                    items.push(Item::attr("to", t, false));
                }
                Item::block("port", Some(&p.label), items)
            })
            .collect();
        items.push(Item::block("network", None, ports));
    }
    for c in &g.constraints {
        items.push(constraint(hide, c));
    }
    let service_blocks: Vec<&Block> = gb.map_or_else(Vec::new, |b| b.get_blocks("service").collect());
    for (i, s) in g.services.iter().enumerate() {
        items.push(service(hide, s, service_blocks.get(i).copied()));
    }
    for t in &g.tasks {
        items.push(task(hide, t, written.task(&g.name, &t.name), gb));
    }
    Item::block("group", Some(&g.name), items)
}

fn task(hide: &Hide, t: &Task, tb: Option<&Body>, gb: Option<&Body>) -> Item {
    let mut items = vec![Item::attr("driver", t.driver.as_str(), false)];
    items.push(Item::block("config", None, config(hide, t)));
    if let Some(u) = &t.user {
        items.push(Item::attr("user", hide.text(u), false));
    }
    if let Some(w) = &t.work_dir {
        items.push(Item::attr("work_dir", hide.text(w), false));
    }
    if !t.env.is_empty() {
        items.push(Item::block("env", None, map(hide, &t.env)));
    }
    // A container task without one: its image's STOPSIGNAL, which only the
    // engine knows.
    if let Some(name) = t.kill_signal.name() {
        items.push(Item::attr("kill_signal", name, !has(tb, &["kill_signal"])));
    }
    items.push(Item::attr("kill_timeout", dur(t.kill_timeout), !has(tb, &["kill_timeout"])));
    items.push(Item::attr("shutdown_delay", dur(t.shutdown_delay), !has(tb, &["shutdown_delay"])));
    if t.leader {
        items.push(Item::attr("leader", true, false));
    }
    if let Some(l) = &t.lifecycle {
        items.push(Item::block(
            "lifecycle",
            None,
            vec![
                Item::attr("hook", l.hook.as_str(), false),
                Item::attr("sidecar", l.sidecar, !has(tb, &["lifecycle", "sidecar"])),
            ],
        ));
    }
    items.push(Item::block(
        "logs",
        None,
        vec![
            Item::attr("max_files", t.logs.max_files, !has(tb, &["logs", "max_files"])),
            Item::attr("max_file_size", t.logs.max_file_size, !has(tb, &["logs", "max_file_size"])),
        ],
    ));
    // The task's policy is its own fields over the group's over the
    // defaults: a field is a default when neither wrote it.
    items.push(restart(&t.restart, |f| has(tb, &["restart", f]) || has(gb, &["restart", f])));
    items.push(resources(t, tb));
    let service_blocks: Vec<&Block> = tb.map_or_else(Vec::new, |b| b.get_blocks("service").collect());
    for (i, s) in t.services.iter().enumerate() {
        items.push(service(hide, s, service_blocks.get(i).copied()));
    }
    for tp in &t.templates {
        items.push(template(hide, tp));
    }
    for a in &t.artifacts {
        items.push(artifact(hide, a));
    }
    if let Some(f) = &t.dispatch_payload {
        items.push(Item::block("dispatch_payload", None, vec![Item::attr("file", f.as_str(), false)]));
    }
    for c in &t.constraints {
        items.push(constraint(hide, c));
    }
    if !t.meta.is_empty() {
        items.push(Item::block("meta", None, map(hide, &t.meta)));
    }
    Item::block("task", Some(&t.name), items)
}

/// One `template` block of a task.
fn template(hide: &Hide, tp: &Template) -> Item {
    let mut ti = vec![Item::attr("destination", hide.text(&tp.destination), false)];
    match &tp.source {
        TemplateSource::Data(d) => ti.push(Item::attr("data", hide.text(d), false)),
        TemplateSource::File(f) => ti.push(Item::attr("source", hide.text(f), false)),
    }
    let mode = match &tp.change_mode {
        ChangeMode::Noop => "noop",
        ChangeMode::Restart => "restart",
        ChangeMode::Signal(_) => "signal",
        ChangeMode::Script(_) => "script",
    };
    ti.push(Item::attr("change_mode", mode, false));
    if let ChangeMode::Signal(s) = &tp.change_mode {
        ti.push(Item::attr("change_signal", s.as_str(), false));
    }
    ti.push(Item::attr("perms", format!("{:o}", tp.perms), false));
    // Every field a plan may show changed (one not shown here would be
    // "a sensitive or unshown value").
    ti.push(Item::attr("splay", dur(tp.splay), false));
    if let Some(u) = tp.uid {
        ti.push(Item::attr("uid", u64::from(u), false));
    }
    if let Some(g) = tp.gid {
        ti.push(Item::attr("gid", u64::from(g), false));
    }
    if (tp.left_delimiter.as_str(), tp.right_delimiter.as_str()) != ("{{", "}}") {
        ti.push(Item::attr("left_delimiter", tp.left_delimiter.as_str(), false));
        ti.push(Item::attr("right_delimiter", tp.right_delimiter.as_str(), false));
    }
    if tp.error_on_missing_key {
        ti.push(Item::attr("error_on_missing_key", true, false));
    }
    if tp.once {
        ti.push(Item::attr("once", true, false));
    }
    if tp.env {
        ti.push(Item::attr("env", true, false));
    }
    Item::block("template", None, ti)
}

/// One `artifact` block of a task.
fn artifact(hide: &Hide, a: &Artifact) -> Item {
    Item::block(
        "artifact",
        None,
        vec![
            Item::attr("source", hide.text(&a.source), false),
            Item::attr("destination", hide.text(&a.destination), false),
        ],
    )
}

fn config(hide: &Hide, t: &Task) -> Vec<Item> {
    let mut items = Vec::new();
    if let Some(c) = &t.container {
        items.extend(container(hide, c));
    }
    if !t.command.is_empty() {
        items.push(Item::attr("command", hide.text(&t.command), false));
    }
    if !t.args.is_empty() {
        items.push(Item::attr("args", hide.list(&t.args), false));
    }
    items
}

fn container(hide: &Hide, c: &ContainerConfig) -> Vec<Item> {
    let mut items = vec![Item::attr("image", hide.text(&c.image), false)];
    if let Some(e) = &c.entrypoint {
        items.push(Item::attr("entrypoint", hide.list(e), false));
    }
    if !c.ports.is_empty() {
        items.push(Item::attr("ports", c.ports.clone(), false));
    }
    if let Some(n) = &c.network_mode {
        items.push(Item::attr("network_mode", n.as_str(), false));
    }
    if !c.volumes.is_empty() {
        items.push(Item::attr("volumes", hide.list(&c.volumes), false));
    }
    if let Some(h) = &c.hostname {
        items.push(Item::attr("hostname", h.as_str(), false));
    }
    if c.privileged {
        items.push(Item::attr("privileged", true, false));
    }
    if !c.cap_add.is_empty() {
        items.push(Item::attr("cap_add", c.cap_add.clone(), false));
    }
    if c.force_pull {
        items.push(Item::attr("force_pull", true, false));
    }
    if c.init {
        items.push(Item::attr("init", true, false));
    }
    for m in &c.mounts {
        items.push(Item::block(
            "mount",
            None,
            vec![
                Item::attr("type", m.kind.as_str(), false),
                Item::attr("source", hide.text(&m.source), false),
                Item::attr("target", hide.text(&m.target), false),
                Item::attr("readonly", m.readonly, false),
            ],
        ));
    }
    if !c.labels.is_empty() {
        items.push(Item::block("labels", None, map(hide, &c.labels)));
    }
    items
}

fn resources(t: &Task, tb: Option<&Body>) -> Item {
    let r = &t.resources;
    if !r.declared {
        return Item::Note("resources: none declared — no reservation, no limits".into());
    }
    let mut items = vec![
        Item::attr("cpu", r.cpu, !has(tb, &["resources", "cpu"])),
        Item::attr("memory", r.memory, !has(tb, &["resources", "memory"])),
    ];
    if let Some(m) = r.memory_max {
        items.push(Item::attr("memory_max", m, false));
    }
    Item::block("resources", None, items)
}

fn service(hide: &Hide, s: &Service, sb: Option<&Block>) -> Item {
    let mut items = vec![Item::attr("name", hide.text(&s.name), false)];
    if let Some(p) = &s.port {
        items.push(Item::attr("port", port(p), false));
    }
    if !s.tags.is_empty() {
        items.push(Item::attr("tags", hide.list(&s.tags), false));
    }
    let sbody = sb.map(|b| &b.body);
    let check_blocks: Vec<&Block> = sbody.map_or_else(Vec::new, |b| b.get_blocks("check").collect());
    for (i, c) in s.checks.iter().enumerate() {
        items.push(check(hide, c, check_blocks.get(i).map(|b| &b.body), sbody));
    }
    Item::block("service", None, items)
}

fn port(p: &PortRef) -> Value {
    match p {
        PortRef::Number(n) => json!(n),
        PortRef::Label(l) | PortRef::Interpolated(l) => json!(l),
    }
}

fn check(hide: &Hide, c: &Check, cb: Option<&Body>, sb: Option<&Body>) -> Item {
    let mut items = vec![Item::attr("name", hide.text(&c.name), false), Item::attr("type", c.kind.type_name(), false)];
    match &c.kind {
        CheckKind::Http { path, method, protocol, .. } => {
            items.push(Item::attr("path", hide.text(path), false));
            items.push(Item::attr("method", method.as_str(), !has(cb, &["method"])));
            items.push(Item::attr("protocol", protocol.as_str(), !has(cb, &["protocol"])));
        }
        CheckKind::Tcp => {}
        CheckKind::Script { command, args } => {
            items.push(Item::attr("command", hide.text(command), false));
            if !args.is_empty() {
                items.push(Item::attr("args", hide.list(args), false));
            }
        }
    }
    items.push(Item::attr("interval", dur(c.interval), false));
    items.push(Item::attr("timeout", dur(c.timeout), false));
    if let Some(p) = &c.port {
        items.push(Item::attr("port", port(p), false));
    }
    let cr = &c.check_restart;
    let written = |f: &str| has(cb, &["check_restart", f]) || has(sb, &["check_restart", f]);
    items.push(Item::block(
        "check_restart",
        None,
        vec![
            Item::attr("limit", cr.limit, !written("limit")),
            Item::attr("grace", dur(cr.grace), !written("grace")),
            Item::attr("ignore_warnings", cr.ignore_warnings, !written("ignore_warnings")),
        ],
    ));
    Item::block("check", None, items)
}

fn restart(p: &RestartPolicy, written: impl Fn(&str) -> bool) -> Item {
    Item::block(
        "restart",
        None,
        vec![
            Item::attr("attempts", p.attempts, !written("attempts")),
            Item::attr("interval", dur(p.interval), !written("interval")),
            Item::attr("delay", dur(p.delay), !written("delay")),
            Item::attr("mode", mode(p.mode), !written("mode")),
        ],
    )
}

fn reschedule(p: &ReschedulePolicy, written: impl Fn(&str) -> bool) -> Item {
    Item::block(
        "reschedule",
        None,
        vec![
            Item::attr("attempts", p.attempts, !written("attempts")),
            Item::attr("interval", dur(p.interval), !written("interval")),
            Item::attr("delay", dur(p.delay), !written("delay")),
            Item::attr("delay_function", p.delay_function.as_str(), !written("delay_function")),
            Item::attr("max_delay", dur(p.max_delay), !written("max_delay")),
            Item::attr("unlimited", p.unlimited, !written("unlimited")),
        ],
    )
}

fn mode(m: RestartMode) -> &'static str {
    match m {
        RestartMode::Fail => "fail",
        RestartMode::Delay => "delay",
    }
}

/// `30m`, `1h30m`, `24h`, `15s`: whole units without the zero ones (a
/// duration with a fraction of a second as Go writes it).
pub fn dur(d: Duration) -> String {
    if d.subsec_nanos() != 0 || d.is_zero() {
        return GoDuration(d).to_string();
    }
    let s = d.as_secs();
    let mut out = String::new();
    for (n, unit) in [(s / 3600, "h"), (s / 60 % 60, "m"), (s % 60, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

fn map(hide: &Hide, m: &BTreeMap<String, String>) -> Vec<Item> {
    m.iter().map(|(k, v)| Item::attr(k, hide.text(v), false)).collect()
}

// --- lines for `supctl status` ----------------------------------------------

/// `2 attempts in 30m, delay 15s, mode fail`.
pub fn restart_line(p: &RestartPolicy) -> String {
    format!("{} attempts in {}, delay {}, mode {}", p.attempts, dur(p.interval), dur(p.delay), mode(p.mode))
}

/// `unlimited, delay 30s exponential up to 1h0m`; `1 attempt in 24h0m,
/// delay 5s constant`; `disabled`.
pub fn reschedule_line(p: Option<&ReschedulePolicy>) -> String {
    let Some(p) = p.filter(|p| p.enabled()) else { return "disabled".into() };
    let count = if p.unlimited {
        "unlimited".to_string()
    } else {
        format!("{} attempt{} in {}", p.attempts, if p.attempts == 1 { "" } else { "s" }, dur(p.interval))
    };
    let max = if p.max_delay.is_zero() { String::new() } else { format!(" up to {}", dur(p.max_delay)) };
    format!("{count}, delay {} {}{max}", dur(p.delay), p.delay_function.as_str())
}

/// `limit 3, grace 10s, ignore warnings no`; `off` with limit 0.
pub fn check_restart_line(c: &super::model::CheckRestart) -> String {
    if c.limit == 0 {
        return "off (limit 0)".into();
    }
    format!(
        "limit {}, grace {}, ignore warnings {}",
        c.limit,
        dur(c.grace),
        if c.ignore_warnings { "yes" } else { "no" }
    )
}

// --- which values the file wrote ----------------------------------------------

/// The job's own block, read again from its source.
struct Written {
    job: Option<Block>,
}

impl Written {
    fn of(job: &Job) -> Written {
        let job = hcl_edit::parser::parse_body(&job.source)
            .ok()
            .and_then(|body| body.into_iter().find_map(|s| s.into_block().ok().filter(|b| b.ident.as_str() == "job")));
        Written { job }
    }

    fn group(&self, name: &str) -> Option<&Body> {
        let jb = &self.job.as_ref()?.body;
        jb.get_blocks("group").find(|b| label(b) == Some(name)).map(|b| &b.body)
    }

    /// A task of a group, or a task written directly in the job (a group
    /// of its own name).
    fn task(&self, group: &str, name: &str) -> Option<&Body> {
        if let Some(gb) = self.group(group) {
            return gb.get_blocks("task").find(|b| label(b) == Some(name)).map(|b| &b.body);
        }
        let jb = &self.job.as_ref()?.body;
        jb.get_blocks("task").find(|b| label(b) == Some(name)).map(|b| &b.body)
    }
}

fn label(b: &Block) -> Option<&str> {
    b.labels.first().map(|l| l.as_str())
}

/// Whether `body` has the attribute at the end of `path`, inside the
/// blocks the rest of it names.
fn has(body: Option<&Body>, path: &[&str]) -> bool {
    let Some((last, blocks)) = path.split_last() else { return false };
    let Some(mut body) = body else { return false };
    for b in blocks {
        match body.get_blocks(b).next() {
            Some(blk) => body = &blk.body,
            None => return false,
        }
    }
    body.has_attribute(last)
}

/// Masks the strings that hold a sensitive value.
struct Hide<'a>(&'a [String]);

impl Hide<'_> {
    fn text(&self, s: &str) -> Value {
        if self.0.iter().any(|x| s.contains(x.as_str())) { json!(SENSITIVE) } else { json!(s) }
    }

    fn list(&self, l: &[String]) -> Value {
        Value::Array(l.iter().map(|s| self.text(s)).collect())
    }
}

mod render;
pub use render::{to_hcl, to_json};

#[cfg(test)]
mod tests;
