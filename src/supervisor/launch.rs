//! What a task's process is started with: its program and arguments,
//! Nomad's runtime environment (`NOMAD_*`), the task's `env`, the user it
//! runs as, with every `${...}` resolved (reference §6). Built from the
//! model and this node's attributes; nothing here starts anything.

use super::task::{Instance, JobRun, LaunchError, PortError, TaskRun};
use crate::jobspec::template::interpolate;
use crate::node::Node;
use crate::process::{self, SpawnSpec};
use std::collections::BTreeMap;

/// Environment variables, by name.
pub(super) type Vars = BTreeMap<String, String>;

thread_local! {
    /// The references the last spec made could not resolve.
    static UNRESOLVED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The `${…}` references in the command, arguments, environment and
/// working directory of the spec made last that nothing resolved (they
/// were left as written).
pub(super) fn take_unresolved() -> Vec<String> {
    UNRESOLVED.with(|u| std::mem::take(&mut *u.borrow_mut()))
}

/// The process of a task's run: [`spawn_spec`] with the program its
/// driver gives (for `java`, the JVM `java` with its arguments), and for
/// an isolated (`exec`, `java`) task its namespaces, root, capabilities
/// and user rules (`[driver.exec]`); never an `exec` task without them.
pub(super) fn task_spec(
    node: &Node,
    host: &crate::drivers::Host,
    run: &JobRun,
    instance: &Instance,
    t: &TaskRun,
) -> Result<SpawnSpec, LaunchError> {
    let def = t.spec.driver.def();
    let isolated = def.isolated;
    if isolated && let Some(why) = crate::process::isolate::missing() {
        return Err(LaunchError::Isolation(format!(
            "driver {:?} isolates its tasks (mount, PID and IPC namespaces, a root of their own, capabilities), which needs supd to run as root, and {why}: run supd as root, or use driver \"raw_exec\" for a plain host process",
            t.spec.driver.as_str()
        )));
    }
    let program = (def.program)(&t.spec, host)?;
    let command = program.as_ref().map(|(p, args)| (p.as_str(), args.as_slice()));
    if !isolated {
        return spec_of(node, run, instance, t, command, true, None);
    }
    isolated_spec(node, host.exec, run, instance, t, command)
}

/// An isolated task's process (its command, or `command`): its user
/// within `[driver.exec]`'s rules, paths and environment as inside its
/// root, and its isolation.
fn isolated_spec(
    node: &Node,
    exec: &crate::drivers::exec::Settings,
    run: &JobRun,
    instance: &Instance,
    t: &TaskRun,
    command: Option<(&str, &[String])>,
) -> Result<SpawnSpec, LaunchError> {
    let Some(dir) = task_dir(instance, t) else {
        return Err(LaunchError::Isolation("the task has no task directory to be its root".into()));
    };
    let mut spec = spec_of(node, run, instance, t, command, true, Some(exec))?;
    if let Some(u) = &spec.user {
        exec.check_user(&u.name, u.uid).map_err(|e| LaunchError::Isolation(e.to_string()))?;
    }
    let isolation =
        exec.isolation(&t.spec, &dir.dir, &dir.shared).map_err(|e| LaunchError::Isolation(e.to_string()))?;
    spec.isolation = Some(isolation);
    Ok(spec)
}

/// The process to start for a task, with Nomad's runtime environment
/// and every `${...}` resolved.
pub(super) fn spawn_spec(
    node: &Node,
    run: &JobRun,
    instance: &Instance,
    t: &TaskRun,
    command: Option<(&str, &[String])>,
) -> Result<SpawnSpec, LaunchError> {
    spec_of(node, run, instance, t, command, true, None)
}

/// What a script check of a task runs: for an isolated (`exec`, `java`)
/// task, its command inside the task (the task's user, environment and
/// paths as inside its root, `spec.isolation` saying which namespaces and
/// capabilities to take from the running task); else as `spawn_spec`.
pub(super) fn check_spec(
    node: &Node,
    exec: &crate::drivers::exec::Settings,
    run: &JobRun,
    instance: &Instance,
    t: &TaskRun,
    command: (&str, &[String]),
) -> Result<SpawnSpec, LaunchError> {
    if !t.spec.driver.is_isolated() {
        return spawn_spec(node, run, instance, t, Some(command));
    }
    isolated_spec(node, exec, run, instance, t, Some(command))
}

/// The environment a task's templates and artifacts see: its own, without
/// what its `env = true` templates set.
pub(super) fn setup_env(node: &Node, run: &JobRun, instance: &Instance, t: &TaskRun) -> Result<Vars, LaunchError> {
    Ok(spec_of(node, run, instance, t, None, false, None)?.env.into_iter().collect())
}

/// A service's or check's `port` written with `${...}`, which Nomad
/// interpolates when the task starts: resolved as the task's `args` are
/// (its runtime variables and environment), then read as a port number or
/// a port label of the instance.
pub(super) fn port_of(
    node: &Node,
    run: &JobRun,
    instance: &Instance,
    t: &TaskRun,
    written: &str,
) -> Result<u16, PortError> {
    let spec = spec_of(node, run, instance, t, None, true, None).map_err(PortError::Launch)?;
    // Not the task's own spec: what it left unresolved is not told.
    UNRESOLVED.with(|u| u.borrow_mut().clear());
    let env: BTreeMap<String, String> = spec.env.into_iter().collect();
    let value = interpolate(written, &|n| lookup_in(node, &env, n));
    let value = value.trim();
    if let Ok(n) = value.parse::<u16>()
        && n > 0
    {
        return Ok(n);
    }
    if let Some((_, port)) = instance.ports.iter().find(|(label, _)| label == value) {
        return Ok(*port);
    }
    Err(PortError::NotAPort { written: written.to_string(), value: value.to_string() })
}

/// The process of a task's run: Nomad's runtime variables, the task's
/// `env` (and its `env = true` templates') on top, its command resolved,
/// its working directory and user.
fn spec_of(
    node: &Node,
    run: &JobRun,
    instance: &Instance,
    t: &TaskRun,
    command: Option<(&str, &[String])>,
    template_env: bool,
    isolated: Option<&crate::drivers::exec::Settings>,
) -> Result<SpawnSpec, LaunchError> {
    let task = &t.spec;
    let task_dir = task_dir(instance, t);
    let mut vars = runtime_vars(node, run, instance, t, task_dir.as_ref(), isolated.is_some());
    // What nothing resolves stays as written (as Nomad leaves it), and is
    // told (see `take_unresolved`).
    UNRESOLVED.with(|u| u.borrow_mut().clear());
    // `env` sees the runtime variables, not itself.
    let own: Vec<(String, String)> =
        task.env.iter().map(|(k, v)| (k.clone(), interpolate(v, &|n| lookup(node, &vars, n)))).collect();
    vars.extend(own);
    // As Nomad's, what `env = true` templates rendered overrides `env`.
    if template_env {
        vars.extend(t.setup.tpl().env.iter().cloned());
    }
    let resolve = |s: &str| interpolate(s, &|n| lookup(node, &vars, n));
    let (command, args) = command.unwrap_or((&task.command, &task.args));
    let program = resolve(command);
    let args = args.iter().map(|a| resolve(a)).collect();
    // As Nomad's raw_exec: the task directory, unless `work_dir` says otherwise.
    let work_dir = match isolated {
        // Its task directory is its root.
        Some(_) => Some(task.work_dir.as_deref().map_or_else(|| "/".into(), |d| resolve(d).into())),
        None => task.work_dir.as_deref().map(|d| resolve(d).into()).or_else(|| task_dir.map(|d| d.dir)),
    };
    let user = run_as(task)?;
    // The user's variables give way to the task's.
    if let Some(u) = &user {
        vars.entry("USER".into()).or_insert_with(|| u.name.clone());
        vars.entry("LOGNAME".into()).or_insert_with(|| u.name.clone());
        vars.entry("HOME".into()).or_insert_with(|| u.home.display().to_string());
    }
    let inherited = process::inherited_env().iter().filter(|(k, _)| isolated.is_none_or(|s| !s.denies_env(k)));
    let env = over(inherited, vars);
    Ok(SpawnSpec { program, args, env, work_dir, user, isolation: None })
}

/// `inherited` (sorted by name) with `vars` over it, sorted by name: only
/// what is inherited is copied.
fn over<'a>(
    inherited: impl Iterator<Item = &'a (String, String)>,
    vars: BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut inherited = inherited.peekable();
    let mut out = Vec::with_capacity(vars.len() + inherited.size_hint().0);
    for (k, v) in vars {
        while let Some((ik, iv)) = inherited.next_if(|(ik, _)| *ik < k) {
            out.push((ik.clone(), iv.clone()));
        }
        inherited.next_if(|(ik, _)| *ik == k);
        out.push((k, v));
    }
    out.extend(inherited.cloned());
    out
}

/// Nomad's runtime variables of a task (`NOMAD_*`): the instance, job,
/// group and task, limits, meta, directories (`isolated`: as inside its
/// root) and ports.
fn runtime_vars(
    node: &Node,
    run: &JobRun,
    instance: &Instance,
    t: &TaskRun,
    task_dir: Option<&crate::taskdir::TaskDir>,
    isolated: bool,
) -> BTreeMap<String, String> {
    let job = &run.job;
    let group = &job.groups[instance.group];
    let task = &t.spec;
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        vars.insert(k.to_string(), v);
    };
    set("NOMAD_ALLOC_INDEX", instance.index.to_string());
    set("NOMAD_ALLOC_NAME", instance.name.clone());
    set("NOMAD_ALLOC_ID", instance.id.clone());
    set("NOMAD_SHORT_ALLOC_ID", instance.id.chars().take(8).collect());
    set("NOMAD_JOB_NAME", job.name.clone());
    set("NOMAD_JOB_ID", job.id.clone());
    if let Some(launch) = &run.launch {
        set("NOMAD_JOB_PARENT_ID", launch.parent().to_string());
    }
    set("NOMAD_GROUP_NAME", group.name.clone());
    set("NOMAD_TASK_NAME", task.name.clone());
    set("NOMAD_DC", node.datacenter.clone());
    set("NOMAD_REGION", job.region.clone());
    set("NOMAD_NAMESPACE", "default".into());
    // A task without `resources` has no limits to tell.
    if task.resources.declared {
        set("NOMAD_CPU_LIMIT", task.resources.cpu.to_string());
        set("NOMAD_MEMORY_LIMIT", task.resources.memory.to_string());
        if let Some(m) = task.resources.memory_max {
            set("NOMAD_MEMORY_MAX_LIMIT", m.to_string());
        }
    }
    for (k, v) in &task.meta {
        // Meta values are literal text: only the `$${` escape is undone.
        let v = interpolate(v, &|_| None);
        set(&format!("NOMAD_META_{k}"), v.clone());
        set(&format!("NOMAD_META_{}", k.to_ascii_uppercase().replace(['-', '.'], "_")), v);
    }
    if isolated {
        // Inside its root, as Nomad's exec.
        for (k, v) in crate::drivers::exec::inner_env() {
            set(k, v);
        }
    } else if let Some(d) = task_dir {
        if task.driver.is_container() {
            // Bound into the container where Nomad's drivers put them.
            for (_, inside, k) in d.in_container() {
                set(k, inside.to_string());
            }
        } else {
            for (k, v) in d.env() {
                set(k, v);
            }
        }
    }
    for (label, port) in &instance.ports {
        set(&format!("NOMAD_PORT_{label}"), port.to_string());
        set(&format!("NOMAD_HOST_PORT_{label}"), port.to_string());
        set(&format!("NOMAD_IP_{label}"), "127.0.0.1".into());
        set(&format!("NOMAD_ADDR_{label}"), format!("127.0.0.1:{port}"));
    }
    vars
}

/// What `${name}` is in a task's spec, with `vars` its variables so far:
/// a variable, `env.*` (then supd's own environment), or this node's
/// `attr.*`, `node.*`, `meta.*`.
fn found(node: &Node, vars: &BTreeMap<String, String>, name: &str) -> Option<String> {
    if let Some(v) = vars.get(name) {
        return Some(v.clone());
    }
    if let Some(rest) = name.strip_prefix("env.") {
        return vars.get(rest).cloned().or_else(|| std::env::var(rest).ok());
    }
    // As in Nomad, ${meta.*} is the node's meta; the job's is NOMAD_META_*.
    if name.starts_with("attr.") || name.starts_with("node.") || name.starts_with("meta.") {
        return node.resolve(&format!("${{{name}}}"));
    }
    None
}

/// [`found`], noting a name nothing resolves (see `take_unresolved`).
fn lookup(node: &Node, vars: &BTreeMap<String, String>, name: &str) -> Option<String> {
    let v = found(node, vars, name);
    if v.is_none() {
        UNRESOLVED.with(|u| {
            let mut u = u.borrow_mut();
            if !u.iter().any(|x| x == name) && u.len() < 16 {
                u.push(name.to_string());
            }
        });
    }
    v
}

/// The user a task's process runs as: none for a container (the image's
/// business) or a task without `user`; another user only when supd is root.
fn run_as(task: &crate::jobspec::model::Task) -> Result<Option<process::UserIds>, LaunchError> {
    match crate::drivers::exec::user_of(task) {
        // A container's user is the image's business.
        None => Ok(None),
        Some(_) if task.driver.is_container() => Ok(None),
        Some(name) => {
            let ids = process::lookup_user(name)?;
            let me = nix::unistd::geteuid().as_raw();
            if me != 0 && ids.uid != me {
                return Err(LaunchError::NotRoot(name.to_string()));
            }
            Ok(Some(ids))
        }
    }
}

/// The task's directory in its instance's allocation directory.
pub(super) fn task_dir(instance: &Instance, t: &TaskRun) -> Option<crate::taskdir::TaskDir> {
    instance.dir.as_ref().and_then(|a| a.task(&t.spec.name).ok())
}

/// What `${name}` is for a task whose environment is `env` (a spawn
/// spec's): its variables, `env.*`, and this node's `attr.*`, `node.*`,
/// `meta.*` — the lookup of `command` and `args`, for templates and
/// artifacts.
pub(super) fn lookup_in(node: &Node, env: &BTreeMap<String, String>, name: &str) -> Option<String> {
    if let Some(v) = env.get(name) {
        return Some(v.clone());
    }
    if let Some(rest) = name.strip_prefix("env.") {
        return env.get(rest).cloned();
    }
    if name.starts_with("attr.") || name.starts_with("node.") || name.starts_with("meta.") {
        return node.resolve(&format!("${{{name}}}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_run(hcl: &str) -> JobRun {
        let mut run = super::super::task::tests::job_run_of(1, hcl);
        run.instances[0].index = 2;
        run.instances[0].ports.push(("http".into(), 8123));
        run
    }

    /// A job of one task running `/bin/true`, with `env` as its env block's
    /// body.
    fn true_job(env: &str) -> JobRun {
        job_run(&format!(
            r#"job "web" {{
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{ command = "/bin/true" }}
      env {{
{env}
      }}
    }}
  }}
}}
"#
        ))
    }

    #[test]
    fn the_command_line_and_env_are_resolved_with_nomads_runtime_values() {
        let run = job_run(
            r#"job "web" {
  group "g" {
    meta { owner = "ops" }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/${NOMAD_TASK_NAME}"
        args = ["${NOMAD_ADDR_http}", "${node.datacenter}", "$${literal}", "${attr.os.name}"]
      }
      env { WHERE = "${NOMAD_ALLOC_NAME}:${NOMAD_PORT_http}" }
    }
  }
}
"#,
        );
        let mut node = Node::bare("n1", "dc7");
        node.attrs.insert("os.name".into(), "debian".into());
        let inst = &run.instances[0];
        let spec = spawn_spec(&node, &run, inst, &inst.tasks[0], None).expect("a spec");
        assert_eq!(spec.program, "/bin/t");
        assert_eq!(spec.args, ["127.0.0.1:8123", "dc7", "${literal}", "debian"]);
        let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
        assert_eq!(env.get("WHERE").map(String::as_str), Some("web.g[0]:8123"));
        assert_eq!(env.get("NOMAD_ALLOC_INDEX").map(String::as_str), Some("2"));
        assert_eq!(env.get("NOMAD_DC").map(String::as_str), Some("dc7"));
        assert_eq!(env.get("NOMAD_META_owner").map(String::as_str), Some("ops"));
        assert_eq!(env.get("NOMAD_JOB_ID").map(String::as_str), Some("web"));
    }

    #[test]
    fn the_tasks_variables_override_supds_own_and_the_environment_stays_sorted_and_unique() {
        let run = true_job("PATH = \"/opt/bin\"\nZZZ = \"${NOMAD_TASK_NAME}\"");
        let inst = &run.instances[0];
        let spec = spawn_spec(&Node::bare("n", "dc1"), &run, inst, &inst.tasks[0], None).expect("a spec");
        let names: Vec<&str> = spec.env.iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "sorted by name, each once");
        let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
        assert_eq!(env["PATH"], "/opt/bin", "the task's env overrides supd's own");
        assert_eq!(env["ZZZ"], "t");
        // What the task does not set is supd's own, less what is denied.
        for (k, v) in crate::process::inherited_env() {
            if k != "PATH" {
                assert_eq!(env.get(k), Some(v), "{k} is inherited");
            }
        }

        let inherited = [("A".into(), "1".into()), ("C".into(), "3".into()), ("E".into(), "5".into())];
        let vars = BTreeMap::from([("B".into(), "b".into()), ("C".into(), "c".into()), ("F".into(), "f".into())]);
        let merged: Vec<(String, String)> = over(inherited.iter(), vars);
        let pairs: Vec<(&str, &str)> = merged.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("A", "1"), ("B", "b"), ("C", "c"), ("E", "5"), ("F", "f")]);
    }

    #[test]
    fn a_task_starts_in_its_directory_with_nomads_directory_variables() {
        let mut run = job_run(
            r#"job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "${NOMAD_TASK_DIR}/bin/app"
        args    = ["${NOMAD_ALLOC_DIR}/data"]
      }
      env { MODE = "from-env" }
    }
  }
}
"#,
        );
        let inst = &mut run.instances[0];
        inst.dir = Some(crate::taskdir::AllocDir::new(std::path::Path::new("/data"), "abcd").expect("a directory"));
        inst.tasks[0].setup.tpl_mut().env = vec![("MODE".into(), "from-template".into())];
        let inst = &run.instances[0];
        let spec = spawn_spec(&Node::bare("n", "dc1"), &run, inst, &inst.tasks[0], None).expect("a spec");
        let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
        assert_eq!(env["NOMAD_ALLOC_DIR"], "/data/alloc/abcd/alloc");
        assert_eq!(env["NOMAD_TASK_DIR"], "/data/alloc/abcd/t/local");
        assert_eq!(env["NOMAD_SECRETS_DIR"], "/data/alloc/abcd/t/secrets");
        assert_eq!(env["MODE"], "from-template", "an env = true template overrides the env block, as Nomad's");
        assert_eq!(spec.program, "/data/alloc/abcd/t/local/bin/app");
        assert_eq!(spec.args, ["/data/alloc/abcd/alloc/data"]);
        assert_eq!(spec.work_dir.as_deref(), Some(std::path::Path::new("/data/alloc/abcd/t")));
    }

    #[test]
    fn a_container_task_names_its_directories_where_they_are_bound() {
        let mut run = job_run(
            r#"job "web" {
  group "g" {
    task "t" {
      driver = "docker"
      config {
        image = "tools:1"
        args  = ["${NOMAD_TASK_DIR}/app.conf"]
      }
    }
  }
}
"#,
        );
        let inst = &mut run.instances[0];
        inst.dir = Some(crate::taskdir::AllocDir::new(std::path::Path::new("/data"), "abcd").expect("a directory"));
        let inst = &run.instances[0];
        let spec = spawn_spec(&Node::bare("n", "dc1"), &run, inst, &inst.tasks[0], None).expect("a spec");
        let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
        assert_eq!(
            (env["NOMAD_ALLOC_DIR"].as_str(), env["NOMAD_TASK_DIR"].as_str(), env["NOMAD_SECRETS_DIR"].as_str()),
            ("/alloc", "/local", "/secrets")
        );
        assert_eq!(spec.args, ["/local/app.conf"]);
    }

    #[test]
    fn a_script_check_runs_its_own_command_in_the_tasks_environment() {
        let run = true_job("");
        let inst = &run.instances[0];
        let args = vec!["${NOMAD_TASK_NAME}".to_string()];
        let spec = spawn_spec(&Node::bare("n", "dc1"), &run, inst, &inst.tasks[0], Some(("/bin/echo", &args)))
            .expect("a spec");
        assert_eq!((spec.program.as_str(), spec.args.as_slice()), ("/bin/echo", ["t".to_string()].as_slice()));
    }

    /// A service's or check's port written with `${...}` resolves as
    /// `args` do: to a number, or to a port label of the instance; what
    /// is neither is said, with what it resolved to.
    #[test]
    fn an_interpolated_port_resolves_to_a_number_or_a_port_label() {
        let run = true_job("PORT_NAME = \"http\"\nODD = \"x80\"");
        let node = Node::bare("n", "dc1");
        let inst = &run.instances[0];
        let t = &inst.tasks[0];
        assert_eq!(port_of(&node, &run, inst, t, "${NOMAD_PORT_http}"), Ok(8123));
        assert_eq!(port_of(&node, &run, inst, t, "${PORT_NAME}"), Ok(8123), "a label");
        assert_eq!(port_of(&node, &run, inst, t, "90${NOMAD_ALLOC_INDEX}"), Ok(902));
        let e = port_of(&node, &run, inst, t, "${ODD}").unwrap_err();
        assert!(matches!(&e, PortError::NotAPort { value, .. } if value == "x80"), "{e}");
        assert!(e.to_string().contains("is \"x80\" at the task's start, neither a port number"), "{e}");
        let e = port_of(&node, &run, inst, t, "${NOMAD_PORT_nope}").unwrap_err();
        assert!(e.to_string().starts_with("port \"${NOMAD_PORT_nope}\" is \"${NOMAD_PORT_nope}\""), "{e}");
        assert!(port_of(&node, &run, inst, t, "0").is_err(), "0 is no port");
    }
}
