//! The `service` and `check` blocks and their `check_restart`.

use super::*;

pub(super) const SERVICE: Schema = Schema {
    what: "service",
    keys: &[
        ("name", Attr),
        ("port", Attr),
        ("tags", Attr),
        ("check", Blk),
        ("check_restart", Blk),
        ("provider", Attr),
        ("task", Attr),
    ],
    ignored: &[
        "canary_tags",
        "enable_tag_override",
        "meta",
        "canary_meta",
        "tagged_addresses",
        "address",
        "address_mode",
        "on_update",
        "connect",
        "identity",
        "cluster",
        "kind",
        "weights",
    ],
};

pub(super) const CHECK: Schema = Schema {
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

pub(super) const CHECK_RESTART: Schema = Schema {
    what: "check_restart",
    keys: &[("limit", Attr), ("grace", Attr), ("ignore_warnings", Attr)],
    ignored: &[],
};

// --- services and checks -------------------------------------------------

#[derive(Debug, Clone, Default)]
pub(super) struct CheckRestartSpec {
    pub(super) limit: Option<u32>,
    pub(super) grace: Option<Duration>,
    pub(super) ignore_warnings: Option<bool>,
    pub(super) span: Sp,
}

pub(super) fn check_restart_spec(r: &mut Reader, body: &Body, what: &str) -> Option<CheckRestartSpec> {
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
pub(super) fn merge_check_restart(
    service: Option<&CheckRestartSpec>,
    check: Option<&CheckRestartSpec>,
) -> CheckRestart {
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

pub(super) fn services(r: &mut Reader, b: &Body, scope: &Scope) -> Vec<Service> {
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
        // A group service's task: where its script checks run, unless a
        // check names its own (Nomad's ServiceCheck takes the service's
        // TaskName when it has none).
        let service_task = group_task(r, sbody, scope);
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
                service_task.as_ref(),
            ) {
                let mut c = c;
                if c.task.is_none() {
                    c.task.clone_from(&service_task);
                }
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

pub(super) fn port_ref(r: &mut Reader, expr: &Expression, ports: &[Port]) -> Option<PortRef> {
    if let Expression::Number(_) = expr {
        return r.int(expr, "port", 1, 65535).map(|p| PortRef::Number(p as u16));
    }
    let text = match expr {
        // As Nomad: `"${NOMAD_PORT_api}"` is interpolated when the task
        // starts (its label or number is only known then).
        Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            let written = r.string(expr, "port")?;
            if references(&written) {
                return Some(PortRef::Interpolated(written));
            }
            // Only `$${` escapes: the text they stand for.
            crate::jobspec::template::interpolate(&written, &|_| None)
        }
        _ => r.literal(expr, "port")?,
    };
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

/// Whether a string kept in the template form holds a `${...}` reference
/// (not only `$${` escapes).
fn references(written: &str) -> bool {
    let found = std::cell::Cell::new(false);
    crate::jobspec::template::interpolate(written, &|_| {
        found.set(true);
        None
    });
    found.get()
}

/// One `check` block of a service: its type, timing, port and restart
/// policy, and the keys of its type.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    r: &mut Reader,
    cb: &Block,
    service: &str,
    service_port: Option<&PortRef>,
    service_port_written: bool,
    svc_restart: Option<&CheckRestartSpec>,
    scope: &Scope,
    provider: Option<&(String, Sp)>,
    service_task: Option<&String>,
) -> Option<Check> {
    r.no_label(cb);
    r.check_keys(&cb.body, &CHECK);
    let b = &cb.body;
    let name = r
        .attr(b, "name")
        .and_then(|a| r.string(&a.value, "name"))
        .unwrap_or_else(|| format!("service: {service:?} check"));
    let pos = r.sink.pos(&cb.ident.span());
    let ctype = check_type(r, cb);
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
    let task = group_task(r, b, scope);
    let own_restart = check_restart_spec(r, b, "a check");
    let check_restart = merge_check_restart(svc_restart, own_restart.as_ref());
    nomad_provider_rules(r, provider, &check_restart, ctype.as_deref());
    short_duration_warnings(r, b, interval, timeout);
    let kind = check_kind(r, cb, ctype.as_deref()?, scope, service_task)?;
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

/// The check's `type`: "http", "tcp" or "script"; `None` when it is
/// missing, unsupported or misspelt.
fn check_type(r: &mut Reader, cb: &Block) -> Option<String> {
    match r.attr(&cb.body, "type") {
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
    }
}

/// The `task` of a group service or check: one of the group's tasks.
fn group_task(r: &mut Reader, b: &Body, scope: &Scope) -> Option<String> {
    r.attr(b, "task").and_then(|a| {
        let t = r.literal(&a.value, "task")?;
        if !scope.tasks.contains(&t) {
            let hint = did_you_mean(&t, scope.tasks.iter().map(String::as_str))
                .map_or(String::new(), |s| format!(" — did you mean {s:?}?"));
            r.sink.error(a.value.span(), format!("the group has no task {t:?}{hint}"));
            return None;
        }
        Some(t)
    })
}

/// What a check of a service with `provider = "nomad"` cannot have:
/// `ignore_warnings` in its `check_restart`, or the script type.
fn nomad_provider_rules(
    r: &mut Reader,
    provider: Option<&(String, Sp)>,
    check_restart: &CheckRestart,
    ctype: Option<&str>,
) {
    if let Some((p, pspan)) = provider
        && p == "nomad"
    {
        if check_restart.ignore_warnings {
            r.sink.error(pspan.clone(), "check_restart ignore_warnings = true cannot be used with provider = \"nomad\" (Nomad checks have no warning state) — remove one of them");
        }
        if ctype == Some("script") {
            r.sink.error(
                pspan.clone(),
                "provider = \"nomad\" supports only http and tcp checks — remove `provider` to run script checks",
            );
        }
    }
}

/// Warns of an `interval` or `timeout` below the 1s Nomad requires.
fn short_duration_warnings(r: &mut Reader, b: &Body, interval: Option<Duration>, timeout: Option<Duration>) {
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
}

/// The keys of the check's type: an http check's request, a script
/// check's command; `None` when they are missing or wrong.
fn check_kind(
    r: &mut Reader,
    cb: &Block,
    ctype: &str,
    scope: &Scope,
    service_task: Option<&String>,
) -> Option<CheckKind> {
    match ctype {
        "http" => http_check(r, cb),
        "tcp" => Some(CheckKind::Tcp),
        _ => script_check(r, cb, scope, service_task),
    }
}

/// An http check's `path`, `method`, `header`, `body` and `protocol`.
fn http_check(r: &mut Reader, cb: &Block) -> Option<CheckKind> {
    let b = &cb.body;
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
    let method = r.attr(b, "method").and_then(|a| r.literal(&a.value, "method")).unwrap_or_else(|| "GET".into());
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
                r.sink.error(
                    a.value.span(),
                    "https checks are not supported — check the plain-HTTP port, or use a script check with curl",
                );
                return None;
            }
            p
        }
        None => "http".into(),
    };
    Some(CheckKind::Http { path, method: method.to_ascii_uppercase(), headers, body, protocol })
}

/// A script check's `command` and `args`, and the task it runs in,
/// which a group service's check must name.
fn script_check(r: &mut Reader, cb: &Block, scope: &Scope, service_task: Option<&String>) -> Option<CheckKind> {
    let b = &cb.body;
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
    if scope.task.is_none() && r.attr(b, "task").is_none() && service_task.is_none() {
        r.sink.error(cb.ident.span(), "script checks of a group service need `task` (in the check or its service) — name the task whose user and environment the script runs with");
        return None;
    }
    Some(CheckKind::Script { command, args })
}

pub(super) fn required_duration(r: &mut Reader, b: &Body, cb: &Block, field: &str) -> Option<Duration> {
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
pub(super) fn headers(r: &mut Reader, b: &Body) -> BTreeMap<String, Vec<String>> {
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
