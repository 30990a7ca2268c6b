//! A unit's name (`getty@tty1.service`: prefix, instance) and the
//! specifiers (`%n`, `%i`, …) resolved from it; systemd's unit name unescaping.

pub(super) struct UnitName {
    /// `getty@tty1.service`
    pub(super) full: String,
    /// `getty@tty1`
    pub(super) stem: String,
    /// `getty`
    pub(super) prefix: String,
    /// `tty1`; `Some("")` for a template (`getty@.service`).
    pub(super) instance: Option<String>,
}

impl UnitName {
    pub(super) fn new(full: &str, stem: &str) -> UnitName {
        let (prefix, instance) = match stem.split_once('@') {
            Some((p, i)) => (p.to_string(), Some(i.to_string())),
            None => (stem.to_string(), None),
        };
        UnitName { full: full.to_string(), stem: stem.to_string(), prefix, instance }
    }

    /// `s` with the specifiers resolved that do not depend on the running
    /// manager; the others are left as written and collected in `unknown`.
    pub(super) fn expand(&self, s: &str, unknown: &mut Vec<char>) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        let instance = self.instance.clone().unwrap_or_default();
        let last = |p: &str| p.rsplit('-').next().unwrap_or(p).to_string();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(spec) = chars.next() else {
                out.push('%');
                break;
            };
            let value = match spec {
                '%' => "%".to_string(),
                'n' => self.full.clone(),
                'N' => self.stem.clone(),
                'p' => self.prefix.clone(),
                'P' => unescape(&self.prefix),
                'i' => instance.clone(),
                'I' => unescape(&instance),
                'j' => last(&self.prefix),
                'J' => unescape(&last(&self.prefix)),
                'f' => {
                    let s = if instance.is_empty() { &self.prefix } else { &instance };
                    let u = unescape(s);
                    if u.starts_with('/') { u } else { format!("/{u}") }
                }
                // The system manager's fixed directories.
                't' => "/run".to_string(),
                'S' => "/var/lib".to_string(),
                'C' => "/var/cache".to_string(),
                'L' => "/var/log".to_string(),
                'E' => "/etc".to_string(),
                'T' => "/tmp".to_string(),
                'V' => "/var/tmp".to_string(),
                other => {
                    if !unknown.contains(&other) {
                        unknown.push(other);
                    }
                    format!("%{other}")
                }
            };
            out.push_str(&value);
        }
        out
    }
}

/// systemd's unit name unescaping: `-` is `/`, `\xNN` a byte.
pub(super) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            out.push(b'/');
            i += 1;
        } else if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(hex) = s.get(i + 2..i + 4)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
