//! The `job` block: its attributes, its groups, and what it hands them.

use super::*;

pub(super) const JOB: Schema = Schema {
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
        ("periodic", Blk),
        ("parameterized", Blk),
    ],
    ignored: &[
        "namespace",
        "node_pool",
        "all_at_once",
        "affinity",
        "spread",
        "update",
        "migrate",
        "multiregion",
        "vault",
        "consul",
        "vault_token",
        "consul_token",
        "ui",
        "id",
    ],
};

/// A job block: its attributes, its periodic and parameterized blocks,
/// and its groups, which take over what the job hands them.
pub(super) fn job(r: &mut Reader, block: &Block, id: String) -> Job {
    let b = &block.body;
    r.check_keys(b, &JOB);
    let job_type = match r.attr(b, "type") {
        Some(a) => {
            r.enum_value(&a.value, "type", &JobType::NAMES).and_then(|s| JobType::parse(&s)).unwrap_or(JobType::Service)
        }
        None => JobType::Service,
    };
    let name = job_name(r, b, &id);
    let datacenters = datacenters(r, b);
    let region = r.attr(b, "region").and_then(|a| r.literal(&a.value, "region")).unwrap_or_else(|| "global".into());
    let priority = r.attr(b, "priority").and_then(|a| r.int(&a.value, "priority", 1, 100)).unwrap_or(50) as u8;
    let meta = r.meta(b);
    let constraints = constraints(r, b);
    let job_resched = job_reschedule(r, b, job_type);
    let periodic = periodic(r, b, job_type);
    let parameterized = parameterized(r, b, job_type);
    let ctx = JobCtx { id: id.clone(), job_type, meta: meta.clone(), resched: job_resched };
    let groups = job_groups(r, block, &ctx);
    let pos = r.sink.pos(&block.ident.span());
    let source = block.span().and_then(|s| r.src.get(s)).unwrap_or_default().to_string();
    Job {
        id,
        name,
        pos,
        source,
        job_type,
        datacenters,
        region,
        priority,
        meta,
        constraints: constraints.into(),
        groups,
        periodic: periodic.map(Box::new),
        parameterized: parameterized.map(Box::new),
        sensitive: thin_vec::ThinVec::new(),
        payload: None,
        dispatch_meta: BTreeMap::new(),
    }
}

/// The job's `name`, checked as one; its ID without one.
fn job_name(r: &mut Reader, b: &Body, id: &str) -> String {
    match r.attr(b, "name") {
        Some(a) => {
            let name = r.literal(&a.value, "name");
            if let Some(problem) = name.as_deref().and_then(|n| crate::names::problem(crate::names::Kind::JobName, n)) {
                r.sink.error(a.value.span(), problem);
            }
            name.unwrap_or_else(|| id.to_string())
        }
        None => id.to_string(),
    }
}

/// The job's `datacenters`, any (`"*"`) without them.
fn datacenters(r: &mut Reader, b: &Body) -> Vec<String> {
    match r.attr(b, "datacenters") {
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
    }
}

/// The job's `reschedule` block, for its groups to take over; refused on
/// the job types that reschedule nothing.
fn job_reschedule(r: &mut Reader, b: &Body, job_type: JobType) -> Option<RescheduleSpec> {
    let resched_block = r.one_block(b, "reschedule", "a job");
    let job_resched = resched_block.map(|blk| reschedule_spec(r, blk));
    if let Some(blk) = resched_block
        && matches!(job_type, JobType::System | JobType::Sysbatch)
    {
        r.sink.error(blk.ident.span(), format!("{job_type} jobs cannot have a reschedule policy — they run on every node; remove the `reschedule` block"));
    }
    job_resched
}

/// The job's `group` blocks, each read; a group without a good name, or
/// with one the job already has, is read but not kept.
fn job_groups(r: &mut Reader, block: &Block, ctx: &JobCtx) -> Vec<Group> {
    let id = &ctx.id;
    let mut groups = Vec::new();
    let mut seen: BTreeMap<String, Sp> = BTreeMap::new();
    let group_blocks = r.blocks(&block.body, "group");
    if group_blocks.is_empty() {
        r.sink.error(
            block.ident.span(),
            format!("{} has no group — add `group \"NAME\" {{ task \"NAME\" {{ … }} }}`", named("job", id)),
        );
    }
    for gb in group_blocks {
        // A group without a name, or with a taken one, is still read for
        // its other problems, but not kept.
        let Some(name) = r.name_label(gb, crate::names::Kind::Group, "group \"NAME\" { … }") else {
            group(r, gb, String::new(), ctx);
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
            group(r, gb, name, ctx);
            continue;
        }
        seen.insert(name.clone(), lspan);
        groups.push(group(r, gb, name, ctx));
    }
    // Kept for the job's life (1000 one-task jobs is the common case): no
    // spare capacity.
    groups.shrink_to_fit();
    groups
}

pub(super) struct JobCtx {
    pub(super) id: String,
    pub(super) job_type: JobType,
    pub(super) meta: BTreeMap<String, String>,
    pub(super) resched: Option<RescheduleSpec>,
}
