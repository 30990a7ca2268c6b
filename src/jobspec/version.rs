//! Version comparison for the `version` constraint operator (the rules of
//! HashiCorp's go-version: any number of numeric segments, `~>` pessimistic
//! bounds, pre-releases only match pre-release constraints on the same
//! base) and for `semver` (strict SemVer 2.0 precedence).

use std::cmp::Ordering;

/// Why a version or a constraint cannot be read; `text` is as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not a go-version version.
    #[error("malformed version: {text:?}")]
    Malformed { text: String },
    /// A SemVer version without exactly three numbers.
    #[error("{text:?} is not MAJOR.MINOR.PATCH")]
    NotThreeNumbers { text: String },
    /// A SemVer number that is empty, not a number, or has a leading zero.
    #[error("{text:?} is not a valid semantic version")]
    NotSemver { text: String },
    #[error("{text:?} has an empty pre-release")]
    EmptyPreRelease { text: String },
    #[error("malformed pre-release in version {text:?}")]
    MalformedPreRelease { text: String },
    /// `~>` in a `semver` constraint.
    #[error("\"~>\" is not a semver operator in {text:?} — use \">= x, < y\"")]
    Pessimistic { text: String },
    /// An operator with no version after it.
    #[error("malformed constraint: {text:?}")]
    MalformedConstraint { text: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    segments: Vec<u64>,
    /// How many segments the text wrote (go-version pads to three).
    written: usize,
    pre: Vec<String>,
}

impl Version {
    /// Parses a go-version style version: `1`, `v1.2`, `1.2.3.4`, `1.2.3-beta.1+meta`.
    pub fn parse_loose(text: &str) -> Result<Version, VersionError> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let (core, _meta) = t.split_once('+').unwrap_or((t, ""));
        let split = core.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(core.len());
        let (nums, pre) = core.split_at(split);
        let pre = pre.strip_prefix('-').unwrap_or(pre);
        let malformed = || VersionError::Malformed { text: text.to_string() };
        if nums.is_empty() || nums.ends_with('.') {
            return Err(malformed());
        }
        let mut segments = Vec::new();
        for part in nums.split('.') {
            segments.push(part.parse::<u64>().map_err(|_| malformed())?);
        }
        let written = segments.len();
        while segments.len() < 3 {
            segments.push(0);
        }
        let pre = parse_pre(pre, text)?;
        Ok(Version { segments, written, pre })
    }

    /// Parses a strict SemVer 2.0 version: `MAJOR.MINOR.PATCH[-pre][+build]`.
    pub fn parse_strict(text: &str) -> Result<Version, VersionError> {
        let t = text.trim();
        let (core, _build) = t.split_once('+').unwrap_or((t, ""));
        let (nums, pre) = core.split_once('-').unwrap_or((core, ""));
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.len() != 3 {
            return Err(VersionError::NotThreeNumbers { text: text.to_string() });
        }
        let not_semver = || VersionError::NotSemver { text: text.to_string() };
        let mut segments = Vec::new();
        for p in parts {
            if p.is_empty() || (p.len() > 1 && p.starts_with('0')) {
                return Err(not_semver());
            }
            segments.push(p.parse::<u64>().map_err(|_| not_semver())?);
        }
        if core.contains('-') && pre.is_empty() {
            return Err(VersionError::EmptyPreRelease { text: text.to_string() });
        }
        let pre = parse_pre(pre, text)?;
        Ok(Version { segments, written: 3, pre })
    }

    fn base_cmp(&self, other: &Version) -> Ordering {
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            let a = self.segments.get(i).copied().unwrap_or(0);
            let b = other.segments.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }

    fn same_base(&self, other: &Version) -> bool {
        self.base_cmp(other) == Ordering::Equal
    }
}

fn parse_pre(pre: &str, text: &str) -> Result<Vec<String>, VersionError> {
    if pre.is_empty() {
        return Ok(Vec::new());
    }
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '~');
    let parts: Vec<String> = pre.split('.').map(str::to_string).collect();
    if parts.iter().all(|p| ok(p)) {
        Ok(parts)
    } else {
        Err(VersionError::MalformedPreRelease { text: text.to_string() })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.base_cmp(other).then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (a, b) in self.pre.iter().zip(&other.pre) {
                    let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        (Err(_), Err(_)) => a.cmp(b),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                self.pre.len().cmp(&other.pre.len())
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Pessimistic,
}

/// A parsed constraint list such as `">= 1.2, < 2.0"` or `"~> 1.4"`.
#[derive(Debug, Clone)]
pub struct Constraints {
    items: Vec<(Op, Version)>,
    strict: bool,
}

impl Constraints {
    /// go-version rules (the `version` operator).
    pub fn parse_loose(text: &str) -> Result<Constraints, VersionError> {
        Self::parse(text, false)
    }

    /// SemVer rules (the `semver` operator); no `~>`.
    pub fn parse_strict(text: &str) -> Result<Constraints, VersionError> {
        Self::parse(text, true)
    }

    fn parse(text: &str, strict: bool) -> Result<Constraints, VersionError> {
        let mut items = Vec::new();
        for raw in text.split(',') {
            let item = raw.trim();
            let (op, rest) = [
                ("~>", Op::Pessimistic),
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("!=", Op::Ne),
                ("=", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
            ]
            .iter()
            .find_map(|(p, op)| item.strip_prefix(p).map(|r| (*op, r)))
            .unwrap_or((Op::Eq, item));
            if strict && op == Op::Pessimistic {
                return Err(VersionError::Pessimistic { text: text.to_string() });
            }
            let rest = rest.trim();
            if rest.is_empty() {
                return Err(VersionError::MalformedConstraint { text: text.to_string() });
            }
            let v = if strict { Version::parse_strict(rest)? } else { Version::parse_loose(rest)? };
            items.push((op, v));
        }
        Ok(Constraints { items, strict })
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.items.iter().all(|(op, c)| {
            if !self.strict && !prerelease_ok(v, c) {
                return false;
            }
            match op {
                Op::Eq => v == c || v.cmp(c) == Ordering::Equal,
                Op::Ne => v.cmp(c) != Ordering::Equal,
                Op::Gt => v > c,
                Op::Ge => v >= c,
                Op::Lt => v < c,
                Op::Le => v <= c,
                Op::Pessimistic => pessimistic(v, c),
            }
        })
    }
}

/// go-version: a pre-release version only satisfies a constraint that names
/// a pre-release of the same base version.
fn prerelease_ok(v: &Version, c: &Version) -> bool {
    match (v.pre.is_empty(), c.pre.is_empty()) {
        (false, false) => v.same_base(c),
        (false, true) => false,
        _ => true,
    }
}

fn pessimistic(v: &Version, c: &Version) -> bool {
    if !c.pre.is_empty() && v.pre.is_empty() {
        return false;
    }
    if v < c {
        return false;
    }
    let n = c.written;
    if n > v.segments.len() {
        return false;
    }
    if n >= 1 && v.segments[..n - 1] != c.segments[..n - 1] {
        return false;
    }
    n == 0 || c.segments[n - 1] <= v.segments[n - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loose(c: &str, v: &str) -> bool {
        Constraints::parse_loose(c).unwrap().matches(&Version::parse_loose(v).unwrap())
    }

    fn strict(c: &str, v: &str) -> bool {
        Constraints::parse_strict(c).unwrap().matches(&Version::parse_strict(v).unwrap())
    }

    #[test]
    fn go_version_ranges() {
        assert!(loose(">= 1.2, < 2.0", "1.9.3"));
        assert!(!loose(">= 1.2, < 2.0", "2.0"));
        assert!(loose("> 3.10", "6.18.0"));
        assert!(loose("= 1.2", "1.2.0"));
        assert!(loose("1.2", "v1.2.0"));
        assert!(loose("!= 1.2", "1.3"));
        assert!(loose("1.10 ", "1.10.0") && !loose("< 1.9", "1.10"));
    }

    #[test]
    fn pessimistic_bounds() {
        assert!(loose("~> 1.4", "1.9"));
        assert!(!loose("~> 1.4", "2.0"));
        assert!(loose("~> 1.4.3", "1.4.9"));
        assert!(!loose("~> 1.4.3", "1.5.0"));
        assert!(!loose("~> 1.4.3", "1.4.2"));
    }

    #[test]
    fn prereleases() {
        assert!(!loose(">= 1.0", "1.2.0-beta"));
        assert!(loose(">= 1.2.0-alpha", "1.2.0-beta"));
        assert!(!loose(">= 1.1.0-alpha", "1.2.0-beta"));
        assert!(strict(">= 1.0.0", "1.2.0-beta"));
        assert!(strict("< 1.0.0", "1.0.0-rc.1"));
        assert!(strict("> 1.0.0-rc.2", "1.0.0-rc.10"));
    }

    #[test]
    fn strictness() {
        assert!(Version::parse_strict("1.2").is_err());
        assert!(Version::parse_strict("01.2.3").is_err());
        assert!(Version::parse_strict("1.2.3-").is_err());
        assert!(Constraints::parse_strict("~> 1.2.3").is_err());
        assert!(Version::parse_loose("x.y").is_err());
        assert!(Constraints::parse_loose(">=").is_err());
        assert!(strict(">= 1.2.3, < 2.0.0", "1.2.3+build5"));
    }
}
