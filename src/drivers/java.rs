//! The `java` driver, as Nomad's: a JVM started as an `exec` task (the
//! same isolation, user rules, cgroup, logs and restarts), its command line
//! made from `jvm_options`, `class_path`, `jar_path` or `class`, and
//! `args`. The `java` program is `[driver.java] java_path`, else the first
//! `java` on supd's PATH; `driver.java` and `driver.java.version` say
//! whether this host has one.

use super::{Def, Host, Kind, Program, Unavailable, no_attributes};
use crate::jobspec::decode::config::java_config;
use crate::jobspec::model::{JavaConfig, Task};
use std::path::{Path, PathBuf};

/// The driver of this file, for `drivers::all`.
pub static DEFS: &[&Def] = &[&JAVA];

/// `java`: a JVM run as an `exec` task. Its attributes are those of
/// `java -version`, asked off the loop by the supervisor
/// (`Settings::fingerprint`), not at start.
pub static JAVA: Def = Def {
    name: "java",
    kind: Kind::Process,
    isolated: true,
    engine: None,
    config: java_config,
    nothing_to_run: no_jvm,
    hint: "`config { jar_path = \"local/app.jar\" }` or `class`",
    attributes: no_attributes,
    program: jvm,
};

fn no_jvm(t: &Task) -> bool {
    t.java.is_none()
}

/// The JVM and its [`arguments`]: `[driver.java] java_path`, else the
/// first `java` on supd's PATH.
fn jvm(t: &Task, host: &Host) -> Result<Option<Program>, Unavailable> {
    let Some(c) = &t.java else { return Ok(None) };
    match host.java.java().as_deref().and_then(Path::to_str) {
        Some(java) => Ok(Some((java.to_string(), arguments(c, &t.args)))),
        None => Err(Unavailable(
            "there is no `java` on this host: install a JRE (Debian: default-jre-headless), or set [driver.java] java_path in supd.toml",
        )),
    }
}

/// How long `java -version` may take before it is killed (and the host
/// taken to have no usable JVM).
pub const PROBE_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// `[driver.java]` of supd.toml.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// The `java` program; none: the first `java` on supd's PATH.
    pub java_path: Option<PathBuf>,
}

impl Settings {
    /// The `java` program of this host, if there is one.
    pub fn java(&self) -> Option<PathBuf> {
        if let Some(p) = &self.java_path {
            return Some(p.clone());
        }
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path).map(|d| d.join("java")).find(|p| is_executable(p))
    }

    /// `driver.java` and `driver.java.version` when `java -version`
    /// answers within [`PROBE_TIME`]. Run as a bounded helper: supd's loop
    /// may reap it, and a JVM that hangs is killed.
    pub fn fingerprint(&self) -> Vec<(String, String)> {
        use crate::process::Exit;
        use crate::process::bounded::{self, Bounds, Ended};
        let Some(java) = self.java() else { return Vec::new() };
        let spec = crate::process::SpawnSpec {
            program: java.display().to_string(),
            args: vec!["-version".into()],
            env: crate::process::inherited_env().to_vec(),
            work_dir: None,
            user: None,
            isolation: None,
        };
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let mut watch = || Ok(());
        let bounds: Bounds<'_, std::convert::Infallible> =
            Bounds { deadline: std::time::Instant::now() + PROBE_TIME, cancel: &cancel, keep: 4096, watch: &mut watch };
        match bounded::run(&spec, bounds) {
            // `java -version` writes to stderr: `openjdk version "17.0.13" 2024-10-15`.
            Ok(Ended::Exited { exit: Exit::Code(0), stderr, .. }) => {
                match version_of(&String::from_utf8_lossy(&stderr)) {
                    Some(v) => vec![("driver.java".into(), "1".into()), ("driver.java.version".into(), v)],
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The quoted version of `java -version`'s first line.
pub fn version_of(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let start = line.find('"')? + 1;
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_string())
}

/// The JVM's arguments, as Nomad's: `jvm_options`, `-cp class_path`,
/// `-jar jar_path` or `class`, then the task's `args`.
pub fn arguments(c: &JavaConfig, args: &[String]) -> Vec<String> {
    let mut out = c.jvm_options.clone();
    if let Some(cp) = &c.class_path {
        out.push("-cp".into());
        out.push(cp.clone());
    }
    match (&c.jar_path, &c.class) {
        (Some(jar), _) => {
            out.push("-jar".into());
            out.push(jar.clone());
        }
        (None, Some(class)) => out.push(class.clone()),
        (None, None) => {}
    }
    out.extend(args.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_and_the_version() {
        let c = JavaConfig {
            jar_path: None,
            class: Some("Hello".into()),
            class_path: Some("/local".into()),
            jvm_options: vec!["-Xmx64m".into()],
        };
        assert_eq!(arguments(&c, &["a".into()]), ["-Xmx64m", "-cp", "/local", "Hello", "a"]);
        let c = JavaConfig { jar_path: Some("local/app.jar".into()), ..JavaConfig::default() };
        assert_eq!(arguments(&c, &[]), ["-jar", "local/app.jar"]);
        assert_eq!(
            version_of("openjdk version \"17.0.13\" 2024-10-15\nOpenJDK Runtime Environment").as_deref(),
            Some("17.0.13")
        );
        assert_eq!(version_of("nothing"), None);
    }
}
