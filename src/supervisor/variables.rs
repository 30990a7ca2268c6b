//! Nomad Variables (`crate::variables`) as supd serves them: `supctl var`
//! requests, what a task's templates may read (its job's, group's and
//! task's paths), and templates rendered again when a variable they may
//! read changes.

use super::Supervisor;
use super::identity::Launch;
use super::task::{JobRun, State};
use crate::control::protocol::Response;
use crate::variables::{Store, VarError, readable};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The job whose variables a job's tasks read: a periodic launch's or a
/// dispatched run's parent, as Nomad's workload identity names it.
fn workload_job(run: &JobRun) -> &str {
    run.launch.as_deref().map_or(run.job.id.as_str(), Launch::parent)
}

/// A template that may call `nomadVar…` (a `source` file may).
fn reads_variables(t: &crate::jobspec::taskdir_blocks::Template) -> bool {
    use crate::jobspec::taskdir_blocks::TemplateSource;
    match &t.source {
        TemplateSource::Data(d) => d.contains("nomadVar"),
        TemplateSource::File(_) => true,
    }
}

/// The paths a task of `run`'s templates may read, written or not.
pub(super) fn readable_paths(run: &JobRun, group: &str, task: &str) -> Vec<String> {
    readable(workload_job(run), group, task).to_vec()
}

impl Supervisor {
    /// The variables, read from the state directory at the first need.
    fn store(&mut self) -> Result<&mut Store, VarError> {
        let store = match self.reports.variables.take() {
            Some(s) => s,
            None => Store::load(&self.cfg.state_dir)?,
        };
        Ok(self.reports.variables.insert(store))
    }

    /// Reads the variables at start when there are any, so that templates
    /// rendered before any `supctl var` find them.
    pub(super) fn load_variables(&mut self) {
        if let Err(e) = self.store() {
            log::error!("variables: {}", crate::error_chain(&e));
        }
    }

    /// What a task of `run`'s templates may read: the variables at its
    /// job's, its group's and its own path, by path.
    pub(super) fn readable_variables(
        &self,
        run: &JobRun,
        group: &str,
        task: &str,
    ) -> BTreeMap<String, BTreeMap<String, String>> {
        let Some(store) = &self.reports.variables else { return BTreeMap::new() };
        readable(workload_job(run), group, task)
            .into_iter()
            .filter_map(|p| store.vars.get(&p).map(|v| (p, v.items.clone())))
            .collect()
    }

    /// `var put`.
    pub(super) fn var_put(&mut self, path: &str, items: BTreeMap<String, String>, cas: Option<u64>) -> Response {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return Response::refused(crate::error_chain(&e)),
        };
        let before = store.vars.get(path).cloned();
        let index = match store.put(path, items, now, cas) {
            Ok(v) => v.modify_index,
            Err(e) => return Response::refused(crate::error_chain(&e)),
        };
        if let Err(e) = store.save() {
            // Not kept: as it was.
            match before {
                Some(v) => {
                    store.vars.insert(path.to_string(), v);
                }
                None => {
                    store.purge(path);
                }
            }
            return Response::refused(crate::error_chain(&e));
        }
        log::info!("variable {path} written (index {index})");
        self.variable_changed(path);
        self.variable_written(path);
        Response::ok(vec![format!("variable {path} written (index {index})")])
    }

    /// `var get`: the variable as JSON.
    pub(super) fn var_get(&mut self, path: &str) -> Response {
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return Response::refused(crate::error_chain(&e)),
        };
        let Some(v) = store.vars.get(path) else {
            return Response::refused(format!("no variable at {path:?} — `supctl var list` shows the paths"));
        };
        let doc = serde_json::json!({
            "Path": path,
            "Namespace": "default",
            "Items": v.items,
            "CreateTime": v.create_time,
            "ModifyTime": v.modify_time,
            "ModifyIndex": v.modify_index,
        });
        let mut r = Response::ok(Vec::new());
        r.data = Some(doc.to_string());
        r
    }

    /// `var list`: the paths under a prefix (no items), as JSON.
    pub(super) fn var_list(&mut self, prefix: &str) -> Response {
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return Response::refused(crate::error_chain(&e)),
        };
        let list: Vec<serde_json::Value> = store
            .list(prefix)
            .map(|(p, v)| {
                serde_json::json!({
                    "Path": p,
                    "Namespace": "default",
                    "CreateTime": v.create_time,
                    "ModifyTime": v.modify_time,
                    "ModifyIndex": v.modify_index,
                })
            })
            .collect();
        let mut r = Response::ok(Vec::new());
        r.data = Some(serde_json::Value::Array(list).to_string());
        r
    }

    /// `var purge`.
    pub(super) fn var_purge(&mut self, path: &str) -> Response {
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return Response::refused(crate::error_chain(&e)),
        };
        let Some(before) = store.vars.remove(path) else {
            return Response::refused(format!("no variable at {path:?}"));
        };
        if let Err(e) = store.save() {
            store.vars.insert(path.to_string(), before);
            return Response::refused(crate::error_chain(&e));
        }
        log::info!("variable {path} purged");
        self.variable_changed(path);
        Response::ok(vec![format!("variable {path} purged")])
    }

    /// Templates of running tasks that may read `path` are rendered again
    /// (and their change mode applied when the file changed).
    fn variable_changed(&mut self, path: &str) {
        let mut due = Vec::new();
        for (&serial, run) in &self.jobs.runs {
            if run.stopped {
                continue;
            }
            for (inst, i) in run.instances.iter().enumerate() {
                let group = &run.job.groups[i.group].name;
                for (ti, t) in i.tasks.iter().enumerate() {
                    if t.state != State::Running
                        || !readable(workload_job(run), group, &t.spec.name).iter().any(|p| p == path)
                    {
                        continue;
                    }
                    for (n, tpl) in t.spec.templates.iter().enumerate() {
                        if reads_variables(tpl) {
                            due.push((super::TaskKey { run: serial, inst, task: ti }, n));
                        }
                    }
                }
            }
        }
        for (key, template) in due {
            self.rerender(key, template);
        }
    }
}
