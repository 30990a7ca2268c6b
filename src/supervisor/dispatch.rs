//! Parameterized jobs, as Nomad's `job dispatch`: the job itself runs
//! nothing; each dispatch runs a copy of it as a job of its own,
//! `JOB/dispatch-<unix time>-<8 hex>`, with the dispatch's meta set for
//! every task (`NOMAD_META_*`) and its payload written for each task with
//! a `dispatch_payload` block. The run carries its parent, time and nonce
//! (`identity::Launch`), made here with its ID.
//!
//! The payload goes with the run's job model; `setup.rs` writes it into
//! the task's `local/` (mode 0600) when its directory is built.
//! A dispatch is saved (fsync'd) before it is acknowledged: the run, its
//! meta and payload come back after a restart of supd (also after
//! `kill -9`), as periodic launches do, with their tasks' saved states
//! (an ended run stays ended, a running one goes on as any job's
//! instance does, in the same allocation directory, its payload file
//! still there). As launched runs, the newest that have ended are kept (`keep_ended_runs`).

use super::Supervisor;
use super::identity::{Launch, LaunchKind};
use super::run::Source;
use crate::control::protocol::Response;
use crate::jobspec::model::{Job, PayloadRule};
use crate::state::DispatchedSaved;
use base64::Engine;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest payload, as Nomad's `DispatchPayloadSizeLimit`.
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// Why a dispatch is refused: what the parameterized job asks for, in
/// Nomad's words, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("job {0:?} is not parameterized — `job dispatch` runs jobs with a `parameterized` block")]
    NotParameterized(String),
    #[error("Payload is not provided but required by parameterized job — give an INPUT file, or - for standard input")]
    PayloadRequired,
    #[error("Payload provided but forbidden by parameterized job — dispatch without INPUT")]
    PayloadForbidden,
    /// The payload's size, beyond [`MAX_PAYLOAD`].
    #[error("Payload exceeds maximum size; {0} > {MAX_PAYLOAD}")]
    PayloadTooLarge(usize),
    /// Meta keys the job neither requires nor allows (`allowed`: those it does).
    #[error(
        "Dispatch request included unpermitted metadata keys: [{}] — the job allows [{}]",
        .keys.join(" "),
        .allowed.join(" ")
    )]
    UnpermittedMeta { keys: Vec<String>, allowed: Vec<String> },
    /// Required meta keys the dispatch does not give.
    #[error("Dispatch did not provide required meta keys: [{}] — add --meta KEY=VALUE for each", .keys.join(" "))]
    MissingMeta { keys: Vec<String> },
}

/// Whether a dispatch's meta and payload are what the job asks for; the
/// reason when not.
pub fn check(job: &Job, meta: &BTreeMap<String, String>, payload: Option<&[u8]>) -> Result<(), DispatchError> {
    let Some(p) = &job.parameterized else {
        return Err(DispatchError::NotParameterized(job.id.clone()));
    };
    let has = payload.is_some_and(|b| !b.is_empty());
    match p.payload {
        PayloadRule::Required if !has => return Err(DispatchError::PayloadRequired),
        PayloadRule::Forbidden if has => return Err(DispatchError::PayloadForbidden),
        _ => {}
    }
    if let Some(b) = payload
        && b.len() > MAX_PAYLOAD
    {
        return Err(DispatchError::PayloadTooLarge(b.len()));
    }
    let keys: Vec<String> =
        meta.keys().filter(|k| !p.meta_required.contains(k) && !p.meta_optional.contains(k)).cloned().collect();
    if !keys.is_empty() {
        let allowed = p.meta_required.iter().chain(&p.meta_optional).cloned().collect();
        return Err(DispatchError::UnpermittedMeta { keys, allowed });
    }
    let missing: Vec<String> = p.meta_required.iter().filter(|k| !meta.contains_key(*k)).cloned().collect();
    if !missing.is_empty() {
        return Err(DispatchError::MissingMeta { keys: missing });
    }
    Ok(())
}

/// The run dispatched from `job` under `id`: not parameterized, its name
/// its ID, the dispatch's meta over the job's, group's and task's.
fn derive(mut job: Job, id: &str, meta: &BTreeMap<String, String>) -> Job {
    job.id = id.to_string();
    job.name = id.to_string();
    job.parameterized = None;
    job.dispatch_meta.clone_from(meta);
    job.meta.extend(meta.clone());
    for g in &mut job.groups {
        g.meta.extend(meta.clone());
        for t in &mut g.tasks {
            std::sync::Arc::make_mut(t).meta.extend(meta.clone());
        }
    }
    job
}

impl Supervisor {
    /// `job dispatch`: checks the meta and payload and runs the copy (the
    /// payload goes with it, into each task directory that takes it).
    pub(super) fn dispatch(&mut self, id: &str, meta: BTreeMap<String, String>, payload: Option<Vec<u8>>) -> Response {
        let Some(run) = self.jobs.current.get(id).and_then(|s| self.jobs.runs.get(s)) else {
            return Response::refused(self.unknown_job(id).to_string());
        };
        if let Err(e) = check(&run.job, &meta, payload.as_deref()) {
            return Response::refused(e.to_string());
        }
        if run.stopped {
            return Response::refused(format!("job {id:?} is stopped — submit it again with `supctl job run`"));
        }
        let job = run.job.clone();
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let nonce: String = self.io.rng.alloc_id().chars().take(8).collect();
        let launch = Launch::Dispatch { parent: id.to_string(), at: secs, nonce };
        let child = launch.id();
        log::info!("parameterized job {id:?}: dispatching {child}");
        let mut run = derive(job, &child, &meta);
        // Written into each task's local/ when its directory is built.
        run.payload = payload.filter(|b| !b.is_empty());
        let mut messages = self.submit(run, Source::Launched { name: format!("a dispatch of {id}"), launch });
        self.forget_ended(id, LaunchKind::Dispatch);
        // On disk before it is acknowledged.
        self.save_acknowledged();
        messages.insert(0, format!("dispatched {child}"));
        Response::ok(messages)
    }

    /// What is saved of every dispatched run, oldest first.
    pub(super) fn dispatched_saved(&self) -> Vec<DispatchedSaved> {
        let mut out: Vec<((&str, u64), DispatchedSaved)> = self
            .jobs
            .current_runs()
            .filter_map(|r| Some((r.launch.as_ref().filter(|l| l.kind() == LaunchKind::Dispatch)?, r)))
            .map(|(launch, r)| {
                let payload = r.job.payload.as_ref().map(|b| base64::engine::general_purpose::STANDARD.encode(b));
                let saved = DispatchedSaved {
                    id: r.job.id.clone(),
                    source: r.job.source.clone(),
                    meta: r.job.dispatch_meta.clone(),
                    payload,
                };
                ((launch.parent(), launch.at()), saved)
            })
            .collect();
        out.sort_by_key(|(key, _)| *key);
        out.into_iter().map(|(_, s)| s).collect()
    }

    /// At start: the dispatched runs a previous supd saved, derived again
    /// from the job as it was, with their meta and payload (their tasks
    /// find their saved states).
    pub(super) fn restore_dispatched(&mut self, saved: Vec<DispatchedSaved>) {
        for d in saved {
            // The state file names the run by its ID only.
            let Some(launch) = Launch::parse(&d.id).filter(|l| l.kind() == LaunchKind::Dispatch) else {
                log::error!("the saved run {} is not named as a dispatched run is; it is dropped", d.id);
                continue;
            };
            let parent = launch.parent().to_string();
            let parsed = crate::jobspec::parse_str(&d.id, &d.source);
            let errors = parsed.diagnostics.iter().any(|x| x.severity == crate::jobspec::Severity::Error);
            let job = parsed.jobs.into_iter().find(|j| j.id == parent).filter(|_| !errors);
            let payload = match d.payload.as_deref().map(|p| base64::engine::general_purpose::STANDARD.decode(p)) {
                Some(Err(e)) => {
                    log::error!("the saved run {}: its payload does not read back ({e}); it is dropped", d.id);
                    continue;
                }
                Some(Ok(p)) => Some(p),
                None => None,
            };
            let Some(job) = job else {
                log::error!("the saved run {} no longer loads; it is dropped", d.id);
                continue;
            };
            let mut run = derive(job, &d.id, &d.meta);
            run.payload = payload;
            self.submit(run, Source::Launched { name: format!("a dispatch of {parent}"), launch });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(hcl_parameterized: &str) -> Job {
        let src = format!(
            "job \"j\" {{\n  type = \"batch\"\n  parameterized {{\n{hcl_parameterized}\n  }}\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"raw_exec\"\n      config {{ command = \"/bin/true\" }}\n    }}\n  }}\n}}\n"
        );
        let parsed = crate::jobspec::parse_str("j.hcl", &src);
        assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
        parsed.jobs.into_iter().next().expect("a job")
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn meta_and_payload_are_checked_as_nomad_checks_them() {
        let j = job("    payload = \"required\"\n    meta_required = [\"who\"]\n    meta_optional = [\"why\"]");
        assert!(check(&j, &meta(&[("who", "me")]), Some(b"x")).is_ok());
        assert!(check(&j, &meta(&[("who", "me"), ("why", "test")]), Some(b"x")).is_ok());
        let e = check(&j, &meta(&[("who", "me")]), None).unwrap_err();
        assert!(matches!(e, DispatchError::PayloadRequired), "{e}");
        assert!(e.to_string().starts_with("Payload is not provided but required by parameterized job"), "{e}");
        let e = check(&j, &meta(&[]), Some(b"x")).unwrap_err();
        assert!(e.to_string().starts_with("Dispatch did not provide required meta keys: [who]"), "{e}");
        let e = check(&j, &meta(&[("who", "me"), ("what", "x")]), Some(b"x")).unwrap_err();
        assert!(e.to_string().starts_with("Dispatch request included unpermitted metadata keys: [what]"), "{e}");
        let e = check(&j, &meta(&[("who", "me")]), Some(&[0u8; MAX_PAYLOAD + 1])).unwrap_err();
        assert!(matches!(e, DispatchError::PayloadTooLarge(16385)), "{e}");
        assert_eq!(e.to_string(), "Payload exceeds maximum size; 16385 > 16384");
        let forbidden = job("    payload = \"forbidden\"");
        assert!(check(&forbidden, &meta(&[]), None).is_ok());
        let e = check(&forbidden, &meta(&[]), Some(b"x")).unwrap_err();
        assert!(e.to_string().starts_with("Payload provided but forbidden"), "{e}");
    }

    #[test]
    fn a_dispatched_run_carries_the_meta() {
        let d = derive(job(""), "j/dispatch-1-0a1b2c3d", &meta(&[("who", "me")]));
        assert_eq!(d.name, "j/dispatch-1-0a1b2c3d");
        assert!(d.parameterized.is_none());
        assert_eq!(d.groups[0].tasks[0].meta.get("who").map(String::as_str), Some("me"));
    }
}
