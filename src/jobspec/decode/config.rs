//! A task's `config` block: what reading one takes ([`ConfigBlock`]) and
//! gives ([`RunConfig`]), and the readers of the host drivers' keys
//! (`exec`, `raw_exec`, `java`); the container drivers' are in
//! `container.rs`. Each driver's definition names its reader
//! (`drivers::Def::config`); a driver may also bring its own, read with
//! [`Reader`].

use super::named;
use crate::jobspec::model::{ContainerConfig, IsolationConfig, JavaConfig, Port};
use crate::jobspec::reader::Kind::Attr;
use crate::jobspec::reader::{Reader, Schema};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Body};

/// A task's `config` block, with what reading it needs besides.
pub struct ConfigBlock<'a> {
    pub block: &'a Block,
    /// The task's name, for messages.
    pub task: &'a str,
    /// The ports its config may name: its group's and its own.
    pub ports: &'a [Port],
}

/// What a task's `config` says, by its driver: the program, its
/// arguments and directory, and the container, isolation or JVM settings.
#[derive(Default)]
pub struct RunConfig {
    pub command: String,
    pub args: Vec<String>,
    pub work_dir: Option<String>,
    pub container: Option<Box<ContainerConfig>>,
    pub isolation: IsolationConfig,
    pub java: Option<Box<JavaConfig>>,
}

/// A `raw_exec` task's `config` (and that of a task that names no driver).
const CONFIG: Schema = Schema {
    what: "config",
    keys: &[("command", Attr), ("args", Attr), ("work_dir", Attr)],
    ignored: &[
        "pid_mode",
        "ipc_mode",
        "cap_add",
        "cap_drop",
        "cgroup_v2_override",
        "cgroup_v1_override",
        "oom_score_adj",
        "denied_envvars",
    ],
};

/// An `exec` task's `config`: Nomad's exec driver keys.
const EXEC_CONFIG: Schema = Schema {
    what: "exec config",
    keys: &[
        ("command", Attr),
        ("args", Attr),
        ("work_dir", Attr),
        ("pid_mode", Attr),
        ("ipc_mode", Attr),
        ("cap_add", Attr),
        ("cap_drop", Attr),
    ],
    ignored: &["cgroup_v2_override", "cgroup_v1_override", "oom_score_adj", "denied_envvars"],
};

/// A `java` task's `config`: Nomad's java driver keys.
const JAVA_CONFIG: Schema = Schema {
    what: "java config",
    keys: &[
        ("jar_path", Attr),
        ("class", Attr),
        ("class_path", Attr),
        ("jvm_options", Attr),
        ("args", Attr),
        ("pid_mode", Attr),
        ("ipc_mode", Attr),
        ("cap_add", Attr),
        ("cap_drop", Attr),
    ],
    ignored: &[],
};

/// A `raw_exec` task's `config`: its `command`, `args` and `work_dir`.
pub fn raw_exec_config(r: &mut Reader, c: &ConfigBlock) -> RunConfig {
    r.check_keys(&c.block.body, &CONFIG);
    command_config(r, c)
}

/// An `exec` task's `config`: a `raw_exec` task's keys and its isolation's.
pub fn exec_config(r: &mut Reader, c: &ConfigBlock) -> RunConfig {
    r.check_keys(&c.block.body, &EXEC_CONFIG);
    let isolation = isolation_config(r, &c.block.body);
    RunConfig { isolation, ..command_config(r, c) }
}

/// A `java` task's `config`: the JVM's keys, `args`, and the isolation
/// keys of the `exec` task it runs as.
pub fn java_config(r: &mut Reader, c: &ConfigBlock) -> RunConfig {
    let body = &c.block.body;
    r.check_keys(body, &JAVA_CONFIG);
    let isolation = isolation_config(r, body);
    let args = r.attr(body, "args").and_then(|a| r.string_list(&a.value, "args")).unwrap_or_default();
    let java = Some(Box::new(jvm_config(r, c.block, c.task)));
    RunConfig { args, isolation, java, ..RunConfig::default() }
}

/// The `command` (which must be there and not be empty), `args` and
/// `work_dir` of a host process.
fn command_config(r: &mut Reader, c: &ConfigBlock) -> RunConfig {
    let (cfg, name) = (c.block, c.task);
    let mut run = RunConfig::default();
    match r.attr(&cfg.body, "command") {
        Some(a) => {
            run.command = r.string(&a.value, "command").unwrap_or_default();
            if run.command.trim().is_empty() && matches!(a.value, Expression::String(_)) {
                r.sink.error(
                    a.value.span(),
                    "`command` is empty — name the program to run, e.g. \"/usr/bin/redis-server\"",
                );
            }
        }
        None => r.sink.error(
            cfg.ident.span(),
            format!("{} config has no `command` — add e.g. `command = \"/usr/bin/redis-server\"`", named("task", name)),
        ),
    }
    run.args = r.attr(&cfg.body, "args").and_then(|a| r.string_list(&a.value, "args")).unwrap_or_default();
    run.work_dir = r.attr(&cfg.body, "work_dir").and_then(|a| r.string(&a.value, "work_dir"));
    run
}

/// `jar_path`, `class`, `class_path`, `jvm_options` of a `java` task: a
/// jar or a class is needed.
fn jvm_config(r: &mut Reader, cfg: &Block, name: &str) -> JavaConfig {
    let body = &cfg.body;
    let string = |r: &mut Reader, key: &str| r.attr(body, key).and_then(|a| r.string(&a.value, key));
    let c = JavaConfig {
        jar_path: string(r, "jar_path"),
        class: string(r, "class"),
        class_path: string(r, "class_path"),
        jvm_options: r
            .attr(body, "jvm_options")
            .and_then(|a| r.string_list(&a.value, "jvm_options"))
            .unwrap_or_default(),
    };
    if c.jar_path.is_none() && c.class.is_none() {
        r.sink.error(
            cfg.ident.span(),
            format!(
                "{} config has neither `jar_path` nor `class` — add e.g. `jar_path = \"local/app.jar\"` or `class = \"Main\"`",
                named("task", name)
            ),
        );
    }
    c
}

/// `pid_mode`, `ipc_mode`, `cap_add`, `cap_drop` of an isolated task.
fn isolation_config(r: &mut Reader, body: &Body) -> IsolationConfig {
    let mode =
        |r: &mut Reader, key: &str| r.attr(body, key).and_then(|a| r.enum_value(&a.value, key, &["private", "host"]));
    let list =
        |r: &mut Reader, key: &str| r.attr(body, key).and_then(|a| r.string_list(&a.value, key)).unwrap_or_default();
    IsolationConfig {
        pid_mode: mode(r, "pid_mode"),
        ipc_mode: mode(r, "ipc_mode"),
        cap_add: list(r, "cap_add"),
        cap_drop: list(r, "cap_drop"),
    }
}
