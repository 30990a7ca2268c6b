//! What changes between two versions of a job, field by field (`+` added,
//! `-` removed, `~` changed, as `nomad job plan` shows them), and what each
//! instance undergoes: created, updated in place, replaced or removed.
//!
//! The rule is what the running process sees. A change to how it is
//! started or what it is given — driver, command, arguments, environment,
//! user, working directory, resources, templates, artifacts, meta, ports,
//! services and checks, constraints, the job's type, name, region or
//! datacenters — replaces the instance (its tasks are stopped and started
//! again). A change only to how supd treats it — `restart`, `reschedule`,
//! `check_restart`, `kill_signal`, `kill_timeout`, `shutdown_delay`,
//! `logs`, the job's `priority`, a group's `count` for the instances that
//! stay — updates it in place: the process keeps running, the new policy
//! applies from then on. A new `count` creates the indices below it that
//! did not exist and removes those at or above it; the indices below both
//! counts stay (in place, unless something else replaces them).
//!
//! Which fate an instance gets is decided on the typed jobs (so that a
//! changed sensitive value, shown as `(sensitive)` on both sides, still
//! replaces); the fields shown come from the effective job
//! ([`super::effective`]), sensitive values hidden.

use super::effective::{self, Item};
use super::model::{CheckRestart, Group, Job, Logs, RestartPolicy, Service, Task};
use crate::signals::KillSignal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One field's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// `+`, `-` or `~`.
    pub sign: char,
    /// `restart.attempts`, `config.args`, `service[0].check[0].interval`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Added,
    Removed,
    Edited,
    Same,
}

impl Kind {
    fn sign(self) -> char {
        match self {
            Kind::Added => '+',
            Kind::Removed => '-',
            Kind::Edited => '~',
            Kind::Same => ' ',
        }
    }
}

/// What happens to an instance (or a task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    Unchanged,
    InPlace,
    Create,
    Replace,
    Remove,
}

impl Fate {
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Unchanged => "unchanged",
            Fate::InPlace => "update in place",
            Fate::Create => "create",
            Fate::Replace => "replace",
            Fate::Remove => "remove",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPlan {
    pub name: String,
    pub kind: Kind,
    pub fate: Fate,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPlan {
    pub name: String,
    pub kind: Kind,
    pub fields: Vec<Field>,
    pub tasks: Vec<TaskPlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancePlan {
    /// `job.group[index]`.
    pub name: String,
    pub group: String,
    pub index: u32,
    pub fate: Fate,
}

/// The plan of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub kind: Kind,
    pub fields: Vec<Field>,
    pub groups: Vec<GroupPlan>,
    /// Every instance of either version that changes, by group and index.
    pub instances: Vec<InstancePlan>,
}

impl Plan {
    /// Whether anything changes at all.
    pub fn changes(&self) -> bool {
        self.kind != Kind::Same
    }

    /// Whether an instance is created, replaced or removed (`nomad job
    /// plan` exits 1 then).
    pub fn moves_instances(&self) -> bool {
        self.instances.iter().any(|i| matches!(i.fate, Fate::Create | Fate::Replace | Fate::Remove))
    }

    /// The fate of instance `index` of `group`.
    pub fn fate(&self, group: &str, index: u32) -> Fate {
        self.instances.iter().find(|i| i.group == group && i.index == index).map_or(Fate::Unchanged, |i| i.fate)
    }
}

/// The plan from `old` (what runs; `None` when nothing does) to `new` (the
/// file; `None` when the job goes away).
pub fn plan(old: Option<&Job>, new: Option<&Job>) -> Plan {
    let id = new.or(old).map_or(String::new(), |j| j.id.clone());
    let (Some(o), Some(n)) = (old, new) else {
        // A whole job comes or goes: every instance with it.
        return whole_job_plan(id, old, new);
    };
    let (ot, nt) = (effective::of(o), effective::of(n));
    let job_fields = fields(own_items(&ot), own_items(&nt));
    let job_replace = job_runtime(o) != job_runtime(n);
    let job_in_place = job_policy(o) != job_policy(n);
    let mut groups = Vec::new();
    let mut instances = Vec::new();
    let runs = (o.runs_itself(), n.runs_itself());
    for name in names(o.groups.iter().map(|g| &g.name), n.groups.iter().map(|g| &g.name)) {
        let og = o.groups.iter().find(|g| g.name == name);
        let ng = n.groups.iter().find(|g| g.name == name);
        let (oi, ni) = (group_items(&ot, &name), group_items(&nt, &name));
        let gp = group_plan(&name, og, ng, oi, ni);
        let count = |g: Option<&Group>, runs: bool| if runs { g.map_or(0, |g| g.count) } else { 0 };
        let (oc, nc) = (count(og, runs.0), count(ng, runs.1));
        let whole = match (og, ng) {
            (Some(og), Some(ng)) => {
                let replace = job_replace
                    || runs.0 != runs.1
                    || group_runtime(og) != group_runtime(ng)
                    || gp.tasks.iter().any(|t| matches!(t.fate, Fate::Replace | Fate::Create | Fate::Remove));
                let in_place = job_in_place
                    || group_policy(og) != group_policy(ng)
                    || gp.tasks.iter().any(|t| t.fate == Fate::InPlace);
                if replace {
                    Fate::Replace
                } else if in_place || oc != nc {
                    // A new count: the instances that stay are taken by
                    // the new version as they run.
                    Fate::InPlace
                } else {
                    Fate::Unchanged
                }
            }
            _ => Fate::Unchanged,
        };
        push_instances(&mut instances, (o, n), (og, ng), (oc, nc), whole);
        if gp.kind != Kind::Same || oc != nc || whole != Fate::Unchanged {
            let mut gp = gp;
            if gp.kind == Kind::Same {
                gp.kind = Kind::Edited;
            }
            groups.push(gp);
        }
    }
    let kind = if job_fields.is_empty() && groups.is_empty() && instances.is_empty() && !job_replace && !job_in_place {
        Kind::Same
    } else {
        Kind::Edited
    };
    Plan { id, kind, fields: job_fields, groups, instances }
}

/// The plan of a job that comes or goes whole (`Same` when neither
/// version is there).
fn whole_job_plan(id: String, old: Option<&Job>, new: Option<&Job>) -> Plan {
    let (job, kind, fate) = match (old, new) {
        (_, Some(n)) => (n, Kind::Added, Fate::Create),
        (Some(o), None) => (o, Kind::Removed, Fate::Remove),
        (None, None) => return Plan { id, kind: Kind::Same, fields: vec![], groups: vec![], instances: vec![] },
    };
    let groups = job
        .groups
        .iter()
        .map(|g| GroupPlan {
            name: g.name.clone(),
            kind,
            fields: vec![],
            tasks: g.tasks.iter().map(|t| TaskPlan { name: t.name.clone(), kind, fate, fields: vec![] }).collect(),
        })
        .collect();
    let instances = if job.runs_itself() {
        job.groups.iter().flat_map(|g| (0..g.count).map(move |i| instance(job, g, i, fate))).collect()
    } else {
        Vec::new()
    };
    Plan { id, kind, fields: vec![], groups, instances }
}

/// Adds each instance of a group (old and new version, old and new
/// count) that changes: from the new count up removed, from the old one
/// up created, the others getting `whole`.
fn push_instances(
    instances: &mut Vec<InstancePlan>,
    (o, n): (&Job, &Job),
    (og, ng): (Option<&Group>, Option<&Group>),
    (oc, nc): (u32, u32),
    whole: Fate,
) {
    for i in 0..oc.max(nc) {
        let fate = if i >= nc {
            Fate::Remove
        } else if i >= oc {
            Fate::Create
        } else {
            whole
        };
        if fate != Fate::Unchanged {
            let job = if fate == Fate::Remove { o } else { n };
            let g = if fate == Fate::Remove { og } else { ng };
            if let Some(g) = g {
                instances.push(instance(job, g, i, fate));
            }
        }
    }
}

fn instance(job: &Job, g: &Group, index: u32, fate: Fate) -> InstancePlan {
    InstancePlan { name: format!("{}.{}[{index}]", job.id, g.name), group: g.name.clone(), index, fate }
}

fn group_plan(name: &str, og: Option<&Group>, ng: Option<&Group>, oi: &[Item], ni: &[Item]) -> GroupPlan {
    let kind = match (og, ng) {
        (None, _) => Kind::Added,
        (_, None) => Kind::Removed,
        _ => Kind::Same,
    };
    let mut tasks = Vec::new();
    if let (Some(og), Some(ng)) = (og, ng) {
        for tname in names(og.tasks.iter().map(|t| &t.name), ng.tasks.iter().map(|t| &t.name)) {
            let ot = og.tasks.iter().find(|t| t.name == tname);
            let nt = ng.tasks.iter().find(|t| t.name == tname);
            let (kind, fate, fields) = match (ot, nt) {
                (None, Some(_)) => (Kind::Added, Fate::Create, vec![]),
                (Some(_), None) => (Kind::Removed, Fate::Remove, vec![]),
                (Some(ot), Some(nt)) => {
                    let fate = if task_runtime(ot) != task_runtime(nt) {
                        Fate::Replace
                    } else if task_policy(ot) != task_policy(nt) {
                        Fate::InPlace
                    } else {
                        Fate::Unchanged
                    };
                    let mut f = fields(task_items(oi, &tname), task_items(ni, &tname));
                    if fate != Fate::Unchanged && f.is_empty() {
                        // Only a value that is not shown changed.
                        f.push(Field {
                            sign: '~',
                            path: "(a sensitive or unshown value)".into(),
                            old: None,
                            new: None,
                        });
                    }
                    let kind = if fate == Fate::Unchanged && f.is_empty() { Kind::Same } else { Kind::Edited };
                    (kind, fate, f)
                }
                (None, None) => continue,
            };
            if kind != Kind::Same {
                tasks.push(TaskPlan { name: tname, kind, fate, fields });
            }
        }
    } else {
        let (g, fate) = match (og, ng) {
            (_, Some(g)) => (g, Fate::Create),
            (Some(g), None) => (g, Fate::Remove),
            (None, None) => return GroupPlan { name: name.into(), kind, fields: vec![], tasks },
        };
        tasks = g.tasks.iter().map(|t| TaskPlan { name: t.name.clone(), kind, fate, fields: vec![] }).collect();
    }
    let fields = if kind == Kind::Same { fields(own_items(oi), own_items(ni)) } else { vec![] };
    let kind = if kind == Kind::Same && (!fields.is_empty() || !tasks.is_empty()) { Kind::Edited } else { kind };
    GroupPlan { name: name.to_string(), kind, fields, tasks }
}

/// The names of both sides: the new order, then those only the old has.
fn names<'a>(old: impl Iterator<Item = &'a String>, new: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = new.cloned().collect();
    for n in old {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

// --- the typed comparison: what the process sees, what supd applies ----------

/// What a policy is replaced by before two versions are compared.
const NO_RESTART: RestartPolicy = RestartPolicy {
    attempts: 0,
    interval: Duration::ZERO,
    delay: Duration::ZERO,
    mode: super::model::RestartMode::Fail,
};

/// A task without what only supd acts on, and without positions.
fn task_runtime(t: &Task) -> Task {
    let mut t = unplaced(t);
    t.restart = NO_RESTART;
    t.kill_timeout = Duration::ZERO;
    t.kill_signal = KillSignal::Default;
    t.shutdown_delay = Duration::ZERO;
    t.group_shutdown_delay = Duration::ZERO;
    t.logs = Logs::default();
    t.services.iter_mut().for_each(no_check_restart);
    t
}

/// What only supd acts on, of a task.
fn task_policy(t: &Task) -> (RestartPolicy, Duration, KillSignal, Duration, Logs, Vec<CheckRestart>) {
    let checks = t.services.iter().flat_map(|s| &s.checks).map(|c| c.check_restart).collect();
    let delay = t.group_shutdown_delay + t.shutdown_delay;
    (t.restart, t.kill_timeout, t.kill_signal, delay, t.logs, checks)
}

fn no_check_restart(s: &mut Service) {
    s.checks.iter_mut().for_each(|c| c.check_restart = CheckRestart::default());
}

/// A task without positions (a block moved in its file changes nothing).
fn unplaced(t: &Task) -> Task {
    let mut t = t.clone();
    t.pos = Default::default();
    t.services.iter_mut().for_each(unplace_service);
    t.templates.iter_mut().for_each(|x| x.pos = Default::default());
    t.artifacts.iter_mut().for_each(|x| x.pos = Default::default());
    t.constraints.iter_mut().for_each(|x| x.pos = Default::default());
    t
}

fn unplace_service(s: &mut Service) {
    s.pos = Default::default();
    s.checks.iter_mut().for_each(|c| c.pos = Default::default());
}

/// A group without its tasks, count and policies, and without positions.
fn group_runtime(g: &Group) -> Group {
    let mut g = g.clone();
    g.pos = Default::default();
    g.tasks = Vec::new();
    g.count = 0;
    g.restart = NO_RESTART;
    g.reschedule = None;
    g.ports.iter_mut().for_each(|p| p.pos = Default::default());
    g.services.iter_mut().for_each(|s| {
        unplace_service(s);
        no_check_restart(s);
    });
    g.constraints.iter_mut().for_each(|x| x.pos = Default::default());
    g
}

fn group_policy(g: &Group) -> (RestartPolicy, Option<super::model::ReschedulePolicy>, Vec<CheckRestart>) {
    let checks = g.services.iter().flat_map(|s| &s.checks).map(|c| c.check_restart).collect();
    (g.restart, g.reschedule, checks)
}

/// A job without its groups, priority and source, and without positions.
fn job_runtime(j: &Job) -> Job {
    let mut j = j.clone();
    j.pos = Default::default();
    j.source = String::new();
    j.sensitive = thin_vec::ThinVec::new();
    j.groups = Vec::new();
    j.priority = 0;
    // Meta reaches the tasks merged; what is left is for display.
    j.meta = BTreeMap::new();
    j.constraints.iter_mut().for_each(|x| x.pos = Default::default());
    j
}

fn job_policy(j: &Job) -> u8 {
    j.priority
}

// --- the fields shown -----------------------------------------------------------

fn block_items(item: &Item) -> &[Item] {
    match item {
        Item::Block { items, .. } => items,
        _ => &[],
    }
}

fn labelled<'a>(items: &'a [Item], ident: &str, name: &str) -> &'a [Item] {
    items
        .iter()
        .find(|i| matches!(i, Item::Block { ident: id, label: Some(l), .. } if id == ident && l == name))
        .map_or(&[], block_items)
}

fn group_items<'a>(job: &'a Item, name: &str) -> &'a [Item] {
    labelled(block_items(job), "group", name)
}

fn task_items<'a>(group: &'a [Item], name: &str) -> &'a [Item] {
    labelled(group, "task", name)
}

fn own_items(items: impl AsItems) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten(items.as_items(), "", &mut out);
    out
}

trait AsItems {
    fn as_items(&self) -> &[Item];
}

impl AsItems for &Item {
    fn as_items(&self) -> &[Item] {
        block_items(self)
    }
}

impl AsItems for &[Item] {
    fn as_items(&self) -> &[Item] {
        self
    }
}

/// `(path, value)` of every attribute, groups and tasks left out (they
/// are compared by name on their own).
fn flatten(items: &[Item], prefix: &str, out: &mut Vec<(String, String)>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for item in items {
        match item {
            Item::Attr { key, value, .. } => out.push((format!("{prefix}{key}"), value.to_string())),
            Item::Note(text) => {
                let (key, rest) = text.split_once(": ").unwrap_or(("note", text));
                out.push((format!("{prefix}{key}"), rest.to_string()));
            }
            Item::Block { ident, label, items } => {
                if ident == "group" || ident == "task" {
                    continue;
                }
                let n = seen.entry(ident.as_str()).or_insert(0);
                let seg = match label {
                    Some(l) => format!("{ident}[{l:?}]"),
                    None if repeats(ident) => format!("{ident}[{n}]"),
                    None => ident.clone(),
                };
                *n += 1;
                flatten(items, &format!("{prefix}{seg}."), out);
            }
        }
    }
}

fn repeats(ident: &str) -> bool {
    matches!(ident, "service" | "check" | "template" | "artifact" | "constraint" | "mount")
}

fn fields(old: impl Into<Flat>, new: impl Into<Flat>) -> Vec<Field> {
    let (old, new) = (old.into().0, new.into().0);
    let before: BTreeMap<&str, &str> = old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let after: BTreeMap<&str, &str> = new.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    for (k, v) in &new {
        match before.get(k.as_str()) {
            None => out.push(Field { sign: '+', path: k.clone(), old: None, new: Some(v.clone()) }),
            Some(o) if *o != v => {
                out.push(Field { sign: '~', path: k.clone(), old: Some(o.to_string()), new: Some(v.clone()) })
            }
            Some(_) => {}
        }
    }
    for (k, v) in &old {
        if !after.contains_key(k.as_str()) {
            out.push(Field { sign: '-', path: k.clone(), old: Some(v.clone()), new: None });
        }
    }
    out
}

struct Flat(Vec<(String, String)>);

impl From<Vec<(String, String)>> for Flat {
    fn from(v: Vec<(String, String)>) -> Flat {
        Flat(v)
    }
}

impl From<&[Item]> for Flat {
    fn from(items: &[Item]) -> Flat {
        Flat(own_items(items))
    }
}

// --- text -------------------------------------------------------------------------

/// The plan as text: the job, its groups and tasks with their fields, then
/// each instance that changes. Nothing for an unchanged job.
pub fn render(p: &Plan) -> String {
    let mut out = String::new();
    if !p.changes() {
        return out;
    }
    out.push_str(&format!("{} job {:?}\n", p.kind.sign(), p.id));
    field_lines(&p.fields, "    ", &mut out);
    for g in &p.groups {
        out.push_str(&format!("  {} group {:?}\n", g.kind.sign(), g.name));
        field_lines(&g.fields, "      ", &mut out);
        for t in &g.tasks {
            let fate = match t.fate {
                Fate::Replace => " (forces replacement)",
                Fate::InPlace => " (in place)",
                _ => "",
            };
            out.push_str(&format!("    {} task {:?}{fate}\n", t.kind.sign(), t.name));
            field_lines(&t.fields, "        ", &mut out);
        }
    }
    if !p.instances.is_empty() {
        out.push_str("  instances:\n");
        for i in &p.instances {
            out.push_str(&format!("    {}: {}\n", i.name, i.fate.as_str()));
        }
    }
    out
}

fn field_lines(fields: &[Field], pad: &str, out: &mut String) {
    for f in fields {
        let line = match (&f.old, &f.new) {
            (Some(o), Some(n)) => format!("{}: {o} => {n}", f.path),
            (None, Some(n)) => format!("{}: {n}", f.path),
            (Some(o), None) => format!("{}: {o}", f.path),
            (None, None) => f.path.clone(),
        };
        out.push_str(&format!("{pad}{} {line}\n", f.sign));
    }
}

#[cfg(test)]
mod tests;
