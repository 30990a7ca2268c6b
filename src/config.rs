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

/// Whether the system's places are the defaults: as root, and as PID 1 (a
/// container's init, whatever `--user` it runs as: the image's layout is
/// the system's).
fn system_defaults() -> bool {
    is_root() || std::process::id() == 1
}

/// `/etc/supd/jobs` as root or PID 1, else `$XDG_CONFIG_HOME/supd/jobs`.
pub fn default_job_dir() -> PathBuf {
    if system_defaults() {
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
        .or_else(|| usable_home().map(|h| h.join(".local").join("state")))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/supd-{}", nix::unistd::geteuid())));
    base.join("supd").join("logs")
}

/// `$HOME` when supd may write below it. A user without a home (a
/// container run with `--user 1234:1234` has `HOME=/`) gets the fallback
/// below /tmp instead, as the socket does.
fn usable_home() -> Option<PathBuf> {
    let home = PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?);
    let writable = |p: &std::path::Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    let local = home.join(".local");
    let ok = if local.is_dir() { writable(&local) } else { home != std::path::Path::new("/") && writable(&home) };
    ok.then_some(home)
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

/// Where supd keeps what it must write when its default place cannot be
/// written (a container run with `--read-only`, or as a `--user` whose
/// home and `/tmp` are not writable): `/dev/shm/supd` as root, else
/// `/dev/shm/supd-$UID` — Docker's one default tmpfs.
pub fn fallback_base() -> PathBuf {
    if is_root() {
        PathBuf::from("/dev/shm/supd")
    } else {
        PathBuf::from(format!("/dev/shm/supd-{}", nix::unistd::geteuid()))
    }
}

/// A default directory, or `fallback_base()/sub` when it cannot be
/// written or made (a read-only root: its nearest existing parent is not
/// writable); the flag says it fell back. Nothing is made here: each
/// directory is made by its owner, with its own mode.
pub fn writable_or_fallback(default: PathBuf, sub: &str) -> (PathBuf, bool) {
    let usable = |d: &std::path::Path| {
        let mut at = Some(d);
        while let Some(p) = at {
            if p.exists() {
                return nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
            }
            at = p.parent();
        }
        false
    };
    if usable(&default) {
        return (default, false);
    }
    let fallback = fallback_base().join(sub);
    if usable(&fallback) { (fallback, true) } else { (default, false) }
}

/// The socket supctl talks to when none is given: the default one, or the
/// fallback's when only that one exists (supd runs with a read-only root).
pub fn default_socket_to_find() -> PathBuf {
    let default = default_socket();
    let fallback = fallback_base().join("supd.sock");
    if !default.exists() && fallback.exists() { fallback } else { default }
}

/// `/etc/supd/supd.toml` as root or PID 1, else
/// `$XDG_CONFIG_HOME/supd/supd.toml`.
pub fn default_config_file() -> PathBuf {
    if system_defaults() {
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
    /// The group task logs (and their directories) are given, e.g. `adm`:
    /// its members read them. Default: none (root's group).
    pub log_group: Option<String>,
    /// Ended runs kept per periodic or parameterized job, with their
    /// allocation directories (Nomad's client keeps 50 terminal allocations
    /// in all, `gc_max_allocs`). Default: 10.
    pub keep_ended_runs: Option<usize>,
    /// Task output. Default: see [`default_log_dir`].
    pub log_dir: Option<PathBuf>,
    /// What survives a restart of supd. Default: see [`default_state_dir`].
    pub state_dir: Option<PathBuf>,
    /// Where the allocation directories go: `<data_dir>/alloc/<alloc id>/`.
    /// Default: the state directory (`/var/lib/supd` as root).
    pub data_dir: Option<PathBuf>,
    /// `stderr` or `syslog`. Default: `stderr`.
    pub log: Option<LogTarget>,
    /// What SIGHUP does: `reload` the job directory, or `forward` it to
    /// every task (as a container's init passes signals on). Default:
    /// `reload`.
    pub sighup: Option<Sighup>,
    /// `error`, `warn`, `info`, `debug` or `trace`. Default: `info`.
    pub log_level: Option<String>,
    /// Where task output goes: `files`, `journal`, `stdout`,
    /// `files+journal` or `files+stdout`. Default: `stdout` as PID 1,
    /// else `files`.
    pub task_output: Option<toml::Spanned<String>>,
    /// The journal's native socket. Default: `/run/systemd/journal/socket`.
    pub journal_socket: Option<PathBuf>,
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
    /// `IP:port` of the Prometheus endpoint (`/metrics`). Default: none.
    pub metrics_listen: Option<toml::Spanned<String>>,
    #[serde(default)]
    pub node: NodeSection,
    /// Peer hosts a failed instance may be handed to, in order of preference.
    #[serde(default, rename = "peer")]
    pub peers: Vec<toml::Spanned<Peer>>,
    pub handoff: Option<toml::Spanned<Handoff>>,
    /// What one `artifact` download may take.
    pub artifact: Option<ArtifactSection>,
    /// How large what supd makes from a job's content may be.
    pub limits: Option<LimitsSection>,
    /// `[driver.docker]`, `[driver.podman]`: the container engines and what
    /// their tasks may do; `[driver.exec]`: what isolated tasks are made of.
    #[serde(default)]
    pub driver: DriverSection,
}

/// `[artifact]`: the limits of one artifact's download and unpacking.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSection {
    /// Megabytes one download may have. Default: 1024.
    pub max_download_mb: Option<u64>,
    /// Megabytes one archive may unpack to. Default: 4096.
    pub max_unpacked_mb: Option<u64>,
    /// Entries one archive may hold. Default: 4096.
    pub max_files: Option<u64>,
    /// The whole of one download. Default: `30m`.
    pub timeout: Option<toml::Spanned<String>>,
    /// Directories of this host whose files `file://` (or absolute path)
    /// artifacts may copy. Default: none, as Nomad sandboxes its fetcher.
    pub file_roots: Option<toml::Spanned<Vec<String>>>,
}

/// `[limits]`: how large what supd makes from a job's content may be.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Bytes one template's rendered output may have. Default: 16777216
    /// (16 MiB).
    pub template_bytes: Option<toml::Spanned<u64>>,
}

/// `[driver.*]` sections.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverSection {
    #[serde(default)]
    pub docker: DockerSection,
    /// `[driver.podman]`: the same keys, for podman's Docker-compatible
    /// service; its `endpoint` defaults to Nomad's podman driver's
    /// (`unix:///run/podman/podman.sock` as root, else
    /// `unix:///run/user/UID/podman/podman.sock`), never `DOCKER_HOST`.
    #[serde(default)]
    pub podman: DockerSection,
    #[serde(default)]
    pub exec: ExecSection,
    #[serde(default)]
    pub java: JavaSection,
}

/// `[driver.java]`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JavaSection {
    /// The `java` program. Default: the first `java` on supd's PATH.
    pub java_path: Option<PathBuf>,
}

impl JavaSection {
    pub fn settings(&self) -> crate::drivers::java::Settings {
        crate::drivers::java::Settings { java_path: self.java_path.clone() }
    }
}

/// `[driver.exec]`: what isolated (`exec`) tasks are made of and may do.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSection {
    /// Host path = path in the task's root, each bind-mounted read-only.
    /// Default: Nomad's list (/bin, /etc, /lib, /lib32, /lib64,
    /// /run/resolvconf, /sbin, /usr).
    pub chroot_env: Option<std::collections::BTreeMap<String, String>>,
    /// Capabilities a task may have. Default: Nomad's list.
    pub allow_caps: Option<Vec<String>>,
    /// Tasks may set `pid_mode = "host"`. Default: false.
    #[serde(default)]
    pub allow_host_pid: bool,
    /// Tasks may set `ipc_mode = "host"`. Default: false.
    #[serde(default)]
    pub allow_host_ipc: bool,
    /// Users a task may not run as. Default: `["root"]`.
    pub user_denylist: Option<Vec<String>>,
    /// supd's variables tasks do not get. Default: Nomad's `env.denylist`.
    pub env_denylist: Option<Vec<String>>,
}

impl ExecSection {
    pub fn settings(&self) -> crate::drivers::exec::Settings {
        crate::drivers::exec::Settings {
            chroot_env: self.chroot_env.as_ref().map(|m| m.clone().into_iter().collect()),
            allow_caps: self.allow_caps.clone(),
            allow_host_pid: self.allow_host_pid,
            allow_host_ipc: self.allow_host_ipc,
            user_denylist: self.user_denylist.clone(),
            env_denylist: self.env_denylist.clone(),
        }
    }
}

/// `[driver.docker]`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSection {
    /// `unix:///path`. Default: `DOCKER_HOST`, else `unix:///var/run/docker.sock`.
    pub endpoint: Option<String>,
    /// Tasks may ask for `privileged = true`. Default: false.
    #[serde(default)]
    pub allow_privileged: bool,
    /// Capabilities `cap_add` may name. Default: Nomad's list.
    pub allow_caps: Option<Vec<String>>,
    /// Volumes may name host paths outside the task directory, and named
    /// volumes. Default: false.
    #[serde(default)]
    pub allow_volumes: bool,
}

impl DockerSection {
    pub fn settings(&self) -> crate::drivers::docker::Settings {
        crate::drivers::docker::Settings {
            endpoint: self.endpoint.clone(),
            allow_privileged: self.allow_privileged,
            allow_caps: self.allow_caps.clone(),
            allow_volumes: self.allow_volumes,
        }
    }
}

/// A `[[peer]]`: a host running supd that may take over failed work.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The peer's node name, as it appears in statuses and hand-off histories.
    pub name: String,
    /// Host name or address for ssh.
    pub host: String,
    /// ssh port. Default: ssh's (22, or the user's ssh config).
    pub port: Option<u16>,
    /// Remote user. Default: ssh's (the user supd runs as, or ssh config).
    pub user: Option<String>,
    /// The private key (`ssh -i`). Default: ssh's.
    pub identity_file: Option<PathBuf>,
    /// Extra ssh options, each `Key=Value`, passed as `-o Key=Value`.
    #[serde(default)]
    pub ssh_options: Vec<String>,
    /// The supctl program on the peer. Default: `supctl`.
    pub supctl: Option<String>,
}

/// `[handoff]`: how failed work leaves this host, and whether work may arrive.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// `ssh` (default) or `command`.
    pub method: Option<HandoffMethod>,
    /// The program and arguments of the command hook (no shell).
    pub command: Option<Vec<String>>,
    /// What the command hook reads on stdin: `envelope` (default) or `hcl`.
    pub stdin: Option<HandoffStdin>,
    /// How long one hand-off attempt to one peer may take. Default: `30s`.
    pub timeout: Option<toml::Spanned<String>>,
    /// ssh's ConnectTimeout. Default: `10s`.
    pub connect_timeout: Option<toml::Spanned<String>>,
    /// Whether this host takes work handed off by peers. Default: false.
    pub accept: Option<bool>,
    /// The peers whose hand-offs this host takes. Default: every [[peer]].
    pub accept_from: Option<Vec<String>>,
    /// The drivers a peer's tasks may use here. Default: every driver.
    pub drivers: Option<Vec<String>>,
    /// The users a peer's tasks may run as here. Default: any.
    pub users: Option<Vec<String>>,
    /// Whether a peer's `raw_exec` task may run as root (without `user`, or
    /// as root). Default: false.
    pub raw_exec_as_root: Option<bool>,
    /// How often the origin asks each peer about its handed-off work.
    /// Default: `30s`.
    pub poll_interval: Option<toml::Spanned<String>>,
    /// How long a peer holding handed-off work may stay unreachable before
    /// the work is taken as lost there and handed off again. Default: `5m`.
    pub lost_after: Option<toml::Spanned<String>>,
    /// Allow `ssh_options` that weaken host key checking (warned at every
    /// start). Default: false.
    pub insecure_host_keys: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffMethod {
    Ssh,
    Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffStdin {
    Envelope,
    Hcl,
}

/// The hand-off settings, checked and with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffSettings {
    pub peers: Vec<Peer>,
    /// `None`: ssh to each peer; `Some`: this command.
    pub command: Option<Vec<String>>,
    pub hcl_stdin: bool,
    pub timeout: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    pub accept: bool,
    /// `None`: every [[peer]].
    pub accept_from: Option<Vec<String>>,
    pub drivers: Option<Vec<String>>,
    pub users: Option<Vec<String>>,
    pub raw_exec_as_root: bool,
    pub poll_interval: std::time::Duration,
    pub lost_after: std::time::Duration,
    pub insecure_host_keys: bool,
}

impl Default for HandoffSettings {
    fn default() -> Self {
        HandoffSettings {
            peers: Vec::new(),
            command: None,
            hcl_stdin: false,
            timeout: std::time::Duration::from_secs(30),
            connect_timeout: std::time::Duration::from_secs(10),
            accept: false,
            accept_from: None,
            drivers: None,
            users: None,
            raw_exec_as_root: false,
            poll_interval: std::time::Duration::from_secs(30),
            lost_after: std::time::Duration::from_secs(300),
            insecure_host_keys: false,
        }
    }
}

impl HandoffSettings {
    /// Whether this host takes hand-offs from the peer `name`.
    pub fn accepts_from(&self, name: &str) -> bool {
        match &self.accept_from {
            Some(list) => list.iter().any(|n| n == name),
            None => self.peers.iter().any(|p| p.name == name),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// `meta.*` of this node, for constraints and `${meta.*}`.
    #[serde(default)]
    pub meta: std::collections::BTreeMap<String, String>,
}

/// What SIGHUP does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Sighup {
    /// Re-read the job directory (`supctl reload`).
    #[default]
    Reload,
    /// Pass it on to every running task.
    Forward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Stderr,
    Syslog,
}

/// A supd.toml that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{invalid}", path.display())]
    Invalid { path: PathBuf, invalid: Invalid },
}

/// What is wrong in a supd.toml's text, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct Invalid {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl File {
    /// Reads a configuration file. `required` is false for the default
    /// path, which may be absent.
    pub fn load(path: &std::path::Path, required: bool) -> Result<File, ConfigError> {
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
            Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
        };
        File::parse(&text).map_err(|invalid| ConfigError::Invalid { path: path.to_path_buf(), invalid })
    }

    /// The file named with `--config` (which must exist), or else the
    /// default one when it exists.
    pub fn load_given_or_default(given: Option<&std::path::Path>) -> Result<File, ConfigError> {
        match given {
            Some(path) => File::load(path, true),
            None => File::load(&default_config_file(), false),
        }
    }

    /// Parses the text; an error says where (`LINE:COL: `) and what.
    pub fn parse(text: &str) -> Result<File, Invalid> {
        let at = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = span.map_or((1, 1), |s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (line, col)
            });
            Invalid { line, column, message }
        };
        let file = toml::from_str::<File>(text).map_err(|e| at(e.span(), e.message().to_string()))?;
        file.handoff_settings().map_err(|(span, message)| at(span, message))?;
        if let Some(t) = &file.task_output {
            crate::jobspec::model::TaskOutput::parse(t.get_ref()).map_err(|e| at(Some(t.span()), e.to_string()))?;
        }
        file.artifact_limits().map_err(|(span, message)| at(span, message))?;
        file.template_bytes().map_err(|(span, message)| at(span, message))?;
        file.metrics_addr().map_err(|(span, message)| at(span, message))?;
        Ok(file)
    }

    /// `task_output`, when set (and valid: [`File::parse`] checked it).
    pub fn task_output(&self) -> Option<crate::jobspec::model::TaskOutput> {
        self.task_output.as_ref().and_then(|t| crate::jobspec::model::TaskOutput::parse(t.get_ref()).ok())
    }

    /// The `[artifact]` limits with their defaults, or the problem and where.
    pub fn artifact_limits(&self) -> Result<crate::taskdir::Limits, (Option<std::ops::Range<usize>>, String)> {
        let mut out = crate::taskdir::Limits::default();
        let Some(a) = &self.artifact else { return Ok(out) };
        let mb = |v: u64| v.saturating_mul(1 << 20);
        if let Some(v) = a.max_download_mb {
            out.max_download = mb(v);
        }
        if let Some(v) = a.max_unpacked_mb {
            out.max_unpacked = mb(v);
        }
        if let Some(v) = a.max_files {
            out.max_files = v;
        }
        if let Some(roots) = &a.file_roots {
            for r in roots.get_ref() {
                let p = std::path::Path::new(r);
                if !p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                    return Err((
                        Some(roots.span()),
                        format!(
                            "[artifact] file_roots: {r:?} is not an absolute path without `..`, e.g. \"/srv/artifacts\""
                        ),
                    ));
                }
                out.file_roots.push(p.to_path_buf());
            }
        }
        if let Some(t) = &a.timeout {
            out.timeout = match crate::jobspec::duration::parse(t.get_ref()) {
                Ok(d) if d.value.is_zero() => {
                    return Err((Some(t.span()), "[artifact] timeout must be more than 0s, e.g. \"10m\"".into()));
                }
                Ok(d) => d.value,
                Err(e) => return Err((Some(t.span()), format!("[artifact] timeout: {e}"))),
            };
        }
        Ok(out)
    }

    /// `template_bytes` under `[limits]`, or its default, or the problem
    /// and where it is.
    pub fn template_bytes(&self) -> Result<u64, (Option<std::ops::Range<usize>>, String)> {
        let default = crate::taskdir::render::MAX_FILE;
        let Some(b) = self.limits.as_ref().and_then(|l| l.template_bytes.as_ref()) else { return Ok(default) };
        match *b.get_ref() {
            0 => Err((
                Some(b.span()),
                format!("[limits] template_bytes must be more than 0, e.g. {default} (16 MiB, the default)"),
            )),
            v => Ok(v),
        }
    }

    /// Where the metrics endpoint listens (`metrics_listen`), or the
    /// problem and where it is. Only an address: a name would need a
    /// lookup, and which address it gives may change.
    pub fn metrics_addr(&self) -> Result<Option<std::net::SocketAddr>, (Option<std::ops::Range<usize>>, String)> {
        let Some(spanned) = &self.metrics_listen else { return Ok(None) };
        spanned.get_ref().parse().map(Some).map_err(|_| {
            (
                Some(spanned.span()),
                format!(
                    "metrics_listen {:?} is not an IP address and port — write e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"",
                    spanned.get_ref()
                ),
            )
        })
    }

    /// The `[[peer]]` and `[handoff]` settings with their defaults, or the
    /// first problem and where it is.
    pub fn handoff_settings(&self) -> Result<HandoffSettings, (Option<std::ops::Range<usize>>, String)> {
        let mut out = HandoffSettings {
            peers: self.peers.iter().map(|p| p.get_ref().clone()).collect(),
            ..HandoffSettings::default()
        };
        let Some(spanned) = &self.handoff else { return self.check_peers(out) };
        let (h, here) = (spanned.get_ref(), Some(spanned.span()));
        let duration = |v: &Option<toml::Spanned<String>>, key: &str| match v {
            None => Ok(None),
            Some(s) => match crate::jobspec::duration::parse(s.get_ref()) {
                Ok(d) if d.value.is_zero() => {
                    Err((Some(s.span()), format!("[handoff] {key} must be more than 0s, e.g. \"30s\"")))
                }
                Ok(d) => Ok(Some(d.value)),
                Err(e) => Err((Some(s.span()), format!("[handoff] {key}: {e}"))),
            },
        };
        if let Some(d) = duration(&h.timeout, "timeout")? {
            out.timeout = d;
        }
        if let Some(d) = duration(&h.connect_timeout, "connect_timeout")? {
            out.connect_timeout = d;
        }
        if let Some(d) = duration(&h.poll_interval, "poll_interval")? {
            out.poll_interval = d;
        }
        if let Some(d) = duration(&h.lost_after, "lost_after")? {
            out.lost_after = d;
        }
        out.accept = h.accept.unwrap_or(false);
        out.accept_from.clone_from(&h.accept_from);
        out.drivers.clone_from(&h.drivers);
        out.users.clone_from(&h.users);
        out.raw_exec_as_root = h.raw_exec_as_root.unwrap_or(false);
        out.insecure_host_keys = h.insecure_host_keys.unwrap_or(false);
        let drivers: Vec<&str> = crate::drivers::all().map(|d| d.name).collect();
        if let Some(d) = h.drivers.iter().flatten().find(|d| !drivers.contains(&d.as_str())) {
            return Err((here, format!("[handoff] drivers: {d:?} is not a driver supd runs ({})", drivers.join(", "))));
        }
        out.hcl_stdin = h.stdin == Some(HandoffStdin::Hcl);
        match (h.method, &h.command) {
            (Some(HandoffMethod::Command) | None, Some(c)) if !c.is_empty() && !c[0].is_empty() => {
                out.command = Some(c.clone())
            }
            (_, Some(_)) if h.method != Some(HandoffMethod::Ssh) => {
                return Err((
                    here,
                    "[handoff] command is empty — name a program, e.g. [\"nomad\", \"job\", \"run\", \"-\"]".into(),
                ));
            }
            (Some(HandoffMethod::Ssh), Some(_)) => {
                return Err((here, "[handoff] has method = \"ssh\" and a command — remove one of them".into()));
            }
            (Some(HandoffMethod::Command), None) => {
                return Err((
                    here,
                    "[handoff] method = \"command\" needs `command = [\"program\", \"arg\", ...]`".into(),
                ));
            }
            _ => {}
        }
        if h.stdin.is_some() && out.command.is_none() {
            return Err((
                here,
                "[handoff] stdin only applies to the command hook — set `command`, or remove `stdin`".into(),
            ));
        }
        self.check_peers(out)
    }

    fn check_peers(&self, out: HandoffSettings) -> Result<HandoffSettings, (Option<std::ops::Range<usize>>, String)> {
        let mut seen = std::collections::BTreeSet::new();
        for spanned in &self.peers {
            let (p, here) = (spanned.get_ref(), Some(spanned.span()));
            if p.name.is_empty() || p.host.is_empty() {
                return Err((here, "a [[peer]] needs a non-empty `name` and `host`".into()));
            }
            if p.name.len() > 64
                || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                || p.name.starts_with('.')
            {
                return Err((
                    here,
                    format!(
                        "[[peer]] name {:?}: a peer's name is part of the IDs its work runs under on this host — use letters, digits, `-`, `_` and `.` (at most 64, not starting with `.`), e.g. its host name",
                        p.name
                    ),
                ));
            }
            if !seen.insert(p.name.as_str()) {
                return Err((here, format!("two [[peer]] entries are named {:?} — peer names must be unique", p.name)));
            }
            if p.host.starts_with('-') || p.user.as_deref().is_some_and(|u| u.starts_with('-') || u.contains('@')) {
                return Err((
                    here,
                    format!("[[peer]] {:?}: host and user must not start with '-' (or a user contain '@')", p.name),
                ));
            }
            if let Some(o) = p.ssh_options.iter().find(|o| !o.contains('=') || o.starts_with('-')) {
                return Err((
                    here,
                    format!(
                        "[[peer]] {:?}: ssh_options entries are `Key=Value` (passed as -o Key=Value), not {o:?}",
                        p.name
                    ),
                ));
            }
            if let Some(o) = p.ssh_options.iter().find(|o| weakens_host_keys(o)).filter(|_| !out.insecure_host_keys) {
                return Err((
                    here,
                    format!(
                        "[[peer]] {:?}: ssh_options {o:?} would let a hand-off go to a host whose key is not known — supd checks every peer's host key; add the peer's key to the known_hosts file instead (ssh-keyscan HOST >> /etc/supd/known_hosts, after checking it), or set insecure_host_keys = true under [handoff] to allow it",
                        p.name
                    ),
                ));
            }
        }
        Ok(out)
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

/// Whether an ssh option would let ssh talk to a host whose key it does
/// not know: host key checking off, or trusting a key on first use. (An
/// empty known_hosts file only makes every connection fail: checking
/// stays on, as supd passes StrictHostKeyChecking=yes first.)
pub fn weakens_host_keys(option: &str) -> bool {
    let Some((key, value)) = option.split_once('=') else { return false };
    key.trim().eq_ignore_ascii_case("StrictHostKeyChecking") && !value.trim().eq_ignore_ascii_case("yes")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod example;
