//! Where supd keeps things when nothing says otherwise: the embedded
//! defaults of DESIGN §4, shared by supd and supctl so that both find the
//! same socket.

use std::path::PathBuf;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("supd"),
        _ => PathBuf::from(format!("/tmp/supd-{}", nix::unistd::geteuid())),
    }
}

/// `/etc/supd/jobs` as root, else `$XDG_CONFIG_HOME/supd/jobs`.
pub fn default_job_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/etc/supd/jobs");
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/supd-{}", nix::unistd::geteuid())));
    base.join("supd").join("jobs")
}

/// `/var/log/supd` as root, else `$XDG_STATE_HOME/supd/logs`
/// (`~/.local/state/supd/logs`).
pub fn default_log_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/log/supd");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/supd-{}", nix::unistd::geteuid())));
    base.join("supd").join("logs")
}

/// `/var/lib/supd` as root, else `$XDG_STATE_HOME/supd/state`.
pub fn default_state_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/lib/supd");
    }
    default_log_dir().parent().map_or_else(|| PathBuf::from("/tmp"), |d| d.join("state"))
}

/// `/run/supd/supd.sock` as root, else `$XDG_RUNTIME_DIR/supd/supd.sock`
/// (or `/tmp/supd-$UID/supd.sock`).
pub fn default_socket() -> PathBuf {
    if is_root() { PathBuf::from("/run/supd/supd.sock") } else { runtime_dir().join("supd.sock") }
}

/// `/etc/supd/supd.toml` as root, else `$XDG_CONFIG_HOME/supd/supd.toml`.
pub fn default_config_file() -> PathBuf {
    if is_root() {
        return PathBuf::from("/etc/supd/supd.toml");
    }
    default_job_dir().parent().map_or_else(|| PathBuf::from("supd.toml"), |d| d.join("supd.toml"))
}

/// `supd.toml`. Every key is optional; command-line flags override it.
/// Unknown keys are errors with their line and column.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// This node's name (`node.unique.name`). Default: the host name.
    pub node_name: Option<String>,
    /// `node.datacenter`. Default: `dc1`.
    pub datacenter: Option<String>,
    /// `node.region`. Default: `global`.
    pub region: Option<String>,
    /// `node.class`. Default: unset.
    pub node_class: Option<String>,
    /// The job directory. Default: see [`default_job_dir`].
    pub job_dir: Option<PathBuf>,
    /// The control socket. Default: see [`default_socket`].
    pub socket: Option<PathBuf>,
    /// A group whose members may use the socket (mode 0660). Default: none (0600).
    pub socket_group: Option<String>,
    /// Task output. Default: see [`default_log_dir`].
    pub log_dir: Option<PathBuf>,
    /// What survives a restart of supd. Default: see [`default_state_dir`].
    pub state_dir: Option<PathBuf>,
    /// `stderr` or `syslog`. Default: `stderr`.
    pub log: Option<LogTarget>,
    /// `error`, `warn`, `info`, `debug` or `trace`. Default: `info`.
    pub log_level: Option<String>,
    /// The cgroup that holds the tasks' cgroups: relative to supd's own
    /// cgroup, or from the root of each hierarchy with a leading `/`.
    /// Default: `supd`.
    pub cgroup_parent: Option<String>,
    /// A task's `cpu` becomes a hard quota (MHz of the cores' speed)
    /// instead of a proportional weight. Default: false.
    pub cpu_hard_limit: Option<bool>,
    /// `attr.cpu.totalcompute` in MHz, what jobs may reserve in all.
    /// Default: MHz × cores from /proc/cpuinfo.
    pub cpu_total_compute: Option<u64>,
    /// `attr.memory.totalbytes` in MB. Default: MemTotal of /proc/meminfo.
    pub memory_total_mb: Option<u64>,
    #[serde(default)]
    pub node: NodeSection,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// `meta.*` of this node, for constraints and `${meta.*}`.
    #[serde(default)]
    pub meta: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Stderr,
    Syslog,
}

impl File {
    /// Reads a configuration file. `required` is false for the default
    /// path, which may be absent.
    pub fn load(path: &std::path::Path, required: bool) -> Result<File, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            // The default file is optional: absent, or another user's
            // (supctl run by someone else), it is simply not used.
            Err(e)
                if !required
                    && matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) =>
            {
                return Ok(File::default());
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        File::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
    }

    /// Parses the text; errors start with `LINE:COL: `.
    pub fn parse(text: &str) -> Result<File, String> {
        toml::from_str::<File>(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (line, col)
            });
            format!("{line}:{col}: {}", e.message())
        })
    }

    /// Applies the node settings to a detected node.
    pub fn apply_to(&self, node: &mut crate::node::Node) {
        if let Some(n) = &self.node_name {
            node.name = n.clone();
        }
        if let Some(d) = &self.datacenter {
            node.datacenter = d.clone();
        }
        if let Some(r) = &self.region {
            node.region = r.clone();
        }
        if let Some(c) = &self.node_class {
            node.class = Some(c.clone());
        }
        node.meta.extend(self.node.meta.clone());
        if let Some(mhz) = self.cpu_total_compute {
            node.attrs.insert("cpu.totalcompute".into(), mhz.to_string());
        }
        if let Some(mb) = self.memory_total_mb {
            node.attrs.insert("memory.totalbytes".into(), mb.saturating_mul(1024 * 1024).to_string());
        }
    }

    /// What the cgroups of tasks are set up with.
    pub fn cgroup_options(&self, node: &crate::node::Node) -> crate::process::cgroup::Options {
        let attr = |k: &str| node.attrs.get(k).and_then(|v| v.parse::<u64>().ok());
        // The speed of one core: the configured total spread over the
        // cores, else what /proc/cpuinfo says.
        let mhz_per_core = match (self.cpu_total_compute, attr("cpu.numcores")) {
            (Some(total), Some(cores)) if cores > 0 => Some(total / cores),
            _ => attr("cpu.frequency"),
        };
        crate::process::cgroup::Options {
            parent: self.cgroup_parent.clone().unwrap_or_else(|| "supd".into()),
            hard_cpu: self.cpu_hard_limit.unwrap_or(false),
            mhz_per_core,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key() {
        let f = File::parse(
            r#"
node_name = "web-1"
datacenter = "eu-west"
region = "eu"
node_class = "edge"
job_dir = "/srv/jobs"
socket = "/run/x.sock"
socket_group = "ops"
log_dir = "/srv/logs"
state_dir = "/srv/state"
log = "syslog"
log_level = "debug"
cgroup_parent = "/tasks"
cpu_hard_limit = true
cpu_total_compute = 8000
memory_total_mb = 2048
[node.meta]
rack = "r12"
"#,
        )
        .unwrap();
        assert_eq!(f.node_name.as_deref(), Some("web-1"));
        assert_eq!(f.log, Some(LogTarget::Syslog));
        assert_eq!(f.node.meta["rack"], "r12");
        let mut n = crate::node::Node::bare("h", "dc1");
        f.apply_to(&mut n);
        assert_eq!((n.name.as_str(), n.datacenter.as_str(), n.region.as_str()), ("web-1", "eu-west", "eu"));
        assert_eq!(n.class.as_deref(), Some("edge"));
        assert_eq!(n.resolve("${meta.rack}").as_deref(), Some("r12"));
        assert_eq!(n.resolve("${attr.cpu.totalcompute}").as_deref(), Some("8000"));
        assert_eq!(n.resolve("${attr.memory.totalbytes}").as_deref(), Some("2147483648"));
        n.attrs.insert("cpu.numcores".into(), "4".into());
        let o = f.cgroup_options(&n);
        assert_eq!((o.parent.as_str(), o.hard_cpu, o.mhz_per_core), ("/tasks", true, Some(2000)));
        assert_eq!(File::default().cgroup_options(&n).parent, "supd");
    }

    #[test]
    fn unknown_keys_and_bad_values_point_at_their_place() {
        let e = File::parse("datacenter = \"dc2\"\nlog_levl = \"debug\"\n").unwrap_err();
        assert!(e.starts_with("2:1: unknown field `log_levl`"), "{e}");
        let e = File::parse("log = \"journal\"\n").unwrap_err();
        assert!(e.starts_with("1:7: unknown variant `journal`"), "{e}");
        assert_eq!(File::parse("").unwrap(), File::default());
    }

    #[test]
    fn a_missing_default_file_is_fine_a_named_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("supd.toml");
        assert_eq!(File::load(&p, false).unwrap(), File::default());
        assert!(File::load(&p, true).unwrap_err().contains("cannot read"));
        std::fs::write(&p, "node_name = 3\n").unwrap();
        let e = File::load(&p, true).unwrap_err();
        assert!(e.starts_with(&format!("{}:1:13: invalid type", p.display())), "{e}");
    }
}

#[cfg(test)]
mod example {
    /// The example shipped in packaging/ parses, and names every key.
    #[test]
    fn packaged_example_parses_and_documents_every_key() {
        let text = include_str!("../packaging/supd.toml");
        let file = super::File::parse(text).expect("the example parses");
        assert_eq!(file, super::File::default(), "the example only shows defaults, commented out");
        let uncommented: String = text
            .lines()
            .map(|l| l.strip_prefix('#').filter(|r| r.contains(" = ") && !r.starts_with(' ')).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let all = super::File::parse(&uncommented).expect("every key of the example, uncommented, parses");
        assert!(all.node_name.is_some() && all.datacenter.is_some() && all.region.is_some());
        assert!(all.node_class.is_some() && all.job_dir.is_some() && all.socket.is_some());
        assert!(all.socket_group.is_some() && all.log_dir.is_some() && all.log.is_some() && all.log_level.is_some());
        assert!(all.state_dir.is_some());
        assert!(all.cgroup_parent.is_some() && all.cpu_hard_limit.is_some());
        assert!(all.cpu_total_compute.is_some() && all.memory_total_mb.is_some());
        assert!(!all.node.meta.is_empty());
    }
}
