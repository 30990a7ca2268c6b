//! This host as Nomad's scheduler would see it: its attributes
//! (`attr.kernel.name`, `attr.cpu.numcores`, …), its name, datacenter, class
//! and meta, and the evaluation of job constraints against them. Detection
//! reads /proc and uname once; evaluation is pure, so tests use made-up nodes.

use crate::jobspec::diag::{Diagnostic, Severity};
use crate::jobspec::model::{Constraint, Job, Operator};
use regex::Regex;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// `node.unique.name`
    pub name: String,
    /// `node.datacenter`
    pub datacenter: String,
    /// `node.region`
    pub region: String,
    /// `node.class`; unset unless configured.
    pub class: Option<String>,
    /// `meta.*`
    pub meta: BTreeMap<String, String>,
    /// `attr.*`, keyed without the `attr.` prefix.
    pub attrs: BTreeMap<String, String>,
}

impl Node {
    /// A node with no attributes, for tests and as a base.
    pub fn bare(name: &str, datacenter: &str) -> Node {
        Node {
            name: name.to_string(),
            datacenter: datacenter.to_string(),
            region: "global".to_string(),
            class: None,
            meta: BTreeMap::new(),
            attrs: BTreeMap::new(),
        }
    }

    /// Reads this host's attributes. Anything that cannot be read is left
    /// unset, as Nomad leaves an attribute its fingerprinter could not find.
    pub fn detect() -> Node {
        let mut attrs = BTreeMap::new();
        let uts = nix::sys::utsname::uname().ok();
        let hostname = uts
            .as_ref()
            .map(|u| u.nodename().to_string_lossy().into_owned())
            .unwrap_or_else(|| "localhost".to_string());
        if let Some(u) = &uts {
            attrs.insert("kernel.name".into(), u.sysname().to_string_lossy().to_lowercase());
            attrs.insert("kernel.version".into(), u.release().to_string_lossy().into_owned());
            let machine = u.machine().to_string_lossy().into_owned();
            attrs.insert("cpu.arch".into(), go_arch(&machine).to_string());
            attrs.insert("kernel.arch".into(), machine);
        }
        if let Ok(text) = std::fs::read_to_string("/etc/os-release") {
            let (name, version) = os_release(&text);
            if let Some(n) = name {
                attrs.insert("os.name".into(), n);
            }
            if let Some(v) = version {
                attrs.insert("os.version".into(), v);
            }
        }
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let (mut cores, mhz) = cpu_info(&cpuinfo);
        // Without "cpu MHz" (many ARM hosts), the fastest the cores go.
        let mhz = mhz.or_else(|| {
            let khz = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").ok()?;
            khz.trim().parse::<u64>().ok().map(|k| k / 1000).filter(|m| *m > 0)
        });
        if cores == 0 {
            cores = std::thread::available_parallelism().map_or(1, usize::from);
        }
        attrs.insert("cpu.numcores".into(), cores.to_string());
        // In a container (or any limited cgroup) the capacity is what supd's
        // own cgroups allow, when that is less than the host has.
        let (mem_limit, cpu_limit) = {
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            crate::process::cgroup::own_limits(&crate::process::cgroup::parse_mountinfo(&mountinfo), &own)
        };
        if let Some(mhz) = mhz {
            attrs.insert("cpu.frequency".into(), mhz.to_string());
            let host = mhz * cores as u64;
            let allowed = cpu_limit.map_or(host, |c| ((mhz as f64 * c) as u64).min(host));
            attrs.insert("cpu.totalcompute".into(), allowed.to_string());
        }
        if let Ok(text) = std::fs::read_to_string("/proc/meminfo")
            && let Some(bytes) = mem_total(&text)
        {
            let allowed = mem_limit.map_or(bytes, |l| l.min(bytes));
            attrs.insert("memory.totalbytes".into(), allowed.to_string());
        }
        attrs.insert("unique.hostname".into(), hostname.clone());
        // Each driver's attributes that are found now (`driver.exec` only
        // where tasks can be isolated).
        for def in crate::drivers::all() {
            attrs.extend((def.attributes)());
        }
        attrs.insert("supd.version".into(), env!("CARGO_PKG_VERSION").into());
        Node {
            name: hostname,
            datacenter: "dc1".to_string(),
            region: "global".to_string(),
            class: None,
            meta: BTreeMap::new(),
            attrs,
        }
    }

    /// The value of a `${...}` target, or `None` when this node has no
    /// such attribute. A target that is not a `${...}` reference is a literal.
    pub fn resolve(&self, target: &str) -> Option<String> {
        let Some(inner) = target.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
            return Some(target.to_string());
        };
        let inner = inner.trim();
        match inner {
            "node.unique.name" => return Some(self.name.clone()),
            "node.datacenter" => return Some(self.datacenter.clone()),
            "node.region" => return Some(self.region.clone()),
            "node.class" => return self.class.clone(),
            _ => {}
        }
        if let Some(key) = inner.strip_prefix("attr.") {
            return self.attrs.get(key).cloned();
        }
        if let Some(key) = inner.strip_prefix("meta.") {
            return self.meta.get(key).cloned();
        }
        None
    }

    /// Whether one constraint holds on this node. `distinct_hosts` and
    /// `distinct_property` hold for any single placement; whether `count`
    /// makes them impossible is [`placement_limit`]'s question.
    pub fn satisfies(&self, c: &Constraint) -> bool {
        let l = self.resolve(&c.attribute);
        let r = self.resolve(&c.value);
        check(c.operator, l.as_deref(), r.as_deref())
    }

    /// Whether the job may run in this node's datacenter.
    pub fn in_datacenters(&self, datacenters: &[String]) -> bool {
        datacenters.iter().any(|pattern| glob(pattern, &self.datacenter))
    }

    /// Every reason this node cannot run the job (or some of its
    /// instances), as messages with the constraint's position.
    pub fn placement_problems(&self, job: &Job) -> Vec<(crate::jobspec::diag::Pos, String)> {
        let mut out = Vec::new();
        if !self.in_datacenters(&job.datacenters) {
            out.push((
                job.pos,
                format!(
                    "job {:?} runs in datacenters {:?} but this node is in {:?} — add {:?} to `datacenters`",
                    job.id, job.datacenters, self.datacenter, self.datacenter
                ),
            ));
        }
        // As Nomad places no task on a node without its driver: exec and
        // java need the isolation `driver.exec` stands for.
        for t in job.groups.iter().flat_map(|g| &g.tasks) {
            if t.driver.is_isolated() && !self.attrs.contains_key("driver.exec") {
                out.push((
                    t.pos,
                    format!(
                        "task {:?} uses driver {:?}, which isolates its tasks, but this node cannot (driver.exec is unset: it takes root): its start would be a Driver Failure — run supd as root, or use driver \"raw_exec\" for a plain host process",
                        t.name,
                        t.driver.as_str()
                    ),
                ));
            }
        }
        let mut seen = Vec::new();
        for group in &job.groups {
            let scopes =
                job.constraints.iter().chain(&group.constraints).chain(group.tasks.iter().flat_map(|t| &t.constraints));
            for c in scopes {
                if let Some(limit) = placement_limit(c)
                    && u64::from(group.count) > limit
                {
                    out.push((
                        c.pos,
                        format!(
                            "{} allows {limit} instance(s) of group {:?} per host, but count = {}: only {limit} can be placed on this host",
                            c.operator.as_str(),
                            group.name,
                            group.count
                        ),
                    ));
                } else if !self.satisfies(c) && !seen.contains(&c.pos) {
                    seen.push(c.pos);
                    let shown = self.resolve(&c.attribute).map_or("unset".to_string(), |v| format!("{v:?}"));
                    out.push((
                        c.pos,
                        format!(
                            "this node does not satisfy the constraint `{}` ({} is {shown}); group {:?} would not be placed here",
                            format!("{} {} {}", c.attribute, c.operator.as_str(), c.value).trim(),
                            c.attribute,
                            group.name
                        ),
                    ));
                }
            }
        }
        out
    }
}

/// What a job reserves: (cpu MHz, memory MB) summed over every task of
/// every instance, as Nomad's scheduler counts a placement.
pub fn demand(job: &Job) -> (u64, u64) {
    job.groups.iter().fold((0, 0), |(cpu, mem), g| {
        let n = u64::from(g.count);
        let (c, m) =
            g.tasks.iter().map(|t| t.resources.reserved()).fold((0u64, 0u64), |(c, m), (tc, tm)| (c + tc, m + tm));
        (cpu + n * c, mem + n * m)
    })
}

/// A job that does not fit on this node (Nomad's "Resources exhausted"):
/// what it needs (`cpu` MHz, `mem` MB), what the node has (unknown:
/// `None`), what other jobs hold, and the `dimensions` ("cpu", "memory")
/// that are exhausted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Resources exhausted: job {job:?} needs cpu {cpu} MHz and memory {mem} MB for {instances} instance(s); \
     this node has cpu {} MHz and memory {} MB, of which other jobs reserve {} MHz and {} MB — {} \
     (lower the job's `resources`, stop other jobs, or set cpu_total_compute / memory_total_mb in supd.toml)",
    shown(*total_cpu),
    shown(*total_mem),
    reserved.0,
    reserved.1,
    exhausted_list(dimensions)
)]
pub struct Exhausted {
    pub job: String,
    pub cpu: u64,
    pub mem: u64,
    pub instances: u32,
    pub total_cpu: Option<u64>,
    pub total_mem: Option<u64>,
    pub reserved: (u64, u64),
    pub dimensions: Vec<&'static str>,
}

fn shown(v: Option<u64>) -> String {
    v.map_or("unknown".to_string(), |v| v.to_string())
}

fn exhausted_list(dimensions: &[&str]) -> String {
    dimensions.iter().map(|d| format!("Dimension {d:?} exhausted")).collect::<Vec<_>>().join(", ")
}

/// Whether a job fits on this node beside `reserved` (cpu MHz, memory MB)
/// that other jobs hold: Nomad's "Resources exhausted" otherwise, with
/// the numbers. A total the node does not know is not checked.
pub fn fit(node: &Node, reserved: (u64, u64), job: &Job) -> Result<(), Exhausted> {
    let attr = |k: &str| node.attrs.get(k).and_then(|v| v.parse::<u64>().ok());
    let total_cpu = attr("cpu.totalcompute");
    let total_mem = attr("memory.totalbytes").map(|b| b / (1024 * 1024));
    let (cpu, mem) = demand(job);
    let mut dimensions = Vec::new();
    if total_cpu.is_some_and(|t| reserved.0 + cpu > t) {
        dimensions.push("cpu");
    }
    if total_mem.is_some_and(|t| reserved.1 + mem > t) {
        dimensions.push("memory");
    }
    if dimensions.is_empty() {
        return Ok(());
    }
    let instances: u32 = job.groups.iter().map(|g| g.count).sum();
    Err(Exhausted { job: job.id.clone(), cpu, mem, instances, total_cpu, total_mem, reserved, dimensions })
}

/// How many instances of a group a single host may hold under this
/// constraint, or `None` when it sets no such limit.
pub fn placement_limit(c: &Constraint) -> Option<u64> {
    match c.operator {
        Operator::DistinctHosts => Some(1),
        Operator::DistinctProperty => Some(c.value.parse().unwrap_or(1)),
        _ => None,
    }
}

/// Nomad's `checkConstraint`, with `None` for an unset attribute.
pub fn check(op: Operator, l: Option<&str>, r: Option<&str>) -> bool {
    use Operator::*;
    match op {
        Equal => matches!((l, r), (Some(a), Some(b)) if a == b),
        NotEqual => l != r,
        Less | LessEqual | Greater | GreaterEqual => match (l, r) {
            (Some(a), Some(b)) => {
                let o = order(a, b);
                match op {
                    Less => o.is_lt(),
                    LessEqual => o.is_le(),
                    Greater => o.is_gt(),
                    _ => o.is_ge(),
                }
            }
            _ => false,
        },
        IsSet => l.is_some(),
        IsNotSet => l.is_none(),
        Version => matches!((l, r), (Some(a), Some(b)) if version_match(a, b, false)),
        Semver => matches!((l, r), (Some(a), Some(b)) if version_match(a, b, true)),
        Regexp => matches!((l, r), (Some(a), Some(b)) if Regex::new(b).is_ok_and(|re| re.is_match(a))),
        SetContains | SetContainsAll => matches!((l, r), (Some(a), Some(b)) if {
            let have = set(a);
            set(b).iter().all(|x| have.contains(x))
        }),
        SetContainsAny => matches!((l, r), (Some(a), Some(b)) if {
            let have = set(a);
            set(b).iter().any(|x| have.contains(x))
        }),
        DistinctHosts | DistinctProperty => true,
    }
}

/// Integers if both parse, else floats if both parse, else text (so
/// `"1.10" < "1.9"` holds, as in Nomad — `version` is the operator for versions).
fn order(a: &str, b: &str) -> std::cmp::Ordering {
    if let (Ok(x), Ok(y)) = (a.parse::<i64>(), b.parse::<i64>()) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
    }
    a.cmp(b)
}

fn set(s: &str) -> Vec<&str> {
    s.split(',').map(str::trim).collect()
}

fn version_match(v: &str, c: &str, strict: bool) -> bool {
    if strict {
        let (Ok(v), Ok(c)) =
            (crate::jobspec::version::Version::parse_strict(v), crate::jobspec::version::Constraints::parse_strict(c))
        else {
            return false;
        };
        c.matches(&v)
    } else {
        let (Ok(v), Ok(c)) =
            (crate::jobspec::version::Version::parse_loose(v), crate::jobspec::version::Constraints::parse_loose(c))
        else {
            return false;
        };
        c.matches(&v)
    }
}

/// `*` matches any run of characters; nothing else is special.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "386",
        m if m.starts_with("armv") => "arm",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn os_release(text: &str) -> (Option<String>, Option<String>) {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    (field("ID"), field("VERSION_ID"))
}

fn cpu_info(text: &str) -> (usize, Option<u64>) {
    let cores = text.lines().filter(|l| l.starts_with("processor")).count();
    let mhz = text
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64);
    (cores, mhz)
}

fn mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Warnings for jobs this node cannot run as written: datacenters that
/// do not match, constraints it does not satisfy, counts that
/// `distinct_hosts` or `distinct_property` make impossible on one host.
pub fn placement_warnings(file: &str, jobs: &[Job], node: &Node) -> Vec<Diagnostic> {
    jobs.iter()
        .flat_map(|job| node.placement_problems(job))
        .map(|(pos, message)| Diagnostic {
            file: file.to_string(),
            line: Some(pos.line),
            column: Some(pos.column),
            severity: Severity::Warning,
            message,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobspec::diag::Pos;
    use Operator::*;

    #[test]
    fn jobs_fit_beside_what_runs_or_are_refused_with_the_numbers() {
        let parsed = crate::jobspec::parse_str(
            "big.hcl",
            r#"job "big" {
  group "g" {
    count = 3
    task "a" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      resources {
        cpu    = 1000
        memory = 512
      }
    }
    task "b" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      resources {}
    }
    task "c" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}"#,
        );
        assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
        let job = &parsed.jobs[0];
        // b has Nomad's defaults: 100 MHz, 300 MB; c, without a block,
        // reserves nothing.
        assert_eq!(demand(job), (3 * 1100, 3 * 812));
        let mut n = Node::bare("h", "dc1");
        assert!(fit(&n, (1_000_000, 1_000_000), job).is_ok(), "unknown totals are not checked");
        n.attrs.insert("cpu.totalcompute".into(), "5000".into());
        n.attrs.insert("memory.totalbytes".into(), (4096u64 << 20).to_string());
        assert!(fit(&n, (0, 0), job).is_ok());
        assert!(fit(&n, (1700, 1660), job).is_ok(), "exactly full fits");
        let e = fit(&n, (1701, 0), job).unwrap_err();
        assert_eq!(e.dimensions, ["cpu"]);
        let e = e.to_string();
        assert!(e.starts_with("Resources exhausted: job \"big\" needs cpu 3300 MHz and memory 2436 MB"), "{e}");
        assert!(
            e.contains("this node has cpu 5000 MHz and memory 4096 MB, of which other jobs reserve 1701 MHz and 0 MB"),
            "{e}"
        );
        assert!(e.contains("Dimension \"cpu\" exhausted") && !e.contains("\"memory\" exhausted"), "{e}");
        let e = fit(&n, (5000, 4096), job).unwrap_err().to_string();
        assert!(e.contains("Dimension \"cpu\" exhausted, Dimension \"memory\" exhausted"), "{e}");
    }

    #[test]
    fn an_isolated_task_is_a_problem_on_a_node_that_cannot_isolate() {
        let parsed = crate::jobspec::parse_str(
            "iso.hcl",
            r#"job "iso" {
  group "g" {
    task "plain" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
    task "jailed" {
      driver = "exec"
      config { command = "/bin/true" }
    }
  }
}
"#,
        );
        let job = &parsed.jobs[0];
        let mut n = node();
        let problems = n.placement_problems(job);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].0.line, problems[0].0.column), (7, 5), "{problems:?}");
        assert!(
            problems[0].1.contains("task \"jailed\" uses driver \"exec\"")
                && problems[0].1.contains("driver.exec is unset")
        );
        n.attrs.insert("driver.exec".into(), "1".into());
        assert!(n.placement_problems(job).is_empty());
    }

    #[test]
    fn detection_advertises_exec_only_where_tasks_can_be_isolated() {
        let n = Node::detect();
        assert_eq!(n.attrs.contains_key("driver.exec"), crate::process::isolate::missing().is_none());
        assert!(n.attrs.contains_key("driver.raw_exec"));
    }

    fn node() -> Node {
        let mut n = Node::bare("web-1", "dc1");
        for (k, v) in [
            ("kernel.name", "linux"),
            ("kernel.version", "6.18.0-1-amd64"),
            ("cpu.numcores", "2"),
            ("os.version", "1.10"),
            ("os.name", "debian"),
            ("features", "sse,avx, avx2"),
        ] {
            n.attrs.insert(k.into(), v.into());
        }
        n.meta.insert("rack".into(), "r12".into());
        n.class = Some("edge".into());
        n
    }

    fn holds(attr: &str, op: Operator, value: &str) -> bool {
        node().satisfies(&Constraint { attribute: attr.into(), operator: op, value: value.into(), pos: Pos::default() })
    }

    #[test]
    fn equality_and_unset() {
        assert!(holds("${attr.kernel.name}", Equal, "linux"));
        assert!(!holds("${attr.kernel.name}", Equal, "windows"));
        assert!(!holds("${attr.nope}", Equal, "linux"));
        assert!(holds("${attr.kernel.name}", NotEqual, "windows"));
        assert!(holds("${attr.nope}", NotEqual, "linux"), "!= holds when the attribute is unset");
        assert!(!holds("${attr.nope}", NotEqual, "${attr.also_nope}"));
        assert!(holds("${node.unique.name}", Equal, "web-1"));
        assert!(holds("${node.datacenter}", Equal, "dc1"));
        assert!(holds("${node.class}", Equal, "edge"));
        assert!(holds("${node.region}", Equal, "global"));
        assert!(holds("${meta.rack}", Equal, "r12"));
        assert!(holds("${attr.kernel.name}", Equal, "${attr.kernel.name}"));
    }

    #[test]
    fn ordering_int_float_text() {
        assert!(holds("${attr.cpu.numcores}", GreaterEqual, "2"));
        assert!(holds("${attr.cpu.numcores}", Less, "10"), "integers compare as numbers");
        assert!(!holds("${attr.cpu.numcores}", Greater, "2"));
        assert!(holds("${attr.cpu.numcores}", LessEqual, "2"));
        assert!(holds("${attr.os.version}", Less, "1.9"), "\"1.10\" < \"1.9\" as floats");
        assert!(holds("${attr.os.name}", Less, "fedora"), "text compares lexically");
        assert!(!holds("${attr.nope}", Less, "1"));
    }

    #[test]
    fn versions() {
        assert!(holds("6.18.0", Version, ">= 4.0, < 7.0"));
        assert!(!holds("6.18.0", Version, ">= 7.0"));
        // As with go-version, "-1-amd64" reads as a pre-release, which only
        // a pre-release constraint on the same base matches.
        assert!(!holds("${attr.kernel.version}", Version, ">= 4.0"));
        assert!(holds("${attr.kernel.version}", Version, ">= 6.18.0-0"));
        assert!(holds("${attr.os.version}", Version, "> 1.9"));
        assert!(holds("${attr.os.version}", Version, "~> 1.4"));
        assert!(holds("6.2.0", Semver, ">= 6.0.0, < 7.0.0"));
        assert!(!holds("${attr.os.version}", Semver, ">= 1.0.0"), "1.10 is not a semantic version");
        assert!(!holds("${attr.nope}", Version, ">= 1.0"));
    }

    #[test]
    fn regexp_and_sets() {
        assert!(holds("${attr.kernel.version}", Regexp, "^6\\."));
        assert!(holds("${attr.kernel.version}", Regexp, "amd64"), "unanchored");
        assert!(!holds("${attr.kernel.version}", Regexp, "^5"));
        assert!(holds("${attr.features}", SetContains, "avx,sse"));
        assert!(holds("${attr.features}", SetContainsAll, "avx2, sse"));
        assert!(!holds("${attr.features}", SetContainsAll, "avx,neon"));
        assert!(holds("${attr.features}", SetContainsAny, "neon,avx"));
        assert!(!holds("${attr.features}", SetContainsAny, "neon,sve"));
    }

    #[test]
    fn presence() {
        assert!(holds("${meta.rack}", IsSet, ""));
        assert!(!holds("${meta.zone}", IsSet, ""));
        assert!(holds("${meta.zone}", IsNotSet, ""));
        assert!(!holds("${attr.kernel.name}", IsNotSet, ""));
        assert!(holds("", DistinctHosts, "true"));
        assert!(holds("${meta.rack}", DistinctProperty, "2"));
    }

    #[test]
    fn datacenter_globs() {
        let n = node();
        assert!(n.in_datacenters(&["dc1".into()]));
        assert!(n.in_datacenters(&["*".into()]));
        assert!(n.in_datacenters(&["d*".into()]));
        assert!(n.in_datacenters(&["eu".into(), "*1".into()]));
        assert!(!n.in_datacenters(&["dc2".into(), "eu-*".into()]));
        assert!(glob("a*b*c", "aXXbYYc") && !glob("a*b*c", "aXXc") && !glob("ab*ba", "aba"));
    }

    #[test]
    fn detection_reads_this_host() {
        let n = Node::detect();
        assert_eq!(n.attrs.get("kernel.name").map(String::as_str), Some("linux"));
        let cores: usize = n.attrs["cpu.numcores"].parse().unwrap();
        assert!(cores >= 1);
        let mem: u64 = n.attrs["memory.totalbytes"].parse().unwrap();
        assert!(mem > 64 << 20);
        assert!(!n.attrs["unique.hostname"].is_empty());
        assert_eq!(n.datacenter, "dc1");
    }

    #[test]
    fn parsers() {
        assert_eq!(
            os_release("NAME=\"Debian\"\nID=debian\nVERSION_ID=\"12\"\n"),
            (Some("debian".into()), Some("12".into()))
        );
        assert_eq!(cpu_info("processor\t: 0\ncpu MHz\t\t: 2999.998\nprocessor\t: 1\n"), (2, Some(2999)));
        assert_eq!(mem_total("MemTotal:       24000000 kB\n"), Some(24_576_000_000));
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
    }
}
