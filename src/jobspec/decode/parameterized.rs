//! The job's `parameterized` block, and a task's `dispatch_payload`.

use super::*;

pub(super) const PARAMETERIZED: Schema = Schema {
    what: "parameterized",
    keys: &[("payload", Attr), ("meta_required", Attr), ("meta_optional", Attr)],
    ignored: &[],
};

pub(super) const DISPATCH_PAYLOAD: Schema = Schema { what: "dispatch_payload", keys: &[("file", Attr)], ignored: &[] };

pub(super) fn parameterized(r: &mut Reader, b: &Body, job_type: JobType) -> Option<Parameterized> {
    let blk = r.one_block(b, "parameterized", "a job")?;
    r.no_label(blk);
    r.check_keys(&blk.body, &PARAMETERIZED);
    let body = &blk.body;
    if !matches!(job_type, JobType::Batch | JobType::Sysbatch) {
        r.sink.error(
            blk.ident.span(),
            format!("`parameterized` is for batch and sysbatch jobs, and this is a {job_type} job — set `type = \"batch\"` in the job, or remove the `parameterized` block"),
        );
        return None;
    }
    if let Some(p) = b.get_blocks("periodic").next() {
        r.sink.error(
            p.ident.span(),
            "a job cannot be both `periodic` and `parameterized` here — keep one of the two blocks, or launch the dispatches from a periodic job's task with `supctl job dispatch`",
        );
        return None;
    }
    // A bad rule is reported; the rest is still read for its problems.
    let payload = match r.attr(body, "payload").and_then(|a| r.enum_value(&a.value, "payload", &PayloadRule::NAMES)) {
        Some(s) if s == "required" => PayloadRule::Required,
        Some(s) if s == "forbidden" => PayloadRule::Forbidden,
        _ => PayloadRule::Optional,
    };
    let meta_required =
        r.attr(body, "meta_required").and_then(|a| r.string_list(&a.value, "meta_required")).unwrap_or_default();
    let meta_optional = match r.attr(body, "meta_optional") {
        Some(a) => {
            let list = r.string_list(&a.value, "meta_optional").unwrap_or_default();
            if let Some(both) = list.iter().find(|k| meta_required.contains(k)) {
                r.sink.error(
                    a.value.span(),
                    format!("meta key {both:?} is both required and optional — list it in `meta_required` or in `meta_optional`, not both"),
                );
                return None;
            }
            list
        }
        None => Vec::new(),
    };
    Some(Parameterized { payload, meta_required, meta_optional })
}

/// A task's `dispatch_payload { file = "…" }`: where in the task's `local/`
/// the payload of a dispatch is written.
pub(super) fn dispatch_payload(r: &mut Reader, b: &Body) -> Option<String> {
    let blk = r.one_block(b, "dispatch_payload", "a task")?;
    r.no_label(blk);
    r.check_keys(&blk.body, &DISPATCH_PAYLOAD);
    let Some(a) = r.attr(&blk.body, "file") else {
        r.sink.error(blk.ident.span(), "`dispatch_payload` has no `file` — add e.g. `file = \"input.json\"`");
        return None;
    };
    let file = r.literal(&a.value, "file")?;
    let path = std::path::Path::new(&file);
    let escapes = path.is_absolute()
        || path.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
        || file.is_empty();
    if escapes {
        r.sink.error(
            a.value.span(),
            format!("`file` {file:?} must be a relative path inside the task's `local/` directory — write e.g. \"input.json\" or \"in/data.json\""),
        );
        return None;
    }
    Some(file)
}
