//! What a task may read: its environment (`env`, `mustEnv`, `envOrDefault`),
//! its files (`file`), the host's services and Nomad Variables.

use super::{Put, args, fail, object, string, text};
use crate::taskdir::scope::Scope;
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The task's environment: `env`, `mustEnv`, `envOrDefault`.
pub(super) fn env_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "env",
        Arc::new(move |a: &[Value]| {
            let [n] = args::<1>("env", a)?;
            text(s.env.get(&string("env", n)?).cloned().unwrap_or_default())
        }),
    );
    let s = scope.clone();
    put(
        "mustEnv",
        Arc::new(move |a: &[Value]| {
            let [n] = args::<1>("mustEnv", a)?;
            let n = string("mustEnv", n)?;
            match s.env.get(&n) {
                Some(v) => text(v.clone()),
                None => Err(fail("mustEnv", format!("the task has no environment variable {n:?}"))),
            }
        }),
    );
    let s = scope.clone();
    put(
        "envOrDefault",
        Arc::new(move |a: &[Value]| {
            let [n, d] = args::<2>("envOrDefault", a)?;
            match s.env.get(&string("envOrDefault", n)?) {
                Some(v) if !v.is_empty() => text(v.clone()),
                _ => text(string("envOrDefault", d)?),
            }
        }),
    );
}

/// A file of the task's directory: `file`.
pub(super) fn file_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "file",
        Arc::new(move |a: &[Value]| {
            let [p] = args::<1>("file", a)?;
            s.read_file(&string("file", p)?).map_err(|e| fail("file", e)).and_then(text)
        }),
    );
}

/// The host's services: `nomadServices`, `nomadService`.
pub(super) fn service_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    let s = scope.clone();
    put(
        "nomadServices",
        Arc::new(move |a: &[Value]| {
            if !a.is_empty() {
                return Err(fail("nomadServices", "takes no argument in supd (one host, one namespace)"));
            }
            let mut names: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for svc in s.services.iter() {
                let tags = names.entry(svc.name.as_str()).or_default();
                for t in &svc.tags {
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
            }
            Ok(Value::List(
                names
                    .into_iter()
                    .map(|(n, tags)| object([("Name", Value::String(n.into())), ("Tags", strings(&tags))]))
                    .collect(),
            ))
        }),
    );
    let s = scope.clone();
    put(
        "nomadService",
        Arc::new(move |a: &[Value]| {
            let [n] = args::<1>("nomadService", a)
                .map_err(|_| fail("nomadService", "supd takes one argument, the service name"))?;
            let n = string("nomadService", n)?;
            Ok(Value::List(
                s.services
                    .iter()
                    .filter(|svc| svc.name == n)
                    .map(|svc| {
                        object([
                            ("ID", Value::String(svc.id.as_str().into())),
                            ("Name", Value::String(svc.name.as_str().into())),
                            ("Namespace", Value::String("default".into())),
                            ("Datacenter", Value::String(s.datacenter.as_str().into())),
                            ("Address", Value::String(svc.address.as_str().into())),
                            ("Port", Value::Int(i64::from(svc.port))),
                            ("Tags", strings(&svc.tags)),
                            ("JobID", Value::String(svc.job.as_str().into())),
                            ("AllocID", Value::String(svc.alloc_id.as_str().into())),
                        ])
                    })
                    .collect(),
            ))
        }),
    );
}

/// Nomad Variables: `nomadVar`, `nomadVarExists`, `nomadVarList`, `nomadVarListSafe`.
pub(super) fn variable_funcs(put: &mut Put<'_>, scope: &Arc<Scope>) {
    // Nomad Variables: a task reads its job's, group's and own path.
    const READABLE: &str =
        "a task reads the variables at nomad/jobs/JOB, nomad/jobs/JOB/GROUP and nomad/jobs/JOB/GROUP/TASK";
    let s = scope.clone();
    put(
        "nomadVar",
        Arc::new(move |a: &[Value]| {
            let [p] = args::<1>("nomadVar", a)?;
            let p = string("nomadVar", p)?;
            match s.variables.get(&p) {
                Some(items) => Ok(Value::Map(Arc::new(
                    items.iter().map(|(k, v)| (Arc::from(k.as_str()), Value::String(v.as_str().into()))).collect(),
                ))),
                // One the task may read but nobody wrote yet: the render
                // waits for it (empty meanwhile, as consul-template's).
                None if s.readable.contains(&p) => {
                    if let Ok(mut missing) = s.missing.lock()
                        && !missing.contains(&p)
                    {
                        missing.push(p);
                    }
                    Ok(Value::Map(Arc::new(Default::default())))
                }
                None => Err(fail("nomadVar", format!("this task may not read the variables at {p:?} ({READABLE})"))),
            }
        }),
    );
    let s = scope.clone();
    put(
        "nomadVarExists",
        Arc::new(move |a: &[Value]| {
            let [p] = args::<1>("nomadVarExists", a)?;
            Ok(Value::Bool(s.variables.contains_key(&string("nomadVarExists", p)?)))
        }),
    );
    for name in ["nomadVarList", "nomadVarListSafe"] {
        let s = scope.clone();
        put(
            name,
            Arc::new(move |a: &[Value]| {
                let prefix = match a {
                    [] => String::new(),
                    [p] => string(name, p)?,
                    _ => return Err(fail(name, "takes at most one argument, a path prefix")),
                };
                Ok(Value::List(
                    s.variables
                        .keys()
                        .filter(|p| p.starts_with(&prefix))
                        .map(|p| {
                            object([
                                ("Path", Value::String(p.as_str().into())),
                                ("Namespace", Value::String("default".into())),
                            ])
                        })
                        .collect(),
                ))
            }),
        );
    }
}

fn strings(items: &[String]) -> Value {
    Value::List(items.iter().map(|t| Value::String(t.as_str().into())).collect())
}
