//! The `exec` driver's rules, as Nomad's: what an isolated task's root is
//! made of (`chroot_env`), which capabilities it keeps, which users it may
//! run as, which of supd's variables it does not get, and whether it may
//! share the host's PID or IPC namespace. Pure: the process is made by
//! `process::spawn` with the [`Isolation`] built here.

use super::{Def, Kind, no_attributes, own_command};
use crate::jobspec::decode::config::{exec_config, raw_exec_config};
use crate::jobspec::model::Task;
use crate::process::isolate::{Bind, Isolation, cap_number};
use std::path::{Path, PathBuf};

/// The drivers of this file, for `drivers::all`.
pub static DEFS: &[&Def] = &[&EXEC, &RAW_EXEC];

/// `exec`: a host process isolated as Nomad's exec driver isolates it.
pub static EXEC: Def = Def {
    name: "exec",
    kind: Kind::Process,
    isolated: true,
    engine: None,
    config: exec_config,
    nothing_to_run: no_command,
    hint: COMMAND_HINT,
    attributes: isolation_attributes,
    program: own_command,
};

/// `raw_exec`: a plain host process.
pub static RAW_EXEC: Def = Def {
    name: "raw_exec",
    kind: Kind::Process,
    isolated: false,
    engine: None,
    config: raw_exec_config,
    nothing_to_run: no_command,
    hint: COMMAND_HINT,
    attributes: raw_attributes,
    program: own_command,
};

const COMMAND_HINT: &str = "`config { command = \"…\" }`";

fn no_command(t: &Task) -> bool {
    t.command.is_empty()
}

/// `driver.exec`, only where tasks can be isolated, as Nomad's exec
/// driver is undetected without root.
fn isolation_attributes() -> Vec<(String, String)> {
    match crate::process::isolate::missing() {
        None => vec![("driver.exec".into(), "1".into())],
        Some(_) => no_attributes(),
    }
}

/// `driver.raw_exec`, always.
fn raw_attributes() -> Vec<(String, String)> {
    vec![("driver.raw_exec".into(), "1".into())]
}

/// Why a task may not run as asked under `[driver.exec]`'s rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The user is on the deny list (`root` also by uid 0).
    #[error(
        "the task may not run as user {0:?}: it is in [driver.exec] user_denylist of supd.toml (Nomad's user.denylist, default [\"root\"]) — choose another `user`, or take it off that list"
    )]
    DeniedUser(String),
    /// `cap_add` or `cap_drop` names no capability.
    #[error("unknown capability {0:?} — write e.g. \"net_raw\"")]
    UnknownCapability(String),
    /// Capabilities outside `allow_caps`.
    #[error(
        "capabilities {0:?} are not allowed for this task: add them to [driver.exec] allow_caps in supd.toml, or take them out of `cap_add`"
    )]
    CapabilitiesNotAllowed(Vec<String>),
    /// `pid_mode` or `ipc_mode` = "host" without the setting that allows it.
    #[error(
        "`{key} = \"host\"` is not allowed: set {setting} = true under [driver.exec] in supd.toml, or remove `{key}`"
    )]
    HostNamespaceNotAllowed { key: &'static str, setting: &'static str },
}

/// `[driver.exec]` of supd.toml.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Host path → path in the task's root; none: [`DEFAULT_CHROOT_ENV`].
    pub chroot_env: Option<Vec<(String, String)>>,
    /// Capabilities a task may have (`all`: every one); none: Nomad's list.
    pub allow_caps: Option<Vec<String>>,
    /// Tasks may ask for `pid_mode = "host"`.
    pub allow_host_pid: bool,
    /// Tasks may ask for `ipc_mode = "host"`.
    pub allow_host_ipc: bool,
    /// Users a task may not run as; none: [`DEFAULT_USER_DENYLIST`].
    pub user_denylist: Option<Vec<String>>,
    /// supd's variables a task does not get; none: [`DEFAULT_ENV_DENYLIST`].
    pub env_denylist: Option<Vec<String>>,
}

/// Nomad's default `chroot_env`: each bind-mounted read-only at the same
/// place, when the host has it.
pub const DEFAULT_CHROOT_ENV: [&str; 8] =
    ["/bin", "/etc", "/lib", "/lib32", "/lib64", "/run/resolvconf", "/sbin", "/usr"];

/// Nomad's `user.denylist` for exec and java.
pub const DEFAULT_USER_DENYLIST: [&str; 1] = ["root"];

/// Nomad's `env.denylist`: secrets of the host's agents.
pub const DEFAULT_ENV_DENYLIST: [&str; 12] = [
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "NOMAD_TOKEN",
    "VAULT_TOKEN",
    "CONSUL_LICENSE",
    "NOMAD_LICENSE",
    "VAULT_LICENSE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// Nomad's exec driver's default capabilities (its `allow_caps` too).
pub use super::docker::spec::DEFAULT_CAPS;

/// The user an isolated task runs as: its `user`, else `nobody`.
pub fn user_of(task: &Task) -> Option<&str> {
    match &task.user {
        Some(u) => Some(u.as_str()),
        None if task.driver.is_isolated() => Some("nobody"),
        None => None,
    }
}

impl Settings {
    /// Whether supd's variable `name` is kept from isolated tasks.
    pub fn denies_env(&self, name: &str) -> bool {
        match &self.env_denylist {
            Some(l) => l.iter().any(|d| d == name),
            None => DEFAULT_ENV_DENYLIST.contains(&name),
        }
    }

    /// Refuses a user the deny list names (`root` also by uid 0).
    pub fn check_user(&self, name: &str, uid: u32) -> Result<(), ExecError> {
        let denied = |d: &str| d == name || (d == "root" && uid == 0);
        let hit = match &self.user_denylist {
            Some(l) => l.iter().any(|d| denied(d)),
            None => DEFAULT_USER_DENYLIST.iter().any(|d| denied(d)),
        };
        if hit {
            return Err(ExecError::DeniedUser(name.to_string()));
        }
        Ok(())
    }

    /// The capability set a task keeps: Nomad's defaults with `cap_add`,
    /// without `cap_drop`, within `allow_caps`.
    pub fn caps(&self, task: &Task) -> Result<u64, ExecError> {
        let iso = task.isolation();
        let number = |n: &str| cap_number(n).ok_or_else(|| ExecError::UnknownCapability(n.to_string()));
        let allowed: Option<u64> = match &self.allow_caps {
            Some(l) if l.iter().any(|c| c.eq_ignore_ascii_case("all")) => None,
            Some(l) => Some(l.iter().filter_map(|c| cap_number(c)).fold(0, |m, c| m | 1 << c)),
            None => Some(DEFAULT_CAPS.iter().filter_map(|c| cap_number(c)).fold(0, |m, c| m | 1 << c)),
        };
        let mut add = 0u64;
        for c in &iso.cap_add {
            if c.eq_ignore_ascii_case("all") {
                add = u64::MAX >> (64 - crate::process::isolate::CAP_NAMES.len());
            } else {
                add |= 1 << number(c)?;
            }
        }
        let base = DEFAULT_CAPS.iter().filter_map(|c| cap_number(c)).fold(0u64, |m, c| m | 1 << c);
        let mut caps = base | add;
        for c in &iso.cap_drop {
            if c.eq_ignore_ascii_case("all") {
                caps = add;
                break;
            }
            caps &= !(1 << number(c)?);
        }
        if let Some(allowed) = allowed
            && caps & !allowed != 0
        {
            let names: Vec<String> = crate::process::isolate::CAP_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| caps & !allowed & (1 << i) != 0)
                .map(|(_, n)| n.to_string())
                .collect();
            return Err(ExecError::CapabilitiesNotAllowed(names));
        }
        Ok(caps)
    }

    /// The binds of the task's root: `chroot_env` entries the host has.
    pub fn binds(&self) -> Vec<Bind> {
        let pairs: Vec<(String, String)> = match &self.chroot_env {
            Some(p) => p.clone(),
            None => DEFAULT_CHROOT_ENV.iter().map(|p| (p.to_string(), p.to_string())).collect(),
        };
        pairs
            .into_iter()
            .filter(|(src, _)| Path::new(src).exists())
            .map(|(src, dst)| Bind { source: src.into(), target: dst.into(), read_only: true })
            .collect()
    }

    /// The isolation of `task`, whose directory is `root` and shared
    /// allocation directory `shared`.
    pub fn isolation(&self, task: &Task, root: &Path, shared: &Path) -> Result<Isolation, ExecError> {
        let iso = task.isolation();
        let pid = own_namespace(&iso.pid_mode, self.allow_host_pid, "pid_mode", "allow_host_pid")?;
        let ipc = own_namespace(&iso.ipc_mode, self.allow_host_ipc, "ipc_mode", "allow_host_ipc")?;
        let caps = self.caps(task)?;
        let mut binds = self.binds();
        binds.push(Bind { source: shared.to_path_buf(), target: PathBuf::from("alloc"), read_only: false });
        Ok(Isolation { root: root.to_path_buf(), binds, pid, ipc, caps })
    }
}

/// Whether a task gets a namespace of its own (its `key`, `pid_mode` or
/// `ipc_mode`, is not "host"); "host" only where `setting` allows it.
fn own_namespace(
    mode: &Option<String>,
    allowed: bool,
    key: &'static str,
    setting: &'static str,
) -> Result<bool, ExecError> {
    match mode.as_deref() {
        Some("host") if !allowed => Err(ExecError::HostNamespaceNotAllowed { key, setting }),
        Some("host") => Ok(false),
        _ => Ok(true),
    }
}

/// Where a task's directories are inside its root (Nomad's exec).
pub fn inner_env() -> [(&'static str, String); 3] {
    [
        ("NOMAD_ALLOC_DIR", "/alloc".into()),
        ("NOMAD_TASK_DIR", "/local".into()),
        ("NOMAD_SECRETS_DIR", "/secrets".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(config: &str, user: &str) -> Task {
        let hcl = format!(
            "job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"exec\"\n      {user}\n      config {{\n        command = \"/bin/true\"\n        {config}\n      }}\n    }}\n  }}\n}}\n"
        );
        let p = crate::jobspec::parse_str("t.hcl", &hcl);
        assert!(p.is_valid(), "{:#?}", p.diagnostics);
        (*p.jobs[0].groups[0].tasks[0]).clone()
    }

    #[test]
    fn capabilities_are_nomads_defaults_bounded_by_allow_caps() {
        let s = Settings::default();
        let t = task("", "");
        let caps = s.caps(&t).unwrap();
        assert_eq!(caps, 0xa80405fb, "Nomad's default set");
        let t = task("cap_drop = [\"all\"]\ncap_add = [\"chown\"]", "");
        assert_eq!(s.caps(&t).unwrap(), 1);
        let t = task("cap_add = [\"net_raw\"]", "");
        let e = s.caps(&t).unwrap_err().to_string();
        assert!(e.contains("net_raw") && e.contains("allow_caps"), "{e}");
        let s = Settings { allow_caps: Some(vec!["all".into()]), ..Settings::default() };
        assert_eq!(s.caps(&t).unwrap(), 0xa80405fb | 1 << 13);
    }

    #[test]
    fn root_and_the_hosts_namespaces_only_when_supd_toml_allows_them() {
        let s = Settings::default();
        assert!(s.check_user("root", 0).unwrap_err().to_string().contains("user_denylist"));
        assert!(s.check_user("toor", 0).is_err(), "uid 0 by another name");
        assert!(s.check_user("nobody", 65534).is_ok());
        let t = task("pid_mode = \"host\"", "");
        let e = s.isolation(&t, Path::new("/r"), Path::new("/a")).unwrap_err();
        assert!(matches!(e, ExecError::HostNamespaceNotAllowed { key: "pid_mode", .. }), "{e}");
        assert!(e.to_string().contains("allow_host_pid"), "{e}");
        let s = Settings { allow_host_pid: true, user_denylist: Some(vec![]), ..Settings::default() };
        assert!(s.check_user("root", 0).is_ok());
        let i = s.isolation(&t, Path::new("/r"), Path::new("/a")).unwrap();
        assert!(!i.pid && i.ipc);
        assert_eq!(user_of(&task("", "")), Some("nobody"));
        assert_eq!(user_of(&task("", "user = \"daemon\"")), Some("daemon"));
        assert!(s.denies_env("VAULT_TOKEN") && !s.denies_env("PATH"));
    }
}
