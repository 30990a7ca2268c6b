//! The `java` driver, as Nomad's: a JVM started as an `exec` task (the
//! same isolation, user rules, cgroup, logs and restarts), its command line
//! made from `jvm_options`, `class_path`, `jar_path` or `class`, and
//! `args`. The `java` program is `[driver.java] java_path`, else the first
//! `java` on supd's PATH; `driver.java` and `driver.java.version` say
//! whether this host has one.

use crate::jobspec::model::JavaConfig;
use std::path::{Path, PathBuf};

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

    /// [`Settings::fingerprint`] on a thread of its own: a JVM takes tens
    /// of milliseconds to answer, which supd's start spends reading the
    /// job directory instead (`Probe::attrs` waits for the answer). Made
    /// after SIGCHLD is blocked, so that the thread cannot take it.
    pub fn probe(&self) -> Probe {
        let settings = self.clone();
        match std::thread::Builder::new().name("java-probe".into()).spawn(move || settings.fingerprint()) {
            Ok(thread) => Probe::Running(thread),
            Err(_) => Probe::Done(self.fingerprint()),
        }
    }

    /// `driver.java` and `driver.java.version` when `java -version` answers.
    pub fn fingerprint(&self) -> Vec<(String, String)> {
        let Some(java) = self.java() else { return Vec::new() };
        let Ok(out) = std::process::Command::new(&java).arg("-version").stdin(std::process::Stdio::null()).output()
        else {
            return Vec::new();
        };
        // `java -version` writes to stderr: `openjdk version "17.0.13" 2024-10-15`.
        let text = String::from_utf8_lossy(&out.stderr);
        match (out.status.success(), version_of(&text)) {
            (true, Some(v)) => vec![("driver.java".into(), "1".into()), ("driver.java.version".into(), v)],
            _ => Vec::new(),
        }
    }
}

/// A `java -version` in flight, or its answer.
pub enum Probe {
    Running(std::thread::JoinHandle<Vec<(String, String)>>),
    Done(Vec<(String, String)>),
}

impl Probe {
    /// The attributes, once `java -version` has answered.
    pub fn attrs(self) -> Vec<(String, String)> {
        match self {
            Probe::Running(thread) => thread.join().unwrap_or_default(),
            Probe::Done(attrs) => attrs,
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
