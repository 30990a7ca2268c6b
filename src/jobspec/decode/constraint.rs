//! The `constraint` block.

use super::*;

pub(super) const CONSTRAINT: Schema = Schema {
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

// --- constraints ---------------------------------------------------------

pub(super) fn constraints(r: &mut Reader, b: &Body) -> Vec<Constraint> {
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

/// One `constraint` block: its attribute, operator and value, checked to
/// fit together; `None` when it is refused or is no constraint.
pub(super) fn constraint(r: &mut Reader, cb: &Block) -> Option<Constraint> {
    let b = &cb.body;
    let pos = r.sink.pos(&cb.ident.span());
    let mut attribute = r.attr(b, "attribute").and_then(|a| r.string(&a.value, "attribute")).unwrap_or_default();
    let mut value = r.attr(b, "value").and_then(|a| r.string(&a.value, "value")).unwrap_or_default();
    let (operator, op_span) = constraint_operator(r, cb, &mut attribute, &mut value)?;
    let c = Constraint { attribute, operator, value, pos };
    if let Some((span, p)) = value_problem(r, b, &c, op_span) {
        r.sink.error(span, p);
        return None;
    }
    if operator != Operator::DistinctHosts && c.attribute.is_empty() {
        r.sink.error(cb.ident.span(), "constraint has no `attribute` — add e.g. attribute = \"${attr.kernel.name}\"");
        return None;
    }
    Some(c)
}

/// The constraint's operator (`=` without one) and where it is written:
/// `operator`, or a key that sets it (`version`, `regexp`, …), which sets
/// the `attribute` or `value` too. `None` when the constraint is dropped:
/// a wrong operator, two of them, or `distinct_hosts = false`.
fn constraint_operator(
    r: &mut Reader,
    cb: &Block,
    attribute: &mut String,
    value: &mut String,
) -> Option<(Operator, Sp)> {
    let b = &cb.body;
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
            Operator::DistinctProperty => *attribute = r.string(&a.value, key)?,
            _ => *value = r.string(&a.value, key)?,
        }
    }
    Some((operator.unwrap_or(Operator::Equal), op_span))
}

/// What is wrong with the constraint's value for its operator, and where
/// to report it: at the operator, or at the `value` of a
/// `distinct_property`.
fn value_problem(r: &Reader, b: &Body, c: &Constraint, mut op_span: Sp) -> Option<(Sp, String)> {
    let operator = c.operator;
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
    problem.map(|p| (op_span, p))
}
