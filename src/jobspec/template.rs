//! Runtime interpolation of the `${...}` references that job files keep in
//! strings (`command`, `args`, `env`, `work_dir`): `${NOMAD_PORT_db}`,
//! `${attr.kernel.name}`, `${meta.rack}`, `${node.datacenter}`. `$${` is a
//! literal `${`. A reference nothing resolves is left as written, as Nomad
//! leaves it.

/// Replaces each `${name}` by `lookup(name)`.
pub fn interpolate(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['$', '%']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("%%{") {
            out.push_str("%{");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${")
            && let Some(end) = after.find('}')
        {
            let name = after[..end].trim();
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &after[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(name: &str) -> Option<String> {
        match name {
            "NOMAD_PORT_db" => Some("6399".into()),
            "attr.kernel.name" => Some("linux".into()),
            _ => None,
        }
    }

    #[test]
    fn references_escapes_and_unknowns() {
        assert_eq!(interpolate("--port=${NOMAD_PORT_db}", &look), "--port=6399");
        assert_eq!(interpolate("${attr.kernel.name}-${NOMAD_PORT_db}", &look), "linux-6399");
        assert_eq!(interpolate("$${NOMAD_PORT_db}", &look), "${NOMAD_PORT_db}");
        assert_eq!(interpolate("%%{x} 100% $5", &look), "%{x} 100% $5");
        assert_eq!(interpolate("${nope} ${unterminated", &look), "${nope} ${unterminated");
        assert_eq!(interpolate("µ${NOMAD_PORT_db}µ", &look), "µ6399µ");
    }
}
