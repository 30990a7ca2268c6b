//! `scaling` blocks: supd scales nothing (they are Nomad Autoscaler's
//! policies), but it refuses the ones Nomad's parser refuses, so that a
//! file supd accepts is one Nomad accepts too.

use super::*;

const SCALING: Schema = Schema {
    what: "scaling",
    keys: &[("min", Attr), ("max", Attr), ("enabled", Attr), ("type", Attr), ("policy", Blk)],
    ignored: &[],
};

/// A group's `scaling`: one at most, unnamed, `horizontal`, with a `max`
/// and `min ≤ count ≤ max`. Its `min`, when given, is the group's count
/// where `count` is not (as Nomad's).
pub(super) fn group_scaling(r: &mut Reader, body: &Body, count: Option<i64>) -> Option<i64> {
    let block = r.one_block(body, "scaling", "a group")?;
    r.sink.warn(
        block.ident.span(),
        "supd scales nothing: a group's `scaling` only gives its count where `count` is not written (`min`) and bounds it (`min` to `max`)",
    );
    r.no_label(block);
    check_body(r, block, "horizontal");
    let (min, max) = bounds(r, block)?;
    let Some(count) = count else {
        if min > group::MAX_COUNT {
            r.sink.error(
                block.ident.span(),
                format!("the scaling block's `min` ({min}) is the group's count, above the most supd runs ({}) — lower `min`", group::MAX_COUNT),
            );
            return None;
        }
        return r.attr(&block.body, "min").map(|_| min);
    };
    {
        if count < min {
            r.sink.error(
                block.ident.span(),
                format!("the group's count ({count}) is below its scaling block's `min` ({min}) — raise `count` or lower `min`"),
            );
        } else if count > max {
            r.sink.error(
                block.ident.span(),
                format!("the group's count ({count}) is above its scaling block's `max` ({max}) — lower `count` or raise `max`"),
            );
        }
    }
    None
}

/// A task's `scaling "cpu"` and `scaling "mem"`: each named once by the
/// resource it scales, of the matching vertical type.
pub(super) fn task_scaling(r: &mut Reader, body: &Body) {
    let mut seen: Vec<(String, Sp)> = Vec::new();
    for block in r.blocks(body, "scaling") {
        let Some(name) = r.label(block, "`scaling \"cpu\"` or `scaling \"mem\"`") else { continue };
        if name != "cpu" && name != "mem" {
            r.sink.error(
                block.labels.first().and_then(|l| l.span()),
                format!("a task's scaling block scales \"cpu\" or \"mem\", not {name:?} — write `scaling \"cpu\"` or `scaling \"mem\"`"),
            );
            continue;
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            let first = r.sink.pos(first);
            r.sink.error(
                block.ident.span(),
                format!("a second `scaling {name:?}` block in the task (the first is at {first}) — merge them"),
            );
            continue;
        }
        seen.push((name.clone(), block.ident.span()));
        check_body(r, block, &format!("vertical_{name}"));
        bounds(r, block);
    }
}

/// The block's keys, its `type` if given (the one it must be), and
/// `enabled` a bool.
fn check_body(r: &mut Reader, block: &Block, expected: &str) {
    r.check_keys(&block.body, &SCALING);
    if let Some(a) = r.attr(&block.body, "type")
        && let Some(t) = r.literal(&a.value, "type")
        && t != expected
    {
        r.sink.error(
            a.value.span(),
            format!("scaling policy type {t:?} is not valid here — this block's type is {expected:?}: write `type = {expected:?}` or leave it out"),
        );
    }
    if let Some(a) = r.attr(&block.body, "enabled") {
        r.bool(&a.value, "enabled");
    }
}

/// `min` (0 by default) and `max` (required), each ≥ 0, `min ≤ max`.
fn bounds(r: &mut Reader, block: &Block) -> Option<(i64, i64)> {
    let b = &block.body;
    let min = match r.attr(b, "min") {
        Some(a) => r.int(&a.value, "min", 0, i64::MAX)?,
        None => 0,
    };
    let Some(a) = r.attr(b, "max") else {
        r.sink.error(block.ident.span(), "scaling block has no `max` — add e.g. `max = 10`");
        return None;
    };
    let max = r.int(&a.value, "max", 0, i64::MAX)?;
    if max < min {
        r.sink.error(a.value.span(), format!("scaling `max` ({max}) is below `min` ({min}) — make `max` ≥ `min`"));
        return None;
    }
    Some((min, max))
}
